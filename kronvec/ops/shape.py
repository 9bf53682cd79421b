"""Operations that move entries: transpose, reshape, broadcast, indexing,
copies, selection by a condition, and joining arrays.

Each is linear with a 0/1 Jacobian, read off by applying the operation to
the array of vec positions (``positions(shape)[i, j] = i + j·m``): the
result says, for every output entry, which input entry it came from.  The
Jacobian is that index map as a :class:`~kronvec.Selection` (the
commutation matrix K_{m,n} for a transpose), never a dense matrix; the VJP
is the scatter back (or the inverse permutation).

Derivations: ``notes/derivatives.md`` §4.
"""

from __future__ import annotations

import math

import numpy as np

from .._constants import frozen_copy
from .._tracer import Node
from ..operators import Commutation, Identity
from . import _samples
from ._registry import Primitive, numpy_function, register
from ._support import (
    bind,
    broadcast_jacobian,
    elementwise_jacobian,
    index_map_jacobian,
    normalize_axes,
    plain_value,
    positions,
    refuse_arguments,
    shape_of,
    size_of,
    unbroadcast,
)

__all__ = ["transpose", "reshape", "broadcast_to", "getitem", "untake", "copy", "astype", "where",
           "concatenate", "stack"]


def _float_dtype(x):
    """The float dtype a Jacobian of 0/1 structure takes from its argument (float32 stays float32)."""
    return np.result_type(np.asarray(x).dtype, np.float32)


# ------------------------------------------------------------------ transpose
def _transpose_vjp(g, ans, x, axes=None):
    if axes is None:
        return np.transpose(g)
    return np.transpose(g, tuple(np.argsort(axes).tolist()))


def _transpose_jacobian(ans, x, names, axes=None):
    shape = np.shape(x)
    if len(shape) == 2 and (axes is None or tuple(axes) == (1, 0)):
        return Commutation(*shape, dtype=_float_dtype(x))  # d(Xᵀ) = (dX)ᵀ ⇒ K_{m,n}
    if len(shape) < 2:
        return Identity(math.prod(shape), _float_dtype(x))
    return index_map_jacobian(shape, np.transpose(positions(shape), axes))


def _transpose_label(a, axes=None):
    if a is None:
        return None
    return f"{a}ᵀ" if len(a) <= 12 and " " not in a else f"({a})ᵀ"


transpose = register(Primitive(
    lambda x, axes=None: np.transpose(x, axes), name="transpose",
    vjps={0: _transpose_vjp},
    jacobians={0: _transpose_jacobian},
    label=_transpose_label,
    formula="K_{m,n} (the commutation matrix: K_{m,n} vec X = vec Xᵀ)",
    reference="Magnus–Neudecker ch. 3 (commutation matrix)",
    samples=_samples.one_rectangular, param_names=("X",), rule_names={0: "transpose"},
    edge_cases={"3-D, negative axes": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 3, 4)),), {"axes": (2, 0, 1)})},
    fuzz=lambda Y, c: Y.T,
    signature="(m,k)->(k,m)", entire=True,
))


@numpy_function(np.transpose)
def _transpose(a, axes=None):
    ndim = len(shape_of(a))
    if axes is not None:
        axes = normalize_axes(axes, ndim, "np.transpose")
        if sorted(axes) != list(range(ndim)):
            raise ValueError(f"np.transpose: axes {axes} are not a permutation of the {ndim} axes")
        if axes == tuple(range(ndim)):
            return a
    return bind(transpose, a, axes=axes)


# -------------------------------------------------------------------- reshape
reshape = register(Primitive(
    lambda x, shape, order="C": np.reshape(x, shape, order=order), name="reshape",
    vjps={0: lambda g, ans, x, shape, order="C": np.reshape(g, shape_of(x), order=order)},
    jacobians={0: lambda ans, x, names, shape, order="C": index_map_jacobian(
        np.shape(x), np.reshape(positions(np.shape(x)), shape, order=order))},
    label=lambda a, shape, order="C": None if a is None else f"reshape({a})",
    formula="a 0/1 permutation (the identity for order='F', K for a row-major ravel of a matrix)",
    reference="vec X = X.reshape(-1, order='F'): notes/conventions.md",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"shape": (n + 1, n)}),
    param_names=("X",),
    edge_cases={"row-major ravel": lambda rng: _samples.Sample((rng.standard_normal((2, 3)),), {"shape": (6,)}),
                "order F": lambda rng: _samples.Sample((rng.standard_normal((2, 3)),),
                                                       {"shape": (3, 2), "order": "F"})},
    fuzz=lambda Y, c: np.reshape(Y, (Y.shape[1], Y.shape[0])),
))


