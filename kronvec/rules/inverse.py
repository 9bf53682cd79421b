"""Rules for the inverse and for linear solves."""

from __future__ import annotations

import numpy as np

from ..differential import linear_map
from ..operators import Dense
from . import _samples
from .._linalg.checks import as_matrix, checked_inverse, require_square
from .._linalg.factorization import factorize
from ._registry import rule

__all__ = ["inv", "solve_wrt_a", "solve_wrt_b"]


@rule(
    primal=np.linalg.inv,
    sample=_samples.one_square,
    formula="-(X⁻ᵀ ⊗ X⁻¹)",
    reference="Magnus–Neudecker ch. 8.4; Matrix Cookbook eq. (59)",
)
def inv(X):
    """Jacobian of X ↦ X⁻¹: ``D(X⁻¹) = -(X⁻ᵀ ⊗ X⁻¹)``.

    From the differential ``d(X⁻¹) = -X⁻¹ · dX · X⁻¹``.  Numerator layout,
    column-major vec (``notes/conventions.md``).  O(n²) memory: one inverse
    is stored; applying the Jacobian costs two matrix products.

    Parameters
    ----------
    X : array_like, shape (n, n)
        Invertible.

    Returns
    -------
    Kron, shape (n², n²)

    Raises
    ------
    ValueError
        X not square, or not finite.
    numpy.linalg.LinAlgError
        X singular.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[2., 1.], [0., 1.]])
    >>> J = inv(X)
    >>> J
    <4×4 Kron: -(inv(X)ᵀ ⊗ inv(X)), dtype=float64>
    >>> Xi = np.linalg.inv(X)
    >>> np.allclose(J.toarray(), -np.kron(Xi.T, Xi))
    True
    """
    X = as_matrix(X, "X", "inv")
    require_square(X, "X", "inv")
    X_inv = Dense(checked_inverse(X, "inv"), name="inv(X)")
    return linear_map(X_inv, X_inv, X.shape, scale=-1.0)


def _solve_values(A, B, operation):
    A = as_matrix(A, "A", operation)
    require_square(A, "A", operation)
    B = as_matrix(B, "B", operation, allow_vector=True)
    if B.shape[0] != A.shape[0]:
        raise ValueError(
            f"{operation}: solve(A, B) needs B with {A.shape[0]} rows for A of shape "
            f"{A.shape}; got B of shape {B.shape}"
        )
    return A, B


@rule(
    primal=np.linalg.solve,
    sample=_samples.two_for_solve,
    formula="-((A⁻¹B)ᵀ ⊗ A⁻¹)",
    reference="Magnus–Neudecker ch. 8.4 (d(A⁻¹B) = -A⁻¹ dA A⁻¹B)",
    argnum=0,
)
def solve_wrt_a(A, B):
    """Jacobian of A ↦ A⁻¹B: ``-((A⁻¹B)ᵀ ⊗ A⁻¹)``.

    From ``d(A⁻¹B) = -A⁻¹ · dA · A⁻¹B``.  A 1-D `B` is treated as a column.

    Examples
    --------
    >>> import numpy as np
    >>> A, B = np.array([[2., 1.], [0., 1.]]), np.array([[1.], [2.]])
    >>> solve_wrt_a(A, B).formula()
    '-(solve(A, B)ᵀ ⊗ inv(A))'
    """
    A, B = _solve_values(A, B, "solve_wrt_a")
    factors = factorize(A, "solve_wrt_a")  # one factorization for A⁻¹ and A⁻¹B
    A_inv = Dense(factors.inverse(), name="inv(A)")
    X = Dense(factors.solve(B), name="solve(A, B)")
    return linear_map(A_inv, X, A.shape, scale=-1.0)


@rule(
    primal=np.linalg.solve,
    sample=_samples.two_for_solve,
    formula="I ⊗ A⁻¹",
    reference="Magnus–Neudecker ch. 8.4",
    argnum=1,
)
def solve_wrt_b(A, B):
    """Jacobian of B ↦ A⁻¹B: ``I_k ⊗ A⁻¹`` for B with k columns.

    Examples
    --------
    >>> import numpy as np
    >>> solve_wrt_b(np.eye(2) * 2, np.ones((2, 3))).formula()
    'I₃ ⊗ inv(A)'
    """
    A, B = _solve_values(A, B, "solve_wrt_b")
    A_inv = Dense(checked_inverse(A, "solve_wrt_b"), name="inv(A)")
    return linear_map(A_inv, None, B.shape)
