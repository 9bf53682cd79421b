"""Transformations compose (issue 11): every nesting, deep graphs, custom rules.

* Any transformation inside any other — jvp in grad, jvp of jvp, jacobian of
  a function calling jvp, grad of a function using a Jacobian (its matvec or
  toarray), a structured operator applied to traced values — against central
  finite differences, up to third order.
* Recordings of 10⁴ chained operations in every mode, without RecursionError.
* Custom rules (``kronvec.primitive``) to every order their VJP allows.

Tolerances: as in tests/test_registry.py, FD_RTOL = 1e-6 against central
differences of O(1), well-conditioned functions (error ≈ 1e-10).
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec

from _helpers import assert_scaled_close, central_difference_jacobian

FD_RTOL = 1e-6
RNG = np.random.default_rng(4)
X = RNG.standard_normal((3, 3)) + 3.0 * np.eye(3)
V = RNG.standard_normal((3, 3))
U = RNG.standard_normal((3, 3))
W = RNG.standard_normal((3, 3))
C = RNG.standard_normal((3, 3))


def _close(actual, expected, rtol=FD_RTOL, what=""):
    assert_scaled_close(actual, expected, rtol, what)


def _fd_grad(s, X):
    return kronvec.unvec(central_difference_jacobian(s, (X,))[0], X.shape)


def g(X):
    """A matrix function with nonzero derivatives of every order."""
    return np.linalg.inv(X) @ C + np.tanh(X) * X


def f(X):
    return np.linalg.slogdet(X)[1] + np.sum(W * g(X))


# ------------------------------------------------------------ second order
def test_jvp_inside_grad():
    s = lambda X: np.sum(U * kronvec.jvp(g, (X,), (V,))[1])  # noqa: E731
    _close(kronvec.grad(s)(X), _fd_grad(s, X))


def test_jvp_of_jvp_forward_over_forward():
    inner = lambda X: kronvec.jvp(g, (X,), (V,))[1]  # noqa: E731
    _, second = kronvec.jvp(inner, (X,), (U,))
    expected = central_difference_jacobian(inner, (X,)) @ kronvec.vec(U)
    _close(kronvec.vec(second), expected)


def test_jacobian_of_a_function_calling_jvp():
    inner = lambda X: kronvec.jvp(g, (X,), (V,))[1]  # noqa: E731
    _close(kronvec.jacobian(inner)(X).toarray(), central_difference_jacobian(inner, (X,)))


def test_grad_of_a_function_using_a_jacobian_inside():
    W9 = np.random.default_rng(9).standard_normal((9, 9))
    s = lambda X: np.sum(W9 * kronvec.jacobian(g)(X).toarray())  # noqa: E731
    _close(kronvec.grad(s)(X), _fd_grad(s, X))
    t = lambda X: np.sum(kronvec.jacobian(g)(X).matvec(kronvec.vec(V)) ** 2)  # noqa: E731
    _close(kronvec.grad(t)(X), _fd_grad(t, X))
    r = lambda X: np.sum(kronvec.jacobian(g)(X).T.matvec(kronvec.vec(V)) * kronvec.vec(U))  # noqa: E731
    _close(kronvec.grad(r)(X), _fd_grad(r, X))


def test_vjp_inside_jacobian():
    inner = lambda X: kronvec.vjp(g, X)[1](V)[0]  # noqa: E731
    _close(kronvec.jacobian(inner)(X).toarray(), central_difference_jacobian(inner, (X,)))


def test_a_structured_operator_applied_to_traced_values():
    J = kronvec.jacobian(np.linalg.inv)(X)  # a plain Kron
    s = lambda x: np.sum(J.matvec(x) ** 2) + np.sum(J.rmatvec(x) * x)  # noqa: E731
    x = kronvec.vec(V).copy()
    _close(kronvec.grad(s)(x), central_difference_jacobian(s, (x,))[0])
    h = lambda x: J @ np.tanh(x)  # noqa: E731
    _close(kronvec.jacobian(h)(x).toarray(), central_difference_jacobian(h, (x,)))
    r = lambda x: np.sum(np.tanh(x) @ J)  # noqa: E731
    _close(kronvec.grad(r)(x), central_difference_jacobian(r, (x,))[0])


def test_forward_mode_inside_compiled_transformations():
    # A jvp (and an hvp, which is a jvp of a gradient) inside a compile=True recording
    # read nothing of the values: it once read the output's numbers for its dtype and so
    # refused the compilation. Replays at new points equal the recording transformation.
    rng = np.random.default_rng(11)
    cases = [
        (lambda c: kronvec.grad(lambda X: np.sum(U * kronvec.jvp(g, (X,), (V,))[1]), compile=c),
         lambda t, X: t(X)),
        (lambda c: kronvec.jacobian(lambda X: kronvec.jvp(g, (X,), (V,))[1], compile=c),
         lambda t, X: t(X).toarray()),
        (lambda c: kronvec.hvp(lambda X: np.sum(kronvec.jvp(g, (X,), (V,))[1] ** 2), compile=c),
         lambda t, X: t(X, U)),
        (lambda c: kronvec.grad(lambda X: np.sum(W * kronvec.hvp(f)(X, V)), compile=c),
         lambda t, X: t(X)),
    ]
    for make, call in cases:
        compiled, plain = make(True), make(False)
        for _ in range(3):
            Y = X + 0.3 * rng.standard_normal((3, 3))
            np.testing.assert_array_equal(call(compiled, Y), call(plain, Y))
    s = lambda X: np.sum(U * kronvec.jvp(g, (X,), (V,))[1])  # noqa: E731
    _close(kronvec.grad(s, compile=True)(X), _fd_grad(s, X))


# ------------------------------------------------------------- third order
def test_third_order_jacobian_of_an_hvp():
    inner = lambda X: kronvec.hvp(f)(X, V)  # noqa: E731
    _close(kronvec.jacobian(inner)(X).toarray(), central_difference_jacobian(inner, (X,)))


def test_third_order_jacobian_of_a_hessian_applied():
    inner = lambda X: kronvec.hessian(f)(X).matvec(kronvec.vec(V))  # noqa: E731
    _close(kronvec.jacobian(inner)(X).toarray(), central_difference_jacobian(inner, (X,)))


def test_third_order_hessian_of_a_directional_derivative():
    s = lambda X: kronvec.jvp(f, (X,), (V,))[1]  # noqa: E731
    expected = central_difference_jacobian(kronvec.grad(s), (X,))
    _close(kronvec.hessian(s)(X).toarray(), expected)


def test_third_order_forward_over_forward_over_reverse():
    gradient = kronvec.grad(f)
    second = lambda X: kronvec.jvp(gradient, (X,), (V,))[1]  # noqa: E731
    _, third = kronvec.jvp(second, (X,), (U,))
    _close(kronvec.vec(third), central_difference_jacobian(second, (X,)) @ kronvec.vec(U))


# ------------------------------------------------------------------- deep
DEEP = 10_000


def _deep(x):
    for _ in range(DEEP):
        x = 0.999 * x + 0.001 * np.sin(x)
    return x


def _deep_reference(x):
    """The chain's value and Jacobian diagonal by hand (it is elementwise)."""
    slope = np.ones_like(x)
    for _ in range(DEEP):
        slope = slope * (0.999 + 0.001 * np.cos(x))
        x = 0.999 * x + 0.001 * np.sin(x)
    return x, slope


