"""The singular value decomposition X = UΣVᵀ: ``np.linalg.svd``, ``svdvals`` and
the singular values behind the norms, ``cond`` and ``lstsq``.

    dσ = diag(Uᵀ dX V);  dU, dV as Townsend (2016)

Singular vectors at a repeated singular value have no derivative and raise
``LinAlgError`` naming the gap; tied singular values share their derivative
evenly.  ``full_matrices=True`` (NumPy's default) of a rectangular X completes U
(tall) or V (wide) with a basis of a null space: one extra vector is unique up to
its sign and differentiated, two or more are not unique and a function of them
raises ``LinAlgError`` (``notes/derivatives.md`` §23, the extra vectors).

``np.linalg.svd(a, hermitian=True)`` is recorded as NumPy computes it — eigh,
|λ| sorted descending, the signs moved into V — so its values are NumPy's;
its singular vectors also have no derivative at λ and −λ or at λ = 0
(``notes/derivatives.md`` §33.1).  Derivations: ``notes/derivatives.md`` §23 and §24.5 (stacks).

The parameter ``library`` of the three primitives names whose LAPACK computes the
decomposition: ``"numpy"`` (``np.linalg.svd``) or ``"scipy"`` (``scipy.linalg.svd``,
for ``kronvec.scipy.linalg.svd``).  Both call gesdd, but two builds of it may
return opposite signs for some singular vectors (float32 on this machine: from one
matrix in forty to one in ten, by shape), and the derivatives must be those of the
vectors returned.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.linalg

from ..._config import condition_threshold
from ..._tracer import Node, compile_guard
from ..._vec import vec
from ...operators import BatchedDense, BatchedKron, Commutation, Dense, Diag, Identity, Kron, Selection, algebra
from .. import _samples
from .. import _stack_factors as stacked
from .._registry import Primitive, numpy_function, register
from .._support import bind, decided, index_map_jacobian, plain_value, positions, shape_of, static_value
from .._matrix_support import (_as_float, _as_one_member, _mT, _matrix_shape, _members, _remembered, _square_shape,
                               _tolerance, _unused_cotangent, _warn_if_ill_conditioned)
from .eigh import _averaged, _eigen_gap_factors, _eigh, _eigvalsh, _tie_averaging, _tie_averaging_or_identity

__all__ = ["singular_values", "left_singular_vectors", "right_singular_vectors", "scipy_svd", "extreme_singular_value",
           "signed_spectrum_guard", "signed_order_gather", "signed_order_scatter"]

try:  # NumPy's result types (NumPy ≥ 2.0); a plain tuple elsewhere
    from numpy.linalg._linalg import SVDResult
except ImportError:  # pragma: no cover
    SVDResult = tuple


_SVD = "np.linalg.svd"
_SOURCES = ("values", "thin", "full", "lstsq")


_LIBRARIES = ("numpy", "scipy")


def _svd_factors(X, full_matrices=False, library="numpy"):
    """``np.linalg.svd(X, full_matrices)`` as NumPy returns it, (U, s, Vh), once per call
    (``scipy.linalg.svd``'s, as SciPy returns it, for `library` "scipy")."""
    if library == "numpy":
        return _remembered("svd", (X,), lambda: np.linalg.svd(X, full_matrices=full_matrices), bool(full_matrices))
    if library != "scipy":
        raise ValueError(f"singular value decomposition: library must be one of {_LIBRARIES}, got {library!r}")
    return _remembered("scipy.linalg.svd", (X,), lambda: tuple(scipy.linalg.svd(
        X, full_matrices=full_matrices, check_finite=False)), bool(full_matrices))


def _svd(X, full_matrices=False, library="numpy"):
    """(U, s, V) with V = Vhᵀ: NumPy's own singular vectors and signs (SciPy's for `library`
    "scipy"; LAPACK gesdd's either way), the
    k = min(m, n) pairs of the singular values — of the full decomposition too, whose
    extra vectors (a rectangular X's) are :func:`_extra_vectors`'."""
    U, s, Vh = _svd_factors(_matrix_2d(X, "the singular value decomposition"), full_matrices, library)
    k = s.shape[-1]
    if U.shape[-1] > k:
        U = U[..., :k]
    if Vh.shape[-2] > k:
        Vh = Vh[..., :k, :]
    return U, s, _mT(Vh)


def _extra_vectors(X, left, library="numpy"):
    """The extra singular vectors of the full decomposition of a rectangular X (tall:
    the last m − n columns of U, `left`; wide: the last n − m columns of V): an
    orthonormal basis of the null space of Xᵀ (of X), which LAPACK picks."""
    U, s, Vh = _svd_factors(_matrix_2d(X, "the singular value decomposition"), True, library)
    k = s.shape[-1]
    return U[..., k:] if left else _mT(Vh[..., k:, :])


def _full_vectors(X, left, library="numpy"):
    """NumPy's U (`left`) or V = Vhᵀ of the full decomposition, as np.linalg.svd returns it."""
    U, _, Vh = _svd_factors(_matrix_2d(X, "the singular value decomposition"), True, library)
    return U if left else _mT(Vh)


def _matrix_2d(X, what):
    """X as a float matrix or stack of matrices (…, m, n); non-finite members of a stack named."""
    X = _as_float(X)
    if X.ndim < 2:
        raise ValueError(f"{what}: needs a matrix or a stack of matrices, got shape {X.shape}")
    if X.ndim > 2:
        stacked.require_finite_members(X, what)
    return X


def _singular_values_impl(X, source="values", library="numpy"):
    X = _matrix_2d(X, "the singular values")
    if source == "values":  # np.linalg.svd(X, compute_uv=False) and np.linalg.svdvals(X); SciPy's
        if library == "scipy":
            return scipy.linalg.svd(X, compute_uv=False, check_finite=False)
        return np.linalg.svd(X, compute_uv=False)
    if source == "lstsq":  # as np.linalg.lstsq reports them (LAPACK gelsd: other bits)
        return _lstsq_singular_values(X)
    if source not in _SOURCES:
        raise ValueError(f"singular_values: source must be one of {_SOURCES}, got {source!r}")
    return _svd_factors(X, source == "full", library)[1]


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


def _factors(X, full_matrices=False, library="numpy"):
    """(U, s, V) of X, the k = min(m, n) pairs (see :func:`_svd`): plain for a plain X,
    recorded for a traced one (the same decomposition)."""
    if not isinstance(X, Node):
        return _svd(X, full_matrices, library)
    # (the leading vectors of a rectangular X's full decomposition: recorded as such, not as the
    # full U or V sliced, whose extra vectors may have no derivative, which a Hessian would need)
    leading = bool(full_matrices) and len(set(shape_of(X)[-2:])) == 2
    return _recorded_factors(X, bool(full_matrices), library, leading)


def _recorded_factors(X, full_matrices, library="numpy", leading=False):
    """The three primitives recorded on a traced X: (U, s, V), the full U and V unless `leading`.
    (`library` is a parameter only when it is not NumPy's, the common case's recording unchanged.)"""
    params = {"full_matrices": full_matrices}
    if leading:
        params["leading"] = True
    values = {"source": "full" if full_matrices else "thin"}
    if library != "numpy":
        params["library"] = values["library"] = library
    return (bind(left_singular_vectors, X, **params), bind(singular_values, X, **values),
            bind(right_singular_vectors, X, **params))


def _singular_tie_averaging_or_identity(s):
    """:func:`_tie_averaging_or_identity` for singular values (descending: −σ ascends)."""
    return _tie_averaging_or_identity(-np.asarray(s))


def _singular_values_vjp(g, ans, X, source="values", library="numpy"):
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
    U, _, V = _factors(X, source == "full", library)
    return (U * np.expand_dims(g * _nonzero_singular(ans, shape_of(X)), -2)) @ _mT(V)


def _singular_values_jacobian(ans, X, names, source="values", library="numpy"):
    # vec(Uᵀ dX V) = (Vᵀ ⊗ Uᵀ) vec dX, and dσ is its diagonal (tied σ: averaged by M, as the VJP)
    U, s, V = _svd(X, source == "full", library)
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


def _vectors_vjp(left):
    """The pullback of U (`left`) or V: of the k leading vectors, and of a full
    decomposition's extra ones after them (a tall X's U, a wide X's V)."""
    leading_vjp = _leading_left_vectors_vjp if left else _leading_right_vectors_vjp

    def vjp(g, vectors, X, full_matrices=False, leading=False, library="numpy"):
        # (`leading`: only the k leading vectors were recorded, which their shape says too)
        k = min(shape_of(X)[-2:])
        if shape_of(vectors)[-1] == k:
            return leading_vjp(g, vectors, X, full_matrices, library)
        # the leading vectors as _factors records them (not sliced from these, whose extra ones
        # may have no derivative, which a Hessian would need)
        factors = _factors(X, True, library)
        extra = _extra_vectors_vjp(g[..., k:], vectors, factors, X, left=left, library=library)
        if extra is not None and _unused_cotangent(g[..., :k]):
            return extra  # (the leading vectors' pullback would check their gaps: W's derivative needs none)
        through_leading = leading_vjp(g[..., :k], factors[0 if left else 2], X, full_matrices, library)
        return through_leading if extra is None else through_leading + extra

    return vjp


def _extra_vectors_vjp(g, full, factors, X, left, library="numpy"):
    """The pullback of the extra singular vectors W, the last columns of `full` (the full U
    or V), with cotangent g (None: no contribution); `factors`, the leading (U, s, V).

    One extra vector is unique up to its sign, and orthogonality fixes its
    derivative: dW = −U dUᵀ W, i.e. dW = −U S⁻¹ Vᵀ dXᵀ W (tall X, W = U⊥) and
    dW = −V S⁻¹ Uᵀ dX W (wide X, W = V⊥) (notes/derivatives.md §23, the extra vectors) ⇒
    X̄ = −W Ḡᵀ U S⁻¹ Vᵀ, resp. −U S⁻¹ Vᵀ Ḡ Wᵀ.  Two or more are an arbitrary basis of
    their space, with no derivative: their cotangent must be 0 (a function of U's or V's
    leading columns only), else LinAlgError."""
    shape = tuple(shape_of(X))
    count = shape_of(g)[-1]
    if count > 1:
        decided(functools.partial(_extra_vectors_unused, shape=shape, left=left, library=library), g)
        return None
    U, s, V = factors
    W = full[..., shape_of(s)[-1]:]
    inverse = np.expand_dims(_inverse_singular(s, shape), -2)
    if left:
        return -((W @ _mT(g) @ U) * inverse) @ _mT(V)
    return -((U * inverse) @ (_mT(V) @ g)) @ _mT(W)


def _extra_vectors_unused(g, shape, left, library="numpy"):
    """LinAlgError unless the cotangent g of two or more extra singular vectors is 0
    (a rule for ``decided``)."""
    if np.any(np.asarray(g)):
        raise np.linalg.LinAlgError(_extra_vectors_message(shape, left, "a function of them", library))
    return np.zeros(())


def _extra_vectors_message(shape, left, what, library="numpy"):
    m, n = shape[-2:]
    count, factor = abs(m - n), "U" if left else "Vᵀ"
    function = "scipy.linalg.svd" if library == "scipy" else _SVD  # (the function the user called)
    return (f"{function} with full_matrices=True of a {m}×{n} matrix: its {count} extra singular vectors "
            f"(the last {count} {'columns of U' if left else 'rows of Vᵀ'}) are an arbitrary basis of the "
            f"null space of {'Xᵀ' if left else 'X'}, not unique, so {what} has no derivative; pass "
            f"full_matrices=False to differentiate {factor}'s {min(m, n)} leading vectors")


def _leading_left_vectors_vjp(g, U, X, full_matrices=False, library="numpy"):
    # dU = U(F ∘ (dP S + S dPᵀ)) + (I − UUᵀ) dX V S⁻¹, dP = Uᵀ dX V ⇒
    # X̄ = U [F ∘ (UᵀŪ − ŪᵀU)] S Vᵀ + (I − UUᵀ) Ū S⁻¹ Vᵀ
    shape = tuple(shape_of(X))
    _, s, V = _factors(X, full_matrices, library)
    inner = _mT(U) @ g
    F, scaled, c = _gap_factors(s, shape)
    core = (F * (inner - _mT(inner))) * (np.expand_dims(scaled, -2) / np.expand_dims(c, -1))
    result = U @ core @ _mT(V)
    if shape[-2] > shape_of(s)[-1]:
        result = result + ((g - U @ inner) * np.expand_dims(_inverse_singular(s, shape), -2)) @ _mT(V)
    return result


def _leading_right_vectors_vjp(g, V, X, full_matrices=False, library="numpy"):
    # dV = V(F ∘ (S dP + dPᵀ S)) + (I − VVᵀ) dXᵀ U S⁻¹ ⇒
    # X̄ = U S [F ∘ (VᵀV̄ − V̄ᵀV)] Vᵀ + U S⁻¹ V̄ᵀ (I − VVᵀ)
    shape = tuple(shape_of(X))
    U, s, _ = _factors(X, full_matrices, library)
    inner = _mT(V) @ g
    F, scaled, c = _gap_factors(s, shape)
    core = (np.expand_dims(scaled, -1) / np.expand_dims(c, -1)) * (F * (inner - _mT(inner)))
    result = U @ core @ _mT(V)
    if shape[-1] > shape_of(s)[-1]:
        result = result + U @ _mT((g - V @ inner) * np.expand_dims(_inverse_singular(s, shape), -2))
    return result


def _vectors_jacobian(X, left, full_matrices=False, leading_only=False, library="numpy"):
    """The Jacobian of U (`left`) or V, and of the full decomposition's extra vectors
    after them unless `leading_only` (one: see :func:`_extra_vectors_vjp`; more: LinAlgError)."""
    leading = _leading_vectors_jacobian(X, left, full_matrices, library)
    shape = np.shape(X)
    k, size = min(shape[-2:]), shape[-2] if left else shape[-1]
    if not full_matrices or leading_only or size == k:
        return leading
    if size - k > 1:
        # (forward mode carries the whole matrix: a Jacobian, JVP or Hessian through any of it)
        raise np.linalg.LinAlgError(_extra_vectors_message(
            shape, left, f"a Jacobian, JVP or Hessian through {'U' if left else 'Vᵀ'}, which carries them,", library))
    U, s, V = _svd(X, True, library)
    W = _extra_vectors(X, left, library)
    inverse = _inverse_singular(s, shape)
    # vec dW = −(Wᵀ ⊗ U S⁻¹ Vᵀ) K_{m,n} vec dX (tall), −(Wᵀ ⊗ V S⁻¹ Uᵀ) vec dX (wide)
    own, other = (U, V) if left else (V, U)
    scaled = np.matmul(own * np.expand_dims(inverse, -2), _mT(other))
    if s.ndim > 1:
        K = math.prod(shape[:-2])
        extra = BatchedKron(_members(_mT(W)), _members(scaled), name="blockdiag(Wₖᵀ ⊗ Mₖ)")
        if left:
            extra = algebra.multiply(extra, stacked.member_transpose(K, *shape[-2:], s.dtype))
    else:
        extra = Kron(Dense(W.T), Dense(scaled))
        if left:
            extra = algebra.multiply(extra, Commutation(*shape))
    full_shape = shape[:-2] + (size, size)
    grid = positions(full_shape)
    return algebra.add(algebra.multiply(index_map_jacobian(full_shape, grid[..., :k]).T, leading),
                       algebra.multiply(index_map_jacobian(full_shape, grid[..., k:]).T, algebra.scale(extra, -1.0)))


def _leading_vectors_jacobian(X, left, full_matrices=False, library="numpy"):
    """The Jacobian of U's (`left`) or V's k leading vectors: with vec dP = (Vᵀ ⊗ Uᵀ) vec dX,
    vec dU = (I ⊗ U) Diag(vec F) [(S ⊗ I) + (I ⊗ S) K] vec dP + (S⁻¹Vᵀ ⊗ (I − UUᵀ)) vec dX,
    vec dV = (I ⊗ V) Diag(vec F) [(I ⊗ S) + (S ⊗ I) K] vec dP + (S⁻¹Uᵀ ⊗ (I − VVᵀ)) K_{m,n} vec dX."""
    U, s, V = _svd(X, full_matrices, library)
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
        _samples.stack_of(lambda r: _separated_singular_values(r, (3, 2), [2.0, 1.0]), rng, (2,)),),
    "a (2, 1, 2, 3) stack (wide members)": lambda rng: (
        _samples.stack_of(lambda r: _separated_singular_values(r, (2, 3), [2.0, 1.0]), rng, (2, 1)),),
}


