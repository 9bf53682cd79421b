"""Elementwise operations: arithmetic, the unary functions, the NumPy ufuncs.

An elementwise map F(X)ᵢⱼ = f(Xᵢⱼ) has ``dF = f'(X) ∘ dX``, so
``DF = Diag(vec f'(X))`` (Magnus–Neudecker ch. 9; Matrix Cookbook §2.8);
with broadcasting, that diagonal is composed with the 0/1 selection that
broadcasts the argument to the output's shape.  The VJPs multiply by the
same derivative and sum over the broadcast axes.  Kinks and ties take the
documented subgradients (maximum/minimum/clip split ties evenly, |x| takes 0
at 0); functions that are piecewise constant (sign, floor, comparisons) give
plain values.  scipy.special's ufuncs live in :mod:`.special`, registered on
first use.

Derivations: ``notes/derivatives.md`` §8 and §17.
"""

from __future__ import annotations

import functools
import math
import operator
import sys

import numpy as np

from .._tracer import Node, compile_guard
from ..operators import Identity, algebra
from . import _samples
from ._registry import (
    UFUNCS,
    UFUNCS_WITH_PARAMETERS,
    VALUE_ONLY_UFUNCS,
    Primitive,
    numpy_function,
    numpy_method,
    register,
    ufunc,
    value_only_ufunc,
)
from ._support import (
    bind,
    broadcast_jacobian,
    decided,
    derived_label,
    elementwise_jacobian,
    infix_label,
    loud,
    on_plain_values,
    operand_label,
    plain_value,
    quiet,
    static_value,
    refuse_arguments,
    shape_of,
    unbroadcast,
)
from .shape import copy

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)
_FLOAT64 = np.dtype(np.float64)  # (NumPy's one native float64 descriptor: `x.dtype is _FLOAT64`)

__all__ = ["add", "subtract", "multiply", "divide", "power", "float_power", "ldexp", "negative",
           "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "logaddexp", "logaddexp2",
           "sqrt", "cbrt", "square", "reciprocal",
           "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh",
           "arcsinh", "arccosh", "arctanh", "deg2rad", "rad2deg", "hypot", "sinc", "sinc_derivative", "numpy_i0",
           "maximum", "minimum", "fmax", "fmin", "absolute", "copysign", "remainder", "fmod", "clip",
           "elementwise_op", "ON_DEMAND_NAMES", "ufunc_on_demand"]


def _unbroadcast_left(g, ans, a, b):
    # g is shaped like ans; an `a` that was not broadcast takes it as it is.
    shape = getattr(a, "shape", ())
    return g if shape == getattr(ans, "shape", ()) else unbroadcast(g, shape)


def _unbroadcast_right(g, ans, a, b):
    shape = getattr(b, "shape", ())
    return g if shape == getattr(ans, "shape", ()) else unbroadcast(g, shape)


def _broadcast_of(position):
    def jacobian(ans, a, b, names):
        return broadcast_jacobian(np.shape((a, b)[position]), np.shape(ans))

    return jacobian


def _binary_label(symbol):
    return infix_label(f" {symbol} ")


# The impls of +, -, * are Python's operators: on the plain arrays and NumPy
# scalars they receive they are np.add & co., without the ufunc call's
# overhead on 0-d operands.
add = register(Primitive(
    operator.add, name="add",
    vjps={0: _unbroadcast_left, 1: _unbroadcast_right},
    jacobians={0: _broadcast_of(0), 1: _broadcast_of(1)},
    label=_binary_label("+"),
    formula="D(X + Y) = B_X (+ B_Y): the 0/1 broadcast selections (identities without broadcasting)",
    reference="Magnus–Neudecker ch. 5 (sum rule)",
    samples=_samples.two_broadcast, param_names=("X", "Y"),
    fuzz=lambda Y, c: Y + c.same(Y.shape),
))
ufunc(np.add, add)

subtract = register(Primitive(
    operator.sub, name="subtract",
    vjps={0: _unbroadcast_left, 1: lambda g, ans, a, b: _unbroadcast_right(-g, ans, a, b)},
    jacobians={0: _broadcast_of(0),
               1: lambda ans, a, b, names: algebra.scale(broadcast_jacobian(np.shape(b), np.shape(ans)), -1.0)},
    label=_binary_label("-"),
    formula="D(X − Y) = B_X (− B_Y)",
    reference="Magnus–Neudecker ch. 5 (sum rule)",
    samples=_samples.two_broadcast, param_names=("X", "Y"),
    fuzz=lambda Y, c: c.same(Y.shape) - Y,
))
ufunc(np.subtract, subtract)


def _times_other(position):
    def jacobian(ans, a, b, names):
        other = (b, a)[position]
        return elementwise_jacobian(other, np.shape((a, b)[position]), np.shape(ans), names[1 - position])

    return jacobian


def _multiply_vjp(position):
    def vjp(g, ans, a, b):
        return unbroadcast(g * (b, a)[position], shape_of((a, b)[position]))

    def in_place(g, ans, a, b):
        # Ḡ ∘ other written over Ḡ, a cotangent only the reverse sweep holds
        # (kronvec/_tracer.py, reverse_sweep), when that is the whole result.
        other = (b, a)[position]
        if (type(g) is _ndarray and g.flags.writeable and g.shape == shape_of((a, b)[position])
                and (type(other) is float or type(other) is _ndarray and not np.may_share_memory(g, other)
                     and np.broadcast_shapes(g.shape, other.shape) == g.shape)
                and np.result_type(g, other) == g.dtype and not (0 in g.strides and g.size > 1)):
            return np.multiply(g, other, out=g)
        return vjp(g, ans, a, b)

    # Ḡ ∘ other is a new array (summed over broadcast axes: new again); in_place reuses Ḡ.
    vjp.returns_fresh, vjp.in_place = True, in_place
    return vjp


multiply = register(Primitive(
    operator.mul, name="multiply",
    vjps={0: _multiply_vjp(0), 1: _multiply_vjp(1)},
    jacobians={0: _times_other(0), 1: _times_other(1)},
    label=_binary_label("∘"),
    formula="D_X(X ∘ Y) = diag(vec Y), D_Y(X ∘ Y) = diag(vec X)",
    reference="Magnus–Neudecker ch. 9; d(X ∘ Y) = dX ∘ Y + X ∘ dY",
    samples=_samples.two_same_shape, param_names=("X", "Y"),
    rule_names={0: "hadamard_wrt_left", 1: "hadamard_wrt_right"},
    fuzz=lambda Y, c: Y * c.same(Y.shape),
    signature="(m,k),(m,k)->(m,k)", entire=True,
))
ufunc(np.multiply, multiply)

# (1/y and x/y² overflow for tiny y although x/y did not: the derivatives are loud too)
_over_divisor = loud("the derivative of np.true_divide", lambda g, b: g / b)
divide = register(Primitive(
    loud("np.true_divide", np.true_divide), name="true_divide",
    vjps={0: lambda g, ans, a, b: unbroadcast(_over_divisor(g, b), shape_of(a)),
          1: lambda g, ans, a, b: unbroadcast(_over_divisor(-g * ans, b), shape_of(b))},
    jacobians={
        0: lambda ans, a, b, names: elementwise_jacobian(
            _over_divisor(1.0, np.asarray(b)), np.shape(a), np.shape(ans), derived_label("1/{}", names[1])),
        1: lambda ans, a, b, names: elementwise_jacobian(
            _over_divisor(-np.asarray(ans), b), np.shape(b), np.shape(ans), derived_label("-{}/{}²", names[0], names[1])),
    },
    label=_binary_label("/"),
    formula="D_X(X / Y) = diag(vec 1/Y), D_Y(X / Y) = −diag(vec X/Y²)",
    reference="d(x/y) = dx/y − x dy/y²",
    samples=_samples.two_positive, param_names=("X", "Y"),
    fuzz=lambda Y, c: Y / (2.0 + Y * Y),
))
ufunc(np.true_divide, divide)


