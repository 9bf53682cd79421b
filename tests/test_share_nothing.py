"""Calls share nothing (issue 11): every differentiation call is independent of
other threads, of later mutation, and of the types it is handed.

Each test here is a regression test for one class of silently wrong numbers
that kronvec 0.1.0 (commit b0fa435) produced; the comment above it names
the cause that was removed.  ``tests/test_composition.py`` covers nested
transformations and deep graphs, ``tests/test_registry.py`` the registry.
"""

from __future__ import annotations

import copy
import sys
import threading
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

import kronvec
import kronvec.scipy.linalg as kl
from kronvec import config

from _helpers import central_difference_jacobian, jacobian_and_peak_memory

RNG = np.random.default_rng(11)
X3 = RNG.standard_normal((3, 3)) + 3.0 * np.eye(3)
C3 = RNG.standard_normal((3, 3))


def _gaussian_objective(S):
    return np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C3))


def _run_in_threads(work, count=4):
    """Run work(k) in `count` threads at once; return their results in order.

    The interpreter switches threads every microsecond meanwhile (instead of
    every 5 ms), so the calls really interleave, however fast each one is.
    """
    results, errors = [None] * count, []
    barrier = threading.Barrier(count)

    def run(k):
        try:
            barrier.wait()
            results[k] = work(k)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    if errors:
        raise errors[0]
    return results


# ------------------------------------------------------------------- threads
def _assert_four_threads_match_serial(work):
    """work(k) for k = 0 … 3, run one after another and then in four threads at once:
    the same numbers, bit for bit."""
    serial = [work(k) for k in range(4)]
    concurrent = _run_in_threads(work)
    for k in range(4):
        for expected, got in zip(serial[k], concurrent[k]):
            np.testing.assert_array_equal(got, expected)


def _points(k, count):
    rng = np.random.default_rng(100 + k)
    return [rng.standard_normal((3, 3)) + 3.0 * np.eye(3) for _ in range(count)]


def test_four_threads_get_exactly_the_serial_results():
    # Causes removed: a module-global memo keyed by id() in the operators, a
    # module-global stack of factorization scopes and a module-global cache of c·I
    # cotangents; now per-call state lives in the call and its context.  The caches
    # that remain (read-only c·I, LAPACK routine lookups, the derivative builders of
    # variadic operations, normalized argnums, the read-only index maps and triangle
    # masks of indexing.py keyed by shape and offset) are exercised here too.
    calls = 30
    slogdet = lambda S: np.linalg.slogdet(S)[1]  # noqa: E731
    joined = lambda Y: np.concatenate([Y, np.tanh(Y), Y.T], axis=k_axis)  # noqa: E731
    k_axis = 1
    gradient = kronvec.grad(_gaussian_objective)  # one transformed function, shared by the threads

    def work(k):
        out = []
        for X in _points(k, calls):
            out.append(gradient(X))
            out.append(kronvec.hessian(slogdet)(X).toarray())
            out.append(kronvec.jacobian(lambda Y: np.linalg.inv(Y) @ Y.T)(X).tosparse().toarray())
            out.append(kronvec.jacobian(joined)(X).toarray())
            out.append(kronvec.jacobian(lambda Y: np.triu(Y, k - 1) + np.roll(np.sort(Y, axis=0), k))(X).toarray())
            out.append(kronvec.jvp(lambda Y: kronvec.grad(slogdet)(Y), (X,), (X,))[1])
        return out

    _assert_four_threads_match_serial(work)


def test_four_threads_share_none_of_the_per_call_results_of_this_stops_operations():
    # The per-call shares added with kronvec.scipy.linalg and stacks — Schur forms of
    # the Sylvester solver, the eigendecomposition behind a symmetric expm, a stack's
    # slogdet/inverse, lstsq's factorization — are keyed by identity inside one call's
    # scope only; four threads interleaving calls get exactly the serial numbers.
    import kronvec.scipy.linalg as klinalg

    calls = 8

    def work(k):
        rng = np.random.default_rng(300 + k)
        out = []
        for _ in range(calls):
            A = rng.standard_normal((4, 4)) + 4.0 * np.eye(4)
            B = rng.standard_normal((4, 4)) + 4.0 * np.eye(4)
            S = A @ A.T / 4.0
            stack = rng.standard_normal((5, 3, 3)) + 3.0 * np.eye(3)
            out.append(kronvec.grad(lambda A: np.sum(klinalg.solve_sylvester(A, B, S) ** 2))(A))
            out.append(kronvec.grad(lambda S: np.sum(S * klinalg.expm(S)))(S))
            out.append(kronvec.jacobian(klinalg.sqrtm)(S + np.triu(B, 1) * 0.1).matvec(np.ones(16)))
            out.append(kronvec.grad(lambda T: np.sum(np.linalg.slogdet(T)[1]) + np.sum(np.linalg.inv(T)))(stack))
            out.append(kronvec.grad(lambda A: np.sum(np.linalg.lstsq(A, B[:, 0], rcond=None)[0] ** 2))(A))
        return out

    _assert_four_threads_match_serial(work)


