"""Moments: ``np.var`` and ``np.std`` (``ddof``/``correction``, ``where``, ``mean=``).

D var = 2(X − μ)/(N − ddof) over each slice; std's is var's over 2·std, with the
subgradient 0 at a zero spread (``notes/conventions.md`` §7).  Derivation:
``notes/derivatives.md`` §18.
"""

from __future__ import annotations

import functools

import numpy as np

from ..._constants import frozen_copy
from .. import _samples
from .._registry import Primitive, numpy_function, numpy_method, register
from .._support import bind, decided, keepdims_shape, loud, refuse_arguments, shape_of
from ..shape import in_dtype
from ._common import (_axes, _axis_label, _count, _kept, _kept_cotangent, _reduction_jacobian, _safe_inverse,
                      _where_mask)

__all__ = ["var", "std"]

# (hot paths read these as globals, not np.<name>: see kronvec/_tracer.py)
_ndarray = np.ndarray

_NO_VALUE = np._NoValue


def _centered(x, axis, where):
    """X − mean(X) over the reduced axes (0 outside the where= mask), in NumPy calls."""
    count = _count(shape_of(x), axis, where)
    masked = x if where is None else x * where
    total = masked.sum(axis=axis, keepdims=True) if type(masked) is _ndarray else \
        np.sum(masked, axis=axis, keepdims=True)
    centered = x - total / count
    return (centered if where is None else centered * where), count


def _moment_impl(function):
    def impl(x, axis=None, ddof=0, keepdims=False, where=None):
        return loud(f"np.{function.__name__}", lambda v: function(
            v, axis=axis, ddof=ddof, keepdims=keepdims, where=True if where is None else where))(x)

    return impl


def _var_derivative(ans, x, axis, ddof, keepdims, where):
    centered, count = _centered(x, axis, where)
    return centered * (2.0 / (count - ddof))


def _spread_indicator(x, axis, where):
    """1.0 for a slice whose entries are not all equal, 0.0 for one whose are (a rule for
    ``decided``): its std is 0 exactly, where the computed one is rounding (the mean of
    equal entries need not be one of them), ~1e-17, not 0."""
    x = np.asarray(x)
    if where is None:
        spread = np.ptp(x, axis=axis, keepdims=True)
    else:
        spread = (np.max(x, axis=axis, keepdims=True, where=where, initial=-np.inf)
                  - np.min(x, axis=axis, keepdims=True, where=where, initial=np.inf))
    return (spread != 0).astype(x.dtype)


def _std_derivative(ans, x, axis, ddof, keepdims, where):
    # (X − μ)/((N − ddof)·std), and 0 for a slice of zero spread: std = ‖X − μ‖/√(N − ddof)
    # takes the subgradient 0 of the norm at 0 (notes/conventions.md §7).  Zero spread is
    # read from the entries (all equal), not from the computed std, which rounding leaves
    # ~1e-17 there: its (X − μ)/std, noise over noise, was ±1 (found by a random-program sweep)
    centered, count = _centered(x, axis, where)
    spread = _kept(ans, shape_of(x), axis, keepdims) * decided(
        functools.partial(_spread_indicator, axis=axis, where=where), x)
    return centered * (1.0 / (count - ddof)) * _safe_inverse(spread)


