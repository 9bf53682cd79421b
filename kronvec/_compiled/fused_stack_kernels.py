"""numba pieces of a fused *stack* program (:mod:`kronvec._compiled.fused_stacks`).

A member-wise program computes, for member k of a stack, a small matrix
program and its reverse sweep; these are the per-member routines it calls.
Every one writes into an array it is handed (scratch allocated once per task
of members, or member k of the result), so the member loop allocates nothing.

* :func:`member_inverse` — X⁻¹ and ln|det X| of one member as the stack rules
  compute them (``kronvec._linalg.stacks``): the closed form adj(X)/det(X) for
  n ≤ ``SMALL_MAX_ORDER`` when the Hadamard ratio says it is as accurate as LU
  (``notes/derivatives.md`` §24.6), else one LU (LAPACK getrf, getri) — with
  the stack rules' checks: an exact zero pivot is *singular*, κ₁ above the
  warning threshold or a non-finite inverse is handed back to the Python
  program, which raises or warns exactly as uncompiled.
* :func:`mm` — a matrix product: loops for small members, SciPy's dgemm
  (:func:`.fused_kernels.gemm`) from 16×16×16 on.

This module imports numba; it is imported only when a stack program is fused.
"""

from __future__ import annotations

import math

import numpy as np

from .._kernels import _adjugate_member, _getrf_member, _getri_member
from .._linalg.stacks import HADAMARD_MIN, SMALL_MAX_ORDER
import numba

from .fused_kernels import gemm
from .fused_kernels import one_norm as _one_norm  # (a NaN column sum stays: κ₁ is NaN, the member falls back)

#: The per-member routines are inlined into the generated loop (numba IR inlining): at 3×3 a call
#: per routine and member — its array arguments, transposed views among them, passed as structs —
#: costs more than its arithmetic (the Gaussian objective over 100,000 3×3 members: 91 ms with
#: calls, 28 ms inlined; numba then takes ~10 s instead of ~6 s to compile a program).
njit = numba.njit(inline="always")

__all__ = ["member_inverse", "mm", "fill", "scale_into", "add_into", "negate", "eye_into", "total",
           "trace_product", "inner", "trace", "all_finite2", "OK", "SINGULAR", "FALL_BACK"]

#: Status of a member (and of a task of members): done; an exact zero pivot; anything
#: else the Python program must look at (ill-conditioned, non-finite, a domain error).
OK, SINGULAR, FALL_BACK = 0, 1, 2

_TINY = float(np.finfo(np.float64).tiny)

#: From this many multiply-adds on a product is BLAS's (below, a loop is faster than the call).
_GEMM_MIN_WORK = 16 * 16 * 16


@numba.njit  # (not inlined: one LU per member is work enough to repay a call, and inlining it doubles numba's compile)
def member_inverse(x, inverse, lu, pivots, threshold):
    """X⁻¹ into `inverse` and ``(status, ln|det X|)`` for one n×n member.

    `lu` (n×n, C-ordered) and `pivots` (n int32) are scratch.  Status
    :data:`SINGULAR` at an exact zero pivot, :data:`FALL_BACK` when κ₁ =
    ‖X‖₁‖X⁻¹‖₁ is above `threshold` or not finite (the stack rules warn, or
    raise, there: the Python program must run).
    """
    n = x.shape[0]
    logabsdet = 0.0
    closed = False
    if n <= SMALL_MAX_ORDER:
        # The closed form when |det X| / ∏ row norms ≥ HADAMARD_MIN (its error is then within a
        # small factor of LU's, derivatives.md §24.6), as kronvec._kernels.small_inverse_fill decides.
        rows = 1.0
        for i in range(n):
            square_sum = 0.0
            for j in range(n):
                square_sum += x[i, j] * x[i, j]
            rows *= math.sqrt(square_sum)
        det = _adjugate_member(x, inverse)
        magnitude = abs(det)
        if magnitude >= HADAMARD_MIN * rows and magnitude >= _TINY and magnitude < np.inf:
            for i in range(n):
                for j in range(n):
                    inverse[i, j] = inverse[i, j] / det
            logabsdet = math.log(magnitude)
            closed = True
    if not closed:
        # A C-ordered member is its transpose to LAPACK: the LU of Xᵀ has the same |det|, and
        # getri turns it into (Xᵀ)⁻¹, which read in C order is X⁻¹ (as _kernels.lu_inverse_fill).
        for i in range(n):
            for j in range(n):
                lu[i, j] = x[i, j]
        info = _getrf_member(lu, pivots)
        if info != 0:
            return SINGULAR, 0.0
        for i in range(n):
            logabsdet += math.log(abs(lu[i, i]))
        _getri_member(lu, pivots)
        for i in range(n):
            for j in range(n):
                inverse[i, j] = lu[i, j]
    kappa = _one_norm(x) * _one_norm(inverse)
    if not kappa <= threshold:  # (NaN and inf too: an overflowing inverse is the Python program's to name)
        return FALL_BACK, logabsdet
    return OK, logabsdet


@njit
def mm(a, b, out):
    """out = a @ b (2-D; out C-ordered scratch or a member of the result)."""
    m, p = a.shape
    n = b.shape[1]
    if m * n * p >= _GEMM_MIN_WORK and m >= 2 and n >= 2 and p >= 2:
        return gemm(a, b, out)
    for i in range(m):
        for j in range(n):
            out[i, j] = 0.0
        for l in range(p):
            factor = a[i, l]
            for j in range(n):
                out[i, j] += factor * b[l, j]
    return out


@njit
def fill(out, value):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = value
    return out


@njit
def scale_into(out, scale, a):
    """out = scale·a (a may be a transposed view)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = scale * a[i, j]
    return out


@njit
def add_into(out, a):
    """out += a."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += a[i, j]
    return out


@njit
def negate(out):
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = -out[i, j]
    return out


@njit
def eye_into(out, scale):
    """out = scale·I."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = scale if i == j else 0.0
    return out


@njit
def total(a):
    """Σᵢⱼ aᵢⱼ."""
    value = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            value += a[i, j]
    return value


@njit
def inner(a, b):
    """Σᵢⱼ aᵢⱼ bᵢⱼ (einsum 'ij,ij->')."""
    value = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            value += a[i, j] * b[i, j]
    return value


@njit
def trace_product(a, b):
    """tr(a b) = Σᵢⱼ aᵢⱼ bⱼᵢ (einsum 'ij,ji->'): ⟨a, bᵀ⟩, the same terms in the same order."""
    return inner(a, b.T)


@njit
def trace(a):
    value = 0.0
    for i in range(a.shape[0]):
        value += a[i, i]
    return value


@njit
def all_finite2(a):
    """Whether every entry of the 2-D a is finite."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            if not math.isfinite(a[i, j]):
                return False
    return True
