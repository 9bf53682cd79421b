"""Dense Jacobians of expm, logm and a fractional power at a general (non-symmetric) A:
the batched Fréchet derivatives of notes/derivatives.md §43 against the per-column path
they replaced and against JAX, side by side in one process, with default and with one
thread:

    python benchmarks/measure_frechet_batched.py [--sizes 32] [--build-size 200] [--rounds 7]
        [--skip-before] [--quick]

Rows (medians over rounds, one ~20 ms batch of each contender per round, the starting
one rotating; ``_timing.round_robin``):

* ``jacobian(f)(A).toarray()`` for f = expm (A = 0.5·G/√n, ‖A‖₁ ≈ 2–3: Padé degree 13,
  s = 0), expm of 8·that (s = 3), logm and A^0.3 (A = 2I + 0.5·G/√n): a new Jacobian per
  call, so the plan is built inside the timing.  ``before``: the same operator applied one
  direction at a time (``benchmarks/benchmarks/matrix_functions.py:per_column``: SciPy's
  ``expm_frechet`` per column, or SciPy's logm / fractional_matrix_power of the 2n×2n block
  matrix).  ``jax``: ``jax.jit(jax.jacfwd(jax.scipy.linalg.expm))`` (JAX has no logm or
  fractional power), its (n, n, n, n) array as it comes, when JAX imports.
* ``J.matmat(X)`` with 64 columns at n = 64: the batched apply outside ``toarray``.
* Building ``jacobian(expm)(A)`` at n = ``--build-size`` against ``scipy.linalg.expm(A)``:
  the plan is made on the first many-column apply, so building costs one expm (the value)
  plus the operator's copy of A: target ≤ 1.1×.

Before timing, each contender's answer is checked: the batched toarray against the
per-column one (1e-12 for expm, 1e-10 for logm and the power: SciPy's logm and Schur–Padé
at order 2n agree with the eigendecomposition to ~1e-13 here), and JAX's Jacobian applied
to a random direction against kronvec's (1e-10).  The exit status is 1 when an answer is
wrong or a worker fails.

Each thread setting runs in a Python process of its own (this script with ``--worker``):
``default`` leaves the thread variables unset, ``pinned`` sets OPENBLAS/OMP/MKL/NUMBA
_NUM_THREADS to 1 and XLA's CPU client to one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from _timing import median_seconds, rows_from_workers  # (benchmarks/, the script's folder)

ROOT = Path(__file__).resolve().parents[1]
MARKER = "@@frechet-batched "
CONTENDERS = ("kronvec", "before", "jax")


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--build-size", type=int, default=200)
    parser.add_argument("--matmat-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--skip-before", action="store_true",
                        help="no per-column rows for logm and the power (≈ 6–11 s a call at n = 32)")
    parser.add_argument("--quick", action="store_true", help="n = 8, build at n = 32, 3 rounds: a smoke run")
    parser.add_argument("--worker", choices=("default", "pinned"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.build_size, args.matmat_size, args.rounds = [8], 32, 8, 3
    return args


# ------------------------------------------------------------------- worker
def _check(got, expected, tolerance, what):
    import numpy as np

    error = float(np.abs(got - expected).max() / np.abs(expected).max())
    if not error <= tolerance:
        raise SystemExit(f"{what}: differs from the reference by {error:.1e} (relative)")


def worker(args):
    if args.worker == "pinned":
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import numpy as np
    import scipy.linalg

    sys.path.insert(0, str(ROOT))
    import kronvec
    from kronvec.ops.matrix_functions import fractional_power
    from kronvec.scipy import linalg as kl

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchmarks.matrix_functions import per_column

    try:
        import jax
        import jax.numpy as jnp
        import jax.scipy.linalg as jsl

        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
        print("jax not installed: skipped", file=sys.stderr)

    def emit(**row):
        print(MARKER + json.dumps(dict(load=os.getloadavg()[0], **row)), flush=True)

    functions = {
        "expm": (kl.expm, 0.0, 1.0),
        "expm, 8× (s = 3)": (kl.expm, 0.0, 8.0),
        "logm": (kl.logm, 2.0, 1.0),
        "A^0.3": (lambda X: fractional_power(X, t=0.3), 2.0, 1.0),
    }
    for n in args.sizes:
        for label, (f, shift, scale) in functions.items():
            generator = np.random.default_rng(n)
            A = shift * np.eye(n) + scale * 0.5 * generator.standard_normal((n, n)) / np.sqrt(n)
            dense = kronvec.jacobian(f)(A).toarray()
            calls = [("kronvec", lambda: kronvec.jacobian(f)(A).toarray())]
            slow = label in ("logm", "A^0.3")
            if not (slow and args.skip_before):
                _check(dense, per_column(kronvec.jacobian(f)(A)).toarray(), 1e-10 if slow else 1e-12, f"{label}, n = {n}")
                calls.append(("before", lambda: per_column(kronvec.jacobian(f)(A)).toarray()))
            if jax is not None and label.startswith("expm"):
                jac = jax.jit(jax.jacfwd(jsl.expm))
                Aj = jnp.asarray(A)
                E = generator.standard_normal((n, n))
                # (n, n, n, n) ∂F[i, j]/∂A[k, l], contracted with E: J vec E, unvec'd
                got = np.einsum("ijkl,kl->ij", np.asarray(jac(Aj)), E)
                _check(got, (dense @ E.reshape(-1, order="F")).reshape(n, n, order="F"), 1e-10, f"jax {label}")
                calls.append(("jax", lambda: jac(Aj).block_until_ready()))
            rounds = max(3, args.rounds // 2) if slow else args.rounds
            emit(what=f"jacobian({label}).toarray()", n=n, **median_seconds(calls, rounds))

    n = args.matmat_size
    A = 0.5 * np.random.default_rng(n).standard_normal((n, n)) / np.sqrt(n)
    X = np.random.default_rng(n + 1).standard_normal((n * n, 64))
    J = kronvec.jacobian(kl.expm)(A)
    _check(J.matmat(X), per_column(J).matmat(X), 1e-12, "matmat")
    emit(what="jacobian(expm) matmat, 64 columns", n=n, **median_seconds(
        [("kronvec", lambda: kronvec.jacobian(kl.expm)(A).matmat(X)),
         ("before", lambda: per_column(kronvec.jacobian(kl.expm)(A)).matmat(X))], args.rounds))

    n = args.build_size
    A = 0.5 * np.random.default_rng(n).standard_normal((n, n)) / np.sqrt(n)
    times = median_seconds([("kronvec", lambda: kronvec.jacobian(kl.expm)(A)),
                            ("reference", lambda: scipy.linalg.expm(A))], args.rounds)
    emit(what="build jacobian(expm)(A) vs scipy.linalg.expm(A)", n=n, build=True, **times)


# ------------------------------------------------------------------- parent
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    if args.worker:
        worker(args)
        return 0
    forwarded = [a for a in argv if a != "--quick"]
    if args.quick:
        forwarded += ["--sizes", "8", "--build-size", "32", "--matmat-size", "8", "--rounds", "3"]
    rows, status = rows_from_workers(__file__, forwarded, MARKER, timeout=7200)
    print("| measurement | n | threads | load | kronvec | before | jax | before/kronvec | jax/kronvec |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    builds = []
    for row in rows:
        if row.get("build"):
            builds.append(row)
            continue
        k = row["kronvec"]
        cells = [f"{row[c] * 1e3:.1f} ms" if c in row else "—" for c in CONTENDERS]
        cells += [f"{row[c] / k:.1f}×" if c in row else "—" for c in ("before", "jax")]
        print(f"| {row['what']} | {row['n']} | {row['threads']} | {row['load']:.2f} | " + " | ".join(cells) + " |")
    if builds:
        print()
        print("| build | n | threads | load | jacobian(expm)(A) | scipy.linalg.expm(A) | ratio | target |")
        print("|---|---:|---|---:|---:|---:|---:|---|")
        for row in builds:
            ratio = row["kronvec"] / row["reference"]
            print(f"| {row['what']} | {row['n']} | {row['threads']} | {row['load']:.2f} | "
                  f"{row['kronvec'] * 1e3:.2f} ms | {row['reference'] * 1e3:.2f} ms | {ratio:.2f} | "
                  f"≤ 1.1 {'✓' if ratio <= 1.1 else '✗'} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
