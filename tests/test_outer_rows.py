"""Direct dense assembly of (I ⊗ A)·Diag(vec F)·(B ⊗ C)[·(I + K)] (issue 13: the dense
Jacobians of cholesky and of eigh's eigenvectors, kronvec/operators/_outer_rows.py).

What is checked: the Jacobians of cholesky (both triangles, NumPy's and SciPy's
spelling) and of eigh's eigenvectors (both UPLO) are recognized (else the fast
path would silently go untested) and their ``toarray()`` equals the generic
materialization (the operator applied to I, ``_helpers.dense_of``) and central
differences of f(sym(A)) — the derivative along symmetric directions kronvec
gives (notes/conventions.md §10) — for n = 1, 2, 3, 5 and one size in the numba
kernel; the dense matrix satisfies J·K = J (it sees only sym(dA)); ``.T.toarray()``,
``tosparse()`` and a sum with another term (the accumulating path) agree; random
rectangular products of the recognized shapes, in float64 and float32, in NumPy
and in the kernel, equal their generic materialization; other shapes are left
to the generic path.  P_j = A·diag(F[:, j])·C, made by one batched product, equals
its definition; at a repeated eigenvalue the Jacobian of eigh's eigenvectors at a
kernel size raises LinAlgError naming the gap (never NaN).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

import kronvec
from kronvec import config
from kronvec._vec import vec
from kronvec.operators import Commutation, Dense, Diag, Identity, Kron, Product, Sparse, algebra
from kronvec.operators._outer_rows import OuterRows, match
from kronvec.scipy import linalg as kl

from _helpers import central_difference_jacobian, commutation_dense, dense_of, peak_memory

FD_RTOL = 1e-6  # h = 1e-6 on O(1), well-conditioned factorizations (as tests/test_factorizations.py)
EXACT_RTOL = 1e-13  # the same sums in another order: rounding only


def spd(n, seed):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, n))
    # eigenvalues spread over [1, 2] plus a ramp: gaps of order 1/n (eigh's derivative is finite)
    return B @ B.T / (4 * n) + np.eye(n) + np.diag(np.linspace(0.0, 1.0, n))


def sym(A):
    return (A + A.T) / 2


FACTORIZATIONS = {
    "cholesky": np.linalg.cholesky,
    "cholesky upper": lambda A: np.linalg.cholesky(A, upper=True),
    "scipy cholesky (upper)": lambda A: kl.cholesky(A),
    "scipy cholesky lower": lambda A: kl.cholesky(A, lower=True),
    "eigh eigenvectors": lambda A: np.linalg.eigh(A)[1],
    "eigh eigenvectors UPLO='U'": lambda A: np.linalg.eigh(A, UPLO="U")[1],
}
PLAIN = {  # the same functions through NumPy/SciPy, for finite differences
    "cholesky": np.linalg.cholesky,
    "cholesky upper": lambda A: np.linalg.cholesky(A, upper=True),
    "scipy cholesky (upper)": lambda A: scipy.linalg.cholesky(A),
    "scipy cholesky lower": lambda A: scipy.linalg.cholesky(A, lower=True),
    "eigh eigenvectors": lambda A: np.linalg.eigh(A)[1],
    "eigh eigenvectors UPLO='U'": lambda A: np.linalg.eigh(A, UPLO="U")[1],
}


def _relative(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def _product(J):
    """The Product inside 0.5·(…) (the Jacobians are scaled by N's ½)."""
    return J.operator if hasattr(J, "operator") else J


@pytest.mark.parametrize("name", FACTORIZATIONS)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_dense_jacobian_equals_generic_path_and_finite_differences(name, n):
    A = spd(n, n)
    J = kronvec.jacobian(FACTORIZATIONS[name])(A)
    if n > 1:
        assert match(_product(J)) is not None, f"{J.formula()} not recognized: the fast path went untested"
    dense = J.toarray()
    np.testing.assert_allclose(dense, dense_of(J), rtol=0, atol=EXACT_RTOL * np.abs(dense).max())
    numeric = central_difference_jacobian(lambda X: PLAIN[name](sym(X)), (A,))
    np.testing.assert_allclose(dense, numeric, rtol=0, atol=FD_RTOL * np.abs(numeric).max())


@pytest.mark.parametrize("name", FACTORIZATIONS)
def test_dense_jacobian_in_the_kernel(name):
    # 23⁴ = 279841 entries ≥ the default numba_min_entries (2¹⁸): the kernel writes it;
    # the override sends the same operator through NumPy, and both must agree
    n = 23
    A = spd(n, 7)
    J = kronvec.jacobian(FACTORIZATIONS[name])(A)
    assert match(_product(J))._uses_numba()
    dense = J.toarray()
    assert dense.flags.c_contiguous and dense.dtype == np.float64
    generic = dense_of(J)
    assert _relative(dense, generic) < EXACT_RTOL
    with config.override(numba_min_entries=1 << 40):
        assert not match(_product(J))._uses_numba()
        assert _relative(J.toarray(), generic) < EXACT_RTOL
    # along symmetric directions only: J K = J
    K = commutation_dense(n, n)
    assert _relative(dense @ K, dense) < EXACT_RTOL
    # one column by central differences of f(sym(A)) along a symmetric direction
    rng = np.random.default_rng(1)
    E = rng.standard_normal((n, n))
    h = 1e-6
    f = PLAIN[name]
    numeric = vec(f(sym(A + h * E)) - f(sym(A - h * E))) / (2 * h)
    np.testing.assert_allclose(dense @ vec(E), numeric, rtol=0, atol=FD_RTOL * np.abs(numeric).max())


@pytest.mark.parametrize("numba_min_entries", [0, 1 << 40])
@pytest.mark.parametrize("name", ["cholesky", "cholesky upper", "eigh eigenvectors"])
def test_transpose_sparse_and_accumulating_paths(name, numba_min_entries):
    n = 4
    A = spd(n, 3)
    with config.override(numba_min_entries=numba_min_entries):
        J = kronvec.jacobian(FACTORIZATIONS[name])(A)
        generic = dense_of(J)
        # the transposed target (an F-ordered view) and the CSR (built through the dense matrix)
        assert _relative(J.T.toarray(), generic.T) < EXACT_RTOL
        assert _relative(J.tosparse().toarray(), generic) < EXACT_RTOL
        # with another term: accumulated into the result, not written over it
        other = np.random.default_rng(2).standard_normal(J.shape)
        total = algebra.add(algebra.scale(J, -2.0), Dense(other))
        assert _relative(total.toarray(), -2.0 * generic + other) < EXACT_RTOL
        assert _relative(total.T.toarray(), (-2.0 * generic + other).T) < EXACT_RTOL


def _random_product(rng, m, p, q, r, s, head, symmetrized, dtype, weighted=False):
    A, B, C = (rng.standard_normal(shape).astype(dtype) for shape in ((m, p), (q, s), (p, r)))
    d = rng.standard_normal(p * q).astype(dtype)
    # (0/1 factors in the same dtype: a float64 K or I would make the product float64)
    factors = [Kron(Identity(q, dtype), Dense(A), scale=1.5)] if head == "I ⊗ A" else \
        [Kron(Dense(A), Identity(q, dtype), scale=1.5), Commutation(p, q, dtype)]
    factors += [Diag(d), Kron(Dense(B), Dense(C), scale=-0.5)]
    if symmetrized:
        factors.append(algebra.add(Identity(r * s, dtype), Commutation(r, s, dtype)))
    if weighted:  # a column scaling after I + K (what a non-symmetric input's reading becomes)
        factors.append(Diag(rng.standard_normal(r * s).astype(dtype)))
    product = Product(factors)
    assert product.dtype == dtype  # (so that the float32 cases test the float32 write)
    return product


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("numba_min_entries", [0, 1 << 40])
@pytest.mark.parametrize("head", ["I ⊗ A", "(A ⊗ I)·K"])
@pytest.mark.parametrize("shape, symmetrized, weighted", [  # (m, p, q, r, s); I + K needs r = s
    ((2, 3, 4, 5, 1), False, False), ((3, 2, 1, 4, 4), False, False), ((3, 2, 1, 4, 4), True, False),
    ((1, 1, 1, 1, 1), True, False), ((4, 3, 2, 3, 3), False, False), ((4, 3, 2, 3, 3), True, False),
    ((2, 0, 3, 2, 2), True, False), ((3, 2, 1, 4, 4), True, True), ((4, 3, 2, 3, 3), True, True),
    ((2, 0, 3, 2, 2), True, True)])
def test_rectangular_products_of_the_recognized_shape(shape, head, symmetrized, weighted, numba_min_entries,
                                                      dtype):
    m, p, q, r, s = shape
    rng = np.random.default_rng(sum(shape))
    P = _random_product(rng, m, p, q, r, s, head, symmetrized, dtype, weighted)
    form = match(P)
    assert form is not None and form.symmetrized == symmetrized
    assert (form.column_weights is not None) == weighted
    generic = dense_of(P)
    tolerance = 1e-5 if dtype == np.float32 else EXACT_RTOL  # float32: rounding of single precision
    with config.override(numba_min_entries=numba_min_entries):
        dense = P.toarray()
        assert dense.dtype == P.dtype and dense.shape == P.shape
        np.testing.assert_allclose(dense, generic, rtol=0, atol=tolerance * max(1.0, np.abs(generic).max()))
        np.testing.assert_allclose(P.T.toarray(), generic.T, rtol=0, atol=tolerance * max(1.0, np.abs(generic).max()))


@pytest.mark.parametrize("numba_min_entries", [0, 1 << 40])
@pytest.mark.parametrize("name", FACTORIZATIONS)
@pytest.mark.parametrize("n", [3, 23])
def test_dense_jacobian_at_a_non_symmetric_input(name, n, numba_min_entries):
    # NumPy and SciPy read one triangle of a non-symmetric input, and kronvec differentiates
    # what they read (notes/conventions.md §10): the chain rule appends that reading's
    # Jacobian, D + K·D', which the laws fold into a column scaling after I + K, and the
    # direct assembly writes it (it took the generic path before: 37 ms instead of 2.5 ms
    # at n = 32).  Checked against the generic path and central differences of f itself.
    A = spd(n, n + 11)
    A = A + np.triu(np.random.default_rng(n).standard_normal((n, n)), 1) * 0.1  # not symmetric
    with config.override(numba_min_entries=numba_min_entries):
        J = kronvec.jacobian(FACTORIZATIONS[name])(A)
        form = match(_product(J))
        assert form is not None and form.column_weights is not None, f"{J.formula()} not recognized"
        dense = J.toarray()
        assert _relative(dense, dense_of(J)) < EXACT_RTOL
        assert _relative(J.T.toarray(), dense_of(J).T) < EXACT_RTOL
    rng = np.random.default_rng(1)
    E = rng.standard_normal((n, n))
    h = 1e-6
    f = PLAIN[name]
    numeric = vec(f(A + h * E) - f(A - h * E)) / (2 * h)
    np.testing.assert_allclose(dense @ vec(E), numeric, rtol=0, atol=FD_RTOL * np.abs(numeric).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 1), (4, 3, 2, 3, 3), (3, 2, 1, 4, 4), (2, 0, 3, 2, 2)])
