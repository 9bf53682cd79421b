"""Numerical checks of every worked example and identity in notes/conventions.md
and notes/derivatives.md.

Only plain NumPy and ``kronvec._vec`` are used, so these tests pin the
conventions down independently of the rest of kronvec.  Derivative claims are
compared with central finite differences; Kronecker claims with dense
``np.kron`` matrices; the index maps with matrices written out by hand or
built from their defining loops.  Nothing is compared with itself.
"""

import numpy as np
import pytest

from kronvec._vec import commutation_index, duplication_index, unvec, vec, vech_index

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

# Central differences in float64 with step h = 1e-6 on inputs of size O(1):
# the truncation error is about h²/6·|F'''| ≈ 1e-13 and the rounding error
# about eps·|F|/h ≈ 2e-16/1e-6 = 2e-10 per entry, so agreement to
# rtol = atol = 1e-7 leaves a margin of ~500× while any genuine formula error
# (a missing transpose or swapped Kronecker factor changes entries by O(1))
# is caught.  All matrices that get inverted are well conditioned (cond < 20).
FD_STEP = 1e-6
FD_TOL = dict(rtol=1e-7, atol=1e-7)


def fd_jacobian(F, X, h=FD_STEP):
    """Numerator-layout Jacobian ∂vec F/∂(vec X)ᵀ by central differences.

    Column c is (vec F(X + h·E_c) − vec F(X − h·E_c)) / 2h with
    E_c = unvec(e_c); works for scalar F too (gives a 1×mn row).
    """
    X = np.asarray(X, dtype=float)
    x = vec(X)
    columns = []
    for c in range(x.size):
        step = np.zeros_like(x)
        step[c] = h
        plus = np.atleast_1d(vec(np.asarray(F(unvec(x + step, X.shape)), dtype=float)))
        minus = np.atleast_1d(vec(np.asarray(F(unvec(x - step, X.shape)), dtype=float)))
        columns.append((plus - minus) / (2 * h))
    return np.column_stack(columns)


def fd_gradient(f, X, h=FD_STEP):
    """Gradient shaped like X: entry (i, j) is ∂f/∂X_ij, by central differences
    taken directly on the entries (no vec involved)."""
    X = np.asarray(X, dtype=float)
    G = np.empty_like(X)
    for idx in np.ndindex(X.shape):
        E = np.zeros_like(X)
        E[idx] = h
        G[idx] = (f(X + E) - f(X - E)) / (2 * h)
    return G


def commutation_dense(m, n):
    """K_{m,n} from its defining formula: row j + i·n has its 1 in column i + j·m."""
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[j + i * n, i + j * m] = 1.0
    return K


