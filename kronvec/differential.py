"""The calculus: the differential-to-vec engine and the combinators.

Every rule in :mod:`kronvec.rules` is written the way the textbooks write
it — in differential form, ``dF = Σ Lₖ · dX · Rₖ`` — and turned into vec
form by :func:`linear_map`, which uses

    vec(L · dX · R)  = (Rᵀ ⊗ L) vec dX                      (Magnus–Neudecker Thm 2.2)
    vec(L · dXᵀ · R) = (Rᵀ ⊗ L) K_{m,n} vec dX   for X m×n   (ibid. ch. 3)

so the transpose/ordering step, the classic matrix-calculus bug, is written
once, here.
"""

from __future__ import annotations

import numpy as np

from . import algebra
from .operators import Commutation, Identity, as_operator

__all__ = ["linear_map", "product_rule", "chain_rule", "sum_rule"]


def linear_map(L, R, in_shape, transposed=False, scale=1.0):
    """Jacobian of ``X ↦ scale · L · X · R`` (or ``L · Xᵀ · R``), numerator layout.

    Parameters
    ----------
    L, R : StructuredOperator, array_like or None
        The fixed left and right factors; ``None`` means the identity of the
        right size.
    in_shape : tuple (m, n)
        Shape of X.
    transposed : bool
        Differentiate ``L · Xᵀ · R`` instead.
    scale : float

    Returns
    -------
    StructuredOperator
        ``scale · (Rᵀ ⊗ L)``, times ``K_{m,n}`` when `transposed`.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1., 2.], [3., 4.]])
    >>> J = linear_map(A, None, (2, 3))          # X ↦ A X
    >>> J.formula()
    'I₃ ⊗ M₁'
    """
    m, n = in_shape
    rows, cols = (n, m) if transposed else (m, n)  # shape of the dX that L and R see
    L = Identity(rows) if L is None else as_operator(L)
    R = Identity(cols) if R is None else as_operator(R)
    if L.shape[1] != rows or R.shape[0] != cols:
        raise ValueError(
            f"linear map L·dX·R: L of shape {L.shape}, dX of shape {(rows, cols)} and "
            f"R of shape {R.shape} do not conform"
        )
    jacobian = algebra.kron(R.T, L)
    if scale != 1.0:
        jacobian = algebra.scale(jacobian, scale)
    if transposed:
        jacobian = algebra.multiply(jacobian, Commutation(m, n))
    return jacobian


def product_rule(F, dF, G, dG):
    """Jacobian of the product F·G from the Jacobians of its factors.

    ``D(FG) = (Gᵀ ⊗ I_p) DF + (I_q ⊗ F) DG`` for F of shape (p, r) and G of
    shape (r, q) (Magnus–Neudecker ch. 5; the seed notes' product rule).
    The result stays structured: with Kron-structured DF and DG it is a Sum
    of Krons (or of Products of Krons), never a dense matrix.

    Parameters
    ----------
    F, G : array_like
        Values of the two factors at the point.
    dF, dG : StructuredOperator
        Their Jacobians w.r.t. the same variable (same number of columns).

    Examples
    --------
    >>> import numpy as np
    >>> from kronvec import Identity
    >>> X = np.array([[1., 2.], [3., 4.]])
    >>> J = product_rule(X, Identity(4), X, Identity(4))   # D(X·X)
    >>> np.allclose(J.toarray(), np.kron(X.T, np.eye(2)) + np.kron(np.eye(2), X))
    True
    """
    F, G = np.asarray(F), np.asarray(G)
    if F.ndim != 2 or G.ndim != 2 or F.shape[1] != G.shape[0]:
        raise ValueError(
            f"product rule D(FG) needs F (p×r) and G (r×q); got F of shape {F.shape} "
            f"and G of shape {G.shape}"
        )
    dF, dG = as_operator(dF), as_operator(dG)
    if dF.shape[0] != F.size or dG.shape[0] != G.size or dF.shape[1] != dG.shape[1]:
        raise ValueError(
            f"product rule: DF of shape {dF.shape} must have {F.size} rows, DG of shape "
            f"{dG.shape} must have {G.size} rows, and both the same number of columns"
        )
    left = algebra.multiply(linear_map(None, G, F.shape), dF)  # (Gᵀ ⊗ I_p) DF
    right = algebra.multiply(linear_map(F, None, G.shape), dG)  # (I_q ⊗ F) DG
    return algebra.add(left, right)


def chain_rule(Dg_at_f, Df):
    """``D(g∘f)(X) = Dg(f(X)) · Df(X)``, composed with every structure law.

    >>> from kronvec import Kron, Identity, Commutation
    >>> chain_rule(Commutation(2, 2), Kron(Identity(2), Identity(2))).formula()
    'K₂,₂'
    """
    return algebra.multiply(as_operator(Dg_at_f), as_operator(Df))


def sum_rule(*jacobians):
    """``D(F₁ + F₂ + …) = DF₁ + DF₂ + …`` (sums flattened, like terms merged)."""
    if not jacobians:
        raise ValueError("sum_rule needs at least one Jacobian")
    total = as_operator(jacobians[0])
    for jacobian in jacobians[1:]:
        total = algebra.add(total, as_operator(jacobian))
    return total
