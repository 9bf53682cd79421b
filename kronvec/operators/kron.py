"""The Kronecker product ``scale · (A ⊗ B)``, applied by the vec trick."""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse

from .._vec import unvec, vec
from ._base import Precedence, StructuredOperator, as_operator, combined_dtype
from ._formula import parenthesize
from .basic import Dense, Identity
from .selection import Commutation

__all__ = ["Kron"]  # (CommutedKron: an evaluation unit of Product, not a public operator)


def _format_scale(scale):
    if scale == -1:
        return "-"
    return f"{scale:g}·"


def _factor_array(factor):
    """What the materialization kernels take: an int for I_n, else an array."""
    if isinstance(factor, Identity):
        return factor.n
    if isinstance(factor, Dense):
        return factor.M
    return factor.toarray()


def _factor_dense_workspace(factor):
    """Bytes `_factor_array` and the fill need for one factor: a contiguous cast
    copy and a scaled copy of an array factor; a structured factor's own
    materialization besides."""
    if isinstance(factor, Identity):
        return 0
    if isinstance(factor, Dense):
        return 2 * factor.dense_nbytes
    return factor.dense_peak_nbytes + factor.dense_nbytes


def _factor_sparse_workspace(factor):
    """Bytes `kron_csr` needs for one factor: its canonical CSR with int64
    indices, and what building that CSR takes (np.nonzero of a dense factor)."""
    if isinstance(factor, Identity):
        return 3 * 8 * (factor.n + 1)
    rows = factor.shape[0] + 1
    return 2 * (5 * 8 * factor.nnz_bound + 2 * 8 * rows)


def _factor_sparse(factor):
    from .basic import Sparse

    if isinstance(factor, Identity):
        return factor.n
    if isinstance(factor, Dense):
        return factor.M
    if isinstance(factor, Sparse):
        return factor.S
    return factor.tosparse()


def require_square_factors(a_shape, b_shape, what, product, second, verb, not_square):
    """Nothing when the Kronecker factors are square; a ValueError (`not_square()`) when
    their product is not square; a LinAlgError when it is square but they are not.

    rank(A ⊗ B) = rank A · rank B ≤ min(p, q)·min(r, s) < pr for A p×q, B r×s with
    pr = qs and p ≠ q (p < q forces r > s, and conversely): a square product of
    rectangular factors is singular (``Kron`` and ``BatchedKron``'s blocks alike).
    """
    (p, q), (r, s) = a_shape, b_shape
    if p == q and r == s:
        return
    if p * r != q * s:
        raise ValueError(not_square())
    raise np.linalg.LinAlgError(
        f"{what}: {product} of shape {a_shape} and {second} of shape {b_shape} {verb} singular: "
        f"{'its' if verb == 'is' else 'their'} rank is at most {min(p, q) * min(r, s)} < {p * r} "
        f"(rank A · rank B ≤ min(p, q)·min(r, s))")


