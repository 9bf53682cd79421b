"""Lazy combinations: Sum, Product and Scaled.

They are what ``+``, ``@`` and scalar ``*`` return when no law in
:mod:`kronvec.algebra` can simplify further; each keeps its operands
structured.  They may share operands (a DAG), so they are never applied by
recursion: :mod:`kronvec.operators._evaluate` walks the DAG once per
application, using the three hooks each composite defines —
``_shared_operands`` (operands seeing the composite's own input),
``_combine`` (forward) and ``_distribute`` (adjoint).
"""

from __future__ import annotations

import numpy as np

from ._base import StructuredOperator, as_operator, check_solve_shape, combined_dtype
from ._dag import post_order
from ._evaluate import adjoint_workspace, apply_adjoint_dag, apply_dag, forward_workspace
from ._formula import Precedence, capped, parenthesize
from ._materialize import csr_bound_nbytes, csr_nbytes, product_nnz_bound
from .kron import CommutedKron
from .selection import Commutation

__all__ = ["Sum", "Product", "Scaled"]


def _all_children(op):
    if isinstance(op, Sum):
        return op.terms
    if isinstance(op, Product):
        return op.factors
    return (op.operator,) if isinstance(op, Scaled) else ()


def _nnz_bound(root):
    """``nnz_bound`` of a DAG of Sums, Products and Scaled operators, without recursion
    (see :func:`nnz_bounds`)."""
    return nnz_bounds(root)[-1][1]


def nnz_bounds(root):
    """``[(node, nnz_bound)]`` for every node of a DAG of Sums, Products and Scaled
    operators, children first (the root last), in one pass without recursion.

    Besides each node's bound it carries the most nonzeros any one row (and column) can
    hold: a Sum adds its terms', a Product multiplies its factors' — a row of F·R meets,
    for each of its ≤ r_F nonzeros, one row of R of ≤ r_R — and a node holds at most
    rows × (row maximum) and columns × (column maximum).  So a Product of selections,
    diagonals, commutations and embeddings (np.where of X and Xᵀ, a gather from a
    concatenation, a Toeplitz matrix of a vector) is bounded by its rows, not by
    rows × columns."""
    lines, bounds, result = {}, {}, []
    for op in post_order(root, _all_children):
        rows, columns = op.shape
        if isinstance(op, Sum):
            row = sum(lines[id(term)][0] for term in op.terms)
            column = sum(lines[id(term)][1] for term in op.terms)
            bound = sum(bounds[id(term)] for term in op.terms)
        elif isinstance(op, Product):
            row = column = 1
            for factor in op.factors:
                row *= lines[id(factor)][0]
                column *= lines[id(factor)][1]
            bound = rows * columns
        elif isinstance(op, Scaled):
            (row, column), bound = lines[id(op.operator)], bounds[id(op.operator)]
        else:
            row, column, bound = op.row_nnz_max, op.column_nnz_max, op.nnz_bound
        row, column = min(row, columns), min(column, rows)
        lines[id(op)] = (row, column)
        bounds[id(op)] = min(bound, rows * row, columns * column)
        result.append((op, bounds[id(op)]))
    return result


class _Composite(StructuredOperator):
    """What Sum, Product and Scaled share: DAG evaluation and a lazy transpose."""

    is_composite = True

    def _matmat(self, X):
        return apply_dag(self, X)

    def _column_workspace(self):
        return forward_workspace(self)

    @property
    def adjoint_is_sweep(self):
        return True

    @property
    def nnz_bound(self):
        return _nnz_bound(self)

    def _transpose_of_parts(self, parts, build):
        """``build(transposed parts)``, or the swept adjoint when a part may be shared."""
        if any(part.is_composite for part in parts):
            return _CompositeAdjoint(self)  # sweep the DAG, don't walk it as a tree
        return build([part.T for part in parts])


