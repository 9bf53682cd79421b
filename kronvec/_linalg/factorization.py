"""One factorization of a square matrix, shared by everything that needs it.

ln|X| + tr(X⁻¹C) asks for ln|X| and X⁻¹ on the way forward and for X⁻ᵀ on
the way back.  Inside a differentiation call (:class:`call_scope`) each
matrix gets one :class:`Factorization`, remembered by identity, which
computes each of these once.

Which LAPACK does the work depends on the order n, because NumPy and SciPy
wheels each bundle their own OpenBLAS with its own thread pool.  After a
threaded call a pool's workers keep spinning for a while; a threaded call
into the *other* library then finds the cores taken and waits for the
scheduler — milliseconds, at every switch, and much worse with a busy
neighbour (``benchmarks/measure_threads.py``).  So:

* below :data:`THREADED_MIN_ORDER`, LU through ``scipy.linalg.lapack``
  directly (``getrf``, ``getri``, ``gecon``, ``lange``): none of these starts a
  thread at such orders, and the direct calls skip ``np.linalg``'s Python
  overhead, which dominates small matrices; one LU serves ln|X|, X⁻¹ and every
  solve;
* from :data:`THREADED_MIN_ORDER` on, NumPy's own ``np.linalg`` (``slogdet``
  or ``cholesky``, ``inv``, ``solve``), whose threads run on NumPy's pool — the
  pool of every product kronvec computes (``ndarray.dot``) and of the user's
  own NumPy code — so a call never switches pools.

Errors name the user's operation: ``LinAlgError`` at an exactly singular
matrix and when the inverse or a solution overflows (numerically singular);
an :class:`~kronvec.IllConditionedWarning` (once per call site of the user's code, see
:mod:`kronvec._warnings`) when the
1-norm condition number exceeds ``kronvec.config.condition_warning`` (by
default 1e-2/eps of the matrix's dtype).
"""

from __future__ import annotations

import functools
import math
import operator
import types

import numpy as np
from scipy.linalg import lapack

from .._config import IllConditionedWarning, condition_threshold
from .._warnings import warn_at_user_line
from .scope import _current as _current_scope
from .scope import call_scope, close_scope, open_scope  # noqa: F401 (re-exported)

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)

__all__ = ["Factorization", "NumPyFactorization", "new_factorization", "factorize", "THREADED_MIN_ORDER", "call_scope", "open_scope", "close_scope", "all_finite"]

# Below this order none of SciPy's getrf, getri, gecon and lange starts an
# OpenBLAS thread, while Cholesky's routines do (potri and potrs from n = 32,
# potrf from 128), and so does getrs with several right-hand sides at every
# order (its row interchanges, laswp): small matrices stay on one thread, with
# LU, and solve several right-hand sides through the inverse.  From this order
# on, threads pay, and kronvec uses NumPy's LAPACK (see the module docstring).
THREADED_MIN_ORDER = 150
# Up to this order, log-determinant and pivot sign are read off the diagonal
# in plain Python (~0.5 µs at n = 4 against ~3 µs for the NumPy reductions).
_PYTHON_REDUCTION_MAX_ORDER = 16

_ROUTINE_NAMES = ("getrf", "getri", "gecon", "getrs", "lange")


@functools.lru_cache(maxsize=None)
def _lapack(precision):
    """The LAPACK routines for NumPy type code `precision`, "f" or "d" (looked up once)."""
    found = lapack.get_lapack_funcs(_ROUTINE_NAMES, dtype=np.dtype(precision))
    return types.SimpleNamespace(**dict(zip(_ROUTINE_NAMES, found)))


