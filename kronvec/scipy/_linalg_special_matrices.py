"""kronvec.scipy.linalg: special matrices built from entries, and solves with them
(see kronvec/scipy/linalg.py).

``block_diag``, ``toeplitz``, ``circulant`` and ``hankel`` with SciPy's names,
signatures and values, differentiable in every argument.  Each output entry is
an entry of an argument or a structural zero, so each function is one gather
(``kronvec.ops.indexing.gather``) from the arguments' entries laid end to end
behind a single 0, and its Jacobian is a 0/1 selection (a zero row for a
structural zero) — never dense.

Which entry lands where is SciPy's own function run on *labels*: each argument
replaced by the array of its entries' positions in that line-up (1, 2, …; 0 is
the zero).  So every shape rule — ``toeplitz``'s ignored ``r[0]`` and its batches
of N-d input, ``block_diag``'s 1-D blocks as rows and empty blocks — is SciPy's
and not re-derived here; the values are the arguments' entries, bit for bit.
Derivation: ``notes/derivatives.md`` §19 (entries moved by an index map).

``khatri_rao`` (column-wise Kronecker product) is one broadcast product and a
reshape, SciPy's own expression, so its values are SciPy's bit for bit.
``solve_toeplitz`` and ``solve_circulant`` record SciPy's Levinson recursion and FFT
solution as one operation each (``kronvec/ops/toeplitz.py``: SciPy's values, O(n²)
derivatives); a batch of right-hand sides is solved with the matrix ``toeplitz`` or
``circulant`` builds (``np.linalg.solve``, values to rounding).  Both are
differentiable in the defining vectors and in b (``notes/derivatives.md`` §38).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from ..ops import toeplitz as _toeplitz
from ..ops._support import bind, positions, shape_of
from ..ops.indexing import gather
from ._linalg_decompositions import _array, _renamed
from ._support import as_array, is_traced, plain_value, static_value

__all__ = ["block_diag", "toeplitz", "circulant", "hankel", "khatri_rao", "solve_toeplitz", "solve_circulant"]


def _placed(function, arguments):
    """``function(*arguments)`` for a SciPy function that only places its arguments'
    entries: SciPy's placement of the labels, then one gather of the entries."""
    arrays = [as_array(a) for a in arguments]
    dtype = np.result_type(*[static_value(a).dtype for a in arrays]) if arrays else np.float64
    labels, start = [], 1
    for a in arrays:
        shape = tuple(shape_of(a))
        labels.append(positions(shape) + start if shape else np.array(start))
        start += math.prod(shape)
    origins = np.asarray(function(*labels)).astype(np.intp)  # (block_diag() of nothing is float)
    entries = np.concatenate([np.zeros(1, dtype)] + [np.ravel(a, order="F") for a in arrays])  # (vec order)
    return gather(entries, origins)


def block_diag(*arrs):
    """The block-diagonal matrix of `arrs`, as ``scipy.linalg.block_diag``.

    >>> import numpy as np
    >>> import kronvec
    >>> from kronvec.scipy.linalg import block_diag
    >>> kronvec.grad(lambda x: np.sum(block_diag(x, 2.0 * x) ** 2))(np.array([[1.0, 2.0]]))
    array([[10., 20.]])
    """
    return _placed(scipy.linalg.block_diag, arrs)


def toeplitz(c, r=None):
    """The Toeplitz matrix with first column c and first row r (r[0] ignored; r = c when
    omitted), as ``scipy.linalg.toeplitz``: a gather of c's and r's entries."""
    if r is None:
        return _placed(scipy.linalg.toeplitz, (c,))
    return _placed(scipy.linalg.toeplitz, (c, r))


def circulant(c):
    """The circulant matrix with first column c, as ``scipy.linalg.circulant``."""
    return _placed(scipy.linalg.circulant, (c,))


def hankel(c, r=None):
    """The Hankel matrix with first column c and last row r (r[0] ignored; zeros below
    the anti-diagonal when r is omitted), as ``scipy.linalg.hankel``."""
    if r is None:
        return _placed(scipy.linalg.hankel, (c,))
    return _placed(scipy.linalg.hankel, (c, r))


