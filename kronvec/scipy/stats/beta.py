"""The beta distribution with shapes a, b, as ``scipy.stats.beta``: pdf and logpdf
differentiable in x, a, b, loc and scale; cdf, sf (and logs) in x, loc and
scale (a, b plain).

log f = (a − 1)·log z + (b − 1)·log(1 − z) − log B(a, b) − log scale on 0 ≤ z ≤ 1;
F = I_z(a, b) (``betainc``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaincc, betaln, xlog1py, xlogy

from ._common import Interior, as_array, on_support, plain_parameter, plain_value, scipy_median, standardized, sampler, \
    switched_log

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "rvs"]


def _inside(z):
    z = np.asarray(plain_value(z))
    return (z >= 0) & (z <= 1)


def _standard_logpdf(z, a, b):
    return xlog1py(b - 1.0, -z) + xlogy(a - 1.0, z) - betaln(a, b)


def logpdf(x, a, b, loc=0, scale=1):
    z, a, b = standardized(x, loc, scale, a=a, b=b), as_array(a), as_array(b)
    return on_support(lambda z: _standard_logpdf(z, a, b), "kronvec.scipy.stats.beta.logpdf",
                      z, _inside(z), -np.inf, 0.5) - np.log(scale)


def pdf(x, a, b, loc=0, scale=1):
    z, a, b = standardized(x, loc, scale, a=a, b=b), as_array(a), as_array(b)
    density = on_support(lambda z: np.exp(_standard_logpdf(z, a, b)), "kronvec.scipy.stats.beta.pdf",
                         z, _inside(z), 0.0, 0.5)
    return density / as_array(scale)


def _cdf(function, x, a, b, loc, scale, name, below, above):
    a = plain_parameter(a, f"kronvec.scipy.stats.beta.{name}", "a")
    b = plain_parameter(b, f"kronvec.scipy.stats.beta.{name}", "b")
    z = standardized(x, loc, scale, a=a, b=b)
    plain = np.asarray(plain_value(z))
    value = on_support(lambda z: function(a, b, z), f"kronvec.scipy.stats.beta.{name}", z, _inside(z), below, 0.5)
    return value if not np.any(plain > 1) else np.where(plain > 1, above, value)


def cdf(x, a, b, loc=0, scale=1):
    return _cdf(betainc, x, a, b, loc, scale, "cdf", 0.0, 1.0)


def sf(x, a, b, loc=0, scale=1):
    return _cdf(betaincc, x, a, b, loc, scale, "sf", 1.0, 0.0)


def _log_cumulative(x, a, b, loc, scale, name, upper):
    a = plain_parameter(a, f"kronvec.scipy.stats.beta.{name}", "a")
    b = plain_parameter(b, f"kronvec.scipy.stats.beta.{name}", "b")
    z = standardized(x, loc, scale, a=a, b=b)
    plain = np.asarray(plain_value(z))
    below, above = (0.0, -np.inf) if upper else (-np.inf, 0.0)  # log S = 0 below the support, log F = 0 above
    return switched_log(f"kronvec.scipy.stats.beta.{name}", z, scipy_median("beta", a, b), _inside(z),
                        np.where(plain < 0, below, above), lambda z: betainc(a, b, z), lambda z: betaincc(a, b, z),
                        upper=upper,
                        interior=Interior(0.0, 1.0, 0.5))


def logcdf(x, a, b, loc=0, scale=1):
    return _log_cumulative(x, a, b, loc, scale, "logcdf", False)


def logsf(x, a, b, loc=0, scale=1):
    return _log_cumulative(x, a, b, loc, scale, "logsf", True)


rvs = sampler("beta")
