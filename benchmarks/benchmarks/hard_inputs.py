"""Issue 6, the hard inputs: what being right or loud costs.

* ``InvJacobianLarge``: the structured Jacobian of inv, created and applied to
  one vector, against its floor -- one inverse plus two matrix products
  (``-(X⁻ᵀ ⊗ X⁻¹) vec V = -vec(X⁻¹ V X⁻¹)``).  Target: within 2× of the floor
  and O(n²) memory (under 1 GiB at n = 4000, where the dense Jacobian would
  be 2 PB).  ``benchmarks/hard_inputs_table.py`` measures the n = 4000 point
  in a fresh process.
* ``Refusal``: ``toarray()`` / ``tosparse()`` of a Jacobian far above the
  limits must refuse in microseconds without allocating.
* ``SingularDeterminant``: gradient (adjugate via SVD) and structured Hessian
  of det at rank n, n−1 and n−2; ``track_`` the rank n−1 gradient's error
  against the closed form ``det(U)det(V)σ₁⋯σₙ₋₁ uₙvₙᵀ``.
* ``IllConditioned``: the inverse Jacobian with the 1-norm condition check
  at κ = 1e2 … 1e15 (warnings filtered in setup so only the check is timed).
* ``FiniteCheck``: ``grad`` with ``config.check_finite`` on and off (the
  cost of one pass over the input).
* ``SPDLogdet``: ``value_and_grad`` of ln|X| on an SPD matrix (Cholesky
  path) and on the same matrix made non-symmetric by one ulp (LU path).
"""

from __future__ import annotations

import warnings

import numpy as np

import kronvec
from kronvec._config import IllConditionedWarning

from . import relative_error, rng, spd, vec, warm, well_conditioned


