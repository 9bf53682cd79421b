"""NumPy functions differentiated through the registered operations they are made of:
np.interp, np.convolve/np.correlate, the Array API spellings (np.linalg.matrix_transpose,
diagonal, trace, np.cumulative_sum/prod), np.meshgrid, np.broadcast_arrays, np.modf,
np.divmod, the ufunc methods reduce/accumulate, and the value-only np.searchsorted,
np.digitize, np.isin.  Each: NumPy's value, and every mode against central differences."""

import numpy as np
import pytest

import kronvec
from tests._helpers import central_difference_jacobian

RNG = np.random.default_rng(1)
X = RNG.uniform(0.5, 1.5, (3, 4))

CASES = {
    "np.interp in x": lambda X: np.interp(X, [0.4, 0.9, 1.2, 1.6], [0.0, 1.0, 4.0, 2.0]),
    "np.interp in fp (outside the range too)": lambda X: np.interp([0.5, 1.2, -1.0, 9.0, 3.0], [0, 1, 2, 3], X[0]),
    "np.interp in xp": lambda X: np.interp([0.7, 1.2], np.cumsum(X[0]), [0, 1, 4, 9.0]),
    "np.interp left/right": lambda X: np.interp(X * 2 - 1, [0.0, 1.0, 2.0], [1.0, 3.0, 2.0], left=-1.0, right=5.0),
    "np.interp scalar x": lambda X: np.interp(X[0, 0], [0.0, 1.0, 2.0], X[1, :3]),
    "np.convolve": lambda X: np.convolve(X[0], X[1, :3]),
    "np.convolve same (longer v)": lambda X: np.convolve(X[0, :2], X[1], "same"),
    "np.convolve valid": lambda X: np.convolve(X[0], X[1, :3], "valid"),
    "np.correlate": lambda X: np.correlate(X[0], X[1, :3]),
    "np.correlate full": lambda X: np.correlate(X[0], X[1, :3], "full"),
    "np.correlate same (longer v)": lambda X: np.correlate(X[0, :2], X[1], "same"),
    "np.correlate valid (longer v)": lambda X: np.correlate(X[0, :2], X[1], "valid"),
    "np.correlate full (longer v)": lambda X: np.correlate(X[0, :3], X[1], "full"),
    "np.linalg.matrix_transpose": lambda X: np.linalg.matrix_transpose(X),
    "np.linalg.diagonal": lambda X: np.linalg.diagonal(X, offset=1),
    "np.linalg.trace (stack)": lambda X: np.linalg.trace(np.stack([X, 2 * X]), offset=-1),
    "np.cumulative_sum": lambda X: np.cumulative_sum(X, axis=1, include_initial=True),
    "np.cumulative_sum 1-D": lambda X: np.cumulative_sum(X[0]),
    "np.cumulative_prod": lambda X: np.cumulative_prod(X, axis=0, include_initial=True),
    "np.meshgrid xy": lambda X: np.stack(np.meshgrid(X[0], X[1, :3])),
    "np.meshgrid ij 3-D": lambda X: np.stack(np.meshgrid(X[0], X[1, :3], X[2, :2], indexing="ij")),
    "np.meshgrid sparse": lambda X: np.prod(np.meshgrid(X[0], X[1, :3], sparse=True)[0] * X[2, :1], axis=0),
    "np.broadcast_arrays": lambda X: np.stack(np.broadcast_arrays(X, X[0], 2.0)),
    "np.modf": lambda X: np.stack(np.modf(3 * X - 2)),
    "np.divmod": lambda X: np.stack(np.divmod(3 * X, 0.7)),
    "np.divmod traced divisor": lambda X: np.stack(np.divmod(2.0, X)),
    "np.add.reduce": lambda X: np.add.reduce(X),
    "np.multiply.reduce": lambda X: np.multiply.reduce(X, axis=1, keepdims=True),
    "np.maximum.reduce": lambda X: np.maximum.reduce(X, axis=None),
    "np.minimum.reduce": lambda X: np.minimum.reduce(X, 1),
    "np.add.accumulate": lambda X: np.add.accumulate(X, axis=1),
    "np.multiply.accumulate": lambda X: np.multiply.accumulate(X),
    "np.searchsorted (value only)": lambda X: X[0] * np.searchsorted([0.7, 1.0, 1.3], X[0]),
    "np.digitize (value only)": lambda X: X * np.digitize(X, [0.7, 1.0, 1.3]),
    "np.isin (value only)": lambda X: X * np.isin(X, X[0]),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_value_and_every_mode_against_central_differences(case):
    f = CASES[case]
    seen = {}

    def recorded(a):
        seen["value"] = f(a)
        return seen["value"]

    J = kronvec.jacobian(recorded)(X).toarray()
    traced_value = kronvec.vjp(f, X)[0]
    np.testing.assert_allclose(traced_value, f(X), rtol=1e-14, atol=1e-15)  # NumPy's value
    expected = central_difference_jacobian(lambda a: np.asarray(f(a), dtype=np.float64), (X,))
    np.testing.assert_allclose(J, expected, rtol=1e-6, atol=1e-8)
    V = RNG.standard_normal(X.shape)
    _, t = kronvec.jvp(f, (X,), (V,))
    np.testing.assert_allclose(np.reshape(t, -1, order="F"), J @ np.reshape(V, -1, order="F"), rtol=1e-12, atol=1e-12)
    W = RNG.standard_normal(np.shape(traced_value))
    (g,) = kronvec.vjp(f, X)[1](W)
    np.testing.assert_allclose(np.reshape(g, -1, order="F"), J.T @ np.reshape(W, -1, order="F"), rtol=1e-12, atol=1e-12)
    s = lambda a: np.sum(np.sin(f(a)))  # noqa: E731  (second order through the composition)
    H = kronvec.hessian(s)(X).toarray()
    np.testing.assert_allclose(H, central_difference_jacobian(kronvec.grad(s), (X,)), rtol=1e-5, atol=1e-7)


def test_interp_takes_the_segment_to_the_right_of_a_knot():
    # conventions.md §7: at an inner knot the slope to its right (where NumPy's value comes from), at the ends inside
    xp, fp = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 5.0])
    assert kronvec.grad(lambda x: np.interp(x, xp, fp))(1.0) == 4.0
    assert kronvec.grad(lambda x: np.interp(x, xp, fp))(0.0) == 1.0
    assert kronvec.grad(lambda x: np.interp(x, xp, fp))(2.0) == 4.0  # the last knot: the segment inside
    assert kronvec.grad(lambda x: np.interp(x, xp, fp))(2.5) == 0.0  # fp[-1] beyond the range


