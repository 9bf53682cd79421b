"""``np.array`` / ``np.asarray`` of traced values (issue 12; notes/derivatives.md §29).

NumPy does not dispatch ``np.array``: it asks each traced element for
``__array__``, which gives an object array of the element's entries (each a
recorded 0-d traced value).  The object array flows through NumPy's object
loops entry by entry and is lifted into one recorded value where it meets
kronvec.  What must never happen is a wrong number: a float array that lost
the dependence (a zero gradient), or a constant where a derivative belongs.

The sweep builds arrays from traced values in many shapes, nestings, with
constants and dtypes mixed in, then applies what users apply afterwards
(returning it, reductions, ``@``, ufuncs, indexing, linear algebra, joins with
traced arrays), and checks every combination: either its value and its
derivatives — structured Jacobian (and its dense form and adjoint), JVP, VJP,
gradient and Hessian — match central differences, or it raises TypeError or
ValueError.  The combinations that raise are listed (``RAISES``), so a change
either way is seen.

Tolerances: central differences with h = 1e-6 on these O(1), smooth
compositions err by ~1e-10 relative; FD_RTOL = 1e-6 as in tests/test_shape.py.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import kronvec
from kronvec._vec import vec

from _helpers import assert_scaled_close, central_difference_jacobian, dense_of

FD_RTOL = 1e-6
X6 = np.array([0.7, -0.4, 1.3, 0.9, -1.1, 0.5])


# ------------------------------------------------------------------ builders
# each takes the traced vector x (6 entries) and builds an array with np.array & co.
BUILDERS = {
    "scalars": lambda x: np.array([x[0] ** 2, x[1] * x[0]]),
    "scalars and a constant": lambda x: np.array([x[0], 2.0, x[1] * 3]),
    "2x2 of scalars and a constant": lambda x: np.array([[x[0], 2 * x[1]], [3.0, x[2]]]),
    "integer constants": lambda x: np.array([x[0], 1, 2]),
    "a tuple": lambda x: np.array((x[3], np.sin(x[1]))),
    "vectors": lambda x: np.array([x, 2 * x]),
    "asarray of slices": lambda x: np.asarray([x[:3], x[3:]]),
    "matrices": lambda x: np.asarray([x.reshape(2, 3), x.reshape(2, 3) ** 2]),
    "nested blocks": lambda x: np.array([[x[:3], x[3:]], [x[3:], x[:3] * x[3:]]]),
    "a vector and a constant row": lambda x: np.array([x[:3], np.ones(3)]),
    "scalars and a vector as rows": lambda x: np.array([[x[0], x[1], 4.0], x[3:]]),
    "a traced matrix itself": lambda x: np.array(x.reshape(3, 2)),
    "a 0-d value": lambda x: np.array(x[2]),
    "ndmin=2": lambda x: np.array(x[1:4], ndmin=2),
    "asanyarray": lambda x: np.asanyarray(x),
    "entries in reverse": lambda x: np.array([x[2], x[1], x[0]]),
    "a repeated entry": lambda x: np.array([x[0], x[0], x[5]]),
    "all entries of a matrix, in order": lambda x: (lambda X: np.array(
        [[X[0, 0], X[0, 1], X[0, 2]], [X[1, 0], X[1, 1], X[1, 2]]]))(x.reshape(2, 3)),
    "list(x)": lambda x: np.array(list(x)),
    "one entry": lambda x: np.array([x[4]]),
    "np.r_": lambda x: np.r_[x[:2], 1.0, x[4:]],
    "np.c_": lambda x: np.c_[x[:3], x[3:]],
    "np.append of a list": lambda x: np.append(x[:2], [x[3], 1.0]),
    "np.hstack with a list": lambda x: np.hstack([x[:2], [x[5]]]),
}

# builders whose object arrays hold plain numbers beside traced entries: NumPy's
# object loop of a math ufunc calls e.g. ``(2.0).sin()``, which does not exist
_MIXED = {"scalars and a constant", "2x2 of scalars and a constant", "integer constants",
          "a vector and a constant row", "scalars and a vector as rows", "np.r_"}


def _add_in_place(A, x):
    A += x[0] * x[1]  # an object array holds the recorded sum's entries; a traced one is rebound
    return A


def _first(A, k):
    return np.reshape(A, (-1,))[:k]


# -------------------------------------------------------------- what follows
USES = {
    "returned": lambda A, x: A,
    "np.sum": lambda A, x: np.sum(A),
    "np.mean along axis 0": lambda A, x: np.mean(A, axis=0),
    "times a traced scalar": lambda A, x: A * np.sum(x),
    "a traced scalar times it": lambda A, x: np.cos(x[1]) * A,
    "plus a constant": lambda A, x: A + 1.5,
    "@ a plain matrix": lambda A, x: np.reshape(A, (-1,)) @ np.linspace(-1.0, 1.0, 2 * np.size(A)).reshape(-1, 2),
    "@ the traced input": lambda A, x: _first(A, 2) @ x[:2] if np.size(A) >= 2 else A * x[0],
    "np.sin (object loop)": lambda A, x: np.sin(A),
    "np.exp of the transpose": lambda A, x: np.exp(np.transpose(A)),
    "squared": lambda A, x: A ** 2,
    "indexing": lambda A, x: np.reshape(A, (-1,))[::-1][:2],
    "np.concatenate with x": lambda A, x: np.concatenate([np.reshape(A, (-1,)), x]),
    "np.stack with a traced array": lambda A, x: np.stack([A, A * x[0]]),
    "np.linalg.norm": lambda A, x: np.linalg.norm(A),
    "np.maximum": lambda A, x: np.maximum(A, -0.2),
    "np.where": lambda A, x: np.where(A > 0.8, A, 0.0),
    "np.prod": lambda A, x: np.prod(A),
    "np.cumsum": lambda A, x: np.cumsum(A),
    "np.outer": lambda A, x: np.outer(A, x[:2]),
    "np.dot with x": lambda A, x: np.dot(_first(A, 2), x[3:5]) if np.size(A) >= 2 else A * x[3],
    "solve with a traced matrix": lambda A, x: np.linalg.solve(
        np.diag(x[:2] ** 2) + 2.0 * np.eye(2), _first(A, 2)) if np.size(A) >= 2 else A,
    "np.linalg.inv": lambda A, x: np.linalg.inv(np.reshape(_first(A, 4), (2, 2))) if np.size(A) >= 4 else A,
    "+= a traced scalar": _add_in_place,
    ".astype(float)": lambda A, x: A.astype(np.float64),
}

# ------------------------------------------------- the combinations that raise
# np.linalg's gufuncs refuse object arrays (NumPy's UFuncTypeError, a TypeError) and
# .astype(float) refuses an object holding traced entries (ValueError: no float());
# both only where the array is an object array (a traced input kept as it is stays traced)
# np.append and np.hstack of a traced array and a list dispatch to kronvec: a traced result
_TRACED = {"np.append of a list", "np.hstack with a list"}
RAISES = set()
for _builder in set(BUILDERS) - _TRACED:
    RAISES.add((_builder, ".astype(float)"))
    if _builder in _MIXED:
        RAISES.update({(_builder, "np.sin (object loop)"), (_builder, "np.exp of the transpose")})
# np.mean's scalar result goes through np.float64(…): refused (kronvec names np.stack), where
# the mean is one object (1-D arrays) — or NumPy's AxisError for a 0-d array
for _builder in ("scalars", "scalars and a constant", "integer constants", "a tuple", "asanyarray",
                 "a 0-d value", "entries in reverse", "a repeated entry", "list(x)", "one entry", "np.r_"):
    RAISES.add((_builder, "np.mean along axis 0"))
for _builder in ("2x2 of scalars and a constant", "vectors", "asarray of slices", "matrices", "nested blocks",
                 "a vector and a constant row", "scalars and a vector as rows", "a traced matrix itself",
                 "asanyarray", "all entries of a matrix, in order", "list(x)", "np.r_", "np.c_"):
    RAISES.add((_builder, "np.linalg.inv"))


def _plain(f):
    return lambda z: np.asarray(f(np.array(z, dtype=np.float64)), dtype=np.float64)


def _weights(shape, seed):
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)


def check_all_modes(f, x):
    """f's value and derivatives in every mode against central differences."""
    expected = _plain(f)(x)
    J_fd = central_difference_jacobian(_plain(f), (x,))
    # vjp: the value, and the pullback of a cotangent
    out, pullback = kronvec.vjp(f, x)
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-15)
    W = _weights(np.shape(expected), 1)
    assert_scaled_close(vec(pullback(W)), J_fd.T @ vec(W), FD_RTOL, "vjp")
    # the structured Jacobian, its dense form, its adjoint
    J = kronvec.jacobian(f)(x)
    assert_scaled_close(J.toarray(), J_fd, FD_RTOL, "jacobian")
    assert_scaled_close(dense_of(J), J_fd, FD_RTOL, "jacobian matmat")
    assert_scaled_close(dense_of(J.T), J_fd.T, FD_RTOL, "jacobian transpose")
    V = _weights(np.shape(x), 4)
    assert_scaled_close(vec(kronvec.jvp(f, (x,), (V,))[1]), J_fd @ vec(V), FD_RTOL, "jvp")

    # a nonlinear scalar of it (the object array is lifted by meeting a traced value)
    def s(z):
        return np.sum(W * np.sin(f(z) + 0.0 * z[0]))

    assert_scaled_close(vec(kronvec.grad(s)(x)), central_difference_jacobian(s, (x,))[0], FD_RTOL, "grad")
    H = kronvec.hessian(s)(x).toarray()
    assert_scaled_close(H, central_difference_jacobian(kronvec.grad(s), (x,)), FD_RTOL, "hessian")


