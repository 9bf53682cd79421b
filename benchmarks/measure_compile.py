"""The figures of issue 17 (compiled transformations), side by side, in one process.

    python benchmarks/measure_compile.py [--rounds 15] [--blas-threads N] [--skip jax] [--only 4]

Tables (every row's contenders timed round-robin, ``_timing.round_robin``;
median and minimum seconds per call over the rounds):

1. value+grad of f(S) = ln|S| + tr(S⁻¹C) at n = 4 and 16: ``kronvec.value_and_grad``
   uncompiled and with ``compile=True``, the hand-written NumPy closed form,
   ``jax.jit(jax.value_and_grad)`` (float64, ``block_until_ready``) and a numba
   closed form (``@njit(cache=True)``, LAPACK through numba).  Targets at n = 4:
   compiled ≤ 0.7 × JAX and ≤ 3 × numba.
2. the first call: a new compiled function (record + program + run) against a new
   ``jax.jit`` (trace + XLA compile + run), each the median of 5 fresh functions.
   Target: ≤ 50 ms and ≥ 6 × faster than JAX's.
3. per operation of a 21-operation function at n = 2 (five rounds of
   ``tanh(Y @ W)·½ + Y``, then a sum): compiled, uncompiled, JAX; time / 21.
   Target: compiled ≤ 1 µs per operation.
4. the dense Jacobian of X ↦ X⁻¹ at n = 16: ``jacobian(np.linalg.inv, compile=True)(X).toarray()``
   (warmed: its fused tier compiled and in use) against a numba fill of −(X⁻ᵀ ⊗ X⁻¹), and the
   structured operator alone, compiled and not.  Target: ≤ 2 × numba.
5. ``scipy.optimize.minimize`` (L-BFGS-B, 40 iterations) of the Gaussian MLE through a
   factor L (S = LLᵀ + 10⁻³I) at n = 4 and 16, with and without ``compile=True`` (the same
   iterates, bit for bit).  Target: ≥ 1.5 × faster compiled.

Every compiled result is checked equal, bit for bit, to the uncompiled one before
it is timed.  ``--blas-threads N`` pins BLAS/OpenMP/numba/XLA threads (set before
NumPy is imported); without it, the machine's defaults.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

_parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
_parser.add_argument("--rounds", type=int, default=15)
_parser.add_argument("--blas-threads", type=int, default=None)
_parser.add_argument("--skip", default="", help="comma-separated: jax")
_parser.add_argument("--only", default="", help="comma-separated table numbers (1-5) to run; all by default")
ARGS = _parser.parse_args()
if ARGS.blas_threads is not None:
    for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[_variable] = str(ARGS.blas_threads)
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import numba  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kronvec  # noqa: E402
import kronvec.optimize as kvo  # noqa: E402
from _timing import Contender, round_robin  # noqa: E402

SKIP = set(filter(None, ARGS.skip.split(",")))
ONLY = {int(part) for part in ARGS.only.split(",") if part}


def jax_or_none():
    if "jax" in SKIP:
        return None
    try:
        import jax
    except ImportError:
        print("(jax not installed: its rows are skipped)")
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


JAX = jax_or_none()


@numba.njit(cache=True)
def numba_closed_form(S, C):
    inverse = np.linalg.inv(S)
    logdet = np.linalg.slogdet(S)[1]
    value = logdet + np.sum(inverse * C.T)  # tr(S⁻¹C)
    return value, (inverse - inverse @ C @ inverse).T


@numba.njit(cache=True)
def numba_inverse_jacobian(X):
    """−(X⁻ᵀ ⊗ X⁻¹), written entry by entry: the floor for a dense Jacobian of X⁻¹."""
    inverse = np.linalg.inv(X)
    n = X.shape[0]
    out = np.empty((n * n, n * n))
    for j in range(n):  # row i + n j, written left to right (C order)
        for i in range(n):
            row = i + n * j
            for l in range(n):
                a = -inverse[l, j]  # (X⁻ᵀ)[j, l]
                for k in range(n):
                    out[row, k + n * l] = a * inverse[i, k]
    return out


def table(title, calls, rounds):
    """Time `calls` [(name, call)] round-robin; print median/min µs; return {name: median s}."""
    contenders = [Contender(call, name) for name, call in calls]
    round_robin(contenders, rounds)
    print(f"\n{title}")
    medians = {}
    for contender in contenders:
        medians[contender.name] = statistics.median(contender.samples)
        print(f"  {contender.name:<34} median {medians[contender.name] * 1e6:10.1f} µs   "
              f"min {min(contender.samples) * 1e6:10.1f} µs")
    return medians


def warmed(compiled, *args, call=None):
    """Replay `compiled` (through `call`, given) until its fused tier is compiled in the
    background and in use; returns whether it is (a program with an operation without a
    fused form stays Python)."""
    from kronvec._compiled.gradient import FUSE_AFTER_REPLAYS

    for k in range(FUSE_AFTER_REPLAYS + 1):
        (call or compiled)(*args[:-1], args[-1] * (1.0 + 1e-6 * k))  # (new points: nothing memoized)
    return all(entry.built.wait(timeout=600) for entry in compiled.cache.values())


def check_close(name, got, want):
    """Within 1e-12 of the largest entry: a fused tanh/exp/log is the C library's, NumPy's
    its own SIMD loop; the two may round an entry's last bit differently (tests/test_fused.py)."""
    got, want = (got if isinstance(got, tuple) else (got,)), (want if isinstance(want, tuple) else (want,))
    for a, b in zip(got, want):
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if not np.all(np.abs(a - b) <= 1e-12 * np.max(np.abs(b))):
            raise SystemExit(f"!!! {name}: compiled and uncompiled results differ beyond the last bits")