def test_refusals_name_the_function():
    with pytest.raises(TypeError, match="np.interp.*period"):
        kronvec.grad(lambda x: np.interp(x, [0.0, 1.0], [0.0, 1.0], period=2.0))(0.5)
    with pytest.raises(ValueError, match="np.convolve"):
        kronvec.grad(lambda x: np.sum(np.convolve(np.outer(x, x), x)))(np.ones(2))
    with pytest.raises(ValueError, match="np.cumulative_sum: axis"):
        kronvec.grad(lambda x: np.sum(np.cumulative_sum(x)))(np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"np\.add\.reduceat"):
        kronvec.grad(lambda x: np.sum(np.add.reduceat(x, [0, 1])))(np.ones(3))


MORE = {
    "np.compress (axis)": lambda X: np.compress([True, False, True], X, axis=0),
    "np.compress (short condition)": lambda X: np.compress([False, True], X, axis=1),
    "np.compress (flat)": lambda X: np.compress(np.ravel(X > 1.0), X),
    "np.extract": lambda X: np.extract(X > 1.0, X),
    "np.nan_to_num (finite)": lambda X: np.nan_to_num(X),
    "np.vander": lambda X: np.vander(X[0]),
    "np.vander N, increasing": lambda X: np.vander(X[0], 3, increasing=True),
    "np.quantile": lambda X: np.quantile(X, 0.3),
    "np.quantile vector q, axis, keepdims": lambda X: np.quantile(X, [0.1, 0.5, 0.9], axis=1, keepdims=True),
    "np.percentile 2-D q, two axes": lambda X: np.percentile(X, [[10, 20], [30, 100]], axis=(0, 1)),
    "np.nanmedian": lambda X: np.nanmedian(X, axis=0),
    "np.nanquantile": lambda X: np.nanquantile(X, 0.25, axis=1),
    "np.nanpercentile": lambda X: np.nanpercentile(X, 75),
    # np.unique and the Array API family: values are entries (derivatives.md §33.2). The
    # repeated entries below are made inside f, so each finite difference keeps them tied
    # and checks the even split (each copy ½, summed back by the concatenation: 1)
    "np.unique": lambda X: np.unique(X),
    "np.unique repeated entries": lambda X: np.unique(np.concatenate([X[0], X[0, ::-1], X[1], X[1, :2]])),
    "np.unique index, inverse, counts": lambda X: (lambda u, i, v, c: np.concatenate([u[v].ravel() * c[v].ravel(),
                                                                                      u[np.argsort(i)]]))(
        *np.unique(np.concatenate([X, X[:1]]), return_index=True, return_inverse=True, return_counts=True)),
    "np.unique axis=0 repeated rows": lambda X: np.unique(np.concatenate([X[1:], X, X[:1]]), axis=0),
    "np.unique axis=1 (3-D)": lambda X: np.unique(np.stack([X, 2 * X]), axis=1),
    "np.unique sorted=False, equal_nan=False": lambda X: np.unique(X[:, :2], sorted=False, equal_nan=False),
    "np.unique_values": lambda X: np.unique_values(np.concatenate([X[1], X[1]])),
    "np.unique_counts": lambda X: (lambda r: r.values * r.counts)(np.unique_counts(np.stack([X, X, X[::-1]]))),
    "np.unique_inverse": lambda X: (lambda r: r.values[r.inverse_indices])(np.unique_inverse(X)),
    "np.unique_all": lambda X: (lambda r: r.values[r.inverse_indices] * r.counts[r.inverse_indices] + r.indices[
        r.inverse_indices])(np.unique_all(np.concatenate([X, X]))),
    "np.lexsort (value only)": lambda X: X[0] * np.lexsort((X[1], np.round(X[0]))),
    "np.lexsort 2-D keys (value only)": lambda X: X * np.lexsort(X[:2], axis=0),
    # the set routines (derivatives.md §35): shared values are made inside f, so each finite
    # difference keeps them shared and checks the even split (½ to each copy)
    "np.union1d": lambda X: np.union1d(X[0], np.concatenate([X[1], X[0, :2]])),
    "np.intersect1d": lambda X: np.intersect1d(X[0], np.concatenate([X[1, :2], X[0, 1:3], [9.0]])),
    "np.intersect1d return_indices": lambda X: (lambda v, i, j: v * (1.0 + i + j))(
        *np.intersect1d(np.concatenate([X[0], X[0, :1]]), X[:, :2], return_indices=True)),
    "np.intersect1d assume_unique, plain ar1": lambda X: np.intersect1d([9.0, 1.0], np.append(X[0], 1.0), True),
    "np.setdiff1d": lambda X: np.setdiff1d(np.concatenate([X[0], X[1]]), X[0, 1:3]),
    "np.setdiff1d assume_unique": lambda X: np.setdiff1d(X.ravel(), X[2], assume_unique=True),
    "np.setxor1d": lambda X: np.setxor1d(X[0], np.concatenate([X[0, :2], X[1]])),
    "np.setxor1d assume_unique": lambda X: np.setxor1d(X[0], X[1], assume_unique=True),
}


