"""Dense Jacobians of factorizations against JAX and PyTorch (issue 13), side by side
in one process, with default and with one thread:

    python benchmarks/measure_factorization_jacobians.py [--sizes 32] [--rounds 11] [--quick]

For f = cholesky and f = eigh's eigenvectors at a symmetric positive definite
A (seeded, distinct eigenvalues): ``kronvec.jacobian(f)(A).toarray()``
(numerator layout, n² × n², written directly by
``kronvec/operators/_outer_rows.py``), ``jax.jit(jax.jacfwd(f))`` and
``torch.func.jacfwd(f)`` (their (n, n, n, n) arrays, timed as they come; the
layout change to compare them is not timed).  For reference, two more kronvec
columns: the same operator applied to the identity (``J.matmat(I)``, the
generic materialization every Product had before) and ``J.tosparse()``.

Before timing, the direct assembly must equal the generic path to 1e-12
relative, and each framework's Jacobian applied to a random *symmetric*
direction E must agree with kronvec's (J vec E) to 1e-8 relative: every
framework differentiates along symmetric directions at a symmetric input, and
eigenvector signs are those of each library's eigh (compared as |·| of the
columns, which the derivative's sign follows).  Timing is round-robin (one
~20 ms batch of each contender per round, the starting one rotating), reported
as medians over rounds.  Target: kronvec ≥ 10× faster than each at n = 32.

``--settle S`` (default 0.25 s) sleeps before every batch.  With default threads
PyTorch's intra-op worker threads spin on after its batch (measured: ~80 ms of
another thread's CPU per 300 ms of the next contender's batch, none with
``torch.set_num_threads(1)``), and the rotation always puts the same contender
— kronvec's first row — right after PyTorch's: without the pause that row
measures PyTorch's threads (2.4–3.0 ms against 1.2–1.4 ms alone).  The pause
applies to every contender alike; ``--settle 0`` shows the figures without it.
After the sleep this VM runs slowly for ~20 ms, which a batch of ~1 ms calls feels
more than a batch of two ~10 ms ones: ``--warm W`` (default 0) makes W seconds of
untimed calls of the contender itself after its sleep, so that every contender is
timed in its steady state (measured at stop 28, W = 0.05: kronvec's eigh Jacobian
1.1 ms instead of 2.3–2.5 ms, and JAX's and PyTorch's faster too, with default threads
down to ~6.5 ms, their second thread warm).

Each thread setting runs in a Python process of its own (this script with
``--worker``): ``default`` leaves the thread variables unset, ``pinned`` sets
OPENBLAS/OMP/MKL/NUMBA_NUM_THREADS to 1, XLA's CPU client to one thread and
``torch.set_num_threads(1)``.  The exit status is 1 only when a contender
gives a wrong answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from _timing import median_seconds, rows_from_workers  # (benchmarks/, the script's folder)

ROOT = Path(__file__).resolve().parents[1]
MARKER = "@@factorization-jacobians "
CONTENDERS = ("kronvec", "jax", "torch", "kronvec matmat(I)", "kronvec tosparse")


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--settle", type=float, default=0.25,
                        help="seconds of sleep before each batch (see the module docstring)")
    parser.add_argument("--warm", type=float, default=0.0,
                        help="seconds of untimed calls of each contender after its sleep (see the module docstring)")
    parser.add_argument("--quick", action="store_true", help="n = 8 and 3 rounds: a smoke run")
    parser.add_argument("--worker", choices=("default", "pinned"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds = [8], 3
    return args


# ------------------------------------------------------------------- worker
def worker(args):
    if args.worker == "pinned":
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import kronvec

    frameworks = {}
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        frameworks["jax"] = (jax, jnp)
    except ImportError:
        print("jax not installed: skipped", file=sys.stderr)
    try:
        import torch

        if args.worker == "pinned":
            torch.set_num_threads(1)
        frameworks["torch"] = torch
    except ImportError:
        print("torch not installed: skipped", file=sys.stderr)

    functions = {
        "cholesky": (np.linalg.cholesky, "cholesky"),
        "eigh eigenvectors": (lambda X: np.linalg.eigh(X)[1], "eigh"),
    }
    for n in args.sizes:
        rng = np.random.default_rng(13)
        B = rng.standard_normal((n, n))
        A = B @ B.T / n + np.eye(n) + np.diag(np.linspace(0.0, 1.0, n))  # distinct eigenvalues
        E = rng.standard_normal((n, n))
        E = E + E.T
        identity = np.eye(n * n)

        def as_numerator(J4):  # (n, n, n, n) ∂F[i, j]/∂A[k, l] → J[i + j n, k + l n]
            return np.asarray(J4).transpose(1, 0, 3, 2).reshape(n * n, n * n)

        for label, (f, which) in functions.items():
            J = kronvec.jacobian(f)(A)
            dense = J.toarray()
            generic = J.matmat(identity)
            error = np.abs(dense - generic).max() / np.abs(generic).max()
            if not error <= 1e-12:
                raise SystemExit(f"kronvec {label}: toarray differs from matmat(I) by {error:.1e} (relative)")
            reference = dense @ E.reshape(-1, order="F")
            calls = [("kronvec", lambda: kronvec.jacobian(f)(A).toarray()),
                     ("kronvec matmat(I)", lambda: kronvec.jacobian(f)(A).matmat(identity)),
                     ("kronvec tosparse", lambda: kronvec.jacobian(f)(A).tosparse())]
            if "jax" in frameworks:
                jax, jnp = frameworks["jax"]
                jf = jnp.linalg.cholesky if which == "cholesky" else (lambda X: jnp.linalg.eigh(X)[1])
                jac = jax.jit(jax.jacfwd(jf))
                Aj = jnp.asarray(A)
                _agree(as_numerator(jac(Aj)) @ E.reshape(-1, order="F"), reference, n, which, f"jax {label}")
                calls.append(("jax", lambda: jac(Aj).block_until_ready()))
            if "torch" in frameworks:
                torch = frameworks["torch"]
                tf = torch.linalg.cholesky if which == "cholesky" else (lambda X: torch.linalg.eigh(X)[1])
                At = torch.tensor(A)
                tjac = torch.func.jacfwd(tf)
                _agree(as_numerator(tjac(At).numpy()) @ E.reshape(-1, order="F"), reference, n, which,
                       f"torch {label}")
                calls.append(("torch", lambda: tjac(At)))
            times = median_seconds(calls, args.rounds, args.settle, args.warm)
            print(MARKER + json.dumps(dict(what=label, n=n, load=os.getloadavg()[0], **times)), flush=True)


def _agree(got, reference, n, which, what):
    import numpy as np

    got, reference = got.reshape(n, n, order="F"), reference.reshape(n, n, order="F")
    if which == "eigh":  # eigenvector signs are each library's choice: compare magnitudes
        got, reference = np.abs(got), np.abs(reference)
    error = np.abs(got - reference).max() / np.abs(reference).max()
    if not error < 1e-8:
        raise SystemExit(f"{what}: J·vec(E) differs from kronvec's by {error:.1e} (relative)")


# ------------------------------------------------------------------- parent
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    if args.worker:
        worker(args)
        return 0
    forwarded = [a for a in argv if a != "--quick"]
    if args.quick:
        forwarded += ["--sizes", "8", "--rounds", "3"]
    rows, status = rows_from_workers(__file__, forwarded, MARKER, timeout=3600)
    print("| Jacobian | n | threads | load | " + " | ".join(CONTENDERS) + " | jax/kronvec | torch/kronvec |")
    print("|---|---:|---|---:|" + "---:|" * (len(CONTENDERS) + 2))
    for row in rows:
        k = row["kronvec"]
        cells = [f"{row[c] * 1e3:.2f} ms" if c in row else "—" for c in CONTENDERS]
        cells += [f"{row[c] / k:.1f}×" + (" ✓" if row[c] / k >= 10 else " ✗") if c in row else "—"
                  for c in ("jax", "torch")]
        print(f"| {row['what']} | {row['n']} | {row['threads']} | {row['load']:.2f} | " + " | ".join(cells) + " |")
    return status


if __name__ == "__main__":
    sys.exit(main())
