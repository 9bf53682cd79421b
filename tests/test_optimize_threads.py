"""The one-entry caches of kronvec.optimize's Objective and Residuals under threads: a
shared instance evaluated concurrently at different points gives each caller the result at
its own point (found by an adversarial sweep: the cache's x and result were two attributes,
set one after the other, so a thread could pair its x with another thread's gradient)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import kronvec.optimize as kvo

from _helpers import run_in_threads

THREADS, ROUNDS = 4, 150


def _square_misfit(X, C):
    return 0.5 * np.sum((X @ X - C) ** 2)


def _square_residuals(X, C):
    return X @ X - C


def _hammer(call, points, expected):
    """Every thread calls `call` at its own point ROUNDS times; returns the mismatches."""
    wrong = []

    def work(t):
        for _ in range(ROUNDS):
            if not np.array_equal(call(points[t]), expected[t]):
                wrong.append(t)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # (switch threads often: the race needs a switch between two lines)
    try:
        run_in_threads(work, THREADS)
    finally:
        sys.setswitchinterval(interval)
    return wrong


@pytest.mark.parametrize("method", ["jac", "fun", "value", "hessp"])
def test_a_shared_objective_gives_each_thread_its_own_point(method):
    C = np.eye(3)
    shared, reference = kvo.objective(_square_misfit, (3, 3), C), kvo.objective(_square_misfit, (3, 3), C)
    points = [np.random.default_rng(t).standard_normal(9) for t in range(THREADS)]
    direction = np.linspace(-1.0, 1.0, 9)
    if method == "hessp":
        call = lambda x: shared.hessp(x, direction)  # noqa: E731
        expected = [reference.hessp(x, direction) for x in points]
    else:
        call = getattr(shared, method)
        expected = [getattr(reference, method)(x) for x in points]
    assert _hammer(call, points, expected) == []


@pytest.mark.parametrize("method", ["fun", "jac"])
@pytest.mark.parametrize("jac_format", ["operator", "sparse", "dense"])
def test_shared_residuals_give_each_thread_its_own_point(method, jac_format):
    C = np.eye(3)
    shared = kvo.residuals(_square_residuals, (3, 3), C, jac_format=jac_format)
    reference = kvo.residuals(_square_residuals, (3, 3), C, jac_format="dense")
    points = [np.random.default_rng(t).standard_normal(9) for t in range(THREADS)]
    expected = [getattr(reference, method)(x) for x in points]

    def dense(value):
        return value.toarray() if hasattr(value, "toarray") else np.asarray(value)

    call = (lambda x: dense(shared.jac(x))) if method == "jac" else shared.fun  # noqa: E731
    assert _hammer(call, points, expected) == []
