"""The structured-operator contract shared by every operator in kronvec.

Template method (as in SciPy's ``LinearOperator``): the public methods
``matvec``/``rmatvec``/``matmat``/``rmatmat`` validate shapes and dtypes and
then call the private ``_matmat`` of the subclass, which does the math on a
2-D float array.  The operators are real, so the adjoint is the transpose.
"""

from __future__ import annotations

import math
import operator
import sys
import weakref

import numpy as np
from scipy.sparse import issparse
from scipy.sparse.linalg import LinearOperator

from .._config import check_materialization
from . import _display
from ._formula import Precedence, render

__all__ = ["StructuredOperator", "as_operator", "plain_array", "check_size", "result_float_dtype", "combined_dtype", "Precedence"]

_SUPPORTED = (
    "kronvec supports float32 and float64 data (integers and booleans become "
    "float64, float16 becomes float32)"
)


_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def plain_array(x, what):
    """``np.asarray(x)``, refusing a masked array: its mask would be silently dropped
    (the operator would apply to, or hold, the hidden entries as well); and refusing
    a traced value as an operator's data (an object array of it failed deep inside
    with "got dtype object"): an operator's factors are constants of every derivative."""
    if _is_traced(x) or (type(x) is np.ndarray and x.dtype.hasobject
                         and any(_is_traced(entry) for entry in x.flat)):
        raise TypeError(
            f"kronvec: {what} is a traced value (it depends on the variables being "
            "differentiated); structured operators hold plain arrays. Write the product with "
            "NumPy inside the function (X @ v, np.kron(A, B) @ v, or B @ unvec(v) @ A.T for "
            "(A ⊗ B) v) so that it is differentiated, or use the Jacobian kronvec.jacobian "
            "returns there.")
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"kronvec: {what} is a masked array; kronvec would ignore its mask. "
            "Pass the data with the masked entries filled (x.filled(...)) or removed."
        )
    return np.asarray(x)


def check_solve_shape(op, b, what):
    """`b` as an array, refused with a ValueError naming the shapes when ``op x = b``
    is not a square system with b's rows matching."""
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"{type(op).__name__}.{what}: A x = b needs a square A; got A of shape {op.shape}")
    # (a SciPy sparse b: its dense columns, as x = A⁻¹b is; np.asarray made it a 0-d object array)
    b = b.toarray() if issparse(b) else np.asarray(b)
    if b.ndim not in (1, 2) or b.shape[0] != op.shape[0]:
        raise ValueError(
            f"{type(op).__name__}.{what}: A x = b needs b with {op.shape[0]} rows for A of "
            f"shape {op.shape}; got b of shape {b.shape}"
        )
    return b


def check_size(value, what):
    """`value` as an int >= 0, refusing a float (2.5 was truncated to 2) or a negative size,
    naming `what` (e.g. ``"Identity(n)"``): sizes are integers, as for ``np.eye``."""
    try:
        size = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} needs an integer size, got {value!r} of type {type(value).__name__}") from None
    if size < 0:
        raise ValueError(f"{what} needs a size >= 0, got {size}")
    return size


