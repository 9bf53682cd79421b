"""Cumulative sums and products: ``np.cumsum``, ``np.cumprod`` and the first-order
linear recurrence behind the product.

A cumulative sum acts along one axis as I ⊗ tril(1) ⊗ I; a cumulative product's
Jacobian is a first-order linear recurrence, (I − diag(X)S)⁻¹ with S the shift
along the axis (:class:`LinearRecurrence`), applied in O(N), never stored, and
exact with zeros.  Derivation: ``notes/derivatives.md`` §12.
"""

from __future__ import annotations


import numpy as np
import scipy.sparse as sp

from ..._tracer import Node
from ..._vec import unvec, vec
from ...operators import Dense, Diag, Sparse, algebra
from ...operators._formula import Label
from ...operators.basic import _LabelledLeaf, owned_readonly
from .. import _samples
from .._registry import Primitive, numpy_function, numpy_method, register
from .._support import along_axis, bind, loud, normalize_axes, refuse_arguments, shape_of, static_value
from ..shape import in_dtype
from ._common import _float_dtype, _reversed_along, _shifted

__all__ = ["cumsum", "cumprod", "linear_recurrence", "LinearRecurrence"]

# (hot paths read these as globals, not np.<name>: see kronvec/_tracer.py)
_ndarray = np.ndarray


def _cumsum_vjp(g, ans, x, axis):
    # Y = L X along `axis` (L lower-triangular ones) ⇒ X̄ = Lᵀ Ȳ: a cumulative sum from the end
    if type(g) is _ndarray:
        return _reversed_along(_reversed_along(g, axis).cumsum(axis=axis), axis)
    return _reversed_along(bind(cumsum, _reversed_along(g, axis), axis=axis), axis)


def _cumsum_jacobian(ans, x, names, axis):
    # Y = L X along `axis`, L = tril(1) the lower-triangular matrix of ones
    shape = np.shape(x)
    ones = np.ones((shape[axis], shape[axis]), dtype=_float_dtype(x))
    return along_axis(Dense(np.tril(ones), name="tril(1)"), shape, axis)


cumsum = register(Primitive(
    lambda x, axis: np.asarray(x).cumsum(axis=axis), name="cumsum",
    vjps={0: _cumsum_vjp},
    jacobians={0: _cumsum_jacobian},
    label=lambda a, axis: None,
    formula="I ⊗ tril(1) ⊗ I: the lower-triangular matrix of ones acting on the summed axis",
    reference="linear; Magnus–Neudecker Thm 2.2 (vec of a map acting on one axis)",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"axis": 1}),
    param_names=("X",),
    edge_cases={"rows of a 3-D array": lambda rng: _samples.Sample((rng.standard_normal((2, 3, 2)),), {"axis": 0}),
                "a vector": lambda rng: _samples.Sample((rng.standard_normal(4),), {"axis": 0})},
    fuzz=lambda Y, c: np.cumsum(Y, axis=0) / Y.shape[0],
))


def _cumulative(op, function, a, axis):
    if axis is None:  # NumPy flattens in row-major order first
        return bind(op, np.reshape(a, (-1,)), axis=0)
    if isinstance(axis, (tuple, list)):  # (NumPy's own error: one axis only)
        raise TypeError(f"{function}: axis must be an integer, got {axis!r}")
    ndim = len(shape_of(a))
    if ndim == 0:  # a 0-d array is taken as its one entry in 1-D, as NumPy's (axis 0 or −1)
        a, ndim = np.reshape(a, (1,)), 1
    return bind(op, a, axis=normalize_axes(axis, ndim, function)[0])


@numpy_method("cumsum")
@numpy_function(np.cumsum)
def _cumsum(a, axis=None, dtype=None, out=None):
    refuse_arguments("np.cumsum", out=(out, None))
    a = in_dtype(a, dtype, "np.cumsum")
    return _cumulative(cumsum, "np.cumsum", a, axis)


# --------------------------------------------- the first-order linear recurrence
def _recurrence_values(a, b, axis, reverse):
    """y with yₖ = aₖ·yₖ₋₁ + bₖ (y₋₁ = 0) along `axis`, or, `reverse`,
    yₖ = aₖ₊₁·yₖ₊₁ + bₖ (y_L = 0).  a₀ is never used."""
    b = np.moveaxis(np.asarray(b), axis, 0)
    y = np.array(b, dtype=np.result_type(np.asarray(a).dtype, b.dtype, np.float32))
    a = np.moveaxis(np.broadcast_to(a, np.moveaxis(y, 0, axis).shape), axis, 0)
    length = y.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        if reverse:
            for k in range(length - 2, -1, -1):
                y[k] += a[k + 1] * y[k + 1]
        else:
            for k in range(1, length):
                y[k] += a[k] * y[k - 1]
    return np.moveaxis(y, 0, axis)


