"""Sylvester, Lyapunov and Riccati equations: ``scipy.linalg.solve_sylvester``,
``solve_continuous_lyapunov``, ``solve_discrete_lyapunov``, ``solve_continuous_are``
and ``solve_discrete_are``.

    A X + X B = Q       dX = S⁻¹(dQ − dA X − X dB),          S = I ⊗ A + Bᵀ ⊗ I
    A X + X Aᵀ = Q      dX = S⁻¹(dQ − dA X − X dAᵀ),         S = I ⊗ A + A ⊗ I
    A X Aᵀ − X + Q = 0  dX = T⁻¹(dQ + dA X Aᵀ + A X dAᵀ),    T = I − A ⊗ A

so, with Λ the adjoint solution for a cotangent Ḡ (Sᵀ vec Λ = vec Ḡ, i.e.
Aᵀ Λ + Λ Bᵀ = Ḡ; Tᵀ vec Λ = vec Ḡ, i.e. Λ = Aᵀ Λ A + Ḡ):

    Sylvester   Q̄ = Λ,  Ā = −Λ Xᵀ,          B̄ = −Xᵀ Λ
    continuous  Q̄ = Λ,  Ā = −(Λ Xᵀ + Λᵀ X)
    discrete    Q̄ = Λ,  Ā = Λ A Xᵀ + Λᵀ A X

Λ is the same equation with transposed coefficients: the VJPs call the same
operation again (traced when anything is, so second and third derivatives
follow), and on plain values reuse the Schur forms of the forward solve
(:mod:`kronvec._linalg.sylvester`, once per call).  The structured Jacobians
are the inverse Kronecker sum S⁻¹ (:class:`~kronvec.operators.SylvesterInverse`,
one Sylvester solve per vector), times −(Xᵀ ⊗ I), −(I ⊗ X) (and the commutation
matrix for Aᵀ) with respect to A and B; T⁻¹ is applied through the Cayley
transform C = (A − I)(A + I)⁻¹, for which X − A X Aᵀ = Q ⇔ C X + X Cᵀ =
−2 (A + I)⁻¹ Q (Aᵀ + I)⁻¹.  No (mn)×(mn) matrix on any derivative path.

The Riccati equations' derivatives are Lyapunov equations in the closed-loop
matrix (their VJPs call the Lyapunov operations, traced); their Jacobians are
built from the VJPs.  Singular equations (A and −B share an eigenvalue;
λᵢλⱼ = 1 for the discrete one) raise ``LinAlgError`` naming the function.  Derivation:
``notes/derivatives.md`` §27.
"""

from __future__ import annotations

import numpy as np

from .._linalg import checks
from .._linalg.sylvester import _remembered, lyapunov_solver, sylvester_solver
from .._tracer import Node
from ..operators import Commutation, Dense, Identity, Kron, KroneckerSum, SylvesterInverse, algebra
from . import _samples
from ._registry import Primitive, Sample, register
from ._support import bind, derived_label

__all__ = ["solve_sylvester", "solve_continuous_lyapunov", "solve_discrete_lyapunov", "stein_inverse",
           "solve_continuous_are", "solve_discrete_are"]

_SYLVESTER = "scipy.linalg.solve_sylvester"
_CONTINUOUS = "scipy.linalg.solve_continuous_lyapunov"
_DISCRETE = "scipy.linalg.solve_discrete_lyapunov"


def _traced(*values):
    return any(isinstance(v, Node) for v in values)


def _common_dtype(*arrays):
    return np.result_type(*(a.dtype for a in arrays), np.float32)


def _checked(operation, **named):
    """The named matrices validated (real, 2-D, finite) and cast to one float dtype."""
    arrays = {name: checks.as_matrix(value, name, operation) for name, value in named.items()}
    dtype = _common_dtype(*arrays.values())
    return [a.astype(dtype, copy=False) for a in arrays.values()]


def _square(M, name, operation):
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"{operation}: {name} must be square, got shape {M.shape}")


# ============================================================= Sylvester
def _sylvester_impl(A, B, Q):
    A, B, Q = _checked(_SYLVESTER, a=A, b=B, q=Q)
    _square(A, "a", _SYLVESTER)
    _square(B, "b", _SYLVESTER)
    if Q.shape != (A.shape[0], B.shape[0]):
        raise ValueError(f"{_SYLVESTER}: A X + X B = Q needs q of shape (a's order, b's order) = "
                         f"{(A.shape[0], B.shape[0])}; got a {A.shape}, b {B.shape}, q {Q.shape}")
    if A.size == 0 or B.size == 0:
        return np.zeros(Q.shape, dtype=Q.dtype)
    return sylvester_solver(A, B, _SYLVESTER).solve(Q)


