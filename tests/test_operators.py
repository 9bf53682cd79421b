"""Every structured operator against an independent dense oracle.

For each operator class a hypothesis strategy builds the operator *and* its
dense matrix from the definitions (``np.kron`` for Kron, loops over the
defining index formulas for K/D/L and selections, plain arrays for the
leaves).  The properties then check ``toarray``, ``tosparse``, ``matvec``/
``rmatvec``/``matmat``/``rmatmat``, ``.T``, the dot test, ``dense_nbytes``,
memory order, dtypes and shape errors against that oracle — never the
operator against itself.

Comparison tolerance: the operators compute each entry with a handful of
floating-point products and sums of O(1) data (at most ~4 factors of size
≤ 4), so they differ from the oracle by a few ulps (≲ 1e-14); ``TOL`` allows
1e-12, far below the O(1) error of any wrong index or transpose.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given
from hypothesis import strategies as st

import kronvec
from kronvec import (
    Commutation,
    Dense,
    Diag,
    Duplication,
    Elimination,
    Identity,
    Kron,
    Product,
    RowVector,
    Scaled,
    Selection,
    Sparse,
    Sum,
    Zero,
)
from kronvec._vec import unvec, vec

from _helpers import (
    assert_canonical_csr,
    assert_unchanged,
    commutation_dense,
    dense_of,
    dot_test,
    duplication_dense,
    elimination_dense,
    selection_dense,
    vech,
)

TOL = dict(rtol=1e-12, atol=1e-12)

SEEDS = st.integers(0, 2**32 - 1)
DIM = st.integers(0, 4)  # 0-size, 1×1 and rectangular shapes all appear
SCALES = st.sampled_from([1.0, -1.0, 2.5, -0.75])


# --------------------------------------------------------------------------
# strategies: (operator, dense oracle) pairs
# --------------------------------------------------------------------------


def _sparse_values(rng, shape):
    """A random matrix with about half its entries exactly zero."""
    return rng.standard_normal(shape) * (rng.random(shape) < 0.5)


def _split(draw, N):
    """A factorization N = a·b (N = 0 gives (0, b) or (a, 0))."""
    if N == 0:
        return draw(st.sampled_from([(0, 1), (1, 0), (0, 2), (2, 0)]))
    a = draw(st.sampled_from([d for d in range(1, N + 1) if N % d == 0]))
    return a, N // a


def _leaf(draw, rng, kind, rows, cols):
    """An operator of kind `kind` and shape (rows, cols), with its oracle."""
    if kind == "dense":
        M = rng.standard_normal((rows, cols))
        return Dense(M, name="M"), M.copy()
    if kind == "sparse":
        M = _sparse_values(rng, (rows, cols))
        return Sparse(sp.csr_array(M), name="S"), M
    if kind == "zero":
        return Zero((rows, cols)), np.zeros((rows, cols))
    if kind == "identity":
        assert rows == cols
        return Identity(rows), np.eye(rows)
    if kind == "diag":
        assert rows == cols
        d = _sparse_values(rng, rows) + (rng.random(rows) < 0.5)
        return Diag(d), np.diag(d)
    if kind == "commutation":
        assert rows == cols
        m, n = _split(draw, rows)
        return Commutation(m, n), commutation_dense(m, n)
    if kind == "kron":
        pa, pb = _split(draw, rows)
        qa, qb = _split(draw, cols)
        A, B = rng.standard_normal((pa, qa)), _sparse_values(rng, (pb, qb))
        scale = draw(SCALES)
        return Kron(A, Sparse(sp.csr_array(B)), scale), scale * np.kron(A, B)
    raise AssertionError(kind)


RECTANGULAR_KINDS = ["dense", "sparse", "zero", "kron"]
SQUARE_KINDS = RECTANGULAR_KINDS + ["identity", "diag", "commutation"]


def _any_operator(draw, rng, rows, cols):
    kinds = SQUARE_KINDS if rows == cols else RECTANGULAR_KINDS
    return _leaf(draw, rng, draw(st.sampled_from(kinds)), rows, cols)


@st.composite
def identity_cases(draw):
    n = draw(DIM)
    return Identity(n), np.eye(n)


@st.composite
def zero_cases(draw):
    shape = (draw(DIM), draw(DIM))
    return Zero(shape), np.zeros(shape)


@st.composite
def dense_cases(draw):
    rng = np.random.default_rng(draw(SEEDS))
    M = rng.standard_normal((draw(DIM), draw(DIM)))
    return Dense(M, name="M"), M.copy()


@st.composite
def sparse_cases(draw):
    rng = np.random.default_rng(draw(SEEDS))
    M = _sparse_values(rng, (draw(DIM), draw(DIM)))
    fmt = draw(st.sampled_from(["csr", "csc", "coo"]))
    return Sparse(sp.csr_array(M).asformat(fmt)), M


@st.composite
def diag_cases(draw):
    rng = np.random.default_rng(draw(SEEDS))
    d = _sparse_values(rng, draw(st.integers(0, 5)))
    return Diag(d), np.diag(d)


@st.composite
def rowvector_cases(draw):
    rng = np.random.default_rng(draw(SEEDS))
    v = _sparse_values(rng, draw(st.integers(0, 6)))
    return RowVector(v), v.reshape(1, -1)


FACTOR_KINDS = ["dense", "sparse", "identity"]


def _kron_factor(draw, rng, kind):
    if kind == "identity":
        n = draw(DIM)
        return Identity(n), np.eye(n)
    p, q = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    if kind == "dense":
        M = rng.standard_normal((p, q))
        return Dense(M, name="A"), M.copy()
    M = _sparse_values(rng, (p, q))
    return Sparse(sp.csr_array(M), name="S"), M


@st.composite
def kron_cases(draw):
    rng = np.random.default_rng(draw(SEEDS))
    A, A_dense = _kron_factor(draw, rng, draw(st.sampled_from(FACTOR_KINDS)))
    B, B_dense = _kron_factor(draw, rng, draw(st.sampled_from(FACTOR_KINDS)))
    scale = draw(SCALES)
    return Kron(A, B, scale), scale * np.kron(A_dense, B_dense)


@st.composite
def structured_kron_cases(draw):
    """Krons whose factors are themselves structured (commutations, nested Krons)."""
    rng = np.random.default_rng(draw(SEEDS))
    m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    inner = Kron(Commutation(m, n), Identity(2))
    inner_dense = np.kron(commutation_dense(m, n), np.eye(2))
    M = rng.standard_normal((draw(st.integers(1, 3)), draw(st.integers(1, 3))))
    if draw(st.booleans()):
        return Kron(inner, M), np.kron(inner_dense, M)
    return Kron(M, inner), np.kron(M, inner_dense)


#: (fixed operands' labels, input labels, output labels): a matrix product, a chain, a
#: diagonal read, row-wise dot products, a label summed in the input alone, an
#: outer product, a trace against a matrix.  (Their transposes place on diagonals
#: and broadcast, so the properties cover those too.)
CONTRACTION_TEMPLATES = [("ij", "jk", "ik"), ("ij,kl", "jk", "il"), ("", "ii", "i"), ("ij", "ij", "i"),
                         ("ijk", "jl", "ki"), ("i", "jk", "ijk"), ("ij", "jj", "")]


@st.composite
def contraction_cases(draw):
    from kronvec.operators import Contraction

    rng = np.random.default_rng(draw(SEEDS))
    fixed_spec, in_labels, out_labels = draw(st.sampled_from(CONTRACTION_TEMPLATES))
    fixed_labels = fixed_spec.split(",") if fixed_spec else []
    sizes = {label: draw(DIM) for label in "ijkl"}
    fixed = [rng.standard_normal([sizes[c] for c in labels]) for labels in fixed_labels]
    op = Contraction(fixed, fixed_labels, in_labels, out_labels, sizes)
    in_shape = [sizes[c] for c in in_labels]
    columns = []  # column c: the einsum of the fixed operands with the unit array e_c
    for c in range(int(np.prod(in_shape))):
        unit = np.zeros(int(np.prod(in_shape)))
        unit[c] = 1.0
        value = np.einsum(",".join([*fixed_labels, in_labels]) + "->" + out_labels, *fixed, unvec(unit, in_shape))
        columns.append(vec(value))
    rows = int(np.prod([sizes[c] for c in out_labels]))
    return op, np.stack(columns, axis=1) if columns else np.zeros((rows, 0))


@st.composite
def commutation_cases(draw):
    m, n = draw(DIM), draw(DIM)
    return Commutation(m, n), commutation_dense(m, n)


@st.composite
def duplication_cases(draw):
    n = draw(DIM)
    return Duplication(n), duplication_dense(n)


@st.composite
def elimination_cases(draw):
    n = draw(DIM)
    return Elimination(n), elimination_dense(n)


@st.composite
def _selection_data(draw):
    ncols = draw(st.integers(0, 5))
    if ncols == 0:
        return [], 0
    return draw(st.lists(st.integers(0, ncols - 1), max_size=6)), ncols


@st.composite
def selection_cases(draw):
    index, ncols = draw(_selection_data())
    return Selection(np.array(index, dtype=np.intp), ncols), selection_dense(index, ncols)


@st.composite
def selection_transpose_cases(draw):
    index, ncols = draw(_selection_data())
    return Selection(np.array(index, dtype=np.intp), ncols).T, selection_dense(index, ncols).T


@st.composite
def sum_cases(draw):
    rng = np.random.default_rng(draw(SEEDS))
    rows, cols = draw(DIM), draw(DIM)
    pairs = [_any_operator(draw, rng, rows, cols) for _ in range(draw(st.integers(1, 3)))]
    return Sum([op for op, _ in pairs]), sum(dense for _, dense in pairs)


@st.composite
def product_cases(draw):
    rng = np.random.default_rng(draw(SEEDS))
    rows = draw(DIM)
    ops, dense = [], np.eye(rows)
    for _ in range(draw(st.integers(1, 3))):
        cols = draw(DIM) if draw(st.booleans()) else rows  # square factors too
        op, op_dense = _any_operator(draw, rng, rows, cols)
        ops.append(op)
        dense = dense @ op_dense
        rows = cols
    return Product(ops), dense


@st.composite
def scaled_cases(draw):
    rng = np.random.default_rng(draw(SEEDS))
    rows, cols = draw(DIM), draw(DIM)
    op, dense = _any_operator(draw, rng, rows, cols)
    alpha = draw(st.sampled_from([-1.0, 0.5, 3.0, -2.25]))
    return Scaled(alpha, op), alpha * dense


CASES = {
    "Identity": identity_cases(),
    "Zero": zero_cases(),
    "Dense": dense_cases(),
    "Sparse": sparse_cases(),
    "Diag": diag_cases(),
    "RowVector": rowvector_cases(),
    "Kron": kron_cases(),
    "Kron[structured factors]": structured_kron_cases(),
    "Commutation": commutation_cases(),
    "Duplication": duplication_cases(),
    "Elimination": elimination_cases(),
    "Selection": selection_cases(),
    "SelectionTranspose": selection_transpose_cases(),
    "Sum": sum_cases(),
    "Product": product_cases(),
    "Scaled": scaled_cases(),
    "Contraction": contraction_cases(),
}
NAMES = list(CASES)


def _rng(data):
    return np.random.default_rng(data.draw(SEEDS, label="rng seed"))


# --------------------------------------------------------------------------
# properties over every operator class
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_toarray_equals_oracle(name, data):
    op, oracle = data.draw(CASES[name], label="case")
    assert op.shape == oracle.shape
    dense = op.toarray()
    assert isinstance(dense, np.ndarray) and dense.shape == op.shape
    assert dense.dtype == op.dtype
    np.testing.assert_allclose(dense, oracle, **TOL)
    # the matmat oracle agrees too (it does not go through toarray)
    np.testing.assert_allclose(dense_of(op), oracle, **TOL)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_tosparse_is_canonical_csr_with_same_values(name, data):
    op, oracle = data.draw(CASES[name], label="case")
    S = op.tosparse()
    assert_canonical_csr(S, op.shape, dtype=op.dtype)
    np.testing.assert_allclose(S.toarray(), oracle, **TOL)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_matvec_rmatvec_matmat_against_oracle(name, data):
    op, oracle = data.draw(CASES[name], label="case")
    rng = _rng(data)
    m, n = op.shape
    x, y = rng.standard_normal(n), rng.standard_normal(m)
    with assert_unchanged(x, y):
        y1 = op.matvec(x)
        assert y1.shape == (m,)
        np.testing.assert_allclose(y1, oracle @ x, **TOL)
        y2 = op.matvec(x.reshape(n, 1))
        assert y2.shape == (m, 1)
        np.testing.assert_allclose(y2[:, 0], oracle @ x, **TOL)
        z1 = op.rmatvec(y)
        assert z1.shape == (n,)
        np.testing.assert_allclose(z1, oracle.T @ y, **TOL)
        z2 = op.rmatvec(y.reshape(m, 1))
        assert z2.shape == (n, 1)
        np.testing.assert_allclose(z2[:, 0], oracle.T @ y, **TOL)
        np.testing.assert_allclose(op @ x, oracle @ x, **TOL)
    k = data.draw(st.integers(0, 3), label="k")
    X, Y = rng.standard_normal((n, k)), rng.standard_normal((m, k))
    with assert_unchanged(X, Y):
        AX = op.matmat(X)
        assert AX.shape == (m, k)
        np.testing.assert_allclose(AX, oracle @ X, **TOL)
        AtY = op.rmatmat(Y)
        assert AtY.shape == (n, k)
        np.testing.assert_allclose(AtY, oracle.T @ Y, **TOL)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_transpose_equals_dense_transpose(name, data):
    op, oracle = data.draw(CASES[name], label="case")
    T = op.T
    assert isinstance(T, kronvec.StructuredOperator)
    assert T.shape == oracle.T.shape
    np.testing.assert_allclose(T.toarray(), oracle.T, **TOL)
    np.testing.assert_allclose(dense_of(T), oracle.T, **TOL)
    np.testing.assert_allclose(op.T.T.toarray(), oracle, **TOL)
    np.testing.assert_allclose(T.tosparse().toarray(), oracle.T, **TOL)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_dot_test(name, data):
    op, _ = data.draw(CASES[name], label="case")
    rng = _rng(data)
    dot_test(op, rng)
    dot_test(op.T, rng)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_dense_nbytes_is_exact(name, data):
    op, oracle = data.draw(CASES[name], label="case")
    assert op.dense_nbytes == oracle.size * op.dtype.itemsize == op.toarray().nbytes


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_c_and_fortran_ordered_inputs_agree(name, data):
    op, oracle = data.draw(CASES[name], label="case")
    rng = _rng(data)
    m, n = op.shape
    X = rng.standard_normal((n, 3))
    XC, XF = np.ascontiguousarray(X), np.asfortranarray(X)
    # identical values; BLAS may block differently per layout, hence TOL, not equality
    np.testing.assert_allclose(op.matmat(XC), op.matmat(XF), **TOL)
    np.testing.assert_allclose(op.matmat(XF), oracle @ X, **TOL)
    Y = rng.standard_normal((m, 2))
    np.testing.assert_allclose(op.rmatmat(np.asfortranarray(Y)), oracle.T @ Y, **TOL)
    # a non-contiguous column (stride 3 in a C-ordered array) as a vector
    np.testing.assert_allclose(op.matvec(XC[:, 1]), oracle @ X[:, 1], **TOL)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_int_and_float32_right_hand_sides(name, data):
    """A float64 operator returns float64 for int and float32 vectors alike."""
    op, oracle = data.draw(CASES[name], label="case")
    rng = _rng(data)
    m, n = op.shape
    x_int = rng.integers(-3, 4, size=n)
    y = op.matvec(x_int)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, oracle @ x_int, **TOL)
    x32 = rng.standard_normal(n).astype(np.float32)
    assert op.matvec(x32).dtype == np.float64
    assert op.rmatvec(rng.integers(-3, 4, size=m)).dtype == np.float64


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_wrong_shapes_raise_value_error_naming_the_shapes(name, data):
    op, _ = data.draw(CASES[name], label="case")
    m, n = op.shape
    bad_vector = np.ones(n + 1)
    with pytest.raises(ValueError, match=r"shape") as info:
        op.matvec(bad_vector)
    assert str(op.shape) in str(info.value) and str((n + 1,)) in str(info.value)
    with pytest.raises(ValueError) as info:
        op.rmatvec(np.ones(m + 2))
    assert str(op.shape) in str(info.value) and str((m + 2,)) in str(info.value)
    with pytest.raises(ValueError) as info:
        op.matmat(np.ones((n + 1, 2)))
    assert str(op.shape) in str(info.value) and str((n + 1, 2)) in str(info.value)
    with pytest.raises(ValueError) as info:
        op.rmatmat(np.ones(m))  # 1-D is not a matrix
    assert str(op.shape) in str(info.value)
    with pytest.raises(ValueError):
        op.matvec(np.ones((n, 2)))  # two columns are not a vector


# --------------------------------------------------------------------------
# definitions of K, D, L (the oracles themselves are checked against the
# defining identities, so a wrong oracle cannot hide a wrong operator)
# --------------------------------------------------------------------------


@given(m=DIM, n=DIM, seed=SEEDS)
def test_commutation_definition(m, n, seed):
    X = np.random.default_rng(seed).standard_normal((m, n))
    K = Commutation(m, n)
    np.testing.assert_array_equal(commutation_dense(m, n) @ vec(X), vec(X.T))
    np.testing.assert_array_equal(K.matvec(vec(X)), vec(X.T))
    np.testing.assert_array_equal(K.rmatvec(vec(X.T)), vec(X))


@given(n=DIM, seed=SEEDS)
def test_duplication_and_elimination_definitions(n, seed):
    X = np.random.default_rng(seed).standard_normal((n, n))
    S = X + X.T
    np.testing.assert_array_equal(duplication_dense(n) @ vech(S), vec(S))
    np.testing.assert_array_equal(Duplication(n).matvec(vech(S)), vec(S))
    np.testing.assert_array_equal(elimination_dense(n) @ vec(X), vech(X))
    np.testing.assert_array_equal(Elimination(n).matvec(vec(X)), vech(X))
    assert Duplication(n).shape == (n * n, n * (n + 1) // 2)
    assert Elimination(n).shape == (n * (n + 1) // 2, n * n)


def test_vech_is_column_by_column_lower_triangle():
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    # written out by hand: column 0 below the diagonal, then column 1, then 2
    np.testing.assert_array_equal(vech(X), [1.0, 4.0, 7.0, 5.0, 8.0, 9.0])
    np.testing.assert_array_equal(Elimination(3).matvec(vec(X)), [1.0, 4.0, 7.0, 5.0, 8.0, 9.0])


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------


def _float32_operators(rng):
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    A, B = f32(2, 3), f32(3, 2)
    return {
        "Dense": Dense(A),
        "Sparse": Sparse(sp.csr_array(A)),
        "Diag": Diag(f32(4)),
        "RowVector": RowVector(f32(5)),
        "Kron[dense]": Kron(A, B),
        "Kron[sparse]": Kron(Sparse(sp.csr_array(A)), B),
        "Kron[scaled]": -Kron(A, B),
        "Sum": Sum([Kron(A, B), Dense(f32(6, 6))]),
        "Product": Product([Dense(A), Dense(B)]),
        "Scaled": Scaled(2.0, Dense(A)),
        "Product[K·A]": Product([Commutation(2, 3), Dense(f32(6, 6))]),
        "Sum[0 + A]": Sum([Zero((6, 6)), Dense(f32(6, 6))]),
        "Kron[K ⊗ A]": Kron(Commutation(2, 1), A),
        "Identity": Identity(3, dtype=np.float32),
        "Zero": Zero((2, 3), dtype=np.float32),
    }


FLOAT32_NAMES = list(_float32_operators(np.random.default_rng(0)))

_FLOAT32_BUGS = {}  # every float32 leak found so far is fixed; add new ones here as xfails


def _float32_names(method):
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="bug: " + _FLOAT32_BUGS[(method, name)]))
        if (method, name) in _FLOAT32_BUGS else name
        for name in FLOAT32_NAMES
    ]


@pytest.mark.parametrize("name", _float32_names("toarray"))
def test_float32_operators_stay_float32(name, rng):
    op = _float32_operators(rng)[name]
    m, n = op.shape
    x32 = rng.standard_normal(n).astype(np.float32)
    assert op.dtype == np.float32
    assert op.matvec(x32).dtype == np.float32
    assert op.rmatvec(rng.standard_normal(m).astype(np.float32)).dtype == np.float32
    assert op.matmat(np.ones((n, 2), dtype=np.float32)).dtype == np.float32
    assert op.T.dtype == np.float32
    assert op.toarray().dtype == np.float32
    # float64 data comes back as float64 (no silent downcast of the input)
    assert op.matvec(x32.astype(np.float64)).dtype == np.float64
    np.testing.assert_allclose(op.matvec(x32), dense_of(op) @ x32, rtol=1e-5, atol=1e-5)
    # float32 has eps ≈ 1.2e-7; 1e-5 allows a few dozen ulps over sums of ≤ 6 terms


@pytest.mark.parametrize("name", _float32_names("tosparse"))
def test_float32_operators_tosparse_stays_float32(name, rng):
    op = _float32_operators(rng)[name]
    assert op.tosparse().dtype == np.float32


@pytest.mark.parametrize("factors", ["dense ⊗ dense", "I ⊗ dense", "dense ⊗ I", "I ⊗ I", "diag ⊗ sparse"])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_kron_applied_to_many_columns_equals_np_kron(factors, layout, rng):
    # many columns go through two products over all of them (kron.py: _apply_to_columns),
    # on any memory layout of X, never returning (a view of) X, scaled once
    shapes = {"A": (3, 4), "B": (5, 2)}
    make = {
        "dense": lambda shape: Dense(rng.standard_normal(shape)),
        "I": lambda shape: Identity(shape[1]),
        "diag": lambda shape: Diag(rng.standard_normal(shape[1])),
        "sparse": lambda shape: Sparse(sp.random(*shape, density=0.6, random_state=3, format="csr")),
    }
    left, right = factors.split(" ⊗ ")
    for scale in (1.0, -2.5):
        op = Kron(make[left](shapes["A"]), make[right](shapes["B"]), scale=scale)
        X = rng.standard_normal((op.shape[1], 7))
        if layout == "F":
            X = np.asfortranarray(X)
        elif layout == "strided":
            X = rng.standard_normal((op.shape[1], 14))[:, ::2]
        original = X.copy()
        result = op._matmat(X)
        np.testing.assert_allclose(result, op.toarray() @ X, rtol=1e-13, atol=1e-13)
        assert not np.may_share_memory(result, X)
        np.testing.assert_array_equal(X, original)


def test_kron_with_identity_factor_keeps_float32(rng):
    # identities carry no data: I ⊗ A32 is float32, consistently in dtype and toarray
    A32 = rng.standard_normal((2, 3)).astype(np.float32)
    op = Kron(Identity(2), A32)
    assert op.toarray().dtype == op.dtype
    assert op.dtype == np.float32
    assert op.matvec(np.ones(6, dtype=np.float32)).dtype == np.float32


def test_integer_data_is_promoted_to_float64(rng):
    Ai, Bi = rng.integers(-3, 4, size=(2, 3)), rng.integers(-3, 4, size=(3, 2))
    x = rng.integers(-3, 4, size=6)
    ops = {
        "Dense": (Dense(Ai), Ai),
        "Sparse": (Sparse(sp.csr_array(Ai)), Ai),
        "Diag": (Diag(Ai[0]), np.diag(Ai[0])),
        "RowVector": (RowVector(Ai[0]), Ai[:1]),
        "Kron": (Kron(Ai, Bi), np.kron(Ai, Bi)),
        "Kron[bool]": (Kron(Ai > 0, Bi), np.kron(Ai > 0, Bi)),
    }
    for name, (op, oracle) in ops.items():
        assert op.dtype == np.float64, name
        assert op.toarray().dtype == np.float64, name
        assert op.tosparse().dtype == np.float64, name
        np.testing.assert_array_equal(op.toarray(), oracle)
        xs = x[: op.shape[1]]
        assert op.matvec(xs).dtype == np.float64
        np.testing.assert_array_equal(op.matvec(xs), oracle @ xs)


def test_complex_data_is_refused():
    with pytest.raises(TypeError, match="complex"):
        Dense(np.eye(2) * 1j)
    with pytest.raises(TypeError, match="complex"):
        Kron(np.eye(2), np.eye(2)).matvec(np.ones(4) * 1j)


def test_fortran_and_c_ordered_factors_give_equal_operators(rng):
    A, B = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    x = rng.standard_normal(8)
    KC = Kron(np.ascontiguousarray(A), np.ascontiguousarray(B))
    KF = Kron(np.asfortranarray(A), np.asfortranarray(B))
    np.testing.assert_array_equal(KC.toarray(), KF.toarray())
    np.testing.assert_allclose(KC.matvec(x), KF.matvec(x), **TOL)
    np.testing.assert_allclose(KF.matvec(x), np.kron(A, B) @ x, **TOL)
    np.testing.assert_array_equal(Dense(np.asfortranarray(A)).toarray(), A)


# --------------------------------------------------------------------------
# inputs never modified
# --------------------------------------------------------------------------


def test_constructors_and_materializers_never_modify_inputs(rng):
    A, B, d, v = (rng.standard_normal((2, 3)), rng.standard_normal((3, 3)),
                  rng.standard_normal(4), rng.standard_normal(5))
    S = sp.csr_array(_sparse_values(rng, (3, 4)))
    with assert_unchanged(A, B, d, v, S):
        ops = [Dense(A), Diag(d), RowVector(v), Kron(A, B), Kron(S, A), Sparse(S),
               Sum([Kron(A, B), Kron(A, B)]), Scaled(2.0, Dense(A))]
        for op in ops:
            op.toarray()
            op.tosparse()
            op.T.toarray()
            op.matvec(np.ones(op.shape[1]))
    # the operators hold read-only views: they cannot write into the caller's data
    assert A.flags.writeable and d.flags.writeable and v.flags.writeable


def test_sparse_does_not_modify_a_non_canonical_input():
    # Sparse canonicalizes (sum_duplicates) its own copy, never the caller's arrays
    # row 0 has a duplicate (column 1 twice) and is unsorted
    S = sp.csr_array((np.array([1.0, 2.0, 5.0]), np.array([1, 1, 0]), np.array([0, 2, 3])), shape=(2, 2))
    expected = np.array([[0.0, 3.0], [5.0, 0.0]])
    with assert_unchanged(S):
        op = Sparse(S)
    np.testing.assert_array_equal(op.toarray(), expected)


def test_selection_does_not_lock_the_callers_index_array():
    # Selection locks its index read-only; that must be its own copy
    index = np.array([2, 0, 1], dtype=np.intp)
    with assert_unchanged(index):
        Selection(index, 3)
    index[0] = 1  # still the caller's array to modify


def test_selection_is_independent_of_later_changes_to_a_copied_index():
    index = [2, 0, 1]
    S = Selection(index, 3)
    index[0] = 0
    np.testing.assert_array_equal(S.matvec(np.array([10.0, 20.0, 30.0])), [30.0, 10.0, 20.0])


# --------------------------------------------------------------------------
# formulas, errors, memory limits
# --------------------------------------------------------------------------


def test_repr_shows_the_formula(rng):
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    K = Kron(Dense(A, name="A"), Dense(B, name="B"))
    assert K.formula() == "A ⊗ B"
    assert Kron(A, B).formula() == "M₁ ⊗ M₂"  # plain arrays are anonymous
    r = repr(-K)
    assert "-(A ⊗ B)" in r and "6×6" in r and "Kron" in r and "float64" in r
    assert (2 * K).formula() == "2·(A ⊗ B)"
    assert K.T.formula() == "Aᵀ ⊗ Bᵀ"
    assert Kron(Identity(3), Dense(A, name="X")).formula() == "I₃ ⊗ X"
    assert Commutation(2, 3).formula() == "K₂,₃"
    assert Commutation(2, 3).T.formula() == "K₃,₂"
    assert Duplication(3).formula() == "D₃" and Elimination(3).formula() == "L₃"
    assert Identity(4).formula() == "I₄" and Zero((2, 2)).formula() == "0"
    assert Dense(A, name="X").T.formula() == "Xᵀ"
    assert Dense(A, name="X").T.T.formula() == "X"
    assert Sum([K, Dense(np.eye(6), name="M")]).formula() == "A ⊗ B + M"
    assert Sum([K, -K]).formula() == "A ⊗ B - (A ⊗ B)"
    assert Product([K, Commutation(2, 3)]).formula() == "(A ⊗ B)·K₂,₃"
    assert Product([Sum([Dense(A, name="X"), Dense(A, name="Y")]), Dense(B, name="Z")]).formula() == "(X + Y)·Z"
    assert Scaled(-1.0, Sum([Dense(A, name="X"), Dense(A, name="Y")])).formula() == "-(X + Y)"
    assert Kron(Sum([Dense(A, name="X"), Dense(A, name="Y")]), K.B).formula() == "(X + Y) ⊗ B"
    assert Kron(K, K.B).formula() == "(A ⊗ B) ⊗ B"
    assert str(K) == "A ⊗ B"


def test_toarray_refuses_above_the_dense_limit_naming_the_bytes():
    K = Kron(np.ones((10, 10)), np.ones((10, 10)))
    assert K.dense_nbytes == 100 * 100 * 8
    with kronvec.config.override(dense_limit_bytes=K.dense_nbytes - 1):
        with pytest.raises(MemoryError, match="80,000 bytes") as info:
            K.toarray()
        assert "matvec" in str(info.value)
        K.matvec(np.ones(100))  # applying is still fine
    assert K.toarray().shape == (100, 100)  # the limit is restored after the block


def test_tosparse_refuses_above_the_sparse_limit():
    K = Kron(np.ones((10, 10)), np.ones((10, 10)))
    with kronvec.config.override(sparse_limit_bytes=1000):
        with pytest.raises(MemoryError, match="sparse"):
            K.tosparse()


def test_constructor_shape_errors():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        Dense(np.ones(3))
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        Diag(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        Sum([Dense(np.ones((2, 3))), Dense(np.ones((3, 2)))])
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(2, 3\)"):
        Product([Dense(np.ones((2, 3))), Dense(np.ones((2, 3)))])
    with pytest.raises(ValueError, match="out of range"):
        Selection([0, 3], ncols=3)
    with pytest.raises(ValueError):
        Identity(-1)


def test_matmul_with_arrays_and_operators(rng):
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    K, dense = Kron(A, B), np.kron(A, B)
    x, X = rng.standard_normal(6), rng.standard_normal((6, 4))
    np.testing.assert_allclose(K @ x, dense @ x, **TOL)
    np.testing.assert_allclose(K @ X, dense @ X, **TOL)
    np.testing.assert_allclose(K * x, dense @ x, **TOL)
    np.testing.assert_allclose(x @ K, x @ dense, **TOL)
    np.testing.assert_allclose(X.T @ K, X.T @ dense, **TOL)
    with pytest.raises(ValueError, match="scalar"):
        K @ 2.0


# --------------------------------------------------------------------------
# SciPy LinearOperator interoperability
# --------------------------------------------------------------------------


def _spd(rng, n):
    M = rng.standard_normal((n, n))
    return M @ M.T + n * np.eye(n)


def test_scipy_solvers_accept_a_kron(rng):
    A, B = _spd(rng, 3), _spd(rng, 4)
    K, dense = Kron(A, B), np.kron(A, B)
    b = rng.standard_normal(12)
    expected = np.linalg.solve(dense, b)
    # the iterative solvers converge to their own tolerance (1e-10 relative residual,
    # cond(A ⊗ B) < 100 here), so the error is at most ~1e-8 relative
    x_lsqr = spla.lsqr(K, b, atol=1e-12, btol=1e-12, iter_lim=1000)[0]
    np.testing.assert_allclose(x_lsqr, expected, rtol=1e-8, atol=1e-8)
    x_cg, info = spla.cg(K, b, rtol=1e-12, maxiter=1000)
    assert info == 0
    np.testing.assert_allclose(x_cg, expected, rtol=1e-8, atol=1e-8)
    x_gmres, info = spla.gmres(K, b, rtol=1e-12, restart=12, maxiter=100)
    assert info == 0
    np.testing.assert_allclose(x_gmres, expected, rtol=1e-8, atol=1e-8)


def test_rectangular_kron_in_lsqr(rng):
    A, B = rng.standard_normal((4, 2)), rng.standard_normal((3, 2))
    K, dense = Kron(A, B), np.kron(A, B)
    b = rng.standard_normal(12)
    expected = np.linalg.lstsq(dense, b, rcond=None)[0]
    x = spla.lsqr(K, b, atol=1e-13, btol=1e-13, iter_lim=1000)[0]
    np.testing.assert_allclose(x, expected, rtol=1e-8, atol=1e-8)


def test_aslinearoperator(rng):
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    K = Kron(A, B)
    L = spla.aslinearoperator(K)
    assert isinstance(L, spla.LinearOperator)
    assert L.shape == (6, 6) and L.dtype == np.float64
    x, y = rng.standard_normal(6), rng.standard_normal(6)
    np.testing.assert_allclose(L.matvec(x), np.kron(A, B) @ x, **TOL)
    np.testing.assert_allclose(L.rmatvec(y), np.kron(A, B).T @ y, **TOL)
    np.testing.assert_allclose(L.H.matvec(y), np.kron(A, B).T @ y, **TOL)
    np.testing.assert_allclose((L @ np.eye(6)), np.kron(A, B), **TOL)
    assert K.aslinearoperator() is K
    # composed with a plain SciPy operator, still a working LinearOperator
    M = spla.aslinearoperator(np.eye(6) * 2.0)
    np.testing.assert_allclose((M @ L).matvec(x), 2 * np.kron(A, B) @ x, **TOL)
    np.testing.assert_allclose((L + M).matvec(x), (np.kron(A, B) + 2 * np.eye(6)) @ x, **TOL)
    # vec trick itself: (A ⊗ B) vec V = vec(B V Aᵀ)
    V = rng.standard_normal((2, 3))
    np.testing.assert_allclose(K.matvec(vec(V)), vec(B @ V @ A.T), **TOL)
    np.testing.assert_allclose(unvec(K.matvec(vec(V)), (3, 2)), B @ V @ A.T, **TOL)


def test_a_combination_of_float32_structural_operators_is_float32():
    # (it was float64 whatever their dtype: a float32 product through I + K became float64)
    from kronvec.operators import Commutation, Identity, algebra

    for dtype in (np.float32, np.float64):
        combined = algebra.add(Identity(16, dtype), Commutation(4, 4, dtype))
        assert combined.dtype == dtype
        np.testing.assert_array_equal(combined.toarray(), np.eye(16) + Commutation(4, 4).toarray())


def test_in_float32_keeps_exact_structure_and_never_rounds_data():
    from kronvec.operators._precision import in_float32

    exact = Scaled(0.5, Sum([Identity(4), Commutation(2, 2)]))
    narrowed = in_float32(exact)
    assert narrowed.dtype == np.float32 and narrowed.toarray().dtype == np.float32
    np.testing.assert_array_equal(narrowed.toarray(), exact.toarray())
    np.testing.assert_array_equal(in_float32(Diag([1.0, 0.5])).toarray(), np.diag([1.0, 0.5]))
    rounding = Diag([0.1, 1.0])  # 0.1 is not a float32 number: the operator stays float64
    assert in_float32(rounding) is rounding
    assert in_float32(Kron(Identity(2), rounding)).dtype == np.float64


# ----------------------------------------------- products of 0/1 maps stay sparse
def _random_one_per_row_or_column(rng, rows, columns):
    """A random Diag, Selection, SelectionTranspose, Commutation, Sum of two maps or Dense
    of this shape, to chain into Products."""
    from kronvec.operators.selection import SelectionTranspose

    kind = rng.integers(6)
    if kind == 5:  # a Sum of two maps: its rows hold the nonzeros of both
        return Sum([Selection(rng.integers(0, columns, rows), columns),
                    SelectionTranspose(Selection(rng.integers(0, rows, columns), rows))])
    if kind == 0 and rows == columns:
        return Diag(rng.standard_normal(rows))
    if kind == 1:
        return Selection(rng.integers(0, columns, rows), columns)
    if kind == 2:
        return SelectionTranspose(Selection(rng.integers(0, rows, columns), rows))
    if kind == 3 and rows == columns and rows == 6:
        return Commutation(2, 3)
    return Dense(rng.standard_normal((rows, columns)) * (rng.random((rows, columns)) < 0.3))


@pytest.mark.parametrize("seed", range(40))
def test_the_nonzero_bound_of_a_product_bounds_its_nonzeros(seed):
    # composite._nnz_bound: rows of F·R hold ≤ r_F·r_R nonzeros (columns likewise), sums add —
    # checked against the nonzeros of the dense product of random chains of such maps (and
    # of Dense ones, whose rows are full)
    from kronvec.operators import Product

    rng = np.random.default_rng(seed)
    sizes = rng.choice([4, 6, 9], size=rng.integers(3, 6))
    factors = [_random_one_per_row_or_column(rng, int(sizes[k]), int(sizes[k + 1])) for k in range(len(sizes) - 1)]
    product = Product(factors)
    dense = np.linalg.multi_dot([f.toarray() for f in factors]) if len(factors) > 1 else factors[0].toarray()
    assert np.count_nonzero(product.toarray()) <= product.nnz_bound
    if all(not f.is_composite and f.row_nnz_max == 1 for f in factors):  # selections and diagonals: one entry a row at most
        assert product.nnz_bound <= product.shape[0]
    # (the Product associates its factors in its own order: Dense factors round differently)
    np.testing.assert_allclose(product.toarray(), dense, rtol=1e-12, atol=1e-12)


def test_a_selection_of_an_embedding_is_a_selection():
    # algebra._selection_of_an_embedding: S_a S_bᵀ with S_b injective is one 0/1 map (rows
    # of zeros where S_a picks an entry S_b does not place), equal to the dense product;
    # a repeating S_b is left to the lazy Product
    from kronvec.operators import algebra
    from kronvec.operators.selection import SelectionTranspose

    rng = np.random.default_rng(7)
    embedding = Selection(rng.permutation(10)[:6], 10)  # 6 distinct positions of 10
    picks = Selection(rng.integers(0, 10, 8), 10)
    law = algebra.multiply(picks, SelectionTranspose(embedding))
    assert not law.is_composite
    np.testing.assert_array_equal(law.toarray(), picks.toarray() @ embedding.toarray().T)
    inside = Selection(embedding.index[[3, 0, 0, 5]], 10)  # every pick is placed: a Selection
    law = algebra.multiply(inside, SelectionTranspose(embedding))
    assert isinstance(law, Selection)
    np.testing.assert_array_equal(law.toarray(), inside.toarray() @ embedding.toarray().T)
    repeating = Selection([1, 1, 4], 10)
    lazy = algebra.multiply(picks, SelectionTranspose(repeating))
    assert lazy.is_composite
    np.testing.assert_array_equal(lazy.toarray(), picks.toarray() @ repeating.toarray().T)