def _orthogonal(generator, n):
    Q, R = np.linalg.qr(generator.standard_normal((n, n)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def _svd_built(generator, singular_values):
    n = len(singular_values)
    U, V = _orthogonal(generator, n), _orthogonal(generator, n)
    s = np.asarray(singular_values, dtype=np.float64)
    return (U * s) @ V.T, U, s, V


class InvJacobianLarge:
    """jacobian(np.linalg.inv)(X) then one matvec, against inv + 2 matmuls."""

    params = [[250, 1000, 2000, 4000]]
    param_names = ["n"]
    timeout = 600

    def setup(self, n):
        generator = rng("hard-inv-large", n)
        self.X = well_conditioned(generator, n)
        self.V = generator.standard_normal((n, n))
        self.v = vec(self.V)
        self.jacobian = kronvec.jacobian(np.linalg.inv)
        warm(lambda: self.jacobian(self.X).matvec(self.v))

    def time_create_and_matvec(self, n):
        self.jacobian(self.X).matvec(self.v)

    def peakmem_create_and_matvec(self, n):
        self.jacobian(self.X).matvec(self.v)

    def time_create(self, n):
        self.jacobian(self.X)

    def time_inverse_plus_two_matmuls(self, n):
        Xi = np.linalg.inv(self.X)
        -(Xi @ self.V) @ Xi

    def peakmem_inverse_plus_two_matmuls(self, n):
        Xi = np.linalg.inv(self.X)
        -(Xi @ self.V) @ Xi


class Refusal:
    """toarray()/tosparse() far above the limits: refuse before allocating."""

    params = [[400, 1000, 4000]]
    param_names = ["n"]

    def setup(self, n):
        X = well_conditioned(rng("hard-refusal", n), n)
        self.J = kronvec.jacobian(np.linalg.inv)(X)
        if self.J.dense_nbytes <= kronvec.config.dense_limit_bytes:
            raise NotImplementedError(f"n = {n}: the dense Jacobian fits under the limit")

    def time_toarray_refusal(self, n):
        try:
            self.J.toarray()
        except MemoryError:
            pass

    def time_tosparse_refusal(self, n):
        try:
            self.J.tosparse()
        except MemoryError:
            pass

    def peakmem_toarray_refusal(self, n):
        try:
            self.J.toarray()
        except MemoryError:
            pass


_RANKS = {"rank n": 0, "rank n-1": 1, "rank n-2": 2}


class SingularDeterminant:
    """grad and hessian of det at rank n, n−1, n−2."""

    params = [list(_RANKS), [4, 16, 64]]
    param_names = ["rank", "n"]

    def setup(self, rank, n):
        generator = rng("hard-det", rank, n)
        s = np.sort(generator.uniform(0.5, 2.0, n))[::-1]
        s[n - _RANKS[rank]:] = 0.0
        self.X, self.U, self.s, self.V = _svd_built(generator, s)
        self.direction = vec(generator.standard_normal((n, n)))
        self.grad = kronvec.grad(np.linalg.det)
        self.hessian = kronvec.hessian(np.linalg.det)
        warm(self.grad, self.X)
        self.H = warm(self.hessian, self.X)

    def time_grad(self, rank, n):
        self.grad(self.X)

    def time_hessian_create(self, rank, n):
        self.hessian(self.X)

    def time_hessian_matvec(self, rank, n):
        self.H.matvec(self.direction)

    def time_det_primal(self, rank, n):
        np.linalg.det(self.X)

    def track_grad_error_rank_n_minus_1_closed_form(self, rank, n):
        """Relative error of ∇|X| against det(U)det(V)σ₁⋯σₙ₋₁ uₙvₙᵀ (rank n−1 only)."""
        if rank != "rank n-1":
            return 0.0
        sign = np.linalg.det(self.U) * np.linalg.det(self.V)
        expected = sign * np.prod(self.s[:-1]) * np.outer(self.U[:, -1], self.V[:, -1])
        return relative_error(self.grad(self.X), expected)

    track_grad_error_rank_n_minus_1_closed_form.unit = "relative error"


class IllConditioned:
    """jacobian(inv) with the condition check at growing κ (n = 64)."""

    params = [[1e2, 1e10, 1e15]]
    param_names = ["kappa"]

    def setup(self, kappa):
        generator = rng("hard-ill", kappa)
        s = np.geomspace(1.0, 1.0 / kappa, 64)
        self.X = _svd_built(generator, s)[0]
        self._filters = warnings.catch_warnings()
        self._filters.__enter__()
        warnings.simplefilter("ignore", IllConditionedWarning)
        self.jacobian = kronvec.jacobian(np.linalg.inv)
        warm(self.jacobian, self.X)

    def teardown(self, kappa):
        self._filters.__exit__(None, None, None)

    def time_jacobian_inv(self, kappa):
        self.jacobian(self.X)

    def time_rules_logdet(self, kappa):
        kronvec.rules.logdet(self.X)

    def time_plain_inverse(self, kappa):
        np.linalg.inv(self.X)


class FiniteCheck:
    """grad of ln|X| + tr(X) with config.check_finite on and off."""

    params = [[64, 256, 1024]]
    param_names = ["n"]

    def setup(self, n):
        self.X = well_conditioned(rng("hard-finite", n), n)
        self.grad = kronvec.grad(lambda X: np.linalg.slogdet(X)[1] + np.trace(X))
        warm(self.grad, self.X)

    def time_grad_check_on(self, n):
        with kronvec.config.override(check_finite=True):
            self.grad(self.X)

    def time_grad_check_off(self, n):
        with kronvec.config.override(check_finite=False):
            self.grad(self.X)


class SPDLogdet:
    """value_and_grad of ln|X|: SPD (Cholesky fast path) vs not exactly symmetric (LU)."""

    params = [[64, 256, 1024]]
    param_names = ["n"]

    def setup(self, n):
        self.S = spd(rng("hard-spd", n), n)
        self.N = self.S.copy()
        self.N[0, 1] = np.nextafter(self.N[0, 1], np.inf)  # one ulp: no fast path
        self.value_and_grad = kronvec.value_and_grad(lambda X: np.linalg.slogdet(X)[1])
        warm(self.value_and_grad, self.S)

    def time_spd_cholesky_path(self, n):
        self.value_and_grad(self.S)

    def time_general_lu_path(self, n):
        self.value_and_grad(self.N)

    def track_paths_agree(self, n):
        """|value(SPD) − value(perturbed)| / |value|: the two paths agree to rounding."""
        a, b = self.value_and_grad(self.S)[0], self.value_and_grad(self.N)[0]
        return float(abs(a - b) / max(1.0, abs(a)))

    track_paths_agree.unit = "relative difference"
