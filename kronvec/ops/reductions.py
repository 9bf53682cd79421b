"""Reductions: sums, means and the Euclidean/Frobenius norm.

A sum over axes is linear, ``d(Σ X) = Σ dX``: its Jacobian is the transpose
of the 0/1 map that broadcasts the result back over the summed axes, and its
VJP broadcasts the cotangent.  ‖X‖ = (Σ Xᵢⱼ²)^½ has ``d‖X‖ = ⟨X, dX⟩/‖X‖``.

Derivations: ``notes/derivatives.md`` §3.
"""

from __future__ import annotations

import math

import numpy as np

from .._vec import vec
from ..operators import Dense, RowVector
from . import _samples
from ._registry import Primitive, numpy_function, numpy_method, register
from ._support import (
    along_axis,
    bind,
    broadcast_jacobian,
    derived_label,
    keepdims_shape,
    normalize_axes,
    plain_value,
    refuse_arguments,
    shape_of,
    size_of,
)
from .shape import broadcast_to

__all__ = ["sum_", "norm", "cumsum"]

_NO_VALUE = np._NoValue


def _sum_impl(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def _sum_vjp(g, ans, x, axis=None, keepdims=False):
    kept = np.reshape(g, keepdims_shape(shape_of(x), axis))
    return bind(broadcast_to, kept, shape=shape_of(x))


def _sum_jacobian(ans, x, names, axis=None, keepdims=False):
    shape = np.shape(x)
    if axis is None and len(shape) > 0:
        return RowVector(np.ones(math.prod(shape)), name="1")
    return broadcast_jacobian(keepdims_shape(shape, axis), shape).T


def _sum_samples(rng, n):
    return _samples.Sample((rng.standard_normal((n, n + 1)),), {"axis": (0,), "keepdims": False})


sum_ = register(Primitive(
    _sum_impl, name="sum",
    vjps={0: _sum_vjp},
    jacobians={0: _sum_jacobian},
    label=lambda a, axis=None, keepdims=False: f"sum({a})",
    formula="D Σ_axes X = Bᵀ, B the 0/1 map broadcasting back over the summed axes "
            "(vec(1)ᵀ for a full sum)",
    reference="Magnus–Neudecker ch. 9 (linear maps have constant Jacobians)",
    samples=_sum_samples, param_names=("X",),
    edge_cases={"full sum": lambda rng: (rng.standard_normal((3, 2)),),
                "negative axis, keepdims": lambda rng: _samples.Sample(
                    (rng.standard_normal((2, 3)),), {"axis": (1,), "keepdims": True})},
    fuzz=lambda Y, c: Y + np.sum(Y, axis=1, keepdims=True) / Y.shape[1],
))


@numpy_function(np.sum)
def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO_VALUE, where=_NO_VALUE):
    refuse_arguments("np.sum", dtype=(dtype, None), out=(out, None), initial=(initial, _NO_VALUE),
                     where=(where, _NO_VALUE))
    return bind(sum_, a, axis=normalize_axes(axis, len(shape_of(a)), "np.sum"), keepdims=bool(keepdims))


@numpy_function(np.mean)
def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=_NO_VALUE):
    refuse_arguments("np.mean", dtype=(dtype, None), out=(out, None), where=(where, _NO_VALUE))
    shape = shape_of(a)
    axes = normalize_axes(axis, len(shape), "np.mean")
    count = size_of(a) if axes is None else math.prod(shape[k] for k in axes)
    return bind(sum_, a, axis=axes, keepdims=bool(keepdims)) / count


def _norm_impl(x):
    """The Euclidean/Frobenius norm, scaled so that tiny and huge entries neither
    underflow to 0 nor overflow to inf (‖X‖ = s·‖X/s‖ with s = max|Xᵢⱼ|)."""
    x = np.asarray(x)
    scale = np.max(np.abs(x), initial=0.0)
    if scale == 0 or not np.isfinite(scale):
        return np.sqrt(np.sum(x * x, dtype=np.result_type(x.dtype, np.float32)))
    scaled = x / scale
    return scale * np.sqrt(np.sum(scaled * scaled))