def test_the_value_keyed_memos_of_the_pullbacks_are_read_only_and_thread_safe():
    # clip's and maximum's pullbacks read the bounds of a binary search from a memo keyed
    # by the bound values (an lru_cache: a function of its hashable arguments only, like
    # the index maps above). Its arrays are read-only, and four threads, each with bounds
    # of its own and one shared, get exactly the serial gradients.
    from kronvec.ops import elementwise, indexing

    for memo, arguments in ((elementwise._clip_bounds, (-0.5, 0.5)), (elementwise._extremum_bounds, (0.0,)),
                            (indexing._cyclic, (4, 1)), (indexing._triangle_mask, (3, 3, 0, True))):
        assert not memo(*arguments).flags.writeable
    calls = 40

    def work(k):
        rng = np.random.default_rng(500 + k)
        out = []
        for j in range(calls):
            X = rng.standard_normal((3, 4))
            low, c = -0.5 + 0.01 * (k + j % 3), 0.1 * (j % 5) - 0.2
            out.append(kronvec.grad(lambda X: np.sum(np.clip(X, low, 0.5) ** 2 + np.maximum(X, c) ** 3
                                                     + np.minimum(X, 0.25) * X))(X))
            out.append(kronvec.grad(lambda X: np.sum(np.sort(np.roll(X, j % 3), axis=k % 2) * X))(X))
        return out

    _assert_four_threads_match_serial(work)


def test_four_threads_iterating_in_place_match_serial_iterates():
    # In-place iterates X -= lr·∇f(X): a gradient must never depend on another
    # thread's factorization (the shared scope stack kept one call's LU of X, by
    # id, in another thread's scope, where the next iterate — the same object,
    # changed in place — found it).
    C = np.random.default_rng(3).standard_normal((16, 16))

    def f(S):
        return np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C))

    def iterate(k):
        X = 3.0 * (np.random.default_rng(100 + k).standard_normal((16, 16)) + 3.0 * np.eye(16))
        for _ in range(300):
            X -= 0.001 * kronvec.grad(f)(X)
        return X

    serial = [iterate(k) for k in range(4)]
    for expected, got in zip(serial, _run_in_threads(iterate)):
        np.testing.assert_array_equal(got, expected)


def test_config_override_is_local_to_its_thread():
    # Cause removed: override() set and restored a process-wide attribute, so two
    # overlapping blocks left the loser's value behind for good.
    default = config.dense_limit_bytes
    inside = threading.Barrier(2)
    seen = {}

    def hold(k):
        with config.override(dense_limit_bytes=1000 + k):
            inside.wait()
            seen[k] = config.dense_limit_bytes
            inside.wait()
        return config.dense_limit_bytes

    after = _run_in_threads(hold, count=2)
    assert seen == {0: 1000, 1: 1001}
    assert after == [default, default] and config.dense_limit_bytes == default


def test_check_finite_switched_off_in_one_thread_stays_on_in_the_others():
    bad = X3.copy()
    bad[0, 0] = np.nan
    barrier = threading.Barrier(2)

    def work(k):
        if k == 0:
            with config.override(check_finite=False):
                barrier.wait()
                barrier.wait()
            return None
        barrier.wait()
        try:
            kronvec.grad(lambda X: np.sum(X * X))(bad)
            return "accepted NaN"
        except ValueError as error:
            return str(error)
        finally:
            barrier.wait()

    assert "NaN or inf" in _run_in_threads(work, count=2)[1]


# ------------------------------------------------------------------- aliasing
def test_a_buffer_changed_inside_f_between_two_uses_is_captured_by_value():
    # Cause removed: constants were recorded by reference (and factorizations were
    # remembered by id), so fill_diagonal before each solve changed what both
    # solves saw.  Now each use records the value it had.
    M = C3 @ C3.T + np.eye(3)

    def f(X):
        total = 0.0
        for mu in (1.0, 5.0):
            np.fill_diagonal(M, mu)
            total = total + np.sum(np.linalg.solve(M, X))
        return total

    def reference(X):
        return sum(np.sum(np.linalg.solve(_with_diagonal(M, mu), X)) for mu in (1.0, 5.0))

    value, G = kronvec.value_and_grad(f)(X3)
    assert float(value) == pytest.approx(reference(X3), rel=1e-13)
    expected = sum(np.linalg.solve(_with_diagonal(M, mu).T, np.ones((3, 3))) for mu in (1.0, 5.0))
    np.testing.assert_allclose(G, expected, rtol=1e-12)


