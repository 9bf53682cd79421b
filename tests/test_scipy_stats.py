"""kronvec.scipy.stats (issue 12): norm, t, chi2, gamma, beta, expon, laplace,
logistic, cauchy, uniform, lognorm, poisson, multivariate_normal, dirichlet.

Values against scipy.stats (1e-12, also outside the support and at SciPy's
shapes), derivatives against finite differences in every mode and in every
argument a function is differentiated in (tests/_scipy_helpers.py), parameters
that are not differentiated refused by name, SciPy's argument errors, and a
traced value reaching scipy.stats naming the kronvec.scipy counterpart.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats as st

import kronvec
import kronvec.scipy.stats as ks

from _scipy_helpers import check_derivatives

RNG = np.random.default_rng(23)
U = RNG.uniform(0.15, 0.85, (2, 3))       # inside (0, 1)
X = RNG.standard_normal((2, 3))
POSITIVE = RNG.uniform(0.5, 3.0, (2, 3))
EDGES = np.array([-40.0, -1.5, -0.0, 0.0, 0.25, 0.5, np.log(2.0), 0.9, 1.0, 1.5, 40.0])


def _agree(ours, theirs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (−∞ entries: log 0 in SciPy's and ours)
        ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300)


# (distribution, function, args as SciPy takes them, positions differentiated)
CONTINUOUS = [
    ("norm", f, (X, 0.3, 1.7), (0, 1, 2)) for f in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf")
] + [
    ("norm", f, (U, 0.3, 1.7), (0, 1, 2)) for f in ("ppf", "isf")
] + [
    ("t", f, (X, 3.5, 0.3, 1.7), (0, 1, 2, 3)) for f in ("pdf", "logpdf")
] + [
    ("t", f, (X, 3.5, 0.3, 1.7), (0, 2, 3)) for f in ("cdf", "logcdf", "sf", "logsf")
] + [
    ("chi2", f, (POSITIVE, 3.5, -0.2, 1.3), (0, 1, 2, 3)) for f in ("pdf", "logpdf")
] + [
    ("chi2", f, (POSITIVE, 3.5, -0.2, 1.3), (0, 2, 3)) for f in ("cdf", "logcdf", "sf", "logsf")
] + [
    ("gamma", f, (POSITIVE, 2.5, -0.2, 1.3), (0, 1, 2, 3)) for f in ("pdf", "logpdf")
] + [
    ("gamma", f, (POSITIVE, 2.5, -0.2, 1.3), (0, 2, 3)) for f in ("cdf", "logcdf", "sf", "logsf")
] + [
    ("beta", f, (U, 2.5, 1.5, -0.05, 1.1), (0, 1, 2, 3, 4)) for f in ("pdf", "logpdf")
] + [
    ("beta", f, (U, 2.5, 1.5, -0.05, 1.1), (0, 3, 4)) for f in ("cdf", "logcdf", "sf", "logsf")
] + [
    (d, f, (POSITIVE, 0.3, 1.7) if d == "expon" else (U, 0.1, 1.2) if d == "uniform" else (X, 0.3, 1.7), (0, 1, 2))
    for d in ("expon", "laplace", "logistic", "cauchy", "uniform")
    for f in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf")
] + [
    (d, f, (U, 0.3, 1.7), (0, 1, 2)) for d in ("expon", "laplace", "logistic", "cauchy", "uniform") for f in ("ppf", "isf")
] + [
    ("lognorm", f, (POSITIVE, 0.8, -0.2, 1.3), (0, 1, 2, 3)) for f in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf")
] + [
    ("lognorm", f, (U, 0.8, -0.2, 1.3), (0, 1, 2, 3)) for f in ("ppf", "isf")
] + [
    ("poisson", f, (np.array([[0, 1, 4], [2, 7, 3]]), 2.3), (1,)) for f in ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf")
]


@pytest.mark.parametrize("distribution, function, args, positions", CONTINUOUS,
                         ids=[f"{d}.{f}" for d, f, _, _ in CONTINUOUS])
def test_values_match_scipy_and_derivatives_match_finite_differences(distribution, function, args, positions):
    ours, theirs = getattr(getattr(ks, distribution), function), getattr(getattr(st, distribution), function)
    _agree(ours(*args), theirs(*args))
    for position in positions:
        check_derivatives(ours, args, position, what=f"{distribution}.{function}")


def _in_float32(args):
    return tuple(np.float32(a) if isinstance(a, float) else a.astype(np.float32)
                 if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args)


@pytest.mark.parametrize("distribution, function, args, positions", CONTINUOUS,
                         ids=[f"{d}.{f}" for d, f, _, _ in CONTINUOUS])
def test_float32_arguments_give_scipys_float64(distribution, function, args, positions):
    # SciPy returns float64 for float32 x, loc and scale (np.promote_types(x.dtype, np.float64));
    # kronvec's were float32 when loc and scale were float32 too.  The values agree to float32
    # rounding, not 1e-12: SciPy forms z = (x − loc)/scale in float32 before widening it (and a
    # quantile wholly in float32), kronvec computes in float64 from the start
    ours, theirs = getattr(getattr(ks, distribution), function), getattr(getattr(st, distribution), function)
    args = _in_float32(args)
    expected = np.asarray(theirs(*args))
    plain = np.asarray(ours(*args))
    assert plain.dtype == expected.dtype
    np.testing.assert_allclose(plain, expected, rtol=2e-6)
    for position in positions:
        traced = np.asarray(kronvec.vjp(lambda a: ours(*args[:position], a, *args[position + 1:]), args[position])[0])
        assert traced.dtype == expected.dtype, f"traced in argument {position}"
        np.testing.assert_allclose(traced, plain, rtol=1e-12)  # (the same computation, recorded)


def test_multivariate_normal_of_float32_gives_scipys_float64():
    x, mean, cov = X.astype(np.float32), np.float32([0.1, -0.2, 0.3]), (np.eye(3) + 0.25).astype(np.float32)
    for function in ("logpdf", "pdf"):
        expected = getattr(st.multivariate_normal, function)(x, mean, cov)
        for position, arg in enumerate((x, mean, cov)):
            args = [x, mean, cov]
            traced = kronvec.vjp(lambda a: getattr(ks.multivariate_normal, function)(
                *args[:position], a, *args[position + 1:]), arg)[0]
            assert np.asarray(traced).dtype == expected.dtype == np.float64
            np.testing.assert_allclose(traced, expected, rtol=1e-12)  # (SciPy widens the inputs first)


@pytest.mark.parametrize("distribution, function, args", [
    ("chi2", "pdf", (np.array([-1.0, 0.0, 2.0]), 2.0)), ("chi2", "logpdf", (np.array([-1.0, 0.0, 2.0]), 2.0)),
    ("chi2", "cdf", (np.array([-1.0, 0.0, 2.0]), 3.0)), ("chi2", "sf", (np.array([-1.0, 0.0, 2.0]), 3.0)),
    ("gamma", "pdf", (np.array([-1.0, 0.0, 2.0]), 1.0)), ("gamma", "logpdf", (np.array([-1.0, 0.0, 2.0]), 1.0)),
    ("gamma", "logcdf", (np.array([-1.0, 0.0, 2.0]), 2.0)), ("gamma", "sf", (np.array([-1.0, 0.0, 2.0]), 2.0)),
    ("beta", "pdf", (np.array([-0.5, 0.0, 0.5, 1.0, 1.5]), 1.0, 1.0)),
    ("beta", "logpdf", (np.array([-0.5, 0.0, 0.5, 1.0, 1.5]), 2.0, 1.0)),
    ("beta", "cdf", (np.array([-0.5, 0.0, 0.5, 1.0, 1.5]), 2.0, 3.0)),
    ("beta", "sf", (np.array([-0.5, 0.0, 0.5, 1.0, 1.5]), 2.0, 3.0)),
    ("poisson", "pmf", (np.array([-1.0, 0.0, 2.5, 3.0]), 2.0)), ("poisson", "logpmf", (np.array([-1.0, 0.0, 2.5, 3.0]), 2.0)),
    ("poisson", "cdf", (np.array([-1.0, 0.0, 2.5, 3.0]), 2.0)), ("poisson", "sf", (np.array([-1.0, 2.5, 3.0]), 2.0)),
    ("poisson", "logpmf", (np.array([0.0, 2.0]), 0.0)), ("norm", "logpdf", (np.array([0.5, 1e200]), 0.0, 1e-200)),
] + [
    # both sides of the support, its edges, the median where log F and log S switch formulas, and
    # the tails where they matter (log F of expon at z = 40 is −4e-18, not 0)
    (d, f, (EDGES, 0.0, 1.0)) for d in ("expon", "laplace", "logistic", "cauchy", "uniform")
    for f in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf")
] + [
    ("lognorm", f, (EDGES, 0.7)) for f in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf")
] + [
    ("cauchy", "logpdf", (np.array([-1e200, -1.0, 1.0, 3e160]), 0.0, 1.0)),
], ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (z² overflows to inf in SciPy's norm.logpdf and ours alike)
def test_values_outside_the_support_and_at_its_edges_match_scipy(distribution, function, args):
    _agree(getattr(getattr(ks, distribution), function)(*args), getattr(getattr(st, distribution), function)(*args))


@pytest.mark.parametrize("a", [2.5, 3.0, 7.0, np.array([3.0, 2.5, 4.0])], ids=["2.5", "3", "7", "array"])
def test_gamma_density_at_zero_with_a_above_two_is_zero_with_derivative_zero(a):
    # refused before (xlogy(a − 1, 0) = −∞ in the log-density): z^(a−1)e^(−z)/Γ(a) and its
    # derivative in z and in a all vanish at z = 0 when a > 2 (for 1 < a ≤ 2 the derivative
    # from the right is 1 or ∞: still refused)
    x = np.array([0.0, 0.5, 2.0])
    value = ks.gamma.pdf(x, a, scale=1.5)
    _agree(value, st.gamma.pdf(x, a, scale=1.5))
    J = kronvec.jacobian(lambda x: ks.gamma.pdf(x, a, scale=1.5))(x).toarray()
    h = 1e-6
    fd = (st.gamma.pdf(x + h, a, scale=1.5) - st.gamma.pdf(x - h, a, scale=1.5)) / (2 * h)
    assert J[0, 0] == 0.0
    np.testing.assert_allclose(np.diag(J)[1:], fd[1:], rtol=1e-7)
    da = kronvec.jacobian(lambda a: ks.gamma.pdf(x, a, scale=1.5))(np.asarray(a, dtype=float)).toarray()
    assert np.all(da[0] == 0.0)
    with pytest.raises(ValueError, match="xlogy"):
        kronvec.grad(lambda y: np.sum(ks.gamma.pdf(y, 1.5)))(x)


@pytest.mark.parametrize("a, b", [(2.0, 3.0), (1e4, 1e4), (1e6, 1e6), (0.5, 2.0), (3e5, 20.0)])
def test_beta_density_is_scipys_at_any_shape(a, b):
    # exp(logpdf) was 12,000 ulps off at a = b = 1e4 and 1e-9 relative at 1e6 (the log-density's
    # terms cancel): the density is SciPy's own, its derivatives f·∂log f
    mean, sd = a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
    x = mean + sd * np.array([-0.8, 0.2, 1.0])  # (where the density lives, inside (0, 1))
    np.testing.assert_array_equal(ks.beta.pdf(x, a, b, loc=0.0, scale=1.0), st.beta.pdf(x, a, b))
    J = kronvec.jacobian(lambda z: ks.beta.pdf(z, a, b))(x).toarray()
    h = 1e-4 * sd
    fd = (st.beta.pdf(x + h, a, b) - st.beta.pdf(x - h, a, b)) / (2 * h)
    np.testing.assert_allclose(np.diag(J), fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())
    for position, shape in ((1, a), (2, b)):
        def f(s, position=position):
            shapes = [a, b]
            shapes[position - 1] = s
            return np.sum(ks.beta.pdf(x, *shapes))

        def scipy_f(s, position=position):
            shapes = [a, b]
            shapes[position - 1] = s
            return np.sum(st.beta.pdf(x, *shapes))

        # (a step of 1e-5·shape is 1.6e-5 off at a = b = 1e6 by truncation: the density narrows as
        # the shapes grow; at 1e-7 both errors are below 1e-8 here; mpmath at 50 digits agrees
        # with kronvec to 2e-11)
        step = 1e-7 * shape
        fd_shape = (scipy_f(shape + step) - scipy_f(shape - step)) / (2 * step)
        np.testing.assert_allclose(kronvec.grad(f)(np.array(shape)), fd_shape, rtol=1e-6,
                                   atol=1e-9 * np.abs(st.beta.pdf(x, a, b)).max())
    H = kronvec.hessian(lambda z: np.sum(ks.beta.pdf(z, a, b)))(x).toarray()
    hd = (kronvec.grad(lambda z: np.sum(ks.beta.pdf(z, a, b)))(x + h) -
          kronvec.grad(lambda z: np.sum(ks.beta.pdf(z, a, b)))(x - h)) / (2 * h)
    np.testing.assert_allclose(np.diag(H), hd, rtol=1e-5, atol=1e-7 * np.abs(hd).max())


def test_outside_the_support_the_derivative_is_zero_and_minus_infinity_is_refused():
    x = np.array([-1.0, 2.0])
    g = kronvec.grad(lambda y: np.sum(ks.gamma.pdf(y, 2.0)))(x)
    assert g[0] == 0.0 and np.isclose(g[1], -np.exp(-2.0), rtol=1e-14)  # d(x e⁻ˣ) = (1 − x)e⁻ˣ
    assert kronvec.grad(lambda y: np.sum(ks.beta.cdf(y, 2.0, 2.0)))(np.array([-0.5, 1.5])).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"gamma\.logpdf is −∞"):
        kronvec.grad(lambda y: np.sum(ks.gamma.logpdf(y, 2.0)))(x)
    with pytest.raises(ValueError, match=r"poisson\.logpmf is −∞"):
        kronvec.grad(lambda mu: np.sum(ks.poisson.logpmf(np.array([-1.0, 2.0]), mu)))(2.0)
    # pmf at a k that is not a count: 0, derivative 0
    assert float(kronvec.grad(lambda mu: ks.poisson.pmf(2.5, mu))(2.0)) == 0.0


def test_location_scale_families_outside_their_support():
    # expon: the density and its CDF are constants below 0 (derivative 0); log f there is refused
    g = kronvec.grad(lambda y: np.sum(ks.expon.pdf(y)))(np.array([-1.0, 2.0]))
    assert g[0] == 0.0 and np.isclose(g[1], -np.exp(-2.0), rtol=1e-14)
    assert kronvec.grad(lambda y: np.sum(ks.expon.cdf(y)))(np.array([-1.0])).tolist() == [0.0]
    with pytest.raises(ValueError, match=r"expon\.logpdf is −∞"):
        kronvec.grad(lambda y: np.sum(ks.expon.logpdf(y)))(np.array([-1.0, 2.0]))
    # uniform: flat in x, −1/scale² in scale inside, 0 outside
    x = np.array([0.2, 0.7, 1.5])
    np.testing.assert_array_equal(kronvec.grad(lambda y: np.sum(ks.uniform.pdf(y, 0.0, 1.2)))(x), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(kronvec.jacobian(lambda c: ks.uniform.pdf(x, 0.0, c))(1.2).toarray()[:, 0],
                               [-1 / 1.44, -1 / 1.44, 0.0], rtol=1e-14)
    with pytest.raises(ValueError, match=r"lognorm\.logcdf is −∞"):
        kronvec.grad(lambda y: np.sum(ks.lognorm.logcdf(y, 0.5)))(np.array([-1.0, 2.0]))
    # lognorm's shape s is smooth everywhere: d/ds F(x; s) = −φ(log x / s)·log x / s²
    x, s = 2.0, 0.7
    np.testing.assert_allclose(float(kronvec.grad(lambda s: ks.lognorm.cdf(x, s))(s)),
                               -st.norm.pdf(np.log(x) / s) * np.log(x) / s ** 2, rtol=1e-13)


def test_poisson_cdf_derivative_in_mu_is_minus_the_pmf():
    k, mu = np.array([0.0, 1.0, 3.0, 3.7]), 2.4
    np.testing.assert_allclose(kronvec.jacobian(lambda m: ks.poisson.cdf(k, m))(mu).toarray()[:, 0],
                               -st.poisson.pmf(np.floor(k), mu), rtol=1e-13)


@pytest.mark.parametrize("call, function, argument", [
    (lambda p: ks.t.cdf(0.5, p), "t.cdf", "df"), (lambda p: ks.t.logsf(0.5, p), "t.logsf", "df"),
    (lambda p: ks.chi2.cdf(1.5, p), "chi2.cdf", "df"), (lambda p: ks.gamma.sf(1.5, p), "gamma.sf", "a"),
    (lambda p: ks.beta.cdf(0.5, p, 2.0), "beta.cdf", "a"), (lambda p: ks.beta.sf(0.5, 2.0, p), "beta.sf", "b"),
    (lambda p: ks.poisson.logpmf(p, 2.0), "poisson.logpmf", "k"), (lambda p: ks.poisson.cdf(p, 2.0), "poisson.cdf", "k"),
    (lambda p: ks.poisson.pmf(2.0, 1.5, loc=p), "poisson.pmf", "loc"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_parameters_that_are_not_differentiated_are_refused_by_name(call, function, argument):
    with pytest.raises(TypeError, match=rf"kronvec\.scipy\.stats\.{function} with respect to its argument {argument}\b"):
        kronvec.grad(call)(3.0)


# ------------------------------------------------------------ multivariate normal
def _spd(n, seed):
    A = np.random.default_rng(seed).standard_normal((n, n))
    return A @ A.T / n + np.eye(n)


MEAN, COV = RNG.standard_normal(3), _spd(3, 1)
POINTS = RNG.standard_normal((4, 3))


@pytest.mark.parametrize("x, mean, cov", [
    (POINTS, MEAN, COV), (POINTS[0], MEAN, COV), (POINTS[None], MEAN, COV), (POINTS, None, COV),
    (POINTS, MEAN, np.array([0.5, 1.0, 2.0])), (POINTS, MEAN, 1.7), (POINTS[:, 0], 0.3, 2.0), (0.4, None, 2.0),
    (RNG.standard_normal((2, 2, 3)), MEAN, COV),
], ids=["points", "one point", "(1, n, d)", "mean None", "diagonal cov", "scalar cov", "1-D", "0-D", "(2, 2, d)"])
def test_multivariate_normal_values_and_shapes_match_scipy(x, mean, cov):
    for function in ("logpdf", "pdf"):
        ours = getattr(ks.multivariate_normal, function)(x, mean, cov)
        theirs = getattr(st.multivariate_normal, function)(x, mean, cov)
        _agree(ours, theirs)
        assert type(ours) is type(theirs)
    _agree(ks.multivariate_normal.entropy(mean, cov), st.multivariate_normal.entropy(mean, cov))


@pytest.mark.parametrize("function", ["logpdf", "pdf"])
def test_multivariate_normal_derivatives_in_x_mean_and_cov(function):
    f = getattr(ks.multivariate_normal, function)
    for position in (0, 1, 2):
        check_derivatives(f, (POINTS, MEAN, COV), position, what=f"multivariate_normal.{function}")
    check_derivatives(f, (POINTS, MEAN, np.array([0.5, 1.0, 2.0])), 2, what="diagonal cov")
    check_derivatives(ks.multivariate_normal.entropy, (MEAN, COV), 1, what="entropy")


def test_multivariate_normal_gradient_in_cov_is_the_closed_form():
    x = POINTS[0]
    inverse = np.linalg.inv(COV)
    delta = inverse @ (x - MEAN)
    expected = 0.5 * (np.outer(delta, delta) - inverse)  # symmetric: every entry of cov is a variable
    np.testing.assert_allclose(kronvec.grad(lambda c: ks.multivariate_normal.logpdf(x, MEAN, c))(COV), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(kronvec.grad(lambda m: ks.multivariate_normal.logpdf(x, m, COV))(MEAN), delta, rtol=1e-12)


def test_multivariate_normal_allow_singular():
    # a nonsingular cov: allow_singular changes nothing
    g = kronvec.grad(lambda x: ks.multivariate_normal.logpdf(x, MEAN, COV, allow_singular=True))(POINTS[0])
    np.testing.assert_allclose(g, kronvec.grad(lambda x: ks.multivariate_normal.logpdf(x, MEAN, COV))(POINTS[0]),
                               rtol=1e-15)
    # a constant singular cov (rank 2 of 4): the density on the support μ + range(C), in x and mean
    # moved along the support (x = μ + Cz, μ = m + Cw), against SciPy's values and differences
    A = RNG.standard_normal((4, 2))
    for C in (np.diag([1.0, 1.0, 0.0, 0.0]), A @ A.T):
        m, z, w = RNG.standard_normal(4), RNG.standard_normal(4), RNG.standard_normal(4)
        for function in ("logpdf", "pdf"):
            ours, theirs = getattr(ks.multivariate_normal, function), getattr(st.multivariate_normal, function)

            def f(z, w):
                mean = m + C @ w
                return ours(mean + C @ (z + w), mean, C, allow_singular=True)

            _agree(f(z, w), theirs(m + C @ (z + 2 * w), m + C @ w, C, allow_singular=True))
            check_derivatives(f, (z, w), 0, what=f"singular multivariate_normal.{function} in x")
            check_derivatives(f, (z, w), 1, what=f"singular multivariate_normal.{function} in mean")
    # off the support: pdf is 0 (derivative 0), logpdf is −inf (refused)
    C = np.diag([1.0, 1.0, 0.0, 0.0])
    off = np.ones(4)
    assert ks.multivariate_normal.pdf(off, np.zeros(4), C, allow_singular=True) == 0.0
    g = kronvec.grad(lambda x: ks.multivariate_normal.pdf(x, np.zeros(4), C, allow_singular=True))(off)
    assert not g.any()
    with pytest.raises(ValueError, match="off the support"):
        kronvec.grad(lambda x: ks.multivariate_normal.logpdf(x, np.zeros(4), C, allow_singular=True))(off)
    # a traced singular cov: its pseudo-determinant has no derivative where the rank can change
    with pytest.raises(TypeError, match="allow_singular=True at a traced singular cov"):
        kronvec.grad(lambda c: ks.multivariate_normal.logpdf(np.zeros(4), np.zeros(4), c, allow_singular=True))(C)


def test_multivariate_normal_refusals_and_argument_errors():
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    _agree(ks.multivariate_normal.logpdf(np.zeros(2), None, singular, allow_singular=True),
           st.multivariate_normal.logpdf(np.zeros(2), None, singular, allow_singular=True))
    with pytest.raises(np.linalg.LinAlgError):
        ks.multivariate_normal.logpdf(np.zeros(2), None, singular)
    with pytest.raises(ValueError, match="positive semidefinite"):
        ks.multivariate_normal.logpdf(np.zeros(2), None, -np.eye(2))
    with pytest.raises(ValueError, match="vector of length 3"):
        ks.multivariate_normal.logpdf(POINTS, np.zeros((3, 1)), COV)
    with pytest.raises(ValueError, match="Dimension mismatch"):
        ks.multivariate_normal.logpdf(POINTS, MEAN, np.eye(2))


# ---------------------------------------------------------------------- dirichlet
ALPHA = np.array([1.5, 2.0, 0.7])
SIMPLEX = np.random.default_rng(5).dirichlet(ALPHA, 4).T  # components along the first axis, as SciPy's


@pytest.mark.parametrize("x", [SIMPLEX, SIMPLEX[:, 0], SIMPLEX[:2], SIMPLEX[:2, 0]],
                         ids=["(k, n)", "(k,)", "(k − 1, n)", "(k − 1,)"])
def test_dirichlet_values_and_derivatives(x):
    for function in ("logpdf", "pdf"):
        ours, theirs = getattr(ks.dirichlet, function), getattr(st.dirichlet, function)
        _agree(ours(x, ALPHA), theirs(x, ALPHA))
        assert type(ours(x, ALPHA)) is type(theirs(x, ALPHA))
        # (x with all k components lies on the simplex, which SciPy checks to 1e-9: finite differences
        # in x leave it, so they are taken in the k − 1 free components only; the closed form below)
        for position in (0, 1) if x.shape[0] < ALPHA.size else (1,):
            check_derivatives(ours, (x, ALPHA), position, what=f"dirichlet.{function}")
    if x.shape[0] == ALPHA.size:  # ∂ log f/∂xᵢ = (αᵢ − 1)/xᵢ, each point on its own
        gradient = kronvec.grad(lambda y: np.sum(ks.dirichlet.logpdf(y, ALPHA)))(x)
        np.testing.assert_allclose(gradient, ((ALPHA - 1) / x.T).T, rtol=1e-13)


def test_dirichlet_argument_errors_are_scipys():
    for x, alpha, message in ((SIMPLEX[:1], ALPHA, "one entry fewer"), (SIMPLEX, -ALPHA, "greater than 0"),
                              (SIMPLEX * 2, ALPHA, "smaller or equal one"), (np.array([0.5, 0.4, 0.2]), ALPHA, "simplex"),
                              (np.array([0.0, 0.5, 0.5]), np.array([0.5, 1.0, 1.0]), "greater than zero")):
        for module in (ks, st):
            with pytest.raises(ValueError, match=message):
                module.dirichlet.logpdf(x, alpha)


# ------------------------------------------------------------------ messages
@pytest.mark.parametrize("call, scipy_name, counterpart", [
    (lambda x: st.norm.logpdf(x, 0.0, 2.0), "scipy.stats.norm.logpdf", "kronvec.scipy.stats.norm.logpdf"),
    (lambda x: st.norm(0.0, 2.0).cdf(x), "scipy.stats.norm(…).cdf", "kronvec.scipy.stats.norm.cdf"),
    (lambda x: st.t.pdf(x, 3.0), "scipy.stats.t.pdf", "kronvec.scipy.stats.t.pdf"),
    (lambda x: st.gamma.logpdf(x, 2.0), "scipy.stats.gamma.logpdf", "kronvec.scipy.stats.gamma.logpdf"),
    (lambda x: st.poisson.logpmf(3, x), "scipy.stats.poisson.logpmf", "kronvec.scipy.stats.poisson.logpmf"),
    (lambda x: st.multivariate_normal.logpdf(x, np.zeros(2)), "scipy.stats.multivariate_normal.logpdf",
     "kronvec.scipy.stats.multivariate_normal.logpdf"),
    (lambda x: st.multivariate_normal(np.zeros(2)).pdf(x), "scipy.stats.multivariate_normal(…).pdf",
     "kronvec.scipy.stats.multivariate_normal.pdf"),
    (lambda x: st.dirichlet.logpdf(x / np.sum(x), np.ones(2)), "scipy.stats.dirichlet.logpdf",
     "kronvec.scipy.stats.dirichlet.logpdf"),
], ids=["norm.logpdf", "frozen norm", "t.pdf", "gamma.logpdf", "poisson.logpmf", "multivariate_normal.logpdf",
        "frozen multivariate_normal", "dirichlet.logpdf"])
def test_scipy_stats_on_a_traced_value_names_the_distribution_and_the_counterpart(call, scipy_name, counterpart):
    with pytest.raises(TypeError) as error:
        kronvec.grad(lambda x: np.sum(call(x)))(np.array([0.5, 1.5]))
    message = str(error.value)
    assert f"cannot differentiate {scipy_name}:" in message and f"Use {counterpart} instead" in message, message
    assert "import kronvec.scipy.stats" in message


def test_a_distribution_kronvec_scipy_lacks_is_named_without_a_counterpart():
    with pytest.raises(TypeError, match=r"scipy\.stats\.gumbel_r\.logpdf: it converts") as error:
        kronvec.grad(lambda x: np.sum(st.gumbel_r.logpdf(x)))(np.array([0.5, 1.5]))
    assert "kronvec.scipy" not in str(error.value)


@pytest.mark.parametrize("name, args", [
    ("norm", (1.0, 2.0)), ("t", (3.0,)), ("chi2", (4.0,)), ("gamma", (2.0,)), ("beta", (2.0, 3.0)),
    ("poisson", (3.0,)), ("multivariate_normal", (np.zeros(2), np.eye(2))), ("dirichlet", (np.ones(3),)),
    ("expon", (0.5,)), ("laplace", (0.5,)), ("logistic", (0.5,)), ("cauchy", (0.5,)), ("uniform", (0.5,)),
    ("lognorm", (0.8,)),
])
def test_rvs_are_scipys_draws_and_refuse_traced_parameters(name, args):
    ours = getattr(ks, name).rvs(*args, size=5, random_state=7)
    np.testing.assert_array_equal(ours, getattr(st, name).rvs(*args, size=5, random_state=7))
    with pytest.raises(TypeError, match="no derivative"):
        kronvec.grad(lambda p: np.sum(getattr(ks, name).rvs(p, *args[1:], size=2)))(np.asarray(args[0], float) + 0.0)


# ---------------------------------------------------------------- far tails and edges (adv-scipy sweep)
def _ulps(ours, theirs):
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return np.max(np.abs(ours - theirs) / np.spacing(np.maximum(np.abs(ours), np.abs(theirs))))


# log F and log S where F or S is near 1: SciPy's generic log-CDF switches to log1p(−S) at the
# median (and log-SF to log1p(−F)); log F alone rounded F ≈ 1 to 0 (−3.7e-44 read as 0.0)
TAILS = [
    ("t", (3.0,), np.array([-1e4, -50.0, -3.0, 0.4, 40.0, 1e5])),
    ("chi2", (2.0,), np.array([1e-12, 1e-5, 0.5, 3.0, 60.0, 200.0])),
    ("chi2", (1e-3,), np.array([0.05, 0.4, 2.5, 7.0])),
    ("gamma", (3.0,), np.array([1e-12, 1e-4, 1.0, 5.0, 40.0, 300.0])),
    ("gamma", (1e7,), np.array([0.99e7, 1e7, 1.002e7])),
    ("beta", (2.0, 3.0), np.array([1e-12, 1e-6, 0.2, 0.7, 1 - 1e-6, 1 - 1e-12])),
]


@pytest.mark.parametrize("name,shape,x", TAILS, ids=[f"{n}{s}" for n, s, _ in TAILS])
@pytest.mark.parametrize("function", ["logcdf", "logsf"])
def test_log_cdf_and_sf_in_the_far_tails_are_scipys(name, shape, x, function):
    ours = getattr(getattr(ks, name), function)(x, *shape)
    theirs = getattr(getattr(st, name), function)(x, *shape)
    # (the same formulas on each side of SciPy's median: a few ulp at most, from kronvec's standardizing)
    assert _ulps(ours, theirs) <= 4, (ours, theirs)


@pytest.mark.parametrize("name,shape,x", TAILS[:4], ids=[f"{n}{s}" for n, s, _ in TAILS[:4]])
@pytest.mark.parametrize("function", ["logcdf", "logsf"])
def test_log_cdf_and_sf_derivatives_on_both_sides_of_the_median(name, shape, x, function):
    x = x[(x > 1e-3) & (x < 1 - 1e-3)] if name == "beta" else x[(np.abs(x) > 1e-3) & (np.abs(x) < 100)]
    f = lambda loc: getattr(getattr(ks, name), function)(x, *shape, loc=loc)
    g = kronvec.jacobian(f)(0.0).toarray().ravel()
    h = 1e-6
    fd = (getattr(getattr(st, name), function)(x, *shape, loc=h) - getattr(getattr(st, name), function)(x, *shape, loc=-h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_chi2_log_sf_with_its_median_on_the_edge_of_the_support_differentiates():
    # ν = 0.001: SciPy's median is 0, where the derivative of P(ν/2, z) is infinite; the formulas
    # meet inside the support instead (one entry outside the support: log S = 0 there)
    x = np.array([0.05, 0.4, 1.1, 2.5])
    f = lambda loc: ks.chi2.logsf(x, 1e-3, loc=loc, scale=1.7)
    _agree(f(0.3), st.chi2.logsf(x, 1e-3, loc=0.3, scale=1.7))
    h = 1e-7
    fd = (st.chi2.logsf(x, 1e-3, loc=0.3 + h, scale=1.7) - st.chi2.logsf(x, 1e-3, loc=0.3 - h, scale=1.7)) / (2 * h)
    np.testing.assert_allclose(kronvec.jacobian(f)(0.3).toarray().ravel(), fd, rtol=1e-5, atol=1e-9)


def test_beta_log_sf_with_entries_on_both_sides_of_the_support_differentiates():
    # below the support log S = 0, a constant; the −∞ of log S above it is not among the entries
    x = np.array([0.03, 0.2, 0.5])
    f = lambda loc: ks.beta.logsf(x, 2.0, 3.0, loc=loc)
    loc = np.array([[0.0], [0.1]])
    _agree(f(loc), st.beta.logsf(x, 2.0, 3.0, loc=loc))
    J = kronvec.jacobian(f)(loc).toarray()
    assert J.shape == (6, 2) and J[1, 1] == 0.0  # (x = 0.03 < loc = 0.1: outside, derivative 0)


@pytest.mark.parametrize("df", [1e4, 1e9, 1e16, np.inf])
@pytest.mark.parametrize("function", ["pdf", "logpdf"])
def test_t_density_at_large_and_infinite_df_is_scipys(df, function):
    # log Γ((ν + 1)/2) − log Γ(ν/2) cancelled catastrophically (logpdf off by 18 at ν = 1e16,
    # NaN at ν = ∞): it is SciPy's log poch(ν/2, ½), and ν = ∞ is the normal distribution
    x = np.array([-1.3, -0.2, 0.4, 2.5])
    ours, theirs = getattr(ks.t, function)(x, df, loc=0.3, scale=1.7), getattr(st.t, function)(x, df, loc=0.3, scale=1.7)
    assert _ulps(ours, theirs) <= 4, (ours, theirs)
    J = kronvec.jacobian(lambda x: getattr(ks.t, function)(x, df))(x).toarray()
    h = 1e-6
    fd = (getattr(st.t, function)(x + h, df) - getattr(st.t, function)(x - h, df)) / (2 * h)
    np.testing.assert_allclose(np.diag(J), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("df", [2.5, 40.0])
def test_t_logpdf_derivatives_in_df_with_log_poch(df):
    x = np.array([-1.3, 0.4, 2.5])
    check_derivatives(lambda x, d: ks.t.logpdf(x, d), (x, np.array(df)), 1)


@pytest.mark.parametrize("df", [np.inf, np.array([np.inf, 3.0, np.inf])], ids=["inf", "some inf"])
@pytest.mark.parametrize("function", ["cdf", "sf", "logcdf", "logsf"])
def test_t_cumulative_at_infinite_df_is_the_normal_one(df, function):
    # refused before (an infinite constant operand of stdtr); SciPy's stdtr(∞, z) is Φ(z)
    x = np.array([-2.1, 0.4, 1.5])
    ours = getattr(ks.t, function)(x, df, loc=0.3, scale=1.7)
    assert _ulps(ours, getattr(st.t, function)(x, df, loc=0.3, scale=1.7)) <= 4
    J = kronvec.jacobian(lambda x: getattr(ks.t, function)(x, df, loc=0.3, scale=1.7))(x).toarray()
    h = 1e-6
    fd = (getattr(st.t, function)(x + h, df, loc=0.3, scale=1.7)
          - getattr(st.t, function)(x - h, df, loc=0.3, scale=1.7)) / (2 * h)
    np.testing.assert_allclose(np.diag(J), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("df", [1e12, 1e16])
def test_t_cdf_derivative_at_large_df_is_the_density(df):
    # (the density was written with the cancelling log Γ difference: 2e-4 off at ν = 1e12, and
    # 1e-9 instead of 0.4 at ν = 1e16; ν = ∞: the next test)
    x = np.array([-1.0, 0.5, 2.0])
    J = kronvec.jacobian(lambda x: ks.t.cdf(x, df))(x).toarray()
    np.testing.assert_allclose(np.diag(J), st.t.pdf(x, df), rtol=1e-12)
    H = kronvec.hessian(lambda x: np.sum(ks.t.cdf(x, df)))(x).toarray()  # the density's slope
    h = 1e-5
    np.testing.assert_allclose(np.diag(H), (st.t.pdf(x + h, df) - st.t.pdf(x - h, df)) / (2 * h), rtol=1e-6, atol=1e-9)


def test_cauchy_ppf_and_isf_keep_their_digits_in_the_tails():
    # tan(π(q − ½)) lost every digit for q near 0 and 1 (q = 1e-20 gave −1.6e16, not −3.2e19)
    # and gave ∓1.6e16 at q = 0, 1 where SciPy gives ∓∞
    q = np.array([0.0, 1e-300, 1e-20, 1e-9, 0.3, 0.5, 0.8, 1 - 1e-9, 1 - 2 ** -52, 1.0])
    for function in ("ppf", "isf"):
        ours, theirs = getattr(ks.cauchy, function)(q, 0.3, 2.0), getattr(st.cauchy, function)(q, 0.3, 2.0)
        assert np.array_equal(np.isinf(ours), np.isinf(theirs)) and np.array_equal(ours[np.isinf(ours)], theirs[np.isinf(theirs)])
        finite = np.isfinite(theirs)
        np.testing.assert_allclose(ours[finite], theirs[finite], rtol=4e-16, atol=0)
    inner = q[3:-2]
    J = kronvec.jacobian(ks.cauchy.ppf)(inner).toarray()
    near = np.minimum(inner, 1.0 - inner)  # (sin²(πq) = sin²(π(1 − q)), the accurate one above ½)
    np.testing.assert_allclose(np.diag(J), np.pi / np.sin(np.pi * near) ** 2, rtol=1e-12)
    with pytest.raises(ValueError, match="not finite"):
        kronvec.grad(ks.cauchy.ppf)(0.0)


@pytest.mark.parametrize("call", [
    lambda: ks.norm.cdf(0.5, scale=-1.0),
    lambda: ks.t.cdf(0.5, 3.0, scale=-2.0),
    lambda: ks.gamma.logpdf(0.5, 2.0, scale=np.array([1.0, 0.0])),
    lambda: kronvec.grad(lambda s: np.sum(ks.norm.logpdf(np.array([0.1, 0.4]), scale=s)))(-1.0),
])
def test_a_scale_that_is_not_positive_is_refused(call):
    # SciPy's value is NaN for scale ≤ 0; (x − loc)/scale computed as if valid gave cdfs a
    # plausible number, silently (found by tests/sweeps/scipy_functions.py)
    with pytest.raises(ValueError, match="scale must be positive"):
        call()


# ------------------------------------------------ found by an adversarial sweep (stop 36)
@pytest.mark.parametrize("call, scipy_call, match", [
    (lambda: ks.norm.ppf(0.3, 0.0, -1.0), lambda: st.norm.ppf(0.3, 0.0, -1.0), "scale must be positive"),
    (lambda: ks.expon.isf(0.3, 0.0, 0.0), lambda: st.expon.isf(0.3, 0.0, 0.0), "scale must be positive"),
    (lambda: ks.expon.ppf(-0.1), lambda: st.expon.ppf(-0.1), r"q must lie in \[0, 1\]"),
    (lambda: ks.cauchy.ppf(1.1), lambda: st.cauchy.ppf(1.1), r"q must lie in \[0, 1\]"),
    (lambda: ks.uniform.isf(1.1), lambda: st.uniform.isf(1.1), r"q must lie in \[0, 1\]"),
    (lambda: ks.gamma.logpdf(0.3, -0.5), lambda: st.gamma.logpdf(0.3, -0.5), "shape parameter a"),
    (lambda: ks.gamma.cdf(0.3, 0.0), lambda: st.gamma.cdf(0.3, 0.0), "shape parameter a"),
    (lambda: ks.chi2.logsf(0.3, 0.0), lambda: st.chi2.logsf(0.3, 0.0), "shape parameter df"),
    (lambda: ks.beta.pdf(0.3, -1.0, 2.0), lambda: st.beta.pdf(0.3, -1.0, 2.0), "shape parameter a"),
    (lambda: ks.beta.cdf(0.3, 2.0, 0.0), lambda: st.beta.cdf(0.3, 2.0, 0.0), "shape parameter b"),
    (lambda: ks.lognorm.cdf(0.3, -1.0), lambda: st.lognorm.cdf(0.3, -1.0), "shape parameter s"),
    (lambda: ks.lognorm.ppf(0.3, 0.0), lambda: st.lognorm.ppf(0.3, 0.0), "shape parameter s"),
    (lambda: ks.t.logpdf(0.3, -1.0), lambda: st.t.logpdf(0.3, -1.0), "shape parameter df"),
], ids=["norm.ppf scale", "expon.isf scale 0", "expon.ppf q<0", "cauchy.ppf q>1", "uniform.isf q>1", "gamma a<0",
        "gamma a=0", "chi2 df=0", "beta a<0", "beta b=0", "lognorm s<0", "lognorm.ppf s=0", "t df<0"])
def test_parameters_where_scipy_is_nan_are_refused(call, scipy_call, match):
    # every function checks its scale, shapes and quantile level as the densities check the
    # scale: SciPy's value is NaN there, and the formulas would give a plausible number
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(scipy_call())
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("function", ["logpdf", "pdf", "cdf", "logsf"])
def test_a_traced_scale_compiles_and_each_replay_checks_it(function):
    # (program sweep) compile=True refused a traced scale with the generic "Python code read the
    # value" error: the positivity check read it; it is a recorded decision now
    x = np.array([0.1, 0.5])
    f = lambda s: np.sum(getattr(ks.norm, function)(x, 0.3, s))  # noqa: E731
    compiled = kronvec.grad(f, compile=True)
    for s in (np.array([1.5, 2.0]), np.array([0.7, 3.0])):
        np.testing.assert_array_equal(compiled(s), kronvec.grad(f)(s))
    with pytest.raises(ValueError, match="scale must be positive"):
        compiled(np.array([1.5, -2.0]))
