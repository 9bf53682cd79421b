"""Dense assembly of ``(I_q ⊗ A)·Diag(vec F)·(B ⊗ C)``, optionally times ``I + K``
(and then optionally times a diagonal ``Diag(w)``, a column scaling).

That product is the Jacobian of Y = A (F ∘ (C X Bᵀ)), the shape of the
Jacobians of the Cholesky factor (A = L, B = C = L⁻¹, F = φ) and of ``eigh``'s
eigenvectors (A = V, B = C = Vᵀ, F the inverse gaps), both followed by the
symmetrizer ½(I + K) (``kronvec/ops/_symmetric_directions.py``).  Entry by entry
(0-based, vec column-major, A m×p, F p×q, B q×s, C p×r):

    M[i + j·m, k + l·r] = Σₐ A[i, a] F[a, j] C[a, k] · B[j, l] = P[j, i, k] · B[j, l],
    P[j] = A · diag(F[:, j]) · C                       (q products of m×p by p×r),

so row (i, j) of M, read as an s×r array, is the outer product B[j]ᵀ P[j, i];
with the symmetrizer (r = s = n), (M K)[·, k + l·n] = M[·, l + k·n] adds its
transpose.  At an input that is not exactly symmetric NumPy reads one triangle, and
the chain rule appends that reading's Jacobian, which the laws turn into Diag(w)
after the symmetrizer (``kronvec/operators/algebra.py``): column k + l·n of the
result is then scaled by w[k + l·n] as it is written.  The generic materialization applies the product to blocks of unit
columns (six passes over n⁴ numbers and the Kronecker factors' n⁵ flops); this
writes each of the n⁴ entries once from P (n⁴ flops in q small matrix products),
in a numba kernel (``kronvec._kernels.outer_product_rows_fill``) from
``config.numba_min_entries`` entries on, in NumPy below.

The diagonal is a ``Diag`` or the Cholesky factor's ``HalvedLowerMask`` Φₙ (= Diag(vec φ),
held as its size).  Two variants of the head are recognized: ``(I_q ⊗ A)``, and
``(A ⊗ I_q)·K_{p,q} = K_{m,q}·(I_q ⊗ A)`` — what the laws make of the
commutation matrix in front of the upper-triangular Cholesky factor's Jacobian
— which only permutes the rows (i, j) ↦ (j, i).  Any other Product is left to
the generic path: :func:`match` returns None.  Derivation: ``notes/derivatives.md`` §30.
"""

from __future__ import annotations

import numpy as np

from .._config import config
from .basic import Dense, Diag, Identity
from .composite import Sum
from .kron import Kron
from .selection import Commutation
from .triangle import HalvedLowerMask

__all__ = ["OuterRows", "match"]


