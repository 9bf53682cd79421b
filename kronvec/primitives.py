"""The NumPy operations kronvec differentiates, each as a :class:`Primitive`.

Every primitive is defined once, next to its derivative in both forms:

* ``vjps`` — the cotangent map, written with NumPy operations so that it
  can itself be traced (Hessians differentiate the gradient's code);
* ``jacobians`` — the structured Jacobian, numerator layout, built from the
  rules in :mod:`kronvec.rules` and :mod:`kronvec.differential`.

The two are checked against each other and against finite differences in
``tests/test_api.py``.  Index-moving operations (reshape, transpose,
indexing, broadcasting, sums) share one trick: apply the operation to the
array of vec positions and read off the 0/1 selection it performs.
"""

from __future__ import annotations

import functools
import math
import operator
import sys
import weakref

import numpy as np

from . import algebra
from ._vec import unvec, vec
from .differential import linear_map
from .operators import (
    Commutation,
    Dense,
    Diag,
    Identity,
    RowVector,
    Selection,
)
from ._linalg import checks as _checks
from .rules.determinant import adjugate as _adjugate_values
from .rules.determinant import det_hessian
from .rules.kronecker import kron_wrt_left, kron_wrt_right
from ._linalg.factorization import factorize
from ._linalg import products as _products
from . import trace as _trace_module
from .trace import Primitive, Traced, bind, plain_value

__all__ = ["SUPPORTED_FUNCTIONS", "FUNCTION_HANDLERS", "dispatch_ufunc", "unsupported_function", "getitem"]


# ----------------------------------------------------------------- helpers
def _shape(x):
    if type(x) is float:  # the unit cotangent of a scalar output
        return ()
    shape = getattr(x, "shape", None)  # ndarray and Traced both have one
    return shape if shape is not None else np.shape(x)


def _size(x):
    return math.prod(_shape(x))


def _positions(shape):
    """The array of vec positions laid out in `shape`: P[i, j] = i + j*m."""
    return unvec(np.arange(math.prod(shape), dtype=np.intp), shape)


def _index_map_jacobian(in_shape, moved_positions, name="P"):
    """Jacobian of an index-moving op from where it moved the vec positions."""
    index = vec(moved_positions)
    n_in = math.prod(in_shape)
    selection = Selection(index, n_in, name=name)
    return Identity(n_in) if selection.is_identity else selection


def _broadcast_jacobian(in_shape, out_shape):
    """Jacobian of ``broadcast_to(x, out_shape)``: a selection (identity if no-op)."""
    if tuple(in_shape) == tuple(out_shape):
        return Identity(math.prod(in_shape))
    return _index_map_jacobian(in_shape, np.broadcast_to(_positions(in_shape), out_shape), "B")


