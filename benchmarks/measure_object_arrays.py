"""What ``np.array([...])`` of traced values costs against ``np.stack`` (issue 12).

    python benchmarks/measure_object_arrays.py [--rounds 15]

``np.array`` of traced values is an object array of traced entries
(notes/derivatives.md §29): each entry is recorded, NumPy's object loops
compute entry by entry, and the array is lifted into one recorded value where
it meets kronvec.  ``np.stack`` of the same pieces is one recorded operation.
Timed side by side (round robin, medians) in one worker process per thread
setting (default threads, and every pool pinned to one thread), at n = 2, 16, 64
for an n×n input X:

* rows: ``np.array([X[0], 2X[-1]])`` vs ``np.stack([X[0], 2X[-1]])`` (2n entries),
  as ``value_and_grad`` of ``Σ W∘A`` (object loops) and as the structured
  ``jacobian`` of the array itself (lifted: the rows come back as themselves);
* scalars: ``np.array([X₀₀X₁₁, X₀₁])`` vs ``np.stack([…])`` in ``value_and_grad``.

Prints one line per (threads, n, case) with the medians and the ratio, and the
machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

MARKER = "ROW "


def _cases(n):
    import numpy as np

    X = np.random.default_rng(12).uniform(-1.0, 1.0, (n, n))
    W = np.random.default_rng(13).standard_normal((2, n))
    w = np.random.default_rng(14).standard_normal(2)
    rows = {"np.array": lambda Z: np.array([Z[0], 2.0 * Z[-1]]),
            "np.stack": lambda Z: np.stack([Z[0], 2.0 * Z[-1]])}
    scalars = {"np.array": lambda Z: np.array([Z[0, 0] * Z[1, 1], Z[0, 1]]),
               "np.stack": lambda Z: np.stack([Z[0, 0] * Z[1, 1], Z[0, 1]])}
    return X, {
        "rows, value_and_grad of sum(W*A)": {k: (lambda f: lambda Z: np.sum(W * f(Z)))(f) for k, f in rows.items()},
        "rows, jacobian of A": rows,
        "scalars, value_and_grad of sum(w*A)": {k: (lambda f: lambda Z: np.sum(w * f(Z)))(f)
                                               for k, f in scalars.items()},
    }


def worker(setting, rounds):
    import kronvec
    from _timing import median_seconds

    for n in (2, 16, 64):
        X, cases = _cases(n)
        for case, spellings in cases.items():
            transform = kronvec.jacobian if case.startswith("rows, jacobian") else kronvec.value_and_grad
            calls = [(name, (lambda g: lambda: g(X))(transform(f))) for name, f in spellings.items()]
            medians = median_seconds(calls, rounds)
            print(MARKER + json.dumps({"n": n, "case": case, **medians,
                                       "load": os.getloadavg()[0]}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--worker", choices=("default", "pinned"))
    args = parser.parse_args()
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    if args.worker:
        worker(args.worker, args.rounds)
        return 0
    from _timing import rows_from_workers

    rows, status = rows_from_workers(pathlib.Path(__file__).resolve(), ["--rounds", str(args.rounds)],
                                     MARKER, timeout=1800)
    print(f"{'threads':8} {'n':>3}  {'case':38} {'np.array':>10} {'np.stack':>10} {'ratio':>6} {'load':>5}")
    for row in rows:
        print(f"{row['threads']:8} {row['n']:>3}  {row['case']:38} {row['np.array'] * 1e6:8.1f}µs "
              f"{row['np.stack'] * 1e6:8.1f}µs {row['np.array'] / row['np.stack']:6.2f} {row['load']:5.2f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
