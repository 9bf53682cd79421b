"""kronvec.scipy.linalg: norms, least squares, pseudo-inverses and the orthogonal
Procrustes problem (see kronvec/scipy/linalg.py).

``norm``, ``lstsq``, ``pinv``, ``pinvh`` and ``orthogonal_procrustes`` with SciPy 1.17's
signatures, defaults and values.  On plain arrays each is SciPy's own function (its
values bit for bit, every option, every rank).  On traced values each is written with
operations kronvec differentiates — ``np.linalg.norm``, ``np.linalg.lstsq``,
``np.linalg.pinv``, ``np.linalg.inv`` and ``polar`` — so its values agree with SciPy's to
rounding, and it is differentiable where the function is:

* ``lstsq``, ``pinv`` and ``pinvh`` at full rank only (as kronvec's ``np.linalg.lstsq``
  and ``np.linalg.pinv``): where SciPy's cutoff discards a singular value the solution
  jumps with the rank, and a traced input there is a ``LinAlgError`` naming the function
  (``lstsq`` in `b` alone is linear, so it is differentiable at any rank);
* ``pinvh`` reads one triangle (`lower`) of its symmetric input, as ``eigh`` does: along
  symmetric directions at an exactly symmetric input, of the triangle read, mirrored,
  otherwise (``notes/conventions.md`` §10);
* ``orthogonal_procrustes`` where AᵀB is nonsingular (``notes/derivatives.md`` §38).

Derivations: ``notes/derivatives.md`` §38.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg

from ..ops.factorizations.least_squares import _require_full_rank_lstsq
from ..ops._support import decided
from ._linalg_decompositions import _array, _matrix, _renamed, _symmetric_read
from ._linalg_functions import polar as _polar
from ._support import is_traced, plain_parameter, plain_value, static_value

__all__ = ["norm", "lstsq", "pinv", "pinvh", "orthogonal_procrustes"]


def _eps(*arrays):
    """The machine epsilon of the precision SciPy's LAPACK call runs in (float32 for
    float32 input, else float64)."""
    dtype = np.result_type(*[np.asarray(static_value(a)).dtype for a in arrays], np.float32)
    return float(np.finfo(dtype).eps)


def _tolerances(atol, rtol, default_rtol, function):
    """SciPy's (atol, rtol) of ``pinv``/``pinvh``: plain numbers, not negative."""
    atol = 0.0 if atol is None else float(plain_parameter(atol, function, "atol"))
    rtol = default_rtol if rtol is None else float(plain_parameter(rtol, function, "rtol"))
    if atol < 0.0 or rtol < 0.0:
        raise ValueError(f"scipy.linalg.{function}: atol and rtol values must be positive.")
    return atol, rtol


def _rank_deficient(function, what, shape, values, cutoff, rank, full):
    """The LinAlgError of a traced input where SciPy's cutoff discards values."""
    members = f" ({int(np.count_nonzero(rank < full))} member(s) of the stack)" if np.ndim(rank) else ""
    return np.linalg.LinAlgError(
        f"scipy.linalg.{function}: the {'×'.join(map(str, shape[-2:]))} matrix has rank {np.min(rank)} < {full}"
        f"{members} ({what} ≤ atol + rtol·max = {np.max(cutoff):.3g} are discarded, smallest "
        f"{float(np.min(values)):.3g}): its {'pseudo-inverse' if function != 'lstsq' else 'solution'} jumps with "
        "the rank and is not differentiable there")