@pytest.mark.parametrize("use", list(USES))
@pytest.mark.parametrize("builder", list(BUILDERS))
def test_sweep_right_or_loud(builder, use):
    build, apply = BUILDERS[builder], USES[use]

    def f(x):
        return apply(build(x), x)

    if (builder, use) in RAISES:
        with pytest.raises((TypeError, ValueError)):
            kronvec.jacobian(f)(X6)
        with pytest.raises((TypeError, ValueError)):
            kronvec.grad(lambda x: np.sum(np.sin(f(x) + 0.0 * x[0])))(X6)
        return
    check_all_modes(f, X6)


def test_the_list_of_raising_combinations_is_exact():
    assert RAISES <= {(b, u) for b in BUILDERS for u in USES}


# ---------------------------------------------------- structure and dtypes
def test_whole_arrays_come_back_as_themselves_and_join_structured():
    # np.asarray([X, Y]) is np.stack([X, Y]): the Jacobian holds 0/1 selections only
    def f(x):
        X = x.reshape(2, 3)
        return np.asarray([X, 2.0 * X])

    J = kronvec.jacobian(f)(X6)
    assert "Dense" not in repr(J) and "dense" not in repr(J).lower()
    assert_scaled_close(J.toarray(), central_difference_jacobian(_plain(f), (X6,)), FD_RTOL)
    # np.array(x) of a traced input is x itself: the identity
    J = kronvec.jacobian(lambda x: np.array(x))(X6)
    np.testing.assert_array_equal(J.toarray(), np.eye(6))


