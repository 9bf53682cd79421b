"""Every registered derivative rule against central finite differences.

The registry (``kronvec.rules.REGISTRY``) is iterated, so a new rule is
tested here with no edit.  Each Jacobian is densified and compared with
``central_difference_jacobian`` of the rule's own primal function w.r.t.
``args[rule.argnum]``, in numerator layout with column-major vec.

Finite-difference tolerance (``FD_RTOL``/``FD_ATOL``): a central difference
with step h has truncation error O(h²)·|F'''| and rounding error
O(eps·|F|/h).  With h = 1e-6·max(1, |x|), eps = 2.2e-16 and the
well-conditioned O(1) sample inputs (|F'''| ≲ 1e2 for the inverse-type rules
at n ≤ 4), both terms stay below ~1e-9, so 1e-6 relative to the largest
Jacobian entry leaves a margin of ≥ 100× while a wrong formula (a missing
transpose or swapped Kronecker factors) is off by O(1).
"""

from __future__ import annotations

import numpy as np
import pytest

from kronvec import (
    Commutation,
    Dense,
    Identity,
    Kron,
    Product,
    RowVector,
    Sum,
    config,
    rules,
)
from kronvec._vec import vec
from kronvec.rules import REGISTRY

from _helpers import (
    assert_unchanged,
    central_difference_jacobian,
    cofactor_matrix,
    dense_of,
    dot_test,
)

FD_RTOL = 1e-6
FD_ATOL = 1e-6
SIZES = [1, 2, 3, 4]
RULE_NAMES = sorted(REGISTRY)
SEED = 314159


def _sample(rule, n, seed=SEED):
    """The rule's own sample at size n, or skip if the sampler cannot make it."""
    try:
        args = rule.sample(np.random.default_rng(seed + n), n)
    except (ValueError, np.linalg.LinAlgError) as error:
        pytest.skip(f"{rule.name}: sampler cannot make size {n}: {error}")
    return tuple(np.asarray(a) for a in args)


def _fd_close(J, J_fd):
    scale = max(1.0, float(np.abs(J_fd).max(initial=0.0)))
    np.testing.assert_allclose(J, J_fd, rtol=FD_RTOL, atol=FD_ATOL * scale)


def _output_size(rule, args):
    return np.size(rule.primal(*args))


# --------------------------------------------------------------------------
# the registry itself
# --------------------------------------------------------------------------


def test_registry_lists_the_documented_rules():
    expected = {"inv", "det", "logdet", "trace", "trace_product", "transpose",
                "matmul_wrt_left", "matmul_wrt_right", "sandwich", "solve_wrt_a",
                "solve_wrt_b", "kron_wrt_left", "kron_wrt_right", "hadamard_wrt_left",
                "hadamard_wrt_right", "exp", "log", "sqrt", "tanh", "square"}
    assert expected <= set(REGISTRY)
    for name, rule in REGISTRY.items():
        assert rule.name == name and getattr(rules, name) is rule.jacobian
        assert rule.formula and rule.reference
        assert callable(rule.primal) and callable(rule.sample)


