"""The figures of issue 4 (kronvec.optimize), side by side, in one process.

    python benchmarks/measure_optimize.py [--repeats 5] [--fd-repeats 3]
                                          [--blas-threads N] [--quick] [--full]

Prints, for each speed target, every contender's median over repeats (the
contenders of one table are run round-robin, one solve of each per round, so
drift on this shared 2-core machine hits them alike), the sizes, and whether
the target is met:

1. Example 1 (Gaussian ML covariance) at n = 50, 1275 unknowns on the
   symmetric subspace: kronvec derivatives ≥ 50× faster end to end than
   ``minimize(..., jac="2-point")``, same answer.  JAX rows (when installed)
   run last, in their own table: see :func:`jax_gaussian`.
2. Example 2 (low-rank completion) with 10⁴ residuals and 2·10³ unknowns:
   the "operator" Jacobian path at ≤ 1/10 of the dense path's memory
   (tracemalloc peak of a whole solve) and no slower.
3. ``hessp`` of ln|X| + tr(X⁻¹S) at n = 500: ≤ 10 matrix products' time,
   never materializing the n⁴ Hessian.

plus example 3 (matrix regression, closed form) against finite differences.

``--blas-threads N`` sets ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``/
``MKL_NUM_THREADS`` before NumPy is imported.  On this machine, when other
processes load the 2 cores, OpenBLAS threads that spin for work make *small*
BLAS calls very slow (L-BFGS-B's own vector updates at 1275 unknowns: 15 ms
per iteration with 2 threads against 0.25 ms with 1), which inflates every
row that runs many small solver steps; the default leaves the environment as
it is and prints what it is.  ``--quick`` shrinks the sizes for a smoke run;
``--full`` adds the slow rows (dense Jacobian with the exact trust-region
solver at the target size).
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds for fast contenders")
    parser.add_argument("--fd-repeats", type=int, default=3,
                        help="rounds that include the finite-difference solves")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="set OPENBLAS/OMP/MKL_NUM_THREADS before importing NumPy")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--full", action="store_true", help="add the slow rows")
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.blas_threads is not None:
    for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = str(ARGS.blas_threads)

import importlib.util  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import kronvec  # noqa: E402
import kronvec.optimize as kvo  # noqa: E402


def _load_benchmarks():
    path = Path(__file__).resolve().parent / "benchmarks" / "optimize.py"
    spec = importlib.util.spec_from_file_location("kronvec_benchmarks_optimize", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


B = _load_benchmarks()
MiB = 2**20


def round_robin(contenders, rounds):
    """{name: (median seconds, last result)} running one call of each per round."""
    samples = {name: [] for name in contenders}
    results = {}
    for r in range(rounds):
        for name, (solve, wanted) in contenders.items():
            if r >= wanted:
                continue
            start = time.perf_counter()
            results[name] = solve()
            samples[name].append(time.perf_counter() - start)
    return {name: (statistics.median(s), results[name], len(s)) for name, s in samples.items()}


def peak_of(function):
    """(tracemalloc peak bytes above the start, result) of one call."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = function()
        return tracemalloc.get_traced_memory()[1] - base, result
    finally:
        tracemalloc.stop()


def verdict(ok):
    return "MET" if ok else "MISSED"


def header(text):
    print()
    print(text)
    print("-" * len(text))