class _Errors:
    """What both factorizations say when something is wrong."""

    __slots__ = ()

    def _singular_error(self, detail):
        n, m = self.matrix.shape
        return np.linalg.LinAlgError(f"{self.operation}: the {n}×{m} matrix is {detail}")

    def _warn_if_ill_conditioned(self):
        threshold = condition_threshold(self.matrix.dtype)
        if threshold is None or self._warned:
            return
        condition = self.condition()
        if condition is not None and condition > threshold:
            self._warned = True
            n, m = self.matrix.shape
            # (a stable message, the measured κ₁ as an attribute: shown once per call site)
            warn_at_user_line(
                f"{self.operation}: the {n}×{m} matrix is ill-conditioned "
                f"(1-norm condition number above {threshold:.3g}); its derivatives "
                "may have lost most of their digits. Set kronvec.config.condition_warning = None "
                "to silence this.",
                IllConditionedWarning,
                condition=condition,
            )

    def _checked_inverse(self, inverse, routines):
        """Store X⁻¹ with the exact κ₁ = ‖X‖₁‖X⁻¹‖₁; NaN or inf entries (a subnormal
        pivot) make the matrix numerically singular.  `routines`: the LAPACK routines
        of X's precision (:func:`_lapack`)."""
        X = self.matrix
        condition = _one_norm(routines, X) * _one_norm(routines, inverse) if X.shape[0] else 1.0
        if not math.isfinite(condition):
            raise self._singular_error("numerically singular (its inverse overflows)")
        self._inverse, self._condition = inverse, condition
        threshold = condition_threshold(X.dtype)
        if threshold is not None and condition > threshold:
            self._warn_if_ill_conditioned()
        return inverse


