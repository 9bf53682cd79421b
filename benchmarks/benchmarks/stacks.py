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

* ``SmallClosedForms``: the kernels of large stacks alone — closed-form
  inverse and slogdet for n ≤ 4 (``small_inverse_fill``), one LU per member
  for medium n (``lu_inverse_fill``) — against NumPy's batched ``inv`` +
  ``slogdet``.
* ``DetHessianSingular``: the Hessian-vector product of Σ det X_k at a stack
  with singular members (exact there: the batched adjugate's SVD form).

``benchmarks/measure_stacks.py`` measures the first two side by side in one
process, with the numba floor and jax.
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


class SmallClosedForms:
    """inverse + slogdet of a stack through kronvec's kernels, and NumPy's batched LAPACK."""

    params = [["1000x3", "100000x2", "100000x3", "100000x4", "1000x16", "1000x64"]]
    param_names = ["members x n"]
    timeout = 300

    def setup(self, size):
        from kronvec._linalg import stacks as stack_results

        count, n = (int(part) for part in size.split("x"))
        self.X = spd_stack(rng("stacks-small", size), count, n)
        self.stacks = stack_results

        def kronvec_pair():
            with kronvec.config.override(numba_min_entries=0):  # (the kernels at every size)
                results = stack_results.stack_results(self.X, "bench")
                return results.inverse(), results.slogdet()

        self.kronvec_pair = kronvec_pair
        warm(kronvec_pair)

    def time_kronvec_inverse_and_slogdet(self, size):
        self.kronvec_pair()

    def time_numpy_inverse_and_slogdet(self, size):
        np.linalg.inv(self.X)
        np.linalg.slogdet(self.X)


class DetHessianSingular:
    """hvp of Σ det X_k with a quarter of the members singular (rank n−1)."""

    params = [["100x3", "10000x3", "1000x8"]]
    param_names = ["members x n"]
    timeout = 300

    def setup(self, size):
        count, n = (int(part) for part in size.split("x"))
        generator = rng("stacks-det-hessian", size)
        self.X = generator.standard_normal((count, n, n))
        self.X[::4, :, 0] = self.X[::4, :, 1]
        self.V = generator.standard_normal(self.X.shape)
        self.hvp = kronvec.hvp(lambda Z: np.sum(np.linalg.det(Z)))
        warm(self.hvp, self.X, self.V)

    def time_hvp(self, size):
        self.hvp(self.X, self.V)
