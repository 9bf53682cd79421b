"""kronvec.sparse and its numba kernels against NumPy/SciPy oracles.

Every public function runs on both paths: plain NumPy (the default for small
results) and the numba kernels (forced with ``numba_min_entries=0``).  The
oracles are ``scipy.sparse.kron`` / scipy's ``+`` (canonicalized) and
``np.kron``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from kronvec import sparse as kvs
from kronvec._config import config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["numpy", "numba"])
def path(request):
    """Run the test body on the NumPy path, then on the numba kernels."""
    threshold = 2**62 if request.param == "numpy" else 0
    with config.override(numba_min_entries=threshold):
        yield request.param


def rng(seed=0):
    return np.random.default_rng(seed)


def as_scipy(factor):
    """The oracle's view of a kron_csr factor (int n → sparse identity)."""
    if isinstance(factor, int):
        return sp.identity(factor, format="csr")
    return factor


def canonical(matrix, dtype=None):
    """scipy's result in canonical form: sorted, summed, no explicit zeros."""
    csr = sp.csr_array(matrix, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.sort_indices()
    if dtype is not None:
        csr = csr.astype(dtype)
    return csr


def assert_canonical(result):
    assert isinstance(result, sp.csr_array)
    assert result.has_canonical_format
    indptr, indices = result.indptr, result.indices
    assert indptr[0] == 0 and indptr[-1] == indices.size == result.data.size
    assert np.all(np.diff(indptr) >= 0)
    # strictly increasing columns inside every row: sorted and no duplicates
    rows = np.repeat(np.arange(result.shape[0]), np.diff(indptr))
    same_row = rows[1:] == rows[:-1]
    assert np.all(np.diff(indices.astype(np.int64))[same_row] > 0)
    if indices.size:
        assert indices.min() >= 0 and indices.max() < result.shape[1]


def assert_same_csr(result, expected):
    """Identical arrays: indptr, indices, data (values compared exactly)."""
    assert_canonical(result)
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result.indptr, expected.indptr)
    np.testing.assert_array_equal(result.indices, expected.indices)
    np.testing.assert_array_equal(result.data, expected.data)