# --------------------------------------------------------------------------
# finite differences and adjoints, every rule
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_matches_central_differences(name, n):
    rule = REGISTRY[name]
    args = _sample(rule, n)
    X = args[rule.argnum]
    J = rule.jacobian(*args)
    assert J.shape == (_output_size(rule, args), X.size)
    J_fd = central_difference_jacobian(rule.primal, args, rule.argnum)
    _fd_close(J.toarray(), J_fd)
    # structured results commute with densification: matmat, tosparse, toarray agree
    np.testing.assert_allclose(dense_of(J), J.toarray(), rtol=1e-12, atol=1e-12 * max(1.0, np.abs(J_fd).max()))
    np.testing.assert_allclose(J.tosparse().toarray(), J.toarray(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_dot_test(name, rng):
    rule = REGISTRY[name]
    for n in (1, 3):
        J = rule.jacobian(*_sample(rule, n))
        dot_test(J, rng)
        dot_test(J.T, rng)


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_jacobian_is_structured_not_dense(name):
    J = REGISTRY[name].jacobian(*_sample(REGISTRY[name], 3))
    assert not isinstance(J, Dense), f"{name} returned a dense Jacobian: {J!r}"


# --------------------------------------------------------------------------
# input handling, every rule
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_rejects_non_finite_input(name, bad):
    rule = REGISTRY[name]
    args = _sample(rule, 2)
    for i in range(len(args)):
        poisoned = [np.array(a, dtype=np.float64) for a in args]
        poisoned[i].flat[-1] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            rule.jacobian(*poisoned)


def test_finite_check_can_be_switched_off():
    X = np.array([[1.0, np.nan]])
    with config.override(check_finite=False):
        J = rules.square(X)  # no check: the NaN simply propagates
        assert np.isnan(J.toarray()[1, 1])
    with pytest.raises(ValueError, match="NaN or inf"):
        rules.square(X)


_FLOAT32_BUGS = {}  # every float32 leak found so far is fixed; add new ones here as xfails


def _float32_param(name):
    if name in _FLOAT32_BUGS:
        return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="bug: " + _FLOAT32_BUGS[name]))
    return name


@pytest.mark.parametrize("name", [_float32_param(n) for n in RULE_NAMES])
def test_rule_float32_input_gives_float32_jacobian(name, rng):
    rule = REGISTRY[name]
    args64 = _sample(rule, 3)
    args32 = tuple(a.astype(np.float32) for a in args64)
    J32 = rule.jacobian(*args32)
    dense32 = J32.toarray()
    assert dense32.dtype == np.float32
    assert J32.dtype == np.float32
    assert J32.matvec(np.ones(J32.shape[1], dtype=np.float32)).dtype == np.float32
    assert J32.T.toarray().dtype == np.float32
    assert J32.tosparse().dtype == np.float32
    # same Jacobian as in float64 up to float32 rounding: eps32 ≈ 1.2e-7, amplified
    # by cond(X) < 10 of the sample matrices and sums of ≤ n² terms — 1e-4 relative
    J64 = rule.jacobian(*(a.astype(np.float64) for a in args32)).toarray()
    scale = max(1.0, float(np.abs(J64).max()))
    np.testing.assert_allclose(dense32, J64, rtol=1e-4, atol=1e-4 * scale)


def _as_int(a):
    """Integer matrices that stay valid for the rule (positive for log/sqrt,
    diagonally dominant for the inverse-type rules): round 2·a."""
    return np.rint(2.0 * a).astype(np.int64)


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_int_input_gives_float64_jacobian(name):
    rule = REGISTRY[name]
    int_args = tuple(_as_int(a) for a in _sample(rule, 3))
    J = rule.jacobian(*int_args)
    assert J.dtype == np.float64
    assert J.toarray().dtype == np.float64
    _fd_close(J.toarray(), central_difference_jacobian(rule.primal, [a.astype(float) for a in int_args], rule.argnum))


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_c_and_fortran_ordered_inputs_agree(name):
    rule = REGISTRY[name]
    args = _sample(rule, 3)
    JC = rule.jacobian(*(np.ascontiguousarray(a) for a in args)).toarray()
    JF = rule.jacobian(*(np.asfortranarray(a) for a in args)).toarray()
    # same values; LAPACK/BLAS may order operations differently per layout
    np.testing.assert_allclose(JC, JF, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(JC).max()))
    # a non-contiguous view (every other column of a wider array) as input
    wide = [np.repeat(a, 2, axis=1)[:, ::2] if a.ndim == 2 else a for a in args]
    assert all(not w.flags.c_contiguous or w.shape[1] <= 1 for w in wide if w.ndim == 2)
    np.testing.assert_allclose(rule.jacobian(*wide).toarray(), JC, rtol=1e-12,
                               atol=1e-12 * max(1.0, np.abs(JC).max()))


