"""One factorization of a square matrix, shared by everything that needs it.

ln|X| + tr(X⁻¹C) asks for ln|X| and X⁻¹ on the way forward and for X⁻ᵀ on
the way back: all three come from one LU factorization (LAPACK ``getrf``,
then ``getri`` for the inverse), or from one Cholesky factorization
(``potrf``/``potri``) when X is symmetric positive definite.  Inside a
differentiation call (:class:`call_scope`) each matrix is factored once and
remembered by identity.

LAPACK is called through ``scipy.linalg.lapack`` directly: at n = 4,
``np.linalg.inv`` and ``np.linalg.slogdet`` spend ~4 µs each on Python-side
checks around ~0.7 µs of LAPACK, and at n = 1024 ``getri`` with its optimal
workspace inverts in 2/3 of the time of ``np.linalg.inv``'s ``gesv``
against the identity (``benchmarks/benchmarks/rules.py``).

Errors name the user's operation: ``LinAlgError`` at an exactly singular
matrix (a zero pivot) and when the inverse or a solution overflows
(numerically singular); an :class:`~kronvec.IllConditionedWarning` once per
matrix and call when the 1-norm condition number exceeds
``kronvec.config.condition_warning`` (by default 1e-2/eps of the matrix's dtype).
"""

from __future__ import annotations

import functools
import math
import operator
import types
import warnings

import numpy as np
from scipy.linalg import lapack

from .._config import IllConditionedWarning, condition_threshold
from .products import matmul
from .scope import _current as _current_scope
from .scope import call_scope, close_scope, open_scope  # noqa: F401 (re-exported)

__all__ = ["Factorization", "factorize", "call_scope", "open_scope", "close_scope", "all_finite"]

# Below this order no LAPACK call of the LU path (getrf, getri, gecon, lange)
# starts an OpenBLAS thread, while Cholesky's do (potri and potrs from n = 32,
# potrf from 128), and so does getrs with several right-hand sides at every
# order (its row interchanges, laswp).  Waking the pool costs more than the
# threads save on a small problem, and when the other core is busy (another
# process, or the other library's pool still spinning) the wake waits for the
# scheduler, milliseconds: small problems stay single-threaded, with LU rather
# than Cholesky (n³/3 flops against LU's 2n³/3, potri's 2n³/3 against getri's
# 4n³/3) and solves for several right-hand sides through the inverse.
_THREADED_MIN_ORDER = 150
# From this order getri gets its optimal workspace: the default (3n) makes it
# unblocked, 1.8× slower at n = 1024.
_BLOCKED_GETRI_MIN_ORDER = 64
# Up to this order, log-determinant and pivot sign are read off the diagonal
# in plain Python (~0.5 µs at n = 4 against ~3 µs for the NumPy reductions).
_PYTHON_REDUCTION_MAX_ORDER = 16

_ROUTINE_NAMES = ("getrf", "getri", "getri_lwork", "gecon", "getrs",
                  "potrf", "potri", "pocon", "potrs", "lange")


@functools.lru_cache(maxsize=None)
def _lapack(precision):
    """The LAPACK routines for NumPy type code `precision`, "f" or "d" (looked up once)."""
    found = lapack.get_lapack_funcs(_ROUTINE_NAMES, dtype=np.dtype(precision))
    return types.SimpleNamespace(**dict(zip(_ROUTINE_NAMES, found)))


