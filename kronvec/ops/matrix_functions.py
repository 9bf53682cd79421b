"""Matrix functions: the exponential, the logarithm, the square root, fractional
powers, and spectral functions of symmetric matrices.

For a primary matrix function f (Higham 2008, *Functions of Matrices*, ch. 3)
the derivative is the Fréchet derivative L_f(A, E), linear in the direction E:

    d f(A) = L_f(A, dA),        D f = the operator vec E ↦ vec L_f(A, E).

* **The block identity** (Higham 2008, Thm 3.6; Mathias 1996):
  f([[A, E], [0, A]]) = [[f(A), L_f(A, E)], [0, f(A)]].  For a real f with real
  Taylor coefficients, L_f(A, ·)ᵀ = L_f(Aᵀ, ·), so the VJP is
  Ā = L_f(Aᵀ, Ḡ) = the (0, 1) block of f([[Aᵀ, Ḡ], [0, Aᵀ]]): written with traced
  concatenations, the operation itself and a slice, so every order follows.
* **General A**: the Jacobian is a matrix-free operator (:class:`FrechetOperator`)
  applying L_f(A, ·) and its transpose L_f(Aᵀ, ·): for expm by Al-Mohy & Higham's
  algorithm (``scipy.linalg.expm_frechet``; many directions at once by the same
  algorithm batched); for sqrtm by one Sylvester solve S X + X S = E
  (D sqrtm = (I ⊗ S + Sᵀ ⊗ I)⁻¹) on the real Schur form of S computed once; for logm
  and fractional powers by one eigendecomposition, V(Γ ∘ V⁻¹EV)V⁻¹, where the
  eigenvectors are well conditioned, else by the block identity (``notes/derivatives.md``
  §43).
* **Exactly symmetric A** (Daleckii–Krein): A = VΛVᵀ by one ``eigh``,
  f(A) = V f(Λ) Vᵀ and, for *every* direction E (A is diagonalized by the
  orthogonal V, so no symmetrization is needed),

      L_f(A, E) = V (Γ ∘ Vᵀ E V) Vᵀ,     D f = (V ⊗ V) · Diag(vec Γ) · (Vᵀ ⊗ Vᵀ),

  Γᵢⱼ = (f(λᵢ) − f(λⱼ))/(λᵢ − λⱼ), and f′(λᵢ) where λᵢ = λⱼ: finite and exact at
  repeated eigenvalues (computed with cancellation-free formulas for exp, log,
  √ and powers).

``funm_symmetric`` is f of a symmetric matrix for a user's f (with f′): like
``np.linalg.eigh`` it is a function of the symmetric input, differentiated along
symmetric directions (``notes/conventions.md`` §10).

Real results only: a logarithm or square root of a matrix with an eigenvalue on
the closed negative real axis is a ``LinAlgError``.  Derivations:
``notes/derivatives.md`` §26.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg

from .._constants import freeze, frozen_copy
from .._linalg.eigen_frechet import EigenFrechetPlan
from .._linalg.expm_frechet import ExpmFrechetPlan, pade_choice
from .._linalg.sylvester import SylvesterSolver
from .._tracer import Node
from .._vec import unvec_columns, vec
from ..operators import Dense, Diag, Kron, StructuredOperator, algebra
from . import _samples
from . import _stack_factors as stacked
from . import _stack_functions as stackfn
from ._registry import Primitive, register
from ._support import bind, decided, derived_label, identity_scale, static_value
from ._matrix_support import _as_one_member, _gram, _remembered, _tolerance, _warn_if_ill_conditioned
from ._symmetric_directions import _exactly_symmetric, _symmetric_part, _symmetrizer
from .factorizations.eigh import _eigen_gap_factors, _eigh_factors, eigh_vectors, eigvalsh

__all__ = ["expm", "logm", "sqrtm", "fractional_power", "funm_symmetric", "FrechetOperator",
           "check_square_matrix", "expm_frechet", "SecondFrechetOperator"]

_NAMES = {"expm": "expm", "logm": "logm", "sqrtm": "sqrtm", "power": "fractional_matrix_power",
          "spectral": "funm_symmetric"}


# ============================================================ input checks
def check_square_matrix(A, function):
    """`A` as a float square finite matrix, or a stack of them (…, n, n); LinAlgError (a
    ValueError) naming the shape otherwise, ValueError naming the members holding NaN or inf."""
    A = np.asarray(A)
    if A.dtype.kind == "c":
        raise TypeError(f"{function}: kronvec works with real matrices; got complex dtype {A.dtype}")
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{function}: needs a real matrix, got dtype {A.dtype}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        # (LinAlgError, a ValueError: SciPy's expm and sqrtm raise the one, logm & co. the other)
        raise np.linalg.LinAlgError(f"{function}: needs a square matrix or a stack of square matrices (…, n, n), "
                                    f"got shape {A.shape}")
    if A.dtype.char not in "fd":
        A = A.astype(np.float64)
    if A.ndim > 2:
        stacked.require_finite_members(A, function)
    elif not np.isfinite(A).all():
        raise ValueError(f"{function}: the matrix has non-finite entries (inf or NaN)")
    return A


# ========================================================= scalar functions
def _power(w, t):
    with np.errstate(divide="ignore"):
        return np.power(w, t)


def _scalar(kind, w, t=None, f=None):
    """f(λ) for the eigenvalues λ (a 1-D array)."""
    if kind == "expm":
        return np.exp(w)
    if kind == "logm":
        return np.log(w)
    if kind == "sqrtm":
        return np.sqrt(w)
    if kind == "power":
        return _power(w, t)
    return np.asarray(f(w), dtype=w.dtype)


def _divided_differences(kind, w, t=None, f=None, df=None):
    """Γᵢⱼ = (f(λᵢ) − f(λⱼ))/(λᵢ − λⱼ), f′(λᵢ) where λᵢ = λⱼ (Daleckii–Krein), exactly
    symmetric: written with lo = min(λᵢ, λⱼ) and gap = |λᵢ − λⱼ| ≥ 0 so that close
    eigenvalues lose no digits to cancellation (Higham 2008, §11.1 and Problem 10.1).
    For a stack of eigenvalue vectors (…, n), one Γ per member (…, n, n).

    Each n×n array is made once and then worked on in place: the Jacobian of a symmetric
    matrix function holds V and Γ (2 n²), and the temporaries of a formula written
    out-of-place (lo, gap, the tie mask, a safe gap, each intermediate) made its build
    peak at 8 n² beside them at n = 2000 — more than twice SciPy's sqrtm itself."""
    a, b = w[..., :, None], w[..., None, :]
    if kind == "sqrtm":  # (√hi − √lo)/(hi − lo) = 1/(√hi + √lo): no cancellation at all
        root = np.sqrt(w)
        gamma = np.add(root[..., :, None], root[..., None, :])
        with np.errstate(divide="ignore"):
            return np.reciprocal(gamma, out=gamma)
    if kind in ("expm", "logm", "power"):
        gap = np.subtract(a, b)
        np.abs(gap, out=gap)
        tied = gap == 0
        gap[tied] = 1.0  # (a safe divisor: the tied entries are set apart below)
        lo = np.minimum(a, b)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if kind == "expm":  # (e^hi − e^lo)/gap = e^lo · expm1(gap)/gap
                gamma = np.expm1(gap)
                gamma /= gap
                gamma[tied] = 1.0
                gamma *= np.exp(lo, out=lo)
                return gamma
            if kind == "logm":  # (log hi − log lo)/gap = log1p(gap/lo)/gap, 1/lo on ties
                gamma = np.divide(gap, lo)
                np.log1p(gamma, out=gamma)
                gamma /= gap
                gamma[tied] = 1.0 / lo[tied]
                return gamma
            # power: (hi^t − lo^t)/gap = lo^t · expm1(t·log1p(gap/lo))/gap, t·lo^(t−1) on ties
            gamma = np.divide(gap, lo)
            np.log1p(gamma, out=gamma)
            gamma *= t
            np.expm1(gamma, out=gamma)
            gamma *= _power(lo, t)
            gamma /= gap
            gamma[tied] = t * _power(lo[tied], t - 1.0)
            return gamma
    # a user's f: the plain divided difference, or f′ at the midpoint where the gap is so small
    # that the difference would have lost more digits (≈ eps/gap) than the midpoint rule (≈ gap²)
    gap = np.abs(a - b)
    fw = np.asarray(f(w), dtype=w.dtype)
    scale = np.maximum(np.abs(a), np.abs(b))
    close = gap <= np.cbrt(np.finfo(w.dtype).eps) * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = (fw[..., :, None] - fw[..., None, :]) / np.where(close, 1.0, a - b)
    if close.any():
        middle = np.asarray(df(((a + b) / 2)[close]), dtype=w.dtype)
        difference[close] = middle
    return (difference + np.swapaxes(difference, -1, -2)) / 2


