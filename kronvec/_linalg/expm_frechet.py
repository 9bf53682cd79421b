"""The Fréchet derivative of the matrix exponential in many directions at once.

Al-Mohy & Higham (2009), "Computing the Fréchet derivative of the matrix
exponential, with an application to condition number estimation", Algorithm 6.4
— the scaling-Padé-squaring algorithm ``scipy.linalg.expm_frechet`` implements —
split in two:

* :class:`ExpmFrechetPlan` makes every choice and does all the work that depends on
  A alone, once: the Padé degree m and the scaling s (SciPy's own selection, from
  ‖A‖₁ and its table ``ell_table_61``), the powers of 2^{−s}A, the Padé
  polynomials U and V, the inverse of q = V − U and r = q⁻¹(V + U) with its
  squarings r, r², r⁴, …;
* :meth:`ExpmFrechetPlan.apply` then differentiates the approximant and the
  squarings for a whole stack of directions E₁ … E_k: about a dozen n×n products
  per direction, each done for all directions by one BLAS call.

With the directions held side by side in the "row-interleaved" layout
S[:, j, :] = E_j (shape (n, k, n), :mod:`.interleaved`), B·E_j for every j is one
product B · S.reshape(n, k·n), and E_j·B for every j is S.reshape(k·n, n) · B: both one
large ``gemm`` over contiguous memory.  :meth:`ExpmFrechetPlan.apply_rows` works in
that layout; :meth:`ExpmFrechetPlan.apply` takes an ordinary (k, n, n) stack.

The values agree with ``scipy.linalg.expm_frechet(A, E_j)`` to rounding: the same
m, s, coefficients and order of operations, except that q⁻¹ is applied as a product
with its inverse (q = q_m(2^{−s}A) is well conditioned for ‖2^{−s}A‖₁ ≤ ℓ_m: Higham
2005, §2, and Al-Mohy & Higham 2009, §6) where SciPy solves with its LU factors,
and that BLAS sums a product over all directions in its own blocking.
Derivation: ``notes/derivatives.md`` §43.

A plan holds read-only arrays and no other state; results are new arrays.
Nothing here knows about tracing, operators or derivatives.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from .factorization import read_only as _read_only
from .interleaved import combinations as _combinations
from .interleaved import left as _left
from .interleaved import right as _right

__all__ = ["ExpmFrechetPlan", "pade_choice"]

#: SciPy's ``scipy/linalg/_expm_frechet.py`` ``ell_table_61`` at the degrees it uses:
#: the largest ‖2^{−s}A‖₁ at which the degree-m approximant's backward error (of the
#: pair e^A, L(A, E)) stays below 2^{−53} (Al-Mohy & Higham 2009, Table 6.1).
ELL = {3: 1.08e-2, 5: 2.00e-1, 7: 7.83e-1, 9: 1.78e0, 13: 4.74e0}

#: The [m/m] Padé coefficients b₀ … b_m of e^x, as SciPy writes them.
PADE = {
    3: (120., 60., 12., 1.),
    5: (30240., 15120., 3360., 420., 30., 1.),
    7: (17297280., 8648640., 1995840., 277200., 25200., 1512., 56., 1.),
    9: (17643225600., 8821612800., 2075673600., 302702400., 30270240., 2162160., 110880., 3960., 90., 1.),
    13: (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800., 129060195264000.,
         10559470521600., 670442572800., 33522128640., 1323241920., 40840800., 960960., 16380., 182., 1.),
}


def pade_choice(norm):
    """(m, s) as ``scipy.linalg.expm_frechet`` chooses them for ‖A‖₁ = `norm`: the
    smallest m ∈ {3, 5, 7, 9} with norm ≤ ℓ_m and s = 0; else m = 13 and
    s = max(0, ⌈log₂(norm/ℓ₁₃)⌉)."""
    for m in (3, 5, 7, 9):
        if norm <= ELL[m]:
            return m, 0
    return 13, max(0, int(np.ceil(np.log2(norm / ELL[13]))))


class ExpmFrechetPlan:
    """What L_exp(A, ·) needs of A, computed once; :meth:`apply` for many directions.

    Parameters
    ----------
    A : ndarray (n, n)
        A finite real square matrix (not checked: callers check their input).

    Attributes
    ----------
    m, s : int
        The Padé degree and the number of squarings (SciPy's choice).
    n : int

    Notes
    -----
    Building costs about one matrix exponential (the powers, one inverse, s
    squarings); each direction then costs 2·6 (m = 13) or fewer n×n products, plus
    2 per squaring.  A plan never changes after it is built, so threads may share it.

    Examples
    --------
    >>> import numpy as np, scipy.linalg
    >>> A = np.array([[0.0, 3.0], [-1.0, 0.5]]); E = np.array([[[1.0, 0.0], [2.0, -1.0]]])
    >>> plan = ExpmFrechetPlan(A)
    >>> (plan.m, plan.s)
    (13, 0)
    >>> L = plan.apply(E)
    >>> bool(np.allclose(L[0], scipy.linalg.expm_frechet(A, E[0], compute_expm=False)))
    True
    """

    def __init__(self, A):
        A = np.asarray(A, dtype=np.float64)
        n = self.n = A.shape[0]
        self.m, self.s = pade_choice(float(np.abs(A).sum(axis=0).max(initial=0.0)))
        # (2^{−s} is exact: the scaled A and directions carry no rounding of their own)
        self.scale = math.ldexp(1.0, -self.s)
        A = A * self.scale if self.s else A.copy()
        b, eye = PADE[self.m], np.eye(n)
        powers = {0: eye, 2: A @ A}
        if self.m >= 5:
            powers[4] = powers[2] @ powers[2]
        if self.m >= 7:
            powers[6] = powers[2] @ powers[4]  # (SciPy's A6 = A2·A4 at every degree)
        if self.m == 9:
            powers[8] = powers[4] @ powers[4]
        if self.m == 13:
            A2, A4, A6 = powers[2], powers[4], powers[6]
            self.W1 = b[13] * A6 + b[11] * A4 + b[9] * A2
            W2 = b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye
            self.Z1 = b[12] * A6 + b[10] * A4 + b[8] * A2
            Z2 = b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye
            self.W = A6 @ self.W1 + W2  # U = A·W
            U, V = A @ self.W, A6 @ self.Z1 + Z2
        else:
            # U = A·W with W = Σ_odd b_j A^{j−1}, V = Σ_even b_j A^j (highest degree first)
            self.W = sum(b[j] * powers[j - 1] for j in range(self.m, 0, -2))
            U = A @ self.W
            V = sum(b[j] * powers[j] for j in range(self.m - 1, -1, -2))
        lu = scipy.linalg.lu_factor(V - U, check_finite=False)
        self.q_inverse = _read_only(scipy.linalg.lu_solve(lu, eye, check_finite=False))
        # r_m(2^{−s}A) as SciPy computes it; the squaring phase reads r^(2^i) at step i
        # (L ← R L + L R, then R ← R²)
        self.R = _read_only(scipy.linalg.lu_solve(lu, U + V, check_finite=False))
        squares, R = [], self.R
        for _ in range(self.s):
            squares.append(R)
            R = _read_only(R @ R)
        self.squares = tuple(squares)
        self.A = _read_only(A)
        self.W = _read_only(self.W)
        if self.m == 13:
            self.W1, self.Z1 = _read_only(self.W1), _read_only(self.Z1)
        self.powers = {j: _read_only(P) for j, P in powers.items() if j}

    # ------------------------------------------------------------------ apply
    def apply(self, E):
        """L_exp(A, E_j) for every direction of a stack E (k, n, n): a new (k, n, n) array."""
        E = np.asarray(E)
        # (a copy, always: apply_rows overwrites it — ascontiguousarray would return a view
        # of E itself when k or n is 1)
        S = np.array(np.swapaxes(E, 0, 1), dtype=np.float64, order="C", copy=True)  # (n, k, n)
        return np.ascontiguousarray(np.swapaxes(self.apply_rows(S, overwrite=True), 0, 1))

    def apply_rows(self, S, overwrite=False):
        """L_exp(A, E_j) for the row-interleaved stack S (n, k, n), S[:, j, :] = E_j.

        Parameters
        ----------
        S : ndarray (n, k, n), C-contiguous float64
        overwrite : bool
            Whether S may be used as workspace (its contents are then lost).

        Returns
        -------
        ndarray (n, k, n), a new array in the same layout.

        Notes
        -----
        Peak workspace: :attr:`WORKSPACE` arrays of S's size beside S itself (one more
        when S may not be overwritten and A is scaled, s > 0).
        """
        if S.shape[1] == 0 or self.n == 0:
            return np.zeros(S.shape)
        # (E is only read: scaled in place when S may be overwritten, else a scaled copy)
        E = np.multiply(S, self.scale, out=S if overwrite else None) if self.s else S
        return self._square(self._pade(E))

    #: Arrays of the directions' size alive at once in :meth:`apply_rows` besides its
    #: input, its result included (degree 13: M₂, M₄, M₆ and the four sums L_{W₁} …
    #: L_{Z₂}, whose memory then holds L_W, L_U, L_V; degree 9: M₂ … M₈ and two sums;
    #: checked against tracemalloc in tests/test_frechet_batched.py).
    WORKSPACE = 7

    @staticmethod
    def setup_entries(n, s):
        """A bound on the float64 entries a plan with s squarings allocates while it is
        built (the powers, U, V, their LU, q⁻¹, r and its squarings: 17n² + 0.8·s·n²
        measured) and keeps."""
        return (18 + s) * n * n

    def _pade(self, E):
        """q⁻¹(L_U + L_V + (L_U − L_V) r): the derivative of r_m = q⁻¹p at 2^{−s}A in
        the (scaled) directions E, whose memory it may reuse."""
        P, m = self.powers, self.m
        # M_j, the derivative of A^j, for j = 2, 4, … (stacked: their combinations are one product)
        M = np.empty((4 if m == 9 else min(m // 2, 3),) + E.shape)
        _left(self.A, E, _right(E, self.A, M[0]), 1.0)  # M₂ = AE + EA
        if m >= 5:  # M₄ = A²M₂ + M₂A²
            _left(P[2], M[0], _right(M[0], P[2], M[1]), 1.0)
        if m >= 7:  # M₆ = A⁴M₂ + M₄A²
            _left(P[4], M[0], _right(M[1], P[2], M[2]), 1.0)
        if m == 9:  # M₈ = A⁴M₄ + M₄A⁴
            _left(P[4], M[1], _right(M[1], P[4], M[3]), 1.0)
        Lu, Lv, free = self._pade13(E, M) if m == 13 else self._pade_low(E, M)
        # q L_r = L_p − L_q r with L_p = L_U + L_V, L_q = L_V − L_U:  L_r = q⁻¹(L_U + L_V + (L_U − L_V) r)
        np.subtract(Lu, Lv, out=free)
        Lu += Lv
        _right(free, self.R, Lu, 1.0)
        return _left(self.q_inverse, Lu, Lv)

    def _pade_low(self, E, M):
        """(L_U, L_V, a free array) for m ≤ 9: L_U = A·Σ_{odd j ≥ 3} b_j M_{j−1} + E·W,
        L_V = Σ_{even j ≥ 2} b_j M_j."""
        b, p = PADE[self.m], len(M)
        sums = _combinations([[b[2 * i + 3] for i in range(p)], [b[2 * i + 2] for i in range(p)]], M,
                             np.empty((2,) + E.shape))
        Lu = _left(self.A, sums[0], _right(E, self.W, M[0]), 1.0)
        return Lu, sums[1], sums[0]

    def _pade13(self, E, M):
        """(L_U, L_V, a free array) of the degree-13 approximant, as SciPy groups it:
        L_W = A⁶L_{W₁} + M₆W₁ + L_{W₂}, L_U = A L_W + E W, L_V = A⁶L_{Z₁} + M₆Z₁ + L_{Z₂}
        (L_{W₁} = b₁₃M₆ + b₁₁M₄ + b₉M₂ and so on: the sums of W₁ … Z₂ with M_j for A^j)."""
        b, A6 = PADE[13], self.powers[6]
        first, second, third, fourth = _combinations(
            [[b[9], b[11], b[13]], [b[3], b[5], b[7]], [b[8], b[10], b[12]], [b[2], b[4], b[6]]], M,
            np.empty((4,) + E.shape))  # L_{W₁}, L_{W₂}, L_{Z₁}, L_{Z₂}
        Lw = _left(A6, first, _right(M[2], self.W1, second, 1.0), 1.0)
        Lu = _left(self.A, Lw, _right(E, self.W, first), 1.0)
        Lv = _left(A6, third, _right(M[2], self.Z1, fourth, 1.0), 1.0)
        return Lu, Lv, second

    def _square(self, L):
        """The squaring phase: at step i, L ← R_i L + L R_i with R_i = r^(2^i)."""
        if not self.squares:
            return L
        other = np.empty_like(L)
        for R in self.squares:
            _left(R, L, _right(L, R, other), 1.0)
            L, other = other, L
        return L
