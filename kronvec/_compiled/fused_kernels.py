"""numba pieces of a fused program: SciPy's own BLAS/LAPACK, and NumPy's summation orders.

A fused program (:mod:`kronvec._compiled.fused`) must compute what the
operations' NumPy/SciPy code computes, to the bit where it can.  So:

* the LU factorization and the inverse call the *same* LAPACK routines
  kronvec's small-matrix path calls through ``scipy.linalg.lapack`` (``dgetrf``,
  ``dgetri`` with SciPy's default workspace), by the addresses SciPy exports in
  ``scipy.linalg.cython_lapack``;
* a matrix product calls ``dgemm`` with the transpose flags and leading
  dimensions NumPy's matmul derives from the operands' strides
  (``numpy/_core/src/umath/matmul.c.src``), the row-major call written as
  the column-major one OpenBLAS's CBLAS layer makes of it (C = AB is
  Cᵀ = BᵀAᵀ); SciPy's and NumPy's OpenBLAS builds give the same bits
  (checked in ``tests/test_fused.py``);
* a full sum is NumPy's pairwise summation (``numpy/_core/src/umath/
  loops_utils.h.src``, ``pairwise_sum``), an axis-0 sum of a C-ordered matrix
  NumPy's row-by-row accumulation, ln|det X| the logarithms of the pivots added
  one after another, as NumPy's slogdet adds them (``umath_linalg.cpp``);
* the 1-norm sums each column from the top, as LAPACK's ``dlange`` does.

The routines are reached as external symbols (``kronvec_scipy_dgetrf`` …)
registered with LLVM when this module is imported, by the address SciPy gives
in this process — so the kernels name them, not an address, and numba can
cache them on disk like kronvec's other kernels (``cache=True``, uncached
where no cache directory is writable).  The fused programs themselves exist
only in memory and are compiled per process.  This module is imported only
when a program is fused, never by ``import kronvec``.
"""

from __future__ import annotations

import math

import llvmlite.binding
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address, overload

__all__ = ["FallBack", "lu_factor", "lu_inverse", "gemm", "one_norm", "pairwise_sum",
           "sum_all", "sum_axis0", "log_abs_determinant", "all_finite", "scaled_eye", "kron_fill", "ELEMENTWISE"]


class FallBack(Exception):
    """Raised inside a fused program when a check of the operations' own code
    would act (a singular matrix, an ill-conditioned one, a non-finite result):
    the caller then runs the Python program, which raises or warns exactly as
    the uncompiled transformation does."""


def _external(library, routine, arguments):
    """SciPy's `routine` as a function numba code calls by name (every argument a pointer)."""
    symbol = f"kronvec_scipy_{routine}"
    llvmlite.binding.add_symbol(symbol, get_cython_function_address(f"scipy.linalg.cython_{library}", routine))
    return types.ExternalFunction(symbol, types.void(*([types.voidptr] * arguments)))


_dgetrf = _external("lapack", "dgetrf", 6)
_dgetri = _external("lapack", "dgetri", 7)
_dgemm = _external("blas", "dgemm", 13)
_dsyrk = _external("blas", "dsyrk", 10)


def njit(function):
    """``numba.njit(cache=True)``, or uncached where numba finds no cache directory."""
    try:
        return numba.njit(cache=True)(function)
    except RuntimeError:  # numba's "no locator available"
        return numba.njit(cache=False)(function)


_NO_TRANSPOSE, _TRANSPOSE = ord("N"), ord("T")


@njit
def lu_factor(X):
    """LAPACK's dgetrf of the C-ordered or F-ordered n×n X: the factors column-major
    (as a C-ordered array holding LUᵀ), the 1-based pivots and info."""
    n = X.shape[0]
    factors = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            factors[j, i] = X[i, j]  # column j of X is row j of `factors`: column-major
    integers = np.empty(n + 2, dtype=np.int32)  # pivots, order, info
    integers[n] = n
    _dgetrf(integers[n:].ctypes, integers[n:].ctypes, factors.ctypes, integers[n:].ctypes, integers.ctypes,
            integers[n + 1:].ctypes)
    return factors, integers[:n], integers[n + 1]


