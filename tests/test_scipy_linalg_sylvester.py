"""kronvec.scipy.linalg's Sylvester and Lyapunov solvers: SciPy's values, derivatives in
every mode against finite differences, structured Jacobians against their dense forms,
and the loud failures (singular equations, shapes, non-finite input).

Tolerances: values agree with SciPy's to rounding (Schur forms and trsyl on the same
input; 1e-12 relative to the solution's size at these well-conditioned points);
derivatives as tests/_scipy_helpers.py (FD_RTOL = 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import kronvec
import kronvec.scipy.linalg as kl
from kronvec._linalg import sylvester as solver_module
from kronvec._vec import vec
from kronvec.operators import SylvesterInverse

from _helpers import assert_scaled_close, assert_unchanged, checksum, dot_test, jacobian_and_peak_memory
from _scipy_helpers import check_derivatives

VALUE_RTOL = 1e-12


def _well_conditioned(rng, n):
    return rng.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)


def _stable_discrete(rng, n):
    return rng.standard_normal((n, n)) / (2.0 * np.sqrt(n))


def _rotation_block(rng):
    """Eigenvalues 1 ± 2i and 3: a 2×2 block in the real Schur form."""
    Z, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return Z @ np.array([[1.0, 2.0, 0.5], [-2.0, 1.0, 0.3], [0.0, 0.0, 3.0]]) @ Z.T


# ----------------------------------------------------------------- values
@pytest.mark.parametrize("m, n", [(1, 1), (3, 1), (2, 5), (6, 4)])
def test_solve_sylvester_equals_scipy(m, n):
    rng = np.random.default_rng([m, n])
    a, b, q = _well_conditioned(rng, m), _well_conditioned(rng, n), rng.standard_normal((m, n))
    before = checksum((a, b, q))
    x = kl.solve_sylvester(a, b, q)
    assert_unchanged(before, (a, b, q))
    assert_scaled_close(x, scipy.linalg.solve_sylvester(a, b, q), VALUE_RTOL, "solve_sylvester")
    assert_scaled_close(a @ x + x @ b, q, VALUE_RTOL, "A X + X B = Q")


def test_solve_sylvester_with_complex_eigenvalues_equals_scipy():
    rng = np.random.default_rng(3)
    a, b, q = _rotation_block(rng), _rotation_block(rng).T, rng.standard_normal((3, 3))
    assert_scaled_close(kl.solve_sylvester(a, b, q), scipy.linalg.solve_sylvester(a, b, q), VALUE_RTOL, "2×2 blocks")


def test_float32_stays_float32_and_ints_become_float64():
    rng = np.random.default_rng(4)
    a, b, q = _well_conditioned(rng, 3), _well_conditioned(rng, 2), rng.standard_normal((3, 2))
    x32 = kl.solve_sylvester(a.astype(np.float32), b.astype(np.float32), q.astype(np.float32))
    assert x32.dtype == scipy.linalg.solve_sylvester(a.astype(np.float32), b.astype(np.float32),
                                                     q.astype(np.float32)).dtype == np.float32
    ints = np.array([[3, 1], [0, 2]]), np.array([[1]]), np.array([[1], [2]])
    assert kl.solve_sylvester(*ints).dtype == np.float64
    np.testing.assert_allclose(kl.solve_sylvester(*ints), scipy.linalg.solve_sylvester(*ints), rtol=1e-14)


@pytest.mark.parametrize("n", [1, 3, 7])
def test_solve_continuous_lyapunov_equals_scipy(n):
    rng = np.random.default_rng(n)
    a, q = _well_conditioned(rng, n), rng.standard_normal((n, n))
    x = kl.solve_continuous_lyapunov(a, q)
    assert_scaled_close(x, scipy.linalg.solve_continuous_lyapunov(a, q), VALUE_RTOL, "continuous Lyapunov")
    assert kl.solve_lyapunov is kl.solve_continuous_lyapunov
    assert_scaled_close(kl.solve_continuous_lyapunov(2.0, 3.0), scipy.linalg.solve_continuous_lyapunov(2.0, 3.0),
                        VALUE_RTOL, "scalars (SciPy's atleast_2d)")


@pytest.mark.parametrize("n, method", [(3, None), (3, "bilinear"), (12, None), (12, "direct"), (4, "Direct")])
def test_solve_discrete_lyapunov_equals_scipy_for_every_method(n, method):
    rng = np.random.default_rng(n)
    a, q = _stable_discrete(rng, n), rng.standard_normal((n, n))
    x = kl.solve_discrete_lyapunov(a, q, method=method)
    assert_scaled_close(x, scipy.linalg.solve_discrete_lyapunov(a, q, method=method), VALUE_RTOL, f"method={method}")
    assert_scaled_close(a @ x @ a.T - x + q, np.zeros((n, n)), VALUE_RTOL, "A X Aᵀ − X + Q = 0")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_solve_discrete_lyapunov_by_the_cayley_transform_keeps_scipys_dtype_and_value(dtype):
    # float64 is solved through the Cayley transform its derivatives share, float32 by
    # SciPy's own bilinear steps in float64: both give SciPy's value and dtype.
    rng = np.random.default_rng(31)
    a, q = _stable_discrete(rng, 40).astype(dtype), rng.standard_normal((40, 40)).astype(dtype)
    x, reference = kl.solve_discrete_lyapunov(a, q), scipy.linalg.solve_discrete_lyapunov(a, q)
    assert x.dtype == reference.dtype
    assert_scaled_close(x, reference, VALUE_RTOL, f"{np.dtype(dtype).name}")


def test_stacks_are_solved_member_by_member_with_broadcasting():
    rng = np.random.default_rng(5)
    a, q = rng.standard_normal((2, 3, 3)) + 4 * np.eye(3), rng.standard_normal((3, 3))
    assert_scaled_close(kl.solve_continuous_lyapunov(a, q), scipy.linalg.solve_continuous_lyapunov(a, q),
                        VALUE_RTOL, "a stack")
    b = rng.standard_normal((2, 2)) + 4 * np.eye(2)
    q2 = rng.standard_normal((4, 1, 3, 2))
    x = kl.solve_sylvester(a, b, q2)
    assert x.shape == (4, 2, 3, 2)
    assert_scaled_close(x, scipy.linalg.solve_sylvester(a, b, q2), VALUE_RTOL, "a broadcast stack")
    g = kronvec.grad(lambda a: np.sum(kl.solve_continuous_lyapunov(a, q) ** 2))(a)
    for k in range(2):
        g_k = kronvec.grad(lambda m: np.sum(kl.solve_continuous_lyapunov(m, q) ** 2))(a[k])
        assert_scaled_close(g[k], g_k, VALUE_RTOL, "gradient of a stack")


def test_empty_matrices_give_empty_solutions():
    assert kl.solve_sylvester(np.zeros((0, 0)), np.ones((2, 2)), np.zeros((0, 2))).shape == (0, 2)
    assert kl.solve_continuous_lyapunov(np.zeros((0, 0)), np.zeros((0, 0))).shape == (0, 0)


# ------------------------------------------------------------- derivatives
def _sylvester_point(seed=0, m=3, n=2):
    rng = np.random.default_rng(seed)
    return _well_conditioned(rng, m), _well_conditioned(rng, n), rng.standard_normal((m, n))


@pytest.mark.parametrize("argnum", [0, 1, 2])
def test_solve_sylvester_derivatives_in_every_mode(argnum):
    check_derivatives(kl.solve_sylvester, _sylvester_point(), argnum, what="solve_sylvester")


@pytest.mark.parametrize("argnum", [0, 1, 2])
def test_solve_sylvester_derivatives_with_2x2_schur_blocks(argnum):
    rng = np.random.default_rng(8)
    args = (_rotation_block(rng), _rotation_block(np.random.default_rng(9)).T, rng.standard_normal((3, 3)))
    check_derivatives(kl.solve_sylvester, args, argnum, what="solve_sylvester (complex eigenvalues)")


@pytest.mark.parametrize("argnum", [0, 1])
def test_solve_continuous_lyapunov_derivatives_in_every_mode(argnum):
    rng = np.random.default_rng(1)
    args = (-_well_conditioned(rng, 3), rng.standard_normal((3, 3)))
    check_derivatives(kl.solve_continuous_lyapunov, args, argnum, what="solve_continuous_lyapunov")


@pytest.mark.parametrize("method", [None, "direct", "bilinear"])
@pytest.mark.parametrize("argnum", [0, 1])
def test_solve_discrete_lyapunov_derivatives_do_not_depend_on_the_method(argnum, method):
    rng = np.random.default_rng(2)
    args = (_stable_discrete(rng, 3), rng.standard_normal((3, 3)))
    check_derivatives(lambda a, q: kl.solve_discrete_lyapunov(a, q, method=method), args, argnum,
                      what=f"solve_discrete_lyapunov(method={method})")


def test_discrete_lyapunov_gradient_of_order_twelve_bilinear_by_default():
    rng = np.random.default_rng(12)
    a, q = _stable_discrete(rng, 12), rng.standard_normal((12, 12))
    W = rng.standard_normal((12, 12))
    f = lambda a: np.sum(W * kl.solve_discrete_lyapunov(a, q))  # noqa: E731
    h = 1e-6
    E = rng.standard_normal((12, 12))
    directional = (f(a + h * E) - f(a - h * E)) / (2 * h)
    assert abs(np.sum(kronvec.grad(f)(a) * E) - directional) <= 1e-6 * max(1.0, abs(directional))


def test_the_vjp_formulas_of_the_notes():
    # Q̄ = Λ, Ā = −Λ Xᵀ, B̄ = −Xᵀ Λ with Aᵀ Λ + Λ Bᵀ = Ḡ; discrete: Ā = Λ A Xᵀ + Λᵀ A X, Λ = Aᵀ Λ A + Ḡ
    a, b, q = _sylvester_point(3)
    G = np.random.default_rng(0).standard_normal(q.shape)
    X = scipy.linalg.solve_sylvester(a, b, q)
    L = scipy.linalg.solve_sylvester(a.T, b.T, G)
    grads = [kronvec.grad(lambda v, i=i: np.sum(G * kl.solve_sylvester(*[v if j == i else w
                                                                          for j, w in enumerate((a, b, q))])))(
        (a, b, q)[i]) for i in range(3)]
    assert_scaled_close(grads[2], L, VALUE_RTOL, "Q̄")
    assert_scaled_close(grads[0], -L @ X.T, VALUE_RTOL, "Ā")
    assert_scaled_close(grads[1], -X.T @ L, VALUE_RTOL, "B̄")
    rng = np.random.default_rng(1)
    a, q = _stable_discrete(rng, 4), rng.standard_normal((4, 4))
    G = rng.standard_normal((4, 4))
    X = scipy.linalg.solve_discrete_lyapunov(a, q)
    L = scipy.linalg.solve_discrete_lyapunov(a.T, G)
    g = kronvec.grad(lambda a: np.sum(G * kl.solve_discrete_lyapunov(a, q)))(a)
    assert_scaled_close(g, L @ a @ X.T + L.T @ a @ X, 1e-10, "discrete Ā")


# --------------------------------------------------- structured Jacobians
def _kronecker_sum_dense(A, B):
    return np.kron(np.eye(B.shape[0]), A) + np.kron(B.T, np.eye(A.shape[0]))


def test_the_jacobian_in_q_is_the_inverse_kronecker_sum():
    a, b, q = _sylvester_point(4, 4, 3)
    J = kronvec.jacobian(lambda q: kl.solve_sylvester(a, b, q))(q)
    assert isinstance(J, SylvesterInverse)
    assert_scaled_close(J.toarray(), np.linalg.inv(_kronecker_sum_dense(a, b)), 1e-12, "D_Q")
    assert_scaled_close(J.T.toarray(), np.linalg.inv(_kronecker_sum_dense(a, b)).T, 1e-12, "D_Qᵀ")
    dot_test(J, np.random.default_rng(0))


def test_structured_jacobians_in_a_and_b_match_their_dense_forms_and_pass_the_dot_test():
    a, b, q = _sylvester_point(5, 4, 3)
    X = scipy.linalg.solve_sylvester(a, b, q)
    S_inv = np.linalg.inv(_kronecker_sum_dense(a, b))
    J_a = kronvec.jacobian(lambda a: kl.solve_sylvester(a, b, q))(a)
    J_b = kronvec.jacobian(lambda b: kl.solve_sylvester(a, b, q))(b)
    assert_scaled_close(J_a.toarray(), -S_inv @ np.kron(X.T, np.eye(4)), 1e-12, "D_A")
    assert_scaled_close(J_b.toarray(), -S_inv @ np.kron(np.eye(3), X), 1e-12, "D_B")
    for J in (J_a, J_b):
        dot_test(J, np.random.default_rng(1))
    rng = np.random.default_rng(6)
    a, q = _stable_discrete(rng, 4), rng.standard_normal((4, 4))
    dot_test(kronvec.jacobian(lambda a: kl.solve_discrete_lyapunov(a, q))(a), rng)
    J_q = kronvec.jacobian(lambda q: kl.solve_discrete_lyapunov(a, q))(q)
    assert_scaled_close(J_q.toarray(), np.linalg.inv(np.eye(16) - np.kron(a, a)), 1e-12, "(I − A ⊗ A)⁻¹")
    a, q = _well_conditioned(rng, 3), rng.standard_normal((3, 3))
    J = kronvec.jacobian(lambda a: kl.solve_continuous_lyapunov(a, q))(a)
    dot_test(J, rng)


def test_no_dense_kronecker_sum_is_built_on_a_derivative_path(monkeypatch):
    # The Jacobian at n = 40 (a 1600×1600 Kronecker sum, 20 MB dense) is applied without it.
    rng = np.random.default_rng(7)
    a, q = _well_conditioned(rng, 40), rng.standard_normal((40, 40))
    monkeypatch.setattr(kronvec.config, "dense_limit_bytes", 2**20)
    J = kronvec.jacobian(lambda a: kl.solve_continuous_lyapunov(a, q))(a)
    v = rng.standard_normal(1600)
    Jv = J.matvec(v)
    X = scipy.linalg.solve_continuous_lyapunov(a, q)
    dA = v.reshape(40, 40, order="F")
    expected = scipy.linalg.solve_continuous_lyapunov(a, -(dA @ X + X @ dA.T))
    assert_scaled_close(Jv, vec(expected), 1e-10, "J·v at n = 40")


@pytest.mark.parametrize("name, bound", [("solve_sylvester", 10.0), ("solve_continuous_lyapunov", 8.0)])
def test_jacobian_build_peak_stays_below_issue_13s_bound(name, bound):
    """Issue 13: "< 4 n² · 8 bytes extra memory" beside the operation itself.  At n = 2000
    (RSS, benchmarks/measure_jacobian_memory.py) SciPy's solve_sylvester alone grows by
    7.1 n² and the Jacobian build grew by 12.1 n² on 033a5b4 (5.0 extra), 8.1 n² now.
    tracemalloc sees NumPy's and f2py's buffers: on 033a5b4 the build peaked at 13.0 n²
    (Sylvester) and 10.0 n² (Lyapunov of −A), of which 2 n² (1 n²) were bind capturing
    the constants twice, up to 4 n² scipy.linalg.schur's workspace query (a copy of the
    matrix and Z) alive through the factorization, and 2 n² trsyl's copy of a C-ordered
    right-hand side and X's second temporary.  Now 9.0 and 7.0 n²: what the Jacobian
    keeps (the copy of A, B, the Schur forms, X), C, and the solve's two m×n temporaries."""
    m = 300
    rng = np.random.default_rng(11)
    G = rng.standard_normal((m, m)) / np.sqrt(m)
    A = 0.5 * G + 1.5 * np.eye(m)
    other = rng.standard_normal((m, m)) / np.sqrt(m) + 2.0 * np.eye(m)
    C = G @ G.T / 2.0 + np.eye(m)
    if name == "solve_sylvester":
        f = lambda X: kl.solve_sylvester(X, other.T, C)  # noqa: E731 (the benchmark's case)
    else:
        f = lambda X: kl.solve_continuous_lyapunov(-X, C)  # noqa: E731
    kronvec.jacobian(f)(A)  # (first-call costs out of the count)
    J, peak = jacobian_and_peak_memory(f, A)
    assert peak < bound * 8 * m * m, f"peak {peak / (8 * m * m):.2f} n²"
    # the constants are still captured by value: scribbling on them after the call changes nothing
    dA = rng.standard_normal((m, m))
    Jv = J.matvec(vec(dA))
    if name == "solve_sylvester":
        X = scipy.linalg.solve_sylvester(A, other.T, C)
        expected = scipy.linalg.solve_sylvester(A, other.T, -(dA @ X))
    else:
        X = scipy.linalg.solve_continuous_lyapunov(-A, C)
        expected = scipy.linalg.solve_continuous_lyapunov(-A, dA @ X + X @ dA.T)
    assert_scaled_close(Jv, vec(expected), 1e-10, "J·v")
    other[...], C[...] = np.nan, np.nan
    np.testing.assert_array_equal(J.matvec(vec(dA)), Jv)


