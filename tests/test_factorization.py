"""The shared LU / Cholesky factorization behind inv, slogdet and solve
(kronvec/_linalg/factorization.py), against NumPy's own linear algebra."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kronvec import config
from kronvec._config import IllConditionedWarning
from kronvec._linalg.factorization import (
    THREADED_MIN_ORDER,
    Factorization,
    NumPyFactorization,
    all_finite,
    call_scope,
    factorize,
    new_factorization,
)

# Orders on both sides of the cut-offs: Python/NumPy reductions (16/17), getri's
# workspace (63/64) and LU/Cholesky for symmetric positive definite matrices (149/150).
ORDERS = [0, 1, 2, 3, 5, 16, 17, 63, 64, 65, 149, 150]


def _general(n, seed, dtype=np.float64):
    """A random nonsymmetric matrix; row pivoting happens and det may be negative."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, n)) + 0.5 * np.eye(n)).astype(dtype)


def _spd(n, seed, dtype=np.float64):
    A = np.random.default_rng(seed).standard_normal((n, n))
    return (A @ A.T + n * np.eye(n)).astype(dtype)


def _tolerance(dtype):
    return 1e-10 if dtype == np.float64 else 2e-3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", ORDERS)
@pytest.mark.parametrize("kind", ["general", "spd", "negative definite"])
def test_inverse_logabsdet_and_solve_agree_with_numpy(kind, n, dtype):
    X = {"general": _general, "spd": _spd}.get(kind, lambda n, s, d: -_spd(n, s, d))(n, n + 7, dtype)
    before = X.copy()
    factors = new_factorization(X, "test")
    # small matrices on SciPy's LAPACK (never threaded), large ones on NumPy's
    assert isinstance(factors, NumPyFactorization) == (n >= THREADED_MIN_ORDER)
    tol = _tolerance(dtype)

    inverse = factors.inverse()
    assert inverse.dtype == dtype and inverse.shape == (n, n)
    if n:
        reference = np.linalg.inv(X.astype(np.float64))
        assert np.abs(inverse - reference).max() <= tol * np.abs(reference).max()

    sign, value = factors.logabsdet()
    sign_ref, value_ref = np.linalg.slogdet(X.astype(np.float64))
    assert sign.dtype == dtype and value.dtype == dtype
    assert sign == sign_ref
    assert abs(value - value_ref) <= tol * max(1.0, abs(value_ref))

    # (a large matrix solves n/2 or more columns through its inverse, fewer by np.linalg.solve)
    many_columns = _general(max(n, 1), n + 8, dtype)[:n, : (n + 1) // 2]
    for B in (np.arange(n, dtype=dtype), np.ones((n, 3), dtype=dtype), np.ones((n, 0), dtype=dtype), many_columns):
        for transposed in (False, True):
            solution = factors.solve(B, transposed=transposed)
            assert solution.shape == B.shape
            if B.size:
                A = X.astype(np.float64)
                reference = np.linalg.solve(A.T if transposed else A, B.astype(np.float64))
                assert np.abs(solution - reference).max() <= tol * max(1.0, np.abs(reference).max())
    np.testing.assert_array_equal(X, before)  # never modified


def test_negative_determinant_from_row_swaps_and_from_negative_pivots():
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])  # one row swap, positive pivots: det = -1
    assert Factorization(swap, "t").logabsdet() == (-1.0, 0.0)
    assert Factorization(np.diag([-2.0, 3.0]), "t").logabsdet()[0] == -1.0
    big = np.diag(np.r_[-np.ones(20), np.ones(5)])  # NumPy reduction path, 20 negatives
    assert Factorization(big, "t").logabsdet() == (1.0, 0.0)


