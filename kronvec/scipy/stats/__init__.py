"""``scipy.stats`` distributions for differentiated code, as ``autograd.scipy.stats``
and ``jax.scipy.stats`` offer them: one module per distribution, with SciPy's
function and parameter names.

=========================  ===========================================================
``norm``                   pdf logpdf cdf logcdf sf logsf ppf isf (x, loc, scale)
``t``                      pdf logpdf (x, df, loc, scale); cdf logcdf sf logsf (df plain)
``chi2``                   pdf logpdf (x, df, loc, scale); cdf logcdf sf logsf (df plain)
``gamma``                  pdf logpdf (x, a, loc, scale); cdf logcdf sf logsf (a plain)
``beta``                   pdf logpdf (x, a, b, loc, scale); cdf logcdf sf logsf (a, b plain)
``expon`` ``laplace``      pdf logpdf cdf logcdf sf logsf ppf isf (x, loc, scale)
``logistic`` ``cauchy``    pdf logpdf cdf logcdf sf logsf ppf isf (x, loc, scale)
``uniform``                pdf logpdf cdf logcdf sf logsf ppf isf (x, loc, scale)
``lognorm``                pdf logpdf cdf logcdf sf logsf ppf isf (x, s, loc, scale)
``poisson``                pmf logpmf cdf logcdf sf logsf in mu (k, loc plain)
``multivariate_normal``    logpdf pdf (x, mean, cov); entropy (mean, cov)
``dirichlet``              logpdf pdf (x, alpha)
(every one)                rvs: SciPy's draws, plain parameters only
=========================  ===========================================================

Each is written with NumPy operations and scipy.special ufuncs that kronvec
differentiates, so it takes traced and plain arrays alike and gives SciPy's
values (to rounding). Outside the support, densities are SciPy's constants (0,
or −∞ for their logarithm — with traced input, −∞ has no derivative and is
refused). A parameter a function is not differentiated in is refused by name
when traced. Derivations: ``notes/derivatives.md`` §22.
"""

from . import (beta, cauchy, chi2, dirichlet, expon, gamma, laplace, logistic, lognorm,  # noqa: F401
               multivariate_normal, norm, poisson, t, uniform)

__all__ = ["norm", "t", "chi2", "gamma", "beta", "expon", "laplace", "logistic", "cauchy", "uniform", "lognorm",
           "poisson", "multivariate_normal", "dirichlet"]
