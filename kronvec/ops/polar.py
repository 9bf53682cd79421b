"""The polar decomposition a = u p (``scipy.linalg.polar``), differentiated through
the SVD it is computed from.

side='right' (m ≥ n): a = W Σ Vᵀ (thin), u = W Vᵀ, p = V Σ Vᵀ.  With M = Wᵀ da V
(``notes/derivatives.md`` §44):

    du = W [Γ ∘ (M − Mᵀ)] Vᵀ + (I − W Wᵀ) da V Σ⁻¹ Vᵀ,     Γᵢⱼ = 1/(σᵢ + σⱼ),
    dp = V [G ∘ M + (G ∘ M)ᵀ] Vᵀ,                           Gᵢⱼ = σᵢ/(σᵢ + σⱼ),

    D u = (V ⊗ W)·(I − K)·Diag(vec Γ)·(Vᵀ ⊗ Wᵀ) + (V Σ⁻¹ Vᵀ ⊗ (I − W Wᵀ)),
    D p = (V ⊗ V)·(I + K)·Diag(vec G)·(Vᵀ ⊗ Wᵀ).

Only sums σᵢ + σⱼ appear: finite and exact at repeated singular values (where the
SVD's own vectors have no derivative), defined while a has full rank, and without
aᵀa (no squared condition number, no overflow of σ²).  side='left' (m ≤ n) is the
right decomposition of aᵀ transposed: aᵀ = V Σ Wᵀ = uᵀ p, so the rules above hold
with W and V exchanged, da ↦ daᵀ and du ↦ duᵀ (commutation matrices in vec form).

Second derivatives trace the VJPs written with u and p themselves — a Kronecker-sum
solve p Y + Y p = C (``solve_continuous_lyapunov``) in place of Γ — which are smooth
at repeated singular values too.  The Jacobian keeps W, V and one n×n array (Γ or G):
3 n² for a square a, where composing it from aᵀa, sqrtm and a solve kept 13 n².
"""

from __future__ import annotations

import math

import numpy as np

from .._tracer import Node
from ..operators import (BatchedKron, Commutation, Dense, Diag, Identity, Kron, algebra)
from . import _samples
from . import _stack_factors as stacked
from ._registry import Primitive, register
from ._support import bind, decided
from ._matrix_support import _as_float, _members, _mT, _remembered, _warn_if_ill_conditioned
from .factorizations.svd import _separated_singular_values
from .sylvester import solve_continuous_lyapunov

__all__ = ["polar_unitary", "polar_positive", "polar_unitary_and_positive", "refuse_rank_deficient"]

_POLAR = "polar"


# ================================================================ the factors
def _polar_svd(A):
    """(W, σ, Vᵀ) of a float `A` (a matrix or a stack), thin, once per call: the SVD
    SciPy's ``polar`` takes (LAPACK gesdd), shared by u, p and their derivatives."""
    return _remembered("polar svd", (A,), lambda: np.linalg.svd(A, full_matrices=False))


def refuse_rank_deficient(s, shape):
    """``LinAlgError`` when a member's smallest singular value is 0 to working precision
    (max(m, n)·eps·σ_max, ``np.linalg.matrix_rank``'s tolerance): u is not unique there."""
    m, n = shape[-2:]
    if not min(m, n):
        return
    deficient = s[..., -1] <= max(m, n) * np.finfo(s.dtype).eps * s[..., 0]
    if np.any(deficient):
        smallest = float(np.min(s[..., -1]))
        where = "" if s.ndim == 1 else (f" ({stacked.member_count(deficient)} of the stack of shape {tuple(shape)}, "
                                        f"at batch index {stacked.member_list(deficient)})")
        raise np.linalg.LinAlgError(
            f"{_POLAR}: the {m}×{n} matrix is rank-deficient{where} (its smallest singular value is "
            f"{smallest:.3g}): its polar factor u is not unique there")


def _factors(A, side):
    """(L, σ, R) with a_r = L Σ Rᵀ the matrix decomposed on the right: a_r = a and
    (L, R) = (W, V) for side='right'; a_r = aᵀ and (L, R) = (V, W) for side='left'.
    For the derivatives: an ``IllConditionedWarning`` when σ_max/σ_min (which Γ and Σ⁻¹
    carry) is above ``kronvec.config.condition_warning``."""
    W, s, Vh = _checked_svd(A)
    if s.size:
        _warn_if_ill_conditioned(float(np.max(s[..., 0] / s[..., -1])), s.dtype,
                                 f"{_POLAR}: the matrix is nearly rank-deficient")
    return (W, s, _mT(Vh)) if side == "right" else (_mT(Vh), s, W)


