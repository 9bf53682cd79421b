"""Issue 13, Sylvester and Lyapunov equations (kronvec/ops/sylvester.py,
kronvec/operators/sylvester.py, kronvec/_linalg/sylvester.py).

* ``LyapunovObjective``: value and gradient of f(A) = ⟨W, X⟩ with
  A X + X Aᵀ = −C Cᵀ (a weighted controllability Gramian) through
  ``kronvec.value_and_grad`` of ``kronvec.scipy.linalg.solve_continuous_lyapunov``,
  against the hand-written closed form with SciPy: X = lyap(A, Q), Λ = lyap(Aᵀ, W),
  ∇ = −(Λ Xᵀ + Λᵀ X) — two SciPy solves, so two Schur forms of A where kronvec
  computes one and reuses it for Λ.
* ``KroneckerSumSolve``: ``solve`` on the Sum I ⊗ A + Bᵀ ⊗ I (what the issue
  names: ``Kron(I, A) + Kron(Bᵀ, I)``) against ``scipy.linalg.solve_sylvester``.
  ``time_operator_solve`` applies an inverse built once (its Schur forms
  computed in ``setup``: every solve after the first), ``time_first_solve``
  builds it too, ``time_scipy_solve_sylvester`` is SciPy's one call, which
  computes both Schur forms every time.
* ``RiccatiObjective``: value and gradient of ⟨W, X⟩ with X the continuous
  Riccati solution, against SciPy's ``solve_continuous_are`` plus the one
  Lyapunov solve of the closed form.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

import kronvec
import kronvec.scipy.linalg as kl
from kronvec.operators import Identity, Kron

from . import rng, warm


def _stable(generator, n):
    """A stable matrix (eigenvalues with real parts about −2√n), not symmetric."""
    return generator.standard_normal((n, n)) - 2.0 * np.sqrt(n) * np.eye(n)


def lyapunov_closed_form(A, Q, W):
    """⟨W, X⟩ and its gradient in A by hand with SciPy: two Lyapunov solves."""
    X = scipy.linalg.solve_continuous_lyapunov(A, Q)
    L = scipy.linalg.solve_continuous_lyapunov(A.T, W)
    return np.sum(W * X), -(L @ X.T + L.T @ X)


class LyapunovObjective:
    """value_and_grad of ⟨W, lyap(A, −C Cᵀ)⟩ in A, against two SciPy Lyapunov solves."""

    params = [[64, 256]]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        generator = rng("lyapunov-objective", n)
        self.A = _stable(generator, n)
        C = generator.standard_normal((n, 3))
        self.Q = -C @ C.T
        self.W = generator.uniform(0.5, 1.5, (n, n))
        Q, W = self.Q, self.W
        self.value_and_grad = kronvec.value_and_grad(lambda A: np.sum(W * kl.solve_continuous_lyapunov(A, Q)))
        warm(self.value_and_grad, self.A)
        warm(lyapunov_closed_form, self.A, self.Q, self.W)

    def time_kronvec(self, n):
        self.value_and_grad(self.A)

    def time_closed_form(self, n):
        lyapunov_closed_form(self.A, self.Q, self.W)


class KroneckerSumSolve:
    """(I ⊗ A + Bᵀ ⊗ I)⁻¹ b through Sum.inv (Schur forms once) against scipy.linalg.solve_sylvester."""

    params = [[100, 500]]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        generator = rng("kronecker-sum-solve", n)
        self.A = generator.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)
        self.B = generator.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)
        self.C = generator.standard_normal((n, n))
        self.b = self.C.ravel(order="F")
        self.S = Kron(Identity(n), self.A) + Kron(self.B.T, Identity(n))
        self.inverse = warm(self.S.inv)
        warm(self.inverse.matvec, self.b)
        warm(scipy.linalg.solve_sylvester, self.A, self.B, self.C)

    def time_operator_solve(self, n):
        self.inverse.matvec(self.b)

    def time_first_solve(self, n):
        self.S.solve(self.b)

    def time_scipy_solve_sylvester(self, n):
        scipy.linalg.solve_sylvester(self.A, self.B, self.C)


def riccati_closed_form(A, B, Q, R, W):
    """⟨W, X⟩ of the continuous Riccati solution and its gradient in A by hand with SciPy:
    one Riccati solve, the closed loop, one Lyapunov solve."""
    X = scipy.linalg.solve_continuous_are(A, B, Q, R)
    closed_loop = A - B @ np.linalg.solve(R, B.T) @ X
    L = scipy.linalg.solve_continuous_lyapunov(closed_loop, W)
    return np.sum(W * X), -(X @ L.T + X.T @ L)


class RiccatiObjective:
    """value_and_grad of ⟨W, care(A, B, Q, R)⟩ in A, against SciPy's CARE plus one Lyapunov solve."""

    params = [[16, 64]]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        generator = rng("riccati-objective", n)
        self.A = generator.standard_normal((n, n)) / np.sqrt(n)
        self.B = generator.standard_normal((n, max(1, n // 4)))
        self.Q = np.eye(n)
        self.R = np.eye(self.B.shape[1])
        self.W = generator.uniform(0.5, 1.5, (n, n))
        B, Q, R, W = self.B, self.Q, self.R, self.W
        self.value_and_grad = kronvec.value_and_grad(lambda A: np.sum(W * kl.solve_continuous_are(A, B, Q, R)))
        warm(self.value_and_grad, self.A)
        warm(riccati_closed_form, self.A, self.B, self.Q, self.R, self.W)

    def time_kronvec(self, n):
        self.value_and_grad(self.A)

    def time_closed_form(self, n):
        riccati_closed_form(self.A, self.B, self.Q, self.R, self.W)
