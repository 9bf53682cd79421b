"""Cholesky, A = LLᵀ, and the triangular inverses its derivatives use.

    dL = L Φ(L⁻¹ dA L⁻ᵀ)        D chol = (I ⊗ L)·Diag(vec φ)·(L⁻¹ ⊗ L⁻¹)·N

φ keeps the strict lower triangle and halves the diagonal; N = ½(I + K)
symmetrizes the direction (:mod:`kronvec.ops._symmetric_directions`).  A matrix
that is not positive definite raises ``LinAlgError`` naming its leading minor
(the members, for a stack).  Derivations: ``notes/derivatives.md`` §23 (Cholesky), §24.5 (stacks).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.linalg import lapack

from ..._config import condition_threshold
from ..._tracer import Node
from ...operators import BatchedKron, Commutation, Dense, HalvedLowerMask, Identity, Kron, algebra
from .. import _samples
from .. import _stack_factors as stacked
from .._registry import Primitive, numpy_function, register
from .._support import bind, derived_label, shape_of, static_value
from .._matrix_support import (_as_float, _as_one_member, _gram, _is_stack, _mT, _members, _remembered,
                               _square_shape, _warn_if_ill_conditioned)
from .._symmetric_directions import _symmetric_part, _symmetrized_product, _what_numpy_reads

__all__ = ["cholesky"]


# Below this order LAPACK's trtri runs unblocked (level-2, one thread); above it the
# inverse is assembled from two half-size inverses and two matrix products on NumPy's
# BLAS, the pool of every other product (see kronvec/_linalg/factorization.py).
_TRIANGULAR_LEAF = 64


@functools.lru_cache(maxsize=None)
def _trtri(precision):
    """LAPACK's triangular inverse for NumPy type code `precision` (looked up once)."""
    return lapack.get_lapack_funcs(("trtri",), dtype=np.dtype(precision))[0]


def _invert_lower(L):
    """L⁻¹ for a nonsingular lower-triangular L (zeros above the diagonal):
    [[L₁₁, 0], [L₂₁, L₂₂]]⁻¹ = [[L₁₁⁻¹, 0], [−L₂₂⁻¹ L₂₁ L₁₁⁻¹, L₂₂⁻¹]] (Higham, *Accuracy and
    Stability of Numerical Algorithms*, §14.2), recursively, every block written in place
    into the one result: beside it only L₂₁ L₁₁⁻¹ is made, an n²/4 array (the half-size
    inverses and both products as new arrays made the inverse peak at twice its size)."""
    W = np.zeros_like(L, shape=L.shape, order="C")
    _invert_lower_into(L, W)
    return W


def _invert_lower_into(L, W):
    """W ← L⁻¹ for a view W of a C-ordered array, zero above the diagonal on entry."""
    n = L.shape[0]
    if n <= _TRIANGULAR_LEAF:
        if n == 0:
            return
        inverse, info = _trtri(L.dtype.char)(L, lower=1)
        if info > 0:
            raise np.linalg.LinAlgError(f"the triangular factor is singular (zero pivot {info})")
        W[...] = np.tril(inverse)
        return
    k = n // 2
    _invert_lower_into(L[:k, :k], W[:k, :k])
    _invert_lower_into(L[k:, k:], W[k:, k:])
    # W₂₁ = −W₂₂ (L₂₁ W₁₁): BLAS reads and writes the strided blocks of W directly
    np.matmul(W[k:, k:], np.matmul(L[k:, :k], W[:k, :k]), out=W[k:, :k])
    np.negative(W[k:, :k], out=W[k:, :k])


def _lower_inverse(L, transposed=False):
    """L⁻¹ of a lower-triangular L (given as Lᵀ when `transposed`), once per call; a
    warning when L is ill-conditioned."""
    given = L

    def compute():
        L = given.T if transposed else given
        d = np.abs(L.diagonal())
        if d.size and condition_threshold(L.dtype) is not None:
            # max|lᵢᵢ| / min|lᵢᵢ| ≤ κ(L) (the diagonal entries are L's eigenvalues): an O(n)
            # lower bound, where the exact κ₁ would cost two passes over L and L⁻¹
            _warn_if_ill_conditioned(float(d.max()) / float(d.min()) if d.min() > 0 else np.inf, L.dtype,
                                     f"the {L.shape[0]}×{L.shape[0]} triangular factor is ill-conditioned (the "
                                     "ratio of its largest to smallest diagonal entry, a lower bound of its "
                                     "condition number)")
        return _invert_lower(_as_float(L))

    return _remembered("lower inverse", (given,), compute, transposed)


