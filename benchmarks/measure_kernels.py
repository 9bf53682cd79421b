"""Side-by-side timings of kronvec's materialization kernels (run directly).

    python benchmarks/measure_kernels.py [--repeats 21] [--quick]

Everything runs in one process, warm (numba compiled before timing), and
reports the median of repeats.  The contenders of one case are timed
round-robin (one call of each per round, order rotated every round), so
drift of this shared 2-vCPU machine hits them alike.  Every contender allocates its own output on each
call, so the cost of touching fresh memory -- page faults, which dominate
these memory-bound writes -- is included for all of them.  (glibc serves
blocks up to 32 MiB from its heap after the first free, so the 36 MB CSR
cases partly reuse memory while the 134 MB dense case always faults; that is
the same for every contender.)

The "write floor" allocates the same CSR arrays with ``np.empty`` and fills
them by a vectorized ``np.copyto`` of the right values: the bytes, without
any index arithmetic.  The "threads forced" rows override the size policy of
``kronvec._kernels.call`` (one thread below ``PARALLEL_MIN_BYTES``); that
comparison is how the parallel choices in ``kronvec/_kernels.py`` were made.
(One thread on a ``parallel=True`` kernel measured the same as the source
compiled without it.)

The last table times the first call in a fresh process with a cold numba
cache (import + compile) and with the cache that run left behind (import +
load).

Targets (from the task that created this file): I⊗A and A⊗I ≥ 5× faster than
scipy and ≤ 2× the write floor; sparse⊗sparse ≥ 2.5× faster than scipy;
dense ≥ 3× faster than ``-np.kron`` and ≤ 1.5× ``np.ones``.
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
import scipy
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kronvec import sparse as kvs  # noqa: E402
from kronvec._config import config  # noqa: E402


def median_seconds(contenders, repeats):
    """Median wall time of each ``(name, function)``, timed round-robin."""
    for _, function in contenders:
        function()  # warm: compile, thread pool, allocator state
    times = {name: [] for name, _ in contenders}
    for round_number in range(repeats):
        # rotate the order each round, so no contender always follows the same one
        shift = round_number % len(contenders)
        for name, function in contenders[shift:] + contenders[:shift]:
            start = time.perf_counter()
            result = function()
            times[name].append(time.perf_counter() - start)
            del result
    return {name: statistics.median(values) for name, values in times.items()}


def threads(function, count):
    """`function` with every kernel forced onto `count` threads (1 or 2).

    Overrides the size policy of ``kronvec._kernels.call`` (one thread below
    ``PARALLEL_MIN_BYTES``), to show what each choice costs at this size.
    """
    from kronvec import _kernels

    def run():
        saved = _kernels.PARALLEL_MIN_BYTES
        _kernels.PARALLEL_MIN_BYTES = 0 if count > 1 else 2**62
        try:
            return function()
        finally:
            _kernels.PARALLEL_MIN_BYTES = saved

    return run


class Table:
    def __init__(self):
        self.rows = []

    def add_case(self, case, size, timings, reference, ours, target_note):
        """One row per contender; the ratio is the reference time over theirs."""
        for name, seconds in timings.items():
            note = target_note(timings) if name == ours else ""
            label = f"**{name}**" if name == ours else name
            self.rows.append(
                (case, size, label, f"{seconds * 1e3:.2f}", f"{timings[reference] / seconds:.2f}×", note)
            )

    def markdown(self):
        header = ("case", "size", "contender", "median ms", "speed-up vs first row", "target")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def _assert_same_csr(result, expected):
    expected = expected.copy()
    expected.sum_duplicates()
    assert np.array_equal(result.indptr, expected.indptr)
    assert np.array_equal(result.indices, expected.indices)
    assert np.array_equal(result.data, expected.data)


def kron_identity_cases(table, repeats, n):
    rng = np.random.default_rng(0)
    A = rng.random((n, n)) + 0.1  # no zeros: the product has exactly n³ nonzeros
    nnz = n**3
    size = f"n={n}, nnz={nnz:.2e}"
    steps = np.arange(n, dtype=np.int32)
    # I⊗A: row (i, k) holds columns i*n + l and values A[k, l].
    identity_left = (steps[:, None, None] * n + steps[None, None, :], (n, n * n), A.ravel())
    # A⊗I: row (i, k) holds columns j*n + k and values A[i, j].
    identity_right = (steps[None, :, None] + steps[None, None, :] * n, (n, n, n), A[:, None, :])

    def write_floor(columns, values_shape, values):
        indptr = np.empty(n * n + 1, dtype=np.int32)
        indices = np.empty(nnz, dtype=np.int32)
        data = np.empty(nnz)
        indptr[:] = 0
        np.copyto(indices.reshape(n, n, n), columns)
        np.copyto(data.reshape(values_shape), values)
        return indptr, indices, data

    cases = (
        ("I⊗A (dense A)", (n, A), (sp.identity(n), A), identity_left),
        ("A⊗I (dense A)", (A, n), (A, sp.identity(n)), identity_right),
    )
    with config.override(numba_min_entries=0):
        for label, our_factors, scipy_factors, floor_arguments in cases:
            _assert_same_csr(kvs.kron_csr(*our_factors), sp.kron(*scipy_factors, format="csr"))
            timings = median_seconds(
                [
                    ("scipy.sparse.kron(format='csr')", lambda: sp.kron(*scipy_factors, format="csr")),
                    ("write floor (np.empty + np.copyto)", lambda: write_floor(*floor_arguments)),
                    ("kron_csr", lambda: kvs.kron_csr(*our_factors)),
                    ("kron_csr, 2 threads forced", threads(lambda: kvs.kron_csr(*our_factors), 2)),
                    ("kron_csr, 1 thread forced", threads(lambda: kvs.kron_csr(*our_factors), 1)),
                ],
                repeats,
            )
            reference = "scipy.sparse.kron(format='csr')"
            floor = "write floor (np.empty + np.copyto)"
            table.add_case(
                label, size, timings, reference, "kron_csr",
                lambda t: f"≥5× scipy: {t[reference] / t['kron_csr']:.1f}×; "
                f"≤2× floor: {t['kron_csr'] / t[floor]:.2f}×",
            )


def sparse_sparse_case(table, repeats):
    m = 1000
    density = 3.2e-3  # ≈ 3200 nonzeros per factor → ≈ 1.0e7 in the product
    A = sp.random_array((m, m), density=density, format="csr", rng=1)
    B = sp.random_array((m, m), density=density, format="csr", rng=2)
    size = f"{m}²⊗{m}², nnz={A.nnz * B.nnz:.2e}"
    with config.override(numba_min_entries=0):
        _assert_same_csr(kvs.kron_csr(A, B), sp.kron(A, B, format="csr"))
        timings = median_seconds(
            [
                ("scipy.sparse.kron(format='csr')", lambda: sp.kron(A, B, format="csr")),
                ("kron_csr", lambda: kvs.kron_csr(A, B)),
                ("kron_csr, 2 threads forced", threads(lambda: kvs.kron_csr(A, B), 2)),
                ("kron_csr, 1 thread forced", threads(lambda: kvs.kron_csr(A, B), 1)),
            ],
            repeats,
        )
    reference = "scipy.sparse.kron(format='csr')"
    table.add_case(
        "sparse⊗sparse", size, timings, reference, "kron_csr",
        lambda t: f"≥2.5× scipy: {t[reference] / t['kron_csr']:.1f}×",
    )


def sum_case(table, repeats, n):
    """Kronecker sum I⊗A + A⊗I: the common two-term merge (no target)."""
    rng = np.random.default_rng(3)
    A = rng.random((n, n)) + 0.1
    with config.override(numba_min_entries=0):
        left = kvs.kron_csr(n, A)
        right = kvs.kron_csr(A, n)
        ours = lambda: kvs.sum_csr([(1.0, left), (1.0, right)])  # noqa: E731
        _assert_same_csr(ours(), left + right)
        timings = median_seconds(
            [
                ("scipy csr + csr", lambda: left + right),
                ("sum_csr", ours),
            ],
            repeats,
        )
    size = f"n={n}, nnz={2 * n**3 - n**2:.2e}"
    table.add_case("I⊗A + A⊗I", size, timings, "scipy csr + csr", "sum_csr", lambda t: "(no target)")


def dense_case(table, repeats, n):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((n, n)) + n * np.eye(n)  # well conditioned
    Xi = np.linalg.inv(X)
    size = f"n={n}, {n * n}×{n * n} float64"
    ours = lambda: kvs.kron_dense(Xi.T, Xi, scale=-1.0)  # noqa: E731
    with config.override(numba_min_entries=0):
        assert np.array_equal(ours(), -np.kron(Xi.T, Xi))
        timings = median_seconds(
            [
                ("-np.kron(Xi.T, Xi)", lambda: -np.kron(Xi.T, Xi)),
                ("np.ones((n², n²))", lambda: np.ones((n * n, n * n))),
                ("kron_dense(Xi.T, Xi, scale=-1)", ours),
                ("kron_dense, 2 threads forced", threads(ours, 2)),
                ("kron_dense, 1 thread forced", threads(ours, 1)),
            ],
            repeats,
        )
    table.add_case(
        "-Xiᵀ⊗Xi (dense)", size, timings, "-np.kron(Xi.T, Xi)", "kron_dense(Xi.T, Xi, scale=-1)",
        lambda t: (
            f"≥3× -np.kron: {t['-np.kron(Xi.T, Xi)'] / t['kron_dense(Xi.T, Xi, scale=-1)']:.1f}×; "
            f"≤1.5× np.ones: {t['kron_dense(Xi.T, Xi, scale=-1)'] / t['np.ones((n², n²))']:.2f}×"
        ),
    )


_FIRST_CALL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {repo!r})
    start = time.perf_counter()
    import numpy as np
    from kronvec import sparse
    from kronvec._config import config
    imported = time.perf_counter() - start
    A = np.random.default_rng(0).random((64, 64))
    with config.override(numba_min_entries=0):
        start = time.perf_counter()
        sparse.kron_csr(64, A)
        csr = time.perf_counter() - start
        start = time.perf_counter()
        sparse.kron_dense(A.T, A, scale=-1.0)
        dense = time.perf_counter() - start
    print(imported, csr, dense)
    """
)


