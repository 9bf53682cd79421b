"""kronvec.scipy.linalg: Sylvester and Lyapunov equations (see kronvec/scipy/linalg.py).

``solve_sylvester``, ``solve_continuous_lyapunov`` (and its old name
``solve_lyapunov``), ``solve_discrete_lyapunov``, and the algebraic Riccati
equations ``solve_continuous_are`` and ``solve_discrete_are`` (without the
generalized ``e``, ``s`` options) with SciPy 1.17's names,
signatures and defaults, recorded as kronvec's operations
(``kronvec/ops/sylvester.py``): differentiable in every matrix argument, to
any order, with structured Jacobians that apply the inverse Kronecker sum by
Sylvester solves (no n²×n² matrix).  Stacks (…, m, m) are solved member by
member with SciPy's batch broadcasting.

Differences from SciPy, all on the loud side: an equation that is singular to
working precision (A and −B share an eigenvalue; λᵢλⱼ = 1 for the discrete
equation) raises ``numpy.linalg.LinAlgError`` where SciPy returns the solution
of a perturbed equation (with a warning, or silently for ``solve_sylvester``);
complex input is refused (kronvec's rules are real); NaN and inf raise
``ValueError``.  Derivations: ``notes/derivatives.md`` §27.
"""

from __future__ import annotations

import numpy as np

from ..ops import sylvester as _ops
from ._support import as_array, plain_parameter, plain_value

__all__ = ["solve_sylvester", "solve_continuous_lyapunov", "solve_lyapunov", "solve_discrete_lyapunov",
           "solve_continuous_are", "solve_discrete_are"]


def _batched(function, arrays, core_ndims, name):
    """``function(*members)`` for every member of the broadcast batch (SciPy's
    ``_apply_over_batch``), stacked; ``function(*arrays)`` without batch axes."""
    shapes = [np.shape(a) for a in arrays]
    for shape, core in zip(shapes, core_ndims):
        if len(shape) < core:
            raise ValueError(f"{name}: arguments must be at least {core}-D, got shapes {shapes}")
    batches = [shape[:len(shape) - core] for shape, core in zip(shapes, core_ndims)]
    if not any(batches):
        return function(*arrays)
    try:
        batch = np.broadcast_shapes(*batches)
    except ValueError:
        raise ValueError(f"{name}: the batch shapes of the arguments do not broadcast; got shapes {shapes}") from None
    members = [np.broadcast_to(a, batch + shape[len(shape) - core:]) if shape[:len(shape) - core] != batch else a
               for a, shape, core in zip(arrays, shapes, core_ndims)]
    results = [function(*(m[index] for m in members)) for index in np.ndindex(*batch)]
    if not results:
        raise ValueError(f"{name}: an empty batch (shapes {shapes}) is not supported")
    return np.reshape(np.stack(results), batch + np.shape(results[0]))


def solve_sylvester(a, b, q):
    """X with A X + X B = Q, as ``scipy.linalg.solve_sylvester``; differentiable in a, b and q.

    Bartels–Stewart: the real Schur forms of A and Bᵀ, then LAPACK ``trsyl``.
    The derivative is dX = S⁻¹(dQ − dA X − X dB) with S = I ⊗ A + Bᵀ ⊗ I, and
    the VJP solves the transposed equation Aᵀ Λ + Λ Bᵀ = Ḡ with the same Schur
    forms: Q̄ = Λ, Ā = −Λ Xᵀ, B̄ = −Xᵀ Λ.

    Parameters
    ----------
    a : (M, M) array_like
    b : (N, N) array_like
    q : (M, N) array_like

    Returns
    -------
    x : (M, N) ndarray (or a traced value)

    Raises
    ------
    LinAlgError
        When A and −B have a common eigenvalue (the solution is not unique).
    ValueError
        For shapes that do not match, or NaN/inf entries.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import solve_sylvester
    >>> a = np.array([[-3.0, -2.0, 0.0], [-1.0, -1.0, 3.0], [3.0, -5.0, -1.0]])
    >>> b = np.array([[1.0]]); q = np.array([[1.0], [2.0], [3.0]])
    >>> solve_sylvester(a, b, q)
    array([[ 0.0625],
           [-0.5625],
           [ 0.6875]])
    >>> g = kronvec.grad(lambda q: np.sum(solve_sylvester(a, b, q)))(q)   # Λ: Aᵀ Λ + Λ Bᵀ = 1
    >>> bool(np.allclose(a.T @ g + g @ b.T, 1.0))
    True
    """
    return _batched(_ops.solve_sylvester, (as_array(a), as_array(b), as_array(q)), (2, 2, 2),
                    "kronvec.scipy.linalg.solve_sylvester")


def _at_least_2d(x):
    """SciPy's ``np.atleast_2d`` of the Lyapunov solvers' arguments, traced or not."""
    ndim = np.ndim(x)
    return np.reshape(x, (1,) * (2 - ndim) + tuple(np.shape(x))) if ndim < 2 else x


