"""What the kronvec.scipy modules share: arrays from arguments, parameters that
must stay plain, and SciPy's own argument checks."""

from __future__ import annotations

import numpy as np

from .._tracer import Node, plain_value, static_value

__all__ = ["as_array", "is_traced", "plain_parameter", "plain_value", "static_value", "shift_for"]


def is_traced(x):
    return isinstance(x, Node)


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
    identity holds for every c, at every order."""
    values = np.asarray(plain_value(a))
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