def _sylvester_adjoint(g, A, B):
    """Λ with Aᵀ Λ + Λ Bᵀ = Ḡ: traced when anything is (a recorded solve_sylvester),
    else from the forward solve's Schur forms, once per call and cotangent."""
    if _traced(g, A, B):
        return bind(solve_sylvester, np.transpose(A), np.transpose(B), g)
    return _remembered("sylvester adjoint", (A, B, g),
                       lambda: sylvester_solver(A, B, _SYLVESTER).solve(np.asarray(g), transposed=True))


def _sylvester_vjp_q(g, X, A, B, Q):
    return _sylvester_adjoint(g, A, B)


def _sylvester_vjp_a(g, X, A, B, Q):
    # ⟨Λ, −dA X⟩ = ⟨−Λ Xᵀ, dA⟩
    return -(_sylvester_adjoint(g, A, B) @ np.transpose(X))


def _sylvester_vjp_b(g, X, A, B, Q):
    # ⟨Λ, −X dB⟩ = ⟨−Xᵀ Λ, dB⟩
    return -(np.transpose(X) @ _sylvester_adjoint(g, A, B))


def _sylvester_inverse(A, B, names):
    """S⁻¹ = (I ⊗ A + Bᵀ ⊗ I)⁻¹ with the forward solve's Schur forms."""
    A, B = np.asarray(A), np.asarray(B)
    a = Dense(A, name=names[0] if names and names[0] else None)
    b = Dense(B, name=names[1] if names and len(names) > 1 and names[1] else None)
    return SylvesterInverse(KroneckerSum(a, b), sylvester_solver(A, B, _SYLVESTER))


def _sylvester_jacobian_q(X, A, B, Q, names):
    return _sylvester_inverse(A, B, names)


def _sylvester_jacobian_a(X, A, B, Q, names):
    # vec(dA X) = (Xᵀ ⊗ I_m) vec dA
    X = np.asarray(X)
    return algebra.multiply(_sylvester_inverse(A, B, names), Kron(Dense(X.T), Identity(X.shape[0]), -1.0))


def _sylvester_jacobian_b(X, A, B, Q, names):
    # vec(X dB) = (I_n ⊗ X) vec dB
    X = np.asarray(X)
    return algebra.multiply(_sylvester_inverse(A, B, names), Kron(Identity(X.shape[1]), Dense(X), -1.0))


def _sylvester_samples(rng, n):
    # A's eigenvalues near +2√n, −B's near −2√(n+1): far from each other, a well-posed equation
    return (_samples.well_conditioned(rng, n), _samples.well_conditioned(rng, n + 1),
            rng.standard_normal((n, n + 1)))


def _complex_pair(rng):
    """A 3×3 matrix with eigenvalues 1 ± 2i and 3: its real Schur form has a 2×2 block."""
    Z, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    return Z @ np.array([[1.0, 2.0, 0.5], [-2.0, 1.0, 0.3], [0.0, 0.0, 3.0]]) @ Z.T


solve_sylvester = register(Primitive(
    _sylvester_impl, name="linalg.solve_sylvester",
    vjps={0: _sylvester_vjp_a, 1: _sylvester_vjp_b, 2: _sylvester_vjp_q},
    jacobians={0: _sylvester_jacobian_a, 1: _sylvester_jacobian_b, 2: _sylvester_jacobian_q},
    label=lambda a, b, q: derived_label("sylvester({}, {}, {})", a, b, q),
    formula="D_Q = S⁻¹, D_A = −S⁻¹(Xᵀ ⊗ I), D_B = −S⁻¹(I ⊗ X), S = I ⊗ A + Bᵀ ⊗ I (a Sylvester solve)",
    reference="Bartels & Stewart 1972; Magnus–Neudecker Thm 2.2 (vec of A X + X B); Giles 2008 "
              "(reverse mode of a linear solve)",
    samples=_sylvester_samples, param_names=("A", "B", "Q"),
    edge_cases={
        "1×1": lambda rng: (np.array([[2.0]]), np.array([[0.5]]), np.array([[3.0]])),
        "complex eigenvalues (2×2 Schur blocks)": lambda rng: (
            _complex_pair(rng), _complex_pair(np.random.default_rng(9)).T, rng.standard_normal((3, 3))),
        "a column (B 1×1)": lambda rng: (_samples.well_conditioned(rng, 3), np.array([[1.5]]),
                                         rng.standard_normal((3, 1))),
    },
    signature="(m,m),(n,n),(m,n)->(m,n)",
))


