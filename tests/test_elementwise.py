"""Elementwise ufuncs: what the registry sweep cannot say.

The sweep (``tests/test_registry.py``) checks each registered operation's
derivatives against finite differences at well-conditioned points.  Here:
every NumPy (and scipy.special) spelling gives NumPy's value on traced input;
refused arguments name themselves; Jacobians at 1000×1000 are diagonals (times
a selection), never dense; kinks and ties follow notes/conventions.md §7;
piecewise-constant functions give plain values with a zero derivative;
domain edges and extreme inputs are right or loud (a ValueError, never a
NaN, an inf or a RuntimeWarning); scipy.special is imported only on demand.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.special as sp

import kronvec
from kronvec._traced_array import Traced
from kronvec.operators import Dense, Diag, Identity, Product, Scaled
from kronvec.ops import REGISTRY, UFUNCS, UFUNCS_WITH_PARAMETERS, VALUE_ONLY_UFUNCS, Primitive
from kronvec.ops import elementwise as E
from kronvec.ops import special as special_family

from _helpers import assert_scaled_close, central_difference_jacobian

RNG = np.random.default_rng(12)
X = RNG.uniform(-0.9, 0.9, (3, 4))                    # general, inside (−1, 1)
P = RNG.uniform(0.5, 2.0, (3, 4))                     # positive
Q = RNG.uniform(0.5, 2.0, (1, 4))                     # positive row (broadcasts)
U = RNG.uniform(0.1, 0.9, (3, 4))                     # inside (0, 1)
B = 1.5 + RNG.uniform(0.0, 1.0, (3, 4))               # above 1


def _traced_value(f, x):
    """f's value when x is traced (through jvp, which returns the primal)."""
    value, _ = kronvec.jvp(f, (x,), (np.zeros_like(x),))
    return value


