"""kronvec.scipy.linalg's special matrices — block_diag, toeplitz, circulant, hankel:
SciPy's values bit for bit (on plain and traced arguments), every mode against central
differences, 0/1 Jacobians at scale, and the refusal of SciPy's own functions naming them."""

import numpy as np
import pytest
import scipy.linalg

import kronvec
import kronvec.scipy.linalg as klinalg
from tests._helpers import central_difference_jacobian

RNG = np.random.default_rng(17)
X = RNG.standard_normal((3, 4))

# (kronvec's function, SciPy's) of one 3×4 array
CASES = {
    "block_diag of blocks, a row and a constant": (
        lambda f, X: f.block_diag(X, X[0], 2.0 * X[:2, :2], np.ones((1, 2)))),
    "block_diag with an empty block": (lambda f, X: f.block_diag(X, np.zeros((0, 2)), X[1])),
    "block_diag of one block": (lambda f, X: f.block_diag(X.T)),
    "block_diag of batches (SciPy ≥ 1.17)": (lambda f, X: f.block_diag(np.stack([X[:, :2], X[:, 2:]]), X[:2, :1, None])),
    "toeplitz(c)": (lambda f, X: f.toeplitz(X[0])),
    "toeplitz(c, r): r[0] ignored": (lambda f, X: f.toeplitz(X[0], X[1, :3])),
    "toeplitz of a batch (SciPy ≥ 1.17 reads rows)": (lambda f, X: f.toeplitz(X[:2])),
    "toeplitz with a constant row": (lambda f, X: f.toeplitz(X[0], [9.0, 1.0, 2.0])),
    "circulant": (lambda f, X: f.circulant(X[2])),
    "hankel(c)": (lambda f, X: f.hankel(X[0])),
    "hankel(c, r)": (lambda f, X: f.hankel(X[0, :2], X[1])),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_scipys_values_and_every_mode_against_central_differences(case):
    build = CASES[case]
    f = lambda a: build(klinalg, a)  # noqa: E731
    expected = build(scipy.linalg, X)
    plain = f(X)
    assert plain.dtype == expected.dtype
    np.testing.assert_array_equal(plain, expected)  # plain arguments: SciPy's values
    value, pullback = kronvec.vjp(f, X)
    np.testing.assert_array_equal(value, expected)  # traced: the entries themselves, bit for bit
    J = kronvec.jacobian(f)(X).toarray()
    np.testing.assert_allclose(J, central_difference_jacobian(f, (X,)), rtol=1e-7, atol=1e-8)
    W = RNG.standard_normal(expected.shape)
    (g,) = pullback(W)
    np.testing.assert_allclose(np.reshape(g, -1, order="F"), J.T @ np.reshape(W, -1, order="F"), rtol=1e-13)
    V = RNG.standard_normal(X.shape)
    _, t = kronvec.jvp(f, (X,), (V,))
    np.testing.assert_allclose(np.reshape(t, -1, order="F"), J @ np.reshape(V, -1, order="F"), rtol=1e-13)
    s = lambda a: np.sum(np.sin(f(a)))  # noqa: E731  (second order through the composition)
    H = kronvec.hessian(s)(X).toarray()
    np.testing.assert_allclose(H, central_difference_jacobian(kronvec.grad(s), (X,)), rtol=1e-5, atol=1e-7)


def test_jacobians_at_scale_are_selections():
    # n = 1000: a 10⁶-entry Toeplitz or circulant matrix of a 1000-vector has one nonzero per
    # placed entry (from c or r) and none for a structural zero, built and turned sparse
    # without a 10⁶ × 1000 dense matrix; f is linear, so S·1 = vec f(1)
    c = RNG.standard_normal(1000)
    for f, placed in ((lambda c: klinalg.toeplitz(c, -c), 10**6), (klinalg.circulant, 10**6),
                      (lambda c: klinalg.block_diag(c, c[:10]), 1010)):
        S = kronvec.jacobian(f)(c).tosparse()
        assert S.shape == (f(c).size, c.size)
        assert S.nnz == placed
        np.testing.assert_array_equal(S @ np.ones(c.size), np.ravel(f(np.ones_like(c)), order="F"))


def test_scipys_own_functions_name_their_counterparts():
    with pytest.raises(TypeError, match=r"scipy\.linalg\.toeplitz.*kronvec\.scipy\.linalg\.toeplitz"):
        kronvec.grad(lambda x: np.sum(scipy.linalg.toeplitz(x)))(np.ones(3))
    with pytest.raises(TypeError, match=r"kronvec\.scipy\.linalg\.block_diag"):
        kronvec.grad(lambda x: np.sum(scipy.linalg.block_diag(x, x)))(np.ones((2, 2)))