def test_ten_thousand_chained_operations_in_every_mode():
    x0 = np.array([0.3, -0.7])
    value, slope = _deep_reference(x0)
    J = kronvec.jacobian(_deep)(x0)
    _close(J.toarray(), np.diag(slope), 1e-10)
    _close(J.matvec(np.ones(2)), slope, 1e-10)
    _close(J.rmatvec(np.ones(2)), slope, 1e-10)
    assert isinstance(repr(J), str) and isinstance(J.formula(), str)
    _close(J.tosparse().toarray(), np.diag(slope), 1e-10)
    total = lambda x: np.sum(_deep(x))  # noqa: E731
    v, G = kronvec.value_and_grad(total)(x0)
    _close(v, np.sum(value), 1e-12)
    _close(G, slope, 1e-10)
    _close(kronvec.jvp(_deep, (x0,), (np.ones(2),))[1], slope, 1e-10)
    _close(kronvec.vjp(_deep, x0)[1](np.ones(2))[0], slope, 1e-10)
    H = kronvec.hessian(total)(x0)
    step = 1e-5
    H_fd = np.column_stack([(kronvec.grad(total)(x0 + step * e) - kronvec.grad(total)(x0 - step * e)) / (2 * step)
                            for e in np.eye(2)])
    _close(H.toarray(), H_fd, 1e-6)
    _close(kronvec.hvp(total)(x0, np.ones(2)), H_fd @ np.ones(2), 1e-6)