def sparse_with_zeros(shape, seed, density=0.4, dtype=np.float64):
    matrix = sp.random_array(shape, density=density, format="csr", rng=seed, dtype=dtype)
    if matrix.nnz:
        matrix.data[:: max(1, matrix.nnz // 3)] = 0  # explicit zeros must be dropped
    return matrix


def dense_with_zeros(shape, seed, dtype=np.float64):
    values = rng(seed).standard_normal(shape).astype(dtype)
    values[values > 0.8] = 0
    return values


# --------------------------------------------------------------------------
# kron_csr
# --------------------------------------------------------------------------

FACTORS = {
    "identity3": lambda: 3,
    "identity1": lambda: 1,
    "dense4x3": lambda: dense_with_zeros((4, 3), 1),
    "dense1x1": lambda: np.array([[2.5]]),
    "dense2x5": lambda: dense_with_zeros((2, 5), 2),
    "csr5x2": lambda: sparse_with_zeros((5, 2), 3),
    "coo3x6": lambda: sp.random_array((3, 6), density=0.5, format="coo", rng=4),
    "csc_matrix4x4": lambda: sp.csc_matrix(sp.random_array((4, 4), density=0.5, rng=5)),
}


@pytest.mark.parametrize("left", list(FACTORS))
@pytest.mark.parametrize("right", list(FACTORS))
def test_kron_csr_matches_scipy(path, left, right):
    A, B = FACTORS[left](), FACTORS[right]()
    result = kvs.kron_csr(A, B)
    expected = canonical(sp.kron(as_scipy(A), as_scipy(B), format="csr"), dtype=result.dtype)
    assert_same_csr(result, expected)
    assert result.indices.dtype == np.int32 and result.indptr.dtype == np.int32


@pytest.mark.parametrize(
    "A, B",
    [
        (0, np.ones((2, 3))),
        (np.ones((0, 3)), np.ones((2, 2))),
        (np.ones((3, 0)), 4),
        (np.zeros((2, 2)), np.ones((3, 3))),  # all-zero factor: empty product
        (sp.csr_array((3, 4)), 2),
    ],
)
def test_kron_csr_empty(path, A, B):
    result = kvs.kron_csr(A, B)
    expected = canonical(sp.kron(as_scipy(A), as_scipy(B), format="csr"), dtype=result.dtype)
    assert result.nnz == 0
    assert_same_csr(result, expected)


def test_kron_csr_large_enough_for_the_kernel_matches_scipy(path):
    # rows of different lengths on both sides, and both loop orders of the kernel
    A = sp.random_array((40, 30), density=0.2, format="csr", rng=7)
    B = sp.random_array((25, 50), density=0.1, format="csr", rng=8)
    for X, Y in ((A, B), (B, A), (7, A), (A, 7), (A.toarray(), B)):
        assert_same_csr(kvs.kron_csr(X, Y), canonical(sp.kron(as_scipy(X), as_scipy(Y), format="csr")))


@pytest.mark.parametrize(
    "A, B, dtype",
    [
        (np.ones((2, 2), np.float32), 3, np.float32),
        (3, np.ones((2, 2), np.float32), np.float32),
        (np.ones((2, 2), np.float32), np.ones((2, 2), np.float64), np.float64),
        (np.arange(4).reshape(2, 2), 2, np.float64),  # integers become float64
        (np.ones((2, 2), bool), np.ones((1, 1), np.int8), np.float64),
        (2, 3, np.float64),
        (np.ones((2, 2), np.complex64), 2, np.complex64),
    ],
)
def test_kron_csr_dtypes(path, A, B, dtype):
    result = kvs.kron_csr(A, B)
    assert result.dtype == dtype
    np.testing.assert_array_equal(
        result.toarray(), np.kron(as_scipy(A).toarray() if isinstance(A, int) else A,
                                  as_scipy(B).toarray() if isinstance(B, int) else B)
    )


def test_kron_csr_float32_values_exact(path):
    A = dense_with_zeros((5, 4), 11, np.float32)
    B = sparse_with_zeros((3, 6), 12, dtype=np.float32)
    result = kvs.kron_csr(A, B)
    assert result.dtype == np.float32
    assert_same_csr(result, canonical(sp.kron(A, B, format="csr")))


def test_kron_csr_non_canonical_input_is_summed_and_left_untouched(path):
    # duplicates and unsorted columns, plus an explicit zero
    data = np.array([1.0, 2.0, 3.0, 0.0, 5.0])
    indices = np.array([2, 0, 2, 1, 1])
    indptr = np.array([0, 3, 5])
    A = sp.csr_array((data, indices, indptr), shape=(2, 3))
    A.has_canonical_format = False
    before = (A.data.copy(), A.indices.copy(), A.indptr.copy())
    B = dense_with_zeros((3, 2), 13)
    B_before = B.copy()
    result = kvs.kron_csr(A, B)
    assert_same_csr(result, canonical(sp.kron(canonical(A), B, format="csr")))
    for array, saved in zip((A.data, A.indices, A.indptr), before):
        np.testing.assert_array_equal(array, saved)
    np.testing.assert_array_equal(B, B_before)


def test_kron_csr_int64_indices_when_columns_exceed_int32(path):
    # a 1×2**32 row with three nonzeros: tiny in memory, int64 columns needed
    wide = sp.csr_array(
        (np.array([1.0, 2.0, 3.0]), np.array([0, 5, 2**32 - 1], dtype=np.int64), np.array([0, 3])),
        shape=(1, 2**32),
    )
    result = kvs.kron_csr(2, wide)
    assert result.shape == (2, 2**33)
    assert result.indices.dtype == np.int64 and result.indptr.dtype == np.int64
    assert_canonical(result)
    np.testing.assert_array_equal(result.indptr, [0, 3, 6])
    np.testing.assert_array_equal(result.indices, [0, 5, 2**32 - 1, 2**32, 2**32 + 5, 2**33 - 1])
    np.testing.assert_array_equal(result.data, [1.0, 2.0, 3.0, 1.0, 2.0, 3.0])


def test_kron_csr_kernel_with_int64_output_indices():
    """The kernel itself, int32 and int64 outputs, against scipy (no wrapper)."""
    from kronvec import _kernels

    A = sp.random_array((6, 5), density=0.5, format="csr", rng=21)
    B = sp.random_array((4, 7), density=0.5, format="csr", rng=22)
    expected = canonical(sp.kron(A, B, format="csr"))
    for index_dtype in (np.int32, np.int64):
        indptr = expected.indptr.astype(index_dtype)
        indices = np.empty(expected.nnz, dtype=index_dtype)
        data = np.empty(expected.nnz)
        _kernels.kron_csr_fill(
            A.indptr.astype(np.int64), A.indices.astype(np.int64), A.data,
            B.indptr.astype(np.int64), B.indices.astype(np.int64), B.data, np.int64(7),
            indptr, indices, data,
        )
        np.testing.assert_array_equal(indices, expected.indices)
        np.testing.assert_array_equal(data, expected.data)


@pytest.mark.parametrize(
    "nnz, nrows, ncols, expected",
    [
        (0, 0, 0, np.int32),
        (2**31 - 1, 10, 10, np.int32),
        (2**31, 10, 10, np.int64),  # indptr[-1] = nnz no longer fits
        (10, 10, 2**31 - 1, np.int32),
        (10, 10, 2**31, np.int64),  # largest column index would be 2**31 - 1, but scipy
        (10, 2**31, 10, np.int64),  # checks max(shape), so we follow it (no copy)
    ],
)
def test_index_dtype_rule(nnz, nrows, ncols, expected):
    assert kvs._index_dtype(nnz, nrows, ncols) == expected
    # and scipy agrees, so csr_array keeps our arrays without converting
    assert sp.get_index_dtype(maxval=max(nnz, nrows, ncols)) == expected


def test_kron_csr_bad_factors():
    with pytest.raises(ValueError, match="2-D"):
        kvs.kron_csr(np.ones(3), 2)
    with pytest.raises(ValueError, match=">= 0"):
        kvs.kron_csr(-1, 2)
    with pytest.raises(TypeError, match="bool"):
        kvs.kron_csr(True, 2)


def test_kron_csr_refuses_huge_results_before_allocating():
    start = time.perf_counter()
    with pytest.raises(MemoryError, match="matvec"):
        kvs.kron_csr(10**6, 10**6)
    with pytest.raises(MemoryError, match="sparse_limit_bytes"):
        kvs.kron_csr(10**12, np.ones((3, 3)))
    assert time.perf_counter() - start < 0.5
    with config.override(sparse_limit_bytes=1000):
        with pytest.raises(MemoryError):
            kvs.kron_csr(20, np.ones((3, 3)))
        kvs.kron_csr(2, np.ones((3, 3)))  # 18 entries: fine


# --------------------------------------------------------------------------
# sum_csr
# --------------------------------------------------------------------------


def random_terms(count, shape, seed, dtype=np.float64):
    generator = rng(seed)
    return [
        (float(generator.standard_normal()),
         sp.random_array(shape, density=0.3, format="csr", rng=seed + t, dtype=dtype))
        for t in range(count)
    ]


def scipy_sum(terms, dtype):
    total = None
    for scale, matrix in terms:
        scaled = sp.csr_array(matrix, dtype=dtype) * dtype.type(scale)
        total = scaled if total is None else total + scaled
    return canonical(total)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_sum_csr_matches_scipy(path, count):
    terms = random_terms(count, (30, 20), seed=count)
    result = kvs.sum_csr(terms)
    assert result.dtype == np.float64
    expected = scipy_sum(terms, np.dtype(np.float64))
    assert_canonical(result)
    np.testing.assert_array_equal(result.indptr, expected.indptr)
    np.testing.assert_array_equal(result.indices, expected.indices)
    # three or more terms are merged in a tree, so rounding may differ from
    # scipy's left-to-right sum
    np.testing.assert_allclose(result.data, expected.data, rtol=1e-14, atol=1e-15)
    if count <= 2:
        np.testing.assert_array_equal(result.data, expected.data)


def test_sum_csr_drops_exact_cancellations(path):
    A = kvs.kron_csr(3, dense_with_zeros((4, 4), 30))
    B = kvs.kron_csr(dense_with_zeros((4, 4), 31), 3)
    result = kvs.sum_csr([(1.0, A), (-1.0, A), (2.0, B)])  # A - A is exactly empty
    assert_same_csr(result, canonical(2.0 * B))
    empty = kvs.sum_csr([(1.0, A), (-1.0, A)])
    assert empty.nnz == 0 and empty.shape == A.shape
    assert_canonical(empty)
    zero_scale = kvs.sum_csr([(0.0, A)])
    assert zero_scale.nnz == 0


def test_sum_csr_keeps_nan(path):
    A = sp.csr_array(np.array([[np.nan, 1.0], [0.0, 2.0]]))
    result = kvs.sum_csr([(1.0, A), (-1.0, sp.csr_array(np.array([[0.0, 1.0], [0.0, 0.0]])))])
    np.testing.assert_array_equal(result.indices, [0, 1])
    assert np.isnan(result.data[0]) and result.data[1] == 2.0


def test_sum_csr_float32_stays_float32(path):
    terms = random_terms(3, (10, 12), seed=40, dtype=np.float32)
    result = kvs.sum_csr(terms)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.toarray(), scipy_sum(terms, np.dtype(np.float32)).toarray(), rtol=1e-6)
    ints = kvs.sum_csr([(2, sp.csr_array(np.eye(3, dtype=np.int64)))])
    assert ints.dtype == np.float64
    np.testing.assert_array_equal(ints.toarray(), 2 * np.eye(3))


def test_sum_csr_non_canonical_inputs_untouched(path):
    A = sp.coo_array((np.array([1.0, 2.0, 3.0]), (np.array([0, 0, 1]), np.array([1, 1, 0]))), shape=(2, 2))
    B = sp.csr_array((np.array([4.0, 5.0]), np.array([1, 0]), np.array([0, 2, 2])), shape=(2, 2))
    B.has_canonical_format = False
    saved = [array.copy() for array in (A.data, A.row, A.col, B.data, B.indices, B.indptr)]
    result = kvs.sum_csr([(1.0, A), (1.0, B)])
    assert_canonical(result)
    np.testing.assert_array_equal(result.toarray(), [[5.0, 7.0], [3.0, 0.0]])
    for array, before in zip((A.data, A.row, A.col, B.data, B.indices, B.indptr), saved):
        np.testing.assert_array_equal(array, before)


def test_sum_csr_errors():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        kvs.sum_csr([(1.0, sp.csr_array((2, 3))), (1.0, sp.csr_array((3, 2)))])
    with pytest.raises(ValueError, match="at least one"):
        kvs.sum_csr([])
    with pytest.raises(TypeError, match="not a scipy sparse"):
        kvs.sum_csr([(1.0, np.eye(2))])
    with config.override(sparse_limit_bytes=100):
        with pytest.raises(MemoryError, match="matvec"):
            kvs.sum_csr([(1.0, sp.csr_array(np.eye(50)))] * 2)


# --------------------------------------------------------------------------
# kron_dense
# --------------------------------------------------------------------------

DENSE_FACTORS = {
    "identity3": lambda: 3,
    "identity1": lambda: 1,
    "dense4x3": lambda: rng(50).standard_normal((4, 3)),
    "dense1x1": lambda: np.array([[-1.5]]),
    "dense2x5_fortran": lambda: np.asfortranarray(rng(51).standard_normal((2, 5))),
    "transposed": lambda: rng(52).standard_normal((3, 6)).T,
}


def as_dense(factor):
    return np.eye(factor) if isinstance(factor, int) else factor


@pytest.mark.parametrize("left", list(DENSE_FACTORS))
@pytest.mark.parametrize("right", list(DENSE_FACTORS))
def test_kron_dense_assign_and_accumulate(path, left, right):
    A, B = DENSE_FACTORS[left](), DENSE_FACTORS[right]()
    expected = np.kron(as_dense(A), as_dense(B))
    np.testing.assert_array_equal(kvs.kron_dense(A, B), expected)
    np.testing.assert_allclose(kvs.kron_dense(A, B, scale=-2.5), -2.5 * expected, rtol=1e-15)

    start = rng(53).standard_normal(expected.shape)
    for layout in ("C", "F", "strided"):
        if layout == "strided":
            backing = np.zeros((expected.shape[0], 2 * expected.shape[1]))
            out = backing[:, ::2]
            out[...] = start
        else:
            out = np.array(start, order=layout)
        returned = kvs.kron_dense(A, B, scale=0.5, out=out)
        assert returned is out
        np.testing.assert_allclose(out, start + 0.5 * expected, rtol=1e-14, atol=1e-15)


def test_kron_dense_large_enough_for_the_kernel(path):
    X = rng(54).standard_normal((9, 7))
    Y = rng(55).standard_normal((6, 8))
    np.testing.assert_array_equal(kvs.kron_dense(X.T, Y, scale=-1.0), -np.kron(X.T, Y))
    np.testing.assert_array_equal(kvs.kron_dense(11, Y), np.kron(np.eye(11), Y))
    np.testing.assert_array_equal(kvs.kron_dense(X, 11), np.kron(X, np.eye(11)))
    np.testing.assert_array_equal(kvs.kron_dense(4, 5, scale=3.0), 3.0 * np.eye(20))
    out = np.ones((66, 88))
    kvs.kron_dense(11, Y, out=out)
    np.testing.assert_array_equal(out, 1 + np.kron(np.eye(11), Y))


def test_kron_dense_empty_and_dtypes(path):
    assert kvs.kron_dense(0, np.ones((2, 3))).shape == (0, 0)
    assert kvs.kron_dense(np.ones((2, 0)), np.ones((3, 4))).shape == (6, 0)
    single = np.array([[np.float32(2)]])
    assert kvs.kron_dense(single, np.ones((2, 2), np.float32)).dtype == np.float32
    assert kvs.kron_dense(single, 3, scale=np.float64(2.0)).dtype == np.float32  # scale is weak
    assert kvs.kron_dense(np.eye(2, dtype=int), 2).dtype == np.float64
    assert kvs.kron_dense(2, 2, scale=1j).dtype == np.complex128
    np.testing.assert_array_equal(kvs.kron_dense(2, 3), np.eye(6))
    out32 = np.zeros((6, 6), np.float32)
    kvs.kron_dense(np.ones((2, 2)), np.ones((3, 3)), out=out32)
    np.testing.assert_array_equal(out32, np.ones((6, 6), np.float32))


def test_kron_dense_inputs_untouched(path):
    A = rng(56).standard_normal((3, 4))
    B = np.asfortranarray(rng(57).standard_normal((5, 2)))
    saved = A.copy(), B.copy()
    kvs.kron_dense(A, B, scale=-1.0)
    kvs.kron_dense(A, B, out=np.zeros((15, 8)))
    np.testing.assert_array_equal(A, saved[0])
    np.testing.assert_array_equal(B, saved[1])


def test_kron_dense_errors():
    with pytest.raises(ValueError, match=r"out has shape \(4, 4\).*\(2, 2\) and \(3, 3\).*\(6, 6\)"):
        kvs.kron_dense(np.ones((2, 2)), 3, out=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="2-D"):
        kvs.kron_dense(np.ones(3), 2)
    with pytest.raises(TypeError, match="kron_csr"):
        kvs.kron_dense(sp.eye_array(2), 2)
    with pytest.raises(TypeError, match="complex128 product cannot accumulate into float64"):
        kvs.kron_dense(2, 2, scale=1j, out=np.zeros((4, 4)))
    start = time.perf_counter()
    with pytest.raises(MemoryError, match="tosparse"):
        kvs.kron_dense(10**4, np.ones((30, 30)))
    assert time.perf_counter() - start < 0.5


# --------------------------------------------------------------------------
# selection maps
# --------------------------------------------------------------------------


def selection_dense(index, ncols):
    S = np.zeros((len(index), ncols))
    S[np.arange(len(index)), index] = 1.0
    return S


@pytest.mark.parametrize(
    "index, ncols",
    [
        (np.array([2, 0, 1]), 3),
        (np.array([1, 1, 0, 3, 1]), 5),  # a duplication-like map, with an empty column
        (np.zeros(0, dtype=np.int64), 4),
        (np.array([0]), 1),
        (rng(60).integers(0, 37, size=500), 37),
    ],
)
def test_selection_maps(path, index, ncols):
    saved = index.copy()
    S = kvs.selection_csr(index, ncols)
    St = kvs.selection_transpose_csr(index, ncols)
    assert S.shape == (len(index), ncols) and St.shape == (ncols, len(index))
    assert S.dtype == St.dtype == np.float64
    assert_canonical(S)
    assert_canonical(St)
    np.testing.assert_array_equal(S.toarray(), selection_dense(index, ncols))
    assert_same_csr(St, canonical(sp.csr_array(selection_dense(index, ncols).T)))
    np.testing.assert_array_equal(index, saved)
    assert not np.shares_memory(S.indices, index)


def test_selection_maps_match_vec_index_maps(path):
    from kronvec._vec import commutation_index, duplication_index, vec

    X = rng(61).standard_normal((3, 4))
    K = kvs.selection_csr(commutation_index(3, 4), 12)
    np.testing.assert_array_equal(K @ vec(X), vec(X.T))
    D = kvs.selection_csr(duplication_index(3), 6)
    Dt = kvs.selection_transpose_csr(duplication_index(3), 6)
    np.testing.assert_array_equal(Dt.toarray(), D.toarray().T)


def test_selection_errors():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        kvs.selection_csr(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        kvs.selection_transpose_csr(np.array([-1]), 3)
    with pytest.raises(TypeError, match="integers"):
        kvs.selection_csr(np.array([0.5]), 3)
    with pytest.raises(ValueError, match="1-D"):
        kvs.selection_csr(np.zeros((2, 2), dtype=int), 3)
    with config.override(sparse_limit_bytes=100):
        with pytest.raises(MemoryError):
            kvs.selection_transpose_csr(np.arange(100), 100)


# --------------------------------------------------------------------------
# numba stays out of small problems; kernels survive an unusable cache
# --------------------------------------------------------------------------


def run_python(code, **env):
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return completed


def test_import_and_small_problems_do_not_import_numba():
    completed = run_python(
        """
        import sys
        import numpy as np
        import kronvec.sparse as s
        assert "numba" not in sys.modules, "import kronvec.sparse imported numba"
        s.kron_csr(3, np.ones((2, 2)))
        s.sum_csr([(1.0, s.kron_csr(2, 2))])
        s.kron_dense(2, np.ones((2, 2)))
        s.selection_transpose_csr(np.array([1, 0]), 2)
        assert "numba" not in sys.modules, "a small problem imported numba"
        """
    )
    assert completed.stdout == ""


_NUMBA_PATH_CHECK = """
    import numpy as np, scipy.sparse as sp
    from kronvec import sparse, _kernels
    from kronvec._config import config
    A = np.arange(1.0, 13.0).reshape(3, 4)
    with config.override(numba_min_entries=0):
        result = sparse.kron_csr(A, 5)
    expected = sp.kron(A, sp.identity(5), format="csr")
    assert (result != expected).nnz == 0
    assert np.array_equal(result.indices, expected.indices)
    print(_kernels.kron_csr_fill.cached)
"""


# The cache-fallback tests use the serial selection kernel: it compiles in a
# fraction of the time of the parallel ones, and the fallback is the same.
_SMALL_NUMBA_PATH_CHECK = """
    import numpy as np
    from kronvec import sparse, _kernels
    from kronvec._config import config
    index = np.array([2, 0, 2, 1, 2])
    with config.override(numba_min_entries=0):
        result = sparse.selection_transpose_csr(index, 3)
    assert np.array_equal(result.indptr, [0, 1, 2, 5])
    assert np.array_equal(result.indices, [1, 3, 0, 2, 4])
    print(_kernels.selection_transpose_fill.cached)
"""


def test_numba_path_with_uncreatable_cache_dir():
    # Root ignores chmod, so use a path that cannot be created at all.
    completed = run_python(_NUMBA_PATH_CHECK, NUMBA_CACHE_DIR="/dev/null/nope")
    assert completed.stdout.strip() in ("True", "False")  # numba may fall back in-tree


def test_numba_path_without_any_cache_locator():
    # Only the user-provided locator, pointing nowhere: numba raises
    # "no locator available" at decoration; the kernel must run uncached.
    completed = run_python(
        _SMALL_NUMBA_PATH_CHECK,
        NUMBA_CACHE_DIR="/dev/null/nope",
        NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator",
    )
    assert completed.stdout.strip() == "False"


def test_numba_path_when_cache_dir_breaks_after_import(tmp_path):
    # The cache directory exists at import (decoration) and is replaced by a
    # file before the first compile: saving raises OSError inside numba.
    cache_dir = tmp_path / "numba-cache"
    code = textwrap.dedent(f"""
        import shutil, pathlib
        import kronvec._kernels
        cache_dir = pathlib.Path({str(cache_dir)!r})
        shutil.rmtree(cache_dir)
        cache_dir.write_text("not a directory")
    """) + textwrap.dedent(_SMALL_NUMBA_PATH_CHECK)
    completed = run_python(
        code, NUMBA_CACHE_DIR=str(cache_dir), NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator"
    )
    assert completed.stdout.strip() == "False"


# --------------------------------------------------------------------------
# below PARALLEL_MIN_BYTES a parallel kernel runs as its serial twin
# --------------------------------------------------------------------------


def test_small_outputs_run_the_serial_twin_with_the_parallel_kernels_result():
    from kronvec import _kernels

    rng = np.random.default_rng(5)
    p, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 5))
    kernel = _kernels.outer_product_rows_fill
    twin = kernel.serial()
    assert kernel.parallel and not twin.parallel and kernel.serial() is twin
    # numba's disk cache names files by qualified name and ignores the parallel flag:
    # the twin must not share the parallel kernel's name
    assert twin.py_func.__qualname__ != kernel.py_func.__qualname__
    fresh = _kernels._Kernel(kernel.py_func, {"parallel": True})  # (no call made through it yet)
    serial, parallel = (np.full((3, 4, 5, 5), np.nan) for _ in range(2))
    _kernels.call(fresh, serial.nbytes, p, b, 0.5, True, serial, False)
    assert not fresh._dispatcher.signatures and fresh.serial()._dispatcher.signatures
    kernel(p, b, 0.5, True, parallel, False)  # (the parallel dispatcher itself)
    expected = 0.5 * (p[:, :, None, :] * b[:, None, :, None] + p[:, :, :, None] * b[:, None, None, :])
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_allclose(serial, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_scaled_columns_stack_is_numpys_broadcast_product(dtype, order):
    """``out[j, i, k] = a[i, k]·f_t[j, k]`` (the stack the Cholesky and eigh Jacobians'
    dense writing multiplies into P): every entry, bit for bit, for C- and F-ordered a
    and rectangular shapes (q ≠ m ≠ p)."""
    from kronvec import _kernels

    rng = np.random.default_rng(8)
    a = np.asarray(rng.standard_normal((4, 6)), dtype=dtype, order=order)
    f_t = rng.standard_normal((3, 6)).astype(dtype)
    out = np.full((3, 4, 6), np.nan, dtype=dtype)
    _kernels.scaled_columns_stack_fill(a, f_t, out)
    np.testing.assert_array_equal(out, a * f_t[:, None, :])
