"""Matrix products on the same BLAS as kronvec's factorizations.

NumPy and SciPy wheels each bundle their own OpenBLAS, each with its own
thread pool.  After a threaded call a pool's workers keep spinning on the
cores for a while (tens of ms) waiting for more work; a threaded call into
the *other* library then finds those cores taken, and its workers wait for
the scheduler.  :mod:`.factorization` calls LAPACK through
``scipy.linalg.lapack``, so a hot path that multiplied with ``ndarray.dot``
(NumPy's BLAS) between two factorizations paid that wait at every switch:
on the 2-core machine of ``benchmarks/measure_threads.py``, value and
gradient of ln|S| + tr(S⁻¹C) ran 5× slower than the NumPy closed form at
n = 128 on an idle machine and up to 80× with one busy neighbour, and
1.7 ms with ``OPENBLAS_NUM_THREADS=1``.

So :func:`matmul` multiplies with SciPy's ``gemm`` -- the library that does
the factorizations -- whenever OpenBLAS may use threads for the product
(m·n·k ≥ 2¹⁹, where its gemm starts splitting the work), and with
``ndarray.dot`` below that: there no library starts a thread, and
``ndarray.dot`` is the cheapest call (~0.4 µs at n = 4 against ~0.7 µs
for SciPy's f2py wrapper).  Where NumPy and SciPy share one BLAS (conda,
distribution packages) the choice costs nothing either way.

Row-major operands are handed to ``gemm`` as their transposed (column-major)
views with the transpose flag set, so no operand is copied.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.linalg import blas

__all__ = ["matmul"]

# OpenBLAS's gemm runs on one thread while m·n·k < 2 × 2¹⁸ (its
# GEMM_MULTITHREAD_THRESHOLD × SMP_THRESHOLD_MIN, halved per extra thread).
_POOL_MIN_WORK = 1 << 19


@functools.lru_cache(maxsize=None)
def _gemm(precision):
    """SciPy's sgemm or dgemm for NumPy type code `precision` ("f" or "d")."""
    return blas.get_blas_funcs("gemm", dtype=np.dtype(precision))


def _operand(x):
    """(array, transpose flag) for gemm: a row-major x goes as its column-major view xᵀ."""
    flags = x.flags
    if flags.c_contiguous and not flags.f_contiguous:
        return x.T, 1
    return x, 0


def matmul(a, b):
    """``a @ b`` for 2-D arrays, on SciPy's BLAS when the product is large enough to be threaded.

    Parameters
    ----------
    a : ndarray, shape (m, k)
    b : ndarray, shape (k, n)
        Any memory layout; never modified.  Float32 and float64 operands
        (the same or mixed, mixed giving float64) go to BLAS; other dtypes
        (integers, float16, complex) are multiplied by NumPy.

    Returns
    -------
    ndarray, shape (m, n)
        A new writeable array that owns its memory, equal to ``a @ b`` up to
        rounding.  Its layout follows the route taken: row-major from
        ``ndarray.dot``, column-major from ``gemm``.

    Raises
    ------
    ValueError
        If a or b is not 2-D, or their inner dimensions differ.
    """
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"matmul: expected 2-D arrays, got shapes {a.shape} and {b.shape}")
    m, k = a.shape
    if m * k * b.shape[1] < _POOL_MIN_WORK:
        return a.dot(b)  # (which checks the shapes)
    if k != b.shape[0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned ({k} != {b.shape[0]})")
    precision = _blas_precision(a.dtype.char, b.dtype.char)
    if precision is None:
        return a.dot(b)
    if a.dtype.char != precision:
        a = a.astype(precision)
    if b.dtype.char != precision:
        b = b.astype(precision)
    (a, trans_a), (b, trans_b) = _operand(a), _operand(b)
    return _gemm(precision)(1.0, a, b, trans_a=trans_a, trans_b=trans_b)


def _blas_precision(char_a, char_b):
    """"d" or "f" when NumPy would multiply in that BLAS precision, else None."""
    if char_a in "fd" and char_b in "fd":
        return "f" if char_a == char_b == "f" else "d"
    return None
