"""Rules for the trace."""

from __future__ import annotations

import numpy as np

from .._vec import vec
from ..operators import RowVector
from . import _samples
from .._linalg.checks import as_matrix, require_square
from ._registry import rule

__all__ = ["trace", "trace_product"]


@rule(
    primal=np.trace,
    sample=_samples.one_square,
    formula="vec(I)ᵀ",
    reference="Magnus–Neudecker ch. 9; Matrix Cookbook eq. (100)",
)
def trace(X):
    """Jacobian of X ↦ tr X: ``vec(I)ᵀ`` (the gradient is I).

    Examples
    --------
    >>> import numpy as np
    >>> trace(np.ones((2, 2))).toarray()
    array([[1., 0., 0., 1.]])
    """
    X = as_matrix(X, "X", "trace")
    require_square(X, "X", "trace")
    return RowVector(vec(np.eye(X.shape[0], dtype=X.dtype)), name="I")


@rule(
    primal=lambda X, A: np.trace(X @ A),
    sample=_samples.two_for_trace,
    formula="vec(Aᵀ)ᵀ",
    reference="seed notes: ∇_X tr(XA) = Aᵀ; Matrix Cookbook eq. (100)",
)
def trace_product(X, A):
    """Jacobian of X ↦ tr(XA): ``vec(Aᵀ)ᵀ`` (the gradient is Aᵀ).

    From ``d tr(XA) = tr(dX A) = vec(Aᵀ)ᵀ vec dX``.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1., 2.], [3., 4.]])
    >>> trace_product(np.eye(2), A).gradient((2, 2))
    array([[1., 3.],
           [2., 4.]])
    """
    X = as_matrix(X, "X", "trace_product")
    A = as_matrix(A, "A", "trace_product")
    if X.shape[::-1] != A.shape:
        raise ValueError(
            f"trace_product: tr(XA) needs A of shape {X.shape[::-1]} for X of shape "
            f"{X.shape}; got A of shape {A.shape}"
        )
    return RowVector(vec(A.T), name="Aᵀ")
