"""Operations on an array's axes and shape: transposes and axis moves,
reshapes, broadcasting, adding and removing unit axes, copies and casts,
``.real``/``.imag``, and the static information (shape, ndim, size).

Each is linear with a 0/1 Jacobian, read off by applying the operation to
the array of vec positions (``positions(shape)[i, j] = i + j·m``): the
result says, for every output entry, which input entry it came from.  The
Jacobian is that index map as a :class:`~kronvec.Selection` (the
commutation matrix K_{m,n} for a transpose), never a dense matrix; the VJP
is the scatter back (or the inverse permutation).  Selecting entries lives
in :mod:`.indexing`, joining and splitting in :mod:`.joining`, assignment in
:mod:`.assignment`.

Derivations: ``notes/derivatives.md`` §11 and §19.
"""

from __future__ import annotations

import math

import numpy as np

from .._constants import capture, freeze
from .._tracer import Node, static_value
from ..operators import Commutation, Identity, Zero
from . import _samples
from ._registry import Primitive, numpy_function, numpy_method, register
from ._support import (
    bind,
    broadcast_jacobian,
    index_map_jacobian,
    normalize_axes,
    plain_value,
    positions,
    refuse_arguments,
    shape_of,
    size_of,
    transposed_label,
    unbroadcast,
)
from .indexing import _diagonal, getitem  # noqa: F401 (np.trace's N-D path uses _diagonal)

__all__ = ["transpose", "reshape", "broadcast_to", "copy", "astype", "integer_value"]


def _float_dtype(x):
    """The float dtype a Jacobian of 0/1 structure takes from its argument (float32 stays float32)."""
    return np.result_type(np.asarray(x).dtype, np.float32)


# ------------------------------------------------------------------ transpose
def _transpose_impl(x, axes=None):
    return x.transpose(axes) if type(x) is np.ndarray else np.transpose(x, axes)


def _inverse_permutation(axes):
    back = [0] * len(axes)
    for position, axis in enumerate(axes):
        back[axis] = position
    return tuple(back)


def _transpose_vjp(g, ans, x, axes=None):
    if axes is None:
        return g.transpose() if type(g) is np.ndarray else bind(transpose, g)
    back = _inverse_permutation(axes)
    return g.transpose(back) if type(g) is np.ndarray else bind(transpose, g, axes=back)


def _transpose_jacobian(ans, x, names, axes=None):
    shape = np.shape(x)
    if len(shape) == 2 and (axes is None or tuple(axes) == (1, 0)):
        return Commutation(*shape, dtype=_float_dtype(x))  # d(Xᵀ) = (dX)ᵀ ⇒ K_{m,n}
    if len(shape) < 2:
        return Identity(math.prod(shape), _float_dtype(x))
    return index_map_jacobian(shape, np.transpose(positions(shape), axes))


def _transpose_label(a, axes=None):
    return transposed_label(a)


