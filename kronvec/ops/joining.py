"""Operations that join, split, repeat and pad arrays.

Joining places each piece in a block of the result: piece k's Jacobian is
S_kᵀ, the adjoint of picking the block out of the result, and its VJP picks
that block out of the cotangent.  Splitting picks blocks (each piece a
slice: a view, as NumPy's); repeating and tiling pick entries more than
once (one getitem whose VJP adds the repeats back); padding places the
array inside constants (its VJP picks the interior).

Arrays built from traced values with ``np.array``/``np.asarray`` (and so
``np.r_``, ``np.c_``, ``np.append`` of a list) are object arrays of traced
entries; :func:`lift` turns such an array into one recorded value where it
meets kronvec, through :data:`assemble` and the joins above.

Derivations: ``notes/derivatives.md`` §11, §19 and §29.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .._config import settings
from .._constants import capture, frozen_copy
from .._tracer import Node, holds_nodes, plain_value, set_object_lift, static_value
from . import _samples
from ._registry import Primitive, numpy_function, numpy_method, register
from ._support import (
    bind,
    index_map_jacobian,
    normalize_axes,
    positions,
    refuse_arguments,
    shape_of,
    undispatched,
    traced_argument_error,
)
from .indexing import gather, getitem, new_array_order
from .shape import _expand_dims, _ravel, atleast_1d, atleast_2d, atleast_3d, cast, copy, value_dtype

__all__ = ["concatenate", "pad", "assemble", "elements", "lift", "COERCIONS"]

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)


# -------------------------------------------------------------- concatenate
def _piece_key(sizes, axis, position):
    """The index of piece `position` of a concatenation along `axis` in the result
    (`sizes`: every piece's length along axis)."""
    start = sum(sizes[:position])
    return (slice(None),) * axis + (slice(start, start + sizes[position]),)


def _concatenate_vjp(position):
    def vjp(g, ans, *arrays, axis=0):
        if type(g) is _ndarray:  # the reverse sweep's common case: the block of g, a view
            start = 0
            if position:
                for a in arrays[:position]:
                    start += shape_of(a)[axis]
            piece = arrays[position]
            stop = start + (piece.shape if type(piece) is _ndarray else shape_of(piece))[axis]
            return g[start:stop] if axis == 0 else g[(slice(None),) * axis + (slice(start, stop),)]
        return bind(getitem, g, key=_piece_key([shape_of(a)[axis] for a in arrays], axis, position))

    return vjp


def _concatenate_jacobian(position):
    def jacobian(ans, *arrays, names, axis=0):
        key = _piece_key([np.shape(a)[axis] for a in arrays], axis, position)
        # the piece is picked out of the result by S; the piece's Jacobian is Sᵀ
        return index_map_jacobian(np.shape(ans), positions(np.shape(ans))[key]).T

    return jacobian


_np_concatenate = undispatched(np.concatenate)  # (on plain arrays only)

concatenate = register(Primitive(
    # (axis defaults to 0, NumPy's default: np.concatenate([a, b]) is recorded without keywords)
    lambda *arrays, axis=0: _np_concatenate(arrays, axis=axis), name="concatenate",
    vjps=_concatenate_vjp, jacobians=_concatenate_jacobian,
    label=lambda *labels, axis=0: None,
    formula="D_k = S_kᵀ, S_k the 0/1 map picking piece k out of the result",
    reference="linear; each piece's Jacobian is the adjoint of picking it out",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, 2)), rng.standard_normal((n, 3))), {"axis": 1}),
    param_names=("A", "B"),
    edge_cases={"three pieces along rows": lambda rng: _samples.Sample(
        (rng.standard_normal((1, 2)), rng.standard_normal((2, 2)), rng.standard_normal((1, 2))), {"axis": 0}),
                "3-D along the last axis": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 1, 2)), rng.standard_normal((2, 1, 3))), {"axis": 2})},
    fuzz=lambda Y, c: np.concatenate([Y, 2.0 * Y[:, :1]], axis=1),
))


def _join(function, arrays):
    if type(arrays) is list and arrays:  # the common spelling: taken as it is (not modified)
        return arrays
    if isinstance(arrays, Node):  # NumPy reads an array as the sequence of its rows
        if not shape_of(arrays):
            raise TypeError(f"{function}: iteration over a 0-d array")
        arrays = [arrays[i] for i in range(shape_of(arrays)[0])]
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{function}: need at least one array to join")
    return arrays


def _joined_in(function, arrays, dtype, casting):
    """The pieces of a join cast to its ``dtype=`` under ``casting`` (NumPy's rule; a float
    dtype only: :func:`kronvec.ops.shape.in_dtype`)."""
    from .shape import in_dtype  # (shape builds on this module)

    arrays = _join(function, arrays)
    for a in arrays:
        source = np.result_type(static_value(a) if isinstance(a, Node) else np.asarray(a))
        if not np.can_cast(source, dtype, casting=casting):
            raise TypeError(f"{function}: cannot cast a piece from {source} to {np.dtype(dtype)} "
                            f"according to the rule {casting!r}")
    return [in_dtype(a, dtype, function) for a in arrays]


