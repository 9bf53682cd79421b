"""Named identities: the seed notes and The Matrix Cookbook's derivative sections.

References: K. B. Petersen & M. S. Pedersen, *The Matrix Cookbook*, version of
November 15, 2012 — cited as "Cookbook (n)" by equation number, or by section
name where a test does not rest on one numbered equation.  The seed notes are
``/work/shared/seeds`` (summarised in ``notes/derivatives.md``).

Layout: the Cookbook writes ∂f/∂X for a scalar f as a matrix shaped like X —
exactly kronvec's gradient (``notes/conventions.md`` §4) — so every closed form
below is compared with ``kronvec.grad`` as printed.  Each test checks

1. ``kronvec.grad`` (or jacobian / hessian) against the closed form, tightly
   (both are exact; they differ by rounding: ``EXACT_RTOL``), and
2. the closed form against central finite differences of plain NumPy code
   (``FD_RTOL``), so a mistyped identity cannot make a wrong result pass.

Finite-difference tolerance: with h = 1e-6·max(1, |x|), the central difference
errs by O(h²·|f'''|) (truncation, ~1e-12) + O(eps·|f|/h) (rounding,
~2e-10·|f|); the O(1), well-conditioned inputs below keep |f| ≲ 100, so 1e-6
relative to the largest entry is a 100× margin and far below the O(1) error of
a missing transpose.  Second derivatives use the four-point stencil with
h = 1e-4: O(h²) + O(eps/h²) ≈ 1e-8, so 1e-5.

Random inputs are drawn from fixed seeds: module-level ones once at import, and
a per-test generator where a test needs its own, so that no result depends on
which tests ran before.
"""

from __future__ import annotations

import numpy as np
import pytest

import kronvec
from kronvec import Commutation, Kron, RowVector
from kronvec._vec import unvec, vec

from _helpers import central_difference_jacobian, cofactor_matrix, commutation_dense, dense_of

FD_RTOL = 1e-6
HESSIAN_RTOL = 1e-5
EXACT_RTOL = 1e-10  # closed form vs kronvec: different evaluation orders of cond ≲ 10 linear algebra


def assert_close(actual, expected, rtol):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def fd_gradient(f, args, argnum=0):
    row = central_difference_jacobian(f, args, argnum)
    return unvec(row[0], np.shape(args[argnum]))


def fd_hessian(f, args, argnum=0, step=1e-4):
    """Four-point central stencil on vec(X), from plain evaluations only."""
    args = list(args)
    X = np.array(args[argnum], dtype=float)
    x = vec(X).copy()
    h = step * np.maximum(1.0, np.abs(x))

    def value(z):
        trial = list(args)
        trial[argnum] = unvec(z, X.shape)
        return float(np.asarray(f(*trial)).reshape(()))

    n = x.size
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            total = 0.0
            for si, sj, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                z = x.copy()
                z[i] += si * h[i]
                z[j] += sj * h[j]
                total += sign * value(z)
            H[i, j] = H[j, i] = total / (4 * h[i] * h[j])
    return H


def check_gradient(f, args, closed_form, argnum=0):
    """kronvec.grad == closed form == finite differences; the Jacobian row is vec(∇f)ᵀ."""
    args = tuple(args)
    G = kronvec.grad(f, argnums=argnum)(*args)
    assert G.shape == np.shape(args[argnum])
    assert_close(G, closed_form, EXACT_RTOL)
    assert_close(closed_form, fd_gradient(f, args, argnum), FD_RTOL)
    J = kronvec.jacobian(f, argnums=argnum)(*args)
    assert isinstance(J, RowVector)
    assert_close(J.toarray(), vec(np.asarray(closed_form, dtype=float)).reshape(1, -1), EXACT_RTOL)
    return G


# ----------------------------------------------------------------- inputs
rng = np.random.default_rng(2012)
n = 3
X = 2.0 * np.eye(n) + 0.3 * rng.standard_normal((n, n))        # well conditioned, non-symmetric
XR = rng.standard_normal((4, 2)) + np.array([[1, 0], [0, 1], [0, 0], [0, 0]])  # full column rank
A = rng.standard_normal((n, n))
B = rng.standard_normal((n, n))
Cm = rng.standard_normal((n, n))
Cs = Cm @ Cm.T + n * np.eye(n)                                    # symmetric positive definite
D = rng.standard_normal((n, n))
Ainv = 2.0 * np.eye(n) + 0.2 * rng.standard_normal((n, n))        # invertible constants
Binv = 1.5 * np.eye(n) + 0.2 * rng.standard_normal((n, n))
A23 = rng.standard_normal((2, n))
B32 = rng.standard_normal((n, 2))
a, b, c, d = (rng.standard_normal(n) for _ in range(4))
x = rng.standard_normal(n)
s = rng.standard_normal(2)
W = Cs / 5.0                                                       # symmetric weight
A32 = rng.standard_normal((n, 2))
XNEG = X.copy()
XNEG[[0, 1]] = XNEG[[1, 0]]                                       # det < 0
assert np.linalg.det(XNEG) < 0
inv = np.linalg.inv
det = np.linalg.det
I = np.eye(n)


