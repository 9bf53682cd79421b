"""Every registered derivative rule (``kronvec.rules.REGISTRY``), at growing sizes.

The parameter lists are built from the registry at import time, so a rule
registered with ``@rule(...)`` is benchmarked with no edit here.  Inputs come
from the rule's own ``sample(rng, n)`` generator (seeded per rule and size).

* ``Rules.time_jacobian`` / ``peakmem_jacobian``: build the structured
  Jacobian (what the rule itself costs: a factorization or two, O(n²) memory);
* ``RuleApply.time_matvec`` / ``time_rmatvec``: apply it (the vec trick);
* ``RuleToarray.time_toarray`` / ``peakmem_toarray`` / ``time_tosparse``:
  materialize it where the dense result is at most 512 MiB;
* ``RuleAccuracy.track_fd_error``: relative error against central finite
  differences of the primal (full Jacobian, small sizes).
"""

from __future__ import annotations

import warnings

import numpy as np

import kronvec
from kronvec.rules import REGISTRY

from . import DENSE_LIMIT_BYTES, central_difference, relative_error, rng, skip_if, warm

RULES = sorted(REGISTRY)

#: Largest vector (entries) RuleApply allocates for x and y.
VECTOR_LIMIT = 1 << 23


def _sample(name, n):
    rule = REGISTRY[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rule, rule.sample(rng("rules", name, n), n)


class Rules:
    """Cost of evaluating each rule at sample inputs of size n."""

    params = [RULES, [4, 32, 256]]
    param_names = ["rule", "n"]

    def setup(self, name, n):
        self.rule, self.args = _sample(name, n)
        # det at large n overflows (a well-conditioned 256×256 matrix has
        # |det| ≈ 16²⁵⁶); the timing is still meaningful, the warnings are not.
        self._errors = np.seterr(all="ignore")
        warm(self.rule.jacobian, *self.args)

    def teardown(self, name, n):
        np.seterr(**getattr(self, "_errors", {}))

    def time_jacobian(self, name, n):
        self.rule.jacobian(*self.args)

    def peakmem_jacobian(self, name, n):
        self.rule.jacobian(*self.args)


class RuleApply:
    """Apply each rule's structured Jacobian to a vector (and its transpose)."""

    params = [RULES, [4, 32, 256]]
    param_names = ["rule", "n"]

    def setup(self, name, n):
        rule, args = _sample(name, n)
        self._errors = np.seterr(all="ignore")
        self.J = rule.jacobian(*args)
        rows, cols = self.J.shape
        skip_if(rows > VECTOR_LIMIT or cols > VECTOR_LIMIT, f"{rows}×{cols} Jacobian: vectors too large")
        generator = rng("rules-apply", name, n)
        self.x = generator.standard_normal(cols)
        self.y = generator.standard_normal(rows)
        warm(self.J.matvec, self.x)
        warm(self.J.rmatvec, self.y)

    def teardown(self, name, n):
        np.seterr(**getattr(self, "_errors", {}))

    def time_matvec(self, name, n):
        self.J.matvec(self.x)

    def time_rmatvec(self, name, n):
        self.J.rmatvec(self.y)


class RuleToarray:
    """Dense materialization of each rule's Jacobian (sizes whose result fits in 512 MiB)."""

    params = [RULES, [4, 32]]
    param_names = ["rule", "n"]

    def setup(self, name, n):
        rule, args = _sample(name, n)
        self._errors = np.seterr(all="ignore")
        self.J = rule.jacobian(*args)
        skip_if(self.J.dense_nbytes > DENSE_LIMIT_BYTES, f"dense result {self.J.dense_nbytes:,} bytes")
        # Compile (or load) the numba kernels on the smallest sample with numba
        # forced: the same kernels and dtypes, without paying for a second
        # full-size materialization (some take seconds, see the report).
        small = rule.jacobian(*_sample(name, 4)[1])
        with kronvec.config.override(numba_min_entries=0):
            warm(small.toarray)
            warm(small.tosparse)

    def teardown(self, name, n):
        np.seterr(**getattr(self, "_errors", {}))

    def time_toarray(self, name, n):
        self.J.toarray()

    def peakmem_toarray(self, name, n):
        self.J.toarray()

    def time_tosparse(self, name, n):
        self.J.tosparse()


class RuleAccuracy:
    """Worst relative error of each rule's Jacobian against central differences."""

    params = [RULES, [3, 6]]
    param_names = ["rule", "n"]
    unit = "relative error"

    def setup(self, name, n):
        self.rule, self.args = _sample(name, n)

    def track_fd_error(self, name, n):
        rule, args = self.rule, self.args
        k = rule.argnum

        def primal_of(X):
            trial = list(args)
            trial[k] = X
            return rule.primal(*trial)

        numeric = central_difference(primal_of, args[k])
        return relative_error(rule.jacobian(*args).toarray(), numeric)


class Factorizations:
    """The one LU/Cholesky factorization inv, slogdet and solve share
    (``kronvec/_linalg/factorization.py``), against NumPy doing each on its own.

    ``kind`` is "general" (LU: getrf, getri) or "spd" (Cholesky from n = 150:
    potrf, potri).  ``time_inverse_and_logdet`` is what ln|X| + tr(X⁻¹C) needs
    from X; ``time_numpy_inverse_and_slogdet`` the two NumPy calls it replaces.
    """

    params = [["general", "spd"], [4, 64, 256, 1024]]
    param_names = ["kind", "n"]

    def setup(self, kind, n):
        from kronvec._linalg.factorization import Factorization

        A = rng("factorizations", kind, n).standard_normal((n, n))
        self.X = A @ A.T + n * np.eye(n) if kind == "spd" else A + n**0.5 * np.eye(n)
        self.B = np.ones((n, 8))
        self.factorization = Factorization

    def time_inverse_and_logdet(self, kind, n):
        factors = self.factorization(self.X, "benchmark")
        factors.inverse()
        factors.logabsdet()

    def time_numpy_inverse_and_slogdet(self, kind, n):
        np.linalg.inv(self.X)
        np.linalg.slogdet(self.X)

    def time_solve(self, kind, n):
        self.factorization(self.X, "benchmark").solve(self.B)

    def time_numpy_solve(self, kind, n):
        np.linalg.solve(self.X, self.B)