@numpy_function(np.concatenate)
def _concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    # (dtype and casting keyword-only in NumPy, whose dispatcher refuses them by position
    # before this runs: here they need not be, which spares each call two lookups of
    # keyword-only defaults)
    if type(arrays) is list and len(arrays) == 2 and type(axis) is int and axis == 0 and out is None \
            and dtype is None and casting == "same_kind":
        # The common spelling, np.concatenate([a, b]), at once: along the first axis, NumPy's
        # default and the impl's and VJPs' (no keywords to unpack); pieces NumPy cannot join
        # (0-d, mismatched shapes) are refused by NumPy's own np.concatenate in the impl.
        return bind(concatenate, arrays[0], arrays[1])
    if out is not None or dtype is not None or casting != "same_kind":  # (the defaults: nothing to refuse)
        refuse_arguments("np.concatenate", out=(out, None), **({"casting": (casting, "same_kind")} if dtype is None else {}))
        if dtype is not None:
            arrays = _joined_in("np.concatenate", arrays, dtype, casting)
    if type(arrays) is not list or not arrays:  # (a non-empty list, the common spelling: taken as it is)
        arrays = _join("np.concatenate", arrays)
    if axis is None:  # NumPy flattens each piece (row-major) first
        return _concatenate([_ravel(a) for a in arrays], 0)
    first = arrays[0]
    value = first._value if isinstance(first, Node) else first
    ndim = value.ndim if type(value) is _ndarray else len(shape_of(first))
    if ndim == 0:
        raise ValueError("np.concatenate: zero-dimensional arrays cannot be concatenated")
    if type(axis) is not int or not -ndim <= axis < ndim:  # (an int in range, the common case, as it is)
        axis = normalize_axes(axis, ndim, "np.concatenate")[0]
    axis %= ndim
    if len(arrays) == 2:  # (two pieces, the common case, spelled: a call with *arrays builds a list, then a tuple)
        # (along the first axis, NumPy's default, at the impl's and VJPs' default: no keywords to unpack)
        return bind(concatenate, first, arrays[1]) if axis == 0 else bind(concatenate, first, arrays[1], axis=axis)
    return bind(concatenate, *arrays, axis=axis)


@numpy_function(np.stack)
def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    refuse_arguments("np.stack", out=(out, None), **({"casting": (casting, "same_kind")} if dtype is None else {}))
    arrays = _join("np.stack", arrays) if dtype is None else _joined_in("np.stack", arrays, dtype, casting)
    shapes = {tuple(shape_of(a)) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"np.stack: all input arrays must have the same shape, got {sorted(shapes)}")
    axis = normalize_axes(axis, len(shapes.pop()) + 1, "np.stack")[0]
    return _concatenate([_expand_dims(a, axis) for a in arrays], axis)


@numpy_function(np.vstack)
def _vstack(tup, *, dtype=None, casting="same_kind"):
    refuse_arguments("np.vstack", **({"casting": (casting, "same_kind")} if dtype is None else {}))
    arrays = _join("np.vstack", tup) if dtype is None else _joined_in("np.vstack", tup, dtype, casting)
    return _concatenate([atleast_2d(a) for a in arrays], 0)


@numpy_function(np.hstack)
def _hstack(tup, *, dtype=None, casting="same_kind"):
    refuse_arguments("np.hstack", **({"casting": (casting, "same_kind")} if dtype is None else {}))
    arrays = [atleast_1d(a) for a in (_join("np.hstack", tup) if dtype is None
                                      else _joined_in("np.hstack", tup, dtype, casting))]
    return _concatenate(arrays, 0 if len(shape_of(arrays[0])) == 1 else 1)


@numpy_function(np.dstack)
def _dstack(tup):
    return _concatenate([atleast_3d(a) for a in _join("np.dstack", tup)], 2)


@numpy_function(np.column_stack)
def _column_stack(tup):
    columns = []
    for a in _join("np.column_stack", tup):
        if len(shape_of(a)) >= 2:
            columns.append(a)
        elif isinstance(a, Node):  # a vector becomes a column
            columns.append(np.transpose(atleast_2d(a)))
        else:
            columns.append(np.array(a, copy=None, ndmin=2).T)
    return _concatenate(columns, 1)


def _block_depths(arrays, index):
    """(index of a leaf, the largest leaf ndim), checking the nesting as np.block does."""
    where = "arrays" + "".join(f"[{i}]" for i in index)
    if isinstance(arrays, tuple):
        raise TypeError(f"np.block: {where} is a tuple. Only lists can be used to arrange blocks, "
                        "and np.block does not allow implicit conversion from tuple to ndarray.")
    if isinstance(arrays, list):
        if not arrays:
            raise ValueError(f"np.block: list at {where} cannot be empty")
        first, largest = None, 0
        for i, item in enumerate(arrays):
            leaf, ndim = _block_depths(item, index + [i])
            if first is not None and len(leaf) != len(first):
                raise ValueError(f"np.block: list depths are mismatched. First element was at depth "
                                 f"{len(first)}, but there is an element at depth {len(leaf)}")
            first, largest = first or leaf, max(largest, ndim)
        return first, largest
    return index, len(shape_of(arrays))


