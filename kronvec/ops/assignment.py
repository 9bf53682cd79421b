"""Assignment: ``X[key] = value`` and NumPy's in-place writes, recorded functionally.

A recording never changes a value it has made.  Writing into a traced array
``X`` records a new value, ``setitem(X, value)`` — X with the entries at
`key` replaced — and *rebinds* the Python object the user holds to it (the
object is mutable; its recording is not).  Everything recorded before the
write keeps the old value: the old recording moves to a fresh object that
takes the user's object's place in the trace (in the nodes list, in the
parents of later operations and in the trace's memo).  So aliases of ``X``
(the same object) see the write, as in NumPy, and earlier results do not.

Views need care, because in NumPy a view and its base share memory:

* a write *through* a view (``X[0][1] = v``, ``X.T[0] = v``, a slice, a
  flip) is a write into its base at the positions the view shows, after
  which the view is taken again — exactly NumPy's effect;
* a view taken *before* its base was written would show the write in NumPy;
  a recording cannot, so such a view becomes stale: any later use of it is a
  TypeError that says so (a copy, ``X[0].copy()``, keeps the old values);
* a reshape (a view or a copy in NumPy, depending on memory layout) is
  treated as a view for staleness, and writes through it are refused;
  ``np.diagonal`` and ``np.broadcast_to`` give read-only views in NumPy, and
  writes through them are refused likewise.

In-place operators (``X += Y``), ufuncs with ``out=``, ``np.fill_diagonal``,
``np.copyto``, ``np.put``, ``np.put_along_axis``, ``np.place``,
``np.putmask`` and the methods ``fill``, ``sort``, ``partition``, ``put`` go
through the same write.  A *plain* array cannot hold a traced value
(NumPy converts the value first; kronvec cannot intercept that): the error
says so and names the remedies.

Derivations: ``notes/derivatives.md`` §19 (assignment).
"""

from __future__ import annotations

import dis
import math
import sys

import numpy as np

from .._constants import frozen_copy
from .._tracer import Node, plain_value, static_value
from ..operators import Diag, Identity, algebra
from .._vec import vec
from . import _samples
from ._registry import Primitive, numpy_function, numpy_method, register
from ._support import (
    bind,
    broadcast_jacobian,
    elementwise_jacobian,
    index_map_jacobian,
    normalize_axes,
    positions,
    refuse_arguments,
    shape_of,
    size_of,
    unbroadcast,
    traced_argument_error,
)
from .indexing import (
    Distinct,
    _along_axis_key,
    _getitem_impl,
    _repeats_possible,
    captured_key,
    diagonal,
    getitem,
    indexed_shape,
    is_basic_key,
    vec_key,
)
from .indexing import where as where_op
from .joining import _stack
from .shape import broadcast_to, cast, reshape, transpose
from .shape import copy as _shape_copy

__all__ = ["setitem", "scatter_at", "assign", "write", "ufunc_into", "add_at", "conversion_error", "view_kind",
           "refuse_plain_target"]


# ------------------------------------------------------------ the primitive
def _setitem_impl(x, v, key, winners=None):
    out = np.array(x, copy=True)  # x's dtype, as NumPy's assignment casts into it
    out[key] = v
    return out


def _setitem_vjp_x(g, ans, x, v, key, winners=None):
    # the entries at `key` were replaced: they pass no cotangent back to x
    if type(g) is np.ndarray:
        g = g.copy()
        g[key] = 0.0
        return g
    return bind(setitem, g, 0.0, key=key)


def _setitem_vjp_v(g, ans, x, v, key, winners=None):
    # v was broadcast to x[key] and written there (an overwritten repeat passes nothing back)
    if type(g) is np.ndarray:
        picked = _getitem_impl(g, key)
        if winners is not None:
            picked = np.where(winners, picked, 0.0)
    else:
        picked = bind(getitem, g, key=key)
        if winners is not None:
            picked = bind(where_op, picked, 0.0, condition=winners)
    return unbroadcast(picked, shape_of(v))


def _setitem_jacobian_x(ans, x, v, names, key, winners=None):
    shape = np.shape(x)
    kept = np.ones(shape, dtype=np.result_type(np.asarray(x).dtype, np.float32))
    kept[key] = 0.0
    return elementwise_jacobian(kept, shape, shape)


