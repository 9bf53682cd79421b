"""Products: matmul (and np.dot, np.outer), the Kronecker product, and a
structured operator applied to a traced vector.

d(AB) = dA·B + A·dB, so D_A(AB) = Bᵀ ⊗ I and D_B(AB) = I ⊗ A
(Magnus–Neudecker Thm 2.2, vec(AXB) = (Bᵀ ⊗ A) vec X); the VJPs are
Ā = Ḡ Bᵀ and B̄ = Aᵀ Ḡ.  Stacks of matrices (N-D matmul, broadcast) and
N-D Kronecker products are contractions: their Jacobians come from the
equivalent einsum (:mod:`.contractions`).

Derivations: ``notes/derivatives.md`` §5 and §21.
"""

from __future__ import annotations

import string

import numpy as np

from ..differential import linear_map
from ..operators import Commutation, Dense, Identity, Kron, StructuredOperator, algebra
from .._tracer import Node
from .._vec import vec
from . import _samples
from . import contractions
from ._registry import Primitive, numpy_function, register, ufunc
from ._support import (
    bind,
    derived_label,
    identity_scale,
    infix_label,
    matmul_2d as _matmul_2d,
    refuse_arguments,
    shape_of,
    unbroadcast,
)

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)

__all__ = ["matmul", "kron", "apply_operator"]


def _as_2d_shape(shape, vector_as):
    if len(shape) == 2:
        return tuple(shape)
    return (1, shape[0]) if vector_as == "row" else (shape[0], 1)


def _stacked(a_shape, b_shape):
    """True when either operand is a stack of matrices (N-D): NumPy broadcasts the stacks."""
    return len(a_shape) > 2 or len(b_shape) > 2


def _matmul_subscripts(a_shape, b_shape):
    """np.matmul as einsum subscripts: ``...ij,...jk->...ik``, a vector operand
    without its matrix axis (NumPy's promotion and removal of the unit axis)."""
    a = "...ij" if len(a_shape) > 1 else "j"
    b = "...jk" if len(b_shape) > 1 else "j"
    out = "..." + ("i" if len(a_shape) > 1 else "") + ("k" if len(b_shape) > 1 else "")
    return f"{a},{b}->{out}"


def _matmul_plan(a, b):
    a_shape, b_shape = tuple(shape_of(a)), tuple(shape_of(b))
    return contractions.einsum_plan(_matmul_subscripts(a_shape, b_shape), (a_shape, b_shape))


def _promoted(g, a, b):
    """The stacks as NumPy multiplies them: a vector a as a row (1, k), a vector b
    as a column (k, 1), and the cotangent with the matching unit axes."""
    a_shape, b_shape = shape_of(a), shape_of(b)
    if len(b_shape) == 1:
        b, g = np.reshape(b, (b_shape[0], 1)), np.expand_dims(g, -1)
    if len(a_shape) == 1:
        a, g = np.reshape(a, (1, a_shape[0])), np.expand_dims(g, -2)
    return g, a, b


def _stack_vjp_left(g, a, b):
    # Ā = Ḡ Bᵀ matrix by matrix, summed over the stack axes a was broadcast along
    g, a2, b2 = _promoted(g, a, b)
    return np.reshape(unbroadcast(np.matmul(g, np.swapaxes(b2, -1, -2)), shape_of(a2)), shape_of(a))


def _stack_vjp_right(g, a, b):
    # B̄ = Aᵀ Ḡ matrix by matrix, summed over the stack axes b was broadcast along
    g, a2, b2 = _promoted(g, a, b)
    return np.reshape(unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g), shape_of(b2)), shape_of(b))


def _scaled(c, A):
    """c·A; for c = 1.0 (a unit cotangent) A itself, often a view such as Bᵀ.

    Cotangents may be views: the reverse sweep never writes into one, and the
    transformations copy whatever could alias before it reaches the user.
    """
    if c == 1.0 and type(A) is _ndarray:
        return A
    return c * A


def _matmul_impl(a, b):
    if type(a) is _ndarray and type(b) is _ndarray and a.ndim == 2 and b.ndim == 2:
        return a.dot(b)  # the common case, without the checks below (matmul_2d's product)
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        raise ValueError("matmul: scalar operands are not allowed, use * instead")
    a_shape, b_shape = np.shape(a), np.shape(b)
    if _stacked(a_shape, b_shape):
        return np.matmul(a, b)
    a2, b2 = _as_2d_shape(a_shape, "row"), _as_2d_shape(b_shape, "column")
    if len(a_shape) == 1 and len(b_shape) == 1:
        return np.matmul(a, b)  # an inner product: no BLAS thread
    # a matrix-vector product, as a 2-D one on the factorizations' BLAS
    product = _matmul_2d(np.reshape(np.asarray(a), a2), np.reshape(np.asarray(b), b2))
    return product.reshape(-1) if len(a_shape) == 1 or len(b_shape) == 1 else product