def _checked_svd(A):
    """The SVD of `A` as a float array, its rank tested."""
    A = _as_float(A)
    W, s, Vh = _polar_svd(A)
    refuse_rank_deficient(s, A.shape)
    return W, s, Vh


def _unitary_of(W, s, Vh, side):
    """u = W Vᵀ, as SciPy computes it (for either side)."""
    return W @ Vh


def _positive_of(W, s, Vh, side):
    """p = V Σ Vᵀ (right) or W Σ Wᵀ (left), as SciPy computes it."""
    if side == "right":
        return (_mT(Vh) * np.expand_dims(s, -2)) @ Vh
    return (W * np.expand_dims(s, -2)) @ _mT(W)


def _unitary_impl(A, side="right"):
    return _unitary_of(*_checked_svd(A), side)


def _positive_impl(A, side="right"):
    return _positive_of(*_checked_svd(A), side)


def _sum_inverses(s):
    """Γ with Γᵢⱼ = 1/(σᵢ + σⱼ) (symmetric: its C-order ravel is vec Γ), one array."""
    gamma = np.add(np.expand_dims(s, -1), np.expand_dims(s, -2))
    return np.reciprocal(gamma, out=gamma)


def _weights_transposed(s):
    """Gᵀ with Gᵢⱼ = σᵢ/(σᵢ + σⱼ): (Gᵀ)ᵢⱼ = σⱼ/(σᵢ + σⱼ), whose C-order ravel is vec G."""
    weights = np.add(np.expand_dims(s, -1), np.expand_dims(s, -2))
    return np.divide(np.expand_dims(s, -2), weights, out=weights)


def _oriented(x, side):
    """x for side='right', each member's transpose for side='left' (traceable)."""
    return x if side == "right" else _mT(x)


# ====================================================================== VJPs
def _unitary_vjp(g, U, A, side="right"):
    # ⟨Ū, du⟩ with X = LᵀŪR: Ā_r = L[Γ ∘ (X − Xᵀ)]Rᵀ + (Ū − LLᵀŪ) R Σ⁻¹ Rᵀ (Γ symmetric)
    if isinstance(A, Node):
        return _traced_unitary_vjp(g, U, A, side)
    L, s, R = _factors(A, side)
    g = _oriented(g, side)
    inner = _mT(L) @ g
    X = inner @ R
    result = L @ ((X - _mT(X)) * _sum_inverses(s)) @ _mT(R)
    if L.shape[-2] > L.shape[-1]:  # (tall: the part of Ū outside range(L))
        result = result + (((g - L @ inner) @ R) * np.expand_dims(1.0 / s, -2)) @ _mT(R)
    return _oriented(result, side)


def _positive_vjp(g, P, A, side="right"):
    # ⟨P̄, dp⟩ with Z = RᵀP̄R: Ā_r = L[G ∘ (Z + Zᵀ)]Rᵀ
    if isinstance(A, Node):
        return _traced_positive_vjp(g, A, side)
    L, s, R = _factors(A, side)
    Z = _mT(R) @ g @ R
    return _oriented(L @ ((Z + _mT(Z)) * _mT(_weights_transposed(s))) @ _mT(R), side)


def _kronecker_sum_solve(P, C):
    """Y with P Y + Y P = C for a traced symmetric positive definite P (each member of a
    stack): one recorded Lyapunov solve per member, smooth at repeated eigenvalues of P."""
    if len(np.shape(C)) == 2:
        return bind(solve_continuous_lyapunov, P, C)
    batch, (n, _) = np.shape(C)[:-2], np.shape(C)[-2:]
    if math.prod(batch) == 0:  # (no member: nothing to solve, and np.stack of none refuses)
        return np.reshape(C * 0.0, batch + (n, n))
    Pm, Cm = np.reshape(P, (-1, n, n)), np.reshape(C, (-1, n, n))
    return np.reshape(np.stack([bind(solve_continuous_lyapunov, Pm[k], Cm[k]) for k in range(Pm.shape[0])]),
                      batch + (n, n))


def _point_scale(A):
    """c = max|a| of each member (1 for a zero member): a constant of the point (a rule for
    ``decided``, so that a compiled replay takes it again on its own values)."""
    A = np.asarray(A)
    c = np.max(np.abs(A), axis=(-2, -1), keepdims=True, initial=0.0)
    return np.where(c > 0, c, 1.0).astype(A.dtype)


def _scaled_positive(A, side):
    """(p̃, c): p̃ = p/c = p(a/c) with c = max|a| a constant (:func:`_point_scale`).  The
    rules below written with p itself hold O(1/c²) intermediates in their own derivative
    (d L_p⁻¹ ∝ 1/c²): overflowing below |a| ≈ 1e-154 and subnormal (a Hessian wrong by
    3e-4) above 1e154; with p̃ every intermediate is O(1)."""
    c = decided(_point_scale, A)
    return bind(polar_positive, A, side=side) / c, c


