"""Order statistics: ``np.median``, ``np.quantile`` and ``np.percentile`` (NumPy's
interpolation methods).

Each is locally one or two order statistics of each slice, interpolated with
weights NumPy computes: the value is NumPy's, the derivative a weighted selection.
The median takes its middle order statistic(s), ½ each for an even count, each
shared evenly among the entries equal to it (``notes/conventions.md`` §7).
Derivation: ``notes/derivatives.md`` §18.
"""

from __future__ import annotations

import functools

import numpy as np

from ..._tracer import Node
from .. import _samples
from .._registry import Primitive, numpy_function, register
from .._support import bind, decided, normalize_axes, refuse_arguments, shape_of
from ._common import _axis_label, _count, _float_dtype, _kept_cotangent, _pick_jacobian, _to_rows
from .extremes import _distinct_entries

__all__ = ["median", "quantile"]


def _median_weights(x, axis):
    """½ at each of the two middle order statistics of a slice (1 at the middle
    one for an odd count), each shared evenly among the entries equal to it: a
    decision on the values."""
    return decided(functools.partial(_plain_median_weights, axis=axis), x)


def _plain_median_weights(x, axis):
    return _order_statistic_weights(x, axis, lambda count: (((count - 1) // 2, 0.5), (count // 2, 0.5)))


def _order_statistic_weights(x, axis, picks):
    """Σ weight · (the entries of each slice equal to its order statistic `order`, sharing
    the weight evenly) over ``picks(count) = ((order, weight), …)``: the selection weights
    of the median and of the quantiles, which are each locally one or two order statistics."""
    x = np.asarray(x)
    rows, back = _to_rows(x, axis)
    ordered = np.sort(rows, axis=-1)
    weights = np.zeros(rows.shape, dtype=_float_dtype(x))
    for order, weight in picks(rows.shape[-1]):
        if weight:
            hit = rows == ordered[..., order:order + 1]
            weights += weight * hit / np.sum(hit, axis=-1, keepdims=True)
    return back(weights)


median = register(Primitive(
    lambda x, axis=None, keepdims=False: np.median(x, axis=axis, keepdims=keepdims), name="median",
    vjps={0: lambda g, ans, x, axis=None, keepdims=False:
          _kept_cotangent(g, shape_of(x), axis, keepdims) * _median_weights(x, axis)},
    jacobians={0: lambda ans, x, names, axis=None, keepdims=False:
               _pick_jacobian(_median_weights(x, axis), np.shape(x), axis)},
    label=_axis_label("median"),
    formula="D median_axes X = Sᵀ_out·Diag(w)·S_in: the middle entry (w = 1) or the two middle "
            "entries (w = ½ each) of each slice; tied entries share their weight evenly",
    reference="the median is locally the middle order statistic (NumPy: np.median averages the two "
              "middle values of an even count)",
    samples=_distinct_entries((1,)),
    param_names=("X",),
    edge_cases={
        "odd count, full": lambda rng: (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6], [0.9, 1.7, -0.5]]),),
        "even count along axis 0, keepdims": lambda rng: _samples.Sample(
            (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),), {"axis": (0,), "keepdims": True}),
    },
))


@numpy_function(np.median)
def _median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    # (overwrite_input only allows NumPy to scratch the input; kronvec never does)
    refuse_arguments("np.median", out=(out, None))
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape), "np.median")
    if _count(shape, axes, None) == 0:
        raise ValueError("np.median of an empty slice is NaN: kronvec refuses it")
    return bind(median, a, axis=axes, keepdims=bool(keepdims))


def _quantile_weights(x, q, axis, method="linear"):
    """NumPy's linear method: the order statistics ⌊p⌋ and ⌊p⌋ + 1 of each slice
    (p = q·(n − 1)) with weights 1 − (p − ⌊p⌋) and p − ⌊p⌋, each shared evenly
    among the entries equal to it, as the median's: a decision on the values.
    The other methods move p (Hyndman & Fan's α, β) or pick one order statistic."""
    return decided(functools.partial(_plain_quantile_weights, q=q, axis=axis, method=method), x)


#: NumPy's continuous quantile methods as Hyndman & Fan's (α, β): the virtual index of the
#: order statistics is p = n·q + α + q·(1 − α − β) − 1, clipped to [0, n − 1]
_QUANTILE_ALPHA_BETA = {"linear": (1.0, 1.0), "weibull": (0.0, 0.0), "hazen": (0.5, 0.5),
                        "median_unbiased": (1 / 3, 1 / 3), "normal_unbiased": (3 / 8, 3 / 8),
                        "interpolated_inverted_cdf": (0.0, 1.0)}


#: the methods that take one order statistic (midpoint: the mean of the two around p)
_QUANTILE_DISCRETE = ("lower", "higher", "nearest", "midpoint")
QUANTILE_METHODS = tuple(_QUANTILE_ALPHA_BETA) + _QUANTILE_DISCRETE