@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_never_modifies_its_inputs(name):
    rule = REGISTRY[name]
    for make in (np.ascontiguousarray, np.asfortranarray):
        args = tuple(make(a) for a in _sample(rule, 3))
        with assert_unchanged(*args):
            J = rule.jacobian(*args)
            J.toarray()
            J.tosparse()
            J.matvec(np.ones(J.shape[1]))
            J.rmatvec(np.ones(J.shape[0]))
            J.T.toarray()


# --------------------------------------------------------------------------
# structure of the closed forms
# --------------------------------------------------------------------------


def test_inv_is_a_negated_kron_of_inverses(rng):
    X = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    J = rules.inv(X)
    assert isinstance(J, Kron) and J.scale == -1.0
    assert "-(inv(X)ᵀ ⊗ inv(X))" in repr(J)
    Xi = np.linalg.inv(X)
    np.testing.assert_allclose(J.toarray(), -np.kron(Xi.T, Xi), rtol=1e-12, atol=1e-12)


def test_det_and_logdet_are_row_vectors(rng):
    X = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    for J in (rules.det(X), rules.logdet(X), rules.trace(X)):
        assert isinstance(J, RowVector) and J.shape == (1, 9)
    # the gradient (shaped like X) of log|X| is X⁻ᵀ, of |X| is |X|·X⁻ᵀ
    np.testing.assert_allclose(rules.logdet(X).gradient(X.shape), np.linalg.inv(X).T, rtol=1e-12)
    np.testing.assert_allclose(rules.det(X).gradient(X.shape), np.linalg.det(X) * np.linalg.inv(X).T,
                               rtol=1e-10)


@pytest.mark.parametrize("m, n", [(1, 1), (2, 3), (3, 2), (0, 2)])
def test_transpose_is_a_commutation(m, n):
    J = rules.transpose(m, n)
    assert isinstance(J, Commutation) and (J.m, J.n) == (m, n)
    X = np.arange(float(m * n)).reshape(m, n)
    assert isinstance(rules.transpose(X), Commutation)
    np.testing.assert_array_equal(J.matvec(vec(X)), vec(X.T))


# The registry's kron sample always has A (k×k+1), B (k+1×k), so q = m and the
# regrouping K_{q,m} = K_{m,m}: shapes where every dimension differs are needed
# to tell K_{q,m} from K_{m,q} and the two identities apart.
@pytest.mark.parametrize("shape_a, shape_b", [((2, 3), (4, 5)), ((1, 3), (2, 1)), ((3, 1), (1, 4)),
                                              ((2, 2), (3, 3)), ((1, 1), (2, 3))])
@pytest.mark.parametrize("name", ["kron_wrt_left", "kron_wrt_right"])
def test_kron_rules_with_all_dimensions_different(name, shape_a, shape_b, rng):
    rule = REGISTRY[name]
    args = (rng.standard_normal(shape_a), rng.standard_normal(shape_b))
    J = rule.jacobian(*args)
    _fd_close(J.toarray(), central_difference_jacobian(np.kron, args, rule.argnum))
    dot_test(J, rng)


def test_linear_rules_are_krons(rng):
    A, X, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    J = rules.sandwich(A, X, B)
    assert isinstance(J, Kron)
    np.testing.assert_allclose(J.toarray(), np.kron(B.T, A), rtol=1e-14, atol=1e-14)
    assert isinstance(rules.matmul_wrt_left(A, X), Kron)
    assert isinstance(rules.matmul_wrt_right(A, X), Kron)
    np.testing.assert_allclose(rules.matmul_wrt_left(A, X).toarray(), np.kron(X.T, np.eye(2)))
    np.testing.assert_allclose(rules.matmul_wrt_right(A, X).toarray(), np.kron(np.eye(4), A))


# --------------------------------------------------------------------------
# combinators
# --------------------------------------------------------------------------


def _is_kron_like(term):
    """A Kron, or a Product of Krons and commutations — never a dense matrix."""
    if isinstance(term, Kron):
        return True
    return isinstance(term, Product) and all(isinstance(f, (Kron, Commutation)) for f in term.factors)