# (spelling, f, point): the result on a traced value must be NumPy's on the plain one
SPELLINGS = [
    ("np.exp2", np.exp2, X), ("np.log2", np.log2, P), ("np.log10", np.log10, P), ("np.log1p", np.log1p, P),
    ("np.expm1", np.expm1, X), ("np.reciprocal", np.reciprocal, P), ("np.cbrt", np.cbrt, X),
    ("np.sinh", np.sinh, X), ("np.cosh", np.cosh, X), ("np.tan", np.tan, X), ("np.arcsin", np.arcsin, X),
    ("np.asin", np.asin, X), ("np.arccos", np.arccos, X), ("np.acos", np.acos, X),
    ("np.arctan", np.arctan, X), ("np.atan", np.atan, X), ("np.arcsinh", np.arcsinh, X),
    ("np.arccosh", np.arccosh, B), ("np.arctanh", np.arctanh, X),
    ("np.deg2rad", np.deg2rad, X), ("np.radians", np.radians, X), ("np.rad2deg", np.rad2deg, X),
    ("np.degrees", np.degrees, X), ("np.abs", np.abs, X), ("np.absolute", np.absolute, X), ("np.fabs", np.fabs, X),
    ("abs()", abs, X), ("np.positive", np.positive, X), ("unary +", lambda x: +x, X),
    ("np.conjugate", np.conjugate, X), ("np.conj", np.conj, X), ("x.conj()", lambda x: x.conj(), X),
    ("x.conjugate()", lambda x: x.conjugate(), X),
    ("np.arctan2", lambda x: np.arctan2(x, Q - 1.0), X), ("np.atan2", lambda x: np.atan2(Q - 1.0, x), X),
    ("np.hypot", lambda x: np.hypot(x, Q), X), ("np.logaddexp", lambda x: np.logaddexp(x, Q), X),
    ("np.logaddexp2", lambda x: np.logaddexp2(Q, x), X),
    ("np.maximum", lambda x: np.maximum(x, 0.0), X), ("np.minimum", lambda x: np.minimum(Q - 1.0, x), X),
    ("np.fmax", lambda x: np.fmax(x, 0.1), X), ("np.fmin", lambda x: np.fmin(x, 0.1), X),
    ("np.copysign", lambda x: np.copysign(x, Q - 1.0), X), ("np.copysign (traced sign)", lambda x: np.copysign(Q, x), X),
    ("np.remainder", lambda x: np.remainder(x, 0.3), X), ("np.mod", lambda x: np.mod(x, -0.3), X),
    ("%", lambda x: x % 0.3, X), ("% (traced divisor)", lambda x: 2.0 % x, P), ("np.fmod", lambda x: np.fmod(x, 0.3), X),
    ("np.true_divide", lambda x: np.true_divide(x, Q), X), ("np.float_power", lambda x: np.float_power(x, 2.5), P),
    ("np.float_power (traced exponent)", lambda x: np.float_power(Q, x), X), ("np.pow", lambda x: np.pow(x, Q), P),
    ("np.power (traced exponent)", lambda x: np.power(Q, x), X), ("** (traced exponent)", lambda x: 2.0 ** x, X),
    ("** −1.5", lambda x: x ** -1.5, P), ("** 0.5", lambda x: x ** 0.5, P), ("** −1", lambda x: x ** -1, X),
    ("np.ldexp", lambda x: np.ldexp(x, np.array([1, -2, 0, 3])), X),
    ("np.clip", lambda x: np.clip(x, -0.5, 0.5), X), ("np.clip (array bounds)", lambda x: np.clip(x, -Q / 2, Q / 2), X),
    ("np.clip (None low)", lambda x: np.clip(x, None, 0.2), X), ("np.clip (None high)", lambda x: np.clip(x, -0.2, None), X),
    ("np.clip (min=, max=)", lambda x: np.clip(x, min=-0.3, max=0.4), X),
    ("np.clip (no bounds)", lambda x: np.clip(x, None, None), X),
    ("x.clip", lambda x: x.clip(-0.3, 0.4), X), ("x.clip(max=)", lambda x: x.clip(max=0.4), X),
    ("np.clip (low > high)", lambda x: np.clip(x, 0.5, -0.5), X),
    ("scipy.special.expit", sp.expit, X), ("scipy.special.logit", sp.logit, U),
    ("scipy.special.log_expit", sp.log_expit, X), ("scipy.special.xlogy", lambda x: sp.xlogy(x, Q), X),
    ("scipy.special.xlog1py", lambda x: sp.xlog1py(Q, x), X), ("scipy.special.gammaln", sp.gammaln, P),
    ("scipy.special.gamma", sp.gamma, P), ("scipy.special.digamma", sp.digamma, P), ("scipy.special.psi", sp.psi, P),
    ("scipy.special.betaln", lambda x: sp.betaln(x, Q), P), ("scipy.special.erf", sp.erf, X),
    ("scipy.special.erfc", sp.erfc, X), ("scipy.special.erfinv", sp.erfinv, X), ("scipy.special.ndtr", sp.ndtr, X),
    ("scipy.special.ndtri", sp.ndtri, U), ("scipy.special.log_ndtr", sp.log_ndtr, X),
    ("scipy.special.entr", sp.entr, P), ("scipy.special.rel_entr", lambda x: sp.rel_entr(x, Q), P),
    ("scipy.special.softplus", sp.softplus, X),
    ("scipy.special.beta", lambda x: sp.beta(x, Q), P), ("scipy.special.beta (second)", lambda x: sp.beta(Q, x), P),
    ("scipy.special.rgamma", sp.rgamma, P), ("scipy.special.erfcinv", lambda x: sp.erfcinv(x + 1.0), X),
    ("scipy.special.gammainc", lambda x: sp.gammainc(Q, x), P), ("scipy.special.gammaincc", lambda x: sp.gammaincc(Q, x), P),
    ("scipy.special.jv", lambda x: sp.jv(Q, x), P), ("scipy.special.jn", lambda x: sp.jn(2, x), X),
    ("scipy.special.yv", lambda x: sp.yv(Q, x), P), ("scipy.special.yn", lambda x: sp.yn(np.array([0, 1, 2, 3]), x), P),
    ("scipy.special.iv", lambda x: sp.iv(Q, x), P), ("scipy.special.iv (integer order, x < 0)", lambda x: sp.iv(3, x), X),
    ("scipy.special.ive", lambda x: sp.ive(Q, x), P), ("scipy.special.ive (x < 0)", lambda x: sp.ive(2.0, x), X),
    ("scipy.special.kv", lambda x: sp.kv(Q, x), P), ("scipy.special.kve", lambda x: sp.kve(Q, x), P),
    ("scipy.special.j0", sp.j0, X), ("scipy.special.j1", sp.j1, X), ("scipy.special.y0", sp.y0, P),
    ("scipy.special.y1", sp.y1, P), ("scipy.special.i0", sp.i0, X), ("scipy.special.i1", sp.i1, X),
    ("scipy.special.i0e", sp.i0e, X), ("scipy.special.i1e", sp.i1e, X), ("scipy.special.k0", sp.k0, P),
    ("scipy.special.k1", sp.k1, P), ("np.sinc", np.sinc, 3 * X),
    ("scipy.special.erfcx", sp.erfcx, 3 * X), ("np.i0", np.i0, 3 * X),
    ("scipy.special.kl_div", lambda x: sp.kl_div(x, Q), P), ("scipy.special.kl_div (second)", lambda x: sp.kl_div(Q, x), P),
    ("scipy.special.huber", lambda x: sp.huber(0.7, 3 * x), X), ("scipy.special.huber (δ)", lambda x: sp.huber(x, 2.0 * X), P),
    ("scipy.special.pseudo_huber", lambda x: sp.pseudo_huber(0.7, 3 * x), X),
    ("scipy.special.pseudo_huber (δ)", lambda x: sp.pseudo_huber(x, 2.0 * X), P),
    ("scipy.special.boxcox", lambda x: sp.boxcox(x, 0.4), P), ("scipy.special.boxcox (λ = 0)", lambda x: sp.boxcox(x, 0.0), P),
    ("scipy.special.boxcox1p", lambda x: sp.boxcox1p(x, -0.5), P), ("scipy.special.inv_boxcox", lambda x: sp.inv_boxcox(x, 0.5), X),
    ("scipy.special.inv_boxcox1p", lambda x: sp.inv_boxcox1p(x, 0.0), X),
    ("scipy.special.powm1", lambda x: sp.powm1(x, Q), P), ("scipy.special.powm1 (exponent)", lambda x: sp.powm1(Q, x), X),
    ("scipy.special.cosm1", sp.cosm1, X), ("scipy.special.expm1", sp.expm1, X), ("scipy.special.log1p", sp.log1p, P),
    ("scipy.special.exp10", sp.exp10, X), ("scipy.special.exp2", sp.exp2, X), ("scipy.special.cbrt", sp.cbrt, P),
    ("scipy.special.sindg", lambda x: sp.sindg(100 * x), X), ("scipy.special.cosdg", lambda x: sp.cosdg(100 * x), X),
]
# (spelling, f, point): piecewise constant — plain values (never traced), NumPy's
PLAIN = [
    ("np.sign", np.sign, X), ("np.floor", np.floor, 3 * X), ("np.ceil", np.ceil, 3 * X), ("np.trunc", np.trunc, 3 * X),
    ("np.rint", np.rint, 3 * X), ("np.round", np.round, 3 * X), ("np.round(·, 1)", lambda x: np.round(x, 1), X),
    ("np.around", lambda x: np.around(x, 2), X), ("x.round()", lambda x: x.round(), 3 * X),
    ("x.round(1)", lambda x: x.round(1), X), ("np.fix", np.fix, 3 * X),
    ("np.floor_divide", lambda x: np.floor_divide(x, 0.3), X), ("//", lambda x: x // 0.3, X),
    ("// (traced divisor)", lambda x: 2.0 // x, P), ("np.heaviside", lambda x: np.heaviside(x, 0.5), X),
    ("np.signbit", np.signbit, X), ("x > 0", lambda x: x > 0, X), ("np.logical_xor", lambda x: np.logical_xor(x > 0, x < 0.5), X),
    ("scipy.special.gammasgn", sp.gammasgn, 3 * X),
    ("np.isclose", lambda x: np.isclose(x, np.round(X, 1), atol=0.03), X),
    ("np.iscomplex", np.iscomplex, X), ("np.isreal", np.isreal, X),
]


@pytest.mark.parametrize("spelling, f, x", SPELLINGS, ids=[s for s, _, _ in SPELLINGS])
def test_each_spelling_gives_numpys_value_and_its_derivative(spelling, f, x):
    np.testing.assert_allclose(_traced_value(f, x), f(x), rtol=1e-14, atol=1e-15, err_msg=spelling)
    J = kronvec.jacobian(f)(x).toarray()
    expected = central_difference_jacobian(lambda a: np.asarray(f(a), dtype=np.float64), (x,))
    assert_scaled_close(J, expected, 1e-6, spelling)


@pytest.mark.parametrize("spelling, f, x", PLAIN, ids=[s for s, _, _ in PLAIN])
def test_piecewise_constant_functions_give_plain_values_and_zero_derivatives(spelling, f, x):
    seen = {}

    def g(a):
        seen["result"] = f(a)
        return np.sum(np.asarray(seen["result"], dtype=np.float64) * a)  # the result as a constant factor

    gradient = kronvec.grad(g)(x)
    assert type(seen["result"]) is np.ndarray, spelling
    np.testing.assert_array_equal(seen["result"], f(x))
    np.testing.assert_array_equal(gradient, np.asarray(f(x), dtype=np.float64))  # d(c·x) = c: c has no derivative
    assert not kronvec.jacobian(lambda a: np.asarray(f(a), dtype=np.float64))(x).toarray().any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_metadata_attributes_are_numpys_and_data_attributes_refused(dtype):
    # the shape and the type say nothing of the values: NumPy's answers (Array API code reads
    # .device, memory estimates .nbytes); what would hand out the value's memory is refused
    X = np.ones((2, 3), dtype=dtype)
    seen = {}

    def f(x):
        for name in ("shape", "ndim", "size", "dtype", "itemsize", "nbytes", "device"):
            seen[name] = getattr(x, name)
        for name in ("flags", "strides", "data", "ctypes", "base"):
            with pytest.raises(TypeError, match=rf"attribute \.{name} of a traced value"):
                getattr(x, name)
        with pytest.raises(TypeError, match=r"reshape\(\) takes exactly 1 argument"):  # (ndarray's)
            x.reshape()
        return np.sum(x)

    kronvec.grad(f)(X)
    assert seen == {name: getattr(X, name) for name in seen}


def test_format_specs_print_the_value_as_numpy_formats_it():
    # progress printing inside an objective, f"{loss:.4f}": NumPy's text for the value (a 0-d
    # value formats as its scalar; an array with a spec is ndarray's TypeError)
    X = np.array([[1.5, -2.0], [3.0, 0.5]])
    printed = []

    def f(x):
        loss = np.sum(x ** 2)
        printed.append(f"{loss:.4f} {x[0, 0]:+.2e} {loss:g} {x[1]!s:.0}")
        with pytest.raises(TypeError, match="unsupported format string"):
            format(x, ".2f")
        return loss

    kronvec.grad(f)(X)
    loss = np.sum(X ** 2)
    assert printed == [f"{loss:.4f} {X[0, 0]:+.2e} {loss:g} "]


def test_membership_is_numpys_any_of_equal():
    # `value in x` is ndarray's (x == value).any(): a test of values, as a comparison (Python's
    # fallback iterated over the rows, whose truth value is ambiguous: a ValueError)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    found = []

    def f(x):
        found.append(tuple(bool(v in x) for v in (2.0, [1.0, 2.0], 9, np.array([1.0, 9.0]), x[1, 1], x[0] * 2)))
        return np.sum(x ** 2) if 4.0 in x else np.sum(x)

    np.testing.assert_allclose(kronvec.grad(f)(X), 2 * X)
    assert found == [tuple(v in X for v in (2.0, [1.0, 2.0], 9, np.array([1.0, 9.0]), X[1, 1], X[0] * 2))]


def test_tests_of_values_serve_in_asserts_and_branches():
    # autograd's test_logic: `assert np.allclose(x, (x * 3.0) / 3.0)` and a branch on np.iscomplex
    # inside f; the tests give NumPy's plain answer, and the branch taken is differentiated.
    x = np.array([1.0, 2.0, 3.0])

    def f(x):
        assert np.allclose(x, (x * 3.0) / 3.0)
        assert np.array_equal(x, x + 0.0) and np.array_equiv(x, x[None, :])
        assert not np.array_equal(x, x + 1.0) and not np.allclose(x, 2 * x)
        assert np.iscomplex(x).shape == x.shape and not np.iscomplex(x).any() and np.isreal(x).all()
        return np.sum(x ** 3) if not np.iscomplex(x[0]) else np.sum(x)

    np.testing.assert_allclose(kronvec.grad(f)(x), 3 * x ** 2, rtol=1e-14)
    np.testing.assert_allclose(kronvec.hessian(f)(x).toarray(), np.diag(6 * x), rtol=1e-14)
    for a in (2.0, np.array(2.0)):  # a 0-d traced value: NumPy's scalar booleans
        seen = {}

        def g(t):
            seen["iscomplex"], seen["isreal"] = np.iscomplex(t), np.isreal(t)
            return np.real(t ** 2 if np.iscomplex(t) else np.sum(t))

        assert kronvec.grad(g)(a) == 1.0
        # (kronvec differentiates at np.asarray(a): NumPy's answer for a 0-d array is np.bool_)
        assert type(seen["iscomplex"]) is type(np.iscomplex(np.asarray(a))) and not seen["iscomplex"]
        assert type(seen["isreal"]) is type(np.isreal(np.asarray(a))) and seen["isreal"]


def test_a_test_of_values_refuses_compilation_by_name():
    # np.allclose decides on values: a compiled replay would reuse the first call's answer
    with pytest.raises(TypeError, match="np.allclose"):
        kronvec.grad(lambda x: np.sum(x) * np.allclose(x, 1.0), compile=True)(np.ones(3))


def test_rounding_results_serve_as_integers_and_indices():
    t = np.array([1.7, 0.2, 2.4])

    def interpolate(t):  # piecewise-linear table lookup: the index is a constant of the point
        table = np.array([0.0, 10.0, 30.0, 60.0])
        i = int(np.floor(t[0]))
        k = np.floor(t).astype(int)
        return table[i] + (t[0] - i) * (table[i + 1] - table[i]) + np.sum(table[k] * t)

    gradient = kronvec.grad(interpolate)(t)
    np.testing.assert_allclose(gradient, [20.0 + 10.0, 0.0, 30.0])


@pytest.mark.parametrize("cast", [
    lambda a: np.full(3, int(a[1])),
    lambda a: a.astype(int),
    lambda a: a.astype(np.int32, copy=False),
    lambda a: a.astype(bool),
    lambda a: np.int64(a),
    lambda a: np.asarray(a, dtype=np.int16),
    lambda a: np.array(a, dtype=bool),
], ids=["int()", "astype(int)", "astype(int32, copy=False)", "astype(bool)", "np.int64()", "asarray(dtype=int16)",
        "array(dtype=bool)"])
def test_integer_and_boolean_casts_are_plain_values_with_zero_derivative(cast):
    # Rounding toward zero and x ≠ 0 are piecewise constant, like np.trunc (notes/conventions.md §7).
    x = np.array([1.7, -2.2, 0.0])
    seen = {}

    def g(a):
        seen["cast"] = cast(a)
        return np.sum(np.asarray(seen["cast"], dtype=np.float64) * a)

    gradient = kronvec.grad(g)(x)
    assert not isinstance(seen["cast"], kronvec._tracer.Node)
    np.testing.assert_array_equal(seen["cast"], cast(x))
    np.testing.assert_array_equal(gradient, np.broadcast_to(np.asarray(cast(x), dtype=np.float64), x.shape))


def test_float_and_complex_conversions_and_float_indices_stay_refused():
    # (np.asarray(a) without a dtype is an object array of traced entries: tests/test_object_arrays.py)
    x = np.array([1.5, 2.5])
    for leave in (lambda a: float(a[0]) * a, lambda a: a.astype(complex), lambda a: a[a[0]],
                  lambda a: np.asarray(a, dtype=float) * a, lambda a: np.float64(a[0]) * a):
        with pytest.raises(TypeError):
            kronvec.grad(lambda a: np.sum(leave(a)))(x)


# -------------------------------------------------------------- refused arguments
@pytest.mark.parametrize("call, argument", [
    (lambda x: np.clip(x, 0.0, 1.0, out=np.empty_like(X)), "out"),
    (lambda x: np.clip(x, 0.0, 1.0, casting="unsafe"), "casting"),
    (lambda x: x.clip(0.0, 1.0, out=np.empty_like(X)), "out"),
    (lambda x: np.round(x, out=np.empty_like(X)), "out"),
    (lambda x: x.round(out=np.empty_like(X)), "out"),
    (lambda x: np.fix(x, out=np.empty_like(X)), "out"),
    (lambda x: np.floor_divide(x, 2.0, dtype=np.int64), "dtype"),
    (lambda x: np.sinh(x, where=X > 0), "where"),
    (lambda x: np.maximum(x, 0.0, out=np.empty_like(X)), "out"),
    (lambda x: sp.expit(x, dtype=np.complex64), "dtype"),
], ids=["clip out", "clip casting", "x.clip out", "round out", "x.round out", "fix out", "floor_divide dtype",
        "sinh where", "maximum out", "expit dtype"])
def test_unsupported_arguments_are_refused_by_name(call, argument):
    with pytest.raises(TypeError, match=argument):
        kronvec.grad(lambda x: np.sum(call(x)))(X)


def test_clip_mirrors_numpys_argument_errors():
    with pytest.raises(TypeError, match="a_max"):
        kronvec.grad(lambda x: np.sum(np.clip(x, 0.0)))(X)
    with pytest.raises(ValueError, match="forbidden"):
        kronvec.grad(lambda x: np.sum(np.clip(x, 0.0, 1.0, min=0.0)))(X)


def test_two_output_ufuncs_without_a_pair_of_ufuncs_are_refused_by_name():
    # (np.divmod and np.modf are differentiated: tests/test_front_doors.py)
    for call, name in ((lambda x: np.frexp(x)[0], "np.frexp"),):
        with pytest.raises(TypeError, match=name):
            kronvec.grad(lambda x: np.sum(call(x)))(X)
    with pytest.raises(TypeError, match="np.divmod with keyword arguments"):
        kronvec.grad(lambda x: np.sum(np.divmod(x, 2.0, out=(np.empty(x.shape), np.empty(x.shape)))[1]))(X)


# ---------------------------------------------------------------- structure at scale
N = 1000


@pytest.mark.parametrize("name, f", [
    ("sinh", np.sinh), ("arcsin", lambda x: np.arcsin(x / 2.0)), ("maximum", lambda x: np.maximum(x, 0.5)),
    ("clip", lambda x: np.clip(x, 0.25, 0.75)), ("arctan2 (row broadcast)", lambda x: np.arctan2(x, np.ones((1, N)))),
    ("remainder", lambda x: x % 0.3), ("expit", sp.expit), ("deg2rad", np.deg2rad),
    ("hypot of a broadcast column", lambda x: np.hypot(x[:, :1], np.ones((1, N)))),
], ids=lambda v: v if isinstance(v, str) else "")
def test_jacobian_at_1000_by_1000_is_a_diagonal_not_a_dense_matrix(name, f):
    x = np.random.default_rng(0).uniform(0.05, 0.95, (N, N))
    tracemalloc.start()
    J = kronvec.jacobian(f)(x)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 30 * x.nbytes, f"{name}: peak {peak:,} bytes"  # O(n²), not O(n⁴) = 8 TB
    assert isinstance(J, (Diag, Identity, Scaled, Product)) and not isinstance(J, Dense), type(J)
    assert J.dense_nbytes >= 8 * N ** 4  # what it would have cost
    v = np.random.default_rng(1).standard_normal(N * N)
    _, tangent = kronvec.jvp(f, (x,), (kronvec.unvec(v, x.shape),))
    np.testing.assert_allclose(J.matvec(v), kronvec.vec(tangent), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------- kinks and ties
def test_ties_split_evenly_and_keep_max_plus_min_exact():
    x = np.array([-1.0, 0.0, 2.0])
    for extremum in (np.maximum, np.minimum, np.fmax, np.fmin):
        np.testing.assert_array_equal(kronvec.grad(lambda a: np.sum(extremum(a, 0.0)))(x),
                                      [float(extremum is np.minimum or extremum is np.fmin), 0.5,
                                       float(extremum is np.maximum or extremum is np.fmax)])
    np.testing.assert_array_equal(kronvec.grad(lambda a: np.sum(np.maximum(a, 0.0) + np.minimum(a, 0.0)))(x), 1.0)
    np.testing.assert_array_equal(kronvec.grad(lambda a: np.sum(np.maximum(a, a)))(x), 1.0)  # max(x, x) = x
    # with respect to both arguments at a tie: ½ each
    gx, gy = kronvec.grad(lambda a, b: np.sum(np.maximum(a, b)), argnums=(0, 1))(np.zeros(2), np.zeros(2))
    np.testing.assert_array_equal(gx, 0.5)
    np.testing.assert_array_equal(gy, 0.5)
    # second order: 0, also at the tie (the weights are constants of the point)
    assert not kronvec.hessian(lambda a: np.sum(np.maximum(a, 0.0)))(x).toarray().any()


def test_clip_at_and_between_its_bounds():
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    low, high = -1.0, 1.0
    np.testing.assert_array_equal(kronvec.grad(lambda a: np.sum(np.clip(a, low, high)))(x), [0, 0.5, 1, 0.5, 0])
    dlow, dhigh = kronvec.grad(lambda lo, hi: np.sum(np.clip(x, lo, hi)), argnums=(0, 1))(low, high)
    assert (dlow, dhigh) == (1.5, 1.5)  # below: 1, at the bound: ½
    # low = high = x: ¼ to x and low (the maximum's tie), ½ to high (the minimum's)
    parts = kronvec.grad(lambda a, lo, hi: np.clip(a, lo, hi), argnums=(0, 1, 2))(0.0, 0.0, 0.0)
    assert tuple(map(float, parts)) == (0.25, 0.25, 0.5)
    # low > high: NumPy's value is high everywhere, and so is the derivative
    x3 = np.array([-1.0, 0.0, 1.0])
    parts = kronvec.grad(lambda a, lo, hi: np.sum(np.clip(a, lo, hi)), argnums=(0, 1, 2))(x3, 0.5, -0.5)
    np.testing.assert_array_equal(parts[0], 0.0)
    assert (float(parts[1]), float(parts[2])) == (0.0, 3.0)
    # The reverse sweep's fast path (a plain cotangent, float or int bounds) gives the
    # general path's numbers bit for bit, signs of zero and NaN entries included.
    g = np.array([-3.0, -2.0, 1.5, -0.5, 4.0, -1.0])
    x6 = np.append(x, np.nan)
    for bounds in ((low, high), (-1, 1)):
        with np.errstate(invalid="ignore"):
            ans = np.clip(x6, *bounds)
            fast = E.clip.vjps[0](g, ans, x6, *bounds)
            general = g * E._clip_weights[0](ans, x6, *bounds)
        assert fast.tobytes() == general.tobytes()
    # ... also at the floats next to each bound, at ±0 and ±inf entries, and for bounds at the
    # ends of the float range or a subnormal apart (the one binary search reads b ≤ x as b⁻ < x)
    rng = np.random.default_rng(7)
    for lo, hi in ((-0.5, 0.5), (0.0, 5e-324), (-1.0, -0.0), (-1.7976931348623157e308, 1.7976931348623157e308),
                   (-(2 ** 53), 2 ** 53)):
        near = [math.nextafter(float(b), d) for b in (lo, hi) for d in (-math.inf, math.inf)]
        x = rng.choice(np.array([lo, hi, -0.0, 0.0, np.nan, np.inf, -np.inf, 0.3, -2.5, *near]), size=64)
        g = rng.standard_normal(64) * rng.choice([1.0, -1.0, 0.0, -0.0], size=64)
        with np.errstate(invalid="ignore"):
            ans = np.clip(x, lo, hi)
            fast = E.clip.vjps[0](g, ans, x, lo, hi)
            general = g * E._clip_weights[0](ans, x, lo, hi)
        assert fast.tobytes() == general.tobytes(), (lo, hi)


def test_clip_value_is_numpys_bit_for_bit():
    """np.clip on a traced value computes NumPy's clip (one ufunc): its numbers, signs of
    zero included (min(max(x, l), h) by np.maximum/np.minimum differs at x = ∓0, l = ±0)."""
    x = np.array([[-0.0, 0.0, 0.3, -2.0], [5e-324, -5e-324, 1.0, -0.5]])
    for low, high in ((0.0, 1.0), (-0.0, 0.5), (-0.5, -0.0), (0.5, -0.5), (-1, 1)):
        for point in (x, x.astype(np.float32)):
            value = _traced_value(lambda a: np.clip(a, low, high), point)
            expected = np.clip(point, low, high)
            assert value.dtype == expected.dtype and value.tobytes() == expected.tobytes(), (low, high)


def test_extremum_fast_pullback_is_the_general_one_bit_for_bit():
    """maximum & co. against a number (np.maximum(x, 0.0)): the reverse sweep's fast path
    (one binary search) gives _tie_weight's numbers bit for bit — at ties, signed zeros,
    ±inf, NaN, the floats next to the number, subnormal and extreme numbers, either order."""
    rng = np.random.default_rng(3)
    for op in (E.maximum, E.minimum, E.fmax, E.fmin):
        general = (lambda g, ans, x, y: g * E._tie_weight(ans, x, y),  # (the weights of elementwise_op's VJPs)
                   lambda g, ans, x, y: g * E._tie_weight(ans, y, x))
        for c in (0.0, -0.0, 0.5, -1, 3, 5e-324, -1.7976931348623157e308, 1.7976931348623157e308):
            near = [math.nextafter(float(c), d) for d in (-math.inf, math.inf)]
            x = rng.choice(np.array([c, -0.0, 0.0, np.nan, np.inf, -np.inf, 0.3, -2.5, *near]), size=(8, 8))
            g = rng.standard_normal((8, 8)) * rng.choice([1.0, -1.0, 0.0, -0.0], size=(8, 8))
            for position in (0, 1):
                args = (x, c) if position == 0 else (c, x)
                with np.errstate(invalid="ignore"):
                    ans = op.impl(*args)
                    fast = op.vjps[position](g, ans, *args)
                    slow = general[position](g, ans, *args)
                assert fast.dtype == slow.dtype and fast.tobytes() == slow.tobytes(), (op.name, c, position)


def test_absolute_copysign_and_hypot_take_the_subgradient_zero_at_zero():
    x = np.array([-1.5, 0.0, 2.0])
    for f in (np.abs, np.fabs, lambda a: np.copysign(a, -1.0)):
        np.testing.assert_array_equal(np.abs(kronvec.grad(lambda a: np.sum(f(a)))(x)), [1.0, 0.0, 1.0])
    # hypot(x, 0) = |x|: the same subgradient 0 at the origin; no second derivative there
    np.testing.assert_array_equal(kronvec.grad(lambda a: np.sum(np.hypot(a, 0.0)))(x), [-1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="second derivative"):
        kronvec.hessian(lambda a: np.sum(np.hypot(a, 0.0)))(x)
    np.testing.assert_allclose(kronvec.hessian(lambda a: np.sum(np.hypot(a, 1.0)))(x).toarray(),
                               np.diag(1.0 / (1.0 + x * x) ** 1.5))


def test_remainder_and_fmod_at_their_jumps_take_numpys_quotient():
    # x − k·y with k as NumPy computed it: d/dx = 1, d/dy = −k, also at x/y an integer and where
    # x/y rounds (1 % 0.1 is 0.0999…: k = 9, not 10)
    for x, y, k_remainder, k_fmod in ((2.0, 1.0, 2.0, 2.0), (-2.0, 1.0, -2.0, -2.0), (1.0, 0.1, 9.0, 9.0),
                                      (-1.0, 0.3, -4.0, -3.0), (1.0, -0.3, -4.0, -3.0)):
        for f, k in ((np.remainder, k_remainder), (np.fmod, k_fmod)):
            dx, dy = kronvec.grad(lambda a, b: f(a, b), argnums=(0, 1))(x, y)
            assert float(dx) == 1.0 and float(dy) == -k, (f.__name__, x, y, float(dy))
            assert f(x, y) == x - k * y or abs(f(x, y) - (x - k * y)) < 1e-15


def test_np_where_broadcasts_and_takes_scalar_branches():
    x = np.array([[-1.0, 2.0, 0.5], [3.0, -0.5, -2.0]])
    mask = x > 0
    np.testing.assert_array_equal(kronvec.grad(lambda a: np.sum(np.where(a > 0, a, 0.0)))(x), mask)
    np.testing.assert_array_equal(kronvec.grad(lambda a: np.sum(np.where(a > 0, 1.0, a)))(x), ~mask)
    row = np.array([[10.0, 20.0, 30.0]])
    # a (1, 3) row against (2, 3): the row's cotangent sums over the rows that took it
    g_row = kronvec.grad(lambda r: np.sum(np.where(mask, r, x) * x))(row)
    np.testing.assert_array_equal(g_row, np.sum(np.where(mask, x, 0.0), axis=0, keepdims=True))
    # a traced 0-d branch
    g_scalar = kronvec.grad(lambda s: np.sum(np.where(mask, s, x)))(np.float64(2.0))
    assert float(g_scalar) == mask.sum()
    # a condition of another shape (broadcast column)
    column = np.array([[True], [False]])
    np.testing.assert_array_equal(kronvec.grad(lambda a: np.sum(np.where(column, a, 2 * a)))(x),
                                  np.where(column, 1.0, 2.0) * np.ones_like(x))


def test_powers_with_negative_and_fractional_constants():
    x = np.array([0.5, 1.0, 2.0])
    for p in (-1.5, -1, 0.5, 1.0 / 3.0, 2.5):
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(a ** p))(x), p * x ** (p - 1), rtol=1e-14)
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(np.float_power(a, p)))(x), p * x ** (p - 1), rtol=1e-14)
        np.testing.assert_allclose(kronvec.hessian(lambda a: np.sum(a ** p))(x).toarray(),
                                   np.diag(p * (p - 1) * x ** (p - 2)), rtol=1e-13)
    np.testing.assert_allclose(kronvec.grad(lambda a: np.sum((-a) ** -1))(x), 1.0 / x ** 2)  # integer exponent, x < 0