def test_deep_matrix_chain_structured_jacobian_and_hessian_are_stable():
    # y ← y y/‖y‖ + X: the Jacobian's rank-one norm terms must not be collapsed into
    # rows by reverse sweeps over the chain (that cancelled catastrophically: 1e2 off
    # at depth 80); the structured results agree with forward-mode products.
    def F(X):
        y = X
        for _ in range(80):
            y = y @ y / np.linalg.norm(y) + X
        return y

    X0 = np.random.default_rng(0).standard_normal((3, 3)) * 0.3
    J = kronvec.jacobian(F)(X0).toarray()
    forward = np.column_stack([kronvec.vec(kronvec.jvp(F, (X0,), (kronvec.unvec(e, (3, 3)),))[1]) for e in np.eye(9)])
    _close(J, forward, 1e-9)
    s = lambda X: np.sum(F(X))  # noqa: E731
    H = kronvec.hessian(s)(X0)
    Hd = H.toarray()
    by_hvp = np.column_stack([kronvec.vec(kronvec.hvp(s)(X0, kronvec.unvec(e, (3, 3)))) for e in np.eye(9)])
    _close(Hd, by_hvp, 1e-9)
    _close(Hd, Hd.T, 1e-9)
    _close(np.column_stack([H.matvec(e) for e in np.eye(9)]), by_hvp, 1e-9)


# ------------------------------------------------------------- custom rules
@kronvec.primitive
def logsumexp(x):
    top = np.max(x)
    return top + np.log(np.sum(np.exp(x - top)))


logsumexp.defvjp(lambda g, ans, x: g * np.exp(x - ans))


@kronvec.primitive
def banded_solve(d, b):
    """x with (diag(d) + the all-ones super-diagonal) x = b: a user's own solver."""
    A = np.diag(d) + np.diag(np.ones(len(d) - 1), 1)
    return np.linalg.solve(A, b)


def _banded(d):
    return np.diag(d) + np.diag(np.ones(len(d) - 1), 1)


def _banded_vjp_d(g, ans, d, b):
    # d(A⁻¹b) = −A⁻¹ dA A⁻¹b with dA = diag(dd): d̄ = −(A⁻ᵀ ḡ) ∘ x
    return -banded_solve_transposed(d, g) * ans


def _banded_vjp_b(g, ans, d, b):
    return banded_solve_transposed(d, g)


@kronvec.primitive
def banded_solve_transposed(d, b):
    return np.linalg.solve(_banded(d).T, b)


banded_solve.defvjp(_banded_vjp_d, _banded_vjp_b)
banded_solve_transposed.defvjp(
    lambda g, ans, d, b: -banded_solve(d, g) * ans,
    lambda g, ans, d, b: banded_solve(d, g))


