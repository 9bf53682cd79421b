"""NaN-skipping reductions, np.cov, np.corrcoef and np.polyval (issue 12).

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

from _helpers import central_difference_jacobian, check_value_and_derivatives

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
    "corrcoef": lambda X: np.corrcoef(X),
    "corrcoef of two rows": lambda X: np.corrcoef(X[0], X[2]),
    "polyval traced p and x": lambda X: np.polyval(X[0], X[1]),
    "polyval traced p": lambda X: np.polyval(X[0], 0.7),
    "polyval traced x": lambda X: np.polyval([1.0, -2.0, 0.5], X),
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
    (lambda X: np.cov(X, fweights=np.ones(5, dtype=int)), TypeError, "fweights"),
    (lambda X: np.cov(X, ddof=5), ValueError, "degrees of freedom"),
    (lambda X: np.nanmean(X, dtype=np.int64), TypeError, "dtype"),  # (a float dtype= is honoured)
    (lambda X: np.corrcoef(X * 0.0 + 1.0), ValueError, "zero variance"),
    (lambda X: np.polyval(X, 0.5), ValueError, "1-D"),
])
def test_arguments_without_a_derivative_or_with_no_value_are_refused(call, error, message):
    with pytest.raises(error, match=message):
        kronvec.grad(lambda X: np.sum(call(X)))(X35)


def test_index_reductions_are_plain_values():
    G = kronvec.grad(lambda X: X[0, np.nanargmax(X[0])] + X[1, np.nanargmin(X[1])])(X35)
    assert G[0, np.argmax(X35[0])] == 1.0 and G[1, np.argmin(X35[1])] == 1.0 and G.sum() == 2.0
