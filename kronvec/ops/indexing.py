"""Operations that select entries: indexing and slicing, ``np.take``,
``take_along_axis``, diagonals and triangles, flips, rotations and rolls,
``np.where``, sorting and ``np.unique`` (its family, and ``np.lexsort``).

Each output entry is one input entry (or a constant 0), so the Jacobian is a
0/1 selection read off by applying the operation to the array of vec
positions (``positions(shape)[i, j] = i + j·m``), and the VJP scatters the
cotangent back (``untake``: a scatter-add, or a plain assignment when no
index repeats).  Sorting selects by a permutation that is a constant of the
point (equal entries keep their input order: a stable sort).  A unique value
is one of a group of equal entries, whose derivative they share evenly.

Derivations: ``notes/derivatives.md`` §11, §19 and §33.2.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._constants import freeze, frozen_copy
from .._tracer import Node, compile_guard, static_value
from ..operators import Diag, Selection, Zero, algebra
from . import _samples
from ._registry import Primitive, Sample, numpy_function, numpy_method, register
from ._support import (
    bind,
    derived_label,
    elementwise_jacobian,
    index_map_jacobian,
    normalize_axes,
    on_plain_values,
    plain_value,
    positions,
    refuse_arguments,
    shape_of,
    size_of,
    unbroadcast,
    undispatched,
    traced_argument_error,
)

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)
_zeros, _empty = np.zeros, np.empty  # (and the pullbacks' allocations: globals, not np.<name> loads)
_BOOL = np.dtype(bool)  # (NumPy's one boolean dtype: a mask's, compared by identity)

__all__ = ["getitem", "untake", "where", "diagonal", "roll", "permute", "sort", "index", "gather", "is_basic_key",
           "indexed_shape", "vec_key"]


# ------------------------------------------------------------------ helpers
_BASIC_TYPES = (int, np.integer, slice, type(None), type(Ellipsis))


def is_basic_key(key):
    """True for NumPy *basic* indexing (integers, slices, None, Ellipsis): the
    result is a view and no entry is picked twice."""
    if type(key) is tuple:
        for k in key:
            if not isinstance(k, _BASIC_TYPES) or k is True or k is False:
                return False
        return True
    return isinstance(key, _BASIC_TYPES) and key is not True and key is not False


class Distinct(tuple):
    """An index known to name no entry twice (a permutation, a diagonal): its
    scatter is an assignment, not a scatter-add.  Its arrays are read-only."""

    __slots__ = ()


def _repeats_possible(key):
    """True when the key holds an integer index array (which may name an entry twice)."""
    if type(key) is Distinct:
        return False
    for k in (key if type(key) is tuple else (key,)):
        if type(k) is _ndarray and k.dtype.kind in "iu" and k.size > 1:
            return True
    return False


_ONE_BYTE = np.zeros(1, dtype=bool)
_ONE_BYTE.flags.writeable = False


def indexed_shape(shape, key):
    """The shape of ``x[key]`` for x of `shape`, without allocating x (a
    zero-stride stand-in; advanced keys allocate only the result's booleans)."""
    return np.ndarray(shape, np.bool_, _ONE_BYTE, 0, (0,) * len(shape))[key].shape


def vec_key(moved, shape):
    """The advanced index (a tuple of read-only int arrays) picking, for each
    entry of the int array `moved`, the entry at that vec position of an array
    of `shape`: with ``x[vec_key(moved, shape)]`` any index map is one getitem."""
    if not shape:
        raise ValueError("vec_key: a 0-d array has no axes to index")
    return tuple(frozen_copy(np.asarray(i)) for i in np.unravel_index(np.asarray(moved), shape, order="F"))


def _untake_value(g, key, shape):
    """Sᵀg: zeros of `shape` with g added at `key` (plain arrays)."""
    g = np.asarray(g)
    dtype = g.dtype
    out = np.zeros(shape, dtype=dtype if dtype.char in "fd" else np.result_type(dtype, np.float32))
    if type(key) is not slice and _repeats_possible(key):
        np.add.at(out, key, g)
    else:  # no entry named twice: an assignment is the same sum, several times faster
        out[key] = g
    return out


# ------------------------------------------------------------------- getitem
def _getitem_impl(x, key, order=None):
    if type(x) is not _ndarray:
        x = np.asarray(x)
    result = x[key]  # a view for basic keys: the recording never writes into its values
    if order is not None:
        # (the memory order of the NumPy function this getitem stands for, np.take's C for one,
        # where x[:, idx] is F: a later sum adds in memory order, so its last bits follow it)
        return np.asarray(result, order=order)
    return result if type(result) is _ndarray else np.array(result)


_REVERSED, _ALL = slice(None, None, -1), slice(None)


def _reverses_only(key):
    """True for keys such as ``::-1`` or ``(:, ::-1)``: a permutation that is its own inverse."""
    if type(key) is slice:
        return key == _REVERSED
    if type(key) is not tuple:
        return False
    for k in key:
        if type(k) is not slice or not (k == _REVERSED or k == _ALL):
            return False
    return True


def _getitem_vjp(g, ans, x, key, order=None):
    if type(g) is _ndarray:  # a plain cotangent: scatter it directly
        kind = type(key)
        if kind is int and g.dtype.char in "fd":  # (x[i]: an assignment into zeros, as _untake_value does)
            out = _zeros(x.shape if type(x) is _ndarray else shape_of(x), dtype=g.dtype)
            out[key] = g
            return out
        if kind is Distinct and g.dtype.char in "fd":  # (a permutation: an assignment, as _untake_value does)
            out = np.zeros(x.shape if type(x) is _ndarray else shape_of(x), dtype=g.dtype)
            out[key] = g
            return out
        if _reverses_only(key):  # (flips: their own inverse, no scatter needed)
            return g[key]
        return _untake_value(g, key, x.shape if type(x) is _ndarray else shape_of(x))
    if _reverses_only(key):
        return bind(getitem, g, key=key)
    return bind(untake, g, key=key, shape=tuple(shape_of(x)))


def _getitem_jacobian(ans, x, names, key, order=None):
    return index_map_jacobian(np.shape(x), np.asarray(positions(np.shape(x))[key]))


getitem = register(Primitive(
    _getitem_impl, name="getitem",
    vjps={0: _getitem_vjp},
    jacobians={0: _getitem_jacobian},
    label=lambda a, key, order=None: None if a is None else f"{a}[…]",
    formula="S: the 0/1 rows of I picking the indexed entries (repeated indices repeat rows)",
    reference="linear; its Jacobian is the selection itself",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),),
                                           {"key": (np.array([0, n - 1, 0]), slice(None, None, -1))}),
    param_names=("X",),
    edge_cases={"boolean mask": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 3)),), {"key": np.array([[True, False, True], [False, True, True]])}),
                "newaxis and ellipsis": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 3)),), {"key": (None, Ellipsis, 1)}),
                "reversed slices (a view)": lambda rng: _samples.Sample(
        (rng.standard_normal((3, 4)),), {"key": (slice(None, None, -1), slice(1, None, 2))})},
    fuzz=lambda Y, c: Y[::-1, ::-1],
))


def _untake_vjp(g, ans, x, key, shape):
    if type(g) is _ndarray:
        return _getitem_impl(g, key)
    return bind(getitem, g, key=key)


