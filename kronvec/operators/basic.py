"""Leaf operators: Identity, Zero, Dense, Sparse, Diag, RowVector, Wrapped."""

from __future__ import annotations

import numpy as np
from scipy import sparse as sp

from .._vec import unvec
from ._base import Precedence, StructuredOperator, result_float_dtype, subscript

__all__ = ["Identity", "Zero", "Dense", "Sparse", "Diag", "RowVector", "Wrapped"]


def _readonly(array):
    """A read-only view: operators never write into the arrays they hold."""
    view = array.view()
    view.flags.writeable = False
    return view


def _name_precedence(name):
    """How tightly a computed name like ``"A·B"`` or ``"A + B"`` binds."""
    top = _top_level_text(name)
    if " + " in top or " - " in top:
        return Precedence.SUM
    if "·" in top or " ⊗ " in top or top.startswith("-"):
        return Precedence.PRODUCT
    return Precedence.ATOM


def _top_level_text(name):
    """The characters of `name` outside any parentheses."""
    depth, kept = 0, []
    for ch in name:
        depth += ch == "("
        if depth == 0:
            kept.append(ch)
        depth -= ch == ")"
    return "".join(kept)


def _transposed_name(name):
    if name.endswith("ᵀ") and _name_precedence(name[:-1]) == Precedence.ATOM:
        return name[:-1]
    if _name_precedence(name) != Precedence.ATOM:
        return f"({name})ᵀ"
    return name + "ᵀ"


class Identity(StructuredOperator):
    """The n×n identity matrix, stored as nothing but its size.

    >>> Identity(3).formula()
    'I₃'
    """

    carries_data = False

    def __init__(self, n, dtype=np.float64):
        if int(n) < 0:
            raise ValueError(f"Identity needs a size n >= 0, got {n}")
        self.n = int(n)
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

    def _transpose(self):
        return self

    def inv(self):
        return self

    def solve(self, b):
        return np.array(b, dtype=result_float_dtype(self.dtype, np.asarray(b).dtype))

    @property
    def nnz_bound(self):
        return self.n

    def _accumulate_dense(self, out, scale):
        out[np.diag_indices(self.n)] += scale

    def _tosparse(self):
        from ..sparse import kron_csr

        return kron_csr(1, self.n).astype(self.dtype, copy=False) if self.n else sp.csr_array(
            (0, 0), dtype=self.dtype)

    def formula(self):
        return "I" + subscript(self.n)


class Zero(StructuredOperator):
    """The zero matrix of any shape (e.g. the Jacobian of a constant).

    >>> Zero((2, 3)).matvec(np.ones(3))
    array([0., 0.])
    """

    carries_data = False

    def __init__(self, shape, dtype=np.float64):
        super().__init__(shape, dtype)

    def _matmat(self, X):
        return np.zeros((self.shape[0], X.shape[1]), dtype=X.dtype)

    def _transpose(self):
        return Zero(self.shape[::-1], self.dtype)

    @property
    def nnz_bound(self):
        return 0

    def _accumulate_dense(self, out, scale):
        pass

    def _tosparse(self):
        return sp.csr_array(self.shape, dtype=self.dtype)

    def formula(self):
        return "0"


class Dense(StructuredOperator):
    """A dense matrix, used as it is.

    Parameters
    ----------
    M : array_like, 2-D
    name : str, optional
        How the matrix appears in formulas (default ``"M"``).

    >>> Dense(np.arange(4.).reshape(2, 2), name="A").T.formula()
    'Aᵀ'
    """

    def __init__(self, M, name=None):
        M = np.asarray(M)
        if M.ndim != 2:
            raise ValueError(f"Dense needs a 2-D matrix, got an array of shape {M.shape}")
        dtype = result_float_dtype(M.dtype)
        self.M = _readonly(M.astype(dtype, copy=False))
        self.name = name or "M"
        super().__init__(M.shape, dtype)

    def _matmat(self, X):
        return self.M @ X

    def _right_apply_transposed(self, W):
        return W @ self.M.T

    def _left_apply(self, V):
        return self.M @ V

    def _transpose(self):
        transposed = Dense(self.M.T, name=_transposed_name(self.name))
        transposed._remember_as_transpose_of(self)
        return transposed

    def inv(self):
        from .._linalg.checks import checked_inverse

        return Dense(checked_inverse(self.M, "Dense.inv"), name=f"inv({self.name})")

    def solve(self, b):
        from .._linalg.checks import checked_solve

        return checked_solve(self.M, np.asarray(b), "Dense.solve")

    @property
    def apply_cost(self):
        return self.M.size

    def _toarray(self):
        return np.array(self.M)

    def _accumulate_dense(self, out, scale):
        out += scale * self.M

    def _tosparse(self):
        matrix = sp.csr_array(self.M)
        matrix.eliminate_zeros()
        return matrix

    @property
    def precedence(self):
        return _name_precedence(self.name)

    def formula(self):
        return self.name


