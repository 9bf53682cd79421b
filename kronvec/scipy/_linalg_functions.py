"""kronvec.scipy.linalg: matrix functions (see kronvec/scipy/linalg.py).

``expm``, ``logm``, ``sqrtm``, ``fractional_matrix_power`` and ``polar`` with
SciPy 1.17's signatures, and ``funm_symmetric`` for any spectral function
f(A) = V f(Λ) Vᵀ of a symmetric matrix.  Each is recorded as kronvec's own
operations (``kronvec/ops/matrix_functions.py``): on a general matrix its
Jacobian is the Fréchet derivative L_f(A, ·) as a matrix-free operator; on an
exactly symmetric one the value comes from one ``eigh`` and the Jacobian is the
Daleckii–Krein product (V ⊗ V)·Diag(vec Γ)·(Vᵀ ⊗ Vᵀ), exact at repeated
eigenvalues.  Real results only.  ``expm``, ``logm``, ``sqrtm`` and
``fractional_matrix_power`` take stacks (…, N, N) as SciPy 1.17 does, member by
member.  Derivations: ``notes/derivatives.md`` §26.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from .._vec import stack_members as _stack_members
from ..ops import _stack_factors as _stacked
from ..ops import matrix_functions as _ops
from ..ops import polar as _polar
from ._support import as_array, float64_as_scipy, is_traced, plain_parameter, plain_value, static_value

__all__ = ["expm", "logm", "sqrtm", "fractional_matrix_power", "polar", "funm_symmetric"]

_NO_VALUE = np._NoValue


def _matrix(A, function):
    """`A` as an array (traced or plain), checked: square (or a stack), finite, real."""
    A = as_array(A)
    # (static_value: the operation's impl makes this check again on every value it is
    # given, so a compiled replay, kronvec._compiled, repeats it)
    _ops.check_square_matrix(static_value(A), function)
    if not is_traced(A) and A.dtype.char not in "fd":
        A = A.astype(np.float64)
    return A


def _deprecated(name, function):
    warnings.warn(f"The `{name}` argument is deprecated and will be removed in SciPy 1.18.0.",
                  DeprecationWarning, stacklevel=3)


def expm(A):
    """The matrix exponential e^A, as ``scipy.linalg.expm``, differentiable.

    A general A is exponentiated by SciPy (scaling and squaring); an exactly
    symmetric one by one ``eigh``, A = VΛVᵀ, e^A = V e^Λ Vᵀ.  The derivative is the
    Fréchet derivative L_exp(A, E) (Al-Mohy & Higham 2009), and at a symmetric A the
    Daleckii–Krein formula V(Γ ∘ VᵀEV)Vᵀ, exact at repeated eigenvalues.  A stack
    (…, N, N) is exponentiated member by member (each member by its 2-D path); its
    Jacobian is block diagonal, block k = L_exp(A_k, ·), applied for all members at
    once (``notes/derivatives.md`` §26.1).

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them (traced or plain).

    Returns
    -------
    expm : (..., N, N) ndarray
        e^A.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import expm
    >>> A = np.diag([1.0, 1.0, 2.0])            # a repeated eigenvalue
    >>> G = kronvec.grad(lambda A: np.trace(expm(A)))(A)
    >>> np.allclose(G, expm(A))                 # ∇ tr e^A = (e^A)ᵀ
    True
    >>> J = kronvec.jacobian(expm)(np.array([[0.0, 1.0], [-1.0, 0.0]]))
    >>> J.shape, J.formula()
    ((4, 4), 'L_expm(A, ·)')
    """
    return _ops.expm(_matrix(A, "expm"))


def logm(A, disp=_NO_VALUE):
    """The principal matrix logarithm, as ``scipy.linalg.logm``, differentiable; real results only.

    A matrix with an eigenvalue on the closed negative real axis has no real
    logarithm: ``LinAlgError``; a nearly singular one warns
    (``IllConditionedWarning``).  An exactly symmetric A is handled by one ``eigh``.
    A stack (…, N, N) is handled member by member; errors name the members.

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them.
    disp : bool, optional
        As SciPy 1.17 (deprecated there): ``disp=False`` returns
        ``(logm, errest)`` with errest = ‖expm(logm A) − A‖₁/‖A‖₁, a plain float
        (for a stack, one per member, as SciPy gives them).

    Returns
    -------
    logm : (N, N) ndarray
    errest : float
        (if ``disp`` is False)

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import logm
    >>> A = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> G = kronvec.grad(lambda A: np.trace(logm(A)))(A)     # ∇ tr log A = A⁻ᵀ
    >>> np.allclose(G, np.linalg.inv(A).T)
    True
    """
    if disp is not _NO_VALUE:
        _deprecated("disp", "logm")
    A = _matrix(A, "logm")
    F = float64_as_scipy(_ops.logm(A))  # (SciPy's logm of float32 is float64)
    if disp is _NO_VALUE or disp:
        return F
    import scipy.linalg

    plain, a = np.asarray(plain_value(F)), np.asarray(plain_value(A))
    if a.ndim > 2:  # one estimate per member, as SciPy's batched logm returns them
        return F, (np.linalg.matrix_norm(scipy.linalg.expm(plain) - a, ord=1)
                   / np.linalg.matrix_norm(a, ord=1))
    return F, float(np.linalg.norm(scipy.linalg.expm(plain) - a, 1) / np.linalg.norm(a, 1))


def sqrtm(A, disp=_NO_VALUE, blocksize=_NO_VALUE):
    """The principal matrix square root, as ``scipy.linalg.sqrtm``, differentiable; real results only.

    Its derivative solves dS·S + S·dS = dA: D sqrtm = (I ⊗ S + Sᵀ ⊗ I)⁻¹, applied by
    one triangular Sylvester solve on the Schur form of S.  A matrix with a
    negative real eigenvalue has no real square root: ``LinAlgError``; at a singular
    matrix the value exists but the derivative is infinite: ``LinAlgError``.  A stack
    (…, N, N) is handled member by member (its values are SciPy's batched square roots;
    the Fréchet derivatives of its general members come from the block identity on
    SciPy's batched square root); errors name the members.

    Parameters
    ----------
    A : (..., N, N) array_like
        A real square matrix or a stack of them.
    disp : bool, optional
        As SciPy 1.17 (deprecated there): ``disp=False`` returns ``(sqrtm, errest)``,
        errest = ‖S·S − A‖_F² / ‖A‖_F, a plain float (for a stack, one per member:
        SciPy 1.17 returns inf there, its 2-D norm failing on the stack).
    blocksize : int, optional
        Unused, as in SciPy 1.17 (deprecated there).

    Returns
    -------
    sqrtm : (N, N) ndarray
    errest : float
        (if ``disp`` is False)

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import sqrtm
    >>> A = np.array([[4.0, 1.0], [0.0, 9.0]])
    >>> sqrtm(A)
    array([[2. , 0.2],
           [0. , 3. ]])
    >>> J = kronvec.jacobian(sqrtm)(A)               # (I ⊗ S + Sᵀ ⊗ I)⁻¹, matrix-free
    >>> S = sqrtm(A); I = np.eye(2)
    >>> np.allclose(J.toarray(), np.linalg.inv(np.kron(I, S) + np.kron(S.T, I)))
    True
    """
    if disp is not _NO_VALUE:
        _deprecated("disp", "sqrtm")
    if blocksize is not _NO_VALUE:
        _deprecated("blocksize", "sqrtm")
    A = _matrix(A, "sqrtm")
    S = _ops.sqrtm(A)
    if disp is _NO_VALUE or disp:
        return S
    plain, a = np.asarray(plain_value(S)), np.asarray(plain_value(A))
    if a.ndim > 2:  # one estimate per member (SciPy 1.17 gives inf for a stack: its 2-D norm fails there)
        return S, (np.linalg.matrix_norm(plain @ plain - a, ord="fro") ** 2 / np.linalg.matrix_norm(a, ord="fro"))
    return S, float(np.linalg.norm(plain @ plain - a, "fro") ** 2 / np.linalg.norm(a, "fro"))


def fractional_matrix_power(A, t):
    """A^t for a symmetric positive definite A, as ``scipy.linalg.fractional_matrix_power``.

    An integer `t` is ``np.linalg.matrix_power(A, t)`` of any square A, as in SciPy.
    Otherwise kronvec supports **symmetric positive definite** input only (A^t = V Λ^t Vᵀ
    by one ``eigh``; exact derivatives at repeated eigenvalues): a matrix that is not
    exactly symmetric, or not positive definite, is a ``LinAlgError``.  The exponent `t` is a
    plain real number (not differentiated).  A stack (…, N, N) needs every member
    symmetric positive definite (errors name the members).

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import fractional_matrix_power
    >>> A = np.diag([4.0, 4.0, 9.0])
    >>> fractional_matrix_power(A, 0.5)
    array([[2., 0., 0.],
           [0., 2., 0.],
           [0., 0., 3.]])
    >>> G = kronvec.grad(lambda A: np.trace(fractional_matrix_power(A, 0.5)))(A)   # ½ A^(−½)
    >>> np.allclose(G, np.diag([0.25, 0.25, 1 / 6]))
    True
    """
    given = as_array(A)
    A = _matrix(A, "fractional_matrix_power")
    t = plain_parameter(t, "fractional_matrix_power", "t")
    if t.ndim != 0 or t.dtype.kind not in "biuf":
        raise TypeError(f"fractional_matrix_power: t must be a real number, got {t!r}")
    if np.isfinite(t) and float(t) == int(t):
        # SciPy's own first step: an integer power of any square matrix is
        # np.linalg.matrix_power (its dtype kept), no eigendecomposition, no symmetry needed
        return np.linalg.matrix_power(given, int(t))
    a = np.asarray(plain_value(A))
    if a.ndim > 2:
        members = _stack_members(a)
        asymmetric = ~(members == np.swapaxes(members, -1, -2)).all(axis=(-2, -1))
        if asymmetric.any():
            bad = asymmetric.reshape(a.shape[:-2], order="F")
            raise np.linalg.LinAlgError(
                f"fractional_matrix_power: kronvec supports symmetric positive definite input only; "
                f"{_stacked.member_count(bad)} of the stack of shape {a.shape} {'is' if bad.sum() == 1 else 'are'} "
                f"not symmetric, at batch index {_stacked.member_list(bad)}")
    elif not _ops._exactly_symmetric(a):
        raise np.linalg.LinAlgError(
            "fractional_matrix_power: kronvec supports symmetric positive definite input only; the "
            f"{a.shape[0]}×{a.shape[0]} matrix is not symmetric")
    return float64_as_scipy(_ops.fractional_power(A, t=float(t)))  # (SciPy: float64 for float32)


def polar(a, side="right"):
    """The polar decomposition a = u p (side='right') or a = p u (side='left'), as
    ``scipy.linalg.polar``, differentiable, for a square nonsingular or a tall/wide
    full-rank `a`.

    Values are SciPy's (one SVD a = W Σ Vᵀ: u = W Vᵀ, p = V Σ Vᵀ).  Derivatives by
    kronvec's own rules (``kronvec.ops.polar``): only sums σᵢ + σⱼ of singular values
    appear, so they are finite and exact at repeated singular values, and accurate to
    about eps·κ(a).  Where u is not unique — a rank-deficient `a`, or side='right' of a
    wide one (side='left' of a tall one) — a plain `a` gets SciPy's values and a traced
    one a ``LinAlgError`` (rank) or ``ValueError`` (shape): u has no derivative there.

    Parameters
    ----------
    a : (m, n) or (…, m, n) array_like
        A matrix, or a stack of them (each member decomposed, as SciPy 1.17 batches).
    side : {'right', 'left'}

    Returns
    -------
    u : (m, n) ndarray
        Orthonormal columns (m ≥ n, side='right') or rows.
    p : (n, n) or (m, m) ndarray
        Symmetric positive definite.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import polar
    >>> a = np.array([[1.0, -1.0], [2.0, 4.0]])
    >>> u, p = polar(a)
    >>> np.allclose(u @ p, a), np.allclose(u.T @ u, np.eye(2))
    (True, True)
    """
    if side not in ("right", "left"):
        raise ValueError("`side` must be either 'right' or 'left'")
    a = as_array(a)
    shape = tuple(np.shape(static_value(a)))
    if len(shape) < 2:
        raise ValueError(f"scipy.linalg.polar: `a` must be a 2-D array or a stack (…, m, n), got shape {shape}")
    plain = np.asarray(plain_value(a))
    if plain.dtype.kind not in "biuf":
        raise TypeError(f"polar: needs a real matrix, got dtype {plain.dtype}")
    if len(shape) > 2:
        _stacked.require_finite_members(plain, "polar")
    elif not np.isfinite(plain).all():
        raise ValueError("polar: the matrix has non-finite entries (inf or NaN)")
    if not is_traced(a):  # SciPy's own values, where u is not unique too (no derivative asked)
        return scipy.linalg.polar(plain, side=side)
    m, n = shape[-2:]
    right = side == "right"
    if (right and m < n) or (not right and m > n):
        raise ValueError(f"polar: kronvec differentiates side='right' for m ≥ n and side='left' for m ≤ n (the "
                         f"factor u is not unique otherwise); got shape {shape} with side={side!r}")
    return _polar.polar_unitary_and_positive(a, side)


def funm_symmetric(A, f, df):
    """f(A) = V f(Λ) Vᵀ for a symmetric A = VΛVᵀ and a scalar function f, differentiable.

    kronvec's spectral function of a symmetric matrix (``geoopt``'s ``sym_funcm``,
    ``scipy.linalg.funm`` restricted to symmetric input), with its derivative by the
    Daleckii–Krein formula: D f = (V ⊗ V)·Diag(vec Γ)·(Vᵀ ⊗ Vᵀ), Γᵢⱼ the divided
    difference (f(λᵢ) − f(λⱼ))/(λᵢ − λⱼ) and f′(λᵢ) where λᵢ = λⱼ — finite and exact
    at repeated eigenvalues (where derivatives written through ``eigh`` are NaN).

    Like ``np.linalg.eigh`` it is a function of a symmetric matrix: `A` is taken as
    (A + Aᵀ)/2 and differentiated along symmetric directions (gradients come back
    symmetric; ``notes/conventions.md`` §10).  Second derivatives go through the
    eigenvectors: they need distinct eigenvalues (``LinAlgError`` naming the gap
    otherwise) and `f`, `df` written with NumPy operations.

    Parameters
    ----------
    A : (N, N) or (…, N, N) array_like
        A real symmetric matrix, or a stack of them (one batched ``eigh``; block-diagonal
        Jacobian).
    f, df : callable
        f and its derivative f′, applied elementwise to a 1-D array of eigenvalues.

    Returns
    -------
    (N, N) ndarray
        f(A).

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import funm_symmetric
    >>> A = np.diag([1.0, 1.0, 2.0])
    >>> softplus = lambda x: np.logaddexp(0.0, x)
    >>> sigmoid = lambda x: 1.0 / (1.0 + np.exp(-x))
    >>> G = kronvec.grad(lambda A: np.trace(funm_symmetric(A, softplus, sigmoid)))(A)
    >>> np.allclose(G, np.diag(sigmoid(np.array([1.0, 1.0, 2.0]))))
    True
    """
    if not callable(f) or not callable(df):
        raise TypeError("funm_symmetric: f and df must be callables (f and its derivative, elementwise)")
    A = _matrix(A, "funm_symmetric")
    return _ops.funm_symmetric(A, f=f, df=df)
