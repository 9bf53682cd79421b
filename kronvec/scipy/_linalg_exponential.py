"""kronvec.scipy.linalg: the functions SciPy builds on the exponential (see kronvec/scipy/linalg.py).

``expm_frechet``, ``coshm``, ``sinhm``, ``tanhm``, ``cosm``, ``sinm`` and ``tanm`` with
SciPy 1.17's signatures and formulas, real arithmetic only, each differentiable to
every order kronvec's ``expm`` is (``notes/derivatives.md`` §39):

* ``expm_frechet(A, E)`` is one registered operation, L_exp(A, E) by SciPy's own
  algorithm; its derivatives come from the block identity
  expm([[A, E], [0, A]]) = [[e^A, L(A, E)], [0, e^A]]: in E it is expm's Jacobian
  L_exp(A, ·), in A the second Fréchet derivative, both matrix-free operators;
* ``coshm``/``sinhm`` are (e^A ± e^−A)/2, as SciPy writes them;
* ``cosm``/``sinm`` are the blocks of one real exponential
  expm([[0, A], [−A, 0]]) = [[cos A, sin A], [−sin A, cos A]] (SciPy takes the real and
  imaginary parts of the complex expm(iA): the same matrix function, no complex numbers);
* ``tanm``/``tanhm`` are ``solve(cosm(A), sinm(A))`` and ``solve(coshm(A), sinhm(A))``, as
  SciPy writes them (an LU solve); a singular denominator is a ``LinAlgError`` naming the
  function.

Their Jacobians are compositions of kronvec's operators — selections of blocks around a
Fréchet operator, and the solve's — never an n²×n² array.  Stacks (…, N, N) are taken
member by member, as SciPy 1.17 batches.
"""

from __future__ import annotations

import numpy as np

from ..ops import _stack_factors as _stacked
from ..ops import matrix_functions as _ops
from ._linalg_functions import _matrix  # (the same check: square or a stack, finite, real)
from ._support import plain_value, static_value

__all__ = ["expm_frechet", "coshm", "sinhm", "tanhm", "cosm", "sinm", "tanm"]

_METHODS = {None: "SPS", "SPS": "SPS", "blockEnlarge": "blockEnlarge"}


def _size(A):
    return tuple(np.shape(static_value(A)))[-1]


def _blocks(A):
    """[[0, A], [−A, 0]] (of every member of a stack), by traced concatenations."""
    zeros = np.zeros(tuple(np.shape(static_value(A))), dtype=np.result_type(static_value(A).dtype, np.float32))
    return np.concatenate([np.concatenate([zeros, A], axis=-1), np.concatenate([-A, zeros], axis=-1)], axis=-2)


def _cos_sin(A):
    """(cos A, sin A) from one real exponential of order 2n:
    expm([[0, A], [−A, 0]]) = [[cos A, sin A], [−sin A, cos A]]."""
    n = _size(A)
    F = _ops.expm(_blocks(A))
    return F[..., :n, :n], F[..., :n, n:]


def _solve(function, numerator, denominator, C, S):
    """solve(C, S) as SciPy's tanm and tanhm make it; a singular C names `function`.

    (``np.linalg.solve``: LAPACK's gesv, which is the call ``kronvec.scipy.linalg.solve``
    makes for a general square ``a`` — the same numbers — without that mirror's checks of
    its caller's input, which read values and so keep a function from compiling.)"""
    try:
        return np.linalg.solve(C, S)
    except np.linalg.LinAlgError as error:
        c = np.asarray(plain_value(C))
        where = ""
        if c.ndim > 2:  # (the error path only: which members, each by its own LU)
            bad = np.zeros(c.shape[:-2], dtype=bool)
            for index in np.ndindex(*c.shape[:-2]):
                try:
                    np.linalg.solve(c[index], np.eye(c.shape[-1]))
                except np.linalg.LinAlgError:
                    bad[index] = True
            where = f" for {_stacked.member_count(bad)} of the stack, at batch index {_stacked.member_list(bad)}"
        raise np.linalg.LinAlgError(
            f"{function}: {denominator}(A) is singular{where}, so {function}(A) = {denominator}(A)⁻¹ {numerator}(A) "
            f"is not defined ({error})") from None