def test_p_is_a_diag_f_c_for_every_column_of_f(shape, dtype):
    # P[j] = A·diag(F[:, j])·C (derivatives.md §30), written (q, m, r) by one batched matmul,
    # in the form's dtype (built directly: _random_product's Python-float scales make float64)
    m, p, q, r, s = shape
    rng = np.random.default_rng(sum(shape) + 1)
    A, B, C = (rng.standard_normal(shape).astype(dtype) for shape in ((m, p), (q, s), (p, r)))
    d = rng.standard_normal(p * q).astype(dtype)
    form = OuterRows(A, Diag(d), B, C, 1.0, False, False, dtype)
    F = d.astype(np.float64).reshape(q, p).T  # d = vec F (column-major)
    expected = np.stack([A.astype(np.float64) @ np.diag(F[:, j]) @ C.astype(np.float64)
                         for j in range(q)]).reshape(q, m, r)
    P = form._p()
    assert P.shape == (q, m, r) and P.dtype == dtype
    tolerance = 1e-5 if dtype == np.float32 else EXACT_RTOL
    np.testing.assert_allclose(P, expected, rtol=0, atol=tolerance * max(1.0, np.abs(expected).max()))


def test_eigenvectors_at_a_repeated_eigenvalue_are_loud_at_a_kernel_size():
    # the same policy as the operator's (tests/test_factorizations.py), at an order whose
    # dense matrix the kernel would write: LinAlgError naming the gap before any writing
    n = 23
    Q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((n, n)))
    values = np.linspace(1.0, 2.0, n)
    values[7] = values[8]
    A = sym((Q * values) @ Q.T)
    with pytest.raises(np.linalg.LinAlgError, match=r"np\.linalg\.eigh: repeated eigenvalues .*gap"):
        kronvec.jacobian(lambda X: np.linalg.eigh(X)[1])(A).toarray()