def check_equal(name, got, want):
    got, want = (got if isinstance(got, tuple) else (got,)), (want if isinstance(want, tuple) else (want,))
    for a, b in zip(got, want):
        if not np.array_equal(np.asarray(a), np.asarray(b)):
            raise SystemExit(f"!!! {name}: compiled and uncompiled results differ")


def gaussian(n, seed=0):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    return A @ A.T + n * np.eye(n), B @ B.T + np.eye(n)


def verdict(ok):
    return "✓" if ok else "✗"


def part_value_and_grad(rounds):
    results = {}
    for n in (4, 16):
        S, C = gaussian(n)

        def f(S):
            return np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C))

        plain, compiled = kronvec.value_and_grad(f), kronvec.value_and_grad(f, compile=True)
        print(f"  (n = {n}: fused tier in use: {warmed(compiled, S)})")
        check_equal("value_and_grad", compiled(S), plain(S))

        def hand():
            inverse = np.linalg.inv(S)
            return np.linalg.slogdet(S)[1] + np.trace(inverse @ C), (inverse - inverse @ C @ inverse).T

        calls = [("kronvec", lambda: plain(S)), ("kronvec compile=True", lambda: compiled(S)),
                 ("hand-written NumPy", hand), ("numba closed form", lambda: numba_closed_form(S, C))]
        if JAX is not None:
            jnp = JAX.numpy
            Cj = jnp.asarray(C)
            jitted = JAX.jit(JAX.value_and_grad(lambda S: jnp.linalg.slogdet(S)[1] + jnp.trace(jnp.linalg.solve(S, Cj))))
            Sj = jnp.asarray(S)
            calls.append(("jax.jit(value_and_grad)", lambda: JAX.block_until_ready(jitted(Sj))))
        results[n] = table(f"1. value+grad of ln|S| + tr(S⁻¹C), n = {n}", calls, rounds)
    return results


def part_first_call():
    S, C = gaussian(4)
    ours, theirs = [], []
    for k in range(5):
        scale = 1.0 + k  # a new function each time: nothing cached
        f = kronvec.value_and_grad(lambda S: scale * np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C)),
                                   compile=True)
        start = time.perf_counter()
        f(S)
        ours.append(time.perf_counter() - start)
        if JAX is not None:
            jnp = JAX.numpy
            g = JAX.jit(JAX.value_and_grad(lambda S: scale * jnp.linalg.slogdet(S)[1]
                                           + jnp.trace(jnp.linalg.solve(S, jnp.asarray(C)))))
            start = time.perf_counter()
            JAX.block_until_ready(g(jnp.asarray(S)))
            theirs.append(time.perf_counter() - start)
    print("\n2. first call (record + build + run), n = 4, median of 5 fresh functions")
    print(f"  kronvec compile=True               {statistics.median(ours) * 1e3:8.2f} ms")
    if theirs:
        print(f"  jax.jit(value_and_grad)            {statistics.median(theirs) * 1e3:8.2f} ms")
    return statistics.median(ours), (statistics.median(theirs) if theirs else None)


def part_per_operation(rounds):
    W = np.array([[0.6, -0.3], [0.2, 0.5]])

    def f(X):
        Y = X
        for _ in range(5):
            Y = np.tanh(Y @ W) * 0.5 + Y
        return np.sum(Y)

    X = np.array([[0.3, -0.1], [0.4, 0.2]])
    plain, compiled = kronvec.value_and_grad(f), kronvec.value_and_grad(f, compile=True)
    print(f"  (fused tier in use: {warmed(compiled, X)})")
    check_close("21-operation value_and_grad", compiled(X), plain(X))
    calls = [("kronvec", lambda: plain(X)), ("kronvec compile=True", lambda: compiled(X))]
    if JAX is not None:
        jnp = JAX.numpy
        Wj = jnp.asarray(W)

        def fj(X):
            Y = X
            for _ in range(5):
                Y = jnp.tanh(Y @ Wj) * 0.5 + Y
            return jnp.sum(Y)

        jitted = JAX.jit(JAX.value_and_grad(fj))
        Xj = jnp.asarray(X)
        calls.append(("jax.jit(value_and_grad)", lambda: JAX.block_until_ready(jitted(Xj))))
    medians = table("3. value+grad of a 21-operation function at n = 2 (per call)", calls, rounds)
    for name, seconds in medians.items():
        print(f"  {name:<34} {seconds / 21 * 1e6:8.2f} µs per operation")
    return medians