@njit
def lu_inverse(factors, pivots):
    """X⁻¹ by dgetri from dgetrf's output, with ``scipy.linalg.lapack.dgetri``'s default
    workspace (max(3n, 1)): Fortran-ordered, as f2py returns it."""
    n = factors.shape[0]
    inverse = factors.copy()
    size = max(3 * n, 1)
    work = np.empty(size)
    integers = np.empty(3, dtype=np.int32)  # order, workspace length, info
    integers[0], integers[1] = n, size
    _dgetri(integers[0:].ctypes, inverse.ctypes, integers[0:].ctypes, pivots.ctypes, work.ctypes,
            integers[1:].ctypes, integers[2:].ctypes)
    return inverse.T  # (the buffer holds X⁻¹ column-major)


@njit
def gemm(a, b, out):
    """out = a @ b for 2-D float64 operands each C- or F-contiguous, as NumPy's matmul
    calls dgemm (out C-ordered, every dimension ≥ 2; the caller checks both)."""
    m, k = a.shape
    n = b.shape[1]
    # NumPy: an operand whose rows are contiguous is passed as it is with its row
    # stride as the leading dimension, otherwise as the transpose of its column-major data.
    if a.strides[1] == 8:
        trans_a, lda = _NO_TRANSPOSE, a.strides[0] // 8
    else:
        trans_a, lda = _TRANSPOSE, a.strides[1] // 8
    if b.strides[1] == 8:
        trans_b, ldb = _NO_TRANSPOSE, b.strides[0] // 8
    else:
        trans_b, ldb = _TRANSPOSE, b.strides[1] // 8
    if a.ctypes.data == b.ctypes.data and m == n and trans_a != trans_b and lda == ldb:
        return _syrk(a, trans_a, lda, out)
    # (one small array for every by-reference argument: an allocation costs more than the product at n = 2)
    integers = np.empty(8, dtype=np.int32)
    integers[0], integers[1], integers[2], integers[3] = trans_b, trans_a, n, m
    integers[4], integers[5], integers[6], integers[7] = k, lda, ldb, n
    scalars = np.empty(2)
    scalars[0], scalars[1] = 1.0, 0.0
    # Row-major C = AB is column-major Cᵀ = BᵀAᵀ (OpenBLAS's cblas_dgemm, RowMajor); the flags are
    # single characters, read as the first byte of an int32 (little-endian, as on every platform
    # numba's wheels support).
    _dgemm(integers[0:].ctypes, integers[1:].ctypes, integers[2:].ctypes, integers[3:].ctypes,
           integers[4:].ctypes, scalars[0:].ctypes, b.ctypes, integers[6:].ctypes, a.ctypes,
           integers[5:].ctypes, scalars[1:].ctypes, out.ctypes, integers[7:].ctypes)
    return out


@njit
def _syrk(a, trans_a, lda, out):
    """out = A Aᵀ (or AᵀA) when the two operands are one matrix and its transpose:
    NumPy calls cblas_dsyrk (RowMajor, Upper) and copies the upper triangle down
    (``numpy/_core/src/common/cblasfuncs.c``, ``syrk``)."""
    n, k = out.shape[0], a.shape[1]
    integers = np.empty(6, dtype=np.int32)
    # RowMajor (Upper, trans) is column-major (Lower, the other trans): OpenBLAS's cblas_dsyrk.
    integers[0], integers[1] = ord("L"), _TRANSPOSE if trans_a == _NO_TRANSPOSE else _NO_TRANSPOSE
    integers[2], integers[3], integers[4], integers[5] = n, k, lda, n
    scalars = np.empty(2)
    scalars[0], scalars[1] = 1.0, 0.0
    _dsyrk(integers[0:].ctypes, integers[1:].ctypes, integers[2:].ctypes, integers[3:].ctypes,
           scalars[0:].ctypes, a.ctypes, integers[4:].ctypes, scalars[1:].ctypes, out.ctypes, integers[5:].ctypes)
    for i in range(n):
        for j in range(i + 1, n):
            out[j, i] = out[i, j]
    return out


