"""Student's t distribution, as ``scipy.stats.t``: pdf and logpdf differentiable in
x, df, loc and scale; cdf, sf (and their logs) in x, loc and scale (df plain:
∂F/∂ν has no closed form kronvec implements).

log f = log Γ((ν + 1)/2) − log Γ(ν/2) − (log ν + log π)/2 − (ν + 1)/2·log(1 + z²/ν) − log scale;
F = ``stdtr(ν, z)``, whose derivative in z is the density.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, stdtr

from ._common import log, as_array, plain_parameter, standardized, sampler

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "rvs"]


def _standard_logpdf(z, df):
    return (gammaln(0.5 * (df + 1.0)) - gammaln(0.5 * df) - 0.5 * (np.log(df) + math.log(math.pi))
            - (df + 1) / 2 * np.log1p(z * z / df))


def logpdf(x, df, loc=0, scale=1):
    return _standard_logpdf(standardized(x, loc, scale), as_array(df)) - np.log(scale)


def pdf(x, df, loc=0, scale=1):
    return np.exp(_standard_logpdf(standardized(x, loc, scale), as_array(df))) / as_array(scale)


def cdf(x, df, loc=0, scale=1):
    return stdtr(plain_parameter(df, "kronvec.scipy.stats.t.cdf", "df"), standardized(x, loc, scale))


def sf(x, df, loc=0, scale=1):
    return stdtr(plain_parameter(df, "kronvec.scipy.stats.t.sf", "df"), -standardized(x, loc, scale))


def logcdf(x, df, loc=0, scale=1):
    return log(stdtr(plain_parameter(df, "kronvec.scipy.stats.t.logcdf", "df"), standardized(x, loc, scale)))


def logsf(x, df, loc=0, scale=1):
    return log(stdtr(plain_parameter(df, "kronvec.scipy.stats.t.logsf", "df"), -standardized(x, loc, scale)))


rvs = sampler("t")
