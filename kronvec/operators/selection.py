"""0/1 matrices with one nonzero per row, stored as an index map.

The commutation, duplication and elimination matrices (Magnus–Neudecker
ch. 3) all have exactly one 1 in every row, so each is the map
``x ↦ x[index]``: O(N) memory, O(N) application, never a dense matrix.
"""

from __future__ import annotations

import functools

import numpy as np

from .._vec import commutation_index, duplication_index, tril_size, vech_index
from ._base import StructuredOperator, check_size, check_solve_shape, subscript
from ._formula import Label, Precedence, transposed_name
from .basic import Identity, _LabelledLeaf

__all__ = [
    "Selection",
    "SelectionTranspose",
    "Commutation",
    "Duplication",
    "Elimination",
    "selection_from_index",
]


def _commutation_shape(index, ncols):
    """``(m, n)`` when ``index`` is the map of K_{m,n} with m, n ≥ 2, else None.

    Row ``j + i·n`` of K_{m,n} reads entry ``i + j·m`` of vec X, so
    ``index[1] == m`` decides the only candidate, checked in O(N).
    """
    size = index.size
    if size != ncols or size < 4:
        return None
    m = int(index[1])
    if m < 2 or size % m or size // m < 2:
        return None
    n = size // m
    return (m, n) if np.array_equal(index, commutation_index(m, n)) else None


def _largest_multiplicity(index):
    """How often the most repeated position of `index` is picked (0 for an empty index)."""
    return int(np.bincount(index).max()) if index.size else 0


def selection_from_index(index, ncols, name=None):
    """The operator ``x ↦ x[index]``, as the most specific class that is exactly it.

    Parameters
    ----------
    index : 1-D array of int
        Values in ``[0, ncols)``.
    ncols : int
    name : str, optional
        A label for a general selection (ignored for I and K, which have
        their true names).

    Returns
    -------
    Identity, Commutation or Selection
        ``Identity(ncols)`` for ``index == arange(ncols)``, ``Commutation(m, n)``
        for the commutation permutation of an m×n matrix (the Jacobian of
        ``X.ravel()`` of a 2-D X is ``K_{m,n}``), otherwise a ``Selection``.

    >>> X = np.arange(6.).reshape(2, 3)
    >>> from kronvec._vec import vec
    >>> index = np.arange(6).reshape(2, 3, order="F").ravel()   # vec(X)[index] == X.ravel()
    >>> selection_from_index(index, 6).formula()
    'K₂,₃'
    >>> selection_from_index([0, 1, 2], 3).formula()
    'I₃'
    """
    selection = Selection(index, ncols, name=name)
    if selection.is_identity:
        return Identity(selection.shape[1])
    shape = _commutation_shape(selection.index, selection.shape[1])
    if shape is not None:
        return Commutation(*shape)
    return selection


class Selection(_LabelledLeaf):
    """The matrix S with ``S[r, index[r]] = 1``: ``S @ x == x[index]``.

    Anonymous (``name=None``) selections print as ``S₁``, ``S₂``…; one that
    is exactly an identity or a commutation prints as ``Iₙ`` or ``K_{m,n}``
    whatever its name (see also :func:`selection_from_index`).

    >>> Selection([2, 0], ncols=3).toarray()
    array([[0., 0., 1.],
           [1., 0., 0.]])
    >>> Selection([2, 0], ncols=3).formula()
    'S₁'
    """

    carries_data = False
    row_nnz_max = 1  # (a class attribute: one entry picked per row)

    def __init__(self, index, ncols, name=None, dtype=np.float64):
        ncols = check_size(ncols, "Selection(index, ncols)")
        given = np.asarray(index)
        if given.size and given.dtype.kind not in "iu":  # (a float 0.5 was truncated to 0)
            raise TypeError(f"Selection needs an integer index map, got dtype {given.dtype}")
        index = np.array(given, dtype=np.intp)  # a copy: we lock it read-only
        if index.ndim != 1:
            raise ValueError(f"Selection needs a 1-D index map, got shape {index.shape}")
        if index.size and (index.min() < 0 or index.max() >= ncols):
            raise ValueError(f"Selection index out of range for {ncols} columns: entries from "
                             f"{index.min()} to {index.max()}, each must be in [0, {ncols})")
        index.flags.writeable = False
        self.index = index
        self._label = Label(name, "selection", index)
        super().__init__((index.size, int(ncols)), dtype)

    @functools.cached_property
    def _true_name(self):
        """``Iₙ`` or ``K_{m,n}`` when the map is exactly one of them, else None."""
        if self.is_identity:
            return "I" + subscript(self.shape[1])
        shape = _commutation_shape(self.index, self.shape[1])
        return None if shape is None else "K" + subscript(*shape)

    @functools.cached_property
    def is_identity(self):
        n = self.shape[1]
        return self.index.size == n and np.array_equal(self.index, np.arange(n))

    def _matmat(self, X):
        return X[self.index]

    def _transpose(self):
        shape = _commutation_shape(self.index, self.shape[1])
        if shape is not None:
            return Commutation(shape[1], shape[0], self.dtype)  # K_{m,n}ᵀ = K_{n,m}
        return SelectionTranspose(self)

    @property
    def apply_cost(self):
        return self.index.size

    @property
    def nnz_bound(self):
        return self.index.size

    @property
    def column_nnz_max(self):
        return _largest_multiplicity(self.index)

    def _accumulate_dense(self, out, scale):
        out[np.arange(self.index.size), self.index] += scale

    def _direct_dense_workspace(self):
        return 3 * 8 * self.index.size  # row numbers and the gathered entries of out

    def _sparse_workspace(self):
        return 0

    def _tosparse(self):
        from ..sparse import selection_csr

        return selection_csr(self.index, self.shape[1])

    def _column_workspace(self):
        return self.shape[0]

    @property
    def precedence(self):
        return self._label.precedence if self._true_name is None else Precedence.ATOM

    def _render(self, parts, placeholders):
        return self._true_name or self._label.text(placeholders)