def _with_diagonal(M, mu):
    out = M.copy()
    np.fill_diagonal(out, mu)
    return out


def test_a_buffer_reused_in_a_loop_gives_the_right_gradient():
    buffer = np.empty((3, 3))

    def f(X):
        total = 0.0
        for k in range(3):
            buffer[...] = k + 1.0
            total = total + np.sum(X * buffer)
        return total

    np.testing.assert_allclose(kronvec.grad(f)(X3), np.full((3, 3), 6.0))


def test_an_index_array_changed_after_indexing_changes_nothing():
    idx = np.array([0, 2])

    def f(X):
        picked = X[idx]
        idx[:] = [1, 1]
        return np.sum(picked * picked)

    G = kronvec.grad(f)(X3)
    expected = np.zeros((3, 3))
    expected[[0, 2]] = 2.0 * X3[[0, 2]]
    np.testing.assert_allclose(G, expected)


@pytest.mark.parametrize("condition_dtype", [bool, float], ids=["boolean mask", "float condition"])
def test_a_where_condition_changed_after_the_call_or_inside_f_changes_nothing(condition_dtype):
    # np.where captures its condition by value (a copy: the recording's own), as every
    # constant: neither a write into the mask inside f after the where, nor one after the
    # call (the pullback sweeps later) reaches the recorded choice of entries.
    mask = np.array([[True, False, True], [False, True, False], [True, True, False]]).astype(condition_dtype)
    original = mask.astype(bool)

    def f(X):
        chosen = np.where(mask, X, 0.5 * X)
        mask[...] = 0  # inside f, after the where
        return chosen * C3

    mask_saved = mask.copy()
    out, pullback = kronvec.vjp(f, X3)
    mask[...] = 1  # after the call, before the sweep
    (G,) = pullback(np.ones((3, 3)))
    np.testing.assert_array_equal(out, np.where(original, X3, 0.5 * X3) * C3)
    np.testing.assert_array_equal(G, np.where(original, C3, 0.5 * C3))
    mask[...] = mask_saved
    np.testing.assert_array_equal(kronvec.grad(lambda X: np.sum(f(X)))(X3), np.where(original, C3, 0.5 * C3))


def test_a_jacobian_does_not_change_when_the_caller_updates_x_in_place():
    X = X3.copy()
    J = kronvec.jacobian(np.linalg.inv)(X)
    before = J.toarray()
    X += 1.0
    np.testing.assert_array_equal(J.toarray(), before)
    J2 = kronvec.jacobian(lambda Y: Y @ C3)(X)  # a Kron holding the (captured) constant
    before = J2.toarray()
    C3_saved = C3.copy()
    try:
        C3[...] = 0.0
        np.testing.assert_array_equal(J2.toarray(), before)
    finally:
        C3[...] = C3_saved


def test_returned_results_own_their_memory_and_never_alias_each_other():
    # Cause removed: add's VJP passes its cotangent through, so both arguments got
    # the same array object.
    gx, gy = kronvec.grad(lambda X, Y: np.sum(X + Y), argnums=(0, 1))(X3, C3)
    assert gx is not gy and not np.shares_memory(gx, gy)
    gx[0, 0] = 42.0
    assert gy[0, 0] == 1.0
    out, pullback = kronvec.vjp(np.linalg.inv, X3)
    cotangent = pullback(np.ones((3, 3)))[0]
    out[...] = 0.0  # the user's copy: the pullback keeps its own
    np.testing.assert_array_equal(pullback(np.ones((3, 3)))[0], cotangent)


