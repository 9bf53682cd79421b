"""Linear algebra: inverse, solve, determinant, log-determinant, adjugate, trace.

    d(X⁻¹) = −X⁻¹ dX X⁻¹        ⇒  D(X⁻¹) = −(X⁻ᵀ ⊗ X⁻¹),   X̄ = −X⁻ᵀ Ḡ X⁻ᵀ
    d(A⁻¹B) = −A⁻¹ dA A⁻¹B     ⇒  D_A = −((A⁻¹B)ᵀ ⊗ A⁻¹),  D_B = I ⊗ A⁻¹
    d|X| = tr(adj(X) dX)        ⇒  D|X| = vec(adj(X)ᵀ)ᵀ    (exact at singular X)
    d ln|X| = tr(X⁻¹ dX)        ⇒  D ln|X| = vec(X⁻ᵀ)ᵀ
    d tr X = tr dX              ⇒  D tr X = vec(I)ᵀ

(Magnus–Neudecker ch. 8; Matrix Cookbook eqs. (49), (57), (59), (100).)
Every matrix is factored once per call (``kronvec/_linalg/factorization.py``):
inv, slogdet and solve of one matrix share an LU (or Cholesky) factorization.

Stacks (…, n, n) go through inv, det, slogdet and solve with NumPy's
broadcasting: the values are NumPy's batched results, the VJPs the same
formulas member by member (batched matmul and solve), and the Jacobians
batched block operators (``BatchedKron``, ``BatchedDense``) in the
column-major stack layout of ``notes/conventions.md`` §11.

Derivations: ``notes/derivatives.md`` §5–§7, §10 and §24 (stacks).
"""

from __future__ import annotations

import math

import numpy as np

from .._linalg import checks
from .._linalg import stacks
from .._linalg.factorization import factorize
from .._tracer import Node, compile_guard, static_value
from .._vec import stack_members, unvec, vec, vec_members
from ..differential import linear_map
from ..operators import (
    BatchedDense,
    BatchedKron,
    Commutation,
    Dense,
    Diag,
    Kron,
    RowVector,
    Selection,
    Zero,
    algebra,
)
from . import _samples
from ._registry import Primitive, numpy_function, register
from ._support import (
    bind,
    broadcast_jacobian,
    derived_label,
    identity_scale,
    matmul_2d,
    plain_value,
    refuse_arguments,
    scaled_identity,
    shape_of,
    unbroadcast,
)
from .shape import _diagonal, in_dtype

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)
_add_reduce = np.add.reduce

__all__ = ["inv", "det", "adjugate", "logabsdet", "solve", "trace", "det_hessian_operator", "adjugate_values"]


def _square_matrix(X, operation):
    """X as a square 2-D array, or the error naming `operation` and the shape."""
    if type(X) is not _ndarray:
        X = np.asarray(X)
    shape = X.shape
    if len(shape) != 2:  # (LinAlgError, a ValueError: NumPy's for an array of another dimension)
        raise np.linalg.LinAlgError(f"{operation}: X must be a 2-D matrix, got shape {shape}")
    if shape[0] != shape[1]:
        checks.require_square(X, "X", operation)
    return X


# ------------------------------------------------------------------- inverse
_INV = "np.linalg.inv"


def _inv_impl(X):
    if type(X) is not _ndarray or X.ndim != 2:
        if np.ndim(X) > 2:  # a stack (…, n, n): NumPy's batched inverse
            return stacks.stack_results(stacks.square_stack(X, _INV), _INV).inverse()
    return factorize(_square_matrix(X, _INV), _INV).inverse()


#: Members up to this order are multiplied as contiguous copies in the VJP of inv.
_SMALL_ORDER = 16


def _is_stack(x):
    """True for a stack of matrices (…, n, n) with batch axes (plain or traced)."""
    return len(shape_of(x)) > 2


def _swap(x):
    """Every member transposed: ``x[..., i, j] → x[..., j, i]`` (traceable)."""
    return np.swapaxes(x, -1, -2)


def _per_member(c):
    """The per-member scalars c (shape batch) as (batch, 1, 1), to scale each member."""
    return np.expand_dims(np.expand_dims(c, -1), -1)


def _inverse_for_derivative(X, operation=_INV):
    """X⁻¹ inside a derivative: the recorded X⁻¹ when X is traced and its inverse
    was recorded (a Hessian differentiates code that asks for X⁻ᵀ again), else a
    new one — from X's factorization, already computed within the same call.

    `operation` names what the user called, for the error at a singular X.
    """
    if isinstance(X, Node):
        memo = X._trace.memo if X._trace.active else None
        recorded = memo.get(("inverse", X._index)) if memo else None
        return recorded if recorded is not None else _inv(X)
    if type(X) is not _ndarray or X.ndim != 2:
        if np.ndim(X) > 2:
            return stacks.stack_results(stacks.square_stack(X, operation), operation).inverse()
    return factorize(_square_matrix(X, operation), operation).inverse()