class Kron(StructuredOperator):
    """``scale · (A ⊗ B)`` with ``Kron(A, B).toarray() == np.kron(A, B)``.

    Applied with the vec trick (Magnus–Neudecker, Thm 2.2):
    ``(A ⊗ B) vec V = vec(B V Aᵀ)``, choosing the cheaper of ``(B V) Aᵀ`` and
    ``B (V Aᵀ)`` from the factor shapes.  Memory is that of the factors.

    Parameters
    ----------
    A, B : array_like, sparse matrix or StructuredOperator
        Any rectangular shapes.  Arrays become anonymous :class:`Dense`
        (printed ``M₁``, ``M₂``…), SciPy sparse matrices :class:`Sparse`;
        use :class:`Identity` for I and ``Dense(A, name="A")`` for a label.
    scale : float, default 1
        A scalar folded into the product (``-(A ⊗ B)`` has ``scale=-1``).

    Examples
    --------
    >>> import numpy as np
    >>> A, B = np.array([[1., 2.], [3., 4.]]), np.array([[0., 1.], [1., 0.]])
    >>> K = Kron(A, B)
    >>> np.array_equal(K.toarray(), np.kron(A, B))
    True
    >>> K.formula()
    'M₁ ⊗ M₂'
    >>> Kron(Dense(A, name="A"), B).formula()
    'A ⊗ M₁'
    >>> V = np.array([[1., 2.], [3., 4.]])
    >>> np.allclose(K.matvec(V.ravel(order="F")), (B @ V @ A.T).ravel(order="F"))
    True
    """

    precedence = Precedence.KRON

    #: ``fill(kron, out, scale)`` → the dense form (``out`` None) or `out` with
    #: ``scale·kron`` added, or None to take kron_dense.  Set only on the Krons a
    #: compiled Jacobian rebuilds (kronvec._compiled.jacobian): a numba kernel that is
    #: compiled on that path alone, so no other call pays its compile.  Same entries.
    _small_fill = None

    def __init__(self, A, B, scale=1.0):
        A, B = as_operator(A), as_operator(B)
        if not np.isscalar(scale) or np.iscomplexobj(scale):
            raise TypeError(f"Kron scale must be a real scalar, got {scale!r}")
        self.A, self.B, self.scale = A, B, float(scale)
        self._factor_pair = (A, B)
        (pa, qa), (pb, qb) = A.shape, B.shape
        super().__init__((pa * pb, qa * qb), combined_dtype((A, B)))
        self.carries_data = A.carries_data or B.carries_data or self.scale != 1.0
        if self.scale != 1.0:
            self.precedence = Precedence.PRODUCT
        # Association order of the vec trick: apply B to the qa columns of V and
        # then Aᵀ to the pb rows, or the other way round, whichever is cheaper.
        cost_b_first = B.apply_cost * qa + A.apply_cost * pb
        cost_a_first = A.apply_cost * qb + B.apply_cost * pa
        self._b_first = cost_b_first <= cost_a_first

    @property
    def is_identity(self):
        return self.scale == 1.0 and self.A.is_identity and self.B.is_identity

    @property
    def factors(self):
        return self._factor_pair

    def _matmat(self, X):
        A, B = self.A, self.B
        qa, qb = A.shape[1], B.shape[1]
        if X.shape[1] == 1:
            # vec(B V Aᵀ) computed as its transpose A Vᵀ Bᵀ: Vᵀ is a row-major view of
            # the column, and the row-major product's memory is already vec(B V Aᵀ) —
            # no copy into column-major order after the products (issue 12).
            result = self._transposed_products(unvec(X[:, 0], (qb, qa)).T).reshape(-1, 1)
        else:
            result = self._apply_to_columns(X)
        if np.may_share_memory(result, X):  # identity factors pass X through: never return it
            result = result.copy()
        if self.scale != 1.0:
            result *= self.scale
        return result

    def _products(self, V):
        """``B V Aᵀ`` for V of shape (qb, qa), any layout, unscaled (usually row-major)."""
        if self._b_first:
            return self.A._right_apply_transposed(self.B._left_apply(V))
        return self.B._left_apply(self.A._right_apply_transposed(V))

    def _transposed_products(self, V_transposed):
        """``(B V Aᵀ)ᵀ = A Vᵀ Bᵀ`` from Vᵀ of shape (qa, qb), any layout, unscaled: the
        same products in the same order, each transposed."""
        if self._b_first:
            return self.A._left_apply(self.B._right_apply_transposed(V_transposed))
        return self.B._right_apply_transposed(self.A._left_apply(V_transposed))

    def _apply_to_columns(self, X):
        """(A ⊗ B)·X for k > 1 columns vec V_t, as two products over all of them.

        With X C-ordered, X.reshape(qa, qb, k)[b, a, t] = V_t[a, b]; then
        Z[b] = B·X[b] (qa products of B by a qb×k block) holds (B V_t)[i, b] at
        Z[b, i, t], and A·Z, Z read as qa × pb·k, is (B V_t Aᵀ)[i, j] at [j, (i, t)]:
        row i + j·pb of the result, already in place.  (Or A first, then B.)  Every
        product runs on contiguous blocks: unvec'ing each column into a stack of
        k matrices gave NumPy strided stacks, which it multiplies without BLAS
        (24 ms against 4 for k = 1024 at n = 32).
        """
        A, B = self.A, self.B
        (pa, qa), (pb, qb) = A.shape, B.shape
        k = X.shape[1]
        X = np.ascontiguousarray(X)
        if self._b_first:
            Z = B._left_apply(X.reshape(qa, qb, k)).reshape(qa, pb * k)
            Y = Z if A.is_identity else A._matmat(Z)
        else:
            T = X.reshape(qa, qb * k)
            T = T if A.is_identity else A._matmat(T)
            Y = B._left_apply(T.reshape(pa, qb, k))
        return Y.reshape(pa * pb, k)

    def _column_workspace(self):
        # A copy of the input (F-order reshape, or BLAS packing), the intermediate
        # B V or V Aᵀ, the output and its F-order copy, each counted twice for the
        # factors that apply a stack one matrix at a time.
        (pa, qa), (pb, qb) = self.A.shape, self.B.shape
        intermediate = pb * qa if self._b_first else qb * pa
        return 2 * (self.shape[1] + intermediate + self.shape[0])

    def _formula_children(self):
        return self._factor_pair

    def _render(self, parts, placeholders):
        (a, a_precedence), (b, b_precedence) = parts
        text = (
            f"{parenthesize(a, a_precedence, Precedence.PRODUCT + 1)} ⊗ "
            f"{parenthesize(b, b_precedence, Precedence.PRODUCT + 1)}"
        )
        return text if self.scale == 1.0 else f"{_format_scale(self.scale)}({text})"

    def _transpose(self):
        # (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ   (Magnus–Neudecker ch. 2, eq. (9))
        return Kron(self.A.T, self.B.T, self.scale)

    def inv(self):
        """``(A ⊗ B)⁻¹ = A⁻¹ ⊗ B⁻¹``, still a Kron (both factors square)."""
        self._require_square_factors("inv")
        self._require_nonzero_scale("inv")
        return Kron(self.A.inv(), self.B.inv(), 1.0 / self.scale)

    def solve(self, b):
        """Solve ``(A ⊗ B) x = b`` as ``vec(B⁻¹ V A⁻ᵀ)``, never forming A ⊗ B.

        Each factor is solved (LU for dense factors), so the cost is that of
        two factorizations of the small matrices, not of one n²×n² system.
        """
        self._require_square_factors("solve")
        self._require_nonzero_scale("solve")
        b = b.toarray() if issparse(b) else np.asarray(b)  # (a SciPy sparse b: its dense columns)
        if b.shape[0] != self.shape[0] or b.ndim not in (1, 2):
            raise ValueError(
                f"Kron.solve: right-hand side of shape {b.shape} does not match the "
                f"operator's {self.shape}"
            )
        columns = b.reshape(self.shape[0], -1)
        qa, qb = self.A.shape[1], self.B.shape[1]
        solutions = []
        for t in range(columns.shape[1]):
            V = unvec(columns[:, t], (qb, qa))
            W = self.B.solve(V)  # B⁻¹ V
            Y = self.A.solve(np.ascontiguousarray(W.T)).T  # (B⁻¹ V) A⁻ᵀ
            solutions.append(vec(Y) / self.scale)
        x = np.stack(solutions, axis=1) if solutions else np.empty((self.shape[1], 0))
        return x.reshape(self.shape[1]) if b.ndim == 1 else x

    def _require_square_factors(self, what):
        law = "A x = b needs a square operator" if what == "solve" else "only a square operator has an inverse"
        require_square_factors(self.A.shape, self.B.shape, f"Kron.{what}", "A ⊗ B with A", "B", "is",
                               lambda: f"Kron.{what}: {law}; got shape {self.shape} "
                                       f"(A of shape {self.A.shape}, B of shape {self.B.shape})")

    def _require_nonzero_scale(self, what):
        if self.scale == 0.0:
            raise np.linalg.LinAlgError(
                f"Kron.{what}: (s·(A ⊗ B))⁻¹ = s⁻¹·(A⁻¹ ⊗ B⁻¹) needs s ≠ 0; this Kron has "
                f"scale 0, so it is the zero matrix and singular"
            )

    @property
    def nnz_bound(self):
        return self.A.nnz_bound * self.B.nnz_bound

    # Row (i, k) of A ⊗ B is row i of A times row k of B: its nonzeros are the products of
    # theirs, so a Product holding I ⊗ vec(X) or a commutation Kron is bounded by its rows
    # (kronvec/operators/composite.py, nnz_bounds), not by rows × columns.
    @property
    def row_nnz_max(self):
        return self.A.row_nnz_max * self.B.row_nnz_max

    @property
    def column_nnz_max(self):
        return self.A.column_nnz_max * self.B.column_nnz_max

    def _toarray(self):
        from ..sparse import kron_dense

        if self._small_fill is not None:
            dense = self._small_fill(self, None, 1.0)
            if dense is not None:
                return dense
        return kron_dense(_factor_array(self.A), _factor_array(self.B), scale=self.scale)

    def _direct_dense_workspace(self):
        from .._config import config
        from ..sparse import NUMPY_BLOCK_ENTRIES

        factors = _factor_dense_workspace(self.A) + _factor_dense_workspace(self.B)
        entries = self.shape[0] * self.shape[1]
        if entries >= config.numba_min_entries:
            return factors  # the numba kernels write in place
        # NumPy accumulates A ⊗ B by blocks of about NUMPY_BLOCK_ENTRIES (one row of B at least)
        return factors + 8 * min(entries, max(NUMPY_BLOCK_ENTRIES, self.B.shape[0] * self.B.shape[1]))

    def _sparse_workspace(self):
        from ..sparse import NUMPY_BLOCK_ENTRIES

        factors = _factor_sparse_workspace(self.A) + _factor_sparse_workspace(self.B)
        return factors + 8 * self.shape[0] + 8 * 8 * NUMPY_BLOCK_ENTRIES  # row counts, one fill block

    def _accumulate_dense(self, out, scale):
        from ..sparse import kron_dense

        if self._small_fill is not None and self._small_fill(self, out, scale) is not None:
            return
        kron_dense(_factor_array(self.A), _factor_array(self.B), scale=self.scale * scale, out=out)

    def _tosparse(self):
        from ..sparse import kron_csr

        matrix = kron_csr(_factor_sparse(self.A), _factor_sparse(self.B))
        if matrix.dtype != self.dtype:
            matrix = matrix.astype(self.dtype)
        if self.scale != 1.0:
            matrix.data *= self.scale
        return matrix