def test_custom_rule_first_second_and_third_order():
    x = np.array([0.2, -1.0, 0.5])
    s = lambda x: 3.0 * logsumexp(x * x)  # noqa: E731
    _close(kronvec.grad(s)(x), central_difference_jacobian(s, (x,))[0], 1e-8)
    H = kronvec.hessian(s)(x).toarray()
    _close(H, central_difference_jacobian(kronvec.grad(s), (x,)))
    third = kronvec.grad(lambda x: np.sum(kronvec.hvp(s)(x, x)))(x)
    _close(third, central_difference_jacobian(lambda x: np.sum(kronvec.hvp(s)(x, x)), (x,))[0])
    J = kronvec.jacobian(lambda x: logsumexp(x) * x)(x)  # no structured Jacobian given: built from the VJP
    _close(J.toarray(), central_difference_jacobian(lambda x: logsumexp(x) * x, (x,)))
    _close(J.T.toarray(), J.toarray().T, 1e-12)


def test_custom_rule_with_two_arguments_and_a_structured_jacobian():
    d, b = np.array([3.0, 2.5, 4.0]), np.array([1.0, -2.0, 0.5])
    for argnum in (0, 1):
        F = lambda d, b: banded_solve(d, b) ** 2  # noqa: E731
        J = kronvec.jacobian(F, argnums=argnum)(d, b)
        _close(J.toarray(), central_difference_jacobian(F, (d, b), argnum))
        s = lambda d, b: np.sum(F(d, b))  # noqa: E731
        H = kronvec.hessian(s, argnums=argnum)(d, b).toarray()
        _close(H, central_difference_jacobian(kronvec.grad(s, argnums=argnum), (d, b), argnum))
    banded_solve.defjacobian(None, lambda ans, d, b: kronvec.Dense(np.linalg.inv(_banded(d))))
    try:
        J = kronvec.jacobian(lambda b: banded_solve(d, b))(b)
        assert isinstance(J, kronvec.Dense)
        _close(J.toarray(), np.linalg.inv(_banded(d)), 1e-14)
    finally:
        del banded_solve.jacobians[1]


def test_custom_rule_without_a_vjp_is_a_clear_error():
    opaque = kronvec.primitive(lambda x: x * 2.0, name="opaque")
    with pytest.raises(TypeError, match="cannot differentiate opaque .*no VJP"):
        kronvec.grad(lambda x: np.sum(opaque(x)))(np.ones(2))
    # also a NotImplementedError, as autograd (its test_logic) and JAX raise, in both modes
    with pytest.raises(NotImplementedError, match="cannot differentiate opaque .*no VJP"):
        kronvec.grad(lambda x: np.sum(opaque(x)))(np.ones(2))
    with pytest.raises(NotImplementedError, match="cannot differentiate opaque .*no VJP"):
        kronvec.jvp(opaque, (np.ones(2),), (np.ones(2),))
    assert np.array_equal(opaque(np.ones(2)), [2.0, 2.0])  # plain call: the function itself


def test_a_custom_rule_returning_a_wrong_cotangent_is_a_clear_error():
    # A VJP's result was reshaped to its argument's shape, so a (3, 1) or transposed
    # cotangent gave a silently wrong gradient, a VJP ignoring g gave a Jacobian and a jvp
    # of 0 (its transpose), a wrong size crashed in an internal reshape, and a complex
    # cotangent was cast to real (0 here) with only a ComplexWarning.
    x = np.array([0.2, -1.0, 0.5])
    bad = {
        "size": (lambda g, ans, x: np.ones(5), ValueError, r"shape \(5,\).*shaped like its argument, \(3,\)"),
        "shape": (lambda g, ans, x: g.reshape(3, 1), ValueError, r"shape \(3, 1\)"),
        "complex": (lambda g, ans, x: g * 1j, TypeError, "complex"),
    }
    for what, (vjp, error, message) in bad.items():
        op = kronvec.primitive(np.sin, name=f"sin_{what}").defvjp(vjp)
        for transformation in (
            lambda: kronvec.grad(lambda x: np.sum(op(x)))(x),
            lambda: kronvec.jacobian(op)(x).toarray(),
            lambda: kronvec.jvp(op, (x,), (x,)),
            lambda: kronvec.hessian(lambda x: np.sum(op(x) ** 2))(x).toarray(),
            lambda: kronvec.grad(lambda x: np.sum(op(x)), compile=True)(x),
        ):
            # (traced again for a Hessian, g * 1j is already refused as a complex constant)
            pattern = "complex" if what == "complex" else f"VJP of sin_{what} for its argument 0.*{message}"
            with pytest.raises(error, match=pattern):
                transformation()
    with pytest.raises(TypeError, match="VJP of sin_complex for its argument 0 is complex"):
        kronvec.grad(lambda x: np.sum(kronvec.primitive(np.sin, name="sin_complex").defvjp(
            lambda g, ans, x: g * 1j)(x)))(x)
    wrong = kronvec.primitive(np.sin, name="sin_jacobian").defvjp(lambda g, ans, x: g * np.cos(x))
    wrong.defjacobian(lambda ans, x: kronvec.Diag(np.ones(5)))
    with pytest.raises(ValueError, match=r"Jacobian of sin_jacobian .*shape \(3, 3\).*Diag of shape \(5, 5\)"):
        kronvec.jacobian(wrong)(x)
    pair = kronvec.primitive(lambda x: (np.sin(x), np.cos(x)), name="pair").defvjp(lambda g, ans, x: g)
    with pytest.raises(TypeError, match="pair returned a tuple; a primitive returns one array"):
        kronvec.grad(lambda x: np.sum(pair(x)[0]))(x)