@pytest.mark.parametrize("case", list(MORE), ids=list(MORE))
def test_more_front_doors_against_central_differences(case):
    CASES[case] = MORE[case]
    try:
        with np.errstate(all="ignore"):
            test_value_and_every_mode_against_central_differences(case)
    finally:
        del CASES[case]


def test_nan_to_num_replaces_non_finite_entries_by_constants():
    # autograd's test_nan_to_num: a NaN/inf constant is refused unless check_finite is off;
    # then the replaced entries have derivative 0 and the others the function's
    x = np.array([0.3, -0.2, 0.9, 0.4])
    y = np.array([0.0, np.nan, np.inf, -np.inf])
    f = lambda x: np.sin(np.nan_to_num(x + y, posinf=7.0))  # noqa: E731
    with pytest.raises(ValueError, match="NaN or inf"):
        kronvec.grad(lambda x: np.sum(f(x)))(x)
    with kronvec.config.override(check_finite=False):
        np.testing.assert_array_equal(kronvec.vjp(f, x)[0], f(x))
        g = kronvec.grad(lambda x: np.sum(f(x)))(x)
    np.testing.assert_allclose(g, [np.cos(0.3), 0.0, 0.0, 0.0], rtol=1e-15)


def test_quantile_ties_share_the_weight_and_refusals():
    # conventions.md §7, as the median: tied order statistics share their weight evenly
    x = np.array([1.0, 2.0, 2.0, 5.0])
    np.testing.assert_allclose(kronvec.grad(lambda x: np.quantile(x, 0.5))(x), [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(kronvec.grad(lambda x: np.quantile(x, 0.4))(x), [0.0, 0.5, 0.5, 0.0])  # p = 1.2
    # p = 2.7: 0.3 on the 3rd order statistic (2.0, tied: 0.15 each), 0.7 on the 4th
    np.testing.assert_allclose(kronvec.grad(lambda x: np.percentile(x, 90))(x), [0.0, 0.15, 0.15, 0.7])
    with pytest.raises(TypeError, match="np.quantile.*method"):  # (the discontinuous inverted_cdf family)
        kronvec.grad(lambda x: np.quantile(x, 0.5, method="inverted_cdf"))(x)
    with pytest.raises(TypeError, match="not in q"):
        kronvec.grad(lambda q: np.quantile(x, q))(0.5)
    with pytest.raises(ValueError, match="range"):
        kronvec.grad(lambda x: np.percentile(x, 120))(x)
    with kronvec.config.override(check_finite=False):
        with pytest.raises(ValueError, match="np.nanmedian"):
            kronvec.grad(lambda x: np.nanmedian(x * np.array([1.0, np.nan, 1.0, 1.0])))(x)


# Entries moved, chosen or summed by NumPy functions written as one gather, np.select,
# a functional assignment or a scatter-add (derivatives.md §11, §19, §28).  X is in (0.5, 1.5):
# X − 1 has entries of both signs, so the conditions below pick every piece.
PLACED = {
    "np.insert scalar obj along an axis": lambda X: np.insert(X, 1, 5.0, axis=1),
    "np.insert repeated, negative indices": lambda X: np.insert(X, [0, 2, 2, -1], [1.0, 2.0, 3.0, 4.0], axis=1),
    "np.insert traced values (a row)": lambda X: np.insert(X, 1, X[1] ** 2, axis=0),
    "np.insert flat (axis None)": lambda X: np.insert(X, [1, -1], X[0, :2] * 2.0),
    "np.insert boolean obj": lambda X: np.insert(X, np.array([True, False, True]), -X[2], axis=0),
    "np.insert traced values into a constant": lambda X: np.insert(np.ones(3), 1, X[0, :2]),
    # (a list mixing traced entries and numbers was refused with a message about np.asarray)
    "np.insert a list of traced entries and numbers": lambda X: np.insert(X[0], [0, 2], [X[1, 1], 5.0]),
    "np.insert a nested list with traced entries": lambda X: np.insert(X, 1, [[X[2, 0]], [7.0], [X[0, 2]]], axis=1),
    "np.resize larger (repeats)": lambda X: np.resize(X, (5, 5)),
    "np.resize smaller, flat": lambda X: np.resize(X, 7),
    "np.trim_zeros 1-D": lambda X: np.trim_zeros(np.concatenate([np.zeros(2), X[0], np.zeros(1)])),
    "np.trim_zeros front only": lambda X: np.trim_zeros(np.concatenate([np.zeros(2), X[0], np.zeros(1)]), "f"),
    "np.trim_zeros back only": lambda X: np.trim_zeros(np.concatenate([np.zeros(2), X[0], np.zeros(1)]), "b"),
    "np.trim_zeros 2-D box": lambda X: np.trim_zeros(np.pad(X, ((1, 2), (0, 1)))),
    "np.trim_zeros 2-D, one axis": lambda X: np.trim_zeros(np.pad(X, 1), axis=1),
    "np.choose": lambda X: np.choose([[0, 1, 2, 0], [1, 1, 0, 2], [2, 2, 2, 0]], [X, 2.0 * X, X ** 2]),
    "np.choose broadcast with a number": lambda X: np.choose([0, 1, 0, 1], [X, 0.5]),
    "np.choose from a traced array's rows": lambda X: np.choose([2, 0, 1, 1], X),
    "np.choose wrap": lambda X: np.choose([0, 3, -1, 1], [X[0], X[1]], mode="wrap"),
    "np.choose clip": lambda X: np.choose([0, 3, -1, 1], [X[0], X[1]], mode="clip"),
    "np.piecewise with otherwise": lambda X: np.piecewise(X - 1, [X < 0.8, X > 1.2], [lambda x: x ** 2, np.sin, 0.25]),
    "np.piecewise, functions only": lambda X: np.piecewise(X - 1, [X < 1.0, X >= 1.0], [np.sin, lambda x: 3.0 * x]),
    "np.piecewise, a piece nothing takes": lambda X: np.piecewise(X, [X > 9.0], [np.exp, lambda x: x * x]),
    "np.bincount weights": lambda X: np.bincount([0, 2, 2, 5], weights=X[0], minlength=7),
    "np.bincount weights, no minlength": lambda X: np.bincount([3, 0, 3, 1], weights=X[1] * X[2]),
    # (NumPy counts booleans as 0 and 1; kronvec took them for a mask: IndexError)
    "np.bincount of booleans, weights": lambda X: np.bincount(np.array([True, False, True, True]), weights=X[0]),
    "np.astype float64": lambda X: np.astype(X, np.float64) * X,
    "np.add.at, repeated indices": lambda X: _scatter_added(X),
    "np.apply_along_axis, scalar results": lambda X: np.apply_along_axis(lambda v: np.sum(v ** 2), 0, X),
    "np.apply_along_axis, vector results": lambda X: np.apply_along_axis(np.cumsum, 1, X),
    "np.apply_along_axis, matrix results (3-D)": lambda X: np.apply_along_axis(
        lambda v: np.outer(v, v[:2]), 1, np.stack([X, 2.0 * X])),
    "np.apply_over_axes": lambda X: np.apply_over_axes(np.sum, np.stack([X, X ** 2]), [0, -1]),
    # NumPy computes only where the mask holds (the divisions by zero are never made)
    "np.divide out= where= (safe division)": lambda X: np.divide(
        X, X[0] * [1.0, 0.0, 1.0, 0.0], out=np.zeros_like(X), where=[True, False, True, False]),
    "np.exp out= where= into the input's copy": lambda X: _masked_exp(X),
}


def _masked_exp(X):
    Y = X.copy()
    np.exp(X, out=Y, where=X > 1.0)
    np.multiply(Y, X[0], out=Y, where=[[True], [False], [True]])
    return Y


def _scatter_added(X):
    # unbuffered: the entry named twice receives both values (X[idx] += v would keep one)
    Y = np.zeros_like(X)
    np.add.at(Y, ([0, 0, 2], [1, 1, 3]), X[0, :3] ** 2)
    np.subtract.at(Y, (slice(None), 0), X[:, 2])
    Z = X.copy()
    np.add.at(Z, [1, 1], 2.0)
    return Y + Z


@pytest.mark.parametrize("case", list(PLACED), ids=list(PLACED))
def test_placed_entries_against_central_differences(case):
    CASES[case] = PLACED[case]
    try:
        test_value_and_every_mode_against_central_differences(case)
    finally:
        del CASES[case]


def test_jacobians_of_placed_entries_stay_selections_at_scale():
    # structure at n = 1000: a gather, np.select on X and Xᵀ and a scatter-add are 0/1 maps
    # and diagonals — their Jacobians are built and turned sparse without an n² × n² matrix
    # (nonzeros: one per output entry of X's, and one per weight of np.bincount)
    n = 1000
    Y = np.random.default_rng(3).standard_normal((n, n))
    cases = ((lambda X: np.insert(X, [1, 5], 0.0, axis=1), n * n),
             (lambda X: np.choose((np.arange(n) % 2)[None, :], [X, X.T]), n * n),
             (lambda X: np.bincount(np.arange(n) % 7, weights=X[0]), n))
    for f, nonzeros in cases:
        J = kronvec.jacobian(f)(Y)
        assert J.shape == (np.size(f(Y)), n * n)
        S = J.tosparse()
        assert S.nnz == nonzeros
        w = np.random.default_rng(4).standard_normal(J.shape[0])
        np.testing.assert_allclose(S.T @ w, J.rmatvec(w), rtol=1e-14, atol=1e-14)


def test_values_read_off_the_point_are_numpys_and_carry_no_derivative():
    # np.all, np.any, np.count_nonzero, np.nonzero & co. read x itself (not a comparison
    # of it): NumPy's answer on the plain values, a constant of the point
    x = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, np.inf]])[:, :2] + np.array([0.0, 0.5])
    seen = {}

    def f(x):
        seen.update(all=np.all(x), any=np.any(x, axis=0), all_method=x.all(), any_method=x.any(),
                    count=np.count_nonzero(x, axis=1), nonzero=np.nonzero(x), nonzero_method=x.nonzero(),
                    flat=np.flatnonzero(x), argwhere=np.argwhere(x), posinf=np.isposinf(x),
                    neginf=np.isneginf(x), tril=np.tril_indices_from(x), triu=np.triu_indices_from(x, 1),
                    diag=np.diag_indices_from(x))
        return np.sum(x * np.count_nonzero(x))

    g = kronvec.grad(f)(x)
    np.testing.assert_array_equal(g, np.full_like(x, np.count_nonzero(x)))
    expected = dict(all=np.all(x), any=np.any(x, axis=0), all_method=x.all(), any_method=x.any(),
                    count=np.count_nonzero(x, axis=1), nonzero=np.nonzero(x), nonzero_method=x.nonzero(),
                    flat=np.flatnonzero(x), argwhere=np.argwhere(x), posinf=np.isposinf(x),
                    neginf=np.isneginf(x), tril=np.tril_indices_from(x), triu=np.triu_indices_from(x, 1),
                    diag=np.diag_indices_from(x))
    for name, value in expected.items():
        np.testing.assert_array_equal(seen[name], value, err_msg=name)
        assert type(seen[name]) is type(value), name


