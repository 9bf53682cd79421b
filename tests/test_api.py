"""The public API (issue 3): jacobian, grad, value_and_grad, jvp, vjp, hessian, hvp.

Every supported NumPy function and operator is run through every entry point
and compared with central finite differences computed from plain NumPy
evaluations of the same function (``tests/_helpers.py`` and the second-order
stencil below) — never with another kronvec result.  Structured Jacobians are
compared with their dense form two ways: ``toarray()`` and ``op.matmat(I)``
(``dense_of``), which go through different code.

Conventions (``notes/conventions.md``): vec is column-major, Jacobians are
numerator layout ∂vec F/∂(vec X)ᵀ, gradients are shaped like the argument.

Tolerances
----------
First derivatives: central differences with h = 1e-6·max(1, |x|) have error
O(h²·|f'''|) (truncation, ~1e-12 here) + O(eps·|f|/h) (rounding, ~2e-10·|f|).
Every input below is O(1) and well conditioned (cond ≲ 10, |f| ≲ 100), so the
difference is ≲ 1e-8 in absolute terms; we allow ``rtol = atol·… = 1e-6``
(relative to the largest entry), 100× that, and still far below the O(1)
error of a missing transpose or swapped Kronecker factor.

Second derivatives: the four-point stencil with h = 1e-4 has error
O(h²·|f''''|) (~1e-8) + O(eps·|f|/h²) (~2e-8·|f|); we allow 1e-5 relative.
"""

from __future__ import annotations

import dataclasses
import gc
import warnings

import numpy as np
import pytest

import kronvec
from kronvec import (
    Commutation,
    Identity,
    Kron,
    Product,
    RowVector,
    Scaled,
    StructuredOperator,
    Sum,
    Zero,
)
from kronvec._vec import unvec, vec

from _helpers import (
    assert_unchanged,
    central_difference_jacobian,
    checksum,
    cofactor_matrix,
    commutation_dense,
    dense_of,
    dot_test,
)

# ---------------------------------------------------------------- tolerances
FD_RTOL = 1e-6          # first derivatives vs central differences (see module docstring)
HESSIAN_RTOL = 1e-5     # second derivatives vs the four-point stencil
HESSIAN_STEP = 1e-4
EXACT_RTOL = 1e-12      # two exact computations of the same numbers (a few ulps apart)


