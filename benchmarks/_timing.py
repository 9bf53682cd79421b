"""Side-by-side timing for the measurement scripts: batches of about the same
duration per contender, taken round-robin so that load on the machine falls on
every contender alike (``measure_recording.py``, ``measure_stacks.py``, ``measure_scipy_linalg.py``,
``measure_factorizations.py``, ``measure_matrix_functions.py``)."""

from __future__ import annotations

import time

__all__ = ["Contender", "round_robin", "median_seconds"]


class Contender:
    """A call to time, its batch size (calls per ~`batch_seconds`) and its samples
    (seconds per call, one per round)."""

    def __init__(self, call, name=None, batch_seconds=0.02):
        self.name, self.call, self.samples = name, call, []
        call()  # warm: first-call costs (caches, thread pools) are not timed
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < batch_seconds:
            call()
            calls += 1
        self.batch = max(calls, 1)


def round_robin(contenders, rounds, settle=0.0, warm=0.0):
    """One batch of each contender per round, the starting one rotating.

    `settle` seconds of sleep before each batch let the previous contender's
    thread pools go idle: PyTorch's intra-op threads keep spinning for tens of
    milliseconds after its last call, on the core the next batch needs — and
    with the order fixed up to rotation, the same contender always comes next.
    `warm` seconds of untimed calls of the contender itself follow the sleep: on
    this VM the first ~20 ms after a sleep run slowly, which a batch of short calls
    feels and a batch of two long ones hardly does (``measure_factorization_jacobians.py``).
    """
    for r in range(rounds):
        for k in range(len(contenders)):
            contender = contenders[(r + k) % len(contenders)]
            if settle:
                time.sleep(settle)
            if warm:
                start = time.perf_counter()
                contender.call()
                while time.perf_counter() - start < warm:
                    contender.call()
            start = time.perf_counter()
            for _ in range(contender.batch):
                contender.call()
            contender.samples.append((time.perf_counter() - start) / contender.batch)


def median_seconds(calls, rounds, settle=0.0, warm=0.0):
    """``{name: median seconds per call}`` for the zero-argument `calls`, a list of
    ``(name, call)`` pairs, timed side by side with :func:`round_robin`."""
    import statistics

    contenders = [Contender(call, name) for name, call in calls]
    round_robin(contenders, rounds, settle, warm)
    return {c.name: statistics.median(c.samples) for c in contenders}


#: The variables that set the BLAS/OpenMP/numba thread pools' sizes.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def thread_environment(setting):
    """os.environ for a worker process: ``"default"`` leaves every pool its default
    size (the user's setting), ``"pinned"`` sets each to one thread."""
    import os

    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    if setting == "pinned":
        env.update({key: "1" for key in THREAD_VARIABLES})
    return env


def rows_from_workers(script, forwarded, marker, timeout):
    """Run ``script --worker SETTING *forwarded`` once with default and once with pinned
    threads (each in a fresh process, so the variables act before NumPy loads its BLAS);
    return ``(rows, status)``: the JSON rows the workers printed after `marker`, each
    with its ``threads`` setting, and 1 if a worker failed (its output is shown), else 0."""
    import json
    import subprocess
    import sys

    rows, status = [], 0
    for setting in ("default", "pinned"):
        done = subprocess.run([sys.executable, str(script), "--worker", setting, *forwarded],
                              env=thread_environment(setting), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            status = 1
        rows += [dict(json.loads(line[len(marker):]), threads=setting)
                 for line in done.stdout.splitlines() if line.startswith(marker)]
    return rows, status