# ============================================================= continuous Lyapunov
def _lyapunov_args(A, Q, operation):
    A, Q = _checked(operation, a=A, q=Q)
    _square(A, "a", operation)
    _square(Q, "q", operation)
    if A.shape != Q.shape:
        raise ValueError(f"{operation}: a and q must have the same shape; got a {A.shape}, q {Q.shape}")
    return A, Q


def _continuous_impl(A, Q):
    A, Q = _lyapunov_args(A, Q, _CONTINUOUS)
    if A.size == 0:
        return np.zeros(Q.shape, dtype=Q.dtype)
    return lyapunov_solver(A, _CONTINUOUS).solve(Q)


def _continuous_adjoint(g, A):
    """Λ with Aᵀ Λ + Λ A = Ḡ (the same equation for Aᵀ)."""
    if _traced(g, A):
        return bind(solve_continuous_lyapunov, np.transpose(A), g)
    return _remembered("lyapunov adjoint", (A, g),
                       lambda: lyapunov_solver(A, _CONTINUOUS).solve(np.asarray(g), transposed=True))


def _continuous_vjp_a(g, X, A, Q):
    # ⟨Λ, −dA X − X dAᵀ⟩ = ⟨−(Λ Xᵀ + Λᵀ X), dA⟩
    L = _continuous_adjoint(g, A)
    return -(L @ np.transpose(X) + np.transpose(L) @ X)


def _continuous_vjp_q(g, X, A, Q):
    return _continuous_adjoint(g, A)


def _continuous_inverse(A, names):
    A = np.asarray(A)
    a = Dense(A, name=names[0] if names and names[0] else None)
    return SylvesterInverse(KroneckerSum(a, a.T), lyapunov_solver(A, _CONTINUOUS))


def _continuous_jacobian_q(X, A, Q, names):
    return _continuous_inverse(A, names)


def _continuous_jacobian_a(X, A, Q, names):
    # vec(dA X + X dAᵀ) = (Xᵀ ⊗ I) vec dA + (I ⊗ X) K vec dA
    X = np.asarray(X)
    n = X.shape[0]
    inner = algebra.add(Kron(Dense(X.T), Identity(n)), algebra.multiply(Kron(Identity(n), Dense(X)), Commutation(n, n)))
    return algebra.scale(algebra.multiply(_continuous_inverse(A, names), inner), -1.0)


def _continuous_samples(rng, n):
    return _samples.well_conditioned(rng, n), rng.standard_normal((n, n))


solve_continuous_lyapunov = register(Primitive(
    _continuous_impl, name="linalg.solve_continuous_lyapunov",
    vjps={0: _continuous_vjp_a, 1: _continuous_vjp_q},
    jacobians={0: _continuous_jacobian_a, 1: _continuous_jacobian_q},
    label=lambda a, q: derived_label("lyap({}, {})", a, q),
    formula="D_Q = S⁻¹, D_A = −S⁻¹((Xᵀ ⊗ I) + (I ⊗ X)K), S = I ⊗ A + A ⊗ I (a Lyapunov solve)",
    reference="Bartels & Stewart 1972; Magnus–Neudecker Thm 2.2 and ch. 3 (commutation matrix); "
              "Giles 2008 (reverse mode of a linear solve)",
    samples=_continuous_samples, param_names=("A", "Q"),
    edge_cases={
        "1×1": lambda rng: (np.array([[-1.5]]), np.array([[2.0]])),
        "complex eigenvalues (2×2 Schur blocks)": lambda rng: (_complex_pair(rng), rng.standard_normal((3, 3))),
        "stable A, symmetric Q (a Gramian)": lambda rng: (
            -_samples.well_conditioned(rng, 3), -_samples.spd(rng, 3)),
    },
    signature="(m,m),(m,m)->(m,m)",
))


