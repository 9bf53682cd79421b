"""Reductions: sums, means, products, extremes, medians, moments, cumulative
sums and products, and norms.

A reduction over some axes maps each slice of X to one number.  Its
Jacobian is therefore ``Bᵀ·Diag(vec D)``: the derivative D of each output
with respect to the entries of its slice, summed back onto the output by
Bᵀ, the transpose of the 0/1 map B that broadcasts the result over the
reduced axes.  A sum has D = 1 (Jacobian Bᵀ), a product the products of the
other entries, a variance 2(X − μ)/(N − ddof), a norm X/‖X‖; an extreme
(max, min, median) picks entries, so its Jacobian is a weighted selection,
``Sᵀ_out·Diag(w)·S_in``, with O(number of picked entries) storage.  The VJPs
broadcast the cotangent back over the slice and multiply by D.

Cumulative sums and products act along one axis: ``I ⊗ tril(1) ⊗ I`` for a
sum, and for a product a first-order linear recurrence, ``(I − diag(X)S)⁻¹``
with S the shift along the axis — applied in O(N), never stored.  Products
are exact with zeros: no derivative divides by an entry.

Matrix norms built on singular values (``'nuc'``, 2, −2) differentiate
through three operations — the singular values and the left and right
singular vectors, defined with the other factorizations in
:mod:`.factorizations` — whose VJPs are written in terms of each other, so
every order is traced.

Kinks follow ``notes/conventions.md`` §7 and these additions: ties of max
and min are split evenly among the maximizers (also with ``initial``); the
median takes its middle order statistic(s), ½ each for an even count, each
shared evenly among the entries equal to it; std and the p-norms take the
subgradient 0 at a zero spread (zero slice), like ‖X‖ at 0; a singular value
0 has derivative 0 (like |x| at 0).  Derivations: ``notes/derivatives.md``
§3, §12 and §18.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
import scipy.sparse as sp

from .._constants import capture, frozen_copy
from .._tracer import Node, compile_guard
from .._vec import unvec, vec
from ..operators import (
    Dense,
    Diag,
    RowVector,
    Selection,
    Sparse,
    algebra,
    selection_from_index,
)
from ..operators._formula import Label
from ..operators.basic import _LabelledLeaf, owned_readonly
from . import _samples
from ._registry import Primitive, numpy_function, numpy_method, register
from ._support import (
    along_axis,
    bind,
    decided,
    is_zero,
    keepdims_shape,
    broadcast_jacobian,
    derived_label,
    loud,
    normalize_axes,
    plain_value,
    refuse_arguments,
    shape_of,
    size_of,
    static_value,
    traced_argument_error,
)
from .factorizations import (  # noqa: F401 (the singular values and vectors moved there, issue 13)
    extreme_singular_value,
    left_singular_vectors,
    right_singular_vectors,
    singular_values,
)
from .shape import broadcast_to, in_dtype
from .indexing import where as choose
from .indexing import where_replayed

# (hot paths read these as globals, not np.<name>: see kronvec/_tracer.py)
_ndarray, _empty, _add_reduce = np.ndarray, np.empty, np.add.reduce

__all__ = ["sum_", "mean", "prod", "max_", "min_", "median", "var", "std", "norm", "cumsum", "cumprod",
           "linear_recurrence", "singular_values", "left_singular_vectors", "right_singular_vectors"]

_NO_VALUE = np._NoValue


# ============================================================ shared helpers
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


def _axes(axis, ndim, function):
    """`axis` as a normalized tuple (None stays None), quickly for a valid int."""
    if type(axis) is int and -ndim <= axis < ndim:
        return (axis + ndim if axis < 0 else axis,)
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


# ===================================================================== sum
def _sum_impl(x, axis=None, keepdims=False, where=None, initial=None):
    # (np.sum's own body, for floats; with where= or initial=, NumPy's loop starts from
    # the initial value and skips the masked entries, an order of additions that a sum
    # with zeros put outside the mask, plus the initial value, does not repeat: the
    # value is NumPy's only when it is NumPy's own reduction)
    if initial is None:
        if where is None:
            return _add_reduce(x, axis=axis, keepdims=keepdims)
        return _add_reduce(x, axis=axis, keepdims=keepdims, where=where)
    return _add_reduce(x, axis=axis, keepdims=keepdims, where=True if where is None else where, initial=initial)


def _sum_vjp(g, ans, x, axis=None, keepdims=False, where=None, initial=None):
    spread = _spread(g, shape_of(x), axis, keepdims)
    if where is None:
        return spread
    if isinstance(spread, Node):
        return bind(choose, spread, 0.0, condition=where)
    return np.where(where, spread, 0.0)  # (the entries outside the mask add nothing)


_sum_vjp.returns_fresh = True  # (_spread and np.where write plain cotangents into a new array)


def _sum_jacobian(ans, x, names, axis=None, keepdims=False, where=None, initial=None):
    shape = np.shape(x)
    if where is not None:
        return _reduction_jacobian(where.astype(np.float64), shape, axis)  # Bᵀ·Diag(vec M)
    if axis is None and len(shape) > 0:
        return RowVector(np.ones(math.prod(shape)), name="1")
    return broadcast_jacobian(_kept_shape(shape, axis), shape).T


def _sum_samples(rng, n):
    return _samples.Sample((rng.standard_normal((n, n + 1)),), {"axis": (0,), "keepdims": False})


sum_ = register(Primitive(
    _sum_impl, name="sum",
    vjps={0: _sum_vjp},
    jacobians={0: _sum_jacobian},
    label=lambda a, axis=None, keepdims=False, where=None, initial=None: f"sum({a})",
    formula="D Σ_axes X = Bᵀ, B the 0/1 map broadcasting back over the summed axes "
            "(vec(1)ᵀ for a full sum); with where=M, Bᵀ·Diag(vec M)",
    reference="Magnus–Neudecker ch. 9 (linear maps have constant Jacobians)",
    samples=_sum_samples, param_names=("X",),
    edge_cases={"full sum": lambda rng: (rng.standard_normal((3, 2)),),
                "negative axis, keepdims": lambda rng: _samples.Sample(
                    (rng.standard_normal((2, 3)),), {"axis": (1,), "keepdims": True}),
                "where=": lambda rng: _samples.Sample(
                    (rng.standard_normal((3, 4)),), {"axis": (1,), "keepdims": False,
                                                     "where": rng.standard_normal((3, 4)) > -0.5}),
                "where=, full sum": lambda rng: _samples.Sample(
                    (rng.standard_normal((2, 9)),), {"axis": None, "where": rng.standard_normal((2, 9)) > 0}),
                "initial=, where=": lambda rng: _samples.Sample(
                    (rng.standard_normal((3, 4)),), {"axis": (0,), "where": rng.standard_normal((3, 4)) > 0,
                                                     "initial": 1.5})},
    fuzz=lambda Y, c: Y + np.sum(Y, axis=1, keepdims=True) / Y.shape[1],
))


def _masked(a, mask, fill):
    """`a` with the entries outside `mask` replaced by the constant `fill` (derivative 0 there)."""
    return a if mask is None else bind(choose, a, fill, condition=mask)


def _folding(op, function, fill, with_initial):
    """The front door of a sum-like reduction: entries outside ``where=`` become
    `fill` (the identity of the reduction), ``initial=`` joins by `with_initial`."""

    def handler(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=_NO_VALUE):
        if (axis is None and keepdims is False and where is _NO_VALUE and initial is _NO_VALUE and dtype is None
                and out is None and isinstance(a, Node)):
            # the common spelling, np.sum(x) of a traced x: what the general path below
            # records for it (no mask, axis None), without its calls (once per objective),
            # and with its parameters left at the impl's and VJPs' defaults (axis=None,
            # keepdims=False): without keywords, their calls spare unpacking a dict
            return bind(op, a)
        if out is not None:
            refuse_arguments(function, out=(out, None))
        if dtype is not None:
            a = in_dtype(a, dtype, function)
        shape = shape_of(a)
        mask, axes = _where_mask(where, shape, function), _axes(axis, len(shape), function)
        if initial is _NO_VALUE or isinstance(initial, Node):
            params = {}
        else:  # NumPy's loop starts from the initial value (its order of operations: see _sum_impl)
            params = {"initial": capture(initial, f"the initial value of {function}")}
        if op is sum_ and mask is not None:
            params["where"] = mask  # (NumPy's own masked sum: see _sum_impl)
            result = bind(op, a, axis=axes, keepdims=bool(keepdims), **params)
        else:  # (a product with ones outside the mask: exactly NumPy's masked product)
            result = bind(op, _masked(a, mask, fill), axis=axes, keepdims=bool(keepdims), **params)
        return result if not isinstance(initial, Node) else with_initial(result, initial)

    handler.__name__ = op.name
    return handler


_sum = numpy_function(np.sum)(_folding(sum_, "np.sum", 0.0, operator.add))


@numpy_function(np.nansum)
def _nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=_NO_VALUE):
    # With kronvec.config.check_finite on (the default) a NaN never reaches a traced
    # value, and nansum is sum.  With it off, NaN entries count as 0 and get derivative 0.
    refuse_arguments("np.nansum", out=(out, None))
    a = in_dtype(a, dtype, "np.nansum")
    nan = np.isnan(np.asarray(plain_value(a)))
    if nan.any():
        a = bind(choose, 0.0, a, condition=frozen_copy(nan))
    return _sum(a, axis=axis, keepdims=keepdims, initial=initial, where=where)


def _mean_count(shape, axis):
    return math.prod(shape) if axis is None else math.prod(shape[k] for k in axis)


def _mean_impl(x, axis=None, keepdims=False):
    # np.mean's own arithmetic for floats: the sum, then a true division by the count
    return np.true_divide(np.add.reduce(x, axis=axis, keepdims=keepdims), _mean_count(np.shape(x), axis))


def _mean_jacobian(ans, x, names, axis=None, keepdims=False):
    shape = np.shape(x)
    return algebra.scale(_sum_jacobian(ans, x, names, axis, keepdims), 1.0 / _mean_count(shape, axis))


mean = register(Primitive(
    _mean_impl, name="mean",
    vjps={0: lambda g, ans, x, axis=None, keepdims=False:
          _spread(g * (1.0 / _mean_count(shape_of(x), axis)), shape_of(x), axis, keepdims)},
    jacobians={0: _mean_jacobian},
    label=lambda a, axis=None, keepdims=False: None if a is None else f"mean({a})",
    formula="D mean_axes X = Bᵀ/N: the sum's selection scaled by 1/N (N entries per slice)",
    reference="linear; Magnus–Neudecker ch. 9 (linear maps have constant Jacobians)",
    samples=_sum_samples, param_names=("X",),
    edge_cases={"full mean": lambda rng: (rng.standard_normal((3, 2)),),
                "two axes of a 3-D array, keepdims": lambda rng: _samples.Sample(
                    (rng.standard_normal((2, 3, 2)),), {"axis": (0, 2), "keepdims": True})},
    fuzz=lambda Y, c: Y - np.mean(Y, axis=1, keepdims=True),
))


@numpy_function(np.mean)
def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=_NO_VALUE):
    if out is not None:
        refuse_arguments("np.mean", out=(out, None))
    if dtype is not None:
        a = in_dtype(a, dtype, "np.mean")
    shape = shape_of(a)
    axes = _axes(axis, len(shape), "np.mean")
    mask = _where_mask(where, shape, "np.mean")
    if mask is None:
        if _mean_count(shape, axes) == 0:
            raise ValueError("np.mean of an empty slice is NaN: kronvec refuses it")
        return bind(mean, a, axis=axes, keepdims=bool(keepdims))
    count = np.sum(mask, axis=axes, keepdims=bool(keepdims))
    if np.any(count == 0):
        raise ValueError("np.mean: the where= mask selects no entry of some slice (its mean is NaN)")
    total = bind(sum_, a, axis=axes, keepdims=bool(keepdims), where=mask)  # (NumPy's masked sum)
    # NumPy divides by the (integer) counts in float64 and writes the quotient back in the
    # sum's type (numpy/_core/_methods.py, _mean: true_divide(ret, rcount, out=ret,
    # casting="unsafe")): a float32 mean stays float32, rounded once from the float64 quotient
    return in_dtype(total / count, static_value(total).dtype, "np.mean")


@numpy_function(np.average)
def _average(a, axis=None, weights=None, returned=False, *, keepdims=_NO_VALUE):
    keepdims = False if keepdims is _NO_VALUE else bool(keepdims)
    shape = tuple(shape_of(a))
    axes = normalize_axes(axis, len(shape), "np.average")
    if weights is None:
        average = _mean(a, axis=axes, keepdims=keepdims)
        if not returned:
            return average
        count = float(size_of(a) / max(1, size_of(average)))
        return average, np.full(tuple(shape_of(average)), count)
    w_shape = tuple(shape_of(weights))
    if w_shape != shape:
        if axes is None:
            raise TypeError("np.average: axis must be specified when shapes of a and weights differ")
        if w_shape != tuple(shape[k] for k in axes):
            raise ValueError(f"np.average: weights of shape {w_shape} are not consistent with a of shape "
                             f"{shape} along axis {axis}")
        weights = np.transpose(weights, tuple(np.argsort(axes).tolist())) if len(axes) > 1 else weights
        weights = np.reshape(weights, tuple(s if k in axes else 1 for k, s in enumerate(shape)))
    total_weight = np.sum(weights if tuple(shape_of(weights)) == shape else np.broadcast_to(weights, shape),
                          axis=axes, keepdims=keepdims)
    if np.any(np.asarray(plain_value(total_weight)) == 0):
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    average = np.sum(a * weights, axis=axes, keepdims=keepdims) / total_weight
    return (average, total_weight) if returned else average


# ==================================================================== prod
def _product_of_others(x, axis):
    """∂ prod/∂xᵢ = the product of the other entries of xᵢ's slice, as exclusive
    prefix times exclusive suffix products: exact with zeros, no division."""
    shape = tuple(shape_of(x))
    if axis == () or math.prod(shape) == 0 or len(shape) == 0:
        return np.ones(shape, dtype=_float_dtype(static_value(x)))
    if axis is None:
        axis = tuple(range(len(shape)))
    if len(axis) > 1:  # the reduced axes merged into one, last
        rows, back = _to_rows(x, axis)
        return back(_product_of_others(rows, (len(shape_of(rows)) - 1,)))
    (k,) = axis
    cumulative = (lambda v: v.cumprod(axis=k)) if type(x) is _ndarray else (lambda v: np.cumprod(v, axis=k))
    before = _shifted(cumulative(x), k, 1.0)
    after = _shifted(_reversed_along(cumulative(_reversed_along(x, k)), k), k, 1.0, up=True)
    return before * after


def _prod_impl(x, axis=None, keepdims=False, initial=None):
    # (with initial=, NumPy's loop starts from it: initial·x₀·x₁…, not (x₀·x₁…)·initial)
    params = {} if initial is None else {"initial": initial}
    return loud("np.prod", lambda v: np.prod(v, axis=axis, keepdims=keepdims, **params))(x)


def _prod_derivative(x, axis, initial):
    """∂(initial·Π xⱼ)/∂xᵢ: the product of the others, times the initial value."""
    others = _product_of_others(x, axis)
    return others if initial is None else others * initial


prod = register(Primitive(
    _prod_impl,
    name="prod",
    vjps={0: lambda g, ans, x, axis=None, keepdims=False, initial=None:
          _kept_cotangent(g, shape_of(x), axis, keepdims) * _prod_derivative(x, axis, initial)},
    jacobians={0: lambda ans, x, names, axis=None, keepdims=False, initial=None:
               _reduction_jacobian(_prod_derivative(np.asarray(x), axis, initial), np.shape(x), axis)},
    label=_axis_label("prod"),
    formula="D Π_axes X = Bᵀ·Diag(vec Π_{j≠i} X_j): each entry's derivative is the product of the others "
            "in its slice (prefix × suffix products: exact with zeros)",
    reference="d Π xⱼ = Σᵢ (Π_{j≠i} xⱼ) dxᵢ (product rule, Magnus–Neudecker ch. 5)",
    samples=lambda rng, n: _samples.Sample((rng.uniform(0.5, 1.5, (n, n + 1)),), {"axis": (1,), "keepdims": False}),
    param_names=("X",),
    edge_cases={
        "one zero in a slice": lambda rng: _samples.Sample(
            (np.array([[0.0, 1.5, -0.7], [0.9, 1.2, 0.8]]),), {"axis": (1,), "keepdims": False}),
        "two zeros in a slice": lambda rng: _samples.Sample(
            (np.array([[0.0, 1.5, 0.0], [0.9, 1.2, 0.8]]),), {"axis": (1,), "keepdims": False}),
        "full product of a 3-D array": lambda rng: _samples.Sample((rng.uniform(0.7, 1.3, (2, 3, 2)),), {}),
        "two axes, keepdims": lambda rng: _samples.Sample(
            (rng.uniform(0.7, 1.3, (2, 3, 2)),), {"axis": (0, 2), "keepdims": True}),
        "initial=": lambda rng: _samples.Sample(
            (rng.uniform(0.7, 1.3, (3, 4)),), {"axis": (1,), "keepdims": False, "initial": -1.5}),
    },
    fuzz=lambda Y, c: Y * np.prod(1.0 + 0.1 * np.tanh(Y), axis=0, keepdims=True),
    entire=True,
))


numpy_method("prod")(numpy_function(np.prod)(_folding(prod, "np.prod", 1.0, operator.mul)))


# ========================================================= max, min, ptp
def _distinct_entries(axis):
    """Samples whose entries are at least ~1/n apart: no ties within a finite-difference step."""
    def samples(rng, n):
        X = rng.permutation(n * (n + 1)).reshape(n, n + 1) / n + 0.1 * rng.standard_normal((n, n + 1)) / n
        return _samples.Sample((X,), {"axis": axis, "keepdims": False})

    return samples


def _extreme_impl(reduce):
    def impl(x, axis=None, keepdims=False, initial=None, where=None):
        if initial is None and where is None:
            return reduce(x, axis=axis, keepdims=keepdims)
        extra = {} if initial is None else {"initial": initial}
        return reduce(x, axis=axis, keepdims=keepdims, where=True if where is None else where, **extra)

    return impl


def _extreme_weights(ans, x, axis, keepdims, initial, where):
    """1/(number of ties) at the entries equal to their slice's extreme (ties split
    evenly; an `initial` equal to the extreme counts as one of them), 0 elsewhere:
    a decision on the values."""
    if isinstance(x, Node) or isinstance(ans, Node):
        return decided(functools.partial(_plain_extreme_weights, axis=axis, initial=initial, where=where), ans, x)
    return _plain_extreme_weights(ans, x, axis, initial, where)


def _plain_extreme_weights(ans, x, axis, initial, where):
    if type(x) is not _ndarray:
        x, ans = np.asarray(x), np.asarray(ans)
    hit = x == ans.reshape(_kept_shape(x.shape, axis))
    if where is not None:
        hit &= where
    count = hit.sum(axis=axis, keepdims=True)
    if initial is not None:
        count = np.maximum(count + (ans.reshape(count.shape) == initial), 1)
    elif where is not None:
        count = np.maximum(count, 1)  # (a slice the mask empties: its initial value, derivative 0)
    weights = hit / count
    return weights if x.dtype != np.float32 else weights.astype(np.float32)


def _extreme_vjp(g, ans, x, axis=None, keepdims=False, initial=None, where=None):
    if (axis is None and initial is None and where is None and type(x) is _ndarray and x.dtype.char == "d"
            and (type(g) is float or (type(g) is _ndarray and g.dtype.char == "d"))):
        # The reverse sweep's common case, a plain cotangent of the whole array's max or
        # min attained once: weight 1 there, 0 elsewhere — g times the hit mask, bit for
        # bit the general path's g·(hit / 1) (a bool multiplies as 1.0/0.0), in fewer calls.
        hit = x == ans
        if np.count_nonzero(hit) == 1:
            return g * hit
    return _kept_cotangent(g, shape_of(x), axis, keepdims) * _extreme_weights(ans, x, axis, keepdims, initial, where)


def _extreme_jacobian(ans, x, names, axis=None, keepdims=False, initial=None, where=None):
    return _pick_jacobian(_extreme_weights(ans, x, axis, keepdims, initial, where), np.shape(x), axis)


def _extreme(reduce, name, word):
    return register(Primitive(
        _extreme_impl(reduce), name=name,
        vjps={0: _extreme_vjp}, jacobians={0: _extreme_jacobian},
        label=_axis_label(name),
        formula=f"D {name}_axes X = Sᵀ_out·Diag(w)·S_in: each output picks its {word} entry "
                "(w = 1; ties split evenly, w = 1/#ties)",
        reference=f"the {word} of a slice is locally the entry attaining it; at ties the even split of the "
                  "subdifferential's extreme points, as JAX and autograd do",
        samples=_distinct_entries((0,)),
        param_names=("X",),
        edge_cases={
            "full reduction": lambda rng: (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),),
            "keepdims along the last axis": lambda rng: _samples.Sample(
                (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),), {"axis": (1,), "keepdims": True}),
            "initial and where": lambda rng: _samples.Sample(
                (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),),
                {"axis": (1,), "keepdims": False, "initial": 0.0 if name == "max" else 0.5,
                 "where": frozen_copy(np.array([[True, True, False], [True, False, True]]))}),
        },
    ))


max_ = _extreme(np.maximum.reduce, "max", "largest")
min_ = _extreme(np.minimum.reduce, "min", "smallest")


def _plain_initial(initial, function, identity):
    """``initial=`` of max/min as a float.  The reduction's identity (−inf for max, +inf
    for min) is accepted: it bounds nothing and is NumPy's value of an empty slice.  NaN
    and the other infinity are refused like any non-finite constant operand (with them
    every result would be NaN or that infinity)."""
    if isinstance(initial, (float, np.floating)) and float(initial) == identity:
        return identity
    return float(capture(initial, f"the initial value of {function}"))


def _extreme_handler(op, function, identity):
    def handler(a, axis=None, out=None, keepdims=False, initial=_NO_VALUE, where=_NO_VALUE):
        if out is not None:
            refuse_arguments(function, out=(out, None))
        shape = shape_of(a)
        if isinstance(initial, Node):
            raise TypeError(f"kronvec: {function}: initial= must be a plain number, not a traced value")
        return bind(op, a, axis=_axes(axis, len(shape), function), keepdims=bool(keepdims),
                    initial=None if initial is _NO_VALUE else _plain_initial(initial, function, identity),
                    where=_where_mask(where, shape, function))

    handler.__name__ = op.name
    return handler


numpy_method("max")(numpy_function(np.max, np.amax)(_extreme_handler(max_, "np.max", -math.inf)))
numpy_method("min")(numpy_function(np.min, np.amin)(_extreme_handler(min_, "np.min", math.inf)))


@numpy_function(np.ptp)
def _ptp(a, axis=None, out=None, keepdims=False):
    # (ndarray.ptp is gone in NumPy 2: only the function)
    refuse_arguments("np.ptp", out=(out, None))
    axes = normalize_axes(axis, len(shape_of(a)), "np.ptp")
    params = dict(axis=axes, keepdims=bool(keepdims), initial=None, where=None)
    return bind(max_, a, **params) - bind(min_, a, **params)


def _index_handler(function):
    def handler(a, axis=None, out=None, *, keepdims=_NO_VALUE):
        # an index is an integer: it has no derivative, so its plain value is returned
        refuse_arguments(f"np.{function.__name__}", out=(out, None))
        extra = {} if keepdims is _NO_VALUE else {"keepdims": keepdims}
        return function(np.asarray(plain_value(a)), axis=axis, **extra)

    handler.__name__ = function.__name__
    return handler


numpy_method("argmax")(numpy_function(np.argmax)(_index_handler(np.argmax)))
numpy_method("argmin")(numpy_function(np.argmin)(_index_handler(np.argmin)))


# ================================================================== median
def _median_weights(x, axis):
    """½ at each of the two middle order statistics of a slice (1 at the middle
    one for an odd count), each shared evenly among the entries equal to it: a
    decision on the values."""
    return decided(functools.partial(_plain_median_weights, axis=axis), x)


def _plain_median_weights(x, axis):
    return _order_statistic_weights(x, axis, lambda count: (((count - 1) // 2, 0.5), (count // 2, 0.5)))


def _order_statistic_weights(x, axis, picks):
    """Σ weight · (the entries of each slice equal to its order statistic `order`, sharing
    the weight evenly) over ``picks(count) = ((order, weight), …)``: the selection weights
    of the median and of the quantiles, which are each locally one or two order statistics."""
    x = np.asarray(x)
    rows, back = _to_rows(x, axis)
    ordered = np.sort(rows, axis=-1)
    weights = np.zeros(rows.shape, dtype=_float_dtype(x))
    for order, weight in picks(rows.shape[-1]):
        if weight:
            hit = rows == ordered[..., order:order + 1]
            weights += weight * hit / np.sum(hit, axis=-1, keepdims=True)
    return back(weights)


median = register(Primitive(
    lambda x, axis=None, keepdims=False: np.median(x, axis=axis, keepdims=keepdims), name="median",
    vjps={0: lambda g, ans, x, axis=None, keepdims=False:
          _kept_cotangent(g, shape_of(x), axis, keepdims) * _median_weights(x, axis)},
    jacobians={0: lambda ans, x, names, axis=None, keepdims=False:
               _pick_jacobian(_median_weights(x, axis), np.shape(x), axis)},
    label=_axis_label("median"),
    formula="D median_axes X = Sᵀ_out·Diag(w)·S_in: the middle entry (w = 1) or the two middle "
            "entries (w = ½ each) of each slice; tied entries share their weight evenly",
    reference="the median is locally the middle order statistic (NumPy: np.median averages the two "
              "middle values of an even count)",
    samples=_distinct_entries((1,)),
    param_names=("X",),
    edge_cases={
        "odd count, full": lambda rng: (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6], [0.9, 1.7, -0.5]]),),
        "even count along axis 0, keepdims": lambda rng: _samples.Sample(
            (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),), {"axis": (0,), "keepdims": True}),
    },
))


@numpy_function(np.median)
def _median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    # (overwrite_input only allows NumPy to scratch the input; kronvec never does)
    refuse_arguments("np.median", out=(out, None))
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape), "np.median")
    if _count(shape, axes, None) == 0:
        raise ValueError("np.median of an empty slice is NaN: kronvec refuses it")
    return bind(median, a, axis=axes, keepdims=bool(keepdims))


# ================================================================ quantile
def _quantile_weights(x, q, axis, method="linear"):
    """NumPy's linear method: the order statistics ⌊p⌋ and ⌊p⌋ + 1 of each slice
    (p = q·(n − 1)) with weights 1 − (p − ⌊p⌋) and p − ⌊p⌋, each shared evenly
    among the entries equal to it, as the median's: a decision on the values.
    The other methods move p (Hyndman & Fan's α, β) or pick one order statistic."""
    return decided(functools.partial(_plain_quantile_weights, q=q, axis=axis, method=method), x)


#: NumPy's continuous quantile methods as Hyndman & Fan's (α, β): the virtual index of the
#: order statistics is p = n·q + α + q·(1 − α − β) − 1, clipped to [0, n − 1]
_QUANTILE_ALPHA_BETA = {"linear": (1.0, 1.0), "weibull": (0.0, 0.0), "hazen": (0.5, 0.5),
                        "median_unbiased": (1 / 3, 1 / 3), "normal_unbiased": (3 / 8, 3 / 8),
                        "interpolated_inverted_cdf": (0.0, 1.0)}
#: the methods that take one order statistic (midpoint: the mean of the two around p)
_QUANTILE_DISCRETE = ("lower", "higher", "nearest", "midpoint")
QUANTILE_METHODS = tuple(_QUANTILE_ALPHA_BETA) + _QUANTILE_DISCRETE


def _plain_quantile_weights(x, q, axis, method="linear"):
    def picks(count):
        alpha, beta = _QUANTILE_ALPHA_BETA.get(method, (1.0, 1.0))
        position = q * (count - 1) if method in _QUANTILE_DISCRETE or method == "linear" else \
            count * q + alpha + q * (1 - alpha - beta) - 1
        position = min(max(position, 0.0), count - 1.0)
        low = min(int(np.floor(position)), count - 1)
        high = min(low + 1, count - 1)
        fraction = position - low
        if method == "lower":
            return ((low, 1.0),)
        if method == "higher":
            return ((high if fraction > 0 else low, 1.0),)
        if method == "nearest":  # NumPy rounds half to even
            return ((min(int(np.around(position)), count - 1), 1.0),)
        if method == "midpoint":
            return ((low, 1.0),) if fraction == 0 else ((low, 0.5), (high, 0.5))
        return (low, 1.0 - fraction), (high, fraction)

    return _order_statistic_weights(x, axis, picks)


def _quantile_samples(rng, n):
    X = rng.permutation(n * (n + 1)).reshape(n, n + 1) / n + 0.1 * rng.standard_normal((n, n + 1)) / n
    return _samples.Sample((X,), {"q": 0.3, "axis": (1,), "keepdims": False})


quantile = register(Primitive(
    lambda x, q, axis=None, keepdims=False, method="linear":
        np.quantile(x, q, axis=axis, keepdims=keepdims, method=method), name="quantile",
    vjps={0: lambda g, ans, x, q, axis=None, keepdims=False, method="linear":
          _kept_cotangent(g, shape_of(x), axis, keepdims) * _quantile_weights(x, q, axis, method)},
    jacobians={0: lambda ans, x, names, q, axis=None, keepdims=False, method="linear":
               _pick_jacobian(_quantile_weights(x, q, axis, method), np.shape(x), axis)},
    label=lambda a, q, axis=None, keepdims=False, method="linear": None if a is None else f"quantile({a}, {q})",
    formula="D quantile_axes X = Sᵀ_out·Diag(w)·S_in: the order statistics ⌊p⌋, ⌊p⌋+1 of each slice, "
            "p = q(n−1), with weights 1 − (p − ⌊p⌋) and p − ⌊p⌋; tied entries share their weight evenly",
    reference="NumPy's default (linear, Hyndman & Fan type 7) quantile interpolates linearly between "
              "two order statistics, each locally one entry of the slice",
    samples=_quantile_samples,
    param_names=("X",),
    edge_cases={
        "q = 0 and 1 (the extremes), full": lambda rng: _samples.Sample(
            (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6]]),), {"q": 1.0, "axis": None, "keepdims": False}),
        "an order statistic exactly (q(n−1) an integer), keepdims": lambda rng: _samples.Sample(
            (np.array([[0.3, -1.2, 2.5], [1.1, 0.4, -2.6], [0.9, 1.7, -0.5]]),),
            {"q": 0.5, "axis": (0,), "keepdims": True}),
    },
))


