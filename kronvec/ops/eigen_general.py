"""The eigendecomposition of a general real matrix with real eigenvalues:
``np.linalg.eig`` and ``np.linalg.eigvals``.

NumPy returns real arrays when every eigenvalue is real, complex ones otherwise.
kronvec differentiates the real case. A complex result is refused by name,
because kronvec computes in real arithmetic only (conventions.md §4). Real spectra
of non-symmetric matrices are common: triangular matrices, products of two
symmetric positive definite matrices (the generalized eigenproblems of LDA and
CCA, eig(B⁻¹A)), matrices similar to a symmetric one.

With A V = V Λ (unit columns, as LAPACK's geev returns them) and distinct
eigenvalues, M = V⁻¹ dA V gives

    dλᵢ = Mᵢᵢ,    dV = P − V diag(diag(VᵀP)),    P = V (F ∘ M),    Fᵢⱼ = 1/(λⱼ − λᵢ) (i ≠ j), 0,

the second term keeping each column at unit length. In vec form
D λ = S_diag·(Vᵀ ⊗ V⁻¹) and
D V = (I − Diag(vec V)·(I ⊗ 11ᵀ)·Diag(vec V))·(I ⊗ V)·Diag(vec F)·(Vᵀ ⊗ V⁻¹):
O(n²) memory. The derivatives are of what NumPy returns: its order of the
eigenvalues and its sign of each eigenvector, both locally constant.

Where two eigenvalues coincide the eigenvectors are not unique, and for a
non-symmetric matrix the eigenvalues themselves are generally not differentiable
(a Jordan block's eigenvalues move like a square root). So both raise
``LinAlgError`` naming the two eigenvalues and the gap. A nearly defective
matrix, whose eigenvector matrix V is ill-conditioned, warns
(``IllConditionedWarning``) when V is inverted.

Derivation: ``notes/derivatives.md`` §36 (Magnus–Neudecker ch. 8.8; Giles 2008 §3.1).
"""

from __future__ import annotations

import numpy as np

from .._config import condition_threshold
from .._linalg.factorization import factorize
from .._tracer import Node
from ..operators import Dense, Diag, Identity, Kron, Selection, algebra
from ._registry import Primitive, numpy_function, register
from ._support import bind, shape_of
from ._matrix_support import _mT, _remembered, _square_shape, _warn_if_ill_conditioned

try:  # NumPy's result type (NumPy ≥ 2.0); a plain tuple elsewhere
    from numpy.linalg._linalg import EigResult
except ImportError:  # pragma: no cover
    EigResult = tuple

__all__ = ["eig_values", "eig_vectors"]

_EIG = "np.linalg.eig"
_EIGVALS = "np.linalg.eigvals"


def _refuse_stack(shape, operation):
    if len(shape) != 2:
        raise TypeError(f"kronvec differentiates {operation} of one matrix; got shape {tuple(shape)} "
                        "(a stack: differentiate its members one by one)")


def _plain_matrix(A, operation):
    A = np.asarray(A)
    _refuse_stack(A.shape, operation)
    return A if A.dtype.char in "fd" else A.astype(np.float64)


def _eig_factors(A, operation):
    """``np.linalg.eig(A)`` once per call: (λ, V, V⁻¹), all real, the eigenvalues distinct."""
    return _remembered("eig", (A,), lambda: _real_factors(A, operation))


def _real_factors(A, operation):
    values, vectors = np.linalg.eig(A)
    if np.iscomplexobj(values):
        complex_values = values[values.imag != 0]
        raise TypeError(
            f"{operation}: the {A.shape[0]}×{A.shape[0]} matrix has complex eigenvalues (e.g. "
            f"{complex_values[0]:.6g}); kronvec differentiates real arrays only. A symmetric matrix has a real "
            "spectrum: use np.linalg.eigh")
    _check_gaps(values, operation)
    inverse = factorize(vectors, f"{operation} (its eigenvector matrix)").inverse()
    return values, vectors, inverse