def test_placing_refusals_name_the_function_and_the_reason():
    x = np.ones((2, 3))
    with pytest.raises(TypeError, match="np.insert needs plain indices"):
        kronvec.grad(lambda x: np.sum(np.insert(x, x[0, 0], 1.0)))(x)
    with pytest.raises(TypeError, match="np.insert into an array of dtype int64"):
        kronvec.grad(lambda x: np.sum(np.insert(np.arange(3), 1, x[0, 0])))(x)
    with pytest.raises(IndexError):  # NumPy's own bound check
        kronvec.grad(lambda x: np.sum(np.insert(x, 9, 1.0, axis=1)))(x)
    with pytest.raises(TypeError, match="np.pad needs a plain end_values"):  # (it said constant_values)
        kronvec.grad(lambda x: np.sum(np.pad(x, 1, mode="linear_ramp", end_values=x[0, 0])))(x)
    with pytest.raises(TypeError, match="np.choose needs plain integer indices"):
        kronvec.grad(lambda x: np.sum(np.choose(x[0], [x[0], x[1]])))(x)
    with pytest.raises(ValueError, match="invalid entry in choice array"):
        kronvec.grad(lambda x: np.sum(np.choose([0, 2, 1], [x[0], x[1]])))(x)
    with pytest.raises(ValueError, match="clipmode"):
        kronvec.grad(lambda x: np.sum(np.choose([0, 1, 1], [x[0], x[1]], mode="nearest")))(x)
    with pytest.raises(TypeError, match="np.choose.*out"):
        kronvec.grad(lambda x: np.sum(np.choose([0, 1, 1], [x[0], x[1]], out=np.empty(3))))(x)
    with pytest.raises(ValueError, match="np.piecewise: with 1 condition"):
        kronvec.grad(lambda x: np.sum(np.piecewise(x, [x > 0], [np.sin, np.cos, np.tan])))(x)
    with pytest.raises(TypeError, match="np.bincount counts plain non-negative integers"):
        kronvec.grad(lambda x: np.sum(np.bincount(x[0])))(x)
    with pytest.raises(ValueError, match="np.bincount: the weights and list"):
        kronvec.grad(lambda x: np.sum(np.bincount([0, 1], weights=x[0])))(x)
    with pytest.raises(ValueError):  # NumPy's own check of negative counts
        kronvec.grad(lambda x: np.sum(np.bincount([0, -1, 1], weights=x[0])))(x)
    with pytest.raises(ValueError, match="unexpected character"):
        kronvec.grad(lambda x: np.sum(np.trim_zeros(x[0], "x")))(x)
    with pytest.raises(TypeError, match=r"np\.add with keyword arguments \['where'\]"):  # (no out=: undefined entries)
        kronvec.grad(lambda x: np.sum(np.add(x, 1.0, where=x > 0)))(x)
    with pytest.raises(TypeError, match="where= must be a boolean array"):
        kronvec.grad(lambda x: np.sum(np.add(x, 1.0, out=x.copy(), where=np.ones((2, 3)))))(x)
    with pytest.raises(ValueError, match="must broadcast to out's shape"):
        kronvec.grad(lambda x: np.sum(np.add(x, 1.0, out=x[0].copy(), where=x[0] > 0)))(x)
    with pytest.raises(TypeError, match=r"np\.multiply\.at"):
        kronvec.grad(lambda x: np.sum(np.multiply.at(x.copy(), [0], 2.0) or x))(x)
    with pytest.raises(TypeError, match=r"np\.add\.at on a plain array"):
        kronvec.grad(lambda x: np.sum(np.add.at(np.zeros(3), [0], x[0, 0]) or x))(x)
    with pytest.raises(ValueError, match="np.apply_along_axis: func1d returned results of different shapes"):
        kronvec.grad(lambda x: np.sum(np.apply_along_axis(lambda v: v[: int(v[0] > 0.5) + 1], 1,
                                                          x * [[1.0], [0.0]])))(x)


