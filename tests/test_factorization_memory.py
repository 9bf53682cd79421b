"""What the factorizations' Jacobians hold, and eigvalsh's one reduction (issue 13:
"< 4 n² · 8 bytes extra memory" and "< 3× the factorization" at n = 2000; measured by
benchmarks/measure_factorizations.py, not asserted here).

What is checked:

* ``Commutation`` holds (m, n) only: no index array is stored, its ``index`` (made on
  demand) is the commutation permutation, and its products, dense and sparse forms are
  those of the gather ``x[index]`` bit for bit (m ≠ n, m or n of 0 and 1 included);
* ``HalvedLowerMask`` Φₙ equals ``Diag(vec φ)`` (φ = 1 below the diagonal, ½ on it) bit for
  bit in matvec, matmat, transpose, dense and sparse forms, float32 and float64, n = 0…5,
  passes the dot test, refuses a negative size and an inverse by name;
* the Jacobian of cholesky (both triangles) holds no array but L and L⁻¹ (vec φ and K's
  indices are gone), and still equals central differences along symmetric directions;
* eigvalsh inside a differentiation call reduces A once (np.linalg.eigh is never called)
  and its value equals ``np.linalg.eigvalsh`` to the last bit (n = 2 … 130, across
  LAPACK's blocked cut-over); its Jacobian and gradient equal the ones built
  from ``np.linalg.eigh``'s vectors to rounding; UPLO='U', float32 (NumPy computes it in
  float64), stacks, 1×1 and a matrix syevd would scale keep NumPy's two calls and values.
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec
from kronvec._vec import commutation_index, vec
from kronvec.operators import Commutation, Dense, Diag, HalvedLowerMask, Selection, algebra
from kronvec.ops._support import plain_value

from _helpers import assert_canonical_csr, central_difference_jacobian, dense_of, dot_test, jacobian_and_peak_memory


# ------------------------------------------------------------------ Commutation
@pytest.mark.parametrize("m, n", [(0, 3), (1, 4), (4, 1), (2, 3), (3, 2), (5, 5)])
def test_commutation_holds_its_sizes_only_and_acts_as_the_gather(m, n):
    rng = np.random.default_rng(m * 10 + n)
    K = Commutation(m, n)
    assert "index" not in vars(K), "the index map is stored"
    np.testing.assert_array_equal(K.index, commutation_index(m, n))
    gather = Selection(commutation_index(m, n), m * n)
    X = rng.standard_normal((m * n, 3))
    for x in (X, np.asfortranarray(X), X[:, 0]):
        got = K.matmat(x) if x.ndim == 2 else K.matvec(x)
        np.testing.assert_array_equal(got, x[commutation_index(m, n)])
    np.testing.assert_array_equal(K.toarray(), gather.toarray())
    np.testing.assert_array_equal(K.tosparse().toarray(), gather.toarray())
    np.testing.assert_array_equal(K.T.toarray(), gather.toarray().T)
    assert K.is_identity == (m <= 1 or n <= 1)
    if m * n:
        dot_test(K, rng)
        M = rng.standard_normal((m, n))
        np.testing.assert_array_equal(K.matvec(vec(M)), vec(M.T))


# ------------------------------------------------------------------ Φₙ
def _phi(n):
    phi = np.tril(np.ones((n, n)), -1) + 0.5 * np.eye(n)
    return vec(phi)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_halved_lower_mask_is_diag_of_vec_phi_bit_for_bit(n, dtype):
    rng = np.random.default_rng(n)
    P = HalvedLowerMask(n, dtype)
    D = Diag(_phi(n).astype(dtype))
    assert P.shape == D.shape and P.dtype == dtype and not P.carries_data
    np.testing.assert_array_equal(P.diagonal(), D.d)
    X = rng.standard_normal((n * n, 4)).astype(dtype)
    np.testing.assert_array_equal(P.matmat(X), D.matmat(X))
    np.testing.assert_array_equal(P.T.matmat(X), D.matmat(X))
    if n:
        C = rng.standard_normal((n, n)).astype(dtype)
        out = P.matvec(vec(C)).reshape(n, n, order="F")
        np.testing.assert_array_equal(out, np.tril(C, -1) + np.diag(np.diag(C)) / 2)
        dot_test(P, rng)
    np.testing.assert_array_equal(P.toarray(), D.toarray())
    np.testing.assert_array_equal(P.toarray(), dense_of(P))
    sparse = P.tosparse()
    assert_canonical_csr(sparse, P.shape, P.dtype)
    np.testing.assert_array_equal(sparse.toarray(), D.toarray())
    assert sparse.nnz == P.nnz_bound == n * (n + 1) // 2
    assert P.formula() == "Φ" + "₀₁₂₃₄₅"[n]


def test_halved_lower_mask_in_sums_and_products_and_its_errors():
    rng = np.random.default_rng(1)
    n = 4
    M = rng.standard_normal((n * n, n * n))
    op = algebra.add(algebra.multiply(Dense(M), HalvedLowerMask(n)), HalvedLowerMask(n))
    reference = M * _phi(n)[None, :] + np.diag(_phi(n))
    np.testing.assert_allclose(op.toarray(), reference, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(op.tosparse().toarray(), reference, rtol=1e-15, atol=1e-15)
    with pytest.raises(ValueError, match="HalvedLowerMask"):
        HalvedLowerMask(-1)
    with pytest.raises(np.linalg.LinAlgError, match="zero entries"):
        HalvedLowerMask(2).inv()


# ------------------------------------------------------------------ cholesky
def _arrays(op):
    """The arrays an operator tree holds (a Commutation's index is made on demand: not held)."""
    if isinstance(op, Commutation):
        return []
    found = [getattr(op, name) for name in ("M", "d", "v", "index") if isinstance(getattr(op, name, None), np.ndarray)]
    return found + [a for child in op._formula_children() for a in _arrays(child)]


def _spd(n, seed):
    B = np.random.default_rng(seed).standard_normal((n, n))
    return B @ B.T / n + np.eye(n) + np.diag(np.linspace(0.0, 1.0, n))


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_jacobian_holds_the_factor_and_its_inverse_only(upper):
    n = 6
    A = _spd(n, 3)
    f = lambda X: np.linalg.cholesky(X, upper=upper)  # noqa: E731
    J = kronvec.jacobian(f)(A)
    bases = {id(a if a.base is None else a.base): (a if a.base is None else a.base).size for a in _arrays(J)}
    assert sum(bases.values()) == 2 * n * n, f"{J.formula()} holds {sum(bases.values())} numbers"
    assert "Φ₆" in J.formula()
    # the derivative along symmetric directions: that of f(sym(A)) (notes/conventions.md §10)
    numeric = central_difference_jacobian(lambda X: f((X + X.T) / 2), (A,))
    np.testing.assert_allclose(J.toarray(), numeric, rtol=0, atol=1e-7 * np.abs(numeric).max())
    np.testing.assert_allclose(dense_of(J), numeric, rtol=0, atol=1e-7 * np.abs(numeric).max())


@pytest.mark.parametrize("which", [0, 2], ids=["U", "Vh"])
def test_singular_vector_jacobian_holds_the_factors_and_one_gap_matrix(which):
    # U and Vᵀ (the SVD's own) and one k×k array of gap factors, written in vec order
    # and frozen: the Diag takes it as it is (it used to hold a defensive copy of a vec
    # copy of F/c, two more k×k arrays at the build's peak)
    n = 5
    X = np.random.default_rng(8).standard_normal((n, n))
    f = lambda X: np.linalg.svd(X)[which]  # noqa: E731
    J = kronvec.jacobian(f)(X)
    bases = {id(a if a.base is None else a.base): (a if a.base is None else a.base).size for a in _arrays(J)}
    assert sum(bases.values()) <= 3 * n * n + 2 * n, f"{J.formula()} holds {sum(bases.values())} numbers"
    # the build's peak (tracemalloc sees NumPy's buffers): the copy of X, the SVD's U and Vᵀ,
    # the gap factors and one temporary k×k array — 5 n², where it was 6
    m = 300
    Y = np.random.default_rng(9).standard_normal((m, m))
    kronvec.jacobian(f)(Y)  # (first-call costs out of the count)
    _, peak = jacobian_and_peak_memory(f, Y)
    assert peak < 5.5 * 8 * m * m, f"peak {peak / (8 * m * m):.2f} n²"
    numeric = central_difference_jacobian(f, (X,))
    np.testing.assert_allclose(J.toarray(), numeric, rtol=0, atol=1e-7 * np.abs(numeric).max())
    np.testing.assert_allclose(dense_of(J), numeric, rtol=0, atol=1e-7 * np.abs(numeric).max())


def test_the_in_place_triangular_inverse_across_its_recursion():
    from kronvec.ops.factorizations.cholesky_factor import _invert_lower

    for n in (1, 63, 64, 65, 129, 200):
        L = np.linalg.cholesky(_spd(n, n))
        for given in (L, np.asfortranarray(L)):
            W = _invert_lower(given)
            assert W.flags.c_contiguous and np.array_equal(W, np.tril(W))
            np.testing.assert_allclose(W @ L, np.eye(n), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ eigvalsh
def _eigenvalues_seen(f, A, **kwargs):
    """The eigenvalues kronvec computes inside jacobian(f) (a traced value, read back)."""
    seen = []

    def g(X):
        w = np.linalg.eigvalsh(X, **kwargs)
        seen.append(w)
        return f(w)

    J = kronvec.jacobian(g)(A)
    return np.asarray(plain_value(seen[-1])), J


@pytest.mark.parametrize("n", [2, 3, 31, 32, 33, 64, 65, 130])
def test_eigvalsh_value_is_numpys_bit_for_bit_and_eigh_is_not_called(n, monkeypatch):
    A = _spd(n, n)
    expected = np.linalg.eigvalsh(A)
    V = np.linalg.eigh(A)[1]
    calls = []
    original = np.linalg.eigh
    monkeypatch.setattr(np.linalg, "eigh", lambda *a, **k: calls.append(1) or original(*a, **k))
    w, J = _eigenvalues_seen(lambda w: w, A)
    assert not calls, "np.linalg.eigh was called: two reductions"
    np.testing.assert_array_equal(w, expected)
    # J = S_diag·(Vᵀ ⊗ Vᵀ): row i is vec(vᵢvᵢᵀ)ᵀ, whatever the sign of vᵢ
    reference = np.stack([vec(np.outer(V[:, i], V[:, i])) for i in range(n)])
    dense = J.toarray() if n <= 65 else J.matmat(np.eye(n * n)[:, :: n + 1])
    np.testing.assert_allclose(dense, reference if n <= 65 else reference[:, :: n + 1], rtol=0, atol=1e-13)
    value, gradient = kronvec.value_and_grad(lambda X: np.sum(np.log(np.linalg.eigvalsh(X))))(A)
    assert value == np.sum(np.log(expected))
    np.testing.assert_allclose(gradient, np.linalg.inv(A), rtol=0, atol=1e-12 * np.abs(np.linalg.inv(A)).max())


def test_eigvalsh_jacobian_build_peaks_below_four_n_squared():
    # The eigenvectors of the shared reduction: stevd's n² workspace is released before the
    # reflectors are unpacked (they wait packed, half of c), and Q is applied to all of Z in
    # place (ormtr's last n − 1 rows of Z are not contiguous: f2py copied them). The peak,
    # the call's copy of A included, was 4.07 n²; the Jacobian is exact as before.
    m = 300
    A = _spd(m, 5)
    kronvec.jacobian(np.linalg.eigvalsh)(A)  # (first-call costs out of the count)
    J, peak = jacobian_and_peak_memory(np.linalg.eigvalsh, A)
    assert peak < 3.75 * 8 * m * m, f"peak {peak / (8 * m * m):.2f} n²"
    _, V = np.linalg.eigh(A)
    rows = np.stack([np.kron(V[:, i], V[:, i]) for i in range(m)])  # dλᵢ = vᵢᵀ dA vᵢ
    np.testing.assert_allclose(J.toarray(), rows, rtol=0, atol=1e-13)
    for n in (2, 3, 4):  # (no reflector, one, two: the packing's edges)
        B = _spd(n, n)
        _, W = np.linalg.eigh(B)
        np.testing.assert_allclose(kronvec.jacobian(np.linalg.eigvalsh)(B).toarray(),
                                   np.stack([np.kron(W[:, i], W[:, i]) for i in range(n)]), rtol=0, atol=1e-14)


@pytest.mark.parametrize("case", ["UPLO='U'", "float32", "1×1", "scaled below syevd's range", "scaled above",
                                  "a stack"])
def test_eigvalsh_cases_that_keep_numpys_two_calls(case):
    A, kwargs = _spd(5, 9), {}
    if case == "UPLO='U'":
        kwargs = {"UPLO": "U"}
    elif case == "float32":  # (NumPy computes it in float64 and rounds)
        A = A.astype(np.float32)
    elif case == "1×1":
        A = np.array([[2.5]])
    elif case == "scaled below syevd's range":
        A = A * 1e-150
    elif case == "scaled above":
        A = A * 1e150
    else:
        A = np.stack([A, _spd(5, 10)])
    w, J = _eigenvalues_seen(lambda w: w, A, **kwargs)
    np.testing.assert_array_equal(w, np.linalg.eigvalsh(A, **kwargs))
    if A.ndim == 2:
        V = np.linalg.eigh(A, **kwargs)[1]
        reference = np.stack([vec(np.outer(V[:, i], V[:, i])) for i in range(A.shape[0])])
        np.testing.assert_allclose(J.toarray(), reference, rtol=0, atol=1e-13 if A.dtype == np.float64 else 1e-5)


def test_eigvalsh_outside_a_differentiation_is_numpys_call():
    A = _spd(7, 2)
    np.testing.assert_array_equal(kronvec.ops.factorizations.eigvalsh.impl(A, checked=True), np.linalg.eigvalsh(A))


# ------------------------------------------------------------------ the product, built directly
@pytest.mark.parametrize("n", [1, 2, 4])
def test_the_symmetrized_product_is_what_the_laws_build(n):
    # _symmetrized_product skips algebra.multiply's law lookups for n ≥ 2: the same tree
    from kronvec.operators import Identity, Kron
    from kronvec.ops._symmetric_directions import _symmetrized_product, _symmetrizer

    rng = np.random.default_rng(n)
    L, W = Dense(rng.standard_normal((n, n))), Dense(rng.standard_normal((n, n)))
    factors = (Kron(Identity(n), L), HalvedLowerMask(n), Kron(W, W))
    direct = _symmetrized_product(n, *factors)
    by_laws = algebra.multiply(factors[0], algebra.multiply(factors[1], algebra.multiply(factors[2], _symmetrizer(n))))
    assert direct.formula() == by_laws.formula()
    assert type(direct) is type(by_laws)
    np.testing.assert_array_equal(direct.toarray(), by_laws.toarray())
    np.testing.assert_allclose(dense_of(direct), by_laws.toarray(), rtol=0, atol=1e-13)