@pytest.mark.parametrize("f, gradient", [
    (lambda X, C: np.sum(X * C), lambda X, C: C),
    (lambda X, C: np.sum(C * X), lambda X, C: C),
    (lambda X, C: np.sum(C / (X * X + 1.0)), lambda X, C: -2.0 * X * C / (X * X + 1.0) ** 2),
    (lambda X, C: np.sum((X - C) * (C - X)), lambda X, C: -2.0 * (X - C)),
    (lambda X, C: np.sum(np.where(C > 0, X * C, 0.5 * X)), lambda X, C: np.where(C > 0, C, 0.5)),
], ids=["X * C", "C * X", "C / (X² + 1)", "(X − C)(C − X)", "where"])
def test_a_large_captured_constant_is_not_overwritten_by_numpys_temporary_elision(f, gradient):
    # Cause (found in stop 19): a constant's captured copy was held by the recording's
    # argument tuple alone while operator.mul ran, so NumPy (≥ 256 KiB operands) took it
    # for a temporary and wrote X·C into it; the VJP then read the product instead of C.
    rng = np.random.default_rng(5)
    X, C = rng.standard_normal((300, 150)), rng.standard_normal((300, 150))  # 351 KiB each
    np.testing.assert_allclose(kronvec.grad(lambda X: f(X, C))(X), gradient(X, C), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("f, derivative", [
    (lambda X, C: X @ C, lambda X, C, V: V @ C),
    (lambda X, C: C @ X, lambda X, C, V: C @ V),
], ids=["X @ C", "C @ X"])
def test_a_jacobian_captures_each_constant_once(f, derivative):
    # Cause removed: a jacobian records with labels, so bind's fast path fell back to
    # _bind_general, which captured the constants again while the fast path's copies were
    # still held: one n² per constant more at the peak (tracemalloc at n = 200 on 033a5b4:
    # 4.0 n², now 3.0 — the copy of X, the one of C, the product).  The constants stay
    # captured by value.
    rng = np.random.default_rng(8)
    n = 200
    X = rng.standard_normal((n, n))
    C = np.abs(rng.standard_normal((n, n))) + 0.1
    V = rng.standard_normal((n, n))
    constant = C.copy()
    g = lambda X: f(X, constant)  # noqa: E731
    kronvec.jacobian(g)(X)  # (first-call costs out of the count)
    J, peak = jacobian_and_peak_memory(g, X)
    assert peak < 3.5 * 8 * n * n, f"peak {peak / (8 * n * n):.2f} n²"
    expected = derivative(X, C, V).ravel(order="F")
    np.testing.assert_allclose(J.matvec(V.ravel(order="F")), expected, rtol=1e-13, atol=1e-13)
    constant[...] = np.nan  # the caller's array, changed after the call: J keeps its own copy
    np.testing.assert_allclose(J.matvec(V.ravel(order="F")), expected, rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------ several arguments
@pytest.mark.parametrize("x, y", [(2.0, 2.0), (np.ones((2, 2)), np.ones((2, 2)))], ids=["scalars", "arrays"])
def test_jacobian_with_respect_to_two_equal_arguments(x, y):
    # Cause removed: the input's position was found with list.index, i.e. by ==, which
    # matched the wrong input for equal scalars and was ambiguous for arrays.
    Jx, Jy = kronvec.jacobian(lambda a, b: a * 3.0 + b * 5.0, argnums=(0, 1))(x, y)
    n = np.size(x)
    np.testing.assert_array_equal(Jx.toarray(), 3.0 * np.eye(n))
    np.testing.assert_array_equal(Jy.toarray(), 5.0 * np.eye(n))


@pytest.mark.parametrize("argnums", [(0, 0), (0, -2)])
def test_duplicate_argnums_are_refused(argnums):
    with pytest.raises(ValueError, match="same argument twice"):
        kronvec.grad(lambda X, Y: np.sum(X * Y), argnums=argnums)(X3, C3)


@pytest.mark.parametrize("argnums", [1.5, None, "ab", (0, 1.0), True])
def test_malformed_argnums_are_a_type_error_naming_argnums(argnums):
    # argnums=1.5 raised "'float' object is not iterable"
    for transformation in (kronvec.grad, kronvec.jacobian, lambda f, argnums: kronvec.grad(f, argnums, compile=True)):
        with pytest.raises(TypeError, match="kronvec.grad: argnums must be|kronvec.jacobian: argnums must be"):
            transformation(lambda X, Y: np.sum(X * Y), argnums=argnums)(X3, C3)


# ---------------------------------------------------------------------- types
def test_complex_constants_made_inside_f_are_refused():
    # Cause removed: the complex intermediate X·1j was recorded and its imaginary
    # part dropped with a ComplexWarning; the gradient came back as −2X.
    with pytest.raises(TypeError, match="complex"):
        kronvec.grad(lambda X: np.sum(np.abs(X * 1j) ** 2))(X3)
    with pytest.raises(TypeError, match="complex"):
        kronvec.grad(lambda X: np.sum(X @ (C3 + 0j)))(X3)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")  # (making one is the point)
def test_matrix_and_masked_arrays_are_refused_as_inputs_and_constants():
    M = np.asmatrix(C3)
    masked = np.ma.masked_array(C3, mask=np.eye(3, dtype=bool))
    for call in (lambda: kronvec.grad(lambda X: np.sum(X * X))(M),
                 lambda: kronvec.grad(lambda X: np.sum(X * M))(X3),
                 lambda: kronvec.grad(lambda X: np.sum(X * masked))(X3),
                 lambda: kronvec.grad(lambda X, A: np.sum(X * A))(X3, masked),
                 lambda: kronvec.jacobian(lambda X: X @ M)(X3)):
        with pytest.raises(TypeError, match="np.matrix|masked"):
            call()


def test_masked_arrays_are_refused_by_structured_operators():
    # A Jacobian applied to a masked vector (matvec, rmatvec, @) and an operator built
    # from masked data silently used the hidden entries as well.
    J = kronvec.jacobian(lambda X: np.sin(X) @ X)(X3)
    masked = np.ma.masked_array(np.ones(9), mask=np.arange(9) > 4)
    for call in (lambda: J.matvec(masked), lambda: J.rmatvec(masked), lambda: J @ masked,
                 lambda: masked @ J, lambda: J.matmat(masked[:, None]),
                 lambda: kronvec.Dense(np.ma.masked_array(C3, mask=C3 > 0)),
                 lambda: kronvec.Kron(np.ma.masked_array(C3, mask=C3 > 0), C3),
                 lambda: kronvec.Diag(masked), lambda: kronvec.RowVector(masked)):
        with pytest.raises(TypeError, match="masked array; kronvec would ignore its mask"):
            call()
    np.testing.assert_allclose(J.matvec(masked.filled(0.0)), J.toarray() @ masked.filled(0.0), rtol=1e-14, atol=1e-14)


def test_deepcopy_and_copy_of_a_traced_value_keep_the_derivative():
    # Cause removed: deepcopy made a fresh object outside the recording: gradient 0.
    G = kronvec.grad(lambda X: np.sum(copy.deepcopy(X) * X))(X3)
    np.testing.assert_allclose(G, 2.0 * X3)
    G = kronvec.grad(lambda X: np.sum(copy.copy(X) ** 2 + X.copy()))(X3)
    np.testing.assert_allclose(G, 2.0 * X3 + 1.0)


def test_a_function_returning_none_is_an_error():
    with pytest.raises(TypeError, match="returned None"):
        kronvec.grad(lambda X: None)(X3)
    with pytest.raises(TypeError, match="returned None"):
        kronvec.jacobian(lambda X: None)(X3)


@pytest.mark.parametrize("f", [lambda X: X[0, 0] > 0, lambda X: np.allclose(X, 1.0), lambda X: np.all(X > 0)],
                         ids=["comparison", "np.allclose", "np.all"])
@pytest.mark.parametrize("transformation", [kronvec.grad, kronvec.jacobian, kronvec.hessian])
def test_a_function_returning_a_truth_value_is_an_error(f, transformation):
    # Cause removed: a boolean result was promoted to float and differentiated to 0,
    # though a truth value has no derivative (JAX and autograd refuse it too).
    with pytest.raises(TypeError, match="returned a boolean"):
        transformation(f)(X3)
    assert np.all(kronvec.grad(lambda X: np.sum(X > 0))(X3) == 0.0)  # a count of them is a number: 0


def test_transpose_with_negative_axes():
    # Cause removed: the reverse pass inverted the permutation without normalizing it.
    W = np.arange(6.0).reshape(3, 2)
    f = lambda R: np.sum(np.transpose(R, (-1, 0)) * W)  # noqa: E731
    R = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(kronvec.grad(f)(R), W.T)
    T = RNG.standard_normal((2, 3, 4))
    g = lambda T: np.transpose(T, (-1, 0, -2))  # noqa: E731
    J = kronvec.jacobian(g)(T)
    np.testing.assert_allclose(J.toarray(), central_difference_jacobian(g, (T,)), atol=1e-9)


@pytest.mark.parametrize("bad", [np.nan, [1.0, np.nan, 2.0], (np.inf, 1.0, 0.0)], ids=["scalar", "list", "tuple"])
def test_nan_in_scalar_list_or_tuple_constants_is_refused(bad):
    with pytest.raises(ValueError, match="NaN or inf"):
        kronvec.grad(lambda x, c: np.sum(x * c))(np.ones(3), bad)
    with pytest.raises(ValueError, match="NaN or inf"):
        kronvec.grad(lambda x: np.sum(x * bad))(np.ones(3))


@pytest.mark.parametrize("bad", [np.nan, -np.inf, (0.0, np.nan), [[1.0, 2.0], [np.inf, 0.0]]],
                         ids=["nan", "-inf", "pair", "per-axis"])
def test_non_finite_pad_values_are_refused(bad):
    # np.pad's constant_values reached the recording as plain floats, unchecked: a NaN frame
    # gave a NaN value with a finite gradient. They are a constant operand like any other.
    X = RNG.standard_normal((2, 3))
    with pytest.raises(ValueError, match="np.pad's constant_values contains NaN or inf"):
        kronvec.grad(lambda X: np.sum(np.pad(X, 1, constant_values=bad)))(X)
    with pytest.raises(TypeError, match="np.pad's constant_values is complex"):
        kronvec.grad(lambda X: np.sum(np.pad(X, 1, constant_values=1j)))(X)
    with kronvec.config.override(check_finite=False):  # (the documented way out: nansum of a NaN frame)
        value, G = kronvec.value_and_grad(lambda X: np.nansum(np.pad(X, 1, constant_values=np.nan)))(X)
    assert value == pytest.approx(X.sum())
    np.testing.assert_array_equal(G, np.ones_like(X))


def test_non_finite_full_like_fill_and_max_initial_are_refused():
    # Both reached the recording unchecked (a NaN value with a finite gradient).
    X = RNG.standard_normal((2, 3))
    with pytest.raises(ValueError, match="np.full_like's fill_value contains NaN or inf"):
        kronvec.grad(lambda X: np.sum(X + np.full_like(X, np.nan)))(X)
    for bad in (np.nan, np.inf):  # (+inf is not max's identity: every result would be +inf)
        with pytest.raises(ValueError, match="the initial value of np.max contains NaN or inf"):
            kronvec.grad(lambda X: np.max(X, initial=bad))(X)
    with pytest.raises(ValueError, match="the initial value of np.min contains NaN or inf"):
        kronvec.grad(lambda X: np.min(X, initial=-np.inf))(X)


@pytest.mark.parametrize("f", [
    lambda X: np.clip(X, 0.0, np.inf), lambda X: np.clip(X, -np.inf, 0.5), lambda X: X.clip(max=np.inf),
    lambda X: np.clip(X, -np.inf, np.inf), lambda X: np.max(X, axis=0, initial=-np.inf),
    lambda X: np.min(X, axis=1, initial=np.inf),
    lambda X: np.max(X, axis=1, initial=-np.inf, where=np.array([[True, False, True], [False, False, False]])),
], ids=["clip(0, inf)", "clip(-inf, h)", "clip(max=inf)", "clip(-inf, inf)", "max initial -inf",
        "min initial inf", "max initial -inf, an empty slice"])
def test_an_infinity_that_bounds_nothing_is_accepted(f):
    # np.clip(X, 0, np.inf) and np.max(X, initial=-np.inf) are common spellings of "no bound";
    # the infinity on its own side changes no value, so it is not refused as a non-finite
    # constant (notes/conventions.md §8). Values are NumPy's, bit for bit (also the −inf of
    # an empty slice); derivatives match central differences.
    X = np.array([[1.3, -0.4, 0.7], [-0.2, 0.9, 2.0]])
    bounded = lambda X: np.maximum(f(X), -5.0)  # noqa: E731 (the −inf of an empty slice clipped)
    np.testing.assert_allclose(kronvec.jacobian(bounded)(X).toarray(), central_difference_jacobian(bounded, (X,)),
                               atol=1e-8)
    value, G = kronvec.value_and_grad(lambda X: np.sum(bounded(X) ** 2))(X)
    assert value == np.sum(bounded(X) ** 2)
    with pytest.raises(ValueError, match="constant operand of clip contains NaN or inf"):
        kronvec.grad(lambda X: np.sum(np.clip(X, np.inf, 2.0)))(X)  # (an infinity on the wrong side)


def test_derivative_of_a_power_in_its_exponent_at_a_zero_base():
    # d/dp 0**p = 0 for p > 0 (0·log 0 was NaN)
    a = np.array([0.0, 2.0])
    G = kronvec.grad(lambda p: np.sum(a ** p))(np.array([1.5, 1.5]))
    np.testing.assert_allclose(G, [0.0, 2.0 ** 1.5 * np.log(2.0)])
    with pytest.raises(ValueError, match="0\\*\\*p"):
        kronvec.grad(lambda p: np.sum(a ** p))(np.array([0.0, 1.0]))


def test_norm_of_tiny_and_huge_matrices_keeps_its_gradient():
    for scale in (1e-170, 1e200):
        X = scale * np.array([[3.0, 0.0], [0.0, 4.0]])
        value, G = kronvec.value_and_grad(np.linalg.norm)(X)
        assert float(value) == pytest.approx(5.0 * scale, rel=1e-15)
        np.testing.assert_allclose(G, [[0.6, 0.0], [0.0, 0.8]], rtol=1e-15)


def test_det_gradient_of_widely_scaled_matrices_is_right_or_loud():
    # adj(X) of diag(1e200, 1e-100, 1e-150): every entry representable, but a running
    # product of singular values underflowed/overflowed to 0·inf = NaN.
    X = np.diag([1e200, 1e-100, 1e-150])
    np.testing.assert_allclose(kronvec.grad(np.linalg.det)(X), np.diag([1e-250, 1e50, 1e100]), rtol=1e-14)
    # adj(diag(1e200, 1e200, 1e-300)) has the entry 1e400: not representable, so loud
    with pytest.raises(ValueError, match="overflows"):
        kronvec.grad(np.linalg.det)(np.diag([1e200, 1e200, 1e-300]))


def test_float32_matrices_get_the_float32_ill_conditioning_threshold():
    # κ ≈ 1e6: fine in float64, but float32 derivatives there lost all digits.
    X = np.diag([1.0, 1e-6]).astype(np.float32)
    with pytest.warns(kronvec.IllConditionedWarning):
        kronvec.grad(lambda X: np.linalg.slogdet(X)[1])(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kronvec.IllConditionedWarning)  # float64: no warning
        kronvec.grad(lambda X: np.linalg.slogdet(X)[1])(X.astype(np.float64))


# ------------------------------------------------ clear errors, not crashes
@pytest.mark.parametrize("method", ["resize", "byteswap", "put", "item", "tolist", "tofile", "fill"])
def test_unsupported_ndarray_methods_raise_type_error_naming_them(method):
    with pytest.raises(TypeError, match=method):
        kronvec.grad(lambda X: getattr(X, method)())(X3)


def test_supported_ndarray_methods():
    f = lambda X: np.sum(X.copy().astype(np.float64).squeeze() * X.diagonal()[:, None])  # noqa: E731
    np.testing.assert_allclose(kronvec.grad(f)(X3), central_difference_jacobian(f, (X3,)).reshape(3, 3, order="F"),
                               atol=1e-8)


def test_keyword_arguments_numpy_has_are_honoured_or_refused_by_name():
    W = RNG.standard_normal((3, 3))
    np.testing.assert_allclose(kronvec.grad(lambda X: np.trace(X, 1))(W), np.eye(3, k=1))
    np.testing.assert_allclose(kronvec.grad(lambda X: np.trace(X, offset=-1))(W), np.eye(3, k=-1))
    np.testing.assert_allclose(kronvec.grad(lambda X: X.trace(1))(W), np.eye(3, k=1))
    assert kronvec.grad(lambda X: np.sum(X) * np.size(X, 0))(W)[0, 0] == 3.0
    with pytest.raises(TypeError, match="np.dot with out="):
        kronvec.grad(lambda X: np.sum(np.dot(X, X, out=np.empty((3, 3)))))(W)
    with pytest.raises(TypeError, match="np.sum with dtype="):  # (an integer accumulator truncates)
        kronvec.grad(lambda X: np.sum(X, dtype=np.int64))(W)


def test_list_constants_work_in_every_mode():
    f = lambda X: X @ [[1.0, 2.0], [3.0, 4.0]]  # noqa: E731
    X = RNG.standard_normal((2, 2))
    B = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(kronvec.jacobian(f)(X).toarray(), np.kron(B.T, np.eye(2)))
    np.testing.assert_allclose(kronvec.grad(lambda X: np.sum(f(X)))(X), np.ones((2, 2)) @ B.T)


def test_assigning_into_a_traced_input_is_recorded_and_leaves_the_callers_array_alone():
    def f(X):
        X[0, 0] = 1.0  # recorded functionally: the caller's array is not written
        return np.sum(X * X)

    before = X3.copy()
    expected = 2.0 * X3
    expected[0, 0] = 0.0
    np.testing.assert_allclose(kronvec.grad(f)(X3), expected, rtol=1e-14)
    np.testing.assert_array_equal(X3, before)


def test_a_scipy_function_converting_a_traced_value_is_named():
    import scipy.linalg

    with pytest.raises(TypeError, match=r"cannot differentiate scipy\.linalg\.expm:"):
        kronvec.grad(lambda X: np.sum(scipy.linalg.expm(X)))(X3)
    # converted inside a decorator's wrapper (SciPy's batching), before the function runs:
    # named by the function the wrapper wraps, not by the wrapper or the asarray it calls
    with pytest.raises(TypeError, match=r"cannot differentiate scipy\.linalg\.solve_sylvester:"):
        kronvec.grad(lambda X: np.sum(scipy.linalg.solve_sylvester(X, X, X)))(X3 + 3.0 * np.eye(3))


# ------------------------------------------------------------- optimize path
def test_least_squares_dense_path_respects_the_dense_limit():
    import kronvec.optimize as kvo

    C = C3 @ C3.T + np.eye(3)
    with config.override(dense_limit_bytes=100):
        with pytest.raises(MemoryError, match="dense_limit_bytes"):
            kvo.least_squares(lambda X: X @ X - C, np.eye(3), method="lm")


def test_sparse_operands_keep_structure():
    J = kronvec.jacobian(np.linalg.inv)(X3)
    S = scipy.sparse.random(9, 9, density=0.3, random_state=1, format="csr")
    np.testing.assert_allclose((J @ S).toarray(), J.toarray() @ S.toarray(), atol=1e-12)
    np.testing.assert_allclose((J + S).toarray(), J.toarray() + S.toarray(), atol=1e-12)


# ---------------------------------------------------------- true formula labels
def test_formula_labels_are_names_the_user_gave_and_never_reused():
    # Causes removed: unnamed constants all printed as "C" (so B·X·(A + C) printed
    # Cᵀ ⊗ B, as if the sum were C), Kron(B, A) of plain arrays printed A ⊗ B, and a
    # row-major ravel printed "R" where it is the commutation matrix.
    rng = np.random.default_rng(0)
    A, B, C, X = (rng.standard_normal((3, 3)) for _ in range(4))
    assert kronvec.jacobian(lambda X: B @ X @ (A + C))(X).formula() == "M₁ᵀ ⊗ B"
    assert kronvec.Kron(B, A).formula() == "M₁ ⊗ M₂"
    assert kronvec.jacobian(lambda X: X.ravel())(X).formula() == "K₃,₃"
    assert kronvec.jacobian(np.linalg.inv)(X).formula() == "-(inv(X)ᵀ ⊗ inv(X))"


def test_stacked_matrix_function_derivatives_leave_the_warning_filters_alone():
    # warnings.catch_warnings edits the process-wide filter list: while one thread sat in
    # it, another thread's warnings (an IllConditionedWarning) were lost.  No Python call
    # made while differentiating a stack of sqrtm/logm may see the filters change.
    import kronvec.scipy.linalg as klinalg

    A = np.random.default_rng(0).standard_normal((2, 3, 3)) * 0.3 + 2.0 * np.eye(3)

    def differentiate(function):
        kronvec.grad(lambda A: np.sum(function(A) ** 2))(A)
        kronvec.jacobian(function)(A).matvec(np.ones(18))

    # The calls that edit the filters, as this thread makes them (sys.setprofile sees this thread
    # only): comparing snapshots of the process-wide list instead failed now and then when a
    # thread another test left running (a dask cluster's) edited it meanwhile
    editors = {"__enter__", "__exit__", "filterwarnings", "simplefilter", "resetwarnings", "_add_filter"}

    def watch(edits):
        def profile(frame, event, arg):
            if (event == "call" and frame.f_code.co_name in editors
                    and frame.f_globals.get("__name__") == "warnings"):
                edits.append(frame.f_code.co_qualname)
        return profile

    for function in (klinalg.sqrtm, klinalg.logm):
        differentiate(function)  # (first calls import SciPy modules, which add filters once)
        edits = []
        sys.setprofile(watch(edits))
        try:
            differentiate(function)
        finally:
            sys.setprofile(None)
        assert not edits, f"{function.__name__}: the call edited the warning filters ({edits})"


_PLAIN_FRONT_DOORS = {  # (kronvec.scipy.linalg's, SciPy's, a matrix in its domain)
    "polar": (lambda M: kl.polar(M)[0], lambda M: scipy.linalg.polar(M)[0], "general"),
    "sqrtm (symmetric)": (lambda M: kl.sqrtm(M), scipy.linalg.sqrtm, "spd"),
    "expm (symmetric)": (lambda M: kl.expm(M), scipy.linalg.expm, "spd"),
    "logm (symmetric)": (lambda M: kl.logm(M), scipy.linalg.logm, "spd"),
    "fractional_matrix_power": (lambda M: kl.fractional_matrix_power(M, 0.3),
                                lambda M: scipy.linalg.fractional_matrix_power(M, 0.3), "spd"),
    "solve_continuous_lyapunov": (lambda M: kl.solve_continuous_lyapunov(M, np.eye(3)),
                                  lambda M: scipy.linalg.solve_continuous_lyapunov(M, np.eye(3)), "general"),
}


@pytest.mark.parametrize("name", list(_PLAIN_FRONT_DOORS))
def test_a_plain_buffer_changed_between_two_calls_inside_f_is_factored_again(name):
    # Within a differentiation call, per-call results are remembered by the identity of the
    # call's own arrays.  kronvec.scipy.linalg given a plain (caller's) buffer used to
    # remember it too: changed in place between two calls inside f, the second call got the
    # first call's factorization (stale values on 033a5b4 for every function listed here).
    ours, scipys, kind = _PLAIN_FRONT_DOORS[name]
    rng = np.random.default_rng(21)
    B = rng.standard_normal((3, 3))
    C = B @ B.T + 3.0 * np.eye(3) if kind == "spd" else 2.0 * np.eye(3) + 0.3 * B
    seen = []

    def f(X):
        first = ours(C)
        C[0, 0] += 0.5  # (a symmetric change: the symmetric paths stay symmetric)
        seen.append((np.array(first), np.array(ours(C)), scipys(C)))
        return np.sum(X * first)

    kronvec.grad(f)(np.ones((3, 3)))
    first, second, expected = seen[0]
    assert not np.allclose(first, expected)  # (the change matters)
    np.testing.assert_allclose(second, expected, rtol=1e-12, atol=1e-12)