def _quantile_front_door(name, scale):
    def handler(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False, *,
                weights=None, interpolation=None):
        # (overwrite_input only allows NumPy to scratch the input; kronvec never does)
        refuse_arguments(name, out=(out, None), weights=(weights, None), interpolation=(interpolation, None),
                         **({} if method in QUANTILE_METHODS else {"method": (method, "linear")}))
        if isinstance(q, Node):
            raise TypeError(f"kronvec differentiates {name} in a, not in q: pass q as a plain number or array")
        qs = np.asarray(q, dtype=np.float64) / scale
        if np.any((qs < 0) | (qs > 1)) or not np.all(np.isfinite(qs)):
            raise ValueError(f"{name}: " + ("Percentiles must be in the range [0, 100]" if scale == 100
                                            else "Quantiles must be in the range [0, 1]"))
        shape = shape_of(a)
        axes = normalize_axes(axis, len(shape), name)
        if _count(shape, axes, None) == 0:
            raise ValueError(f"{name} of an empty slice is NaN: kronvec refuses it")
        extra = {} if method == "linear" else {"method": method}
        values = [bind(quantile, a, q=float(v), axis=axes, keepdims=bool(keepdims), **extra) for v in qs.ravel()]
        if qs.ndim == 0:
            return values[0]
        return np.reshape(np.stack(values), qs.shape + tuple(shape_of(values[0])))

    handler.__name__ = name.split(".")[-1]
    return handler