def _power_minus_one(p):
    """p − 1, except 0 where p = 0: d(x⁰) = 0 even at x = 0 (0·0⁻¹ would be NaN)."""
    if isinstance(p, Node):
        return p - 1
    if type(p) is int or type(p) is float:  # (a Python number stays one: weak in NumPy's promotion, NEP 50,
        return p - 1 if p != 0 else 0 * p   # so float32 x keeps x**(p−1) float32; np.int64(p − 1) would not)
    p = np.asarray(p)
    return np.where(p == 0, 0, p - 1) if p.ndim else (p - 1 if p != 0 else 0 * p)


_power_values = loud("np.power", np.power)
_power_derivative = loud("the derivative of np.power",
                         lambda a, p: p * np.power(a, _power_minus_one(p)))


def _log_base_for_exponent(a, p):
    """ln a for the derivative aᵖ ln a of p ↦ aᵖ, where a = 0 (and p > 0, so
    aᵖ = 0) contributes 0 rather than 0·(−∞) = NaN."""
    a_plain, p_plain = np.asarray(plain_value(a)), np.asarray(plain_value(p))
    zero_base = a_plain == 0
    if not zero_base.any():
        return np.log(a)
    shape = np.broadcast_shapes(a_plain.shape, p_plain.shape)
    if np.any(np.broadcast_to(zero_base, shape) & (np.broadcast_to(p_plain, shape) <= 0)):
        raise ValueError("np.power: 0**p has no derivative with respect to p at p <= 0")
    return np.log(np.where(zero_base, 1.0, a))


_POWER_VJPS = {0: lambda g, ans, a, p: unbroadcast(g * _power_derivative(a, p), shape_of(a)),
               1: lambda g, ans, a, p: unbroadcast(g * ans * _log_base_for_exponent(a, p), shape_of(p))}
_POWER_JACOBIANS = {
    0: lambda ans, a, p, names: elementwise_jacobian(
        _power_derivative(np.asarray(a), p), np.shape(a), np.shape(ans),
        derived_label("{1}·{0}^({1}-1)", names[0], names[1])),
    1: lambda ans, a, p, names: elementwise_jacobian(
        np.asarray(ans) * _log_base_for_exponent(np.asarray(a), np.asarray(p)), np.shape(p), np.shape(ans),
        derived_label("{0}^{1}·log {0}", names[0], names[1])),
}
power = register(Primitive(
    _power_values, name="power", vjps=_POWER_VJPS, jacobians=_POWER_JACOBIANS,
    label=lambda a, p: f"{a}^{p}",
    formula="D_X(X^p) = diag(vec p·X^(p−1)), D_p(X^p) = diag(vec X^p ∘ log X)",
    reference="d(x^p) = p x^(p−1) dx + x^p log x dp",
    samples=_samples.two_positive, param_names=("X", "P"),
    fuzz=lambda Y, c: (1.0 + Y * Y) ** 1.5,
))
ufunc(np.power, power)

negative = register(Primitive(
    np.negative, name="negative",
    vjps={0: lambda g, ans, x: -g},
    jacobians={0: lambda ans, x, names: algebra.scale(Identity(np.size(x)), -1.0)},
    label=lambda a: None if a is None else f"-{operand_label(str(a), 3)}",
    formula="D(−X) = −I", reference="linearity",
    samples=_samples.one_general, param_names=("X",),
    fuzz=lambda Y, c: -Y,
))
ufunc(np.negative, negative)


def elementwise_op(numpy_ufunc, *derivatives, name=None, spelling="np", formula, reference,
                   samples=_samples.one_general, edge_cases=None, fuzz=None, rule_name=None, entire=False,
                   loud_value=True, loud_derivatives=True, param_names=None, ufuncs=None, parameters=None,
                   vjps=None, public=None):
    """Define an elementwise map f(X₁, …, X_k) computed by `numpy_ufunc`, and route
    ``ufuncs`` (default: `numpy_ufunc` itself) to it.

    ``derivatives[p](ans, *args)`` is ∂f/∂X_p, written with NumPy operations (it
    is traced again for higher orders). Its Jacobian is Diag(vec ∂f/∂X_p) times
    the 0/1 selection broadcasting X_p to the output; its VJP multiplies by the
    same derivative and sums over the broadcast axes.

    ``loud_value=False`` states that f is finite, without a floating-point
    exception, at every finite input (sin, tanh); ``loud_derivatives=False`` that
    the derivatives are, wherever f is (exp′ = exp, tanh′ = 1 − tanh²). Otherwise
    each is evaluated by :func:`loud`: a NaN or ±inf from finite inputs is a
    ValueError. (The check costs as much as the function at small sizes, so the
    maps that cannot fail skip it; ``tests/test_elementwise.py`` holds them to it.)

    ``parameters`` maps the positions of arguments that are parameters, not
    variables (a Bessel function's order ν), to their names; their derivative is
    given as None. The operation has no VJP there, and a traced value passed there
    is refused with a TypeError naming the function and the argument.

    ``vjps`` maps a position to a VJP ``vjp(g, ans, *args)`` written out instead of
    ``g * derivative``: the same derivative in fewer NumPy calls (``g / (1 + x)``
    rather than ``g * (1 / (1 + x))``, one rounding instead of two), for the
    maps whose recording cost is measured (``benchmarks/measure_recording.py``).
    Like the derivatives it is traced again for higher orders.

    ``public`` is the spelling errors name (default ``spelling.name``): given where the
    registry name differs from it (scipy.special.expm1 beside NumPy's expm1).
    """
    name = name or numpy_ufunc.__name__
    public = public or f"{spelling}.{name}"
    impl = loud(public, numpy_ufunc) if loud_value else numpy_ufunc
    if loud_derivatives:
        derivatives = tuple(None if d is None else loud(f"the derivative of {public}", d) for d in derivatives)
    arity = len(derivatives)
    variables = [p for p in range(arity) if derivatives[p] is not None]

    def vjp(position):
        if vjps and position in vjps:
            return vjps[position]
        derivative = derivatives[position]
        if arity == 1:
            return lambda g, ans, x: g * derivative(ans, x)
        if arity == 2:
            def vjp2(g, ans, x, y):
                contribution = g * derivative(ans, x, y)
                operand = y if position else x
                # (an operand that was not broadcast, the common case, read without shape_of/unbroadcast)
                shape = operand.shape if type(operand) is _ndarray else shape_of(operand)
                if type(contribution) is _ndarray and contribution.shape == shape:
                    return contribution
                return unbroadcast(contribution, shape)

            return vjp2
        return lambda g, ans, *args: unbroadcast(g * derivative(ans, *args), shape_of(args[position]))

    def jacobian(position):
        derivative = derivatives[position]
        label = f"{name}'({{}})" if arity == 1 else f"∂{name}/∂{{}}"

        def build(ans, *args, names):
            args = [np.asarray(a) for a in args]
            return elementwise_jacobian(derivative(np.asarray(ans), *args), args[position].shape, np.shape(ans),
                                        derived_label(label, names[position]))

        return build

    op = register(Primitive(
        impl, name=name,
        vjps={p: vjp(p) for p in variables},
        jacobians={p: jacobian(p) for p in variables},
        label=lambda *a: f"{name}({', '.join(map(str, a))})",
        formula=formula, reference=reference, samples=samples, edge_cases=edge_cases,
        param_names=param_names or (("X",) if arity == 1 else ("X", "Y", "Z")[:arity]),
        rule_names={0: rule_name} if rule_name else None, fuzz=fuzz,
        signature=",".join(["(m,k)"] * arity) + "->(m,k)", entire=entire,
    ))
    for routed in (numpy_ufunc,) if ufuncs is None else ufuncs:
        ufunc(routed, op, parameters)
    return op


