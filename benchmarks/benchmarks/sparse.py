"""The materialization layer (``kronvec.sparse``) against SciPy and NumPy.

Every class takes a ``path`` parameter:

* ``auto``  -- kronvec's own choice (plain NumPy below
  ``kronvec.config.numba_min_entries`` entries, numba kernels above);
* ``numpy`` -- the plain NumPy fill forced at every size;
* ``numba`` -- the numba kernels forced at every size;

where a forced path is the one ``auto`` takes anyway it is skipped (n/a),
so each size shows ``auto`` and the alternative it rejected: the cut-over
``numba_min_entries`` can be checked against measurements (the ``numba``
rows at small n show the kernels' call overhead, the ``numpy`` rows at large
n what numba buys).  Kernels are compiled (or loaded from numba's cache) in
``setup``; first-call costs are in ``compile_and_import``.

The SciPy / NumPy reference of each case is its own class on the same
inputs (``ScipyKron``, ``ScipyAdd``, ``NumpyKron``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

import kronvec
from kronvec import Commutation
from kronvec import sparse as kvs

from . import DENSE_LIMIT_BYTES, rng, skip_if, warm, well_conditioned

PATHS = ["auto", "numpy", "numba"]
_THRESHOLDS = {"numpy": 1 << 62, "numba": 0}


#: The forced NumPy path is not run above this many entries (it would take seconds).
NUMPY_PATH_LIMIT = 1 << 24


class _PathSetting:
    """Set ``kronvec.config.numba_min_entries`` for the path in setup, restore in teardown.

    A forced path that is what ``auto`` chooses anyway at this size is skipped
    (it would time the same code twice), so each size runs ``auto`` and the
    one path ``auto`` did not take.
    """

    def _set_path(self, path, entries):
        threshold = kronvec.config.numba_min_entries
        auto_takes_numba = entries >= threshold
        skip_if(path == "numba" and auto_takes_numba, "auto already takes the numba path here")
        skip_if(path == "numpy" and not auto_takes_numba, "auto already takes the NumPy path here")
        skip_if(path == "numpy" and entries > NUMPY_PATH_LIMIT, "the NumPy path would take seconds")
        self._saved_threshold = threshold
        if path != "auto":
            kronvec.config.numba_min_entries = _THRESHOLDS[path]

    def teardown(self, *params):
        saved = getattr(self, "_saved_threshold", None)
        if saved is not None:
            kronvec.config.numba_min_entries = saved


def _csr_factors(kind, n, generator):
    """(kronvec factor A, kronvec factor B, scipy A, scipy B) for kron_csr."""
    if kind == "kron(I,A)":
        A = generator.random((n, n)) + 0.1  # no zeros: exactly n³ nonzeros
        return n, A, sp.identity(n, format="csr"), A
    if kind == "kron(A,I)":
        A = generator.random((n, n)) + 0.1
        return A, n, A, sp.identity(n, format="csr")
    if kind == "kron(S,S)":
        density = min(1.0, 8.0 / n)
        A = sp.random_array((n, n), density=density, format="csr", rng=generator)
        B = sp.random_array((n, n), density=density, format="csr", rng=generator)
        return A, B, A, B
    raise ValueError(kind)


class KronCSR(_PathSetting):
    """``kron_csr``: a Kronecker product written straight into CSR (n³ nonzeros for I⊗A)."""

    params = [["kron(I,A)", "kron(A,I)", "kron(S,S)"], [4, 16, 64, 256], PATHS]
    param_names = ["kind", "n", "path"]

    def setup(self, kind, n, path):
        self.A, self.B, self.sA, self.sB = _csr_factors(kind, n, rng("kron-csr", kind, n))
        self._set_path(path, sp.csr_array(self.sA).nnz * sp.csr_array(self.sB).nnz)
        warm(kvs.kron_csr, self.A, self.B)

    def time_kron_csr(self, kind, n, path):
        kvs.kron_csr(self.A, self.B)

    def peakmem_kron_csr(self, kind, n, path):
        kvs.kron_csr(self.A, self.B)


class ScipyKron:
    """``scipy.sparse.kron(format="csr")`` on KronCSR's inputs (through COO)."""

    params = KronCSR.params[:2]
    param_names = ["kind", "n"]

    def setup(self, kind, n):
        _, _, self.sA, self.sB = _csr_factors(kind, n, rng("kron-csr", kind, n))

    def time_scipy_kron(self, kind, n):
        sp.kron(self.sA, self.sB, format="csr")

    def peakmem_scipy_kron(self, kind, n):
        sp.kron(self.sA, self.sB, format="csr")


