"""Triangular solves and the LU factorization (``scipy.linalg``'s kernels).

    X = op(T)⁻¹ B, op(T) = T or Tᵀ     dX = op(T)⁻¹ (dB − op(dT) X)
        D_B = I ⊗ op(T)⁻¹            (applied by triangular solves, never an inverse)
        D_T = −(Xᵀ ⊗ op(T)⁻¹)·(K if op is the transpose)·Diag(vec mask)
        B̄ = op(T)⁻ᵀ X̄,  T̄ = mask ∘ (−B̄Xᵀ, or its transpose when op(T) = Tᵀ)
    PᵀA = LU (packed: tril(L, −1) + U)  F = L⁻¹ Pᵀ dA U⁻¹
        d(LU) = L tril(F, −1) + triu(F) U
        Ā = P L⁻ᵀ [tril(Lᵀ L̄, −1) + triu(Ū Uᵀ)] U⁻ᵀ

`mask` is the triangle the solve reads (``lower``), without the diagonal when
``unit_diagonal``: SciPy never reads the other entries, so their derivative
is 0.  The pivots of LU are a constant of the point (piecewise constant in A).

These are the operations behind ``kronvec.scipy.linalg``'s ``solve_triangular``,
``cho_solve``, ``lu_factor``, ``lu_solve`` and ``lu``, which are compositions of
them.  Derivations: ``notes/derivatives.md`` §25.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from .._tracer import Node
from .._vec import vec
from .._vec import stack_members
from ..operators import BatchedKron, Commutation, Dense, Diag, Identity, Kron, Selection, algebra
from ..operators._formula import Label
from ..operators.basic import _LabelledLeaf, owned_readonly
from ..operators._base import result_float_dtype
from . import _samples
from ._registry import Primitive, register
from ._support import bind, derived_label, plain_value, shape_of, static_value
from ._stack_factors import member_mask
from ._matrix_support import _as_one_member, _remembered

__all__ = ["solve_triangular", "lu_packed", "lu_pivots", "row_order", "TriangularSolve", "triangle_mask"]

_SOLVE_TRIANGULAR = "scipy.linalg.solve_triangular"
_LU = "scipy.linalg.lu_factor"


def _as_float(X):
    X = np.asarray(X)
    return X if X.dtype.char in "fd" else X.astype(np.float64)


def triangle_mask(n, lower, unit_diagonal, dtype=np.float64):
    """1 on the entries a triangular solve reads: the lower (or upper) triangle,
    without the diagonal when `unit_diagonal`."""
    mask = np.tri(n, k=-1 if unit_diagonal else 0, dtype=dtype)
    return mask if lower else np.ascontiguousarray(mask.T)


@functools.lru_cache(maxsize=None)
def _trtrs(precision):
    """LAPACK's triangular solve for NumPy type code `precision` (looked up once)."""
    return lapack.get_lapack_funcs(("trtrs",), dtype=np.dtype(precision))[0]


def _raw_solve(T, B, trans, lower, unit_diagonal):
    """op(T)⁻¹ B of plain arrays by LAPACK trtrs (what scipy.linalg.solve_triangular computes,
    without its per-call overhead: 7 ms against 3 µs at 4×4 with SciPy 1.17 here); a singular
    T is a LinAlgError naming the pivot."""
    n = T.shape[0]
    dtype = np.result_type(T.dtype, B.dtype, np.float32)
    if n == 0 or B.size == 0:
        return np.zeros(B.shape, dtype=dtype)
    T, B = T.astype(dtype, copy=False), B.astype(dtype, copy=False)
    if T.flags.c_contiguous and not T.flags.f_contiguous:
        # a C-ordered T is the Fortran-ordered Tᵀ: solve with it (the other triangle, the other op), no copy
        T, lower, trans = T.T, not lower, 1 - trans
    X, info = _trtrs(dtype.char)(T, B, lower=int(lower), trans=int(trans), unitdiag=int(unit_diagonal))
    if info > 0:
        raise np.linalg.LinAlgError(
            f"{_SOLVE_TRIANGULAR}: the {n}×{n} triangular matrix is singular (its diagonal entry {info} is 0)")
    if info < 0:  # pragma: no cover (the shapes are checked before)
        raise ValueError(f"{_SOLVE_TRIANGULAR}: LAPACK trtrs rejected argument {-info}")
    return X