def _static_shape(shape):
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


@numpy_function(np.reshape)
def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    if order not in ("C", "F"):
        refuse_arguments("np.reshape", order=(order, "C"))
    return bind(reshape, a, shape=_static_shape(shape), order=order)


@numpy_function(np.ravel)
def _ravel(a, order="C"):
    return _reshape(a, (-1,), order=order)


@numpy_function(np.squeeze)
def _squeeze(a, axis=None):
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape), "np.squeeze")
    if axes is None:
        axes = tuple(k for k, s in enumerate(shape) if s == 1)
    if any(shape[k] != 1 for k in axes):
        raise ValueError(f"np.squeeze: cannot select an axis to squeeze out which has size not equal to one "
                         f"(shape {shape}, axis {axis})")
    return _reshape(a, tuple(s for k, s in enumerate(shape) if k not in axes))


@numpy_function(np.expand_dims)
def _expand_dims(a, axis):
    return _reshape(a, np.expand_dims(np.empty(shape_of(a), dtype=bool), axis).shape)


# ------------------------------------------------------------------ broadcast
broadcast_to = register(Primitive(
    lambda x, shape: np.array(np.broadcast_to(x, shape)), name="broadcast_to",
    vjps={0: lambda g, ans, x, shape: unbroadcast(g, shape_of(x))},
    jacobians={0: lambda ans, x, names, shape: broadcast_jacobian(np.shape(x), shape)},
    label=lambda a, shape: a,
    formula="B: the 0/1 map repeating each entry along the broadcast axes",
    reference="NumPy broadcasting rules; linear, so its Jacobian is the map itself",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((1, n)),), {"shape": (n + 1, n)}),
    param_names=("x",),
))


@numpy_function(np.broadcast_to)
def _broadcast_to(array, shape, subok=False):
    return bind(broadcast_to, array, shape=_static_shape(shape))


# ------------------------------------------------------------------- indexing
def _getitem_jacobian(ans, x, names, key):
    return index_map_jacobian(np.shape(x), np.asarray(positions(np.shape(x))[key]))


def _untake_impl(g, key, shape):
    out = np.zeros(shape, dtype=np.result_type(np.asarray(g).dtype, np.float32))
    np.add.at(out, key, g)
    return out


getitem = register(Primitive(
    lambda x, key: np.array(np.asarray(x)[key]), name="getitem",
    vjps={0: lambda g, ans, x, key: bind(untake, g, key=key, shape=shape_of(x))},
    jacobians={0: _getitem_jacobian},
    label=lambda a, key: None if a is None else f"{a}[…]",
    formula="S: the 0/1 rows of I picking the indexed entries (repeated indices repeat rows)",
    reference="linear; its Jacobian is the selection itself",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),),
                                           {"key": (np.array([0, n - 1, 0]), slice(None, None, -1))}),
    param_names=("X",),
    edge_cases={"boolean mask": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 3)),), {"key": np.array([[True, False, True], [False, True, True]])}),
                "newaxis and ellipsis": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 3)),), {"key": (None, Ellipsis, 1)})},
    fuzz=lambda Y, c: Y[::-1, ::-1],
))

untake = register(Primitive(
    _untake_impl, name="untake",
    vjps={0: lambda g, ans, x, key, shape: bind(getitem, g, key=key)},
    jacobians={0: lambda ans, g, names, key, shape: _getitem_jacobian(None, np.empty(shape), names, key).T},
    label=lambda a, key, shape: None if a is None else f"place({a})",
    formula="Sᵀ: scatter-add into zeros (the adjoint of indexing)",
    reference="adjoint of a selection",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal(3),),
                                           {"key": (np.array([0, n - 1, 0]), np.array([1, 0, 1])),
                                            "shape": (n, n + 1)}),
    param_names=("G",),
))


