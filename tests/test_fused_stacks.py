"""The fused stack tier (issue 14): member-wise gradient programs of stacks as one numba loop.

Checked here:

* member-wise programs — the Gaussian objective in both spellings, solve,
  elementwise functions and products, per-member contractions, a linear
  combination of totals, two differentiated stacks, a constant stack argument,
  two batch axes, one member — are fused, and a fused call returns what the
  uncompiled transformation returns (to rounding: see ``_close``) and what
  central finite differences give;
* programs that mix members (a member indexed out, a sum over the batch axis
  inside, a product of two totals) are not fused and stay right;
* the edge policy: a singular member raises ``LinAlgError`` naming it, a NaN
  member ``ValueError``, an ill-conditioned member warns (the Python program
  runs for such calls);
* four threads share a fused program; results own their memory.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import kronvec
from kronvec._compiled.fused_stacks import FusedStackGradient

from _helpers import compiled_program as _program
from _helpers import fused_gradient as _fused
from _helpers import run_in_threads

pytest.importorskip("numba")


def _spd(rng, count, n, batch=None):
    A = rng.standard_normal((*(batch or (count,)), n, n))
    return A @ np.swapaxes(A, -1, -2) / n + np.eye(n)


def _counting(compiled):
    """Count the calls that take the fused function."""
    program = _program(compiled)
    run, calls = program._run, []

    def counted(*args):
        calls.append(1)
        return run(*args)

    program._run = counted
    return calls


def _close(got, expected):
    """Within 1e-11 of the largest entry: the fused loop computes each member by the same
    formulas as the stack rules but in another order (its products by loops or dgemm against
    NumPy's batched matmul; its sums per task, then exactly, against NumPy's pairwise sum), so
    the two differ by a few ulps times the members' condition numbers (≤ ~10 here); a wrong
    formula, transpose or member would be off by O(1)."""
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    scale = max(float(np.max(np.abs(expected))), 1.0) if expected.size else 1.0
    return got.shape == expected.shape and bool(np.all(np.abs(got - expected) <= 1e-11 * scale))


def _finite_differences(f, X, step=1e-6):
    """Central differences of the plain NumPy f at X, entry by entry."""
    gradient = np.empty_like(X)
    for index in np.ndindex(X.shape):
        plus, minus = X.copy(), X.copy()
        plus[index] += step
        minus[index] -= step
        gradient[index] = (f(plus) - f(minus)) / (2 * step)
    return gradient


RNG = np.random.default_rng(2026)
C3 = _spd(RNG, 4, 3)
C3T = np.ascontiguousarray(np.swapaxes(C3, -1, -2))
D3 = RNG.standard_normal((3, 3))

# name → (f of one stack, members, order)
MEMBER_WISE = {
    "gaussian, tr as einsum": (lambda S: np.sum(np.linalg.slogdet(S)[1]) + np.einsum("kij,kji->", np.linalg.inv(S), C3),
                               4, 3),
    "gaussian, tr as sum(inv(S) * Cᵀ)": (lambda S: np.sum(np.linalg.slogdet(S)[1]) + np.sum(np.linalg.inv(S) * C3T),
                                         4, 3),
    "solve": (lambda S: np.sum(np.linalg.solve(S, C3) * C3) - 0.5 * np.sum(np.linalg.slogdet(S)[1]), 4, 3),
    "elementwise and matmul": (lambda S: (2.0 * np.sum(np.tanh(S @ C3) * S) - np.sum(np.exp(S / 3.0))
                                          + np.sum(S.mT @ D3) - np.sum(C3 / (S + 3.0))) / 4.0, 4, 3),
    "per-member contraction, then functions of it": (
        lambda S: np.sum(np.log(np.einsum("kij,kji->k", np.linalg.inv(S), C3)) * 3.0), 4, 3),
    "a per-member sum and trace": (lambda S: np.sum(np.sum(S * S, axis=(-2, -1)) / np.einsum("kii->k", S)), 4, 3),
    "one member": (lambda S: np.sum(np.linalg.slogdet(S)[1]) + np.einsum("kij,kji->", np.linalg.inv(S), C3[:1]), 1, 3),
}


@pytest.mark.parametrize("name", sorted(MEMBER_WISE))
def test_member_wise_programs_are_fused_and_right(name):
    f, count, n = MEMBER_WISE[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    compiled, fused = _fused(f, _spd(rng, count, n))
    assert fused and isinstance(_program(compiled).fused, FusedStackGradient)
    calls = _counting(compiled)
    S = _spd(rng, count, n)  # (another point than the compile point)
    value, gradient = compiled(S)
    assert calls == [1]
    expected_value, expected_gradient = kronvec.value_and_grad(f)(S)
    assert _close(value, expected_value) and _close(gradient, expected_gradient)
    assert gradient.flags.owndata and gradient.shape == S.shape
    assert np.allclose(gradient, _finite_differences(f, S), rtol=1e-6, atol=1e-7)


def test_gaussian_of_64_by_64_members():
    rng = np.random.default_rng(64)
    C = _spd(rng, 3, 64)
    f = lambda S: np.sum(np.linalg.slogdet(S)[1]) + np.einsum("kij,kji->", np.linalg.inv(S), C)  # noqa: E731
    compiled, fused = _fused(f, _spd(rng, 3, 64))
    assert fused
    calls = _counting(compiled)
    S = _spd(rng, 3, 64)
    value, gradient = compiled(S)
    expected_value, expected_gradient = kronvec.value_and_grad(f)(S)
    assert calls == [1] and _close(value, expected_value) and _close(gradient, expected_gradient)
    inverse = np.linalg.inv(S)  # ∇ = S⁻ᵀ − S⁻ᵀCᵀS⁻ᵀ (the closed form)
    assert _close(gradient, np.swapaxes(inverse - inverse @ C @ inverse, -1, -2))


def test_two_stacks_a_constant_stack_argument_and_two_batch_axes():
    rng = np.random.default_rng(3)
    f = lambda A, B, C: np.sum(np.linalg.inv(A) * (B @ C)) + np.sum(np.linalg.slogdet(A)[1])  # noqa: E731
    A, B, C = _spd(rng, 5, 3), rng.standard_normal((5, 3, 3)), rng.standard_normal((5, 3, 3))
    compiled, fused = _fused(f, A, B, C, argnums=(0, 1))
    assert fused
    A, B, C = _spd(rng, 5, 3), rng.standard_normal((5, 3, 3)), rng.standard_normal((5, 3, 3))
    (value, (gA, gB)), (ev, (eA, eB)) = compiled(A, B, C), kronvec.value_and_grad(f, argnums=(0, 1))(A, B, C)
    assert _close(value, ev) and _close(gA, eA) and _close(gB, eB)
    assert np.allclose(gB, _finite_differences(lambda B: f(A, B, C), B), rtol=1e-6, atol=1e-7)

    g = lambda S: np.sum(np.linalg.slogdet(S)[1]) + np.sum(np.linalg.inv(S))  # noqa: E731
    compiled, fused = _fused(g, _spd(rng, 0, 3, batch=(2, 3)))
    assert fused
    S = _spd(rng, 0, 3, batch=(2, 3))
    got, expected = compiled(S), kronvec.value_and_grad(g)(S)
    assert _close(got[0], expected[0]) and _close(got[1], expected[1]) and got[1].shape == (2, 3, 3, 3)


def test_the_readmes_mixture_objective_with_its_scatter_matrices_as_an_argument():
    def mixture_nll(S, C):  # Σ_k ln|S_k| + tr(S_k⁻¹ C_k), Cᵀ taken inside f (a value of the constant C)
        return np.sum(np.linalg.slogdet(S)[1]) + np.sum(np.linalg.inv(S) * np.swapaxes(C, -1, -2))

    rng = np.random.default_rng(4)
    compiled, fused = _fused(mixture_nll, _spd(rng, 3, 2), _spd(rng, 3, 2))
    assert fused
    calls = _counting(compiled)
    S, C = _spd(rng, 3, 2), _spd(rng, 3, 2)
    (value, gradient), (ev, eg) = compiled(S, C), kronvec.value_and_grad(mixture_nll)(S, C)
    assert calls == [1] and _close(value, ev) and _close(gradient, eg)
    assert np.allclose(gradient, _finite_differences(lambda S: mixture_nll(S, C), S), rtol=1e-6, atol=1e-7)


NOT_MEMBER_WISE = {
    "a member indexed out": lambda S: np.sum(S @ S[0]),
    "a sum over the batch axis inside": lambda S: np.sum(np.linalg.inv(np.sum(S, axis=0))) + np.sum(S),
    "a product of two totals": lambda S: np.sum(np.linalg.slogdet(S)[1]) * np.sum(S),
    "a determinant's sign": lambda S: np.sum(np.linalg.slogdet(S)[0] * np.linalg.slogdet(S)[1]),
}


@pytest.mark.parametrize("name", sorted(NOT_MEMBER_WISE))
def test_programs_that_mix_members_stay_python_and_right(name):
    f = NOT_MEMBER_WISE[name]
    rng = np.random.default_rng(11)
    compiled = kronvec.value_and_grad(f, compile=True)
    compiled(_spd(rng, 4, 3))
    assert not isinstance(_program(compiled).fused, FusedStackGradient)
    S = _spd(rng, 4, 3)
    got, expected = compiled(S), kronvec.value_and_grad(f)(S)
    assert np.array_equal(got[1], expected[1]) and got[0] == expected[0]
    assert np.allclose(got[1], _finite_differences(f, S), rtol=1e-6, atol=1e-7)


def _gaussian(C):
    return lambda S: np.sum(np.linalg.slogdet(S)[1]) + np.einsum("kij,kji->", np.linalg.inv(S), C)


def test_the_edge_policy_is_the_uncompiled_one():
    rng = np.random.default_rng(5)
    C = _spd(rng, 6, 3)
    compiled, fused = _fused(_gaussian(C), _spd(rng, 6, 3))
    assert fused
    S = _spd(rng, 6, 3)
    singular = S.copy()
    singular[4] = np.ones((3, 3))
    with pytest.raises(np.linalg.LinAlgError, match=r"batch index 4"):
        compiled(singular)
    with pytest.raises(np.linalg.LinAlgError, match=r"batch index 4"):
        kronvec.value_and_grad(_gaussian(C))(singular)
    nan = S.copy()
    nan[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        compiled(nan)
    ill = S.copy()
    ill[1] = np.diag([1.0, 1.0, 1e-15])
    with pytest.warns(kronvec.IllConditionedWarning):
        compiled(ill)
    with kronvec.config.override(condition_warning=1e-3):
        with pytest.warns(kronvec.IllConditionedWarning):
            compiled(S)
    got, expected = compiled(S), kronvec.value_and_grad(_gaussian(C))(S)  # and back on the fused path
    assert _close(got[0], expected[0]) and _close(got[1], expected[1])


def test_four_threads_share_a_fused_stack_program():
    rng = np.random.default_rng(7)
    C = _spd(rng, 50, 4)
    compiled, fused = _fused(_gaussian(C), _spd(rng, 50, 4))
    assert fused
    points = [_spd(rng, 50, 4) for _ in range(12)]
    expected = [compiled(S) for S in points]
    failures = []

    def work(offset):
        for _ in range(10):
            for k in range(offset, len(points), 4):
                value, gradient = compiled(points[k])
                if not (value == expected[k][0] and np.array_equal(gradient, expected[k][1])):
                    failures.append(k)

    run_in_threads(work)
    assert failures == []
    first, second = compiled(points[0])[1], compiled(points[0])[1]
    assert first.flags.owndata and not np.shares_memory(first, second)