def _matmul_vjp_left(g, ans, a, b):
    if type(a) is _ndarray and type(b) is _ndarray and a.ndim == 2 and b.ndim == 2:
        # plain matrices, the common case (checked without shape_of): Ā = Ḡ Bᵀ
        scale = identity_scale(g)
        if scale is None:
            return _matmul_2d(g, b.T)
        return b.T if scale == 1.0 else scale * b.T  # (c·I) Bᵀ (_scaled, inline)
    a_shape, b_shape = shape_of(a), shape_of(b)
    if len(a_shape) == 2 and len(b_shape) == 2:  # Ā = Ḡ Bᵀ
        scale = identity_scale(g)
        return _matmul_2d(g, b.T) if scale is None else _scaled(scale, b.T)  # (c·I) Bᵀ
    if _stacked(a_shape, b_shape):
        return _stack_vjp_left(g, a, b)
    a2, b2 = _as_2d_shape(a_shape, "row"), _as_2d_shape(b_shape, "column")
    g2 = np.reshape(g, (a2[0], b2[1]))
    b_2d = np.reshape(b, b2) if len(b_shape) != 2 else b
    return np.reshape(_matmul_2d(g2, b_2d.T), a_shape)


def _matmul_vjp_right(g, ans, a, b):
    if type(a) is _ndarray and type(b) is _ndarray and a.ndim == 2 and b.ndim == 2:
        # plain matrices, the common case (checked without shape_of): B̄ = Aᵀ Ḡ
        scale = identity_scale(g)
        if scale is None:
            return _matmul_2d(a.T, g)
        return a.T if scale == 1.0 else scale * a.T  # Aᵀ (c·I) (_scaled, inline)
    a_shape, b_shape = shape_of(a), shape_of(b)
    if len(a_shape) == 2 and len(b_shape) == 2:  # B̄ = Aᵀ Ḡ
        scale = identity_scale(g)
        return _matmul_2d(a.T, g) if scale is None else _scaled(scale, a.T)  # Aᵀ (c·I)
    if _stacked(a_shape, b_shape):
        return _stack_vjp_right(g, a, b)
    a2, b2 = _as_2d_shape(a_shape, "row"), _as_2d_shape(b_shape, "column")
    g2 = np.reshape(g, (a2[0], b2[1]))
    a_2d = np.reshape(a, a2) if len(a_shape) != 2 else a
    return np.reshape(_matmul_2d(a_2d.T, g2), b_shape)


def _matmul_jacobian_left(ans, a, b, names):
    # d(AB) = dA·B  ⇒  Bᵀ ⊗ I (for stacks: the contraction of B with each matrix of dA)
    if _stacked(np.shape(a), np.shape(b)):
        return contractions.einsum_jacobian(_matmul_plan(a, b), 0, (a, b), names)
    a2, b2 = _as_2d_shape(np.shape(a), "row"), _as_2d_shape(np.shape(b), "column")
    return linear_map(None, Dense(np.reshape(b, b2), name=names[1]), a2)


def _matmul_jacobian_right(ans, a, b, names):
    # d(AB) = A·dB  ⇒  I ⊗ A (for stacks: the contraction of A with each matrix of dB)
    if _stacked(np.shape(a), np.shape(b)):
        return contractions.einsum_jacobian(_matmul_plan(a, b), 1, (a, b), names)
    a2, b2 = _as_2d_shape(np.shape(a), "row"), _as_2d_shape(np.shape(b), "column")
    return linear_map(Dense(np.reshape(a, a2), name=names[0]), None, b2)


_product_label = infix_label("·")