def test_float32_entries_keep_their_dtype():
    x = X6.astype(np.float32)
    out, _ = kronvec.vjp(lambda x: np.array([x[0] * x[1], x[2]]), x)
    assert out.dtype == np.float32
    out, _ = kronvec.vjp(lambda x: np.asarray([x, x]), x)
    assert out.dtype == np.float32
    g = kronvec.grad(lambda x: np.sum(np.array([x[0] * x[1], x[2]]) * np.float32(2)))(x)
    np.testing.assert_allclose(g, [2 * x[1], 2 * x[0], 2, 0, 0, 0], rtol=1e-6)


def test_a_float_dtype_or_a_float_conversion_raises_naming_np_stack():
    for f in (lambda x: np.array([x[0], x[1]], dtype=np.float64),
              lambda x: np.asarray(x, dtype=float),
              lambda x: np.float64(x[0]) * x[1]):
        with pytest.raises(TypeError, match=r"np\.stack"):
            kronvec.grad(lambda x: np.sum(f(x)))(X6)
    with pytest.raises(TypeError, match=r"float\(traced value\)"):
        kronvec.grad(lambda x: float(np.array([x[0], x[1]])[0]))(X6)
    # NumPy's "setting an array element with a sequence" (a traced entry is sequence-like) is
    # raised as the TypeError it chains, which says why
    with pytest.raises(TypeError, match=r"float\(traced value\)"):
        kronvec.grad(lambda x: np.sum(np.array([x[0], x[1]]).astype(float)))(X6)