def assert_fd_close(actual, expected, rtol=FD_RTOL, what=""):
    """|actual - expected| ≤ rtol·(|expected| + max|expected|, at least 1)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def fd_gradient(f, args, argnum=0):
    """∇f shaped like args[argnum]: unvec of the transposed 1×N central-difference row."""
    row = central_difference_jacobian(f, args, argnum)
    assert row.shape[0] == 1
    return unvec(row[0], np.shape(args[argnum]))


def fd_hessian(f, args, argnum=0, step=HESSIAN_STEP):
    """Hessian ∂²f/∂vec(X)∂vec(X)ᵀ of a scalar f from plain evaluations only.

    H[i, j] ≈ (f(x+hᵢeᵢ+hⱼeⱼ) − f(x+hᵢeᵢ−hⱼeⱼ) − f(x−hᵢeᵢ+hⱼeⱼ) + f(x−hᵢeᵢ−hⱼeⱼ)) / (4hᵢhⱼ),
    entries indexed by column-major vec(X).
    """
    args = list(args)
    X = np.array(args[argnum], dtype=np.float64)
    x = vec(X).copy()
    n = x.size
    h = step * np.maximum(1.0, np.abs(x))

    def value(z):
        trial = list(args)
        trial[argnum] = unvec(z, X.shape)
        return float(np.asarray(f(*trial), dtype=np.float64).reshape(()))

    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            total = 0.0
            for si, sj, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                z = x.copy()
                z[i] += si * h[i]
                z[j] += sj * h[j]
                total += sign * value(z)
            H[i, j] = H[j, i] = total / (4.0 * h[i] * h[j])
    return H


def assert_structured_dense(op, expected=None, rtol=FD_RTOL):
    """``toarray()`` equals ``op.matmat(I)``; both equal `expected` if given."""
    assert isinstance(op, StructuredOperator), type(op)
    dense = op.toarray()
    np.testing.assert_allclose(dense, dense_of(op), rtol=EXACT_RTOL, atol=EXACT_RTOL * max(1.0, np.abs(dense).max(initial=0)))
    if expected is not None:
        assert_fd_close(dense, expected, rtol=rtol)
    return dense


# --------------------------------------------------------------------- inputs
_rng = np.random.default_rng(3)
X3 = 2.0 * np.eye(3) + 0.3 * _rng.standard_normal((3, 3))        # cond ≈ 2, non-symmetric
R23 = _rng.uniform(0.5, 1.5, (2, 3)) * np.array([[1, -1, 1], [-1, 1, 1]])  # rectangular, no zeros
P23 = _rng.uniform(0.5, 1.5, (2, 3))                               # positive entries
P33 = _rng.uniform(0.5, 1.5, (3, 3))
A33 = _rng.standard_normal((3, 3))
A23 = _rng.standard_normal((2, 3))
B34 = _rng.standard_normal((3, 4))
C23 = _rng.standard_normal((2, 3))
Q23 = _rng.uniform(0.5, 1.5, (2, 3))                               # positive constant
Y22 = np.array([[1.0, 0.4], [-0.3, 1.2]])
XNEG = np.array([[0.5, 2.0, 0.1], [1.5, 0.3, 0.2], [0.1, 0.2, 1.8]])  # det < 0
X11 = np.array([[2.5]])
x3 = _rng.standard_normal(3)
y2 = _rng.standard_normal(2)
c31 = _rng.standard_normal((3, 1))
b3 = _rng.standard_normal(3)
B32 = _rng.standard_normal((3, 2))
row13 = _rng.standard_normal((1, 3))
row3 = _rng.standard_normal(3)
col21 = _rng.standard_normal((2, 1))
s0 = np.array(1.7)
s11 = np.array([[0.8]])

assert np.linalg.det(XNEG) < 0 and np.linalg.cond(X3) < 5


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    f: object
    args: tuple
    argnum: int = 0

    def __repr__(self):
        return self.name


def C(name, f, *args, argnum=0):
    return pytest.param(Case(name, f, args, argnum), id=name)


CASES = [
    # --- matmul and friends, constants on either side, rectangular shapes
    C("R @ B", lambda R: R @ B34, R23),
    C("A @ X", lambda X: A23 @ X, X3),
    C("A @ X @ B", lambda X: A23 @ X @ B34, X3),
    C("X @ X", lambda X: X @ X, X3),
    C("X @ A", lambda X: X @ A33, X3),
    C("np.matmul(X, A)", lambda X: np.matmul(X, A33), X3),
    C("np.matmul(A, R.T)", lambda R: np.matmul(A33, R.T), R23),
    C("np.dot(A, X)", lambda X: np.dot(A23, X), X3),
    C("np.dot(X, x) wrt X", lambda X, x: np.dot(X, x), X3, x3),
    C("np.dot(X, x) wrt x", lambda X, x: np.dot(X, x), X3, x3, argnum=1),
    C("np.dot(x, x)", lambda x: np.dot(x, x), x3),
    C("x @ A @ x (1-D)", lambda x: x @ A33 @ x, x3),
    C("c.T @ A @ c ((n,1))", lambda c: c.T @ A33 @ c, c31),
    C("R @ x (1-D right)", lambda R: R @ x3, R23),
    C("y @ R (1-D left)", lambda R: y2 @ R, R23),
    C("R @ X wrt both", lambda R, X: R @ X, R23, X3, argnum=1),
    # --- elementwise arithmetic with constants and Python scalars on either side
    C("2 * R", lambda R: 2 * R, R23),
    C("R * 2", lambda R: R * 2, R23),
    C("np.float64(2) * R", lambda R: np.float64(2.0) * R, R23),
    C("R * C", lambda R: R * C23, R23),
    C("C * R", lambda R: C23 * R, R23),
    C("R * R", lambda R: R * R, R23),
    C("R * R.T.T", lambda R: R * R.T.T, R23),
    C("1 / P", lambda P: 1 / P, P23),
    C("P / 2", lambda P: P / 2, P23),
    C("R / Q", lambda R: R / Q23, R23),
    C("C / P", lambda P: C23 / P, P23),
    C("R * P / (P + 1)", lambda P: R23 * P / (P + 1.0), P23),
    C("R ** 3", lambda R: R ** 3, R23),
    C("R ** 2", lambda R: R ** 2, R23),
    C("P ** 0.5", lambda P: P ** 0.5, P23),
    C("P ** -1.5", lambda P: P ** -1.5, P23),
    C("np.power(P, 3)", lambda P: np.power(P, 3), P23),
    C("-R", lambda R: -R, R23),
    C("+R", lambda R: +R, R23),
    C("R + C", lambda R: R + C23, R23),
    C("C + R", lambda R: C23 + R, R23),
    C("R - C", lambda R: R - C23, R23),
    C("C - R", lambda R: C23 - R, R23),
    C("R + 2", lambda R: R + 2, R23),
    C("2 - R", lambda R: 2 - R, R23),
    C("X - X.T", lambda X: X - X.T, X3),
    C("np.add/np.subtract/np.multiply/np.divide",
      lambda R: np.divide(np.multiply(np.add(R, C23), np.subtract(2.0, R)), Q23), R23),
    # --- broadcasting
    C("R + row (1,3) const", lambda R: R + row13, R23),
    C("R + row (3,) const", lambda R: R + row3, R23),
    C("R * col (2,1) const", lambda R: R * col21, R23),
    C("R + traced row (3,)", lambda R, r: R * r + r, R23, row3, argnum=1),
    C("R + traced row (1,3)", lambda R, r: R - r, R23, row13, argnum=1),
    C("R * traced col (2,1)", lambda R, c: R * c, R23, col21, argnum=1),
    C("traced 0-d scalar * R", lambda s, R: s * R, s0, R23),
    C("R / traced 0-d scalar", lambda s, R: R / s, s0, R23),
    C("traced (1,1) * R", lambda s, R: s * R, s11, R23),
    C("traced scalar * R wrt R", lambda s, R: s * R, s0, R23, argnum=1),
    # --- transpose, reshape
    C("R.T", lambda R: R.T, R23),
    C("np.transpose(R)", lambda R: np.transpose(R), R23),
    C("R.T @ R", lambda R: R.T @ R, R23),
    C("np.reshape(R, (3, 2))", lambda R: np.reshape(R, (3, 2)), R23),
    C("np.reshape(R, (6,), order='F')", lambda R: np.reshape(R, (6,), order="F"), R23),
    C("R.reshape(-1)", lambda R: R.reshape(-1), R23),
    C("R.ravel()", lambda R: R.ravel(), R23),
    C("np.ravel(R)", lambda R: np.ravel(R), R23),
    # --- indexing and slicing
    C("R[0, 1]", lambda R: R[0, 1], R23),
    C("R[:, 0]", lambda R: R[:, 0], R23),
    C("R[1:, :2]", lambda R: R[1:, :2], R23),
    C("X[0]", lambda X: X[0], X3),
    C("R[:, ::-1]", lambda R: R[:, ::-1], R23),
    C("R[[0, 1, 1], [2, 0, 2]] (fancy, repeated)", lambda R: R[[0, 1, 1], [2, 0, 2]], R23),
    C("R[[1, 0, 1]] (fancy rows)", lambda R: R[[1, 0, 1]], R23),
    C("R[R > 0] (boolean mask)", lambda R: R[R > 0], R23),
    C("x[1:] (1-D slice)", lambda x: x[1:], x3),
    # --- reductions
    C("np.sum(R)", lambda R: np.sum(R), R23),
    C("np.sum(R, axis=0)", lambda R: np.sum(R, axis=0), R23),
    C("np.sum(R, axis=1)", lambda R: np.sum(R, axis=1), R23),
    C("np.sum(R, axis=0, keepdims=True)", lambda R: np.sum(R, axis=0, keepdims=True), R23),
    C("np.sum(R, axis=1, keepdims=True)", lambda R: np.sum(R, axis=1, keepdims=True), R23),
    C("np.sum(R, keepdims=True)", lambda R: np.sum(R, keepdims=True), R23),
    C("np.sum(R, axis=-1)", lambda R: np.sum(R, axis=-1), R23),
    C("np.sum(R, axis=(0, 1))", lambda R: np.sum(R, axis=(0, 1)), R23),
    C("R.sum(axis=0)", lambda R: R.sum(axis=0), R23),
    C("np.mean(R, axis=1)", lambda R: np.mean(R, axis=1), R23),
    C("np.sum(x) (1-D)", lambda x: np.sum(x * x), x3),
    # --- diag, outer, kron
    C("np.diag(X) (extract)", lambda X: np.diag(X), X3),
    C("np.diag(X, k=1)", lambda X: np.diag(X, k=1), X3),
    C("np.diag(R) (rectangular)", lambda R: np.diag(R), R23),
    C("np.diag(x) (build)", lambda x: np.diag(x), x3),
    C("np.diag(x, k=-1) (build)", lambda x: np.diag(x, k=-1), x3),
    C("np.diag(np.diag(X))", lambda X: np.diag(np.diag(X)), X3),
    C("np.outer(x, y) wrt x", lambda x, y: np.outer(x, y), x3, y2),
    C("np.outer(x, y) wrt y", lambda x, y: np.outer(x, y), x3, y2, argnum=1),
    C("np.outer(x, x)", lambda x: np.outer(x, x), x3),
    C("np.kron(R, A)", lambda R: np.kron(R, A23), R23),
    C("np.kron(A, R)", lambda R: np.kron(A23, R), R23),
    C("np.kron(Y, Y)", lambda Y: np.kron(Y, Y), Y22),
    C("np.kron(R, Y) wrt Y", lambda R, Y: np.kron(R, Y), R23, Y22, argnum=1),
    # --- linear algebra
    C("np.linalg.inv(X)", lambda X: np.linalg.inv(X), X3),
    C("np.linalg.inv 1x1", lambda X: np.linalg.inv(X), X11),
    C("np.linalg.inv(X) @ A", lambda X: np.linalg.inv(X) @ A33, X3),
    C("np.linalg.det(X)", lambda X: np.linalg.det(X), X3),
    C("np.linalg.det(X) (det < 0)", lambda X: np.linalg.det(X), XNEG),
    C("np.linalg.det 1x1", lambda X: np.linalg.det(X), X11),
    C("slogdet(X)[1]", lambda X: np.linalg.slogdet(X)[1], X3),
    C("slogdet(X).logabsdet (det < 0)", lambda X: np.linalg.slogdet(X).logabsdet, XNEG),
    C("sign * exp(logabsdet) = det", lambda X: np.linalg.slogdet(X)[0] * np.exp(np.linalg.slogdet(X)[1]), XNEG),
    C("solve(X, b) 1-D wrt X", lambda X, b: np.linalg.solve(X, b), X3, b3),
    C("solve(X, b) 1-D wrt b", lambda X, b: np.linalg.solve(X, b), X3, b3, argnum=1),
    C("solve(X, B) 2-D wrt X", lambda X, B: np.linalg.solve(X, B), X3, B32),
    C("solve(X, B) 2-D wrt B", lambda X, B: np.linalg.solve(X, B), X3, B32, argnum=1),
    C("solve(X, c) (n,1) wrt X", lambda X, c: np.linalg.solve(X, c), X3, c31),
    C("np.trace(X)", lambda X: np.trace(X), X3),
    C("np.trace(X @ A)", lambda X: np.trace(X @ A33), X3),
    C("np.trace(R.T @ R)", lambda R: np.trace(R.T @ R), R23),
    C("np.linalg.norm(R)", lambda R: np.linalg.norm(R), R23),
    C("np.linalg.norm(x)", lambda x: np.linalg.norm(x), x3),
    # --- elementwise functions
    C("np.exp(R)", lambda R: np.exp(R), R23),
    C("np.log(P)", lambda P: np.log(P), P23),
    C("np.sqrt(P)", lambda P: np.sqrt(P), P23),
    C("np.tanh(R)", lambda R: np.tanh(R), R23),
    C("np.square(R)", lambda R: np.square(R), R23),
    C("np.sin(R)", lambda R: np.sin(R), R23),
    C("np.cos(R)", lambda R: np.cos(R), R23),
    C("np.abs(R)", lambda R: np.abs(R), R23),
    C("np.exp(X @ X) / 10", lambda X: np.exp(X @ X) / 10, X3),
    # --- constants built inside f, static attributes
    C("np.eye/np.ones/np.zeros constants",
      lambda X: X @ np.eye(3) + np.ones((3, 3)) * X - np.zeros((3, 3)) + 2 * np.eye(3), X3),
    C("np.eye(X.shape[0]) and X.ndim", lambda X: np.eye(X.shape[0]) * X * X.ndim, X3),
    C("np.zeros_like / np.ones_like", lambda X: X + np.zeros_like(X) + X * np.ones_like(X), X3),
    C("np.broadcast_to(x, (2, 3))", lambda x: np.broadcast_to(x, (2, 3)), x3),
    # --- compositions
    C("inv(X) @ X @ inv(X)", lambda X: np.linalg.inv(X) @ X @ np.linalg.inv(X), X3),
    C("log|X^T X| (rectangular X)", lambda R: np.linalg.slogdet(R @ R.T)[1], R23),
    C("tr(inv(X) A) + det(X)", lambda X: np.trace(np.linalg.inv(X) @ A33) + np.linalg.det(X), X3),
    C("kron(X, X) @ vec", lambda Y: np.kron(Y, Y) @ np.ones(4), Y22),
    C("tanh(A @ x + b) (MLP layer)", lambda x: np.tanh(A33 @ x + b3), x3),
    # --- more spellings of the same operations
    C("R.transpose()", lambda R: R.transpose(), R23),
    C("R.transpose(1, 0)", lambda R: R.transpose(1, 0), R23),
    C("np.transpose(R, (1, 0))", lambda R: np.transpose(R, (1, 0)), R23),
    C("R.reshape(3, 2)", lambda R: R.reshape(3, 2), R23),
    C("np.reshape(R, -1)", lambda R: np.reshape(R, -1), R23),
    C("R.flatten()", lambda R: R.flatten(), R23),
    C("X.dot(A)", lambda X: X.dot(A33), X3),
    C("X.trace()", lambda X: X.trace() * X, X3),
    C("R.sum()", lambda R: R.sum() * R, R23),
    C("R.mean()", lambda R: R.mean(), R23),
    C("np.mean(R, axis=(0, 1))", lambda R: np.mean(R, axis=(0, 1)), R23),
    C("np.trace(R) (rectangular)", lambda R: np.trace(R) * R, R23),
    C("R[-1, -2] (negative)", lambda R: R[-1, -2], R23),
    C("R[None] (newaxis)", lambda R: R[None] * 2.0, R23),
    C("R[..., 1] (ellipsis)", lambda R: R[..., 1], R23),
    C("R[:, [2, 0]][::-1]", lambda R: R[:, [2, 0]][::-1], R23),
    C("R[0, 1] * R (0-d intermediate)", lambda R: R[0, 1] * R, R23),
    C("R / np.sum(R) (traced scalar divisor)", lambda R: R / np.sum(R * R), R23),
    C("np.dot(s, R) (0-d)", lambda s, R: np.dot(s, R), s0, R23),
    C("x @ y traced both (1-D)", lambda x: x @ (2.0 * x + b3), x3),
    C("x @ X traced both", lambda X: X[0] @ X, X3),
    C("2 ** R (traced exponent)", lambda R: 2.0 ** R, R23),
    C("P ** P (traced base and exponent)", lambda P: P ** P, P23),
    C("P ** X (traced exponent only)", lambda P, R: P ** R, P23, R23, argnum=1),
    C("inv(X + X.T)", lambda X: np.linalg.inv(X + X.T), X3),
    C("solve(X, X @ A + I)", lambda X: np.linalg.solve(X, X @ A33 + np.eye(3)), X3),
    C("solve(A, x) wrt traced b, A const", lambda x: np.linalg.solve(A33 + 3 * np.eye(3), x), x3),
    C("det(X @ X.T)", lambda X: np.linalg.det(X @ X.T), X3),
    C("inv(inv(X))", lambda X: np.linalg.inv(np.linalg.inv(X)), X3),
    C("np.kron(x col, R)", lambda c, R: np.kron(c.T, R), c31, R23),
    C("np.outer(R[0], R[:, 1])", lambda R: np.outer(R[0], R[:, 1]), R23),
    C("np.diag(x) @ X", lambda x: np.diag(x) @ X3, x3),
    C("np.linalg.norm(X, 'fro')", lambda X: np.linalg.norm(X, "fro"), X3),
    C("np.sum(x, axis=0) (1-D)", lambda x: np.sum(x * x, axis=0), x3),
    C("np.sum(x, keepdims=True) (1-D)", lambda x: np.sum(x, keepdims=True) * x, x3),
    C("(c.T @ c) * X ((1,1) times matrix)", lambda c: (c.T @ c) * X3, c31),
    C("X ** 2 ** 0.5 chained powers", lambda P: (P ** 2) ** 0.5 + P ** 1, P23),
    C("exp(log(P))", lambda P: np.exp(np.log(P)), P23),
]


def _call(f, args):
    return np.asarray(f(*args), dtype=float)


def _weights(shape, seed=7):
    """A fixed random weighting used to reduce an output to a scalar ⟨W, f⟩."""
    return np.random.default_rng(seed).standard_normal(shape)


def _scalarized(case):
    W = _weights(np.shape(_call(case.f, case.args)))
    return lambda *a: np.sum(case.f(*a) * W)


def _random_like(x, seed):
    return np.random.default_rng(seed).standard_normal(np.shape(x))


# ====================================================== every op, every entry point
@pytest.mark.parametrize("case", CASES)
def test_jacobian_matches_finite_differences(case):
    out = _call(case.f, case.args)
    arg = case.args[case.argnum]
    J = kronvec.jacobian(case.f, argnums=case.argnum)(*case.args)
    assert isinstance(J, StructuredOperator)
    assert J.shape == (out.size, np.size(arg))
    assert J.dtype == np.float64
    expected = central_difference_jacobian(case.f, case.args, case.argnum)
    assert_structured_dense(J, expected)
    if out.size == 1:
        assert isinstance(J, (RowVector, Zero)), f"scalar output gave {type(J).__name__}"


@pytest.mark.parametrize("case", CASES)
def test_jacobian_dot_test(case):
    """rmatvec is the adjoint of matvec for every Jacobian the API returns."""
    J = kronvec.jacobian(case.f, argnums=case.argnum)(*case.args)
    dot_test(J, np.random.default_rng(1))


@pytest.mark.parametrize("case", CASES)
def test_grad_matches_finite_differences(case):
    g = _scalarized(case)
    arg = case.args[case.argnum]
    G = kronvec.grad(g, argnums=case.argnum)(*case.args)
    assert isinstance(G, np.ndarray) and G.shape == np.shape(arg) and G.dtype == np.float64
    assert_fd_close(G, fd_gradient(g, case.args, case.argnum))
    value, G2 = kronvec.value_and_grad(g, argnums=case.argnum)(*case.args)
    assert float(value) == pytest.approx(float(_call(g, case.args)), rel=1e-13, abs=1e-13)
    np.testing.assert_array_equal(G2, G)


@pytest.mark.parametrize("case", CASES)
def test_jvp_matches_finite_differences(case):
    out = _call(case.f, case.args)
    tangents = [np.zeros(np.shape(a)) for a in case.args]
    V = _random_like(case.args[case.argnum], 11)
    tangents[case.argnum] = V
    value, tangent_out = kronvec.jvp(case.f, case.args, tangents)
    np.testing.assert_allclose(np.asarray(value, dtype=float), out, rtol=1e-14, atol=1e-14)
    assert np.shape(tangent_out) == out.shape
    J = central_difference_jacobian(case.f, case.args, case.argnum)
    assert_fd_close(tangent_out, unvec(J @ vec(V), out.shape) if out.ndim else (J @ vec(V)).reshape(()))


@pytest.mark.parametrize("case", CASES)
def test_vjp_matches_finite_differences(case):
    out = _call(case.f, case.args)
    value, pullback = kronvec.vjp(case.f, *case.args)
    np.testing.assert_allclose(np.asarray(value, dtype=float), out, rtol=1e-14, atol=1e-14)
    U = _random_like(out, 13)
    cotangents = pullback(U)
    assert isinstance(cotangents, tuple) and len(cotangents) == len(case.args)
    for ct, a in zip(cotangents, case.args):
        assert np.shape(ct) == np.shape(a)
    J = central_difference_jacobian(case.f, case.args, case.argnum)
    arg_shape = np.shape(case.args[case.argnum])
    assert_fd_close(cotangents[case.argnum], unvec(J.T @ vec(U), arg_shape) if arg_shape else (J.T @ vec(U)).reshape(()))


@pytest.mark.parametrize("case", CASES)
def test_jvp_vjp_adjoint(case):
    """⟨vjp(u), v⟩ = ⟨u, jvp(v)⟩ with every argument moving at once."""
    out = _call(case.f, case.args)
    V = [_random_like(a, 20 + k) for k, a in enumerate(case.args)]
    U = _random_like(out, 30)
    _, jv = kronvec.jvp(case.f, case.args, V)
    _, pullback = kronvec.vjp(case.f, *case.args)
    vj = pullback(U)
    lhs = sum(float(np.sum(np.asarray(c) * v)) for c, v in zip(vj, V))
    rhs = float(np.sum(U * np.asarray(jv)))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10 * (1 + abs(rhs)))


@pytest.mark.parametrize("case", CASES)
def test_hessian_and_hvp_match_finite_differences(case):
    g = _scalarized(case)
    arg = case.args[case.argnum]
    H = kronvec.hessian(g, argnums=case.argnum)(*case.args)
    n = np.size(arg)
    assert isinstance(H, StructuredOperator) and H.shape == (n, n)
    expected = fd_hessian(g, case.args, case.argnum)
    dense = assert_structured_dense(H, expected, rtol=HESSIAN_RTOL)
    np.testing.assert_allclose(dense, dense.T, atol=1e-10 * max(1.0, np.abs(dense).max()))
    V = _random_like(arg, 5)
    HV = kronvec.hvp(g, argnums=case.argnum)(*case.args, V)
    assert np.shape(HV) == np.shape(arg)
    assert_fd_close(vec(np.asarray(HV)), expected @ vec(V), rtol=HESSIAN_RTOL)


# ============================================================ structured results
def _inv(M):
    return np.linalg.inv(M)


def test_jacobian_of_inv_is_kron_of_inverses():
    X = X3
    J = kronvec.jacobian(np.linalg.inv)(X)
    assert type(J) is Kron
    assert "-(inv(X)ᵀ ⊗ inv(X))" in repr(J)
    Xi = _inv(X)
    assert_structured_dense(J, -np.kron(Xi.T, Xi), rtol=EXACT_RTOL * 100)
    assert_structured_dense(J, central_difference_jacobian(np.linalg.inv, (X,)))


def test_jacobian_of_A_X_B_is_kron_Bt_A():
    A, B = A23, B34

    def f(X):
        return A @ X @ B

    J = kronvec.jacobian(f)(X3)
    assert type(J) is Kron
    assert "Bᵀ ⊗ A" in repr(J)
    assert_structured_dense(J, np.kron(B.T, A), rtol=1e-13)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (3, 1)])
def test_jacobian_of_transpose_is_commutation(shape):
    X = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    J = kronvec.jacobian(lambda X: X.T)(X)
    assert isinstance(J, (Commutation, Identity))  # K_{m,1} = I_m
    m, n = shape
    if m > 1 and n > 1:
        assert type(J) is Commutation
        assert f"K{'₂₃'[m - 2]},{'₂₃'[n - 2]}" in repr(J)
    np.testing.assert_array_equal(J.toarray(), commutation_dense(m, n))
    np.testing.assert_array_equal(dense_of(J), commutation_dense(m, n))


def test_jacobian_of_X_times_X_is_sum_of_two_krons():
    X = X3
    J = kronvec.jacobian(lambda X: X @ X)(X)
    assert type(J) is Sum and len(J.terms) == 2
    assert all(type(t) is Kron for t in J.terms)
    assert "Xᵀ ⊗ I₃" in repr(J) and "I₃ ⊗ X" in repr(J)
    I = np.eye(3)
    assert_structured_dense(J, np.kron(X.T, I) + np.kron(I, X), rtol=1e-13)


def test_hessian_of_log_det_is_kron_times_commutation():
    """H ln|X| = −(X⁻¹ ⊗ X⁻ᵀ) K_{n,n} (notes/derivatives.md §10), kept structured."""
    X = X3
    f = lambda X: np.linalg.slogdet(X)[1]  # noqa: E731
    H = kronvec.hessian(f)(X)
    assert type(H) is Product
    assert [type(op) for op in H.factors] == [Kron, Commutation]
    assert "-(inv(X) ⊗ inv(X)ᵀ)·K₃,₃" in repr(H)
    Xi = _inv(X)
    expected = -np.kron(Xi, Xi.T) @ commutation_dense(3, 3)
    assert_structured_dense(H, expected, rtol=1e-12)
    assert_fd_close(H.toarray(), fd_hessian(f, (X,)), rtol=HESSIAN_RTOL)
    # the documented 2×2 example (notes/derivatives.md §10)
    H2 = kronvec.hessian(f)(np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(H2.toarray(), [[-4, 2, 3, -1.5], [2, -1, -1, 0.5],
                                              [3, -1, -2.25, 0.75], [-1.5, 0.5, 0.75, -0.25]], atol=1e-12)


def test_structured_results_of_simple_operator_forms():
    X = X3
    assert type(kronvec.jacobian(lambda X: 2 * X)(X)) is Scaled
    assert type(kronvec.jacobian(lambda X: X - A33)(X)) is Identity
    minus = kronvec.jacobian(lambda X: A33 - X)(X)
    np.testing.assert_array_equal(minus.toarray(), -np.eye(9))
    J = kronvec.jacobian(lambda X: X @ A33)(X)
    assert type(J) is Kron
    assert_structured_dense(J, np.kron(A33.T, np.eye(3)), rtol=1e-13)
    D = kronvec.jacobian(lambda X: X * X)(X)
    assert type(D).__name__ == "Diag"
    assert_structured_dense(D, np.diag(vec(2 * X)), rtol=1e-13)


@pytest.mark.parametrize(
    "f",
    [lambda X: np.sum(X * X), lambda X: np.sum(X, keepdims=True), lambda X: np.linalg.det(X),
     lambda X: (X @ X)[0:1, 0:1], lambda X: np.trace(X)],
    ids=["0-d", "1x1 keepdims", "det", "1x1 slice", "trace"],
)
def test_scalar_output_gives_row_vector(f):
    J = kronvec.jacobian(f)(X3)
    assert isinstance(J, RowVector) and J.shape == (1, 9)
    assert_structured_dense(J, central_difference_jacobian(f, (X3,)))


def test_constant_output_gives_zero():
    J = kronvec.jacobian(lambda X: np.ones((2, 2)))(X3)
    assert isinstance(J, Zero) and J.shape == (4, 9)
    G = kronvec.grad(lambda X: 3.0)(X3)  # a Python float output
    np.testing.assert_array_equal(G, np.zeros((3, 3)))
    value, G = kronvec.value_and_grad(lambda X: 3.0)(X3)
    assert float(value) == 3.0


# ==================================================================== the API
def test_grad_shapes_follow_the_argument():
    c = c31
    G = kronvec.grad(lambda c: (c.T @ A33 @ c)[0, 0])(c)
    assert G.shape == (3, 1)
    np.testing.assert_allclose(G, (A33 + A33.T) @ c, rtol=1e-13)
    g1 = kronvec.grad(lambda x: x @ A33 @ x)(c[:, 0])
    assert g1.shape == (3,)
    np.testing.assert_allclose(g1, ((A33 + A33.T) @ c)[:, 0], rtol=1e-13)
    # a (1,1) result is a scalar output as well
    G11 = kronvec.grad(lambda c: c.T @ A33 @ c)(c)
    np.testing.assert_allclose(G11, G, rtol=1e-13)


def test_value_and_grad_evaluates_f_once():
    calls = []

    def f(X):
        calls.append(1)
        return np.trace(X @ A33)

    value, G = kronvec.value_and_grad(f)(X3)
    assert len(calls) == 1
    assert float(value) == pytest.approx(np.trace(X3 @ A33), rel=1e-14)
    np.testing.assert_allclose(G, A33.T, rtol=1e-14)


def test_tuple_argnums():
    def f(A, X, B):
        return np.sum(A @ X @ B * np.ones((2, 4)))

    args = (A23, X3, B34)
    GA, GB = kronvec.grad(f, argnums=(0, 2))(*args)
    assert GA.shape == A23.shape and GB.shape == B34.shape
    assert_fd_close(GA, fd_gradient(f, args, 0))
    assert_fd_close(GB, fd_gradient(f, args, 2))
    value, (gX, g0, g2) = kronvec.value_and_grad(f, argnums=(1, 0, 2))(*args)
    assert float(value) == pytest.approx(f(*args), rel=1e-14)
    assert_fd_close(gX, fd_gradient(f, args, 1))
    np.testing.assert_array_equal(g0, GA)
    np.testing.assert_array_equal(g2, GB)
    # jacobian with a tuple gives a tuple of operators
    JA, JX = kronvec.jacobian(lambda A, X: A @ X, argnums=(0, 1))(A23, X3)
    assert type(JA) is Kron and type(JX) is Kron
    assert_structured_dense(JA, central_difference_jacobian(lambda A, X: A @ X, (A23, X3), 0))
    assert_structured_dense(JX, central_difference_jacobian(lambda A, X: A @ X, (A23, X3), 1))
    # negative argnums count from the end
    G_last = kronvec.grad(f, argnums=-1)(*args)
    np.testing.assert_allclose(G_last, GB, rtol=1e-14)
    (single,) = kronvec.grad(f, argnums=(1,))(*args)
    assert single.shape == (3, 3)


def test_jvp_needs_tuples_of_primals_and_tangents():
    # an array in place of the tuple would be taken as its rows, one argument each
    f = lambda X: X * 2.0  # noqa: E731
    with pytest.raises(TypeError, match=r"primals and tangents must be tuples .* jvp\(f, \(X,\), \(V,\)\)"):
        kronvec.jvp(f, X3, X3)
    with pytest.raises(ValueError, match="1 primals but 2 tangents"):
        kronvec.jvp(f, (X3,), (X3, X3))
    np.testing.assert_array_equal(kronvec.jvp(f, [X3], [X3])[1], 2.0 * X3)  # (lists, as JAX takes them)


def test_jvp_and_vjp_with_several_primals():
    def f(X, b):
        return np.linalg.solve(X, b) * 2.0

    args = (X3, b3)
    V = (_random_like(X3, 1), _random_like(b3, 2))
    value, t = kronvec.jvp(f, args, V)
    expected = (central_difference_jacobian(f, args, 0) @ vec(V[0])
                + central_difference_jacobian(f, args, 1) @ vec(V[1]))
    assert_fd_close(t, expected)
    out, pullback = kronvec.vjp(f, *args)
    ctX, ctb = pullback(np.ones(3))
    assert ctX.shape == (3, 3) and ctb.shape == (3,)
    with pytest.raises(ValueError, match="cotangent"):
        pullback(np.ones(4))
    with pytest.raises(ValueError):
        kronvec.jvp(f, args, (V[0],))
    with pytest.raises(ValueError):
        kronvec.jvp(f, args, (V[0], np.ones(4)))


def test_int_inputs_are_promoted_to_float64():
    Xi = np.array([[2, 1], [1, 3]])
    assert Xi.dtype.kind == "i"
    f = lambda X: np.sum(np.linalg.inv(X) * X)  # noqa: E731
    G = kronvec.grad(f)(Xi)
    assert G.dtype == np.float64
    assert_fd_close(G, fd_gradient(f, (Xi.astype(float),)))
    J = kronvec.jacobian(np.linalg.inv)(Xi)
    assert J.dtype == np.float64
    _, t = kronvec.jvp(lambda X: X * X, (Xi,), (np.ones((2, 2), dtype=int),))
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t, 2 * Xi)
    H = kronvec.hessian(lambda X: np.sum(X ** 3))(Xi)
    np.testing.assert_allclose(H.toarray(), np.diag(vec(6.0 * Xi)), rtol=1e-14)
    # bool is an integer kind too
    Gb = kronvec.grad(lambda X: np.sum(X * 2.0))(np.array([True, False]))
    assert Gb.dtype == np.float64


F32_TOL = 1e-4  # float32 eps ≈ 1.2e-7, times the O(10–100) conditioning of these small problems


def test_float32_results_are_finite_and_accurate_to_float32():
    X32 = X3.astype(np.float32)
    f = lambda X: np.sum(np.linalg.inv(X) @ A33.astype(np.float32)) + np.linalg.slogdet(X)[1]  # noqa: E731
    G = kronvec.grad(f)(X32)
    assert G.dtype.kind == "f" and np.all(np.isfinite(G))
    assert_fd_close(G, fd_gradient(f, (X3,)), rtol=F32_TOL)
    J = kronvec.jacobian(np.linalg.inv)(X32)
    assert J.dtype in (np.float32, np.float64)
    assert_fd_close(J.toarray(), central_difference_jacobian(np.linalg.inv, (X3,)), rtol=F32_TOL)
    _, t = kronvec.jvp(np.linalg.inv, (X32,), (np.ones((3, 3), np.float32),))
    assert np.all(np.isfinite(t))
    assert_fd_close(t, unvec(central_difference_jacobian(np.linalg.inv, (X3,)) @ np.ones(9), (3, 3)), rtol=F32_TOL)
    H = kronvec.hessian(lambda X: np.linalg.slogdet(X)[1])(X32)
    Xi = np.linalg.inv(X3)
    assert_fd_close(H.toarray(), -np.kron(Xi, Xi.T) @ commutation_dense(3, 3), rtol=F32_TOL)


def test_float32_dtype_is_consistent_across_entry_points():
    X32 = X3.astype(np.float32)
    U32 = np.ones((3, 3), np.float32)
    dtypes = {
        "jacobian(inv)": kronvec.jacobian(np.linalg.inv)(X32).dtype,
        "jvp(inv)": np.asarray(kronvec.jvp(np.linalg.inv, (X32,), (U32,))[1]).dtype,
        "vjp(inv)": kronvec.vjp(np.linalg.inv, X32)[1](U32)[0].dtype,
        "jvp(2*X)": np.asarray(kronvec.jvp(lambda X: 2 * X, (X32,), (U32,))[1]).dtype,
        "grad(sum inv)": kronvec.grad(lambda X: np.sum(np.linalg.inv(X)))(X32).dtype,
    }
    assert len(set(dtypes.values())) == 1, dtypes


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.sin(x)),
    lambda x: np.sum(x ** 3) * 2.0,
    lambda x: np.sum(np.power(x, 2.5)),
    lambda x: np.mean(np.exp(x)),
    lambda x: np.linalg.slogdet(np.outer(x, x) + np.eye(2, dtype=np.float32))[1],
], ids=["sin", "cube", "power 2.5", "mean exp", "slogdet"])
def test_second_derivatives_of_float32_input_are_float32(f):
    # the precision policy (conventions §4) at second order too: the gradient traced again
    # by hessian/hvp is seeded and returned in float32, and x**p's derivative p·x**(p−1)
    # keeps a Python p weak (np.int64(p − 1) would have promoted it to float64)
    x = np.array([0.5, 1.0], dtype=np.float32)
    v = np.ones(2, np.float32)
    H = kronvec.hessian(f)(x)
    assert H.dtype == np.float32 and H.toarray().dtype == np.float32
    for result in (kronvec.grad(f)(x), kronvec.hvp(f)(x, v), kronvec.hvp(f, compile=True)(x, v)):
        assert result.dtype == np.float32
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(H.toarray(), kronvec.hessian(f)(x64).toarray(), rtol=F32_TOL, atol=F32_TOL)
    np.testing.assert_allclose(kronvec.hvp(f)(x, v), kronvec.hvp(f)(x64, v.astype(np.float64)), rtol=F32_TOL)


@pytest.mark.parametrize("f", [
    lambda X: X.T, lambda X: (X + X.T) / 2, lambda X: X.ravel(), lambda X: X[0], lambda X: np.triu(X),
    lambda X: np.concatenate([X, X]), lambda X: np.einsum("ij->ji", X), lambda X: np.flip(X),
    lambda X: np.diag(X), lambda X: -X.copy(), lambda X: np.kron(X, X), lambda X: np.sin(X) * X.T,
    lambda X: X @ X,
], ids=["T", "symmetric part", "ravel", "row", "triu", "concatenate", "einsum transpose", "flip", "diag",
        "negated copy", "kron", "product rule", "square"])
def test_jacobians_of_float32_input_are_float32(f):
    # The 0/1 operators (I, K, selections) default to float64; in a Jacobian of float32
    # values they are declared float32 (kronvec/operators/_precision.py), so the
    # Jacobian and every materialization of it keep the argument's precision (§4).
    X = np.array([[1.0, 2.0], [3.0, 4.5]], dtype=np.float32)
    J = kronvec.jacobian(f)(X)
    assert J.dtype == np.float32, J
    dense = J.toarray()
    assert dense.dtype == J.tosparse().dtype == J.T.toarray().dtype == np.float32
    np.testing.assert_allclose(dense, kronvec.jacobian(f)(X.astype(np.float64)).toarray(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(J.T.toarray(), dense.T)


@pytest.mark.parametrize("p", [1, 3, 1.0, np.float64(3.0), np.array(3.0)], ids=["1", "3", "1.0", "np.float64(3)", "0-d array 3"])
def test_constant_powers_at_zero_entries(p):
    """d(x^p)/dx = p·x^(p−1) is finite at x = 0 for p ≥ 1."""
    x = np.array([0.0, 1.5, -2.0])
    G = kronvec.grad(lambda x: np.sum(x ** p))(x)
    np.testing.assert_allclose(G, float(p) * x ** (float(p) - 1), rtol=1e-14)
    assert_fd_close(G, fd_gradient(lambda x: np.sum(x ** p), (x,)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_power_zero_has_zero_derivative_at_zero_entries():
    x = np.array([0.0, 1.5])
    G = kronvec.grad(lambda x: np.sum(x ** 0 + x))(x)
    np.testing.assert_array_equal(G, [1.0, 1.0])
    J = kronvec.jacobian(lambda x: x ** 0)(x)
    np.testing.assert_array_equal(J.toarray(), np.zeros((2, 2)))


def test_check_finite_can_be_switched_off():
    X = X3.copy()
    X[0, 0] = np.nan
    with kronvec.config.override(check_finite=False):
        G = kronvec.grad(lambda X: np.sum(X * X))(X)
    assert np.isnan(G[0, 0]) and np.all(np.isfinite(G.ravel()[1:]))
    with pytest.raises(ValueError):
        kronvec.grad(lambda X: np.sum(X * X))(X)


def test_comparisons_return_plain_booleans_and_piecewise_code_runs():
    seen = {}

    def f(X):
        mask = X > 0
        seen["mask"] = mask
        seen["scalar"] = X[0, 0] > 0
        if X[0, 0] > 0:
            return np.sum(X * X * mask)
        return np.sum(-X)

    for X, expected in ((R23, 2 * R23 * (R23 > 0)), (-np.abs(R23), -np.ones((2, 3)))):
        G = kronvec.grad(f)(X)
        np.testing.assert_allclose(G, expected, rtol=1e-14)
        assert_fd_close(G, fd_gradient(f, (X,)))
        assert type(seen["mask"]) is np.ndarray and seen["mask"].dtype == bool
        np.testing.assert_array_equal(seen["mask"], X > 0)
        assert isinstance(seen["scalar"], (bool, np.bool_))
    # a ReLU written with a comparison mask, through every entry point
    relu = lambda X: X * (X > 0)  # noqa: E731
    J = kronvec.jacobian(relu)(R23)
    assert_structured_dense(J, central_difference_jacobian(relu, (R23,)))
    for op in (lambda X: X >= 0, lambda X: X < 0, lambda X: X <= 1, lambda X: X == X, lambda X: X != 0):
        kronvec.grad(lambda X: np.sum(X * op(X)))(R23)


# ================================================================ DAG reuse
class _CountingTraces:
    """Counts the nodes every recording holds and the VJP calls of reverse mode."""

    def __init__(self, monkeypatch):
        import kronvec.api as api
        from kronvec.ops import REGISTRY

        self.recordings = []
        self.vjp_calls = 0
        counter = self
        original = api._Recording

        class CountingRecording(original):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                counter.recordings.append(self)

        monkeypatch.setattr(api, "_Recording", CountingRecording)
        for primitive in REGISTRY.values():
            for position, rule in list(dict.items(primitive.vjps)):
                monkeypatch.setitem(primitive.vjps, position, self._counted(rule))

    def _counted(self, rule):
        def wrapped(*args, **kwargs):
            self.vjp_calls += 1
            return rule(*args, **kwargs)

        return wrapped

    @property
    def nodes(self):
        return sum(len(r.nodes) for r in self.recordings)


DEPTH = 30


def _reused_chain(X):
    y = X
    for _ in range(DEPTH):
        y = y @ X * 0.1 + y  # y is used twice: the expression tree has 2^DEPTH leaves
    return np.sum(y)


def _doubling_chain(X):
    y = X
    for _ in range(DEPTH):
        y = (y + y) * 0.5  # every level doubles the number of paths; ∇ = ones
    return np.sum(y * y)


@pytest.mark.parametrize("f", [_reused_chain, _doubling_chain], ids=["y@X*0.1+y", "(y+y)/2"])
def test_reverse_mode_is_linear_in_depth_for_reused_values(f, monkeypatch):
    X = 0.3 * np.eye(3) + 0.05 * np.arange(9.0).reshape(3, 3)
    counting = _CountingTraces(monkeypatch)
    G = kronvec.grad(f)(X)
    # 3 recorded operations per level + input + final sum (+ a square): O(DEPTH)
    assert DEPTH <= counting.nodes <= 4 * DEPTH + 4
    assert counting.vjp_calls >= DEPTH
    # each node pulls back once per parent: at most 2 per node
    assert counting.vjp_calls <= 2 * counting.nodes
    monkeypatch.undo()
    assert_fd_close(G, fd_gradient(f, (X,)))


def test_jvp_is_linear_in_depth_for_reused_values(monkeypatch):
    X = 0.3 * np.eye(2) + 0.05 * np.arange(4.0).reshape(2, 2)
    counting = _CountingTraces(monkeypatch)
    _, t = kronvec.jvp(_reused_chain, (X,), (np.ones((2, 2)),))
    assert DEPTH <= counting.nodes <= 4 * DEPTH + 4
    monkeypatch.undo()
    row = central_difference_jacobian(_reused_chain, (X,))
    assert_fd_close(t, (row @ np.ones(4)).reshape(()))


def _reused_matrix_chain(depth):
    def F(X):
        y = X
        for _ in range(depth):
            y = y @ X * 0.1 + y
        return y

    return F


def _count_operator_applications(monkeypatch):
    """Counts _matmat calls of the composite operators (Sum, Product, Scaled, Kron)."""
    counts = {"n": 0}
    for cls in (Sum, Product, Scaled, Kron):
        original = cls._matmat

        def wrapped(self, V, _original=original):
            counts["n"] += 1
            return _original(self, V)

        monkeypatch.setattr(cls, "_matmat", wrapped)
    return counts


def test_jacobian_of_reused_values_is_correct_at_moderate_depth():
    X = 0.3 * np.eye(2) + 0.05 * np.arange(4.0).reshape(2, 2)
    F = _reused_matrix_chain(6)
    J = kronvec.jacobian(F)(X)
    assert_structured_dense(J, central_difference_jacobian(F, (X,)))
    f = lambda X: np.sum(F(X))  # noqa: E731
    assert_structured_dense(kronvec.jacobian(f)(X), central_difference_jacobian(f, (X,)))


def test_jacobian_application_is_not_exponential_in_depth(monkeypatch):
    X = 0.3 * np.eye(2)
    counts = _count_operator_applications(monkeypatch)
    applications = {}
    for depth in (6, 10):
        J = kronvec.jacobian(_reused_matrix_chain(depth))(X)
        counts["n"] = 0
        J.matmat(np.eye(4))
        applications[depth] = counts["n"]
    # linear growth would give a ratio of about 10/6; a tree walk gives 2^4 = 16
    assert applications[10] <= 3 * applications[6], applications


# =================================================================== errors
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda X: np.sum(np.fft.fft(X).real), "fft"),
        (lambda X: np.sum(np.histogram(X)[1]), "np.histogram"),
        (lambda X: np.sum(np.spacing(X)), "np.spacing"),
        (lambda X: np.sum(np.frexp(X)[0]), "np.frexp"),
        (lambda X: np.sum(np.poly(X[:, 0])), "np.poly"),
        (lambda X: np.sum(np.polydiv(X[:, 0], [1.0, 2.0])[0]), "np.polydiv"),
        (lambda X: np.sum(np.add.reduceat(X, [0, 1])), "np.add.reduceat"),
    ],
    ids=["fft", "histogram", "spacing", "frexp", "poly", "polydiv", "add.reduceat"],
)
@pytest.mark.parametrize("entry", ["grad", "jacobian", "jvp", "vjp"])
def test_unsupported_function_raises_type_error_naming_it(call, name, entry):
    X = X3
    with pytest.raises(TypeError) as info:
        if entry == "grad":
            kronvec.grad(call)(X)
        elif entry == "jacobian":
            kronvec.jacobian(call)(X)
        elif entry == "jvp":
            kronvec.jvp(call, (X,), (X,))
        else:
            kronvec.vjp(call, X)
    message = str(info.value)
    assert name in message
    assert "SUPPORTED_FUNCTIONS" in message


def test_unsupported_submodule_function_is_named_with_its_submodule():
    for function, name in ((np.fft.fft, r"np\.fft\.fft\b"), (np.fft.ifft, r"np\.fft\.ifft\b")):
        with pytest.raises(TypeError, match=name):
            kronvec.grad(lambda X: np.sum(function(X).real))(X3)


def test_supported_functions_lists_the_issue_minimum():
    names = set(kronvec.SUPPORTED_FUNCTIONS)
    for required in ["np.matmul", "np.dot", "np.transpose", "np.reshape", "np.linalg.inv",
                     "np.linalg.det", "np.linalg.slogdet", "np.linalg.solve", "np.trace", "np.kron",
                     "np.sum", "np.exp", "np.log", "np.sqrt", "np.tanh", "np.square", "np.diag",
                     "np.outer"]:
        assert required in names, required
    assert all(isinstance(n, str) for n in names)


def test_non_scalar_output_to_grad_raises_type_error():
    with pytest.raises(TypeError, match="scalar"):
        kronvec.grad(lambda X: X @ X)(X3)
    with pytest.raises(TypeError, match="scalar"):
        kronvec.value_and_grad(lambda X: X[0])(X3)
    with pytest.raises(TypeError, match="scalar"):
        kronvec.hessian(lambda X: X * 2)(X3)
    with pytest.raises(TypeError):
        kronvec.grad(lambda X: (np.sum(X), np.sum(X)))(X3)  # a tuple is not one array


@pytest.mark.parametrize(
    "f",
    [lambda X: X @ np.ones((4, 4)), lambda X: X + np.ones((4,)), lambda X: np.linalg.solve(X, np.ones(4)),
     lambda X: np.linalg.inv(X[:, :2]), lambda X: np.reshape(X, (4, 2)), lambda X: X @ X[:2]],
    ids=["matmul", "broadcast", "solve", "inv non-square", "reshape", "matmul traced"],
)
def test_shape_mismatch_inside_f_raises_value_error(f):
    for entry in (lambda: kronvec.grad(lambda X: np.sum(f(X)))(X3),
                  lambda: kronvec.jacobian(f)(X3),
                  lambda: kronvec.jvp(f, (X3,), (X3,))):
        with pytest.raises(ValueError):
            entry()


@pytest.mark.parametrize("argnums", [1, -2, (0, 1), (0, 5)])
def test_argnums_out_of_range_raises_value_error(argnums):
    for transform in (kronvec.grad, kronvec.jacobian, kronvec.value_and_grad):
        with pytest.raises(ValueError, match="argnums"):
            transform(lambda X: np.sum(X), argnums=argnums)(X3)


@pytest.mark.parametrize("argnums", [1.0, "0", None, True, (0, 1.5)])
def test_non_int_argnums_raises_type_error(argnums):
    for transform in (kronvec.grad, kronvec.jacobian, kronvec.value_and_grad):
        with pytest.raises(TypeError):
            transform(lambda X, Y: np.sum(X * Y), argnums=argnums)(X3, X3)
    if not isinstance(argnums, tuple):
        with pytest.raises(TypeError):
            kronvec.hessian(lambda X: np.sum(X), argnums=argnums)(X3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_raises_value_error(bad):
    X = X3.copy()
    X[1, 2] = bad
    for entry in (lambda: kronvec.grad(lambda X: np.sum(X))(X),
                  lambda: kronvec.jacobian(lambda X: X * 2)(X),
                  lambda: kronvec.jvp(lambda X: X * 2, (X,), (X3,)),
                  lambda: kronvec.jvp(lambda X: X * 2, (X3,), (X,)),
                  lambda: kronvec.vjp(lambda X: X * 2, X),
                  lambda: kronvec.hessian(lambda X: np.sum(X * X))(X)):
        with pytest.raises(ValueError, match="NaN or inf"):
            entry()


def test_complex_input_raises_type_error():
    Z = X3 + 1j
    for entry in (lambda: kronvec.grad(lambda X: np.sum(X))(Z),
                  lambda: kronvec.jacobian(lambda X: X * 2)(Z),
                  lambda: kronvec.jvp(lambda X: X * 2, (Z,), (Z,)),
                  lambda: kronvec.vjp(lambda X: X * 2, Z)):
        with pytest.raises(TypeError, match="complex"):
            entry()
    with pytest.raises(TypeError):
        kronvec.grad(lambda X: np.sum(X))(np.array(["a", "b"]))


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
def test_complex_cotangent_to_vjp_raises_type_error():
    _, pullback = kronvec.vjp(lambda X: X * 2.0, X3)
    with pytest.raises(TypeError, match="complex"):
        pullback(np.ones((3, 3)) * (1 + 1j))


@pytest.mark.parametrize(
    "convert",
    [float, lambda t: np.asarray(t, dtype=float), lambda t: np.array(t, dtype=np.float64),
     lambda t: t.__array__(np.float64)],
    ids=["float", "np.asarray float", "np.array float", "__array__ float"],
)
def test_converting_a_traced_value_to_a_plain_number_raises_type_error(convert):
    # (int(x) and other integer casts are right, derivative 0: tests/test_elementwise.py)
    with pytest.raises(TypeError, match="traced"):
        kronvec.grad(lambda X: convert(np.sum(X)) * 1.0)(X3)


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda t: t.__array__()],
                         ids=["np.asarray", "np.array", "__array__"])
def test_an_object_array_of_a_traced_value_keeps_its_derivative(convert):
    # without a float dtype: an object array of the traced entries (derivatives.md §29)
    np.testing.assert_array_equal(kronvec.grad(lambda X: convert(np.sum(X)) * 1.0)(X3), np.ones_like(X3))
    np.testing.assert_array_equal(kronvec.grad(lambda X: np.sum(convert(X * X)))(X3), 2 * X3)


def test_traced_index_raises_type_error():
    with pytest.raises(TypeError, match="indices"):
        kronvec.grad(lambda x: np.sum(x[x]))(np.array([0.0, 1.0]))


# ============================================================ inputs untouched
def test_inputs_and_captured_constants_are_never_modified():
    X, A, B = X3.copy(), A33.copy(), B34.copy()
    b = b3.copy()
    Xf = np.asfortranarray(X3)

    def f(X, b):
        return np.sum((A @ np.linalg.inv(X) @ B) ** 2) + np.sum(np.linalg.solve(X, b)) + np.linalg.slogdet(X)[1]

    def F(X):
        return A @ X @ X.T + X[0, 1]

    with assert_unchanged(X, A, B, b, Xf):
        kronvec.grad(f, argnums=(0, 1))(X, b)
        kronvec.value_and_grad(f)(X, b)
        kronvec.grad(f)(Xf, b)
        J = kronvec.jacobian(F)(X)
        J.toarray()
        J.matvec(vec(X))
        kronvec.jvp(F, (X,), (X,))
        _, pullback = kronvec.vjp(F, X)
        U = np.ones((3, 3))
        before = checksum(U)
        pullback(U)
        assert checksum(U) == before
        H = kronvec.hessian(lambda X: f(X, b))(X)
        H.toarray()
        kronvec.hvp(lambda X: f(X, b))(X, X)


def test_fortran_and_c_ordered_inputs_agree():
    f = lambda X: np.sum(np.linalg.inv(X) * A33) + X[0, 2]  # noqa: E731
    Gc = kronvec.grad(f)(np.ascontiguousarray(X3))
    Gf = kronvec.grad(f)(np.asfortranarray(X3))
    np.testing.assert_allclose(Gc, Gf, rtol=1e-14)
    Jc = kronvec.jacobian(lambda X: X.T @ A33)(np.ascontiguousarray(X3)).toarray()
    Jf = kronvec.jacobian(lambda X: X.T @ A33)(np.asfortranarray(X3)).toarray()
    np.testing.assert_allclose(Jc, Jf, rtol=1e-14)


# =========================================================== determinant edges
def _rank_deficient(n, rank, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, rank)) @ rng.standard_normal((rank, n))


@pytest.mark.parametrize("n", [2, 3, 4])
def test_det_gradient_at_rank_n_minus_1_is_adjugate_transpose(n):
    X = _rank_deficient(n, n - 1, n)
    assert abs(np.linalg.det(X)) < 1e-12
    expected = cofactor_matrix(X)  # = adj(X)ᵀ, from Laplace expansion
    assert np.abs(expected).max() > 1e-3
    G = kronvec.grad(np.linalg.det)(X)
    np.testing.assert_allclose(G, expected, rtol=1e-9, atol=1e-10)
    assert_fd_close(G, fd_gradient(np.linalg.det, (X,)))
    J = kronvec.jacobian(np.linalg.det)(X)
    assert isinstance(J, RowVector)
    np.testing.assert_allclose(J.toarray()[0], vec(expected), rtol=1e-9, atol=1e-10)
    _, t = kronvec.jvp(np.linalg.det, (X,), (np.eye(n),))
    assert float(t) == pytest.approx(np.trace(expected.T), rel=1e-9, abs=1e-10)


def test_det_gradient_at_rank_n_minus_2_is_zero():
    X = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [3.0, 6.0, 9.0]])
    G = kronvec.grad(np.linalg.det)(X)
    np.testing.assert_allclose(G, np.zeros((3, 3)), atol=1e-12)
    G0 = kronvec.grad(np.linalg.det)(np.zeros((3, 3)))
    np.testing.assert_array_equal(G0, np.zeros((3, 3)))


def test_det_gradient_documented_examples():
    # notes/derivatives.md §6
    np.testing.assert_allclose(kronvec.grad(np.linalg.det)(np.array([[1.0, 2.0], [3.0, 4.0]])),
                               [[4, -3], [-2, 1]], atol=1e-12)
    np.testing.assert_allclose(kronvec.grad(np.linalg.det)(np.array([[1.0, 2.0], [2.0, 4.0]])),
                               [[4, -2], [-2, 1]], atol=1e-12)


def test_slogdet_sign_is_a_constant_and_both_fields_work():
    seen = {}

    def f(X):
        sign, logabsdet = np.linalg.slogdet(X)
        seen["sign"] = sign
        result = np.linalg.slogdet(X)
        assert result.sign == sign
        return sign * logabsdet + result.logabsdet

    G = kronvec.grad(f)(XNEG)
    assert not isinstance(seen["sign"], kronvec._traced_array.Traced)
    assert float(seen["sign"]) == -1.0
    np.testing.assert_allclose(G, (-1 + 1) * np.linalg.inv(XNEG).T, atol=1e-12)
    G2 = kronvec.grad(lambda X: np.linalg.slogdet(X)[0] * np.linalg.slogdet(X)[1])(XNEG)
    np.testing.assert_allclose(G2, -np.linalg.inv(XNEG).T, rtol=1e-12)
    # the sign does not move the gradient: ∇ ln|det X| = X⁻ᵀ also for det < 0
    G3 = kronvec.grad(lambda X: np.linalg.slogdet(X)[1])(XNEG)
    np.testing.assert_allclose(G3, np.linalg.inv(XNEG).T, rtol=1e-12)


def test_slogdet_of_singular_matrix_raises():
    with pytest.raises(np.linalg.LinAlgError):
        kronvec.grad(lambda X: np.linalg.slogdet(X)[1])(np.ones((2, 2)))


def test_inverse_of_singular_matrix_raises():
    with pytest.raises(np.linalg.LinAlgError):
        kronvec.grad(lambda X: np.sum(np.linalg.inv(X)))(np.ones((2, 2)))


# ================================================================ constants
def test_constants_from_closure_and_other_arguments_are_constants():
    """Arguments not differentiated are constants; closure arrays too."""
    def f(X, A):
        return np.trace(A @ X @ B34 @ B34.T)

    G = kronvec.grad(f)(X3, A33)
    np.testing.assert_allclose(G, A33.T @ (B34 @ B34.T).T, rtol=1e-12)
    J = kronvec.jacobian(lambda X, A: A @ X, argnums=0)(X3, A33)
    assert "I₃ ⊗ A" in repr(J)
    assert_structured_dense(J, np.kron(np.eye(3), A33), rtol=1e-13)


def test_nested_transformations_do_not_confuse_perturbations():
    """d/dx [x · (d/dy x·y)] = d/dx x² = 2x: the inner grad must not see the outer x as its own."""
    g = kronvec.grad(lambda x: x * kronvec.grad(lambda y: x * y)(np.array(1.0)))(np.array(2.0))
    assert float(g) == pytest.approx(4.0, rel=1e-14)
    # ∇_X ‖∇(Σ X³)‖² = ∇ Σ 9X⁴ = 36 X³ — grad of a grad
    G = kronvec.grad(lambda X: np.sum(kronvec.grad(lambda Y: np.sum(Y ** 3))(X) ** 2))(R23)
    np.testing.assert_allclose(G, 36 * R23 ** 3, rtol=1e-12)
    # grad through a vjp pullback
    G2 = kronvec.grad(lambda X: np.sum(kronvec.vjp(lambda Y: Y @ Y, X)[1](np.ones((3, 3)))[0] * A33))(X3)
    f = lambda X: np.sum((np.ones((3, 3)) @ X.T + X.T @ np.ones((3, 3))) * A33)  # noqa: E731
    assert_fd_close(G2, fd_gradient(f, (X3,)))


def test_arguments_the_output_does_not_depend_on_get_zeros():
    def f(X, Y):
        return np.sum(X * 2.0)

    GX, GY = kronvec.grad(f, argnums=(0, 1))(X3, A33)
    np.testing.assert_array_equal(GX, 2.0 * np.ones((3, 3)))
    np.testing.assert_array_equal(GY, np.zeros((3, 3)))
    JY = kronvec.jacobian(lambda X, Y: X * 2.0, argnums=1)(X3, A33)
    assert isinstance(JY, Zero) and JY.shape == (9, 9)
    _, pullback = kronvec.vjp(lambda X, Y: X * 2.0, X3, A33)
    np.testing.assert_array_equal(pullback(np.ones((3, 3)))[1], np.zeros((3, 3)))
    _, t = kronvec.jvp(lambda X: np.ones(2), (X3,), (X3,))
    np.testing.assert_array_equal(t, np.zeros(2))


@pytest.mark.parametrize(
    "x",
    [3.0, np.array(3.0), np.array([3.0]), np.array([[3.0]]), [3.0, 1.0]],
    ids=["python float", "0-d", "(1,)", "(1,1)", "list"],
)
def test_scalar_and_list_inputs(x):
    f = lambda x: np.sum(x * x * x)  # noqa: E731
    G = kronvec.grad(f)(x)
    assert np.shape(G) == np.shape(x)
    np.testing.assert_allclose(G, 3 * np.asarray(x) ** 2, rtol=1e-14)


def test_output_of_shape_1_is_a_scalar_output():
    G = kronvec.grad(lambda x: x[:1] * 2.0)(x3)
    np.testing.assert_array_equal(G, [2.0, 0.0, 0.0])


def test_empty_inputs():
    E = np.zeros((0, 3))
    G = kronvec.grad(lambda X: np.sum(X))(E)
    assert G.shape == (0, 3)
    J = kronvec.jacobian(lambda X: X * 2.0)(E)
    assert J.shape == (0, 0)
    assert J.toarray().shape == (0, 0)


def test_augmented_assignment_never_gives_a_wrong_number():
    """``y += X`` is not in the supported list; it must work or raise TypeError, never mislead."""
    def traced_inplace(X):
        y = X * 1.0
        y += X
        y *= 2.0
        return np.sum(y * y)

    def plain_inplace(X):
        y = np.zeros((3, 3))
        y += X
        return np.sum(y * y)

    for f, expected in ((traced_inplace, 32 * X3), (plain_inplace, 2 * X3)):
        try:
            G = kronvec.grad(f)(X3)
        except TypeError:
            continue
        np.testing.assert_allclose(G, expected, rtol=1e-13)


def test_writing_a_traced_value_into_a_plain_array_is_refused():
    def f(X):
        y = np.zeros(3)
        y[0] = X[0, 0]
        return np.sum(y)

    with pytest.raises((TypeError, ValueError)):
        kronvec.grad(f)(X3)


def test_hvp_matches_hessian_for_a_two_argument_function():
    def f(A, X):
        return np.sum(np.tanh(A @ X)) + np.linalg.slogdet(X)[1]

    V = _random_like(X3, 9)
    HV = kronvec.hvp(f, argnums=1)(A33, X3, V)
    H = fd_hessian(f, (A33, X3), 1)
    assert_fd_close(vec(HV), H @ vec(V), rtol=HESSIAN_RTOL)
    with pytest.raises(TypeError):
        kronvec.hvp(f, argnums=(0, 1))
    with pytest.raises(TypeError):
        kronvec.hvp(f)(X3)


def test_hvp_with_the_direction_in_the_wrong_place_names_hvp_and_the_order():
    f = lambda X, b: np.sum((X @ b) ** 2)  # noqa: E731
    b = np.ones(3)
    with pytest.raises(ValueError, match=r"kronvec\.hvp\(f\)\(\*args, V\).*shape \(3,\).*shape \(3, 3\)"):
        kronvec.hvp(f)(X3, X3, b)  # V passed before the constant b
    HV = kronvec.hvp(f)(X3, b, X3)  # the documented order: f's arguments, then V
    assert HV.shape == X3.shape


_GAUSSIAN = np.array([[3.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 5.0]])
_CROSS = np.eye(3) + 0.1


def _gaussian(S):
    return np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ _CROSS)


@pytest.mark.parametrize("name, call", [
    ("grad", lambda: kronvec.grad(_gaussian)(_GAUSSIAN)),
    ("value_and_grad", lambda: kronvec.value_and_grad(_gaussian)(_GAUSSIAN)),
    ("jacobian", lambda: kronvec.jacobian(lambda X: np.linalg.inv(X) @ _CROSS)(_GAUSSIAN).T.toarray()),
    ("jacobian of a composite, transposed",
     lambda: kronvec.jacobian(lambda X: X @ X @ X)(_GAUSSIAN).T.matvec(np.ones(9))),
    ("jvp", lambda: kronvec.jvp(_gaussian, (_GAUSSIAN,), (_CROSS,))),
    ("vjp", lambda: kronvec.vjp(lambda X: X @ X, _GAUSSIAN)[1](_CROSS)),
    ("hessian", lambda: kronvec.hessian(_gaussian)(_GAUSSIAN)),
    ("hvp", lambda: kronvec.hvp(_gaussian)(_GAUSSIAN, _CROSS)),
])
def test_a_call_leaves_no_reference_cycles(name, call):
    # The recorded graph holds every intermediate array: it must be freed when
    # the call returns, by reference counting, not wait for the cyclic garbage
    # collector (a trace that kept its nodes, or two operators caching each
    # other as transposes, made such cycles).
    call()  # first-call caches (scaled identities, argnums) are not garbage
    gc.collect()
    gc.disable()
    try:
        call()
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable == 0, f"kronvec.{name} left {unreachable} objects in reference cycles"


@pytest.mark.parametrize("transform, call", [
    ("hessian", lambda: kronvec.hessian(lambda X: X)(X3)),
    ("hvp", lambda: kronvec.hvp(lambda X: X)(X3, X3)),
    ("jacobian", lambda: kronvec.jacobian(np.sum)(np.array(["a"]))),
    ("grad", lambda: kronvec.grad(np.sum)(X3 + 1j)),
    ("value_and_grad", lambda: kronvec.value_and_grad(np.sum)(np.asmatrix(X3))),
])
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # (np.asmatrix's own warning)
def test_errors_name_the_transformation_the_user_called(transform, call):
    """Issue 16: an error names the function the user called (hessian's used to say grad's)."""
    with pytest.raises(TypeError, match=rf"^kronvec\.{transform}[: ]"):
        call()


@pytest.mark.parametrize("call, name", [
    (lambda: __import__("kronvec.optimize").optimize.minimize(lambda X: X * 2, X3, method="L-BFGS-B"),
     "kronvec.optimize.minimize"),
    (lambda: __import__("kronvec.optimize").optimize.objective(lambda X: X * 2, (3, 3)).fun(X3.ravel()),
     "kronvec.optimize.objective"),
    (lambda: kronvec.grad(lambda X: X * 2, compile=True)(X3), "kronvec.grad"),
    (lambda: kronvec.value_and_grad(lambda X: np.sum(X), compile=True)(X3 + 1j), "kronvec.value_and_grad"),
])
def test_a_non_scalar_or_complex_objective_names_what_the_user_called(call, name):
    """Issue 16: kronvec.optimize.minimize used to name the objective it builds."""
    with pytest.raises((TypeError, ValueError), match=rf"^{name}[: ]"):
        call()


def _scipy_linalg_functions():
    import kronvec.scipy.linalg as ksl

    return [name for name in sorted(ksl.__all__) if callable(getattr(ksl, name))]


@pytest.mark.parametrize("name", _scipy_linalg_functions())
@pytest.mark.parametrize("bad", ["non-square", "NaN", "a stack"])
def test_every_scipy_linalg_error_names_the_function_the_user_called(name, bad):
    """Issue 16's audit, over kronvec.scipy.linalg: a wrong input raises an error naming
    the function (or the transformation around it), never an internal one."""
    import inspect

    import kronvec.scipy.linalg as ksl

    function = getattr(ksl, name)
    X = {"non-square": np.arange(6.0).reshape(2, 3) + 1.0, "NaN": np.array([[1.0, np.nan], [0.0, 1.0]]),
         "a stack": np.ones((2, 2, 2)) + np.eye(2)}[bad]
    required = [p for p in inspect.signature(function).parameters.values()
                if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]

    def f(A):
        args = [A] + [np.eye(A.shape[-2])] * (len(required) - 1)
        if name in ("cho_solve", "lu_solve"):
            args[0] = (A, True) if name == "cho_solve" else (A, np.arange(A.shape[-2], dtype=np.int32))
        out = function(*args)
        return np.sum(out[0] if isinstance(out, tuple) else out)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            kronvec.grad(f)(X)
        except (ValueError, TypeError, np.linalg.LinAlgError) as error:
            head = str(error).split(":")[0]
            assert name in head or "kronvec.grad" in head or (
                name == "solve_lyapunov" and "solve_continuous_lyapunov" in head), str(error)


def test_keyword_arguments_are_passed_to_f_and_not_differentiated():
    # as jax.grad(f)(x, c=2.0) and autograd: keywords are constants of the call
    f = lambda X, c=1.0: c * np.sum(X ** 3)  # noqa: E731
    X = np.array([1.0, 2.0])
    np.testing.assert_array_equal(kronvec.grad(f)(X, c=2.0), 6.0 * X ** 2)
    value, gradient = kronvec.value_and_grad(f)(X, c=2.0)
    assert value == 18.0 and np.array_equal(gradient, 6.0 * X ** 2)
    np.testing.assert_array_equal(kronvec.jacobian(lambda X, c: c * X * X)(X, c=3.0).toarray(), np.diag(6.0 * X))
    np.testing.assert_array_equal(kronvec.hessian(f)(X, c=2.0).toarray(), np.diag(12.0 * X))
    np.testing.assert_array_equal(kronvec.hvp(f)(X, np.ones(2), c=2.0), 12.0 * X)
    np.testing.assert_array_equal(kronvec.grad(f)(X), 3.0 * X ** 2)  # (the default again: nothing kept)
    with pytest.raises(TypeError, match=r"compile=True.*positional arguments only.*\['c'\]"):
        kronvec.grad(f, compile=True)(X, c=2.0)


def test_the_value_of_a_trace_is_numpys_bit_for_bit():
    # np.trace is add.reduce of the diagonal: kronvec's value is that sum, in NumPy's order
    # (a correctly rounded math.fsum, used before, was 1 ulp from NumPy's value for about a
    # third of random 4×4 matrices); both dtypes, small and pairwise-summed orders, F order
    rng = np.random.default_rng(8)
    for n in (2, 3, 4, 7, 8, 9, 33, 70):
        for X in (rng.standard_normal((n, n)), rng.standard_normal((n, n)).astype(np.float32),
                  np.asfortranarray(rng.standard_normal((n, n)) * 10.0 ** rng.uniform(-3, 3, (n, n)))):
            for f in (np.trace, lambda X: np.trace(X @ X), lambda X: X.trace()):
                value, _ = kronvec.value_and_grad(f)(X)
                expected = f(X)
                assert value == expected and np.asarray(value).dtype == expected.dtype


def test_jvp_and_vjp_return_a_constant_output_as_f_returned_it():
    # (found by the stacks sweep) np.linalg.matrix_rank's integer came back as array(3.)
    A = np.eye(3)
    value, tangent = kronvec.jvp(np.linalg.matrix_rank, (A,), (A,))
    assert type(value) is type(np.linalg.matrix_rank(A)) and value == 3
    assert tangent.dtype == np.float64 and tangent == 0.0
    value, pullback = kronvec.vjp(lambda a: np.linalg.lstsq(a, np.ones(3))[2], A)
    assert value.dtype == np.linalg.lstsq(A, np.ones(3))[2].dtype and value == 3
    np.testing.assert_array_equal(pullback(np.array(1.0))[0], np.zeros((3, 3)))