def solve_continuous_lyapunov(a, q):
    """X with A X + X Aᵀ = Q, as ``scipy.linalg.solve_continuous_lyapunov``; differentiable in a and q.

    One real Schur form of A serves both sides (as in SciPy).  The derivative is
    dX = S⁻¹(dQ − dA X − X dAᵀ) with S = I ⊗ A + A ⊗ I; the VJP solves
    Aᵀ Λ + Λ A = Ḡ: Q̄ = Λ, Ā = −(Λ Xᵀ + Λᵀ X).

    Parameters
    ----------
    a, q : (M, M) array_like

    Returns
    -------
    x : (M, M) ndarray (or a traced value)

    Raises
    ------
    LinAlgError
        When two eigenvalues of A sum to zero (the solution is not unique); SciPy
        warns and perturbs instead.
    ValueError
        For shapes that do not match, or NaN/inf entries.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import solve_continuous_lyapunov
    >>> a = np.array([[-3.0, -2.0, 0.0], [-1.0, -1.0, 0.0], [0.0, -5.0, -1.0]])
    >>> x = solve_continuous_lyapunov(a, np.eye(3))
    >>> bool(np.allclose(a @ x + x @ a.T, np.eye(3)))
    True
    >>> trace_of_x = lambda a: np.trace(solve_continuous_lyapunov(a, np.eye(3)))
    >>> kronvec.grad(trace_of_x)(a).shape
    (3, 3)
    """
    return _batched(_ops.solve_continuous_lyapunov, (_at_least_2d(as_array(a)), _at_least_2d(as_array(q))),
                    (2, 2), "kronvec.scipy.linalg.solve_continuous_lyapunov")


#: SciPy's old name for :func:`solve_continuous_lyapunov`, kept by SciPy for compatibility.
solve_lyapunov = solve_continuous_lyapunov


def solve_discrete_lyapunov(a, q, method=None):
    """X with A X Aᵀ − X + Q = 0, as ``scipy.linalg.solve_discrete_lyapunov``; differentiable in a and q.

    The value is SciPy's, computed by `method` ('direct': the n²×n² system
    (I − A ⊗ A) vec X = vec Q; 'bilinear': a continuous Lyapunov equation after
    the bilinear transformation; None: 'direct' below order 10, as SciPy).
    The derivative does not depend on the method: dX = T⁻¹(dQ + dA X Aᵀ + A X dAᵀ)
    with T = I − A ⊗ A, applied as a Lyapunov solve of the Cayley transform
    (A − I)(A + I)⁻¹; the VJP solves Λ = Aᵀ Λ A + Ḡ: Q̄ = Λ, Ā = Λ A Xᵀ + Λᵀ A X.

    Parameters
    ----------
    a, q : (M, M) array_like
    method : {'direct', 'bilinear'}, optional
        A plain string.

    Returns
    -------
    x : (M, M) ndarray (or a traced value)

    Raises
    ------
    LinAlgError
        When λᵢλⱼ = 1 for eigenvalues of A (the solution is not unique).
    ValueError
        For shapes that do not match, NaN/inf entries, or an unknown method.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import solve_discrete_lyapunov
    >>> a = np.array([[0.2, 0.5], [0.7, -0.9]])
    >>> solve_discrete_lyapunov(a, np.eye(2))
    array([[ 0.70872893,  1.43518822],
           [ 1.43518822, -2.4266315 ]])
    >>> g = kronvec.grad(lambda q: np.trace(solve_discrete_lyapunov(a, q)))(np.eye(2))
    >>> bool(np.allclose(g - a.T @ g @ a, np.eye(2)))       # Λ = Aᵀ Λ A + I
    True
    """
    if method is not None:  # a plain string (a traced value there is refused by name)
        plain_parameter(method, "kronvec.scipy.linalg.solve_discrete_lyapunov", "method")

    def solve(a, q):
        return _ops.solve_discrete_lyapunov(a, q, method=method)

    return _batched(solve, (as_array(a), as_array(q)), (2, 2), "kronvec.scipy.linalg.solve_discrete_lyapunov")


def _riccati(function, name, a, b, q, r, e, s, balanced):
    if e is not None or s is not None:
        given = ", ".join(f"{option}=…" for option, value in (("e", e), ("s", s)) if value is not None)
        raise TypeError(f"kronvec.scipy.linalg.{name}: the generalized equation ({given}) is not supported; "
                        "pass e=None and s=None")
    if isinstance(balanced, np.ndarray) or not isinstance(balanced, (bool, np.bool_, int)):
        plain_parameter(balanced, f"kronvec.scipy.linalg.{name}", "balanced")
    a, b, q, r = (_at_least_2d(as_array(x)) for x in (a, b, q, r))
    for which, matrix in (("q", q), ("r", r)):
        # SciPy's own test (scipy.linalg._solvers._are_validate_args), on the plain values
        m = np.asarray(plain_value(matrix))
        if m.ndim == 2 and m.shape[0] == m.shape[1] and m.dtype.kind in "biuf" and np.all(np.isfinite(m)):
            if np.linalg.norm(m - m.T, 1) > np.spacing(np.linalg.norm(m, 1)) * 100:
                raise ValueError(f"kronvec.scipy.linalg.{name}: Matrix {which} should be symmetric/hermitian.")

    def solve(a, b, q, r):
        return function(a, b, q, r, balanced=bool(balanced))

    return _batched(solve, (a, b, q, r), (2, 2, 2, 2), f"kronvec.scipy.linalg.{name}")