def _sample(*arrays, **params):
    return _samples.Sample(tuple(arrays), params)


def _uniform(low, high):
    return lambda rng, n: (rng.uniform(low, high, size=(n, n + 1)),)


def _away_from_zero(rng, shape, low=0.5, high=2.0):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape)


_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))

# ------------------------------------------------------------ exponentials, logarithms
exp = elementwise_op(np.exp, lambda ans, x: ans, formula="diag(vec exp X)", reference="d exp(x) = exp(x) dx",
                     fuzz=lambda Y, c: np.exp(np.tanh(Y)), rule_name="exp", entire=True, loud_derivatives=False)
exp2 = elementwise_op(np.exp2, lambda ans, x: _LN2 * ans, formula="diag(ln 2 · vec 2^X)",
                      reference="d 2ˣ = ln 2 · 2ˣ dx", fuzz=lambda Y, c: np.exp2(np.tanh(Y)), entire=True,
                      loud_derivatives=False)
expm1 = elementwise_op(np.expm1, lambda ans, x: np.exp(x), formula="diag(vec exp X)",
                       reference="d(eˣ − 1) = eˣ dx", fuzz=lambda Y, c: np.expm1(np.tanh(Y)), entire=True,
                       loud_derivatives=False)
log = elementwise_op(np.log, lambda ans, x: 1.0 / x, formula="diag(vec X)⁻¹", reference="d log(x) = dx / x",
                     samples=_samples.one_positive, fuzz=lambda Y, c: np.log(1.0 + Y ** 2), rule_name="log")
log2 = elementwise_op(np.log2, lambda ans, x: 1.0 / (_LN2 * x), formula="diag(vec 1/(X ln 2))",
                      reference="d log₂x = dx / (x ln 2)", samples=_samples.one_positive,
                      fuzz=lambda Y, c: np.log2(1.0 + Y * Y))
log10 = elementwise_op(np.log10, lambda ans, x: 1.0 / (_LN10 * x), formula="diag(vec 1/(X ln 10))",
                       reference="d log₁₀x = dx / (x ln 10)", samples=_samples.one_positive,
                       fuzz=lambda Y, c: np.log10(1.0 + Y * Y))
# (log1p is finite only at x > −1, where 1 + x ≥ 2⁻⁵³: its derivative cannot overflow)
log1p = elementwise_op(np.log1p, lambda ans, x: 1.0 / (1.0 + x), formula="diag(vec 1/(1 + X))",
                       reference="d log(1 + x) = dx / (1 + x)", samples=_samples.one_positive,
                       fuzz=lambda Y, c: np.log1p(Y * Y), loud_derivatives=False,
                       vjps={0: lambda g, ans, x: g / (1.0 + x)})
logaddexp = elementwise_op(
    np.logaddexp, lambda ans, x, y: np.exp(x - ans), lambda ans, x, y: np.exp(y - ans),
    formula="D_X = diag(vec exp(X − L)), D_Y = diag(vec exp(Y − L)) for L = log(eˣ + eʸ) (a softmax pair)",
    reference="d log(eˣ + eʸ) = (eˣ dx + eʸ dy)/(eˣ + eʸ); NumPy docs for np.logaddexp",
    samples=_samples.two_broadcast, entire=True, loud_value=False, loud_derivatives=False,
    edge_cases={"far apart (no overflow)": lambda rng: (np.array([[800.0, -3.0]]), np.array([[1.0, -750.0]]))},
    fuzz=lambda Y, c: np.logaddexp(Y, c.same(Y.shape)))
logaddexp2 = elementwise_op(
    np.logaddexp2, lambda ans, x, y: np.exp2(x - ans), lambda ans, x, y: np.exp2(y - ans),
    formula="D_X = diag(vec 2^(X − L)), D_Y = diag(vec 2^(Y − L)) for L = log₂(2ˣ + 2ʸ)",
    reference="d log₂(2ˣ + 2ʸ) = (2ˣ dx + 2ʸ dy)/(2ˣ + 2ʸ); NumPy docs for np.logaddexp2",
    samples=_samples.two_broadcast, entire=True, loud_value=False, loud_derivatives=False,
    fuzz=lambda Y, c: np.logaddexp2(Y, c.same(Y.shape)))

# ---------------------------------------------------------------------- powers
sqrt = elementwise_op(np.sqrt, lambda ans, x: 0.5 / ans, formula="diag(1 / (2 vec √X))",
                      reference="d √x = dx / (2√x)", samples=_samples.one_positive,
                      fuzz=lambda Y, c: np.sqrt(1.0 + np.square(Y)), rule_name="sqrt")
cbrt = elementwise_op(np.cbrt, lambda ans, x: 1.0 / (3.0 * ans * ans), formula="diag(1 / (3 vec ∛X²))",
                      reference="d ∛x = dx / (3 ∛x²)", loud_value=False,
                      samples=lambda rng, n: (_away_from_zero(rng, (n, n + 1)),),
                      fuzz=lambda Y, c: np.cbrt(2.0 + np.tanh(Y)))
square = elementwise_op(np.square, lambda ans, x: 2.0 * x, formula="diag(2 vec X)", reference="d x² = 2x dx",
                        fuzz=lambda Y, c: np.square(Y) / 2.0, rule_name="square", entire=True,
                        loud_derivatives=False)
reciprocal = elementwise_op(np.reciprocal, lambda ans, x: -(ans * ans), formula="−diag(vec 1/X²)",
                            reference="d(1/x) = −dx / x²",
                            samples=lambda rng, n: (_away_from_zero(rng, (n, n + 1)),),
                            fuzz=lambda Y, c: np.reciprocal(2.0 + np.tanh(Y)))

# ------------------------------------------------------------- trigonometric
sin = elementwise_op(np.sin, lambda ans, x: np.cos(x), formula="diag(vec cos X)",
                     reference="d sin(x) = cos(x) dx", fuzz=lambda Y, c: np.sin(Y), entire=True,
                     loud_value=False, loud_derivatives=False)
cos = elementwise_op(np.cos, lambda ans, x: -np.sin(x), formula="−diag(vec sin X)",
                     reference="d cos(x) = −sin(x) dx", fuzz=lambda Y, c: np.cos(Y), entire=True,
                     loud_value=False, loud_derivatives=False)
# (|tan x| ≤ 1.7e16 at every double: 1 + tan² cannot overflow)
tan = elementwise_op(np.tan, lambda ans, x: 1.0 + ans * ans, formula="diag(1 + vec tan²X)",
                     reference="d tan(x) = (1 + tan²x) dx", samples=_samples.one_bounded,
                     fuzz=lambda Y, c: np.tan(np.tanh(Y)), loud_value=False, loud_derivatives=False)
# (1 − x)(1 + x) rather than 1 − x²: accurate near ±1, where the derivative grows
arcsin = elementwise_op(np.arcsin, lambda ans, x: 1.0 / np.sqrt((1.0 - x) * (1.0 + x)),
                        formula="diag(vec 1/√(1 − X²))", reference="d arcsin(x) = dx / √(1 − x²)",
                        samples=_samples.one_bounded, fuzz=lambda Y, c: np.arcsin(0.9 * np.tanh(Y)))
