"""The χ² distribution with df degrees of freedom, as ``scipy.stats.chi2``: pdf and
logpdf differentiable in x, df, loc and scale; cdf, sf (and logs) in x, loc and
scale (df plain).

log f = (ν/2 − 1)·log z − z/2 − log Γ(ν/2) − (ν/2)·log 2 − log scale on z ≥ 0;
F = P(ν/2, z/2) (``gammainc``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammainc, gammaincc, gammaln, xlogy

from ._common import Interior, as_array, on_support, plain_parameter, plain_value, scipy_median, standardized, sampler, \
    switched_log

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "rvs"]

_LOG_2 = math.log(2.0)


def _inside(z):
    return np.asarray(plain_value(z)) >= 0


def logpdf(x, df, loc=0, scale=1):
    z, df = standardized(x, loc, scale, df=df), as_array(df)
    return on_support(lambda z: xlogy(df / 2.0 - 1, z) - z / 2.0 - gammaln(df / 2.0) - (_LOG_2 * df) / 2.0,
                      "kronvec.scipy.stats.chi2.logpdf", z, _inside(z), -np.inf, 1.0) - np.log(scale)


def pdf(x, df, loc=0, scale=1):
    z, df = standardized(x, loc, scale, df=df), as_array(df)
    density = on_support(lambda z: np.exp(xlogy(df / 2.0 - 1, z) - z / 2.0 - gammaln(df / 2.0) - (_LOG_2 * df) / 2.0),
                         "kronvec.scipy.stats.chi2.pdf", z, _inside(z), 0.0, 1.0)
    return density / as_array(scale)


def _cdf(function, x, df, loc, scale, name, outside):
    half = plain_parameter(df, f"kronvec.scipy.stats.chi2.{name}", "df") / 2.0
    z = standardized(x, loc, scale, df=df)
    return on_support(lambda z: function(half, z / 2.0), f"kronvec.scipy.stats.chi2.{name}", z, _inside(z), outside, 1.0)


def cdf(x, df, loc=0, scale=1):
    return _cdf(gammainc, x, df, loc, scale, "cdf", 0.0)


def sf(x, df, loc=0, scale=1):
    return _cdf(gammaincc, x, df, loc, scale, "sf", 1.0)


def _log_cumulative(x, df, loc, scale, name, upper):
    df = plain_parameter(df, f"kronvec.scipy.stats.chi2.{name}", "df")
    half = df / 2.0
    z = standardized(x, loc, scale, df=df)
    return switched_log(f"kronvec.scipy.stats.chi2.{name}", z, scipy_median("chi2", df), _inside(z),
                        0.0 if upper else -np.inf, lambda z: gammainc(half, z / 2.0), lambda z: gammaincc(half, z / 2.0),
                        upper=upper,
                        interior=Interior(0.0, np.inf, 1.0))


def logcdf(x, df, loc=0, scale=1):
    return _log_cumulative(x, df, loc, scale, "logcdf", False)


def logsf(x, df, loc=0, scale=1):
    return _log_cumulative(x, df, loc, scale, "logsf", True)


rvs = sampler("chi2")
