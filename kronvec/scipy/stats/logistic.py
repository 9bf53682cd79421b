"""The logistic distribution, as ``scipy.stats.logistic``: differentiable in x, loc
and scale (and q for ppf, isf).

With z = (x − loc)/scale: log f = −|z| − 2·log1p(e^−|z|) − log scale, F = σ(z)
(``expit``), log F = ``log_expit(z)``, S = σ(−z); ppf(q) = loc + scale·logit(q).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit, logit

from ._common import as_array, sampler, standardized, symmetric_family

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "rvs"]


def _standard_logpdf(z):
    y = -np.abs(z)
    return y - 2.0 * np.log1p(np.exp(y))


def logpdf(x, loc=0, scale=1):
    return _standard_logpdf(standardized(x, loc, scale)) - np.log(scale)


def pdf(x, loc=0, scale=1):
    return np.exp(_standard_logpdf(standardized(x, loc, scale))) / as_array(scale)


cdf, sf, ppf, isf, logcdf, logsf = symmetric_family(__name__, expit, logit, log_expit)  # (σ(−z) = 1 − σ(z))
rvs = sampler("logistic")
