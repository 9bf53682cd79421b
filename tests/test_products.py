"""kronvec/_linalg/products.py: matmul equals ``a @ b`` on every route and layout."""

from __future__ import annotations

import numpy as np
import pytest

from kronvec._linalg import products
from kronvec._linalg.products import matmul

SHAPES = [(4, 4, 4), (3, 5, 2), (1, 7, 1), (1, 1, 1), (9, 2, 30)]


@pytest.fixture(params=["dot", "gemm"])
def route(request, monkeypatch):
    """Each test runs on both routes: the gemm one forced at small sizes by a zero cut-over."""
    if request.param == "gemm":
        monkeypatch.setattr(products, "_POOL_MIN_WORK", 0)
    return request.param


def _layouts(x):
    """x as row-major, column-major, a transposed view, and a strided (non-contiguous) view."""
    wide = np.zeros((x.shape[0], 2 * x.shape[1]), dtype=x.dtype)
    wide[:, ::2] = x
    return {"C": np.ascontiguousarray(x), "F": np.asfortranarray(x),
            "T": np.ascontiguousarray(x.T).T, "strided": wide[:, ::2]}


def _operands(m, k, n, dtype, seed=0):
    rng = np.random.default_rng([seed, m, k, n])
    if np.dtype(dtype).kind in "biu":
        return rng.integers(-3, 4, (m, k)).astype(dtype), rng.integers(-3, 4, (k, n)).astype(dtype)
    return rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)


def _check(a, b):
    before_a, before_b = a.copy(), b.copy()
    expected = a @ b
    result = matmul(a, b)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(result, expected)
    else:
        eps = np.finfo(expected.dtype).eps
        scale = np.abs(a).dot(np.abs(b))  # |a||b|: the size of the rounding error of each entry
        assert np.all(np.abs(result - expected) <= 4 * a.shape[1] * eps * scale)
    # inputs untouched; the result is a fresh, writeable array of its own
    np.testing.assert_array_equal(a, before_a)
    np.testing.assert_array_equal(b, before_b)
    assert result.flags.owndata and result.flags.writeable
    assert not np.shares_memory(result, a) and not np.shares_memory(result, b)
    return result


@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_equals_numpy_in_every_layout(m, k, n, dtype, route):
    a, b = _operands(m, k, n, dtype)
    for layout_a, a_laid in _layouts(a).items():
        for layout_b, b_laid in _layouts(b).items():
            _check(a_laid, b_laid)


@pytest.mark.parametrize("m, k, n", [(81, 81, 81), (128, 64, 64), (130, 3, 2000)])
def test_at_the_sizes_that_go_to_gemm(m, k, n):
    a, b = _operands(m, k, n, np.float64)
    _check(a, b)
    _check(np.asfortranarray(a), b)


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.float64, np.float32), (np.int64, np.int64),
                                    (np.int32, np.float64), (np.float16, np.float16), (np.bool_, np.bool_)])
def test_other_and_mixed_dtypes_follow_numpy(dtypes, route):
    a, _ = _operands(5, 6, 7, dtypes[0])
    _, b = _operands(5, 6, 7, dtypes[1])
    _check(a, b)


def test_transposed_views_of_row_major_arrays_are_not_copied_for_gemm(monkeypatch):
    """Row-major operands reach gemm as column-major views with the transpose flag set."""
    a, b = _operands(90, 90, 90, np.float64)  # 90³ > 2¹⁹
    seen = []
    gemm = products._gemm("d")

    def spy(alpha, x, y, **flags):
        seen.append((x.flags.f_contiguous, y.flags.f_contiguous, flags))
        return gemm(alpha, x, y, **flags)

    monkeypatch.setattr(products, "_gemm", lambda precision: spy)
    np.testing.assert_allclose(matmul(a, b), a @ b, rtol=1e-12)
    np.testing.assert_allclose(matmul(a.T, b), a.T @ b, rtol=1e-12)
    assert seen == [(True, True, {"trans_a": 1, "trans_b": 1}), (True, True, {"trans_a": 0, "trans_b": 1})]


def test_small_products_stay_on_ndarray_dot(monkeypatch):
    def no_gemm(precision):
        raise AssertionError("gemm called for a small product")

    monkeypatch.setattr(products, "_gemm", no_gemm)
    a, b = _operands(64, 64, 64, np.float64)  # 2¹⁸ < 2¹⁹
    np.testing.assert_array_equal(matmul(a, b), a.dot(b))


@pytest.mark.parametrize("shapes", [((0, 3), (3, 4)), ((3, 0), (0, 4)), ((200, 0), (0, 3000)), ((3, 4), (4, 0))])
def test_empty_operands(shapes, route):
    a, b = np.ones(shapes[0]), np.ones(shapes[1])
    np.testing.assert_array_equal(matmul(a, b), a @ b)


def test_rejects_misaligned_and_non_2d_operands(route):
    with pytest.raises(ValueError, match="not aligned"):
        matmul(np.ones((100, 100)), np.ones((99, 100)))
    with pytest.raises(ValueError, match="not aligned"):
        matmul(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="2-D"):
        matmul(np.ones(3), np.ones((3, 2)))
