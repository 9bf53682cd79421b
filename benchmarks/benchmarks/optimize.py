"""``kronvec.optimize``: the three examples of ``notes/optimization.md`` as solves.

Every example is timed end to end (objective construction + SciPy solve) with
kronvec's derivatives and with SciPy's finite differences (``jac="2-point"``),
plus JAX-computed derivatives where JAX is installed; ``track_*`` record
iterations, function evaluations and the error against the known answer.

* ``GaussianCovariance`` -- example 1: min ln|Σ| + tr(Σ⁻¹S) over Σ = LLᵀ with
  L symmetric (x = vech L, n(n+1)/2 unknowns); the answer is Σ = S.
  Target: n = 50 (1275 unknowns), ≥ 50× faster than ``jac="2-point"``.
* ``LowRankCompletion`` -- example 2: ``least_squares`` on the observed
  entries of UVᵀ − M, U and V unknown; "operator" / "sparse" / "dense"
  Jacobians.  Target: 10⁴ residuals, 2·10³ unknowns, the operator path at
  ≤ 1/10 of the dense path's memory and no slower.
* ``MatrixRegression`` -- example 3: min ½‖AXB − C‖²_F, closed form
  X = A⁺ C B⁺, whose Hessian is the Kron (BBᵀ) ⊗ (AᵀA).
* ``HessianVectorProduct`` -- ``hessp`` of ln|X| + tr(X⁻¹S) over all of X.
  Target: n = 500 (n⁴ = 6.25·10¹⁰ Hessian entries never formed), ≤ 10
  matrix products' time per product.

The module runs without asv: ``python -c "from benchmarks.optimize import *"``
from ``benchmarks/``, or call any method after ``setup(*params)``.
``benchmarks/measure_optimize.py`` prints the targets side by side.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import scipy.optimize

import kronvec.optimize as kvo

try:  # inside the asv suite (benchmarks/benchmarks/ is a package)
    from . import rng, skip_if, warm
except ImportError:  # loaded as a plain file (measure_optimize.py, a smoke test)
    import zlib

    def rng(*key):
        return np.random.default_rng([20240611, *(zlib.crc32(repr(k).encode()) for k in key)])

    def skip_if(condition, reason):
        if condition:
            raise NotImplementedError(reason)

    def warm(function, *args, **kwargs):
        return function(*args, **kwargs)


def _jax():
    """The jax module with float64 enabled, or None when JAX is not installed."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


# ====================================================================== problems
# Shared with benchmarks/measure_optimize.py and notes/optimization.md.

def gaussian_nll(L, S):
    """ln|Σ| + tr(Σ⁻¹S) at Σ = LLᵀ (L symmetric on the symmetric subspace)."""
    Sigma = L @ L.T
    return np.linalg.slogdet(Sigma)[1] + np.trace(np.linalg.inv(Sigma) @ S)


def gaussian_problem(n):
    """Sample covariance S of 4n draws with unequal variances; start L₀ = c·I."""
    g = rng("optimize", "gaussian", n)
    Z = g.standard_normal((4 * n, n)) * np.linspace(0.5, 2.0, n)
    S = np.cov(Z, rowvar=False, bias=True)
    L0 = np.sqrt(np.trace(S) / n) * np.eye(n)
    return S, L0


#: Tolerances that take every method of example 1 to ‖Σ − S‖ ≲ 1e-6.
GAUSSIAN_OPTIONS = {
    "L-BFGS-B": {"options": {"maxiter": 20000, "maxfun": 10**7, "ftol": 1e-15, "gtol": 1e-9}},
    "trust-krylov": {"options": {"gtol": 1e-9}},
    "Newton-CG": {"options": {"xtol": 1e-10}},
}


def gaussian_solve(S, L0, method="L-BFGS-B", jac=None, hessp_mode="operator"):
    """One solve of example 1 through kronvec.optimize.minimize."""
    kwargs = dict(GAUSSIAN_OPTIONS[method])
    if jac is not None:
        kwargs["jac"] = jac
    return kvo.minimize(gaussian_nll, L0, S, method=method, symmetric=True,
                        hessp_mode=hessp_mode, **kwargs)


