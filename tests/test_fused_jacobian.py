"""The fused tier of compiled Jacobians (issue 17): numba values, operators from a template.

Checked here:

* a fused Jacobian is the uncompiled one at points other than the one it was
  compiled at: the same formula, the same dense form bit for bit, the same
  products with vectors bit for bit, over several programs (one and two
  differentiated arguments, a constant array argument, closed-over constants,
  a transpose, a sum of Krons, a product with a commutation);
* the small Krons it returns write their dense form with the serial kernel,
  which equals ``kron_dense`` bit for bit, filling and accumulating;
* programs whose operators hold arrays computed from the values, or with an
  operation outside the tier, stay Python and right (the former with the
  dense fill on their Krons);
* a fused call keeps the edge policy (singular → LinAlgError, non-finite →
  ValueError, ill-conditioned → a warning), never aliases its inputs, returns
  read-only operator data and dense arrays that own their memory, and is
  safe under threads;
* a first compiled Jacobian imports no numba.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import kronvec
from kronvec.operators import Dense, Kron

from _helpers import assert_compiled_edge_policy, python_output, run_in_threads

fused_kernels = pytest.importorskip("kronvec._compiled.fused_kernels")
jacobian_tier = pytest.importorskip("kronvec._compiled.jacobian")

_RNG = np.random.default_rng(170)
_A, _B = _RNG.standard_normal((4, 4)), _RNG.standard_normal((4, 3))


def _point(rng, shape=(4, 4)):
    X = rng.standard_normal(shape)
    if shape[0] == shape[1]:
        X += 2 * np.sqrt(shape[0]) * np.eye(shape[0])
    return X


#: name → (f, argnums, shapes of the arguments, whether the tier takes it)
PROGRAMS = {
    "inv": (np.linalg.inv, 0, [(4, 4)], True),
    "inv n = 16": (np.linalg.inv, 0, [(16, 16)], True),
    "inv of a sum with inv": (lambda X: np.linalg.inv(np.linalg.inv(X) + X), 0, [(4, 4)], True),
    "inv of 2X, negated, transposed": (lambda X: -np.linalg.inv(2.0 * X).T, 0, [(4, 4)], True),
    "closed-over constants": (lambda X: _A @ X @ _B - X.T @ _B / 4.0, 0, [(4, 4)], True),
    "X squared": (lambda X: X @ X, 0, [(5, 5)], True),
    "a constant argument": (lambda X, C: X @ C + np.linalg.inv(X), 0, [(4, 4), (4, 4)], True),
    "two arguments": (lambda X, Y: X @ Y - np.linalg.inv(Y).T, (0, 1), [(4, 4), (4, 4)], True),
    "X - Xᵀ scaled": (lambda X: 3.0 * (X - X.T), 0, [(3, 3)], True),
    "rectangular": (lambda X: _A @ X, 0, [(4, 3)], True),
    # operators holding arrays computed from the values stay Python: the algebra's products
    # of factors (the mixed-product rule), entrywise derivatives, solve's A⁻¹
    "X inv(Xᵀ)": (lambda X: X @ np.linalg.inv(X.T), 0, [(4, 4)], False),
    "inv(X) C": (lambda X, C: np.linalg.inv(X) @ C, 0, [(4, 4), (4, 4)], False),
    "entrywise product": (lambda X: X * X, 0, [(4, 4)], False),
    "solve": (lambda X: np.linalg.solve(X, _A), 0, [(4, 4)], False),
    # outside the tier: an operation without a fused form, a scalar value in between
    "tanh": (lambda X: np.tanh(X) @ X, 0, [(3, 3)], False),
    "a scalar in between": (lambda X: np.trace(X) * np.linalg.inv(X), 0, [(3, 3)], False),
}


def _program(transformed):
    (entry,) = transformed.cache.values()
    return entry.built


def _fused(f, args, argnums=0):
    compiled = kronvec.jacobian(f, argnums=argnums, compile=True)
    compiled(*args)
    return compiled, _program(compiled).fuse()


def _identical(got, expected, rng, formula=None):
    """The same dense form and products with a vector, bit for bit, and the same formula
    (`formula`: the compiled Python replay's, where it names a constant argument otherwise
    than the uncompiled call — a difference of the replay's labels, not of this tier)."""
    assert type(got) is type(expected) and got.shape == expected.shape
    assert got.formula() == (expected.formula() if formula is None else formula)
    dense = got.toarray()
    assert dense.flags.owndata and dense.flags.writeable
    assert np.array_equal(dense, expected.toarray())
    v = rng.standard_normal(got.shape[1])
    assert np.array_equal(got.matvec(v), expected.matvec(v))
    u = rng.standard_normal(got.shape[0])
    assert np.array_equal(got.rmatvec(u), expected.rmatvec(u))


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_fused_jacobians_are_the_uncompiled_ones_bit_for_bit(name):
    f, argnums, shapes, takes = PROGRAMS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    compiled, fused = _fused(f, [_point(rng, shape) for shape in shapes], argnums)
    assert fused == takes
    uncompiled = kronvec.jacobian(f, argnums=argnums)
    replayed = kronvec.jacobian(f, argnums=argnums, compile=True)  # (called too few times to fuse)
    for _ in range(3):  # other points than the compile's
        args = [_point(rng, shape) for shape in shapes]
        got, expected, python = compiled(*args), uncompiled(*args), replayed(*args)
        if not isinstance(argnums, tuple):
            got, expected, python = (got,), (expected,), (python,)
        for g, e, p in zip(got, expected, python):
            _identical(g, e, rng, p.formula())


def test_the_tier_rebuilds_the_operator_from_the_template_and_fills_with_the_kernel():
    X = _point(np.random.default_rng(1), (16, 16))
    compiled, fused = _fused(np.linalg.inv, [X])
    assert fused
    J = compiled(X)
    assert type(J) is Kron and J._small_fill is not None and J.scale == -1.0
    assert not J.A.M.flags.writeable and not J.B.M.flags.writeable
    assert J.A.M.base is not None and np.shares_memory(J.A.M, J.B.M)  # (X⁻ᵀ is a view of X⁻¹, as uncompiled)
    # an uncompiled Jacobian never carries the fill (its toarray never compiles numba code)
    assert kronvec.jacobian(np.linalg.inv)(X)._small_fill is None


def test_a_refused_template_leaves_the_python_replay_with_the_dense_fill():
    f = PROGRAMS["inv(X) C"][0]
    rng = np.random.default_rng(8)
    X, C = _point(rng, (16, 16)), rng.standard_normal((16, 16))
    compiled, fused = _fused(f, [X, C])
    assert not fused and _program(compiled).fill is not None
    X, C = _point(rng, (16, 16)), rng.standard_normal((16, 16))
    J = compiled(X, C)
    assert type(J) is Kron and J._small_fill is not None
    _identical(J, kronvec.jacobian(f)(X, C), rng, kronvec.jacobian(f, compile=True)(X, C).formula())
    # outside the tier (tanh has no Jacobian template): no fill either
    compiled, fused = _fused(PROGRAMS["tanh"][0], [_point(rng, (3, 3))])
    assert not fused and _program(compiled).fill is None


@pytest.mark.parametrize("shapes", [((3, 4), (5, 2)), ((16, 16), (16, 16)), ((1, 7), (6, 1))])
def test_the_small_kron_fill_is_kron_dense_bit_for_bit(shapes):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(shapes[0]), np.asfortranarray(rng.standard_normal(shapes[1]))
    fill = jacobian_tier.small_kron_fill
    for scale in (1.0, -1.0, 0.3):
        kron = Kron(Dense(a), Dense(b), scale)
        expected = kronvec.sparse.kron_dense(a, b, scale=scale)
        got = fill(fused_kernels.kron_fill, kron, None, 1.0)
        assert got.flags.owndata and np.array_equal(got, expected)
        start = rng.standard_normal(expected.shape)
        out, reference = start.copy(), start.copy()
        assert fill(fused_kernels.kron_fill, kron, out, 2.5) is out
        kronvec.sparse.kron_dense(a, b, scale=scale * 2.5, out=reference)
        assert np.array_equal(out, reference)
        # where kron_dense's own path is the one: a Fortran-ordered out, an identity factor
        assert fill(fused_kernels.kron_fill, kron, np.asfortranarray(start), 1.0) is None
        assert fill(fused_kernels.kron_fill, Kron(kronvec.operators.Identity(2), Dense(b)), None, 1.0) is None


def test_fused_calls_keep_the_edge_policy_and_never_touch_their_inputs():
    rng = np.random.default_rng(3)
    compiled, fused = _fused(np.linalg.inv, [_point(rng)])
    assert fused
    X = _point(rng)
    before = X.copy()
    J = compiled(X)
    assert np.array_equal(X, before) and not np.shares_memory(J.B.M, X)
    X[0, 0] = 1e3  # the operator keeps its own values
    assert np.array_equal(J.toarray(), kronvec.jacobian(np.linalg.inv)(before).toarray())
    assert_compiled_edge_policy(compiled, before)
    # a Fortran-ordered argument is copied C-ordered, a float32 one takes the Python replay
    uncompiled = kronvec.jacobian(np.linalg.inv)
    for other in (np.asfortranarray(before), before.astype(np.float32)):
        _identical(compiled(other), uncompiled(other), rng)


def test_a_constant_array_in_another_layout_takes_the_python_replay():
    f = PROGRAMS["a constant argument"][0]
    rng = np.random.default_rng(4)
    X, C = _point(rng), rng.standard_normal((4, 4))
    compiled, fused = _fused(f, [X, C])
    assert fused and _program(compiled).input_layouts == ("C", "C")
    uncompiled, replayed = kronvec.jacobian(f), kronvec.jacobian(f, compile=True)
    for constant in (C, np.asfortranarray(C)):
        _identical(compiled(X, constant), uncompiled(X, constant), rng, replayed(X, constant).formula())


def test_four_threads_share_a_fused_jacobian():
    f = PROGRAMS["inv of a sum with inv"][0]
    rng = np.random.default_rng(5)
    compiled, fused = _fused(f, [_point(rng)])
    assert fused
    points = [_point(rng) for _ in range(24)]
    uncompiled = kronvec.jacobian(f)
    expected = [uncompiled(X).toarray() for X in points]
    failures = []

    def work(offset):
        for _ in range(5):
            for k in range(offset, len(points), 4):
                if not np.array_equal(compiled(points[k]).toarray(), expected[k]):
                    failures.append(k)

    run_in_threads(work)
    assert failures == []


def test_the_background_compile_starts_after_enough_replays():
    from kronvec._compiled.gradient import FUSE_AFTER_REPLAYS

    compiled = kronvec.jacobian(np.linalg.inv, compile=True)
    X = _point(np.random.default_rng(6))
    compiled(X)
    program = _program(compiled)
    for _ in range(FUSE_AFTER_REPLAYS - 1):
        compiled(X)
        assert program._run is None
    compiled(X)  # the replay that starts the compile
    assert program.wait(timeout=300)
    _identical(compiled(X), kronvec.jacobian(np.linalg.inv)(X), np.random.default_rng(7))


def test_a_first_compiled_jacobian_imports_no_numba():
    code = ("import sys, numpy as np, kronvec; "
            "J = kronvec.jacobian(np.linalg.inv, compile=True); J(3.0 * np.eye(3)).toarray(); "
            "print('kronvec._compiled.fused_kernels' in sys.modules, 'numba' in sys.modules)")
    assert python_output(code) == ["False", "False"]
