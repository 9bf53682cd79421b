"""The fused tier of compiled gradients (issue 17): one numba function per program.

Checked here:

* the numba pieces compute what NumPy and SciPy compute, bit for bit: the
  matrix product in every memory layout (and NumPy's syrk for A Aᵀ), LU and
  the inverse, NumPy's pairwise and axis sums, NumPy's slogdet's sum, LAPACK's 1-norm;
* a fused program returns what the uncompiled transformation returns at points
  other than the one it was compiled at — bit for bit, except where it
  evaluates tanh/exp/log (see ``_close``);
* a fused call keeps the edge policy (it hands such calls to the Python
  program), never touches or aliases its inputs, and is safe under threads;
* programs with an operation that has no fused form stay Python and right;
* the kernels still work without a writable numba cache.
"""

from __future__ import annotations

import math
import textwrap
import warnings

import numpy as np
import pytest
import scipy.linalg

import kronvec
from kronvec._compiled import gradient as compiled_gradient

from _helpers import assert_compiled_edge_policy, python_output, run_in_threads
from _helpers import compiled_program as _program
from _helpers import fused_gradient as _fused

fused_kernels = pytest.importorskip("kronvec._compiled.fused_kernels")


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def _close(a, b):
    """Within 1e-12 of the largest entry (about 4,500 ulps): tanh, exp and log are the C
    library's in a fused program and NumPy's own SIMD loops otherwise, and the two round the
    last bit of some entries differently (each within 1 ulp of the true value). Later
    operations carry those differences with the program's conditioning — up to ~100 ulps of
    the largest entry seen on these seeded programs — while a wrong formula, layout or
    summation order would be off by far more than 1e-12 (or, without tanh/exp/log, by any bit:
    those programs are held to exact equality)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= 1e-12 * np.max(np.abs(b))))


# ------------------------------------------------------------------------ kernels
@pytest.mark.parametrize("m, k, n", [(2, 2, 2), (3, 5, 2), (4, 4, 4), (7, 3, 9), (16, 16, 16), (12, 5, 12)])
def test_the_matrix_product_is_numpys_in_every_layout(m, k, n):
    rng = np.random.default_rng([m, k, n])
    A, B = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    product = lambda a, b: fused_kernels.gemm(a, b, np.empty((a.shape[0], b.shape[1])))  # noqa: E731
    for a in (A, np.asfortranarray(A), np.ascontiguousarray(A.T).T):
        for b in (B, np.asfortranarray(B)):
            assert _same(product(a, b), a.dot(b)) and _same(product(a, b), a @ b)
    # one matrix and its own transpose: NumPy calls syrk and mirrors the upper triangle
    assert _same(product(A, A.T), A.dot(A.T)) and _same(product(A.T, A), A.T.dot(A))
    F = np.asfortranarray(A)
    assert _same(product(F, F.T), F.dot(F.T)) and _same(product(F.T, F), F.T.dot(F))


@pytest.mark.parametrize("n", [2, 3, 4, 7, 16])
def test_lu_inverse_and_norms_are_scipys(n):
    rng = np.random.default_rng(n)
    for _ in range(20):
        X = rng.standard_normal((n, n))
        factors, pivots, info = fused_kernels.lu_factor(X)
        expected_factors, expected_pivots, expected_info = scipy.linalg.lapack.dgetrf(X)
        assert info == expected_info == 0
        assert _same(factors.T, expected_factors) and _same(pivots - 1, expected_pivots)
        inverse = fused_kernels.lu_inverse(factors, pivots)
        expected_inverse, _ = scipy.linalg.lapack.dgetri(expected_factors, expected_pivots)
        assert _same(inverse, expected_inverse) and inverse.flags.f_contiguous
        assert fused_kernels.one_norm(X) == scipy.linalg.lapack.dlange("1", X)
        assert fused_kernels.one_norm(inverse) == scipy.linalg.lapack.dlange("1", inverse)
        sign, log_abs = fused_kernels.log_abs_determinant(factors, pivots)
        expected_sign, expected_log = np.linalg.slogdet(X)
        # NumPy's sum of the pivots' logarithms, in its order (the pivots themselves are
        # SciPy's OpenBLAS's, which NumPy's own OpenBLAS build may round otherwise)
        assert log_abs == sum(math.log(abs(pivot)) for pivot in np.diag(expected_factors).tolist())
        assert sign == expected_sign and math.isclose(log_abs, expected_log, rel_tol=1e-13)
    singular = np.ones((n, n))
    assert fused_kernels.lu_factor(singular)[2] > 0


def test_sums_are_numpys():
    rng = np.random.default_rng(3)
    for size in [*range(1, 40), 64, 127, 128, 129, 255, 256, 257, 1000]:
        values = rng.standard_normal(size) * 10.0 ** rng.uniform(-8, 8, size)
        assert fused_kernels.pairwise_sum(values, 0, size) == np.add.reduce(values)
    for m, n in [(2, 2), (3, 7), (16, 16)]:
        X = rng.standard_normal((m, n)) * 10.0 ** rng.uniform(-8, 8, (m, n))
        assert fused_kernels.sum_all(X) == np.add.reduce(X, axis=None)
        assert _same(fused_kernels.sum_axis0(X), np.sum(X, axis=0))


# ------------------------------------------------------------------------ programs
_C4 = np.random.default_rng(1).standard_normal((4, 4))
_W = np.array([[0.6, -0.3], [0.2, 0.5]])


def _gaussian(S):
    return np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, _C4 @ _C4.T))


def _gaussian_by_inverse(S):
    return np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ _C4)


def _layers(X):
    Y = X
    for _ in range(5):
        Y = np.tanh(Y @ _W) * 0.5 + Y
    return np.sum(Y)


def _cholesky_factor_likelihood(L):
    S = L @ L.T + 1e-3 * np.eye(4)
    return np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, _C4 @ _C4.T))


#: (function, a point maker, whether tanh/exp/log are in it); each must fuse.
_FUSING = {
    "ln|S| + tr(S⁻¹C) by solve": (_gaussian, "spd", False),
    "ln|S| + tr(S⁻¹C) by inv": (_gaussian_by_inverse, "spd", False),
    "ln|LLᵀ + εI| + tr((LLᵀ + εI)⁻¹C) (syrk)": (_cholesky_factor_likelihood, "general", False),
    "five tanh layers": (_layers, "small", True),
    "arithmetic with scalars": (lambda X: np.sum((2 * X - 1.5) / 3.0 * X) - np.sum(-X / (X * X + 1.0)), "general", False),
    "products and transposes": (lambda X: np.trace(X @ X.T @ _C4) + np.sum(X.T @ _C4 * X), "general", False),
    "inverse twice": (lambda X: np.sum(np.linalg.inv(X) * _C4) + np.trace(np.linalg.inv(X)), "spd", False),
    "exp and log": (lambda X: np.sum(np.exp(0.1 * X) * np.log(X * X + 1.0)), "general", True),
    "scalar chain": (lambda X: np.linalg.slogdet(X)[1] * np.trace(X) / (1.0 + np.sum(X * X)), "spd", False),
}


def _point(kind, rng):
    if kind == "small":
        return rng.uniform(-0.5, 0.5, size=(2, 2))
    A = rng.standard_normal((4, 4))
    return A @ A.T + 4.0 * np.eye(4) if kind == "spd" else A + 3.0 * np.eye(4)


@pytest.mark.parametrize("name", sorted(_FUSING))
def test_fused_programs_return_what_the_uncompiled_transformation_returns(name):
    f, kind, transcendental = _FUSING[name]
    rng = np.random.default_rng(17)
    compiled, fused = _fused(f, _point(kind, rng))
    assert fused, _program(compiled).fused
    uncompiled = kronvec.value_and_grad(f)
    agree = _close if transcendental else _same
    for _ in range(5):  # points other than the compile point
        point = _point(kind, rng)
        (value, gradient), (expected_value, expected_gradient) = compiled(point), uncompiled(point)
        assert agree(value, expected_value) and agree(gradient, expected_gradient), name
        # (a new buffer of the call's own: numba's arrays have a MemInfo as their base, never another array)
        assert type(value) is type(expected_value) and not isinstance(gradient.base, np.ndarray)


def test_two_differentiated_arguments_and_a_constant_array_argument():
    f = lambda X, Y, C: np.sum(X @ Y * C) + np.trace(np.linalg.inv(X))  # noqa: E731
    rng = np.random.default_rng(2)
    X, Y, C = np.eye(3) * 3.0 + rng.uniform(size=(3, 3)), rng.uniform(size=(3, 3)), rng.uniform(size=(3, 3))
    compiled, fused = _fused(f, X, Y, C, argnums=(0, 1))
    assert fused
    uncompiled = kronvec.value_and_grad(f, argnums=(0, 1))
    C2 = rng.uniform(size=(3, 3))  # the constant array is an input of the program: its new value counts
    got, expected = compiled(X + 0.1, Y, C2), uncompiled(X + 0.1, Y, C2)
    assert _same(got[0], expected[0]) and all(map(_same, got[1], expected[1]))
    assert not np.shares_memory(got[1][0], got[1][1])


def test_programs_without_fused_forms_stay_python_and_right():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((3, 3))
    row = rng.standard_normal(3)
    for f in (lambda X: np.sum(np.linalg.eigvalsh(X + X.T)),  # no fused form
              lambda X: np.sum((X + row) ** 2),               # broadcasting a row, and power
              lambda X: np.sum(X[0] * 2.0)):                  # a vector
        compiled = kronvec.value_and_grad(f, compile=True)
        compiled(X)
        assert _program(compiled).fused is None and not _program(compiled).fuse()
        got, expected = compiled(X + 0.1), kronvec.value_and_grad(f)(X + 0.1)
        assert _same(got[0], expected[0]) and _same(got[1], expected[1])


def test_fused_calls_keep_the_edge_policy_and_never_touch_their_inputs():
    compiled, fused = _fused(_gaussian, _point("spd", np.random.default_rng(5)))
    assert fused
    S = _point("spd", np.random.default_rng(6))
    before = S.copy()
    value, gradient = compiled(S)
    assert _same(S, before) and not np.shares_memory(gradient, S)
    assert_compiled_edge_policy(compiled, S, singular_match="np.linalg.slogdet")
    # a Fortran-ordered argument is copied C-ordered as the uncompiled call copies it; a float32
    # one takes the Python program (the fused function is float64)
    uncompiled = kronvec.value_and_grad(_gaussian)
    for other in (np.asfortranarray(S), S.astype(np.float32)):
        got, expected = compiled(other), uncompiled(other)
        assert _same(got[0], expected[0]) and _same(got[1], expected[1])


def test_a_constant_array_in_another_layout_takes_the_python_program():
    f = lambda X, C: np.sum(np.linalg.inv(X) @ C)  # noqa: E731
    rng = np.random.default_rng(12)
    X, C = np.eye(3) * 3.0 + rng.uniform(size=(3, 3)), rng.uniform(size=(3, 3))
    compiled, fused = _fused(f, X, C)
    assert fused and _program(compiled).fused.input_layouts == ("C", "C")
    uncompiled = kronvec.value_and_grad(f)
    for constant in (C, np.asfortranarray(C)):  # the program was written for a C-ordered C
        got, expected = compiled(X, constant), uncompiled(X, constant)
        assert _same(got[0], expected[0]) and _same(got[1], expected[1])


def test_four_threads_share_a_fused_program():
    compiled, fused = _fused(_gaussian, _point("spd", np.random.default_rng(7)))
    assert fused
    rng = np.random.default_rng(8)
    points = [_point("spd", rng) for _ in range(40)]
    uncompiled = kronvec.value_and_grad(_gaussian)
    expected = [uncompiled(S) for S in points]
    failures = []

    def work(offset):
        for _ in range(20):
            for k in range(offset, len(points), 4):
                value, gradient = compiled(points[k])
                if not (_same(value, expected[k][0]) and _same(gradient, expected[k][1])):
                    failures.append(k)

    run_in_threads(work)
    assert failures == []


def test_the_background_compile_starts_after_enough_replays():
    compiled = kronvec.value_and_grad(_gaussian_by_inverse, compile=True)
    S = _point("spd", np.random.default_rng(9))
    compiled(S)
    program = _program(compiled)
    for _ in range(compiled_gradient.FUSE_AFTER_REPLAYS - 1):
        compiled(S)
        assert program._run is None
    compiled(S)  # the replay that starts the compile
    assert program.wait(timeout=300)
    got, expected = compiled(S), kronvec.value_and_grad(_gaussian_by_inverse)(S)
    assert _same(got[0], expected[0]) and _same(got[1], expected[1])


def test_fused_programs_work_without_a_writable_numba_cache():
    code = textwrap.dedent("""
        import numpy as np, kronvec
        f = lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S))
        compiled = kronvec.value_and_grad(f, compile=True)
        S = np.eye(3) * 2.0 + 0.1
        compiled(S)
        (entry,) = compiled.cache.values()
        fused = entry.built.fuse()
        got, expected = compiled(S), kronvec.value_and_grad(f)(S)
        print(fused, got[0] == expected[0] and np.array_equal(got[1], expected[1]))
    """)
    assert python_output(code, timeout=300, NUMBA_CACHE_DIR="/dev/null/nope",
                         NUMBA_CACHE_LOCATOR_CLASSES="UserProvidedCacheLocator") == ["True", "True"]


def test_importing_kronvec_and_a_first_compiled_call_import_no_numba():
    # The first call records and writes the fused program's source; numba comes in only
    # when a program has been replayed often enough to be compiled.
    code = ("import sys, numpy as np, kronvec; "
            "f = kronvec.value_and_grad(lambda S: np.linalg.slogdet(S)[1], compile=True); f(2.0 * np.eye(3)); "
            "print('kronvec._compiled.fused_kernels' in sys.modules, 'numba' in sys.modules)")
    assert python_output(code) == ["False", "False"]


def test_no_warning_escapes_a_fused_call():
    compiled, fused = _fused(_layers, np.array([[0.3, -0.1], [0.4, 0.2]]))
    assert fused
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled(np.array([[0.1, 0.2], [-0.3, 0.4]]))


def test_every_fused_form_is_a_registered_operation_and_every_expression_has_its_kernel():
    from kronvec._compiled.fused import FUSED_OPERATIONS, SCALAR_EXPRESSIONS
    from kronvec.ops import REGISTRY

    assert FUSED_OPERATIONS <= set(REGISTRY), FUSED_OPERATIONS - set(REGISTRY)
    assert set(SCALAR_EXPRESSIONS) == set(fused_kernels.ELEMENTWISE)


# ------------------------------------------------------------- random programs
def _random_program(seed):
    """A straight-line program of fusable operations on an n×n matrix, as users write them:
    chains with shared subexpressions, constants, scalars, transposes, products, inverses and
    solves of shifted Gram matrices, closed by one of the scalar reductions."""
    rng = np.random.default_rng([31, seed])
    n = int(rng.integers(2, 6))
    W = rng.uniform(-1.0, 1.0, size=(n, n))
    shift = n * np.eye(n)
    steps = [
        lambda Y, Z: np.tanh(Y),
        lambda Y, Z: Y * Z,
        lambda Y, Z: Y @ W,
        lambda Y, Z: Y.T,
        lambda Y, Z: Y + 0.5,
        lambda Y, Z: 2.0 * Y - Z,
        lambda Y, Z: Y / 3.0,
        lambda Y, Z: np.linalg.inv(Y @ Y.T + shift),
        lambda Y, Z: np.linalg.solve(Z @ Z.T + shift, Y),
        lambda Y, Z: np.exp(0.1 * Y),
        lambda Y, Z: np.log(Y * Y + 1.0),
        lambda Y, Z: np.tanh(Y @ Z),
        lambda Y, Z: -Y + Z.T,
        lambda Y, Z: Y * (np.sum(Z) / 10.0),            # a scalar times a matrix: the sum back
        lambda Y, Z: np.tanh(Y.T) * 2.0,                # Fortran-ordered values
        lambda Y, Z: Y.T @ Z,                           # a product of a transposed view
        lambda Y, Z: Z / (1.0 + np.trace(Y @ Y.T)),     # a quotient by a scalar
    ]
    closers = [
        lambda Y: np.sum(Y * W),
        lambda Y: np.trace(Y @ W),
        lambda Y: np.linalg.slogdet(Y @ Y.T + shift)[1],
        lambda Y: np.sum(Y) / 2.0 + np.trace(Y),
        lambda Y: 0.5 * np.linalg.slogdet(Y @ Y.T + shift)[1] + np.trace(Y),  # a unit cotangent that is not
        lambda Y: np.trace(np.linalg.solve(Y @ Y.T + shift, W @ W.T)),
    ]
    chosen = [steps[k] for k in rng.integers(0, len(steps), size=int(rng.integers(3, 8)))]
    closer = closers[int(rng.integers(0, len(closers)))]

    def f(X):
        Y, Z = X, X
        for step in chosen:
            Y, Z = step(Y, Z), Y
        return closer(Y)

    return f, n


@pytest.mark.parametrize("seed", range(8))
def test_random_programs_of_fusable_operations(seed):
    f, n = _random_program(seed)
    rng = np.random.default_rng([32, seed])
    compiled, fused = _fused(f, rng.uniform(-1.0, 1.0, size=(n, n)))
    assert fused, _program(compiled).fused.source
    transcendental = _program(compiled).fused.transcendental
    uncompiled = kronvec.value_and_grad(f)
    for _ in range(3):
        point = rng.uniform(-1.0, 1.0, size=(n, n))
        (value, gradient), (expected_value, expected_gradient) = compiled(point), uncompiled(point)
        agree = _close if transcendental else _same
        assert agree(value, expected_value) and agree(gradient, expected_gradient)


def test_one_array_passed_as_two_arguments_is_two_operands_as_uncompiled():
    # Uncompiled, each argument is copied: X @ Yᵀ is a gemm even when Y is X (NumPy would take
    # syrk for one buffer times its own transpose, with other last bits).
    f = lambda X, Y: np.sum((X @ Y.T) * _C4) + np.trace(np.linalg.inv(X + 4.0 * np.eye(4)))  # noqa: E731
    rng = np.random.default_rng(13)
    X = rng.uniform(-1.0, 1.0, size=(4, 4))
    compiled, fused = _fused(f, X, rng.uniform(-1.0, 1.0, size=(4, 4)), argnums=(0, 1))
    assert fused
    uncompiled = kronvec.value_and_grad(f, argnums=(0, 1))
    for Y in (X, X[:], X.copy()):
        got, expected = compiled(X, Y), uncompiled(X, Y)
        assert _same(got[0], expected[0]) and all(map(_same, got[1], expected[1]))


def test_an_overflow_takes_the_python_program_and_its_warnings():
    f = lambda X: np.sum(X * X * 1e300)  # noqa: E731
    compiled, fused = _fused(f, np.eye(2))
    assert fused
    uncompiled = kronvec.value_and_grad(f)
    big = np.full((2, 2), 1e10)
    with warnings.catch_warnings(record=True) as caught_compiled:
        warnings.simplefilter("always")
        got = compiled(big)
    with warnings.catch_warnings(record=True) as caught_uncompiled:
        warnings.simplefilter("always")
        expected = uncompiled(big)
    assert _same(got[0], expected[0]) and _same(got[1], expected[1])
    assert [w.category for w in caught_compiled] == [w.category for w in caught_uncompiled]
