"""Factorizations: Cholesky, the symmetric eigendecomposition, the SVD and QR,
and what NumPy builds on them (pinv, lstsq, matrix_power, cond, matrix_rank).

    A = LLᵀ      dL = L Φ(L⁻¹ dA L⁻ᵀ)               D chol = (I ⊗ L)·Diag(vec φ)·(L⁻¹ ⊗ L⁻¹)·N
    A = VΛVᵀ     dλ = diag(Vᵀ dA V)                  D λ    = S_diag·(Vᵀ ⊗ Vᵀ)
                 dV = V (F ∘ Vᵀ dA V)                D V    = (I ⊗ V)·Diag(vec F)·(Vᵀ ⊗ Vᵀ)·N
    X = UΣVᵀ     dσ = diag(Uᵀ dX V); dU, dV as Townsend (2016)
    A = QR       C = Qᵀ dA R⁻¹, Ω = tril(C, −1) − tril(C, −1)ᵀ:  dR = (C − Ω) R,  dQ = Q(Ω − C) + dA R⁻¹
    A⁺           dA⁺ = −A⁺ dA A⁺ + A⁺A⁺ᵀ dAᵀ (I − AA⁺) + (I − A⁺A) dAᵀ A⁺ᵀA⁺

φ keeps the strict lower triangle and halves the diagonal; Fᵢⱼ = 1/(λⱼ − λᵢ)
off the diagonal; N = ½(I + K) symmetrizes the direction.

**Symmetric input.**  ``np.linalg.cholesky``, ``eigh`` and ``eigvalsh`` read one
triangle of their argument.  kronvec differentiates them *along symmetric
directions*: its derivative is that of the function of sym(A) = (A + Aᵀ)/2,
so gradients come back symmetric (``notes/conventions.md`` §10).  The
registered operations are therefore functions of sym(A); their front doors
hand them A itself when A is exactly symmetric (the value is then NumPy's, bit
for bit), and otherwise the symmetric matrix NumPy actually factors — the
triangle it reads, mirrored — recorded, so that its derivative follows.

**Where it is not smooth: right or loud.**  Eigenvector and singular-vector
derivatives at repeated eigen/singular values raise ``LinAlgError`` naming
the gap; eigenvalues tied at a repeated eigenvalue share their derivative
evenly (the derivative of their mean, as ties of ``max`` are split), which is
exact for every symmetric function of them (their sum, tr f(A)); a matrix that
is not positive definite raises ``LinAlgError`` naming its leading minor.
Signs of eigenvectors, singular vectors and of the diagonal of R are LAPACK's,
as NumPy returns them, and the derivatives are of those.

**hermitian=True.**  ``np.linalg.svd(a, hermitian=True)`` is recorded as NumPy
computes it — eigh, |λ| sorted descending, the signs moved into V — so its values
are NumPy's; its singular vectors also have no derivative at λ and −λ or at λ = 0
(``LinAlgError``).  ``pinv(a, hermitian=True)`` keeps pinv's rule along symmetric
directions (``notes/derivatives.md`` §33.1).

One decomposition per matrix and call: the value, the VJPs and the Jacobians
of a call share it through the call's scope (``kronvec/_linalg/scope.py``);
eigvalsh's value and the eigenvectors its derivatives need come from one
tridiagonal reduction (``notes/derivatives.md`` §31).
**Stacks** (…, m, n) go through every factorization here but lstsq (2-D in NumPy
too), as NumPy broadcasts them: the values are NumPy's batched results, the
VJPs the same formulas with batched products, the Jacobians products of batched
block operators (``BatchedKron``, member-wise masks and index maps from
``kronvec/ops/_stack_factors.py``), errors name the members; a stack of one
member goes through the 2-D rules.  Derivations: ``notes/derivatives.md`` §23
and §24.5.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
from scipy.linalg import lapack

from .._config import IllConditionedWarning, condition_threshold
from .._warnings import warn_at_user_line
from .._constants import frozen_copy
from .._linalg.scope import _current as _current_scope
from .._tracer import Node, compile_guard
from .._vec import stack_members, vec
from ..differential import linear_map
from ..operators import (BatchedDense, BatchedKron, Commutation, Dense, Diag, HalvedLowerMask, Identity, Kron,
                         Product, Scaled, Selection, Sum, TriangleFold, algebra)
from . import _samples
from . import _stack_factors as stacked
from ._registry import Primitive, Sample, numpy_function, register
from ._support import (bind, decided, derived_label, index_map_jacobian, plain_value, positions,
                       shape_of, static_value)
from .indexing import where as choose
from .indexing import where_replayed

__all__ = ["cholesky", "eigvalsh", "eigh_vectors", "singular_values", "left_singular_vectors",
           "right_singular_vectors", "qr_q", "qr_r", "pinv", "lstsq", "lstsq_residuals",
           "extreme_singular_value", "signed_spectrum_guard", "signed_order_gather", "signed_order_scatter"]

_NO_VALUE = np._NoValue
try:  # NumPy's result types (NumPy ≥ 2.0); a plain tuple elsewhere
    from numpy.linalg._linalg import EighResult, QRResult, SVDResult
except ImportError:  # pragma: no cover
    EighResult = QRResult = SVDResult = tuple


# ============================================================ shared helpers
def _remembered(kind, arrays, compute, *key):
    """``compute()`` once per call for these very arrays (by identity, the entry
    holding them so that no id is reused while the scope lives: see
    ``kronvec/_linalg/scope.py``); outside a differentiation call, computed afresh."""
    scope = _current_scope.get()
    if scope is None:
        return compute()
    table = scope.factorizations
    index = (kind, *map(id, arrays), *key)
    entry = table.get(index)
    if entry is None or any(a is not b for a, b in zip(entry[0], arrays)):
        entry = table[index] = (arrays, _read_only(compute()))
    return entry[1]


def _read_only(result):
    """A remembered result is shared by the value, the VJPs and the Jacobians of a call:
    read-only, so nothing can change it (and operators keep it without copying)."""
    for array in result if isinstance(result, tuple) else (result,):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    return result


def _matrix_shape(a, function, stacks=True):
    """The shape (m, n) of a matrix or of each member of a stack (…, m, n) (NumPy's
    error below 2-D); with ``stacks=False`` (lstsq, 2-D only in NumPy too) a stack is refused."""
    shape = tuple(shape_of(a))
    if len(shape) < 2:
        raise np.linalg.LinAlgError(
            f"{function}: {len(shape)}-dimensional array given. Array must be at least two-dimensional")
    if len(shape) > 2 and not stacks:
        raise np.linalg.LinAlgError(
            f"{function}: {len(shape)}-dimensional array given (shape {shape}). Array must be two-dimensional")
    return shape[-2:]


def _mT(x):
    """Every member transposed (a matrix's transpose for a 2-D one): traceable."""
    return np.swapaxes(x, -1, -2)


def _is_stack(x):
    return len(shape_of(x)) > 2


def _members(x, core_ndim=2):
    """A plain stack as its (K, …) members in vec order (conventions §11)."""
    return stack_members(np.asarray(x), core_ndim)


def _square_shape(a, function):
    m, n = _matrix_shape(a, function)
    if m != n:
        raise np.linalg.LinAlgError(f"{function}: Last 2 dimensions of the array must be square, got shape {(m, n)}")
    return m


def _as_float(X):
    X = np.asarray(X)
    return X if X.dtype.char in "fd" else X.astype(np.float64)


def _tolerance(values, size):
    """Values this close (or closer to 0) are equal to working precision: the
    tolerance of ``np.linalg.matrix_rank``, max(m, n)·eps·max|value|."""
    values = np.asarray(values)
    top = float(np.max(np.abs(values), initial=0.0))
    eps = np.finfo(values.dtype if values.dtype.kind == "f" else np.float64).eps
    return max(size, 1) * eps * top


def _exactly_symmetric(A):
    """Aᵀ = A exactly (every member of a stack).  Large matrices: the first row against the first column settles
    most nonsymmetric ones at once, then bands of 128 rows against the matching columns,
    which reads the transposed half cache-friendly (a third faster at n = 1024)."""
    if A.ndim > 2:
        return bool((A == np.swapaxes(A, -1, -2)).all())
    n = A.shape[0]
    if n <= 256:
        return bool((A == A.T).all())
    if not np.array_equal(A[0], A[:, 0]):
        return False
    block = 128
    for i in range(0, n, block):
        if not np.array_equal(A[i:i + block, :i + block], A[:i + block, i:i + block].T):
            return False
    return True


def _symmetric_part(A):
    """sym(A) = (A + Aᵀ)/2: A itself when it is exactly symmetric."""
    return A if _exactly_symmetric(A) else (A + np.swapaxes(A, -1, -2)) / 2


def _what_numpy_reads(a, lower):
    """The symmetric matrix NumPy factors when given `a` (it reads one triangle):
    `a` itself when exactly symmetric, else that triangle mirrored — recorded,
    so its derivative (which ignores the other triangle) follows."""
    if compile_guard(a) is not None:
        # A recording made for replay cannot decide on a's symmetry once: the
        # decision is one recorded operation, taken again by every replay.
        return bind(symmetric_reading, a, lower=lower)
    if _exactly_symmetric(_as_float(plain_value(a))):
        return a
    if lower:
        return np.tril(a) + _mT(np.tril(a, -1))
    return np.triu(a) + _mT(np.triu(a, 1))


def _symmetric_reading_impl(A, lower):
    # (the values _what_numpy_reads records, operation for operation: bit for bit the same)
    if _exactly_symmetric(_as_float(A)):
        return A
    if lower:
        return np.tril(A) + _mT(np.tril(A, -1))
    return np.triu(A) + _mT(np.triu(A, 1))


def _symmetric_reading_vjp(g, ans, A, lower):
    # The pullbacks of the operations _what_numpy_reads records (tril, swapaxes, add).
    if isinstance(A, Node) and compile_guard(A) is not None:
        # a traced VJP in a recording made for replay (hvp): the symmetry test is recorded,
        # each replay takes it on its own values and picks one of the two pullbacks
        folded = np.tril(g) + np.tril(_mT(g), -1) if lower else np.triu(g) + np.triu(_mT(g), 1)
        return bind(where_replayed, g, folded, decided(_symmetry_flag, A))
    if _exactly_symmetric(_as_float(plain_value(A))):
        return g
    if lower:
        return np.tril(g) + np.tril(_mT(g), -1)
    return np.triu(g) + np.triu(_mT(g), 1)


def _symmetry_flag(A):
    return np.asarray(_exactly_symmetric(_as_float(np.asarray(A))))


symmetric_reading = register(Primitive(
    _symmetric_reading_impl, name="linalg.symmetric_reading",
    vjps={0: _symmetric_reading_vjp},
    label=lambda a, lower=True: derived_label("sym(tril({}))" if lower else "sym(triu({}))", a),
    formula="I at an exactly symmetric A (derivative along symmetric directions); else "
            "vec(tril(dA) + tril(dA, −1)ᵀ), the triangle NumPy reads, mirrored",
    reference="notes/conventions.md (Cholesky and eigh read one triangle); LAPACK dpotrf/dsyevd UPLO",
    samples=lambda rng, n: Sample((rng.standard_normal((n, n)),), {"lower": bool(rng.integers(2))}),
    # (no exactly symmetric sample: there the value is A but a non-symmetric step leaves
    # the branch, so finite differences see the other branch; tests/test_compile.py
    # checks that branch against the recording it stands for)
    param_names=("A",),
    signature="(m,m)->(m,m)",
))


def _symmetrizer(n, dtype=np.float64):
    """N = ½(I + K_{n,n}): vec dA ↦ vec sym(dA) (in `dtype`: a float32 Jacobian stays float32)."""
    return algebra.scale(algebra.add(Identity(n * n, dtype), Commutation(n, n, dtype)), 0.5)


def _symmetrized_product(n, *factors):
    """F₁ ⋯ F_k · ½(I + K_{n,n}) for the Jacobians of the Cholesky factor and of eigh's
    eigenvectors, (I ⊗ A)·Diag·(B ⊗ C)·N.  No law combines these neighbours (none is
    written for Kron·Diag, Diag·Kron or Kron·(I + K)), so for n ≥ 2 the product is
    built as ``algebra.multiply`` builds it — ½ outside, one flat Product — without its
    law lookups (they were a third of the build at n = 32, where the whole dense
    Jacobian takes about 2 ms); for n ≤ 1, where K = I, the laws simplify it."""
    # (N in the factors' precision: float64 identity and commutation made a float32 input's
    # Jacobian float64, against conventions.md §4)
    dtype = np.result_type(*(factor.dtype for factor in factors))
    if n < 2:
        result = _symmetrizer(n, dtype)
        for factor in reversed(factors):
            result = algebra.multiply(factor, result)
        return result
    return Scaled(0.5, Product([*factors, Sum([Identity(n * n, dtype), Commutation(n, n, dtype)])]))


def _warn_if_ill_conditioned(condition, dtype, what):
    threshold = condition_threshold(np.dtype(dtype))
    if threshold is not None and condition > threshold:
        warn_at_user_line(  # (a stable message, the measured condition as an attribute)
            f"{what} (condition number above {threshold:.3g}): its derivatives may have lost most "
            "of their digits. Set kronvec.config.condition_warning = None to silence this.",
            IllConditionedWarning, condition=condition)


def _gram(W, p):
    """Wᵀ diag(p) W, exactly symmetric: when p has one sign (it has for log-determinants)
    ±YᵀY with Y = √|p|·W, one symmetric product (NumPy's matmul calls BLAS syrk for Yᵀ Y:
    half the work of a matrix product)."""
    if p.size == 0:
        return np.zeros((W.shape[1], W.shape[1]), dtype=W.dtype)
    low, high = float(p.min()), float(p.max())
    if high - low <= 8 * np.finfo(W.dtype).eps * max(abs(low), abs(high)):
        # one value up to rounding (for ln|A| = 2 Σ ln lᵢᵢ, pᵢ = lᵢᵢ·(2/lᵢᵢ)/2 ≈ 1): c·WᵀW,
        # without scaling W (a relative change of a few ulps, below the rounding of pᵢ itself)
        G = W.T @ W
        c = (low + high) / 2
        if c != 1.0:
            G *= c
        return G
    if low < 0 < high:
        G = (W.T * p).dot(W)
        return (G + G.T) / 2
    sign = -1.0 if high <= 0 and low < 0 else 1.0
    Y = W if low == high == sign else W * np.sqrt(np.abs(p))[:, None]
    G = Y.T @ Y
    return G if sign > 0 else -G


def _eye_like(n, x):
    return np.eye(n, dtype=np.result_type(np.asarray(static_value(x)).dtype, np.float32))


# ============================================================ triangular inverse
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


# ==================================================================== Cholesky
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


def _cholesky_stack(A, upper, checked):
    stacked.require_finite_members(A, _CHOLESKY)
    if not checked:
        A = _symmetric_part(A)
    try:
        return np.linalg.cholesky(A, upper=True) if upper else np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise _not_positive_definite_members(A, upper) from None


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
        return _cholesky_stack(A, upper, checked)
    if not checked:
        A = _symmetric_part(A)
    try:
        return np.linalg.cholesky(A, upper=True) if upper else np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        raise _not_positive_definite(A, upper) from None


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


def _stack_of(make, rng, batch):
    """A stack (*batch, …) of independent samples ``make(rng)`` (registry edge cases)."""
    count = int(np.prod(batch))
    return np.stack([make(rng) for _ in range(count)]).reshape(tuple(batch) + make(rng).shape)


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
        "a (2, 3, 3) stack": lambda rng: (_stack_of(lambda r: _samples.spd(r, 3), rng, (2,)),),
        "a (2, 1, 2, 2) stack, upper=True": lambda rng: _samples.Sample(
            (_stack_of(lambda r: _samples.spd(r, 2), rng, (2, 1)),), {"upper": True}),
    },
    fuzz=lambda Y, c: np.linalg.cholesky(_samples.shifted(Y @ Y.T / Y.shape[1])),
    signature="(m,m)->(m,m)",
))


