"""Side-by-side timings of kronvec's materialization kernels (run directly).

    python benchmarks/measure_kernels.py [--repeats 15] [--quick]

Everything runs in one process, warm (numba compiled before timing), and
reports the median of repeats.  Every contender allocates its own output on
each call, so the cost of touching fresh memory (page faults, which dominate
these memory-bound writes) is included for all of them alike.  The "write
floor" allocates the same CSR arrays with ``np.empty`` and fills them with a
vectorized NumPy copy of the right values: no index arithmetic, just the
bytes.  The "serial" rows run the same kernel source compiled without
``parallel=True``, which is how the parallel choice in ``_kernels`` was made.

The last section times the first call in a fresh process with a cold numba
cache (compile) and then with the cache that run left behind (load).

Prints a Markdown table; targets (from the task that created this file):
I⊗A and A⊗I ≥ 5× faster than scipy and ≤ 2× the write floor; sparse⊗sparse
≥ 2.5× faster than scipy; dense ≥ 3× faster than ``-np.kron`` and ≤ 1.5×
``np.ones``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kronvec import sparse as kvs  # noqa: E402
from kronvec._config import config  # noqa: E402


def median_seconds(function, repeats):
    function()  # warm: compile, thread pool, allocator state
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
        del result
    return statistics.median(times)


def serial_version(kernel):
    """The kernel's source compiled without parallel=True (prange runs as range)."""
    import numba

    return numba.njit(kernel.py_func)


class Table:
    def __init__(self):
        self.rows = []

    def add(self, case, size, contender, seconds, reference=None, target=""):
        ratio = "" if reference is None else f"{reference / seconds:.2f}×"
        self.rows.append((case, size, contender, f"{seconds * 1e3:.2f}", ratio, target))

    def markdown(self):
        header = ("case", "size", "contender", "median ms", "speed-up vs scipy/numpy", "target")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def kron_identity_cases(table, repeats, n):
    from kronvec import _kernels

    rng = np.random.default_rng(0)
    A = rng.random((n, n)) + 0.1  # no zeros: the product has exactly n³ nonzeros
    nnz = n**3
    size = f"n={n}, nnz={nnz:.2e}"
    a_flat = A.ravel()
    # Column pattern of I⊗A: row (i, k) holds columns i*n + 0..n-1.
    i_times_n = (np.arange(n, dtype=np.int32) * n)[:, None, None]
    identity_left_columns = i_times_n + np.arange(n, dtype=np.int32)[None, None, :]
    # A⊗I: row (i, k) holds columns j*n + k, j = 0..n-1.
    identity_right_columns = (
        np.arange(n, dtype=np.int32)[None, :, None] + (np.arange(n, dtype=np.int32) * n)[None, None, :]
    )

    def write_floor(columns, values_shape, values):
        indptr = np.empty(n * n + 1, dtype=np.int32)
        indices = np.empty(nnz, dtype=np.int32)
        data = np.empty(nnz)
        indptr[:] = 0
        np.copyto(indices.reshape(n, n, n), columns)
        np.copyto(data.reshape(values_shape), values)
        return indptr, indices, data

    with config.override(numba_min_entries=0):
        for label, ours, reference, columns, values_shape, values in (
            (
                "I⊗A (dense A)",
                lambda: kvs.kron_csr(n, A),
                lambda: sp.kron(sp.identity(n), A, format="csr"),
                identity_left_columns,
                (n, n * n),
                a_flat,
            ),
            (
                "A⊗I (dense A)",
                lambda: kvs.kron_csr(A, n),
                lambda: sp.kron(A, sp.identity(n), format="csr"),
                identity_right_columns,
                (n, n, n),
                A[:, None, :],
            ),
        ):
            result = ours()
            expected = reference()
            assert np.array_equal(result.indptr, expected.indptr)
            assert np.array_equal(result.indices, expected.indices)
            assert np.array_equal(result.data, expected.data)
            scipy_seconds = median_seconds(reference, repeats)
            floor_seconds = median_seconds(lambda: write_floor(columns, values_shape, values), repeats)
            ours_seconds = median_seconds(ours, repeats)
            table.add(label, size, "scipy.sparse.kron(format='csr')", scipy_seconds, scipy_seconds)
            table.add(label, size, "write floor (np.empty + np.copyto)", floor_seconds, scipy_seconds)
            table.add(
                label, size, "**kron_csr**", ours_seconds, scipy_seconds,
                f"≥5× scipy; {ours_seconds / floor_seconds:.2f}× floor (≤2×)",
            )

        # serial kernel variant on the same inputs (decides parallel=True)
        serial = serial_version(_kernels.kron_csr_fill)
        left = kvs._csr_factor(n, "A")
        right = kvs._csr_factor(A, "B")

        def serial_identity_left():
            indptr = np.empty(n * n + 1, dtype=np.int32)
            indptr[0] = 0
            np.cumsum(np.multiply.outer(left.row_counts(), right.row_counts()).ravel(), out=indptr[1:])
            indices = np.empty(nnz, dtype=np.int32)
            data = np.empty(nnz)
            serial(left.indptr, left.indices, left.data, right.indptr, right.indices, right.data,
                   np.int64(n), indptr, indices, data)
            return indptr, indices, data

        serial_seconds = median_seconds(serial_identity_left, repeats)
        table.add("I⊗A (dense A)", size, "kron_csr kernel compiled serial", serial_seconds,
                  table_reference(table, "I⊗A (dense A)"))


def table_reference(table, case):
    for row in table.rows:
        if row[0] == case and row[2].startswith("scipy"):
            return float(row[3]) / 1e3
    return None


