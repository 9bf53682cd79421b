"""The beta distribution with shapes a, b, as ``scipy.stats.beta``: pdf and logpdf
differentiable in x, a, b, loc and scale; cdf, sf (and logs) in x, loc and
scale (a, b plain).

log f = (a − 1)·log z + (b − 1)·log(1 − z) − log B(a, b) − log scale on 0 ≤ z ≤ 1;
F = I_z(a, b) (``betainc``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaincc, betaln, digamma, xlog1py, xlogy

from ...ops import primitive
from ...ops._support import shape_of, unbroadcast
from ._common import Interior, as_array, on_support, plain_parameter, plain_value, scipy_median, standardized, sampler, \
    switched_log

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "rvs"]


def _inside(z):
    z = np.asarray(plain_value(z))
    return (z >= 0) & (z <= 1)


def _standard_logpdf(z, a, b):
    return xlog1py(b - 1.0, -z) + xlogy(a - 1.0, z) - betaln(a, b)


try:  # SciPy's own density (Boost's ibeta_derivative): what scipy.stats.beta.pdf returns
    from scipy.special._ufuncs import _beta_pdf as _scipy_beta_pdf
except ImportError:  # pragma: no cover (a SciPy without it: the density from the log-density)
    _scipy_beta_pdf = None


def _interior_density_value(z, a, b):
    if _scipy_beta_pdf is None:  # pragma: no cover
        return np.exp(_standard_logpdf(z, a, b))
    with np.errstate(over="ignore"):  # (as scipy.stats.beta._pdf)
        return _scipy_beta_pdf(z, a, b)


# The density for 0 < z < 1, SciPy's numbers: exp of the log-density loses them as a and b grow,
# its terms ~a·log z cancelling (1e-9 relative at a = b = 1e6, 12,000 ulps at a = 1e4).  Its
# derivatives are f times those of log f (notes/derivatives.md, beta):
#   ∂z f = f·((a − 1)/z − (b − 1)/(1 − z)),  ∂a f = f·(log z − ψ(a) + ψ(a + b)),
#   ∂b f = f·(log(1 − z) − ψ(b) + ψ(a + b)).
_interior_density = primitive(_interior_density_value, name="scipy.stats.beta.pdf")
_interior_density.defvjp(
    lambda g, ans, z, a, b: unbroadcast(g * ans * ((a - 1.0) / z - (b - 1.0) / (1.0 - z)), shape_of(z)),
    lambda g, ans, z, a, b: unbroadcast(g * ans * (np.log(z) - digamma(a) + digamma(a + b)), shape_of(a)),
    lambda g, ans, z, a, b: unbroadcast(g * ans * (np.log1p(-z) - digamma(b) + digamma(a + b)), shape_of(b)))


def _standard_density(z, a, b):
    """SciPy's density inside (0, 1); at the edges z = 0 and z = 1, exp of the log-density,
    whose −∞ log (a > 1 or b > 1) kronvec refuses with traced input (no derivative there)."""
    plain = np.asarray(plain_value(z))
    interior = (plain > 0) & (plain < 1)
    if interior.all():
        return _interior_density(z, a, b)
    return np.where(interior, _interior_density(np.where(interior, z, 0.5), a, b),
                    np.exp(_standard_logpdf(np.where(interior, 0.5, z), a, b)))


def logpdf(x, a, b, loc=0, scale=1):
    z, a, b = standardized(x, loc, scale, a=a, b=b), as_array(a), as_array(b)
    return on_support(lambda z: _standard_logpdf(z, a, b), "kronvec.scipy.stats.beta.logpdf",
                      z, _inside(z), -np.inf, 0.5) - np.log(scale)


def pdf(x, a, b, loc=0, scale=1):
    z, a, b = standardized(x, loc, scale, a=a, b=b), as_array(a), as_array(b)
    density = on_support(lambda z: _standard_density(z, a, b), "kronvec.scipy.stats.beta.pdf",
                         z, _inside(z), 0.0, 0.5)
    return density / as_array(scale)


def _cdf(function, x, a, b, loc, scale, name, below, above):
    a = plain_parameter(a, f"kronvec.scipy.stats.beta.{name}", "a")
    b = plain_parameter(b, f"kronvec.scipy.stats.beta.{name}", "b")
    z = standardized(x, loc, scale, a=a, b=b)
    plain = np.asarray(plain_value(z))
    value = on_support(lambda z: function(a, b, z), f"kronvec.scipy.stats.beta.{name}", z, _inside(z), below, 0.5)
    return value if not np.any(plain > 1) else np.where(plain > 1, above, value)


def cdf(x, a, b, loc=0, scale=1):
    return _cdf(betainc, x, a, b, loc, scale, "cdf", 0.0, 1.0)


def sf(x, a, b, loc=0, scale=1):
    return _cdf(betaincc, x, a, b, loc, scale, "sf", 1.0, 0.0)


def _log_cumulative(x, a, b, loc, scale, name, upper):
    a = plain_parameter(a, f"kronvec.scipy.stats.beta.{name}", "a")
    b = plain_parameter(b, f"kronvec.scipy.stats.beta.{name}", "b")
    z = standardized(x, loc, scale, a=a, b=b)
    plain = np.asarray(plain_value(z))
    below, above = (0.0, -np.inf) if upper else (-np.inf, 0.0)  # log S = 0 below the support, log F = 0 above
    return switched_log(f"kronvec.scipy.stats.beta.{name}", z, scipy_median("beta", a, b), _inside(z),
                        np.where(plain < 0, below, above), lambda z: betainc(a, b, z), lambda z: betaincc(a, b, z),
                        upper=upper,
                        interior=Interior(0.0, 1.0, 0.5))


def logcdf(x, a, b, loc=0, scale=1):
    return _log_cumulative(x, a, b, loc, scale, "logcdf", False)


def logsf(x, a, b, loc=0, scale=1):
    return _log_cumulative(x, a, b, loc, scale, "logsf", True)


rvs = sampler("beta")