arccos = elementwise_op(np.arccos, lambda ans, x: -1.0 / np.sqrt((1.0 - x) * (1.0 + x)),
                        formula="−diag(vec 1/√(1 − X²))", reference="d arccos(x) = −dx / √(1 − x²)",
                        samples=_samples.one_bounded, fuzz=lambda Y, c: np.arccos(0.9 * np.tanh(Y)))
# (1/(1 + x²) is in (0, 1] at every finite x — 0 where x² overflows, its limit — so the
# VJP needs no finiteness check, only quiet arithmetic; the Jacobian keeps the loud form)
arctan = elementwise_op(np.arctan, lambda ans, x: 1.0 / (1.0 + x * x), formula="diag(vec 1/(1 + X²))",
                        reference="d arctan(x) = dx / (1 + x²)", fuzz=lambda Y, c: np.arctan(Y), entire=True,
                        loud_value=False, vjps={0: quiet(lambda g, ans, x: g / (1.0 + x * x))})


def _arctan2_denominator(y, x):
    h = np.hypot(y, x)  # (x² + y² would overflow for large entries)
    return h * h


arctan2 = elementwise_op(
    np.arctan2, lambda ans, y, x: x / _arctan2_denominator(y, x), lambda ans, y, x: -y / _arctan2_denominator(y, x),
    formula="D_Y = diag(vec X/(X² + Y²)), D_X = −diag(vec Y/(X² + Y²)) (Y the first argument)",
    reference="d atan2(y, x) = (x dy − y dx)/(x² + y²); NumPy docs for np.arctan2", param_names=("Y", "X"),
    samples=lambda rng, n: (_away_from_zero(rng, (n, n + 1)), _away_from_zero(rng, (1, n + 1))),
    edge_cases={"the negative x-axis side (branch cut approached from above)": lambda rng: (
        np.array([[0.3, 1.0]]), np.array([[-2.0, -0.5]]))},
    loud_value=False, fuzz=lambda Y, c: np.arctan2(Y, 2.0 + np.tanh(c.same(Y.shape))))
# ------------------------------------------------------------------- sinc
_SINC_SERIES_BELOW = 1.0  # |t| where the Taylor series takes over from Leibniz's rule
_SINC_SERIES_TERMS = 12  # enough for |t| < 1: the next term is below 1/24! ≈ 2e-24 of the first


@functools.lru_cache(maxsize=16)
def _sinc_series(n):
    """Horner coefficients (highest first) of f⁽ⁿ⁾(t) = t^(n mod 2)·Σᵢ cᵢ (t²)ⁱ for f(t) = sin(t)/t:
    the Taylor series Σ_{2m ≥ n} (−1)ᵐ t^(2m−n) / ((2m + 1)(2m − n)!) with 2m − n = 2i + (n mod 2).
    (A pure function of n, cached as an immutable tuple.)"""
    coefficients = []
    for i in range(_SINC_SERIES_TERMS):
        power = 2 * i + n % 2
        m = (power + n) // 2
        coefficients.append((-1) ** m / ((2 * m + 1) * math.factorial(power)))
    return tuple(reversed(coefficients))


def _sinc_derivative_values(x, n):
    """dⁿ/dxⁿ sinc(x) = πⁿ f⁽ⁿ⁾(πx) for f(t) = sin(t)/t, accurate at and near 0.

    For |t| < 1 by the Taylor series (no 0/0; f″(0) = −1/3); elsewhere by Leibniz's
    rule on sin(t)·t⁻¹, f⁽ⁿ⁾(t) = Σₖ C(n, k) sin(t + (n − k)π/2)(−1)ᵏ k! / t^(k+1), whose
    terms no longer cancel there. (Checked against 40-digit arithmetic: relative error
    below 1e-14 for n ≤ 3, 2e-13 for n ≤ 5.) Each formula that some entry needs is
    evaluated on the whole array and the right one taken per entry: fewer NumPy calls
    than masking, which small arrays feel.
    """
    x = np.asarray(x)
    t = np.pi * x.astype(np.result_type(x.dtype, np.float64), copy=False)
    near = np.abs(t) < _SINC_SERIES_BELOW
    some_near = near.any()
    if some_near:
        coefficients = _sinc_series(n)
        series = np.full_like(t, coefficients[0])
        for coefficient in coefficients[1:]:
            series *= t * t
            series += coefficient
        if n % 2:
            series *= t
        if near.all():
            return np.pi ** n * series
    safe = np.where(near, 1.0, t) if some_near else t  # (Leibniz's terms are not finite at 0)
    inverse = 1.0 / safe
    power, leibniz = inverse.copy(), np.zeros_like(t)
    for k in range(n + 1):
        leibniz += (math.comb(n, k) * (-1) ** k * math.factorial(k)) * np.sin(safe + (n - k) * (np.pi / 2)) * power
        power *= inverse
    return np.pi ** n * (np.where(near, series, leibniz) if some_near else leibniz)


_sinc_derivative_loud = loud("the derivative of np.sinc", _sinc_derivative_values)

# dⁿ sinc/dxⁿ, an operation of its own (its derivative is the next one), as polygamma for ψ
sinc_derivative = register(Primitive(
    lambda x, n: _sinc_derivative_loud(x, n), name="sinc_derivative",
    vjps={0: lambda g, ans, x, n: g * sinc_derivative(x, n=n + 1)},
    jacobians={0: lambda ans, x, names, n: elementwise_jacobian(
        _sinc_derivative_loud(np.asarray(x), n + 1), np.shape(x), np.shape(ans))},
    label=lambda a, n: f"sinc⁽{n}⁾({a})",
    formula="diag(vec sinc⁽ⁿ⁺¹⁾(X))",
    reference="d sinc⁽ⁿ⁾(x) = sinc⁽ⁿ⁺¹⁾(x) dx; sinc(x) = sin(πx)/(πx) (NumPy docs for np.sinc); "
              "Taylor series and Leibniz's rule",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, n + 1)),), {"n": 1}),
    param_names=("X",),
    edge_cases={"second derivative at and near 0": lambda rng: _samples.Sample(
                    (np.array([[0.0, 1e-9], [-1e-5, 0.5]]),), {"n": 2}),
                "third derivative across the switch of formulas": lambda rng: _samples.Sample(
                    (np.array([[1.59, 1.6], [-1.61, 7.3]]),), {"n": 3})},
))
# np.sinc is a Python function (NumPy computes sin(y)/y with y = π·x, and 1e-20 for x = 0)
sinc = elementwise_op(
    np.sinc, lambda ans, x: sinc_derivative(x, n=1), name="sinc", ufuncs=(),
    formula="diag(vec sinc′(X)), sinc′(x) = (cos(πx) − sinc(x))/x (0 at x = 0)",
    reference="sinc(x) = sin(πx)/(πx), sinc(0) = 1 (NumPy docs for np.sinc); d sinc = sinc′ dx",
    edge_cases={"at and near 0, at integers": lambda rng: (np.array([[0.0, 1e-9], [-1e-5, 1.0]]),),
                "large": lambda rng: (np.array([[10.5, -100.25], [1e5 + 0.3, -7.0]]),)},
    fuzz=lambda Y, c: np.sinc(Y), entire=True)


@numpy_function(np.sinc)
def _sinc(x):
    return bind(sinc, x)


def _bessel_i1(ans, x):
    # I₀′ = I₁ (DLMF 10.29.3).  scipy.special is imported only when np.i0 is differentiated
    # (import kronvec does not load it); on a traced x its i1 registers the family on demand.
    import scipy.special

    return scipy.special.i1(x)