# ============================================================= discrete Lyapunov
def _discrete_method(method, n):
    if method is None:  # SciPy's default: direct below order 10
        return "bilinear" if n >= 10 else "direct"
    if not isinstance(method, str) or method.lower() not in ("direct", "bilinear"):
        raise ValueError(f"{_DISCRETE}: Unknown solver {method!r} (method must be 'direct', 'bilinear' or None)")
    return method.lower()


def _discrete_impl(A, Q, method=None):
    A, Q = _lyapunov_args(A, Q, _DISCRETE)
    n = A.shape[0]
    method = _discrete_method(method, n)
    if n == 0:
        return np.zeros(Q.shape, dtype=np.float64)
    if method == "direct":
        # SciPy's: (I − A ⊗ A) vec_r X = vec_r Q with row-major vec, an n²×n² solve —
        # the value the user asked for with this method (derivatives never take this path)
        lhs = np.eye(n * n) - np.kron(A, A)
        return checks.checked_solve(lhs, Q.reshape(-1), _DISCRETE).reshape(Q.shape)
    # SciPy's bilinear transformation (Popov 1964): B = (Aᵀ − I)(Aᵀ + I)⁻¹,
    # C = 2 (A + I)⁻¹ Q (Aᵀ + I)⁻¹, then Bᵀ X + X B = −C.
    if A.dtype == np.float64:
        # The same equation: Bᵀ = (A + I)⁻¹(A − I) is the Cayley transform (A − I)(A + I)⁻¹
        # (functions of A commute), so X comes from the transform and its Schur form that
        # the derivatives use, remembered by A's identity within a call: one Schur
        # decomposition and one inverse per call where there were two of each.
        return _stein_solve(A, Q)
    eye = np.eye(n)  # (float32: in float64, as SciPy's value is)
    At_plus_inv = checks.checked_inverse(A.T + eye, _DISCRETE)
    B = (A.T - eye).dot(At_plus_inv)
    C = 2 * checks.checked_inverse(A + eye, _DISCRETE).dot(Q).dot(At_plus_inv)
    return lyapunov_solver(np.ascontiguousarray(B.T), _DISCRETE).solve(-C)


def _cayley(A):
    """(C, M) with M = (A + I)⁻¹ and C = (A − I) M, once per call: X − A X Aᵀ = Q ⇔
    C X + X Cᵀ = −2 M Q Mᵀ (the Stein equation as a Lyapunov equation)."""
    def compute():
        A64 = np.asarray(A)
        A64 = A64.astype(np.result_type(A64.dtype, np.float32), copy=False)
        eye = np.eye(A64.shape[0], dtype=A64.dtype)
        M = np.array(checks.checked_inverse(A64 + eye, _DISCRETE))
        C = (A64 - eye).dot(M)
        M.flags.writeable = False
        C.flags.writeable = False
        return C, M

    return _remembered("cayley", (A,), compute)


def _stein_solve(A, G, transposed=False):
    """X with X − A X Aᵀ = G (``transposed``: X − Aᵀ X A = G), through the Cayley transform."""
    C, M = _cayley(A)
    solver = lyapunov_solver(C, _DISCRETE)
    if transposed:  # X − Aᵀ X A = G ⇔ Cᵀ X + X C = −2 Mᵀ G M
        return solver.solve(-2.0 * M.T.dot(G).dot(M), transposed=True)
    return solver.solve(-2.0 * M.dot(G).dot(M.T))


def stein_inverse(A, name=None):
    """T⁻¹ = (I − A ⊗ A)⁻¹, vec Q ↦ vec X with X − A X Aᵀ = Q, as the structured operator
    S_C⁻¹ · (−2 M ⊗ M), S_C = I ⊗ C + C ⊗ I the Kronecker sum of the Cayley transform
    C = (A − I)(A + I)⁻¹ and M = (A + I)⁻¹: one Lyapunov solve per vector.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[0.5, 0.2], [-0.1, 0.3]])
    >>> T_inv = stein_inverse(A)
    >>> np.allclose(T_inv.toarray(), np.linalg.inv(np.eye(4) - np.kron(A, A)))
    True
    """
    A = np.asarray(A)
    C, M = _cayley(A)
    c = Dense(C, name=None if name is None else f"cayley({name})")
    inverse = SylvesterInverse(KroneckerSum(c, c.T), lyapunov_solver(C, _DISCRETE))
    m = Dense(M, name=None if name is None else f"inv({name} + I)")
    return algebra.multiply(inverse, Kron(m, m, -2.0))


