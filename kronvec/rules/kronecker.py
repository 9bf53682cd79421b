"""Rules for the Kronecker product A ⊗ B with respect to each factor.

With A of shape (m, n) and B of shape (p, q), Magnus–Neudecker Thm 3.10 gives

    vec(A ⊗ B) = (I_n ⊗ K_{q,m} ⊗ I_p)(vec A ⊗ vec B),

and since vec A ⊗ vec B = (I_{mn} ⊗ vec B) vec A = (vec A ⊗ I_{pq}) vec B,

    D_A vec(A ⊗ B) = (I_n ⊗ K_{q,m} ⊗ I_p)(I_{mn} ⊗ vec B),
    D_B vec(A ⊗ B) = (I_n ⊗ K_{q,m} ⊗ I_p)(vec A ⊗ I_{pq}).
"""

from __future__ import annotations

import numpy as np

from .. import algebra
from .._vec import vec
from ..operators import Commutation, Dense, Identity, Kron
from . import _samples
from .._linalg.checks import as_matrix
from ._registry import rule

__all__ = ["kron_wrt_left", "kron_wrt_right"]


def _regrouping(m, n, p, q):
    """I_n ⊗ K_{q,m} ⊗ I_p: takes vec A ⊗ vec B to vec(A ⊗ B)."""
    return Kron(Identity(n), Kron(Commutation(q, m), Identity(p)))


def _kron_values(A, B, operation):
    return as_matrix(A, "A", operation), as_matrix(B, "B", operation)


@rule(
    primal=np.kron,
    sample=_samples.two_for_kron,
    formula="(I_n ⊗ K_{q,m} ⊗ I_p)(I_{mn} ⊗ vec B)",
    reference="Magnus–Neudecker ch. 3, Thm 10",
    argnum=0,
)
def kron_wrt_left(A, B):
    """Jacobian of A ↦ A ⊗ B: ``(I_n ⊗ K_{q,m} ⊗ I_p)(I_{mn} ⊗ vec B)``.

    Examples
    --------
    >>> import numpy as np
    >>> A, B = np.ones((2, 3)), np.arange(4.).reshape(2, 2)
    >>> J = kron_wrt_left(A, B)
    >>> J.shape
    (24, 6)
    """
    A, B = _kron_values(A, B, "kron_wrt_left")
    (m, n), (p, q) = A.shape, B.shape
    column = Kron(Identity(m * n), Dense(vec(B).reshape(-1, 1), name="vec(B)"))
    return algebra.multiply(_regrouping(m, n, p, q), column)


@rule(
    primal=np.kron,
    sample=_samples.two_for_kron,
    formula="(I_n ⊗ K_{q,m} ⊗ I_p)(vec A ⊗ I_{pq})",
    reference="Magnus–Neudecker ch. 3, Thm 10",
    argnum=1,
)
def kron_wrt_right(A, B):
    """Jacobian of B ↦ A ⊗ B: ``(I_n ⊗ K_{q,m} ⊗ I_p)(vec A ⊗ I_{pq})``.

    Examples
    --------
    >>> import numpy as np
    >>> kron_wrt_right(np.ones((2, 3)), np.ones((2, 2))).shape
    (24, 4)
    """
    A, B = _kron_values(A, B, "kron_wrt_right")
    (m, n), (p, q) = A.shape, B.shape
    column = Kron(Dense(vec(A).reshape(-1, 1), name="vec(A)"), Identity(p * q))
    return algebra.multiply(_regrouping(m, n, p, q), column)