def _norm_direction(ans, x):
    """x/‖x‖, and 0 at x = 0 (the minimal-norm subgradient), so that ‖x‖² and
    friends differentiate to 0 there instead of 0·∞ = NaN."""
    if float(plain_value(ans)) == 0.0:
        return 0.0 * x
    return x / ans


norm = register(Primitive(
    _norm_impl, name="linalg.norm",
    vjps={0: lambda g, ans, x: g * _norm_direction(ans, x)},
    jacobians={0: lambda ans, x, names: RowVector(
        vec(np.asarray(_norm_direction(ans, np.asarray(x)))), name=derived_label("{0}/‖{0}‖", names[0]))},
    label=lambda a: f"‖{a}‖",
    formula="D‖X‖ = vec(X/‖X‖)ᵀ (0 at X = 0)",
    reference="Matrix Cookbook eq. (129): ∂‖X‖_F/∂X = X/‖X‖_F",
    samples=_samples.one_general, param_names=("X",),
    # (tiny entries, 1e-170, are below the finite-difference step: tests/test_share_nothing.py)
    edge_cases={"huge entries (no overflow)": lambda rng: (1e200 * rng.standard_normal((2, 2)),)},
    fuzz=lambda Y, c: Y * np.linalg.norm(Y),
))


@numpy_function(np.linalg.norm)
def _norm(x, ord=None, axis=None, keepdims=False):
    ndim = len(shape_of(x))
    frobenius = ord is None or (ord == "fro" and ndim == 2) or (ord == 2 and ndim == 1)
    if not frobenius or axis is not None or keepdims:
        refuse_arguments("np.linalg.norm", ord=(ord, None), axis=(axis, None), keepdims=(keepdims, False))
    return bind(norm, x)


# --------------------------------------------------------------- cumulative
def _reversed_along(x, axis):
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


def _cumsum_vjp(g, ans, x, axis):
    # Y = L X along `axis` (L lower-triangular ones) ⇒ X̄ = Lᵀ Ȳ: a cumulative sum from the end
    return _reversed_along(bind(cumsum, _reversed_along(g, axis), axis=axis), axis)


def _cumsum_jacobian(ans, x, names, axis):
    # Y = L X along `axis`, L = tril(1) the lower-triangular matrix of ones
    shape = np.shape(x)
    ones = np.ones((shape[axis], shape[axis]), dtype=np.result_type(np.asarray(x).dtype, np.float32))
    return along_axis(Dense(np.tril(ones), name="tril(1)"), shape, axis)


cumsum = register(Primitive(
    lambda x, axis: np.cumsum(x, axis=axis), name="cumsum",
    vjps={0: _cumsum_vjp},
    jacobians={0: _cumsum_jacobian},
    label=lambda a, axis: None,
    formula="I ⊗ tril(1) ⊗ I: the lower-triangular matrix of ones acting on the summed axis",
    reference="linear; Magnus–Neudecker Thm 2.2 (vec of a map acting on one axis)",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"axis": 1}),
    param_names=("X",),
    edge_cases={"rows of a 3-D array": lambda rng: _samples.Sample((rng.standard_normal((2, 3, 2)),), {"axis": 0}),
                "a vector": lambda rng: _samples.Sample((rng.standard_normal(4),), {"axis": 0})},
    fuzz=lambda Y, c: np.cumsum(Y, axis=0) / Y.shape[0],
))


@numpy_method("cumsum")
@numpy_function(np.cumsum)
def _cumsum(a, axis=None, dtype=None, out=None):
    refuse_arguments("np.cumsum", dtype=(dtype, None), out=(out, None))
    if axis is None:  # NumPy flattens in row-major order first
        return bind(cumsum, np.reshape(a, (-1,)), axis=0)
    return bind(cumsum, a, axis=normalize_axes(axis, len(shape_of(a)), "np.cumsum")[0])