class LinearRecurrence(_LabelledLeaf):
    """``(I − diag(a)·S)⁻¹`` along one axis of an array shaped like `a` (S shifts
    that axis down by one): ``y = R b`` solves yₖ = aₖ·yₖ₋₁ + bₖ.  Its transpose is
    the recurrence run backwards, yₖ = aₖ₊₁·yₖ₊₁ + bₖ.  Applied in O(N); the
    (block lower-triangular) matrix is never stored."""

    def __init__(self, a, axis, reverse=False, *, _label=None):
        a = np.asarray(a)
        self.a = owned_readonly(a, _float_dtype(a))
        self.axis, self.reverse = int(axis), bool(reverse)
        self._label = _label or Label(None, "diagonal", self.a, template="(I − diag(\x00)·S)⁻¹")
        super().__init__((a.size, a.size), self.a.dtype)

    def _matmat(self, X):
        columns = X.shape[1]
        B = unvec(X, self.a.shape + (columns,))
        Y = _recurrence_values(self.a[..., None], B, self.axis, self.reverse)
        return unvec(vec(Y), (self.shape[0], columns))

    def _transpose(self):
        return LinearRecurrence(self.a, self.axis, not self.reverse, _label=self._label.transposed())

    @property
    def apply_cost(self):
        return 2 * self.a.size

    @property
    def nnz_bound(self):
        return self.a.size * (self.a.shape[self.axis] if self.a.ndim else 1)


def _shift_operator(shape, axis, up):
    """S (down: entry k−1 to k) or Sᵀ (up) along `axis`, as a structured operator."""
    length = shape[axis]
    return along_axis(Sparse(sp.csr_array(sp.eye(length, k=1 if up else -1))), shape, axis)


def _recurrence(a, b, axis, reverse):
    """The recurrence of `b` with coefficients `a`: recorded when either is traced."""
    if isinstance(a, Node) or isinstance(b, Node):
        return bind(linear_recurrence, a, b, axis=axis, reverse=reverse)
    return _recurrence_impl(a, b, axis, reverse)


def _recurrence_vjp_b(g, ans, a, b, axis, reverse=False):
    return _recurrence(a, g, axis, not reverse)


def _recurrence_vjp_a(g, ans, a, b, axis, reverse=False):
    # forward y = F(a, b): ā = S(y) ∘ R(a, ȳ);  reverse t = R(a, b): ā = t ∘ S(F(a, t̄))
    other = _recurrence(a, g, axis, not reverse)
    if reverse:
        return ans * _shifted(other, axis, 0.0)
    return _shifted(ans, axis, 0.0) * other


def _recurrence_jacobian_a(ans, a, b, names, axis, reverse=False):
    shape = np.shape(a)
    solve = LinearRecurrence(a, axis, reverse)
    if reverse:  # dt = R(a, Sᵀ(da ∘ t))
        return algebra.multiply(solve, algebra.multiply(_shift_operator(shape, axis, up=True), Diag(vec(ans))))
    return algebra.multiply(solve, Diag(vec(_shifted(np.asarray(ans), axis, 0.0))))  # dy = F(a, da ∘ S y)


def _recurrence_impl(a, b, axis, reverse=False):
    return loud("the linear recurrence of np.cumprod's derivative",
                lambda a, b: _recurrence_values(a, b, axis, reverse))(a, b)


def _recurrence_samples(rng, n):
    return _samples.Sample((rng.uniform(-0.9, 0.9, (n, n + 1)), rng.standard_normal((n, n + 1))),
                           {"axis": 1, "reverse": False})


linear_recurrence = register(Primitive(
    _recurrence_impl, name="linear_recurrence",
    vjps={0: _recurrence_vjp_a, 1: _recurrence_vjp_b},
    jacobians={0: _recurrence_jacobian_a,
               1: lambda ans, a, b, names, axis, reverse=False: LinearRecurrence(a, axis, reverse)},
    label=lambda a, b, axis, reverse=False: None,
    formula="y = (I − diag(a)S)⁻¹ b along one axis (yₖ = aₖyₖ₋₁ + bₖ): D_b = (I − diag(a)S)⁻¹, "
            "D_a = (I − diag(a)S)⁻¹·Diag(vec S y); reverse = the transpose, (I − Sᵀdiag(a))⁻¹",
    reference="d[(I − D_a S)y] = 0 ⇒ dy = (I − D_a S)⁻¹(d D_a S y + db) (Magnus–Neudecker ch. 8, "
              "the differential of an inverse)",
    samples=_recurrence_samples, param_names=("A", "B"),
    edge_cases={"reverse, along rows": lambda rng: _samples.Sample(
        (rng.uniform(-0.9, 0.9, (3, 2)), rng.standard_normal((3, 2))), {"axis": 0, "reverse": True})},
    fuzz=lambda Y, c: bind(linear_recurrence, 0.5 * np.tanh(Y), Y, axis=0, reverse=False),
    entire=True,
))


