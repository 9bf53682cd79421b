"""Sylvester equations A X + X B = C, with the Schur forms computed once.

The Bartels–Stewart algorithm (Bartels & Stewart 1972; Golub & Van Loan,
*Matrix Computations*, 4th ed., §7.6.3), as ``scipy.linalg.solve_sylvester``
runs it, split in two: :class:`SylvesterSolver` computes the real Schur forms
A = U op(R) Uᵀ and B = V op(S) Vᵀ once (op the identity or the transpose), and
then each right-hand side costs two products on each side and one LAPACK
``trsyl`` on the quasi-triangular factors:

    A X + X B = C   ⇔   op(R) Y + Y op(S) = Uᵀ C V,   X = U Y Vᵀ.

The transposed equation Aᵀ Y + Y Bᵀ = G — the adjoint of X ↦ A X + X B under
the trace inner product, which every VJP needs — uses the same factors with
both ops flipped, so one solver serves a derivative's forward and reverse
sweeps.  In vec form (column-major), A X + X B is (I ⊗ A + Bᵀ ⊗ I) vec X: the
solver applies the inverse of that Kronecker sum without forming it.

The equation is uniquely solvable iff no eigenvalue of A is the negative of an
eigenvalue of B (Horn & Johnson, *Topics in Matrix Analysis*, §4.4);
``trsyl`` reports such a pair (it then perturbs the factors and returns a
solution of a nearby equation: kronvec raises ``LinAlgError`` instead).

A solver holds read-only arrays and no other state; results are new arrays.
Nothing here knows about tracing, operators or derivatives.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from .factorization import read_only as _read_only
from .scope import _current as _current_scope

__all__ = ["SylvesterSolver", "sylvester_solver", "lyapunov_solver"]

_FLIP = {"N": "T", "T": "N"}


def _no_selection(*eigenvalue):
    """gees's eigenvalue selection, unused (no reordering: sort_t = 0)."""
    return 0


def _schur(M, operation, which):
    """The real Schur form M = Z T Zᵀ (T quasi-upper-triangular), as read-only arrays.

    LAPACK ``gees`` called as ``scipy.linalg.schur`` calls it, less two of its copies:
    SciPy's workspace query copies M and allocates Z (2 n²) and keeps that result
    alive through the factorization, 4 n² above T and Z at the peak.  Here the query
    runs on T's own Fortran-ordered storage, before M is copied in (a query writes
    nothing, and whatever it wrote would be overwritten), and its Z is released before
    the factorization, which then works in place in T.
    """
    gees, = lapack.get_lapack_funcs(("gees",), (M,))
    if M.size == 0:
        return _read_only(np.empty(M.shape, dtype=gees.dtype)), _read_only(np.empty(M.shape, dtype=gees.dtype))
    T = np.empty(M.shape, dtype=gees.dtype, order="F")
    query = gees(_no_selection, T, lwork=-1, overwrite_a=1)
    lwork = max(int(query[-2][0].real), 3 * M.shape[0], 1)
    del query
    T[...] = M
    T, _, _, _, Z, _, info = gees(_no_selection, T, lwork=lwork, overwrite_a=1)
    if info < 0:  # pragma: no cover (arguments are built here)
        raise ValueError(f"{operation}: LAPACK gees rejected its argument {-info}")
    if info > 0:  # the QR algorithm did not converge
        raise np.linalg.LinAlgError(f"{operation}: the real Schur form of {which} failed (LAPACK gees, "
                                    f"info = {info}: the QR algorithm did not converge)")
    return _read_only(T), _read_only(Z)


