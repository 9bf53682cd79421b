"""expm_frechet, cosm/sinm/tanm, coshm/sinhm/tanhm (kronvec.scipy.linalg, built on expm):
side by side with SciPy in one process, with default and with one BLAS thread.

    python benchmarks/measure_exponential_family.py [--sizes 32 128 256] [--rounds 7] [--quick]

For each function and size, medians over rounds (one ~20 ms batch of each contender per
round, the starting contender rotating, ``_timing.py``):

* ``scipy``: SciPy's function on the plain matrix;
* ``kronvec``: kronvec's on the plain matrix (cos/sin/tan: one real exponential of order
  2n, where SciPy takes one complex exponential of order n);
* ``grad``: ``kronvec.grad`` of Σ W∘f(A) (value and one reverse sweep);
* ``matvec``: one product with ``kronvec.jacobian(f)(A)`` (built once, outside the timing).

No target: the figures say what the real 2n×2n route costs against SciPy's complex one,
and what a derivative costs against the value.
"""

from __future__ import annotations

import argparse
import json
import sys

from _timing import median_seconds, rows_from_workers  # (benchmarks/, the script's folder)

MARKER = "@@expfamily "
FUNCTIONS = ("expm_frechet", "cosm", "sinm", "tanm", "coshm", "sinhm", "tanhm")


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="n = 8 and 3 rounds: a smoke run")
    parser.add_argument("--worker", choices=("default", "pinned"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds = [8], 3
    return args


def worker(args):
    import numpy as np
    import scipy.linalg as sl

    import kronvec
    from kronvec.scipy import linalg as kl

    for n in args.sizes:
        generator = np.random.default_rng([35, n])
        A = generator.standard_normal((n, n)) / np.sqrt(n)
        E, W = generator.standard_normal((n, n)), generator.standard_normal((n, n))
        v = generator.standard_normal(n * n)
        for name in FUNCTIONS:
            if name == "expm_frechet":
                ours = lambda X: kl.expm_frechet(X, E, compute_expm=False)  # noqa: E731
                theirs = lambda X: sl.expm_frechet(X, E, compute_expm=False)  # noqa: E731
            else:
                ours, theirs = getattr(kl, name), getattr(sl, name)
            grad = kronvec.grad(lambda X: np.sum(W * ours(X)))
            J = kronvec.jacobian(ours)(A)
            times = median_seconds([("scipy", lambda: theirs(A)), ("kronvec", lambda: ours(A)),
                                    ("grad", lambda: grad(A)), ("matvec", lambda: J.matvec(v))], args.rounds)
            print(MARKER + json.dumps({"function": name, "n": n, **times}), flush=True)


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.worker:
        worker(args)
        return 0
    forwarded = ["--sizes", *map(str, args.sizes), "--rounds", str(args.rounds)]
    rows, status = rows_from_workers(__file__, forwarded, MARKER, timeout=3600)
    print("| function | n | threads | SciPy | kronvec | kronvec/SciPy | grad | grad/value | Jacobian matvec |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: (FUNCTIONS.index(r["function"]), r["n"], r["threads"])):
        print(f"| {row['function']} | {row['n']} | {row['threads']} | {row['scipy'] * 1e3:.3g} ms | "
              f"{row['kronvec'] * 1e3:.3g} ms | {row['kronvec'] / row['scipy']:.2f}× | {row['grad'] * 1e3:.3g} ms | "
              f"{row['grad'] / row['kronvec']:.2f}× | {row['matvec'] * 1e3:.3g} ms |")
    return status


if __name__ == "__main__":
    sys.exit(main())
