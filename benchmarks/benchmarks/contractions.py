"""Contractions (``kronvec/ops/contractions.py``): einsum and tensordot.

* ``RecordAndSweep``: ``value_and_grad`` of ⟨W, contraction⟩ at small sizes —
  recording the operation and sweeping back through its VJP, the per-call
  cost an optimizer's objective pays — against the contraction alone
  (``time_value``).
* ``JacobianApply``: the structured Jacobian of a contraction (a ``Kron`` for
  a product of two matrices, else a ``Contraction`` operator) applied to a
  vector, against the ``np.einsum`` that computes the value
  (``time_value_einsum``, NumPy's optimized path): issue 12 asks the matvec
  to stay within 1.5× of it where the work dominates; ``time_jacobian`` is
  the cost of building the operator (no n²×n² matrix: O(n²) memory).
"""

from __future__ import annotations

import numpy as np

import kronvec
from kronvec._vec import vec

from . import rng, warm

#: name → (the contraction of the operands, shapes at size n, the differentiated operand)
RECORDED = {
    "einsum ij,jk->ik": (lambda *ops: np.einsum("ij,jk->ik", *ops), lambda n: [(n, n), (n, n)], 1),
    "einsum ij,jk,kl->il": (lambda *ops: np.einsum("ij,jk,kl->il", *ops), lambda n: [(n, n)] * 3, 1),
    "einsum ii,ij->j": (lambda *ops: np.einsum("ii,ij->j", *ops), lambda n: [(n, n), (n, n)], 0),
    "einsum ...ij,...jk (stacks)": (lambda *ops: np.einsum("...ij,...jk", *ops),
                                    lambda n: [(2, n, n), (1, n, n)], 1),
    "tensordot axes=2": (lambda *ops: np.tensordot(*ops, axes=2), lambda n: [(n, n, n), (n, n)], 1),
    "tensordot axes=1": (lambda *ops: np.tensordot(*ops, axes=1), lambda n: [(n, n), (n, n)], 0),
}


class RecordAndSweep:
    """value_and_grad through one contraction: recording and reverse sweep."""

    params = [list(RECORDED), [2, 16]]
    param_names = ["contraction", "n"]

    def setup(self, name, n):
        contraction, shapes, position = RECORDED[name]
        generator = rng("contractions-record", name, n)
        self.operands = [generator.standard_normal(shape) for shape in shapes(n)]
        weights = generator.standard_normal(np.shape(contraction(*self.operands)))
        others = list(self.operands)

        def objective(x):
            call = list(others)
            call[position] = x
            return np.sum(weights * contraction(*call))

        self.contraction = contraction
        self.x = self.operands[position]
        self.value_and_grad = kronvec.value_and_grad(objective)
        warm(self.value_and_grad, self.x)

    def time_value(self, name, n):
        self.contraction(*self.operands)

    def time_value_and_grad(self, name, n):
        self.value_and_grad(self.x)


#: name → (subscripts, operand shapes at size n, the differentiated operand)
APPLIED = {
    "ij,jk->ik": ("ij,jk->ik", lambda n: [(n, n), (n, n)], 1),
    "ij,kj->ik": ("ij,kj->ik", lambda n: [(n, n), (n, n)], 1),
    "ij,jk,kl->il": ("ij,jk,kl->il", lambda n: [(n, n)] * 3, 1),
    "bij,bjk->bik (b=8)": ("bij,bjk->bik", lambda n: [(8, n, n), (8, n, n)], 1),
    "ijk,jl->ilk": ("ijk,jl->ilk", lambda n: [(n // 10, n, n // 10), (n, n // 10)], 0),
    "ij,ij->i": ("ij,ij->i", lambda n: [(n, n), (n, n)], 1),
}


class JacobianApply:
    """The structured Jacobian of an einsum, applied, against the einsum itself."""

    params = [list(APPLIED), [200, 500]]
    param_names = ["subscripts", "n"]

    def setup(self, name, n):
        subscripts, shapes, position = APPLIED[name]
        generator = rng("contractions-apply", name, n)
        self.operands = [generator.standard_normal(shape) for shape in shapes(n)]
        self.subscripts = subscripts
        others = list(self.operands)

        def f(x):
            call = list(others)
            call[position] = x
            return np.einsum(subscripts, *call, optimize=True)

        self.f, self.x = f, self.operands[position]
        self.jacobian = kronvec.jacobian(f)
        self.J = warm(self.jacobian, self.x)
        self.v = vec(generator.standard_normal(self.x.shape)).copy()
        self.w = generator.standard_normal(self.J.shape[0])
        warm(self.J.matvec, self.v)
        warm(self.J.rmatvec, self.w)

    def time_value_einsum(self, name, n):
        np.einsum(self.subscripts, *self.operands, optimize=True)

    def time_matvec(self, name, n):
        self.J.matvec(self.v)

    def time_rmatvec(self, name, n):
        self.J.rmatvec(self.w)

    def time_jacobian(self, name, n):
        self.jacobian(self.x)

    def peakmem_jacobian(self, name, n):
        self.jacobian(self.x)
