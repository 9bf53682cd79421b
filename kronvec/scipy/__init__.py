"""SciPy's functions that differentiated code calls, written for kronvec.

Modelled on ``jax.scipy`` and ``autograd.scipy``: each function has SciPy's
name, signature and values (to rounding), and is written with the NumPy
operations (and scipy.special ufuncs) that kronvec differentiates, so it
works on traced values and on plain arrays alike::

    import kronvec.scipy.stats

    def nll(mu, sigma):
        return -np.sum(kronvec.scipy.stats.norm.logpdf(data, loc=mu, scale=sigma))

* :mod:`kronvec.scipy.special` — ``logsumexp``, ``softmax``, ``log_softmax``,
  ``multigammaln``, ``polygamma``, and the scipy.special ufuncs kronvec
  differentiates (re-exported: they are SciPy's own objects);
* :mod:`kronvec.scipy.stats` — ``norm``, ``t``, ``chi2``, ``gamma``, ``beta``,
  ``poisson``, ``multivariate_normal``, ``dirichlet``, as modules of functions
  (``pdf``, ``logpdf``, ``cdf``, …) with SciPy's parameter names;
* :mod:`kronvec.scipy.signal` — ``convolve`` and ``correlate`` (N-D, modes
  full, valid, same), differentiable in both arguments;
* :mod:`kronvec.scipy.linalg` — decompositions and solves (``cholesky``,
  ``cho_factor``/``cho_solve``, ``lu_factor``/``lu_solve``,
  ``solve_triangular``, ``solve`` with ``assume_a``, ``eigh``, ``svd``, ``qr``…),
  matrix functions (``expm``, ``logm``, ``sqrtm``, ``expm_frechet``, ``cosm``…) and Sylvester/Lyapunov
  solvers, with SciPy's signatures (why a namespace: ``notes/derivatives.md`` §25);
* :mod:`kronvec.scipy.integrate` — ``odeint``, differentiable in the initial state, the
  times and the parameters by the adjoint method (``notes/derivatives.md`` §42).

``import kronvec`` does not import this package (nor SciPy's modules it
wraps); ``import kronvec.scipy.stats`` does.  A real SciPy function reached
by a traced value raises a TypeError that names its counterpart here.
Derivations: ``notes/derivatives.md`` §22.
"""

from __future__ import annotations

import importlib

__all__ = ["special", "stats", "signal", "linalg", "integrate"]


def __getattr__(name):
    # ``import kronvec.scipy`` then ``kronvec.scipy.stats``: load the submodule on first use.
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'kronvec.scipy' has no attribute {name!r}")
