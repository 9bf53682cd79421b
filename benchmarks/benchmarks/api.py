"""The differentiation API (``kronvec.api``) on the standard objectives.

Objectives (``benchmarks/benchmarks/__init__.py: OBJECTIVES``), each with a
hand-written closed-form gradient as the floor:

* ``gaussian_nll``            ln|S| + tr(S⁻¹C)
* ``gaussian_nll_solve``      ln|S| + tr(solve(S, C))
* ``trace_quadratic``         tr(A X B Xᵀ)
* ``least_squares``           ‖A X B − C‖²_F
* ``logdet_minus_trace_inv``  ln|X| − tr(X⁻¹)

``Gradients`` times ``grad`` / ``value_and_grad`` (reverse accumulation, no
Jacobian formed) / ``jacobian`` (forward composition into a structured row)
against the function alone and the closed form; ``Jacobians`` times
``jacobian`` / ``jvp`` / ``vjp`` of matrix-valued maps; ``Accuracy`` tracks
the error of the gradient against the closed form and of a directional
derivative against central differences.
"""

from __future__ import annotations

import numpy as np

import kronvec

from . import OBJECTIVES, relative_error, rng, warm, well_conditioned

NAMES = list(OBJECTIVES)


class Gradients:
    """Gradient of each standard objective, n = 4 … 1024."""

    params = [NAMES, [4, 32, 256, 1024]]
    param_names = ["objective", "n"]

    def setup(self, name, n):
        self.f, self.X, self.closed_form = OBJECTIVES[name](rng("api", name, n), n)
        self.grad = kronvec.grad(self.f)
        self.value_and_grad = kronvec.value_and_grad(self.f)
        self.jacobian = kronvec.jacobian(self.f)
        warm(self.value_and_grad, self.X)

    def time_value(self, name, n):
        self.f(self.X)

    def time_closed_form_gradient(self, name, n):
        self.closed_form(self.X)

    def time_grad(self, name, n):
        self.grad(self.X)

    def time_value_and_grad(self, name, n):
        self.value_and_grad(self.X)

    def peakmem_value_and_grad(self, name, n):
        self.value_and_grad(self.X)

    def time_jacobian_row(self, name, n):
        self.jacobian(self.X)


def _inverse(X):
    return np.linalg.inv(X)


def _square(X):
    return X @ X


def _sandwich_inverse(X):
    return np.linalg.inv(X) @ X.T @ np.linalg.inv(X)


MAPS = {"inv": _inverse, "square": _square, "inv_Xt_inv": _sandwich_inverse}


class Jacobians:
    """Structured Jacobian, JVP and VJP of matrix-valued maps, n = 4 … 1024."""

    params = [list(MAPS), [4, 32, 256, 1024]]
    param_names = ["map", "n"]

    def setup(self, name, n):
        generator = rng("api-maps", name, n)
        self.f = MAPS[name]
        self.X = well_conditioned(generator, n)
        self.V = generator.standard_normal((n, n))
        self.jacobian = kronvec.jacobian(self.f)
        warm(self.jacobian, self.X)

    def time_function(self, name, n):
        self.f(self.X)

    def time_jacobian(self, name, n):
        self.jacobian(self.X)

    def peakmem_jacobian(self, name, n):
        self.jacobian(self.X)

    def time_jacobian_then_matvec(self, name, n):
        self.jacobian(self.X).matvec(self.V.reshape(-1, order="F"))

    def time_jvp(self, name, n):
        kronvec.jvp(self.f, (self.X,), (self.V,))

    def time_vjp(self, name, n):
        _, pullback = kronvec.vjp(self.f, self.X)
        pullback(self.V)


class Hessians:
    """Structured Hessian and Hessian-vector product of ln|X|."""

    params = [[4, 16, 64, 256]]
    param_names = ["n"]

    def setup(self, n):
        generator = rng("api-hessian", n)
        self.X = well_conditioned(generator, n)
        self.V = generator.standard_normal((n, n))
        self.f = lambda X: np.linalg.slogdet(X)[1]
        warm(kronvec.hessian(self.f), self.X)

    def time_hessian(self, n):
        kronvec.hessian(self.f)(self.X)

    def time_hvp(self, n):
        kronvec.hvp(self.f)(self.X, self.V)


class Accuracy:
    """Errors of kronvec's derivatives (relative to max(1, |reference|))."""

    params = [NAMES, [4, 16, 64]]
    param_names = ["objective", "n"]
    unit = "relative error"

    def setup(self, name, n):
        generator = rng("api-accuracy", name, n)
        self.f, self.X, self.closed_form = OBJECTIVES[name](generator, n)
        self.V = generator.standard_normal(self.X.shape)

    def track_grad_vs_closed_form(self, name, n):
        return relative_error(kronvec.grad(self.f)(self.X), self.closed_form(self.X))

    def track_directional_vs_central_difference(self, name, n):
        """⟨∇f, V⟩ against (f(X + hV) − f(X − hV)) / 2h, h = 1e-6·max(1, |X|)."""
        h = 1e-6 * max(1.0, float(np.max(np.abs(self.X))))
        numeric = (self.f(self.X + h * self.V) - self.f(self.X - h * self.V)) / (2.0 * h)
        exact = float(np.sum(kronvec.grad(self.f)(self.X) * self.V))
        return abs(exact - numeric) / max(1.0, abs(numeric))