def test_mean_of_a_vector_built_by_np_array_names_np_stack():
    # NumPy's _mean wraps the reduced object in np.float64(…): refused, naming the remedies
    with pytest.raises(TypeError, match=r"np\.mean of a list of traced values, or of an array np\.array built.*np\.stack"):
        kronvec.grad(lambda x: np.mean(np.array([x[0], x[1] ** 2])))(X6)
    g = kronvec.grad(lambda x: np.sum(np.array([x[0], x[1] ** 2])) / 2)(X6)
    np.testing.assert_allclose(g, [0.5, X6[1], 0, 0, 0, 0], rtol=1e-15)


def test_bad_entries_are_refused():
    with pytest.raises(TypeError, match="complex"):
        kronvec.grad(lambda x: np.sum(x * np.array([x[0], 1j, 0.0, 0.0, 0.0, 0.0]).real))(X6)
    with pytest.raises(TypeError, match="str"):
        kronvec.grad(lambda x: np.sum(x[:2] * np.array([x[0], "a"], dtype=object)))(X6)
    with pytest.raises(ValueError):  # ragged: NumPy's own error
        kronvec.grad(lambda x: np.sum(np.array([[x[0]], [x[1], x[2]]])))(X6)
    with pytest.raises(ValueError, match="NaN"):  # a constant NaN, as everywhere (check_finite)
        kronvec.grad(lambda x: np.sum(x[:2] * np.array([x[0], np.nan])))(X6)
    with pytest.raises(ValueError, match="copy"):
        kronvec.grad(lambda x: np.sum(np.asarray(x, copy=False)))(X6)


def test_large_traced_arrays_are_refused_naming_the_structured_spelling():
    big = np.ones(kronvec.config.object_entries_limit + 1)
    with pytest.raises(TypeError, match=r"np\.stack.*np\.concatenate"):
        kronvec.grad(lambda x: np.sum(np.asarray([x, x])))(big)
    with kronvec.config.override(object_entries_limit=big.size):
        np.testing.assert_array_equal(kronvec.grad(lambda x: np.sum(np.asarray([x, x])))(big), 2.0)


def test_a_plain_arrays_dot_method_and_writes_into_object_arrays():
    A = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.sum(A.dot(x[:3])))(X6),
                                  np.r_[A.sum(axis=0), np.zeros(3)])

    def f(x):
        B = np.array([x[0], x[1], 0.0])
        B[2] = x[3] * x[4]      # an object array holds the traced value as it is
        B[:2] = x[4:] ** 2      # its entries, through __array__
        return B

    assert_scaled_close(kronvec.jacobian(f)(X6).toarray(), central_difference_jacobian(_plain(f), (X6,)), FD_RTOL)