# ------------------------------------------------------------- right or loud
@pytest.mark.parametrize("f, x", [
    (np.arcsin, 1.5), (np.arccos, -1.2), (np.log2, 0.0), (np.log10, -1.0), (np.arccosh, 0.5), (np.arctanh, 1.0),
    (np.reciprocal, 0.0), (np.sinh, 800.0), (np.cosh, -800.0), (np.exp2, 2000.0), (np.rad2deg, 1e308),
    (lambda a: np.floor_divide(a, 0.0), 1.0), (lambda a: a // 0.0, 1.0), (lambda a: np.remainder(a, 0.0), 1.0),
    (lambda a: np.fmod(a, 0.0), 1.0), (lambda a: np.float_power(a, 0.5), -1.0), (lambda a: np.arctan2(a, 0.0), 0.0),
    (sp.logit, 0.0), (sp.logit, 1.2), (sp.entr, -1.0), (sp.ndtri, 0.0), (sp.gammaln, 0.0), (sp.gammaln, -2.0),
    (sp.digamma, 0.0), (lambda a: sp.xlogy(a, 0.0), 1.0), (lambda a: sp.rel_entr(a, 0.0), 1.0),
    (sp.erfinv, 1.0), (sp.gamma, 200.0),
    (sp.erfcinv, 0.0), (sp.erfcinv, 2.5), (sp.rgamma, -180.5), (lambda a: sp.beta(a, 1.0), 0.0),
    (lambda a: sp.jv(0.5, a), -1.0), (lambda a: sp.iv(1.5, a), -2.0), (sp.y0, 0.0), (sp.k1, -1.0),
    (lambda a: sp.kv(2.0, a), 0.0), (sp.i0, 800.0), (lambda a: sp.gammainc(1.5, a), -1.0), (np.sinc, 1e308),
    (sp.erfcx, -30.0), (np.i0, -800.0),
], ids=["arcsin>1", "arccos<-1", "log2(0)", "log10(-1)", "arccosh<1", "arctanh(1)", "1/0", "sinh overflow",
        "cosh overflow", "exp2 overflow", "rad2deg overflow", "floor_divide by 0", "// 0", "remainder by 0",
        "fmod by 0", "float_power(-1, .5)", "arctan2(0, 0)", "logit(0)", "logit>1", "entr<0", "ndtri(0)",
        "gammaln(0)", "gammaln(-2)", "digamma(0)", "xlogy(1, 0)", "rel_entr(1, 0)", "erfinv(1)", "gamma overflow",
        "erfcinv(0)", "erfcinv>2", "rgamma overflow", "beta(0, 1)", "jv(½, x<0)", "iv(1.5, x<0)", "y0(0)", "k1(x<0)",
        "kv(2, 0)", "i0 overflow", "gammainc(x<0)", "sinc overflow", "erfcx overflow", "np.i0 overflow"])
def test_domain_edges_are_loud(f, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="not finite"):
            kronvec.grad(lambda a: np.sum(f(a)))(np.array([0.25, x]))


@pytest.mark.parametrize("size", [5, 4096, 4097, 30_000])
def test_domain_edges_are_loud_at_every_size(size):
    """Small results are checked with one ⟨r, r⟩, large ones entry by entry (no BLAS
    thread pool for a check): both refuse the same non-finite entry, wherever it is."""
    x = np.linspace(0.5, 2.0, size)
    for position in (0, size // 2, size - 1):
        bad = x.copy()
        bad[position] = 0.0
        with pytest.raises(ValueError, match="not finite at 1 entry"):
            kronvec.grad(lambda a: np.sum(np.log(a)))(bad)
    np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(np.log(a)))(x), 1 / x, rtol=1e-15)