@pytest.mark.parametrize("n, p, q", [(1, 1, 1), (2, 3, 1), (3, 2, 4)])
def test_product_rule_for_AX_times_XB(n, p, q, rng):
    A, B = rng.standard_normal((p, n)), rng.standard_normal((n, q))
    X = rng.standard_normal((n, n))
    F, G = A @ X, X @ B
    DF = rules.linear_map(A, None, X.shape)  # D(AX) = I ⊗ A
    DG = rules.linear_map(None, B, X.shape)  # D(XB) = Bᵀ ⊗ I
    J = rules.product_rule(F, DF, G, DG)
    assert isinstance(J, Sum) and len(J.terms) == 2
    assert all(_is_kron_like(t) for t in J.terms), J.formula()
    J_fd = central_difference_jacobian(lambda X: (A @ X) @ (X @ B), [X], 0)
    _fd_close(J.toarray(), J_fd)
    dot_test(J, rng)


def test_product_rule_with_a_transpose_gives_products_of_krons(rng):
    X = rng.standard_normal((3, 2))
    DXt = rules.transpose(X)  # D(Xᵀ) = K_{3,2}
    J = rules.product_rule(X.T, DXt, X, Identity(6))  # D(XᵀX)
    assert isinstance(J, Sum)
    assert all(_is_kron_like(t) for t in J.terms), J.formula()
    assert any(isinstance(t, Product) for t in J.terms)
    _fd_close(J.toarray(), central_difference_jacobian(lambda X: X.T @ X, [X], 0))


def test_product_rule_of_inverse_times_matrix_is_zero(rng):
    X = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    # X⁻¹X = I is constant, so its Jacobian vanishes
    J = rules.product_rule(np.linalg.inv(X), rules.inv(X), X, Identity(9))
    np.testing.assert_allclose(J.toarray(), np.zeros((9, 9)), atol=1e-12)


def test_product_rule_shape_errors():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 3\)"):
        rules.product_rule(np.ones((2, 3)), Identity(6), np.ones((2, 3)), Identity(6))
    with pytest.raises(ValueError, match="rows"):
        rules.product_rule(np.ones((2, 2)), Identity(5), np.ones((2, 2)), Identity(4))


@pytest.mark.parametrize("m, n", [(1, 1), (2, 3), (3, 3)])
def test_chain_rule_inverse_of_sandwich(m, n, rng):
    # X ↦ (AXB)⁻¹ with Y = AXB square (k×k)
    k = 3
    A, B = rng.standard_normal((k, m)), rng.standard_normal((n, k))
    X = rng.standard_normal((m, n))
    f = lambda X: np.linalg.inv(A @ X @ B + 4 * np.eye(k))  # noqa: E731
    Y = A @ X @ B + 4 * np.eye(k)
    J = rules.chain_rule(rules.inv(Y), rules.sandwich(A, X, B))
    assert isinstance(J, Kron), repr(J)  # the mixed product law keeps it one Kron
    _fd_close(J.toarray(), central_difference_jacobian(f, [X], 0))
    dot_test(J, rng)


def test_chain_rule_scalar_outer_function(rng):
    A, B = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    X = rng.standard_normal((2, 4))
    f = lambda X: np.linalg.det(A @ X @ B + 3 * np.eye(3))  # noqa: E731
    J = rules.chain_rule(rules.det(A @ X @ B + 3 * np.eye(3)), rules.sandwich(A, X, B))
    assert isinstance(J, RowVector)
    _fd_close(J.toarray(), central_difference_jacobian(f, [X], 0))


def test_chain_rule_transpose_of_inverse(rng):
    X = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    J = rules.chain_rule(rules.transpose(3, 3), rules.inv(X))
    _fd_close(J.toarray(), central_difference_jacobian(lambda X: np.linalg.inv(X).T, [X], 0))


def test_sum_rule(rng):
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    X = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    J = rules.sum_rule(rules.linear_map(A, None, X.shape), rules.linear_map(None, B, X.shape), rules.inv(X))
    assert isinstance(J, Sum) and len(J.terms) == 3
    J_fd = central_difference_jacobian(lambda X: A @ X + X @ B + np.linalg.inv(X), [X], 0)
    _fd_close(J.toarray(), J_fd)
    same = rules.inv(X)
    doubled = rules.sum_rule(same, same)
    assert isinstance(doubled, Kron) and doubled.scale == -2.0
    _fd_close(doubled.toarray(), 2 * central_difference_jacobian(np.linalg.inv, [X], 0))
    with pytest.raises(ValueError):
        rules.sum_rule()


