"""Issue 13, kronvec.scipy.linalg decompositions and solves
(kronvec/scipy/_linalg_decompositions.py, kronvec/ops/triangular.py).

* ``TriangularSolve``: value and gradient of Σ W ∘ solve_triangular(T, B) in
  (T, B), against SciPy's solve alone (the floor) and the hand-written
  gradient (two triangular solves and one product).
* ``ChoSolve``: value and gradient of bᵀ cho_solve(cho_factor(A), b) in A (the
  quadratic term of a Gaussian likelihood), against SciPy's value.
* ``LogdetChoFactor``: value and gradient of ln|A| = 2 Σ ln diag(c),
  (c, lower) = cho_factor(A), against SciPy's ``cho_factor`` + ``cho_solve`` of
  I (the closed form ∇ = A⁻¹).  ``benchmarks/measure_scipy_linalg.py`` times it
  side by side in one process, with default and with one BLAS thread.
* ``JacobianBuild``: the structured Jacobians of solve_triangular (in T and in
  B) and of lu_factor, built and applied to one vector (never a dense n²×n²
  matrix), against the factorization or solve alone.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

import kronvec
import kronvec.scipy.linalg as kl

from . import rng, spd, warm, well_conditioned


def logdet_via_cho_factor(A):
    return 2.0 * np.sum(np.log(np.diagonal(kl.cho_factor(A)[0])))


def logdet_closed_form(A, identity):
    """ln|A| and ∇ = A⁻¹ by hand: one Cholesky factorization, two triangular solves of I."""
    factor = scipy.linalg.cho_factor(A)
    return 2.0 * np.sum(np.log(np.diagonal(factor[0]))), scipy.linalg.cho_solve(factor, identity)


class TriangularSolve:
    params = [[64, 512]]
    param_names = ["n"]

    def setup(self, n):
        generator = rng("scipy_linalg", "triangular", n)
        self.T = np.tril(well_conditioned(generator, n))
        self.B = generator.standard_normal((n, 8))
        self.W = generator.uniform(0.5, 1.5, (n, 8))

        def objective(T, B):
            return np.sum(self.W * kl.solve_triangular(T, B, lower=True))

        self.value_and_grad = kronvec.value_and_grad(objective, argnums=(0, 1))
        warm(self.value_and_grad, self.T, self.B)

    def time_value_scipy(self, n):
        np.sum(self.W * scipy.linalg.solve_triangular(self.T, self.B, lower=True))

    def time_closed_form(self, n):
        X = scipy.linalg.solve_triangular(self.T, self.B, lower=True)
        B_bar = scipy.linalg.solve_triangular(self.T, self.W, lower=True, trans=1)
        np.sum(self.W * X), np.tril(-B_bar @ X.T), B_bar

    def time_value_and_grad(self, n):
        self.value_and_grad(self.T, self.B)


class ChoSolve:
    params = [[64, 512]]
    param_names = ["n"]

    def setup(self, n):
        generator = rng("scipy_linalg", "cho_solve", n)
        self.A, self.b = spd(generator, n), generator.standard_normal(n)

        def quadratic(A):
            return self.b @ kl.cho_solve(kl.cho_factor(A, lower=True), self.b)

        self.value_and_grad = kronvec.value_and_grad(quadratic)
        warm(self.value_and_grad, self.A)

    def time_value_scipy(self, n):
        self.b @ scipy.linalg.cho_solve(scipy.linalg.cho_factor(self.A, lower=True), self.b)

    def time_value_and_grad(self, n):
        self.value_and_grad(self.A)


class LogdetChoFactor:
    params = [[64, 1024]]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        self.A = spd(rng("scipy_linalg", "logdet", n), n)
        self.identity = np.eye(n)
        self.value_and_grad = kronvec.value_and_grad(logdet_via_cho_factor)
        warm(self.value_and_grad, self.A)

    def time_kronvec(self, n):
        self.value_and_grad(self.A)

    def time_closed_form(self, n):
        logdet_closed_form(self.A, self.identity)


class JacobianBuild:
    params = [[32, 256], ["solve_triangular in T", "solve_triangular in B", "lu_factor"]]
    param_names = ["n", "operation"]

    def setup(self, n, operation):
        generator = rng("scipy_linalg", "jacobian", n)
        self.A = well_conditioned(generator, n)
        self.B = generator.standard_normal((n, 4))
        if operation == "solve_triangular in T":
            self.function, self.at = (lambda T: kl.solve_triangular(T, self.B, lower=True)), self.A
            self.floor = lambda: scipy.linalg.solve_triangular(self.A, self.B, lower=True)
        elif operation == "solve_triangular in B":
            self.function, self.at = (lambda B: kl.solve_triangular(self.A, B, lower=True)), self.B
            self.floor = lambda: scipy.linalg.solve_triangular(self.A, self.B, lower=True)
        else:
            self.function, self.at = (lambda A: kl.lu_factor(A)[0]), self.A
            self.floor = lambda: scipy.linalg.lu_factor(self.A)
        self.jacobian = kronvec.jacobian(self.function)
        self.v = generator.standard_normal(self.at.size)
        warm(self.jacobian, self.at)

    def time_operation_alone(self, n, operation):
        self.floor()

    def time_jacobian(self, n, operation):
        self.jacobian(self.at)

    def time_jacobian_matvec(self, n, operation):
        self.jacobian(self.at).matvec(self.v)
