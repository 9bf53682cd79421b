"""The figures of notes/optimization.md §2 (which jac_format) and §8 (solver tolerances).

    python benchmarks/measure_tolerances.py [--sizes 30 60] [--skip-formats] [--skip-tolerances]

1. ``kronvec.optimize.least_squares`` on the Sylvester residual r(X) = AX + XB − C
   (A, B = standard normal + √n I, C standard normal, seeded) with
   ``jac_format="operator"`` and ``"sparse"``: wall time of the whole solve, the
   number of evaluations, and the final residual (both must solve it).
2. The Gaussian covariance fit of notes/optimization.md Example 1 (Σ = LLᵀ, L
   symmetric) on 178 seeded samples of 13 correlated variables whose standard
   deviations run from 0.1 to 1000 (the shape of the UCI wine data set), on the
   raw sample covariance S and on its correlation-scale version D⁻¹SD⁻¹:
   ``success``, iterations and the relative error ‖Σ − S‖_F/‖S‖_F for each
   method and tolerance setting of the table in §8.

One process, default BLAS threads (the user's setting); figures vary with load.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

import kronvec
import kronvec.optimize as kvo


def jacobian_formats(sizes):
    print("1. least_squares on AX + XB − C: jac_format")
    print(f"{'n':>4}  {'format':<9} {'seconds':>8} {'nfev':>5} {'max |r|':>9}")
    rng = np.random.default_rng(0)
    for n in sizes:
        A = rng.standard_normal((n, n)) + np.sqrt(n) * np.eye(n)
        B = rng.standard_normal((n, n)) + np.sqrt(n) * np.eye(n)
        C = rng.standard_normal((n, n))

        def residual(X, A, B, C):
            return A @ X + X @ B - C

        for jac_format in ("operator", "sparse"):
            start = time.perf_counter()
            res = kvo.least_squares(residual, np.zeros((n, n)), A, B, C, jac_format=jac_format)
            seconds = time.perf_counter() - start
            error = np.abs(residual(res.X, A, B, C)).max()
            print(f"{n:>4}  {jac_format:<9} {seconds:>8.2f} {res.nfev:>5} {error:>9.1e}")


def _wine_shaped_covariance():
    rng = np.random.default_rng(1)
    n = 13
    samples = rng.standard_normal((178, n))
    mixing = np.eye(n) + 0.3 * rng.standard_normal((n, n))
    Z = samples @ mixing * np.logspace(-1, 3, n)
    return np.cov(Z, rowvar=False, bias=True)


def _nll(L, S):
    Sigma = L @ L.T
    return np.linalg.slogdet(Sigma)[1] + np.trace(np.linalg.inv(Sigma) @ S)


def tolerances():
    print("\n2. Covariance fit, 13 variables with scales 0.1 … 1000: success vs error")
    S = _wine_shaped_covariance()
    d = np.sqrt(np.diag(S))
    standardized = S / np.outer(d, d)
    runs = [
        ("raw S", "L-BFGS-B", {}),
        ("raw S", "L-BFGS-B", {"ftol": 1e-15, "gtol": 1e-10}),
        ("standardized", "L-BFGS-B", {}),
        ("standardized", "L-BFGS-B", {"ftol": 1e-15, "gtol": 1e-10}),
        ("standardized", "trust-krylov", {"gtol": 1e-8}),
        ("standardized", "newton-cg", {"xtol": 1e-12}),
    ]
    print(f"{'data':<13} {'method':<13} {'options':<32} {'success':<8} {'nit':>6} {'error':>8} {'seconds':>8}")
    for data, method, options in runs:
        target, start_L = (S, np.diag(d)) if data == "raw S" else (standardized, np.eye(len(d)))
        start = time.perf_counter()
        with warnings.catch_warnings():  # (raw S drives Σ towards ill-conditioning: expected here)
            warnings.simplefilter("ignore", kronvec.IllConditionedWarning)
            res = kvo.minimize(_nll, start_L, target, method=method, symmetric=True, options=options)
        seconds = time.perf_counter() - start
        Sigma = res.X @ res.X.T
        if data != "raw S":
            Sigma = d[:, None] * Sigma * d
        error = np.linalg.norm(Sigma - S) / np.linalg.norm(S)
        print(f"{data:<13} {method:<13} {str(options):<32} {str(res.success):<8} {res.nit:>6} "
              f"{error:>8.1e} {seconds:>8.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 60])
    parser.add_argument("--skip-formats", action="store_true")
    parser.add_argument("--skip-tolerances", action="store_true")
    options = parser.parse_args(argv)
    print(f"kronvec {kronvec.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    if not options.skip_formats:
        jacobian_formats(options.sizes)
    if not options.skip_tolerances:
        tolerances()


if __name__ == "__main__":
    main()
