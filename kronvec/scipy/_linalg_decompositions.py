"""kronvec.scipy.linalg: decompositions, triangular and LU solves (see kronvec/scipy/linalg.py).

Each function has SciPy 1.17's signature, defaults and values (to rounding)
and is written with operations kronvec differentiates: NumPy's Cholesky,
eigh, SVD, QR, inverse, determinant and solve (``kronvec/ops/factorizations/``,
``kronvec/ops/linalg.py``), and two operations of its own,
``solve_triangular`` and the packed LU (``kronvec/ops/triangular.py``).
``cho_solve`` and ``lu_solve`` are triangular solves (and a row permutation),
so they are differentiable in the factor and in ``b``.  ``solveh_banded``,
``solveh_banded`` records LAPACK's banded solve itself (``kronvec/ops/banded.py``);
``cholesky_banded`` and ``cho_solve_banded`` expand LAPACK's band storage into the
dense symmetric (or triangular) matrix by one gather and use the Cholesky factor and
triangular solves above (``notes/derivatives.md`` §38); on plain arrays all three are
SciPy's own, batches included.

Which derivative (``notes/derivatives.md`` §25, ``notes/conventions.md`` §10):

* what SciPy never reads carries no derivative: the other triangle of
  ``solve_triangular``'s ``a`` (and its diagonal when ``unit_diagonal``),
  off-tridiagonal entries with ``assume_a='tridiagonal'``, off-diagonal ones
  with ``'diagonal'``;
* where SciPy reads one triangle of a symmetric matrix (``cholesky``,
  ``cho_factor``, ``eigh``, ``eigvalsh``, ``solve``/``inv`` with ``assume_a``
  ``'sym'``, ``'her'`` or ``'pos'``) the derivative is along symmetric
  directions, as for ``np.linalg.cholesky``: gradients of an exactly
  symmetric input come back symmetric;
* ``assume_a=None`` and ``'banded'`` detect the structure from the values,
  so the function is A⁻¹b for every A: the general derivative.

Differences from SciPy: ``cho_factor``'s ``c`` has zeros in the triangle it
does not use (SciPy leaves arbitrary data there); stacks of matrices
(…, m, n), which SciPy 1.17 batches, are taken by ``cholesky``, ``cho_factor``, ``det``,
``inv``, ``eigh``/``eigvalsh`` (not ``subset_by_value``), ``svd``, ``svdvals`` and ``qr``
(the NumPy rules on stacks, ``derivatives.md`` §24.5), by ``lu_factor`` and ``lu``
(SciPy's batched LU, its rule member by member), and by ``solve``,
``solve_triangular``, ``cho_solve`` and ``lu_solve`` (stacked triangular solves
written with ``np.linalg.solve`` of the triangle read, so values agree with SciPy's
to rounding); options whose factors kronvec cannot differentiate (rectangular
``lu``, ``pivoting=True``, ``mode='raw'``, ``lapack_driver='gesvd'``) give
SciPy's values on plain arrays and raise a TypeError naming the option on
traced ones; ``qr(mode='full')`` and ``svd(full_matrices=True)`` of a
rectangular matrix differentiate one extra vector and raise LinAlgError when a
function uses two or more (``derivatives.md`` §23).  ``svd`` and ``svdvals``
are SciPy's LAPACK's, plain or traced (NumPy's gesdd may pick other signs).
"""

from __future__ import annotations

import contextlib
import functools
import re

import numpy as np
import scipy.linalg

from .._linalg.stacks import singular_members_error as _singular_members_error
from ..ops import _stack_factors as _stacked
from ..ops import banded as _banded
from ..ops._symmetric_directions import _what_numpy_reads
from ..ops.factorizations.cholesky_factor import _cholesky as _numpy_cholesky
from ..ops import triangular as _triangular
from ..ops.factorizations.svd import scipy_svd as _scipy_svd, singular_values as _singular_values
from ..ops._support import bind, decided
from ._support import as_array, as_dtype, float64_as_scipy, is_traced, plain_parameter, plain_value, static_value

__all__ = ["cholesky", "cho_factor", "cho_solve", "solve_triangular", "lu_factor", "lu_solve", "lu", "solve",
           "inv", "det", "eigh", "eigvalsh", "svd", "svdvals", "qr", "solve_banded", "solveh_banded",
           "cholesky_banded", "cho_solve_banded"]


# ------------------------------------------------------------------ helpers
@contextlib.contextmanager
def _named(function):
    """A LinAlgError raised inside, renamed after the SciPy function the user called."""
    try:
        yield
    except np.linalg.LinAlgError as error:
        message = str(error)
        if not message.startswith(f"scipy.linalg.{function}"):
            message = f"scipy.linalg.{function}: {message}"
        raise np.linalg.LinAlgError(message) from None


_INNER_NAME = re.compile(r"^(?:(?:(?:np|numpy|scipy)\.linalg\.\w+|polar): )+")


@contextlib.contextmanager
def _renamed(function):
    """A LinAlgError or ValueError raised by the kronvec operations a function is written
    with, named after the SciPy function the user called: an inner ``np.linalg.x: `` or
    ``scipy.linalg.x: `` at its head is replaced by ``scipy.linalg.<function>: ``."""
    try:
        yield
    except (np.linalg.LinAlgError, ValueError) as error:
        message = str(error)
        if not message.startswith(f"scipy.linalg.{function}:"):
            message = f"scipy.linalg.{function}: {_INNER_NAME.sub('', message)}"
        raise type(error)(message) from None


def _array(x, function, check_finite, name="a"):
    """x as a real array (traced values kept), checked as SciPy checks it.  The dtype is a
    static fact; the finiteness check is a decision on the values, recorded as one
    (``decided``), so that a compiled replay checks each new point."""
    x = as_array(x)
    dtype = np.asarray(static_value(x)).dtype
    if dtype.kind == "c":
        raise TypeError(f"scipy.linalg.{function}: complex {name} ({dtype}); kronvec's rules are real")
    if dtype.kind not in "fiub":
        raise TypeError(f"scipy.linalg.{function}: {name} of dtype {dtype} is not numeric")
    if check_finite:
        decided(functools.partial(_require_finite, function=function, name=name), x)
    if dtype.kind in "iub" and not is_traced(x):
        x = x.astype(np.float64)
    return x


def _require_finite(values, function, name):
    """SciPy's check_finite, on the values: ValueError naming the function (and, for a
    stack, the members); an empty array when they are finite (a recorded decision's result)."""
    plain = np.asarray(values)
    if not np.isfinite(plain).all():
        if plain.ndim > 2:  # a stack: name the members
            bad = ~np.isfinite(plain).all(axis=(-2, -1))
            raise ValueError(f"scipy.linalg.{function}: array must not contain infs or NaNs ({name}: "
                             f"{_stacked.member_count(bad)} of the stack of shape {plain.shape}, at batch index "
                             f"{_stacked.member_list(bad)})")
        raise ValueError(f"scipy.linalg.{function}: array must not contain infs or NaNs ({name})")
    return np.zeros(0)


