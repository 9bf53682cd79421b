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

``--callgrind``: instead of (``--callgrind only``) or as well as (``--callgrind
also``) the timings, the same comparisons in instructions per call, counted by
valgrind's callgrind, which no load on the machine changes (the timings' noise
is ±15 % on a shared 2-core machine).  Each version runs in one worker process
under ``valgrind --tool=callgrind`` with instrumentation off while it imports
and warms every operation up; the worker then switches it on
(``callgrind_control -i on``) and runs each operation in two ``exec`` loops, a
short and a long one, each dumped by callgrind on leaving ``exec``; (long −
short) / (difference in calls) is the per-call count, the cost of the loop
and of ``exec`` itself cancelling out (string hashing seeded, so
that dictionaries collide alike from run to run).  The row "ln|S|+tr(S⁻¹C) n=4" is issue
11's objective (``measure_gradient.py``) at n = 4.  Needs valgrind
(``--valgrind PATH``) and a real interpreter binary (``--python PATH``; a pyenv
shim would be what valgrind measures).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import platform
import re
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


#: The new operations a NumPy ufunc call records (np.log1p(X), np.maximum(X, 0.0)): NumPy's
#: __array_ufunc__ override reaches them, where X + C reaches Traced.__add__ directly.
UFUNC_CALLED = ("log1p", "sinh", "arctan", "maximum", "np.add(X, C)")


def _export(revision, into):
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "kronvec"],
                             check=True, capture_output=True).stdout
    path = pathlib.Path(into) / "archive.tar"
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    shutil.move(str(pathlib.Path(into) / "kronvec"), str(pathlib.Path(into) / "kronvec_before"))


def _issue11_objective():
    """S ↦ ln|S| + tr(S⁻¹C) and its S at n = 4, as measure_gradient.py builds them."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    S, C = A @ A.T + 4 * np.eye(4), B @ B.T + np.eye(4)
    return (lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C)), S


#: The calls of the two exec loops per operation (the short one cancels the fixed costs).
_SHORT, _LONG = 10, 110


def _worker(module_name, folder):
    """Inside valgrind: import the version, warm up, count each operation (see --callgrind)."""
    sys.path.insert(0, folder)
    kronvec_version = importlib.import_module(module_name)
    X = np.array([[1.3, 0.4], [-0.2, 0.9]])
    objective, S = _issue11_objective()
    calls = {name: (kronvec_version.value_and_grad(f), X) for name, f in {**EXISTING, **NEW}.items()}
    calls["add (X + C)"] = (kronvec_version.value_and_grad(lambda X: np.sum(X + _OTHER)), X)
    calls["np.add(X, C)"] = (kronvec_version.value_and_grad(lambda X: np.sum(np.add(X, _OTHER))), X)
    calls["ln|S|+tr(S⁻¹C) n=4"] = (kronvec_version.value_and_grad(objective), S)
    for name, (call, argument) in list(calls.items()):
        try:
            for _ in range(3):  # first-call costs (imports, caches) stay out of the counts
                call(argument)
        except Exception:  # (an operation this version does not have)
            del calls[name]
    print("\t".join(calls), flush=True)
    # instrumentation on from here (valgrind ran with --instr-atstart=no)
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    for call, argument in calls.values():
        loop = {"call": call, "argument": argument}
        exec(f"for _ in range({_SHORT}): call(argument)", loop)  # callgrind dumps after each exec
        exec(f"for _ in range({_LONG}): call(argument)", loop)


def _count(module_name, folder, options):
    """{operation: instructions per call} of the version `module_name` in `folder`."""
    with tempfile.TemporaryDirectory() as out:
        command = [options.valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
                   "--toggle-collect=builtin_exec", "--dump-after=builtin_exec",
                   f"--callgrind-out-file={out}/cg.out", options.python, str(pathlib.Path(__file__).resolve()),
                   "--callgrind-worker", module_name, folder]
        finished = subprocess.run(command, capture_output=True, text=True,
                                  env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"})
        if finished.returncode != 0:
            sys.exit(f"callgrind worker failed:\n{finished.stderr[-3000:]}")
        names = finished.stdout.strip().splitlines()[-1].split("\t")
        totals = []
        for k in range(1, 2 * len(names) + 1):
            text = pathlib.Path(out, f"cg.out.{k}").read_text(errors="replace")
            totals.append(int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1)))
        if pathlib.Path(out, f"cg.out.{2 * len(names) + 1}").exists():
            sys.exit("callgrind: more dumps than exec loops (an exec inside kronvec?): counts unreliable")
    return {name: (totals[2 * k + 1] - totals[2 * k]) / (_LONG - _SHORT) for k, name in enumerate(names)}


def _callgrind_tables(before_folder, options):
    before = _count("kronvec_before", before_folder, options)
    now = _count("kronvec", str(ROOT), options)
    print(f"\n## callgrind: thousands of instructions per call of value_and_grad, now vs {options.before} "
          f"(existing target ≤ 1.2×; new target ≤ add (X + C))")
    print(f"{'operation':<22}{'before':>10}{'now':>10}{'now/before':>12}{'now/add':>10}{'/np.add':>10}")
    for name, count in now.items():
        old = before.get(name)
        ratio = f"{count / old:>11.2f}×" if old else f"{'':>12}"
        over = name in EXISTING and old and count / old > 1.2 or name in NEW and count > now["add (X + C)"]
        # (the ufunc-called operations against add called the same way: NumPy's override
        # protocol, the same for both, costs more than `X + C`'s operator dunder)
        ufunc_ratio = f"{count / now['np.add(X, C)']:>9.2f}×" if name in UFUNC_CALLED else f"{'':>10}"
        print(f"{name:<22}{f'{old / 1e3:.1f}' if old else '—':>10}{count / 1e3:>10.1f}{ratio}"
              f"{count / now['add (X + C)']:>9.2f}×{ufunc_ratio}{'  ✗' if over else ''}")
    failed = [name for name in {**EXISTING, **NEW} if name not in now]
    if failed:  # (the worker drops an operation that raises: this version must not)
        print(f"!!! raised in this version, not counted: {', '.join(failed)}")


def main(argv=None):
    if argv is None and len(sys.argv) == 4 and sys.argv[1] == "--callgrind-worker":
        return _worker(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="b0fa435")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--callgrind", choices=("only", "also"), default=None)
    parser.add_argument("--valgrind", default=shutil.which("valgrind") or "/usr/bin/valgrind")
    parser.add_argument("--python", default=os.path.realpath(sys.executable))
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import kronvec

    X = np.array([[1.3, 0.4], [-0.2, 0.9]])
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}; median of {options.rounds} rounds, µs per call of value_and_grad at n = 2")
    with tempfile.TemporaryDirectory() as temporary:
        _export(options.before, temporary)
        sys.path.insert(0, temporary)
        if options.callgrind:
            _callgrind_tables(temporary, options)
            if options.callgrind == "only":
                return
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