def test_other_shapes_are_left_to_the_generic_path():
    rng = np.random.default_rng(5)
    n = 3
    M = lambda *shape: Dense(rng.standard_normal(shape))  # noqa: E731
    d = Diag(rng.standard_normal(n * n))
    symmetrizer = algebra.add(Identity(n * n), Commutation(n, n))
    not_recognized = [
        Product([Kron(M(n, n), M(n, n)), d, Kron(M(n, n), M(n, n))]),  # head is not I ⊗ A
        Product([Kron(Identity(n), M(n, n)), Kron(M(n, n), M(n, n)), d]),  # no diagonal in the middle
        Product([Kron(Identity(n), M(n, n)), d, Kron(M(n, n), M(n, n)), symmetrizer, d, d]),  # two factors more
        Product([Kron(Identity(n), M(n, n)), d, Kron(M(n, n), M(n, n)), symmetrizer,
                 M(n * n, n * n)]),  # after I + K a factor that is not a diagonal
        Product([Kron(Identity(n), M(n, n)), d, Kron(M(n, n), M(n, n)), d]),  # a diagonal without I + K
        Product([Kron(Identity(n), M(n, n)), d, Kron(M(n, n), M(n, n)),
                 algebra.add(Identity(n * n), Identity(n * n))]),  # not I + K
        # (A ⊗ I₃)·K₃,₂ with A 3×2: the commutation matrix that does not undo the head's (K₂,₃ would)
        Product([Kron(M(3, 2), Identity(3)), Commutation(3, 2), Diag(rng.standard_normal(6)), Kron(M(3, 3), M(2, 3))]),
        Product([Kron(Identity(n), Sparse(scipy.sparse.random(n, n, density=0.5, random_state=1, format="csr"))),
                 d, Kron(M(n, n), M(n, n))]),  # a sparse A
    ]
    for P in not_recognized:
        if not hasattr(P, "factors"):
            continue  # a law simplified it: nothing to recognize
        assert match(P) is None, P.formula()
        assert P._direct_dense_workspace() is None
        np.testing.assert_allclose(P.toarray(), dense_of(P), rtol=0, atol=1e-13 * np.abs(dense_of(P)).max())


def test_peak_memory_of_the_dense_jacobian_is_the_result_and_a_few_n_cubed():
    n = 24
    A = spd(n, 11)
    J = kronvec.jacobian(lambda X: np.linalg.eigh(X)[1])(A)
    J.toarray()  # compiled and warm
    dense, peak = peak_memory(J.toarray)
    assert peak <= dense.nbytes + 8 * 8 * n ** 3, f"peak {peak} for a {dense.nbytes}-byte result"
    assert peak <= J.dense_peak_nbytes, (peak, J.dense_peak_nbytes)


def test_the_measurement_script_runs():
    # benchmarks/measure_factorization_jacobians.py --quick: both thread settings; every
    # contender checked first (exit status 1 on a wrong answer); JAX and PyTorch are
    # optional there (skipped with a note when missing), hence the subprocess timeout only
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "measure_factorization_jacobians.py"
    done = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| cholesky |", "| eigh eigenvectors |"))]
    assert len(rows) == 4, done.stdout  # two Jacobians × two thread settings