def _matrix(a, function, square=True, name="a", stacks=False):
    """The (m, n) of the matrix `a` (of each member, for a stack (…, m, n) where `stacks`:
    SciPy 1.17 batches the function and kronvec's rule takes stacks)."""
    shape = np.shape(static_value(a))
    if stacks and len(shape) > 2:
        shape = shape[-2:]
    if len(shape) > 2:
        raise TypeError(f"kronvec.scipy.linalg.{function} does not support stacks (batches) of matrices: {name} "
                        f"has shape {shape}; call it on each 2-D matrix")
    if len(shape) != 2:
        raise ValueError(f"scipy.linalg.{function}: expected a 2-D matrix, got {name} of shape {shape}")
    if square and shape[0] != shape[1]:
        raise ValueError(f"scipy.linalg.{function}: expected a square matrix, got {name} of shape {shape}")
    return shape


def _right_hand_side(b, n, function, a_shape):
    shape = np.shape(static_value(b))
    if len(shape) not in (1, 2) or shape[0] != n:
        raise ValueError(f"scipy.linalg.{function}: shapes of a {a_shape} and b {shape} are incompatible "
                         f"(b needs {n} rows, 1-D or 2-D)")


def _is_stack(x):
    return np.ndim(static_value(x)) > 2


def _stack_right_hand_side(b, a_shape, function):
    """b against a stack a (…, n, n), or a matrix a against a stack b, as SciPy 1.17 batches
    them: a 1-D b (n,) is one vector for every member, otherwise b is (…, n, k) and the
    batch axes broadcast by NumPy's rules.  Returns the broadcast batch shape."""
    b_shape, n = tuple(np.shape(static_value(b))), a_shape[-1]
    if len(b_shape) == 1 and b_shape[0] == n:
        return tuple(a_shape[:-2])
    if len(b_shape) >= 2 and b_shape[-2] == n:
        try:
            return np.broadcast_shapes(tuple(a_shape[:-2]), b_shape[:-2])
        except ValueError:
            pass
    raise ValueError(f"scipy.linalg.{function}: shapes of a {tuple(a_shape)} and b {b_shape} are incompatible: "
                     f"b must be ({n},) or (…, {n}, k) with batch axes that broadcast against a's "
                     "(NumPy's broadcasting rule: trailing axes equal or 1)")


def _triangular_stack_solve(a, b, trans, lower, unit_diagonal):
    """op(T)⁻¹ b for a stack (or a stacked b) of triangular solves, T the triangle of `a`
    that SciPy reads (the `lower` or upper one, with ones on the diagonal when
    `unit_diagonal`): written with np.linalg.solve on stacks, so every member's
    derivative in `a` is that of the triangle read (zero elsewhere) and stays a
    block operator.  An LU of a triangular matrix has the triangle as its U (or a
    row-permuted one for a lower triangle), so values agree with SciPy's ``trtrs`` to
    rounding."""
    n = np.shape(static_value(a))[-1]
    dtype = np.result_type(np.asarray(static_value(a)).dtype, np.float32)
    T = a * _triangular.triangle_mask(n, lower, unit_diagonal, dtype)
    if unit_diagonal:
        T = T + np.eye(n, dtype=dtype)
    return _stack_solve(np.swapaxes(T, -1, -2) if trans else T, b)


def _stack_solve(A, b):
    """np.linalg.solve of a stack with SciPy's reading of b: a 1-D b is one vector for
    every member (NumPy 2 reads it so too, but the result (…, n) would be read as
    matrices by a second solve: keep it a column until the end)."""
    try:
        if np.ndim(static_value(b)) == 1:
            return np.linalg.solve(A, np.reshape(b, (-1, 1)))[..., 0]
        return np.linalg.solve(A, b)
    except np.linalg.LinAlgError as error:
        plain = np.asarray(plain_value(A))
        if plain.ndim < 3 or "batch index" in str(error):  # (kronvec's rule on traced values names them)
            raise
        # (NumPy's own solve, on plain arrays, does not say which member)
        raise _singular_members_error(plain, "np.linalg.solve") from None


def _not_differentiable(function, why):
    return TypeError(f"kronvec cannot differentiate scipy.linalg.{function} {why}; on plain arrays "
                     f"kronvec.scipy.linalg.{function} returns SciPy's values")


def _trans(trans, function):
    if trans in (0, "N", "n"):
        return 0
    if trans in (1, 2, "T", "C", "t", "c"):  # real matrices: 'C' (conjugate transpose) is 'T'
        return 1
    raise ValueError(f"scipy.linalg.{function}: invalid trans {trans!r}; use 0, 1, 2, 'N', 'T' or 'C'")


def _row_order(piv, n, function):
    """The rows of LAPACK's interchanges piv applied in order: A[perm] = L U."""
    piv = plain_parameter(piv, function, "piv")
    if piv.shape != (n,) or piv.dtype.kind not in "iu":
        raise ValueError(f"scipy.linalg.{function}: piv must be {n} integer pivot indices, got shape {piv.shape} "
                         f"and dtype {piv.dtype}")
    perm = np.arange(n)
    for i, j in enumerate(piv):
        perm[[i, j]] = perm[[j, i]]
    return perm


# ---------------------------------------------------------------- Cholesky
def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor of a symmetric positive definite matrix, SciPy's way.

    ``a = Uᵀ U`` (the default, ``lower=False``: note that NumPy's default is the
    lower factor) or ``a = L Lᵀ``.  Only the triangle named by `lower` is
    read; derivatives are along symmetric directions (``notes/conventions.md``
    §10).  `overwrite_a` is accepted and ignored (inputs are never modified).

    Raises
    ------
    numpy.linalg.LinAlgError
        When `a` is not positive definite (naming its leading minor).

    Examples
    --------
    >>> import kronvec
    >>> A = np.array([[4.0, 2.0], [2.0, 3.0]])
    >>> cholesky(A)
    array([[2.        , 1.        ],
           [0.        , 1.41421356]])
    >>> g = kronvec.grad(lambda A: 2 * np.sum(np.log(np.diagonal(cholesky(A)))))(A)  # ln|A|
    >>> np.allclose(g, np.linalg.inv(A))
    True
    """
    a = _array(a, "cholesky", check_finite)
    _matrix(a, "cholesky", stacks=True)
    with _named("cholesky"):
        return _numpy_cholesky(a, upper=not lower)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factorization ``(c, lower)`` for :func:`cho_solve`.

    Unlike SciPy, whose ``c`` holds arbitrary data in the triangle it does not
    use, kronvec's ``c`` is the triangular factor itself: zeros there.

    Examples
    --------
    >>> A = np.array([[4.0, 2.0], [2.0, 3.0]])
    >>> c, low = cho_factor(A)
    >>> np.allclose(cho_solve((c, low), np.array([1.0, 2.0])), np.linalg.solve(A, [1.0, 2.0]))
    True
    """
    a = _array(a, "cho_factor", check_finite)
    _matrix(a, "cho_factor", stacks=True)
    with _named("cho_factor"):
        c = _numpy_cholesky(a, upper=not lower)
    shape = np.shape(static_value(a))
    # (SciPy 1.17 on a stack returns `lower` for every member: a boolean array)
    return c, (np.full(shape[:-2], bool(lower)) if len(shape) > 2 else bool(lower))


