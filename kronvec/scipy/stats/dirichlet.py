"""The Dirichlet distribution with concentrations alpha, as ``scipy.stats.dirichlet``:
logpdf and pdf differentiable in x and alpha.

log f(x) = Σᵢ (αᵢ − 1)·log xᵢ − log B(α), log B(α) = Σᵢ log Γ(αᵢ) − log Γ(Σᵢ αᵢ).
x holds the components along its first axis (SciPy's shapes); given with one
component fewer than alpha, the last is 1 − Σ x (and differentiated as such).
The gradient in x is the unconstrained one: the partial derivatives of this formula.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, xlogy

from ._common import as_array, is_traced, plain_value, sampler

__all__ = ["logpdf", "pdf", "rvs"]


def _alpha(alpha):
    alpha = as_array(alpha)
    plain = np.asarray(plain_value(alpha))
    if np.min(plain) <= 0:
        raise ValueError("All parameters must be greater than 0")
    if plain.ndim != 1:
        raise ValueError(f"Parameter vector 'a' must be one dimensional, but a.shape = {plain.shape}.")
    return alpha


def _points(alpha, x):
    """SciPy's checks of x (``_dirichlet_check_input``), on the plain values."""
    x = as_array(x)
    k = np.shape(alpha)[0]
    if np.shape(x)[0] + 1 != k and np.shape(x)[0] != k:
        raise ValueError("Vector 'x' must have either the same number of entries as, or one entry fewer than, "
                         f"parameter vector 'a', but alpha.shape = {np.shape(alpha)} and x.shape = {np.shape(x)}.")
    if np.shape(x)[0] != k:
        last = 1 - np.sum(x, 0)
        if np.ndim(x) == 1:
            x = np.append(x, last)
        elif np.ndim(x) == 2:
            x = np.vstack((x, np.reshape(last, (1, -1))))
        else:
            raise ValueError("The input must be one dimensional or a two dimensional matrix containing the entries.")
    plain, concentrations = np.asarray(plain_value(x)), np.asarray(plain_value(alpha))
    if np.min(plain) < 0:
        raise ValueError("Each entry in 'x' must be greater than or equal to zero.")
    if np.max(plain) > 1:
        raise ValueError("Each entry in 'x' must be smaller or equal one.")
    below_one = concentrations < 1
    if plain.shape != concentrations.shape:
        below_one = np.repeat(below_one, plain.shape[-1], axis=-1).reshape(plain.shape)
    if np.any((plain == 0) & below_one):
        raise ValueError("Each entry in 'x' must be greater than zero if its alpha is less than one.")
    if (np.abs(np.sum(plain, 0) - 1.0) > 10e-10).any():
        raise ValueError(f"The input vector 'x' must lie within the normal simplex. but np.sum(x, 0) = {np.sum(plain, 0)}.")
    return x


def logpdf(x, alpha):
    alpha = _alpha(alpha)
    x = _points(alpha, x)
    log_beta = np.sum(gammaln(alpha)) - gammaln(np.sum(alpha))
    out = -log_beta + np.sum(np.transpose(xlogy(alpha - 1, np.transpose(x))), 0)
    return out[()] if not is_traced(out) and np.ndim(out) == 0 else out


def pdf(x, alpha):
    return np.exp(logpdf(x, alpha))


rvs = sampler("dirichlet")
