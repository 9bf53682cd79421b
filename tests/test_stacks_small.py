"""Stacks through the numba kernels (issue 14, second slice): closed forms for
members of order n ≤ 4, one LU per member for medium orders, the inverse's VJP
in one pass; the conditioning check and its one warning; the errors naming
members; the det Hessian exact at singular members of a stack.

The kernels run only for stacks of at least ``config.numba_min_entries``
entries (small problems never import numba); the tests lower that limit to 0
(``_kernels_on``) so that small stacks take the kernel paths.
"""

from __future__ import annotations

import textwrap
import warnings

import numpy as np
import pytest

import kronvec
from kronvec._config import config
from kronvec._linalg import stacks
from kronvec._vec import vec
from kronvec.ops.linalg import det_hessian_operator

from _helpers import assert_scaled_close, central_difference_jacobian
from test_kernels import run_python

RNG = np.random.default_rng(20261214)


def _kernels_on():
    return config.override(numba_min_entries=0)


def _well_conditioned(*shape):
    return RNG.standard_normal(shape) + 3.0 * np.eye(shape[-1])


def _results(X, operation="test"):
    with _kernels_on():
        results = stacks.stack_results(X, operation)
        return results.inverse(), results.slogdet()


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kernel_values_match_lapack(n, dtype):
    """Closed forms (n ≤ 4) and one LU per member (n > 4) agree with NumPy's batched
    LAPACK to rounding (not bit for bit: other algorithms) and keep the dtype."""
    # Its own draw, shifted by 3 + 2√n (a Gaussian n×n matrix's eigenvalues lie within about √n
    # of 0): drawn from the module's RNG, the members depended on which tests ran before in the
    # same worker, and a draw of order 9 with κ₁ in the hundreds failed the float32 tolerance.
    rng = np.random.default_rng(n)
    X = (rng.standard_normal((2, 7, n, n)) + (3.0 + 2.0 * np.sqrt(n)) * np.eye(n)).astype(dtype)
    assert np.linalg.cond(X.astype(np.float64), 1).max() < 100
    inverse, (sign, logabsdet) = _results(X)
    expected_sign, expected_log = np.linalg.slogdet(X)
    assert inverse.dtype == dtype and logabsdet.dtype == dtype and sign.dtype == dtype
    # The members are well-conditioned (κ₁ < 100): both results are within a few
    # hundred eps of each other.
    tolerance = 2e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(inverse, np.linalg.inv(X), rtol=tolerance, atol=tolerance)
    np.testing.assert_array_equal(sign, expected_sign)
    np.testing.assert_allclose(logabsdet, expected_log, rtol=tolerance, atol=tolerance)


def test_nearly_singular_members_go_to_lapack():
    """Members whose Hadamard ratio |det| / ∏ row norms is below HADAMARD_MIN are
    NumPy's LAPACK results exactly; the others the closed form's."""
    X = _well_conditioned(50, 3, 3)
    near = [4, 17, 31]
    for k in near:
        X[k, 2] = X[k, 0] + 1e-6 * RNG.standard_normal(3)  # ratio ~1e-6
    ratio = np.abs(np.linalg.det(X)) / np.prod(np.linalg.norm(X, axis=-1), axis=-1)
    assert set(np.flatnonzero(ratio < stacks.HADAMARD_MIN)) == set(near)
    inverse, (sign, logabsdet) = _results(X)
    np.testing.assert_array_equal(inverse[near], np.linalg.inv(X[near]))
    np.testing.assert_array_equal(logabsdet[near], np.linalg.slogdet(X[near])[1])
    np.testing.assert_allclose(inverse, np.linalg.inv(X), rtol=1e-9)


