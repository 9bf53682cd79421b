"""NaN-skipping reductions, covariance and correlation, polynomial evaluation.

Each is written as NumPy writes it, out of registered operations, so its
derivative comes from theirs: ``np.nanmean`` is the mean over the entries
that are not NaN, ``np.cov`` centres the rows and multiplies them, and
``np.polyval`` is Horner's scheme.  With ``kronvec.config.check_finite`` on
(the default) a NaN never reaches a traced input; one made inside the
function (0/0) is skipped, as NumPy skips it, and gets derivative 0.  A
slice with no number left is refused (NumPy warns and returns NaN).

Derivations: ``notes/derivatives.md`` §20.
"""

from __future__ import annotations

import operator

import numpy as np

from .._tracer import Node, holds_nodes, plain_value
from ._registry import numpy_function
from ._support import refuse_arguments, shape_of
from .shape import in_dtype

__all__ = []

_NO_VALUE = np._NoValue


def _nan_entries(a):
    return np.isnan(np.asarray(plain_value(a), dtype=np.float64))


def _numbers_mask(a, where, function, axis, keepdims):
    """~isnan(a) (and where=), or None when every entry counts; refuses a slice
    left with no number."""
    nan = _nan_entries(a)
    if not nan.any():
        return None if where is _NO_VALUE else where
    keep = ~nan if where is _NO_VALUE else (~nan & np.asarray(plain_value(where), dtype=bool))
    if not np.all(np.any(keep, axis=axis)):
        raise ValueError(f"{function}: All-NaN slice encountered (NumPy returns NaN there with a "
                         "RuntimeWarning); kronvec refuses a value with no derivative")
    return keep


def _without_nan(a, fill):
    nan = _nan_entries(a)
    return np.where(nan, fill, a) if nan.any() else a


def _kwargs(keepdims, where):
    found = {"keepdims": keepdims}
    if where is not None and where is not _NO_VALUE:
        found["where"] = where
    return found


def _summed_axis(a, axis):
    """`axis`, or None where NumPy's nan-moments (written with np.sum, a ufunc's
    reduction) take axis 0 or −1 of a 0-d array as the whole of its one entry and
    np.mean and np.var, which compute ours, would refuse it."""
    if (isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) and axis in (0, -1)
            and len(shape_of(a)) == 0):
        return None
    return axis


@numpy_function(np.nanmean)
def _nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=_NO_VALUE):
    refuse_arguments("np.nanmean", out=(out, None))
    a = in_dtype(a, dtype, "np.nanmean")
    axis = _summed_axis(a, axis)
    keep = _numbers_mask(a, where, "np.nanmean", axis, keepdims)
    return np.mean(_without_nan(a, 0.0), axis=axis, **_kwargs(keepdims, keep))


def _nan_moment(function, name):
    def handler(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=_NO_VALUE,
                mean=_NO_VALUE, correction=_NO_VALUE):
        refuse_arguments(name, out=(out, None), mean=(mean, _NO_VALUE))
        a = in_dtype(a, dtype, name)
        axis = _summed_axis(a, axis)
        keep = _numbers_mask(a, where, name, axis, keepdims)
        extra = {} if correction is _NO_VALUE else {"correction": correction}
        return function(_without_nan(a, 0.0), axis=axis, ddof=ddof, **_kwargs(keepdims, keep), **extra)

    handler.__name__ = name.split(".")[-1]
    return handler


numpy_function(np.nanvar)(_nan_moment(np.var, "np.nanvar"))
numpy_function(np.nanstd)(_nan_moment(np.std, "np.nanstd"))


def _nan_extreme(function, name, fill):
    def handler(a, axis=None, out=None, keepdims=False, initial=_NO_VALUE, where=_NO_VALUE):
        refuse_arguments(name, out=(out, None))
        keep = _numbers_mask(a, where, name, axis, keepdims)
        extra = {} if initial is _NO_VALUE else {"initial": initial}
        if keep is not None and keep is not where and initial is _NO_VALUE:
            extra["initial"] = fill  # (a masked reduction needs one; the mask leaves a number per slice)
        return function(_without_nan(a, fill), axis=axis, **_kwargs(keepdims, keep), **extra)

    handler.__name__ = name.split(".")[-1]
    return handler


numpy_function(np.nanmax)(_nan_extreme(np.max, "np.nanmax", -np.inf))
numpy_function(np.nanmin)(_nan_extreme(np.min, "np.nanmin", np.inf))


def _nan_filled(function, name, fill, *parameters):
    def handler(a, axis=None, dtype=None, out=None, *args, **kwargs):
        refuse_arguments(name, out=(out, None))
        a = in_dtype(a, dtype, name)
        return function(_without_nan(a, fill), axis, None, None, *args, **kwargs)

    handler.__name__ = name.split(".")[-1]
    return handler