numpy_function(np.quantile)(_quantile_front_door("np.quantile", 1.0))
numpy_function(np.percentile)(_quantile_front_door("np.percentile", 100.0))


# ================================================================ var, std
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


def _std_derivative(ans, x, axis, ddof, keepdims, where):
    # (X − μ)/((N − ddof)·std), and 0 for a slice of zero spread: std = ‖X − μ‖/√(N − ddof)
    # takes the subgradient 0 of the norm at 0 (notes/conventions.md §7)
    centered, count = _centered(x, axis, where)
    return centered * (1.0 / (count - ddof)) * _safe_inverse(_kept(ans, shape_of(x), axis, keepdims))


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


# ============================================================== cumulative
def _cumsum_vjp(g, ans, x, axis):
    # Y = L X along `axis` (L lower-triangular ones) ⇒ X̄ = Lᵀ Ȳ: a cumulative sum from the end
    if type(g) is _ndarray:
        return _reversed_along(_reversed_along(g, axis).cumsum(axis=axis), axis)
    return _reversed_along(bind(cumsum, _reversed_along(g, axis), axis=axis), axis)


def _cumsum_jacobian(ans, x, names, axis):
    # Y = L X along `axis`, L = tril(1) the lower-triangular matrix of ones
    shape = np.shape(x)
    ones = np.ones((shape[axis], shape[axis]), dtype=_float_dtype(x))
    return along_axis(Dense(np.tril(ones), name="tril(1)"), shape, axis)