def test_the_schur_forms_are_computed_once_per_gradient(monkeypatch):
    # (counted at kronvec's own Schur step: it calls LAPACK gees itself, not scipy.linalg.schur)
    calls = []
    schur = solver_module._schur

    def counting(*args, **kwargs):
        calls.append(1)
        return schur(*args, **kwargs)

    monkeypatch.setattr(solver_module, "_schur", counting)
    a, b, q = _sylvester_point(9)
    kronvec.value_and_grad(lambda q: np.sum(kl.solve_sylvester(a, b, q) ** 2))(q)
    assert len(calls) == 2  # A and Bᵀ, shared by the value and the VJP
    calls.clear()
    kronvec.value_and_grad(lambda a: np.sum(kl.solve_continuous_lyapunov(a, q[:, :2] @ q[:, :2].T)))(a)
    assert len(calls) == 1


def test_the_scale_factor_of_trsyl_divides_the_solution():
    # LAPACK trsyl solves op(R) Y + Y op(S) = scale·F (scale ≤ 1 against overflow):
    # the solution is Y / scale.  A trsyl that halves its right-hand side must not change X.
    a, b, q = _sylvester_point(10)
    solver = solver_module.sylvester_solver(a, b, "test")
    trsyl = solver._trsyl

    def halving(R, S, F, **kwargs):
        Y, scale, info = trsyl(R, S, 0.5 * F, **kwargs)
        return Y, 0.5 * scale, info

    solver._trsyl = halving
    assert_scaled_close(solver.solve(q), scipy.linalg.solve_sylvester(a, b, q), VALUE_RTOL, "scale 0.5")