def sparse_sparse_case(table, repeats):
    m = 1000
    density = 3.2e-3  # ≈ 3200 nonzeros per factor → ≈ 1.0e7 in the product
    A = sp.random_array((m, m), density=density, format="csr", rng=1)
    B = sp.random_array((m, m), density=density, format="csr", rng=2)
    nnz = A.nnz * B.nnz
    size = f"{m}²⊗{m}², nnz={nnz:.2e}"
    with config.override(numba_min_entries=0):
        result = kvs.kron_csr(A, B)
        expected = sp.kron(A, B, format="csr")
        expected.sort_indices()
        assert np.array_equal(result.indices, expected.indices)
        assert np.array_equal(result.data, expected.data)
        del result, expected
        scipy_seconds = median_seconds(lambda: sp.kron(A, B, format="csr"), repeats)
        ours_seconds = median_seconds(lambda: kvs.kron_csr(A, B), repeats)
    table.add("sparse⊗sparse", size, "scipy.sparse.kron(format='csr')", scipy_seconds, scipy_seconds)
    table.add("sparse⊗sparse", size, "**kron_csr**", ours_seconds, scipy_seconds, "≥2.5× scipy")


def sum_case(table, repeats, n):
    """Kronecker sum I⊗A + A⊗I: the common two-term merge (informational)."""
    rng = np.random.default_rng(3)
    A = rng.random((n, n)) + 0.1
    with config.override(numba_min_entries=0):
        left = kvs.kron_csr(n, A)
        right = kvs.kron_csr(A, n)
        ours = lambda: kvs.sum_csr([(1.0, left), (1.0, right)])  # noqa: E731
        reference = lambda: left + right  # noqa: E731
        assert abs(ours() - reference()).max() == 0
        scipy_seconds = median_seconds(reference, repeats)
        ours_seconds = median_seconds(ours, repeats)
    size = f"n={n}, nnz={2 * n**3 - n**2:.2e}"
    table.add("I⊗A + A⊗I", size, "scipy csr + csr", scipy_seconds, scipy_seconds)
    table.add("I⊗A + A⊗I", size, "**sum_csr**", ours_seconds, scipy_seconds, "(no target)")


def dense_case(table, repeats, n):
    from kronvec import _kernels

    rng = np.random.default_rng(4)
    X = rng.standard_normal((n, n)) + n * np.eye(n)  # well conditioned
    Xi = np.linalg.inv(X)
    Xi_T = Xi.T
    size = f"n={n}, {n * n}×{n * n} float64"
    with config.override(numba_min_entries=0):
        assert np.allclose(kvs.kron_dense(Xi_T, Xi, scale=-1.0), -np.kron(Xi_T, Xi), rtol=0, atol=1e-15)
        numpy_seconds = median_seconds(lambda: -np.kron(Xi_T, Xi), repeats)
        ones_seconds = median_seconds(lambda: np.ones((n * n, n * n)), repeats)
        ours_seconds = median_seconds(lambda: kvs.kron_dense(Xi_T, Xi, scale=-1.0), repeats)
        serial = serial_version(_kernels.kron_dense_fill)
        a = np.ascontiguousarray(Xi_T)

        def serial_fill():
            out = np.empty((n * n, n * n))
            serial(a, Xi, -1.0, out, False)
            return out

        serial_seconds = median_seconds(serial_fill, repeats)
    table.add("-Xi.T ⊗ Xi (dense)", size, "-np.kron(Xi.T, Xi)", numpy_seconds, numpy_seconds)
    table.add("-Xi.T ⊗ Xi (dense)", size, "np.ones((n², n²))", ones_seconds, numpy_seconds)
    table.add(
        "-Xi.T ⊗ Xi (dense)", size, "**kron_dense(Xi.T, Xi, scale=-1)**", ours_seconds, numpy_seconds,
        f"≥3× -np.kron; {ours_seconds / ones_seconds:.2f}× np.ones (≤1.5×)",
    )
    table.add("-Xi.T ⊗ Xi (dense)", size, "kron_dense kernel compiled serial", serial_seconds, numpy_seconds)


_FIRST_CALL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    import numpy as np
    from kronvec import sparse
    from kronvec._config import config
    A = np.random.default_rng(0).random((64, 64))
    with config.override(numba_min_entries=0):
        start = time.perf_counter()
        sparse.kron_csr(64, A)
        csr = time.perf_counter() - start
        start = time.perf_counter()
        sparse.kron_dense(A.T, A, scale=-1.0)
        dense = time.perf_counter() - start
    print(csr, dense)
    """
)


def first_call_cases():
    """(cold kron_csr, cold kron_dense, warm kron_csr, warm kron_dense) seconds."""
    script = _FIRST_CALL_SCRIPT.format(repo=str(REPO))
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        timings = []
        for _ in ("cold", "warm"):
            output = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
            ).stdout
            timings.extend(float(x) for x in output.split())
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats

    import numba

    print(f"numpy {np.__version__}, scipy {sp.__name__ and __import__('scipy').__version__}, "
          f"numba {numba.__version__}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()}\n")
    table = Table()
    kron_identity_cases(table, repeats, 32 if args.quick else 144)
    if not args.quick:
        sparse_sparse_case(table, repeats)
    sum_case(table, repeats, 32 if args.quick else 144)
    dense_case(table, repeats, 16 if args.quick else 64)
    print(table.markdown())

    cold_csr, cold_dense, warm_csr, warm_dense = first_call_cases()
    print("\nFirst call in a fresh process (includes numba import and compile/load):\n")
    print("| cache | kron_csr first call s | kron_dense first call s |")
    print("|---|---|---|")
    print(f"| cold (empty NUMBA_CACHE_DIR) | {cold_csr:.2f} | {cold_dense:.2f} |")
    print(f"| warm (same dir, new process) | {warm_csr:.2f} | {warm_dense:.2f} |")


if __name__ == "__main__":
    main()