@numpy_function(np.block)
def _block(arrays):
    leaf, leaf_ndim = _block_depths(arrays, [])
    depth = len(leaf)
    ndim = max(depth, leaf_ndim)

    def build(item, level):
        if level < depth:
            return _concatenate([build(part, level + 1) for part in item], -(depth - level))
        missing = ndim - len(shape_of(item))  # leading unit axes, as np.block adds them
        if not isinstance(item, Node):
            return np.array(item, copy=None, ndmin=ndim)
        return item if missing == 0 else bind(getitem, item, key=(None,) * missing + (Ellipsis,))

    result = build(arrays, 0)
    return bind(copy, result) if depth == 0 else result  # np.block always returns a new array


@numpy_function(np.append)
def _append(arr, values, axis=None):
    if axis is None:
        if len(shape_of(arr)) != 1:
            arr = _ravel(arr)
        values, axis = _ravel(values), len(shape_of(arr)) - 1
    return _concatenate((arr, values), axis)


# -------------------------------------------------------------- splitting
def _split_points(indices_or_sections, length, function):
    if isinstance(indices_or_sections, Node):
        raise traced_argument_error(indices_or_sections, f"kronvec: {function} needs plain split points, not a "
                                    "traced value", f"{function}'s split points")
    try:
        # (operator.index: a float split point is NumPy's TypeError, a slice index must be an integer)
        points = [operator.index(i) for i in indices_or_sections]
    except TypeError:
        if np.ndim(indices_or_sections) != 0:
            raise TypeError(f"{function}: slice indices must be integers or None or have an __index__ method "
                            f"(split points {indices_or_sections!r})") from None
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{function}: number sections must be larger than 0.") from None
        each, extras = divmod(length, sections)
        sizes = [0] + extras * [each + 1] + (sections - extras) * [each]
        return np.cumsum(sizes).tolist()
    return [0] + points + [length]


def _array_split(ary, indices_or_sections, axis=0, function="np.array_split"):
    shape = shape_of(ary)
    axis = normalize_axes(axis, len(shape), function)[0]
    points = _split_points(indices_or_sections, shape[axis], function)
    head = (slice(None),) * axis
    # each piece a slice along the axis: a view, as NumPy's
    return [bind(getitem, ary, key=head + (slice(start, stop),)) for start, stop in zip(points[:-1], points[1:])]


numpy_function(np.array_split)(_array_split)


@numpy_function(np.split)
def _split(ary, indices_or_sections, axis=0):
    if np.ndim(indices_or_sections) == 0 and not isinstance(indices_or_sections, Node):
        shape = shape_of(ary)
        length = shape[normalize_axes(axis, len(shape), "np.split")[0]]
        if int(indices_or_sections) == 0:  # (NumPy's error: it takes length % 0)
            raise ZeroDivisionError("np.split: integer modulo by zero (0 sections)")
        if int(indices_or_sections) > 0 and length % int(indices_or_sections):
            raise ValueError("np.split: array split does not result in an equal division")
    return _array_split(ary, indices_or_sections, axis, "np.split")


def _directional_split(name, axis_of, least):
    def split(ary, indices_or_sections):
        ndim = len(shape_of(ary))
        if ndim < least:
            raise ValueError(f"np.{name} only works on arrays of {least} or more dimensions")
        return _split(ary, indices_or_sections, axis_of(ndim))

    split.__name__ = name
    return split


numpy_function(np.hsplit)(_directional_split("hsplit", lambda ndim: 1 if ndim > 1 else 0, 1))
numpy_function(np.vsplit)(_directional_split("vsplit", lambda ndim: 0, 2))
numpy_function(np.dsplit)(_directional_split("dsplit", lambda ndim: 2, 3))


@numpy_function(np.unstack)
def _unstack(x, *, axis=0):
    shape = shape_of(x)
    if not shape:
        raise ValueError("np.unstack: input array must be at least 1-d.")
    axis = normalize_axes(axis, len(shape), "np.unstack")[0]
    head = (slice(None),) * axis
    return tuple(bind(getitem, x, key=head + (i,)) for i in range(shape[axis]))


@numpy_function(np.delete)
def _delete(arr, obj, axis=None):
    if isinstance(obj, Node):
        raise traced_argument_error(obj, "kronvec: np.delete needs plain indices, not a traced value",
                                    "np.delete's indices")
    if axis is None:
        arr, axis = _ravel(arr), 0
    shape = shape_of(arr)
    axis = normalize_axes(axis, len(shape), "np.delete")[0]
    kept = np.delete(np.arange(shape[axis]), obj)  # NumPy's own reading of obj
    # NumPy's memory order: a slice or one index fills a new array (np.pad's rule); several
    # indices or a mask index arr with a mask, whose result is laid out as advanced indexing's
    one = isinstance(obj, slice) or (np.size(obj) == 1 and np.asarray(obj).dtype != bool)
    return bind(getitem, arr, key=(slice(None),) * axis + (frozen_copy(kept),),
                order=new_array_order(arr) if one else None)


