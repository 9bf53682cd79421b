"""Rules for the determinant and the log-determinant."""

from __future__ import annotations

import numpy as np

from .._vec import vec
from .. import algebra
from ..operators import Commutation, Dense, Diag, Kron, RowVector, Selection, Zero
from . import _samples
from .._linalg.checks import as_matrix, checked_inverse, logabsdet, require_square
from ._registry import rule

__all__ = ["adjugate", "det", "det_hessian", "logdet"]


def adjugate(X):
    """The adjugate adj(X) (transposed cofactor matrix), exact for singular X.

    Computed from the SVD X = UΣVᵀ as ``adj(X) = det(U)·det(V)·V·adj(Σ)·Uᵀ``,
    where ``adj(Σ) = diag(∏_{j≠i} σ_j)``: no division by det(X), so rank n−1
    gives the rank-one adjugate ``det(U)det(V)σ₁⋯σₙ₋₁ vₙuₙᵀ`` and rank ≤ n−2
    gives exactly zero.  Uses ``adj(AB) = adj(B)adj(A)`` and
    ``adj(Q) = det(Q)Qᵀ`` for orthogonal Q.

    Examples
    --------
    >>> import numpy as np
    >>> adjugate(np.array([[1., 2.], [3., 4.]]))
    array([[ 4., -2.],
           [-3.,  1.]])
    >>> adjugate(np.zeros((3, 3)))
    array([[0., 0., 0.],
           [0., 0., 0.],
           [0., 0., 0.]])
    """
    X = as_matrix(X, "X", "adjugate")
    require_square(X, "X", "adjugate")
    n = X.shape[0]
    if n == 0:
        return np.zeros((0, 0), dtype=X.dtype)
    if n == 1:
        return np.ones((1, 1), dtype=X.dtype)
    if n == 2:  # exact: adj [[a, b], [c, d]] = [[d, -b], [-c, a]]
        return np.array([[X[1, 1], -X[0, 1]], [-X[1, 0], X[0, 0]]])
    U, s, Vt = np.linalg.svd(X)
    # ∏_{j≠i} σ_j as prefix · suffix products, never dividing by a zero σ.
    one = np.ones(1, dtype=s.dtype)  # a Python 1.0 here would promote float32 to float64
    prefix = np.concatenate((one, np.cumprod(s[:-1])))
    suffix = np.concatenate((np.cumprod(s[::-1][:-1])[::-1], one))
    sign = np.sign(np.linalg.det(U)) * np.sign(np.linalg.det(Vt))
    return (sign * (Vt.T * (prefix * suffix))) @ U.T


@rule(
    primal=np.linalg.det,
    sample=_samples.one_square_for_det,
    formula="vec(adj(X)ᵀ)ᵀ = |X| vec(X⁻ᵀ)ᵀ",
    reference="Magnus–Neudecker ch. 8.3; Matrix Cookbook eq. (49); seed note 003",
)
def det(X):
    """Jacobian of X ↦ |X|: ``D|X| = vec(adj(X)ᵀ)ᵀ``, i.e. ``|X| vec(X⁻ᵀ)ᵀ`` when invertible.

    From ``d|X| = tr(adj(X) dX)``.  Exact and finite for singular X: rank
    n−1 gives the nonzero adjugate, rank ≤ n−2 gives zero; 1×1 and 0×0
    matrices included.  The gradient (shaped like X) is ``adj(X)ᵀ``.

    Returns
    -------
    RowVector, shape (1, n²)

    Examples
    --------
    >>> import numpy as np
    >>> det(np.array([[1., 2.], [3., 4.]])).gradient((2, 2))
    array([[ 4., -3.],
           [-2.,  1.]])
    >>> det(np.array([[0., 1.], [0., 1.]])).gradient((2, 2))   # singular
    array([[ 1., -0.],
           [-1.,  0.]])
    """
    X = as_matrix(X, "X", "det")
    require_square(X, "X", "det")
    return RowVector(vec(adjugate(X).T), name="adj(X)ᵀ")


@rule(
    primal=lambda X: np.linalg.slogdet(X)[1],
    sample=_samples.one_square,
    formula="vec(X⁻ᵀ)ᵀ",
    reference="Magnus–Neudecker ch. 8.3; Matrix Cookbook eq. (57); seed note 003",
)
def logdet(X):
    """Jacobian of X ↦ ln|det X|: ``vec(X⁻ᵀ)ᵀ`` (sign-aware, like ``slogdet``).

    From ``d ln|X| = tr(X⁻¹ dX)``; valid for negative determinants too.

    Raises
    ------
    numpy.linalg.LinAlgError
        X singular (the log-determinant is -inf there).

    Examples
    --------
    >>> import numpy as np
    >>> logdet(np.diag([2., -4.])).gradient((2, 2)) + 0.0   # + 0.0 turns -0. into 0.
    array([[ 0.5 ,  0.  ],
           [ 0.  , -0.25]])
    """
    X = as_matrix(X, "X", "logdet")
    require_square(X, "X", "logdet")
    logabsdet(X, "logdet")  # raises LinAlgError at singular X
    return RowVector(vec(checked_inverse(X, "logdet").T), name="inv(X)ᵀ")


