"""Reductions: what the registry sweep cannot say.

The sweep (tests/test_registry.py) checks every registered reduction against
finite differences at its samples, to third order.  Here: every NumPy
spelling (function, ndarray method, keyword) gives NumPy's value and a
gradient that matches finite differences; refused arguments raise TypeError
naming them; the kinks follow the documented conventions (ties split evenly,
the median's middle entries, subgradient 0 at a zero spread, products exact
with zeros, singular-value norms right or loud); and the Jacobians of a
1000×1000 input are built in O(n²) memory.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

import kronvec
from kronvec._vec import vec
from kronvec.operators import Dense, Diag, RowVector, Selection
from kronvec.ops.reductions import LinearRecurrence

from _helpers import central_difference_jacobian, check_value_and_derivatives

RNG = np.random.default_rng(20240612)
X34 = RNG.standard_normal((3, 4))
X234 = RNG.standard_normal((2, 3, 4))
POSITIVE = RNG.uniform(0.5, 1.5, (3, 4))
WEIGHTS = RNG.uniform(0.5, 1.5, 4)
MASK = X34 > -0.5


def _assert_matches_numpy_and_finite_differences(f, X, rtol=1e-6):
    """f on a traced X gives NumPy's value (same shape) and a VJP equal to finite differences."""
    expected = np.asarray(f(X))
    value, pullback = kronvec.vjp(f, X)
    assert np.shape(value) == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-13, atol=1e-13)
    U = np.random.default_rng(1).uniform(-1, 1, expected.shape)
    (cotangent,) = pullback(U)
    J = central_difference_jacobian(f, (X,))
    np.testing.assert_allclose(vec(cotangent), J.T @ vec(U), rtol=rtol, atol=rtol)


SPELLINGS = {
    # sum and mean
    "np.sum where": (lambda X: np.sum(X, axis=1, where=MASK), X34),
    "np.sum initial keepdims": (lambda X: np.sum(X, axis=0, keepdims=True, initial=2.0), X34),
    "x.sum where": (lambda X: X.sum(axis=-1, where=MASK), X34),
    "np.mean axes": (lambda X: np.mean(X, axis=(0, 2)), X234),
    "np.mean where keepdims": (lambda X: np.mean(X, axis=1, keepdims=True, where=MASK), X34),
    "x.mean": (lambda X: X.mean(), X34),
    "np.nansum": (lambda X: np.nansum(X, axis=0), X34),
    "np.average weights along an axis": (lambda X: np.average(X, axis=1, weights=WEIGHTS), X34),
    "np.average weights of a's shape": (lambda X: np.average(X, weights=POSITIVE), X34),
    "np.average, two axes": (lambda X: np.average(X, axis=(2, 0), weights=np.ones((4, 2)) + X234[:, 0].T), X234),
    "np.average keepdims": (lambda X: np.average(X, axis=0, keepdims=True), X34),
    # products
    "np.prod": (lambda X: np.prod(X, axis=1), POSITIVE),
    "np.prod axes keepdims": (lambda X: np.prod(X, axis=(0, 2), keepdims=True), X234),
    "np.prod where initial": (lambda X: np.prod(X, axis=0, where=MASK, initial=1.5), X34),
    "x.prod": (lambda X: X.prod(), POSITIVE),
    "np.cumprod": (lambda X: np.cumprod(X, axis=0), X34),
    "np.cumprod flat": (lambda X: np.cumprod(X), X34),
    "x.cumprod axis -1": (lambda X: X.cumprod(axis=-1), X234),
    "x.cumsum": (lambda X: X.cumsum(axis=1), X34),
    # extremes
    "np.max": (lambda X: np.max(X, axis=0), X34),
    "np.amax axes": (lambda X: np.amax(X, axis=(0, 2)), X234),
    "np.max where initial": (lambda X: np.max(X, axis=1, where=MASK, initial=-5.0), X34),
    "np.max initial wins": (lambda X: np.max(X, axis=1, initial=10.0), X34),
    "x.max keepdims": (lambda X: X.max(axis=1, keepdims=True), X34),
    "np.min": (lambda X: np.min(X), X34),
    "np.amin negative axis": (lambda X: np.amin(X, axis=-2), X234),
    "x.min": (lambda X: X.min(axis=0), X34),
    "np.ptp": (lambda X: np.ptp(X, axis=1), X34),
    "np.ptp keepdims": (lambda X: np.ptp(X, axis=(0, 1), keepdims=True), X234),
    "np.median odd": (lambda X: np.median(X, axis=0), X34),
    "np.median even": (lambda X: np.median(X, axis=1), X34),
    "np.median full keepdims": (lambda X: np.median(X, keepdims=True), X234),
    "np.median two axes": (lambda X: np.median(X, axis=(1, 2)), X234),
    # moments
    "np.var": (lambda X: np.var(X, axis=0), X34),
    "np.var ddof keepdims": (lambda X: np.var(X, axis=(0, 2), ddof=1, keepdims=True), X234),
    "np.var where": (lambda X: np.var(X, axis=1, where=MASK), X34),
    "np.var correction": (lambda X: np.var(X, correction=1), X34),
    "x.var": (lambda X: X.var(axis=0), X34),
    "np.std": (lambda X: np.std(X), X34),
    "x.std ddof": (lambda X: X.std(axis=1, ddof=1), X34),
    "np.std where": (lambda X: np.std(X, axis=0, where=MASK), X34),
}
for _ord in (None, 1, 2, np.inf, -np.inf, 3, 1.5, 0.5, -1, -2.5, 0):
    SPELLINGS[f"vector norm ord={_ord}"] = (lambda X, o=_ord: np.linalg.norm(X, ord=o, axis=0), X34)
for _ord in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
    SPELLINGS[f"matrix norm ord={_ord}"] = (lambda X, o=_ord: np.linalg.norm(X, ord=o), X34)
    SPELLINGS[f"matrix norm ord={_ord}, axis=(1, 0), keepdims"] = (
        lambda X, o=_ord: np.linalg.norm(X, ord=o, axis=(1, 0), keepdims=True), X34)
SPELLINGS.update({
    "norm of a 3-D array": (lambda X: np.linalg.norm(X), X234),
    "norm keepdims": (lambda X: np.linalg.norm(X, keepdims=True), X34),
    "norm of a vector, ord 3": (lambda X: np.linalg.norm(X[0], 3), X34),
    "norm 'fro' over two axes of a stack": (lambda X: np.linalg.norm(X, "fro", axis=(0, 2)), X234),
    "norm ord 1 over two axes of a stack": (lambda X: np.linalg.norm(X, 1, axis=(2, 0)), X234),
    "norm ord -inf, keepdims, stack": (lambda X: np.linalg.norm(X, -np.inf, axis=(1, 2), keepdims=True), X234),
    "np.linalg.vector_norm": (lambda X: np.linalg.vector_norm(X, ord=3), X234),
    "np.linalg.vector_norm axis keepdims": (lambda X: np.linalg.vector_norm(X, axis=(0, 1), keepdims=True), X234),
    "np.linalg.matrix_norm": (lambda X: np.linalg.matrix_norm(X), X234),
    "np.linalg.matrix_norm nuc": (lambda X: np.linalg.matrix_norm(X, ord="nuc"), X34),
    "np.linalg.matrix_norm nuc of a stack": (lambda X: np.linalg.matrix_norm(X, ord="nuc"), X234),
    "norm nuc over axes (2, 0) of a stack": (lambda X: np.linalg.norm(X, "nuc", axis=(2, 0)), X234),
    "norm ord 2 over axes (0, 1) of a stack, keepdims": (lambda X: np.linalg.norm(X, 2, axis=(0, 1), keepdims=True), X234),
    "norm ord -2 over axes (-1, -2) of a stack": (lambda X: np.linalg.norm(X, -2, axis=(-1, -2)), X234),
})


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_each_spelling_gives_numpys_value_and_a_gradient_matching_finite_differences(name):
    f, X = SPELLINGS[name]
    _assert_matches_numpy_and_finite_differences(f, X)


