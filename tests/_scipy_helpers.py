"""Checks shared by the kronvec.scipy tests: a function's derivatives in every
mode against central finite differences.

Tolerance as in tests/test_registry.py: central differences with h = 1e-6·max(1, |x|)
err by ~1e-10 relative for these smooth functions at O(1) points; FD_RTOL = 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec
from kronvec._vec import vec

from _helpers import assert_scaled_close, central_difference_jacobian

FD_RTOL = 1e-6


def _weights(shape, seed):
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)


def check_derivatives(f, args, argnum, second=True, what=""):
    """The derivatives of ``f(*args)`` in ``args[argnum]`` (the others fixed) against finite
    differences: the Jacobian (structured, and as jvp and vjp), the gradient of a
    nonlinear scalarization and its Hessian."""
    args = [np.asarray(a, dtype=np.float64) if np.asarray(a).dtype.kind in "iuf" else a for a in args]
    X = args[argnum]

    def g(x):
        call = list(args)
        call[argnum] = x
        return f(*call)

    def plain(x):
        return np.asarray(g(np.array(x, dtype=np.float64)), dtype=np.float64)

    label = f"{what} in argument {argnum}"
    J_fd = central_difference_jacobian(plain, (X,))
    assert_scaled_close(kronvec.jacobian(g)(X).toarray(), J_fd, FD_RTOL, f"{label}: jacobian")
    V = _weights(np.shape(X), 2)
    _, tangent = kronvec.jvp(g, (X,), (V,))
    assert_scaled_close(np.atleast_1d(vec(np.asarray(tangent))), J_fd @ np.atleast_1d(vec(V)), FD_RTOL, f"{label}: jvp")
    out, pullback = kronvec.vjp(g, X)
    U = _weights(np.shape(out), 3)
    (cotangent,) = pullback(U)
    assert_scaled_close(np.atleast_1d(vec(np.asarray(cotangent))), J_fd.T @ np.atleast_1d(vec(U)), FD_RTOL,
                        f"{label}: vjp")
    W = _weights(np.shape(out), 1)

    def s(x):  # a nonlinear outer map: second derivatives see the first-order terms too
        return np.sum(W * np.sin(g(x)))

    gradient = kronvec.grad(s)(X)
    assert_scaled_close(np.atleast_1d(vec(np.asarray(gradient))), central_difference_jacobian(s, (X,))[0], FD_RTOL,
                        f"{label}: grad")
    if second:
        H = kronvec.hessian(s)(X).toarray()
        assert_scaled_close(H, central_difference_jacobian(kronvec.grad(s), (X,)), FD_RTOL, f"{label}: hessian")


def check_counterpart_named(name, call):
    """A real ``scipy.linalg.<name>`` reached by a traced value raises a TypeError naming it
    and its ``kronvec.scipy.linalg`` counterpart."""
    with pytest.raises(TypeError) as error:
        kronvec.grad(lambda x: np.sum(call(x)))(np.array([[2.0, 0.5], [0.5, 3.0]]))
    message = str(error.value)
    assert f"cannot differentiate scipy.linalg.{name}:" in message, message
    assert f"Use kronvec.scipy.linalg.{name} instead (import kronvec.scipy.linalg)" in message, message
