"""Lazy combinations: Sum, Product and Scaled.

They are what ``+``, ``@`` and scalar ``*`` return when no law in
:mod:`kronvec.algebra` can simplify further; each keeps its operands
structured and applies them one after another.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from ._base import Precedence, StructuredOperator, combined_dtype, parenthesize

__all__ = ["Sum", "Product", "Scaled"]

# A Jacobian built by forward composition shares sub-operators (a value used
# twice contributes the same upstream Jacobian to two terms).  Evaluated as a
# tree, a chain of d such reuses would cost 2^d applications; memoizing
# (operator, input) pairs for the duration of one top-level application keeps
# the cost linear in the size of the DAG.
_active_memo = None


@contextlib.contextmanager
def _memo_scope():
    """Open a memo for one top-level application (nested scopes share it)."""
    global _active_memo
    outermost = _active_memo is None
    if outermost:
        _active_memo = {}
    try:
        yield _active_memo
    finally:
        if outermost:
            _active_memo = None


def _memoized(op, X, compute):
    with _memo_scope() as memo:
        key = (id(op), id(X))
        hit = memo.get(key)
        if hit is not None and hit[0] is X:
            return hit[1]
        result = compute(X)
        memo[key] = (X, result)  # holding X keeps its id unique meanwhile
        return result


def _shared_identity(n, dtype):
    """One I_n per memo scope, so every product densified in it hits the memo."""
    with _memo_scope() as memo:
        key = ("identity", n, np.dtype(dtype))
        if key not in memo:
            memo[key] = np.eye(n, dtype=dtype)
        return memo[key]


def _composite_children(op):
    if isinstance(op, Sum):
        return op.terms
    if isinstance(op, Scaled):
        return (op.operator,)
    if isinstance(op, Product):
        return (op.factors[-1],)  # the prefix is applied as a whole, see below
    return ()


def _adjoint_sweep(root, Y):
    """``rootᵀ Y`` for a DAG of Sums, Products and Scaled operators, in linear time.

    Transposing the DAG term by term would apply a shared sub-operator once
    per path to it (2^d paths after d reuses).  Instead, as reverse-mode
    differentiation does, cotangents are accumulated per shared operator and
    each is applied once, in topological order.
    """
    order, seen = [], set()

    def visit(op):  # post-order DFS: children before their referrers
        stack = [(op, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for child in _composite_children(node):
                if isinstance(child, (Sum, Product, Scaled)) and id(child) not in seen:
                    stack.append((child, False))

    visit(root)
    pending = {id(root): Y}
    result = None

    def send(op, cotangent):
        nonlocal result
        if isinstance(op, (Sum, Product, Scaled)):
            previous = pending.get(id(op))
            pending[id(op)] = cotangent if previous is None else previous + cotangent
        else:
            contribution = op.T._matmat(cotangent)
            result = contribution if result is None else result + contribution

    for op in reversed(order):  # referrers before the operators they share
        cotangent = pending.pop(id(op), None)
        if cotangent is None:
            continue
        if isinstance(op, Sum):
            for term in op.terms:
                send(term, cotangent)
        elif isinstance(op, Scaled):
            send(op.operator, op.alpha * cotangent)
        else:  # Product F₁…F_k: (F₁…F_{k-1})ᵀ applied as a unit, then F_k shared
            for factor in op.factors[:-1]:
                cotangent = factor.T._matmat(cotangent)
            send(op.factors[-1], cotangent)
    if result is None:
        result = np.zeros((root.shape[1], Y.shape[1]), dtype=np.result_type(root.dtype, Y.dtype))
    return result


class _CompositeAdjoint(StructuredOperator):
    """The transpose of a Sum/Product/Scaled DAG, applied by :func:`_adjoint_sweep`."""

    precedence = Precedence.ATOM

    def __init__(self, operator):
        self.operator = operator
        self.carries_data = operator.carries_data
        super().__init__(operator.shape[::-1], operator.dtype)

    @property
    def transposed_original(self):
        """The operator this is the transpose of (it caches this one weakly)."""
        return self.operator

    def _matmat(self, X):
        return _adjoint_sweep(self.operator, X)

    def _transpose(self):
        return self.operator

    @property
    def nnz_bound(self):
        return self.operator.nnz_bound

    def _toarray(self):
        return np.ascontiguousarray(self.operator.toarray().T)

    def _tosparse(self):
        return self.operator.tosparse().T.tocsr()

    def formula(self):
        return f"({self.operator.formula()})ᵀ"


def cached_formula(method):
    """Cache an (immutable) operator's formula on the instance: shared
    sub-operators are then printed once, not once per path to them."""

    @functools.wraps(method)
    def formula(self):
        cached = self.__dict__.get("_formula")
        if cached is None:
            cached = self.__dict__["_formula"] = method(self)
        return cached

    return formula


_FORMULA_LIMIT = 160


def _capped(text, kind, count):
    """Formulas of deep compositions would grow exponentially; abbreviate them."""
    return text if len(text) <= _FORMULA_LIMIT else f"⟨{kind} of {count} {'terms' if kind == 'sum' else 'factors'}⟩"


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
        return _memoized(self, X, self._sum_of_terms)

    def _sum_of_terms(self, X):
        result = self.terms[0]._matmat(X)
        for term in self.terms[1:]:
            result = result + term._matmat(X)
        return result

    def _transpose(self):
        if any(isinstance(t, (Sum, Product, Scaled)) for t in self.terms):
            return _CompositeAdjoint(self)  # may share sub-operators: sweep, don't tree-walk
        return Sum([term.T for term in self.terms])

    @property
    def nnz_bound(self):
        return min(sum(t.nnz_bound for t in self.terms), self.shape[0] * self.shape[1])

    def _accumulate_dense(self, out, scale):
        with _memo_scope():  # terms that share sub-operators densify them once
            for term in self.terms:
                term._accumulate_dense(out, scale)

    def _tosparse(self):
        from ..sparse import sum_csr

        return sum_csr([(1.0, term.tosparse()) for term in self.terms])

    @cached_formula
    def formula(self):
        pieces = [parenthesize(self.terms[0], Precedence.SUM)]
        for term in self.terms[1:]:
            text = parenthesize(term, Precedence.SUM)
            pieces.append(f"- {text[1:]}" if text.startswith("-") else f"+ {text}")
        return _capped(" ".join(pieces), "sum", len(self.terms))


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
        return _memoized(self, X, self._apply_factors)

    def _apply_factors(self, X):
        for factor in reversed(self.factors):
            X = factor._matmat(X)
        return X

    def _transpose(self):
        if any(isinstance(f, (Sum, Product, Scaled)) for f in self.factors):
            return _CompositeAdjoint(self)
        return Product([f.T for f in reversed(self.factors)])

    def inv(self):
        from . import algebra

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
        sparse_work = sum(f.nnz_bound for f in self.factors)
        if sparse_work * 8 <= self.shape[0] * self.shape[1]:
            # Factors far sparser than the result: multiply in CSR, no dense intermediates.
            return self.tosparse().toarray()
        # Applying the whole product to I keeps sub-operator sharing memoized; start
        # from the narrow side, so no intermediate is wider than the result.
        m, n = self.shape
        if m < n:
            identity = _shared_identity(m, self.dtype)
            return np.ascontiguousarray(np.asarray(self.T._matmat(identity), dtype=self.dtype).T)
        identity = _shared_identity(n, self.dtype)
        return np.asarray(self._matmat(identity), dtype=self.dtype)

    def _accumulate_dense(self, out, scale):
        out += scale * self._toarray()

    def _tosparse(self):
        from .._config import config

        m, n = self.shape
        if sum(f.nnz_bound for f in self.factors) > m * n and self.dense_nbytes <= config.dense_limit_bytes:
            # The factors' CSR would dwarf the result (e.g. a few rows of a huge Kron):
            # build the small dense result from its narrow side and compress that.
            from scipy.sparse import csr_array

            matrix = csr_array(self._toarray())
            matrix.eliminate_zeros()
            return matrix
        result = self.factors[0].tosparse()
        for factor in self.factors[1:]:
            result = result @ factor.tosparse()
        result = result.tocsr()
        result.sum_duplicates()
        result.eliminate_zeros()
        return result

    @cached_formula
    def formula(self):
        text = "·".join(parenthesize(f, Precedence.PRODUCT) for f in self.factors)
        return _capped(text, "product", len(self.factors))


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
