"""Rules for the Hadamard product and elementwise functions: diagonal Jacobians.

An elementwise map F(X)_{ij} = f(X_{ij}) has ``dF = f'(X) ∘ dX``, so
``DF = Diag(vec f'(X))`` (Magnus–Neudecker ch. 9; Matrix Cookbook §2.8).
"""

from __future__ import annotations

import numpy as np

from .._vec import vec
from ..operators import Diag
from . import _samples
from .._linalg.checks import as_matrix
from ._registry import rule

__all__ = [
    "elementwise",
    "hadamard_wrt_left",
    "hadamard_wrt_right",
    "exp",
    "log",
    "sqrt",
    "tanh",
    "square",
]


def elementwise(derivative_values, name="f'(X)"):
    """Jacobian of an elementwise map from its derivative values: ``Diag(vec f'(X))``.

    Examples
    --------
    >>> import numpy as np
    >>> elementwise(np.array([[1., 2.], [3., 4.]])).toarray().diagonal()
    array([1., 3., 2., 4.])
    """
    values = as_matrix(derivative_values, "f'(X)", "elementwise", allow_vector=True)
    return Diag(vec(values), name=f"diag(vec {name})")


def _same_shape(X, Y, operation):
    X = as_matrix(X, "X", operation)
    Y = as_matrix(Y, "Y", operation)
    if X.shape != Y.shape:
        raise ValueError(
            f"{operation}: the Hadamard product X ∘ Y needs equal shapes; got {X.shape} and {Y.shape}"
        )
    return X, Y


@rule(
    primal=np.multiply,
    sample=_samples.two_same_shape,
    formula="diag(vec Y)",
    reference="Magnus–Neudecker ch. 9; d(X ∘ Y) = dX ∘ Y + X ∘ dY",
    argnum=0,
)
def hadamard_wrt_left(X, Y):
    """Jacobian of X ↦ X ∘ Y: ``Diag(vec Y)``.

    >>> import numpy as np
    >>> hadamard_wrt_left(np.ones((1, 2)), np.array([[3., 4.]])).toarray()
    array([[3., 0.],
           [0., 4.]])
    """
    X, Y = _same_shape(X, Y, "hadamard_wrt_left")
    return Diag(vec(Y), name="diag(vec Y)")


@rule(
    primal=np.multiply,
    sample=_samples.two_same_shape,
    formula="diag(vec X)",
    reference="Magnus–Neudecker ch. 9",
    argnum=1,
)
def hadamard_wrt_right(X, Y):
    """Jacobian of Y ↦ X ∘ Y: ``Diag(vec X)``.

    >>> import numpy as np
    >>> hadamard_wrt_right(np.array([[3., 4.]]), np.ones((1, 2))).toarray()
    array([[3., 0.],
           [0., 4.]])
    """
    X, Y = _same_shape(X, Y, "hadamard_wrt_right")
    return Diag(vec(X), name="diag(vec X)")


@rule(primal=np.exp, sample=_samples.one_rectangular, formula="diag(vec exp X)",
      reference="d exp(x) = exp(x) dx")
def exp(X):
    """Jacobian of elementwise exp: ``Diag(vec exp(X))``."""
    X = as_matrix(X, "X", "exp", allow_vector=True)
    with np.errstate(over="ignore"):
        values = np.exp(X)
    if not np.isfinite(values).all():
        raise ValueError("exp: exp(X) overflows (X > ~709.78), so its derivative is not finite")
    return elementwise(values, name="exp(X)")


@rule(primal=np.log, sample=_samples.one_positive, formula="diag(vec X)⁻¹",
      reference="d log(x) = dx / x")
def log(X):
    """Jacobian of elementwise log: ``Diag(1 / vec X)``; X must be positive."""
    X = as_matrix(X, "X", "log", allow_vector=True)
    if np.any(X <= 0):
        raise ValueError("log: X must be positive for a real logarithm and its derivative")
    return elementwise(1.0 / X, name="1/X")


@rule(primal=np.sqrt, sample=_samples.one_positive, formula="diag(1 / (2 vec √X))",
      reference="d √x = dx / (2√x)")
def sqrt(X):
    """Jacobian of elementwise sqrt: ``Diag(1 / (2 √vec X))``; X must be positive."""
    X = as_matrix(X, "X", "sqrt", allow_vector=True)
    if np.any(X <= 0):
        raise ValueError("sqrt: X must be positive for sqrt to be differentiable")
    return elementwise(0.5 / np.sqrt(X), name="1/(2√X)")


@rule(primal=np.tanh, sample=_samples.one_rectangular, formula="diag(1 - vec tanh²X)",
      reference="d tanh(x) = (1 - tanh²x) dx")
def tanh(X):
    """Jacobian of elementwise tanh: ``Diag(1 - tanh²(vec X))``."""
    X = as_matrix(X, "X", "tanh", allow_vector=True)
    return elementwise(1.0 - np.tanh(X) ** 2, name="1 - tanh²X")


@rule(primal=np.square, sample=_samples.one_rectangular, formula="diag(2 vec X)",
      reference="d x² = 2x dx")
def square(X):
    """Jacobian of elementwise square: ``Diag(2 vec X)``."""
    X = as_matrix(X, "X", "square", allow_vector=True)
    return elementwise(2.0 * X, name="2X")