def _lower_inverse_stack(L, transposed=False):
    """L_k⁻¹ of every member of a stack of lower-triangular matrices (given as the
    Lᵀ stack when `transposed`), once per call; one warning naming how many members
    are ill-conditioned."""
    given = L

    def compute():
        L = _as_float(np.swapaxes(given, -1, -2) if transposed else given)
        threshold = condition_threshold(L.dtype)
        d = np.abs(np.diagonal(L, axis1=-2, axis2=-1))
        # max|lᵢᵢ| / min|lᵢᵢ| ≤ κ(L_k) member by member (as the 2-D rule); the ratio over the
        # whole stack bounds every member's, so most stacks are cleared by two full reductions
        # (reductions along a short last axis cost ~80× more at 10,000 3×3 members)
        if d.size and threshold is not None and not (float(d.max()) <= threshold * float(d.min())):
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = d.max(axis=-1) / d.min(axis=-1)
            bad = ~(ratio <= threshold)
            if bad.any():
                _warn_if_ill_conditioned(
                    np.inf, L.dtype, f"{stacked.member_count(bad)} of the stack of shape {L.shape} "
                    f"(batch index {stacked.member_list(bad)}) {'has' if np.count_nonzero(bad) == 1 else 'have'} "
                    "an ill-conditioned triangular factor (the ratio of its largest to smallest diagonal entry, "
                    "a lower bound of its condition number)")
        return stacked.lower_inverse_stack(L)

    return _remembered("lower inverse of a stack", (given,), compute, transposed)


def _gram_stack(W, p):
    """W_kᵀ diag(p_k) W_k for every member (W (…, n, n), p (…, n)), exactly symmetric:
    ±YᵀY with Y = √|p|·W when p has one sign (it has for log-determinants, where p ≈ 1),
    else the symmetric part of the product.  Wᵀ is made contiguous first: NumPy's
    batched matmul is ~9× faster on contiguous small members (0.3 ms against 2.8 ms
    for 10,000 3×3, one thread)."""
    if np.all(p >= 0):
        sign = 1.0
    elif np.all(p <= 0):
        sign, p = -1.0, -p
    else:
        G = np.matmul(_contiguous_mT(W), p[..., :, None] * W)
        return (G + _mT(G)) / 2
    Y = np.sqrt(p)[..., :, None] * W
    G = np.matmul(_contiguous_mT(Y), Y)
    return G if sign > 0 else np.negative(G, out=G)


#: Members up to this order are transposed into contiguous copies before a batched matmul
#: (as the VJP of inv on stacks, kronvec/ops/linalg.py); larger ones are multiplied as
#: transposed views, which BLAS reads directly (48 ms against 73 + 24 ms for the copy at
#: 1,000 64×64 members, one thread).
_SMALL_ORDER = 16


def _contiguous_mT(x):
    """Every member transposed (plain stacks): a contiguous copy for small members."""
    transposed = np.swapaxes(x, -1, -2)
    return np.ascontiguousarray(transposed) if x.shape[-1] <= _SMALL_ORDER else transposed


_CHOLESKY = "np.linalg.cholesky"


def _failed_cholesky_members(A, upper):
    """The batch-shaped mask of the members whose Cholesky factorization breaks down."""
    try:
        from numpy.linalg import _umath_linalg  # NumPy's own gufunc: NaN where a member fails
        gufunc = _umath_linalg.cholesky_up if upper else _umath_linalg.cholesky_lo
        with np.errstate(invalid="ignore"):
            factors = gufunc(A, signature="d->d" if A.dtype == np.float64 else "f->f")
        return np.isnan(factors).any(axis=(-2, -1))
    except (ImportError, AttributeError, TypeError):  # pragma: no cover (another NumPy): each member
        failed = np.zeros(A.shape[:-2], dtype=bool)
        for index in np.ndindex(failed.shape):  # (the error path only)
            failed[index] = lapack.get_lapack_funcs(("potrf",), (A[index],))[0](A[index], lower=1)[1] > 0
        return failed


def _not_positive_definite_members(A, upper):
    """LinAlgError naming the members of the stack A that are not positive definite
    (the first few), and for the first one the order of its failing leading minor."""
    failed = _failed_cholesky_members(A, upper)
    if not failed.any():  # pragma: no cover (NumPy raised for a reason its gufunc does not show)
        return np.linalg.LinAlgError(f"{_CHOLESKY}: a member of the stack of shape {A.shape} is not positive definite")
    first = tuple(int(i) for i in np.argwhere(failed)[0])
    (potrf,) = lapack.get_lapack_funcs(("potrf",), (A[first],))
    info = potrf(A[first], lower=0 if upper else 1)[1]
    where = f" (the first: its leading minor of order {info} is not positive)" if info > 0 else ""
    verb = "is" if np.count_nonzero(failed) == 1 else "are"
    return np.linalg.LinAlgError(
        f"{_CHOLESKY}: {stacked.member_count(failed)} of the stack of shape {A.shape} {verb} not positive definite, "
        f"at batch index {stacked.member_list(failed)}{where}")


