"""Rules for linear maps: transpose and matrix products."""

from __future__ import annotations

import numpy as np

from ..differential import linear_map
from ..operators import Commutation, Dense
from . import _samples
from .._linalg.checks import as_matrix
from ._registry import rule

__all__ = ["transpose", "matmul_wrt_left", "matmul_wrt_right", "sandwich"]


@rule(
    primal=np.transpose,
    sample=_samples.one_rectangular,
    formula="K_{m,n}",
    reference="Magnus–Neudecker ch. 3 (commutation matrix)",
)
def transpose(X_or_m, n=None):
    """Jacobian of X ↦ Xᵀ for X of shape (m, n): the commutation matrix K_{m,n}.

    Call as ``transpose(X)`` or ``transpose(m, n)``.

    Examples
    --------
    >>> transpose(2, 3)
    <6×6 Commutation: K₂,₃, dtype=float64>
    """
    if n is None:
        X = as_matrix(X_or_m, "X", "transpose")
        (m, n), dtype = X.shape, X.dtype
    else:
        m, dtype = X_or_m, np.float64
    return Commutation(int(m), int(n), dtype)


def _matmul_values(A, B, operation):
    A = as_matrix(A, "A", operation)
    B = as_matrix(B, "B", operation, allow_vector=True)
    if A.shape[1] != B.shape[0]:
        raise ValueError(
            f"{operation}: A @ B needs A's columns == B's rows; got {A.shape} @ {B.shape}"
        )
    return A, B


@rule(
    primal=np.matmul,
    sample=_samples.two_for_matmul,
    formula="Bᵀ ⊗ I",
    reference="Magnus–Neudecker ch. 9; seed note 003 (product rule)",
    argnum=0,
)
def matmul_wrt_left(A, B):
    """Jacobian of A ↦ AB: ``Bᵀ ⊗ I_m`` for A of shape (m, k).

    Examples
    --------
    >>> import numpy as np
    >>> matmul_wrt_left(np.ones((2, 3)), np.ones((3, 4))).formula()
    'Bᵀ ⊗ I₂'
    """
    A, B = _matmul_values(A, B, "matmul_wrt_left")
    return linear_map(None, Dense(B, name="B"), A.shape)


@rule(
    primal=np.matmul,
    sample=_samples.two_for_matmul,
    formula="I ⊗ A",
    reference="Magnus–Neudecker ch. 9",
    argnum=1,
)
def matmul_wrt_right(A, B):
    """Jacobian of B ↦ AB: ``I_q ⊗ A`` for B of shape (k, q).

    Examples
    --------
    >>> import numpy as np
    >>> matmul_wrt_right(np.ones((2, 3)), np.ones((3, 4))).formula()
    'I₄ ⊗ A'
    """
    A, B = _matmul_values(A, B, "matmul_wrt_right")
    return linear_map(Dense(A, name="A"), None, B.shape)


@rule(
    primal=lambda A, X, B: A @ X @ B,
    sample=_samples.three_for_sandwich,
    formula="Bᵀ ⊗ A",
    reference="Magnus–Neudecker Thm 2.2: vec(AXB) = (Bᵀ ⊗ A) vec X",
    argnum=1,
)
def sandwich(A, X, B):
    """Jacobian of X ↦ AXB: ``Bᵀ ⊗ A``.

    Examples
    --------
    >>> import numpy as np
    >>> sandwich(np.ones((2, 3)), np.ones((3, 4)), np.ones((4, 5))).formula()
    'Bᵀ ⊗ A'
    """
    A = as_matrix(A, "A", "sandwich")
    X = as_matrix(X, "X", "sandwich")
    B = as_matrix(B, "B", "sandwich")
    if A.shape[1] != X.shape[0] or X.shape[1] != B.shape[0]:
        raise ValueError(
            f"sandwich: A @ X @ B needs conforming shapes; got {A.shape} @ {X.shape} @ {B.shape}"
        )
    return linear_map(Dense(A, name="A"), Dense(B, name="B"), X.shape)