def _full_svd_sample(shape, **params):
    def sample(rng):
        if len(shape) == 2:
            X = _separated_singular_values(rng, shape, np.linspace(2.0, 1.0, min(shape)))
        else:
            X = _samples.stack_of(lambda r: _separated_singular_values(r, shape[1:], [2.0, 1.0]), rng, shape[:1])
        return _samples.Sample((X,), {"full_matrices": True, **params})

    return sample


#: full_matrices=True: square, then rectangular with one extra vector (U's for a tall X, V's for
#: a wide one; the other factor square), and the leading vectors alone (as the rules record them)
_FULL_SVD_EDGES = {
    "full_matrices=True (square)": _full_svd_sample((3, 3)),
    "full_matrices=True (tall, one extra vector)": _full_svd_sample((3, 2)),
    "full_matrices=True (wide, one extra vector)": _full_svd_sample((2, 3)),
    "full_matrices=True (a (2, 3, 2) stack)": _full_svd_sample((2, 3, 2)),
    "full_matrices=True (a (2, 2, 3) stack)": _full_svd_sample((2, 2, 3)),
    "the leading vectors of a full decomposition (tall, two extra)": _full_svd_sample((4, 2), leading=True),
    "the leading vectors of a full decomposition (wide, two extra)": _full_svd_sample((2, 4), leading=True),
    "SciPy's full decomposition (tall, one extra vector)": _full_svd_sample((3, 2), library="scipy"),
    "SciPy's full decomposition (a (2, 2, 3) stack)": _full_svd_sample((2, 2, 3), library="scipy"),
}


