"""Structured operators whose factors are ``dask.array`` s, applied lazily.

A :class:`LazyOperator` is the structure of a kronvec operator (Kron, Sum,
Product, Scaled, the 0/1 selection family, Dense and Diag leaves) with
``dask.array`` data.  Its ``matvec``/``rmatvec``/``matmat``/``rmatmat``
build the dask graph of the product -- for a Kronecker product the vec trick
``(A ⊗ B) vec V = vec(B V Aᵀ)`` (Magnus–Neudecker, Thm 2.2), two blocked
matrix products -- and return a ``dask.array``; nothing is computed until the
caller asks.  The n²×n² matrix is never formed, so ``toarray``/``tosparse``
refuse.

This module does not touch kronvec's in-memory operators (their NumPy path
is unchanged): it mirrors their structure, and :func:`lazy` converts one
into its lazy twin (its NumPy factors wrapped as ``dask.array`` s).
"""

from __future__ import annotations

import numbers

import dask.array as da
import numpy as np

from .._vec import duplication_index, tril_size, vech_index
from ..operators import _base as _ops_base
from ..operators._base import subscript

__all__ = [
    "LazyOperator", "lazy", "Dense", "Diag", "Identity", "Kron", "Sum", "Product", "Scaled",
    "Selection", "Commutation", "Duplication", "Elimination", "inv_jacobian", "sylvester_operator",
]


def _float(dtype):
    return _ops_base.result_float_dtype(dtype)


def _as_dask(M, what, ndim):
    if isinstance(M, LazyOperator):
        raise TypeError(f"{what}: expected an array, got a LazyOperator")
    M = M if isinstance(M, da.Array) else da.asarray(np.asarray(M))
    if M.ndim != ndim:
        raise ValueError(f"{what} needs a {ndim}-D array, got shape {M.shape}")
    dtype = _float(M.dtype)
    return M if M.dtype == dtype else M.astype(dtype)


def _refuse(op, what):
    m, n = op.shape
    return TypeError(
        f"LazyOperator.{what}: kronvec.dask operators are never materialized: the {m:,}×{n:,} "
        f"matrix {op.formula()} would take {m * n * 8:,} bytes. Apply it with matvec/matmat "
        "(lazy dask.arrays), or build the in-memory kronvec operator from NumPy factors")


