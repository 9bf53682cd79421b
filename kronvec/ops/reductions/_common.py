"""What the reductions share: the axes and shapes of a reduction, the broadcast of a
cotangent back over the reduced axes, the Jacobian Bᵀ·Diag(vec D) of a reduction
and the weighted selection of one that picks entries, where= masks and counts.
"""

from __future__ import annotations

import math

import numpy as np

from ..._constants import frozen_copy
from ..._tracer import Node, compile_guard
from ..._vec import vec
from ...operators import Diag, RowVector, Selection, algebra, selection_from_index
from .._support import (bind, decided, is_zero, broadcast_jacobian, normalize_axes, plain_value, shape_of,
                        static_value, traced_argument_error)
from ..shape import broadcast_to
from ..indexing import where as choose
from ..indexing import where_replayed


# (hot paths read these as globals, not np.<name>: see kronvec/_tracer.py)
_ndarray, _empty = np.ndarray, np.empty

_NO_VALUE = np._NoValue


def _float_dtype(x):
    return np.result_type(np.asarray(x).dtype, np.float32)


def _kept_shape(shape, axis):
    """`shape` with the reduced axes (a normalized tuple, or None for all) kept as 1s."""
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if k in axis else s for k, s in enumerate(shape))


def _kept_cotangent(g, shape, axis, keepdims):
    """The cotangent Ȳ of a reduction over `axis`, with the reduced axes as 1s: it
    broadcasts against the input, so Ȳ·D (D shaped like the input) is the VJP B Ȳ ∘ D."""
    if keepdims:
        return g
    kept = _kept_shape(shape, axis)
    if type(g) is _ndarray:
        return g.reshape(kept)
    if isinstance(g, Node):
        return g if tuple(g.shape) == kept else np.reshape(g, kept)
    return np.reshape(g, kept)


def _spread(g, shape, axis, keepdims):
    """The cotangent of a reduction over `axis`, broadcast back over the input's `shape`."""
    if type(g) is float:
        # a 0-d result's cotangent as a Python float (the seed of a gradient): every
        # entry of the input gets it (float64, as the 0-d array np.reshape makes of it)
        out = _empty(shape)
        out.fill(g)
        return out
    g = _kept_cotangent(g, shape, axis, keepdims)
    if isinstance(g, Node):
        return g if tuple(g.shape) == tuple(shape) else bind(broadcast_to, g, shape=tuple(shape))
    out = np.empty(shape, dtype=g.dtype)
    np.copyto(out, g)
    return out


def _axes(axis, ndim, function, of_a_ufunc=False):
    """`axis` as a normalized tuple (None stays None), quickly for a valid int.  A ufunc's
    reduction (`of_a_ufunc`: np.sum, np.prod, np.max, np.min) takes axis 0 or −1 of a 0-d
    array as NumPy does: the whole of its one entry (np.mean and the moments refuse it)."""
    if type(axis) is int and -ndim <= axis < ndim:
        return (axis + ndim if axis < 0 else axis,)
    if of_a_ufunc and ndim == 0 and isinstance(axis, (int, np.integer)) and axis in (0, -1):
        return None
    if isinstance(axis, list):  # (NumPy's reductions take a tuple of axes, not a list: its TypeError)
        raise TypeError(f"{function}: axis must be an int or a tuple of ints, not a list ({axis!r})")
    return normalize_axes(axis, ndim, function)


def _reduction_jacobian(derivative, shape, axis, name=None):
    """``Bᵀ·Diag(vec D)``: each output adds D∘dX over its slice (a row for a full reduction)."""
    d = vec(np.broadcast_to(np.asarray(derivative), shape))
    if axis is None and len(shape) > 0:
        return RowVector(d, name=name)
    return algebra.multiply(broadcast_jacobian(_kept_shape(shape, axis), shape).T, Diag(d, name=name))