@numpy_function(np.linalg.cholesky)
def _cholesky(a, /, *, upper=False):
    _square_shape(a, _CHOLESKY)
    upper = bool(upper)
    return bind(cholesky, _what_numpy_reads(a, lower=not upper), upper=upper, checked=True)


# ================================================= symmetric eigendecomposition
_EIGH, _EIGVALSH = "np.linalg.eigh", "np.linalg.eigvalsh"


def _uplo(UPLO):
    if not isinstance(UPLO, str) or UPLO.upper() not in ("L", "U"):
        raise ValueError(f"UPLO argument must be 'L' or 'U', got {UPLO!r}")
    return UPLO.upper()


def _symmetric_input(A, function, checked):
    _square_shape(A, function)
    A = _as_float(A)
    if A.ndim > 2:
        stacked.require_finite_members(A, function)
    return A if checked else _symmetric_part(A)


#: Up to this order a single matrix's eigh is SciPy's LAPACK syevd, called directly: the
#: routine np.linalg.eigh calls, with the same bits (tests/test_factorizations.py), but
#: NumPy's OpenBLAS splits its inner products across threads already at such orders, where
#: waking them costs far more than the work once the machine is busy (the module docstring
#: of kronvec._linalg.factorization; notes/derivatives.md §30).  Above it the threads pay,
#: and NumPy's result itself depends on them (its last bits differ between one and two
#: threads from n = 128 on), so NumPy computes it.
SMALL_EIGH_MAX_ORDER = 96


def _eigh_factors(A, UPLO):
    """``np.linalg.eigh(A, UPLO)`` of a symmetric A: (λ ascending, V), once per call."""
    return _remembered("eigh", (A,), lambda: _small_or_numpy_eigh(A, UPLO), UPLO)


def _small_or_numpy_eigh(A, UPLO):
    # (float64 only: NumPy's float32 eigh differs from SciPy's ssyevd in the last bits)
    if A.ndim != 2 or not 0 < A.shape[0] <= SMALL_EIGH_MAX_ORDER or A.dtype.char != "d":
        return np.linalg.eigh(A, UPLO=UPLO)
    values, vectors, info = lapack.dsyevd(A, compute_v=1, lower=int(UPLO == "L"))
    if info != 0:  # (did not converge, or a bad argument: NumPy's own call says which)
        return np.linalg.eigh(A, UPLO=UPLO)
    # (NumPy's vectors are C-ordered: the same layout, so that later products take the
    # same BLAS paths)
    return EighResult(values, np.ascontiguousarray(vectors))


class _Tridiagonal:
    """One reduction A = Q T Qᵀ (LAPACK sytrd) giving both what eigvalsh returns and the
    eigenvectors its derivatives need, for a differentiation call (``derivatives.md`` §31).

    ``np.linalg.eigvalsh`` is LAPACK's syevd without vectors: sytrd, then sterf on T's
    (d, e); ``eigh`` is syevd with vectors: sytrd, then stedc on T (Z, T = Z Λ Zᵀ) and
    ormtr (V = Q Z).  Calling both, as a call that differentiates eigvalsh did, reduced
    A twice — the reduction is most of eigvalsh's time.  Here it is done once: the
    values are sterf's on that T — the operations syevd performs, so NumPy's bits
    wherever NumPy's and SciPy's LAPACK run the same kernels (both OpenBLAS here: equal
    to the last bit, ``tests/test_factorization_memory.py``) — and the vectors, asked for
    later, stevd's Z (stedc) with Q applied (ormqr on the reflectors, what ormtr calls for
    UPLO='L'; UPLO='U' keeps NumPy's two calls: SciPy has no ormql).
    The reflectors are dropped once the vectors are made."""

    __slots__ = ("values", "_reflectors", "_d", "_e", "_tau", "_vectors")

    def __init__(self, A):
        sytrd, sytrd_lwork, sterf = lapack.get_lapack_funcs(("sytrd", "sytrd_lwork", "sterf"), (A,))
        lwork, info = sytrd_lwork(A.shape[0], lower=1)
        # (the optimal workspace: syevd's, so the same blocked reduction)
        c, d, e, tau, info = sytrd(A, lower=1, lwork=int(lwork))
        values, info = sterf(d, e)
        if info != 0:  # (sterf failed to converge: NumPy's call raises its own error)
            raise _FallBack
        self.values = values
        self._reflectors, self._d, self._e, self._tau = _packed_reflectors(c), d, e, tau
        self._vectors = None

    def vectors(self):
        """V with A = V diag(λ) Vᵀ (orthonormal columns in the order of the values), once."""
        if self._vectors is None:
            self._vectors = _read_only(self._compute_vectors())
        return self._vectors

    def _compute_vectors(self):
        # V = Q Z, T = Z Λ Zᵀ (stevd: divide and conquer, as syevd), Q = diag(1, Q̃) with Q̃
        # the n − 1 reflectors sytrd left below the subdiagonal. Memory, in n² arrays beside
        # the call's copy of A: stevd needs an n² workspace beside Z, so the reflectors wait
        # packed (½) until it is done; then Q is applied to all of Z in place (the last n − 1
        # rows ormtr would pass are not contiguous: f2py would copy them) — 3.5 at the peak,
        # where the unpacked reflectors and that copy made 4.
        n = self._d.size
        stevd, ormqr = lapack.get_lapack_funcs(("stevd", "ormqr"), (self._d,))
        _, Z, info = stevd(self._d, self._e, compute_v=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"{_EIGVALSH}: the eigenvectors did not converge (LAPACK stevd info {info})")
        packed, self._reflectors = self._reflectors, None
        reflectors = _unpacked_reflectors(packed, n)
        del packed
        tau = np.concatenate((np.zeros(1, dtype=self._tau.dtype), self._tau[:n - 1]))
        # ormqr's largest blocked workspace, n·nb + (nb + 1)·nb with its block size nb ≤ 64
        # (a workspace query would copy the n×n Z for nothing)
        V, _, info = ormqr("L", "N", reflectors, tau, Z, lwork=n * 64 + 65 * 64, overwrite_c=1)
        if info != 0:  # pragma: no cover (argument errors only)
            raise np.linalg.LinAlgError(f"{_EIGVALSH}: applying the reflectors failed (LAPACK info {info})")
        return V


