"""Sums and means: ``np.sum``, ``np.mean`` (with ``axis``, ``keepdims``, ``where``,
``initial``, ``dtype``) and their ndarray methods.

A sum over some axes has Jacobian Bᵀ, the transpose of the 0/1 map B that
broadcasts the result over the reduced axes; a mean Bᵀ/N.  Derivation:
``notes/derivatives.md`` §3 and §18.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..._constants import capture, frozen_copy
from ..._tracer import Node
from ...operators import RowVector, algebra
from .. import _samples
from .._registry import Primitive, numpy_function, register
from .._support import (bind, broadcast_jacobian, normalize_axes, plain_value, refuse_arguments, shape_of, size_of,
                        static_value)
from ..shape import in_dtype
from ..indexing import where as choose
from ._common import _axes, _kept_shape, _reduction_jacobian, _spread, _where_mask

__all__ = ["sum_", "mean"]

# (hot paths read these as globals, not np.<name>: see kronvec/_tracer.py)
_add_reduce = np.add.reduce

_NO_VALUE = np._NoValue


def _sum_impl(x, axis=None, keepdims=False, where=None, initial=None):
    # (np.sum's own body, for floats; with where= or initial=, NumPy's loop starts from
    # the initial value and skips the masked entries, an order of additions that a sum
    # with zeros put outside the mask, plus the initial value, does not repeat: the
    # value is NumPy's only when it is NumPy's own reduction)
    if initial is None:
        if where is None:
            return _add_reduce(x, axis=axis, keepdims=keepdims)
        return _add_reduce(x, axis=axis, keepdims=keepdims, where=where)
    return _add_reduce(x, axis=axis, keepdims=keepdims, where=True if where is None else where, initial=initial)


def _sum_vjp(g, ans, x, axis=None, keepdims=False, where=None, initial=None):
    spread = _spread(g, shape_of(x), axis, keepdims)
    if where is None:
        return spread
    if isinstance(spread, Node):
        return bind(choose, spread, 0.0, condition=where)
    return np.where(where, spread, 0.0)  # (the entries outside the mask add nothing)


_sum_vjp.returns_fresh = True  # (_spread and np.where write plain cotangents into a new array)


def _sum_jacobian(ans, x, names, axis=None, keepdims=False, where=None, initial=None):
    shape = np.shape(x)
    if where is not None:
        return _reduction_jacobian(where.astype(np.float64), shape, axis)  # Bᵀ·Diag(vec M)
    if axis is None and len(shape) > 0:
        return RowVector(np.ones(math.prod(shape)), name="1")
    return broadcast_jacobian(_kept_shape(shape, axis), shape).T


def _sum_samples(rng, n):
    return _samples.Sample((rng.standard_normal((n, n + 1)),), {"axis": (0,), "keepdims": False})


sum_ = register(Primitive(
    _sum_impl, name="sum",
    vjps={0: _sum_vjp},
    jacobians={0: _sum_jacobian},
    label=lambda a, axis=None, keepdims=False, where=None, initial=None: f"sum({a})",
    formula="D Σ_axes X = Bᵀ, B the 0/1 map broadcasting back over the summed axes "
            "(vec(1)ᵀ for a full sum); with where=M, Bᵀ·Diag(vec M)",
    reference="Magnus–Neudecker ch. 9 (linear maps have constant Jacobians)",
    samples=_sum_samples, param_names=("X",),
    edge_cases={"full sum": lambda rng: (rng.standard_normal((3, 2)),),
                "negative axis, keepdims": lambda rng: _samples.Sample(
                    (rng.standard_normal((2, 3)),), {"axis": (1,), "keepdims": True}),
                "where=": lambda rng: _samples.Sample(
                    (rng.standard_normal((3, 4)),), {"axis": (1,), "keepdims": False,
                                                     "where": rng.standard_normal((3, 4)) > -0.5}),
                "where=, full sum": lambda rng: _samples.Sample(
                    (rng.standard_normal((2, 9)),), {"axis": None, "where": rng.standard_normal((2, 9)) > 0}),
                "initial=, where=": lambda rng: _samples.Sample(
                    (rng.standard_normal((3, 4)),), {"axis": (0,), "where": rng.standard_normal((3, 4)) > 0,
                                                     "initial": 1.5})},
    fuzz=lambda Y, c: Y + np.sum(Y, axis=1, keepdims=True) / Y.shape[1],
))


def _masked(a, mask, fill):
    """`a` with the entries outside `mask` replaced by the constant `fill` (derivative 0 there)."""
    return a if mask is None else bind(choose, a, fill, condition=mask)


def _folding(op, function, fill, with_initial):
    """The front door of a sum-like reduction: entries outside ``where=`` become
    `fill` (the identity of the reduction), ``initial=`` joins by `with_initial`."""

    def handler(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=_NO_VALUE):
        if (axis is None and keepdims is False and where is _NO_VALUE and initial is _NO_VALUE and dtype is None
                and out is None and isinstance(a, Node)):
            # the common spelling, np.sum(x) of a traced x: what the general path below
            # records for it (no mask, axis None), without its calls (once per objective),
            # and with its parameters left at the impl's and VJPs' defaults (axis=None,
            # keepdims=False): without keywords, their calls spare unpacking a dict
            return bind(op, a)
        if out is not None:
            refuse_arguments(function, out=(out, None))
        if dtype is not None:
            a = in_dtype(a, dtype, function)
        shape = shape_of(a)
        mask, axes = _where_mask(where, shape, function), _axes(axis, len(shape), function, of_a_ufunc=True)
        if initial is _NO_VALUE or isinstance(initial, Node):
            params = {}
        else:  # NumPy's loop starts from the initial value (its order of operations: see _sum_impl)
            params = {"initial": capture(initial, f"the initial value of {function}")}
        if op is sum_ and mask is not None:
            params["where"] = mask  # (NumPy's own masked sum: see _sum_impl)
            result = bind(op, a, axis=axes, keepdims=bool(keepdims), **params)
        else:  # (a product with ones outside the mask: exactly NumPy's masked product)
            result = bind(op, _masked(a, mask, fill), axis=axes, keepdims=bool(keepdims), **params)
        return result if not isinstance(initial, Node) else with_initial(result, initial)

    handler.__name__ = op.name
    return handler


_sum = numpy_function(np.sum)(_folding(sum_, "np.sum", 0.0, operator.add))


@numpy_function(np.nansum)
def _nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=_NO_VALUE):
    # With kronvec.config.check_finite on (the default) a NaN never reaches a traced
    # value, and nansum is sum.  With it off, NaN entries count as 0 and get derivative 0.
    refuse_arguments("np.nansum", out=(out, None))
    a = in_dtype(a, dtype, "np.nansum")
    nan = np.isnan(np.asarray(plain_value(a)))
    if nan.any():
        a = bind(choose, 0.0, a, condition=frozen_copy(nan))
    return _sum(a, axis=axis, keepdims=keepdims, initial=initial, where=where)


def _mean_count(shape, axis):
    return math.prod(shape) if axis is None else math.prod(shape[k] for k in axis)


def _mean_impl(x, axis=None, keepdims=False):
    # np.mean's own arithmetic for floats: the sum, then a true division by the count
    return np.true_divide(np.add.reduce(x, axis=axis, keepdims=keepdims), _mean_count(np.shape(x), axis))


def _mean_jacobian(ans, x, names, axis=None, keepdims=False):
    shape = np.shape(x)
    return algebra.scale(_sum_jacobian(ans, x, names, axis, keepdims), 1.0 / _mean_count(shape, axis))


mean = register(Primitive(
    _mean_impl, name="mean",
    vjps={0: lambda g, ans, x, axis=None, keepdims=False:
          _spread(g * (1.0 / _mean_count(shape_of(x), axis)), shape_of(x), axis, keepdims)},
    jacobians={0: _mean_jacobian},
    label=lambda a, axis=None, keepdims=False: None if a is None else f"mean({a})",
    formula="D mean_axes X = Bᵀ/N: the sum's selection scaled by 1/N (N entries per slice)",
    reference="linear; Magnus–Neudecker ch. 9 (linear maps have constant Jacobians)",
    samples=_sum_samples, param_names=("X",),
    edge_cases={"full mean": lambda rng: (rng.standard_normal((3, 2)),),
                "two axes of a 3-D array, keepdims": lambda rng: _samples.Sample(
                    (rng.standard_normal((2, 3, 2)),), {"axis": (0, 2), "keepdims": True})},
    fuzz=lambda Y, c: Y - np.mean(Y, axis=1, keepdims=True),
))


@numpy_function(np.mean)
def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=_NO_VALUE):
    if out is not None:
        refuse_arguments("np.mean", out=(out, None))
    if dtype is not None:
        a = in_dtype(a, dtype, "np.mean")
    shape = shape_of(a)
    axes = _axes(axis, len(shape), "np.mean")
    mask = _where_mask(where, shape, "np.mean")
    if mask is None:
        if _mean_count(shape, axes) == 0:
            raise ValueError("np.mean of an empty slice is NaN: kronvec refuses it")
        return bind(mean, a, axis=axes, keepdims=bool(keepdims))
    count = np.sum(mask, axis=axes, keepdims=bool(keepdims))
    if np.any(count == 0):
        raise ValueError("np.mean: the where= mask selects no entry of some slice (its mean is NaN)")
    total = bind(sum_, a, axis=axes, keepdims=bool(keepdims), where=mask)  # (NumPy's masked sum)
    # NumPy divides by the (integer) counts in float64 and writes the quotient back in the
    # sum's type (numpy/_core/_methods.py, _mean: true_divide(ret, rcount, out=ret,
    # casting="unsafe")): a float32 mean stays float32, rounded once from the float64 quotient
    return in_dtype(total / count, static_value(total).dtype, "np.mean")


@numpy_function(np.average)
def _average(a, axis=None, weights=None, returned=False, *, keepdims=_NO_VALUE):
    keepdims = False if keepdims is _NO_VALUE else bool(keepdims)
    shape = tuple(shape_of(a))
    axes = normalize_axes(axis, len(shape), "np.average")
    if weights is None:
        average = _mean(a, axis=axes, keepdims=keepdims)
        if size_of(average) == 0:  # (NumPy divides a.size by the average's size, even unreturned)
            raise ZeroDivisionError("np.average: division by zero (the average is empty)")
        if not returned:
            return average
        count = float(size_of(a) / max(1, size_of(average)))
        return average, np.full(tuple(shape_of(average)), count)
    w_shape = tuple(shape_of(weights))
    if w_shape != shape:
        if axes is None:
            raise TypeError("np.average: axis must be specified when shapes of a and weights differ")
        if w_shape != tuple(shape[k] for k in axes):
            raise ValueError(f"np.average: weights of shape {w_shape} are not consistent with a of shape "
                             f"{shape} along axis {axis}")
        weights = np.transpose(weights, tuple(np.argsort(axes).tolist())) if len(axes) > 1 else weights
        weights = np.reshape(weights, tuple(s if k in axes else 1 for k, s in enumerate(shape)))
    total_weight = np.sum(weights if tuple(shape_of(weights)) == shape else np.broadcast_to(weights, shape),
                          axis=axes, keepdims=keepdims)
    if np.any(np.asarray(plain_value(total_weight)) == 0):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    average = np.sum(a * weights, axis=axes, keepdims=keepdims) / total_weight
    return (average, total_weight) if returned else average
