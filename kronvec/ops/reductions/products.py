"""Products: ``np.prod`` and ``ndarray.prod``.

The derivative of a product in one entry is the product of the other entries,
computed from prefix and suffix products: exact with zeros (one zero, several
zeros), no derivative divides by an entry.  Derivation: ``notes/derivatives.md`` §18.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .. import _samples
from .._registry import Primitive, numpy_function, numpy_method, register
from .._support import loud, shape_of, static_value
from ._common import (_axis_label, _float_dtype, _kept_cotangent, _reduction_jacobian, _reversed_along, _shifted,
                      _to_rows)
from .sums import _folding

__all__ = ["prod"]

# (hot paths read these as globals, not np.<name>: see kronvec/_tracer.py)
_ndarray = np.ndarray


def _product_of_others(x, axis):
    """∂ prod/∂xᵢ = the product of the other entries of xᵢ's slice, as exclusive
    prefix times exclusive suffix products: exact with zeros, no division."""
    shape = tuple(shape_of(x))
    if axis == () or math.prod(shape) == 0 or len(shape) == 0:
        return np.ones(shape, dtype=_float_dtype(static_value(x)))
    if axis is None:
        axis = tuple(range(len(shape)))
    if len(axis) > 1:  # the reduced axes merged into one, last
        rows, back = _to_rows(x, axis)
        return back(_product_of_others(rows, (len(shape_of(rows)) - 1,)))
    (k,) = axis
    cumulative = (lambda v: v.cumprod(axis=k)) if type(x) is _ndarray else (lambda v: np.cumprod(v, axis=k))
    before = _shifted(cumulative(x), k, 1.0)
    after = _shifted(_reversed_along(cumulative(_reversed_along(x, k)), k), k, 1.0, up=True)
    return before * after


def _prod_impl(x, axis=None, keepdims=False, initial=None):
    # (with initial=, NumPy's loop starts from it: initial·x₀·x₁…, not (x₀·x₁…)·initial)
    params = {} if initial is None else {"initial": initial}
    return loud("np.prod", lambda v: np.prod(v, axis=axis, keepdims=keepdims, **params))(x)


def _prod_derivative(x, axis, initial):
    """∂(initial·Π xⱼ)/∂xᵢ: the product of the others, times the initial value."""
    others = _product_of_others(x, axis)
    return others if initial is None else others * initial


prod = register(Primitive(
    _prod_impl,
    name="prod",
    vjps={0: lambda g, ans, x, axis=None, keepdims=False, initial=None:
          _kept_cotangent(g, shape_of(x), axis, keepdims) * _prod_derivative(x, axis, initial)},
    jacobians={0: lambda ans, x, names, axis=None, keepdims=False, initial=None:
               _reduction_jacobian(_prod_derivative(np.asarray(x), axis, initial), np.shape(x), axis)},
    label=_axis_label("prod"),
    formula="D Π_axes X = Bᵀ·Diag(vec Π_{j≠i} X_j): each entry's derivative is the product of the others "
            "in its slice (prefix × suffix products: exact with zeros)",
    reference="d Π xⱼ = Σᵢ (Π_{j≠i} xⱼ) dxᵢ (product rule, Magnus–Neudecker ch. 5)",
    samples=lambda rng, n: _samples.Sample((rng.uniform(0.5, 1.5, (n, n + 1)),), {"axis": (1,), "keepdims": False}),
    param_names=("X",),
    edge_cases={
        "one zero in a slice": lambda rng: _samples.Sample(
            (np.array([[0.0, 1.5, -0.7], [0.9, 1.2, 0.8]]),), {"axis": (1,), "keepdims": False}),
        "two zeros in a slice": lambda rng: _samples.Sample(
            (np.array([[0.0, 1.5, 0.0], [0.9, 1.2, 0.8]]),), {"axis": (1,), "keepdims": False}),
        "full product of a 3-D array": lambda rng: _samples.Sample((rng.uniform(0.7, 1.3, (2, 3, 2)),), {}),
        "two axes, keepdims": lambda rng: _samples.Sample(
            (rng.uniform(0.7, 1.3, (2, 3, 2)),), {"axis": (0, 2), "keepdims": True}),
        "initial=": lambda rng: _samples.Sample(
            (rng.uniform(0.7, 1.3, (3, 4)),), {"axis": (1,), "keepdims": False, "initial": -1.5}),
    },
    fuzz=lambda Y, c: Y * np.prod(1.0 + 0.1 * np.tanh(Y), axis=0, keepdims=True),
    entire=True,
))


numpy_method("prod")(numpy_function(np.prod)(_folding(prod, "np.prod", 1.0, operator.mul)))