untake = register(Primitive(
    _untake_value, name="untake",
    vjps={0: _untake_vjp},
    jacobians={0: lambda ans, g, names, key, shape: _getitem_jacobian(None, np.empty(shape), names, key).T},
    label=lambda a, key, shape: None if a is None else f"place({a})",
    formula="Sᵀ: scatter-add into zeros (the adjoint of indexing)",
    reference="adjoint of a selection",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal(3),),
                                           {"key": (np.array([0, n - 1, 0]), np.array([1, 0, 1])),
                                            "shape": (n, n + 1)}),
    param_names=("G",),
))


@numpy_function(np.bincount)
def _bincount(x, weights=None, minlength=0):
    """``out[k] = Σ weights[i] over x[i] = k``: the scatter-add ``untake`` of the weights
    (Sᵀ w, S the selection x picks: derivatives.md §11).  The integers x are a constant of
    the point; NumPy reads x and minlength first, with its own errors."""
    if isinstance(x, Node) or isinstance(minlength, Node):
        raise traced_argument_error(x if isinstance(x, Node) else minlength,
                                    "kronvec: np.bincount counts plain non-negative integers x (and a plain "
                                    "minlength); a traced value is not one", "np.bincount's integers")
    counts = np.bincount(x, minlength=minlength)  # (NumPy's checks of x and minlength)
    if weights is None:
        return counts
    x = np.asarray(x)
    if x.dtype == bool:  # (NumPy counts booleans as the integers 0 and 1; as a key they would be a mask)
        x = x.astype(np.intp)
    if tuple(shape_of(weights)) != x.shape:
        raise ValueError(f"np.bincount: the weights and list don't have the same length "
                         f"(weights of shape {tuple(shape_of(weights))}, x of shape {x.shape})")
    if not isinstance(weights, Node):
        return np.bincount(x, weights=plain_value(weights), minlength=minlength)
    if static_value(weights).dtype != np.float64:  # (NumPy sums the weights in float64)
        from .shape import cast

        weights = cast(weights, np.float64)
    return bind(untake, weights, key=captured_key(x), shape=counts.shape)


class _TracedIndexError(TypeError, IndexError):
    """A traced value used as an index: kronvec's TypeError for a traced value where a plain
    one is needed, and NumPy's IndexError for a float index (a traced value is a float),
    so code catching either still does."""


def captured_key(key):
    """The index as the recording keeps it: arrays and lists frozen by value."""
    kind = type(key)
    if kind is int or kind is slice:
        return key
    if kind is tuple:
        return tuple([captured_key(k) for k in key])
    if isinstance(key, Node):
        if static_value(key).dtype.kind == "f":
            raise _TracedIndexError(
                f"kronvec: indices must be plain integers, slices or arrays, not traced values (this one holds "
                f"{static_value(key).dtype}: NumPy refuses float indices too; x.astype(int) of a traced x is a plain "
                "integer array)")
        raise traced_argument_error(key, "kronvec: indices must be plain integers, slices or arrays, not traced "
                                    "values", "an index or mask (x[key] = v, np.add.at)")
    if isinstance(key, (_ndarray, list)):
        index = np.asarray(key)
        if index.size == 0 and type(key) is list:
            index = index.astype(np.intp)  # x[[]]: NumPy reads an empty list as integers
        if index.dtype.kind not in "biu":  # (NumPy's IndexError, as x[[0.0, 1.0]] raises on a plain x)
            raise IndexError(f"kronvec: an index array must hold integers or booleans, got dtype {index.dtype} "
                             "(only integers, slices, ellipsis, None and integer or boolean arrays are valid indices)")
        return frozen_copy(index)
    return key


def index(x, key):
    """``x[key]`` for a traced x (basic and advanced indexing; the key is captured)."""
    kind = type(key)
    if kind is slice or kind is int:
        return bind(getitem, x, key=key)
    return bind(getitem, x, key=captured_key(key))


def new_array_order(a):
    """The memory order NumPy gives the new array np.pad, np.insert or np.delete make
    of `a`: 'F' for an F-contiguous `a` that is not C-contiguous, else 'C' (their
    ``order = 'F' if arr.flags.fnc else 'C'``)."""
    value = static_value(a)
    return "F" if type(value) is _ndarray and value.flags.fnc else "C"


def gather(a, moved, order="C"):
    """The entries of `a` at the vec positions `moved` (an int array shaped like
    the result): any index-moving map as one getitem — always a copy, laid out in
    `order` (the NumPy function's: a later sum adds in memory order)."""
    moved = np.asarray(moved)
    shape = tuple(shape_of(a))
    if not shape:  # a 0-d array: index it as a one-entry vector
        a, shape = bind(getitem, a, key=(None,)), (1,)
    return bind(getitem, a, key=vec_key(moved, shape), order=order)


# ---------------------------------------------------------------- np.take
@numpy_function(np.compress)
def _compress(condition, a, axis=None, out=None):
    # the entries where the (plain) condition holds: np.take of their positions, as NumPy does
    refuse_arguments("np.compress", out=(out, None))
    if isinstance(condition, Node):
        raise traced_argument_error(condition, "kronvec: np.compress needs a plain boolean condition, not a "
                                    "traced value", "np.compress's condition")
    positions = np.flatnonzero(np.asarray(condition))
    if axis is None:
        return _take(np.ravel(a), positions)
    length = shape_of(a)[normalize_axes(axis, len(shape_of(a)), "np.compress")[0]]
    if positions.size and positions[-1] >= length:
        raise IndexError(f"np.compress: index {positions[-1]} is out of bounds for axis {axis} with size {length}")
    return _take(a, positions, axis=axis)


@numpy_function(np.extract)
def _extract(condition, arr):
    # NumPy: np.take(np.ravel(arr), np.nonzero(np.ravel(condition))[0])
    if isinstance(condition, Node):
        raise traced_argument_error(condition, "kronvec: np.extract needs a plain boolean condition, not a "
                                    "traced value", "np.extract's condition")
    return _take(np.ravel(arr), np.flatnonzero(np.asarray(condition)))