@pytest.mark.parametrize("name", ["np.prod axes keepdims", "np.var ddof keepdims", "np.std where",
                                  "np.median two axes", "matrix norm ord=nuc", "matrix norm ord=2",
                                  "norm nuc over axes (2, 0) of a stack",
                                  "vector norm ord=3", "np.cumprod", "np.average, two axes"])
def test_hessians_of_the_spellings_match_finite_differences(name):
    f, X = SPELLINGS[name]
    W = np.random.default_rng(2).uniform(-1, 1, np.shape(f(X)))

    def s(Y):
        return np.sum(W * f(Y))

    H = kronvec.hessian(s)(X).toarray()
    expected = central_difference_jacobian(kronvec.grad(s), (X,))
    np.testing.assert_allclose(H, expected, rtol=1e-6, atol=1e-6)


def test_average_returned_gives_numpys_sum_of_weights():
    for weights in (None, WEIGHTS):
        expected = np.average(X34, axis=1, weights=weights, returned=True)
        pair = {}

        def f(X):
            pair["value"] = np.average(X, axis=1, weights=weights, returned=True)
            return np.sum(pair["value"][0])

        kronvec.grad(f)(X34)
        np.testing.assert_allclose(np.asarray(kronvec.value_and_grad(
            lambda X: np.sum(np.average(X, axis=1, weights=weights, returned=True)[0]))(X34)[0]),
            np.sum(expected[0]))
        np.testing.assert_allclose(np.asarray(pair["value"][1] if weights is None else
                                              kronvec.vjp(lambda w: np.average(X34, axis=1, weights=w,
                                                                               returned=True)[1], WEIGHTS)[0]),
                                   expected[1])


def test_average_differentiates_in_the_weights_too():
    f = lambda w: np.average(X34, axis=1, weights=w)  # noqa: E731
    _assert_matches_numpy_and_finite_differences(f, WEIGHTS)


# ========================================================== refused arguments
REFUSED = [
    (lambda X: np.sum(X, dtype=np.int64), "np.sum", "dtype"),  # (float dtypes: below)
    (lambda X: np.mean(X, out=np.empty(())), "np.mean", "out"),
    (lambda X: np.prod(X, dtype=np.complex128), "np.prod", "dtype"),
    (lambda X: X.prod(out=np.empty(())), "np.prod", "out"),
    (lambda X: np.max(X, out=np.empty(())), "np.max", "out"),
    (lambda X: X.min(out=np.empty(())), "np.min", "out"),
    (lambda X: np.ptp(X, out=np.empty(())), "np.ptp", "out"),
    (lambda X: np.nanstd(X, mean=np.zeros((1, 1))), "np.nanstd", "mean"),  # (np.std's mean=: below)
    (lambda X: X.var(dtype=np.float16), "np.var", "dtype"),
    (lambda X: np.cumprod(X, dtype=bool), "np.cumprod", "dtype"),
    (lambda X: np.cumsum(X, dtype=np.int32), "np.cumsum", "dtype"),
    (lambda X: np.median(X, out=np.empty(())), "np.median", "out"),
    (lambda X: np.nansum(X, dtype=np.uint8), "np.nansum", "dtype"),
    (lambda X: np.argmax(X, out=np.empty((), dtype=np.intp)), "np.argmax", "out"),
]


@pytest.mark.parametrize("call, function, argument", REFUSED, ids=[f"{f}-{a}" for _, f, a in REFUSED])
def test_unimplemented_arguments_are_refused_by_name(call, function, argument):
    with pytest.raises(TypeError) as info:
        kronvec.grad(lambda X: np.sum(call(X)))(X34)
    assert function in str(info.value) and argument in str(info.value)


def test_ndarray_ptp_is_gone_in_numpy_2_and_not_invented():
    assert not hasattr(np.ndarray, "ptp")
    with pytest.raises(AttributeError):
        kronvec.grad(lambda X: X.ptp())(X34)


# ============================================================= kinks and ties
def test_max_and_min_split_ties_evenly():
    x = np.array([1.0, 3.0, 3.0, -2.0, -2.0, -2.0])
    np.testing.assert_array_equal(kronvec.grad(np.max)(x), [0, 0.5, 0.5, 0, 0, 0])
    np.testing.assert_array_equal(kronvec.grad(np.min)(x), [0, 0, 0, 1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_array_equal(kronvec.grad(lambda x: x.max())(x), [0, 0.5, 0.5, 0, 0, 0])
    X = np.array([[1.0, 2.0], [1.0, 0.0]])
    J = kronvec.jacobian(lambda X: np.max(X, axis=0))(X).toarray()
    np.testing.assert_array_equal(J, [[0.5, 0.5, 0, 0], [0, 0, 1, 0]])
    # an initial value equal to the maximum is one of the tied competitors
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.max(x, initial=3.0))(x), [0, 1 / 3, 1 / 3, 0, 0, 0])
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.max(x, initial=4.0))(x), np.zeros(6))
    # one entry attaining it (the VJP's fast path): 1 there, and signed zeros as g·(hit / 1) gives them
    y = np.array([[1.0, 5.0], [-2.0, 0.5]])
    np.testing.assert_array_equal(kronvec.grad(lambda y: -3.0 * np.max(y))(y), [[-0.0, -3.0], [-0.0, -0.0]])
    assert np.signbit(kronvec.grad(lambda y: -3.0 * np.max(y))(y)).all()


def test_ptp_is_max_minus_min_with_ties_split():
    x = np.array([2.0, 2.0, -1.0])
    np.testing.assert_array_equal(kronvec.grad(np.ptp)(x), [0.5, 0.5, -1.0])


def _numpy_logsumexp(x):
    top = np.max(x)
    return top + np.log(np.sum(np.exp(x - top)))


@pytest.mark.parametrize("x", [np.array([0.3, -1.2, 2.0, 0.7]), np.array([2.0, -1.0, 2.0, 2.0]),
                               np.array([1.5, 1.5, 1.5, 1.5]), np.array([[3.0, 0.0], [3.0, 1.0]])])
def test_grad_of_a_numpy_written_logsumexp_is_the_softmax_also_at_ties(x):
    p = np.exp(x - np.max(x))
    p /= p.sum()
    np.testing.assert_allclose(kronvec.grad(_numpy_logsumexp)(x), p, rtol=1e-14, atol=1e-15)
    H = kronvec.hessian(_numpy_logsumexp)(x).toarray()
    pv = vec(p)
    np.testing.assert_allclose(H, np.diag(pv) - np.outer(pv, pv), atol=1e-14)