def _phi_mask(n, dtype):
    """φ: 1 on the strict lower triangle, ½ on the diagonal, 0 above."""
    mask = np.tri(n, dtype=dtype)
    mask.flat[:: n + 1] = 0.5
    return mask


def _not_positive_definite(A, upper):
    """NumPy's LinAlgError, naming the order of the first leading minor that is not
    positive (LAPACK potrf's info: the factorization breaks down at that pivot)."""
    (potrf,) = lapack.get_lapack_funcs(("potrf",), (A,))
    _, info = potrf(A, lower=0 if upper else 1)
    n = A.shape[0]
    where = (f": its leading minor of order {info} is not positive (the factorization breaks down at "
             f"pivot {info} of {n})") if info > 0 else ""
    return np.linalg.LinAlgError(f"{_CHOLESKY}: the {n}×{n} matrix is not positive definite{where}")


def _cholesky_impl(A, upper=False, checked=False):
    _square_shape(A, _CHOLESKY)
    A = _as_float(A)
    if A.ndim > 2:
        stacked.require_finite_members(A, _CHOLESKY)
    if not checked:
        A = _symmetric_part(A)
    try:
        return np.linalg.cholesky(A, upper=True) if upper else np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise (_not_positive_definite_members if A.ndim > 2 else _not_positive_definite)(A, upper) from None


def _cholesky_cotangent(g, L, W):
    """Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹) on plain arrays, W = L⁻¹ (Murray 2016)."""
    n = L.shape[0]
    diagonal = g.diagonal()
    if np.count_nonzero(g) == np.count_nonzero(diagonal):
        # L̄ diagonal (a function of diag L, e.g. ln|A| = 2 Σ ln lᵢᵢ): Φ(Lᵀ L̄) = diag(lᵢᵢ l̄ᵢᵢ / 2),
        # so Ā = L⁻ᵀ diag(p) L⁻¹ — one symmetric product; for ln|A|, p = 1 and Ā = A⁻¹.
        return _gram(W, 0.5 * L.diagonal() * diagonal)
    P = np.tril(L.T.dot(g))  # (only the lower triangle of L̄ matters: Lᵀ is upper triangular)
    P[np.diag_indices(n)] *= 0.5
    X = W.T.dot(P.dot(W))
    return (X + X.T) / 2


def _cholesky_vjp(g, L, A, upper=False, checked=False):
    # dL = L Φ(L⁻¹ dA L⁻ᵀ) ⇒ ⟨L̄, dL⟩ = ⟨L⁻ᵀ Φ(Lᵀ L̄) L⁻¹, dA⟩, symmetrized for symmetric dA
    factor = L
    if _is_stack(L):
        return _cholesky_stack_vjp(g, L, upper)
    if upper:  # U = Lᵀ: Ū pulls back to L̄ = Ūᵀ
        L, g = np.transpose(L), np.transpose(g)
    if not isinstance(L, Node) and not isinstance(g, Node):
        return _cholesky_cotangent(np.asarray(g), np.asarray(L), _lower_inverse(np.asarray(factor), upper))
    n = shape_of(L)[0]
    W = np.linalg.inv(L) if isinstance(L, Node) else _lower_inverse(np.asarray(factor), upper)
    P = (np.transpose(L) @ g) * _phi_mask(n, np.result_type(static_value(L).dtype, np.float32))
    X = np.transpose(W) @ P @ W
    return (X + np.transpose(X)) / 2