def test_closed_form_accuracy_near_the_threshold_is_that_of_lu():
    """Just above the threshold the closed form's error stays within a small
    multiple of eps·κ₁, as LU's does (reference: exact rational arithmetic)."""
    from fractions import Fraction

    def exact_inverse(A):  # Gauss–Jordan in rationals: the exact inverse of the float matrix
        n = len(A)
        M = [[Fraction(float(v)) for v in row] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(A)]
        for c in range(n):
            p = next(r for r in range(c, n) if M[r][c] != 0)
            M[c], M[p] = M[p], M[c]
            M[c] = [v / M[c][c] for v in M[c]]
            for r in range(n):
                if r != c and M[r][c] != 0:
                    M[r] = [a - M[r][c] * b for a, b in zip(M[r], M[c])]
        return np.array([[float(v) for v in row[n:]] for row in M])

    eps = np.finfo(float).eps
    for n in (3, 4):
        X = RNG.standard_normal((40, n, n))
        X[:, -1] = np.einsum("ki,kij->kj", RNG.standard_normal((40, n - 1)), X[:, :-1]) + \
            10.0 ** RNG.uniform(-3, 0, (40, 1)) * RNG.standard_normal((40, n))
        inverse, _ = _results(X)
        for k in range(40):
            ratio = abs(np.linalg.det(X[k])) / np.prod(np.linalg.norm(X[k], axis=-1))
            if ratio < stacks.HADAMARD_MIN:
                continue
            exact = exact_inverse(X[k])
            error = np.abs(inverse[k] - exact).max() / np.abs(exact).max()
            assert error <= 4.0 * n * eps * np.linalg.cond(X[k], 1), (n, k, error)


def test_forward_values_in_a_differentiation_call():
    X = _well_conditioned(3, 4, 3, 3)
    with _kernels_on():
        value = kronvec.vjp(lambda Z: np.linalg.slogdet(Z)[1] + np.linalg.det(Z), X)[0]
    np.testing.assert_allclose(value, np.linalg.slogdet(X)[1] + np.linalg.det(X), rtol=1e-13)


# ------------------------------------------------------------- derivatives
RULES = {
    "inv": lambda Z: np.linalg.inv(Z),
    "det": lambda Z: np.linalg.det(Z),
    "slogdet": lambda Z: np.linalg.slogdet(Z)[1],
}


@pytest.mark.parametrize("name", list(RULES))
@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_kernel_path_derivatives_match_finite_differences(name, n):
    f = RULES[name]
    # (inputs of their own, not the module RNG's next draws: under pytest-xdist which tests
    # share a worker varies from run to run, and with it the point. Scaled so that det X is of
    # order 1: at points where |det X| is in the thousands, sin(det X) oscillates too fast for
    # the central differences to reach 1e-6, although kronvec's gradient is exact to 1e-14 there)
    rng = np.random.default_rng([n, list(RULES).index(name)])
    X = (rng.standard_normal((2, 3, n, n)) + 3.0 * np.eye(n)) / 3.0
    W = rng.uniform(0.5, 1.5, np.shape(f(X)))

    def s(Z):
        return np.sum(W * np.sin(f(Z)))

    with _kernels_on():
        J = kronvec.jacobian(f)(X).toarray()
        gradient = kronvec.grad(s)(X)
        H = kronvec.hessian(s)(X).toarray()
    plain = lambda Z: np.asarray(f(Z), dtype=np.float64)  # noqa: E731
    assert_scaled_close(J, central_difference_jacobian(plain, (X,)), 1e-6, "jacobian")
    assert_scaled_close(vec(gradient), central_difference_jacobian(s, (X,))[0], 1e-6, "grad")
    with _kernels_on():
        H_fd = central_difference_jacobian(kronvec.grad(s), (X,))
    assert_scaled_close(H, H_fd, 1e-6, "hessian")


def test_inverse_vjp_kernel():
    """X̄ = −X⁻ᵀ Ḡ X⁻ᵀ member by member, one numba pass (any strides of Ḡ)."""
    X = _well_conditioned(5, 2, 4, 4)
    C = RNG.standard_normal(X.shape)
    for G in (C, np.swapaxes(C, -1, -2)):
        with _kernels_on():
            gradient = kronvec.grad(lambda Z: np.sum(np.linalg.inv(Z) * G))(X)
        inverse_t = np.swapaxes(np.linalg.inv(X), -1, -2)
        np.testing.assert_allclose(gradient, -inverse_t @ G @ inverse_t, rtol=1e-12, atol=1e-13)