def _check_gaps(values, operation):
    """LinAlgError at two coinciding eigenvalues; IllConditionedWarning at nearly coinciding ones."""
    k = values.size
    if k < 2:
        return
    order = np.argsort(values, kind="stable")
    gaps = np.diff(values[order])
    i = int(np.argmin(gaps))
    gap = float(gaps[i])
    scale = float(np.max(np.abs(values)))
    tolerance = k * float(np.finfo(values.dtype).eps) * scale
    threshold = condition_threshold(values.dtype)
    if gap > tolerance and (threshold is None or scale / gap <= threshold):
        return
    positions = (int(order[i]) + 1, int(order[i + 1]) + 1)
    low, high = values[order[i]], values[order[i + 1]]
    if gap <= tolerance:
        raise np.linalg.LinAlgError(
            f"{operation}: repeated eigenvalues λ{positions[0]} = {low:.6g} and λ{positions[1]} = {high:.6g} "
            f"(gap {gap:.3g} ≤ {tolerance:.3g}): the eigenvectors are not unique there, and the eigenvalues of a "
            "non-symmetric matrix are not differentiable there in general (a Jordan block's move like a square "
            "root); for a symmetric matrix use np.linalg.eigh")
    _warn_if_ill_conditioned(scale / gap, values.dtype,
                             f"{operation}: nearly repeated eigenvalues λ{positions[0]} = {low:.6g} and "
                             f"λ{positions[1]} = {high:.6g} (gap {gap:.3g})")


def _gap_factors(w):
    """F with Fᵢⱼ = 1/(λⱼ − λᵢ) off the diagonal, 0 on it: traceable (w plain or traced;
    the diagonal's difference is replaced by 1 before dividing, and masked out)."""
    k = shape_of(w)[0]
    identity = np.eye(k)
    difference = np.expand_dims(w, 0) - np.expand_dims(w, 1)  # [i, j] = λⱼ − λᵢ
    return (1.0 - identity) / (difference + identity)


def _factors_for_derivative(A, operation):
    """(λ, V, V⁻¹): plain from the call's factorization, or recorded for a traced A (so
    that the derivative can be differentiated again)."""
    if isinstance(A, Node):
        V = bind(eig_vectors, A, operation=operation)
        return bind(eig_values, A, operation=operation), V, np.linalg.inv(V)
    return _eig_factors(_plain_matrix(A, operation), operation)


# ------------------------------------------------------------------ eigvals
def _eig_values_impl(A, operation=_EIGVALS):
    return _eig_factors(_plain_matrix(A, operation), operation)[0]


def _eig_values_vjp(g, w, A, operation=_EIGVALS):
    # dλᵢ = (V⁻¹ dA V)ᵢᵢ ⇒ Ā = V⁻ᵀ diag(λ̄) Vᵀ
    _, V, V_inverse = _factors_for_derivative(A, operation)
    return (_mT(V_inverse) * np.expand_dims(g, 0)) @ _mT(V)


def _eig_values_jacobian(w, A, names, operation=_EIGVALS):
    _, V, V_inverse = _eig_factors(_plain_matrix(A, operation), operation)
    n = V.shape[0]
    return algebra.multiply(Selection(np.arange(n) * (n + 1), n * n), Kron(Dense(V.T), Dense(V_inverse)))


def _real_spectrum_samples(rng, n):
    """S diag(1, 2, …, n) S⁻¹ with S = I + G/(2√n): non-symmetric, real eigenvalues 1 apart,
    a well-conditioned eigenvector matrix."""
    S = np.eye(n) + rng.standard_normal((n, n)) / (2.0 * np.sqrt(n))
    return (np.linalg.solve(S.T, (S * np.arange(1.0, n + 1.0)).T).T,)


_EDGE_CASES = {
    "1×1": lambda rng: (np.array([[-1.5]]),),
    # (no triangular case: at a triangular point LAPACK's order and signs jump under a
    # perturbation below the diagonal, so NumPy's eig is not continuous there — conventions.md §10)
    "negative and positive eigenvalues": lambda rng: (_real_spectrum_samples(rng, 3)[0] - 2.5 * np.eye(3),),
    "a product of two SPD matrices (B⁻¹A)": lambda rng: (_spd_product(rng),),
}


def _spd_product(rng):
    G, H = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    return np.linalg.solve(H @ H.T + 3.0 * np.eye(3), G @ G.T + np.diag([1.0, 4.0, 9.0]))