class SumCSR(_PathSetting):
    """``sum_csr``: I⊗A + A⊗I (the Jacobian of X ↦ AX + XA) against scipy's ``+``."""

    params = [[4, 16, 64, 256], PATHS]
    param_names = ["n", "path"]

    def setup(self, n, path):
        A = rng("sum-csr", n).random((n, n)) + 0.1
        self.P = sp.kron(sp.identity(n), A, format="csr")
        self.Q = sp.kron(A, sp.identity(n), format="csr")
        self._set_path(path, self.P.nnz + self.Q.nnz)
        self.terms = [(1.0, self.P), (1.0, self.Q)]
        warm(kvs.sum_csr, self.terms)

    def time_sum_csr(self, n, path):
        kvs.sum_csr(self.terms)

    def peakmem_sum_csr(self, n, path):
        kvs.sum_csr(self.terms)


class ScipyAdd:
    """scipy's ``P + Q`` on SumCSR's inputs."""

    params = SumCSR.params[:1]
    param_names = ["n"]

    def setup(self, n):
        A = rng("sum-csr", n).random((n, n)) + 0.1
        self.P = sp.kron(sp.identity(n), A, format="csr")
        self.Q = sp.kron(A, sp.identity(n), format="csr")

    def time_scipy_add(self, n):
        self.P + self.Q


def _dense_inputs(kind, n):
    """(kron_dense arguments, scale, the np.kron reference as a thunk)."""
    generator = rng("kron-dense", kind, n)
    if kind == "kron(I,A)":
        A = generator.standard_normal((n, n))
        return (n, A), 1.0, lambda: np.kron(np.eye(n), A)
    Xi = np.linalg.inv(well_conditioned(generator, n))
    return (Xi.T, Xi), -1.0, lambda: -np.kron(Xi.T, Xi)


class KronDense(_PathSetting):
    """``kron_dense``: -(X⁻ᵀ ⊗ X⁻¹) and I ⊗ A written in one pass, against ``np.kron``."""

    params = [["-kron(inv(X).T,inv(X))", "kron(I,A)"], [4, 16, 32, 64], PATHS]
    param_names = ["kind", "n", "path"]

    def setup(self, kind, n, path):
        skip_if(n**4 * 8 > DENSE_LIMIT_BYTES, "dense result too large")
        self._set_path(path, n**4)
        self.args, self.scale, _ = _dense_inputs(kind, n)
        warm(kvs.kron_dense, *self.args, scale=self.scale)

    def time_kron_dense(self, kind, n, path):
        kvs.kron_dense(*self.args, scale=self.scale)

    def peakmem_kron_dense(self, kind, n, path):
        kvs.kron_dense(*self.args, scale=self.scale)


class NumpyKron:
    """``np.kron`` (with the negation, or with ``np.eye``) on KronDense's inputs."""

    params = KronDense.params[:2]
    param_names = ["kind", "n"]

    def setup(self, kind, n):
        skip_if(n**4 * 8 > DENSE_LIMIT_BYTES, "dense result too large")
        _, _, self.reference = _dense_inputs(kind, n)

    def time_np_kron(self, kind, n):
        self.reference()

    def peakmem_np_kron(self, kind, n):
        self.reference()


class SelectionCSR:
    """``selection_csr`` of the commutation matrix K_{n,n} against a COO-built csr_array."""

    params = [[4, 64, 512, 2048]]
    param_names = ["n"]

    def setup(self, n):
        self.index = Commutation(n, n).index
        self.ncols = n * n
        warm(kvs.selection_csr, self.index, self.ncols)

    def time_selection_csr(self, n):
        kvs.selection_csr(self.index, self.ncols)

    def time_scipy_coo_to_csr(self, n):
        rows = np.arange(self.index.size)
        sp.csr_array((np.ones(self.index.size), (rows, self.index)), shape=(self.index.size, self.ncols))