def test_writes_into_plain_float_arrays_still_refuse():
    def f(x):
        Y = np.zeros(6)
        Y[:] = x
        return Y

    with pytest.raises(TypeError, match="plain NumPy array"):
        kronvec.jacobian(f)(X6)
    with pytest.raises(TypeError, match="plain NumPy array"):
        kronvec.jacobian(lambda x: np.fill_diagonal(np.zeros((6, 6)), x))(X6)


def test_entries_taken_before_a_write_keep_the_old_values():
    def f(x):
        y = x * 1.0
        A = np.array([y, y])
        y[0] = 10.0 * x[1]   # y is rebound; A's entries are the old y's
        return np.concatenate([np.reshape(A, (-1,)), y])

    assert_scaled_close(kronvec.jacobian(f)(X6).toarray(), central_difference_jacobian(_plain(f), (X6,)), FD_RTOL)


def test_a_user_primitive_receives_the_lifted_array():
    square_sum = kronvec.primitive(lambda v: np.sum(v * v))
    square_sum.defvjp(lambda g, ans, v: 2.0 * g * v)
    g = kronvec.grad(lambda x: square_sum(np.array([x[0], 2.0 * x[1]])))(X6)
    np.testing.assert_allclose(g, [2 * X6[0], 8 * X6[1], 0, 0, 0, 0], rtol=1e-14)


def test_third_order_through_an_assembled_array():
    def s(x):
        return np.sum(np.sin(np.array([x[0] * x[1], x[2] ** 2]) + 0.0 * x[0]))

    V, U = _weights(6, 2), _weights(6, 3)
    hvp = kronvec.hvp(s)
    t = lambda z: np.sum(U * hvp(z, V))  # noqa: E731
    assert_scaled_close(vec(kronvec.grad(t)(X6)), central_difference_jacobian(t, (X6,))[0], FD_RTOL)