class LazyOperator:
    """A structured operator with ``dask.array`` data; products are lazy dask.arrays.

    Build one with :func:`Kron`, :func:`Dense`, :func:`Sum`, … or
    :func:`lazy`, not directly.  Supports ``.T``, ``A @ B`` (a Product),
    ``A + B``, ``A - B``, ``c * A``, and ``A @ x`` for a vector or 2-D block.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> A = da.from_array(np.array([[1., 2.], [3., 4.]]), chunks=1)
    >>> B = da.from_array(np.array([[0., 1.], [1., 0.]]), chunks=1)
    >>> K = Kron(A, B)
    >>> K
    <4×4 LazyOperator: M ⊗ M (dask)>
    >>> y = K.matvec(np.arange(4.))      # a dask.array: nothing computed yet
    >>> np.allclose(y.compute(), np.kron(A.compute(), B.compute()) @ np.arange(4.))
    True
    """

    def __init__(self, kind, shape, dtype, parts=(), data=None, scale=1.0, name=None):
        self.kind, self.parts, self.data, self.scale, self.name = kind, tuple(parts), data, float(scale), name
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._transposed = None

    ndim = 2
    __array_ufunc__ = None  # ``x @ op`` with a NumPy x comes to __rmatmul__, not np.matmul

    # ------------------------------------------------------------- products
    def _input(self, x, method, rows, vector):
        x = x if isinstance(x, da.Array) else da.asarray(np.asarray(x))
        ok = x.shape in ((rows,), (rows, 1)) if vector else (x.ndim == 2 and x.shape[0] == rows)
        if not ok:
            needed = f"shape ({rows},) or ({rows}, 1)" if vector else f"a 2-D array with {rows} rows"
            raise ValueError(f"LazyOperator.{method}: operator of shape {self.shape} ({self.formula()}) "
                             f"needs {needed}; got an array of shape {x.shape}")
        dtype = _ops_base.result_float_dtype(self.dtype, x.dtype)
        return x if x.dtype == dtype else x.astype(dtype)

    def matvec(self, x):
        """``A @ x`` for x of shape (N,) or (N, 1) (NumPy or dask): a dask.array."""
        x = self._input(x, "matvec", self.shape[1], True)
        y = self._apply(x.reshape(self.shape[1], 1))
        return y.reshape(self.shape[0]) if x.ndim == 1 else y

    def rmatvec(self, x):
        """``Aᵀ @ x``: a dask.array."""
        x = self._input(x, "rmatvec", self.shape[0], True)
        y = self.T._apply(x.reshape(self.shape[0], 1))
        return y.reshape(self.shape[1]) if x.ndim == 1 else y

    def matmat(self, X):
        """``A @ X`` for a 2-D X of shape (N, K): a dask.array."""
        return self._apply(self._input(X, "matmat", self.shape[1], False))

    def rmatmat(self, X):
        """``Aᵀ @ X``: a dask.array."""
        return self.T._apply(self._input(X, "rmatmat", self.shape[0], False))

    def dot(self, x):
        if isinstance(x, LazyOperator):
            return Product(self, x)
        if np.ndim(x) == 1 or (np.ndim(x) == 2 and np.shape(x)[1] == 1):
            return self.matvec(x)
        return self.matmat(x)

    def _apply(self, X):
        """``self @ X`` for a 2-D dask.array X of shape (N, K), as a lazy graph."""
        kind = self.kind
        if kind == "dense":
            return self.data @ X
        if kind == "identity":
            return X
        if kind == "zero":
            return da.zeros((self.shape[0], X.shape[1]), dtype=X.dtype)
        if kind == "diag":
            return self.data[:, None] * X
        if kind == "scaled":
            return self.scale * self.parts[0]._apply(X)
        if kind == "sum":
            total = self.parts[0]._apply(X)
            for term in self.parts[1:]:
                total = total + term._apply(X)
            return total
        if kind == "product":
            for factor in reversed(self.parts):
                X = factor._apply(X)
            return X
        if kind == "kron":
            return self._apply_kron(X)
        if kind == "commutation":  # K_{m,n} vec(Z) = vec(Zᵀ): a transpose of each column's matrix
            m, n = self.data
            k = X.shape[1]
            return X.reshape(n, m, k).transpose(1, 0, 2).reshape(m * n, k)
        if kind == "selection":
            return X[self.data]
        if kind == "selection_T":
            return self._scatter_add(X)
        raise AssertionError(kind)  # pragma: no cover

    def _apply_kron(self, X):
        # (A ⊗ B) vec V = vec(B V Aᵀ) for each column of X (V of shape (qb, qa)).
        # X reshaped C-order to (qa, qb, k) holds V_t[j, i] at [i, j, t]; each
        # factor is applied to the columns of a 2-D matrix, as a factor may be
        # any LazyOperator.  The cheaper association goes first, as in Kron.
        A, B = self.parts
        (pa, qa), (pb, qb) = A.shape, B.shape
        k = X.shape[1]
        X3 = X.reshape(qa, qb, k)
        # Blocks of V that match the factors' column blocks: each contraction is then
        # blockwise without a rechunk inside tensordot (and no block larger than the factors').
        wanted = tuple(f.data.chunks[1] if f.kind == "dense" else "auto" for f in (A, B)) + (-1,)
        X3 = X3.rechunk(wanted)
        if _apply_cost(B) * qa + _apply_cost(A) * pb <= _apply_cost(A) * qb + _apply_cost(B) * pa:
            Z = _apply_to_axis(B, X3, 1)   # (qa, pb, k): B V
            Y = _apply_to_axis(A, Z, 0)    # (pa, pb, k): (B V) Aᵀ, stored transposed
        else:
            Z = _apply_to_axis(A, X3, 0)   # (pa, qb, k): V Aᵀ
            Y = _apply_to_axis(B, Z, 1)    # (pa, pb, k)
        Y = Y.reshape(pa * pb, k)
        return Y if self.scale == 1.0 else self.scale * Y

    def _scatter_add(self, X):
        index, rows = self.data, self.shape[0]
        if index.size == rows and np.array_equal(np.sort(index), np.arange(rows)):  # a permutation
            inverse = np.empty_like(index)
            inverse[index] = np.arange(rows)
            return X[inverse]
        idx = da.from_array(index, chunks=(X.chunks[0],))
        columns = [da.bincount(idx, weights=X[:, t], minlength=max(rows, 1))[:rows] for t in range(X.shape[1])]
        return da.stack(columns, axis=1).astype(X.dtype)

    # -------------------------------------------------------------- algebra
    @property
    def T(self):
        """The transpose, still lazy and structured."""
        if self._transposed is None:
            self._transposed = self._transpose()
            if self._transposed is not self:
                self._transposed._transposed = self
        return self._transposed

    def _transpose(self):
        k, shape = self.kind, self.shape[::-1]
        if k in ("identity", "diag"):
            return self
        if k == "dense":
            name = None if self.name is None else _transposed_name(self.name)
            return LazyOperator("dense", shape, self.dtype, data=self.data.T, name=name)
        if k == "zero":
            return LazyOperator("zero", shape, self.dtype)
        if k == "scaled":
            return LazyOperator("scaled", shape, self.dtype, (self.parts[0].T,), scale=self.scale)
        if k == "sum":
            return LazyOperator("sum", shape, self.dtype, [t.T for t in self.parts])
        if k == "product":  # (A B)ᵀ = Bᵀ Aᵀ
            return LazyOperator("product", shape, self.dtype, [f.T for f in reversed(self.parts)])
        if k == "kron":  # (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ
            return LazyOperator("kron", shape, self.dtype, [f.T for f in self.parts], scale=self.scale)
        if k == "commutation":  # K_{m,n}ᵀ = K_{n,m}
            m, n = self.data
            return Commutation(n, m)
        if k == "selection":
            return LazyOperator("selection_T", shape, self.dtype, data=self.data, name=self.name)
        if k == "selection_T":
            return LazyOperator("selection", shape, self.dtype, data=self.data, name=self.name)
        raise AssertionError(k)  # pragma: no cover

    def transpose(self):
        return self.T

    def __matmul__(self, other):
        if isinstance(other, numbers.Number):
            raise ValueError("scalar operands are not allowed with @, use * instead")
        return self.dot(other)

    def __rmatmul__(self, other):  # x @ A == (Aᵀ xᵀ)ᵀ
        if isinstance(other, numbers.Number):
            raise ValueError("scalar operands are not allowed with @, use * instead")
        if np.ndim(other) == 1:
            return self.rmatvec(other)
        return self.rmatmat(other.T).T

    def __add__(self, other):
        if not isinstance(other, LazyOperator):
            return NotImplemented
        return Sum(self, other)

    def __sub__(self, other):
        if not isinstance(other, LazyOperator):
            return NotImplemented
        return Sum(self, Scaled(-1.0, other))

    def __mul__(self, other):
        if isinstance(other, numbers.Real):
            return Scaled(other, self)
        return NotImplemented

    __rmul__ = __mul__

    def __neg__(self):
        return Scaled(-1.0, self)

    def __truediv__(self, other):
        if isinstance(other, numbers.Real):
            return Scaled(1.0 / other, self)
        return NotImplemented

    # ----------------------------------------------------------- refusals
    def toarray(self):
        """Refused: see the message (a lazy operator is applied, never formed)."""
        raise _refuse(self, "toarray")

    def tosparse(self):
        """Refused, as :meth:`toarray`."""
        raise _refuse(self, "tosparse")

    todense = toarray

    def __array__(self, *args, **kwargs):
        raise _refuse(self, "__array__")

    # -------------------------------------------------------------- print
    def formula(self):
        """The formula, e.g. ``-(Aᵀ ⊗ A)``; unnamed dense factors print as ``M``."""
        return self._text()[0]

    def _text(self):
        """(text, precedence): 3 atom, 2 Kron, 1 product, 0 sum."""
        k = self.kind
        if k == "dense":
            return (self.name or "M"), 3
        if k == "diag":
            return f"diag({self.name or 'd'})", 3
        if k == "identity":
            return "I" + subscript(self.shape[0]), 3
        if k == "zero":
            return "0", 3
        if k == "commutation":
            return "K" + subscript(*self.data), 3
        if k in ("selection", "selection_T"):
            return (self.name or "S") + ("ᵀ" if k == "selection_T" else ""), 3
        parts = [p._text() for p in self.parts]

        def wrap(text_prec, minimum):
            text, prec = text_prec
            return text if prec >= minimum else f"({text})"

        if k == "kron":
            text = " ⊗ ".join(wrap(p, 3) for p in parts)
            if self.scale == 1.0:
                return text, 2
            return (f"-({text})" if self.scale == -1.0 else f"{self.scale:g}·({text})"), 1
        if k == "scaled":
            inner = wrap(parts[0], 2)
            return (f"-{inner}" if self.scale == -1.0 else f"{self.scale:g}·{inner}"), 1
        if k == "product":
            return "·".join(wrap(p, 2) for p in parts), 1
        return " + ".join(p[0] for p in parts), 0

    def __repr__(self):
        m, n = self.shape
        return f"<{m}×{n} LazyOperator: {self.formula()} (dask)>"

    __str__ = formula