# np.i0 is a Python function (Clenshaw's Chebyshev series, not a ufunc): the value is NumPy's own,
# the derivative SciPy's I₁ — an operation of its own, named apart from scipy.special.i0's
numpy_i0 = elementwise_op(
    np.i0, _bessel_i1, name="numpy_i0", ufuncs=(),
    formula="diag(vec I₁(X))",
    reference="dI₀(x) = I₁(x) dx; DLMF 10.29.3 (value: NumPy's np.i0, Clenshaw's Chebyshev series)",
    edge_cases={"at and around 0, across NumPy's switch at |x| = 8": lambda rng: (
        np.array([[0.0, -7.999], [8.0, -8.5]]),),
                "large": lambda rng: (np.array([[-30.0, 100.0], [-250.0, 300.0]]),)},
    fuzz=lambda Y, c: np.i0(Y), entire=True)


@numpy_function(np.i0)
def _i0(x):
    return bind(numpy_i0, x)


# (hyperbolic: cosh(x) is finite exactly where sinh(x) is, and |sinh| ≤ cosh)
sinh = elementwise_op(np.sinh, lambda ans, x: np.cosh(x), formula="diag(vec cosh X)",
                      reference="d sinh(x) = cosh(x) dx", fuzz=lambda Y, c: np.sinh(Y), entire=True,
                      loud_derivatives=False, vjps={0: lambda g, ans, x: g * _cosh(x)})
cosh = elementwise_op(np.cosh, lambda ans, x: np.sinh(x), formula="diag(vec sinh X)",
                      reference="d cosh(x) = sinh(x) dx", fuzz=lambda Y, c: np.cosh(Y), entire=True,
                      loud_derivatives=False, vjps={0: lambda g, ans, x: g * _sinh(x)})
_cosh, _sinh = np.cosh, np.sinh  # (read by the VJPs above as globals, not np.<name> loads)
tanh = elementwise_op(np.tanh, lambda ans, x: 1.0 - ans * ans, formula="diag(1 − vec tanh²X)",
                      reference="d tanh(x) = (1 − tanh²x) dx", fuzz=lambda Y, c: np.tanh(Y), rule_name="tanh",
                      entire=True, loud_value=False, loud_derivatives=False)
# (hypot(1, x) = √(1 + x²) without overflow)
arcsinh = elementwise_op(np.arcsinh, lambda ans, x: 1.0 / np.hypot(1.0, x), formula="diag(vec 1/√(1 + X²))",
                         reference="d arcsinh(x) = dx / √(1 + x²)", fuzz=lambda Y, c: np.arcsinh(Y), entire=True,
                         loud_value=False, loud_derivatives=False,
                         edge_cases={"huge entries": lambda rng: (_away_from_zero(rng, (2, 2), 1e100, 1e101),)})
arccosh = elementwise_op(np.arccosh, lambda ans, x: 1.0 / (np.sqrt(x - 1.0) * np.sqrt(x + 1.0)),
                         formula="diag(vec 1/√(X² − 1))", reference="d arccosh(x) = dx / √(x² − 1)",
                         samples=_uniform(1.5, 3.0), fuzz=lambda Y, c: np.arccosh(2.0 + Y * Y))
arctanh = elementwise_op(np.arctanh, lambda ans, x: 1.0 / ((1.0 - x) * (1.0 + x)),
                         formula="diag(vec 1/(1 − X²))", reference="d arctanh(x) = dx / (1 − x²)",
                         samples=_samples.one_bounded, fuzz=lambda Y, c: np.arctanh(0.9 * np.tanh(Y)))
_RADIANS_PER_DEGREE = float(np.pi / 180.0)
deg2rad = elementwise_op(np.deg2rad, lambda ans, x: _RADIANS_PER_DEGREE, formula="(π/180)·I",
                         reference="linear: x ↦ πx/180", fuzz=lambda Y, c: np.deg2rad(Y), entire=True,
                         loud_value=False, loud_derivatives=False, ufuncs=(np.deg2rad, np.radians))
rad2deg = elementwise_op(np.rad2deg, lambda ans, x: 1.0 / _RADIANS_PER_DEGREE, formula="(180/π)·I",
                         reference="linear: x ↦ 180x/π", fuzz=lambda Y, c: np.rad2deg(Y) / 100.0, entire=True,
                         loud_derivatives=False, ufuncs=(np.rad2deg, np.degrees))

# ----------------------------------------------------------------- hypot
def _hypot_origin_error():
    return ValueError("np.hypot has no second derivative at x = y = 0 (its first derivative jumps there)")


def _refuse_hypot_origin(ans):
    if _count_nonzero(np.asarray(ans) == 0):
        raise _hypot_origin_error()
    return np.zeros(())


def _hypot_share(ans, a):
    """a / hypot(a, b), and 0 where a = b = 0: the minimal-norm subgradient, as for
    ‖X‖ at 0 (hypot(x, 0) = |x| keeps |x|'s subgradient 0 there). The second
    derivative does not exist there: refused when the point is traced."""
    if isinstance(ans, Node) and compile_guard(ans) is not None:
        # a traced VJP in a recording made for replay (hvp): each replay checks the origin again
        decided(_refuse_hypot_origin, ans)
        return a / ans
    at_origin = np.asarray(plain_value(ans) == 0)
    if not _count_nonzero(at_origin):
        return a / ans
    if isinstance(a, Node) or isinstance(ans, Node):
        raise _hypot_origin_error()
    return a / np.where(at_origin, 1.0, ans)


hypot = elementwise_op(
    np.hypot, lambda ans, x, y: _hypot_share(ans, x), lambda ans, x, y: _hypot_share(ans, y),
    formula="D_X = diag(vec X/H), D_Y = diag(vec Y/H) for H = hypot(X, Y) (0 where X = Y = 0)",
    reference="d√(x² + y²) = (x dx + y dy)/√(x² + y²); NumPy docs for np.hypot",
    samples=_samples.two_broadcast, loud_value=False, loud_derivatives=False,
    edge_cases={
        "huge entries (no overflow)": lambda rng: (1e200 * _away_from_zero(rng, (2, 2)), 1e200 * _away_from_zero(rng, (2, 2))),
        "at the origin (subgradient 0; no second derivative)": lambda rng: _samples.Sample(
            (np.array([[0.0, 1.5], [-0.5, 0.7]]), np.array([[0.0, 0.3], [2.0, -1.0]])), {}, max_order=1)},
    fuzz=lambda Y, c: np.hypot(Y, 1.0 + c.same(Y.shape) ** 2))

# ---------------------------------------------------------- kinks and ties
def _tie_weight(ans, a, b):
    """∂ans/∂a for ans one of a, b (maximum, minimum, fmax, fmin): 1 where ans is a
    alone, 0 where it is b alone, ½ at a tie — so that max(x, y) + min(x, y) = x + y
    holds for the derivatives too. A constant of the point (a decision on the values)."""
    if type(ans) is _ndarray and not isinstance(a, Node) and not isinstance(b, Node):
        return _plain_tie_weight(ans, a, b)  # (plain operands, the common case, as they are)
    return decided(_plain_tie_weight, ans, a, b)


def _plain_tie_weight(ans, a, b):
    ans = np.asarray(ans)
    taken = ans == a  # (where ans is a: so fmax(x, NaN) = x gives x the weight 1)
    weight = taken.astype(ans.dtype if ans.dtype.kind == "f" else np.float64)
    tie = ans == b
    tie &= taken
    if _count_nonzero(tie):
        weight = np.where(tie, 0.5, weight).astype(weight.dtype)
    return weight


_count_nonzero = np.count_nonzero  # (ndarray.any() costs four times as much on small arrays)


