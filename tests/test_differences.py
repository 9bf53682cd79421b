"""Finite differences and sampled calculus (issue 12): np.diff, np.ediff1d,
np.gradient, np.trapezoid and np.linspace with traced endpoints; np.unwrap.

Each is linear in its traced arguments, built from registered slices,
differences and constant-coefficient products (notes/derivatives.md §20).
What is checked: the value through kronvec equals NumPy's exactly (same
slices, same order of operations); the Jacobian, JVP, gradient and Hessian
match central differences (FD_RTOL = 1e-6 as in tests/test_registry.py:
h = 1e-6 errs by ~1e-10 relative for these O(1) compositions); arguments
that would need a derivative kronvec does not take (a traced order, spacing
or sample count) are refused by name; Jacobians stay structured at scale.
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec
from kronvec import Dense
from kronvec._vec import vec

from _helpers import check_value_and_derivatives, jacobian_and_peak_memory

FD_RTOL = 1e-6
RNG = np.random.default_rng(20)
X34 = RNG.standard_normal((3, 4))
X456 = RNG.standard_normal((4, 5, 6))
V7 = RNG.standard_normal(7)
COORDINATES = np.array([0.0, 0.4, 1.1, 1.5, 2.6, 3.0])  # non-uniform spacing along an axis of 6


SPELLINGS = {
    "diff": lambda X: np.diff(X),
    "diff n=2 axis=0": lambda X: np.diff(X, n=2, axis=0),
    "diff n=0": lambda X: np.diff(X, n=0),
    "diff n=3 (vector)": lambda X: np.diff(X[0], n=3),
    "diff prepend scalar": lambda X: np.diff(X, prepend=1.5),
    "diff append array": lambda X: np.diff(X, axis=0, append=np.ones((1, X.shape[1]))),
    "diff traced append": lambda X: np.diff(X, append=X[:, :1] ** 2),
    "ediff1d": lambda X: np.ediff1d(X),
    "ediff1d ends": lambda X: np.ediff1d(X, to_begin=[1.0, -2.0], to_end=X[0, 0] * 3.0),
    "gradient vector": lambda X: np.gradient(X[0]),
    "gradient spacing": lambda X: np.gradient(X[1], 0.3),
    "gradient axis": lambda X: np.gradient(X, axis=1),
    "gradient edge 2": lambda X: np.gradient(X, axis=0, edge_order=2),
    "gradient all axes": lambda X: np.stack(np.gradient(X, 0.5, 2.0)),
    "trapezoid": lambda X: np.trapezoid(X),
    "trapezoid dx axis": lambda X: np.trapezoid(X, dx=0.25, axis=0),
    "trapezoid x": lambda X: np.trapezoid(X, x=np.array([0.0, 0.5, 1.7, 2.0])),
    "trapezoid traced x": lambda X: np.trapezoid(X[0], x=np.cumsum(X[1] ** 2)),
    "linspace": lambda X: np.linspace(X[0, 0], X[1, 1], 7),
    "linspace vectors": lambda X: np.linspace(X[0], X[1], 5, axis=1),
    "linspace no endpoint": lambda X: np.linspace(X[0], 2.0, 4, endpoint=False),
    "linspace retstep": lambda X: np.linspace(X[0, 0], X[2], 6, retstep=True)[0],
    "logspace": lambda X: np.logspace(X[0, 0], X[1, 1], 7),
    "logspace vectors, base 2, no endpoint": lambda X: np.logspace(X[0], X[1], 5, endpoint=False, base=2.0, axis=1),
    "logspace array base": lambda X: np.logspace(X[0, :3], X[1, :3], 4, base=[2.0, 3.0, 1.5]),
    "logspace traced base": lambda X: np.logspace(0.0, X[1], 4, base=X[0, 0] ** 2 + 1.0),
    "geomspace": lambda X: np.geomspace(X[0, 0] ** 2 + 0.5, X[1, 0] ** 2 + 2.0, 9),
    "geomspace negative vectors, axis": lambda X: np.geomspace(-(X[0] ** 2 + 0.1), -(X[1] ** 2 + 0.5), 5, axis=-1),
    "geomspace no endpoint": lambda X: np.geomspace(np.exp(X[0]), 3.0, 4, endpoint=False),
    "geomspace one sample": lambda X: np.geomspace(np.exp(X[0]), X[1] ** 2 + 1.0, 1),
    # (phases: X34's entries times 6 jump by more than π between neighbours, so the
    # corrections are nonzero along both axes)
    "unwrap": lambda X: np.unwrap(6.0 * X),
    "unwrap axis 0, period 2": lambda X: np.unwrap(6.0 * X, axis=0, period=2.0),
    "unwrap discont": lambda X: np.unwrap(6.0 * X, discont=4.0) ** 2,
    "unwrap 3-D, integer period": lambda X: np.unwrap(np.stack([6.0 * X, X]), axis=1, period=3),
}


@pytest.mark.parametrize("name", SPELLINGS)
def test_values_equal_numpy_and_derivatives_match_finite_differences(name):
    check_value_and_derivatives(SPELLINGS[name], X34, FD_RTOL)


@pytest.mark.parametrize("f", [
    lambda X: np.gradient(X, COORDINATES, axis=2),
    lambda X: np.gradient(X, COORDINATES, axis=-1, edge_order=2),
    lambda X: np.stack(np.gradient(X, 1.0, np.arange(5.0) ** 2, COORDINATES)),
    lambda X: np.trapezoid(X, x=np.linspace(0.0, 1.0, 6) ** 2, axis=-1),
    lambda X: np.diff(X, n=2, axis=1),
], ids=["coordinates", "coordinates edge 2", "mixed spacings", "trapezoid 3-D", "diff 3-D"])
def test_three_dimensional_and_non_uniform_spacings(f):
    check_value_and_derivatives(f, X456, FD_RTOL)


def test_second_and_third_order_of_a_nonlinear_composition():
    # kept O(1) (spacing 1, exp(v/2)) so that sin(f) in the checker is not oscillating faster than h resolves
    f = lambda v: 0.2 * np.trapezoid(np.gradient(np.exp(v / 2), 1.0, edge_order=2) ** 2)  # noqa: E731
    check_value_and_derivatives(lambda X: np.atleast_1d(f(X)), V7, FD_RTOL, third=True)


def test_retstep_is_the_traced_step():
    step = kronvec.grad(lambda X: np.linspace(X[0], X[1], 9, retstep=True)[1])(np.array([1.0, 5.0]))
    np.testing.assert_allclose(step, [-1 / 8, 1 / 8], rtol=1e-15)


@pytest.mark.parametrize("call, message", [
    (lambda X: np.diff(X, n=X.shape[0] * 0 + X[0, 0]), "n must be a constant"),
    (lambda X: np.gradient(X, X[0, 0]), "spacing must be a constant"),
    (lambda X: np.trapezoid(X, dx=X[0, 0]), "dx must be a constant"),
    (lambda X: np.linspace(X[0, 0], 1.0, num=X[0, 0]), "num must be a constant"),
    (lambda X: np.linspace(X[0, 0], 1.0, dtype=np.float32), "float64"),
    (lambda X: np.linspace(X[0, 0], 1.0, device="cpu"), "device"),
    (lambda X: np.logspace(X[0, 0], 1.0, dtype=np.float32), "np.logspace in float64"),
    (lambda X: np.geomspace(X[0, 0] ** 2 + 1.0, 2.0, num=X[0, 0]), "num must be a constant"),
])
def test_arguments_without_a_derivative_are_refused_by_name(call, message):
    with pytest.raises(TypeError, match=message):
        kronvec.jacobian(call)(X34)


@pytest.mark.parametrize("call, message", [
    (lambda X: np.diff(X, n=-1), "non-negative"),
    (lambda X: np.gradient(X[0], edge_order=3), "edge_order"),
    (lambda X: np.gradient(X[:, :2], axis=1, edge_order=2), "too small"),
    (lambda X: np.gradient(X, np.arange(2.0), axis=0), "must match the length"),
])
def test_bad_arguments_get_numpys_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(X34)  # NumPy's own error …
    with pytest.raises(ValueError, match=message):
        kronvec.jacobian(call)(X34)  # … and kronvec's, the same


@pytest.mark.parametrize("call, message", [
    (lambda X: np.geomspace(X[0, 0] * 0.0, 1.0, 4), "cannot include zero"),
    (lambda X: np.geomspace(X[0, 0] ** 2 + 1.0, -1.0, 4), "opposite signs"),
    (lambda X: np.geomspace(X[0, 0] ** 2 + 1.0, 2.0, -1), "must be non-negative"),
])
def test_geomspace_refuses_what_has_no_value(call, message):
    with pytest.raises(ValueError, match=f"np.geomspace: .*{message}"):
        kronvec.jacobian(call)(X34)


def test_unwrap_adds_numpys_corrections_so_its_jacobian_is_the_identity():
    phases = np.array([[0.0, 3.0, 6.5, -0.2, -0.0], [-0.0, -3.4, 2.9, 9.1, 3.0]])
    for kwargs in ({}, {"axis": 0}, {"period": 4.0, "discont": 2.5}):
        unwrapped, tangent = kronvec.jvp(lambda p: np.unwrap(p, **kwargs), (phases,), (np.ones_like(phases),))
        expected = np.unwrap(phases, **kwargs)
        assert not np.array_equal(expected, phases)  # (the corrections are not all zero)
        np.testing.assert_array_equal(unwrapped, expected)
        np.testing.assert_array_equal(np.signbit(unwrapped), np.signbit(expected))  # (−0.0 kept)
        np.testing.assert_array_equal(tangent, np.ones_like(phases))
    J = kronvec.jacobian(lambda p: np.unwrap(p, axis=0))(phases)
    assert type(J).__name__ == "Identity"


def test_unwrap_refuses_a_traced_period_and_a_scalar():
    with pytest.raises(TypeError, match="np.unwrap in its array only; period must be a constant"):
        kronvec.jacobian(lambda X: np.unwrap(X, period=X[0, 0] ** 2 + 1.0))(X34)
    with pytest.raises(ValueError, match="at least one dimensional"):
        kronvec.jacobian(lambda X: np.unwrap(X[0, 0]))(X34)


def test_geomspace_pins_its_ends_exactly():
    # NumPy puts start (and stop) back: 10^log10(x) need not be x, and the derivative there is 1
    start, stop = 3.7, 11.3
    J = kronvec.jacobian(lambda v: np.geomspace(v[0], v[1], 5))(np.array([start, stop])).toarray()
    np.testing.assert_array_equal(J[[0, -1]], [[1.0, 0.0], [0.0, 1.0]])
    samples = kronvec.vjp(lambda v: np.geomspace(v[0], v[1], 5), np.array([start, stop]))[0]
    assert samples[0] == start and samples[-1] == stop


@pytest.mark.parametrize("function", ["linspace", "logspace", "geomspace"])
@pytest.mark.parametrize("stop", [0.9, np.float32(0.9), np.array([0.5, 0.9], dtype=np.float32),
                                  np.array([0.5, 0.9])], ids=["python float", "float32", "float32 array",
                                                             "float64 array"])
def test_sample_ranges_have_numpys_type(function, stop):
    # linspace and logspace sample in the endpoints' type (a Python float weak: float32 with a
    # float32 start), geomspace in float64 at least; they were float64 always, geomspace too
    start = np.float32(0.2)
    expected = getattr(np, function)(start, stop, 5)
    value, pullback = kronvec.vjp(lambda a: getattr(np, function)(a, stop, 5), start)
    assert pullback(np.ones(value.shape, value.dtype))[0].dtype == np.float32  # (the gradient: start's type)
    assert value.dtype == expected.dtype
    np.testing.assert_allclose(value, expected, rtol=1e-6 if expected.dtype == np.float32 else 1e-13)


def test_inputs_are_not_modified():
    X, x = X34.copy(), np.array([0.0, 0.5, 1.7, 2.0])
    kronvec.grad(lambda X: np.sum(np.trapezoid(np.diff(X, append=X[:, :1]), x=np.linspace(0, 1, 4))))(X)
    np.testing.assert_array_equal(X, X34)
    np.testing.assert_array_equal(x, [0.0, 0.5, 1.7, 2.0])


@pytest.mark.parametrize("f", [
    lambda X: np.diff(X, axis=0),
    lambda X: np.gradient(X, 0.1, axis=1, edge_order=2),
    lambda X: np.trapezoid(X, dx=0.5, axis=0),
], ids=["diff", "gradient", "trapezoid"])
def test_jacobians_stay_structured_at_scale(f):
    n = 1000
    X = np.random.default_rng(3).standard_normal((n, n))
    J, peak = jacobian_and_peak_memory(f, X)
    assert J.shape == (np.size(f(X)), n * n)
    assert not isinstance(J, Dense)
    assert peak < 40 * 8 * n * n, f"peak {peak / 1e6:.0f} MB for an input of {8 * n * n / 1e6:.0f} MB"
    np.testing.assert_allclose(J.matvec(vec(X)), vec(f(X)), rtol=1e-12, atol=1e-12)  # linear: J X = f(X)


@pytest.mark.parametrize("f", [
    lambda z: np.ediff1d(z, to_begin=0.5), lambda z: np.ediff1d(z, to_end=[0.5]),
    lambda z: np.ediff1d(z, to_begin=np.float64(0.5)), lambda z: np.ediff1d(z, to_begin=z[:2] * np.float64(2.0)),
    lambda z: np.gradient(z, np.array([0.0, 1.0, 3.0, 3.5])), lambda z: np.gradient(z, np.float64(2.0)),
    lambda z: np.gradient(z, np.array([0.0, 1.0, 3.0, 3.5]), edge_order=2),
], ids=["ediff1d to_begin", "ediff1d to_end", "ediff1d float64 to_begin", "ediff1d traced float64 to_begin",
        "gradient coordinates", "gradient float64 spacing", "gradient coordinates, edge order 2"])
def test_float32_differences_stay_float32_as_numpys(f):
    # found by a sweep: float64 ends and spacings made kronvec's result float64 (NumPy writes into
    # an array of the input's type)
    x = np.array([0.3, 1.7, 2.2, 3.1], dtype=np.float32)
    value, tangent = kronvec.jvp(f, (x,), (x,))
    assert value.dtype == f(x).dtype == np.float32
    np.testing.assert_array_equal(value, f(x))


@pytest.mark.parametrize("axis", [(0, 0), (0, 2), (0, 1), [0]])
def test_diff_along_a_tuple_is_numpys_type_error(axis):
    # kronvec took the first axis of (0, 1), or raised ValueError/AxisError
    with pytest.raises(TypeError, match="axis must be an integer"):
        kronvec.jacobian(lambda z: np.diff(z, axis=axis))(np.ones((2, 3)))
