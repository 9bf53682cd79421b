"""Input validation shared by the rules: one message style everywhere."""

from __future__ import annotations

import contextlib
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
    _warn_condition(X, condition, operation)


def checked_solve(A, B, operation):
    """``solve(A, B)`` raising ``LinAlgError`` that names the operation when A is singular,
    and warning once when A is ill-conditioned.

    With the warning on, A is factored once by LAPACK ``getrf`` and its 1-norm
    condition number estimated by ``gecon`` from the factors (O(n²) on top of
    the O(n³) factorization), then the system is solved with the same factors.
    """
    if config.condition_warning is None or A.size == 0:
        try:
            return np.linalg.solve(A, B)
        except np.linalg.LinAlgError as error:
            raise np.linalg.LinAlgError(
                f"{operation}: the {A.shape[0]}×{A.shape[1]} matrix is singular ({error})"
            ) from None
    from scipy.linalg import get_lapack_funcs, lu_factor, lu_solve

    with warnings.catch_warnings():  # an exactly zero pivot is reported below, as an error
        warnings.simplefilter("ignore")
        lu, pivots = lu_factor(A, check_finite=False)
    if np.any(np.diagonal(lu) == 0):
        raise np.linalg.LinAlgError(
            f"{operation}: the {A.shape[0]}×{A.shape[1]} matrix is singular (exact zero pivot)"
        )
    (gecon,) = get_lapack_funcs(("gecon",), (lu,))
    reciprocal_condition, _ = gecon(lu, np.abs(A).sum(axis=0).max(), norm="1")
    condition = np.inf if reciprocal_condition == 0 else 1.0 / reciprocal_condition
    _warn_condition(A, condition, operation)
    X = lu_solve((lu, pivots), B, check_finite=False)
    if not np.isfinite(X).all():
        raise np.linalg.LinAlgError(
            f"{operation}: the {A.shape[0]}×{A.shape[1]} matrix is numerically singular "
            "(the solution overflows)"
        )
    return X


# Matrices already warned about in the current differentiation call: one call
# may factor the same matrix twice (solve, then its Jacobian's inverse), and
# the user should hear about it once.
_warned_scopes = []


@contextlib.contextmanager
def warning_scope():
    """Within the scope, each matrix triggers at most one ill-conditioning warning."""
    _warned_scopes.append({})
    try:
        yield
    finally:
        _warned_scopes.pop()


def _warn_condition(X, condition, operation):
    threshold = config.condition_warning
    if threshold is None or condition <= threshold:
        return
    if _warned_scopes:
        seen = _warned_scopes[-1]
        if seen.get(id(X)) is X:
            return
        seen[id(X)] = X
    warnings.warn(
        f"{operation}: the {X.shape[0]}×{X.shape[1]} matrix is ill-conditioned "
        f"(1-norm condition number ≈ {condition:.3g} > {threshold:.3g}); its derivatives "
        "may have lost most of their digits. Set kronvec.config.condition_warning = None "
        "to silence this.",
        IllConditionedWarning,
        stacklevel=4,
    )


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