def test_a_domain_edge_discarded_later_is_refused_with_the_safe_spelling():
    # np.where(x > 0, np.log(x), 0) computes log at x ≤ 0 before discarding it: kronvec refuses
    # (no NaN may reach a derivative) and names the spelling that keeps the argument in the
    # domain — which gives NumPy's value and the branch's derivative
    x = np.array([[1.5, -1.0], [0.0, 3.0]])
    with pytest.raises(ValueError, match=r"np\.log is not finite.*np\.where\(x > 0, np\.log\(np\.where"):
        kronvec.grad(lambda x: np.sum(np.where(x > 0, np.log(x), 0.0)))(x)
    safe = lambda x: np.sum(np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), 0.0))  # noqa: E731
    with np.errstate(all="ignore"):
        assert safe(x) == np.sum(np.where(x > 0, np.log(x), 0.0))
    np.testing.assert_array_equal(kronvec.grad(safe)(x), [[1 / 1.5, 0.0], [0.0, 1 / 3.0]])


# ------------------------------------------------------------ unique, at its ties
def test_unique_ties_share_the_derivative_evenly():
    # conventions.md §7: a value shared by c equal entries gives each 1/c (their mean's derivative)
    x = np.array([2.0, 1.0, 2.0, 5.0, 2.0])
    w = np.array([1.0, 10.0, 100.0])
    expected = np.array([10 / 3, 1.0, 10 / 3, 100.0, 10 / 3])
    for f in (np.unique, np.unique_values, lambda x: np.unique(x, return_index=True)[0],
              lambda x: np.unique_all(x).values, lambda x: np.unique(x[:, None], axis=0)[:, 0]):
        np.testing.assert_allclose(kronvec.grad(lambda x: np.sum(w * f(x)))(x), expected, rtol=1e-15)
        J = kronvec.jacobian(f)(x).toarray()
        np.testing.assert_allclose(J.T @ w, expected, rtol=1e-15)
        # along a direction keeping the ties (v equal on the tied entries), J v is the derivative
        v = np.array([0.3, -1.0, 0.3, 2.0, 0.3])
        expected_jvp = (f(x + 1e-3 * v) - f(x - 1e-3 * v)) / 2e-3
        np.testing.assert_allclose(J @ v, expected_jvp, rtol=1e-9)
        np.testing.assert_allclose(kronvec.jvp(f, (x,), (v,))[1], expected_jvp, rtol=1e-9)


