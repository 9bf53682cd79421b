"""kronvec.scipy.linalg's solves and polar decomposition on stacks (…, n, n), as SciPy 1.17
batches them: ``solve`` (every ``assume_a``), ``solve_triangular``, ``cho_factor`` +
``cho_solve``, ``inv`` (every ``assume_a``) and ``polar``.

Values against SciPy's batched results; gradients against central differences (along
symmetric directions where SciPy reads one triangle of a symmetric matrix); the entries a
triangular solve never reads have derivative 0; Jacobians are structured and agree with
their dense form; a member's value is the 2-D result; errors name the members.
"""

import itertools

import numpy as np
import pytest
import scipy.linalg as sl

import kronvec
import kronvec.scipy.linalg as kl
from kronvec.operators import StructuredOperator

RNG = np.random.default_rng(41)
K, N = 3, 4
A = RNG.standard_normal((K, N, N)) + 2.0 * np.sqrt(N) * np.eye(N)  # general, well conditioned
SPD = A @ np.swapaxes(A, -1, -2) / N + np.eye(N)
RIGHT_HAND_SIDES = {
    "vector for every member": (N,),
    "matrix for every member": (N, 2),
    "stack": (K, N, 2),
    "broadcast batch": (2, K, N, 2),
    "batch of one": (1, N, 2),
}
SYMMETRIC_READS = ("pos", "sym")


def _directional_error(f, X, symmetric=False):
    """|⟨∇f, E⟩ − central difference along E| (relative), E random (symmetric per member
    where the function reads one triangle)."""
    E = RNG.standard_normal(X.shape)
    if symmetric:
        E = (E + np.swapaxes(E, -1, -2)) / 2
    g = kronvec.grad(f)(X.copy())
    h = 1e-6
    difference = (f(X + h * E) - f(X - h * E)) / (2 * h)
    return abs(np.sum(g * E) - difference) / max(1.0, abs(difference))


@pytest.mark.parametrize("b_shape", RIGHT_HAND_SIDES.values(), ids=RIGHT_HAND_SIDES.keys())
@pytest.mark.parametrize("trans, lower, unit_diagonal", list(itertools.product([0, 1], [False, True], [False, True])))
def test_solve_triangular_on_stacks(b_shape, trans, lower, unit_diagonal):
    b = RNG.standard_normal(b_shape)
    options = dict(trans=trans, lower=lower, unit_diagonal=unit_diagonal)
    want = sl.solve_triangular(A, b, **options)
    got = kl.solve_triangular(A, b, **options)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    W = RNG.standard_normal(want.shape)
    assert _directional_error(lambda X: np.sum(W * kl.solve_triangular(X, b, **options)), A) < 1e-7
    assert _directional_error(lambda B: np.sum(W * kl.solve_triangular(A, B, **options)), b) < 1e-7
    # SciPy never reads the other triangle (nor the diagonal when unit_diagonal): derivative 0 there
    gradient = kronvec.grad(lambda X: np.sum(W * kl.solve_triangular(X, b, **options)))(A.copy())
    read = np.tri(N, k=-1 if unit_diagonal else 0)
    read = read if lower else read.T
    assert np.all(gradient[..., read == 0] == 0.0)
    assert np.any(gradient[..., read == 1] != 0.0)


@pytest.mark.parametrize("b_shape", RIGHT_HAND_SIDES.values(), ids=RIGHT_HAND_SIDES.keys())
@pytest.mark.parametrize("lower", [False, True])
def test_cho_factor_and_cho_solve_on_stacks(b_shape, lower):
    b = RNG.standard_normal(b_shape)
    c, flag = kl.cho_factor(SPD, lower=lower)
    c_scipy, flag_scipy = sl.cho_factor(SPD, lower=lower)
    triangle = np.tril if lower else np.triu
    np.testing.assert_allclose(c, triangle(c_scipy), rtol=1e-13, atol=1e-14)  # (zeros in the other triangle)
    np.testing.assert_array_equal(flag, flag_scipy)  # SciPy: `lower` for every member
    want = sl.cho_solve((c_scipy, flag_scipy), b)
    got = kl.cho_solve((c, flag), b)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    W = RNG.standard_normal(want.shape)
    assert _directional_error(lambda X: np.sum(W * kl.cho_solve(kl.cho_factor(X, lower=lower), b)), SPD,
                              symmetric=True) < 1e-6
    assert _directional_error(lambda B: np.sum(W * kl.cho_solve((c, flag), B)), b) < 1e-7