def _captured_key(key):
    """The index as the recording keeps it: arrays and lists frozen by value."""
    if isinstance(key, tuple):
        return tuple(_captured_key(k) for k in key)
    if isinstance(key, Node):
        raise TypeError("kronvec: indices must be plain integers, slices or arrays, not traced values")
    if isinstance(key, (np.ndarray, list)):
        index = np.asarray(key)
        if index.dtype.kind not in "biu":
            raise TypeError(f"kronvec: an index array must hold integers or booleans, got dtype {index.dtype}")
        return frozen_copy(index)
    return key


def index(x, key):
    """``x[key]`` for a traced x (basic and advanced indexing; the key is captured)."""
    return bind(getitem, x, key=_captured_key(key))


@numpy_function(np.take)
def _take(a, indices, axis=None, out=None, mode="raise"):
    refuse_arguments("np.take", out=(out, None), mode=(mode, "raise"))
    if axis is None:
        return index(_ravel(a), indices)
    axis = normalize_axes(axis, len(shape_of(a)), "np.take")[0]
    return index(a, (slice(None),) * axis + (np.asarray(indices),))


def gather(a, vec_positions):
    """The entries of `a` at the given vec positions (an int array of any shape):
    any index-moving map, as a column-major flatten, an index and a reshape."""
    flat = _reshape(a, (-1,), order="F")
    picked = index(flat, np.asarray(vec_positions).reshape(-1, order="F"))
    return _reshape(picked, np.shape(vec_positions), order="F")


@numpy_function(np.diagonal)
def _diagonal(a, offset=0, axis1=0, axis2=1):
    shape = shape_of(a)
    return gather(a, np.diagonal(positions(shape), offset, axis1, axis2))


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


# -------------------------------------------------------------- copy, astype
copy = register(Primitive(
    lambda x: np.array(x, copy=True), name="copy",
    vjps={0: lambda g, ans, x: g},
    jacobians={0: lambda ans, x, names: Identity(np.size(x))},
    label=lambda a: a,
    formula="I", reference="the identity map",
    samples=_samples.one_general, param_names=("X",),
))


@numpy_function(np.copy)
def _copy(a, order="K", subok=False):
    return bind(copy, a)


def _astype_impl(x, dtype):
    return np.asarray(x).astype(dtype)


astype = register(Primitive(
    _astype_impl, name="astype",
    vjps={0: lambda g, ans, x, dtype: bind(astype, g, dtype=value_dtype(x))},
    jacobians={0: lambda ans, x, names, dtype: Identity(np.size(x), dtype)},
    label=lambda a, dtype: a,
    formula="I (in the new precision)", reference="the identity map",
    # float64 → float64 here: finite differences of a float32 result would measure its
    # rounding, not the derivative (the float32 paths: tests/test_share_nothing.py).
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n)),), {"dtype": np.dtype(np.float64)}),
    param_names=("X",),
))


