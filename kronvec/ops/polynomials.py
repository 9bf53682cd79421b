"""Polynomial arithmetic on coefficient arrays: ``np.polyadd``, ``np.polysub``,
``np.polymul``, ``np.polyder``, ``np.polyint`` and ``np.polyfit``.

Each is written as ``numpy/lib/_polynomial_impl.py`` writes it, out of
registered operations — padding with zeros and adding, a convolution,
products and quotients by the constant powers n, n − 1, …, 1, and for the fit
the column-scaled Vandermonde matrix handed to ``np.linalg.lstsq`` — so the
values are NumPy's and the derivatives come from those operations'.

**Leading zeros.**  ``np.polymul`` reads its arguments as ``np.poly1d``, which
trims leading zero coefficients (all zeros leave ``[0]``); ``np.polyadd``,
``np.polysub``, ``np.polyder`` and ``np.polyint`` do not trim.  kronvec trims
exactly where NumPy does, so the value and its shape are NumPy's.  A traced
coefficient that is exactly zero in the leading position is therefore
dropped: it enters the product as the constant 0, with derivative 0.  (A
perturbation of it would raise the degree and the length of NumPy's result,
which no Jacobian of the trimmed result can express.)  The decision reads the
values, as does ``np.polyfit``'s check of the rank, so a compiled recording
(``compile=True``) refuses both by name, as every value-dependent front door does.

Derivations: ``notes/derivatives.md`` §34.
"""

from __future__ import annotations

import numpy as np

from .._tracer import Node, plain_value, static_value
from ._registry import numpy_function
from ._support import shape_of

__all__ = []


def _coefficients(p, function, name="p"):
    """p as a 1-D coefficient array (np.atleast_1d), traced or plain; refuses other shapes."""
    p = np.atleast_1d(p) if isinstance(p, Node) else np.atleast_1d(np.asarray(p))
    if len(shape_of(p)) != 1:
        raise ValueError(f"{function}: the coefficients {name} must be 1-D, got shape {tuple(shape_of(p))}")
    return p


def _padded(a1, a2, function):
    """a1 and a2 with zeros prepended to the shorter (NumPy's alignment of the constant terms)."""
    a1, a2 = _coefficients(a1, function, "a1"), _coefficients(a2, function, "a2")
    diff = shape_of(a2)[0] - shape_of(a1)[0]
    if diff > 0:
        a1 = np.concatenate((np.zeros(diff, np.asarray(static_value(a1)).dtype), a1))  # (a static fact: compiles)
    elif diff < 0:
        a2 = np.concatenate((np.zeros(-diff, np.asarray(static_value(a2)).dtype), a2))
    return a1, a2


@numpy_function(np.polyadd)
def _polyadd(a1, a2):
    """a1 + a2 with the constant terms aligned (no trimming, as NumPy)."""
    a1, a2 = _padded(a1, a2, "np.polyadd")
    return a1 + a2


@numpy_function(np.polysub)
def _polysub(a1, a2):
    """a1 − a2 with the constant terms aligned (no trimming, as NumPy)."""
    a1, a2 = _padded(a1, a2, "np.polysub")
    return a1 - a2


def _trimmed(p):
    """np.poly1d's coefficients: leading zeros trimmed by value, [0] when none is left."""
    p = _coefficients(p, "np.polymul")
    value = np.asarray(plain_value(p))
    nonzero = np.flatnonzero(value != 0)
    if nonzero.size == 0:
        return np.zeros(1, value.dtype)  # (a constant: the traced zeros are dropped, derivatives.md §34)
    return p[nonzero[0]:] if nonzero[0] else p


@numpy_function(np.polymul)
def _polymul(a1, a2):
    """The coefficients of the product: the full convolution of the trimmed coefficients."""
    a1, a2 = _trimmed(a1), _trimmed(a2)
    product = np.convolve(a1, a2)
    # (kronvec's convolution adds the products in another order than NumPy's, so the last bits may
    # differ: NumPy's value is kept, the difference added as a constant — the derivative is the
    # convolution's, as np.interp keeps NumPy's value at its last knot)
    exact = np.convolve(np.asarray(plain_value(a1)), np.asarray(plain_value(a2)))
    difference = exact - np.asarray(plain_value(product))
    return product + difference if difference.any() else product


def _order(m, function, opposite):
    if isinstance(m, Node):
        raise TypeError(f"kronvec differentiates {function} in its coefficients; m must be a constant")
    m = int(m)
    if m < 0:
        raise ValueError(f"{function}: Order of {'derivative' if opposite == 'polyint' else 'integral'} "
                         f"must be positive (see {opposite})")
    return m