cumsum = register(Primitive(
    lambda x, axis: np.asarray(x).cumsum(axis=axis), name="cumsum",
    vjps={0: _cumsum_vjp},
    jacobians={0: _cumsum_jacobian},
    label=lambda a, axis: None,
    formula="I ⊗ tril(1) ⊗ I: the lower-triangular matrix of ones acting on the summed axis",
    reference="linear; Magnus–Neudecker Thm 2.2 (vec of a map acting on one axis)",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"axis": 1}),
    param_names=("X",),
    edge_cases={"rows of a 3-D array": lambda rng: _samples.Sample((rng.standard_normal((2, 3, 2)),), {"axis": 0}),
                "a vector": lambda rng: _samples.Sample((rng.standard_normal(4),), {"axis": 0})},
    fuzz=lambda Y, c: np.cumsum(Y, axis=0) / Y.shape[0],
))


def _cumulative(op, function, a, axis):
    if axis is None:  # NumPy flattens in row-major order first
        return bind(op, np.reshape(a, (-1,)), axis=0)
    return bind(op, a, axis=normalize_axes(axis, len(shape_of(a)), function)[0])


@numpy_method("cumsum")
@numpy_function(np.cumsum)
def _cumsum(a, axis=None, dtype=None, out=None):
    refuse_arguments("np.cumsum", out=(out, None))
    a = in_dtype(a, dtype, "np.cumsum")
    return _cumulative(cumsum, "np.cumsum", a, axis)