def _inv_vjp(g, ans, X):
    # d(X⁻¹) = -X⁻¹ dX X⁻¹  ⇒  X̄ = -X⁻ᵀ Ḡ X⁻ᵀ   (Matrix Cookbook eq. (59)), member by member
    if type(ans) is _ndarray and type(g) is _ndarray and ans.ndim == 2 and g.ndim == 2:
        inverse_t = ans.T  # (plain matrices, the common case: matmul_2d's products, without its calls)
        return -inverse_t.dot(g).dot(inverse_t)
    if len(shape_of(ans)) == 2:
        return -matmul_2d(matmul_2d(ans.T, g), ans.T)
    ans_t = _swap(ans)
    if (type(ans) is _ndarray and type(g) is _ndarray and ans.shape[-1] <= stacks.SMALL_MAX_ORDER
            and g.shape == ans.shape and g.dtype == ans.dtype and stacks.uses_kernels(ans)):
        return stacks.stack_sandwich(ans, g, -1.0)  # one numba pass (notes/derivatives.md §24.6)
    if type(ans) is _ndarray and type(g) is _ndarray and ans.shape[-1] <= _SMALL_ORDER:
        # Small members: NumPy's matmul loop runs faster on contiguous operands (3.3 ms
        # of 15.7 at 100,000 3×3, one thread), and the negation can reuse the product.
        ans_t = np.ascontiguousarray(ans_t)
        product = np.matmul(np.matmul(ans_t, g), ans_t)
        return np.negative(product, out=product)
    if type(ans) is _ndarray and type(g) is _ndarray and ans.dtype.char in "fd":
        # −X⁻ᵀ Ḡ X⁻ᵀ = −(X⁻¹ Ḡᵀ X⁻¹)ᵀ: the products on X⁻¹ itself (contiguous, and Ḡᵀ
        # is when Ḡ is a transposed view, as the cotangent of tr(X⁻¹C) is), negated in place.
        product = np.matmul(np.matmul(ans, _swap(g)), ans)
        return _swap(np.negative(product, out=product))
    return -np.matmul(np.matmul(ans_t, g), ans_t)