# ====================================================================== seed
def test_seed_entrywise_gradient_example():
    """Seed: f(A) = 3/2·A₁₁ + 5·A₁₂² + A₂₁A₂₂ ⇒ ∇f = [[3/2, 10A₁₂], [A₂₂, A₂₁]] (conventions §4)."""
    def f(A):
        return 1.5 * A[0, 0] + 5 * A[0, 1] ** 2 + A[1, 0] * A[1, 1]

    A0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    value, G = kronvec.value_and_grad(f)(A0)
    assert float(value) == 33.5
    np.testing.assert_array_equal(G, [[1.5, 20.0], [4.0, 3.0]])
    np.testing.assert_array_equal(kronvec.jacobian(f)(A0).toarray(), [[1.5, 4.0, 20.0, 3.0]])
    check_gradient(f, (A0,), np.array([[1.5, 10 * A0[0, 1]], [A0[1, 1], A0[1, 0]]]))


def test_seed_grad_trace_AB_is_B_transpose():
    """Seed: ∇_A tr(AB) = Bᵀ for A n×m, B m×n."""
    rng = np.random.default_rng(4155)
    A0, B0 = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    check_gradient(lambda A: np.trace(A @ B0), (A0,), B0.T)


def test_seed_gradient_with_respect_to_a_transpose():
    """Seed: ∇_{Aᵀ} f(A) = (∇_A f(A))ᵀ — differentiate g(B) = f(Bᵀ) at B = Aᵀ."""
    rng = np.random.default_rng(3459)
    A0 = rng.standard_normal((2, 3))
    f = lambda A: np.sum(np.tanh(A @ B32) * np.array([[1.0, 2.0], [3.0, -1.0]]))  # noqa: E731
    g = lambda Bt: f(Bt.T)  # noqa: E731
    check_gradient(g, (A0.T,), kronvec.grad(f)(A0).T)


def test_seed_grad_trace_ABAtC():
    """Seed: ∇_A tr(ABAᵀC) = CAB + CᵀABᵀ (Cookbook (118) with its A = I)."""
    rng = np.random.default_rng(3483)
    A0 = rng.standard_normal((3, 2))
    B0 = rng.standard_normal((2, 2))
    check_gradient(lambda A: np.trace(A @ B0 @ A.T @ Cm), (A0,), Cm @ A0 @ B0 + Cm.T @ A0 @ B0.T)


def test_seed_grad_determinant():
    """Seed: ∇_A |A| = |A|(A⁻¹)ᵀ for non-singular A."""
    check_gradient(det, (X,), det(X) * inv(X).T)


def test_seed_grad_quadratic_form():
    """Seed: ∇_μ μᵀAμ = Aμ + Aᵀμ, for μ ∈ ℝⁿ as a 1-D array and as an (n,1) column."""
    check_gradient(lambda m: m @ A @ m, (x,), A @ x + A.T @ x)
    mu = x.reshape(-1, 1)
    check_gradient(lambda m: (m.T @ A @ m)[0, 0], (mu,), A @ mu + A.T @ mu)


def test_seed_jacobian_of_inverse_is_minus_kron():
    """Seed (note 003): ∂A⁻¹/∂A = −(A⁻ᵀ ⊗ A⁻¹), from 0 = (Aᵀ⊗I)∂A⁻¹/∂A + (I⊗A⁻¹)."""
    J = kronvec.jacobian(inv)(X)
    assert type(J) is Kron
    Xi = inv(X)
    assert_close(J.toarray(), -np.kron(Xi.T, Xi), EXACT_RTOL)
    assert_close(dense_of(J), central_difference_jacobian(inv, (X,)), FD_RTOL)
    # the product-rule derivation: (Xᵀ ⊗ I) D(X⁻¹) + (I ⊗ X⁻¹) = 0
    assert_close(np.kron(X.T, I) @ J.toarray() + np.kron(I, Xi), np.zeros((n * n, n * n)), EXACT_RTOL)


def test_seed_inverse_jacobian_documented_example():
    """notes/derivatives.md §5: X = [[1, 1], [0, 1]] gives an exact integer Jacobian."""
    J = kronvec.jacobian(inv)(np.array([[1.0, 1.0], [0.0, 1.0]]))
    np.testing.assert_allclose(J.toarray(), [[-1, 1, 0, 0], [0, -1, 0, 0], [1, -1, -1, 1], [0, 1, 0, -1]],
                               atol=1e-15)


def test_seed_jacobian_row_of_determinant_is_vec_of_adjugate_transpose():
    """Seed (note 003): ∂|A|/∂A = vecᵀ((A*)ᵀ) with A* = adj(A) — valid at singular A too."""
    for X0 in (X, np.array([[1.0, 2.0], [2.0, 4.0]])):
        J = kronvec.jacobian(det)(X0)
        assert isinstance(J, RowVector)
        assert_close(J.toarray()[0], vec(cofactor_matrix(X0)), EXACT_RTOL)
        assert_close(J.toarray(), central_difference_jacobian(det, (X0,)), FD_RTOL)


