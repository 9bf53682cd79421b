"""The pseudo-inverse and least squares: ``np.linalg.pinv`` and ``np.linalg.lstsq``.

    dA⁺ = −A⁺ dA A⁺ + A⁺A⁺ᵀ dAᵀ (I − AA⁺) + (I − A⁺A) dAᵀ A⁺ᵀA⁺

exact where A has full rank; at a rank-deficient A the pseudo-inverse is not
differentiable (a direction that raises the rank moves it discontinuously), and
``LinAlgError`` names the rank.  ``pinv(a, hermitian=True)`` keeps this rule along
symmetric directions.  lstsq is 2-D only, as in NumPy.  Derivations:
``notes/derivatives.md`` §23 (Golub & Pereyra) and §33.1.
"""

from __future__ import annotations

import functools

import numpy as np

from ..._linalg.scope import _current as _current_scope
from ..._tracer import Node, compile_guard
from ...differential import linear_map
from ...operators import BatchedKron, Dense, Identity, Kron, Selection, algebra
from .. import _samples
from .. import _stack_factors as stacked
from .._registry import Primitive, numpy_function, register
from .._support import bind, decided, derived_label, plain_value, shape_of, static_value
from .._matrix_support import (_as_float, _as_one_member, _mT, _matrix_shape, _members, _remembered, _square_shape,
                               _tolerance)
from .eigh import _symmetric_input, _symmetric_samples
from .._symmetric_directions import _symmetric_part, _symmetrizer, _what_numpy_reads
from .svd import singular_values

__all__ = ["pinv", "lstsq", "lstsq_residuals"]

_NO_VALUE = np._NoValue


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
                "a (2, 3, 2) stack": lambda rng: (_samples.stack_of(
                    lambda r: r.standard_normal((3, 2)) + np.eye(3, 2), rng, (2,)),),
                "a (2, 2, 3) stack (wide members)": lambda rng: (_samples.stack_of(
                    lambda r: r.standard_normal((2, 3)) + np.eye(2, 3), rng, (2,)),),
                "a (2, 2, 2) stack (square members)": lambda rng: (_samples.stack_of(
                    lambda r: _samples.well_conditioned(r, 2), rng, (2,)),),
                "hermitian=True (indefinite)": lambda rng: _samples.Sample(
                    (_symmetric_samples(rng, 3)[0] - 4.0 * np.eye(3),), {"hermitian": True}),
                "hermitian=True, not symmetric (the symmetric part is used)": lambda rng: _samples.Sample(
                    (_symmetric_samples(rng, 3)[0] + 0.1 * np.tril(rng.standard_normal((3, 3)), -1),),
                    {"hermitian": True}),
                "hermitian=True, a (2, 3, 3) stack": lambda rng: _samples.Sample((_samples.stack_of(
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


_as_one_member(pinv)
