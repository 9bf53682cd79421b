"""The Laplace distribution, as ``scipy.stats.laplace``: differentiable in x, loc
and scale (and q for ppf, isf).

With z = (x − loc)/scale: log f = −|z| − log 2 − log scale; F = ½eᶻ for z ≤ 0 and
1 − ½e⁻ᶻ above, S(z) = F(−z); log F = z − log 2 below the median 0 and
log1p(−½e⁻ᶻ) above it (log S by symmetry).  ppf(q) = loc + scale·log 2q for
q ≤ ½ and loc − scale·log 2(1 − q) above.  At z = 0 the density's kink takes
kronvec's convention for |z| (notes/conventions.md).
"""

from __future__ import annotations

import math

import numpy as np

from ._common import as_array, piecewise, plain_value, sampler, standardized, symmetric_family

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "rvs"]

_LOG_2 = math.log(2.0)


def _standard_cdf(z):
    return piecewise(z, np.asarray(plain_value(z)) > 0, lambda z: 1.0 - 0.5 * np.exp(-z),
                     lambda z: 0.5 * np.exp(z), 0.0)


def _standard_logcdf(z):
    return piecewise(z, np.asarray(plain_value(z)) < 0, lambda z: z - _LOG_2,
                     lambda z: np.log1p(-0.5 * np.exp(-z)), 0.0)


def _standard_ppf(q):
    return piecewise(q, np.asarray(plain_value(q)) > 0.5, lambda q: -np.log(2.0 * (1.0 - q)),
                     lambda q: np.log(2.0 * q), 0.5)


def logpdf(x, loc=0, scale=1):
    return -np.abs(standardized(x, loc, scale)) - _LOG_2 - np.log(scale)


def pdf(x, loc=0, scale=1):
    return 0.5 * np.exp(-np.abs(standardized(x, loc, scale))) / as_array(scale)


cdf, sf, ppf, isf, logcdf, logsf = symmetric_family(__name__, _standard_cdf, _standard_ppf, _standard_logcdf)
rvs = sampler("laplace")