class SylvesterSolver:
    """Solves A X + X B = C (and Aᵀ Y + Y Bᵀ = G) for any number of right-hand sides.

    Build it with :func:`sylvester_solver` (A, B independent) or
    :func:`lyapunov_solver` (B = Aᵀ: one Schur form serves both sides).

    Parameters
    ----------
    R, U : ndarray (m, m)
        A = U op_a(R) Uᵀ with R quasi-upper-triangular, U orthogonal.
    S, V : ndarray (n, n)
        B = V op_b(S) Vᵀ likewise.
    op_a, op_b : {"N", "T"}
        Whether A (B) is U R Uᵀ ("N") or U Rᵀ Uᵀ ("T").
    operation : str
        What the user called, for the errors.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[3.0, 1.0], [0.0, 2.0]]); B = np.array([[1.0, 0.0], [1.0, 4.0]])
    >>> solver = sylvester_solver(A, B, "example")
    >>> X = solver.solve(np.ones((2, 2)))
    >>> bool(np.allclose(A @ X + X @ B, 1.0))
    True
    >>> Y = solver.solve(np.ones((2, 2)), transposed=True)
    >>> bool(np.allclose(A.T @ Y + Y @ B.T, 1.0))
    True
    """

    __slots__ = ("R", "U", "S", "V", "op_a", "op_b", "operation", "dtype", "_trsyl")

    def __init__(self, R, U, S, V, op_a, op_b, operation):
        self.R, self.U, self.S, self.V = R, U, S, V
        self.op_a, self.op_b = op_a, op_b
        self.operation = operation
        self.dtype = np.result_type(R.dtype, S.dtype, np.float32)
        (self._trsyl,) = lapack.get_lapack_funcs(("trsyl",), dtype=self.dtype)

    def __reduce__(self):
        # (pickling, e.g. a Jacobian holding a SylvesterInverse sent to another process:
        # the LAPACK routine is no picklable object, so it is looked up again on loading)
        return (SylvesterSolver, (self.R, self.U, self.S, self.V, self.op_a, self.op_b, self.operation))

    @property
    def shape(self):
        """(m, n): the shape of X."""
        return (self.U.shape[0], self.V.shape[0])

    def solve(self, C, transposed=False):
        """X with A X + X B = C (``transposed``: Aᵀ X + X Bᵀ = C), a new (m, n) array.

        Raises ``LinAlgError`` naming the operation when A and −B share an
        eigenvalue (to working precision, as LAPACK ``trsyl`` decides) or the
        solution overflows.
        """
        m, n = self.shape
        C = np.asarray(C)
        if C.shape != (m, n):
            raise ValueError(f"{self.operation}: the right-hand side must have shape {(m, n)}, got {C.shape}")
        dtype = np.result_type(self.dtype, C.dtype)
        if m == 0 or n == 0:
            return np.zeros((m, n), dtype=dtype)
        op_a, op_b = (_FLIP[self.op_a], _FLIP[self.op_b]) if transposed else (self.op_a, self.op_b)
        # A = U op_a(R) Uᵀ and B = V op_b(S) Vᵀ (or their transposes, with both ops
        # flipped): op_a(R) Y + Y op_b(S) = Uᵀ C V, then X = U Y Vᵀ.
        # F = Uᵀ C V made as the transpose of Fᵀ = (C V)ᵀ U, so Fortran-ordered: trsyl then
        # solves in place (a C-ordered F would be copied first, 1 n² more at the peak)
        F = C.dot(self.V).T.dot(self.U).T
        Y, scale, info = self._trsyl(self.R, self.S, F, trana=op_a, tranb=op_b, isgn=1, overwrite_c=1)
        del F  # (Y is F's storage, or its copy: the one reference kept is Y)
        if info < 0:  # pragma: no cover (arguments are built here)
            raise ValueError(f"{self.operation}: LAPACK trsyl rejected its argument {-info}")
        if info == 1:
            raise np.linalg.LinAlgError(
                f"{self.operation}: the Sylvester equation A X + X B = Q is singular (or nearly so): A and −B "
                f"have a common eigenvalue to working precision (LAPACK trsyl, info = 1), so the solution is "
                f"not unique"
            )
        # trsyl solves op(R) Y + Y op(S) = scale·F with scale ≤ 1 chosen against overflow:
        # the solution of the equation asked is Y / scale.
        if scale != 1.0:
            with np.errstate(over="ignore"):
                Y = Y / scale
        UY = self.U.dot(Y)
        del Y  # (released before X is made: one m×n temporary beside X, not two)
        X = UY.dot(self.V.T)
        del UY
        if not np.all(np.isfinite(X)):
            raise np.linalg.LinAlgError(
                f"{self.operation}: the solution of the Sylvester equation overflows (the equation is "
                f"numerically singular: A and −B have nearly common eigenvalues)"
            )
        return X


def _remembered(kind, arrays, compute):
    """``compute()`` once per differentiation call for these very arrays (by identity;
    the entry holds them, so no id is reused while the scope lives), else afresh.

    A remembered array is shared by everything in the call that asks for it (the
    VJPs of several arguments, the Jacobians): it is made read-only, so nobody can
    change it for the others (and a gradient handed out from it is copied)."""
    scope = _current_scope.get()
    if scope is None:
        return compute()
    table = scope.factorizations
    key = (kind, *map(id, arrays))
    entry = table.get(key)
    if entry is None or any(a is not b for a, b in zip(entry[0], arrays)):
        result = compute()
        for part in result if isinstance(result, tuple) else (result,):
            if isinstance(part, np.ndarray):
                part.flags.writeable = False
        entry = table[key] = (arrays, result)
    return entry[1]


def _as_float(M):
    M = np.asarray(M)
    return M if M.dtype.char in "fd" else M.astype(np.float64)


def sylvester_solver(A, B, operation):
    """A :class:`SylvesterSolver` for A X + X B = C: the Schur forms of A and Bᵀ, once
    per call (as ``scipy.linalg.solve_sylvester`` takes them: B = V Sᵀ Vᵀ from Bᵀ = V S Vᵀ)."""
    def compute():
        dtype = np.result_type(_as_float(A).dtype, _as_float(B).dtype)
        R, U = _schur(np.asarray(A, dtype=dtype), operation, "A")
        S, V = _schur(np.asarray(B, dtype=dtype).T, operation, "Bᵀ")
        return SylvesterSolver(R, U, S, V, "N", "T", operation)

    return _remembered("sylvester", (A, B), compute)


def lyapunov_solver(A, operation):
    """A :class:`SylvesterSolver` for A X + X Aᵀ = C from one Schur form A = U R Uᵀ
    (B = Aᵀ = U Rᵀ Uᵀ), as ``scipy.linalg.solve_continuous_lyapunov`` computes it."""
    def compute():
        R, U = _schur(_as_float(A), operation, "A")
        return SylvesterSolver(R, U, R, U, "N", "T", operation)

    return _remembered("lyapunov", (A,), compute)