class Sparse(StructuredOperator):
    """A SciPy sparse matrix, kept in CSR.

    >>> from scipy.sparse import eye_array
    >>> Sparse(eye_array(3)).matvec(np.ones(3))
    array([1., 1., 1.])
    """

    def __init__(self, S, name=None):
        S = sp.csr_array(S, copy=True)  # we canonicalize in place below
        dtype = result_float_dtype(S.dtype)
        S = S.astype(dtype, copy=False)
        S.sum_duplicates()
        self.S = S
        self.name = name or "S"
        super().__init__(S.shape, dtype)

    def _matmat(self, X):
        return np.asarray(self.S @ X)

    def _transpose(self):
        transposed = Sparse(self.S.T, name=_transposed_name(self.name))
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
        out += scale * self.S.toarray()

    def _tosparse(self):
        return self.S.copy()

    def solve(self, b):
        from scipy.sparse.linalg import spsolve

        b = np.asarray(b)
        return np.asarray(spsolve(self.S.tocsc(), b)).reshape(b.shape)

    def formula(self):
        return self.name


class Diag(StructuredOperator):
    """A diagonal matrix diag(d): the Jacobian of an elementwise function.

    >>> Diag([1.0, 2.0]).matvec([3.0, 4.0])
    array([3., 8.])
    """

    def __init__(self, d, name=None):
        d = np.asarray(d)
        if d.ndim != 1:
            raise ValueError(f"Diag needs a 1-D diagonal, got shape {d.shape}")
        dtype = result_float_dtype(d.dtype)
        self.d = _readonly(d.astype(dtype, copy=False))
        self.name = name or "diag(d)"
        super().__init__((d.size, d.size), dtype)

    def _matmat(self, X):
        return self.d[:, None] * X

    def _transpose(self):
        return self

    def inv(self):
        if np.any(self.d == 0):
            raise np.linalg.LinAlgError(f"Diag.inv: the diagonal {self.name} has zero entries")
        return Diag(1.0 / self.d, name=f"inv({self.name})")

    @property
    def apply_cost(self):
        return self.d.size

    @property
    def nnz_bound(self):
        return self.d.size

    def _accumulate_dense(self, out, scale):
        out[np.diag_indices(self.d.size)] += scale * self.d

    def _tosparse(self):
        matrix = sp.csr_array(sp.diags_array(self.d, format="csr"))
        matrix.eliminate_zeros()
        return matrix

    @property
    def precedence(self):
        return _name_precedence(self.name)

    def formula(self):
        return self.name


class RowVector(StructuredOperator):
    """The 1×N Jacobian ``Df(X) = vec(∇f)ᵀ`` of a scalar function.

    Numerator layout: a Jacobian row, *not* a gradient.  Use
    :meth:`gradient` to get ∇f shaped like X.

    >>> J = RowVector([1.0, 2.0, 3.0, 4.0])
    >>> J.gradient((2, 2))
    array([[1., 3.],
           [2., 4.]])
    """

    def __init__(self, v, name=None):
        v = np.asarray(v)
        if v.ndim == 2 and v.shape[0] == 1:
            v = v[0]
        if v.ndim != 1:
            raise ValueError(f"RowVector needs a 1-D vector (or 1×N), got shape {v.shape}")
        dtype = result_float_dtype(v.dtype)
        self.v = _readonly(v.astype(dtype, copy=False))
        self.name = name or "v"
        super().__init__((1, v.size), dtype)

    def _matmat(self, X):
        return (self.v @ X).reshape(1, -1)

    def _transpose(self):
        return Dense(self.v.reshape(-1, 1), name=f"vec({self.name})" if self.name != "v" else "v")

    def gradient(self, shape):
        """The gradient ∇f, shaped like the argument: ``unvec(self.v, shape)``."""
        return unvec(self.v, shape).copy()

    @property
    def nnz_bound(self):
        return self.v.size

    def _toarray(self):
        return self.v.reshape(1, -1).copy()

    def _accumulate_dense(self, out, scale):
        out += scale * self.v

    def _tosparse(self):
        matrix = sp.csr_array(self.v.reshape(1, -1))
        matrix.eliminate_zeros()
        return matrix

    def formula(self):
        return f"vec({self.name})ᵀ" if self.name != "v" else "vᵀ"


class Wrapped(StructuredOperator):
    """Any SciPy ``LinearOperator``, taken in as an opaque structured operator."""

    def __init__(self, A, name=None):
        self.A = A
        self.name = name or "A"
        super().__init__(A.shape, A.dtype if A.dtype is not None else np.float64)

    def _matmat(self, X):
        return np.asarray(self.A.matmat(X))

    def _transpose(self):
        return Wrapped(self.A.T, name=_transposed_name(self.name))

    def formula(self):
        return self.name