def test_seed_jacobian_row_of_log_determinant():
    """Seed (note 003): ∂ln|A|/∂A = vecᵀ(A⁻ᵀ)."""
    f = lambda X: np.linalg.slogdet(X)[1]  # noqa: E731
    J = kronvec.jacobian(f)(X)
    assert isinstance(J, RowVector)
    assert "inv(X)ᵀ" in repr(J)
    assert_close(J.toarray()[0], vec(inv(X).T), EXACT_RTOL)


def test_seed_inner_product_is_vec_dot_vec():
    """Seed (note 003): ⟨A, B⟩ = vecᵀ(A) vec(B) = tr(AᵀB), so D_B⟨A, B⟩ = vec(A)ᵀ, ∇_B = A."""
    rng = np.random.default_rng(9218)
    A0, B0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    assert np.trace(A0.T @ B0) == pytest.approx(vec(A0) @ vec(B0), rel=1e-14)
    check_gradient(lambda B: np.trace(A0.T @ B), (B0,), A0)
    check_gradient(lambda B: np.sum(A0 * B), (B0,), A0)
    check_gradient(lambda A: np.trace(A.T @ B0), (A0,), B0)


def test_conventions_example_jacobian_of_AX():
    """conventions.md §3: F(X) = AX with A = [[1, 2], [3, 4]] has DF = I₂ ⊗ A."""
    A0 = np.array([[1.0, 2.0], [3.0, 4.0]])
    J = kronvec.jacobian(lambda X: A0 @ X)(np.eye(2))
    np.testing.assert_array_equal(J.toarray(), [[1, 2, 0, 0], [3, 4, 0, 0], [0, 0, 1, 2], [0, 0, 3, 4]])


# ================================================== §2 basic differentials
def test_cookbook_40_differential_of_inverse():
    """Cookbook (40): ∂(X⁻¹) = −X⁻¹(∂X)X⁻¹, as a directional derivative (jvp)."""
    rng = np.random.default_rng(5647)
    dX = rng.standard_normal((n, n))
    _, t = kronvec.jvp(inv, (X,), (dX,))
    expected = -inv(X) @ dX @ inv(X)
    assert_close(t, expected, EXACT_RTOL)
    assert_close(expected, unvec(central_difference_jacobian(inv, (X,)) @ vec(dX), (n, n)), FD_RTOL)


def test_cookbook_41_42_differential_of_determinant():
    """Cookbook (41) ∂det X = Tr(adj(X)∂X) and (42) = det(X)Tr(X⁻¹∂X)."""
    rng = np.random.default_rng(3762)
    dX = rng.standard_normal((n, n))
    _, t = kronvec.jvp(det, (X,), (dX,))
    adj = cofactor_matrix(X).T
    assert float(t) == pytest.approx(np.trace(adj @ dX), rel=1e-10)
    assert float(t) == pytest.approx(det(X) * np.trace(inv(X) @ dX), rel=1e-10)
    assert float(t) == pytest.approx(float((central_difference_jacobian(det, (X,)) @ vec(dX))[0]), rel=1e-6)


def test_cookbook_43_differential_of_log_determinant():
    """Cookbook (43): ∂ln(det X) = Tr(X⁻¹∂X)."""
    rng = np.random.default_rng(7632)
    Xp = X if det(X) > 0 else XNEG
    dX = rng.standard_normal((n, n))
    f = lambda X: np.log(np.linalg.det(X))  # noqa: E731
    _, t = kronvec.jvp(f, (Xp,), (dX,))
    assert float(t) == pytest.approx(np.trace(inv(Xp) @ dX), rel=1e-10)
    assert float(t) == pytest.approx(float((central_difference_jacobian(f, (Xp,)) @ vec(dX))[0]), rel=1e-6)


def test_cookbook_section2_differential_of_kronecker_product():
    """Cookbook §2 (basic differentials): ∂(X ⊗ Y) = (∂X) ⊗ Y + X ⊗ (∂Y)."""
    rng = np.random.default_rng(6486)
    X0, Y0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))
    dX, dY = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))
    _, t = kronvec.jvp(np.kron, (X0, Y0), (dX, dY))
    assert_close(t, np.kron(dX, Y0) + np.kron(X0, dY), EXACT_RTOL)


def test_cookbook_section2_differential_of_hadamard_and_product():
    """Cookbook §2: ∂(XY) = (∂X)Y + X(∂Y) and ∂(X∘Y) = (∂X)∘Y + X∘(∂Y)."""
    rng = np.random.default_rng(7227)
    dX, dY = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    _, t = kronvec.jvp(lambda X, Y: X @ Y, (X, A), (dX, dY))
    assert_close(t, dX @ A + X @ dY, EXACT_RTOL)
    _, t = kronvec.jvp(lambda X, Y: X * Y, (X, A), (dX, dY))
    assert_close(t, dX * A + X * dY, EXACT_RTOL)


# ============================================ §2.1 derivatives of a determinant
def test_cookbook_46_determinant_of_a_matrix_function_of_a_scalar():
    """Cookbook (46): ∂det(Y)/∂x = det(Y)Tr[Y⁻¹ ∂Y/∂x], with Y(x) = X + x·A."""
    f = lambda t: np.linalg.det(X + t * A)  # noqa: E731
    t0 = np.array(0.3)
    Y = X + 0.3 * A
    check_gradient(f, (t0,), np.array(det(Y) * np.trace(inv(Y) @ A)))


