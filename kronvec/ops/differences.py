"""Finite differences and sampled calculus: ``np.diff``, ``np.ediff1d``,
``np.gradient``, ``np.trapezoid``, and ``np.linspace``, ``np.logspace`` and
``np.geomspace`` with traced endpoints; ``np.unwrap``.

Each is linear in its traced arguments with coefficients fixed by constants
(the spacing, the count), so each is written here as NumPy does it — slices,
differences, products with constant coefficients, one concatenation — out
of registered operations.  Their Jacobians are therefore sums of 0/1
selections scaled by diagonals: structured at any size, never dense.  The
values follow NumPy's own formulas step by step (same slices, same order of
operations), so they agree with NumPy to the last rounding.

``np.logspace`` and ``np.geomspace`` are ``base ** linspace(...)`` and so not
linear: their Jacobians are diagonals (the power's) times linspace's.

``np.unwrap`` adds to each entry a multiple of the period chosen by the values
(a piecewise-constant correction): one registered operation whose value is
NumPy's and whose derivative is the identity.

Derivations: ``notes/derivatives.md`` §20 (logspace, geomspace: §34; unwrap: §35).
"""

from __future__ import annotations

import operator

import numpy as np

from .._tracer import Node, plain_value, static_value
from ..operators import Identity
from . import _samples
from ._registry import Primitive, numpy_function, register
from ._support import bind, normalize_axes, refuse_arguments, shape_of
from .shape import _float_dtype, in_dtype

__all__ = ["diff", "ediff1d", "gradient", "trapezoid", "linspace", "logspace", "geomspace", "unwrap"]

_NO_VALUE = np._NoValue


def _along(axis, ndim, key):
    """The index picking `key` along `axis` and everything along the others."""
    return (slice(None),) * axis + (key,) + (slice(None),) * (ndim - axis - 1)


def _refuse_traced(function, **arguments):
    for name, value in arguments.items():
        if isinstance(value, Node):
            raise TypeError(f"kronvec differentiates {function} in its array only; {name} must be a constant")


# --------------------------------------------------------------------- diff
def _with_end(a, value, axis, where):
    """np.diff's prepend/append: a scalar stands for one slice along axis."""
    if not isinstance(value, Node):
        value = np.asarray(value, dtype=np.float64)
    if not shape_of(value):
        value = np.broadcast_to(value, shape_of(a)[:axis] + (1,) + shape_of(a)[axis + 1:])
    return np.concatenate([value, a] if where == "prepend" else [a, value], axis=axis)


@numpy_function(np.diff)
def diff(a, n=1, axis=-1, prepend=_NO_VALUE, append=_NO_VALUE):
    """n-th differences along axis: ``a[1:] - a[:-1]``, n times (NumPy's order)."""
    _refuse_traced("np.diff", n=n)
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"np.diff: order must be non-negative but got {n}")
    ndim = len(shape_of(a))
    if ndim == 0:
        raise ValueError("np.diff: diff requires input that is at least one dimensional")
    if isinstance(axis, (tuple, list)):  # (one axis only: NumPy's TypeError)
        raise TypeError(f"np.diff: axis must be an integer, got {axis!r}")
    axis = normalize_axes(axis, ndim, "np.diff")[0]
    if n == 0:
        return a
    if prepend is not _NO_VALUE:
        a = _with_end(a, prepend, axis, "prepend")
    if append is not _NO_VALUE:
        a = _with_end(a, append, axis, "append")
    later, earlier = _along(axis, ndim, slice(1, None)), _along(axis, ndim, slice(None, -1))
    for _ in range(n):
        a = a[later] - a[earlier]
    return a


