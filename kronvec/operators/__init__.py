"""Structured matrices: what a Jacobian in vec form *is*.

Every class is a :class:`scipy.sparse.linalg.LinearOperator` with an
explicit float dtype, ``.T``, ``toarray()``, ``tosparse()`` and a formula.

One module, one job: ``basic`` (leaves), ``kron``, ``selection`` (0/1 index
maps), ``sylvester`` (the Kronecker sum I ⊗ A + Bᵀ ⊗ I and its inverse),
``triangle`` (QR's fold vec C ↦ vec(triu C + (tril C₋₁)ᵀ)), ``composite`` (Sum, Product, Scaled), ``contraction`` (einsum Jacobians),
``algebra`` (the laws), ``_evaluate`` (applying DAGs of composites
iteratively), ``_materialize`` (toarray/tosparse within the memory limits), ``_formula`` (labels and
formulas), ``_dag`` (the non-recursive walk they share), ``_precision`` (an exact
operator declared float32 inside a Jacobian of float32 values).
"""

from ._base import StructuredOperator, as_operator
from .batched import BatchedDense, BatchedKron
from .basic import Dense, Diag, Identity, RowVector, Sparse, Wrapped, Zero
from .composite import Product, Scaled, Sum
from .contraction import Contraction
from .kron import Kron
from .sylvester import KroneckerSum, SylvesterInverse
from .triangle import HalvedLowerMask, TriangleFold
from .selection import (
    Commutation,
    Duplication,
    Elimination,
    Selection,
    SelectionTranspose,
    selection_from_index,
)

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
    "KroneckerSum",
    "SylvesterInverse",
    "BatchedKron",
    "BatchedDense",
    "Commutation",
    "Duplication",
    "Elimination",
    "Selection",
    "SelectionTranspose",
    "selection_from_index",
    "Sum",
    "Product",
    "Scaled",
    "Contraction",
    "TriangleFold",
    "HalvedLowerMask",
]