def gaussian_jax_solver(S):
    """Example 1 with JAX derivatives: ``solve(L0, method)`` for this S.

    value_and_grad and a jvp-of-grad hessp, jitted once here (so a solve never
    compiles: call ``solve`` once to warm up).
    """
    jax = _jax()
    import jax.numpy as jnp

    n = S.shape[0]
    layout = kvo.objective(gaussian_nll, (n, n), S, symmetric=True)
    duplicate = jnp.asarray(layout._layout.indices[0])
    S_j = jnp.asarray(S)

    def f(x):
        L = jnp.reshape(x[duplicate], (n, n), order="F")
        Sigma = L @ L.T
        return jnp.linalg.slogdet(Sigma)[1] + jnp.trace(jnp.linalg.inv(Sigma) @ S_j)

    value_and_grad = jax.jit(jax.value_and_grad(f))
    grad = jax.grad(f)
    hvp = jax.jit(lambda x, p: jax.jvp(grad, (x,), (p,))[1])

    def fun(x):
        value, g = value_and_grad(x)
        return float(value), np.asarray(g, dtype=np.float64)

    def hessp(x, p):
        return np.asarray(hvp(x, p), dtype=np.float64)

    def solve(L0, method="L-BFGS-B"):
        kwargs = dict(GAUSSIAN_OPTIONS[method])
        if method != "L-BFGS-B":
            kwargs["hessp"] = hessp
        result = scipy.optimize.minimize(fun, layout.to_vector(L0), jac=True, method=method,
                                         **kwargs)
        result.X = layout.to_matrix(result.x)
        return result

    return solve


def gaussian_error(result, S):
    L = result.X
    return float(np.abs(L @ L.T - S).max())


def completion_residuals(U, V, rows, cols, values):
    """(UVᵀ − M) on the observed entries (rows[k], cols[k])."""
    return (U @ V.T)[rows, cols] - values


#: size label → (m, n, rank, observed entries); residuals = observed,
#: unknowns = (m + n)·rank.
COMPLETION_SIZES = {
    "small": (30, 30, 3, 500),      # 500 residuals, 180 unknowns
    "target": (200, 200, 5, 10_000),  # 10⁴ residuals, 2·10³ unknowns
}


def completion_problem(size):
    """A rank-r matrix M = U*V*ᵀ, a random set of observed entries, a random start."""
    m, n, k, n_obs = COMPLETION_SIZES[size]
    g = rng("optimize", "completion", size)
    U_true, V_true = g.standard_normal((m, k)), g.standard_normal((n, k))
    M = U_true @ V_true.T
    observed = np.sort(g.choice(m * n, size=n_obs, replace=False))
    rows, cols = np.divmod(observed, n)
    U0, V0 = g.standard_normal((m, k)), g.standard_normal((n, k))
    return M, rows, cols, M[rows, cols], U0, V0


def completion_solve(problem, jac_format="operator", **options):
    M, rows, cols, values, U0, V0 = problem
    return kvo.least_squares(completion_residuals, (U0, V0), rows, cols, values,
                             jac_format=jac_format, **options)


def completion_error(result, problem):
    U, V = result.X
    return float(np.abs(U @ V.T - problem[0]).max())


def regression_objective(X, A, B, C):
    """½‖AXB − C‖²_F."""
    R = A @ X @ B - C
    return 0.5 * np.sum(R * R)


def regression_residuals(X, A, B, C):
    return A @ X @ B - C


def regression_problem(p, q):
    """A (2p×p), B (q×2q), C; closed form X* = A⁺ C B⁺ (full-rank A, B)."""
    g = rng("optimize", "regression", p, q)
    A = g.standard_normal((2 * p, p))
    B = g.standard_normal((q, 2 * q))
    C = g.standard_normal((2 * p, 2 * q))
    X_star = np.linalg.pinv(A) @ C @ np.linalg.pinv(B)
    return A, B, C, X_star


