"""Lazy combinations: Sum, Product and Scaled.

They are what ``+``, ``@`` and scalar ``*`` return when no law in
:mod:`kronvec.algebra` can simplify further; each keeps its operands
structured and applies them one after another.
"""

from __future__ import annotations

import numpy as np

from ._base import Precedence, StructuredOperator, combined_dtype, parenthesize

__all__ = ["Sum", "Product", "Scaled"]


class Sum(StructuredOperator):
    """``T₁ + T₂ + …`` of operators of one shape, e.g. the product rule's output."""

    precedence = Precedence.SUM

    def __init__(self, terms):
        terms = list(terms)
        if not terms:
            raise ValueError("Sum needs at least one term")
        shape = terms[0].shape
        for term in terms[1:]:
            if term.shape != shape:
                raise ValueError(
                    f"sum law A + B needs equal shapes; got {shape} and {term.shape}"
                )
        self.terms = tuple(terms)
        super().__init__(shape, combined_dtype(terms))

    def _matmat(self, X):
        result = self.terms[0]._matmat(X)
        for term in self.terms[1:]:
            result = result + term._matmat(X)
        return result

    def _transpose(self):
        return Sum([term.T for term in self.terms])

    @property
    def nnz_bound(self):
        return min(sum(t.nnz_bound for t in self.terms), self.shape[0] * self.shape[1])

    def _accumulate_dense(self, out, scale):
        for term in self.terms:
            term._accumulate_dense(out, scale)

    def _tosparse(self):
        from ..sparse import sum_csr

        return sum_csr([(1.0, term.tosparse()) for term in self.terms])

    def formula(self):
        pieces = [parenthesize(self.terms[0], Precedence.SUM)]
        for term in self.terms[1:]:
            text = parenthesize(term, Precedence.SUM)
            pieces.append(f"- {text[1:]}" if text.startswith("-") else f"+ {text}")
        return " ".join(pieces)


class Product(StructuredOperator):
    """``F₁ F₂ … F_k`` applied right to left, e.g. a chain rule that did not simplify."""

    precedence = Precedence.PRODUCT

    def __init__(self, factors):
        factors = list(factors)
        if not factors:
            raise ValueError("Product needs at least one factor")
        for left, right in zip(factors, factors[1:]):
            if left.shape[1] != right.shape[0]:
                raise ValueError(
                    f"matrix product A @ B needs A's columns == B's rows; got "
                    f"{left.shape} @ {right.shape}"
                )
        self.factors = tuple(factors)
        super().__init__(
            (factors[0].shape[0], factors[-1].shape[1]),
            combined_dtype(factors),
        )

    def _matmat(self, X):
        for factor in reversed(self.factors):
            X = factor._matmat(X)
        return X

    def _transpose(self):
        return Product([f.T for f in reversed(self.factors)])

    def inv(self):
        from .. import algebra

        result = self.factors[-1].inv()
        for factor in reversed(self.factors[:-1]):
            result = algebra.multiply(result, factor.inv())
        return result

    def solve(self, b):
        # (F₁ F₂ … F_k)⁻¹ b = F_k⁻¹ … F₁⁻¹ b
        for factor in self.factors:
            b = factor.solve(b)
        return b

    def _toarray(self):
        result = self.factors[-1].toarray()
        for factor in reversed(self.factors[:-1]):
            result = factor._matmat(result)
        return np.asarray(result, dtype=self.dtype)

    def _accumulate_dense(self, out, scale):
        out += scale * self._toarray()

    def _tosparse(self):
        result = self.factors[0].tosparse()
        for factor in self.factors[1:]:
            result = result @ factor.tosparse()
        result = result.tocsr()
        result.sum_duplicates()
        result.eliminate_zeros()
        return result

    def formula(self):
        return "·".join(parenthesize(f, Precedence.PRODUCT) for f in self.factors)


class Scaled(StructuredOperator):
    """``alpha · A`` for a real scalar alpha (``-A`` prints as ``-A``)."""

    precedence = Precedence.PRODUCT

    def __init__(self, alpha, operator):
        if not np.isscalar(alpha) or np.iscomplexobj(alpha):
            raise TypeError(f"scale must be a real scalar, got {alpha!r}")
        self.alpha = float(alpha)
        self.operator = operator
        super().__init__(operator.shape, operator.dtype)

    def _matmat(self, X):
        return self.alpha * self.operator._matmat(X)

    def _transpose(self):
        return Scaled(self.alpha, self.operator.T)

    def inv(self):
        return Scaled(1.0 / self.alpha, self.operator.inv())

    def solve(self, b):
        return self.operator.solve(b) / self.alpha

    @property
    def apply_cost(self):
        return self.operator.apply_cost

    @property
    def nnz_bound(self):
        return self.operator.nnz_bound

    def _accumulate_dense(self, out, scale):
        self.operator._accumulate_dense(out, scale * self.alpha)

    def _tosparse(self):
        matrix = self.operator.tosparse()
        matrix.data *= self.alpha
        return matrix

    def formula(self):
        prefix = "-" if self.alpha == -1 else f"{self.alpha:g}·"
        return prefix + parenthesize(self.operator, Precedence.ATOM)