# =============================================================== spectral path
def _spectral_factors(A):
    """(λ, V) of an exactly symmetric A, by NumPy's eigh, once per call."""
    return _eigh_factors(A, "L")


def _check_spectrum(kind, w, A, t=None):
    """The real logarithm, square root and fractional power need eigenvalues ≥ 0
    (> 0 for the logarithm and powers): LinAlgError naming the eigenvalue otherwise."""
    if kind not in ("logm", "sqrtm", "power") or w.size == 0:
        return w
    name = _NAMES[kind]
    n = A.shape[0]
    low = float(w[0])
    tolerance = _tolerance(w, n)
    if kind == "power":
        if low <= tolerance:
            raise np.linalg.LinAlgError(
                f"{name}: the {n}×{n} symmetric matrix is not positive definite (its smallest eigenvalue is "
                f"{low:.6g}): kronvec's fractional_matrix_power needs a symmetric positive definite input")
    elif low < -tolerance:
        raise np.linalg.LinAlgError(
            f"{name}: the {n}×{n} matrix has the negative eigenvalue {low:.6g}: its {_WHAT[kind]} is not real "
            "(kronvec gives real results only)")
    elif kind == "logm" and low <= tolerance:
        raise np.linalg.LinAlgError(
            f"{name}: the {n}×{n} matrix is singular (eigenvalue {low:.3g}): its logarithm does not exist")
    if kind == "sqrtm" and low < 0:  # (−tolerance ≤ λ < 0: zero to working precision)
        w = np.maximum(w, 0.0)
    if kind == "logm":
        _warn_if_ill_conditioned(float(w[-1]) / low, w.dtype,
                                 f"{name}: nearly singular matrix (eigenvalue {low:.3g}, largest {float(w[-1]):.3g})")
    return w


_WHAT = {"logm": "logarithm", "sqrtm": "square root", "power": "fractional power"}


def _spectral_value(kind, A, t=None, f=None):
    w, V = _spectral_factors(A)
    w = _check_spectrum(kind, w, A, t)
    # V diag(f(λ)) Vᵀ: one symmetric product (BLAS syrk when f(λ) has one sign), exactly symmetric
    return _gram(V.T, _scalar(kind, w, t, f))


def _spectral_gamma(kind, A, t=None, f=None, df=None):
    """(V, Γ) for the derivative at an exactly symmetric A (plain arrays)."""
    w, V = _spectral_factors(A)
    w = _check_spectrum(kind, w, A, t)
    if kind == "sqrtm" and w.size and float(w[0]) <= _tolerance(w, w.size):
        raise np.linalg.LinAlgError(
            f"sqrtm: the {w.size}×{w.size} matrix is singular (eigenvalue {float(w[0]):.3g}): the derivative of "
            "its square root is infinite there")
    return V, _divided_differences(kind, w, t, f, df)


def _spectral_cotangent(g, V, gamma):
    """Ā = V (Γ ∘ Vᵀ Ḡ V) Vᵀ (Γ symmetric: the adjoint of E ↦ V(Γ ∘ VᵀEV)Vᵀ is itself);
    for Ḡ = c·I (below a trace) c·V diag(Γᵢᵢ) Vᵀ, one symmetric product."""
    scale = identity_scale(g) if type(g) is np.ndarray else None
    if scale is not None:
        return _gram(V.T, scale * gamma.diagonal())
    Vt = V.T
    inner = V.T @ g @ V if isinstance(g, Node) else Vt.dot(np.asarray(g).dot(V))
    inner = inner * gamma
    return V @ inner @ Vt if isinstance(inner, Node) else V.dot(inner).dot(Vt)


def _spectral_jacobian(V, gamma):
    """(V ⊗ V) · Diag(vec Γ) · (Vᵀ ⊗ Vᵀ): vec(V (Γ ∘ Vᵀ E V) Vᵀ) by the vec trick."""
    V_op = Dense(V)
    return algebra.multiply(Kron(V_op, V_op), algebra.multiply(Diag(vec(gamma)), Kron(V_op.T, V_op.T)))


# ================================================================ general path
def _real_result(kind, A, F):
    """A complex result of SciPy's (an eigenvalue on the negative real axis) is refused;
    one with an imaginary part at rounding level is its real part."""
    if np.iscomplexobj(F):
        imaginary = float(np.max(np.abs(F.imag), initial=0.0))
        if imaginary > 1e3 * np.finfo(A.dtype).eps * max(1.0, float(np.max(np.abs(F.real), initial=0.0))):
            w = np.linalg.eigvals(A)
            negative = w[(np.abs(w.imag) <= _tolerance(w, w.size)) & (w.real <= 0)]
            where = f" (eigenvalue {float(negative.real.min()):.6g})" if negative.size else ""
            raise np.linalg.LinAlgError(
                f"{_NAMES[kind]}: the {A.shape[0]}×{A.shape[0]} matrix has an eigenvalue on the closed negative "
                f"real axis{where}: its {_WHAT[kind]} is not real (kronvec gives real results only)")
        F = F.real
    return np.ascontiguousarray(F, dtype=A.dtype)


def _general_value(kind, A, t=None):
    """f(A) for a general (not symmetric) A, as SciPy computes it."""
    n = A.shape[0]
    if n == 0:
        return np.zeros_like(A)
    if kind == "expm":
        return scipy.linalg.expm(A)
    if kind == "logm":
        w = np.linalg.eigvals(A)
        real = np.abs(w.imag) <= _tolerance(w, n)
        low = float(np.min(np.abs(w)))
        bad = real & (w.real <= _tolerance(w, n))
        if np.any(bad):
            low = float(w.real[bad].min())
            if low >= -_tolerance(w, n):
                raise np.linalg.LinAlgError(
                    f"logm: the {n}×{n} matrix is singular (eigenvalue {low:.3g}): its logarithm does not exist")
            raise np.linalg.LinAlgError(
                f"logm: the {n}×{n} matrix has the negative eigenvalue {low:.6g}: its logarithm is not real "
                "(kronvec gives real results only)")
        _warn_if_ill_conditioned(float(np.max(np.abs(w))) / low, A.dtype,
                                 f"logm: nearly singular matrix (smallest |eigenvalue| {low:.3g})")
        # (SciPy's own _logm: its public logm adds an error estimate costing one more expm)
        return _real_result(kind, A, _scipy_logm()(A))
    if kind == "sqrtm":
        F = scipy.linalg.sqrtm(A)
        if not np.isfinite(F).all():  # a singular A without a square root (e.g. nilpotent): SciPy gives NaN/inf
            raise np.linalg.LinAlgError(
                f"sqrtm: the {n}×{n} matrix is singular and has no square root (SciPy's Schur method breaks down)")
        return _real_result(kind, A, F)
    return _real_result(kind, A, scipy.linalg.fractional_matrix_power(A, t))


@functools.lru_cache(maxsize=None)
def _scipy_logm():
    try:
        from scipy.linalg._matfuncs_inv_ssq import _logm
    except ImportError:  # pragma: no cover - another SciPy layout: the public function
        return scipy.linalg.logm
    return _logm


def _block_frechet(kind, A, E, t=None):
    """L_f(A, E) as the (0, 1) block of f([[A, E], [0, A]]) (Higham 2008, Thm 3.6)."""
    n = A.shape[0]
    block = np.zeros((2 * n, 2 * n), dtype=np.result_type(A, E))
    block[:n, :n] = block[n:, n:] = A
    block[:n, n:] = E
    return _general_value(kind, block, t)[:n, n:]


# ------------------------------------------------- many directions at once (derivatives.md §43)
#: Bytes of one block of directions' arrays in a batched apply: the chunk width is
#: chosen so that each array of the chunk (n·k·n entries) stays near this size.  At
#: n = 32 that is 16 directions, whose arrays stay in a core's L2 cache: the batched
#: expm derivative of 1024 directions took 26 ms in chunks of 8, 25 ms in 16, 30 ms in
#: 32 and 64, 61 ms in 128 (one thread, AMD EPYC, 1 MiB L2 per core).
_CHUNK_BYTES = 1 << 17