class OuterRows:
    """The recognized factors of one Product, and how to write its dense matrix.

    Parameters are the plain arrays A m×p, B q×s, C p×r, the diagonal operator (a Diag
    of d = vec F, or Φₙ, whose vec φ is made only when the matrix is written),
    the product's scale, whether the rows are transposed (the ``K·`` head),
    whether the ``(I + K)`` tail is present and the column weights w of a final
    ``Diag(w)`` (None without one).
    """

    def __init__(self, A, diagonal, B, C, scale, rows_transposed, symmetrized, dtype, column_weights=None):
        self.A, self.diagonal, self.B, self.C = A, diagonal, B, C
        self.scale, self.rows_transposed, self.symmetrized = scale, rows_transposed, symmetrized
        self.dtype = np.dtype(dtype)
        (self.m, self.p), (self.q, self.s), self.r = A.shape, B.shape, C.shape[1]
        self.column_weights = column_weights

    @property
    def entries(self):
        return self.m * self.q * self.r * self.s

    def _uses_numba(self):
        return self.entries >= config.numba_min_entries

    def workspace_nbytes(self):
        """Bytes beside the result: P and the scaled A's it is made from, P and B laid
        out for a transposed target, the cast factors, and below the numba cut-over
        the two broadcast products."""
        itemsize = self.dtype.itemsize
        factors = self.A.size + self.B.size + self.C.size + self.p * self.q
        if self.column_weights is not None:
            factors += self.r * self.s
        small = self.q * self.m * (self.p + self.r) + (self.r + self.s) * self.q * self.m + factors
        if not self._uses_numba():
            small += 2 * self.entries
        return itemsize * small

    def _p(self):
        """P[j] = A·diag(F[:, j])·C, shape (q, m, r): X[j] = A·diag(F[:, j]) (A's columns
        scaled, a (q, m, p) array) times C in one batched ``np.matmul``, which writes
        P in its (q, m, r) layout directly.  NumPy runs a stack as q BLAS products of
        m×p by p×r; at these orders (n = 32: 32³ flops each) each stays on the
        calling thread, where one A·(p × qr) product crossed OpenBLAS's threading
        cut-over: with the BLAS's default two threads on a busy machine its second
        thread waited for a core, 0.6–30 ms instead of 0.1 (derivatives.md §30).
        C is made C-ordered first (Vᵀ and L⁻¹ arrive F-ordered): NumPy's stacked
        product ran 20–30 % slower with an F-ordered right factor at n = 32.
        From the numba cut-over on, X is written by a kernel, a quarter of the
        time of NumPy's broadcast product."""
        dtype = self.dtype
        A = np.asarray(self.A, dtype=dtype)
        C = np.ascontiguousarray(self.C, dtype=dtype)
        d = self.diagonal.d if type(self.diagonal) is Diag else self.diagonal.diagonal()
        F_t = np.asarray(d, dtype=dtype).reshape(self.q, self.p)  # F_t[j, a] = F[a, j] (vec order)
        if self._uses_numba():  # X[j, i, a] = A[i, a]·F[a, j]
            from .. import _kernels

            X = np.empty((self.q, self.m, self.p), dtype=dtype)
            _kernels.scaled_columns_stack_fill(A, F_t, X)
        else:
            X = A * F_t[:, None, :]
        return np.matmul(X, C)

    def write(self, out, scale, accumulate):
        """``out = scale·M`` (or ``out += scale·M`` with `accumulate`) for an `out` of
        M's shape and dtype; every entry is written when not accumulating.  A
        C-ordered `out` is written row by row, an F-ordered one (the transposed view
        DensePlan fills for ``Mᵀ``) through its C-ordered transpose, row by row too."""
        if out.size == 0:
            return out
        if not (out.flags.c_contiguous or out.flags.f_contiguous):  # (DensePlan never asks this)
            out += self.dense(scale)
            return out
        P = self._p()
        # C-ordered: the kernels read rows of B (W = L⁻¹ and Vᵀ arrive F-ordered; a
        # strided row costs the kernel its vectorized inner loop, 2.5× the time)
        B = np.ascontiguousarray(self.B, dtype=self.dtype)
        total = self.dtype.type(self.scale * scale)
        # W[l, k] = w[k + l·r], the weight of column k + l·r ((1, 1) and unread without weights)
        weighted = self.column_weights is not None
        W = (np.ascontiguousarray(self.column_weights, dtype=self.dtype).reshape(self.s, self.r) if weighted
             else np.ones((1, 1), dtype=self.dtype))
        if out.flags.c_contiguous:
            self._write_rows(out, P, B, total, W, weighted, accumulate)
        else:
            self._write_columns(out.T, P, B, total, W, weighted, accumulate)
        return out

    def _write_rows(self, out, P, B, total, W, weighted, accumulate):
        """Into C-ordered `out`, seen as [j, i, l, k]: B[j, l]·P[j, i, k] (+ B[j, k]·P[j, i, l]),
        times W[l, k] when `weighted`."""
        m, q, r, s = self.m, self.q, self.r, self.s
        view = out.reshape(m, q, s, r).transpose(1, 0, 2, 3) if self.rows_transposed else out.reshape(q, m, s, r)
        if self._uses_numba():
            from .. import _kernels

            if weighted:
                _kernels.call(_kernels.outer_product_rows_weighted_fill, out.nbytes, P, B, total, W, view,
                              accumulate)
            else:
                _kernels.call(_kernels.outer_product_rows_fill, out.nbytes, P, B, total, self.symmetrized,
                              view, accumulate)
            return
        values = P[:, :, None, :] * B[:, None, :, None]
        if self.symmetrized:
            values += P[:, :, :, None] * B[:, None, None, :]
        values *= total
        if weighted:
            values *= W
        if accumulate:
            view += values
        else:
            view[...] = values

    def _write_columns(self, out_t, P, B, total, W, weighted, accumulate):
        """Into C-ordered `out_t` = Mᵀ, seen as [l, k, x, y] with (x, y) = (j, i), or (i, j)
        when the rows are transposed: U[k, x, y]·V[l, x, y] (+ U[l, x, y]·V[k, x, y]),
        times W[l, k] when `weighted`, U the entries of P and V those of B laid out
        along the rows of Mᵀ."""
        m, q, r, s = self.m, self.q, self.r, self.s
        if self.rows_transposed:  # row j + i·q of M: x = i, y = j
            U = np.ascontiguousarray(P.transpose(2, 1, 0))  # U[k, i, j] = P[j, i, k]
            V = np.ascontiguousarray(np.broadcast_to(B.T[:, None, :], (s, m, q)))  # V[l, i, j] = B[j, l]
        else:  # row i + j·m of M: x = j, y = i
            U = np.ascontiguousarray(P.transpose(2, 0, 1))  # U[k, j, i] = P[j, i, k]
            V = np.ascontiguousarray(np.broadcast_to(B.T[:, :, None], (s, q, m)))  # V[l, j, i] = B[j, l]
        view = out_t.reshape(s, r, *U.shape[1:])
        if self._uses_numba():
            from .. import _kernels

            _kernels.call(_kernels.outer_product_columns_fill, out_t.nbytes, U, V, total, self.symmetrized,
                          W, weighted, view, accumulate)
            return
        values = U[None] * V[:, None]
        if self.symmetrized:
            values += U[:, None] * V[None]
        values *= total
        if weighted:
            values *= W[:, :, None, None]
        if accumulate:
            view += values
        else:
            view[...] = values

    def dense(self, scale=1.0):
        """``scale·M`` as a new C-ordered array."""
        out = np.empty((self.m * self.q, self.r * self.s), dtype=self.dtype)
        return self.write(out, scale, accumulate=False)