@njit
def one_norm(X):
    """‖X‖₁: the largest column sum of |X|, each column summed from the top (dlange)."""
    m, n = X.shape
    value = 0.0
    for j in range(n):
        column = 0.0
        for i in range(m):
            column += abs(X[i, j])
        if value < column or math.isnan(column):
            value = column
    return value


@njit
def _block_sum(values, start, n):
    """NumPy's pairwise_sum for n ≤ 128: sequential below 8, else eight running sums."""
    if n < 8:
        total = 0.0
        for i in range(n):
            total += values[start + i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    i = 8
    while i < n - (n % 8):
        r0 += values[start + i]
        r1 += values[start + i + 1]
        r2 += values[start + i + 2]
        r3 += values[start + i + 3]
        r4 += values[start + i + 4]
        r5 += values[start + i + 5]
        r6 += values[start + i + 6]
        r7 += values[start + i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += values[start + i]
        i += 1
    return total


@njit
def pairwise_sum(values, start, n):
    """NumPy's pairwise sum of values[start:start + n] (PW_BLOCKSIZE 128, unrolled by 8):
    above 128 entries the sum of the two halves' sums, the first half a multiple of 8 long.
    (The recursion is written with an explicit stack: numba's disk cache mishandles
    recursive functions.)"""
    starts = np.empty(64, dtype=np.int64)
    lengths = np.empty(64, dtype=np.int64)
    lefts = np.empty(64)
    awaiting_right = np.zeros(64, dtype=np.bool_)
    depth = 0
    starts[0], lengths[0] = start, n
    while True:
        if lengths[depth] > 128:  # split: the left half first
            half = lengths[depth] // 2
            half -= half % 8
            awaiting_right[depth] = False
            depth += 1
            starts[depth], lengths[depth] = starts[depth - 1], half
            continue
        value = _block_sum(values, starts[depth], lengths[depth])
        while True:  # hand `value` up until a frame still needs its right half
            if depth == 0:
                return value
            depth -= 1
            if not awaiting_right[depth]:
                lefts[depth] = value
                awaiting_right[depth] = True
                half = lengths[depth] // 2
                half -= half % 8
                depth += 1
                starts[depth], lengths[depth] = starts[depth - 1] + half, lengths[depth - 1] - half
                break
            value = lefts[depth] + value


@njit
def sum_all(X):
    """``np.add.reduce(X, axis=None)`` of a C-contiguous X."""
    flat = X.ravel()
    return pairwise_sum(flat, 0, flat.size)


@njit
def sum_axis0(X):
    """``np.sum(X, axis=0)`` of a C-contiguous matrix: rows added in order."""
    m, n = X.shape
    total = X[0].copy()
    for i in range(1, m):
        for j in range(n):
            total[j] += X[i, j]
    return total


@njit
def log_abs_determinant(factors, pivots):
    """(sign, ln|det X|) from dgetrf's output, as kronvec's Factorization gives them for n ≤ 16:
    the sign of the product of the pivots times (−1)^(row swaps), the logarithm as NumPy's
    slogdet sums it (one after another, from 0)."""
    n = factors.shape[0]
    log_abs = 0.0
    product = 1.0
    swaps = 0
    for i in range(n):
        pivot = factors[i, i]
        product *= pivot
        log_abs += math.log(abs(pivot))
        if pivots[i] != i + 1:
            swaps += 1
    sign = math.copysign(1.0, product)
    if swaps % 2:
        sign = -sign
    return sign, log_abs


@njit
def all_finite(X):
    for x in X.ravel():
        if not math.isfinite(x):
            return False
    return True


@njit
def scaled_eye(n, scale):
    """c·I as ``kronvec.ops._support.scaled_identity`` writes it: I, times c unless c is 1."""
    eye = np.eye(n)
    if scale != 1.0:
        eye *= scale
    return eye


@njit
def kron_fill(a, b, scale, out, accumulate):
    """``out = scale·(a ⊗ b)``, or with `accumulate` ``out += …``, for a C-ordered `out`:
    each entry ``(scale·a[i, j])·b[k, l]``, the product ``kronvec.sparse.kron_dense`` forms
    (its NumPy path and its parallel kernel alike), written row by row on this thread.

    The dense form of the small Krons a compiled Jacobian returns
    (:mod:`kronvec._compiled.jacobian`): below ``config.numba_min_entries`` kron_dense
    broadcasts in NumPy, whose inner loop is one row of b long.
    """
    pa, qa = a.shape
    pb, qb = b.shape
    for i in range(pa):
        for k in range(pb):
            row = out[i * pb + k]
            for j in range(qa):
                factor = scale * a[i, j]
                base = j * qb
                if accumulate:
                    for l in range(qb):
                        row[base + l] += factor * b[k, l]
                else:
                    for l in range(qb):
                        row[base + l] = factor * b[k, l]
    return out


# ------------------------------------------------------------------ elementwise
# One kernel per entrywise expression, its operands matrices or scalars, written into
# an `out` the caller allocated in the layout NumPy would give: a fused program calls
# these (compiled once, cached on disk) rather than spelling out a loop per value,
# which made numba's compile of a program three times longer.
def _at(x, i, j):  # pragma: no cover - replaced by the overload below inside numba
    raise NotImplementedError


@overload(_at, inline="always")
def _at_overload(x, i, j):
    if isinstance(x, types.Array):
        return lambda x, i, j: x[i, j]
    return lambda x, i, j: x


# (Each kernel is written out: numba's disk cache keys a function by its name and source
# line, so kernels made by one factory would share — and overwrite — one cache entry.)
@njit
def _add(a, b, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _at(a, i, j) + _at(b, i, j)
    return out


@njit
def _subtract(a, b, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _at(a, i, j) - _at(b, i, j)
    return out


@njit
def _multiply(a, b, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _at(a, i, j) * _at(b, i, j)
    return out


@njit
def _divide(a, b, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _at(a, i, j) / _at(b, i, j)
    return out


@njit
def _negative(a, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = -_at(a, i, j)
    return out


@njit
def _tanh(a, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = math.tanh(_at(a, i, j))
    return out


@njit
def _exp(a, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = math.exp(_at(a, i, j))
    return out


@njit
def _log(a, out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = math.log(_at(a, i, j))
    return out


@njit
def _tanh_vjp(g, y, out):  # ḡ·(1 − y·y)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            y_ij = _at(y, i, j)
            out[i, j] = _at(g, i, j) * (1.0 - y_ij * y_ij)
    return out


@njit
def _quotient_vjp(g, y, b, out):  # (−ḡ·y)/b
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (-_at(g, i, j) * _at(y, i, j)) / _at(b, i, j)
    return out


@njit
def _log_vjp(g, x, out):  # ḡ·(1/x)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = _at(g, i, j) * (1.0 / _at(x, i, j))
    return out


#: name → its kernel (the same expressions for scalars: ``fused.SCALAR_EXPRESSIONS``).
ELEMENTWISE = {
    "add": _add, "subtract": _subtract, "multiply": _multiply, "divide": _divide, "negative": _negative,
    "tanh": _tanh, "exp": _exp, "log": _log,
    "tanh_vjp": _tanh_vjp, "quotient_vjp": _quotient_vjp, "log_vjp": _log_vjp,
}
