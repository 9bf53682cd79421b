"""The laws that keep products, sums and scalings structured.

Each law is one small function registered for the operand types it
applies to; :func:`multiply`, :func:`add` and :func:`scale` try the matching
laws in registration order and fall back to a lazy :class:`Product`,
:class:`Sum` or :class:`Scaled`.  A law returns ``None`` when its
preconditions (e.g. conforming factor shapes) do not hold.

References: Magnus & Neudecker, *Matrix Differential Calculus* (3rd ed.),
ch. 2 (Kronecker product) and ch. 3 (commutation matrix).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._base import StructuredOperator, combined_dtype, result_float_dtype
from ._formula import Precedence, name_precedence, parenthesize
from .basic import Dense, Diag, Identity, RowVector, Sparse, Zero, freeze
from .composite import Product, Scaled, Sum
from .batched import BatchedDense, BatchedKron
from .kron import Kron
from .selection import Commutation, Selection, SelectionTranspose, selection_from_index

__all__ = ["multiply", "add", "scale", "kron", "product_law", "sum_law"]

_PRODUCT_LAWS = []
_SUM_LAWS = []


def product_law(left_type, right_type):
    """Register ``law(a, b) -> operator or None`` for ``a @ b``.

    Laws see two operators that are not Products: :func:`multiply` takes a
    Product operand as its list of factors and offers the laws adjacent
    pairs of factors, so a law registered for ``Product`` is not consulted.
    """

    def register(law):
        _PRODUCT_LAWS.append((left_type, right_type, law))
        return law

    return register


def sum_law(left_type, right_type):
    """Register ``law(a, b) -> operator or None`` merging two terms of a sum."""

    def register(law):
        _SUM_LAWS.append((left_type, right_type, law))
        return law

    return register


def _first_law(laws, a, b):
    for left_type, right_type, law in laws:
        if isinstance(a, left_type) and isinstance(b, right_type):
            result = law(a, b)
            if result is not None:
                return result
    return None


def multiply(a, b):
    """``a @ b`` with every applicable law; a lazy Product otherwise.

    Scalars fold outward first (``(αA)(βB) = αβ·AB``).  A Product operand is
    taken as its list of factors, and adjacent factors are combined by the
    pairwise laws in a loop (:func:`_reduce_chain`), never by recursion, so
    chains of any length are fine.

    >>> import numpy as np
    >>> A, B = np.eye(2) * 2, np.eye(3) * 3
    >>> type(multiply(Kron(A, B), Kron(A, B))).__name__
    'Kron'
    """
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"matrix product A @ B needs A's columns == B's rows; got {a.shape} @ {b.shape} "
            f"for A = {a.formula()}, B = {b.formula()}"
        )
    alpha, a = _unscaled(a)
    beta, b = _unscaled(b)
    if a.is_identity or b.is_identity:
        result = _identity_absorbs(a, b)  # I B = B and A I = A, keeping B or A itself
    elif isinstance(a, Product) or isinstance(b, Product):
        result = _reduce_chain(_factors(a), _factors(b))
    else:
        result = _first_law(_PRODUCT_LAWS, a, b)
        if result is None:
            result = Product([a, b])
    return scale(result, alpha * beta)


def _unscaled(op):
    return (op.alpha, op.operator) if isinstance(op, Scaled) else (1.0, op)


def _factors(op):
    return list(op.factors) if isinstance(op, Product) else [op]


def _combine_pair(a, b):
    """``a @ b`` by one law, as ``(scalar, factors)``; None when no law applies."""
    combined = _first_law(_PRODUCT_LAWS, a, b)
    if combined is None:
        return None
    alpha, combined = _unscaled(combined)
    factors = _factors(combined)
    if len(factors) == 2 and factors[0] is a and factors[1] is b:
        return None  # a law that only re-associates makes no progress
    return alpha, factors


def _reduce_chain(left, right):
    """The product of two factor lists, each already reduced, as one operator.

    The factors of `right` are pushed onto the stack `left` one at a time;
    whenever a pairwise law combines the top of the stack with the next
    factor, the top is popped and the law's factors are pushed back in
    front of the remaining ones, so they meet the new top in turn.  Once an
    untouched factor of `right` stays as it is, the rest of `right` (reduced
    among itself already) is appended unchanged.
    """
    alpha = 1.0
    stack = list(left)
    pending = list(reversed(right))
    untouched = len(pending)  # pending[:untouched] are factors of `right` as given
    while pending:
        factor = pending.pop()
        from_right = len(pending) < untouched
        untouched = min(untouched, len(pending))
        combined = _combine_pair(stack[-1], factor) if stack else None
        if combined is None:
            stack.append(factor)
            if from_right and len(stack) > 1:
                stack.extend(reversed(pending))
                break
            continue
        stack.pop()
        scalar, factors = combined
        alpha *= scalar
        pending.extend(reversed(factors))
    result = stack[0] if len(stack) == 1 else Product(stack)
    return scale(result, alpha)


def add(a, b):
    """``a + b``, flattening sums and merging terms that share structure."""
    if a.shape != b.shape:
        raise ValueError(
            f"sum law A + B needs equal shapes; got {a.shape} and {b.shape} "
            f"for A = {a.formula()}, B = {b.formula()}"
        )
    if isinstance(a, Zero):
        return b
    if isinstance(b, Zero):
        return a
    a_terms, b_terms = _terms(a), _terms(b)
    if len(a_terms) + len(b_terms) > _MERGED_TERMS_LIMIT:
        # A long accumulation (the gradient of a deep chain sums a term per step):
        # merging each new term against all earlier ones would cost O(T²) law checks
        # over T additions.  The sum stays a DAG of sums, evaluated the same way.
        return Sum([a, b])
    terms = []
    for term in a_terms + b_terms:
        if isinstance(term, Zero):
            continue
        for position, existing in enumerate(terms):
            merged = _first_law(_SUM_LAWS, existing, term)
            if merged is not None:
                terms[position] = merged
                break
        else:
            terms.append(term)
    terms = [t for t in terms if not isinstance(t, Zero)]
    if not terms:
        return Zero(a.shape, result_float_dtype(a.dtype, b.dtype))
    return terms[0] if len(terms) == 1 else Sum(terms)


def _terms(op):
    return list(op.terms) if isinstance(op, Sum) else [op]


#: Sums with more terms than this are not flattened (see add).
_MERGED_TERMS_LIMIT = 32


def scale(a, alpha):
    """``alpha · a``, folding the scalar into the operator where it is free."""
    if not np.isscalar(alpha) or np.iscomplexobj(alpha):
        raise TypeError(f"an operator can be scaled by a real scalar only, got {alpha!r}")
    alpha = float(alpha)
    if alpha == 1.0:
        return a
    if a.is_identity and not isinstance(a, Identity):
        a = Identity(a.shape[0], a.dtype)
    if alpha == 0.0 or isinstance(a, Zero):
        return Zero(a.shape, a.dtype)
    if isinstance(a, Kron):
        return Kron(a.A, a.B, a.scale * alpha)
    if isinstance(a, BatchedKron):
        return BatchedKron(a.A, a.B, a.scale * alpha, count=a.count, name=f"{alpha:g}·({a._name})")
    if isinstance(a, Scaled):
        return scale(a.operator, a.alpha * alpha)
    if isinstance(a, RowVector):
        prefix = "-" if alpha == -1 else f"{alpha:g}·"
        return RowVector(freeze(alpha * a.v), _label=a._label.derived(prefix + "{}"))
    return Scaled(alpha, a)


def kron(a, b):
    """``a ⊗ b`` as a :class:`Kron`, folding scalars of the factors (I ⊗ I = I)."""
    alpha = 1.0
    if isinstance(a, Scaled):
        alpha, a = alpha * a.alpha, a.operator
    if isinstance(b, Scaled):
        alpha, b = alpha * b.alpha, b.operator
    if isinstance(a, Zero) or isinstance(b, Zero):
        shape = (a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])
        return Zero(shape, combined_dtype((a, b)))
    if a.is_identity and b.is_identity:
        return scale(Identity(a.shape[0] * b.shape[0], combined_dtype((a, b))), alpha)
    return Kron(a, b, alpha)


# --------------------------------------------------------------- products
@product_law(StructuredOperator, Zero)
def _times_zero(a, b):
    return Zero((a.shape[0], b.shape[1]), result_float_dtype(a.dtype, b.dtype))


@product_law(Zero, StructuredOperator)
def _zero_times(a, b):
    return Zero((a.shape[0], b.shape[1]), result_float_dtype(a.dtype, b.dtype))


@product_law(StructuredOperator, StructuredOperator)
def _identity_absorbs(a, b):
    # I B = B and A I = A, for any exact identity (I, I ⊗ I, the permutation K₁,ₙ...)
    if a.is_identity:
        return b
    if b.is_identity:
        return a
    return None


@product_law(Scaled, StructuredOperator)
def _scalar_folds_left(a, b):
    return scale(multiply(a.operator, b), a.alpha)  # (αA)B = α(AB)


@product_law(StructuredOperator, Scaled)
def _scalar_folds_right(a, b):
    return scale(multiply(a, b.operator), b.alpha)  # A(αB) = α(AB)


@product_law(RowVector, StructuredOperator)
def _row_times_operator(a, b):
    # Chain rule for a scalar function: Df(g(X)) Dg(X) is one row, vᵀB = (Bᵀv)ᵀ,
    # collapsed only when Bᵀv is one application of an operator.  For a DAG of
    # Sums/Products (a Jacobian built by forward composition) Bᵀv is a reverse
    # sweep, and collapsing at every step nests sweeps over DAGs whose rows were
    # themselves collapsed: in y ← y·y/‖y‖ + X that grows terms that cancel only
    # in the final sum (80 steps: relative error ~3e2).  There the Product
    # [vᵀ, B] stays lazy: it is applied forward, and its transpose accumulates
    # cotangents as reverse-mode differentiation does.
    if b.adjoint_is_sweep:
        return None
    return RowVector(freeze(b.rmatvec(a.v)))


@product_law(Kron, Kron)
def _mixed_product(a, b):
    # (A ⊗ B)(C ⊗ D) = AC ⊗ BD when AC and BD exist (Magnus–Neudecker ch. 2, eq. (11)).
    if a.A.shape[1] != b.A.shape[0] or a.B.shape[1] != b.B.shape[0]:
        return None
    return Kron(multiply(a.A, b.A), multiply(a.B, b.B), a.scale * b.scale)


def _batched_factor_product(a, b):
    """``a_k @ b_k`` for every member, an int standing for the identity."""
    if isinstance(a, int):
        return b
    if isinstance(b, int):
        return a
    return np.matmul(a, b)


@product_law(BatchedKron, BatchedKron)
def _batched_mixed_product(a, b):
    # (A_k ⊗ B_k)(C_k ⊗ D_k) = A_kC_k ⊗ B_kD_k member by member (the mixed product,
    # blockwise: both operators are block diagonal in the same member layout).
    def columns(factor):
        return factor if isinstance(factor, int) else factor.shape[2]

    def rows(factor):
        return factor if isinstance(factor, int) else factor.shape[1]

    if a.count != b.count or columns(a.A) != rows(b.A) or columns(a.B) != rows(b.B):
        return None
    return BatchedKron(_batched_factor_product(a.A, b.A), _batched_factor_product(a.B, b.B),
                       a.scale * b.scale, count=a.count, name=f"{a._name}·{b._name}")


@product_law(BatchedDense, BatchedKron)
def _batched_rows_times_blocks(a, b):
    # M_k (A_k ⊗ B_k) member by member: the rows of every block pulled back through
    # the transposed operator at once (row t of block k is column t in the stack layout).
    if a.count != b.count or a.block_shape[1] != b.block_shape[0]:
        return None
    from .._vec import unvec_stack_columns, vec_stack_columns

    m = a.block_shape[0]
    columns = vec_stack_columns(np.moveaxis(a.M, 1, 2))  # (K·n, m): entry k + K·b, t is M_k[t, b]
    pulled = b.T.matmat(columns)
    return BatchedDense(np.moveaxis(unvec_stack_columns(pulled, (a.count, b.block_shape[1])), 2, 1),
                        name=f"{a._name}·{b._name}" if m else None)


@product_law(BatchedDense, BatchedDense)
def _batched_dense_product(a, b):
    if a.count != b.count or a.block_shape[1] != b.block_shape[0]:
        return None
    return BatchedDense(np.matmul(a.M, b.M), name=f"{a._name}·{b._name}")


@product_law(Commutation, Kron)
def _commutation_swaps_kron(a, b):
    # K_{p,m}(A ⊗ B)K_{n,q} = B ⊗ A for A m×n, B p×q (Magnus–Neudecker ch. 3, Thm 9),
    # hence K_{p,m}(A ⊗ B) = (B ⊗ A) K_{q,n}: commutations move to the right,
    # where they cancel against each other.
    (m, n), (p, q) = b.A.shape, b.B.shape
    if (a.m, a.n) != (p, m):
        return None
    return multiply(kron(scale(b.B, b.scale), b.A), Commutation(q, n))


@product_law(Kron, Commutation)
def _kron_absorbs_commutation(a, b):
    # (A ⊗ B)K_{n,q} = K_{m,p}(B ⊗ A) for A m×n, B p×q; when K_{m,p} is the
    # identity (m = 1 or p = 1, e.g. vectors) this is simply B ⊗ A.
    (m, n), (p, q) = a.A.shape, a.B.shape
    if (b.m, b.n) != (n, q) or (m != 1 and p != 1):
        return None
    return kron(scale(a.B, a.scale), a.A)


@product_law(Selection, Selection)
def _selections_compose(a, b):
    # (S_a S_b x) = x[b.index][a.index] = x[b.index[a.index]]
    return selection_from_index(b.index[a.index], b.shape[1], name=_derived_name("{}·{}", a, b))


@product_law(Selection, SelectionTranspose)
def _selection_of_an_embedding(a, b):
    # S_a S_bᵀ with S_b picking no entry twice (an embedding, as concatenation's pieces):
    # (S_a S_bᵀ x)[r] = x[s] for the one s with b.index[s] = a.index[r], or 0 when none —
    # row r holds at most one 1, so the product is a selection (some rows zero) in
    # O(rows + columns), where the Product would be applied, and counted, as two maps.
    # (gather from a concatenation: np.insert, np.r_ of pieces, derivatives.md §11)
    embedded = b.selection.index
    if b.row_nnz_max > 1:  # (an entry placed twice: not an embedding)
        return None
    source = np.full(b.shape[0], -1, dtype=np.intp)
    source[embedded] = np.arange(embedded.size)
    columns = source[a.index]
    if (columns >= 0).all():
        return selection_from_index(columns, b.shape[1])
    rows = np.flatnonzero(columns >= 0)
    return Sparse(sp.csr_array((np.ones(rows.size, dtype=a.dtype), (rows, columns[rows])),
                               shape=(a.shape[0], b.shape[1])))


def _derived_name(template, *operands):
    """A name for a matrix computed by a law, only when every operand is named
    (an anonymous operand makes the result anonymous too).  Operand names are
    parenthesized where they bind more loosely than a product."""
    names = [op.name for op in operands]
    if any(name is None for name in names):
        return None
    if "·" in template:
        names = [parenthesize(name, name_precedence(name), Precedence.PRODUCT) for name in names]
    return template.format(*names)


@product_law(Dense, Dense)
def _dense_product(a, b):
    return Dense(freeze(a.M @ b.M), name=_derived_name("{}·{}", a, b))


def _symmetrizer_order(op):
    """n when `op` is the Sum I_{n²} + K_{n,n} (terms in either order), else None."""
    if len(op.terms) != 2:
        return None
    identity, commutation = op.terms if type(op.terms[0]) is Identity else op.terms[::-1]
    if type(identity) is not Identity or type(commutation) is not Commutation:
        return None
    n = commutation.m
    return n if commutation.n == n and identity.n == n * n else None


def _commuted_diagonal(term, n):
    """d for a term diag(d) or K_{n,n}·diag(d), else None."""
    if type(term) is Diag:
        return term.d
    if type(term) is Product and len(term.factors) == 2:
        commutation, diagonal = term.factors
        if type(commutation) is Commutation and (commutation.m, commutation.n) == (n, n) \
                and type(diagonal) is Diag:
            return diagonal.d
    return None


@product_law(Sum, Sum)
def _symmetrizer_absorbs_commutation(a, b):
    # (I + K)·(Σ diag(dᵢ) + Σ K·diag(eⱼ)) = (I + K)·diag(Σ dᵢ + Σ eⱼ), because
    # (I + K)·K = K + K² = I + K (K_{n,n} is its own inverse, Magnus–Neudecker ch. 3).
    # The second Sum is the Jacobian of the triangle NumPy's cholesky/eigh read at a
    # non-symmetric input (kronvec/ops/_symmetric_directions.py); after the symmetrizer of
    # their own Jacobians it becomes one column scaling, which the direct dense
    # assembly writes in one pass (kronvec/operators/_outer_rows.py).
    n = _symmetrizer_order(a)
    if n is None:
        return None
    diagonals = [_commuted_diagonal(term, n) for term in b.terms]
    if any(d is None for d in diagonals):
        return None
    return Product([a, Diag(freeze(np.sum(diagonals, axis=0)))])


@product_law(Diag, Diag)
def _diag_product(a, b):
    return Diag(freeze(a.d * b.d), name=_derived_name("{}·{}", a, b))


@product_law(Diag, Dense)
def _diag_scales_rows(a, b):
    return Dense(freeze(a.d[:, None] * b.M), name=_derived_name("{}·{}", a, b))


@product_law(Dense, Diag)
def _diag_scales_columns(a, b):
    return Dense(freeze(a.M * b.d[None, :]), name=_derived_name("{}·{}", a, b))


# ------------------------------------------------------------------- sums
@sum_law(StructuredOperator, StructuredOperator)
def _same_operator_twice(a, b):
    # αA + βA = (α + β)A for the very same operator object.
    base_a, alpha = (a.operator, a.alpha) if isinstance(a, Scaled) else (a, 1.0)
    base_b, beta = (b.operator, b.alpha) if isinstance(b, Scaled) else (b, 1.0)
    if base_a is base_b:
        return scale(base_a, alpha + beta)
    return None


@sum_law(RowVector, RowVector)
def _rows_add(a, b):
    return RowVector(freeze(a.v + b.v), name=_derived_name("{} + {}", a, b))


@sum_law(Diag, Diag)
def _diags_add(a, b):
    return Diag(freeze(a.d + b.d), name=_derived_name("{} + {}", a, b))


@sum_law(Dense, Dense)
def _dense_add(a, b):
    return Dense(freeze(a.M + b.M), name=_derived_name("{} + {}", a, b))


@sum_law(Kron, Kron)
def _krons_sharing_a_factor(a, b):
    # α(A ⊗ B) + β(A ⊗ D) = A ⊗ (αB + βD), and likewise for a shared right factor.
    if a.A is b.A:
        return kron(a.A, add(scale(a.B, a.scale), scale(b.B, b.scale)))
    if a.B is b.B:
        return kron(add(scale(a.A, a.scale), scale(b.A, b.scale)), a.B)
    return None