def _setitem_jacobian_v(ans, x, v, names, key, winners=None):
    shape = np.shape(x)
    written = indexed_shape(shape, key)
    place = index_map_jacobian(shape, np.asarray(positions(shape)[key])).T  # Sᵀ: into x[key]
    spread = broadcast_jacobian(np.shape(v), written)  # v broadcast to x[key]'s shape
    if winners is not None:
        spread = algebra.multiply(Diag(vec(winners.astype(np.float64))), spread)
    return algebra.multiply(place, spread)


setitem = register(Primitive(
    _setitem_impl, name="setitem",
    vjps={0: _setitem_vjp_x, 1: _setitem_vjp_v},
    jacobians={0: _setitem_jacobian_x, 1: _setitem_jacobian_v},
    label=lambda a, b, key, winners=None: None,
    formula="D_X = diag(vec(1 − M)) (M marks the written entries); D_V = Sᵀ·W·B: V broadcast (B) "
            "to X[key] and placed there (Sᵀ), W dropping writes overwritten by a later repeat",
    reference="linear: Y = (I − SᵀS)X + SᵀW·B V; NumPy documentation of indexing assignment",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)), rng.standard_normal(n + 1)),
                                           {"key": 1}),
    param_names=("X", "V"),
    edge_cases={
        "a number into a column": lambda rng: _samples.Sample(
            (rng.standard_normal((3, 4)), np.float64(0.7)), {"key": (slice(None), 2)}),
        "a row broadcast into a block": lambda rng: _samples.Sample(
            (rng.standard_normal((3, 4)), rng.standard_normal((1, 2))), {"key": (slice(0, 2), slice(1, 3))}),
        "boolean mask": lambda rng: _samples.Sample(
            (rng.standard_normal((2, 3)), rng.standard_normal(3)),
            {"key": np.array([[True, False, True], [False, True, False]])}),
        "a repeated index (the last write wins)": lambda rng: _samples.Sample(
            (rng.standard_normal(4), rng.standard_normal(3)),
            {"key": np.array([1, 1, 3]), "winners": np.array([False, True, True])}),
    },
    fuzz=lambda Y, c: _fuzz_setitem(Y),
    entire=True,
))


def _fuzz_setitem(Y):
    Z = Y * 1.0
    Z[0] = 2.0 * Y[-1]
    return Z


# ------------------------------------------------- np.add.at, np.subtract.at
def _scatter_at_impl(x, v, key, negative=False):
    # NumPy's own unbuffered loop on a copy: an entry named k times receives v k times, in
    # NumPy's order of additions (x + v₁) + v₂ …, so the value is NumPy's bit for bit
    out = np.array(x, copy=True)
    (np.subtract if negative else np.add).at(out, key, v)
    return out


def _scatter_at_vjp_v(g, ans, x, v, key, negative=False):
    # v (of x[key]'s shape) was added at `key`: its cotangent is g read there, repeats included
    picked = _getitem_impl(g, key) if type(g) is np.ndarray else bind(getitem, g, key=key)
    return -picked if negative else picked


def _scatter_at_jacobian_v(ans, x, v, names, key, negative=False):
    shape = np.shape(x)
    place = index_map_jacobian(shape, np.asarray(positions(shape)[key])).T  # Sᵀ: a scatter-add
    return algebra.scale(place, -1.0) if negative else place


scatter_at = register(Primitive(
    _scatter_at_impl, name="scatter_at",
    vjps={0: lambda g, ans, x, v, key, negative=False: g, 1: _scatter_at_vjp_v},
    jacobians={0: lambda ans, x, v, names, key, negative=False: Identity(np.size(x), ans.dtype),
               1: _scatter_at_jacobian_v},
    label=lambda a, b, key, negative=False: None,
    formula="D_X = I; D_V = ±Sᵀ (V added, or subtracted, at every entry key names, repeats included)",
    reference="linear: Y = X ± SᵀV; NumPy documentation of ufunc.at (unbuffered)",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)), rng.standard_normal((3, n + 1))),
                                           {"key": np.array([0, n - 1, 0])}),
    param_names=("X", "V"),
    edge_cases={
        "subtract, entries named twice": lambda rng: _samples.Sample(
            (rng.standard_normal((3, 4)), rng.standard_normal(4)),
            {"key": (np.array([0, 2, 0, 0]), np.array([1, 3, 1, 1])), "negative": True}),
        "a slice": lambda rng: _samples.Sample(
            (rng.standard_normal((3, 4)), rng.standard_normal((3, 2))), {"key": (slice(None), slice(1, 3))}),
    },
))


