"""scipy.special's ufuncs a statistician differentiates: logistic, log-gamma,
error functions, the normal CDF, entropies.

They are ufuncs, so ``__array_ufunc__`` routes them like NumPy's; they are
defined with :func:`.elementwise.elementwise_op` (a diagonal Jacobian times the
broadcast selection).  Importing scipy.special costs about 25 ms, so
``import kronvec`` does not import this module: the first scipy.special ufunc
called on a traced value registers it (``elementwise.ufunc_on_demand``).
``scipy.special.softplus`` is a Python function calling ``np.logaddexp(0, x)``,
and ``psi`` is ``digamma``: both work through what is here and in NumPy's family.

Derivations: ``notes/derivatives.md`` §17.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as special

from . import _samples
from ._registry import Primitive, register
from ._support import elementwise_jacobian, loud, plain_value
from .elementwise import _uniform, elementwise_op

__all__ = ["expit", "logit", "log_expit", "xlogy", "xlog1py", "gammaln", "gamma", "digamma", "polygamma",
           "betaln", "erf", "erfc", "erfinv", "ndtr", "ndtri", "log_ndtr", "entr", "rel_entr"]

_TWO_OVER_ROOT_PI = 2.0 / math.sqrt(math.pi)
_ROOT_TWO_PI = math.sqrt(2.0 * math.pi)


def _special(numpy_ufunc, *derivatives, **definition):
    return elementwise_op(numpy_ufunc, *derivatives, spelling="scipy.special", **definition)


# ---------------------------------------------------------------- logistic
expit = _special(special.expit, lambda ans, x: ans * (1.0 - ans), formula="diag(vec σ(X) ∘ (1 − σ(X)))",
                 reference="dσ(x) = σ(x)(1 − σ(x)) dx; SciPy docs for scipy.special.expit",
                 fuzz=lambda Y, c: special.expit(Y), entire=True, loud_value=False, loud_derivatives=False)
logit = _special(special.logit, lambda ans, x: 1.0 / (x * (1.0 - x)), formula="diag(vec 1/(X ∘ (1 − X)))",
                 reference="d log(p/(1 − p)) = dp / (p(1 − p)); SciPy docs for scipy.special.logit",
                 samples=_uniform(0.1, 0.9), fuzz=lambda Y, c: special.logit(0.5 + 0.4 * np.tanh(Y)))
log_expit = _special(special.log_expit, lambda ans, x: special.expit(-x), formula="diag(vec σ(−X))",
                     reference="d log σ(x) = (1 − σ(x)) dx = σ(−x) dx; SciPy docs for scipy.special.log_expit",
                     fuzz=lambda Y, c: special.log_expit(Y), entire=True, loud_value=False,
                     loud_derivatives=False,
                     edge_cases={"far tails": lambda rng: (np.array([[-700.0, -30.0], [30.0, 700.0]]),)})


# ----------------------------------------------------- x·log y with 0·log 0 = 0
def _ratio_where_defined(x, y):
    """x / y, and 0 where x = y = 0: there x·log y is 0 for every y (SciPy's
    convention), so its derivative in y is 0; elsewhere y = 0 made the value infinite."""
    zero = np.asarray(plain_value(y)) == 0
    if not zero.any():
        return x / y
    return x / np.where(zero, 1.0, y)


xlogy = _special(
    special.xlogy, lambda ans, x, y: np.log(y), lambda ans, x, y: _ratio_where_defined(x, y),
    formula="D_X = diag(vec log Y)·B_X, D_Y = diag(vec X/Y)·B_Y (0 where X = 0)",
    reference="d(x log y) = log y dx + (x/y) dy; SciPy docs for scipy.special.xlogy",
    samples=lambda rng, n: (rng.standard_normal((n, n + 1)), rng.uniform(0.5, 2.0, (1, n + 1))),
    fuzz=lambda Y, c: special.xlogy(Y, 1.0 + c.same(Y.shape) ** 2))
xlog1py = _special(
    special.xlog1py, lambda ans, x, y: np.log1p(y), lambda ans, x, y: _ratio_where_defined(x, 1.0 + y),
    formula="D_X = diag(vec log(1 + Y))·B_X, D_Y = diag(vec X/(1 + Y))·B_Y (0 where X = 0)",
    reference="d(x log(1 + y)) = log(1 + y) dx + x/(1 + y) dy; SciPy docs for scipy.special.xlog1py",
    samples=lambda rng, n: (rng.standard_normal((n, n + 1)), rng.uniform(-0.5, 2.0, (1, n + 1))),
    fuzz=lambda Y, c: special.xlog1py(Y, c.same(Y.shape) ** 2))


# --------------------------------------------------------------- gamma family
_polygamma_values = loud("scipy.special.polygamma", lambda x, n: special.polygamma(n, x))


def _polygamma_impl(x, n):
    return _polygamma_values(x, n)


def _polygamma_next(ans, x, n):
    return polygamma(x, n=n + 1)


_polygamma_derivative = loud("the derivative of scipy.special.polygamma", _polygamma_next)

# ψ⁽ⁿ⁾ is not a ufunc (scipy.special.polygamma converts its input with np.asarray): an operation
# of its own, the chain of derivatives of digamma (ψ′ = ψ⁽¹⁾, ψ⁽ⁿ⁾′ = ψ⁽ⁿ⁺¹⁾), kronvec.ops.special.polygamma.
polygamma = register(Primitive(
    _polygamma_impl, name="polygamma",
    vjps={0: lambda g, ans, x, n: g * _polygamma_derivative(ans, x, n)},
    jacobians={0: lambda ans, x, names, n: elementwise_jacobian(
        _polygamma_derivative(ans, np.asarray(x), n), np.shape(x), np.shape(ans))},
    label=lambda a, n: f"ψ⁽{n}⁾({a})",
    formula="diag(vec ψ⁽ⁿ⁺¹⁾(X))", reference="dψ⁽ⁿ⁾(x) = ψ⁽ⁿ⁺¹⁾(x) dx; DLMF 5.15",
    samples=lambda rng, n: _samples.Sample((rng.uniform(0.5, 3.0, (n, n + 1)),), {"n": 1}),
    param_names=("X",),
    edge_cases={"ψ⁽³⁾": lambda rng: _samples.Sample((rng.uniform(0.5, 3.0, (2, 2)),), {"n": 3})},
))
digamma = _special(special.digamma, lambda ans, x: polygamma(x, n=1), formula="diag(vec ψ′(X))",
                   reference="dψ(x) = ψ′(x) dx (trigamma); DLMF 5.15", samples=_uniform(0.5, 3.0),
                   fuzz=lambda Y, c: special.digamma(1.5 + Y * Y))
gammaln = _special(special.gammaln, lambda ans, x: digamma(x), formula="diag(vec ψ(X))",
                   reference="d log|Γ(x)| = ψ(x) dx; DLMF 5.2.2", samples=_uniform(0.5, 3.0),
                   edge_cases={"negative, not an integer": lambda rng: (np.array([[-0.5, -1.5], [-2.3, -3.7]]),)},
                   fuzz=lambda Y, c: special.gammaln(1.5 + Y * Y))
gamma = _special(special.gamma, lambda ans, x: ans * digamma(x), formula="diag(vec Γ(X) ∘ ψ(X))",
                 reference="dΓ(x) = Γ(x)ψ(x) dx; DLMF 5.2.2", samples=_uniform(0.5, 3.0),
                 fuzz=lambda Y, c: special.gamma(1.5 + np.tanh(Y)))
betaln = _special(
    special.betaln, lambda ans, a, b: digamma(a) - digamma(a + b), lambda ans, a, b: digamma(b) - digamma(a + b),
    formula="D_A = diag(vec ψ(A) − ψ(A + B))·B_A, D_B = diag(vec ψ(B) − ψ(A + B))·B_B",
    reference="log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b); DLMF 5.12.1", param_names=("A", "B"),
    samples=_samples.two_positive, fuzz=lambda Y, c: special.betaln(1.0 + Y * Y, 2.0))


# ------------------------------------------------- error function, normal CDF
def _gaussian(x, scale):
    # scale·e^(−x²) (x² overflows to inf for |x| > 1e154: e^(−inf) = 0, quietly)
    return scale * np.exp(-(x * x))


erf = _special(special.erf, lambda ans, x: _gaussian(x, _TWO_OVER_ROOT_PI), formula="diag(vec (2/√π) e^(−X²))",
               reference="d erf(x) = (2/√π) e^(−x²) dx; DLMF 7.2.1", fuzz=lambda Y, c: special.erf(Y),
               entire=True, loud_value=False)
erfc = _special(special.erfc, lambda ans, x: _gaussian(x, -_TWO_OVER_ROOT_PI), formula="−diag(vec (2/√π) e^(−X²))",
                reference="d erfc(x) = −(2/√π) e^(−x²) dx; DLMF 7.2.2", fuzz=lambda Y, c: special.erfc(Y),
                entire=True, loud_value=False)
erfinv = _special(special.erfinv, lambda ans, x: np.exp(ans * ans) / _TWO_OVER_ROOT_PI,
                  formula="diag(vec (√π/2) e^(erfinv(X)²))", reference="inverse function rule on d erf = (2/√π)e^(−y²) dy",
                  samples=_samples.one_bounded, fuzz=lambda Y, c: special.erfinv(0.9 * np.tanh(Y)))
ndtr = _special(special.ndtr, lambda ans, x: _gaussian(x / math.sqrt(2.0), 1.0 / _ROOT_TWO_PI),
                formula="diag(vec φ(X)), φ the standard normal density",
                reference="dΦ(x) = φ(x) dx; SciPy docs for scipy.special.ndtr", fuzz=lambda Y, c: special.ndtr(Y),
                entire=True, loud_value=False)
ndtri = _special(special.ndtri, lambda ans, x: _ROOT_TWO_PI * np.exp(0.5 * (ans * ans)),
                 formula="diag(vec 1/φ(Φ⁻¹(X)))", reference="inverse function rule: dΦ⁻¹(p) = dp / φ(Φ⁻¹(p))",
                 samples=_uniform(0.1, 0.9), fuzz=lambda Y, c: special.ndtri(0.5 + 0.4 * np.tanh(Y)))
# φ(x)/Φ(x) as exp(−x²/2 − log Φ(x))/√(2π): no underflow in the far left tail
log_ndtr = _special(special.log_ndtr, lambda ans, x: np.exp(-0.5 * (x * x) - ans) / _ROOT_TWO_PI,
                    formula="diag(vec φ(X)/Φ(X))", reference="d log Φ(x) = φ(x)/Φ(x) dx; SciPy docs for scipy.special.log_ndtr",
                    fuzz=lambda Y, c: special.log_ndtr(Y), entire=True,
                    edge_cases={"far tails": lambda rng: (np.array([[-30.0, -8.0], [8.0, 30.0]]),)})


# ------------------------------------------------------------------ entropies
entr = _special(special.entr, lambda ans, x: -(np.log(x) + 1.0), formula="−diag(vec log X + 1)",
                reference="d(−x log x) = −(log x + 1) dx; SciPy docs for scipy.special.entr",
                samples=_samples.one_positive, fuzz=lambda Y, c: special.entr(1.0 + Y * Y))
rel_entr = _special(
    special.rel_entr, lambda ans, x, y: np.log(x) - np.log(y) + 1.0, lambda ans, x, y: -_ratio_where_defined(x, y),
    formula="D_X = diag(vec log X − log Y + 1)·B_X, D_Y = −diag(vec X/Y)·B_Y (0 where X = 0)",
    reference="d(x log(x/y)) = (log(x/y) + 1) dx − (x/y) dy; SciPy docs for scipy.special.rel_entr",
    samples=_samples.two_positive, fuzz=lambda Y, c: special.rel_entr(1.0 + Y * Y, 2.0))
