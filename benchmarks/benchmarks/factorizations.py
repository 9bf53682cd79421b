"""Issue 13, factorizations (kronvec/ops/factorizations/): what differentiating
through them costs, against the hand-written closed forms.

* ``LogdetCholesky``: value and gradient of ln|A| = 2 Σ ln diag chol(A) through
  ``kronvec.value_and_grad``, against SciPy's ``cho_factor`` + ``cho_solve`` of
  I (the closed form ∇ = A⁻¹).  Target (issue 13): ≤ 1.2× at n = 1024.
* ``LogEigvalsh``: value and gradient of Σ ln λ(A) through ``np.linalg.eigvalsh``,
  against one ``eigh`` and the products of ∇ = V Λ⁻¹ Vᵀ.  Target: ≤ 1.3× at n = 512.
* ``DenseJacobian``: ``kronvec.jacobian(f)(A).toarray()`` of cholesky and of
  eigh's eigenvectors (the direct dense assembly of
  ``kronvec/operators/_outer_rows.py``), against the generic materialization the
  same operator had before it (the product applied to the identity, ``matmat(I)``).
  Issue 13's target is against JAX and PyTorch (≥ 10× faster than
  ``jax.jit(jax.jacfwd)`` and ``torch.func.jacfwd`` at n = 32), which asv does not
  install: ``benchmarks/measure_factorization_jacobians.py`` measures those.
* ``JacobianBuild``: ``kronvec.jacobian`` of cholesky, eigh's eigenvectors,
  eigvalsh, the SVD's U and QR's Q (the structured operator, O(n²) memory),
  against the factorization alone.  Target: < 3× (the issue states it at n = 2000).

``benchmarks/measure_factorizations.py`` measures the first two side by side in
one process, with default and with one BLAS thread.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

import kronvec

from . import rng, spd, warm


def logdet_via_cholesky(A):
    return 2.0 * np.sum(np.log(np.diagonal(np.linalg.cholesky(A))))


def logdet_closed_form(A, identity):
    """ln|A| and ∇ = A⁻¹ by hand: one Cholesky factorization, two triangular solves of I."""
    factor = scipy.linalg.cho_factor(A, lower=True)
    return 2.0 * np.sum(np.log(np.diagonal(factor[0]))), scipy.linalg.cho_solve(factor, identity)


def sum_log_eigenvalues(A):
    return np.sum(np.log(np.linalg.eigvalsh(A)))


def sum_log_eigenvalues_closed_form(A):
    """Σ ln λ and ∇ = V Λ⁻¹ Vᵀ by hand: one eigh and its products."""
    w, V = np.linalg.eigh(A)
    return np.sum(np.log(w)), (V / w) @ V.T


class LogdetCholesky:
    """value_and_grad of 2 Σ ln diag chol(A) against cho_factor + cho_solve(I)."""

    params = [[64, 128, 256, 512, 1024]]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        self.A = spd(rng("logdet-cholesky", n), n)
        self.identity = np.eye(n)
        self.value_and_grad = kronvec.value_and_grad(logdet_via_cholesky)
        warm(self.value_and_grad, self.A)
        warm(logdet_closed_form, self.A, self.identity)

    def time_kronvec(self, n):
        self.value_and_grad(self.A)

    def time_closed_form(self, n):
        logdet_closed_form(self.A, self.identity)

    def peakmem_kronvec(self, n):
        self.value_and_grad(self.A)


class LogEigvalsh:
    """value_and_grad of Σ ln eigvalsh(A) against one eigh plus V Λ⁻¹ Vᵀ."""

    params = [[64, 512]]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        self.A = spd(rng("log-eigvalsh", n), n)
        self.value_and_grad = kronvec.value_and_grad(sum_log_eigenvalues)
        warm(self.value_and_grad, self.A)

    def time_kronvec(self, n):
        self.value_and_grad(self.A)

    def time_closed_form(self, n):
        sum_log_eigenvalues_closed_form(self.A)


FACTORIZATIONS = {
    "cholesky": np.linalg.cholesky,
    "eigh eigenvectors": lambda A: np.linalg.eigh(A)[1],
    "eigvalsh": np.linalg.eigvalsh,
    "svd U": lambda A: np.linalg.svd(A)[0],
    "qr Q": lambda A: np.linalg.qr(A)[0],
}


class JacobianBuild:
    """kronvec.jacobian(factorization)(A) against the factorization itself."""

    params = [list(FACTORIZATIONS), [64, 500]]
    param_names = ["factorization", "n"]
    timeout = 300

    def setup(self, name, n):
        generator = rng("jacobian-build", name, n)
        self.A = spd(generator, n)  # SPD, eigenvalues simple with probability 1
        self.f = FACTORIZATIONS[name]
        self.jacobian = kronvec.jacobian(self.f)
        self.v = generator.standard_normal(n * n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kronvec.IllConditionedWarning)
            warm(self.jacobian, self.A)

    def time_jacobian(self, name, n):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kronvec.IllConditionedWarning)
            self.jacobian(self.A)

    def time_factorization(self, name, n):
        self.f(self.A)

    def peakmem_jacobian(self, name, n):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kronvec.IllConditionedWarning)
            self.jacobian(self.A)


DENSE_JACOBIANS = {name: FACTORIZATIONS[name] for name in ("cholesky", "eigh eigenvectors")}


class DenseJacobian:
    """The dense n²×n² Jacobian of cholesky and of eigh's eigenvectors: direct assembly
    (``toarray``) against the generic path (the operator applied to I).  At an input
    that is not exactly symmetric (NumPy reads one triangle) the Jacobian has one
    factor more, a column scaling, which the direct assembly writes too."""

    params = [list(DENSE_JACOBIANS), [8, 32, 48], ["symmetric", "not symmetric"]]
    param_names = ["factorization", "n", "input"]
    timeout = 300

    def setup(self, name, n, symmetry):
        generator = rng("dense-jacobian", name, n)
        self.A = spd(generator, n) + np.diag(np.linspace(0.0, 1.0, n))  # distinct eigenvalues
        if symmetry == "not symmetric":  # (the upper triangle, which np.linalg does not read, perturbed)
            self.A = self.A + 0.1 * np.triu(generator.standard_normal((n, n)), 1)
        self.jacobian = kronvec.jacobian(DENSE_JACOBIANS[name])
        self.J = warm(self.jacobian, self.A)
        self.identity = np.eye(n * n)
        warm(self.J.toarray)

    def time_jacobian_toarray(self, name, n, symmetry):
        self.jacobian(self.A).toarray()

    def time_toarray(self, name, n, symmetry):
        self.J.toarray()

    def time_generic_matmat_identity(self, name, n, symmetry):
        self.J.matmat(self.identity)

    def time_tosparse(self, name, n, symmetry):
        self.J.tosparse()

    def peakmem_jacobian_toarray(self, name, n, symmetry):
        self.jacobian(self.A).toarray()