matmul = register(Primitive(
    _matmul_impl, name="matmul",
    vjps={0: _matmul_vjp_left, 1: _matmul_vjp_right},
    jacobians={0: _matmul_jacobian_left, 1: _matmul_jacobian_right},
    label=_product_label,
    formula="D_A(AB) = Bᵀ ⊗ I, D_B(AB) = I ⊗ A (stacks: the einsum ...ij,...jk->...ik)",
    reference="Magnus–Neudecker Thm 2.2 and ch. 9; seed note 003 (product rule)",
    samples=_samples.two_for_matmul, param_names=("A", "B"),
    rule_names={0: "matmul_wrt_left", 1: "matmul_wrt_right"},
    edge_cases={"matrix @ vector": lambda rng: (rng.standard_normal((2, 3)), rng.standard_normal(3)),
                "vector @ matrix": lambda rng: (rng.standard_normal(2), rng.standard_normal((2, 3))),
                "broadcast stacks": lambda rng: (rng.standard_normal((2, 1, 2, 3)), rng.standard_normal((3, 3, 2))),
                "stack @ vector": lambda rng: (rng.standard_normal((2, 2, 3)), rng.standard_normal(3)),
                "vector @ stack": lambda rng: (rng.standard_normal(2), rng.standard_normal((3, 2, 2)))},
    fuzz=lambda Y, c: c.left(Y.shape[0]) @ Y,
    signature="(m,k),(k,q)->(m,q)", entire=True,
))
ufunc(np.matmul, matmul)


@numpy_function(np.matmul)
def _matmul(x1, x2, out=None, **kwargs):
    refuse_arguments("np.matmul", out=(out, None), **{k: (v, None) for k, v in kwargs.items()})
    return bind(matmul, x1, x2)


@numpy_function(np.dot)
def _dot(a, b, out=None):
    refuse_arguments("np.dot", out=(out, None))
    a_ndim, b_ndim = len(shape_of(a)), len(shape_of(b))
    if a_ndim == 0 or b_ndim == 0:
        return a * b
    if a_ndim > 2 or b_ndim > 2:  # N-D: a's last axis against b's second-to-last
        return bind(contractions.dot, a, b)
    return bind(matmul, a, b)


@numpy_function(np.outer)
def _outer(a, b, out=None):
    refuse_arguments("np.outer", out=(out, None))
    # NumPy's own spelling: both flattened (row-major), a column times a row
    return np.reshape(a, (-1, 1)) * np.reshape(b, (1, -1))


# ---------------------------------------------------------------------- kron
def _kron_impl(A, B):
    return np.kron(A, B)


def _kron_labels(a_shape, b_shape):
    """np.kron of N-D arrays as an outer product: A's axes labelled 'A', 'B'…,
    B's 'a', 'b'… (the shorter shape padded with leading 1s, as NumPy does).
    Result axis t splits row-major into (A's axis t, B's axis t): index i·q + j.
    Returns A's and B's labels, the split labels in that order and in the
    order (B's, A's), whose column-major vec is vec(A ⊗ B) (position j + q·i)."""
    ndim = max(len(a_shape), len(b_shape))
    upper, lower = string.ascii_uppercase[:ndim], string.ascii_lowercase[:ndim]
    a, b = upper[ndim - len(a_shape):], lower[ndim - len(b_shape):]
    split = swapped = ""
    for big, small in zip(upper, lower):
        split += big * (big in a) + small * (small in b)
        swapped += small * (small in b) + big * (big in a)
    return a, b, split, swapped


def _kron_nd_vjp(position):
    def vjp(g, ans, A, B):
        # Ḡ split into (A's axis, B's axis) pairs is the cotangent of the outer product
        a_shape, b_shape = tuple(shape_of(A)), tuple(shape_of(B))
        a, b, split, _ = _kron_labels(a_shape, b_shape)
        plan = contractions.einsum_plan(f"{a},{b}->{split}", (a_shape, b_shape))
        split_shape = tuple(plan.sizes[c] for c in split)
        return contractions.einsum_cotangent(plan, position, np.reshape(g, split_shape), (A, B))

    return vjp


def _kron_nd_jacobian(ans, A, B, names, position):
    a_shape, b_shape = np.shape(A), np.shape(B)
    a, b, _, swapped = _kron_labels(a_shape, b_shape)
    plan = contractions.einsum_plan(f"{a},{b}->{swapped}", (a_shape, b_shape))
    return contractions.einsum_jacobian(plan, position, (A, B), names)


def _both_matrices(A, B):
    return len(shape_of(A)) == 2 and len(shape_of(B)) == 2


def _kron_vjp_a(g, ans, A, B):
    if not _both_matrices(A, B):
        return _kron_nd_vjp(0)(g, ans, A, B)
    (m, n), (p, q) = shape_of(A), shape_of(B)
    blocks = np.reshape(g, (m, p, n, q))  # G[i*p + k, j*q + l] = blocks[i, k, j, l]
    return np.sum(blocks * np.reshape(B, (1, p, 1, q)), axis=(1, 3))


def _kron_vjp_b(g, ans, A, B):
    if not _both_matrices(A, B):
        return _kron_nd_vjp(1)(g, ans, A, B)
    (m, n), (p, q) = shape_of(A), shape_of(B)
    blocks = np.reshape(g, (m, p, n, q))
    return np.sum(blocks * np.reshape(A, (m, 1, n, 1)), axis=(0, 2))


