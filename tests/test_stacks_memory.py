"""Stacks at the write limit and in little memory (issue 14).

* The fixed-order Kronecker block fills (``kronvec._kernels.SQUARE_KRON_*``)
  against np.kron member by member, through ``BatchedKron.blocks()`` and
  ``tosparse()``, and the Jacobian of X⁻¹ they materialize.
* The reverse sweep's reuse of the cotangents it owns (``kronvec/_tracer.py``,
  ``reverse_sweep``: in-place accumulation, ``in_place`` VJPs, a consuming
  sweep that drops each operation's captured constants once pulled back):
  against the closed form, finite differences and a second, non-consuming
  sweep; captured constants still by value; results still the user's own.
* The peak memory of value+grad of Σ ln|S_k| + tr(S_k⁻¹C_k) (tracemalloc),
  bounded by what the design must hold (notes/derivatives.md §24.8).
"""

from __future__ import annotations


import numpy as np
import pytest

import kronvec
from kronvec._config import config
from kronvec._linalg import stacks
from kronvec._vec import vec
from kronvec.operators import BatchedKron

from _helpers import assert_canonical_csr, assert_scaled_close, assert_unchanged, central_difference_jacobian, peak_memory

RNG = np.random.default_rng(20261202)


def _kernels_on():
    return config.override(numba_min_entries=0)


def _spd(*shape):
    A = RNG.standard_normal(shape)
    return A @ np.swapaxes(A, -1, -2) / shape[-1] + np.eye(shape[-1])


def _member_krons(A, B, scale):
    return np.stack([scale * np.kron(a, b) for a, b in zip(A, B)])


def _placed_dense(blocks):
    """The full matrix of K (m×n) blocks in the stack layout: rows k + K·a, columns k + K·b."""
    K, m, n = blocks.shape
    dense = np.zeros((K * m, K * n), dtype=blocks.dtype)
    for k in range(K):
        dense[k::K, k::K] = blocks[k]
    return dense


# ----------------------------------------------------------- fixed-order fills
@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_square_kron_fills_match_np_kron(n, dtype):
    """n = 2, 3, 4 take the fixed-order kernels, 5 the generic one; a transposed
    (non-contiguous) factor as the Jacobian of inv hands them."""
    K = 7
    A = RNG.standard_normal((K, n, n)).astype(dtype)
    B = RNG.standard_normal((K, n, n)).astype(dtype)
    J = BatchedKron(np.swapaxes(A, -1, -2), B, -1.5)
    expected = _member_krons(np.swapaxes(A, -1, -2), B, -1.5)
    with _kernels_on():
        blocks = J.blocks()
        sparse = J.tosparse()
    tolerance = 1e-6 if dtype == np.float32 else 1e-15  # (one product per entry: rounding only)
    assert blocks.dtype == dtype and blocks.shape == (K, n * n, n * n) and blocks.flags.owndata
    np.testing.assert_allclose(blocks, expected, rtol=tolerance, atol=0)
    assert_canonical_csr(sparse, J.shape, dtype)
    np.testing.assert_allclose(sparse.toarray(), _placed_dense(expected), rtol=tolerance, atol=0)


def test_fixed_order_kernels_are_made_for_orders_two_to_four_only():
    from kronvec import _kernels

    assert sorted(_kernels.SQUARE_KRON_BLOCKS_FILLS) == sorted(_kernels.SQUARE_KRON_CSR_FILLS) == [2, 3, 4]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_jacobian_of_inv_blocks_and_csr_on_the_kernel_path(n):
    X = RNG.standard_normal((2, 3, n, n)) + 3.0 * np.eye(n)
    with _kernels_on():
        J = kronvec.jacobian(np.linalg.inv)(X)
        blocks, sparse = J.blocks(), J.tosparse()
    members = np.linalg.inv(X).reshape((-1, n, n), order="F")  # (vec order: the batch index runs fastest)
    expected = _member_krons(np.swapaxes(members, -1, -2), members, -1.0)
    np.testing.assert_allclose(blocks, expected, rtol=1e-13, atol=1e-15)
    assert_canonical_csr(sparse, J.shape, np.float64)
    np.testing.assert_allclose(sparse.toarray(), J.toarray(), rtol=1e-13, atol=1e-15)

    def plain(Z):
        return np.linalg.inv(Z)

    assert_scaled_close(sparse.toarray(), central_difference_jacobian(plain, (X,)), 1e-6, "jacobian of inv")