def _transposed_name(name):
    for suffix, swapped in (("⁻¹", "⁻ᵀ"), ("⁻ᵀ", "⁻¹")):
        if name.endswith(suffix):
            return name[:-len(suffix)] + swapped
    return name[:-1] if name.endswith("ᵀ") else name + "ᵀ"


def _apply_cost(op):
    if op.kind in ("identity", "zero", "commutation"):
        return 0
    if op.kind in ("diag", "selection", "selection_T"):
        return op.shape[0]
    return op.shape[0] * op.shape[1]


def _apply_to_axis(op, T, axis):
    """Apply `op` along `axis` (0 or 1) of the 3-D dask array T; the other axes are columns."""
    if op.kind == "identity":
        return T
    if op.kind == "dense":  # one blocked contraction, no reshape of T
        M = op.data
        if axis == 0:
            return da.tensordot(M, T, axes=(1, 0))                    # [p, j, t] = Σ_q M[p, q] T[q, j, t]
        return da.tensordot(M, T, axes=(1, 1)).transpose(1, 0, 2)    # [i, p, t] = Σ_q M[p, q] T[i, q, t]
    other = 1 - axis
    moved = T.transpose(axis, other, 2)
    rows, cols, k = moved.shape
    out = op._apply(moved.reshape(rows, cols * k)).reshape(op.shape[0], cols, k)
    return out.transpose(1, 0, 2) if axis == 1 else out


