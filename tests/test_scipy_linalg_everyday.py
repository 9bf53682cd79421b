"""kronvec.scipy.linalg, the everyday functions: norm, lstsq, pinv, pinvh,
orthogonal_procrustes, khatri_rao, solveh_banded, cholesky_banded, cho_solve_banded,
solve_toeplitz and solve_circulant.

On plain arrays each is SciPy's own function (values bit for bit); on traced values
the values agree with SciPy's to rounding (RTOL: other LAPACK paths — LU against
Levinson, FFT, pbsv, syev) or bit for bit (khatri_rao: SciPy's own expression); every
derivative against central differences in every mode (tests/_scipy_helpers.py),
Hessians included; errors name the function; a traced value reaching SciPy's own
function names its counterpart here.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.linalg as sl

import kronvec
import kronvec.scipy.linalg as kl

from _helpers import central_difference_jacobian
from _scipy_helpers import check_counterpart_named, check_derivatives

RNG = np.random.default_rng(35)
N = 4
G = RNG.standard_normal((N, N)) + 2.0 * np.sqrt(N) * np.eye(N)   # general, well conditioned
S = (G @ G.T) / N + np.eye(N)                                     # symmetric positive definite
INDEFINITE = S - 3.0 * np.eye(N)
TALL = RNG.standard_normal((5, 3)) + np.eye(5, 3)
WIDE = TALL.T.copy()
B5 = RNG.standard_normal((5, 2))
b5 = RNG.standard_normal(5)
RTOL = 1e-12


def _traced_value(f, *args):
    """f(*args) computed with its first argument traced (the value kronvec records)."""
    return kronvec.vjp(lambda a: f(a, *args[1:]), args[0])[0]


def _close(ours, theirs, rtol=RTOL):
    assert np.shape(ours) == np.shape(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol)


def _junk_below(A):
    """A with junk in its strict lower triangle: what reads the upper triangle ignores it."""
    return A + 0.3 * np.tril(RNG.standard_normal(A.shape), -1)


def _symmetric_directions_fd(f, A):
    """∂f/∂A along symmetric directions by central differences: that of A ↦ f(sym A)."""
    return central_difference_jacobian(lambda X: np.atleast_1d(f((X + X.T) / 2)), (A,))


# ====================================================================== norm
NORM_CASES = [(G, None, None, False), (G, "fro", None, False), (G, "nuc", None, False), (G, 2, None, False),
              (G, -2, None, False), (G, 1, None, False), (G, -1, None, False), (G, np.inf, None, False),
              (G, -np.inf, None, False), (G[0], None, None, False), (G[0], 3, None, False), (G[0], 1, None, False),
              (G[0], np.inf, None, False), (G, None, 0, False), (G, 3, 1, True), (G, "fro", (1, 0), True),
              (np.stack([G, S]), 2, (1, 2), False)]
NORM_IDS = ["default", "fro", "nuc", "2", "-2", "1", "-1", "inf", "-inf", "vector", "vector 3", "vector 1",
            "vector inf", "axis 0", "axis 1 keepdims", "fro axes (1, 0)", "2 over a stack"]


@pytest.mark.parametrize("a, order, axis, keepdims", NORM_CASES, ids=NORM_IDS)
def test_norm_values_and_derivatives(a, order, axis, keepdims):
    f = lambda a: kl.norm(a, order, axis=axis, keepdims=keepdims)  # noqa: E731
    expected = sl.norm(a, order, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(f(a), expected)  # plain: SciPy's own
    _close(_traced_value(f, a), expected)  # traced: NumPy's norm, to rounding (SciPy uses nrm2/lange)
    check_derivatives(f, (a,), 0, what=f"norm {order}")


@pytest.mark.parametrize("order", [None, "fro", 2, 1, -1, np.inf, -np.inf, 3])
@pytest.mark.parametrize("shape", ["vector", "matrix", "F-ordered matrix", "columns of a matrix"])
def test_norm_of_float32_has_scipys_dtype(order, shape):
    # SciPy's nrm2 (a vector's 2-norm) and lange (a contiguous matrix's 1- and ∞-norms) return
    # a Python float for float32 input; its other cases NumPy's float32
    a = G.astype(np.float32)
    pick = {"vector": lambda x: x[0], "matrix": lambda x: x, "F-ordered matrix": lambda x: x.T,
            "columns of a matrix": lambda x: x[:, :2]}[shape]
    if (pick(a).ndim == 1 and order == "fro") or (pick(a).ndim == 2 and order == 3):
        pytest.skip("not an order of this shape")
    expected = sl.norm(pick(a), order)
    traced = _traced_value(lambda x: kl.norm(pick(x), order), a)
    assert np.asarray(traced).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(traced, expected, rtol=2e-7)  # (float32 sums in another order)


def test_norm_checks_finiteness_as_scipy():
    with pytest.raises(ValueError, match=r"scipy\.linalg\.norm: array must not contain infs or NaNs"):
        kl.norm(np.array([1.0, np.inf]))
    assert kl.norm(np.array([3.0, np.inf]), check_finite=False) == np.inf
    with pytest.raises(ValueError, match=r"scipy\.linalg\.norm: Invalid norm order"):
        kronvec.grad(lambda a: kl.norm(a, "abc"))(G)


# ===================================================================== lstsq
LSTSQ_CASES = [(TALL, B5), (TALL, b5), (G, B5[:N]), (WIDE, b5[:3]), (WIDE, B5[:3])]
LSTSQ_IDS = ["tall, 2-D b", "tall, 1-D b", "square", "wide, 1-D b", "wide, 2-D b"]


@pytest.mark.parametrize("driver", [None, "gelsd", "gelss", "gelsy"])
@pytest.mark.parametrize("a, b", LSTSQ_CASES, ids=LSTSQ_IDS)
def test_lstsq_values(a, b, driver):
    expected = sl.lstsq(a, b, lapack_driver=driver)
    x, residues, rank, s = kl.lstsq(a, b, lapack_driver=driver)  # plain: SciPy's own
    for ours, theirs in zip((x, residues, rank), expected):
        np.testing.assert_array_equal(ours, theirs)
        assert np.shape(ours) == np.shape(theirs)  # (a 0-d residue for a tall a and a 1-D b, as SciPy)
    seen = {}

    def traced(a):  # every output at once, compared laid end to end
        x, residues, rank, s = kl.lstsq(a, b, lapack_driver=driver)
        seen.update(rank=rank, residues_shape=np.shape(residues), s=s)
        return np.concatenate([np.ravel(x), np.ravel(residues)] + ([] if s is None else [np.ravel(s)]))

    _close(_traced_value(traced, a), np.concatenate([np.ravel(expected[0]), np.ravel(expected[1])]
                                                    + ([] if expected[3] is None else [expected[3]])))
    assert seen["rank"] == expected[2] and type(seen["rank"]) is int
    assert seen["residues_shape"] == np.shape(expected[1])
    assert (seen["s"] is None) == (expected[3] is None) == (driver == "gelsy")


def test_lstsq_plain_is_scipys_at_any_rank_and_cond():
    deficient = np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])
    for a, cond in ((deficient, None), (TALL, 0.5), (TALL, -1.0)):
        for ours, theirs in zip(kl.lstsq(a, b5[:3] if a is deficient else b5, cond=cond),
                                sl.lstsq(a, b5[:3] if a is deficient else b5, cond=cond)):
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("a, b", LSTSQ_CASES, ids=LSTSQ_IDS)
def test_lstsq_derivatives(a, b):
    m, n = a.shape
    for part in (0, 1, 3):
        if part == 1 and m <= n:
            continue  # (no residues)
        f = lambda a, b: kl.lstsq(a, b)[part]  # noqa: E731,B023
        check_derivatives(f, (a, b), 0, what=f"lstsq[{part}]")
        if part != 3:
            check_derivatives(f, (a, b), 1, what=f"lstsq[{part}]")


def test_lstsq_residue_gradient_is_twice_the_residual():
    x = kl.lstsq(TALL, b5)[0]
    g = kronvec.grad(lambda b: kl.lstsq(TALL, b)[1])(b5)
    np.testing.assert_allclose(g, 2.0 * (b5 - TALL @ x), rtol=1e-12, atol=1e-14)


def test_lstsq_in_b_alone_is_differentiable_at_any_rank():
    deficient = np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 1.0], [0.0, 2.0]])
    f = lambda b: kl.lstsq(deficient, b)[0]  # noqa: E731
    J = kronvec.jacobian(f)(b5[:4]).toarray()
    np.testing.assert_allclose(J, np.linalg.pinv(deficient, rcond=np.finfo(float).eps), rtol=1e-10, atol=1e-12)


# ============================================================== pinv, pinvh
PINV_CASES = [TALL, WIDE, G, np.stack([TALL, TALL + 0.1]), np.stack([WIDE, 2.0 * WIDE])]
PINV_IDS = ["tall", "wide", "square", "a stack of tall", "a stack of wide"]


@pytest.mark.parametrize("a", PINV_CASES, ids=PINV_IDS)
def test_pinv_values_and_derivatives(a):
    for kwargs in ({}, {"atol": 1e-3}, {"rtol": 1e-6}, {"atol": 1e-3, "rtol": 1e-6}):
        expected = sl.pinv(a, **kwargs)
        np.testing.assert_array_equal(kl.pinv(a, **kwargs), expected)
        _close(_traced_value(lambda a: kl.pinv(a, **kwargs), a), expected)  # noqa: B023
    seen = []
    B = kronvec.vjp(lambda a: seen.append(kl.pinv(a, return_rank=True)) or seen[-1][0], a)[0]
    np.testing.assert_array_equal(seen[0][1], sl.pinv(a, return_rank=True)[1])  # traced: the same rank
    _close(B, sl.pinv(a))
    check_derivatives(kl.pinv, (a,), 0, what="pinv")


def test_pinv_return_rank_on_traced_values():
    def f(a):
        B, rank = kl.pinv(a, return_rank=True)
        assert rank == 3
        return B

    check_derivatives(f, (TALL,), 0, what="pinv(return_rank=True)")


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("a", [S, _junk_below(S), _junk_below(S).T, INDEFINITE, np.stack([S, INDEFINITE])],
                         ids=["spd", "junk below", "junk above", "indefinite", "a stack"])
def test_pinvh_values(a, lower):
    for kwargs in ({}, {"atol": 1e-3, "rtol": 1e-6}):
        expected = sl.pinvh(a, lower=lower, **kwargs)
        np.testing.assert_array_equal(kl.pinvh(a, lower=lower, **kwargs), expected)
        _close(_traced_value(lambda a: kl.pinvh(a, lower=lower, **kwargs), a), expected, 1e-11)  # noqa: B023
    np.testing.assert_array_equal(kl.pinvh(a, lower=lower, return_rank=True)[1],
                                  sl.pinvh(a, lower=lower, return_rank=True)[1])
    seen = []
    kronvec.vjp(lambda a: seen.append(kl.pinvh(a, lower=lower, return_rank=True)) or seen[-1][0], a)
    np.testing.assert_array_equal(seen[0][1], sl.pinvh(a, lower=lower, return_rank=True)[1])  # traced: the same rank


@pytest.mark.parametrize("lower", [True, False])
def test_pinvh_derivatives_of_the_triangle_read_and_along_symmetric_directions(lower):
    f = lambda a: kl.pinvh(a, lower=lower)  # noqa: E731
    for a in (_junk_below(S), _junk_below(INDEFINITE).T):  # off symmetric points: of the triangle read
        check_derivatives(f, (a,), 0, what="pinvh")
        g = kronvec.grad(lambda a: np.sum(f(a) ** 2))(a)
        assert np.all((np.triu(g, 1) if lower else np.tril(g, -1)) == 0)  # the other triangle is not read
    for a in (S, INDEFINITE):  # at symmetric points: along symmetric directions (conventions §10)
        np.testing.assert_allclose(kronvec.jacobian(f)(a).toarray(), _symmetric_directions_fd(f, a), rtol=1e-6,
                                   atol=1e-8)
        g = kronvec.grad(lambda a: np.sum(np.sin(f(a))))(a)
        np.testing.assert_allclose(g, g.T, rtol=1e-13, atol=1e-15)


# =============================================================== khatri_rao
@pytest.mark.parametrize("a, b", [(TALL[:2], TALL[2:]), (G, TALL[:1, :1] * np.ones((1, N))),
                                  (np.stack([TALL[:2], TALL[2:4]]), TALL[4:])],
                         ids=["2×3 and 3×3", "4×4 and a row", "a batch against a matrix"])
def test_khatri_rao_values_bit_for_bit_and_derivatives(a, b):
    expected = sl.khatri_rao(a, b)
    np.testing.assert_array_equal(kl.khatri_rao(a, b), expected)
    np.testing.assert_array_equal(kronvec.vjp(lambda a: kl.khatri_rao(a, b), a)[0], expected)
    np.testing.assert_array_equal(kronvec.vjp(lambda b: kl.khatri_rao(a, b), b)[0], expected)
    check_derivatives(kl.khatri_rao, (a, b), 0, what="khatri_rao")
    check_derivatives(kl.khatri_rao, (a, b), 1, what="khatri_rao")


# ==================================================== orthogonal_procrustes
ROTATED = TALL @ np.linalg.qr(RNG.standard_normal((3, 3)))[0] + 0.1 * RNG.standard_normal((5, 3))
ORTHONORMAL = np.linalg.qr(RNG.standard_normal((5, 3)))[0]  # AᵀA = I: a triple singular value


@pytest.mark.parametrize("A, B", [(TALL, ROTATED), (G, G.T), (ORTHONORMAL, ORTHONORMAL)],
                         ids=["tall", "square", "repeated singular values"])
def test_orthogonal_procrustes_values_and_derivatives(A, B):
    R, scale = sl.orthogonal_procrustes(A, B)
    ours = kl.orthogonal_procrustes(A, B)
    np.testing.assert_array_equal(ours[0], R)
    assert ours[1] == scale
    traced = kronvec.vjp(lambda A: np.concatenate([np.ravel(x) for x in kl.orthogonal_procrustes(A, B)]), A)[0]
    _close(traced, np.concatenate([np.ravel(R), [scale]]))
    for argnum in (0, 1):  # (smooth where AᵀB is nonsingular, repeated singular values included: §38)
        check_derivatives(lambda A, B: kl.orthogonal_procrustes(A, B)[0], (A, B), argnum, what="procrustes R")
        check_derivatives(lambda A, B: kl.orthogonal_procrustes(A, B)[1], (A, B), argnum, what="procrustes scale")


def test_orthogonal_procrustes_gradient_of_the_scale_is_r():
    # scale = Σσ(AᵀB) = ⟨R, AᵀB⟩, d scale = ⟨R, dAᵀ B + Aᵀ dB⟩: ∇_B = A R, ∇_A = B Rᵀ
    R = kl.orthogonal_procrustes(TALL, ROTATED)[0]
    gA, gB = kronvec.grad(lambda A, B: kl.orthogonal_procrustes(A, B)[1], argnums=(0, 1))(TALL, ROTATED)
    np.testing.assert_allclose(gB, TALL @ R, rtol=1e-12)
    np.testing.assert_allclose(gA, ROTATED @ R.T, rtol=1e-12)


@pytest.mark.parametrize("A, B", [(np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]]), np.eye(3, 2)), (WIDE, WIDE)],
                         ids=["rank-deficient AᵀB", "wide A (AᵀB has rank ≤ m < n)"])
def test_orthogonal_procrustes_at_a_singular_product_raises_not_nan(A, B):
    np.testing.assert_array_equal(kl.orthogonal_procrustes(A, B)[0], sl.orthogonal_procrustes(A, B)[0])  # values
    for transform in (kronvec.grad(lambda A: np.sum(kl.orthogonal_procrustes(A, B)[0])),
                      kronvec.jacobian(lambda A: kl.orthogonal_procrustes(A, B)[1])):
        with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.orthogonal_procrustes: AᵀB .* singular"):
            transform(A)


def test_orthogonal_procrustes_of_stacks_is_each_members():
    # SciPy 1.17 batches a stack (…, m, n) member by member; kronvec refused it
    A = np.stack([TALL, ROTATED])
    B = np.stack([ROTATED, TALL + 0.5])
    R, scale = sl.orthogonal_procrustes(A, B)
    ours = kl.orthogonal_procrustes(A, B)
    np.testing.assert_array_equal(ours[0], R)
    np.testing.assert_array_equal(ours[1], scale)
    _close(kronvec.vjp(lambda A: kl.orthogonal_procrustes(A, B)[0], A)[0], R)
    _close(kronvec.vjp(lambda A: kl.orthogonal_procrustes(A, B)[1], A)[0], scale)
    for argnum in (0, 1):
        check_derivatives(lambda A, B: kl.orthogonal_procrustes(A, B)[0], (A, B), argnum, what="procrustes R (stack)")
        check_derivatives(lambda A, B: kl.orthogonal_procrustes(A, B)[1], (A, B), argnum, what="procrustes scale (stack)")
    singular = A.copy()
    singular[1, :, 2] = singular[1, :, 1]
    with pytest.raises(np.linalg.LinAlgError, match=r"singular at batch index \[1\]"):
        kronvec.grad(lambda A: np.sum(kl.orthogonal_procrustes(A, B)[0]))(singular)


# ==================================================================== banded
def _band(rows, lower, n=5):
    ab = RNG.standard_normal((rows, n))
    diagonal = 0 if lower else rows - 1
    ab[diagonal] = 4.0 + np.abs(ab[diagonal])  # diagonally dominant: positive definite
    return ab


BANDED = [(rows, lower) for rows in (1, 2, 3) for lower in (False, True)]
BANDED_IDS = [f"{rows} rows, {'lower' if lower else 'upper'}" for rows, lower in BANDED]


@pytest.mark.parametrize("rows, lower", BANDED, ids=BANDED_IDS)
@pytest.mark.parametrize("b", [B5, b5], ids=["2-D b", "1-D b"])
def test_banded_values(rows, lower, b):
    ab = _band(rows, lower)
    cb = sl.cholesky_banded(ab, lower=lower)
    for ours, theirs, f, at in (
            (kl.solveh_banded(ab, b, lower=lower), sl.solveh_banded(ab, b, lower=lower),
             lambda ab: kl.solveh_banded(ab, b, lower=lower), ab),
            (kl.cholesky_banded(ab, lower=lower), cb, lambda ab: kl.cholesky_banded(ab, lower=lower), ab),
            (kl.cho_solve_banded((cb, lower), b), sl.cho_solve_banded((cb, lower), b),
             lambda cb: kl.cho_solve_banded((cb, lower), b), cb)):
        np.testing.assert_array_equal(ours, theirs)
        _close(_traced_value(f, at), theirs)
    # solveh_banded on traced values is LAPACK's pbsv itself, recorded
    np.testing.assert_array_equal(_traced_value(lambda ab: kl.solveh_banded(ab, b, lower=lower), ab),
                                  sl.solveh_banded(ab, b, lower=lower))
    # the unused corners of ab are copied into cb, as LAPACK's pbtrf leaves them: derivative 1
    k, j = np.indices(ab.shape)
    i = j + k if lower else j - (rows - 1) + k  # the factor's row stored at cb[k, j]
    corner = np.ravel((i < 0) | (i >= ab.shape[1]), order="F")
    J = kronvec.jacobian(lambda ab: kl.cholesky_banded(ab, lower=lower))(ab).toarray()
    np.testing.assert_array_equal(J[np.ix_(corner, corner)], np.eye(np.count_nonzero(corner)))
    assert np.all(J[corner][:, ~corner] == 0) and np.all(J[~corner][:, corner] == 0)


@pytest.mark.parametrize("rows, lower", BANDED, ids=BANDED_IDS)
def test_banded_derivatives(rows, lower):
    ab = _band(rows, lower)
    cb = sl.cholesky_banded(ab, lower=lower)
    f = lambda ab, b: kl.solveh_banded(ab, b, lower=lower)  # noqa: E731
    check_derivatives(f, (ab, B5), 0, what="solveh_banded")
    check_derivatives(f, (ab, b5), 1, what="solveh_banded")
    check_derivatives(lambda ab: kl.cholesky_banded(ab, lower=lower), (ab,), 0, what="cholesky_banded")
    g = lambda cb, b: kl.cho_solve_banded((cb, lower), b)  # noqa: E731
    check_derivatives(g, (cb, B5), 0, what="cho_solve_banded")
    check_derivatives(g, (cb, b5), 1, what="cho_solve_banded")
    # through the factorization, the derivative of a(ab)⁻¹b: that of solveh_banded
    J = kronvec.jacobian(lambda ab: kl.cho_solve_banded((kl.cholesky_banded(ab, lower=lower), lower), B5))(ab)
    np.testing.assert_allclose(J.toarray(), kronvec.jacobian(lambda ab: f(ab, B5))(ab).toarray(), rtol=1e-10,
                               atol=1e-12)


def test_banded_corners_carry_no_derivative_into_the_solution():
    ab = _band(3, False)
    g = kronvec.grad(lambda ab: np.sum(kl.solveh_banded(ab, b5) ** 2))(ab)
    assert g[0, 0] == g[0, 1] == g[1, 0] == 0.0  # ab[u + i − j, j] with i < 0: outside the matrix
    assert np.all(g[:, 2:] != 0)


# =================================================== Toeplitz and circulant
C = np.array([4.0, 1.0, -0.5, 0.3, 0.2])
R = np.array([9.0, 0.7, 0.4, -0.6, 0.1])  # (r[0] ignored)


@pytest.mark.parametrize("c_or_cr", [C, (C, R)], ids=["c (symmetric)", "(c, r)"])
@pytest.mark.parametrize("b", [b5, B5, RNG.standard_normal((2, 5, 2))], ids=["1-D b", "2-D b", "a batch of b"])
def test_solve_toeplitz_values_and_derivatives(c_or_cr, b):
    expected = sl.solve_toeplitz(c_or_cr, b)
    np.testing.assert_array_equal(kl.solve_toeplitz(c_or_cr, b), expected)
    if isinstance(c_or_cr, tuple):
        f = lambda c, r, b: kl.solve_toeplitz((c, r), b)  # noqa: E731
        args = (C, R, b)
    else:
        f = lambda c, b: kl.solve_toeplitz(c, b)  # noqa: E731
        args = (C, b)
    if np.ndim(b) <= 2:  # SciPy's Levinson recursion, recorded: its values bit for bit
        np.testing.assert_array_equal(_traced_value(f, *args), expected)
    else:  # a batch: the matrix, solved by LU (to rounding)
        _close(_traced_value(f, *args), expected)
    for argnum in range(len(args)):
        check_derivatives(f, args, argnum, what="solve_toeplitz")


@pytest.mark.parametrize("b", [b5, B5, RNG.standard_normal((5, 2, 2))], ids=["1-D b", "2-D b", "b (n, 2, 2)"])
def test_solve_circulant_values_and_derivatives(b):
    expected = sl.solve_circulant(C, b)
    np.testing.assert_array_equal(kl.solve_circulant(C, b), expected)
    if np.ndim(b) <= 2:  # SciPy's FFT solution, recorded: its values bit for bit
        np.testing.assert_array_equal(_traced_value(kl.solve_circulant, C, b), expected)
    else:  # (n, 2, 2): the matrix, solved by LU (to rounding)
        _close(_traced_value(kl.solve_circulant, C, b), expected)
    check_derivatives(kl.solve_circulant, (C, b), 0, what="solve_circulant")
    check_derivatives(kl.solve_circulant, (C, b), 1, what="solve_circulant")


def test_solve_circulant_takes_every_option_on_plain_arrays_and_refuses_them_by_name_on_traced_ones():
    c = np.array([1.0, 1.0, 0.0, 0.0])  # fft(c) has a zero: singular
    np.testing.assert_array_equal(kl.solve_circulant(c, np.ones(4), singular="lstsq"),
                                  sl.solve_circulant(c, np.ones(4), singular="lstsq"))
    for name, value in (("singular", "lstsq"), ("tol", 1e-8), ("caxis", 0), ("baxis", -1), ("outaxis", -1)):
        with pytest.raises(TypeError, match=rf"kronvec\.scipy\.linalg\.solve_circulant supports {name}="):
            kronvec.grad(lambda c: np.sum(kl.solve_circulant(c, np.ones(5), **{name: value})))(C)  # noqa: B023


def test_structured_solves_at_scale_form_no_dense_n2_by_n2_matrix():
    # n = 300: an n²×n² matrix would hold 8·10⁹ entries; the Jacobians in c and in ab are
    # products of a 0/1 selection and −(xᵀ ⊗ T⁻¹), applied to a vector as a jvp
    n = 300
    generator = np.random.default_rng(3)
    c = generator.standard_normal(n) / n
    c[0] = 3.0
    b = generator.standard_normal(n)
    ab = np.vstack([generator.standard_normal((2, n)) / 4.0, np.full((1, n), 3.0)])
    for f, x in ((lambda c: kl.solve_toeplitz((c, c[::-1]), b), c), (lambda c: kl.solve_circulant(c, b), c),
                 (lambda ab: kl.solveh_banded(ab, b), ab), (kl.cholesky_banded, ab)):
        tracemalloc.start()
        J = kronvec.jacobian(f)(x)
        v = generator.standard_normal(x.shape)
        product = J.matvec(np.ravel(v, order="F"))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 40 * n * n * 8, peak  # O(n²): a few n×n matrices
        _, tangent = kronvec.jvp(f, (x,), (v,))
        np.testing.assert_allclose(product, np.ravel(tangent, order="F"), rtol=1e-10, atol=1e-12)


def test_plain_batches_are_scipys_own():
    # SciPy 1.17 batches these; on plain arrays kronvec's function is SciPy's, batches included
    ab = np.stack([_band(2, False), _band(2, False)])
    for ours, theirs in ((kl.solveh_banded(ab, b5), sl.solveh_banded(ab, b5)),
                         (kl.cholesky_banded(ab), sl.cholesky_banded(ab)),
                         (kl.lstsq(np.stack([TALL, 2.0 * TALL]), b5)[0], sl.lstsq(np.stack([TALL, 2.0 * TALL]), b5)[0]),
                         (kl.solve_toeplitz(np.stack([C, 2.0 * C]), b5),
                          sl.solve_toeplitz(np.stack([C, 2.0 * C]), b5))):
        np.testing.assert_array_equal(ours, theirs)


def test_lstsq_of_a_matrix_without_columns_has_residues_norm_b_squared():
    value, gradient = kronvec.value_and_grad(lambda b: np.sum(kl.lstsq(np.zeros((5, 0)), b)[1]))(b5)
    assert value == pytest.approx(np.sum(b5 ** 2), rel=1e-14)
    np.testing.assert_allclose(gradient, 2.0 * b5, rtol=1e-14)


# ==================================================================== errors
@pytest.mark.parametrize("function, a", [
    (lambda a: kl.lstsq(a, np.ones(3))[0], np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])),
    (kl.pinv, np.array([[1.0, 2.0], [2.0, 4.0], [0.0, 0.0]])),
    (kl.pinv, np.stack([np.eye(2), np.ones((2, 2))])),
    (kl.pinvh, np.ones((2, 2))),
    (lambda a: kl.pinv(a, atol=10.0), np.diag([20.0, 5.0])),
], ids=["lstsq", "pinv", "pinv stack", "pinvh", "pinv atol"])
def test_rank_deficient_traced_input_is_a_linalgerror_naming_the_function(function, a):
    with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.(lstsq|pinv|pinvh): .*rank"):
        kronvec.grad(lambda a: np.sum(function(a)))(a)
    function(a)  # (plain: SciPy's values, at any rank)


def test_not_positive_definite_and_singular_inputs_name_the_function():
    not_pd = np.array([[0.0, 3.0], [1.0, 1.0]])  # a = [[1, 3], [3, 1]]
    for traced in (False, True):
        for name, call in (("solveh_banded", lambda ab: kl.solveh_banded(ab, np.ones(2))),
                           ("cholesky_banded", kl.cholesky_banded)):
            with pytest.raises(np.linalg.LinAlgError, match=rf"scipy\.linalg\.{name}: .*not positive definite"):
                kronvec.grad(lambda ab: np.sum(call(ab)))(not_pd) if traced else call(not_pd)  # noqa: B023
        with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.solve_toeplitz: Singular principal minor"):
            f = lambda c: kl.solve_toeplitz(c, np.ones(2))  # noqa: E731  (T nonsingular, T₁₁ = 0: Levinson fails)
            kronvec.grad(lambda c: np.sum(f(c)))(np.array([0.0, 1.0])) if traced else f(np.array([0.0, 1.0]))
        with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.solve_circulant: near singular"):
            f = lambda c: kl.solve_circulant(c, np.ones(2))  # noqa: E731
            kronvec.grad(lambda c: np.sum(f(c)))(np.ones(2)) if traced else f(np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.cho_solve_banded: .*singular"):
        kronvec.grad(lambda cb: np.sum(kl.cho_solve_banded((cb, False), np.ones(2))))(np.array([[0.0, 3.0],
                                                                                               [1.0, 0.0]]))


@pytest.mark.parametrize("call, match", [
    (lambda: kl.lstsq(np.ones((3, 2)), np.ones(2)), r"lstsq: Shape mismatch"),
    (lambda: kl.khatri_rao(np.ones((2, 3)), np.ones((2, 2))), r"khatri_rao: The number of columns"),
    (lambda: kl.khatri_rao(np.ones(3), np.ones((2, 3))), r"khatri_rao: The both arrays should be 2-dimensional"),
    (lambda: kl.orthogonal_procrustes(np.ones((3, 2)), np.ones((2, 2))), r"orthogonal_procrustes: the shapes"),
    (lambda: kl.orthogonal_procrustes(np.ones(3), np.ones(3)), r"orthogonal_procrustes: expected ndim to be 2"),
    (lambda: kl.solveh_banded(np.ones((2, 3)), np.ones(2)), r"solveh_banded: shapes of ab and b"),
    (lambda: kl.cho_solve_banded((np.ones((2, 3)), False), np.ones(2)), r"cho_solve_banded: shapes of cb and b"),
    (lambda: kl.solve_toeplitz((np.ones(3), np.ones(2)), np.ones(3)), r"solve_toeplitz: Incompatible dimensions"),
    (lambda: kl.solve_toeplitz(np.ones(3), np.ones(2)), r"solve_toeplitz: Incompatible dimensions"),
    (lambda: kl.solve_circulant(np.ones(3), np.ones(2)), r"solve_circulant: Shapes of c"),
    (lambda: kl.pinv(np.eye(2), atol=-1.0), r"pinv: atol and rtol values must be positive"),
    (lambda: kl.pinvh(np.ones((2, 3))), r"pinvh: expected a square matrix"),
    (lambda: kl.lstsq(np.eye(2), np.ones(2), lapack_driver="gelsx"), r'lstsq: LAPACK driver "gelsx" is not found'),
    (lambda: kl.lstsq(np.array([[1.0, np.nan]]), np.ones(1)), r"lstsq: array must not contain infs or NaNs"),
], ids=["lstsq b", "khatri_rao columns", "khatri_rao 1-D", "procrustes shapes", "procrustes 1-D", "solveh_banded b",
        "cho_solve_banded b", "solve_toeplitz r", "solve_toeplitz b", "solve_circulant b", "pinv atol", "pinvh square",
        "lstsq driver", "non-finite"])
def test_bad_input_is_a_value_error_naming_the_function(call, match):
    with pytest.raises(ValueError, match=rf"^scipy\.linalg\.{match}"):
        call()


@pytest.mark.parametrize("call, match", [
    (lambda x: kl.lstsq(np.eye(2), np.ones(2), cond=x[0]), r"lstsq with respect to its argument cond"),
    (lambda x: kl.pinv(np.eye(2) + x, atol=x[0, 0]), r"pinv with respect to its argument atol"),
    (lambda x: kl.solve_toeplitz(np.stack([x[0], x[0]]), np.ones(2)), r"solve_toeplitz does not support batches"),
    (lambda x: kl.lstsq(np.stack([np.eye(2) + x] * 2), np.ones(2)), r"lstsq does not support stacks"),
], ids=["lstsq cond", "pinv atol", "solve_toeplitz batch", "lstsq stack"])
def test_unsupported_arguments_are_type_errors_naming_them(call, match):
    with pytest.raises(TypeError, match=match):
        kronvec.grad(lambda x: np.sum(call(x)[0]))(np.full((2, 2), 0.1))


def test_complex_input_is_a_type_error_naming_the_function():
    for name, call in (("pinv", lambda: kl.pinv(np.eye(2) * 1j)),
                       ("lstsq", lambda: kl.lstsq(np.eye(2), 1j * np.ones(2))),
                       ("solve_toeplitz", lambda: kl.solve_toeplitz(1j * np.ones(2), np.ones(2)))):
        with pytest.raises(TypeError, match=rf"^scipy\.linalg\.{name}: complex"):
            call()


# ========================================================== interception
@pytest.mark.parametrize("name, call", [
    ("norm", lambda x: sl.norm(x)),
    ("lstsq", lambda x: sl.lstsq(x, np.ones(2))[0]),
    ("pinv", lambda x: sl.pinv(x)),
    ("pinvh", lambda x: sl.pinvh(x)),
    ("khatri_rao", lambda x: sl.khatri_rao(x, x)),
    ("orthogonal_procrustes", lambda x: sl.orthogonal_procrustes(x, x)[0]),
    ("solveh_banded", lambda x: sl.solveh_banded(x, np.ones(2))),
    ("cholesky_banded", lambda x: sl.cholesky_banded(x)),
    ("cho_solve_banded", lambda x: sl.cho_solve_banded((x, False), np.ones(2))),
    ("solve_toeplitz", lambda x: sl.solve_toeplitz(x[0], np.ones(2))),
    ("solve_circulant", lambda x: sl.solve_circulant(x[0], np.ones(2))),  # (it meets np.fft.fft first)
], ids=lambda v: v if isinstance(v, str) else "")
def test_a_real_scipy_linalg_function_on_a_traced_value_names_its_counterpart(name, call):
    check_counterpart_named(name, call)


def test_the_namespace_lists_every_function():
    names = {"norm", "lstsq", "pinv", "pinvh", "orthogonal_procrustes", "khatri_rao", "solveh_banded",
             "cholesky_banded", "cho_solve_banded", "solve_toeplitz", "solve_circulant"}
    assert set(kl.__all__) >= names
    for name in names:
        assert callable(getattr(kl, name))
        assert getattr(kl, name).__doc__ and "Examples" in getattr(kl, name).__doc__