def test_median_takes_the_middle_entries_and_shares_ties():
    np.testing.assert_array_equal(kronvec.grad(np.median)(np.array([3.0, 1.0, 2.0])), [0, 0, 1])
    np.testing.assert_array_equal(kronvec.grad(np.median)(np.array([4.0, 1.0, 3.0, 2.0])), [0, 0, 0.5, 0.5])
    # the middle value 2 is held by three entries: they share its weight 1
    np.testing.assert_allclose(kronvec.grad(np.median)(np.array([2.0, 1.0, 2.0, 2.0, 5.0])),
                               [1 / 3, 0, 1 / 3, 1 / 3, 0])
    # even count, both middle positions inside one tie: the tie shares ½ + ½
    np.testing.assert_allclose(kronvec.grad(np.median)(np.array([2.0, 2.0, 0.0, 9.0])), [0.5, 0.5, 0, 0])
    # the derivative along (1, …, 1) is 1: median(x + c) = median(x) + c
    x = np.array([1.0, 1.0, 3.0, 3.0, 3.0, 7.0])
    assert kronvec.grad(np.median)(x).sum() == pytest.approx(1.0)


def test_std_at_zero_spread_takes_the_subgradient_zero_and_never_nan():
    X = np.array([[2.0, 2.0, 2.0], [1.0, -1.0, 0.5]])
    G = kronvec.grad(lambda X: np.sum(np.std(X, axis=1)))(X)
    assert np.all(np.isfinite(G))
    np.testing.assert_array_equal(G[0], 0.0)
    np.testing.assert_allclose(G[1], central_difference_jacobian(lambda x: np.std(x), (X[1],))[0], rtol=1e-7)
    np.testing.assert_array_equal(kronvec.grad(np.std)(np.full(4, 3.0)), np.zeros(4))
    H = kronvec.hessian(np.std)(np.full(3, 3.0)).toarray()
    assert np.all(np.isfinite(H))
    # var is smooth there: its gradient 2(x − μ)/N = 0 and its Hessian 2(I − 11ᵀ/N)/N
    np.testing.assert_allclose(kronvec.hessian(np.var)(np.full(3, 3.0)).toarray(),
                               2 * (np.eye(3) - 1 / 3) / 3, atol=1e-15)


def test_norms_at_zero_take_the_subgradient_zero():
    zero = np.zeros((2, 3))
    for f in (np.linalg.norm, lambda X: np.sum(np.linalg.norm(X, axis=0)),
              lambda X: np.sum(np.linalg.norm(X, 3, axis=1)), lambda X: np.linalg.norm(X, 1),
              lambda X: np.linalg.norm(X, np.inf), lambda X: np.linalg.norm(X, "nuc"),
              lambda X: np.sum(np.linalg.norm(X, np.inf, axis=0))):
        np.testing.assert_array_equal(kronvec.grad(f)(zero), zero)
    X = np.array([[0.0, 0.0], [3.0, 4.0]])  # one zero column, one nonzero
    np.testing.assert_allclose(kronvec.grad(lambda X: np.sum(np.linalg.norm(X, axis=0)))(X),
                               [[0, 0], [1, 1]])
    np.testing.assert_allclose(kronvec.grad(lambda X: np.sum(np.linalg.norm(X, axis=0) ** 2))(X), 2 * X)


def test_second_derivatives_of_norms_at_a_zero_slice_are_loud():
    # The subgradient 0 at a zero slice, differentiated again, made the Hessian of the smooth
    # ‖X‖² at X = 0 equal 0 instead of 2I (hessian, hvp, grad of grad alike), silently; its
    # second derivative does not exist there, and it is refused as hypot's at the origin.
    X = np.array([[0.0, 1.0], [0.0, 2.0]])  # a zero column
    V = np.array([[1.0, -0.5], [0.25, 2.0]])
    whole = (lambda X: np.linalg.norm(X) ** 2, np.linalg.norm, lambda X: np.linalg.vector_norm(X) ** 2)
    by_column = (lambda X: np.sum(np.linalg.norm(X, axis=0) ** 2), lambda X: np.sum(np.linalg.norm(X, 3, axis=0) ** 3))
    cases = [(f, np.zeros((2, 2))) for f in whole + by_column] + [(f, X) for f in by_column]
    for f, point in cases:
        for second in (lambda: kronvec.hessian(f)(point), lambda: kronvec.hvp(f)(point, V),
                       lambda: kronvec.hvp(f, compile=True)(point, V),
                       lambda: kronvec.grad(lambda Y: np.sum(kronvec.grad(f)(Y) * V))(point)):
            with pytest.raises(ValueError, match=r"no second derivative at a zero slice"):
                second()
        assert np.all(np.isfinite(kronvec.grad(f)(point)))  # first order: the subgradient 0 stays
    # a compiled hvp recorded away from zero checks again at each replay
    h = kronvec.hvp(lambda X: np.sum(np.linalg.norm(X, axis=0) ** 2), compile=True)
    np.testing.assert_allclose(h(np.ones((2, 2)), V), 2 * V, rtol=1e-14)
    with pytest.raises(ValueError, match=r"no second derivative at a zero slice"):
        h(X, V)
    # away from zero slices the Hessians stand, against finite differences of the gradient
    Y = np.array([[0.5, 1.0], [-1.5, 2.0]])
    for f in (lambda X: np.linalg.norm(X) ** 2, lambda X: np.sum(np.linalg.norm(X, 3, axis=0) ** 2)):
        gradient = kronvec.grad(f)
        expected = central_difference_jacobian(lambda Z: vec(gradient(Z)), (Y,))
        np.testing.assert_allclose(kronvec.hessian(f)(Y).toarray(), expected, rtol=1e-6, atol=1e-8)


def test_p_norm_hvp_compiles_and_replays_its_decisions():
    # The p-norm's second-order rule read sign(x) and the zero test of p < 1 off the plain
    # values, so hvp(compile=True) refused it (notes/compile.md §3: "none does today");
    # they are recorded decisions now, taken again at each replay, bit for bit.
    V = np.array([1.0, 2.0, -1.0])
    for p in (3.0, 1.5, 0.5, -1.0):
        f = lambda x: np.linalg.norm(x, p)  # noqa: E731
        compiled, uncompiled = kronvec.hvp(f, compile=True), kronvec.hvp(f)
        for x in (np.array([0.4, 1.2, 0.7]), np.array([0.3, -1.2, 0.7]), np.array([-0.3, 1.2, -0.7])):
            np.testing.assert_array_equal(compiled(x, V), uncompiled(x, V))
        if p < 1:
            with pytest.raises(ValueError, match="zero entry"):
                compiled(np.array([0.0, 1.2, 0.7]), V)


def test_vector_inf_norm_splits_ties_and_counts_zero_as_zero():
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.linalg.norm(x, np.inf))(np.array([3.0, -3.0, 1.0])),
                                  [0.5, -0.5, 0])
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.linalg.norm(x, 1))(np.array([3.0, 0.0, -1.0])),
                                  [1, 0, -1])
    x = np.array([3.0, 0.0, -1.0])
    value = kronvec.value_and_grad(lambda x: np.linalg.norm(x, 0) + np.sum(x))(x)
    assert value[0] == 2.0 + 2.0
    np.testing.assert_array_equal(value[1], np.ones(3))  # the count contributes nothing


def test_p_norms_below_one_are_loud_at_a_zero_entry():
    x = np.array([1.0, 0.0, 2.0])
    for p in (0.5, -1.0):
        assert np.isfinite(kronvec.value_and_grad(lambda x: np.linalg.norm(x + 1.0, p))(x)[0])
        with pytest.raises(ValueError, match="zero entry"):
            kronvec.grad(lambda x: np.linalg.norm(x, p))(x)
    # p > 1 is differentiable at a zero entry: derivative 0 there
    G = kronvec.grad(lambda x: np.linalg.norm(x, 3))(x)
    assert G[1] == 0 and np.all(np.isfinite(G))