@numpy_function(np.insert)
def _insert(arr, obj, values, axis=None):
    """Each output entry is an entry of `arr` or of `values`: one gather from the two
    operands' entries laid end to end (derivatives.md §11).  Which entry lands where is
    NumPy's own np.insert run on the operands' vec positions (values' offset by arr's
    size), so its every rule — a scalar obj's axis move, broadcasting of values, negative
    and repeated indices, a boolean obj — is NumPy's, never re-derived here."""
    if isinstance(obj, Node):
        raise traced_argument_error(obj, "kronvec: np.insert needs plain indices obj, not a traced value",
                                    "np.insert's indices obj")
    dtype = value_dtype(arr)
    if dtype.kind != "f":  # (NumPy casts the inserted values to arr's dtype)
        raise TypeError(f"kronvec: np.insert into an array of dtype {dtype} casts the inserted traced "
                        "values to it, which drops their derivative; insert into a float array")
    if isinstance(values, (list, tuple)) or (type(values) is np.ndarray and values.dtype.hasobject):
        values = lift(values, "np.insert's values")  # ([x[1], 5.0]: traced entries in a list, one value)
    if not isinstance(values, Node):
        values = np.asarray(plain_value(values), dtype=dtype)  # (NumPy's cast of a constant)
    elif value_dtype(values) != dtype:
        values = cast(values, dtype)
    arr_shape, values_shape = tuple(shape_of(arr)), tuple(shape_of(values))
    arr_size = math.prod(arr_shape)
    origins = np.insert(positions(arr_shape), obj, positions(values_shape) + arr_size, axis=axis)
    entries = _concatenate((np.ravel(arr, order="F"), np.ravel(values, order="F")), 0)  # (vec order)
    return gather(entries, origins, order=new_array_order(arr))


_numpy_resize = undispatched(np.resize)


@numpy_function(np.resize)
def _resize(a, new_shape):
    # NumPy's np.resize is written with np.ravel, np.concatenate, slicing and np.reshape,
    # which are all recorded on a traced array: its own code, run on the traced value
    return _numpy_resize(a, new_shape)


@numpy_function(np.apply_along_axis)
def _apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """func1d on every 1-D slice along `axis`, the results stacked where that axis was
    (NumPy's layout: the result's own axes replace `axis`).  Each call is recorded as
    func1d's operations on a traced slice, so the derivative is theirs; one call per
    slice, as NumPy makes them."""
    shape = tuple(shape_of(arr))
    axis = normalize_axes(axis, len(shape), "np.apply_along_axis")[0]
    outer = shape[:axis] + shape[axis + 1:]
    if 0 in outer:
        raise ValueError("np.apply_along_axis: cannot apply_along_axis when any iteration dimensions are 0")
    moved = np.moveaxis(arr, axis, -1)
    results = [func1d(moved[index], *args, **kwargs) for index in np.ndindex(*outer)]
    inner = tuple(shape_of(results[0]))
    if any(tuple(shape_of(r)) != inner for r in results):
        raise ValueError("np.apply_along_axis: func1d returned results of different shapes")
    stacked = np.reshape(_stack(results, 0) if len(results) > 1 else np.expand_dims(results[0], 0), outer + inner)
    # NumPy's transpose: the outer axes before `axis`, then the result's, then the rest
    order = tuple(range(axis)) + tuple(range(len(outer), len(outer) + len(inner))) + tuple(range(axis, len(outer)))
    return np.transpose(stacked, order)


@numpy_function(np.apply_over_axes)
def _apply_over_axes(func, a, axes):
    """``func(a, axis)`` for each axis in turn, a result one axis short getting it back
    as a unit axis (NumPy's rule); the calls are recorded as func's operations."""
    value = a
    ndim = len(shape_of(a))
    for axis in np.atleast_1d(np.asarray(axes)):
        axis = int(axis) + ndim if axis < 0 else int(axis)
        result = func(value, axis)
        if len(shape_of(result)) != len(shape_of(value)):
            result = np.expand_dims(result, axis)
            if len(shape_of(result)) != len(shape_of(value)):
                raise ValueError("np.apply_over_axes: function is not returning an array of the correct shape")
        value = result
    return value


@numpy_function(np.trim_zeros)
def _trim_zeros(filt, trim="fb", axis=None):
    """The smallest box holding every nonzero entry (along `axis`, or every axis), cut
    from the front ('f') and/or the back ('b'): a slice, decided on the values (NumPy ≥ 2.2's
    rule; an all-zero input gives an empty slice)."""
    value = np.asarray(plain_value(filt))
    # NumPy's own call on the values validates `trim` and `axis` with its errors (and is
    # what an older NumPy, 1-D only, refuses)
    expected = np.trim_zeros(value, trim) if axis is None else np.trim_zeros(value, trim, axis=axis)
    axes = range(value.ndim) if axis is None else normalize_axes(axis, value.ndim, "np.trim_zeros")
    found = np.argwhere(value)
    start = found.min(axis=0) if found.size else np.zeros(value.ndim, dtype=np.intp)
    stop = found.max(axis=0) + 1 if found.size else start
    front, back = "f" in trim.lower(), "b" in trim.lower()
    key = tuple(slice(int(start[k]) if front or not found.size else None,
                      int(stop[k]) if back or not found.size else None) if k in axes else slice(None)
                for k in range(value.ndim))
    result = bind(getitem, filt, key=key if len(key) != 1 else key[0])
    if tuple(shape_of(result)) != expected.shape:  # (a NumPy whose rule differs: say so, never guess)
        raise TypeError(f"kronvec: np.trim_zeros of this NumPy {np.__version__} keeps a {expected.shape} "
                        f"box where kronvec's rule keeps {tuple(shape_of(result))}")
    return result