def test_unique_subarrays_tied_share_evenly():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]])
    J = kronvec.jacobian(lambda X: np.unique(X, axis=0))(X).toarray()
    # output rows (1, 2) and (3, 4); vec runs over rows first: X's entries (0,0),(1,0),(2,0),(0,1)…
    expected = np.zeros((4, 6))
    expected[0, [0, 2]] = expected[2, [3, 5]] = 0.5
    expected[1, 1] = expected[3, 4] = 1.0
    np.testing.assert_array_equal(J, expected)


def test_unique_values_are_numpys_bit_for_bit():
    # −0.0 and 0.0 are one group: NumPy reports the one its sort met, and so does kronvec
    for x in (np.array([0.0, -0.0, 1.0, 0.0]), np.array([-0.0, 0.0, 1.0]), np.array([1.0]), np.array([])):
        for f in (np.unique, np.unique_values, lambda x: np.unique(x, return_index=True)[0],
                  lambda x: np.unique(x, return_inverse=True)[0], lambda x: np.unique_counts(x).values):
            got, expected = kronvec.vjp(f, x)[0], f(x)
            np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def test_unique_integer_outputs_are_numpys():
    X = np.array([[3.0, 1.0], [3.0, 2.0], [3.0, 1.0]])
    seen = {}

    def f(X):
        seen["all"] = np.unique_all(X)
        seen["rows"] = np.unique(X, return_index=True, return_inverse=True, return_counts=True, axis=0)
        return seen["all"].values

    kronvec.jacobian(f)(X)
    for got, expected in zip(seen["all"][1:], np.unique_all(X)[1:]):
        np.testing.assert_array_equal(got, expected)
        assert type(got) is np.ndarray
    for got, expected in zip(seen["rows"][1:], np.unique(X, True, True, True, axis=0)[1:]):
        np.testing.assert_array_equal(got, expected)