@numpy_function(np.polyder)
def _polyder(p, m=1):
    """The m-th derivative: p[:-1]·(n, n − 1, …, 1), m times (NumPy's recursion)."""
    m = _order(m, "np.polyder", "polyint")
    p = p if isinstance(p, Node) else np.asarray(p)
    if len(shape_of(p)) != 1:
        raise ValueError(f"np.polyder: the coefficients p must be 1-D, got shape {tuple(shape_of(p))}")
    for _ in range(m):
        n = shape_of(p)[0] - 1
        p = p[:-1] * np.arange(n, 0, -1)
    return p


@numpy_function(np.polyint)
def _polyint(p, m=1, k=None):
    """The m-th antiderivative: p/(n, n − 1, …, 1) followed by the constant k[j], m times
    (NumPy's recursion); the constants k may be traced."""
    m = _order(m, "np.polyint", "polyder")
    if k is None:
        k = np.zeros(m, float)
    k = np.atleast_1d(k) if isinstance(k, Node) else np.atleast_1d(np.asarray(k))
    if len(shape_of(k)) != 1:
        raise ValueError("np.polyint: k must be a scalar or a rank-1 array of length 1 or >m.")
    if shape_of(k)[0] == 1 and m > 1:
        k = k[0] * np.ones(m, float)
    if shape_of(k)[0] < m:
        raise ValueError("np.polyint: k must be a scalar or a rank-1 array of length 1 or >m.")
    p = p if isinstance(p, Node) else np.asarray(p)
    if len(shape_of(p)) != 1:
        raise ValueError(f"np.polyint: the coefficients p must be 1-D, got shape {tuple(shape_of(p))}")
    for j in range(m):
        p = np.concatenate((p / np.arange(shape_of(p)[0], 0, -1), k[j:j + 1]))
    return p


def _float(a):
    return a if isinstance(a, Node) else np.asarray(a) + 0.0


@numpy_function(np.polyfit)
def _polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """The least-squares coefficients as NumPy computes them: the Vandermonde matrix
    (weighted rows), its columns scaled to unit norm, np.linalg.lstsq, the scale undone.
    Differentiable in y, x and w where the scaled Vandermonde matrix has full rank;
    ``full=True`` and ``cov=`` return NumPy's extra results, traced as well."""
    for name, value in (("deg", deg), ("rcond", rcond)):
        if isinstance(value, Node):
            raise TypeError(f"kronvec differentiates np.polyfit in x, y and w; {name} must be a constant")
    order = int(deg) + 1
    x, y = _float(x), _float(y)
    if deg < 0:
        raise ValueError("np.polyfit: expected deg >= 0")
    if len(shape_of(x)) != 1:
        raise TypeError("np.polyfit: expected 1D vector for x")
    if shape_of(x)[0] == 0:
        raise TypeError("np.polyfit: expected non-empty vector for x")
    if len(shape_of(y)) not in (1, 2):
        raise TypeError("np.polyfit: expected 1D or 2D array for y")
    if shape_of(x)[0] != shape_of(y)[0]:
        raise TypeError("np.polyfit: expected x and y to have same length")
    if rcond is None:
        rcond = shape_of(x)[0] * np.finfo(np.float64).eps
    lhs, rhs = np.vander(x, order), y
    if w is not None:
        w = _float(w)
        if len(shape_of(w)) != 1:
            raise TypeError("np.polyfit: expected a 1-d array for weights")
        if shape_of(w)[0] != shape_of(y)[0]:
            raise TypeError("np.polyfit: expected w and y to have the same length")
        lhs = lhs * w[:, np.newaxis]
        rhs = rhs * (w[:, np.newaxis] if len(shape_of(rhs)) == 2 else w)
    scale = np.sqrt(np.sum(lhs * lhs, axis=0))  # (columns of unit norm: a better-conditioned lstsq)
    lhs = lhs / scale
    c, resids, rank, s = np.linalg.lstsq(lhs, rhs, rcond)
    if rank != order:  # NumPy warns (RankWarning); the fit is not differentiable there
        raise np.linalg.LinAlgError(
            f"np.polyfit: the scaled Vandermonde matrix has rank {rank} < deg + 1 = {order} (NumPy warns "
            "'Polyfit may be poorly conditioned'); kronvec differentiates full-rank fits only")
    c = (c.T / scale).T
    if full:
        return c, resids, rank, s, rcond
    if not cov:
        return c
    Vbase = np.linalg.inv(np.dot(lhs.T, lhs))
    Vbase = Vbase / np.outer(scale, scale)
    if cov == "unscaled":
        fac = 1
    else:
        if shape_of(x)[0] <= order:
            raise ValueError("np.polyfit: the number of data points must exceed order to scale the "
                             "covariance matrix")
        fac = resids / (shape_of(x)[0] - order)
    if len(shape_of(y)) == 1:
        return c, Vbase * fac
    return c, Vbase[:, :, np.newaxis] * fac

