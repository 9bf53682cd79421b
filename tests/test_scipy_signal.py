"""kronvec.scipy.signal (issue 12): convolve and correlate, N-D, modes full,
valid and same, differentiable in both arguments.

Values against scipy.signal's (1e-12) for every mode and shape pairing,
derivatives against finite differences in every mode (tests/_scipy_helpers.py),
the Jacobians structured (a selection times a Kronecker factor, never dense),
argument errors as SciPy's, and scipy.signal on a traced value naming the
counterpart.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.signal as sg

import kronvec
import kronvec.scipy.signal as ks
from kronvec import Dense

from _scipy_helpers import check_derivatives

RNG = np.random.default_rng(24)
SHAPES = [((7,), (3,)), ((3,), (7,)), ((6,), (4,)), ((4,), (4,)), ((5,), (1,)), ((5, 4), (2, 3)),
          ((2, 3), (4, 5)), ((4, 5), (3, 2)), ((3, 4, 3), (2, 2, 3))]
MODES = ["full", "same", "valid"]


def _pair(shapes):
    return RNG.standard_normal(shapes[0]), RNG.standard_normal(shapes[1])


def _valid_possible(s1, s2):
    return all(n >= m for n, m in zip(s1, s2)) or all(m >= n for n, m in zip(s1, s2))


@pytest.mark.parametrize("function", ["convolve", "correlate"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}*{s[1]}")
def test_values_match_scipy_and_derivatives_in_both_arguments(function, mode, shapes):
    a, v = _pair(shapes)
    ours, theirs = getattr(ks, function), getattr(sg, function)
    if mode == "valid" and not _valid_possible(*shapes):
        with pytest.raises(ValueError, match="at least as large"):
            kronvec.grad(lambda x: np.sum(ours(x, v, mode=mode)))(a)
        return
    expected = theirs(a, v, mode=mode)
    for position in (0, 1):  # the value on a traced argument is computed by kronvec's own windows
        value, _ = kronvec.jvp(lambda x: ours(*((x, v) if position == 0 else (a, x)), mode=mode),
                               ((a, v)[position],), ((a, v)[position],))
        np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(ours(a, v, mode=mode), expected)  # plain: SciPy's own
    if np.size(a) * np.size(v) <= 64:  # (the Hessian by differences costs size² gradients)
        for position in (0, 1):
            check_derivatives(lambda x, y: ours(x, y, mode=mode), (a, v), position,
                              what=f"{function}({shapes}, {mode!r})")


def test_both_arguments_at_once_and_the_closed_form_gradients():
    a, v = RNG.standard_normal(6), RNG.standard_normal(3)
    g = RNG.standard_normal(8)
    ga, gv = kronvec.grad(lambda x, y: np.sum(g * ks.convolve(x, y)), argnums=(0, 1))(a, v)
    # the adjoint of convolution with v is correlation with v: ā = correlate(g, v, 'valid')
    np.testing.assert_allclose(ga, sg.correlate(g, v, mode="valid"), rtol=1e-13)
    np.testing.assert_allclose(gv, sg.correlate(g, a, mode="valid"), rtol=1e-13)
    H = kronvec.hessian(lambda x: np.sum(ks.convolve(x[:6], x[6:]) ** 2))(np.concatenate([a, v])).toarray()
    assert np.allclose(H, H.T)


def test_jacobian_is_structured_and_small():
    image, kernel = RNG.standard_normal((300, 300)), RNG.standard_normal((3, 3))
    tracemalloc.start()
    J = kronvec.jacobian(lambda x: ks.convolve(x, kernel, mode="same"))(image)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not isinstance(J, Dense) and J.dense_nbytes >= 8 * 300 ** 4
    assert peak < 200 * image.nbytes, peak  # O(size × kernel size), not O(size²)
    v = RNG.standard_normal(image.size)
    _, tangent = kronvec.jvp(lambda x: ks.convolve(x, kernel, mode="same"), (image,), (kronvec.unvec(v, image.shape),))
    np.testing.assert_allclose(J.matvec(v), kronvec.vec(tangent), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kronvec.unvec(J.matvec(v), image.shape),
                               sg.convolve(kronvec.unvec(v, image.shape), kernel, mode="same"), atol=1e-12)


def test_argument_errors():
    a, v = RNG.standard_normal(5), RNG.standard_normal(3)
    with pytest.raises(ValueError, match="acceptable mode"):
        kronvec.grad(lambda x: np.sum(ks.convolve(x, v, mode="circular")))(a)
    with pytest.raises(ValueError, match="same dimensionality"):
        kronvec.grad(lambda x: np.sum(ks.correlate(x, np.ones((2, 2)))))(a)
    with pytest.raises(TypeError, match="complex"):
        kronvec.grad(lambda x: np.sum(ks.convolve(x, v + 1j)))(a)
    for method in ("direct", "fft", "auto"):
        np.testing.assert_allclose(kronvec.jvp(lambda x: ks.convolve(x, v, method=method), (a,), (a,))[0],
                                   sg.convolve(a, v), rtol=1e-13)


@pytest.mark.parametrize("function", ["convolve", "correlate"])
def test_scipy_signal_on_a_traced_value_names_the_counterpart(function):
    with pytest.raises(TypeError) as error:
        kronvec.grad(lambda x: np.sum(getattr(sg, function)(x, np.ones(2))))(np.array([0.5, 1.5]))
    message = str(error.value)
    assert f"cannot differentiate scipy.signal.{function}:" in message
    assert f"Use kronvec.scipy.signal.{function} instead (import kronvec.scipy.signal)" in message