numpy_function(np.nanprod)(_nan_filled(np.prod, "np.nanprod", 1.0))
numpy_function(np.nancumsum)(_nan_filled(np.cumsum, "np.nancumsum", 0.0))
numpy_function(np.nancumprod)(_nan_filled(np.cumprod, "np.nancumprod", 1.0))


@numpy_function(np.nanargmax)
def _nanargmax(a, axis=None, out=None, *, keepdims=_NO_VALUE):
    return np.nanargmax(plain_value(a), axis=axis, out=out, keepdims=keepdims)  # an index: no derivative


@numpy_function(np.nanargmin)
def _nanargmin(a, axis=None, out=None, *, keepdims=_NO_VALUE):
    return np.nanargmin(plain_value(a), axis=axis, out=out, keepdims=keepdims)


# ------------------------------------------------------- covariance
def _float64_2d(v):
    """`v` as a float64 array of at least 2 dimensions (traced: by a recorded cast)."""
    return np.atleast_2d(in_dtype(v, np.float64, "np.cov") if isinstance(v, Node) else np.asarray(v, dtype=np.float64))


def _observations(m, y, rowvar):
    """NumPy's arrangement: variables in rows, observations in columns, in float64 (NumPy's
    np.cov computes in result_type(m, float64): float32 data is cast first)."""
    X = _float64_2d(m)
    if len(shape_of(m)) > 2:
        raise ValueError("m has more than 2 dimensions")
    if not rowvar and shape_of(X)[0] != 1:
        X = X.T
    if y is not None:
        Y = _float64_2d(y)
        if len(shape_of(y)) > 2:
            raise ValueError("y has more than 2 dimensions")
        if not rowvar and shape_of(Y)[0] != 1:
            Y = Y.T
        X = np.concatenate((X, Y), axis=0)
    return X


@numpy_function(np.cov)
def _cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *, dtype=None):
    """np.cov with NumPy's steps: centre each row (by the weighted mean when weights are
    given), X·(X∘w)ᵀ, times 1/fact — N − ddof, or with weights Σw − ddof·Σw·a/Σw
    (NumPy's normalization).  Differentiable in m, y and the aweights; the fweights are
    counts, a constant of the point."""
    refuse_arguments("np.cov", dtype=(dtype, None))
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    X = _observations(m, y, rowvar)
    ddof = (0 if bias else 1) if ddof is None else operator.index(ddof)
    observations = shape_of(X)[1]
    w, a = _cov_weights(fweights, aweights, observations)
    if w is None:
        fact = observations - ddof
        mean = np.mean(X, axis=1)
    else:
        mean, w_sum = np.average(X, axis=1, weights=w, returned=True)
        w_sum = w_sum[0]
        if ddof == 0:
            fact = w_sum
        elif a is None:
            fact = w_sum - ddof
        else:
            fact = w_sum - ddof * np.sum(w * a) / w_sum
    if plain_value(fact) <= 0:
        raise ValueError(f"np.cov: degrees of freedom <= 0 ({observations} observations, ddof={ddof}"
                         + ("" if w is None else ", with the weights given") + "): the result would be inf or NaN")
    centred = X - mean[:, None]
    c = (centred @ (centred.T if w is None else (centred * w).T)) * np.true_divide(1, fact)
    return np.squeeze(c)


def _cov_weights(fweights, aweights, observations):
    """(w, a): the product of the frequency and analytic weights, and the aweights (either
    None), checked as NumPy checks them, with NumPy's errors."""
    w = a = None
    if fweights is not None:
        if isinstance(fweights, Node):
            raise TypeError("kronvec: np.cov's fweights are counts, integers that carry no derivative; "
                            "pass them as plain numbers (aweights may be traced)")
        w = np.asarray(fweights, dtype=float)
        if not np.all(w == np.around(w)):
            raise TypeError("fweights must be integer")
        _check_weights(w, "fweights", observations)
    if aweights is not None:
        plain = np.asarray(plain_value(aweights), dtype=float)  # (the checks read the values)
        _check_weights(plain, "aweights", observations)
        a = aweights if isinstance(aweights, Node) else plain
        w = a if w is None else w * a
    return w, a


def _check_weights(weights, name, observations):
    """NumPy's checks of np.cov's fweights and aweights, with its errors."""
    if weights.ndim > 1:
        raise RuntimeError(f"cannot handle multidimensional {name}")
    if weights.shape[0] != observations:
        raise RuntimeError(f"incompatible numbers of samples and {name}")
    if np.any(weights < 0):
        raise ValueError(f"{name} cannot be negative")