def _dense_array(op):
    return op.M if type(op) is Dense else None


def _head(factors):
    """(A, q, scale, rows transposed, factors used) for ``(I_q ⊗ A)`` or
    ``(A ⊗ I_q)·K_{p,q}`` at the front, else None."""
    first = factors[0]
    if type(first) is not Kron:
        return None
    if type(first.A) is Identity and _dense_array(first.B) is not None:
        return first.B.M, first.A.n, first.scale, False, 1
    A = _dense_array(first.A)
    if A is not None and type(first.B) is Identity and len(factors) > 1:
        K = factors[1]
        if type(K) is Commutation and (K.m, K.n) == (A.shape[1], first.B.n):
            return A, first.B.n, first.scale, True, 2
    return None


def _is_symmetrizer_sum(op, n):
    """True for ``I_{n²} + K_{n,n}`` (terms in either order)."""
    if type(op) is not Sum or len(op.terms) != 2:
        return False
    kinds = sorted(type(term).__name__ for term in op.terms)
    if kinds != ["Commutation", "Identity"]:
        return False
    K = next(term for term in op.terms if type(term) is Commutation)
    return (K.m, K.n) == (n, n)


def match(product):
    """The :class:`OuterRows` form of a Product, or None when its factors are not
    ``head · Diag(d) · (B ⊗ C) [· (I + K) [· Diag(w)]]`` with dense A, B, C of a real dtype."""
    factors = product.factors
    if product.dtype.kind != "f" or len(factors) < 3:
        return None
    head = _head(factors)
    if head is None:
        return None
    A, q, head_scale, rows_transposed, used = head
    p = A.shape[1]
    rest = factors[used:]
    if len(rest) not in (2, 3, 4) or type(rest[0]) not in (Diag, HalvedLowerMask) or rest[0].shape[0] != p * q:
        return None
    tail = rest[1]
    if type(tail) is not Kron:
        return None
    B, C = _dense_array(tail.A), _dense_array(tail.B)
    if B is None or C is None or B.shape[0] != q or C.shape[0] != p:
        return None
    symmetrized = len(rest) >= 3
    if symmetrized and not (C.shape[1] == B.shape[1] and _is_symmetrizer_sum(rest[2], C.shape[1])):
        return None
    column_weights = None
    if len(rest) == 4:
        if type(rest[3]) is not Diag:
            return None
        column_weights = rest[3].d
    return OuterRows(A, rest[0], B, C, head_scale * tail.scale, rows_transposed, symmetrized, product.dtype,
                     column_weights)