class _CompositeAdjoint(StructuredOperator):
    """The transpose of a Sum/Product/Scaled DAG, applied by a reverse sweep
    (:func:`kronvec.operators._evaluate.apply_adjoint_dag`)."""

    def __init__(self, operator):
        self.operator = operator
        self.carries_data = operator.carries_data
        super().__init__(operator.shape[::-1], operator.dtype)

    @property
    def transposed_original(self):
        """The operator this is the transpose of (it caches this one weakly)."""
        return self.operator

    def _matmat(self, X):
        return apply_adjoint_dag(self.operator, X)

    def _column_workspace(self):
        return adjoint_workspace(self.operator)

    def _transpose(self):
        return self.operator

    def inv(self):
        # (Mᵀ)⁻¹ = (M⁻¹)ᵀ: structured whenever M's inverse is (e.g. a Kronecker sum's)
        return self.operator.inv().T

    @property
    def nnz_bound(self):
        return self.operator.nnz_bound

    def _dense_transpose_of(self):
        return self.operator  # filled into the transposed view of the result

    def _direct_dense_workspace(self):
        # a term Tᵀ whose T writes itself (a Product of kronvec/operators/_outer_rows.py)
        # is written into the transposed view of the result as well
        return self.operator._direct_dense_workspace() if self.operator._linear_parts() is None else None

    def _accumulate_dense(self, out, scale):
        self.operator._accumulate_dense(out.T, scale)

    def _sparse_children(self):
        return (self.operator,)

    def _combine_sparse(self, matrices, sole, budget):
        (matrix,) = matrices
        budget.reserve(csr_nbytes(matrix), "a transpose")
        return matrix.T.tocsr()  # CSC → CSR conversion: sorted, canonical

    def _formula_children(self):
        return (self.operator,)

    def _render(self, parts, placeholders):
        ((text, _),) = parts
        return f"({text})ᵀ"


class Sum(_Composite):
    """``T₁ + T₂ + …`` of operators of one shape, e.g. the product rule's output."""

    precedence = Precedence.SUM

    def __init__(self, terms):
        terms = [as_operator(term) for term in terms]  # (an array or sparse matrix wrapped, as Kron's)
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

    def _shared_operands(self):
        return self.terms

    def _combine(self, values):
        total = values[0].astype(np.result_type(*values), copy=True)
        for value in values[1:]:
            total += value
        return total

    def _combine_workspace(self):
        return self.shape[0]

    def _distribute(self, cotangent):
        return [cotangent] * len(self.terms)

    def _distribute_workspace(self):
        return 0

    def _transpose(self):
        return self._transpose_of_parts(self.terms, Sum)

    def _linear_parts(self):
        return [(1.0, term) for term in self.terms]

    def inv(self):
        """The inverse of a Kronecker sum I ⊗ A + B ⊗ I (terms in any order, scaled or
        not), applied by Sylvester solves (:mod:`kronvec.operators.sylvester`)."""
        from .sylvester import as_kronecker_sum

        kronecker_sum = as_kronecker_sum(self)
        if kronecker_sum is None:
            return super().inv()
        return kronecker_sum.inv()

    def _sparse_children(self):
        return self.terms

    def _combine_sparse(self, matrices, sole, budget):
        from ..sparse import SUM_CSR_WORKSPACE_FACTOR, sum_csr

        bound = csr_bound_nbytes(sum(matrix.nnz for matrix in matrices), self.shape[0], self.dtype)
        budget.reserve((1 + SUM_CSR_WORKSPACE_FACTOR) * bound, "a sum")  # result + merge buffers
        return sum_csr([(1.0, matrix) for matrix in matrices])

    def _formula_children(self):
        return self.terms

    def _render(self, parts, placeholders):
        pieces = []
        for text, precedence in parts:
            text = parenthesize(text, precedence, Precedence.SUM)
            if not pieces:
                pieces.append(text)
            else:
                pieces.append(f"- {text[1:]}" if text.startswith("-") else f"+ {text}")
        return capped(" ".join(pieces), "sum", len(parts))


def _application_units(factors):
    """The factors of a Product as it applies them: each a unit, except a Kron beside a
    commutation matrix, (A ⊗ B)·K or K·(A ⊗ B), which is one
    :class:`~kronvec.operators.kron.CommutedKron` (its two products, no transposing copy
    of the vector between them).  Paired from the right, the side applied first."""
    units, position = [], len(factors)
    while position > 0:
        if position >= 2:
            commuted = CommutedKron.fits(factors[position - 2], factors[position - 1])
            if commuted is not None:
                kron = factors[position - 2] if commuted == "input" else factors[position - 1]
                units.append(CommutedKron(kron, commuted))
                position -= 2
                continue
        units.append(factors[position - 1])
        position -= 1
    return tuple(units[::-1])