# -------------------------------------------------------- repeat and tile
def _plain_counts(value, function, argument):
    if isinstance(value, Node):
        raise traced_argument_error(value, f"kronvec: {function} needs plain integer {argument}, not a traced value",
                                    f"{function}'s {argument}")
    return value


@numpy_method("repeat")
@numpy_function(np.repeat)
def _repeat(a, repeats, axis=None):
    repeats = _plain_counts(repeats, "np.repeat", "repeats")
    if axis is None:
        a, axis = _ravel(a), 0
    shape = shape_of(a)
    axis = normalize_axes(axis, len(shape), "np.repeat")[0]
    picked = np.repeat(np.arange(shape[axis]), repeats)  # NumPy's own checks of `repeats`
    return bind(getitem, a, key=(slice(None),) * axis + (frozen_copy(picked),), order="C")  # (np.repeat's C)


@numpy_function(np.tile)
def _tile(A, reps):
    reps = _plain_counts(reps, "np.tile", "reps")
    return gather(A, np.tile(positions(tuple(shape_of(A))), reps))


# ----------------------------------------------------------------------- pad
def _pad_impl(x, pad_width, constant_values):
    return np.pad(x, pad_width, mode="constant", constant_values=constant_values)


def _interior(pad_width, shape):
    return tuple(slice(before, before + size) for (before, _), size in zip(pad_width, shape))


def _pad_vjp(g, ans, x, pad_width, constant_values):
    key = _interior(pad_width, shape_of(x))
    if type(g) is np.ndarray:
        return g[key]
    return bind(getitem, g, key=key)


def _pad_jacobian(ans, x, names, pad_width, constant_values):
    # the input is the interior of the result: picked out by S, so its Jacobian is Sᵀ
    out_shape = np.shape(ans)
    return index_map_jacobian(out_shape, positions(out_shape)[_interior(pad_width, np.shape(x))]).T


pad = register(Primitive(
    _pad_impl, name="pad",
    vjps={0: _pad_vjp},
    jacobians={0: _pad_jacobian},
    label=lambda a, pad_width, constant_values: None if a is None else f"pad({a})",
    formula="Sᵀ: X placed in the interior of the constant frame (S picks the interior)",
    reference="linear in X plus a constant; NumPy documentation of np.pad (mode='constant')",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),),
                                           {"pad_width": ((1, 0), (2, 1)),
                                            "constant_values": ((0.5, -1.0), (2.0, 0.0))}),
    param_names=("X",),
    edge_cases={"a vector, no padding before": lambda rng: _samples.Sample(
        (rng.standard_normal(3),), {"pad_width": ((0, 2),), "constant_values": ((0.0, 0.0),)})},
    fuzz=lambda Y, c: np.pad(Y, 1, constant_values=1.0),
    entire=True,
))


def _as_pairs(x, ndim, as_index, what=None):
    """np.pad's reading of `pad_width` / `constant_values` / `end_values` / `stat_length`:
    one (before, after) pair per axis."""
    if isinstance(x, Node):
        what = what or ("pad_width" if as_index else "constant_values")
        raise TypeError(f"kronvec: np.pad needs a plain {what}, not a traced value")
    x = np.asarray(x)
    if as_index:
        if what == "stat_length":  # (NumPy rounds a stat_length to integers)
            x = np.round(x).astype(np.intp, copy=False)
        elif x.dtype.kind != "i":  # (NumPy's check: signed integers only)
            raise TypeError("np.pad: `pad_width` must be of integral type.")
        if x.size and x.min() < 0:
            raise ValueError("np.pad: index can't contain negative values")
    if x.size == 1:
        return ((x.item(), x.item()),) * ndim
    if x.size == 2 and x.shape != (2, 1):
        return (tuple(x.ravel().tolist()),) * ndim
    return tuple(tuple(pair) for pair in np.broadcast_to(x, (ndim, 2)).tolist())


_GATHERED_MODES = ("edge", "wrap", "reflect", "symmetric")  # each output entry is one input entry
_NUMPY_PAD_MODES = ("constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect",
                    "symmetric", "wrap", "empty")