def khatri_rao(a, b):
    """The Khatri–Rao product, column-wise Kronecker: column k is kron(a[:, k], b[:, k]),
    as ``scipy.linalg.khatri_rao``; differentiable in both arguments.

    SciPy's own expression, ``(a[:, None, :] * b[None, :, :]).reshape(-1, n)``, recorded:
    one broadcast product (a diagonal Jacobian in each argument, after the broadcast's
    selection) and a reshape, so values are SciPy's bit for bit.  Stacks (…, m, n) and
    (…, p, n) broadcast their batch axes, as SciPy 1.17 batches them.

    Examples
    --------
    >>> import kronvec
    >>> from kronvec.scipy.linalg import khatri_rao
    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]]); b = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]])
    >>> khatri_rao(a, b)
    array([[1., 0.],
           [0., 2.],
           [2., 2.],
           [3., 0.],
           [0., 4.],
           [6., 4.]])
    >>> kronvec.jacobian(lambda a: khatri_rao(a, b))(a).shape
    (12, 4)
    """
    a, b = as_array(a), as_array(b)
    a_shape, b_shape = tuple(np.shape(static_value(a))), tuple(np.shape(static_value(b)))
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise ValueError(f"scipy.linalg.khatri_rao: The both arrays should be 2-dimensional (got shapes {a_shape} "
                         f"and {b_shape}).")
    if a_shape[-1] != b_shape[-1]:
        raise ValueError(f"scipy.linalg.khatri_rao: The number of columns for both arrays should be equal (got "
                         f"shapes {a_shape} and {b_shape}).")
    for x in (a, b):
        if np.asarray(static_value(x)).dtype.kind not in "biuf":
            raise TypeError(f"scipy.linalg.khatri_rao: kronvec's rules are real, got dtype "
                            f"{np.asarray(static_value(x)).dtype}")
    if not (is_traced(a) or is_traced(b)):
        return scipy.linalg.khatri_rao(a, b)
    try:
        batch = np.broadcast_shapes(a_shape[:-2], b_shape[:-2])
    except ValueError:
        raise ValueError(f"scipy.linalg.khatri_rao: the batch axes of a {a_shape} and b {b_shape} do not "
                         "broadcast") from None
    c = np.expand_dims(a, -2) * np.expand_dims(b, -3)  # (…, m, p, n): c[i, j, k] = a[i, k] b[j, k]
    return np.reshape(c, batch + (a_shape[-2] * b_shape[-2], a_shape[-1]))


def _solve_columns(matrix, b, n, function):
    """np.linalg.solve(matrix, b) with SciPy's reading of b for these solves: (n,) a vector,
    (n, k) columns; and for ``solve_toeplitz`` (…, n, k) a batch of them (SciPy 1.17 batches
    it), for ``solve_circulant`` (n, …) columns (reshaped to (n, k) and back)."""
    shape = tuple(np.shape(static_value(b)))
    batch = function == "solve_toeplitz" and len(shape) > 2
    if not shape or (shape[-2] if batch else shape[0]) != n:
        raise ValueError(f"scipy.linalg.{function}: Incompatible dimensions: the matrix is {n}×{n}, b has shape "
                         f"{shape} (b needs {n} rows{', (…, n, k) for a batch' if batch else ''})")
    columns = b if len(shape) <= 2 or batch else np.reshape(b, (n, -1))
    with _renamed(function):
        x = np.linalg.solve(matrix, columns)
    return x if len(shape) <= 2 or batch else np.reshape(x, shape)


def _vector(x, function, name, check_finite):
    x = _array(x, function, check_finite, name)
    shape = np.shape(static_value(x))
    if len(shape) > 1:
        raise TypeError(f"kronvec.scipy.linalg.{function} does not support batches of {name} on traced values "
                        f"({name} has shape {shape}); call it on each 1-D {name}")
    if len(shape) != 1:
        raise ValueError(f"scipy.linalg.{function}: {name} must be 1-D, got shape {shape}")
    return x


def solve_toeplitz(c_or_cr, b, check_finite=True):
    """Solve ``T x = b`` for the Toeplitz matrix T = toeplitz(c, r), as
    ``scipy.linalg.solve_toeplitz``; differentiable in c, r and b.

    `c_or_cr` is c (T symmetric, r = c) or the tuple (c, r) (r[0] ignored, as
    ``toeplitz``).  On traced values with b of shape (n,) or (n, k) the solve is SciPy's
    Levinson recursion itself, recorded as one operation (``kronvec/ops/toeplitz.py``):
    SciPy's values bit for bit, O(n²) time; its reverse sweep is one more Levinson solve
    with Tᵀ (also Toeplitz) and the sums of −b̄xᵀ along T's diagonals, so every derivative
    is O(n²) too, second order included.  Levinson needs every leading principal minor of
    T nonsingular: a ``LinAlgError`` naming the function otherwise, as in SciPy.  A batch
    b (…, n, k), as SciPy 1.17 reads it, is solved with the matrix :func:`toeplitz` builds
    (``np.linalg.solve``: values to rounding).  On traced values c and r are 1-D (batches
    of them are SciPy's on plain arrays only).

    Examples
    --------
    >>> import kronvec
    >>> from kronvec.scipy.linalg import solve_toeplitz
    >>> c = np.array([4.0, 1.0, 0.5]); b = np.array([5.5, 6.0, 5.5])
    >>> solve_toeplitz(c, b)
    array([1., 1., 1.])
    >>> kronvec.grad(lambda c: np.sum(solve_toeplitz(c, b)))(c).shape
    (3,)
    """
    c, r = c_or_cr if isinstance(c_or_cr, tuple) else (c_or_cr, c_or_cr)  # (real: conj(c) is c)
    if b is None:
        raise ValueError("scipy.linalg.solve_toeplitz: `b` must be an array, not None.")
    c, r, b = (_array(x, "solve_toeplitz", check_finite, name) for x, name in ((c, "c"), (r, "r"), (b, "b")))
    if not (is_traced(c) or is_traced(r) or is_traced(b)):  # (SciPy's own values, its batches too)
        with _renamed("solve_toeplitz"):
            return scipy.linalg.solve_toeplitz((c, r), b, check_finite=False)
    c = _vector(c, "solve_toeplitz", "c", False)
    r = _vector(r, "solve_toeplitz", "r", False)
    n = np.shape(static_value(c))[0]
    if np.shape(static_value(r))[0] != n:
        raise ValueError(f"scipy.linalg.solve_toeplitz: Incompatible dimensions: c has {n} entries, r "
                         f"{np.shape(static_value(r))[0]}")
    shape = tuple(np.shape(static_value(b)))
    if len(shape) in (1, 2) and shape[0] == n and n:
        # SciPy's Levinson recursion, recorded (kronvec/ops/toeplitz.py): its values, O(n²) time
        with _renamed("solve_toeplitz"):
            return bind(_toeplitz.solve, c, r, b)
    if n:  # a batch (…, n, k): the matrix, solved; Levinson on the plain values first, O(n²),
        # so that kronvec raises where SciPy does (a singular leading principal minor)
        with _renamed("solve_toeplitz"):
            scipy.linalg.solve_toeplitz((plain_value(c), plain_value(r)), np.ones(n), check_finite=False)
    return _solve_columns(toeplitz(c, r), b, n, "solve_toeplitz")