class Product(_Composite):
    """``F₁ F₂ … F_k`` applied right to left, e.g. a chain rule that did not simplify."""

    precedence = Precedence.PRODUCT

    def __init__(self, factors):
        factors = [as_operator(factor) for factor in factors]  # (an array or sparse matrix wrapped, as Kron's)
        if not factors:
            raise ValueError("Product needs at least one factor")
        for left, right in zip(factors, factors[1:]):
            if left.shape[1] != right.shape[0]:
                raise ValueError(
                    f"matrix product A @ B needs A's columns == B's rows; got "
                    f"{left.shape} @ {right.shape}"
                )
        self.factors = tuple(factors)
        # (most Products hold no commutation: their factors are their units, told cheaply)
        factors = self.factors
        if len(factors) == 2:
            pairs = type(factors[0]) is Commutation or type(factors[1]) is Commutation
        else:
            pairs = Commutation in map(type, factors)
        self._units = _application_units(factors) if pairs else factors
        self._last_unit = self._units[-1:]
        super().__init__(
            (factors[0].shape[0], factors[-1].shape[1]),
            combined_dtype(factors),
        )

    def _shared_operands(self):
        # Only the last factor (or fused pair, see _application_units) sees the Product's
        # input; the others are applied to intermediate results, as a unit each.
        return self._last_unit

    def _combine(self, values):
        (value,) = values
        for unit in self._units[-2::-1]:
            value = unit._matmat(value)
        return value

    def _combine_workspace(self):
        peak, carried = 0, 0  # `carried`: the intermediate the next unit reads
        for unit in self._units[-2::-1]:
            peak = max(peak, carried + unit._column_workspace())
            carried = unit.shape[0]
        return peak

    def _distribute(self, cotangent):
        for unit in self._units[:-1]:  # (F₁…F_{k-1})ᵀ c = F_{k-1}ᵀ…F₁ᵀ c
            cotangent = unit.T._matmat(cotangent)
        return [cotangent]

    def _distribute_workspace(self):
        peak, carried = 0, 0
        for unit in self._units[:-1]:
            peak = max(peak, carried + unit.T._column_workspace())
            carried = unit.shape[1]
        return peak

    def _transpose(self):
        return self._transpose_of_parts(self.factors, lambda parts: Product(parts[::-1]))

    def _square_factors(self):
        # (F₁ F₂ … F_k)⁻¹ = F_k⁻¹ … F₁⁻¹ needs every factor invertible: a square product
        # of rectangular factors (e.g. 2×4 times 4×2) has no inverse made of theirs
        return all(factor.shape[0] == factor.shape[1] for factor in self.factors)

    def inv(self):
        from . import algebra

        if not self._square_factors():
            raise TypeError("Product has no structured inverse: its factors are not all square "
                            "(use solve, or scipy.sparse.linalg)")
        result = self.factors[-1].inv()
        for factor in reversed(self.factors[:-1]):
            result = algebra.multiply(result, factor.inv())
        return result

    def solve(self, b):
        b = check_solve_shape(self, b, "solve")
        if not self._square_factors():
            return self.dense_solve(b)
        # (F₁ F₂ … F_k)⁻¹ b = F_k⁻¹ … F₁⁻¹ b
        for factor in self.factors:
            b = factor.solve(b)
        return b

    # A product of the shape (I ⊗ A)·Diag(vec F)·(B ⊗ C)[·(I + K)] (the Jacobians of
    # the Cholesky factor and of eigh's eigenvectors) writes its dense matrix directly,
    # n⁴ entries from n³ numbers (kronvec/operators/_outer_rows.py); any other Product
    # is materialized by the DAG walk on blocks of unit columns.
    def _outer_rows(self):
        # (asked two or three times per toarray — its workspace, then the writing — and the
        # factors never change: recognized once per Product)
        try:
            return self._outer_rows_form
        except AttributeError:
            from ._outer_rows import match

            self._outer_rows_form = match(self)
            return self._outer_rows_form

    def _direct_dense_workspace(self):
        form = self._outer_rows()
        return None if form is None else form.workspace_nbytes()

    def _accumulate_dense(self, out, scale):
        form = self._outer_rows()
        if form is None:  # (DensePlan calls this only for recognized products)
            out += scale * self.toarray()
        else:
            form.write(out, scale, accumulate=True)

    def _dense_times(self, scale):
        form = self._outer_rows()
        return super()._dense_times(scale) if form is None else form.dense(scale)

    def _toarray(self):
        return self._dense_times(1.0)

    def _sparse_via_dense(self):
        """True when the factors' CSRs would dwarf the dense result (e.g. a few
        rows of a huge Kron): then the small dense result is built and compressed."""
        m, n = self.shape
        return sum(f.nnz_bound for f in self.factors) > m * n

    def _sparse_children(self):
        return () if self._sparse_via_dense() else self.factors

    def _combine_sparse(self, matrices, sole, budget):
        result = matrices[0] if sole[0] or len(matrices) > 1 else matrices[0].copy()
        for factor in matrices[1:]:
            bound = product_nnz_bound(result, factor)
            carried = 0 if result is matrices[0] else csr_nbytes(result)
            workspace = 8 * (result.shape[1] + factor.shape[1])  # column counts, SMMP's row mask
            budget.reserve(carried + csr_bound_nbytes(bound, result.shape[0], self.dtype) + workspace,
                           "a product of CSR factors")
            result = result @ factor
        result = result.tocsr()
        result.sum_duplicates()  # sorts the indices in place
        result.eliminate_zeros()
        return result

    def _formula_children(self):
        return self.factors

    def _render(self, parts, placeholders):
        text = "·".join(parenthesize(t, p, Precedence.PRODUCT) for t, p in parts)
        return capped(text, "product", len(parts))


