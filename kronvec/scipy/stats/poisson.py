"""The Poisson distribution with mean mu, as ``scipy.stats.poisson``:
differentiable in mu (k and loc are plain: the distribution is discrete).

log p(k) = k·log mu − log Γ(k + 1) − mu for integers k ≥ 0 (−∞, p = 0, elsewhere);
F(k) = Q(⌊k⌋ + 1, mu) (``gammaincc``, SciPy's ``pdtr``), whose derivative in mu
is −p(⌊k⌋).
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammainc, gammaincc, gammaln, xlogy

from ._common import log, as_array, is_traced, plain_parameter, sampler

__all__ = ["pmf", "logpmf", "cdf", "logcdf", "sf", "logsf", "rvs"]


def _counts(k, loc, name):
    k = plain_parameter(k, f"kronvec.scipy.stats.poisson.{name}", "k")
    return k - plain_parameter(loc, f"kronvec.scipy.stats.poisson.{name}", "loc")


def _logpmf(k, mu):
    valid = (k >= 0) & (np.floor(k) == k)
    counts = k if valid.all() else np.where(valid, k, 0.0)
    return valid, xlogy(counts, mu) - gammaln(counts + 1) - mu


def logpmf(k, mu, loc=0):
    mu = as_array(mu)
    valid, value = _logpmf(_counts(k, loc, "logpmf"), mu)
    if valid.all():
        return value
    if is_traced(mu):
        raise ValueError("kronvec.scipy.stats.poisson.logpmf is −∞ at a k that is not a count (negative or "
                         "not an integer): no derivative there")
    return np.where(valid, value, -np.inf)


def pmf(k, mu, loc=0):
    valid, value = _logpmf(_counts(k, loc, "pmf"), as_array(mu))
    return np.exp(value) if valid.all() else np.where(valid, np.exp(value), 0.0)


def _cumulative(function, k, mu, loc, name, below):
    k = np.floor(_counts(k, loc, name))
    valid = k >= 0
    value = function(np.where(valid, k, 0.0) + 1, as_array(mu))
    return value if valid.all() else np.where(valid, value, below)


def cdf(k, mu, loc=0):
    return _cumulative(gammaincc, k, mu, loc, "cdf", 0.0)


def sf(k, mu, loc=0):
    return _cumulative(gammainc, k, mu, loc, "sf", 1.0)


def logcdf(k, mu, loc=0):
    return log(_cumulative(gammaincc, k, mu, loc, "logcdf", 0.0))


def logsf(k, mu, loc=0):
    return log(_cumulative(gammainc, k, mu, loc, "logsf", 1.0))


rvs = sampler("poisson")
