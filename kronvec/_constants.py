"""What a recording keeps of the values it did not create: captured by value.

A differentiated function may change a buffer between two uses
(``np.fill_diagonal(M, mu)`` before each ``solve(M, X)``), and its caller may
change the point ``X`` after the call.  Neither may change what kronvec has
already computed, so every constant operand and every input is *captured*:
validated once (real, finite, a plain array) and copied.  The copy belongs
to the recording alone, which is what lets a per-call cache remember a
factorization by identity (``kronvec/_linalg``); it is frozen (read-only)
when a structured operator is built from it, so operators can keep it
without copying again.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._config import config
from ._linalg.factorization import _frozen, all_finite

__all__ = ["capture", "freeze", "frozen_copy", "check_real_dtype", "refuse_matrix_subclass"]


def freeze(array):
    """Mark an array kronvec owns as read-only and return it."""
    # (the same as .flags.writeable = False, without building a flags object; `write` given
    # by position: NumPy's keyword parsing of setflags(write=False) costs as much again)
    array.setflags(False)
    return array


def frozen_copy(array):
    """`array` itself when nothing can change it any more, else a read-only copy."""
    if _frozen(array):
        return array
    return freeze(np.array(array, copy=True, subok=False))


def check_real_dtype(dtype, what):
    """Refuse data kronvec cannot differentiate: complex (kronvec is real-only),
    extended precision (LAPACK has no long double) and non-numeric dtypes."""
    kind = dtype.kind
    if kind == "c":
        raise TypeError(
            f"kronvec: {what} is complex ({dtype}); kronvec differentiates real functions "
            "only. Split real and imaginary parts explicitly."
        )
    if kind not in "biuf":
        raise TypeError(f"kronvec: {what} must be a real number or array, got dtype {dtype}")
    if kind == "f" and dtype.itemsize > 8:
        raise TypeError(
            f"kronvec: {what} is {dtype}; kronvec computes in float32 or float64 "
            "(convert with .astype(np.float64))"
        )


def refuse_matrix_subclass(x, what):
    """np.matrix and masked arrays change what ``*`` and reductions mean; computing
    with them as plain ndarrays would silently change the function."""
    if isinstance(x, np.matrix):
        raise TypeError(
            f"kronvec: {what} is an np.matrix, whose * is a matrix product; kronvec "
            "computes with plain ndarrays only. Pass np.asarray(...) and use @."
        )
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"kronvec: {what} is a masked array; kronvec would ignore its mask. "
            "Pass the data with the masked entries filled (x.filled(...)) or removed."
        )


def _non_finite_error(what):
    return ValueError(
        f"kronvec: {what} contains NaN or inf "
        "(set kronvec.config.check_finite = False to skip this check)"
    )


class ForeignOperand(TypeError):
    """A constant operand of another array library that defines its own ``__array_ufunc__``
    (an xarray ``DataArray``…).  A ufunc meeting one returns NotImplemented (NEP 13), so
    NumPy hands the call to that library, which calls the ufunc again on its plain data."""

    def __init__(self, message, operand):
        super().__init__(message)
        self.operand = operand


def capture(x, what):
    """The value of a constant operand as the recording keeps it.

    Python and NumPy scalars are kept as they are (immutable); arrays become
    frozen arrays; lists and tuples become arrays.  Refused: complex data
    (``TypeError``), NaN/inf (``ValueError``, unless
    ``kronvec.config.check_finite`` is off), ``np.matrix`` and masked arrays,
    objects that are not numeric data (``TypeError``).  `what` names the
    operand in messages, e.g. ``"a constant operand of np.linalg.solve"``.
    """
    kind = type(x)
    if kind is float:
        if x - x != 0.0 and config.check_finite:  # NaN or ±inf
            raise _non_finite_error(what)
        return x
    if kind is int or kind is bool:
        return x
    if kind is np.ndarray:
        return _capture_array(x, what)
    if isinstance(x, np.generic):
        check_real_dtype(x.dtype, what)
        if x.dtype.kind == "f" and not math.isfinite(x) and config.check_finite:
            raise _non_finite_error(what)
        return x
    if isinstance(x, numbers.Number) and not isinstance(x, numbers.Real):
        raise TypeError(f"kronvec: {what} is complex ({x!r}); kronvec differentiates real functions only")
    if isinstance(x, numbers.Real):
        return capture(float(x), what)
    refuse_matrix_subclass(x, what)
    if isinstance(x, np.ndarray):  # another subclass (memmap, ...): its data as a plain array
        return _capture_array(np.asarray(x), what)
    if isinstance(x, (list, tuple)):
        try:
            array = np.array(x)
        except (TypeError, ValueError) as error:
            raise TypeError(f"kronvec: {what} is a {type(x).__name__} that is not a numeric array: {error}") from None
        if array.dtype == object:
            raise TypeError(
                f"kronvec: {what} is a {type(x).__name__} holding traced values or other "
                "objects; build arrays of traced values with np.stack or np.concatenate"
            )
        return _capture_array(array, what)
    message = f"kronvec: {what} is a {type(x).__name__}; expected a number or an array"
    if getattr(type(x), "__array_ufunc__", None) is not None:
        raise ForeignOperand(message, x)
    raise TypeError(message)


def _capture_array(x, what):
    check_real_dtype(x.dtype, what)
    if x.dtype.kind == "f" and config.check_finite and not all_finite(x):
        raise _non_finite_error(what)
    return x.copy()  # the recording's own copy (frozen when an operator is built from it)
