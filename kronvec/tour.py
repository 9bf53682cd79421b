"""The tour: ``python -m kronvec`` checks the identities of matrix calculus kronvec is built on.

Every identity is one small *check*: a function registered with
:func:`check` that builds the derivative with kronvec, measures it against
an independent reference (central finite differences, or the dense matrix
for the algebraic laws) and returns ``(formula, error, tolerance)``:

    formula    the formula kronvec built (an operator's ``formula()``),
    error      the largest absolute deviation from the reference,
    tolerance  what the error is allowed to be (see FD_TOL / ALG_TOL below).

:func:`main` runs :data:`CHECKS` in order, prints a plain-text table at most
:data:`WIDTH` columns wide (each check on one line, the formula kronvec built
indented below it) and a summary line, and returns 0 only if every check passed.  The
sizes are tiny (2×2 … 4×4) so every materialization takes kronvec's plain
NumPy path: the tour runs in well under a second and never imports numba
(``kronvec.config.numba_min_entries`` sets that cut-over).

To add a check, write a function returning ``(formula, error, tolerance)``
and decorate it with ``@check("label", "the identity")``.  Checks 1–12 build
each identity from the closed-form rules; checks 13–20 get the same
identities by differentiating the NumPy expressions as written.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import textwrap
import time
from typing import Callable

import numpy as np
import scipy

from . import __version__, rules
from ._vec import unvec, vec
from .operators import Commutation, Dense, Identity, Kron, RowVector, Selection

__all__ = ["Check", "CHECKS", "check", "main", "run_checks", "numerical_jacobian",
           "numerical_gradient"]

CONVENTIONS = (
    "vec = column-major stacking · Kron(A, B) = np.kron(A, B) · "
    "Jacobian DF = ∂vec F/∂(vec X)ᵀ (numerator layout, rows = outputs) · "
    "gradient ∇_X f = unvec(Dfᵀ), shaped like X"
)

# ---------------------------------------------------------------------------
# Tolerances
# ---------------------------------------------------------------------------
# Central differences: (f(x + h) − f(x − h)) / 2h = f'(x) + h²/6 · f'''(ξ),
# and each evaluation carries a rounding error of about eps·|f|, which the
# division by 2h magnifies to eps·|f|/h.  So the error is O(h²) + O(eps/h).
# With h = 1e-5 and the O(1), well-conditioned seeded inputs used here
# (|f'''| and |f| of order 1–100) that is ≈ 1e-11·|f'''| + 2e-11·|f|, and
# FD_TOL = 1e-7 (scaled by the size of the reference) leaves a margin of
# more than 1000× — while any genuine formula error (a missing transpose,
# swapped Kronecker factors, a dropped term) changes entries by O(1).
FD_STEP = 1e-5
FD_TOL = 1e-7
# Algebraic laws compare two floating-point evaluations of the same exact
# matrix (a structured result against np.kron / np.linalg.inv): only
# rounding separates them, a few ulps times the size of the entries.
ALG_TOL = 1e-12


def fd_tol(reference):
    """FD_TOL scaled by the magnitude of the reference (never below FD_TOL)."""
    return FD_TOL * max(1.0, float(np.max(np.abs(reference), initial=0.0)))


def alg_tol(reference):
    """ALG_TOL scaled by the magnitude of the reference (never below ALG_TOL)."""
    return ALG_TOL * max(1.0, float(np.max(np.abs(reference), initial=0.0)))


def max_abs(*differences):
    """The largest absolute entry over all the given arrays (0 for none)."""
    return max((float(np.max(np.abs(d), initial=0.0)) for d in differences), default=0.0)


# ---------------------------------------------------------------------------
# Finite-difference references (independent of every kronvec rule)
# ---------------------------------------------------------------------------
def numerical_jacobian(f, X, h=FD_STEP):
    """Numerator-layout Jacobian ∂vec f/∂(vec X)ᵀ by central differences.

    Column k is ``(vec f(X + h·E_k) − vec f(X − h·E_k)) / 2h`` with
    ``E_k = unvec(e_k)``; a scalar f gives a 1×mn Jacobian *row*.
    """
    X = np.asarray(X, dtype=np.float64)
    x = vec(X).copy()
    columns = []
    for k in range(x.size):
        step = np.zeros_like(x)
        step[k] = h
        plus = np.asarray(f(unvec(x + step, X.shape)), dtype=np.float64)
        minus = np.asarray(f(unvec(x - step, X.shape)), dtype=np.float64)
        columns.append(vec(plus - minus) / (2.0 * h))
    return np.stack(columns, axis=1)


def numerical_gradient(f, X, h=FD_STEP):
    """The gradient of a scalar f, shaped like X: ``unvec(Dfᵀ)``."""
    X = np.asarray(X, dtype=np.float64)
    return unvec(numerical_jacobian(f, X, h)[0], X.shape)


# ---------------------------------------------------------------------------
# The check registry
# ---------------------------------------------------------------------------
class CheckFailed(AssertionError):
    """Raised by a check whose result is wrong in kind (e.g. not a Kron)."""


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the tour: ``func() -> (formula, error, tolerance)``."""

    label: str
    name: str
    func: Callable[[], tuple]