# ------------------------------------------------------------ constructors
def Dense(M, name=None):
    """A dense factor held as a ``dask.array`` (a NumPy array is wrapped with ``da.asarray``)."""
    M = _as_dask(M, "Dense", 2)
    return LazyOperator("dense", M.shape, M.dtype, data=M, name=name)


def Diag(d, name=None):
    """``diag(d)`` for a 1-D ``dask.array`` d."""
    d = _as_dask(d, "Diag", 1)
    return LazyOperator("diag", (d.shape[0],) * 2, d.dtype, data=d, name=name)


def Identity(n):
    """The n×n identity (no data)."""
    return LazyOperator("identity", (n, n), np.float64)


def _operand(A):
    return A if isinstance(A, LazyOperator) else Dense(A)


def Kron(A, B, scale=1.0):
    """``scale · (A ⊗ B)``, equal to ``np.kron(A, B)``; A, B dask/NumPy arrays or LazyOperators.

    Applied by the vec trick: a matvec costs two blocked matrix products.
    """
    if not isinstance(scale, numbers.Real):
        raise TypeError(f"Kron scale must be a real scalar, got {scale!r}")
    A, B = _operand(A), _operand(B)
    (pa, qa), (pb, qb) = A.shape, B.shape
    dtype = np.result_type(A.dtype, B.dtype)
    return LazyOperator("kron", (pa * pb, qa * qb), dtype, (A, B), scale=scale)