# =========================================================================== 1
def target_gaussian(n, repeats, fd_repeats):
    S, L0 = B.gaussian_problem(n)
    size = n * (n + 1) // 2
    header(f"Target 1 - example 1, Gaussian ML covariance: n = {n}, {size} unknowns "
           "(x = vech L, Sigma = L L^T, L symmetric); answer Sigma = S")
    B.gaussian_solve(*B.gaussian_problem(3), "L-BFGS-B")  # first-call costs, untimed
    contenders = {
        "kronvec grad      L-BFGS-B": (lambda: B.gaussian_solve(S, L0, "L-BFGS-B"), repeats),
        "kronvec hessp     trust-krylov": (lambda: B.gaussian_solve(S, L0, "trust-krylov"), repeats),
        "kronvec hessp     Newton-CG": (lambda: B.gaussian_solve(S, L0, "Newton-CG"), repeats),
        "kronvec hvp-mode  trust-krylov": (
            lambda: B.gaussian_solve(S, L0, "trust-krylov", hessp_mode="hvp"), repeats),
        "scipy 2-point     L-BFGS-B": (
            lambda: B.gaussian_solve(S, L0, "L-BFGS-B", jac="2-point"), fd_repeats),
    }
    timings = round_robin(contenders, max(repeats, fd_repeats))
    fd_seconds = timings["scipy 2-point     L-BFGS-B"][0]
    fd_error = B.gaussian_error(timings["scipy 2-point     L-BFGS-B"][1], S)
    print(f"{'derivatives       method':32s} {'nit':>5s} {'nfev':>7s} {'median s':>9s} "
          f"{'runs':>4s} {'max|Sigma-S|':>12s} {'vs 2-point':>10s}")
    for name, (seconds, result, runs) in timings.items():
        print(f"{name:32s} {result.nit:5d} {result.nfev:7d} {seconds:9.3f} {runs:4d} "
              f"{B.gaussian_error(result, S):12.2e} {fd_seconds / seconds:9.1f}x")
    best = min(timings[k][0] for k in timings if k.startswith("kronvec") and "hvp" not in k)
    same = all(B.gaussian_error(timings[k][1], S) < 1e-6 for k in timings if k.startswith("kronvec"))
    lbfgs = fd_seconds / timings["kronvec grad      L-BFGS-B"][0]
    print(f"=> same method (L-BFGS-B) kronvec vs 2-point: {lbfgs:.0f}x; best kronvec path "
          f"vs 2-point: {fd_seconds / best:.0f}x; kronvec answers within 1e-6: {same} "
          f"(2-point: {fd_error:.1e}).  Target >= 50x: {verdict(fd_seconds / best >= 50)}")
    return fd_seconds / best


def jax_gaussian(n, repeats):
    """Example 1 with JAX derivatives, run last: once XLA's thread pool exists, OpenBLAS
    threads in the same process compete with it (hessp at n = 100 measured 80x slower
    after the JAX solves with 2 BLAS threads), so nothing kronvec-only runs after it."""
    jax = B._jax()
    header(f"Example 1 with JAX derivatives (optional): n = {n}, jit-compiled value_and_grad "
           "and jvp-of-grad hessp, compile time excluded")
    if jax is None:
        print("JAX is not installed: skipped")
        return
    S, L0 = B.gaussian_problem(n)
    jax_solve = B.gaussian_jax_solver(S)
    contenders = {}
    for method in ("L-BFGS-B", "trust-krylov"):
        jax_solve(L0, method)  # jit compile outside the timing
        contenders[f"kronvec  {method}"] = (
            lambda method=method: B.gaussian_solve(S, L0, method), repeats)
        contenders[f"JAX jit  {method}"] = (
            lambda method=method: jax_solve(L0, method), repeats)
    timings = round_robin(contenders, repeats)
    print(f"{'derivatives  method':32s} {'nit':>5s} {'nfev':>7s} {'median s':>9s} {'runs':>4s} "
          f"{'max|Sigma-S|':>12s}")
    for name, (seconds, result, runs) in timings.items():
        print(f"{name:32s} {result.nit:5d} {result.nfev:7d} {seconds:9.3f} {runs:4d} "
              f"{B.gaussian_error(result, S):12.2e}")
    print(f"jax {jax.__version__}")