eig_values = register(Primitive(
    _eig_values_impl, name="linalg.eigvals",
    vjps={0: _eig_values_vjp},
    jacobians={0: _eig_values_jacobian},
    label=lambda a, operation=_EIGVALS: None,
    formula="D λ = S_diag·(Vᵀ ⊗ V⁻¹): dλᵢ = uᵢᵀ dA vᵢ, uᵢᵀ the i-th row of V⁻¹ (a left eigenvector)",
    reference="Magnus–Neudecker ch. 8.8 (the differential of a simple eigenvalue); Giles 2008 §3.1",
    samples=_real_spectrum_samples, param_names=("A",),
    edge_cases=_EDGE_CASES,
    fuzz=lambda Y, c: np.linalg.eigvals(_real_spectrum_of(Y)) * np.ones((Y.shape[0], 1)),
    signature="(m,m)->(m)",
))


def _real_spectrum_of(Y):
    """T + tanh(Y)/(8p) with T = triu(1) + diag(0, 1, …, p−1): its eigenvalues stay real and at
    least ½ apart (Bauer–Fike on the triangular T, whose eigenvector matrix is well
    conditioned at these orders), smooth in Y (fuzzing templates)."""
    p = Y.shape[0]
    return np.triu(np.ones((p, p)), 1) * 0.25 + np.diag(np.arange(float(p))) + np.tanh(Y[:, :p]) / (8.0 * p)


# ------------------------------------------------------------------ eig's vectors
def _eig_vectors_impl(A, operation=_EIG):
    return _eig_factors(_plain_matrix(A, operation), operation)[1]


def _eig_vectors_vjp(g, V, A, operation=_EIG):
    # dV = P − V diag(diag(VᵀP)), P = V (F ∘ M), M = V⁻¹ dA V ⇒
    # P̄ = V̄ − V diag(diag(VᵀV̄)),  M̄ = F ∘ (Vᵀ P̄),  Ā = V⁻ᵀ M̄ Vᵀ
    w, V, V_inverse = _factors_for_derivative(A, operation)
    P_bar = g - V * np.sum(V * g, axis=0, keepdims=True)
    M_bar = _gap_factors(w) * (_mT(V) @ P_bar)
    return _mT(V_inverse) @ M_bar @ _mT(V)


def _eig_vectors_jacobian(V, A, names, operation=_EIG):
    w, V, V_inverse = _eig_factors(_plain_matrix(A, operation), operation)
    n = V.shape[0]
    dtype = V.dtype
    F = _gap_factors(w)
    v = V.reshape(-1, order="F")
    # the projection of each column of P off its eigenvector: Diag(vec V)·(I ⊗ 11ᵀ)·Diag(vec V)
    along = algebra.multiply(Diag(v), algebra.multiply(Kron(Identity(n, dtype), Dense(np.ones((n, n), dtype))),
                                                       Diag(v)))
    projection = algebra.add(Identity(n * n, dtype), algebra.scale(along, -1.0))
    return algebra.multiply(projection, algebra.multiply(
        Kron(Identity(n, dtype), Dense(V)), algebra.multiply(Diag(F.reshape(-1, order="F")),
                                                             Kron(Dense(V.T), Dense(V_inverse)))))


eig_vectors = register(Primitive(
    _eig_vectors_impl, name="linalg.eig_vectors",
    vjps={0: _eig_vectors_vjp},
    jacobians={0: _eig_vectors_jacobian},
    label=lambda a, operation=_EIG: None,
    formula="D V = (I − Diag(vec V)(I ⊗ 11ᵀ)Diag(vec V))·(I ⊗ V)·Diag(vec F)·(Vᵀ ⊗ V⁻¹), "
            "Fᵢⱼ = 1/(λⱼ − λᵢ) (i ≠ j), 0 on the diagonal; the first factor keeps each column at unit length",
    reference="Magnus–Neudecker ch. 8.8 (the differential of an eigenvector); Giles 2008 §3.1",
    samples=_real_spectrum_samples, param_names=("A",),
    edge_cases={name: case for name, case in _EDGE_CASES.items() if name != "1×1"},
    fuzz=lambda Y, c: np.linalg.eig(_real_spectrum_of(Y))[1],
    signature="(m,m)->(m,m)",
))


# ------------------------------------------------------------------ front doors
def _checked_square(a, operation):
    _square_shape(a, operation)
    _refuse_stack(shape_of(a), operation)


@numpy_function(np.linalg.eig)
def _eig(a):
    _checked_square(a, _EIG)
    return EigResult(bind(eig_values, a, operation=_EIG), bind(eig_vectors, a, operation=_EIG))


@numpy_function(np.linalg.eigvals)
def _eigvals(a):
    _checked_square(a, _EIGVALS)
    return bind(eig_values, a)