def _extremum(numpy_ufunc, which):
    return elementwise_op(
        numpy_ufunc, _tie_weight, lambda ans, x, y: _tie_weight(ans, y, x),
        formula=f"D_X = diag(vec W)·B_X, D_Y = diag(vec (1 − W))·B_Y, W = 1 where X is the {which}, "
                "0 where Y is, ½ at a tie",
        reference=f"piecewise: each entry is X's or Y's (NumPy docs for np.{numpy_ufunc.__name__}); "
                  "ties split evenly (notes/conventions.md §7)",
        samples=_samples.two_broadcast, loud_value=False, loud_derivatives=False,
        fuzz=lambda Y, c: numpy_ufunc(Y, c.same(Y.shape)))


# The weight of x in maximum(x, c) (and fmax) or minimum(x, c) (and fmin) for a finite
# number c, by the rank searchsorted gives x among (c⁻, c, +inf), c⁻ the float below c:
# #{b < x} is 0 below c, 1 at c (a tie: ½), 2 above it (+inf included) and 3 for a NaN,
# which sorts last and which the result is not (fmax/fmin take c: weight 0; maximum and
# minimum a NaN, which is not x == ans either). The weights _tie_weight gives, entry for entry.
_LARGER_WEIGHT_BY_RANK = np.array([0.0, 0.5, 1.0, 0.0])
_SMALLER_WEIGHT_BY_RANK = np.array([1.0, 0.5, 0.0, 0.0])
_LARGER_WEIGHT_BY_RANK.flags.writeable = _SMALLER_WEIGHT_BY_RANK.flags.writeable = False


def _fast_extremum_vjp(position, weights, general):
    """The VJP of maximum & co. for the traced operand at `position`, with the common case
    — the other operand a finite Python number (np.maximum(x, 0.0)), a float64 cotangent
    shaped like x — read off one binary search (bit for bit g·W, W float64 as g is)
    instead of _tie_weight's comparisons; anything else by `general`."""

    def vjp(g, ans, x, y):
        operand, other = (y, x) if position else (x, y)
        if (type(g) is _ndarray and type(operand) is _ndarray and (type(other) is float or _exact_bound(other))
                and _MINUS_INF < other < _INF and g.dtype is _FLOAT64 and operand.dtype is _FLOAT64):
            # (other a number: the result, so g, is shaped like operand; an int is its float,
            # exactly — _exact_bound — and equal to it as a cache key)
            return g * weights.take(_extremum_bounds(other).searchsorted(operand))
        return general(g, ans, x, y)

    return vjp


@functools.lru_cache(maxsize=64)
def _extremum_bounds(c):
    """(c⁻, c, +inf) as float64 for a finite number c (an exact float): read-only, shared
    (a function of c only)."""
    bounds = np.array((_nextafter(c, _MINUS_INF), c, _INF), dtype=np.float64)
    bounds.flags.writeable = False
    return bounds


def _extremum_with_fast_vjps(numpy_ufunc, which):
    op = _extremum(numpy_ufunc, which)
    weights = _LARGER_WEIGHT_BY_RANK if which == "larger" else _SMALLER_WEIGHT_BY_RANK
    return op.defvjp(*(_fast_extremum_vjp(p, weights, op.vjps[p]) for p in (0, 1)))


maximum = _extremum_with_fast_vjps(np.maximum, "larger")
minimum = _extremum_with_fast_vjps(np.minimum, "smaller")
# fmax/fmin differ from maximum/minimum at NaN only (which kronvec refuses in inputs); _tie_weight
# reads which operand the result is, so a NaN operand, if allowed, gets weight 0 and the other 1.
fmax = _extremum_with_fast_vjps(np.fmax, "larger")
fmin = _extremum_with_fast_vjps(np.fmin, "smaller")


# |x| at 0 takes the subgradient 0 (sign(0) = 0): the convention of notes/conventions.md.
absolute = elementwise_op(np.absolute, lambda ans, x: decided(np.sign, x), formula="diag(vec sign X)",
                          reference="d|x| = sign(x) dx (subgradient 0 at 0)", loud_value=False,
                          loud_derivatives=False, ufuncs=(np.absolute, np.fabs))


def _copysign_weight(x, y):
    return np.copysign(1.0, np.asarray(y)) * np.sign(np.asarray(x))


def _copysign_derivative(ans, x, y):
    # copysign(x, y) = s(y)·|x| with s(y) = ±1 from y's sign bit: s(y)·sign(x), 0 at x = 0 (as |x|)
    return decided(_copysign_weight, x, y)


copysign = elementwise_op(
    np.copysign, _copysign_derivative, lambda ans, x, y: np.zeros(np.shape(static_value(ans))),
    formula="D_X = diag(vec s(Y) ∘ sign X) (s = ±1 from the sign bit; 0 at X = 0), D_Y = 0",
    reference="copysign(x, y) = s(y)|x|: piecewise constant in y; NumPy docs for np.copysign",
    samples=lambda rng, n: (_away_from_zero(rng, (n, n + 1)), _away_from_zero(rng, (1, n + 1))),
    loud_value=False, loud_derivatives=False,
    fuzz=lambda Y, c: np.copysign(1.0 + Y * Y, c.same(Y.shape)))


def _quotient(ans, x, y):
    """k with ans = x − k·y (an integer): the quotient remainder/fmod took away, read
    back from their own result so that it agrees with them at every rounding."""
    x, y, ans = (np.asarray(plain_value(v)) for v in (x, y, ans))
    return np.rint((x - ans) / y)


# (k overflows where x/y does, e.g. 1e308 % 1e-300, though the remainder is finite: loud)
_minus_quotient = loud("the derivative of np.remainder/np.fmod", lambda ans, x, y: -_quotient(ans, x, y))


def _remainder_like(numpy_ufunc, rounding):
    return elementwise_op(
        numpy_ufunc, lambda ans, x, y: 1.0, _minus_quotient, loud_derivatives=False,
        formula=f"x − k·y with k = {rounding}(x/y) constant between jumps: D_X = I·B_X, D_Y = −diag(vec k)·B_Y",
        reference=f"NumPy docs for np.{numpy_ufunc.__name__}; at a jump (x/y an integer) the derivative "
                  "of the branch the value is on (k as NumPy computed it)",
        samples=_remainder_samples,
        fuzz=lambda Y, c: numpy_ufunc(0.5 + 0.2 * np.tanh(Y), 2.0) + 0.0 * Y)


def _remainder_samples(rng, n):
    # x/y = k + u with u in (0.2, 0.8): away from the jumps at integer x/y
    y = _away_from_zero(rng, (1, n + 1))
    k = rng.integers(-3, 4, size=(n, n + 1))
    return (y * (k + rng.uniform(0.2, 0.8, size=(n, n + 1))), y)


remainder = _remainder_like(np.remainder, "floor")  # also np.mod and the % operator
fmod = _remainder_like(np.fmod, "trunc")


try:  # the ufunc np.clip ends in (np.clip → ndarray.clip → numpy._core._methods._clip → it)
    from numpy._core.umath import clip as _clip_ufunc
except ImportError:  # pragma: no cover - another NumPy: its definition, in two ufuncs
    def _clip_ufunc(x, low, high):
        return np.minimum(np.maximum(x, low), high)


def _clip_impl(x, low, high):
    # min(max(x, low), high), NumPy's definition, computed as np.clip computes it, in one ufunc
    # call, without np.clip's Python layers (the same numbers as np.clip's, signed zeros included)
    return _clip_ufunc(x, low, high)


