"""numba kernels: raw arrays in, raw arrays out.

This module imports numpy and numba and nothing else of kronvec.  Callers
(``kronvec/sparse.py``) validate their inputs, choose dtypes, check memory
limits and allocate every output with NumPy *before* calling a kernel, so a
kernel only fills arrays it is handed.  Allocating in NumPy rather than in
numba also keeps one allocator (and NumPy's huge-page advice) for every
output.

Importing this module compiles nothing: every kernel is compiled on its first
call and cached on disk (``cache=True``).  When numba cannot cache -- no
writable cache directory at decoration time, or the directory disappears or
turns read-only before the first compile -- the kernel silently runs uncached.

Conventions shared by every kernel:

* CSR arguments are ``(indptr, indices, data)`` triples in canonical form
  (sorted column indices, no duplicates); canonical inputs give canonical
  outputs.
* Output index arrays may be int32 or int64 (numba compiles one version per
  dtype); column arithmetic is done in int64 and narrowed on store, which is
  exact because the caller picked a dtype wide enough.  Array positions are
  uint64, which spares numba's negative-index test in every access.
* ``parallel=True`` (Kronecker fills only; the merge and the counting sort
  are serial, see their docstrings): on these memory-bound loops a second
  thread mostly helps by taking the page faults of the fresh output in
  parallel, which pays for large outputs only.  Waking the second thread
  costs a scheduler tick whenever the other core is busy, so :func:`call`
  runs outputs below :data:`PARALLEL_MIN_BYTES` on one thread, where the
  gain could not repay that risk (figures: ``benchmarks/measure_kernels.py``).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import prange

__all__ = [
    "PARALLEL_MIN_BYTES",
    "call",
    "kron_csr_fill",
    "csr_merge",
    "kron_dense_fill",
    "kron_identity_dense_fill",
    "kron_dense_identity_fill",
    "selection_transpose_fill",
    "batched_kron_csr_fill",
]


class _Kernel:
    """A numba dispatcher that falls back to ``cache=False`` when caching fails.

    numba raises ``RuntimeError("cannot cache function ...: no locator
    available")`` at decoration when no cache directory is usable, and an
    ``OSError`` at the first compile when the directory it chose has become
    unusable since.  Neither is a reason to stop computing, so both switch
    this kernel to an uncached dispatcher, once and silently.
    """

    def __init__(self, py_func, options):
        self.py_func = py_func
        self._options = options
        try:
            self._dispatcher = numba.njit(cache=True, **options)(py_func)
            self.cached = True
        except Exception:  # numba's "no locator available" is a RuntimeError
            self._dispatcher = numba.njit(cache=False, **options)(py_func)
            self.cached = False
        functools.update_wrapper(self, py_func)

    def __call__(self, *args):
        try:
            return self._dispatcher(*args)
        except OSError:
            # Kernels never raise OSError themselves: this is the cache failing
            # to load or save.  Compile again without it.
            if not self.cached:
                raise
            self._dispatcher = numba.njit(cache=False, **self._options)(self.py_func)
            self.cached = False
            return self._dispatcher(*args)


# Positions are held as uint64 (see kron_csr_fill); never mix them with signed
# integers in one expression, which numba would promote to float64.
_U = np.uint64
_ONE = np.uint64(1)


def _kernel(**options):
    """Decorate a kernel: ``numba.njit(cache=True, **options)`` with fallback."""

    def decorate(py_func):
        return _Kernel(py_func, options)

    return decorate


#: Outputs smaller than this run parallel kernels on one thread (see module doc).
PARALLEL_MIN_BYTES = 64 * 2**20


def call(kernel, output_nbytes, *args):
    """Run `kernel`, on one thread when it writes fewer than PARALLEL_MIN_BYTES.

    ``numba.set_num_threads`` is thread-local and restored afterwards, so a
    caller's own setting (or ``NUMBA_NUM_THREADS``) is respected above the
    threshold.
    """
    if output_nbytes >= PARALLEL_MIN_BYTES:
        return kernel(*args)
    previous = numba.get_num_threads()
    if previous == 1:
        return kernel(*args)
    numba.set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(previous)


# --------------------------------------------------------------------------
# sparse
# --------------------------------------------------------------------------


@_kernel(parallel=True)
def kron_csr_fill(
    a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, b_ncols,
    out_indptr, out_indices, out_data,
):
    """Fill the CSR arrays of ``kron(A, B)``; `out_indptr` is already filled.

    Output row ``i*pB + k`` holds, for every entry ``(j, a)`` of row ``i`` of
    A and every entry ``(l, b)`` of row ``k`` of B, column ``j*b_ncols + l``
    with value ``a*b``, at offset ``ta*count_B + tb`` within the row (``ta``,
    ``tb`` the entries' ranks in their rows).  That order is sorted when both
    inputs are.  The inner loop runs over whichever factor has the longer
    row, so I⊗A (one entry of I per row) and A⊗I (one entry of I per row)
    both get long, vectorizable inner loops.  The caller computes
    `out_indptr` (cumulative products of row counts), so rows are
    independent and run in parallel.
    """
    b_nrows = b_indptr.size - 1
    for out_row in prange(out_indptr.size - 1):
        i = out_row // b_nrows
        k = out_row - i * b_nrows
        # Unsigned positions: numba then skips its negative-index wraparound
        # test, which otherwise blocks vectorization of the inner loop.
        a_start = _U(a_indptr[i])
        a_count = _U(a_indptr[i + 1]) - a_start
        b_start = _U(b_indptr[k])
        b_count = _U(b_indptr[k + 1]) - b_start
        row_start = _U(out_indptr[out_row])
        if b_count >= a_count:
            for ta in range(a_count):
                column_base = a_indices[a_start + ta] * b_ncols
                a_value = a_data[a_start + ta]
                destination = row_start + ta * b_count
                for tb in range(b_count):
                    out_indices[destination + tb] = column_base + b_indices[b_start + tb]
                    out_data[destination + tb] = a_value * b_data[b_start + tb]
        else:
            for tb in range(b_count):
                b_column = b_indices[b_start + tb]
                b_value = b_data[b_start + tb]
                destination = row_start + tb
                for ta in range(a_count):
                    out_indices[destination + ta * b_count] = a_indices[a_start + ta] * b_ncols + b_column
                    out_data[destination + ta * b_count] = a_data[a_start + ta] * b_value


@_kernel()
def csr_merge(
    a_indptr, a_indices, a_data, a_scale, b_indptr, b_indices, b_data, b_scale,
    out_indptr, out_indices, out_data,
):
    """``a_scale*A + b_scale*B`` in one sorted two-way merge; returns nnz.

    `out_indices` and `out_data` are sized for the upper bound ``nnz(A) +
    nnz(B)``; the merged rows are written compactly from the front and
    `out_indptr` is filled as we go.  Entries whose value is exactly zero are
    dropped (scipy's addition drops them too); NaN is kept.

    One serial pass, like scipy's own ``csr_plus_csr``.  A parallel version
    needs a counting pass first to know where rows start; that re-read of
    both inputs costs more than the second thread gains on a memory-bound merge.
    """
    position = _U(0)
    out_indptr[0] = 0
    for row in range(out_indptr.size - 1):
        pa = _U(a_indptr[row])
        a_stop = _U(a_indptr[row + 1])
        pb = _U(b_indptr[row])
        b_stop = _U(b_indptr[row + 1])
        while pa < a_stop and pb < b_stop:
            a_column = a_indices[pa]
            b_column = b_indices[pb]
            if a_column < b_column:
                column = a_column
                value = a_scale * a_data[pa]
                pa += _ONE
            elif b_column < a_column:
                column = b_column
                value = b_scale * b_data[pb]
                pb += _ONE
            else:
                column = a_column
                value = a_scale * a_data[pa] + b_scale * b_data[pb]
                pa += _ONE
                pb += _ONE
            if value != 0:
                out_indices[position] = column
                out_data[position] = value
                position += _ONE
        while pa < a_stop:
            value = a_scale * a_data[pa]
            if value != 0:
                out_indices[position] = a_indices[pa]
                out_data[position] = value
                position += _ONE
            pa += _ONE
        while pb < b_stop:
            value = b_scale * b_data[pb]
            if value != 0:
                out_indices[position] = b_indices[pb]
                out_data[position] = value
                position += _ONE
            pb += _ONE
        out_indptr[row + 1] = position
    return position


@_kernel()
def selection_transpose_fill(index, out_indptr, out_indices):
    """Counting sort: CSR column indices of Sᵀ, where S[r, index[r]] = 1.

    `out_indptr` already holds the row starts of Sᵀ (cumulative counts of
    each value of `index`).  Visiting ``r`` in increasing order makes every
    row of Sᵀ sorted.  Sequential: the scatter is cheap and each slot
    counter is shared by all ``r`` that hit the same column.
    """
    n_slots = out_indptr.size - 1
    next_slot = np.empty(n_slots, dtype=np.uint64)
    for column in range(n_slots):
        next_slot[column] = out_indptr[column]
    for row in range(index.size):
        column = _U(index[row])
        out_indices[next_slot[column]] = row
        next_slot[column] += _ONE


@_kernel(parallel=True)
def batched_kron_csr_fill(a, b, scale, out_indices, out_data):
    """Fill the CSR arrays of the batched block operator with blocks
    ``scale*kron(a[k], b[k])`` (``kronvec.operators.BatchedKron``); the row
    pointers are ``n·row`` (every row holds one full block row) and are filled
    by the caller.

    Member k's block row ``i·r + u`` is CSR row ``k + K·(i·r + u)``; its
    entries are ``scale·a[k, i, j]·b[k, u, v]`` at columns ``k + K·(j·s + v)``,
    increasing with ``(j, v)``: canonical.  Members are split into chunks,
    one chunk per task, and a chunk writes its rows block row by block row,
    so consecutive members write consecutive memory.
    """
    count, p, q = a.shape
    r, s = b.shape[1], b.shape[2]
    row_length = _U(q * s)
    members = _U(count)
    chunk = 4096
    for start in prange((count + chunk - 1) // chunk):
        first = start * chunk
        last = min(first + chunk, count)
        for i in range(p):
            for u in range(r):
                block_row = _U(i * r + u)
                for k in range(first, last):
                    position = (_U(k) + members * block_row) * row_length
                    for j in range(q):
                        factor = scale * a[k, i, j]
                        for v in range(s):
                            column = _U(j * s + v)
                            out_data[position] = factor * b[k, u, v]
                            out_indices[position] = _U(k) + members * column
                            position += _ONE


# --------------------------------------------------------------------------
# dense
# --------------------------------------------------------------------------


@_kernel(parallel=True)
def kron_dense_fill(a, b, scale, out, accumulate):
    """``out = scale*kron(a, b)`` or, with `accumulate`, ``out += ...``.

    One pass over `out` (C-contiguous, shape ``(pa*pb, qa*qb)``), row by row
    so every write is sequential; no temporary.  ``scale*a[i, j]`` is formed
    once per block, so the result is ``(scale*a[i, j]) * b[k, l]``.
    """
    pa, qa = a.shape
    pb, qb = b.shape
    row_length = _U(qb)
    for out_row in prange(pa * pb):
        i = out_row // pb
        k = out_row - i * pb
        row = out[out_row]
        b_row = b[k]
        for j in range(qa):
            factor = scale * a[i, j]
            base = _U(j) * row_length
            if accumulate:
                for l in range(row_length):
                    row[base + l] += factor * b_row[l]
            else:
                for l in range(row_length):
                    row[base + l] = factor * b_row[l]


@_kernel(parallel=True)
def kron_identity_dense_fill(n, b, scale, out, accumulate):
    """``scale*kron(I_n, b)``: block diagonal with n copies of ``scale*b``.

    Assign mode writes the off-diagonal zeros as well, because `out` comes
    from ``np.empty``; accumulate mode touches the diagonal blocks only.
    """
    pb, qb = b.shape
    block_width = _U(qb)
    n_columns = _U(n) * block_width
    for out_row in prange(n * pb):
        i = out_row // pb
        k = out_row - i * pb
        row = out[out_row]
        b_row = b[k]
        block_start = _U(i) * block_width
        block_stop = block_start + block_width
        if accumulate:
            for l in range(block_width):
                row[block_start + l] += scale * b_row[l]
        else:
            for column in range(block_start):
                row[column] = 0
            for l in range(block_width):
                row[block_start + l] = scale * b_row[l]
            for column in range(block_stop, n_columns):
                row[column] = 0


@_kernel(parallel=True)
def kron_dense_identity_fill(a, n, scale, out, accumulate):
    """``scale*kron(a, I_n)``: each entry of `a` times an n×n identity block.

    Row ``i*n + k`` has ``scale*a[i, j]`` at column ``j*n + k`` and zeros
    elsewhere.  Assign mode zeroes the row first (a sequential write), then
    places the ``qa`` nonzeros; accumulate mode only adds the nonzeros.
    """
    pa, qa = a.shape
    block_width = _U(n)
    n_columns = _U(qa) * block_width
    for out_row in prange(pa * n):
        i = out_row // n
        k = _U(out_row - i * n)
        row = out[out_row]
        a_row = a[i]
        if accumulate:
            for j in range(_U(qa)):
                row[j * block_width + k] += scale * a_row[j]
        else:
            for column in range(n_columns):
                row[column] = 0
            for j in range(_U(qa)):
                row[j * block_width + k] = scale * a_row[j]
