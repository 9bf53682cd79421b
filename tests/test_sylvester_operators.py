"""The Kronecker sum I ⊗ A + Bᵀ ⊗ I, its inverse by Sylvester solves, and Sum.inv /
Sum.solve of Kron(I, A) + Kron(B, I) (kronvec/operators/sylvester.py).

Tolerances: structured against dense to 1e-12 relative (a Sylvester solve is backward
stable: its error is eps times the condition of the well-conditioned sums used here)."""

from __future__ import annotations

import numpy as np
import pytest

from kronvec.operators import Dense, Identity, Kron, KroneckerSum, Sum, SylvesterInverse, algebra
from kronvec.operators.sylvester import as_kronecker_sum

from _helpers import assert_scaled_close, dense_of, dot_test

RTOL = 1e-12


def _pair(seed, m=4, n=3):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, m)) + 3.0 * np.eye(m)
    B = rng.standard_normal((n, n)) + 3.0 * np.eye(n)
    return A, B


def _dense_sum(A, B):
    return np.kron(np.eye(B.shape[0]), A) + np.kron(B.T, np.eye(A.shape[0]))


def test_the_kronecker_sum_is_vec_of_a_x_plus_x_b():
    A, B = _pair(0)
    S = KroneckerSum(Dense(A, name="A"), Dense(B, name="B"))
    assert S.formula() == "I₃ ⊗ A + Bᵀ ⊗ I₄"
    assert_scaled_close(S.toarray(), _dense_sum(A, B), RTOL, "toarray")
    assert_scaled_close(dense_of(S), S.toarray(), RTOL, "matmat(I)")
    X = np.random.default_rng(1).standard_normal((4, 3))
    assert_scaled_close(S.matvec(X.ravel(order="F")), (A @ X + X @ B).ravel(order="F"), RTOL, "matvec")
    assert_scaled_close(S.T.toarray(), _dense_sum(A, B).T, RTOL, "transpose")
    dot_test(S, np.random.default_rng(2))


def test_its_inverse_is_a_sylvester_solve_and_its_transpose_the_transposed_solve():
    A, B = _pair(3)
    S_inv = KroneckerSum(A, B).inv()
    assert isinstance(S_inv, SylvesterInverse)
    expected = np.linalg.inv(_dense_sum(A, B))
    assert_scaled_close(S_inv.toarray(), expected, RTOL, "inverse")
    assert_scaled_close(S_inv.T.toarray(), expected.T, RTOL, "transposed inverse")
    assert S_inv.T.solver is S_inv.solver  # one pair of Schur forms for both directions
    dot_test(S_inv, np.random.default_rng(4))
    dot_test(S_inv.T, np.random.default_rng(5))
    assert_scaled_close(S_inv.inv().toarray(), _dense_sum(A, B), RTOL, "inv of the inverse")
    b = np.random.default_rng(6).standard_normal((12, 2))
    assert_scaled_close(S_inv.solve(b), _dense_sum(A, B) @ b, RTOL, "solve of the inverse")
    assert S_inv.formula() == "inv(I₃ ⊗ M₁ + M₂ᵀ ⊗ I₄)"


def test_a_lyapunov_operator_shares_one_schur_form():
    A, _ = _pair(7)
    S_inv = KroneckerSum(A, A.T).inv()
    assert S_inv.solver.U is S_inv.solver.V
    assert_scaled_close(S_inv.toarray(), np.linalg.inv(_dense_sum(A, A.T)), RTOL, "Lyapunov inverse")


def _sums(A, B):
    m, n = A.shape[0], B.shape[0]
    Bt = B.T
    return {
        "I ⊗ A + Bᵀ ⊗ I": (Kron(Identity(n), A) + Kron(Bt, Identity(m)), _dense_sum(A, B)),
        "Bᵀ ⊗ I + I ⊗ A": (Kron(Bt, Identity(m)) + Kron(Identity(n), A), _dense_sum(A, B)),
        "2(I ⊗ A) − 0.5(Bᵀ ⊗ I)": (2.0 * Kron(Identity(n), Dense(A)) - 0.5 * Kron(Dense(Bt), Identity(m)),
                                   _dense_sum(2.0 * A, -0.5 * B)),
        "I ⊗ A + Bᵀ ⊗ I + 3I": (algebra.add(Kron(Identity(n), A) + Kron(Bt, Identity(m)), 3.0 * Identity(m * n)),
                                _dense_sum(A + 3.0 * np.eye(m), B)),
        "I ⊗ A + I ⊗ A + Bᵀ ⊗ I (two left terms)": (
            Sum([Kron(Identity(n), A), Kron(Identity(n), A), Kron(Bt, Identity(m))]), _dense_sum(2.0 * A, B)),
        "I ⊗ A alone (B = 0) plus a scaled identity": (
            algebra.add(Kron(Identity(n), A), Identity(m * n)), _dense_sum(A + np.eye(m), np.zeros((n, n)))),
    }


@pytest.mark.parametrize("case", list(_sums(*_pair(0))))
def test_a_sum_of_kron_i_a_and_kron_b_i_is_inverted_by_a_sylvester_solve(case):
    A, B = _pair(8)
    S, dense = _sums(A, B)[case]
    assert isinstance(S, Sum), type(S)
    assert_scaled_close(S.toarray(), dense, RTOL, f"{case}: toarray")
    inverse = S.inv()
    expected = np.linalg.inv(dense)
    assert_scaled_close(inverse.toarray(), expected, 1e-11, f"{case}: inv")
    assert_scaled_close(inverse.T.toarray(), expected.T, 1e-11, f"{case}: inv ᵀ")
    dot_test(inverse, np.random.default_rng(9))
    b = np.random.default_rng(10).standard_normal(dense.shape[0])
    assert_scaled_close(S.solve(b), np.linalg.solve(dense, b), 1e-11, f"{case}: solve")
    assert_scaled_close(S.T.inv().toarray(), expected.T, 1e-11, f"{case}: the transposed sum's inverse")


def test_a_sum_that_is_no_kronecker_sum_still_says_so():
    A, B = _pair(11, 3, 3)
    S = Kron(Dense(A), Dense(B)) + Kron(Identity(3), Dense(B))
    assert as_kronecker_sum(S) is None
    with pytest.raises(TypeError, match="Sum has no structured inverse"):
        S.inv()
    # solve falls back to the dense LU of the 9×9 matrix (StructuredOperator.dense_solve)
    b = np.arange(1.0, 10.0)
    np.testing.assert_allclose(S.solve(b), np.linalg.solve(S.toarray(), b), rtol=1e-10)


def test_a_singular_kronecker_sum_raises_linalgerror():
    A = np.diag([1.0, 2.0])
    B = np.diag([-2.0, 3.0])  # A and −B share the eigenvalue 2
    S = Kron(Identity(2), A) + Kron(B.T, Identity(2))
    with pytest.raises(np.linalg.LinAlgError, match="KroneckerSum.inv.*common eigenvalue"):
        S.solve(np.ones(4))


def test_shapes_are_checked():
    A, B = _pair(12)
    with pytest.raises(ValueError, match="square"):
        KroneckerSum(np.ones((2, 3)), B)
    with pytest.raises(ValueError, match="rows"):
        KroneckerSum(A, B).solve(np.ones(5))