# ----------------------------------------------- rebinding a traced object
class _Stale:
    """Stands for the trace and the value of a stale view: every use is an error."""

    __slots__ = ()

    @property
    def active(self):
        raise TypeError(_STALE_MESSAGE)

    def __getattr__(self, name):
        if name.startswith("__"):  # protocol probes (hasattr(x, "__wrapped__")…): not there
            raise AttributeError(name)
        raise TypeError(_STALE_MESSAGE)

    def __array__(self, *args, **kwargs):
        raise TypeError(_STALE_MESSAGE)

    def __array_ufunc__(self, *args, **kwargs):
        raise TypeError(_STALE_MESSAGE)

    def __array_function__(self, *args, **kwargs):
        raise TypeError(_STALE_MESSAGE)

    def __bool__(self):
        raise TypeError(_STALE_MESSAGE)

    def __repr__(self):
        return "<stale view: its base was assigned into after the view was taken>"


_STALE_MESSAGE = (
    "kronvec: this array is a view of a traced array that was assigned into after the view "
    "was taken (e.g. v = X[0]; X[0, 1] = 5.0; then v is used). In NumPy the view would show "
    "the assignment; kronvec records values, so it cannot. Take the view after the assignment, "
    "or copy it when you take it (v = X[0].copy()) if you meant the old values. (A reshape counts "
    "as a view here: NumPy may or may not copy.)"
)
_STALE = _Stale()


def _copy_slots(source, target):
    target._value, target._trace, target._op = source._value, source._trace, source._op
    target._args, target._params, target._parents = source._args, source._params, source._parents
    target._index, target._labels = source._index, source._labels


def _view_kind(node):
    """How a recorded value relates to its first argument's memory in NumPy:
    "view" (writes through it reach the base), "maybe" (a reshape: a view or a
    copy), "readonly" (np.diagonal, np.broadcast_to), or None (a new array)."""
    op = node._op
    if op is getitem:
        key = node._params["key"]
        if not is_basic_key(key):
            return None
        # integers on every axis pick a NumPy scalar: a copy (t = X[0, 0]; X[0, 0] = …; t is the old value)
        key = key if type(key) is tuple else (key,)
        x = node._args[0]
        if len(key) == (x.ndim if type(x) is np.ndarray else np.ndim(x)) and all(
                type(k) is int or isinstance(k, np.integer) for k in key):
            return None
        return "view"
    if op is transpose:
        return "view"
    if op is reshape:
        return "maybe"
    if op is diagonal or op is broadcast_to:
        return "readonly"
    return None


view_kind = _view_kind  # (public name for the traced array's in-place operators)


def _rebind(x, new):
    """Make the object `x` the freshly recorded node `new`; x's old recording moves
    to a new object that takes x's place wherever the trace refers to it, and
    views of x recorded since become stale."""
    trace = new._trace
    if x._trace is not trace and x._trace is not _STALE:
        raise TypeError("kronvec cannot write a value traced by an inner differentiation into an "
                        "array of an outer one; compute it outside the inner function")
    nodes = trace.nodes
    if x._trace is not _STALE:  # (a stale view being taken again has nothing to move)
        start = x._index
        old = object.__new__(type(x))
        _copy_slots(x, old)
        nodes[start] = old
        moved = {id(x): old}
        for node in nodes[start + 1:]:  # later operations: the only ones that can refer to x
            parents = node._parents
            for _, parent in parents:
                if id(parent) in moved:
                    break
            else:
                continue
            node._parents = tuple([(position, moved.get(id(parent), parent)) for position, parent in parents])
            if node is not new and _view_kind(node) is not None:
                fresh = object.__new__(type(node))
                _copy_slots(node, fresh)
                nodes[node._index] = fresh
                moved[id(node)] = fresh
                node._trace = node._value = _STALE  # the user's object: every later use is an error
        if trace.memo:
            for key, value in list(trace.memo.items()):
                if id(value) in moved:
                    trace.memo[key] = moved[id(value)]
    _copy_slots(new, x)
    nodes[x._index] = x


def _check_writable(x):
    trace = x._trace
    if trace is _STALE:
        raise TypeError(_STALE_MESSAGE)
    if not trace.active:
        raise TypeError("kronvec: assignment into a traced array after its differentiation finished")


def _holds_traced(value):
    return any(isinstance(v, Node) or (isinstance(v, (list, tuple)) and _holds_traced(v)) for v in value)


def _stacked(value):
    """A list or tuple holding traced values, as one traced array (np.stack, nested)."""
    return _stack([_stacked(v) if isinstance(v, (list, tuple)) else v for v in value])