@numpy_function(np.take)
def _take(a, indices, axis=None, out=None, mode="raise"):
    refuse_arguments("np.take", out=(out, None))
    if mode not in ("raise", "wrap", "clip"):
        raise ValueError(f"np.take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    if isinstance(indices, Node):
        raise traced_argument_error(indices, "kronvec: np.take needs plain integer indices, not traced values",
                                    "np.take's indices")
    empty_list = type(indices) is list and not indices
    indices = np.asarray(indices)  # an array, even for one index: np.take copies
    if empty_list:
        indices = indices.astype(np.intp)  # np.take(x, []): NumPy reads an empty list as integers
    if indices.dtype.kind not in "iu":
        raise TypeError(f"kronvec: np.take needs integer indices, got dtype {indices.dtype}")
    if axis is not None:
        axis = normalize_axes(axis, len(shape_of(a)), "np.take")[0]
    n = size_of(a) if axis is None else shape_of(a)[axis]
    if mode == "wrap" and n:  # NumPy's modes name entries in range: the selection is then the same getitem
        indices = np.mod(indices, n)
    elif mode == "clip" and n:  # (clip maps a negative index to 0, not from the end)
        indices = np.clip(indices, 0, n - 1)
    indices = frozen_copy(indices)
    if axis is None:
        return bind(getitem, np.ravel(a), key=indices)
    return bind(getitem, a, key=(slice(None),) * axis + (indices,), order="C")  # (np.take's new C array)


@functools.lru_cache(maxsize=128)
def _axis_range(n, axis, ndim):
    """arange(n) laid along `axis` of an ndim-dimensional index (read-only, shared)."""
    return frozen_copy(np.arange(n).reshape((1,) * axis + (-1,) + (1,) * (ndim - axis - 1)))


def _along_axis_key(indices, shape, axis):
    """NumPy's take_along_axis index: `indices` on `axis`, aranges on the others."""
    ndim = len(shape)
    return tuple([frozen_copy(indices) if d == axis else _axis_range(shape[d], d, ndim) for d in range(ndim)])


@numpy_function(np.take_along_axis)
def _take_along_axis(arr, indices, axis=-1):
    if isinstance(indices, Node):
        raise traced_argument_error(indices, "kronvec: np.take_along_axis needs plain integer indices, not traced "
                                    "values", "np.take_along_axis's indices")
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise IndexError("`indices` must be an integer array")
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("when axis=None, `indices` must have a single dimension.")
        arr, axis = np.ravel(arr), 0
    shape = tuple(shape_of(arr))
    if indices.ndim != len(shape):
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    axis = normalize_axes(axis, len(shape), "np.take_along_axis")[0]
    return bind(getitem, arr, key=_along_axis_key(indices, shape, axis))


# -------------------------------------------------------------- diagonals
@functools.lru_cache(maxsize=64)
def _diagonal_key(shape, offset, axis1, axis2):
    return Distinct(vec_key(np.diagonal(positions(shape), offset, axis1, axis2), shape))


def _diagonal_vjp(g, ans, x, offset=0, axis1=0, axis2=1):
    shape = tuple(shape_of(x))
    key = _diagonal_key(shape, offset, axis1, axis2)
    if type(g) is _ndarray:
        return _untake_value(g, key, shape)
    return bind(untake, g, key=key, shape=shape)


diagonal = register(Primitive(
    lambda x, offset=0, axis1=0, axis2=1: np.diagonal(x, offset, axis1, axis2), name="diagonal",
    vjps={0: _diagonal_vjp},
    jacobians={0: lambda ans, x, names, offset=0, axis1=0, axis2=1: index_map_jacobian(
        np.shape(x), np.diagonal(positions(np.shape(x)), offset, axis1, axis2))},
    label=lambda a, offset=0, axis1=0, axis2=1: None if a is None else f"diag({a})",
    formula="S: the 0/1 rows of I picking the diagonal entries",
    reference="linear; NumPy documentation of np.diagonal (the diagonal moves to the last axis)",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"offset": 1}),
    param_names=("X",),
    edge_cases={"3-D, axes 2 and 0, offset -1": lambda rng: _samples.Sample(
        (rng.standard_normal((3, 2, 4)),), {"offset": -1, "axis1": 2, "axis2": 0})},
    fuzz=lambda Y, c: np.diagonal(Y)[:, None] * Y[: min(Y.shape), :],
))


@numpy_function(np.linalg.diagonal)
def _linalg_diagonal(x, /, *, offset=0):  # the Array API spelling: the last two axes
    return _diagonal(x, offset, -2, -1)


@numpy_function(np.diagonal)
def _diagonal(a, offset=0, axis1=0, axis2=1):
    ndim = len(shape_of(a))
    if ndim < 2:
        raise ValueError("np.diagonal: diag requires an array of at least two dimensions")
    axis1, axis2 = (normalize_axes(axis, ndim, "np.diagonal")[0] for axis in (axis1, axis2))
    if axis1 == axis2:
        raise ValueError("np.diagonal: axis1 and axis2 cannot be the same")
    return bind(diagonal, a, offset=int(offset), axis1=axis1, axis2=axis2)


@numpy_function(np.diag)
def _diag(v, k=0):
    shape = shape_of(v)
    if len(shape) == 2:  # extract the k-th diagonal
        return _diagonal(v, k)
    if len(shape) == 1:  # build a matrix with v on the k-th diagonal: the adjoint of extracting it
        n = shape[0] + abs(k)
        offsets = np.arange(shape[0])
        return bind(untake, v, key=(frozen_copy(offsets + max(-k, 0)), frozen_copy(offsets + max(k, 0))),
                    shape=(n, n))
    raise ValueError(f"np.diag: input must be 1-D or 2-D, got shape {shape}")


@numpy_function(np.diagflat)
def _diagflat(v, k=0):
    return _diag(np.ravel(v), k)  # NumPy flattens in row-major order first


# ---------------------------------------------------------------------- where
def _where_jacobian(position):
    def jacobian(ans, x, y, names, condition):
        chosen = condition if position == 0 else ~condition
        return elementwise_jacobian(chosen.astype(np.float64), np.shape((x, y)[position]), np.shape(ans))

    return jacobian


_np_where, _np_copyto = undispatched(np.where), undispatched(np.copyto)  # (on plain arrays only)


def _where_vjp(position):
    def vjp(g, ans, x, y, condition):
        if type(g) is _ndarray:  # the reverse sweep's common case: no recording needed
            if position == 0:  # G where C, 0 elsewhere (C broadcasts to G's shape, the result's)
                kept = _zeros(g.shape, g.dtype)
                _np_copyto(kept, g, where=condition)  # (np.where(C, G, 0.0)'s numbers, one call less)
            else:
                kept = _np_where(condition, 0.0, g)
            operand = x if position == 0 else y
            shape = operand.shape if type(operand) is _ndarray else shape_of(operand)
            return kept if kept.shape == shape else unbroadcast(kept, shape)
        shape = shape_of((x, y)[position])
        kept = bind(where, g, 0.0, condition=condition) if position == 0 else bind(where, 0.0, g, condition=condition)
        return unbroadcast(kept, shape)

    return vjp


where = register(Primitive(
    lambda x, y, condition: _np_where(condition, x, y), name="where",
    vjps={0: _where_vjp(0), 1: _where_vjp(1)},
    jacobians={0: _where_jacobian(0), 1: _where_jacobian(1)},
    label=lambda x, y, condition: None,
    formula="D_X = diag(vec C)·B_X, D_Y = diag(vec ¬C)·B_Y for the (constant) condition C",
    reference="piecewise: each entry is X's or Y's",
    samples=lambda rng, n: _samples.Sample(
        (rng.standard_normal((n, n + 1)), rng.standard_normal((1, n + 1))),
        {"condition": rng.standard_normal((n, n + 1)) > 0}),
    param_names=("X", "Y"),
    fuzz=lambda Y, c: np.where(c.same(Y.shape) > 0, Y, 2.0 * Y),
))


def _replayed_where_vjp(position):
    if position == 2:
        return lambda g, ans, x, y, condition: np.zeros(shape_of(condition))  # a decision: derivative 0
    vjp = _where_vjp(position)

    def replayed_vjp(g, ans, x, y, condition):
        if compile_guard(condition) is not None:
            # a traced VJP in a recording made for replay (hvp): the condition stays an operand,
            # so each replay takes its own values' decision
            shape = shape_of((x, y)[position])
            kept = bind(where_replayed, g, 0.0, condition) if position == 0 else \
                bind(where_replayed, 0.0, g, condition)
            return unbroadcast(kept, shape)
        return vjp(g, ans, x, y, np.asarray(plain_value(condition), dtype=bool))

    return replayed_vjp


def _replayed_where_jacobian(position):
    if position == 2:  # the condition: a decision, derivative 0
        return lambda ans, x, y, condition, names: Zero((np.size(ans), np.size(condition)))
    jacobian = _where_jacobian(position)
    # (where's structured diagonal, so a compiled jacobian is the uncompiled one: not a dense
    # matrix built from the VJP)
    return lambda ans, x, y, condition, names: jacobian(ans, x, y, names, np.asarray(condition, dtype=bool))