#: least_squares tolerances that take example 3 to the closed form within ~1e-8.
LSQ_TOLERANCES = {"ftol": 1e-14, "xtol": 1e-14, "gtol": 1e-12,
                  "tr_options": {"atol": 1e-12, "btol": 1e-12}}


def logdet_trace(X, S):
    """ln|X| + tr(X⁻¹S): the hessp target's f (no symmetry imposed)."""
    return np.linalg.slogdet(X)[1] + np.trace(np.linalg.inv(X) @ S)


def median_seconds(function, repeats=7):
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def peak_bytes(function):
    """Peak bytes that NumPy/Python allocate while `function` runs (tracemalloc)."""
    running = tracemalloc.is_tracing()
    if not running:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        function()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        if not running:
            tracemalloc.stop()


# ==================================================================== example 1
class GaussianCovariance:
    """Example 1: Gaussian ML covariance, n(n+1)/2 unknowns, Σ = LLᵀ, L symmetric."""

    params = [[5, 20, 50], ["L-BFGS-B", "trust-krylov", "Newton-CG", "L-BFGS-B/2-point",
                         "L-BFGS-B/jax", "trust-krylov/jax"]]
    param_names = ["n", "derivatives"]
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    timeout = 900.0

    def setup(self, n, derivatives):
        method, _, source = derivatives.partition("/")
        self.S, self.L0 = gaussian_problem(n)
        if source == "jax":
            skip_if(_jax() is None, "JAX is not installed")
            solve = gaussian_jax_solver(self.S)
            self.solve = lambda: solve(self.L0, method)
            warm(self.solve)  # jit compilation is not part of a solve
        elif source == "2-point":
            self.solve = lambda: gaussian_solve(self.S, self.L0, method, jac="2-point")
        else:
            self.solve = lambda: gaussian_solve(self.S, self.L0, method)
            warm(gaussian_solve, *gaussian_problem(2), method)  # first-call costs

    def time_solve(self, n, derivatives):
        self.solve()

    def track_iterations(self, n, derivatives):
        return int(self.solve().nit)

    def track_function_evaluations(self, n, derivatives):
        return int(self.solve().nfev)

    def track_error(self, n, derivatives):
        return gaussian_error(self.solve(), self.S)


# ==================================================================== example 2
class LowRankCompletion:
    """Example 2: least_squares for UVᵀ ≈ M on observed entries, per Jacobian format."""

    params = [list(COMPLETION_SIZES), ["operator", "sparse", "dense/lsmr", "dense/exact",
                                        "2-point/lsmr"]]
    param_names = ["size", "jacobian"]
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    timeout = 900.0

    def setup(self, size, jacobian):
        skip_if(size == "target" and jacobian == "dense/exact",
                "an SVD of the 10⁴×2·10³ Jacobian per iteration: minutes per solve")
        self.problem = completion_problem(size)
        fmt, _, solver = jacobian.partition("/")
        options = {"tr_solver": solver} if solver else {}
        if fmt == "2-point":
            fmt, options["jac"] = "operator", "2-point"
        self.solve = lambda: completion_solve(self.problem, fmt, **options)
        self.finite_differences = "jac" in options
        M, rows, cols, values, U0, V0 = self.problem
        self.residuals = kvo.residuals(completion_residuals, (U0.shape, V0.shape), rows, cols,
                                       values, jac_format=fmt)
        self.x0 = self.residuals.to_vector((U0, V0))
        warm(kvo.least_squares, completion_residuals, (U0[:4], V0[:4]),
             np.array([0, 1]), np.array([1, 2]), np.zeros(2), jac_format=fmt)

    def time_solve(self, size, jacobian):
        self.solve()

    def peakmem_solve(self, size, jacobian):
        self.solve()

    def track_solve_peak_bytes(self, size, jacobian):
        """tracemalloc peak of one solve: comparable across formats in one process."""
        return peak_bytes(self.solve)

    def track_jacobian_bytes(self, size, jacobian):
        """Peak bytes to produce one Jacobian at x₀ in this format."""
        if self.finite_differences:
            return float("nan")
        residuals = kvo.residuals(completion_residuals, self.residuals.shape,
                                  *self.residuals.args, jac_format=self.residuals.jac_format)
        return peak_bytes(lambda: residuals.jac(self.x0))

    def track_function_evaluations(self, size, jacobian):
        return int(self.solve().nfev)

    def track_error(self, size, jacobian):
        return completion_error(self.solve(), self.problem)