def _inv_vjp_in_place(g, ans, X):
    """:func:`_inv_vjp` for a cotangent Ḡ that nothing but the reverse sweep
    holds: X̄ = −X⁻ᵀ Ḡ X⁻ᵀ is written over Ḡ (one cotangent-sized array less
    at the peak of a gradient), or computed as usual where the layout does
    not allow it."""
    if (type(ans) is _ndarray and type(g) is _ndarray and ans.ndim > 2 and g.shape == ans.shape
            and g.dtype == ans.dtype and ans.dtype.char in "fd" and g.flags.writeable):
        # The result goes to a C-ordered array owning its memory when there is one: Ḡ
        # itself, or the array Ḡ is the member-wise transpose of (the cotangent of
        # tr(X⁻¹C) = einsum("kij,kji->", X⁻¹, C) is Cᵀ, a view of the captured C), so
        # that the gradient is returned as it is, without a final copy.
        target = g if g.flags.c_contiguous and g.flags.owndata else _transposed_base(g)
        if target is not None:
            n = ans.shape[-1]
            if n <= stacks.SMALL_MAX_ORDER and stacks.uses_kernels(ans):
                # (the kernel reads member k of Ḡ before it writes member k of the target)
                return stacks.stack_sandwich(ans, g, -1.0, out=target)
            # A chunk of members at a time (Ḡ's members are read before the target's same
            # members are written): the inner product's temporary stays below 2 MiB and
            # an eighth of the stack.
            ans_t = _swap(ans)
            flat_ans_t, flat_g = ans_t.reshape((-1, n, n)), g.reshape((-1, n, n))
            flat_target = target.reshape((-1, n, n))  # (C-ordered: a view, written in place)
            count = flat_target.shape[0]
            step = max(1, min(-(-count // 8), (2 << 20) // max(1, n * n * ans.itemsize)))
            for start in range(0, count, step):
                members = slice(start, start + step)
                np.matmul(np.matmul(flat_ans_t[members], flat_g[members]), flat_ans_t[members],
                          out=flat_target[members])
            return np.negative(target, out=target)
    return _inv_vjp(g, ans, X)


def _transposed_base(g):
    """The C-ordered array owning its memory of which g is the member-wise
    transpose (``np.swapaxes(base, -1, -2)``), or None."""
    base = g.base
    if (type(base) is _ndarray and base.flags.owndata and base.flags.c_contiguous and base.flags.writeable
            and base.shape == g.shape and base.dtype == g.dtype):
        g_t = _swap(g)
        if g_t.strides == base.strides and g_t.ctypes.data == base.ctypes.data:
            return base
    return None


# Every path of _inv_vjp returns a new array (or a view of one) that nothing else
# holds, and _inv_vjp_in_place returns Ḡ's own memory or that: the reverse sweep may
# add the other cotangents of X into the result in place, and hands _inv_vjp_in_place
# the cotangents it owns (kronvec/_tracer.py, reverse_sweep).
_inv_vjp.returns_fresh = True
_inv_vjp.in_place = _inv_vjp_in_place


def _inv_jacobian(ans, X, names):
    if np.ndim(ans) > 2:  # block k: -(X_k⁻ᵀ ⊗ X_k⁻¹)  (notes/derivatives.md §24)
        members = stack_members(ans)
        name = derived_label("-blockdiag(inv({0})ₖᵀ ⊗ inv({0})ₖ)", names[0])
        return BatchedKron(_swap(members), members, -1.0, name=name)
    inverse = Dense(ans, name=derived_label("inv({})", names[0]))
    return linear_map(inverse, inverse, np.shape(X), scale=-1.0)


inv = register(Primitive(
    _inv_impl, name="linalg.inv",
    # d(X⁻¹) = -X⁻¹ dX X⁻¹  ⇒  X̄ = -X⁻ᵀ Ḡ X⁻ᵀ   (Matrix Cookbook eq. (59))
    vjps={0: _inv_vjp},
    jacobians={0: _inv_jacobian},
    label=lambda a: derived_label("inv({})", a),
    formula="-(X⁻ᵀ ⊗ X⁻¹)",
    reference="Magnus–Neudecker ch. 8.4; Matrix Cookbook eq. (59)",
    samples=_samples.one_square, param_names=("X",), rule_names={0: "inv"},
    edge_cases={"1×1": lambda rng: (np.array([[2.5]]),), "negative determinant": lambda rng: (
        np.array([[1.0, 2.0], [3.0, 1.0]]),)},
    fuzz=lambda Y, c: np.linalg.inv(_samples.shifted(_samples.square_of(Y))),
    signature="(m,m)->(m,m)",
))


@numpy_function(np.linalg.inv)
def _inv(a):
    result = bind(inv, a)
    if isinstance(result, Node) and isinstance(a, Node) and a._trace is result._trace:
        trace = result._trace
        if trace.memo is None:
            trace.memo = {}
        trace.memo[("inverse", a._index)] = result
    return result


# ------------------------------------------------------------------ adjugate
def _products_of_all_but_one(s):
    """``w[i] = ∏_{j≠i} s_j`` without division (exact at zeros).

    Prefix and suffix products, unless the singular values span so many
    orders of magnitude that a partial product could under- or overflow
    where the whole is representable: then each running product is carried
    as mantissa and exponent (``np.frexp``) and scaled once at the end.
    """
    n = s.size
    positive = s[s > 0]
    # Partial products of values within √(largest float) of 1 can neither overflow nor underflow.
    safe = math.sqrt(float(np.finfo(s.dtype).max)) ** (1.0 / max(n - 1, 1))
    if positive.size == 0 or (float(positive.max()) < safe and float(positive.min()) > 1.0 / safe):
        one = np.ones(1, dtype=s.dtype)  # a Python 1.0 here would promote float32 to float64
        prefix = np.concatenate((one, np.cumprod(s[:-1])))
        suffix = np.concatenate((np.cumprod(s[::-1][:-1])[::-1], one))
        return prefix * suffix
    mantissas, exponents = np.frexp(s.astype(np.float64))
    w = np.empty(n)
    for i in range(n):
        mantissa, exponent = 1.0, 0
        for j in range(n):
            if j != i:
                mantissa, shift = math.frexp(mantissa * mantissas[j])
                exponent += shift + int(exponents[j])
        with np.errstate(over="ignore"):
            w[i] = math.ldexp(mantissa, exponent) if exponent < 1100 else math.copysign(math.inf, mantissa)
    return w.astype(s.dtype)


def adjugate_values(X):
    """The adjugate adj(X) (transposed cofactor matrix), exact for singular X.

    From the SVD X = UΣVᵀ, ``adj(X) = det(U)·det(V)·V·adj(Σ)·Uᵀ`` with
    ``adj(Σ) = diag(∏_{j≠i} σ_j)``: no division by det(X), so rank n−1 gives
    the rank-one adjugate and rank ≤ n−2 gives exactly zero (uses
    ``adj(AB) = adj(B)adj(A)`` and ``adj(Q) = det(Q)Qᵀ`` for orthogonal Q).

    Raises
    ------
    ValueError
        When an entry of adj(X) overflows (is not representable).
    """
    if np.ndim(X) > 2:  # member by member, exact at singular members (stacks.stack_adjugate)
        return stacks.stack_adjugate(stacks.square_stack(X, "adjugate"), "adjugate")
    X = _square_matrix(X, "adjugate")
    n = X.shape[0]
    if n == 0:
        return np.zeros((0, 0), dtype=X.dtype)
    if n == 1:
        return np.ones((1, 1), dtype=X.dtype)
    if n == 2:  # exact: adj [[a, b], [c, d]] = [[d, -b], [-c, a]]
        return np.array([[X[1, 1], -X[0, 1]], [-X[1, 0], X[0, 0]]])
    U, s, Vt = np.linalg.svd(X)
    w = _products_of_all_but_one(s)
    if not np.all(np.isfinite(w)):
        raise ValueError(
            f"det: the {n}×{n} matrix's adjugate (the gradient of det) overflows "
            f"{X.dtype}: a product of {n - 1} of its singular values exceeds the largest float"
        )
    sign = np.sign(np.linalg.det(U)) * np.sign(np.linalg.det(Vt))
    return (sign * (Vt.T * w)) @ U.T


def _products_of_all_but_two(s):
    """``C[i, j] = ∏_{k ≠ i, j} s_k`` for i ≠ j and 0 on the diagonal, without division."""
    n = s.size
    C = np.zeros((n, n), dtype=s.dtype)
    for i in range(n):
        C[i, np.arange(n) != i] = _products_of_all_but_one(np.delete(s, i))
    return C


def det_hessian_operator(X):
    """Hessian of X ↦ |X|: the Jacobian of vec ∇|X| = vec adj(X)ᵀ, exact at every rank.

    With the SVD X = UΣVᵀ and Ẽ = Uᵀ dX V, ``|X + dX| = s·|Σ + Ẽ|`` with
    s = det(U)det(V) = ±1, whose second-order term is
    ``Σ_{i<j} c_ij (Ẽ_ii Ẽ_jj − Ẽ_ij Ẽ_ji)`` with ``c_ij = ∏_{k≠i,j} σ_k``.
    Nothing is divided by a singular value, so singular matrices get their
    exact Hessians.  Returns ``s·(V ⊗ U)·M·(Vᵀ ⊗ Uᵀ)`` where M acts on vec Ẽ as
    ``Ẽ ↦ −C ∘ Ẽᵀ + diag(C·diag(Ẽ))``.
    """
    X = _square_matrix(X, "det_hessian")
    n = X.shape[0]
    if n <= 1:  # |X| is linear (or constant): its Hessian vanishes
        return Zero((n * n, n * n), X.dtype)
    U, s, Vt = np.linalg.svd(X)
    sign = float(np.sign(np.linalg.det(U)) * np.sign(np.linalg.det(Vt)))
    C = _products_of_all_but_two(s)
    diagonal = Selection(np.arange(n) * (n + 1), n * n)  # vec E ↦ diag E
    middle = algebra.add(
        algebra.multiply(Diag(vec(-C)), Commutation(n, n)),
        algebra.multiply(diagonal.T, algebra.multiply(Dense(C), diagonal)),
    )
    to_svd_basis = Kron(Dense(Vt), Dense(U.T))  # vec(Uᵀ W V)
    from_svd_basis = Kron(Dense(Vt.T), Dense(U))  # vec(U G Vᵀ)
    return algebra.scale(algebra.multiply(from_svd_basis, algebra.multiply(middle, to_svd_basis)), sign)


def _adjugate_vjp(g, ans, X):
    if _is_stack(X) or _is_stack(g):
        return _stack_adjugate_vjp(g, ans, X)
    if not isinstance(X, Node) and not isinstance(g, Node):
        # Exact at every rank: D vec adj(X) = K·H with H the (symmetric) Hessian of
        # |X|, so X̄ = Hᵀ K vec Ḡ = H vec(Ḡᵀ).
        g = np.asarray(g)
        return unvec(det_hessian_operator(np.asarray(X)).matvec(vec(g.T)), np.shape(X))
    # Traced (third-order) use: for invertible X, adj X = |X| X⁻¹, so
    # d adj = |X| (tr(X⁻¹dX) X⁻¹ − X⁻¹ dX X⁻¹) and X̄ = |X| (⟨Ḡ, X⁻¹⟩ X⁻ᵀ − X⁻ᵀ Ḡ X⁻ᵀ).
    X_inv = _inverse_for_derivative(X)
    return np.linalg.det(X) * (np.sum(g * X_inv) * X_inv.T - X_inv.T @ g @ X_inv.T)


def _stack_adjugate_vjp(g, ans, X):
    if not isinstance(X, Node) and not isinstance(g, Node):
        # member by member X̄_k = H_k vec(Ḡ_kᵀ), exact at every rank (as in the 2-D case)
        return stacks.stack_det_hessian_apply(np.asarray(X), _swap(np.asarray(g)))
    # Traced (third order): X̄_k = |X_k| (⟨Ḡ_k, X_k⁻¹⟩ X_k⁻ᵀ − X_k⁻ᵀ Ḡ_k X_k⁻ᵀ), invertible members
    X_inv = _inverse_for_derivative(X, "adjugate")
    inner = np.sum(np.sum(g * X_inv, axis=-1), axis=-1)
    X_inv_t = _swap(X_inv)
    return _per_member(np.linalg.det(X)) * (_per_member(inner) * X_inv_t - np.matmul(np.matmul(X_inv_t, g), X_inv_t))


def _adjugate_jacobian(ans, X, names):
    X = np.asarray(X)
    n = X.shape[-1]
    if X.ndim == 2:
        # D vec adj(X) = K_{n,n} · D vec adj(X)ᵀ = K_{n,n} · (Hessian of |X|), exact at any rank.
        return algebra.multiply(Commutation(n, n), det_hessian_operator(X))
    # Member k's block K_{n,n}·H_k, column b the image of the b-th unit matrix E_b:
    # K vec(H_k E_b) = vec((H_k E_b)ᵀ), i.e. the row-major entries of H_k E_b.
    members = stack_members(X)
    blocks = np.empty((members.shape[0], n * n, n * n), dtype=np.result_type(X.dtype, np.float32))
    for b in range(n * n):
        unit = np.zeros((n, n), dtype=blocks.dtype)
        unit[b % n, b // n] = 1.0  # vec(E_b) = e_b, column-major
        blocks[:, :, b] = stacks.stack_det_hessian_apply(members, unit).reshape(-1, n * n)
    return BatchedDense(blocks, name=derived_label("blockdiag(D adj({})ₖ)", names[0]))


adjugate = register(Primitive(
    adjugate_values, name="adjugate",
    vjps={0: _adjugate_vjp},
    # D vec adj(X) = K_{n,n} · D vec adj(X)ᵀ = K_{n,n} · (Hessian of |X|), exact at any rank.
    jacobians={0: _adjugate_jacobian},
    label=lambda a: derived_label("adj({})", a),
    formula="D vec adj(X) = K_{n,n}·H, H = s·(V ⊗ U)·(diag(−vec C)·K + Eᵀ C E)·(Vᵀ ⊗ Uᵀ)",
    reference="second-order expansion of det(Σ + UᵀdXV) in the SVD X = UΣVᵀ; Magnus–Neudecker ch. 8.3",
    samples=_samples.one_square_for_det, param_names=("X",),
    # Its second derivative (det's third) goes through X⁻¹: loud at singular X.
    edge_cases={"rank n−1": lambda rng: _samples.Sample(
        (np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),), max_order=1),
                "rank n−2": lambda rng: _samples.Sample((np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0]),), max_order=1)},
    signature="(m,m)->(m,m)", entire=True,
))


# ---------------------------------------------------------------- determinant
_DET = "np.linalg.det"


def _det_vjp(g, ans, X):
    if type(X) is _ndarray and not isinstance(g, Node):  # the reverse sweep on plain values
        if X.ndim > 2:  # X̄_k = ḡ_k adj(X_k)ᵀ, exact at singular members
            return _per_member(g) * _swap(stacks.stack_adjugate(X, _DET))
        return g * adjugate_values(X).T
    if _is_stack(X):
        # Traced (second order): the recorded batched adjugate, whose own derivative
        # (the det Hessian, member by member) is exact at singular members too.
        return _per_member(g) * _swap(bind(adjugate, X))
    return g * np.transpose(bind(adjugate, X))  # traced: recorded, so its own derivative follows


def _det_impl(X):
    if type(X) is not _ndarray or X.ndim != 2:
        if np.ndim(X) > 2:
            return np.linalg.det(stacks.square_stack(X, _DET))
    return np.linalg.det(_square_matrix(X, _DET))


def _det_jacobian(ans, X, names):
    X = np.asarray(X)
    if X.ndim > 2:  # member k's row: vec(adj(X_k)ᵀ)ᵀ
        rows = vec_members(_swap(stack_members(stacks.stack_adjugate(X, _DET))))
        return BatchedDense(rows[:, None, :], name=derived_label("blockdiag(vec(adj({})ₖᵀ)ᵀ)", names[0]))
    return RowVector(vec(adjugate_values(X).T), name=derived_label("adj({})ᵀ", names[0]))

det = register(Primitive(
    _det_impl, name="linalg.det",
    # d|X| = tr(adj(X) dX)  ⇒  X̄ = ḡ · adj(X)ᵀ, exact at singular X
    vjps={0: _det_vjp},
    jacobians={0: _det_jacobian},
    label=lambda a: derived_label("|{}|", a),
    formula="vec(adj(X)ᵀ)ᵀ = |X| vec(X⁻ᵀ)ᵀ",
    reference="Magnus–Neudecker ch. 8.3; Matrix Cookbook eq. (49); seed note 003",
    samples=_samples.one_square_for_det, param_names=("X",), rule_names={0: "det"},
    # Exact up to second order at every rank; the third derivative needs X⁻¹.
    edge_cases={"rank n−1": lambda rng: _samples.Sample(
        (np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),), max_order=2),
                "zero matrix": lambda rng: _samples.Sample((np.zeros((3, 3)),), max_order=2),
                "1×1": lambda rng: (np.array([[-2.0]]),)},
    fuzz=lambda Y, c: Y * np.linalg.det(_samples.shifted(_samples.square_of(Y))),
    signature="(m,m)->()", entire=True,
))