# np.where whose condition is an operand (recorded, not a constant): for recordings
# that are replayed.  Value and pullbacks are where's, with the condition taken from
# the values given.
where_replayed = register(Primitive(
    lambda x, y, condition: np.where(np.asarray(condition, dtype=bool), x, y), name="where.replayed",
    vjps=_replayed_where_vjp, jacobians=_replayed_where_jacobian,
    label=lambda x, y, condition: None,
    formula="D_X = diag(vec C)·B_X, D_Y = diag(vec ¬C)·B_Y; D_C = 0 (C is a decision)",
    reference="piecewise: each entry is X's or Y's",
    samples=lambda rng, n: (rng.standard_normal((n, n + 1)), rng.standard_normal((1, n + 1)),
                            (rng.standard_normal((n, n + 1)) > 0).astype(float)),
    param_names=("X", "Y", "C"),
))


@numpy_function(np.where)
def _where(condition, x=None, y=None):
    if type(condition) is not _ndarray:  # (a plain array, the common case, is no recording's)
        if compile_guard(condition) is not None and x is not None and y is not None:
            # A condition computed from traced values, in a recording made for replay: an
            # operand, so that every replay takes the branch its own values take.
            return bind(where_replayed, x, y, condition)
        condition = np.asarray(plain_value(condition))  # which branch is taken: a constant of the point
    if x is None and y is None:
        return np.where(condition)
    if x is None or y is None:
        raise ValueError("np.where: either both or neither of x and y should be given")
    # Captured by value: a copy (astype's, for a condition that is not boolean), the
    # recording's alone, which nothing writes into (as the copies of constant operands, not
    # frozen: setflags costs a fifth of the copy again, and only the pullbacks read it).
    # (order 'K': the mask's own memory order, which np.where's result follows with x's and y's)
    kept = condition.copy("K") if condition.dtype is _BOOL else condition.astype(bool)
    return bind(where, x, y, condition=kept)


@numpy_function(np.select)
def _select(condlist, choicelist, default=0):
    # The first true condition picks its choice, else `default`: nested np.where from the
    # last case back (notes §19), so each output entry is one choice's entry — an index
    # map whose derivative is that choice's, and the conditions are constants of the point.
    if len(condlist) != len(choicelist):
        raise ValueError(f"np.select: list of cases must be same length as list of conditions "
                         f"({len(choicelist)} choices, {len(condlist)} conditions)")
    if not condlist:
        raise ValueError("np.select: select with an empty condition list is not possible")
    result = default
    for condition, choice in zip(reversed(condlist), reversed(choicelist)):
        if compile_guard(condition) is not None:
            result = _where(condition, choice, result)  # (recorded: see _where)
            continue
        condition = np.asarray(plain_value(condition))
        if condition.dtype != bool:
            raise TypeError(f"np.select: invalid entry in condlist: should be boolean ndarray, "
                            f"got dtype {condition.dtype}")
        result = _where(condition, choice, result)
    return result