def part_dense_inverse(rounds):
    n = 16
    X = np.random.default_rng(1).standard_normal((n, n)) + 2 * np.sqrt(n) * np.eye(n)
    plain, compiled = kronvec.jacobian(np.linalg.inv), kronvec.jacobian(np.linalg.inv, compile=True)
    print(f"  (fused tier in use: {warmed(compiled, X)})")
    check_equal("jacobian(inv).toarray()", compiled(X).toarray(), plain(X).toarray())
    if not np.allclose(numba_inverse_jacobian(X), plain(X).toarray(), rtol=1e-12, atol=1e-15):
        raise SystemExit("!!! the numba fill is not −(X⁻ᵀ ⊗ X⁻¹)")
    return table("4. dense Jacobian of X⁻¹, n = 16", [
        ("kronvec", lambda: plain(X).toarray()),
        ("kronvec compile=True", lambda: compiled(X).toarray()),
        ("numba fill of −(X⁻ᵀ ⊗ X⁻¹)", lambda: numba_inverse_jacobian(X)),
        ("kronvec, operator only", lambda: plain(X)),
        ("kronvec compile=True, operator only", lambda: compiled(X)),
    ], rounds)


def part_minimize(rounds):
    results = {}
    for n in (4, 16):
        rng = np.random.default_rng(2)
        Z = rng.standard_normal((20 * n, n)) @ (np.triu(rng.standard_normal((n, n))) + 2 * np.eye(n))
        C = Z.T @ Z / len(Z)

        def nll(L, C):
            S = L @ L.T + 1e-3 * np.eye(L.shape[0])
            return np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C))

        objectives = {flag: kvo.objective(nll, (n, n), C, compile=flag) for flag in (False, True)}
        x0 = np.eye(n).ravel(order="F")
        print(f"  (n = {n}: fused tier in use: {warmed(objectives[True]._value_and_grad, x0, call=objectives[True].value_and_grad)})")

        def run(flag):
            return minimize(objectives[flag].value_and_grad, x0, jac=True, method="L-BFGS-B",
                            options={"maxiter": 40})

        if not np.array_equal(run(True).x, run(False).x):
            raise SystemExit("!!! minimize: compiled and uncompiled iterates differ")
        results[n] = table(f"5. minimize (L-BFGS-B, 40 iterations), Gaussian MLE through a factor, n = {n}",
                           [("kronvec", lambda: run(False)), ("kronvec compile=True", lambda: run(True))],
                           max(3, rounds // 3))
    return results


def main():
    threads = "default threads" if ARGS.blas_threads is None else f"{ARGS.blas_threads} BLAS thread(s)"
    print(f"kronvec {kronvec.__version__}, NumPy {np.__version__}, numba {numba.__version__}, "
          f"jax {getattr(JAX, '__version__', 'skipped')}; {threads}; load {os.getloadavg()[0]:.2f}")
    wanted = ONLY or {1, 2, 3, 4, 5}
    grad = part_value_and_grad(ARGS.rounds) if 1 in wanted else None
    first, jax_first = part_first_call() if 2 in wanted else (None, None)
    per_op = part_per_operation(ARGS.rounds) if 3 in wanted else None
    dense = part_dense_inverse(ARGS.rounds) if 4 in wanted else None
    fits = part_minimize(ARGS.rounds) if 5 in wanted else {}
    print("\nTargets (issue 17)")
    if grad is not None:
        ours = grad[4]["kronvec compile=True"]
        if JAX is not None:
            print(f"  n = 4 compiled / JAX       {ours / grad[4]['jax.jit(value_and_grad)']:6.2f}  (≤ 0.7) "
                  f"{verdict(ours <= 0.7 * grad[4]['jax.jit(value_and_grad)'])}")
        print(f"  n = 4 compiled / numba     {ours / grad[4]['numba closed form']:6.2f}  (≤ 3)   "
              f"{verdict(ours <= 3 * grad[4]['numba closed form'])}")
    if first is not None:
        print(f"  first call                 {first * 1e3:6.1f} ms (≤ 50) {verdict(first <= 0.05)}"
              + (f"; JAX's / ours {jax_first / first:5.1f} (≥ 6) {verdict(jax_first >= 6 * first)}"
                 if jax_first else ""))
    if per_op is not None:
        print(f"  per operation, n = 2       {per_op['kronvec compile=True'] / 21 * 1e6:6.2f} µs (≤ 1) "
              f"{verdict(per_op['kronvec compile=True'] / 21 <= 1e-6)}")
    if dense is not None:
        ratio = dense["kronvec compile=True"] / dense["numba fill of −(X⁻ᵀ ⊗ X⁻¹)"]
        print(f"  dense inv n = 16 / numba   {ratio:6.2f}  (≤ 2)   {verdict(ratio <= 2)}")
    for n, medians in fits.items():
        speedup = medians["kronvec"] / medians["kronvec compile=True"]
        print(f"  minimize n = {n:<2} speed-up    {speedup:6.2f}  (≥ 1.5) {verdict(speedup >= 1.5)}")


if __name__ == "__main__":
    main()