@numpy_function(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    """Differences of the flattened array, with optional constants or traced ends."""
    flat = np.ravel(ary)
    pieces = [flat[1:] - flat[:-1]]
    dtype = _float_dtype(static_value(flat))  # (NumPy casts the ends to the input's type)

    def end(value, name):
        if isinstance(value, Node):
            return np.ravel(in_dtype(value, dtype, "np.ediff1d"))
        value = np.asarray(value)
        if not np.can_cast(value, dtype, casting="same_kind"):
            raise TypeError(f"np.ediff1d: dtype of `{name}` must be compatible with input `ary` under the "
                            "`same_kind` rule.")
        return np.ravel(value.astype(dtype))

    if to_begin is not None:
        pieces.insert(0, end(to_begin, "to_begin"))
    if to_end is not None:
        pieces.append(end(to_end, "to_end"))
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


# ----------------------------------------------------------------- gradient
def _spacings(varargs, shape, axes):
    """NumPy's reading of gradient's spacing arguments: a scalar per axis, or
    the differences of a coordinate array (a scalar again where uniform)."""
    for value in varargs:
        _refuse_traced("np.gradient", spacing=value)
    if not varargs:
        return [1.0] * len(axes)
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        return [varargs[0]] * len(axes)
    if len(varargs) != len(axes):
        raise TypeError("np.gradient: invalid number of arguments")
    spacings = []
    for axis, distances in zip(axes, varargs):
        distances = np.asarray(distances)
        if distances.ndim == 0:
            spacings.append(distances)
            continue
        if distances.ndim != 1:
            raise ValueError("np.gradient: distances must be either scalars or 1d")
        if len(distances) != shape[axis]:
            raise ValueError("np.gradient: when 1d, distances must match the length of the corresponding dimension")
        steps = np.diff(distances.astype(np.float64) if distances.dtype.kind in "iub" else distances)
        spacings.append(steps[0] if (steps == steps[0]).all() else steps)
    return spacings


def _three_point(f, ndim, axis, keys, coefficients):
    """a·f[k₁] + b·f[k₂] + c·f[k₃] along axis (coefficients shaped to broadcast there)."""
    a, b, c = coefficients
    first, second, third = (f[_along(axis, ndim, key)] for key in keys)
    return a * first + b * second + c * third


def _column(values, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(values, shape)


def _gradient_along(f, ndim, axis, h, edge_order):
    """One axis of np.gradient: second-order central differences inside,
    one-sided differences of order `edge_order` at the two ends (NumPy's formulas)."""
    uniform = np.ndim(h) == 0
    if uniform:
        interior = (f[_along(axis, ndim, slice(2, None))] - f[_along(axis, ndim, slice(None, -2))]) / (2.0 * h)
    else:
        dx1, dx2 = h[:-1], h[1:]
        coefficients = [_column(c, ndim, axis) for c in (
            -dx2 / (dx1 * (dx1 + dx2)), (dx2 - dx1) / (dx1 * dx2), dx1 / (dx2 * (dx1 + dx2)))]
        interior = _three_point(f, ndim, axis, (slice(None, -2), slice(1, -1), slice(2, None)), coefficients)
    first, last = slice(0, 1), slice(-1, None)
    if edge_order == 1:
        start = (f[_along(axis, ndim, slice(1, 2))] - f[_along(axis, ndim, first)]) / (h if uniform else h[0])
        end = (f[_along(axis, ndim, last)] - f[_along(axis, ndim, slice(-2, -1))]) / (h if uniform else h[-1])
    else:
        if uniform:
            start_c, end_c = (-1.5 / h, 2.0 / h, -0.5 / h), (0.5 / h, -2.0 / h, 1.5 / h)
        else:
            d1, d2 = h[0], h[1]
            start_c = (-(2.0 * d1 + d2) / (d1 * (d1 + d2)), (d1 + d2) / (d1 * d2), -d1 / (d2 * (d1 + d2)))
            d1, d2 = h[-2], h[-1]
            end_c = (d2 / (d1 * (d1 + d2)), -(d2 + d1) / (d1 * d2), (2.0 * d2 + d1) / (d2 * (d1 + d2)))
        start = _three_point(f, ndim, axis, (first, slice(1, 2), slice(2, 3)), start_c)
        end = _three_point(f, ndim, axis, (slice(-3, -2), slice(-2, -1), last), end_c)
    return np.concatenate([start, interior, end], axis=axis)


@numpy_function(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """np.gradient of a traced array (constant spacings): a tuple for several axes."""
    if edge_order not in (1, 2):
        raise ValueError("np.gradient: 'edge_order' greater than 2 not supported")
    shape = shape_of(f)
    ndim = len(shape)
    axes = tuple(range(ndim)) if axis is None else normalize_axes(axis, ndim, "np.gradient")
    otype = _float_dtype(static_value(f))
    results = []
    for ax, h in zip(axes, _spacings(varargs, shape, axes)):
        if shape[ax] < edge_order + 1:
            raise ValueError(
                "np.gradient: Shape of array too small to calculate a numerical gradient, "
                "at least (edge_order + 1) elements are required."
            )
        # (NumPy writes each derivative into an array of f's float type: float64 spacings
        # do not make a float32 result float64)
        results.append(in_dtype(_gradient_along(f, ndim, ax, h, edge_order), otype, "np.gradient"))
    return results[0] if len(results) == 1 else tuple(results)


# --------------------------------------------------------------- trapezoid
@numpy_function(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The trapezoidal rule along axis; differentiable in y and in sample points x."""
    _refuse_traced("np.trapezoid", dx=dx)
    ndim = len(shape_of(y))
    axis = normalize_axes(axis, ndim, "np.trapezoid")[0]
    if x is None:
        d = dx
    elif len(shape_of(x)) == 1:  # sample points shared by every slice along axis
        d = np.reshape(np.diff(x), [-1 if k == axis else 1 for k in range(ndim)])
    else:
        d = np.diff(x, axis=axis)
    later, earlier = _along(axis, ndim, slice(1, None)), _along(axis, ndim, slice(None, -1))
    return np.sum(d * (y[later] + y[earlier]) / 2.0, axis=axis)


# ---------------------------------------------------------------- linspace
def _sample_count(function, num, dtype):
    """The plain, non-negative number of samples of np.linspace and its kin, whose
    samples kronvec computes in the endpoints' type (:func:`_endpoints_type`), or in
    float64 when asked to."""
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise TypeError(f"kronvec differentiates {function} in float64; dtype={np.dtype(dtype)} is not supported")
    _refuse_traced(function, num=num)
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"{function}: Number of samples, {num}, must be non-negative.")
    return num


def _endpoints_type(start, stop):
    """NumPy's type for the samples of np.linspace: the endpoints' result type (a Python
    number weak, NEP 50), made inexact — float32 endpoints give float32 samples."""
    values = [static_value(a) if isinstance(a, Node) else a if isinstance(a, (int, float)) else np.asarray(a)
              for a in (start, stop)]
    dtype = np.result_type(*values)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


@numpy_function(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    """Evenly spaced samples between traced endpoints (NumPy's formula)."""
    refuse_arguments("np.linspace", device=(device, None))
    num = _sample_count("np.linspace", num, dtype)
    div = num - 1 if endpoint else num
    delta = stop - start
    extra = len(shape_of(delta))
    samples_type = np.float64 if dtype is not None else _endpoints_type(start, stop)
    t = np.arange(0, num, dtype=samples_type).reshape((-1,) + (1,) * extra)
    if div > 0:
        step = delta / div
        if np.any(plain_value(step) == 0):  # NumPy divides first where the step underflows
            samples = (t / div) * delta
        else:
            samples = t * step
    else:
        step = np.nan
        samples = t * delta
    samples = samples + start
    if endpoint and num > 1:  # (NumPy writes stop into the last row: cast to the samples' type)
        stop = stop if isinstance(stop, Node) else np.asarray(stop, dtype=samples_type)
        stop_row = np.broadcast_to(stop, shape_of(samples)[1:])
        samples = np.concatenate([samples[:-1], np.reshape(stop_row, (1,) + tuple(shape_of(samples)[1:]))], axis=0)
    if axis != 0:
        samples = np.moveaxis(samples, 0, axis)
    return (samples, step) if retstep else samples


@numpy_function(np.logspace)
def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """base ** linspace(start, stop): NumPy's formula, with traced exponents (and base)."""
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise TypeError(f"kronvec differentiates np.logspace in float64; dtype={np.dtype(dtype)} is not supported")
    _refuse_traced("np.logspace", num=num)
    if len(shape_of(base)):
        # (NumPy: a non-scalar base is broadcast with the endpoints, then given the samples' axis)
        ndmax = len(np.broadcast_shapes(*(tuple(shape_of(a)) for a in (start, stop, base))))
        start, stop, base = (np.reshape(a, (1,) * (ndmax - len(shape_of(a))) + tuple(shape_of(a)))
                             for a in (start, stop, base))
        base = np.expand_dims(base, axis=axis)
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    return np.power(base, y)


@numpy_function(np.geomspace)
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """A geometric progression between traced endpoints: start·(stop/start)^(k/div),
    computed as NumPy does — logspace of the base-10 logarithms, with start (and stop,
    when it is a sample) put back exactly at the ends."""
    num = _sample_count("np.geomspace", num, dtype)
    values = [np.asarray(plain_value(a)) for a in (start, stop)]
    if any(np.any(v == 0) for v in values):
        raise ValueError("np.geomspace: Geometric sequence cannot include zero")
    if values[0].dtype.kind == "c" or values[1].dtype.kind == "c":
        raise TypeError("kronvec differentiates np.geomspace of real endpoints only")
    out_sign = np.sign(values[0])  # (NumPy rotates start to the positive axis, and back at the end)
    if np.any(np.sign(values[1]) != out_sign):
        raise ValueError("np.geomspace: start and stop of opposite signs: NumPy's samples are NaN there "
                         "(a real geometric sequence cannot change sign)")
    # NumPy's type: result_type(start, stop, float(num), np.zeros((), dtype)), float64 at least
    # (float32 endpoints too), both endpoints cast to it first
    start, stop = (a.astype(np.float64) if isinstance(a, Node) else np.asarray(a, dtype=np.float64)
                   for a in (start, stop))
    start = start / out_sign
    stop = stop / out_sign
    result = logspace(np.log10(start), np.log10(stop), num=num, endpoint=endpoint, base=10.0)
    if num > 0:  # (10^log10(x) need not be x: NumPy puts the endpoints back)
        rest = tuple(shape_of(result)[1:])
        ends = [np.reshape(np.broadcast_to(start, rest), (1,) + rest), result[1:]]
        if num > 1 and endpoint:
            ends[1:] = [result[1:-1], np.reshape(np.broadcast_to(stop, rest), (1,) + rest)]
        result = np.concatenate(ends, axis=0)
    result = result * out_sign
    if axis != 0:
        result = np.moveaxis(result, 0, axis)
    return result


@numpy_function(np.interp)
def _interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation, written with the operations it is made of:
    on the segment [xp[j], xp[j+1]] holding x, f = fp[j] + s·(x − xp[j]) with the slope
    s = (fp[j+1] − fp[j]) / (xp[j+1] − xp[j]) (NumPy's formula), so ∂f/∂x = s and f is
    linear in fp (weights 1 − t, t) — derivatives.md §20.  The segment is a decision
    on the values (np.searchsorted): at an inner knot x = xp[j] the segment to its right
    is taken, as NumPy's value is (its slope), and at the ends xp[0], xp[-1] the segment
    inside the range (conventions.md §7); beyond [xp[0], xp[-1]] the constant
    `left`/`right` (default fp[0]/fp[-1]) has derivative 0 in x."""
    refuse_arguments("np.interp", period=(period, None))
    xp_shape, fp_shape = tuple(shape_of(xp)), tuple(shape_of(fp))
    if len(xp_shape) != 1 or len(fp_shape) != 1:
        raise ValueError("np.interp: xp and fp must be 1-D sequences")
    if xp_shape != fp_shape:
        raise ValueError("np.interp: fp and xp are not of the same length.")
    if xp_shape[0] == 0:
        raise ValueError("np.interp: array of sample points is empty")
    # NumPy interpolates in float64 whatever the inputs' precision: a float32 input is cast first
    x, xp, fp = (in_dtype(a, np.float64, "np.interp") if isinstance(a, Node) else np.asarray(a, dtype=np.float64)
                 for a in (x, xp, fp))
    xv = np.asarray(plain_value(x), dtype=np.float64)
    xpv = np.asarray(plain_value(xp), dtype=np.float64)
    n = xp_shape[0]
    if n == 1:
        inside = np.broadcast_to(fp[0] if isinstance(fp, Node) else np.asarray(fp, dtype=np.float64)[0], xv.shape)
    else:
        j = np.clip(np.searchsorted(xpv, xv, side="right") - 1, 0, n - 2)
        x0, x1 = np.take(xp, j), np.take(xp, j + 1)
        y0, y1 = np.take(fp, j), np.take(fp, j + 1)
        inside = (y1 - y0) / (x1 - x0) * (x - x0) + y0
        # NumPy gives fp[-1] exactly at x = xp[-1]; the last segment's formula differs from it by
        # rounding only: add that difference as a constant, so the derivative stays the segment's
        last = xv == xpv[-1]
        if last.any():
            fp_last = np.asarray(plain_value(fp), dtype=np.float64)[-1]
            inside = inside + np.where(last, fp_last - np.asarray(plain_value(inside), dtype=np.float64), 0.0)
    low = np.take(fp, np.zeros(xv.shape, dtype=np.intp)) if left is None else left
    high = np.take(fp, np.full(xv.shape, n - 1)) if right is None else right
    result = np.where(xv < xpv[0], low, np.where(xv > xpv[-1], high, inside))
    return result if xv.ndim else result[()]


# ------------------------------------------------------------------- unwrap
def _unwrap_impl(p, discont, axis, period):
    return np.unwrap(p, discont, axis, period=period)


def _unwrap_samples(rng, n):
    # (steps of up to ±6 between neighbours: corrections by 2π along the axis)
    return _samples.Sample((np.cumsum(rng.uniform(-6.0, 6.0, (n, n + 1)), axis=1),),
                           {"discont": None, "axis": 1, "period": 2 * np.pi})


unwrap = register(Primitive(
    _unwrap_impl, name="unwrap",
    # u = p + [0, C]: C a multiple of the period chosen by comparisons of values, constant
    # away from the switching points, so du = dp
    vjps={0: lambda g, ans, p, discont, axis, period: g},
    jacobians={0: lambda ans, p, names, discont, axis, period: Identity(np.size(p), _float_dtype(p))},
    label=lambda a, discont, axis, period: None,
    formula="I: the added multiples of the period are piecewise constant",
    reference="numpy.unwrap; derivative of a piecewise-constant correction (derivatives.md §35)",
    samples=_unwrap_samples, param_names=("p",),
    edge_cases={"axis 0, period 2, discont 1.5": lambda rng: _samples.Sample(
        (np.cumsum(rng.uniform(-2.0, 2.0, (5, 3)), axis=0),), {"discont": 1.5, "axis": 0, "period": 2.0})},
))


@numpy_function(np.unwrap)
def _unwrap(p, discont=None, axis=-1, *, period=2 * np.pi):
    """Phase unwrapping: NumPy's value; the derivative is the identity (derivatives.md §35).
    Where a jump equals `discont` exactly the correction switches, and the derivative
    is that of the side NumPy's value takes (conventions.md §7)."""
    _refuse_traced("np.unwrap", discont=discont, period=period)
    ndim = len(shape_of(p))
    if ndim == 0:  # (NumPy: np.diff of a 0-d array)
        raise ValueError("np.unwrap: diff requires input that is at least one dimensional")
    axis = normalize_axes(axis, ndim, "np.unwrap")[0]
    return bind(unwrap, p, discont=discont, axis=axis, period=period)