def _factor_and_right_hand_side(function, pair, names, factorization, b, check_finite, stacks=False):
    """``(factor, second, b, factor's shape)`` from the pair a factorization returned and a
    right-hand side, both checked as SciPy's ``cho_solve``/``lu_solve`` check them (with
    `stacks`, a stack of factors or of right-hand sides as SciPy 1.17 batches them)."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:  # (an array's rows would unpack too)
        raise TypeError(f"scipy.linalg.{function}: {names[0]}_and_{names[1]} must be the pair "
                        f"({names[0]}, {names[1]}) from {factorization}, got {type(pair).__name__}"
                        f"{' of shape ' + str(np.shape(static_value(pair))) if hasattr(pair, 'shape') else ''}")
    factor, second = pair
    factor = _array(factor, function, check_finite, names[0])
    b = _array(b, function, check_finite, "b")
    if stacks and (_is_stack(factor) or _is_stack(b)):
        shape = _matrix(factor, function, name=names[0], stacks=True)
        _stack_right_hand_side(b, np.shape(static_value(factor)), function)
        return factor, second, b, shape
    shape = _matrix(factor, function, name=names[0])
    _right_hand_side(b, shape[0], function, shape)
    return factor, second, b, shape


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """Solve ``A x = b`` given ``(c, lower) = cho_factor(A)``: two triangular solves.

    Differentiable in ``c`` (its triangle) and in ``b``.

    Examples
    --------
    >>> import kronvec
    >>> A = np.array([[4.0, 2.0], [2.0, 3.0]]); b = np.array([1.0, 2.0])
    >>> g = kronvec.grad(lambda b: np.sum(cho_solve(cho_factor(A), b)))(b)
    >>> np.allclose(g, np.linalg.solve(A, np.ones(2)))
    True
    """
    c, lower, b, shape = _factor_and_right_hand_side("cho_solve", c_and_lower, ("c", "lower"), "cho_factor",
                                                     b, check_finite, stacks=True)
    lower = _one_flag(lower, "cho_solve", "lower")
    if _is_stack(c) or _is_stack(b):
        vector = np.ndim(static_value(b)) == 1
        with _named("cho_solve"):
            # A = L Lᵀ: x = L⁻ᵀ (L⁻¹ b);  A = Uᵀ U: x = U⁻¹ (U⁻ᵀ b)
            y = _triangular_stack_solve(c, np.reshape(b, (-1, 1)) if vector else b, trans=0 if lower else 1,
                                        lower=lower, unit_diagonal=False)
            x = _triangular_stack_solve(c, y, trans=1 if lower else 0, lower=lower, unit_diagonal=False)
        return x[..., 0] if vector else x
    with _named("cho_solve"):
        if lower:  # A = L Lᵀ: x = L⁻ᵀ (L⁻¹ b)
            y = bind(_triangular.solve_triangular, c, b, trans=0, lower=True, unit_diagonal=False)
            return bind(_triangular.solve_triangular, c, y, trans=1, lower=True, unit_diagonal=False)
        # A = Uᵀ U: x = U⁻¹ (U⁻ᵀ b)
        y = bind(_triangular.solve_triangular, c, b, trans=1, lower=False, unit_diagonal=False)
        return bind(_triangular.solve_triangular, c, y, trans=0, lower=False, unit_diagonal=False)


def _one_flag(flag, function, name):
    """cho_factor's `lower` for cho_solve: a bool, or SciPy's per-member array of one value."""
    values = np.unique(np.asarray(flag, dtype=bool))
    if values.size > 1:
        raise ValueError(f"scipy.linalg.{function}: kronvec needs one `{name}` for every member of the stack, "
                         f"got both (shape {np.shape(flag)})")
    return bool(values[0]) if values.size else False


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    """Solve ``op(a) x = b`` for a triangular `a`, op = identity (trans 0, 'N') or
    transpose (1, 'T'; 2, 'C' is the same for real matrices).

    Reads only the `lower` (default: upper) triangle of `a`, and not its
    diagonal when `unit_diagonal`: the other entries have derivative 0.  Its
    Jacobians are applied by triangular solves (no inverse is formed).

    Raises
    ------
    numpy.linalg.LinAlgError
        When a diagonal entry of `a` is 0 (and `unit_diagonal` is False).

    Examples
    --------
    >>> import kronvec
    >>> T = np.array([[2.0, 0.0], [1.0, 4.0]]); b = np.array([2.0, 5.0])
    >>> solve_triangular(T, b, lower=True)
    array([1., 1.])
    >>> kronvec.jacobian(lambda b: solve_triangular(T, b, lower=True))(b).toarray()
    array([[ 0.5  ,  0.   ],
           [-0.125,  0.25 ]])
    """
    a = _array(a, "solve_triangular", check_finite)
    b = _array(b, "solve_triangular", check_finite, "b")
    if _is_stack(a) or _is_stack(b):  # SciPy 1.17 batches: member by member, as a stack
        _matrix(a, "solve_triangular", stacks=True)
        _stack_right_hand_side(b, np.shape(static_value(a)), "solve_triangular")
        with _named("solve_triangular"):
            return _triangular_stack_solve(a, b, _trans(trans, "solve_triangular"), bool(lower), bool(unit_diagonal))
    shape = _matrix(a, "solve_triangular")
    _right_hand_side(b, shape[0], "solve_triangular", shape)
    with _named("solve_triangular"):
        return bind(_triangular.solve_triangular, a, b, trans=_trans(trans, "solve_triangular"), lower=bool(lower),
                    unit_diagonal=bool(unit_diagonal))


# ---------------------------------------------------------------------- LU
def lu_factor(a, overwrite_a=False, check_finite=True):
    """The packed LU factorization ``(lu, piv)`` of a square matrix, as SciPy's.

    ``lu`` holds U on and above the diagonal and L's multipliers below it;
    ``piv`` are LAPACK's row interchanges (0-based), a constant of the point.
    The derivative is that of the packed ``lu`` (``notes/derivatives.md`` §25).

    Examples
    --------
    >>> import kronvec
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> lu, piv = lu_factor(A)
    >>> lu, piv
    (array([[3.        , 4.        ],
           [0.33333333, 0.66666667]]), array([1, 1], dtype=int32))
    >>> g = kronvec.grad(lambda A: np.sum(np.log(np.abs(np.diagonal(lu_factor(A)[0])))))(A)  # ln|det A|
    >>> np.allclose(g, np.linalg.inv(A).T)
    True
    """
    a = _array(a, "lu_factor", check_finite)
    m, n = _matrix(a, "lu_factor", square=False, stacks=True)
    if m != n:
        if is_traced(a):
            raise _not_differentiable("lu_factor", f"of a rectangular {m}×{n} matrix")
        return scipy.linalg.lu_factor(a, check_finite=False)
    if not is_traced(a):  # (SciPy's own values, bit for bit: nothing to record)
        return scipy.linalg.lu_factor(a, check_finite=False)
    piv, _ = _triangular.lu_pivots(a)
    return bind(_triangular.lu_packed, a), piv.copy()


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` (trans 0) or ``aᵀ x = b`` (1, 2) given ``lu_factor(a)``.

    Two triangular solves and the row permutation of ``piv``: differentiable
    in ``lu`` and in ``b``.

    Examples
    --------
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]]); b = np.array([1.0, 1.0])
    >>> lu_solve(lu_factor(A), b), lu_solve(lu_factor(A), b, trans=1)
    (array([-1.,  1.]), array([-0.5,  0.5]))
    """
    lu_, piv, b, shape = _factor_and_right_hand_side("lu_solve", lu_and_piv, ("lu", "piv"), "lu_factor",
                                                     b, check_finite, stacks=True)
    if _is_stack(lu_) or _is_stack(b):
        return _lu_solve_stack(lu_, piv, b, _trans(trans, "lu_solve"))
    perm = _row_order(piv, shape[0], "lu_solve")
    st = _triangular.solve_triangular
    with _named("lu_solve"):
        if _trans(trans, "lu_solve") == 0:  # P L U x = b: x = U⁻¹ L⁻¹ Pᵀ b, Pᵀ b = b[perm]
            y = bind(st, lu_, b[perm], trans=0, lower=True, unit_diagonal=True)
            return bind(st, lu_, y, trans=0, lower=False, unit_diagonal=False)
        # Uᵀ Lᵀ Pᵀ x = b: x = P L⁻ᵀ U⁻ᵀ b
        y = bind(st, lu_, b, trans=1, lower=False, unit_diagonal=False)
        y = bind(st, lu_, y, trans=1, lower=True, unit_diagonal=True)
        return y[np.argsort(perm)]


