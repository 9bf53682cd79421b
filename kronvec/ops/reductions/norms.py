"""Norms: the vector p-norms (``np.linalg.norm``, ``vector_norm``) and the matrix
norms along any pair of axes.

A p-norm's derivative is |X|^(p−1)·sign(X)/‖X‖^(p−1), with the subgradient 0 at a
zero slice (like ‖X‖ at 0); the inf-norms pick entries and split ties.  Matrix
norms built on singular values ('nuc', 2, −2) go through the singular values and
vectors of :mod:`kronvec.ops.factorizations.svd`.  Derivation:
``notes/derivatives.md`` §18.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..._tracer import Node
from ..._vec import vec
from ...operators import RowVector
from .. import _samples
from .._registry import Primitive, numpy_function, register
from .._support import bind, decided, derived_label, normalize_axes, plain_value, shape_of, static_value
from ..factorizations import extreme_singular_value, singular_values
from .._matrix_support import _mT
from ..factorizations.svd import _plain_nonzero_singular, _svd
from ._common import _float_dtype, _kept, _kept_cotangent, _reduced_shape, _reduction_jacobian, _safe_inverse
from .extremes import max_, min_
from .sums import sum_

__all__ = ["norm"]


def _numpys_norm(x, ord, axis, keepdims):
    """np.linalg.norm's own formula, so the value is NumPy's bit for bit: sqrt of a BLAS dot
    of the raveled array with no axis (``np.linalg.norm(x)``), sqrt of a sum of squares
    along axes, (Σ|x|^p)^(1/p) otherwise (numpy/linalg/_linalg.py, ``norm``); None where a
    power or the sum can under- or overflow, which the scaled formula handles."""
    with np.errstate(all="ignore"):
        if ord == 2 and axis is None:
            flat = x.ravel(order="K")
            total = result = np.sqrt(flat.dot(flat))
            total = total * total
        elif ord == 2:
            total = np.add.reduce(x * x, axis=axis, keepdims=keepdims)
            result = np.sqrt(total)
        else:
            powers = np.abs(x)
            powers **= ord
            total = result = np.add.reduce(powers, axis=axis, keepdims=keepdims)
            result **= np.reciprocal(ord, dtype=result.dtype)
    info = np.finfo(np.asarray(result).dtype)
    # (every slice's sum well inside the normal range: the powers of its largest entries are
    # exact to rounding, and what underflowed is below its last bit)
    if np.all((total > info.tiny / info.eps) & (total < info.max * info.eps)):
        return result
    return None


def _norm_impl(x, ord=2.0, axis=None, keepdims=False):
    """The entrywise p-norm over `axis`: NumPy's value where its formula is safe, else
    scaled so that tiny and huge entries neither underflow to 0 nor overflow to inf
    (‖X‖ = s·‖X/s‖, s = max|Xᵢⱼ|)."""
    x = np.asarray(x)
    result = _numpys_norm(x, ord, axis, keepdims)
    if result is not None:
        return result
    magnitude = np.abs(x).astype(_float_dtype(x), copy=False)
    scale = np.max(magnitude, axis=axis, keepdims=True, initial=0.0)
    usable = (scale > 0) & np.isfinite(scale)
    safe = np.where(usable, scale, 1.0)
    scaled = magnitude / safe
    with np.errstate(divide="ignore"):  # p < 0 at a zero entry: |0|^p = inf and the norm 0, as NumPy
        if ord == 2:
            result = safe * np.sqrt(np.sum(scaled * scaled, axis=axis, keepdims=True))
        else:
            result = safe * np.sum(scaled ** ord, axis=axis, keepdims=True) ** (1.0 / ord)
    return result if keepdims else result.reshape(_reduced_shape(x.shape, axis))[()]


def _norm_direction(ans, x, ord, axis, keepdims):
    """∂‖x‖_p/∂x = x/‖x‖ (p = 2) or sign(x)(|x|/‖x‖)^(p−1); 0 for a zero slice
    (the minimal-norm subgradient), so that ‖x‖² and friends differentiate to 0
    there instead of 0·∞ = NaN.  At a zero entry with p < 1 the derivative is
    infinite: an error.

    Traced (a second derivative), a zero slice is an error, as hypot's origin: the
    first derivative jumps there (its second is unbounded, like (I − uuᵀ)/‖x‖), and
    the 0 above, differentiated, made the Hessian of the smooth ‖X‖² at X = 0 equal 0
    instead of 2I.  Its decisions (the zero tests, the signs) go through `decided`, so
    that a compiled hvp takes them again at each replay (notes/compile.md §3)."""
    if ord < 1:  # (first: no first derivative there either, and a zero entry makes ‖x‖_p = 0 for p < 0)
        decided(functools.partial(_refuse_zero_entry, ord=ord), x)
    kept = _kept(ans, shape_of(x), axis, keepdims)
    if isinstance(kept, Node) or isinstance(x, Node):
        decided(functools.partial(_refuse_zero_slice, ord=ord), kept)
    inverse = _safe_inverse(kept)
    if ord == 2:
        return x * inverse
    return decided(np.sign, x) * (np.abs(x) * inverse) ** (ord - 1.0)


def _norm_name(ord):
    return "np.linalg.norm" if ord == 2 else f"np.linalg.norm with ord={ord:g}"


def _refuse_zero_slice(norms, ord):
    """A rule for `decided`: the second derivative of a norm at a zero slice is an error."""
    zero = np.asarray(norms) == 0
    if zero.any():
        advice = "; for ‖X‖² write np.sum(X * X), whose Hessian is 2I everywhere" if ord == 2 else ""
        raise ValueError(f"{_norm_name(ord)} has no second derivative at a zero slice ({np.count_nonzero(zero)} "
                         f"of its norms are 0; its first derivative jumps there), as np.hypot at x = y = 0: "
                         f"kronvec refuses rather than give one{advice}")
    return np.zeros(())


def _refuse_zero_entry(x, ord):
    """A rule for `decided`: |x|^p with p < 1 has no derivative at a zero entry."""
    if np.any(np.asarray(x) == 0):
        raise ValueError(f"np.linalg.norm with ord={ord:g} < 1 has no derivative at a zero entry "
                         "(|x|^p is not differentiable at 0 for p < 1)")
    return np.zeros(())


def _norm_label(a, ord=2.0, axis=None, keepdims=False):
    if a is None:
        return None
    base = f"‖{a}‖" if ord == 2 else f"‖{a}‖_{ord:g}"
    return base if axis is None else f"{base}(axis={axis[0] if len(axis) == 1 else axis})"


norm = register(Primitive(
    _norm_impl, name="linalg.norm",
    vjps={0: lambda g, ans, x, ord=2.0, axis=None, keepdims=False:
          _kept_cotangent(g, shape_of(x), axis, keepdims) * _norm_direction(ans, x, ord, axis, keepdims)},
    jacobians={0: lambda ans, x, names, ord=2.0, axis=None, keepdims=False: _reduction_jacobian(
        _norm_direction(np.asarray(ans), np.asarray(x), ord, axis, keepdims), np.shape(x), axis,
        name=derived_label("{0}/‖{0}‖", names[0]) if ord == 2 and axis is None else None)},
    label=_norm_label,
    formula="D‖X‖ = vec(X/‖X‖)ᵀ (0 at X = 0); along axes Bᵀ·Diag(vec X/‖X‖); "
            "p-norms: Bᵀ·Diag(vec sign(X)∘(|X|/‖X‖_p)^(p−1))",
    reference="Matrix Cookbook eq. (129): ∂‖X‖_F/∂X = X/‖X‖_F; d(Σ|xᵢ|^p)^(1/p) = "
              "‖x‖_p^(1−p) Σ|xᵢ|^(p−1) sign(xᵢ) dxᵢ",
    samples=_samples.one_general, param_names=("X",),
    # (tiny entries, 1e-170, are below the finite-difference step: tests/test_share_nothing.py)
    edge_cases={
        "huge entries (no overflow)": lambda rng: (1e200 * rng.standard_normal((2, 2)),),
        "columns, keepdims": lambda rng: _samples.Sample((rng.standard_normal((3, 2)),),
                                                         {"axis": (0,), "keepdims": True}),
        "3-norm of rows": lambda rng: _samples.Sample((rng.standard_normal((2, 3)),), {"ord": 3.0, "axis": (1,)}),
        "1.5-norm": lambda rng: _samples.Sample((rng.uniform(0.5, 1.5, (2, 3)) * [1, -1, 1],), {"ord": 1.5}),
        "-1-norm (harmonic)": lambda rng: _samples.Sample((rng.uniform(0.5, 1.5, (2, 3)),), {"ord": -1.0}),
        "Frobenius over two axes of a 3-D array": lambda rng: _samples.Sample(
            (rng.standard_normal((2, 3, 2)),), {"axis": (0, 2)}),
    },
    fuzz=lambda Y, c: Y * np.linalg.norm(Y),
))


# ------------------------------------------------------ np.linalg.norm
def _vector_norm(x, ord, axes, keepdims):
    if ord is None or (not isinstance(ord, str) and ord == 2):
        return bind(norm, x, ord=2.0, axis=axes, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord in (np.inf, -np.inf):
        # (NumPy's maximum starts from 0, so an empty vector's ∞-norm is 0; its minimum has no identity)
        empty = ord > 0 and 0 in (tuple(shape_of(x))[k] for k in axes)
        return bind(max_ if ord > 0 else min_, np.abs(x), axis=axes, keepdims=keepdims,
                    initial=0.0 if empty else None, where=None)
    if ord == 0:  # a count of nonzero entries: piecewise constant, so a plain value
        return np.sum(np.asarray(plain_value(x)) != 0, axis=axes, keepdims=keepdims).astype(
            _float_dtype(static_value(x)))
    if ord == 1:
        return bind(sum_, np.abs(x), axis=axes, keepdims=keepdims)
    return bind(norm, x, ord=float(ord), axis=axes, keepdims=keepdims)


# ------------------------------------------------------------- the nuclear norm
def _nuclear_direction(x, g=1.0):
    """g·U Vᵀ of a plain x = U Σ Vᵀ (thin SVD): the gradient of ‖x‖_*; at a rank-deficient x the
    minimal-norm subgradient U_r V_rᵀ, a zero singular value contributing 0 (the singular
    values' own convention, notes/derivatives.md §18)."""
    x = np.asarray(x)
    # (the singular values' VJP of g spread over them by the sum, operation for operation: a
    # stack's nuclear norms, which go through the singular values, give the same numbers)
    U, s, V = _svd(x, False)
    spread = np.broadcast_to(g, s.shape) if np.ndim(g) else np.full(s.shape, g, dtype=s.dtype)
    return (U * np.expand_dims(spread * _plain_nonzero_singular(s, x.shape), -2)) @ _mT(V)


def _nuclear_vjp(g, ans, x):
    if isinstance(x, Node):
        # traced again (a Hessian): U Vᵀ is the polar factor u of x, whose derivative holds
        # Γᵢⱼ = 1/(σᵢ + σⱼ) — finite where singular values repeat, where one through U and V,
        # 1/(σᵢ² − σⱼ²), is not (notes/derivatives.md §18); refused at a rank-deficient x,
        # where ‖x‖_* has no second derivative (u is not unique there)
        from ..polar import polar_unitary  # (the polar decomposition builds on the factorizations)

        m, n = shape_of(x)
        return g * bind(polar_unitary, x, side="right" if m >= n else "left")
    return _nuclear_direction(x, g)


nuclear_norm = register(Primitive(
    lambda x: np.linalg.norm(x, "nuc"), name="linalg.nuclear_norm",  # (NumPy's value: Σ of its σᵢ)
    vjps={0: _nuclear_vjp},
    jacobians={0: lambda ans, x, names: RowVector(vec(_nuclear_direction(x)))},
    label=lambda a: None if a is None else f"‖{a}‖_*",
    formula="D ‖X‖_* = vec(U Vᵀ)ᵀ for X = U Σ Vᵀ (thin): the polar factor of X; its own derivative, "
            "the Hessian, is the polar factor's (Γᵢⱼ = 1/(σᵢ + σⱼ): smooth where singular values repeat)",
    reference="d Σσᵢ = Σ uᵢᵀ dX vᵢ = tr(V Uᵀ dX) (Magnus–Neudecker, singular values); Higham, "
              "Functions of Matrices §8.1 (the polar factor and its derivative)",
    samples=lambda rng, n: (rng.standard_normal((n, n + 1)),),
    param_names=("X",),
    edge_cases={"repeated singular values": lambda rng: (np.diag([2.0, 2.0, 3.0]),),
                "wide": lambda rng: (rng.standard_normal((2, 4)),),
                "tall": lambda rng: (rng.standard_normal((4, 2)),)},
))


def _matrix_norm(x, ord, axes, keepdims):
    shape = tuple(shape_of(x))
    row, col = axes
    # The maximum or minimum over nothing: NumPy's maxima start from 0 (initial=0), its minima
    # have no identity (s[0] / s[-1] of no singular values was an IndexError here; the max_
    # of no column sums a message about a reduction the user never wrote)
    kept = {2: min(shape[row], shape[col]), 1: shape[col], np.inf: shape[row]}.get(abs(ord)) \
        if ord in (2, -2, 1, -1, np.inf, -np.inf) else None
    if kept == 0:
        if ord < 0:
            raise ValueError(f"np.linalg.norm(X, {ord:g}) of an empty {shape[row]}×{shape[col]} matrix: zero-size "
                             "array to reduction operation minimum which has no identity")
        return bind(sum_, np.abs(x), axis=axes, keepdims=keepdims)  # (0, recorded: a zero derivative)
    if ord in (2, -2, "nuc"):
        if len(shape) != 2:
            return _matrix_norm_of_stack(x, ord, axes, keepdims)
        x2 = x if axes == (0, 1) else np.transpose(x)
        if ord == "nuc":
            result = bind(nuclear_norm, x2)
        else:
            result = extreme_singular_value(bind(singular_values, x2), 0 if ord == 2 else -1, shape,
                                            f"np.linalg.norm(X, {ord})")
        return np.reshape(result, (1, 1)) if keepdims else result
    if ord in (None, "fro", "f"):
        return bind(norm, x, ord=2.0, axis=tuple(sorted(axes)), keepdims=keepdims)
    if ord in (1, -1, np.inf, -np.inf):
        summed, kept = (row, col) if ord in (1, -1) else (col, row)
        extreme = max_ if ord > 0 else min_
        sums = bind(sum_, np.abs(x), axis=(summed,), keepdims=True)
        result = bind(extreme, sums, axis=(kept,), keepdims=True, initial=None, where=None)
        return result if keepdims else np.reshape(result, tuple(s for k, s in enumerate(shape) if k not in axes))
    raise ValueError("Invalid norm order for matrices.")


def _matrix_norm_of_stack(x, ord, axes, keepdims):
    """A singular-value norm of every matrix in a stack (axes: the matrices' rows
    and columns): one batched singular-value operation over the whole stack
    (NumPy's stacked SVD), then the sum or the extreme of each member's."""
    shape = tuple(shape_of(x))
    moved = np.moveaxis(x, axes, (-2, -1))
    s = bind(singular_values, moved)
    if ord == "nuc":
        result = np.sum(s, axis=-1)
    else:
        result = extreme_singular_value(s, 0 if ord == 2 else -1, tuple(shape_of(moved)), f"np.linalg.norm(X, {ord})")
    if keepdims:
        result = np.reshape(result, tuple(1 if k in axes else size for k, size in enumerate(shape)))
    return result


@numpy_function(np.linalg.norm)
def _linalg_norm(x, ord=None, axis=None, keepdims=False):
    ndim = len(shape_of(x))
    keepdims = bool(keepdims)
    if axis is None:
        if ord is None or (ord in ("f", "fro") and ndim == 2) or (not isinstance(ord, str) and ord == 2 and ndim == 1):
            result = bind(norm, x, ord=2.0, axis=None, keepdims=False)
            return np.reshape(result, (1,) * ndim) if keepdims else result
        axis = tuple(range(ndim))
    elif isinstance(axis, list):  # (NumPy's words)
        raise TypeError("np.linalg.norm: 'axis' must be None, an integer or a tuple of integers")
    axes = normalize_axes(axis, ndim, "np.linalg.norm")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


@numpy_function(np.linalg.vector_norm)
def _linalg_vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    shape = tuple(shape_of(x))
    if axis is None:
        result = _vector_norm(np.reshape(x, (-1,)), ord, (0,), False)
        return np.reshape(result, (1,) * len(shape)) if keepdims else result
    if isinstance(axis, list):  # (NumPy's TypeError)
        raise TypeError(f"np.linalg.vector_norm: axis must be an int or a tuple of ints, not a list ({axis!r})")
    axes = normalize_axes(axis, len(shape), "np.linalg.vector_norm")
    if not isinstance(axis, tuple):
        return _vector_norm(x, ord, axes, bool(keepdims))
    # NumPy moves a tuple of axes to the front and merges them into one (numpy/linalg/_linalg.py,
    # vector_norm), then reduces along it: the same summation order, so NumPy's value bit for bit
    rest = tuple(k for k in range(len(shape)) if k not in axes)
    merged = np.reshape(np.transpose(x, axes + rest), (math.prod(shape[k] for k in axes),) + tuple(shape[k] for k in rest))
    result = _vector_norm(merged, ord, (0,), False)
    if keepdims:
        result = np.reshape(result, tuple(1 if k in axes else size for k, size in enumerate(shape)))
    return result


@numpy_function(np.linalg.matrix_norm)
def _linalg_matrix_norm(x, /, *, keepdims=False, ord="fro"):
    ndim = len(shape_of(x))
    if ndim < 2:
        raise ValueError(f"np.linalg.matrix_norm: the input must be at least 2-D, got {ndim}-D")
    return _matrix_norm(x, ord, (ndim - 2, ndim - 1), bool(keepdims))