class Factorization(_Errors):
    """LU factors of one small square float matrix (n < THREADED_MIN_ORDER), and what they give.

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

    __slots__ = ("matrix", "operation", "factor", "pivots", "singular",
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
        n = X.shape[0]
        if n == 0:
            self.factor, self.pivots, self.singular = X, np.zeros(0, dtype=np.intc), False
            return
        self.factor, self.pivots, info = routines.getrf(X)
        self.singular = info > 0  # U[info-1, info-1] is exactly zero

    # ------------------------------------------------------------ errors
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
                reciprocal, _ = routines.gecon(self.factor, norm, norm="1")
                self._condition = math.inf if reciprocal == 0 else 1.0 / float(reciprocal)
        return self._condition

    # ------------------------------------------------------------ results
    def inverse(self):
        """X⁻¹ (computed once; callers must not modify it)."""
        if self._inverse is None:
            self._require_nonsingular()
            routines, n = self._routines, self.matrix.shape[0]
            if n == 0:
                inverse = np.zeros((0, 0), dtype=self.matrix.dtype)
            else:
                # getri's default workspace keeps it unblocked: the blocked variant calls
                # gemm, which wakes SciPy's thread pool already below THREADED_MIN_ORDER.
                inverse, _ = routines.getri(self.factor, self.pivots)
            self._checked_inverse(inverse, routines)
        return self._inverse

    def solve(self, B, transposed=False):
        """X⁻¹B, or X⁻ᵀB when `transposed`, for B of shape (n,) or (n, k), with the stored factors."""
        self._require_nonsingular()
        B = np.asarray(B)
        B2 = B[:, None] if B.ndim == 1 else B
        if B2.size == 0:
            self._warn_if_ill_conditioned()
            solution = np.zeros(B2.shape, dtype=np.result_type(self.matrix.dtype, B2.dtype))
        elif B2.shape[1] > 1 or self._inverse is not None:
            # Single-threaded, unlike getrs (see THREADED_MIN_ORDER); the inverse gives the
            # exact κ₁ in place of gecon's estimate, and a derivative of ln|X| or of this
            # solve needs it anyway (X̄ involves X⁻ᵀ).
            inverse = self.inverse()
            solution = (inverse.T if transposed else inverse).dot(B2.astype(self.matrix.dtype, copy=False))
        else:
            self._warn_if_ill_conditioned()
            B2 = B2.astype(self.matrix.dtype, copy=False)
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
        # det X = det(P) ∏ u_ii with det(P) = (-1)^(row swaps)   (Golub–Van Loan §3.2)
        if n <= _PYTHON_REDUCTION_MAX_ORDER:
            entries = diagonal.tolist()
            swaps = sum(map(operator.ne, self.pivots.tolist(), range(n)))
            # The product's sign is right even when it under- or overflows (±0, ±inf).
            sign = math.copysign(1.0, math.prod(entries))
        else:
            swaps = int(np.count_nonzero(self.pivots != np.arange(n)))
            sign = -1.0 if np.count_nonzero(diagonal < 0) % 2 else 1.0
            entries = diagonal.tolist()
        # NumPy's slogdet adds the logarithms one after another with the C library's log
        # (umath_linalg.cpp, slogdet_from_factored_diagonal): this is that sum, in that
        # order, so a float64 ln|det X| is NumPy's bit for bit (a correctly rounded fsum was
        # 1 ulp off for about two fifths of random matrices, NumPy's pairwise np.sum too)
        log_abs = sum(map(math.log, map(abs, entries)))
        return scalar(-sign if swaps % 2 else sign), scalar(log_abs)


class NumPyFactorization(_Errors):
    """What a large square float matrix (n ≥ THREADED_MIN_ORDER) gives, by NumPy's LAPACK.

    The same interface as :class:`Factorization`, each result computed once:
    ``logabsdet`` by Cholesky when X is symmetric positive definite (half the
    work of LU), else by ``np.linalg.slogdet``; the inverse by
    ``np.linalg.inv``; a solve through the inverse once it is known or when the
    right-hand side has at least n/2 columns, else by ``np.linalg.solve``.  The condition number, and so the warning, comes with
    the inverse, which every derivative with respect to X computes.
    """

    __slots__ = ("matrix", "operation", "_inverse", "_logabsdet", "_condition", "_warned")

    def __init__(self, X, operation):
        if X.dtype.char not in ("f", "d"):
            raise TypeError(f"{operation}: kronvec's linear algebra is float32 or float64, got {X.dtype}")
        self.matrix, self.operation = X, operation
        self._inverse = self._logabsdet = self._condition = None
        self._warned = False

    def condition(self):
        """κ₁(X), exact, once the inverse is known (None before)."""
        return self._condition

    def inverse(self):
        """X⁻¹ (computed once; callers must not modify it)."""
        if self._inverse is None:
            try:
                inverse = np.linalg.inv(self.matrix)
            except np.linalg.LinAlgError:
                raise self._singular_error("singular (exact zero pivot)") from None
            self._checked_inverse(inverse, _lapack(self.matrix.dtype.char))
        return self._inverse

    def solve(self, B, transposed=False):
        """X⁻¹B, or X⁻ᵀB when `transposed`, for B of shape (n,) or (n, k)."""
        B = np.asarray(B).astype(self.matrix.dtype, copy=False)
        if self._inverse is not None or (B.ndim == 2 and 2 * B.shape[1] >= self.matrix.shape[0]):
            # Many right-hand sides: through the inverse.  Every derivative of the solve
            # needs X⁻¹ or a second factorization (X̄ = −X⁻ᵀḠYᵀ, B̄ = X⁻ᵀḠ), and from
            # about n/2 columns on, X⁻¹ and two products take less time than two
            # solves, which factor X twice (NumPy keeps no LU); the inverse also
            # gives the exact κ₁ (see the class docstring).
            inverse = self.inverse()
            solution = (inverse.T if transposed else inverse).dot(B)
        else:
            try:
                solution = np.linalg.solve(self.matrix.T if transposed else self.matrix, B)
            except np.linalg.LinAlgError:
                raise self._singular_error("singular (exact zero pivot)") from None
        if not all_finite(solution):
            raise self._singular_error("numerically singular (the solution overflows)")
        return solution

    def logabsdet(self):
        """``(sign, ln|det X|)`` as scalars of X's dtype, like ``np.linalg.slogdet``."""
        if self._logabsdet is None:
            X, scalar = self.matrix, self.matrix.dtype.type
            if _symmetric(X):
                try:  # X = LLᵀ: det X = ∏ l_ii², positive
                    lower = np.linalg.cholesky(X)
                    self._logabsdet = scalar(1.0), scalar(2.0 * np.log(lower.diagonal()).sum())
                    return self._logabsdet
                except np.linalg.LinAlgError:
                    pass  # symmetric but not positive definite: LU
            sign, logabsdet = np.linalg.slogdet(X)
            if sign == 0 or not np.isfinite(logabsdet):
                raise self._singular_error("singular (det = 0), so ln|det X| = -inf has no derivative")
            self._logabsdet = scalar(sign), scalar(logabsdet)
        return self._logabsdet


