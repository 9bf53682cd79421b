"""kronvec.optimize: scipy.optimize adapters for matrix unknowns (issue 4).

Covers the flattening convention, the shared fun/jac evaluation, derivatives
against finite differences (gradient vs fun, hessp vs jac, in plain, symmetric
and several-unknown layouts), the vech-gradient vs sym(G) distinction, which
derivatives `minimize` hands to each method, the three examples of
``notes/optimization.md`` converging, the code blocks of that note, the error
messages.  Sizes are small: the speed targets live in the benchmarks
(``benchmarks/benchmarks/optimize.py``, smoke-run by ``test_benchmarks_smoke.py``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize
from scipy.sparse import csr_array
from scipy.sparse.linalg import LinearOperator

import kronvec
import kronvec.optimize as kvo
from kronvec import Duplication

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------- helpers
def central_gradient(fun, x, step=1e-6):
    """∂fun/∂x by central differences, written from the definition."""
    x = np.asarray(x, dtype=float)
    g = np.empty_like(x)
    for k in range(x.size):
        h = step * max(1.0, abs(x[k]))
        e = np.zeros_like(x)
        e[k] = h
        g[k] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


def directional(fun, x, p, step=1e-6):
    return (fun(x + step * p) - fun(x - step * p)) / (2 * step)


def spd(rng, n, shift=1.0):
    A = rng.standard_normal((n, n))
    return A @ A.T / n + shift * np.eye(n)


def gaussian_nll(L, S):
    """Example 1: ln|Σ| + tr(Σ⁻¹S) at Σ = LLᵀ."""
    Sigma = L @ L.T
    return np.linalg.slogdet(Sigma)[1] + np.trace(np.linalg.inv(Sigma) @ S)


def logdet_trace(X, S):
    return np.linalg.slogdet(X)[1] + np.trace(np.linalg.inv(X) @ S)


def two_unknowns(U, V, M):
    """A scalar of two matrix unknowns with cross terms in the Hessian."""
    R = U @ V.T - M
    return 0.5 * np.sum(R * R) + 0.1 * np.sum(U * U) * np.sum(V)


def completion_residuals(U, V, rows, cols, values):
    return (U @ V.T)[rows, cols] - values


# ------------------------------------------------------------ conventions
def test_x_is_column_major_vec_and_maps_round_trip():
    obj = kvo.objective(lambda X: np.sum(X * X), (2, 3))
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = obj.to_vector(X)
    np.testing.assert_array_equal(x, [1, 4, 2, 5, 3, 6])
    assert all(x[i + j * 2] == X[i, j] for i in range(2) for j in range(3))
    np.testing.assert_array_equal(obj.to_matrix(x), X)
    assert obj.order == "F" and obj.size == 6 and obj.shape == (2, 3)
    assert obj.convention == "x = vec(X), column-major"
    # the gradient comes back in the same order: ∇(ΣX²) = 2X
    np.testing.assert_array_equal(obj.jac(x), 2 * x)


def test_symmetric_x_is_vech_and_several_unknowns_concatenate():
    sym = kvo.objective(lambda X: np.sum(X), (3, 3), symmetric=True)
    S = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]])
    np.testing.assert_array_equal(sym.to_vector(S), [1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(sym.to_matrix([1, 2, 3, 4, 5, 6]), S)
    assert sym.size == 6 and sym.symmetric is True

    two = kvo.objective(lambda U, V: np.sum(U) + np.sum(V), ((2, 1), (1, 2)))
    U, V = np.array([[1.0], [2.0]]), np.array([[3.0, 4.0]])
    np.testing.assert_array_equal(two.to_vector((U, V)), [1, 2, 3, 4])
    back = two.to_matrix(np.array([1.0, 2.0, 3.0, 4.0]))
    assert isinstance(back, tuple)
    np.testing.assert_array_equal(back[0], U)
    np.testing.assert_array_equal(back[1], V)


# ------------------------------------------------------------------ caching
def test_fun_and_jac_share_one_evaluation(rng):
    S = spd(rng, 4)
    obj = kvo.objective(logdet_trace, (4, 4), S)
    x = obj.to_vector(spd(rng, 4))
    value = obj.fun(x)
    g = obj.jac(x)
    both = obj.value_and_grad(x)
    assert obj.n_evaluations == 1
    assert both[0] == value and np.array_equal(both[1], g)
    obj.jac(x + 1e-3)
    assert obj.n_evaluations == 2
    assert isinstance(value, float)


def test_jac_is_a_float64_c_contiguous_1d_copy(rng):
    obj = kvo.objective(lambda X: np.sum(X ** 2), (3, 2))
    x = rng.standard_normal(6).astype(np.float32)  # any real input
    g = obj.jac(x)
    assert g.dtype == np.float64 and g.ndim == 1 and g.flags.c_contiguous
    g[:] = 0.0  # a solver scribbling on it does not corrupt the cache
    np.testing.assert_allclose(obj.jac(x), 2 * x.astype(np.float64))


def test_cache_keys_on_a_copy_of_x():
    obj = kvo.objective(lambda X: np.sum(X ** 2), (2, 2))
    x = np.ones(4)
    assert obj.fun(x) == 4.0
    x[0] = 3.0  # the solver reuses its buffer
    assert obj.fun(x) == 12.0


def test_hessian_is_built_once_per_point(rng):
    obj = kvo.objective(logdet_trace, (3, 3), spd(rng, 3))
    x = obj.to_vector(spd(rng, 3))
    for _ in range(5):
        obj.hessp(x, rng.standard_normal(9))
    obj.hess(x)
    assert obj.n_hessians == 1 and obj.n_hessp == 5
    obj.hessp(x + 0.01, np.ones(9))
    assert obj.n_hessians == 2


# ------------------------------------------- derivatives vs finite differences
LAYOUTS = {
    "plain": lambda rng: (kvo.objective(logdet_trace, (4, 4), spd(rng, 4)),
                          spd(rng, 4) + 0.1 * rng.standard_normal((4, 4))),
    "symmetric": lambda rng: (kvo.objective(gaussian_nll, (4, 4), spd(rng, 4), symmetric=True),
                              spd(rng, 4)),
    "two unknowns": lambda rng: (kvo.objective(two_unknowns, ((3, 2), (4, 2)),
                                               rng.standard_normal((3, 4))),
                                 (rng.standard_normal((3, 2)), rng.standard_normal((4, 2)))),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_jac_matches_central_differences_of_fun(layout, rng):
    obj, X = LAYOUTS[layout](rng)
    x = obj.to_vector(X)
    np.testing.assert_allclose(obj.jac(x), central_gradient(obj.fun, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mode", ["operator", "hvp"])
def test_hessp_matches_central_differences_of_jac(layout, mode, rng):
    obj, X = LAYOUTS[layout](rng)
    obj.hessp_mode = mode
    x = obj.to_vector(X)
    for _ in range(2):
        p = rng.standard_normal(obj.size)
        expected = (obj.jac(x + 1e-6 * p) - obj.jac(x - 1e-6 * p)) / 2e-6
        np.testing.assert_allclose(obj.hessp(x, p), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_hess_operator_dense_and_hessp_agree(layout, rng):
    obj, X = LAYOUTS[layout](rng)
    x = obj.to_vector(X)
    H = obj.hess(x)
    assert isinstance(H, kronvec.StructuredOperator) and isinstance(H, LinearOperator)
    assert H.shape == (obj.size, obj.size)
    dense = obj.hess(x, dense=True)
    assert isinstance(dense, np.ndarray) and dense.dtype == np.float64
    np.testing.assert_allclose(dense, dense.T, atol=1e-10)
    p = rng.standard_normal(obj.size)
    np.testing.assert_allclose(obj.hessp(x, p), dense @ p, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(H.matvec(p), dense @ p, rtol=1e-10, atol=1e-10)


def test_symmetric_hessian_is_duplication_sandwich(rng):
    n = 3
    S = spd(rng, n)
    obj = kvo.objective(logdet_trace, (n, n), S, symmetric=True)
    Sigma = spd(rng, n)
    H_full = kronvec.hessian(logdet_trace)(Sigma, S).toarray()
    D = Duplication(n).toarray()
    np.testing.assert_allclose(obj.hess(obj.to_vector(Sigma), dense=True), D.T @ H_full @ D,
                               atol=1e-12)
    assert "D₃" in obj.hess(obj.to_vector(Sigma)).formula()


# ----------------------------------------------- vech gradient versus sym(G)
def test_vech_gradient_versus_frobenius_symmetric_gradient(rng):
    """The two "gradients with respect to a symmetric matrix" users mix up.

    For f on symmetric Σ with unconstrained gradient G = ∇f(Σ):
    * in vech coordinates (what the optimizer sees) the gradient is
      D_nᵀ vec G = vech(G + Gᵀ − G∘I)   — the Matrix Cookbook's formula;
    * as a symmetric matrix in the Frobenius inner product it is
      sym(G) = (G + Gᵀ)/2: df = tr(sym(G) dΣ) for every symmetric dΣ.
    They differ by the metric D_nᵀD_n (1 on the diagonal, 2 off it).
    """
    n = 4
    A = rng.standard_normal((n, n))  # makes G non-symmetric

    def f(Sigma, S):
        return logdet_trace(Sigma, S) + np.trace(A @ Sigma)

    S, Sigma = spd(rng, n), spd(rng, n)
    G = kronvec.grad(f)(Sigma, S)
    assert not np.allclose(G, G.T)
    obj = kvo.objective(f, (n, n), S, symmetric=True)
    v = obj.to_vector(Sigma)

    def vech(M):  # the lower triangle, column by column: L_n vec M
        return kronvec.Elimination(n).matvec(kronvec.vec(M))

    g_vech = obj.jac(v)
    # (1) D_nᵀ vec G, the Cookbook's G + Gᵀ − G∘I, and finite differences in vech agree
    np.testing.assert_allclose(g_vech, Duplication(n).rmatvec(kronvec.vec(G)), rtol=1e-12)
    np.testing.assert_allclose(g_vech, vech(G + G.T - G * np.eye(n)), rtol=1e-12)
    np.testing.assert_allclose(g_vech, central_gradient(obj.fun, v), rtol=1e-6, atol=1e-7)

    # (2) sym(G) represents the derivative in the Frobenius inner product
    sym_G = (G + G.T) / 2
    for _ in range(3):
        E = rng.standard_normal((n, n))
        E = E + E.T
        derivative = directional(lambda t: f(Sigma + t[0] * E, S), np.zeros(1), np.ones(1))
        np.testing.assert_allclose(derivative, np.sum(sym_G * E), rtol=1e-6)
        # ... while the vech gradient pairs with vech(E) by the plain dot product
        np.testing.assert_allclose(derivative, g_vech @ obj.to_vector(E), rtol=1e-6)

    # (3) they are not the same vector: off-diagonal entries differ by a factor 2
    metric = np.diag(Duplication(n).toarray().T @ Duplication(n).toarray())
    np.testing.assert_allclose(g_vech, metric * vech(sym_G), rtol=1e-12)
    assert set(metric) == {1.0, 2.0}
    assert not np.allclose(g_vech, vech(sym_G))


# ------------------------------------------------------ minimize dispatching
@pytest.mark.parametrize("method, passed, fun_name", [
    ("L-BFGS-B", {"jac"}, "fun"),
    ("BFGS", {"jac"}, "fun"),
    ("CG", {"jac"}, "fun"),
    (None, {"jac"}, "fun"),
    ("Newton-CG", {"jac", "hessp"}, "fun"),
    ("trust-ncg", {"jac", "hessp"}, "fun"),
    ("trust-krylov", {"jac", "hessp"}, "fun"),
    ("trust-exact", {"jac", "hess"}, "fun"),
    ("dogleg", {"jac", "hess"}, "fun"),
    ("trust-constr", {"jac", "hess"}, "fun"),
    ("Nelder-Mead", set(), "value"),
])
def test_minimize_passes_the_derivatives_each_method_uses(method, passed, fun_name, monkeypatch):
    seen = {}

    def fake_minimize(fun, x0, method=None, **kwargs):
        seen.update(kwargs, fun=fun, x0=x0)
        return scipy.optimize.OptimizeResult(x=x0, success=True)

    monkeypatch.setattr(scipy.optimize, "minimize", fake_minimize)
    X0 = np.eye(2) * 2.0
    result = kvo.minimize(logdet_trace, X0, np.eye(2), method=method)
    assert {k for k in ("jac", "hess", "hessp") if k in seen} == passed
    assert seen["fun"].__name__ == fun_name
    np.testing.assert_array_equal(result.X, X0)
    x = seen["x0"]
    if method in ("trust-exact", "dogleg"):
        assert isinstance(seen["hess"](x), np.ndarray)
    if method == "trust-constr":
        assert isinstance(seen["hess"](x), LinearOperator)


def test_minimize_respects_a_user_jac_and_then_never_traces(rng):
    S = spd(rng, 2)
    seen = {}
    original = kvo.Objective.value

    def spy(self, x):
        seen["objective"] = self
        return original(self, x)

    kvo.Objective.value = spy
    try:
        res = kvo.minimize(logdet_trace, 1.5 * np.eye(2), S, method="L-BFGS-B", jac="2-point")
    finally:
        kvo.Objective.value = original
    np.testing.assert_allclose(res.X, S, atol=1e-4)
    assert seen["objective"].n_evaluations == 0 and seen["objective"].n_values > 10


def test_objective_drops_into_scipy_directly_including_jac_true(rng):
    S = spd(rng, 3)
    obj = kvo.objective(gaussian_nll, (3, 3), S, symmetric=True)
    x0 = obj.to_vector(np.eye(3))
    r1 = scipy.optimize.minimize(obj.fun, x0, jac=obj.jac, hessp=obj.hessp, method="trust-krylov",
                                 options={"gtol": 1e-10})
    r2 = scipy.optimize.minimize(obj.value_and_grad, x0, jac=True, method="L-BFGS-B",
                                 options={"ftol": 1e-15, "gtol": 1e-10})
    for r in (r1, r2):
        L = obj.to_matrix(r.x)
        np.testing.assert_allclose(L @ L.T, S, atol=1e-6)


# ------------------------------------------------------------- the examples
@pytest.fixture
def covariance_problem(rng):
    n = 6
    Z = rng.standard_normal((5 * n, n)) * np.linspace(0.5, 2.0, n)
    S = np.cov(Z, rowvar=False, bias=True)
    return S, np.sqrt(np.trace(S) / n) * np.eye(n)


@pytest.mark.parametrize("method, options", [
    ("L-BFGS-B", {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000}),
    ("trust-krylov", {"gtol": 1e-10}),
    ("Newton-CG", {"xtol": 1e-12}),
    ("trust-exact", {"gtol": 1e-10}),
    ("trust-constr", {"gtol": 1e-10, "xtol": 1e-12}),
])
def test_example1_gaussian_ml_covariance_is_the_sample_covariance(covariance_problem, method,
                                                                  options):
    S, L0 = covariance_problem
    res = kvo.minimize(gaussian_nll, L0, S, method=method, symmetric=True, options=options)
    np.testing.assert_allclose(res.X, res.X.T)  # the iterates live on the symmetric subspace
    np.testing.assert_allclose(res.X @ res.X.T, S, atol=1e-6)
    assert res.x.size == 21


def test_example1_on_sigma_directly_is_unbounded_outside_the_spd_cone(covariance_problem):
    """Why example 1 parametrizes Σ = LLᵀ: ln|det Σ| + tr(Σ⁻¹S) has no lower bound on
    indefinite Σ, and a solver on raw symmetric Σ can step there."""
    S, _ = covariance_problem
    lowest = logdet_trace(S, S)  # the minimum over SPD Σ: ln|S| + n
    w, Q = np.linalg.eigh(S)
    w[0] = -1e-3  # one slightly negative eigenvalue
    indefinite = Q @ np.diag(w) @ Q.T
    assert logdet_trace(indefinite, S) < lowest - 100


@pytest.fixture
def completion_problem(rng):
    m, n, k = 12, 10, 2
    U, V = rng.standard_normal((m, k)), rng.standard_normal((n, k))
    M = U @ V.T
    observed = np.sort(rng.choice(m * n, size=90, replace=False))
    rows, cols = np.divmod(observed, n)
    start = (rng.standard_normal((m, k)), rng.standard_normal((n, k)))
    return M, rows, cols, M[rows, cols], start


def test_example2_low_rank_completion_all_jacobian_formats_agree(completion_problem):
    M, rows, cols, values, (U0, V0) = completion_problem
    completed = {}
    for fmt in ("operator", "sparse", "dense"):
        res = kvo.least_squares(completion_residuals, (U0, V0), rows, cols, values,
                                jac_format=fmt, ftol=1e-12, xtol=1e-12, gtol=1e-12)
        U, V = res.X
        assert U.shape == U0.shape and V.shape == V0.shape
        completed[fmt] = U @ V.T
        np.testing.assert_allclose(completed[fmt], M, atol=1e-6)
    np.testing.assert_allclose(completed["operator"], completed["dense"], atol=1e-6)
    np.testing.assert_allclose(completed["sparse"], completed["dense"], atol=1e-6)


def test_example2_jacobian_formats(completion_problem, rng):
    M, rows, cols, values, (U0, V0) = completion_problem
    shapes = (U0.shape, V0.shape)
    ops = {fmt: kvo.residuals(completion_residuals, shapes, rows, cols, values, jac_format=fmt)
           for fmt in ("operator", "sparse", "dense")}
    x = ops["operator"].to_vector((U0, V0))
    J = ops["operator"].jac(x)
    Js = ops["sparse"].jac(x)
    Jd = ops["dense"].jac(x)
    assert isinstance(J, LinearOperator) and J.shape == (values.size, x.size)
    assert isinstance(Js, csr_array) and Js.has_canonical_format
    for r in range(Js.shape[0]):  # canonical: sorted, no duplicates, in every row
        assert np.all(np.diff(Js.indices[Js.indptr[r]:Js.indptr[r + 1]]) > 0)
    assert isinstance(Jd, np.ndarray) and Jd.dtype == np.float64
    np.testing.assert_allclose(Js.toarray(), Jd, atol=0)
    # each column is a derivative of the residuals (numerator layout)
    for c in rng.choice(x.size, size=5, replace=False):
        e = np.zeros(x.size)
        e[c] = 1e-6
        fd = (ops["dense"].fun(x + e) - ops["dense"].fun(x - e)) / 2e-6
        np.testing.assert_allclose(Jd[:, c], fd, atol=1e-7)
    p, q = rng.standard_normal(x.size), rng.standard_normal(values.size)
    np.testing.assert_allclose(J.matvec(p), Jd @ p, atol=1e-12)
    np.testing.assert_allclose(J.rmatvec(q), Jd.T @ q, atol=1e-12)
    np.testing.assert_allclose(J.matmat(np.eye(x.size)[:, :3]), Jd[:, :3], atol=1e-12)
    assert abs(q @ J.matvec(p) - J.rmatvec(q) @ p) < 1e-10  # dot test


def test_example2_method_lm_takes_the_dense_jacobian(completion_problem):
    M, rows, cols, values, (U0, V0) = completion_problem
    res = kvo.least_squares(completion_residuals, (U0, V0), rows, cols, values, method="lm",
                            xtol=1e-12, ftol=1e-12)
    U, V = res.X
    np.testing.assert_allclose(U @ V.T, M, atol=1e-6)


def test_example3_matrix_regression_matches_the_closed_form(rng):
    p, q = 4, 3
    A, B = rng.standard_normal((2 * p, p)), rng.standard_normal((q, 2 * q))
    C = rng.standard_normal((2 * p, 2 * q))
    X_star = np.linalg.pinv(A) @ C @ np.linalg.pinv(B)

    def objective(X, A, B, C):
        R = A @ X @ B - C
        return 0.5 * np.sum(R * R)

    res = kvo.minimize(objective, np.zeros((p, q)), A, B, C, method="trust-krylov",
                       options={"gtol": 1e-10})
    np.testing.assert_allclose(res.X, X_star, atol=1e-8)
    lsq = kvo.least_squares(lambda X, A, B, C: A @ X @ B - C, np.zeros((p, q)), A, B, C,
                            ftol=1e-14, xtol=1e-14, gtol=1e-14,
                            tr_options={"atol": 1e-14, "btol": 1e-14})
    np.testing.assert_allclose(lsq.X, X_star, atol=1e-8)
    # the Hessian is the Kronecker product (BBᵀ) ⊗ (AᵀA), kept structured
    obj = kvo.objective(objective, (p, q), A, B, C)
    np.testing.assert_allclose(obj.hess(obj.to_vector(X_star), dense=True),
                               np.kron(B @ B.T, A.T @ A), atol=1e-10)


def test_notes_examples_run():
    """Every ```python block of notes/optimization.md runs (in order, one namespace)."""
    text = (ROOT / "notes" / "optimization.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 3
    namespace = {}
    for block in blocks:
        exec(compile(block, "notes/optimization.md", "exec"), namespace)  # noqa: S102


# ------------------------------------------------------------------ errors
def test_wrong_length_x_names_lengths_and_shape():
    obj = kvo.objective(lambda X: np.sum(X), (2, 3))
    with pytest.raises(ValueError, match=r"x has 7 entries.*\(2, 3\) needs 6"):
        obj.fun(np.zeros(7))
    with pytest.raises(ValueError, match=r"1-D vector of 6 entries.*shape \(2, 3\).*to_vector"):
        obj.jac(np.zeros((2, 3)))  # never a silent reshape
    with pytest.raises(ValueError, match=r"p has 5 entries"):
        obj.hessp(np.zeros(6), np.zeros(5))
    sym = kvo.objective(lambda X: np.sum(X), (3, 3), symmetric=True)
    with pytest.raises(ValueError, match=r"x has 9 entries.*symmetric.*needs 6.*vech"):
        sym.fun(np.zeros(9))
    res_ = kvo.residuals(lambda X: X, (2, 2))
    with pytest.raises(ValueError, match=r"x has 3 entries"):
        res_.jac(np.zeros(3))


def test_non_scalar_f_is_refused_naming_x_shape():
    obj = kvo.objective(lambda X: X @ X, (2, 2))
    with pytest.raises(ValueError, match=r"must return a scalar.*x of shape \(4,\).*X of shape "
                                         r"\(2, 2\).*returned shape \(2, 2\)"):
        obj.fun(np.ones(4))
    with pytest.raises(ValueError, match=r"must return a scalar"):
        obj.value(np.ones(4))
    with pytest.raises(ValueError, match=r"must return a scalar.*x of shape \(4,\)"):
        obj.hessp(np.ones(4), np.ones(4))
    obj.hessp_mode = "hvp"
    with pytest.raises(ValueError, match=r"must return a scalar"):
        obj.hessp(np.ones(4), np.ones(4))


def test_non_finite_value_gradient_or_x_is_refused_naming_x_shape():
    # The traced primitives refuse a non-finite value or derivative from finite input
    # themselves (np.log at 0, the derivative of np.sqrt at 0); the adapter adds the x shape.
    obj = kvo.objective(lambda X: np.sum(np.log(X)), (2, 2))
    with np.errstate(all="ignore"), pytest.raises(
            ValueError, match=r"(?s)np.log is not finite.*x of shape \(4,\)"):
        obj.fun(np.array([0.0, 1.0, 1.0, 1.0]))
    obj = kvo.objective(lambda X: np.sum(np.sqrt(X)), (2, 2))
    with np.errstate(all="ignore"), pytest.raises(
            ValueError, match=r"(?s)derivative of np.sqrt is not finite.*x of shape \(4,\)"):
        obj.jac(np.array([0.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"non-finite entries"):
        obj.fun(np.array([np.nan, 1.0, 1.0, 1.0]))
    res_ = kvo.residuals(lambda X: np.log(X), (2, 2))
    with np.errstate(all="ignore"), pytest.raises(ValueError, match=r"1 non-finite residuals"):
        res_.fun(np.array([0.0, 1.0, 1.0, 1.0]))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are Python ≥ 3.11")
def test_errors_inside_f_carry_the_iterate():
    obj = kvo.objective(lambda X: np.trace(np.linalg.inv(X)), (2, 2))
    with pytest.raises(Exception) as info:
        obj.fun(np.zeros(4))
    assert any("x of shape (4,)" in note for note in getattr(info.value, "__notes__", []))


def test_bad_arguments():
    with pytest.raises(TypeError, match="shape must be"):
        kvo.objective(lambda X: X, "3x3")
    with pytest.raises(ValueError, match="square"):
        kvo.objective(lambda X: X, (2, 3), symmetric=True)
    with pytest.raises(ValueError, match="hessp_mode"):
        kvo.objective(lambda X: X, (2, 2), hessp_mode="fast")
    with pytest.raises(ValueError, match="jac_format"):
        kvo.residuals(lambda X: X, (2, 2), jac_format="csr")
    with pytest.raises(ValueError, match="declared symmetric"):
        kvo.objective(lambda X: np.sum(X), (2, 2), symmetric=True).to_vector(
            np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="only dense"):
        kvo.least_squares(lambda X: X, np.ones((2, 2)), method="lm", jac_format="operator")