@numpy_function(np.choose)
def _choose(a, choices, out=None, mode="raise"):
    """``choices[a[I]][I]`` (all broadcast together): each output entry is one choice's
    entry, so np.choose is np.select on the conditions a == k — an index map whose
    derivative is the chosen operand's; the integers `a` are a constant of the point."""
    refuse_arguments("np.choose", out=(out, None))
    if isinstance(a, Node):
        raise traced_argument_error(a, "kronvec: np.choose needs plain integer indices a, not a traced value",
                                    "np.choose's indices a")
    count = len(choices)
    if count == 0:
        raise ValueError("np.choose: 0-length sequence of choices")
    a = np.asarray(a).astype(np.intp, casting="safe")  # (NumPy's cast: floats are refused)
    if mode == "wrap":
        a = a % count
    elif mode == "clip":
        a = np.clip(a, 0, count - 1)
    elif mode != "raise":
        raise ValueError(f"np.choose: clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    elif a.size and (a.min() < 0 or a.max() >= count):
        raise ValueError("np.choose: invalid entry in choice array")
    choices = [choices[k] for k in range(count)]
    # NumPy converts the choices together, a Python number taking the arrays' precision
    # (np.choose(a, [x32, 0.5]) is float32), where np.select converts each on its own
    dtype = np.result_type(*(static_value(c) if isinstance(c, Node) else c for c in choices))
    return _select([a == k for k in range(count)],
                   [c if isinstance(c, Node) else np.asarray(c, dtype=dtype) for c in choices])


@numpy_function(np.piecewise)
def _piecewise(x, condlist, funclist, *args, **kw):
    """NumPy's own algorithm (``numpy/lib/_function_base_impl.py``) on a traced x: the
    conditions are masks of the point, each piece is f(x[cond]) written into a traced
    zero array functionally (``y[cond] = …``, derivatives.md §28), so each entry's
    derivative is its piece's and a constant piece's is 0."""
    ndim = len(shape_of(x))
    if np.isscalar(condlist) or (not isinstance(plain_value(condlist[0]), (list, _ndarray)) and ndim != 0):
        condlist = [condlist]
    conditions = np.asarray([plain_value(c) for c in condlist], dtype=bool)
    count, functions = len(conditions), len(funclist)
    if count == functions - 1:  # the "otherwise" piece
        conditions = np.concatenate([conditions, ~np.any(conditions, axis=0, keepdims=True)], axis=0)
        count += 1
    elif count != functions:
        raise ValueError(f"np.piecewise: with {count} condition(s), either {count} or {count + 1} "
                         "functions are expected")
    y = np.zeros_like(x)
    for condition, function in zip(conditions, funclist):
        if not callable(function):
            y[condition] = function
        else:
            pieces = x[condition]
            if size_of(pieces) > 0:
                y[condition] = function(pieces, *args, **kw)
    return y


def _shape_only(function):
    """A NumPy function that reads only its array argument's shape (np.tril_indices_from…):
    evaluated on the plain array, whose values it never looks at."""

    def evaluate(arr, *args, **kwargs):
        return function(static_value(arr), *args, **kwargs)

    evaluate.__name__ = function.__name__
    return evaluate


for _function in (np.tril_indices_from, np.triu_indices_from, np.diag_indices_from):
    numpy_function(_function)(_shape_only(_function))


@functools.lru_cache(maxsize=64)
def _triangle_mask(rows, columns, k, keep_lower):
    """The entries np.tril (keep_lower) or np.triu keeps: read-only, shared (a
    function of its arguments only; building it costs more than the rest of the call)."""
    # (np.tri's comparison, in one step: tril keeps i ≥ j − k, triu keeps i ≤ j − k)
    keep = (np.greater_equal if keep_lower else np.less_equal).outer(np.arange(rows), np.arange(columns) - k)
    return freeze(keep)


def _triangle(name, keep_lower):
    def triangle(m, k=0):
        value = m._value if isinstance(m, Node) else m
        shape = value.shape if type(value) is _ndarray else tuple(shape_of(m))  # (a traced array's own shape, read at once)
        if not shape:  # (TypeError: what NumPy's np.tri raises there)
            raise TypeError(f"{name}: the input must be at least 1-D, got a 0-d array")
        # NumPy's mask: the last two axes (a 1-D input is broadcast to a square)
        rows, columns = shape[-2:] if len(shape) > 1 else shape * 2
        return bind(where, m, 0.0, condition=_triangle_mask(rows, columns, int(k), keep_lower))

    triangle.__name__ = name.split(".")[-1]
    return triangle


numpy_function(np.tril)(_triangle("np.tril", keep_lower=True))
numpy_function(np.triu)(_triangle("np.triu", keep_lower=False))


# ------------------------------------------------------- flips and rotations
def _reversing_key(ndim, axes):
    return tuple(_REVERSED if d in axes else _ALL for d in range(ndim))


@numpy_function(np.flip)
def _flip(m, axis=None):
    value = m._value if isinstance(m, Node) else m
    ndim = value.ndim if type(value) is _ndarray else len(shape_of(m))  # (a traced array's own ndim, read at once)
    if axis is None:
        return bind(getitem, m, key=(_REVERSED,) * ndim)  # a view, as NumPy's
    if type(axis) is int and -ndim <= axis < ndim:  # (the common spelling, checked first)
        return bind(getitem, m, key=(_ALL,) * (axis % ndim) + (_REVERSED,))
    return bind(getitem, m, key=_reversing_key(ndim, normalize_axes(axis, ndim, "np.flip")))


@numpy_function(np.fliplr)
def _fliplr(m):
    if len(shape_of(m)) < 2:
        raise ValueError("np.fliplr: input must be >= 2-d.")
    return _flip(m, 1)


@numpy_function(np.flipud)
def _flipud(m):
    if len(shape_of(m)) < 1:
        raise ValueError("np.flipud: input must be >= 1-d.")
    return _flip(m, 0)


@numpy_function(np.rot90)
def _rot90(m, k=1, axes=(0, 1)):
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError("np.rot90: len(axes) must be 2.")
    ndim = len(shape_of(m))
    first, second = normalize_axes(axes[0], ndim, "np.rot90")[0], normalize_axes(axes[1], ndim, "np.rot90")[0]
    if first == second:
        raise ValueError("np.rot90: axes must be different.")
    k = int(k) % 4
    if k == 0:
        return bind(getitem, m, key=(slice(None),))  # m[:], a view
    if k == 2:
        return _flip(m, (first, second))
    order = list(range(ndim))
    order[first], order[second] = order[second], order[first]
    if k == 1:
        return np.transpose(_flip(m, second), order)
    return _flip(np.transpose(m, order), second)


# ---------------------------------------------------------------- permutations
def _permute_impl(x, index, axis=None):
    # (axis: np.sort's recording, `sort` below, names the axis its decision sorted along)
    if type(x) is not _ndarray:
        x = np.asarray(x)
    result = x.take(index)  # (a flat, C-order gather: one call, where x[key] is an advanced index)
    # (np.sort sorts a copy of order 'K': an F-ordered x gives an F-ordered result, whose sum adds
    # in that order)
    return np.asfortranarray(result) if x.flags.fnc else result


def _permute_vjp(g, ans, x, index, axis=None):
    if type(g) is _ndarray:
        # Pᵀg: each entry of g put back where it came from. `index` names every entry of x
        # once, so the puts fill an empty array exactly: the numbers of a scatter into zeros.
        dtype = g.dtype
        out = _empty(x.shape if type(x) is _ndarray else shape_of(x),
                     dtype=dtype if dtype.char in "fd" else np.result_type(dtype, np.float32))
        out.put(index, g)
        return out
    return bind(permute, g, index=_inverse_permutation(index))  # (traced again: P⁻¹ = Pᵀ, a permutation too)


def _inverse_permutation(index):
    inverse = np.empty(index.shape, dtype=np.intp)
    inverse.put(index, np.arange(index.size, dtype=np.intp))
    return freeze(inverse)


def _permutation_sample(rng, n):
    x = rng.standard_normal((n, n + 1))
    return _samples.Sample((x,), {"index": freeze(rng.permutation(x.size).reshape(x.shape))})


# A permutation of the entries, given by where each entry of the result comes from: C-order
# flat positions in x, each named once (np.sort's gather). Its own kind of index map: one
# np.take each way, where getitem's advanced key costs several NumPy calls.
permute = register(Primitive(
    _permute_impl, name="permute",
    vjps={0: _permute_vjp},
    jacobians={0: lambda ans, x, names, index: index_map_jacobian(
        np.shape(x), positions(np.shape(x)).reshape(-1)[index])},
    label=lambda a, index: None if a is None else f"P({a})",
    formula="P: the permutation matrix picking, for each output entry, the input entry it comes from "
            "(P⁻¹ = Pᵀ, the scatter back)",
    reference="linear; a permutation matrix is orthogonal",
    samples=_permutation_sample, param_names=("X",),
))


# ----------------------------------------------------------------------- roll
@functools.lru_cache(maxsize=256)
def _cyclic(n, shift):
    """Where each entry of a roll by `shift` comes from: read-only, shared."""
    source = (np.arange(n) - shift) % n if n else np.arange(0)
    source.flags.writeable = False
    return source


@functools.lru_cache(maxsize=256)
def _cyclic_flat(shape, shift):
    """Where each entry of a roll of the flattened array (row-major, as np.roll's
    axis=None) comes from, laid out in the array's `shape`: read-only, shared."""
    source = _cyclic(math.prod(shape), shift).reshape(shape)  # (a view of a read-only array: read-only)
    return source


def _roll_impl(x, shift, axis):
    # `axis` an int (one axis) or None (the flattened array): a gather, without
    # np.roll's normalizations; a tuple of axes: np.roll itself
    if type(x) is not _ndarray:
        x = np.asarray(x)
    if type(axis) is int:
        if not x.flags.c_contiguous:  # (np.roll's own: its result is laid out as x, order 'K')
            return np.roll(x, shift, axis)
        return x.take(_cyclic(x.shape[axis], shift), axis)
    if axis is None:  # (take of an index array shaped like x: the result has x's shape, in one call)
        return x.take(_cyclic_flat(x.shape, shift))
    return np.roll(x, shift, axis)


def _roll_vjp(g, ans, x, shift, axis):
    if type(g) is _ndarray and type(shift) is int:  # (the common case, _roll_impl's gather inline)
        if axis is None:
            return g.take(_cyclic_flat(g.shape, -shift))  # P⁻¹ = Pᵀ rolls back
        if type(axis) is int:
            return g.take(_cyclic(g.shape[axis], -shift), axis)
    back = -shift if type(shift) is int else tuple([-s for s in shift])  # P⁻¹ = Pᵀ rolls back
    if type(g) is _ndarray:
        return _roll_impl(g, back, axis)
    return bind(roll, g, shift=back, axis=axis)


roll = register(Primitive(
    _roll_impl, name="roll",
    vjps={0: _roll_vjp},
    jacobians={0: lambda ans, x, names, shift, axis: index_map_jacobian(
        np.shape(x), np.roll(positions(np.shape(x)), shift, axis))},
    label=lambda a, shift, axis: None if a is None else f"roll({a})",
    formula="P: the cyclic-shift permutation along the rolled axes (P⁻¹ = Pᵀ rolls back)",
    reference="linear; NumPy documentation of np.roll",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"shift": 1, "axis": 1}),
    param_names=("X",),
    edge_cases={"flattened, shift 4": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 3)),), {"shift": 4, "axis": None}),
                "two axes, negative shift": lambda rng: _samples.Sample(
        (rng.standard_normal((3, 2, 4)),), {"shift": (-1, 2), "axis": (0, 2)})},
    fuzz=lambda Y, c: np.roll(Y, 1, axis=0),
    entire=True,
))


def _plain_ints(value, function, argument):
    if isinstance(value, Node):
        raise traced_argument_error(value, f"kronvec: {function} needs a plain integer {argument}, not a traced "
                                    "value", f"{function}'s {argument}")
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(f"kronvec: {function}: {argument} must be integers, got {value!r}")
    return array