# ------------------------------------------------------- sandwich written in place
@pytest.mark.parametrize("transposed", [False, True], ids=["G", "Gᵀ view, written to its base"])
def test_stack_sandwich_may_write_over_its_cotangent(transposed):
    A = RNG.standard_normal((50, 3, 3))
    base = RNG.standard_normal((50, 3, 3))
    G = np.swapaxes(base, -1, -2) if transposed else base
    expected = -np.swapaxes(A, -1, -2) @ G @ np.swapaxes(A, -1, -2)
    with _kernels_on():
        out = stacks.stack_sandwich(A, G, -1.0, out=base)
    assert out is base
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-14)


# ------------------------------------------------------ the sweep's own cotangents
def _trace_subscripts(ndim):
    batch = "abcdefgh"[:ndim - 2]
    return f"{batch}ij,{batch}ji->"


def _gaussian(C):
    subscripts = _trace_subscripts(C.ndim)
    return lambda S: np.sum(np.linalg.slogdet(S)[1]) + np.einsum(subscripts, np.linalg.inv(S), C)


def _gaussian_product_form(C):
    return lambda S: np.sum(np.linalg.slogdet(S)[1]) + np.sum(np.linalg.inv(S) * np.swapaxes(C, -1, -2))


def _closed_form(S, C):
    inverse = np.linalg.inv(S)
    value = np.sum(np.linalg.slogdet(S)[1]) + np.einsum(_trace_subscripts(S.ndim), inverse, C)
    return value, np.swapaxes(inverse - inverse @ C @ inverse, -1, -2)


@pytest.mark.parametrize("form", [_gaussian, _gaussian_product_form], ids=["einsum", "product"])
@pytest.mark.parametrize("shape, kernels", [
    ((40, 3, 3), True), ((40, 3, 3), False), ((2, 5, 4, 4), True), ((30, 6, 6), True), ((3, 4, 9, 9), False),
], ids=["3x3 kernels", "3x3 lapack", "4x4 two batch axes", "6x6 matmul", "9x9 two batch axes"])
def test_gaussian_objective_gradient_in_place(form, shape, kernels):
    S, C = _spd(*shape), _spd(*shape)
    f = form(C)
    with assert_unchanged(S, C), config.override(numba_min_entries=0 if kernels else 1 << 18):
        value, gradient = kronvec.value_and_grad(f)(S)
        again = kronvec.grad(f)(S)
        # A non-consuming sweep of the same function (vjp keeps its recording): the same numbers.
        _, pullback = kronvec.vjp(f, S)
        first, second = pullback(1.0)[0], pullback(1.0)[0]
    expected_value, expected = _closed_form(S, C)
    assert float(value) == pytest.approx(float(expected_value), rel=1e-12)
    np.testing.assert_allclose(gradient, expected, rtol=1e-10, atol=1e-12)
    for other in (again, first, second):
        np.testing.assert_allclose(other, gradient, rtol=1e-13, atol=1e-14)
    assert gradient.flags.owndata and gradient.flags.writeable and gradient.shape == S.shape
    assert not np.shares_memory(gradient, C) and not np.shares_memory(gradient, S)


def test_gaussian_objective_gradient_matches_finite_differences_on_the_kernel_path():
    S, C = _spd(3, 2, 3, 3), _spd(3, 2, 3, 3)
    f = _gaussian(C)
    with _kernels_on():
        gradient = kronvec.grad(f)(S)
        H = kronvec.hessian(f)(S).toarray()  # (the inner grad's sweep consumes, traced)
        H_fd = central_difference_jacobian(kronvec.grad(f), (S,))
    assert_scaled_close(vec(gradient), central_difference_jacobian(f, (S,))[0], 1e-6, "grad")
    assert_scaled_close(H, H_fd, 1e-6, "hessian")