@dataclasses.dataclass
class Outcome:
    check: Check
    formula: str
    error: float
    tolerance: float
    seconds: float
    status: str  # "pass", "FAIL" or "ERROR"


CHECKS: list[Check] = []


def check(label, name):
    """Register the decorated function as a check of the tour (returns it unchanged)."""

    def register(func):
        CHECKS.append(Check(label, name, func))
        return func

    return register


def _rng(seed):
    """A fixed generator per check, so checks do not depend on their order."""
    return np.random.default_rng(seed)


def _well_conditioned(rng, n):
    """Square, singular values about [0.5, 1.5]·√n: safe to invert and to difference."""
    return rng.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)


def _expect_type(op, cls, law):
    if not isinstance(op, cls):
        raise CheckFailed(f"{law}: expected a {cls.__name__}, got {op!r}")
    return op


def _fmt_matrix(M):
    rows = ", ".join("[" + ", ".join(f"{x:g}" for x in row) + "]" for row in np.atleast_2d(M))
    return f"[{rows}]"


# ---------------------------------------------------------------------------
# 1. The gradient is shaped like A; the Jacobian is a row   (seed 000)
# ---------------------------------------------------------------------------
A1 = np.array([[1.0, 2.0], [3.0, 4.0]])


def _f1(A):
    return 1.5 * A[0, 0] + 5.0 * A[0, 1] ** 2 + A[1, 0] * A[1, 1]


def _grad_f1(A):
    return np.array([[1.5, 10.0 * A[0, 1]], [A[1, 1], A[1, 0]]])


@check("1a", "f = 1.5A₁₁+5A₁₂²+A₂₁A₂₂ ⇒ ∇f = [[1.5, 10A₁₂], [A₂₂, A₂₁]]")
def _check_gradient_closed_form():
    G = _grad_f1(A1)
    error = max_abs(numerical_gradient(_f1, A1) - G)
    return f"∇f(A={_fmt_matrix(A1)}) = {_fmt_matrix(G)}", error, fd_tol(G)


@check("1b", "∇_A f built from kronvec pieces")
def _check_gradient_from_pieces():
    # vec A = [A₁₁, A₂₁, A₁₂, A₂₂] (column-major); s_ij picks A_ij from it.
    A = A1
    s11, s21, s12, s22 = (Selection([k], 4, name=name)
                          for k, name in enumerate(["s₁₁", "s₂₁", "s₁₂", "s₂₂"]))
    a = {name: A[i:i + 1, j:j + 1] for name, (i, j) in
         {"11": (0, 0), "21": (1, 0), "12": (0, 1), "22": (1, 1)}.items()}
    square = rules.product_rule(a["12"], s12, a["12"], s12)  # D(A₁₂·A₁₂)
    cross = rules.product_rule(a["21"], s21, a["22"], s22)  # D(A₂₁·A₂₂)
    D = rules.sum_rule(1.5 * s11, 5.0 * square, cross)  # a 1×4 Jacobian row
    gradient = RowVector(D.toarray()).gradient(A.shape)
    error = max_abs(gradient - _grad_f1(A), gradient - numerical_gradient(_f1, A))
    return D.formula(), error, fd_tol(gradient)


@check("1c", "Jacobian row Df = vec(∇f)ᵀ ≠ ∇f")
def _check_row_versus_gradient():
    row = numerical_jacobian(_f1, A1)  # 1×4, numerator layout
    J = RowVector(row)
    gradient = J.gradient(A1.shape)  # unvec(Dfᵀ)
    if np.allclose(row.reshape(A1.shape), gradient):  # row-major reading is wrong here
        raise CheckFailed("a row-major reshape of Df should differ from ∇f for this f")
    formula = f"Df = {_fmt_matrix(np.round(row, 9))} (1×4 row) → ∇f = unvec(Dfᵀ) = " \
              f"{_fmt_matrix(np.round(gradient, 9))}"
    return formula, max_abs(gradient - _grad_f1(A1)), fd_tol(gradient)


