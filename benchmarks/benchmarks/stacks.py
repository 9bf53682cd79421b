"""Issue 14, stacks of matrices (…, n, n): what differentiating through batched
``np.linalg`` costs, against the batched NumPy closed forms.

* ``GaussianObjective``: value and gradient of Σₖ ln|S_k| + tr(S_k⁻¹C_k)
  through ``kronvec.value_and_grad``, against the closed form by hand
  (``slogdet`` + ``inv`` on the stack, ∇ = S⁻ᵀ − S⁻ᵀCᵀS⁻ᵀ).  Targets (issue 14):
  ≤ 1.0× over 100,000 3×3 members, ≤ 1.2× over 1,000 64×64.
* ``InverseJacobian``: the Jacobian of X⁻¹ over 100,000 3×3 members —
  building the structured operator, its per-member blocks (what
  ``vmap(jacfwd)`` returns: (K, 9, 9)) and its CSR (the dense 900,000² matrix
  is far over any limit) — against batched NumPy (``inv`` and the blocks
  −X_k⁻ᵀ ⊗ X_k⁻¹ by broadcasting).

``benchmarks/measure_stacks.py`` measures both side by side in one process.
"""

from __future__ import annotations

import numpy as np

import kronvec

from . import rng, warm


def spd_stack(generator, count, n):
    """`count` symmetric positive definite n×n members, eigenvalues in about [1, 5]."""
    A = generator.standard_normal((count, n, n))
    return A @ np.swapaxes(A, -1, -2) / n + np.eye(n)


def gaussian_objective(C):
    """Σ ln|S_k| + tr(S_k⁻¹C_k), with tr(S⁻¹C) = Σᵢⱼ (S⁻¹)ᵢⱼ Cⱼᵢ as one einsum (a contraction
    kronvec records as one operation; ``np.sum(inv(S) * C.T)`` is the same value)."""
    def objective(S):
        return np.sum(np.linalg.slogdet(S)[1]) + np.einsum("kij,kji->", np.linalg.inv(S), C)

    return objective


def gaussian_closed_form(S, C, C_transposed):
    """The same value and ∇ = (S⁻¹ − S⁻¹CS⁻¹)ᵀ by hand: one slogdet and one inv of the stack."""
    _, logdet = np.linalg.slogdet(S)
    inverse = np.linalg.inv(S)
    value = np.sum(logdet) + np.sum(inverse * C_transposed)
    return value, np.swapaxes(inverse - inverse @ C @ inverse, -1, -2)


def inverse_jacobian_blocks_closed_form(X):
    """The K blocks −X_k⁻ᵀ ⊗ X_k⁻¹ with batched NumPy: inv, then one broadcast product."""
    inverse = np.linalg.inv(X)
    count, n, _ = X.shape
    blocks = np.empty((count, n, n, n, n))
    np.multiply(-np.swapaxes(inverse, -1, -2)[:, :, None, :, None], inverse[:, None, :, None, :], out=blocks)
    return blocks.reshape(count, n * n, n * n)


class GaussianObjective:
    """value_and_grad of Σ ln|S_k| + tr(S_k⁻¹C_k) against slogdet + inv by hand."""

    params = [["1000x3", "100000x3", "1000x64"]]
    param_names = ["members x n"]
    timeout = 300

    def setup(self, size):
        count, n = (int(part) for part in size.split("x"))
        generator = rng("stacks-gaussian", size)
        self.S = spd_stack(generator, count, n)
        self.C = spd_stack(generator, count, n)
        self.C_transposed = np.ascontiguousarray(np.swapaxes(self.C, -1, -2))
        self.value_and_grad = kronvec.value_and_grad(gaussian_objective(self.C))
        warm(self.value_and_grad, self.S)
        warm(gaussian_closed_form, self.S, self.C, self.C_transposed)

    def time_kronvec(self, size):
        self.value_and_grad(self.S)

    def time_closed_form(self, size):
        gaussian_closed_form(self.S, self.C, self.C_transposed)

    def peakmem_kronvec(self, size):
        self.value_and_grad(self.S)


class InverseJacobian:
    """Jacobian of X⁻¹ over a stack of 3×3 members: build, blocks, CSR; batched NumPy."""

    params = [[1000, 100_000]]
    param_names = ["members"]
    timeout = 300

    def setup(self, count):
        self.X = rng("stacks-inverse", count).standard_normal((count, 3, 3)) + 3.0 * np.eye(3)
        self.jacobian = kronvec.jacobian(np.linalg.inv)
        self.J = warm(self.jacobian, self.X)
        warm(self.J.tosparse)
        warm(inverse_jacobian_blocks_closed_form, self.X)

    def time_build(self, count):
        self.jacobian(self.X)

    def time_blocks(self, count):
        self.J.blocks()

    def time_tosparse(self, count):
        self.J.tosparse()

    def time_build_and_tosparse(self, count):
        self.jacobian(self.X).tosparse()

    def time_closed_form_blocks(self, count):
        inverse_jacobian_blocks_closed_form(self.X)

    def peakmem_build_and_tosparse(self, count):
        self.jacobian(self.X).tosparse()