def test_cookbook_49_determinant():
    """Cookbook (49): ∂det(X)/∂X = det(X)(X⁻¹)ᵀ."""
    check_gradient(det, (X,), det(X) * inv(X).T)
    check_gradient(det, (XNEG,), det(XNEG) * inv(XNEG).T)


def test_cookbook_47_50_determinant_row_expansion():
    """Cookbook (47)/(50): Σₖ ∂det(X)/∂X_ik · X_jk = δ_ij det(X)."""
    G = kronvec.grad(det)(X)
    assert_close(G @ X.T, det(X) * I, EXACT_RTOL)
    assert_close(fd_gradient(det, (X,)) @ X.T, det(X) * I, FD_RTOL)


def test_cookbook_51_determinant_of_AXB():
    """Cookbook (51): ∂det(AXB)/∂X = det(AXB)(X⁻¹)ᵀ for square invertible A, X, B."""
    check_gradient(lambda X: np.linalg.det(Ainv @ X @ Binv), (X,), det(Ainv @ X @ Binv) * inv(X).T)


def test_cookbook_52_determinant_of_XtAX_square():
    """Cookbook (52): ∂det(XᵀAX)/∂X = 2det(XᵀAX)X⁻ᵀ for square invertible X."""
    M = X.T @ Ainv @ X
    check_gradient(lambda X: np.linalg.det(X.T @ Ainv @ X), (X,), 2 * det(M) * inv(X).T)


def test_cookbook_54_determinant_of_XtAX_rectangular():
    """Cookbook (54): ∂det(XᵀAX)/∂X = det(XᵀAX)(AX(XᵀAX)⁻¹ + AᵀX(XᵀAᵀX)⁻¹), X m×n of rank n."""
    rng = np.random.default_rng(5543)
    A4 = 2.0 * np.eye(4) + 0.3 * rng.standard_normal((4, 4))
    M = XR.T @ A4 @ XR
    Mt = XR.T @ A4.T @ XR
    expected = det(M) * (A4 @ XR @ inv(M) + A4.T @ XR @ inv(Mt))
    check_gradient(lambda X: np.linalg.det(X.T @ A4 @ X), (XR,), expected)


def test_cookbook_55_log_determinant_of_XtX():
    """Cookbook (55): ∂ln det(XᵀX)/∂X = 2(X⁺)ᵀ for X m×n of rank n."""
    check_gradient(lambda X: np.linalg.slogdet(X.T @ X)[1], (XR,), 2 * np.linalg.pinv(XR).T)
    check_gradient(lambda X: np.log(np.linalg.det(X.T @ X)), (XR,), 2 * np.linalg.pinv(XR).T)


def test_cookbook_57_log_abs_determinant():
    """Cookbook (57): ∂ln|det(X)|/∂X = (X⁻¹)ᵀ — for det X < 0 as well."""
    f = lambda X: np.linalg.slogdet(X)[1]  # noqa: E731
    check_gradient(f, (X,), inv(X).T)
    check_gradient(f, (XNEG,), inv(XNEG).T)
    check_gradient(lambda X: np.log(np.abs(np.linalg.det(X))), (XNEG,), inv(XNEG).T)


def test_cookbook_58_determinant_of_a_power():
    """Cookbook (58): ∂det(X^k)/∂X = k·det(X^k)·X⁻ᵀ (k = 3)."""
    X3 = X @ X @ X
    check_gradient(lambda X: np.linalg.det(X @ X @ X), (X,), 3 * det(X3) * inv(X).T)


# ============================================== §2.2 derivatives of an inverse
def test_cookbook_59_inverse_of_a_matrix_function_of_a_scalar():
    """Cookbook (59): ∂Y⁻¹/∂x = −Y⁻¹(∂Y/∂x)Y⁻¹, with Y(x) = X + x·A."""
    f = lambda t: np.linalg.inv(X + t * A)  # noqa: E731
    t0 = np.array(0.2)
    Yi = inv(X + 0.2 * A)
    J = kronvec.jacobian(f)(t0)
    assert J.shape == (n * n, 1)
    expected = vec(-Yi @ A @ Yi).reshape(-1, 1)
    assert_close(J.toarray(), expected, EXACT_RTOL)
    assert_close(expected, central_difference_jacobian(f, (t0,)), FD_RTOL)


def test_cookbook_60_entries_of_the_inverse_jacobian():
    """Cookbook (60): ∂(X⁻¹)_kl/∂X_ij = −(X⁻¹)_ki (X⁻¹)_jl, entry by entry in vec order."""
    Xi = inv(X)
    expected = np.empty((n * n, n * n))
    for i in range(n):
        for j in range(n):
            for k in range(n):
                for l in range(n):  # noqa: E741
                    expected[k + l * n, i + j * n] = -Xi[k, i] * Xi[j, l]
    J = kronvec.jacobian(inv)(X)
    assert_close(J.toarray(), expected, EXACT_RTOL)
    assert_close(expected, central_difference_jacobian(inv, (X,)), FD_RTOL)