# ---------------------------------------------------------------------------
# 2. ∇_A tr(AB) = Bᵀ   (seeds 000, 001, 002)
# ---------------------------------------------------------------------------
@check("2", "∇_A tr(AB) = Bᵀ")
def _check_trace_product():
    rng = _rng(2)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    D = rules.trace_product(A, B)
    gradient = D.gradient(A.shape)
    error = max_abs(gradient - B.T,
                    gradient - numerical_gradient(lambda X: np.trace(X @ B), A))
    return D.formula(), error, fd_tol(B)


# ---------------------------------------------------------------------------
# 4 (used by 3). ∇_A tr(ABAᵀC) = CAB + CᵀABᵀ   (seed 001, 3.B)
# ---------------------------------------------------------------------------
def _abatc_inputs():
    rng = _rng(4)
    m, n = 2, 3
    return (rng.standard_normal((m, n)), rng.standard_normal((n, n)),
            rng.standard_normal((m, m)))


def _f_abatc(A, B, C):
    return np.trace(A @ B @ A.T @ C)


def _jacobian_abatc(A, B, C):
    """D vec(ABAᵀC) by the product rule on F = AB, G = AᵀC, then the trace row."""
    m, n = A.shape
    F, G = A @ B, A.T @ C
    dF = rules.matmul_wrt_left(A, B)  # D(AB) = Bᵀ ⊗ I_m
    # D(AᵀC) = D(Y ↦ YC) · D(Aᵀ) = (Cᵀ ⊗ I_n) K_{m,n}.  (rules.matmul_wrt_left(Aᵀ, C)
    # gives the same operator but always names its right factor "B", so C is
    # named here through linear_map, the engine matmul_wrt_left itself uses.)
    d_right_c = rules.linear_map(None, Dense(C, name="C"), (n, m))
    dG = rules.chain_rule(d_right_c, rules.transpose(A))
    D = rules.product_rule(F, dF, G, dG)  # (Gᵀ ⊗ I)DF + (I ⊗ F)DG
    trace_row = rules.trace(F @ G)  # vec(I)ᵀ
    return rules.chain_rule(trace_row, D), f"{trace_row.formula()}·({D.formula()})"


@check("3", "∇_{Aᵀ} f = (∇_A f)ᵀ via D_{Aᵀ}f = D_A f·K_{n,m}")
def _check_transpose_gradient():
    A, B, C = _abatc_inputs()
    m, n = A.shape
    D_A, _ = _jacobian_abatc(A, B, C)  # f(A) = tr(ABAᵀC), a 1×mn row
    D_A = RowVector(D_A.toarray(), name="∇_A f")
    K = rules.transpose(n, m)  # D(Y ↦ Yᵀ) for Y = Aᵀ of shape (n, m)
    D_At = rules.chain_rule(D_A, K)
    grad_At = D_At.gradient((n, m))
    reference = numerical_gradient(lambda Y: _f_abatc(Y.T, B, C), A.T)
    error = max_abs(grad_At - D_A.gradient((m, n)).T, grad_At - reference)
    return f"{D_A.formula()}·{K.formula()}", error, fd_tol(reference)


@check("4", "∇_A tr(ABAᵀC) = CAB + CᵀABᵀ")
def _check_trace_abatc():
    A, B, C = _abatc_inputs()
    D, formula = _jacobian_abatc(A, B, C)
    gradient = D.gradient(A.shape)
    closed = C @ A @ B + C.T @ A @ B.T
    reference = numerical_gradient(lambda X: _f_abatc(X, B, C), A)
    return formula, max_abs(gradient - closed, gradient - reference), fd_tol(closed)