# ------------------------------------------------------------ loud failures
def test_a_singular_sylvester_equation_raises_linalgerror_naming_the_function():
    a, b, q = np.diag([1.0, 2.0]), np.diag([-1.0, 5.0]), np.ones((2, 2))  # A and −B share 1
    with pytest.raises(np.linalg.LinAlgError, match="solve_sylvester.*common eigenvalue"):
        kl.solve_sylvester(a, b, q)
    with pytest.raises(np.linalg.LinAlgError, match="solve_sylvester"):
        kronvec.grad(lambda q: np.sum(kl.solve_sylvester(a, b, q)))(q)
    with pytest.raises(np.linalg.LinAlgError, match="solve_continuous_lyapunov"):
        kl.solve_continuous_lyapunov(np.diag([1.0, -1.0]), np.eye(2))  # λ₁ + λ₂ = 0


@pytest.mark.parametrize("method", ["direct", "bilinear"])
def test_a_singular_discrete_lyapunov_equation_raises_linalgerror(method):
    with pytest.raises(np.linalg.LinAlgError, match="solve_discrete_lyapunov"):
        kl.solve_discrete_lyapunov(np.diag([2.0, 0.5]), np.eye(2), method=method)  # λ₁λ₂ = 1
    with pytest.raises(np.linalg.LinAlgError, match="solve_discrete_lyapunov"):
        kl.solve_discrete_lyapunov(np.diag([-1.0, 0.3]), np.eye(2), method=method)  # λ₁² = 1