@pytest.mark.parametrize("f, x", [
    (np.arcsin, 1.0), (np.arccos, -1.0), (np.sqrt, 0.0), (np.cbrt, 0.0), (np.arccosh, 1.0), (sp.entr, 0.0),
    (lambda a: sp.xlogy(a, 0.0), 0.0), (lambda a: 1.0 / a, 1e-308),
    (lambda a: sp.gammainc(0.5, a), 0.0), (lambda a: sp.jv(0.5, a), 0.0), (sp.rgamma, 0.0), (sp.rgamma, -3.0),
], ids=["arcsin'(1)", "arccos'(-1)", "sqrt'(0)", "cbrt'(0)", "arccosh'(1)", "entr'(0)", "xlogy(·, 0)'", "d(1/x) at 1e-308",
        "gammainc(½, ·)'(0)", "jv(½, ·)'(0)", "rgamma'(0) (a pole of Γ)", "rgamma'(-3)"])
def test_infinite_derivatives_at_finite_values_are_loud(f, x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="not finite"):
            kronvec.grad(lambda a: np.sum(f(a)))(np.array([0.25, x]))


def test_x_log_y_is_zero_at_x_zero_for_every_y_and_so_is_its_derivative_in_y():
    for y in (0.0, 0.5, 2.0):
        assert float(kronvec.grad(lambda b: sp.xlogy(0.0, b))(y)) == 0.0
        assert float(kronvec.grad(lambda b: sp.rel_entr(0.0, b))(y)) == 0.0
        assert float(kronvec.hessian(lambda b: sp.xlogy(0.0, b))(y).toarray()[0, 0]) == 0.0
    assert float(kronvec.grad(lambda b: sp.xlog1py(0.0, b))(-1.0)) == 0.0


