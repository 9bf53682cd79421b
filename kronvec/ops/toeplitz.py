"""Toeplitz solves by SciPy's Levinson recursion (``scipy.linalg.solve_toeplitz``'s kernel)
and circulant solves by SciPy's FFT (``scipy.linalg.solve_circulant``).

    T = toeplitz(c, r) (r[0] ignored), X = T⁻¹B          dX = T⁻¹(dB − dT X)
        B̄ = T⁻ᵀ X̄, and Tᵀ = toeplitz((c₀, r₁, …, rₙ₋₁), c) is Toeplitz: the same solve
        c̄ₖ = −Σ_{i−j=k} (B̄Xᵀ)ᵢⱼ (k ≥ 0),   r̄ₖ = −Σ_{j−i=k} (B̄Xᵀ)ᵢⱼ (k ≥ 1),   r̄₀ = 0

The value is SciPy's Levinson recursion itself (O(n²) time, O(n) memory per column,
SciPy's numbers bit for bit); the reverse sweep is one more Levinson solve with Tᵀ and
the diagonal sums of −B̄Xᵀ (the adjoint of the selection that places c and r in T), all
written with registered operations, so it is traced again (Hessians).  Levinson needs
every leading principal minor of T nonsingular and raises LinAlgError otherwise, as
SciPy does.

    C = circulant(c), X = C⁻¹B                                dX = C⁻¹(dB − dC X)
        B̄ = C⁻ᵀ X̄, and Cᵀ = circulant((c₀, cₙ₋₁, …, c₁)): the same solve
        c̄ₖ = −Σ_{(i−j) mod n = k} (B̄Xᵀ)ᵢⱼ

The circulant value is SciPy's FFT solution (O(n log n) per column, bit for bit), with
SciPy's refusal of a near-singular C (an eigenvalue |fft(c)ₖ| ≤ n·eps·max|fft(c)|).
Behind ``kronvec.scipy.linalg.solve_toeplitz`` and ``solve_circulant``; derivation:
``notes/derivatives.md`` §38.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._registry import Primitive, register
from ._support import bind, shape_of


def _solve_impl(c, r, b):
    return scipy.linalg.solve_toeplitz((np.asarray(c, dtype=np.float64), np.asarray(r, dtype=np.float64)),
                                       np.asarray(b, dtype=np.float64), check_finite=False)


def _transposed(c, r):
    """(c′, r′) with toeplitz(c′, r′) = toeplitz(c, r)ᵀ: first column (c₀, r₁, …), first row c."""
    return np.concatenate([c[:1], r[1:]]), c


def _b_vjp(g, x, c, r, b):
    # B̄ = T⁻ᵀ X̄: Tᵀ is Toeplitz, solved by the same recursion
    return bind(solve, *_transposed(c, r), g)


def _diagonal_sums(g, x, c, r, b):
    """−B̄Xᵀ summed along T's diagonals: (c̄, r̄), the adjoint of the placement of c and r."""
    n = shape_of(c)[0]
    b_bar = _b_vjp(g, x, c, r, b)
    outer = (np.reshape(b_bar, (n, -1)) @ np.transpose(np.reshape(x, (n, -1))))  # B̄Xᵀ, n×n
    i, j = np.indices((n, n))
    below = i >= j
    c_bar = -np.bincount((i - j)[below], weights=outer[below], minlength=n)
    r_bar = -np.bincount((j - i)[~below], weights=outer[~below], minlength=n)  # (r̄₀ = 0: r₀ is never read)
    return c_bar, r_bar


def _toeplitz_samples(rng, n):
    c, r = rng.standard_normal(n) / n, rng.standard_normal(n) / n
    c[0] = 3.0  # diagonally dominant: every leading principal minor nonsingular
    return c, r, rng.standard_normal((n, 2))


solve = register(Primitive(
    _solve_impl, name="linalg.solve_toeplitz",
    vjps={0: lambda g, x, c, r, b: _diagonal_sums(g, x, c, r, b)[0],
          1: lambda g, x, c, r, b: _diagonal_sums(g, x, c, r, b)[1],
          2: _b_vjp},
    label=lambda c, r, b: None,
    formula="D_b x = I ⊗ T⁻¹, D_c x = −(xᵀ ⊗ T⁻¹)·S_c, D_r x = −(xᵀ ⊗ T⁻¹)·S_r (S: the 0/1 placement in T)",
    reference="Levinson (1947) / Durbin (1960) recursion, as scipy.linalg.solve_toeplitz; "
              "adjoint by the transposed Toeplitz solve (Golub & Van Loan, Matrix Computations, §4.7)",
    samples=_toeplitz_samples, param_names=("c", "r", "b"),
    edge_cases={"1-D b": lambda rng: _toeplitz_samples(rng, 4)[:2] + (rng.standard_normal(4),),
                "symmetric (r = c)": lambda rng: (lambda c, r, b: (c, c.copy(), b))(*_toeplitz_samples(rng, 3)),
                "1×1": lambda rng: (np.array([2.0]), np.array([5.0]), rng.standard_normal((1, 3)))},
))


def _circulant_impl(c, b):
    return scipy.linalg.solve_circulant(np.asarray(c, dtype=np.float64), np.asarray(b, dtype=np.float64))


def _circulant_b_vjp(g, x, c, b):
    # B̄ = C⁻ᵀ X̄: Cᵀ is the circulant of (c₀, cₙ₋₁, …, c₁), solved by the same FFT
    return bind(solve_circulant, np.roll(c[::-1], 1), g)


def _circulant_c_vjp(g, x, c, b):
    # −B̄Xᵀ summed along C's wrapped diagonals: (i − j) mod n = k
    n = shape_of(c)[0]
    b_bar = _circulant_b_vjp(g, x, c, b)
    outer = np.reshape(b_bar, (n, -1)) @ np.transpose(np.reshape(x, (n, -1)))
    i, j = np.indices((n, n))
    return -np.bincount(np.ravel((i - j) % n), weights=np.ravel(outer), minlength=n)


def _circulant_samples(rng, n):
    c = rng.standard_normal(n + 1) / (n + 1)
    c[0] = 3.0  # diagonally dominant: no eigenvalue near 0
    return c, rng.standard_normal((n + 1, 2))


solve_circulant = register(Primitive(
    _circulant_impl, name="linalg.solve_circulant",
    vjps={0: _circulant_c_vjp, 1: _circulant_b_vjp},
    label=lambda c, b: None,
    formula="D_b x = I ⊗ C⁻¹, D_c x = −(xᵀ ⊗ C⁻¹)·S_c (S_c: the 0/1 placement of c in C)",
    reference="C = F⁻¹ diag(fft c) F (Golub & Van Loan, Matrix Computations, §4.8), as "
              "scipy.linalg.solve_circulant; adjoint by the transposed circulant solve",
    samples=_circulant_samples, param_names=("c", "b"),
    edge_cases={"1-D b": lambda rng: (_circulant_samples(rng, 3)[0], rng.standard_normal(4)),
                "1×1": lambda rng: (np.array([2.0]), rng.standard_normal((1, 3)))},
))