def _products_of_all_but_two(s):
    """``C[i, j] = ∏_{k ≠ i, j} s_k`` for i ≠ j and 0 on the diagonal, without division."""
    n = s.size
    C = np.zeros((n, n), dtype=s.dtype)
    for i in range(n):
        rest = np.delete(s, i)
        one = np.ones(1, dtype=s.dtype)
        prefix = np.concatenate((one, np.cumprod(rest[:-1])))
        suffix = np.concatenate((np.cumprod(rest[::-1][:-1])[::-1], one))
        C[i, np.arange(n) != i] = prefix * suffix
    return C


def _adjugate_transpose(X):
    return adjugate(X).T


@rule(
    primal=_adjugate_transpose,
    sample=_samples.one_square_for_det,
    formula="s·(V ⊗ U)·(diag(-vec C)·K + Eᵀ C E)·(Vᵀ ⊗ Uᵀ)",
    reference="second-order expansion of det(Σ + UᵀdXV) in the SVD X = UΣVᵀ",
)
def det_hessian(X):
    """Hessian of X ↦ |X|: the Jacobian of vec ∇|X| = vec adj(X)ᵀ, exact at every rank.

    With the SVD X = UΣVᵀ and Ẽ = Uᵀ dX V, ``|X + dX| = s·|Σ + Ẽ|`` with
    s = det(U)det(V) = ±1, whose second-order term is
    ``Σ_{i<j} c_ij (Ẽ_ii Ẽ_jj − Ẽ_ij Ẽ_ji)`` with ``c_ij = ∏_{k≠i,j} σ_k``.
    Nothing is divided by a singular value, so rank n−1 and rank ≤ n−2
    matrices get their exact (nonzero, resp. possibly nonzero) Hessians —
    unlike ``|X|·(vec X⁻ᵀ vec(X⁻ᵀ)ᵀ − (X⁻¹ ⊗ X⁻ᵀ)K)``, which needs X⁻¹.

    Returns
    -------
    StructuredOperator, shape (n², n²)
        ``s·(V ⊗ U)·M·(Vᵀ ⊗ Uᵀ)`` where M acts on vec Ẽ as
        ``Ẽ ↦ −C ∘ Ẽᵀ + diag(C·diag(Ẽ))``.

    Examples
    --------
    >>> import numpy as np
    >>> H = det_hessian(np.zeros((3, 3)))           # rank 0: still exact
    >>> bool(np.all(H.toarray() == 0))
    True
    >>> H = det_hessian(np.eye(2))                   # |X| = x₁₁x₂₂ − x₁₂x₂₁
    >>> H.toarray().round(12) + 0.0
    array([[ 0.,  0.,  0.,  1.],
           [ 0.,  0., -1.,  0.],
           [ 0., -1.,  0.,  0.],
           [ 1.,  0.,  0.,  0.]])
    """
    X = as_matrix(X, "X", "det_hessian")
    require_square(X, "X", "det_hessian")
    n = X.shape[0]
    if n <= 1:  # |X| is linear (or constant): its Hessian vanishes
        return Zero((n * n, n * n), X.dtype)
    U, s, Vt = np.linalg.svd(X)
    sign = float(np.sign(np.linalg.det(U)) * np.sign(np.linalg.det(Vt)))
    C = _products_of_all_but_two(s)
    diagonal = Selection(np.arange(n) * (n + 1), n * n, name="E")  # vec E ↦ diag E
    middle = algebra.add(
        algebra.multiply(Diag(vec(-C), name="diag(-vec C)"), Commutation(n, n)),
        algebra.multiply(diagonal.T, algebra.multiply(Dense(C, name="C"), diagonal)),
    )
    to_svd_basis = Kron(Dense(Vt, name="Vᵀ"), Dense(U.T, name="Uᵀ"))  # vec(Uᵀ W V)
    from_svd_basis = Kron(Dense(Vt.T, name="V"), Dense(U, name="U"))  # vec(U G Vᵀ)
    return algebra.scale(
        algebra.multiply(from_svd_basis, algebra.multiply(middle, to_svd_basis)), sign
    )