class TriangularSolve(_LabelledLeaf):
    """op(T)⁻¹ for a triangular T, applied by triangular solves (never formed).

    Parameters
    ----------
    T : array_like, (n, n)
        Only its `lower` (else upper) triangle is read; its diagonal is taken as
        ones when `unit_diagonal`.
    trans : {0, 1}
        op(T) = T (0) or Tᵀ (1).

    >>> T = np.array([[2.0, 0.0], [1.0, 4.0]])
    >>> J = TriangularSolve(T, lower=True, name="T")
    >>> J.formula(), np.allclose(J.toarray(), np.linalg.inv(T)), np.allclose(J.T.toarray(), np.linalg.inv(T).T)
    ('inv(T)', True, True)
    """

    def __init__(self, T, lower, trans=0, unit_diagonal=False, name=None, *, _label=None):
        T = np.asarray(T)
        dtype = result_float_dtype(T.dtype)
        self.M = owned_readonly(T, dtype)
        self.lower, self.trans, self.unit_diagonal = bool(lower), int(trans), bool(unit_diagonal)
        if _label is None:
            _label = Label(name, "matrix", self.M)
            _label = _label.derived("inv({})") if trans == 0 else _label.derived("inv({})").transposed()
        self._label = _label
        super().__init__(T.shape, dtype)

    def _matmat(self, X):
        return _raw_solve(self.M, X, self.trans, self.lower, self.unit_diagonal)

    def _left_apply(self, V):
        if V.ndim == 2:
            return self._matmat(V)
        return np.stack([self._matmat(v) for v in V]) if len(V) else np.empty((0,) + V.shape[1:], dtype=V.dtype)

    def _transpose(self):
        transposed = TriangularSolve(self.M, self.lower, 1 - self.trans, self.unit_diagonal,
                                     _label=self._label.transposed())
        transposed._remember_as_transpose_of(self)
        return transposed

    @property
    def apply_cost(self):
        return self.shape[0] * self.shape[1]  # n² flops per column (a triangular solve)


# ============================================================ triangular solve
def _check_solve_shapes(T, B):
    if T.ndim != 2 or T.shape[0] != T.shape[1]:
        raise ValueError(f"{_SOLVE_TRIANGULAR}: expected a square matrix, got a of shape {T.shape}")
    if B.ndim not in (1, 2) or B.shape[0] != T.shape[0]:
        raise ValueError(
            f"{_SOLVE_TRIANGULAR}: shapes of a {T.shape} and b {B.shape} are incompatible "
            f"(b needs {T.shape[0]} rows, 1-D or 2-D)")


def _solve_triangular_impl(T, B, trans=0, lower=False, unit_diagonal=False):
    T, B = _as_float(T), _as_float(B)
    _check_solve_shapes(T, B)
    return _raw_solve(T, B, trans, lower, unit_diagonal)


def _solve_triangular_vjp_b(g, X, T, B, trans=0, lower=False, unit_diagonal=False):
    # X = op(T)⁻¹ B ⇒ B̄ = op(T)⁻ᵀ X̄: the same triangle, the other op
    return bind(solve_triangular, T, g, trans=1 - trans, lower=lower, unit_diagonal=unit_diagonal)


def _solve_triangular_vjp_t(g, X, T, B, trans=0, lower=False, unit_diagonal=False):
    # dX = −op(T)⁻¹ op(dT) X ⇒ op(T)‾ = −B̄ Xᵀ; only the triangle read carries it
    B_bar = _solve_triangular_vjp_b(g, X, T, B, trans, lower, unit_diagonal)
    if len(shape_of(X)) == 1:
        B_bar, X = np.reshape(B_bar, (-1, 1)), np.reshape(X, (-1, 1))
    op_bar = -(B_bar @ np.transpose(X)) if trans == 0 else -(X @ np.transpose(B_bar))
    n = shape_of(T)[0]
    return op_bar * triangle_mask(n, lower, unit_diagonal, np.result_type(static_value(T).dtype, np.float32))


def _columns(x, n):
    x = np.asarray(x)
    return x.reshape(n, 1) if x.ndim == 1 else x


