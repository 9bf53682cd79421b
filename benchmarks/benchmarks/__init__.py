"""asv benchmarks for kronvec (run from ``benchmarks/``; see ``benchmarks/README.md``).

One module per kronvec module: ``operators`` (structured apply and
materialization), ``ops`` (every operation in ``kronvec.ops.REGISTRY``),
``rules`` (every rule in ``kronvec.rules.REGISTRY``),
``sparse`` (the CSR/dense writers against SciPy/NumPy), ``api`` (grad,
jacobian, jvp of the standard objectives), ``compile_and_import`` (fresh
processes: import time, numba compile and cache-load time).

House rules for every benchmark here:

* inputs come from :func:`rng` with a fixed seed, so every run and every
  commit times the same numbers;
* parameters grow from the smallest size (first in each ``params`` list,
  which the pytest smoke test ``tests/test_benchmarks_smoke.py`` runs once)
  to the largest that still finishes in seconds on 2 cores;
* anything that may compile numba runs once in ``setup`` (:func:`warm`),
  so ``time_*`` never includes compilation -- compile time is measured on
  its own in ``compile_and_import``;
* sizes a benchmark cannot run at (too much memory, not applicable) raise
  ``NotImplementedError`` in ``setup``: asv records them as skipped (n/a);
* BLAS runs on one thread (``OPENBLAS_NUM_THREADS=1`` etc., set below before
  NumPy is imported, unless already set): on this shared 2-core machine a
  second OpenBLAS thread waits for a busy core, and a 256×256 matmul was
  measured at 0.65 ms on one thread but 24-47 ms on two while other jobs ran
  (load 4).  One thread makes the numbers reproducible and keeps kronvec's own
  overhead visible.  Run ``OPENBLAS_NUM_THREADS=2 asv run ...`` on an idle
  machine to measure with two.  numba kernels keep kronvec's own thread
  policy (two threads only for outputs of 64 MiB and more).

Helpers live here (names without asv prefixes, so asv does not collect them)
and are imported by the modules with ``from . import ...``.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import zlib  # noqa: E402

import numpy as np  # noqa: E402

__all__ = [
    "SEED",
    "rng",
    "well_conditioned",
    "spd",
    "warm",
    "skip_if",
    "vec",
    "unvec",
    "central_difference",
    "relative_error",
    "OBJECTIVES",
]

SEED = 20240611

#: Largest dense result (bytes) a benchmark may allocate: asv runs one
#: process at a time, but the machine is shared.
DENSE_LIMIT_BYTES = 512 * 2**20


def rng(*key):
    """A generator seeded from SEED and `key` (e.g. the benchmark's parameters).

    ``zlib.crc32`` of the text of each key part, not ``hash()``, so the seed is
    the same in every process (Python salts ``hash`` of strings per process).
    """
    return np.random.default_rng([SEED, *(zlib.crc32(repr(k).encode()) for k in key)])


def well_conditioned(generator, n):
    """An n×n matrix with singular values in about [0.5, 1.5]·√n (cond ≈ 3)."""
    return generator.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)


def spd(generator, n):
    """A symmetric positive definite n×n matrix with eigenvalues in about [1, 5]."""
    A = generator.standard_normal((n, n))
    return A @ A.T / n + np.eye(n)


def warm(function, *args, **kwargs):
    """Call `function` once and return its result.

    Used in ``setup`` so the first call's one-off costs -- numba compiling a
    kernel or loading it from the cache, BLAS thread-pool start-up, the
    allocator's first touch -- are not timed by ``time_*``.
    """
    return function(*args, **kwargs)


def skip_if(condition, reason):
    """Raise NotImplementedError (asv: "skipped") when `condition` holds."""
    if condition:
        raise NotImplementedError(reason)


def vec(X):
    """Column-major vec (``notes/conventions.md``)."""
    return np.asarray(X).reshape(-1, order="F")


def unvec(v, shape):
    return np.asarray(v).reshape(shape, order="F")


def central_difference(f, X, step=1e-6):
    """Numerator-layout Jacobian ∂vec f/∂(vec X)ᵀ of f at X by central differences.

    Written from the definition, independently of kronvec; cost 2·X.size
    evaluations of f.
    """
    X = np.array(X, dtype=np.float64)
    x = vec(X).copy()
    f0 = np.atleast_1d(vec(np.asarray(f(X), dtype=np.float64)))
    J = np.empty((f0.size, x.size))
    for k in range(x.size):
        h = step * max(1.0, abs(x[k]))
        xk = x.copy()
        xk[k] += h
        plus = np.atleast_1d(vec(np.asarray(f(unvec(xk, X.shape)), dtype=np.float64)))
        xk[k] -= 2.0 * h
        minus = np.atleast_1d(vec(np.asarray(f(unvec(xk, X.shape)), dtype=np.float64)))
        J[:, k] = (plus - minus) / (2.0 * h)
    return J


def relative_error(approximation, reference):
    """max|a - r| / max(1, max|r|): a scale-aware worst-case error."""
    approximation = np.asarray(approximation, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(reference), initial=0.0)))
    return float(np.max(np.abs(approximation - reference), initial=0.0)) / scale


# --------------------------------------------------------------------------
# the standard objectives (api benchmarks; the same ones the README uses)
# --------------------------------------------------------------------------


def _gaussian_nll(generator, n):
    """ln|S| + tr(S⁻¹C): the Gaussian negative log-likelihood in S, gradient S⁻ᵀ - S⁻ᵀCᵀS⁻ᵀ."""
    C = spd(generator, n)

    def f(S):
        return np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C)

    def gradient(S):
        Si = np.linalg.inv(S)
        return (Si - Si @ C @ Si).T

    return f, spd(generator, n), gradient


def _gaussian_nll_solve(generator, n):
    """ln|S| + tr(solve(S, C)), the same objective spelled with solve: gradient S⁻ᵀ(I - Xᵀ), X = S⁻¹C.

    A solve of n right-hand sides is the case where kronvec's gradient needs S⁻¹ and
    NumPy keeps no LU (notes/conventions.md, "One thread pool per call")."""
    C = spd(generator, n)

    def f(S):
        return np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C))

    def gradient(S):
        X = np.linalg.solve(S, C)
        return np.linalg.solve(S.T, np.eye(n) - X.T)

    return f, spd(generator, n), gradient


def _trace_quadratic(generator, n):
    """tr(A X B Xᵀ): gradient AᵀXBᵀ + AXB."""
    A, B = generator.standard_normal((n, n)), generator.standard_normal((n, n))

    def f(X):
        return np.trace(A @ X @ B @ X.T)

    def gradient(X):
        return A.T @ X @ B.T + A @ X @ B

    return f, generator.standard_normal((n, n)), gradient


def _least_squares(generator, n):
    """‖A X B - C‖²_F: gradient 2Aᵀ(AXB - C)Bᵀ."""
    A, B, C = (generator.standard_normal((n, n)) for _ in range(3))

    def f(X):
        R = A @ X @ B - C
        return np.sum(R * R)

    def gradient(X):
        return 2.0 * A.T @ (A @ X @ B - C) @ B.T

    return f, generator.standard_normal((n, n)), gradient


def _logdet_inverse_trace(generator, n):
    """ln|X| - tr(X⁻¹): gradient X⁻ᵀ + X⁻ᵀX⁻ᵀ."""

    def f(X):
        return np.linalg.slogdet(X)[1] - np.trace(np.linalg.inv(X))

    def gradient(X):
        Xi = np.linalg.inv(X)
        return (Xi + Xi @ Xi).T

    return f, well_conditioned(generator, n), gradient


#: name → make(generator, n) → (f, X, closed-form gradient of f at X).
OBJECTIVES = {
    "gaussian_nll": _gaussian_nll,
    "gaussian_nll_solve": _gaussian_nll_solve,
    "trace_quadratic": _trace_quadratic,
    "least_squares": _least_squares,
    "logdet_minus_trace_inv": _logdet_inverse_trace,
}
