"""Issue 6: kronvec is right or loud at the inputs optimization codes walk into.

Sections
--------
1. Determinant derivatives at singular X, first and second order, against
   closed forms built independently (SVD formulas written here, the cofactor
   matrix from explicit minors in ``tests/_helpers.py``) and against central
   differences of an independent gradient.
2. ``inv`` / ``logdet`` / ``solve`` at exactly singular X (``LinAlgError``
   naming the operation) and at ill-conditioned X (one
   :class:`kronvec.config.IllConditionedWarning` naming κ₁, configurable).
3. SPD fast path of the log-determinant (Cholesky for n ≥ 150) agrees with
   the general path.
4. Non-finite values, dtypes, shapes: ``ValueError`` naming the argument,
   ints → float64, complex → ``TypeError``, 0×0 / 1×1 / n×1 / 1×n /
   rectangular through every rule, non-square → ``ValueError`` naming the shape.
5. Inputs are never modified (checksum before/after every public call, for
   C-ordered, Fortran-ordered, read-only and strided inputs).
6. Memory: materializers refuse above ``kronvec.config`` limits *before*
   allocating (the dense Jacobian of inv at n = 400 would be 204.8 GB).

Conventions (``notes/conventions.md``): column-major vec, numerator-layout
Jacobians ∂vec F/∂(vec X)ᵀ, gradients shaped like X.  Hessians are the
Jacobian of vec ∇f, i.e. H[r, c] = ∂²f/∂(vec X)_r∂(vec X)_c.

Finite-difference tolerance: ``central_difference_jacobian`` uses
h = 1e-6·max(1, |x|).  Every function differentiated by FD here is a
polynomial of degree ≤ 4 (det, cofactors) or a rational function at a
well-conditioned point with O(1) entries, so truncation (h²·|F'''| ≲ 1e-10)
and rounding (eps·|F|/h ≲ 1e-9) stay far below ``FD_TOL`` = 1e-6 relative
to the largest entry; a wrong formula is off by O(1).

Bugs found while writing these tests are marked ``xfail(strict=True)`` with
the reason starting ``bug:``.
"""

from __future__ import annotations

import contextlib
import inspect
import resource
import time
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.linalg

import kronvec
import kronvec.optimize as kvo
from kronvec import config, rules
from kronvec._config import IllConditionedWarning
from kronvec._vec import unvec, vec
from kronvec.rules import REGISTRY
from kronvec._linalg.factorization import THREADED_MIN_ORDER as CHOLESKY_MIN_ORDER

from _helpers import (
    assert_unchanged,
    central_difference_jacobian,
    checksum,
    cofactor_matrix,
    commutation_dense,
    dense_of,
)

FD_TOL = 1e-6
EPS = np.finfo(np.float64).eps