def _lu_solve_stack(lu_, piv, b, trans):
    """:func:`lu_solve` member by member: each member's rows of b in its pivot order, then
    the two stacked triangular solves."""
    lu_shape = np.shape(static_value(lu_))
    n = lu_shape[-1]
    piv = plain_parameter(piv, "lu_solve", "piv")
    if piv.shape != lu_shape[:-1] or piv.dtype.kind not in "iu" or (piv.size and (piv.min() < 0 or piv.max() >= n)):
        raise ValueError(f"scipy.linalg.lu_solve: piv must be the {lu_shape[:-1]} integer pivot indices of "
                         f"lu_factor, got shape {piv.shape} and dtype {piv.dtype}")
    perm = _triangular.row_order(piv)  # (…, n): member k's A[perm] = L U
    vector = np.ndim(static_value(b)) == 1
    columns = np.reshape(b, (-1, 1)) if vector else b
    batch = np.broadcast_shapes(lu_shape[:-2], np.shape(static_value(columns))[:-2])
    columns = np.broadcast_to(columns, batch + np.shape(static_value(columns))[-2:])
    perm = np.broadcast_to(perm, batch + (n,))
    with _named("lu_solve"):
        if trans == 0:  # P L U x = b: x = U⁻¹ L⁻¹ Pᵀ b, (Pᵀ b) = b[perm] member by member
            rows = np.broadcast_to(perm[..., None], np.shape(static_value(columns)))
            y = _triangular_stack_solve(lu_, np.take_along_axis(columns, rows, axis=-2), 0, True, True)
            x = _triangular_stack_solve(lu_, y, 0, False, False)
        else:  # Uᵀ Lᵀ Pᵀ x = b: x = P L⁻ᵀ U⁻ᵀ b, P y = y[argsort(perm)]
            y = _triangular_stack_solve(lu_, columns, 1, False, False)
            y = _triangular_stack_solve(lu_, y, 1, True, True)
            rows = np.broadcast_to(np.argsort(perm, axis=-1)[..., None], np.shape(static_value(y)))
            x = np.take_along_axis(y, rows, axis=-2)
    return x[..., 0] if vector else x


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """The LU decomposition ``a = p @ l @ u`` of a square matrix, as SciPy's.

    Returns ``(p, l, u)``; ``(p @ l, u)`` when `permute_l`; with `p_indices`,
    ``p`` as row indices (``a = l[p] @ u``).  ``p`` is a constant of the point.

    Examples
    --------
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> p, l, u = lu(A)
    >>> np.allclose(p @ l @ u, A), lu(A, p_indices=True)[0]
    (True, array([1, 0], dtype=int32))
    """
    a = _array(a, "lu", check_finite)
    m, n = _matrix(a, "lu", square=False, stacks=True)
    if m != n:
        if is_traced(a):
            raise _not_differentiable("lu", f"of a rectangular {m}×{n} matrix")
        return scipy.linalg.lu(a, permute_l=permute_l, check_finite=False, p_indices=p_indices)
    if np.size(static_value(a)) == 0:  # (no entry: SciPy's empty factors, constants; lu_factor refuses)
        return scipy.linalg.lu(np.asarray(plain_value(a)), permute_l=permute_l, check_finite=False,
                               p_indices=p_indices)
    # (the pivots of a traced a come from its recorded value, which nothing changes; a plain a is
    # the caller's, which f may change in place between two calls: factored afresh, not remembered)
    perm = _triangular.lu_pivots(a)[1] if is_traced(a) else _triangular.row_order(
        scipy.linalg.lu_factor(a, check_finite=False)[1])
    packed = bind(_triangular.lu_packed, a)
    dtype = np.result_type(np.asarray(static_value(packed)).dtype, np.float32)
    l_ = np.tril(packed, -1) + np.eye(n, dtype=dtype)
    u_ = np.triu(packed)
    rows = np.argsort(perm, axis=-1)  # a = l[rows] @ u (member by member on a stack)
    if permute_l:
        if perm.ndim > 1:
            return np.take_along_axis(l_, np.broadcast_to(rows[..., None], perm.shape + (n,)), axis=-2), u_
        return l_[rows], u_
    if p_indices:
        return rows.astype(np.int32), l_, u_
    p = np.zeros(perm.shape + (n,), dtype=dtype)
    np.put_along_axis(p, perm[..., None], 1.0, axis=-1)  # p[perm[j], j] = 1: transposed below
    return np.swapaxes(p, -1, -2), l_, u_


# -------------------------------------------------------------- solve, inv
_STRUCTURES = {None: "detect", "general": "gen", "gen": "gen", "diagonal": "diagonal", "tridiagonal": "tridiagonal",
               "banded": "detect", "upper triangular": "upper", "lower triangular": "lower", "pos": "pos",
               "positive definite": "pos", "sym": "sym", "symmetric": "sym", "her": "sym", "hermitian": "sym"}