def _widths_of_axes(pad_width, ndim):
    """np.pad's pad_width given as {axis: width or (before, after)} (NumPy ≥ 2.3): a pair
    per axis, (0, 0) for the axes it does not name."""
    pairs = [(0, 0)] * ndim
    for axis, width in pad_width.items():
        axis = normalize_axes(axis, ndim, "np.pad")[0]
        if isinstance(width, (int, np.integer)) and not isinstance(width, bool):
            pairs[axis] = (width, width)
        elif isinstance(width, tuple) and len(width) == 2:
            pairs[axis] = width
        else:
            raise TypeError(f"np.pad: the width of axis {axis} in a dict pad_width must be an int or a "
                            f"(before, after) pair, got {width!r}")
    return pairs


#: the keyword arguments np.pad allows with each mode (NumPy's ValueError for others)
_PAD_KEYWORDS = {"constant": ("constant_values",), "linear_ramp": ("end_values",), "maximum": ("stat_length",),
                 "mean": ("stat_length",), "median": ("stat_length",), "minimum": ("stat_length",),
                 "reflect": ("reflect_type",), "symmetric": ("reflect_type",), "edge": (), "wrap": (), "empty": ()}


@numpy_function(np.pad)
def _pad(array, pad_width, mode="constant", **kwargs):
    shape = tuple(shape_of(array))
    ndim = len(shape)
    if isinstance(mode, str) and mode not in _NUMPY_PAD_MODES:
        raise ValueError(f"np.pad: mode {mode!r} is not supported")  # (NumPy's words)
    if isinstance(mode, str):
        unsupported = sorted(set(kwargs) - set(_PAD_KEYWORDS[mode]))
        if unsupported:
            raise ValueError(f"np.pad: unsupported keyword arguments for mode '{mode}': {set(unsupported)}")
    if isinstance(pad_width, dict):
        pad_width = _widths_of_axes(pad_width, ndim)
    widths = _as_pairs(pad_width, ndim, as_index=True)
    if ndim == 0:  # nothing to pad: NumPy returns the value itself (a new array)
        return copy(array)
    if mode not in ("constant", "empty"):
        for axis, (size, pair) in enumerate(zip(shape, widths)):
            if size == 0 and any(pair):  # (NumPy's error: no entry to extend from)
                raise ValueError(f"np.pad: can't extend empty axis {axis} using modes other than 'constant' "
                                 "or 'empty'")
    if mode == "constant":
        refuse_arguments("np.pad", **{k: (v, None) for k, v in kwargs.items() if k != "constant_values"})
        # (captured like any constant operand: NaN/inf and complex values are refused by name)
        constant_values = kwargs.get("constant_values", 0)
        if not isinstance(constant_values, Node):
            constant_values = capture(constant_values, "np.pad's constant_values")
        values = _as_pairs(constant_values, ndim, as_index=False)
        values = tuple(tuple(float(v) for v in pair) for pair in values)
        return bind(pad, array, pad_width=widths, constant_values=values)
    if mode in _GATHERED_MODES:
        refuse_arguments(f"np.pad(mode={mode!r})", reflect_type=(kwargs.pop("reflect_type", "even"), "even"),
                         **{k: (v, None) for k, v in kwargs.items()})
        return gather(array, np.pad(positions(tuple(shape_of(array))), widths, mode=mode),
                      order=new_array_order(array))
    if mode in _STATISTIC_MODES or mode == "linear_ramp":
        return _pad_by_axis(array, widths, mode, kwargs)
    refuse_arguments("np.pad", mode=(mode, "constant"))


_STATISTIC_MODES = {"maximum": np.max, "minimum": np.min, "mean": np.mean, "median": np.median}


def _ramp(edge, end, width, axis, ndim, end_dtype):
    """np.linspace(end, edge, width, endpoint=False) along `axis`, in linspace's arithmetic:
    k·((edge − end)/width) + end, or (k/width)·(edge − end) + end when some step is 0 (NumPy's
    guard for denormal steps, taken for the whole slab: a decision on the values)."""
    # linspace computes in the result type of the end (np.pad makes it an array: float64 for
    # Python numbers) and the edge, then casts to the array's type (float32 stays float32)
    dtype = value_dtype(edge)
    computed = np.result_type(end_dtype, dtype, np.float32)
    if computed != dtype:
        edge = cast(edge, computed)
    end = computed.type(end)
    k = np.arange(width, dtype=computed).reshape((-1,) + (1,) * (ndim - axis - 1))
    delta = edge - end
    if np.any(np.asarray(plain_value(delta)) == 0):  # (the step is delta / width: zero where delta is)
        ramp = (k / width) * delta + end
    else:
        ramp = k * (delta / width) + end
    return ramp if computed == dtype else cast(ramp, dtype)