# --------------------------------------------- the first-order linear recurrence
def _recurrence_values(a, b, axis, reverse):
    """y with yₖ = aₖ·yₖ₋₁ + bₖ (y₋₁ = 0) along `axis`, or, `reverse`,
    yₖ = aₖ₊₁·yₖ₊₁ + bₖ (y_L = 0).  a₀ is never used."""
    b = np.moveaxis(np.asarray(b), axis, 0)
    y = np.array(b, dtype=np.result_type(np.asarray(a).dtype, b.dtype, np.float32))
    a = np.moveaxis(np.broadcast_to(a, np.moveaxis(y, 0, axis).shape), axis, 0)
    length = y.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        if reverse:
            for k in range(length - 2, -1, -1):
                y[k] += a[k + 1] * y[k + 1]
        else:
            for k in range(1, length):
                y[k] += a[k] * y[k - 1]
    return np.moveaxis(y, 0, axis)


class LinearRecurrence(_LabelledLeaf):
    """``(I − diag(a)·S)⁻¹`` along one axis of an array shaped like `a` (S shifts
    that axis down by one): ``y = R b`` solves yₖ = aₖ·yₖ₋₁ + bₖ.  Its transpose is
    the recurrence run backwards, yₖ = aₖ₊₁·yₖ₊₁ + bₖ.  Applied in O(N); the
    (block lower-triangular) matrix is never stored."""

    def __init__(self, a, axis, reverse=False, *, _label=None):
        a = np.asarray(a)
        self.a = owned_readonly(a, _float_dtype(a))
        self.axis, self.reverse = int(axis), bool(reverse)
        self._label = _label or Label(None, "diagonal", self.a, template="(I − diag(\x00)·S)⁻¹")
        super().__init__((a.size, a.size), self.a.dtype)

    def _matmat(self, X):
        columns = X.shape[1]
        B = unvec(X, self.a.shape + (columns,))
        Y = _recurrence_values(self.a[..., None], B, self.axis, self.reverse)
        return unvec(vec(Y), (self.shape[0], columns))

    def _transpose(self):
        return LinearRecurrence(self.a, self.axis, not self.reverse, _label=self._label.transposed())

    @property
    def apply_cost(self):
        return 2 * self.a.size

    @property
    def nnz_bound(self):
        return self.a.size * (self.a.shape[self.axis] if self.a.ndim else 1)