def _conforming(value, shape):
    """`value` ready to be written into entries of `shape`: NumPy's rules (broadcast,
    leading unit axes dropped); ValueError naming both shapes otherwise."""
    if isinstance(value, (list, tuple)) and _holds_traced(value):
        value = _stacked(value)
    have = tuple(shape_of(value))
    if have == shape or not have:  # (the common cases: nothing to check)
        return value
    if len(have) > len(shape):
        extra = len(have) - len(shape)
        if any(s != 1 for s in have[:extra]):
            raise ValueError(f"could not broadcast input array from shape {have} into shape {shape}")
        have = have[extra:]
        value = bind(reshape, value, shape=have) if isinstance(value, Node) else np.reshape(value, have)
    try:
        if np.broadcast_shapes(have, shape) != tuple(shape):
            raise ValueError
    except ValueError:
        raise ValueError(f"could not broadcast input array from shape {have} into shape {shape}") from None
    return value


def _winners(shape, key, written):
    """For a key naming an entry twice: which writes survive (NumPy's own order), else None."""
    if not _repeats_possible(key):
        return None
    order = np.full(shape, -1, dtype=np.intp)
    stamps = np.arange(math.prod(written), dtype=np.intp).reshape(written)
    order[key] = stamps
    survived = order[key] == stamps
    return None if survived.all() else frozen_copy(survived)


def assign(x, key, value):
    """``x[key] = value`` for a traced x: recorded, and x rebound (see the module docstring)."""
    _check_writable(x)
    kind = _view_kind(x) if x._parents else None
    if kind == "view":  # write into the base at the entries x shows, then take the view again
        op, params, base = x._op, x._params, x._parents[0][1]
        base_shape = tuple(shape_of(base))
        shown = np.asarray(op.impl(positions(base_shape), **params))
        target = np.asarray(shown[captured_key(key)])
        value = _conforming(value, target.shape)
        if base_shape:
            assign(base, vec_key(target, base_shape), value)
        elif target.size:  # a view of a 0-d array: one entry
            assign(base, (), value if not shape_of(value) else np.reshape(value, ()))
        _rebind(x, bind(op, base, **params))
        return
    if kind == "maybe":
        raise TypeError(
            "kronvec cannot assign into the result of a reshape (or ravel) of a traced array: NumPy "
            "makes it a view or a copy depending on memory layout, so the write may or may not reach "
            "the original. Assign into the original array, or copy the reshaped one first (.copy())."
        )
    if kind == "readonly":
        raise ValueError("assignment destination is read-only (np.diagonal and np.broadcast_to give "
                         "read-only views in NumPy); copy it first (.copy()) to write into it")
    key = captured_key(key)
    winners = None
    if isinstance(value, (list, tuple)) or shape_of(value) or _repeats_possible(key):  # (not for one number)
        shape = tuple(shape_of(x))
        written = indexed_shape(shape, key)
        value = _conforming(value, written)
        winners = _winners(shape, key, written)
    _rebind(x, bind(setitem, x, value, key=key, winners=winners))


def write(target, result):
    """``target[...] = result`` with NumPy's ``out=`` rules (broadcast, cast to the
    target's dtype); a freshly recorded result of the target's shape simply becomes it."""
    if not isinstance(target, Node):
        raise conversion_error("out=Y with Y a plain array", plain_target=True)
    _check_writable(target)
    trace = target._trace
    if isinstance(result, Node) and result._trace is trace and trace.nodes[-1] is result and result is not target \
            and _view_kind(target) is None and _view_kind(result) is None:
        # x += y: the sum was just recorded and nothing else holds it: it becomes x
        have, want = result._value, target._value
        if type(have) is np.ndarray and type(want) is np.ndarray and have.shape == want.shape:
            if have.dtype != want.dtype:
                result = cast(result, want.dtype)
            # (in the target's memory order, as NumPy writes in place: a later sum adds in it)
            if want.flags.fnc and not have.flags.f_contiguous:
                result = bind(_shape_copy, result, order="F")
            elif want.flags.c_contiguous and not have.flags.c_contiguous:
                result = bind(_shape_copy, result, order="C")
            _rebind(target, result)
            return target
    shape, have = tuple(shape_of(target)), tuple(shape_of(result))
    try:
        if np.broadcast_shapes(have, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"non-broadcastable output operand with shape {shape} doesn't match "
                         f"the result's shape {have}") from None
    assign(target, Ellipsis, result)
    return target


