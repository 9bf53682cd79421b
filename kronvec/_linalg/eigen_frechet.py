"""Fréchet derivatives of the principal logarithm and powers through one eigendecomposition.

For a diagonalizable A = V Λ V⁻¹ and f analytic on its spectrum (Higham 2008,
*Functions of Matrices*, Thm 3.11 and §3.2; Daleckii & Krein 1965),

    L_f(A, E) = V (Γ ∘ (V⁻¹ E V)) V⁻¹,    Γᵢⱼ = f[λᵢ, λⱼ] = (f(λᵢ) − f(λⱼ))/(λᵢ − λⱼ),  f′(λᵢ) if λᵢ = λⱼ,

so after one ``eig`` each direction costs four n×n products — where the block
identity costs f of a 2n×2n matrix per direction.  For a real A the eigenpairs come
in conjugate pairs and L_f(A, E) is real; it is computed in complex arithmetic
(real when every eigenvalue is) and its real part is returned.

The formula is only as accurate as the eigenvectors are well conditioned: rounding
in the two similarity transformations is amplified by up to κ₂(V)² (derivation and
the limit :data:`CONDITION_LIMIT`: ``notes/derivatives.md`` §43).  A plan says
whether it may be used (:attr:`EigenFrechetPlan.usable`, with the reason when
not); callers fall back to the block identity otherwise.

Divided differences of close eigenvalues are computed without cancellation
(Higham 2008, ch. 11, the logarithm of a 2×2 upper triangular matrix; Higham &
Lin 2011, its fractional power): with z = (λᵢ − λⱼ)/(λᵢ + λⱼ), ½(log λᵢ − log λⱼ) = atanh(z) + πi·U, U the
unwinding integer, so

    log:  Γᵢⱼ = 2(atanh z + πiU)/(λᵢ − λⱼ)
    λ^t:  Γᵢⱼ = exp(t(log λᵢ + log λⱼ)/2) · 2 sinh(t(atanh z + πiU))/(λᵢ − λⱼ).

A plan holds read-only arrays and no other state; results are new arrays.
Nothing here knows about tracing, operators or derivatives.
"""

from __future__ import annotations

import numpy as np

from .factorization import read_only as _read_only
from .interleaved import left, right

__all__ = ["EigenFrechetPlan", "divided_differences", "CONDITION_LIMIT"]

#: The largest κ₂(V) (eigenvectors of unit 2-norm, as LAPACK returns them) at which
#: the eigendecomposition is used: the similarity transformations then cost at most
#: about κ₂(V)²·u ≈ 1e6 · 1.1e-16 ≈ 1e-10 of relative accuracy, normwise against the
#: Jacobian (``notes/derivatives.md`` §43, measured in tests/test_frechet_batched.py).
CONDITION_LIMIT = 1e3

#: |z| below which ½(log λᵢ − log λⱼ) is computed as atanh(z) + πiU.  Above it
#: |log(λᵢ/λⱼ)| = 2|atanh z| is at least about 1, so the plain difference of the two
#: logarithms loses no more than a few units of rounding (relative error
#: ≈ u·max|log λ|/|log(λᵢ/λⱼ)|).
_CLOSE = 0.5