@numpy_function(np.linalg.det)
def _det(a):
    return bind(det, a)


# ------------------------------------------------------------ log-determinant
_SLOGDET = "np.linalg.slogdet"

def _logabsdet_impl(X):
    if type(X) is not _ndarray or X.ndim != 2:
        if np.ndim(X) > 2:
            return stacks.stack_results(stacks.square_stack(X, _SLOGDET), _SLOGDET).slogdet()[1]
    return factorize(_square_matrix(X, _SLOGDET), _SLOGDET).logabsdet()[1]


def _logabsdet_vjp(g, ans, X):
    # d ln|X| = tr(X⁻¹ dX)  ⇒  X̄ = ḡ X⁻ᵀ   (Matrix Cookbook eq. (57)), member by member
    if type(X) is _ndarray and X.ndim == 2:
        # a plain matrix, the common case: the one the forward pass factored (square: its
        # impl checked), whose factorization the call's scope holds
        return _scaled(g, factorize(X, _SLOGDET).inverse().T)
    if not _is_stack(X):
        return _scaled(g, _inverse_for_derivative(X, _SLOGDET).T)
    if isinstance(X, Node):
        return _per_member(g) * _swap(_inverse_for_derivative(X, _SLOGDET))
    inverse = stacks.stack_results(stacks.square_stack(X, _SLOGDET), _SLOGDET).inverse_for_derivative()
    if type(g) is _ndarray and g.dtype == inverse.dtype and bool(np.all(g == 1.0)):
        # ḡ = 1 for every member (the cotangent of Σₖ ln|X_k|): X⁻ᵀ itself, a view of the
        # shared inverse (gradients are copied before they are returned, never aliased).
        return _swap(inverse)
    return _per_member(g) * _swap(inverse)