def test_cookbook_61_bilinear_form_of_the_inverse():
    """Cookbook (61): ∂aᵀX⁻¹b/∂X = −X⁻ᵀabᵀX⁻ᵀ."""
    XiT = inv(X).T
    check_gradient(lambda X: a @ np.linalg.inv(X) @ b, (X,), -XiT @ np.outer(a, b) @ XiT)
    check_gradient(lambda X: a @ np.linalg.solve(X, b), (X,), -XiT @ np.outer(a, b) @ XiT)


def test_cookbook_62_determinant_of_the_inverse():
    """Cookbook (62): ∂det(X⁻¹)/∂X = −det(X⁻¹)X⁻ᵀ."""
    check_gradient(lambda X: np.linalg.det(np.linalg.inv(X)), (X,), -det(inv(X)) * inv(X).T)


def test_cookbook_63_trace_of_A_inverse_B():
    """Cookbook (63): ∂Tr(AX⁻¹B)/∂X = −(X⁻¹BAX⁻¹)ᵀ, A p×n, B n×p."""
    Xi = inv(X)
    check_gradient(lambda X: np.trace(A23 @ np.linalg.inv(X) @ B32), (X,), -(Xi @ B32 @ A23 @ Xi).T)


def test_cookbook_64_trace_of_shifted_inverse():
    """Cookbook (64): ∂Tr((X + A)⁻¹)/∂X = −((X + A)⁻¹(X + A)⁻¹)ᵀ."""
    S = inv(X + 0.1 * A)
    check_gradient(lambda X: np.trace(np.linalg.inv(X + 0.1 * A)), (X,), -(S @ S).T)


# ======================= §2.4 derivatives of matrices, vectors and scalar forms
def test_cookbook_32_73_identity_map():
    """Cookbook (32) ∂X_kl/∂X_ij = δ_ik δ_lj and (73) ∂X/∂X_ij = J^ij: D(X ↦ X) = I."""
    rng = np.random.default_rng(9019)
    X0 = rng.standard_normal((2, 3))
    J = kronvec.jacobian(lambda X: X)(X0)
    np.testing.assert_array_equal(J.toarray(), np.eye(6))
    for col in range(6):
        Jij = unvec(np.eye(6)[col], (2, 3))  # the single-entry matrix of column col
        np.testing.assert_array_equal(unvec(dense_of(J)[:, col], (2, 3)), Jij)


def test_cookbook_70_bilinear_form():
    """Cookbook (70): ∂aᵀXb/∂X = abᵀ (X rectangular)."""
    rng = np.random.default_rng(5064)
    a2, X0 = rng.standard_normal(2), rng.standard_normal((2, 3))
    check_gradient(lambda X: a2 @ X @ b, (X0,), np.outer(a2, b))


def test_cookbook_71_bilinear_form_of_transpose():
    """Cookbook (71): ∂aᵀXᵀb/∂X = baᵀ (X rectangular)."""
    rng = np.random.default_rng(2774)
    b2, X0 = rng.standard_normal(2), rng.standard_normal((2, 3))
    check_gradient(lambda X: a @ X.T @ b2, (X0,), np.outer(b2, a))


def test_cookbook_section_2_4_2_bXtXc():
    """Cookbook §2.4.2 (second order): ∂bᵀXᵀXc/∂X = X(bcᵀ + cbᵀ)."""
    rng = np.random.default_rng(548)
    X0 = rng.standard_normal((4, n))
    check_gradient(lambda X: b @ X.T @ X @ c, (X0,), X0 @ (np.outer(b, c) + np.outer(c, b)))


def test_cookbook_78_affine_bilinear_form():
    """Cookbook (78): ∂(Bx + b)ᵀC(Dx + d)/∂x = BᵀC(Dx + d) + DᵀCᵀ(Bx + b)."""
    check_gradient(lambda x: (B @ x + b) @ Cm @ (D @ x + d), (x,),
                   B.T @ Cm @ (D @ x + d) + D.T @ Cm.T @ (B @ x + b))


def test_cookbook_80_derivative_of_XtBX_by_one_entry():
    """Cookbook (80): ∂(XᵀBX)/∂X_ij = XᵀBJ^ij + J^jiBX — column i + j·m of the Jacobian."""
    rng = np.random.default_rng(1490)
    X0 = rng.standard_normal((n, 2))
    J = kronvec.jacobian(lambda X: X.T @ B @ X)(X0).toarray()
    for i in range(n):
        for j in range(2):
            Jij = np.zeros((n, 2))
            Jij[i, j] = 1.0
            expected = X0.T @ B @ Jij + Jij.T @ B @ X0
            assert_close(unvec(J[:, i + j * n], (2, 2)), expected, EXACT_RTOL)
    assert_close(J, central_difference_jacobian(lambda X: X.T @ B @ X, (X0,)), FD_RTOL)


def test_cookbook_81_quadratic_form():
    """Cookbook (81): ∂xᵀBx/∂x = (B + Bᵀ)x, for 1-D x and for an (n,1) column."""
    check_gradient(lambda x: x @ B @ x, (x,), (B + B.T) @ x)
    xc = x.reshape(-1, 1)
    check_gradient(lambda x: x.T @ B @ x, (xc,), (B + B.T) @ xc)


