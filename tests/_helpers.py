"""Numerical oracles shared by the operator, algebra and rule tests.

Everything here is written from the definitions, independently of the code
under test: Jacobians by central differences, dense matrices by applying the
operator to the identity (never through ``toarray``), the commutation,
duplication and elimination matrices by loops over their defining index
formulas, and a checksum that detects any change to an input.

Conventions (``notes/conventions.md``): column-major vec via
``kronvec._vec.vec/unvec``; Jacobians in numerator layout,
``J = ∂ vec F / ∂ (vec X)ᵀ`` of shape (size F, size X).
"""

from __future__ import annotations

import contextlib
import hashlib

import numpy as np
import scipy.sparse as sp

from kronvec._vec import unvec, vec

# --------------------------------------------------------------------------
# finite differences
# --------------------------------------------------------------------------

#: Default relative step of the central differences.  The error of a central
#: difference is O(h²)·|F'''| (truncation) + O(eps·|F|/h) (rounding); with
#: h = 1e-6·max(1, |x|) both are below ~1e-9 for the well-conditioned O(1)
#: inputs used in the tests (truncation ~1e-12·|F'''|, rounding ~2e-16/1e-6).
FD_STEP = 1e-6


def central_difference_jacobian(f, args, argnum=0, step=FD_STEP):
    """Numerator-layout Jacobian of ``f(*args)`` w.r.t. ``args[argnum]`` by central differences.

    Column k is ``(vec f(.., X + h_k E_k, ..) - vec f(.., X - h_k E_k, ..)) / (2 h_k)``
    with ``E_k = unvec(e_k, X.shape)`` and ``h_k = step · max(1, |vec(X)_k|)``,
    so the columns are indexed by ``vec(X)`` (column-major) and the rows by
    ``vec f`` — ∂ vec F / ∂ (vec X)ᵀ.  A scalar ``f`` gives a 1×mn row.
    The differentiated argument is converted to float64; ``args`` is not
    modified.
    """
    args = list(args)
    X = np.array(args[argnum], dtype=np.float64)
    x = vec(X).copy()
    f0 = np.atleast_1d(vec(np.asarray(f(*args), dtype=np.float64)))
    J = np.empty((f0.size, x.size))
    for k in range(x.size):
        h = step * max(1.0, abs(x[k]))
        shifted = []
        for sign in (1.0, -1.0):
            xk = x.copy()
            xk[k] += sign * h
            trial = list(args)
            trial[argnum] = unvec(xk, X.shape)
            shifted.append(np.atleast_1d(vec(np.asarray(f(*trial), dtype=np.float64))))
        J[:, k] = (shifted[0] - shifted[1]) / (2.0 * h)
    return J


# --------------------------------------------------------------------------
# operator oracles
# --------------------------------------------------------------------------


def dense_of(op):
    """The dense matrix of an operator as ``op.matmat(I)`` — independent of ``toarray``."""
    return np.asarray(op.matmat(np.eye(op.shape[1])))