def _logabsdet_jacobian(ans, X, names):
    X = np.asarray(X)
    if X.ndim > 2:  # member k's row: vec(X_k⁻ᵀ)ᵀ
        inverse = stacks.stack_results(stacks.square_stack(X, _SLOGDET), _SLOGDET).inverse_for_derivative()
        rows = vec_members(_swap(stack_members(inverse)))
        return BatchedDense(rows[:, None, :], name=derived_label("blockdiag(vec(inv({})ₖᵀ)ᵀ)", names[0]))
    return RowVector(vec(_inverse_for_derivative(X, _SLOGDET).T), name=derived_label("inv({})ᵀ", names[0]))


logabsdet = register(Primitive(
    _logabsdet_impl, name="linalg.slogdet",
    vjps={0: _logabsdet_vjp},
    jacobians={0: _logabsdet_jacobian},
    label=lambda a: derived_label("ln|{}|", a),
    formula="vec(X⁻ᵀ)ᵀ",
    reference="Magnus–Neudecker ch. 8.3; Matrix Cookbook eq. (57); seed note 003",
    samples=_samples.one_square, param_names=("X",), rule_names={0: "logdet"},
    edge_cases={"negative determinant": lambda rng: (np.array([[1.0, 2.0], [3.0, 1.0]]),)},
    fuzz=lambda Y, c: Y * np.linalg.slogdet(_samples.shifted(_samples.square_of(Y)))[1],
    signature="(m,m)->()",
))


def _scaled(c, A):
    """c·A; for c = 1.0 (a unit cotangent) A itself (a view such as X⁻ᵀ)."""
    if type(c) is float and c == 1.0 and type(A) is _ndarray:
        return A
    return c * A


class SlogdetResult(tuple):
    """``(sign, logabsdet)`` like NumPy's; the sign is a constant of the point.

    Built as ``SlogdetResult((sign, logabsdet))`` (tuple's own constructor).
    """

    __slots__ = ()

    @property
    def sign(self):
        return self[0]

    @property
    def logabsdet(self):
        return self[1]


def _determinant_sign_impl(X):
    if type(X) is not _ndarray or X.ndim != 2:
        if np.ndim(X) > 2:
            return stacks.stack_results(stacks.square_stack(X, _SLOGDET), _SLOGDET).slogdet()[0]
    return factorize(_square_matrix(X, _SLOGDET), _SLOGDET).logabsdet()[0]