@numpy_function(np.corrcoef)
def _corrcoef(x, y=None, rowvar=True, bias=_NO_VALUE, ddof=_NO_VALUE, *, dtype=None):
    """np.corrcoef: the covariance scaled by the standard deviations, clipped to [−1, 1] as NumPy does."""
    refuse_arguments("np.corrcoef", dtype=(dtype, None))
    c = _cov(x, y, rowvar)
    if len(shape_of(c)) == 0:
        return c / c  # NumPy's value for a single variable (1.0, or NaN for a constant row)
    d = np.diag(c)
    if np.any(plain_value(d) == 0):
        raise ValueError("np.corrcoef: a variable has zero variance; its correlation is NaN")
    stddev = np.sqrt(d)
    c = c / stddev[:, None]
    c = c / stddev[None, :]
    return np.clip(c, -1, 1)


# ------------------------------------------------------- polynomials
@numpy_function(np.polyval)
def _polyval(p, x):
    """Horner's scheme, as np.polyval evaluates it: y = y·x + pₖ over p's first axis, from
    the leading coefficient (a 2-D p evaluates one polynomial per column, broadcast)."""
    if isinstance(p, np.poly1d):
        # NumPy reads a poly1d through np.asarray: its coefficients, the leading one first
        # (p[k] would be the coefficient of x**k, the reverse order)
        p = p.coeffs
    elif not isinstance(p, Node) and not holds_nodes(p):
        p = np.asarray(p)  # (as NumPy reads it: a list of Python floats is float64)
    if not shape_of(p):
        raise TypeError("np.polyval: iteration over a 0-d array (the coefficients must be at least 1-D)")
    if isinstance(x, np.poly1d):  # NumPy composes the polynomials
        y = 0
    else:
        y = np.zeros_like(x) if isinstance(x, Node) else np.zeros_like(np.asanyarray(x))
    for k in range(shape_of(p)[0]):
        y = y * x + p[k]
    return y


@numpy_function(np.nan_to_num)
def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN and ±inf replaced by constants (NumPy's defaults: 0 and the largest finite
    numbers): np.where with plain masks, so a replaced entry has derivative 0 and every
    other entry derivative 1 (derivatives.md §20).  A traced value is finite unless
    kronvec.config.check_finite is off and a NaN/inf constant entered it (x + y)."""
    from .shape import copy as _copy

    value = np.asarray(plain_value(x))
    if value.dtype.kind not in "fc":
        return _copy(x) if isinstance(x, Node) else np.array(value, copy=True)
    info = np.finfo(value.dtype)
    masks = (np.isnan(value), np.isposinf(value), np.isneginf(value))
    if not any(mask.any() for mask in masks):
        return _copy(x) if isinstance(x, Node) else np.array(value, copy=True)
    result = x
    for mask, fill in zip(masks, (nan, info.max if posinf is None else posinf, info.min if neginf is None else neginf)):
        if mask.any():
            result = np.where(mask, fill, result)
    return result


@numpy_function(np.vander)
def _vander(x, N=None, increasing=False):
    """The powers x^0 … x^(N−1) in columns, as NumPy computes them: a running product
    (np.multiply.accumulate, so the same rounding), reversed unless `increasing`."""
    shape = tuple(shape_of(x))
    if len(shape) != 1:
        raise ValueError("np.vander: x must be a one-dimensional array or sequence.")
    columns = shape[0] if N is None else operator.index(N)
    ones = np.ones((shape[0], min(columns, 1)))
    if columns > 1:
        powers = np.cumprod(np.broadcast_to(np.reshape(x, (-1, 1)), (shape[0], columns - 1)), axis=1)
        result = np.concatenate([ones, powers], axis=1)
    else:
        result = ones
    return result if increasing else np.flip(result, axis=1)


def _nan_free(function, name):
    """np.nanmedian / nanquantile / nanpercentile: without a NaN the plain statistic (the
    usual case: with check_finite on no NaN reaches a traced value); a NaN — only with
    check_finite off — changes each slice's count, and is refused by name."""

    def handler(a, *args, **kwargs):
        if _nan_entries(a).any():
            raise ValueError(f"{name}: kronvec differentiates it on values without NaN (use "
                             f"np.{function.__name__} on the numbers of each slice)")
        return function(a, *args, **kwargs)

    handler.__name__ = name.split(".")[-1]
    return handler


numpy_function(np.nanmedian)(_nan_free(np.median, "np.nanmedian"))
numpy_function(np.nanquantile)(_nan_free(np.quantile, "np.nanquantile"))
numpy_function(np.nanpercentile)(_nan_free(np.percentile, "np.nanpercentile"))
