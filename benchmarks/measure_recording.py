"""Recording cost at n = 2: each operation's value_and_grad, now and before.

    python benchmarks/measure_recording.py [--before REV] [--rounds 31]

At n = 2 the arithmetic is nothing and a call of ``kronvec.value_and_grad``
is all recording and reverse sweep.  Issue 12 asks that (a) the operations
kronvec had at ``--before`` (default b0fa435, the commit the issue was filed
against) cost no more than 1.2× what they cost then, and (b) the new
elementwise and indexing operations cost no more than ``add``.

Both versions run in this one process: the package at ``--before`` is
exported with ``git archive`` into a temporary directory under the name
``kronvec_before`` (kronvec imports itself only relatively), and the two
are timed round-robin — one ~20 ms batch of each per round, the starting
one rotating — so that load on the machine falls on both alike.  At n = 2
no BLAS thread starts, so thread settings do not change these figures.
Reported: the median per-call time of each and the ratios.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

from _timing import Contender, round_robin  # noqa: E402 (benchmarks/ is the script's folder)

ROOT = pathlib.Path(__file__).resolve().parents[1]

# operations kronvec had before issue 12 (name: objective of a 2×2 X)
EXISTING = {
    "add": lambda X: np.sum(X + X),
    "multiply": lambda X: np.sum(X * X),
    "divide": lambda X: np.sum(X / (X * X + 1.0)),
    "power": lambda X: np.sum(X ** 3),
    "exp": lambda X: np.sum(np.exp(X)),
    "log": lambda X: np.sum(np.log(X * X + 1.0)),
    "sin": lambda X: np.sum(np.sin(X)),
    "tanh": lambda X: np.sum(np.tanh(X)),
    "sqrt": lambda X: np.sum(np.sqrt(X * X + 1.0)),
    "matmul": lambda X: np.sum(X @ X),
    "transpose": lambda X: np.sum(X.T * X),
    "trace": lambda X: np.trace(X @ X),
    "sum(axis=0)": lambda X: np.sum(np.sum(X, axis=0) ** 2),
    "inv": lambda X: np.sum(np.linalg.inv(X)),
    "solve": lambda X: np.sum(np.linalg.solve(X, X.T)),
    "slogdet": lambda X: np.linalg.slogdet(X)[1],
    "det": lambda X: np.linalg.det(X),
}

# new in issue 12: elementwise and indexing front doors, one operation each
# inside the same np.sum as add's (target: ≤ add); constants made beforehand
_MASK = np.array([[True, False], [False, True]])
_OTHER = np.array([[0.5, -1.0], [2.0, 0.25]])
NEW = {
    "log1p": lambda X: np.sum(np.log1p(X)),
    "sinh": lambda X: np.sum(np.sinh(X)),
    "arctan": lambda X: np.sum(np.arctan(X)),
    "maximum": lambda X: np.sum(np.maximum(X, 0.0)),
    "clip": lambda X: np.sum(np.clip(X, -0.5, 0.5)),
    "where": lambda X: np.sum(np.where(_MASK, X, _OTHER)),
    "X[::-1]": lambda X: np.sum(X[::-1]),
    "X[0]": lambda X: np.sum(X[0]),
    "np.flip": lambda X: np.sum(np.flip(X)),
    "np.roll": lambda X: np.sum(np.roll(X, 1)),
    "np.triu": lambda X: np.sum(np.triu(X)),
    "np.sort": lambda X: np.sum(np.sort(X)),
    "X.max()": lambda X: X.max(),
    "np.concatenate": lambda X: np.sum(np.concatenate([X, _OTHER])),
}


def _export(revision, into):
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "kronvec"],
                             check=True, capture_output=True).stdout
    path = pathlib.Path(into) / "archive.tar"
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    shutil.move(str(pathlib.Path(into) / "kronvec"), str(pathlib.Path(into) / "kronvec_before"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="b0fa435")
    parser.add_argument("--rounds", type=int, default=31)
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import kronvec

    X = np.array([[1.3, 0.4], [-0.2, 0.9]])
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}; median of {options.rounds} rounds, µs per call of value_and_grad at n = 2")
    with tempfile.TemporaryDirectory() as temporary:
        _export(options.before, temporary)
        sys.path.insert(0, temporary)
        before = importlib.import_module("kronvec_before")
        print(f"\n## existing operations: now vs {options.before} (target ≤ 1.2×)")
        print(f"{'operation':<16}{'before':>10}{'now':>10}{'now/before':>12}")
        for name, f in EXISTING.items():
            old, new = Contender(lambda: before.value_and_grad(f)(X)), Contender(lambda: kronvec.value_and_grad(f)(X))
            round_robin([old, new], options.rounds)
            a, b = statistics.median(old.samples) * 1e6, statistics.median(new.samples) * 1e6
            print(f"{name:<16}{a:>10.1f}{b:>10.1f}{b / a:>11.2f}×{'' if b / a <= 1.2 else '  ✗'}")
    print("\n## new elementwise and indexing operations vs add (np.sum(X + C)), now (target ≤ 1×)")
    print(f"{'operation':<16}{'add':>10}{'op':>10}{'op/add':>12}")
    for name, f in NEW.items():
        add, op = Contender(lambda: kronvec.value_and_grad(lambda X: np.sum(X + _OTHER))(X)), Contender(lambda: kronvec.value_and_grad(f)(X))
        round_robin([add, op], options.rounds)
        a, b = statistics.median(add.samples) * 1e6, statistics.median(op.samples) * 1e6
        print(f"{name:<16}{a:>10.1f}{b:>10.1f}{b / a:>11.2f}×")


if __name__ == "__main__":
    main()