def test_unique_refusals():
    with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
        kronvec.grad(lambda X: np.sum(np.unique(X, axis=2)))(X)
    with pytest.raises(np.exceptions.AxisError, match="axis 1 is out of bounds"):
        kronvec.grad(lambda X: np.sum(np.unique(X[0], axis=1)))(X)
    # the output's length is a decision on the values: a compiled recording cannot replay it
    with pytest.raises(TypeError, match="cannot compile.*np.unique"):
        kronvec.grad(lambda X: np.sum(np.unique(X)), compile=True)(X)
    with pytest.raises(TypeError, match="cannot compile.*np.lexsort"):
        kronvec.grad(lambda X: np.sum(X[0] * np.lexsort(X)), compile=True)(X)


def test_add_at_is_numpys_unbuffered_sum_bit_for_bit():
    # an entry named k times receives v k times in NumPy's order, ((y + v₁) + v₂) + v₃: adding
    # the scatter-add's sum v₁ + v₂ + v₃ once rounds differently (found by a random sweep)
    rng = np.random.default_rng(11)
    y, v = rng.standard_normal(3), rng.standard_normal(40)
    index = rng.integers(0, 3, 40)

    def f(y):
        z = y.copy()
        np.add.at(z, index, v * y[0])
        np.subtract.at(z, index[::-1], v)
        return z

    np.testing.assert_array_equal(kronvec.vjp(f, y)[0], f(y))
    J = kronvec.jacobian(f)(y).toarray()
    np.testing.assert_allclose(J, central_difference_jacobian(f, (y,)), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("f", [lambda x: np.sum(x, axis=2), lambda x: np.apply_along_axis(np.sum, -3, x),
                               lambda x: np.cumsum(x, axis=5), lambda x: np.flip(x, axis=2)],
                         ids=["sum", "apply_along_axis", "cumsum", "flip"])
def test_an_axis_out_of_range_is_numpys_axis_error(f):
    # np.exceptions.AxisError, as NumPy raises it: code catching it (or ValueError, IndexError) still does
    with pytest.raises(np.exceptions.AxisError, match="out of bounds"):
        kronvec.grad(lambda x: np.sum(f(x)))(np.ones((2, 3)))


# np.linalg.tensorsolve and tensorinv: NumPy's reshape to a square matrix, one solve or
# inverse, and a reshape back (derivatives.md §35).
_A236 = np.random.default_rng(35).standard_normal((2, 3, 6)) + 3.0 * np.eye(6).reshape(6, 2, 3).transpose(1, 2, 0)
_B23 = np.random.default_rng(36).standard_normal((2, 3))
_T2323 = np.random.default_rng(37).standard_normal((2, 3, 6)).reshape(2, 3, 2, 3) + 3.0 * np.eye(6).reshape(2, 3, 2, 3)


@pytest.mark.parametrize("name, f, args", [
    ("tensorsolve in a", lambda a: np.linalg.tensorsolve(a, _B23), (_A236,)),
    ("tensorsolve in b", lambda b: np.linalg.tensorsolve(_A236, b), (_B23,)),
    ("tensorsolve axes", lambda a: np.linalg.tensorsolve(np.moveaxis(a, 2, 0), _B23, axes=(0,)), (_A236,)),
    ("tensorinv ind=2", lambda t: np.linalg.tensorinv(t, ind=2), (_T2323,)),
    ("tensorinv ind=1", lambda a: np.linalg.tensorinv(a.reshape(6, 2, 3), ind=1), (_A236,)),
])
def test_tensorsolve_and_tensorinv_against_numpy_and_central_differences(name, f, args):
    (X,) = args
    value, pullback = kronvec.vjp(f, X)
    # (to rounding, not bit for bit: kronvec inverts with getrf + getri, NumPy with gesv
    # of the identity; a vector right-hand side is getrs in both, and equal)
    np.testing.assert_allclose(value, f(X), rtol=1e-13, atol=1e-15)
    J = kronvec.jacobian(f)(X)
    expected = central_difference_jacobian(lambda a: np.asarray(f(a), dtype=np.float64), (X,))
    np.testing.assert_allclose(J.toarray(), expected, rtol=1e-6, atol=1e-8)
    W = np.random.default_rng(5).uniform(0.5, 1.5, np.shape(value))
    np.testing.assert_allclose(pullback(W)[0].reshape(-1, order="F"), expected.T @ W.reshape(-1, order="F"),
                               rtol=1e-6, atol=1e-8)
    s = lambda a: np.sum(W * np.sin(f(a)))  # noqa: E731
    np.testing.assert_allclose(kronvec.hessian(s)(X).toarray(), central_difference_jacobian(kronvec.grad(s), (X,)),
                               rtol=1e-5, atol=1e-7)


def test_tensorsolve_and_tensorinv_refusals_are_numpys():
    with pytest.raises(np.linalg.LinAlgError, match="prod\\(a.shape\\[b.ndim:\\]\\)"):
        kronvec.jacobian(lambda a: np.linalg.tensorsolve(a, np.ones(4)))(_A236)
    with pytest.raises(ValueError, match="Invalid ind"):
        kronvec.jacobian(lambda t: np.linalg.tensorinv(t, ind=0))(_T2323)
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        kronvec.jacobian(lambda t: np.linalg.tensorinv(0.0 * t))(_T2323)


def test_set_routines_give_numpys_values_and_refuse_nothing_plain():
    a, b = np.array([3.0, 1.0, 2.0, 3.0, 5.0]), np.array([2.0, 7.0, 3.0, 0.0])
    for f in (np.union1d, np.intersect1d, np.setdiff1d, np.setxor1d):
        for first, second in ((a, b), (b, a)):
            np.testing.assert_array_equal(kronvec.vjp(lambda x: f(x, second), first)[0], f(first, second))
    # the value 3.0 sits twice in a and once in b: a's copies take ¼ each, b's ½
    J = kronvec.jacobian(lambda x: np.intersect1d(x[:5], x[5:]))(np.concatenate([a, b])).toarray()
    np.testing.assert_array_equal(J[1], [0.25, 0, 0, 0.25, 0, 0, 0, 0.5, 0])


@pytest.mark.parametrize("traced", ["x", "fp"])
def test_interp_computes_in_float64_as_numpy_does(traced):
    # NumPy interpolates float32 inputs in float64 (found by an adversarial sweep: kronvec's
    # float64 result carried float32 rounding)
    x = np.array([0.3, 2.2], np.float32)
    fp = np.array([0.1, -1.3, 2.5, 0.7], np.float32)
    f = (lambda x: np.interp(x, np.arange(4.0), fp)) if traced == "x" else (lambda f: np.interp(x, np.arange(4.0), f))
    argument = x if traced == "x" else fp
    out, _ = kronvec.vjp(f, argument)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, f(argument))


def test_a_traced_argument_numpy_does_not_dispatch_on_is_refused_naming_the_function():
    # np.interp dispatches on x, xp, fp only: with those plain, NumPy's own C code meets a
    # traced left= and calls float() on it — the error names np.interp, not float()
    x = np.array([0.5, 1.5])
    with pytest.raises(TypeError, match=r"cannot differentiate np\.interp in this argument"):
        kronvec.grad(lambda x: np.sum(np.interp([-1.0, 0.5], [0.0, 1.0], [1.0, 3.0], left=x[0])))(x)