def test_matrix_one_and_inf_norms_split_ties_between_columns_and_rows():
    X = np.array([[1.0, -2.0], [-2.0, 1.0]])  # both columns and both rows have abs sum 3
    expected = 0.5 * np.sign(X)
    np.testing.assert_array_equal(kronvec.grad(lambda X: np.linalg.norm(X, 1))(X), expected)
    np.testing.assert_array_equal(kronvec.grad(lambda X: np.linalg.norm(X, np.inf))(X), expected)


def test_products_are_exact_with_zeros():
    x = np.array([0.0, 2.0, 3.0, -1.5])
    np.testing.assert_array_equal(kronvec.grad(np.prod)(x), [-9.0, 0, 0, 0])
    y = np.array([0.0, 2.0, 0.0, -1.5])
    np.testing.assert_array_equal(kronvec.grad(np.prod)(y), np.zeros(4))
    H = kronvec.hessian(np.prod)(y).toarray()
    expected = np.zeros((4, 4))
    expected[0, 2] = expected[2, 0] = 2.0 * -1.5  # ∂²/∂x₀∂x₂ = the product of the other two
    np.testing.assert_array_equal(H, expected)
    # tiny nonzero entries: no division, so no under/overflow of prod/xᵢ
    tiny = np.array([1e-200, 1e-200, 3.0])
    np.testing.assert_array_equal(kronvec.grad(np.prod)(tiny), [3e-200, 3e-200, 0.0])  # 1e-400 underflows


def test_cumulative_products_are_exact_with_zeros():
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    J = kronvec.jacobian(np.cumprod)(x).toarray()
    expected = np.zeros((5, 5))
    for i in range(5):
        for k in range(i + 1):
            expected[i, k] = np.prod(np.delete(x[:i + 1], k))
    np.testing.assert_array_equal(J, expected)
    W = np.arange(1.0, 6.0)
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.sum(W * np.cumprod(x)))(x), W @ expected)


def test_nuclear_norm_at_a_rank_deficient_matrix_takes_the_minimal_subgradient():
    U, _ = np.linalg.qr(RNG.standard_normal((4, 3)))
    V, _ = np.linalg.qr(RNG.standard_normal((3, 3)))
    X = (U * [2.0, 1.0, 0.0]) @ V.T
    G = kronvec.grad(lambda X: np.linalg.norm(X, "nuc"))(X)
    np.testing.assert_allclose(G, U[:, :2] @ V[:, :2].T, atol=1e-12)


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 3), (3, 0), (2, 3, 0)])
@pytest.mark.parametrize("ord", [2, -2, 1, -1, np.inf, -np.inf, "nuc", "fro"])
def test_matrix_norms_of_empty_matrices_are_numpys(shape, ord):
    # (regression: ord=2 took s[0] of no singular values — an IndexError — and ord=1/inf
    # raised about a reduction the user never wrote; NumPy's maxima start from 0, its minima
    # of nothing raise ValueError)
    X = np.zeros(shape)
    try:
        expected = np.linalg.norm(X, ord, axis=(-2, -1))
    except ValueError:
        with pytest.raises(ValueError, match="np.linalg.norm"):
            kronvec.grad(lambda X: np.sum(np.linalg.norm(X, ord, axis=(-2, -1))))(X)
        return
    value, pullback = kronvec.vjp(lambda X: np.linalg.norm(X, ord, axis=(-2, -1)), X)
    np.testing.assert_array_equal(value, expected)
    assert pullback(np.ones(np.shape(expected)))[0].shape == shape
    assert kronvec.jacobian(lambda X: np.linalg.norm(X, ord, axis=(-2, -1)))(X).shape == (np.size(expected), 0)


def test_spectral_norms_are_loud_at_a_repeated_extreme_singular_value():
    Q, _ = np.linalg.qr(RNG.standard_normal((3, 3)))
    repeated_top = (Q * [2.0, 2.0, 1.0]) @ Q.T
    repeated_bottom = (Q * [3.0, 1.0, 1.0]) @ Q.T
    with pytest.raises(ValueError, match="largest singular value .* repeated"):
        kronvec.grad(lambda X: np.linalg.norm(X, 2))(repeated_top)
    with pytest.raises(ValueError, match="smallest singular value .* repeated"):
        kronvec.grad(lambda X: np.linalg.norm(X, -2))(repeated_bottom)
    # the simple ones are fine: gradient u₁v₁ᵀ
    G = kronvec.grad(lambda X: np.linalg.norm(X, -2))(repeated_top)
    np.testing.assert_allclose(G, np.outer(Q[:, 2], Q[:, 2]), atol=1e-12)
    # the nuclear norm's gradient U Vᵀ exists at repeated singular values, and so does its Hessian
    # (the polar factor's derivative: test_the_hessian_of_the_nuclear_norm_at_repeated_singular_values;
    # it was refused here through the singular vectors before stop 37)
    np.testing.assert_allclose(kronvec.grad(lambda X: np.linalg.norm(X, "nuc"))(repeated_top), np.eye(3),
                               atol=1e-12)
    H = kronvec.hessian(lambda X: np.linalg.norm(X, "nuc"))(repeated_top)
    np.testing.assert_allclose(kronvec.hvp(lambda X: np.linalg.norm(X, "nuc"))(repeated_top, repeated_top),
                               np.reshape(H.matvec(np.ravel(repeated_top, order="F")), (3, 3), order="F"), atol=1e-12)


def test_degenerate_slices_are_refused_not_nan():
    with pytest.raises(ValueError, match="degrees of freedom"):
        kronvec.grad(lambda X: np.sum(np.var(X, axis=0, ddof=3)))(X34)
    with pytest.raises(ValueError, match="where"):
        kronvec.grad(lambda X: np.sum(np.mean(X, axis=1, where=np.zeros((3, 4), bool))))(X34)
    with pytest.raises(ValueError, match="empty"):
        kronvec.grad(lambda X: np.sum(np.median(X[:, :0], axis=1)))(X34)
    with pytest.raises(ZeroDivisionError):
        kronvec.grad(lambda X: np.sum(np.average(X, axis=1, weights=[1.0, -1.0, 2.0, -2.0])))(X34)
    with pytest.raises(ValueError, match="not finite"):
        kronvec.grad(lambda X: np.prod(X * 1e200))(X34)