@pytest.mark.parametrize("b_shape", RIGHT_HAND_SIDES.values(), ids=RIGHT_HAND_SIDES.keys())
@pytest.mark.parametrize("assume_a, transposed", [
    (structure, transposed)
    for structure in (None, "gen", "diagonal", "tridiagonal", "upper triangular", "lower triangular", "pos", "sym")
    for transposed in ((False,) if structure in SYMMETRIC_READS else (False, True))  # (aᵀ = a: moot)
])
def test_solve_on_stacks(b_shape, assume_a, transposed):
    a = SPD if assume_a in SYMMETRIC_READS else A
    b = RNG.standard_normal(b_shape)
    options = dict(assume_a=assume_a, transposed=transposed)
    want = sl.solve(a, b, **options)
    got = kl.solve(a, b, **options)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)
    W = RNG.standard_normal(want.shape)
    symmetric = assume_a in SYMMETRIC_READS
    assert _directional_error(lambda X: np.sum(W * kl.solve(X, b, **options)), a, symmetric) < 1e-6


@pytest.mark.parametrize("assume_a", [None, "gen", "diagonal", "upper triangular", "lower triangular", "pos", "sym"])
def test_inv_on_stacks(assume_a):
    # (a diagonal matrix for 'diagonal': SciPy 1.17's inv then reads the whole matrix anyway)
    a = SPD if assume_a in SYMMETRIC_READS else (A * np.eye(N) if assume_a == "diagonal" else A)
    np.testing.assert_allclose(kl.inv(a, assume_a=assume_a), sl.inv(a, assume_a=assume_a), rtol=1e-11, atol=1e-13)
    W = RNG.standard_normal(a.shape)
    assert _directional_error(lambda X: np.sum(W * kl.inv(X, assume_a=assume_a)), a,
                              assume_a in SYMMETRIC_READS) < 1e-6


def test_a_member_is_the_two_dimensional_solve():
    b = RNG.standard_normal((K, N, 2))
    for k in range(K):
        np.testing.assert_allclose(kl.solve_triangular(A, b, lower=True)[k], kl.solve_triangular(A[k], b[k], lower=True),
                                   rtol=1e-13)
        np.testing.assert_array_equal(kl.solve(A, b)[k], kl.solve(A[k], b[k]))


B_STACK = RNG.standard_normal((K, N, 2))
JACOBIAN_CASES = {
    "solve_triangular": (lambda X: kl.solve_triangular(X, B_STACK, lower=True), False),
    "cho_solve(cho_factor)": (lambda X: kl.cho_solve(kl.cho_factor(X), B_STACK), True),
    "solve, tridiagonal": (lambda X: kl.solve(X, B_STACK, assume_a="tridiagonal"), False),
}


@pytest.mark.parametrize("f, symmetric", JACOBIAN_CASES.values(), ids=JACOBIAN_CASES.keys())
def test_stacked_solve_jacobians_are_structured_and_match_their_dense_form(f, symmetric):
    X = SPD.copy()
    J = kronvec.jacobian(f)(X)
    assert isinstance(J, StructuredOperator)
    dense = J.toarray()
    for _ in range(3):
        E = RNG.standard_normal(X.shape)
        if symmetric:  # cho_factor reads one triangle: its derivative is along symmetric directions
            E = (E + np.swapaxes(E, -1, -2)) / 2
        e = kronvec.vec(E)
        difference = (f(X + 1e-6 * E) - f(X - 1e-6 * E)) / 2e-6
        np.testing.assert_allclose(J.matvec(e), kronvec.vec(difference), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dense @ e, J.matvec(e), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("shape, side", [((K, N, N), "right"), ((2, K, 5, 3), "right"), ((K, 3, 5), "left")])
def test_polar_on_stacks(shape, side):
    a = RNG.standard_normal(shape)
    u, p = kl.polar(a, side=side)
    u_scipy, p_scipy = sl.polar(a, side=side)
    np.testing.assert_allclose(u, u_scipy, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(p, p_scipy, rtol=1e-10, atol=1e-12)
    first = (0,) * (len(shape) - 2)
    u_first, p_first = kl.polar(a[first], side=side)
    np.testing.assert_array_equal(u[first], u_first)  # a member is the 2-D decomposition
    np.testing.assert_array_equal(p[first], p_first)
    W1, W2 = RNG.standard_normal(u.shape), RNG.standard_normal(p.shape)
    assert _directional_error(lambda X: np.sum(W1 * kl.polar(X, side=side)[0])
                              + np.sum(W2 * kl.polar(X, side=side)[1]), a) < 1e-6


def test_stack_errors_name_the_members():
    singular = A.copy()
    singular[1] = np.triu(singular[1])
    singular[1, 2, 2] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"scipy\.linalg\.solve_triangular.*batch index"):
        kl.solve_triangular(singular, np.ones(N))
    diagonal = A * np.eye(N)
    diagonal[2, 1, 1] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"batch index \(2,\)|batch index 2"):
        kl.solve(diagonal, np.ones(N), assume_a="diagonal")
    deficient = RNG.standard_normal((K, N, N))
    deficient[1, :, 0] = deficient[1, :, 1]
    with pytest.raises(np.linalg.LinAlgError, match=r"polar: .*rank-deficient.*batch index"):
        kronvec.grad(lambda x: np.sum(kl.polar(x)[0]))(deficient)  # (a plain stack: SciPy's values)
    with pytest.raises(ValueError, match=r"shapes of a \(3, 4, 4\) and b \(5, 4, 2\).*broadcasting rule"):
        kl.solve(A, np.ones((5, N, 2)))
    with pytest.raises(ValueError, match=r"shapes of a \(3, 4, 4\) and b \(3, 4\)"):
        kl.solve_triangular(A, np.ones((K, N)))
    nan = SPD.copy()
    nan[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match="batch index"):
        kl.cho_factor(nan)


