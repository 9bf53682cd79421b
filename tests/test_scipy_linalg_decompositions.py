"""kronvec.scipy.linalg, decompositions and solves (issue 13): cholesky, cho_factor,
cho_solve, solve_triangular, lu_factor, lu_solve, lu, solve, inv, det, eigh,
eigvalsh, svd, svdvals, qr, solve_banded.

Values against SciPy's on plain arrays for every option (to rounding: the
LAPACK routines differ, e.g. sysv against getrf); derivatives against finite
differences in every mode (tests/_scipy_helpers.py); errors; a traced value
reaching a real scipy.linalg function names its counterpart here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg as sl

import kronvec
import kronvec.scipy.linalg as kl

from _scipy_helpers import check_counterpart_named, check_derivatives

RNG = np.random.default_rng(25)
N = 4
G = RNG.standard_normal((N, N)) + 2.0 * np.sqrt(N) * np.eye(N)   # general, well conditioned
S = (G @ G.T) / N + np.eye(N)                                     # symmetric positive definite
B2 = RNG.standard_normal((N, 2))
B1 = RNG.standard_normal(N)
TALL = RNG.standard_normal((5, 3)) + np.eye(5, 3)
WIDE = TALL.T.copy()
# values agree to rounding: different LAPACK paths (sysv/posv/gtsv/gbsv against getrf, syevr against syevd)
RTOL = 1e-11


def _close(ours, theirs, rtol=RTOL):
    assert np.shape(ours) == np.shape(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol)


def _nonsymmetric(A):
    """A with junk in its strict lower triangle: what reads one triangle ignores it."""
    return A + 0.3 * np.tril(RNG.standard_normal(A.shape), -1)


# ================================================================== values
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("A", [S, _nonsymmetric(S), _nonsymmetric(S).T], ids=["symmetric", "junk below", "junk above"])
def test_cholesky_and_cho_factor_values(lower, A):
    _close(kl.cholesky(A, lower=lower), sl.cholesky(A, lower=lower))
    c, low = kl.cho_factor(A, lower=lower)
    c_sp, low_sp = sl.cho_factor(A, lower=lower)
    assert low is low_sp
    mask = np.tril(np.ones((N, N))) if lower else np.triu(np.ones((N, N)))
    _close(c, c_sp * mask)  # SciPy's other triangle is arbitrary; kronvec's is 0
    assert np.all(c[mask == 0] == 0)


def test_cholesky_default_is_the_upper_factor():
    U = kl.cholesky(S)
    np.testing.assert_allclose(U.T @ U, S, rtol=1e-13)
    assert np.all(np.tril(U, -1) == 0)


@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("b", [B1, B2], ids=["1-D", "2-D"])
def test_cho_solve_values(lower, b):
    _close(kl.cho_solve(kl.cho_factor(S, lower=lower), b), sl.cho_solve(sl.cho_factor(S, lower=lower), b))
    _close(kl.cho_solve(sl.cho_factor(S, lower=lower), b), sl.cho_solve(sl.cho_factor(S, lower=lower), b))


@pytest.mark.parametrize("trans", [0, 1, 2, "N", "T", "C"])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("unit_diagonal", [False, True])
@pytest.mark.parametrize("b", [B1, B2], ids=["1-D", "2-D"])
def test_solve_triangular_values_read_one_triangle(trans, lower, unit_diagonal, b):
    ours = kl.solve_triangular(G, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)
    _close(ours, sl.solve_triangular(G, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal), 1e-13)


def test_solve_triangular_of_integers_gives_floats_as_scipy():
    T = np.array([[2, 0], [1, 4]])
    _close(kl.solve_triangular(T, [2, 5], lower=True), sl.solve_triangular(T, [2, 5], lower=True))


def test_lu_factor_values_and_pivots_are_scipys():
    for A in (G, np.array([[0.1, 2.0, 0.3], [3.0, 0.2, 1.0], [1.0, 1.0, 4.0]]), np.array([[-1.5]])):
        lu, piv = kl.lu_factor(A)
        lu_sp, piv_sp = sl.lu_factor(A)
        np.testing.assert_array_equal(lu, lu_sp)
        np.testing.assert_array_equal(piv, piv_sp)
        assert piv.dtype == piv_sp.dtype
    lu, piv = kl.lu_factor(TALL)  # rectangular: SciPy's values on plain arrays
    np.testing.assert_array_equal(lu, sl.lu_factor(TALL)[0])


@pytest.mark.parametrize("trans", [0, 1, 2])
@pytest.mark.parametrize("b", [B1, B2], ids=["1-D", "2-D"])
def test_lu_solve_values(trans, b):
    _close(kl.lu_solve(kl.lu_factor(G), b, trans=trans), sl.lu_solve(sl.lu_factor(G), b, trans=trans), 1e-13)


@pytest.mark.parametrize("A", [G, TALL, WIDE], ids=["square", "tall", "wide"])
def test_lu_values_every_form(A):
    for ours, theirs in [(kl.lu(A), sl.lu(A)), (kl.lu(A, permute_l=True), sl.lu(A, permute_l=True)),
                         (kl.lu(A, p_indices=True), sl.lu(A, p_indices=True))]:
        assert len(ours) == len(theirs)
        for x, y in zip(ours, theirs):
            np.testing.assert_array_equal(x, y)
            assert np.asarray(x).dtype == np.asarray(y).dtype


_BANDED = np.triu(np.tril(G, 1), -2)  # 2 below, 1 above


def _test_matrix(assume_a):
    """A matrix of the structure, with junk where SciPy does not read (and must not)."""
    junk = 0.3 * RNG.standard_normal((N, N))
    return {None: G, "general": G, "gen": G, "banded": _BANDED,
            "diagonal": np.diag(np.diag(G)) + junk - np.diag(np.diag(junk)),
            "tridiagonal": np.triu(np.tril(G, 1), -1) + np.triu(junk, 2) + np.tril(junk, -2),
            "upper triangular": G, "lower triangular": G,
            "sym": _nonsymmetric(S), "symmetric": _nonsymmetric(S).T, "her": _nonsymmetric(S),
            "hermitian": _nonsymmetric(S), "pos": _nonsymmetric(S), "positive definite": _nonsymmetric(S).T}[assume_a]


SOLVE_STRUCTURES = [None, "general", "gen", "diagonal", "tridiagonal", "banded", "upper triangular",
                    "lower triangular", "sym", "symmetric", "her", "hermitian", "pos", "positive definite"]


@pytest.mark.parametrize("assume_a", SOLVE_STRUCTURES)
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("b", [B1, B2], ids=["1-D", "2-D"])
def test_solve_values_every_structure(assume_a, transposed, lower, b):
    A = _test_matrix(assume_a)
    theirs = sl.solve(A, b, assume_a=assume_a, transposed=transposed, lower=lower)
    _close(kl.solve(A, b, assume_a=assume_a, transposed=transposed, lower=lower), theirs)


def test_solve_of_a_1x1_matrix_divides_a_1_d_b_as_scipy():
    _close(kl.solve([[2.0]], [1.0, 4.0, 6.0]), sl.solve([[2.0]], [1.0, 4.0, 6.0]))


@pytest.mark.parametrize("assume_a", [None, "general", "gen", "diagonal", "upper triangular", "lower triangular",
                                      "pos", "sym", "her"])
@pytest.mark.parametrize("lower", [False, True])
def test_inv_values_every_structure(assume_a, lower):
    A = _test_matrix(assume_a)
    if assume_a == "diagonal":
        # SciPy 1.17's inv(assume_a='diagonal') returns 1/dᵢ on the diagonal and garbage off it when
        # a is not diagonal (its solve(assume_a='diagonal') reads the diagonal only, as kronvec's inv does)
        _close(kl.inv(A, assume_a=assume_a), np.diag(1 / np.diag(A)))
        A = np.diag(np.diag(A))
    _close(kl.inv(A, assume_a=assume_a, lower=lower), sl.inv(A, assume_a=assume_a, lower=lower))


def test_det_values():
    for A in (G, np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[3.0]])):
        _close(kl.det(A), sl.det(A), 1e-13)


def _same_up_to_sign(V, W):
    signs = np.sign(np.sum(V * W, axis=0))
    _close(V * signs, W)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("subset", [{}, {"subset_by_index": (1, 2)}, {"subset_by_index": [0, 0]},
                                    {"subset_by_value": (1.5, 4.0)}, {"subset_by_value": (-np.inf, np.inf)}],
                         ids=["all", "index 1..2", "index 0", "value", "every value"])
def test_eigh_and_eigvalsh_values(lower, subset):
    A = _nonsymmetric(S)
    w, V = kl.eigh(A, lower=lower, **subset)
    w_sp, V_sp = sl.eigh(A, lower=lower, **subset)
    _close(w, w_sp)
    _same_up_to_sign(V, V_sp)  # eigenvector signs are LAPACK's (syevd's for kronvec, syevr's for SciPy)
    _close(kl.eigh(A, lower=lower, eigvals_only=True, **subset), sl.eigh(A, lower=lower, eigvals_only=True, **subset))
    _close(kl.eigvalsh(A, lower=lower, **subset), sl.eigvalsh(A, lower=lower, **subset))
    if subset:  # (SciPy: syevd and syev compute no subsets)
        with pytest.raises(ValueError, match="cannot compute subsets"):
            kl.eigh(A, lower=lower, driver="evd", **subset)
    else:
        _close(kl.eigh(A, lower=lower, driver="evd")[0], w_sp)
        _close(kl.eigh(A, lower=lower, driver="evd")[1], sl.eigh(A, lower=lower, driver="evd")[1])


@pytest.mark.parametrize("A", [G, TALL, WIDE], ids=["square", "tall", "wide"])
def test_svd_and_svdvals_values(A):
    for full_matrices in (True, False):
        U, s, Vh = kl.svd(A, full_matrices=full_matrices)
        U_sp, s_sp, Vh_sp = sl.svd(A, full_matrices=full_matrices)
        _close(s, s_sp)
        _close(U, U_sp)  # the same driver (gesdd): the same signs
        _close(Vh, Vh_sp)
    _close(kl.svd(A, compute_uv=False), sl.svd(A, compute_uv=False))
    _close(kl.svdvals(A), sl.svdvals(A))
    for x, y in zip(kl.svd(A, lapack_driver="gesvd"), sl.svd(A, lapack_driver="gesvd")):  # plain: SciPy's
        _close(x, y)


@pytest.mark.parametrize("A", [G, TALL, WIDE], ids=["square", "tall", "wide"])
@pytest.mark.parametrize("mode", ["full", "economic", "r", "raw"])
def test_qr_values(A, mode):
    ours, theirs = kl.qr(A, mode=mode), sl.qr(A, mode=mode)
    assert type(ours) is tuple and len(ours) == len(theirs)
    for x, y in zip(ours, theirs):
        if isinstance(y, tuple):  # mode 'raw': ((h, tau), r)
            for xx, yy in zip(x, y):
                _close(xx, yy)
        else:
            _close(x, y)
    for x, y in zip(kl.qr(A, pivoting=True), sl.qr(A, pivoting=True)):
        _close(x, y)


@pytest.mark.parametrize("l_and_u", [(1, 1), (2, 1), (0, 2), (0, 0)])
@pytest.mark.parametrize("b", [B1, B2], ids=["1-D", "2-D"])
def test_solve_banded_values(l_and_u, b):
    lo, up = l_and_u
    ab = RNG.standard_normal((lo + up + 1, N))
    ab[up] += 4.0  # the diagonal: well conditioned
    _close(kl.solve_banded(l_and_u, ab, b), sl.solve_banded(l_and_u, ab, b))


# ============================================================= derivatives
@pytest.mark.parametrize("lower", [False, True])
def test_cholesky_derivatives(lower):
    # off symmetric points: the derivative of what SciPy reads (one triangle, mirrored), plain differences agree
    for A in (_nonsymmetric(S), _nonsymmetric(S).T):
        check_derivatives(lambda A: kl.cholesky(A, lower=lower), (A,), 0, what="cholesky")
        check_derivatives(lambda A: kl.cho_factor(A, lower=lower)[0], (A,), 0, what="cho_factor")
    # at a symmetric point: along symmetric directions (notes/conventions.md §10)
    f = lambda A: kl.cholesky(A, lower=lower)  # noqa: E731
    np.testing.assert_allclose(kronvec.jacobian(f)(S).toarray(), _symmetric_directions_fd(f, S), rtol=1e-6, atol=1e-8)


def test_cholesky_gradient_is_symmetric_along_symmetric_directions():
    # ln|A| = 2 Σ ln diag(U): gradient A⁻¹, symmetric (notes/conventions.md §10)
    g = kronvec.grad(lambda A: 2 * np.sum(np.log(np.diagonal(kl.cho_factor(A)[0]))))(S)
    np.testing.assert_allclose(g, np.linalg.inv(S), rtol=1e-12)


@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("b", [B1, B2], ids=["1-D", "2-D"])
def test_cho_solve_derivatives_in_the_factor_and_b(lower, b):
    c = np.linalg.cholesky(S)
    c = c if lower else c.T
    check_derivatives(lambda c, b: kl.cho_solve((c, lower), b), (c, b), 0, what="cho_solve")
    check_derivatives(lambda c, b: kl.cho_solve((c, lower), b), (c, b), 1, what="cho_solve")
    f = lambda A, b: kl.cho_solve(kl.cho_factor(A, lower=lower), b)  # noqa: E731
    check_derivatives(f, (_nonsymmetric(S), b), 0, what="cho_solve∘cho_factor")
    J = kronvec.jacobian(lambda A: f(A, b))(S).toarray()
    np.testing.assert_allclose(J, _symmetric_directions_fd(lambda A: f(A, b), S), rtol=1e-6, atol=1e-8)


# (a 1-D b with trans=0 and 'C', a 2-D one with 1: every option and both shapes of b, in 12 cases)
@pytest.mark.parametrize("trans, b", [(0, B1), (1, B2), ("C", B1)], ids=["0, 1-D b", "1, 2-D b", "'C', 1-D b"])
@pytest.mark.parametrize("lower", [False, True])
@pytest.mark.parametrize("unit_diagonal", [False, True])
def test_solve_triangular_derivatives(trans, b, lower, unit_diagonal):
    f = lambda a, b: kl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)  # noqa: E731
    check_derivatives(f, (G, b), 0, what="solve_triangular")
    check_derivatives(f, (G, b), 1, what="solve_triangular")


def test_solve_triangular_gradient_lives_on_the_triangle_read():
    g = kronvec.grad(lambda a: np.sum(kl.solve_triangular(a, B2, lower=True, unit_diagonal=True)))(G)
    assert np.all(np.triu(g) == 0)
    g = kronvec.grad(lambda a: np.sum(kl.solve_triangular(a, B2)))(G)
    assert np.all(np.tril(g, -1) == 0) and np.all(np.diag(g) != 0)


def test_lu_factor_derivatives():
    check_derivatives(lambda A: kl.lu_factor(A)[0], (G,), 0, what="lu_factor")
    swapped = np.array([[0.1, 2.0, 0.3], [3.0, 0.2, 1.0], [1.0, 1.0, 4.0]])
    check_derivatives(lambda A: kl.lu_factor(A)[0], (swapped,), 0, what="lu_factor (pivoted)")


@pytest.mark.parametrize("trans", [0, 1, 2])
@pytest.mark.parametrize("b", [B1, B2], ids=["1-D", "2-D"])
def test_lu_solve_derivatives_in_lu_b_and_through_lu_factor(trans, b):
    lu, piv = sl.lu_factor(G)
    check_derivatives(lambda lu, b: kl.lu_solve((lu, piv), b, trans=trans), (lu, b), 0, what="lu_solve")
    check_derivatives(lambda lu, b: kl.lu_solve((lu, piv), b, trans=trans), (lu, b), 1, what="lu_solve")
    # through the factorization, the derivative of A⁻¹b (or A⁻ᵀb): the general one
    f = lambda A: kl.lu_solve(kl.lu_factor(A), b, trans=trans)  # noqa: E731
    check_derivatives(f, (G,), 0, what="lu_solve∘lu_factor")
    J = kronvec.jacobian(f)(G).toarray()
    J_np = kronvec.jacobian(lambda A: np.linalg.solve(A.T if trans else A, b))(G).toarray()
    np.testing.assert_allclose(J, J_np, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("part", range(3))
@pytest.mark.parametrize("form", ["default", "permute_l", "p_indices"])
def test_lu_derivatives(part, form):
    kwargs = {"default": {}, "permute_l": {"permute_l": True}, "p_indices": {"p_indices": True}}[form]
    if form == "permute_l" and part == 2 or form == "p_indices" and part == 0 or form == "default" and part == 0:
        return  # (permutations: constants)
    check_derivatives(lambda A: kl.lu(A, **kwargs)[part], (G,), 0, what=f"lu[{part}] {form}")


def _symmetric_directions_fd(f, A):
    """∂f/∂A along symmetric directions by central differences: the gradient of A ↦ f(sym(A))."""
    from _helpers import central_difference_jacobian
    return central_difference_jacobian(lambda X: np.atleast_1d(f((X + X.T) / 2)), (A,))


@pytest.mark.parametrize("assume_a", SOLVE_STRUCTURES)
@pytest.mark.parametrize("transposed, b", [(False, B2), (True, B1)], ids=["2-D b", "transposed, 1-D b"])
def test_solve_derivatives_every_structure(assume_a, transposed, b):
    A = _test_matrix(assume_a)
    f = lambda a, b: kl.solve(a, b, assume_a=assume_a, transposed=transposed)  # noqa: E731
    check_derivatives(f, (A, b), 1, what=f"solve({assume_a}) in b")
    if assume_a in ("sym", "symmetric", "her", "hermitian", "pos", "positive definite"):
        check_derivatives(f, (A, b), 0, what=f"solve({assume_a})")  # off symmetric points: of the triangle read
        # along symmetric directions (conventions §10), at an exactly symmetric point
        J = kronvec.jacobian(lambda a: f(a, b))(S).toarray()
        np.testing.assert_allclose(J, _symmetric_directions_fd(lambda a: f(a, b), S), rtol=1e-6, atol=1e-8)
    else:
        check_derivatives(f, (A, b), 0, what=f"solve({assume_a})")


@pytest.mark.parametrize("assume_a", [None, "diagonal", "upper triangular", "lower triangular", "pos", "sym"])
def test_inv_derivatives(assume_a):
    f = lambda a: kl.inv(a, assume_a=assume_a)  # noqa: E731
    A = _nonsymmetric(S) if assume_a in ("pos", "sym") else _test_matrix(assume_a)
    check_derivatives(f, (A,), 0, what=f"inv({assume_a})")
    if assume_a in ("pos", "sym"):
        np.testing.assert_allclose(kronvec.jacobian(f)(S).toarray(), _symmetric_directions_fd(f, S), rtol=1e-6,
                                   atol=1e-8)


def test_det_derivatives():
    check_derivatives(kl.det, (G / 4,), 0, what="det")


@pytest.mark.parametrize("lower", [True, False])
def test_eigh_derivatives(lower):
    A = _nonsymmetric(S)
    check_derivatives(lambda a: kl.eigh(a, lower=lower)[0], (A,), 0, what="eigh values")
    check_derivatives(lambda a: kl.eigh(a, lower=lower)[1], (A,), 0, what="eigh vectors")
    check_derivatives(lambda a: kl.eigvalsh(a, lower=lower), (A,), 0, what="eigvalsh")
    check_derivatives(lambda a: kl.eigh(a, lower=lower, subset_by_index=(1, 2))[1], (A,), 0, what="eigh subset")
    check_derivatives(lambda a: kl.eigvalsh(a, lower=lower, subset_by_value=(1.5, 10.0)), (A,), 0,
                      what="eigvalsh subset")


# the symmetric-definite generalized problem: types 1 (a v = λ b v), 2 (a b v = λ v), 3 (b a v = λ v)
GENERALIZED_B = np.diag([1.0, 2.0, 3.0, 4.0]) + 0.3 * np.ones((N, N))   # symmetric positive definite
GENERALIZED_A = _nonsymmetric(S - 2.0 * np.eye(N))                      # junk below; indefinite


@pytest.mark.parametrize("itype", [1, 2, 3])
@pytest.mark.parametrize("lower", [True, False])
def test_generalized_eigh_values_and_signs_are_scipys(itype, lower):
    # SciPy's default driver (sygvd) reduces to syevd of C, as kronvec does: the same
    # eigenvector signs, and vᵀ b v = I (types 1, 2) or vᵀ b⁻¹ v = I (type 3)
    rng = np.random.default_rng(itype + 10 * lower)
    for n in (1, 3, 6):
        H = rng.standard_normal((n, n))
        a, b = _nonsymmetric(H + H.T), H @ H.T + 0.5 * np.eye(n)
        w, v = kl.eigh(a, b, type=itype, lower=lower)
        w0, v0 = sl.eigh(a, b, type=itype, lower=lower)
        _close(w, w0, rtol=1e-10)
        _close(v, v0, rtol=1e-10)
        _close(kl.eigvalsh(a, b, type=itype, lower=lower), w0, rtol=1e-10)
        b_read = sl.cholesky(b, lower=lower)
        b_read = b_read @ b_read.T if lower else b_read.T @ b_read
        metric = b_read if itype in (1, 2) else np.linalg.inv(b_read)
        _close(v.T @ metric @ v, np.eye(n), rtol=1e-10)


@pytest.mark.parametrize("itype", [1, 2, 3])
@pytest.mark.parametrize("lower", [True, False])
def test_generalized_eigh_derivatives_in_a_and_b(itype, lower):
    A, B = GENERALIZED_A, _nonsymmetric(GENERALIZED_B)
    for argnum in (0, 1):
        check_derivatives(lambda a, b: kl.eigh(a, b, type=itype, lower=lower)[0], (A, B), argnum,
                          what=f"generalized eigh values, type {itype}")
        check_derivatives(lambda a, b: kl.eigh(a, b, type=itype, lower=lower)[1], (A, B), argnum,
                          what=f"generalized eigh vectors, type {itype}")
    check_derivatives(lambda a, b: kl.eigvalsh(a, b, type=itype, subset_by_index=(1, 2)), (A, B), 1,
                      what=f"generalized eigvalsh subset, type {itype}")
    # along symmetric directions at an exactly symmetric point (conventions §10)
    f = lambda b: kl.eigh(S, b, type=itype, lower=lower)[1]  # noqa: E731
    np.testing.assert_allclose(kronvec.jacobian(f)(GENERALIZED_B).toarray(),
                               _symmetric_directions_fd(f, GENERALIZED_B), rtol=1e-6, atol=1e-8)


def test_generalized_eigh_refuses_what_has_no_derivative():
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        kl.eigh(S, -GENERALIZED_B)
    # a repeated generalized eigenvalue: the values are differentiable, the vectors are not
    B = np.diag([1.0, 2.0, 3.0, 4.0])
    A = B @ np.diag([1.0, 1.0, 2.0, 3.0])
    g = kronvec.grad(lambda a: np.sum(kl.eigvalsh(a, B)))(A)
    np.testing.assert_allclose(g, np.linalg.inv(B), rtol=1e-12)  # d tr(B⁻¹A) = tr(B⁻¹ dA)
    with pytest.raises(np.linalg.LinAlgError, match="repeated|eigenvalue"):
        kronvec.grad(lambda a: np.sum(kl.eigh(a, B)[1]))(A)


@pytest.mark.parametrize("A, full_matrices", [(G, True), (G, False), (TALL, False), (WIDE, False),
                                               (TALL[:4], True), (WIDE[:, :4], True)],
                         ids=["square full", "square thin", "tall thin", "wide thin", "tall full", "wide full"])
def test_svd_derivatives(A, full_matrices):
    for part in range(3):
        check_derivatives(lambda a: kl.svd(a, full_matrices=full_matrices)[part], (A,), 0, what=f"svd[{part}]")
    check_derivatives(lambda a: kl.svd(a, compute_uv=False), (A,), 0, what="svd values")
    check_derivatives(kl.svdvals, (A,), 0, what="svdvals")


def _float32_matrices(count=200):
    rng = np.random.default_rng(41)
    return [rng.standard_normal((6, 6) if k % 2 else (5, 3)).astype(np.float32) for k in range(count)]


def test_svd_is_scipys_own_decomposition():
    # NumPy and SciPy both call gesdd, from two builds of LAPACK that pick opposite signs for
    # some float32 singular vectors (about one in ten of these 6×6 and 5×3 matrices on the
    # development machine):
    # kronvec.scipy.linalg.svd's values are SciPy's, plain or traced, and np.linalg.svd's NumPy's
    differ = 0
    for A in _float32_matrices():
        scipys, numpys = sl.svd(A, full_matrices=False), np.linalg.svd(A, full_matrices=False)
        differ += bool(np.abs(scipys[0] - numpys[0]).max() > 1e-3)
        for part in range(3):
            np.testing.assert_array_equal(kl.svd(A, full_matrices=False)[part], scipys[part])
            traced, _ = kronvec.jvp(lambda a: kl.svd(a, full_matrices=False)[part], (A,), (np.ones_like(A),))
            np.testing.assert_array_equal(traced, scipys[part])
            traced, _ = kronvec.jvp(lambda a: np.linalg.svd(a, full_matrices=False)[part], (A,), (np.ones_like(A),))
            np.testing.assert_array_equal(traced, numpys[part])
    print(f"{differ} of 200 float32 matrices: NumPy's and SciPy's signs differ")


def test_svd_derivatives_follow_the_signs_returned():
    # The derivative of SciPy's vector uⱼ is that of ±(float64 uⱼ), with the sign SciPy's float32
    # decomposition picked: the rules must use SciPy's factors, not NumPy's (tolerance: float32)
    weights = np.arange(1.0, 7.0)
    for A in _float32_matrices(60):
        for j in range(3):
            def f(a, j=j):
                return kl.svd(a, full_matrices=False)[0][:, j] @ weights[:a.shape[0]].astype(a.dtype)

            sign = np.sign(sl.svd(A, full_matrices=False)[0][:, j] @ sl.svd(A.astype(np.float64))[0][:, j])
            expected = sign * kronvec.grad(f)(A.astype(np.float64))
            np.testing.assert_allclose(kronvec.grad(f)(A), expected, atol=1e-3 * np.abs(expected).max())


@pytest.mark.parametrize("transform", [
    lambda f: kronvec.grad(lambda a: np.sum(f(a)[0][:, 3:] ** 3)),  # (reverse: the extra vectors used)
    lambda f: kronvec.jacobian(lambda a: f(a)[0]),  # (forward: U carries them)
], ids=["grad", "jacobian"])
def test_svd_two_extra_vectors_are_refused_naming_the_function_called(transform):
    # the same rule serves np.linalg.svd and scipy.linalg.svd: its error names the one called
    A = np.vstack([TALL, TALL[:1] + 1.0])[:5]  # 5×3: two extra vectors
    with pytest.raises(np.linalg.LinAlgError, match=r"^scipy\.linalg\.svd with full_matrices=True .* 2 extra"):
        transform(kl.svd)(A)
    with pytest.raises(np.linalg.LinAlgError, match=r"^np\.linalg\.svd with full_matrices=True .* 2 extra"):
        transform(np.linalg.svd)(A)


def test_svd_of_float16_is_scipys_float32():
    A = TALL.astype(np.float16)
    for ours, theirs in zip(kl.svd(A), sl.svd(A)):
        assert ours.dtype == theirs.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(kl.svdvals(A), sl.svdvals(A))


@pytest.mark.parametrize("A, mode", [(G, "full"), (G, "economic"), (G, "r"), (TALL, "economic"), (TALL, "r"),
                                     (TALL[:4], "full")],
                         ids=["square full", "square economic", "square r", "tall economic", "tall r",
                              "tall full (one extra column)"])
def test_qr_derivatives(A, mode):
    for part in range(1 if mode == "r" else 2):
        check_derivatives(lambda a: kl.qr(a, mode=mode)[part], (A,), 0, what=f"qr[{part}] {mode}")


@pytest.mark.parametrize("l_and_u", [(1, 1), (2, 1), (0, 2)])
def test_solve_banded_derivatives_in_ab_and_b(l_and_u):
    lo, up = l_and_u
    ab = RNG.standard_normal((lo + up + 1, N))
    ab[up] += 4.0
    f = lambda ab, b: kl.solve_banded(l_and_u, ab, b)  # noqa: E731
    check_derivatives(f, (ab, B2), 0, what="solve_banded")
    check_derivatives(f, (ab, B2), 1, what="solve_banded")


def test_jacobians_of_triangular_solves_are_structured():
    J = kronvec.jacobian(lambda b: kl.solve_triangular(G, b, lower=True))(B2)
    assert "Dense" not in type(J).__name__ and "inv" in J.formula()
    J = kronvec.jacobian(lambda a: kl.lu_factor(a)[0])(G)
    np.testing.assert_allclose(J.T.matvec(J.matvec(np.ones(N * N))) @ np.ones(N * N),
                               np.linalg.norm(J.matvec(np.ones(N * N))) ** 2, rtol=1e-12)  # dot test


# ================================================================== errors
def test_not_positive_definite_names_the_operation_and_the_minor():
    A = np.array([[1.0, 2.0], [2.0, 1.0]])
    for call in (lambda: kl.cholesky(A), lambda: kl.cho_factor(A, lower=True), lambda: kl.solve(A, B1[:2], assume_a="pos"),
                 lambda: kronvec.grad(lambda a: np.sum(kl.cholesky(a)))(A)):
        with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.(cholesky|cho_factor|solve).*not positive "
                                                        r"definite.*order 2"):
            call()


def test_singular_matrices_raise_linalgerror_naming_the_operation():
    T = np.array([[1.0, 0.0], [2.0, 0.0]])
    with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.solve_triangular: .*singular.*entry 2"):
        kl.solve_triangular(T, [1.0, 1.0], lower=True)
    with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.solve_triangular"):
        kronvec.grad(lambda b: np.sum(kl.solve_triangular(T, b, lower=True)))(np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match=r"(?i)scipy\.linalg\.solve: .*singular"):
        kl.solve(np.ones((2, 2)), [1.0, 1.0])
    with pytest.raises(np.linalg.LinAlgError, match=r"(?i)scipy\.linalg\.solve: .*singular"):
        kl.solve(np.diag([1.0, 0.0]), [1.0, 1.0], assume_a="diagonal")
    with pytest.raises(np.linalg.LinAlgError, match=r"(?i)scipy\.linalg\.inv: .*singular"):
        kl.inv(np.ones((2, 2)))
    # an exactly singular U: SciPy's LinAlgWarning for the value, LinAlgError for a solve with it
    with pytest.warns(sl.LinAlgWarning):
        lu_piv = kl.lu_factor(np.ones((2, 2)))
    with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.lu_solve"):
        kl.lu_solve(lu_piv, [1.0, 1.0])
    # its derivative names lu_factor (it named the solve_triangular inside the rule), a stack's member too
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    for a, where in ((singular, "the matrix is"), (np.stack([np.eye(3) + 1.0, singular]), r"batch index \(1,\)")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.LinAlgWarning)
            for transform in (kronvec.jacobian(lambda a: kl.lu_factor(a)[0]),
                              kronvec.grad(lambda a: np.sum(kl.lu_factor(a)[0]))):
                with pytest.raises(np.linalg.LinAlgError, match=rf"scipy\.linalg\.lu_factor: .*{where}.*entry 3 is exactly 0"):
                    transform(a)


@pytest.mark.parametrize("call", [
    lambda x: kl.cholesky(x), lambda x: kl.solve_triangular(x, np.ones(2)), lambda x: kl.lu_factor(x),
    lambda x: kl.solve(x, np.ones(2)), lambda x: kl.eigh(x), lambda x: kl.svd(x), lambda x: kl.qr(x),
    lambda x: kl.det(x), lambda x: kl.inv(x), lambda x: kl.solve_triangular(np.eye(2), x[0]),
], ids=["cholesky", "solve_triangular", "lu_factor", "solve", "eigh", "svd", "qr", "det", "inv", "b"])
def test_non_finite_input_is_a_value_error(call):
    bad = np.array([[1.0, np.nan], [0.0, 1.0]])
    with pytest.raises(ValueError, match="infs or NaNs"):
        call(bad)


def test_check_finite_false_skips_scipys_check_and_leaves_kronvecs():
    with pytest.raises(ValueError, match="kronvec.config.check_finite"):
        kl.solve_triangular(np.eye(2), [np.nan, 1.0], check_finite=False)


@pytest.mark.parametrize("call, match", [
    (lambda: kl.cholesky(np.ones((2, 3))), r"square matrix, got a of shape \(2, 3\)"),
    (lambda: kl.cholesky(np.ones(3)), r"2-D matrix, got a of shape \(3,\)"),
    (lambda: kl.solve_triangular(np.eye(3), np.ones(2)), r"shapes of a \(3, 3\) and b \(2,\)"),
    (lambda: kl.cho_solve((np.eye(3), False), np.ones((2, 2))), r"shapes of a \(3, 3\) and b \(2, 2\)"),
    (lambda: kl.lu_solve(sl.lu_factor(np.eye(3) + 1), np.ones(4)), r"shapes of a \(3, 3\) and b \(4,\)"),
    (lambda: kl.lu_solve((np.eye(3), np.zeros(2, dtype=np.int32)), np.ones(3)), r"piv must be 3 integer"),
    (lambda: kl.solve(np.eye(3), np.ones(2)), r"shapes of a \(3, 3\) and b \(2,\)"),
    (lambda: kl.solve_banded((1, 1), np.ones((2, 3)), np.ones(3)), r"l\+u\+1 \(3\) does not equal ab.shape\[0\] \(2\)"),
    (lambda: kl.solve_banded((1, 1), np.ones((3, 3)), np.ones(2)), r"shapes of ab \(3, 3\) and b \(2,\)"),
    (lambda: kl.det(np.ones((2, 3))), r"square"),
    (lambda: kl.eigh(np.eye(3), subset_by_index=(1, 3)), r"subset_by_index \(1, 3\) is out of bounds"),
], ids=["cholesky rectangular", "cholesky 1-D", "solve_triangular b", "cho_solve b", "lu_solve b", "lu_solve piv",
        "solve b", "solve_banded l+u", "solve_banded b", "det", "eigh subset"])
def test_bad_shapes_are_value_errors_naming_them(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_stacks_are_refused_by_name_where_no_rule_takes_them():
    with pytest.raises(TypeError, match="subset_by_value on a stack"):
        kl.eigh(np.stack([S, S]), subset_by_value=(0.0, 1.0))


@pytest.mark.parametrize("call, error, match", [
    (lambda: kl.solve(G, B1, assume_a="triangular"), ValueError, "triangular is not a recognized matrix structure"),
    (lambda: kl.inv(G, assume_a="tridiagonal"), ValueError, "'tridiagonal' is not a recognized"),
    (lambda: kl.solve_triangular(G, B1, trans=3), ValueError, "invalid trans 3"),
    (lambda: kl.eigh(S, driver="gvd"), ValueError, "driver 'gvd'"),
    (lambda: kl.eigh(S, S, driver="evr"), ValueError, "driver 'evr' is not one of .* generalized"),
    (lambda: kl.eigh(S, np.eye(3)), ValueError, r"wrong b dimensions \(3, 3\), should be \(4, 4\)"),
    (lambda: kl.eigh(np.stack([S, S]), np.stack([S, S])), TypeError, "generalized problem .* stack"),
    (lambda: kl.eigh(S, type=4), ValueError, "type must be 1, 2 or 3"),
    (lambda: kl.eigh(S, subset_by_index=(0, 1), subset_by_value=(0, 1)), ValueError, "either index or value"),
    (lambda: kl.svd(G, lapack_driver="gesvj"), ValueError, "lapack_driver"),
    (lambda: kl.qr(G, mode="reduced"), ValueError, "mode argument"),
    (lambda: kl.cho_solve(np.eye(3), np.ones(2)), TypeError, "c_and_lower"),
], ids=["solve assume_a", "inv assume_a", "trans", "eigh driver", "generalized eigh driver", "eigh b shape",
        "generalized eigh stack", "eigh type", "eigh both subsets",
        "svd driver", "qr mode", "cho_solve pair"])
def test_unsupported_options_are_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda a: kl.svd(a, full_matrices=False, lapack_driver="gesvd"), r"lapack_driver='gesvd'"),
    (lambda a: kl.qr(a, mode="economic", pivoting=True), r"pivoting=True"),
    (lambda a: kl.qr(a, mode="raw"), r"mode='raw'"),
    (lambda a: kl.qr(a.T, mode="economic"), r"wide 3×5"),
    (lambda a: kl.lu(a), r"rectangular 5×3"),
    (lambda a: kl.lu_factor(a), r"rectangular 5×3"),
], ids=["svd gesvd", "qr pivoting", "qr raw", "qr wide", "lu", "lu_factor"])
def test_options_without_a_derivative_refuse_traced_values(call, match):
    with pytest.raises(TypeError, match=match):
        kronvec.grad(lambda a: np.sum(call(a)[0]))(TALL)


def test_inputs_are_not_modified():
    A, b = S.copy(), B2.copy()
    kl.cho_solve(kl.cho_factor(A, overwrite_a=True), b, overwrite_b=True)
    kl.solve(A, b, overwrite_a=True, overwrite_b=True, assume_a="sym")
    kl.lu_solve(kl.lu_factor(A, overwrite_a=True), b, overwrite_b=True)
    kl.solve_banded((1, 1), A[:3], b, overwrite_ab=True, overwrite_b=True)
    np.testing.assert_array_equal(A, S)
    np.testing.assert_array_equal(b, B2)


# ========================================================== interception
@pytest.mark.parametrize("name, call", [
    ("cholesky", lambda x: sl.cholesky(x)),
    ("solve_triangular", lambda x: sl.solve_triangular(x, np.ones(2))),
    ("lu_factor", lambda x: sl.lu_factor(x)),
    ("solve", lambda x: sl.solve(x, np.ones(2))),
    ("eigh", lambda x: sl.eigh(x)[0]),
    ("svd", lambda x: sl.svd(x)[1]),
    ("qr", lambda x: sl.qr(x)[1]),
    ("det", lambda x: sl.det(x)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_real_scipy_linalg_function_on_a_traced_value_names_its_counterpart(name, call):
    check_counterpart_named(name, call)


def test_the_namespace_lists_every_function():
    assert set(kl.__all__) >= {"cholesky", "cho_factor", "cho_solve", "solve_triangular", "lu_factor", "lu_solve",
                               "lu", "solve", "inv", "det", "eigh", "eigvalsh", "svd", "svdvals", "qr", "solve_banded"}
    for name in kl.__all__:
        assert callable(getattr(kl, name))