def _determinant_sign_vjp(g, ans, X):
    return np.zeros(shape_of(X), dtype=np.result_type(static_value(X).dtype, np.float32))


determinant_sign = register(Primitive(
    _determinant_sign_impl, name="linalg.slogdet.sign",
    vjps={0: _determinant_sign_vjp},
    label=lambda a: derived_label("sign|{}|", a),
    formula="0 (the sign of det X is constant wherever det X ≠ 0)",
    reference="Magnus–Neudecker ch. 8.3 (d|X| = |X| tr(X⁻¹dX): |X| keeps its sign near X)",
    samples=_samples.one_square_for_det, param_names=("X",),
    signature="(m,m)->()",
))


@numpy_function(np.linalg.slogdet)
def _slogdet(a):
    # One factorization of the plain matrix gives both fields: the sign, a
    # constant of the point, and ln|det X|, the recorded value (its impl finds
    # the same factorization in the call's scope).
    logabsdet_of_a = bind(logabsdet, a)  # (its impl factors the plain matrix, once per call)
    if isinstance(a, Node) and a._trace.compiling is None:
        value = a._value
        if type(value) is _ndarray and value.ndim == 2:
            # The common case, read directly: a matrix traced once (no compile guard, so
            # reading it is no decision to record), square (logabsdet's impl checked it)
            # and factored by that impl in this call's scope.
            return SlogdetResult((factorize(value, _SLOGDET).logabsdet()[0], logabsdet_of_a))
    if compile_guard(a) is not None:
        # A recording made for replay records the sign too (a replay recomputes it;
        # kronvec._compiled.guard): its derivative is 0.
        return SlogdetResult((bind(determinant_sign, a), logabsdet_of_a))
    plain = plain_value(a)
    if type(plain) is not _ndarray or plain.ndim != 2:
        if np.ndim(plain) > 2:  # the stack's slogdet, computed once per call (stacks.stack_results)
            sign = stacks.stack_results(stacks.square_stack(plain, _SLOGDET), _SLOGDET).slogdet()[0]
            return SlogdetResult((sign, logabsdet_of_a))
    sign = factorize(_square_matrix(plain, _SLOGDET), _SLOGDET).logabsdet()[0]
    return SlogdetResult((sign, logabsdet_of_a))


# --------------------------------------------------------------------- solve
_SOLVE = "np.linalg.solve"


def _solve_impl(A, B):
    if np.ndim(A) > 2 or np.ndim(B) > 2:
        return _solve_stacks(A, B)
    A = _square_matrix(A, _SOLVE)
    B = np.asarray(B)
    if A.dtype.char == "f" and B.dtype.kind in "fiub" and np.result_type(A.dtype, B.dtype) == np.float64:
        A = A.astype(np.float64)  # NumPy solves in the common type: a float64 (or int) B makes it float64
    if B.ndim not in (1, 2) or B.shape[0] != A.shape[0]:
        raise ValueError(
            f"np.linalg.solve: A of shape {A.shape} needs B with {A.shape[0]} rows "
            f"(1-D or 2-D); got B of shape {B.shape}"
        )
    return factorize(A, _SOLVE).solve(B)


def _solve_layout(a_shape, b_shape):
    """How NumPy reads ``solve(A, B)`` with a stack: B (n,) is one vector for every
    member; otherwise B is a stack (…, n, k).  Returns (B as (…, n, k) shape,
    the broadcast batch shape), or the ValueError naming the shapes."""
    a_shape, b_shape = tuple(a_shape), tuple(b_shape)
    if len(a_shape) < 2 or a_shape[-1] != a_shape[-2]:
        # (NumPy's error type: LinAlgError, a ValueError)
        raise np.linalg.LinAlgError(f"{_SOLVE}: A must be a square matrix or a stack (…, n, n); got shape {a_shape}")
    n = a_shape[-1]
    b_matrix = b_shape + (1,) if len(b_shape) == 1 else b_shape
    if len(b_shape) == 0 or b_matrix[-2] != n:
        raise ValueError(
            f"{_SOLVE}: A of shape {a_shape} needs B of shape ({n},) or (…, {n}, k) "
            f"(NumPy's rule: B is a vector only when it is 1-D); got B of shape {b_shape}"
        )
    return b_matrix, stacks.broadcast_batch(a_shape, b_matrix, _SOLVE)


def _solve_stacks(A, B):
    A, B = np.asarray(A), np.asarray(B)
    if A.dtype.kind == "c" or B.dtype.kind == "c":
        raise TypeError(f"{_SOLVE}: complex input ({A.dtype}, {B.dtype}); kronvec rules are real")
    _solve_layout(A.shape, B.shape)
    try:
        return np.linalg.solve(A, B)
    except np.linalg.LinAlgError:
        if A.ndim == 2:
            raise np.linalg.LinAlgError(f"{_SOLVE}: the {A.shape[0]}×{A.shape[0]} matrix A is singular") from None
        raise stacks.singular_members_error(A, _SOLVE) from None


def _transposed_solve(A, g):
    """A⁻ᵀ G member by member.  LAPACK's LU of Aᵀ pivots otherwise than that of A, and can
    meet an exact zero pivot where the forward solve did not (a member singular to working
    precision): there the members' inverses are applied, as the 2-D rule applies A⁻¹, with
    their ill-conditioning warning, or their error naming the singular members."""
    try:
        return np.linalg.solve(_swap(A), g)
    except np.linalg.LinAlgError:
        if type(A) is not np.ndarray:  # (traced: kronvec's own solve raised, naming it)
            raise
        inverse = stacks.stack_results(stacks.square_stack(A, _SOLVE), _SOLVE).inverse()
        return np.matmul(_swap(inverse), g)