def _plain_quantile_weights(x, q, axis, method="linear"):
    def picks(count):
        alpha, beta = _QUANTILE_ALPHA_BETA.get(method, (1.0, 1.0))
        position = q * (count - 1) if method in _QUANTILE_DISCRETE or method == "linear" else \
            count * q + alpha + q * (1 - alpha - beta) - 1
        position = min(max(position, 0.0), count - 1.0)
        low = min(int(np.floor(position)), count - 1)
        high = min(low + 1, count - 1)
        fraction = position - low
        if method == "lower":
            return ((low, 1.0),)
        if method == "higher":
            return ((high if fraction > 0 else low, 1.0),)
        if method == "nearest":  # NumPy rounds half to even
            return ((min(int(np.around(position)), count - 1), 1.0),)
        if method == "midpoint":
            return ((low, 1.0),) if fraction == 0 else ((low, 0.5), (high, 0.5))
        return (low, 1.0 - fraction), (high, fraction)

    return _order_statistic_weights(x, axis, picks)


def _quantile_samples(rng, n):
    X = rng.permutation(n * (n + 1)).reshape(n, n + 1) / n + 0.1 * rng.standard_normal((n, n + 1)) / n
    return _samples.Sample((X,), {"q": 0.3, "axis": (1,), "keepdims": False})


quantile = register(Primitive(
    lambda x, q, axis=None, keepdims=False, method="linear":
        np.quantile(x, q, axis=axis, keepdims=keepdims, method=method), name="quantile",
    vjps={0: lambda g, ans, x, q, axis=None, keepdims=False, method="linear":
          _kept_cotangent(g, shape_of(x), axis, keepdims) * _quantile_weights(x, q, axis, method)},
    jacobians={0: lambda ans, x, names, q, axis=None, keepdims=False, method="linear":
               _pick_jacobian(_quantile_weights(x, q, axis, method), np.shape(x), axis)},
    label=lambda a, q, axis=None, keepdims=False, method="linear": None if a is None else f"quantile({a}, {q})",
    formula="D quantile_axes X = Sᵀ_out·Diag(w)·S_in: the order statistics ⌊p⌋, ⌊p⌋+1 of each slice, "
            "p = q(n−1), with weights 1 − (p − ⌊p⌋) and p − ⌊p⌋; tied entries share their weight evenly",
    reference="NumPy's default (linear, Hyndman & Fan type 7) quantile interpolates linearly between "
              "two order statistics, each locally one entry of the slice",
    samples=_quantile_samples,
    param_names=("X",),
    edge_cases={
        "q = 0 and 1 (the extremes), full": lambda rng: _samples.Sample(
            (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),), {"q": 1.0, "axis": None, "keepdims": False}),
        "an order statistic exactly (q(n−1) an integer), keepdims": lambda rng: _samples.Sample(
            (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6], [0.9, 1.7, -0.5]]),),
            {"q": 0.5, "axis": (0,), "keepdims": True}),
    },
))


#: every method NumPy's quantile takes (kronvec differentiates QUANTILE_METHODS; the
#: discontinuous inverted-CDF ones are refused by name, anything else is NumPy's ValueError)
_NUMPY_QUANTILE_METHODS = QUANTILE_METHODS + ("inverted_cdf", "averaged_inverted_cdf", "closest_observation")


class _EmptySliceError(IndexError, ValueError):
    """A quantile of an empty slice: NumPy's np.quantile raises IndexError there, and
    np.nanquantile returns NaN, a value kronvec refuses (ValueError): catchable as either."""


def _quantile_front_door(name, scale):
    def handler(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                weights=None, interpolation=None):
        # (overwrite_input only allows NumPy to scratch the input; kronvec never does)
        if not isinstance(method, str) or method not in _NUMPY_QUANTILE_METHODS:
            raise ValueError(f"{name}: {method!r} is not a valid method. Use one of: {_NUMPY_QUANTILE_METHODS}")
        refuse_arguments(name, out=(out, None), weights=(weights, None), interpolation=(interpolation, None),
                         **({} if method in QUANTILE_METHODS else {"method": (method, "linear")}))
        if isinstance(q, Node):
            raise TypeError(f"kronvec differentiates {name} in a, not in q: pass q as a plain number or array")
        # q as NumPy's quantile reads it: percentiles divided by 100 in q's own type
        q_read = np.asarray(q) if scale == 1.0 else np.true_divide(q, scale)
        qs = q_read.astype(np.float64)
        if np.any((qs < 0) | (qs > 1)) or not np.all(np.isfinite(qs)):
            raise ValueError(f"{name}: " + ("Percentiles must be in the range [0, 100]" if scale == 100
                                            else "Quantiles must be in the range [0, 1]"))
        shape = shape_of(a)
        axes = normalize_axes(axis, len(shape), name)
        if _count(shape, axes, None) == 0:
            raise _EmptySliceError(f"{name} of an empty slice: NumPy raises IndexError (index -1 is out of "
                                   "bounds for axis 0 with size 0); its nan-version returns NaN, which kronvec "
                                   "refuses")
        extra = {} if method == "linear" else {"method": method}
        # q a Python number is weak (NEP 50): float32 data keeps float32; q an array or list makes
        # NumPy's result type depend on q's (float64 for a list of floats), which each value as a
        # scalar of q's own type gives alike
        kind = float if type(q) in (float, int) else q_read.dtype.type
        values = [bind(quantile, a, q=kind(v), axis=axes, keepdims=bool(keepdims), **extra)
                  for v in q_read.ravel()]
        if qs.ndim == 0:
            return values[0]
        return np.reshape(np.stack(values), qs.shape + tuple(shape_of(values[0])))

    handler.__name__ = name.split(".")[-1]
    return handler


numpy_function(np.quantile)(_quantile_front_door("np.quantile", 1.0))
numpy_function(np.percentile)(_quantile_front_door("np.percentile", 100.0))