def _packed_reflectors(c):
    """The reflectors sytrd (lower) leaves in c, packed: reflector i's entries below its
    implicit unit, c[i + 2:, i], one after another (half of c's numbers)."""
    n = c.shape[0]
    packed = np.empty(max((n - 1) * (n - 2) // 2, 0), dtype=c.dtype)
    start = 0
    for i in range(n - 2):
        stop = start + n - 2 - i
        packed[start:stop] = c[i + 2:, i]
        start = stop
    return packed


def _unpacked_reflectors(packed, n):
    """diag(1, Q̃) as n reflectors in ormqr's layout (F-ordered n×n, reflector j's unit at
    row j, its entries below): reflector 0 is the identity (τ₀ = 0, a zero column), and
    reflector i + 1 is Q̃'s reflector i, whose unit sits at row i + 1 — sytrd's column i,
    one column to the right. The triangle above the units stays zero (never read)."""
    reflectors = np.zeros((n, n), dtype=packed.dtype, order="F")
    start = 0
    for i in range(n - 2):
        stop = start + n - 2 - i
        reflectors[i + 2:, i + 1] = packed[start:stop]
        start = stop
    return reflectors


class _FallBack(Exception):
    """The shared reduction gave no values (sterf did not converge): NumPy's own call decides."""


def _tridiagonal(A, UPLO):
    """The shared reduction of a 2-D symmetric A inside a differentiation call, or None:
    outside one (nothing will ask for the vectors), for a stack or an order below 2, for
    UPLO='U' and float32, and for an A whose largest entry syevd would first scale
    (below √(tiny/eps) or above its inverse: the bits would not be NumPy's)."""
    if _current_scope.get() is None or A.ndim != 2 or A.shape[0] < 2 or UPLO != "L" or A.dtype != np.float64:
        # (UPLO='U': SciPy has no ormql to apply the upper reflectors; float32: NumPy's
        # linalg computes in float64 and rounds the result)
        return None
    info = np.finfo(A.dtype)
    low = math.sqrt(float(info.tiny) / float(info.eps))
    top = float(np.max(np.abs(A)))
    if not (low < top < 1.0 / low):  # (NaN, 0 and the scaled range go to NumPy)
        return None

    def compute():
        try:
            return _Tridiagonal(A)
        except _FallBack:
            return None

    return _remembered("tridiagonal", (A,), compute, UPLO)


def _eigvalsh_vectors(A, UPLO):
    """The eigenvectors eigvalsh's derivatives need: from the call's shared reduction when
    its value came from one, else from ``np.linalg.eigh``."""
    shared = _remembered_tridiagonal(A, UPLO)
    return _eigh_factors(A, UPLO)[1] if shared is None else shared.vectors()


def _remembered_tridiagonal(A, UPLO):
    scope = _current_scope.get()
    if scope is None:
        return None
    entry = scope.factorizations.get(("tridiagonal", id(A), UPLO))
    return entry[1] if entry is not None and entry[0][0] is A else None


def _eigvalsh_impl(A, UPLO="L", with_vectors=False, checked=False):
    A = _symmetric_input(A, _EIGH if with_vectors else _EIGVALSH, checked)
    if with_vectors:  # (eigh's eigenvalues: they differ from eigvalsh's in the last bits)
        return _eigh_factors(A, UPLO)[0]
    shared = _tridiagonal(A, UPLO)
    if shared is not None:
        return shared.values.copy()
    return np.linalg.eigvalsh(A, UPLO=UPLO)


def _clusters(w):
    """(start, stop) of each run of eigenvalues equal to working precision (w ascending)."""
    w = np.asarray(w)
    if w.size < 2:
        return []
    tied = np.diff(w) <= _tolerance(w, w.size)
    if not tied.any():
        return []
    runs, start = [], None
    for k, t in enumerate(tied):
        if t and start is None:
            start = k
        elif not t and start is not None:
            runs.append((start, k + 1))
            start = None
    if start is not None:
        runs.append((start, w.size))
    return runs


def _tie_averaging(w):
    """The matrix M averaging the entries of each cluster of tied eigenvalues (None without ties):
    tied eigenvalues share their derivative evenly, the derivative of their mean.  For a stack
    of eigenvalue vectors (…, n), one M per member (…, n, n), built for all members at once:
    the clusters are runs of ties, labelled by a cumulative count of the gaps that are not ties."""
    plain = np.asarray(plain_value(w))
    n = plain.shape[-1] if plain.ndim else 1
    if plain.ndim <= 1:
        runs = _clusters(plain)
        if not runs:
            return None
        M = np.eye(n)
        for start, stop in runs:
            M[start:stop, start:stop] = 1.0 / (stop - start)
        return M
    if n < 2:
        return None
    tied = np.diff(plain, axis=-1) <= stacked.member_tolerance(plain, n)
    if not tied.any():
        return None
    labels = np.concatenate((np.zeros(plain.shape[:-1] + (1,), dtype=np.intp),
                             np.cumsum(~tied, axis=-1)), axis=-1)
    same = labels[..., :, None] == labels[..., None, :]
    return same / np.count_nonzero(same, axis=-1)[..., None]


def _tie_averaging_or_identity(w):
    w = np.asarray(w)
    M = _tie_averaging(w)
    if M is not None:
        return M
    n = w.shape[-1] if w.ndim else 1
    identity = np.eye(n, dtype=w.dtype if w.dtype.kind == "f" else np.float64)
    return np.broadcast_to(identity, w.shape[:-1] + (n, n)).copy() if w.ndim > 1 else identity


def _averaged(g, M):
    """The cotangent averaged over each cluster of ties: g M (M symmetric), member by member."""
    if len(shape_of(M)) == 2:
        return g @ M
    return np.matmul(M, np.expand_dims(g, -1))[..., 0]


def _eigvalsh_vjp(g, w, A, UPLO="L", with_vectors=False, checked=False):
    # dλᵢ = vᵢᵀ dA vᵢ ⇒ Ā = V diag(λ̄) Vᵀ (symmetric: dλ only sees sym(dA))
    if isinstance(w, Node) and compile_guard(w) is not None:
        # a traced VJP in a recording made for replay (hvp): the tie test is recorded and
        # every replay averages (by the identity where nothing ties: the same numbers)
        g = _averaged(g, decided(_tie_averaging_or_identity, w))
    else:
        M = _tie_averaging(w)
        if M is not None:
            g = _averaged(g, M)
    if isinstance(A, Node) or isinstance(g, Node):
        V = bind(eigh_vectors, A, UPLO=UPLO, checked=checked) if isinstance(A, Node) else \
            _eigvalsh_vectors(_symmetric_input(A, _EIGH, checked), UPLO)
        return (V * np.expand_dims(g, -2)) @ _mT(V)
    V = _eigvalsh_vectors(_symmetric_input(A, _EIGH, checked), UPLO)
    if V.ndim > 2:  # V_k diag(λ̄_k) V_kᵀ for every member
        return _gram_stack(_mT(V), np.asarray(g))
    return _gram(V.T, np.asarray(g))


def _eigvalsh_jacobian(w, A, names, UPLO="L", with_vectors=False, checked=False):
    V = _eigvalsh_vectors(_symmetric_input(A, _EIGH, checked), UPLO)
    n = V.shape[-1]
    M = _tie_averaging(w)
    if V.ndim > 2:  # block k: S_diag·(V_kᵀ ⊗ V_kᵀ) (§24.5)
        Vt = _members(_mT(V))
        J = algebra.multiply(stacked.member_diagonal(Vt.shape[0], n, V.dtype),
                             BatchedKron(Vt, Vt, name="blockdiag(Vₖᵀ ⊗ Vₖᵀ)"))
        return J if M is None else algebra.multiply(BatchedDense(_members(M), name="blockdiag(Mₖ)"), J)
    J = algebra.multiply(Selection(np.arange(n) * (n + 1), n * n), Kron(Dense(V.T), Dense(V.T)))
    return J if M is None else algebra.multiply(Dense(M), J)


def _symmetric_samples(rng, n):
    """A symmetric matrix with eigenvalues spread over [1, 2]·n (gaps of order 1)."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.linspace(1.0, 2.0, n) * n) @ Q.T
    return ((A + A.T) / 2,)


def _spread_spectrum(Y):
    """diag(0, 1, …, p−1) + tanh(YYᵀ)/(4p): symmetric, its eigenvalues at least ½ apart
    (Weyl: the perturbation's norm is at most ¼), smooth in Y (fuzzing templates)."""
    p = Y.shape[0]
    return np.diag(np.arange(p, dtype=float)) + np.tanh(Y @ Y.T) / (4 * p)


def _double_eigenvalue(rng):
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    A = (Q * [1.0, 1.0, 2.0]) @ Q.T
    return _samples.Sample(((A + A.T) / 2,), max_order=1)


eigvalsh = register(Primitive(
    _eigvalsh_impl, name="linalg.eigvalsh",
    vjps={0: _eigvalsh_vjp},
    jacobians={0: _eigvalsh_jacobian},
    label=lambda a, **params: derived_label("λ({})", a),
    formula="D λ = S_diag·(Vᵀ ⊗ Vᵀ): dλᵢ = vᵢᵀ dA vᵢ; tied eigenvalues share the mean of theirs",
    reference="Magnus–Neudecker ch. 8 (the differential of a simple eigenvalue); Giles 2008",
    samples=_symmetric_samples, param_names=("A",),
    edge_cases={
        "1×1": lambda rng: (np.array([[-1.5]]),),
        "eigh's eigenvalues, UPLO='U'": lambda rng: _samples.Sample(
            _symmetric_samples(rng, 3), {"UPLO": "U", "with_vectors": True}),
        "not symmetric (the symmetric part is used)": lambda rng: (
            _symmetric_samples(rng, 3)[0] + 0.1 * np.tril(rng.standard_normal((3, 3)), -1),),
        "a double eigenvalue (each gets the mean derivative)": _double_eigenvalue,
        "a (2, 3, 3) stack": lambda rng: (_stack_of(lambda r: _symmetric_samples(r, 3)[0], rng, (2,)),),
        "a stack, a double eigenvalue in one member": lambda rng: _samples.Sample((np.stack(
            [_symmetric_samples(rng, 3)[0], _double_eigenvalue(rng).args[0]]),), max_order=1),
    },
    fuzz=lambda Y, c: np.linalg.eigvalsh(_spread_spectrum(Y)) * np.ones((Y.shape[0], 1)),
    signature="(m,m)->(m)",
))


def _eigen_gap_factors(w, operation, squares=False, scale=None):
    """F with Fᵢⱼ = 1/(λⱼ − λᵢ) off the diagonal (or 1/(σⱼ² − σᵢ²) for singular values,
    `squares`), 0 on it.  At a repeated eigen/singular value the vectors are not unique:
    LinAlgError naming the gap; a nearly repeated one warns."""
    if isinstance(w, Node) and compile_guard(w) is not None:
        # a traced VJP in a recording made for replay (hvp): the gap check is recorded (each
        # replay makes it on its own values), F is traced arithmetic the values do not shape
        decided(functools.partial(_gap_check, operation=operation, squares=squares), w)
        shape = shape_of(w)
        k = shape[-1]
        values = _squared(w, scale) if squares else w
        off = np.broadcast_to(~np.eye(k, dtype=bool), tuple(shape[:-1]) + (k, k))
        difference = np.expand_dims(values, -2) - np.expand_dims(values, -1)
        return off / bind(choose, difference, 1.0, condition=frozen_copy(off))
    plain = np.asarray(plain_value(w))
    if plain.ndim > 1:
        return _eigen_gap_factors_stack(w, plain, operation, squares, scale)
    k = plain.size
    if k > 1:
        gaps = plain[1:] - plain[:-1]
        gap = gaps.min()
        if gap >= 0:  # ascending, as eigh returns them: no sort (the positions are the indices),
            order = None  # and the largest |λ| is at one end
            scale = max(abs(float(plain[0])), abs(float(plain[-1])))
        else:
            order = np.argsort(plain, kind="stable")
            gaps = np.diff(plain[order])
            gap = gaps.min()
            scale = float(np.max(np.abs(plain)))
        gap = float(gap)
        tolerance = k * float(np.finfo(plain.dtype if plain.dtype.kind == "f" else np.float64).eps) * scale
        threshold = condition_threshold(plain.dtype)
        if gap <= tolerance or (threshold is not None and scale / gap > threshold):
            # (the messages are written only when one is given: formatting them took a
            # tenth of eigh's Jacobian build at n = 32; so is the position of the gap)
            i = int(np.argmin(gaps))
            if order is None:
                order = np.arange(k)
            low, high = plain[order[i]], plain[order[i + 1]]
            what = "singular values σ" if squares else "eigenvalues λ"
            vectors, values = ("singular vectors", "singular values") if squares else ("eigenvectors", "eigenvalues")
            positions = (int(order[i]) + 1, int(order[i + 1]) + 1)
            if gap <= tolerance:
                raise np.linalg.LinAlgError(
                    f"{operation}: repeated {what}{positions[0]} = {low:.6g} and {what[-1]}{positions[1]} = "
                    f"{high:.6g} (gap {gap:.3g} ≤ {tolerance:.3g}): the {vectors} are not unique there and have "
                    f"no derivative (functions of the {values} alone do)")
            _warn_if_ill_conditioned(scale / gap, plain.dtype, f"{operation}: nearly repeated {what}{positions[0]} = "
                                     f"{low:.6g} and {what[-1]}{positions[1]} = {high:.6g} (gap {gap:.3g}); the "
                                     "vectors' derivatives scale like 1/gap")
    values = _squared(w, scale) if squares else w
    if isinstance(w, Node):
        off = ~np.eye(k, dtype=bool)
        difference = values[None, :] - values[:, None]
        return off / bind(choose, difference, 1.0, condition=frozen_copy(off))
    difference = values[None, :] - values[:, None]  # (a new array: its diagonal is ours to set)
    np.fill_diagonal(difference, 1.0)
    F = np.divide(1.0, difference, out=difference)
    np.fill_diagonal(F, 0.0)
    return F


def _squared(w, scale):
    """(w/scale)²: the squares of singular values divided by a constant scale² (the largest
    σ), which keeps σ² from overflowing (σ ≳ 1e154) or underflowing (σ ≲ 1e-154) — NaN in
    every singular-vector derivative there, although the SVD is smooth."""
    if scale is None:
        return w * w
    w = w / scale
    return w * w


def _gap_check(w, operation, squares):
    """The checks of :func:`_eigen_gap_factors` alone (raise or warn), on plain values."""
    _eigen_gap_factors(np.asarray(w), operation, squares)
    return np.zeros(())


def _eigen_gap_factors_stack(w, plain, operation, squares, scale=None):
    """F of every member of a stack of eigen/singular values (…, k): (…, k, k).  Members
    with a repeated value raise one LinAlgError naming them (the first few, and the first
    one's values); nearly repeated ones give one warning naming how many."""
    k = plain.shape[-1]
    what = "singular values" if squares else "eigenvalues"
    vectors = "singular vectors" if squares else "eigenvectors"
    if k > 1:
        ordered = np.sort(plain, axis=-1)
        gaps = np.diff(ordered, axis=-1)
        smallest = gaps.min(axis=-1)
        tied = smallest <= stacked.member_tolerance(plain, k)[..., 0]
        if tied.any():
            first = tuple(int(i) for i in np.argwhere(tied)[0])
            i = int(np.argmin(gaps[first]))
            raise np.linalg.LinAlgError(
                f"{operation}: {stacked.member_count(tied)} of the stack of shape {plain.shape[:-1]} (batch) "
                f"{'has' if np.count_nonzero(tied) == 1 else 'have'} repeated {what}, at batch index "
                f"{stacked.member_list(tied)} (the first: {ordered[first][i]:.6g} and {ordered[first][i + 1]:.6g}, "
                f"gap {gaps[first][i]:.3g}): the {vectors} are not unique there and have no derivative "
                f"(functions of the {what} alone do)")
        threshold = condition_threshold(plain.dtype)
        if threshold is not None:
            with np.errstate(divide="ignore"):
                near = np.max(np.abs(plain), axis=-1) / smallest > threshold
            if near.any():
                _warn_if_ill_conditioned(
                    np.inf, plain.dtype, f"{operation}: {stacked.member_count(near)} of the stack "
                    f"(batch index {stacked.member_list(near)}) {'has' if np.count_nonzero(near) == 1 else 'have'} "
                    f"nearly repeated {what}; the vectors' derivatives scale like 1/gap")
    values = _squared(w, scale) if squares else w
    off = np.broadcast_to(~np.eye(k, dtype=bool), plain.shape + (k,))
    difference = np.expand_dims(values, -2) - np.expand_dims(values, -1)
    if isinstance(w, Node):
        return off / bind(choose, difference, 1.0, condition=frozen_copy(off))
    return np.where(off, 1.0 / np.where(off, difference, 1.0), 0.0)


def _eigh_vectors_impl(A, UPLO="L", checked=False):
    return _eigh_factors(_symmetric_input(A, _EIGH, checked), UPLO)[1]


def _eigh_vectors_vjp(g, V, A, UPLO="L", checked=False):
    # dV = V (F ∘ Vᵀ dA V) ⇒ Ā = sym(V (F ∘ VᵀV̄) Vᵀ)
    if isinstance(A, Node):
        w = bind(eigvalsh, A, UPLO=UPLO, with_vectors=True, checked=checked)
    else:
        w = _eigh_factors(_symmetric_input(A, _EIGH, checked), UPLO)[0]
    F = _eigen_gap_factors(w, _EIGH)
    X = V @ ((_mT(V) @ g) * F) @ _mT(V)
    return (X + _mT(X)) / 2


def _eigh_vectors_jacobian(V, A, names, UPLO="L", checked=False):
    w, V = _eigh_factors(_symmetric_input(A, _EIGH, checked), UPLO)
    n = V.shape[-1]
    F = _eigen_gap_factors(w, _EIGH)
    if V.ndim > 2:  # block k: (I ⊗ V_k)·Diag(vec F_k)·(V_kᵀ ⊗ V_kᵀ)·N (§24.5)
        Vm = _members(V)
        K = Vm.shape[0]
        Vt = np.swapaxes(Vm, -1, -2)
        return algebra.multiply(BatchedKron(n, Vm, name="blockdiag(I ⊗ Vₖ)"), algebra.multiply(
            stacked.member_mask(_members(F), K), algebra.multiply(
                BatchedKron(Vt, Vt, name="blockdiag(Vₖᵀ ⊗ Vₖᵀ)"), stacked.member_symmetrizer(K, n, V.dtype))))
    # vec F without a copy: F is antisymmetric, so −F is Fᵀ and its rows (C order) are vec F;
    # negated in place (exact; F is this call's own array) and frozen, Diag keeps it as it is
    # (vec(F) and Diag's copy of it were two more n² arrays at the build's peak)
    np.negative(F, out=F)
    np.fill_diagonal(F, 0.0)  # (+0, as F had)
    F.flags.writeable = False
    Vt = Dense(V.T)  # (one operator for both factors, as Cholesky's Kron(W, W))
    return _symmetrized_product(n, Kron(Identity(n, V.dtype), Dense(V)), Diag(F.reshape(-1)), Kron(Vt, Vt))


eigh_vectors = register(Primitive(
    _eigh_vectors_impl, name="linalg.eigh_vectors",
    vjps={0: _eigh_vectors_vjp},
    jacobians={0: _eigh_vectors_jacobian},
    label=lambda a, **params: None,
    formula="D V = (I ⊗ V)·Diag(vec F)·(Vᵀ ⊗ Vᵀ)·½(I + K), Fᵢⱼ = 1/(λⱼ − λᵢ) (i ≠ j), 0 on the diagonal",
    reference="Magnus–Neudecker ch. 8 (the differential of an eigenvector); Giles 2008; JAX eigh_jvp_rule",
    samples=_symmetric_samples, param_names=("A",),
    edge_cases={
        "UPLO='U'": lambda rng: _samples.Sample(_symmetric_samples(rng, 3), {"UPLO": "U"}),
        "not symmetric (the symmetric part is used)": lambda rng: (
            _symmetric_samples(rng, 3)[0] + 0.1 * np.triu(rng.standard_normal((3, 3)), 1),),
        "a (2, 1, 3, 3) stack": lambda rng: (_stack_of(lambda r: _symmetric_samples(r, 3)[0], rng, (2, 1)),),
    },
    fuzz=lambda Y, c: np.linalg.eigh(_spread_spectrum(Y))[1],
    signature="(m,m)->(m,m)",
))


@numpy_function(np.linalg.eigh)
def _eigh(a, UPLO="L"):
    UPLO = _uplo(UPLO)
    _square_shape(a, _EIGH)
    read = _what_numpy_reads(a, lower=UPLO == "L")
    return EighResult(bind(eigvalsh, read, UPLO=UPLO, with_vectors=True, checked=True),
                      bind(eigh_vectors, read, UPLO=UPLO, checked=True))


@numpy_function(np.linalg.eigvalsh)
def _eigvalsh(a, UPLO="L"):
    UPLO = _uplo(UPLO)
    _square_shape(a, _EIGVALSH)
    return bind(eigvalsh, _what_numpy_reads(a, lower=UPLO == "L"), UPLO=UPLO, checked=True)


# ======================================================================== SVD
_SVD = "np.linalg.svd"
_SOURCES = ("values", "thin", "full", "lstsq")


def _svd_factors(X, full_matrices=False):
    """``np.linalg.svd(X, full_matrices)`` as NumPy returns it, (U, s, Vh), once per call."""
    return _remembered("svd", (X,), lambda: np.linalg.svd(X, full_matrices=full_matrices), bool(full_matrices))


def _svd(X, full_matrices=False):
    """(U, s, V) with V = Vhᵀ: NumPy's own singular vectors and signs (LAPACK gesdd's)."""
    U, s, Vh = _svd_factors(_matrix_2d(X, "the singular value decomposition"), full_matrices)
    return U, s, _mT(Vh)


def _matrix_2d(X, what):
    """X as a float matrix or stack of matrices (…, m, n); non-finite members of a stack named."""
    X = _as_float(X)
    if X.ndim < 2:
        raise ValueError(f"{what}: needs a matrix or a stack of matrices, got shape {X.shape}")
    if X.ndim > 2:
        stacked.require_finite_members(X, what)
    return X


def _singular_values_impl(X, source="values"):
    X = _matrix_2d(X, "the singular values")
    if source == "values":  # np.linalg.svd(X, compute_uv=False) and np.linalg.svdvals(X)
        return np.linalg.svd(X, compute_uv=False)
    if source == "lstsq":  # as np.linalg.lstsq reports them (LAPACK gelsd: other bits)
        return _lstsq_singular_values(X)
    if source not in _SOURCES:
        raise ValueError(f"singular_values: source must be one of {_SOURCES}, got {source!r}")
    return _svd_factors(X, source == "full")[1]


def _singular_tolerance(s, shape):
    """Singular values this close (or closer to 0) are equal to working precision
    (the tolerance of np.linalg.matrix_rank)."""
    return _tolerance(s, max(shape))


def _nonzero_singular(s, shape):
    """The singular values above rounding (a decision on the values: 1/True there)."""
    if isinstance(s, Node) and compile_guard(s) is not None:
        return decided(functools.partial(_plain_nonzero_singular, shape=tuple(shape)), s)
    return _plain_nonzero_singular(plain_value(s), shape)


def _plain_nonzero_singular(s, shape):
    s = np.asarray(s)
    if s.ndim > 1:  # each member against its own largest singular value
        return s > stacked.member_tolerance(s, max(shape[-2:]))
    return s > _singular_tolerance(s, shape)


def _factors(X, full_matrices=False):
    """(U, s, V) of X: plain for a plain X, recorded for a traced one (the same decomposition)."""
    if not isinstance(X, Node):
        return _svd(X, full_matrices)
    return (bind(left_singular_vectors, X, full_matrices=full_matrices),
            bind(singular_values, X, source="full" if full_matrices else "thin"),
            bind(right_singular_vectors, X, full_matrices=full_matrices))


def _singular_tie_averaging_or_identity(s):
    """:func:`_tie_averaging_or_identity` for singular values (descending: −σ ascends)."""
    return _tie_averaging_or_identity(-np.asarray(s))


def _singular_values_vjp(g, ans, X, source="values"):
    # dσᵢ = uᵢᵀ dX vᵢ ⇒ X̄ = U diag(σ̄) Vᵀ (any consistent pair of signs); a zero singular value
    # takes derivative 0 (like |x| at 0); the decomposition the value came from, when it has vectors.
    # Tied singular values share the mean of their derivatives, as tied eigenvalues do
    # (conventions.md §7): uᵢvᵢᵀ alone depends on the basis LAPACK picked in their subspace,
    # the mean (1/m)·U_c V_cᵀ does not, and it is what central differences give at a double σ.
    if isinstance(ans, Node) and compile_guard(ans) is not None:
        g = _averaged(g, decided(_singular_tie_averaging_or_identity, ans))
    else:
        M = _tie_averaging(-np.asarray(plain_value(ans)))
        if M is not None:
            g = _averaged(g, M)
    U, _, V = _factors(X, source == "full")
    return (U * np.expand_dims(g * _nonzero_singular(ans, shape_of(X)), -2)) @ _mT(V)


def _singular_values_jacobian(ans, X, names, source="values"):
    # vec(Uᵀ dX V) = (Vᵀ ⊗ Uᵀ) vec dX, and dσ is its diagonal (tied σ: averaged by M, as the VJP)
    U, s, V = _svd(X, source == "full")
    M = _tie_averaging(-np.asarray(ans))
    if s.ndim > 1:  # block k: S_diag·(V_kᵀ ⊗ U_kᵀ) (§24.5)
        Vt, Ut = _members(_mT(V)), _members(_mT(U))
        J = algebra.multiply(stacked.member_diagonal(Vt.shape[0], s.shape[-1], s.dtype),
                             BatchedKron(Vt, Ut, name="blockdiag(Vₖᵀ ⊗ Uₖᵀ)"))
        mask = _nonzero_singular(s, np.shape(X))
        J = J if mask.all() else algebra.multiply(Diag(vec(mask.astype(s.dtype))), J)
        # (M after the mask: the transpose of the VJP's mask ∘ (M σ̄))
        return J if M is None else algebra.multiply(BatchedDense(_members(M), name="blockdiag(Mₖ)"), J)
    k = s.size
    J = algebra.multiply(Selection(np.arange(k) * (k + 1), k * k), Kron(Dense(V.T), Dense(U.T)))
    mask = _nonzero_singular(s, np.shape(X))
    J = J if mask.all() else algebra.multiply(Diag(mask.astype(s.dtype)), J)
    return J if M is None else algebra.multiply(Dense(M), J)


_SINGULAR_VECTORS = "the singular vectors (np.linalg.svd, or a norm built on them)"


def _gap_factors(s, shape):
    """(F̃, s̃, c): c the largest singular value (of each member; 1 where all are 0), s̃ = s/c
    and F̃ᵢⱼ = 1/(s̃ⱼ² − s̃ᵢ²) off the diagonal, 0 on it, so F = F̃/c² is the derivative of the
    singular vectors (defined only for distinct singular values).  Its products F·σ = F̃·s̃/c
    are formed from the scaled factors: σ² itself overflows beyond σ ≈ 1e154 (and underflows
    below 1e-154), which made every singular-vector derivative NaN there.  c is a constant
    of the point: F·σ is homogeneous of degree −1 in (σ, c) jointly, so its derivative does
    not see c.  (A decision on the values: recorded where a compiled replay must take it again.)"""
    c = decided(_largest_singular_value, s)
    return _eigen_gap_factors(s, _SINGULAR_VECTORS, squares=True, scale=c), s / c, c


def _largest_singular_value(s):
    """The scale c of :func:`_gap_factors` (a rule for ``decided``): the largest of the
    (plain) singular values s of each member, 1 where all are 0; a scalar for one matrix."""
    s = np.asarray(s)
    c = np.max(s, axis=-1, keepdims=True, initial=0.0) if s.size else np.ones(s.shape[:-1] + (1,))
    c = np.where(c > 0, c, 1.0).astype(s.dtype if s.dtype.kind == "f" else np.float64)
    return c[0] if c.ndim == 1 else c


def _inverse_singular(s, shape):
    if isinstance(s, Node) and compile_guard(s) is not None:
        # a traced VJP in a recording made for replay (hvp): the rank check is recorded, each
        # replay making it on its own values (as the gap check of _eigen_gap_factors)
        decided(functools.partial(_rank_check, shape=tuple(shape)), s)
        return 1.0 / s
    _rank_check(plain_value(s), shape)
    return 1.0 / s


def _rank_check(s, shape):
    """LinAlgError when a singular value is 0 to working precision (on plain values)."""
    zero = ~_plain_nonzero_singular(s, shape)
    if np.any(zero):
        where = ""
        if zero.ndim > 1:
            bad = zero.any(axis=-1)
            where = f", at batch index {stacked.member_list(bad)}"
        raise np.linalg.LinAlgError(
            f"{_SINGULAR_VECTORS}: the singular vectors of a rank-deficient rectangular matrix "
            f"(shape {tuple(shape)}{where}) have no derivative (1/σ at σ = 0)")
    return np.zeros(())


def _left_vectors_vjp(g, U, X, full_matrices=False):
    # dU = U(F ∘ (dP S + S dPᵀ)) + (I − UUᵀ) dX V S⁻¹, dP = Uᵀ dX V ⇒
    # X̄ = U [F ∘ (UᵀŪ − ŪᵀU)] S Vᵀ + (I − UUᵀ) Ū S⁻¹ Vᵀ
    shape = tuple(shape_of(X))
    _, s, V = _factors(X, full_matrices)
    inner = _mT(U) @ g
    F, scaled, c = _gap_factors(s, shape)
    core = (F * (inner - _mT(inner))) * (np.expand_dims(scaled, -2) / np.expand_dims(c, -1))
    result = U @ core @ _mT(V)
    if shape[-2] > shape_of(s)[-1]:
        result = result + ((g - U @ inner) * np.expand_dims(_inverse_singular(s, shape), -2)) @ _mT(V)
    return result


def _right_vectors_vjp(g, V, X, full_matrices=False):
    # dV = V(F ∘ (S dP + dPᵀ S)) + (I − VVᵀ) dXᵀ U S⁻¹ ⇒
    # X̄ = U S [F ∘ (VᵀV̄ − V̄ᵀV)] Vᵀ + U S⁻¹ V̄ᵀ (I − VVᵀ)
    shape = tuple(shape_of(X))
    U, s, _ = _factors(X, full_matrices)
    inner = _mT(V) @ g
    F, scaled, c = _gap_factors(s, shape)
    core = (np.expand_dims(scaled, -1) / np.expand_dims(c, -1)) * (F * (inner - _mT(inner)))
    result = U @ core @ _mT(V)
    if shape[-1] > shape_of(s)[-1]:
        result = result + U @ _mT((g - V @ inner) * np.expand_dims(_inverse_singular(s, shape), -2))
    return result


def _vectors_jacobian(X, left, full_matrices=False):
    """The Jacobian of U (`left`) or V: with vec dP = (Vᵀ ⊗ Uᵀ) vec dX,
    vec dU = (I ⊗ U) Diag(vec F) [(S ⊗ I) + (I ⊗ S) K] vec dP + (S⁻¹Vᵀ ⊗ (I − UUᵀ)) vec dX,
    vec dV = (I ⊗ V) Diag(vec F) [(I ⊗ S) + (S ⊗ I) K] vec dP + (S⁻¹Uᵀ ⊗ (I − VVᵀ)) K_{m,n} vec dX."""
    U, s, V = _svd(X, full_matrices)
    shape = np.shape(X)
    if s.ndim > 1:
        return _vectors_jacobian_stack(U, s, V, shape, left)
    k = s.size
    F, scaled, c = _gap_factors(s, shape)
    # Diag(vec F)·(S ⊗ I …) = Diag(vec F̃/c)·(S̃ ⊗ I …): no σ² formed (see _gap_factors).
    # vec(F̃/c) is the C-order ravel of (F̃/c)ᵀ: written in that order and frozen, it is the
    # Diag's own array (no vec copy, no defensive copy: one k×k array at the peak, not three)
    gaps = np.divide(F.T, c, order="C")
    gaps.flags.writeable = False
    del F
    S, I = Diag(scaled), Identity(k, s.dtype)
    scaled_then_transposed = algebra.multiply(Kron(S, I) if not left else Kron(I, S), Commutation(k, k, s.dtype))
    inner = algebra.add(Kron(S, I) if left else Kron(I, S), scaled_then_transposed)
    dP = Kron(Dense(V.T), Dense(U.T))
    J = algebra.multiply(Kron(I, Dense(U if left else V)),
                         algebra.multiply(Diag(gaps.ravel()), algebra.multiply(inner, dP)))
    own, other, size = (U, V, shape[0]) if left else (V, U, shape[1])
    if size > k:
        projector = Dense(np.eye(size) - own @ own.T)
        rest = Kron(Dense(other.T * _inverse_singular(s, shape)[:, None]), projector)
        J = algebra.add(J, rest if left else algebra.multiply(rest, Commutation(*shape)))
    return J


def _vectors_jacobian_stack(U, s, V, shape, left):
    """:func:`_vectors_jacobian` for every member of a stack: the same products of
    batched block operators (Diag(s_k) as a stack of diagonal matrices, K as the
    batched commutation), §24.5."""
    F, scaled, c = _gap_factors(s, shape)  # (each member scaled by its largest σ: see _gap_factors)
    Um, Vm, sm = _members(U), _members(V), _members(np.asarray(scaled), 1)
    K, k = sm.shape
    m, n = shape[-2:]
    S = sm[:, :, None] * np.eye(k, dtype=sm.dtype)  # (K, k, k): diag(s̃_k)
    S_I, I_S = BatchedKron(S, k), BatchedKron(k, S)
    scaled_then_transposed = algebra.multiply(S_I if not left else I_S, stacked.member_transpose(K, k, k, sm.dtype))
    inner = algebra.add(S_I if left else I_S, scaled_then_transposed)
    dP = BatchedKron(np.swapaxes(Vm, -1, -2), np.swapaxes(Um, -1, -2), name="blockdiag(Vₖᵀ ⊗ Uₖᵀ)")
    F = _members(F / np.expand_dims(c, -1))
    J = algebra.multiply(BatchedKron(k, Um if left else Vm),
                         algebra.multiply(stacked.member_mask(F, K), algebra.multiply(inner, dP)))
    own, other, size = (Um, Vm, m) if left else (Vm, Um, n)
    if size > k:
        projector = np.eye(size, dtype=own.dtype) - np.matmul(own, np.swapaxes(own, -1, -2))
        inverse = _members(_inverse_singular(s, shape), 1)
        rest = BatchedKron(np.swapaxes(other, -1, -2) * inverse[:, :, None], projector)
        J = algebra.add(J, rest if left else algebra.multiply(rest, stacked.member_transpose(K, m, n, sm.dtype)))
    return J


def _separated_singular_values(rng, shape, values):
    """A matrix with the given singular values and random singular vectors."""
    k = len(values)
    Q1, _ = np.linalg.qr(rng.standard_normal((shape[0], k)))
    Q2, _ = np.linalg.qr(rng.standard_normal((shape[1], k)))
    return (Q1 * values) @ Q2.T


def _svd_samples(rng, n):
    return (_separated_singular_values(rng, (n, n + 1), np.linspace(2.0, 1.0, n)),)


_SVD_EDGES = {
    "tall": lambda rng: (_separated_singular_values(rng, (4, 2), [2.0, 1.0]),),
    "square": lambda rng: (_separated_singular_values(rng, (3, 3), [3.0, 2.0, 1.0]),),
    "a (2, 3, 2) stack (tall members)": lambda rng: (
        _stack_of(lambda r: _separated_singular_values(r, (3, 2), [2.0, 1.0]), rng, (2,)),),
    "a (2, 1, 2, 3) stack (wide members)": lambda rng: (
        _stack_of(lambda r: _separated_singular_values(r, (2, 3), [2.0, 1.0]), rng, (2, 1)),),
}

singular_values = register(Primitive(
    _singular_values_impl, name="singular_values",
    vjps={0: _singular_values_vjp},
    jacobians={0: _singular_values_jacobian},
    label=lambda a, source="values": None if a is None else f"σ({a})",
    formula="D σ(X) = S_diag·(Vᵀ ⊗ Uᵀ): dσᵢ = uᵢᵀ dX vᵢ (a zero singular value: derivative 0)",
    reference="Magnus–Neudecker ch. 8 (differentials of eigenvalues); Townsend, 'Differentiating the "
              "singular value decomposition' (2016)",
    samples=_svd_samples, param_names=("X",),
    edge_cases={**_SVD_EDGES,
                "from the decomposition with vectors": lambda rng: _samples.Sample(
                    _svd_samples(rng, 2), {"source": "thin"}),
                "from the full decomposition (square)": lambda rng: _samples.Sample(
                    (_separated_singular_values(rng, (3, 3), [3.0, 2.0, 1.0]),), {"source": "full"}),
                "as np.linalg.lstsq reports them": lambda rng: _samples.Sample(
                    (_separated_singular_values(rng, (4, 3), [3.0, 2.0, 1.0]),), {"source": "lstsq"})},
))


def _singular_vectors(name, left, vjp, formula):
    return register(Primitive(
        lambda X, full_matrices=False: _svd(X, full_matrices)[0 if left else 2], name=name,
        vjps={0: vjp},
        jacobians={0: lambda ans, X, names, full_matrices=False: _vectors_jacobian(
            np.asarray(X), left=left, full_matrices=full_matrices)},
        label=lambda a, full_matrices=False: None,
        formula=formula + ", dP = Uᵀ dX V, Fᵢⱼ = 1/(σⱼ² − σᵢ²)",
        reference="Townsend, 'Differentiating the singular value decomposition' (2016); JAX svd_jvp_rule",
        samples=_svd_samples, param_names=("X",),
        edge_cases={**_SVD_EDGES, "full_matrices=True (square)": lambda rng: _samples.Sample(
            (_separated_singular_values(rng, (3, 3), [3.0, 2.0, 1.0]),), {"full_matrices": True})},
    ))


left_singular_vectors = _singular_vectors("left_singular_vectors", True, _left_vectors_vjp,
                                          "dU = U(F ∘ (dP S + S dPᵀ)) + (I − UUᵀ) dX V S⁻¹")
right_singular_vectors = _singular_vectors("right_singular_vectors", False, _right_vectors_vjp,
                                           "dV = V(F ∘ (S dP + dPᵀ S)) + (I − VVᵀ) dXᵀ U S⁻¹")


@numpy_function(np.linalg.svd)
def _linalg_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if hermitian:  # NumPy ignores full_matrices there: U and Vᵀ are square
        return _hermitian_svd(a, compute_uv)
    m, n = _matrix_shape(a, _SVD)
    if not compute_uv:
        return bind(singular_values, a, source="values")
    full = bool(full_matrices) and m == n
    if full_matrices and m != n:
        raise TypeError(
            f"kronvec cannot differentiate {_SVD} with full_matrices=True of a {m}×{n} matrix: its "
            f"{abs(m - n)} extra singular vectors are not unique (no derivative); pass full_matrices=False "
            "(see kronvec.SUPPORTED_FUNCTIONS)")
    return SVDResult(bind(left_singular_vectors, a, full_matrices=full),
                     bind(singular_values, a, source="full" if full else "thin"),
                     _mT(bind(right_singular_vectors, a, full_matrices=full)))


if hasattr(np.linalg, "svdvals"):
    @numpy_function(np.linalg.svdvals)
    def _linalg_svdvals(x, /):
        _matrix_shape(x, "np.linalg.svdvals")
        return bind(singular_values, x, source="values")


# ============================================================ the SVD of a symmetric matrix
# np.linalg.svd(a, hermitian=True) is NumPy's eigh reordered: σ = |λ| sorted descending, U the
# eigenvectors in that order, Vᵀ = (U·sign λ)ᵀ.  kronvec writes it out of the same registered
# operations (eigh, abs, take_along_axis, a product with constant signs), so the values are
# NumPy's bit for bit and the derivatives are those of what NumPy returns (derivatives.md §33.1).
_SVD_HERMITIAN = "np.linalg.svd(hermitian=True)"


def _signed_spectrum_check(w, operation=_SVD_HERMITIAN):
    """LinAlgError where the singular vectors of a symmetric matrix have no derivative:
    a repeated |λ| (a repeated λ, or λ and −λ both present: their order among the
    singular values can swap) or a zero λ (the sign NumPy moves into V flips there);
    a nearly repeated or nearly zero |λ| warns.  On plain eigenvalues w (…, k), each
    member of a stack against its own tolerance k·eps·max|λ| (matrix_rank's)."""
    w = np.asarray(w)
    k = w.shape[-1]
    if w.size == 0:
        return np.zeros(())
    magnitudes = np.sort(np.abs(w), axis=-1)
    tolerance = stacked.member_tolerance(w, k)[..., 0]
    smallest = magnitudes[..., 0]
    closest = np.diff(magnitudes, axis=-1).min(axis=-1, initial=np.inf)
    bad = (smallest <= tolerance) | (closest <= tolerance)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        where = (f": {stacked.member_count(bad)} of the stack of shape {w.shape[:-1]} (batch), at batch index "
                 f"{stacked.member_list(bad)}; in the first" if bad.ndim else "")
        values, scale = w[first], float(tolerance[first])
        if smallest[first] <= tolerance[first]:
            i = int(np.argmin(np.abs(values)))
            what = (f"the eigenvalue λ{i + 1} = {values[i]:.6g} is 0 to working precision (|λ| ≤ {scale:.3g}): the "
                    "sign NumPy moves from it into V flips there")
        else:
            order = np.argsort(np.abs(values), kind="stable")
            j = int(np.argmin(np.diff(np.abs(values)[order])))
            p, q = int(order[j]), int(order[j + 1])
            kind = "λ and −λ both present" if values[p] * values[q] < 0 else "a repeated eigenvalue"
            what = (f"repeated singular values |λ{p + 1}| = |{values[p]:.6g}| and |λ{q + 1}| = |{values[q]:.6g}| "
                    f"({kind}; gap {abs(abs(values[q]) - abs(values[p])):.3g} ≤ {scale:.3g}), whose singular "
                    "vectors are not unique")
        raise np.linalg.LinAlgError(
            f"{operation}{where}: {what}; the singular vectors have no derivative there (functions of the "
            "singular values alone do)")
    nearest = np.minimum(smallest, closest)
    threshold = condition_threshold(w.dtype)
    if threshold is not None:
        with np.errstate(divide="ignore"):
            condition = float(np.max(np.max(np.abs(w), axis=-1) / nearest))
        _warn_if_ill_conditioned(condition, w.dtype, f"{operation}: nearly repeated or nearly zero |eigenvalues|; "
                                 "the singular vectors' derivatives scale like 1/gap")
    return np.zeros(())


def _signed_spectrum_guard_vjp(position):
    if position == 1:  # the check reads the eigenvalues; the value does not depend on them
        return lambda g, ans, V, w: np.zeros(shape_of(w), dtype=static_value(w).dtype)

    def vjp(g, ans, V, w):
        # the identity, once the check passes (recorded for replay under a compiled hvp)
        decided(_signed_spectrum_check, w)
        return g

    return vjp


def _signed_spectrum_guard_jacobian(ans, V, w, names):
    _signed_spectrum_check(w)
    return Identity(np.size(V), np.result_type(np.asarray(V).dtype, np.float32))


def _guard_samples(rng, n):
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return V, np.linspace(-1.0, 2.0, n) + 0.1 * np.arange(n) * (np.arange(n) % 2)


# The eigenvectors of a symmetric matrix, unchanged, with a derivative that exists only
# where the singular vectors built from them do (see _signed_spectrum_check): the step of
# np.linalg.svd(hermitian=True) no registered operation takes (eigh's own check sees a
# repeated λ, not λ and −λ, nor λ = 0).
signed_spectrum_guard = register(Primitive(
    lambda V, w: np.array(V, copy=True), name="linalg.signed_spectrum_guard",
    vjps=_signed_spectrum_guard_vjp,
    jacobians={0: _signed_spectrum_guard_jacobian},
    label=lambda V, w: V,
    formula="D_V = I where every |λ| is simple and nonzero (else LinAlgError); D_w = 0",
    reference="notes/derivatives.md §33.1 (the SVD of a symmetric matrix from its eigendecomposition)",
    samples=_guard_samples, param_names=("V", "w"),
    edge_cases={"a (2, 3, 3) stack": lambda rng: (
        np.stack([_guard_samples(rng, 3)[0], _guard_samples(rng, 3)[0]]),
        np.array([[-1.0, 0.5, 2.0], [3.0, -2.0, 1.0]]))},
))


def _signed_order_key(shape, w):
    """NumPy's order of the singular values of a symmetric matrix, argsort(|λ|) reversed
    (its default sort kind: its order at ties, bit for bit), along the last axis of an
    array of `shape`: λ's own shape (…, k), or (…, k, k) for the columns of U."""
    order = np.argsort(np.abs(np.asarray(w)))[..., ::-1]
    if len(shape) > order.ndim:
        order = np.expand_dims(order, -2)
    return np.broadcast_to(order, shape)


def _signed_gather_impl(h, w):
    h = np.asarray(h)
    return np.take_along_axis(h, _signed_order_key(h.shape, w), axis=-1)


def _signed_scatter_impl(g, w):
    g = np.asarray(g)
    out = np.zeros(g.shape, dtype=g.dtype if g.dtype.kind == "f" else np.float64)
    np.put_along_axis(out, _signed_order_key(g.shape, w), g, axis=-1)
    return out


def _signed_gather_jacobian(ans, h, w, names):
    shape = np.shape(h)
    return index_map_jacobian(shape, np.take_along_axis(positions(shape), _signed_order_key(shape, w), axis=-1))


def _signed_order_vjp(other):
    def vjps(position):
        if position == 1:  # the order: piecewise constant in λ (a decision, derivative 0)
            return lambda g, ans, h, w: np.zeros(shape_of(w), dtype=static_value(w).dtype)
        return lambda g, ans, h, w: bind(other(), g, w)

    return vjps


def _signed_order_samples(rng, n):
    return rng.standard_normal((n, n)), np.linspace(-1.0, 2.0, n) + 0.1 * np.arange(n) * (np.arange(n) % 2)


_SIGNED_ORDER_EDGES = {
    "the singular values (h shaped like λ)": lambda rng: (rng.standard_normal(3), np.array([0.5, -2.0, 1.0])),
    "a (2, 3, 3) stack": lambda rng: (rng.standard_normal((2, 3, 3)), np.array([[-1.0, 0.5, 2.0], [3.0, -2.0, 1.0]])),
}

# The gather by NumPy's order of |λ| (and its adjoint, the scatter back), as operations of
# (h, λ): the order is taken from the λ each call — and each replay of a compiled
# recording — is given, as np.sort's permutation is (sort.gather, sort.scatter).
signed_order_gather = register(Primitive(
    _signed_gather_impl, name="linalg.signed_order.gather",
    vjps=_signed_order_vjp(lambda: signed_order_scatter),
    jacobians={0: _signed_gather_jacobian},
    label=lambda h, w: None,
    formula="D_H = P(λ) (the permutation sorting |λ| descending, NumPy's order; a 0/1 selection); D_λ = 0",
    reference="notes/derivatives.md §33.1 (np.linalg.svd(hermitian=True) reorders eigh's factors)",
    samples=_signed_order_samples, param_names=("H", "λ"), edge_cases=_SIGNED_ORDER_EDGES,
))
signed_order_scatter = register(Primitive(
    _signed_scatter_impl, name="linalg.signed_order.scatter",
    vjps=_signed_order_vjp(lambda: signed_order_gather),
    jacobians={0: lambda ans, g, w, names: _signed_gather_jacobian(None, g, w, names).T},
    label=lambda g, w: None,
    formula="D_G = P(λ)ᵀ (the scatter back through NumPy's order of |λ|); D_λ = 0",
    reference="the adjoint of a gather is a scatter (notes/derivatives.md §19, §33.1)",
    samples=_signed_order_samples, param_names=("G", "λ"), edge_cases=_SIGNED_ORDER_EDGES,
))


def _ordered_signs(w):
    """sign λ (NumPy's copysign(1, λ): −0.0 counts as negative) in NumPy's order of |λ|:
    a decision on the values (recorded when a compiled recording is replayed)."""
    w = np.asarray(w)
    return np.take_along_axis(np.copysign(1.0, w), _signed_order_key(w.shape, w), axis=-1)


def _hermitian_svd(a, compute_uv):
    """np.linalg.svd(a, hermitian=True), step for step as NumPy takes it (numpy/linalg/_linalg.py)."""
    _square_shape(a, _SVD_HERMITIAN)
    if not compute_uv:
        return np.sort(np.abs(_eigvalsh(a)), axis=-1)[..., ::-1]
    w, V = _eigh(a)
    s = bind(signed_order_gather, np.abs(w), w)
    U = bind(signed_order_gather, bind(signed_spectrum_guard, V, w), w)
    return SVDResult(U, s, _mT(U * np.expand_dims(decided(_ordered_signs, w), -2)))


def extreme_singular_value(s, position, shape, what):
    """σ at `position` (0: the largest, −1: the smallest), refused where it is repeated
    and nonzero (its singular vectors, hence its gradient u vᵀ, are not unique)."""
    plain = np.asarray(plain_value(s))
    if plain.ndim > 1:
        return _extreme_singular_value_stack(s, plain, position, shape, what)
    if plain.size > 1:
        neighbour = plain[1] if position == 0 else plain[-2]
        value = plain[position]
        if value > 0 and abs(value - neighbour) <= 4 * _singular_tolerance(plain, shape):
            raise np.linalg.LinAlgError(
                f"{what}: the {'largest' if position == 0 else 'smallest'} singular value {value:.6g} is "
                f"repeated (gap {abs(value - neighbour):.3g}); it has no derivative there")
    return s[position]


def _extreme_singular_value_stack(s, plain, position, shape, what):
    """σ at `position` of every member of a stack (…, k); members where it is repeated and
    nonzero raise one LinAlgError naming them."""
    if plain.shape[-1] > 1:
        value = plain[..., position]
        neighbour = plain[..., 1] if position == 0 else plain[..., -2]
        tolerance = stacked.member_tolerance(plain, max(shape[-2:]))[..., 0]
        repeated = (value > 0) & (np.abs(value - neighbour) <= 4 * tolerance)
        if repeated.any():
            raise np.linalg.LinAlgError(
                f"{what}: the {'largest' if position == 0 else 'smallest'} singular value of "
                f"{stacked.member_count(repeated)} of the stack is repeated, at batch index "
                f"{stacked.member_list(repeated)}; it has no derivative there")
    return s[..., position]


# ========================================================================= QR
_QR = "np.linalg.qr"


def _qr_factors(A):
    """``np.linalg.qr(A)`` (reduced) as NumPy returns it, once per call; R must be invertible."""
    def compute():
        m, n = A.shape[-2:]
        if A.ndim > 2:
            stacked.require_finite_members(A, _QR)
        if m < n:
            raise TypeError(f"kronvec cannot differentiate {_QR} of a wide {m}×{n} matrix (m < n) yet: "
                            "its R is not square (see kronvec.SUPPORTED_FUNCTIONS)")
        return np.linalg.qr(A)

    return _remembered("qr", (A,), compute)


def _inverse_of_r(R):
    """R⁻¹ for the derivatives, refused (LinAlgError) when A is rank-deficient."""
    def compute():
        if R.ndim > 2:
            return _inverse_of_r_stack(R)
        d = np.abs(R.diagonal())
        tolerance = _tolerance(d, R.shape[0])
        if d.size and d.min() <= tolerance:
            k = int(np.argmin(d)) + 1
            raise np.linalg.LinAlgError(
                f"{_QR}: the matrix is rank-deficient (|R{k}{k}| = {d.min():.3g} ≤ {tolerance:.3g}): "
                "its QR factors have no derivative there")
        return _lower_inverse(R, transposed=True).T

    return _remembered("inverse of R", (R,), compute)


def _inverse_of_r_stack(R):
    """R_k⁻¹ of every member (the transpose of the lower-triangular R_kᵀ's inverse);
    rank-deficient members raise one LinAlgError naming them."""
    d = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
    deficient = (d <= stacked.member_tolerance(d, R.shape[-1])).any(axis=-1)
    if deficient.any():
        raise np.linalg.LinAlgError(
            f"{_QR}: {stacked.member_count(deficient)} of the stack "
            f"{'is' if np.count_nonzero(deficient) == 1 else 'are'} rank-deficient (a diagonal entry of R at "
            f"working precision's zero), at batch index {stacked.member_list(deficient)}: "
            "its QR factors have no derivative there")
    return _mT(_lower_inverse_stack(R, transposed=True))


def _qr_impl(A, factor):
    _matrix_shape(A, _QR)
    return _qr_factors(_as_float(A))[factor]


def _copy_upper(N):
    """B(N) = triu(N) + triu(N, 1)ᵀ: the upper triangle mirrored (what Ω's adjoint leaves)."""
    return np.triu(N) + _mT(np.triu(N, 1))


def _qr_pullback(A, Q, R, Q_bar, R_bar):
    # ⟨Q̄, dQ⟩ + ⟨R̄, dR⟩ = ⟨(Q̄ + Q B(N)) R⁻ᵀ, dA⟩, N = R̄Rᵀ − QᵀQ̄ (Walter & Lehmann 2018)
    N = 0.0
    if R_bar is not None:
        N = R_bar @ _mT(R)
    if Q_bar is not None:
        N = N - _mT(Q) @ Q_bar
    M = Q @ _copy_upper(N)
    if Q_bar is not None:
        M = M + Q_bar
    if isinstance(R, Node) or isinstance(M, Node):
        return _mT(np.linalg.solve(R, _mT(M)))  # M R⁻ᵀ
    return np.matmul(np.asarray(M), _mT(_inverse_of_r(np.asarray(R))))


def _qr_both(A):
    if isinstance(A, Node):
        return bind(qr_q, A), bind(qr_r, A)
    return _qr_factors(_as_float(A))


def _qr_q_vjp(g, Q, A):
    _, R = _qr_both(A)
    return _qr_pullback(A, Q, R, g, None)


def _qr_r_vjp(g, R, A):
    Q, _ = _qr_both(A)
    return _qr_pullback(A, Q, R, None, g)


def _upper_minus_omega(n, dtype):
    """T: vec C ↦ vec(C − Ω) = vec(triu(C) + tril(C, −1)ᵀ), held as its size alone
    (Diag(vec U) + K·Diag(vec(1 − U)) would hold three n×n arrays)."""
    return TriangleFold(n, dtype)


def _qr_jacobian(A, want_q):
    A = _as_float(A)
    Q, R = _qr_factors(A)
    if A.ndim > 2:
        return _qr_jacobian_stack(Q, R, want_q)
    m, n = A.shape
    R_inv = Dense(_inverse_of_r(R))
    C = Kron(R_inv.T, Dense(Q.T))  # vec C = (R⁻ᵀ ⊗ Qᵀ) vec dA
    T = algebra.multiply(_upper_minus_omega(n, A.dtype), C)
    if not want_q:  # dR = (C − Ω) R
        return algebra.multiply(Kron(Dense(R.T), Identity(n)), T)
    # dQ = −Q(C − Ω) + dA R⁻¹
    return algebra.add(algebra.scale(algebra.multiply(Kron(Identity(n), Dense(Q)), T), -1.0),
                       Kron(R_inv.T, Identity(m)))


def _qr_jacobian_stack(Q, R, want_q):
    """:func:`_qr_jacobian` for every member: products of batched block operators (§24.5)."""
    Qm, Rm = _members(Q), _members(R)
    K, m, n = Qm.shape
    R_inv_t = np.swapaxes(_members(_inverse_of_r(R)), -1, -2)
    C = BatchedKron(R_inv_t, np.swapaxes(Qm, -1, -2), name="blockdiag(Rₖ⁻ᵀ ⊗ Qₖᵀ)")
    upper = np.triu(np.ones((n, n), dtype=Qm.dtype))
    T = algebra.add(stacked.member_mask(upper, K),
                    algebra.multiply(stacked.member_transpose(K, n, n, Qm.dtype), stacked.member_mask(1.0 - upper, K)))
    T = algebra.multiply(T, C)
    if not want_q:  # dR = (C − Ω) R
        return algebra.multiply(BatchedKron(np.swapaxes(Rm, -1, -2), n, name="blockdiag(Rₖᵀ ⊗ I)"), T)
    return algebra.add(algebra.scale(algebra.multiply(BatchedKron(n, Qm, name="blockdiag(I ⊗ Qₖ)"), T), -1.0),
                       BatchedKron(R_inv_t, m, name="blockdiag(Rₖ⁻ᵀ ⊗ I)"))


def _qr_samples(rng, n):
    return (rng.standard_normal((n + 1, n)) + np.eye(n + 1, n),)


_QR_EDGES = {"square": lambda rng: (_samples.well_conditioned(rng, 3),),
             "one column": lambda rng: (rng.standard_normal((3, 1)),),
             "a (2, 3, 2) stack": lambda rng: (_stack_of(lambda r: _qr_samples(r, 2)[0], rng, (2,)),)}

qr_q = register(Primitive(
    lambda A: _qr_impl(A, 0), name="linalg.qr_q",
    vjps={0: _qr_q_vjp},
    jacobians={0: lambda Q, A, names: _qr_jacobian(A, True)},
    label=lambda a: None,
    formula="D Q = −(I ⊗ Q)·T·(R⁻ᵀ ⊗ Qᵀ) + (R⁻ᵀ ⊗ I), T vec C = vec(triu(C) + tril(C, −1)ᵀ)",
    reference="Walter & Lehmann, 'Algorithmic differentiation of linear algebra functions with "
              "application in optimum experimental design' (2018); JAX qr_jvp_rule",
    samples=_qr_samples, param_names=("A",), edge_cases=_QR_EDGES,
    signature="(m,n)->(m,n)",
))

qr_r = register(Primitive(
    lambda A: _qr_impl(A, 1), name="linalg.qr_r",
    vjps={0: _qr_r_vjp},
    jacobians={0: lambda R, A, names: _qr_jacobian(A, False)},
    label=lambda a: None,
    formula="D R = (Rᵀ ⊗ I)·T·(R⁻ᵀ ⊗ Qᵀ), T vec C = vec(triu(C) + tril(C, −1)ᵀ)",
    reference="Walter & Lehmann (2018); JAX qr_jvp_rule",
    samples=_qr_samples, param_names=("A",), edge_cases=_QR_EDGES,
    signature="(m,n)->(n,n)",
))


@numpy_function(np.linalg.qr)
def _linalg_qr(a, mode="reduced"):
    m, n = _matrix_shape(a, _QR)
    if mode not in ("reduced", "complete", "r", "raw", "full", "f", "economic", "e"):
        raise ValueError(f"{_QR}: unrecognized mode {mode!r} (NumPy's modes: 'reduced', 'complete', 'r', "
                         "'raw')")  # (an invalid argument, as NumPy says: not a limit of kronvec's)
    if mode == "complete" and m == n:
        mode = "reduced"  # (the same factors for a square matrix)
    if mode not in ("reduced", "r"):
        why = f" of a {m}×{n} matrix (its extra columns of Q are not unique)" if mode == "complete" else ""
        raise TypeError(f"kronvec cannot differentiate {_QR} with mode={mode!r}{why}; use mode='reduced' or 'r' "
                        "(see kronvec.SUPPORTED_FUNCTIONS)")
    if m < n:
        raise TypeError(f"kronvec cannot differentiate {_QR} of a wide {m}×{n} matrix (m < n) yet "
                        "(see kronvec.SUPPORTED_FUNCTIONS)")
    if mode == "r":
        return bind(qr_r, a)
    return QRResult(bind(qr_q, a), bind(qr_r, a))


# ================================================================ pinv, lstsq
_PINV, _LSTSQ = "np.linalg.pinv", "np.linalg.lstsq"


def _pinv_impl(A, rcond=None, rtol=_NO_VALUE, hermitian=False):
    _matrix_shape(A, _PINV)
    if hermitian:  # a function of sym(A) (derivative along symmetric directions): A itself when symmetric
        A = _symmetric_input(A, _PINV, checked=False)
    if rtol is _NO_VALUE:
        return np.linalg.pinv(A, rcond=rcond, hermitian=hermitian)
    return np.linalg.pinv(A, rcond=rcond, rtol=rtol, hermitian=hermitian)


def _require_full_rank(A, rcond, rtol, hermitian=False):
    """pinv is differentiable where its rank is constant: refused where NumPy discards
    a singular value (rank < min(m, n)); with `hermitian`, judged on the singular values
    NumPy's pinv then uses, |λ| of sym(A) sorted descending."""
    A = _as_float(A)
    if hermitian:
        A = _symmetric_part(A)
    s = _remembered("singular values", (A,), lambda: np.linalg.svd(A, compute_uv=False, hermitian=hermitian),
                    bool(hermitian))
    if s.size == 0:
        return
    if rcond is None:
        rcond = 1e-15 if rtol is _NO_VALUE else (max(A.shape[-2:]) * np.finfo(A.dtype).eps if rtol is None else rtol)
    if s.ndim > 1:  # each member against its own largest singular value, as NumPy's pinv
        deficient = s[..., -1] <= float(rcond) * s[..., 0]
        if deficient.any():
            raise np.linalg.LinAlgError(
                f"{_PINV}: {stacked.member_count(deficient)} of the stack of shape {A.shape} "
                f"{'has' if np.count_nonzero(deficient) == 1 else 'have'} rank < {min(A.shape[-2:])} (singular "
                f"values ≤ rcond·σ_max are discarded), at batch index {stacked.member_list(deficient)}: the "
                "pseudo-inverse is not differentiable there")
        return
    cutoff = float(rcond) * float(s[0])
    if s[-1] <= cutoff:
        rank = int(np.count_nonzero(s > cutoff))
        raise np.linalg.LinAlgError(
            f"{_PINV}: the {A.shape[0]}×{A.shape[1]} matrix has rank {rank} < {min(A.shape)} (singular values "
            f"≤ rcond·σ_max = {cutoff:.3g} are discarded): its pseudo-inverse is not differentiable there")


def _pinv_vjp(g, P, A, rcond=None, rtol=_NO_VALUE, hermitian=False):
    # Ā = −PᵀḠPᵀ + (I − AP)ḠᵀPPᵀ + PᵀPḠᵀ(I − PA); the projector vanishes on the full-rank side
    if isinstance(A, Node) and compile_guard(A) is not None:  # (hvp compiled: each replay checks again)
        decided(functools.partial(_full_rank_check, rcond=rcond, rtol=rtol, hermitian=hermitian), A)
    else:
        _require_full_rank(plain_value(A), rcond, rtol, hermitian)
    if hermitian:  # P = pinv(sym A), square: Ā = sym(−PᵀḠPᵀ) (derivatives.md §33.1)
        Pt = _mT(P)
        X = -(Pt @ g @ Pt)
        return (X + _mT(X)) / 2
    m, n = shape_of(A)[-2:]
    Pt = _mT(P)
    result = -(Pt @ g @ Pt)
    if m > n:  # I − AP ≠ 0
        right = _mT(g) @ (P @ Pt)
        result = result + right - A @ (P @ right)
    elif m < n:  # I − PA ≠ 0
        left = (Pt @ P) @ _mT(g)
        result = result + left - (left @ P) @ A
    return result


def _full_rank_check(A, rcond, rtol, hermitian=False):
    _require_full_rank(np.asarray(A), rcond, rtol, hermitian)
    return np.zeros(())


def _pinv_jacobian(P, A, names, rcond=None, rtol=_NO_VALUE, hermitian=False):
    _require_full_rank(A, rcond, rtol, hermitian)
    P, A = np.asarray(P), np.asarray(A)
    if hermitian:  # −(Pᵀ ⊗ P)·½(I + K): the square rule along symmetric directions
        n = A.shape[-1]
        if A.ndim > 2:
            Pm = _members(P)
            return algebra.multiply(BatchedKron(np.swapaxes(Pm, -1, -2), Pm, -1.0, name="-blockdiag(Aₖ⁺ᵀ ⊗ Aₖ⁺)"),
                                    stacked.member_symmetrizer(Pm.shape[0], n, P.dtype))
        return algebra.multiply(linear_map(Dense(P), Dense(P), A.shape, scale=-1.0), _symmetrizer(n, P.dtype))
    if A.ndim > 2:
        return _pinv_jacobian_stack(P, _as_float(A))
    m, n = A.shape
    J = linear_map(Dense(P), Dense(P), A.shape, scale=-1.0)
    if m > n:  # P Pᵀ dAᵀ (I − AP)
        J = algebra.add(J, linear_map(Dense(P @ P.T), Dense(np.eye(m) - A @ P), A.shape, transposed=True))
    elif m < n:  # (I − PA) dAᵀ PᵀP
        J = algebra.add(J, linear_map(Dense(np.eye(n) - P @ A), Dense(P.T @ P), A.shape, transposed=True))
    return J


def _pinv_jacobian_stack(P, A):
    # block k as the 2-D rule: L dA R ↦ Rᵀ ⊗ L, and L dAᵀ R ↦ (Rᵀ ⊗ L)·K (§24.5)
    Pm, Am = _members(P), _members(A)
    K, m, n = Am.shape
    Pt = np.swapaxes(Pm, -1, -2)
    J = BatchedKron(Pt, Pm, -1.0, name="-blockdiag(Aₖ⁺ᵀ ⊗ Aₖ⁺)")
    if m == n:
        return J
    transpose = stacked.member_transpose(K, m, n, Pm.dtype)
    if m > n:  # P Pᵀ dAᵀ (I − AP)
        right = np.eye(m, dtype=Pm.dtype) - np.matmul(Am, Pm)
        term = BatchedKron(np.swapaxes(right, -1, -2), np.matmul(Pm, Pt))
    else:  # (I − PA) dAᵀ PᵀP
        term = BatchedKron(np.matmul(Pt, Pm), np.eye(n, dtype=Pm.dtype) - np.matmul(Pm, Am))
    return algebra.add(J, algebra.multiply(term, transpose))


pinv = register(Primitive(
    _pinv_impl, name="linalg.pinv",
    vjps={0: _pinv_vjp},
    jacobians={0: _pinv_jacobian},
    label=lambda a, **params: derived_label("pinv({})", a),
    formula="D A⁺ = −(A⁺ᵀ ⊗ A⁺) + ((I − AA⁺) ⊗ A⁺A⁺ᵀ)K (m > n) + (A⁺ᵀA⁺ ⊗ (I − A⁺A))K (m < n)",
    reference="Golub & Pereyra, 'The differentiation of pseudo-inverses and nonlinear least squares "
              "problems' (1973)",
    samples=lambda rng, n: (rng.standard_normal((n + 2, n)) + np.eye(n + 2, n),), param_names=("A",),
    edge_cases={"square": lambda rng: (_samples.well_conditioned(rng, 3),),
                "wide (full row rank)": lambda rng: (rng.standard_normal((2, 4)) + np.eye(2, 4),),
                "rtol given": lambda rng: _samples.Sample((rng.standard_normal((3, 2)),), {"rtol": 1e-10}),
                "a (2, 3, 2) stack": lambda rng: (_stack_of(
                    lambda r: r.standard_normal((3, 2)) + np.eye(3, 2), rng, (2,)),),
                "a (2, 2, 3) stack (wide members)": lambda rng: (_stack_of(
                    lambda r: r.standard_normal((2, 3)) + np.eye(2, 3), rng, (2,)),),
                "a (2, 2, 2) stack (square members)": lambda rng: (_stack_of(
                    lambda r: _samples.well_conditioned(r, 2), rng, (2,)),),
                "hermitian=True (indefinite)": lambda rng: _samples.Sample(
                    (_symmetric_samples(rng, 3)[0] - 4.0 * np.eye(3),), {"hermitian": True}),
                "hermitian=True, not symmetric (the symmetric part is used)": lambda rng: _samples.Sample(
                    (_symmetric_samples(rng, 3)[0] + 0.1 * np.tril(rng.standard_normal((3, 3)), -1),),
                    {"hermitian": True}),
                "hermitian=True, a (2, 3, 3) stack": lambda rng: _samples.Sample((_stack_of(
                    lambda r: _symmetric_samples(r, 3)[0], rng, (2,)),), {"hermitian": True})},
    signature="(m,n)->(n,m)",
))


@numpy_function(np.linalg.pinv)
def _linalg_pinv(a, rcond=None, hermitian=False, *, rtol=_NO_VALUE):
    _matrix_shape(a, _PINV)
    if hermitian:  # NumPy's eigh reads the lower triangle: that matrix, recorded (its derivative follows)
        _square_shape(a, _PINV)
        a = _what_numpy_reads(a, lower=True)
    for name, value in (("rcond", rcond), ("rtol", rtol)):
        if isinstance(value, Node):
            raise TypeError(f"kronvec cannot differentiate {_PINV} with respect to {name}: pass a constant")
    if rcond is not None and rtol is not _NO_VALUE:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    batch = tuple(shape_of(a))[:-2]
    return bind(pinv, a, rcond=None if rcond is None else _one_cutoff(rcond, "rcond", batch),
                rtol=rtol if rtol is _NO_VALUE or rtol is None else _one_cutoff(rtol, "rtol", batch),
                hermitian=bool(hermitian))


def _one_cutoff(value, name, batch):
    """pinv's rcond/rtol as one number.  NumPy also takes an array of them, one per member of a
    stack; an array whose entries are all equal is that number (the same cutoffs), other arrays
    are refused by name (float() of one said only 'only 0-dimensional arrays can be converted')."""
    cutoffs = np.asarray(value, dtype=float)
    np.broadcast_shapes(cutoffs.shape, batch)  # (NumPy's error where they do not broadcast)
    if cutoffs.size and np.all(cutoffs == cutoffs.flat[0]):
        return float(cutoffs.flat[0])
    raise TypeError(f"kronvec differentiates {_PINV} with one {name} for every member: got an array of "
                    f"{name} of shape {cutoffs.shape}; pass one number, or call pinv on each member")


def _lstsq_result(A, B, rcond):
    """``np.linalg.lstsq(A, B, rcond)``, once per call for this A and a B equal to this one
    (a constant B is copied each time it is recorded, so it is compared by value)."""
    scope = _current_scope.get()
    if scope is None:
        return np.linalg.lstsq(A, B, rcond=rcond)
    entries = scope.factorizations.setdefault(("lstsq", id(A), rcond), (A, []))
    if entries[0] is not A:
        entries = scope.factorizations[("lstsq", id(A), rcond)] = (A, [])
    for b, result in entries[1]:
        if b is B or (b.shape == B.shape and np.array_equal(b, B)):
            return result
    result = np.linalg.lstsq(A, B, rcond=rcond)
    entries[1].append((B, result))
    scope.factorizations[("lstsq singular values", id(A))] = ((A,), result[3])
    return result


def _lstsq_singular_values(A):
    """The singular values np.linalg.lstsq reports for A (they do not depend on b)."""
    def compute():
        return np.linalg.lstsq(A, np.zeros((A.shape[0], 1), dtype=A.dtype))[3]

    return _remembered("lstsq singular values", (A,), compute)


def _lstsq_shapes(A, B):
    m, n = _matrix_shape(A, _LSTSQ, stacks=False)
    if len(shape_of(B)) not in (1, 2) or shape_of(B)[0] != m:
        raise np.linalg.LinAlgError(f"{_LSTSQ}: Incompatible dimensions: a of shape {(m, n)}, b of shape "
                                    f"{tuple(shape_of(B))}")
    return m, n


def _lstsq_impl(A, B, rcond=None):
    _lstsq_shapes(A, B)
    return _lstsq_result(_as_float(A), _as_float(B), rcond)[0]


def _lstsq_cutoff_ratio(A, rcond):
    """The rcond NumPy's lstsq passes LAPACK gelsd, which treats singular values
    σᵢ ≤ rcond·σ₁ as zero: eps·max(m, n) for None, eps for a negative one."""
    eps = float(np.finfo(A.dtype if A.dtype.kind == "f" else np.float64).eps)
    if rcond is None:
        return eps * max(A.shape[-2:])
    return eps if rcond < 0 else float(rcond)


def _require_full_rank_lstsq(A, rcond=None):
    # (rcond: a singular value that NumPy's lstsq discards changes its solution, which the
    # full-rank rule below does not see — the derivative there was that of another x)
    A = _as_float(plain_value(A))
    s = _remembered("singular values", (A,), lambda: np.linalg.svd(A, compute_uv=False))
    tolerance = _tolerance(s, max(A.shape))
    if s.size and s[-1] <= tolerance:
        raise np.linalg.LinAlgError(
            f"{_LSTSQ}: the {A.shape[0]}×{A.shape[1]} matrix is rank-deficient (σ_min = {s[-1]:.3g} ≤ "
            f"{tolerance:.3g}): the least-squares solution is not differentiable in a there")
    cutoff = _lstsq_cutoff_ratio(A, rcond) * float(s[0]) if s.size else 0.0
    if s.size and s[-1] <= cutoff:
        raise np.linalg.LinAlgError(
            f"{_LSTSQ}: rcond discards singular values of the {A.shape[0]}×{A.shape[1]} matrix (σ_min = "
            f"{s[-1]:.3g} ≤ rcond·σ_max = {cutoff:.3g}; rank {int(np.count_nonzero(s > cutoff))} < "
            f"{min(A.shape)}): the truncated least-squares solution is not differentiable in a there")


def _columns(x):
    """A 1-D vector as the one-column matrix it stands for (traced or plain)."""
    return np.reshape(x, (-1, 1)) if len(shape_of(x)) == 1 else x


def _pinv_of(A, rcond=None):
    """A⁺ as lstsq(A, ·, rcond) applies it: the singular values it discards, discarded."""
    return bind(pinv, A, rcond=_lstsq_cutoff_ratio(static_value(A), rcond), rtol=_NO_VALUE)


def _lstsq_vjp_a(g, x, A, B, rcond=None):
    # x = A⁺b: dx = −A⁺ dA x + A⁺A⁺ᵀ dAᵀ r + (I − A⁺A) dAᵀ A⁺ᵀ x, r = b − Ax ⇒
    # Ā = −A⁺ᵀ x̄ xᵀ + r x̄ᵀ A⁺A⁺ᵀ + A⁺ᵀx x̄ᵀ(I − A⁺A)
    _require_full_rank_lstsq(A, rcond)
    m, n = shape_of(A)
    P = _pinv_of(A, rcond)
    X, G = _columns(x), _columns(g)
    Pt = np.transpose(P)
    z = Pt @ G
    result = -(z @ np.transpose(X))
    if m > n:
        R = _columns(B) - A @ X
        result = result + R @ np.transpose(P @ z)
    elif m < n:
        w = np.transpose(G) - (np.transpose(G) @ P) @ A
        result = result + (Pt @ X) @ w
    return result


def _lstsq_vjp_b(g, x, A, B, rcond=None):
    # dx = A⁺ db ⇒ b̄ = A⁺ᵀ x̄ (A⁺ truncated as lstsq truncates it: x is linear in b, whatever the rank)
    return np.transpose(_pinv_of(A, rcond)) @ g


def _lstsq_jacobian_a(x, A, B, names, rcond=None):
    _require_full_rank_lstsq(A, rcond)
    A = _as_float(A)
    m, n = A.shape
    P = np.linalg.pinv(A, rcond=_lstsq_cutoff_ratio(A, rcond))
    X = np.asarray(x).reshape(n, -1)
    J = linear_map(Dense(P), Dense(X), A.shape, scale=-1.0)
    if m > n:
        R = np.asarray(B).reshape(m, -1) - A @ X
        J = algebra.add(J, linear_map(Dense(P @ P.T), Dense(R), A.shape, transposed=True))
    elif m < n:
        J = algebra.add(J, linear_map(Dense(np.eye(n) - P @ A), Dense(P.T @ X), A.shape, transposed=True))
    return J


def _lstsq_jacobian_b(x, A, B, names, rcond=None):
    A = _as_float(A)
    return linear_map(Dense(np.linalg.pinv(A, rcond=_lstsq_cutoff_ratio(A, rcond))), None,
                      _columns(np.asarray(B)).shape)


def _lstsq_samples(rng, n):
    return rng.standard_normal((n + 2, n)) + np.eye(n + 2, n), rng.standard_normal((n + 2, 2))


lstsq = register(Primitive(
    _lstsq_impl, name="linalg.lstsq",
    vjps={0: _lstsq_vjp_a, 1: _lstsq_vjp_b},
    jacobians={0: _lstsq_jacobian_a, 1: _lstsq_jacobian_b},
    label=lambda a, b, rcond=None: derived_label("lstsq({}, {})", a, b),
    formula="D_A x = −(xᵀ ⊗ A⁺) + (rᵀ ⊗ A⁺A⁺ᵀ)K (m > n) + (xᵀA⁺ ⊗ (I − A⁺A))K (m < n), D_b x = I ⊗ A⁺",
    reference="Golub & Pereyra (1973), x = A⁺b",
    samples=_lstsq_samples, param_names=("A", "b"),
    edge_cases={"vector b": lambda rng: (rng.standard_normal((4, 2)) + np.eye(4, 2), rng.standard_normal(4)),
                "square": lambda rng: (_samples.well_conditioned(rng, 3), rng.standard_normal((3, 1))),
                "wide (minimum norm)": lambda rng: (rng.standard_normal((2, 3)) + np.eye(2, 3),
                                                    rng.standard_normal(2))},
    signature="(m,n),(m,q)->(n,q)",
))


def _residuals_impl(A, B, rcond=None):
    _lstsq_shapes(A, B)
    return _lstsq_result(_as_float(A), _as_float(B), rcond)[1]


def _residual_factors(A, B, rcond):
    """(R, X, ρ̄ shape) for ρⱼ = ‖bⱼ − A xⱼ‖²: the residual and solution as columns."""
    x = bind(lstsq, A, B, rcond=rcond) if isinstance(A, Node) or isinstance(B, Node) else \
        _lstsq_result(_as_float(A), _as_float(B), rcond)[0]
    X = _columns(x)
    return _columns(B) - A @ X, X


def _residuals_vjp_a(g, rho, A, B, rcond=None):
    # dρⱼ = 2 rⱼᵀ(dbⱼ − dA xⱼ − A dxⱼ) and Aᵀrⱼ = 0 ⇒ Ā = −2 (R diag ρ̄) Xᵀ
    R, X = _residual_factors(A, B, rcond)
    return -2.0 * (R * g) @ np.transpose(X)


def _residuals_vjp_b(g, rho, A, B, rcond=None):
    R, _ = _residual_factors(A, B, rcond)
    result = 2.0 * (R * g)
    return np.reshape(result, (-1,)) if len(shape_of(B)) == 1 else result


def _residuals_jacobian(rho, A, B, names, position, rcond=None):
    A = _as_float(A)
    Bc = np.asarray(B).reshape(A.shape[0], -1)
    X = _lstsq_result(A, _as_float(B), rcond)[0].reshape(A.shape[1], -1)
    R = Bc - A @ X
    k = R.shape[1]
    diagonal = Selection(np.arange(k) * (k + 1), k * k)  # vec M ↦ diag M
    if position == 0:  # dρ = −2 diag(Rᵀ dA X)
        return algebra.scale(algebra.multiply(diagonal, Kron(Dense(X.T), Dense(R.T))), -2.0)
    return algebra.scale(algebra.multiply(diagonal, Kron(Identity(k), Dense(R.T))), 2.0)  # 2 diag(Rᵀ dB)


lstsq_residuals = register(Primitive(
    _residuals_impl, name="linalg.lstsq_residuals",
    vjps={0: _residuals_vjp_a, 1: _residuals_vjp_b},
    jacobians={0: lambda rho, A, B, names, rcond=None: _residuals_jacobian(rho, A, B, names, 0, rcond),
               1: lambda rho, A, B, names, rcond=None: _residuals_jacobian(rho, A, B, names, 1, rcond)},
    label=lambda a, b, rcond=None: None,
    formula="D_A ρ = −2 S_diag·(Xᵀ ⊗ Rᵀ), D_b ρ = 2 S_diag·(I ⊗ Rᵀ): dρⱼ = 2 rⱼᵀ(dbⱼ − dA xⱼ) (Aᵀr = 0)",
    reference="normal equations Aᵀr = 0; Golub & Pereyra (1973)",
    samples=_lstsq_samples, param_names=("A", "b"),
    edge_cases={"vector b": lambda rng: (rng.standard_normal((4, 2)) + np.eye(4, 2), rng.standard_normal(4))},
    signature="(m,n),(m,q)->(q)",
))


@numpy_function(np.linalg.lstsq)
def _linalg_lstsq(a, b, rcond=None):
    if isinstance(rcond, Node):
        raise TypeError(f"kronvec cannot differentiate {_LSTSQ} with respect to rcond: pass a constant")
    m, n = _lstsq_shapes(a, b)
    rcond = None if rcond is None else float(rcond)
    x = bind(lstsq, a, b, rcond=rcond)
    A, B = _as_float(plain_value(a)), _as_float(plain_value(b))
    if isinstance(x, Node) and not isinstance(x._args[0], Node) and not isinstance(x._args[1], Node):
        A, B = x._args  # the arrays the recording solved with: their result is remembered
    _, residuals, rank, s = _lstsq_result(A, B, rcond)
    if residuals.size:
        residuals = bind(lstsq_residuals, a, b, rcond=rcond)
    if isinstance(a, Node):
        s = bind(singular_values, a, source="lstsq")
    return x, residuals, rank, s


# ============================================= matrix_power, cond, matrix_rank
@numpy_function(np.linalg.matrix_power)
def _matrix_power(a, n):
    size = _square_shape(a, "np.linalg.matrix_power")
    try:
        n = operator.index(n)
    except TypeError as e:
        raise TypeError("exponent must be an integer") from e
    # NumPy's own sequence of products (so the value is NumPy's), recorded
    if n == 0:  # a constant: derivative 0
        if _is_stack(a):
            return np.broadcast_to(_eye_like(size, a), tuple(shape_of(a))).copy()
        return _eye_like(size, a)
    if n < 0:
        a, n = np.linalg.inv(a), abs(n)
    if n == 1:
        return a
    if n == 2:
        return a @ a
    if n == 3:
        return (a @ a) @ a
    z = result = None
    while n > 0:
        z = a if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


_COND = "np.linalg.cond"


@numpy_function(np.linalg.cond)
def _cond(x, p=None):
    shape = _matrix_shape(x, _COND)
    if 0 in shape:
        raise np.linalg.LinAlgError("cond is not defined on empty arrays")
    if p is None or (not isinstance(p, str) and p in (2, -2)):
        s = bind(singular_values, x, source="values")
        plain = np.asarray(plain_value(s))
        if plain.ndim > 1:
            return _cond_of_stack(s, plain, p, tuple(shape_of(x)))
        if p != -2 and plain[-1] <= _singular_tolerance(plain, shape):  # (for −2: σ_min/σ_max = 0, the kink of σ)
            raise np.linalg.LinAlgError(
                f"{_COND}: the {shape[0]}×{shape[1]} matrix is singular to working precision (σ_min = "
                f"{plain[-1]:.3g} ≤ {_singular_tolerance(plain, shape):.3g}): its condition number is infinite "
                "(or all rounding) and has no derivative")
        top = extreme_singular_value(s, 0, shape, f"{_COND}(X, {p})")
        bottom = extreme_singular_value(s, -1, shape, f"{_COND}(X, {p})")
        return bottom / top if p == -2 else top / bottom
    _square_shape(x, _COND)
    inverse = np.linalg.inv(x)
    return np.linalg.norm(x, p, axis=(-2, -1)) * np.linalg.norm(inverse, p, axis=(-2, -1))


def _cond_of_stack(s, plain, p, shape):
    """κ₂ (or 1/κ₂ for p = −2) of every member: σ_max/σ_min from one batched SVD."""
    if p != -2:
        singular = plain[..., -1] <= stacked.member_tolerance(plain, max(shape[-2:]))[..., 0]
        if singular.any():
            raise np.linalg.LinAlgError(
                f"{_COND}: {stacked.member_count(singular)} of the stack of shape {shape} "
                f"{'is' if np.count_nonzero(singular) == 1 else 'are'} singular to working precision, at batch "
                f"index {stacked.member_list(singular)}: the condition number is infinite (or all rounding) and "
                "has no derivative")
    top = extreme_singular_value(s, 0, shape, f"{_COND}(X, {p})")
    bottom = extreme_singular_value(s, -1, shape, f"{_COND}(X, {p})")
    return bottom / top if p == -2 else top / bottom


@numpy_function(np.linalg.matrix_rank)
def _matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    # piecewise constant: a plain value, derivative 0 wherever it exists
    return np.linalg.matrix_rank(plain_value(A), tol=None if tol is None else plain_value(tol),
                                 hermitian=hermitian, rtol=None if rtol is None else plain_value(rtol))


# ======================================================== a stack of one member
def _one_member(arrays):
    """The arrays without the leading batch axes of a stack of exactly one member
    (first array: the input stack), or None.  Only plain arrays: traced values
    (second order) go through the batched rules."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.ndim <= 2 or first.size == 0:
        return None
    batch = first.ndim - 2
    if math.prod(first.shape[:batch]) != 1:
        return None
    if not all(type(a) is np.ndarray and a.ndim >= batch for a in arrays):
        return None
    return [a.reshape(a.shape[batch:]) for a in arrays]


def _as_one_member(op):
    """Route a stack of one member through the 2-D rule, so that its value, VJP and
    Jacobian equal the unbatched ones bit for bit (the batched rules use other, equally
    accurate, algorithms: batched triangular inverses, per-member tolerances).  A
    Jacobian of a (1, …) stack and of its member are the same matrix: vec is the same."""
    impl, vjp, jacobian = op.impl, op.vjps.of(0), op.jacobians.of(0)

    def impl_one(*args, **params):
        one = _one_member(args)
        if one is None:
            return impl(*args, **params)
        result = impl(*one, **params)
        return result.reshape(np.shape(args[0])[:-2] + result.shape)

    def vjp_one(g, ans, *args, **params):
        one = _one_member((*args, ans, g))
        if one is None:
            return vjp(g, ans, *args, **params)
        *plain_args, plain_ans, plain_g = one
        return vjp(plain_g, plain_ans, *plain_args, **params).reshape(np.shape(args[0]))

    def jacobian_one(ans, *args, names, **params):
        one = _one_member((*args, ans))
        if one is None:
            return jacobian(ans, *args, names=names, **params)
        *plain_args, plain_ans = one
        return jacobian(plain_ans, *plain_args, names=names, **params)

    op.impl = impl_one
    op.vjps[0] = vjp_one
    op.jacobians[0] = jacobian_one


for _op in (cholesky, eigvalsh, eigh_vectors, singular_values, left_singular_vectors, right_singular_vectors,
            qr_q, qr_r, pinv):
    _as_one_member(_op)
del _op
