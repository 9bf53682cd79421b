"""Issue 14, stacks through kronvec's numba kernels (notes/derivatives.md §24.6–§24.7).

* ``SmallClosedForms``: the kernels of large stacks alone — closed-form
  inverse and slogdet for n ≤ 4 (``small_inverse_fill``), one LU per member
  for medium n (``lu_inverse_fill``) — against NumPy's batched ``inv`` +
  ``slogdet``.
* ``DetHessianSingular``: the Hessian-vector product of Σ det X_k at a stack
  with singular members (exact there: the batched adjugate's SVD form).
"""

from __future__ import annotations

import numpy as np

import kronvec

from . import rng, warm
from .stacks import spd_stack


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