def dot_test(op, rng, rtol=None, k=3):
    """Adjoint (dot) test: ⟨A x, y⟩ = ⟨x, Aᵀ y⟩ for 1-D and 2-D right-hand sides.

    Checks matvec/rmatvec with x of shape (N,), matvec/rmatvec with (N, 1)
    and matmat/rmatmat with (N, k).  The tolerance is relative to
    ‖Ax‖‖y‖ + ‖x‖‖Aᵀy‖: each inner product is a sum of at most max(M, N)·k
    rounded products, so its error is a small multiple of
    eps·max(M, N)·(norms) (Cauchy–Schwarz), whereas a wrong adjoint (a missing
    transpose, swapped Kronecker factors) gives an O(1) relative discrepancy.
    """
    m, n = op.shape
    dtype = np.result_type(op.dtype, np.float32)
    if rtol is None:
        rtol = 10 * np.finfo(dtype).eps * (max(m, n, 1) * k + 10)

    def check(lhs, rhs, scale, what):
        assert abs(lhs - rhs) <= rtol * scale, (
            f"dot test ({what}) failed for {op!r}: ⟨Ax, y⟩ = {lhs!r}, ⟨x, Aᵀy⟩ = {rhs!r}"
        )

    x, y = rng.standard_normal(n), rng.standard_normal(m)
    Ax, Aty = op.matvec(x), op.rmatvec(y)
    assert Ax.shape == (m,) and Aty.shape == (n,)
    scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(Aty)
    check(float(Ax @ y), float(x @ Aty), scale, "1-D")

    Ax1, Aty1 = op.matvec(x[:, None]), op.rmatvec(y[:, None])
    assert Ax1.shape == (m, 1) and Aty1.shape == (n, 1)
    check(float(Ax1[:, 0] @ y), float(x @ Aty1[:, 0]), scale, "(N, 1)")

    X, Y = rng.standard_normal((n, k)), rng.standard_normal((m, k))
    AX, AtY = op.matmat(X), op.rmatmat(Y)
    assert AX.shape == (m, k) and AtY.shape == (n, k)
    scale2 = np.linalg.norm(AX) * np.linalg.norm(Y) + np.linalg.norm(X) * np.linalg.norm(AtY)
    check(float(np.sum(AX * Y)), float(np.sum(X * AtY)), scale2, "2-D")


def commutation_dense(m, n):
    """K_{m,n} from its definition K vec X = vec Xᵀ (X m×n):
    entry X[i, j] sits at i + j·m of vec X and at j + i·n of vec Xᵀ."""
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[j + i * n, i + j * m] = 1.0
    return K


def vech_positions(n):
    """{(r, c): position in vech} for r >= c: the lower triangle, column by column."""
    positions, counter = {}, 0
    for c in range(n):
        for r in range(c, n):
            positions[(r, c)] = counter
            counter += 1
    return positions


def vech(X):
    """vech X: the lower triangle (diagonal included) stacked column by column."""
    X = np.asarray(X)
    return np.array([X[r, c] for c in range(X.shape[0]) for r in range(c, X.shape[0])])


def duplication_dense(n):
    """D_n from D_n vech X = vec X for symmetric X: vec position i + j·n reads
    the vech entry of (max(i, j), min(i, j))."""
    positions = vech_positions(n)
    D = np.zeros((n * n, len(positions)))
    for i in range(n):
        for j in range(n):
            D[i + j * n, positions[(max(i, j), min(i, j))]] = 1.0
    return D


def elimination_dense(n):
    """L_n from L_n vec X = vech X: vech entry (r, c), r >= c, reads vec position r + c·n."""
    positions = vech_positions(n)
    L = np.zeros((len(positions), n * n))
    for (r, c), p in positions.items():
        L[p, r + c * n] = 1.0
    return L


def selection_dense(index, ncols):
    """S with S[r, index[r]] = 1."""
    S = np.zeros((len(index), ncols))
    for r, c in enumerate(index):
        S[r, c] = 1.0
    return S