def test_nansum_is_sum_when_nan_is_refused_and_skips_nan_otherwise():
    np.testing.assert_array_equal(kronvec.grad(np.nansum)(X34), np.ones((3, 4)))
    x = np.array([1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        kronvec.grad(np.nansum)(x)
    with kronvec.config.override(check_finite=False):
        value, gradient = kronvec.value_and_grad(np.nansum)(x)
    assert value == 3.0
    np.testing.assert_array_equal(gradient, [1.0, 0.0, 1.0])


def test_argmax_and_argmin_are_plain_integers():
    seen = {}

    def f(X):
        seen["argmax"] = np.argmax(X, axis=0)
        seen["argmin"] = X.argmin()
        seen["method"] = X.argmax(axis=1, keepdims=True)
        return np.sum(X[seen["argmax"], np.arange(4)])

    G = kronvec.grad(f)(X34)
    np.testing.assert_array_equal(seen["argmax"], np.argmax(X34, axis=0))
    assert seen["argmin"] == np.argmin(X34) and type(seen["argmin"]) is np.intp
    np.testing.assert_array_equal(seen["method"], np.argmax(X34, axis=1, keepdims=True))
    assert type(seen["argmax"]) is np.ndarray and seen["argmax"].dtype.kind == "i"
    expected = np.zeros((3, 4))
    expected[np.argmax(X34, axis=0), np.arange(4)] = 1.0
    np.testing.assert_array_equal(G, expected)


# ================================================================== structure
def test_the_linear_recurrence_operator_and_its_transpose():
    a = RNG.uniform(-1, 1, (3, 4))
    R = LinearRecurrence(a, axis=1)
    dense = R.toarray()
    S = np.zeros((12, 12))  # the shift along axis 1 in vec order: (i, j) ← (i, j − 1)
    for i in range(3):
        for j in range(1, 4):
            S[i + 3 * j, i + 3 * (j - 1)] = 1.0
    np.testing.assert_allclose(dense, np.linalg.inv(np.eye(12) - np.diag(vec(a)) @ S), atol=1e-14)
    np.testing.assert_allclose(R.T.toarray(), dense.T, atol=1e-14)
    assert "(I − diag(d₁)·S)⁻¹" in R.formula()


SCALE_CASES = {
    "np.max(X, axis=0)": (lambda X: np.max(X, axis=0), Selection),
    "np.linalg.norm(X, axis=0)": (lambda X: np.linalg.norm(X, axis=0), None),
    "np.min(X, axis=1)": (lambda X: np.min(X, axis=1), Selection),
    "np.median(X, axis=0)": (lambda X: np.median(X, axis=0), None),
    "np.prod(X, axis=1)": (lambda X: np.prod(X, axis=1), None),
    "np.std(X, axis=0)": (lambda X: np.std(X, axis=0), None),
    "np.mean(X, axis=1)": (lambda X: np.mean(X, axis=1), None),
    "np.cumprod(X, axis=0)": (lambda X: np.cumprod(X, axis=0), None),
    "np.max(X)": (lambda X: np.max(X), RowVector),
}


@pytest.mark.parametrize("name", sorted(SCALE_CASES))
def test_jacobians_of_a_1000_by_1000_input_take_o_n2_memory(name):
    f, kind = SCALE_CASES[name]
    X = np.random.default_rng(3).uniform(0.9, 1.1, (1000, 1000))  # (a product of 1000 stays finite)
    tracemalloc.start()
    start = time.perf_counter()
    J = kronvec.jacobian(f)(X)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not isinstance(J, Dense)
    assert J.shape[1] == 10**6
    assert peak < 120 * 2**20, f"{name}: peak {peak / 2**20:.0f} MiB"  # X itself is 8 MB
    assert elapsed < 10.0, f"{name}: {elapsed:.1f} s"
    if kind is not None:
        assert isinstance(J, kind), type(J)
    v = np.random.default_rng(4).standard_normal(10**6)
    assert np.all(np.isfinite(J.matvec(v)))


def test_the_jacobian_of_an_extreme_is_a_weighted_selection():
    X = np.array([[1.0, 5.0, 2.0], [4.0, 5.0, 0.0]])
    J = kronvec.jacobian(lambda X: np.max(X, axis=0))(X)
    np.testing.assert_array_equal(J.toarray(), [[0, 1, 0, 0, 0, 0], [0, 0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 1, 0]])
    assert [type(factor).__name__ for factor in J.factors] == ["SelectionTranspose", "Diag", "Selection"]
    assert J.factors[2].index.size == 4  # the four picked entries, no more
    J = kronvec.jacobian(lambda X: np.max(X, axis=1))(np.array([[1.0, 5.0], [4.0, 2.0]]))
    assert isinstance(J, Selection)
    np.testing.assert_array_equal(J.toarray(), [[0, 0, 1, 0], [0, 1, 0, 0]])
    assert isinstance(kronvec.jacobian(lambda X: np.std(X, axis=0))(X34).factors[-1], Diag)


# ------------------------------------------------- dtype= (the accumulator's precision)
_DTYPE_SPELLINGS = [
    lambda X, d: np.sum(X, axis=0, dtype=d), lambda X, d: X.sum(dtype=d), lambda X, d: np.add.reduce(X, 1, dtype=d),
    lambda X, d: np.mean(X, dtype=d), lambda X, d: X.mean(1, d), lambda X, d: np.prod(X, axis=1, dtype=d),
    lambda X, d: np.var(X, axis=0, dtype=d), lambda X, d: np.std(X, dtype=d, ddof=1),
    lambda X, d: np.cumsum(X, axis=1, dtype=d), lambda X, d: np.cumprod(X, dtype=d), lambda X, d: np.nansum(X, dtype=d),
    lambda X, d: np.nanmean(X, axis=0, dtype=d), lambda X, d: np.nanvar(X, dtype=d), lambda X, d: np.nanprod(X, 0, d),
    lambda X, d: np.cumulative_sum(X, axis=0, dtype=d), lambda X, d: np.trace(X, dtype=d),
]


@pytest.mark.parametrize("spelling", range(len(_DTYPE_SPELLINGS)))
def test_a_float_dtype_is_the_precision_numpy_computes_in(spelling):
    # NumPy casts the operand to dtype= and accumulates and returns in it: the same value and
    # dtype through kronvec, and the derivative of the cast (the identity) — float32 data
    # accumulated in float64 is the common use; float64 data in float32 rounds the value.
    f = _DTYPE_SPELLINGS[spelling]
    X32 = (X34 / 2 + 1.5).astype(np.float32)
    for X, d in ((X32, np.float64), (X34 / 2 + 1.5, float), (X34 / 2 + 1.5, "f4")):
        value = kronvec.vjp(lambda Z: f(Z, d), X)[0]
        assert np.asarray(value).dtype == np.asarray(f(X, d)).dtype
        # (np.var forms X − mean in float64 before accumulating in float32, np.nanvar rounds
        # X − mean to the input's float32 first: NumPy's own moments are a float32 rounding apart)
        np.testing.assert_allclose(value, f(X, d), rtol=4 * np.finfo(np.float32).eps)
        if spelling < 6:  # sums and means: the same numbers, bit for bit
            np.testing.assert_array_equal(value, f(X, d))
    g = kronvec.grad(lambda Z: np.sum(f(Z, np.float64) ** 2))(X32)
    assert g.dtype == np.float32  # (shaped and typed like the argument)
    X = X32.astype(np.float64)
    expected = central_difference_jacobian(lambda Z: np.sum(f(Z, np.float64) ** 2), (X,))[0]
    np.testing.assert_allclose(vec(g), expected, rtol=2e-5, atol=1e-5)  # (g is float32)


def test_an_integer_or_complex_dtype_is_refused_by_name():
    for f, name in ((lambda X: np.sum(X, dtype=int), "np.sum"), (lambda X: np.mean(X, dtype=np.complex128), "np.mean"),
                    (lambda X: np.cumsum(X, dtype=np.int32), "np.cumsum"), (lambda X: np.var(X, dtype=np.float16), "np.var")):
        with pytest.raises(TypeError, match=name + " with dtype="):
            kronvec.grad(lambda X: np.sum(f(X)))(X34)


@pytest.mark.parametrize("f", [
    lambda X: np.var(X, axis=1, mean=np.mean(X, axis=1, keepdims=True)),
    lambda X: np.std(X, axis=1, mean=np.mean(X, axis=1, keepdims=True), keepdims=True),
    lambda X: np.var(X, mean=np.full((1, 1), 0.3)),
    lambda X: np.std(X, axis=0, ddof=1, mean=X[:1] / 2),
    lambda X: np.var(X, axis=(0, 1), mean=X[:1, :1], where=X > -1),
    lambda X: np.var(X, axis=-1, mean=np.ones((3, 1)), correction=1),
], ids=["var own mean", "std keepdims", "var constant mean", "std ddof traced mean", "var where", "correction"])
def test_moments_about_a_given_mean(f):
    # NumPy 2's mean=: Σ(x − m)²/(N − ddof) about m, m differentiated when it is traced
    check_value_and_derivatives(f, X34 + 2.0)
    with pytest.raises(ValueError, match="keepdims=True"):
        kronvec.grad(lambda X: np.var(X, axis=1, mean=np.zeros(3)))(X34)


@pytest.mark.parametrize("f", [
    lambda X: np.logaddexp.reduce(X, axis=1), lambda X: np.logaddexp.reduce(X, axis=None),
    lambda X: np.hypot.reduce(X, axis=0, keepdims=True), lambda X: np.subtract.accumulate(X, axis=1),
    lambda X: np.maximum.accumulate(X, axis=1), lambda X: np.minimum.accumulate(X), lambda X: np.fmax.accumulate(X[0]),
    lambda X: np.logaddexp.accumulate(X, axis=-1, dtype=np.float64),
    lambda X: np.logaddexp.reduce(X, axis=None, keepdims=True), lambda X: np.hypot.reduce(X, axis=1, initial=0.5),
    lambda X: np.subtract.reduce(X, axis=0, initial=1.5, keepdims=True), lambda X: np.logaddexp.reduce(X, where=True),
    lambda X: np.logaddexp2.reduce(X, axis=np.array(1)), lambda X: np.logaddexp.reduce(X[1, 2]),
    lambda X: np.subtract.reduce(X[0], axis=None), lambda X: np.multiply.accumulate(X, axis=(1,)),
    lambda X: np.logaddexp.reduce(X, axis=1, initial=X[0, 0]),
], ids=["logaddexp.reduce", "axis=None", "hypot keepdims", "subtract.accumulate", "maximum.accumulate",
        "minimum.accumulate", "fmax 1-D", "logaddexp.accumulate dtype", "axis=None keepdims", "initial",
        "initial keepdims", "where=True", "0-d array axis", "0-d input", "1-D axis=None", "accumulate axis 1-tuple",
        "traced initial"])
def test_reduce_and_accumulate_of_a_binary_ufunc_are_numpys_left_fold(f):
    # (found by an adversarial sweep: axis=None with keepdims came back 1-D, initial= and
    # where= raised an internal TypeError, a 0-d axis or input was refused)
    check_value_and_derivatives(f, X34)


@pytest.mark.parametrize("f", [
    lambda X: np.subtract.reduce(X, axis=None), lambda X: np.add.accumulate(X, axis=None),
    lambda X: np.multiply.accumulate(X, axis=(0, 1)), lambda X: np.logaddexp.accumulate(X, keepdims=True),
    lambda X: np.logaddexp.reduce(X, axis=1, initial=0.0, where=np.array([True, False, True, True])),
], ids=["not reorderable", "accumulate axis=None", "accumulate axes", "accumulate keepdims", "where mask"])
def test_reduce_and_accumulate_refuse_what_numpy_refuses(f):
    # NumPy's own errors (a fold over several axes of a ufunc that is not reorderable, an
    # accumulate over several axes or with keepdims), and a where= mask skipping entries by name
    try:
        f(X34)
        numpy_error = None
    except (TypeError, ValueError) as error:
        numpy_error = type(error)
    with pytest.raises(numpy_error or TypeError, match=None if numpy_error else "where="):
        kronvec.grad(lambda X: np.sum(f(X)))(X34)


@pytest.mark.parametrize("f", [
    lambda X: np.sum(X, axis=np.array(1)), lambda X: np.cumsum(X, axis=np.array(0)),
    lambda X: np.linalg.norm(X, axis=np.array(1)), lambda X: np.max(X, axis=(np.array(0),)),
    lambda X: np.std(X, axis=np.int64(1)), lambda X: np.quantile(X, 0.3, axis=np.array(1)),
], ids=["sum", "cumsum", "norm", "max tuple", "std np.int64", "quantile"])
def test_an_axis_given_as_a_0d_integer_array_is_that_integer(f):
    # NumPy reads axis=np.array(1) through operator.index (found by an adversarial sweep:
    # kronvec iterated over the 0-d array)
    check_value_and_derivatives(f, X34)


def test_a_running_maximum_splits_ties_as_the_maximum_of_the_prefix():
    M = np.array([[2.0, 2.0, 0.5, 2.0]])
    J = kronvec.jacobian(lambda X: np.maximum.accumulate(X, axis=1))(M).toarray()
    np.testing.assert_allclose(J, [[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0], [1 / 3, 1 / 3, 0, 1 / 3]])
    with pytest.raises(TypeError, match=r"np\.logaddexp\.reduce with out="):
        kronvec.grad(lambda X: np.sum(np.logaddexp.reduce(X, out=np.empty(4))))(X34)


@pytest.mark.parametrize("method", ["lower", "higher", "nearest", "midpoint", "weibull", "hazen", "median_unbiased",
                                    "normal_unbiased", "interpolated_inverted_cdf"])
def test_quantile_methods_pick_the_order_statistics_numpy_interpolates(method):
    # each method is locally one or two order statistics of each slice (or a clipped
    # virtual index of them): NumPy's value, and its selection weights as the derivative
    check_value_and_derivatives(lambda X: np.quantile(X, [0.0, 0.3, 0.5, 0.97], axis=1, method=method), X34)
    check_value_and_derivatives(lambda X: np.percentile(X, 62.5, method=method), X34)


def test_mean_with_where_keeps_float32():
    # np.mean(float32 X, where=...) is float32 (NumPy divides by the counts in float64 and
    # writes the quotient into the float32 sum); kronvec returned float64
    X = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    mask = np.array([[True], [False], [True]])
    f = lambda x: np.mean(x, axis=0, where=mask)  # noqa: E731
    value, pullback = kronvec.vjp(f, X)
    assert value.dtype == np.float32 and np.array_equal(value, f(X))
    g = pullback(np.ones(4, np.float32))[0]
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, np.where(mask, np.float32(0.5), np.float32(0.0)) * np.ones((3, 4), np.float32))
    assert kronvec.vjp(lambda x: x.mean(axis=1, keepdims=True, where=x > -10), X)[0].dtype == np.float32


@pytest.mark.parametrize("reduction, layout", [
    (reduction, layout)
    for reduction in (np.sum, np.mean, np.prod, np.var, np.std, np.nansum, np.average)
    for layout in ("F", "negative strides", "broadcast view")
    # (not np.nansum of a broadcast view: it copies the view in 'K' order where np.sum reduces
    # it in C order, NumPy's own two orders — tests/test_adversarial_sweeps.py)
    if not (reduction is np.nansum and layout == "broadcast view")])
def test_a_reduction_of_an_argument_in_its_own_memory_order_is_numpys_bit_for_bit(reduction, layout):
    # NumPy adds the entries in memory order (pairwise, blocks of 8): the argument's copy
    # keeps x's order ("K"), so a Fortran-ordered x is reduced as NumPy reduces it — a C-order
    # copy differed from NumPy's value by 1–11 ulp; a broadcast view NumPy reduces as its
    # C-order copy, which a "K" copy (the zero-stride axis innermost) was not
    X = np.random.default_rng(11).uniform(0.5, 1.5, (6, 5, 7))
    X = {"F": np.asfortranarray(X), "negative strides": X[::-1, :, ::-1],
         "broadcast view": np.broadcast_to(X[0], X.shape)}[layout]
    for axis in (None, 0, (0, 2), -1):
        value, grad = kronvec.value_and_grad(lambda x: np.sum(reduction(x, axis=axis)))(X)
        assert value == np.sum(reduction(X, axis=axis))
        assert grad.shape == X.shape


@pytest.mark.parametrize("ufunc", [np.add, np.multiply, np.maximum, np.minimum, np.fmax, np.fmin])
def test_reduce_of_a_0d_value_is_the_value_as_in_numpy(ufunc):
    for x in (np.array(1.5), 1.5):
        for axis in ({}, {"axis": 0}, {"axis": -1}, {"axis": None}):
            value, grad = kronvec.value_and_grad(lambda t: ufunc.reduce(t * t, **axis))(x)
            assert value == ufunc.reduce(np.asarray(x) ** 2, **axis) == 2.25
            assert grad == 3.0  # d(t²)/dt at 1.5
    with pytest.raises(TypeError, match=r"np\.add\.accumulate: cannot accumulate on a scalar"):
        kronvec.grad(lambda t: np.add.accumulate(t))(np.array(1.5))


@pytest.mark.parametrize("spelling, shape", [
    (lambda x, m: np.sum(x, axis=1, where=m), (5, 37)),
    (lambda x, m: np.sum(x, where=m), (5, 37)),
    (lambda x, m: x.sum(axis=0, keepdims=True, where=m), (5, 37)),
    (lambda x, m: np.mean(x, axis=1, where=m), (5, 37)),
    (lambda x, m: np.nansum(x, axis=1, where=m), (5, 37)),
    (lambda x, m: np.add.reduce(x, axis=1, where=m), (5, 37)),
    (lambda x, m: np.sum(x, axis=1, where=m, initial=2.5), (5, 37)),
    (lambda x, m: np.sum(x, axis=0, initial=-1.25), (5, 37)),
    (lambda x, m: np.sum(x, axis=(0, 2), initial=0.5), (5, 37, 3)),
    (lambda x, m: np.prod(x, axis=1, where=m, initial=1.25), (5, 7)),
    (lambda x, m: np.multiply.reduce(x, axis=0, initial=-0.75), (5, 7)),
    (lambda x, m: x.prod(initial=1.5), (3, 4)),
])
def test_sums_with_where_or_initial_are_numpys_own_reduction_bit_for_bit(spelling, shape):
    # NumPy's masked loop skips the entries outside the mask and starts from the initial
    # value: a sum with zeros put there (plus the initial value after) adds in another
    # order and differed by 1–4 ulp (a product times the initial value after, by 1 ulp);
    # sum_ and prod now run NumPy's reduction with its where=/initial=
    rng = np.random.default_rng(21)
    X = rng.standard_normal(shape)
    mask = rng.random(shape) > 0.3
    check_value_and_derivatives(lambda x: spelling(x, mask), X)  # (the value: NumPy's exactly)


# ----------------------------------------- found by the adversarial linalg sweep (/work/adversarial/linalg)
@pytest.mark.parametrize("spelling", [
    lambda X: np.linalg.norm(X), lambda X: np.linalg.norm(X, keepdims=True),
    lambda X: np.linalg.norm(X.reshape(-1)), lambda X: np.linalg.norm(X.reshape(-1), 3),
    lambda X: np.linalg.norm(X.reshape(-1), 0.5), lambda X: np.linalg.norm(X.reshape(-1), -1),
    lambda X: np.linalg.norm(X[0], "fro", keepdims=True), lambda X: np.linalg.norm(X, 3, axis=1),
    lambda X: np.linalg.vector_norm(X, ord=0.5, axis=(0, 2)), lambda X: np.linalg.vector_norm(X, ord=3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vector_norms_are_numpys_bit_for_bit(spelling, dtype):
    # np.linalg.norm(x) is the sqrt of a BLAS dot and a p-norm (Σ|x|^p)^(1/p) with 1/p in x's dtype:
    # the scaled formula kronvec used everywhere differed in the last bit (a sum of squares for
    # norm(x), 1–4 ulp for p ≠ 2; 13 of 30 random 100-vectors, 29 of 30 (2, 3, 2) arrays)
    X = np.random.default_rng(7).standard_normal((2, 3, 20)).astype(dtype)
    value = kronvec.vjp(spelling, X)[0]
    expected = spelling(X)
    assert value.dtype == expected.dtype and np.array_equal(value, expected)


def test_the_inf_norm_of_an_empty_vector_is_numpys_zero():
    # NumPy's ∞-norm is a maximum from 0 (initial=0); kronvec's raised a reduction error
    for f, X in ((lambda x: np.linalg.norm(x, np.inf), np.zeros(0)),
                 (lambda x: np.linalg.vector_norm(x, ord=np.inf), np.zeros((0, 3))),
                 (lambda x: np.sum(np.linalg.norm(x, np.inf, axis=1)), np.zeros((3, 0)))):
        value, G = kronvec.value_and_grad(f)(X)
        assert value == f(X) == 0.0 and G.shape == X.shape


@pytest.mark.parametrize("reduction", [np.sum, np.prod, np.max, np.min, np.ptp, np.nansum],
                         ids=["sum", "prod", "max", "min", "ptp", "nansum"])
@pytest.mark.parametrize("axis", [0, -1])
def test_a_ufunc_reduction_of_a_0d_array_takes_axis_0_as_numpy(reduction, axis):
    # NumPy's ufunc reductions read axis 0 or −1 of a 0-d array as its one entry (np.mean
    # refuses it, and so does kronvec): found by an adversarial sweep
    a = np.array(0.3)
    value, pullback = kronvec.vjp(lambda x: reduction(x, axis=axis) * 3.0, a)
    np.testing.assert_array_equal(value, reduction(a, axis=axis) * 3.0)
    (gradient,) = pullback(np.array(1.0))
    np.testing.assert_array_equal(gradient, 0.0 if reduction is np.ptp else 3.0)


@pytest.mark.parametrize("reduction, derivative", [
    (np.nanmean, 1.0), (np.nanvar, 0.0), (np.nanstd, 0.0),  # (NumPy's nan-moments sum: np.sum takes the axis)
    (np.cumsum, 1.0), (np.cumprod, 1.0), (np.nancumsum, 1.0), (np.nancumprod, 1.0),  # (1-D, of one entry)
], ids=["nanmean", "nanvar", "nanstd", "cumsum", "cumprod", "nancumsum", "nancumprod"])
@pytest.mark.parametrize("axis", [0, -1])
def test_reductions_numpy_computes_by_a_ufunc_take_axis_0_of_a_0d_array(reduction, derivative, axis):
    # found by a sweep: kronvec raised AxisError, computing them with np.mean, np.var or on the 0-d array
    a = np.array(0.3)
    expected = reduction(a, axis=axis)
    value, pullback = kronvec.vjp(lambda x: reduction(x, axis=axis) * 3.0, a)
    assert value.shape == expected.shape
    np.testing.assert_array_equal(value, expected * 3.0)
    (gradient,) = pullback(np.ones(expected.shape))
    np.testing.assert_array_equal(gradient, 3.0 * derivative)
    assert gradient.shape == ()


@pytest.mark.parametrize("axis", [(), (0,)])
def test_a_cumulative_reduction_along_a_tuple_is_numpys_type_error(axis):
    # np.cumsum(x, axis=()) raised an internal IndexError
    for function in (np.cumsum, np.cumprod):
        with pytest.raises(TypeError, match="axis must be an integer"):
            kronvec.grad(lambda x: np.sum(function(x, axis=axis)))(np.ones(3))


# ------------------------------------------------- found by the reductions sweep (stop 37)
@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum, np.fmax, np.fmin])
def test_extreme_ufunc_reduce_with_a_dtype_compares_in_it(ufunc):
    # raised an internal "max() got an unexpected keyword argument 'dtype'"
    x = np.array([[1.0, 2.0], [3.0, 0.5]], dtype=np.float32)
    f = lambda z: ufunc.reduce(z, axis=0, dtype=np.float64)  # noqa: E731
    value, pullback = kronvec.vjp(f, x)
    assert value.dtype == f(x).dtype == np.float64
    np.testing.assert_array_equal(value, f(x))
    expected = [[0.0, 1.0], [1.0, 0.0]] if ufunc in (np.maximum, np.fmax) else [[1.0, 0.0], [0.0, 1.0]]
    np.testing.assert_array_equal(pullback(np.ones(2))[0], expected)


@pytest.mark.parametrize("reduction", [np.sum, np.mean, np.std, np.var, np.max, np.min, np.ptp, np.prod,
                                       np.nansum, np.nanmean, np.linalg.norm, np.linalg.vector_norm],
                         ids=lambda f: f.__name__)
def test_an_axis_given_as_a_list_is_numpys_type_error(reduction):
    # NumPy's reductions take an int or a tuple of axes; kronvec accepted a list
    x = np.ones((2, 3))
    with pytest.raises(TypeError):
        reduction(x, axis=[0, 1])
    with pytest.raises(TypeError, match="axis"):
        kronvec.grad(lambda z: np.sum(reduction(z, axis=[0, 1])))(x)


@pytest.mark.parametrize("q", [0.3, 1, [0.3, 0.7], np.array([0.3, 0.7]), np.float32(0.3),
                               np.array([0.3, 0.7], dtype=np.float32), np.float64(0.3), [0, 1], True],
                         ids=["float", "int", "list", "array", "float32", "float32 array", "float64", "int list", "bool"])
@pytest.mark.parametrize("function", [np.quantile, np.percentile, np.nanquantile, np.nanpercentile],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("method", ["linear", "lower", "midpoint", "hazen"])
def test_quantiles_of_float32_data_have_numpys_type_and_numbers(q, function, method):
    # a list or array of q made NumPy's result float64 (interpolated in float64), kronvec's float32;
    # a float32 percentile is divided by 100 in float32 by NumPy
    x = np.array([0.3, 1.7, 2.2, 0.9], dtype=np.float32)
    q = q if function in (np.quantile, np.nanquantile) else (q * 100 if type(q) in (float, int) else np.asarray(q) * 100)
    expected = function(x, q, method=method)
    value, tangent = kronvec.jvp(lambda z: function(z, q, method=method), (x,), (x,))
    assert value.dtype == expected.dtype
    np.testing.assert_array_equal(value, expected)


def test_quantile_errors_are_numpys():
    x = np.ones(3)
    with pytest.raises(ValueError, match="not a valid method"):  # (was a TypeError: "cannot differentiate")
        kronvec.grad(lambda z: np.quantile(z, 0.3, method="foo"))(x)
    with pytest.raises(IndexError):  # NumPy's error for an empty slice (was a ValueError alone)
        kronvec.jacobian(lambda z: np.quantile(z, 0.3))(np.ones((3, 0)))
    with pytest.raises(ValueError, match="empty slice"):  # np.nanquantile's NaN, refused
        kronvec.jacobian(lambda z: np.nanquantile(z, 0.3, axis=1))(np.ones((3, 0)))


def test_an_empty_unweighted_average_is_numpys_zero_division():
    # NumPy divides a.size by the average's size; kronvec returned an empty array
    x = np.ones((0, 3))
    with pytest.raises(ZeroDivisionError):
        np.average(x, axis=1)
    with pytest.raises(ZeroDivisionError):
        kronvec.jvp(lambda z: np.average(z, axis=1), (x,), (x,))


@pytest.mark.parametrize("function", [np.cov, np.corrcoef, lambda m: np.cov(m[0], m[1]),
                                      lambda m: np.cov(m, aweights=np.array([1.0, 2.0, 3.0]))],
                         ids=["cov", "corrcoef", "cov(x, y)", "cov aweights"])
def test_cov_of_float32_data_computes_in_float64_as_numpy(function):
    # kronvec's value was float64 with float32 accuracy (7e-8 off): NumPy casts the data first
    x = np.array([[0.3, 1.7, 2.2], [1.1, 0.4, 0.9]], dtype=np.float32)
    value, _ = kronvec.jvp(function, (x,), (x,))
    assert value.dtype == np.float64
    np.testing.assert_array_equal(value, function(x))
    J = kronvec.jacobian(function)(x).toarray()
    numeric = central_difference_jacobian(lambda z: function(z.astype(np.float64)), (x.astype(np.float64),))
    np.testing.assert_allclose(J, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("a", [-1.371, 0.3, 0.7, 1e-300, 3e10])
def test_std_of_equal_entries_has_the_subgradient_zero(a):
    # std(x[[0, 0, 0]]) is 0 for every x; its computed value is rounding (the mean of three equal
    # entries need not be one of them), and (X − μ)/std, noise over noise, gave ±1 (random-program sweep)
    x = np.array([a, 2.0])
    f = lambda x: np.std(x[[0, 0, 0]]) + np.std(np.stack([x[0], x[0], x[1]]), axis=0, ddof=1)  # noqa: E731
    np.testing.assert_array_equal(kronvec.grad(f)(x), kronvec.grad(lambda x: np.std(x[[0, 0, 1]], ddof=1))(x))
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.std(x[[0, 0, 0]]))(x), [0.0, 0.0])
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.std(x[[0, 0, 0]]), compile=True)(x), [0.0, 0.0])
    where = np.array([True, True, False])
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.std(x[[0, 0, 1]], where=where))(x), [0.0, 0.0])