def test_lu_factor_and_lu_on_stacks_are_scipys():
    a = RNG.standard_normal((2, K, N, N))
    a[0, 0] = [[0.1, 2.0, 0.3, 1.0], [3.0, 0.2, 1.0, 0.0], [1.0, 1.0, 4.0, 2.0], [0.0, 1.0, 0.0, 1.0]]  # pivots
    packed, piv = kl.lu_factor(a)
    packed_scipy, piv_scipy = sl.lu_factor(a)
    np.testing.assert_array_equal(packed, packed_scipy)  # SciPy's batched getrf itself
    np.testing.assert_array_equal(piv, piv_scipy)
    for options in ({}, {"permute_l": True}, {"p_indices": True}):
        for got, want in zip(kl.lu(a, **options), sl.lu(a, **options), strict=True):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    W = RNG.standard_normal(a.shape)
    assert _directional_error(lambda X: np.sum(W * kl.lu_factor(X)[0]), a) < 1e-6
    assert _directional_error(lambda X: np.sum(W * kl.lu(X)[1]) + np.sum(W * kl.lu(X)[2]), a) < 1e-6


@pytest.mark.parametrize("b_shape", RIGHT_HAND_SIDES.values(), ids=RIGHT_HAND_SIDES.keys())
@pytest.mark.parametrize("trans", [0, 1])
def test_lu_solve_on_stacks(b_shape, trans):
    b = RNG.standard_normal(b_shape)
    want = sl.lu_solve(sl.lu_factor(A), b, trans=trans)
    got = kl.lu_solve(kl.lu_factor(A), b, trans=trans)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    W = RNG.standard_normal(want.shape)
    assert _directional_error(lambda X: np.sum(W * kl.lu_solve(kl.lu_factor(X), b, trans=trans)), A) < 1e-6
    factors = kl.lu_factor(A)
    assert _directional_error(lambda B: np.sum(W * kl.lu_solve(factors, B, trans=trans)), b) < 1e-7
    with pytest.raises(ValueError, match="piv must be"):
        kl.lu_solve((factors[0], factors[1][:2]), b)