def test_cookbook_82_bXtDXc():
    """Cookbook (82): ∂bᵀXᵀDXc/∂X = DᵀXbcᵀ + DXcbᵀ."""
    check_gradient(lambda X: b @ X.T @ D @ X @ c, (X,), D.T @ X @ np.outer(b, c) + D @ X @ np.outer(c, b))


def test_cookbook_87_weighted_least_squares():
    """Cookbook (87): ∂(x − As)ᵀW(x − As)/∂x = 2W(x − As) for symmetric W."""
    r = x - A32 @ s
    check_gradient(lambda x: (x - A32 @ s) @ W @ (x - A32 @ s), (x,), 2 * W @ r)


def test_cookbook_96_98_hessian_of_quadratic_plus_linear():
    """Cookbook (96), (98): ∂²(xᵀAx + bᵀx)/∂x∂xᵀ = A + Aᵀ."""
    f = lambda x: x @ A @ x + b @ x  # noqa: E731
    H = kronvec.hessian(f)(x)
    assert_close(H.toarray(), A + A.T, EXACT_RTOL)
    assert_close(A + A.T, fd_hessian(f, (x,)), HESSIAN_RTOL)
    xc = x.reshape(-1, 1)
    Hc = kronvec.hessian(lambda x: x.T @ A @ x + b @ x)(xc)
    assert_close(Hc.toarray(), A + A.T, EXACT_RTOL)


# ==================================================== §2.5 derivatives of traces
def test_cookbook_99_trace():
    """Cookbook (99): ∂Tr(X)/∂X = I."""
    check_gradient(np.trace, (X,), I)


def test_cookbook_100_trace_XA():
    """Cookbook (100): ∂Tr(XA)/∂X = Aᵀ (X m×n, A n×m)."""
    rng = np.random.default_rng(9033)
    X0 = rng.standard_normal((2, 3))
    check_gradient(lambda X: np.trace(X @ B32), (X0,), B32.T)


def test_cookbook_101_trace_AXB():
    """Cookbook (101): ∂Tr(AXB)/∂X = AᵀBᵀ."""
    rng = np.random.default_rng(7682)
    X0 = rng.standard_normal((n, n))
    check_gradient(lambda X: np.trace(A23 @ X @ B32), (X0,), A23.T @ B32.T)


def test_cookbook_102_trace_AXtB():
    """Cookbook (102): ∂Tr(AXᵀB)/∂X = BA."""
    check_gradient(lambda X: np.trace(A23 @ X.T @ B32), (X,), B32 @ A23)


def test_cookbook_section_2_5_1_trace_XtA_and_AXt():
    """Cookbook §2.5.1 (first order): ∂Tr(XᵀA)/∂X = A and ∂Tr(AXᵀ)/∂X = A."""
    rng = np.random.default_rng(8753)
    X0, A0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    check_gradient(lambda X: np.trace(X.T @ A0), (X0,), A0)
    check_gradient(lambda X: np.trace(A0 @ X.T), (X0,), A0)


def test_cookbook_105_trace_of_kronecker_A_X():
    """Cookbook (105): ∂Tr(A ⊗ X)/∂X = Tr(A)·I."""
    check_gradient(lambda X: np.trace(np.kron(A, X)), (X,), np.trace(A) * I)


def test_cookbook_106_trace_X_squared():
    """Cookbook (106): ∂Tr(X²)/∂X = 2Xᵀ."""
    check_gradient(lambda X: np.trace(X @ X), (X,), 2 * X.T)


def test_cookbook_section_2_5_2_trace_X2B():
    """Cookbook §2.5.2 (second order): ∂Tr(X²B)/∂X = (XB + BX)ᵀ."""
    check_gradient(lambda X: np.trace(X @ X @ B), (X,), (X @ B + B @ X).T)


def test_cookbook_108_trace_XtBX():
    """Cookbook (108): ∂Tr(XᵀBX)/∂X = BX + BᵀX."""
    rng = np.random.default_rng(583)
    X0 = rng.standard_normal((n, 2))
    check_gradient(lambda X: np.trace(X.T @ B @ X), (X0,), B @ X0 + B.T @ X0)


def test_cookbook_111_trace_XBXt():
    """Cookbook (111): ∂Tr(XBXᵀ)/∂X = XBᵀ + XB."""
    rng = np.random.default_rng(1945)
    X0 = rng.standard_normal((2, n))
    check_gradient(lambda X: np.trace(X @ B @ X.T), (X0,), X0 @ B.T + X0 @ B)


def test_cookbook_115_trace_XtX():
    """Cookbook (115): ∂Tr(XᵀX)/∂X = ∂Tr(XXᵀ)/∂X = 2X."""
    rng = np.random.default_rng(7780)
    X0 = rng.standard_normal((2, n))
    check_gradient(lambda X: np.trace(X.T @ X), (X0,), 2 * X0)
    check_gradient(lambda X: np.trace(X @ X.T), (X0,), 2 * X0)