# ------------------------------------------------ det Hessian at singular members
@pytest.mark.parametrize("kernels", [False, True], ids=["svd adjugate", "closed-form adjugate"])
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_det_hessian_is_exact_at_singular_members(n, kernels):
    """Block k of the Hessian of Σ det X_k is the 2-D det Hessian of X_k, at rank
    n−1 and n−2 members as well (no X⁻¹ anywhere), and off-diagonal blocks vanish."""
    X = _well_conditioned(4, n, n)
    X[1, :, 0] = X[1, :, 1]  # rank n−1
    X[2] = np.outer(RNG.standard_normal(n), RNG.standard_normal(n))  # rank 1 (n−2 for n = 3)
    X[3] = 0.0
    f = lambda Z: np.sum(np.linalg.det(Z))  # noqa: E731
    with config.override(numba_min_entries=0 if kernels else 1 << 18):
        H = kronvec.hessian(f)(X)
        V = RNG.standard_normal(X.shape)
        product = kronvec.hvp(f)(X, V)
    dense = H.toarray()
    K = X.shape[0]
    expected = np.zeros_like(dense)
    for k in range(K):
        rows = [k + K * b for b in range(n * n)]
        expected[np.ix_(rows, rows)] = det_hessian_operator(X[k]).toarray()
    np.testing.assert_allclose(dense, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vec(product), expected @ vec(V), rtol=1e-12, atol=1e-12)


