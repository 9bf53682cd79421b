"""kronvec.scipy.linalg matrix functions (issue 13): expm, logm, sqrtm,
fractional_matrix_power, polar and funm_symmetric; and (the last section) expm_frechet
and the trigonometric and hyperbolic functions built on expm.

Values against SciPy's (1e-12 relative; the symmetric path goes through eigh, SciPy
through Padé/Schur: they agree to rounding), derivatives against central finite
differences in every mode (tests/_scipy_helpers.py) for general and symmetric inputs,
at repeated eigenvalues (diag(1, 1, 2), the identity, rotated) and to second order;
the structured Jacobians against their dense forms with the dot test; the errors.
The registry sweep (tests/test_registry.py) checks the primitives themselves to third
order at their samples and edge cases.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg as sl

import kronvec
from kronvec import IllConditionedWarning
from kronvec.ops.matrix_functions import FrechetOperator
from kronvec.scipy import linalg as kl

from _helpers import assert_scaled_close, central_difference_jacobian, dense_of, dot_test, jacobian_and_peak_memory
from _scipy_helpers import check_derivatives

RNG = np.random.default_rng(26)


def _rotated(values, seed=0):
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(values), len(values))))
    A = (Q * np.asarray(values, dtype=float)) @ Q.T
    return (A + A.T) / 2


GENERAL = 2.0 * np.eye(3) + 0.5 * RNG.standard_normal((3, 3)) / 2.0   # eigenvalues near 2, not symmetric
SYMMETRIC = _rotated([0.5, 1.0, 1.5, 3.0], seed=1)                     # SPD, distinct eigenvalues
REPEATED = {
    "diag(1, 1, 2)": np.diag([1.0, 1.0, 2.0]),
    "identity": np.eye(3),
    "rotated diag(1, 1, 2)": _rotated([1.0, 1.0, 2.0], seed=2),
    "rotated diag(2, 1, 1, 1)": _rotated([2.0, 1.0, 1.0, 1.0], seed=3),
}
FUNCTIONS = {
    "expm": (kl.expm, sl.expm),
    "logm": (kl.logm, sl.logm),
    "sqrtm": (kl.sqrtm, sl.sqrtm),
    "fractional_matrix_power(·, 0.3)": (lambda A: kl.fractional_matrix_power(A, 0.3),
                                        lambda A: sl.fractional_matrix_power(A, 0.3)),
}
GENERAL_FUNCTIONS = {k: v for k, v in FUNCTIONS.items() if not k.startswith("fractional")}


def _agree(ours, theirs):
    assert_scaled_close(np.asarray(ours), np.asarray(theirs), 1e-12, "value vs SciPy")


# ------------------------------------------------------------------- values
@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("point", ["symmetric", *REPEATED])
def test_values_agree_with_scipy_on_symmetric_input(name, point):
    ours, theirs = FUNCTIONS[name]
    A = SYMMETRIC if point == "symmetric" else REPEATED[point]
    _agree(ours(A), theirs(A))


@pytest.mark.parametrize("name", GENERAL_FUNCTIONS)
def test_values_agree_with_scipy_on_general_input(name):
    ours, theirs = FUNCTIONS[name]
    np.testing.assert_array_equal(ours(GENERAL), theirs(GENERAL))  # the very SciPy call
    A = np.array([[1.5, -0.5], [0.5, 1.5]])  # complex eigenvalues, a real result
    _agree(ours(A), theirs(A))


def test_integer_input_and_empty_matrices():
    _agree(kl.expm(np.array([[1, 2], [0, 1]])), sl.expm(np.array([[1.0, 2.0], [0.0, 1.0]])))
    assert kl.expm(np.zeros((0, 0))).shape == (0, 0)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 3), (3, 4)])
def test_polar_agrees_with_scipy(side, shape):
    a = np.random.default_rng(4).standard_normal(shape) + np.eye(*shape)
    if (side == "right" and shape[0] < shape[1]) or (side == "left" and shape[0] > shape[1]):
        # u is not unique: SciPy's values on a plain array, no derivative on a traced one
        for ours, theirs in zip(kl.polar(a, side=side), sl.polar(a, side=side)):
            np.testing.assert_array_equal(ours, theirs)
        with pytest.raises(ValueError, match="side"):
            kronvec.grad(lambda x: np.sum(kl.polar(x, side=side)[0]))(a)
        return
    u, p = kl.polar(a, side=side)
    U, P = sl.polar(a, side=side)
    _agree(u, U)
    _agree(p, P)


def test_logm_and_sqrtm_disp_and_blocksize_as_scipy():
    with pytest.warns(DeprecationWarning, match="disp"):
        F, error = kl.logm(SYMMETRIC, disp=False)
    _agree(F, sl.logm(SYMMETRIC))
    assert isinstance(error, float) and error < 1e-12
    with pytest.warns(DeprecationWarning, match="blocksize"):
        S = kl.sqrtm(SYMMETRIC, blocksize=64)
    _agree(S, sl.sqrtm(SYMMETRIC))
    with pytest.warns(DeprecationWarning, match="disp"):
        S, error = kl.sqrtm(GENERAL, disp=False)
    assert isinstance(error, float) and error < 1e-12


def test_inputs_are_not_modified():
    A = GENERAL.copy()
    for name, (ours, _) in GENERAL_FUNCTIONS.items():
        kronvec.grad(lambda X: np.sum(ours(X)))(A)
        np.testing.assert_array_equal(A, GENERAL, err_msg=name)


# ------------------------------------------------------- derivatives vs FD
@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("point", ["general", "symmetric", *REPEATED])
def test_derivatives_match_finite_differences(name, point):
    if point == "general" and name.startswith("fractional"):
        pytest.skip("fractional_matrix_power: symmetric positive definite input only")
    A = {"general": GENERAL, "symmetric": SYMMETRIC, **REPEATED}[point]
    ours, theirs = FUNCTIONS[name]
    # second order at the 3×3 points (the 4×4 one: first order; the registry sweep adds third order
    # at 3×3 ties): a Hessian of logm runs SciPy's logm on 2n×2n and 4n×4n block matrices ~10³ times
    second = A.shape[0] <= 3
    if name.startswith("fractional"):
        # SPD input only: the finite differences run along symmetric directions, through
        # A ↦ f(sym A) — the derivative of f at A applied to sym(E), which is what the
        # Daleckii–Krein Jacobian of a symmetric A gives on any E (f(A + E) with E
        # symmetric); checked here on symmetric perturbations.
        check_derivatives(lambda X: ours((X + X.T) / 2), (A,), 0, second=second, what=f"{name} at {point}")
        return
    check_derivatives(ours, (A,), 0, second=second, what=f"{name} at {point}")


@pytest.mark.parametrize("point", ["symmetric", *REPEATED])
def test_funm_symmetric_first_order_and_its_second_where_eigenvalues_are_distinct(point):
    A = SYMMETRIC if point == "symmetric" else REPEATED[point]

    def f(X):
        return kl.funm_symmetric(X, np.tanh, lambda x: 1.0 - np.tanh(x) ** 2)

    check_derivatives(f, (A,), 0, second=point == "symmetric", what=f"funm_symmetric(tanh) at {point}")
    if point != "symmetric":  # second order goes through the eigenvectors: refused at a tie, never NaN
        with pytest.raises(np.linalg.LinAlgError, match="repeated"):
            kronvec.hessian(lambda X: np.sum(np.sin(f(X))))(A)


def test_funm_symmetric_agrees_with_expm_and_scipys_funm():
    _agree(kl.funm_symmetric(SYMMETRIC, np.exp, np.exp), sl.expm(SYMMETRIC))
    _agree(kl.funm_symmetric(SYMMETRIC, np.cos, lambda x: -np.sin(x)), sl.cosm(SYMMETRIC))
    g = kronvec.grad(lambda X: np.sum(np.sin(kl.funm_symmetric(X, np.exp, np.exp))))(SYMMETRIC)
    h = kronvec.grad(lambda X: np.sum(np.sin(kl.expm((X + X.T) / 2))))(SYMMETRIC)
    assert_scaled_close(g, h, 1e-12, "funm_symmetric(exp) vs expm of sym(X)")


def test_funm_symmetric_nearly_tied_eigenvalues_use_the_derivative():
    # gap 1e-9: the plain divided difference would have lost ~7 digits; the midpoint rule none
    A = _rotated([1.0, 1.0 + 1e-9, 2.0], seed=5)
    J = kronvec.jacobian(lambda X: kl.funm_symmetric(X, np.exp, np.exp))(A).toarray()
    E = kronvec.jacobian(lambda X: kl.expm((X + X.T) / 2))(A).toarray()  # exact e^lo·expm1(gap)/gap
    assert_scaled_close(J, E, 1e-12, "near tie")


@pytest.mark.parametrize("name", ["expm", "logm", "sqrtm"])
@pytest.mark.parametrize("point", ["general", "symmetric"])
def test_second_derivative_with_a_large_cotangent(name, point):
    # (regression: the block identity f([[Aᵀ, Ḡ], [0, Aᵀ]]) with Ḡ far larger than A — an
    # objective scaled by 1e12 — lost accuracy (expm's hvp off by 3e-5 at 1e12); the map is
    # linear in Ḡ, which is now brought to A's size first)
    f = {"expm": kl.expm, "logm": kl.logm, "sqrtm": kl.sqrtm}[name]
    A = GENERAL if point == "general" else SYMMETRIC
    W = np.random.default_rng(3).standard_normal(A.shape)
    D = np.random.default_rng(4).standard_normal(A.shape)
    unit = kronvec.hvp(lambda X: np.sum(W * f(X)))(A, D)
    for k in (1e-12, 1e12):
        assert_scaled_close(kronvec.hvp(lambda X: k * np.sum(W * f(X)))(A, D) / k, unit, 1e-12, f"scaled by {k:g}")


@pytest.mark.parametrize("gap", [1e-6, 1e-7, 1e-9])
def test_funm_symmetric_second_derivative_near_a_tie(gap):
    # (regression: the traced divided difference (f(λᵢ) − f(λⱼ))/(λᵢ − λⱼ), differentiated
    # as it stood, lost eps/gap² — the Hessian was off by 1e-5 at a gap of 1e-6, 2e-3 at 1e-7
    # and 10× at 1e-9, silently.  Reference: expm of sym(X), whose second derivative is the
    # block identity, no eigenvectors)
    A = _rotated([1.0, 1.0 + gap, 2.0], seed=5)
    W = np.random.default_rng(7).standard_normal((3, 3))
    D = _rotated([0.3, -1.0, 2.0], seed=8)
    H = kronvec.hvp(lambda X: np.sum(W * np.sin(kl.funm_symmetric(X, np.exp, np.exp))))(A, D)
    E = kronvec.hvp(lambda X: np.sum(W * np.sin(kl.expm((X + X.T) / 2))))(A, D)
    assert_scaled_close(H, E, 1e-7, f"hvp at gap {gap:g}")
    # compiled: the same numbers, and the decisions (which pairs are close, the gap check) replayed
    compiled = kronvec.hvp(lambda X: np.sum(W * np.sin(kl.funm_symmetric(X, np.exp, np.exp))), compile=True)
    np.testing.assert_array_equal(compiled(A, D), H)
    B = _rotated([1.0, 1.5, 2.0], seed=5)
    assert_scaled_close(compiled(B, D), kronvec.hvp(
        lambda X: np.sum(W * np.sin(kl.funm_symmetric(X, np.exp, np.exp))))(B, D), 1e-14, "replay")


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("point", ["general", "repeated singular values"])
def test_polar_derivatives(side, point):
    a = np.vstack([GENERAL, GENERAL[:1]]) if side == "right" else np.hstack([GENERAL, GENERAL[:, :1]])
    if point == "repeated singular values":  # an orthogonal matrix times 2: σ = (2, 2, 2)
        a = 2.0 * np.linalg.qr(GENERAL)[0]
    check_derivatives(lambda X: kl.polar(X, side)[0], (a,), 0, what=f"polar u ({side}, {point})")
    check_derivatives(lambda X: kl.polar(X, side)[1], (a,), 0, what=f"polar p ({side}, {point})")


def test_repeated_eigenvalue_gradient_is_finite_and_exact():
    # the example: sum(W ∘ expm(A)) at diag(1, 1, 2), where eigh-written code gives NaN
    A = np.diag([1.0, 1.0, 2.0])
    W = np.random.default_rng(6).uniform(0.5, 1.5, (3, 3))

    def f(X):
        return np.sum(W * kl.expm(X))

    G = kronvec.grad(f)(A)
    expected = central_difference_jacobian(lambda X: np.sum(W * sl.expm(X)), (A,))[0]
    assert np.all(np.isfinite(G))
    np.testing.assert_allclose(kronvec.vec(G), expected, rtol=0, atol=1e-6)
    # and the closed form: L_exp(Aᵀ, W), computed by SciPy's own Fréchet derivative
    np.testing.assert_allclose(G, sl.expm_frechet(A.T, W, compute_expm=False), rtol=1e-12)


# ---------------------------------------------------- structured Jacobians
@pytest.mark.parametrize("name", GENERAL_FUNCTIONS)
def test_general_jacobian_is_a_frechet_operator_matching_the_block_identity(name):
    ours, theirs = FUNCTIONS[name]
    J = kronvec.jacobian(ours)(GENERAL)
    assert isinstance(J, FrechetOperator)
    n = GENERAL.shape[0]
    E = np.random.default_rng(7).standard_normal((n, n))
    block = theirs(np.block([[GENERAL, E], [np.zeros((n, n)), GENERAL]]))[:n, n:]
    assert_scaled_close(J.matvec(kronvec.vec(E)), kronvec.vec(block), 1e-10, f"{name}: matvec")
    blockT = theirs(np.block([[GENERAL.T, E], [np.zeros((n, n)), GENERAL.T]]))[:n, n:]
    assert_scaled_close(J.rmatvec(kronvec.vec(E)), kronvec.vec(blockT), 1e-10, f"{name}: rmatvec")
    dense = J.toarray()
    assert_scaled_close(dense_of(J), dense, 1e-12, f"{name}: matmat(I) vs toarray")
    assert_scaled_close(J.T.toarray(), dense.T, 1e-10, f"{name}: J.T")
    dot_test(J, np.random.default_rng(8))
    assert J.formula().startswith("L_")


def test_sqrtm_jacobian_is_the_inverse_kronecker_sum():
    S = sl.sqrtm(GENERAL)
    n = S.shape[0]
    J = kronvec.jacobian(kl.sqrtm)(GENERAL).toarray()
    K = np.kron(np.eye(n), S) + np.kron(S.T, np.eye(n))
    assert_scaled_close(J, np.linalg.inv(K), 1e-12, "(I ⊗ S + Sᵀ ⊗ I)⁻¹")


@pytest.mark.parametrize("symmetric", [True, False])
def test_sqrtm_jacobian_build_peak_stays_below_six_and_a_half_n_squared(symmetric):
    """Issue 13: "< 4 n² · 8 bytes extra memory" beside the function itself (measured at
    n = 2000: the build's RSS peak 4.1 n² symmetric, 5.3 n² general, against SciPy's sqrtm
    alone 2.3 n²).  tracemalloc, which sees NumPy's buffers (not SciPy's sqrtm, a C
    routine): the build, the call's copy of A and SciPy's Schur form included, peaked at
    8.1 n² (symmetric: Γ's out-of-place temporaries) and 7.0 n² (general: the n² complex
    eigenvalue sums checked for a singular Kronecker sum) on 4bffa5a."""
    m = 500
    rng = np.random.default_rng(3)
    G = rng.standard_normal((m, m)) / np.sqrt(m)
    A = G @ G.T / 2 + np.eye(m) if symmetric else 0.5 * G + 1.5 * np.eye(m)
    kronvec.jacobian(kl.sqrtm)(A)  # (first-call costs out of the count)
    J, peak = jacobian_and_peak_memory(kl.sqrtm, A)
    assert peak < 6.5 * 8 * m * m, f"peak {peak / (8 * m * m):.2f} n²"
    E = rng.standard_normal((m, m))
    E = E + E.T if symmetric else E
    S = sl.sqrtm(A)  # S dX + dX S = E
    dX = (J @ E.reshape(-1, order="F")).reshape(m, m, order="F")
    np.testing.assert_allclose(S @ dX + dX @ S, E, rtol=0, atol=1e-9 * np.abs(E).max())


@pytest.mark.parametrize("name", FUNCTIONS)
def test_symmetric_jacobian_is_daleckii_krein_and_exact_at_repeated_eigenvalues(name):
    ours, _ = FUNCTIONS[name]
    A = REPEATED["rotated diag(1, 1, 2)"]
    J = kronvec.jacobian(ours)(A)
    assert not isinstance(J, FrechetOperator)
    assert "⊗" in J.formula()
    dense = J.toarray()
    assert np.all(np.isfinite(dense))
    dot_test(J, np.random.default_rng(9))
    if not name.startswith("fractional"):  # (fractional_matrix_power: SPD input only)
        # against the general path's block identity, exact at ties too
        general = np.asarray(J.matvec(kronvec.vec(np.triu(np.ones((3, 3))))))
        n = 3
        _, theirs = FUNCTIONS[name]
        E = np.triu(np.ones((3, 3)))
        block = theirs(np.block([[A, E], [np.zeros((n, n)), A]]))[:n, n:]
        assert_scaled_close(general, kronvec.vec(block), 1e-10, f"{name}: Daleckii–Krein vs block identity")


def test_symmetric_fast_path_below_a_trace_is_f_prime():
    A = REPEATED["rotated diag(2, 1, 1, 1)"]
    value, G = kronvec.value_and_grad(lambda X: np.trace(kl.expm(X)))(A)
    assert_scaled_close(G, sl.expm(A), 1e-12, "∇ tr e^A = e^A")
    assert abs(value - np.trace(sl.expm(A))) < 1e-12 * value
    G = kronvec.grad(lambda X: np.trace(kl.sqrtm(X)))(A)
    assert_scaled_close(G, 0.5 * np.linalg.inv(sl.sqrtm(A)), 1e-12, "∇ tr √A = ½ A^(−½)")


def test_structured_jacobians_refuse_dense_beyond_the_limit():
    with kronvec.config.override(dense_limit_bytes=1000):
        with pytest.raises(Exception, match="limit|refus|exceed"):
            kronvec.jacobian(kl.expm)(GENERAL).toarray()
        with pytest.raises(Exception, match="limit|refus|exceed"):
            kronvec.jacobian(kl.expm)(SYMMETRIC).toarray()


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("function", [kl.expm, kl.logm, kl.sqrtm, lambda A: kl.fractional_matrix_power(A, 0.5),
                                      lambda A: kl.funm_symmetric(A, np.exp, np.exp)])
def test_bad_shapes_and_values(function):
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        function(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"square"):
        function(np.ones(3))
    with pytest.raises(ValueError, match="non-finite"):
        function(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(TypeError, match="complex"):
        function(np.eye(2, dtype=complex))


@pytest.mark.parametrize("A", [np.diag([-1.0, 2.0]), _rotated([-1.0, 2.0, 3.0]),
                               np.array([[-2.0, 1.0], [0.0, 3.0]])], ids=["diagonal", "symmetric", "general"])
@pytest.mark.parametrize("function", [kl.logm, kl.sqrtm], ids=["logm", "sqrtm"])
def test_a_negative_eigenvalue_has_no_real_logarithm_or_square_root(function, A):
    with pytest.raises(np.linalg.LinAlgError, match="negative"):
        function(A)


def test_singular_and_nearly_singular_matrices():
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        kl.logm(np.diag([0.0, 1.0]))
    with pytest.warns(IllConditionedWarning, match="nearly singular"):
        kl.logm(np.diag([1e-15, 1.0]))
    with pytest.warns(IllConditionedWarning, match="nearly singular"):
        kl.logm(np.array([[1e-15, 1.0], [0.0, 1.0]]))
    # sqrtm of a singular matrix exists; its derivative is infinite: refused, never inf/NaN
    _agree(kl.sqrtm(np.diag([0.0, 4.0])), np.diag([0.0, 2.0]))
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        kronvec.grad(lambda X: np.sum(kl.sqrtm(X)))(np.diag([0.0, 4.0]))
    with pytest.raises(np.linalg.LinAlgError, match="singular"), warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.LinAlgWarning)  # (SciPy's own, from its sqrtm of a singular matrix)
        kronvec.jacobian(kl.sqrtm)(np.array([[0.0, 1.0], [0.0, 4.0]]))


def test_fractional_matrix_power_needs_spd_input():
    with pytest.raises(np.linalg.LinAlgError, match="not symmetric"):
        kl.fractional_matrix_power(GENERAL, 0.5)
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        kl.fractional_matrix_power(np.diag([1.0, -1.0]), 0.5)
    with pytest.raises(TypeError, match="argument t"):
        kronvec.grad(lambda t: np.sum(kl.fractional_matrix_power(SYMMETRIC, t)))(0.5)


@pytest.mark.parametrize("t", [0, 1, 2, -1, -2, 3.0])
def test_fractional_matrix_power_of_an_integer_is_matrix_power_of_any_matrix(t):
    # (regression: a general or indefinite matrix raised "symmetric positive definite input
    # only" although SciPy's integer powers are np.linalg.matrix_power of any square matrix)
    for A in (GENERAL, np.diag([2.0, -1.0, 3.0]), np.stack([GENERAL, GENERAL.T])):
        assert_scaled_close(kl.fractional_matrix_power(A, t), np.linalg.matrix_power(A, int(t)), 1e-12, "value")
    assert_scaled_close(kl.fractional_matrix_power(GENERAL, t), sl.fractional_matrix_power(GENERAL, t), 1e-12,
                        "SciPy's value")
    check_derivatives(lambda A: kl.fractional_matrix_power(A, t), (GENERAL,), 0, what=f"A^{t}")
    assert kl.fractional_matrix_power(np.array([[1, 2], [3, 4]]), 2).dtype == np.array(1).dtype  # (as SciPy)


@pytest.mark.parametrize("side", ["right", "left"])
def test_polar_of_an_ill_conditioned_or_extreme_matrix_is_scipys(side):
    # (regression: u = a·sqrtm(aᵀa)⁻¹ lost eps·κ² — u off by 4e-5 and not orthogonal at κ = 1e6,
    # by 3e-3 at 1e7; κ ≥ 2e7 was refused as rank-deficient; aᵀa overflowed beyond |a| ≈ 1e154)
    Q1, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((3, 3)))
    Q2, _ = np.linalg.qr(np.random.default_rng(6).standard_normal((3, 3)))
    for kappa in (1e6, 1e7, 1e9, 1e13):
        a = (Q1 * [1.0, 0.5, 1.0 / kappa]) @ Q2.T
        expected = sl.polar(a, side=side)
        # (no aᵀa any more: the derivative is taken at every full-rank a, to about eps·κ)
        traced = tuple(kronvec.vjp(lambda x: kl.polar(x, side=side)[i], a)[0] for i in (0, 1))
        for ours in (kl.polar(a, side=side), traced):
            for x, y in zip(ours, expected):
                assert_scaled_close(np.asarray(x), y, 1e-13, f"κ = {kappa:g}")
        _check_polar_differential_identity(a, side, kappa)
    a = (Q1 * [1.0, 0.5, 0.25]) @ Q2.T
    W = np.random.default_rng(7).standard_normal((3, 3))
    grad = kronvec.grad(lambda x: np.sum(W * kl.polar(x, side=side)[0]))
    hvp = kronvec.hvp(lambda x: np.sum(W * kl.polar(x, side=side)[1]))
    for scale in (1e160, 1e-160):  # u(sa) = u(a), p(sa) = s·p(a)
        assert_scaled_close(grad(scale * a) * scale, grad(a), 1e-12, f"u's gradient at scale {scale:g}")
        assert_scaled_close(hvp(scale * a, W) * scale, hvp(a, W), 1e-12, f"p's Hessian at scale {scale:g}")
    check_derivatives(lambda x: kl.polar(x, side=side)[0], ((Q1 * [1.0, 0.5, 1e-3]) @ Q2.T,), 0, second=False,
                      what="u at κ = 1e3")


def _check_polar_differential_identity(a, side, kappa):
    """An oracle that needs no finite differences (useless at κ = 1e13): differentiating
    a = u p (right; a = p u left) and uᵀu = I gives, for Ω = uᵀdu (skew) and dp symmetric,
    uᵀda = Ω p + dp (right).  kronvec's JVPs of u and p must satisfy it to ~eps·κ."""
    E = np.random.default_rng(8).standard_normal(a.shape)
    du = kronvec.jvp(lambda x: kl.polar(x, side=side)[0], (a,), (E,))[1]
    dp = kronvec.jvp(lambda x: kl.polar(x, side=side)[1], (a,), (E,))[1]
    u, p = sl.polar(a, side=side)
    if side == "left":  # aᵀ = uᵀ p: the right identity for the transposes
        u, du, E = u.T, du.T, E.T
    omega = u.T @ du
    scale = kappa * np.finfo(float).eps * 10
    assert np.max(np.abs(omega + omega.T)) <= scale, f"uᵀdu not skew at κ = {kappa:g}"
    assert np.max(np.abs(dp - dp.T)) <= scale, f"dp not symmetric at κ = {kappa:g}"
    assert np.max(np.abs(u.T @ E - omega @ p - dp)) <= scale, f"uᵀda ≠ Ω p + dp at κ = {kappa:g}"


