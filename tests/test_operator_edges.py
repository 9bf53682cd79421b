"""Edge cases of the structured operators found by the adversarial sweep tests/sweeps/operators.py:
SciPy sparse operands, results that aliased their input, zero right-hand-side columns, pickling a
Sylvester inverse, sizes and index maps that were truncated, division by zero, unpickled operators
that could be written, and a solver's NaN direction blamed on the Hessian."""

import copy
import re
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import kronvec.optimize as kvo
from kronvec._vec import vec_stack_columns
from kronvec.operators import (BatchedDense, BatchedKron, Commutation, Contraction, Dense, Diag, Duplication, Elimination,
                               Identity, Kron, KroneckerSum, Selection, Sparse, Wrapped)

RNG = np.random.default_rng(20261205)
A23, B32 = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 2))


def _operators():
    return [Kron(A23, B32), Kron(A23, B32).T @ Kron(A23, B32) + Identity(6), Selection([0, 2, 2, 5], 6).T,
            Commutation(2, 3), Diag(np.arange(6.0))]


@pytest.mark.parametrize("op", _operators(), ids=lambda op: op.formula())
@pytest.mark.parametrize("fmt", ["csr_array", "csr_matrix", "coo_array"])
def test_sparse_operand_of_matvec_and_matmat_is_its_dense_columns(op, fmt):
    # was: TypeError "got dtype object" (np.asarray wraps a sparse matrix in a 0-d object array)
    x = RNG.standard_normal((op.shape[1], 1)) * (RNG.random((op.shape[1], 1)) < 0.5)
    y = RNG.standard_normal((op.shape[0], 2))
    make = getattr(sp, fmt)
    D = op.toarray()
    np.testing.assert_allclose(op.matvec(make(x)), D @ x, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(op.matmat(make(x)), D @ x, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(op.rmatmat(make(y)), D.T @ y, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(op.rmatvec(make(y[:, :1])), D.T @ y[:, :1], rtol=1e-13, atol=1e-13)
    if fmt == "coo_array":  # a 1-D sparse array is a vector of shape (n,)
        np.testing.assert_allclose(op.matvec(sp.coo_array(x[:, 0])), D @ x[:, 0], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("m, n", [(1, 4), (4, 1), (1, 1)])
@pytest.mark.parametrize("transpose", [False, True])
def test_commutation_that_is_an_identity_returns_a_new_array(m, n, transpose):
    # K₁,ₙ = Kₘ,₁ = I: its transposed view was contiguous already, and the caller's X came back
    K = Commutation(m, n).T if transpose else Commutation(m, n)
    X = RNG.standard_normal((m * n, 3))
    x = X[:, 0].copy()
    for result, operand in ((K.matmat(X), X), (K.matvec(x), x), (K @ X, X), (K.rmatvec(x), x)):
        assert not np.may_share_memory(result, operand)
        kept = operand.copy()
        result[...] = np.nan
        np.testing.assert_array_equal(operand, kept)


@pytest.mark.parametrize("op", [BatchedKron(RNG.standard_normal((3, 2, 3)), RNG.standard_normal((3, 4, 1))),
                                BatchedKron(2, 3, count=4), BatchedDense(RNG.standard_normal((4, 2, 3))),
                                Wrapped(spla.aslinearoperator(A23))],
                         ids=["BatchedKron", "BatchedKron identities", "BatchedDense", "Wrapped"])
def test_no_columns(op):
    # was: "cannot reshape array of size 0 into shape (0)" (vec_stack_columns' -1 with no columns)
    assert op.matmat(np.zeros((op.shape[1], 0))).shape == (op.shape[0], 0)
    assert op.rmatmat(np.zeros((op.shape[0], 0))).shape == (op.shape[1], 0)


def test_vec_stack_columns_without_columns():
    assert vec_stack_columns(np.zeros((2, 3, 4, 0))).shape == (24, 0)


class _OnlyMatvec(spla.LinearOperator):
    """A SciPy operator defining _matvec and _rmatvec alone: SciPy stacks the columns of a matmat."""

    def __init__(self):
        super().__init__(np.float64, (3, 2))

    def _matvec(self, x):
        return A23.T @ x

    def _rmatvec(self, x):
        return A23 @ x


def test_wrapped_scipy_operator_without_columns():
    op = Wrapped(_OnlyMatvec())
    assert op.matmat(np.zeros((2, 0))).shape == (3, 0)
    assert op.T.matmat(np.zeros((3, 0))).shape == (2, 0)
    np.testing.assert_allclose(op.toarray(), A23.T, rtol=1e-15)


@pytest.mark.parametrize("clone", [lambda op: pickle.loads(pickle.dumps(op)), copy.deepcopy], ids=["pickle", "deepcopy"])
def test_sylvester_inverse_pickles(clone):
    # was: TypeError "cannot pickle 'fortran' object" (the solver held LAPACK's trsyl)
    P = RNG.standard_normal((3, 3)) + 4 * np.eye(3)
    Q = RNG.standard_normal((2, 2)) + 4 * np.eye(2)
    inverse = KroneckerSum(P, Q).inv()
    dense = np.linalg.inv(np.kron(np.eye(2), P) + np.kron(Q.T, np.eye(3)))
    copied = clone(inverse)
    np.testing.assert_allclose(copied.toarray(), dense, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(copied.T.toarray(), dense.T, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("build, error, words", [
    (lambda: Selection([0.5, 1.0], 3), TypeError, "integer index map"),  # was: [0, 1] (truncated)
    (lambda: Selection(np.array([True, False]), 2), TypeError, "integer index map"),  # was: [1, 0]
    (lambda: Identity(2.5), TypeError, "Identity(n) needs an integer size"),  # was: I₂
    (lambda: Commutation(2.0, 3), TypeError, "Commutation(m, n) needs an integer size"),
    (lambda: Elimination(-1), ValueError, "Elimination(n) needs a size >= 0"),  # was: a 0×1 "L-₁"
    (lambda: Duplication(-1), ValueError, "Duplication(n) needs a size >= 0"),  # was: NumPy's "negative dimensions"
    (lambda: Selection([0], 2.5), TypeError, "Selection(index, ncols)"),
])
def test_sizes_and_index_maps_are_integers(build, error, words):
    with pytest.raises(error, match=re.escape(words)):
        build()


def test_integer_like_sizes_still_work():
    assert Identity(np.int64(3)).shape == (3, 3)
    assert Commutation(np.int32(2), 3).shape == (6, 6)
    assert Selection(np.array([], dtype=float), 3).shape == (0, 3)  # (an empty map has no entries to truncate)
    assert Selection(np.array([2, 0], dtype=np.uint8), 3).toarray()[0, 2] == 1.0


def test_division_by_zero_names_the_operator():
    with pytest.raises(ZeroDivisionError, match=r"Kron / 0: .*shape \(6, 6\)"):
        Kron(A23, B32) / 0
    np.testing.assert_allclose((Kron(A23, B32) / 4).toarray(), np.kron(A23, B32) / 4, rtol=1e-15)


@pytest.mark.parametrize("op", [Dense(A23), Diag(np.arange(3.0)), Sparse(sp.csr_array(A23)), Selection([1, 0], 2),
                                Kron(A23, B32), BatchedKron(RNG.standard_normal((2, 2, 2)), 2),
                                Contraction([RNG.standard_normal((2, 3, 2))], ["bij"], "bjk", "bik",
                                            {"b": 2, "i": 3, "j": 2, "k": 2})],
                         ids=lambda op: type(op).__name__)
@pytest.mark.parametrize("clone", [lambda op: pickle.loads(pickle.dumps(op)), copy.deepcopy], ids=["pickle", "deepcopy"])
def test_loaded_operators_stay_read_only(op, clone):
    # unpickled arrays came back writeable: op.M[0, 0] = … changed a loaded operator
    copied = clone(op)
    np.testing.assert_array_equal(copied.toarray(), op.toarray())
    arrays = [value for value in vars(copied).values() if isinstance(value, np.ndarray)]
    arrays += [item for value in vars(copied).values() if type(value) is tuple  # (a Contraction's operands)
               for item in value if isinstance(item, np.ndarray)]
    arrays += [copied.S.data, copied.S.indices, copied.S.indptr] if isinstance(copied, Sparse) else []
    arrays += [copied.A.M, copied.B.M] if isinstance(copied, Kron) else []
    assert arrays
    for array in arrays:
        with pytest.raises(ValueError, match="read-only"):
            array[(0,) * array.ndim] = 1e9
    np.testing.assert_array_equal(copied.toarray(), op.toarray())


def test_hessp_names_a_non_finite_direction():
    # SciPy's trust-krylov passes NaN directions once its Lanczos process breaks down; the error
    # blamed "the Hessian-vector product" (kronvec's) instead of naming the direction
    obj = kvo.objective(lambda X: np.sum(X ** 2), (2, 2))
    p = np.array([np.nan, 0.0, 1.0, np.inf])
    with pytest.raises(ValueError, match=r"direction p of shape \(4,\) with 2 non-finite entries"):
        obj.hessp(np.ones(4), p)
    np.testing.assert_allclose(obj.hessp(np.ones(4), np.arange(4.0)), 2 * np.arange(4.0), rtol=1e-15)


def _square_operators():
    P = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
    Q = RNG.standard_normal((2, 2)) + 3 * np.eye(2)
    d = np.arange(1.0, 7.0)
    return [Kron(P, Q), Dense(np.kron(P, Q)), Kron(P, Q) + Commutation(3, 2), Diag(d), Commutation(3, 2),
            (Kron(P, Q) @ Diag(d)).T, -2 * (Kron(P, Q) @ Diag(d)), KroneckerSum(P, Q).inv(),
            Kron(Identity(2), P) + Kron(Q, Identity(3)), BatchedKron(np.stack([P, P.T]), 1)]


@pytest.mark.parametrize("op", _square_operators(), ids=lambda op: type(op).__name__ + " " + op.formula())
@pytest.mark.parametrize("fmt", ["csr_array", "csr_matrix"])
def test_solve_with_a_sparse_right_hand_side(op, fmt):
    # was: IndexError (Kron), "got b of shape ()" (np.asarray of a sparse b) or a lazy Product
    # returned in place of x (inverse.dot(b) of a sparse b is an operator)
    b = RNG.standard_normal((6, 2))
    x = op.solve(getattr(sp, fmt)(b))
    assert type(x) is np.ndarray and x.shape == (6, 2)
    np.testing.assert_allclose(op.toarray() @ x, b, rtol=1e-10, atol=1e-10)
    assert op.solve(np.zeros((6, 0))).shape == (6, 0)