def test_threads_building_object_arrays_get_the_serial_results():
    def f(x):
        return np.sum(np.sin(np.asarray([x, x ** 2]) + 0.0 * x[0]) * np.array([[1.0], [2.0]]))

    inputs = [X6 * (1 + k / 10) for k in range(8)]
    serial = [kronvec.grad(f)(x) for x in inputs]
    results = [None] * len(inputs)

    def work(k):
        for _ in range(5):
            results[k] = kronvec.grad(f)(inputs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        np.testing.assert_array_equal(got, want)


def _aliased_scalar(x):
    t = x[0] * 1.0
    u = t
    t += x[1]           # a NumPy scalar is immutable: u keeps the old value
    t *= x[2]
    return np.stack([t, u])


def _object_array_of_one_scalar_twice(x):
    y = x[0] * 1.0
    A = np.array([y, y])
    A[0] += x[1]        # A[1] (and y) keep the old value
    return A


def _copied_object_array(x):
    A = np.array([x[0] * 1.0, x[1]])
    B = A.copy()        # a shallow copy shares the entries
    A[0] -= x[1]
    A[1] /= x[2]
    return np.concatenate([A, B])


@pytest.mark.parametrize("f", [_aliased_scalar, _object_array_of_one_scalar_twice, _copied_object_array])
def test_in_place_operators_on_scalars_do_not_reach_other_references(f):
    # (before this, u = t; t += y changed u too: a silently wrong number)
    out, _ = kronvec.vjp(f, X6)
    np.testing.assert_array_equal(out, f(X6.copy()))
    check_all_modes(f, X6)


_C3 = np.array([1.0, 2.0, 3.0])
MIXED_SPELLINGS = {
    "np.vstack with a list of traced values": lambda x: np.vstack([x[:3], [x[0], 1.0, x[2]]]),
    "np.concatenate with a list": lambda x: np.concatenate([x, [x[0] * x[1]]]),
    "np.stack with a list": lambda x: np.stack([x[:2], [x[0], 2.0]]),
    "np.column_stack with a list": lambda x: np.column_stack([x[:3], [x[1], 1.0, 2.0]]),
    "np.block of scalars": lambda x: np.block([[x[0], 1.0], [x[1], x[2]]]),
    "np.append to a plain array": lambda x: np.append(_C3, [x[1]]),
    "np.where with a list": lambda x: np.where([True, False, True], x[:3], [x[4], 0.0, x[0]]),
    "x + a list": lambda x: x[:3] + [x[4], 0.0, 1.0],
    "np.dot of a list": lambda x: np.dot([x[1], 1.0, 2.0], x[3:]),
    "x @ a list": lambda x: x[:3] @ [x[5], 1.0, 2.0],
    "np.einsum of an object array": lambda x: np.einsum("i,i->i", np.array([x[0], x[1], 1.0]), x[3:]),
    "np.kron of an object array": lambda x: np.kron(np.array([x[0], 1.0]), x[:3]),
    "np.vectorize": lambda x: np.vectorize(lambda t: t * x[0])(_C3),
    "np.trace of an object array": lambda x: np.trace(np.array([[x[0], x[1]], [x[2], 1.0]])) * x[3],
    "np.floor (piecewise constant) of an object array": lambda x: np.floor(np.array([x[0], x[1]])) + x[:2],
}


@pytest.mark.parametrize("name", list(MIXED_SPELLINGS))
def test_traced_arrays_meeting_lists_and_object_arrays(name):
    check_all_modes(MIXED_SPELLINGS[name], X6)


@pytest.mark.parametrize("statistic", [np.mean, np.var, np.std])
def test_a_statistic_of_a_list_of_traced_values_names_the_function_called(statistic):
    """np.std computes through NumPy's _var: the refusal names np.std, what the user called."""
    with pytest.raises(TypeError, match=rf"np\.{statistic.__name__} of a list of traced values.*np\.stack"):
        kronvec.grad(lambda x: statistic([x, x + 2.0]))(0.5)


@pytest.mark.parametrize("function, name", [(lambda a: np.linalg.svd(a)[1], "svd"), (np.linalg.inv, "inv"),
                                            (np.linalg.det, "det"), (lambda a: np.linalg.solve(a, a[0]), "solve")])
@pytest.mark.parametrize("convert", [np.asarray, np.array, np.asfortranarray])
def test_linear_algebra_of_the_object_array_asarray_makes_names_the_function_and_the_way_out(function, name, convert):
    # NumPy's gufuncs refuse an object array with "Cannot cast ufunc 'svd_f' input from
    # dtype('O')", which named neither the function called nor np.asarray(x)
    A = np.eye(3) + 0.1 * np.arange(9.0).reshape(3, 3)
    with pytest.raises(TypeError, match=rf"np\.linalg\.{name} was given an object array .*np\.asarray\(x\).*"
                                        r"Pass x itself"):
        kronvec.grad(lambda a: np.sum(function(convert(a))))(A)
    np.testing.assert_allclose(kronvec.grad(lambda a: np.sum(function(a.copy(order="F"))))(A),
                               kronvec.grad(lambda a: np.sum(function(a)))(A), rtol=1e-13)


@pytest.mark.parametrize("build", [lambda x: np.array([x[0], 3.0]), lambda x: np.r_[x[0], 0.0, x[1:3]]],
                         ids=["np.array", "np.r_"])
def test_a_ufunc_of_an_array_mixing_traced_values_and_numbers_names_both(build):
    # NumPy's object loop calls entry.sin(): traced entries have it, the plain 3.0 does not,
    # and NumPy's own message ("no callable sin method") named neither the array nor a way out
    for mode in (kronvec.grad, lambda f: kronvec.jacobian(lambda x: np.sin(build(x)))):
        with pytest.raises(TypeError, match=r"np\.sin was applied to an object array that mixes traced values "
                                            r"and plain numbers .* np\.stack"):
            mode(lambda x: np.sum(np.sin(build(x))))(X6)
    # np.stack records the same vector as one operation, and its derivatives are right
    check_all_modes(lambda x: np.sin(np.stack([x[0], 3.0])), X6)
