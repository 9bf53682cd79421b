"""The exponential distribution, as ``scipy.stats.expon``: differentiable in x, loc
and scale (and q for ppf, isf).

With z = (x − loc)/scale, on z ≥ 0: log f = −z − log scale, F = −expm1(−z),
S = e⁻ᶻ, log S = −z; log F as SciPy computes it: log F below the median ln 2 and
log1p(−S) above it.  ppf(q) = loc − scale·log1p(−q), isf(q) = loc − scale·log q.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import (as_array, as_float64, log, on_support,
                      piecewise, plain_value, quantile_arguments, sampler, standardized_and_plain)

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "rvs"]

_NAME = "kronvec.scipy.stats.expon."
_MEDIAN = math.log(2.0)


def logpdf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)
    return on_support(lambda z: -z, _NAME + "logpdf", z, plain >= 0, -np.inf, 1.0) - np.log(scale)


def pdf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)
    return on_support(lambda z: np.exp(-z), _NAME + "pdf", z, plain >= 0, 0.0, 1.0) / as_array(scale)


def cdf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)
    return on_support(lambda z: -np.expm1(-z), _NAME + "cdf", z, plain >= 0, 0.0, 1.0)


def _logcdf_inside(z):
    return piecewise(z, np.asarray(plain_value(z)) < _MEDIAN, lambda z: log(-np.expm1(-z)),
                     lambda z: np.log1p(-np.exp(-z)), _MEDIAN)


def logcdf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)
    return on_support(_logcdf_inside, _NAME + "logcdf", z, plain > 0, -np.inf, 1.0)


def sf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)
    return on_support(lambda z: np.exp(-z), _NAME + "sf", z, plain >= 0, 1.0, 1.0)


def logsf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)
    return on_support(lambda z: -z, _NAME + "logsf", z, plain >= 0, 0.0, 1.0)


def ppf(q, loc=0, scale=1):
    quantile_arguments(q, scale, "kronvec.scipy.stats.expon.ppf")
    return as_array(loc) - as_array(scale) * np.log1p(-as_float64(q))


def isf(q, loc=0, scale=1):
    quantile_arguments(q, scale, "kronvec.scipy.stats.expon.isf")
    return as_array(loc) - as_array(scale) * np.log(as_float64(q))


rvs = sampler("expon")
