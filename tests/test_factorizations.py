"""Factorizations (issue 13, the np.linalg part): cholesky, eigh, eigvalsh, svd,
svdvals, qr, pinv, lstsq, matrix_power, cond and matrix_rank on traced matrices.

What is checked: the value through kronvec equals NumPy's exactly (the same
LAPACK call on the same matrix); the Jacobian, JVP, gradient and Hessian of
each spelling match central differences (FD_RTOL = 1e-6 as in
tests/test_registry.py: h = 1e-6 errs by ~1e-10 relative for these O(1),
well-separated compositions).  cholesky, eigh and eigvalsh read one triangle
in NumPy, and kronvec differentiates them along symmetric directions
(notes/conventions.md §10): their spellings here factor sym(A) = (A + Aᵀ)/2
(+ a shift), whose finite differences over every entry of A are exactly the
derivative along symmetric directions.  At a repeated eigenvalue, smooth
functions of the eigenvalues are exact and the eigenvectors' derivative is
an error; a matrix that is not positive definite is an error naming its
leading minor; stacks and unsupported arguments are refused by name; the
Jacobians stay structured at n = 300–1000.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest

import kronvec
import kronvec.optimize as kvo
from kronvec import Dense
from kronvec._vec import vec

from _helpers import (assert_scaled_close, central_difference_jacobian, check_value_and_derivatives, dense_of,
                      jacobian_and_peak_memory)

FD_RTOL = 1e-6
RNG = np.random.default_rng(13)
X33 = RNG.standard_normal((3, 3))
X43 = RNG.standard_normal((4, 3))
X34 = RNG.standard_normal((3, 4))
B42 = RNG.standard_normal((4, 2))
b4 = RNG.standard_normal(4)
B32 = RNG.standard_normal((3, 2))


def sym(A, shift=3.0):
    """(A + Aᵀ)/2 + shift·I: symmetric (exactly: addition commutes) and, for shift 3, positive definite."""
    return (A + A.T) / 2 + shift * np.eye(A.shape[0])


def spread(A):
    """A symmetric matrix with well-separated eigenvalues (gaps of order 1), smooth in A."""
    return sym(0.3 * A, 0.0) + np.diag([1.0, 2.5, 4.0])[: A.shape[0], : A.shape[0]]


def signed(A):
    """A symmetric indefinite matrix whose |eigenvalues| are distinct and far from 0 (near
    2.0, 1.5 and 3.9 at X33): the singular vectors of svd(hermitian=True) are smooth there."""
    return sym(0.3 * A, 0.0) + np.diag([-2.5, 1.0, 4.0])


LOWER = np.diag([-2.5, 1.0, 4.0])  # + a nonsymmetric X33: NumPy's eigh reads the lower triangle


SPELLINGS = {
    "cholesky": (lambda A: np.linalg.cholesky(sym(A)), X33),
    "cholesky upper": (lambda A: np.linalg.cholesky(sym(A), upper=True), X33),
    "cholesky of a nonsymmetric matrix (NumPy reads its lower triangle)":
        (lambda A: np.linalg.cholesky(A + 4.0 * np.eye(3)), X33),
    "log-determinant via cholesky": (lambda A: 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(sym(A))))), X33),
    "eigh eigenvalues": (lambda A: np.linalg.eigh(spread(A)).eigenvalues, X33),
    "eigh eigenvectors": (lambda A: np.linalg.eigh(spread(A)).eigenvectors, X33),
    "eigh UPLO='U'": (lambda A: np.linalg.eigh(spread(A), UPLO="U")[1], X33),
    "eigh of a nonsymmetric matrix": (lambda A: np.linalg.eigh(spread(A) + 0.1 * np.triu(A, 1))[1], X33),
    "eigvalsh": (lambda A: np.linalg.eigvalsh(spread(A)), X33),
    "eigvalsh UPLO='U' nonsymmetric": (lambda A: np.linalg.eigvalsh(spread(A) + 0.2 * np.tril(A, -1), "U"), X33),
    "Σ log eigvalsh": (lambda A: np.sum(np.log(np.linalg.eigvalsh(sym(A)))), X33),
    "svd U (tall)": (lambda X: np.linalg.svd(X, full_matrices=False).U, X43),
    "svd S (wide)": (lambda X: np.linalg.svd(X, full_matrices=False)[1], X34),
    "svd Vh (wide)": (lambda X: np.linalg.svd(X, full_matrices=False).Vh, X34),
    "svd square full_matrices": (lambda X: np.linalg.svd(X)[0] @ np.diag(np.linalg.svd(X)[1]), X33),
    # NumPy's default full_matrices=True of a rectangular matrix: one extra vector (unique up to sign)
    "svd U full (tall, one extra vector)": (lambda X: np.linalg.svd(X).U, X43),
    "svd Vh full (wide, one extra vector)": (lambda X: np.linalg.svd(X).Vh, X34),
    "svd full (tall): S and the other factor": (lambda X: np.linalg.svd(X).S * np.linalg.svd(X).Vh, X43),
    "null-space projector from the full U (tall)": (lambda X: np.linalg.svd(X)[0][:, 3:] @ np.linalg.svd(X)[0][:, 3:].T,
                                                    X43),
    "svd compute_uv=False": (lambda X: np.linalg.svd(X, compute_uv=False), X43),
    "svdvals": (lambda X: np.linalg.svdvals(X), X34),
    "svd hermitian U": (lambda A: np.linalg.svd(signed(A), hermitian=True).U, X33),
    "svd hermitian S": (lambda A: np.linalg.svd(signed(A), hermitian=True).S, X33),
    "svd hermitian Vh": (lambda A: np.linalg.svd(signed(A), hermitian=True).Vh, X33),
    "svd hermitian full_matrices=False": (lambda A: np.linalg.svd(signed(A), False, hermitian=True)[2], X33),
    "svd hermitian compute_uv=False": (lambda A: np.linalg.svd(signed(A), compute_uv=False, hermitian=True), X33),
    "svd hermitian of a nonsymmetric matrix (the lower triangle)":
        (lambda A: np.linalg.svd(A + LOWER, hermitian=True).Vh, X33),
    "svd hermitian U Σ Vh (= the matrix)": (lambda A: (lambda r: (r.U * r.S) @ r.Vh)(
        np.linalg.svd(signed(A), hermitian=True)), X33),
    "pinv hermitian": (lambda A: np.linalg.pinv(signed(A), hermitian=True), X33),
    "pinv hermitian of a nonsymmetric matrix": (lambda A: np.linalg.pinv(A + LOWER, hermitian=True), X33),
    "pinv hermitian rtol": (lambda A: np.linalg.pinv(signed(A), hermitian=True, rtol=1e-8), X33),
    "qr Q": (lambda A: np.linalg.qr(A).Q, X43),
    "qr R": (lambda A: np.linalg.qr(A).R, X43),
    "qr mode='r'": (lambda A: np.linalg.qr(A, mode="r"), X43),
    "qr square complete": (lambda A: np.linalg.qr(A + 3.0 * np.eye(3), mode="complete")[0], X33),
    # mode='complete' of a tall matrix: Q's one extra column (unique up to sign), R's zero rows
    "qr complete Q (tall by one)": (lambda A: np.linalg.qr(A, mode="complete").Q, X43),
    "qr complete R (tall by two)": (lambda A: np.linalg.qr(A[:, :2], mode="complete").R, X43),
    "qr complete: null-space projector (tall by one)": (
        lambda A: np.linalg.qr(A, mode="complete")[0][:, 3:] @ np.linalg.qr(A, mode="complete")[0][:, 3:].T, X43),
    "pinv tall": (lambda A: np.linalg.pinv(A), X43),
    "pinv wide": (lambda A: np.linalg.pinv(A), X34),
    "lstsq x wrt A": (lambda A: np.linalg.lstsq(A, B42)[0], X43),
    "lstsq x wrt b": (lambda B: np.linalg.lstsq(X43, B)[0], B42),
    "lstsq x vector b": (lambda b: np.linalg.lstsq(X43, b, rcond=None)[0], b4),
    "lstsq residuals wrt A": (lambda A: np.linalg.lstsq(A, B42)[1], X43),
    "lstsq residuals wrt b": (lambda b: np.linalg.lstsq(X43, b)[1], b4),
    "lstsq singular values": (lambda A: np.linalg.lstsq(A, b4)[3], X43),
    "lstsq minimum norm (wide)": (lambda A: np.linalg.lstsq(A, B32)[0], X34),
    "matrix_power 0": (lambda A: np.linalg.matrix_power(A, 0) + A, X33),
    "matrix_power 1": (lambda A: np.linalg.matrix_power(A, 1), X33),
    "matrix_power 2": (lambda A: np.linalg.matrix_power(A, 2), X33),
    "matrix_power 3": (lambda A: np.linalg.matrix_power(A, 3), X33),
    "matrix_power 6": (lambda A: np.linalg.matrix_power(0.5 * A, 6), X33),
    "matrix_power 7": (lambda A: np.linalg.matrix_power(0.5 * A, 7), X33),
    "cond": (lambda A: np.linalg.cond(A), X43),
    "cond 2": (lambda A: np.linalg.cond(A, 2), X33),
    "cond -2": (lambda A: np.linalg.cond(A, -2), X34),
    "matrix_rank (a constant)": (lambda A: np.linalg.matrix_rank(A) * A, X33),
    "matrix_rank hermitian (a constant)": (lambda A: np.linalg.matrix_rank(signed(A), hermitian=True) * A, X33),
}


@pytest.mark.parametrize("name", SPELLINGS)
def test_values_equal_numpy_and_derivatives_match_finite_differences(name):
    f, X = SPELLINGS[name]
    check_value_and_derivatives(f, X, FD_RTOL)


@pytest.mark.parametrize("f", [
    lambda A: np.linalg.cholesky(sym(A)),
    lambda A: np.linalg.eigvalsh(spread(A)),
    lambda A: np.linalg.qr(A + np.eye(3))[1],
], ids=["cholesky", "eigvalsh", "qr R"])
def test_third_order(f):
    check_value_and_derivatives(f, X33, FD_RTOL, third=True)


# --------------------------------------------------- computed otherwise by NumPy
@pytest.mark.parametrize("f", [
    lambda A: np.linalg.matrix_power(A + 3.0 * np.eye(3), -1),
    lambda A: np.linalg.matrix_power(A + 3.0 * np.eye(3), -2),
    lambda A: np.linalg.matrix_power(A + 3.0 * np.eye(3), -5),
    lambda A: np.linalg.cond(A + 3.0 * np.eye(3), "fro"),
    lambda A: np.linalg.cond(A + 3.0 * np.eye(3), 1),
    lambda A: np.linalg.cond(A + 3.0 * np.eye(3), -np.inf),
    lambda A: np.linalg.cond(A + 3.0 * np.eye(3), "nuc"),
], ids=["power -1", "power -2", "power -5", "cond fro", "cond 1", "cond -inf", "cond nuc"])
def test_spellings_through_the_inverse(f):
    # NumPy inverts with gesv, kronvec with its shared LU factorization
    # (kronvec/_linalg/factorization.py): the values agree to rounding, not bit for bit.
    np.testing.assert_allclose(kronvec.vjp(f, X33)[0], f(X33), rtol=1e-13)
    J = kronvec.jacobian(f)(X33)
    assert_scaled_close(J.toarray(), central_difference_jacobian(f, (X33,)), FD_RTOL, "jacobian")
    s = lambda A: np.sum(np.sin(f(A)))  # noqa: E731
    H = kronvec.hessian(s)(X33).toarray()
    assert_scaled_close(H, central_difference_jacobian(kronvec.grad(s), (X33,)), FD_RTOL, "hessian")


def test_lstsq_returns_numpys_four_fields():
    x = kronvec.vjp(lambda A: np.linalg.lstsq(A, b4)[0], X43)[0]
    expected = np.linalg.lstsq(X43, b4)
    np.testing.assert_array_equal(x, expected[0])
    seen = {}

    def f(A):
        x, residuals, rank, s = np.linalg.lstsq(A, b4)
        seen.update(rank=rank, shapes=(np.shape(x), np.shape(residuals), np.shape(s)))
        return np.sum(x) + np.sum(residuals) + rank * np.sum(s)

    kronvec.grad(f)(X43)
    assert seen["rank"] == expected[2] and isinstance(seen["rank"], (int, np.integer))
    assert seen["shapes"] == ((3,), (1,), (3,))
    # rank deficient or underdetermined: NumPy's empty residuals, a plain constant
    residuals = kronvec.vjp(lambda A: np.linalg.lstsq(A, B32)[1], X34)[0]
    assert residuals.shape == (0,)


# ------------------------------------------------------- repeated eigenvalues
A_TIE = np.diag([1.0, 1.0, 2.0])


@pytest.mark.parametrize("f", [
    lambda A: np.sum(np.linalg.eigvalsh((A + A.T) / 2)),
    lambda A: np.sum(np.exp(np.linalg.eigvalsh((A + A.T) / 2))),
    lambda A: np.sum(np.linalg.eigh((A + A.T) / 2)[0] ** 3),
    lambda A: np.linalg.eigvalsh((A + A.T) / 2)[0] + np.linalg.eigvalsh((A + A.T) / 2)[1],
], ids=["Σλ", "Σexp(λ)", "Σλ³ via eigh", "λ₁ + λ₂ (the tied pair)"])
def test_smooth_functions_of_repeated_eigenvalues_are_exact(f):
    G = kronvec.grad(f)(A_TIE)
    assert np.all(np.isfinite(G))
    assert_scaled_close(vec(G), central_difference_jacobian(f, (A_TIE,))[0], FD_RTOL, "grad at diag(1, 1, 2)")
    # forward mode and the Jacobian agree at the tie too
    V = np.arange(9.0).reshape(3, 3) / 9
    _, t = kronvec.jvp(f, (A_TIE,), (V,))
    assert_scaled_close(np.atleast_1d(t), central_difference_jacobian(f, (A_TIE,)) @ vec(V), FD_RTOL, "jvp")


def test_gradient_of_exp_eigenvalues_at_a_tie_is_the_matrix_exponential():
    G = kronvec.grad(lambda A: np.sum(np.exp(np.linalg.eigvalsh(A))))(A_TIE)
    np.testing.assert_allclose(G, np.diag(np.exp([1.0, 1.0, 2.0])), rtol=1e-14)


def test_tied_eigenvalues_share_their_derivative():
    # each of the tied pair gets the mean derivative: for a double eigenvalue that is what
    # central differences give, and it keeps every symmetric function of the pair exact
    f = lambda A: np.linalg.eigvalsh((A + A.T) / 2)  # noqa: E731
    J = kronvec.jacobian(f)(A_TIE).toarray()
    assert_scaled_close(J, central_difference_jacobian(f, (A_TIE,)), FD_RTOL, "jacobian at the tie")
    np.testing.assert_allclose(J[0], J[1])


@pytest.mark.parametrize("transform", ["grad", "jacobian", "jvp"])
def test_eigenvectors_at_a_repeated_eigenvalue_are_loud(transform):
    W = np.arange(1.0, 10.0).reshape(3, 3)

    def f(A):  # sum(W ∘ V exp(Λ) Vᵀ) written through eigh: smooth, but not through V
        w, V = np.linalg.eigh(A)
        return np.sum(W * ((V * np.exp(w)) @ V.T))

    with pytest.raises(np.linalg.LinAlgError, match=r"np\.linalg\.eigh: repeated eigenvalues .*gap"):
        if transform == "grad":
            kronvec.grad(f)(A_TIE)
        elif transform == "jacobian":
            kronvec.jacobian(lambda A: np.linalg.eigh(A)[1])(A_TIE)
        else:
            kronvec.jvp(f, (A_TIE,), (np.eye(3),))


def test_second_derivative_through_eigenvalues_at_a_tie_is_loud():
    # the Hessian of Σ f(λ) needs the eigenvectors' derivative, undefined at a tie
    with pytest.raises(np.linalg.LinAlgError, match="repeated eigenvalues"):
        kronvec.hessian(lambda A: np.sum(np.exp(np.linalg.eigvalsh(A))))(A_TIE)


def test_nearly_repeated_eigenvalues_warn():
    A = np.diag([1.0, 1.0 + 1e-14, 2.0])  # above the tie tolerance 3·eps·2, below 2·eps/1e-2
    with pytest.warns(kronvec.IllConditionedWarning, match="nearly repeated eigenvalues"):
        kronvec.jacobian(lambda A: np.linalg.eigh(A)[1])(A)


def test_repeated_singular_values_are_loud():
    X = np.diag([2.0, 1.0, 1.0])
    with pytest.raises(np.linalg.LinAlgError, match="repeated singular values"):
        kronvec.grad(lambda X: np.sum(np.linalg.svd(X)[0]))(X)
    G = kronvec.grad(lambda X: np.sum(np.linalg.svd(X)[1]))(X)  # Σσ = nuclear norm: fine
    np.testing.assert_allclose(G, np.eye(3), atol=1e-15)


# ------------------------------------------------------------- loud inputs
def test_not_positive_definite_names_the_leading_minor():
    A = np.array([[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])  # minor of order 2 is 0
    with pytest.raises(np.linalg.LinAlgError, match="leading minor of order 2"):
        kronvec.grad(lambda A: np.sum(np.linalg.cholesky(A)))(A)
    with pytest.raises(np.linalg.LinAlgError, match="leading minor of order 1"):
        kronvec.jacobian(np.linalg.cholesky)(-np.eye(2))


TALL_BY_TWO = RNG.standard_normal((5, 3))


@pytest.mark.parametrize("mode", ["grad", "grad compile", "vjp"])
def test_full_svd_with_two_extra_vectors_differentiates_what_does_not_use_them(mode):
    # np.linalg.svd's default full_matrices=True of a 5×3 matrix: U's 2 extra columns are an
    # arbitrary basis of a plane (no derivative), but σ and U's 3 leading columns are the thin
    # decomposition's, and so are their derivatives (derivatives.md §23, the extra vectors)
    def f(X, full_matrices):
        U, s, Vh = np.linalg.svd(X, full_matrices=full_matrices)
        return np.sum(U[:, :3] ** 3 * s) + np.sum(Vh ** 2 * s[:, None] ** 2)

    full, thin = functools.partial(f, full_matrices=True), functools.partial(f, full_matrices=False)
    if mode == "vjp":
        _, pullback = kronvec.vjp(full, TALL_BY_TWO)
        gradient = pullback(np.float64(1.0))[0]
    else:
        gradient = kronvec.grad(full, compile=mode == "grad compile")(TALL_BY_TWO)
    np.testing.assert_allclose(gradient, kronvec.grad(thin)(TALL_BY_TWO), rtol=1e-12, atol=1e-12)
    differences = central_difference_jacobian(full, (TALL_BY_TWO,)).reshape(TALL_BY_TWO.shape, order="F")
    assert_scaled_close(gradient, differences, 1e-6, "against differences")


@pytest.mark.parametrize("f, message", [
    (lambda X: np.sum(np.linalg.svd(X)[0] ** 3), "2 extra singular vectors .*function of them"),
    (lambda X: np.sum(np.linalg.svd(X.T)[2][3:] ** 3), "2 extra singular vectors .*rows of Vᵀ"),
])
def test_full_svd_refuses_a_function_of_two_extra_vectors_by_name(f, message):
    for differentiate in (kronvec.grad, functools.partial(kronvec.grad, compile=True)):
        with pytest.raises(np.linalg.LinAlgError, match=message):
            differentiate(f)(TALL_BY_TWO)


@pytest.mark.parametrize("wide", [False, True])
def test_the_one_extra_vector_is_differentiated_at_tied_singular_values(wide):
    # dW = −U S⁻¹ Vᵀ dXᵀ W and U S⁻¹ Vᵀ = X⁺ᵀ do not depend on the basis of a tied σ's vectors:
    # a function of W alone has a derivative there (the leading vectors' pullback, which
    # would refuse the tie, is skipped when their cotangent is 0)
    rng = np.random.default_rng(31)
    Q1, Q2 = np.linalg.qr(rng.standard_normal((3, 3)))[0], np.linalg.qr(rng.standard_normal((2, 2)))[0]
    X = (Q1[:, :2] * [2.0, 2.0]) @ Q2.T
    if wide:
        X = X.T.copy()
    f = (lambda a: np.sum(np.linalg.svd(a)[2][-1] ** 3)) if wide else (lambda a: np.sum(np.linalg.svd(a)[0][:, -1] ** 3))
    differences = central_difference_jacobian(f, (X,)).reshape(X.shape, order="F")
    assert_scaled_close(kronvec.grad(f)(X), differences, 1e-6, "against differences")
    with pytest.raises(np.linalg.LinAlgError, match="repeated singular values"):  # the leading vectors: no derivative
        kronvec.grad(lambda a: np.sum(np.linalg.svd(a)[0] ** 3))(X if not wide else X.T.copy())


@pytest.mark.parametrize("mode", ["grad", "grad compile"])
def test_complete_qr_with_two_extra_columns_differentiates_what_does_not_use_them(mode):
    # np.linalg.qr(mode='complete') of a 5×3 matrix: Q's 2 extra columns are an arbitrary basis
    # of a plane (no derivative); Q's 3 leading columns and R are the reduced decomposition's
    def f(A, mode):
        Q, R = np.linalg.qr(A, mode=mode)
        return np.sum(Q[:, :3] ** 3) + np.sum(R[:3] ** 2 * R[0, 0])

    complete, reduced = functools.partial(f, mode="complete"), functools.partial(f, mode="reduced")
    gradient = kronvec.grad(complete, compile=mode == "grad compile")(TALL_BY_TWO)
    np.testing.assert_allclose(gradient, kronvec.grad(reduced)(TALL_BY_TWO), rtol=1e-12, atol=1e-12)
    differences = central_difference_jacobian(complete, (TALL_BY_TWO,)).reshape(TALL_BY_TWO.shape, order="F")
    assert_scaled_close(gradient, differences, 1e-6, "against differences")
    with pytest.raises(np.linalg.LinAlgError, match="2 extra columns of Q .*function of them"):
        kronvec.grad(lambda a: np.sum(np.linalg.qr(a, mode="complete")[0] ** 3))(TALL_BY_TWO)
    with pytest.raises(np.linalg.LinAlgError, match="Jacobian, JVP or Hessian through Q"):
        kronvec.jacobian(lambda a: np.linalg.qr(a, mode="complete")[0][:, :3])(TALL_BY_TWO)


def test_full_svd_with_two_extra_vectors_in_forward_mode():
    # forward mode carries the whole factor: any use of U is refused, σ and Vh are not
    with pytest.raises(np.linalg.LinAlgError, match="Jacobian, JVP or Hessian through U"):
        kronvec.jacobian(lambda X: np.linalg.svd(X)[0][:, :3])(TALL_BY_TWO)
    with pytest.raises(np.linalg.LinAlgError, match="Jacobian, JVP or Hessian through U"):
        kronvec.hessian(lambda X: np.sum(np.linalg.svd(X)[0][:, :3] ** 3))(TALL_BY_TWO)
    for part in (1, 2):
        J = kronvec.jacobian(lambda X: np.linalg.svd(X)[part])(TALL_BY_TWO)
        expected = kronvec.jacobian(lambda X: np.linalg.svd(X, full_matrices=False)[part])(TALL_BY_TWO)
        np.testing.assert_allclose(dense_of(J), dense_of(expected), rtol=1e-12, atol=1e-12)


def test_lstsq_of_a_stack_is_refused_as_numpy_refuses_it():
    """np.linalg.lstsq is 2-D only in NumPy too; the other factorizations take stacks
    (tests/test_stack_factorizations.py)."""
    stack = np.stack([sym(X33[:2, :2]), sym(X33[1:, 1:])])
    with pytest.raises(np.linalg.LinAlgError, match="np.linalg.lstsq.*3-dimensional"):
        kronvec.jacobian(lambda X: np.linalg.lstsq(X, np.ones(2))[0])(stack)


@pytest.mark.parametrize("call, error, message", [
    (lambda X: np.linalg.svd(X[:, :2], hermitian=True)[1], np.linalg.LinAlgError, r"svd\(hermitian=True\).*square"),
    (lambda X: np.linalg.pinv(X[:2], hermitian=True), np.linalg.LinAlgError, "pinv.*square"),
    (lambda X: np.linalg.svd(np.vstack([X, X[:1]])[:, :2])[0], np.linalg.LinAlgError, "2 extra singular vectors"),
    (lambda X: np.linalg.qr(np.vstack([X, X[:1]])[:, :2], mode="complete")[0], np.linalg.LinAlgError,
     "2 extra columns of Q"),
    (lambda X: np.linalg.qr(X, mode="raw")[0], TypeError, "mode='raw'"),
    (lambda X: np.linalg.qr(X[:2])[1], TypeError, "wide"),
    (lambda X: np.linalg.eigh(X, UPLO="X")[0], ValueError, "UPLO"),
    (lambda X: np.linalg.cholesky(X[:, :2]), np.linalg.LinAlgError, "square"),
    (lambda X: np.linalg.eigvalsh(X[0]), np.linalg.LinAlgError, "two-dimensional"),
    (lambda X: np.linalg.matrix_power(X, 1.5), TypeError, "exponent must be an integer"),
    (lambda X: np.linalg.lstsq(X, np.ones(2))[0], np.linalg.LinAlgError, "Incompatible dimensions"),
    (lambda X: np.linalg.pinv(X, rcond=X[0, 0]), TypeError, "rcond"),
], ids=["svd hermitian non-square", "pinv hermitian non-square", "svd full non-square", "qr complete", "qr raw", "qr wide",
        "UPLO", "cholesky non-square", "eigvalsh 1-D", "matrix_power float", "lstsq shapes", "pinv traced rcond"])
def test_unsupported_arguments_and_bad_shapes_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        kronvec.jacobian(call)(sym(X33))


@pytest.mark.parametrize("f, message", [
    (lambda A: np.linalg.pinv(A), "rank 1 < 2"),
    (lambda A: np.linalg.lstsq(A, np.ones(3))[0], "rank-deficient"),
    (lambda A: np.linalg.qr(A)[1], "rank-deficient"),
    (lambda A: np.linalg.cond(A), "singular"),
], ids=["pinv", "lstsq", "qr", "cond"])
def test_rank_deficient_matrices_are_loud(f, message):
    A = np.outer([1.0, 2.0, 3.0], [1.0, -1.0])
    with pytest.raises(np.linalg.LinAlgError, match=message):
        kronvec.grad(lambda A: np.sum(f(A)))(A)


def test_lstsq_with_an_rcond_that_discards_a_singular_value():
    # (regression: the rules ignored rcond — with σ = (3, 1, 0.01) and rcond = 0.1 NumPy's x
    # drops σ₃, while the derivatives were those of the full-rank solution: off by 1e4 in a,
    # by 30 in b)
    U, _ = np.linalg.qr(RNG.standard_normal((4, 3)))
    V, _ = np.linalg.qr(RNG.standard_normal((3, 3)))
    A = (U * np.array([3.0, 1.0, 0.01])) @ V.T
    # in b, x = A⁺ b with NumPy's truncated A⁺: linear, so exact whatever the rank
    check_value_and_derivatives(lambda b: np.linalg.lstsq(A, b, rcond=0.1)[0], b4)
    check_value_and_derivatives(lambda B: np.linalg.lstsq(A, B, rcond=0.1)[0], B42)
    check_value_and_derivatives(lambda b: np.linalg.lstsq(A.T, b, rcond=0.1)[0], b4[:3])
    # in a, the truncation is a rank change away: loud, naming rcond
    for M, rhs in ((A, b4), (A.T, b4[:3])):
        with pytest.raises(np.linalg.LinAlgError, match="rcond discards singular values"):
            kronvec.grad(lambda M: np.sum(np.linalg.lstsq(M, rhs, rcond=0.1)[0]))(M)
    # an rcond that discards nothing changes nothing
    check_value_and_derivatives(lambda M: np.linalg.lstsq(M, b4, rcond=0.1)[0], (U * np.array([3.0, 1.0, 0.5])) @ V.T)


@pytest.mark.parametrize("f", [
    np.linalg.cholesky, lambda A: np.linalg.eigh(A)[1], np.linalg.eigvalsh,
    lambda A: np.linalg.cholesky(A[:1, :1]),
], ids=["cholesky", "eigh vectors", "eigvalsh", "cholesky 1x1"])
def test_a_float32_input_has_a_float32_jacobian(f):
    # (regression: the symmetrizer ½(I + K) and the I of I ⊗ L were float64 and promoted the
    # Jacobian of a float32 matrix to float64 — conventions.md §4: float32 in, float32 out)
    A = sym(X33).astype(np.float32) + 3 * np.eye(3, dtype=np.float32)
    J = kronvec.jacobian(f)(A)
    assert J.dtype == np.float32
    assert J.toarray().dtype == np.float32 and J.matvec(np.ones(9, np.float32)).dtype == np.float32
    J64 = kronvec.jacobian(f)(A.astype(np.float64)).toarray()
    assert_scaled_close(J.toarray(), J64, 1e-4, "float32 against float64")


@pytest.mark.parametrize("scale", [1e160, 1e-150])
def test_singular_vector_derivatives_at_extreme_scales(scale):
    # (regression: Fᵢⱼ = 1/(σⱼ² − σᵢ²) formed σ², which overflows beyond σ ≈ 1e154 (inf − inf)
    # and underflows below 1e-154: every singular-vector derivative was NaN there, although
    # U(sX) = U(X), so D U(sX) = D U(X)/s exactly)
    f = lambda X: np.linalg.svd(X, full_matrices=False)[0]
    J = kronvec.jacobian(f)(X43).toarray()
    assert_scaled_close(kronvec.jacobian(f)(scale * X43).toarray() * scale, J, 1e-12, "U's Jacobian")
    stack = np.stack([X43, 2.0 * X43])
    Js = kronvec.jacobian(f)(scale * stack).toarray() * scale
    assert_scaled_close(Js, kronvec.jacobian(f)(stack).toarray(), 1e-12, "a stack's")
    W = RNG.standard_normal((4, 3))
    g = kronvec.grad(lambda X: np.sum(W[:3] * np.linalg.svd(X, full_matrices=False)[2]))
    assert_scaled_close(g(scale * X43) * scale, g(X43), 1e-12, "V's gradient")
    # the spectral norm's Hessian goes through the singular vectors: H(sX) = H(X)/s
    D = RNG.standard_normal((4, 3))
    H = kronvec.hvp(lambda X: np.linalg.norm(X, 2))
    assert_scaled_close(H(scale * X43, D) * scale, H(X43, D), 1e-12, "‖X‖₂'s Hessian")


def test_compiled_second_derivatives_of_singular_vectors_take_their_scale_again():
    # (regression: the scale c = σ₁ of the gap factors was read off the plain values, which a
    # compile=True recording refuses — hvp(compile=True) of a function of U or V raised)
    W = RNG.standard_normal((4, 3))
    f = lambda X: np.sum(W * np.linalg.svd(X, full_matrices=False)[0])  # noqa: E731
    compiled, plain = kronvec.hvp(f, compile=True), kronvec.hvp(f)
    for X in (X43, 3.0 * X43, 1e160 * X43):  # (the first call records, the others replay)
        np.testing.assert_allclose(compiled(X, W), plain(X, W), rtol=1e-12, atol=0)


def test_inputs_are_not_modified():
    A, B = sym(X33), B42.copy()
    before = A.copy(), B.copy()
    kronvec.grad(lambda A: np.sum(np.linalg.cholesky(A)) + np.sum(np.linalg.eigh(A)[1])
                 + np.sum(np.linalg.svd(A)[0]) + np.sum(np.linalg.qr(A)[0]))(A)
    kronvec.grad(lambda B: np.sum(np.linalg.lstsq(X43, B)[0]))(B)
    np.testing.assert_array_equal(A, before[0])
    np.testing.assert_array_equal(B, before[1])


def test_the_symmetric_optimizer_path_agrees():
    # kronvec.optimize with symmetric=True differentiates in x = vech(S): the derivative
    # along symmetric directions, which is what cholesky and eigh give
    W = RNG.uniform(0.5, 1.5, (3, 3))

    def f(S):
        L = np.linalg.cholesky(S)
        return 2.0 * np.sum(np.log(np.diagonal(L))) + np.sum(W * np.linalg.eigh(S)[1] ** 2) + np.sum(W * L)

    problem = kvo.objective(f, (3, 3), symmetric=True)
    x = problem.to_vector(sym(X33))
    numeric = central_difference_jacobian(lambda x: problem.value(x), (x,))[0]
    np.testing.assert_allclose(problem.jac(x), numeric, rtol=1e-7, atol=1e-8)


def test_gradients_along_symmetric_directions_are_symmetric():
    G = kronvec.grad(lambda A: np.sum(RNG.uniform(size=(3, 3)) * np.linalg.cholesky(A)))(sym(X33))
    np.testing.assert_array_equal(G, G.T)


# --------------------------------------------------------- structure at scale
def _leaves(op):
    children = op._formula_children()
    if not children:
        return [op]
    return [leaf for child in children for leaf in _leaves(child)]


@pytest.mark.parametrize("name, f, n", [
    ("cholesky", np.linalg.cholesky, 1000),
    ("eigh eigenvectors", lambda A: np.linalg.eigh(A)[1], 300),
    ("eigvalsh", np.linalg.eigvalsh, 300),
    ("svd U", lambda A: np.linalg.svd(A)[0], 300),
    ("qr Q", lambda A: np.linalg.qr(A)[0], 300),
    ("pinv", np.linalg.pinv, 300),
])
def test_jacobians_stay_structured_at_scale(name, f, n):
    rng = np.random.default_rng(n)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.linspace(1.0, 2.0, n)) @ Q.T
    A = (A + A.T) / 2  # SPD, eigenvalues (and singular values) separated by ~1/n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", kronvec.IllConditionedWarning)  # gaps of 1/n at n = 300
        J, peak = jacobian_and_peak_memory(f, A)
        out = np.size(f(A))
        assert J.shape == (out, n * n)
        assert not any(isinstance(leaf, Dense) and leaf.shape[0] * leaf.shape[1] > n * n for leaf in _leaves(J)), \
            "a Dense leaf larger than n × n"
        # ≪ n⁴·8 bytes (the dense Jacobian): a few dozen n×n matrices
        assert peak < 40 * 8 * n * n, f"peak {peak / 1e6:.0f} MB for an input of {8 * n * n / 1e6:.0f} MB"
        V = rng.standard_normal((n, n))
        V = (V + V.T) / 2
        _, tangent = kronvec.jvp(f, (A,), (V,))
        np.testing.assert_allclose(J.matvec(vec(V)), vec(tangent), rtol=1e-9, atol=1e-9 * np.abs(tangent).max())


def test_the_measurement_script_runs():
    # benchmarks/measure_factorizations.py --quick: both thread settings, every contender
    # checked against its closed form (exit status 1 on a wrong answer), a table printed
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "measure_factorizations.py"
    done = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ln|A| via cholesky")]
    assert len(rows) == 4, done.stdout  # two sizes × two thread settings


def test_small_eigh_is_numpys_bit_for_bit():
    # kronvec computes eigh of a small float64 matrix with SciPy's LAPACK syevd (NumPy's
    # OpenBLAS threads it, which costs milliseconds on a busy machine): the same routine,
    # so the same bits and the same memory layout as np.linalg.eigh
    from kronvec.ops.factorizations.eigh import SMALL_EIGH_MAX_ORDER, _small_or_numpy_eigh

    rng = np.random.default_rng(30)
    for n in (1, 2, 3, 5, 8, 17, 32, 64, SMALL_EIGH_MAX_ORDER, SMALL_EIGH_MAX_ORDER + 1):
        for dtype in (np.float64, np.float32):
            A = rng.standard_normal((n, n)).astype(dtype)
            A = A + A.T
            for UPLO in "LU":
                (w, V), (w_numpy, V_numpy) = _small_or_numpy_eigh(A, UPLO), np.linalg.eigh(A, UPLO=UPLO)
                np.testing.assert_array_equal(w, w_numpy)
                np.testing.assert_array_equal(V, V_numpy)
                assert V.dtype == V_numpy.dtype and V.flags.c_contiguous == V_numpy.flags.c_contiguous


# ------------------------------------------------ np.linalg.svd(hermitian=True), pinv, matrix_rank
# NumPy builds them from eigh: σ = |λ| sorted descending, U the eigenvectors in that order,
# Vᵀ = (U·sign λ)ᵀ (notes/derivatives.md §33.1).  Where |λ| repeats — λ repeated, or λ and −λ
# both present — or λ = 0 (the sign moved into V flips), the singular vectors have no
# derivative: LinAlgError naming the operation; the singular values stay exact where smooth.
HERMITIAN_TIES = {
    "λ and −λ": np.diag([1.0, -1.0, 2.0]),
    "λ = 0": np.diag([0.0, 1.0, 2.0]),
    "a repeated λ": np.diag([1.0, 1.0, 2.0]),
    "λ and −λ (not diagonal)": (lambda Q: (Q * [1.5, -1.5, 0.5]) @ Q.T)(np.linalg.qr(X33)[0]),
}


@pytest.mark.parametrize("A", HERMITIAN_TIES.values(), ids=HERMITIAN_TIES.keys())
def test_hermitian_svd_values_at_ties_are_numpys(A):
    for compute_uv in (True, False):
        expected = np.linalg.svd(A, hermitian=True, compute_uv=compute_uv)
        got = kronvec.vjp(lambda A: np.stack(np.linalg.svd(A, hermitian=True)[::2]) if compute_uv
                          else np.linalg.svd(A, compute_uv=False, hermitian=True), A)[0]
        np.testing.assert_array_equal(got, np.stack(expected[::2]) if compute_uv else expected)


@pytest.mark.parametrize("transform", ["grad", "jacobian", "jvp"])
@pytest.mark.parametrize("A", HERMITIAN_TIES.values(), ids=HERMITIAN_TIES.keys())
def test_hermitian_singular_vectors_at_ties_are_loud(A, transform):
    W = np.arange(1.0, 10.0).reshape(3, 3)
    f = lambda A: np.sum(W * np.linalg.svd(A, hermitian=True)[2])  # noqa: E731
    # (a repeated λ is eigh's own tie: in forward builds its check, naming np.linalg.eigh, comes first)
    with pytest.raises(np.linalg.LinAlgError, match=r"(svd\(hermitian=True\)|eigh).*(repeated|is 0).*no derivative"):
        if transform == "grad":
            kronvec.grad(f)(A)
        elif transform == "jacobian":
            kronvec.jacobian(lambda A: np.linalg.svd(A, hermitian=True)[0])(A)
        else:
            kronvec.jvp(f, (A,), (np.ones((3, 3)),))


def test_hermitian_singular_vectors_at_a_signed_tie_name_the_operation():
    with pytest.raises(np.linalg.LinAlgError, match=r"np\.linalg\.svd\(hermitian=True\): repeated singular "
                                                    r"values .*λ and −λ both present"):
        kronvec.grad(lambda A: np.sum(np.linalg.svd(A, hermitian=True)[0]))(HERMITIAN_TIES["λ and −λ"])
    with pytest.raises(np.linalg.LinAlgError, match=r"np\.linalg\.svd\(hermitian=True\): the eigenvalue λ1 = 0 "
                                                    r"is 0 to working precision"):
        kronvec.jacobian(lambda A: np.linalg.svd(A, hermitian=True)[2])(HERMITIAN_TIES["λ = 0"])


@pytest.mark.parametrize("compute_uv", [True, False])
@pytest.mark.parametrize("A", HERMITIAN_TIES.values(), ids=HERMITIAN_TIES.keys())
def test_smooth_functions_of_hermitian_singular_values_are_exact_at_ties(A, compute_uv):
    # Σσ² = ‖A‖²_F is smooth everywhere; Σσ = Σ|λ| wherever no λ is 0 (at λ = 0, |x|'s
    # derivative 0, which is also what central differences give for this even kink)
    for f in (lambda A: np.sum(np.linalg.svd(sym(A, 0.0), hermitian=True, compute_uv=compute_uv)[
                  1 if compute_uv else slice(None)] ** 2),
              lambda A: np.sum(np.linalg.svd(sym(A, 0.0), hermitian=True, compute_uv=compute_uv)[
                  1 if compute_uv else slice(None)])):
        G = kronvec.grad(f)(A)
        assert_scaled_close(vec(G), central_difference_jacobian(f, (A,))[0], FD_RTOL, "grad at a tie")


def test_hermitian_svd_of_a_stack():
    S = np.stack([X33, X33.T + np.eye(3), -X33])
    for part in (0, 1, 2):
        check_value_and_derivatives(lambda A: np.linalg.svd(
            np.swapaxes(A, -1, -2) * 0.15 + A * 0.15 + np.diag([-2.5, 1.0, 4.0]), hermitian=True)[part], S, FD_RTOL)
    check_value_and_derivatives(lambda A: np.linalg.svd(A + LOWER, hermitian=True, compute_uv=False), S, FD_RTOL)
    check_value_and_derivatives(lambda A: np.linalg.pinv(A + LOWER, hermitian=True), S, FD_RTOL)
    tied = np.stack([signed(X33), np.diag([1.0, -1.0, 2.0])])
    with pytest.raises(np.linalg.LinAlgError, match=r"svd\(hermitian=True\): a member of the stack of shape \(2,\) "
                                                    r"\(batch\), at batch index 1; in the first: repeated .*λ and −λ"):
        kronvec.grad(lambda A: np.sum(np.linalg.svd(A, hermitian=True)[0]))(tied)


def test_hermitian_pinv_is_smooth_where_the_singular_vectors_are_not():
    # pinv(A) = A⁻¹ for a nonsingular symmetric A, smooth at λ and −λ: its derivative is
    # pinv's own rule, not the singular vectors' (and equals the inverse's)
    A = HERMITIAN_TIES["λ and −λ (not diagonal)"]
    f = lambda A: np.linalg.pinv(sym(A, 0.0), hermitian=True)  # noqa: E731
    J = kronvec.jacobian(f)(A).toarray()
    assert_scaled_close(J, central_difference_jacobian(f, (A,)), FD_RTOL, "jacobian at λ and −λ")
    np.testing.assert_allclose(J, kronvec.jacobian(lambda A: np.linalg.inv(sym(A, 0.0)))(A).toarray(), atol=1e-13)
    with pytest.raises(np.linalg.LinAlgError, match="rank 2 < 3"):  # a discarded σ: the rank can change
        kronvec.grad(lambda A: np.sum(np.linalg.pinv(A, hermitian=True)))(HERMITIAN_TIES["λ = 0"])


def test_hermitian_matrix_rank_is_numpys_constant():
    seen = {}

    def f(A):
        seen["rank"] = np.linalg.matrix_rank(A, hermitian=True)
        return seen["rank"] * A

    for A, rank in ((HERMITIAN_TIES["λ = 0"], 2), (signed(X33), 3)):
        np.testing.assert_array_equal(kronvec.jacobian(f)(A).toarray(), rank * np.eye(9))
        assert seen["rank"] == rank


def test_hermitian_svd_under_compile():
    # NumPy's order of |λ| and the signs it moves into V are decisions on the values: recorded
    # as operations (linalg.signed_order.gather, a decision), so each replay takes them again —
    # here at points where the order and the signs differ from the recorded point's
    W = np.arange(1.0, 10.0).reshape(3, 3)
    points = (signed(X33), -signed(X33.T), signed(X33)[::-1, ::-1], np.diag([3.0, -1.0, 2.0]) + 0.1 * sym(X33, 0.0))
    for vectors, f in ((False, lambda A: np.sum(np.linalg.svd(sym(A, 0.0), compute_uv=False, hermitian=True) ** 3)),
                       (True, lambda A: np.sum(W * np.linalg.svd(sym(A, 0.0), hermitian=True)[0])),
                       (True, lambda A: np.sum(W * np.linalg.svd(sym(A, 0.0), hermitian=True).Vh) + np.sum(
                           np.linalg.svd(sym(A, 0.0), hermitian=True).S ** 3))):
        g, h = kronvec.grad(f, compile=True), kronvec.hvp(f, compile=True)
        for A in points:
            np.testing.assert_array_equal(g(A), kronvec.grad(f)(A))
            np.testing.assert_allclose(h(A, W), kronvec.hvp(f)(A, W), rtol=1e-13, atol=1e-13)
        if vectors:  # each replay checks the new point's |λ| again
            for replayed in (lambda A: g(A), lambda A: h(A, W)):
                with pytest.raises(np.linalg.LinAlgError, match=r"svd\(hermitian=True\): repeated .*λ and −λ"):
                    replayed(HERMITIAN_TIES["λ and −λ"])


# ----------------------------------------- found by the adversarial linalg sweep (/work/adversarial/linalg)
def _double_singular_value(seed=5):
    rng = np.random.default_rng(seed)
    Q1, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    Q2, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return Q1 @ np.diag([2.0, 2.0, 1.0]) @ Q2.T


def test_tied_singular_values_share_the_mean_derivative():
    # uᵢvᵢᵀ of one of two tied σ depends on the basis LAPACK picked (a 1e-15 change of X flipped
    # it); the mean (1/2)·U_c V_cᵀ does not, and is what central differences give for any weights
    X = _double_singular_value()
    w = np.array([1.0, 0.3, -0.7])
    f = lambda Y: np.linalg.svdvals(Y) @ w
    G = kronvec.grad(f)(X)
    expected = central_difference_jacobian(f, (X,)).reshape(X.shape, order="F")
    np.testing.assert_allclose(G, expected, atol=1e-6)  # (a tie: the difference has an O(h) error)
    nudged = X.copy()
    nudged[0, 1] += 1e-15
    np.testing.assert_allclose(kronvec.grad(f)(nudged), G, atol=1e-12)
    J = kronvec.jacobian(lambda Y: np.linalg.svd(Y, compute_uv=False))(X).toarray()
    np.testing.assert_allclose(J.T @ w, vec(G), atol=1e-13)
    V = np.random.default_rng(1).standard_normal((3, 3))
    np.testing.assert_allclose(kronvec.jvp(np.linalg.svdvals, (X,), (V,))[1], J @ vec(V), atol=1e-13)
    stack = np.stack([X, np.diag([3.0, 2.0, 1.0])])
    Gs = kronvec.grad(lambda S: np.sum(np.linalg.svdvals(S) * w))(stack)
    np.testing.assert_allclose(Gs[0], G, atol=1e-13)
    Js = kronvec.jacobian(np.linalg.svdvals)(stack).toarray()
    u = np.random.default_rng(2).standard_normal((2, 3))
    np.testing.assert_allclose(Js.T @ vec(u), vec(kronvec.vjp(np.linalg.svdvals, stack)[1](u)[0]), atol=1e-13)
    with pytest.raises(np.linalg.LinAlgError, match="repeated singular values"):
        kronvec.hessian(f)(X)


def test_pinv_takes_an_array_rcond_of_equal_entries_and_refuses_others_by_name():
    A = np.random.default_rng(0).standard_normal((2, 3, 3)) + 3 * np.eye(3)
    same = np.array([0.01, 0.01])
    value = kronvec.vjp(lambda X: np.linalg.pinv(X, rcond=same), A)[0]
    assert np.array_equal(value, np.linalg.pinv(A, rcond=same))
    with pytest.raises(TypeError, match=r"np\.linalg\.pinv with one rcond for every member"):
        kronvec.grad(lambda X: np.sum(np.linalg.pinv(X, rcond=np.array([0.01, 0.02]))))(A)


def test_qr_with_an_unknown_mode_is_numpys_value_error():
    with pytest.raises(ValueError, match="unrecognized mode 'x'"):
        kronvec.grad(lambda X: np.sum(np.linalg.qr(X, mode="x")[0]))(np.eye(2) + 1.0)