# -------------------------------------------------------------------- norm
def norm(a, ord=None, axis=None, keepdims=False, check_finite=True):
    """A matrix or vector norm, as ``scipy.linalg.norm``.

    SciPy's norm is NumPy's (``np.linalg.norm``) after its finiteness check; on a traced
    value it is kronvec's ``np.linalg.norm``, with every vector and matrix order that
    supports (``None``, ``'fro'``, ``'nuc'``, ±1, ±2, ±inf, and any real vector order p),
    and that operation's derivative and errors (at a zero vector, at tied extreme singular
    values).  SciPy computes some 1-D and 2-D cases by BLAS ``nrm2`` and LAPACK ``lange``:
    on traced values those agree to rounding, on plain arrays they are SciPy's own; either
    way in float64, as SciPy returns those cases (a Python float, for float32 input too).

    Parameters
    ----------
    a : array_like
        A vector, matrix, or array (with `axis`).
    ord, axis, keepdims
        As ``np.linalg.norm``.
    check_finite : bool, optional
        Refuse infinite or NaN entries with a ValueError (SciPy's default).

    Returns
    -------
    float or ndarray
        The norm (an array with `axis` over an N-d array).

    Examples
    --------
    >>> import kronvec
    >>> from kronvec.scipy.linalg import norm
    >>> A = np.array([[3.0, 0.0], [4.0, 1.0]])
    >>> float(norm(A, 1))
    7.0
    >>> kronvec.grad(lambda A: norm(A))(A)   # the Frobenius norm: A / ‖A‖_F
    array([[0.58834841, 0.        ],
           [0.78446454, 0.19611614]])
    """
    a = _array(a, "norm", check_finite)
    if not is_traced(a):
        with _renamed("norm"):
            return scipy.linalg.norm(a, ord=ord, axis=axis, keepdims=keepdims, check_finite=False)
    with _renamed("norm"):
        result = np.linalg.norm(a, ord=ord, axis=axis, keepdims=keepdims)
    value = np.asarray(static_value(a))
    if value.dtype.char == "f" and _computed_by_blas_or_lapack(value, ord, axis, keepdims):
        return result.astype(np.float64)  # (SciPy's Python float: float32 input's norm widened)
    return result  # (float64 already, or not one of those cases: no cast recorded)


def _computed_by_blas_or_lapack(a, ord, axis, keepdims):
    """The cases scipy.linalg.norm computes by BLAS nrm2 (a vector's 2-norm) or LAPACK lange
    (a contiguous matrix's 1- and ∞-norms), which return a Python float whatever the input's
    precision (SciPy 1.17's conditions, read from its source)."""
    if not a.size or a.dtype.char not in "fd" or axis is not None or keepdims:
        return False
    if a.ndim == 1:
        return ord is None or (not isinstance(ord, str) and ord == 2)
    if a.ndim == 2 and not isinstance(ord, str) and ord is not None and ord in (1, np.inf):
        return bool(np.isfortran(a) or np.isfortran(a.T))
    return False


# ------------------------------------------------------------------- lstsq
_LSTSQ_DRIVERS = (None, "gelsd", "gelss", "gelsy")


