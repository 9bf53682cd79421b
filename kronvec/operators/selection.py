"""0/1 matrices with one nonzero per row, stored as an index map.

The commutation, duplication and elimination matrices (Magnus–Neudecker
ch. 3) all have exactly one 1 in every row, so each is the map
``x ↦ x[index]``: O(N) memory, O(N) application, never a dense matrix.
"""

from __future__ import annotations

import functools

import numpy as np

from .._vec import commutation_index, duplication_index, tril_size, vech_index
from ._base import StructuredOperator, subscript

__all__ = ["Selection", "SelectionTranspose", "Commutation", "Duplication", "Elimination"]


class Selection(StructuredOperator):
    """The matrix S with ``S[r, index[r]] = 1``: ``S @ x == x[index]``.

    >>> Selection([2, 0], ncols=3).toarray()
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """

    carries_data = False

    def __init__(self, index, ncols, name=None, dtype=np.float64):
        index = np.array(index, dtype=np.intp)  # a copy: we lock it read-only
        if index.ndim != 1:
            raise ValueError(f"Selection needs a 1-D index map, got shape {index.shape}")
        if index.size and (index.min() < 0 or index.max() >= ncols):
            raise ValueError(f"Selection index out of range for {ncols} columns")
        index.flags.writeable = False
        self.index = index
        self.name = name or "P"
        super().__init__((index.size, int(ncols)), dtype)

    @functools.cached_property
    def is_identity(self):
        n = self.shape[1]
        return self.index.size == n and np.array_equal(self.index, np.arange(n))

    def _matmat(self, X):
        return X[self.index]

    def _transpose(self):
        return SelectionTranspose(self)

    @property
    def apply_cost(self):
        return self.index.size

    @property
    def nnz_bound(self):
        return self.index.size

    def _accumulate_dense(self, out, scale):
        out[np.arange(self.index.size), self.index] += scale

    def _tosparse(self):
        from ..sparse import selection_csr

        return selection_csr(self.index, self.shape[1])

    def formula(self):
        return self.name


class SelectionTranspose(StructuredOperator):
    """Sᵀ for a :class:`Selection` S: scatter-add ``y[index[r]] += x[r]``."""

    carries_data = False

    def __init__(self, selection):
        self.selection = selection
        super().__init__(selection.shape[::-1], selection.dtype)

    def _matmat(self, X):
        index = self.selection.index
        if X.shape[1] <= 8:  # bincount is ~20× faster than np.add.at per column
            columns = [np.bincount(index, weights=X[:, k], minlength=self.shape[0])
                       for k in range(X.shape[1])]
            out = np.stack(columns, axis=1) if columns else np.zeros((self.shape[0], 0))
            return out.astype(X.dtype, copy=False)  # bincount sums in float64; 0/1 maps add no data
        out = np.zeros((self.shape[0], X.shape[1]), dtype=X.dtype)
        np.add.at(out, index, X)
        return out

    def _transpose(self):
        return self.selection

    @property
    def apply_cost(self):
        return self.selection.index.size

    @property
    def nnz_bound(self):
        return self.selection.index.size

    def _accumulate_dense(self, out, scale):
        out[self.selection.index, np.arange(self.selection.index.size)] += scale

    def _tosparse(self):
        from ..sparse import selection_transpose_csr

        return selection_transpose_csr(self.selection.index, self.selection.shape[1])

    def formula(self):
        text = self.selection.formula()
        return text + "ᵀ" if len(text) <= 6 and "·" not in text else f"({text})ᵀ"


class Commutation(Selection):
    """The commutation matrix K_{m,n}: ``K_{m,n} vec(X) = vec(Xᵀ)`` for X of shape (m, n).

    A permutation, so ``K_{m,n}ᵀ = K_{m,n}⁻¹ = K_{n,m}``.

    >>> import numpy as np
    >>> X = np.arange(6.).reshape(2, 3)
    >>> np.array_equal(Commutation(2, 3).matvec(X.ravel(order="F")), X.T.ravel(order="F"))
    True
    """

    def __init__(self, m, n, dtype=np.float64):
        self.m, self.n = int(m), int(n)
        super().__init__(commutation_index(self.m, self.n), self.m * self.n,
                         name="K" + subscript(self.m, self.n), dtype=dtype)

    def _transpose(self):
        return Commutation(self.n, self.m, self.dtype)

    def inv(self):
        return self.T

    def solve(self, b):
        return self.T.dot(b)


class Duplication(Selection):
    """The duplication matrix D_n: ``D_n vech(X) = vec(X)`` for symmetric X.

    vech stacks the lower triangle (diagonal included) column by column.

    >>> Duplication(2).toarray()
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """

    def __init__(self, n):
        self.n = int(n)
        super().__init__(duplication_index(self.n), tril_size(self.n), name="D" + subscript(self.n))


class Elimination(Selection):
    """The elimination matrix L_n: ``L_n vec(X) = vech(X)``.

    >>> Elimination(2).toarray()
    array([[1., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 0., 0., 1.]])
    """

    def __init__(self, n):
        self.n = int(n)
        super().__init__(vech_index(self.n), self.n * self.n, name="L" + subscript(self.n))