def _chunks(k, n, width=None):
    """(start, stop) of ⌈k/w⌉ near-equal chunks of the k columns, w from _CHUNK_BYTES."""
    width = max(1, _CHUNK_BYTES // (8 * n * n)) if width is None else width
    count = -(-k // width)
    edges = np.linspace(0, k, count + 1).round().astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))


def _rows_of_columns(X, n, start, stop):
    """Columns start:stop of X (vec E_j each) as a new row-interleaved stack (n, k, n),
    S[:, j, :] = E_{start+j}, in float64: the layout of the batched plans."""
    E = unvec_columns(X[:, start:stop], (n, n))  # (n, n, k): [:, :, j] = E_j, a view
    return np.array(E.transpose(0, 2, 1), dtype=np.float64, order="C", copy=True)


def _build_plan(kind, A, t):
    """The batched plan of L_f(A, ·): expm's Padé pieces, or logm/power's eigendecomposition."""
    return ExpmFrechetPlan(A) if kind == "expm" else EigenFrechetPlan(A, kind, t)


def _lazy_plan(operator, build):
    """`operator`'s batched plan, built by `build()` on the first apply that needs it and
    kept as ``_lazy_plan`` (left out of a pickle: a cache).  A benign race: the plan is
    immutable and the dict assignment atomic, so two threads applying the operator for
    the first time at once may each build one, each use its own, and the last stored is
    kept — the same numbers, computed by the same code from the same matrix."""
    plan = operator.__dict__.get("_lazy_plan")
    if plan is None:
        plan = operator.__dict__["_lazy_plan"] = build()
    return plan


class FrechetOperator(StructuredOperator):
    """The Jacobian of a primary matrix function at a general A, matrix-free:
    ``matvec`` applies vec E ↦ vec L_f(A, E), ``rmatvec`` vec G ↦ vec L_f(Aᵀ, G)
    (its transpose, for real f).  No n²×n² matrix is formed; ``toarray`` applies it to
    unit vectors within ``config.dense_limit_bytes`` like any other operator.

    * expm: Al-Mohy & Higham (2009), ``scipy.linalg.expm_frechet`` for one direction;
      many directions at once (``matmat``, ``toarray``) by the same algorithm batched
      (:class:`~kronvec._linalg.expm_frechet.ExpmFrechetPlan`: what depends on A alone
      computed once, then a dozen products for all directions together);
    * sqrtm: S X + X S = E (D sqrtm = (I ⊗ S + Sᵀ ⊗ I)⁻¹) by kronvec's Sylvester solver
      (:mod:`kronvec._linalg.sylvester`) on the real Schur form S = Q T Qᵀ, computed once
      when the operator is built and shared by both sides of the equation;
    * logm, fractional powers: L_f(A, E) = V (Γ ∘ V⁻¹EV) V⁻¹ by one eigendecomposition
      (:class:`~kronvec._linalg.eigen_frechet.EigenFrechetPlan`) where the eigenvectors
      are well conditioned (κ₂(V) ≤ 10³); otherwise the block identity
      f([[A, E], [0, A]]) (Higham 2008, Thm 3.6), one direction at a time.

    The plans are built on the first apply that uses them, not with the operator (so
    a Jacobian that is never applied costs nothing more), and kept; the transposed
    operator builds its own, for Aᵀ (expm's choice of Padé degree and scaling reads
    ‖Aᵀ‖₁, as ``scipy.linalg.expm_frechet(Aᵀ, ·)`` does).  Derivation:
    ``notes/derivatives.md`` §43.

    Thread safety: a plan is a pure function of A and never changes once built.  Two
    threads applying the operator for the first time at once may both build one; each
    uses its own, and the one stored last is kept (a benign race: both are the same
    numbers, computed by the same code from the same A).
    """

    def __init__(self, kind, A, value, t=None, transposed=False, _solver=None):
        self.kind, self.t, self.transposed = kind, t, bool(transposed)
        self.A = frozen_copy(np.asarray(A))
        # (f(A) is read by sqrtm's Schur form only: None for expm, whose operator needs A alone)
        self.value = None if value is None else frozen_copy(np.asarray(value))
        n = self.A.shape[0]
        self.n = n
        if kind == "sqrtm" and _solver is None and n:
            T, Q = scipy.linalg.schur(self.value, output="real")
            mu = _quasi_triangular_eigenvalues(T)
            low = _smallest_pair_sum(mu)
            if low <= _tolerance(mu, n):
                raise np.linalg.LinAlgError(
                    f"sqrtm: the {n}×{n} matrix is singular (its square root has the eigenvalue 0): I ⊗ S + Sᵀ ⊗ I "
                    "is singular and the derivative of the square root is infinite there")
            T, Q = freeze(T), freeze(Q)  # (SciPy's fresh arrays, ours alone: copies were 2 n² more at the peak)
            _solver = SylvesterSolver(T, Q, T, Q, "N", "N", "sqrtm")  # S X + X S = E: one form, both sides
        self._solver = _solver
        super().__init__((n * n, n * n), self.A.dtype)

    def _apply_one(self, E):
        A = self.A.T if self.transposed else self.A
        if self.kind == "expm":
            return scipy.linalg.expm_frechet(A, E, compute_expm=False, check_finite=False)
        if self.kind == "sqrtm":
            # (transposed: Sᵀ X + X Sᵀ = G, the same Schur form with both sides flipped)
            return self._solver.solve(E, transposed=self.transposed)
        return _block_frechet(self.kind, A, E, self.t)

    def _matmat(self, X):
        plan = self._batched_plan(X.shape[1])
        if plan is not None:
            return self._batched_matmat(plan, X)
        n = self.n
        out = np.empty((n * n, X.shape[1]), dtype=np.result_type(self.dtype, X.dtype))
        for k in range(X.shape[1]):
            E = X[:, k].reshape(n, n, order="F")
            out[:, k] = self._apply_one(np.asarray(E, dtype=self.dtype)).ravel(order="F")
        return out

    def _batched_plan(self, columns):
        """The batched plan for `columns` directions, or None for one direction at a time:
        expm from two columns on (one column is SciPy's own expm_frechet, which costs less
        than building a plan); logm and powers for any number of columns (their plan, one
        eig, costs less than one block-identity column), unless the eigenvectors are too
        ill conditioned for it to be accurate."""
        if self.kind not in ("expm", "logm", "power") or not self.n or columns < (2 if self.kind == "expm" else 1):
            return None
        plan = _lazy_plan(self, lambda: _build_plan(self.kind, self.A.T if self.transposed else self.A, self.t))
        return plan if getattr(plan, "usable", True) else None

    def _batched_matmat(self, plan, X):
        """L_f(·, E_j) for every column of X through `plan`, in chunks of columns (their
        arrays near _CHUNK_BYTES each), written straight into the result's columns."""
        n, k = self.n, X.shape[1]
        out = np.empty((n * n, k), dtype=np.result_type(self.dtype, X.dtype))
        target = unvec_columns(out, (n, n))  # a view: [:, :, j] = unvec of column j
        for start, stop in _chunks(k, n):
            S = _rows_of_columns(X, n, start, stop)
            L = plan.apply_rows(S, overwrite=True)
            del S
            target[:, :, start:stop] = L.transpose(0, 2, 1)
            del L
        return out

    def _column_workspace(self):
        n2 = self.n * self.n
        if self.kind == "expm":  # the image, the directions' copy, the plan's 7 arrays per direction
            return self.shape[0] + (1 + ExpmFrechetPlan.WORKSPACE) * n2
        if self.kind in ("logm", "power"):
            # per column: the block identity's 2n×2n block matrix and its function (8n²) beside
            # E and the image; or the eigendecomposition's copy and 4 arrays per direction
            return max(2 * self.shape[0] + 8 * n2, self.shape[0] + (1 + EigenFrechetPlan.WORKSPACE) * n2)
        # sqrtm, one column at a time: E, its image and the Sylvester solve's temporaries
        return 2 * self.shape[0] + 3 * n2

    def _setup_nbytes(self):
        n = self.n
        if self.kind == "expm":
            # (the larger of the scalings of A and Aᵀ: ‖A‖₁ and ‖Aᵀ‖₁ = ‖A‖∞)
            norm = max(float(np.abs(self.A).sum(axis=axis).max(initial=0.0)) for axis in (0, 1))
            return ExpmFrechetPlan.setup_entries(n, pade_choice(norm)[1]) * 8
        if self.kind in ("logm", "power"):
            return EigenFrechetPlan.setup_entries(n) * 8
        return 0

    @property
    def apply_cost(self):
        return 30 * self.n ** 3

    def _transpose(self):
        return FrechetOperator(self.kind, self.A, self.value, self.t, not self.transposed, self._solver)

    def _render(self, parts, placeholders):
        argument = "Aᵀ" if self.transposed else "A"
        return f"L_{_NAMES[self.kind]}({argument}, ·)"