_CIRCULANT_DEFAULTS = {"singular": "raise", "tol": None, "caxis": -1, "baxis": 0, "outaxis": 0}


def solve_circulant(c, b, singular="raise", tol=None, caxis=-1, baxis=0, outaxis=0):
    """Solve ``C x = b`` for the circulant matrix C = circulant(c), as
    ``scipy.linalg.solve_circulant``; differentiable in c and b.

    On traced values only SciPy's defaults are taken (a 1-D c, b of shape (n, …)); another
    `singular`, `tol`, `caxis`, `baxis` or `outaxis` is a TypeError naming it (on plain
    arrays every option is SciPy's own).  For b of shape (n,) or (n, k) the solve is SciPy's
    FFT solution itself, recorded as one operation (``kronvec/ops/toeplitz.py``): SciPy's
    values bit for bit; its reverse sweep is one more circulant solve with Cᵀ and the sums
    of −b̄xᵀ along C's wrapped diagonals (O(n²)).  A b of shape (n, k, …) is solved with the
    matrix :func:`circulant` builds (``np.linalg.solve``: values to rounding).  SciPy's
    singularity test is kept: C is near singular when an eigenvalue
    |fft(c)ₖ| ≤ n·eps·maxₖ|fft(c)ₖ| (``LinAlgError``).

    Examples
    --------
    >>> import kronvec
    >>> from kronvec.scipy.linalg import solve_circulant
    >>> c = np.array([4.0, 1.0, 0.5]); b = np.array([5.5, 5.5, 5.5])
    >>> solve_circulant(c, b)
    array([1., 1., 1.])
    >>> kronvec.grad(lambda c: np.sum(solve_circulant(c, b)))(c)     # c̄ₖ = −Σᵢ yᵢ xᵢ₋ₖ, y = C⁻ᵀ1
    array([-0.54545455, -0.54545455, -0.54545455])
    """
    options = {"singular": singular, "tol": tol, "caxis": caxis, "baxis": baxis, "outaxis": outaxis}
    c, b = as_array(c), as_array(b)
    if not (is_traced(c) or is_traced(b)):
        with _renamed("solve_circulant"):
            return scipy.linalg.solve_circulant(c, b, **options)
    for name, value in options.items():
        default = _CIRCULANT_DEFAULTS[name]
        if not (value is default or (default is not None and value == default)):
            raise TypeError(f"kronvec.scipy.linalg.solve_circulant supports {name}={default!r} only on traced "
                            f"values (got {name}={value!r}); SciPy's other options are values only")
    c = _vector(c, "solve_circulant", "c", True)
    b = _array(b, "solve_circulant", True, "b")
    n = np.shape(static_value(c))[0]
    shape = tuple(np.shape(static_value(b)))
    if not shape or shape[0] != n:
        raise ValueError(f"scipy.linalg.solve_circulant: Shapes of c {(n,)} and b {shape} are incompatible")
    eigenvalues = np.abs(np.fft.fft(np.asarray(plain_value(c), dtype=np.float64)))
    if n and np.any(eigenvalues <= eigenvalues.max() * n * np.finfo(np.float64).eps):
        raise np.linalg.LinAlgError("scipy.linalg.solve_circulant: near singular circulant matrix (an eigenvalue "
                                    f"|fft(c)ₖ| = {eigenvalues.min():.3g} ≤ n·eps·max|fft(c)|)")
    if len(shape) <= 2 and n:  # SciPy's FFT solve, recorded (kronvec/ops/toeplitz.py): its values
        with _renamed("solve_circulant"):
            return bind(_toeplitz.solve_circulant, c, b)
    return _solve_columns(circulant(c), b, n, "solve_circulant")