@numpy_function(np.roll)
def _roll(a, shift, axis=None):
    if type(shift) is int:  # the common spellings, checked first
        if axis is None:
            return bind(roll, a, shift=shift, axis=None)
        if type(axis) is int:
            ndim = len(shape_of(a))
            if not -ndim <= axis < ndim:
                normalize_axes(axis, ndim, "np.roll")  # (NumPy's AxisError, naming the axis)
            return bind(roll, a, shift=shift, axis=axis % ndim)
    if isinstance(shift, (tuple, list)) and not shift:
        shift = np.zeros(0, dtype=np.intp)  # (np.asarray(()) is float64: no shift at all, as np.roll's)
    shift = _plain_ints(shift, "np.roll", "shift")
    if axis is None:
        return bind(roll, a, shift=int(shift.sum()), axis=None)
    ndim = len(shape_of(a))
    pairs = np.broadcast(shift, np.asarray(axis))
    if pairs.ndim > 1:
        raise ValueError("np.roll: 'shift' and 'axis' should be scalars or 1D sequences")
    total = {}
    for s, ax in pairs:
        ax = normalize_axes(int(ax), ndim, "np.roll")[0]
        total[ax] = total.get(ax, 0) + int(s)
    axes = tuple(sorted(total))
    if len(axes) == 1:
        return bind(roll, a, shift=total[axes[0]], axis=axes[0])
    return bind(roll, a, shift=tuple(total[ax] for ax in axes), axis=axes)