def test_wrong_shapes_raise_valueerror_naming_them():
    a, b, q = _sylvester_point()
    with pytest.raises(ValueError, match=r"q of shape.*\(3, 2\).*\(2, 3\)"):
        kl.solve_sylvester(a, b, q.T)
    with pytest.raises(ValueError, match=r"b must be square.*\(2, 3\)"):
        kl.solve_sylvester(a, np.ones((2, 3)), q)
    with pytest.raises(ValueError, match="2-D"):
        kl.solve_sylvester(np.ones(3), b, q)
    with pytest.raises(ValueError, match=r"same shape.*\(3, 3\).*\(2, 2\)"):
        kl.solve_continuous_lyapunov(a, np.eye(2))
    with pytest.raises(ValueError, match="same shape"):
        kl.solve_discrete_lyapunov(a, np.eye(2))


def test_non_finite_input_raises_valueerror():
    a, b, q = _sylvester_point()
    bad = q.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        kl.solve_sylvester(a, b, bad)
    a_inf = a.copy()
    a_inf[1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        kl.solve_continuous_lyapunov(a_inf, np.eye(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        kl.solve_discrete_lyapunov(a_inf, np.eye(3))


def test_complex_input_and_unknown_options_are_refused_by_name():
    a, b, q = _sylvester_point()
    with pytest.raises(TypeError, match="complex"):
        kl.solve_sylvester(a + 0j, b, q)
    with pytest.raises(ValueError, match="Unknown solver 'schur'"):
        kl.solve_discrete_lyapunov(np.eye(2) / 2, np.eye(2), method="schur")
    with pytest.raises(TypeError, match="method"):
        kronvec.grad(lambda a: np.sum(kl.solve_discrete_lyapunov(a, np.eye(2), method=a[0, 0])))(np.eye(2) / 2)


def test_a_traced_value_reaching_scipy_names_the_counterpart():
    a, b, q = _sylvester_point()
    with pytest.raises(TypeError, match="kronvec.scipy.linalg.solve_sylvester"):
        kronvec.grad(lambda q: np.sum(scipy.linalg.solve_sylvester(a, b, q)))(q)


# ------------------------------------------------- algebraic Riccati equations
def _spd(rng, n):
    M = rng.standard_normal((n, n))
    return M @ M.T / n + np.eye(n)


def _riccati_point(seed, discrete=False, n=3, k=2):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n)) / (np.sqrt(n) if discrete else 1.0)
    return a, rng.standard_normal((n, k)), _spd(rng, n), _spd(rng, k)


@pytest.mark.parametrize("balanced", [True, False])
@pytest.mark.parametrize("name", ["solve_continuous_are", "solve_discrete_are"])
def test_riccati_values_equal_scipy(name, balanced):
    args = _riccati_point(20, discrete=name == "solve_discrete_are")
    before = checksum(args)
    x = getattr(kl, name)(*args, balanced=balanced)
    assert_unchanged(before, args)
    np.testing.assert_array_equal(x, getattr(scipy.linalg, name)(*args, balanced=balanced))


def _symmetrized(function, argnum):
    """`function` with argument `argnum` replaced by its symmetric part: finite differences
    along every entry then stay inside SciPy's domain (symmetric q and r)."""
    def f(*args):
        args = list(args)
        args[argnum] = (args[argnum] + np.transpose(args[argnum])) / 2
        return function(*args)

    return f


@pytest.mark.parametrize("argnum", [0, 1, 2, 3])
@pytest.mark.parametrize("name", ["solve_continuous_are", "solve_discrete_are"])
def test_riccati_derivatives_in_every_mode(name, argnum):
    function = getattr(kl, name)
    if argnum >= 2:
        function = _symmetrized(function, argnum)
    check_derivatives(function, _riccati_point(21, discrete=name == "solve_discrete_are"), argnum, what=name)


def test_riccati_vjps_in_q_and_r_are_symmetric_and_match_the_closed_forms():
    # CARE: Ac Λ + Λ Acᵀ = W, Q̄ = −Λ; DARE: Λ = Ac Λ Acᵀ + W, Q̄ = Λ, R̄ = K Λ Kᵀ
    a, b, q, r = _riccati_point(22)
    W = np.diag([1.0, 2.0, 3.0])
    X = scipy.linalg.solve_continuous_are(a, b, q, r)
    Ac = a - b @ np.linalg.solve(r, b.T) @ X
    L = scipy.linalg.solve_continuous_lyapunov(Ac, W)
    g = kronvec.grad(lambda q: np.sum(W * kl.solve_continuous_are(a, b, q, r)))(q)
    assert_scaled_close(g, -L, 1e-10, "CARE Q̄")
    a, b, q, r = _riccati_point(23, discrete=True)
    X = scipy.linalg.solve_discrete_are(a, b, q, r)
    K = np.linalg.solve(r + b.T @ X @ b, b.T @ X @ a)
    L = scipy.linalg.solve_discrete_lyapunov(a - b @ K, W)
    g = kronvec.grad(lambda r: np.sum(W * kl.solve_discrete_are(a, b, q, r)))(r)
    assert_scaled_close(g, K @ L @ K.T, 1e-10, "DARE R̄")
    assert_scaled_close(g, g.T, 1e-15, "symmetric R̄")


def test_riccati_failures_are_loud_and_named():
    a, b, q, r = _riccati_point(24)
    q_bad = q.copy()
    q_bad[0, 1] += 1.0
    with pytest.raises(ValueError, match="q should be symmetric"):
        kl.solve_continuous_are(a, b, q_bad, r)
    with pytest.raises(TypeError, match=r"generalized equation \(e=…\)"):
        kl.solve_continuous_are(a, b, q, r, e=np.eye(3))
    with pytest.raises(TypeError, match=r"\(s=…\)"):
        kl.solve_discrete_are(a, b, q, r, s=np.ones((3, 2)))
    with pytest.raises(ValueError, match="solve_continuous_are.*r is numerically singular"):
        kl.solve_continuous_are(a, b, q, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"do not match"):
        kl.solve_discrete_are(a, b.T, q, r)
    uncontrollable = (np.diag([1.0, -1.0]), np.array([[0.0], [1.0]]), np.eye(2), np.eye(1))
    for function in (kl.solve_continuous_are, kl.solve_discrete_are):
        with pytest.raises(np.linalg.LinAlgError, match="solve_.*_are: Failed to find a finite solution"):
            function(*uncontrollable)
    a_nan = a.copy()
    a_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        kl.solve_discrete_are(a_nan, b, q, r)


def test_gradients_own_their_memory_and_calls_share_nothing():
    a, b, q = _sylvester_point(30)
    f = lambda a, b, q: np.sum(np.sin(kl.solve_sylvester(a, b, q)))  # noqa: E731
    grads = kronvec.grad(f, argnums=(0, 1, 2))(a, b, q)
    for g in grads:
        assert g.flags.writeable and g.flags.owndata
    again = kronvec.grad(f, argnums=(0, 1, 2))(a, b, q)
    for g in grads:
        g[...] = np.nan  # a caller scribbling on one result changes nothing else
    for g, h in zip(again, kronvec.grad(f, argnums=(0, 1, 2))(a, b, q)):
        np.testing.assert_array_equal(g, h)
