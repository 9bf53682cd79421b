"""Products of many n×n directions with fixed matrices, each one BLAS call.

Directions E₁ … E_k are held "row-interleaved": one C-contiguous array S of shape
(n, k, n) with S[:, j, :] = E_j.  Read as an n × kn matrix, S is [E₁ E₂ … E_k] side
by side, so B·E_j for every j is one product B·S; read as a kn × n matrix, S is the
E_j stacked, so E_j·B for every j is one product S·B.  Both run as BLAS ``dgemm``
on contiguous memory, and a sum of such products is accumulated by ``dgemm`` itself
(its β = 1), without temporaries (``notes/derivatives.md`` §43).

Nothing here knows about tracing, operators or derivatives.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dgemm as _dgemm

__all__ = ["left", "right", "combinations"]


def _gemm(a, b, c, alpha, beta):
    """c ← alpha·a·b + beta·c in place, for C-contiguous float64 2-D arrays: dgemm on the
    transposes (cᵀ = bᵀaᵀ, each an F-contiguous view of the C-contiguous array)."""
    result = _dgemm(alpha, b.T, a.T, beta, c.T, overwrite_c=True)
    if not np.shares_memory(result, c):  # pragma: no cover - f2py copied c after all
        c[...] = result.T


def left(B, S, out, beta=0.0, alpha=1.0):
    """out ← alpha·B·E_j + beta·out for every direction of S (n, k, n); returns out."""
    n = S.shape[0]
    _gemm(B, S.reshape(n, -1), out.reshape(n, -1), alpha, beta)
    return out


def right(S, B, out, beta=0.0, alpha=1.0):
    """out ← alpha·E_j·B + beta·out for every direction of S (n, k, n); returns out."""
    n = S.shape[-1]
    _gemm(S.reshape(-1, n), B, out.reshape(-1, n), alpha, beta)
    return out


def combinations(coefficients, M, out):
    """out[i] ← Σ_j coefficients[i][j]·M[j] for stacked arrays M (p, …) and out (q, …):
    every linear combination in one product (q × p)·(p × size), one pass over the M_j
    where NumPy's scaled sums would make two per term and combination."""
    C = np.asarray(coefficients, dtype=np.float64)
    np.matmul(C, M.reshape(len(M), -1), out=out.reshape(len(out), -1))
    return out
