"""TriangleFold T_n: vec C ↦ vec(triu(C) + tril(C, −1)ᵀ) (kronvec/operators/triangle.py),
the C − Ω of QR's Jacobian held as its size alone (issue 13: < 4 n² doubles extra).

What is checked: matvec against the definition on matrices, the dense and sparse
matrices against the operator applied to I and against the former construction
Diag(vec U) + K·Diag(vec(1 − U)), the transpose against the upper triangle mirrored
and by the dot test, float32, n = 0…5; QR's Jacobian built with it keeps no n×n
array but Q, R⁻¹ (and R) and still matches central differences.
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec
from kronvec._vec import vec
from kronvec.operators import Commutation, Dense, Diag, TriangleFold, algebra

from _helpers import assert_canonical_csr, central_difference_jacobian, dense_of, dot_test


def unvec(v, n):
    return np.asarray(v).reshape(n, n, order="F")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_the_fold_and_its_transpose(n, dtype):
    rng = np.random.default_rng(n)
    T = TriangleFold(n, dtype)
    assert T.dtype == dtype and T.shape == (n * n, n * n)
    C = rng.standard_normal((n, n)).astype(dtype)
    np.testing.assert_array_equal(unvec(T.matvec(vec(C)), n), np.triu(C) + np.tril(C, -1).T)
    np.testing.assert_array_equal(unvec(T.T.matvec(vec(C)), n), np.triu(C) + np.triu(C, 1).T)
    upper = np.triu(np.ones((n, n)))
    former = algebra.add(Diag(vec(upper)), algebra.multiply(Commutation(n, n), Diag(vec(1.0 - upper))))
    for op, reference in ((T, former), (T.T, former.T)):
        dense = op.toarray()
        np.testing.assert_array_equal(dense, dense_of(op))
        np.testing.assert_array_equal(dense, dense_of(reference))
        sparse = op.tosparse()
        assert_canonical_csr(sparse, op.shape, op.dtype)
        np.testing.assert_array_equal(sparse.toarray(), dense)
        assert sparse.nnz <= op.nnz_bound
    if n:
        dot_test(T, rng)
        dot_test(T.T, rng)
    assert T.formula() == f"T{'₀₁₂₃₄₅'[n]}" and T.T.T.formula() == T.formula()


def test_in_a_sum_and_a_product():
    rng = np.random.default_rng(3)
    n = 4
    M = rng.standard_normal((n * n, n * n))
    op = algebra.add(algebra.scale(algebra.multiply(Dense(M), TriangleFold(n)), 2.0), Dense(M))
    np.testing.assert_allclose(op.toarray(), 2.0 * M @ dense_of(TriangleFold(n)) + M, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(op.T.toarray(), (2.0 * M @ dense_of(TriangleFold(n)) + M).T, rtol=1e-14, atol=1e-14)


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match="TriangleFold"):
        TriangleFold(-1)


def _arrays(op):
    found = [getattr(op, name) for name in ("M", "d", "v", "index") if isinstance(getattr(op, name, None), np.ndarray)]
    return found + [a for child in op._formula_children() for a in _arrays(child)]


@pytest.mark.parametrize("factor", [0, 1])
def test_qr_jacobian_holds_its_factors_and_the_inverse_of_r_only(factor):
    rng = np.random.default_rng(7)
    m, n = 7, 5
    A = rng.standard_normal((m, n)) + np.eye(m, n)
    J = kronvec.jacobian(lambda X: np.linalg.qr(X)[factor])(A)
    assert any(isinstance(leaf, TriangleFold) for leaf in _walk(J))
    bases = {id(a if a.base is None else a.base): (a if a.base is None else a.base).size for a in _arrays(J)}
    # Q and R⁻¹, and R for R's Jacobian: (what the masks and K's indices added, 3 n², is gone)
    allowed = m * n + n * n + (n * n if factor == 1 else 0)
    assert sum(bases.values()) <= allowed, f"{J.formula()} holds {sum(bases.values())} numbers"
    numeric = central_difference_jacobian(lambda X: np.linalg.qr(X)[factor], (A,))
    np.testing.assert_allclose(J.toarray(), numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())


def _walk(op):
    return [op] + [leaf for child in op._formula_children() for leaf in _walk(child)]