singular_values = register(Primitive(
    _singular_values_impl, name="singular_values",
    vjps={0: _singular_values_vjp},
    jacobians={0: _singular_values_jacobian},
    label=lambda a, source="values", library="numpy": None if a is None else f"σ({a})",
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
                    (_separated_singular_values(rng, (4, 3), [3.0, 2.0, 1.0]),), {"source": "lstsq"}),
                "SciPy's (kronvec.scipy.linalg.svdvals)": lambda rng: _samples.Sample(
                    _svd_samples(rng, 2), {"source": "values", "library": "scipy"}),
                "from SciPy's decomposition with vectors": lambda rng: _samples.Sample(
                    _svd_samples(rng, 3), {"source": "thin", "library": "scipy"})},
))


def _singular_vectors(name, left, vjp, formula):
    return register(Primitive(
        lambda X, full_matrices=False, leading=False, library="numpy": (
            _full_vectors(X, left, library) if full_matrices and not leading
            else _svd(X, full_matrices, library)[0 if left else 2]),
        name=name,
        vjps={0: vjp},
        jacobians={0: lambda ans, X, names, full_matrices=False, leading=False, library="numpy": _vectors_jacobian(
            np.asarray(X), left=left, full_matrices=full_matrices, leading_only=leading, library=library)},
        label=lambda a, full_matrices=False, leading=False, library="numpy": None,
        formula=formula + ", dP = Uᵀ dX V, Fᵢⱼ = 1/(σⱼ² − σᵢ²)",
        reference="Townsend, 'Differentiating the singular value decomposition' (2016); JAX svd_jvp_rule",
        samples=_svd_samples, param_names=("X",),
        edge_cases={**_SVD_EDGES, **_FULL_SVD_EDGES},
    ))


