"""Extremes: ``np.max``, ``np.min`` (``amax``, ``amin``, with ``initial`` and
``where``) and ``np.ptp``.

An extreme picks entries, so its Jacobian is a weighted selection
Sᵀ_out·Diag(w)·S_in; ties are split evenly among the maximizers (also with
``initial``), ``notes/conventions.md`` §7.  Derivation: ``notes/derivatives.md`` §18.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..._constants import capture, frozen_copy
from ..._tracer import Node
from .. import _samples
from .._registry import Primitive, numpy_function, numpy_method, register
from .._support import bind, decided, plain_value, refuse_arguments, shape_of
from ._common import _axes, _axis_label, _kept_cotangent, _kept_shape, _pick_jacobian, _where_mask

__all__ = ["max_", "min_"]

# (hot paths read these as globals, not np.<name>: see kronvec/_tracer.py)
_ndarray = np.ndarray

_NO_VALUE = np._NoValue


def _distinct_entries(axis):
    """Samples whose entries are at least ~1/n apart: no ties within a finite-difference step."""
    def samples(rng, n):
        X = rng.permutation(n * (n + 1)).reshape(n, n + 1) / n + 0.1 * rng.standard_normal((n, n + 1)) / n
        return _samples.Sample((X,), {"axis": axis, "keepdims": False})

    return samples


def _extreme_impl(reduce):
    def impl(x, axis=None, keepdims=False, initial=None, where=None):
        if initial is None and where is None:
            return reduce(x, axis=axis, keepdims=keepdims)
        extra = {} if initial is None else {"initial": initial}
        return reduce(x, axis=axis, keepdims=keepdims, where=True if where is None else where, **extra)

    return impl


def _extreme_weights(ans, x, axis, keepdims, initial, where):
    """1/(number of ties) at the entries equal to their slice's extreme (ties split
    evenly; an `initial` equal to the extreme counts as one of them), 0 elsewhere:
    a decision on the values."""
    if isinstance(x, Node) or isinstance(ans, Node):
        return decided(functools.partial(_plain_extreme_weights, axis=axis, initial=initial, where=where), ans, x)
    return _plain_extreme_weights(ans, x, axis, initial, where)


def _plain_extreme_weights(ans, x, axis, initial, where):
    if type(x) is not _ndarray:
        x, ans = np.asarray(x), np.asarray(ans)
    hit = x == ans.reshape(_kept_shape(x.shape, axis))
    if where is not None:
        hit &= where
    count = hit.sum(axis=axis, keepdims=True)
    if initial is not None:
        count = np.maximum(count + (ans.reshape(count.shape) == initial), 1)
    elif where is not None:
        count = np.maximum(count, 1)  # (a slice the mask empties: its initial value, derivative 0)
    weights = hit / count
    return weights if x.dtype != np.float32 else weights.astype(np.float32)


def _extreme_vjp(g, ans, x, axis=None, keepdims=False, initial=None, where=None):
    if (axis is None and initial is None and where is None and type(x) is _ndarray and x.dtype.char == "d"
            and (type(g) is float or (type(g) is _ndarray and g.dtype.char == "d"))):
        # The reverse sweep's common case, a plain cotangent of the whole array's max or
        # min attained once: weight 1 there, 0 elsewhere — g times the hit mask, bit for
        # bit the general path's g·(hit / 1) (a bool multiplies as 1.0/0.0), in fewer calls.
        hit = x == ans
        if np.count_nonzero(hit) == 1:
            return g * hit
    return _kept_cotangent(g, shape_of(x), axis, keepdims) * _extreme_weights(ans, x, axis, keepdims, initial, where)


def _extreme_jacobian(ans, x, names, axis=None, keepdims=False, initial=None, where=None):
    return _pick_jacobian(_extreme_weights(ans, x, axis, keepdims, initial, where), np.shape(x), axis)


def _extreme(reduce, name, word):
    return register(Primitive(
        _extreme_impl(reduce), name=name,
        vjps={0: _extreme_vjp}, jacobians={0: _extreme_jacobian},
        label=_axis_label(name),
        formula=f"D {name}_axes X = Sᵀ_out·Diag(w)·S_in: each output picks its {word} entry "
                "(w = 1; ties split evenly, w = 1/#ties)",
        reference=f"the {word} of a slice is locally the entry attaining it; at ties the even split of the "
                  "subdifferential's extreme points, as JAX and autograd do",
        samples=_distinct_entries((0,)),
        param_names=("X",),
        edge_cases={
            "full reduction": lambda rng: (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),),
            "keepdims along the last axis": lambda rng: _samples.Sample(
                (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),), {"axis": (1,), "keepdims": True}),
            "initial and where": lambda rng: _samples.Sample(
                (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),),
                {"axis": (1,), "keepdims": False, "initial": 0.0 if name == "max" else 0.5,
                 "where": frozen_copy(np.array([[True, True, False], [True, False, True]]))}),
        },
    ))


max_ = _extreme(np.maximum.reduce, "max", "largest")
min_ = _extreme(np.minimum.reduce, "min", "smallest")


def _plain_initial(initial, function, identity):
    """``initial=`` of max/min as a float.  The reduction's identity (−inf for max, +inf
    for min) is accepted: it bounds nothing and is NumPy's value of an empty slice.  NaN
    and the other infinity are refused like any non-finite constant operand (with them
    every result would be NaN or that infinity)."""
    if isinstance(initial, (float, np.floating)) and float(initial) == identity:
        return identity
    return float(capture(initial, f"the initial value of {function}"))


def _extreme_handler(op, function, identity):
    def handler(a, axis=None, out=None, keepdims=False, initial=_NO_VALUE, where=_NO_VALUE):
        if out is not None:
            refuse_arguments(function, out=(out, None))
        shape = shape_of(a)
        if isinstance(initial, Node):
            raise TypeError(f"kronvec: {function}: initial= must be a plain number, not a traced value")
        return bind(op, a, axis=_axes(axis, len(shape), function, of_a_ufunc=True), keepdims=bool(keepdims),
                    initial=None if initial is _NO_VALUE else _plain_initial(initial, function, identity),
                    where=_where_mask(where, shape, function))

    handler.__name__ = op.name
    return handler


numpy_method("max")(numpy_function(np.max, np.amax)(_extreme_handler(max_, "np.max", -math.inf)))
numpy_method("min")(numpy_function(np.min, np.amin)(_extreme_handler(min_, "np.min", math.inf)))


@numpy_function(np.ptp)
def _ptp(a, axis=None, out=None, keepdims=False):
    # (ndarray.ptp is gone in NumPy 2: only the function)
    refuse_arguments("np.ptp", out=(out, None))
    axes = _axes(axis, len(shape_of(a)), "np.ptp", of_a_ufunc=True)
    params = dict(axis=axes, keepdims=bool(keepdims), initial=None, where=None)
    return bind(max_, a, **params) - bind(min_, a, **params)


def _index_handler(function):
    def handler(a, axis=None, out=None, *, keepdims=_NO_VALUE):
        # an index is an integer: it has no derivative, so its plain value is returned
        refuse_arguments(f"np.{function.__name__}", out=(out, None))
        extra = {} if keepdims is _NO_VALUE else {"keepdims": keepdims}
        return function(np.asarray(plain_value(a)), axis=axis, **extra)

    handler.__name__ = function.__name__
    return handler


numpy_method("argmax")(numpy_function(np.argmax)(_index_handler(np.argmax)))
numpy_method("argmin")(numpy_function(np.argmin)(_index_handler(np.argmin)))
