"""A Kron beside a commutation matrix in a Product, applied in one pass (CommutedKron).

``(A ⊗ B)·K`` and ``K·(A ⊗ B)`` are the Jacobians of ``A @ X.T``-like expressions
(``einsum("ij,kj->ik", A, X)`` is ``(I ⊗ A)·K``).  A Product applies such a pair as one
unit, reading the vector's transpose as a view instead of copying it (issue 12).  Each
product here is checked against the dense matrix built from the definitions —
``np.kron`` and K_{m,n} vec X = vec Xᵀ written entry by entry — never against the
operator itself, in every application (matvec, rmatvec, matmat, rmatmat) and by the
dot test.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import scipy.sparse as sp

import kronvec
from kronvec import Commutation, Dense, Diag, Identity, Kron, Product, Sparse
from kronvec.operators.kron import CommutedKron

from _helpers import commutation_dense, dot_test

EXACT = 1e-12  # a few products of O(1) numbers per entry: far below any wrong index's O(1)


def _factor(kind, shape, rng):
    """(operator, its dense matrix) for a factor of the given kind and shape."""
    M = rng.standard_normal(shape)
    if kind == "identity":
        return Identity(shape[0]), np.eye(shape[0])
    if kind == "diag":
        d = rng.standard_normal(shape[0])
        return Diag(d), np.diag(d)
    if kind == "sparse":
        M[np.abs(M) < 0.5] = 0.0
        return Sparse(sp.csr_array(M)), M
    return Dense(M), M


KINDS = ["dense", "identity", "diag", "sparse"]


def _kron(kind_a, kind_b, shape_a, shape_b, scale, rng):
    (A, A_dense), (B, B_dense) = _factor(kind_a, shape_a, rng), _factor(kind_b, shape_b, rng)
    return Kron(A, B, scale), scale * np.kron(A_dense, B_dense)


def _check(op, oracle, rng):
    np.testing.assert_allclose(op.matvec(v := rng.standard_normal(op.shape[1])), oracle @ v, rtol=EXACT, atol=EXACT)
    np.testing.assert_allclose(op.rmatvec(w := rng.standard_normal(op.shape[0])), oracle.T @ w,
                               rtol=EXACT, atol=EXACT)
    V = rng.standard_normal((op.shape[1], 3))
    np.testing.assert_allclose(op.matmat(V), oracle @ V, rtol=EXACT, atol=EXACT)
    W = rng.standard_normal((op.shape[0], 2))
    np.testing.assert_allclose(op.rmatmat(W), oracle.T @ W, rtol=EXACT, atol=EXACT)
    np.testing.assert_allclose(op.toarray(), oracle, rtol=EXACT, atol=EXACT)
    dot_test(op, rng)


@pytest.mark.parametrize("kind_a", KINDS)
@pytest.mark.parametrize("kind_b", KINDS)
@pytest.mark.parametrize("scale", [1.0, -2.5])
def test_a_kron_times_a_commutation_is_applied_fused(kind_a, kind_b, scale):
    rng = np.random.default_rng(zlib.crc32(f"{kind_a} {kind_b} {scale}".encode()))
    shape_a = (3, 3) if kind_a in ("identity", "diag") else (4, 3)
    shape_b = (2, 2) if kind_b in ("identity", "diag") else (5, 2)
    kron, dense = _kron(kind_a, kind_b, shape_a, shape_b, scale, rng)
    (pa, qa), (pb, qb) = shape_a, shape_b
    right = Product([kron, Commutation(qa, qb)])  # (A ⊗ B)·K_{qa,qb}
    left = Product([Commutation(pb, pa), kron])  # K_{pb,pa}·(A ⊗ B)
    assert isinstance(right._last_unit[0], CommutedKron) and right._last_unit[0].commuted == "input"
    assert isinstance(left._last_unit[0], CommutedKron) and left._last_unit[0].commuted == "output"
    _check(right, dense @ commutation_dense(qa, qb), rng)
    _check(left, commutation_dense(pb, pa) @ dense, rng)
    # the transposes pair the other way round
    _check(right.T, (dense @ commutation_dense(qa, qb)).T, rng)
    _check(left.T, (commutation_dense(pb, pa) @ dense).T, rng)


def test_pairs_inside_longer_products_and_both_sides_of_one_kron():
    rng = np.random.default_rng(3)
    kron, dense = _kron("dense", "dense", (3, 4), (2, 5), 1.0, rng)
    other = Dense(rng.standard_normal((20, 6)))
    other_dense = other.M
    K_in, K_out = Commutation(4, 5), Commutation(2, 3)
    for factors, oracle in (
        ([K_out, kron, K_in], commutation_dense(2, 3) @ dense @ commutation_dense(4, 5)),
        ([K_out, kron, K_in, other], commutation_dense(2, 3) @ dense @ commutation_dense(4, 5) @ other_dense),
        ([Dense(np.ones((2, 6))), K_out, kron, other], np.ones((2, 6)) @ commutation_dense(2, 3) @ dense @ other_dense),
    ):
        op = Product(factors)
        assert any(isinstance(unit, CommutedKron) for unit in op._units)
        _check(op, oracle, rng)


def test_a_commutation_of_the_wrong_shape_is_applied_on_its_own():
    # K_{5,4} has as many rows as (A ⊗ B) has columns (20) but reads the vector as 5×4,
    # not as the Kron's 4×5 (qa × qb): no fusion, and still the right product
    rng = np.random.default_rng(4)
    kron, dense = _kron("dense", "dense", (3, 4), (2, 5), 1.0, rng)
    op = Product([kron, Commutation(5, 4)])
    assert not isinstance(op._last_unit[0], CommutedKron)
    _check(op, dense @ commutation_dense(5, 4), rng)


def test_identity_factors_never_hand_back_the_input():
    rng = np.random.default_rng(5)
    op = Product([Kron(Identity(1), Identity(6)), Commutation(1, 6)])  # the identity, fused
    x = rng.standard_normal(6)
    y = op.matvec(x)
    np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(y, x)
    column = x.reshape(-1, 1)
    assert not np.shares_memory(op.matmat(column), column)


def test_the_jacobian_of_a_times_x_transposed_is_fused_and_right():
    rng = np.random.default_rng(6)
    A, X = rng.standard_normal((4, 3)), rng.standard_normal((5, 3))
    for f in (lambda x: np.einsum("ij,kj->ik", A, x), lambda x: A @ x.T):
        J = kronvec.jacobian(f)(X)
        assert isinstance(J, Product) and isinstance(J._last_unit[0], CommutedKron)
        oracle = np.kron(np.eye(5), A) @ commutation_dense(5, 3)
        _check(J, oracle, rng)
