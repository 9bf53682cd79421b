"""The Kronecker sum I ⊗ A + Bᵀ ⊗ I and its inverse, applied by Sylvester solves.

With column-major vec, ``vec(A X + X B) = (I_n ⊗ A + Bᵀ ⊗ I_m) vec X`` for
A (m×m), X (m×n), B (n×n) (Magnus–Neudecker, Thm 2.2, term by term).  So:

* :class:`KroneckerSum` applies I ⊗ A + Bᵀ ⊗ I as X ↦ A X + X B: two products;
* :class:`SylvesterInverse` applies its inverse as one Sylvester solve
  (:mod:`kronvec._linalg.sylvester`: Schur forms once, then ``trsyl`` and two
  products on each side per vector); its transpose, (I ⊗ Aᵀ + B ⊗ I)⁻¹, is
  the transposed solve Aᵀ Y + Y Bᵀ = G with the same Schur forms.

Neither ever holds an (mn)×(mn) matrix.  :func:`as_kronecker_sum` recognizes a
:class:`~kronvec.operators.Sum` of (scaled) ``Kron(I, A)`` and ``Kron(B, I)``
terms, so ``Sum.inv`` and ``Sum.solve`` go through the same solver.
Derivation: ``notes/derivatives.md`` §27.
"""

from __future__ import annotations

import numpy as np

from .._linalg.sylvester import lyapunov_solver, sylvester_solver
from ._base import StructuredOperator, check_solve_shape, combined_dtype, result_float_dtype
from ._formula import Precedence, parenthesize
from .basic import Dense, freeze
from .composite import Scaled, Sum
from .kron import Kron

__all__ = ["KroneckerSum", "SylvesterInverse", "as_kronecker_sum"]


def _columns_as_matrices(X, m, n):
    """The columns of X (mn, k) as the k matrices (m, n) they are vecs of: V[j, i, t] = X_t[i, j]."""
    return X.reshape(n, m, X.shape[1])


class KroneckerSum(StructuredOperator):
    """``I_n ⊗ A + Bᵀ ⊗ I_m``: vec X ↦ vec(A X + X B), for A (m×m) and B (n×n).

    Parameters
    ----------
    A, B : array_like or Dense
        Square matrices; arrays are copied unless frozen (see :class:`Dense`).
        Pass ``Dense(A, name="A")`` to name a factor in formulas.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]]); B = np.array([[1.0, 0.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 4.0]])
    >>> S = KroneckerSum(A, B)
    >>> np.allclose(S.toarray(), np.kron(np.eye(3), A) + np.kron(B.T, np.eye(2)))
    True
    >>> X = np.arange(6.0).reshape(2, 3)
    >>> np.allclose(S.solve(S.matvec(X.ravel(order="F"))), X.ravel(order="F"))
    True
    """

    precedence = Precedence.SUM

    def __init__(self, A, B):
        A = A if isinstance(A, Dense) else Dense(A)
        B = B if isinstance(B, Dense) else Dense(B)
        for which, factor in (("A", A), ("B", B)):
            if factor.shape[0] != factor.shape[1]:
                raise ValueError(f"KroneckerSum: I ⊗ A + Bᵀ ⊗ I needs square A and B; got {which} of shape "
                                 f"{factor.shape}")
        self._A, self._B = A, B
        self._Bt = B.T
        m, n = A.shape[0], B.shape[0]
        self.m, self.n = m, n
        super().__init__((m * n, m * n), combined_dtype((A, B)))

    @property
    def A(self):
        return self._A.M

    @property
    def B(self):
        return self._B.M

    def _matmat(self, X):
        m, n = self.m, self.n
        V = _columns_as_matrices(X, m, n)
        # vec(A X_t) and vec(X_t B) for every column t at once, as V[j, i, t] = X_t[i, j]
        AX = np.tensordot(V, self.A, axes=([1], [1])).transpose(0, 2, 1)  # [j, i, t] = (A X_t)[i, j]
        XB = np.tensordot(self.B, V, axes=([0], [0]))  # [j, i, t] = (X_t B)[i, j]
        return (AX + XB).reshape(m * n, X.shape[1])

    @property
    def apply_cost(self):
        return self.m * self.n * (self.m + self.n)

    def _column_workspace(self):
        return 4 * self.shape[0]

    def _transpose(self):
        # (I ⊗ A + Bᵀ ⊗ I)ᵀ = I ⊗ Aᵀ + B ⊗ I: the Kronecker sum of Aᵀ and Bᵀ
        return KroneckerSum(self._A.T, self._Bt)

    def inv(self):
        """``(I ⊗ A + Bᵀ ⊗ I)⁻¹``, applied by Sylvester solves (Schur forms computed here, once)."""
        return SylvesterInverse(self)

    def solve(self, b):
        """x with ``(I ⊗ A + Bᵀ ⊗ I) x = b``: X with A X + X B = unvec(b), per column of b."""
        return self.inv().dot(check_solve_shape(self, b, "solve"))

    @property
    def nnz_bound(self):
        m, n = self.m, self.n
        return min(m * n * (m + n), (m * n) ** 2)

    def _formula_children(self):
        return (self._A, self._Bt)

    def _render(self, parts, placeholders):
        (a, a_precedence), (bt, bt_precedence) = parts
        left = f"I{_sub(self.n)} ⊗ {parenthesize(a, a_precedence, Precedence.PRODUCT + 1)}"
        right = f"{parenthesize(bt, bt_precedence, Precedence.PRODUCT + 1)} ⊗ I{_sub(self.m)}"
        return f"{left} + {right}"


