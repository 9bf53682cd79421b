"""Memory of the structured Jacobians of issue 13's operations ("< 4 n² · 8 bytes extra
memory" at n = 2000), beside the operation itself:

    python benchmarks/measure_jacobian_memory.py [--size 2000] [--only NAME ...] [--quick]
                                                 [--time [--rounds 5]]

Cases: expm, logm and sqrtm at a symmetric and at a general A (eigenvalues in the right
half-plane); and, at a general A unless named, ``solve_sylvester(A, Bᵀ, C)``,
``solve_continuous_lyapunov(−A, C)``, ``polar(A)[0]``, ``pinv(A)``,
``fractional_matrix_power(S, 0.3)`` (S symmetric positive definite),
``solve_triangular(L, C, lower=True)`` and ``inv(A)``.  Each case runs twice, each time
in a fresh Python process (this script with ``--worker``): once the operation alone
(SciPy's or NumPy's), once the build of ``kronvec.jacobian`` of the same function
(``kronvec.scipy.linalg``'s, or NumPy's traced).  Reported: the growth of the process's
peak resident memory (``ru_maxrss``) during that one call, in units of n² doubles; the
extra is the build's growth minus the operation's.

The peak is Linux's VmHWM, reset to the resident size just before the call (so the setup's
freed memory does not hide the call's; ``ru_maxrss`` elsewhere).  Why RSS and not tracemalloc: SciPy's ``sqrtm`` is a C routine whose buffers tracemalloc
does not see (it reports 0 n² for it), which would make every Jacobian look expensive
beside it.  The process's peak sees every allocator alike.  Before the call, each worker
makes the same call at n = 8 (imports, numba caches and LAPACK's first-call state are
not counted).

With ``--time`` it also times each build against the operation alone (the issue's
"built in < 3× the time of the factorization itself"): round-robin medians in one worker
process per case and thread setting (default threads, and every pool pinned to one).

The build includes what ``kronvec.jacobian`` always does: its copy of A (1 n²), the
value and the factors the operator keeps (symmetric A: V and Γ; general sqrtm: the Schur
form of f(A); expm and logm: A and f(A), their Fréchet plans made on first use).
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys

TARGET = 4.0  # extra n² doubles
TIME_TARGET = 3.0  # the build against the operation alone
MATRIX_FUNCTIONS = ("expm", "logm", "sqrtm")
OTHERS = ("solve_sylvester", "solve_continuous_lyapunov", "solve_discrete_lyapunov", "polar", "pinv", "fractional_matrix_power",
          "solve_triangular", "inv")
CASES = tuple((name, kind) for name in MATRIX_FUNCTIONS for kind in ("symmetric", "general")) + tuple(
    (name, "spd" if name == "fractional_matrix_power" else "lower" if name == "solve_triangular" else "general")
    for name in OTHERS)


def _matrices(n):
    """(symmetric positive definite S, general B with eigenvalues near 1.5 ± 0.5, B' for
    the other side of a Sylvester equation): real logarithms and square roots, and
    solvable Sylvester and Lyapunov equations."""
    import numpy as np

    rng = np.random.default_rng(0)
    G = rng.standard_normal((n, n)) / np.sqrt(n)
    S = G @ G.T / 2 + np.eye(n)
    B = 0.5 * G + 1.5 * np.eye(n)
    other = rng.standard_normal((n, n)) / np.sqrt(n) + 2 * np.eye(n)
    return S, B, other


def _case(n, name, kind, mode):
    """(the function of one matrix, that matrix) for case (name, kind) in `mode`."""
    import numpy as np
    import scipy.linalg

    import kronvec.scipy.linalg

    linalg = kronvec.scipy.linalg if mode == "kronvec" else scipy.linalg
    S, B, other = _matrices(n)
    A = {"symmetric": S, "spd": S, "general": B, "lower": np.tril(other)}[kind]
    if name in MATRIX_FUNCTIONS:
        return getattr(linalg, name), A
    C = S  # (a constant right-hand side)
    functions = {
        "solve_sylvester": lambda X: linalg.solve_sylvester(X, other.T, C),
        "solve_continuous_lyapunov": lambda X: linalg.solve_continuous_lyapunov(-X, C),
        # (eigenvalues of B/4 near 0.375 ± 0.125: a stable discrete-time system)
        "solve_discrete_lyapunov": lambda X: linalg.solve_discrete_lyapunov(X / 4, C),
        "polar": lambda X: linalg.polar(X)[0],
        "pinv": np.linalg.pinv,
        "fractional_matrix_power": lambda X: linalg.fractional_matrix_power(X, 0.3),
        "solve_triangular": lambda X: linalg.solve_triangular(X, C, lower=True),
        "inv": np.linalg.inv,
    }
    return functions[name], A


def worker(n, name, kind, mode):
    """Peak-RSS growth of one call, in n² doubles (printed)."""
    import kronvec

    def call_at(size):
        f, A = _case(size, name, kind, mode)
        return A, ((lambda: kronvec.jacobian(f)(A)) if mode == "kronvec" else (lambda: f(A)))

    call_at(8)[1]()
    A, call = call_at(n)
    before = _reset_peak()
    result = call()
    after = _peak()
    del result
    print((after - before) * 1024 / (8 * n * n))  # (KiB)


def time_worker(n, name, kind, rounds):
    """Median seconds of the Jacobian build and of the operation alone, side by side in
    this process (round-robin batches, ``_timing.py``), printed as two numbers."""
    import kronvec
    from _timing import median_seconds  # (benchmarks/, the script's folder)

    f_ours, A = _case(n, name, kind, "kronvec")
    f_alone, _ = _case(n, name, kind, "scipy")
    build = kronvec.jacobian(f_ours)
    times = median_seconds([("build", lambda: build(A)), ("alone", lambda: f_alone(A))], rounds)
    print(times["build"], times["alone"])


def _status_kib(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak():
    """The resident size now, with the peak reset to it (Linux: writing 5 to
    /proc/self/clear_refs resets VmHWM), so that memory the setup used and freed is not
    below the peak the call is measured by; elsewhere the peak so far (ru_maxrss)."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return _status_kib("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak():
    try:
        return _status_kib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run(n, name, kind, mode):
    done = subprocess.run([sys.executable, __file__, "--worker", str(n), name, kind, mode],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{name} {kind} {mode}: worker failed\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def _run_time(n, name, kind, threads, rounds):
    from _timing import thread_environment

    done = subprocess.run([sys.executable, __file__, "--time-worker", str(n), name, kind, str(rounds)],
                          capture_output=True, text=True, timeout=3600, env=thread_environment(threads))
    if done.returncode != 0:
        raise SystemExit(f"{name} {kind} time ({threads}): worker failed\n{done.stderr[-2000:]}")
    build, alone = map(float, done.stdout.strip().splitlines()[-1].split())
    return build, alone


def _time_table(n, only, rounds):
    print(f"\nBuild time of the structured Jacobian against the operation alone (n = {n}), medians of "
          f"{rounds} round-robin rounds in one process; target < {TIME_TARGET:g}×\n")
    print("| operation | A | threads | Jacobian build | operation alone | ratio | target |\n"
          "|---|---|---|---:|---:|---:|---|")
    for name, kind in CASES:
        if only and name not in only:
            continue
        for threads in ("default", "pinned"):
            build, alone = _run_time(n, name, kind, threads, rounds)
            ratio = build / alone
            print(f"| {name} | {kind} | {threads} | {build * 1e3:.0f} ms | {alone * 1e3:.0f} ms | {ratio:.2f} | "
                  f"< {TIME_TARGET:g} {'✓' if ratio < TIME_TARGET else '✗'} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--only", nargs="+", choices=MATRIX_FUNCTIONS + OTHERS, help="these operations only")
    parser.add_argument("--quick", action="store_true", help="n = 200: a smoke run")
    parser.add_argument("--time", action="store_true",
                        help="also time each build against the operation alone (default and pinned threads)")
    parser.add_argument("--rounds", type=int, default=5, help="round-robin rounds of --time")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--time-worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.time_worker:
        n, name, kind, rounds = args.time_worker
        time_worker(int(n), name, kind, int(rounds))
        return 0
    if args.worker:
        n, name, kind, mode = args.worker
        worker(int(n), name, kind, mode)
        return 0
    n = 200 if args.quick else args.size
    print(f"Peak-RSS growth of one call, n² doubles (n = {n}); extra = Jacobian build − operation alone; "
          f"target < {TARGET:g} n²\n")
    print("| operation | A | operation alone | Jacobian build | extra | target |\n|---|---|---:|---:|---:|---|")
    for name, kind in CASES:
        if args.only and name not in args.only:
            continue
        alone, build = _run(n, name, kind, "scipy"), _run(n, name, kind, "kronvec")
        extra = build - alone
        print(f"| {name} | {kind} | {alone:.2f} | {build:.2f} | {extra:.2f} | "
              f"< {TARGET:g} {'✓' if extra < TARGET else '✗'} |", flush=True)
    if args.time:
        _time_table(n, args.only, 3 if args.quick else args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