def _lock(value):
    """Make an array, or a SciPy sparse matrix's arrays, or the arrays of a tuple of
    them (a Contraction's fixed operands), read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif type(value) is tuple:
        for item in value:
            _lock(item)
    elif issparse(value):
        for name in ("data", "indices", "indptr", "coords", "row", "col", "offsets"):
            array = getattr(value, name, None)
            for part in (array if isinstance(array, tuple) else (array,)):
                if isinstance(part, np.ndarray):
                    part.flags.writeable = False


def _float_dtype_of(dtype):
    """The float dtype kronvec computes `dtype` in, or TypeError naming it."""
    dtype = np.dtype(dtype)
    kind = dtype.kind
    if kind == "f" and dtype.itemsize <= 8:
        return _FLOAT32 if dtype.itemsize <= 4 else _FLOAT64
    if kind in "biu":
        return _FLOAT64
    if kind == "c":
        raise TypeError(
            f"kronvec works with real matrices; got complex dtype {dtype}. "
            "Split real and imaginary parts explicitly."
        )
    raise TypeError(f"{_SUPPORTED}; got dtype {dtype}")


def result_float_dtype(*dtypes):
    """The floating dtype of a result: float32 stays float32, ints become float64.

    Complex data and floats wider than float64 (``np.longdouble``) are
    refused with a TypeError: every rule in kronvec is derived for real
    matrices (the adjoint is the transpose), and the kernels are compiled for
    float32 and float64 only.
    """
    if len(dtypes) == 1 and (dtypes[0] is _FLOAT64 or dtypes[0] is _FLOAT32):
        return dtypes[0]  # (the common case, an operator's own dtype passed on: no lookup)
    result = _FLOAT32
    for dtype in dtypes:
        if _float_dtype_of(dtype) is _FLOAT64:
            result = _FLOAT64
    return result


def combined_dtype(operators):
    """The dtype of a combination: structural 0/1 operators (identities,
    selections, zeros) carry no data and so never widen float32 to float64; a
    combination of structural operators alone has theirs (float32 I + K is float32)."""
    data = [op.dtype for op in operators if op.carries_data]
    if data:
        return result_float_dtype(*data)
    return result_float_dtype(*[op.dtype for op in operators]) if operators else np.dtype(np.float64)


_SUBSCRIPTS = str.maketrans("0123456789,", "₀₁₂₃₄₅₆₇₈₉,")


def subscript(*numbers):
    """``subscript(2, 3) == '₂,₃'`` for operator names like K₂,₃."""
    return ",".join(str(k) for k in numbers).translate(_SUBSCRIPTS)


def _as_operand(other):
    """`other` as a structured operator for ``+``/``-``/``@``: LinearOperators
    and SciPy sparse matrices qualify (a sparse one is wrapped as Sparse);
    anything else gives None."""
    if isinstance(other, LinearOperator) or issparse(other):
        return as_operator(other)
    return None


def _is_traced(x):
    """A value being recorded by a differentiation (kronvec's traced arrays): the
    operator is then applied as one recorded operation (``__kronvec_apply__``),
    so derivatives flow through ``J.matvec(x)``."""
    return hasattr(type(x), "__kronvec_apply__")


class StructuredOperator(LinearOperator):
    """Base class: a matrix known by its structure, never stored dense.

    Subclasses implement ``_matmat(X)`` for a 2-D array ``X`` of the operator's
    dtype, ``_transpose()``, ``formula()``, and may specialize ``_toarray``,
    ``_tosparse`` and ``_accumulate_dense``.  Composition goes through
    :mod:`kronvec.algebra`, where the structure-preserving laws live.
    """

    precedence = Precedence.ATOM
    carries_data = True  # False for exact 0/1 structure (I, K, D, L, 0)
    # True for Sum, Product and Scaled: combinations applied by the DAG walker
    # of kronvec.operators._evaluate, which shares their operands.
    is_composite = False

    def __init__(self, shape, dtype):
        rows, columns = (int(s) for s in shape)
        if rows < 0 or columns < 0:
            raise ValueError(f"{type(self).__name__}: a shape needs sizes >= 0, got {tuple(shape)}")
        # What LinearOperator.__init__ sets, without its generic shape checks
        # (a third of the cost of building the operators of a long chain).
        self.dtype = result_float_dtype(dtype)
        self.shape = (rows, columns)

    # ---------------------------------------------------------------- apply
    def _checked_input(self, x):
        if issparse(x):
            # A SciPy sparse operand of matvec/matmat: its dense columns (what the result
            # is anyway).  np.asarray would wrap it in a 0-d object array, refused as
            # "dtype object"; ``A @ S`` keeps it structured instead (a lazy product).
            x = x.toarray()
        x = plain_array(x, f"the operand of {type(self).__name__}")
        return x.astype(result_float_dtype(self.dtype, x.dtype), copy=False)

    def _shape_error(self, method, x, needed):
        return ValueError(
            f"{type(self).__name__}.{method}: operator of shape {self.shape} "
            f"({self.formula()}) needs {needed}; got an array of shape {np.shape(x)}"
        )

    def matvec(self, x):
        """Compute ``A @ x`` for a vector ``x`` of shape (N,) or (N, 1)."""
        n = self.shape[1]
        if np.shape(x) not in ((n,), (n, 1)):
            raise self._shape_error("matvec", x, f"shape ({n},) or ({n}, 1)")
        if _is_traced(x):
            return x.__kronvec_apply__(self, "matvec")
        x = self._checked_input(x)
        y = self._matmat(x.reshape(n, 1))
        return y.reshape(self.shape[0]) if x.ndim == 1 else y

    def rmatvec(self, x):
        """Compute ``A.T @ x`` for a vector ``x`` of shape (M,) or (M, 1)."""
        m = self.shape[0]
        if np.shape(x) not in ((m,), (m, 1)):
            raise self._shape_error("rmatvec", x, f"shape ({m},) or ({m}, 1)")
        if _is_traced(x):
            return x.__kronvec_apply__(self, "rmatvec")
        x = self._checked_input(x)
        y = self.T._matmat(x.reshape(m, 1))
        return y.reshape(self.shape[1]) if x.ndim == 1 else y

    def matmat(self, X):
        """Compute ``A @ X`` for a 2-D array ``X`` of shape (N, K)."""
        if np.ndim(X) != 2 or np.shape(X)[0] != self.shape[1]:
            raise self._shape_error("matmat", X, f"a 2-D array with {self.shape[1]} rows")
        if _is_traced(X):
            return X.__kronvec_apply__(self, "matmat")
        return self._matmat(self._checked_input(X))

    def rmatmat(self, X):
        """Compute ``A.T @ X`` for a 2-D array ``X`` of shape (M, K)."""
        if np.ndim(X) != 2 or np.shape(X)[0] != self.shape[0]:
            raise self._shape_error("rmatmat", X, f"a 2-D array with {self.shape[0]} rows")
        if _is_traced(X):
            return X.__kronvec_apply__(self, "rmatmat")
        return self.T._matmat(self._checked_input(X))

    def gradient(self, shape):
        """The gradient ∇f shaped like X, from this 1×N Jacobian row of a scalar f.

        ``∇f = unvec(Dfᵀ, shape)`` (numerator layout: the row is ``vec(∇f)ᵀ``).
        Any 1-row operator qualifies, e.g. a lazy ``Product([vᵀ, J])``: its
        transpose is applied once to the unit cotangent.  Returns a new array.
        """
        from .._vec import unvec

        shape = self._gradient_shape(shape)
        return unvec(self.rmatvec(np.ones(1, dtype=self.dtype)), shape)

    def _gradient_shape(self, shape):
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        if self.shape[0] != 1 or math.prod(shape) != self.shape[1]:
            raise ValueError(
                f"{type(self).__name__}.gradient: ∇f = unvec(Dfᵀ, shape) needs a 1×N row and a "
                f"shape of N entries; got an operator of shape {self.shape} and shape {shape}"
            )
        return shape

    def _matvec(self, x):  # SciPy internals may call these directly
        return self._matmat(np.asarray(x).reshape(self.shape[1], 1)).reshape(-1)

    def _rmatvec(self, x):
        return self.T._matmat(np.asarray(x).reshape(self.shape[0], 1)).reshape(-1)

    def _rmatmat(self, X):
        return self.T._matmat(X)

    def _adjoint(self):
        return self.T

    # Kron applies its factors through these two hooks; leaves override them
    # with a direct matmul, anything else falls back to one column at a time.
    @property
    def is_identity(self):
        """True when the operator is exactly the identity (I, I ⊗ I, K₁,ₙ...)."""
        return False

    @property
    def apply_cost(self):
        """Flops to apply the operator to one vector (used to order the vec trick)."""
        return self.shape[0] * self.shape[1]

    @property
    def adjoint_is_sweep(self):
        """True when applying the transpose means a reverse sweep over a DAG of
        composites (a Sum or Product, possibly scaled); False when it is one
        operator applied as a unit (a leaf, or the adjoint of a DAG, whose
        transpose is the DAG applied forward)."""
        return False

    def _shared_operands(self):
        """Operands applied to the same input as this operator (composites only)."""
        return ()

    def _column_workspace(self):
        """Array entries per right-hand-side column alive during ``_matmat``,
        the output included and the input excluded.  The default allows for
        the output and one contiguous copy of the input."""
        return self.shape[0] + self.shape[1]

    def _setup_nbytes(self):
        """Bytes an operator may allocate on its first apply and keep (a plan or a
        factorization built lazily, so that building the operator stays cheap), the
        same for the operator and for its transpose; ``toarray`` counts them once per
        operator in its workspace.  0 by default."""
        return 0

    def _left_apply(self, V):
        """``self @ V`` for V of shape (q, c) or a stack (k, q, c)."""
        if V.ndim == 2:
            return self._matmat(V)
        return np.stack([self._matmat(v) for v in V]) if len(V) else np.empty(
            (0, self.shape[0], V.shape[2]), dtype=V.dtype)

    def _right_apply_transposed(self, W):
        """``W @ selfᵀ`` for W of shape (r, q) or a stack (k, r, q)."""
        if W.ndim == 2:
            return self._matmat(W.T).T
        return np.stack([self._matmat(w.T).T for w in W]) if len(W) else np.empty(
            (0, W.shape[1], self.shape[0]), dtype=W.dtype)

    @property
    def T(self):
        """The transpose, still structured."""
        cached = self.__dict__.get("_cached_transpose")
        if type(cached) is weakref.ref:  # a transpose's link back to its original
            cached = cached()
        if cached is None:
            cached = self._transpose()
            # Remembered weakly when the transpose is self (symmetric) or wraps self
            # (the adjoint of a composite): a strong link would close a reference cycle.
            wraps_self = cached is self or getattr(cached, "transposed_original", None) is self
            self.__dict__["_cached_transpose"] = weakref.ref(cached) if wraps_self else cached
        return cached

    def __getstate__(self):
        # (pickling, e.g. to send a Jacobian to another process: a weak link to the cached
        # transpose cannot be pickled, and it is only a cache — T rebuilds it; a plan built
        # lazily on the first apply, kept as "_lazy_…", is a cache too, rebuilt on demand)
        state = super().__getstate__()
        attributes = state[0] if isinstance(state, tuple) else state
        if attributes and (type(attributes.get("_cached_transpose")) is weakref.ref
                           or any(key.startswith("_lazy_") for key in attributes)):
            attributes = {key: value for key, value in attributes.items()
                          if not key.startswith("_lazy_")
                          and not (key == "_cached_transpose" and type(value) is weakref.ref)}
            state = (attributes, state[1]) if isinstance(state, tuple) else attributes
        return state

    def __setstate__(self, state):
        # Unpickled (or deep-copied) arrays come back writeable: lock them again, as the
        # leaves lock what they store (kronvec/operators/basic.py), so that nobody can change
        # the loaded operator after it was built either.
        attributes, slots = state if isinstance(state, tuple) else (state, None)
        for value in (attributes or {}).values():
            _lock(value)
        if attributes:
            self.__dict__.update(attributes)
        for key, value in (slots or {}).items():
            setattr(self, key, value)

    def _remember_as_transpose_of(self, original):
        """Make ``self.T`` return `original` without recomputing it.  The link is
        weak: a strong one would make the pair a reference cycle, and the two
        matrices (32 MB each at n = 2000) would wait for the garbage collector."""
        self.__dict__["_cached_transpose"] = weakref.ref(original)

    def transpose(self):
        return self.T

    def adjoint(self):
        return self.T

    @property
    def H(self):
        return self.T

    # ----------------------------------------------------------- algebra
    def dot(self, x):
        """``A @ x``: an operator for an operator or a sparse matrix, an array for an array."""
        operand = _as_operand(x)
        if operand is not None:
            from . import algebra

            return algebra.multiply(self, operand)
        if np.isscalar(x):
            from . import algebra

            return algebra.scale(self, x)
        if not _is_traced(x):
            x = plain_array(x, f"the operand of {type(self).__name__} @")
        if x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1):
            return self.matvec(x)
        if x.ndim == 2:
            return self.matmat(x)
        raise ValueError(
            f"{type(self).__name__} @ array: the operator of shape {self.shape} applies to "
            f"1-D or 2-D arrays, got shape {x.shape}"
        )

    def __matmul__(self, other):
        if np.isscalar(other):
            raise ValueError("scalar operands are not allowed with @, use * instead")
        return self.dot(other)

    def __rmatmul__(self, other):
        if np.isscalar(other):
            raise ValueError("scalar operands are not allowed with @, use * instead")
        operand = _as_operand(other)
        if operand is not None:
            from . import algebra

            return algebra.multiply(operand, self)
        if _is_traced(other):
            return NotImplemented  # the traced value's own __matmul__ records x @ A
        other = plain_array(other, f"the operand of @ {type(self).__name__}")
        # x @ A == (Aᵀ xᵀ)ᵀ
        if other.ndim == 1:
            return self.rmatvec(other)
        if other.ndim != 2:
            raise ValueError(
                f"array @ {type(self).__name__}: the operator of shape {self.shape} applies to "
                f"1-D or 2-D arrays, got shape {other.shape}"
            )
        return self.rmatmat(other.T).T

    def __mul__(self, other):
        if np.isscalar(other):
            from . import algebra

            return algebra.scale(self, other)
        return self.dot(other)

    def __rmul__(self, other):
        if np.isscalar(other):
            from . import algebra

            return algebra.scale(self, other)
        return NotImplemented

    def __truediv__(self, other):
        if not np.isscalar(other):
            return NotImplemented
        if other == 0:
            raise ZeroDivisionError(
                f"{type(self).__name__} / 0: kronvec does not divide an operator of shape "
                f"{self.shape} by zero (1/0 is no real scale)")
        from . import algebra

        return algebra.scale(self, 1.0 / other)

    def __neg__(self):
        from . import algebra

        return algebra.scale(self, -1.0)

    def __pos__(self):
        return self

    def __add__(self, other):
        operand = _as_operand(other)
        if operand is None:
            return NotImplemented
        from . import algebra

        return algebra.add(self, operand)

    def __radd__(self, other):
        operand = _as_operand(other)
        if operand is None:
            return NotImplemented
        from . import algebra

        return algebra.add(operand, self)

    def __sub__(self, other):
        operand = _as_operand(other)
        if operand is None:
            return NotImplemented
        from . import algebra

        return algebra.add(self, algebra.scale(operand, -1.0))

    def __rsub__(self, other):
        operand = _as_operand(other)
        if operand is None:
            return NotImplemented
        from . import algebra

        return algebra.add(operand, algebra.scale(self, -1.0))

    def __pow__(self, p):
        """``A ** p`` for an integer p ≥ 0: the p-fold product, kept structured by the
        algebra's laws ((A ⊗ B)² = A² ⊗ B²), by repeated squaring; ``A ** 0`` is I."""
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, np.integer)):
            return NotImplemented
        if self.shape[0] != self.shape[1]:
            raise ValueError(f"{type(self).__name__} ** {p}: a power needs a square operator, "
                             f"got shape {self.shape}")
        if p < 0:
            raise ValueError(f"{type(self).__name__} ** {p}: negative powers are not formed; "
                             "apply the inverse with .solve(b) (or .inv() where it is structured)")
        from . import algebra
        from .basic import Identity

        result, base = None, self
        while True:  # binary powering: O(log p) products
            if p & 1:
                result = base if result is None else algebra.multiply(result, base)
            p >>= 1
            if not p:
                break
            base = algebra.multiply(base, base)
        return Identity(self.shape[0]) if result is None else result

    def __array__(self, dtype=None, copy=None):
        # Without this NumPy would wrap the operator in a 0-d object array, silently.
        # SciPy's sparse arrays probe an operand with np.asanyarray and, on exactly that
        # 0-d object array, defer to the operand (S @ J → J.__rmatmul__): they get it.
        if sys._getframe(1).f_globals.get("__name__", "").startswith("scipy."):
            wrapped = np.empty((), dtype=object)
            wrapped[()] = self
            return wrapped
        raise TypeError(
            f"np.asarray cannot convert a {type(self).__name__} operator of shape {self.shape}: "
            "call .toarray() for a dense array (it checks config.dense_limit_bytes first) "
            "or .tosparse() for a scipy.sparse array"
        )

    # ------------------------------------------------------ materialize
    @property
    def dense_nbytes(self):
        """Bytes of the array ``toarray()`` returns."""
        return self.shape[0] * self.shape[1] * self.dtype.itemsize

    @property
    def dense_peak_nbytes(self):
        """Peak bytes of ``toarray()`` under the current limit: the result plus
        the workspace needed to build it (see :mod:`kronvec.operators._materialize`).
        ``toarray()`` refuses when this exceeds ``config.dense_limit_bytes``."""
        from ._materialize import dense_peak_nbytes

        return dense_peak_nbytes(self)

    @property
    def nnz_bound(self):
        """An upper bound on the nonzeros of ``tosparse()`` (exact for Kron)."""
        return self.shape[0] * self.shape[1]

    @property
    def row_nnz_max(self):
        """An upper bound on the nonzeros in any one row: 1 for I, diagonals, selections
        and permutations, which is what bounds a Product of them by its rows
        (``kronvec/operators/composite.py``); the number of columns unless known."""
        return self.shape[1]

    @property
    def column_nnz_max(self):
        """An upper bound on the nonzeros in any one column (see :attr:`row_nnz_max`)."""
        return self.shape[0]

    def toarray(self):
        """The dense matrix, refused before allocating when the result and the
        workspace to build it (``dense_peak_nbytes``) exceed ``config.dense_limit_bytes``."""
        from ._materialize import toarray

        return toarray(self).astype(self.dtype, copy=False)

    def tosparse(self):
        """The matrix as a canonical ``scipy.sparse.csr_array``.

        Refused before allocating when its CSR could exceed
        ``config.sparse_limit_bytes``; intermediate CSRs of sums and products
        count towards the limit too, and are refused before they are built.
        """
        from ._materialize import csr_bound_nbytes, tosparse

        check_materialization(
            "sparse",
            csr_bound_nbytes(self.nnz_bound, self.shape[0], self.dtype),
            lambda: f"the {self.shape[0]}×{self.shape[1]} operator {self.formula()}",
            "apply it with matvec/matmat instead",
        )
        return tosparse(self).astype(self.dtype, copy=False)

    def aslinearoperator(self):
        """The operator itself: it already is a ``scipy.sparse.linalg.LinearOperator``."""
        return self

    # Hooks of kronvec.operators._materialize.  A leaf that can write itself
    # into an array defines _accumulate_dense and _direct_dense_workspace; one
    # with a direct CSR writer defines _tosparse and _sparse_workspace.
    # Everything else is materialized by applying it to blocks of unit vectors.
    def _toarray(self):
        out = np.zeros(self.shape, dtype=self.dtype)
        self._accumulate_dense(out, 1.0)
        return out

    def _accumulate_dense(self, out, scale):
        """``out += scale * self`` for an `out` of this shape (C- or F-ordered)."""
        raise NotImplementedError

    def _dense_times(self, scale):
        """``scale * self`` as a new dense array: what ``toarray()`` of a one-term
        combination (e.g. ``0.5·T``) returns.  A term that writes every entry may
        fill an uninitialized array instead of adding into zeros."""
        out = np.zeros(self.shape, dtype=self.dtype)
        self._accumulate_dense(out, scale)
        return out

    def _direct_dense_workspace(self):
        """Bytes of temporaries ``_accumulate_dense`` needs, or None when it has none."""
        return None

    def _linear_parts(self):
        """``[(coefficient, operand)]`` when this is a linear combination (Sum, Scaled)."""
        return None

    def _dense_transpose_of(self):
        """The operator whose transpose this is, when it is materialized that way."""
        return None

    def _sparse_children(self):
        """Operands whose CSRs ``_combine_sparse`` builds this operator's CSR from."""
        return ()

    def _sparse_workspace(self):
        """Bytes ``_tosparse`` needs beside its result, or None: no direct CSR writer."""
        return None

    # ---------------------------------------------------------- inverse
    def inv(self):
        """The inverse as a structured operator, where the structure allows."""
        raise TypeError(f"{type(self).__name__} has no structured inverse; use solve or scipy.sparse.linalg")

    def solve(self, b):
        """Solve ``A x = b``: without forming A where the structure allows (a structured
        inverse: Kronecker factors, a Kronecker sum's Sylvester solve, …), else by A's
        dense LU factors (:meth:`dense_solve`)."""
        b = check_solve_shape(self, b, "solve")  # (an array: inverse.dot of a sparse b is an operator)
        try:
            inverse = self.inv()
        except TypeError:  # (no structured inverse)
            return self.dense_solve(b)
        return inverse.dot(b)

    def dense_solve(self, b):
        """Solve ``A x = b`` with the LU factors of A's dense matrix.

        Refused before allocating when the dense matrix, its factors and the
        workspace to build it exceed ``config.dense_limit_bytes``; an iterative
        solver applying the operator (``scipy.sparse.linalg.gmres(A, b)``, ``cg``
        for a symmetric positive definite A) needs none of that memory.

        Raises
        ------
        ValueError
            A is not square, or b has not A's number of rows.
        numpy.linalg.LinAlgError
            A is singular.
        MemoryError
            The dense matrix and its factors exceed ``config.dense_limit_bytes``.
        """
        from .._linalg.checks import checked_solve

        b = check_solve_shape(self, b, "solve")
        m, n = self.shape
        # peak: the dense matrix as toarray() builds it, and the copy LAPACK factors
        check_materialization("dense", self.dense_nbytes, lambda: f"the {m}×{n} operator {self.formula()}",
                              "solve iteratively with scipy.sparse.linalg.gmres(A, b), or cg for a "
                              "symmetric positive definite A",
                              workspace=self.dense_peak_nbytes)
        dense = self.toarray()
        dtype = result_float_dtype(dense.dtype, b.dtype)  # (the common precision, as np.linalg.solve)
        return checked_solve(dense if dense.dtype == dtype else dense.astype(dtype), b, f"{type(self).__name__}.solve")

    # ------------------------------------------------------------ print
    def formula(self):
        """The formula a person would write, e.g. ``-(inv(X)ᵀ ⊗ inv(X))``.

        Matrices nobody named print as placeholders numbered within this
        formula (``M₁``, ``S₁``, ``diag(d₁)``, ``v₁ᵀ``; see
        :mod:`kronvec.operators._formula`).
        """
        return render(self)

    def _formula_children(self):
        """The operators this one's formula is written in terms of."""
        return ()

    def _render(self, parts, placeholders):
        """This operator's text, given its children's ``(text, precedence)`` parts."""
        raise NotImplementedError

    def __repr__(self):
        m, n = self.shape
        return f"<{m}×{n} {type(self).__name__}: {self.formula()}, dtype={self.dtype}>"

    def __str__(self):
        return self.formula()

    # Jupyter's views and a sparsity plot (kronvec.operators._display)
    _repr_latex_, _repr_html_, spy = _display.repr_latex, _display.repr_html, _display.spy


def as_operator(A, name=None):
    """Wrap an array, a SciPy sparse matrix or a LinearOperator as a structured operator.

    >>> import numpy as np
    >>> as_operator(np.eye(2)).formula()
    'M₁'
    >>> as_operator(np.eye(2), name="A").formula()
    'A'
    """
    if isinstance(A, StructuredOperator):
        return A
    from .basic import Dense, Sparse, Wrapped

    if isinstance(A, LinearOperator):
        return Wrapped(A, name=name)
    if issparse(A):
        return Sparse(A, name=name)
    return Dense(A, name=name)
