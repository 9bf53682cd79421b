"""NaN-skipping reductions, np.cov, np.corrcoef, np.polyval (issue 12) and the
polynomial arithmetic np.polyadd/polysub/polymul/polyder/polyint/polyfit.

Each is built from registered operations as NumPy computes it: the value
through kronvec equals NumPy's exactly, and the Jacobian, JVP, gradient and
Hessian match central differences (FD_RTOL = 1e-6 as in
tests/test_registry.py: h = 1e-6 errs by ~1e-10 relative for these O(1)
compositions).  NaN entries (possible only with check_finite off) are
skipped, as NumPy skips them, with derivative 0; a slice with no number
left is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec

from _helpers import assert_scaled_close, central_difference_jacobian, check_value_and_derivatives

FD_RTOL = 1e-6
X35 = np.random.default_rng(35).standard_normal((3, 5))

SPELLINGS = {
    "nanmean": lambda X: np.nanmean(X, axis=0),
    "nanmean keepdims": lambda X: np.nanmean(X, axis=1, keepdims=True),
    "nanvar ddof": lambda X: np.nanvar(X, axis=1, ddof=1),
    "nanstd all": lambda X: np.atleast_1d(np.nanstd(X)),
    "nanmax": lambda X: np.nanmax(X, axis=0),
    "nanmin keepdims": lambda X: np.nanmin(X, axis=1, keepdims=True),
    "nanprod": lambda X: np.nanprod(X, axis=0),
    "nancumsum": lambda X: np.nancumsum(X, axis=1),
    "nancumprod flat": lambda X: np.nancumprod(X),
    "cov": lambda X: np.cov(X),
    "cov rowvar=False bias": lambda X: np.cov(X, rowvar=False, bias=True),
    "cov of two rows": lambda X: np.cov(X[0], X[1]),
    "cov ddof=2": lambda X: np.cov(X, ddof=2),
    "cov with a constant y": lambda X: np.cov(X, np.linspace(0.0, 1.0, 5)),
    "cov aweights": lambda X: np.cov(X, aweights=[0.5, 1.0, 2.0, 0.7, 1.3]),
    "cov fweights and aweights": lambda X: np.cov(X, fweights=[1, 2, 1, 3, 1], aweights=[0.5, 1.0, 2.0, 0.7, 1.3]),
    "cov traced aweights": lambda X: np.cov(X[:2], aweights=1.0 + X[2] ** 2),
    "cov traced aweights, ddof=0": lambda X: np.cov(X[:2], aweights=1.0 + X[2] ** 2, ddof=0),
    "cov fweights, traced aweights, bias": lambda X: np.cov(X[0], X[1], fweights=[2, 1, 1, 3, 1],
                                                           aweights=np.exp(X[2]), bias=True),
    "corrcoef": lambda X: np.corrcoef(X),
    "corrcoef of two rows": lambda X: np.corrcoef(X[0], X[2]),
    "polyval traced p and x": lambda X: np.polyval(X[0], X[1]),
    "polyval traced p": lambda X: np.polyval(X[0], 0.7),
    "polyval traced x": lambda X: np.polyval([1.0, -2.0, 0.5], X),
    # (np.poly1d coefficients: NumPy reads them leading first, as np.asarray gives them; p[k]
    # is the other order — a wrong number found by an adversarial sweep)
    "polyval poly1d": lambda X: np.polyval(np.poly1d([1.0, -2.0, 0.5]), X),
    "polyval 2-D p, a polynomial per column": lambda X: np.polyval(X[:, :2], 0.7),
    "polyadd": lambda X: np.polyadd(X[0], X[1, :3]),
    "polyadd a longer constant": lambda X: np.polyadd(X[0, :2], [1.0, 2.0, 3.0, 4.0]),
    "polyadd a scalar": lambda X: np.polyadd(X[2, 0], X[1]),
    "polysub": lambda X: np.polysub(X[1, :2], X[0]),
    "polymul": lambda X: np.polymul(X[0], X[1, :3]),
    "polymul by a constant": lambda X: np.polymul([2.0, -1.0], X[2]),
    "polymul by itself": lambda X: np.polymul(X[0], X[0]),
    "polyder": lambda X: np.polyder(X[0]),
    "polyder m=3": lambda X: np.polyder(X[1], 3),
    "polyder m=0": lambda X: np.polyder(X[1], 0),
    "polyint": lambda X: np.polyint(X[0]),
    "polyint m=2, traced k": lambda X: np.polyint(X[0], 2, k=X[1, :2]),
    "polyint traced p and scalar k": lambda X: np.polyint(X[0, :2], 3, k=X[2, 0]),
    "polyfit in y (columns)": lambda X: np.polyfit(np.linspace(0.0, 1.0, 5), X.T, 2),
    "polyfit in x and y": lambda X: np.polyfit(X[0], X[1], 2),
    "polyfit weights": lambda X: np.polyfit(X[0], X[1], 1, w=1.0 + X[2] ** 2),
    "polyfit full: residuals": lambda X: np.polyfit(X[0], X[1], 2, full=True)[1],
    "polyfit full: singular values": lambda X: np.polyfit(X[0], X[1], 2, full=True)[3],
}


@pytest.mark.parametrize("name", SPELLINGS)
def test_values_equal_numpy_and_derivatives_match_finite_differences(name):
    check_value_and_derivatives(SPELLINGS[name], X35, FD_RTOL)


@pytest.mark.parametrize("f", [
    lambda X: np.nanmean(X, axis=0), lambda X: np.nanvar(X, axis=1), lambda X: np.nanmax(X, axis=0),
    lambda X: np.nanprod(X, axis=1), lambda X: np.nancumsum(X, axis=0),
], ids=["nanmean", "nanvar", "nanmax", "nanprod", "nancumsum"])
def test_nan_entries_are_skipped_with_derivative_zero(f):
    X = X35.copy()
    X[1, 2] = X[0, 0] = np.nan
    numbers = ~np.isnan(X)

    def on_numbers(v):  # f as a function of the entries that are numbers
        Z = X.copy()
        Z[numbers] = v
        return np.sum(np.sin(f(Z)))

    with kronvec.config.override(check_finite=False):
        value, G = kronvec.value_and_grad(lambda Z: np.sum(np.sin(f(Z))))(X)
    assert value == on_numbers(X[numbers])
    assert G[1, 2] == 0.0 and G[0, 0] == 0.0
    expected = central_difference_jacobian(on_numbers, (X[numbers],))[0]
    np.testing.assert_allclose(G[numbers], expected, rtol=FD_RTOL, atol=FD_RTOL)


def test_an_all_nan_slice_is_refused():
    X = np.full((2, 3), np.nan)
    with kronvec.config.override(check_finite=False):
        with pytest.raises(ValueError, match="All-NaN slice"):
            kronvec.grad(lambda X: np.sum(np.nanmean(X, axis=1)))(X)


@pytest.mark.parametrize("call, error, message", [
    (lambda X: np.cov(X, fweights=X[0]), TypeError, "np.cov's fweights are counts"),
    (lambda X: np.cov(X, fweights=[1, 2, 1, 1.5, 1]), TypeError, "fweights must be integer"),
    (lambda X: np.cov(X, aweights=[1.0, 2.0]), RuntimeError, "incompatible numbers of samples and aweights"),
    (lambda X: np.cov(X, aweights=X[0]), ValueError, "aweights cannot be negative"),
    (lambda X: np.cov(X, fweights=[1, 0, 0, 0, 0]), ValueError, "degrees of freedom <= 0"),
    (lambda X: np.cov(X, ddof=5), ValueError, "degrees of freedom"),
    (lambda X: np.nanmean(X, dtype=np.int64), TypeError, "dtype"),  # (a float dtype= is honoured)
    (lambda X: np.corrcoef(X * 0.0 + 1.0), ValueError, "zero variance"),
    (lambda X: np.polyval(X[0, 0], 0.5), TypeError, "np.polyval: iteration over a 0-d array"),
    (lambda X: np.polymul(X, X[0]), ValueError, "np.polymul: .*1-D"),
    (lambda X: np.polyadd(X, X[0]), ValueError, "np.polyadd: .*1-D"),
    (lambda X: np.polyder(X[0], -1), ValueError, "np.polyder: Order of derivative must be positive"),
    (lambda X: np.polyint(X[0], 3, k=X[1, :2]), ValueError, "np.polyint: k must be"),
    (lambda X: np.polyder(X[0], X[1, 0]), TypeError, "np.polyder .*m must be a constant"),
    (lambda X: np.polyfit(X[0], X[1], -1), ValueError, "np.polyfit: expected deg >= 0"),
    (lambda X: np.polyfit(X[0], X[1, :4], 1), TypeError, "np.polyfit: expected x and y to have same length"),
    (lambda X: np.polyfit(X[0] * 0.0 + 1.0, X[1], 2), np.linalg.LinAlgError, "np.polyfit: .*rank 1 < deg"),
    (lambda X: np.polyfit(X[0], X[1], 6), np.linalg.LinAlgError, "np.polyfit: .*rank 5 < deg"),
    (lambda X: np.polyfit(X[0], X[1], 2, w=X[2, :2]), TypeError, "np.polyfit: expected w and y"),
])
def test_arguments_without_a_derivative_or_with_no_value_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        kronvec.grad(lambda X: np.sum(call(X)))(X35)


@pytest.mark.parametrize("f", [
    lambda X: np.polyfit(X[0], X[1], 1, cov=True)[1],
    lambda X: np.polyfit(np.linspace(0.0, 1.0, 5), X.T, 2, cov="unscaled")[1],
    lambda X: np.polyfit(X[0], X[1:].T, 1, w=1.0 + X[2] ** 2, cov=True)[1],
], ids=["cov", "cov unscaled, columns", "cov weighted, columns"])
def test_polyfit_covariance(f):
    # Vbase = inv(lhsᵀ lhs)/(scale scaleᵀ): kronvec's np.linalg.inv may differ from NumPy's in the last
    # bit (an entry of 2.4e-16 relative here), so the value is held to rtol 1e-13, not bit for bit
    value = kronvec.vjp(f, X35)[0]
    np.testing.assert_allclose(value, f(X35), rtol=1e-13, atol=0)
    J_fd = central_difference_jacobian(lambda Z: np.asarray(f(Z)), (X35,))
    assert_scaled_close(kronvec.jacobian(f)(X35).toarray(), J_fd, FD_RTOL, "jacobian")
    s = lambda Z: np.sum(np.sin(f(Z)))  # noqa: E731
    H = kronvec.hessian(s)(X35).toarray()
    assert_scaled_close(H, central_difference_jacobian(kronvec.grad(s), (X35,)), FD_RTOL, "hessian")


def test_polyint_with_a_constant_p_and_a_traced_k():
    # NumPy dispatches np.polyint on p only: with a constant p its own code runs on the traced k and
    # returns an object array of traced entries (derivatives.md §29), lifted where it is returned
    f = lambda X: np.polyint([1.0, 2.0], 3, k=X[2, :3])  # noqa: E731
    np.testing.assert_array_equal(kronvec.vjp(f, X35)[0], f(X35))
    J_fd = central_difference_jacobian(lambda Z: np.asarray(f(Z), dtype=np.float64), (X35,))
    assert_scaled_close(kronvec.jacobian(f)(X35).toarray(), J_fd, FD_RTOL, "jacobian")


def test_polymul_trims_leading_zeros_as_numpy_does():
    # np.polymul reads its arguments as np.poly1d, which drops leading zeros: a traced zero there is
    # dropped too (the constant 0, derivative 0: derivatives.md §34), so the value and shape are NumPy's
    p = np.array([0.0, 0.0, 1.0, 2.0])
    f = lambda p: np.polymul(p, [1.0, 3.0])  # noqa: E731
    np.testing.assert_array_equal(kronvec.vjp(f, p)[0], f(p))
    np.testing.assert_array_equal(kronvec.jacobian(f)(p).toarray(), [[0, 0, 1, 0], [0, 0, 3, 1], [0, 0, 0, 3]])
    zero = lambda p: np.polymul(0.0 * p, p)  # noqa: E731 (no coefficient left: NumPy's [0] times p)
    np.testing.assert_array_equal(kronvec.vjp(zero, p)[0], zero(p))
    assert not kronvec.jacobian(zero)(p).toarray().any()
    # polyadd/polysub do not trim (NumPy neither): a leading zero keeps its derivative
    np.testing.assert_array_equal(kronvec.jacobian(lambda p: np.polyadd(p, [1.0]))(p).toarray(), np.eye(4))


@pytest.mark.parametrize("f, name", [
    (lambda x: np.sum(np.polymul(x, x)), "np.polymul"),
    (lambda x: np.sum(np.polyfit(np.arange(3.0), x, 1)), "np.polyfit"),
])
def test_value_dependent_polynomials_refuse_compilation_by_name(f, name):
    # leading-zero trimming and the rank check read the values: a compiled replay could not redo them
    with pytest.raises(TypeError, match=f"cannot compile this function: {name} reads the values"):
        kronvec.grad(f, compile=True)(np.array([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.sum(np.polyder(x)), compile=True)(np.ones(3)), [2, 1, 0])


def test_index_reductions_are_plain_values():
    G = kronvec.grad(lambda X: X[0, np.nanargmax(X[0])] + X[1, np.nanargmin(X[1])])(X35)
    assert G[0, np.argmax(X35[0])] == 1.0 and G[1, np.argmin(X35[1])] == 1.0 and G.sum() == 2.0
