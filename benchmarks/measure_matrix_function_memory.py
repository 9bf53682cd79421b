"""Memory of the matrix functions' structured Jacobians (issue 13: "< 4 n² · 8 bytes
extra memory" at n = 2000), beside the function itself:

    python benchmarks/measure_matrix_function_memory.py [--size 2000] [--quick]

For expm, logm and sqrtm at a symmetric and at a general A (eigenvalues in the right
half-plane), each case runs twice, each time in a fresh Python process (this script with
``--worker``): once ``scipy.linalg.<f>(A)`` alone, once the build of
``kronvec.jacobian(kronvec.scipy.linalg.<f>)(A)``.  Reported: the growth of the process's
peak resident memory (``ru_maxrss``) during that one call, in units of n² doubles; the
extra is the build's growth minus the function's.

Why RSS and not tracemalloc: SciPy's ``sqrtm`` is a C routine whose buffers tracemalloc
does not see (it reports 0 n² for it), which would make every Jacobian look expensive
beside it.  The process's peak sees every allocator alike.  Before the call, each worker
makes the same call at n = 8 (imports, numba caches and LAPACK's first-call state are
not counted) and drops everything but A.

The build includes what ``kronvec.jacobian`` always does: its copy of A (1 n²), the
value f(A) and the factors the operator keeps (symmetric A: V and Γ; general sqrtm: the
Schur form of f(A); expm and logm: A and f(A), their Fréchet plans made on first use).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

FUNCTIONS = ("expm", "logm", "sqrtm")
KINDS = ("symmetric", "general")
TARGET = 4.0  # extra n² doubles


def _matrix(n, kind):
    import numpy as np

    rng = np.random.default_rng(0)
    G = rng.standard_normal((n, n)) / np.sqrt(n)
    if kind == "symmetric":
        return G @ G.T / 2 + np.eye(n)
    return 0.5 * G + 1.5 * np.eye(n)  # eigenvalues near 1.5 ± 0.5: real logarithm and square root


def worker(n, function, kind, mode):
    """Peak-RSS growth of one call, in n² doubles (printed)."""
    import scipy.linalg

    import kronvec
    import kronvec.scipy.linalg

    f = getattr(kronvec.scipy.linalg if mode == "kronvec" else scipy.linalg, function)
    call = (lambda A: kronvec.jacobian(f)(A)) if mode == "kronvec" else f
    A = _matrix(n, kind)
    call(A[:8, :8].copy())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = call(A)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del result
    print((after - before) * 1024 / (8 * n * n))  # (ru_maxrss is in KiB on Linux)


def _run(n, function, kind, mode):
    done = subprocess.run([sys.executable, __file__, "--worker", str(n), function, kind, mode],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{function} {kind} {mode}: worker failed\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="n = 200: a smoke run")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        n, function, kind, mode = args.worker
        worker(int(n), function, kind, mode)
        return 0
    n = 200 if args.quick else args.size
    print(f"Peak-RSS growth of one call, n² doubles (n = {n}); extra = Jacobian build − function alone; "
          f"target < {TARGET:g} n²\n")
    print("| function | A | function alone | Jacobian build | extra | target |\n|---|---|---:|---:|---:|---|")
    for function in FUNCTIONS:
        for kind in KINDS:
            alone, build = _run(n, function, kind, "scipy"), _run(n, function, kind, "kronvec")
            extra = build - alone
            print(f"| {function} | {kind} | {alone:.2f} | {build:.2f} | {extra:.2f} | "
                  f"< {TARGET:g} {'✓' if extra < TARGET else '✗'} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