def _cumprod_vjp(g, ans, x, axis):
    # Yₖ = Π_{j≤k} Xⱼ: X̄ₖ = (Π_{j<k} Xⱼ)·Σ_{i≥k} Ȳᵢ Π_{k<j≤i} Xⱼ, the sum run as the
    # reverse recurrence sₖ = Ȳₖ + Xₖ₊₁ sₖ₊₁: no division, exact with zeros
    return _shifted(ans, axis, 1.0) * _recurrence(x, g, axis, True)


def _cumprod_jacobian(ans, x, names, axis):
    # dYₖ = Xₖ dYₖ₋₁ + Yₖ₋₁ dXₖ ⇒ D = (I − diag(X)S)⁻¹·Diag(vec Y₋), Y₋ the exclusive products
    return algebra.multiply(LinearRecurrence(x, axis), Diag(vec(_shifted(np.asarray(ans), axis, 1.0))))


cumprod = register(Primitive(
    lambda x, axis: loud("np.cumprod", lambda v: np.cumprod(v, axis=axis))(x), name="cumprod",
    vjps={0: _cumprod_vjp},
    jacobians={0: _cumprod_jacobian},
    label=lambda a, axis: None,
    formula="D cumprod X = (I − diag(vec X)·S)⁻¹·Diag(vec Y₋): S shifts along the axis, "
            "Y₋ the exclusive cumulative products (no division: exact with zeros)",
    reference="Yₖ = Xₖ Yₖ₋₁ ⇒ dYₖ = Xₖ dYₖ₋₁ + Yₖ₋₁ dXₖ, a linear recurrence in dY",
    samples=lambda rng, n: _samples.Sample((rng.uniform(0.5, 1.5, (n, n + 1)),), {"axis": 1}),
    param_names=("X",),
    edge_cases={
        "a zero": lambda rng: _samples.Sample((np.array([[1.2, 0.0, -0.8, 1.1], [0.9, 1.3, 0.7, -1.2]]),),
                                              {"axis": 1}),
        "two zeros": lambda rng: _samples.Sample((np.array([[1.2, 0.0, -0.8, 0.0], [0.9, 1.3, 0.7, -1.2]]),),
                                                 {"axis": 1}),
        "down the rows of a 3-D array": lambda rng: _samples.Sample((rng.uniform(0.5, 1.5, (3, 2, 2)),),
                                                                    {"axis": 0}),
    },
    fuzz=lambda Y, c: np.cumprod(1.0 + 0.2 * np.tanh(Y), axis=1),
    entire=True,
))


@numpy_method("cumprod")
@numpy_function(np.cumprod)
def _cumprod(a, axis=None, dtype=None, out=None):
    refuse_arguments("np.cumprod", out=(out, None))
    a = in_dtype(a, dtype, "np.cumprod")
    return _cumulative(cumprod, "np.cumprod", a, axis)


def _cumulative_array_api(name, function, identity):
    """np.cumulative_sum / np.cumulative_prod (the Array API's): np.cumsum / np.cumprod along
    `axis` (required above 1-D), with the empty sum / product first when include_initial."""

    def handler(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        refuse_arguments(name, out=(out, None))
        x = in_dtype(x, dtype, name)
        ndim = len(shape_of(x))
        if axis is None:
            if ndim > 1:
                raise ValueError(f"{name}: axis must be specified for a multi-dimensional input")
            axis = 0
        if ndim == 0:
            x, axis = np.reshape(x, (1,)), 0
        axis = normalize_axes(axis, max(ndim, 1), name)[0]
        result = function(x, axis=axis)
        if include_initial:
            shape = list(shape_of(result))
            shape[axis] = 1
            result = np.concatenate([np.full(shape, identity, dtype=static_value(result).dtype), result], axis=axis)
        return result

    handler.__name__ = name.split(".")[-1]
    return handler


numpy_function(np.cumulative_sum)(_cumulative_array_api("np.cumulative_sum", np.cumsum, 0.0))
numpy_function(np.cumulative_prod)(_cumulative_array_api("np.cumulative_prod", np.cumprod, 1.0))
