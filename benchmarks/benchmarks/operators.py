"""Structured operators (``kronvec.operators``): apply, materialize, solve.

* ``KronApply``: matvec / rmatvec / matmat of ``A ⊗ B``, ``I ⊗ A``, ``A ⊗ I`` by
  the vec trick, next to the bare two matrix products it should cost
  (``time_bare_products``: ``B @ V @ Aᵀ`` on the same data, no checks);
* ``SumApply``, ``SelectionApply``: the Jacobian of X ↦ X² (a Sum of two
  Krons) and the commutation / duplication matrices (index maps);
* ``Materialize``: ``toarray()`` of structured Jacobians against ``np.kron``;
* ``Tosparse``: ``tosparse()`` against ``scipy.sparse.kron(format="csr")``;
* ``Solve``: ``Kron.solve`` (two small factorizations) and conjugate gradients
  on the Kronecker sum ``I ⊗ A + A ⊗ I``, with ``track_cg_iterations``.

Sizes n are those of the factors (the operator is n² × n²).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import kronvec
from kronvec import Commutation, Duplication, Identity, Kron

from . import DENSE_LIMIT_BYTES, rng, skip_if, spd, unvec, vec, warm, well_conditioned

KRON_KINDS = ["kron(A,B)", "kron(I,A)", "kron(A,I)"]


def _kron(kind, n, generator):
    """(operator, dense A, dense B) for a Kron of the given kind."""
    A = generator.standard_normal((n, n))
    B = generator.standard_normal((n, n))
    if kind == "kron(A,B)":
        return Kron(A, B), A, B
    if kind == "kron(I,A)":
        return Kron(Identity(n), A), np.eye(n), A
    if kind == "kron(A,I)":
        return Kron(A, Identity(n)), A, np.eye(n)
    raise ValueError(kind)


class KronApply:
    """Vec-trick application of a Kronecker product (n² × n² operator)."""

    params = [KRON_KINDS, [4, 32, 128, 512, 1024]]
    param_names = ["kind", "n"]

    def setup(self, kind, n):
        generator = rng("kron-apply", kind, n)
        self.K, self.A, self.B = _kron(kind, n, generator)
        self.x = generator.standard_normal(n * n)
        self.X8 = generator.standard_normal((n * n, 8))
        self.V = unvec(self.x, (n, n))
        warm(self.K.matvec, self.x)
        warm(self.K.rmatvec, self.x)

    def time_matvec(self, kind, n):
        self.K.matvec(self.x)

    def time_rmatvec(self, kind, n):
        self.K.rmatvec(self.x)

    def time_matmat_8_columns(self, kind, n):
        self.K.matmat(self.X8)

    def time_bare_products(self, kind, n):
        """The floor: vec(B V Aᵀ) with dense factors (identities included)."""
        vec(self.B @ self.V @ self.A.T)

    def peakmem_matvec(self, kind, n):
        self.K.matvec(self.x)


class SumApply:
    """The Jacobian of X ↦ X @ X, ``Xᵀ ⊗ I + I ⊗ X``, applied to a vector."""

    params = [[4, 32, 128, 512]]
    param_names = ["n"]

    def setup(self, n):
        generator = rng("sum-apply", n)
        X = generator.standard_normal((n, n))
        self.J = kronvec.jacobian(lambda X: X @ X)(X)
        self.x = generator.standard_normal(n * n)
        warm(self.J.matvec, self.x)

    def time_matvec(self, n):
        self.J.matvec(self.x)

    def time_rmatvec(self, n):
        self.J.rmatvec(self.x)


class SelectionApply:
    """Commutation K_{n,n+1} and duplication D_n: index maps, O(n²) per apply."""

    params = [["commutation", "duplication"], [4, 64, 512, 2048]]
    param_names = ["kind", "n"]

    def setup(self, kind, n):
        self.P = Commutation(n, n + 1) if kind == "commutation" else Duplication(n)
        generator = rng("selection", kind, n)
        self.x = generator.standard_normal(self.P.shape[1])
        self.y = generator.standard_normal(self.P.shape[0])
        warm(self.P.matvec, self.x)

    def time_matvec(self, kind, n):
        self.P.matvec(self.x)

    def time_rmatvec(self, kind, n):
        self.P.rmatvec(self.y)

    def time_construct(self, kind, n):
        Commutation(n, n + 1) if kind == "commutation" else Duplication(n)


#: Structured Jacobians materialized by Materialize, with their np.kron twin.
def _jacobian_inv(n, generator):
    X = well_conditioned(generator, n)
    Xi = np.linalg.inv(X)
    return kronvec.jacobian(np.linalg.inv)(X), lambda: -np.kron(Xi.T, Xi)


def _jacobian_left_matmul(n, generator):
    A = generator.standard_normal((n, n))
    return kronvec.jacobian(lambda X: A @ X)(A), lambda: np.kron(np.eye(n), A)


def _jacobian_right_matmul(n, generator):
    B = generator.standard_normal((n, n))
    return kronvec.jacobian(lambda X: X @ B)(B), lambda: np.kron(B.T, np.eye(n))


def _jacobian_square(n, generator):
    X = generator.standard_normal((n, n))
    eye = np.eye(n)
    return kronvec.jacobian(lambda X: X @ X)(X), lambda: np.kron(X.T, eye) + np.kron(eye, X)


JACOBIANS = {
    "inv": _jacobian_inv,
    "A@X": _jacobian_left_matmul,
    "X@B": _jacobian_right_matmul,
    "X@X": _jacobian_square,
}


class Materialize:
    """Dense Jacobians: ``toarray()`` (numba above 2¹⁸ entries) against ``np.kron``."""

    params = [list(JACOBIANS), [4, 16, 64]]
    param_names = ["jacobian", "n"]

    def setup(self, name, n):
        self.J, self.reference = JACOBIANS[name](n, rng("materialize", name, n))
        skip_if(self.J.dense_nbytes > DENSE_LIMIT_BYTES, f"dense result {self.J.dense_nbytes:,} bytes")
        warm(self.J.toarray)  # compiles or loads the numba kernel (n ≥ 23)

    def time_toarray(self, name, n):
        self.J.toarray()

    def peakmem_toarray(self, name, n):
        self.J.toarray()

    def time_np_kron(self, name, n):
        self.reference()

    def peakmem_np_kron(self, name, n):
        self.reference()


def _sparse_factors(kind, n, generator):
    """(kronvec Kron, scipy factor A, scipy factor B)."""
    if kind == "kron(I,A)":
        A = generator.random((n, n)) + 0.1
        return Kron(Identity(n), A), sp.identity(n, format="csr"), A
    if kind == "kron(A,I)":
        A = generator.random((n, n)) + 0.1
        return Kron(A, Identity(n)), A, sp.identity(n, format="csr")
    if kind == "kron(S,S)":  # about 8 nonzeros per row in each factor
        density = min(1.0, 8.0 / n)
        A = sp.random_array((n, n), density=density, format="csr", rng=generator)
        B = sp.random_array((n, n), density=density, format="csr", rng=generator)
        return Kron(A, B), A, B
    raise ValueError(kind)


class Tosparse:
    """``tosparse()`` (direct CSR writer) against ``scipy.sparse.kron(format="csr")``."""

    params = [["kron(I,A)", "kron(A,I)", "kron(S,S)"], [4, 16, 64, 256]]
    param_names = ["kind", "n"]

    def setup(self, kind, n):
        self.K, self.A, self.B = _sparse_factors(kind, n, rng("tosparse", kind, n))
        warm(self.K.tosparse)

    def time_tosparse(self, kind, n):
        self.K.tosparse()

    def peakmem_tosparse(self, kind, n):
        self.K.tosparse()

    def time_scipy_kron(self, kind, n):
        sp.kron(self.A, self.B, format="csr")

    def peakmem_scipy_kron(self, kind, n):
        sp.kron(self.A, self.B, format="csr")


class Solve:
    """Linear solves with structured operators, and CG iteration counts."""

    params = [[4, 16, 64, 256]]
    param_names = ["n"]

    def setup(self, n):
        generator = rng("solve", n)
        self.A = spd(generator, n)
        self.B = spd(generator, n)
        self.K = Kron(self.A, self.B)
        # Kronecker sum I⊗A + A⊗I: SPD, the operator of the Lyapunov equation AX + XA = C.
        self.S = Kron(Identity(n), self.A) + Kron(self.A, Identity(n))
        self.b = generator.standard_normal(n * n)
        warm(self.K.solve, self.b)

    def time_kron_solve(self, n):
        self.K.solve(self.b)

    def _cg(self):
        iterations = [0]

        def count(_):
            iterations[0] += 1

        x, info = spla.cg(self.S, self.b, rtol=1e-10, maxiter=10_000, callback=count)
        if info != 0:
            raise RuntimeError(f"cg did not converge (info={info})")
        return x, iterations[0]

    def time_cg_kronecker_sum(self, n):
        self._cg()

    def track_cg_iterations(self, n):
        return self._cg()[1]

    track_cg_iterations.unit = "iterations"

    def track_cg_residual(self, n):
        x, _ = self._cg()
        return float(np.linalg.norm(self.S.matvec(x) - self.b) / np.linalg.norm(self.b))

    track_cg_residual.unit = "relative residual"