def ufunc_into(ufunc, inputs, kwargs):
    """``ufunc(*inputs, out=(target,))``: computed (recorded), then written into the
    target — what ``X += Y`` and friends call."""
    out = kwargs.pop("out")
    if len(out) != 1:
        raise TypeError(f"kronvec cannot differentiate np.{ufunc.__name__} with several outputs")
    where = kwargs.pop("where", True)
    (target,) = out
    if isinstance(target, np.ndarray) and target.dtype.hasobject:
        refuse_arguments(f"np.{ufunc.__name__}", where=(where, True))
        # A += x with A = np.array([...]) an object array of traced entries: it holds objects,
        # so the (recorded) result's entries are written into it (derivatives.md §29)
        result = ufunc(*inputs, **kwargs)
        shape, have = tuple(target.shape), tuple(shape_of(result))
        if np.broadcast_shapes(have, shape) != shape:
            raise ValueError(f"non-broadcastable output operand with shape {shape} doesn't match "
                             f"the result's shape {have}")
        target[...] = result
        return target
    if not isinstance(target, Node):
        raise conversion_error(f"np.{ufunc.__name__}(…, out=Y) with Y a plain array (as in Y += x)",
                               plain_target=True)
    if where is not True:
        return _masked_into(ufunc, inputs, kwargs, target, where)
    return write(target, ufunc(*inputs, **kwargs))


def _masked_into(ufunc, inputs, kwargs, target, where):
    """``ufunc(*inputs, out=Y, where=M)``: NumPy computes only where M holds and leaves Y's
    other entries as they were — Y[M] = ufunc(x[M] for each input x broadcast to Y's
    shape), recorded as that assignment.  So the idiom
    ``np.divide(a, b, out=np.zeros_like(a), where=b != 0)`` never evaluates the entries it
    masks out (no 0/0 meets the finiteness check), and their derivative is Y's."""
    name = f"np.{ufunc.__name__}"
    mask = np.asarray(plain_value(where))  # (a mask is a constant of the point)
    if mask.dtype != bool:
        raise TypeError(f"{name}: where= must be a boolean array, got dtype {mask.dtype}")
    shape = tuple(shape_of(target))
    try:
        mask = np.broadcast_to(mask, shape)
        picked = [np.broadcast_to(x, shape)[mask] for x in inputs]
    except ValueError:
        raise ValueError(f"{name}: the inputs (shapes {[tuple(shape_of(x)) for x in inputs]}) and where= "
                         f"(shape {np.shape(where)}) must broadcast to out's shape {shape}") from None
    assign(target, frozen_copy(mask), ufunc(*picked, **kwargs))
    return target


def add_at(ufunc, a, indices, b=None):
    """``np.add.at(a, indices, b)`` and ``np.subtract.at``: unbuffered, so an entry named k
    times receives b k times — a ← a ± Sᵀ b (b broadcast to the shape of a[indices]),
    recorded as ``scatter_at`` and written into a (derivatives.md §19: D_a = I, D_b = ±Sᵀ B).
    The other ufuncs' ``at`` (np.multiply.at …) are refused by name."""
    name = f"np.{ufunc.__name__}.at"
    target = _writable_target(a, name)
    if b is None:
        raise TypeError(f"{name} needs the operand b (np.add.at(a, indices, b))")
    key = captured_key(indices)
    shape = tuple(shape_of(target))
    picked = indexed_shape(shape, key)
    if not isinstance(b, Node):
        b = np.asarray(b, dtype=np.result_type(np.asarray(b).dtype, np.float64))
    if tuple(shape_of(b)) != picked:
        b = np.broadcast_to(b, picked)  # (NumPy's broadcast of b to the entries picked; its error)
    write(target, bind(scatter_at, target, b, key=key, negative=ufunc is np.subtract))


# ----------------------------------------------- NumPy's in-place functions
def _writable_target(a, function):
    if not isinstance(a, Node):
        raise conversion_error(f"{function} on a plain array", plain_target=True)
    return a


def _recycled(values, count):
    """NumPy's flat writes (np.put, np.place, x.flat[...] = v): v's entries, raveled and
    repeated cyclically to `count` entries."""
    size = size_of(values)
    if size == 0:
        raise ValueError("cannot write an empty array of values")
    if size == 1 or (size == count and len(shape_of(values)) == 1):
        return values  # (one value is broadcast)
    flat = np.ravel(values)
    index = frozen_copy(np.arange(count) % size)
    return bind(getitem, flat, key=index) if isinstance(flat, Node) else flat[index]


