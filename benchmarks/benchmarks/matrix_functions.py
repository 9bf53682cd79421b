"""Issue 13, matrix functions (kronvec/ops/matrix_functions.py): expm, sqrtm, logm.

* ``TraceExpmSymmetric``: value and gradient of tr(expm(A)) for a symmetric A through
  ``kronvec.value_and_grad`` (one ``eigh``; ∇ = V e^Λ Vᵀ), against one ``eigh`` and the
  two products of the closed form (the value's e^A and the gradient).  Target (issue 13):
  ≤ 1.3× at n = 512.
* ``SqrtmJacobianMatvec``: ``jacobian(sqrtm)(A).matvec`` (one triangular Sylvester solve
  on the Schur form of S, computed when the Jacobian is built) against one
  ``scipy.linalg.solve_sylvester(S, S, E)``.  Target: within 2× at n = 500.
* ``JacobianBuild``: ``kronvec.jacobian`` of expm, sqrtm, logm at a general and at a
  symmetric matrix against the function itself.  Target: < 3× (the issue states it at
  n = 2000).

* ``ExponentialFamily``: ``expm_frechet``, ``cosm``, ``tanm``, ``coshm`` (kronvec.scipy.linalg,
  built on expm; ``notes/derivatives.md`` §39): the value against SciPy's, the gradient of
  Σ W∘f(A), and one matvec of the Jacobian (a Fréchet derivative of order 2n for cos/tan,
  the second Fréchet derivative for expm_frechet in A).  No target: the costs to watch
  (the real 2n×2n exponential against SciPy's complex n×n one).

* ``FrechetJacobianDense``: ``kronvec.jacobian(f)(A).toarray()`` at a general A for
  f = expm, logm (notes/derivatives.md §43: every direction at once, through a plan built
  on first use), against the per-column path it replaced (:func:`per_column`: the same
  operator applied one direction at a time, ``scipy.linalg.expm_frechet`` or the 2n×2n
  block identity) and, for expm, the build of the Jacobian alone against
  ``scipy.linalg.expm`` (the plan is built lazily: building must stay ≈ 1× expm).
  ``benchmarks/measure_frechet_batched.py`` adds JAX and both thread settings.

* ``PolarJacobianBuild``: ``kronvec.jacobian`` of u and of p of ``polar(A)`` (kronvec/ops/polar.py,
  notes/derivatives.md §44: one SVD, W, V and one n×n array kept) against
  ``scipy.linalg.polar``.  Target: < 3× and < 4 n² extra memory at n = 2000
  (``benchmarks/measure_jacobian_memory.py --only polar --time`` measures it there).

``benchmarks/measure_matrix_functions.py`` measures them side by side in one process,
with default and with one BLAS thread, and makes the "at a repeated eigenvalue" table
(kronvec against JAX and PyTorch).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

import kronvec
from kronvec.ops.matrix_functions import FrechetOperator
from kronvec.scipy import linalg as kl

from . import rng, warm


def symmetric(generator, n):
    B = generator.standard_normal((n, n))
    return (B + B.T) / (2.0 * np.sqrt(n))


def general(generator, n):
    """2I + a perturbation of norm ≈ ½: eigenvalues near 2 (a real logarithm and square root)."""
    return 2.0 * np.eye(n) + 0.5 * generator.standard_normal((n, n)) / np.sqrt(n)


def trace_expm(A):
    return np.trace(kl.expm(A))


def trace_expm_closed_form(A):
    """tr e^A and ∇ = e^A by hand: one eigh, e^A = V e^Λ Vᵀ (the value's matrix) and
    the gradient — the two products of the closed form."""
    w, V = np.linalg.eigh(A)
    e = np.exp(w)
    F = (V * e) @ V.T
    Y = V * np.sqrt(e)
    return np.sum(e), F, Y @ Y.T


FUNCTIONS = {"expm": (kl.expm, scipy.linalg.expm), "sqrtm": (kl.sqrtm, scipy.linalg.sqrtm),
             "logm": (kl.logm, scipy.linalg.logm)}


class TraceExpmSymmetric:
    """value_and_grad of tr(expm(A)), A symmetric, against eigh plus two products."""

    params = [[64, 512]]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        self.A = symmetric(rng("trace-expm", n), n)
        self.value_and_grad = kronvec.value_and_grad(trace_expm)
        warm(self.value_and_grad, self.A)

    def time_kronvec(self, n):
        self.value_and_grad(self.A)

    def time_closed_form(self, n):
        trace_expm_closed_form(self.A)


class SqrtmJacobianMatvec:
    """jacobian(sqrtm)(A).matvec against one scipy.linalg.solve_sylvester(S, S, E)."""

    params = [[32, 500]]
    param_names = ["n"]
    timeout = 600

    def setup(self, n):
        generator = rng("sqrtm-matvec", n)
        self.A = general(generator, n)
        self.S = scipy.linalg.sqrtm(self.A)
        self.J = kronvec.jacobian(kl.sqrtm)(self.A)
        self.v = generator.standard_normal(n * n)
        self.E = self.v.reshape(n, n, order="F")

    def time_matvec(self, n):
        self.J.matvec(self.v)

    def time_rmatvec(self, n):
        self.J.rmatvec(self.v)

    def time_solve_sylvester(self, n):
        scipy.linalg.solve_sylvester(self.S, self.S, self.E)


class JacobianBuild:
    """kronvec.jacobian(f)(A) against f(A), for a general and a symmetric A."""

    params = [list(FUNCTIONS), ["general", "symmetric"], [32, 200]]
    param_names = ["function", "input", "n"]
    timeout = 600

    def setup(self, name, kind, n):
        generator = rng("matrix-function-jacobian", name, kind, n)
        self.A = general(generator, n) if kind == "general" else symmetric(generator, n) + 2.0 * np.eye(n)
        self.ours, self.theirs = FUNCTIONS[name]
        self.jacobian = kronvec.jacobian(self.ours)
        warm(self.jacobian, self.A)

    def time_jacobian(self, name, kind, n):
        self.jacobian(self.A)

    def time_function(self, name, kind, n):
        self.ours(self.A)

    def time_scipy(self, name, kind, n):
        self.theirs(self.A)

    def peakmem_jacobian(self, name, kind, n):
        self.jacobian(self.A)


class PolarJacobianBuild:
    """kronvec.jacobian of polar's u and p against scipy.linalg.polar, a general A."""

    params = [["right", "left"], [32, 200]]
    param_names = ["side", "n"]
    timeout = 600

    def setup(self, side, n):
        self.A = general(rng("polar-jacobian", side, n), n)
        self.side = side
        self.u = kronvec.jacobian(lambda X: kl.polar(X, side)[0])
        self.p = kronvec.jacobian(lambda X: kl.polar(X, side)[1])
        warm(self.u, self.A)

    def time_jacobian_u(self, side, n):
        self.u(self.A)

    def time_jacobian_p(self, side, n):
        self.p(self.A)

    def time_scipy(self, side, n):
        scipy.linalg.polar(self.A, self.side)

    def peakmem_jacobian_u(self, side, n):
        self.u(self.A)


EXPONENTIAL_FAMILY = {
    "expm_frechet": (lambda A, E: kl.expm_frechet(A, E, compute_expm=False),
                     lambda A, E: scipy.linalg.expm_frechet(A, E, compute_expm=False)),
    "cosm": (lambda A, E: kl.cosm(A), lambda A, E: scipy.linalg.cosm(A)),
    "tanm": (lambda A, E: kl.tanm(A), lambda A, E: scipy.linalg.tanm(A)),
    "coshm": (lambda A, E: kl.coshm(A), lambda A, E: scipy.linalg.coshm(A)),
}


class ExponentialFamily:
    """expm_frechet (in A), cosm, tanm, coshm: value against SciPy's, gradient, one Jacobian matvec."""

    params = [list(EXPONENTIAL_FAMILY), [16, 128]]
    param_names = ["function", "n"]
    timeout = 600

    def setup(self, name, n):
        generator = rng("exponential-family", name, n)
        self.A = generator.standard_normal((n, n)) / np.sqrt(n)  # norm ≈ 2: cos A far from singular
        self.E = generator.standard_normal((n, n))
        self.W = generator.standard_normal((n, n))
        self.ours, self.theirs = EXPONENTIAL_FAMILY[name]
        ours, E, W = self.ours, self.E, self.W
        self.grad = kronvec.grad(lambda A: np.sum(W * ours(A, E)))
        self.J = kronvec.jacobian(lambda A: ours(A, E))(self.A)
        self.v = generator.standard_normal(n * n)
        warm(self.grad, self.A)

    def time_kronvec(self, name, n):
        self.ours(self.A, self.E)

    def time_scipy(self, name, n):
        self.theirs(self.A, self.E)

    def time_grad(self, name, n):
        self.grad(self.A)

    def time_jacobian_matvec(self, name, n):
        self.J.matvec(self.v)


# ----------------------------------------------------------- dense Fréchet Jacobians
class _PerColumnFrechet(FrechetOperator):
    """A FrechetOperator applied one direction at a time (no batched plan): the path
    ``toarray`` took before notes/derivatives.md §43."""

    def _batched_plan(self, columns):
        return None

    def _transpose(self):
        return _PerColumnFrechet(self.kind, self.A, self.value, self.t, not self.transposed, self._solver)


def per_column(J):
    """The FrechetOperator J, applied one direction at a time."""
    return _PerColumnFrechet(J.kind, J.A, J.value, J.t, J.transposed, J._solver)


FRECHET_FUNCTIONS = {"expm": (kl.expm, 0.0), "logm": (kl.logm, 2.0)}


class FrechetJacobianDense:
    """jacobian(f)(A).toarray() at a general A: batched against one direction at a time."""

    params = [list(FRECHET_FUNCTIONS), [8, 32]]
    param_names = ["function", "n"]
    timeout = 900

    def setup(self, name, n):
        generator = rng("frechet-dense", name, n)
        f, shift = FRECHET_FUNCTIONS[name]
        self.A = shift * np.eye(n) + 0.5 * generator.standard_normal((n, n)) / np.sqrt(n)
        self.jacobian = kronvec.jacobian(f)
        warm(self.jacobian, self.A)

    def time_toarray(self, name, n):
        self.jacobian(self.A).toarray()  # (a new Jacobian: its plan is built inside)

    def time_toarray_per_column(self, name, n):
        per_column(self.jacobian(self.A)).toarray()

    def time_matmat_64_columns(self, name, n):
        J = self.jacobian(self.A)
        J.matmat(np.eye(n * n, min(64, n * n)))

    def peakmem_toarray(self, name, n):
        self.jacobian(self.A).toarray()


class FrechetJacobianBuild:
    """Building jacobian(expm)(A) at a general A against scipy.linalg.expm(A): the batched
    plan is made on the first many-column apply, not here (target ≈ 1×)."""

    params = [[32, 200]]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        self.A = 0.5 * rng("frechet-build", n).standard_normal((n, n)) / np.sqrt(n)
        self.jacobian = kronvec.jacobian(kl.expm)
        warm(self.jacobian, self.A)

    def time_jacobian(self, n):
        self.jacobian(self.A)

    def time_scipy_expm(self, n):
        scipy.linalg.expm(self.A)