class CommutedKron(StructuredOperator):
    """``(A ⊗ B)·K`` or ``K·(A ⊗ B)``, a Kron and the commutation matrix beside it in a
    :class:`~kronvec.operators.Product`, applied in one pass (an evaluation unit of
    the Product, never a factor a user sees).

    ``(A ⊗ B) K_{qa,qb} vec V = vec(B Vᵀ Aᵀ)``, and ``K_{pb,pa} (A ⊗ B) vec V = vec((B V Aᵀ)ᵀ)``
    (Magnus–Neudecker ch. 3, §7: ``K_{m,n} vec X = vec Xᵀ``).  A column's unvec is a
    column-major view, its transpose a row-major one, and a row-major result's memory is
    the vec of its transpose: so each is the Kron's two products alone, where applying
    K on its own copies the vector into transposed order (the Jacobian of
    ``einsum("ij,kj->ik", A, X)`` or of ``A @ X.T`` is (I ⊗ A)·K, issue 12).

    Parameters
    ----------
    kron : Kron
    commuted : {"input", "output"}
        Which side the commutation is on: ``(A ⊗ B)·K`` or ``K·(A ⊗ B)``.
    """

    precedence = Precedence.PRODUCT

    def __init__(self, kron, commuted):
        self.kron, self.commuted = kron, commuted
        (pa, qa), (pb, qb) = kron.A.shape, kron.B.shape
        if commuted == "input":
            self.commutation = Commutation(qa, qb)
        else:
            self.commutation = Commutation(pb, pa)
        self.carries_data = kron.carries_data
        super().__init__(kron.shape, combined_dtype((kron, self.commutation)))

    @staticmethod
    def fits(left, right):
        """``"input"`` when the factors ``left·right`` are (A ⊗ B)·K_{qa,qb},
        ``"output"`` when they are K_{pb,pa}·(A ⊗ B), else None."""
        if isinstance(left, Kron) and isinstance(right, Commutation):
            (pa, qa), (pb, qb) = left.A.shape, left.B.shape
            return "input" if (right.m, right.n) == (qa, qb) else None
        if isinstance(left, Commutation) and isinstance(right, Kron):
            (pa, qa), (pb, qb) = right.A.shape, right.B.shape
            return "output" if (left.m, left.n) == (pb, pa) else None
        return None

    def _matmat(self, X):
        kron = self.kron
        if X.shape[1] != 1:  # a block of columns: the Kron's own block products, K apart
            if self.commuted == "input":
                return kron._matmat(self.commutation._matmat(X))
            return self.commutation._matmat(kron._matmat(X))
        qa, qb = kron.A.shape[1], kron.B.shape[1]
        if self.commuted == "input":  # vec(B Vᵀ Aᵀ) = the row-major A V Bᵀ, V = unvec(x) (qa × qb)
            result = kron._transposed_products(unvec(X[:, 0], (qa, qb))).reshape(-1, 1)
        else:  # vec((B V Aᵀ)ᵀ) = B V Aᵀ read row-major
            result = kron._products(unvec(X[:, 0], (qb, qa))).reshape(-1, 1)
        if np.may_share_memory(result, X):  # identity factors pass X through: never return it
            result = result.copy()
        if kron.scale != 1.0:
            result *= kron.scale
        return result

    def _column_workspace(self):
        return self.kron._column_workspace() + self.commutation._column_workspace()

    def _transpose(self):
        # ((A ⊗ B) K)ᵀ = Kᵀ (Aᵀ ⊗ Bᵀ), and Kᵀ is a commutation: the other side
        return CommutedKron(self.kron.T, "output" if self.commuted == "input" else "input")

    def _formula_children(self):
        factors = (self.kron, self.commutation)
        return factors if self.commuted == "input" else factors[::-1]

    def _render(self, parts, placeholders):
        return "·".join(parenthesize(text, precedence, Precedence.PRODUCT) for text, precedence in parts)