def _traced_unitary_vjp(g, U, A, side):
    # In u and p (u_r = LRᵀ, p = RΣRᵀ): R[Γ ∘ (X − Xᵀ)]Rᵀ solves p Y + Y p = u_rᵀŪ_r − Ū_rᵀu_r,
    # so Ā_r = u_r Y + (Ū_r − u_r u_rᵀŪ_r) p⁻¹ = [u_r Ỹ + (Ū_r − u_r u_rᵀŪ_r) p̃⁻¹]/c (Ỹ with
    # p̃ = p/c) — no singular vectors, smooth at repeated σ
    P, c = _scaled_positive(A, side)
    u, g = _oriented(U, side), _oriented(g, side)
    inner = _mT(u) @ g
    result = u @ _kronecker_sum_solve(P, inner - _mT(inner))
    m, k = np.shape(u)[-2:]
    if m > k:  # (v p̃⁻¹ = (p̃⁻¹ vᵀ)ᵀ, p̃ symmetric)
        result = result + _mT(np.linalg.solve(P, _mT(g - u @ inner)))
    return _oriented(result / c, side)


def _traced_positive_vjp(g, A, side):
    # L[G ∘ (Z + Zᵀ)]Rᵀ = a_r Y with p Y + Y p = P̄ + P̄ᵀ (a_r = LΣRᵀ, Y = R[Γ ∘ (Z + Zᵀ)]Rᵀ),
    # = (a_r/c) Ỹ with p̃ Ỹ + Ỹ p̃ = P̄ + P̄ᵀ (p̃ = p/c)
    P, c = _scaled_positive(A, side)
    return _oriented(_oriented(A / c, side) @ _kronecker_sum_solve(P, g + _mT(g)), side)


# ================================================================= Jacobians
def _jacobian(A, side, unitary):
    """D u (`unitary`) or D p of one matrix (a stack: :func:`_stack_jacobian`):
    (R ⊗ L)·(I − K)·Diag(vec Γ)·(Rᵀ ⊗ Lᵀ) [+ the tall part] or (R ⊗ R)·(I + K)·Diag(vec G)·(Rᵀ ⊗ Lᵀ)."""
    L, s, R = _factors(A, side)
    if s.ndim > 1:
        return _stack_jacobian(L, s, R, np.shape(A), side, unitary)
    k, dtype = s.size, s.dtype
    # (Γ symmetric and Gᵀ: C-order ravels that are vec Γ and vec G; this call's own
    # arrays, frozen so that the Diag keeps them without a copy)
    gains = _sum_inverses(s) if unitary else _weights_transposed(s)
    gains.flags.writeable = False
    swap = Commutation(k, k, dtype)
    middle = algebra.add(Identity(k * k, dtype), algebra.scale(swap, -1.0) if unitary else swap)
    J = algebra.multiply(Kron(Dense(R), Dense(L if unitary else R)), algebra.multiply(
        middle, algebra.multiply(Diag(gains.reshape(-1)), Kron(Dense(_mT(R)), Dense(_mT(L))))))
    if unitary and L.shape[0] > k:
        inverse = Dense((R / s) @ _mT(R))  # p⁻¹ = R Σ⁻¹ Rᵀ
        J = algebra.add(J, Kron(inverse, Dense(np.eye(L.shape[0], dtype=L.dtype) - L @ _mT(L))))
    return _oriented_jacobian(J, np.shape(A), side, unitary)


def _unitary_jacobian(U, A, names, side="right"):
    return _jacobian(A, side, unitary=True)


def _positive_jacobian(P, A, names, side="right"):
    return _jacobian(A, side, unitary=False)


def _oriented_jacobian(J, shape, side, unitary):
    """J of a_r ↦ (u_r or p) as the Jacobian in a: side='left' reads vec aᵀ = K_{m,n} vec a
    and (for u) returns vec u = K vec u_r."""
    if side == "right":
        return J
    m, n = shape[-2:]
    J = algebra.multiply(J, Commutation(m, n, J.dtype))
    return algebra.multiply(Commutation(n, m, J.dtype), J) if unitary else J


