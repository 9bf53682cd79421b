"""Moving entries (issue 12): shape, indexing, joining and assignment.

What the registry sweep cannot say: every NumPy spelling gives NumPy's own
value (exactly: these operations only move entries) and a derivative that
matches finite differences to every order; arguments kronvec does not
implement are refused by name; writes (``X[key] = v``, ``X += Y``,
``np.fill_diagonal``…) are recorded functionally with NumPy's aliasing
semantics, or refused loudly where a recording cannot follow NumPy (stale
views, writes into plain arrays); Jacobians stay 0/1 selections
at scale (a 1000×1000 input in O(n²) memory); ties in sorting follow the
stable order.

Tolerances as in tests/test_registry.py: central differences with h = 1e-6
err by ~1e-10 relative for these O(1), smooth compositions; FD_RTOL = 1e-6.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import kronvec
from kronvec import Commutation, Dense, Identity, Selection
from kronvec.operators import SelectionTranspose
from kronvec._vec import vec

from _helpers import check_value_and_derivatives, jacobian_and_peak_memory

FD_RTOL = 1e-6
RNG = np.random.default_rng(12)
X34 = RNG.standard_normal((3, 4))
X33 = RNG.standard_normal((3, 3))
X234 = RNG.standard_normal((2, 3, 4))
V5 = RNG.standard_normal(5)


def _weights(shape, seed):
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)


def _check_value_and_derivatives(f, X, third=False):
    return check_value_and_derivatives(f, X, FD_RTOL, third)


# --------------------------------------------- every spelling: value, derivatives
SPELLINGS = {
    # joining
    "concatenate axis=None": (lambda X: np.concatenate([X, 2.0 * X[:2]], axis=None), X34),
    "concatenate axis=-1": (lambda X: np.concatenate([X, X[:, :1]], axis=-1), X34),
    "concat (NumPy 2 alias)": (lambda X: np.concat([X[1:], X], axis=0), X34),
    "concatenate with a list constant": (lambda X: np.concatenate([X[0], [1.0, 2.0]]), X34),
    "concatenate dtype=": (lambda X: np.concatenate([X, [[1, 2, 3, 4]]], dtype=np.float64), X34),
    "stack dtype=": (lambda X: np.stack([X, X[::-1]], axis=1, dtype="f8"), X34),
    "hstack dtype=": (lambda X: np.hstack([X, np.ones((3, 1))], dtype=float), X34),
    "take mode=wrap": (lambda X: np.take(X, [[0, 13], [-14, 5]], mode="wrap"), X34),
    "take mode=clip along an axis": (lambda X: np.take(X, [7, -9, 1], axis=1, mode="clip"), X34),
    "ndarray.take mode=clip": (lambda X: X.take([0, 99, -3], mode="clip"), X34),
    "stack axis=-1": (lambda X: np.stack([X, np.ones((3, 4)), X.T.T], axis=-1), X34),
    "vstack": (lambda X: np.vstack([X[0], X, X[1:2]]), X34),
    "hstack of vectors": (lambda X: np.hstack([X[0], X[1], np.ones(2)]), X34),
    "hstack of matrices": (lambda X: np.hstack([X, X[:, :2]]), X34),
    "dstack": (lambda X: np.dstack([X, X[::-1]]), X34),
    "column_stack": (lambda X: np.column_stack([X[0], X[1], np.arange(4.0)]), X34),
    "block": (lambda X: np.block([[X, X[:, :1]], [X[:1], np.ones((1, 1))]]), X34),
    "block of vectors": (lambda X: np.block([X[0], X[1, :2]]), X34),
    "append": (lambda X: np.append(X, X[:1], axis=0), X34),
    "append flattened": (lambda X: np.append(X, [1.0, 2.0]), X34),
    # splitting (each piece a slice)
    "split": (lambda X: np.split(X, 2, axis=1)[1], X34),
    "split at indices": (lambda X: np.split(X, [1, 3], axis=1)[2], X34),
    "array_split": (lambda X: np.array_split(X, 2)[0], X34),
    "hsplit": (lambda X: np.hsplit(X, [1])[1], X34),
    "vsplit": (lambda X: np.vsplit(X, 3)[2], X34),
    "dsplit": (lambda X: np.dsplit(X, [3])[0], X234),
    "unstack": (lambda X: np.unstack(X, axis=1)[2], X34),
    "delete": (lambda X: np.delete(X, [0, 2], axis=1), X34),
    # repeating, tiling, padding
    "repeat": (lambda X: np.repeat(X, [1, 0, 2], axis=0), X34),
    "repeat flattened": (lambda X: np.repeat(X, 2), X34),
    "ndarray.repeat": (lambda X: X.repeat(2, axis=1), X34),
    "tile": (lambda X: np.tile(X, (2, 1, 2)), X34),
    "tile a scalar": (lambda X: np.tile(X[0, 0], 3), X34),
    "pad constant": (lambda X: np.pad(X, ((1, 0), (2, 1)), constant_values=((0.5, 1.0), (2.0, -1.0))), X34),
    "pad scalar width": (lambda X: np.pad(X, 1), X34),
    "pad edge": (lambda X: np.pad(X, (1, 2), mode="edge"), X34),
    "pad reflect": (lambda X: np.pad(X, 2, mode="reflect"), X34),
    "pad symmetric": (lambda X: np.pad(X, ((0, 2), (1, 1)), mode="symmetric"), X34),
    "pad wrap": (lambda X: np.pad(X, 1, mode="wrap"), X34),
    "pad maximum": (lambda X: np.pad(X, 2, mode="maximum"), X34),
    "pad minimum, stat_length pairs": (lambda X: np.pad(X, ((1, 2), (2, 1)), mode="minimum",
                                                        stat_length=((1, 2), (3, 1))), X34),
    "pad mean of a 3-D array": (lambda X: np.pad(X, (1, 2), mode="mean"), X234),
    "pad median, stat_length": (lambda X: np.pad(X, ((0, 2), (1, 0)), mode="median", stat_length=3), X34),
    "pad linear_ramp": (lambda X: np.pad(X, 2, mode="linear_ramp"), X34),
    "pad linear_ramp end_values": (lambda X: np.pad(X, (1, 3), mode="linear_ramp", end_values=(2.0, -1.0)), X234),
    # moving axes
    "swapaxes": (lambda X: np.swapaxes(X, 0, -1), X234),
    "ndarray.swapaxes": (lambda X: X.swapaxes(1, 2), X234),
    "moveaxis": (lambda X: np.moveaxis(X, [0, 1], [-1, -3]), X234),
    "rollaxis": (lambda X: np.rollaxis(X, 2, 1), X234),
    "matrix_transpose": (lambda X: np.matrix_transpose(X), X234),
    "permute_dims": (lambda X: np.permute_dims(X, (1, 2, 0)), X234),
    ".mT": (lambda X: X.mT, X234),
    "squeeze": (lambda X: np.squeeze(X[:, None, :1], axis=(1, 2)), X34),
    "expand_dims": (lambda X: np.expand_dims(X, (0, -1)), X34),
    "atleast_1d": (lambda X: np.atleast_1d(X[0, 0]), X34),
    "atleast_2d": (lambda X: np.atleast_2d(X[0]), X34),
    "atleast_3d of a vector": (lambda X: np.atleast_3d(X[0]), X34),
    "atleast_3d of a matrix": (lambda X: np.atleast_3d(X), X34),
    ".real": (lambda X: X.real * 2.0, X34),
    "np.real": (lambda X: np.real(X) * 2.0, X34),
    ".imag (zeros)": (lambda X: X + X.imag, X34),
    "np.real_if_close": (lambda X: np.real_if_close(X) * 2.0, X34),
    "np.angle (constant)": (lambda X: X * np.angle(X - 0.1) + np.angle(X, deg=True), X34),
    # flips, rotations, rolls
    "flip": (lambda X: np.flip(X), X234),
    "flip axes": (lambda X: np.flip(X, (0, 2)), X234),
    "fliplr": (lambda X: np.fliplr(X), X34),
    "flipud": (lambda X: np.flipud(X), X34),
    "rot90": (lambda X: np.rot90(X), X34),
    "rot90 k=2": (lambda X: np.rot90(X, 2), X34),
    "rot90 k=-1, axes (2, 0)": (lambda X: np.rot90(X, -1, axes=(2, 0)), X234),
    "roll": (lambda X: np.roll(X, 1, axis=0), X34),
    "roll flattened": (lambda X: np.roll(X, -5), X34),
    "roll two axes": (lambda X: np.roll(X, (1, -2), axis=(2, 0)), X234),
    "roll a repeated axis": (lambda X: np.roll(X, (1, 2), axis=(1, 1)), X34),
    "roll by no shift": (lambda X: np.roll(X, ()), X34),  # (np.asarray(()) is float: was refused)
    "roll along no axis": (lambda X: np.roll(X, 1, axis=()), X234),
    # selecting
    "take": (lambda X: np.take(X, [2, 0, 2], axis=1), X34),
    "take flattened": (lambda X: np.take(X, [[5, 0], [11, 5]]), X34),
    "ndarray.take": (lambda X: X.take(1, axis=0), X34),
    "take_along_axis": (lambda X: np.take_along_axis(X, np.array([[3, 0], [1, 1], [2, 3]]), axis=1), X34),
    "take_along_axis axis=None": (lambda X: np.take_along_axis(X, np.array([0, 11, 5]), axis=None), X34),
    "diagonal": (lambda X: np.diagonal(X, 1), X34),
    "diagonal 3-D": (lambda X: np.diagonal(X, -1, axis1=2, axis2=0), X234),
    "ndarray.diagonal": (lambda X: X.diagonal(axis1=1, axis2=2), X234),
    "diag (extract)": (lambda X: np.diag(X, -1), X34),
    "diag (build)": (lambda X: np.diag(X[0], 1), X34),
    "diagflat": (lambda X: np.diagflat(X[:2, :2], -1), X34),
    "triu": (lambda X: np.triu(X, 1), X34),
    "tril 3-D": (lambda X: np.tril(X, -1), X234),
    "tril of a vector": (lambda X: np.tril(X[0]), X34),
    "trace offset": (lambda X: np.trace(X, 1), X34),
    "trace 3-D": (lambda X: np.trace(X, -1, axis1=2, axis2=1), X234),
    "sort": (lambda X: np.sort(X), X34),
    "sort axis=0": (lambda X: np.sort(X, axis=0, kind="mergesort"), X34),
    "sort axis=None": (lambda X: np.sort(X, axis=None), X34),
    "partition": (lambda X: np.partition(X, 1), X34),
    "partition kth list, axis=0": (lambda X: np.partition(X, [0, 2], axis=0), X34),
    "indexing": (lambda X: X[[2, 0], 1:][:, ::-2], X34),
    "copy": (lambda X: X.copy(), X34),
    "flatten": (lambda X: X.flatten(), X34),
    "reshape copy=True": (lambda X: np.reshape(X, (4, 3), copy=True), X34),
}


@pytest.mark.parametrize("name", sorted(SPELLINGS))
def test_each_spelling_gives_numpys_value_and_its_derivatives(name):
    f, X = SPELLINGS[name]
    _check_value_and_derivatives(f, X)


@pytest.mark.parametrize("name", ["pad constant", "roll two axes", "sort", "block", "tile", "rot90"])
def test_third_order(name):
    f, X = SPELLINGS[name]
    _check_value_and_derivatives(f, X, third=True)


PURE_MOVES = ["concat (NumPy 2 alias)", "vstack", "hstack of matrices", "dstack", "append", "split",
              "split at indices", "array_split", "hsplit", "vsplit", "dsplit", "unstack", "delete", "repeat",
              "repeat flattened", "ndarray.repeat", "tile", "tile a scalar", "pad scalar width", "pad edge",
              "pad reflect", "pad symmetric", "pad wrap", "swapaxes", "ndarray.swapaxes", "moveaxis",
              "rollaxis", "matrix_transpose", "permute_dims", ".mT", "squeeze", "expand_dims", "atleast_1d",
              "atleast_2d", "atleast_3d of a vector", "atleast_3d of a matrix", "flip", "flip axes", "fliplr",
              "flipud", "rot90", "rot90 k=2", "rot90 k=-1, axes (2, 0)", "roll", "roll flattened",
              "roll two axes", "roll a repeated axis", "take", "take flattened", "ndarray.take",
              "take_along_axis", "take_along_axis axis=None", "diagonal", "diagonal 3-D", "ndarray.diagonal",
              "diag (extract)", "diag (build)", "diagflat", "sort", "sort axis=0", "sort axis=None",
              "partition", "partition kth list, axis=0", "indexing", "copy", "flatten", "reshape copy=True"]


@pytest.mark.parametrize("name", PURE_MOVES)
def test_moving_entries_has_a_0_1_jacobian_with_one_entry_per_row_at_most(name):
    f, X = SPELLINGS[name]
    dense = kronvec.jacobian(f)(X).toarray()
    assert set(np.unique(dense)) <= {0.0, 1.0}
    assert (dense.sum(axis=1) <= 1).all()


def test_the_split_family_returns_lists_of_traced_pieces():
    def f(X):
        pieces = np.split(X, [1, 2], axis=1)
        assert isinstance(pieces, list) and len(pieces) == 3
        return np.concatenate([2.0 * pieces[2], pieces[0], 3.0 * pieces[1]], axis=1)

    _check_value_and_derivatives(f, X34)
    with pytest.raises(ValueError, match="equal division"):
        kronvec.grad(lambda X: np.sum(np.split(X, 3, axis=1)[0]))(X34)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        kronvec.grad(lambda X: np.sum(np.vsplit(X[0], 2)[0]))(X34)


@pytest.mark.parametrize("join", [np.concatenate, np.stack, np.vstack, np.hstack, np.dstack, np.column_stack])
def test_one_traced_array_passed_to_a_joiner_is_the_sequence_of_its_rows(join):
    # NumPy iterates an array given where a sequence is expected: np.vstack(X) joins X's rows.
    np.testing.assert_array_equal(kronvec.vjp(join, X34)[0], join(X34))
    _check_value_and_derivatives(lambda X: join(X) ** 2, X34)
    with pytest.raises(TypeError, match="0-d"):
        kronvec.grad(lambda x: np.sum(join(x)))(np.array(1.5))


def test_atleast_keeps_plain_arguments_plain_and_returns_tuples_for_several():
    def f(X):
        a, b = np.atleast_2d(X[0], np.arange(3.0))
        assert type(b) is np.ndarray and b.shape == (1, 3)
        return a

    np.testing.assert_array_equal(kronvec.jacobian(f)(X34).toarray()[:, :1], [[1], [0], [0], [0]])


# -------------------------------------------------------------------- refusals
@pytest.mark.parametrize("call, named", [
    (lambda X: np.concatenate([X, X], dtype=np.int64), "same_kind"),  # (a float dtype=: SPELLINGS)
    (lambda X: np.concatenate([X, X], dtype=np.int64, casting="unsafe"), "dtype"),
    (lambda X: np.concatenate([X, X], casting="unsafe"), "casting"),
    (lambda X: np.stack([X, X], out=np.empty((2, 3, 4))), "out"),
    (lambda X: np.vstack([X, X], dtype=np.float32, casting="safe"), "safe"),
    (lambda X: np.hstack([X, X], casting="no"), "casting"),
    (lambda X: np.sort(X, order="a"), "order"),
    (lambda X: np.partition(X, 1, order="a"), "order"),
    (lambda X: np.take(X, [0], out=np.empty(1)), "out"),
    (lambda X: np.pad(X, 1, mode="empty"), "mode"),
    (lambda X: np.pad(X, 1, mode="reflect", reflect_type="odd"), "reflect_type"),
    (lambda X: np.reshape(X, -1, order="A"), "order"),
])
def test_unimplemented_arguments_are_refused_by_name(call, named):
    with pytest.raises(TypeError, match=named):
        kronvec.grad(lambda X: np.sum(call(X)))(X34)


@pytest.mark.parametrize("call", [
    lambda X: np.repeat(X, X[0, :1].astype(np.float64)),
    lambda X: np.roll(X, X[0, 0]),
    lambda X: np.take(X, X[0]),
    lambda X: np.tile(X, X[0]),
    lambda X: np.pad(X, 1, constant_values=X[0, 0]),
    lambda X: np.split(X, X[0]),
    lambda X: X[X[0, 0]],
])
def test_traced_counts_indices_and_pad_values_are_refused(call):
    with pytest.raises(TypeError, match="traced|plain"):
        kronvec.grad(lambda X: np.sum(call(X)))(X34)


@pytest.mark.parametrize("call, error", [
    (lambda X: np.concatenate([X, X], axis=2), ValueError),
    (lambda X: np.concatenate([X[0, 0], X[0, 1]]), ValueError),
    (lambda X: np.stack([X, X[:2]]), ValueError),
    (lambda X: np.fliplr(X[0]), ValueError),
    (lambda X: np.rot90(X, axes=(0, 0)), ValueError),
    (lambda X: np.moveaxis(X, [0, 1], [0]), ValueError),
    (lambda X: np.diagonal(X, axis1=1, axis2=-1), ValueError),
    (lambda X: np.diagonal(X[0]), ValueError),
    (lambda X: np.pad(X, -1), ValueError),
    (lambda X: np.block([[X], X]), ValueError),
    (lambda X: np.block([(X, X)]), TypeError),
    (lambda X: np.squeeze(X, axis=0), ValueError),
    (lambda X: np.swapaxes(X, 0, 2), ValueError),
])
def test_wrong_shapes_and_axes_are_value_errors(call, error):
    with pytest.raises(error):
        kronvec.grad(lambda X: np.sum(call(X)))(X34)


# ----------------------------------------------------- the index tricks, np.array
@pytest.mark.parametrize("trick", [
    lambda X: np.r_[X[0], X[1]],
    lambda X: np.c_[X[0], X[1]],
    lambda X: np.r_[X[0], 1.0, X[1, :2]],
])
def test_r_and_c_differentiate(trick):
    # np.r_/np.c_ call np.array on each piece: an object array of traced entries, lifted
    # where it meets kronvec (tests/test_object_arrays.py sweeps the spellings)
    _check_value_and_derivatives(lambda X: trick(X) + 0.0 * X[0, 0], X34)


def test_np_array_of_traced_values_differentiates():
    # NumPy asks each element for __array__: its entries, traced (notes/derivatives.md §29)
    _check_value_and_derivatives(lambda X: np.array([X[0], X[1]]) + 0.0 * X[0, 0], X34)
    _check_value_and_derivatives(lambda X: np.asarray([X[0, 0], X[1, 1]]) + 0.0 * X[0, 0], X34)
    _check_value_and_derivatives(lambda X: np.stack([X[0], X[1]]), X34)


# ------------------------------------------------------------------- assignment
ASSIGNMENTS = {}


def _assignment(function):
    ASSIGNMENTS[function.__name__] = function
    return function


@_assignment
def row_from_another_row(X):
    Y = X * 1.0
    Y[0] = 2.0 * X[1]
    return Y


@_assignment
def column_and_entry(X):
    Y = X.copy()
    Y[:, 1] = np.sin(X[:, 0])
    Y[1, 2] = 5.0
    return Y


@_assignment
def into_the_input(X):
    X[0, 0] = X[2, 3] ** 2
    return X * X


@_assignment
def augmented_operators(X):
    Y = X * 1.0
    Y += X
    Y *= X
    Y -= 1.0
    Y /= 2.0
    Y **= 2
    return Y


@_assignment
def augmented_matmul(X):
    Y = X[:, :3] * 1.0
    Y @= X[:3, :3]
    return Y


@_assignment
def augmented_slice(X):
    Y = X * 1.0
    Y[0, 1:3] += X[2, :2]
    return Y


@_assignment
def through_a_chained_index(X):
    Y = X * 1.0
    Y[0][1] = 7.0 * X[2, 2]  # Y[0] is a view: the write reaches Y, as in NumPy
    return Y


@_assignment
def through_a_transpose(X):
    Y = X * 1.0
    Y.T[0] = X[1, :3]
    return Y


@_assignment
def through_a_reversed_slice_held_by_a_name(X):
    Y = X * 1.0
    Z = Y[::-1, 1:]
    Z[0, 0] = 9.0
    Z[1] = X[0, :3]
    return Y + Z.sum()


@_assignment
def repeated_index_last_write_wins(X):
    Y = X.copy()
    Y[[0, 0, 2], [1, 1, 3]] = X[1, :3] ** 2
    return Y


@_assignment
def boolean_mask(X):
    Y = X.copy()
    Y[X > 0.3] = 0.5
    return Y


@_assignment
def broadcast_row_and_a_list_of_traced_numbers(X):
    Y = X * 1.0
    Y[1:] = X[0]
    Y[0, :2] = [X[1, 1], 2.0]
    return Y


@_assignment
def recurrence_in_a_loop(X):
    Y = X * 1.0
    for i in range(1, 3):
        Y[i] = Y[i - 1] * X[i]
    return Y


@_assignment
def whole_array(X):
    Y = X.copy()
    Y[...] = X[::-1]
    return Y * X


@_assignment
def fill_diagonal_traced(X):
    Y = X[:, :3].copy()
    np.fill_diagonal(Y, X[0, :3])
    return Y


@_assignment
def fill_diagonal_recycled_and_wrapped(X):
    Y = np.concatenate([X, X]).copy()
    np.fill_diagonal(Y, X[0, :2], wrap=True)
    return Y


@_assignment
def copyto_with_where(X):
    Y = X.copy()
    np.copyto(Y, 3.0 * X[0], where=X > 0)
    return Y


@_assignment
def put_and_put_along_axis(X):
    Y = X.copy()
    np.put(Y, [0, 5, -1, 5], X[2, :2])
    np.put_along_axis(Y, np.array([[1], [0], [3]]), X[:, 2:3] ** 2, axis=1)
    return Y


@_assignment
def put_with_boolean_indices(X):
    # NumPy reads boolean indices of np.put as the integers 1 and 0 (a.flat[1], a.flat[0]),
    # not as a mask; kronvec raised NumPy's IndexError of a mismatched boolean index
    Y = X.copy()
    np.put(Y, np.array([True, False, True]), X[0, :3] ** 2)
    return Y


@_assignment
def place_and_putmask(X):
    Y = X.copy()
    np.place(Y, X > 0, X[0, :3])
    np.putmask(Y, X < -0.5, 2.0 * X[::-1])
    return Y


@_assignment
def methods_fill_sort_partition_put(X):
    Y, Z, W = X.copy(), X.copy(), X.copy()
    Y.sort(axis=0)
    Z.partition(1)
    W.fill(2.0)
    W.put([1, 2], X[0, :2])
    return np.concatenate([Y, Z, W * X])




@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
def test_assignment_gives_numpys_value_and_its_derivatives(name):
    f = ASSIGNMENTS[name]
    X = X34 + 0.1
    _check_value_and_derivatives(f, X, third=name in ("row_from_another_row", "recurrence_in_a_loop"))


def test_a_float32_array_stays_float32_when_a_float64_value_is_written():
    def f(X):
        Y = X.astype(np.float32)
        Y[0] = X[1]  # cast into Y's dtype, as NumPy does
        assert Y.dtype == np.float32
        return Y

    out = kronvec.vjp(f, X34)[0]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, f(X34.copy()))
    expected = np.eye(12)
    expected[[0, 3, 6, 9]] = np.eye(12)[[1, 4, 7, 10]]  # row 0 of Y (vec positions 0, 3, 6, 9) ← row 1 of X
    np.testing.assert_array_equal(kronvec.jacobian(f)(X34).toarray(), expected)


def test_a_write_is_seen_by_aliases_and_not_by_earlier_results():
    def f(X):
        Y = X * 1.0
        alias = Y
        before = Y * 3.0  # computed before the write: keeps the old values
        Y[1] = 0.0
        assert alias is Y
        return alias + before

    G = kronvec.grad(lambda X: np.sum(f(X)))(X34)
    expected = np.full((3, 4), 4.0)
    expected[1] = 3.0
    np.testing.assert_array_equal(G, expected)


def test_an_input_assigned_into_keeps_its_gradient_and_the_callers_array():
    X = X34.copy()

    def f(X):
        X += 1.0
        X[0] = 0.0
        return np.sum(X * X)

    G = kronvec.grad(f)(X)
    expected = 2.0 * (X34 + 1.0)
    expected[0] = 0.0
    np.testing.assert_allclose(G, expected, rtol=1e-14)
    np.testing.assert_array_equal(X, X34)
    H = kronvec.hessian(f)(X).toarray()
    np.testing.assert_allclose(H, np.diag(vec(np.where(np.arange(3)[:, None] == 0, 0.0, 2.0) + 0 * X)))


def test_conj_of_a_real_array_is_the_array_itself_so_writes_reach_it():
    # NumPy's ndarray.conj() returns a real array itself (np.conjugate, the ufunc, copies)
    def f(X):
        Y = X * 1.0
        Z = Y.conj()
        Z[0] = X[1] ** 2
        W = Y.conjugate()
        W[:, 1] *= 3.0
        return Y

    expected = X34[1] ** 2 * np.array([1.0, 3.0, 1.0, 1.0])  # (NumPy's aliasing, which kronvec must follow)
    np.testing.assert_array_equal(f(X34.copy())[0], expected)
    _check_value_and_derivatives(f, X34)


def test_a_view_taken_before_a_write_is_stale_and_says_so():
    def stale(X):
        Y = X * 1.0
        v = Y[0]
        Y[0, 1] = 5.0
        return v  # NumPy would show the 5.0 through v

    with pytest.raises(TypeError, match="view .* assigned into after the view was taken"):
        kronvec.grad(lambda X: np.sum(stale(X)))(X34)
    for use in (lambda v: v > 0, lambda v: v + 1.0, lambda v: v.shape, lambda v: np.sum(v), lambda v: v[0]):
        def f(X, use=use):
            Y = X * 1.0
            v = Y.T
            Y[0, 0] = 1.0
            use(v)
            return np.sum(Y)

        with pytest.raises(TypeError, match="assigned into after"):
            kronvec.grad(f)(X34)


def test_a_view_that_is_not_used_after_the_write_and_a_copy_are_fine():
    def f(X):
        Y = X * 1.0
        unused = Y[0]  # noqa: F841 (a view, never used again)
        kept = Y[0].copy()
        Y[0, 1] = 5.0
        return kept + Y[0]

    G = kronvec.grad(lambda X: np.sum(f(X)))(X34)
    expected = np.zeros((3, 4))
    expected[0] = [2.0, 1.0, 2.0, 2.0]
    np.testing.assert_array_equal(G, expected)


def test_writes_through_reshapes_and_read_only_views_are_refused():
    def through_reshape(X):
        Y = X * 1.0
        Y.reshape(-1)[0] = 1.0
        return Y

    def through_diagonal(X):
        Y = X * 1.0
        np.diagonal(Y)[0] = 1.0
        return Y

    def through_broadcast(X):
        np.broadcast_to(X[0], (3, 4))[0, 0] = 1.0
        return X

    with pytest.raises(TypeError, match="reshape"):
        kronvec.grad(lambda X: np.sum(through_reshape(X)))(X34)
    for f in (through_diagonal, through_broadcast):
        with pytest.raises(ValueError, match="read-only"):
            kronvec.grad(lambda X: np.sum(f(X)))(X34)
    flat = lambda X: (lambda Y: (Y.__setitem__(0, 1.0), Y)[1])(X.flatten())  # noqa: E731 (a copy)
    np.testing.assert_array_equal(kronvec.grad(lambda X: np.sum(flat(X)))(X34).ravel(), [0] + [1] * 11)


def _write_entry(Y, x):
    Y[0, 1] = x


@pytest.mark.parametrize("write, what", [
    (lambda X, Y: np.add(Y, X, out=Y), "out="),
    (lambda X, Y: np.fill_diagonal(Y, X[0, 0]), "fill_diagonal"),
    (lambda X, Y: np.copyto(Y, X), "np.copyto"),
    (lambda X, Y: np.put(Y, [0], X[0, 0]), "np.put"),
    (lambda X, Y: _write_entry(Y, X[0, 0]), r"Y\[i\] = x"),  # (a traced scalar: NumPy's own error is
    (lambda X, Y: _write_entry(Y, X[0] @ X[1]), r"Y\[i\] = x"),  # a ValueError about a sequence)
])
def test_a_traced_value_written_into_a_plain_array_names_the_problem_and_the_remedy(write, what):
    def f(X):
        Y = np.zeros(X.shape)
        write(X, Y)
        return np.sum(Y)

    with pytest.raises(TypeError, match=what) as info:
        kronvec.grad(f)(X34)
    assert "plain NumPy array" in str(info.value) and "Y = np.zeros_like(X)" in str(info.value)


@pytest.mark.parametrize("make", [
    lambda X: np.zeros_like(X), lambda X: np.ones_like(X), lambda X: _filled(np.empty_like(X)),
    lambda X: np.full_like(X, 2.5), lambda X: np.full_like(X, X[0, 0]),
    # (an array fill broadcast along X: each entry its own — the first entry was taken for all)
    lambda X: np.full_like(X, np.arange(1.0, 5.0)), lambda X: np.full_like(X, [[-0.0], [1.0], [2.0]]),
], ids=["zeros_like", "ones_like", "empty_like", "full_like", "full_like traced fill", "full_like row fill",
        "full_like column fill"])
def test_an_array_made_like_a_traced_one_can_be_written_into(make):
    def f(X):
        Y = make(X)
        Y[0] = X[1]  # recorded: Y is a traced constant (derivative 0) of X's shape
        np.fill_diagonal(Y, X[2, 0] ** 2)
        Y[:, -1] += X[:, 0]
        return Y

    _check_value_and_derivatives(f, X34)


def _filled(E):
    E[...] = -1.0  # np.empty_like's entries are arbitrary until written (in NumPy too)
    return E


def test_arrays_made_like_a_traced_one_in_another_dtype_or_shape_are_plain():
    def f(X):
        mask = np.zeros_like(X, dtype=bool)
        counts = np.ones_like(X, dtype=int)
        wider = np.zeros_like(X, shape=(5,))
        assert all(type(a) is np.ndarray for a in (mask, counts, wider))
        return X * counts

    kronvec.grad(lambda X: np.sum(f(X)))(X34)


@pytest.mark.parametrize("make", [
    lambda X: np.full_like(X, X[0, 0], shape=(5,)),
    lambda X: np.full_like(X, X[:, :1], shape=(2, 3, 4)),
    lambda X: np.full_like(X, X[1, 2], shape=(2, 2), order="F"),
], ids=["0-d fill, another shape", "column fill, a wider shape", "another shape and layout"])
def test_a_traced_fill_keeps_its_derivative_in_another_shape(make):
    # (np.full_like(X, v, shape=…) was NumPy's plain array: v's derivative silently dropped)
    _check_value_and_derivatives(lambda X: make(X) * X[2, 3], X34)


def test_a_traced_fill_keeps_its_derivative_in_another_floating_dtype():
    def f(X):
        return np.full_like(X, X[0, 0] * X[1, 1], dtype=np.float32)

    out, _ = kronvec.vjp(f, X34)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, f(X34.copy()))
    G = kronvec.grad(lambda X: np.sum(f(X)))(X34)
    expected = np.zeros((3, 4))
    expected[0, 0], expected[1, 1] = 12 * X34[1, 1], 12 * X34[0, 0]  # d(12·ab) (float32 values, float64 X)
    np.testing.assert_allclose(G, expected, rtol=1e-6)
    # an integer dtype is an integer cast: a plain value (conventions §7), derivative 0
    assert type(kronvec.jvp(lambda X: np.full_like(X, X[0, 0], dtype=int) * 1.0, (X34,), (X34,))[1]) is np.ndarray


def test_arrays_made_like_a_float32_traced_one_are_float32_and_can_be_written_into():
    # (a float32 X gave a plain zeros_like, and the write the error message recommends was refused)
    X32 = X34.astype(np.float32)

    def f(X):
        Y = np.zeros_like(X)
        Y[0] = X[1] ** 2
        Z = np.full_like(X, 2.0)
        Z[:, 0] = X[:, 1]
        return Y * Z + np.ones_like(X)

    out, _ = kronvec.vjp(f, X32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, f(X32.copy()))
    W = _weights((3, 4), 3)
    G = kronvec.grad(lambda X: np.sum(W * f(X)))(X32)
    assert G.dtype == np.float32
    np.testing.assert_allclose(G, kronvec.grad(lambda X: np.sum(W * f(X)))(X32.astype(np.float64)), rtol=1e-5)
    _check_value_and_derivatives(f, X34)  # (the same function in float64, against central differences)


def test_the_assignment_statement_into_a_plain_array_is_recognized():
    def row(X):
        Y = np.zeros(X.shape)
        Y[0] = X[1]  # the STORE_SUBSCR that converts X[1]
        return np.sum(Y)

    def entry(X):
        Y = np.zeros((3, 3))
        Y[0, 0] = X[1, 1]  # NumPy raises its own ValueError, caused by kronvec's TypeError: raised as it
        return np.sum(Y)

    def augmented(X):
        Y = np.zeros((3, 4))
        Y += X
        return np.sum(Y)

    with pytest.raises(TypeError, match=r"Y\[i\] = x with Y a plain array"):
        kronvec.grad(row)(X34)
    with pytest.raises(TypeError, match=r"Y\[i\] = x with Y a plain array") as info:
        kronvec.grad(entry)(X34)
    assert "plain NumPy array" in str(info.value)
    with pytest.raises(TypeError, match=r"Y \+= x"):
        kronvec.grad(augmented)(X34)
    # the remedy the message gives works
    def remedy(X):
        Y = X * 0.0
        Y[0] = X[1]
        return np.sum(Y * Y)

    expected = np.zeros((3, 4))
    expected[1] = 2.0 * X34[1]
    np.testing.assert_allclose(kronvec.grad(remedy)(X34), expected, rtol=1e-14)


@pytest.mark.parametrize("write, error, match", [
    (lambda Y, X: Y.__setitem__(0, X[:2]), ValueError, r"from shape \(2, 4\) into shape \(4,\)"),
    (lambda Y, X: Y[0].__iadd__(X), ValueError, "non-broadcastable output operand"),
    (lambda Y, X: Y.__setitem__(X[0, 0], 1.0), TypeError, "indices must be plain"),
    # (np.add(Y, X, out=Y, where=X > 0) and np.add.at(Y, …) are recorded: tests/test_front_doors.py)
    (lambda Y, X: np.add(Y, X, out=Y, where=X), TypeError, "where= must be a boolean array"),
    (lambda Y, X: np.multiply.at(Y, [0], 1.0), TypeError, "np.multiply.at"),
    # (in place the shape stays: NumPy's TypeError for axis=None, not a broadcasting error)
    (lambda Y, X: Y.sort(axis=None), TypeError, r"ndarray\.sort: axis=None"),
    (lambda Y, X: Y.partition(1, axis=None), TypeError, r"ndarray\.partition: axis=None"),
])
def test_wrong_writes_raise_naming_shapes_or_arguments(write, error, match):
    def f(X):
        Y = X * 1.0
        write(Y, X)
        return np.sum(Y)

    with pytest.raises(error, match=match):
        kronvec.grad(f)(X34)


def test_repeated_index_follows_numpys_last_write():
    # NumPy keeps the last of repeated writes: only it carries a derivative
    def f(X):
        Y = X[0] * 1.0
        Y[[1, 1, 1]] = X[1, :3]
        return Y

    J = kronvec.jacobian(f)(X34).toarray()
    np.testing.assert_array_equal(kronvec.vjp(f, X34)[0], f(X34.copy()))
    assert J[1, 1 + 2 * 3] == 1.0  # X[1, 2] (vec position 7): the last of the three writes
    assert J[1].sum() == 1.0


def test_assignment_at_scale_records_each_write_cheaply():
    # a recurrence writing 200 rows: each write costs O(n²) (a functional copy), the
    # rebinding scans only the operations since the row's array was last written
    n = 200
    X = RNG.standard_normal((n, n)) / n

    def f(X):
        Y = X * 1.0
        for i in range(1, n):
            Y[i] = Y[i - 1] * 0.5 + X[i]
        return np.sum(Y * Y)

    start = time.perf_counter()
    value, G = kronvec.value_and_grad(f)(X)
    assert time.perf_counter() - start < 10.0
    Yp = X.copy()
    for i in range(1, n):
        Yp[i] = Yp[i - 1] * 0.5 + X[i]
    np.testing.assert_allclose(value, np.sum(Yp * Yp), rtol=1e-12)
    # spot-check the gradient along a direction
    D = RNG.standard_normal((n, n))
    h = 1e-6
    fd = (f(X + h * D) - f(X - h * D)) / (2 * h)
    np.testing.assert_allclose(np.sum(G * D), fd, rtol=1e-6)


# -------------------------------------------------------- sorting: ties and kinks
def test_sort_ties_follow_the_stable_order():
    # At a tie, sort's derivative is that of the stable sort: equal entries keep their
    # input order, so the k-th of the tied outputs follows the k-th tied input.
    x = np.array([2.0, 1.0, 2.0, 0.5])
    J = kronvec.jacobian(np.sort)(x).toarray()
    np.testing.assert_array_equal(J, np.eye(4)[np.argsort(x, kind="stable")])
    np.testing.assert_array_equal(J, np.eye(4)[[3, 1, 0, 2]])
    G = kronvec.grad(lambda x: np.sort(x)[-1])(x)  # the largest: the last of the two 2.0s
    np.testing.assert_array_equal(G, [0.0, 0.0, 1.0, 0.0])
    # partition matches its tied entries to the inputs in the same order
    P = kronvec.jacobian(lambda x: np.partition(x, 2))(x).toarray()
    value = np.partition(x, 2)
    assert (P @ x == value).all() and set(np.unique(P)) == {0.0, 1.0}
    tied = np.flatnonzero(value == 2.0)
    assert [int(np.argmax(P[i])) for i in tied] == [0, 2]


@pytest.mark.parametrize("f, x", [
    (lambda x: np.sort(x), np.array([2.0, 1.0, 2.0, 0.5])),
    (lambda X: np.sort(X, axis=0), np.array([[1.0, 3.0, 1.0], [1.0, 0.0, -2.0]])),
    (lambda X: np.sort(X, axis=-1), np.array([[1.0, 3.0, 1.0], [1.0, 0.0, -2.0]])),
    (lambda X: np.sort(X, axis=1), np.arange(24.0).reshape(2, 3, 4)[:, ::-1] % 5),
    (lambda X: np.sort(X, axis=None), np.array([[1.0, 3.0], [1.0, 0.0]])),
], ids=["1-D with ties", "axis 0", "axis -1", "3-D, middle axis", "flattened"])
def test_the_permutation_np_sort_records_is_its_declared_decision_on_the_values(f, x):
    # np.sort records the gather by its permutation, decided on the values when recorded;
    # Primitive.decisions names the function that decides it (the stable sort), and the
    # recorded permutation is what it gives on the recorded value along the recorded axis.
    from kronvec.api import _Recording

    recording = _Recording(lambda x: f(x), (x,), (0,), "grad")
    (node,) = [node for node in recording.nodes if node._op is not None and node._op.decisions]
    (decide,) = node._op.decisions.values()
    assert not node._params["index"].flags.writeable  # (frozen when recorded)
    np.testing.assert_array_equal(decide(*node._args, axis=node._params["axis"]), node._params["index"])
    np.testing.assert_array_equal(recording.output, f(x))


def test_sort_and_partition_match_numpy_on_random_data():
    for seed in range(5):
        A = np.random.default_rng(seed).integers(0, 4, size=(4, 5)).astype(float)  # many ties
        for f in (lambda A: np.sort(A, axis=0), lambda A: np.partition(A, 2), lambda A: np.partition(A, -1, axis=0)):
            out = kronvec.vjp(f, A)[0]
            np.testing.assert_array_equal(out, f(A))
            J = kronvec.jacobian(f)(A)
            np.testing.assert_array_equal(J.matvec(vec(A)), vec(f(A)))  # a permutation of the entries


def test_argsort_and_argpartition_are_plain_indices():
    def f(X):
        order = np.argsort(X[0])
        assert type(order) is np.ndarray and order.dtype.kind == "i"
        assert (X.argsort(axis=0) == np.argsort(X34, axis=0)).all()
        return X[0][order]

    np.testing.assert_array_equal(kronvec.vjp(f, X34)[0], np.sort(X34[0]))


# ------------------------------------------------------------- structure at scale
def _leaves(op):
    children = [getattr(op, name) for name in ("operands", "factors", "terms", "operator", "selection")
                if hasattr(op, name)]
    found = [op]
    for child in children:
        for c in (child if isinstance(child, (list, tuple)) else [child]):
            found += _leaves(c)
    return found


@pytest.mark.parametrize("name, f", [
    ("concatenate([X, X.T])", lambda X: np.concatenate([X, X.T])),
    ("stack([X, X])", lambda X: np.stack([X, 2.0 * X])),
    ("X[idx]", lambda X: X[np.arange(999, -1, -3), 1::2]),
    ("np.sort", lambda X: np.sort(X, axis=0)),
    ("np.where", lambda X: np.where(X > 0.0, X, X.T)),
    ("np.roll", lambda X: np.roll(X, 7)),
    ("np.pad", lambda X: np.pad(X, 2)),
    ("X[idx] = v", lambda X: (lambda Y: (Y.__setitem__((slice(0, 500), 3), X[1, :500]), Y)[1])(X.copy())),
])
def test_jacobians_at_scale_are_selections_in_linear_memory(name, f):
    n = 1000
    X = np.random.default_rng(3).standard_normal((n, n))
    J, peak = jacobian_and_peak_memory(f, X)
    n_out = np.size(f(X))
    assert J.shape == (n_out, n * n)
    for leaf in _leaves(J):
        assert not isinstance(leaf, Dense), f"{name}: a dense block {leaf.shape}"
    assert peak < 40 * 8 * n * n, f"{name}: peak {peak / 1e6:.0f} MB for an input of {8 * n * n / 1e6:.0f} MB"
    np.testing.assert_array_equal(J.matvec(vec(X)), vec(f(X)))  # (each map is linear at X: J X = f(X))


def test_the_jacobians_are_the_named_permutations():
    J = kronvec.jacobian(lambda X: np.swapaxes(X, 0, 1))(X34)
    assert isinstance(J, Commutation)
    assert isinstance(kronvec.jacobian(lambda X: np.expand_dims(X, 1))(X34), Identity)
    assert isinstance(kronvec.jacobian(lambda X: np.roll(X, 2))(X34), Selection)
    assert isinstance(kronvec.jacobian(lambda X: np.pad(X, 1))(X34), SelectionTranspose)


@pytest.mark.parametrize("call", [
    lambda: kronvec.jacobian(lambda X: np.concatenate([X, X.T]))(X33),
    lambda: kronvec.jacobian(lambda X: np.pad(X, 1))(X34),
    lambda: kronvec.hessian(lambda X: np.sum(ASSIGNMENTS["through_a_transpose"](X) ** 3))(X34),
    lambda: kronvec.grad(lambda X: np.sum(np.sort(X) * ASSIGNMENTS["augmented_slice"](X)))(X34),
])
def test_structured_jacobians_and_writes_leave_no_reference_cycles(call):
    # (a Selection and its transpose once held each other: the cyclic collector then
    # had to free every scatter's index arrays)
    import gc

    call()
    gc.collect()
    gc.disable()
    try:
        call()
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_an_entry_picked_by_integers_is_a_copy_as_in_numpy():
    # X[0, 0] is a NumPy scalar, not a view: a swap through a temporary works
    def swap(X):
        Y = X * 1.0
        t = Y[0, 0]
        Y[0, 0] = Y[1, 1]
        Y[1, 1] = t
        row = Y[2]  # ...while a row is a view: it shows later writes in NumPy
        Y[2, 0] = 0.0
        return Y, row

    expected = X34.copy()
    expected[[0, 1], [0, 1]] = expected[[1, 0], [1, 0]]
    expected[2, 0] = 0.0
    np.testing.assert_array_equal(kronvec.vjp(lambda X: swap(X)[0], X34)[0], expected)
    with pytest.raises(TypeError, match="assigned into after"):
        kronvec.grad(lambda X: np.sum(swap(X)[1]))(X34)
    empty = lambda X: (lambda Y: (Y.__setitem__([], 1.0), Y)[1])(X * 1.0)  # noqa: E731
    np.testing.assert_array_equal(kronvec.grad(lambda X: np.sum(empty(X)))(X34), np.ones((3, 4)))


# ------------------------------------------------------------------- np.select
def test_select_is_nested_where_value_derivatives_and_errors():
    rng = np.random.default_rng(19)
    X = rng.uniform(0.5, 1.5, (3, 4))
    M = rng.standard_normal((3, 4))  # the conditions: constants of the point
    cases = lambda X: [X ** 2, np.exp(X), 2.0 * X]  # noqa: E731
    f = lambda X: np.select([M < -0.5, M > 0.5, M > 0.0], cases(X), default=np.sin(X))  # noqa: E731
    J = _check_value_and_derivatives(f, X)
    assert J.shape == (12, 12)
    # a scalar default and a choice of another shape broadcast as in NumPy
    g = lambda X: np.select([M > 0.0], [X[0]], default=-1.0)  # noqa: E731
    _check_value_and_derivatives(g, X)
    with pytest.raises(ValueError, match="same length"):
        kronvec.grad(lambda X: np.sum(np.select([M > 0], [X, X])))(X)
    with pytest.raises(TypeError, match="boolean"):
        kronvec.grad(lambda X: np.sum(np.select([M], [X])))(X)


@pytest.mark.parametrize("function", [np.fft.fftshift, np.fft.ifftshift])
@pytest.mark.parametrize("shape, axes", [((5,), None), ((4,), 0), ((3, 4), None), ((3, 4), -1),
                                         ((2, 3, 5), (0, 2)), ((3, 4), ())])
def test_fft_shifts_are_rolls_with_their_derivatives(function, shape, axes):
    """np.fft.fftshift / ifftshift: NumPy's values, a permutation's derivatives (finite differences)."""
    rng = np.random.default_rng(len(shape))
    X, W = rng.standard_normal(shape), rng.standard_normal(shape)

    def f(X):
        return np.sum(W * function(X, axes=axes) ** 2)

    gradient = kronvec.grad(f)(X)
    step, expected = 1e-6, np.zeros(shape)
    for index in np.ndindex(*shape):
        E = np.zeros(shape)
        E[index] = step
        expected[index] = (f(X + E) - f(X - E)) / (2 * step)
    np.testing.assert_allclose(gradient, expected, rtol=1e-7, atol=1e-8)
    J = kronvec.jacobian(lambda X: function(X, axes=axes))(X)
    np.testing.assert_array_equal(J.matvec(X.ravel(order="F")), function(X, axes=axes).ravel(order="F"))
    np.testing.assert_array_equal(J.toarray().T @ J.toarray(), np.eye(X.size))  # a permutation


def test_an_empty_index_list_in_take_is_numpys_empty_selection():
    out, pullback = kronvec.vjp(lambda X: np.take(X, [], axis=1), X34)
    assert out.shape == (3, 0) and out.shape == np.take(X34, [], axis=1).shape
    np.testing.assert_array_equal(pullback(np.zeros((3, 0)))[0], np.zeros((3, 4)))


@pytest.mark.parametrize("key", [[0.0, 1.0], np.array([1.5]), (slice(None), [0.0])], ids=str)
def test_a_float_index_array_is_numpys_index_error(key):
    with pytest.raises(IndexError):
        X34[key]
    with pytest.raises(IndexError, match="integers or booleans"):
        kronvec.grad(lambda X: np.sum(X[key]))(X34)


def test_take_with_an_unknown_mode_is_numpys_value_error():
    with pytest.raises(ValueError, match="mode"):
        kronvec.grad(lambda X: np.sum(np.take(X, [0], mode="nearest")))(X34)


def test_the_flat_iterator_reads_and_writes_row_major_positions():
    # x.flat: NumPy's flat iterator, row-major; A.flat[::n + 1] += lam adds to the diagonal
    # (a common idiom), a write through it is recorded into A; it was refused altogether
    def f(A):
        B = A * 1.0
        B.flat[::4] += 2.0 * A.flat[[1, 5, 7]]
        B.flat[[0, 0]] = A.flat[3:5]  # (repeated positions: NumPy's last write)
        return B * B + A.flat[:].reshape(A.shape) ** 3 + A.flat[4] * len(A.flat) + sum(v for v in A.flat)

    check_value_and_derivatives(f, np.random.default_rng(4).standard_normal((3, 4)))

    def g(A):
        B = A.copy()
        B.flat = 1.5  # (every entry)
        return B * A + A.flat.copy().reshape(A.shape)

    check_value_and_derivatives(g, np.random.default_rng(5).standard_normal((2, 3)))
    X = np.ones((2, 3))
    with pytest.raises(IndexError, match="out of bounds"):
        kronvec.grad(lambda A: A.flat[6])(X)
    with pytest.raises(ValueError, match=r"x\.flat\[key\] = v with 2 values for 3 positions"):
        kronvec.grad(lambda A: np.sum((lambda B: (B.flat.__setitem__([0, 1, 2], A.flat[:2]), B)[1])(A * 1.0)))(X)


# ------------------------------------------------ found by an adversarial sweep (stop 36)
@pytest.mark.parametrize("f", [
    lambda X: np.pad(X[0, 0], 2), lambda X: np.pad(X[0, 0], 1, mode="edge"),
    lambda X: np.pad(X, {1: (1, 2)}), lambda X: np.pad(X, {-1: 1, 0: (0, 2)}, mode="reflect"),
], ids=["0-d constant", "0-d edge", "dict pad_width", "dict pad_width, negative axis"])
def test_pad_takes_a_0d_array_and_a_dict_of_widths_as_numpy_does(f):
    # a 0-d array has nothing to pad (NumPy returns its value); NumPy ≥ 2.3 reads a dict
    # {axis: width} as (0, 0) for the axes it does not name
    check_value_and_derivatives(f, X34)


def test_pad_with_a_mode_numpy_does_not_know_is_numpys_value_error():
    with pytest.raises(ValueError, match="mode 'nope' is not supported"):
        kronvec.grad(lambda X: np.sum(np.pad(X, 1, mode="nope")))(X34)
    with pytest.raises(TypeError, match="mode='empty'"):  # (a mode NumPy has but kronvec refuses, by name)
        kronvec.grad(lambda X: np.sum(np.pad(X, 1, mode="empty")))(X34)


@pytest.mark.parametrize("f", [
    lambda x: np.choose([0, 1, 0], [x, 0.5]),
    lambda x: np.pad(x, 2, mode="linear_ramp", end_values=0.3),
    lambda x: np.polyval([1.0, 2.0], x),
], ids=["choose with a Python float", "linear_ramp", "polyval with a list"])
def test_results_keep_numpys_precision(f):
    # np.choose converts its choices together (a Python float takes float32), linear_ramp's
    # linspace computes in the array's precision, np.polyval reads a list of floats as float64
    x = np.array([0.3, -1.2, 0.7], np.float32)
    expected = f(x)
    value, tangent = kronvec.jvp(f, (x,), (np.ones(3, np.float32),))
    assert value.dtype == tangent.dtype == expected.dtype
    np.testing.assert_array_equal(value, expected)


@pytest.mark.parametrize("factory", [
    lambda x: np.zeros_like(x, dtype=np.float64), lambda x: np.ones_like(x, dtype=np.float64),
    lambda x: np.full_like(x, 2.5, dtype=np.float64),
], ids=["zeros_like", "ones_like", "full_like"])
def test_a_constant_like_x_in_the_other_float_dtype_can_be_written_into(factory):
    # np.zeros_like(x32, dtype=np.float64) is a traced array too, so Y[0] = x[1] is recorded
    def f(x):
        y = factory(x)
        y[0] = x[1] * 2.0
        return y

    x = np.array([0.3, -1.2, 0.7], np.float32)
    out, pullback = kronvec.vjp(f, x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, f(x))
    (gradient,) = pullback(np.ones(3))
    np.testing.assert_array_equal(gradient, [0.0, 2.0, 0.0])


def test_errors_of_invalid_indices_and_orders_are_numpys_types():
    x = np.array([0.3, -1.2, 0.7])
    with pytest.raises(IndexError, match="not traced values .this one holds float64: NumPy refuses float indices"):
        kronvec.grad(lambda x: np.sum(x[x]))(x)
    with pytest.raises(ValueError, match="order must be one of"):
        kronvec.grad(lambda x: np.sum(x.reshape(3, 1, order="Z")))(x)
    np.testing.assert_array_equal(kronvec.vjp(lambda x: x.reshape(1, 3, order=None), x)[0], x.reshape(1, 3))


@pytest.mark.parametrize("write", [np.place, np.putmask], ids=["place", "putmask"])
def test_place_and_putmask_refuse_an_unsafe_cast_as_numpy_does(write):
    # values given as a float64 array into a float32 target: NumPy's TypeError ('safe' casting);
    # a list is converted to the target's dtype, as NumPy converts it
    x = np.array([0.3, -1.2, 0.7], np.float32)

    def f(values):
        def g(x):
            y = x.copy()
            write(y, x > 0, values)
            return y
        return g

    with pytest.raises(TypeError, match="Cannot cast array data from dtype.'float64'. to dtype.'float32'."):
        kronvec.vjp(f(np.array([0.1, 0.2])), x)
    np.testing.assert_array_equal(kronvec.vjp(f([0.1, 0.2]), x)[0], f([0.1, 0.2])(x))


# ------------------------------------------------ found by the joining sweep (stop 37)
@pytest.mark.parametrize("end_values", [0.3, np.float32(0.3), np.array([0.3, 0.7], dtype=np.float32), 2, (1.5, -0.25)],
                         ids=["float", "float32", "float32 pair", "int", "pair"])
def test_pad_linear_ramp_of_float32_is_numpys_bit_for_bit(end_values):
    # the ramp was built in float32; NumPy's linspace builds it in float64 (np.pad makes the end an
    # array) and casts: 1 ulp apart
    x = np.array([[1.0, 2.0, -0.7], [0.3, 5.0, 1.1]], dtype=np.float32)
    f = lambda z: np.pad(z, ((1, 2), (2, 3)), mode="linear_ramp", end_values=end_values)  # noqa: E731
    value, _ = kronvec.jvp(f, (x,), (x,))
    assert value.dtype == f(x).dtype
    np.testing.assert_array_equal(value, f(x))


@pytest.mark.parametrize("f, x, error", [
    (lambda z: np.pad(z, ((1, 0), (0, 0)), mode="linear_ramp"), np.zeros((0, 3)), ValueError),  # (was shape (0, 3))
    (lambda z: np.pad(z, 1, mode="edge", constant_values=2), np.ones((2, 2)), ValueError),  # (was a TypeError)
    (lambda z: np.pad(z, 1, stat_length=2), np.ones((2, 2)), ValueError),
    (lambda z: np.pad(z, 1, mode="mean", end_values=2), np.ones((2, 2)), ValueError),  # (were refused by name,
    (lambda z: np.pad(z, 1, mode="constant", end_values=2), np.ones((2, 2)), ValueError),  # a TypeError)
    (lambda z: np.pad(z, np.uint8(1)), np.ones((2, 2)), TypeError),  # (was accepted: NumPy takes signed widths only)
    (lambda z: np.split(z, [1.5]), np.ones(4), TypeError),  # (the split points were truncated)
    (lambda z: np.array_split(z, [1.0, 3.0]), np.ones(4), TypeError),
    (lambda z: np.split(z, 0), np.ones(4), ZeroDivisionError),
    (lambda z: np.concatenate([z, z], axis=0.0), np.ones(4), TypeError),  # (the two-piece shortcut took it)
], ids=["linear_ramp of an empty axis", "edge with constant_values", "stat_length with constant",
        "mean with end_values", "constant with end_values", "unsigned width", "float split point", "float split points", "zero sections", "float axis"])
def test_joining_errors_are_numpys(f, x, error):
    with pytest.raises(error):
        f(x)
    with pytest.raises(error):  # (a split's pieces: the first, for jvp's one output)
        kronvec.jvp(lambda z: _first_piece(f(z)), (x,), (x,))


def _first_piece(result):
    return result[0] if isinstance(result, list) else result


@pytest.mark.parametrize("stat_length", [2.0, 1.6, (1.4, 2.6)])
def test_pad_stat_length_is_rounded_as_numpy(stat_length):
    x = np.array([[1.0, 2.0, -0.7, 4.0], [0.3, 5.0, 1.1, -2.0]])
    for mode in ("mean", "maximum", "minimum", "median"):
        f = lambda z: np.pad(z, 2, mode=mode, stat_length=stat_length)  # noqa: E731
        check_value_and_derivatives(f, x)


@pytest.mark.parametrize("write", [
    lambda y: np.put(y, [], 1.0), lambda y: np.put(y, [], 1.0, mode="wrap"), lambda y: np.put(y, [], 1.0, mode="clip"),
    lambda y: np.put(y, [0], []), lambda y: np.putmask(y, y > 0, []),
], ids=["put no index", "put no index, wrap", "put no index, clip", "put no value", "putmask no value"])
def test_writes_of_nothing_change_nothing(write):
    # (raised an internal IndexError or TypeError)
    def f(x):
        y = x.copy()
        write(y)
        return y

    x = np.array([1.0, -2.0, 3.0])
    value, tangent = kronvec.jvp(f, (x,), (np.ones(3),))
    np.testing.assert_array_equal(value, f(x))
    np.testing.assert_array_equal(tangent, np.ones(3))