# ==================================================================== example 3
class MatrixRegression:
    """Example 3: min ½‖AXB − C‖²_F, closed form A⁺CB⁺; Hessian (BBᵀ) ⊗ (AᵀA)."""

    params = [[(8, 6), (40, 30)], ["trust-krylov", "L-BFGS-B", "least_squares/operator",
                                   "L-BFGS-B/2-point", "least_squares/2-point"]]
    param_names = ["(p, q)", "derivatives"]
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    timeout = 600.0

    def setup(self, shape, derivatives):
        p, q = shape
        self.A, self.B, self.C, self.X_star = regression_problem(p, q)
        X0 = np.zeros((p, q))
        args = (self.A, self.B, self.C)
        if derivatives == "trust-krylov":
            self.solve = lambda: kvo.minimize(regression_objective, X0, *args,
                                              method="trust-krylov", options={"gtol": 1e-10})
        elif derivatives.startswith("L-BFGS-B"):
            extra = {"jac": "2-point"} if derivatives.endswith("2-point") else {}
            self.solve = lambda: kvo.minimize(
                regression_objective, X0, *args, method="L-BFGS-B",
                options={"maxiter": 20000, "maxfun": 10**7, "ftol": 1e-15, "gtol": 1e-10},
                **extra)
        else:
            extra = {"jac": "2-point"} if derivatives.endswith("2-point") else {}
            self.solve = lambda: kvo.least_squares(regression_residuals, X0, *args,
                                                   tr_solver="lsmr", **LSQ_TOLERANCES, **extra)
        warm(self.solve)

    def time_solve(self, shape, derivatives):
        self.solve()

    def track_function_evaluations(self, shape, derivatives):
        return int(self.solve().nfev)

    def track_error(self, shape, derivatives):
        return float(np.abs(self.solve().X - self.X_star).max())


# ==================================================================== hessp target
class HessianVectorProduct:
    """hessp of ln|X| + tr(X⁻¹S) over all n² entries of X, against a matrix product."""

    params = [[50, 200, 500], ["operator", "hvp"]]
    param_names = ["n", "hessp_mode"]
    timeout = 600.0

    def setup(self, n, mode):
        g = rng("optimize", "hessp", n)
        A, B = g.standard_normal((n, n)), g.standard_normal((n, n))
        self.S = A @ A.T / n + np.eye(n)
        self.X = B @ B.T / n + np.eye(n)
        self.P = g.standard_normal((n, n))
        self.Q = g.standard_normal((n, n))
        self.objective = kvo.objective(logdet_trace, (n, n), self.S, hessp_mode=mode)
        self.x = self.objective.to_vector(self.X)
        self.p = self.objective.to_vector(self.P)
        warm(self.objective.hessp, self.x, self.p)  # builds the Hessian at x once

    def time_hessp(self, n, mode):
        """One product at a point whose Hessian is already built (trust-krylov's inner loop)."""
        self.objective.hessp(self.x, self.p)

    def time_hessp_first_at_new_point(self, n, mode):
        """Build (operator mode) plus one product at a fresh point."""
        kvo.objective(logdet_trace, (n, n), self.S, hessp_mode=mode).hessp(self.x, self.p)

    def time_matrix_product(self, n, mode):
        """The yardstick: one n×n by n×n product."""
        self.P @ self.Q

    def peakmem_hessp_first_at_new_point(self, n, mode):
        kvo.objective(logdet_trace, (n, n), self.S, hessp_mode=mode).hessp(self.x, self.p)

    def track_hessp_in_matrix_products(self, n, mode):
        """Median hessp time divided by the median matrix-product time (target ≤ 10)."""
        hessp = median_seconds(lambda: self.objective.hessp(self.x, self.p))
        product = median_seconds(lambda: self.P @ self.Q)
        return hessp / product

    track_hessp_in_matrix_products.unit = "matrix products"
