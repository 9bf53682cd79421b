"""Student's t distribution, as ``scipy.stats.t``: pdf and logpdf differentiable in
x, df, loc and scale; cdf, sf (and their logs) in x, loc and scale (df plain:
∂F/∂ν has no closed form kronvec implements).

log f = log Γ((ν + 1)/2) − log Γ(ν/2) − (log ν + log π)/2 − (ν + 1)/2·log(1 + z²/ν) − log scale;
F = ``stdtr(ν, z)``, whose derivative in z is the density.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import poch, stdtr

from ...ops import primitive
from ..special import digamma
from ._common import LOG_2PI, as_array, plain_value, plain_parameter, scipy_median, standardized, sampler, switched_log

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "rvs"]

_ROOT_2PI = math.sqrt(2.0 * math.pi)


def _log_poch_half_value(df):
    return np.log(poch(0.5 * df, 0.5))


# log Γ((ν + 1)/2) − log Γ(ν/2) as SciPy's t._logpdf computes it, log poch(ν/2, ½): the difference
# of the two log Γ cancels catastrophically as ν grows (at ν = 1e16 it was off by 18, and
# NaN at ν = ∞). Its derivative is the difference of the digammas, halved:
# d/dν log poch(ν/2, ½) = ½(ψ(ν/2 + ½) − ψ(ν/2)).
_log_poch_half = primitive(_log_poch_half_value)
_log_poch_half.defvjp(lambda g, ans, df: g * (0.5 * (digamma(0.5 * df + 0.5) - digamma(0.5 * df))))


def _finite_logpdf(z, df):
    return (_log_poch_half(df) - 0.5 * (np.log(df) + math.log(math.pi))
            - (df + 1) / 2 * np.log1p(z * z / df))


def _standard(z, df, finite, normal):
    """SciPy's t at ν = ∞ is the normal distribution (``t._logpdf``, ``t._pdf``): `normal(z)`
    there, `finite(z, ν)` elsewhere (at ν = 1 where ν is infinite, so it raises nothing)."""
    infinite = np.isposinf(np.asarray(plain_value(df)))
    if not infinite.any():
        return finite(z, df)
    return np.where(infinite, normal(z), finite(z, np.where(infinite, 1.0, df)))


def logpdf(x, df, loc=0, scale=1):
    return _standard(standardized(x, loc, scale, df=df), as_array(df), _finite_logpdf,
                     lambda z: -z ** 2 / 2.0 - 0.5 * LOG_2PI) - np.log(scale)


def pdf(x, df, loc=0, scale=1):
    density = _standard(standardized(x, loc, scale, df=df), as_array(df), lambda z, df: np.exp(_finite_logpdf(z, df)),
                        lambda z: np.exp(-z ** 2 / 2.0) / _ROOT_2PI)
    return density / as_array(scale)


# stdtr(∞, z), SciPy's own numbers (its normal CDF, a few ulps from ndtr's), with the normal
# density as derivative: a primitive, since kronvec refuses the infinite constant operand ν = ∞
# of a recorded stdtr
_normal_stdtr = primitive(lambda z: stdtr(np.inf, z), name="scipy.special.stdtr(inf, ·)")
_normal_stdtr.defvjp(lambda g, ans, z: g * (np.exp(-0.5 * (z * z)) / _ROOT_2PI))


def _stdtr(df, z):
    """``stdtr(ν, z)`` for a plain ν, SciPy's at ν = ∞ too."""
    infinite = np.isposinf(np.asarray(df))
    if not infinite.any():
        return stdtr(df, z)
    if infinite.all():
        return _normal_stdtr(z)
    return np.where(infinite, _normal_stdtr(z), stdtr(np.where(infinite, 1.0, df), z))


def cdf(x, df, loc=0, scale=1):
    return _stdtr(plain_parameter(df, "kronvec.scipy.stats.t.cdf", "df"), standardized(x, loc, scale, df=df))


def sf(x, df, loc=0, scale=1):
    return _stdtr(plain_parameter(df, "kronvec.scipy.stats.t.sf", "df"), -standardized(x, loc, scale, df=df))


def _log_cumulative(x, df, loc, scale, name, upper):
    df = plain_parameter(df, f"kronvec.scipy.stats.t.{name}", "df")
    return switched_log(f"kronvec.scipy.stats.t.{name}", standardized(x, loc, scale, df=df), scipy_median("t", df), True,
                        -np.inf, lambda z: _stdtr(df, z), lambda z: _stdtr(df, -z), upper=upper)


def logcdf(x, df, loc=0, scale=1):
    return _log_cumulative(x, df, loc, scale, "logcdf", False)


def logsf(x, df, loc=0, scale=1):
    return _log_cumulative(x, df, loc, scale, "logsf", True)


rvs = sampler("t")