def solve_continuous_are(a, b, q, r, e=None, s=None, balanced=True):
    """X with Aᵀ X + X A − X B R⁻¹ Bᵀ X + Q = 0, as ``scipy.linalg.solve_continuous_are``;
    differentiable in a, b, q and r.

    The value is SciPy's stabilizing solution.  With the closed-loop matrix
    Ac = A − B R⁻¹ Bᵀ X, differentiating the equation gives the Lyapunov
    equation Acᵀ dX + dX Ac = −(dAᵀ X + X dA − X dG X + dQ), dG = d(B R⁻¹ Bᵀ);
    the VJP solves Ac Λ + Λ Acᵀ = Ḡ (a traced ``solve_continuous_lyapunov``, so
    Hessians follow).  q and r are symmetric (SciPy checks it): their
    derivatives are along symmetric directions and their gradients symmetric.

    Parameters
    ----------
    a : (M, M) array_like
    b : (M, N) array_like
    q : (M, M) array_like, symmetric
    r : (N, N) array_like, symmetric and nonsingular
    e, s : None
        The generalized equation is not supported: anything but None is a TypeError.
    balanced : bool, default True
        SciPy's balancing of the Hamiltonian pencil (a plain bool; the value does
        not depend on it beyond rounding).

    Raises
    ------
    LinAlgError
        When SciPy finds no stabilizing solution (eigenvalues of the Hamiltonian
        pencil on or near the imaginary axis).
    ValueError
        For shapes that do not match, a q or r that is not symmetric, NaN or inf.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import solve_continuous_are
    >>> a = np.array([[4.0, 3.0], [-4.5, -3.5]]); b = np.array([[1.0], [-1.0]])
    >>> q = np.array([[9.0, 6.0], [6.0, 4.0]]); r = np.array([[1.0]])
    >>> x = solve_continuous_are(a, b, q, r)
    >>> bool(np.allclose(a.T @ x + x @ a - x @ b @ b.T @ x, -q))
    True
    >>> g = kronvec.grad(lambda r: np.trace(solve_continuous_are(a, b, q, r)))(r)   # d tr X / dr
    >>> g.shape
    (1, 1)
    """
    return _riccati(_ops.solve_continuous_are, "solve_continuous_are", a, b, q, r, e, s, balanced)


def solve_discrete_are(a, b, q, r, e=None, s=None, balanced=True):
    """X with Aᵀ X A − X − (Aᵀ X B)(R + Bᵀ X B)⁻¹(Bᵀ X A) + Q = 0, as
    ``scipy.linalg.solve_discrete_are``; differentiable in a, b, q and r.

    The value is SciPy's stabilizing solution.  With the optimal gain
    K = (R + Bᵀ X B)⁻¹ Bᵀ X A and Ac = A − B K, X = Acᵀ X Ac + Kᵀ R K + Q and K
    is stationary (the envelope theorem), so dX − Acᵀ dX Ac = dQ + Kᵀ dR K +
    dAcᵀ X Ac + Acᵀ X dAc with dAc = dA − dB K; the VJP solves Λ = Ac Λ Acᵀ + Ḡ
    (a traced ``solve_discrete_lyapunov``).  q and r as in
    :func:`solve_continuous_are`.

    Parameters
    ----------
    a : (M, M) array_like
    b : (M, N) array_like
    q : (M, M) array_like, symmetric
    r : (N, N) array_like, symmetric
    e, s : None
        The generalized equation is not supported: anything but None is a TypeError.
    balanced : bool, default True

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.linalg import solve_discrete_are
    >>> a = np.array([[0.0, 1.0], [0.0, 0.0]]); b = np.array([[0.0], [1.0]])
    >>> q = np.array([[1.0, 0.0], [0.0, 0.0]]); r = np.array([[1.0]])
    >>> x = solve_discrete_are(a, b, q, r)
    >>> bool(np.allclose(a.T @ x @ a - x - a.T @ x @ b @ np.linalg.solve(r + b.T @ x @ b, b.T @ x @ a), -q))
    True
    >>> kronvec.grad(lambda a: np.trace(solve_discrete_are(a, b, q, r)))(a).shape
    (2, 2)
    """
    return _riccati(_ops.solve_discrete_are, "solve_discrete_are", a, b, q, r, e, s, balanced)