def _solve_stack_vjp_b(g, ans, A, B):
    # B̄ = A⁻ᵀ Ḡ member by member, summed over the batch axes B was broadcast along
    b_shape = shape_of(B)
    if len(b_shape) == 1:  # one vector for every member: Ḡ (…, n) as columns (…, n, 1)
        B_bar = _transposed_solve(A, np.expand_dims(g, -1))
        return np.reshape(unbroadcast(B_bar, b_shape + (1,)), b_shape)
    return unbroadcast(_transposed_solve(A, g), b_shape)


def _solve_stack_vjp_a(g, ans, A, B):
    # Ā = -A⁻ᵀ Ḡ Xᵀ member by member (X = A⁻¹B), summed over A's broadcast batch axes
    if len(shape_of(B)) == 1:
        g, ans = np.expand_dims(g, -1), np.expand_dims(ans, -1)
    B_bar = _transposed_solve(A, g)
    return unbroadcast(-np.matmul(B_bar, _swap(ans)), shape_of(A))


def _solve_stack_inverses(A, batch):
    """A⁻¹ of every member, broadcast to the batch, as (K, n, n) in vec order."""
    if A.ndim == 2:
        inverse = _inverse_for_derivative(A, _SOLVE)
    else:
        inverse = stacks.stack_results(stacks.square_stack(A, _SOLVE), _SOLVE).inverse()
    return stack_members(np.broadcast_to(inverse, batch + A.shape[-2:]))


def _solve_stack_jacobian_a(ans, A, B, names):
    # block k: -(X_kᵀ ⊗ A_k⁻¹), then the selection that broadcasts A to the batch
    A = np.asarray(A)
    b_matrix, batch = _solve_layout(A.shape, np.shape(B))
    X = np.reshape(ans, batch + b_matrix[-2:])
    blocks = BatchedKron(_swap(stack_members(X)), _solve_stack_inverses(A, batch), -1.0,
                         name=derived_label("-blockdiag(solve({0}, {1})ₖᵀ ⊗ inv({0})ₖ)", *names))
    return algebra.multiply(blocks, broadcast_jacobian(A.shape, batch + A.shape[-2:]))


def _solve_stack_jacobian_b(ans, A, B, names):
    # block k: I_k ⊗ A_k⁻¹, then the selection that broadcasts B to the batch
    A = np.asarray(A)
    b_matrix, batch = _solve_layout(A.shape, np.shape(B))
    inverses = _solve_stack_inverses(A, batch)
    blocks = BatchedKron(b_matrix[-1], inverses, name=derived_label("blockdiag(I ⊗ inv({})ₖ)", names[0]))
    return algebra.multiply(blocks, broadcast_jacobian(b_matrix, batch + b_matrix[-2:]))


def _solve_vjp_b(g, ans, A, B):
    if len(shape_of(A)) > 2 or len(shape_of(B)) > 2:
        return _solve_stack_vjp_b(g, ans, A, B)
    return _solve_transposed(A, g)


def _solve_transposed(A, g):
    """A⁻ᵀḠ: traced when A or Ḡ is, else from A's factorization (shared with the
    forward pass); a cotangent c·I (below a trace) gives c·A⁻ᵀ without a solve."""
    if isinstance(A, Node) or isinstance(g, Node):
        return np.linalg.solve(np.transpose(A), g)
    factors = factorize(_square_matrix(A, _SOLVE), _SOLVE)
    scale = identity_scale(g)
    if scale is not None:
        return _scaled(scale, factors.inverse().T)
    return factors.solve(g, transposed=True)


def _solve_vjp_a(g, ans, A, B):
    # d(A⁻¹B) = -A⁻¹ dA A⁻¹B  ⇒  Ā = -A⁻ᵀ Ḡ (A⁻¹B)ᵀ
    if len(shape_of(A)) > 2 or len(shape_of(B)) > 2:
        return _solve_stack_vjp_a(g, ans, A, B)
    B_bar = _solve_transposed(A, g)
    if len(shape_of(ans)) == 1:
        return -np.reshape(B_bar, (-1, 1)) @ np.reshape(ans, (1, -1))
    return -matmul_2d(B_bar, np.transpose(ans))


def _as_columns(x, n):
    """A 1-D right-hand side (or solution) as the n×1 matrix it stands for."""
    x = np.asarray(x)
    return x.reshape(n, 1) if x.ndim == 1 else x


def _solve_jacobian_a(ans, A, B, names):
    if np.ndim(A) > 2 or np.ndim(B) > 2:
        return _solve_stack_jacobian_a(ans, A, B, names)
    X = _as_columns(ans, np.shape(A)[0])
    A_inv = Dense(_inverse_for_derivative(np.asarray(A), _SOLVE), name=derived_label("inv({})", names[0]))
    return linear_map(A_inv, Dense(X, name=derived_label("solve({}, {})", *names)), np.shape(A), scale=-1.0)


def _solve_jacobian_b(ans, A, B, names):
    if np.ndim(A) > 2 or np.ndim(B) > 2:
        return _solve_stack_jacobian_b(ans, A, B, names)
    B2 = _as_columns(B, np.shape(A)[0])
    A_inv = Dense(_inverse_for_derivative(np.asarray(A), _SOLVE), name=derived_label("inv({})", names[0]))
    return linear_map(A_inv, None, B2.shape)