# ---------------------------------------------------------------------------
# 5. ∇_A |A| = |A| A⁻ᵀ, and the adjugate when A is singular   (seeds 000, 001, 003)
# ---------------------------------------------------------------------------
def _cofactor_matrix(A):
    """A'_ij = (-1)^(i+j) · det(A without row i and column j), by definition."""
    n = A.shape[0]
    cof = np.empty_like(A)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(A, i, axis=0), j, axis=1)
            cof[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return cof


@check("5a", "∇_A |A| = |A| A⁻ᵀ")
def _check_det_gradient():
    A = _well_conditioned(_rng(5), 3)
    D = rules.det(A)
    gradient = D.gradient(A.shape)
    closed = np.linalg.det(A) * np.linalg.inv(A).T
    reference = numerical_gradient(np.linalg.det, A)
    return D.formula(), max_abs(gradient - closed, gradient - reference), fd_tol(closed)


@check("5b", "∇_A |A| = cofactors A' for singular A (rank n−1)")
def _check_det_gradient_singular():
    rng = _rng(55)
    A = rng.standard_normal((3, 3))
    A[:, 2] = A[:, 0] - 2.0 * A[:, 1]  # rank 2: |A| = 0, A⁻¹ does not exist
    D = rules.det(A)
    gradient = D.gradient(A.shape)
    cofactors = _cofactor_matrix(A)  # the seed's A' = adj(A)ᵀ, nonzero here
    if max_abs(cofactors) < 1e-3:
        raise CheckFailed("the rank-(n−1) example should have a nonzero adjugate")
    reference = numerical_gradient(np.linalg.det, A)
    return D.formula(), max_abs(gradient - cofactors, gradient - reference), fd_tol(cofactors)


# ---------------------------------------------------------------------------
# 6. ∇_μ μᵀAμ = Aμ + Aᵀμ   (seed 001, 2.A)
# ---------------------------------------------------------------------------
@check("6", "∇_μ μᵀAμ = Aμ + Aᵀμ (μ of shape (n, 1))")
def _check_quadratic_form():
    rng = _rng(6)
    A, mu = rng.standard_normal((3, 3)), rng.standard_normal((3, 1))
    # F = μᵀ with DF = K_{n,1};  G = Aμ with DG = I₁ ⊗ A
    D = rules.product_rule(mu.T, rules.transpose(mu), A @ mu, rules.matmul_wrt_right(A, mu))
    gradient = unvec(D.toarray()[0], mu.shape)
    closed = A @ mu + A.T @ mu
    reference = numerical_gradient(lambda m: (m.T @ A @ m)[0, 0], mu)
    return D.formula(), max_abs(gradient - closed, gradient - reference), fd_tol(closed)


# ---------------------------------------------------------------------------
# 7. Trace identities   (seeds 001 1.A–1.D, 002, 003)
#    tr is linear: tr X = vec(I)ᵀ vec X, and tr(XM) = vec(Mᵀ)ᵀ vec X; the
#    rows come from rules.trace / rules.trace_product.
# ---------------------------------------------------------------------------
def _tr(X):
    return rules.trace(X).matvec(vec(X))[0]


@check("7a", "tr(a) = a")
def _check_trace_scalar():
    a = np.array([[2.5]])
    row = rules.trace(a)
    return f"{row.formula()} vec(a)", max_abs(_tr(a) - a[0, 0]), alg_tol(a)


@check("7b", "tr A = tr Aᵀ")
def _check_trace_transpose():
    A = _rng(72).standard_normal((3, 3))
    row = rules.trace(A)
    invariant = rules.chain_rule(row, rules.transpose(A))  # vec(I)ᵀ K = vec(I)ᵀ
    error = max_abs(invariant.toarray() - row.toarray(), _tr(A.T) - _tr(A),
                    _tr(A) - np.trace(A))
    return f"{row.formula()}·{rules.transpose(A).formula()} = {row.formula()}", error, alg_tol(A)


@check("7c", "tr(A + B) = tr A + tr B")
def _check_trace_sum():
    rng = _rng(73)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    error = max_abs(_tr(A + B) - (_tr(A) + _tr(B)), _tr(A + B) - np.trace(A + B))
    return f"{rules.trace(A).formula()} (vec A + vec B)", error, alg_tol(A + B)


@check("7d", "tr(aA) = a tr A")
def _check_trace_scale():
    A, a = _rng(74).standard_normal((3, 3)), -1.75
    error = max_abs(_tr(a * A) - a * _tr(A), _tr(a * A) - a * np.trace(A))
    return f"{rules.trace(A).formula()} vec(aA)", error, alg_tol(a * A)


@check("7e", "tr(AB) = tr(BA)")
def _check_trace_cyclic():
    rng = _rng(75)
    A, B = rng.standard_normal((2, 4)), rng.standard_normal((4, 2))
    tr_ab = rules.trace_product(A, B).matvec(vec(A))[0]  # vec(Bᵀ)ᵀ vec A
    tr_ba = rules.trace_product(B, A).matvec(vec(B))[0]  # vec(Aᵀ)ᵀ vec B
    error = max_abs(tr_ab - tr_ba, tr_ab - np.trace(A @ B), tr_ba - np.trace(B @ A))
    return "vec(Bᵀ)ᵀ vec A = vec(Aᵀ)ᵀ vec B", error, alg_tol(A @ B)


@check("7f", "⟨A,B⟩ = tr(AᵀB) = vec(A)ᵀvec(B)")
def _check_inner_product():
    rng = _rng(76)
    A, B = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    inner = vec(A) @ vec(B)
    error = max_abs(inner - np.trace(A.T @ B), inner - np.sum(A * B))
    return "vec(A)ᵀ vec(B)", error, alg_tol(A.T @ B)


@check("7g", "∂tr(AᵀB)/∂B = vecᵀ(A)")
def _check_inner_product_derivative():
    rng = _rng(77)
    A, B = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    D = rules.trace_product(B, A.T)  # tr(AᵀB) = tr(BAᵀ)
    reference = numerical_jacobian(lambda X: np.trace(A.T @ X), B)
    error = max_abs(D.toarray() - vec(A), D.toarray() - reference)
    return D.formula() + " = vec(A)ᵀ", error, fd_tol(A)


# ---------------------------------------------------------------------------
# 8. ∂A⁻¹/∂A = −(A⁻ᵀ ⊗ A⁻¹)   (seed 003)
# ---------------------------------------------------------------------------
@check("8a", "∂A⁻¹/∂A = −(A⁻ᵀ ⊗ A⁻¹)")
def _check_inverse():
    A = _well_conditioned(_rng(8), 3)
    J = rules.inv(A)
    reference = numerical_jacobian(np.linalg.inv, A)
    return J.formula(), max_abs(J.toarray() - reference), fd_tol(reference)


@check("8b", "product rule on A⁻¹A = I: D(A⁻¹A) = 0")
def _check_inverse_product_rule():
    A = _well_conditioned(_rng(8), 3)
    n = A.shape[0]
    D = rules.product_rule(np.linalg.inv(A), rules.inv(A), A, Identity(n * n))
    return D.formula() + " = 0", max_abs(D.toarray()), alg_tol(np.linalg.inv(A))


@check("8c", "solve (Aᵀ⊗I)D + (I⊗A⁻¹) = 0 for D")
def _check_inverse_derived():
    A = _well_conditioned(_rng(8), 3)
    n = A.shape[0]
    A_inv = np.linalg.inv(A)
    system = Kron(Dense(A.T, name="Aᵀ"), Identity(n))  # Aᵀ ⊗ I
    rhs = Kron(Identity(n), Dense(A_inv, name="inv(A)"))  # I ⊗ A⁻¹
    derived = _expect_type(-(system.inv() @ rhs), Kron, "(Aᵀ⊗I)⁻¹(I⊗A⁻¹)")
    solved = system.solve(-rhs.toarray())  # one Kron solve per column, never n²×n²
    rule = rules.inv(A).toarray()
    error = max_abs(derived.toarray() - rule, solved - rule)
    return f"{derived.formula()} = {rules.inv(A).formula()}", error, alg_tol(rule)


# ---------------------------------------------------------------------------
# 9. ∂|A|/∂A = |A| vecᵀ(A⁻ᵀ),  ∂ln|A|/∂A = vecᵀ(A⁻ᵀ)   (seed 003)
# ---------------------------------------------------------------------------
@check("9a", "∂|A|/∂A = |A| vecᵀ(A⁻ᵀ)")
def _check_det_row():
    A = _well_conditioned(_rng(9), 3)
    row = rules.det(A).toarray()
    closed = np.linalg.det(A) * vec(np.linalg.inv(A).T)
    reference = numerical_jacobian(np.linalg.det, A)
    return rules.det(A).formula() + " (1×9 row)", max_abs(row - closed, row - reference), \
        fd_tol(closed)


@check("9b", "∂ln|A|/∂A = vecᵀ(A⁻ᵀ)")
def _check_logdet_row():
    A = _well_conditioned(_rng(9), 3)
    row = rules.logdet(A).toarray()
    closed = vec(np.linalg.inv(A).T)
    reference = numerical_jacobian(lambda X: np.log(abs(np.linalg.det(X))), A)
    return rules.logdet(A).formula() + " (1×9 row)", max_abs(row - closed, row - reference), \
        fd_tol(closed)


# ---------------------------------------------------------------------------
# 10. Product rule D(FG) = (Gᵀ ⊗ I)DF + (I ⊗ F)DG   (seed 003)
# ---------------------------------------------------------------------------
@check("10", "D(FG) = (Gᵀ⊗I)DF + (I⊗F)DG, F = AX, G = XB")
def _check_product_rule():
    rng = _rng(10)
    A, X, B = (rng.standard_normal((2, 3)), rng.standard_normal((3, 3)),
               rng.standard_normal((3, 4)))
    F, G = A @ X, X @ B
    dF, dG = rules.matmul_wrt_right(A, X), rules.matmul_wrt_left(X, B)  # I⊗A, Bᵀ⊗I
    D = rules.product_rule(F, dF, G, dG)
    dense = (np.kron(G.T, np.eye(2)) @ np.kron(np.eye(3), A)
             + np.kron(np.eye(4), F) @ np.kron(B.T, np.eye(3)))
    reference = numerical_jacobian(lambda Y: (A @ Y) @ (Y @ B), X)
    return D.formula(), max_abs(D.toarray() - reference, D.toarray() - dense), \
        fd_tol(reference)


# ---------------------------------------------------------------------------
# 11, 12. Kronecker algebra   (seed 003; Magnus–Neudecker ch. 2–3)
# ---------------------------------------------------------------------------
@check("11a", "(A⊗B)⁻¹ = A⁻¹⊗B⁻¹")
def _check_kron_inverse():
    rng = _rng(11)
    A, B = _well_conditioned(rng, 2), _well_conditioned(rng, 3)
    K = Kron(Dense(A, name="A"), Dense(B, name="B"))
    inverse = _expect_type(K.inv(), Kron, "(A⊗B)⁻¹ = A⁻¹⊗B⁻¹")
    dense = np.linalg.inv(np.kron(A, B))
    return inverse.formula(), max_abs(inverse.toarray() - dense), alg_tol(dense)


@check("11b", "(A⊗B)(C⊗D) = AC⊗BD")
def _check_mixed_product():
    rng = _rng(111)
    A, B, C, D = (rng.standard_normal(s) for s in [(2, 3), (3, 2), (3, 2), (2, 4)])
    product = Kron(Dense(A, name="A"), Dense(B, name="B")) @ \
        Kron(Dense(C, name="C"), Dense(D, name="D"))
    product = _expect_type(product, Kron, "(A⊗B)(C⊗D) = AC⊗BD")
    dense = np.kron(A, B) @ np.kron(C, D)
    error = max_abs(product.toarray() - dense, product.toarray() - np.kron(A @ C, B @ D))
    return product.formula(), error, alg_tol(dense)


@check("12", "K_{p,m}(A⊗B)K_{n,q} = B⊗A")
def _check_commutation_swap():
    rng = _rng(12)
    (m, n), (p, q) = (2, 3), (4, 2)
    A, B = rng.standard_normal((m, n)), rng.standard_normal((p, q))
    K_pm, K_nq = Commutation(p, m), Commutation(n, q)
    swapped = K_pm @ Kron(Dense(A, name="A"), Dense(B, name="B")) @ K_nq
    swapped = _expect_type(swapped, Kron, "K_{p,m}(A⊗B)K_{n,q} = B⊗A")
    dense = K_pm.toarray() @ np.kron(A, B) @ K_nq.toarray()
    error = max_abs(swapped.toarray() - np.kron(B, A), dense - np.kron(B, A))
    return f"{K_pm.formula()}·(A ⊗ B)·{K_nq.formula()} = {swapped.formula()}", error, \
        alg_tol(dense)


# ---------------------------------------------------------------------------
# 13–20. The same identities, by differentiating the NumPy expressions as
# written (kronvec.grad / jacobian / hessian trace them; no rule is named).
# ---------------------------------------------------------------------------
@check("13", "grad(f) for the f of check 1a")
def _check_api_seed_function():
    from .api import grad

    G = grad(_f1)(A1)
    return "grad(lambda A: 1.5*A[0,0] + 5*A[0,1]**2 + A[1,0]*A[1,1])", \
        max_abs(G - _grad_f1(A1)), fd_tol(G)


@check("14", "grad(lambda A: np.trace(A @ B)) = Bᵀ")
def _check_api_trace_product():
    from .api import grad

    rng = _rng(14)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    G = grad(lambda A: np.trace(A @ B))(A)
    return "Bᵀ", max_abs(G - B.T), alg_tol(B)


@check("15", "grad of tr(A B Aᵀ C) = CAB + CᵀABᵀ")
def _check_api_trace_abac():
    from .api import grad

    rng = _rng(15)
    A, B, C = (rng.standard_normal((3, 2)), rng.standard_normal((2, 2)),
               rng.standard_normal((3, 3)))
    G = grad(lambda A: np.trace(A @ B @ A.T @ C))(A)
    expected = C @ A @ B + C.T @ A @ B.T
    return "CAB + CᵀABᵀ", max_abs(G - expected), alg_tol(expected) * 10


@check("16", "grad(np.linalg.det) = |A| A⁻ᵀ; at singular A, adj(A)ᵀ")
def _check_api_det():
    from .api import grad

    A = _well_conditioned(_rng(16), 3)
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    error = max(max_abs(grad(np.linalg.det)(A) - np.linalg.det(A) * np.linalg.inv(A).T),
                max_abs(grad(np.linalg.det)(singular) - numerical_gradient(np.linalg.det, singular)))
    return "adj(A)ᵀ (exact at rank n−1)", error, fd_tol(A) * 10


@check("17", "grad of μᵀAμ = Aμ + Aᵀμ")
def _check_api_quadratic_form():
    from .api import grad

    rng = _rng(17)
    A, mu = rng.standard_normal((3, 3)), rng.standard_normal((3, 1))
    G = grad(lambda mu: mu.T @ A @ mu)(mu)
    expected = A @ mu + A.T @ mu
    return "Aμ + Aᵀμ, shaped (3, 1)", max_abs(G - expected), alg_tol(expected) * 10


@check("18", "jacobian(np.linalg.inv) is the Kron −(A⁻ᵀ ⊗ A⁻¹)")
def _check_api_inverse():
    from .api import jacobian

    A = _well_conditioned(_rng(18), 3)
    J = _expect_type(jacobian(np.linalg.inv)(A), Kron, "D(A⁻¹)")
    reference = numerical_jacobian(np.linalg.inv, A)
    return J.formula(), max_abs(J.toarray() - reference), fd_tol(reference)


@check("19", "jacobian(lambda X: X @ X) = (Xᵀ ⊗ I) + (I ⊗ X)")
def _check_api_product_rule():
    from .api import jacobian

    X = _rng(19).standard_normal((3, 3))
    J = jacobian(lambda X: X @ X)(X)
    reference = numerical_jacobian(lambda X: X @ X, X)
    return J.formula(), max_abs(J.toarray() - reference), fd_tol(reference)


@check("20", "hessian of ln|X| = −(X⁻¹ ⊗ X⁻ᵀ)K_{n,n}")
def _check_api_hessian_logdet():
    from .api import hessian

    X = _well_conditioned(_rng(20), 3)
    H = hessian(lambda X: np.linalg.slogdet(X)[1])(X)
    X_inv = np.linalg.inv(X)
    expected = -np.kron(X_inv, X_inv.T) @ Commutation(3, 3).toarray()
    reference = numerical_jacobian(lambda X: np.linalg.inv(X).T, X)
    return H.formula(), max(max_abs(H.toarray() - expected), max_abs(expected - reference)), \
        fd_tol(reference)


# ---------------------------------------------------------------------------
# Running and printing
# ---------------------------------------------------------------------------
def run_check(item):
    """Run one check; a raised exception is an ERROR, not a crash of the tour."""
    start = time.perf_counter()
    try:
        formula, error, tolerance = item.func()
        error, tolerance = float(error), float(tolerance)
        status = "pass" if error <= tolerance else "FAIL"  # NaN fails too
    except CheckFailed as failure:
        formula, error, tolerance, status = str(failure), float("nan"), float("nan"), "FAIL"
    except Exception as exc:  # noqa: BLE001 - report and keep touring
        formula = f"{type(exc).__name__}: {exc}"
        error, tolerance, status = float("nan"), float("nan"), "ERROR"
    return Outcome(item, str(formula), error, tolerance, time.perf_counter() - start, status)


def run_checks(checks=None):
    """Run `checks` (default :data:`CHECKS`) and return their outcomes."""
    return [run_check(item) for item in (CHECKS if checks is None else checks)]


#: The tour's output fits a terminal this many columns wide.
WIDTH = 100
_FORMULA_INDENT = " " * 6


def _format_table(outcomes):
    """Each check on one line — label, identity, error against tolerance, time,
    status — and the formula kronvec built wrapped below it, within WIDTH columns."""
    headers = ("#", "identity", "error", "tol.", "time", "status")
    rows = [
        (o.check.label, o.check.name, f"{o.error:.1e}", f"{o.tolerance:.0e}",
         f"{o.seconds * 1e3:.1f} ms", o.status)
        for o in outcomes
    ]
    widths = [max(len(r[i]) for r in rows + [headers]) for i in range(len(headers))]
    fixed = sum(widths) - widths[1] + 2 * (len(headers) - 1)
    widths[1] = min(widths[1], WIDTH - fixed)  # (a longer identity wraps onto the next line)
    right_aligned = {0, 2, 3, 4}

    def line(cells):
        padded = [c.rjust(w) if i in right_aligned else c.ljust(w)
                  for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(padded).rstrip()

    lines = [line(headers), "  ".join("-" * w for w in widths)]
    for row, outcome in zip(rows, outcomes):
        name = row[1]
        if len(name) > widths[1]:
            head, _, rest = name[:widths[1] + 1].rpartition(" ")
            lines.append(line((row[0], head) + row[2:]))
            lines.extend(_wrapped(name[len(head):].strip(), _FORMULA_INDENT))
        else:
            lines.append(line(row))
        lines.extend(_wrapped("kronvec built: " + outcome.formula, _FORMULA_INDENT))
    return lines


def _wrapped(text, indent):
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False) or [indent]


def _ensure_printable(stream):
    """Degrade gracefully on a console that cannot encode ⊗, ᵀ, ∇."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "⊗ᵀ∇₁".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m kronvec",
        description=(
            "A tour of kronvec: each line checks one identity of matrix calculus in vec form "
            "(gradients, Jacobians of the inverse and the determinant, the product rule, "
            "Kronecker laws) by building it with kronvec and comparing it with central finite "
            "differences or with the dense matrix, and shows the formula kronvec built. "
            "Exits with status 0 when every check passes."
        ),
        epilog="The derivations are in notes/derivatives.md; the conventions in notes/conventions.md.",
    )
    parser.add_argument("--list", action="store_true", help="list the checks without running them")
    return parser


def main(checks=None, stream=None, argv=None):
    """Run the tour, print the table and a summary; return 0 iff every check passed.

    `argv` are the command-line arguments (``--help``, ``--list``); None reads none
    (``python -m kronvec`` passes ``sys.argv[1:]``).
    """
    stream = sys.stdout if stream is None else stream
    options = _parser().parse_args([] if argv is None else argv)
    _ensure_printable(stream)

    def emit(text=""):
        print(text, file=stream)

    if options.list:
        for item in (CHECKS if checks is None else checks):
            emit(f"{item.label:>3}  {item.name}")
        return 0
    start = time.perf_counter()
    outcomes = run_checks(checks)
    total = time.perf_counter() - start

    emit(f"kronvec {__version__} tour · numpy {np.__version__} · scipy {scipy.__version__} "
         f"· Python {platform.python_version()}")
    emit("conventions:")
    for convention in CONVENTIONS.split(" · "):
        emit(f"  {convention}")
    for text in _wrapped(f"references: central differences (h = {FD_STEP:g}, tolerance "
                         f"{FD_TOL:g}·scale) or the dense matrix (tolerance {ALG_TOL:g}·scale)", ""):
        emit(text)
    emit("error: the largest deviation from the reference; tol.: what it may be")
    emit()
    for text in _format_table(outcomes):
        emit(text)
    emit()
    for text in _wrapped("legend: s_ij picks A_ij from vec A; M₁, M₂, … are matrices passed as "
                         "plain arrays (unnamed), numbered within each formula; · binds tighter "
                         "than ⊗", ""):
        emit(text)
    passed = sum(o.status == "pass" for o in outcomes)
    failed = len(outcomes) - passed
    numba_note = "numba not imported" if "numba" not in sys.modules else "numba was imported"
    verdict = "all passed" if failed == 0 else f"{failed} FAILED"
    emit(f"summary: {passed}/{len(outcomes)} checks passed ({verdict}) "
         f"in {total * 1e3:.0f} ms; {numba_note}")
    return 0 if failed == 0 and outcomes else 1
