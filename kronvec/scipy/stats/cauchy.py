"""The Cauchy distribution, as ``scipy.stats.cauchy``: differentiable in x, loc and
scale (and q for ppf, isf).

With z = (x − loc)/scale: log f = −log π − log1p(z²) − log scale (for |z| ≥ 1
written −log π − 2 log|z| − log1p(z⁻²), as SciPy does, so z² cannot overflow);
F = arctan2(1, −z)/π, S = arctan2(1, z)/π; log F = log F below the median 0 and
log1p(−S) above it (log S mirrored); ppf(q) = loc + scale·tan(π(q − ½)).
"""

from __future__ import annotations

import math

import numpy as np

from ._common import as_array, log, piecewise, plain_value, sampler, standardized, symmetric_family

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "rvs"]

_LOG_PI = math.log(math.pi)


def _standard_logpdf(z):
    size = np.abs(z)
    return piecewise(size, np.asarray(plain_value(size)) < 1, lambda a: -_LOG_PI - np.log1p(a * a),
                     lambda a: -_LOG_PI - (2.0 * np.log(a) + np.log1p((1.0 / a) ** 2)), 1.0)


def _standard_cdf(z):
    return np.arctan2(1.0, -z) / np.pi


def logpdf(x, loc=0, scale=1):
    return _standard_logpdf(standardized(x, loc, scale)) - np.log(scale)


def pdf(x, loc=0, scale=1):
    z = standardized(x, loc, scale)
    return 1.0 / np.pi / (1.0 + z * z) / as_array(scale)


def _standard_logcdf(z):
    # (SciPy's generic log F: log F below the median, log1p(−S) from it on)
    return piecewise(z, np.asarray(plain_value(z)) < 0, lambda z: log(_standard_cdf(z)),
                     lambda z: np.log1p(-_standard_cdf(-z)), 0.0)


def logcdf(x, loc=0, scale=1):
    return _standard_logcdf(standardized(x, loc, scale))


def logsf(x, loc=0, scale=1):
    # SciPy's generic log S: log S above the median, log1p(−F) up to it — log F mirrored,
    # with the tie at the median on the other side
    z = standardized(x, loc, scale)
    return piecewise(z, np.asarray(plain_value(z)) > 0, lambda z: log(_standard_cdf(-z)),
                     lambda z: np.log1p(-_standard_cdf(z)), 0.0)


def _standard_ppf(q):
    """tan(π(q − ½)), written as SciPy's ``_cauchy_ppf`` (Boost's quantile) computes it:
    −1/tan(πq) below ½ and 1/tan(π(1 − q)) above (1 − q is exact there), so a tail q keeps
    its digits (tan(π(q − ½)) loses them all: q = 1e-20 gave −1.6e16, not −3.2e19) and q = 0, 1
    give ∓∞; exactly ½ gives 0. The same function, so the same derivative π/sin²(πq)."""
    def upper(q):
        plain = np.asarray(plain_value(q))
        return piecewise(q, plain > 0.5, lambda q: 1.0 / np.tan(np.pi * (1.0 - q)),
                         lambda q: np.tan(np.pi * (q - 0.5)), 0.75)

    with np.errstate(divide="ignore"):  # (q = 0 or 1: SciPy's ∓∞, quietly; traced, kronvec refuses 1/0)
        return piecewise(q, np.asarray(plain_value(q)) < 0.5, lambda q: -1.0 / np.tan(np.pi * q), upper, 0.25)


cdf, sf, ppf, isf = symmetric_family(__name__, _standard_cdf, _standard_ppf)  # (its log F and log S: above)
rvs = sampler("cauchy")