def test_det_gradient_at_singular_members_on_the_kernel_path():
    X = _well_conditioned(3, 4, 4)
    X[1, :, 0] = X[1, :, 1]
    with _kernels_on():
        gradient = kronvec.grad(lambda Z: np.sum(np.linalg.det(Z)))(X)
    for k in range(3):
        cofactors = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(X[k], i, 0), j, 1))
                               for j in range(4)] for i in range(4)])
        np.testing.assert_allclose(gradient[k], cofactors, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("n", [3, 6])
def test_singular_members_are_named_on_the_kernel_paths(n):
    X = _well_conditioned(6, n, n)
    X[2] = 0.0
    X[4, 1] = 0.0
    with _kernels_on():
        results = stacks.stack_results(X, "np.linalg.inv")
        sign, logabsdet = results.slogdet()  # forward values as NumPy's: sign 0, -inf
        assert sign[2] == sign[4] == 0 and logabsdet[2] == logabsdet[4] == -np.inf
        for f in (lambda Z: np.sum(np.linalg.inv(Z)), lambda Z: np.sum(np.linalg.slogdet(Z)[1])):
            with pytest.raises(np.linalg.LinAlgError, match=r"2 members .*\(6, %d, %d\).* batch index 2, 4" % (n, n)):
                kronvec.grad(f)(X)


@pytest.mark.parametrize("n", [3, 6])
def test_non_finite_members_are_named(n):
    X = _well_conditioned(2, 5, n, n)
    X[1, 3, 0, 1] = np.nan
    X[0, 2, 1, 1] = np.inf
    # the argument check names the first entry and its member
    with pytest.raises(ValueError, match=r"2 member\(s\) at batch index \(0, 2\), \(1, 3\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.inv(Z)))(X)
    # inside the rules (a NaN computed on the way, or the check switched off): every member named
    for kernels in (0, 1 << 40):
        with config.override(numba_min_entries=kernels, check_finite=False):
            for f in (lambda Z: np.sum(np.linalg.inv(Z)), lambda Z: np.sum(np.linalg.slogdet(Z)[1])):
                with pytest.raises(ValueError, match=r"2 members .* NaN or inf .* batch index \(0, 2\), \(1, 3\)"):
                    kronvec.grad(f)(X)


def test_one_warning_for_the_whole_stack_at_the_callers_line():
    X = _well_conditioned(30, 3, 3)
    for k in (3, 7, 11):
        X[k, 2] = X[k, 0] + 1e-15 * np.arange(1, 4)  # κ₁ ~ 1e16: ill-conditioned, not singular
    f = lambda Z: np.sum(np.linalg.inv(Z))  # noqa: E731
    for kernels in (0, 1 << 40):
        with config.override(numba_min_entries=kernels), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kronvec.grad(f)(X)
        ill = [w for w in caught if issubclass(w.category, kronvec.IllConditionedWarning)]
        assert len(ill) == 1, [str(w.message) for w in caught]
        assert "3 members of the 30 in the stack of shape (30, 3, 3) are ill-conditioned" in str(ill[0].message)
        assert ill[0].filename == __file__  # the user's line: Python's deduplication keys on it
    with config.override(condition_warning=None), warnings.catch_warnings():
        warnings.simplefilter("error")
        kronvec.grad(f)(X)


def test_the_warning_deduplicates_at_one_call_site():
    # Its own seeded points (the module's RNG depends on which tests share an xdist worker),
    # and member 5 ill-conditioned by construction: singular values 3, 1, 3e-14 (κ = 1e14,
    # above the 4.5e13 warning threshold), so its last LU pivot, about 3e-14, stays far from
    # the rounding (~1e-15) that made a row copied to within 1e-15 exactly singular in one CI run.
    rng = np.random.default_rng(248)
    X = rng.standard_normal((8, 3, 3)) + 3.0 * np.eye(3)
    (Q, _), (P, _) = np.linalg.qr(rng.standard_normal((3, 3))), np.linalg.qr(rng.standard_normal((3, 3)))
    X[5] = (Q * np.array([3.0, 1.0, 3e-14])) @ P.T
    f = lambda Z: np.sum(np.linalg.inv(Z))  # noqa: E731
    with _kernels_on(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            kronvec.grad(f)(X)  # one line, the same stack: one warning
    assert sum(issubclass(w.category, kronvec.IllConditionedWarning) for w in caught) == 1


# ------------------------------------------------------ numba housekeeping
def test_small_stacks_do_not_import_numba():
    completed = run_python(
        """
        import sys
        import numpy as np
        import kronvec
        X = np.random.default_rng(0).standard_normal((50, 3, 3)) + 3 * np.eye(3)
        kronvec.value_and_grad(lambda Z: np.sum(np.linalg.slogdet(Z)[1]) + np.sum(np.linalg.inv(Z)))(X)
        kronvec.hessian(lambda Z: np.sum(np.linalg.det(Z)))(X[:4])
        assert "numba" not in sys.modules, "a small stack imported numba"
        """
    )
    assert completed.stdout == ""


def test_stack_kernels_run_without_a_usable_cache():
    completed = run_python(
        textwrap.dedent("""
        import numpy as np
        import kronvec
        from kronvec import _kernels
        from kronvec._config import config
        X = np.random.default_rng(0).standard_normal((20, 3, 3)) + 3 * np.eye(3)
        with config.override(numba_min_entries=0):
            g = kronvec.grad(lambda Z: np.sum(np.linalg.inv(Z)))(X)
        it = np.swapaxes(np.linalg.inv(X), -1, -2)
        assert np.allclose(g, -it @ np.ones((3, 3)) @ it)
        print(_kernels.small_inverse_fill.cached)
        """),
        NUMBA_CACHE_DIR="/dev/null/nope",
        NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
    )
    assert completed.stdout.strip() == "False"


@pytest.mark.parametrize("kernels", [False, True], ids=["lapack", "kernels"])
def test_gradient_of_the_sum_of_log_determinants_owns_its_memory(kernels):
    """ḡ = 1 for every member returns X⁻ᵀ as a view inside the sweep; the gradient
    handed out is still the user's own array."""
    # (its own generator: the module's draws depend on which tests share an xdist worker)
    X = np.random.default_rng(29).standard_normal((6, 3, 3)) + 3.0 * np.eye(3)
    f = lambda Z: np.sum(np.linalg.slogdet(Z)[1])  # noqa: E731
    expected = np.swapaxes(np.linalg.inv(X), -1, -2)
    # The kernels' inverse (closed forms) and LAPACK's agree to rounding relative to the
    # inverse's size, not entry by entry: an entry of 1.6e-5 beside entries of 0.3 once
    # differed by 2.6e-18 (1.6e-13 of itself, 1e-17 of the largest), so the tolerance is
    # scaled by the largest entry.
    atol = 1e-13 * np.abs(expected).max()
    with config.override(numba_min_entries=0 if kernels else 1 << 18):
        value, gradient = kronvec.value_and_grad(f)(X)
        assert gradient.flags.writeable and gradient.flags.owndata
        np.testing.assert_allclose(gradient, expected, rtol=1e-13, atol=atol)
        gradient[...] = 0.0
        np.testing.assert_allclose(kronvec.grad(f)(X), expected, rtol=1e-13, atol=atol)