def _solve_triangular_jacobian_t(X, T, B, names, trans=0, lower=False, unit_diagonal=False):
    T = _as_float(T)
    n = T.shape[0]
    X = _columns(X, n)
    inverse = TriangularSolve(T, lower, trans, unit_diagonal, name=names[0])
    J = algebra.scale(Kron(Dense(X.T), inverse), -1.0)  # d vec X = −(Xᵀ ⊗ op(T)⁻¹) vec op(dT)
    if trans:
        J = algebra.multiply(J, Commutation(n, n))
    return algebra.multiply(J, Diag(vec(triangle_mask(n, lower, unit_diagonal, T.dtype))))


def _solve_triangular_jacobian_b(X, T, B, names, trans=0, lower=False, unit_diagonal=False):
    T = _as_float(T)
    k = 1 if np.ndim(B) == 1 else np.shape(B)[1]
    return Kron(Identity(k), TriangularSolve(T, lower, trans, unit_diagonal, name=names[0]))


def _triangular_samples(rng, n):
    # a full matrix: the solve reads its lower triangle only (the rest has derivative 0)
    return _samples.Sample((_samples.well_conditioned(rng, n), rng.standard_normal((n, 2))), {"lower": True})


def _edge(rng, **params):
    return _samples.Sample((_samples.well_conditioned(rng, 3), rng.standard_normal((3, 2))), params)


solve_triangular = register(Primitive(
    _solve_triangular_impl, name="linalg.solve_triangular",
    vjps={0: _solve_triangular_vjp_t, 1: _solve_triangular_vjp_b},
    jacobians={0: _solve_triangular_jacobian_t, 1: _solve_triangular_jacobian_b},
    label=lambda a, b, trans=0, lower=False, unit_diagonal=False: derived_label("solve_triangular({}, {})", a, b),
    formula="D_T = −(Xᵀ ⊗ op(T)⁻¹)·(K if trans)·Diag(vec mask), D_B = I ⊗ op(T)⁻¹ (triangular solves); "
            "mask = the triangle read",
    reference="Giles, 'An extended collection of matrix derivative results' (2008) §2.3.1 (inverse and solve), "
              "restricted to the triangle LAPACK trtrs reads",
    samples=_triangular_samples, param_names=("T", "B"),
    edge_cases={
        "upper": lambda rng: _edge(rng, lower=False),
        "transposed": lambda rng: _edge(rng, lower=True, trans=1),
        "upper, transposed, unit diagonal": lambda rng: _edge(rng, lower=False, trans=1, unit_diagonal=True),
        "unit diagonal": lambda rng: _edge(rng, lower=True, unit_diagonal=True),
        "vector right-hand side": lambda rng: _samples.Sample(
            (_samples.well_conditioned(rng, 3), rng.standard_normal(3)), {"lower": True}),
        "1×1": lambda rng: _samples.Sample((np.array([[2.5]]), np.array([[1.0, -2.0]])), {"lower": False}),
    },
    fuzz=lambda Y, c: bind(solve_triangular, _samples.shifted(_samples.square_of(Y)),
                           _samples.square_of(Y), lower=True),
))


# ==================================================================== LU
def row_order(piv):
    """The row order perm with A[perm] = L U from LAPACK's 0-based interchanges `piv`
    (…, n), applied in order — for every member of a stack at once (a loop over the n
    interchanges, not over members)."""
    piv = np.asarray(piv)
    n = piv.shape[-1]
    perm = np.broadcast_to(np.arange(n), piv.shape).copy()
    rows = np.indices(piv.shape[:-1])
    for i in range(n):
        j = piv[..., i]
        at_i, at_j = perm[..., i].copy(), perm[(*rows, j)]
        perm[..., i] = at_j
        perm[(*rows, j)] = at_i
    return perm


def _getrf(A):
    """(packed LU, LAPACK's interchanges piv, the row order perm with A[perm] = L U) of a
    plain square A — or of every member of a stack (…, n, n), by SciPy's batched
    ``lu_factor`` — once per call."""
    def compute():
        lu, piv = scipy.linalg.lu_factor(A, check_finite=False)
        return lu, piv, row_order(piv)

    return _remembered("getrf", (A,), compute)


