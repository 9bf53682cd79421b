"""kronvec.scipy.integrate.odeint: SciPy's values, derivatives in y0, t and args
against closed forms and central differences, the front door's refusals.

The registry sweep (tests/test_registry.py) checks the operation itself at every
order; these tests check the front door as users call it (SciPy's signature,
tfirst, matrix parameters, a scalar y0) and the closed forms of linear systems.
Tolerances: the solves use rtol = atol = 1e-12, so the solution (and both
derivative rules, which integrate other systems to the same tolerance) carry
errors of about 1e-11; central differences with h = 1e-6 add O(1e-11/1e-6).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

import kronvec
from kronvec.scipy.integrate import odeint

from _helpers import assert_scaled_close, central_difference_jacobian

TIGHT = dict(rtol=1e-12, atol=1e-12)
FD_RTOL = 1e-6  # (differences of a solution computed to 1e-12, with h = 1e-6: ~1e-6 at worst)
CLOSED_RTOL = 1e-8  # (a derivative integrated to 1e-12 against an exact formula)


def _pendulum(y, t, damping, drive):
    # a nonlinear system with a time-dependent forcing: every partial is nonzero
    return np.stack([y[1], -np.sin(y[0]) - damping * y[1] + drive * np.cos(t)])


def test_plain_calls_are_scipy_itself():
    t = np.linspace(0.0, 1.0, 5)
    y0 = np.array([0.3, -0.2])
    expected = scipy.integrate.odeint(_pendulum, y0, t, args=(0.1, 0.5))
    assert np.array_equal(odeint(_pendulum, y0, t, args=(0.1, 0.5)), expected)
    full = odeint(_pendulum, y0, t, args=(0.1, 0.5), full_output=True)
    assert isinstance(full, tuple) and np.array_equal(full[0], expected)


def test_the_value_under_tracing_is_scipys():
    t = np.linspace(0.0, 1.0, 4)
    y0 = np.array([0.3, -0.2])
    expected = scipy.integrate.odeint(_pendulum, y0, t, args=(0.1, 0.5), **TIGHT)
    value, _ = kronvec.vjp(lambda y: odeint(_pendulum, y, t, args=(0.1, 0.5), **TIGHT), y0)
    np.testing.assert_array_equal(value, expected)


def test_linear_system_against_the_matrix_exponential():
    # y' = A y: Y[i] = e^{A tᵢ} y0, so D_{y0} Y[i] = e^{A tᵢ} and ∂Y[i]/∂tᵢ = A Y[i]
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 3)) * 0.5
    y0 = rng.standard_normal(3)
    t = np.array([0.0, 0.4, 1.0])
    linear = lambda y, t, A: A @ y
    J = kronvec.jacobian(lambda y: odeint(linear, y, t, args=(A,), **TIGHT))(y0).toarray()
    expected = np.concatenate([scipy.linalg.expm(A * s)[None] for s in t])  # (T, n, n)
    assert_scaled_close(J, np.reshape(expected, (9, 3), order="F"), CLOSED_RTOL, "D_y0 vs expm")
    Jt = kronvec.jacobian(lambda s: odeint(linear, y0, s, args=(A,), **TIGHT))(t).toarray()
    Y = np.stack([scipy.linalg.expm(A * s) @ y0 for s in t])
    expected_t = np.zeros((3, 3, 3))
    for i in range(1, 3):
        expected_t[i, :, i] = A @ Y[i]
        expected_t[i, :, 0] = -scipy.linalg.expm(A * t[i]) @ (A @ y0)
    assert_scaled_close(Jt, np.reshape(expected_t, (9, 3), order="F"), CLOSED_RTOL, "D_t vs closed form")


@pytest.mark.parametrize("position", [0, 1, 2, 3])
def test_gradients_in_every_argument_match_central_differences(position):
    t = np.array([0.0, 0.3, 0.8])
    point = [np.array([0.4, -0.3]), t, np.array(0.2), np.array([0.5])]
    W = np.random.default_rng(1).standard_normal((3, 2))

    def loss(*args):
        y0, times, damping, drive = args
        return np.sum(W * odeint(_pendulum, y0, times, args=(damping, drive[0]), **TIGHT))

    def of(x):
        call = list(point)
        call[position] = x
        return loss(*call)

    G = kronvec.grad(of)(point[position])
    fd = central_difference_jacobian(lambda x: np.asarray(of(x)), (np.asarray(point[position], dtype=float),))[0]
    assert_scaled_close(kronvec.vec(G), fd, FD_RTOL, f"grad in argument {position}")
    # reverse (adjoint) and forward (variational) rules agree to the solver's tolerance
    J = kronvec.jacobian(of)(point[position]).toarray()
    assert_scaled_close(J.ravel(), kronvec.vec(G), CLOSED_RTOL, "jacobian vs grad")


def test_hessian_in_the_parameters_matches_differences_of_the_gradient():
    t = np.array([0.0, 0.5])
    y0 = np.array([0.4, -0.3])

    def loss(theta):
        return np.sum(odeint(_pendulum, y0, t, args=(theta[0], theta[1]), **TIGHT)[-1] ** 2)

    theta = np.array([0.2, 0.7])
    H = kronvec.hessian(loss)(theta).toarray()
    H_fd = central_difference_jacobian(kronvec.grad(loss), (theta,))
    assert_scaled_close(H, H_fd, FD_RTOL, "hessian")
    assert_scaled_close(H, H.T, 1e-9, "hessian symmetry")


def test_tfirst_and_a_scalar_state_as_scipy_takes_them():
    decay = lambda t, y, k: -k * y  # tfirst=True: func(t, y, ...)
    t = np.array([0.0, 1.0, 2.0])
    value = odeint(decay, 1.5, t, args=(0.7,), tfirst=True)
    assert value.shape == (3, 1)  # SciPy's shape for a scalar y0
    g = kronvec.grad(lambda k: odeint(decay, 1.5, t, args=(k,), tfirst=True, **TIGHT)[2, 0])(0.7)
    assert abs(g - (-2.0 * 1.5 * np.exp(-1.4))) < 1e-9  # d/dk 1.5 e^{-2k}
    gy = kronvec.grad(lambda y: odeint(decay, y, t, args=(0.7,), tfirst=True, **TIGHT)[1, 0])(1.5)
    assert np.shape(gy) == () and abs(gy - np.exp(-0.7)) < 1e-9


def test_a_tuple_of_parameters_with_one_traced_and_one_plain():
    t = np.array([0.0, 0.6])
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    linear = lambda y, t, A, b: A @ y + b
    b = np.array([0.1, -0.2])
    G = kronvec.grad(lambda A: np.sum(odeint(linear, np.ones(2), t, args=(A, b), **TIGHT)[-1]))(W * 0.3)
    fd = central_difference_jacobian(
        lambda A: np.asarray(np.sum(odeint(linear, np.ones(2), t, args=(A, b), **TIGHT)[-1])), (W * 0.3,))[0]
    assert G.shape == (2, 2)
    assert_scaled_close(kronvec.vec(G), fd, FD_RTOL, "grad in a matrix parameter")


def test_one_output_time_is_the_initial_state():
    f = lambda y0: odeint(_pendulum, y0, np.array([0.25]), args=(0.1, 0.5))
    J = kronvec.jacobian(f)(np.array([0.4, -0.3])).toarray()
    np.testing.assert_array_equal(J, np.eye(2))
    Jt = kronvec.jacobian(lambda t: odeint(_pendulum, np.array([0.4, -0.3]), t, args=(0.1, 0.5)))(np.array([0.25]))
    np.testing.assert_array_equal(Jt.toarray(), np.zeros((2, 1)))


def test_inputs_are_not_modified():
    y0, t, theta = np.array([0.4, -0.3]), np.array([0.0, 0.5]), np.array([0.2, 0.7])
    copies = [y0.copy(), t.copy(), theta.copy()]
    kronvec.grad(lambda y, s, p: np.sum(odeint(_pendulum, y, s, args=(p[0], p[1]))), argnums=(0, 1, 2))(y0, t, theta)
    for before, after in zip(copies, (y0, t, theta)):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("option", [dict(Dfun=lambda y, t, *a: np.eye(2)), dict(full_output=1), dict(tcrit=[0.5]),
                                    dict(ml=1), dict(printmessg=1)])
def test_options_that_change_the_result_or_the_jacobian_are_refused_by_name(option):
    name = next(iter(option))
    with pytest.raises(TypeError, match=f"scipy.integrate.odeint with {name}="):
        kronvec.grad(lambda y: np.sum(odeint(_pendulum, y, np.array([0.0, 1.0]), args=(0.1, 0.5), **option)))(
            np.array([0.4, -0.3]))


def test_a_non_numeric_extra_argument_is_refused_when_traced():
    f = lambda y, t, label: -y
    with pytest.raises(TypeError, match=r"args\[0\]"):
        kronvec.grad(lambda y: np.sum(odeint(f, y, np.array([0.0, 1.0]), args=("decay",))))(np.array([1.0]))


def test_scipys_own_odeint_on_a_traced_value_names_the_counterpart():
    with pytest.raises(TypeError, match="kronvec.scipy.integrate.odeint"):
        kronvec.grad(lambda y: np.sum(scipy.integrate.odeint(lambda y, t: -y, y, np.array([0.0, 1.0]))))(
            np.array([1.0]))