def lstsq(a, b, cond=None, overwrite_a=False, overwrite_b=False, check_finite=True, lapack_driver=None):
    """The least-squares solution of ``a x = b``, SciPy's way: ``(x, residues, rank, s)``.

    ``residues`` are the squared 2-norms of the columns of ``b - a x`` when a is tall (m > n)
    and of full rank, else empty (a 0-d value for a 1-D b, as SciPy returns it); ``rank``
    the effective rank (a plain int: singular values ≤ `cond`·σ_max count as zero, `cond`
    defaults to the machine epsilon); ``s`` the singular values of a (None with
    ``lapack_driver='gelsy'``, as SciPy).  On traced values x, residues and s are traced:
    x = a⁺b through kronvec's ``np.linalg.lstsq`` (Golub–Pereyra at full rank), the
    residues ρⱼ = ‖bⱼ − a xⱼ‖² (dρⱼ = 2 rⱼᵀ(dbⱼ − da xⱼ), since aᵀr = 0), s through
    ``svdvals``.  A traced `a` must have full rank (min(m, n)): elsewhere x jumps with the
    rank (``LinAlgError``).  `overwrite_a` and `overwrite_b` are accepted and ignored; the
    drivers give the same x at full rank.  Traced values are 2-D (SciPy 1.17's batches are
    SciPy's own on plain arrays).

    Examples
    --------
    >>> import kronvec
    >>> from kronvec.scipy.linalg import lstsq
    >>> a = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]); b = np.array([1.0, 2.0, 2.0])
    >>> x, residues, rank, s = lstsq(a, b)
    >>> x, round(float(residues), 12), rank
    (array([1.16666667, 0.5       ]), 0.166666666667, 2)
    >>> g = kronvec.grad(lambda b: lstsq(a, b)[1])(b)   # 2 r
    >>> np.allclose(g, 2 * (b - a @ x))
    True
    """
    if lapack_driver not in _LSTSQ_DRIVERS:
        raise ValueError(f'scipy.linalg.lstsq: LAPACK driver "{lapack_driver}" is not found (use one of '
                         "'gelsd', 'gelss', 'gelsy')")
    a = _array(a, "lstsq", check_finite)
    b = _array(b, "lstsq", check_finite, "b")
    cond = None if cond is None else float(plain_parameter(cond, "lstsq", "cond"))
    if not (is_traced(a) or is_traced(b)):  # (SciPy's own values, its batches too: nothing to record)
        with _renamed("lstsq"):
            return scipy.linalg.lstsq(a, b, cond=cond, check_finite=False, lapack_driver=lapack_driver)
    m, n = _matrix(a, "lstsq", square=False)
    b_shape = tuple(np.shape(static_value(b)))
    if len(b_shape) not in (1, 2) or b_shape[0] != m:
        raise ValueError(f"scipy.linalg.lstsq: Shape mismatch: a {(m, n)} and b {b_shape} should have the same "
                         f"number of rows ({m}), b 1-D or 2-D")
    if m == 0 or n == 0:  # (SciPy's zero-size answer: x = 0; with no column, residues ‖b‖², traced)
        x, residues, rank, s = scipy.linalg.lstsq(plain_value(a), plain_value(b), check_finite=False)
        return x, (np.sum(b * b, axis=0) if n == 0 else residues), rank, s
    # SciPy passes cond (eps when None) to gelsd as NumPy passes rcond: the same cutoff
    rcond = _eps(a, b) if cond is None else cond
    if is_traced(a):  # (x is linear in b at any rank: only a traced a needs full rank)
        with _renamed("lstsq"):
            _require_full_rank_lstsq(plain_value(a), rcond)
    with _renamed("lstsq"):
        x, residues, rank, s = np.linalg.lstsq(a, b, rcond=rcond)
    if lapack_driver == "gelsy":  # (SciPy's gelsy reports neither)
        return x, np.array([], dtype=np.asarray(static_value(x)).dtype), int(rank), None
    if len(b_shape) == 1 and np.shape(static_value(residues)) == (1,):
        residues = np.reshape(residues, ())  # SciPy sums a 1-D b's residual over axis 0: a 0-d value
    return x, residues, int(rank), s


# -------------------------------------------------------------- pinv, pinvh
def pinv(a, *, atol=None, rtol=None, return_rank=False, check_finite=True):
    """The Moore–Penrose pseudo-inverse, as ``scipy.linalg.pinv``.

    Singular values ≤ ``atol + rtol·σ_max`` are discarded (`atol` 0 and `rtol`
    max(m, n)·eps by default, SciPy's).  On a traced value kronvec differentiates the
    full-rank pseudo-inverse (Golub–Pereyra, kronvec's ``np.linalg.pinv``): a traced `a`
    whose rank, so counted, is below min(m, n) is a ``LinAlgError`` — the pseudo-inverse
    jumps there.  Stacks (…, m, n) are taken member by member, as SciPy 1.17 batches.

    Returns
    -------
    B : (…, n, m) ndarray
    rank : numpy integer
        (with `return_rank`; an integer array for a stack, as SciPy)

    Examples
    --------
    >>> import kronvec
    >>> from kronvec.scipy.linalg import pinv
    >>> a = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    >>> pinv(a)
    array([[1. , 0. , 0. ],
           [0. , 0.5, 0. ]])
    >>> kronvec.jacobian(pinv)(a).shape
    (6, 6)
    """
    a = _array(a, "pinv", check_finite)
    m, n = _matrix(a, "pinv", square=False, stacks=True)
    atol, rtol = _tolerances(atol, rtol, max(m, n) * _eps(a), "pinv")
    if not is_traced(a):
        with _renamed("pinv"):
            return scipy.linalg.pinv(a, atol=atol, rtol=rtol, return_rank=return_rank, check_finite=False)
    shape = np.shape(static_value(a))
    # (a recorded decision: a compiled replay counts the rank again at each new point)
    decided(functools.partial(_require_full_rank, function="pinv", what="singular values", shape=shape,
                              atol=atol, rtol=rtol, spectrum=_singular_values), a)
    with _renamed("pinv"):
        # every singular value is kept: NumPy's cutoff rtol·σ_max ≤ SciPy's keeps them all too
        B = np.linalg.pinv(a, rtol=rtol)
    return (B, _full_rank(shape, min(m, n))) if return_rank else B