def _sub(k):
    from ._base import subscript

    return subscript(k)


class SylvesterInverse(StructuredOperator):
    """``(I ⊗ A + Bᵀ ⊗ I)⁻¹``: vec C ↦ vec X with A X + X B = C, one Sylvester solve per vector.

    The real Schur forms of A and B are computed once, when the operator is
    built; each application then costs O(m²n + mn²) (``trsyl`` and four
    products), and its transpose (the solve of Aᵀ Y + Y Bᵀ = G) shares them.
    Applying it raises ``LinAlgError`` when A and −B share an eigenvalue (the
    Kronecker sum is then singular).

    Parameters
    ----------
    kronecker_sum : KroneckerSum
        The operator to invert.
    solver : SylvesterSolver, optional
        Its Schur forms, when already computed.
    transposed : bool
        Internal: this operator is the transpose of the inverse of ``kronecker_sum.T``.
    """

    def __init__(self, kronecker_sum, solver=None, transposed=False):
        self.kronecker_sum = kronecker_sum
        self.m, self.n = kronecker_sum.m, kronecker_sum.n
        if solver is None:
            A, B = kronecker_sum.A, kronecker_sum.B
            operation = "KroneckerSum.inv"
            if transposed:  # kronecker_sum is (I ⊗ A + Bᵀ ⊗ I)ᵀ: factor its transpose's matrices
                A, B = A.T, B.T
            if A.shape == B.shape and np.array_equal(B, A.T):  # a Lyapunov operator: one Schur form
                solver = lyapunov_solver(A, operation)
            else:
                solver = sylvester_solver(A, B, operation)
        self.solver = solver
        self.transposed = bool(transposed)
        super().__init__(kronecker_sum.shape, result_float_dtype(kronecker_sum.dtype, solver.dtype))

    def _matmat(self, X):
        m, n = self.m, self.n
        V = _columns_as_matrices(X, m, n)
        out = np.empty((n, m, X.shape[1]), dtype=result_float_dtype(self.dtype, X.dtype))
        for t in range(X.shape[1]):
            out[:, :, t] = self.solver.solve(V[:, :, t].T, transposed=self.transposed).T
        return out.reshape(m * n, X.shape[1])

    @property
    def apply_cost(self):
        return 2 * self.m * self.n * (self.m + self.n)

    def _column_workspace(self):
        return 4 * self.shape[0]

    def _transpose(self):
        transposed = SylvesterInverse(self.kronecker_sum.T, self.solver, not self.transposed)
        transposed._remember_as_transpose_of(self)
        return transposed

    def inv(self):
        return self.kronecker_sum

    def solve(self, b):
        return self.kronecker_sum.dot(check_solve_shape(self, b, "solve"))

    def _formula_children(self):
        return (self.kronecker_sum,)

    def _render(self, parts, placeholders):
        ((text, _),) = parts
        return f"inv({text})"


def _kron_parts(term):
    """``(alpha, op)`` for a Scaled/Kron term: the scale folded out."""
    alpha = 1.0
    if isinstance(term, Scaled):
        alpha, term = term.alpha, term.operator
    if isinstance(term, Kron):
        alpha *= term.scale
    return alpha, term


def as_kronecker_sum(op):
    """``op`` as a :class:`KroneckerSum` when it is a Sum of (scaled) ``Kron(I, A)``,
    ``Kron(B, I)`` terms and identities, in any order; else None.

    Terms I_n ⊗ Aₖ add up to I_n ⊗ ΣAₖ and Bₖ ⊗ I_m to (ΣBₖ) ⊗ I_m, so the sum is
    I ⊗ A + Bᵀ ⊗ I with A = ΣAₖ (identity terms included) and B = (ΣBₖ)ᵀ; the
    factors are materialized (they are m×m and n×n).
    """
    if not isinstance(op, Sum) or op.shape[0] != op.shape[1]:
        return None
    left, right, identities = [], [], 0.0  # left: (α, A) of α I ⊗ A; right: (α, B) of α B ⊗ I
    for term in op.terms:
        alpha, inner = _kron_parts(term)
        if inner.is_identity:
            identities += alpha
        elif isinstance(inner, Kron) and inner.A.is_identity and inner.B.shape[0] == inner.B.shape[1]:
            left.append((alpha, inner.B))
        elif isinstance(inner, Kron) and inner.B.is_identity and inner.A.shape[0] == inner.A.shape[1]:
            right.append((alpha, inner.A))
        else:
            return None
    sizes_m = {factor.shape[0] for _, factor in left}
    sizes_n = {factor.shape[0] for _, factor in right}
    if len(sizes_m) > 1 or len(sizes_n) > 1 or not (sizes_m or sizes_n):
        return None
    size = op.shape[0]
    m = sizes_m.pop() if sizes_m else size // sizes_n.copy().pop()
    n = sizes_n.pop() if sizes_n else size // m
    if m * n != size:
        return None
    dtype = result_float_dtype(op.dtype)
    A = identities * np.eye(m, dtype=dtype)
    for alpha, factor in left:
        A += alpha * factor.toarray()
    Bt = np.zeros((n, n), dtype=dtype)
    for alpha, factor in right:
        Bt += alpha * factor.toarray()
    return KroneckerSum(freeze(A), freeze(np.ascontiguousarray(Bt.T)))