solve = register(Primitive(
    _solve_impl, name="linalg.solve",
    vjps={0: _solve_vjp_a, 1: _solve_vjp_b},
    jacobians={0: _solve_jacobian_a, 1: _solve_jacobian_b},
    label=lambda a, b: derived_label("solve({}, {})", a, b),
    formula="D_A = -((A⁻¹B)ᵀ ⊗ A⁻¹), D_B = I ⊗ A⁻¹",
    reference="Magnus–Neudecker ch. 8.4 (d(A⁻¹B) = -A⁻¹ dA A⁻¹B)",
    samples=_samples.two_for_solve, param_names=("A", "B"),
    rule_names={0: "solve_wrt_a", 1: "solve_wrt_b"},
    edge_cases={"vector right-hand side": lambda rng: (_samples.well_conditioned(rng, 3), rng.standard_normal(3))},
    fuzz=lambda Y, c: np.linalg.solve(_samples.shifted(Y @ Y.T / Y.shape[1]), Y),
    signature="(m,m),(m,q)->(m,q)",
))


@numpy_function(np.linalg.solve)
def _solve(a, b):
    return bind(solve, a, b)


# ------------------------------------------------------ tensorsolve, tensorinv
# NumPy writes both as a reshape to a square matrix, one solve or inverse, and a
# reshape back (numpy/linalg/_linalg.py); so are they here, with the registered
# reshape, solve and inverse: the derivative is theirs, reindexed (derivatives.md §35).

@numpy_function(np.linalg.tensorsolve)
def _tensorsolve(a, b, axes=None):
    a_shape, b_shape = tuple(shape_of(a)), tuple(shape_of(b))
    if axes is not None:  # (NumPy moves the listed axes of a to the end, in order)
        order = list(range(len(a_shape)))
        for k in axes:
            order.remove(k)
            order.insert(len(a_shape), k)
        a = np.transpose(a, order)
        a_shape = tuple(a_shape[k] for k in order)
    unknown_shape = a_shape[-(len(a_shape) - len(b_shape)):]
    size = math.prod(unknown_shape)
    if math.prod(a_shape) != size ** 2:
        raise np.linalg.LinAlgError(
            "np.linalg.tensorsolve: Input arrays must satisfy the requirement "
            f"prod(a.shape[b.ndim:]) == prod(a.shape[:b.ndim]); got a of shape {a_shape}, b of shape {b_shape}")
    x = np.linalg.solve(np.reshape(a, (size, size)), np.reshape(b, (size,)))
    return np.reshape(x, unknown_shape)


@numpy_function(np.linalg.tensorinv)
def _tensorinv(a, ind=2):
    shape = tuple(shape_of(a))
    if ind <= 0:
        raise ValueError("np.linalg.tensorinv: Invalid ind argument (it must be positive).")
    inverse_shape = shape[ind:] + shape[:ind]
    rows = math.prod(shape[ind:])
    if rows == 0 or math.prod(shape) % rows:
        raise ValueError(f"np.linalg.tensorinv: cannot reshape an array of shape {shape} to ({rows}, -1)")
    return np.reshape(np.linalg.inv(np.reshape(a, (rows, -1))), inverse_shape)


# --------------------------------------------------------------------- trace
def _trace_impl(X):
    if type(X) is _ndarray and X.ndim == 2:
        # NumPy's own arithmetic (ndarray.trace is add.reduce of the diagonal view), without
        # its argument parsing: the value is np.trace's bit for bit (a correctly rounded
        # math.fsum differed from it in the last bit for about a third of random 4×4 matrices)
        return _add_reduce(X.diagonal())
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"np.trace: the trace of a 2-D matrix; got shape {X.shape}")
    return np.trace(X)


def _trace_vjp(g, ans, X):
    if type(X) is _ndarray and type(g) is float:  # the common case: a plain matrix, a unit cotangent
        m, n = X.shape
        if m == n and X.dtype.char in "fd":
            return scaled_identity(g, n, X.dtype)
    m, n = shape_of(X)
    if m == n and not isinstance(g, Node):
        dtype = np.result_type(static_value(X).dtype, np.float32)
        return scaled_identity(float(np.asarray(g).reshape(())), n, dtype)
    return g * np.eye(m, n)


trace = register(Primitive(
    _trace_impl, name="trace",
    # d tr X = tr dX  ⇒  X̄ = ḡ I
    vjps={0: _trace_vjp},
    jacobians={0: lambda ans, X, names: RowVector(
        vec(np.eye(*np.shape(X), dtype=np.result_type(np.asarray(X).dtype, np.float32))), name="I")},
    label=lambda a: derived_label("tr({})", a),
    formula="vec(I)ᵀ",
    reference="Magnus–Neudecker ch. 9; Matrix Cookbook eq. (100)",
    samples=_samples.one_square, param_names=("X",), rule_names={0: "trace"},
    edge_cases={"rectangular": lambda rng: (rng.standard_normal((2, 3)),)},
    fuzz=lambda Y, c: Y * np.trace(Y.T @ Y),
    signature="(m,m)->()", entire=True,
))


@numpy_function(np.trace)
def _trace(a, *args, **kwargs):
    if not args and not kwargs:  # the common spelling, checked first
        value = a._value if isinstance(a, Node) else a  # (a traced matrix: its ndim read directly)
        if (value.ndim if type(value) is _ndarray else len(shape_of(a))) == 2:
            return bind(trace, a)
    return _trace_general(a, *args, **kwargs)


@numpy_function(np.linalg.trace)
def _linalg_trace(x, /, *, offset=0, dtype=None):  # the Array API spelling: the last two axes
    return _trace_general(x, offset, -2, -1, dtype)


def _trace_general(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    refuse_arguments("np.trace", out=(out, None))
    a = in_dtype(a, dtype, "np.trace")
    ndim = len(shape_of(a))
    if offset == 0 and ndim == 2 and {axis1, axis2} <= {-2, -1, 0, 1} and {axis1 % 2, axis2 % 2} == {0, 1}:
        return bind(trace, a)  # (other axes: np.diagonal checks them, NumPy's AxisError)
    return np.sum(_diagonal(a, offset, axis1, axis2), axis=-1)