class Factorization:
    """LU (or Cholesky) factors of one square float matrix, and what they give.

    Parameters
    ----------
    X : ndarray, shape (n, n), float32 or float64
        Finite; never modified.
    operation : str
        What the user called, for error messages and warnings.

    Raises
    ------
    numpy.linalg.LinAlgError
        From :meth:`inverse`, :meth:`solve` and :meth:`logabsdet` when X is
        singular (exactly, or so nearly that the result overflows).
    """

    __slots__ = ("matrix", "operation", "cholesky", "factor", "pivots", "singular",
                 "_routines", "_inverse", "_logabsdet", "_condition", "_warned")

    def __init__(self, X, operation):
        precision = X.dtype.char
        if precision not in ("f", "d"):
            raise TypeError(f"{operation}: kronvec's linear algebra is float32 or float64, got {X.dtype}")
        self.matrix = X
        self.operation = operation
        self._routines = routines = _lapack(precision)
        self._inverse = self._logabsdet = self._condition = None
        self._warned = False
        self.pivots = None
        self.cholesky = False
        n = X.shape[0]
        if n >= _THREADED_MIN_ORDER and _symmetric(X):
            # Xᵀ = X: hand LAPACK the column-major view, which it copies without transposing.
            factor, info = routines.potrf(X.T if X.flags.c_contiguous else X, lower=0, clean=1)
            if info == 0:
                self.cholesky, self.factor, self.singular = True, factor, False
                return
        if n == 0:
            self.factor, self.pivots, self.singular = X, np.zeros(0, dtype=np.intc), False
            return
        self.factor, self.pivots, info = routines.getrf(X)
        self.singular = info > 0  # U[info-1, info-1] is exactly zero

    # ------------------------------------------------------------ errors
    def _singular_error(self, detail):
        n, m = self.matrix.shape
        return np.linalg.LinAlgError(f"{self.operation}: the {n}×{m} matrix is {detail}")

    def _require_nonsingular(self):
        if self.singular:
            raise self._singular_error("singular (exact zero pivot)")

    def condition(self):
        """κ₁(X) = ‖X‖₁‖X⁻¹‖₁: exact once the inverse is known, else LAPACK's estimate."""
        if self._condition is None:
            routines, X = self._routines, self.matrix
            if X.size == 0:
                self._condition = 1.0
            else:  # (inverse() sets the exact value)
                norm = _one_norm(routines, X)
                if self.cholesky:
                    reciprocal, _ = routines.pocon(self.factor, norm, uplo="U")
                else:
                    reciprocal, _ = routines.gecon(self.factor, norm, norm="1")
                self._condition = math.inf if reciprocal == 0 else 1.0 / float(reciprocal)
        return self._condition

    def _warn_if_ill_conditioned(self):
        threshold = condition_threshold(self.matrix.dtype)
        if threshold is None or self._warned:
            return
        condition = self.condition()
        if condition > threshold:
            self._warned = True
            n, m = self.matrix.shape
            warnings.warn(
                f"{self.operation}: the {n}×{m} matrix is ill-conditioned "
                f"(1-norm condition number ≈ {condition:.3g} > {threshold:.3g}); its derivatives "
                "may have lost most of their digits. Set kronvec.config.condition_warning = None "
                "to silence this.",
                IllConditionedWarning,
                stacklevel=5,
            )

    # ------------------------------------------------------------ results
    def inverse(self):
        """X⁻¹ (computed once; callers must not modify it)."""
        if self._inverse is None:
            self._require_nonsingular()
            routines, n = self._routines, self.matrix.shape[0]
            if n == 0:
                inverse = np.zeros((0, 0), dtype=self.matrix.dtype)
            elif self.cholesky:
                upper, _ = routines.potri(self.factor, lower=0)
                inverse = np.triu(upper)
                inverse += np.triu(upper, 1).T  # potri fills the upper triangle only
            else:
                lwork = int(routines.getri_lwork(n)[0]) if n >= _BLOCKED_GETRI_MIN_ORDER else None
                inverse, _ = (routines.getri(self.factor, self.pivots, lwork=lwork) if lwork
                              else routines.getri(self.factor, self.pivots))
            # The exact κ₁ (replacing any estimate); NaN or inf entries make it non-finite.
            condition = _one_norm(routines, self.matrix) * _one_norm(routines, inverse) if n else 1.0
            if not math.isfinite(condition):  # a subnormal pivot
                raise self._singular_error("numerically singular (its inverse overflows)")
            self._inverse, self._condition = inverse, condition
            threshold = condition_threshold(self.matrix.dtype)
            if threshold is not None and condition > threshold:
                self._warn_if_ill_conditioned()
        return self._inverse

    def solve(self, B, transposed=False):
        """X⁻¹B, or X⁻ᵀB when `transposed`, for B of shape (n,) or (n, k), with the stored factors."""
        self._require_nonsingular()
        B = np.asarray(B)
        B2 = B[:, None] if B.ndim == 1 else B
        n = self.matrix.shape[0]
        if B2.size == 0:
            self._warn_if_ill_conditioned()
            solution = np.zeros(B2.shape, dtype=np.result_type(self.matrix.dtype, B2.dtype))
        elif not self.cholesky and n < _THREADED_MIN_ORDER and (B2.shape[1] > 1 or self._inverse is not None):
            # Single-threaded, unlike getrs (see _THREADED_MIN_ORDER); the inverse gives the
            # exact κ₁ in place of gecon's estimate, and a derivative of ln|X| or of this
            # solve needs it anyway (X̄ involves X⁻ᵀ).
            inverse = self.inverse()
            solution = matmul(inverse.T if transposed else inverse, B2.astype(self.matrix.dtype, copy=False))
        else:
            self._warn_if_ill_conditioned()
            B2 = B2.astype(self.matrix.dtype, copy=False)
            if self.cholesky:  # Xᵀ = X
                solution, _ = self._routines.potrs(self.factor, B2, lower=0)
            else:
                solution, _ = self._routines.getrs(self.factor, self.pivots, B2, trans=1 if transposed else 0)
        if not all_finite(solution):
            raise self._singular_error("numerically singular (the solution overflows)")
        return solution.reshape(B.shape)

    def logabsdet(self):
        """``(sign, ln|det X|)`` as scalars of X's dtype, like ``np.linalg.slogdet``."""
        if self._logabsdet is None:
            if self.singular:
                raise self._singular_error("singular (det = 0), so ln|det X| = -inf has no derivative")
            self._logabsdet = self._sign_and_log(self.factor.diagonal())
        return self._logabsdet

    def _sign_and_log(self, diagonal):
        scalar = self.matrix.dtype.type
        n = diagonal.shape[0]
        if self.cholesky:  # X = UᵀU: det X = ∏ u_ii², positive
            return scalar(1.0), scalar(2.0 * np.log(diagonal).sum())
        # det X = det(P) ∏ u_ii with det(P) = (-1)^(row swaps)   (Golub–Van Loan §3.2)
        if n <= _PYTHON_REDUCTION_MAX_ORDER:
            entries = diagonal.tolist()
            swaps = sum(map(operator.ne, self.pivots.tolist(), range(n)))
            # The product's sign is right even when it under- or overflows (±0, ±inf).
            sign = math.copysign(1.0, math.prod(entries))
            log_abs = math.fsum(map(math.log, map(abs, entries)))
        else:
            swaps = int(np.count_nonzero(self.pivots != np.arange(n)))
            sign = -1.0 if np.count_nonzero(diagonal < 0) % 2 else 1.0
            log_abs = float(np.log(np.abs(diagonal)).sum())
        return scalar(-sign if swaps % 2 else sign), scalar(log_abs)


