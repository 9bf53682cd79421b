"""Input validation shared by the rules: one message style everywhere."""

from __future__ import annotations

import warnings

import numpy as np

from .._config import IllConditionedWarning, config

__all__ = ["as_matrix", "require_square", "checked_inverse", "checked_solve",
           "warn_if_ill_conditioned", "logabsdet"]


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
    if config.check_finite and not np.isfinite(X).all():
        raise ValueError(
            f"{operation}: {name} contains NaN or inf; kronvec refuses non-finite input "
            "(set kronvec.config.check_finite = False to skip this check)"
        )
    return X


def require_square(X, name, operation):
    if X.shape[0] != X.shape[1]:
        raise ValueError(f"{operation}: {name} must be square, got shape {X.shape}")


def checked_inverse(X, operation):
    """``inv(X)`` raising ``LinAlgError`` that names the operation when X is singular,
    and warning once when X is ill-conditioned (see ``config.condition_warning``)."""
    try:
        X_inv = np.linalg.inv(X)
    except np.linalg.LinAlgError as error:
        raise np.linalg.LinAlgError(
            f"{operation}: the {X.shape[0]}×{X.shape[1]} matrix is singular ({error})"
        ) from None
    if not np.isfinite(X_inv).all():  # a subnormal pivot: singular in floating point
        raise np.linalg.LinAlgError(
            f"{operation}: the {X.shape[0]}×{X.shape[1]} matrix is numerically singular "
            "(its inverse overflows)"
        )
    warn_if_ill_conditioned(X, X_inv, operation)
    return X_inv


def warn_if_ill_conditioned(X, X_inv, operation):
    """Warn when κ₁(X) = ‖X‖₁‖X⁻¹‖₁ exceeds ``config.condition_warning``.

    Given the inverse this costs O(n²), nothing next to the O(n³) inverse.
    """
    threshold = config.condition_warning
    if threshold is None or X.size == 0:
        return
    # max|X|·max|X⁻¹| ≤ κ₁ ≤ n²·max|X|·max|X⁻¹|: the cheap bound settles most calls.
    bound = np.abs(X).max() * np.abs(X_inv).max() * X.shape[0] ** 2
    if bound <= threshold:
        return
    condition = np.abs(X).sum(axis=0).max() * np.abs(X_inv).sum(axis=0).max()
    if not condition <= threshold:  # also catches inf/nan from a near-singular inverse
        warnings.warn(
            f"{operation}: the {X.shape[0]}×{X.shape[1]} matrix is ill-conditioned "
            f"(1-norm condition number ≈ {condition:.3g} > {threshold:.3g}); its derivatives "
            "may have lost most of their digits. Set kronvec.config.condition_warning = None "
            "to silence this.",
            IllConditionedWarning,
            stacklevel=3,
        )


def checked_solve(A, B, operation):
    """``solve(A, B)`` raising ``LinAlgError`` that names the operation when A is singular."""
    try:
        return np.linalg.solve(A, B)
    except np.linalg.LinAlgError as error:
        raise np.linalg.LinAlgError(
            f"{operation}: the {A.shape[0]}×{A.shape[1]} matrix is singular ({error})"
        ) from None


def logabsdet(X, operation):
    """``(sign, ln|det X|)``, by Cholesky when X is symmetric positive definite.

    Symmetry is checked exactly (O(n²)); Cholesky then costs n³/3 flops
    against the 2n³/3 of the LU inside ``np.linalg.slogdet``, and agrees with
    it to rounding.  Raises ``LinAlgError`` naming `operation` at singular X.
    """
    n = X.shape[0]
    # Below ~64 the O(n³) saving is smaller than the cost of the symmetry test.
    if n >= 64 and X.dtype.kind == "f" and np.array_equal(X, X.T):
        try:
            L = np.linalg.cholesky(X)
        except np.linalg.LinAlgError:
            pass  # symmetric but not positive definite: the general path
        else:
            return np.ones((), dtype=X.dtype), 2.0 * np.log(np.diagonal(L)).sum()
    sign, value = np.linalg.slogdet(X)
    if sign == 0:
        raise np.linalg.LinAlgError(
            f"{operation}: the {n}×{n} matrix is singular (det = 0), so ln|det X| = -inf "
            "has no derivative"
        )
    return sign, value