def _pad_by_axis(array, widths, mode, kwargs):
    """np.pad's statistic modes and linear_ramp, as NumPy computes them: axis by axis, each
    pad made from the array padded along the earlier axes (so corners see earlier pads),
    written with recorded operations (a max, mean or median of a slice; a ramp
    end + k·(edge − end)/width, linspace's arithmetic), so they differentiate as those do
    (derivatives.md §32)."""
    name = f"np.pad(mode={mode!r})"
    ndim = len(widths)
    if mode == "linear_ramp":
        end_values = kwargs.pop("end_values", 0)
        ends = _as_pairs(end_values, ndim, as_index=False, what="end_values")
        end_dtype = np.asarray(end_values).dtype
        lengths = ((None, None),) * ndim
    else:
        stat_length = kwargs.pop("stat_length", None)
        lengths = ((None, None),) * ndim if stat_length is None else _as_pairs(stat_length, ndim, as_index=True, what="stat_length")
    refuse_arguments(name, **{k: (v, None) for k, v in kwargs.items()})
    result = array
    for axis, ((before, after), (length_before, length_after)) in enumerate(zip(widths, lengths)):
        if not before and not after:
            continue
        n = shape_of(result)[axis]

        def part(start, stop):
            return result[(slice(None),) * axis + (slice(start, stop),)]

        if mode == "linear_ramp":
            end_before, end_after = (float(v) for v in ends[axis])
            left = _ramp(part(0, 1), end_before, before, axis, ndim, end_dtype) if before else None
            right = (_ramp(part(n - 1, n), end_after, after, axis, ndim, end_dtype)[
                (slice(None),) * axis + (slice(None, None, -1),)]
                     if after else None)
        else:
            if n == 0:
                raise ValueError(f"{name}: can't extend an empty axis {axis} with a statistic")
            statistic = _STATISTIC_MODES[mode]
            length_before = n if length_before is None or length_before > n else length_before
            length_after = n if length_after is None or length_after > n else length_after
            if length_before == 0 or length_after == 0:
                raise ValueError(f"{name}: stat_length of 0 yields no value for padding")
            left = statistic(part(0, length_before), axis=axis, keepdims=True)
            right = left if length_before == length_after == n else statistic(part(n - length_after, n), axis=axis,
                                                                                keepdims=True)
            left = np.repeat(left, before, axis=axis) if before else None
            right = np.repeat(right, after, axis=axis) if after else None
        result = _concatenate([p for p in (left, result, right) if p is not None], axis)
    return result


# ------------------------------------- arrays built from traced values: np.array([x, y])
#
# np.array and np.asarray are not dispatched by NumPy (no __array_function__), so they
# cannot return a traced value.  They do ask each traced element for ``__array__``:
# kronvec answers with an object array of its entries, each a recorded getitem (a
# traced 0-d value), and NumPy places those objects, uninterpreted, in the result.
# The result is an object array whose entries carry their derivatives; NumPy's
# object loops compute on it through the entries' own operators (sum, @, *, …).
# Where it meets kronvec — an operand of a recorded operation, the differentiated
# function's result — :func:`lift` turns it into one recorded value: whole blocks of
# one traced array's entries are that array again, runs of a vector's entries its
# slice, the remaining entries one ``assemble``.  Converting it to floats raises
# (the entries refuse float()).  notes/derivatives.md §29.

#: NumPy's array constructors that build arrays from traced values (through
#: ``__array__`` and :func:`lift`; they are not dispatched, so not in NUMPY_FUNCTIONS).
COERCIONS = ("np.array", "np.asarray", "np.asanyarray", "np.r_", "np.c_")


def _assemble_impl(*entries, shape):
    # NumPy's own coercion of the plain entries: the dtype np.array would give
    return np.array(entries).reshape(shape)


def _entry_key(position, shape):
    return tuple(int(i) for i in np.unravel_index(position, shape))


def _assemble_vjp(position):
    def vjp(g, ans, *entries, shape):
        key = _entry_key(position, shape)
        if type(g) is np.ndarray:
            return np.array(g[key])  # entry k of the cotangent, 0-d like the entry
        return bind(getitem, g, key=key)

    return vjp


def _assemble_jacobian(position):
    def jacobian(ans, *entries, names, shape):
        # entry k lands at one vec position of the result: the column e_p, p = vec position of k
        return index_map_jacobian(shape, np.reshape(positions(shape)[_entry_key(position, shape)], (1,))).T

    return jacobian


def _scalars(rng, count):
    return tuple(np.array(rng.standard_normal()) for _ in range(count))


assemble = register(Primitive(
    _assemble_impl, name="assemble",
    vjps=_assemble_vjp, jacobians=_assemble_jacobian,
    label=lambda *labels, shape: None,
    formula="D_k = e_p: the column of I at the vec position p of entry k (row-major place k)",
    reference="linear; each entry's Jacobian is the adjoint of picking it out (derivatives.md §29)",
    samples=lambda rng, n: _samples.Sample(_scalars(rng, 6), {"shape": (2, 3)}),
    param_names=("a", "b", "c", "d", "e", "f"),
    edge_cases={"one entry": lambda rng: _samples.Sample(_scalars(rng, 1), {"shape": (1,)}),
                "a 3-D block": lambda rng: _samples.Sample(_scalars(rng, 4), {"shape": (2, 1, 2)}),
                "a 0-d array": lambda rng: _samples.Sample(_scalars(rng, 1), {"shape": ()})},
))