def cofactor_matrix(X):
    """C[i, j] = (-1)^(i+j) det(X without row i and column j), from the definition.

    By Laplace expansion along row i, ∂|X|/∂X_ij = C[i, j], so C is the
    gradient of the determinant (= adj(X)ᵀ) — valid for singular X too.
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    C = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(X, i, axis=0), j, axis=1)
            C[i, j] = (-1) ** (i + j) * np.linalg.det(minor)  # det of 0×0 is 1
    return C


# --------------------------------------------------------------------------
# canonical CSR, checksums
# --------------------------------------------------------------------------


def assert_canonical_csr(S, shape, dtype=None):
    """``S`` is a ``csr_array`` of ``shape`` with sorted, duplicate-free column indices.

    Canonical form is checked from the raw arrays, not from scipy's
    ``has_canonical_format`` flag (which a producer can set without it being true).
    """
    assert isinstance(S, sp.csr_array), f"expected scipy.sparse.csr_array, got {type(S).__name__}"
    assert S.shape == tuple(shape)
    if dtype is not None:
        assert S.dtype == dtype, f"tosparse dtype {S.dtype} != operator dtype {dtype}"
    indptr, indices = np.asarray(S.indptr), np.asarray(S.indices)
    assert indptr.shape == (shape[0] + 1,) and indptr[0] == 0 and indptr[-1] == S.data.size
    assert np.all(np.diff(indptr) >= 0)
    assert indices.size == S.data.size
    if indices.size:
        assert indices.min() >= 0 and indices.max() < shape[1]
    for r in range(shape[0]):
        row = indices[indptr[r]:indptr[r + 1]]
        assert np.all(np.diff(row) > 0), f"row {r} of the CSR is not sorted/unique: {row}"


def checksum(obj):
    """A fingerprint of the values, shape, dtype and writeability of arrays (nested too).

    Two equal checksums before and after a call mean the call did not write
    into, reorder, or lock (``writeable=False``) any of the inputs.
    """
    if sp.issparse(obj):
        return ("sparse", obj.format, obj.shape) + tuple(
            checksum(getattr(obj, name)) for name in ("data", "indices", "indptr") if hasattr(obj, name)
        )
    if isinstance(obj, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()
        return ("ndarray", obj.shape, obj.dtype.str, bool(obj.flags.writeable), digest)
    if isinstance(obj, (list, tuple)):
        return tuple(checksum(item) for item in obj)
    return ("object", repr(obj))


@contextlib.contextmanager
def assert_unchanged(*objects):
    """``with assert_unchanged(A, B): ...`` fails if the block modified A or B."""
    before = checksum(objects)
    yield
    assert checksum(objects) == before, "an input array was modified"


def assert_scaled_close(actual, expected, rtol, what=""):
    """max |actual − expected| ≤ rtol · max(1, max |expected|): a scale-aware check
    for derivatives of O(1) functions, named in the message."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = float(np.max(np.abs(actual - expected), initial=0.0))
    assert error <= rtol * scale, f"{what}: max error {error:.3g} > {rtol:g}·{scale:.3g}"


def check_value_and_derivatives(f, X, rtol=1e-6, third=False):
    """f's value through kronvec equals NumPy's exactly; its Jacobian, a JVP, a
    gradient and a Hessian (and optionally a third derivative) of a nonlinear
    scalar of it match central differences to `rtol` (h = 1e-6 errs by ~1e-10
    relative for O(1), smooth compositions).  Returns the structured Jacobian."""
    import kronvec  # (the oracles above stay independent of the code under test)

    def plain(Z):
        return np.asarray(f(np.array(Z, dtype=np.float64)), dtype=np.float64)

    def weights(shape, seed):
        return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)

    expected = f(np.array(X))
    out, _ = kronvec.vjp(f, X)
    np.testing.assert_array_equal(out, expected)
    J = kronvec.jacobian(f)(X)
    J_fd = central_difference_jacobian(plain, (X,))
    assert_scaled_close(J.toarray(), J_fd, rtol, "jacobian")
    V = weights(np.shape(X), 4)
    assert_scaled_close(vec(kronvec.jvp(f, (X,), (V,))[1]), J_fd @ vec(V), rtol, "jvp")
    W = weights(np.shape(expected), 1)
    s = lambda Z: np.sum(W * np.sin(f(Z)))  # noqa: E731 (a nonlinear outer map: second order)
    assert_scaled_close(vec(kronvec.grad(s)(X)), central_difference_jacobian(s, (X,))[0], rtol, "grad")
    H = kronvec.hessian(s)(X).toarray()
    assert_scaled_close(H, central_difference_jacobian(kronvec.grad(s), (X,)), rtol, "hessian")
    if third:
        V, U = weights(np.shape(X), 2), weights(np.shape(X), 3)
        hvp = kronvec.hvp(s)
        t = lambda Z: np.sum(U * hvp(Z, V))  # noqa: E731
        assert_scaled_close(vec(kronvec.grad(t)(X)), central_difference_jacobian(t, (X,))[0], rtol, "third order")
    return J