def _clip_weight(position):
    """∂/∂(x, low, high)[position] of clip = min(max(x, low), high), as NumPy defines it:
    the tie weights of the maximum and then of the minimum (½ at a bound)."""

    def weight(ans, x, low, high):
        if isinstance(ans, Node) or isinstance(x, Node) or isinstance(low, Node) or isinstance(high, Node):
            return decided(plain_weight, ans, x, low, high)  # (a decision on the values)
        return plain_weight(ans, x, low, high)

    def plain_weight(ans, x, low, high):
        if position == 0:
            # the common case, no entry on a bound: 1 strictly inside, 0 outside
            # (what the tie weights below give there, in two comparisons)
            on_bound = (x == low) | (x == high)
            if not on_bound.any():
                inside = (x > low) & (x < high)
                return inside.astype(np.result_type(np.asarray(static_value(ans)).dtype, np.float32))
        middle = np.maximum(x, low)
        if position == 2:
            return _tie_weight(ans, high, middle)
        through_middle = _tie_weight(ans, middle, high)
        return through_middle * (_tie_weight(middle, x, low) if position == 0 else _tie_weight(middle, low, x))

    return weight


def _clip_samples(rng, n):
    # entries 0.1 or more from the bounds ±0.5: on both sides of each bound
    x = rng.choice([-1.3, -0.9, -0.2, 0.1, 0.3, 0.8, 1.2], size=(n, n + 1)) + rng.uniform(-0.05, 0.05, (n, n + 1))
    return x, np.full((1, n + 1), -0.5), np.full((n, n + 1), 0.5)


clip = elementwise_op(
    _clip_impl, *(_clip_weight(p) for p in range(3)), name="clip",
    formula="D_X = diag(vec W_X), D_L = diag(vec W_L)·B_L, D_H = diag(vec W_H)·B_H: 1 for the branch taken "
            "(X inside, L below, H above), ½ each at X exactly on a bound",
    reference="clip(x, l, h) = min(max(x, l), h) (NumPy docs for np.clip); ties split evenly as for maximum",
    samples=_clip_samples, param_names=("X", "L", "H"), loud_value=False, loud_derivatives=False,
    fuzz=lambda Y, c: np.clip(Y, -2.0, 2.0), ufuncs=())  # (np.clip is a function: its front door is below)
_clip_weights = tuple(_clip_weight(p) for p in range(3))


# The weight of x in clip(x, l, h) for l < h, by how many of (l, h) lie below x
# plus how many lie at or below it (0 … 4): outside 0, on a bound ½, inside 1.
_CLIP_WEIGHT_BY_RANK = np.array([0.0, 0.5, 1.0, 0.5, 0.0])
_CLIP_WEIGHT_BY_RANK.flags.writeable = False


def _exact_bound(bound):
    """True for a bound the binary searches compare as the comparisons do: a float, or
    an int a float64 holds exactly (NumPy compares a float64 array with a Python int as that float)."""
    kind = type(bound)
    return kind is float or (kind is int and -_EXACT_INT <= bound <= _EXACT_INT)


_EXACT_INT = 2 ** 53
_nextafter, _MINUS_INF, _INF = math.nextafter, -math.inf, math.inf


def _clip_vjp_x(g, ans, x, low, high):
    if (type(g) is _ndarray and type(x) is _ndarray
            and (type(low) is float or _exact_bound(low)) and (type(high) is float or _exact_bound(high))
            and _MINUS_INF < low < high < _INF and g.dtype is _FLOAT64 and x.dtype is _FLOAT64):
        # The reverse sweep's common case (a plain cotangent, float bounds): the same
        # weights as the general path (1 strictly inside, 0 outside, ½ on a bound; a
        # NaN sorts last: 0, as there), read off two binary searches instead of seven
        # comparisons — bit for bit the same g·W (W is float64 as g is). The rank is
        # #{b < x} + #{b ≤ x} over b ∈ {low, high}, in one search: b ≤ x ⟺ b⁻ < x for b⁻
        # the float below b (finite b), and low⁻ < low ≤ high⁻ < high is sorted as low < high.
        # (With number bounds the result, so g, is shaped like x; an int bound is its float,
        # exactly — _exact_bound — and equal to it as a cache key.)
        return g * _CLIP_WEIGHT_BY_RANK.take(_clip_bounds(low, high).searchsorted(x))
    return unbroadcast(g * _clip_weights[0](ans, x, low, high), shape_of(x))


@functools.lru_cache(maxsize=64)
def _clip_bounds(low, high):
    """(low⁻, low, high⁻, high) as float64 for finite numbers low < high (exact floats):
    read-only, shared (a function of its arguments only; building it costs a third of the pullback)."""
    bounds = np.array((_nextafter(low, _MINUS_INF), low, _nextafter(high, _MINUS_INF), high), dtype=np.float64)
    bounds.flags.writeable = False
    return bounds


def _missing(name):
    return TypeError(f"clip() missing 1 required positional argument: '{name}'")


_NO_VALUE = np._NoValue  # (NumPy's marker of an argument not given; a global lookup, not an attribute's)


@numpy_function(np.clip)
def _clip(a, a_min=_NO_VALUE, a_max=_NO_VALUE, out=None, *, min=_NO_VALUE, max=_NO_VALUE, **kwargs):
    if type(a_min) is float and type(a_max) is float and _MINUS_INF < a_min and a_max < _INF and out is None \
            and min is _NO_VALUE and max is _NO_VALUE and not kwargs:
        # The common spelling, np.clip(x, low, high) with finite float bounds, at once: what the
        # resolution below comes to for it (a NaN bound fails the comparisons: refused below)
        return bind(clip, a, a_min, a_max)
    if out is not None or kwargs:
        refuse_arguments("np.clip", out=(out, None), **{key: (value, _ABSENT) for key, value in kwargs.items()})
    if a_min is _NO_VALUE and a_max is _NO_VALUE:  # (NumPy's own resolution of the spellings)
        a_min = None if min is _NO_VALUE else min
        a_max = None if max is _NO_VALUE else max
    elif a_min is _NO_VALUE or a_max is _NO_VALUE:
        raise _missing("a_min" if a_min is _NO_VALUE else "a_max")
    elif min is not _NO_VALUE or max is not _NO_VALUE:
        raise ValueError("Passing `min` or `max` keyword argument when `a_min` and `a_max` are provided is forbidden.")
    # An infinite bound on its own side (−inf below, +inf above) bounds nothing: it is no
    # bound, bit for bit, and no non-finite constant reaches the recording. (A Python
    # float only: a NumPy float64 scalar would also set the result's dtype. NaN, or an
    # infinity on the wrong side, is refused below as any non-finite constant.)
    if type(a_min) is float and a_min == _MINUS_INF:
        a_min = None
    if type(a_max) is float and a_max == _INF:
        a_max = None
    if a_min is None and a_max is None:  # as NumPy: a missing bound is no bound
        return np.positive(a)
    if a_min is None:
        return np.minimum(a, a_max)
    if a_max is None:
        return np.maximum(a, a_min)
    return bind(clip, a, a_min, a_max)


clip.defvjp(_clip_vjp_x)


@numpy_method("clip")
def _clip_method(a, min=None, max=None, out=None, **kwargs):
    return _clip(a, min, max, out=out, **kwargs)


_ABSENT = object()

# ---------------------------------------------------------------------- powers
float_power = register(Primitive(
    loud("np.float_power", np.float_power), name="float_power",
    vjps=_POWER_VJPS, jacobians=_POWER_JACOBIANS, label=lambda a, p: f"{a}^{p}",
    formula=power.formula, reference=power.reference + " (in float64: NumPy docs for np.float_power)",
    samples=_samples.two_positive, param_names=("X", "P"),
    fuzz=lambda Y, c: np.float_power(1.0 + Y * Y, 1.5),
))
ufunc(np.float_power, float_power)

