"""Random compositions of the supported operations against finite differences.

hypothesis builds expression trees of depth ≤ 6 over one square input X
(n ≤ 5) from the unary and binary operations kronvec supports, evaluates them
with plain NumPy (for the finite differences) and through kronvec (grad,
jacobian, jvp, vjp, hvp), and compares.  The hypothesis profile comes from
``tests/conftest.py`` (``ci``: derandomized, 30 examples).

Keeping the domain safe
-----------------------
Every operation is scaled so that entries bounded by 2 stay bounded by 2
(|x| ≤ 2 ⇒ |x·y|/2 ≤ 2, |(A@B)/(2n)| ≤ 2, |x³|/4 ≤ 2, ...), so values and
derivatives stay O(1) at any depth.  log and sqrt are only applied to
subexpressions that are positive by construction (1 + e², exp(e)); inv, solve,
det and slogdet only to M = 2I + e/(2n), which is strictly diagonally dominant
(row sums of |e/(2n)| ≤ 1 < 2) and so invertible with cond(M) ≤ 3.  Nothing
non-differentiable (abs, comparisons) is used, since a finite difference
straddling a kink is not a derivative.

Tolerances: central differences with h = 1e-6 err by O(h²·|f'''|) +
O(eps·|f|/h) ≈ 1e-12·|f'''| + 2e-10·|f|; with the O(1) values above and
|f'''| ≲ 10³ for the deepest trees, 1e-5 relative to the largest entry is a
wide margin that still catches any wrong rule (an O(1) relative error).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kronvec
from kronvec import StructuredOperator
from kronvec._vec import unvec, vec

from _helpers import central_difference_jacobian, dense_of

RTOL = 1e-5
MAX_DEPTH = 6


def assert_close(actual, expected, rtol=RTOL, what=""):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


# ------------------------------------------------------------- operations
# Each takes and returns n×n arrays (plain or traced) and keeps |entries| ≤ 2.
def _well_conditioned(e):
    n = e.shape[0]
    return 2.0 * np.eye(n) + e / (2.0 * n)


UNARY = {
    "neg": lambda e, C: -e,
    "T": lambda e, C: e.T,
    "np.transpose": lambda e, C: np.transpose(e),
    "tanh": lambda e, C: np.tanh(e),
    "sin": lambda e, C: np.sin(e),
    "cos": lambda e, C: np.cos(e),
    "square/2": lambda e, C: np.square(e) / 2,
    "e**3/4": lambda e, C: e ** 3 / 4,
    "exp/4": lambda e, C: np.exp(e) / 4,
    "log(1+e²)": lambda e, C: np.log(1.0 + e * e),
    "log(exp)": lambda e, C: np.log(np.exp(e)),
    "sqrt(1+e²)": lambda e, C: np.sqrt(1.0 + e * e),
    "(1+e²)**-1": lambda e, C: (1.0 + e ** 2) ** -1,
    "e/(1+e²)": lambda e, C: e / (1.0 + e * e),
    "0.5*e": lambda e, C: 0.5 * e,
    "e*0.5": lambda e, C: e * 0.5,
    "e/2": lambda e, C: e / 2,
    "C@e/2n": lambda e, C: C @ e / (2 * e.shape[0]),
    "e@C/2n": lambda e, C: e @ C / (2 * e.shape[0]),
    "C*e/2": lambda e, C: C * e / 2,
    "(e-C)/2": lambda e, C: (e - C) / 2,
    "(C-e)/2": lambda e, C: (C - e) / 2,
    "(e+1)/2": lambda e, C: (e + 1) / 2,
    "inv(2I+e/2n)": lambda e, C: np.linalg.inv(_well_conditioned(e)),
    "solve(2I+e/2n, C)": lambda e, C: np.linalg.solve(_well_conditioned(e), C) / 2,
    "solve(2I+e/2n, C[:,0])": lambda e, C: np.outer(np.linalg.solve(_well_conditioned(e), C[:, 0]), C[0]) / 4,
    "det·e": lambda e, C: np.linalg.det(_well_conditioned(e)) / 3.0 ** e.shape[0] * C,
    "slogdet·C": lambda e, C: np.linalg.slogdet(_well_conditioned(e))[1] / e.shape[0] * C,
    "tr(e)/n·C": lambda e, C: np.trace(e) / e.shape[0] * C / 2,
    "e+sum(e,0)/n": lambda e, C: (e + np.sum(e, axis=0, keepdims=True) / e.shape[0]) / 2,
    "e+sum(e,1)/n": lambda e, C: (e + np.sum(e, axis=1, keepdims=True) / e.shape[0]) / 2,
    "e+sum(e,1)[:,None]": lambda e, C: (e + np.sum(e, axis=1)[:, None] / e.shape[0]) / 2,
    "mean(e)·C": lambda e, C: np.mean(e) * C / 2,
    "diag(diag(e))": lambda e, C: np.diag(np.diag(e)),
    "outer(e[:,0], e[0])/2": lambda e, C: np.outer(e[:, 0], e[0]) / 2,
    "e[::-1]": lambda e, C: e[::-1],
    "e[:, perm]": lambda e, C: e[:, np.roll(np.arange(e.shape[0]), 1)],
    "reshape F (= transpose)": lambda e, C: np.reshape(np.reshape(e, (-1,)), e.shape, order="F"),
    "e.ravel().reshape": lambda e, C: e.ravel()[::-1].reshape(e.shape),
    "e[0,0]*e/2": lambda e, C: e[0, 0] * e / 2,
    "e + row broadcast": lambda e, C: (e + C[0]) / 2,
    "kron(e, C)[::n, ::n]/2": lambda e, C: np.kron(e, C)[:: e.shape[0], :: e.shape[0]] / 2,
    "np.dot(C, e)/2n": lambda e, C: np.dot(C, e) / (2 * e.shape[0]),
}

BINARY = {
    "(a+b)/2": lambda a, b: (a + b) / 2,
    "(a-b)/2": lambda a, b: (a - b) / 2,
    "a*b/2": lambda a, b: a * b / 2,
    "a@b/2n": lambda a, b: a @ b / (2 * a.shape[0]),
    "np.matmul/2n": lambda a, b: np.matmul(a, b.T) / (2 * a.shape[0]),
    "a/(1+b²)": lambda a, b: a / (1.0 + b * b),
    "solve(2I+a/2n, b)/2": lambda a, b: np.linalg.solve(_well_conditioned(a), b) / 2,
    "kron(a, b)[::n,::n] ∘": lambda a, b: np.kron(a, b)[:: a.shape[0], :: a.shape[0]] / 2,
    "a·tr(b)/2n": lambda a, b: a * np.trace(b) / (2 * a.shape[0]),
    "np.add/np.multiply": lambda a, b: np.multiply(np.add(a, b), 0.25),
}

REDUCTIONS = {
    "sum": lambda e, W: np.sum(e),
    "trace": lambda e, W: np.trace(e),
    "⟨W, e⟩": lambda e, W: np.sum(e * W),
    "sum(axis=0)·w": lambda e, W: np.sum(e, axis=0) @ W[0],
    "slogdet": lambda e, W: np.linalg.slogdet(_well_conditioned(e))[1],
}


@st.composite
def expressions(draw, depth, root=False):
    """A tree: ('X',) | ('C', k) | (unary, k, child) | (binary, left, right).

    The root is always an operation; below it a branch stops with probability 1/4.
    """
    if depth == 0 or (not root and draw(st.integers(0, 3)) == 0):
        return ("X",) if draw(st.integers(0, 4)) else ("C", draw(st.integers(0, 2)))
    if draw(st.booleans()):
        return (draw(st.sampled_from(sorted(UNARY))), draw(st.integers(0, 2)), draw(expressions(depth - 1)))
    return (draw(st.sampled_from(sorted(BINARY))), draw(expressions(depth - 1)), draw(expressions(depth - 1)))


def evaluate(tree, X, constants):
    """The expression on X (plain or traced); constants are plain arrays."""
    kind = tree[0]
    if kind == "X":
        return X
    if kind == "C":
        return constants[tree[1]]
    if kind in UNARY:
        return UNARY[kind](evaluate(tree[2], X, constants), constants[tree[1]])
    return BINARY[kind](evaluate(tree[1], X, constants), evaluate(tree[2], X, constants))


def depth_of(tree):
    if tree[0] in ("X", "C"):
        return 0
    children = tree[2:] if tree[0] in UNARY else tree[1:]
    return 1 + max(depth_of(c) for c in children)


@st.composite
def problems(draw):
    """(tree, X, constants, W): X = 0.8·I + small noise, constants with |entries| ≤ 1."""
    n = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = 0.8 * np.eye(n) + 0.3 * rng.uniform(-1, 1, (n, n))
    constants = [rng.uniform(-1, 1, (n, n)) for _ in range(3)]
    W = rng.standard_normal((n, n))
    tree = draw(expressions(MAX_DEPTH, root=True))
    assert depth_of(tree) <= MAX_DEPTH
    return tree, X, constants, W


# Drawing a depth-6 tree takes many choices; the examples are small nevertheless.
hypothesis_settings = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@hypothesis_settings
@given(problems(), st.sampled_from(sorted(REDUCTIONS)))
def test_grad_of_random_composition_matches_finite_differences(problem, reduction):
    tree, X, constants, W = problem

    def f(X):
        return REDUCTIONS[reduction](evaluate(tree, X, constants), W)

    value, G = kronvec.value_and_grad(f)(X)
    assert G.shape == X.shape and np.all(np.isfinite(G))
    assert float(value) == pytest.approx(float(np.asarray(f(X))), rel=1e-12, abs=1e-12)
    assert_close(G, unvec(central_difference_jacobian(f, (X,))[0], X.shape), what=repr(tree))


@hypothesis_settings
@given(problems())
def test_jacobian_of_random_composition_matches_finite_differences(problem):
    tree, X, constants, _ = problem

    def F(X):
        return evaluate(tree, X, constants)

    out = np.asarray(F(X), dtype=float)
    J = kronvec.jacobian(F)(X)
    assert isinstance(J, StructuredOperator) and J.shape == (out.size, X.size)
    dense = J.toarray()
    assert_close(dense, dense_of(J), rtol=1e-12, what="toarray vs matmat(I)")
    assert_close(dense, central_difference_jacobian(F, (X,)), what=repr(tree))


@hypothesis_settings
@given(problems(), st.integers(0, 2**32 - 1))
def test_jvp_and_vjp_of_random_composition(problem, seed):
    tree, X, constants, _ = problem
    rng = np.random.default_rng(seed)

    def F(X):
        return evaluate(tree, X, constants)

    out = np.asarray(F(X), dtype=float)
    V = rng.standard_normal(X.shape)
    U = rng.standard_normal(out.shape)
    value, tangent = kronvec.jvp(F, (X,), (V,))
    assert_close(value, out, rtol=1e-13)
    J = central_difference_jacobian(F, (X,))
    assert_close(tangent, unvec(J @ vec(V), out.shape), what=repr(tree))
    _, pullback = kronvec.vjp(F, X)
    (cotangent,) = pullback(U)
    assert_close(cotangent, unvec(J.T @ vec(U), X.shape), what=repr(tree))
    # ⟨vjp(u), v⟩ = ⟨u, jvp(v)⟩ — exact up to rounding
    lhs, rhs = float(np.sum(cotangent * V)), float(np.sum(U * tangent))
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs) + abs(rhs))


@hypothesis_settings
@given(problems(), st.sampled_from(sorted(REDUCTIONS)), st.integers(0, 2**32 - 1))
def test_hvp_of_random_composition_is_the_derivative_of_the_gradient(problem, reduction, seed):
    """hvp(f)(X, V) = d/dt ∇f(X + tV) at 0, by central differences of the gradient.

    The gradient is checked against finite differences of f in the test above;
    here h = 1e-5 on an O(1) direction, error O(h²) + O(eps/h) ≈ 1e-10.
    """
    tree, X, constants, W = problem
    V = np.random.default_rng(seed).standard_normal(X.shape)

    def f(X):
        return REDUCTIONS[reduction](evaluate(tree, X, constants), W)

    gradient = kronvec.grad(f)
    h = 1e-5
    expected = (gradient(X + h * V) - gradient(X - h * V)) / (2 * h)
    HV = kronvec.hvp(f)(X, V)
    assert_close(HV, expected, what=repr(tree))