def Sum(*terms):
    """``T₁ + T₂ + …`` of LazyOperators of one shape."""
    terms = [_operand(t) for t in (terms[0] if len(terms) == 1 and isinstance(terms[0], (list, tuple)) else terms)]
    if not terms:
        raise ValueError("Sum needs at least one term")
    shapes = {t.shape for t in terms}
    if len(shapes) != 1:
        raise ValueError(f"Sum: the terms need one shape, got {sorted(shapes)}")
    return LazyOperator("sum", terms[0].shape, np.result_type(*[t.dtype for t in terms]), terms)


def Product(*factors):
    """``F₁ F₂ …`` (applied right to left)."""
    factors = [_operand(f) for f in (factors[0] if len(factors) == 1 and isinstance(factors[0], (list, tuple))
                                      else factors)]
    if not factors:
        raise ValueError("Product needs at least one factor")
    for left, right in zip(factors, factors[1:]):
        if left.shape[1] != right.shape[0]:
            raise ValueError(f"Product: shapes {left.shape} and {right.shape} do not chain")
    shape = (factors[0].shape[0], factors[-1].shape[1])
    return LazyOperator("product", shape, np.result_type(*[f.dtype for f in factors]), factors)


def Scaled(alpha, operator):
    """``alpha · operator`` (the argument order of :class:`kronvec.Scaled`)."""
    if not isinstance(alpha, numbers.Real):
        raise TypeError(f"Scaled needs a real scalar, got {alpha!r}")
    operator = _operand(operator)
    return LazyOperator("scaled", operator.shape, operator.dtype, (operator,), scale=alpha)


def Selection(index, ncols, name=None):
    """The 0/1 matrix S with ``S @ x == x[index]`` (its transpose scatter-adds)."""
    index = np.array(index, dtype=np.intp)
    if index.ndim != 1:
        raise ValueError(f"Selection needs a 1-D index map, got shape {index.shape}")
    if index.size and (index.min() < 0 or index.max() >= ncols):
        raise ValueError(f"Selection index out of range for {ncols} columns")
    return LazyOperator("selection", (index.size, ncols), np.float64, data=index, name=name)


def Commutation(m, n):
    """K_{m,n}: ``K vec(Z) = vec(Zᵀ)`` for Z of shape (m, n), applied as a lazy transpose
    (no index map: at n = 2·10⁴ one would take 3.2 GB)."""
    m, n = int(m), int(n)
    return LazyOperator("commutation", (m * n, m * n), np.float64, data=(m, n))


def Duplication(n):
    """D_n: ``D_n vech(Z) = vec(Z)`` for symmetric Z."""
    return Selection(duplication_index(n), tril_size(n), name="D" + subscript(n))


def Elimination(n):
    """L_n: ``L_n vec(Z) = vech(Z)``."""
    return Selection(vech_index(n), n * n, name="L" + subscript(n))


def inv_jacobian(X_inv, name="X⁻¹"):
    """The Jacobian of X ↦ X⁻¹ from a given inverse factor: ``-(X⁻ᵀ ⊗ X⁻¹)``.

    Equal to :func:`kronvec.rules.inv` at X (Magnus–Neudecker ch. 8.4), built
    from ``X_inv`` itself: inverting one huge X is not distributed here
    (``notes/scale.md``), so compute it where it fits and pass it as a
    ``dask.array``.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> X = np.array([[2., 1.], [1., 3.]])
    >>> J = inv_jacobian(np.linalg.inv(X))
    >>> J
    <4×4 LazyOperator: -(X⁻ᵀ ⊗ X⁻¹) (dask)>
    >>> v = np.arange(4.)
    >>> np.allclose(J.matvec(v).compute(), kronvec.rules.inv(X).matvec(v))
    True
    """
    W = Dense(X_inv, name=name)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"inv_jacobian needs a square inverse, got shape {W.shape}")
    return Kron(W.T, W, scale=-1.0)