def pinvh(a, atol=None, rtol=None, lower=True, return_rank=False, check_finite=True):
    """The pseudo-inverse of a symmetric matrix, as ``scipy.linalg.pinvh``.

    Reads the `lower` (default) or upper triangle, as ``eigh``; eigenvalues with
    |λ| ≤ ``atol + rtol·max|λ|`` are discarded.  On a traced value kronvec differentiates
    the full-rank case, where the pseudo-inverse is the inverse of the symmetric matrix
    read: along symmetric directions at an exactly symmetric input (the gradient comes
    back symmetric), of the triangle read, mirrored, otherwise (``notes/conventions.md``
    §10, as kronvec's ``eigh`` and ``solve(assume_a='sym')``).  A traced input with a
    discarded eigenvalue is a ``LinAlgError``.  Values agree with SciPy's (``syev``) to
    rounding.  Stacks (…, n, n) are taken member by member.

    Examples
    --------
    >>> import kronvec
    >>> from kronvec.scipy.linalg import pinvh
    >>> a = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> G = kronvec.grad(lambda a: np.trace(pinvh(a)))(a)    # −(a⁻²)ᵀ, symmetric
    >>> np.allclose(G, -np.linalg.inv(a @ a)), np.allclose(G, G.T)
    (True, True)
    """
    a = _array(a, "pinvh", check_finite)
    n = _matrix(a, "pinvh", stacks=True)[0]
    atol, rtol = _tolerances(atol, rtol, n * _eps(a), "pinvh")
    if not is_traced(a):
        with _renamed("pinvh"):
            return scipy.linalg.pinvh(a, atol=atol, rtol=rtol, lower=lower, return_rank=return_rank,
                                      check_finite=False)
    with _renamed("pinvh"):
        read = _symmetric_read(a, bool(lower))
    shape = np.shape(static_value(a))
    decided(functools.partial(_require_full_rank, function="pinvh", what="eigenvalues |λ|", shape=shape,
                              atol=atol, rtol=rtol, spectrum=_absolute_eigenvalues), read)
    with _renamed("pinvh"):
        B = np.linalg.inv(read)
    rank = _full_rank(shape, n)
    return (B, rank if np.ndim(rank) else int(rank)) if return_rank else B


def _singular_values(values):
    return np.linalg.svd(np.asarray(values, dtype=np.float64), compute_uv=False)


def _absolute_eigenvalues(values):
    return np.abs(np.linalg.eigvalsh(np.asarray(values, dtype=np.float64)))


def _require_full_rank(values, function, what, shape, atol, rtol, spectrum):
    """SciPy's rank count (values above atol + rtol·max) of a traced input, on its values:
    LinAlgError below full rank, else an empty array (a recorded decision's result)."""
    s = spectrum(values)
    cutoff = atol + np.max(s, axis=-1, initial=0.0) * rtol
    rank = np.sum(s > cutoff[..., None], axis=-1)
    full = s.shape[-1]
    if np.any(rank < full):
        raise _rank_deficient(function, what, shape, s, cutoff, rank, full)
    return np.zeros(0)


def _full_rank(shape, full):
    """The rank SciPy reports where every value is kept: a NumPy integer (an array of them
    for a stack), as its ``np.sum`` gives."""
    return np.full(shape[:-2], full, dtype=np.intp)[()]


