"""The normal distribution N(loc, scale²), as ``scipy.stats.norm``: differentiable in
x, loc and scale (and q for ppf, isf).

With z = (x − loc)/scale: log f = −z²/2 − log(2π)/2 − log scale, F = Φ(z)
(``ndtr``), log F = ``log_ndtr(z)``, ppf(q) = loc + scale·Φ⁻¹(q).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri

from ._common import LOG_2PI, as_array, sampler, standardized, symmetric_family

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "rvs"]

_ROOT_2PI = math.sqrt(2.0 * math.pi)


def logpdf(x, loc=0, scale=1):
    z = standardized(x, loc, scale)
    return -z ** 2 / 2.0 - 0.5 * LOG_2PI - np.log(scale)


def pdf(x, loc=0, scale=1):
    z = standardized(x, loc, scale)
    return np.exp(-z ** 2 / 2.0) / _ROOT_2PI / as_array(scale)


cdf, sf, ppf, isf, logcdf, logsf = symmetric_family(__name__, ndtr, ndtri, log_ndtr)  # (Φ(−z) = 1 − Φ(z))
rvs = sampler("norm")