def first_call_timings():
    """{'cold'|'warm': (import s, first kron_csr s, first kron_dense s)} in fresh processes."""
    script = _FIRST_CALL_SCRIPT.format(repo=str(REPO))
    timings = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        for state in ("cold", "warm"):
            output = subprocess.run(
                [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
            ).stdout
            timings[state] = tuple(float(x) for x in output.split())
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 repeats: a smoke run")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats

    import numba

    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__}, "
        f"{os.cpu_count()} cores, numba threads {numba.get_num_threads()}, "
        f"median of {repeats}\n"
    )
    table = Table()
    kron_identity_cases(table, repeats, 24 if args.quick else 144)
    if not args.quick:
        sparse_sparse_case(table, repeats)
    sum_case(table, repeats, 24 if args.quick else 144)
    dense_case(table, repeats, 12 if args.quick else 64)
    print(table.markdown())

    timings = first_call_timings()
    print("\nFirst call in a fresh process (`import kronvec.sparse`, then the first numba-path call):\n")
    print("| numba cache | import s | first kron_csr s (numba import + compile/load) | first kron_dense s |")
    print("|---|---|---|---|")
    for state, label in (("cold", "cold (empty NUMBA_CACHE_DIR)"), ("warm", "warm (same dir, new process)")):
        imported, csr, dense = timings[state]
        print(f"| {label} | {imported:.2f} | {csr:.2f} | {dense:.2f} |")


if __name__ == "__main__":
    main()