transpose = register(Primitive(
    _transpose_impl, name="transpose",
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
    if axes is None:  # the common spelling (x.T), checked first; no parameters: the fast path
        return bind(transpose, a)
    ndim = len(shape_of(a))
    axes = normalize_axes(axes, ndim, "np.transpose")
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"np.transpose: axes {axes} are not a permutation of the {ndim} axes")
    if axes == tuple(range(ndim)):
        return a  # (NumPy's view of all of a: the same array)
    return bind(transpose, a) if axes == (1, 0) else bind(transpose, a, axes=axes)


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
    if order is None:  # (NumPy reads None as 'C')
        order = "C"
    if order not in ("C", "F"):
        if order not in ("A", "K"):  # (NumPy's ValueError for an order it does not know)
            raise ValueError(f"np.reshape: order must be one of 'C', 'F', 'A', or 'K' (got {order!r})")
        refuse_arguments("np.reshape", order=(order, "C"))
    result = bind(reshape, a, shape=_static_shape(shape), order=order)
    return bind(_COPY, result) if copy else result  # copy=True: never a view


@numpy_function(np.ravel)
def _ravel(a, order="C"):
    return _reshape(a, (-1,), order=order)


# ------------------------------------------------------ axes: move, add, drop
@numpy_function(np.swapaxes)
@numpy_method("swapaxes")
def _swapaxes(a, axis1, axis2):
    ndim = len(shape_of(a))
    if ndim == 2 and type(axis1) is int and type(axis2) is int and (axis1 - axis2) % 2:
        return bind(transpose, a)  # the two axes of a matrix, checked first
    order = list(range(ndim))
    (first,), (second,) = normalize_axes(axis1, ndim, "np.swapaxes"), normalize_axes(axis2, ndim, "np.swapaxes")
    order[first], order[second] = second, first
    return _transpose(a, order)


@numpy_function(np.matrix_transpose)
def _matrix_transpose(x):
    ndim = len(shape_of(x))
    if ndim < 2:
        raise ValueError(f"np.matrix_transpose: input array must be at least 2-dimensional, but it is {ndim}")
    return _swapaxes(x, -1, -2)


@numpy_function(np.linalg.matrix_transpose)
def _linalg_matrix_transpose(x):  # the Array API spelling of np.matrix_transpose
    return _matrix_transpose(x)


@numpy_function(np.broadcast_arrays)
def _broadcast_arrays(*args, subok=False):
    # each argument broadcast to the common shape: np.broadcast_to's index map, argument by argument
    shape = np.broadcast_shapes(*(tuple(shape_of(a)) for a in args))
    return tuple(np.broadcast_to(a, shape) for a in args)


@numpy_function(np.meshgrid)
def _meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    # NumPy's own construction: each 1-D xi reshaped onto its axis, then broadcast (copy=True
    # copies the broadcast views; a recorded value owns its memory either way)
    if indexing not in ("xy", "ij"):
        raise ValueError("np.meshgrid: Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    grids = [np.reshape(x, (1,) * i + (-1,) + (1,) * (ndim - i - 1)) for i, x in enumerate(xi)]
    if indexing == "xy" and ndim > 1:
        grids[0] = np.reshape(grids[0], (1, -1) + (1,) * (ndim - 2))
        grids[1] = np.reshape(grids[1], (-1, 1) + (1,) * (ndim - 2))
    if not sparse:
        grids = list(_broadcast_arrays(*grids))
    return tuple(grids)  # (NumPy 2 returns a tuple)


@numpy_function(np.moveaxis)
def _moveaxis(a, source, destination):
    ndim = len(shape_of(a))
    source = normalize_axes(source, ndim, "np.moveaxis")
    destination = normalize_axes(destination, ndim, "np.moveaxis")
    if len(source) != len(destination):
        raise ValueError("np.moveaxis: `source` and `destination` arguments must have the same number of elements")
    order = [k for k in range(ndim) if k not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return _transpose(a, order)


@numpy_function(np.rollaxis)
def _rollaxis(a, axis, start=0):
    ndim = len(shape_of(a))
    axis = normalize_axes(axis, ndim, "np.rollaxis")[0]
    start = int(start) + ndim if start < 0 else int(start)
    if not 0 <= start < ndim + 1:
        raise np.exceptions.AxisError(f"np.rollaxis: 'start' arg requires {-ndim} <= start < {ndim + 1}, "
                                      f"but {start} was passed in")
    if axis < start:
        start -= 1
    order = list(range(ndim))
    order.remove(axis)
    order.insert(start, axis)
    return _transpose(a, order)


@numpy_function(np.squeeze)
def _squeeze(a, axis=None):
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape), "np.squeeze")
    if axes is None:
        axes = tuple(k for k, s in enumerate(shape) if s == 1)
    if any(shape[k] != 1 for k in axes):
        raise ValueError(f"np.squeeze: cannot select an axis to squeeze out which has size not equal to one "
                         f"(shape {shape}, axis {axis})")
    # a[..., 0, ...] on each unit axis: a view, as NumPy's
    return bind(getitem, a, key=tuple(0 if k in axes else slice(None) for k in range(len(shape))))


@numpy_function(np.expand_dims)
def _expand_dims(a, axis):
    ndim = len(shape_of(a)) + (1 if np.isscalar(axis) else len(axis))
    axes = normalize_axes(axis, ndim, "np.expand_dims")
    # a[..., None, ...] at each new axis: a view, as NumPy's
    return bind(getitem, a, key=tuple(None if k in axes else slice(None) for k in range(ndim)))


def _at_least(ndim, keys, function):
    def promote(*arys):
        if not arys:
            return ()
        results = []
        for ary in arys:
            if not isinstance(ary, Node):
                results.append(function(ary))  # a plain array among them stays plain
                continue
            have = len(shape_of(ary))
            results.append(ary if have >= ndim else bind(getitem, ary, key=keys[have]))
        return results[0] if len(results) == 1 else tuple(results)

    promote.__name__ = function.__name__
    return promote


_ALL = slice(None)
# NumPy's own placement of the new unit axes (a 1-D x becomes a row, then x[None, :, None])
atleast_1d = numpy_function(np.atleast_1d)(_at_least(1, {0: (None,)}, np.atleast_1d))
atleast_2d = numpy_function(np.atleast_2d)(_at_least(2, {0: (None, None), 1: (None, _ALL)}, np.atleast_2d))
atleast_3d = numpy_function(np.atleast_3d)(_at_least(
    3, {0: (None, None, None), 1: (None, _ALL, None), 2: (_ALL, _ALL, None)}, np.atleast_3d))


# ------------------------------------------------------------------ broadcast
broadcast_to = register(Primitive(
    # NumPy's read-only view with zero strides (a sum over it adds in its own order: a copy would
    # change the last bits); the recording never writes into its values, and a user's result is
    # copied (api._owned)
    lambda x, shape: np.broadcast_to(x, shape), name="broadcast_to",
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


# -------------------------------------------------------------- copy, astype
copy = register(Primitive(
    # (order: the memory order of the copy, NumPy's — np.copy's 'K', ndarray.copy's 'C'; a
    # later sum adds in memory order, so the last bits of the value follow it)
    lambda x, order="K": np.array(x, copy=True, order=order), name="copy",
    vjps={0: lambda g, ans, x, order="K": g},
    jacobians={0: lambda ans, x, names, order="K": Identity(np.size(x))},
    label=lambda a, order="K": a,
    formula="I", reference="the identity map",
    samples=_samples.one_general, param_names=("X",),
))


_COPY = copy  # (for functions whose `copy` argument hides the primitive's name)


@numpy_function(np.copy)
def _copy(a, order="K", subok=False):
    return copy_in_order(a, order)


def copy_in_order(a, order):
    """np.copy(a, order=…) and a.copy(order=…): a recorded copy laid out in `order`."""
    if order not in ("K", "A", "C", "F"):  # (NumPy's error)
        raise ValueError(f"np.copy: order must be one of 'C', 'F', 'A', or 'K' (got {order!r})")
    return bind(copy, a) if order == "K" else bind(copy, a, order=order)


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


def cast(x, dtype, copy=True):
    """``x.astype(dtype)`` for a traced x: float32 and float64 only (``copy=False``
    with the same dtype gives x itself, as NumPy does)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        return integer_value(x, dtype, copy=True)
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        raise TypeError(
            f"kronvec: astype({dtype}) would leave the real float32/float64 arithmetic kronvec "
            "differentiates (a complex cast invents derivatives)"
        )
    if dtype == value_dtype(x):
        return bind(_COPY, x) if copy else x
    return bind(astype, x, dtype=dtype)


if hasattr(np, "astype"):  # (NumPy ≥ 2.1's function spelling of ndarray.astype)
    @numpy_function(np.astype)
    def _astype_function(x, dtype, /, *, copy=True, device=None):
        refuse_arguments("np.astype", device=(device, None))
        return cast(x, dtype, copy=copy)


def in_dtype(a, dtype, function):
    """``a`` in the precision a ``dtype=`` argument asks of `function` (None: ``a`` as it is).

    NumPy's ``dtype=`` of a sum, mean, product, cumulative sum, trace or ufunc is the
    type the operands are cast to and the result is computed and returned in; for the
    real float32/float64 kronvec differentiates, casting the operands first computes
    the same numbers (the cast is the identity map, notes/derivatives.md §32).  Other
    dtypes (an integer accumulator truncates, a complex one invents derivatives) are
    refused by name.
    """
    if dtype is None:
        return a
    d = np.dtype(dtype)
    if d.kind != "f" or d.itemsize not in (4, 8):
        refuse_arguments(function, dtype=(dtype, None))
    if not isinstance(a, Node):
        from .joining import lift  # (joining builds on this module)

        a = lift(a) if isinstance(a, (list, tuple)) or getattr(a, "dtype", None) == object else a
        if not isinstance(a, Node):
            return np.asarray(a).astype(d)
    return cast(a, d, copy=False)


def integer_value(x, dtype, copy=None):
    """An integer or boolean cast of a traced x, as a plain array.

    Rounding toward zero (and x ≠ 0) is piecewise constant, so its derivative is 0
    wherever it exists (notes/conventions.md §7): the plain value is exact, like
    np.trunc's, and usable where NumPy needs integers (an index, a count)."""
    if copy is False:
        raise ValueError(f"Unable to avoid copy while casting a traced array to {np.dtype(dtype)}")
    return np.asarray(plain_value(x)).astype(dtype)


def value_dtype(x):
    value = static_value(x)
    return getattr(value, "dtype", np.dtype(np.float64))


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


# np.zeros_like(X) of a traced X is a traced constant: its value is NumPy's, its
# derivative zero — and it can be written into (``Y = np.zeros_like(X); Y[0] = X[1]``
# is recorded, notes §19), which a plain array cannot hold.  It has X's dtype, float64
# or float32 (the two a traced value holds, conventions §4).  Other dtypes, shapes and
# layouts give NumPy's plain array — except that a traced fill of np.full_like keeps
# its derivative in any floating dtype and shape (_traced_fill).
_TRACED_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _filled_dtype(x):
    dtype = np.result_type(x)
    return dtype if dtype in _TRACED_DTYPES else np.dtype(np.float64)


filled_like = register(Primitive(
    # (np.full_like: laid out as x is, order 'K', as NumPy's zeros_like of an F-ordered x is F)
    lambda x, fill: np.full_like(x, fill, dtype=_filled_dtype(x), subok=False), name="filled_like",
    vjps={0: lambda g, ans, x, fill: np.zeros(shape_of(x), dtype=_filled_dtype(static_value(x)))},
    jacobians={0: lambda ans, x, names, fill: Zero((np.size(ans), np.size(x)))},
    label=lambda a, fill: None,
    formula="0: a constant of the shape of x",
    reference="the derivative of a constant",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"fill": 1.0}),
    param_names=("x",),
))


def _traced_fill(fill_value, plain):
    """np.full_like(a, v, dtype=…, shape=…) of a traced v: v broadcast to NumPy's result
    (its shape, its floating dtype) as a fresh traced array, so v's derivative is kept
    (−0.0 + v is v for every v, signed zeros included); an integer or boolean dtype is
    an integer cast, a plain value (conventions §7)."""
    return (np.broadcast_to(fill_value, plain.shape) + np.full(plain.shape, -0.0, dtype=plain.dtype)).astype(
        plain.dtype)


def _constant_like(factory, fill):
    def make(a, *args, **kwargs):
        fill_value = None
        if fill is None:  # np.full_like(a, fill_value): the fill may itself be traced
            fill_value = args[0] if args else kwargs.pop("fill_value")
            if not isinstance(fill_value, Node):  # (a constant like any other: NaN/inf, complex refused)
                fill_value = capture(fill_value, "np.full_like's fill_value")
            args = (plain_value(fill_value),) + tuple(args[1:])
        value = static_value(a)
        plain = factory(value, *args, **kwargs)  # (its shape and dtype: not a decision on values)
        if isinstance(fill_value, Node):
            return _traced_fill(fill_value, plain) if plain.dtype.kind == "f" else plain
        if not isinstance(a, Node) or plain.dtype not in _TRACED_DTYPES or plain.shape != shape_of(a):
            return plain
        # (a fill that is an array broadcast along a's shape is a traced zero plus it: −0.0 + v
        # is v for every v, signed zeros included)
        if fill is None:
            if not plain.size:
                return plain
            if np.ndim(args[0]):  # (np.full_like(X, [1, 2, 3]): the row, not its first entry)
                traced = bind(filled_like, a, fill=-0.0) + plain
            else:
                traced = bind(filled_like, a, fill=float(plain.flat[0]))
        else:
            traced = bind(filled_like, a, fill=fill)
        # np.zeros_like(x32, dtype=np.float64): the other floating dtype, still a traced array
        # that can be written into
        return traced if plain.dtype == value_dtype(traced) else traced.astype(plain.dtype)

    make.__name__ = factory.__name__
    return make


for _factory, _fill in ((np.zeros_like, 0.0), (np.ones_like, 1.0), (np.empty_like, 0.0), (np.full_like, None)):
    numpy_function(_factory)(_constant_like(_factory, _fill))


# ----------------------------------------------------------- real and imag
# kronvec's values are real: the real part is the array itself (NumPy's x.real
# of a real x is a view of all of it), the imaginary part a read-only constant 0.
def _real(val):
    return val


def _imag(val):
    return freeze(np.zeros_like(plain_value(val)))


def _real_if_close(a, tol=100):
    # a real array is returned unchanged by NumPy (tol only matters for complex input)
    return a


def _angle(z, deg=False):
    # the argument of a real number: 0 for x ≥ 0, π (180°) for x < 0 — piecewise
    # constant, so a plain value with derivative 0 (NumPy's value at -0.0 included)
    return np.angle(plain_value(z), deg=deg)


numpy_function(np.real)(_real)
numpy_function(np.imag)(_imag)
numpy_function(np.real_if_close)(_real_if_close)
numpy_function(np.angle)(_angle)
numpy_method("real")(property(_real, doc="The array itself (kronvec's values are real)."))
numpy_method("imag")(property(_imag, doc="A read-only array of zeros (kronvec's values are real)."))