def _moment(function, derivative, name, formula, reference, fuzz):
    def vjp(g, ans, x, axis=None, ddof=0, keepdims=False, where=None):
        return _kept_cotangent(g, shape_of(x), axis, keepdims) * derivative(ans, x, axis, ddof, keepdims, where)

    def jacobian(ans, x, names, axis=None, ddof=0, keepdims=False, where=None):
        return _reduction_jacobian(derivative(np.asarray(ans), np.asarray(x), axis, ddof, keepdims, where),
                                   np.shape(x), axis)

    return register(Primitive(
        _moment_impl(function), name=name, vjps={0: vjp}, jacobians={0: jacobian},
        label=_axis_label(name), formula=formula, reference=reference,
        samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),),
                                               {"axis": (1,), "ddof": 0, "keepdims": False}),
        param_names=("X",),
        edge_cases={
            "full, ddof=1": lambda rng: _samples.Sample((rng.standard_normal((2, 3)),), {"ddof": 1}),
            "two axes, keepdims": lambda rng: _samples.Sample(
                (rng.standard_normal((2, 3, 2)),), {"axis": (0, 2), "ddof": 0, "keepdims": True}),
            "where": lambda rng: _samples.Sample(
                (rng.standard_normal((2, 4)),),
                {"axis": (1,), "ddof": 1, "where": frozen_copy(np.array([[True, False, True, True],
                                                                         [True, True, True, False]]))}),
        },
        fuzz=fuzz,
    ))


var = _moment(np.var, _var_derivative, "var",
              "D var_axes X = Bᵀ·Diag(vec 2(X − μ)/(N − ddof)) (the mean's own variation sums to 0)",
              "d Σ(xᵢ − μ)² = 2 Σ(xᵢ − μ)(dxᵢ − dμ) = 2 Σ(xᵢ − μ) dxᵢ; NumPy np.var for ddof",
              lambda Y, c: np.var(Y, axis=0, keepdims=True) + Y)
std = _moment(np.std, _std_derivative, "std",
              "D std_axes X = Bᵀ·Diag(vec (X − μ)/((N − ddof)·std)); 0 for a slice of zero spread",
              "std = √var: d std = d var/(2 std); at std = 0 the norm's subgradient 0",
              lambda Y, c: np.std(np.concatenate([Y, Y + 1.0], axis=0), axis=0, keepdims=True) * Y)


def _moment_about(op, a, mean, axes, ddof, keepdims, mask, count, function):
    """NumPy 2's ``np.var(a, mean=m)``: Σ (a − m)² / (N − ddof) about the given m (shaped like
    the keepdims result), not a's own mean; std its square root.  Built from recorded
    operations, so m is differentiated too when it is traced (derivatives.md §32)."""
    kept = keepdims_shape(shape_of(a), axes)
    if tuple(shape_of(mean)) != kept:
        raise ValueError(f"{function}: mean= must have the shape of the result with keepdims=True, {kept}; "
                         f"got {tuple(shape_of(mean))}")
    deviation = a - mean
    squares = deviation * deviation
    where = {} if mask is None else {"where": mask}
    total = np.sum(squares, axis=axes, keepdims=True, **where)
    variance = total / (count - ddof)
    if not keepdims:
        variance = np.reshape(variance, tuple(s for k, s in enumerate(kept) if axes is not None and k not in axes))
    return variance if op is var else np.sqrt(variance)


def _moment_handler(op, function):
    def handler(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=_NO_VALUE,
                mean=_NO_VALUE, correction=_NO_VALUE):
        if out is not None:
            refuse_arguments(function, out=(out, None))
        if dtype is not None:
            a = in_dtype(a, dtype, function)
        if correction is not _NO_VALUE:
            if ddof != 0:
                raise ValueError(f"{function}: ddof and correction can't be provided simultaneously.")
            ddof = correction
        shape = shape_of(a)
        axes = _axes(axis, len(shape), function)
        mask = _where_mask(where, shape, function)
        count = _count(shape, axes, mask)
        if (count <= ddof) if mask is None else np.any(count <= ddof):
            raise ValueError(f"{function}: degrees of freedom <= 0 for a slice (N − ddof ≤ 0): the result would "
                             "be inf or NaN")
        if mean is not _NO_VALUE:
            return _moment_about(op, a, mean, axes, ddof, keepdims, mask, count, function)
        return bind(op, a, axis=axes, ddof=float(ddof), keepdims=bool(keepdims), where=mask)

    handler.__name__ = op.name
    return handler


numpy_method("var")(numpy_function(np.var)(_moment_handler(var, "np.var")))
numpy_method("std")(numpy_function(np.std)(_moment_handler(std, "np.std")))