def _fft_shift(name, sign):
    """np.fft.fftshift / ifftshift: a roll by ±⌊n/2⌋ along each axis (NumPy's own
    definition), so a permutation of the entries whose Jacobian is roll's."""

    def shifted(x, axes=None):
        shape = shape_of(x)
        if axes is None:
            axes = tuple(range(len(shape)))
        elif isinstance(axes, (int, np.integer)):
            axes = (int(axes),)
        axes = tuple(normalize_axes(int(ax), len(shape), f"np.fft.{name}")[0] for ax in axes)
        if not axes:
            return x
        return _roll(x, [sign * (shape[ax] // 2) for ax in axes], axes)

    shifted.__name__ = name
    return shifted


numpy_function(np.fft.fftshift)(_fft_shift("fftshift", 1))
numpy_function(np.fft.ifftshift)(_fft_shift("ifftshift", -1))


# -------------------------------------------------------------------- sorting
def _permutation_key(perm, shape, axis):
    # `perm` is always fresh (argsort's result), nothing else holds it: frozen as it is, not copied
    perm.setflags(False)  # (write=False, by position: see kronvec._constants.freeze)
    ndim = len(shape)
    return Distinct([perm if d == axis else _axis_range(shape[d], d, ndim) for d in range(ndim)])


def _sort_axis(a, axis, function):
    if axis is None:
        return np.ravel(a), 0
    if type(axis) is int:  # the common spelling, without normalize_axes' general checks
        ndim = len(shape_of(a))
        if -ndim <= axis < ndim:
            return a, axis % ndim
    return a, normalize_axes(axis, len(shape_of(a)), function)[0]


_SORT_KINDS = (None, "quicksort", "mergesort", "heapsort", "stable")


@numpy_function(np.sort)
def _sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        refuse_arguments("np.sort", order=(order, None))
    if kind not in _SORT_KINDS:
        raise ValueError(f"np.sort: sort kind must be one of {_SORT_KINDS[1:]}, got {kind!r}")
    if type(axis) is int and isinstance(a, Node) and a._trace.compiling is None:
        value = a._value
        if type(value) is _ndarray and -value.ndim <= axis < value.ndim:
            # The common case, read directly: an array traced once (no compile guard, so
            # reading its values is no decision to record), an int axis in range.
            axis %= value.ndim
            return bind(sort, a, index=freeze(_sorting_permutation(value, axis)), axis=axis)
    a, axis = _sort_axis(a, axis, "np.sort")
    # Ties in input order (a stable sort): the derivative follows that permutation.
    if compile_guard(a) is not None:
        # A recording made for replay records the sort as one operation, whose
        # permutation every replay computes again (kronvec._compiled.guard).
        return bind(sorted_values, a, axis=axis)
    return bind(sort, a, index=freeze(_sorting_permutation(np.asarray(plain_value(a)), axis)), axis=axis)


def _sorting_permutation(x, axis):
    """Where each entry of np.sort(x, axis) comes from, as C-order flat positions in x
    (a new array, shaped like x): the stable sort's permutation (ties in input order) along
    `axis`, placed among the other axes' positions -- np.sort's decision on the values
    (``sort.decisions``), which its front door records frozen."""
    # (the method, not np.argsort: the same sort without the function's dispatch)
    # (fresh: ours to change in place; axis and kind by position, which spares NumPy's
    # keyword parsing)
    index = x.argsort(axis, "stable")
    base, stride = _flat_base(x.shape, axis)
    if stride != 1:
        index *= stride
    index += base
    return index


@functools.lru_cache(maxsize=64)
def _flat_base(shape, axis):
    """The C-order flat positions of an array of `shape` with the index along `axis` set
    to 0 (read-only, shared: a function of its arguments only), and the flat stride of `axis`."""
    stride = math.prod(shape[axis + 1:])
    flat = np.arange(math.prod(shape), dtype=np.intp).reshape(shape)
    if flat.size:
        flat -= (flat // stride % shape[axis]) * stride
    return freeze(flat), stride


def _sort_samples_with_decision(rng, n):
    x = rng.standard_normal((n, n + 1))
    x[0, 1] = x[0, 0]  # (a tie: the stable sort's order)
    axis = int(rng.integers(2))
    return _samples.Sample((x,), {"index": freeze(_sorting_permutation(x, axis)), "axis": axis})


# np.sort as recorded: the gather by the permutation of the stable sort along `axis`,
# which the front door decides on the values it records (the sort itself: `decisions`)
# -- `permute`'s impl and pullback, `axis` naming the decision; traced again, the
# pullback is `permute` by the inverse permutation.
sort = register(Primitive(
    _permute_impl, name="sort",
    vjps={0: _permute_vjp},
    jacobians={0: lambda ans, x, names, index, axis: index_map_jacobian(
        np.shape(x), positions(np.shape(x)).reshape(-1)[index])},
    label=lambda a, index, axis: derived_label("sort({})", a),
    formula="P: the permutation matrix of the stable sort along the axis (each output entry picks the "
            "input entry it comes from; P⁻¹ = Pᵀ, the scatter back)",
    reference="notes/derivatives.md, Sorting: P is constant near a point without ties; ties in input order",
    samples=_sort_samples_with_decision, param_names=("X",),
    fuzz=lambda Y, c: np.sort(Y, axis=0),
    decisions={"index": _sorting_permutation},
))


def _sort_key(a, axis):
    """The key np.sort's recording gathers with: the stable permutation along `axis`."""
    perm = np.asarray(a).argsort(axis=axis, kind="stable")
    return _permutation_key(perm, perm.shape, axis)


def _sorted_values_vjp(g, ans, a, axis):
    if isinstance(a, Node) and compile_guard(a) is not None:
        # a traced VJP in a recording made for replay (hvp): the scatter takes its permutation
        # from the values of each replay (an operation of a, not a constant key)
        return bind(sort_pullback, g, a, axis=axis)
    return _getitem_vjp(g, ans, a, key=_sort_key(plain_value(a), axis))


# np.sort as one operation, for recordings that are replayed: the value and the
# pullback are getitem's, with the permutation taken from the values given — the
# same numbers, operation for operation, as the gather np.sort records otherwise.
sorted_values = register(Primitive(
    lambda a, axis: _getitem_impl(a, key=_sort_key(a, axis)), name="sort.replayed",
    vjps={0: _sorted_values_vjp},
    # (the selection of getitem by the same key: the operator np.sort's recording builds, so a
    # compiled jacobian assembles, and sums, the same numbers as an uncompiled one)
    jacobians={0: lambda ans, a, names, axis: _getitem_jacobian(ans, a, names, key=_sort_key(a, axis))},
    label=lambda a, axis: derived_label("sort({})", a),
    formula="P (the permutation matrix of the stable sort, 0/1 selection)",
    reference="notes/conventions.md (ties in input order); a sort is a gather",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"axis": int(rng.integers(2))}),
    param_names=("a",),
))


def _sort_samples(rng, n):
    return _samples.Sample((rng.standard_normal((n, n + 1)), rng.standard_normal((n, n + 1))),
                           {"axis": int(rng.integers(2))})


# The two linear maps of a sort's permutation P(a) — the gather h ↦ P(a)h and its adjoint,
# the scatter g ↦ P(a)ᵀg — as operations of (h or g, a): a compiled hvp records them, so a
# replay takes each permutation from its own a.  Linear in the first argument, each is the
# other's pullback there; in a they are piecewise constant (derivative 0).
def _sort_gather_vjp(position):
    if position == 1:
        return lambda g, ans, h, a, axis: np.zeros(shape_of(a))  # the permutation: a decision
    return lambda g, ans, h, a, axis: bind(sort_pullback, g, a, axis=axis)


def _sort_scatter_vjp(position):
    if position == 1:
        return lambda g, ans, h, a, axis: np.zeros(shape_of(a))
    return lambda g, ans, h, a, axis: bind(sort_gather, g, a, axis=axis)


sort_gather = register(Primitive(
    lambda h, a, axis: _getitem_impl(h, key=_sort_key(a, axis)), name="sort.gather",
    vjps=_sort_gather_vjp,
    label=lambda h, a, axis: None,
    formula="D_H = P(A) (the stable sort's permutation of A, a 0/1 selection); D_A = 0",
    reference="a sort is a gather (notes/conventions.md: ties in input order); the permutation is piecewise "
              "constant in A",
    samples=_sort_samples, param_names=("H", "A"),
))
sort_pullback = register(Primitive(
    lambda g, a, axis: _untake_value(g, key=_sort_key(a, axis), shape=np.shape(a)), name="sort.scatter",
    vjps=_sort_scatter_vjp,
    label=lambda g, a, axis: None,
    formula="D_G = P(A)ᵀ (the scatter back through the stable sort's permutation of A); D_A = 0",
    reference="the adjoint of a gather is a scatter (notes/derivatives.md, indexing)",
    samples=_sort_samples, param_names=("G", "A"),
))


@numpy_function(np.partition)
def _partition(a, kth, axis=-1, kind="introselect", order=None):
    refuse_arguments("np.partition", order=(order, None))
    kth = _plain_ints(kth, "np.partition", "kth")
    a, axis = _sort_axis(a, axis, "np.partition")
    x = np.asarray(plain_value(a))
    value = np.partition(x, kth, axis=axis, kind=kind)  # NumPy's arrangement, entry for entry
    # The permutation giving it: the j-th entry of `value` is matched to the input
    # entry of the same rank; equal entries are matched in order of appearance.
    ranks = np.empty(value.shape, dtype=np.intp)
    np.put_along_axis(ranks, np.argsort(value, axis=axis, kind="stable"),
                      np.broadcast_to(np.arange(value.shape[axis]).reshape(
                          (-1,) + (1,) * (value.ndim - axis - 1)), value.shape), axis=axis)
    perm = np.take_along_axis(np.argsort(x, axis=axis, kind="stable"), ranks, axis=axis)
    return bind(getitem, a, key=_permutation_key(perm, x.shape, axis))


# ------------------------------------------------------------------ unique
# np.unique's values are entries (or subarrays along `axis`) of its argument: each one is
# a group of equal entries, and its value is one of them, bit for bit NumPy's.  Its
# derivative is shared evenly by the group — the derivative of the group's mean — as tied
# maxima and tied order statistics share theirs (conventions.md §7): along every direction
# that keeps the ties (the only ones that keep the output's shape) each entry of the group
# moves as the value does; the even split is the one such derivative that does not depend on
# which of the equal entries NumPy happened to report.  Indices, inverse and counts are
# NumPy's plain integers (piecewise constant).  Derivation: derivatives.md §33.2.
def _tied_rows_vjp(g, ans, x, rows, groups, counts):
    # y_k = mean of the rows i with groups[i] = k ⇒ x̄_i = ȳ_{groups[i]} / counts[groups[i]]
    scale = counts.reshape((-1,) + (1,) * (len(shape_of(x)) - 1))
    return (g / scale)[groups]


def _tied_rows_jacobian(ans, x, names, rows, groups, counts):
    # D = Diag(1/c) · Sᵀ: S sends each input entry (i, j) to the output entry (groups[i], j),
    # its transpose adds up each group (vec runs fastest over the rows, conventions §1)
    shape = np.shape(x)
    width = math.prod(shape[1:])
    k = counts.size
    target = (groups[:, None] + k * np.arange(width)[None, :]).ravel(order="F")
    dtype = np.result_type(np.asarray(x).dtype, np.float32)
    return algebra.multiply(Diag(np.tile((1.0 / counts).astype(dtype), width)),
                            Selection(target, k * width, dtype=dtype).T)


def _tied_rows_samples(rng, n):
    perm = rng.permutation(n + 1)
    groups = np.empty_like(perm)
    groups[perm] = np.arange(n + 1)
    return Sample((rng.standard_normal((n + 1, n)),),
                  {"rows": frozen_copy(perm), "groups": frozen_copy(groups), "counts": frozen_copy(np.ones(n + 1))})


tied_rows = register(Primitive(
    lambda x, rows, groups, counts: np.asarray(x)[rows], name="unique.tied_rows",
    vjps={0: _tied_rows_vjp},
    jacobians={0: _tied_rows_jacobian},
    label=lambda a, rows, groups, counts: derived_label("unique({})", a),
    formula="Diag(1/c)·Sᵀ: output row k is a row of its group of c_k equal rows, whose derivative they share "
            "evenly (S maps each input row to its group)",
    reference="notes/conventions.md §7 (ties share evenly, as max and the median); derivatives.md §33.2",
    # (no tied sample: at a tie the value is one of equal rows, and finite differences of
    # one entry leave the tie; tests/test_front_doors.py checks tie-keeping directions)
    samples=_tied_rows_samples, param_names=("X",),
    edge_cases={"a vector": lambda rng: Sample((rng.standard_normal(4),), {
        "rows": frozen_copy(np.array([2, 0, 3, 1])), "groups": frozen_copy(np.array([1, 3, 0, 2])),
        "counts": frozen_copy(np.ones(4))})},
))


def _same_bits(a, b):
    """a and b equal entry for entry, −0.0 told from 0.0 (NumPy's unique treats them as equal)."""
    return (a == b) & (np.signbit(a) == np.signbit(b))


def _unique_order(ordered, values):
    """For NumPy's unique values (in its order), the position of each among the sorted groups
    `ordered` (1-D): searchsorted, and NaNs (sorted last) matched in turn."""
    order = np.searchsorted(ordered, values)
    nan = np.isnan(values)
    if nan.any():
        order[nan] = np.flatnonzero(np.isnan(ordered))[:int(nan.sum())]
    return order


def _unique_selection(ar, plain, axis, equal_nan, values, function):
    """`values` (NumPy's unique values of `plain`, the value of `ar`) as traced entries of
    ar, or its subarrays along `axis`: each the first entry of its group with NumPy's bits."""
    if plain.dtype.kind not in "fc":
        plain = plain.astype(np.float64)
    if axis is None or plain.ndim == 1:
        if axis is not None:
            normalize_axes(axis, plain.ndim, function)
        flat, along = np.reshape(ar, (-1,)), None
        rows = plain.reshape(-1, 1)
        shape = ()
    else:
        along = normalize_axes(axis, plain.ndim, function)[0]
        moved = np.moveaxis(plain, along, 0)
        shape = moved.shape[1:]
        rows = moved.reshape(moved.shape[0], math.prod(shape))
        flat = np.reshape(np.moveaxis(ar, along, 0), rows.shape)
    ordered, first, inverse, counts = np.unique(plain, return_index=True,
                                                return_inverse=True, return_counts=True, axis=along,
                                                equal_nan=equal_nan)
    inverse = np.reshape(inverse, -1)
    values = np.asarray(values)
    if along is None:
        ordered_rows, value_rows = ordered.reshape(-1, 1), values.reshape(-1, 1)
        order = _unique_order(ordered.reshape(-1), values.reshape(-1))
    else:
        ordered_rows = np.moveaxis(ordered, along, 0).reshape(ordered.shape[along], -1)
        value_rows = np.moveaxis(values, along, 0).reshape(values.shape[along], -1)
        order = np.arange(value_rows.shape[0])  # (subarrays: always sorted)
    if order.size != counts.size or not np.array_equal(ordered_rows[order], value_rows, equal_nan=True):
        raise RuntimeError(f"kronvec: {function} could not match NumPy's unique values to the entries they are")
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    groups = position[inverse]  # the output row each input row belongs to
    # the representative: the first row of each group with NumPy's bits (−0.0 and 0.0 are one
    # group, and NumPy reports the one its sort met first); NaN groups: the first occurrence
    same = np.flatnonzero(np.all(_same_bits(rows, value_rows[groups]), axis=1))
    chosen = np.full(order.size, rows.shape[0])
    np.minimum.at(chosen, groups[same], same)
    chosen = np.where(chosen < rows.shape[0], chosen, first[order])
    selected = bind(tied_rows, flat, rows=frozen_copy(chosen), groups=frozen_copy(groups),
                    counts=frozen_copy(counts[order].astype(np.float64)))
    if along is None:
        return selected
    return np.moveaxis(np.reshape(selected, (order.size,) + shape), 0, along)


@numpy_function(np.unique)
def _unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *, equal_nan=True,
            sorted=True):
    plain = np.asarray(plain_value(ar))
    options = {} if sorted is True else {"sorted": sorted}  # (NumPy ≥ 2.3)
    result = np.unique(plain, return_index, return_inverse, return_counts, axis, equal_nan=equal_nan, **options)
    values = result[0] if type(result) is tuple else result
    traced = _unique_selection(ar, plain, axis, equal_nan, values, "np.unique")
    return (traced, *result[1:]) if type(result) is tuple else traced


def _array_api_unique(function):
    """np.unique_values/_counts/_inverse/_all (NumPy ≥ 2.0): np.unique with equal_nan=False,
    as NumPy's own results (namedtuples), the values traced."""

    def handler(x, /):
        plain = np.asarray(plain_value(x))
        result = function(plain)
        values = result if isinstance(result, np.ndarray) else result.values
        traced = _unique_selection(x, plain, None, False, values, f"np.{function.__name__}")
        return traced if isinstance(result, np.ndarray) else result._replace(values=traced)

    handler.__name__ = function.__name__
    return handler


for _name in ("unique_values", "unique_counts", "unique_inverse", "unique_all"):
    if hasattr(np, _name):
        numpy_function(getattr(np, _name))(_array_api_unique(getattr(np, _name)))


@numpy_function(np.lexsort)
def _lexsort(keys, axis=-1):
    # an integer permutation (piecewise constant): evaluated on the plain keys, as argsort
    if type(keys) is tuple:
        return np.lexsort(tuple(plain_value(key) for key in keys), axis=axis)
    return np.lexsort(plain_value(keys), axis=axis)


for _function in (np.argsort, np.argpartition):
    numpy_function(_function)(on_plain_values(_function, __name__))
    numpy_method(_function.__name__)(on_plain_values(_function, __name__))


# ------------------------------------------------------------- set routines
# NumPy's set routines of 1-D arrays return entries of their arguments, sorted and without
# repeats: each is np.unique of its arguments followed by a selection the values decide.
# They are written here as numpy/lib/_arraysetops_impl.py writes them, the decisions taken
# on the plain values, so the values are NumPy's and the derivatives those of np.unique and
# of the selections (derivatives.md §35): a value several entries share splits its
# derivative evenly among them (np.unique's rule), and so does a value np.intersect1d finds
# in both arguments, half to each.

@numpy_function(np.union1d)
def _union1d(ar1, ar2):
    return np.unique(np.concatenate((ar1, ar2), axis=None))


@numpy_function(np.setdiff1d)
def _setdiff1d(ar1, ar2, assume_unique=False):
    ar1 = np.ravel(ar1) if assume_unique else np.unique(ar1)
    outside = ~np.isin(np.asarray(plain_value(ar1)), np.asarray(plain_value(ar2)))
    return ar1[outside]


@numpy_function(np.setxor1d)
def _setxor1d(ar1, ar2, assume_unique=False):
    if not assume_unique:
        ar1, ar2 = np.unique(ar1), np.unique(ar2)
    ordered = np.sort(np.concatenate((ar1, ar2), axis=None))
    values = np.asarray(plain_value(ordered))
    if values.size == 0:
        return ordered
    single = np.concatenate(([True], values[1:] != values[:-1], [True]))  # (NumPy's flags)
    return ordered[single[1:] & single[:-1]]


@numpy_function(np.intersect1d)
def _intersect1d(ar1, ar2, assume_unique=False, return_indices=False):
    if assume_unique:
        first, second, first_index, second_index = np.ravel(ar1), np.ravel(ar2), None, None
    else:
        first, first_index = np.unique(ar1, return_index=True)
        second, second_index = np.unique(ar2, return_index=True)
    # where each common value sits in `first` and `second`: NumPy's own answer on the values
    values, in_first, in_second = np.intersect1d(np.asarray(plain_value(first)), np.asarray(plain_value(second)),
                                                 assume_unique=True, return_indices=True)
    from_first, from_second = first[in_first], second[in_second]
    # v − ½(v − w) with w = v: the value v bit for bit (v − w is +0.0, and x − 0.0 is x, −0.0
    # included), the derivative ½ dv + ½ dw.  (One exception, of sign only: a zero that is −0.0
    # in ar1 and +0.0 in ar2 comes out +0.0, where NumPy reports either, by its sort's order.)
    common = from_first - 0.5 * (from_first - from_second)
    if not return_indices:
        return common
    if not assume_unique:
        in_first, in_second = first_index[in_first], second_index[in_second]
    return common, in_first, in_second

__all__ += ["captured_key", "Distinct", "tied_rows"]