ldexp = register(Primitive(
    loud("np.ldexp", np.ldexp), name="ldexp",
    vjps={0: lambda g, ans, x, e: unbroadcast(g * np.ldexp(1.0, e), shape_of(x))},
    jacobians={0: lambda ans, x, e, names: elementwise_jacobian(
        np.ldexp(1.0, np.asarray(e)), np.shape(x), np.shape(ans), derived_label("2^{}", names[1]))},
    label=lambda a, e: f"{a}·2^{e}",
    formula="D_X = diag(vec 2^E)·B_X (E integer: not differentiable)", reference="ldexp(x, e) = x·2ᵉ, linear in x",
    samples=lambda rng, n: (rng.standard_normal((n, n + 1)), rng.integers(-3, 4, size=(1, n + 1))),
    param_names=("X", "E"), fuzz=lambda Y, c: np.ldexp(Y, 1),
))
ufunc(np.ldexp, ldexp)
# (np.positive and unary + return the traced value itself: the identity; np.conjugate of a real
# array is a copy of it)
ufunc(np.conjugate, copy)


@numpy_method("conj", "conjugate")
def _conjugate(a):
    # ndarray.conj() of a real array returns the array itself (not a copy, unlike the ufunc
    # np.conjugate): y = x.conj(); y[0] = v writes into x, as in NumPy
    return a


# ------------------------------------------------------------ no derivative
# Comparisons and predicates give booleans; sign and the roundings are piecewise
# constant: their derivative is 0 wherever it exists, at every order, so their
# value is a constant of the point. They are evaluated on the plain values and
# return plain arrays — exact, free to record, and usable where NumPy needs plain
# numbers: masks, indices, ``int(np.floor(t))``, ``np.floor(x).astype(int)``.
value_only_ufunc(
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.isfinite, np.isnan, np.isinf, np.signbit, np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
    np.sign, np.floor, np.ceil, np.trunc, np.rint,
)


def _heaviside_in_its_value_at_zero(x, h):
    """np.heaviside(x, h) with h traced: the step is piecewise constant in x (a plain mask),
    and h is the value taken where x is 0 — so h's derivative is 1 there and 0 elsewhere."""
    plain_x = np.asarray(plain_value(x))
    return np.where(plain_x == 0, h, np.heaviside(plain_x, 0.0))


value_only_ufunc(np.heaviside, unless_traced=(1, _heaviside_in_its_value_at_zero))


def _floor_divide(x, y, **kwargs):
    refuse_arguments("np.floor_divide", **{key: (value, _ABSENT) for key, value in kwargs.items()})
    return _loud_floor_divide(x, y)


_loud_floor_divide = loud("np.floor_divide", np.floor_divide)
value_only_ufunc(np.floor_divide, evaluate=_floor_divide)  # also the // operator


@numpy_method("round")
@numpy_function(np.round, np.around)
def _round(a, decimals=0, out=None):
    refuse_arguments("np.round", out=(out, None))
    return np.round(plain_value(a), decimals)


@numpy_function(np.fix)
def _fix(x, out=None):
    refuse_arguments("np.fix", out=(out, None))
    return np.fix(plain_value(x))


# Tests of values, like the comparisons above: piecewise constant (a boolean), so evaluated on
# the plain values — `assert np.allclose(x, y)` or `if np.array_equal(a, b):` inside f works,
# and the result carries no derivative (notes/conventions.md §7).
@numpy_function(np.isclose)
def _isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return np.isclose(plain_value(a), plain_value(b), rtol=rtol, atol=atol, equal_nan=equal_nan)


@numpy_function(np.allclose)
def _allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return np.allclose(plain_value(a), plain_value(b), rtol=rtol, atol=atol, equal_nan=equal_nan)


@numpy_function(np.array_equal)
def _array_equal(a1, a2, equal_nan=False):
    return np.array_equal(plain_value(a1), plain_value(a2), equal_nan=equal_nan)


@numpy_function(np.array_equiv)
def _array_equiv(a1, a2):
    return np.array_equiv(plain_value(a1), plain_value(a2))


# A traced value is real (kronvec refuses complex input): np.iscomplex is False and np.isreal
# True at every entry, read off its dtype — no value is read (static_value: nothing for a
# compiled replay to take again).
@numpy_function(np.iscomplex)
def _iscomplex(x):
    return np.iscomplex(static_value(x))


@numpy_function(np.isreal)
def _isreal(x):
    return np.isreal(static_value(x))


# Positions and memberships of values: integers and booleans of the point (piecewise
# constant), NumPy's own answers on the plain values — usable as indices.
@numpy_function(np.searchsorted)
def _searchsorted(a, v, side="left", sorter=None):
    return np.searchsorted(plain_value(a), plain_value(v), side=side, sorter=plain_value(sorter))


@numpy_function(np.digitize)
def _digitize(x, bins, right=False):
    return np.digitize(plain_value(x), plain_value(bins), right=right)


@numpy_function(np.isin)
def _isin(element, test_elements, assume_unique=False, invert=False, *, kind=None):
    return np.isin(plain_value(element), plain_value(test_elements), assume_unique=assume_unique,
                   invert=invert, kind=kind)


# Truth values, counts and positions of nonzero entries (`if np.any(x > 0)` reads a
# comparison, but `np.any(x)`, `np.count_nonzero(x)` and `np.nonzero(x)` read x itself);
# np.isposinf/np.isneginf are NumPy functions, not ufuncs, so VALUE_ONLY_UFUNCS does not
# reach them.
for _function in (np.all, np.any, np.count_nonzero, np.nonzero, np.flatnonzero, np.argwhere,
                  np.isposinf, np.isneginf):
    numpy_function(_function)(on_plain_values(_function, __name__))
for _method in ("all", "any", "nonzero"):
    numpy_method(_method)(on_plain_values(getattr(np.ndarray, _method), __name__))


# ----------------------------------------------------- families loaded on demand
#: Ufuncs of other libraries kronvec differentiates, registered when first met:
#: ``kronvec.ops.special`` imports scipy.special (+25 ms), so ``import kronvec``
#: does not; a scipy.special ufunc called on a traced value means scipy.special
#: is loaded already, and registering the family then costs nothing more.
ON_DEMAND_NAMES = tuple(f"scipy.special.{name}" for name in (
    "expit", "logit", "log_expit", "xlogy", "xlog1py", "gammaln", "gamma", "digamma", "psi", "betaln",
    "beta", "rgamma", "gammasgn", "gammainc", "gammaincc", "betainc", "betaincc", "stdtr",
    "erf", "erfc", "erfcx", "erfinv", "erfcinv", "ndtr", "ndtri", "log_ndtr", "entr", "rel_entr", "softplus",
    "jv", "jn", "yv", "yn", "iv", "ive", "kv", "kve", "j0", "j1", "y0", "y1", "i0", "i1", "i0e", "i1e", "k0", "k1",
    "kl_div", "huber", "pseudo_huber", "boxcox", "boxcox1p", "inv_boxcox", "inv_boxcox1p", "powm1", "cosm1",
    "expm1", "log1p", "exp10", "exp2", "cbrt", "sindg", "cosdg"))


def ufunc_on_demand(numpy_ufunc):
    """Register the family of a ufunc that registers on first use (scipy.special's):
    True when `numpy_ufunc` is one of its ufuncs (then found in the dispatch tables)."""
    special = sys.modules.get("scipy.special")
    if special is None or getattr(special, getattr(numpy_ufunc, "__name__", ""), None) is not numpy_ufunc:
        return False
    from . import special as _special  # noqa: F401 (registers the family)
    return numpy_ufunc in UFUNCS or numpy_ufunc in UFUNCS_WITH_PARAMETERS or numpy_ufunc in VALUE_ONLY_UFUNCS