def _smallest_pair_sum(mu, pairs=1 << 15):
    """min over i, j of |μᵢ + μⱼ| (the smallest eigenvalue modulus of I ⊗ S + Sᵀ ⊗ I),
    about `pairs` sums (½ MiB) at a time: all n² complex sums at once were 3 n² doubles
    more at the build's peak than the Jacobian itself holds (sqrtm at n = 2000)."""
    low = np.inf
    rows = max(1, pairs // max(mu.size, 1))
    for start in range(0, mu.size, rows):
        low = min(low, float(np.min(np.abs(mu[start:start + rows, None] + mu[None, :]))))
    return low


def _quasi_triangular_eigenvalues(T):
    """The eigenvalues of a real Schur form T, in O(n): its 1×1 diagonal blocks, and
    (a + d)/2 ± √(((a − d)/2)² + bc) for each 2×2 block [[a, b], [c, d]] (c ≠ 0)."""
    n = T.shape[0]
    mu = T.diagonal().astype(complex)
    below = T.diagonal(-1)
    for i in np.flatnonzero(below != 0):
        a, b, c, d = T[i, i], T[i, i + 1], T[i + 1, i], T[i + 1, i + 1]
        root = np.sqrt(complex(((a - d) / 2) ** 2 + b * c))
        mu[i], mu[i + 1] = (a + d) / 2 + root, (a + d) / 2 - root
    return mu if n else np.zeros(0, dtype=complex)


# ================================================================ stacks (…, n, n)
# Each member takes its 2-D rule's path (exactly symmetric: spectral; otherwise general),
# all members of a path at once (kronvec/ops/_stack_functions.py; derivatives.md §26.1).
def _stack_split(A):
    """(members (K, n, n) in vec order, indices of the exactly symmetric members, of the others)."""
    members = stackfn.as_members(A)
    symmetric = (members == np.swapaxes(members, -1, -2)).all(axis=(-2, -1))
    return members, np.flatnonzero(symmetric), np.flatnonzero(~symmetric)


def _named_members(A, K, where, flags):
    """'a member of the stack of shape … at batch index …' for flags over the members `where`."""
    every = np.zeros(K, dtype=bool)
    every[where[np.asarray(flags, dtype=bool)]] = True
    bad = stackfn.batch_flags(every, A.shape[:-2])
    count = int(np.count_nonzero(bad))
    return (f"{stacked.member_count(bad)} of the stack of shape {A.shape}", "has" if count == 1 else "have",
            stacked.member_list(bad))


def _check_spectrum_stack(kind, w, A, K, where):
    """:func:`_check_spectrum` for the eigenvalues (k, n) of the symmetric members `where`."""
    if kind not in ("logm", "sqrtm", "power") or w.size == 0:
        return w
    name, n = _NAMES[kind], A.shape[-1]
    low, top = w[:, 0], w[:, -1]
    tolerance = stacked.member_tolerance(w, n)[:, 0]
    if kind == "power":
        bad = low <= tolerance
        if bad.any():
            which, verb, listed = _named_members(A, K, where, bad)
            raise np.linalg.LinAlgError(
                f"{name}: {which} {'is' if verb == 'has' else 'are'} not positive definite, at batch index "
                f"{listed}: kronvec's fractional_matrix_power needs symmetric positive definite input")
        return w
    negative = low < -tolerance
    if negative.any():
        which, verb, listed = _named_members(A, K, where, negative)
        raise np.linalg.LinAlgError(
            f"{name}: {which} {verb} a negative eigenvalue, at batch index {listed} (the first: "
            f"{float(low[negative][0]):.6g}): its {_WHAT[kind]} is not real (kronvec gives real results only)")
    if kind == "logm":
        singular = low <= tolerance
        if singular.any():
            which, verb, listed = _named_members(A, K, where, singular)
            raise np.linalg.LinAlgError(
                f"logm: {which} {'is' if verb == 'has' else 'are'} singular, at batch index {listed}: "
                "the logarithm does not exist")
        _warn_members_ill_conditioned(A, K, where, top / low, w.dtype, "nearly singular (eigenvalue ratio)")
    if kind == "sqrtm" and (low < 0).any():  # (−tolerance ≤ λ < 0: zero to working precision)
        w = np.maximum(w, 0.0)
    return w


def _warn_members_ill_conditioned(A, K, where, condition, dtype, what):
    from .._config import condition_threshold

    threshold = condition_threshold(np.dtype(dtype))
    if threshold is None or condition.size == 0:
        return
    ill = condition > threshold
    if ill.any():
        which, verb, listed = _named_members(A, K, where, ill)
        _warn_if_ill_conditioned(float(condition.max()), dtype, f"{which} {'is' if verb == 'has' else 'are'} "
                                 f"{what}, at batch index {listed}")


def _gram_members(V, p):
    """V_k diag(p_k) V_kᵀ for every member, exactly symmetric: :func:`_gram` (V_kᵀ, p_k), each
    member by the branch the 2-D ``_gram`` takes for it, the members of a branch at once (so a
    member's value is its 2-D value)."""
    out = np.empty(V.shape, dtype=V.dtype)
    if p.shape[-1] == 0:
        return out
    low, high = p.min(axis=-1), p.max(axis=-1)
    same = high - low <= 8 * np.finfo(V.dtype).eps * np.maximum(np.abs(low), np.abs(high))
    mixed = ~same & (low < 0) & (0 < high)
    for branch in (same, mixed, ~same & ~mixed):
        index = np.flatnonzero(branch)
        if not len(index):
            continue
        Vb, pb = V[index], p[index]
        if branch is same:  # c·V Vᵀ
            G = np.matmul(Vb, np.swapaxes(Vb, -1, -2))
            G *= ((low[index] + high[index]) / 2)[:, None, None]
        elif branch is mixed:
            G = np.matmul(Vb * pb[:, None, :], np.swapaxes(Vb, -1, -2))
            G = (G + np.swapaxes(G, -1, -2)) / 2
        else:  # ±YᵀY, Y = √|p|·Vᵀ
            negative = (high[index] <= 0) & (low[index] < 0)
            Y = np.swapaxes(Vb, -1, -2) * np.sqrt(np.abs(pb))[:, :, None]
            G = np.matmul(np.swapaxes(Y, -1, -2), Y)
            G[negative] *= -1.0
        out[index] = G
    return out


def _general_members_value(kind, members, t=None, A=None, K=None, where=None):
    """f of the general members (M, n, n) as SciPy computes it on a stack (for logm: SciPy's
    `_logm` of each member, as its public `logm` loops); errors name the members of A."""
    M, n = members.shape[0], members.shape[-1]
    if M == 0 or n == 0:
        return np.zeros(members.shape, dtype=members.dtype)
    if kind == "expm":
        return scipy.linalg.expm(members)
    name = _NAMES[kind]
    if kind == "logm":
        w = np.linalg.eigvals(members)  # (M, n): batched
        tolerance = stacked.member_tolerance(w, n)
        real = np.abs(w.imag) <= tolerance
        bad = real & (w.real <= tolerance)
        if bad.any() and A is not None:
            members_bad = bad.any(axis=-1)
            lowest = np.where(bad, w.real, np.inf).min(axis=-1)
            singular = members_bad & (lowest >= -tolerance[:, 0])
            if singular.any():
                which, verb, listed = _named_members(A, K, where, singular)
                raise np.linalg.LinAlgError(f"logm: {which} {'is' if verb == 'has' else 'are'} singular, at batch "
                                            f"index {listed}: the logarithm does not exist")
            which, verb, listed = _named_members(A, K, where, members_bad)
            raise np.linalg.LinAlgError(
                f"logm: {which} {verb} a negative real eigenvalue, at batch index {listed} (the first: "
                f"{float(lowest[members_bad][0]):.6g}): its logarithm is not real (kronvec gives real results only)")
        if A is not None:
            magnitude = np.abs(w)
            _warn_members_ill_conditioned(A, K, where, magnitude.max(axis=-1) / magnitude.min(axis=-1), members.dtype,
                                          "nearly singular (smallest |eigenvalue| against the largest)")
        logm = _scipy_logm()
        F = np.stack([logm(member) for member in members])  # (SciPy's logm loops over a stack likewise)
    elif kind == "sqrtm":
        F = scipy.linalg.sqrtm(members)
        broken = ~np.isfinite(F).all(axis=(-2, -1))
        if broken.any() and A is not None:
            which, verb, listed = _named_members(A, K, where, broken)
            raise np.linalg.LinAlgError(
                f"sqrtm: {which} {'is' if verb == 'has' else 'are'} singular without a square root, at batch index "
                f"{listed} (SciPy's Schur method breaks down)")
    else:
        F = scipy.linalg.fractional_matrix_power(members, t)
    if np.iscomplexobj(F):
        scale = np.maximum(1.0, np.abs(F.real).max(axis=(-2, -1), initial=0.0))
        complex_members = np.abs(F.imag).max(axis=(-2, -1), initial=0.0) > 1e3 * np.finfo(members.dtype).eps * scale
        if complex_members.any():
            if A is None:  # pragma: no cover (a block matrix has the eigenvalues of a checked member)
                raise np.linalg.LinAlgError(f"{name}: a member has no real {_WHAT[kind]}")
            which, verb, listed = _named_members(A, K, where, complex_members)
            raise np.linalg.LinAlgError(
                f"{name}: {which} {verb} an eigenvalue on the closed negative real axis, at batch index {listed}: "
                f"its {_WHAT[kind]} is not real (kronvec gives real results only)")
        F = F.real
    return np.ascontiguousarray(F, dtype=members.dtype)


def _block_frechet_members(kind, block, t):
    return _general_members_value(kind, block, t)


def _stack_eigh(A, spectral_members):
    """(λ, V) of the symmetric members by one batched eigh, once per call."""
    return _remembered("matrix function stack eigh", (A,), lambda: np.linalg.eigh(spectral_members, UPLO="L"))


def _stack_value(kind, A, t=None):
    members, spectral, general = _stack_split(A)
    K = members.shape[0]
    F = np.empty(members.shape, dtype=members.dtype)
    if len(spectral):
        w, V = _stack_eigh(A, members[spectral])
        w = _check_spectrum_stack(kind, w, A, K, spectral)
        F[spectral] = _gram_members(V, _scalar(kind, w, t))
    if len(general):
        F[general] = _general_members_value(kind, members[general], t, A, K, general)
    return stackfn.from_members(F, A.shape[:-2])


def _stack_operator(kind, A, ans, t=None):
    """The Jacobian of f at the stack A (plain arrays): a :class:`StackFrechetOperator`."""
    members, spectral, general = _stack_split(A)
    K, n = members.shape[0], members.shape[-1]
    V = gamma = np.zeros((0, n, n), dtype=members.dtype)
    if len(spectral):
        w, V = _stack_eigh(A, members[spectral])
        w = _check_spectrum_stack(kind, w, A, K, spectral)
        if kind == "sqrtm" and n:
            singular = w[:, 0] <= stacked.member_tolerance(w, n)[:, 0]
            if singular.any():
                which, verb, listed = _named_members(A, K, spectral, singular)
                raise np.linalg.LinAlgError(
                    f"sqrtm: {which} {'is' if verb == 'has' else 'are'} singular, at batch index {listed}: the "
                    "derivative of the square root is infinite there")
        gamma = _divided_differences(kind, w, t)
    if kind == "sqrtm" and len(general) and n:
        # D sqrtm = (I ⊗ S + Sᵀ ⊗ I)⁻¹ exists when no two eigenvalues of S sum to zero
        mu = np.linalg.eigvals(stackfn.as_members(np.asarray(ans))[general])
        pairs = np.abs(mu[:, :, None] + mu[:, None, :]).min(axis=(-2, -1))
        singular = pairs <= stacked.member_tolerance(mu, n)[:, 0]
        if singular.any():
            which, verb, listed = _named_members(A, K, general, singular)
            raise np.linalg.LinAlgError(
                f"sqrtm: {which} {'is' if verb == 'has' else 'are'} singular, at batch index {listed} (the square "
                "root has the eigenvalue 0): I ⊗ S + Sᵀ ⊗ I is singular and the derivative is infinite there")
    return stackfn.StackFrechetOperator(kind, t, K, n, spectral, V, gamma, general, members[general],
                                        members.dtype, _block_frechet_members, _NAMES[kind])


# ====================================================== the registered operations
def _as_float(A):
    A = np.asarray(A)
    return A if A.dtype.char in "fd" else A.astype(np.float64)


def _impl(kind):
    def impl(A, t=None):
        A = check_square_matrix(A, _NAMES[kind])
        if A.ndim > 2:
            return _stack_value(kind, A, t)
        if _exactly_symmetric(A):
            return _spectral_value(kind, A, t)
        return _general_value(kind, A, t)

    return impl


def _block_vjp(op, g, A, t):
    """Ā = L_f(Aᵀ, Ḡ), the (0, 1) block of f([[Aᵀ, Ḡ], [0, Aᵀ]]), with traced operations
    (np.concatenate, the operation itself and a slice): its own derivatives follow."""
    shape = tuple(np.shape(static_value(A)))
    n = shape[-1]
    At = np.swapaxes(A, -1, -2)
    zeros = np.zeros(shape, dtype=np.result_type(np.asarray(static_value(A)).dtype, np.float32))
    # (a stack: one block matrix per member, [[A_kᵀ, Ḡ_k], [0, A_kᵀ]])
    # L_f(A, ·) is linear: the block is formed with Ḡ scaled to A's size and the result scaled
    # back.  A cotangent far larger than A (an objective scaled by 1e12, p = c·sqrtm(·) of a
    # large c) otherwise dominates the block: expm's scaling and squaring then squares it into
    # a relative error of 3e-5 at 1e12, sqrtm's Schur–Sylvester solve breaks down.
    scale = decided(_block_scale, A, g)
    block = np.concatenate([np.concatenate([At, g * scale], axis=-1), np.concatenate([zeros, At], axis=-1)],
                           axis=-2)
    params = {} if t is None else {"t": t}
    return bind(op, block, **params)[..., :n, n:] / scale


def _block_scale(A, g):
    """max|A| / max|Ḡ| (1 where either is 0): the factor that brings Ḡ to A's size."""
    a = float(np.max(np.abs(A))) if np.size(A) else 0.0
    b = float(np.max(np.abs(g))) if np.size(g) else 0.0
    return np.asarray(a / b if a > 0.0 and b > 0.0 and np.isfinite(a / b) else 1.0)


def _vjp(kind):
    def vjp(g, ans, A, t=None):
        if isinstance(A, Node):  # second and higher order: the block identity, traced
            return _block_vjp(_OPERATIONS[kind], g, A, t)
        A = _as_float(A)
        if A.ndim > 2:
            if isinstance(g, Node):
                return _block_vjp(_OPERATIONS[kind], g, A, t)
            J = _stack_operator(kind, A, np.asarray(ans), t)
            G = stackfn.as_members(np.asarray(g, dtype=A.dtype))
            return stackfn.from_members(J._transpose()._apply(G[:, None])[:, 0], A.shape[:-2])
        if _exactly_symmetric(A):  # Daleckii–Krein, exact at repeated eigenvalues; linear in g
            return _spectral_cotangent(g, *_spectral_gamma(kind, A, t))
        if isinstance(g, Node):
            return _block_vjp(_OPERATIONS[kind], g, A, t)
        G = np.asarray(g, dtype=A.dtype)
        return FrechetOperator(kind, A, np.asarray(ans), t, transposed=True)._apply_one(G)

    return vjp


def _jacobian(kind):
    def jacobian(ans, A, names, t=None):
        A = _as_float(A)
        if A.ndim > 2:
            return _stack_operator(kind, A, np.asarray(ans), t)
        if _exactly_symmetric(A):
            return _spectral_jacobian(*_spectral_gamma(kind, A, t))
        return FrechetOperator(kind, A, ans, t)

    return jacobian


_FORMULAS = {
    "expm": "D expm = L_exp(A, ·) (the (0,1) block of expm([[A, E],[0, A]])); symmetric A: (V ⊗ V)·Diag(vec Γ)·"
            "(Vᵀ ⊗ Vᵀ), Γᵢⱼ = (e^λᵢ − e^λⱼ)/(λᵢ − λⱼ), e^λᵢ on ties",
    "logm": "D logm = L_log(A, ·) = L_exp(log A, ·)⁻¹; symmetric A: (V ⊗ V)·Diag(vec Γ)·(Vᵀ ⊗ Vᵀ), "
            "Γᵢⱼ = (log λᵢ − log λⱼ)/(λᵢ − λⱼ), 1/λᵢ on ties",
    "sqrtm": "D sqrtm = (I ⊗ S + Sᵀ ⊗ I)⁻¹ (one Sylvester solve); symmetric A: (V ⊗ V)·Diag(vec Γ)·(Vᵀ ⊗ Vᵀ), "
             "Γᵢⱼ = 1/(√λᵢ + √λⱼ)",
    "power": "D A^t = L_{x^t}(A, ·); symmetric A: (V ⊗ V)·Diag(vec Γ)·(Vᵀ ⊗ Vᵀ), "
             "Γᵢⱼ = (λᵢ^t − λⱼ^t)/(λᵢ − λⱼ), t·λᵢ^(t−1) on ties",
}
_REFERENCES = {
    "expm": "Higham, 'Functions of Matrices' (2008), Thm 3.6 and ch. 10; Al-Mohy & Higham, 'Computing the "
            "Fréchet derivative of the matrix exponential' (2009); Daleckii–Krein (Bhatia, 'Matrix Analysis', V.3)",
    "logm": "Higham, 'Functions of Matrices' (2008), Thm 3.6 and ch. 11; Daleckii–Krein (Bhatia, 'Matrix "
            "Analysis', V.3)",
    "sqrtm": "Higham, 'Functions of Matrices' (2008), ch. 6 (dX S + S dX = dA); Daleckii–Krein",
    "power": "Higham, 'Functions of Matrices' (2008), Thm 3.6; Higham & Lin (2011); Daleckii–Krein",
}


def _rotated(rng, values):
    """Q diag(values) Qᵀ for a random orthogonal Q, made exactly symmetric."""
    Q, _ = np.linalg.qr(rng.standard_normal((len(values), len(values))))
    A = (Q * np.asarray(values, dtype=float)) @ Q.T
    return (A + A.T) / 2


def _general_sample(rng, n, shift):
    """shift·I + a perturbation of norm ≈ ½: eigenvalues in the right half-plane near `shift`."""
    return shift * np.eye(n) + 0.5 * rng.standard_normal((n, n)) / np.sqrt(n)


def _edges(kind, t=None):
    def sample(matrix):
        return (lambda rng: _samples.Sample((matrix(rng),), {} if t is None else {"t": t}))

    edges = {
        "symmetric": sample(lambda rng: _rotated(rng, [0.5, 1.25, 2.0])),
        "diag(1, 1, 2): a double eigenvalue": sample(lambda rng: np.diag([1.0, 1.0, 2.0])),
        "rotated diag(1, 1, 2)": sample(lambda rng: _rotated(rng, [1.0, 1.0, 2.0])),
        "the identity": sample(lambda rng: np.eye(3)),
        "1×1": sample(lambda rng: np.array([[1.5]])),
    }
    if kind in ("expm", "logm", "sqrtm"):
        edges["complex eigenvalues"] = sample(lambda rng: np.array([[1.5, -0.5], [0.5, 1.5]]))
    shift = 0.0 if kind == "expm" else 2.0
    edges["a (2, 3, 3) stack"] = sample(lambda rng: np.stack([_general_sample(rng, 3, shift) for _ in range(2)]))
    edges["a (2, 1, 3, 3) stack: a symmetric and a general member"] = sample(lambda rng: np.stack(
        [_rotated(rng, [0.5, 1.25, 2.0]), _general_sample(rng, 3, shift)]).reshape(2, 1, 3, 3))
    edges["a (3, 2, 2) stack: a double eigenvalue in one member"] = sample(lambda rng: np.stack(
        [_rotated(rng, [1.0, 1.0]), _general_sample(rng, 2, shift), _rotated(rng, [0.75, 1.5])]))
    if kind == "expm":
        edges["negative and zero eigenvalues"] = sample(lambda rng: _rotated(rng, [-1.0, 0.0, 0.0]))
        edges["nilpotent"] = sample(lambda rng: np.array([[0.0, 1.0], [0.0, 0.0]]))
    return edges


def _register(kind, t=None):
    def samples(rng, n):
        A = _general_sample(rng, n, 0.0 if kind == "expm" else 2.0)
        return _samples.Sample((A,), {} if t is None else {"t": t})

    return register(Primitive(
        _impl(kind), name=f"linalg.{_NAMES[kind]}",
        vjps={0: _vjp(kind)},
        jacobians={0: _jacobian(kind)},
        label=(lambda a, t=None: derived_label(f"{_NAMES[kind]}({{}})", a)),
        formula=_FORMULAS[kind],
        reference=_REFERENCES[kind],
        samples=samples, param_names=("A",),
        edge_cases=_edges(kind, t),
        signature="(m,m)->(m,m)",
    ))


expm = _register("expm")
logm = _register("logm")
sqrtm = _register("sqrtm")
fractional_power = _register("power", t=0.3)
_OPERATIONS = {"expm": expm, "logm": logm, "sqrtm": sqrtm, "power": fractional_power}
for _op in _OPERATIONS.values():  # a stack of one member: the 2-D rules, bit for bit
    _as_one_member(_op)
del _op
fractional_power.edge_cases.update({
    "t = −0.5": lambda rng: _samples.Sample((_rotated(rng, [0.5, 1.0, 2.0]),), {"t": -0.5}),
    "t = 2.5, a double eigenvalue": lambda rng: _samples.Sample((_rotated(rng, [1.0, 1.0, 2.0]),), {"t": 2.5}),
})


# ============================================== spectral functions of symmetric A
def _funm_stack_factors(S, f, df):
    """(λ, V, Γ) of every member of the symmetric stack S as (K, n), (K, n, n), (K, n, n),
    members in vec order: one batched eigh, once per call."""
    def compute():
        w, V = np.linalg.eigh(stackfn.as_members(S), UPLO="L")
        return w, V, _divided_differences("spectral", w, f=f, df=df)

    return _remembered("funm_symmetric stack eigh", (S,), compute)


def _funm_impl(A, f, df):
    A = _symmetric_part(check_square_matrix(A, "funm_symmetric"))
    if A.ndim > 2:  # V_k f(Λ_k) V_kᵀ of every member, by one batched eigh
        w, V, _ = _funm_stack_factors(A, f, df)
        return stackfn.from_members(_gram_members(V, _scalar("spectral", w, f=f)), A.shape[:-2])
    return _spectral_value("spectral", A, f=f)


def _mT(x):
    return np.swapaxes(x, -1, -2)


def _funm_vjp(g, ans, A, f, df):
    # f(sym A): Ā = sym(V (Γ ∘ Vᵀ Ḡ V) Vᵀ), member by member on a stack
    if not isinstance(A, Node):
        S = _symmetric_part(_as_float(A))
        if S.ndim > 2:  # (V and Γ in the stack's own shape: Ḡ may be traced, in forward-over-reverse)
            _, V, gamma = _funm_stack_factors(S, f, df)
            V, gamma = stackfn.from_members(V, S.shape[:-2]), stackfn.from_members(gamma, S.shape[:-2])
            X = V @ ((_mT(V) @ g @ V) * gamma) @ _mT(V)
        else:
            X = _spectral_cotangent(g, *_spectral_gamma("spectral", S, f=f, df=df))
        return (X + _mT(X)) / 2
    # second order: V and λ traced (so f and df must be NumPy code); V has no derivative at a
    # repeated eigenvalue, where this raises LinAlgError naming the gap (the members, on a stack)
    w = bind(eigvalsh, A, UPLO="L", with_vectors=True, checked=False)
    V = bind(eigh_vectors, A, UPLO="L", checked=False)
    # (the gap check: LinAlgError at a tie, a warning near one; w itself, so that a compiled
    # replay makes the check on its own values)
    _eigen_gap_factors(w, "funm_symmetric (its second derivative, through the eigenvectors)")
    X = V @ ((_mT(V) @ g @ V) * _traced_divided_differences(w, f, df)) @ _mT(V)
    return (X + _mT(X)) / 2


def _close_pairs(w):
    """1.0 where λᵢ and λⱼ are so close that f′ at their midpoint is the better divided
    difference (the diagonal included), else 0.0: _divided_differences' rule."""
    a, b = w[..., :, None], w[..., None, :]
    close = np.abs(a - b) <= np.cbrt(np.finfo(w.dtype).eps) * np.maximum(np.abs(a), np.abs(b))
    return close.astype(w.dtype)


def _traced_divided_differences(w, f, df):
    """Γ of traced eigenvalues w (…, n), as _divided_differences computes it, so that its
    own derivative is accurate too: the quotient (f(λᵢ) − f(λⱼ))/(λᵢ − λⱼ) differentiated
    as it stands loses eps·|f|/gap² to cancellation (a Hessian wrong by 1e-5 at a gap of
    1e-6, by 10× at 1e-9); where the gap is below eps^⅓·max|λ|, Γᵢⱼ = f′((λᵢ + λⱼ)/2),
    whose derivative f″(mid)/2 (traced through `df`) is off by O(gap) only."""
    # (a decision on the values, recorded for a compiled replay: kronvec.ops._support.decided)
    close = decided(_close_pairs, w)
    a, b = w[..., :, None], w[..., None, :]
    fw = f(w)
    # where close, the quotient's denominator is 1 (its value is then discarded: finite, no 0/0)
    quotient = (fw[..., :, None] - fw[..., None, :]) / ((a - b) * (1.0 - close) + close)
    middle = (a + b) / 2
    shape = np.shape(static_value(middle))
    midpoint = np.reshape(df(np.reshape(middle, (-1,))), shape)  # (df: elementwise on a 1-D array)
    return quotient * (1.0 - close) + midpoint * close


def _funm_jacobian(ans, A, names, f, df):
    A = _symmetric_part(_as_float(A))
    if A.ndim > 2:  # block k: (V_k ⊗ V_k)·Diag(vec Γ_k)·(V_kᵀ ⊗ V_kᵀ)·½(I + K)
        _, V, gamma = _funm_stack_factors(A, f, df)
        count, n = V.shape[0], A.shape[-1]
        none = np.zeros(0, dtype=np.intp)
        J = stackfn.StackFrechetOperator("spectral", None, count, n, np.arange(count), V, gamma, none,
                                         np.zeros((0, n, n), dtype=V.dtype), V.dtype, None,
                                         getattr(f, "__name__", "f"))
        return algebra.multiply(J, stacked.member_symmetrizer(count, n, V.dtype))
    J = _spectral_jacobian(*_spectral_gamma("spectral", A, f=f, df=df))
    return algebra.multiply(J, _symmetrizer(A.shape[0], J.dtype))


def _tanh_derivative(x):
    return 1.0 - np.tanh(x) ** 2


def _symmetric_samples(rng, n):
    return _samples.Sample((_rotated(rng, np.linspace(-1.0, 1.0, n) * 1.5),), {"f": np.tanh, "df": _tanh_derivative})


funm_symmetric = register(Primitive(
    _funm_impl, name="linalg.funm_symmetric",
    vjps={0: _funm_vjp},
    jacobians={0: _funm_jacobian},
    label=lambda a, f, df: derived_label(f"{getattr(f, '__name__', 'f')}({{}})", a),
    formula="D f = (V ⊗ V)·Diag(vec Γ)·(Vᵀ ⊗ Vᵀ)·½(I + K), Γᵢⱼ = (f(λᵢ) − f(λⱼ))/(λᵢ − λⱼ), f′(λᵢ) on ties "
            "(along symmetric directions)",
    reference="Daleckii & Krein (1965); Bhatia, 'Matrix Analysis' (1997), Thm V.3.3; Higham, 'Functions of "
              "Matrices' (2008), Thm 3.11 / §3.2",
    samples=_symmetric_samples, param_names=("A",),
    edge_cases={
        "diag(1, 1, 2) (first order exact; second order refused)": lambda rng: _samples.Sample(
            (np.diag([1.0, 1.0, 2.0]),), {"f": np.exp, "df": np.exp}, max_order=1),
        "rotated double eigenvalue": lambda rng: _samples.Sample(
            (_rotated(rng, [1.0, 1.0, 2.0]),), {"f": np.tanh, "df": _tanh_derivative}, max_order=1),
        "not symmetric (the symmetric part is used)": lambda rng: _samples.Sample(
            (_rotated(rng, [0.5, 1.0, 2.0]) + 0.1 * np.triu(rng.standard_normal((3, 3)), 1),),
            {"f": np.exp, "df": np.exp}),
        "a (2, 3, 3) stack": lambda rng: _samples.Sample(
            (np.stack([_rotated(rng, [-0.5, 0.25, 1.0]), _rotated(rng, [0.5, 1.0, 2.0])]),),
            {"f": np.tanh, "df": _tanh_derivative}),
        "a (2, 1, 3, 3) stack, a double eigenvalue (first order exact; second order refused)": lambda rng:
            _samples.Sample((np.stack([_rotated(rng, [1.0, 1.0, 2.0]), _rotated(rng, [0.5, 1.0, 2.0])]).reshape(
                2, 1, 3, 3),), {"f": np.exp, "df": np.exp}, max_order=1),
    },
    signature="(m,m)->(m,m)",
))
_as_one_member(funm_symmetric)  # a stack of one member: the 2-D rule, bit for bit


# ================================================ the Fréchet derivative of expm as a function
# L(A, E) = L_exp(A, E), scipy.linalg.expm_frechet, differentiable in A and E
# (notes/derivatives.md §39).  With M = [[A, E], [0, A]], L(A, E) = [e^M]₀₁ (the block
# identity), so, M being linear in (A, E):
#
#   dL = [L_exp(M, [[dA, dE], [0, dA]])]₀₁,
#   D_E L = L_exp(A, ·)  (L is linear in E: the Jacobian of expm itself),
#   D_A L = F ↦ L²(A; E, F) = [L_exp(M, [[F, 0], [0, F]])]₀₁  (the second Fréchet derivative),
#
# and the VJPs (⟨Ḡ, [X]₀₁⟩ = ⟨[[0, Ḡ], [0, 0]], X⟩, L_exp(M, ·)ᵀ = L_exp(Mᵀ, ·)):
#
#   M̄ = L_exp(Mᵀ, [[0, Ḡ], [0, 0]]),   Ā = M̄₀₀ + M̄₁₁,   Ē = M̄₀₁ = L_exp(Aᵀ, Ḡ).
#
# Both are written with this operation itself (on Aᵀ, or on the 2n×2n Mᵀ) and traced
# concatenations and slices, so every order follows.
_FRECHET_METHODS = ("SPS", "blockEnlarge")


def _frechet_pair(A, E, function="expm_frechet"):
    A = check_square_matrix(A, function)
    E = check_square_matrix(E, function)
    if A.ndim != 2 or A.shape != E.shape:
        raise ValueError(f"{function}: needs A and E square matrices of the same shape, got A {A.shape} and "
                         f"E {E.shape}")
    return A, E


def _expm_frechet_impl(A, E, method="SPS"):
    A, E = _frechet_pair(A, E)
    # (SciPy's values: its SPS algorithm (Al-Mohy & Higham 2009, in float64) or the 2n×2n block)
    return scipy.linalg.expm_frechet(A, E, method=method, compute_expm=False, check_finite=False)


def _swap(X):
    return np.swapaxes(X, -1, -2)


def _expm_frechet_vjp_E(g, ans, A, E, method="SPS"):
    # Ē = L_exp(Aᵀ, Ḡ): L is linear in E, its adjoint is L at Aᵀ (real Taylor coefficients)
    if not isinstance(A, Node) and not isinstance(g, Node):
        A = _as_float(A)
        return scipy.linalg.expm_frechet(A.T, np.asarray(g, dtype=np.float64), compute_expm=False,
                                         check_finite=False)
    return bind(expm_frechet, _swap(A), g, method=method)


def _expm_frechet_vjp_A(g, ans, A, E, method="SPS"):
    # Ā = M̄₀₀ + M̄₁₁, M̄ = L_exp(Mᵀ, [[0, Ḡ], [0, 0]]), Mᵀ = [[Aᵀ, 0], [Eᵀ, Aᵀ]].  L(A, E) is
    # linear in E: E enters scaled to A's size and Ā is scaled back (an E far larger than A
    # would otherwise dominate the 2n×2n matrix whose exponential is taken: _block_vjp)
    n = tuple(np.shape(static_value(A)))[-1]
    scale = decided(_block_scale, A, E)
    At = _swap(A)
    dtype = np.result_type(np.asarray(static_value(A)).dtype, np.asarray(static_value(E)).dtype, np.float32)
    zeros = np.zeros((n, n), dtype=dtype)
    Mt = np.concatenate([np.concatenate([At, zeros], axis=-1),
                         np.concatenate([_swap(E) * scale, At], axis=-1)], axis=-2)
    C = np.concatenate([np.concatenate([zeros, g], axis=-1), np.concatenate([zeros, zeros], axis=-1)], axis=-2)
    if not any(isinstance(x, Node) for x in (Mt, C)):  # first order: SciPy's SPS on 2n×2n, plain
        Mbar = scipy.linalg.expm_frechet(Mt, C, compute_expm=False, check_finite=False)
    else:
        Mbar = bind(expm_frechet, Mt, C, method="SPS")
    return (Mbar[:n, :n] + Mbar[n:, n:]) / scale


class SecondFrechetOperator(StructuredOperator):
    """The Jacobian of L_exp(A, E) in A at fixed E, matrix-free: ``matvec`` applies
    vec F ↦ vec L²(A; E, F) = vec [L_exp(M, [[F, 0], [0, F]])]₀₁ with M = [[A, E], [0, A]]
    (the block identity), ``rmatvec`` vec G ↦ vec (M̄₀₀ + M̄₁₁), M̄ = L_exp(Mᵀ, [[0, G], [0, 0]]):
    one Fréchet derivative of order 2n (``scipy.linalg.expm_frechet``) for one column; for
    several, all at once through one :class:`~kronvec._linalg.expm_frechet.ExpmFrechetPlan`
    of M (of Mᵀ for the transpose), built on the first such apply and kept (the benign race
    of :class:`FrechetOperator`).  No n²×n² matrix (``notes/derivatives.md`` §39, §43)."""

    def __init__(self, A, E, transposed=False):
        self.A, self.E = frozen_copy(np.asarray(A)), frozen_copy(np.asarray(E))
        self.transposed = bool(transposed)
        n = self.n = self.A.shape[0]
        # (L² is linear in E: E enters M scaled to A's size, the result is scaled back — an E far
        # larger than A otherwise dominates M and costs digits in the scaling and squaring)
        self.scale = float(_block_scale(self.A, self.E))
        M = np.zeros((2 * n, 2 * n), dtype=np.result_type(self.A, self.E, np.float64))
        M[:n, :n] = M[n:, n:] = self.A
        M[:n, n:] = self.E * self.scale
        self.M = frozen_copy(M)
        super().__init__((n * n, n * n), M.dtype)

    def _apply_one(self, F):
        n = self.n
        D = np.zeros((2 * n, 2 * n), dtype=self.dtype)
        if self.transposed:  # [[0, G], [0, 0]] against Mᵀ; the two diagonal blocks summed
            D[:n, n:] = F
            X = scipy.linalg.expm_frechet(self.M.T, D, compute_expm=False, check_finite=False)
            return (X[:n, :n] + X[n:, n:]) / self.scale
        D[:n, :n] = D[n:, n:] = F
        return scipy.linalg.expm_frechet(self.M, D, compute_expm=False, check_finite=False)[:n, n:] / self.scale

    def _matmat(self, X):
        n = self.n
        if X.shape[1] > 1 and n:
            return self._batched_matmat(X)
        out = np.empty((n * n, X.shape[1]), dtype=np.result_type(self.dtype, X.dtype))
        for k in range(X.shape[1]):
            F = np.asarray(X[:, k].reshape(n, n, order="F"), dtype=self.dtype)
            out[:, k] = self._apply_one(F).ravel(order="F")
        return out

    def _batched_matmat(self, X):
        """The columns of X in chunks: each chunk's directions placed in 2n×2n blocks of a
        row-interleaved stack (n' = 2n), one batched Fréchet derivative, the blocks read out."""
        n, k = self.n, X.shape[1]
        plan = _lazy_plan(self, lambda: ExpmFrechetPlan(self.M.T if self.transposed else self.M))
        out = np.empty((n * n, k), dtype=np.result_type(self.dtype, X.dtype))
        target = unvec_columns(out, (n, n))
        for start, stop in _chunks(k, 2 * n):
            F = _rows_of_columns(X, n, start, stop)  # (n, c, n)
            D = np.zeros((2 * n, stop - start, 2 * n))
            if self.transposed:  # [[0, G], [0, 0]] against Mᵀ; the two diagonal blocks summed
                D[:n, :, n:] = F
                del F
                L = plan.apply_rows(D, overwrite=True)
                del D
                result = L[:n, :, :n] + L[n:, :, n:]
            else:  # [[F, 0], [0, F]] against M; the (0, 1) block
                D[:n, :, :n] = D[n:, :, n:] = F
                del F
                L = plan.apply_rows(D, overwrite=True)
                del D
                result = L[:n, :, n:]
            result /= self.scale
            target[:, :, start:stop] = result.transpose(0, 2, 1)
            del L, result
        return out

    def _column_workspace(self):
        # one column at a time: the 2n×2n direction, SciPy's Fréchet temporaries (~8 matrices of 4n²);
        # several: the copy of E, the 2n×2n directions and the plan's arrays of their size, and
        # the block read out
        return 2 * self.shape[0] + max(40, 1 + 4 * (1 + ExpmFrechetPlan.WORKSPACE) + 1) * self.n * self.n

    def _setup_nbytes(self):
        norm = max(float(np.abs(self.M).sum(axis=axis).max(initial=0.0)) for axis in (0, 1))
        return ExpmFrechetPlan.setup_entries(2 * self.n, pade_choice(norm)[1]) * 8

    @property
    def apply_cost(self):
        return 240 * self.n ** 3

    def _transpose(self):
        return SecondFrechetOperator(self.A, self.E, not self.transposed)

    def _render(self, parts, placeholders):
        return "L²_expm(A, E, ·)ᵀ" if self.transposed else "L²_expm(A, E, ·)"


def _expm_frechet_jacobian_A(ans, A, E, names, method="SPS"):
    A, E = _frechet_pair(_as_float(A), _as_float(E))
    return SecondFrechetOperator(A, E)


def _expm_frechet_jacobian_E(ans, A, E, names, method="SPS"):
    A, _ = _frechet_pair(_as_float(A), _as_float(E))
    return FrechetOperator("expm", A, None)


def _frechet_samples(rng, n):
    return (_general_sample(rng, n, 0.0), rng.standard_normal((n, n)))


def _frechet_edge(A, E, **params):
    return lambda rng: _samples.Sample((A(rng), E(rng)), params)


expm_frechet = register(Primitive(
    _expm_frechet_impl, name="linalg.expm_frechet",
    vjps={0: _expm_frechet_vjp_A, 1: _expm_frechet_vjp_E},
    jacobians={0: _expm_frechet_jacobian_A, 1: _expm_frechet_jacobian_E},
    label=lambda a, e, method="SPS": derived_label("L_expm({}, {})", a, e),
    formula="D_E = L_exp(A, ·); D_A = F ↦ L²_exp(A; E, F) = [L_exp(M, [[F, 0],[0, F]])]₀₁, M = [[A, E],[0, A]] "
            "(the block identity); Ā = M̄₀₀ + M̄₁₁, M̄ = L_exp(Mᵀ, [[0, Ḡ],[0, 0]])",
    reference="Higham, 'Functions of Matrices' (2008), Thm 3.6; Higham & Relton, 'Higher order Fréchet "
              "derivatives of matrix functions' (2014); Mathias (1996); Al-Mohy & Higham (2009), "
              "scipy.linalg.expm_frechet",
    samples=_frechet_samples, param_names=("A", "E"),
    edge_cases={
        "1×1": _frechet_edge(lambda rng: np.array([[0.7]]), lambda rng: np.array([[1.5]])),
        "symmetric A": _frechet_edge(lambda rng: _rotated(rng, [-0.5, 0.25, 1.0]),
                                     lambda rng: rng.standard_normal((3, 3))),
        "nilpotent A": _frechet_edge(lambda rng: np.array([[0.0, 1.0], [0.0, 0.0]]),
                                     lambda rng: rng.standard_normal((2, 2))),
        "complex eigenvalues": _frechet_edge(lambda rng: np.array([[0.5, -1.5], [1.5, 0.5]]),
                                             lambda rng: rng.standard_normal((2, 2))),
        "E = 0": _frechet_edge(lambda rng: _general_sample(rng, 3, 0.0), lambda rng: np.zeros((3, 3))),
        "E far larger than A": _frechet_edge(lambda rng: _general_sample(rng, 2, 0.0),
                                             lambda rng: 1e3 * rng.standard_normal((2, 2))),
        "method='blockEnlarge'": _frechet_edge(lambda rng: _general_sample(rng, 3, 0.0),
                                               lambda rng: rng.standard_normal((3, 3)), method="blockEnlarge"),
    },
    signature="(m,m),(m,m)->(m,m)",
))
