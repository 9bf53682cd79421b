"""Elementwise operations: arithmetic and the unary functions.

An elementwise map F(X)ᵢⱼ = f(Xᵢⱼ) has ``dF = f'(X) ∘ dX``, so
``DF = Diag(vec f'(X))`` (Magnus–Neudecker ch. 9; Matrix Cookbook §2.8);
with broadcasting, that diagonal is composed with the 0/1 selection that
broadcasts the argument to the output's shape.  The VJPs multiply by the
same derivative and sum over the broadcast axes.

Derivations: ``notes/derivatives.md`` §2.
"""

from __future__ import annotations

import operator

import numpy as np

from .._tracer import Node
from ..operators import Identity, algebra
from . import _samples
from ._registry import Primitive, register, ufunc, value_only_ufunc
from ._support import (
    broadcast_jacobian,
    derived_label,
    elementwise_jacobian,
    loud,
    plain_value,
    shape_of,
    unbroadcast,
)

__all__ = ["add", "subtract", "multiply", "divide", "power", "negative", "exp", "log", "log1p", "expm1", "sqrt",
           "tanh", "square", "sin", "cos", "absolute"]


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
    return lambda a, b: f"{a} {symbol} {b}"


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


multiply = register(Primitive(
    operator.mul, name="multiply",
    vjps={0: lambda g, ans, a, b: unbroadcast(g * b, shape_of(a)),
          1: lambda g, ans, a, b: unbroadcast(g * a, shape_of(b))},
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

divide = register(Primitive(
    loud("np.true_divide", np.true_divide), name="true_divide",
    vjps={0: lambda g, ans, a, b: unbroadcast(g / b, shape_of(a)),
          1: lambda g, ans, a, b: unbroadcast(-g * ans / b, shape_of(b))},
    jacobians={
        0: lambda ans, a, b, names: elementwise_jacobian(
            1.0 / np.asarray(b), np.shape(a), np.shape(ans), derived_label("1/{}", names[1])),
        1: lambda ans, a, b, names: elementwise_jacobian(
            -np.asarray(ans) / b, np.shape(b), np.shape(ans), derived_label("-{}/{}²", names[0], names[1])),
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


power = register(Primitive(
    _power_values, name="power",
    vjps={0: lambda g, ans, a, p: unbroadcast(g * _power_derivative(a, p), shape_of(a)),
          1: lambda g, ans, a, p: unbroadcast(g * ans * _log_base_for_exponent(a, p), shape_of(p))},
    jacobians={
        0: lambda ans, a, p, names: elementwise_jacobian(
            _power_derivative(np.asarray(a), p), np.shape(a), np.shape(ans),
            derived_label("{1}·{0}^({1}-1)", names[0], names[1])),
        1: lambda ans, a, p, names: elementwise_jacobian(
            np.asarray(ans) * _log_base_for_exponent(np.asarray(a), np.asarray(p)), np.shape(p), np.shape(ans),
            derived_label("{0}^{1}·log {0}", names[0], names[1])),
    },
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
    label=lambda a: f"-{a}",
    formula="D(−X) = −I", reference="linearity",
    samples=_samples.one_general, param_names=("X",),
    fuzz=lambda Y, c: -Y,
))
ufunc(np.negative, negative)


def _unary(numpy_function, derivative, *, formula, reference, samples=_samples.one_general,
           fuzz=None, rule_name=None, entire=False):
    """An elementwise function f with derivative ``f'(ans, x)`` in NumPy operations."""
    name = numpy_function.__name__
    impl = loud(f"np.{name}", numpy_function)
    derivative = loud(f"the derivative of np.{name}", derivative)
    op = register(Primitive(
        impl, name=name,
        vjps={0: lambda g, ans, x: g * derivative(ans, x)},
        jacobians={0: lambda ans, x, names: elementwise_jacobian(
            derivative(np.asarray(ans), np.asarray(x)), np.shape(x), np.shape(ans),
            derived_label(f"{name}'({{}})", names[0]))},
        label=lambda a: f"{name}({a})",
        formula=formula, reference=reference, samples=samples, param_names=("X",),
        rule_names={0: rule_name} if rule_name else None, fuzz=fuzz,
        signature="(m,k)->(m,k)", entire=entire,
    ))
    ufunc(numpy_function, op)
    return op


exp = _unary(np.exp, lambda ans, x: ans, formula="diag(vec exp X)", reference="d exp(x) = exp(x) dx",
             fuzz=lambda Y, c: np.exp(np.tanh(Y)), rule_name="exp", entire=True)
log = _unary(np.log, lambda ans, x: 1.0 / x, formula="diag(vec X)⁻¹", reference="d log(x) = dx / x",
             samples=_samples.one_positive, fuzz=lambda Y, c: np.log(1.0 + Y ** 2), rule_name="log")
log1p = _unary(np.log1p, lambda ans, x: 1.0 / (1.0 + x), formula="diag(vec 1/(1 + X))",
               reference="d log(1 + x) = dx / (1 + x)", samples=_samples.one_positive,
               fuzz=lambda Y, c: np.log1p(Y * Y))
expm1 = _unary(np.expm1, lambda ans, x: ans + 1.0, formula="diag(vec exp X)", reference="d(eˣ − 1) = eˣ dx",
               fuzz=lambda Y, c: np.expm1(np.tanh(Y)), entire=True)
sqrt = _unary(np.sqrt, lambda ans, x: 0.5 / ans, formula="diag(1 / (2 vec √X))", reference="d √x = dx / (2√x)",
              samples=_samples.one_positive, fuzz=lambda Y, c: np.sqrt(1.0 + np.square(Y)), rule_name="sqrt")
tanh = _unary(np.tanh, lambda ans, x: 1.0 - ans * ans, formula="diag(1 − vec tanh²X)",
              reference="d tanh(x) = (1 − tanh²x) dx", fuzz=lambda Y, c: np.tanh(Y), rule_name="tanh",
              entire=True)
square = _unary(np.square, lambda ans, x: 2.0 * x, formula="diag(2 vec X)", reference="d x² = 2x dx",
                fuzz=lambda Y, c: np.square(Y) / 2.0, rule_name="square", entire=True)
sin = _unary(np.sin, lambda ans, x: np.cos(x), formula="diag(vec cos X)", reference="d sin(x) = cos(x) dx",
             fuzz=lambda Y, c: np.sin(Y), entire=True)
cos = _unary(np.cos, lambda ans, x: -np.sin(x), formula="−diag(vec sin X)", reference="d cos(x) = −sin(x) dx",
             fuzz=lambda Y, c: np.cos(Y), entire=True)
# |x| at 0 takes the subgradient 0 (sign(0) = 0): the convention of notes/conventions.md.
absolute = _unary(np.absolute, lambda ans, x: np.sign(plain_value(x)), formula="diag(vec sign X)",
                  reference="d|x| = sign(x) dx (subgradient 0 at 0)")

# Comparisons and predicates carry no derivative: evaluated on the plain values.
value_only_ufunc(
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.isfinite, np.isnan, np.isinf, np.sign, np.logical_and, np.logical_or, np.logical_not,
)
