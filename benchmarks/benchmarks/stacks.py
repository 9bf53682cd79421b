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

* ``CholeskyLogdet``: value and gradient of Σₖ ln|S_k| = 2 Σₖ Σᵢ ln (L_k)ᵢᵢ through
  ``np.linalg.cholesky`` on the stack, against the batched closed form
  (``slogdet`` + ``inv``: the gradient is S⁻¹), over 10,000 3×3 and 1,000
  64×64 members.
* ``StackFactorizations``: value and gradient of a scalar of eigh, svd and qr
  on a stack, and the structured Jacobian of cholesky (build and one matvec).

``benchmarks/measure_stacks.py`` measures them side by side in one process.
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


def gaussian_objective_product_form(C_transposed):
    """The same objective with tr(S⁻¹C) spelled ``np.sum(inv(S) * Cᵀ)`` (Cᵀ given
    contiguous, as the closed form gets it): an elementwise product and a sum."""
    def objective(S):
        return np.sum(np.linalg.slogdet(S)[1]) + np.sum(np.linalg.inv(S) * C_transposed)

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
        self.value_and_grad_product = kronvec.value_and_grad(gaussian_objective_product_form(self.C_transposed))
        warm(self.value_and_grad, self.S)
        warm(self.value_and_grad_product, self.S)
        warm(gaussian_closed_form, self.S, self.C, self.C_transposed)

    def time_kronvec(self, size):
        self.value_and_grad(self.S)

    def time_kronvec_product_form(self, size):
        self.value_and_grad_product(self.S)

    def time_closed_form(self, size):
        gaussian_closed_form(self.S, self.C, self.C_transposed)

    def peakmem_kronvec(self, size):
        self.value_and_grad(self.S)

    def peakmem_kronvec_product_form(self, size):
        self.value_and_grad_product(self.S)

    def peakmem_closed_form(self, size):
        gaussian_closed_form(self.S, self.C, self.C_transposed)


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

    def time_build_and_blocks(self, count):
        self.jacobian(self.X).blocks()

    def peakmem_build_and_blocks(self, count):
        self.jacobian(self.X).blocks()

    def time_build_and_tosparse(self, count):
        self.jacobian(self.X).tosparse()

    def time_closed_form_blocks(self, count):
        inverse_jacobian_blocks_closed_form(self.X)

    def peakmem_build_and_tosparse(self, count):
        self.jacobian(self.X).tosparse()


def cholesky_logdet(S):
    """Σₖ ln|S_k| through the Cholesky factors: 2 Σ ln diag(L_k)."""
    return 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(S), axis1=-2, axis2=-1)))


def logdet_closed_form(S):
    """The same value and its gradient S⁻¹ (S symmetric) by hand: slogdet + inv of the stack."""
    return np.sum(np.linalg.slogdet(S)[1]), np.linalg.inv(S)


class CholeskyLogdet:
    """value_and_grad of Σₖ ln|S_k| through cholesky, against slogdet + inv by hand."""

    params = [["1000x3", "10000x3", "1000x64"]]
    param_names = ["members x n"]
    timeout = 300

    def setup(self, size):
        count, n = (int(part) for part in size.split("x"))
        self.S = spd_stack(rng("stacks-cholesky", size), count, n)
        self.value_and_grad = kronvec.value_and_grad(cholesky_logdet)
        warm(self.value_and_grad, self.S)
        warm(logdet_closed_form, self.S)

    def time_kronvec(self, size):
        self.value_and_grad(self.S)

    def time_closed_form(self, size):
        logdet_closed_form(self.S)

    def peakmem_kronvec(self, size):
        self.value_and_grad(self.S)


def _eigh_objective(S):
    w, V = np.linalg.eigh(S)
    return np.sum(np.log(w)) + np.sum(V[..., 0] ** 2 * np.arange(1.0, S.shape[-1] + 1.0))


def _svd_objective(X):
    return np.sum(np.linalg.norm(X, "nuc", axis=(-2, -1))) + np.sum(np.linalg.svd(X, full_matrices=False)[0] ** 3)


def _qr_objective(X):
    return np.sum(np.linalg.qr(X)[1] ** 2)


class StackFactorizations:
    """Gradients through eigh, svd and qr of a stack; cholesky's structured Jacobian."""

    params = [["1000x3", "10000x3", "200x16"]]
    param_names = ["members x n"]
    timeout = 300

    def setup(self, size):
        count, n = (int(part) for part in size.split("x"))
        generator = rng("stacks-factorizations", size)
        self.S = spd_stack(generator, count, n)
        self.X = generator.standard_normal((count, n + 1, n))
        self.V = generator.standard_normal((count, n, n))
        self.grads = {name: kronvec.grad(f) for name, f in
                      (("eigh", _eigh_objective), ("svd", _svd_objective), ("qr", _qr_objective))}
        for name, grad in self.grads.items():
            warm(grad, self.S if name == "eigh" else self.X)
        self.jacobian = kronvec.jacobian(np.linalg.cholesky)
        self.J = warm(self.jacobian, self.S)

    def time_grad_eigh(self, size):
        self.grads["eigh"](self.S)

    def time_grad_svd(self, size):
        self.grads["svd"](self.X)

    def time_grad_qr(self, size):
        self.grads["qr"](self.X)

    def time_cholesky_jacobian_build(self, size):
        self.jacobian(self.S)

    def time_cholesky_jacobian_matvec(self, size):
        self.J.matvec(kronvec.vec(self.V))