def _square(A, what=_LU):
    A = _as_float(A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{what}: kronvec's LU needs a square matrix or a stack (…, n, n), got shape {A.shape}")
    return A


def _lu_impl(A):
    return _getrf(_square(A))[0]


def lu_pivots(A):
    """(piv, perm) of the plain matrix A: LAPACK's interchanges (SciPy's ``piv``) and
    the row order with ``A[perm] = L U``."""
    _, piv, perm = _getrf(_square(plain_value(A)))
    return piv, perm


def _require_invertible_u(LU):
    """The packed LU's derivative applies U⁻¹: a zero pivot (A singular) is a LinAlgError
    naming lu_factor — not the triangular solve inside its rule, which the user never called."""
    if isinstance(LU, Node):  # (a traced factor, second order: the solves inside check it)
        return
    pivots = np.diagonal(np.asarray(LU), axis1=-2, axis2=-1)
    zero = pivots == 0
    if zero.any():
        where, first = "", zero
        if zero.ndim > 1:  # (the first singular member, by its batch index)
            member = tuple(int(i) for i in np.argwhere(zero.any(axis=-1))[0])
            where, first = f" at batch index {member} of the stack", zero[member]
        raise np.linalg.LinAlgError(
            f"{_LU}: the matrix{where} is singular (U's diagonal entry {int(np.argmax(first)) + 1} is exactly 0): "
            "its LU factors have no derivative there (dL, dU need U⁻¹)")


def _lu_stack_vjp(g, LU, A):
    # The 2-D rule below, member by member, with batched operations (traced again: second
    # order follows): L⁻ᵀ and U⁻ᵀ by np.linalg.solve of the unit lower and the upper
    # triangles, P by each member's row order.
    n = shape_of(A)[-1]
    dtype = np.result_type(static_value(A).dtype, np.float32)
    strict = np.tri(n, k=-1, dtype=dtype)
    upper = 1.0 - strict
    L = LU * strict + np.eye(n, dtype=dtype)
    U = LU * upper
    M = (np.swapaxes(L, -1, -2) @ (g * strict)) * strict + ((g * upper) @ np.swapaxes(U, -1, -2)) * upper
    MU = np.swapaxes(np.linalg.solve(U, np.swapaxes(M, -1, -2)), -1, -2)             # M U⁻ᵀ
    Z = np.linalg.solve(np.swapaxes(L, -1, -2), MU)                                   # L⁻ᵀ M U⁻ᵀ
    _, perm = lu_pivots(A)
    rows = np.broadcast_to(np.argsort(perm, axis=-1)[..., None], shape_of(Z))
    return np.take_along_axis(Z, rows, axis=-2)                                       # P Z


def _lu_vjp(g, LU, A):
    # Ā = P L⁻ᵀ [tril(Lᵀ L̄, −1) + triu(Ū Uᵀ)] U⁻ᵀ, L̄ = tril(Ḡ, −1), Ū = triu(Ḡ)  (§25)
    _require_invertible_u(LU)
    if len(shape_of(A)) > 2:
        return _lu_stack_vjp(g, LU, A)
    n = shape_of(A)[0]
    dtype = np.result_type(static_value(A).dtype, np.float32)
    strict = np.tri(n, k=-1, dtype=dtype)
    upper = 1.0 - strict
    L = LU * strict + np.eye(n, dtype=dtype)
    U = LU * upper
    M = (np.transpose(L) @ (g * strict)) * strict + ((g * upper) @ np.transpose(U)) * upper
    MU = np.transpose(bind(solve_triangular, LU, np.transpose(M), lower=False))       # M U⁻ᵀ
    Z = bind(solve_triangular, LU, MU, trans=1, lower=True, unit_diagonal=True)      # L⁻ᵀ M U⁻ᵀ
    _, perm = lu_pivots(A)
    return Z[np.argsort(perm)]                                                         # P Z


def _lu_stack_jacobian(LU, A):
    # block k: [(I ⊗ L_k)·Diag(vec s) + (U_kᵀ ⊗ I)·Diag(vec(1 − s))]·(U_k⁻ᵀ ⊗ L_k⁻¹P_kᵀ), with
    # the members' triangular inverses formed by one batched inverse each (§25)
    n = A.shape[-1]
    _, perm = lu_pivots(A)
    LU, perm = stack_members(np.asarray(LU)), stack_members(perm, 1)
    count = LU.shape[0]
    strict = np.tri(n, k=-1, dtype=LU.dtype)
    L = LU * strict + np.eye(n, dtype=LU.dtype)
    U = LU * (1.0 - strict)
    inverse_of_L, inverse_of_U = np.linalg.inv(L), np.linalg.inv(U)
    # L⁻¹Pᵀ: column j of it is column i of L⁻¹ with perm[i] = j
    columns = np.broadcast_to(np.argsort(perm, axis=-1)[:, None, :], inverse_of_L.shape)
    F = BatchedKron(np.swapaxes(inverse_of_U, -1, -2), np.take_along_axis(inverse_of_L, columns, axis=-1),
                    name="blockdiag(Uₖ⁻ᵀ ⊗ Lₖ⁻¹Pₖᵀ)")
    outer = algebra.add(algebra.multiply(BatchedKron(n, L, name="blockdiag(I ⊗ Lₖ)"), member_mask(strict, count)),
                        algebra.multiply(BatchedKron(np.swapaxes(U, -1, -2), n, name="blockdiag(Uₖᵀ ⊗ I)"),
                                         member_mask(1.0 - strict, count)))
    return algebra.multiply(outer, F)


def _lu_jacobian(LU, A, names):
    A = _square(A)
    _require_invertible_u(LU)
    if A.ndim > 2:
        return _lu_stack_jacobian(LU, A)
    n = A.shape[0]
    LU = np.asarray(LU)
    _, perm = lu_pivots(A)
    strict = np.tri(n, k=-1, dtype=LU.dtype)
    L = Dense(LU * strict + np.eye(n, dtype=LU.dtype))
    U = Dense(np.triu(LU))
    # vec F = (U⁻ᵀ ⊗ L⁻¹)(I ⊗ Pᵀ) vec dA, d vec(LU) = [(I ⊗ L) Diag(s) + (Uᵀ ⊗ I) Diag(1 − s)] vec F
    F = algebra.multiply(
        Kron(TriangularSolve(LU, lower=False, trans=1), TriangularSolve(LU, lower=True, unit_diagonal=True)),
        Kron(Identity(n), Selection(perm, n)))
    outer = algebra.add(algebra.multiply(Kron(Identity(n), L), Diag(vec(strict))),
                        algebra.multiply(Kron(U.T, Identity(n)), Diag(vec(1.0 - strict))))
    return algebra.multiply(outer, F)


def _lu_samples(rng, n):
    return (_samples.well_conditioned(rng, n) / np.sqrt(n),)


lu_packed = register(Primitive(
    _lu_impl, name="linalg.lu_factor",
    vjps={0: _lu_vjp},
    jacobians={0: _lu_jacobian},
    label=lambda a: derived_label("lu({})", a),
    formula="D LU = [(I ⊗ L)·Diag(vec s) + (Uᵀ ⊗ I)·Diag(vec(1 − s))]·(U⁻ᵀ ⊗ L⁻¹)·(I ⊗ Pᵀ), "
            "s = 1 strictly below the diagonal",
    reference="derived in notes/derivatives.md §25 (PᵀA = LU, F = L⁻¹PᵀdA U⁻¹ split into strict lower and "
              "upper parts); as PyTorch's linalg_lu_backward and JAX's _lu_jvp_rule",
    samples=_lu_samples, param_names=("A",),
    edge_cases={
        "1×1": lambda rng: (np.array([[-1.5]]),),
        "rows swapped by pivoting": lambda rng: (np.array([[0.1, 2.0, 0.3], [3.0, 0.2, 1.0], [1.0, 1.0, 4.0]]),),
        "a (2, 3, 3) stack, rows swapped": lambda rng: (np.stack([
            np.array([[0.1, 2.0, 0.3], [3.0, 0.2, 1.0], [1.0, 1.0, 4.0]]), _lu_samples(rng, 3)[0]]),),
        "a (2, 1, 2, 2) stack": lambda rng: (np.stack([_lu_samples(rng, 2)[0] for _ in range(2)]).reshape(2, 1, 2, 2),),
    },
    signature="(m,m)->(m,m)",
))
_as_one_member(lu_packed)  # a stack of one member: the 2-D rule, bit for bit
