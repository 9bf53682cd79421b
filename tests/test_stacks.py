"""Stacks of matrices (…, n, n) through inv, det, slogdet and solve (issue 14, first slice).

Checked here: the values are NumPy's batched results bit for bit; every
derivative matches central differences in every mode (structured Jacobian,
JVP, gradient, Hessian) on (3, 4, 4) and (2, 3, 3, 3) stacks and under
NumPy's broadcasting in solve; a stack of one gives the unbatched result;
the batched block operators equal their dense matrices (built column by
column, independently of toarray), pass the dot test, and materialize as a
canonical CSR; the Jacobian of 100,000 3×3 inverses builds without
densifying; singular members and batch shapes that do not broadcast are
named in the errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec
from kronvec._vec import stack_members, unvec, vec
from kronvec.operators import BatchedDense, BatchedKron

from _helpers import (
    assert_canonical_csr,
    check_value_and_derivatives,
    dense_of,
    dot_test,
    jacobian_and_peak_memory,
)

RNG = np.random.default_rng(20261202)


def _well_conditioned(*shape):
    """A stack of well-conditioned members: random plus a multiple of I."""
    n = shape[-1]
    return RNG.standard_normal(shape) + 3.0 * np.eye(n)


STACK_344 = _well_conditioned(3, 4, 4)
STACK_2333 = _well_conditioned(2, 3, 3, 3)

SCALAR_RULES = {
    "inv": lambda X: np.linalg.inv(X),
    "det": lambda X: np.linalg.det(X),
    "slogdet": lambda X: np.linalg.slogdet(X)[1],
}


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("X", [STACK_344, STACK_2333, STACK_344.astype(np.float32)], ids=["344", "2333", "f32"])
def test_values_are_numpys(X):
    np.testing.assert_array_equal(kronvec.vjp(np.linalg.inv, X)[0], np.linalg.inv(X))
    np.testing.assert_array_equal(kronvec.vjp(np.linalg.det, X)[0], np.linalg.det(X))
    sign, logabsdet = np.linalg.slogdet(X)

    def both(Z):
        result = np.linalg.slogdet(Z)
        np.testing.assert_array_equal(result.sign, sign)
        return result.logabsdet

    value = kronvec.vjp(both, X)[0]
    np.testing.assert_array_equal(value, logabsdet)
    assert value.dtype == logabsdet.dtype


SOLVE_CASES = {
    "(3,4,4) (3,4,2)": (STACK_344, RNG.standard_normal((3, 4, 2))),
    "vector b": (STACK_344, RNG.standard_normal(4)),
    "A (2,1,3,3), B (4,3,2)": (_well_conditioned(2, 1, 3, 3), RNG.standard_normal((4, 3, 2))),
    "2-D A, stacked B": (_well_conditioned(3, 3), RNG.standard_normal((2, 3, 2))),
    "stacked A, 2-D B": (STACK_2333, RNG.standard_normal((3, 2))),
}


@pytest.mark.parametrize("case", list(SOLVE_CASES))
def test_solve_values_are_numpys(case):
    A, B = SOLVE_CASES[case]
    expected = np.linalg.solve(A, B)
    np.testing.assert_array_equal(kronvec.vjp(lambda a: np.linalg.solve(a, B), A)[0], expected)
    np.testing.assert_array_equal(kronvec.vjp(lambda b: np.linalg.solve(A, b), B)[0], expected)


# ------------------------------------------------------------- derivatives
@pytest.mark.parametrize("name", list(SCALAR_RULES))
@pytest.mark.parametrize("X", [STACK_344, STACK_2333], ids=["344", "2333"])
def test_derivatives_match_finite_differences(name, X):
    J = check_value_and_derivatives(SCALAR_RULES[name], X)
    assert isinstance(J, BatchedKron if name == "inv" else BatchedDense)


@pytest.mark.parametrize("case", list(SOLVE_CASES))
@pytest.mark.parametrize("argnum", [0, 1], ids=["A", "B"])
def test_solve_derivatives_match_finite_differences(case, argnum):
    A, B = SOLVE_CASES[case]
    if argnum == 0:
        check_value_and_derivatives(lambda a: np.linalg.solve(a, B), A)
    else:
        check_value_and_derivatives(lambda b: np.linalg.solve(A, b), B)


def test_stack_of_one_equals_the_matrix():
    """A stack of one gives the 2-D result up to rounding, not bit for bit: the stack's
    value is NumPy's batched one (LAPACK gesv against I), the 2-D fast path's is
    kronvec's shared LU (getrf + getri), and the two differ in the last bits."""
    X = STACK_344[:1]
    for name, f in SCALAR_RULES.items():
        value, J = kronvec.vjp(f, X)[0], kronvec.jacobian(f)(X)
        value_2d, J_2d = kronvec.vjp(f, X[0])[0], kronvec.jacobian(f)(X[0])
        np.testing.assert_allclose(np.reshape(value, np.shape(value_2d)), value_2d, rtol=1e-14, atol=1e-15,
                                   err_msg=name)
        np.testing.assert_array_equal(value, f(X), err_msg=name)
        np.testing.assert_allclose(J.toarray(), J_2d.toarray(), rtol=1e-14, atol=1e-14, err_msg=name)