def sylvester_operator(A, B):
    """``I_n ⊗ A + Bᵀ ⊗ I_m``: vec(AZ + ZB) for Z of shape (m, n), A m×m, B n×n.

    The Kronecker sum behind Sylvester equations ``AZ + ZB = C`` and the
    Jacobian of Z ↦ AZ + ZB; a matvec is two blocked products, which is what
    CG/GMRES iterations on such systems need.

    Examples
    --------
    >>> import numpy as np
    >>> A, B, Z = np.diag([1., 2.]), np.array([[0., 1.], [1., 0.]]), np.array([[1., 2.], [3., 4.]])
    >>> S = sylvester_operator(A, B)
    >>> S
    <4×4 LazyOperator: I₂ ⊗ A + Bᵀ ⊗ I₂ (dask)>
    >>> vecZ = Z.ravel(order="F")
    >>> np.allclose(S.matvec(vecZ).compute(), (A @ Z + Z @ B).ravel(order="F"))
    True
    """
    A, B = Dense(A, name="A") if not isinstance(A, LazyOperator) else A, \
        Dense(B, name="B") if not isinstance(B, LazyOperator) else B
    if A.shape[0] != A.shape[1] or B.shape[0] != B.shape[1]:
        raise ValueError(f"sylvester_operator needs square A and B, got {A.shape} and {B.shape}")
    m, n = A.shape[0], B.shape[0]
    return Sum(Kron(Identity(n), A), Kron(B.T, Identity(m)))


# ------------------------------------------------------------ from kronvec
def lazy(op, chunks="auto"):
    """The lazy twin of an in-memory kronvec operator, its factors as ``dask.array`` s.

    Parameters
    ----------
    op : kronvec.StructuredOperator
        Built of Kron, Sum, Product, Scaled, Dense, Diag, RowVector,
        Identity, Zero and the selection family (Commutation, Duplication,
        Elimination, Selection) -- what kronvec's Jacobians of matrix
        expressions are made of.
    chunks : passed to :func:`dask.array.from_array` for each data factor.

    Returns
    -------
    LazyOperator
        Same matrix; its products are ``dask.array`` s.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> X = np.array([[2., 1.], [1., 3.]])
    >>> J = kronvec.jacobian(lambda X: X @ X)(X)
    >>> L = lazy(J)
    >>> L
    <4×4 LazyOperator: Xᵀ ⊗ I₂ + I₂ ⊗ X (dask)>
    >>> np.allclose(L.matvec(np.ones(4)).compute(), J.matvec(np.ones(4)))
    True
    """
    from ..operators import basic, composite, kron, selection

    memo = {}  # shared sub-operators stay shared (within this one conversion)

    def convert(node):
        key = id(node)
        if key in memo:
            return memo[key][1]
        result = _convert(node)
        memo[key] = (node, result)
        return result

    def _convert(node):
        if isinstance(node, basic.Identity):
            return Identity(node.n)
        if isinstance(node, basic.Zero):
            return LazyOperator("zero", node.shape, node.dtype)
        if isinstance(node, basic.Dense):
            return Dense(da.from_array(np.asarray(node.M), chunks=chunks), name=node.name)
        if isinstance(node, basic.Diag):
            return Diag(da.from_array(np.asarray(node.d), chunks=chunks), name=node.name)
        if isinstance(node, basic.RowVector):
            return Dense(da.from_array(np.asarray(node.v).reshape(1, -1), chunks=chunks))
        if isinstance(node, kron.Kron):
            return Kron(convert(node.A), convert(node.B), scale=node.scale)
        if isinstance(node, composite.Sum):
            return Sum([convert(t) for t in node.terms])
        if isinstance(node, composite.Product):
            return Product([convert(f) for f in node.factors])
        if isinstance(node, composite.Scaled):
            return Scaled(node.alpha, convert(node.operator))
        if isinstance(node, composite._CompositeAdjoint):
            return convert(node.operator).T
        if isinstance(node, selection.Commutation):
            return Commutation(node.m, node.n)
        if isinstance(node, selection.Selection):
            return Selection(node.index, node.shape[1], name=node.name)
        if isinstance(node, selection.SelectionTranspose):
            return convert(node.selection).T
        raise TypeError(
            f"kronvec.dask.lazy: no lazy form of a {type(node).__name__} ({node!r}); supported: Kron, Sum, "
            "Product, Scaled, Dense, Diag, RowVector, Identity, Zero and the selection family")

    return convert(op)
