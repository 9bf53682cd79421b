"""Compiled transformations (``compile=True``, issue 17) against the uncompiled ones.

``Compiled`` times value+grad of the standard objectives
(``benchmarks/benchmarks/__init__.py: OBJECTIVES``) compiled and uncompiled at
the small sizes where recording dominates (in the steady state: fused into one
numba function where the program allows it), the first call (record + program),
a compiled ``jacobian(np.linalg.inv)`` materialized, and a 21-operation
function at n = 2 (per call; divide by 21 for the per-operation figure).
Side-by-side comparisons with JAX and numba: ``benchmarks/measure_compile.py``.
"""

from __future__ import annotations

import numpy as np

import kronvec

from . import OBJECTIVES, rng, warm

NAMES = list(OBJECTIVES)


def steady(compiled, X):
    """Replay `compiled` until its fused tier (if the program has one) is compiled in the
    background and in use: the steady state of an optimization loop."""
    from kronvec._compiled.gradient import FUSE_AFTER_REPLAYS

    for _ in range(FUSE_AFTER_REPLAYS + 1):
        compiled(X)
    for entry in compiled.cache.values():
        entry.built.wait(timeout=600)


class Compiled:
    """value+grad of each standard objective, compiled and not, n = 4 … 64."""

    params = [NAMES, [4, 16, 64]]
    param_names = ["objective", "n"]

    def setup(self, name, n):
        self.f, self.X, _ = OBJECTIVES[name](rng("compile", name, n), n)
        self.plain = kronvec.value_and_grad(self.f)
        self.compiled = kronvec.value_and_grad(self.f, compile=True)
        steady(self.compiled, self.X)

    def time_value_and_grad(self, name, n):
        self.plain(self.X)

    def time_value_and_grad_compiled(self, name, n):
        self.compiled(self.X)

    def time_first_call_compiled(self, name, n):
        kronvec.value_and_grad(self.f, compile=True)(self.X)


class CompiledSmall:
    """A 21-operation function at n = 2, and the dense Jacobian of X⁻¹ at n = 16."""

    def setup(self):
        W = np.array([[0.6, -0.3], [0.2, 0.5]])

        def chain(X):
            Y = X
            for _ in range(5):
                Y = np.tanh(Y @ W) * 0.5 + Y
            return np.sum(Y)

        self.X2 = np.array([[0.3, -0.1], [0.4, 0.2]])
        self.chain = kronvec.value_and_grad(chain, compile=True)
        self.X16 = np.random.default_rng(1).standard_normal((16, 16)) + 8.0 * np.eye(16)
        self.inverse_jacobian = kronvec.jacobian(np.linalg.inv, compile=True)
        steady(self.chain, self.X2)
        steady(self.inverse_jacobian, self.X16)  # (the Jacobian has a fused tier too)
        warm(lambda X: self.inverse_jacobian(X).toarray(), self.X16)

    def time_21_operations_value_and_grad(self):
        self.chain(self.X2)

    def time_dense_inverse_jacobian_16(self):
        self.inverse_jacobian(self.X16).toarray()