def test_gradient_of_the_gaussian_objective():
    """Σ ln|S_k| + tr(S_k⁻¹C_k): gradient S⁻ᵀ − S⁻ᵀ Cᵀ S⁻ᵀ member by member (closed form)."""
    S = STACK_344 @ np.swapaxes(STACK_344, -1, -2)
    C = RNG.standard_normal(S.shape)

    def objective(S):
        return np.sum(np.linalg.slogdet(S)[1]) + np.sum(np.linalg.inv(S) * np.swapaxes(C, -1, -2))

    value, gradient = kronvec.value_and_grad(objective)(S)
    inverse_t = np.swapaxes(np.linalg.inv(S), -1, -2)
    np.testing.assert_allclose(gradient, inverse_t - inverse_t @ np.swapaxes(C, -1, -2) @ inverse_t, rtol=1e-12)
    np.testing.assert_allclose(value, objective(S), rtol=1e-14)


def test_det_gradient_is_exact_at_singular_members():
    X = STACK_344.copy()
    X[1, :, 0] = X[1, :, 1]  # rank n−1: det 0, adjugate rank one
    gradient = kronvec.grad(lambda Z: np.sum(np.linalg.det(Z)))(X)
    for k in range(3):
        cofactors = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(X[k], i, 0), j, 1))
                               for j in range(4)] for i in range(4)])
        np.testing.assert_allclose(gradient[k], cofactors, rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------ operators
def _operators():
    K = 4
    A, B = RNG.standard_normal((K, 2, 3)), RNG.standard_normal((K, 3, 2))
    return {
        "kron": BatchedKron(A, B),
        "scaled kron": BatchedKron(A, B, -2.5),
        "identity left": BatchedKron(2, B),
        "identity right": BatchedKron(A, 3, 0.5),
        "dense rows": BatchedDense(RNG.standard_normal((K, 1, 5))),
        "dense blocks": BatchedDense(RNG.standard_normal((K, 3, 2))),
        "float32": BatchedKron(A.astype(np.float32), B.astype(np.float32)),
    }


@pytest.mark.parametrize("name", list(_operators()))
def test_operator_equals_its_dense_matrix(name):
    op = _operators()[name]
    dense = dense_of(op)
    tolerance = 1e-6 if op.dtype == np.float32 else 1e-13
    np.testing.assert_allclose(op.toarray(), dense, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(op.T.toarray(), dense.T, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(dense_of(op.T), dense.T, rtol=tolerance, atol=tolerance)
    for matrix, expected in ((op.tosparse(), dense), (op.T.tosparse(), dense.T)):
        assert_canonical_csr(matrix, expected.shape, op.dtype)
        np.testing.assert_allclose(matrix.toarray(), expected, rtol=tolerance, atol=tolerance)
    assert op.toarray().dtype == op.dtype
    dot_test(op, RNG)
    dot_test(op.T, RNG)


@pytest.mark.parametrize("path", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_of_batched_kron_on_both_paths(path, dtype):
    """The CSR written by NumPy broadcasting and by the numba kernel: canonical,
    equal to the dense matrix, with every block's scale·A_k[i, j]·B_k[u, v]."""
    A, B = RNG.standard_normal((5, 2, 3)).astype(dtype), RNG.standard_normal((5, 3, 2)).astype(dtype)
    op = BatchedKron(A, np.swapaxes(B, -1, -2), -1.5)  # a non-contiguous factor too
    with kronvec.config.override(numba_min_entries=2**62 if path == "numpy" else 0):
        matrix = op.tosparse()
    assert_canonical_csr(matrix, op.shape, op.dtype)
    tolerance = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(matrix.toarray(), dense_of(op), rtol=tolerance, atol=tolerance)


def test_block_placement_follows_the_column_major_convention():
    """Member k's block sits at rows k + K·a and columns k + K·b, and J vec X = vec of
    the members' B_k X_k A_kᵀ — the vec trick member by member in kronvec's vec."""
    K = 3
    A, B = RNG.standard_normal((K, 2, 3)), RNG.standard_normal((K, 4, 5))
    J = BatchedKron(A, B, -1.5)
    dense = dense_of(J)
    for k in range(K):
        np.testing.assert_allclose(dense[k::K, k::K], -1.5 * np.kron(A[k], B[k]), rtol=1e-14)
        np.testing.assert_allclose(J.blocks()[k], -1.5 * np.kron(A[k], B[k]), rtol=1e-14)
    V = RNG.standard_normal((K, 5, 3))
    expected = -1.5 * B @ V @ np.swapaxes(A, -1, -2)
    np.testing.assert_allclose(J.matvec(vec(V)), vec(expected), rtol=1e-13)
    np.testing.assert_allclose(unvec(J.matvec(vec(V)), (K, 4, 2)), expected, rtol=1e-13)


def test_stack_members_merge_the_batch_axes_in_vec_order():
    X = STACK_2333
    members = stack_members(X)
    for b0 in range(2):
        for b1 in range(3):
            np.testing.assert_array_equal(members[b0 + 2 * b1], X[b0, b1])
    # vec(X)[k + K·b] = vec(X_k)[b]: the batch index runs fastest
    np.testing.assert_array_equal(vec(X).reshape(9, 6).T, np.stack([vec(member) for member in members]))


def test_operators_own_their_data():
    A = RNG.standard_normal((2, 3, 3))
    op = BatchedKron(A, A)
    before = op.toarray()
    A[:] = 0.0
    np.testing.assert_array_equal(op.toarray(), before)
    assert not op.A.flags.writeable


def test_formulas_name_the_rule():
    J = kronvec.jacobian(np.linalg.inv)(STACK_344)
    assert "⊗" in J.formula() and "blockdiag" in J.formula()


# ------------------------------------------------------------------ scale
def test_inverse_jacobian_of_many_small_matrices_stays_structured():
    """100,000 3×3 members: the Jacobian (a 900,000 × 900,000 matrix) holds two
    factor stacks; its CSR has 81 entries per member and matches the blocks."""
    K = 100_000
    X = RNG.standard_normal((K, 3, 3)) + 3.0 * np.eye(3)
    J, peak = jacobian_and_peak_memory(np.linalg.inv, X)
    assert isinstance(J, BatchedKron) and J.shape == (9 * K, 9 * K)
    assert peak < 8 * X.nbytes, f"peak {peak:,} bytes for an input of {X.nbytes:,}"
    with pytest.raises(MemoryError):
        J.toarray()
    S = J.tosparse()
    assert S.nnz == 81 * K
    k = 12_345
    rows = k + K * np.arange(9)
    np.testing.assert_allclose(S[rows][:, rows].toarray(), J.blocks()[k], rtol=1e-15)
    inverse = np.linalg.inv(X[k])
    np.testing.assert_allclose(J.blocks()[k], -np.kron(inverse.T, inverse), rtol=1e-13)
    V = RNG.standard_normal(X.shape)
    np.testing.assert_allclose(
        unvec(J.matvec(vec(V)), X.shape)[k], -inverse @ V[k] @ inverse, rtol=1e-12)


# ---------------------------------------------------------------- errors
def test_singular_members_are_named():
    X = STACK_344.copy()
    X[1] = 0.0
    X[2, 0] = 0.0
    for f in (lambda Z: np.sum(np.linalg.inv(Z)),
              lambda Z: np.sum(np.linalg.slogdet(Z)[1]),
              lambda Z: np.sum(np.linalg.solve(Z, np.ones(4)))):
        with pytest.raises(np.linalg.LinAlgError, match=r"2 members .* batch index 1, 2"):
            kronvec.grad(f)(X)
    Y = STACK_2333.copy()
    Y[1, 2] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"a member .*\(2, 3, 3, 3\).* batch index \(1, 2\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.inv(Z)))(Y)


def test_only_the_first_few_singular_members_are_listed():
    X = np.zeros((9, 2, 2))
    with pytest.raises(np.linalg.LinAlgError, match=r"9 members .* 0, 1, 2, 3, 4 and 4 more"):
        kronvec.grad(lambda Z: np.sum(np.linalg.inv(Z)))(X)


def test_batch_shapes_that_do_not_broadcast():
    A, B = _well_conditioned(2, 3, 3), RNG.standard_normal((3, 3, 2))
    with pytest.raises(ValueError, match=r"\(2,\) \(A of shape \(2, 3, 3\)\) and \(3,\) \(B of shape \(3, 3, 2\)\).*"
                                         r"equal or contain a 1"):
        kronvec.grad(lambda a: np.sum(np.linalg.solve(a, B)))(A)
    with pytest.raises(ValueError, match=r"B of shape \(2, 4\)"):
        kronvec.grad(lambda a: np.sum(np.linalg.solve(a, np.ones((2, 4)))))(A)


def test_non_square_stacks_are_refused():
    with pytest.raises(ValueError, match=r"\(…, n, n\).*\(2, 3, 4\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.inv(Z)))(RNG.standard_normal((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.det(Z)))(RNG.standard_normal((2, 3, 4)))


def test_inputs_are_not_modified():
    from _helpers import assert_unchanged

    A, B = SOLVE_CASES["A (2,1,3,3), B (4,3,2)"]
    with assert_unchanged(A, B):
        kronvec.jacobian(lambda a: np.linalg.solve(a, B))(A).toarray()
        kronvec.hessian(lambda a: np.sum(np.sin(np.linalg.solve(a, B))))(A)


# -------------------------------------------------------------- algebra
def test_batched_operators_compose_blockwise():
    """The mixed product and scalars apply member by member, and stay batched."""
    from kronvec.operators import algebra

    K = 3
    A1, B1 = RNG.standard_normal((K, 2, 3)), RNG.standard_normal((K, 4, 2))
    A2, B2 = RNG.standard_normal((K, 3, 2)), RNG.standard_normal((K, 2, 3))
    left, right = BatchedKron(A1, B1, -2.0), BatchedKron(A2, B2, 0.5)
    rows = BatchedDense(RNG.standard_normal((K, 2, 8)))
    other_rows = BatchedDense(RNG.standard_normal((K, 6, 2)))
    cases = [
        (algebra.multiply(left, right), BatchedKron, dense_of(left) @ dense_of(right)),
        (algebra.multiply(left, BatchedKron(3, B2)), BatchedKron, dense_of(left) @ dense_of(BatchedKron(3, B2))),
        (algebra.multiply(rows, left), BatchedDense, dense_of(rows) @ dense_of(left)),
        (algebra.multiply(other_rows, rows), BatchedDense, dense_of(other_rows) @ dense_of(rows)),
        (algebra.scale(left, 3.0), BatchedKron, 3.0 * dense_of(left)),
    ]
    for op, kind, expected in cases:
        assert isinstance(op, kind), op
        np.testing.assert_allclose(dense_of(op), expected, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(op.toarray(), expected, rtol=1e-13, atol=1e-13)
    # different member counts do not merge: a lazy product, still right
    two = BatchedKron(RNG.standard_normal((2, 2, 2)), 1)  # 2 members of 2×2: a 4×4 operator
    one = BatchedKron(RNG.standard_normal((1, 2, 2)), RNG.standard_normal((1, 2, 2)))  # 1 member of 4×4
    product = algebra.multiply(two, one)
    assert not isinstance(product, BatchedKron)
    np.testing.assert_allclose(dense_of(product), dense_of(two) @ dense_of(one), rtol=1e-13, atol=1e-13)


def test_batched_operators_invert_blockwise():
    """(A_k ⊗ B_k)⁻¹ = A_k⁻¹ ⊗ B_k⁻¹ member by member: still batched, equal to the dense
    inverse, and J.solve goes through it; singular members are named."""
    K = 3
    A = RNG.standard_normal((K, 2, 2)) + 3.0 * np.eye(2)
    B = RNG.standard_normal((K, 3, 3)) + 3.0 * np.eye(3)
    b = RNG.standard_normal(K * 6)
    for J in (BatchedKron(A, B, -2.0), BatchedKron(2, B, count=K), BatchedKron(A, 3),
              BatchedDense(RNG.standard_normal((K, 4, 4)) + 4.0 * np.eye(4))):
        inverse = J.inv()
        assert type(inverse) is type(J)
        np.testing.assert_allclose(inverse.toarray(), np.linalg.inv(J.toarray()), rtol=1e-12, atol=1e-13)
        rhs = b[:J.shape[0]] if J.shape[0] <= b.size else RNG.standard_normal(J.shape[0])
        np.testing.assert_allclose(J.solve(rhs), np.linalg.solve(J.toarray(), rhs), rtol=1e-12, atol=1e-13)
    singular = A.copy()
    singular[1] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match=r"BatchedKron.inv.*batch index 1"):
        BatchedKron(singular, B).inv()
    with pytest.raises(np.linalg.LinAlgError, match=r"rank is at most 4 < 6"):  # square blocks, rectangular factors
        BatchedKron(RNG.standard_normal((K, 2, 3)), RNG.standard_normal((K, 3, 2))).inv()
    with pytest.raises(ValueError, match=r"BatchedDense.inv: only square blocks"):
        BatchedDense(RNG.standard_normal((K, 2, 3))).inv()


# ----------------------------------------------------- found by the stacks sweep (stop 37)
@pytest.mark.parametrize("f, X", [
    (np.linalg.inv, np.ones((3, 2, 3))), (np.linalg.inv, np.ones((2, 3))), (np.linalg.det, np.ones((2, 3))),
    (lambda a: np.linalg.slogdet(a)[1], np.ones((4, 2, 3))), (lambda a: np.linalg.solve(a, np.ones(2)), np.ones((2, 2, 3))),
], ids=["inv stack", "inv", "det", "slogdet stack", "solve stack"])
def test_a_non_square_matrix_is_numpys_linalg_error(f, X):
    # kronvec raised a plain ValueError, which `except LinAlgError` (NumPy's type) missed
    with pytest.raises(np.linalg.LinAlgError):
        f(X)
    for transformation in (lambda: kronvec.grad(lambda x: np.sum(f(x)))(X), lambda: kronvec.jacobian(f)(X),
                           lambda: kronvec.jvp(f, (X,), (X,))):
        with pytest.raises(np.linalg.LinAlgError, match="square"):
            transformation()


@pytest.mark.parametrize("factor", [0, 1], ids=["U", "P"])
def test_hessian_through_polar_of_a_stack_of_no_member(factor):
    # np.stack of no Lyapunov solve raised inside kronvec/ops/polar.py
    import kronvec.scipy.linalg as kl

    H = kronvec.hessian(lambda a: np.sum(kl.polar(a)[factor]))(np.zeros((0, 2, 2)))
    assert H.shape == (0, 0)


@pytest.mark.parametrize("options", [{}, {"p_indices": True}, {"permute_l": True}], ids=["p", "p_indices", "permute_l"])
def test_lu_of_a_stack_of_no_member_is_scipys(options):
    # SciPy's lu returns empty factors; kronvec's raised lu_factor's "zero-size batches" error
    import scipy.linalg

    import kronvec.scipy.linalg as kl

    a = np.zeros((0, 2, 2))
    ours, theirs = kl.lu(a, **options), scipy.linalg.lu(a, **options)
    assert [x.shape for x in ours] == [x.shape for x in theirs]
    assert [x.dtype for x in ours] == [x.dtype for x in theirs]
    assert kronvec.jacobian(lambda a: kl.lu(a, **options)[-1])(a).shape == (0, 0)
