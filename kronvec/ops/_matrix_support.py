"""What the matrix operations share: one decomposition per matrix and call, shapes
and stacks, tolerances, the ill-conditioning warning, and a stack of one member
taken through the 2-D rule.

One decomposition per matrix and call: the value, the VJPs and the Jacobians of
a call share it through the call's scope (``kronvec/_linalg/scope.py``), read-only
(:func:`_remembered`).  A stack (…, m, n) is handled member by member in vec
order (``notes/conventions.md`` §11); a stack of exactly one member goes through
the 2-D rule, so that its value, VJP and Jacobian equal the unbatched ones bit for
bit (:func:`_as_one_member`).  Used by the factorizations
(:mod:`kronvec.ops.factorizations`) and the operations built like them (matrix
functions, the polar decomposition, triangular solves, the general eigenproblem).
"""

from __future__ import annotations

import math

import numpy as np

from .._config import IllConditionedWarning, condition_threshold
from .._warnings import warn_at_user_line
from .._linalg.scope import _current as _current_scope
from .._vec import stack_members
from ._support import shape_of, static_value


def _remembered(kind, arrays, compute, *key):
    """``compute()`` once per call for these very arrays (by identity, the entry
    holding them so that no id is reused while the scope lives: see
    ``kronvec/_linalg/scope.py``); outside a differentiation call, computed afresh."""
    scope = _current_scope.get()
    if scope is None:
        return compute()
    table = scope.factorizations
    index = (kind, *map(id, arrays), *key)
    entry = table.get(index)
    if entry is None or any(a is not b for a, b in zip(entry[0], arrays)):
        entry = table[index] = (arrays, _read_only(compute()))
    return entry[1]


def _unused_cotangent(g):
    """True when the cotangent g is a plain array of zeros: a pullback may skip the work
    (and the checks) its part of a factor would need.  A traced one is never skipped."""
    return type(g) is np.ndarray and not g.any()


def _read_only(result):
    """A remembered result is shared by the value, the VJPs and the Jacobians of a call:
    read-only, so nothing can change it (and operators keep it without copying)."""
    for array in result if isinstance(result, tuple) else (result,):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    return result


def _matrix_shape(a, function, stacks=True):
    """The shape (m, n) of a matrix or of each member of a stack (…, m, n) (NumPy's
    error below 2-D); with ``stacks=False`` (lstsq, 2-D only in NumPy too) a stack is refused."""
    shape = tuple(shape_of(a))
    if len(shape) < 2:
        raise np.linalg.LinAlgError(
            f"{function}: {len(shape)}-dimensional array given. Array must be at least two-dimensional")
    if len(shape) > 2 and not stacks:
        raise np.linalg.LinAlgError(
            f"{function}: {len(shape)}-dimensional array given (shape {shape}). Array must be two-dimensional")
    return shape[-2:]


def _mT(x):
    """Every member transposed (a matrix's transpose for a 2-D one): traceable."""
    return np.swapaxes(x, -1, -2)


def _is_stack(x):
    return len(shape_of(x)) > 2


def _members(x, core_ndim=2):
    """A plain stack as its (K, …) members in vec order (conventions §11)."""
    return stack_members(np.asarray(x), core_ndim)


def _square_shape(a, function):
    m, n = _matrix_shape(a, function)
    if m != n:
        raise np.linalg.LinAlgError(f"{function}: Last 2 dimensions of the array must be square, got shape {(m, n)}")
    return m


def _as_float(X):
    X = np.asarray(X)
    return X if X.dtype.char in "fd" else X.astype(np.float64)


def _tolerance(values, size):
    """Values this close (or closer to 0) are equal to working precision: the
    tolerance of ``np.linalg.matrix_rank``, max(m, n)·eps·max|value|."""
    values = np.asarray(values)
    top = float(np.max(np.abs(values), initial=0.0))
    eps = np.finfo(values.dtype if values.dtype.kind == "f" else np.float64).eps
    return max(size, 1) * eps * top