# ------------------------------------------------------ orthogonal Procrustes
def orthogonal_procrustes(A, B, check_finite=True):
    """The orthogonal R minimizing ‖A R − B‖_F, and the scale Σσ, as
    ``scipy.linalg.orthogonal_procrustes``.

    With AᵀB = U Σ Vᵀ (SciPy forms it as (BᵀA)ᵀ), R = U Vᵀ — the orthogonal polar factor
    of AᵀB — and scale = Σᵢ σᵢ = ⟨R, AᵀB⟩, the nuclear norm of AᵀB.  On traced values R is
    kronvec's ``polar`` of AᵀB and scale = ⟨R, AᵀB⟩ (whose derivative is ⟨R, d(AᵀB)⟩:
    ⟨dR, AᵀB⟩ = 0); both are smooth exactly where AᵀB is nonsingular, also at repeated
    singular values (dR = U Ω Vᵀ with Ωᵢⱼ = (Uᵀ dM V − Vᵀ dMᵀ U)ᵢⱼ / (σᵢ + σⱼ)).  Where AᵀB
    is singular R is not unique (the sign of its part on the null space is LAPACK's choice)
    and jumps: a traced input there is a ``LinAlgError`` (``notes/derivatives.md`` §38).
    Values agree with SciPy's to rounding; real input only.

    Parameters
    ----------
    A, B : (m, n) or (…, m, n) array_like
        Matrices (or stacks of them, each member solved, as SciPy 1.17 batches) of the same shape.

    Returns
    -------
    R : (n, n) or (…, n, n) ndarray
    scale : float or (…,) ndarray

    Examples
    --------
    >>> import kronvec
    >>> from kronvec.scipy.linalg import orthogonal_procrustes
    >>> A = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    >>> Q = np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> R, scale = orthogonal_procrustes(A, A @ Q)
    >>> np.allclose(R, Q)
    True
    >>> G = kronvec.grad(lambda B: orthogonal_procrustes(A, B)[1])(A @ Q)   # ∇_B scale = A R
    >>> np.allclose(G, A @ R)
    True
    """
    A = _array(A, "orthogonal_procrustes", check_finite, "A")
    B = _array(B, "orthogonal_procrustes", check_finite, "B")
    shape, other = tuple(np.shape(static_value(A))), tuple(np.shape(static_value(B)))
    if len(shape) < 2:  # (a stack (…, m, n): each member, as SciPy 1.17 batches it)
        raise ValueError(f"scipy.linalg.orthogonal_procrustes: expected ndim to be 2, but observed {len(shape)}")
    if shape != other:
        raise ValueError(f"scipy.linalg.orthogonal_procrustes: the shapes of A and B differ ({shape} vs {other})")
    if not (is_traced(A) or is_traced(B)):
        with _renamed("orthogonal_procrustes"):
            return scipy.linalg.orthogonal_procrustes(A, B, check_finite=False)
    M = np.swapaxes(np.swapaxes(B, -1, -2) @ A, -1, -2)  # SciPy's (BᵀA)ᵀ = AᵀB, of each member
    n = shape[-1]
    s = np.linalg.svd(np.asarray(plain_value(M), dtype=np.float64), compute_uv=False)
    singular = s[..., -1] <= n * np.finfo(np.float64).eps * s[..., 0] if n else np.zeros(shape[:-2], bool)
    if np.any(singular):
        members = np.argwhere(singular)
        where = f" at batch index {', '.join(map(str, members.tolist()))}" if singular.ndim else ""
        first = s[tuple(members[0])]  # (the first singular member's σ: s itself for a matrix)
        raise np.linalg.LinAlgError(
            f"scipy.linalg.orthogonal_procrustes: AᵀB ({n}×{n}) is singular{where} (σ_min = {first[-1]:.3g}, "
            f"σ_max = {first[0]:.3g}): R = UVᵀ is not unique there (its sign on the null space is arbitrary) and "
            "jumps, so it has no derivative")
    with _renamed("orthogonal_procrustes"):
        R, _ = _polar(M)
    return R, np.sum(R * M, axis=(-2, -1))