left_singular_vectors = _singular_vectors("left_singular_vectors", True, _vectors_vjp(left=True),
                                          "dU = U(F ∘ (dP S + S dPᵀ)) + (I − UUᵀ) dX V S⁻¹")
right_singular_vectors = _singular_vectors("right_singular_vectors", False, _vectors_vjp(left=False),
                                           "dV = V(F ∘ (S dP + dPᵀ S)) + (I − VVᵀ) dXᵀ U S⁻¹")


@numpy_function(np.linalg.svd)
def _linalg_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if hermitian:  # NumPy ignores full_matrices there: U and Vᵀ are square
        return _hermitian_svd(a, compute_uv)
    m, n = _matrix_shape(a, _SVD)
    if not compute_uv:
        return bind(singular_values, a, source="values")
    U, s, V = _recorded_factors(a, bool(full_matrices))
    return SVDResult(U, s, _mT(V))


def scipy_svd(a, full_matrices):
    """``scipy.linalg.svd(a, full_matrices)``'s (U, s, Vh) as SciPy's LAPACK returns them
    (kronvec.scipy.linalg.svd), recorded on a traced `a`."""
    U, s, V = _recorded_factors(a, bool(full_matrices), "scipy")
    return U, s, _mT(V)


if hasattr(np.linalg, "svdvals"):
    @numpy_function(np.linalg.svdvals)
    def _linalg_svdvals(x, /):
        _matrix_shape(x, "np.linalg.svdvals")
        return bind(singular_values, x, source="values")


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


def _lstsq_singular_values(A):
    """The singular values np.linalg.lstsq reports for A (they do not depend on b)."""
    def compute():
        return np.linalg.lstsq(A, np.zeros((A.shape[0], 1), dtype=A.dtype))[3]

    return _remembered("lstsq singular values", (A,), compute)


for _op in (singular_values, left_singular_vectors, right_singular_vectors):
    _as_one_member(_op)
del _op