def _symmetric_read(a, lower):
    """What SciPy reads of a symmetric matrix (the `lower` or upper triangle,
    mirrored), differentiated along symmetric directions like np.linalg.cholesky."""
    read = _what_numpy_reads(a, lower=lower)
    return (read + np.swapaxes(read, -1, -2)) / 2


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True, assume_a=None,
          transposed=False):
    """Solve ``a x = b`` (``aᵀ x = b`` when `transposed`), SciPy's way.

    `assume_a` as SciPy 1.17: None (structure detected from the values),
    'general'/'gen', 'diagonal', 'tridiagonal', 'banded', 'upper triangular',
    'lower triangular', 'symmetric'/'sym', 'hermitian'/'her', 'positive
    definite'/'pos'.  The derivative in `a` is of what SciPy reads: the
    general one for None, 'gen' and 'banded' (whose detected structure is
    exact, so the function is a⁻¹b for every a); masked to the diagonal, the
    three diagonals or the triangle for 'diagonal', 'tridiagonal' and the
    triangular cases; along symmetric directions of the triangle named by
    `lower` for 'sym', 'her' and 'pos' (``notes/conventions.md`` §10).

    Examples
    --------
    >>> import kronvec
    >>> A = np.array([[4.0, 1.0], [1.0, 3.0]]); b = np.array([1.0, 2.0])
    >>> solve(A, b, assume_a="pos")
    array([0.09090909, 0.63636364])
    >>> G = kronvec.grad(lambda A: np.sum(solve(A, b, assume_a="sym")))(A)
    >>> np.allclose(G, G.T)  # along symmetric directions
    True
    """
    if assume_a not in _STRUCTURES:
        raise ValueError(f"scipy.linalg.solve: {assume_a} is not a recognized matrix structure")
    a = _array(a, "solve", check_finite)
    b = _array(b, "solve", check_finite, "b")
    kind = _STRUCTURES[assume_a]
    if _is_stack(a) or _is_stack(b):  # SciPy 1.17 batches: member by member, as a stack
        _matrix(a, "solve", stacks=True)
        _stack_right_hand_side(b, np.shape(static_value(a)), "solve")
        with _named("solve"):
            return _solve_stack(a, b, kind, lower, transposed)
    shape = _matrix(a, "solve")
    n = shape[0]
    if n == 1 and np.ndim(static_value(b)) == 1:  # SciPy: a 1×1 a divides every entry of a 1-D b
        if plain_value(a)[0, 0] == 0:
            raise np.linalg.LinAlgError("scipy.linalg.solve: A singular matrix detected (a is 1×1 and 0)")
        return b / a[0, 0]
    _right_hand_side(b, n, "solve", shape)
    with _named("solve"):
        if kind in ("detect", "gen"):
            return np.linalg.solve(np.transpose(a) if transposed else a, b)
        if kind == "diagonal":
            d = np.diagonal(a)
            if not np.all(np.asarray(plain_value(d))):
                k = int(np.argmin(np.abs(np.asarray(plain_value(d))))) + 1
                raise np.linalg.LinAlgError(f"scipy.linalg.solve: the diagonal matrix is singular (entry {k} is 0)")
            return b / (d if np.ndim(static_value(b)) == 1 else np.reshape(d, (n, 1)))
        if kind == "tridiagonal":
            band = np.tri(n, k=1) * np.tri(n, k=1).T  # 1 on the three diagonals
            A = a * band
            return np.linalg.solve(np.transpose(A) if transposed else A, b)
        if kind in ("upper", "lower"):
            return bind(_triangular.solve_triangular, a, b, trans=int(bool(transposed)), lower=kind == "lower",
                        unit_diagonal=False)
        if kind == "pos":  # Cholesky and two triangular solves, as SciPy (potrf/potrs)
            return cho_solve(cho_factor(_in_common_precision(a, b), lower=lower, check_finite=False), b,
                             check_finite=False)
        return np.linalg.solve(_symmetric_read(a, lower), b)  # 'sym', 'her' (aᵀ = a: transposed is moot)


def _in_common_precision(a, b):
    """`a` in the precision SciPy factors it in: float64 when a or b is (SciPy calls LAPACK in
    their common type; a float32 Cholesky would carry float32 rounding into a float64 x)."""
    return as_dtype(a, np.result_type(static_value(a).dtype, static_value(b).dtype, np.float32))


def _solve_stack(a, b, kind, lower, transposed):
    """:func:`solve` of a stack (a, b already checked): each structure as in 2-D, with
    batched operations (the triangular solves by :func:`_triangular_stack_solve`)."""
    n = np.shape(static_value(a))[-1]
    if kind in ("upper", "lower"):
        return _triangular_stack_solve(a, b, int(bool(transposed)), kind == "lower", False)
    if kind == "pos":  # Cholesky and two triangular solves, as SciPy (potrf/potrs)
        return cho_solve(cho_factor(_in_common_precision(a, b), lower=lower, check_finite=False), b,
                         check_finite=False)
    if kind == "diagonal":
        d = np.diagonal(a, axis1=-2, axis2=-1)
        zero = np.asarray(plain_value(d)) == 0
        if zero.any():
            members = zero.any(axis=-1)
            raise np.linalg.LinAlgError(f"scipy.linalg.solve: {_stacked.member_count(members)} of the stack "
                                        f"{'is' if np.count_nonzero(members) == 1 else 'are'} singular (a zero "
                                        f"diagonal entry), at batch index {_stacked.member_list(members)}")
        return b / d if np.ndim(static_value(b)) == 1 else b / np.expand_dims(d, -1)
    if kind == "tridiagonal":
        a = a * (np.tri(n, k=1) * np.tri(n, k=1).T)  # 1 on the three diagonals
    elif kind == "sym":  # 'sym', 'her' (aᵀ = a: transposed is moot)
        return _stack_solve(_symmetric_read(a, lower), b)
    return _stack_solve(np.swapaxes(a, -1, -2) if transposed else a, b)


def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    """The inverse of a square matrix; `assume_a` as SciPy 1.17's ``inv``
    (None, 'general'/'gen', 'diagonal', 'upper triangular', 'lower triangular',
    'pos', 'sym', 'her'), derivatives as for :func:`solve`.

    Examples
    --------
    >>> inv(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[-2. ,  1. ],
           [ 1.5, -0.5]])
    """
    if assume_a not in (None, "general", "gen", "diagonal", "upper triangular", "lower triangular", "pos", "sym",
                        "her"):
        raise ValueError(f"scipy.linalg.inv: {assume_a!r} is not a recognized matrix structure (SciPy raises "
                         "KeyError)")
    a = _array(a, "inv", check_finite)
    kind = _STRUCTURES[assume_a]
    n = _matrix(a, "inv", stacks=True)[0]
    dtype = np.result_type(np.asarray(static_value(a)).dtype, np.float32)
    with _named("inv"):
        if kind in ("detect", "gen"):
            return np.linalg.inv(a)
        if kind == "sym":
            return np.linalg.inv(_symmetric_read(a, lower))
        if kind == "diagonal":
            return solve(a, np.eye(n, dtype=dtype), assume_a="diagonal", check_finite=False)
        if kind == "pos":
            return cho_solve(cho_factor(a, lower=lower, check_finite=False), np.eye(n, dtype=dtype),
                             check_finite=False)
        if _is_stack(a):
            return _triangular_stack_solve(a, np.eye(n, dtype=dtype), 0, kind == "lower", False)
        return bind(_triangular.solve_triangular, a, np.eye(n, dtype=dtype), trans=0, lower=kind == "lower",
                    unit_diagonal=False)


def det(a, overwrite_a=False, check_finite=True):
    """The determinant; its gradient is adj(a)ᵀ, exact at singular matrices.

    Examples
    --------
    >>> det(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.float64(-2.0...)
    """
    a = _array(a, "det", check_finite)
    _matrix(a, "det", stacks=True)
    return float64_as_scipy(np.linalg.det(a))  # (SciPy's det of float32 is float64)