# =========================================================================== 2
def target_completion(size, repeats, fd_repeats, full):
    problem = B.completion_problem(size)
    m, n, k, n_obs = B.COMPLETION_SIZES[size]
    unknowns = (m + n) * k
    header(f"Target 2 - example 2, low-rank completion with least_squares: {n_obs} residuals, "
           f"{unknowns} unknowns (U {m}x{k}, V {n}x{k}, x = [vec U; vec V])")
    rows = {
        "operator  lsmr": ("operator", {}),
        "sparse    lsmr": ("sparse", {}),
        "dense     lsmr": ("dense", {"tr_solver": "lsmr"}),
        "2-point   lsmr": ("operator", {"jac": "2-point", "tr_solver": "lsmr"}),
    }
    if full or size != "target":
        rows["dense     exact"] = ("dense", {"tr_solver": "exact"})
    B.completion_solve(B.completion_problem("small"), "sparse")  # numba/first-call, untimed
    peaks = {}
    jac_bytes = {}
    for name, (fmt, options) in rows.items():
        peaks[name], _ = peak_of(lambda: B.completion_solve(problem, fmt, **options))
        if "jac" not in options:
            res_ = kvo.residuals(B.completion_residuals, ((m, k), (n, k)), *problem[1:4],
                                 jac_format=fmt)
            x0 = res_.to_vector(problem[4:])
            jac_bytes[name], _ = peak_of(lambda: res_.jac(x0))
    contenders = {
        name: (lambda fmt=fmt, options=options: B.completion_solve(problem, fmt, **options),
               fd_repeats if ("jac" in options or "exact" in name) else repeats)
        for name, (fmt, options) in rows.items()
    }
    timings = round_robin(contenders, max(repeats, fd_repeats))
    print(f"{'jacobian  solver':18s} {'nfev':>5s} {'njev':>5s} {'median s':>9s} {'runs':>4s} "
          f"{'solve peak MiB':>14s} {'one J MiB':>9s} {'max|UV^T-M|':>11s}")
    for name, (seconds, result, runs) in timings.items():
        jb = f"{jac_bytes[name] / MiB:9.2f}" if name in jac_bytes else f"{'(FD)':>9s}"
        print(f"{name:18s} {result.nfev:5d} {result.njev:5d} {seconds:9.3f} {runs:4d} "
              f"{peaks[name] / MiB:14.2f} {jb} {B.completion_error(result, problem):11.2e}")
    op, dense = "operator  lsmr", "dense     lsmr"
    ratio = peaks[op] / peaks[dense]
    speed = timings[dense][0] / timings[op][0]
    print(f"=> operator / dense memory: {ratio:.3f} (1/{1 / ratio:.0f}); dense / operator time: "
          f"{speed:.1f}x.  Target <= 1/10 memory and no slower: "
          f"{verdict(ratio <= 0.1 and speed >= 1.0)}")
    return ratio, speed


# =========================================================================== 3
def target_hessp(n, repeats):
    g = B.rng("optimize", "hessp", n)
    A, C = g.standard_normal((n, n)), g.standard_normal((n, n))
    S = A @ A.T / n + np.eye(n)
    X = C @ C.T / n + np.eye(n)
    P, Q = g.standard_normal((n, n)), g.standard_normal((n, n))
    header(f"Target 3 - hessp of ln|X| + tr(X^-1 S) over all of X: n = {n}, {n * n} unknowns, "
           f"the dense Hessian would be {n**4:.3g} entries ({n**4 * 8 / 2**30:.0f} GiB)")
    obj = kvo.objective(B.logdet_trace, (n, n), S)
    hvp_obj = kvo.objective(B.logdet_trace, (n, n), S, hessp_mode="hvp")
    x, p = obj.to_vector(X), obj.to_vector(P)
    build_peak, _ = peak_of(lambda: obj.hessp(x, p))  # builds the structured Hessian at x
    H = obj.hess(x)
    hvp_obj.hessp(x, p)
    contenders = {
        "matrix product P @ Q": (lambda: P @ Q, 3 * repeats),
        "hessp, Hessian built (per product)": (lambda: obj.hessp(x, p), 3 * repeats),
        "Hessian build at a new x": (
            lambda: kvo.objective(B.logdet_trace, (n, n), S).hess(x), repeats),
        "hessp, first at a new x (build + 1)": (
            lambda: kvo.objective(B.logdet_trace, (n, n), S).hessp(x, p), repeats),
        "hessp_mode='hvp' (per product)": (lambda: hvp_obj.hessp(x, p), repeats),
        "value_and_grad at a new x (reference)": (
            lambda: kvo.objective(B.logdet_trace, (n, n), S).value_and_grad(x), repeats),
    }
    timings = round_robin(contenders, 3 * repeats)
    product = timings["matrix product P @ Q"][0]
    print(f"{'':38s} {'median ms':>9s} {'runs':>4s} {'matrix products':>15s}")
    for name, (seconds, _, runs) in timings.items():
        print(f"{name:38s} {seconds * 1e3:9.2f} {runs:4d} {seconds / product:15.1f}")
    per = timings["hessp, Hessian built (per product)"][0] / product
    print(f"Hessian operator: {H!r}")
    print(f"tracemalloc peak of build + first product: {build_peak / MiB:.1f} MiB "
          f"(vs {n**4 * 8 / MiB:,.0f} MiB for the dense Hessian)")
    print(f"=> hessp per product = {per:.1f} matrix products.  Target <= 10: {verdict(per <= 10)}")
    return per