def _regrouping(m, n, p, q):
    """I_n ⊗ K_{q,m} ⊗ I_p: takes vec A ⊗ vec B to vec(A ⊗ B) (Magnus–Neudecker Thm 3.10)."""
    return Kron(Identity(n), Kron(Commutation(q, m), Identity(p)))


def _kron_jacobian_a(ans, A, B, names):
    # vec(A ⊗ B) = R (vec A ⊗ vec B) = R (I_{mn} ⊗ vec B) vec A
    if not _both_matrices(A, B):
        return _kron_nd_jacobian(ans, A, B, names, 0)
    (m, n), (p, q) = np.shape(A), np.shape(B)
    column = Kron(Identity(m * n), Dense(vec(B).reshape(-1, 1), name=derived_label("vec({})", names[1])))
    return algebra.multiply(_regrouping(m, n, p, q), column)


def _kron_jacobian_b(ans, A, B, names):
    # vec(A ⊗ B) = R (vec A ⊗ I_{pq}) vec B
    if not _both_matrices(A, B):
        return _kron_nd_jacobian(ans, A, B, names, 1)
    (m, n), (p, q) = np.shape(A), np.shape(B)
    column = Kron(Dense(vec(A).reshape(-1, 1), name=derived_label("vec({})", names[0])), Identity(p * q))
    return algebra.multiply(_regrouping(m, n, p, q), column)


kron = register(Primitive(
    _kron_impl, name="kron",
    vjps={0: _kron_vjp_a, 1: _kron_vjp_b},
    jacobians={0: _kron_jacobian_a, 1: _kron_jacobian_b},
    label=infix_label(" ⊗ "),
    formula="D_A(A ⊗ B) = (I_n ⊗ K_{q,m} ⊗ I_p)(I_{mn} ⊗ vec B), D_B = (I_n ⊗ K_{q,m} ⊗ I_p)(vec A ⊗ I_{pq}); "
            "N-D: the outer-product einsum with the result's axes split in (B's, A's) pairs",
    reference="Magnus–Neudecker ch. 3, Thm 10",
    samples=_samples.two_for_kron, param_names=("A", "B"),
    edge_cases={"3-D with a matrix": lambda rng: (rng.standard_normal((2, 1, 2)), rng.standard_normal((2, 3))),
                "two vectors": lambda rng: (rng.standard_normal(2), rng.standard_normal(3)),
                "a vector and a matrix": lambda rng: (rng.standard_normal(3), rng.standard_normal((2, 2)))},
    rule_names={0: "kron_wrt_left", 1: "kron_wrt_right"},
    fuzz=lambda Y, c: np.kron(Y, c.small),
    signature="(m,k),(p,q)->(mp,kq)", entire=True,
))


@numpy_function(np.kron)
def _kron(a, b):
    for x in (a, b):
        if not isinstance(x, Node) and np.iscomplexobj(x):
            raise TypeError("kronvec cannot differentiate np.kron of complex data: kronvec "
                            "differentiates real functions only (split real and imaginary parts)")
    return bind(kron, a, b)


# ------------------------------------------- a structured operator, applied
def _apply_impl(x, operator):
    x = np.asarray(x)
    return operator.matvec(x) if x.ndim == 1 or x.shape[1] == 1 else operator.matmat(x)


def _apply_jacobian(ans, x, names, operator):
    # y = J x ⇒ Dy = J; Y = J X for X with k columns ⇒ vec Y = (I_k ⊗ J) vec X
    columns = 1 if np.ndim(x) == 1 else np.shape(x)[1]
    return operator if columns == 1 else Kron(Identity(columns), operator)


apply_operator = register(Primitive(
    _apply_impl, name="apply_operator",
    vjps={0: lambda g, ans, x, operator: apply_operator(g, operator=operator.T)},
    jacobians={0: _apply_jacobian},
    label=lambda a, operator: None,
    formula="D(J x) = J; D(J X) = I_k ⊗ J for X with k columns",
    reference="linearity (the operator is a constant of the function)",
    samples=lambda rng, n: _samples.Sample(
        (rng.standard_normal(n * n),),
        {"operator": Kron(rng.standard_normal((n, n)), rng.standard_normal((n, n)))}),
    param_names=("x",),
))


def apply(operator: StructuredOperator, x, method):
    """``operator.<method>(x)`` for a traced x: one recorded operation."""
    if method in ("rmatvec", "rmatmat"):
        operator = operator.T
    return bind(apply_operator, x, operator=operator)

