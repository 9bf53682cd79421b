"""The log-normal distribution with shape s, as ``scipy.stats.lognorm``:
differentiable in x, s, loc and scale (and q for ppf, isf).

With y = (x − loc)/scale, on y > 0: log f = −(log y)²/(2s²) − log(s·y·√(2π))
− log scale, F = Φ(log y / s) (``ndtr``), log F = ``log_ndtr(log y / s)``, S and
log S at −log y / s; ppf(q) = loc + scale·exp(s·Φ⁻¹(q)).  Every formula is
smooth in s, so s is differentiated everywhere (unlike the shapes of t, chi2,
gamma and beta, whose CDFs are incomplete functions).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri

from ._common import as_array, as_float64, on_support, plain_value, quantile_arguments, sampler, standardized

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "rvs"]

_NAME = "kronvec.scipy.stats.lognorm."
_ROOT_2PI = math.sqrt(2.0 * math.pi)


def _on_positive(function, name, x, s, loc, scale, outside):
    """`function(log y, s)` on y > 0, SciPy's constant `outside` elsewhere."""
    y, s = standardized(x, loc, scale, s=s), as_array(s)
    inside = np.asarray(plain_value(y)) > 0
    return on_support(lambda y: function(np.log(y), s, y), _NAME + name, y, inside, outside, 1.0)


def logpdf(x, s, loc=0, scale=1):
    return _on_positive(lambda t, s, y: -t ** 2 / (2.0 * s ** 2) - np.log(s * y * _ROOT_2PI),
                        "logpdf", x, s, loc, scale, -np.inf) - np.log(scale)


def pdf(x, s, loc=0, scale=1):
    density = _on_positive(lambda t, s, y: np.exp(-t ** 2 / (2.0 * s ** 2) - np.log(s * y * _ROOT_2PI)),
                           "pdf", x, s, loc, scale, 0.0)
    return density / as_array(scale)


def cdf(x, s, loc=0, scale=1):
    return _on_positive(lambda t, s, y: ndtr(t / s), "cdf", x, s, loc, scale, 0.0)


def logcdf(x, s, loc=0, scale=1):
    return _on_positive(lambda t, s, y: log_ndtr(t / s), "logcdf", x, s, loc, scale, -np.inf)


def sf(x, s, loc=0, scale=1):
    return _on_positive(lambda t, s, y: ndtr(-t / s), "sf", x, s, loc, scale, 1.0)


def logsf(x, s, loc=0, scale=1):
    return _on_positive(lambda t, s, y: log_ndtr(-t / s), "logsf", x, s, loc, scale, 0.0)


def ppf(q, s, loc=0, scale=1):
    quantile_arguments(q, scale, "kronvec.scipy.stats.lognorm.ppf", s=s)
    return as_array(loc) + as_array(scale) * np.exp(as_array(s) * ndtri(as_float64(q)))


def isf(q, s, loc=0, scale=1):
    quantile_arguments(q, scale, "kronvec.scipy.stats.lognorm.isf", s=s)
    return as_array(loc) + as_array(scale) * np.exp(as_array(s) * -ndtri(as_float64(q)))


rvs = sampler("lognorm")
