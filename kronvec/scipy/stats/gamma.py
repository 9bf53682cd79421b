"""The gamma distribution with shape a, as ``scipy.stats.gamma``: pdf and logpdf
differentiable in x, a, loc and scale; cdf, sf (and logs) in x, loc and scale
(a plain).

log f = (a − 1)·log z − z − log Γ(a) − log scale on z ≥ 0; F = P(a, z) (``gammainc``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc, gammaincc, gammaln, xlogy

from ._common import Interior, as_array, on_support, plain_parameter, plain_value, scipy_median, standardized, sampler, \
    switched_log

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "rvs"]


def _inside(z):
    return np.asarray(plain_value(z)) >= 0


def logpdf(x, a, loc=0, scale=1):
    z, a = standardized(x, loc, scale, a=a), as_array(a)
    return on_support(lambda z: xlogy(a - 1.0, z) - z - gammaln(a), "kronvec.scipy.stats.gamma.logpdf",
                      z, _inside(z), -np.inf, 1.0) - np.log(scale)


def _density_inside(z, a):
    """z ≥ 0, but z > 0 where a > 2: at z = 0 the density z^(a−1)e^(−z)/Γ(a) is 0 there with
    derivative (a − 1)z^(a−2)·… = 0, both of which the formula's log z (−∞ at 0) cannot give.
    (For 1 < a ≤ 2 the derivative from the right is 1 or ∞ and from the left 0: refused.)"""
    plain_z, plain_a = np.asarray(plain_value(z)), np.asarray(plain_value(a))
    return (plain_z > 0) | ((plain_z == 0) & (plain_a <= 2.0))


def pdf(x, a, loc=0, scale=1):
    z, a = standardized(x, loc, scale, a=a), as_array(a)
    density = on_support(lambda z: np.exp(xlogy(a - 1.0, z) - z - gammaln(a)), "kronvec.scipy.stats.gamma.pdf",
                         z, _density_inside(z, a), 0.0, 1.0)
    return density / as_array(scale)


def _cdf(function, x, a, loc, scale, name, outside):
    a = plain_parameter(a, f"kronvec.scipy.stats.gamma.{name}", "a")
    z = standardized(x, loc, scale, a=a)
    return on_support(lambda z: function(a, z), f"kronvec.scipy.stats.gamma.{name}", z, _inside(z), outside, 1.0)


def cdf(x, a, loc=0, scale=1):
    return _cdf(gammainc, x, a, loc, scale, "cdf", 0.0)


def sf(x, a, loc=0, scale=1):
    return _cdf(gammaincc, x, a, loc, scale, "sf", 1.0)


def _log_cumulative(x, a, loc, scale, name, upper):
    a = plain_parameter(a, f"kronvec.scipy.stats.gamma.{name}", "a")
    z = standardized(x, loc, scale, a=a)
    return switched_log(f"kronvec.scipy.stats.gamma.{name}", z, scipy_median("gamma", a), _inside(z),
                        0.0 if upper else -np.inf, lambda z: gammainc(a, z), lambda z: gammaincc(a, z), upper=upper,
                        interior=Interior(0.0, np.inf, 1.0))


def logcdf(x, a, loc=0, scale=1):
    return _log_cumulative(x, a, loc, scale, "logcdf", False)


def logsf(x, a, loc=0, scale=1):
    return _log_cumulative(x, a, loc, scale, "logsf", True)


rvs = sampler("gamma")