def unbroadcast(g, shape):
    """Sum the cotangent `g` over the axes that broadcasting added to `shape`."""
    if _shape(g) == shape:
        return g
    shape = tuple(shape)
    while np.ndim(g) > len(shape):
        g = np.sum(g, axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and _shape(g)[axis] != 1:
            g = np.sum(g, axis=axis, keepdims=True)
    return g


def _as_2d_shape(shape, vector_as):
    if len(shape) == 2:
        return tuple(shape)
    if len(shape) == 1:
        return (1, shape[0]) if vector_as == "row" else (shape[0], 1)
    raise TypeError(
        f"kronvec differentiates matmul of 1-D and 2-D arrays; got an array of shape {shape}"
    )


def _scalar_constant(x):
    """A plain (untraced) operand of size 1, as a float; None otherwise."""
    if isinstance(x, Traced):
        return None
    x = np.asarray(x)
    return float(x.reshape(())) if x.size == 1 and x.dtype.kind in "biuf" else None


def _elementwise_jacobian(derivative, arg_shape, out_shape, name):
    """Diag(vec f') composed with the broadcast of the argument to the output shape."""
    scalar = _scalar_constant(derivative) if np.size(derivative) == 1 else None
    broadcast = _broadcast_jacobian(arg_shape, out_shape)
    if scalar is not None:
        return algebra.scale(broadcast, scalar)
    values = np.broadcast_to(np.asarray(derivative, dtype=float), out_shape)
    if math.prod(arg_shape) == 1 and values.size > 1:
        return Dense(vec(values).reshape(-1, 1), name=f"vec({name})")
    return algebra.multiply(Diag(vec(values), name=f"diag(vec {name})"), broadcast)


def _loud(name, compute):
    """Evaluate an elementwise formula; a non-finite result from finite inputs is an error.

    At a domain edge (log or 1/x at 0, √x's derivative at 0) or on overflow
    NumPy would return inf/NaN with a RuntimeWarning; kronvec raises instead,
    so no NaN escapes into a derivative (issue 6: right or loud).
    """

    def evaluate(*args):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            result = compute(*args)
        if not isinstance(result, Traced):
            result_array = np.asarray(result)
            if result_array.dtype.kind in "fc" and not np.isfinite(result_array).all():
                inputs_finite = all(
                    np.isfinite(np.asarray(a)).all() for a in args
                    if not isinstance(a, Traced) and np.asarray(a).dtype.kind in "fc"
                )
                if inputs_finite:
                    bad = int(np.count_nonzero(~np.isfinite(result_array)))
                    raise ValueError(
                        f"{name} is not finite at {bad} entr{'y' if bad == 1 else 'ies'} of a finite "
                        "input (a domain edge such as log or 1/x at 0, or overflow); kronvec "
                        "refuses rather than return inf/NaN"
                    )
        return result

    return evaluate


_REGISTRY = {}


def _primitive(name, impl, vjps, jacobians, label=None):
    primitive = Primitive(name, impl, vjps, jacobians, label)
    _REGISTRY[name] = primitive
    return primitive


# -------------------------------------------------------- elementwise binary
def _binary_labels(symbol):
    return lambda a, b, **kw: f"{a} {symbol} {b}"


def _unbroadcast_left(g, ans, a, b):
    # g is shaped like ans; a that was not broadcast takes it as it is.
    shape = getattr(a, "shape", ())
    return g if shape == getattr(ans, "shape", ()) else unbroadcast(g, shape)


def _unbroadcast_right(g, ans, a, b):
    shape = getattr(b, "shape", ())
    return g if shape == getattr(ans, "shape", ()) else unbroadcast(g, shape)


# The impls of +, -, * are Python's operators: on the plain arrays and NumPy
# scalars they receive they are np.add & co., without the ufunc call's
# overhead on 0-d operands (~0.8 µs against ~0.05 µs).
add = _primitive(
    "add",
    operator.add,
    {0: _unbroadcast_left, 1: _unbroadcast_right},
    {
        0: lambda ans, a, b, names: _broadcast_jacobian(np.shape(a), np.shape(ans)),
        1: lambda ans, a, b, names: _broadcast_jacobian(np.shape(b), np.shape(ans)),
    },
    _binary_labels("+"),
)

subtract = _primitive(
    "subtract",
    operator.sub,
    {0: _unbroadcast_left, 1: lambda g, ans, a, b: _unbroadcast_right(-g, ans, a, b)},
    {
        0: lambda ans, a, b, names: _broadcast_jacobian(np.shape(a), np.shape(ans)),
        1: lambda ans, a, b, names: algebra.scale(
            _broadcast_jacobian(np.shape(b), np.shape(ans)), -1.0
        ),
    },
    _binary_labels("-"),
)

multiply = _primitive(
    "multiply",
    operator.mul,
    {
        0: lambda g, ans, a, b: unbroadcast(g * b, _shape(a)),
        1: lambda g, ans, a, b: unbroadcast(g * a, _shape(b)),
    },
    {
        0: lambda ans, a, b, names: _elementwise_jacobian(b, np.shape(a), np.shape(ans), names[1]),
        1: lambda ans, a, b, names: _elementwise_jacobian(a, np.shape(b), np.shape(ans), names[0]),
    },
    _binary_labels("∘"),
)

divide = _primitive(
    "divide",
    _loud("np.true_divide", np.true_divide),
    {
        0: lambda g, ans, a, b: unbroadcast(g / b, _shape(a)),
        1: lambda g, ans, a, b: unbroadcast(-g * ans / b, _shape(b)),
    },
    {
        0: lambda ans, a, b, names: _elementwise_jacobian(
            1.0 / np.asarray(b), np.shape(a), np.shape(ans), f"1/{names[1]}"
        ),
        1: lambda ans, a, b, names: _elementwise_jacobian(
            -np.asarray(ans) / b, np.shape(b), np.shape(ans), f"-{names[0]}/{names[1]}²"
        ),
    },
    _binary_labels("/"),
)


_power_values = _loud("np.power", np.power)
_power_derivative = _loud("the derivative of np.power", lambda a, p: p * np.power(a, _power_minus_one(p)))


def _power_impl(a, p):
    return _power_values(a, p)


def _power_minus_one(p):
    """p − 1, except 0 where p = 0: d(x⁰) = 0 even at x = 0 (0·0⁻¹ would be NaN)."""
    if isinstance(p, Traced):
        return p - 1
    p = np.asarray(p)
    return np.where(p == 0, 0, p - 1) if p.ndim else (p - 1 if p != 0 else 0 * p)


power = _primitive(
    "power",
    _power_impl,
    {
        0: lambda g, ans, a, p: unbroadcast(g * _power_derivative(a, p), _shape(a)),
        1: lambda g, ans, a, p: unbroadcast(g * ans * np.log(a), _shape(p)),
    },
    {
        0: lambda ans, a, p, names: _elementwise_jacobian(
            _power_derivative(np.asarray(a), p), np.shape(a), np.shape(ans),
            f"{names[1]}·{names[0]}^({names[1]}-1)",
        ),
        1: lambda ans, a, p, names: _elementwise_jacobian(
            np.asarray(ans) * np.log(a), np.shape(p), np.shape(ans), f"{names[0]}^{names[1]}·log {names[0]}"
        ),
    },
    lambda a, p: f"{a}^{p}",
)


# --------------------------------------------------------- elementwise unary
def _unary(name, impl, derivative, symbol=None):
    """An elementwise function f with derivative f' given in NumPy operations."""
    impl = _loud(f"np.{name}", impl)
    derivative = _loud(f"the derivative of np.{name}", derivative)
    return _primitive(
        name,
        impl,
        {0: lambda g, ans, x: g * derivative(ans, x)},
        {
            0: lambda ans, x, names: _elementwise_jacobian(
                derivative(np.asarray(ans), np.asarray(x)), np.shape(x), np.shape(ans), f"{name}'({names[0]})"
            )
        },
        (lambda a: f"{symbol}{a}") if symbol else None,
    )


negative = _primitive(
    "negative",
    np.negative,
    {0: lambda g, ans, x: -g},
    {0: lambda ans, x, names: algebra.scale(Identity(np.size(x)), -1.0)},
    lambda a: f"-{a}",
)
exp = _unary("exp", np.exp, lambda ans, x: ans)
log = _unary("log", np.log, lambda ans, x: 1.0 / x)
sqrt = _unary("sqrt", np.sqrt, lambda ans, x: 0.5 / ans)
tanh = _unary("tanh", np.tanh, lambda ans, x: 1.0 - ans * ans)
square = _unary("square", np.square, lambda ans, x: 2.0 * x)
sin = _unary("sin", np.sin, lambda ans, x: np.cos(x))
cos = _unary("cos", np.cos, lambda ans, x: -np.sin(x))
absolute = _unary("absolute", np.abs, lambda ans, x: np.sign(plain_value(x)))


# ------------------------------------------------------------------- matmul
def _matmul_2d(a, b):
    """a @ b; for two plain 2-D arrays by :func:`~kronvec._linalg.products.matmul`,
    on the BLAS of the factorizations (and ``ndarray.dot`` for small products)."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2:
        return _products.matmul(a, b)
    return a @ b


def _scaled(c, A):
    """c·A; for c = 1.0 (a unit cotangent) A itself, often a view such as Bᵀ.

    Cotangents may be views: the reverse sweep never writes into one, and
    copies whatever could alias before it reaches the user.
    """
    if type(c) is float and c == 1.0 and type(A) is np.ndarray:
        return A
    return c * A


def _matmul_impl(a, b):
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2:
        return _products.matmul(a, b)  # the common case, without the checks below
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        raise ValueError("matmul: scalar operands are not allowed, use * instead")
    a_shape, b_shape = np.shape(a), np.shape(b)
    a2, b2 = _as_2d_shape(a_shape, "row"), _as_2d_shape(b_shape, "column")
    if len(a_shape) == 1 and len(b_shape) == 1:
        return np.matmul(a, b)  # an inner product: no BLAS thread
    # a matrix-vector product, as a 2-D one on the factorizations' BLAS
    product = _matmul_2d(np.reshape(np.asarray(a), a2), np.reshape(np.asarray(b), b2))
    return product.reshape(-1) if len(a_shape) == 1 or len(b_shape) == 1 else product


def _matmul_vjp_left(g, ans, a, b):
    a_shape, b_shape = _shape(a), _shape(b)
    if len(a_shape) == 2 and len(b_shape) == 2:  # Ā = Ḡ Bᵀ
        scale = _identity_scale(g)
        return _matmul_2d(g, b.T) if scale is None else _scaled(scale, b.T)  # (c·I) Bᵀ
    a2, b2 = _as_2d_shape(a_shape, "row"), _as_2d_shape(b_shape, "column")
    g2 = np.reshape(g, (a2[0], b2[1]))
    b_2d = np.reshape(b, b2) if len(b_shape) != 2 else b
    return np.reshape(_matmul_2d(g2, b_2d.T), a_shape)


def _matmul_vjp_right(g, ans, a, b):
    a_shape, b_shape = _shape(a), _shape(b)
    if len(a_shape) == 2 and len(b_shape) == 2:  # B̄ = Aᵀ Ḡ
        scale = _identity_scale(g)
        return _matmul_2d(a.T, g) if scale is None else _scaled(scale, a.T)  # Aᵀ (c·I)
    a2, b2 = _as_2d_shape(a_shape, "row"), _as_2d_shape(b_shape, "column")
    g2 = np.reshape(g, (a2[0], b2[1]))
    a_2d = np.reshape(a, a2) if len(a_shape) != 2 else a
    return np.reshape(_matmul_2d(a_2d.T, g2), b_shape)


def _matmul_jacobian_left(ans, a, b, names):
    # d(AB) = dA·B  ⇒  Bᵀ ⊗ I
    a2, b2 = _as_2d_shape(np.shape(a), "row"), _as_2d_shape(np.shape(b), "column")
    return linear_map(None, Dense(np.reshape(b, b2), name=names[1]), a2)


def _matmul_jacobian_right(ans, a, b, names):
    # d(AB) = A·dB  ⇒  I ⊗ A
    a2, b2 = _as_2d_shape(np.shape(a), "row"), _as_2d_shape(np.shape(b), "column")
    return linear_map(Dense(np.reshape(a, a2), name=names[0]), None, b2)


def _product_label(a, b):
    return f"{a}·{b}"


matmul = _primitive(
    "matmul",
    _matmul_impl,
    {0: _matmul_vjp_left, 1: _matmul_vjp_right},
    {0: _matmul_jacobian_left, 1: _matmul_jacobian_right},
    _product_label,
)


# ------------------------------------------------------- index-moving maps
def _transpose_impl(x, axes=None):
    return np.transpose(x, axes)


def _transpose_vjp(g, ans, x, axes=None):
    if axes is None:
        return np.transpose(g)
    return np.transpose(g, np.argsort(axes))


def _transpose_jacobian(ans, x, names, axes=None):
    shape = np.shape(x)
    if len(shape) == 2 and (axes is None or tuple(axes) == (1, 0)):
        return Commutation(*shape)  # d(Xᵀ) = (dX)ᵀ ⇒ K_{m,n}
    if len(shape) < 2:
        return Identity(math.prod(shape))
    return _index_map_jacobian(shape, np.transpose(_positions(shape), axes), "P")


transpose = _primitive(
    "transpose",
    _transpose_impl,
    {0: _transpose_vjp},
    {0: _transpose_jacobian},
    lambda a, axes=None: f"{a}ᵀ" if len(a) <= 12 and " " not in a else f"({a})ᵀ",
)


def _reshape_impl(x, shape, order="C"):
    return np.reshape(x, shape, order=order)


reshape = _primitive(
    "reshape",
    _reshape_impl,
    {0: lambda g, ans, x, shape, order="C": np.reshape(g, _shape(x), order=order)},
    {
        0: lambda ans, x, names, shape, order="C": _index_map_jacobian(
            np.shape(x), np.reshape(_positions(np.shape(x)), shape, order=order), "R"
        )
    },
    lambda a, shape, order="C": f"reshape({a})",
)


def _broadcast_to_impl(x, shape):
    return np.array(np.broadcast_to(x, shape))


broadcast_to = _primitive(
    "broadcast_to",
    _broadcast_to_impl,
    {0: lambda g, ans, x, shape: unbroadcast(g, _shape(x))},
    {0: lambda ans, x, names, shape: _broadcast_jacobian(np.shape(x), shape)},
    lambda a, shape: a,
)


def _getitem_impl(x, key):
    return np.array(np.asarray(x)[key])


def _untake_impl(g, key, shape):
    out = np.zeros(shape, dtype=np.result_type(np.asarray(g).dtype, np.float32))
    np.add.at(out, key, g)
    return out


def _getitem_jacobian(ans, x, names, key):
    return _index_map_jacobian(np.shape(x), np.asarray(_positions(np.shape(x))[key]), "E")


def _untake_jacobian(ans, g, names, key, shape):
    return _getitem_jacobian(None, np.empty(shape), names, key).T


_getitem = _primitive(
    "getitem",
    _getitem_impl,
    {0: lambda g, ans, x, key: bind(untake, g, key=key, shape=_shape(x))},
    {0: _getitem_jacobian},
    lambda a, key: f"{a}[…]",
)
untake = _primitive(
    "untake",
    _untake_impl,
    {0: lambda g, ans, x, key, shape: bind(_getitem, g, key=key)},
    {0: _untake_jacobian},
    lambda a, key, shape: f"place({a})",
)


def getitem(x, key):
    """``x[key]`` for a traced x (basic and advanced indexing; key is static)."""
    if isinstance(key, Traced) or (isinstance(key, tuple) and any(isinstance(k, Traced) for k in key)):
        raise TypeError("kronvec: indices must be plain integers or arrays, not traced values")
    return bind(_getitem, x, key=key)


def _sum_impl(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _keepdims_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _sum_vjp(g, ans, x, axis=None, keepdims=False):
    kept = np.reshape(g, _keepdims_shape(_shape(x), axis))
    return bind(broadcast_to, kept, shape=_shape(x))


def _sum_jacobian(ans, x, names, axis=None, keepdims=False):
    shape = np.shape(x)
    if axis is None and len(shape) > 0:
        return RowVector(np.ones(math.prod(shape)), name="1")
    kept = _keepdims_shape(shape, axis)
    return _broadcast_jacobian(kept, shape).T


sum_ = _primitive(
    "sum",
    _sum_impl,
    {0: _sum_vjp},
    {0: _sum_jacobian},
    lambda a, axis=None, keepdims=False: f"sum({a})",
)


# ------------------------------------------------------------ linear algebra
def _square_matrix(X, operation):
    if type(X) is not np.ndarray:
        X = np.asarray(X)
    shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"{operation}: X must be a 2-D matrix, got shape {shape}")
    if shape[0] != shape[1]:
        _checks.require_square(X, "X", operation)
    return X


def _inv_impl(X):
    return factorize(_square_matrix(X, "np.linalg.inv"), "np.linalg.inv").inverse()


def _recorded_inverse(X):
    """The traced X⁻¹ if the forward pass already recorded inv(X), else None.

    A Hessian differentiates the gradient's code, where ln|X| asks for X⁻ᵀ
    again; reusing the recorded inverse saves one O(n³) factorization.
    """
    for node in reversed(X._trace.nodes):
        if node._primitive is inv and node._parents and node._parents[0][1] is X:
            return node
    return None


def _inverse_for_derivative(X, operation="np.linalg.inv"):
    """X⁻¹ inside a derivative: traced when X is, else from X's factorization
    (already computed by the forward pass within the same call).

    `operation` names what the user called, for the error at a singular X.
    """
    if isinstance(X, Traced):
        recorded = _recorded_inverse(X) if X._trace.active else None
        return recorded if recorded is not None else np.linalg.inv(X)
    return factorize(_square_matrix(X, operation), operation).inverse()


inv = _primitive(
    "linalg.inv",
    _inv_impl,
    # d(X⁻¹) = -X⁻¹ dX X⁻¹  ⇒  X̄ = -X⁻ᵀ Ḡ X⁻ᵀ   (Matrix Cookbook eq. (59))
    {0: lambda g, ans, X: -_matmul_2d(_matmul_2d(ans.T, g), ans.T)},
    {0: lambda ans, X, names: linear_map(
        Dense(ans, name=f"inv({names[0]})"), Dense(ans, name=f"inv({names[0]})"), np.shape(X), scale=-1.0)},
    lambda a: f"inv({a})",
)


def _det_impl(X):
    X = _square_matrix(X, "np.linalg.det")
    return np.linalg.det(X)


def _adjugate_impl(X):
    return _adjugate_values(X)


def _adjugate_vjp(g, ans, X):
    if not isinstance(X, Traced) and not isinstance(g, Traced):
        # Exact at every rank: D vec adj(X) = K·H with H the (symmetric) Hessian of
        # |X|, so X̄ = Hᵀ K vec Ḡ = H vec(Ḡᵀ).
        g = np.asarray(g)
        return unvec(det_hessian(np.asarray(X)).matvec(vec(g.T)), np.shape(X))
    # Traced (third-order) use: for invertible X, adj X = |X| X⁻¹, so
    # d adj = |X| (tr(X⁻¹dX) X⁻¹ − X⁻¹ dX X⁻¹) and X̄ = |X| (⟨Ḡ, X⁻¹⟩ X⁻ᵀ − X⁻ᵀ Ḡ X⁻ᵀ).
    X_inv = _inverse_for_derivative(X)
    return np.linalg.det(X) * (np.sum(g * X_inv) * X_inv.T - X_inv.T @ g @ X_inv.T)


def _adjugate_jacobian(ans, X, names):
    # D vec adj(X) = K_{n,n} · D vec adj(X)ᵀ = K_{n,n} · (Hessian of |X|), exact at any rank.
    n = np.shape(X)[0]
    return algebra.multiply(Commutation(n, n), det_hessian(np.asarray(X)))


adjugate = _primitive(
    "adjugate", _adjugate_impl, {0: _adjugate_vjp}, {0: _adjugate_jacobian}, lambda a: f"adj({a})"
)

det = _primitive(
    "linalg.det",
    _det_impl,
    # d|X| = tr(adj(X) dX)  ⇒  X̄ = ḡ · adj(X)ᵀ, exact at singular X
    {0: lambda g, ans, X: g * np.transpose(bind(adjugate, X))},
    {0: lambda ans, X, names: RowVector(vec(_adjugate_values(np.asarray(X)).T), name=f"adj({names[0]})ᵀ")},
    lambda a: f"|{a}|",
)


_SLOGDET = "np.linalg.slogdet"


def _logabsdet_impl(X):
    return factorize(_square_matrix(X, _SLOGDET), _SLOGDET).logabsdet()[1]


logabsdet = _primitive(
    "linalg.slogdet",
    _logabsdet_impl,
    # d ln|X| = tr(X⁻¹ dX)  ⇒  X̄ = ḡ X⁻ᵀ   (Matrix Cookbook eq. (57))
    {0: lambda g, ans, X: _scaled(g, _inverse_for_derivative(X, _SLOGDET).T)},
    {0: lambda ans, X, names: RowVector(
        vec(_inverse_for_derivative(np.asarray(X), _SLOGDET).T), name=f"inv({names[0]})ᵀ")},
    lambda a: f"ln|{a}|",
)


def _solve_impl(A, B):
    A = _square_matrix(A, "np.linalg.solve")
    B = np.asarray(B)
    if B.ndim not in (1, 2) or B.shape[0] != A.shape[0]:
        raise ValueError(
            f"np.linalg.solve: A of shape {A.shape} needs B with {A.shape[0]} rows "
            f"(1-D or 2-D); got B of shape {B.shape}"
        )
    return _checks.checked_solve(A, B, "np.linalg.solve")


def _solve_transposed(A, g):
    """A⁻ᵀḠ: traced when A or Ḡ is, else from A's factorization (shared with the
    forward pass); a cotangent c·I (below a trace) gives c·A⁻ᵀ without a solve."""
    if isinstance(A, Traced) or isinstance(g, Traced):
        return np.linalg.solve(A.T, g)
    factors = factorize(_square_matrix(A, "np.linalg.solve"), "np.linalg.solve", warned=True)
    scale = _identity_scale(g)
    if scale is not None:
        return _scaled(scale, factors.inverse().T)
    return factors.solve(g, transposed=True)


def _solve_vjp_b(g, ans, A, B):
    return _solve_transposed(A, g)


def _solve_vjp_a(g, ans, A, B):
    # d(A⁻¹B) = -A⁻¹ dA A⁻¹B  ⇒  Ā = -A⁻ᵀ Ḡ (A⁻¹B)ᵀ
    B_bar = _solve_transposed(A, g)
    if len(_shape(ans)) == 1:
        return -np.reshape(B_bar, (-1, 1)) @ np.reshape(ans, (1, -1))
    return -_matmul_2d(B_bar, ans.T)


def _solve_jacobian_a(ans, A, B, names):
    X = np.asarray(ans).reshape(np.shape(A)[0], -1)
    A_inv = Dense(_inverse_for_derivative(np.asarray(A)), name=f"inv({names[0]})")
    return linear_map(A_inv, Dense(X, name=f"solve({names[0]}, {names[1]})"), np.shape(A), scale=-1.0)


def _solve_jacobian_b(ans, A, B, names):
    B2 = np.asarray(B).reshape(np.shape(A)[0], -1)
    A_inv = Dense(_inverse_for_derivative(np.asarray(A)), name=f"inv({names[0]})")
    return linear_map(A_inv, None, B2.shape)


solve = _primitive(
    "linalg.solve",
    _solve_impl,
    {0: _solve_vjp_a, 1: _solve_vjp_b},
    {0: _solve_jacobian_a, 1: _solve_jacobian_b},
    lambda a, b: f"solve({a}, {b})",
)


def _trace_impl(X):
    if type(X) is np.ndarray and X.ndim == 2:
        if X.shape[0] <= 64 and X.dtype.char in "fd":
            # Correctly rounded, and ~1 µs faster than ndarray.trace on small matrices.
            return X.dtype.type(math.fsum(X.diagonal().tolist()))
        return X.trace()
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"np.trace: kronvec differentiates the trace of a 2-D matrix, got shape {X.shape}")
    return np.trace(X)


# Cotangents that are known to be c·I (the gradient of a trace) are
# remembered by identity, so that the matmul below a trace, as in
# tr(X⁻¹C), pulls back c·I @ Cᵀ as c·Cᵀ instead of a full matrix product.
# The arrays are read-only, so the mark cannot go stale.
_scaled_identities = {}


_recent_scaled_identities = {}


def _scaled_identity(scale, n):
    """A read-only c·I_n, marked as such (recent ones are reused: the gradient of
    a trace in an optimization loop asks for the same 1·I every iteration)."""
    eye = _recent_scaled_identities.get((scale, n))
    if eye is not None:
        return eye
    eye = scale * np.eye(n)
    eye.flags.writeable = False
    key = id(eye)
    _scaled_identities[key] = (weakref.ref(eye, lambda _, key=key: _scaled_identities.pop(key, None)), scale)
    if len(_recent_scaled_identities) >= 16:
        _recent_scaled_identities.clear()
    _recent_scaled_identities[(scale, n)] = eye
    return eye


def _identity_scale(g):
    """c when `g` is a cotangent made by :func:`_scaled_identity`, else None."""
    entry = _scaled_identities.get(id(g))
    return entry[1] if entry is not None and entry[0]() is g else None


def _trace_vjp(g, ans, X):
    m, n = _shape(X)
    if m == n and not isinstance(g, Traced):
        return _scaled_identity(g if type(g) is float else float(np.asarray(g).reshape(())), n)
    return g * np.eye(m, n)


trace = _primitive(
    "trace",
    _trace_impl,
    # d tr X = tr dX  ⇒  X̄ = ḡ I
    {0: _trace_vjp},
    {0: lambda ans, X, names: RowVector(vec(np.eye(*np.shape(X))), name="I")},
    lambda a: f"tr({a})",
)


def _kron_impl(A, B):
    A, B = np.asarray(A), np.asarray(B)
    if A.ndim != 2 or B.ndim != 2:
        raise TypeError(f"kronvec differentiates np.kron of 2-D matrices; got shapes {A.shape}, {B.shape}")
    return np.kron(A, B)


def _kron_vjp_a(g, ans, A, B):
    (m, n), (p, q) = _shape(A), _shape(B)
    blocks = np.reshape(g, (m, p, n, q))  # G[i*p + k, j*q + l] = blocks[i, k, j, l]
    return np.sum(blocks * np.reshape(B, (1, p, 1, q)), axis=(1, 3))


def _kron_vjp_b(g, ans, A, B):
    (m, n), (p, q) = _shape(A), _shape(B)
    blocks = np.reshape(g, (m, p, n, q))
    return np.sum(blocks * np.reshape(A, (m, 1, n, 1)), axis=(0, 2))


kron = _primitive(
    "kron",
    _kron_impl,
    {0: _kron_vjp_a, 1: _kron_vjp_b},
    {0: lambda ans, A, B, names: kron_wrt_left(A, B), 1: lambda ans, A, B, names: kron_wrt_right(A, B)},
    lambda a, b: f"{a} ⊗ {b}",
)


# ----------------------------------------------------------- NumPy dispatch
def _constant_like(factory):
    def make(x, *args, **kwargs):
        return factory(plain_value(x), *args, **kwargs)

    return make


def _dot(a, b):
    if np.ndim(plain_value(a)) == 0 or np.ndim(plain_value(b)) == 0:
        return bind(multiply, a, b)
    return bind(matmul, a, b)


def _diag(v, k=0):
    shape = _shape(v)
    if len(shape) == 2:  # extract the k-th diagonal: an indexing operation
        offsets = np.arange(len(np.diag(np.empty(shape), k)))
        return bind(_getitem, v, key=(offsets + max(-k, 0), offsets + max(k, 0)))
    if len(shape) == 1:  # build a matrix with v on the k-th diagonal: its adjoint
        n = shape[0] + abs(k)
        offsets = np.arange(shape[0])
        return bind(untake, v, key=(offsets + max(-k, 0), offsets + max(k, 0)), shape=(n, n))
    raise ValueError(f"np.diag: input must be 1-D or 2-D, got shape {shape}")


def _sum(x, axis=None, dtype=None, out=None, keepdims=False, **unsupported):
    if out is not None or dtype is not None or unsupported:
        raise TypeError("kronvec: np.sum supports axis and keepdims only")
    if isinstance(axis, list):
        axis = tuple(axis)
    return bind(sum_, x, axis=axis, keepdims=keepdims)


def _mean(x, axis=None, keepdims=False, **unsupported):
    if unsupported:
        raise TypeError("kronvec: np.mean supports axis and keepdims only")
    shape = _shape(x)
    count = int(np.prod([shape[a] for a in ((axis,) if np.isscalar(axis) else axis)])) if axis is not None else _size(x)
    return _sum(x, axis=axis, keepdims=keepdims) / count


def _norm(x, ord=None, axis=None, keepdims=False):
    if ord not in (None, "fro") or axis is not None or keepdims:
        raise TypeError(
            "kronvec differentiates np.linalg.norm(x) (Frobenius / Euclidean norm) only; "
            f"got ord={ord!r}, axis={axis!r}"
        )
    return bind(norm, x)


def _norm_direction(ans, x):
    """x/‖x‖, and 0 at x = 0 (the minimal-norm subgradient), so that ‖x‖² and
    friends differentiate to 0 there instead of 0·∞ = NaN."""
    if float(plain_value(ans)) == 0.0:
        return 0.0 * x
    return x / ans


norm = _primitive(
    "linalg.norm",
    lambda x: np.linalg.norm(np.asarray(x)),
    {0: lambda g, ans, x: g * _norm_direction(ans, x)},
    {0: lambda ans, x, names: RowVector(vec(np.asarray(_norm_direction(ans, np.asarray(x)))),
                                         name=f"{names[0]}/‖{names[0]}‖")},
    lambda a: f"‖{a}‖",
)


class SlogdetResult(tuple):
    """``(sign, logabsdet)`` like NumPy's; sign is a constant of the point.

    Built as ``SlogdetResult((sign, logabsdet))`` (tuple's own constructor).
    """

    __slots__ = ()

    @property
    def sign(self):
        return self[0]

    @property
    def logabsdet(self):
        return self[1]


def _slogdet(X):
    # One factorization of the plain matrix gives both fields: the sign, a
    # constant of the point, and ln|det X|, the recorded value (the impl finds
    # the same factorization in the call's scope).
    sign = factorize(_square_matrix(plain_value(X), _SLOGDET), _SLOGDET).logabsdet()[0]
    return SlogdetResult((sign, bind(logabsdet, X)))


def _transpose_function(x, axes=None):
    return bind(transpose, x, axes=None if axes is None else tuple(axes))


def _reshape_function(x, shape=None, order="C", newshape=None, **unsupported):
    if unsupported:
        raise TypeError(f"kronvec: np.reshape does not support {sorted(unsupported)}")
    shape = newshape if shape is None else shape
    if order not in ("C", "F"):
        raise TypeError("kronvec: np.reshape supports order='C' or 'F'")
    return bind(reshape, x, shape=tuple(np.atleast_1d(shape).tolist()) if not np.isscalar(shape) else (shape,),
                order=order)


def _outer(a, b):
    return bind(multiply, np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


def _broadcast_to_function(x, shape, subok=False):
    return bind(broadcast_to, x, shape=tuple(np.atleast_1d(shape).tolist()))


def _ravel(x, order="C"):
    return _reshape_function(x, (-1,), order=order)


# NumPy function → handler(*args, **kwargs).  A primitive that takes NumPy's
# arguments as they are gets ``partial(bind, primitive)``: one call less per
# operation than a lambda, which small problems feel.
FUNCTION_HANDLERS = {
    np.matmul: functools.partial(bind, matmul),
    np.dot: _dot,
    np.transpose: _transpose_function,
    np.reshape: _reshape_function,
    np.ravel: _ravel,
    np.linalg.inv: functools.partial(bind, inv),
    np.linalg.det: functools.partial(bind, det),
    np.linalg.slogdet: _slogdet,
    np.linalg.solve: functools.partial(bind, solve),
    np.linalg.norm: _norm,
    np.trace: functools.partial(bind, trace),
    np.kron: functools.partial(bind, kron),
    np.sum: _sum,
    np.mean: _mean,
    np.diag: _diag,
    np.outer: _outer,
    np.broadcast_to: _broadcast_to_function,
    np.shape: lambda x: _shape(x),
    np.ndim: lambda x: len(_shape(x)),
    np.size: lambda x: _size(x),
    np.zeros_like: _constant_like(np.zeros_like),
    np.ones_like: _constant_like(np.ones_like),
}

_UFUNCS = {
    np.add: add,
    np.subtract: subtract,
    np.multiply: multiply,
    np.true_divide: divide,
    np.power: power,
    np.matmul: matmul,
    np.negative: negative,
    np.exp: exp,
    np.log: log,
    np.sqrt: sqrt,
    np.tanh: tanh,
    np.square: square,
    np.sin: sin,
    np.cos: cos,
    np.absolute: absolute,
}

# Ufuncs whose result carries no derivative: evaluated on the plain values, so
# piecewise code (``if X[0, 0] > 0``, ``np.where(X > 0, ...)``) runs.
_VALUE_ONLY_UFUNCS = {
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.isfinite, np.isnan, np.isinf, np.sign, np.logical_and, np.logical_or, np.logical_not,
}


def _ufunc_name(ufunc):
    return f"np.{ufunc.__name__}"


def _function_name(func):
    """``np.linalg.eig``, ``np.fft.fft``...: the public path users typed."""
    module = getattr(func, "__module__", "") or "numpy"
    public = [part for part in module.split(".") if not part.startswith("_")]
    public = ["np"] + public[1:] if public and public[0] == "numpy" else public
    return ".".join(public + [getattr(func, "__name__", repr(func))])


SUPPORTED_FUNCTIONS = tuple(sorted(
    {_function_name(f) for f in FUNCTION_HANDLERS} | {_ufunc_name(u) for u in _UFUNCS}
    | {"np.positive", "operators + - * / ** @ (unary -) .T, indexing and slicing, comparisons"}
))


def _unsupported(name):
    return TypeError(
        f"kronvec cannot differentiate {name}: it is not one of the supported NumPy "
        "functions (see kronvec.SUPPORTED_FUNCTIONS). Rewrite it with supported "
        "operations or compute it outside the differentiated function."
    )


def dispatch_ufunc(ufunc, method, inputs, kwargs):
    """``__array_ufunc__`` for traced values."""
    if method != "__call__":
        raise _unsupported(f"{_ufunc_name(ufunc)}.{method}")
    if kwargs.get("out") is not None:
        raise TypeError(f"kronvec: {_ufunc_name(ufunc)} with out= cannot be differentiated")
    if ufunc in _VALUE_ONLY_UFUNCS:
        return ufunc(*(plain_value(x) for x in inputs), **kwargs)
    if kwargs:
        raise TypeError(f"kronvec: {_ufunc_name(ufunc)} keyword arguments {sorted(kwargs)} are not supported")
    if ufunc is np.positive:
        return inputs[0]
    primitive = _UFUNCS.get(ufunc)
    if primitive is None:
        raise _unsupported(_ufunc_name(ufunc))
    if primitive is power and isinstance(inputs[1], Traced) is False:
        exponent = inputs[1]
        if np.isscalar(exponent) and exponent == 2:
            return bind(square, inputs[0])
    return bind(primitive, *inputs)


def unsupported_function(func):
    """The TypeError for a NumPy function kronvec does not differentiate."""
    return _unsupported(_function_name(func))


_trace_module._primitives = sys.modules[__name__]