def _shift_operator(shape, axis, up):
    """S (down: entry k−1 to k) or Sᵀ (up) along `axis`, as a structured operator."""
    length = shape[axis]
    return along_axis(Sparse(sp.csr_array(sp.eye(length, k=1 if up else -1))), shape, axis)


def _recurrence(a, b, axis, reverse):
    """The recurrence of `b` with coefficients `a`: recorded when either is traced."""
    if isinstance(a, Node) or isinstance(b, Node):
        return bind(linear_recurrence, a, b, axis=axis, reverse=reverse)
    return _recurrence_impl(a, b, axis, reverse)


def _recurrence_vjp_b(g, ans, a, b, axis, reverse=False):
    return _recurrence(a, g, axis, not reverse)


def _recurrence_vjp_a(g, ans, a, b, axis, reverse=False):
    # forward y = F(a, b): ā = S(y) ∘ R(a, ȳ);  reverse t = R(a, b): ā = t ∘ S(F(a, t̄))
    other = _recurrence(a, g, axis, not reverse)
    if reverse:
        return ans * _shifted(other, axis, 0.0)
    return _shifted(ans, axis, 0.0) * other


def _recurrence_jacobian_a(ans, a, b, names, axis, reverse=False):
    shape = np.shape(a)
    solve = LinearRecurrence(a, axis, reverse)
    if reverse:  # dt = R(a, Sᵀ(da ∘ t))
        return algebra.multiply(solve, algebra.multiply(_shift_operator(shape, axis, up=True), Diag(vec(ans))))
    return algebra.multiply(solve, Diag(vec(_shifted(np.asarray(ans), axis, 0.0))))  # dy = F(a, da ∘ S y)


def _recurrence_impl(a, b, axis, reverse=False):
    return loud("the linear recurrence of np.cumprod's derivative",
                lambda a, b: _recurrence_values(a, b, axis, reverse))(a, b)


def _recurrence_samples(rng, n):
    return _samples.Sample((rng.uniform(-0.9, 0.9, (n, n + 1)), rng.standard_normal((n, n + 1))),
                           {"axis": 1, "reverse": False})


linear_recurrence = register(Primitive(
    _recurrence_impl, name="linear_recurrence",
    vjps={0: _recurrence_vjp_a, 1: _recurrence_vjp_b},
    jacobians={0: _recurrence_jacobian_a,
               1: lambda ans, a, b, names, axis, reverse=False: LinearRecurrence(a, axis, reverse)},
    label=lambda a, b, axis, reverse=False: None,
    formula="y = (I − diag(a)S)⁻¹ b along one axis (yₖ = aₖyₖ₋₁ + bₖ): D_b = (I − diag(a)S)⁻¹, "
            "D_a = (I − diag(a)S)⁻¹·Diag(vec S y); reverse = the transpose, (I − Sᵀdiag(a))⁻¹",
    reference="d[(I − D_a S)y] = 0 ⇒ dy = (I − D_a S)⁻¹(d D_a S y + db) (Magnus–Neudecker ch. 8, "
              "the differential of an inverse)",
    samples=_recurrence_samples, param_names=("A", "B"),
    edge_cases={"reverse, along rows": lambda rng: _samples.Sample(
        (rng.uniform(-0.9, 0.9, (3, 2)), rng.standard_normal((3, 2))), {"axis": 0, "reverse": True})},
    fuzz=lambda Y, c: bind(linear_recurrence, 0.5 * np.tanh(Y), Y, axis=0, reverse=False),
    entire=True,
))


def _cumprod_vjp(g, ans, x, axis):
    # Yₖ = Π_{j≤k} Xⱼ: X̄ₖ = (Π_{j<k} Xⱼ)·Σ_{i≥k} Ȳᵢ Π_{k<j≤i} Xⱼ, the sum run as the
    # reverse recurrence sₖ = Ȳₖ + Xₖ₊₁ sₖ₊₁: no division, exact with zeros
    return _shifted(ans, axis, 1.0) * _recurrence(x, g, axis, True)


def _cumprod_jacobian(ans, x, names, axis):
    # dYₖ = Xₖ dYₖ₋₁ + Yₖ₋₁ dXₖ ⇒ D = (I − diag(X)S)⁻¹·Diag(vec Y₋), Y₋ the exclusive products
    return algebra.multiply(LinearRecurrence(x, axis), Diag(vec(_shifted(np.asarray(ans), axis, 1.0))))


cumprod = register(Primitive(
    lambda x, axis: loud("np.cumprod", lambda v: np.cumprod(v, axis=axis))(x), name="cumprod",
    vjps={0: _cumprod_vjp},
    jacobians={0: _cumprod_jacobian},
    label=lambda a, axis: None,
    formula="D cumprod X = (I − diag(vec X)·S)⁻¹·Diag(vec Y₋): S shifts along the axis, "
            "Y₋ the exclusive cumulative products (no division: exact with zeros)",
    reference="Yₖ = Xₖ Yₖ₋₁ ⇒ dYₖ = Xₖ dYₖ₋₁ + Yₖ₋₁ dXₖ, a linear recurrence in dY",
    samples=lambda rng, n: _samples.Sample((rng.uniform(0.5, 1.5, (n, n + 1)),), {"axis": 1}),
    param_names=("X",),
    edge_cases={
        "a zero": lambda rng: _samples.Sample((np.array([[1.2, 0.0, -0.8, 1.1], [0.9, 1.3, 0.7, -1.2]]),),
                                              {"axis": 1}),
        "two zeros": lambda rng: _samples.Sample((np.array([[1.2, 0.0, -0.8, 0.0], [0.9, 1.3, 0.7, -1.2]]),),
                                                 {"axis": 1}),
        "down the rows of a 3-D array": lambda rng: _samples.Sample((rng.uniform(0.5, 1.5, (3, 2, 2)),),
                                                                    {"axis": 0}),
    },
    fuzz=lambda Y, c: np.cumprod(1.0 + 0.2 * np.tanh(Y), axis=1),
    entire=True,
))


@numpy_method("cumprod")
@numpy_function(np.cumprod)
def _cumprod(a, axis=None, dtype=None, out=None):
    refuse_arguments("np.cumprod", out=(out, None))
    a = in_dtype(a, dtype, "np.cumprod")
    return _cumulative(cumprod, "np.cumprod", a, axis)