@numpy_function(np.fill_diagonal)
def _fill_diagonal(a, val, wrap=False):
    a = _writable_target(a, "np.fill_diagonal")
    shape = tuple(shape_of(a))
    if len(shape) < 2:
        raise ValueError("np.fill_diagonal: array must be at least 2-d")
    marker = np.zeros(shape, dtype=bool)
    np.fill_diagonal(marker, True, wrap=wrap)  # NumPy's own choice of entries (and its checks)
    key = Distinct(frozen_copy(k) for k in np.nonzero(marker))  # row-major: the order a.flat writes them
    assign(a, key, _recycled(val, key[0].size))


@numpy_function(np.copyto)
def _copyto(dst, src, casting="same_kind", where=True):
    dst = _writable_target(dst, "np.copyto")
    if casting not in ("same_kind", "unsafe"):
        refuse_arguments("np.copyto", casting=(casting, "same_kind"))
    if isinstance(where, Node):
        raise traced_argument_error(where, "kronvec: np.copyto needs a plain where= mask", "np.copyto's where= mask")
    if where is True:
        write(dst, src)
        return
    mask = np.broadcast_to(np.asarray(where, dtype=bool), shape_of(dst))
    write(dst, bind(where_op, src, dst, condition=frozen_copy(mask)))


def _flat_key(indices, shape, mode, function):
    if isinstance(indices, Node):
        raise traced_argument_error(indices, f"kronvec: {function} needs plain integer indices, not traced values",
                                    f"{function}'s indices")
    size = math.prod(shape)
    flat = np.asarray(indices).reshape(-1)
    if flat.size == 0:  # (np.asarray([]) is float64: no index at all)
        flat = flat.astype(np.intp)
    if flat.dtype == bool:  # (NumPy reads them as the integers 1 and 0, not as a mask: np.put(a, [True], v) writes a.flat[1])
        flat = flat.astype(np.intp)
    if mode == "wrap":
        flat = flat % size if size else flat
    elif mode == "clip":
        flat = np.clip(flat, 0, size - 1)
    elif mode == "raise":
        flat = np.arange(size)[flat]  # negative indices count from the end; IndexError beyond
    else:
        raise ValueError(f"{function}: clipmode must be one of 'clip', 'raise', or 'wrap', got {mode!r}")
    return np.unravel_index(flat, shape) if shape else ()


@numpy_method("put")
@numpy_function(np.put)
def _put(a, ind, v, mode="raise"):
    a = _writable_target(a, "np.put")
    key = _flat_key(ind, tuple(shape_of(a)), mode, "np.put")
    if key and key[0].size and size_of(v):  # (no index or no value: NumPy writes nothing)
        assign(a, key, _recycled(v, key[0].size))


@numpy_function(np.put_along_axis)
def _put_along_axis(arr, indices, values, axis):
    arr = _writable_target(arr, "np.put_along_axis")
    if isinstance(indices, Node):
        raise traced_argument_error(indices, "kronvec: np.put_along_axis needs plain integer indices, not traced "
                                    "values", "np.put_along_axis's indices")
    indices = np.asarray(indices)
    shape = tuple(shape_of(arr))
    if axis is None:  # on the flattened array (row-major)
        if indices.ndim != 1:
            raise ValueError("when axis=None, `indices` must have a single dimension.")
        assign(arr, np.unravel_index(indices, shape), np.ravel(values) if np.ndim(values) else values)
        return
    if indices.ndim != len(shape):
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    assign(arr, _along_axis_key(indices, shape, normalize_axes(axis, len(shape), "np.put_along_axis")[0]), values)


def _mask_of(mask, shape, function):
    if isinstance(mask, Node):
        raise traced_argument_error(mask, f"kronvec: {function} needs a plain boolean mask, not a traced value",
                                    f"{function}'s mask")
    mask = np.asarray(mask, dtype=bool)
    if mask.size != math.prod(shape):
        raise ValueError(f"{function}: mask and data must be the same size")
    return mask.reshape(shape)


def _refuse_unsafe_cast(values, target, function):
    """NumPy's TypeError of np.place and np.putmask for values given as an array whose dtype
    does not cast safely to the target's (a list or a number is converted to it)."""
    if isinstance(values, (Node, np.ndarray)):
        source, dtype = np.result_type(static_value(values)), np.result_type(static_value(target))
        if not np.can_cast(source, dtype, casting="safe"):
            raise TypeError(f"{function}: Cannot cast array data from {source!r} to {dtype!r} according to the "
                            "rule 'safe'")