def _warn_if_ill_conditioned(condition, dtype, what):
    threshold = condition_threshold(np.dtype(dtype))
    if threshold is not None and condition > threshold:
        warn_at_user_line(  # (a stable message, the measured condition as an attribute)
            f"{what} (condition number above {threshold:.3g}): its derivatives may have lost most "
            "of their digits. Set kronvec.config.condition_warning = None to silence this.",
            IllConditionedWarning, condition=condition)


def _gram(W, p):
    """Wᵀ diag(p) W, exactly symmetric: when p has one sign (it has for log-determinants)
    ±YᵀY with Y = √|p|·W, one symmetric product (NumPy's matmul calls BLAS syrk for Yᵀ Y:
    half the work of a matrix product)."""
    if p.size == 0:
        return np.zeros((W.shape[1], W.shape[1]), dtype=W.dtype)
    low, high = float(p.min()), float(p.max())
    if high - low <= 8 * np.finfo(W.dtype).eps * max(abs(low), abs(high)):
        # one value up to rounding (for ln|A| = 2 Σ ln lᵢᵢ, pᵢ = lᵢᵢ·(2/lᵢᵢ)/2 ≈ 1): c·WᵀW,
        # without scaling W (a relative change of a few ulps, below the rounding of pᵢ itself)
        G = W.T @ W
        c = (low + high) / 2
        if c != 1.0:
            G *= c
        return G
    if low < 0 < high:
        G = (W.T * p).dot(W)
        return (G + G.T) / 2
    sign = -1.0 if high <= 0 and low < 0 else 1.0
    Y = W if low == high == sign else W * np.sqrt(np.abs(p))[:, None]
    G = Y.T @ Y
    return G if sign > 0 else -G


def _eye_like(n, x):
    return np.eye(n, dtype=np.result_type(np.asarray(static_value(x)).dtype, np.float32))


def _one_member(arrays):
    """The arrays without the leading batch axes of a stack of exactly one member
    (first array: the input stack), or None.  Only plain arrays: traced values
    (second order) go through the batched rules."""
    first = arrays[0]
    if type(first) is not np.ndarray or first.ndim <= 2 or first.size == 0:
        return None
    batch = first.ndim - 2
    if math.prod(first.shape[:batch]) != 1:
        return None
    if not all(type(a) is np.ndarray and a.ndim >= batch for a in arrays):
        return None
    return [a.reshape(a.shape[batch:]) for a in arrays]


def _as_one_member(op):
    """Route a stack of one member through the 2-D rule, so that its value, VJP and
    Jacobian equal the unbatched ones bit for bit (the batched rules use other, equally
    accurate, algorithms: batched triangular inverses, per-member tolerances).  A
    Jacobian of a (1, …) stack and of its member are the same matrix: vec is the same."""
    impl, vjp, jacobian = op.impl, op.vjps.of(0), op.jacobians.of(0)

    def impl_one(*args, **params):
        one = _one_member(args)
        if one is None:
            return impl(*args, **params)
        result = impl(*one, **params)
        return result.reshape(np.shape(args[0])[:-2] + result.shape)

    def vjp_one(g, ans, *args, **params):
        one = _one_member((*args, ans, g))
        if one is None:
            return vjp(g, ans, *args, **params)
        *plain_args, plain_ans, plain_g = one
        return vjp(plain_g, plain_ans, *plain_args, **params).reshape(np.shape(args[0]))

    def jacobian_one(ans, *args, names, **params):
        one = _one_member((*args, ans))
        if one is None:
            return jacobian(ans, *args, names=names, **params)
        *plain_args, plain_ans = one
        return jacobian(plain_ans, *plain_args, names=names, **params)

    op.impl = impl_one
    op.vjps[0] = vjp_one
    op.jacobians[0] = jacobian_one