def expm_frechet(A, E, method=None, compute_expm=True, check_finite=True):
    """The Fréchet derivative of the matrix exponential of A in the direction E, as
    ``scipy.linalg.expm_frechet``, differentiable in A and E.

    L(A, E) is the (0, 1) block of expm([[A, E], [0, A]]) (Higham 2008, Thm 3.6); its
    value is SciPy's (its default ``'SPS'``, Al-Mohy & Higham 2009, or ``'blockEnlarge'``).
    The derivatives come from the same identity (``notes/derivatives.md`` §39): in E,
    L is linear and its Jacobian is expm's, L_exp(A, ·); in A it is the second Fréchet
    derivative F ↦ L²(A; E, F) = [L_exp(M, [[F, 0], [0, F]])]₀₁, M = [[A, E], [0, A]] — both
    matrix-free operators.  Second and higher derivatives follow (each order doubles the
    size of the exponential taken).

    Parameters
    ----------
    A, E : (..., N, N) array_like
        Real square matrices (traced or plain) of the same size; stacks broadcast
        against each other and are taken member by member, as SciPy 1.17 batches.
    method : {None, 'SPS', 'blockEnlarge'}, optional
        SciPy's algorithm for the value (None: 'SPS'); any other is a ValueError, as in SciPy.
    compute_expm : bool, optional
        Also return expm(A) (``kronvec.scipy.linalg.expm``, which agrees with the
        exponential SciPy's SPS computes alongside to rounding).  Default True.
    check_finite : bool, optional
        Accepted for SciPy's signature; kronvec checks finiteness always (a NaN or inf
        entry is a ValueError naming expm_frechet).

    Returns
    -------
    expm_A : (..., N, N) ndarray
        e^A (if `compute_expm`).
    expm_frechet_AE : (..., N, N) ndarray
        L_exp(A, E).

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import expm, expm_frechet
    >>> A = np.array([[0.0, 1.0], [-2.0, -0.5]]); E = np.array([[1.0, 0.0], [0.0, 0.0]])
    >>> eA, L = expm_frechet(A, E)
    >>> bool(np.allclose(L, expm(np.block([[A, E], [np.zeros((2, 2)), A]]))[:2, 2:]))
    True
    >>> J = kronvec.jacobian(lambda A: expm_frechet(A, E, compute_expm=False))(A)
    >>> J.shape, J.formula()                    # the second Fréchet derivative, matrix-free
    ((4, 4), 'L²_expm(A, E, ·)')
    """
    if not (method is None or isinstance(method, str)) or method not in _METHODS:
        raise ValueError(f"expm_frechet: Unknown implementation {method!r} (method must be None, 'SPS' or "
                         "'blockEnlarge')")
    A, E = _matrix(A, "expm_frechet"), _matrix(E, "expm_frechet")
    a, e = tuple(np.shape(static_value(A))), tuple(np.shape(static_value(E)))
    if a[-1] != e[-1]:
        raise ValueError(f"expm_frechet: A and E must be of the same size, got A {a} and E {e}")
    if _METHODS[method] == "SPS":  # (SciPy's SPS computes in float64: both results are float64, as there)
        A, E = (X if static_value(X).dtype == np.float64 else X.astype(np.float64) for X in (A, E))
    if len(a) == 2 and len(e) == 2:
        L = _ops.expm_frechet(A, E, method=_METHODS[method])
    else:
        L = _batched(A, E, a, e, _METHODS[method])
        shape = tuple(np.shape(static_value(L)))
        if a != shape:  # (e^A of every member of the broadcast stack, as SciPy returns it)
            A = np.broadcast_to(A, shape)
    return (_ops.expm(A), L) if compute_expm else L


def _batched(A, E, a, e, method):
    """L_exp(A_k, E_k) of every member of the broadcast stacks, stacked (SciPy 1.17 loops likewise)."""
    try:
        batch = np.broadcast_shapes(a[:-2], e[:-2])
    except ValueError:
        raise ValueError(f"expm_frechet: the stacks' batch shapes do not broadcast: A {a}, E {e}") from None
    if 0 in batch:
        raise ValueError(f"expm_frechet: does not support zero-size batches (A {a}, E {e}), as SciPy")
    n = a[-1]
    A, E = np.broadcast_to(A, batch + (n, n)), np.broadcast_to(E, batch + (n, n))
    members = [_ops.expm_frechet(A[index], E[index], method=method) for index in np.ndindex(*batch)]
    return np.reshape(np.stack(members), batch + (n, n))


def coshm(A):
    """The hyperbolic matrix cosine (e^A + e^−A)/2, as ``scipy.linalg.coshm``, differentiable.

    SciPy's formula, with kronvec's ``expm`` (whose Jacobian is the Fréchet derivative):
    D coshm = (L_exp(A, ·) − L_exp(−A, ·))/2.  Stacks (…, N, N) member by member.

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them.

    Returns
    -------
    coshm : (..., N, N) ndarray

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import coshm
    >>> A = np.array([[1.0, 3.0], [1.0, 4.0]])
    >>> coshm(A)
    array([[11.24592233, 38.76236492],
           [12.92078831, 50.00828725]])
    >>> G = kronvec.grad(lambda A: np.trace(coshm(A)))(A)       # ∇ tr cosh A = sinh(A)ᵀ
    >>> bool(np.allclose(G, ((kronvec.scipy.linalg.expm(A) - kronvec.scipy.linalg.expm(-A)) / 2).T))
    True
    """
    A = _matrix(A, "coshm")
    return (_ops.expm(A) + _ops.expm(-A)) / 2