def _cholesky_stack_vjp(g, factor, upper):
    # Ā_k = sym(L_k⁻ᵀ Φ(L_kᵀ L̄_k) L_k⁻¹) member by member, in batched products (§24.5)
    L, g = (_mT(factor), _mT(g)) if upper else (factor, g)
    if not isinstance(L, Node) and not isinstance(g, Node):
        L, g = np.asarray(L), np.asarray(g)
        W = _lower_inverse_stack(np.asarray(factor), upper)
        g_diagonal = np.diagonal(g, axis1=-2, axis2=-1)
        if np.count_nonzero(g) == np.count_nonzero(g_diagonal):
            # L̄ diagonal in every member (ln|A_k| = 2 Σ ln lᵢᵢ): Ā_k = W_kᵀ diag(p_k) W_k
            return _gram_stack(W, 0.5 * np.diagonal(L, axis1=-2, axis2=-1) * g_diagonal)
        P = np.matmul(_contiguous_mT(L), g) * _phi_mask(L.shape[-1], L.dtype)
        X = np.matmul(_contiguous_mT(W), np.matmul(P, W))
        return (X + _mT(X)) / 2
    n = shape_of(L)[-1]
    W = np.linalg.inv(L) if isinstance(L, Node) else _lower_inverse_stack(np.asarray(factor), upper)
    P = (_mT(L) @ g) * _phi_mask(n, np.result_type(static_value(L).dtype, np.float32))
    X = _mT(W) @ P @ W
    return (X + _mT(X)) / 2


def _cholesky_stack_jacobian(factor, upper):
    # block k: (I ⊗ L_k)·Diag(vec φ)·(L_k⁻¹ ⊗ L_k⁻¹)·N, N = ½(I + K) (§24.5)
    n = factor.shape[-1]
    W = _members(_lower_inverse_stack(factor, upper))
    L = _members(_mT(factor) if upper else factor)
    K = L.shape[0]
    J = algebra.multiply(
        BatchedKron(n, L, name="blockdiag(I ⊗ Lₖ)"),
        algebra.multiply(stacked.member_mask(_phi_mask(n, L.dtype), K),
                         algebra.multiply(BatchedKron(W, W, name="blockdiag(Lₖ⁻¹ ⊗ Lₖ⁻¹)"),
                                          stacked.member_symmetrizer(K, n, L.dtype))))
    return algebra.multiply(stacked.member_transpose(K, n, n, L.dtype), J) if upper else J


def _cholesky_jacobian(L, A, names, upper=False, checked=False):
    factor = np.asarray(L)
    if factor.ndim > 2:
        return _cholesky_stack_jacobian(factor, upper)
    L = factor.T if upper else factor
    n = L.shape[0]
    W = Dense(_lower_inverse(factor, upper))
    # What it holds: L (the value) and W = L⁻¹, two n×n arrays; Φₙ = Diag(vec φ) and the
    # symmetrizer's K are held as their size (at n = 2000 the n² vec φ and K's n² indices
    # were 64 MB more, and building K's indices peaked at three n² arrays)
    J = _symmetrized_product(n, Kron(Identity(n, L.dtype), Dense(L)), HalvedLowerMask(n, L.dtype), Kron(W, W))
    return algebra.multiply(Commutation(n, n), J) if upper else J


def _spd_samples(rng, n):
    return (_samples.spd(rng, n),)


cholesky = register(Primitive(
    _cholesky_impl, name="linalg.cholesky",
    vjps={0: _cholesky_vjp},
    jacobians={0: _cholesky_jacobian},
    label=lambda a, upper=False, checked=False: derived_label("chol({})", a),
    formula="D chol = (I ⊗ L)·Diag(vec φ)·(L⁻¹ ⊗ L⁻¹)·½(I + K), φ = 1 below the diagonal, ½ on it "
            "(along symmetric directions); upper=True: K·(that)",
    reference="Murray, 'Differentiation of the Cholesky decomposition' (2016); Giles, 'An extended "
              "collection of matrix derivative results' (2008)",
    samples=_spd_samples, param_names=("A",),
    edge_cases={
        "1×1": lambda rng: (np.array([[2.5]]),),
        "upper=True": lambda rng: _samples.Sample((_samples.spd(rng, 3),), {"upper": True}),
        "not symmetric (the symmetric part is factored)": lambda rng: (
            _samples.spd(rng, 3) + 0.1 * np.triu(rng.standard_normal((3, 3)), 1),),
        "a (2, 3, 3) stack": lambda rng: (_samples.stack_of(lambda r: _samples.spd(r, 3), rng, (2,)),),
        "a (2, 1, 2, 2) stack, upper=True": lambda rng: _samples.Sample(
            (_samples.stack_of(lambda r: _samples.spd(r, 2), rng, (2, 1)),), {"upper": True}),
    },
    fuzz=lambda Y, c: np.linalg.cholesky(_samples.shifted(Y @ Y.T / Y.shape[1])),
    signature="(m,m)->(m,m)",
))


@numpy_function(np.linalg.cholesky)
def _cholesky(a, /, *, upper=False):
    _square_shape(a, _CHOLESKY)
    upper = bool(upper)
    return bind(cholesky, _what_numpy_reads(a, lower=not upper), upper=upper, checked=True)


_as_one_member(cholesky)