def adjugate_by_cofactors(X):
    """adj(X) = Cᵀ, C the cofactor matrix, straight from the definition."""
    n = X.shape[0]
    C = np.empty_like(X, dtype=float)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(X, i, axis=0), j, axis=1)
            C[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return C.T


def well_conditioned(rng, n):
    return rng.standard_normal((n, n)) + n * np.eye(n)


def seed_f(A):
    """f(A) = 3/2·A₁₁ + 5·A₁₂² + A₂₁·A₂₂ (the seed example, 1-based indices)."""
    return 1.5 * A[0, 0] + 5 * A[0, 1] ** 2 + A[1, 0] * A[1, 1]


A22 = np.array([[1.0, 2.0], [3.0, 4.0]])  # the 2×2 used throughout the notes


# ---------------------------------------------------------------------------
# conventions.md §1: vec
# ---------------------------------------------------------------------------


def test_vec_is_column_major_stacking_worked_example():
    X = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(vec(X), [1, 4, 2, 5, 3, 6])
    m, n = X.shape
    v = vec(X)
    for i in range(m):
        for j in range(n):
            assert v[i + j * m] == X[i, j]
    assert v[1 + 2 * 2] == 6


def test_unvec_inverts_vec():
    X = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(unvec(np.array([1, 4, 2, 5, 3, 6]), (2, 3)), X)
    Y = np.random.default_rng(0).standard_normal((3, 5))
    np.testing.assert_array_equal(unvec(vec(Y), Y.shape), Y)


def test_row_major_ravel_is_vec_of_transpose():
    X = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(X.ravel(), [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(X.ravel(), vec(X.T))


def test_vec_of_AXB_is_kron_of_B_transpose_and_A_times_vec_X():
    rng = np.random.default_rng(1)
    A, X, B = rng.standard_normal((4, 2)), rng.standard_normal((2, 3)), rng.standard_normal((3, 5))
    np.testing.assert_allclose(vec(A @ X @ B), np.kron(B.T, A) @ vec(X), rtol=1e-12, atol=1e-12)


def test_row_major_vec_turns_vec_AXB_into_kron_of_A_and_B_transpose():
    A = np.array([[1.0, 1.0], [0.0, 1.0]])
    I2 = np.eye(2)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(A @ X, [[4, 6], [3, 4]])
    np.testing.assert_array_equal(np.kron(I2, A) @ vec(X), [4, 3, 6, 4])
    np.testing.assert_array_equal(vec(A @ X), [4, 3, 6, 4])
    np.testing.assert_array_equal(np.kron(I2, A) @ X.ravel(), [3, 2, 7, 4])
    np.testing.assert_array_equal((A @ X).ravel(), [4, 6, 3, 4])
    np.testing.assert_array_equal(np.kron(A, I2) @ X.ravel(), [4, 6, 3, 4])
    # the general statement: r(AXB) = (A ⊗ Bᵀ) r(X) for r = ravel
    rng = np.random.default_rng(2)
    A, X, B = rng.standard_normal((4, 2)), rng.standard_normal((2, 3)), rng.standard_normal((3, 5))
    np.testing.assert_allclose((A @ X @ B).ravel(), np.kron(A, B.T) @ X.ravel(), rtol=1e-12, atol=1e-12)
    assert not np.allclose((A @ X @ B).ravel(), np.kron(B.T, A) @ X.ravel())


# ---------------------------------------------------------------------------
# conventions.md §2: Kronecker order and the vec trick
# ---------------------------------------------------------------------------


def test_kron_is_numpy_block_layout_worked_example():
    A = np.array([[1, 2], [3, 4]])
    B = np.array([[0, 1], [1, 0]])
    expected = np.array([[0, 1, 0, 2], [1, 0, 2, 0], [0, 3, 0, 4], [3, 0, 4, 0]])
    np.testing.assert_array_equal(np.kron(A, B), expected)


def test_kron_entry_formula_i_p_plus_k_j_q_plus_l():
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((4, 2))
    (m, n), (p, q) = A.shape, B.shape
    K = np.kron(A, B)
    assert K.shape == (m * p, n * q)
    for i, j, k, l in np.ndindex(m, n, p, q):
        assert K[i * p + k, j * q + l] == A[i, j] * B[k, l]


def test_vec_trick_kron_times_vec_V_is_vec_of_B_V_A_transpose():
    A = np.array([[1, 2], [3, 4]])
    B = np.array([[0, 1], [1, 0]])
    V = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(np.kron(A, B) @ vec(V), [11, 5, 25, 11])
    np.testing.assert_array_equal(B @ V @ A.T, [[11, 25], [5, 11]])
    np.testing.assert_array_equal(vec(A @ V @ B.T), [10, 22, 7, 15])
    np.testing.assert_array_equal(np.kron(B, A) @ vec(V), [10, 22, 7, 15])
    rng = np.random.default_rng(4)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((4, 5))
    V = rng.standard_normal((5, 3))  # V is q×n
    np.testing.assert_allclose(np.kron(A, B) @ vec(V), vec(B @ V @ A.T), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# conventions.md §3-4: numerator layout, gradient vs Jacobian row
# ---------------------------------------------------------------------------


def test_jacobian_of_AX_is_I_kron_A_in_numerator_layout():
    A = A22
    expected = np.array([[1, 2, 0, 0], [3, 4, 0, 0], [0, 0, 1, 2], [0, 0, 3, 4]])
    np.testing.assert_array_equal(np.kron(np.eye(2), A), expected)
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    J = fd_jacobian(lambda X: A @ X, X)
    assert J.shape == (4, 4)
    np.testing.assert_allclose(J, expected, **FD_TOL)
    # column 2 is the change along E₂₁: vec(A E₂₁) = (2, 4, 0, 0)
    E21 = np.array([[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(vec(A @ E21), [2, 4, 0, 0])
    np.testing.assert_allclose(J[:, 1], [2, 4, 0, 0], **FD_TOL)
    # the denominator-layout transpose is a different matrix
    assert not np.allclose(J, np.kron(np.eye(2), A.T))


def test_jacobian_of_nonsquare_map_has_shape_outputs_by_inputs():
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((4, 2)), rng.standard_normal((3, 5))
    X = rng.standard_normal((2, 3))
    J = fd_jacobian(lambda X: A @ X @ B, X)
    assert J.shape == (4 * 5, 2 * 3)  # (p·q, m·n)
    np.testing.assert_allclose(J, np.kron(B.T, A), **FD_TOL)


def test_gradient_is_unvec_of_jacobian_row_for_seed_example():
    A = A22
    assert seed_f(A) == 33.5
    expected_grad = np.array([[1.5, 20.0], [4.0, 3.0]])  # [[3/2, 10·A₁₂], [A₂₂, A₂₁]]
    np.testing.assert_allclose(fd_gradient(seed_f, A), expected_grad, **FD_TOL)
    row = fd_jacobian(seed_f, A)
    assert row.shape == (1, 4)
    np.testing.assert_allclose(row, [[1.5, 4.0, 20.0, 3.0]], **FD_TOL)
    np.testing.assert_allclose(unvec(row.T, (2, 2)), expected_grad, **FD_TOL)
    # the row-major reshape of the row is the transpose, i.e. wrong
    np.testing.assert_allclose(row.reshape(2, 2), expected_grad.T, **FD_TOL)
    assert not np.allclose(row.reshape(2, 2), expected_grad)


def test_differential_is_trace_of_gradient_transpose_times_dX():
    A = A22
    dX = np.array([[0.3, -0.2], [0.1, 0.7]]) * 1e-6
    G = np.array([[1.5, 20.0], [4.0, 3.0]])
    df = (seed_f(A + dX) - seed_f(A - dX)) / 2
    np.testing.assert_allclose(df, np.trace(G.T @ dX), rtol=1e-7)
    np.testing.assert_allclose(df, vec(G) @ vec(dX), rtol=1e-7)


# ---------------------------------------------------------------------------
# conventions.md §5: commutation matrix
# ---------------------------------------------------------------------------


def test_commutation_K23_written_out():
    K23 = np.array(
        [
            [1, 0, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 0, 0, 0, 1, 0],
            [0, 1, 0, 0, 0, 0],
            [0, 0, 0, 1, 0, 0],
            [0, 0, 0, 0, 0, 1],
        ]
    )
    np.testing.assert_array_equal(commutation_index(2, 3), [0, 2, 4, 1, 3, 5])
    np.testing.assert_array_equal(np.eye(6)[commutation_index(2, 3)], K23)
    np.testing.assert_array_equal(commutation_dense(2, 3), K23)
    X = np.array([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(K23 @ vec(X), [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(K23 @ vec(X), vec(X.T))


@pytest.mark.parametrize("m,n", [(1, 1), (1, 4), (4, 1), (2, 3), (3, 2), (3, 3), (4, 5)])
def test_commutation_index_maps_vec_X_to_vec_X_transpose(m, n):
    X = np.arange(m * n, dtype=float).reshape(m, n) * 1.5 + 1
    np.testing.assert_array_equal(vec(X)[commutation_index(m, n)], vec(X.T))
    np.testing.assert_array_equal(np.eye(m * n)[commutation_index(m, n)], commutation_dense(m, n))


def test_commutation_transpose_is_K_nm_and_its_inverse():
    for m, n in [(2, 3), (3, 4), (1, 5)]:
        K = commutation_dense(m, n)
        np.testing.assert_array_equal(K.T, commutation_dense(n, m))
        np.testing.assert_array_equal(K.T @ K, np.eye(m * n))
    np.testing.assert_array_equal(commutation_index(3, 2), [0, 3, 1, 4, 2, 5])
    np.testing.assert_array_equal(commutation_dense(4, 1), np.eye(4))
    np.testing.assert_array_equal(commutation_dense(1, 4), np.eye(4))


def test_commutation_swaps_kronecker_factors():
    rng = np.random.default_rng(6)
    m, n, p, q = 2, 3, 4, 5
    A, B = rng.standard_normal((m, n)), rng.standard_normal((p, q))
    lhs = commutation_dense(p, m) @ np.kron(A, B) @ commutation_dense(n, q)
    np.testing.assert_allclose(lhs, np.kron(B, A), rtol=1e-12, atol=1e-12)
    assert not np.allclose(np.kron(A, B), np.kron(B, A))  # the swap is not a no-op


# ---------------------------------------------------------------------------
# conventions.md §6: vech, duplication, elimination
# ---------------------------------------------------------------------------


def test_vech_elimination_and_duplication_for_n2_written_out():
    L2 = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    D2 = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_array_equal(vech_index(2), [0, 1, 3])
    np.testing.assert_array_equal(duplication_index(2), [0, 1, 1, 2])
    np.testing.assert_array_equal(np.eye(4)[vech_index(2)], L2)
    np.testing.assert_array_equal(np.eye(3)[duplication_index(2)], D2)
    X = np.array([[7, 8], [9, 10]])  # any X: vech = (X₁₁, X₂₁, X₂₂)
    np.testing.assert_array_equal(L2 @ vec(X), [7, 9, 10])
    S = np.array([[1, 2], [2, 5]])
    np.testing.assert_array_equal(vec(S)[vech_index(2)], [1, 2, 5])
    np.testing.assert_array_equal(D2 @ np.array([1, 2, 5]), [1, 2, 2, 5])
    np.testing.assert_array_equal(D2 @ np.array([1, 2, 5]), vec(S))
    np.testing.assert_allclose(
        np.linalg.pinv(D2), [[1, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 1]], atol=1e-12
    )


def test_vech_and_duplication_index_maps_for_n3():
    np.testing.assert_array_equal(vech_index(3), [0, 1, 2, 4, 5, 8])
    np.testing.assert_array_equal(duplication_index(3), [0, 1, 2, 1, 3, 4, 2, 4, 5])


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_duplication_rebuilds_vec_of_symmetric_and_elimination_undoes_it(n):
    rng = np.random.default_rng(7 + n)
    M = rng.standard_normal((n, n))
    S = M + M.T
    # vech from its definition: lower triangle, column by column
    vech_S = np.array([S[i, j] for j in range(n) for i in range(j, n)])
    np.testing.assert_array_equal(vec(S)[vech_index(n)], vech_S)
    np.testing.assert_array_equal(vech_S[duplication_index(n)], vec(S))
    r = n * (n + 1) // 2
    L = np.eye(n * n)[vech_index(n)]
    D = np.eye(r)[duplication_index(n)]
    np.testing.assert_array_equal(L @ D, np.eye(r))
    np.testing.assert_array_equal(commutation_dense(n, n) @ D, D)
    diag_weights = [1.0 if i == j else 2.0 for j in range(n) for i in range(j, n)]
    np.testing.assert_array_equal(D.T @ D, np.diag(diag_weights))
    np.testing.assert_allclose(np.linalg.pinv(D), np.diag(1 / np.array(diag_weights)) @ D.T, atol=1e-12)
    if n > 1:  # D L copies the lower triangle over the upper one
        np.testing.assert_array_equal(D @ L @ vec(M), vec(np.tril(M) + np.tril(M, -1).T))
        assert not np.array_equal(D @ L @ vec(M), vec(M))


# ---------------------------------------------------------------------------
# derivatives.md §1: Kronecker algebra
# ---------------------------------------------------------------------------


def test_kronecker_mixed_product_rule():
    rng = np.random.default_rng(10)
    A, C = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    B, D = rng.standard_normal((5, 2)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(np.kron(A, B) @ np.kron(C, D), np.kron(A @ C, B @ D), rtol=1e-12, atol=1e-12)


def test_kronecker_transpose_does_not_swap_factors():
    rng = np.random.default_rng(11)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((4, 5))
    np.testing.assert_array_equal(np.kron(A, B).T, np.kron(A.T, B.T))


def test_kronecker_inverse_and_determinant():
    rng = np.random.default_rng(12)
    A, B = well_conditioned(rng, 2), well_conditioned(rng, 3)
    np.testing.assert_allclose(
        np.linalg.inv(np.kron(A, B)), np.kron(np.linalg.inv(A), np.linalg.inv(B)), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        np.linalg.det(np.kron(A, B)), np.linalg.det(A) ** 3 * np.linalg.det(B) ** 2, rtol=1e-10
    )


def test_kronecker_product_defined_where_mixed_product_law_is_not():
    A, B = np.ones((2, 3)), np.ones((2, 2))
    C, D = np.ones((2, 1)), np.ones((3, 1))
    assert (np.kron(A, B) @ np.kron(C, D)).shape == (4, 1)
    with pytest.raises(ValueError):
        A @ C


# ---------------------------------------------------------------------------
# derivatives.md §2: trace identities and the inner product
# ---------------------------------------------------------------------------


def test_trace_identities():
    rng = np.random.default_rng(20)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    a = 2.5
    assert np.trace(np.array([[a]])) == a
    x, M = rng.standard_normal(3), rng.standard_normal((3, 3))
    np.testing.assert_allclose(np.trace(np.atleast_2d(x @ M @ x)), x @ M @ x)
    np.testing.assert_allclose(np.trace(A), np.trace(A.T))
    np.testing.assert_allclose(np.trace(A + B), np.trace(A) + np.trace(B))
    np.testing.assert_allclose(np.trace(a * A), a * np.trace(A))
    P, Q = rng.standard_normal((2, 4)), rng.standard_normal((4, 2))  # n×m and m×n
    np.testing.assert_allclose(np.trace(P @ Q), np.trace(Q @ P), rtol=1e-12)
    R, S, T = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    t = np.trace(R @ S @ T)
    np.testing.assert_allclose(np.trace(S @ T @ R), t, rtol=1e-12)
    np.testing.assert_allclose(np.trace(T @ R @ S), t, rtol=1e-12)
    A3, B3, C3 = (rng.standard_normal((3, 3)) for _ in range(3))
    assert not np.isclose(np.trace(A3 @ B3 @ C3), np.trace(B3 @ A3 @ C3))  # not any permutation


def test_inner_product_is_trace_of_A_transpose_B_and_dot_of_vecs():
    rng = np.random.default_rng(21)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    s = sum(A[i, j] * B[i, j] for i in range(2) for j in range(3))
    np.testing.assert_allclose(np.trace(A.T @ B), s, rtol=1e-12)
    np.testing.assert_allclose(vec(A) @ vec(B), s, rtol=1e-12)


def test_inner_product_jacobian_rows_and_gradients():
    rng = np.random.default_rng(22)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(fd_jacobian(lambda Y: np.trace(A.T @ Y), B), vec(A)[None, :], **FD_TOL)
    np.testing.assert_allclose(fd_jacobian(lambda Y: np.trace(Y.T @ B), A), vec(B)[None, :], **FD_TOL)
    np.testing.assert_allclose(fd_gradient(lambda Y: np.trace(A.T @ Y), B), A, **FD_TOL)


# ---------------------------------------------------------------------------
# derivatives.md §3: matrix products and transpose
# ---------------------------------------------------------------------------


def test_matmul_jacobians_AX_XB_and_AXB():
    rng = np.random.default_rng(30)
    m, n, p, q = 2, 3, 4, 2
    A, B, X = rng.standard_normal((p, m)), rng.standard_normal((n, q)), rng.standard_normal((m, n))
    np.testing.assert_allclose(fd_jacobian(lambda X: A @ X, X), np.kron(np.eye(n), A), **FD_TOL)
    np.testing.assert_allclose(fd_jacobian(lambda X: X @ B, X), np.kron(B.T, np.eye(m)), **FD_TOL)
    np.testing.assert_allclose(fd_jacobian(lambda X: A @ X @ B, X), np.kron(B.T, A), **FD_TOL)


def test_transpose_jacobian_is_commutation_matrix():
    X = np.random.default_rng(31).standard_normal((2, 3))
    np.testing.assert_allclose(fd_jacobian(lambda X: X.T, X), commutation_dense(2, 3), **FD_TOL)


# ---------------------------------------------------------------------------
# derivatives.md §4: product rule and chain rule
# ---------------------------------------------------------------------------


def test_product_rule_for_X_A_B_X():
    rng = np.random.default_rng(40)
    m, n, k = 3, 2, 4
    X, A, B = rng.standard_normal((m, n)), rng.standard_normal((n, k)), rng.standard_normal((k, m))
    F, G = X @ A, B @ X
    DF = np.kron(A.T, np.eye(m))
    DG = np.kron(np.eye(n), B)
    product_rule = np.kron(G.T, np.eye(m)) @ DF + np.kron(np.eye(n), F) @ DG
    np.testing.assert_allclose(fd_jacobian(lambda X: X @ A @ B @ X, X), product_rule, **FD_TOL)


def test_chain_rule_for_log_abs_det_of_inverse():
    X = well_conditioned(np.random.default_rng(41), 3)
    Xi = np.linalg.inv(X)
    Dg_at_inverse = vec(np.linalg.inv(Xi).T)[None, :]  # D ln|det Y| at Y = X⁻¹
    Df = -np.kron(Xi.T, Xi)
    chained = Dg_at_inverse @ Df
    np.testing.assert_allclose(chained, -vec(Xi.T)[None, :], rtol=1e-10, atol=1e-12)
    fd = fd_jacobian(lambda X: np.linalg.slogdet(np.linalg.inv(X))[1], X)
    np.testing.assert_allclose(fd, chained, **FD_TOL)


# ---------------------------------------------------------------------------
# derivatives.md §5: inverse and solve
# ---------------------------------------------------------------------------


def test_inverse_jacobian_is_minus_kron_of_inverse_transpose_and_inverse():
    X = np.array([[1.0, 1.0], [0.0, 1.0]])
    Xi = np.linalg.inv(X)
    np.testing.assert_array_equal(Xi, [[1, -1], [0, 1]])
    expected = np.array([[-1, 1, 0, 0], [0, -1, 0, 0], [1, -1, -1, 1], [0, 1, 0, -1]])
    np.testing.assert_allclose(-np.kron(Xi.T, Xi), expected, atol=0)
    np.testing.assert_allclose(fd_jacobian(np.linalg.inv, X), expected, **FD_TOL)
    E21 = np.array([[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(vec(-Xi @ E21 @ Xi), [1, -1, -1, 1])
    X = well_conditioned(np.random.default_rng(50), 4)
    Xi = np.linalg.inv(X)
    J = fd_jacobian(np.linalg.inv, X)
    np.testing.assert_allclose(J, -np.kron(Xi.T, Xi), **FD_TOL)
    assert not np.allclose(J, -np.kron(Xi, Xi.T), **FD_TOL)


def test_inverse_jacobian_from_product_rule_on_inverse_times_X():
    X = well_conditioned(np.random.default_rng(51), 3)
    n = 3
    Xi = np.linalg.inv(X)
    # 0 = (Xᵀ ⊗ I) D(X⁻¹) + (I ⊗ X⁻¹)  solved for D(X⁻¹)
    D_inv = -np.linalg.solve(np.kron(X.T, np.eye(n)), np.kron(np.eye(n), Xi))
    np.testing.assert_allclose(fd_jacobian(np.linalg.inv, X), D_inv, **FD_TOL)
    np.testing.assert_allclose(
        np.kron(X.T, np.eye(n)) @ fd_jacobian(np.linalg.inv, X) + np.kron(np.eye(n), Xi),
        0,
        atol=1e-7,
    )


def test_inverse_entrywise_derivative():
    X = well_conditioned(np.random.default_rng(52), 3)
    Xi = np.linalg.inv(X)
    J = fd_jacobian(np.linalg.inv, X)
    n = 3
    for k, l, i, j in np.ndindex(n, n, n, n):
        # row = position of (k, l) in vec(X⁻¹), column = position of (i, j) in vec X
        np.testing.assert_allclose(J[k + l * n, i + j * n], -Xi[k, i] * Xi[j, l], **FD_TOL)


def test_solve_jacobians_wrt_A_and_B():
    rng = np.random.default_rng(53)
    n, k = 3, 2
    A, B = well_conditioned(rng, n), rng.standard_normal((n, k))
    Ai = np.linalg.inv(A)
    J_A = fd_jacobian(lambda A: np.linalg.solve(A, B), A)
    J_B = fd_jacobian(lambda B: np.linalg.solve(A, B), B)
    assert J_A.shape == (n * k, n * n) and J_B.shape == (n * k, n * k)
    np.testing.assert_allclose(J_A, -np.kron((Ai @ B).T, Ai), **FD_TOL)
    np.testing.assert_allclose(J_B, np.kron(np.eye(k), Ai), **FD_TOL)


# ---------------------------------------------------------------------------
# derivatives.md §6: determinant and log-determinant
# ---------------------------------------------------------------------------


def test_determinant_gradient_is_cofactor_matrix_worked_2x2():
    X = A22
    np.testing.assert_allclose(np.linalg.det(X), -2.0, rtol=1e-12)
    expected = np.array([[4.0, -3.0], [-2.0, 1.0]])  # [[X₂₂, −X₂₁], [−X₁₂, X₁₁]]
    np.testing.assert_allclose(fd_gradient(np.linalg.det, X), expected, **FD_TOL)
    np.testing.assert_allclose(adjugate_by_cofactors(X), [[4, -2], [-3, 1]], atol=1e-12)
    np.testing.assert_allclose(np.linalg.inv(X), [[-2, 1], [1.5, -0.5]], atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(X) * np.linalg.inv(X).T, expected, atol=1e-12)


def test_determinant_jacobian_is_det_times_vec_inverse_transpose_row():
    X = well_conditioned(np.random.default_rng(60), 4)
    row = fd_jacobian(np.linalg.det, X)
    np.testing.assert_allclose(row, np.linalg.det(X) * vec(np.linalg.inv(X).T)[None, :], **FD_TOL)
    np.testing.assert_allclose(row, vec(adjugate_by_cofactors(X).T)[None, :], **FD_TOL)


def test_determinant_gradient_at_rank_n_minus_1_is_rank_one_adjugate_transpose():
    rng = np.random.default_rng(61)
    n = 4
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    X = U @ np.diag([3.0, 2.0, 0.5, 0.0]) @ V.T
    adj = adjugate_by_cofactors(X)
    assert np.linalg.matrix_rank(adj) == 1
    np.testing.assert_allclose(fd_gradient(np.linalg.det, X), adj.T, **FD_TOL)
    np.testing.assert_allclose(X @ adj, 0, atol=1e-12)
    np.testing.assert_allclose(adj @ X, 0, atol=1e-12)
    # adj X = det(U) det(V) σ₁⋯σₙ₋₁ vₙ uₙᵀ from a freshly computed SVD
    Us, s, Vts = np.linalg.svd(X)
    svd_adj = np.linalg.det(Us) * np.linalg.det(Vts) * np.prod(s[:-1]) * np.outer(Vts[-1], Us[:, -1])
    np.testing.assert_allclose(svd_adj, adj, rtol=1e-9, atol=1e-10)
    # the worked 2×2 example
    S = np.array([[1.0, 2.0], [2.0, 4.0]])
    np.testing.assert_allclose(fd_gradient(np.linalg.det, S), [[4, -2], [-2, 1]], **FD_TOL)


def test_determinant_gradient_at_rank_n_minus_2_is_zero():
    X = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]])
    np.testing.assert_allclose(adjugate_by_cofactors(X), 0, atol=1e-12)
    np.testing.assert_allclose(fd_gradient(np.linalg.det, X), 0, atol=1e-7)


def test_adjugate_from_svd_for_any_rank():
    rng = np.random.default_rng(62)
    n = 4
    for singular_values in ([3.0, 2.0, 1.0, 0.5], [3.0, 2.0, 1.0, 0.0], [3.0, 2.0, 0.0, 0.0]):
        U, _ = np.linalg.qr(rng.standard_normal((n, n)))
        V, _ = np.linalg.qr(rng.standard_normal((n, n)))
        X = U @ np.diag(singular_values) @ V.T
        Us, s, Vts = np.linalg.svd(X)
        adj_sigma = np.diag([np.prod(np.delete(s, i)) for i in range(n)])
        svd_adj = np.linalg.det(Us) * np.linalg.det(Vts) * Vts.T @ adj_sigma @ Us.T
        np.testing.assert_allclose(svd_adj, adjugate_by_cofactors(X), rtol=1e-9, atol=1e-10)


def test_log_abs_det_gradient_is_inverse_transpose_even_for_negative_det():
    X = A22  # det = −2
    logabsdet = lambda X: np.linalg.slogdet(X)[1]  # noqa: E731
    expected = np.array([[-2.0, 1.5], [1.0, -0.5]])
    np.testing.assert_allclose(np.linalg.inv(X).T, expected, atol=1e-12)
    np.testing.assert_allclose(fd_gradient(logabsdet, X), expected, **FD_TOL)
    Y = well_conditioned(np.random.default_rng(63), 3)
    Y[0] *= -1
    assert np.linalg.det(Y) < 0
    np.testing.assert_allclose(fd_jacobian(logabsdet, Y), vec(np.linalg.inv(Y).T)[None, :], **FD_TOL)


# ---------------------------------------------------------------------------
# derivatives.md §7: scalar functions through the trace
# ---------------------------------------------------------------------------


def test_trace_AB_gradient_wrt_A_is_B_transpose():
    rng = np.random.default_rng(70)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))  # A n×m, B m×n
    G = fd_gradient(lambda A: np.trace(A @ B), A)
    assert G.shape == A.shape
    np.testing.assert_allclose(G, B.T, **FD_TOL)
    B2 = np.array([[1.0, 2.0], [3.0, 4.0]])  # 2×2: [[b₁₁, b₂₁], [b₁₂, b₂₂]]
    np.testing.assert_allclose(fd_gradient(lambda A: np.trace(A @ B2), A22), [[1, 3], [2, 4]], **FD_TOL)


def test_gradient_wrt_transpose_is_transpose_of_gradient():
    A = A22
    g = lambda B: seed_f(B.T)  # noqa: E731  g(Aᵀ) = f(A)
    expected = np.array([[1.5, 20.0], [4.0, 3.0]]).T
    np.testing.assert_allclose(fd_gradient(g, A.T), expected, **FD_TOL)
    # rectangular case and the Jacobian-row form D_{Aᵀ} f = D_A f · K_{n,m}
    rng = np.random.default_rng(71)
    M = rng.standard_normal((3, 2))
    A = rng.standard_normal((2, 3))
    f = lambda A: np.trace(A @ M) + np.sum(A**3)  # noqa: E731
    grad_A = M.T + 3 * A**2
    np.testing.assert_allclose(fd_gradient(lambda B: f(B.T), A.T), grad_A.T, **FD_TOL)
    np.testing.assert_allclose(
        fd_jacobian(lambda B: f(B.T), A.T), vec(grad_A)[None, :] @ commutation_dense(3, 2), **FD_TOL
    )


def test_trace_ABAtC_gradient_is_CAB_plus_C_transpose_A_B_transpose():
    rng = np.random.default_rng(72)
    n, m = 3, 2
    A, B, C = rng.standard_normal((n, m)), rng.standard_normal((m, m)), rng.standard_normal((n, n))
    G = fd_gradient(lambda A: np.trace(A @ B @ A.T @ C), A)
    np.testing.assert_allclose(G, C @ A @ B + C.T @ A @ B.T, **FD_TOL)
    # each frozen-A term on its own
    A0 = A.copy()
    np.testing.assert_allclose(fd_gradient(lambda X: np.trace(X @ B @ A0.T @ C), A), C.T @ A @ B.T, **FD_TOL)
    np.testing.assert_allclose(fd_gradient(lambda X: np.trace(A0 @ B @ X.T @ C), A), C @ A @ B, **FD_TOL)


def test_quadratic_form_gradient_is_A_mu_plus_A_transpose_mu():
    rng = np.random.default_rng(73)
    A, mu = rng.standard_normal((4, 4)), rng.standard_normal(4)
    G = fd_gradient(lambda mu: mu @ A @ mu, mu)
    np.testing.assert_allclose(G, A @ mu + A.T @ mu, **FD_TOL)
    assert not np.allclose(G, 2 * A @ mu, **FD_TOL)


# ---------------------------------------------------------------------------
# derivatives.md §8: elementwise maps
# ---------------------------------------------------------------------------


def test_hadamard_product_jacobians_are_diagonal():
    rng = np.random.default_rng(80)
    X, Y = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(fd_jacobian(lambda X: X * Y, X), np.diag(vec(Y)), **FD_TOL)
    np.testing.assert_allclose(fd_jacobian(lambda Y: X * Y, Y), np.diag(vec(X)), **FD_TOL)


def test_elementwise_function_jacobian_is_diag_of_derivative():
    X = np.random.default_rng(81).standard_normal((3, 2))
    np.testing.assert_allclose(fd_jacobian(np.sin, X), np.diag(vec(np.cos(X))), **FD_TOL)
    np.testing.assert_allclose(fd_jacobian(np.exp, X), np.diag(vec(np.exp(X))), **FD_TOL)


# ---------------------------------------------------------------------------
# derivatives.md §9: the Kronecker product as a function
# ---------------------------------------------------------------------------


def _kron_permutation(m, n, p, q):
    return np.kron(np.kron(np.eye(n), commutation_dense(q, m)), np.eye(p))


def test_vec_of_kron_is_permuted_kron_of_vecs():
    rng = np.random.default_rng(90)
    for m, n, p, q in [(2, 3, 4, 5), (3, 1, 2, 2), (1, 2, 3, 1)]:
        A, B = rng.standard_normal((m, n)), rng.standard_normal((p, q))
        P = _kron_permutation(m, n, p, q)
        np.testing.assert_allclose(vec(np.kron(A, B)), P @ np.kron(vec(A), vec(B)), rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(P @ P.T, np.eye(m * n * p * q))


def test_kron_jacobians_wrt_each_factor():
    rng = np.random.default_rng(91)
    m, n, p, q = 2, 3, 2, 3  # q ≠ m, so K_{q,m} ≠ K_{m,q}
    A, B = rng.standard_normal((m, n)), rng.standard_normal((p, q))
    P = _kron_permutation(m, n, p, q)
    D_A = P @ np.kron(np.eye(m * n), vec(B)[:, None])
    D_B = P @ np.kron(vec(A)[:, None], np.eye(p * q))
    assert D_A.shape == (m * n * p * q, m * n) and D_B.shape == (m * n * p * q, p * q)
    np.testing.assert_allclose(fd_jacobian(lambda A: np.kron(A, B), A), D_A, **FD_TOL)
    np.testing.assert_allclose(fd_jacobian(lambda B: np.kron(A, B), B), D_B, **FD_TOL)


# ---------------------------------------------------------------------------
# derivatives.md §10: Hessian of the log-determinant
# ---------------------------------------------------------------------------


def test_log_det_hessian_is_minus_K_times_kron_of_inverse_transpose_and_inverse():
    logabsdet = lambda X: np.linalg.slogdet(X)[1]  # noqa: E731
    for X in (A22, well_conditioned(np.random.default_rng(100), 3)):
        n = X.shape[0]
        Xi, K = np.linalg.inv(X), commutation_dense(n, n)
        H = -K @ np.kron(Xi.T, Xi)
        np.testing.assert_allclose(H, -np.kron(Xi, Xi.T) @ K, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-12)
        # Jacobian of the (finite-difference) gradient: nested central differences.
        # Outer step 1e-4 so the inner 1e-6 differences' rounding (~1e-10) stays
        # small after division: error ≈ 1e-10/1e-4 + (1e-4)²·|f''''| ≈ 2e-6 measured.
        H_fd = fd_jacobian(lambda Y: fd_gradient(logabsdet, Y), X, h=1e-4)
        np.testing.assert_allclose(H_fd, H, rtol=1e-5, atol=2e-5)
        # Jacobian of the closed-form gradient X⁻ᵀ (checked in its own test)
        H_grad = fd_jacobian(lambda Y: np.linalg.inv(Y).T, X)
        np.testing.assert_allclose(H_grad, H, **FD_TOL)
        # the look-alikes are wrong
        assert not np.allclose(H_grad, -np.kron(Xi.T, Xi), atol=1e-3)
        assert not np.allclose(H_grad, -np.kron(Xi.T, Xi) @ K, atol=1e-3)
    expected_2x2 = np.array(
        [
            [-4.0, 2.0, 3.0, -1.5],
            [2.0, -1.0, -1.0, 0.5],
            [3.0, -1.0, -2.25, 0.75],
            [-1.5, 0.5, 0.75, -0.25],
        ]
    )
    Xi = np.linalg.inv(A22)
    np.testing.assert_allclose(-commutation_dense(2, 2) @ np.kron(Xi.T, Xi), expected_2x2, atol=1e-12)
    np.testing.assert_allclose(fd_jacobian(lambda Y: np.linalg.inv(Y).T, A22), expected_2x2, **FD_TOL)
