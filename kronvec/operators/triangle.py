"""The triangle fold T_n: vec C ↦ vec(triu(C) + tril(C, −1)ᵀ), stored as its size only.

QR's Jacobian needs C − Ω = triu(C) + tril(C, −1)ᵀ with Ω = tril(C, −1) −
tril(C, −1)ᵀ (``notes/derivatives.md`` §23).  Written with existing operators
it is Diag(vec U) + K_{n,n}·Diag(vec(1 − U)), U the upper-triangular ones:
two n² masks and the n² indices of K, three n×n arrays held for the whole life
of the Jacobian.  T_n computes the same map from n alone.  Its transpose is
Tₙᵀ: vec D ↦ vec(triu(D) + triu(D, 1)ᵀ), the upper triangle mirrored (what
QR's VJP calls B(N)): ⟨T C, D⟩ = Σ_{i≤j} C_ij D_ij + Σ_{i<j} C_ji D_ij = ⟨C, Tᵀ D⟩.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._base import StructuredOperator, subscript

__all__ = ["TriangleFold", "HalvedLowerMask"]


class TriangleFold(StructuredOperator):
    """T_n: vec C ↦ vec(triu(C) + tril(C, −1)ᵀ) for n×n C; ``.T`` mirrors the upper
    triangle instead, vec D ↦ vec(triu(D) + triu(D, 1)ᵀ).

    Parameters
    ----------
    n : int
        The order of C.
    dtype : dtype, default float64
    transposed : bool, default False
        True for Tₙᵀ.

    Examples
    --------
    >>> import numpy as np
    >>> C = np.arange(9.0).reshape(3, 3)
    >>> T = TriangleFold(3)
    >>> out = T.matvec(C.reshape(-1, order="F")).reshape(3, 3, order="F")
    >>> bool(np.array_equal(out, np.triu(C) + np.tril(C, -1).T))
    True
    >>> T.formula(), T.T.formula()
    ('T₃', 'T₃ᵀ')
    """

    carries_data = False

    def __init__(self, n, dtype=np.float64, transposed=False):
        if int(n) < 0:
            raise ValueError(f"TriangleFold needs a size n >= 0, got {n}")
        self.n, self.transposed = int(n), bool(transposed)
        super().__init__((self.n * self.n, self.n * self.n), dtype)

    def _matmat(self, X):
        n, k = self.n, X.shape[1]
        # column c of X is vec C_c, so the rows of Xᵀ, read C-ordered as n×n, are the C_cᵀ:
        # work on D_c = C_cᵀ, where triu ↔ tril
        D = np.array(X.T, dtype=np.result_type(X.dtype, self.dtype), order="C").reshape(k, n, n)
        if self.transposed:  # (triu C + triu(C, 1)ᵀ)ᵀ = tril D + tril(D, −1)ᵀ
            moved = np.tril(D, -1)
        else:  # (triu C + tril(C, −1)ᵀ)ᵀ = tril D + triu(D, 1)ᵀ
            moved = np.triu(D, 1)
        result = np.tril(D)
        del D
        result += np.swapaxes(moved, -1, -2)
        return np.ascontiguousarray(result.reshape(k, n * n).T)

    def _column_workspace(self):
        return 4 * self.n * self.n  # the copy, the moved triangle, tril's result, the output

    @property
    def apply_cost(self):
        return self.n * self.n

    def _transpose(self):
        return TriangleFold(self.n, self.dtype, not self.transposed)

    @property
    def nnz_bound(self):
        return self.n * self.n

    def _entries(self):
        """(rows, columns) of the ones, in vec positions: (i, j) ↦ i + j·n."""
        n = self.n
        i, j = np.triu_indices(n)  # i ≤ j: the kept upper triangle
        si, sj = np.triu_indices(n, 1)  # i < j: C_ji lands on (i, j)
        rows = np.concatenate((i + j * n, si + sj * n))
        columns = np.concatenate((i + j * n, sj + si * n))
        return (columns, rows) if self.transposed else (rows, columns)

    def _accumulate_dense(self, out, scale):
        rows, columns = self._entries()
        out[rows, columns] += scale  # (each (row, column) pair occurs once)

    def _direct_dense_workspace(self):
        return 8 * 6 * self.n * self.n  # the index arrays and their concatenations

    def _sparse_workspace(self):
        return 8 * 10 * self.n * self.n  # the index arrays, COO → CSR

    def _tosparse(self):
        rows, columns = self._entries()
        data = np.ones(rows.size, dtype=self.dtype)
        matrix = sp.csr_array((data, (rows, columns)), shape=self.shape)
        matrix.sum_duplicates()  # sorted indices (there are no duplicates)
        return matrix

    def _render(self, parts, placeholders):
        return "T" + subscript(self.n) + ("ᵀ" if self.transposed else "")


class HalvedLowerMask(StructuredOperator):
    """Φₙ = Diag(vec φ), φ = 1 below the diagonal, ½ on it, 0 above: vec C ↦
    vec(tril(C, −1) + ½ diag(C)), stored as its size only.

    The middle factor of the Cholesky factor's Jacobian, (I ⊗ L)·Φₙ·(L⁻¹ ⊗ L⁻¹)·N
    (``notes/derivatives.md`` §23).  As a :class:`~kronvec.operators.Diag` it held
    vec φ, an n² array of constants, for the whole life of the Jacobian (at n = 2000,
    32 MB beside the 32 MB of L); this computes the same products from n alone.  The
    entries are 1, ½ and 0, exact in every float dtype, so its products are those of
    ``Diag(vec φ)`` bit for bit, and it carries no data that could widen float32.

    Parameters
    ----------
    n : int
        The order of C.
    dtype : dtype, default float64

    Examples
    --------
    >>> import numpy as np
    >>> C = np.arange(9.0).reshape(3, 3)
    >>> out = HalvedLowerMask(3).matvec(C.reshape(-1, order="F")).reshape(3, 3, order="F")
    >>> bool(np.array_equal(out, np.tril(C, -1) + np.diag(np.diag(C)) / 2))
    True
    >>> HalvedLowerMask(3).formula()
    'Φ₃'
    """

    carries_data = False

    def __init__(self, n, dtype=np.float64):
        if int(n) < 0:
            raise ValueError(f"HalvedLowerMask needs a size n >= 0, got {n}")
        self.n = int(n)
        super().__init__((self.n * self.n, self.n * self.n), dtype)

    def diagonal(self):
        """vec φ (a new array of the operator's dtype), built as the rows of φᵀ (C order)."""
        n = self.n
        transposed = (~np.tri(n, k=-1, dtype=bool)).astype(self.dtype)  # φᵀ: 1 on and above the diagonal
        transposed.flat[:: n + 1] = 0.5
        return transposed.reshape(-1)

    def _matmat(self, X):
        # row i + j·n of X is entry (i, j) of C; read C-ordered as [j, i, c] the kept entries
        # (i ≥ j) are the upper triangle of each [·, ·, c] slice: the products Diag(vec φ) takes
        n, k = self.n, X.shape[1]
        return (X.reshape(n, n, k) * self.diagonal().reshape(n, n, 1)).reshape(n * n, k)

    def _column_workspace(self):
        return 2 * self.n * self.n  # the mask and the output

    def _transpose(self):
        return self

    def inv(self):
        if self.n:
            raise np.linalg.LinAlgError(f"{self.formula()}: the diagonal vec φ has zero entries (above the diagonal)")
        return self

    @property
    def apply_cost(self):
        return self.n * self.n

    @property
    def nnz_bound(self):
        return self.n * (self.n + 1) // 2

    def _kept(self):
        """vec positions i + j·n of the entries i ≥ j, and their values (1, or ½ on the diagonal)."""
        i, j = np.tril_indices(self.n)
        return i + j * self.n, np.where(i == j, 0.5, 1.0).astype(self.dtype)

    def _accumulate_dense(self, out, scale):
        positions, values = self._kept()
        out[positions, positions] += scale * values

    def _direct_dense_workspace(self):
        return 8 * 5 * self.n * self.n  # the triangle's indices, positions and values

    def _sparse_workspace(self):
        return 3 * 16 * self.n * self.n  # vec φ, diags_array and its CSR conversion, zeros dropped

    def _tosparse(self):
        matrix = sp.csr_array(sp.diags_array(self.diagonal(), format="csr"))
        matrix.eliminate_zeros()
        return matrix

    def _render(self, parts, placeholders):
        return "Φ" + subscript(self.n)