def _stack_jacobian(L, s, R, shape, side, unitary):
    """The 2-D rules on every member of a stack (members in vec order, §24.5): block
    operators, the commutations batched."""
    Lm, Rm, sm = _members(L), _members(R), _members(s, 1)
    K, k = sm.shape
    dtype = sm.dtype
    left_factor = BatchedKron(Rm, Lm if unitary else Rm)
    swap = stacked.member_transpose(K, k, k, dtype)
    middle = algebra.add(Identity(K * k * k, dtype), algebra.scale(swap, -1.0) if unitary else swap)
    gains = _sum_inverses(sm) if unitary else _mT(_weights_transposed(sm))
    J = algebra.multiply(left_factor, algebra.multiply(middle, algebra.multiply(
        stacked.member_mask(gains, K), BatchedKron(_mT(Rm), _mT(Lm)))))
    tall = Lm.shape[-2]
    if unitary and tall > k:
        inverse = (Rm / sm[:, None, :]) @ _mT(Rm)
        projector = np.eye(tall, dtype=dtype) - Lm @ _mT(Lm)
        J = algebra.add(J, BatchedKron(inverse, projector))
    if side == "right":
        return J
    m, n = shape[-2:]
    J = algebra.multiply(J, stacked.member_transpose(K, m, n, dtype))
    return algebra.multiply(stacked.member_transpose(K, n, m, dtype), J) if unitary else J


# ================================================================== registry
def _polar_samples(rng, n):
    return (_separated_singular_values(rng, (n + 1, n), np.linspace(2.0, 1.0, n)),)


def _side(side):
    return lambda make: (lambda rng: _samples.Sample((make(rng),), {"side": side}))


_EDGES = {
    "square": lambda rng: (_separated_singular_values(rng, (3, 3), [3.0, 2.0, 1.0]),),
    "repeated singular values: 2 × an orthogonal matrix": lambda rng: (
        2.0 * np.linalg.qr(rng.standard_normal((3, 3)))[0],),
    "a double singular value, tall": lambda rng: (_separated_singular_values(rng, (4, 3), [2.0, 2.0, 1.0]),),
    "side='left', wide": _side("left")(lambda rng: _separated_singular_values(rng, (2, 4), [2.0, 1.0])),
    "side='left', square, a double singular value": _side("left")(
        lambda rng: _separated_singular_values(rng, (3, 3), [1.5, 1.5, 0.5])),
    "1×1": lambda rng: (np.array([[-1.5]]),),
    "a (2, 3, 2) stack (tall members)": lambda rng: (
        _samples.stack_of(lambda r: _separated_singular_values(r, (3, 2), [2.0, 1.0]), rng, (2,)),),
    "a (2, 1, 2, 3) stack, side='left'": _side("left")(lambda rng: _samples.stack_of(
        lambda r: _separated_singular_values(r, (2, 3), [2.0, 1.0]), rng, (2, 1))),
    "a (2, 3, 3) stack: a member with repeated singular values": lambda rng: (np.stack(
        [2.0 * np.linalg.qr(rng.standard_normal((3, 3)))[0],
         _separated_singular_values(rng, (3, 3), [3.0, 2.0, 1.0])]),),
}

_REFERENCE = ("Higham, *Functions of Matrices* (2008), §8.1 (the polar decomposition) and problem 8.16; "
              "Giles 2008 (SVD-based derivatives); SciPy's scipy.linalg.polar (its values)")

def _register(name, impl, vjp, jacobian, formula, signature):
    """One of the decomposition's two factors as a registered operation (same samples,
    edge cases and reference; `fuzz` applies it to a shifted square matrix)."""
    op = register(Primitive(
        impl, name=f"linalg.{name}",
        vjps={0: vjp},
        jacobians={0: jacobian},
        label=lambda a, side="right": None,
        formula=formula,
        reference=_REFERENCE,
        samples=_polar_samples, param_names=("A",), edge_cases=_EDGES,
        fuzz=lambda Y, c: bind(op, _samples.shifted(_samples.square_of(Y))),
        signature=signature,
    ))
    return op


polar_unitary = _register(
    "polar_unitary", _unitary_impl, _unitary_vjp, _unitary_jacobian,
    "D u = (V ⊗ W)·(I − K)·Diag(vec Γ)·(Vᵀ ⊗ Wᵀ) + (V Σ⁻¹ Vᵀ ⊗ (I − WWᵀ)), a = W Σ Vᵀ, "
    "Γᵢⱼ = 1/(σᵢ + σⱼ) (side='left': of aᵀ, transposed)",
    "(m,n)->(m,n)")
polar_positive = _register(
    "polar_positive", _positive_impl, _positive_vjp, _positive_jacobian,
    "D p = (V ⊗ V)·(I + K)·Diag(vec G)·(Vᵀ ⊗ Wᵀ), a = W Σ Vᵀ, Gᵢⱼ = σᵢ/(σᵢ + σⱼ) (side='left': of aᵀ)",
    "(m,n)->(n,n)")


def polar_unitary_and_positive(a, side="right"):
    """(u, p) of a traced `a`: the two recorded operations (one SVD between them)."""
    return bind(polar_unitary, a, side=side), bind(polar_positive, a, side=side)
