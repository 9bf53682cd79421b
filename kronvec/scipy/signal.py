"""``scipy.signal.convolve`` and ``correlate`` for differentiated code: N-D, modes
``full``, ``valid`` and ``same``, differentiable in both arguments.

Each output entry is an inner product of a window of one input with the other
input reversed. kronvec gathers the windows with an index array (a 0/1
selection: its Jacobian is a :class:`~kronvec.Selection`, never dense) and
contracts them with one matrix product, so both arguments are recorded by
operations kronvec already differentiates:

    convolve(a, v)[p] = Σ_j a_pad[p + j]·v[m − 1 − j]     (a_pad: a with m − 1 zeros on each side)
    ⇒  vec out = W(a)·vec flip(v) with W(a) = S·vec a_pad (the windows, one per row)

so D_v = W(a)·(flip) and D_a = (I ⊗ flip(v)ᵀ)·S·(pad), and every higher derivative
follows (the map is bilinear). Convolution is commutative, so the smaller input is
the one reversed: memory is O(output size × smaller input size). With no traced
argument, SciPy computes the value itself.

Derivations: ``notes/derivatives.md`` §22.
"""

from __future__ import annotations

import math

import numpy as np

from ._support import as_array, is_traced

__all__ = ["convolve", "correlate"]

_MODES = ("full", "valid", "same")
_METHODS = ("auto", "direct", "fft")


def _check(in1, in2, mode, method, function):
    if mode not in _MODES:
        raise ValueError("acceptable mode flags are 'valid', 'same', or 'full'")
    if method not in _METHODS:
        raise ValueError(f"acceptable method flags are 'auto', 'direct', or 'fft' ({function})")
    if np.ndim(in1) != np.ndim(in2):
        raise ValueError("in1 and in2 should have the same dimensionality")
    if np.size(in1) == 0 or np.size(in2) == 0:
        raise ValueError(f"{function}: empty inputs have no derivative (got shapes {np.shape(in1)} and {np.shape(in2)})")
    for x in (in1, in2):
        kind = np.result_type(getattr(x, "dtype", np.float64)).kind
        if kind == "c":
            raise TypeError(f"kronvec cannot differentiate {function} of complex input")


def _output_window(shape1, shape2, mode):
    """(start, length) per axis of the output within the full convolution (SciPy's centring)."""
    full = [n + m - 1 for n, m in zip(shape1, shape2)]
    if mode == "full":
        return [(0, f) for f in full]
    if mode == "same":
        return [((f - n) // 2, n) for f, n in zip(full, shape1)]
    if not (all(n >= m for n, m in zip(shape1, shape2)) or all(m >= n for n, m in zip(shape1, shape2))):
        raise ValueError("For 'valid' mode, one must be at least as large as the other in every dimension")
    return [(min(n, m) - 1, abs(n - m) + 1) for n, m in zip(shape1, shape2)]


def _convolve_window(in1, in2, window):
    """The entries of the full N-D convolution of in1 and in2 in `window` ((start, length) per axis)."""
    if np.size(in2) > np.size(in1):  # full convolution is symmetric: reverse the smaller input
        in1, in2 = in2, in1
    shape1, shape2 = np.shape(in1), np.shape(in2)
    ndim = len(shape1)
    padded = np.pad(in1, [(m - 1, m - 1) for m in shape2])
    # index p + j into the padded input, p over the window, j over in2: shape (L₀, …, m₀, …)
    index = tuple(
        np.reshape(np.arange(start, start + length), [length if k == axis else 1 for k in range(2 * ndim)])
        + np.reshape(np.arange(shape2[axis]), [shape2[axis] if k == ndim + axis else 1 for k in range(2 * ndim)])
        for axis, (start, length) in enumerate(window))
    windows = padded[index]
    lengths = [length for _, length in window]
    kernel = np.reshape(np.flip(in2), (-1,))
    return np.reshape(np.reshape(windows, (math.prod(lengths), -1)) @ kernel, lengths)


def convolve(in1, in2, mode="full", method="auto"):
    """N-D convolution, as ``scipy.signal.convolve``; differentiable in in1 and in2.

    ``method`` is accepted for SciPy's signature (every method computes the same
    numbers, to rounding); traced inputs are convolved directly.
    """
    if not (is_traced(in1) or is_traced(in2)):
        import scipy.signal

        return scipy.signal.convolve(in1, in2, mode=mode, method=method)
    in1, in2 = as_array(in1), as_array(in2)
    _check(in1, in2, mode, method, "kronvec.scipy.signal.convolve")
    if np.ndim(in1) == 0:
        return in1 * in2
    return _convolve_window(in1, in2, _output_window(np.shape(in1), np.shape(in2), mode))


def correlate(in1, in2, mode="full", method="auto"):
    """N-D cross-correlation, as ``scipy.signal.correlate`` (real input):
    z[k] = Σₗ in1[l]·in2[l − k + N − 1], i.e. the convolution of in1 with in2
    reversed along every axis; differentiable in in1 and in2."""
    if not (is_traced(in1) or is_traced(in2)):
        import scipy.signal

        return scipy.signal.correlate(in1, in2, mode=mode, method=method)
    in1, in2 = as_array(in1), as_array(in2)
    _check(in1, in2, mode, method, "kronvec.scipy.signal.correlate")
    if np.ndim(in1) == 0:
        return in1 * in2
    if mode == "valid" and np.size(in2) > np.size(in1) and all(m >= n for n, m in zip(np.shape(in1), np.shape(in2))):
        # SciPy swaps the inputs when in2 is the larger, and reverses the result
        return np.flip(_convolve_window(in2, np.flip(in1), _output_window(np.shape(in2), np.shape(in1), mode)))
    return _convolve_window(in1, np.flip(in2), _output_window(np.shape(in1), np.shape(in2), mode))