@pytest.mark.parametrize("X", [np.diag([2.0, 2.0, 3.0]), np.eye(3), np.diag([1.0, 2.0, 2.0, 2.0])[:, :3] + 0.0,
                               np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])],
                         ids=["a repeated pair", "all equal", "tall, repeated", "wide, equal"])
def test_the_hessian_of_the_nuclear_norm_at_repeated_singular_values(X):
    # (random-program sweep) ‖X‖_* is smooth at any full-rank X, but its Hessian was taken through
    # U and V (1/(σᵢ² − σⱼ²)) and refused where singular values repeat; it is now the derivative
    # of the polar factor U Vᵀ (1/(σᵢ + σⱼ))
    f = lambda X: np.linalg.norm(X, "nuc")  # noqa: E731
    gradient = kronvec.grad(f)
    H = kronvec.hessian(f)(X).toarray()
    np.testing.assert_allclose(H, H.T, atol=1e-14)
    numeric = central_difference_jacobian(lambda Y: gradient(Y), (X,))
    np.testing.assert_allclose(H, numeric, rtol=1e-6, atol=1e-8)
    assert kronvec.value_and_grad(f)(X)[0] == f(X)


def test_the_nuclear_norm_at_a_rank_deficient_matrix():
    # the gradient is the minimal-norm subgradient U_r V_rᵀ (notes/derivatives.md §18); no Hessian
    X = np.array([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 3.0]])
    f = lambda X: np.linalg.norm(X, "nuc")  # noqa: E731
    np.testing.assert_allclose(kronvec.grad(f)(X), [[0.2, 0.4, 0.0], [0.4, 0.8, 0.0], [0.0, 0.0, 1.0]], atol=1e-15)
    with pytest.raises(np.linalg.LinAlgError, match="rank-deficient"):
        kronvec.hessian(f)(X)
