"""The symmetric eigendecomposition A = VΛVᵀ: ``np.linalg.eigh`` and ``eigvalsh``.

    dλ = diag(Vᵀ dA V)          D λ = S_diag·(Vᵀ ⊗ Vᵀ)
    dV = V (F ∘ Vᵀ dA V)        D V = (I ⊗ V)·Diag(vec F)·(Vᵀ ⊗ Vᵀ)·N

Fᵢⱼ = 1/(λⱼ − λᵢ) off the diagonal; N = ½(I + K) symmetrizes the direction
(:mod:`kronvec.ops._symmetric_directions`).  Eigenvalues tied at a repeated
eigenvalue share their derivative evenly (the derivative of their mean), exact for
every symmetric function of them; eigenvectors there have no derivative and raise
``LinAlgError`` naming the gap.  Signs are LAPACK's, as NumPy returns them.
eigvalsh's value and the eigenvectors its derivatives need come from one
tridiagonal reduction (``notes/derivatives.md`` §31).  Derivations:
``notes/derivatives.md`` §23 and §24.5 (stacks), ``notes/conventions.md`` §10.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg import lapack

from ..._config import condition_threshold
from ..._constants import frozen_copy
from ..._linalg.scope import _current as _current_scope
from ..._tracer import Node, compile_guard
from ...operators import BatchedDense, BatchedKron, Dense, Diag, Identity, Kron, Selection, algebra
from .. import _samples
from .. import _stack_factors as stacked
from .._registry import Primitive, numpy_function, register
from .._support import bind, decided, derived_label, plain_value, shape_of
from ..indexing import where as choose
from .._matrix_support import (_as_float, _as_one_member, _gram, _mT, _members, _read_only, _remembered,
                               _square_shape, _tolerance, _warn_if_ill_conditioned)
from .cholesky_factor import _gram_stack
from .._symmetric_directions import _symmetric_part, _symmetrized_product, _what_numpy_reads

__all__ = ["eigvalsh", "eigh_vectors"]

try:  # NumPy's result types (NumPy ≥ 2.0); a plain tuple elsewhere
    from numpy.linalg._linalg import EighResult
except ImportError:  # pragma: no cover
    EighResult = tuple


_EIGH, _EIGVALSH = "np.linalg.eigh", "np.linalg.eigvalsh"


def _uplo(UPLO):
    if not isinstance(UPLO, str) or UPLO.upper() not in ("L", "U"):
        raise ValueError(f"UPLO argument must be 'L' or 'U', got {UPLO!r}")
    return UPLO.upper()


def _symmetric_input(A, function, checked):
    _square_shape(A, function)
    A = _as_float(A)
    if A.ndim > 2:
        stacked.require_finite_members(A, function)
    return A if checked else _symmetric_part(A)


#: Up to this order a single matrix's eigh is SciPy's LAPACK syevd, called directly: the
#: routine np.linalg.eigh calls, with the same bits (tests/test_factorizations.py), but
#: NumPy's OpenBLAS splits its inner products across threads already at such orders, where
#: waking them costs far more than the work once the machine is busy (the module docstring
#: of kronvec._linalg.factorization; notes/derivatives.md §30).  Above it the threads pay,
#: and NumPy's result itself depends on them (its last bits differ between one and two
#: threads from n = 128 on), so NumPy computes it.
SMALL_EIGH_MAX_ORDER = 96


def _eigh_factors(A, UPLO):
    """``np.linalg.eigh(A, UPLO)`` of a symmetric A: (λ ascending, V), once per call."""
    return _remembered("eigh", (A,), lambda: _small_or_numpy_eigh(A, UPLO), UPLO)


def _small_or_numpy_eigh(A, UPLO):
    # (float64 only: NumPy's float32 eigh differs from SciPy's ssyevd in the last bits)
    if A.ndim != 2 or not 0 < A.shape[0] <= SMALL_EIGH_MAX_ORDER or A.dtype.char != "d":
        return np.linalg.eigh(A, UPLO=UPLO)
    values, vectors, info = lapack.dsyevd(A, compute_v=1, lower=int(UPLO == "L"))
    if info != 0:  # (did not converge, or a bad argument: NumPy's own call says which)
        return np.linalg.eigh(A, UPLO=UPLO)
    # (NumPy's vectors are C-ordered: the same layout, so that later products take the
    # same BLAS paths)
    return EighResult(values, np.ascontiguousarray(vectors))


class _Tridiagonal:
    """One reduction A = Q T Qᵀ (LAPACK sytrd) giving both what eigvalsh returns and the
    eigenvectors its derivatives need, for a differentiation call (``derivatives.md`` §31).

    ``np.linalg.eigvalsh`` is LAPACK's syevd without vectors: sytrd, then sterf on T's
    (d, e); ``eigh`` is syevd with vectors: sytrd, then stedc on T (Z, T = Z Λ Zᵀ) and
    ormtr (V = Q Z).  Calling both, as a call that differentiates eigvalsh did, reduced
    A twice — the reduction is most of eigvalsh's time.  Here it is done once: the
    values are sterf's on that T — the operations syevd performs, so NumPy's bits
    wherever NumPy's and SciPy's LAPACK run the same kernels (both OpenBLAS here: equal
    to the last bit, ``tests/test_factorization_memory.py``) — and the vectors, asked for
    later, stevd's Z (stedc) with Q applied (ormqr on the reflectors, what ormtr calls for
    UPLO='L'; UPLO='U' keeps NumPy's two calls: SciPy has no ormql).
    The reflectors are dropped once the vectors are made."""

    __slots__ = ("values", "_reflectors", "_d", "_e", "_tau", "_vectors")

    def __init__(self, A):
        sytrd, sytrd_lwork, sterf = lapack.get_lapack_funcs(("sytrd", "sytrd_lwork", "sterf"), (A,))
        lwork, info = sytrd_lwork(A.shape[0], lower=1)
        # (the optimal workspace: syevd's, so the same blocked reduction)
        c, d, e, tau, info = sytrd(A, lower=1, lwork=int(lwork))
        values, info = sterf(d, e)
        if info != 0:  # (sterf failed to converge: NumPy's call raises its own error)
            raise _FallBack
        self.values = values
        self._reflectors, self._d, self._e, self._tau = _packed_reflectors(c), d, e, tau
        self._vectors = None

    def vectors(self):
        """V with A = V diag(λ) Vᵀ (orthonormal columns in the order of the values), once."""
        if self._vectors is None:
            self._vectors = _read_only(self._compute_vectors())
        return self._vectors

    def _compute_vectors(self):
        # V = Q Z, T = Z Λ Zᵀ (stevd: divide and conquer, as syevd), Q = diag(1, Q̃) with Q̃
        # the n − 1 reflectors sytrd left below the subdiagonal. Memory, in n² arrays beside
        # the call's copy of A: stevd needs an n² workspace beside Z, so the reflectors wait
        # packed (½) until it is done; then Q is applied to all of Z in place (the last n − 1
        # rows ormtr would pass are not contiguous: f2py would copy them) — 3.5 at the peak,
        # where the unpacked reflectors and that copy made 4.
        n = self._d.size
        stevd, ormqr = lapack.get_lapack_funcs(("stevd", "ormqr"), (self._d,))
        _, Z, info = stevd(self._d, self._e, compute_v=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"{_EIGVALSH}: the eigenvectors did not converge (LAPACK stevd info {info})")
        packed, self._reflectors = self._reflectors, None
        reflectors = _unpacked_reflectors(packed, n)
        del packed
        tau = np.concatenate((np.zeros(1, dtype=self._tau.dtype), self._tau[:n - 1]))
        # ormqr's largest blocked workspace, n·nb + (nb + 1)·nb with its block size nb ≤ 64
        # (a workspace query would copy the n×n Z for nothing)
        V, _, info = ormqr("L", "N", reflectors, tau, Z, lwork=n * 64 + 65 * 64, overwrite_c=1)
        if info != 0:  # pragma: no cover (argument errors only)
            raise np.linalg.LinAlgError(f"{_EIGVALSH}: applying the reflectors failed (LAPACK info {info})")
        return V


def _packed_reflectors(c):
    """The reflectors sytrd (lower) leaves in c, packed: reflector i's entries below its
    implicit unit, c[i + 2:, i], one after another (half of c's numbers)."""
    n = c.shape[0]
    packed = np.empty(max((n - 1) * (n - 2) // 2, 0), dtype=c.dtype)
    start = 0
    for i in range(n - 2):
        stop = start + n - 2 - i
        packed[start:stop] = c[i + 2:, i]
        start = stop
    return packed


def _unpacked_reflectors(packed, n):
    """diag(1, Q̃) as n reflectors in ormqr's layout (F-ordered n×n, reflector j's unit at
    row j, its entries below): reflector 0 is the identity (τ₀ = 0, a zero column), and
    reflector i + 1 is Q̃'s reflector i, whose unit sits at row i + 1 — sytrd's column i,
    one column to the right. The triangle above the units stays zero (never read)."""
    reflectors = np.zeros((n, n), dtype=packed.dtype, order="F")
    start = 0
    for i in range(n - 2):
        stop = start + n - 2 - i
        reflectors[i + 2:, i + 1] = packed[start:stop]
        start = stop
    return reflectors


class _FallBack(Exception):
    """The shared reduction gave no values (sterf did not converge): NumPy's own call decides."""


def _tridiagonal(A, UPLO):
    """The shared reduction of a 2-D symmetric A inside a differentiation call, or None:
    outside one (nothing will ask for the vectors), for a stack or an order below 2, for
    UPLO='U' and float32, and for an A whose largest entry syevd would first scale
    (below √(tiny/eps) or above its inverse: the bits would not be NumPy's)."""
    if _current_scope.get() is None or A.ndim != 2 or A.shape[0] < 2 or UPLO != "L" or A.dtype != np.float64:
        # (UPLO='U': SciPy has no ormql to apply the upper reflectors; float32: NumPy's
        # linalg computes in float64 and rounds the result)
        return None
    info = np.finfo(A.dtype)
    low = math.sqrt(float(info.tiny) / float(info.eps))
    top = float(np.max(np.abs(A)))
    if not (low < top < 1.0 / low):  # (NaN, 0 and the scaled range go to NumPy)
        return None

    def compute():
        try:
            return _Tridiagonal(A)
        except _FallBack:
            return None

    return _remembered("tridiagonal", (A,), compute, UPLO)


def _eigvalsh_vectors(A, UPLO):
    """The eigenvectors eigvalsh's derivatives need: from the call's shared reduction when
    its value came from one, else from ``np.linalg.eigh``."""
    shared = _remembered_tridiagonal(A, UPLO)
    return _eigh_factors(A, UPLO)[1] if shared is None else shared.vectors()


def _remembered_tridiagonal(A, UPLO):
    scope = _current_scope.get()
    if scope is None:
        return None
    entry = scope.factorizations.get(("tridiagonal", id(A), UPLO))
    return entry[1] if entry is not None and entry[0][0] is A else None


def _eigvalsh_impl(A, UPLO="L", with_vectors=False, checked=False):
    A = _symmetric_input(A, _EIGH if with_vectors else _EIGVALSH, checked)
    if with_vectors:  # (eigh's eigenvalues: they differ from eigvalsh's in the last bits)
        return _eigh_factors(A, UPLO)[0]
    shared = _tridiagonal(A, UPLO)
    if shared is not None:
        return shared.values.copy()
    return np.linalg.eigvalsh(A, UPLO=UPLO)


def _clusters(w):
    """(start, stop) of each run of eigenvalues equal to working precision (w ascending)."""
    w = np.asarray(w)
    if w.size < 2:
        return []
    tied = np.diff(w) <= _tolerance(w, w.size)
    if not tied.any():
        return []
    runs, start = [], None
    for k, t in enumerate(tied):
        if t and start is None:
            start = k
        elif not t and start is not None:
            runs.append((start, k + 1))
            start = None
    if start is not None:
        runs.append((start, w.size))
    return runs


def _tie_averaging(w):
    """The matrix M averaging the entries of each cluster of tied eigenvalues (None without ties):
    tied eigenvalues share their derivative evenly, the derivative of their mean.  For a stack
    of eigenvalue vectors (…, n), one M per member (…, n, n), built for all members at once:
    the clusters are runs of ties, labelled by a cumulative count of the gaps that are not ties."""
    plain = np.asarray(plain_value(w))
    n = plain.shape[-1] if plain.ndim else 1
    if plain.ndim <= 1:
        runs = _clusters(plain)
        if not runs:
            return None
        M = np.eye(n)
        for start, stop in runs:
            M[start:stop, start:stop] = 1.0 / (stop - start)
        return M
    if n < 2:
        return None
    tied = np.diff(plain, axis=-1) <= stacked.member_tolerance(plain, n)
    if not tied.any():
        return None
    labels = np.concatenate((np.zeros(plain.shape[:-1] + (1,), dtype=np.intp),
                             np.cumsum(~tied, axis=-1)), axis=-1)
    same = labels[..., :, None] == labels[..., None, :]
    return same / np.count_nonzero(same, axis=-1)[..., None]


def _tie_averaging_or_identity(w):
    w = np.asarray(w)
    M = _tie_averaging(w)
    if M is not None:
        return M
    n = w.shape[-1] if w.ndim else 1
    identity = np.eye(n, dtype=w.dtype if w.dtype.kind == "f" else np.float64)
    return np.broadcast_to(identity, w.shape[:-1] + (n, n)).copy() if w.ndim > 1 else identity


def _averaged(g, M):
    """The cotangent averaged over each cluster of ties: g M (M symmetric), member by member."""
    if len(shape_of(M)) == 2:
        return g @ M
    return np.matmul(M, np.expand_dims(g, -1))[..., 0]


def _eigvalsh_vjp(g, w, A, UPLO="L", with_vectors=False, checked=False):
    # dλᵢ = vᵢᵀ dA vᵢ ⇒ Ā = V diag(λ̄) Vᵀ (symmetric: dλ only sees sym(dA))
    if isinstance(w, Node) and compile_guard(w) is not None:
        # a traced VJP in a recording made for replay (hvp): the tie test is recorded and
        # every replay averages (by the identity where nothing ties: the same numbers)
        g = _averaged(g, decided(_tie_averaging_or_identity, w))
    else:
        M = _tie_averaging(w)
        if M is not None:
            g = _averaged(g, M)
    if isinstance(A, Node) or isinstance(g, Node):
        V = bind(eigh_vectors, A, UPLO=UPLO, checked=checked) if isinstance(A, Node) else \
            _eigvalsh_vectors(_symmetric_input(A, _EIGH, checked), UPLO)
        return (V * np.expand_dims(g, -2)) @ _mT(V)
    V = _eigvalsh_vectors(_symmetric_input(A, _EIGH, checked), UPLO)
    if V.ndim > 2:  # V_k diag(λ̄_k) V_kᵀ for every member
        return _gram_stack(_mT(V), np.asarray(g))
    return _gram(V.T, np.asarray(g))


def _eigvalsh_jacobian(w, A, names, UPLO="L", with_vectors=False, checked=False):
    V = _eigvalsh_vectors(_symmetric_input(A, _EIGH, checked), UPLO)
    n = V.shape[-1]
    M = _tie_averaging(w)
    if V.ndim > 2:  # block k: S_diag·(V_kᵀ ⊗ V_kᵀ) (§24.5)
        Vt = _members(_mT(V))
        J = algebra.multiply(stacked.member_diagonal(Vt.shape[0], n, V.dtype),
                             BatchedKron(Vt, Vt, name="blockdiag(Vₖᵀ ⊗ Vₖᵀ)"))
        return J if M is None else algebra.multiply(BatchedDense(_members(M), name="blockdiag(Mₖ)"), J)
    J = algebra.multiply(Selection(np.arange(n) * (n + 1), n * n), Kron(Dense(V.T), Dense(V.T)))
    return J if M is None else algebra.multiply(Dense(M), J)


def _symmetric_samples(rng, n):
    """A symmetric matrix with eigenvalues spread over [1, 2]·n (gaps of order 1)."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = (Q * np.linspace(1.0, 2.0, n) * n) @ Q.T
    return ((A + A.T) / 2,)


def _spread_spectrum(Y):
    """diag(0, 1, …, p−1) + tanh(YYᵀ)/(4p): symmetric, its eigenvalues at least ½ apart
    (Weyl: the perturbation's norm is at most ¼), smooth in Y (fuzzing templates)."""
    p = Y.shape[0]
    return np.diag(np.arange(p, dtype=float)) + np.tanh(Y @ Y.T) / (4 * p)


def _double_eigenvalue(rng):
    Q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    A = (Q * [1.0, 1.0, 2.0]) @ Q.T
    return _samples.Sample(((A + A.T) / 2,), max_order=1)


eigvalsh = register(Primitive(
    _eigvalsh_impl, name="linalg.eigvalsh",
    vjps={0: _eigvalsh_vjp},
    jacobians={0: _eigvalsh_jacobian},
    label=lambda a, **params: derived_label("λ({})", a),
    formula="D λ = S_diag·(Vᵀ ⊗ Vᵀ): dλᵢ = vᵢᵀ dA vᵢ; tied eigenvalues share the mean of theirs",
    reference="Magnus–Neudecker ch. 8 (the differential of a simple eigenvalue); Giles 2008",
    samples=_symmetric_samples, param_names=("A",),
    edge_cases={
        "1×1": lambda rng: (np.array([[-1.5]]),),
        "eigh's eigenvalues, UPLO='U'": lambda rng: _samples.Sample(
            _symmetric_samples(rng, 3), {"UPLO": "U", "with_vectors": True}),
        "not symmetric (the symmetric part is used)": lambda rng: (
            _symmetric_samples(rng, 3)[0] + 0.1 * np.tril(rng.standard_normal((3, 3)), -1),),
        "a double eigenvalue (each gets the mean derivative)": _double_eigenvalue,
        "a (2, 3, 3) stack": lambda rng: (_samples.stack_of(lambda r: _symmetric_samples(r, 3)[0], rng, (2,)),),
        "a stack, a double eigenvalue in one member": lambda rng: _samples.Sample((np.stack(
            [_symmetric_samples(rng, 3)[0], _double_eigenvalue(rng).args[0]]),), max_order=1),
    },
    fuzz=lambda Y, c: np.linalg.eigvalsh(_spread_spectrum(Y)) * np.ones((Y.shape[0], 1)),
    signature="(m,m)->(m)",
))


def _eigen_gap_factors(w, operation, squares=False, scale=None):
    """F with Fᵢⱼ = 1/(λⱼ − λᵢ) off the diagonal (or 1/(σⱼ² − σᵢ²) for singular values,
    `squares`), 0 on it.  At a repeated eigen/singular value the vectors are not unique:
    LinAlgError naming the gap; a nearly repeated one warns."""
    if isinstance(w, Node) and compile_guard(w) is not None:
        # a traced VJP in a recording made for replay (hvp): the gap check is recorded (each
        # replay makes it on its own values), F is traced arithmetic the values do not shape
        decided(functools.partial(_gap_check, operation=operation, squares=squares), w)
        shape = shape_of(w)
        k = shape[-1]
        values = _squared(w, scale) if squares else w
        off = np.broadcast_to(~np.eye(k, dtype=bool), tuple(shape[:-1]) + (k, k))
        difference = np.expand_dims(values, -2) - np.expand_dims(values, -1)
        return off / bind(choose, difference, 1.0, condition=frozen_copy(off))
    plain = np.asarray(plain_value(w))
    if plain.ndim > 1:
        return _eigen_gap_factors_stack(w, plain, operation, squares, scale)
    k = plain.size
    if k > 1:
        gaps = plain[1:] - plain[:-1]
        gap = gaps.min()
        if gap >= 0:  # ascending, as eigh returns them: no sort (the positions are the indices),
            order = None  # and the largest |λ| is at one end
            scale = max(abs(float(plain[0])), abs(float(plain[-1])))
        else:
            order = np.argsort(plain, kind="stable")
            gaps = np.diff(plain[order])
            gap = gaps.min()
            scale = float(np.max(np.abs(plain)))
        gap = float(gap)
        tolerance = k * float(np.finfo(plain.dtype if plain.dtype.kind == "f" else np.float64).eps) * scale
        threshold = condition_threshold(plain.dtype)
        if gap <= tolerance or (threshold is not None and scale / gap > threshold):
            # (the messages are written only when one is given: formatting them took a
            # tenth of eigh's Jacobian build at n = 32; so is the position of the gap)
            i = int(np.argmin(gaps))
            if order is None:
                order = np.arange(k)
            low, high = plain[order[i]], plain[order[i + 1]]
            what = "singular values σ" if squares else "eigenvalues λ"
            vectors, values = ("singular vectors", "singular values") if squares else ("eigenvectors", "eigenvalues")
            positions = (int(order[i]) + 1, int(order[i + 1]) + 1)
            if gap <= tolerance:
                raise np.linalg.LinAlgError(
                    f"{operation}: repeated {what}{positions[0]} = {low:.6g} and {what[-1]}{positions[1]} = "
                    f"{high:.6g} (gap {gap:.3g} ≤ {tolerance:.3g}): the {vectors} are not unique there and have "
                    f"no derivative (functions of the {values} alone do)")
            _warn_if_ill_conditioned(scale / gap, plain.dtype, f"{operation}: nearly repeated {what}{positions[0]} = "
                                     f"{low:.6g} and {what[-1]}{positions[1]} = {high:.6g} (gap {gap:.3g}); the "
                                     "vectors' derivatives scale like 1/gap")
    values = _squared(w, scale) if squares else w
    if isinstance(w, Node):
        off = ~np.eye(k, dtype=bool)
        difference = values[None, :] - values[:, None]
        return off / bind(choose, difference, 1.0, condition=frozen_copy(off))
    difference = values[None, :] - values[:, None]  # (a new array: its diagonal is ours to set)
    np.fill_diagonal(difference, 1.0)
    F = np.divide(1.0, difference, out=difference)
    np.fill_diagonal(F, 0.0)
    return F


def _squared(w, scale):
    """(w/scale)²: the squares of singular values divided by a constant scale² (the largest
    σ), which keeps σ² from overflowing (σ ≳ 1e154) or underflowing (σ ≲ 1e-154) — NaN in
    every singular-vector derivative there, although the SVD is smooth."""
    if scale is None:
        return w * w
    w = w / scale
    return w * w


def _gap_check(w, operation, squares):
    """The checks of :func:`_eigen_gap_factors` alone (raise or warn), on plain values."""
    _eigen_gap_factors(np.asarray(w), operation, squares)
    return np.zeros(())


def _eigen_gap_factors_stack(w, plain, operation, squares, scale=None):
    """F of every member of a stack of eigen/singular values (…, k): (…, k, k).  Members
    with a repeated value raise one LinAlgError naming them (the first few, and the first
    one's values); nearly repeated ones give one warning naming how many."""
    k = plain.shape[-1]
    what = "singular values" if squares else "eigenvalues"
    vectors = "singular vectors" if squares else "eigenvectors"
    if k > 1:
        ordered = np.sort(plain, axis=-1)
        gaps = np.diff(ordered, axis=-1)
        smallest = gaps.min(axis=-1)
        tied = smallest <= stacked.member_tolerance(plain, k)[..., 0]
        if tied.any():
            first = tuple(int(i) for i in np.argwhere(tied)[0])
            i = int(np.argmin(gaps[first]))
            raise np.linalg.LinAlgError(
                f"{operation}: {stacked.member_count(tied)} of the stack of shape {plain.shape[:-1]} (batch) "
                f"{'has' if np.count_nonzero(tied) == 1 else 'have'} repeated {what}, at batch index "
                f"{stacked.member_list(tied)} (the first: {ordered[first][i]:.6g} and {ordered[first][i + 1]:.6g}, "
                f"gap {gaps[first][i]:.3g}): the {vectors} are not unique there and have no derivative "
                f"(functions of the {what} alone do)")
        threshold = condition_threshold(plain.dtype)
        if threshold is not None:
            with np.errstate(divide="ignore"):
                near = np.max(np.abs(plain), axis=-1) / smallest > threshold
            if near.any():
                _warn_if_ill_conditioned(
                    np.inf, plain.dtype, f"{operation}: {stacked.member_count(near)} of the stack "
                    f"(batch index {stacked.member_list(near)}) {'has' if np.count_nonzero(near) == 1 else 'have'} "
                    f"nearly repeated {what}; the vectors' derivatives scale like 1/gap")
    values = _squared(w, scale) if squares else w
    off = np.broadcast_to(~np.eye(k, dtype=bool), plain.shape + (k,))
    difference = np.expand_dims(values, -2) - np.expand_dims(values, -1)
    if isinstance(w, Node):
        return off / bind(choose, difference, 1.0, condition=frozen_copy(off))
    return np.where(off, 1.0 / np.where(off, difference, 1.0), 0.0)


def _eigh_vectors_impl(A, UPLO="L", checked=False):
    return _eigh_factors(_symmetric_input(A, _EIGH, checked), UPLO)[1]


def _eigh_vectors_vjp(g, V, A, UPLO="L", checked=False):
    # dV = V (F ∘ Vᵀ dA V) ⇒ Ā = sym(V (F ∘ VᵀV̄) Vᵀ)
    if isinstance(A, Node):
        w = bind(eigvalsh, A, UPLO=UPLO, with_vectors=True, checked=checked)
    else:
        w = _eigh_factors(_symmetric_input(A, _EIGH, checked), UPLO)[0]
    F = _eigen_gap_factors(w, _EIGH)
    X = V @ ((_mT(V) @ g) * F) @ _mT(V)
    return (X + _mT(X)) / 2


def _eigh_vectors_jacobian(V, A, names, UPLO="L", checked=False):
    w, V = _eigh_factors(_symmetric_input(A, _EIGH, checked), UPLO)
    n = V.shape[-1]
    F = _eigen_gap_factors(w, _EIGH)
    if V.ndim > 2:  # block k: (I ⊗ V_k)·Diag(vec F_k)·(V_kᵀ ⊗ V_kᵀ)·N (§24.5)
        Vm = _members(V)
        K = Vm.shape[0]
        Vt = np.swapaxes(Vm, -1, -2)
        return algebra.multiply(BatchedKron(n, Vm, name="blockdiag(I ⊗ Vₖ)"), algebra.multiply(
            stacked.member_mask(_members(F), K), algebra.multiply(
                BatchedKron(Vt, Vt, name="blockdiag(Vₖᵀ ⊗ Vₖᵀ)"), stacked.member_symmetrizer(K, n, V.dtype))))
    # vec F without a copy: F is antisymmetric, so −F is Fᵀ and its rows (C order) are vec F;
    # negated in place (exact; F is this call's own array) and frozen, Diag keeps it as it is
    # (vec(F) and Diag's copy of it were two more n² arrays at the build's peak)
    np.negative(F, out=F)
    np.fill_diagonal(F, 0.0)  # (+0, as F had)
    F.flags.writeable = False
    Vt = Dense(V.T)  # (one operator for both factors, as Cholesky's Kron(W, W))
    return _symmetrized_product(n, Kron(Identity(n, V.dtype), Dense(V)), Diag(F.reshape(-1)), Kron(Vt, Vt))


eigh_vectors = register(Primitive(
    _eigh_vectors_impl, name="linalg.eigh_vectors",
    vjps={0: _eigh_vectors_vjp},
    jacobians={0: _eigh_vectors_jacobian},
    label=lambda a, **params: None,
    formula="D V = (I ⊗ V)·Diag(vec F)·(Vᵀ ⊗ Vᵀ)·½(I + K), Fᵢⱼ = 1/(λⱼ − λᵢ) (i ≠ j), 0 on the diagonal",
    reference="Magnus–Neudecker ch. 8 (the differential of an eigenvector); Giles 2008; JAX eigh_jvp_rule",
    samples=_symmetric_samples, param_names=("A",),
    edge_cases={
        "UPLO='U'": lambda rng: _samples.Sample(_symmetric_samples(rng, 3), {"UPLO": "U"}),
        "not symmetric (the symmetric part is used)": lambda rng: (
            _symmetric_samples(rng, 3)[0] + 0.1 * np.triu(rng.standard_normal((3, 3)), 1),),
        "a (2, 1, 3, 3) stack": lambda rng: (_samples.stack_of(lambda r: _symmetric_samples(r, 3)[0], rng, (2, 1)),),
    },
    fuzz=lambda Y, c: np.linalg.eigh(_spread_spectrum(Y))[1],
    signature="(m,m)->(m,m)",
))


@numpy_function(np.linalg.eigh)
def _eigh(a, UPLO="L"):
    UPLO = _uplo(UPLO)
    _square_shape(a, _EIGH)
    read = _what_numpy_reads(a, lower=UPLO == "L")
    return EighResult(bind(eigvalsh, read, UPLO=UPLO, with_vectors=True, checked=True),
                      bind(eigh_vectors, read, UPLO=UPLO, checked=True))


@numpy_function(np.linalg.eigvalsh)
def _eigvalsh(a, UPLO="L"):
    UPLO = _uplo(UPLO)
    _square_shape(a, _EIGVALSH)
    return bind(eigvalsh, _what_numpy_reads(a, lower=UPLO == "L"), UPLO=UPLO, checked=True)


for _op in (eigvalsh, eigh_vectors):
    _as_one_member(_op)
del _op