@pytest.mark.parametrize("transposed", [False, True])
def test_linear_map_against_finite_differences(transposed, rng):
    m, n = 2, 3
    rows, cols = (n, m) if transposed else (m, n)
    L, R = rng.standard_normal((4, rows)), rng.standard_normal((cols, 5))
    X = rng.standard_normal((m, n))
    J = rules.linear_map(L, R, X.shape, transposed=transposed, scale=-2.0)
    f = lambda X: -2.0 * L @ (X.T if transposed else X) @ R  # noqa: E731
    _fd_close(J.toarray(), central_difference_jacobian(f, [X], 0))
    with pytest.raises(ValueError, match="do not conform"):
        rules.linear_map(np.ones((2, 7)), None, X.shape)


# --------------------------------------------------------------------------
# determinant edge cases
# --------------------------------------------------------------------------


def _rank_deficient(rng, n, rank):
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    s = np.concatenate([rng.uniform(0.5, 2.0, rank), np.zeros(n - rank)])
    return (U * s) @ V.T


@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("flip", [False, True])
def test_det_gradient_singular_rank_n_minus_1(n, seed, flip):
    X = _rank_deficient(np.random.default_rng(seed), n, n - 1)
    if flip:  # the other orientation: the adjugate changes sign pattern
        X[0] *= -1
    grad = rules.det(X).gradient(X.shape)
    C = cofactor_matrix(X)  # ∂|X|/∂X_ij by Laplace expansion, from explicit minors
    assert np.abs(C).max() > 1e-3  # rank n−1: the adjugate is a nonzero rank-one matrix
    np.testing.assert_allclose(grad, C, rtol=1e-9, atol=1e-12)
    # |X| is affine in each single entry, so central differences are exact up to rounding
    J_fd = central_difference_jacobian(np.linalg.det, [X], 0)
    np.testing.assert_allclose(rules.det(X).toarray(), J_fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_det_gradient_negative_determinant(n, rng):
    # the registry's samples are diagonally dominant (det > 0); flip one row
    X = rng.standard_normal((n, n)) + 3 * np.eye(n)
    X[-1] *= -1
    assert np.linalg.det(X) < 0
    grad = rules.det(X).gradient(X.shape)
    np.testing.assert_allclose(grad, cofactor_matrix(X), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(grad, np.linalg.det(X) * np.linalg.inv(X).T, rtol=1e-9, atol=1e-12)
    _fd_close(rules.det(X).toarray(), central_difference_jacobian(np.linalg.det, [X], 0))


@pytest.mark.parametrize("n", [3, 4, 5])
def test_det_gradient_rank_n_minus_2_is_zero(n, rng):
    X = _rank_deficient(rng, n, n - 2)
    grad = rules.det(X).gradient(X.shape)
    # every (n−1)-minor of a rank n−2 matrix vanishes; rounding of the O(1)
    # singular values leaves entries of order eps
    np.testing.assert_allclose(grad, np.zeros((n, n)), atol=1e-13)
    np.testing.assert_allclose(cofactor_matrix(X), np.zeros((n, n)), atol=1e-13)
    # a matrix with exactly zero singular values gives exactly zero
    exact = np.diag([3.0] + [0.0] * (n - 1))
    exact[0, 1] = 2.0
    np.testing.assert_array_equal(rules.det(exact).gradient((n, n)), np.zeros((n, n)))


@pytest.mark.parametrize("x", [0.0, 5.0, -3.0])
def test_det_gradient_1x1(x):
    # d/dx det([[x]]) = d/dx x = 1, also at x = 0
    J = rules.det(np.array([[x]]))
    assert J.shape == (1, 1)
    np.testing.assert_array_equal(J.gradient((1, 1)), [[1.0]])


def test_det_gradient_0x0():
    # the determinant of the empty matrix is the constant 1: the gradient is empty
    J = rules.det(np.zeros((0, 0)))
    assert isinstance(J, RowVector) and J.shape == (1, 0)
    assert J.gradient((0, 0)).shape == (0, 0)
    assert J.toarray().shape == (1, 0)


def test_det_gradient_singular_2x2_with_zero_column():
    X = np.array([[0.0, 1.0], [0.0, 1.0]])
    # det [[a, b], [c, d]] = ad − bc, so ∂/∂(a, b, c, d) = (d, −c, −b, a) = (1, 0, −1, 0)
    expected = np.array([[1.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_array_equal(rules.det(X).gradient(X.shape), expected)
    np.testing.assert_allclose(cofactor_matrix(X), expected, atol=1e-15)
    np.testing.assert_allclose(rules.det(X).toarray(), central_difference_jacobian(np.linalg.det, [X], 0),
                               atol=1e-9)


def test_det_gradient_integer_singular_matrix():
    X = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])  # rank 2 = n − 1
    np.testing.assert_allclose(rules.det(X).gradient(X.shape), cofactor_matrix(X), atol=1e-12)


# --------------------------------------------------------------------------
# inverse and log-determinant edge cases
# --------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [rules.inv, rules.det, rules.logdet])
def test_square_rules_reject_non_square_with_value_error(rule):
    with pytest.raises(ValueError, match=r"square.*\(2, 3\)"):
        rule(np.ones((2, 3)))


def test_inv_non_square_raises_value_error():
    with pytest.raises(ValueError, match=r"^rules.inv: .*X must be square, got shape \(3, 2\)"):
        rules.inv(np.ones((3, 2)))


@pytest.mark.parametrize("X", [np.zeros((2, 2)), np.array([[1.0, 2.0], [2.0, 4.0]]), np.zeros((1, 1))])
def test_inv_singular_raises_linalg_error(X):
    with pytest.raises(np.linalg.LinAlgError, match=r"^rules.inv: .*singular"):
        rules.inv(X)


def test_solve_singular_raises_linalg_error_naming_the_rule():
    A = np.array([[1.0, 2.0], [2.0, 4.0]])
    for rule in (rules.solve_wrt_a, rules.solve_wrt_b):
        with pytest.raises(np.linalg.LinAlgError, match=rule.__name__):
            rule(A, np.ones((2, 1)))


def test_logdet_singular_raises_linalg_error():
    for X in (np.zeros((3, 3)), np.array([[1.0, 2.0], [2.0, 4.0]])):
        with pytest.raises(np.linalg.LinAlgError, match=r"^rules.logdet: .*singular"):
            rules.logdet(X)


def test_logdet_negative_determinant(rng):
    X = rng.standard_normal((3, 3)) + 4 * np.eye(3)
    X[0] *= -1  # flips the sign of the determinant
    assert np.linalg.det(X) < 0
    J = rules.logdet(X)
    # d ln|det X| = tr(X⁻¹ dX) for either sign of det X
    np.testing.assert_allclose(J.gradient(X.shape), np.linalg.inv(X).T, rtol=1e-12, atol=1e-14)
    _fd_close(J.toarray(), central_difference_jacobian(lambda X: np.linalg.slogdet(X)[1], [X], 0))
    np.testing.assert_allclose(rules.logdet(np.diag([2.0, -4.0])).gradient((2, 2)),
                               np.diag([0.5, -0.25]))


def test_elementwise_domain_errors():
    with pytest.raises(ValueError, match="rules.log: np.log is not finite"):
        rules.log(np.array([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="rules.sqrt: np.sqrt is not finite"):
        rules.sqrt(np.array([[-1.0]]))


def test_trace_of_a_rectangular_matrix_is_numpys():
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(rules.trace(X).gradient(X.shape), np.eye(2, 3))


def test_complex_input_is_refused():
    with pytest.raises(TypeError, match="complex"):
        rules.inv(np.eye(2) * 1j)
