"""scipy.special's ufuncs a statistician differentiates: logistic, the gamma
family (incomplete gamma in x), error functions, the normal CDF, entropies and
divergences, the Huber losses, Box–Cox transforms (in x), SciPy's accurate
elementary functions (powm1, cosm1, expm1, log1p, exp10, exp2, cbrt, sindg,
cosdg), Bessel functions (in x).

They are ufuncs, so ``__array_ufunc__`` routes them like NumPy's; they are
defined with :func:`.elementwise.elementwise_op` (a diagonal Jacobian times the
broadcast selection).  Importing scipy.special costs about 25 ms, so
``import kronvec`` does not import this module: the first scipy.special ufunc
called on a traced value registers it (``elementwise.ufunc_on_demand``).
``scipy.special.softplus`` is a Python function calling ``np.logaddexp(0, x)``,
and ``psi`` is ``digamma``: both work through what is here and in NumPy's family.
``gammasgn`` is piecewise constant: a plain value, derivative 0.  The order ν of a
Bessel function and the shape a of the incomplete gamma function are parameters:
a traced value there is refused by name (``parameters=``).

Derivations: ``notes/derivatives.md`` §17 and §22.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as special

from . import _samples
from .._tracer import Node, compile_guard
from ._registry import Primitive, register, value_only_ufunc
from ._support import bind, decided, elementwise_jacobian, is_zero, loud, plain_value
from .elementwise import _uniform, elementwise_op
from .indexing import where_replayed

__all__ = ["expit", "logit", "log_expit", "xlogy", "xlog1py", "gammaln", "gamma", "digamma", "polygamma",
           "betaln", "beta", "rgamma", "gammainc", "gammaincc", "betainc", "betaincc", "stdtr",
           "erf", "erfc", "erfcx", "erfinv", "erfcinv", "ndtr", "ndtri", "log_ndtr", "entr", "rel_entr",
           "jv", "yv", "iv", "ive", "kv", "kve", "yn", "j0", "j1", "y0", "y1", "i0", "i1", "i0e", "i1e", "k0", "k1",
           "kl_div", "huber", "pseudo_huber", "boxcox", "boxcox1p", "inv_boxcox", "inv_boxcox1p", "powm1", "cosm1",
           "expm1", "log1p", "exp10", "exp2", "cbrt", "sindg", "cosdg"]

_TWO_OVER_ROOT_PI = 2.0 / math.sqrt(math.pi)
_ROOT_TWO_PI = math.sqrt(2.0 * math.pi)
_ROOT_TWO_OVER_PI, _ROOT_HALF = math.sqrt(2.0 / math.pi), math.sqrt(0.5)


def _special(numpy_ufunc, *derivatives, **definition):
    return elementwise_op(numpy_ufunc, *derivatives, spelling="scipy.special", **definition)


def _special_namesake(numpy_ufunc, *derivatives, **definition):
    """A scipy.special ufunc with a NumPy namesake (expm1, log1p, exp2, cbrt): registered as
    ``special.<name>``, named ``scipy.special.<name>`` in errors."""
    name = numpy_ufunc.__name__
    return _special(numpy_ufunc, *derivatives, name=f"special.{name}", public=f"scipy.special.{name}", **definition)


# ---------------------------------------------------------------- logistic
expit = _special(special.expit, lambda ans, x: ans * special.expit(-x), formula="diag(vec σ(X) ∘ σ(−X))",
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
    if isinstance(y, Node) and compile_guard(y) is not None:
        # a traced VJP in a recording made for replay (hvp): the zero test is recorded
        return x / bind(where_replayed, 1.0, y, decided(is_zero, y))
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

beta = _special(
    special.beta, lambda ans, a, b: ans * (digamma(a) - digamma(a + b)),
    lambda ans, a, b: ans * (digamma(b) - digamma(a + b)),
    formula="D_A = diag(vec beta(A, B) ∘ (ψ(A) − ψ(A + B)))·B_A, "
            "D_B = diag(vec beta(A, B) ∘ (ψ(B) − ψ(A + B)))·B_B",
    reference="B(a, b) = Γ(a)Γ(b)/Γ(a + b), so dB = B·d log B; DLMF 5.12.1", param_names=("A", "B"),
    samples=_samples.two_positive, fuzz=lambda Y, c: special.beta(1.0 + Y * Y, 2.0))
# (at the poles of Γ, x = 0, −1, …, 1/Γ is 0 and ψ infinite: the derivative 0·∞ is loud there)
rgamma = _special(special.rgamma, lambda ans, x: -(ans * digamma(x)), formula="−diag(vec ψ(X)/Γ(X))",
                  reference="d(1/Γ(x)) = −ψ(x)/Γ(x) dx; DLMF 5.2.2", samples=_uniform(0.5, 3.0),
                  edge_cases={"negative, not an integer": lambda rng: (np.array([[-0.5, -1.5], [-2.3, -3.7]]),)},
                  fuzz=lambda Y, c: special.rgamma(1.5 + np.tanh(Y)))
# sign Γ(x) is piecewise constant: a plain value, derivative 0 (notes/conventions.md §7)
value_only_ufunc(special.gammasgn)


def _gamma_density(a, x):
    """x^(a−1) e^(−x) / Γ(a), the derivative of P(a, x) in x, written in logs (x^(a−1) and
    Γ(a) may overflow where their ratio does not). xlogy makes 0^0 = 1 at a = 1, x = 0.

    x = 0 is the edge of the domain (P(a, x) is not defined for x < 0): the first
    derivative there is the one-sided one (0 for a > 1, 1 at a = 1, ∞ — loud — for
    a < 1); the second is refused, as (a − 1)/x is not finite there."""
    if isinstance(x, Node):  # (a decision on x: recorded where a compiled hvp replays it)
        decided(_refuse_gamma_edge, x)
    return np.exp(special.xlogy(a - 1.0, x) - x - special.gammaln(a))


def _refuse_gamma_edge(x):
    if np.any(np.asarray(x) == 0):
        raise ValueError("scipy.special.gammainc/gammaincc: no second derivative in x at x = 0, "
                         "the edge of their domain")
    return np.zeros(())


def _incomplete_gamma_samples(rng, n):
    return rng.uniform(0.5, 3.0, (1, n + 1)), rng.uniform(0.2, 4.0, (n, n + 1))



# (x = 0, the edge of the domain, has one-sided derivatives only, which central differences
# cannot check: tests/test_elementwise.py checks them)
_INCOMPLETE_GAMMA = dict(param_names=("a", "X"), parameters={0: "a"}, samples=_incomplete_gamma_samples,
                         edge_cases={"large a and x": lambda rng: (np.array([[30.0, 150.0]]),
                                                                  np.array([[25.0, 160.0], [33.0, 140.0]]))})
gammainc = _special(
    special.gammainc, None, lambda ans, a, x: _gamma_density(a, x),
    formula="D_X = diag(vec X^(a−1) e^(−X) / Γ(a))·B_X (not differentiated in a)",
    reference="P(a, x) = γ(a, x)/Γ(a), γ(a, x) = ∫₀ˣ t^(a−1) e^(−t) dt: DLMF 8.2.1, 8.2.4, §8.8",
    fuzz=lambda Y, c: special.gammainc(1.5, 0.5 + Y * Y), **_INCOMPLETE_GAMMA)
gammaincc = _special(
    special.gammaincc, None, lambda ans, a, x: -_gamma_density(a, x),
    formula="D_X = −diag(vec X^(a−1) e^(−X) / Γ(a))·B_X (not differentiated in a)",
    reference="Q(a, x) = 1 − P(a, x): DLMF 8.2.4, 8.2.1, §8.8",
    fuzz=lambda Y, c: special.gammaincc(1.5, 0.5 + Y * Y), **_INCOMPLETE_GAMMA)


def _beta_density(a, b, x):
    """x^(a−1)(1 − x)^(b−1)/B(a, b), the derivative of the regularized incomplete beta
    function I_x(a, b) in x, in logs. x = 0 and x = 1 are the edges of the domain: as for
    gammainc, one-sided first derivatives there and no second derivative."""
    if isinstance(x, Node):  # (a decision on x: recorded where a compiled hvp replays it)
        decided(_refuse_beta_edges, x)
    return np.exp(special.xlogy(a - 1.0, x) + special.xlog1py(b - 1.0, -x) - special.betaln(a, b))


def _refuse_beta_edges(x):
    edge = np.asarray(x)
    if np.any((edge == 0) | (edge == 1)):
        raise ValueError("scipy.special.betainc/betaincc: no second derivative in x at x = 0 or 1, "
                         "the edges of their domain")
    return np.zeros(())


def _incomplete_beta_samples(rng, n):
    return rng.uniform(0.5, 3.0, (1, n + 1)), rng.uniform(0.5, 3.0, (n, 1)), rng.uniform(0.1, 0.9, (n, n + 1))


_INCOMPLETE_BETA = dict(param_names=("a", "b", "X"), parameters={0: "a", 1: "b"}, samples=_incomplete_beta_samples,
                        edge_cases={"near the edges": lambda rng: (np.array([[0.7, 4.0]]), np.array([[2.5], [0.6]]),
                                                                   np.array([[0.01, 0.99], [0.03, 0.97]]))})
betainc = _special(
    special.betainc, None, None, lambda ans, a, b, x: _beta_density(a, b, x),
    formula="D_X = diag(vec X^(a−1)(1 − X)^(b−1) / B(a, b))·B_X (not differentiated in a, b)",
    reference="I_x(a, b) = ∫₀ˣ t^(a−1)(1 − t)^(b−1) dt / B(a, b): DLMF 8.17.1, 8.17.2",
    fuzz=lambda Y, c: special.betainc(1.5, 2.5, 0.5 + 0.4 * np.tanh(Y)), **_INCOMPLETE_BETA)
betaincc = _special(
    special.betaincc, None, None, lambda ans, a, b, x: -_beta_density(a, b, x),
    formula="D_X = −diag(vec X^(a−1)(1 − X)^(b−1) / B(a, b))·B_X (not differentiated in a, b)",
    reference="1 − I_x(a, b): DLMF 8.17.1, 8.17.2",
    fuzz=lambda Y, c: special.betaincc(1.5, 2.5, 0.5 + 0.4 * np.tanh(Y)), **_INCOMPLETE_BETA)


def _student_density(df, t):
    # Γ((ν + 1)/2) / (Γ(ν/2)√(νπ)) · (1 + t²/ν)^(−(ν + 1)/2), in logs, with log Γ((ν + 1)/2) − log Γ(ν/2)
    # as log poch(ν/2, ½), as SciPy's t._logpdf has it (the difference of the log Γ cancels as ν grows:
    # at ν = 1e12 the density was 2e-4 off); at ν = ∞ the normal density, as stdtr(∞, t) = Φ(t).
    # ν is a plain parameter; t may be traced (this is differentiated again for a Hessian).
    df = np.asarray(df)
    infinite = np.isposinf(df)
    nu = np.where(infinite, 1.0, df) if infinite.any() else df
    finite = np.exp(np.log(special.poch(0.5 * nu, 0.5)) - 0.5 * np.log(nu * math.pi)
                    - 0.5 * (nu + 1.0) * np.log1p(t * t / nu))
    return np.where(infinite, np.exp(-0.5 * (t * t)) / _ROOT_TWO_PI, finite) if infinite.any() else finite


stdtr = _special(
    special.stdtr, None, lambda ans, df, t: _student_density(df, t), param_names=("ν", "T"), parameters={0: "df"},
    formula="D_T = diag(vec f_ν(T))·B_T, f_ν the density of Student's t (not differentiated in ν)",
    reference="stdtr(ν, t) = ∫_(−∞)^t f_ν, the CDF of Student's t (SciPy docs for scipy.special.stdtr)",
    samples=lambda rng, n: (rng.uniform(1.0, 10.0, (1, n + 1)), rng.standard_normal((n, n + 1))),
    edge_cases={"tails": lambda rng: (np.array([[1.0, 3.5]]), np.array([[-40.0, 25.0], [300.0, -6.0]]))},
    fuzz=lambda Y, c: special.stdtr(3.0, Y))

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
# erfcx(x) = e^(x²) erfc(x): d erfcx = 2x·e^(x²) erfc(x) dx − (2/√π) dx.  (For x ≫ 1 the two terms
# nearly cancel — erfcx′(x) ≈ −1/(√π x²) — so the derivative keeps a relative accuracy of about eps·x²;
# erfcx overflows below x ≈ −26.6, where the value and the derivative are refused as not finite.)
erfcx = _special(special.erfcx, lambda ans, x: 2.0 * x * ans - _TWO_OVER_ROOT_PI,
                 formula="diag(vec 2X ∘ erfcx(X) − 2/√π)",
                 reference="erfcx(x) = e^(x²) erfc(x); d erfcx = (2x erfcx(x) − 2/√π) dx; DLMF 7.2.3, 7.10",
                 fuzz=lambda Y, c: special.erfcx(Y),
                 edge_cases={"large positive, moderately negative": lambda rng: (
                     np.array([[30.0, -5.0], [7.5, -9.0]]),)})
erfinv = _special(special.erfinv, lambda ans, x: np.exp(ans * ans) / _TWO_OVER_ROOT_PI,
                  formula="diag(vec (√π/2) e^(erfinv(X)²))", reference="inverse function rule on d erf = (2/√π)e^(−y²) dy",
                  samples=_samples.one_bounded, fuzz=lambda Y, c: special.erfinv(0.9 * np.tanh(Y)))
erfcinv = _special(special.erfcinv, lambda ans, x: -np.exp(ans * ans) / _TWO_OVER_ROOT_PI,
                   formula="−diag(vec (√π/2) e^(erfcinv(X)²))",
                   reference="inverse function rule on d erfc = −(2/√π)e^(−y²) dy", samples=_uniform(0.1, 1.9),
                   fuzz=lambda Y, c: special.erfcinv(1.0 + 0.9 * np.tanh(Y)))
ndtr = _special(special.ndtr, lambda ans, x: _gaussian(x / math.sqrt(2.0), 1.0 / _ROOT_TWO_PI),
                formula="diag(vec φ(X)), φ the standard normal density",
                reference="dΦ(x) = φ(x) dx; SciPy docs for scipy.special.ndtr", fuzz=lambda Y, c: special.ndtr(Y),
                entire=True, loud_value=False)
ndtri = _special(special.ndtri, lambda ans, x: _ROOT_TWO_PI * np.exp(0.5 * (ans * ans)),
                 formula="diag(vec 1/φ(Φ⁻¹(X)))", reference="inverse function rule: dΦ⁻¹(p) = dp / φ(Φ⁻¹(p))",
                 samples=_uniform(0.1, 0.9), fuzz=lambda Y, c: special.ndtri(0.5 + 0.4 * np.tanh(Y)))
# φ(x)/Φ(x) = √(2/π)/erfcx(−x/√2) (erfcx(z) = e^{z²} erfc z, 2Φ(x) = erfc(−x/√2)): no underflow in
# the far left tail, where exp(−x²/2 − log Φ(x)) cancels two numbers of size x²/2 (1 % off at x = −1e7)
log_ndtr = _special(special.log_ndtr, lambda ans, x: _ROOT_TWO_OVER_PI / special.erfcx(x * -_ROOT_HALF),
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


# ------------------------------------------- robust losses, divergences, transforms
# kl_div(x, y) = x log(x/y) − x + y: ∂x = log(x/y), ∂y = 1 − x/y (0 where x = 0: there the
# value is y for every y ≥ 0, SciPy's convention).  huber(δ, r) = r²/2 for |r| ≤ δ, else
# δ(|r| − δ/2): ∂r = clip(r, −δ, δ), ∂δ = |r| − δ outside the quadratic zone and 0 in it —
# both continuous at |r| = δ, so only the second derivative has a kink there (½ in r, np.clip's
# rule at a bound, conventions.md §7).  pseudo_huber(δ, r) = δ²(s − 1),
# s = √(1 + (r/δ)²): ∂r = r/s, ∂δ = 2δ(s − 1) − r²/(δs).
def _kl_div_in_y(ans, x, y):
    return 1.0 - _ratio_where_defined(x, y)


def _huber_in_delta(ans, delta, r):
    magnitude = np.abs(r)
    return np.where(magnitude <= delta, 0.0, magnitude - delta)


def _pseudo_huber_root(delta, r):
    ratio = r / delta
    return np.sqrt(1.0 + ratio * ratio)


def _pseudo_huber_in_delta(ans, delta, r):
    root = _pseudo_huber_root(delta, r)
    return 2.0 * delta * (root - 1.0) - (r * r) / (delta * root)


def _two_mixed_signs(rng, n):
    return rng.uniform(0.5, 2.0, (1, n + 1)), 2.0 * rng.standard_normal((n, n + 1))


kl_div = _special(
    special.kl_div, lambda ans, x, y: np.log(x) - np.log(y), _kl_div_in_y,
    formula="D_X = diag(vec log X − log Y)·B_X, D_Y = diag(vec 1 − X/Y)·B_Y (1 where X = 0)",
    reference="d(x log(x/y) − x + y) = log(x/y) dx + (1 − x/y) dy; SciPy docs for scipy.special.kl_div",
    samples=_samples.two_positive, fuzz=lambda Y, c: special.kl_div(1.0 + Y * Y, 2.0))
huber = _special(
    special.huber, _huber_in_delta, lambda ans, delta, r: np.clip(r, -delta, delta),
    formula="D_δ = diag(vec (|R| − δ)·[|R| > δ])·B_δ, D_R = diag(vec clip(R, −δ, δ))·B_R",
    reference="Huber (1964), the loss ρ_δ; SciPy docs for scipy.special.huber",
    param_names=("δ", "R"), samples=_two_mixed_signs,
    # (no edge case at |r| = δ: the second derivative jumps there, which central differences
    # cannot check; tests/test_elementwise.py checks both orders there)
    fuzz=lambda Y, c: special.huber(1.0, Y))
pseudo_huber = _special(
    special.pseudo_huber, _pseudo_huber_in_delta, lambda ans, delta, r: r / _pseudo_huber_root(delta, r),
    formula="D_δ = diag(vec 2δ(S − 1) − R²/(δS))·B_δ, D_R = diag(vec R/S)·B_R, S = √(1 + (R/δ)²)",
    reference="the pseudo-Huber loss δ²(√(1 + (r/δ)²) − 1) (Charbonnier et al. 1997); SciPy docs for "
              "scipy.special.pseudo_huber",
    param_names=("δ", "R"), samples=_two_mixed_signs, fuzz=lambda Y, c: special.pseudo_huber(1.5, Y))

# Box–Cox: boxcox(x, λ) = (x^λ − 1)/λ (log x at λ = 0), ∂x = x^(λ−1); the inverse
# y ↦ (λy + 1)^(1/λ) (eʸ at λ = 0) has ∂y = inv_boxcox(y, λ)/(1 + λy).  λ is a parameter.
_BOX_COX = dict(param_names=("X", "λ"), parameters={1: "lmbda"})
boxcox = _special(
    special.boxcox, lambda ans, x, lmbda: np.exp((lmbda - 1.0) * np.log(x)), None,
    formula="D_X = diag(vec X^(λ−1))·B_X (not differentiated in λ)",
    reference="d (x^λ − 1)/λ = x^(λ−1) dx (Box & Cox 1964); SciPy docs for scipy.special.boxcox",
    samples=lambda rng, n: (rng.uniform(0.5, 3.0, (n, n + 1)), rng.uniform(-1.0, 2.0, (1, n + 1))),
    edge_cases={"λ = 0 (the logarithm)": lambda rng: (np.array([[0.5, 2.0], [3.0, 0.7]]), np.array([[0.0, 0.0]]))},
    fuzz=lambda Y, c: special.boxcox(1.0 + Y * Y, 0.5), **_BOX_COX)
boxcox1p = _special(
    special.boxcox1p, lambda ans, x, lmbda: np.exp((lmbda - 1.0) * np.log1p(x)), None,
    formula="D_X = diag(vec (1 + X)^(λ−1))·B_X (not differentiated in λ)",
    reference="boxcox1p(x, λ) = boxcox(1 + x, λ); SciPy docs for scipy.special.boxcox1p",
    samples=lambda rng, n: (rng.uniform(-0.5, 2.0, (n, n + 1)), rng.uniform(-1.0, 2.0, (1, n + 1))),
    edge_cases={"λ = 0 (log1p)": lambda rng: (np.array([[-0.5, 2.0], [3.0, 0.0]]), np.array([[0.0, 0.0]]))},
    fuzz=lambda Y, c: special.boxcox1p(Y * Y, 0.5), **_BOX_COX)
inv_boxcox = _special(
    special.inv_boxcox, lambda ans, y, lmbda: ans / (1.0 + lmbda * y), None,
    formula="D_Y = diag(vec inv_boxcox(Y, λ)/(1 + λY))·B_Y (not differentiated in λ)",
    reference="the inverse function rule on boxcox: dx = x^(1−λ) dy = x/(1 + λy) dy; SciPy docs",
    samples=lambda rng, n: (rng.uniform(-0.5, 2.0, (n, n + 1)), rng.uniform(-0.4, 1.5, (1, n + 1))),
    edge_cases={"λ = 0 (the exponential)": lambda rng: (np.array([[-0.5, 2.0], [1.0, 0.3]]), np.array([[0.0, 0.0]]))},
    fuzz=lambda Y, c: special.inv_boxcox(np.tanh(Y), 0.5), **_BOX_COX)
inv_boxcox1p = _special(
    special.inv_boxcox1p, lambda ans, y, lmbda: (1.0 + ans) / (1.0 + lmbda * y), None,
    formula="D_Y = diag(vec (1 + inv_boxcox1p(Y, λ))/(1 + λY))·B_Y (not differentiated in λ)",
    reference="inv_boxcox1p(y, λ) = inv_boxcox(y, λ) − 1; SciPy docs for scipy.special.inv_boxcox1p",
    samples=lambda rng, n: (rng.uniform(-0.5, 2.0, (n, n + 1)), rng.uniform(-0.4, 1.5, (1, n + 1))),
    edge_cases={"λ = 0 (expm1)": lambda rng: (np.array([[-0.5, 2.0], [1.0, 0.3]]), np.array([[0.0, 0.0]]))},
    fuzz=lambda Y, c: special.inv_boxcox1p(np.tanh(Y), 0.5), **_BOX_COX)

# SciPy's accurate elementary functions (ufuncs of their own, beside NumPy's)
powm1 = _special(
    special.powm1, lambda ans, x, y: y * np.exp((y - 1.0) * np.log(x)), lambda ans, x, y: (ans + 1.0) * np.log(x),
    formula="D_X = diag(vec Y ∘ X^(Y−1))·B_X, D_Y = diag(vec X^Y ∘ log X)·B_Y",
    reference="d(x^y − 1) = y x^(y−1) dx + x^y log x dy; SciPy docs for scipy.special.powm1",
    param_names=("X", "Y"), samples=lambda rng, n: (rng.uniform(0.5, 2.0, (n, n + 1)), rng.uniform(-1.0, 2.0, (1, n + 1))),
    fuzz=lambda Y, c: special.powm1(1.0 + Y * Y, 0.5))
cosm1 = _special(special.cosm1, lambda ans, x: -np.sin(x), formula="−diag(vec sin X)",
                 reference="d(cos x − 1) = −sin x dx; SciPy docs for scipy.special.cosm1",
                 fuzz=lambda Y, c: special.cosm1(Y), entire=True, loud_value=False, loud_derivatives=False)
expm1 = _special_namesake(special.expm1, lambda ans, x: ans + 1.0, formula="diag(vec e^X)",
                 reference="d(eˣ − 1) = eˣ dx; SciPy docs for scipy.special.expm1",
                 fuzz=lambda Y, c: special.expm1(Y), entire=True)
log1p = _special_namesake(special.log1p, lambda ans, x: 1.0 / (1.0 + x), formula="diag(vec 1/(1 + X))",
                 reference="d log(1 + x) = dx/(1 + x); SciPy docs for scipy.special.log1p",
                 samples=_uniform(-0.5, 2.0), fuzz=lambda Y, c: special.log1p(Y * Y))
exp10 = _special(special.exp10, lambda ans, x: math.log(10.0) * ans, formula="diag(vec ln 10 · 10^X)",
                 reference="d 10ˣ = ln 10 · 10ˣ dx; SciPy docs for scipy.special.exp10",
                 fuzz=lambda Y, c: special.exp10(Y), entire=True)
exp2 = _special_namesake(special.exp2, lambda ans, x: math.log(2.0) * ans, formula="diag(vec ln 2 · 2^X)",
                reference="d 2ˣ = ln 2 · 2ˣ dx; SciPy docs for scipy.special.exp2",
                fuzz=lambda Y, c: special.exp2(Y), entire=True)
cbrt = _special_namesake(special.cbrt, lambda ans, x: 1.0 / (3.0 * ans * ans), formula="diag(vec 1/(3 ∛X²))",
                reference="d x^(1/3) = dx / (3 x^(2/3)); SciPy docs for scipy.special.cbrt",
                samples=_uniform(0.5, 2.0), fuzz=lambda Y, c: special.cbrt(1.0 + Y * Y))
_DEGREE = math.pi / 180.0
sindg = _special(special.sindg, lambda ans, x: _DEGREE * special.cosdg(x), formula="diag(vec (π/180) cos°(X))",
                 reference="d sin(πx/180) = (π/180) cos(πx/180) dx; SciPy docs for scipy.special.sindg",
                 samples=_uniform(-200.0, 200.0), fuzz=lambda Y, c: special.sindg(90.0 * Y), entire=True,
                 loud_value=False)
cosdg = _special(special.cosdg, lambda ans, x: -_DEGREE * special.sindg(x), formula="−diag(vec (π/180) sin°(X))",
                 reference="d cos(πx/180) = −(π/180) sin(πx/180) dx; SciPy docs for scipy.special.cosdg",
                 samples=_uniform(-200.0, 200.0), fuzz=lambda Y, c: special.cosdg(90.0 * Y), entire=True,
                 loud_value=False)


# ------------------------------------------------------------ Bessel functions
# Differentiated in x; the order is a parameter (a traced order is refused by name).
# DLMF 10.6.1: 2C′_ν = C_(ν−1) − C_(ν+1) for C = J, Y; DLMF 10.29.1: 2I′_ν = I_(ν−1) + I_(ν+1),
# 2K′_ν = −(K_(ν−1) + K_(ν+1)). Each derivative is written with the functions themselves,
# so every order follows. The scaled ive = I·e^(−|x|), kve = K·eˣ add the derivative of
# their factor: −sign(x)·ive (subgradient 0 at x = 0, as |x|) and +kve.
def _orders(low, high):
    return lambda rng, n: (rng.uniform(low, high, (1, n + 1)), rng.uniform(0.5, 3.0, (n, n + 1)))


def _integer_orders(rng, n):
    return rng.integers(0, 4, (1, n + 1)), rng.uniform(0.5, 3.0, (n, n + 1))


def _at(orders, x):
    return lambda rng: (np.array([orders], dtype=np.float64), np.array(x, dtype=np.float64))


_INTEGER_ORDERS_AT_ZERO = {
    "x = 0 at integer orders": _at([0.0, 1.0, 2.0, 3.0], [[0.0, 0.0, 0.0, 0.0], [0.3, -0.7, 1.1, 2.0]])}
_INTEGER_ORDERS_NEGATIVE_X = {"x < 0 at integer orders": _at([0.0, 1.0, 2.0, -1.0], [[-0.6, -1.3, -2.2, -3.0]])}


def _bessel(numpy_ufunc, derivative, formula, reference, samples=_orders(0.2, 2.5), parameter="v", **options):
    return _special(numpy_ufunc, None, derivative, formula=formula, reference=reference, samples=samples,
                    param_names=("ν", "X"), parameters={0: parameter}, **options)


jv = _bessel(special.jv, lambda ans, v, x: 0.5 * (special.jv(v - 1.0, x) - special.jv(v + 1.0, x)),
             formula="D_X = diag(vec (J_(ν−1)(X) − J_(ν+1)(X))/2)·B_X", reference="DLMF 10.6.1",
             edge_cases={**_INTEGER_ORDERS_AT_ZERO, **_INTEGER_ORDERS_NEGATIVE_X},
             fuzz=lambda Y, c: special.jv(1.5, 1.0 + Y * Y))  # also scipy.special.jn (the same ufunc)
yv = _bessel(special.yv, lambda ans, v, x: 0.5 * (special.yv(v - 1.0, x) - special.yv(v + 1.0, x)),
             formula="D_X = diag(vec (Y_(ν−1)(X) − Y_(ν+1)(X))/2)·B_X", reference="DLMF 10.6.1",
             fuzz=lambda Y, c: special.yv(1.5, 1.0 + Y * Y))
def _signed(n):
    """An integer order as a signed integer: n − 1 of an unsigned n = 0 would wrap around to 255."""
    n = np.asarray(n)
    return n.astype(np.int64) if n.dtype.kind in "ub" else n


yn = _bessel(special.yn, lambda ans, n, x: 0.5 * (special.yn(_signed(n) - 1, x) - special.yn(_signed(n) + 1, x)),
             formula="D_X = diag(vec (Y_(n−1)(X) − Y_(n+1)(X))/2)·B_X", reference="DLMF 10.6.1",
             samples=_integer_orders, parameter="n", fuzz=lambda Y, c: special.yn(2, 1.0 + Y * Y))
iv = _bessel(special.iv, lambda ans, v, x: 0.5 * (special.iv(v - 1.0, x) + special.iv(v + 1.0, x)),
             formula="D_X = diag(vec (I_(ν−1)(X) + I_(ν+1)(X))/2)·B_X", reference="DLMF 10.29.1",
             edge_cases={**_INTEGER_ORDERS_AT_ZERO, **_INTEGER_ORDERS_NEGATIVE_X},
             fuzz=lambda Y, c: special.iv(1.5, 1.0 + Y * Y))
ive = _bessel(special.ive,
              lambda ans, v, x: 0.5 * (special.ive(v - 1.0, x) + special.ive(v + 1.0, x)) - np.sign(x) * ans,
              formula="D_X = diag(vec (ive_(ν−1)(X) + ive_(ν+1)(X))/2 − sign(X) ∘ ive_ν(X))·B_X",
              reference="ive_ν(x) = I_ν(x)e^(−|x|); DLMF 10.29.1",
              edge_cases={**_INTEGER_ORDERS_NEGATIVE_X,
                          "large x (I_ν overflows, ive does not)": _at([0.5, 1.0, 2.5], [[750.0, 900.0, 1200.0]])},
              fuzz=lambda Y, c: special.ive(1.5, 1.0 + Y * Y))
kv = _bessel(special.kv, lambda ans, v, x: -0.5 * (special.kv(v - 1.0, x) + special.kv(v + 1.0, x)),
             formula="D_X = −diag(vec (K_(ν−1)(X) + K_(ν+1)(X))/2)·B_X", reference="DLMF 10.29.1",
             fuzz=lambda Y, c: special.kv(1.5, 1.0 + Y * Y))
kve = _bessel(special.kve, lambda ans, v, x: ans - 0.5 * (special.kve(v - 1.0, x) + special.kve(v + 1.0, x)),
              formula="D_X = diag(vec kve_ν(X) − (kve_(ν−1)(X) + kve_(ν+1)(X))/2)·B_X",
              reference="kve_ν(x) = K_ν(x)eˣ; DLMF 10.29.1",
              edge_cases={"large x (K_ν underflows, kve does not)": _at([0.5, 1.0, 2.5], [[750.0, 900.0, 1200.0]])},
              fuzz=lambda Y, c: special.kve(1.5, 1.0 + Y * Y))

# orders 0 and 1: DLMF 10.6.3 (J₀′ = −J₁, Y₀′ = −Y₁), 10.29.3 (I₀′ = I₁, K₀′ = −K₁);
# order 1 by 10.6.1/10.29.1
_POSITIVE = _uniform(0.5, 3.0)
j0 = _special(special.j0, lambda ans, x: -special.j1(x), formula="−diag(vec J₁(X))", reference="DLMF 10.6.3",
              fuzz=lambda Y, c: special.j0(Y), entire=True, loud_value=False,
              edge_cases={"at and around 0": lambda rng: (np.array([[0.0, -1.5], [2.5, -4.0]]),)})
j1 = _special(special.j1, lambda ans, x: 0.5 * (special.j0(x) - special.jv(2.0, x)),
              formula="diag(vec (J₀(X) − J₂(X))/2)", reference="DLMF 10.6.1", fuzz=lambda Y, c: special.j1(Y),
              entire=True, loud_value=False,
              edge_cases={"at and around 0": lambda rng: (np.array([[0.0, -1.5], [2.5, -4.0]]),)})
y0 = _special(special.y0, lambda ans, x: -special.y1(x), formula="−diag(vec Y₁(X))", reference="DLMF 10.6.3",
              samples=_POSITIVE, fuzz=lambda Y, c: special.y0(1.0 + Y * Y))
y1 = _special(special.y1, lambda ans, x: 0.5 * (special.y0(x) - special.yn(2, x)),
              formula="diag(vec (Y₀(X) − Y₂(X))/2)", reference="DLMF 10.6.1", samples=_POSITIVE,
              fuzz=lambda Y, c: special.y1(1.0 + Y * Y))
i0 = _special(special.i0, lambda ans, x: special.i1(x), formula="diag(vec I₁(X))", reference="DLMF 10.29.3",
              fuzz=lambda Y, c: special.i0(Y), entire=True,
              edge_cases={"at and around 0": lambda rng: (np.array([[0.0, -1.5], [2.5, -4.0]]),)})
i1 = _special(special.i1, lambda ans, x: 0.5 * (special.i0(x) + special.iv(2.0, x)),
              formula="diag(vec (I₀(X) + I₂(X))/2)", reference="DLMF 10.29.1", fuzz=lambda Y, c: special.i1(Y),
              entire=True, edge_cases={"at and around 0": lambda rng: (np.array([[0.0, -1.5], [2.5, -4.0]]),)})
i0e = _special(special.i0e, lambda ans, x: special.i1e(x) - np.sign(x) * ans,
               formula="diag(vec i1e(X) − sign(X) ∘ i0e(X))",
               reference="i0e(x) = I₀(x)e^(−|x|); DLMF 10.29.3", fuzz=lambda Y, c: special.i0e(1.0 + Y * Y),
               loud_value=False,
               edge_cases={"negative and large": lambda rng: (np.array([[-0.7, -2.5], [750.0, -1200.0]]),)})
i1e = _special(special.i1e, lambda ans, x: 0.5 * (special.i0e(x) + special.ive(2.0, x)) - np.sign(x) * ans,
               formula="diag(vec (i0e(X) + ive₂(X))/2 − sign(X) ∘ i1e(X))",
               reference="i1e(x) = I₁(x)e^(−|x|); DLMF 10.29.1", fuzz=lambda Y, c: special.i1e(1.0 + Y * Y),
               loud_value=False,
               edge_cases={"negative and large": lambda rng: (np.array([[-0.7, -2.5], [750.0, -1200.0]]),)})
k0 = _special(special.k0, lambda ans, x: -special.k1(x), formula="−diag(vec K₁(X))", reference="DLMF 10.29.3",
              samples=_POSITIVE, fuzz=lambda Y, c: special.k0(1.0 + Y * Y))
k1 = _special(special.k1, lambda ans, x: -0.5 * (special.k0(x) + special.kv(2.0, x)),
              formula="−diag(vec (K₀(X) + K₂(X))/2)", reference="DLMF 10.29.1", samples=_POSITIVE,
              fuzz=lambda Y, c: special.k1(1.0 + Y * Y))
