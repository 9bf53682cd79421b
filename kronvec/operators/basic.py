"""Leaf operators: Identity, Zero, Dense, Sparse, Diag, RowVector, Wrapped.

Leaves own their data: an array handed in is copied unless it is frozen
(it, and every array it is a view of, read-only), and what is stored is
read-only, so neither the caller nor kronvec can change an operator after
it was built.  A leaf built without a ``name`` is anonymous and prints as a
numbered placeholder (see :mod:`kronvec.operators._formula`).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse as sp

from .._linalg.factorization import _frozen
from .._vec import unvec
from ._base import StructuredOperator, check_size, check_solve_shape, plain_array, result_float_dtype, subscript
from ._formula import Label

__all__ = ["Identity", "Zero", "Dense", "Sparse", "Diag", "RowVector", "Wrapped", "owned_readonly", "freeze"]


def owned_readonly(array, dtype):
    """`array` as `dtype`, read-only, and such that nobody can write it.

    A frozen array (:func:`kronvec._linalg.factorization._frozen`: it and
    every array it views are read-only) is kept as it is; anything else is
    copied once and the copy locked.
    """
    array = np.asarray(array)
    if array.dtype == dtype and _frozen(array):
        return array
    return freeze(np.array(array, dtype=dtype, copy=True, order="K"))


def freeze(array):
    """Lock `array` read-only; for arrays just computed here, that nobody else holds."""
    array.flags.writeable = False
    return array


def _add_in_row_blocks(out, scale, M, rows_per_block):
    """``out += scale * M`` with a temporary of at most `rows_per_block` rows."""
    if scale == 1.0:
        out += M
        return
    for start in range(0, M.shape[0], max(1, rows_per_block)):
        block = slice(start, start + rows_per_block)
        out[block] += scale * M[block]


def _rows_per_block(shape, entries=1 << 16):
    """Rows of a ``shape`` matrix holding about `entries` entries (at least one)."""
    return max(1, entries // max(1, shape[1]))


_SPARSE_BLOCK = 1 << 14  # nonzeros per block when a Sparse accumulates into a dense array


def _dense_to_csr_workspace(shape):
    from ..sparse import dense_to_csr_workspace

    return dense_to_csr_workspace(shape)


class Identity(StructuredOperator):
    """The n×n identity matrix, stored as nothing but its size.

    >>> Identity(3).formula()
    'I₃'
    """

    carries_data = False
    row_nnz_max = column_nnz_max = 1  # (class attributes: one nonzero in each row and column)

    def __init__(self, n, dtype=np.float64):
        self.n = check_size(n, "Identity(n)")
        super().__init__((self.n, self.n), dtype)

    def _matmat(self, X):
        return X.copy()

    def _left_apply(self, V):
        return V

    def _right_apply_transposed(self, W):
        return W

    @property
    def is_identity(self):
        return True

    @property
    def apply_cost(self):
        return 0

    def _column_workspace(self):
        return self.n

    def _transpose(self):
        return self

    def inv(self):
        return self

    def solve(self, b):
        b = check_solve_shape(self, b, "solve")
        return np.array(b, dtype=result_float_dtype(self.dtype, b.dtype))

    @property
    def nnz_bound(self):
        return self.n

    def _accumulate_dense(self, out, scale):
        out[np.diag_indices(self.n)] += scale

    def _direct_dense_workspace(self):
        return 2 * 8 * self.n  # the two index arrays of the diagonal

    def _sparse_workspace(self):
        return 4 * 8 * (self.n + 1)  # the identity factors' index arrays and row counts

    def _tosparse(self):
        from ..sparse import kron_csr

        return kron_csr(1, self.n).astype(self.dtype, copy=False) if self.n else sp.csr_array(
            (0, 0), dtype=self.dtype)

    def _render(self, parts, placeholders):
        return "I" + subscript(self.n)


class Zero(StructuredOperator):
    """The zero matrix of any shape (e.g. the Jacobian of a constant).

    >>> Zero((2, 3)).matvec(np.ones(3))
    array([0., 0.])
    """

    carries_data = False
    row_nnz_max = column_nnz_max = 0  # (class attributes: no nonzeros)

    def __init__(self, shape, dtype=np.float64):
        super().__init__(shape, dtype)

    def _matmat(self, X):
        return np.zeros((self.shape[0], X.shape[1]), dtype=X.dtype)

    def _column_workspace(self):
        return self.shape[0]

    def _transpose(self):
        return Zero(self.shape[::-1], self.dtype)

    @property
    def nnz_bound(self):
        return 0

    def _accumulate_dense(self, out, scale):
        pass

    def _direct_dense_workspace(self):
        return 0

    def _sparse_workspace(self):
        return 0

    def _tosparse(self):
        return sp.csr_array(self.shape, dtype=self.dtype)

    def _render(self, parts, placeholders):
        return "0"


class _LabelledLeaf(StructuredOperator):
    """A leaf holding data, printed by its :class:`~kronvec.operators._formula.Label`."""

    @property
    def name(self):
        """The name given at construction (decorated, e.g. ``"Aᵀ"``), or None: anonymous."""
        return self._label.name

    @property
    def precedence(self):
        return self._label.precedence

    def _render(self, parts, placeholders):
        return self._label.text(placeholders)


class Dense(_LabelledLeaf):
    """A dense matrix, used as it is.

    Parameters
    ----------
    M : array_like, 2-D
        Copied unless already frozen (read-only, and so is every array it
        views); the operator stores a read-only array (notes/conventions.md
        §8: a frozen array made writeable again is the caller's to copy first).
    name : str, optional
        How the matrix appears in formulas.  Without one the matrix is
        anonymous and prints as a placeholder ``M₁``, ``M₂``…, numbered
        within each formula.

    >>> Dense(np.arange(4.).reshape(2, 2), name="A").T.formula()
    'Aᵀ'
    >>> Dense(np.eye(2)).formula()
    'M₁'
    """

    def __init__(self, M, name=None, *, _label=None):
        M = plain_array(M, "the matrix of Dense")
        if M.ndim != 2:
            raise ValueError(f"Dense needs a 2-D matrix, got an array of shape {M.shape}")
        dtype = result_float_dtype(M.dtype)
        self.M = owned_readonly(M, dtype)
        self._label = _label or Label(name, "matrix", self.M)
        super().__init__(M.shape, dtype)

    def _matmat(self, X):
        return self.M @ X

    def _right_apply_transposed(self, W):
        return W @ self.M.T

    def _left_apply(self, V):
        return self.M @ V

    def _transpose(self):
        transposed = Dense(self.M.T, _label=self._label.transposed())
        transposed._remember_as_transpose_of(self)
        return transposed

    def inv(self):
        from .._linalg.checks import checked_inverse

        if self.shape[0] != self.shape[1]:
            raise ValueError(f"Dense.inv: only a square matrix has an inverse; got shape {self.shape}")
        return Dense(checked_inverse(self.M, "Dense.inv"), _label=self._label.derived("inv({})"))

    def solve(self, b):
        from .._linalg.checks import checked_solve

        b = check_solve_shape(self, b, "solve")
        # (in the common precision, as np.linalg.solve: a float32 M and a float64 b solve in float64)
        dtype = result_float_dtype(self.dtype, b.dtype)
        return checked_solve(self.M if self.M.dtype == dtype else self.M.astype(dtype), b, "Dense.solve")

    @property
    def apply_cost(self):
        return self.M.size

    def _toarray(self):
        return np.array(self.M)

    def _accumulate_dense(self, out, scale):
        _add_in_row_blocks(out, scale, self.M, _rows_per_block(self.shape))

    def _direct_dense_workspace(self):
        return 8 * min(self.M.size, max(1 << 16, self.shape[1]))  # one block of scale·M

    def _sparse_workspace(self):
        return _dense_to_csr_workspace(self.shape)

    def _tosparse(self):
        from ..sparse import dense_to_csr

        return dense_to_csr(self.M)


class Sparse(_LabelledLeaf):
    """A SciPy sparse matrix, kept in canonical CSR (a read-only copy).

    Anonymous (``name=None``) sparse matrices print as ``M₁``, ``M₂``….

    >>> from scipy.sparse import eye_array
    >>> Sparse(eye_array(3)).matvec(np.ones(3))
    array([1., 1., 1.])
    """

    def __init__(self, S, name=None, *, _label=None):
        S = sp.csr_array(S, copy=True)  # we canonicalize in place below
        dtype = result_float_dtype(S.dtype)
        S = S.astype(dtype, copy=False)
        S.sum_duplicates()
        for array in (S.data, S.indices, S.indptr):
            array.flags.writeable = False
        self.S = S
        self._label = _label or Label(name, "matrix", S)
        super().__init__(S.shape, dtype)

    def _matmat(self, X):
        return np.asarray(self.S @ X)

    def _transpose(self):
        transposed = Sparse(self.S.T, _label=self._label.transposed())
        transposed._remember_as_transpose_of(self)
        return transposed

    @property
    def apply_cost(self):
        return self.S.nnz

    @property
    def nnz_bound(self):
        return self.S.nnz

    def _toarray(self):
        return self.S.toarray()

    def _accumulate_dense(self, out, scale):
        from ..sparse import csr_row_blocks

        S = self.S
        for start, stop in csr_row_blocks(S.indptr, _SPARSE_BLOCK):  # small index temporaries
            lo, hi = S.indptr[start], S.indptr[stop]
            rows = np.repeat(np.arange(start, stop), np.diff(S.indptr[start:stop + 1]))
            out[rows, S.indices[lo:hi]] += scale * S.data[lo:hi]  # canonical: no duplicates

    def _direct_dense_workspace(self):
        # per block: row numbers, scale·data, the gathered entries of out and
        # their sum, all as wide as the block (one row may exceed _SPARSE_BLOCK)
        widest_row = int(np.diff(self.S.indptr).max()) if self.shape[0] else 0
        return 5 * 8 * min(self.S.nnz, _SPARSE_BLOCK + widest_row)

    def _sparse_workspace(self):
        return 0

    def _tosparse(self):
        return self.S.copy()

    def solve(self, b):
        """Solve ``S x = b`` by sparse LU; ``LinAlgError`` when S is singular."""
        from scipy.sparse.linalg import splu

        b = check_solve_shape(self, b, "solve")
        if self.shape[0] == 0:
            return np.zeros(b.shape, dtype=result_float_dtype(self.dtype, b.dtype))
        dtype = result_float_dtype(self.dtype, b.dtype)  # (the common precision, as Dense.solve)
        try:
            factors = splu(self.S.astype(dtype, copy=False).tocsc())
        except RuntimeError as error:  # SuperLU: "Factor is exactly singular"
            raise np.linalg.LinAlgError(
                f"Sparse.solve: the {self.shape[0]}×{self.shape[1]} matrix is singular ({error})"
            ) from None
        x = factors.solve(np.asarray(b, dtype=dtype))
        if not np.all(np.isfinite(x)) and np.all(np.isfinite(b)):
            raise np.linalg.LinAlgError(
                f"Sparse.solve: the {self.shape[0]}×{self.shape[1]} matrix is numerically singular"
            )
        return x.reshape(b.shape)


class Diag(_LabelledLeaf):
    """A diagonal matrix diag(d): the Jacobian of an elementwise function.

    Anonymous diagonals print as ``diag(d₁)``, ``diag(d₂)``….

    >>> Diag([1.0, 2.0]).matvec([3.0, 4.0])
    array([3., 8.])
    """

    row_nnz_max = column_nnz_max = 1  # (class attributes: one nonzero in each row and column)

    def __init__(self, d, name=None, *, _label=None):
        d = plain_array(d, "the diagonal of Diag")
        if d.ndim != 1:
            raise ValueError(f"Diag needs a 1-D diagonal, got shape {d.shape}")
        dtype = result_float_dtype(d.dtype)
        self.d = owned_readonly(d, dtype)
        self._label = _label or Label(name, "diagonal", self.d, template="diag(\x00)")
        super().__init__((d.size, d.size), dtype)

    def _matmat(self, X):
        return self.d[:, None] * X

    def _column_workspace(self):
        return self.d.size

    def _transpose(self):
        return self

    def inv(self):
        if np.any(self.d == 0):
            raise np.linalg.LinAlgError(f"Diag.inv: the diagonal {self.formula()} has zero entries")
        return Diag(freeze(1.0 / self.d), _label=self._label.derived("inv({})"))

    @property
    def apply_cost(self):
        return self.d.size

    @property
    def nnz_bound(self):
        return self.d.size

    def _accumulate_dense(self, out, scale):
        out[np.diag_indices(self.d.size)] += scale * self.d

    def _direct_dense_workspace(self):
        return 3 * 8 * self.d.size  # the diagonal's two index arrays and scale·d

    def _sparse_workspace(self):
        return 3 * 16 * self.d.size  # diags_array, its CSR conversion, zeros dropped

    def _tosparse(self):
        matrix = sp.csr_array(sp.diags_array(self.d, format="csr"))
        matrix.eliminate_zeros()
        return matrix


class RowVector(_LabelledLeaf):
    """The 1×N Jacobian ``Df(X) = vec(∇f)ᵀ`` of a scalar function.

    Numerator layout: a Jacobian row, *not* a gradient.  Use
    :meth:`gradient` to get ∇f shaped like X.  A named row prints as
    ``vec(name)ᵀ``; anonymous rows as ``v₁ᵀ``, ``v₂ᵀ``….

    >>> J = RowVector([1.0, 2.0, 3.0, 4.0])
    >>> J.gradient((2, 2))
    array([[1., 3.],
           [2., 4.]])
    """

    def __init__(self, v, name=None, *, _label=None):
        v = plain_array(v, "the vector of RowVector")
        if v.ndim == 2 and v.shape[0] == 1:
            v = v[0]
        if v.ndim != 1:
            raise ValueError(f"RowVector needs a 1-D vector (or 1×N), got shape {v.shape}")
        dtype = result_float_dtype(v.dtype)
        self.v = owned_readonly(v, dtype)
        self._label = _label or Label(name, "row", self.v)
        super().__init__((1, v.size), dtype)

    def _matmat(self, X):
        return (self.v @ X).reshape(1, -1)

    def _column_workspace(self):
        return 1 + self.v.size  # BLAS may copy a strided input

    def _transpose(self):
        label = self._label if self.name is None else self._label.derived("vec({})")
        column = Dense(self.v.reshape(-1, 1), _label=label)
        column._remember_as_transpose_of(self)
        return column

    def gradient(self, shape):
        """The gradient ∇f, shaped like the argument: ``unvec(self.v, shape)`` (a new array)."""
        return unvec(self.v, self._gradient_shape(shape)).copy()

    @property
    def nnz_bound(self):
        return self.v.size

    def _toarray(self):
        return self.v.reshape(1, -1).copy()

    def _accumulate_dense(self, out, scale):
        out += scale * self.v

    def _direct_dense_workspace(self):
        return 8 * self.v.size

    def _sparse_workspace(self):
        return _dense_to_csr_workspace(self.shape)

    def _tosparse(self):
        from ..sparse import dense_to_csr

        return dense_to_csr(self.v.reshape(1, -1))

    def _render(self, parts, placeholders):
        text = self._label.text(placeholders)
        return f"{text}ᵀ" if self.name is None else f"vec({text})ᵀ"

    @property
    def precedence(self):
        return self._label.precedence if self.name is None else StructuredOperator.precedence


class Wrapped(_LabelledLeaf):
    """Any SciPy ``LinearOperator``, taken in as an opaque structured operator.

    Anonymous wrapped operators print as ``M₁``, ``M₂``….
    """

    def __init__(self, A, name=None, *, _label=None):
        self.A = A
        self._label = _label or Label(name, "matrix", A)
        super().__init__(A.shape, A.dtype if A.dtype is not None else np.float64)

    def _matmat(self, X):
        if X.shape[1] == 0:  # (SciPy's default matmat stacks columns: none to stack fails)
            return np.zeros((self.shape[0], 0), dtype=result_float_dtype(self.dtype, X.dtype))
        result = np.asarray(self.A.matmat(X))
        if np.may_share_memory(result, X):  # e.g. SciPy's IdentityOperator returns X
            result = result.copy()
        return result

    def _column_workspace(self):
        return 2 * (self.shape[0] + self.shape[1])  # opaque: output, input copy and a margin

    def _transpose(self):
        return Wrapped(self.A.T, _label=self._label.transposed())