def test_funm_symmetric_on_stacks():
    softplus, sigmoid = (lambda x: np.logaddexp(0.0, x)), (lambda x: 1.0 / (1.0 + np.exp(-x)))
    S = SPD.copy()
    S[1] = np.diag([1.0, 1.0, 2.0, 3.0])  # a repeated eigenvalue: the first derivative is exact there
    F = kl.funm_symmetric(S, softplus, sigmoid)
    for k in range(K):
        np.testing.assert_allclose(F[k], kl.funm_symmetric(S[k], softplus, sigmoid), rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(kl.funm_symmetric(S[:1], softplus, sigmoid)[0],
                                  kl.funm_symmetric(S[0], softplus, sigmoid))  # a stack of one: the 2-D value
    W = RNG.standard_normal(S.shape)
    f = lambda X: np.sum(W * kl.funm_symmetric(X, softplus, sigmoid))  # noqa: E731
    assert _directional_error(f, S, symmetric=True) < 1e-6
    gradient = kronvec.grad(f)(S)
    np.testing.assert_allclose(gradient, np.swapaxes(gradient, -1, -2), rtol=1e-14, atol=1e-15)
    J = kronvec.jacobian(lambda X: kl.funm_symmetric(X, softplus, sigmoid))(S)
    assert isinstance(J, StructuredOperator)
    E = RNG.standard_normal(S.shape)
    E = (E + np.swapaxes(E, -1, -2)) / 2
    np.testing.assert_allclose(J.matvec(kronvec.vec(E)), kronvec.vec((
        kl.funm_symmetric(S + 1e-6 * E, softplus, sigmoid) - kl.funm_symmetric(S - 1e-6 * E, softplus, sigmoid))
        / 2e-6), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(J.toarray() @ kronvec.vec(E), J.matvec(kronvec.vec(E)), rtol=1e-12, atol=1e-13)


def test_a_constant_changed_in_place_inside_f_is_factored_again():
    # (a plain array of f's own is not the call's: remembering its LU by identity gave the
    # pivots of its old values after f swapped its rows in place)
    M = np.array([[4.0, 1.0], [2.0, 3.0]])
    seen = []

    def f(X):
        B = M.copy()
        first = kl.lu_factor(B)[1], kl.lu(B, p_indices=True)[0]
        B[:] = B[::-1]
        seen.append((first, (kl.lu_factor(B)[1], kl.lu(B, p_indices=True)[0])))
        return np.sum(X * B)

    kronvec.grad(f)(np.eye(2))
    (first, second), = seen
    np.testing.assert_array_equal(first[0], sl.lu_factor(M)[1])
    np.testing.assert_array_equal(second[0], sl.lu_factor(M[::-1])[1])
    np.testing.assert_array_equal(second[1], sl.lu(M[::-1], p_indices=True)[0])


# ------------------------------------------------ found by an adversarial sweep (stop 36)
@pytest.mark.parametrize("f, x", [
    (lambda b: np.linalg.solve(np.eye(3)[None] * 3.0 + 0.1, b), np.ones(3)),  # blockdiag(I₁ ⊗ A⁻¹)
    (lambda b: kl.solve(np.eye(3)[None] * 3.0 + 0.1, b, assume_a="pos"), np.ones(3)),
    (lambda x: np.linalg.qr(x)[0], np.random.default_rng(1).random((2, 3, 1))),
], ids=["np.linalg.solve 1-D b", "scipy solve pos", "qr of n×1 members"])
def test_sparse_jacobians_with_a_1x1_identity_factor(f, x):
    # BatchedKron keeps an identity factor as its order; of order 1 its pattern is full and
    # the full CSR path transposed the int (found by an adversarial sweep)
    J = kronvec.jacobian(f)(x)
    # (a product of operators: its sparse and dense forms sum the same products in other orders)
    np.testing.assert_allclose(J.tosparse().toarray(), J.toarray(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(J.T.tosparse().toarray(), J.toarray().T, rtol=1e-14, atol=1e-15)


def test_a_stack_pullback_where_the_transposed_lu_meets_a_zero_pivot_agrees_with_the_matrix_rule():
    # LAPACK's LU of Aᵀ meets an exact zero pivot where that of A does not: the stack's VJP
    # raised NumPy's bare "Singular matrix"; it now applies the inverse as the 2-D rule does
    A = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0 + 1e-15], [1.0, 0.0, 1.0]])
    with pytest.warns(kronvec.IllConditionedWarning):
        stacked = kronvec.grad(lambda x: np.sum(np.linalg.solve(x, np.ones((1, 3, 1)))))(A[None])
    with pytest.warns(kronvec.IllConditionedWarning):
        matrix = kronvec.grad(lambda x: np.sum(np.linalg.solve(x, np.ones((3, 1)))))(A)
    np.testing.assert_allclose(stacked[0], matrix, rtol=1e-12)


@pytest.mark.parametrize("stack", [False, True])
def test_a_positive_definite_solve_factors_in_the_common_precision_as_scipy(stack):
    # a float32 a with a float64 b: SciPy factors in float64 (kronvec factored in float32, 3e-8 off)
    P = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]], dtype=np.float32)
    b = np.array([[1.0], [2.0], [3.0]])
    if stack:
        P, b = np.stack([P, P + np.eye(3, dtype=np.float32)]), np.stack([b, -b])
    expected = sl.solve(P, b, assume_a="pos")
    np.testing.assert_allclose(kronvec.vjp(lambda P: kl.solve(P, b, assume_a="pos"), P)[0], expected,
                               rtol=1e-14, atol=1e-15)
    assert kronvec.grad(lambda P: np.sum(kl.solve(P, b, assume_a="pos")))(P).dtype == np.float32


@pytest.mark.parametrize("f, g", [
    (kl.det, sl.det), (kl.logm, sl.logm),
    (lambda A: kl.fractional_matrix_power(A, 0.3), lambda A: sl.fractional_matrix_power(A, 0.3)),
], ids=["det", "logm", "fractional_matrix_power"])
def test_functions_scipy_returns_in_float64_for_float32_input(f, g):
    # SciPy computes these in float32 and returns float64; kronvec's value is float64 too, its
    # digits float32's (another algorithm: a few float32 ulps from SciPy's), its gradient float32
    P = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]], dtype=np.float32)
    with np.errstate(all="ignore"):
        expected = g(P)
    value = kronvec.vjp(f, P)[0]
    assert value.dtype == expected.dtype == np.float64
    np.testing.assert_allclose(value, expected, rtol=8 * np.finfo(np.float32).eps, atol=8 * np.finfo(np.float32).eps)
    assert kronvec.grad(lambda A: np.sum(f(A)))(P).dtype == np.float32