# =========================================================================== ex 3
def example_regression(p, q, repeats, fd_repeats):
    A, Bm, C, X_star = B.regression_problem(p, q)
    header(f"Example 3 - matrix regression min 1/2 ||A X B - C||_F^2: X {p}x{q} ({p * q} unknowns), "
           "closed form X* = A^+ C B^+")
    X0 = np.zeros((p, q))
    args = (A, Bm, C)
    lbfgs = {"maxiter": 20000, "maxfun": 10**7, "ftol": 1e-15, "gtol": 1e-10}
    contenders = {
        "kronvec hessp  trust-krylov": (lambda: kvo.minimize(
            B.regression_objective, X0, *args, method="trust-krylov",
            options={"gtol": 1e-10}), repeats),
        "kronvec grad   L-BFGS-B": (lambda: kvo.minimize(
            B.regression_objective, X0, *args, method="L-BFGS-B", options=lbfgs), repeats),
        "kronvec J      least_squares": (lambda: kvo.least_squares(
            B.regression_residuals, X0, *args, tr_solver="lsmr", **B.LSQ_TOLERANCES), repeats),
        "2-point        L-BFGS-B": (lambda: kvo.minimize(
            B.regression_objective, X0, *args, method="L-BFGS-B", options=lbfgs,
            jac="2-point"), fd_repeats),
        "2-point        least_squares": (lambda: kvo.least_squares(
            B.regression_residuals, X0, *args, tr_solver="lsmr", jac="2-point",
            **B.LSQ_TOLERANCES), fd_repeats),
    }
    timings = round_robin(contenders, max(repeats, fd_repeats))
    print(f"{'derivatives    solver':30s} {'nfev':>6s} {'median s':>9s} {'runs':>4s} {'max|X-X*|':>10s}")
    for name, (seconds, result, runs) in timings.items():
        print(f"{name:30s} {result.nfev:6d} {seconds:9.3f} {runs:4d} "
              f"{np.abs(result.X - X_star).max():10.2e}")


def main():
    threads = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    print(f"kronvec {kronvec.__version__}, numpy {np.__version__}, scipy "
          f"{__import__('scipy').__version__}; {os.cpu_count()} CPUs; BLAS threads: {threads}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"medians of up to {ARGS.repeats} rounds ({ARGS.fd_repeats} for finite-difference rows)")
    quick = ARGS.quick
    target_gaussian(10 if quick else 50, ARGS.repeats, ARGS.fd_repeats)
    target_completion("small" if quick else "target", ARGS.repeats, ARGS.fd_repeats, ARGS.full)
    target_hessp(100 if quick else 500, ARGS.repeats)
    example_regression(*((8, 6) if quick else (40, 30)), ARGS.repeats, ARGS.fd_repeats)
    jax_gaussian(10 if quick else 50, ARGS.repeats)


if __name__ == "__main__":
    main()