def assert_close_to(actual, expected, rtol=1e-12, what=""):
    """max |actual - expected| ≤ rtol · max(1, max |expected|) (a scale-aware check)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    error = float(np.max(np.abs(actual - expected), initial=0.0))
    assert error <= rtol * scale, f"{what}: max error {error:.3g} > {rtol:g}·{scale:.3g}"


# ============================================================================
# 1. determinant derivatives at singular X
# ============================================================================


def _orthogonal(rng, n):
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.sign(np.diag(R))  # a Haar-distributed orthogonal matrix (det ±1)


def svd_built(singular_values, seed):
    """X = U diag(σ) Vᵀ with the given σ (exact zeros allowed) and random orthogonal U, V."""
    rng = np.random.default_rng(seed)
    n = len(singular_values)
    U, V = _orthogonal(rng, n), _orthogonal(rng, n)
    s = np.asarray(singular_values, dtype=np.float64)
    return (U * s) @ V.T, U, s, V


def det_gradient_rank_deficient_closed_form(U, s, V):
    """∇|X| = (adj X)ᵀ for X = U diag(s) Vᵀ with s[-1] = 0 (rank ≤ n−1), from

        adj X = det(U)·det(V)·σ₁⋯σₙ₋₁ · vₙ uₙᵀ     (issue 6; only the i = n term
                                                  of V adj(Σ) Uᵀ survives)

    Written independently of ``kronvec.rules.adjugate``.
    """
    sign = np.linalg.det(U) * np.linalg.det(V)  # ±1 for orthogonal factors
    adj = sign * np.prod(s[:-1]) * np.outer(V[:, -1], U[:, -1])
    return adj.T


def det_hessian_rank_n_minus_2_closed_form(U, s, V):
    """Hessian of |X| at X = U diag(s) Vᵀ with s[-2] = s[-1] = 0.

    With Ẽ = Uᵀ dX V, |X + dX| = det(U)det(V)·|Σ + Ẽ|, and the only second-order
    term that survives two zero singular values is c·(Ẽₙ₋₁,ₙ₋₁Ẽₙₙ − Ẽₙ₋₁,ₙẼₙ,ₙ₋₁)
    with c = σ₁⋯σₙ₋₂.  Ẽᵢⱼ = uᵢᵀ dX vⱼ = vec(uᵢvⱼᵀ)ᵀ vec dX, so
    H = s·c·(a bᵀ + b aᵀ − e fᵀ − f eᵀ) with a = vec(uₙ₋₁vₙ₋₁ᵀ), b = vec(uₙvₙᵀ),
    e = vec(uₙ₋₁vₙᵀ), f = vec(uₙvₙ₋₁ᵀ).
    """
    sign = np.linalg.det(U) * np.linalg.det(V)
    c = np.prod(s[:-2])
    u1, u2, v1, v2 = U[:, -2], U[:, -1], V[:, -2], V[:, -1]
    a, b = vec(np.outer(u1, v1)), vec(np.outer(u2, v2))
    e, f = vec(np.outer(u1, v2)), vec(np.outer(u2, v1))
    return sign * c * (np.outer(a, b) + np.outer(b, a) - np.outer(e, f) - np.outer(f, e))


def det_hessian_invertible_closed_form(X):
    """H = |X|·(vec X⁻ᵀ vec(X⁻ᵀ)ᵀ − (X⁻¹ ⊗ X⁻ᵀ) K_{n,n}), from D vec(|X| X⁻ᵀ)."""
    n = X.shape[0]
    Xi = np.linalg.inv(X)
    w = vec(Xi.T)
    return np.linalg.det(X) * (np.outer(w, w) - np.kron(Xi, Xi.T) @ commutation_dense(n, n))


# name -> X.  Ranks: n (random), n−1, n−2, ≤ n−3, and the named cases.
_U4 = svd_built([3.0, 2.0, 1.0, 0.5], seed=1)
_R3 = svd_built([3.0, 2.0, 1.5, 0.0], seed=2)
_R2 = svd_built([3.0, 2.0, 0.0, 0.0], seed=3)
_R1 = svd_built([2.5, 0.0, 0.0, 0.0], seed=4)
SINGULAR_DET_CASES = {
    "rank n (4×4)": _U4[0],
    "rank n−1 (4×4, SVD-built)": _R3[0],
    "rank n−2 (4×4, SVD-built)": _R2[0],
    "rank 1 of 4×4 (≤ n−3)": _R1[0],
    "rank n−1 integer [[1,2,3],[4,5,6],[7,8,9]]": np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]),
    "rank 1 integer ones(3×3)": np.ones((3, 3)),
    "zeros(3×3)": np.zeros((3, 3)),
    "1×1 zero": np.zeros((1, 1)),
    "[[0,1],[0,1]]": np.array([[0.0, 1.0], [0.0, 1.0]]),
    "zeros(2×2)": np.zeros((2, 2)),
    "identity(3)": np.eye(3),
    "identity(1)": np.eye(1),
}


@pytest.mark.parametrize("name", list(SINGULAR_DET_CASES))
def test_det_gradient_is_the_cofactor_matrix_at_every_rank(name):
    """∇|X| = cofactor matrix (Laplace expansion), finite and exact at singular X."""
    X = SINGULAR_DET_CASES[name]
    expected = cofactor_matrix(X)
    G = kronvec.grad(np.linalg.det)(X)
    assert G.shape == X.shape and np.all(np.isfinite(G))
    assert_close_to(G, expected, 1e-12, "grad(det)")
    assert_close_to(rules.det(X).gradient(X.shape), expected, 1e-12, "rules.det")
    # and against central differences of det itself (a polynomial: FD is accurate)
    assert_close_to(vec(G)[None, :], central_difference_jacobian(np.linalg.det, (X,)), FD_TOL, "FD")


@pytest.mark.parametrize("built", [_R3, svd_built([5.0, 0.5, 0.0], seed=7), svd_built([1.0, 0.0], seed=8)],
                         ids=["4×4", "3×3", "2×2"])
def test_det_gradient_rank_n_minus_1_matches_the_svd_formula(built):
    X, U, s, V = built
    expected = det_gradient_rank_deficient_closed_form(U, s, V)
    assert np.abs(expected).max() > 0.1  # the rank n−1 gradient is genuinely nonzero
    assert_close_to(kronvec.grad(np.linalg.det)(X), expected, 1e-12, "grad(det)")
    assert_close_to(rules.det(X).gradient(X.shape), expected, 1e-12, "rules.det")
    assert_close_to(unvec(kronvec.jacobian(np.linalg.det)(X).toarray()[0], X.shape), expected, 1e-12, "jacobian")


def test_det_gradient_is_computed_stably_not_as_det_times_inverse():
    """At an exactly singular matrix det·X⁻ᵀ does not exist (inv raises); at a
    numerically singular one it is rounding noise.  The adjugate is exact."""
    X = SINGULAR_DET_CASES["rank n−1 integer [[1,2,3],[4,5,6],[7,8,9]]"]
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.inv(X)
    assert_close_to(kronvec.grad(np.linalg.det)(X), cofactor_matrix(X), 1e-14, "integer rank n−1")
    X, U, s, V = _R3
    expected = det_gradient_rank_deficient_closed_form(U, s, V)
    assert_close_to(kronvec.grad(np.linalg.det)(X), expected, 1e-13, "SVD-built rank n−1")
    # rank n−2: the gradient vanishes; |X|·X⁻ᵀ would be 0·(huge) or a LinAlgError
    assert np.abs(kronvec.grad(np.linalg.det)(_R2[0])).max() < 1e-13
    assert np.abs(kronvec.grad(np.linalg.det)(np.zeros((3, 3)))).max() == 0.0


def test_det_gradient_of_exact_integer_matrices_is_exact():
    # ints are promoted to float64; [[1,2],[2,4]] is exactly singular
    G = kronvec.grad(np.linalg.det)(np.array([[1, 2], [2, 4]]))
    assert G.dtype == np.float64
    np.testing.assert_array_equal(G, [[4.0, -2.0], [-2.0, 1.0]])




def test_det_hessian_of_the_1x1_zero_matrix():
    np.testing.assert_array_equal(kronvec.hessian(np.linalg.det)(np.zeros((1, 1))).toarray(), [[0.0]])


@pytest.mark.parametrize("name", [k
                                  for k in SINGULAR_DET_CASES])
def test_det_hessian_matches_fd_of_an_independent_gradient(name):
    """H = D vec ∇|X|; the independent ∇|X| is the cofactor matrix from explicit minors."""
    X = SINGULAR_DET_CASES[name]
    H_fd = central_difference_jacobian(cofactor_matrix, (X,))
    H = kronvec.hessian(np.linalg.det)(X)
    assert H.shape == (X.size, X.size)
    assert_close_to(H.toarray(), H_fd, FD_TOL, "hessian(det)")
    assert_close_to(dense_of(H), H_fd, FD_TOL, "hessian(det) applied to I")
    assert_close_to(rules.det_hessian(X).toarray(), H_fd, FD_TOL, "rules.det_hessian")
    V = np.random.default_rng(5).standard_normal(X.shape)
    assert_close_to(kronvec.hvp(np.linalg.det)(X, V), unvec(H_fd @ vec(V), X.shape), FD_TOL, "hvp(det)")


def test_det_hessian_closed_forms_at_named_points():
    # identity: |I + E| = 1 + tr E + ½((tr E)² − tr E²) + …  ⇒  H = vec I vec Iᵀ − K
    for n in (1, 2, 3, 4):
        w = vec(np.eye(n))
        expected = np.outer(w, w) - commutation_dense(n, n)
        assert_close_to(kronvec.hessian(np.linalg.det)(np.eye(n)).toarray(), expected, 1e-14, f"I_{n}")
    # 1×1: |x| = x is linear, H = 0 (at x = 0: test_det_hessian_of_the_1x1_zero_matrix)
    np.testing.assert_array_equal(kronvec.hessian(np.linalg.det)(np.ones((1, 1))).toarray(), [[0.0]])
    # 2×2: |X| = x₁₁x₂₂ − x₁₂x₂₁ has the same Hessian everywhere (vec order x₁₁, x₂₁, x₁₂, x₂₂)
    H2 = np.array([[0, 0, 0, 1], [0, 0, -1, 0], [0, -1, 0, 0], [1, 0, 0, 0]], dtype=float)
    for X in (np.array([[0.0, 1.0], [0.0, 1.0]]), np.zeros((2, 2)), np.array([[3.0, -1.0], [2.0, 5.0]])):
        assert_close_to(kronvec.hessian(np.linalg.det)(X).toarray(), H2, 1e-14, str(X.tolist()))
    # 0×0: |X| = 1, the empty Hessian
    assert kronvec.hessian(np.linalg.det)(np.zeros((0, 0))).toarray().shape == (0, 0)


@pytest.mark.parametrize("built", [_R2, svd_built([4.0, 0.0, 0.0], seed=9), svd_built([0.0, 0.0], seed=10)],
                         ids=["4×4", "3×3", "2×2 zero"])
def test_det_hessian_rank_n_minus_2_matches_the_svd_formula(built):
    X, U, s, V = built
    expected = det_hessian_rank_n_minus_2_closed_form(U, s, V)
    assert np.abs(expected).max() > 0.1  # nonzero although the gradient vanishes
    assert np.abs(kronvec.grad(np.linalg.det)(X)).max() < 1e-12
    assert_close_to(kronvec.hessian(np.linalg.det)(X).toarray(), expected, 1e-12, "hessian(det)")


def test_det_hessian_at_rank_at_most_n_minus_3_is_zero():
    for X in (np.zeros((3, 3)), np.ones((4, 4)), _R1[0]):
        assert_close_to(kronvec.hessian(np.linalg.det)(X).toarray(), np.zeros((X.size, X.size)), 1e-13)


def test_det_hessian_at_an_invertible_matrix_matches_the_inverse_formula():
    X = _U4[0]
    assert_close_to(kronvec.hessian(np.linalg.det)(X).toarray(), det_hessian_invertible_closed_form(X), 1e-12)



def _reverse_over_reverse_param(name):
    return name  # fixed: primitives._adjugate_vjp is exact at every rank


@pytest.mark.parametrize("name", [_reverse_over_reverse_param(k) for k in SINGULAR_DET_CASES])
def test_det_second_derivative_by_reverse_over_reverse(name):
    X = SINGULAR_DET_CASES[name]
    V = np.random.default_rng(6).standard_normal(X.shape)
    expected = unvec(central_difference_jacobian(cofactor_matrix, (X,)) @ vec(V), X.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IllConditionedWarning)
        nested = kronvec.grad(lambda Y: np.sum(kronvec.grad(np.linalg.det)(Y) * V))(X)
        pullback = kronvec.vjp(kronvec.grad(np.linalg.det), X)[1](V)[0]
    # ⟨∇|X|, V⟩ has gradient H vec V (H symmetric); the VJP of ∇|X| is Hᵀ vec V = H vec V
    assert_close_to(nested, expected, FD_TOL, "grad of <grad det, V>")
    assert_close_to(pullback, expected, FD_TOL, "vjp of grad det")


# ============================================================================
# 2. inv / logdet / solve: singular → LinAlgError, ill-conditioned → one warning
# ============================================================================

EXACTLY_SINGULAR = {
    "[[1,2],[2,4]]": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "[[0,1],[0,1]]": np.array([[0.0, 1.0], [0.0, 1.0]]),
    "[[1,2,3],[4,5,6],[7,8,9]]": np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]),
    "zeros(3×3)": np.zeros((3, 3)),
    "1×1 zero": np.zeros((1, 1)),
}


def _ones_rhs(X):
    return np.ones((X.shape[0], 1))


# (label, operation name the message must contain, call(X))
SINGULAR_ENTRIES = [
    ("rules.inv", "rules.inv", lambda X: rules.inv(X)),
    ("rules.logdet", "rules.logdet", lambda X: rules.logdet(X)),
    ("rules.solve_wrt_a", "rules.solve_wrt_a", lambda X: rules.solve_wrt_a(X, _ones_rhs(X))),
    ("rules.solve_wrt_b", "rules.solve_wrt_b", lambda X: rules.solve_wrt_b(X, _ones_rhs(X))),
    ("grad sum inv", "np.linalg.inv", lambda X: kronvec.grad(lambda Y: np.sum(np.linalg.inv(Y)))(X)),
    ("jacobian inv", "np.linalg.inv", lambda X: kronvec.jacobian(np.linalg.inv)(X)),
    ("jvp inv", "np.linalg.inv", lambda X: kronvec.jvp(np.linalg.inv, (X,), (np.ones_like(X),))),
    ("vjp inv", "np.linalg.inv", lambda X: kronvec.vjp(np.linalg.inv, X)),
    ("grad slogdet", "np.linalg.slogdet", lambda X: kronvec.grad(lambda Y: np.linalg.slogdet(Y)[1])(X)),
    ("hessian slogdet", "np.linalg.slogdet", lambda X: kronvec.hessian(lambda Y: np.linalg.slogdet(Y)[1])(X)),
    ("hvp slogdet", "np.linalg.slogdet",
     lambda X: kronvec.hvp(lambda Y: np.linalg.slogdet(Y)[1])(X, np.ones_like(X))),
    ("grad solve wrt A", "np.linalg.solve",
     lambda X: kronvec.grad(lambda A: np.sum(np.linalg.solve(A, _ones_rhs(X))))(X)),
    ("jacobian solve wrt B", "np.linalg.solve",
     lambda X: kronvec.jacobian(lambda b: np.linalg.solve(X, b))(_ones_rhs(X))),
]


@pytest.mark.parametrize("matrix", list(EXACTLY_SINGULAR))
@pytest.mark.parametrize("label, operation, call", SINGULAR_ENTRIES, ids=[e[0] for e in SINGULAR_ENTRIES])
def test_exactly_singular_raises_linalg_error_naming_the_operation(label, operation, call, matrix):
    X = EXACTLY_SINGULAR[matrix]
    with assert_unchanged(X), pytest.raises(np.linalg.LinAlgError) as info:
        call(X)
    message = str(info.value)
    assert message.startswith(operation + ":"), message
    assert "singular" in message


OVERFLOWING_INVERSE = np.diag([1e-310, 1.0])  # LU pivot is subnormal, not 0: inv() "succeeds" with inf


@pytest.mark.parametrize("label, operation, call", SINGULAR_ENTRIES[:9], ids=[e[0] for e in SINGULAR_ENTRIES[:9]])
def test_overflowing_inverse_is_loud_not_nan(label, operation, call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = call(OVERFLOWING_INVERSE)
        except np.linalg.LinAlgError as error:
            # the message names what the user called (np.linalg.slogdet, not an internal inv)
            assert str(error).startswith(operation + ":")
            return
        leaves = _leaves(result)
    for value in leaves:
        assert np.all(np.isfinite(value)), f"{label}: non-finite result {value!r}"


def _leaves(result):
    """Every array a result holds: arrays, operators (densified), tuples, pullbacks."""
    if isinstance(result, tuple):
        return [leaf for item in result for leaf in _leaves(item)]
    if callable(result) and not isinstance(result, kronvec.StructuredOperator):
        return []
    if isinstance(result, kronvec.StructuredOperator):
        return [result.toarray()]
    return [np.asarray(result)]


def _rotation(theta):
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


# κ₁ ≈ 1e15 > 1e-2/eps ≈ 4.5e13
ILL = _rotation(0.3) @ np.diag([1.0, 1e-15]) @ _rotation(1.1).T
ILL_DIAG = np.diag([1.0, 1e-15])
MILD = _rotation(0.3) @ np.diag([1.0, 1e-11]) @ _rotation(1.1).T  # κ₁ ≈ 1e11: no warning


def _ill_entries():
    b = np.ones((2, 1))
    entries = [
        ("rules.inv", lambda X: rules.inv(X)),
        ("rules.logdet", lambda X: rules.logdet(X)),
        ("rules.solve_wrt_a", lambda X: rules.solve_wrt_a(X, b)),
        ("rules.solve_wrt_b", lambda X: rules.solve_wrt_b(X, b)),
        ("jacobian inv", lambda X: kronvec.jacobian(np.linalg.inv)(X)),
        ("grad sum inv", lambda X: kronvec.grad(lambda Y: np.sum(np.linalg.inv(Y)))(X)),
        ("jvp inv", lambda X: kronvec.jvp(np.linalg.inv, (X,), (np.ones_like(X),))),
        ("vjp inv + pullback", lambda X: kronvec.vjp(np.linalg.inv, X)[1](np.ones_like(X))),
        ("grad slogdet", lambda X: kronvec.grad(lambda Y: np.linalg.slogdet(Y)[1])(X)),
        ("jacobian slogdet", lambda X: kronvec.jacobian(lambda Y: np.linalg.slogdet(Y)[1])(X)),
        ("jacobian solve wrt A", lambda X: kronvec.jacobian(lambda A: np.linalg.solve(A, b))(X)),
    ]
    entries += [
        pytest.param("grad solve wrt A", lambda X: kronvec.grad(lambda A: np.sum(np.linalg.solve(A, b)))(X),
                     id="grad solve wrt A"),
        pytest.param("grad solve wrt b", lambda X: kronvec.grad(lambda c: np.sum(np.linalg.solve(X, c)))(b),
                     id="grad solve wrt b"),
        pytest.param("hessian slogdet", lambda X: kronvec.hessian(lambda Y: np.linalg.slogdet(Y)[1])(X),
                     id="hessian slogdet"),
        pytest.param("hvp slogdet", lambda X: kronvec.hvp(lambda Y: np.linalg.slogdet(Y)[1])(X, np.eye(2)),
                     id="hvp slogdet"),
    ]
    return [e if hasattr(e, "marks") else pytest.param(*e, id=e[0]) for e in entries]


ILL_ENTRIES = _ill_entries()


def _record(call, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(X)
    return result, [w for w in caught if issubclass(w.category, IllConditionedWarning)], caught


@pytest.mark.parametrize("label, call", ILL_ENTRIES)
def test_ill_conditioned_works_and_warns_exactly_once_naming_the_condition_number(label, call):
    result, ours, caught = _record(call, ILL)
    assert len(ours) == 1, [str(w.message) for w in caught]
    message = str(ours[0].message)
    # The message names the threshold it exceeds (a stable text, shown once per call site);
    # the measured κ₁ ≈ 1e15 travels as the warning's `condition` attribute.
    assert "condition number above" in message and "e+1" in message, message
    assert 1e14 < ours[0].message.condition < 1e17, ours[0].message.condition
    assert "condition_warning" in message  # says how to configure it
    for value in _leaves(result):
        assert np.all(np.isfinite(value))


def test_an_ill_conditioned_warning_points_at_the_users_line_once_per_call_site():
    """Issue 16: one script printed 120 warnings — each twice, with a changing number (so
    Python never deduplicated them), pointing into kronvec. Now: one per call site, at the
    user's line, under Python's default filter, however many calls and matrices."""
    f = lambda X: np.sum(np.linalg.inv(X))  # noqa: E731
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for scale in (1e-15, 2e-15, 3e-15):  # three matrices, three condition numbers
            kronvec.grad(f)(np.diag([1.0, scale]))  # (this line)
            kronvec.jacobian(np.linalg.inv)(np.diag([1.0, scale]))  # (and this one)
    ours = [w for w in caught if issubclass(w.category, IllConditionedWarning)]
    assert len(ours) == 2, [(w.filename, w.lineno, str(w.message)) for w in ours]
    assert {w.filename for w in ours} == {__file__}, [w.filename for w in ours]
    assert ours[0].lineno != ours[1].lineno


def test_ill_conditioned_results_are_still_right():
    """At κ = 1e15 the formulas still hold to rounding where the inverse is exact (diagonal X)."""
    Di = np.diag([1.0, 1e15])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IllConditionedWarning)
        assert_close_to(kronvec.jacobian(np.linalg.inv)(ILL_DIAG).toarray(), -np.kron(Di, Di), 1e-15)
        assert_close_to(rules.logdet(ILL_DIAG).gradient((2, 2)), Di, 1e-15)
        assert_close_to(kronvec.grad(lambda Y: np.linalg.slogdet(Y)[1])(ILL_DIAG), Di, 1e-15)


def test_condition_warning_threshold_is_one_over_eps_times_1e_minus_2_and_configurable():
    assert config.condition_warning == "auto"  # 1e-2/eps of the matrix dtype
    assert issubclass(IllConditionedWarning, scipy.linalg.LinAlgWarning)
    call = lambda X: rules.inv(X)  # noqa: E731
    assert _record(call, MILD)[1] == []  # κ ≈ 1e11 is below the default threshold
    with config.override(condition_warning=1e9):
        assert len(_record(call, MILD)[1]) == 1
    with config.override(condition_warning=None):
        result, ours, caught = _record(call, ILL)
        assert ours == [] and caught == []
        assert np.all(np.isfinite(result.toarray()))
    assert len(_record(call, ILL)[1]) == 1  # restored after the block
    # LinAlgWarning filters catch ours: an "error" filter makes it an exception
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        with pytest.raises(IllConditionedWarning):
            rules.inv(ILL)


# ============================================================================
# 3. SPD fast path of the log-determinant
# ============================================================================


def _spd(n, seed, scale=1.0):
    A = np.random.default_rng(seed).standard_normal((n, n))
    return scale * (A @ A.T / n + np.eye(n))


@pytest.fixture
def cholesky_calls(monkeypatch):
    """Shapes of the matrices factored by Cholesky (the SPD fast path of large matrices)."""
    calls = []
    original = np.linalg.cholesky

    def spy(X, *args, **kwargs):
        result = original(X, *args, **kwargs)  # (raises for an indefinite X: not counted)
        calls.append(np.shape(X))
        return result

    monkeypatch.setattr(np.linalg, "cholesky", spy)
    return calls


@pytest.mark.parametrize("n", [CHOLESKY_MIN_ORDER, CHOLESKY_MIN_ORDER + 36])
def test_spd_logdet_uses_cholesky_and_agrees_with_the_general_path(n, cholesky_calls):
    X = _spd(n, seed=n)
    sign_ref, value_ref = np.linalg.slogdet(X)
    value, G = kronvec.value_and_grad(lambda Y: np.linalg.slogdet(Y)[1])(X)
    assert cholesky_calls, "the SPD fast path (Cholesky) was not taken"
    assert abs(value - value_ref) <= 1e-12 * max(1.0, abs(value_ref))
    assert_close_to(G, np.linalg.inv(X).T, 1e-12, "∇ ln|X|")
    cholesky_calls.clear()
    J = rules.logdet(X)
    assert cholesky_calls
    assert_close_to(J.gradient(X.shape), np.linalg.inv(X).T, 1e-12, "rules.logdet")
    # the Hessian through the fast path: -(X⁻¹ ⊗ X⁻ᵀ)K, checked along a direction
    V = np.random.default_rng(1).standard_normal((n, n))
    Xi = np.linalg.inv(X)
    assert_close_to(kronvec.hvp(lambda Y: np.linalg.slogdet(Y)[1])(X, V), -(Xi.T @ V.T @ Xi.T), 1e-10, "hvp")


def test_logdet_general_path_for_symmetric_indefinite_and_nearly_symmetric(cholesky_calls):
    n = CHOLESKY_MIN_ORDER
    S = _spd(n, seed=3)
    indefinite = S - 1.5 * np.eye(n) * np.linalg.eigvalsh(S)[n // 2]  # symmetric, mixed signs
    nearly = S.copy()
    nearly[0, 1] += 1e-13  # not exactly symmetric: no fast path
    for X in (indefinite, nearly, -S):
        sign_ref, value_ref = np.linalg.slogdet(X)
        value, G = kronvec.value_and_grad(lambda Y: np.linalg.slogdet(Y)[1])(X)
        assert abs(value - value_ref) <= 1e-12 * max(1.0, abs(value_ref))
        assert_close_to(G, np.linalg.inv(X).T, 1e-10, "∇ ln|X|")
        assert_close_to(rules.logdet(X).gradient(X.shape), np.linalg.inv(X).T, 1e-10, "rules.logdet")


def test_spd_fast_path_below_and_above_the_cutoff_agree():
    """One order below the cut-off takes the LU path, the cut-off Cholesky; both equal slogdet to rounding."""
    for n in (CHOLESKY_MIN_ORDER - 1, CHOLESKY_MIN_ORDER):
        X = _spd(n, seed=11, scale=3.0)
        value = kronvec.value_and_grad(lambda Y: np.linalg.slogdet(Y)[1])(X)[0]
        assert value == pytest.approx(np.linalg.slogdet(X)[1], rel=1e-13)


def test_spd_fast_path_float32():
    X32 = _spd(CHOLESKY_MIN_ORDER, seed=12).astype(np.float32)
    value, G = kronvec.value_and_grad(lambda Y: np.linalg.slogdet(Y)[1])(X32)
    X64 = X32.astype(np.float64)
    assert float(value) == pytest.approx(np.linalg.slogdet(X64)[1], rel=1e-5)
    # float32: eps ≈ 1.2e-7 times κ(X) ≈ 5 and n = 150 terms
    assert_close_to(G, np.linalg.inv(X64).T, 1e-4, "float32 ∇ ln|X|")
    assert np.all(np.isfinite(G))


# ============================================================================
# 4. non-finite values, dtypes, shapes
# ============================================================================


def _rule_arg_names(rule):
    names = list(inspect.signature(rule.jacobian).parameters)
    return ["X" if name == "X_or_m" else name for name in names]


def _rule_sample(rule, n=2):
    return tuple(np.array(a, dtype=np.float64) for a in rule.sample(np.random.default_rng(100 + n), n))


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_rules_name_the_non_finite_argument(name, bad):
    rule = REGISTRY[name]
    args = _rule_sample(rule)
    for position, arg_name in enumerate(_rule_arg_names(rule)[: len(args)]):
        poisoned = [a.copy() for a in args]
        poisoned[position].flat[0] = bad
        with pytest.raises(ValueError, match=rf"^rules\.{name}: {arg_name} contains NaN or inf"):
            rule.jacobian(*poisoned)
        # switched off: no ValueError for non-finite data (NaN flows on; warnings are expected)
        with config.override(check_finite=False), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                rule.jacobian(*poisoned)
            except ValueError as error:
                assert "NaN or inf" not in str(error)
            except np.linalg.LinAlgError:
                pass  # the LU of a NaN matrix reports "singular": a documented exception


def test_helpers_reject_non_finite_too():
    for call in (lambda X: rules.adjugate(X), lambda X: rules.elementwise(X)):
        with pytest.raises(ValueError, match="NaN or inf"):
            call(np.array([[1.0, np.nan], [0.0, 1.0]]))


def _nan_matrix():
    X = np.eye(2) * 2.0
    X[0, 1] = np.nan
    return X


def test_api_names_the_non_finite_differentiated_argument():
    X, C = np.eye(2) * 2.0, np.ones((2, 2))
    bad = _nan_matrix()
    f = lambda X, C: np.sum(np.linalg.inv(X) @ C)  # noqa: E731
    with pytest.raises(ValueError, match=r"argument 'X' \(position 0\) contains NaN or inf"):
        kronvec.grad(f)(bad, C)
    with pytest.raises(ValueError, match=r"argument 'C' \(position 1\) contains NaN or inf"):
        kronvec.grad(f, argnums=1)(X, bad)
    with pytest.raises(ValueError, match="tangent 0 contains NaN or inf"):
        kronvec.jvp(np.linalg.inv, (X,), (bad,))
    with pytest.raises(ValueError, match="contains NaN or inf"):
        kronvec.hvp(lambda Y: np.sum(Y ** 3))(X, bad)
    with pytest.raises(ValueError, match="contains NaN or inf"):
        kronvec.value_and_grad(lambda Y: np.sum(Y))(bad)
    # switched off: NaN flows through to the result, no ValueError
    with config.override(check_finite=False):
        G = kronvec.grad(lambda Y: np.sum(Y * Y))(bad)
        assert np.isnan(G[0, 1]) and G[0, 0] == 4.0


@pytest.mark.parametrize("entry", ["grad", "jacobian", "value_and_grad", "residuals.jac"])
def test_api_rejects_non_finite_constant_arguments(entry):
    X, C = np.eye(2) * 2.0, _nan_matrix()
    calls = {
        "grad": lambda: kronvec.grad(lambda X, C: np.sum(X @ C))(X, C),
        "jacobian": lambda: kronvec.jacobian(lambda X, C: X @ C)(X, C),
        "value_and_grad": lambda: kronvec.value_and_grad(lambda X, C: np.sum(X @ C))(X, C),
        "residuals.jac": lambda: kvo.residuals(lambda X, C: X @ C, (2, 2), C).jac(vec(X)),
    }
    with pytest.raises(ValueError, match=r"\bC\b.*NaN or inf|NaN or inf.*\bC\b"):
        calls[entry]()


def test_vjp_rejects_a_non_finite_cotangent():
    pullback = kronvec.vjp(lambda X: X @ X, np.eye(2))[1]
    with pytest.raises(ValueError, match="cotangent.*NaN or inf"):
        pullback(_nan_matrix())


def test_optimize_adapters_reject_non_finite_x():
    f = lambda X, C: np.sum(np.linalg.inv(X) * C)  # noqa: E731
    obj = kvo.objective(f, (2, 2), np.ones((2, 2)))
    res_ = kvo.residuals(lambda X: X @ X - np.eye(2), (2, 2))
    good, bad = vec(np.eye(2) * 2.0), vec(_nan_matrix())
    for call in (lambda: obj.fun(bad), lambda: obj.jac(bad), lambda: obj.value_and_grad(bad),
                 lambda: obj.hess(bad), lambda: obj.hessp(bad, good), lambda: res_.fun(bad),
                 lambda: res_.jac(bad)):
        with pytest.raises(ValueError, match="non-finite"):
            call()
    with pytest.raises(ValueError, match="non-finite"):
        obj.hessp(good, bad)


@pytest.mark.parametrize("which", ["minimize", "least_squares"])
def test_optimize_drivers_name_a_non_finite_X0(which):
    X0 = _nan_matrix()
    with pytest.raises(ValueError, match="X0"):
        if which == "minimize":
            kvo.minimize(lambda X: np.sum(X * X), X0, method="BFGS")
        else:
            kvo.least_squares(lambda X: X - 1.0, X0)


def test_int_and_bool_inputs_are_promoted_to_float64():
    """(Every rule with int input: tests/test_rules.py::test_rule_int_input_gives_float64_jacobian.)"""
    Xi = np.array([[2, 1], [1, 3]])
    assert kronvec.grad(np.linalg.det)(Xi).dtype == np.float64
    assert kronvec.grad(lambda Y: np.linalg.slogdet(Y)[1])(Xi).dtype == np.float64
    assert kronvec.jacobian(np.linalg.inv)(Xi).toarray().dtype == np.float64
    assert rules.det_hessian(Xi).toarray().dtype == np.float64
    H = kronvec.hessian(np.linalg.det)(np.array([[True, False], [False, True]]))
    assert H.dtype == np.float64 and H.toarray().dtype == np.float64


def test_float32_in_gives_float32_structured_jacobian_of_inv():
    """float32 stays float32 where the whole computation allows it (the inverse and
    the vec trick).  The dtype policy of the other entry points is tested in
    tests/test_api.py (test_float32_dtype_is_consistent_across_entry_points)."""
    X32 = (np.eye(3) * 3 + 0.5).astype(np.float32)
    J = kronvec.jacobian(np.linalg.inv)(X32)
    assert J.dtype == np.float32 and J.toarray().dtype == np.float32
    assert J.matvec(np.ones(9, np.float32)).dtype == np.float32
    Xi = np.linalg.inv(X32.astype(np.float64))
    assert_close_to(J.toarray(), -np.kron(Xi.T, Xi), 1e-5, "float32 jacobian(inv)")
    G = kronvec.grad(np.linalg.det)(np.array([[1, 2], [2, 4]], dtype=np.float32))
    np.testing.assert_array_equal(G, [[4.0, -2.0], [-2.0, 1.0]])


COMPLEX = np.eye(2) * (1.0 + 1.0j)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_rules_refuse_complex_input_in_every_argument(name):
    rule = REGISTRY[name]
    args = _rule_sample(rule)
    for position, arg_name in enumerate(_rule_arg_names(rule)[: len(args)]):
        poisoned = list(args)
        poisoned[position] = args[position] + 1j
        with pytest.raises(TypeError, match=rf"{arg_name} is complex"):
            rule.jacobian(*poisoned)


def test_api_and_optimize_refuse_complex_input():
    X = np.eye(2)
    calls = [
        lambda: kronvec.grad(lambda Y: np.sum(Y))(COMPLEX),
        lambda: kronvec.value_and_grad(lambda Y: np.sum(Y))(COMPLEX),
        lambda: kronvec.jacobian(np.linalg.inv)(COMPLEX),
        lambda: kronvec.hessian(np.linalg.det)(COMPLEX),
        lambda: kronvec.hvp(np.linalg.det)(COMPLEX, X),
        lambda: kronvec.hvp(np.linalg.det)(X, COMPLEX),
        lambda: kronvec.jvp(np.linalg.inv, (COMPLEX,), (X,)),
        lambda: kronvec.jvp(np.linalg.inv, (X,), (COMPLEX,)),
        lambda: kronvec.vjp(np.linalg.inv, COMPLEX),
        lambda: kronvec.jacobian(np.linalg.inv)(X).matvec(np.ones(4) + 1j),
        lambda: kronvec.Kron(np.eye(2), COMPLEX),
        lambda: kvo.objective(lambda Y: np.sum(Y), (2, 2)).fun(np.ones(4) + 0j),
        lambda: kvo.minimize(lambda Y: np.sum(Y * Y), COMPLEX),
        lambda: kvo.least_squares(lambda Y: Y - 1.0, COMPLEX),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="complex|real"):
            call()


@pytest.mark.parametrize("entry", [
    "grad constant",
    "vjp cotangent"])
def test_complex_constants_and_cotangents_raise_type_error(entry):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ComplexWarning must not be the only signal
        with pytest.raises(TypeError, match="complex"):
            if entry == "grad constant":
                kronvec.grad(lambda X, C: np.sum(X * C))(np.eye(2), COMPLEX)
            else:
                kronvec.vjp(lambda X: X @ X, np.eye(2))[1](COMPLEX)


SQUARE_ONLY = ["inv", "det", "logdet", "det_hessian"]  # (np.trace of a rectangular matrix is defined)


@pytest.mark.parametrize("name", SQUARE_ONLY + ["adjugate"])
@pytest.mark.parametrize("shape", [(2, 3), (3, 1), (1, 3), (0, 2)])
def test_square_only_rules_name_the_shape_of_a_non_square_matrix(name, shape):
    function = getattr(rules, name)
    with pytest.raises(ValueError, match=rf"^rules\.{name}: .*X must be square, got shape \({shape[0]}, {shape[1]}\)"):
        function(np.ones(shape))


@pytest.mark.parametrize("function, label", [
    (np.linalg.inv, "np.linalg.inv"), (np.linalg.det, "np.linalg.det"),
    (lambda X: np.linalg.slogdet(X)[1], "np.linalg.slogdet")], ids=["inv", "det", "slogdet"])
def test_api_names_the_shape_of_a_non_square_matrix(function, label):
    scalar = label != "np.linalg.inv"
    entries = [kronvec.jacobian(function)]
    entries.append(kronvec.grad(function if scalar else (lambda X: np.sum(function(X)))))
    entries.append(lambda X: kronvec.jvp(function, (X,), (X,)))
    for entry in entries:
        with pytest.raises(ValueError, match=rf"{label}: X must be square, got shape \(2, 3\)"):
            entry(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        rules.inv(np.ones(3))


# --- every rule at 0×0, 1×1, n×1, 1×n and rectangular shapes -------------------

def _pos(shape, seed):
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=shape)


def _gen(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _well(m, seed):
    return _gen((m, m), seed) + 2.0 * np.sqrt(max(m, 1)) * np.eye(m)


def _shape_args(name, shape):
    """Arguments for rule `name` whose differentiated argument has `shape` (None: not applicable)."""
    m, k = shape
    square = m == k
    table = {
        "det": lambda: (_gen(shape, 1),) if square else None,
        "det_hessian": lambda: (_gen(shape, 1),) if square else None,
        "logdet": lambda: (_well(m, 1),) if square else None,
        "inv": lambda: (_well(m, 1),) if square else None,
        "trace": lambda: (_gen(shape, 1),) if square else None,
        "solve_wrt_a": lambda: (_well(m, 1), _gen((m, 2), 2)) if square else None,
        "solve_wrt_b": lambda: (_well(m, 1), _gen(shape, 2)),
        "hadamard_wrt_left": lambda: (_gen(shape, 1), _gen(shape, 2)),
        "hadamard_wrt_right": lambda: (_gen(shape, 1), _gen(shape, 2)),
        "exp": lambda: (_gen(shape, 1),),
        "tanh": lambda: (_gen(shape, 1),),
        "square": lambda: (_gen(shape, 1),),
        "log": lambda: (_pos(shape, 1),),
        "sqrt": lambda: (_pos(shape, 1),),
        "transpose": lambda: (_gen(shape, 1),),
        "matmul_wrt_left": lambda: (_gen(shape, 1), _gen((k, 2), 2)),
        "matmul_wrt_right": lambda: (_gen((2, m), 1), _gen(shape, 2)),
        "sandwich": lambda: (_gen((2, m), 1), _gen(shape, 2), _gen((k, 3), 3)),
        "kron_wrt_left": lambda: (_gen(shape, 1), _gen((2, 3), 2)),
        "kron_wrt_right": lambda: (_gen((2, 3), 1), _gen(shape, 2)),
        "trace_product": lambda: (_gen(shape, 1), _gen((k, m), 2)),
    }
    return table[name]()


EDGE_SHAPES = [(0, 0), (1, 1), (3, 1), (1, 3), (2, 3), (0, 2), (3, 3)]


def _edge_cases():
    cases = []
    for name in sorted(REGISTRY):
        for shape in EDGE_SHAPES:
            if _shape_args(name, shape) is not None:
                cases.append(pytest.param(name, shape, id=f"{name}-{shape[0]}x{shape[1]}"))
    return cases


@pytest.mark.parametrize("name, shape", _edge_cases())
def test_every_rule_at_edge_shapes_matches_fd_and_its_dense_forms(name, shape):
    rule = REGISTRY[name]
    args = _shape_args(name, shape)
    with assert_unchanged(*args):
        J = rule.jacobian(*args)
    out_size = int(np.size(rule.primal(*args)))
    assert J.shape == (out_size, int(np.prod(shape)))
    dense = J.toarray()
    J_fd = central_difference_jacobian(rule.primal, args, rule.argnum)
    assert_close_to(dense, J_fd, FD_TOL, f"{name} at {shape}")
    np.testing.assert_allclose(dense_of(J), dense, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(J.tosparse().toarray(), dense, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(J.T.toarray(), dense.T, rtol=1e-13, atol=1e-13)


# ============================================================================
# 5. inputs are never modified
# ============================================================================


def _layouts(X):
    """The same values as C-ordered, Fortran-ordered, read-only and strided arrays."""
    readonly = np.array(X)
    readonly.flags.writeable = False
    strided = np.zeros((2 * X.shape[0], 2 * X.shape[1]))
    strided[::2, ::2] = X
    return {"C": np.ascontiguousarray(X), "F": np.asfortranarray(X), "readonly": readonly,
            "strided": strided[::2, ::2]}


def _public_calls():
    """(label, call(X, C, b, V)) for every public entry; X well-conditioned 3×3."""
    def f(X, C):
        return np.linalg.slogdet(X)[1] + np.trace(np.linalg.inv(X) @ C) + np.linalg.det(X) * 1e-3

    def r(X, C):
        return np.linalg.solve(X, C) - np.eye(3)

    calls = [
        ("grad", lambda X, C, b, V: kronvec.grad(f)(X, C)),
        ("grad argnums=(0,1)", lambda X, C, b, V: kronvec.grad(f, argnums=(0, 1))(X, C)),
        ("value_and_grad", lambda X, C, b, V: kronvec.value_and_grad(f)(X, C)),
        ("jacobian", lambda X, C, b, V: kronvec.jacobian(r)(X, C).toarray()),
        ("jacobian kron", lambda X, C, b, V: kronvec.jacobian(lambda X: np.kron(X, C))(X).tosparse()),
        ("jvp", lambda X, C, b, V: kronvec.jvp(r, (X, C), (V, V))),
        ("vjp+pullback", lambda X, C, b, V: kronvec.vjp(r, X, C)[1](V)),
        ("hessian", lambda X, C, b, V: kronvec.hessian(f)(X, C).toarray()),
        ("hvp", lambda X, C, b, V: kronvec.hvp(f)(X, C, V)),
        ("hessian det", lambda X, C, b, V: kronvec.hessian(np.linalg.det)(X).matvec(vec(V))),
        ("objective", lambda X, C, b, V: _objective_calls(f, X, C, V)),
        ("minimize", lambda X, C, b, V: kvo.minimize(f, X, C, method="trust-krylov", options={"maxiter": 2})),
        ("residuals", lambda X, C, b, V: _residual_calls(r, X, C)),
        ("least_squares", lambda X, C, b, V: kvo.least_squares(r, X, C, max_nfev=3)),
        ("operators", lambda X, C, b, V: _operator_calls(X, C, b)),
        ("vec/unvec", lambda X, C, b, V: unvec(vec(X), X.shape)),
    ]
    calls.append(("rules.adjugate", lambda X, C, b, V: rules.adjugate(X)))
    calls.append(("rules.elementwise", lambda X, C, b, V: rules.elementwise(X).toarray()))
    return calls


def _objective_calls(f, X, C, V):
    obj = kvo.objective(f, X.shape, C)
    x = obj.to_vector(X)
    return obj.fun(x), obj.jac(x), obj.hess(x).toarray(), obj.hessp(x, vec(V)), obj.to_matrix(x)


def _residual_calls(r, X, C):
    for fmt in ("operator", "sparse", "dense"):
        res_ = kvo.residuals(r, X.shape, C, jac_format=fmt)
        res_.fun(res_.to_vector(X)), res_.jac(res_.to_vector(X))


def _operator_calls(X, C, b):
    ops = [kronvec.Kron(X, C), kronvec.Dense(X), kronvec.as_operator(C), kronvec.Diag(vec(X))]
    for op in ops:
        op.toarray(), op.tosparse(), op.matvec(np.ones(op.shape[1])), op.rmatvec(np.ones(op.shape[0]))
    kronvec.Kron(X, C).solve(np.ones(9))


PUBLIC_CALLS = _public_calls()


@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
@pytest.mark.parametrize("label, call", PUBLIC_CALLS, ids=[c[0] for c in PUBLIC_CALLS])
def test_public_calls_never_modify_their_inputs(label, call, layout):
    rng = np.random.default_rng(21)
    X0 = rng.standard_normal((3, 3)) + 4.0 * np.eye(3)
    C0 = rng.uniform(0.5, 2.0, size=(3, 3))  # positive: valid for log/sqrt too
    C0 = C0 @ C0.T + np.eye(3)
    b0 = rng.standard_normal((3, 1))
    V0 = rng.standard_normal((3, 3))
    X, C, b, V = (_layouts(A)[layout] for A in (X0, C0, b0, V0))
    before = checksum((X, C, b, V))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # optimizers stopped after 2–3 steps
        call(X, C, b, V)
    assert checksum((X, C, b, V)) == before, f"{label} modified an input ({layout} layout)"


@pytest.mark.parametrize("layout", ["C", "F", "readonly", "strided"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_rules_and_their_operators_never_modify_their_inputs(name, layout):
    args = tuple(_layouts(a)[layout] for a in _shape_args(name, (3, 3)))
    before = checksum(args)
    J = REGISTRY[name].jacobian(*args)
    J.toarray(), J.tosparse(), J.matvec(np.ones(J.shape[1])), J.rmatvec(np.ones(J.shape[0]))
    assert checksum(args) == before, f"rules.{name} modified an input ({layout} layout)"


def _fresh_gradient_cases():
    X, C = np.eye(2) * 2.0, np.array([[1.0, 2.0], [3.0, 4.0]])

    def vjp_of_inv():
        out, pullback = kronvec.vjp(np.linalg.inv, X)
        return pullback(C)[0], [X, C, out]

    def logdet_and_inverse():
        _, G = kronvec.value_and_grad(lambda Y: np.linalg.slogdet(Y)[1] + np.trace(np.linalg.inv(Y) @ C))(X)
        return G, [X, C]

    # Reverse mode passes views along (Cᵀ, X⁻ᵀ of the shared inverse): the
    # gradient that comes out must still be a fresh array of its own.
    return {
        "grad trace": lambda: (kronvec.grad(np.trace)(X), [X, C]),
        "vjp identity": lambda: (kronvec.vjp(lambda Y: Y + 0.0, X)[1](C)[0], [X, C]),
        "grad tr(XC) = Cᵀ": lambda: (kronvec.grad(lambda Y: np.trace(Y @ C))(X), [X, C]),
        "grad tr(CX) = Cᵀ": lambda: (kronvec.grad(lambda Y: np.trace(C @ Y))(X), [X, C]),
        "grad ln|X| = X⁻ᵀ": lambda: (kronvec.grad(lambda Y: np.linalg.slogdet(Y)[1])(X), [X, C]),
        "vjp inv": vjp_of_inv,
        "value_and_grad ln|X| + tr(X⁻¹C)": logdet_and_inverse,
    }


@pytest.mark.parametrize("entry", sorted(_fresh_gradient_cases()))
def test_returned_gradients_are_fresh_writeable_arrays(entry):
    G, others = _fresh_gradient_cases()[entry]()
    assert G.flags.writeable and G.flags.owndata
    assert not any(np.shares_memory(G, other) for other in others)


# ============================================================================
# 6. memory: refuse before allocating
# ============================================================================

N_HUGE = 400  # dense Jacobian of inv: (400²)² · 8 B = 204,800,000,000 B ≈ 205 GB


@contextlib.contextmanager
def address_space_guard(extra_bytes=2 * 2**30):
    """Lower the soft RLIMIT_AS to the current address space + `extra_bytes` for the block.

    A safety net for the shared machine: if a materializer regresses and really tries to
    allocate a 205 GB intermediate, the allocation fails (MemoryError from NumPy, whose
    message lacks kronvec's byte count, so the assertions below still fail) instead of
    swapping or waking the OOM killer.  The soft limit is restored afterwards.
    """
    try:
        with open("/proc/self/status") as status:
            vm_size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration):
        pytest.skip("no /proc/self/status: cannot guard the address space")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = vm_size + extra_bytes
    if hard != resource.RLIM_INFINITY and limit > hard:
        limit = hard
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module")
def huge_point():
    rng = np.random.default_rng(400)
    return rng.standard_normal((N_HUGE, N_HUGE)) + 2.0 * np.sqrt(N_HUGE) * np.eye(N_HUGE)


@pytest.mark.parametrize("build", ["jacobian(inv)", "rules.inv", "hessian(logdet)"])
@pytest.mark.parametrize("method", ["toarray", "tosparse"])
def test_huge_materialization_is_refused_in_milliseconds_before_allocating(huge_point, build, method):
    J = {
        "jacobian(inv)": lambda: kronvec.jacobian(np.linalg.inv)(huge_point),
        "rules.inv": lambda: rules.inv(huge_point),
        "hessian(logdet)": lambda: kronvec.hessian(lambda Y: np.linalg.slogdet(Y)[1])(huge_point),
    }[build]()
    assert J.shape == (N_HUGE**2, N_HUGE**2)
    assert J.dense_nbytes == 204_800_000_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with address_space_guard(), pytest.raises(MemoryError) as info:
            getattr(J, method)()
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # A guard against allocation (which would take minutes or an OOM kill), not a benchmark.
    assert elapsed < 2.0, f"{method} took {elapsed:.2f} s to refuse"
    assert peak < 16 * 2**20, f"{method} allocated {peak} bytes before refusing"
    message = str(info.value)
    if method == "toarray":
        assert "204,800,000,000 bytes" in message
        assert "tosparse" in message
    else:
        assert "409,601,280,008 bytes" in message  # 160000² × (8 value + 8 index) + 8·(160000 + 1)
    assert "matvec" in message
    assert f"{config.dense_limit_bytes:,}" in message or f"{config.sparse_limit_bytes:,}" in message
    # the structured alternative works: one matvec of the 205 GB matrix
    v = np.random.default_rng(1).standard_normal(N_HUGE**2)
    assert np.all(np.isfinite(J.matvec(v)))


def test_limits_are_configurable_and_restored():
    J = rules.inv(np.eye(8) * 2.0)  # 64×64 float64 = 32768 bytes dense
    with config.override(dense_limit_bytes=32767, sparse_limit_bytes=100):
        with pytest.raises(MemoryError, match="32,768 bytes"):
            J.toarray()
        with pytest.raises(MemoryError, match="sparse_limit_bytes"):
            J.tosparse()
    # the limit bounds the peak (result + workspace) and is inclusive
    with config.override(dense_limit_bytes=J.dense_peak_nbytes):
        assert J.toarray().shape == (64, 64)
    assert J.toarray().shape == (64, 64) and J.tosparse().shape == (64, 64)
    with pytest.raises(TypeError, match="unknown kronvec.config setting"):
        with config.override(dense_limit=1):
            pass


@pytest.mark.parametrize("method", ["toarray", "tosparse"])
def test_small_result_of_a_huge_product_materializes(huge_point, method):
    J = kronvec.jacobian(lambda X: np.linalg.inv(X)[:2, :2])(huge_point)
    assert J.shape == (4, N_HUGE**2) and J.dense_nbytes == 5_120_000
    tracemalloc.start()
    try:
        with address_space_guard():
            M = getattr(J, method)()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{method} of a 5 MB result allocated {peak:,} bytes"
    M = M.toarray() if method == "tosparse" else M
    Xi = np.linalg.inv(huge_point)
    # row for output entry (i, j): ∂(X⁻¹)ᵢⱼ/∂X_kl = -(X⁻¹)ᵢₖ(X⁻¹)ₗⱼ, vec order (0,0), (1,0), (0,1), (1,1)
    for row, (i, j) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
        assert_close_to(M[row], vec(-np.outer(Xi[i, :], Xi[:, j])), 1e-12, f"row {row}")


def test_solve_of_a_float32_matrix_and_a_float64_right_hand_side_is_float64_as_in_numpy():
    # NumPy solves in the common type; solving in float32 would return float32-accurate numbers
    A32 = np.array([[2.0, 1.0, 0.5], [1.0, 3.0, 0.25], [0.5, 0.25, 4.0]], dtype=np.float32)
    for b in (np.array([1.0, 2.0, 3.0]), np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0], dtype=np.float32)):
        f = lambda A: np.linalg.solve(A, b)  # noqa: E731
        value = kronvec.vjp(f, A32)[0]
        assert value.dtype == f(A32).dtype
        # (float64: to its precision, which a float32 solve would miss by ~1e-7; kronvec's
        # factorization is not LAPACK's gesv, so the last bits may differ)
        eps = np.finfo(value.dtype).eps
        np.testing.assert_allclose(value, f(A32), rtol=0, atol=16 * eps * np.max(np.abs(value)))
        g = kronvec.grad(lambda A: np.sum(f(A)))(A32)
        x = np.linalg.solve(A32.astype(np.float64), np.ones(3))
        assert g.dtype == np.float32  # (shaped and typed like the argument)
        np.testing.assert_allclose(g, -np.outer(x, f(A32)), rtol=1e-5)  # ∇ Σ A⁻¹b = −A⁻ᵀ1 (A⁻¹b)ᵀ
