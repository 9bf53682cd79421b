"""Symmetric positive definite banded solves by LAPACK (``scipy.linalg.solveh_banded``'s kernel).

    a = a(ab) symmetric, held once in LAPACK's band storage ab, x = a⁻¹b     dx = a⁻¹(db − da x)
        b̄ = a⁻¹ x̄ (a symmetric: the same banded solve)
        ab̄[k, j] = −(b̄ᵢxⱼ + b̄ⱼxᵢ) for the stored off-diagonal entry a[i, j] = a[j, i],
                   −b̄ᵢxᵢ on the diagonal, 0 in the unused corners of ab

The value is SciPy's ``solveh_banded`` itself (LAPACK ``pbsv``, or ``ptsv`` for a
tridiagonal a: O(n·u²) time, SciPy's numbers bit for bit).  The reverse sweep is one more
banded solve and products of entries gathered at the stored positions — O(n·u) memory, no
n×n matrix — written with registered operations, so it is traced again (Hessians).  A
matrix that is not positive definite is LAPACK's LinAlgError.  Behind
``kronvec.scipy.linalg.solveh_banded``; derivation: ``notes/derivatives.md`` §38.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from . import _samples
from ._registry import Primitive, register
from ._support import bind, shape_of


def _solveh_impl(ab, b, lower=False):
    return scipy.linalg.solveh_banded(np.asarray(ab, dtype=np.float64), np.asarray(b, dtype=np.float64),
                                      lower=lower, check_finite=False)


def stored_positions(rows, n, lower):
    """(i, j, inside): the matrix entry a[i, j] that each stored ab[k, j] holds —
    ab[i − j, j] (lower, i ≥ j) or ab[u + i − j, j] (upper, i ≤ j) — with i clipped into
    range and `inside` False in the unused corners."""
    k, j = np.indices((rows, n))
    i = j + k if lower else j - (rows - 1) + k
    inside = (i >= 0) & (i < n)
    return np.clip(i, 0, max(n - 1, 0)), j, inside


def _b_vjp(g, x, ab, b, lower=False):
    # b̄ = a⁻ᵀ x̄ = a⁻¹ x̄: the same banded solve
    return bind(solveh, ab, g, lower=lower)


def _ab_vjp(g, x, ab, b, lower=False):
    # ā = −b̄xᵀ; a stored entry is a[i, j] and a[j, i] at once (i ≠ j): both cotangents
    rows, n = shape_of(ab)
    i, j, inside = stored_positions(rows, n, lower)
    b_bar = np.reshape(_b_vjp(g, x, ab, b, lower), (n, -1))
    x = np.reshape(x, (n, -1))
    products = np.sum(b_bar[i] * x[j], axis=-1) + np.where(i != j, np.sum(b_bar[j] * x[i], axis=-1), 0.0)
    return np.where(inside, -products, 0.0)


def _band_samples(rng, n, rows=2, lower=False):
    ab = rng.standard_normal((rows, n)) / 2.0
    ab[0 if lower else rows - 1] = 3.0 + np.abs(ab[0 if lower else rows - 1])  # diagonally dominant: PD
    return ab


solveh = register(Primitive(
    _solveh_impl, name="linalg.solveh_banded",
    vjps={0: _ab_vjp, 1: _b_vjp},
    label=lambda ab, b, lower=False: None,
    formula="D_b x = I ⊗ a⁻¹, D_ab x = −(xᵀ ⊗ a⁻¹)·S (S places each stored entry at (i, j) and (j, i))",
    reference="LAPACK pbsv/ptsv (banded Cholesky, Golub & Van Loan, Matrix Computations, §4.3); "
              "x = a⁻¹b, da⁻¹ = −a⁻¹ da a⁻¹ (Magnus & Neudecker ch. 8)",
    samples=lambda rng, n: (_band_samples(rng, n + 1), rng.standard_normal((n + 1, 2))),
    param_names=("ab", "b"),
    edge_cases={"1-D b": lambda rng: (_band_samples(rng, 4), rng.standard_normal(4)),
                "lower storage, 3 rows": lambda rng: _samples.Sample(
                    (_band_samples(rng, 5, rows=3, lower=True), rng.standard_normal((5, 2))), {"lower": True}),
                "upper storage, 3 rows": lambda rng: (_band_samples(rng, 5, rows=3), rng.standard_normal(5)),
                "diagonal only": lambda rng: (_band_samples(rng, 3, rows=1), rng.standard_normal((3, 1)))},
))