_EXTREMES = np.array([-1e308, -1e200, -710.5, -30.0, -1.0, -1e-300, -5e-324, 0.0, 5e-324, 1e-300, 0.5, 1.0,
                      30.0, 710.5, 1e200, 1e308])
# Every map of the elementwise family but + − ∗, which overflow to ±inf as NumPy's do (a
# check on the cheapest operations would cost every function its share).
_ELEMENTWISE = sorted(op.name for module in (E, special_family) for op in vars(module).values()
                      if isinstance(op, Primitive) and op.name in REGISTRY and op.name not in ("add", "subtract", "multiply"))


@pytest.mark.parametrize("name", _ELEMENTWISE)
def test_every_elementwise_map_is_right_or_loud_at_extreme_inputs(name):
    """Each entry alone, in each argument position: a finite value and gradient, or the
    ValueError — never NaN, inf or a floating-point warning. This holds the maps
    defined with loud_value=False / loud_derivatives=False to their claim."""
    op = REGISTRY[name]
    sample = op.samples(np.random.default_rng(0), 2)
    args = sample.args if hasattr(sample, "args") else tuple(sample)
    params = getattr(sample, "params", {})
    for position, arg in enumerate(args):
        if np.asarray(arg).dtype.kind != "f" or op.vjps.of(position) is None:  # (a parameter: a Bessel order)
            continue
        others = [np.asarray(a).ravel()[:1].reshape(()) for a in args]  # 0-d companions from the sample
        for value in _EXTREMES:
            call = list(others)
            call[position] = np.array(value)

            def f(a, call=call, position=position):
                call = list(call)
                call[position] = a
                return op(*call, **params)

            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with np.errstate(all="warn", under="ignore"):
                    try:
                        result, gradient = kronvec.value_and_grad(f)(np.array(value))
                    except ValueError as error:
                        assert "not finite" in str(error) or "derivative" in str(error), (name, value, error)
                        continue
            assert np.isfinite(result) and np.isfinite(gradient), (name, position, value, result, gradient)


