"""What NumPy builds on the factorizations: ``np.linalg.matrix_power``, ``cond``
and ``matrix_rank``.

matrix_power is recorded as NumPy computes it (repeated squaring, an inverse for
a negative power); cond is a ratio of singular values (or a norm of A times one
of A⁻¹); matrix_rank is piecewise constant, a plain integer.
"""

from __future__ import annotations

import operator

import numpy as np

from .. import _stack_factors as stacked
from .._registry import numpy_function
from .._support import bind, plain_value, shape_of
from .._matrix_support import _eye_like, _is_stack, _matrix_shape, _square_shape
from .svd import _singular_tolerance, extreme_singular_value, singular_values

__all__ = []  # front doors only: np.linalg.matrix_power, cond, matrix_rank


@numpy_function(np.linalg.matrix_power)
def _matrix_power(a, n):
    size = _square_shape(a, "np.linalg.matrix_power")
    try:
        n = operator.index(n)
    except TypeError as e:
        raise TypeError("exponent must be an integer") from e
    # NumPy's own sequence of products (so the value is NumPy's), recorded
    if n == 0:  # a constant: derivative 0
        if _is_stack(a):
            return np.broadcast_to(_eye_like(size, a), tuple(shape_of(a))).copy()
        return _eye_like(size, a)
    if n < 0:
        a, n = np.linalg.inv(a), abs(n)
    if n == 1:
        return a
    if n == 2:
        return a @ a
    if n == 3:
        return (a @ a) @ a
    z = result = None
    while n > 0:
        z = a if z is None else z @ z
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else result @ z
    return result


_COND = "np.linalg.cond"


@numpy_function(np.linalg.cond)
def _cond(x, p=None):
    shape = _matrix_shape(x, _COND)
    if 0 in shape:
        raise np.linalg.LinAlgError("cond is not defined on empty arrays")
    if p is None or (not isinstance(p, str) and p in (2, -2)):
        s = bind(singular_values, x, source="values")
        plain = np.asarray(plain_value(s))
        if plain.ndim > 1:
            return _cond_of_stack(s, plain, p, tuple(shape_of(x)))
        if p != -2 and plain[-1] <= _singular_tolerance(plain, shape):  # (for −2: σ_min/σ_max = 0, the kink of σ)
            raise np.linalg.LinAlgError(
                f"{_COND}: the {shape[0]}×{shape[1]} matrix is singular to working precision (σ_min = "
                f"{plain[-1]:.3g} ≤ {_singular_tolerance(plain, shape):.3g}): its condition number is infinite "
                "(or all rounding) and has no derivative")
        top = extreme_singular_value(s, 0, shape, f"{_COND}(X, {p})")
        bottom = extreme_singular_value(s, -1, shape, f"{_COND}(X, {p})")
        return bottom / top if p == -2 else top / bottom
    _square_shape(x, _COND)
    inverse = np.linalg.inv(x)
    return np.linalg.norm(x, p, axis=(-2, -1)) * np.linalg.norm(inverse, p, axis=(-2, -1))


def _cond_of_stack(s, plain, p, shape):
    """κ₂ (or 1/κ₂ for p = −2) of every member: σ_max/σ_min from one batched SVD."""
    if p != -2:
        singular = plain[..., -1] <= stacked.member_tolerance(plain, max(shape[-2:]))[..., 0]
        if singular.any():
            raise np.linalg.LinAlgError(
                f"{_COND}: {stacked.member_count(singular)} of the stack of shape {shape} "
                f"{'is' if np.count_nonzero(singular) == 1 else 'are'} singular to working precision, at batch "
                f"index {stacked.member_list(singular)}: the condition number is infinite (or all rounding) and "
                "has no derivative")
    top = extreme_singular_value(s, 0, shape, f"{_COND}(X, {p})")
    bottom = extreme_singular_value(s, -1, shape, f"{_COND}(X, {p})")
    return bottom / top if p == -2 else top / bottom


@numpy_function(np.linalg.matrix_rank)
def _matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    # piecewise constant: a plain value, derivative 0 wherever it exists
    return np.linalg.matrix_rank(plain_value(A), tol=None if tol is None else plain_value(tol),
                                 hermitian=hermitian, rtol=None if rtol is None else plain_value(rtol))

