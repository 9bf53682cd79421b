"""kronvec: matrix calculus in vec form, with structured Jacobians.

Conventions (see ``notes/conventions.md``): vec is column-major;
``Kron(A, B)`` equals ``np.kron(A, B)``; Jacobians are numerator layout
∂vec F/∂(vec X)ᵀ; a gradient is shaped like X.

Importing kronvec compiles nothing: numba kernels are loaded on the first
large materialization only.
"""

from ._config import config
from .operators import (
    Commutation,
    Dense,
    Diag,
    Duplication,
    Elimination,
    Identity,
    Kron,
    Product,
    RowVector,
    Scaled,
    Selection,
    Sparse,
    StructuredOperator,
    Sum,
    Zero,
    as_operator,
)
from ._config import IllConditionedWarning
from ._catalog import SUPPORTED_FUNCTIONS
from ._vec import unvec, vec
from .api import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .ops import Primitive, primitive
from . import rules

__version__ = "0.1.0"

__all__ = [
    "jacobian",
    "grad",
    "value_and_grad",
    "jvp",
    "vjp",
    "hessian",
    "hvp",
    "primitive",
    "Primitive",
    "SUPPORTED_FUNCTIONS",
    "IllConditionedWarning",
    "config",
    "rules",
    "vec",
    "unvec",
    "StructuredOperator",
    "as_operator",
    "Identity",
    "Zero",
    "Dense",
    "Sparse",
    "Diag",
    "RowVector",
    "Kron",
    "Commutation",
    "Duplication",
    "Elimination",
    "Selection",
    "Sum",
    "Product",
    "Scaled",
]


def __getattr__(name):
    # kronvec.optimize imports scipy.optimize; load it only when asked for.
    if name == "optimize":
        import importlib

        return importlib.import_module(".optimize", __name__)
    raise AttributeError(f"module 'kronvec' has no attribute {name!r}")
