"""Input validation shared by the rules: one message style everywhere."""

from __future__ import annotations

import numpy as np

from .._config import config
from .factorization import all_finite, factorize

__all__ = ["as_matrix", "require_square", "checked_inverse", "checked_solve", "logabsdet"]


def as_matrix(X, name, operation, allow_vector=False):
    """Validate one matrix argument of a rule and return it as a float array.

    Ints are promoted to float64 and float32 is kept; complex input is
    refused (the rules are derived for real matrices); NaN/inf raise
    ``ValueError`` unless ``kronvec.config.check_finite`` is off.  The
    input is never modified.
    """
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise TypeError(f"{operation}: {name} is complex ({X.dtype}); kronvec rules are real")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{operation}: {name} must be numeric, got dtype {X.dtype}")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if allow_vector and X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(f"{operation}: {name} must be a 2-D matrix, got shape {X.shape}")
    if config.check_finite and not all_finite(X):
        raise ValueError(
            f"{operation}: {name} contains NaN or inf; kronvec refuses non-finite input "
            "(set kronvec.config.check_finite = False to skip this check)"
        )
    return X


def require_square(X, name, operation):
    if X.shape[0] != X.shape[1]:  # (NumPy's error type: LinAlgError, a ValueError)
        raise np.linalg.LinAlgError(f"{operation}: {name} must be square, got shape {X.shape}")


def checked_inverse(X, operation):
    """``inv(X)`` raising ``LinAlgError`` that names the operation when X is singular,
    and warning once when X is ill-conditioned (see ``config.condition_warning``).

    The result may be shared within a differentiation call: do not modify it.
    """
    return factorize(X, operation).inverse()


def checked_solve(A, B, operation):
    """``solve(A, B)`` raising ``LinAlgError`` that names the operation when A is singular,
    and warning once when A is ill-conditioned (LAPACK ``gecon``'s estimate from the
    factors: O(n²) on top of the O(n³) factorization)."""
    return factorize(A, operation).solve(B)


def logabsdet(X, operation):
    """``(sign, ln|det X|)``, by Cholesky when X is symmetric positive definite (n ≥ 150).

    Raises ``LinAlgError`` naming `operation` at singular X.
    """
    return factorize(X, operation).logabsdet()