def peak_memory(call):
    """``(call(), peak bytes allocated during the call)``, as tracemalloc counts them
    (NumPy reports its buffers to it), relative to what was allocated when it started.

    The collector runs before and is off during the call: otherwise a collection that
    happens to fall inside the call runs the finalizers of earlier tests' garbage, whose
    allocations were counted as the call's (a flaky 3.5 n² bound in
    ``test_share_nothing.py`` hit this).  With it off, garbage the call itself leaves in
    reference cycles stays counted, which only makes a bound stricter.
    """
    import gc
    import tracemalloc

    # (a tracemalloc that some other code left running would otherwise count everything
    # since its own start: measured from here, with its peak reset)
    already = tracemalloc.is_tracing()
    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    if not already:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = call()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if not already:
            tracemalloc.stop()
        if collecting:
            gc.enable()
    return result, peak


def jacobian_and_peak_memory(f, X):
    """kronvec.jacobian(f)(X) and the peak bytes allocated while building it (:func:`peak_memory`)."""
    import kronvec

    return peak_memory(lambda: kronvec.jacobian(f)(X))


class FuzzConstants:
    """Constants for the ops, drawn once per example and sized on demand (deterministic)."""

    def __init__(self, seed):
        self.seed = seed
        self.small = np.random.default_rng(seed).uniform(-1, 1, size=(1, 2))

    def _draw(self, shape, salt):
        return np.random.default_rng([self.seed, salt, *shape]).uniform(-1, 1, size=shape)

    def left(self, p):
        return self._draw((2, p), 1)

    def right(self, q):
        return self._draw((q, 2), 2)

    def same(self, shape):
        return self._draw(shape, 3)


def run_in_threads(work, count=4):
    """Call ``work(k)`` for k = 0 … count−1, each in its own thread, all released at once
    by a barrier; re-raise the first exception a thread raised."""
    import threading

    barrier = threading.Barrier(count)
    errors = []

    def run(k):
        barrier.wait()
        try:
            work(k)
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def assert_compiled_edge_policy(compiled, regular_point, singular_match=None):
    """A compiled (fused) 4×4 call keeps the uncompiled edge policy: a singular matrix is a
    LinAlgError, NaN a ValueError, ill-conditioning warns — with the threshold read at
    each call (``config.override``)."""
    import pytest

    import kronvec

    with pytest.raises(np.linalg.LinAlgError, match=singular_match):
        compiled(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="NaN or inf"):
        compiled(np.full((4, 4), np.nan))
    with pytest.warns(kronvec.IllConditionedWarning):
        compiled(np.diag([1.0, 1.0, 1.0, 1e-15]))
    with kronvec.config.override(condition_warning=1e-3):
        with pytest.warns(kronvec.IllConditionedWarning):
            compiled(regular_point)


def compiled_program(transformed):
    """The one program a compiled function (``compile=True``) holds."""
    (entry,) = transformed.cache.values()
    return entry.built


def fused_gradient(f, *args, argnums=0):
    """value_and_grad(f, compile=True), compiled at `args`, and whether its program was
    fused now (in this thread, not in the background)."""
    import kronvec

    compiled = kronvec.value_and_grad(f, argnums=argnums, compile=True)
    compiled(*args)
    return compiled, compiled_program(compiled).fuse()


def python_output(code, timeout=120, **environment):
    """The words `code` prints, run by a fresh interpreter on this checkout's kronvec (with
    these extra environment variables); fails on a nonzero exit."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), **environment}
    completed = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True,
                               timeout=timeout)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.split()