def elements(x, what="np.array"):
    """The object array of x's entries, each a recorded 0-d traced value: what
    ``x.__array__()`` gives NumPy, so ``np.array([x, y])`` keeps the derivatives."""
    shape = tuple(shape_of(x))
    out = np.empty(shape, dtype=object)
    if not shape:
        out[()] = x  # (stored as it is: a 0-d object array holds the object)
        return out
    size = math.prod(shape)
    limit = settings().object_entries_limit
    if size > limit:
        raise TypeError(
            f"kronvec: {what} of a traced array of shape {shape} would record each of its {size} "
            f"entries separately (more than kronvec.config.object_entries_limit = {limit}): NumPy "
            "makes an object array of them (np.array, np.asarray, np.r_, or a plain array's method "
            "such as A.dot(x)). Join traced arrays with np.stack, np.concatenate or np.column_stack, "
            "and write A @ x or np.dot(A, x): one recorded operation each, structured Jacobians."
        )
    return np.fromiter((bind(getitem, x, key=key) for key in np.ndindex(shape)),
                       dtype=object, count=size).reshape(shape)


def _entry_of(value):
    """(parent, key) when `value` is an entry of a traced array — a getitem with an
    integer on every axis — else None."""
    if not isinstance(value, Node) or value._op is not getitem or len(value._parents) != 1:
        return None
    key = value._params["key"]
    key = key if type(key) is tuple else (key,)
    parent = value._parents[0][1]
    shape = tuple(shape_of(parent))
    if len(key) != len(shape):
        return None
    normalized = []
    for k, n in zip(key, shape):
        if type(k) is bool or not isinstance(k, (int, np.integer)):
            return None
        normalized.append(int(k) % n)
    return parent, tuple(normalized)


def _whole_parent(block):
    """The traced array whose entries, in order, make up all of `block`; else None."""
    first = _entry_of(block.flat[0])
    if first is None:
        return None
    parent = first[0]
    if tuple(shape_of(parent)) != block.shape:
        return None
    for key, value in zip(np.ndindex(block.shape), block.flat):
        entry = _entry_of(value)
        if entry is None or entry[0] is not parent or entry[1] != key:
            return None
    return parent


def _scalar_entry(value, what):
    if isinstance(value, Node):
        if shape_of(value) != ():
            raise TypeError(f"kronvec: {what} holds a traced array of shape {tuple(shape_of(value))} as one "
                            "entry of an object array; join traced arrays with np.stack or np.concatenate")
        return value
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return value
    raise TypeError(f"kronvec: {what} is an object array holding a {type(value).__name__}; "
                    "kronvec differentiates arrays of numbers (build them with np.stack)")


def _assembled(values, shape, what):
    return bind(assemble, *[_scalar_entry(v, what) for v in values], shape=shape)


def _lift_vector(block, what):
    """A 1-D object array: runs of consecutive entries of one traced vector become its
    slice, the other entries one assemble each stretch; concatenated."""
    parts, pending, i, n = [], [], 0, len(block)
    while i < n:
        entry = _entry_of(block[i])
        j = i + 1
        if entry is not None and len(shape_of(entry[0])) == 1:
            parent, start = entry[0], entry[1][0]
            while j < n:
                following = _entry_of(block[j])
                if following is None or following[0] is not parent or following[1][0] != start + j - i:
                    break
                j += 1
        if j - i >= 2:  # a run: the parent's slice (the parent itself when it is all of it)
            if pending:
                parts.append(_assembled(pending, (len(pending),), what))
                pending = []
            parts.append(parent if j - i == shape_of(parent)[0] else parent[start:start + j - i])
        else:
            pending.append(block[i])
        i = j
    if pending:
        parts.append(_assembled(pending, (len(pending),), what))
    return parts[0] if len(parts) == 1 else _concatenate(parts, 0)


def _lift_block(block, what):
    if block.ndim == 0:
        return _scalar_entry(block[()], what)
    whole = _whole_parent(block)
    if whole is not None:
        return whole
    if block.ndim == 1:
        return _lift_vector(block, what)
    if not any(_entry_of(value) is not None for value in block.flat):  # separate scalars: one assemble
        return _assembled(list(block.flat), block.shape, what)
    return _stack([_lift_block(block[k], what) for k in range(block.shape[0])])


def lift(value, what="an array built by np.array from traced values"):
    """An object array (or a list or tuple) holding traced values, as one recorded value.

    Blocks that are all of one traced array's entries, in order, are that array;
    runs of a vector's entries its slice; other entries are assembled (one
    :data:`assemble` per stretch); the pieces are joined by ``np.stack`` /
    ``np.concatenate``.  A container without traced values comes back as the plain
    array NumPy would make of its numbers.
    """
    if type(value) is not np.ndarray:
        if isinstance(value, np.ndarray):
            value = np.asarray(value)
        else:
            try:
                value = np.array(value)  # (a list: NumPy asks its traced elements for their entries)
            except ValueError as error:
                raise TypeError(f"kronvec: {what} is a {type(value).__name__} that is not a rectangular "
                                f"array: {error}") from None
    if not value.dtype.hasobject:
        return value
    if not holds_nodes(value):
        return np.array(value.tolist()) if value.size else np.array(value, dtype=np.float64)
    return _lift_block(value, what)


set_object_lift(lift)
