"""ln|A| through kronvec.scipy.linalg.cho_factor against the hand-written closed form,
side by side in one process, with default and with one BLAS thread (issue 13).

    python benchmarks/measure_scipy_linalg.py [--sizes 256 1024] [--rounds 11]

Contenders, each checked against the closed form first, then timed round-robin
(``benchmarks/_timing.py``: one ~20 ms batch of each per round, the starting one
rotating) and reported as medians over rounds:

* ``closed form``: SciPy's ``cho_factor`` + ``cho_solve`` of I (∇ = A⁻¹);
* ``kronvec.scipy.linalg.cho_factor``: ``kronvec.value_and_grad`` of
  2 Σ ln diag(c), (c, lower) = cho_factor(A) (SciPy's default, the upper factor);
* ``np.linalg.cholesky``: the same through NumPy's spelling (the lower factor).

Each thread setting runs in a process of its own (``--worker``), so the BLAS
variables take effect before NumPy loads: ``default`` leaves them unset,
``pinned`` sets them to 1.  Exit status 1 when a contender is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
MARKER = "@@scipy_linalg "


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--worker", choices=("default", "pinned"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args):
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    import numpy as np
    import scipy.linalg

    import kronvec
    import kronvec.scipy.linalg as kl
    from _timing import Contender, round_robin

    status = 0
    for n in args.sizes:
        B = np.random.default_rng(n).standard_normal((n, n))
        A = B @ B.T / n + np.eye(n)
        identity = np.eye(n)

        def closed_form():
            factor = scipy.linalg.cho_factor(A)
            return 2.0 * np.sum(np.log(np.diagonal(factor[0]))), scipy.linalg.cho_solve(factor, identity)

        through_scipy = kronvec.value_and_grad(lambda A: 2.0 * np.sum(np.log(np.diagonal(kl.cho_factor(A)[0]))))
        through_numpy = kronvec.value_and_grad(lambda A: 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(A)))))
        want = closed_form()
        contenders = [Contender(closed_form, "closed form"),
                      Contender(lambda: through_scipy(A), "kronvec.scipy.linalg.cho_factor"),
                      Contender(lambda: through_numpy(A), "np.linalg.cholesky")]
        for contender in contenders[1:]:
            value, gradient = contender.call()
            error = abs(value - want[0]) / abs(want[0]) + np.max(np.abs(gradient - want[1])) / np.max(np.abs(want[1]))
            if error > 1e-8:
                print(f"WRONG: {contender.name} at n = {n}: relative error {error:.3g}")
                status = 1
        round_robin(contenders, args.rounds)
        floor = statistics.median(contenders[0].samples)
        for contender in contenders:
            median = statistics.median(contender.samples)
            print(MARKER + json.dumps({"threads": args.worker, "n": n, "contender": contender.name,
                                       "median_ms": median * 1e3, "ratio": median / floor}), flush=True)
    return status


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.worker:
        return worker(args)
    status = 0
    print("| threads | n | contender | median (ms) | × closed form |\n|---|---|---|---|---|")
    for config in ("pinned", "default"):
        env = dict(os.environ)
        for variable in THREAD_VARIABLES:
            env.pop(variable, None)
            if config == "pinned":
                env[variable] = "1"
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        done = subprocess.run([sys.executable, __file__, "--worker", config, "--sizes", *map(str, args.sizes),
                               "--rounds", str(args.rounds)], env=env, capture_output=True, text=True)
        status |= done.returncode
        for line in done.stdout.splitlines():
            if line.startswith(MARKER):
                row = json.loads(line[len(MARKER):])
                print(f"| {row['threads']} | {row['n']} | {row['contender']} | {row['median_ms']:.2f} | "
                      f"{row['ratio']:.2f} |")
            else:
                print(line)
        if done.returncode and done.stderr:
            print(done.stderr[-2000:])
    return status


if __name__ == "__main__":
    sys.exit(main())