def test_cookbook_118_trace_AXBXtC():
    """Cookbook (118): ∂Tr(AXBXᵀC)/∂X = AᵀCᵀXBᵀ + CAXB."""
    rng = np.random.default_rng(441)
    X0 = rng.standard_normal((n, 2))
    B2 = rng.standard_normal((2, 2))
    check_gradient(lambda X: np.trace(A @ X @ B2 @ X.T @ Cm), (X0,),
                   A.T @ Cm.T @ X0 @ B2.T + Cm @ A @ X0 @ B2)


def test_cookbook_119_trace_of_squared_affine_residual():
    """Cookbook (119): ∂Tr[(AXB + C)(AXB + C)ᵀ]/∂X = 2Aᵀ(AXB + C)Bᵀ."""
    rng = np.random.default_rng(3956)
    C2 = rng.standard_normal((2, 2))
    R = A23 @ X @ B32 + C2
    check_gradient(lambda X: np.trace((A23 @ X @ B32 + C2) @ (A23 @ X @ B32 + C2).T), (X,),
                   2 * A23.T @ R @ B32.T)


def test_cookbook_120_trace_of_kronecker_X_X():
    """Cookbook (120): ∂Tr(X ⊗ X)/∂X = 2Tr(X)·I."""
    check_gradient(lambda X: np.trace(np.kron(X, X)), (X,), 2 * np.trace(X) * I)


def test_cookbook_121_trace_of_a_power():
    """Cookbook (121): ∂Tr(X^k)/∂X = k(X^{k−1})ᵀ (k = 4)."""
    check_gradient(lambda X: np.trace(X @ X @ X @ X), (X,), 4 * (X @ X @ X).T)


def test_cookbook_122_trace_of_A_times_a_power():
    """Cookbook (122): ∂Tr(AX^k)/∂X = Σ_{r=0}^{k−1} (X^r A X^{k−r−1})ᵀ (k = 3)."""
    P = np.linalg.matrix_power
    expected = sum((P(X, r) @ A @ P(X, 3 - r - 1)).T for r in range(3))
    check_gradient(lambda X: np.trace(A @ X @ X @ X), (X,), expected)


def test_cookbook_125_trace_of_inverse_XtCX_times_A():
    """Cookbook (125): ∂Tr[(XᵀCX)⁻¹A]/∂X = −CX(XᵀCX)⁻¹(A + Aᵀ)(XᵀCX)⁻¹, C symmetric."""
    rng = np.random.default_rng(3609)
    C4 = rng.standard_normal((4, 4))
    C4 = C4 @ C4.T + 4 * np.eye(4)
    A2 = rng.standard_normal((2, 2))
    Mi = inv(XR.T @ C4 @ XR)
    check_gradient(lambda X: np.trace(np.linalg.inv(X.T @ C4 @ X) @ A2), (XR,),
                   -C4 @ XR @ Mi @ (A2 + A2.T) @ Mi)


def test_trace_of_elementwise_sin():
    """np.sin acts entrywise (it is not the matrix function sin(X) of the Cookbook's §2.5), so
    Tr(np.sin(X)) = Σᵢ sin(X_ii) and the gradient is diag(cos(X_ii))."""
    check_gradient(lambda X: np.trace(np.sin(X)), (X,), np.diag(np.cos(np.diag(X))))


# =============================================== §2.6 and §2.7 norms
def test_cookbook_129_euclidean_distance():
    """Cookbook (129): ∂‖x − a‖₂/∂x = (x − a)/‖x − a‖₂."""
    r = x - a
    expected = r / np.linalg.norm(r)
    check_gradient(lambda x: np.linalg.norm(x - a), (x,), expected)
    check_gradient(lambda x: np.sqrt(np.sum((x - a) ** 2)), (x,), expected)


def test_cookbook_130_jacobian_of_normalised_difference():
    """Cookbook (130): ∂/∂x (x − a)/‖x − a‖₂ = I/‖x − a‖₂ − (x − a)(x − a)ᵀ/‖x − a‖₂³."""
    r = x - a
    nr = np.linalg.norm(r)
    expected = I / nr - np.outer(r, r) / nr ** 3
    f = lambda x: (x - a) / np.linalg.norm(x - a)  # noqa: E731
    J = kronvec.jacobian(f)(x)
    assert_close(J.toarray(), expected, EXACT_RTOL)
    assert_close(expected, central_difference_jacobian(f, (x,)), FD_RTOL)
    # and it is the Hessian of ‖x − a‖₂ (Cookbook (129) differentiated once more)
    H = kronvec.hessian(lambda x: np.linalg.norm(x - a))(x)
    assert_close(H.toarray(), expected, EXACT_RTOL)


def test_cookbook_131_squared_euclidean_norm():
    """Cookbook (131): ∂‖x‖₂²/∂x = 2x."""
    check_gradient(lambda x: np.sum(x * x), (x,), 2 * x)
    check_gradient(lambda x: x @ x, (x,), 2 * x)
    check_gradient(lambda x: np.linalg.norm(x) ** 2, (x,), 2 * x)