class Scaled(_Composite):
    """``alpha · A`` for a real scalar alpha (``-A`` prints as ``-A``)."""

    precedence = Precedence.PRODUCT

    def __init__(self, alpha, operator):
        if not np.isscalar(alpha) or np.iscomplexobj(alpha):
            raise TypeError(f"scale must be a real scalar, got {alpha!r}")
        self.alpha = float(alpha)
        self.operator = operator = as_operator(operator)  # (an array or sparse matrix wrapped, as Kron's)
        self._operand = (operator,)
        super().__init__(operator.shape, operator.dtype)

    @property
    def adjoint_is_sweep(self):
        return self.operator.adjoint_is_sweep

    def _shared_operands(self):
        return self._operand

    def _combine(self, values):
        return self.alpha * values[0]

    def _combine_workspace(self):
        return self.shape[0]

    def _distribute(self, cotangent):
        return [self.alpha * cotangent]

    def _distribute_workspace(self):
        return self.shape[0]

    def _transpose(self):
        return Scaled(self.alpha, self.operator.T)

    def inv(self):
        if self.alpha == 0.0:
            raise np.linalg.LinAlgError(
                f"Scaled.inv: (α·A)⁻¹ = α⁻¹·A⁻¹ needs α ≠ 0; α = 0 makes the "
                f"{self.shape[0]}×{self.shape[1]} operator zero, hence singular"
            )
        return Scaled(1.0 / self.alpha, self.operator.inv())

    def solve(self, b):
        if self.alpha == 0.0:
            raise np.linalg.LinAlgError(
                "Scaled.solve: (α·A) x = b needs α ≠ 0; α = 0 makes the operator zero, hence singular"
            )
        return self.operator.solve(b) / self.alpha

    @property
    def apply_cost(self):
        return self.operator.apply_cost

    def _linear_parts(self):
        return [(self.alpha, self.operator)]

    def _sparse_children(self):
        return self._operand

    def _combine_sparse(self, matrices, sole, budget):
        (matrix,) = matrices
        if not sole[0]:  # another user still needs it unscaled
            budget.reserve(csr_nbytes(matrix), "a scaled copy")
            matrix = matrix.copy()
        matrix.data *= self.alpha
        return matrix

    def _formula_children(self):
        return self._operand

    def _render(self, parts, placeholders):
        ((text, precedence),) = parts
        prefix = "-" if self.alpha == -1 else f"{self.alpha:g}·"
        return prefix + parenthesize(text, precedence, Precedence.ATOM)