def _symmetric(X):
    """Xᵀ = X exactly; the first row against the first column settles most
    nonsymmetric matrices in O(n) before the O(n²) comparison."""
    return np.array_equal(X[0], X[:, 0]) and np.array_equal(X, X.T)


def _one_norm(routines, X):
    """‖X‖₁ by LAPACK, on a column-major view: for a row-major X that is
    ‖Xᵀ‖_∞, which spares f2py a transposing copy (6 ms of 6.5 at n = 1024)."""
    flags = X.flags  # (each .flags builds a new object)
    if flags.c_contiguous and not flags.f_contiguous:
        return float(routines.lange("I", X.T))
    return float(routines.lange("1", X))


def _frozen(X):
    """True when nothing can change X's entries any more: X and every array it
    is a view of are read-only (kronvec freezes what it records)."""
    while isinstance(X, np.ndarray):
        if X.flags.writeable:
            return False
        X = X.base
    return X is None or isinstance(X, bytes)


def factorize(X, operation):
    """The :class:`Factorization` of the square matrix X (shared within a call scope).

    Integer and boolean matrices are factored in float64 and float16 in
    float32, as NumPy's linear algebra does.

    Within a call every matrix that reaches this function belongs to the call
    — an input's copy, a constant captured by value, a value the recording
    computed, a rule's copy of its argument — and nothing changes it, so
    remembering it by identity is safe (see :class:`~kronvec._linalg.scope.CallScope`).
    """
    scope = _current_scope.get()
    if scope is None:
        return Factorization(_as_lapack_float(X), operation)
    remembered = scope.factorizations  # (why an id is safe here: see CallScope)
    entry = remembered.get(id(X))
    if entry is None or entry[0] is not X:
        factorization = Factorization(X if X.dtype.char in "fd" else _as_lapack_float(X), operation)
        entry = remembered[id(X)] = (X, factorization)
    return entry[1]


def _as_lapack_float(X):
    kind = X.dtype.kind
    if kind in "biu":
        return X.astype(np.float64)
    if X.dtype == np.float16:
        return X.astype(np.float32)
    return X


def all_finite(x):
    """True when no entry of the array `x` is NaN or ±inf.

    For a contiguous float32/float64 matrix LAPACK's max-abs norm (``lange``,
    which propagates NaN and inf) decides in one pass without a temporary:
    ~0.7 µs against ~1.4 µs for ``np.isfinite(x).all()`` at n = 4.
    """
    if x.ndim == 2 and x.size:
        precision = x.dtype.char
        if precision == "d" or precision == "f":
            flags = x.flags  # (each .flags builds a new object)
            if flags.c_contiguous:
                return math.isfinite(_lapack(precision).lange("M", x.T))
            if flags.f_contiguous:
                return math.isfinite(_lapack(precision).lange("M", x))
    return bool(np.isfinite(x).all())