def test_an_operator_built_from_traced_values_is_a_clear_error():
    # Kron(X, C), Dense(X), Diag(x) of a traced X inside f failed deep inside with
    # "got dtype object"; the product written with NumPy is differentiated.
    v = kronvec.vec(V).copy()
    for build in (lambda X: kronvec.Kron(X, C), lambda X: kronvec.Kron(C, X), lambda X: kronvec.Dense(X),
                  lambda X: kronvec.Diag(kronvec.vec(X)), lambda X: kronvec.as_operator(X)):
        for transformation in (kronvec.grad, lambda s: kronvec.grad(s, compile=True)):
            with pytest.raises(TypeError, match="is a traced value .*structured operators hold plain arrays"):
                transformation(lambda X: np.sum(build(X).rmatvec(v[:9] if build(X).shape[0] == 9 else v[:3])))(X)
    s = lambda X: np.sum((np.kron(X, C) @ v) ** 2)  # noqa: E731
    _close(kronvec.grad(s)(X), _fd_grad(s, X))


def test_a_compiled_transformation_closing_over_an_outer_traced_value():
    # The Siskind–Pearlmutter example with the inner derivative compiled: the inner f
    # closes over the outer x. Building a program from that recording failed with an
    # internal AssertionError (grad, value_and_grad) or "cannot differentiate
    # np.result_type" (hvp, jacobian); such a call is now recorded, not compiled.
    x0 = 3.0
    cases = [
        (lambda x: x * kronvec.grad(lambda y: x * y, compile=True)(2.0), 2 * x0),
        (lambda x: kronvec.value_and_grad(lambda y: x * y ** 2, compile=True)(2.0)[1], 4.0),
        (lambda x: np.sum(kronvec.hvp(lambda y: x * np.sum(y ** 3), compile=True)(np.ones(2), np.ones(2))), 12.0),
        (lambda x: np.sum(kronvec.jacobian(lambda y: x * y, compile=True)(np.ones(2)).toarray()), 2.0),
    ]
    for s, expected in cases:
        np.testing.assert_allclose(kronvec.grad(s)(x0), expected, rtol=1e-14)
        np.testing.assert_allclose(kronvec.grad(s, compile=True)(x0), expected, rtol=1e-14)
        np.testing.assert_allclose(kronvec.grad(s)(x0), central_difference_jacobian(s, (x0,))[0][0], rtol=FD_RTOL)


