"""What the kronvec.scipy modules share: arrays from arguments, parameters that
must stay plain, and SciPy's own argument checks."""

from __future__ import annotations

import functools

import numpy as np

from .._linalg.scope import _current as _current_scope
from .._tracer import Node, plain_value, static_value
from ..ops._support import decided

__all__ = ["as_array", "is_traced", "plain_parameter", "plain_value", "static_value", "shift_for",
           "plain_calls_outside_scope"]


def is_traced(x):
    return isinstance(x, Node)


def as_dtype(a, dtype):
    """`a` as `dtype`: a traced value cast by a recorded astype, a plain one converted
    (itself when it has that dtype already)."""
    if (static_value(a) if isinstance(a, Node) else np.asarray(a)).dtype == dtype:
        return a
    return a.astype(dtype) if isinstance(a, Node) else np.asarray(a, dtype=dtype)


def float64_as_scipy(result):
    """A float32 `result` as float64, for the functions SciPy computes in the input's
    precision but returns in float64 (``det``, ``logm``, ``fractional_matrix_power``):
    their dtype is SciPy's, their digits float32's, as SciPy's are."""
    dtype = (static_value(result) if isinstance(result, Node) else np.asarray(result)).dtype
    return as_dtype(result, np.float64) if dtype == np.float32 else result


def as_array(x):
    """A traced value as it is; a list or tuple holding traced values stacked
    (``np.asarray`` would drop their derivatives); anything else ``np.asarray``."""
    if isinstance(x, Node):
        return x
    if isinstance(x, (list, tuple)) and _holds_traced(x):
        return np.stack([as_array(item) for item in x])
    return np.asarray(x)


def _holds_traced(items):
    return any(isinstance(item, Node) or (isinstance(item, (list, tuple)) and _holds_traced(item)) for item in items)


def _may_hold_traced(items):
    """_holds_traced, or an object array (whose entries may be traced values)."""
    return _holds_traced(items) or any(isinstance(item, np.ndarray) and item.dtype.hasobject for item in items)


def plain_parameter(value, function, argument):
    """`value` as a plain array; a TypeError naming `function` and `argument` when it
    is traced (an argument kronvec does not differentiate `function` in)."""
    if isinstance(value, Node) or (isinstance(value, (list, tuple)) and _holds_traced(value)):
        raise TypeError(
            f"kronvec cannot differentiate {function} with respect to its argument {argument}: "
            f"pass {argument} as a plain number or array, not a value computed from the "
            "differentiated inputs"
        )
    return np.asarray(value)


def shift_for(a, axis, where=None):
    """The plain maximum of `a` along `axis` (kept as 1s), 0 where it is not finite:
    the constant c of log Σ eᵃ = c + log Σ e^(a − c), which keeps the exponentials
    from overflowing. A constant of the point, so it carries no derivative — the
    identity holds for every c, at every order.  A decision on the values
    (``kronvec.ops._support.decided``): a compiled recording takes it again at each
    replay, so logsumexp, softmax and log_softmax compile."""
    return decided(functools.partial(_shift, axis=axis, where=where), a)


def _shift(values, axis, where):
    values = np.asarray(values)
    if where is not None:
        values = np.where(where, values, -np.inf)
    if values.size == 0:
        return np.zeros(_kept_shape(values.shape, axis))
    shift = np.max(values, axis=axis, keepdims=True)
    return np.where(np.isfinite(shift), shift, 0.0)


def _kept_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in ((axis,) if np.isscalar(axis) else axis)}
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def plain_calls_outside_scope(function):
    """`function` (a public ``kronvec.scipy`` front door) run, when none of its arguments
    is traced, outside the differentiation call's scope.

    Within a call, factorizations and other per-call results are remembered by the
    identity of the array they were computed from (``kronvec/_linalg/scope.py``), which
    is safe for the call's own arrays — recorded values and constants captured by value —
    and for nothing else.  A front door given only plain arrays works on the caller's
    own: a buffer changed inside the differentiated function between two calls
    (``C[0, 0] += 1`` between two ``polar(C)``) would find the first call's factorization.
    Outside the scope, each plain call computes afresh, as SciPy does."""
    @functools.wraps(function)
    def front_door(*args, **kwargs):
        if _current_scope.get() is None or _may_hold_traced(args) or _may_hold_traced(kwargs.values()):
            return function(*args, **kwargs)
        token = _current_scope.set(None)
        try:
            return function(*args, **kwargs)
        finally:
            _current_scope.reset(token)

    return front_door