@pytest.mark.parametrize("n, kernels", [(3, True), (6, False)], ids=["kernel sandwich", "matmul"])
def test_a_constant_changed_inside_f_after_its_use_is_still_captured_by_value(n, kernels):
    """The sweep reuses the recording's copy of C (its cotangent Cᵀ is a view of it):
    that copy is the one taken when C was used, whatever f does to C afterwards."""
    S, C = _spd(20, n, n), _spd(20, n, n)
    buffer = C.copy()

    def f(Z):
        value = np.sum(np.linalg.slogdet(Z)[1]) + np.einsum("kij,kji->", np.linalg.inv(Z), buffer)
        buffer[...] = 7.0  # after its use: changes nothing already recorded
        return value

    with config.override(numba_min_entries=0 if kernels else 1 << 18):
        value, gradient = kronvec.value_and_grad(f)(S)
    expected_value, expected = _closed_form(S, C)
    assert float(value) == pytest.approx(float(expected_value), rel=1e-12)
    np.testing.assert_allclose(gradient, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(buffer, 7.0)  # (f's own write happened; ours did not touch it)


@pytest.mark.parametrize("f", [
    lambda Z: np.sum(np.linalg.inv(Z) * np.linalg.inv(Z)),
    lambda Z: np.einsum("kij,kji->", np.linalg.inv(Z), np.linalg.inv(Z)),
    lambda Z: np.sum(np.linalg.inv(np.linalg.inv(Z) + Z) * Z),
    lambda Z: np.einsum("kij,kji->", np.linalg.inv(Z), Z) + np.sum(np.linalg.slogdet(Z)[1] * 2.0),
    lambda Z: np.sum(np.linalg.inv(Z) * 3.0) + np.sum(np.linalg.inv(Z) @ Z),
], ids=["inv ∘ inv (one node, two parents)", "einsum of two traced", "nested inv", "tr(X⁻¹X) + 2 ln|X|",
        "a cotangent reaching X three ways"])
@pytest.mark.parametrize("kernels", [False, True], ids=["lapack", "kernels"])
def test_cotangents_reaching_a_value_several_ways_match_finite_differences(f, kernels):
    S = _spd(6, 3, 3)
    with config.override(numba_min_entries=0 if kernels else 1 << 18):
        gradient = kronvec.grad(f)(S)
    assert_scaled_close(vec(gradient), central_difference_jacobian(f, (S,))[0], 1e-6, "grad")


def test_a_seed_or_constant_handed_to_the_sweep_is_never_written():
    """Cotangents the sweep does not own (a read-only broadcast seed, views of captured
    constants still held by the recording, the caller's C) are added out of place."""
    S, C = _spd(5, 3, 3), _spd(5, 3, 3)
    W = RNG.standard_normal(5)
    with assert_unchanged(S, C, W):
        out, pullback = kronvec.vjp(lambda Z: np.linalg.slogdet(Z)[1] + np.einsum("kij,kji->k", np.linalg.inv(Z), C),
                                    S)
        first = pullback(W)[0]
        second = pullback(W)[0]
    np.testing.assert_array_equal(first, second)
    inverse = np.linalg.inv(S)
    expected = W[:, None, None] * np.swapaxes(inverse - inverse @ C @ inverse, -1, -2)
    np.testing.assert_allclose(first, expected, rtol=1e-11, atol=1e-13)


# ------------------------------------------------------------------ peak memory
def _peak(call):
    call()  # warm up: first-use compiles and caches are not the call's memory
    result, peak = peak_memory(call)
    return peak, result


@pytest.mark.parametrize("count, n, kernels", [(20_000, 3, True), (30, 32, True)], ids=["3x3 closed forms", "32x32 one LU each"])
def test_peak_memory_of_the_gaussian_gradient(count, n, kernels):
    """Peak traced allocations of value+grad (S and C are the caller's, allocated
    before): the input's captured copy, the shared inverse and C's captured copy
    (which becomes the gradient: the sweep reuses it) are three gradient-sized
    arrays, and the per-member scalars (sign, ln|det|, the fallback mask) and
    the sweep's cotangents of those add at most 0.6 more (notes/derivatives.md §24.8)."""
    S, C = _spd(count, n, n), _spd(count, n, n)
    value_and_grad = kronvec.value_and_grad(_gaussian(C))
    with config.override(numba_min_entries=0 if kernels else 1 << 18):
        peak, (_, gradient) = _peak(lambda: value_and_grad(S))
    assert peak <= 3.6 * gradient.nbytes, f"peak {peak / gradient.nbytes:.2f}× the gradient"
