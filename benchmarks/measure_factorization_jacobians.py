"""Dense Jacobians of factorizations against JAX and PyTorch (issue 13), side by side
in one process, one BLAS thread unless --default-threads:

    python benchmarks/measure_factorization_jacobians.py [--size 32] [--rounds 7]

For f = cholesky and f = eigh's eigenvectors at a symmetric positive definite
A (n = 32, seeded): ``kronvec.jacobian(f)(A).toarray()`` (numerator layout,
n² × n²), ``jax.jit(jax.jacfwd(f))`` and ``torch.func.jacfwd(f)`` (their
(n, n, n, n) arrays, timed as they come; the layout change to compare them is not
timed).  Before timing, each Jacobian applied to a random *symmetric* direction
E must agree with kronvec's (J vec E) to 1e-8 relative: every framework
differentiates along symmetric directions at a symmetric input, and eigenvector
signs are those of each library's eigh (compared as |·| of the columns, which the
derivative's sign follows).  Target: kronvec ≥ 10× faster than each.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--default-threads", action="store_true")
    args = parser.parse_args(argv)
    if not args.default_threads:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = "1"
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import numpy as np

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import kronvec
    from _timing import median_seconds

    n = args.size
    rng = np.random.default_rng(13)
    B = rng.standard_normal((n, n))
    A = B @ B.T / n + np.eye(n) + np.diag(np.linspace(0.0, 1.0, n))  # distinct eigenvalues
    E = rng.standard_normal((n, n))
    E = E + E.T

    def as_numerator(J4):  # (n, n, n, n) ∂F[i, j]/∂A[k, l] → J[i + j n, k + l n]
        return np.asarray(J4).transpose(1, 0, 3, 2).reshape(n * n, n * n)

    functions = {
        "cholesky": (np.linalg.cholesky, "cholesky"),
        "eigh eigenvectors": (lambda X: np.linalg.eigh(X)[1], "eigh"),
    }
    contenders_available = {}
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        contenders_available["jax"] = (jax, jnp)
    except ImportError:
        print("jax not installed: skipped")
    try:
        import torch

        torch.set_num_threads(1 if not args.default_threads else torch.get_num_threads())
        contenders_available["torch"] = torch
    except ImportError:
        print("torch not installed: skipped")

    print(f"n = {n}, {'default' if args.default_threads else 'one'} BLAS thread(s), {args.rounds} rounds")
    print("| Jacobian | kronvec | jax.jit(jax.jacfwd) | torch.func.jacfwd | jax/kronvec | torch/kronvec |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (f, which) in functions.items():
        kronvec_dense = kronvec.jacobian(f)(A).toarray()
        reference = kronvec_dense @ E.reshape(-1, order="F")
        calls = [("kronvec", lambda: kronvec.jacobian(f)(A).toarray())]
        if "jax" in contenders_available:
            jax, jnp = contenders_available["jax"]
            jf = (jnp.linalg.cholesky if which == "cholesky" else (lambda X: jnp.linalg.eigh(X)[1]))
            jac = jax.jit(jax.jacfwd(jf))
            Aj = jnp.asarray(A)
            got = as_numerator(jac(Aj)) @ E.reshape(-1, order="F")
            _agree(got, reference, n, which, f"jax {label}")
            calls.append(("jax", lambda: jac(Aj).block_until_ready()))
        if "torch" in contenders_available:
            torch = contenders_available["torch"]
            tf = (torch.linalg.cholesky if which == "cholesky" else (lambda X: torch.linalg.eigh(X)[1]))
            At = torch.tensor(A)
            tjac = torch.func.jacfwd(tf)
            got = as_numerator(tjac(At).numpy()) @ E.reshape(-1, order="F")
            _agree(got, reference, n, which, f"torch {label}")
            calls.append(("torch", lambda: tjac(At)))
        times = median_seconds(calls, args.rounds)
        k = times["kronvec"]
        row = [f"{k * 1e3:.2f} ms"]
        row += [f"{times[c] * 1e3:.2f} ms" if c in times else "—" for c in ("jax", "torch")]
        row += [f"{times[c] / k:.1f}×" if c in times else "—" for c in ("jax", "torch")]
        print(f"| {label} | " + " | ".join(row) + " |")


def _agree(got, reference, n, which, what):
    import numpy as np

    got, reference = got.reshape(n, n, order="F"), reference.reshape(n, n, order="F")
    if which == "eigh":  # eigenvector signs are each library's choice: compare magnitudes
        got, reference = np.abs(got), np.abs(reference)
    error = np.abs(got - reference).max() / np.abs(reference).max()
    if not error < 1e-8:
        raise SystemExit(f"{what}: J·vec(E) differs from kronvec's by {error:.1e} (relative)")


if __name__ == "__main__":
    main()
