"""Values laid out in memory as NumPy lays out its own (found by a random-program sweep).

A later reduction adds in memory order (NumPy's pairwise summation runs along the
memory), so a value with NumPy's numbers but another layout — F where NumPy's is C, a
copy where NumPy's is a zero-stride view — made ``np.sum`` of it differ in the last bits
(1 ulp in float64, ~1e-6 in a float32 sum of 1,600 entries).  Each case: np.sum of the
result, along no axis and along each, equal to NumPy's bit for bit, in float32 where a
different order shows most.
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec

X = np.random.default_rng(0).standard_normal((37, 45)).astype(np.float32)

CASES = {
    "np.pad edge": lambda z: np.pad(z, ((1, 0), (0, 2)), mode="edge"),
    "np.pad reflect": lambda z: np.pad(z, 3, mode="reflect"),
    "np.pad of an F-ordered array": lambda z: np.pad(z.T, 2, mode="wrap"),
    "np.take axis 1": lambda z: np.take(z, np.arange(40)[::-1], axis=1),
    "np.repeat axis 1": lambda z: np.repeat(z, 2, axis=1),
    "x.T.copy()": lambda z: z.T.copy(),
    "np.copy(x.T)": lambda z: np.copy(z.T),
    "x.T.copy(order='F')": lambda z: z.T.copy(order="F"),
    "np.rot90(x).copy()": lambda z: np.rot90(z).copy(),
    "np.broadcast_to": lambda z: np.broadcast_to(z, (3, 37, 45)),
    "np.broadcast_to a row": lambda z: np.broadcast_to(z[:1], (37, 45)),
    "np.insert axis 1": lambda z: np.insert(z, 1, 0.0, axis=1),
    "np.delete axis 1": lambda z: np.delete(z, 1, axis=1),
    "np.delete of an F-ordered array": lambda z: np.delete(z.T, [0, 3], axis=0),
    "np.zeros_like of an F-ordered array, written": lambda z: _written(np.zeros_like(z.T), z.T),
    "np.sort of an F-ordered array": lambda z: np.sort(z.T, axis=1),
    "np.roll of a non-contiguous array": lambda z: np.roll(np.swapaxes(np.sin(z), 1, 0), 3, axis=1),
    "np.where of a rotated array": lambda z: np.where(np.rot90(z) > 0, np.rot90(z), 0.5 * np.rot90(z)),
    "an in-place write into a rotated array's product": lambda z: _subtracted(np.rot90(z) * 1.0, z.T),
}


def _subtracted(target, other):
    target -= other  # (in place: NumPy keeps the target's memory order)
    return target


def _written(target, source):
    target[:, 0] = source[:, 1]
    return target


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("axis", [None, 0, -1], ids=["all", "axis 0", "axis -1"])
def test_a_later_sum_is_numpys_bit_for_bit(name, axis):
    f = lambda z: np.sum(np.sum(CASES[name](z), axis=axis))  # noqa: E731
    expected = f(X)
    value, gradient = kronvec.value_and_grad(f)(X)
    assert value == expected, (value, expected)
    assert gradient.shape == X.shape


def test_ndarray_copy_is_c_ordered_and_np_copy_keeps_the_order():
    x = X.T
    for f, contiguous in ((lambda z: z.copy(), "C_CONTIGUOUS"), (np.copy, "F_CONTIGUOUS"),
                          (lambda z: np.copy(z, order="C"), "C_CONTIGUOUS")):
        value, tangent = kronvec.jvp(f, (x,), (x,))
        assert f(x).flags[contiguous] and value.flags[contiguous]
    with pytest.raises(ValueError, match="order"):
        kronvec.jvp(lambda z: np.copy(z, order="X"), (x,), (x,))
