"""Block-structured Jacobians of maps applied member by member to a stack.

For a stack X of K members (shape ``(*batch, *core)``) and a map applied to
each member, ``F_k = f(X_k)``, vec is column-major over all axes
(``notes/conventions.md``, "Stacks of matrices"), so the batch index runs
fastest:  ``vec(X)[k + K·b] = vec(X_k)[b]``.  The Jacobian is then

    J[k + K·a, k' + K·b] = δ_{kk'} · (J_k)[a, b]

with ``J_k`` the (m×n) Jacobian of member k: a block-diagonal matrix after
the perfect shuffle that makes the member index slowest, ``P_F J P_Xᵀ =
diag(J_1, …, J_K)``.  It is stored as its K blocks (or their factors) and
applied with batched matmuls — never one member at a time in Python, never
as the dense (Km)×(Kn) matrix.  ``tosparse()`` writes the CSR directly
(each row of J is one row of one block: its columns are ``k + K·b``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._config import config
from .._vec import unvec_stack_columns, vec_stack_columns
from ._base import StructuredOperator, result_float_dtype
from .basic import owned_readonly

__all__ = ["BatchedKron", "BatchedDense"]

_INDEX32_MAX = np.iinfo(np.int32).max


def _kron_pattern(a_pattern, b_pattern):
    """The 0/1 pattern of A ⊗ B from those of A and B (np.kron's index order)."""
    return np.kron(a_pattern.astype(np.int8), b_pattern.astype(np.int8)).astype(bool)


class _BatchedBlocks(StructuredOperator):
    """Shared layout of the batched operators: K blocks of shape (m, n), member
    k's block placed at rows ``k + K·a`` and columns ``k + K·b``.

    Subclasses provide ``blocks()`` (the K dense blocks, scaled) and
    ``_pattern()`` (the m×n 0/1 pattern every block shares, with the same
    number of entries in each row).
    """

    def __init__(self, count, block_shape, dtype, name):
        self.count = int(count)
        self.block_shape = (int(block_shape[0]), int(block_shape[1]))
        self._name = name
        m, n = self.block_shape
        super().__init__((self.count * m, self.count * n), dtype)

    def blocks(self):
        """The K per-member blocks ``J_k`` as one (K, m, n) array (what a
        ``vmap(jacfwd)`` would return), scale included."""
        raise NotImplementedError

    def _pattern(self):
        return np.ones(self.block_shape, dtype=bool)

    @property
    def nnz_bound(self):
        return self.count * int(np.count_nonzero(self._pattern()))

    def _render(self, parts, placeholders):
        return self._name

    # ------------------------------------------------------------ dense
    def _positions(self):
        """Rows and columns (K, m, n) of every block entry in the full matrix."""
        K = self.count
        m, n = self.block_shape
        members = np.arange(K, dtype=np.intp)[:, None, None]
        rows = members + K * np.arange(m, dtype=np.intp)[None, :, None]
        columns = members + K * np.arange(n, dtype=np.intp)[None, None, :]
        return np.broadcast_arrays(rows, columns)

    def _accumulate_dense(self, out, scale):
        rows, columns = self._positions()
        values = self.blocks()
        out[rows, columns] += values if scale == 1.0 else scale * values  # distinct positions

    def _direct_dense_workspace(self):
        entries = self.count * self.block_shape[0] * self.block_shape[1]
        return 8 * 5 * entries  # two index arrays, the blocks, scaled blocks, gathered entries

    # ----------------------------------------------------------- sparse
    def _sparse_workspace(self):
        entries = self.count * self.block_shape[0] * self.block_shape[1]
        return 8 * 3 * entries + 8 * self.shape[0]

    def _tosparse(self):
        K = self.count
        m, n = self.block_shape
        pattern = self._pattern()
        per_row = int(np.count_nonzero(pattern[0])) if m else 0
        block_rows, block_columns = np.nonzero(pattern)  # row-major: sorted by row, then column
        nnz = K * m * per_row
        index = np.int32 if max(nnz, self.shape[0], self.shape[1]) <= _INDEX32_MAX else np.int64
        # Row k + K·a holds row a of block k: rows in CSR order run over (a, k).
        blocks = self.blocks()
        if per_row == n:
            data = np.ascontiguousarray(blocks.transpose(1, 0, 2)).reshape(-1)
        else:
            selected = blocks[:, block_rows, block_columns].reshape(K, m, per_row)
            data = np.ascontiguousarray(selected.transpose(1, 0, 2)).reshape(-1)
        del blocks
        columns_of_a_row = block_columns.reshape(m, per_row).astype(index)
        indices = np.empty((m, K, per_row), dtype=index)
        np.add(np.arange(K, dtype=index)[None, :, None], K * columns_of_a_row[:, None, :], out=indices)
        indptr = np.arange(0, nnz + 1, max(per_row, 1), dtype=index)[: self.shape[0] + 1]
        if per_row == 0:
            indptr = np.zeros(self.shape[0] + 1, dtype=index)
        matrix = sp.csr_array((data.astype(self.dtype, copy=False), indices.reshape(-1), indptr),
                              shape=self.shape, copy=False)
        matrix.has_canonical_format = True  # sorted (K·b grows with b), no duplicates
        return matrix


def _stack_inverse(stack, operation):
    """Each member's inverse, checked as the batched ``inv`` rule checks it (singular and
    non-finite members named, one warning for the ill-conditioned ones)."""
    from .._linalg.stacks import StackResults

    return StackResults(stack, operation).inverse()


def _factor(stack, name, dtype_sources):
    """An identity size (int) stays an int; an array becomes a read-only (K, ·, ·) stack."""
    if isinstance(stack, (int, np.integer)):
        return int(stack), None
    stack = np.asarray(stack)
    if stack.ndim != 3:
        raise ValueError(f"BatchedKron: {name} must be a (K, p, q) stack or an identity size, got shape {stack.shape}")
    dtype_sources.append(stack.dtype)
    return stack, stack.shape[0]


class BatchedKron(_BatchedBlocks):
    """``scale · (A_k ⊗ B_k)`` for member k of a stack, in the stack layout.

    Block k maps vec of member k's (s×q) input V_k to vec(B_k V_k A_kᵀ) (the vec
    trick of :class:`~kronvec.operators.Kron`, one member at a time, done for all
    members by batched matmuls).

    Parameters
    ----------
    A : array_like (K, p, q), or int
        Per-member left factors; an int q stands for the identity I_q.
    B : array_like (K, r, s), or int
        Per-member right factors; an int s stands for I_s.
    scale : float, default 1
    count : int, optional
        The number of members K, needed only when both factors are identities.
    name : str, optional
        Printed formula, e.g. ``"-blockdiag(inv(X)ₖᵀ ⊗ inv(X)ₖ)"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 3))
    >>> J = BatchedKron(A, B)
    >>> np.allclose(J.blocks()[1], np.kron(A[1], B[1]))
    True
    >>> J.shape
    (18, 18)
    """

    def __init__(self, A, B, scale=1.0, *, count=None, name=None):
        if not np.isscalar(scale) or np.iscomplexobj(scale):
            raise TypeError(f"BatchedKron scale must be a real scalar, got {scale!r}")
        sources = []
        A, count_a = _factor(A, "A", sources)
        B, count_b = _factor(B, "B", sources)
        counts = {c for c in (count_a, count_b, count) if c is not None}
        if len(counts) != 1:
            raise ValueError(
                f"BatchedKron: the factor stacks must have the same number of members"
                f"{' (give count= when both factors are identities)' if not counts else ''}; got "
                f"A of shape {np.shape(A)}, B of shape {np.shape(B)}, count={count}"
            )
        dtype = result_float_dtype(*sources) if sources else np.dtype(np.float64)
        self.A = A if isinstance(A, int) else owned_readonly(A, dtype)
        self.B = B if isinstance(B, int) else owned_readonly(B, dtype)
        self.scale = float(scale)
        (p, q), (r, s) = self._factor_shape(self.A), self._factor_shape(self.B)
        super().__init__(counts.pop(), (p * r, q * s), dtype,
                         name or f"{'' if self.scale == 1.0 else f'{self.scale:g}·'}blockdiag(Aₖ ⊗ Bₖ)")
        # Association order of B V Aᵀ, from the per-member flop counts.
        self._b_first = r * s * q + r * q * p <= q * p * s + r * s * p

    @staticmethod
    def _factor_shape(factor):
        return (factor, factor) if isinstance(factor, int) else factor.shape[1:]

    def _matmat(self, X):
        K = self.count
        (p, q), (r, s) = self._factor_shape(self.A), self._factor_shape(self.B)
        columns = X.shape[1]
        V = unvec_stack_columns(X, (K, s, q))  # V[k, :, :, t]: member k of column t
        V = np.moveaxis(V, 3, 1)  # (K, c, s, q): the columns as a second batch axis
        A_t = None if isinstance(self.A, int) else np.swapaxes(self.A, -1, -2)[:, None]
        B = None if isinstance(self.B, int) else self.B[:, None]
        if self._b_first:
            Y = V if B is None else np.matmul(B, V)
            Y = Y if A_t is None else np.matmul(Y, A_t)
        else:
            Y = V if A_t is None else np.matmul(V, A_t)
            Y = Y if B is None else np.matmul(B, Y)
        if self.scale != 1.0:
            Y = self.scale * Y
        result = vec_stack_columns(np.moveaxis(Y, 1, 3))
        if result.shape != (K * r * p, columns):  # pragma: no cover (shape bookkeeping)
            raise AssertionError("BatchedKron: result shape")
        if np.may_share_memory(result, X):  # identity factors pass X through: never return it
            result = result.copy()
        return result

    def _column_workspace(self):
        return 3 * (self.shape[0] + self.shape[1])

    def _transpose(self):
        # (A_k ⊗ B_k)ᵀ = A_kᵀ ⊗ B_kᵀ block by block; the placement is symmetric in rows/columns.
        def transposed(factor):
            return factor if isinstance(factor, int) else np.swapaxes(factor, -1, -2)

        name = f"({self._name})ᵀ"
        return BatchedKron(transposed(self.A), transposed(self.B), self.scale, count=self.count, name=name)

    def inv(self):
        """``blockdiag((A_k ⊗ B_k)⁻¹) = blockdiag(A_k⁻¹ ⊗ B_k⁻¹)/scale``: the inverse of each
        member's factors (``LinAlgError`` naming the singular members)."""
        from .kron import require_square_factors

        require_square_factors(self._factor_shape(self.A), self._factor_shape(self.B), "BatchedKron.inv",
                               "blocks A_k ⊗ B_k with A_k", "B_k", "are",
                               lambda: f"BatchedKron.inv: only square blocks have an inverse; got blocks of "
                                       f"shape {self.block_shape}")
        if self.scale == 0.0:
            raise np.linalg.LinAlgError("BatchedKron.inv: the scale is 0, so every block is zero and singular")

        def inverse(factor):
            return factor if isinstance(factor, int) else _stack_inverse(factor, "BatchedKron.inv")

        return BatchedKron(inverse(self.A), inverse(self.B), 1.0 / self.scale, count=self.count,
                           name=f"({self._name})⁻¹")

    def _pattern(self):
        def pattern(factor):
            if isinstance(factor, int):
                return np.eye(factor, dtype=bool)
            return np.ones(factor.shape[1:], dtype=bool)

        return _kron_pattern(pattern(self.A), pattern(self.B))

    def blocks(self):
        K = self.count
        (p, q), (r, s) = self._factor_shape(self.A), self._factor_shape(self.B)
        if not isinstance(self.A, int) and not isinstance(self.B, int) and \
                K * p * r * q * s >= config.numba_min_entries:  # one write pass (numba)
            from .. import _kernels

            out = np.empty((K, p * r, q * s), dtype=self.dtype)
            kernel = _kernels.SQUARE_KRON_BLOCKS_FILLS.get(p) if p == q == r == s else None
            _kernels.call(kernel or _kernels.batched_kron_blocks_fill, out.nbytes, self.A, self.B, self.scale, out)
            return out
        A = np.broadcast_to(np.eye(p, dtype=self.dtype), (K, p, q)) if isinstance(self.A, int) else self.A
        B = np.broadcast_to(np.eye(r, dtype=self.dtype), (K, r, s)) if isinstance(self.B, int) else self.B
        if self.scale != 1.0:
            A = self.scale * A
        # np.kron(A_k, B_k)[i·r + u, j·s + v] = A_k[i, j] · B_k[u, v]
        out = np.empty((K, p, r, q, s), dtype=self.dtype)
        np.multiply(A[:, :, None, :, None], B[:, None, :, None, :], out=out)
        return out.reshape(K, p * r, q * s)

    def _tosparse(self):
        if self._pattern().all():  # write the data in CSR order directly: one pass, no transpose copy
            return self._tosparse_full()
        return super()._tosparse()

    def _tosparse_full(self):
        K = self.count
        (p, q), (r, s) = self._factor_shape(self.A), self._factor_shape(self.B)
        # (an identity factor is held as its order; full only when that order is 1: each
        # member's 1×1 block is then [1], broadcast, not copied)
        factor_a, factor_b = (np.broadcast_to(np.ones((1, 1, 1), dtype=self.dtype), (K, 1, 1))
                              if isinstance(factor, int) else factor for factor in (self.A, self.B))
        m, n = p * r, q * s
        nnz = K * m * n
        index = np.int32 if max(nnz, self.shape[0], self.shape[1]) <= _INDEX32_MAX else np.int64
        indptr = np.arange(0, nnz + 1, max(n, 1), dtype=index) if n else np.zeros(self.shape[0] + 1, index)
        if nnz >= config.numba_min_entries:  # one pass at the memory-write limit
            from .. import _kernels

            data, indices = np.empty(nnz, dtype=self.dtype), np.empty(nnz, dtype=index)
            kernel = _kernels.SQUARE_KRON_CSR_FILLS.get(p) if p == q == r == s else None
            _kernels.call(kernel or _kernels.batched_kron_csr_fill, data.nbytes + indices.nbytes,
                          factor_a, factor_b, self.scale, indices, data)  # (any strides: no copies)
            matrix = sp.csr_array((data, indices, indptr), shape=self.shape, copy=False)
            matrix.has_canonical_format = True
            return matrix
        A = factor_a if self.scale == 1.0 else self.scale * factor_a
        # Row k + K·(i·r + u), column k + K·(j·s + v) holds A_k[i, j]·B_k[u, v]: in CSR
        # order the rows run over (i, u, k) and each row's columns over (j, v).
        data = np.empty((p, r, K, q, s), dtype=self.dtype)
        np.multiply(np.transpose(A, (1, 0, 2))[:, None, :, :, None],
                    np.transpose(factor_b, (1, 0, 2))[None, :, :, None, :], out=data)
        indices = np.empty((m, K, n), dtype=index)
        np.add(np.arange(K, dtype=index)[None, :, None], (K * np.arange(n, dtype=index))[None, None, :],
               out=indices)
        matrix = sp.csr_array((data.reshape(-1), indices.reshape(-1), indptr), shape=self.shape, copy=False)
        matrix.has_canonical_format = True
        return matrix


class BatchedDense(_BatchedBlocks):
    """Member k's block is the dense (m×n) matrix ``M[k]``, in the stack layout.

    Used for row blocks (the Jacobian of det or ln|det| of each member is the
    1×n² row vec(G_k)ᵀ) and any small per-member block.

    Parameters
    ----------
    M : array_like (K, m, n)
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> M = np.arange(12.).reshape(2, 2, 3)
    >>> J = BatchedDense(M)
    >>> J.shape
    (4, 6)
    >>> J.toarray()[0::2, 0::2]  # member 0 sits at rows/columns 0 + 2·a, 0 + 2·b
    array([[0., 1., 2.],
           [3., 4., 5.]])
    """

    def __init__(self, M, name=None):
        M = np.asarray(M)
        if M.ndim != 3:
            raise ValueError(f"BatchedDense needs a (K, m, n) stack of blocks, got an array of shape {M.shape}")
        dtype = result_float_dtype(M.dtype)
        self.M = owned_readonly(M, dtype)
        super().__init__(M.shape[0], M.shape[1:], dtype, name or "blockdiag(Mₖ)")

    def _matmat(self, X):
        K = self.count
        m, n = self.block_shape
        V = np.moveaxis(unvec_stack_columns(X, (K, n)), 2, 1)  # (K, c, n)
        Y = np.matmul(V, np.swapaxes(self.M, -1, -2))  # (K, c, m): row t is M_k · column t
        return vec_stack_columns(np.moveaxis(Y, 1, 2))

    def _transpose(self):
        return BatchedDense(np.swapaxes(self.M, -1, -2), name=f"({self._name})ᵀ")

    def inv(self):
        """``blockdiag(M_k⁻¹)`` (``LinAlgError`` naming the singular members)."""
        m, n = self.block_shape
        if m != n:
            raise ValueError(f"BatchedDense.inv: only square blocks have an inverse; got blocks of shape {(m, n)}")
        return BatchedDense(_stack_inverse(self.M, "BatchedDense.inv"), name=f"({self._name})⁻¹")

    def blocks(self):
        return np.array(self.M)