# ------------------------------------------------------------- eigh, svd, qr
_EIGH_DRIVERS = (None, "ev", "evd", "evr", "evx")


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False, type=1,
         check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, SciPy's way.

    Reads the `lower` (default) or upper triangle; derivatives along symmetric
    directions, eigenvalues tied at a repeated eigenvalue share their
    derivative, eigenvectors at a repeated eigenvalue raise LinAlgError
    (``np.linalg.eigh``'s rules).  `subset_by_index` ``(lo, hi)`` (inclusive)
    and `subset_by_value` ``(lo, hi]`` select eigenpairs of the full
    decomposition.  `driver` is checked and otherwise ignored: the eigenvalues
    agree with SciPy's to rounding, the eigenvectors are syevd's (NumPy's,
    SciPy's ``driver='evd'``) and may have the opposite signs to those of
    SciPy's default syevr, whose signs are not even locally constant
    (perturbing one entry of a 4×4 matrix by 1e-9 can flip one), so that
    SciPy's default vectors have no derivative.

    The generalized problem (`b` symmetric positive definite; `type` 1:
    a v = λ b v, 2: a b v = λ v, 3: b a v = λ v) is reduced to a standard one
    as LAPACK's sygvd reduces it (SciPy's default driver): b = L Lᵀ, C = L⁻¹ a L⁻ᵀ
    (type 1) or Lᵀ a L, C = W Λ Wᵀ, and v = L⁻ᵀ W (types 1, 2) or L W (type 3),
    so that vᵀ b v = I (types 1, 2) or vᵀ b⁻¹ v = I (type 3).  Each step is
    differentiated, in `a` and in `b` (``notes/derivatives.md`` §41).

    Examples
    --------
    >>> w, v = eigh(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> w
    array([1., 3.])
    >>> eigh(np.array([[2.0, 1.0], [1.0, 2.0]]), eigvals_only=True, subset_by_value=(2.0, 5.0))
    array([3.])
    >>> eigh(np.array([[2.0, 1.0], [1.0, 2.0]]), np.diag([1.0, 4.0]), eigvals_only=True)
    array([0.34861218, 2.15138782])
    """
    return _eigh(a, b, lower, eigvals_only, type, check_finite, subset_by_index, subset_by_value, driver,
                 function="eigh")


def _eigh(a, b, lower, eigvals_only, type, check_finite, subset_by_index, subset_by_value, driver, function):
    # (`function`: eigh or eigvalsh, the name the user called, for every error)
    if type not in (1, 2, 3):
        raise ValueError(f"scipy.linalg.{function}: type must be 1, 2 or 3, got {type!r}")
    drivers, problem = (_EIGH_DRIVERS, "standard") if b is None else (_GENERALIZED_EIGH_DRIVERS, "generalized")
    if driver not in drivers:
        raise ValueError(f"scipy.linalg.{function}: driver {driver!r} is not one of {drivers[1:]} for the "
                         f"{problem} problem")
    if subset_by_index is not None and subset_by_value is not None:
        raise ValueError(f"scipy.linalg.{function}: either index or value subset can be requested, not both")
    if driver in ("ev", "evd") and (subset_by_index is not None or subset_by_value is not None):
        raise ValueError(f"scipy.linalg.{function}: driver {driver!r} cannot compute subsets of eigenvalues (use "
                         "'evr' or 'evx'), as in SciPy")
    a = _array(a, function, check_finite)
    stack = np.ndim(static_value(a)) > 2
    if stack and subset_by_value is not None:
        raise TypeError(f"kronvec.scipy.linalg.{function} does not support subset_by_value on a stack of matrices "
                        "(each member would keep a different number of eigenvalues)")
    n = _matrix(a, function, stacks=True)[0]
    select = slice(None)
    if subset_by_index is not None:
        lo, hi = (int(i) for i in subset_by_index)
        if not 0 <= lo <= hi < n:
            raise ValueError(f"scipy.linalg.{function}: requested subset_by_index {(lo, hi)} is out of bounds for a "
                             f"{n}×{n} matrix (0 <= lo <= hi <= {n - 1})")
        select = slice(lo, hi + 1)
    uplo = "L" if lower else "U"
    if b is not None:
        if stack:
            raise TypeError(f"kronvec.scipy.linalg.{function} does not support the generalized problem (b) on a "
                            "stack of matrices")
        with _named(function):
            reduction = _GeneralizedReduction(a, _array(b, function, check_finite, "b"), lower, type, function)
        a = reduction.C  # (exactly symmetric; eigh reads the triangle sygvd's syevd reads: its signs)
    with _named(function):
        if eigvals_only:
            w = np.linalg.eigvalsh(a, UPLO=uplo)
            v = None
        else:
            w, v = np.linalg.eigh(a, UPLO=uplo)
            if b is not None:
                v = reduction.eigenvectors(v)
    if subset_by_value is not None:
        lo, hi = (float(x) for x in subset_by_value)
        if not lo < hi:
            raise ValueError(f"scipy.linalg.{function}: requested subset_by_value {(lo, hi)} needs lo < hi")
        values = np.asarray(plain_value(w))
        select = np.flatnonzero((values > lo) & (values <= hi))  # SciPy's half-open (lo, hi]
    w = w[..., select]
    return w if eigvals_only else (w, v[..., select])


_GENERALIZED_EIGH_DRIVERS = (None, "gv", "gvd", "gvx")


class _GeneralizedReduction:
    """A symmetric-definite generalized eigenproblem reduced to a standard one, as
    LAPACK's sygvd (SciPy's default driver) reduces it (potrf, sygst; Golub & Van Loan,
    *Matrix Computations*, §8.7.2): b = L Lᵀ and

    * type 1, a v = λ b v:  C = L⁻¹ a L⁻ᵀ, v = L⁻ᵀ w;
    * type 2, a b v = λ v:  C = Lᵀ a L,   v = L⁻ᵀ w;
    * type 3, b a v = λ v:  C = Lᵀ a L,   v = L w,

    with C w = λ w. Every step is a kronvec operation (the Cholesky factor of the
    triangle of b SciPy reads, triangular solves, products), so the derivatives in a and
    in b follow by the chain rule (``notes/derivatives.md`` §41). C is made exactly
    symmetric, (C + Cᵀ)/2, as sygst computes one triangle of it."""

    def __init__(self, a, b, lower, itype, function):
        n = _matrix(a, function)[0]
        if np.shape(static_value(b)) != (n, n):
            raise ValueError(f"scipy.linalg.{function}: wrong b dimensions {np.shape(static_value(b))}, should be "
                             f"{(n, n)}")
        a = _what_numpy_reads(a, lower)  # (the triangle SciPy reads, mirrored, unless symmetric)
        L = _numpy_cholesky(b, upper=not lower)
        if not lower:  # (b = Uᵀ U: L = Uᵀ)
            L = L.T
        self.L, self.itype = L, itype
        if itype == 1:
            X = solve_triangular(L, a, lower=True)  # L⁻¹ a
            C = solve_triangular(L, X.T, lower=True)  # L⁻¹ (L⁻¹ a)ᵀ = L⁻¹ a L⁻ᵀ
        else:
            C = L.T @ a @ L
        self.C = (C + C.T) / 2

    def eigenvectors(self, W):
        """v from the eigenvectors W of C."""
        if self.itype == 3:
            return self.L @ W
        return solve_triangular(self.L, W, trans="T", lower=True)  # L⁻ᵀ W


def eigvalsh(a, b=None, *, lower=True, overwrite_a=False, overwrite_b=False, type=1, check_finite=True,
             subset_by_index=None, subset_by_value=None, driver=None):
    """Eigenvalues (ascending) of a symmetric matrix: ``eigh(..., eigvals_only=True)``.

    Examples
    --------
    >>> import kronvec
    >>> A = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> np.allclose(kronvec.grad(lambda A: np.sum(np.log(eigvalsh(A))))(A), np.linalg.inv(A))
    True
    """
    return _eigh(a, b, lower, True, type, check_finite, subset_by_index, subset_by_value, driver,
                 function="eigvalsh")


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True, lapack_driver="gesdd"):
    """The singular value decomposition ``a = U diag(s) Vh``: ``(U, s, Vh)``, or ``s``.

    Singular vectors as SciPy's LAPACK gesdd returns them (its default driver;
    NumPy's build of gesdd may pick opposite signs for some vectors, in float32
    especially), differentiated as ``np.linalg.svd``'s: singular-vector derivatives at
    repeated singular values raise LinAlgError, and so do those of the extra
    vectors ``full_matrices=True`` adds to a rectangular matrix's U or Vh when
    there are two or more (an arbitrary basis; one is unique up to its sign).

    Examples
    --------
    >>> U, s, Vh = svd(np.array([[3.0, 0.0], [0.0, -2.0]]))
    >>> s
    array([3., 2.])
    """
    if lapack_driver not in ("gesdd", "gesvd"):
        raise ValueError(f"scipy.linalg.svd: lapack_driver must be 'gesdd' or 'gesvd', got {lapack_driver!r}")
    a = _array(a, "svd", check_finite)
    m, n = _matrix(a, "svd", square=False, stacks=True)
    if not is_traced(a):  # SciPy's own result: its LAPACK's vectors and signs (float16 as float32)
        return scipy.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv, check_finite=False,
                                lapack_driver=lapack_driver)
    if not compute_uv:
        return bind(_singular_values, a, source="values", library="scipy")
    if lapack_driver == "gesvd":
        raise _not_differentiable("svd", "with lapack_driver='gesvd' (kronvec's factors are gesdd's, whose "
                                         "signs may differ)")
    with _named("svd"):  # (a square matrix's full and thin decompositions have the same shapes)
        # SciPy's gesdd, not NumPy's: two builds of it may pick opposite signs for a vector
        return _scipy_svd(a, full_matrices=bool(full_matrices) and m != n)


def svdvals(a, overwrite_a=False, check_finite=True):
    """The singular values, in decreasing order.

    Examples
    --------
    >>> svdvals(np.array([[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]]))
    array([3., 2.])
    """
    a = _array(a, "svdvals", check_finite)
    _matrix(a, "svdvals", square=False, stacks=True)
    if not is_traced(a):
        return scipy.linalg.svdvals(a, check_finite=False)
    return bind(_singular_values, a, source="values", library="scipy")


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """The QR decomposition ``a = Q R``, SciPy's way: ``(Q, R)``, or ``(R,)`` for mode 'r'
    (for a stack (…, m, n), the stacked R itself, as SciPy 1.17 returns it).

    Differentiable for a ≥ as tall as wide (m ≥ n) with mode 'economic', 'r' or
    'full', as ``np.linalg.qr``'s (mode 'full' of a tall a: Q's extra columns, one
    differentiated, two or more a LinAlgError when used); signs as LAPACK's (R's
    diagonal may be negative).
    `lwork` is accepted and ignored.

    Examples
    --------
    >>> Q, R = qr(np.array([[3.0, 1.0], [4.0, 2.0]]))
    >>> np.allclose(Q @ R, [[3.0, 1.0], [4.0, 2.0]]), R[0, 0]
    (True, np.float64(-5.0))
    """
    if mode not in ("full", "r", "economic", "raw"):
        raise ValueError(f"scipy.linalg.qr: mode argument should be one of ['full', 'r', 'economic', 'raw'], got "
                         f"{mode!r}")
    a = _array(a, "qr", check_finite)
    m, n = _matrix(a, "qr", square=False, stacks=True)
    unsupported = None
    if pivoting:
        unsupported = "with pivoting=True (the pivots change where columns tie)"
    elif mode == "raw":
        unsupported = "with mode='raw' (Householder reflectors)"
    elif m < n:
        unsupported = f"of a wide {m}×{n} matrix (m < n): its R is not square"
    if unsupported:
        if is_traced(a):
            raise _not_differentiable("qr", unsupported)
        return scipy.linalg.qr(a, lwork=lwork, mode=mode, pivoting=pivoting, check_finite=False)
    with _named("qr"):
        if mode == "r":
            R = np.linalg.qr(a, mode="r")
            if m > n:  # SciPy's mode 'r' gives the full m×n R: zero rows below
                R_shape = np.shape(static_value(R))
                dtype = np.asarray(static_value(R)).dtype
                R = np.concatenate([R, np.zeros(R_shape[:-2] + (m - n, n), dtype=dtype)], axis=-2)
            # (SciPy 1.17 on a stack returns the stacked R itself, not a 1-tuple: its batching
            # wrapper unpacks one-element results)
            return R if len(np.shape(static_value(a))) > 2 else (R,)
        # (mode 'full' of a tall matrix: NumPy's 'complete', differentiated as np.linalg.qr's)
        return tuple(np.linalg.qr(a, mode="complete" if mode == "full" and m > n else "reduced"))


# ------------------------------------------------------------------ banded
def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` for a banded `a` given in LAPACK's band storage
    ``ab[u + i - j, j] = a[i, j]``, SciPy's way; differentiable in `ab` (the
    entries of the band) and `b`.

    The band is expanded into a dense n×n matrix and solved with
    ``np.linalg.solve`` (O(n²) memory, O(n³) time: meant for moderate n);
    entries of `ab` outside the matrix (its unused corners) have derivative 0.

    Examples
    --------
    >>> ab = np.array([[0.0, 1.0, 1.0], [4.0, 4.0, 4.0], [1.0, 1.0, 0.0]])  # tridiagonal
    >>> solve_banded((1, 1), ab, np.array([5.0, 6.0, 5.0]))
    array([1., 1., 1.])
    """
    try:
        n_lower, n_upper = (int(k) for k in l_and_u)
    except (TypeError, ValueError):
        raise TypeError("scipy.linalg.solve_banded: l_and_u must be the pair (l, u)") from None
    ab = _array(ab, "solve_banded", check_finite, "ab")
    b = _array(b, "solve_banded", check_finite, "b")
    rows, n = _matrix(ab, "solve_banded", square=False, name="ab")
    if n_lower < 0 or n_upper < 0 or n_lower + n_upper + 1 != rows:
        raise ValueError(f"scipy.linalg.solve_banded: invalid values for the number of lower and upper diagonals: "
                         f"l+u+1 ({n_lower + n_upper + 1}) does not equal ab.shape[0] ({rows})")
    b_shape = np.shape(static_value(b))
    if len(b_shape) not in (1, 2) or b_shape[0] != n:
        raise ValueError(f"scipy.linalg.solve_banded: shapes of ab {(rows, n)} and b {b_shape} are not compatible")
    i, j = np.indices((n, n))
    k = n_upper + i - j  # the row of ab holding a[i, j]
    inside = (k >= 0) & (k < rows)
    dense = ab[np.clip(k, 0, rows - 1), j] * inside
    with _named("solve_banded"):
        return np.linalg.solve(dense, b)