def _symmetric(X):
    """Xᵀ = X exactly; the first row against the first column settles most
    nonsymmetric matrices in O(n) before the O(n²) comparison."""
    return np.array_equal(X[0], X[:, 0]) and np.array_equal(X, X.T)


def _one_norm(routines, X):
    """‖X‖₁, the largest column sum of |X|: for small matrices by LAPACK on a
    column-major view (for a row-major X that is ‖Xᵀ‖_∞, which spares f2py a
    transposing copy), for larger ones by NumPy (lange's per-entry cost is
    several times NumPy's)."""
    if X.size > _LANGE_MAX_ENTRIES:
        return float(np.abs(X).sum(axis=0).max())
    flags = X.flags  # (each .flags builds a new object)
    if flags.c_contiguous and not flags.f_contiguous:
        return float(routines.lange("I", X.T))
    return float(routines.lange("1", X))


def read_only(array):
    """Mark an array this floor made (a factor, a plan's piece) read-only and return it:
    what is shared between calls and threads cannot be changed by any of them."""
    array.flags.writeable = False
    return array


def _frozen(X):
    """True when nothing can change X's entries any more: X and every array it
    is a view of are read-only (kronvec freezes what it records)."""
    while isinstance(X, _ndarray):
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
        return new_factorization(_as_lapack_float(X), operation)
    remembered = scope.factorizations  # (why an id is safe here: see CallScope)
    entry = remembered.get(id(X))
    if entry is None or entry[0] is not X:
        factorization = new_factorization(X if X.dtype.char in "fd" else _as_lapack_float(X), operation)
        entry = remembered[id(X)] = (X, factorization)
    return entry[1]


def new_factorization(X, operation):
    """A fresh factorization of the float32/float64 square matrix X, on the LAPACK
    its order calls for (see the module docstring)."""
    if X.shape[0] < THREADED_MIN_ORDER:
        return Factorization(X, operation)
    return NumPyFactorization(X, operation)


#: Above this many entries all_finite uses NumPy rather than LAPACK's lange.
_LANGE_MAX_ENTRIES = 256
#: Up to this many entries all_finite sums the entries as Python floats: fewer C calls
#: than lange's (whose f2py wrapper and the flags it needs cost more than four floats).
_PYTHON_SUM_MAX_ENTRIES = 16


def _as_lapack_float(X):
    kind = X.dtype.kind
    if kind in "biu":
        return X.astype(np.float64)
    if X.dtype == np.float16:
        return X.astype(np.float32)
    return X


def all_finite(x):
    """True when no entry of the array `x` is NaN or ±inf.

    For a small contiguous float32/float64 matrix, LAPACK's max-abs norm
    (``lange``, which propagates NaN and inf) has the least call overhead; its
    per-entry cost is several times NumPy's, so larger arrays use
    ``np.isfinite(x).all()``.  The smallest arrays (the inputs and constants of
    small problems, checked once per call) are summed as Python floats.
    """
    size = x.size
    if size <= _PYTHON_SUM_MAX_ENTRIES:
        precision = x.dtype.char
        if precision == "d" or precision == "f":
            # A sum of floats is finite when every term is (NaN and ±inf propagate); when it
            # is not (a term is not, or the sum overflows) the entries are looked at.
            return math.isfinite(sum(x.ravel().tolist())) or bool(np.isfinite(x).all())
    if x.ndim == 2 and 0 < size <= _LANGE_MAX_ENTRIES:
        precision = x.dtype.char
        if precision == "d" or precision == "f":
            flags = x.flags  # (each .flags builds a new object)
            if flags.c_contiguous:
                return math.isfinite(_lapack(precision).lange("M", x.T))
            if flags.f_contiguous:
                return math.isfinite(_lapack(precision).lange("M", x))
    return bool(np.isfinite(x).all())