def test_polar_derivative_near_rank_deficiency_warns():
    # σ_max/σ_min = 1e15 > 1e-2/eps: Γ = 1/(σᵢ + σⱼ) and Σ⁻¹ carry it; the value itself is SciPy's
    Q1, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((4, 3)))
    Q2, _ = np.linalg.qr(np.random.default_rng(6).standard_normal((3, 3)))
    a = (Q1 * [1.0, 0.5, 1e-15]) @ Q2.T
    with pytest.warns(kronvec.IllConditionedWarning, match="polar: the matrix is nearly rank-deficient"):
        kronvec.grad(lambda x: np.sum(kl.polar(x)[0]))(a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kl.polar(a)  # (a value: no warning)


def test_polar_of_a_rank_deficient_matrix_is_refused():
    # u is not unique there: SciPy's values on a plain array (no derivative asked), a
    # LinAlgError on a traced one, for u and p alike (p = (aᵀa)^½ has no derivative either)
    for ours, theirs in zip(kl.polar(np.ones((3, 2))), sl.polar(np.ones((3, 2)))):
        np.testing.assert_array_equal(ours, theirs)
    for part in (0, 1):
        with pytest.raises(np.linalg.LinAlgError, match="rank-deficient"):
            kronvec.grad(lambda x: np.sum(kl.polar(x)[part]))(np.ones((3, 2)))
    with pytest.raises(ValueError, match="side"):
        kl.polar(GENERAL, side="up")


@pytest.mark.parametrize("name", ["expm", "sqrtm", "logm", "coshm", "sinhm", "tanhm", "cosm", "sinm", "tanm",
                                  "fractional_matrix_power", "expm_frechet", "pinvh", "solve_sylvester",
                                  "solve_continuous_lyapunov", "solve_discrete_lyapunov"])
def test_a_matrix_that_is_not_square_raises_what_scipy_raises(name):
    # SciPy's expm and sqrtm raise LinAlgError, the rest ValueError: kronvec's LinAlgError is
    # both (np.linalg.LinAlgError subclasses ValueError), plain or traced
    A = np.ones((3, 2))
    extra = {"fractional_matrix_power": (0.5,), "expm_frechet": (A,), "solve_sylvester": (A, A),
             "solve_continuous_lyapunov": (A,), "solve_discrete_lyapunov": (A,)}.get(name, ())
    with pytest.raises(Exception) as theirs:
        getattr(sl, name)(A, *extra)
    def first(result):  # (expm_frechet returns a pair)
        return result[0] if isinstance(result, tuple) else result

    for call in (lambda: getattr(kl, name)(A, *extra),
                 lambda: kronvec.grad(lambda x: np.sum(first(getattr(kl, name)(x, *extra))))(A)):
        with pytest.raises(theirs.type, match="square|shape"):
            call()


def test_real_scipy_functions_name_their_counterparts():
    for name in ("expm", "logm", "sqrtm"):
        with pytest.raises(TypeError, match=rf"kronvec\.scipy\.linalg\.{name}"):
            kronvec.grad(lambda X: np.sum(getattr(sl, name)(X)))(SYMMETRIC)


def test_no_warning_on_well_conditioned_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ours, _ in FUNCTIONS.values():
            kronvec.hessian(lambda X: np.sum(np.sin(ours((X + X.T) / 2))))(SYMMETRIC)


# ============================== expm_frechet, cosm, sinm, tanm, coshm, sinhm, tanhm (§39)
TRIG = ["cosm", "sinm", "tanm", "coshm", "sinhm", "tanhm"]
SKEW = (GENERAL - GENERAL.T) / 2                                       # [[0, A], [−A, 0]] is symmetric
E3 = np.random.default_rng(11).standard_normal((3, 3))
TRIG_POINTS = {
    "general": GENERAL - 2.0 * np.eye(3),      # eigenvalues near 0, not symmetric
    "symmetric": SYMMETRIC,
    "skew-symmetric": SKEW,
    "diag(1, 1, 2)": REPEATED["diag(1, 1, 2)"],
    "rotated diag(1, 1, 2)": REPEATED["rotated diag(1, 1, 2)"],
    "a (2, 3, 3) stack": np.stack([GENERAL - 2.0 * np.eye(3), _rotated([0.5, 1.0, 1.5], seed=4)]),
}


@pytest.mark.parametrize("name", TRIG)
@pytest.mark.parametrize("point", [*TRIG_POINTS, "1×1", "large"])
def test_trigonometric_and_hyperbolic_values_agree_with_scipy(name, point):
    # cos/sin from the real 2n×2n exponential against SciPy's complex expm(iA): max relative
    # difference 8e-14 over 200 random matrices (n ≤ 8, norms to 3); coshm/sinhm of a symmetric A
    # go through eigh, SciPy's through Padé: ≤ 4e-13 — as far as SciPy's own expm and the
    # exponential of its expm_frechet differ on the same matrices
    A = {"1×1": np.array([[0.7]]), "large": 3.0 * TRIG_POINTS["general"], **TRIG_POINTS}[point]
    assert_scaled_close(getattr(kl, name)(A), getattr(sl, name)(A), 1e-12, f"{name} at {point} vs SciPy")


@pytest.mark.parametrize("name", ["coshm", "sinhm"])
def test_hyperbolic_values_of_a_general_matrix_are_scipys_bit_for_bit(name):
    A = TRIG_POINTS["general"]  # (SciPy's formula, on the very same expm calls)
    np.testing.assert_array_equal(getattr(kl, name)(A), getattr(sl, name)(A))


def test_cosm_and_sinm_are_the_blocks_of_one_real_exponential():
    A = TRIG_POINTS["general"]
    C, S = kl.cosm(A), kl.sinm(A)
    F = sl.expm(np.block([[np.zeros((3, 3)), A], [-A, np.zeros((3, 3))]]))
    np.testing.assert_array_equal(C, F[:3, :3])
    np.testing.assert_array_equal(S, F[:3, 3:])
    assert_scaled_close(C @ C + S @ S, np.eye(3), 1e-13, "cos² + sin² = I")
    Ch, Sh = kl.coshm(A), kl.sinhm(A)
    assert_scaled_close(Ch @ Ch - Sh @ Sh, np.eye(3), 1e-13, "cosh² − sinh² = I")
    np.testing.assert_array_equal(kl.tanm(A), np.linalg.solve(C, S))   # (an LU solve, as SciPy makes)
    np.testing.assert_array_equal(kl.tanhm(A), np.linalg.solve(Ch, Sh))


def test_trigonometric_dtypes_empty_and_integer_input_as_scipy():
    for name in TRIG:
        f, g = getattr(kl, name), getattr(sl, name)
        assert f(np.eye(2, dtype=np.float32)).dtype == g(np.eye(2, dtype=np.float32)).dtype == np.float32, name
        assert f(np.zeros((0, 0))).shape == (0, 0), name
        assert_scaled_close(f(np.array([[1, 2], [0, 1]])), g(np.array([[1.0, 2.0], [0.0, 1.0]])), 1e-12, name)


@pytest.mark.parametrize("name", TRIG)
@pytest.mark.parametrize("point", TRIG_POINTS)
def test_trigonometric_and_hyperbolic_derivatives_match_finite_differences(name, point):
    check_derivatives(getattr(kl, name), (TRIG_POINTS[point],), 0, what=f"{name} at {point}")


@pytest.mark.parametrize("name", TRIG)
def test_trigonometric_jacobians_are_structured(name):
    # a composition of block selections, Fréchet operators (of order 2n for cos/sin) and, for
    # tan/tanh, the solve's Kronecker factors: nothing of n⁴ entries is held
    from kronvec.operators._display import held_nbytes

    n = 16  # (held: 15n² entries for cosm — the 2n×2n matrix, its copy for the transpose, the selections
    # — 19n² for tanm; a dense Jacobian would be n⁴, 10× beyond the bound at this n)
    A = 0.5 * np.random.default_rng(12).standard_normal((n, n)) / np.sqrt(n)
    J = kronvec.jacobian(getattr(kl, name))(A)
    held, complete = held_nbytes(J)
    assert complete and held <= 24 * n * n * 8, f"{name}: the Jacobian holds {held} bytes"
    small = TRIG_POINTS["general"]
    J = kronvec.jacobian(getattr(kl, name))(small)
    dense = J.toarray()
    f = getattr(sl, name)
    assert_scaled_close(dense, central_difference_jacobian(lambda X: f(X), (small,)), 1e-6, f"{name}: toarray vs FD")
    assert_scaled_close(dense_of(J), dense, 1e-12, f"{name}: matmat(I) vs toarray")
    v = np.random.default_rng(13).standard_normal(9)
    assert_scaled_close(J.matvec(v), dense @ v, 1e-12, f"{name}: matvec")
    assert_scaled_close(J.rmatvec(v), dense.T @ v, 1e-12, f"{name}: rmatvec")
    dot_test(J, np.random.default_rng(14))


def test_tanm_and_tanhm_refuse_a_singular_denominator_by_name():
    # cos(π/2) of the real block exponential is exactly 0: cosm(A) is singular to working precision
    # (SciPy's complex route gives 6e-17 there and a tangent of 1.6e16)
    for A in (np.array([[np.pi / 2]]), np.diag([np.pi / 2, 1.0])):
        with pytest.raises(np.linalg.LinAlgError, match=r"^tanm: cosm\(A\) is singular"):
            kl.tanm(A)
        with pytest.raises(np.linalg.LinAlgError, match=r"^tanm: cosm\(A\) is singular"):
            kronvec.grad(lambda X: np.sum(kl.tanm(X)))(A)
    with pytest.raises(np.linalg.LinAlgError, match=r"^tanm: .*batch index 1"):
        kl.tanm(np.stack([np.eye(2), np.diag([np.pi / 2, 1.0])]))
    R = np.array([[0.0, np.pi / 2], [-np.pi / 2, 0.0]])  # eigenvalues ±iπ/2: cosh R = cos(π/2)·I = 0
    with pytest.raises(np.linalg.LinAlgError):
        sl.tanhm(R)  # (SciPy refuses it too)
    with pytest.raises(np.linalg.LinAlgError, match=r"^tanhm: coshm\(A\) is singular"):
        kl.tanhm(R)


@pytest.mark.parametrize("name", TRIG)
def test_trigonometric_bad_input_names_the_function(name):
    f = getattr(kl, name)
    with pytest.raises(ValueError, match=rf"^{name}: .*\(2, 3\)"):
        f(np.ones((2, 3)))
    with pytest.raises(TypeError, match=rf"^{name}: .*complex"):
        f(np.eye(2, dtype=complex))
    with pytest.raises(ValueError, match=rf"^{name}: .*non-finite"):
        f(np.array([[1.0, np.inf], [0.0, 1.0]]))
    with pytest.raises(TypeError, match=rf"kronvec\.scipy\.linalg\.{name}"):
        kronvec.grad(lambda X: np.sum(getattr(sl, name)(X)))(SYMMETRIC)


# ------------------------------------------------------------ expm_frechet
FRECHET_POINTS = {"general": TRIG_POINTS["general"], "symmetric": SYMMETRIC[:3, :3], "skew-symmetric": SKEW,
                  "diag(1, 1, 2)": REPEATED["diag(1, 1, 2)"], "nilpotent": np.triu(np.ones((3, 3)), 1)}


@pytest.mark.parametrize("method", [None, "SPS", "blockEnlarge"])
@pytest.mark.parametrize("point", FRECHET_POINTS)
def test_expm_frechet_values_are_scipys(point, method):
    A = FRECHET_POINTS[point]
    eA, L = kl.expm_frechet(A, E3, method=method)
    expected_eA, expected_L = sl.expm_frechet(A, E3, method=method)
    np.testing.assert_array_equal(L, expected_L)  # SciPy's own algorithm
    # (e^A is kronvec's expm — SciPy's expm, or eigh at a symmetric A: 4e-13 from the exponential
    # SciPy's SPS computes alongside, at most, over 200 random matrices; as SciPy's expm is)
    assert_scaled_close(eA, expected_eA, 1e-12, "expm_A")
    np.testing.assert_array_equal(kl.expm_frechet(A, E3, method=method, compute_expm=False), expected_L)


def test_expm_frechet_stacks_dtypes_and_empty_input_as_scipy():
    A = np.stack([TRIG_POINTS["general"], SYMMETRIC[:3, :3]]).reshape(2, 1, 3, 3)
    E = np.stack([E3, E3.T, 2 * E3])
    eA, L = kl.expm_frechet(A, E)
    expected_eA, expected_L = sl.expm_frechet(A, E)
    assert L.shape == eA.shape == expected_L.shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(L, expected_L)
    assert_scaled_close(eA, expected_eA, 1e-12, "expm_A of the broadcast stack")
    single = np.array([[0.5, 1.0], [0.0, 0.25]], dtype=np.float32)
    for method in (None, "blockEnlarge"):
        ours, theirs = kl.expm_frechet(single, single, method=method), sl.expm_frechet(single, single, method=method)
        assert [x.dtype for x in ours] == [x.dtype for x in theirs], method
    assert [x.shape for x in kl.expm_frechet(np.zeros((0, 0)), np.zeros((0, 0)))] == [(0, 0), (0, 0)]
    assert_scaled_close(kl.expm_frechet(np.eye(2, dtype=int), np.ones((2, 2), dtype=int))[1],
                        sl.expm_frechet(np.eye(2), np.ones((2, 2)))[1], 1e-15, "integer input")


@pytest.mark.parametrize("argnum", [0, 1], ids=["in A", "in E"])
@pytest.mark.parametrize("point", FRECHET_POINTS)
def test_expm_frechet_derivatives_match_finite_differences(point, argnum):
    A = FRECHET_POINTS[point]
    check_derivatives(lambda A, E: kl.expm_frechet(A, E, compute_expm=False), (A, E3), argnum,
                      what=f"expm_frechet at {point}")
    if argnum == 0:
        check_derivatives(lambda A, E: kl.expm_frechet(A, E)[0], (A, E3), 0, second=False,
                          what=f"expm_frechet's expm_A at {point}")


def test_expm_frechet_derivatives_of_a_broadcast_stack():
    A = np.stack([TRIG_POINTS["general"], SYMMETRIC[:3, :3]])
    for argnum in (0, 1):
        check_derivatives(lambda A, E: kl.expm_frechet(A, E, method="blockEnlarge")[1], (A, E3), argnum,
                          what="expm_frechet of a stack and a matrix")


def test_expm_frechet_jacobians_are_the_first_and_second_frechet_derivatives():
    from kronvec.ops.matrix_functions import SecondFrechetOperator

    A, n = TRIG_POINTS["general"], 3
    JE = kronvec.jacobian(lambda E: kl.expm_frechet(A, E, compute_expm=False))(E3)
    assert isinstance(JE, FrechetOperator) and JE.formula() == "L_expm(A, ·)"
    # L is linear in E: its Jacobian is expm's own, applied by SciPy's expm_frechet
    assert_scaled_close(JE.toarray(), kronvec.jacobian(kl.expm)(A).toarray(), 1e-13, "D_E L = D expm")
    JA = kronvec.jacobian(lambda A: kl.expm_frechet(A, E3, compute_expm=False))(A)
    assert isinstance(JA, SecondFrechetOperator)
    F = np.random.default_rng(15).standard_normal((n, n))
    # L²(A; E, F): the (0, 3) block of expm of the 4n×4n block matrix (Higham & Relton 2014)
    Z = np.zeros((n, n))
    big = sl.expm(np.block([[A, E3, F, Z], [Z, A, Z, F], [Z, Z, A, E3], [Z, Z, Z, A]]))
    assert_scaled_close(JA.matvec(kronvec.vec(F)), kronvec.vec(big[:n, 3 * n:]), 1e-12, "matvec = L²(A; E, F)")
    dense = JA.toarray()
    assert_scaled_close(dense, central_difference_jacobian(lambda X: sl.expm_frechet(X, E3)[1], (A,)), 1e-6,
                        "toarray vs FD")
    assert_scaled_close(dense_of(JA), dense, 1e-12, "matmat(I) vs toarray")
    assert_scaled_close(JA.T.toarray(), dense.T, 1e-12, "J.T")
    assert_scaled_close(JA.rmatvec(kronvec.vec(F)), dense.T @ kronvec.vec(F), 1e-12, "rmatvec")
    dot_test(JA, np.random.default_rng(16))
    dot_test(JE, np.random.default_rng(17))


def test_expm_frechet_hessian_with_a_direction_far_larger_than_a():
    # (E enters the 2n×2n matrix whose exponential is taken: it is brought to A's size first,
    # as expm's cotangent is; L is linear in E, so the derivatives scale exactly)
    A = TRIG_POINTS["general"]
    W = np.random.default_rng(18).standard_normal((3, 3))
    D = np.random.default_rng(19).standard_normal((3, 3))
    unit = kronvec.hvp(lambda X: np.sum(W * kl.expm_frechet(X, E3)[1]))(A, D)
    for k in (1e-10, 1e10):
        scaled = kronvec.hvp(lambda X: np.sum(W * kl.expm_frechet(X, k * E3)[1]))(A, D) / k
        assert_scaled_close(scaled, unit, 1e-12, f"E scaled by {k:g}")


def test_expm_frechet_bad_input_names_the_function():
    with pytest.raises(ValueError, match=r"^expm_frechet: .*same size"):
        kl.expm_frechet(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match=r"^expm_frechet: .*\(2, 3\)"):
        kl.expm_frechet(np.ones((2, 3)), np.eye(2))
    with pytest.raises(ValueError, match=r"^expm_frechet: Unknown implementation 'Pade'"):  # (SciPy: ValueError)
        kl.expm_frechet(np.eye(2), np.eye(2), method="Pade")
    with pytest.raises(ValueError, match=r"^expm_frechet: .*broadcast"):
        kl.expm_frechet(np.ones((3, 2, 2)), np.ones((2, 2, 2)))
    for bad in (np.eye(2, dtype=complex), np.eye(2) * 1j):
        with pytest.raises(TypeError, match=r"^expm_frechet: .*complex"):
            kl.expm_frechet(np.eye(2), bad)
    with pytest.raises(ValueError, match=r"^expm_frechet: .*non-finite"):
        kl.expm_frechet(np.eye(2), np.array([[np.nan, 0.0], [0.0, 1.0]]), check_finite=False)
    with pytest.raises(TypeError, match=r"kronvec\.scipy\.linalg\.expm_frechet"):
        kronvec.grad(lambda X: np.sum(sl.expm_frechet(X, E3)[1]))(SYMMETRIC[:3, :3])


@pytest.mark.parametrize("name", [*TRIG, "expm_frechet in A", "expm_frechet in E"])
def test_exponential_family_compiles_and_replays_at_a_new_point(name):
    f = {"expm_frechet in A": lambda X: kl.expm_frechet(X, E3, compute_expm=False),
         "expm_frechet in E": lambda X: kl.expm_frechet(TRIG_POINTS["general"], X, compute_expm=False)}.get(
        name, getattr(kl, name, None))

    def s(X):
        return np.sum(np.sin(f(X)))

    first, second = TRIG_POINTS["general"], 0.5 * E3
    for transform, args in ((kronvec.grad, ()), (kronvec.hvp, (E3,))):
        compiled = transform(s, compile=True)
        compiled(first, *args)
        np.testing.assert_array_equal(compiled(second, *args), transform(s)(second, *args), err_msg=name)