def _half_log_difference(w):
    """h = ½(log λᵢ − log λⱼ) (principal logarithms) for all pairs, and whether each
    pair is close (|z| < ½, z = (λᵢ − λⱼ)/(λᵢ + λⱼ)): there h = atanh(z) + πi·U with
    the unwinding integer U read off the plain difference, so no digit is lost to
    cancellation (Higham 2008, ch. 11)."""
    log_w = np.log(w)
    plain = (log_w[:, None] - log_w[None, :]) / 2
    a, b = w[:, None], w[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (a - b) / (a + b)
    close = np.abs(z) < _CLOSE  # (NaN, where λᵢ = −λⱼ, is not close)
    h = plain.copy()
    if close.any():
        atanh = np.arctanh(z[close])
        # ½ log(λᵢ/λⱼ) = atanh z on the principal branch; ½(log λᵢ − log λⱼ) differs by πi·U
        unwinding = np.round((plain[close].imag - atanh.imag) / np.pi)
        h[close] = atanh + 1j * np.pi * unwinding
    return h, log_w


def divided_differences(kind, w, t=None):
    """Γᵢⱼ = f[λᵢ, λⱼ] for f = log (kind "logm") or f(λ) = λ^t (kind "power") on the
    principal branch, at complex eigenvalues w (n,), off the closed negative real axis:
    f′(λᵢ) where λᵢ = λⱼ exactly, cancellation-free formulas elsewhere (module notes).

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([2.0 + 0j, 2.0 + 1e-12j])
    >>> G = divided_differences("logm", w)
    >>> bool(np.allclose(G, 0.5, rtol=1e-11))
    True
    """
    w = np.asarray(w, dtype=complex)
    h, log_w = _half_log_difference(w)
    difference = w[:, None] - w[None, :]
    tied = difference == 0
    safe = np.where(tied, 1.0, difference)
    if kind == "logm":
        return np.where(tied, 1.0 / w[:, None], 2.0 * h / safe)
    if kind == "power":
        middle = np.exp(t * (log_w[:, None] + log_w[None, :]) / 2)
        derivative = t * np.exp((t - 1.0) * log_w)[:, None]
        return np.where(tied, derivative, middle * 2.0 * np.sinh(t * h) / safe)
    raise ValueError(f"divided_differences: no rule for {kind!r}")


class EigenFrechetPlan:
    """L_f(A, ·) for f = log or x^t by one eigendecomposition of A, when that is accurate.

    Parameters
    ----------
    A : ndarray (n, n)
        A finite real square matrix.
    kind : {"logm", "power"}
    t : float, optional
        The power (kind "power").

    Attributes
    ----------
    usable : bool
        Whether :meth:`apply_rows` may be used: A has n independent eigenvectors with
        κ₂(V) ≤ :data:`CONDITION_LIMIT`, and no eigenvalue at 0 or on the closed
        negative real axis (to working precision).
    reason : str
        Why not, when not usable ("" otherwise).
    condition : float
        κ₂(V) (inf when V is singular).

    Notes
    -----
    A plan never changes after it is built, so threads may share it.
    """

    def __init__(self, A, kind, t=None):
        A = np.asarray(A, dtype=np.float64)
        self.kind, self.t, self.n = kind, t, A.shape[0]
        self.usable, self.reason, self.condition = False, "", np.inf
        w, V = np.linalg.eig(A)
        self.reason = self._refusal(w, V)
        if self.reason:
            return
        inverse = np.linalg.inv(V)
        gamma = divided_differences(kind, w, t)
        if not np.isfinite(gamma).all():
            self.reason = "a divided difference is not finite"
            return
        if not np.iscomplexobj(V):  # every eigenvalue real: Γ is real too, and so is everything else
            gamma = gamma.real
        self.V, self.V_inverse, self.gamma = _read_only(V), _read_only(inverse), _read_only(gamma)
        # (the real and imaginary parts apart, contiguous: the products run as real dgemm)
        self._parts = tuple(_read_only(np.ascontiguousarray(part)) for part in
                            (V.real, V.imag, inverse.real, inverse.imag, gamma.real[:, None, :],
                             gamma.imag[:, None, :]))
        self.usable = True

    def _refusal(self, w, V):
        """Why the eigendecomposition must not be used ("" when it may)."""
        n = self.n
        if not (np.isfinite(w).all() and np.isfinite(V).all()):
            return "the eigendecomposition is not finite"
        magnitude = np.abs(w)
        tolerance = n * np.finfo(np.float64).eps * max(float(magnitude.max(initial=0.0)), np.finfo(np.float64).tiny)
        if (magnitude <= tolerance).any():
            return "A is singular to working precision"
        # (on the principal branch's cut, or within rounding of it: log and x^t are not
        # analytic there, and a rounding error can move an eigenvalue across it)
        if ((w.real < 0) & (np.abs(w.imag) <= tolerance)).any():
            return "an eigenvalue on the closed negative real axis"
        self.condition = float(np.linalg.cond(V))
        if not self.condition <= CONDITION_LIMIT:
            return f"the eigenvectors are ill conditioned (κ₂(V) = {self.condition:.3g} > {CONDITION_LIMIT:g})"
        return ""

    #: Real arrays of the directions' size alive at once in :meth:`apply_rows` besides
    #: its input, its result included: two complex ones (checked against tracemalloc in
    #: tests/test_frechet_batched.py).
    WORKSPACE = 4

    @staticmethod
    def setup_entries(n):
        """A bound on the float64 entries a plan allocates while it is built (eig, the
        inverse and the condition number of V, Γ and its temporaries: about 18n²
        measured) and keeps."""
        return 24 * n * n

    def apply_rows(self, S, overwrite=False):
        """L_f(A, E_j) for the row-interleaved stack S (n, k, n), S[:, j, :] = E_j:
        Re V (Γ ∘ V⁻¹ E_j V) V⁻¹, a new real (n, k, n) array (S is read only, whatever
        `overwrite` says: it is there for the signature of
        :meth:`~kronvec._linalg.expm_frechet.ExpmFrechetPlan.apply_rows`).

        Complex V is applied in real arithmetic on the real and imaginary parts kept
        apart (12 real products per chunk where 4 complex ones cost 16, and only the real
        part of the last product is formed)."""
        if not self.usable:
            raise ValueError(f"EigenFrechetPlan: not usable here ({self.reason})")
        Vr, Vi, Wr, Wi, Gr, Gi = self._parts  # V = Vr + iVi, V⁻¹ = Wr + iWi, Γ = Gr + iGi
        a = left(Wr, S, np.empty(S.shape))
        if not np.iscomplexobj(self.V):
            c = right(a, Vr, np.empty(S.shape))
            c *= Gr
            return right(left(Vr, c, a), Wr, c)
        b, c, d = left(Wi, S, np.empty(S.shape)), np.empty(S.shape), np.empty(S.shape)  # V⁻¹E = a + ib
        right(b, Vi, right(a, Vr, c), 1.0, -1.0)  # V⁻¹EV = c + id
        right(b, Vr, right(a, Vi, d), 1.0)
        np.multiply(c, Gr, out=a)  # Γ ∘ (c + id) = a + ib
        np.multiply(d, Gi, out=b)
        a -= b
        np.multiply(d, Gr, out=b)
        c *= Gi
        b += c
        left(Vi, b, left(Vr, a, c), 1.0, -1.0)  # V(a + ib) = c + id
        left(Vi, a, left(Vr, b, d), 1.0)
        return right(d, Wi, right(c, Wr, a), 1.0, -1.0)  # Re (c + id)(Wr + iWi)