@numpy_function(np.place)
def _place(arr, mask, vals):
    arr = _writable_target(arr, "np.place")
    _refuse_unsafe_cast(vals, arr, "np.place")
    mask = _mask_of(mask, tuple(shape_of(arr)), "np.place")
    count = int(mask.sum())
    if count:  # the first `count` values, repeated when there are fewer
        assign(arr, mask, _recycled(vals, count))


@numpy_function(np.putmask)
def _putmask(a, mask, values):
    a = _writable_target(a, "np.putmask")
    _refuse_unsafe_cast(values, a, "np.putmask")
    shape = tuple(shape_of(a))
    mask = _mask_of(mask, shape, "np.putmask")
    flat_positions = np.flatnonzero(mask)  # values repeat by position in a, not by count
    size = size_of(values)
    if flat_positions.size and size:  # (no value: NumPy writes nothing)
        index = frozen_copy(flat_positions % size)
        flat = np.ravel(values)
        picked = bind(getitem, flat, key=index) if isinstance(flat, Node) else flat[index]
        assign(a, mask, picked)


@numpy_method("fill")
def _fill(a, value):
    assign(_writable_target(a, "ndarray.fill"), Ellipsis, value)


@numpy_method("sort")
def _sort_in_place(a, axis=-1, kind=None, order=None, *, stable=None):
    _refuse_flattening("ndarray.sort", axis)
    write(_writable_target(a, "ndarray.sort"), np.sort(a, axis=axis, kind=kind, order=order, stable=stable))


def _refuse_flattening(method, axis):
    # In place, the result keeps the array's shape: NumPy takes no axis=None here (np.sort and
    # np.partition do, returning the flattened result), and says so with this TypeError
    if axis is None:
        raise TypeError(f"{method}: axis=None is not accepted in place ('NoneType' object cannot be "
                        "interpreted as an integer); np.sort(a, axis=None) returns the flattened sort")


@numpy_method("partition")
def _partition_in_place(a, kth, axis=-1, kind="introselect", order=None):
    _refuse_flattening("ndarray.partition", axis)
    write(_writable_target(a, "ndarray.partition"), np.partition(a, kth, axis=axis, kind=kind, order=order))



# ------------------------------------------------------------- x.flat
class FlatIterator:
    """``x.flat`` of a traced x: NumPy's flat iterator over x's entries in row-major (C)
    order.  Reading ``x.flat[key]`` is ``np.ravel(x)[key]``; writing ``x.flat[key] = v``
    writes those entries of x (recorded, x rebound, as ``x[key] = v``), so the idiom
    ``A.flat[::n + 1] += lam`` (adding to the diagonal) is differentiated.  It reads x when
    used, so it sees writes into x made after it was taken, as NumPy's does."""

    __slots__ = ("base",)

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return size_of(self.base)

    def _positions(self, key):
        """The row-major positions `key` picks, as NumPy reads a key of a 1-D array."""
        if isinstance(key, Node) or (type(key) is tuple and any(isinstance(k, Node) for k in key)):
            raise traced_argument_error(key, "kronvec: x.flat[key] needs a plain key, not a traced value",
                                        "x.flat's key")
        return np.arange(len(self))[key]  # (NumPy's IndexError for a position out of range)

    def __getitem__(self, key):
        return np.ravel(self.base)[self._positions(key)]

    def __setitem__(self, key, value):
        positions = np.ravel(self._positions(key))
        count = positions.size
        given = size_of(value) if isinstance(value, Node) else np.size(value)
        if given not in (1, count):
            # (NumPy repeats a shorter value cyclically, and drops the rest of a longer one)
            raise ValueError(f"kronvec: x.flat[key] = v with {given} values for {count} positions: give one value "
                             "or one per position (NumPy would repeat or cut v)")
        if given == count and np.ndim(value) != 1:
            value = np.reshape(value, (count,))
        self.base[np.unravel_index(positions, tuple(shape_of(self.base)))] = value

    def __iter__(self):
        flat = np.ravel(self.base)
        return (flat[position] for position in range(len(self)))

    def copy(self):
        """A copy of x's entries in row-major order, as ``ndarray.flat.copy()``."""
        return np.ravel(self.base).copy()


def _set_flat(x, value):
    FlatIterator(x)[...] = value  # (x.flat = v: every entry)


