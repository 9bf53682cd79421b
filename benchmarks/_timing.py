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


def round_robin(contenders, rounds):
    """One batch of each contender per round, the starting one rotating."""
    for r in range(rounds):
        for k in range(len(contenders)):
            contender = contenders[(r + k) % len(contenders)]
            start = time.perf_counter()
            for _ in range(contender.batch):
                contender.call()
            contender.samples.append((time.perf_counter() - start) / contender.batch)


def median_seconds(calls, rounds):
    """``{name: median seconds per call}`` for the zero-argument `calls`, a list of
    ``(name, call)`` pairs, timed side by side with :func:`round_robin`."""
    import statistics

    contenders = [Contender(call, name) for name, call in calls]
    round_robin(contenders, rounds)
    return {c.name: statistics.median(c.samples) for c in contenders}