def _discrete_adjoint(g, A, method):
    """Λ with Λ = Aᵀ Λ A + Ḡ (the same equation for Aᵀ)."""
    if _traced(g, A):
        return bind(solve_discrete_lyapunov, np.transpose(A), g, method=method)
    return _remembered("stein adjoint", (A, g), lambda: _stein_solve(A, np.asarray(g), transposed=True))


def _discrete_vjp_a(g, X, A, Q, method=None):
    # ⟨Λ, dA X Aᵀ + A X dAᵀ⟩ = ⟨Λ A Xᵀ + Λᵀ A X, dA⟩
    L = _discrete_adjoint(g, A, method)
    return (L @ A) @ np.transpose(X) + np.transpose(L) @ (A @ X)


def _discrete_vjp_q(g, X, A, Q, method=None):
    return _discrete_adjoint(g, A, method)


def _discrete_jacobian_q(X, A, Q, names, method=None):
    return stein_inverse(A, names[0] if names else None)


def _discrete_jacobian_a(X, A, Q, names, method=None):
    # vec(dA X Aᵀ + A X dAᵀ) = (A Xᵀ ⊗ I) vec dA + (I ⊗ A X) K vec dA
    X, A = np.asarray(X), np.asarray(A)
    n = X.shape[0]
    AX = A.dot(X)
    inner = algebra.add(Kron(Dense(A.dot(X.T)), Identity(n)),
                        algebra.multiply(Kron(Identity(n), Dense(AX)), Commutation(n, n)))
    return algebra.multiply(stein_inverse(A, names[0] if names else None), inner)


def _contraction(rng, n):
    """A nonsymmetric matrix of spectral radius about 0.5 (a stable discrete-time system)."""
    return rng.standard_normal((n, n)) / (2.0 * np.sqrt(n))


def _discrete_samples(rng, n):
    return _contraction(rng, n), rng.standard_normal((n, n))


solve_discrete_lyapunov = register(Primitive(
    _discrete_impl, name="linalg.solve_discrete_lyapunov",
    vjps={0: _discrete_vjp_a, 1: _discrete_vjp_q},
    jacobians={0: _discrete_jacobian_a, 1: _discrete_jacobian_q},
    label=lambda a, q, method=None: derived_label("dlyap({}, {})", a, q),
    formula="D_Q = T⁻¹, D_A = T⁻¹((A Xᵀ ⊗ I) + (I ⊗ A X)K), T = I − A ⊗ A (applied as a Lyapunov "
            "solve of the Cayley transform C = (A − I)(A + I)⁻¹)",
    reference="Popov 1964 / Gajic & Qureshi 2008 (bilinear transformation); Magnus–Neudecker Thm 2.2; "
              "Giles 2008 (reverse mode of a linear solve)",
    samples=_discrete_samples, param_names=("A", "Q"),
    edge_cases={
        "1×1": lambda rng: (np.array([[0.5]]), np.array([[2.0]])),
        "method='bilinear'": lambda rng: Sample(_discrete_samples(rng, 3), {"method": "bilinear"}),
        "complex eigenvalues (2×2 Schur blocks)": lambda rng: (_complex_pair(rng) / 4.0, rng.standard_normal((3, 3))),
    },
    signature="(m,m),(m,m)->(m,m)",
))


# ============================================================= algebraic Riccati equations
_CARE = "scipy.linalg.solve_continuous_are"
_DARE = "scipy.linalg.solve_discrete_are"


def _sym(M):
    """sym(M) = (M + Mᵀ)/2 (traceable); M itself when it is exactly symmetric and plain."""
    if not isinstance(M, Node) and np.array_equal(M, np.transpose(M)):
        return M
    return (M + np.transpose(M)) / 2


def _riccati_args(A, B, Q, R, operation):
    A, B, Q, R = _checked(operation, a=A, b=B, q=Q, r=R)
    _square(A, "a", operation)
    _square(Q, "q", operation)
    _square(R, "r", operation)
    if B.shape[0] != A.shape[0] or Q.shape != A.shape or R.shape[0] != B.shape[1]:
        raise ValueError(f"{operation}: a (m, m), b (m, n), q (m, m) and r (n, n) do not match; got a {A.shape}, "
                         f"b {B.shape}, q {Q.shape}, r {R.shape}")
    return A, B, _sym(Q), _sym(R)


