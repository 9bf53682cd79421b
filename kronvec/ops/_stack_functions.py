"""Matrix functions of stacks of matrices (…, n, n): what their rules share.

``expm``, ``logm``, ``sqrtm`` and fractional powers of a stack act member by
member (``notes/conventions.md`` §11).  Each member takes the path its 2-D rule
takes (``kronvec/ops/matrix_functions.py``): an exactly symmetric member the
spectral (Daleckii–Krein) path, every other member the general one.  This module
does both for all members of a path at once:

* the spectral members by one batched ``eigh``: F_k = V_k f(Λ_k) V_kᵀ and
  L_f(A_k, E) = V_k (Γ_k ∘ V_kᵀ E V_k) V_kᵀ with batched products;
* the general members' values by SciPy on the sub-stack (SciPy's batched
  result: its ``sqrtm`` runs the whole stack in C, its ``expm``, ``logm`` and
  ``fractional_matrix_power`` loop over the members inside SciPy);
* the general members' Fréchet derivatives: for expm by Al-Mohy & Higham's
  differentiated scaling and squaring (:func:`expm_frechet_stack`), what depends on
  A_k alone computed once per member; for the others by the block identity
  f([[A, E], [0, A]]) = [[f(A), L_f(A, E)], [0, f(A)]] (Higham 2008, Thm 3.6) on
  a stack of 2n×2n block matrices, one per member and direction: for logm by
  batched inverse scaling and squaring (:func:`logm_stack`), for sqrtm by SciPy's
  batched square root — every step a batched product, solve or square root over all
  members, no loop over members — and for fractional powers (general members reach
  them only through the primitive itself or the block identity of its second
  derivative) by SciPy's ``fractional_matrix_power``, which loops over them.

The Jacobian of a stack is :class:`StackFrechetOperator`, a batched block
operator (block k = L_f(A_k, ·)) in the stack layout; errors name the members.
Derivations: ``notes/derivatives.md`` §26.1.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg

from .._constants import frozen_copy
from .._vec import stack_members, unvec_stack_columns, vec_stack_columns
from ..operators.batched import _BatchedBlocks
from . import _stack_factors as stacked

__all__ = ["expm_stack", "expm_frechet_stack", "logm_stack", "frechet_stack", "StackFrechetOperator",
           "batch_flags"]


# ------------------------------------------------------------------ batched expm
#: Padé [13/13] coefficients and the 1-norm bound θ₁₃ below which it is accurate to unit
#: roundoff in double precision (Higham 2005, "The scaling and squaring method for the
#: matrix exponential revisited", Table 2.3 and Algorithm 2.3).
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm_stack(A):
    """e^{A_k} of every member of a stack (M, m, m), all members at once.

    Scaling and squaring with the [13/13] Padé approximant (Higham 2005): member k
    is scaled by 2^{-s_k}, s_k = max(0, ⌈log₂(‖A_k‖₁/θ₁₃)⌉), so that the approximant
    is accurate to unit roundoff; r₁₃ = (V − U)⁻¹(V + U) by one batched solve; then
    squared s_k times (members needing fewer squarings drop out of the later ones).
    Every step is a batched product or solve over the members.  Used for Fréchet
    derivatives (the block identity), not for values: the values are SciPy's.
    """
    A = np.asarray(A)
    m = A.shape[-1]
    if A.shape[0] == 0 or m == 0:
        return np.zeros(A.shape, dtype=A.dtype)
    norms = np.abs(A).sum(axis=-2).max(axis=-1)
    with np.errstate(divide="ignore"):
        s = np.maximum(0, np.ceil(np.log2(norms / _THETA13))).astype(np.int64)
    s[~np.isfinite(norms)] = 0  # (callers check finiteness; keeps the squaring count finite)
    A = A * np.ldexp(1.0, -s)[:, None, None]
    b = _PADE13
    eye = np.eye(m, dtype=A.dtype)
    A2 = np.matmul(A, A)
    A4 = np.matmul(A2, A2)
    A6 = np.matmul(A4, A2)
    U = np.matmul(A, np.matmul(A6, b[13] * A6 + b[11] * A4 + b[9] * A2)
                  + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)
    V = np.matmul(A6, b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye
    R = np.linalg.solve(V - U, V + U)
    for step in range(int(s.max(initial=0))):
        squared = np.flatnonzero(s > step)
        if len(squared) == len(R):
            R = np.matmul(R, R)
        else:
            R[squared] = np.matmul(R[squared], R[squared])
    return R


def expm_frechet_stack(A, E):
    """L_exp(A_k, E_{k,c}) for a stack A (M, m, m) and directions E (M, c, m, m).

    Al-Mohy & Higham (2009), Algorithm 6.4 with the [13/13] approximant throughout:
    the Fréchet derivative of r₁₃ and of the squarings, L(X², E) = X L + L X.  What
    depends on A_k alone (its powers, U, V, (V − U)⁻¹, the squarings of r₁₃) is
    computed once per member and shared by all of its directions — so ``blocks()``
    costs one exponential per member plus about a dozen n×n products per direction,
    where the block identity costs a 2n×2n exponential per direction.  Every step is
    batched over members and directions.
    """
    A, E = np.asarray(A), np.asarray(E)
    M, m = A.shape[0], A.shape[-1]
    dtype = np.result_type(A, E, np.float64)
    if M == 0 or m == 0 or E.shape[1] == 0:
        return np.zeros(E.shape, dtype=dtype)
    norms = np.abs(A).sum(axis=-2).max(axis=-1)
    with np.errstate(divide="ignore"):
        s = np.maximum(0, np.ceil(np.log2(norms / _THETA13))).astype(np.int64)
    s[~np.isfinite(norms)] = 0
    scale = np.ldexp(1.0, -s)
    A = A * scale[:, None, None]
    E = E * scale[:, None, None, None]
    b = _PADE13
    eye = np.eye(m, dtype=dtype)
    A2 = np.matmul(A, A)
    A4 = np.matmul(A2, A2)
    A6 = np.matmul(A4, A2)
    W1 = b[13] * A6 + b[11] * A4 + b[9] * A2
    W2 = b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye
    Z1 = b[12] * A6 + b[10] * A4 + b[8] * A2
    Z2 = b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye
    W = np.matmul(A6, W1) + W2
    U = np.matmul(A, W)
    V = np.matmul(A6, Z1) + Z2
    # (one inverse per member, shared by its directions; q₁₃(A) = V − U is well conditioned
    # for ‖A‖₁ ≤ θ₁₃, Higham 2005 §2)
    P = np.linalg.inv(V - U)
    R = np.matmul(P, V + U)
    a, a2, a4, a6 = A[:, None], A2[:, None], A4[:, None], A6[:, None]
    M2 = np.matmul(a, E) + np.matmul(E, a)
    M4 = np.matmul(a2, M2) + np.matmul(M2, a2)
    M6 = np.matmul(a4, M2) + np.matmul(M4, a2)
    Lw = np.matmul(a6, b[13] * M6 + b[11] * M4 + b[9] * M2) + np.matmul(M6, W1[:, None]) \
        + (b[7] * M6 + b[5] * M4 + b[3] * M2)
    Lu = np.matmul(a, Lw) + np.matmul(E, W[:, None])
    Lv = np.matmul(a6, b[12] * M6 + b[10] * M4 + b[8] * M2) + np.matmul(M6, Z1[:, None]) \
        + (b[6] * M6 + b[4] * M4 + b[2] * M2)
    L = np.matmul(P[:, None], Lu + Lv + np.matmul(Lu - Lv, R[:, None]))
    for step in range(int(s.max(initial=0))):  # L(X², ·) = X L + L X, then X ← X²
        squared = np.flatnonzero(s > step)
        Rs = R[squared][:, None]
        L[squared] = np.matmul(Rs, L[squared]) + np.matmul(L[squared], Rs)
        R[squared] = np.matmul(R[squared], R[squared])
    return L


# ------------------------------------------------------------------ batched logm
def _gauss_legendre(count):
    nodes, weights = np.polynomial.legendre.leggauss(count)
    nodes, weights = (nodes + 1) / 2, weights / 2  # on [0, 1]
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


#: log(I + Y) = ∫₀¹ Y (I + tY)⁻¹ dt (Higham 2008, (11.1)) by 8-point Gauss–Legendre: the
#: [8/8] Padé approximant in partial fractions (Higham 2008, Thm 11.6), whose error at
#: ‖Y‖₁ ≤ ¼ is far below unit roundoff.
_LOG_NODES, _LOG_WEIGHTS = _gauss_legendre(8)
_LOG_RADIUS = 0.25
_MAX_ROOTS = 64


def logm_stack(A):
    """log A_k of every member of a stack (M, m, m) (no eigenvalue on the closed negative
    real axis), all members at once: inverse scaling and squaring (Higham 2008, Alg. 11.10
    in its simplest form).  Square roots (SciPy's batched ``sqrtm``, one C call per round)
    until ‖X_k − I‖₁ ≤ ¼, member k after s_k of them; then log X_k by the partial-fraction
    Padé approximant (batched solves), times 2^{s_k}.  Used for Fréchet derivatives (the
    block identity); the values are SciPy's.
    """
    X = np.array(A, dtype=np.result_type(A, np.float64))
    M, m = X.shape[0], X.shape[-1]
    if M == 0 or m == 0:
        return np.zeros(X.shape, dtype=X.dtype)
    eye = np.eye(m, dtype=X.dtype)
    roots = np.zeros(M, dtype=np.int64)
    for _ in range(_MAX_ROOTS):
        need = np.flatnonzero(np.abs(X - eye).sum(axis=-2).max(axis=-1) > _LOG_RADIUS)
        if not len(need):
            break
        R = _quiet_sqrtm(X[need])
        X[need] = R.real if np.iscomplexobj(R) else R
        roots[need] += 1
    Y = X - eye
    L = np.zeros(X.shape, dtype=X.dtype)
    for node, weight in zip(_LOG_NODES, _LOG_WEIGHTS):
        L += weight * np.linalg.solve(eye + node * Y, Y)  # Y (I + tY)⁻¹ = (I + tY)⁻¹ Y: they commute
    return L * np.ldexp(1.0, roots)[:, None, None]


def _quiet_sqrtm(X):
    """``scipy.linalg.sqrtm(X)`` for a float stack (…, m, m), m ≥ 2, without its
    LinAlgWarning: the block matrices of the Fréchet identity have double eigenvalues by
    construction, and the members' own conditions are checked and reported by kronvec.

    SciPy's Schur kernel is called directly (it returns the flags sqrtm turns into the
    warning).  ``warnings.catch_warnings`` would do it too, but it edits the process-wide
    filter list: while one thread sat inside it, every thread's LinAlgWarnings (kronvec's
    IllConditionedWarning among them) would be lost — a call must share nothing (DESIGN §8).
    Where this SciPy has no such kernel, its public function (and its warning) is used.
    """
    kernel = _schur_sqrtm()
    if kernel is None or X.shape[-1] < 2 or X.dtype.char not in "fdFD":
        return scipy.linalg.sqrtm(X)
    root, _ill_conditioned, _singular, info = kernel(X)
    if info < 0:  # (SciPy raises the same for an internal error)
        raise np.linalg.LinAlgError(f"sqrtm: internal error {info} in SciPy's Schur square root")
    return root


@functools.lru_cache(maxsize=None)
def _schur_sqrtm():
    try:
        from scipy.linalg._matfuncs_schur_sqrtm import recursive_schur_sqrtm
    except ImportError:  # pragma: no cover - another SciPy layout: the public function
        return None
    return recursive_schur_sqrtm


# ------------------------------------------------------------- the block identity
def _block_stack(A, E):
    """[[A_k, E_k], [0, A_k]] for stacks A and E of equal shape (M, m, m)."""
    M, m = A.shape[0], A.shape[-1]
    block = np.zeros((M, 2 * m, 2 * m), dtype=np.result_type(A, E))
    block[:, :m, :m] = A
    block[:, m:, m:] = A
    block[:, :m, m:] = E
    return block


def frechet_stack(kind, A, E, t=None, general_value=None):
    """L_f(A_k, E_k) for stacks A and E of shape (M, m, m), by the block identity.

    E_k is scaled to ‖E_k‖₁ = max(‖A_k‖₁, 1) before and the result scaled back (L_f is
    linear in E): the block matrix's norm is then that of A_k, so the block identity is
    as accurate as f itself, whatever the size of the direction.
    """
    A, E = np.asarray(A), np.asarray(E)
    M, m = A.shape[0], A.shape[-1]
    if M == 0 or m == 0:
        return np.zeros(E.shape, dtype=np.result_type(A, E))
    size = np.abs(E).sum(axis=-2).max(axis=-1)
    target = np.maximum(np.abs(A).sum(axis=-2).max(axis=-1), 1.0)
    scale = np.where(size > 0, target / np.where(size > 0, size, 1.0), 1.0)
    block = _block_stack(A, E * scale[:, None, None])
    if kind == "expm":
        F = expm_stack(block)
    elif kind == "logm":
        F = logm_stack(block)
    elif kind == "sqrtm":
        F = _quiet_sqrtm(block)  # (the block matrix's eigenvalues are double: SciPy would warn)
        F = F.real if np.iscomplexobj(F) else F
    else:
        F = general_value(kind, block, t)
    return F[:, :m, m:] / scale[:, None, None]


# --------------------------------------------------------------- member bookkeeping
def batch_flags(members, batch):
    """Flags over the K members (vec order) as a batch-shaped array (for error texts)."""
    return np.asarray(members, dtype=bool).reshape(batch, order="F")


def as_members(A):
    """The (K, n, n) members of a stack in vec order (conventions §11)."""
    return stack_members(np.asarray(A))


def from_members(F, batch):
    """(K, n, n) members back to a (*batch, n, n) stack owning its memory."""
    return np.ascontiguousarray(np.asarray(F).reshape(tuple(batch) + F.shape[1:], order="F"))


# ------------------------------------------------------------------- the operator
#: The working set of one batched Fréchet step over the general members (bytes).
_CHUNK_BYTES = 64 * 2**20


class StackFrechetOperator(_BatchedBlocks):
    """The Jacobian of a matrix function of a stack: block k is L_f(A_k, ·).

    Spectral members (exactly symmetric A_k) hold (V_k, Γ_k) and apply
    E ↦ V_k (Γ_k ∘ V_kᵀ E V_k) V_kᵀ (self-adjoint: Γ_k is symmetric); general
    members hold A_k and apply L_f(A_k, ·) (or L_f(A_kᵀ, ·) = L_f(A_k, ·)ᵀ when
    transposed) by the block identity on a stack of 2n×2n matrices
    (:func:`frechet_stack`).  Every column of every member goes through one batched
    call; ``blocks()`` applies the operator to the n² unit directions of all members
    at once.  No (Kn²)×(Kn²) matrix is formed.
    """

    def __init__(self, kind, t, count, n, spectral, V, gamma, general, A, dtype, general_value, name,
                 transposed=False):
        self.kind, self.t, self.n = kind, t, int(n)
        self.spectral, self.general = frozen_copy(spectral), frozen_copy(general)
        self.V, self.gamma, self.A = frozen_copy(V), frozen_copy(gamma), frozen_copy(A)
        self.transposed = bool(transposed)
        self._general_value, self._function = general_value, name
        super().__init__(count, (self.n * self.n, self.n * self.n), dtype, f"blockdiag(L_{name}(Aₖ, ·))")

    def _apply(self, E):
        """L_f(A_k, E_{k,c}) for E of shape (K, c, n, n)."""
        out = np.empty(E.shape, dtype=np.result_type(self.dtype, E.dtype))
        if len(self.spectral):
            V = self.V[:, None]
            Vt = np.swapaxes(V, -1, -2)
            inner = np.matmul(np.matmul(Vt, E[self.spectral]), V) * self.gamma[:, None]
            out[self.spectral] = np.matmul(np.matmul(V, inner), Vt)
        if len(self.general):
            A = np.swapaxes(self.A, -1, -2) if self.transposed else self.A
            c, n = E.shape[1], self.n
            # members in chunks whose 2n×2n block matrices and their temporaries (about 16 of
            # them in the Padé evaluation) stay within _CHUNK_BYTES: a stack of 100,000 members
            # and all n² directions (blocks()) would otherwise need gigabytes at once
            step = max(1, _CHUNK_BYTES // (16 * c * 4 * n * n * E.itemsize))
            for start in range(0, len(A), step):
                members, chunk = self.general[start:start + step], A[start:start + step]
                if self.kind == "expm":  # A_k's part once per member (no block matrices)
                    out[members] = expm_frechet_stack(chunk, E[members])
                    continue
                Ag = np.broadcast_to(chunk[:, None], (len(chunk), c) + chunk.shape[1:]).reshape((-1, n, n))
                Eg = E[members].reshape((-1, n, n))
                out[members] = frechet_stack(self.kind, Ag, Eg, self.t, self._general_value).reshape(
                    (len(chunk), c, n, n))
        return out

    def _matmat(self, X):
        K, n = self.count, self.n
        E = np.moveaxis(unvec_stack_columns(X, (K, n, n)), 3, 1)  # (K, c, n, n)
        return vec_stack_columns(np.moveaxis(self._apply(E), 1, 3))

    def blocks(self):
        K, n = self.count, self.n
        units = np.eye(n * n, dtype=self.dtype).reshape(n * n, n, n).transpose(0, 2, 1)  # unvec of each e_b
        Y = self._apply(np.broadcast_to(units, (K,) + units.shape))  # (K, n², n, n): L(A_k, E_b)
        # block[k, a, b] = vec(Y[k, b])[a]: vec of each image (column-major), then rows ↔ columns
        return np.ascontiguousarray(np.swapaxes(np.swapaxes(Y, -1, -2).reshape(K, n * n, n * n), 1, 2))

    def _column_workspace(self):
        # one column: E and its image, and (general members) the 2n×2n block matrices with their
        # Padé temporaries, 16·4n² per member (chunked at _CHUNK_BYTES)
        return 2 * self.shape[0] + min(16 * 4 * len(self.general) * self.n * self.n, _CHUNK_BYTES // 8)

    @property
    def apply_cost(self):
        return 30 * self.count * self.n ** 3

    def _transpose(self):
        return StackFrechetOperator(self.kind, self.t, self.count, self.n, self.spectral, self.V, self.gamma,
                                    self.general, self.A, self.dtype, self._general_value, self._function,
                                    not self.transposed)

    def _render(self, parts, placeholders):
        return f"blockdiag(L_{self._function}({'Aₖᵀ' if self.transposed else 'Aₖ'}, ·))"


def members_error_text(flags, batch, shape):
    """'a member … at batch index …' for the flagged members (vec order) of a stack."""
    bad = batch_flags(flags, batch)
    return (f"{stacked.member_count(bad)} of the stack of shape {tuple(shape)}", stacked.member_list(bad),
            int(np.count_nonzero(bad)))