def cast(x, dtype):
    """``x.astype(dtype)`` for a traced x: float32 and float64 only."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        raise TypeError(
            f"kronvec: astype({dtype}) would leave the real float32/float64 arithmetic kronvec "
            "differentiates (an integer or complex cast drops or invents derivatives)"
        )
    if dtype == value_dtype(x):
        return bind(copy, x)
    return bind(astype, x, dtype=dtype)


def value_dtype(x):
    value = plain_value(x)
    return getattr(value, "dtype", np.dtype(np.float64))


# ---------------------------------------------------------------------- where
def _where_jacobian(position):
    def jacobian(ans, x, y, names, condition):
        chosen = condition if position == 0 else ~condition
        return elementwise_jacobian(chosen.astype(np.float64), np.shape((x, y)[position]), np.shape(ans))

    return jacobian


where = register(Primitive(
    lambda x, y, condition: np.where(condition, x, y), name="where",
    vjps={0: lambda g, ans, x, y, condition: unbroadcast(bind(where, g, 0.0, condition=condition), shape_of(x)),
          1: lambda g, ans, x, y, condition: unbroadcast(bind(where, 0.0, g, condition=condition), shape_of(y))},
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


@numpy_function(np.where)
def _where(condition, x=None, y=None):
    condition = np.asarray(plain_value(condition))  # which branch is taken: a constant of the point
    if x is None and y is None:
        return np.where(condition)
    if x is None or y is None:
        raise ValueError("np.where: either both or neither of x and y should be given")
    return bind(where, x, y, condition=frozen_copy(condition.astype(bool)))


# -------------------------------------------------------------------- joining
def _piece_slices(sizes, axis, ndim):
    """The index of each piece of a concatenation along `axis` in the result."""
    bounds = np.cumsum([0, *sizes])
    return [(slice(None),) * axis + (slice(int(start), int(stop)),) for start, stop in zip(bounds[:-1], bounds[1:])]


def _concatenate_vjp(position):
    def vjp(g, ans, *arrays, axis):
        sizes = [shape_of(a)[axis] for a in arrays]
        return bind(getitem, g, key=_piece_slices(sizes, axis, len(shape_of(ans)))[position])

    return vjp


def _concatenate_jacobian(position):
    def jacobian(ans, *arrays, names, axis):
        sizes = [np.shape(a)[axis] for a in arrays]
        key = _piece_slices(sizes, axis, np.ndim(ans))[position]
        # the piece is picked out of the result by S; the piece's Jacobian is Sᵀ
        return index_map_jacobian(np.shape(ans), positions(np.shape(ans))[key]).T

    return jacobian


concatenate = register(Primitive(
    lambda *arrays, axis: np.concatenate(arrays, axis=axis), name="concatenate",
    vjps=_concatenate_vjp, jacobians=_concatenate_jacobian,
    label=lambda *labels, axis: None,
    formula="D_k = S_kᵀ, S_k the 0/1 map picking piece k out of the result",
    reference="linear; each piece's Jacobian is the adjoint of picking it out",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, 2)), rng.standard_normal((n, 3))), {"axis": 1}),
    param_names=("A", "B"),
    edge_cases={"three pieces along rows": lambda rng: _samples.Sample(
        (rng.standard_normal((1, 2)), rng.standard_normal((2, 2)), rng.standard_normal((1, 2))), {"axis": 0})},
    fuzz=lambda Y, c: np.concatenate([Y, 2.0 * Y[:, :1]], axis=1),
))


def _join(function, arrays):
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{function}: need at least one array to join")
    return arrays


@numpy_function(np.concatenate)
def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    refuse_arguments("np.concatenate", out=(out, None), dtype=(dtype, None), casting=(casting, "same_kind"))
    arrays = _join("np.concatenate", arrays)
    if axis is None:
        return _concatenate([_ravel(a) for a in arrays], 0)
    ndim = len(shape_of(arrays[0]))
    if ndim == 0:
        raise ValueError("np.concatenate: zero-dimensional arrays cannot be concatenated")
    return bind(concatenate, *arrays, axis=normalize_axes(axis, ndim, "np.concatenate")[0])


@numpy_function(np.stack)
def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    refuse_arguments("np.stack", out=(out, None), dtype=(dtype, None), casting=(casting, "same_kind"))
    arrays = _join("np.stack", arrays)
    shapes = {tuple(shape_of(a)) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"np.stack: all input arrays must have the same shape, got {sorted(shapes)}")
    axis = normalize_axes(axis, len(shapes.pop()) + 1, "np.stack")[0]
    return _concatenate([_expand_dims(a, axis) for a in arrays], axis)


# ------------------------------------------------------- static information
@numpy_function(np.shape)
def _shape(a):
    return tuple(shape_of(a))


@numpy_function(np.ndim)
def _ndim(a):
    return len(shape_of(a))


@numpy_function(np.size)
def _size(a, axis=None):
    if axis is None:
        return size_of(a)
    return shape_of(a)[normalize_axes(axis, len(shape_of(a)), "np.size")[0]]


def _constant_like(factory):
    def make(a, *args, **kwargs):
        return factory(plain_value(a), *args, **kwargs)

    make.__name__ = factory.__name__
    return make


for _factory in (np.zeros_like, np.ones_like, np.empty_like, np.full_like):
    numpy_function(_factory)(_constant_like(_factory))