def _riccati_value(solve, A, B, Q, R, balanced, operation):
    try:
        return solve(A, B, Q, R, balanced=bool(balanced))
    except np.linalg.LinAlgError as error:
        raise np.linalg.LinAlgError(f"{operation}: {error}") from None
    except ValueError as error:  # SciPy's checks: r singular, and the like
        raise ValueError(f"{operation}: {error}") from None


def _care_impl(A, B, Q, R, balanced=True):
    import scipy.linalg

    A, B, Q, R = _riccati_args(A, B, Q, R, _CARE)
    return _riccati_value(scipy.linalg.solve_continuous_are, A, B, Q, R, balanced, _CARE)


def _care_adjoint(g, X, A, B, R):
    """(Λ, R⁻¹Bᵀ) with Ac Λ + Λ Acᵀ = Ḡ, Ac = A − B R⁻¹ Bᵀ X the closed-loop matrix."""
    def compute():
        R_inv_Bt = np.linalg.solve(_sym(R), np.transpose(B))
        closed_loop = A - B @ (R_inv_Bt @ X)
        return solve_continuous_lyapunov(closed_loop, g), R_inv_Bt

    if _traced(g, X, A, B, R):
        return compute()
    return _remembered("care adjoint", (X, g), compute)


def _care_vjp_a(g, X, A, B, Q, R, balanced=True):
    # ⟨Λ, −(dAᵀ X + X dA)⟩ = −⟨X Λᵀ + Xᵀ Λ, dA⟩
    L, _ = _care_adjoint(g, X, A, B, R)
    return -(X @ np.transpose(L) + np.transpose(X) @ L)


def _care_vjp_q(g, X, A, B, Q, R, balanced=True):
    L, _ = _care_adjoint(g, X, A, B, R)
    return -_sym(L)


def _care_p(L, X):
    """P = Xᵀ Λ Xᵀ, the cotangent of G = B R⁻¹ Bᵀ: ⟨Λ, X dG X⟩ = ⟨P, dG⟩."""
    Xt = np.transpose(X)
    return Xt @ L @ Xt


def _care_vjp_b(g, X, A, B, Q, R, balanced=True):
    # ⟨P, dB R⁻¹ Bᵀ + B R⁻¹ dBᵀ⟩ = ⟨(P + Pᵀ) B R⁻¹, dB⟩ (R symmetric)
    L, R_inv_Bt = _care_adjoint(g, X, A, B, R)
    P = _care_p(L, X)
    return (P + np.transpose(P)) @ np.transpose(R_inv_Bt)


def _care_vjp_r(g, X, A, B, Q, R, balanced=True):
    # ⟨P, −B R⁻¹ dR R⁻¹ Bᵀ⟩ = −⟨R⁻¹ Bᵀ P B R⁻¹, dR⟩, along symmetric dR
    L, R_inv_Bt = _care_adjoint(g, X, A, B, R)
    P = _care_p(L, X)
    return -_sym(R_inv_Bt @ P @ np.transpose(R_inv_Bt))


def _riccati_samples(rng, n):
    return (rng.standard_normal((n, n)), rng.standard_normal((n, 2)), _samples.spd(rng, n), _samples.spd(rng, 2))


solve_continuous_are = register(Primitive(
    _care_impl, name="linalg.solve_continuous_are",
    vjps={0: _care_vjp_a, 1: _care_vjp_b, 2: _care_vjp_q, 3: _care_vjp_r},
    label=lambda a, b, q, r, balanced=True: derived_label("care({}, {}, {}, {})", a, b, q, r),
    formula="Acᵀ dX + dX Ac = −(dAᵀX + X dA − X dG X + dQ), Ac = A − G X, G = B R⁻¹ Bᵀ: dX = S⁻¹(…) with "
            "S = I ⊗ Acᵀ + Acᵀ ⊗ I; Q and R along symmetric directions",
    reference="implicit differentiation of the Riccati equation (Magnus–Neudecker ch. 8; Giles 2008); "
              "Arnold & Laub 1984 for the value",
    samples=_riccati_samples, param_names=("A", "B", "Q", "R"),
    edge_cases={
        "balanced=False": lambda rng: Sample(_riccati_samples(rng, 3), {"balanced": False}),
        "one input (B a column), stable A": lambda rng: (
            -np.eye(3) + 0.3 * rng.standard_normal((3, 3)), np.array([[1.0], [0.5], [-0.3]]), _samples.spd(rng, 3),
            np.array([[0.7]])),
    },
    signature="(m,m),(m,n),(m,m),(n,n)->(m,m)",
))