def test_a_compiled_transformation_cached_outside_then_closing_over_an_outer_traced_value():
    # The same, once the compiled function has a program for the signature (its first call
    # was outside): inside the outer grad the closure holds the outer traced x, and the
    # replay used the first call's closure as a constant — the outer gradient was 0, silently.
    box = [np.array([1.0, 2.0])]
    y0, V = np.array([1.0, -1.5]), np.array([0.5, 2.0])
    cases = [  # (compiled, its call, ∇ₓ Σ of the result at x with box[0] = x, that result by hand)
        (kronvec.grad(lambda y: np.sum(box[0] * y ** 2), compile=True), lambda c: c(y0), lambda x: 2 * y0,
         lambda x: 2 * x * y0),
        (kronvec.value_and_grad(lambda y: np.sum(box[0] * y ** 3), compile=True), lambda c: c(y0)[1],
         lambda x: 3 * y0 ** 2, lambda x: 3 * x * y0 ** 2),
        (kronvec.hvp(lambda y: np.sum(box[0] * y ** 3), compile=True), lambda c: c(y0, V), lambda x: 6 * y0 * V,
         lambda x: 6 * x * y0 * V),
        (kronvec.jacobian(lambda y: box[0] * np.sin(y), compile=True), lambda c: c(y0).matvec(V),
         lambda x: np.cos(y0) * V, lambda x: x * np.cos(y0) * V),
    ]
    x0 = np.array([3.0, 5.0])
    for compiled, call, expected, call_with in cases:
        call(compiled)  # records and caches the program, box[0] a plain array

        def s(x):
            box[0] = x
            try:
                return np.sum(call(compiled))
            finally:
                box[0] = np.array([1.0, 2.0])

        _close(kronvec.grad(s)(x0), expected(x0), rtol=1e-14)
        # (outside a transformation the replay keeps the first call's closure, as documented:
        # the differences are taken of the function written with the closure as an argument)
        _close(expected(x0), _fd_grad(lambda x: np.sum(call_with(x)), x0), what="closed form")
        assert len(compiled.cache) == 1  # and the program still serves calls outside


def test_a_custom_vjp_converting_its_cotangent_with_asarray_is_differentiated_again():
    # np.asarray(g) (or np.vectorize) of a traced g, in a VJP traced again for a Hessian,
    # is an object array of traced entries: taken for a constant, it gave a Hessian off
    # by O(1) (np.vectorize: an internal "setting an array element with a sequence").
    x = np.array([0.2, -1.0, 0.5])
    square = kronvec.primitive(lambda x: x ** 2, name="square_asarray")
    square.defvjp(lambda g, ans, x: np.asarray(g) * 2.0 * x)
    s = lambda x: np.sum(square(x) * x)  # noqa: E731  (= Σ x³)
    expected = np.diag(6.0 * x)
    _close(kronvec.hessian(s)(x).toarray(), expected, 1e-12)
    _close(kronvec.hvp(s)(x, x), expected @ x, 1e-12)
    _close(kronvec.hvp(s, compile=True)(x, x), expected @ x, 1e-12)
    _close(kronvec.hessian(s)(x).toarray(), central_difference_jacobian(kronvec.grad(s), (x,)))


def test_a_custom_jacobian_given_as_an_array_or_scipy_operator_is_wrapped():
    # An ndarray, sparse matrix or LinearOperator from defjacobian crashed inside the
    # operator algebra ("'numpy.ndarray' object has no attribute 'is_identity'").
    import scipy.sparse
    import scipy.sparse.linalg

    x = np.array([0.2, -1.0, 0.5])
    for given in (lambda ans, x: np.diag(np.cos(x)), lambda ans, x: scipy.sparse.diags(np.cos(x)),
                  lambda ans, x: scipy.sparse.linalg.aslinearoperator(np.diag(np.cos(x)))):
        op = kronvec.primitive(np.sin, name="sin_given").defvjp(lambda g, ans, x: g * np.cos(x))
        op.defjacobian(given)
        _close(kronvec.jacobian(lambda x: 2.0 * op(x))(x).toarray(), 2.0 * np.diag(np.cos(x)), 1e-15)
        _close(kronvec.jvp(op, (x,), (x,))[1], np.cos(x) * x, 1e-15)
