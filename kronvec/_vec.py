"""vec / unvec and the index maps built from them.

This is the only module in kronvec that reshapes with an explicit memory
order.  Everything else calls these functions, so the column-major
convention (``notes/conventions.md``) is written down exactly once:

    vec(X)[i + j*m] == X[i, j]        for X of shape (m, n).

A row-major vec would silently turn ``vec(AXB) = (Bᵀ ⊗ A) vec X`` into
``(A ⊗ Bᵀ) vec X``; keeping every reshape here makes that bug impossible
to write elsewhere.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "vec",
    "unvec",
    "unvec_columns",
    "vec_columns",
    "stack_members",
    "vec_members",
    "unvec_stack_columns",
    "vec_stack_columns",
    "commutation_index",
    "vech_index",
    "duplication_index",
    "tril_size",
    "stack_vech_index",
    "stack_duplication_index",
]


def vec(X):
    """Stack the columns of `X` into one vector (column-major).

    Parameters
    ----------
    X : array_like
        Any array; 0-d and 1-d inputs are treated as a column.

    Returns
    -------
    ndarray, shape (X.size,)
        ``vec(X)[i + j*m] == X[i, j]``.  A view when `X` is
        Fortran-contiguous, a copy otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> vec(np.array([[1, 2], [3, 4]]))
    array([1, 3, 2, 4])
    """
    return np.asarray(X).reshape(-1, order="F")


def unvec(v, shape):
    """Inverse of :func:`vec`: refill `shape` column by column.

    Parameters
    ----------
    v : array_like, shape (prod(shape),)
    shape : tuple of int

    Examples
    --------
    >>> unvec(np.array([1, 3, 2, 4]), (2, 2))
    array([[1, 2],
           [3, 4]])
    """
    v = np.asarray(v)
    size = math.prod(shape)  # (np.prod: a NumPy reduction, µs per call on every operator apply)
    if v.size != size:
        raise ValueError(
            f"unvec: a vector of {v.size} entries cannot fill shape {tuple(shape)} "
            f"({size} entries)"
        )
    return v.reshape(shape, order="F")


def unvec_columns(X, shape):
    """Unvec every column of a 2-D array at once.

    ``X`` of shape ``(r*c, k)`` becomes ``V`` of shape ``(r, c, k)`` with
    ``V[:, :, t] == unvec(X[:, t], (r, c))``.
    """
    X = np.asarray(X)
    return X.reshape((shape[0], shape[1], X.shape[1]), order="F")


def vec_columns(V):
    """Inverse of :func:`unvec_columns`: ``(r, c, k)`` → ``(r*c, k)``."""
    V = np.asarray(V)
    return V.reshape((V.shape[0] * V.shape[1], V.shape[2]), order="F")


def stack_members(X, core_ndim=2):
    """A stack ``(*batch, *core)`` as ``(K, *core)``, members in vec order.

    vec is column-major over *all* axes (``notes/conventions.md`` §"Stacks"),
    so the batch index runs fastest in vec X: member ``k`` is the column-major
    position of its batch index, ``k = b₀ + B₀·b₁ + …``.  Merging the batch
    axes in Fortran order keeps the core axes as they are.
    """
    X = np.asarray(X)
    split = X.ndim - core_ndim
    count = math.prod(X.shape[:split])
    return X.reshape((count,) + X.shape[split:], order="F")


def vec_members(M):
    """``(K, r, c)`` → ``(K, r·c)`` with row k equal to ``vec(M[k])``
    (the transpose's rows, read in C order, are the columns of M[k])."""
    M = np.asarray(M)
    return np.swapaxes(M, -1, -2).reshape(M.shape[0], M.shape[1] * M.shape[2])


def unvec_stack_columns(X, shape):
    """Unvec every column of ``X`` (``prod(shape)`` rows, c columns) into ``shape + (c,)``.

    For a stack of K members of shape (r, s), ``shape = (K, r, s)`` and
    ``V[k, :, :, t]`` is member k of ``unvec(X[:, t], …)``.
    """
    X = np.asarray(X)
    return X.reshape(tuple(shape) + (X.shape[1],), order="F")


def vec_stack_columns(V):
    """Inverse of :func:`unvec_stack_columns`: ``(*shape, c)`` → ``(prod(shape), c)``."""
    V = np.asarray(V)
    # (the row count spelt out: -1 is ambiguous, and refused, when there are no columns)
    return V.reshape((math.prod(V.shape[:-1]), V.shape[-1]), order="F")


def commutation_index(m, n):
    """Permutation ``p`` with ``vec(X.T) == vec(X)[p]`` for X of shape (m, n).

    This is the commutation matrix K_{m,n} stored as an index map:
    row ``r`` of K_{m,n} has its single 1 in column ``p[r]``.
    """
    positions = unvec(np.arange(m * n, dtype=np.intp), (m, n))
    return vec(positions.T).copy()


def tril_size(n):
    """Number of entries on and below the diagonal of an n×n matrix."""
    return n * (n + 1) // 2


def vech_index(n):
    """Indices ``q`` with ``vech(X) == vec(X)[q]`` (the elimination map L_n).

    vech stacks the lower triangle (diagonal included) column by column.
    """
    rows, cols = np.tril_indices(n)
    # np.tril_indices walks row by row; vech walks column by column.
    order = np.lexsort((rows, cols))
    rows, cols = rows[order], cols[order]
    return (rows + cols * n).astype(np.intp)


def duplication_index(n):
    """Indices ``d`` with ``vec(X) == vech(X)[d]`` for symmetric X (map D_n)."""
    lower_position = np.full((n, n), -1, dtype=np.intp)
    rows, cols = np.divmod(vech_index(n), n)[::-1]
    lower_position[rows, cols] = np.arange(rows.size, dtype=np.intp)
    # entry (i, j) of a symmetric matrix is stored at (max, min) in vech
    i, j = np.indices((n, n))
    full = lower_position[np.maximum(i, j), np.minimum(i, j)]
    return vec(full).copy()


def stack_vech_index(shape):
    """Indices ``q`` with ``vech(X) == vec(X)[q]`` for a stack X of shape (…, n, n).

    vech of a stack keeps the stack layout (``notes/conventions.md`` §11): the
    batch index runs fastest, ``vech(X)[k + K·t] = vech(X_k)[t]`` for member k
    of K.  For a 2-D shape this is :func:`vech_index`.
    """
    n = int(shape[-1])
    count = int(math.prod(shape[:-2]))
    members = np.arange(count, dtype=np.intp)[:, None]
    return vec(members + count * vech_index(n)[None, :]).copy()


def stack_duplication_index(shape):
    """Indices ``d`` with ``vec(X) == vech(X)[d]`` for a stack of symmetric members
    (…, n, n), vech as :func:`stack_vech_index` lays it out (D_n on every member)."""
    n = int(shape[-1])
    count = int(math.prod(shape[:-2]))
    members = np.arange(count, dtype=np.intp)[:, None]
    return vec(members + count * duplication_index(n)[None, :]).copy()