def _band_shape(ab, function, name="ab"):
    """(rows, n) of a band storage `ab` (2-D: SciPy 1.17 batches it, kronvec does not)."""
    rows, n = _matrix(ab, function, square=False, name=name)
    if rows < 1:
        raise ValueError(f"scipy.linalg.{function}: {name} of shape {(rows, n)} holds no diagonal")
    return rows, n


def _band_right_hand_side(b, n, function, name="ab"):
    shape = tuple(np.shape(static_value(b)))
    if len(shape) not in (1, 2) or shape[0] != n:
        raise ValueError(f"scipy.linalg.{function}: shapes of {name} and b are not compatible ({name} has {n} "
                         f"columns, b has shape {shape}: b needs {n} rows, 1-D or 2-D)")


def _symmetric_from_band(ab, lower):
    """The symmetric n×n matrix whose `lower` (else upper) triangle LAPACK's symmetric band
    storage ``ab`` holds — ab[i − j, j] = a[i, j] (i ≥ j) or ab[u + i − j, j] = a[i, j]
    (i ≤ j): one gather, each stored off-diagonal entry placed twice (its adjoint adds the
    two cotangents), the unused corners of ab read nowhere (derivative 0)."""
    rows, n = np.shape(static_value(ab))
    i, j = np.indices((n, n))
    if lower:  # entry (i, j) is stored at (max − min, min)
        k, column = np.abs(i - j), np.minimum(i, j)
    else:  # (u + min − max, max)
        k, column = rows - 1 - np.abs(i - j), np.maximum(i, j)
    inside = np.abs(i - j) <= rows - 1
    return np.where(inside, ab[np.clip(k, 0, rows - 1), column], 0.0)


