"""Sample-input generators for the registered rules (tests and benchmarks).

Each takes a ``numpy.random.Generator`` and a size ``n`` and returns a
tuple of arguments in a well-conditioned domain, so finite differences are
accurate and benchmarks are representative.
"""

from __future__ import annotations

import numpy as np

from ._registry import Sample  # noqa: F401 (operations build samples with parameters)


def well_conditioned(rng, n):
    """A square matrix with singular values in about [0.5, 1.5]·√n."""
    return rng.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)


def spd(rng, n):
    A = rng.standard_normal((n, n))
    return A @ A.T / n + np.eye(n)


def one_square(rng, n):
    return (well_conditioned(rng, n),)


def one_rectangular(rng, n):
    return (rng.standard_normal((n, n + 1)),)


def two_for_matmul(rng, n):
    return rng.standard_normal((n, n + 1)), rng.standard_normal((n + 1, n + 2))


def three_for_sandwich(rng, n):
    return (rng.standard_normal((n + 1, n)), rng.standard_normal((n, n + 2)),
            rng.standard_normal((n + 2, n)))


def two_for_solve(rng, n):
    return well_conditioned(rng, n), rng.standard_normal((n, 2))


def two_same_shape(rng, n):
    return rng.standard_normal((n, n + 1)), rng.standard_normal((n, n + 1))


def two_for_kron(rng, n):
    k = max(2, n // 2)
    return rng.standard_normal((k, k + 1)), rng.standard_normal((k + 1, k))


def one_positive(rng, n):
    return (rng.uniform(0.5, 2.0, size=(n, n + 1)),)


def two_for_trace(rng, n):
    return rng.standard_normal((n, n + 1)), rng.standard_normal((n + 1, n))


def one_square_for_det(rng, n):
    """Scaled so |det| stays O(1) at any n (a raw well-conditioned sample's
    determinant overflows around n = 256)."""
    return (well_conditioned(rng, n) / (2.0 * np.sqrt(n)),)


def one_general(rng, n):
    """A rectangular matrix of O(1) entries (elementwise maps, reshapes)."""
    return (rng.standard_normal((n, n + 1)),)


def two_broadcast(rng, n):
    """A matrix and a row that broadcasts against it."""
    return rng.standard_normal((n, n + 1)), rng.standard_normal((1, n + 1))


def two_positive(rng, n):
    return rng.uniform(0.5, 2.0, size=(n, n + 1)), rng.uniform(0.5, 2.0, size=(n, n + 1))


def one_bounded(rng, n):
    """Entries in (-0.9, 0.9): inside the domain of arcsin-like maps."""
    return (rng.uniform(-0.9, 0.9, size=(n, n + 1)),)


# Domain maps for the random-composition templates (``Primitive.fuzz``): they
# take a generic O(1) matrix into an operation's domain, smoothly.
def square_of(Y):
    """A square, O(1) matrix built from Y of any shape: Y itself or YᵀY / rows."""
    p, q = Y.shape
    return Y if p == q else (Y.T @ Y) / p


def shifted(S):
    """2I + tanh(S)/(2n): strictly diagonally dominant (off-diagonal row sums ≤ ½), κ ≤ 3."""
    n = S.shape[0]
    return 2.0 * np.eye(n) + np.tanh(S) / (2.0 * n)


def stack_of(make, rng, batch):
    """A stack (*batch, …) of independent samples ``make(rng)`` (registry edge cases)."""
    count = int(np.prod(batch))
    return np.stack([make(rng) for _ in range(count)]).reshape(tuple(batch) + make(rng).shape)