# ------------------------------------------------------------ loaded on demand
def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_kronvec_does_not_import_scipy_special():
    assert _run("import sys, kronvec; print('scipy.special' in sys.modules)") == "False"


def test_scipy_special_registers_on_first_use():
    out = _run(
        "import numpy as np, kronvec, scipy.special as sp\n"
        "before = 'expit' in kronvec.ops.REGISTRY\n"
        "g = kronvec.grad(lambda x: np.sum(sp.expit(x)))(np.zeros(2))\n"
        "print(before, 'expit' in kronvec.ops.REGISTRY, g.tolist())\n"
        "print('scipy.special.expit' in kronvec.SUPPORTED_FUNCTIONS)"
    )
    assert out.splitlines() == ["False True [0.25, 0.25]", "True"]


def test_huber_at_the_edge_of_its_quadratic_zone():
    # ρ_δ(r) = r²/2 for |r| ≤ δ, δ(|r| − δ/2) beyond: the first derivatives (clip(r, −δ, δ) in r,
    # (|r| − δ)⁺ in δ) are continuous at |r| = δ; the second one in r jumps from 1 to 0, and is
    # ½ there, np.clip's tie rule (conventions.md §7)
    r = np.array([1.0, -2.0, 0.5, 3.0])
    delta = np.array([1.0, 2.0, 2.0, 1.0])
    gradient = kronvec.grad(lambda r: np.sum(sp.huber(delta, r)))(r)
    np.testing.assert_array_equal(gradient, [1.0, -2.0, 0.5, 1.0])
    np.testing.assert_array_equal(kronvec.grad(lambda d: np.sum(sp.huber(d, r)))(delta), [0.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(kronvec.hessian(lambda r: np.sum(sp.huber(delta, r)))(r).toarray().diagonal(),
                                  [0.5, 0.5, 1.0, 0.0])


def test_scipy_namesakes_of_numpy_functions_are_named_as_scipys():
    # scipy.special.expm1 is a ufunc of its own, registered beside np.expm1: errors name SciPy's
    with pytest.raises(ValueError, match=r"scipy\.special\.log1p"):
        kronvec.grad(lambda x: np.sum(sp.log1p(x - 2.0)))(np.array([0.5]))


def test_an_unsupported_scipy_special_ufunc_is_named_as_such():
    with pytest.raises(TypeError, match=r"scipy\.special\.struve"):
        kronvec.grad(lambda x: np.sum(sp.struve(1.0, x)))(X)


def test_every_on_demand_name_is_registered_once_loaded():
    import scipy.special

    for spelling in E.ON_DEMAND_NAMES:
        function = getattr(scipy.special, spelling.rsplit(".", 1)[1])
        if isinstance(function, np.ufunc):
            assert function in UFUNCS or function in UFUNCS_WITH_PARAMETERS or function in VALUE_ONLY_UFUNCS, spelling
        assert spelling in kronvec.SUPPORTED_FUNCTIONS


def test_traced_results_stay_traced():
    seen = {}

    def f(x):
        seen["y"] = np.sinh(x)
        return np.sum(seen["y"])

    kronvec.grad(f)(X)
    assert isinstance(seen["y"], Traced)


# ------------------------------------ scipy.special: Bessel, incomplete gamma, sinc
@pytest.mark.parametrize("call, function, argument", [
    (lambda v, x: sp.jv(v, x), "jv", "v"), (lambda v, x: sp.jn(v, x), "jv", "v"), (lambda v, x: sp.yv(v, x), "yv", "v"),
    (lambda v, x: sp.iv(v, x), "iv", "v"), (lambda v, x: sp.ive(v, x), "ive", "v"), (lambda v, x: sp.kv(v, x), "kv", "v"),
    (lambda v, x: sp.kve(v, x), "kve", "v"), (lambda v, x: sp.yn(v, x), "yn", "n"),
    (lambda a, x: sp.gammainc(a, x), "gammainc", "a"), (lambda a, x: sp.gammaincc(a, x), "gammaincc", "a"),
], ids=["jv", "jn", "yv", "iv", "ive", "kv", "kve", "yn", "gammainc", "gammaincc"])
def test_a_traced_order_or_shape_parameter_is_refused_by_name_in_every_mode(call, function, argument):
    order, x = np.array([1.0, 2.0]), np.array([0.7, 1.9])
    message = rf"scipy\.special\.{function} with respect to its argument {argument}\b"
    for transform in (lambda f: kronvec.grad(lambda v: np.sum(f(v)))(order), lambda f: kronvec.jacobian(f)(order),
                      lambda f: kronvec.jvp(f, (order,), (np.ones(2),)), lambda f: kronvec.hessian(lambda v: np.sum(f(v)))(order)):
        with pytest.raises(TypeError, match=message):
            transform(lambda v: call(v, x))
    with pytest.raises(TypeError, match=message):  # both traced
        kronvec.grad(lambda v, y: np.sum(call(v, y)), argnums=(0, 1))(order, x)
    # a plain order (also one broadcasting against x, or an argument not differentiated) is fine
    gradient = kronvec.grad(lambda y: np.sum(call(order[:, None], y)))(x)
    expected = central_difference_jacobian(lambda y: np.sum(call(order[:, None], y)), (x,))[0]
    assert_scaled_close(gradient, expected, 1e-6, function)
    assert_scaled_close(kronvec.grad(lambda v, y: np.sum(call(v[:, None], y)), argnums=1)(order, x), gradient, 1e-15,
                        function)


def test_bessel_derivatives_follow_the_recurrences_and_jn_is_jv():
    x = np.array([0.3, 1.7, 4.2])
    for order in (0, 1, 2.5, -1.5):
        g = kronvec.grad(lambda a: np.sum(sp.jv(order, a)))(x)
        np.testing.assert_allclose(g, sp.jvp(order, x), rtol=1e-13, atol=1e-15)  # SciPy's own derivative
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(sp.yv(order, a)))(x), sp.yvp(order, x), rtol=1e-12)
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(sp.iv(order, a)))(x), sp.ivp(order, x), rtol=1e-13)
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(sp.kv(order, a)))(x), sp.kvp(order, x), rtol=1e-12)
        # second derivatives: SciPy's jvp(v, x, n=2)
        H = kronvec.hessian(lambda a: np.sum(sp.jv(order, a)))(x).toarray()
        np.testing.assert_allclose(np.diag(H), sp.jvp(order, x, n=2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(sp.jn(3, a)))(x), sp.jvp(3, x), rtol=1e-13)
    for f, v in ((sp.j0, 0), (sp.j1, 1)):
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(f(a)))(x), sp.jvp(v, x), rtol=1e-13, atol=1e-15)
    for f, v in ((sp.i0, 0), (sp.i1, 1)):
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(f(a)))(x), sp.ivp(v, x), rtol=1e-13)
    for f, v in ((sp.k0, 0), (sp.k1, 1)):
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(f(a)))(x), sp.kvp(v, x), rtol=1e-12)
    for f, v in ((sp.y0, 0), (sp.y1, 1)):
        np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(f(a)))(x), sp.yvp(v, x), rtol=1e-12)


