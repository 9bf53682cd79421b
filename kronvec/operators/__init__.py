"""Structured matrices: what a Jacobian in vec form *is*.

Every class is a :class:`scipy.sparse.linalg.LinearOperator` with an
explicit float dtype, ``.T``, ``toarray()``, ``tosparse()`` and a formula.
"""

from ._base import StructuredOperator, as_operator
from .basic import Dense, Diag, Identity, RowVector, Sparse, Wrapped, Zero
from .composite import Product, Scaled, Sum
from .kron import Kron
from .selection import Commutation, Duplication, Elimination, Selection, SelectionTranspose

__all__ = [
    "StructuredOperator",
    "as_operator",
    "Identity",
    "Zero",
    "Dense",
    "Sparse",
    "Diag",
    "RowVector",
    "Wrapped",
    "Kron",
    "Commutation",
    "Duplication",
    "Elimination",
    "Selection",
    "SelectionTranspose",
    "Sum",
    "Product",
    "Scaled",
]