numpy_method("flat")(property(FlatIterator, _set_flat, doc="The flat iterator over the entries (row-major)."))

# -------------------------------------------- converting a traced value: why
_PLAIN_TARGET = (
    "kronvec: {what} writes a traced value into a plain NumPy array, which holds plain numbers "
    "only: the derivative would be lost. (np.zeros(shape), np.empty(shape) … make plain "
    "constants, and so do np.zeros_like(C) and C.copy() of an argument C that is not "
    "differentiated: see argnums.) Start from a traced array instead — e.g. Y = np.zeros_like(X) "
    "or Y = X.copy() with X a differentiated argument or a value computed from one; then "
    "Y[i] = … is recorded — or build the result with np.stack, np.concatenate or np.where."
)
_INDEX_TRICKS = (
    "kronvec: np.r_[…] and np.c_[…] convert each piece with np.array, which cannot hold a "
    "traced value. Write np.concatenate([a, b]) for np.r_[a, b] and np.column_stack([a, b]) "
    "for np.c_[a, b]; both differentiate."
)
_OBJECT_MEAN = (
    "kronvec: {what} of a list of traced values, or of an array np.array built from them (an "
    "object array of traced entries), converts its result with np.float64, which would drop the derivative. "
    "Build the array with np.stack([...]) (a traced array), or write np.sum(a) / a.size."
)
_LEAVING = (
    "kronvec: {what} would turn a traced value into a plain number and drop its derivative. "
    "Keep the computation in NumPy operations on the array (see kronvec.SUPPORTED_FUNCTIONS), "
    "or move it outside the differentiated function. To build an array from traced values use "
    "np.stack([x, y]) or np.array([x, y]) without a float dtype."
)


_NOT_DISPATCHED = (
    "kronvec cannot differentiate {function} in this argument: {function} converts it with {what}, "
    "which would drop its derivative (NumPy hands a call to kronvec only when an argument it "
    "dispatches on is traced, e.g. np.interp's x, xp, fp but not left or right). Pass a plain "
    "number there, or write the computation with NumPy operations on the traced arrays."
)


def _current_instruction(frame):
    for instruction in dis.get_instructions(frame.f_code):
        if instruction.offset == frame.f_lasti:
            return instruction.opname
    return None


_PLAIN_WRITERS = ("fill_diagonal", "put_along_axis", "place", "copyto", "put")


def refuse_plain_target():
    """Raise the plain-target TypeError when NumPy asks a traced value for its entries
    on behalf of a function writing into a plain array (np.fill_diagonal(Y, x), …)."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        top = module.split(".")[0]
        if top == "numpy":
            if frame.f_code.co_name in _PLAIN_WRITERS:
                raise TypeError(_PLAIN_TARGET.format(what=f"np.{frame.f_code.co_name}"))
        elif top != "kronvec":
            return
        frame = frame.f_back


def conversion_error(what, plain_target=False):
    """The TypeError for a traced value NumPy is converting to a plain one: names a
    write into a plain array, ``np.r_``/``np.c_``, or the general case."""
    if plain_target:
        return TypeError(_PLAIN_TARGET.format(what=what))
    frame, numpy_caller, statistic = sys._getframe(1), None, None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        top = module.split(".")[0]
        if top == "numpy":
            numpy_caller = numpy_caller or (module, frame.f_code.co_name)
            if frame.f_code.co_name in ("_mean", "_var", "_std"):
                statistic = frame.f_code.co_name  # the outermost: np.std computes through _var
        elif top != "kronvec":
            break
        frame = frame.f_back
    if numpy_caller is not None:
        module, name = numpy_caller
        if "index_tricks" in module and name == "__getitem__":
            return TypeError(_INDEX_TRICKS)
        if name in _PLAIN_WRITERS:
            return TypeError(_PLAIN_TARGET.format(what=f"np.{name}"))
        if statistic is not None:
            return TypeError(_OBJECT_MEAN.format(what=f"np.{statistic[1:]}"))
        if not name.startswith("_"):  # a public NumPy function converting an argument it does not dispatch on
            return TypeError(_NOT_DISPATCHED.format(what=what, function=f"np.{name}"))
    elif frame is not None and _current_instruction(frame) in ("STORE_SUBSCR", "STORE_SLICE"):
        return TypeError(_PLAIN_TARGET.format(what="Y[i] = x with Y a plain array"))
    return TypeError(_LEAVING.format(what=what))
