"""The NumPy surface of issue 12, family by family, as users spell it.

``ops.py`` times every registered operation through its own samples; this
module times the *front doors* — ``np.concatenate([...])``, ``X.max(axis=0)``,
``Y[0] = X[1]``, ``np.gradient`` … — as objective code calls them, including
the ones built from several registered operations (differences, assignment).

* ``Surface.time_value_and_grad``: record ⟨W, f(X)⟩ and sweep back;
* ``Surface.time_jacobian`` / ``peakmem_jacobian``: the structured Jacobian
  (selections, diagonals, sums of them: O(n²) memory at every size);
* ``Surface.time_value``: f on plain arrays, the floor;
* ``RecordingCost.track_cost_relative_to_add``: at n = 2, where recording is
  all there is, the time of value_and_grad of each front door divided by that
  of ``X + X`` — issue 12 asks the new elementwise and indexing operations to
  cost no more than ``add`` (ratio ≈ 1), reductions and joins a small multiple.
"""

from __future__ import annotations

import timeit

import numpy as np

import kronvec

from . import rng, warm

# family: front door, as a function of one n×n array (kept O(1) in value)
FRONT_DOORS = {
    "elementwise: X + X (reference)": lambda X: X + X,
    "elementwise: np.log1p": lambda X: np.log1p(X * X),
    "elementwise: np.sinh": np.sinh,
    "elementwise: np.maximum": lambda X: np.maximum(X, 0.0),
    "elementwise: np.clip": lambda X: np.clip(X, -0.5, 0.5),
    "elementwise: np.where": lambda X: np.where(X > 0, X, 0.1 * X),
    "reductions: X.max(axis=0)": lambda X: X.max(axis=0),
    "reductions: np.std(axis=1)": lambda X: np.std(X, axis=1),
    "reductions: np.cumsum": lambda X: np.cumsum(X, axis=0),
    "reductions: np.linalg.norm(axis=0)": lambda X: np.linalg.norm(X, axis=0),
    "reductions: np.linalg.norm(X, 'nuc')": lambda X: np.linalg.norm(X, "nuc"),
    "reductions: logsumexp in NumPy": lambda X: np.log(np.sum(np.exp(X - X.max(axis=0)), axis=0)) + X.max(axis=0),
    "shape: X.T.reshape(-1)": lambda X: X.T.reshape(-1),
    "indexing: X[::-1, 1:]": lambda X: X[::-1, 1:],
    "indexing: X[idx] (integer array)": lambda X: X[np.arange(X.shape[0])[::-2]],
    "indexing: np.triu": np.triu,
    "indexing: np.sort": lambda X: np.sort(X, axis=0),
    "indexing: np.select": lambda X: np.select([X < -0.5, X > 0.5], [X * X, 2.0 * X], default=X),
    "indexing: np.unique": lambda X: np.unique(X),
    "joining: np.concatenate": lambda X: np.concatenate([X, X.T]),
    "joining: np.stack": lambda X: np.stack([X, 2.0 * X]),
    # np.array of traced rows is an object array of traced entries (notes/derivatives.md §29):
    # one recorded getitem per entry and NumPy's object loops, against np.stack of the same rows
    "joining: np.stack of two rows": lambda X: np.stack([X[0], 2.0 * X[-1]]),
    "joining: np.array of two rows (object array)": lambda X: np.array([X[0], 2.0 * X[-1]]),
    "joining: np.split": lambda X: np.split(X, 2, axis=1)[1] if X.shape[1] % 2 == 0 else X,
    "joining: np.pad": lambda X: np.pad(X, 1),
    "joining: np.insert": lambda X: np.insert(X, [0, X.shape[1] // 2], 0.5, axis=1),
    "joining: np.resize": lambda X: np.resize(X, (X.shape[0] + 1, X.shape[1])),
    "indexing: np.choose": lambda X: np.choose(np.arange(X.shape[1]) % 2, [X, X.T]),
    "indexing: np.piecewise": lambda X: np.piecewise(X, [X < 0], [np.sin, lambda x: x * x]),
    "indexing: np.bincount(weights)": lambda X: np.bincount(np.arange(X.size) % 3, weights=X.ravel()),
    "assignment: Y[0] = X[1]": lambda X: _assign_row(X),
    "assignment: np.add.at": lambda X: _scatter_add(X),
    "statistics: np.cov(aweights=) in X and the weights": lambda X: np.cov(X, aweights=1.0 + X[0] ** 2),
    "scipy.linalg: toeplitz of two rows": lambda X: _toeplitz(X),
    # the everyday kronvec.scipy.linalg functions, one per family (values kept O(1), full rank)
    "scipy.linalg: norm(X, 2)": lambda X: _scipy_linalg().norm(X, 2),
    "scipy.linalg: lstsq([X; I], b)[0]": lambda X: _scipy_linalg().lstsq(_tall(X), np.ones(2 * X.shape[0]))[0],
    "scipy.linalg: pinv([X; I])": lambda X: _scipy_linalg().pinv(_tall(X)),
    "scipy.linalg: khatri_rao(X[:2], X)": lambda X: _scipy_linalg().khatri_rao(X[:2], X),
    "scipy.linalg: orthogonal_procrustes(I + X/n, I)": lambda X: _procrustes(X),
    "scipy.linalg: solveh_banded (tridiagonal)": lambda X: _scipy_linalg().solveh_banded(
        np.stack([0.5 * X[0], 3.0 + X[1]]), X[-1]),
    "scipy.linalg: solve_toeplitz((c, r), b)": lambda X: _solve_toeplitz(X),
    "joining: np.apply_along_axis": lambda X: np.apply_along_axis(np.cumsum, 0, X),
    "differences: np.diff": lambda X: np.diff(X, axis=0),
    "differences: np.gradient": lambda X: np.gradient(X, 0.5, axis=1),
    "differences: np.trapezoid": lambda X: np.trapezoid(X, dx=0.1, axis=0),
    "differences: np.geomspace": lambda X: np.geomspace(1.0 + X[0] ** 2, 2.0 + X[-1] ** 2, X.shape[0]),
    "differences: np.unwrap": lambda X: np.unwrap(8.0 * X, axis=0),
    "indexing: np.intersect1d": lambda X: np.intersect1d(X[0], np.concatenate([X[-1], X[0, ::2]])),
    "linalg: np.linalg.tensorsolve": lambda X: np.linalg.tensorsolve(
        (X + X.shape[0] * np.eye(X.shape[0])).reshape(X.shape[0], 1, X.shape[0]), X[0].reshape(-1, 1)),
    "elementwise: np.i0": np.i0,
    "elementwise: scipy.special.erfcx": lambda X: _erfcx(X),
    "elementwise: scipy.special.huber": lambda X: _huber(X),
    "polynomials: np.polymul": lambda X: np.polymul(X[0], X[-1]),
    "polynomials: np.polyfit (columns)": lambda X: np.polyfit(np.linspace(-1.0, 1.0, X.shape[0]), X, 3)
    if X.shape[0] > 3 else X,
    "contractions: np.einsum ij,kj->ik": lambda X: np.einsum("ij,kj->ik", X, X),
    "contractions: np.einsum ii,ij->j": lambda X: np.einsum("ii,ij->j", X, X),
    "contractions: np.tensordot axes=1": lambda X: np.tensordot(X, X, axes=1),
    # NumPy's eigh reordered (σ = |λ| descending); X's lower triangle, mirrored, is what it reads
    "factorizations: np.linalg.svd(hermitian=True)": lambda X: np.linalg.svd(X, hermitian=True).Vh,
    # NumPy's default full_matrices=True of a tall matrix: U completed by one extra vector
    "factorizations: np.linalg.svd full U (tall by one)": lambda X: np.linalg.svd(X[:, :-1]).U,
    # (plus the identity's leading columns: of full column rank)
    "factorizations: np.linalg.qr complete Q (tall by one)": lambda X: np.linalg.qr(
        X[:, :-1] + X.shape[0] * np.eye(X.shape[0], X.shape[0] - 1), mode="complete").Q,
    # a real spectrum: X's triangle plus a spread diagonal (eigenvalues 0, 1, …, n − 1 moved a little)
    "factorizations: np.linalg.eig": lambda X: np.linalg.eig(
        np.triu(X, 1) + np.diag(np.arange(float(X.shape[0]))) + 0.01 * np.tril(X, -1)).eigenvectors,
}


def _toeplitz(X):
    from kronvec.scipy.linalg import toeplitz  # (kronvec.scipy loads SciPy's linalg: on first use)

    return toeplitz(X[0], X[-1])


def _scipy_linalg():
    import kronvec.scipy.linalg  # (on first use, as _toeplitz)

    return kronvec.scipy.linalg


def _tall(X):
    """[X; I]: full column rank (σ_min ≥ 1) whatever X."""
    return np.concatenate([X, np.eye(X.shape[1])])


def _procrustes(X):
    n = X.shape[0]
    return _scipy_linalg().orthogonal_procrustes(np.eye(n) + X / n, np.eye(n))[0]  # (‖X/n‖₂ < 1: nonsingular)


def _solve_toeplitz(X):
    # diagonally dominant: |c₀| ≥ 2 > Σ|off-diagonal| ≤ 2(n − 1)/n
    n = X.shape[0]
    c = np.concatenate([3.0 + X[0, :1], X[0, 1:] / n])
    return _scipy_linalg().solve_toeplitz((c, X[1] / n), X[-1])


def _scatter_add(X):
    Y = np.zeros_like(X)
    np.add.at(Y, np.arange(X.shape[0]) // 2, X)  # rows i and i + 1 into row i // 2
    return Y


def _huber(X):
    import scipy.special  # (on first use, as kronvec registers scipy.special's family)

    return scipy.special.huber(0.5, X)


def _erfcx(X):
    import scipy.special  # (on first use, as kronvec registers scipy.special's family)

    return scipy.special.erfcx(X)


def _assign_row(X):
    Y = np.zeros_like(X)
    Y[0] = X[1]
    return Y


def _problem(name, n):
    f = FRONT_DOORS[name]
    X = rng("surface", name, n).uniform(-1.0, 1.0, (n, n))
    W = rng("surface-weights", name, n).standard_normal(np.shape(f(X)))
    return f, X, (lambda Z: np.sum(W * f(Z)))


class Surface:
    """Each front door: value, value+gradient, structured Jacobian, n = 2 … 512."""

    params = [list(FRONT_DOORS), [2, 64, 512]]
    param_names = ["front door", "n"]

    def setup(self, name, n):
        self.f, self.X, self.s = _problem(name, n)
        warm(kronvec.value_and_grad(self.s), self.X)
        warm(kronvec.jacobian(self.f), self.X)

    def time_value(self, name, n):
        self.f(self.X)

    def time_value_and_grad(self, name, n):
        kronvec.value_and_grad(self.s)(self.X)

    def time_jacobian(self, name, n):
        kronvec.jacobian(self.f)(self.X)

    def peakmem_jacobian(self, name, n):
        kronvec.jacobian(self.f)(self.X)


def _best_seconds(function, argument, repeat=7, number=200):
    return min(timeit.repeat(lambda: function(argument), repeat=repeat, number=number)) / number


class RecordingCost:
    """value_and_grad at n = 2 relative to that of ``X + X`` (both best of 7×200)."""

    params = [list(FRONT_DOORS)]
    param_names = ["front door"]
    unit = "× add"

    def setup(self, name):
        self.f, self.X, self.s = _problem(name, 2)
        _, _, add_objective = _problem("elementwise: X + X (reference)", 2)
        self.add = kronvec.value_and_grad(add_objective)
        warm(self.add, self.X)
        warm(kronvec.value_and_grad(self.s), self.X)

    def track_cost_relative_to_add(self, name):
        return _best_seconds(kronvec.value_and_grad(self.s), self.X) / _best_seconds(self.add, self.X)