def test_cookbook_132_squared_frobenius_norm():
    """Cookbook (132): ∂‖X‖_F²/∂X = 2X."""
    rng = np.random.default_rng(238)
    X0 = rng.standard_normal((2, n))
    check_gradient(lambda X: np.linalg.norm(X) ** 2, (X0,), 2 * X0)
    check_gradient(lambda X: np.sum(np.square(X)), (X0,), 2 * X0)
    check_gradient(lambda X: np.linalg.norm(X, "fro"), (X0,), X0 / np.linalg.norm(X0))


# ===================================== §10.2 Kronecker and vec operator
def test_cookbook_section_10_2_vec_of_AXB():
    """Cookbook §10.2 (Kronecker and vec operator): vec(AXB) = (Bᵀ ⊗ A)vec(X),
    so D(AXB) is the Kron(Bᵀ, A) itself, in np.kron's order."""
    rng = np.random.default_rng(2792)
    X0 = rng.standard_normal((n, n))
    J = kronvec.jacobian(lambda X: A23 @ X @ B32)(X0)
    assert type(J) is Kron
    assert_close(J.toarray(), np.kron(B32.T, A23), EXACT_RTOL)
    assert_close(vec(A23 @ X0 @ B32), np.kron(B32.T, A23) @ vec(X0), EXACT_RTOL)
    assert_close(J.toarray(), central_difference_jacobian(lambda X: A23 @ X @ B32, (X0,)), FD_RTOL)


def test_cookbook_section_10_2_vec_of_transpose_is_commutation():
    """Cookbook §10.2: vec(Xᵀ) = K vec(X) — the Jacobian of the transpose is the commutation matrix."""
    rng = np.random.default_rng(7052)
    X0 = rng.standard_normal((2, n))
    J = kronvec.jacobian(lambda X: X.T)(X0)
    assert type(J) is Commutation
    np.testing.assert_array_equal(J.toarray(), commutation_dense(2, n))


def test_cookbook_section_10_2_kronecker_transpose_and_mixed_product():
    """Cookbook §10.2: (A ⊗ B)ᵀ = Aᵀ ⊗ Bᵀ and (A ⊗ B)(C ⊗ D) = AC ⊗ BD, through derivatives:
    D((X ⊗ A)ᵀ) = D(Xᵀ ⊗ Aᵀ), and D((X ⊗ A)(B ⊗ C)) = D(XB ⊗ AC)."""
    rng = np.random.default_rng(3657)
    X0, A0 = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    B0, C0 = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    J1 = kronvec.jacobian(lambda X: np.kron(X, A0).T)(X0).toarray()
    J2 = kronvec.jacobian(lambda X: np.kron(X.T, A0.T))(X0).toarray()
    assert_close(J1, J2, EXACT_RTOL)
    J3 = kronvec.jacobian(lambda X: np.kron(X, A0) @ np.kron(B0, C0))(X0).toarray()
    J4 = kronvec.jacobian(lambda X: np.kron(X @ B0, A0 @ C0))(X0).toarray()
    assert_close(J3, J4, EXACT_RTOL)
    assert_close(J3, central_difference_jacobian(lambda X: np.kron(X @ B0, A0 @ C0), (X0,)), FD_RTOL)


def test_kronecker_jacobian_matches_the_vec_permutation_formula():
    """D_A vec(A ⊗ B) = (Iₙ ⊗ K_{q,m} ⊗ I_p)(I_{mn} ⊗ vec B) and
    D_B vec(A ⊗ B) = (Iₙ ⊗ K_{q,m} ⊗ I_p)(vec A ⊗ I_{pq}) (MN Ch. 3, Thm 3.10;
    notes/derivatives.md §9), for A m×n and B p×q."""
    rng = np.random.default_rng(2952)
    m_, n_, p_, q_ = 2, 3, 2, 2
    A0, B0 = rng.standard_normal((m_, n_)), rng.standard_normal((p_, q_))
    P = np.kron(np.kron(np.eye(n_), commutation_dense(q_, m_)), np.eye(p_))
    DA = P @ np.kron(np.eye(m_ * n_), vec(B0).reshape(-1, 1))
    DB = P @ np.kron(vec(A0).reshape(-1, 1), np.eye(p_ * q_))
    JA, JB = kronvec.jacobian(np.kron, argnums=(0, 1))(A0, B0)
    assert_close(JA.toarray(), DA, EXACT_RTOL)
    assert_close(JB.toarray(), DB, EXACT_RTOL)
    assert_close(DA, central_difference_jacobian(np.kron, (A0, B0), 0), FD_RTOL)
    assert_close(DB, central_difference_jacobian(np.kron, (A0, B0), 1), FD_RTOL)


def test_gradient_of_inner_product_with_a_kronecker_product():
    """∇_X ⟨W, X ⊗ A⟩ = Σ over the blocks of W weighted by A: entry (i, j) is ⟨W_ij block, A⟩."""
    rng = np.random.default_rng(7121)
    X0, A0 = rng.standard_normal((2, 2)), rng.standard_normal((2, 3))
    Wk = rng.standard_normal((4, 6))
    blocks = Wk.reshape(2, 2, 2, 3)  # W[i*p + k, j*q + l] = blocks[i, k, j, l]
    expected = np.einsum("ikjl,kl->ij", blocks, A0)
    check_gradient(lambda X: np.sum(np.kron(X, A0) * Wk), (X0,), expected)