class SelectionTranspose(StructuredOperator):
    """Sᵀ for a :class:`Selection` S: scatter-add ``y[index[r]] += x[r]``."""

    carries_data = False
    column_nnz_max = 1  # (a class attribute: each entry placed once)

    def __init__(self, selection):
        self.selection = selection
        super().__init__(selection.shape[::-1], selection.dtype)

    @property
    def transposed_original(self):
        """The selection this is the transpose of (it caches this one weakly: no cycle)."""
        return self.selection

    def _matmat(self, X):
        index = self.selection.index
        if X.shape[1] <= 8:  # bincount: one buffered pass per column (np.add.at is unbuffered)
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

    @property
    def row_nnz_max(self):
        return _largest_multiplicity(self.selection.index)

    def _accumulate_dense(self, out, scale):
        out[self.selection.index, np.arange(self.selection.index.size)] += scale

    def _direct_dense_workspace(self):
        return 3 * 8 * self.selection.index.size

    def _sparse_workspace(self):
        return 8 * (2 * self.selection.index.size + self.shape[0] + 1)  # the stable sort, counts

    def _tosparse(self):
        from ..sparse import selection_transpose_csr

        return selection_transpose_csr(self.selection.index, self.selection.shape[1])

    def _column_workspace(self):
        # bincount per column (float64), their stack and its cast to the input dtype
        return 3 * self.shape[0]

    def _formula_children(self):
        return (self.selection,)

    def _render(self, parts, placeholders):
        ((text, precedence),) = parts
        return transposed_name(text) if precedence == Precedence.ATOM else f"({text})ᵀ"


class Commutation(Selection):
    """The commutation matrix K_{m,n}: ``K_{m,n} vec(X) = vec(Xᵀ)`` for X of shape (m, n).

    A permutation, so ``K_{m,n}ᵀ = K_{m,n}⁻¹ = K_{n,m}``.  Stored as (m, n) alone:
    it is applied as the transpose it stands for, and its index map (``index``, what
    a general :class:`Selection` stores) is computed when something asks for it —
    an n² integer array would otherwise be held by every Jacobian that symmetrizes
    (½(I + K)), as much as a factor of the factorization itself.

    >>> import numpy as np
    >>> X = np.arange(6.).reshape(2, 3)
    >>> np.array_equal(Commutation(2, 3).matvec(X.ravel(order="F")), X.T.ravel(order="F"))
    True
    """

    column_nnz_max = 1  # (a class attribute: a permutation; rows too, as a Selection)

    def __init__(self, m, n, dtype=np.float64):
        self.m, self.n = check_size(m, "Commutation(m, n)"), check_size(n, "Commutation(m, n)")
        self._label = Label("K" + subscript(self.m, self.n), "selection", None)
        StructuredOperator.__init__(self, (self.m * self.n, self.m * self.n), dtype)

    @property
    def index(self):
        """The permutation p with vec(Xᵀ) = vec(X)[p] (a new read-only array on each call)."""
        index = commutation_index(self.m, self.n)
        index.flags.writeable = False
        return index

    @functools.cached_property
    def _true_name(self):
        return self.name

    @functools.cached_property
    def is_identity(self):
        return self.m <= 1 or self.n <= 1  # (K_{1,n} = K_{m,1} = I: a vector is its own transpose's vec)

    def _matmat(self, X):
        # column c of X is vec X_c (X_c m×n), i.e. X read C-ordered as [j, i, c] = X_c[i, j]; its
        # transpose's vec is [i, j, c]: one blocked transpose (the gather x[p] costs a random read per entry).
        # Always a copy: for m = 1 or n = 1 the transposed view is already contiguous, and
        # ascontiguousarray handed back the caller's X itself (results own their memory).
        m, n, k = self.m, self.n, X.shape[1]
        return X.reshape(n, m, k).transpose(1, 0, 2).copy(order="C").reshape(m * n, k)

    @property
    def apply_cost(self):
        return self.m * self.n

    @property
    def nnz_bound(self):
        return self.m * self.n

    def _direct_dense_workspace(self):
        return 3 * 8 * self.m * self.n

    def _column_workspace(self):
        return self.m * self.n

    def _transpose(self):
        return Commutation(self.n, self.m, self.dtype)

    def inv(self):
        return self.T

    def solve(self, b):
        return self.T.dot(check_solve_shape(self, b, "solve"))


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
        self.n = check_size(n, "Duplication(n)")
        super().__init__(duplication_index(self.n), tril_size(self.n), name="D" + subscript(self.n))

    @functools.cached_property
    def _true_name(self):
        return self.name


class Elimination(Selection):
    """The elimination matrix L_n: ``L_n vec(X) = vech(X)``.

    >>> Elimination(2).toarray()
    array([[1., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 0., 0., 1.]])
    """

    def __init__(self, n):
        self.n = check_size(n, "Elimination(n)")
        super().__init__(vech_index(self.n), self.n * self.n, name="L" + subscript(self.n))

    @functools.cached_property
    def _true_name(self):
        return self.name