def _triangle_from_band(cb, lower):
    """The triangular factor that ``cholesky_banded`` stores in `cb`: L[i, j] = cb[i − j, j]
    (i ≥ j) or U[i, j] = cb[u + i − j, j] (i ≤ j), zeros elsewhere (one gather)."""
    rows, n = np.shape(static_value(cb))
    i, j = np.indices((n, n))
    k = i - j if lower else rows - 1 + i - j
    inside = (k >= 0) & (k < rows)
    return np.where(inside, cb[np.clip(k, 0, rows - 1), j], 0.0)


def solveh_banded(ab, b, overwrite_ab=False, overwrite_b=False, lower=False, check_finite=True):
    """Solve ``a x = b`` for a symmetric positive definite banded `a` in LAPACK's symmetric
    band storage, SciPy's way; differentiable in `ab` and `b`.

    `ab` holds the upper triangle (``ab[u + i - j, j] = a[i, j]``, i ≤ j, the default) or,
    with `lower`, the lower one (``ab[i - j, j] = a[i, j]``, i ≥ j).  Each stored entry is one
    parameter of the symmetric `a` (an off-diagonal one appears twice in it), so the
    derivative in `ab` is plainly that of the map ab ↦ a(ab)⁻¹b; the unused corners of `ab`
    have derivative 0.  On traced values the solve is SciPy's own (LAPACK ``pbsv``/``ptsv``,
    O(n·u²)), recorded as one operation (``kronvec/ops/banded.py``): SciPy's values bit for
    bit, and a reverse sweep of one more banded solve and O(n·u) products — no n×n matrix,
    second order included.  `overwrite_ab` and `overwrite_b` are accepted and ignored.

    Raises
    ------
    numpy.linalg.LinAlgError
        When `a` is not positive definite (naming its leading minor).

    Examples
    --------
    >>> import kronvec
    >>> ab = np.array([[0.0, 1.0, 1.0], [4.0, 4.0, 4.0]])  # tridiagonal, upper storage
    >>> solveh_banded(ab, np.array([5.0, 6.0, 5.0]))
    array([1., 1., 1.])
    >>> g = kronvec.grad(lambda ab: np.sum(solveh_banded(ab, np.ones(3))))(ab)
    >>> g.shape
    (2, 3)
    """
    ab = _array(ab, "solveh_banded", check_finite, "ab")
    b = _array(b, "solveh_banded", check_finite, "b")
    if not (is_traced(ab) or is_traced(b)):  # (SciPy's own values, its batches too: nothing to record)
        with _renamed("solveh_banded"):
            return scipy.linalg.solveh_banded(ab, b, lower=lower, check_finite=False)
    _, n = _band_shape(ab, "solveh_banded")
    _band_right_hand_side(b, n, "solveh_banded")
    with _renamed("solveh_banded"):  # (LAPACK's pbsv itself, recorded: kronvec/ops/banded.py)
        return bind(_banded.solveh, ab, b, lower=bool(lower))


def cholesky_banded(ab, overwrite_ab=False, lower=False, check_finite=True):
    """The Cholesky factor of a symmetric positive definite banded matrix, in the band
    storage of `ab` (``a = Uᵀ U``, U stored as ``cb[u + i - j, j] = U[i, j]`` by default;
    ``a = L Lᵀ``, ``cb[i - j, j] = L[i, j]`` with `lower`), as ``scipy.linalg.cholesky_banded``.

    Differentiable in `ab`: the dense symmetric matrix is built from the band (one gather),
    factored by kronvec's Cholesky (its rule along symmetric directions, which is the
    derivative in the stored entries) and the factor's band gathered back.  The unused
    corners of `ab` are copied into `cb`, as LAPACK's ``pbtrf`` leaves them: derivative 1
    there.  Values agree with SciPy's to rounding; O(n²) memory.

    Examples
    --------
    >>> ab = np.array([[0.0, 2.0], [2.0, 5.0]])   # a = [[2, 2], [2, 5]], upper storage
    >>> cholesky_banded(ab)
    array([[0.        , 1.41421356],
           [1.41421356, 1.73205081]])
    """
    ab = _array(ab, "cholesky_banded", check_finite, "ab")
    if not is_traced(ab):
        with _renamed("cholesky_banded"):
            return scipy.linalg.cholesky_banded(ab, lower=lower, check_finite=False)
    rows, n = _band_shape(ab, "cholesky_banded")
    lower = bool(lower)
    with _renamed("cholesky_banded"):
        factor = _numpy_cholesky(_symmetric_from_band(ab, lower), upper=not lower)
    i, j, inside = _banded.stored_positions(rows, n, lower)  # the factor's entry stored at cb[k, j]
    return np.where(inside, factor[i, j], ab)


def cho_solve_banded(cb_and_lower, b, overwrite_b=False, check_finite=True):
    """Solve ``a x = b`` given ``(cb, lower)``, `cb` from :func:`cholesky_banded`: two
    triangular solves with the banded factor, differentiable in `cb` (its band; the unused
    corners have derivative 0) and in `b`.  Values agree with SciPy's ``pbtrs`` to rounding.

    Examples
    --------
    >>> ab = np.array([[0.0, 2.0], [2.0, 5.0]])
    >>> cho_solve_banded((cholesky_banded(ab), False), np.array([4.0, 7.0]))
    array([1., 1.])
    """
    if not isinstance(cb_and_lower, (tuple, list)) or len(cb_and_lower) != 2:
        raise TypeError("scipy.linalg.cho_solve_banded: cb_and_lower must be the pair (cb, lower), cb from "
                        f"cholesky_banded, got {type(cb_and_lower).__name__}")
    cb, lower = cb_and_lower
    cb = _array(cb, "cho_solve_banded", check_finite, "cb")
    b = _array(b, "cho_solve_banded", check_finite, "b")
    lower = plain_parameter(lower, "cho_solve_banded", "lower")
    if not (is_traced(cb) or is_traced(b)):
        with _renamed("cho_solve_banded"):
            return scipy.linalg.cho_solve_banded((cb, bool(lower)), b, check_finite=False)
    _, n = _band_shape(cb, "cho_solve_banded", "cb")
    _band_right_hand_side(b, n, "cho_solve_banded", "cb")
    with _renamed("cho_solve_banded"):
        return cho_solve((_triangle_from_band(cb, bool(lower)), bool(lower)), b, check_finite=False)