def _pick_jacobian(weights, shape, axis):
    """``Sᵀ_out·Diag(w)·S_in`` for a reduction whose derivative is nonzero at few
    entries (max, min, median): S_in picks them, Diag weighs them, Sᵀ_out adds
    each onto its output.  A plain selection when every output picks one entry."""
    weights = np.asarray(weights)
    if axis is None and len(shape) > 0:
        return RowVector(vec(weights))
    kept = _kept_shape(shape, axis)
    n_in, n_out = math.prod(shape), math.prod(kept)
    w = vec(weights)
    picked = np.flatnonzero(w)
    # the output of each picked entry: its index with the reduced axes dropped, in vec order
    # (vec position p of an entry: index k is p // (d₀⋯d_{k−1}) mod d_k)
    outputs = np.zeros(picked.size, dtype=np.intp)
    for k, size in enumerate(shape):
        if k not in axis:
            outputs += (picked // math.prod(shape[:k])) % size * math.prod(kept[:k])
    order = np.argsort(outputs, kind="stable")
    picked, outputs = picked[order], outputs[order]
    values = w[picked]
    if picked.size == n_out and np.all(values == 1):  # one entry per output: S_out = I
        return selection_from_index(picked, n_in)
    rows = Selection(picked, n_in, dtype=weights.dtype)
    return algebra.multiply(Selection(outputs, n_out, dtype=weights.dtype).T,
                            algebra.multiply(Diag(values), rows))


def _where_mask(where, shape, function):
    """NumPy's ``where=`` as a frozen boolean array of the input's shape, or None for 'everywhere'."""
    if where is _NO_VALUE or where is True:
        return None
    if isinstance(where, Node):
        raise traced_argument_error(where, f"kronvec: {function}: where= must be a plain boolean array, not a "
                                    "traced value", f"{function}'s where= mask")
    mask = np.asarray(where)
    if mask.dtype != bool:
        raise TypeError(f"kronvec: {function}: where= must be a boolean array, got dtype {mask.dtype}")
    try:
        mask = np.broadcast_to(mask, shape)
    except ValueError:
        raise ValueError(f"{function}: where= of shape {np.shape(where)} does not broadcast to the "
                         f"input's shape {tuple(shape)}") from None
    return None if mask.all() else frozen_copy(mask)


def _count(shape, axis, mask):
    """Entries per output (keepdims shape): an int without a mask, else an array."""
    if mask is None:
        return math.prod(shape) if axis is None else math.prod(shape[k] for k in axis)
    return np.sum(mask, axis=axis, keepdims=True)


def _to_rows(x, axis):
    """`x` with the reduced axes moved last and merged into one, and the map back.
    Written with NumPy calls, so it records on traced values."""
    shape = tuple(shape_of(x))
    ndim = len(shape)
    axes = tuple(range(ndim)) if axis is None else tuple(axis)
    rest = [k for k in range(ndim) if k not in axes]
    order = rest + sorted(axes)
    moved = x if order == list(range(ndim)) else np.transpose(x, order)
    moved_shape = tuple(shape[k] for k in order)
    flat_shape = moved_shape[:len(rest)] + (math.prod(shape[k] for k in axes),)
    flat = moved if flat_shape == moved_shape else np.reshape(moved, flat_shape)

    def back(y):
        y = y if flat_shape == moved_shape else np.reshape(y, moved_shape)
        return y if order == list(range(ndim)) else np.transpose(y, tuple(np.argsort(order).tolist()))

    return flat, back


def _along(axis, index, ndim):
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def _reversed_along(x, axis):
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


def _shifted(y, axis, fill, up=False):
    """y moved one place along `axis` — down (entry k−1 at k) or `up` (k+1 at k) —
    with `fill` entering at the free end."""
    shape = tuple(shape_of(y))
    length = shape[axis]
    if length == 0:
        return y
    ndim = len(shape)
    source, target = slice(1, None), slice(0, length - 1)
    if not isinstance(y, Node):
        y = np.asarray(y)
        out = np.empty(shape, dtype=_float_dtype(y))
        out[_along(axis, target if up else source, ndim)] = y[_along(axis, source if up else target, ndim)]
        out[_along(axis, length - 1 if up else 0, ndim)] = fill
        return out
    edge = np.full(shape[:axis] + (1,) + shape[axis + 1:], fill, dtype=_float_dtype(static_value(y)))
    if length == 1:
        return edge
    body = y[_along(axis, source if up else target, ndim)]
    return np.concatenate([body, edge] if up else [edge, body], axis=axis)


def _safe_inverse(s):
    """1/s where s ≠ 0 and 0 where s = 0 (the subgradient 0 of a norm-like
    reduction at a zero slice), without evaluating 1/0."""
    if isinstance(s, Node) and compile_guard(s) is not None:
        # a traced VJP in a recording made for replay (hvp): the zero test is recorded,
        # and the one formula below serves every replay (1/s exactly where s ≠ 0)
        zero = decided(is_zero, s)
        return bind(where_replayed, 0.0, 1.0 / bind(where_replayed, 1.0, s, zero), zero)
    zero = np.asarray(plain_value(s)) == 0
    if not zero.any():
        return 1.0 / s
    if isinstance(s, Node):
        return (1.0 / bind(choose, 1.0, s, condition=frozen_copy(zero))) * (~zero)
    return np.where(zero, 0.0, 1.0 / np.where(zero, 1.0, s))


def _reduced_shape(shape, axis):
    """The shape of a reduction over `axis` without keepdims."""
    return () if axis is None else tuple(s for k, s in enumerate(shape) if k not in axis)


def _kept(ans, shape, axis, keepdims):
    """The result with its reduced axes as 1s (broadcasts against the input)."""
    kept = _kept_shape(shape, axis)
    if keepdims or tuple(shape_of(ans)) == kept:
        return ans
    return np.reshape(ans, kept)


def _axis_label(name):
    def label(a, axis=None, keepdims=False, **params):
        if a is None:
            return None
        return f"{name}({a})" if axis is None else f"{name}({a}, axis={axis[0] if len(axis) == 1 else axis})"

    return label