def test_symmetric_indefinite_falls_back_to_lu():
    n = THREADED_MIN_ORDER + 10  # where a symmetric matrix is tried with Cholesky first
    S = _spd(n, 2)
    X = S - 1.5 * np.eye(n) * np.linalg.eigvalsh(S)[n // 2]  # symmetric, eigenvalues of both signs
    factors = new_factorization(X, "t")
    assert factors.logabsdet() == pytest.approx(np.linalg.slogdet(X), rel=1e-12)


@pytest.mark.parametrize("n", [3, 70, THREADED_MIN_ORDER + 1])
def test_exactly_singular_raises_naming_the_operation(n):
    X = _general(n, 3)
    X[:, -1] = 0.0  # a zero column stays zero through elimination: an exact zero pivot
    factors = new_factorization(X, "np.linalg.inv")
    for call in (factors.inverse, factors.logabsdet, lambda: factors.solve(np.ones(n)),
                 lambda: factors.solve(np.ones((n, n)))):
        with pytest.raises(np.linalg.LinAlgError, match=r"np\.linalg\.inv: the .* matrix is singular"):
            call()


def test_inverse_that_overflows_is_numerically_singular():
    X = np.diag([1.0, 1e-310])  # a subnormal pivot: 1e310 overflows
    with pytest.raises(np.linalg.LinAlgError, match="numerically singular"):
        Factorization(X, "np.linalg.inv").inverse()


def test_condition_number_exact_after_the_inverse_and_estimated_before():
    X = _general(6, 4)
    exact = np.linalg.cond(X, 1)
    estimate = Factorization(X, "t").condition()
    # LAPACK's gecon estimates ‖X⁻¹‖₁ from below, to within a small factor in practice.
    assert exact / 10 <= estimate <= exact * (1 + 1e-12)
    factors = Factorization(X, "t")
    factors.inverse()
    assert factors.condition() == pytest.approx(exact, rel=1e-12)


def test_ill_conditioned_warns_once_per_factorization():
    X = np.diag([1.0, 1e-15])
    factors = Factorization(X, "np.linalg.solve")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        factors.solve(np.ones(2))
        factors.inverse()
        factors.solve(np.ones(2))
    ours = [w.message for w in caught if issubclass(w.category, IllConditionedWarning)]
    assert len(ours) == 1 and "np.linalg.solve" in str(ours[0]), [str(w) for w in ours]
    assert 1e14 < ours[0].condition < 1e16  # κ₁ = 1e15, carried by the warning object
    with config.override(condition_warning=None), warnings.catch_warnings():
        warnings.simplefilter("error")
        Factorization(X, "t").inverse()


def test_call_scope_shares_factorizations_by_identity_only_inside_the_scope():
    X = _general(4, 5)  # (inside a call, every matrix belongs to the call: see factorize)
    assert factorize(X, "t") is not factorize(X, "t")
    with call_scope():
        first = factorize(X, "t")
        assert factorize(X, "t") is first
        assert factorize(X.copy(), "t") is not first  # equal values, another array
        with call_scope():  # a nested call has its own
            assert factorize(X, "t") is not first
        assert factorize(X, "t") is first
        view = X.T.T
        assert factorize(view, "t") is not first  # another object, shared from now on
        assert factorize(view, "t") is factorize(view, "t")


def test_integer_and_half_precision_matrices_are_promoted_like_numpy():
    ints = np.array([[2, 1], [1, 3]])
    inverse = factorize(ints, "t").inverse()
    assert inverse.dtype == np.float64
    np.testing.assert_allclose(inverse, np.linalg.inv(ints), rtol=1e-14)
    assert factorize(ints.astype(np.float16), "t").inverse().dtype == np.float32


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize == 8, reason="longdouble is float64 here")
def test_extended_precision_is_refused():
    with pytest.raises(TypeError, match="float32 or float64"):
        factorize(np.eye(2, dtype=np.longdouble), "t")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "strided", "1-D", "3-D"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, None])
def test_all_finite_agrees_with_isfinite_for_every_layout(dtype, layout, bad):
    X = np.random.default_rng(0).standard_normal((5, 6)).astype(dtype)
    if bad is not None:
        X[3, 4] = bad
    X = {"C": X, "F": np.asfortranarray(X), "strided": np.repeat(X, 2, axis=1)[:, ::2],
         "1-D": X.ravel(), "3-D": X.reshape(5, 3, 2)}[layout]
    assert all_finite(X) == bool(np.isfinite(X).all())
    huge = np.full((2, 2), np.finfo(dtype).max, dtype=dtype)  # finite, at the edge
    assert all_finite(huge)
    assert all_finite(np.zeros((0, 3), dtype=dtype))


@pytest.mark.parametrize("diagonal", [
    [1e-160, 1e-160, 1e160, 1e160],  # a product of the pivots would lose digits in subnormals
    [1e200, 1e200, 1e-200, 1e-200],  # ... or overflow
    [2.0**61, 1.0, 3.0],
    [3.0, -2.0, 0.5, -7.0, 1e-3],    # two negative pivots
])
def test_logabsdet_of_widely_scaled_pivots_matches_numpy(diagonal):
    n = len(diagonal)
    shift = np.roll(np.eye(n), 1, axis=0)  # a cyclic permutation: n - 1 row swaps
    X = shift @ np.diag(diagonal)
    sign, value = Factorization(X, "t").logabsdet()
    sign_ref, value_ref = np.linalg.slogdet(X)
    assert sign == sign_ref
    assert value == pytest.approx(value_ref, rel=1e-15, abs=1e-13)


@pytest.mark.parametrize("layout", ["F", "strided", "transposed"])
def test_any_memory_layout_is_factored_correctly_and_left_unchanged(layout):
    base = _general(10, 9)
    X = {"F": np.asfortranarray(base), "strided": base[::2, ::2], "transposed": base.T}[layout]
    before = X.copy()
    factors = Factorization(X, "t")
    np.testing.assert_allclose(factors.inverse(), np.linalg.inv(before), rtol=1e-12, atol=1e-12)
    assert factors.logabsdet()[1] == pytest.approx(np.linalg.slogdet(before)[1], rel=1e-13)
    np.testing.assert_allclose(factors.solve(np.ones(X.shape[0])), np.linalg.solve(before, np.ones(X.shape[0])),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(X, before)