def sinhm(A):
    """The hyperbolic matrix sine (e^A − e^−A)/2, as ``scipy.linalg.sinhm``, differentiable.

    SciPy's formula (and its cancellation for a small A), with kronvec's ``expm``.
    Stacks (…, N, N) member by member.

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them.

    Returns
    -------
    sinhm : (..., N, N) ndarray

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import sinhm
    >>> A = np.array([[1.0, 3.0], [1.0, 4.0]])
    >>> sinhm(A)
    array([[10.57300653, 39.28826594],
           [13.09608865, 49.86127247]])
    >>> J = kronvec.jacobian(sinhm)(A)          # (L_exp(A, ·) + L_exp(−A, ·))/2, matrix-free
    >>> J.shape
    (4, 4)
    """
    A = _matrix(A, "sinhm")
    return (_ops.expm(A) - _ops.expm(-A)) / 2


def tanhm(A):
    """The hyperbolic matrix tangent ``solve(coshm(A), sinhm(A))``, as ``scipy.linalg.tanhm``,
    differentiable where coshm(A) is nonsingular.

    e^A and e^−A are taken once each, then one LU solve.  A singular coshm(A) (an exact
    zero pivot, as SciPy's solve reads it) is a ``LinAlgError`` naming tanhm.  Stacks
    (…, N, N) member by member.

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them.

    Returns
    -------
    tanhm : (..., N, N) ndarray

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import tanhm
    >>> A = np.array([[1.0, 3.0], [1.0, 4.0]])
    >>> tanhm(A)
    array([[0.3428582 , 0.51987926],
           [0.17329309, 0.86273746]])
    >>> G = kronvec.grad(lambda A: np.trace(tanhm(A)))(np.diag([0.5, 1.0]))   # 1 − tanh² on the diagonal
    >>> bool(np.allclose(np.diag(G), 1 - np.tanh([0.5, 1.0]) ** 2))
    True
    """
    A = _matrix(A, "tanhm")
    plus, minus = _ops.expm(A), _ops.expm(-A)
    return _solve("tanhm", "sinhm", "coshm", (plus + minus) / 2, (plus - minus) / 2)


def cosm(A):
    """The matrix cosine, as ``scipy.linalg.cosm``, differentiable, in real arithmetic.

    SciPy takes the real part of the complex expm(iA); kronvec takes the (0, 0) block of
    the real exponential expm([[0, A], [−A, 0]]) = [[cos A, sin A], [−sin A, cos A]]
    (``notes/derivatives.md`` §39), so the derivative is the Fréchet derivative of that
    2N×2N exponential between two block selections.  Stacks (…, N, N) member by member.

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them.

    Returns
    -------
    cosm : (..., N, N) ndarray

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import cosm, sinm
    >>> a = np.array([[1.0, 2.0], [-1.0, 3.0]])
    >>> cosm(a)
    array([[ 0.4264593 , -2.13721484],
           [ 1.06860742, -1.71075555]])
    >>> G = kronvec.grad(lambda A: np.trace(cosm(A)))(a)      # ∇ tr cos A = −sin(A)ᵀ
    >>> bool(np.allclose(G, -sinm(a).T))
    True
    """
    return _cos_sin(_matrix(A, "cosm"))[0]


def sinm(A):
    """The matrix sine, as ``scipy.linalg.sinm``, differentiable, in real arithmetic.

    The (0, 1) block of expm([[0, A], [−A, 0]]) (see :func:`cosm`).  Stacks (…, N, N)
    member by member.

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them.

    Returns
    -------
    sinm : (..., N, N) ndarray

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import sinm
    >>> a = np.array([[1.0, 2.0], [-1.0, 3.0]])
    >>> sinm(a)
    array([[ 1.89217551, -0.97811252],
           [ 0.48905626,  0.91406299]])
    >>> J = kronvec.jacobian(sinm)(a)
    >>> J.shape
    (4, 4)
    """
    return _cos_sin(_matrix(A, "sinm"))[1]


def tanm(A):
    """The matrix tangent ``solve(cosm(A), sinm(A))``, as ``scipy.linalg.tanm``,
    differentiable where cosm(A) is nonsingular.

    cos A and sin A come from one real exponential of order 2N (see :func:`cosm`), then
    one LU solve.  A singular cosm(A) (an exact zero pivot, as SciPy's solve reads it) is a
    ``LinAlgError`` naming tanm; near one the value and its derivative grow as tan does
    near π/2.  Stacks (…, N, N) member by member.

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them.

    Returns
    -------
    tanm : (..., N, N) ndarray

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import tanm
    >>> a = np.array([[1.0, 3.0], [1.0, 4.0]])
    >>> tanm(a)
    array([[ -2.00876993,  -8.41880636],
           [ -2.80626879, -10.42757629]])
    >>> G = kronvec.grad(lambda A: np.trace(tanm(A)))(np.diag([0.5, 1.0]))   # 1 + tan² on the diagonal
    >>> bool(np.allclose(np.diag(G), 1 + np.tan([0.5, 1.0]) ** 2))
    True
    """
    C, S = _cos_sin(_matrix(A, "tanm"))
    return _solve("tanm", "sinm", "cosm", C, S)