def test_scaled_bessel_functions_take_the_subgradient_zero_of_their_factor_at_zero():
    # ive(0, x) = I₀(x)e^(−|x|) has a kink at 0 (slopes ∓1): the subgradient 0, as |x|
    assert float(kronvec.grad(lambda a: sp.ive(0.0, a))(0.0)) == 0.0
    assert float(kronvec.grad(lambda a: sp.i0e(a))(0.0)) == 0.0
    assert float(kronvec.grad(lambda a: sp.i1e(a))(0.0)) == 0.5  # smooth there: I₁′(0) = ½


def test_incomplete_gamma_at_the_edge_x_zero_has_the_one_sided_first_derivative_only():
    # ∂P/∂x = x^(a−1)e^(−x)/Γ(a): 1 at a = 1, 0 for a > 1 (one-sided: P is not defined for x < 0)
    g = kronvec.grad(lambda x: np.sum(sp.gammainc(np.array([1.0, 2.0, 3.5]), x)))(np.zeros(3))
    np.testing.assert_array_equal(g, [1.0, 0.0, 0.0])
    g = kronvec.grad(lambda x: np.sum(sp.gammaincc(np.array([1.0, 2.0]), x)))(np.zeros(2))
    np.testing.assert_array_equal(g, [-1.0, 0.0])
    one_sided = (sp.gammainc(2.0, 1e-7) - sp.gammainc(2.0, 0.0)) / 1e-7
    assert abs(one_sided) < 1e-6
    with pytest.raises(ValueError, match="second derivative"):
        kronvec.hessian(lambda x: np.sum(sp.gammainc(2.0, x)))(np.array([0.0, 1.0]))


def test_incomplete_gamma_derivative_against_its_integrand_in_the_tails():
    a, x = np.array([0.5, 3.0, 150.0]), np.array([1e-3, 12.0, 160.0])
    expected = np.exp((a - 1.0) * np.log(x) - x - sp.gammaln(a))
    np.testing.assert_allclose(kronvec.grad(lambda y: np.sum(sp.gammainc(a, y)))(x), expected, rtol=1e-13)
    np.testing.assert_allclose(kronvec.grad(lambda y: np.sum(sp.gammaincc(a, y)))(x), -expected, rtol=1e-13)


def test_sinc_at_zero_is_one_with_derivatives_0_and_minus_pi_squared_over_3():
    x = np.array([0.0, -0.0, 1e-12, 0.25, 1.0, -3.5])
    value, gradient = kronvec.value_and_grad(lambda a: np.sum(np.sinc(a)))(x)
    assert float(value) == float(np.sum(np.sinc(x)))
    t = np.pi * x[2:]
    expected = np.concatenate([[0.0, 0.0], (np.cos(t) - np.sinc(x[2:])) / x[2:]])
    expected[2] = -np.pi ** 2 / 3 * x[2]  # (the closed form cancels there: its Taylor term)
    np.testing.assert_allclose(gradient, expected, rtol=1e-13, atol=1e-16)
    H = np.diag(kronvec.hessian(lambda a: np.sum(np.sinc(a)))(x).toarray())
    assert np.all(np.isfinite(H))
    np.testing.assert_allclose(H[:3], -np.pi ** 2 / 3, rtol=1e-14)
    # sinc″(x) = −π² sinc(x) − 2 sinc′(x)/x away from 0 (from x·sinc = sin(πx)/π differentiated twice)
    np.testing.assert_allclose(H[3:], -np.pi ** 2 * np.sinc(x[3:]) - 2 * expected[3:] / x[3:], rtol=1e-12)
    third = kronvec.grad(lambda a: np.sum(kronvec.hvp(lambda b: np.sum(np.sinc(b)))(a, np.ones(1))))(np.zeros(1))
    assert float(third[0]) == 0.0  # sinc is even: every odd derivative is 0 at 0
    assert np.sinc(np.float64(0.0)) == 1.0 and float(kronvec.jvp(np.sinc, (0.0,), (1.0,))[1]) == 0.0


def test_jacobian_of_a_bessel_function_at_1000_by_1000_is_a_diagonal():
    x = np.random.default_rng(0).uniform(0.5, 2.0, (N, N))
    tracemalloc.start()
    J = kronvec.jacobian(lambda a: sp.jv(1.5, a))(x)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 30 * x.nbytes and isinstance(J, Diag), type(J)
    np.testing.assert_allclose(J.matvec(np.ones(N * N)), kronvec.vec(sp.jvp(1.5, x)), rtol=1e-12)


def test_a_ufunc_dtype_casts_its_operands_as_numpy_does():
    # np.exp(x, dtype=d), np.matmul(A, B, dtype=d): the operands cast to d, computed in d
    P32 = P.astype(np.float32)
    for f in (lambda Z: np.exp(Z, dtype=np.float64), lambda Z: np.multiply(Z, 2, dtype=np.float64),
              lambda Z: np.add(Z, Z[::-1], dtype="f8"), lambda Z: np.matmul(Z, Z.T, dtype=np.float64),
              lambda Z: np.power(Z, 3, dtype=float)):
        value = kronvec.vjp(f, P32)[0]
        np.testing.assert_array_equal(value, f(P32))
        assert value.dtype == np.float64
        g = kronvec.grad(lambda Z: np.sum(np.sin(f(Z))))(P32)
        expected = central_difference_jacobian(lambda Z: np.sum(np.sin(f(Z))), (P32.astype(np.float64),))[0]
        np.testing.assert_allclose(g.reshape(-1, order="F"), expected, rtol=2e-5, atol=1e-5)  # (g is float32)
    assert kronvec.vjp(lambda Z: np.exp(Z, dtype=np.float32), P)[0].dtype == np.float32
    with pytest.raises(TypeError, match="np.exp with dtype="):
        kronvec.grad(lambda Z: np.sum(np.exp(Z, dtype=np.complex128).real))(P)


def test_python_round_of_a_traced_scalar_is_piecewise_constant():
    # round(x) is an int and round(x, k) np.round's value: derivative 0 (conventions §7), never
    # Python's "type Traced doesn't define __round__"
    g = kronvec.grad(lambda x: round(x[0], 1) * x[1] + round(x[1]) * x[0])(np.array([1.26, 2.7]))
    np.testing.assert_allclose(g, [3.0, 1.3])
    assert kronvec.grad(lambda x: x[1] * round(x[0]))(np.array([0.4, 1.0]))[0] == 0.0


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "maximum", "hypot"])
def test_ufunc_outer_is_the_ufunc_of_broadcast_operands(name):
    u = getattr(np, name)
    for f in (lambda Z: u.outer(Z[0], Z[1, :3]), lambda Z: u.outer(Z[:2], [1.5, 2.5]), lambda Z: u.outer(2.0, Z)):
        value = kronvec.vjp(f, P)[0]
        np.testing.assert_array_equal(value, f(P))
        J = kronvec.jacobian(f)(P).toarray()
        assert_scaled_close(J, central_difference_jacobian(f, (P,)), 1e-6, name)
    f = lambda Z: u.outer(Z[0], Z[1], dtype=np.float32)  # noqa: E731
    assert kronvec.vjp(f, P)[0].dtype == np.float32
    np.testing.assert_array_equal(kronvec.vjp(f, P)[0], f(P))
    with pytest.raises(TypeError, match=r"np\.add\.outer with where="):  # (other keywords: refused by name)
        kronvec.grad(lambda Z: np.sum(np.add.outer(Z[0], Z[1], where=Z[0] > 1)))(P)


