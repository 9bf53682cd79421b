"""The uniform distribution on [loc, loc + scale], as ``scipy.stats.uniform``:
differentiable in x, loc and scale (and q for ppf, isf).

With z = (x − loc)/scale: f = 1/scale on 0 ≤ z ≤ 1 (0 elsewhere, −∞ for its
log), F = clip(z, 0, 1), S = 1 − F; log F and log S as SciPy's generic ones (log F
below the median ½, log1p(−S) above it); ppf(q) = loc + scale·q,
isf(q) = loc + scale·(1 − q).  The density is flat in x: its derivative in x
is 0, in scale −1/scale².
"""

from __future__ import annotations

import numpy as np

from ._common import (as_array, as_float64, log, on_support, piecewise,
                      plain_value, quantile_arguments, sampler, standardized, standardized_and_plain)

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "rvs"]

_NAME = "kronvec.scipy.stats.uniform."


def pdf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)
    return on_support(lambda z: 0.0 * z + 1.0, _NAME + "pdf", z, (plain >= 0) & (plain <= 1), 0.0, 0.5) \
        / as_array(scale)


def logpdf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)
    return on_support(lambda z: 0.0 * z, _NAME + "logpdf", z, (plain >= 0) & (plain <= 1), -np.inf, 0.5) \
        - np.log(scale)


def cdf(x, loc=0, scale=1):
    return np.clip(standardized(x, loc, scale), 0.0, 1.0)


def sf(x, loc=0, scale=1):
    return 1.0 - np.clip(standardized(x, loc, scale), 0.0, 1.0)


def logcdf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)

    def inside(z):
        F = np.clip(z, 0.0, 1.0)
        return piecewise(F, np.asarray(plain_value(F)) < 0.5, log, lambda F: np.log1p(-(1.0 - F)), 0.5)

    return on_support(inside, _NAME + "logcdf", z, plain > 0, -np.inf, 0.5)


def logsf(x, loc=0, scale=1):
    z, plain = standardized_and_plain(x, loc, scale)

    def inside(z):
        F = np.clip(z, 0.0, 1.0)
        return piecewise(F, np.asarray(plain_value(F)) > 0.5, lambda F: log(1.0 - F), lambda F: np.log1p(-F), 0.5)

    return on_support(inside, _NAME + "logsf", z, plain < 1, -np.inf, 0.5)


def ppf(q, loc=0, scale=1):
    quantile_arguments(q, scale, "kronvec.scipy.stats.uniform.ppf")
    return as_array(loc) + as_array(scale) * as_float64(q)


def isf(q, loc=0, scale=1):
    quantile_arguments(q, scale, "kronvec.scipy.stats.uniform.isf")
    return as_array(loc) + as_array(scale) * (1.0 - as_float64(q))


rvs = sampler("uniform")