def _cumulative_array_api(name, function, identity):
    """np.cumulative_sum / np.cumulative_prod (the Array API's): np.cumsum / np.cumprod along
    `axis` (required above 1-D), with the empty sum / product first when include_initial."""

    def handler(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        refuse_arguments(name, out=(out, None))
        x = in_dtype(x, dtype, name)
        ndim = len(shape_of(x))
        if axis is None:
            if ndim > 1:
                raise ValueError(f"{name}: axis must be specified for a multi-dimensional input")
            axis = 0
        if ndim == 0:
            x, axis = np.reshape(x, (1,)), 0
        axis = normalize_axes(axis, max(ndim, 1), name)[0]
        result = function(x, axis=axis)
        if include_initial:
            shape = list(shape_of(result))
            shape[axis] = 1
            result = np.concatenate([np.full(shape, identity, dtype=static_value(result).dtype), result], axis=axis)
        return result

    handler.__name__ = name.split(".")[-1]
    return handler


numpy_function(np.cumulative_sum)(_cumulative_array_api("np.cumulative_sum", np.cumsum, 0.0))
numpy_function(np.cumulative_prod)(_cumulative_array_api("np.cumulative_prod", np.cumprod, 1.0))


# =================================================================== norms
def _numpys_norm(x, ord, axis, keepdims):
    """np.linalg.norm's own formula, so the value is NumPy's bit for bit: sqrt of a BLAS dot
    of the raveled array with no axis (``np.linalg.norm(x)``), sqrt of a sum of squares
    along axes, (Σ|x|^p)^(1/p) otherwise (numpy/linalg/_linalg.py, ``norm``); None where a
    power or the sum can under- or overflow, which the scaled formula handles."""
    with np.errstate(all="ignore"):
        if ord == 2 and axis is None:
            flat = x.ravel(order="K")
            total = result = np.sqrt(flat.dot(flat))
            total = total * total
        elif ord == 2:
            total = np.add.reduce(x * x, axis=axis, keepdims=keepdims)
            result = np.sqrt(total)
        else:
            powers = np.abs(x)
            powers **= ord
            total = result = np.add.reduce(powers, axis=axis, keepdims=keepdims)
            result **= np.reciprocal(ord, dtype=result.dtype)
    info = np.finfo(np.asarray(result).dtype)
    # (every slice's sum well inside the normal range: the powers of its largest entries are
    # exact to rounding, and what underflowed is below its last bit)
    if np.all((total > info.tiny / info.eps) & (total < info.max * info.eps)):
        return result
    return None


def _norm_impl(x, ord=2.0, axis=None, keepdims=False):
    """The entrywise p-norm over `axis`: NumPy's value where its formula is safe, else
    scaled so that tiny and huge entries neither underflow to 0 nor overflow to inf
    (‖X‖ = s·‖X/s‖, s = max|Xᵢⱼ|)."""
    x = np.asarray(x)
    result = _numpys_norm(x, ord, axis, keepdims)
    if result is not None:
        return result
    magnitude = np.abs(x).astype(_float_dtype(x), copy=False)
    scale = np.max(magnitude, axis=axis, keepdims=True, initial=0.0)
    usable = (scale > 0) & np.isfinite(scale)
    safe = np.where(usable, scale, 1.0)
    scaled = magnitude / safe
    with np.errstate(divide="ignore"):  # p < 0 at a zero entry: |0|^p = inf and the norm 0, as NumPy
        if ord == 2:
            result = safe * np.sqrt(np.sum(scaled * scaled, axis=axis, keepdims=True))
        else:
            result = safe * np.sum(scaled ** ord, axis=axis, keepdims=True) ** (1.0 / ord)
    return result if keepdims else result.reshape(_reduced_shape(x.shape, axis))[()]


def _norm_direction(ans, x, ord, axis, keepdims):
    """∂‖x‖_p/∂x = x/‖x‖ (p = 2) or sign(x)(|x|/‖x‖)^(p−1); 0 for a zero slice
    (the minimal-norm subgradient), so that ‖x‖² and friends differentiate to 0
    there instead of 0·∞ = NaN.  At a zero entry with p < 1 the derivative is
    infinite: an error.

    Traced (a second derivative), a zero slice is an error, as hypot's origin: the
    first derivative jumps there (its second is unbounded, like (I − uuᵀ)/‖x‖), and
    the 0 above, differentiated, made the Hessian of the smooth ‖X‖² at X = 0 equal 0
    instead of 2I.  Its decisions (the zero tests, the signs) go through `decided`, so
    that a compiled hvp takes them again at each replay (notes/compile.md §3)."""
    if ord < 1:  # (first: no first derivative there either, and a zero entry makes ‖x‖_p = 0 for p < 0)
        decided(functools.partial(_refuse_zero_entry, ord=ord), x)
    kept = _kept(ans, shape_of(x), axis, keepdims)
    if isinstance(kept, Node) or isinstance(x, Node):
        decided(functools.partial(_refuse_zero_slice, ord=ord), kept)
    inverse = _safe_inverse(kept)
    if ord == 2:
        return x * inverse
    return decided(np.sign, x) * (np.abs(x) * inverse) ** (ord - 1.0)


def _norm_name(ord):
    return "np.linalg.norm" if ord == 2 else f"np.linalg.norm with ord={ord:g}"


def _refuse_zero_slice(norms, ord):
    """A rule for `decided`: the second derivative of a norm at a zero slice is an error."""
    zero = np.asarray(norms) == 0
    if zero.any():
        advice = "; for ‖X‖² write np.sum(X * X), whose Hessian is 2I everywhere" if ord == 2 else ""
        raise ValueError(f"{_norm_name(ord)} has no second derivative at a zero slice ({np.count_nonzero(zero)} "
                         f"of its norms are 0; its first derivative jumps there), as np.hypot at x = y = 0: "
                         f"kronvec refuses rather than give one{advice}")
    return np.zeros(())


def _refuse_zero_entry(x, ord):
    """A rule for `decided`: |x|^p with p < 1 has no derivative at a zero entry."""
    if np.any(np.asarray(x) == 0):
        raise ValueError(f"np.linalg.norm with ord={ord:g} < 1 has no derivative at a zero entry "
                         "(|x|^p is not differentiable at 0 for p < 1)")
    return np.zeros(())


def _norm_label(a, ord=2.0, axis=None, keepdims=False):
    if a is None:
        return None
    base = f"‖{a}‖" if ord == 2 else f"‖{a}‖_{ord:g}"
    return base if axis is None else f"{base}(axis={axis[0] if len(axis) == 1 else axis})"


norm = register(Primitive(
    _norm_impl, name="linalg.norm",
    vjps={0: lambda g, ans, x, ord=2.0, axis=None, keepdims=False:
          _kept_cotangent(g, shape_of(x), axis, keepdims) * _norm_direction(ans, x, ord, axis, keepdims)},
    jacobians={0: lambda ans, x, names, ord=2.0, axis=None, keepdims=False: _reduction_jacobian(
        _norm_direction(np.asarray(ans), np.asarray(x), ord, axis, keepdims), np.shape(x), axis,
        name=derived_label("{0}/‖{0}‖", names[0]) if ord == 2 and axis is None else None)},
    label=_norm_label,
    formula="D‖X‖ = vec(X/‖X‖)ᵀ (0 at X = 0); along axes Bᵀ·Diag(vec X/‖X‖); "
            "p-norms: Bᵀ·Diag(vec sign(X)∘(|X|/‖X‖_p)^(p−1))",
    reference="Matrix Cookbook eq. (129): ∂‖X‖_F/∂X = X/‖X‖_F; d(Σ|xᵢ|^p)^(1/p) = "
              "‖x‖_p^(1−p) Σ|xᵢ|^(p−1) sign(xᵢ) dxᵢ",
    samples=_samples.one_general, param_names=("X",),
    # (tiny entries, 1e-170, are below the finite-difference step: tests/test_share_nothing.py)
    edge_cases={
        "huge entries (no overflow)": lambda rng: (1e200 * rng.standard_normal((2, 2)),),
        "columns, keepdims": lambda rng: _samples.Sample((rng.standard_normal((3, 2)),),
                                                         {"axis": (0,), "keepdims": True}),
        "3-norm of rows": lambda rng: _samples.Sample((rng.standard_normal((2, 3)),), {"ord": 3.0, "axis": (1,)}),
        "1.5-norm": lambda rng: _samples.Sample((rng.uniform(0.5, 1.5, (2, 3)) * [1, -1, 1],), {"ord": 1.5}),
        "-1-norm (harmonic)": lambda rng: _samples.Sample((rng.uniform(0.5, 1.5, (2, 3)),), {"ord": -1.0}),
        "Frobenius over two axes of a 3-D array": lambda rng: _samples.Sample(
            (rng.standard_normal((2, 3, 2)),), {"axis": (0, 2)}),
    },
    fuzz=lambda Y, c: Y * np.linalg.norm(Y),
))


# ------------------------------------------------------ np.linalg.norm
def _vector_norm(x, ord, axes, keepdims):
    if ord is None or (not isinstance(ord, str) and ord == 2):
        return bind(norm, x, ord=2.0, axis=axes, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord in (np.inf, -np.inf):
        # (NumPy's maximum starts from 0, so an empty vector's ∞-norm is 0; its minimum has no identity)
        empty = ord > 0 and 0 in (tuple(shape_of(x))[k] for k in axes)
        return bind(max_ if ord > 0 else min_, np.abs(x), axis=axes, keepdims=keepdims,
                    initial=0.0 if empty else None, where=None)
    if ord == 0:  # a count of nonzero entries: piecewise constant, so a plain value
        return np.sum(np.asarray(plain_value(x)) != 0, axis=axes, keepdims=keepdims).astype(
            _float_dtype(static_value(x)))
    if ord == 1:
        return bind(sum_, np.abs(x), axis=axes, keepdims=keepdims)
    return bind(norm, x, ord=float(ord), axis=axes, keepdims=keepdims)


def _matrix_norm(x, ord, axes, keepdims):
    shape = tuple(shape_of(x))
    row, col = axes
    # The maximum or minimum over nothing: NumPy's maxima start from 0 (initial=0), its minima
    # have no identity (s[0] / s[-1] of no singular values was an IndexError here; the max_
    # of no column sums a message about a reduction the user never wrote)
    kept = {2: min(shape[row], shape[col]), 1: shape[col], np.inf: shape[row]}.get(abs(ord)) \
        if ord in (2, -2, 1, -1, np.inf, -np.inf) else None
    if kept == 0:
        if ord < 0:
            raise ValueError(f"np.linalg.norm(X, {ord:g}) of an empty {shape[row]}×{shape[col]} matrix: zero-size "
                             "array to reduction operation minimum which has no identity")
        return bind(sum_, np.abs(x), axis=axes, keepdims=keepdims)  # (0, recorded: a zero derivative)
    if ord in (2, -2, "nuc"):
        if len(shape) != 2:
            return _matrix_norm_of_stack(x, ord, axes, keepdims)
        s = bind(singular_values, x if axes == (0, 1) else np.transpose(x))
        if ord == "nuc":
            result = bind(sum_, s, axis=None, keepdims=False)
        else:
            result = extreme_singular_value(s, 0 if ord == 2 else -1, shape, f"np.linalg.norm(X, {ord})")
        return np.reshape(result, (1, 1)) if keepdims else result
    if ord in (None, "fro", "f"):
        return bind(norm, x, ord=2.0, axis=tuple(sorted(axes)), keepdims=keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        summed, kept = (row, col) if ord in (1, -1) else (col, row)
        extreme = max_ if ord > 0 else min_
        sums = bind(sum_, np.abs(x), axis=(summed,), keepdims=True)
        result = bind(extreme, sums, axis=(kept,), keepdims=True, initial=None, where=None)
        return result if keepdims else np.reshape(result, tuple(s for k, s in enumerate(shape) if k not in axes))
    raise ValueError("Invalid norm order for matrices.")


def _matrix_norm_of_stack(x, ord, axes, keepdims):
    """A singular-value norm of every matrix in a stack (axes: the matrices' rows
    and columns): one batched singular-value operation over the whole stack
    (NumPy's stacked SVD), then the sum or the extreme of each member's."""
    shape = tuple(shape_of(x))
    moved = np.moveaxis(x, axes, (-2, -1))
    s = bind(singular_values, moved)
    if ord == "nuc":
        result = np.sum(s, axis=-1)
    else:
        result = extreme_singular_value(s, 0 if ord == 2 else -1, tuple(shape_of(moved)), f"np.linalg.norm(X, {ord})")
    if keepdims:
        result = np.reshape(result, tuple(1 if k in axes else size for k, size in enumerate(shape)))
    return result


@numpy_function(np.linalg.norm)
def _linalg_norm(x, ord=None, axis=None, keepdims=False):
    ndim = len(shape_of(x))
    keepdims = bool(keepdims)
    if axis is None:
        if ord is None or (ord in ("f", "fro") and ndim == 2) or (not isinstance(ord, str) and ord == 2 and ndim == 1):
            result = bind(norm, x, ord=2.0, axis=None, keepdims=False)
            return np.reshape(result, (1,) * ndim) if keepdims else result
        axis = tuple(range(ndim))
    axes = normalize_axes(axis, ndim, "np.linalg.norm")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


@numpy_function(np.linalg.vector_norm)
def _linalg_vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    shape = tuple(shape_of(x))
    if axis is None:
        result = _vector_norm(np.reshape(x, (-1,)), ord, (0,), False)
        return np.reshape(result, (1,) * len(shape)) if keepdims else result
    axes = normalize_axes(axis, len(shape), "np.linalg.vector_norm")
    if not isinstance(axis, tuple):
        return _vector_norm(x, ord, axes, bool(keepdims))
    # NumPy moves a tuple of axes to the front and merges them into one (numpy/linalg/_linalg.py,
    # vector_norm), then reduces along it: the same summation order, so NumPy's value bit for bit
    rest = tuple(k for k in range(len(shape)) if k not in axes)
    merged = np.reshape(np.transpose(x, axes + rest), (math.prod(shape[k] for k in axes),) + tuple(shape[k] for k in rest))
    result = _vector_norm(merged, ord, (0,), False)
    if keepdims:
        result = np.reshape(result, tuple(1 if k in axes else size for k, size in enumerate(shape)))
    return result


@numpy_function(np.linalg.matrix_norm)
def _linalg_matrix_norm(x, /, *, keepdims=False, ord="fro"):
    ndim = len(shape_of(x))
    if ndim < 2:
        raise ValueError(f"np.linalg.matrix_norm: the input must be at least 2-D, got {ndim}-D")
    return _matrix_norm(x, ord, (ndim - 2, ndim - 1), bool(keepdims))