def test_a_numpy_float64_exponent_promotes_a_float32_base_as_numpy_does():
    # x ** 2 is recorded as square(x), but np.float64(2) is not a weak Python scalar (NEP 50):
    # NumPy's result is float64, and so is kronvec's
    P32 = P.astype(np.float32)
    for f, dtype in ((lambda Z: Z ** np.float64(2), np.float64), (lambda Z: Z ** 2.0, np.float32),
                     (lambda Z: Z ** np.float32(2), np.float32), (lambda Z: np.power(Z, np.float64(2)), np.float64)):
        value = kronvec.vjp(f, P32)[0]
        assert value.dtype == f(P32).dtype == dtype
        np.testing.assert_array_equal(value, f(P32))
        np.testing.assert_allclose(kronvec.grad(lambda Z: np.sum(f(Z)))(P32), 2 * P32, rtol=1e-6)


@pytest.mark.parametrize("function", [
    np.true_divide, np.power, np.float_power, sp.xlogy, sp.xlog1py, sp.rel_entr, sp.kl_div, sp.boxcox,
    sp.boxcox1p, sp.powm1, sp.pseudo_huber,
], ids=lambda f: f.__name__)
def test_float32_constant_meets_float64_variable_in_float64(function):
    # NumPy computes f(X, C) with X float64 and C float32 in float64 (C is cast first). The
    # derivatives were computed with the float32 C (1/C, log C in float32): 1e-8 relative
    # errors in a float64 Jacobian, VJP and JVP. They must equal those of the upcast C.
    rng = np.random.default_rng(7)
    X, C = rng.uniform(0.5, 1.5, (3, 2)), rng.uniform(0.5, 1.5, (3, 2)).astype(np.float32)
    C64 = C.astype(np.float64)
    u, v = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    pairs = [(lambda x: function(x, C), lambda x: function(x, C64))]
    if function not in (sp.boxcox, sp.boxcox1p):  # (their lmbda is a parameter, not differentiated)
        pairs.append((lambda x: function(C, x), lambda x: function(C64, x)))
    for f, f64 in pairs:
        value, pullback = kronvec.vjp(f, X)
        value64, pullback64 = kronvec.vjp(f64, X)
        assert value.dtype == np.float64 and np.array_equal(value, f(X))
        np.testing.assert_allclose(pullback(u)[0], pullback64(u)[0], rtol=1e-14, atol=0)
        np.testing.assert_allclose(kronvec.jvp(f, (X,), (v,))[1], kronvec.jvp(f64, (X,), (v,))[1], rtol=1e-14, atol=0)
        J, J64 = kronvec.jacobian(f)(X), kronvec.jacobian(f64)(X)
        assert J.dtype == np.float64
        np.testing.assert_allclose(J.toarray(), J64.toarray(), rtol=1e-14, atol=0)
        # and each is the derivative: central differences (the upcast constant's, float64)
        np.testing.assert_allclose(J.toarray(), central_difference_jacobian(f64, (X,)), rtol=1e-6, atol=1e-8)


def test_float32_constant_alone_stays_float32():
    # the promotion is NumPy's: with a float32 variable the constant stays float32
    X, C = np.array([1.0, 2.0], dtype=np.float32), np.array([3.0, 7.0], dtype=np.float32)
    value, pullback = kronvec.vjp(lambda x: x / C, X)
    assert value.dtype == np.float32 and pullback(np.ones(2, np.float32))[0].dtype == np.float32
    assert kronvec.jacobian(lambda x: x / C)(X).dtype == np.float32


# ------------------------------------------------ found by an adversarial sweep (stop 36)
@pytest.mark.parametrize("f, x", [
    (lambda x: np.arctan2(np.array([3, 2], np.uint8), x), np.array([0.5, 1.5])),  # −y of a uint8 wrapped
    (lambda x: np.arctan2(np.array([True, False]), x), np.array([0.5, 1.5])),  # −y of a bool raised
    (lambda r: sp.huber(np.array([1, 1], np.uint8), r), np.array([-2.0, 0.5])),
    (lambda x: sp.xlog1py(x, True), np.array([0.5, 1.5])),  # log1p(True) is float16 in NumPy
    (lambda x: np.array([3, 3], np.int8) ** x, np.array([0.5, 1.5])),  # log(int8) is float16
    (lambda x: sp.rel_entr(x, np.array([2, 3], np.uint8)), np.array([0.5, 1.5])),
    (lambda x: sp.yn(np.array([0, 1], np.uint8), x), np.array([1.3, 2.1])),  # n − 1 of a uint8 wrapped
], ids=["arctan2 uint8", "arctan2 bool", "huber uint8", "xlog1py True", "int8 ** x", "rel_entr uint8", "yn uint8"])
def test_integer_and_boolean_constants_enter_the_rules_in_the_result_precision(f, x):
    # NumPy casts a constant to the result type before computing; the derivative rules must
    # too: a negated unsigned integer wraps around, log of a bool or 8-bit integer is float16
    J_fd = central_difference_jacobian(lambda a: np.asarray(f(a), dtype=np.float64), (x,))
    assert_scaled_close(kronvec.jacobian(f)(x).toarray(), J_fd, 1e-6, "jacobian")
    np.testing.assert_array_equal(kronvec.vjp(f, x)[0], f(x))


def test_a_float16_constant_gives_the_jacobian_of_numpys_float32_arithmetic():
    # x / c computes 1/c in float32 for a float32 x and a float16 c: the Jacobian did it in float16
    x = np.array([0.5, 1.5], np.float32)
    c = np.array([1.3, 2.7], np.float16)
    J = kronvec.jacobian(lambda x: x / c)(x).toarray()
    (pulled,) = kronvec.vjp(lambda x: x / c, x)[1](np.ones(2, np.float32))
    np.testing.assert_array_equal(J.diagonal(), pulled)
    np.testing.assert_allclose(pulled, 1.0 / c.astype(np.float32), rtol=1e-7)


def test_heaviside_is_differentiable_in_its_value_at_zero():
    # heaviside(x, h) is h where x = 0: derivative 1 there in h, 0 elsewhere (and 0 in x)
    x = np.array([0.0, 1.0, -2.0, 0.0])
    h = np.array([0.3, 0.3, 0.3, 0.7])
    np.testing.assert_array_equal(kronvec.grad(lambda h: np.sum(np.heaviside(x, h)))(h), [1.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(kronvec.vjp(lambda h: np.heaviside(x, h), h)[0], np.heaviside(x, h))
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.sum(np.heaviside(x, 0.5) * x))(x), np.heaviside(x, 0.5))


@pytest.mark.parametrize("f, x, exact", [
    (np.expm1, -40.0, math.exp(-40.0)),  # (1 + expm1(x) lost eˣ below −36)
    (sp.expit, 40.0, math.exp(-40.0) / (1.0 + math.exp(-40.0)) ** 2),  # (σ(1 − σ) lost it above 36)
    (np.arccosh, 1e200, 1e-200),  # (x² overflowed above 1e154)
    (sp.log_ndtr, -1e7, 10000000.0000001),  # (exp(−x²/2 − log Φ) cancelled: 1 % off)
    (sp.log_ndtr, -1e8, 100000000.00000001),
], ids=["expm1 -40", "expit 40", "arccosh 1e200", "log_ndtr -1e7", "log_ndtr -1e8"])
def test_derivatives_keep_their_digits_in_the_tails(f, x, exact):
    # exact values: closed forms, and for log_ndtr φ/Φ at 50 digits (mpmath)
    np.testing.assert_allclose(kronvec.grad(f)(x), exact, rtol=4 * np.finfo(float).eps)


def test_a_piecewise_constant_result_has_a_zero_tangent_in_its_precision():
    x = np.array([0.5, 1.5], np.float32)
    value, tangent = kronvec.jvp(np.floor, (x,), (np.ones(2, np.float32),))
    assert value.dtype == tangent.dtype == np.float32
    np.testing.assert_array_equal(tangent, 0.0)