def _dare_impl(A, B, Q, R, balanced=True):
    import scipy.linalg

    A, B, Q, R = _riccati_args(A, B, Q, R, _DARE)
    return _riccati_value(scipy.linalg.solve_discrete_are, A, B, Q, R, balanced, _DARE)


def _dare_adjoint(g, X, A, B, R):
    """(Λ, K, Ac) with Λ = Ac Λ Acᵀ + Ḡ, K = (R + Bᵀ X B)⁻¹ Bᵀ X A, Ac = A − B K."""
    def compute():
        Bt = np.transpose(B)
        K = np.linalg.solve(_sym(R) + Bt @ X @ B, Bt @ X @ A)
        closed_loop = A - B @ K
        return solve_discrete_lyapunov(closed_loop, g), K, closed_loop

    if _traced(g, X, A, B, R):
        return compute()
    return _remembered("dare adjoint", (X, g), compute)


def _dare_cotangent_of_closed_loop(g, X, A, B, R):
    # ⟨Λ, dAcᵀ X Ac + Acᵀ X dAc⟩ = ⟨X Ac Λᵀ + Xᵀ Ac Λ, dAc⟩, dAc = dA − dB K (K held: the envelope)
    L, K, Ac = _dare_adjoint(g, X, A, B, R)
    return X @ Ac @ np.transpose(L) + np.transpose(X) @ Ac @ L, K


def _dare_vjp_a(g, X, A, B, Q, R, balanced=True):
    return _dare_cotangent_of_closed_loop(g, X, A, B, R)[0]


def _dare_vjp_b(g, X, A, B, Q, R, balanced=True):
    closed_loop_bar, K = _dare_cotangent_of_closed_loop(g, X, A, B, R)
    return -(closed_loop_bar @ np.transpose(K))


def _dare_vjp_q(g, X, A, B, Q, R, balanced=True):
    return _sym(_dare_adjoint(g, X, A, B, R)[0])


def _dare_vjp_r(g, X, A, B, Q, R, balanced=True):
    # ⟨Λ, Kᵀ dR K⟩ = ⟨K Λ Kᵀ, dR⟩, along symmetric dR
    L, K, _ = _dare_adjoint(g, X, A, B, R)
    return _sym(K @ L @ np.transpose(K))


solve_discrete_are = register(Primitive(
    _dare_impl, name="linalg.solve_discrete_are",
    vjps={0: _dare_vjp_a, 1: _dare_vjp_b, 2: _dare_vjp_q, 3: _dare_vjp_r},
    label=lambda a, b, q, r, balanced=True: derived_label("dare({}, {}, {}, {})", a, b, q, r),
    formula="dX − Acᵀ dX Ac = dQ + Kᵀ dR K + dAcᵀ X Ac + Acᵀ X dAc, dAc = dA − dB K, "
            "K = (R + BᵀXB)⁻¹BᵀXA, Ac = A − BK: dX = T⁻¹(…), T = I − Acᵀ ⊗ Acᵀ; Q and R along "
            "symmetric directions",
    reference="implicit differentiation with the optimal gain held fixed (envelope theorem); "
              "Magnus–Neudecker ch. 8; Arnold & Laub 1984 for the value",
    samples=lambda rng, n: (rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal((n, 2)),
                            _samples.spd(rng, n), _samples.spd(rng, 2)),
    param_names=("A", "B", "Q", "R"),
    edge_cases={
        "balanced=False": lambda rng: Sample(_riccati_samples(rng, 3), {"balanced": False}),
        # (as many inputs as states: X stays O(1), and SciPy's solution accurate enough for
        # finite differences; with few inputs X and the error of SciPy's QZ solution grow)
        "unstable A": lambda rng: (1.2 * np.eye(3) + 0.2 * rng.standard_normal((3, 3)),
                                   np.eye(3) + 0.2 * rng.standard_normal((3, 3)), _samples.spd(rng, 3),
                                   _samples.spd(rng, 3)),
    },
    signature="(m,m),(m,n),(m,m),(n,n)->(m,m)",
))
