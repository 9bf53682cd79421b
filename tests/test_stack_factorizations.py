"""Stacks of matrices (…, m, n) through the factorizations (issue 14, second slice).

Checked here, for cholesky, eigh, eigvalsh, svd, svdvals, qr, pinv,
matrix_power, the singular-value norms, cond and matrix_rank on stacks:

* values are NumPy's batched results bit for bit;
* every derivative (structured Jacobian, JVP, gradient, Hessian) matches central
  differences on stacks with one and two batch axes;
* the batched rule equals the per-matrix rule: each member's block of the
  stack's Jacobian, and each member's gradient, equal the 2-D results for that
  member (computed one member at a time here, in the test only);
* the structured Jacobians are batched block operators: toarray = matmat(I),
  the dot test, and no entry outside the members' blocks;
* a stack of one member equals the unbatched result bit for bit (value,
  gradient, Jacobian);
* the Hessian of a sum over the stack is block diagonal;
* errors name the members: not positive definite, NaN, repeated eigenvalues,
  rank-deficient;
* ``kronvec.optimize`` with a stacked symmetric unknown (a Gaussian-mixture-like
  covariance fit through ``scipy.optimize.minimize``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import kronvec
import kronvec.optimize as kvo
from kronvec._vec import stack_members, vec

from _helpers import check_value_and_derivatives, dense_of, dot_test

RNG = np.random.default_rng(20261203)


def _sym(A):
    return (A + np.swapaxes(A, -1, -2)) / 2


def _spd(*shape):
    n = shape[-1]
    A = RNG.standard_normal(shape)
    return A @ np.swapaxes(A, -1, -2) / n + np.eye(n)


def _separated(*shape):
    """A stack whose members have well-separated singular values (eigenvalues for square
    symmetric use), spread over [1, 2]·min(m, n)."""
    m, n = shape[-2:]
    k = min(m, n)
    batch = shape[:-2]
    U = np.linalg.qr(RNG.standard_normal(batch + (m, k)))[0]
    V = np.linalg.qr(RNG.standard_normal(batch + (n, k)))[0]
    s = np.linspace(2.0, 1.0, k) * k
    return (U * s) @ np.swapaxes(V, -1, -2)


SPD_344 = _spd(3, 4, 4)
SPD_2333 = _spd(2, 3, 3, 3)
TALL_2343 = _separated(2, 3, 4, 3)
WIDE_324 = _separated(3, 2, 4)
SQUARE_344 = RNG.standard_normal((3, 4, 4)) + 4.0 * np.eye(4)

# name → (function of the stack, its stacks); symmetric functions are composed with
# sym(·) so that central differences over every entry are the derivative along
# symmetric directions (conventions §10)
RULES = {
    "cholesky": (lambda X: np.linalg.cholesky(_sym(X)), [SPD_344, SPD_2333]),
    "cholesky upper": (lambda X: np.linalg.cholesky(_sym(X), upper=True), [SPD_344]),
    "eigvalsh": (lambda X: np.linalg.eigvalsh(_sym(X)), [SPD_344, SPD_2333]),
    "eigh values": (lambda X: np.linalg.eigh(_sym(X))[0], [SPD_344]),
    "eigh vectors": (lambda X: np.linalg.eigh(_sym(X))[1], [SPD_344, SPD_2333]),
    "svd U": (lambda X: np.linalg.svd(X, full_matrices=False)[0], [TALL_2343, WIDE_324]),
    "svd S": (lambda X: np.linalg.svd(X, full_matrices=False)[1], [TALL_2343]),
    "svd Vh": (lambda X: np.linalg.svd(X, full_matrices=False)[2], [TALL_2343, WIDE_324]),
    "svd compute_uv=False": (lambda X: np.linalg.svd(X, compute_uv=False), [TALL_2343, WIDE_324]),
    "svdvals": (lambda X: np.linalg.svdvals(X), [TALL_2343]),
    "qr Q": (lambda X: np.linalg.qr(X)[0], [TALL_2343, SQUARE_344]),
    "qr R": (lambda X: np.linalg.qr(X)[1], [TALL_2343]),
    "qr mode r": (lambda X: np.linalg.qr(X, mode="r"), [SQUARE_344]),
    "pinv": (np.linalg.pinv, [TALL_2343, WIDE_324, SQUARE_344]),
    "matrix_power 3": (lambda X: np.linalg.matrix_power(X, 3), [SQUARE_344]),
    "matrix_power -2": (lambda X: np.linalg.matrix_power(X, -2), [SQUARE_344]),
    "norm nuc": (lambda X: np.linalg.norm(X, "nuc", axis=(-2, -1)), [TALL_2343]),
    "norm 2": (lambda X: np.linalg.norm(X, 2, axis=(-2, -1)), [TALL_2343]),
    "norm -2, other axes, keepdims": (lambda X: np.linalg.norm(X, -2, axis=(3, 1), keepdims=True), [TALL_2343]),
    "matrix_norm nuc": (lambda X: np.linalg.matrix_norm(X, ord="nuc"), [WIDE_324]),
    "cond": (np.linalg.cond, [TALL_2343, SQUARE_344]),
    "cond -2": (lambda X: np.linalg.cond(X, -2), [WIDE_324]),
    "cond fro": (lambda X: np.linalg.cond(X, "fro"), [SQUARE_344]),
}

CASES = [pytest.param(name, k, id=f"{name}-{X.shape}") for name, (f, stacks) in RULES.items()
         for k, X in enumerate(stacks)]
# (a member alone has fewer axes than `axis` names: the other-axes norm is checked on the stack only)
PER_MEMBER_CASES = [case for case in CASES if "other axes" not in case.values[0]]


def _rule(name, k):
    f, stacks = RULES[name]
    return f, stacks[k]


def _numpy(name, X):
    """What NumPy itself returns (the kronvec function on plain arrays is NumPy's)."""
    return RULES[name][0](X)


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("name, k", CASES)
def test_values_are_numpys(name, k):
    f, X = _rule(name, k)
    np.testing.assert_array_equal(kronvec.vjp(f, X)[0], _numpy(name, X))


def test_values_of_the_decompositions_are_numpys():
    for result, expected in (
        (kronvec.vjp(lambda X: np.linalg.eigh(X)[1], SPD_344)[0], np.linalg.eigh(SPD_344)[1]),
        (kronvec.vjp(lambda X: np.linalg.svd(X, full_matrices=False)[0], TALL_2343)[0],
         np.linalg.svd(TALL_2343, full_matrices=False)[0]),
        (kronvec.vjp(lambda X: np.linalg.qr(X)[0], TALL_2343)[0], np.linalg.qr(TALL_2343)[0]),
        (kronvec.vjp(lambda X: np.linalg.matrix_power(X, 0), SQUARE_344)[0], np.linalg.matrix_power(SQUARE_344, 0)),
    ):
        np.testing.assert_array_equal(result, expected)
    rank = []
    kronvec.grad(lambda X: rank.append(np.linalg.matrix_rank(X)) or np.sum(X))(TALL_2343)
    np.testing.assert_array_equal(rank[0], np.linalg.matrix_rank(TALL_2343))


def test_a_symmetric_stack_that_is_not_exactly_symmetric_is_read_as_numpy_reads_it():
    X = SPD_344 + 0.1 * np.triu(RNG.standard_normal((3, 4, 4)), 1)
    for f in (np.linalg.cholesky, np.linalg.eigvalsh, lambda Z: np.linalg.eigh(Z, UPLO="U")[1]):
        np.testing.assert_array_equal(kronvec.vjp(f, X)[0], f(X))
    # the upper triangle above the diagonal is not read: its gradient is 0
    gradient = kronvec.grad(lambda Z: np.sum(np.linalg.cholesky(Z)))(X)
    assert np.all(np.triu(gradient, 1) == 0.0)
    check_value_and_derivatives(lambda Z: np.linalg.cholesky(np.tril(Z) + 0.0 * Z), X)


# ------------------------------------------------------------- derivatives
@pytest.mark.parametrize("name, k", CASES)
def test_derivatives_match_finite_differences(name, k):
    f, X = _rule(name, k)
    check_value_and_derivatives(f, X)


@pytest.mark.parametrize("name, k", PER_MEMBER_CASES)
def test_the_batched_rule_equals_the_per_matrix_rule(name, k):
    """Member b's block of the stack's Jacobian, and member b's gradient, are the 2-D
    Jacobian and gradient of member b (one member at a time: in this test only)."""
    f, X = _rule(name, k)
    J = kronvec.jacobian(f)(X)
    dense = J.toarray()
    np.testing.assert_allclose(dense_of(J), dense, rtol=1e-12, atol=1e-12)
    dot_test(J, RNG)
    members = stack_members(X)
    count = members.shape[0]
    out_members = stack_members(np.asarray(f(X)), np.ndim(f(X)) - (X.ndim - 2))
    outside = np.ones(dense.shape, dtype=bool)
    W = RNG.uniform(0.5, 1.5, np.shape(f(X)))
    gradient = stack_members(kronvec.grad(lambda Z: np.sum(W * np.sin(f(Z))))(X))
    W_members = stack_members(W, W.ndim - (X.ndim - 2))
    for b in range(count):
        one = f(members[b][None])  # the member as a stack of one: the 2-D rule (tested below)
        J_b = kronvec.jacobian(lambda Z: f(Z[None])[0])(members[b]).toarray()
        np.testing.assert_allclose(dense[b::count, b::count], J_b, rtol=1e-10, atol=1e-12, err_msg=f"member {b}")
        outside[b::count, b::count] = False
        np.testing.assert_array_equal(one[0], out_members[b])
        g_b = kronvec.grad(lambda Z: np.sum(W_members[b] * np.sin(f(Z[None])[0])))(members[b])
        np.testing.assert_allclose(gradient[b], g_b, rtol=1e-10, atol=1e-12, err_msg=f"member {b}")
    assert not np.any(dense[outside]), "an entry outside the members' blocks"


FACTORIZATIONS_2D = {
    "cholesky": (np.linalg.cholesky, SPD_344[0]),
    "cholesky upper": (lambda X: np.linalg.cholesky(X, upper=True), SPD_344[0]),
    "eigvalsh": (np.linalg.eigvalsh, SPD_344[0]),
    "eigh vectors": (lambda X: np.linalg.eigh(X)[1], SPD_344[0]),
    "svd U": (lambda X: np.linalg.svd(X, full_matrices=False)[0], TALL_2343[0, 0]),
    "svd Vh": (lambda X: np.linalg.svd(X, full_matrices=False)[2], WIDE_324[0]),
    "svdvals": (np.linalg.svdvals, TALL_2343[0, 0]),
    "qr Q": (lambda X: np.linalg.qr(X)[0], TALL_2343[0, 0]),
    "qr R": (lambda X: np.linalg.qr(X)[1], TALL_2343[0, 0]),
    "pinv": (np.linalg.pinv, WIDE_324[0]),
    "norm nuc": (lambda X: np.linalg.norm(X, "nuc", axis=(-2, -1)), TALL_2343[0, 0]),
    "cond": (np.linalg.cond, TALL_2343[0, 0]),
    "logdet by cholesky": (lambda X: 2 * np.sum(np.log(np.diagonal(np.linalg.cholesky(X), axis1=-2, axis2=-1)),
                                                 axis=-1), SPD_344[0]),
}


@pytest.mark.parametrize("name", list(FACTORIZATIONS_2D))
@pytest.mark.parametrize("batch", [(1,), (1, 1)], ids=["(1,)", "(1, 1)"])
def test_a_stack_of_one_equals_the_matrix_exactly(name, batch):
    f, X = FACTORIZATIONS_2D[name]
    X1 = X.reshape(batch + X.shape)
    s = lambda Z: np.sum(np.sin(f(Z)))  # noqa: E731
    value, value_1 = kronvec.vjp(f, X)[0], kronvec.vjp(f, X1)[0]
    np.testing.assert_array_equal(np.reshape(value_1, np.shape(value)), value)
    np.testing.assert_array_equal(kronvec.grad(s)(X1).reshape(X.shape), kronvec.grad(s)(X))
    np.testing.assert_array_equal(kronvec.jacobian(f)(X1).toarray(), kronvec.jacobian(f)(X).toarray())
    # second order goes through the batched traced rules: equal up to rounding
    np.testing.assert_allclose(kronvec.hessian(s)(X1).toarray(), kronvec.hessian(s)(X).toarray(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, f, X", [
    ("logdet by cholesky", lambda X: np.sum(np.log(np.diagonal(np.linalg.cholesky(_sym(X)), axis1=-2, axis2=-1))),
     SPD_344),
    ("eigvalsh", lambda X: np.sum(np.linalg.eigvalsh(_sym(X)) ** 3), SPD_2333),
    ("eigh vectors", lambda X: np.sum(np.linalg.eigh(_sym(X))[1][..., 0] ** 2 * np.arange(1.0, 4.0)), SPD_2333),
    ("nuclear norm", lambda X: np.sum(np.linalg.norm(X, "nuc", axis=(-2, -1))), TALL_2343),
    ("qr", lambda X: np.sum(np.linalg.qr(X)[1] ** 2), TALL_2343),
    ("pinv", lambda X: np.sum(np.sin(np.linalg.pinv(X))), WIDE_324),
], ids=lambda v: v if isinstance(v, str) else "")
def test_the_hessian_of_a_sum_over_the_stack_is_block_diagonal(name, f, X):
    H = kronvec.hessian(f)(X)
    dense = H.toarray()
    count = stack_members(X).shape[0]
    outside = np.ones(dense.shape, dtype=bool)
    for b in range(count):
        outside[b::count, b::count] = False
    assert not np.any(dense[outside]), name
    np.testing.assert_allclose(dense, dense.T, rtol=1e-10, atol=1e-10)
    from _helpers import assert_scaled_close, central_difference_jacobian
    assert_scaled_close(dense, central_difference_jacobian(kronvec.grad(f), (X,)), 1e-6, name)


def test_logdet_by_cholesky_gradient_is_the_inverse():
    """Σ_k ln|S_k| = 2 Σ_k Σ_i ln (L_k)ᵢᵢ: gradient S_k⁻¹ member by member (exactly symmetric)."""
    S = _spd(50, 5, 5)
    value, gradient = kronvec.value_and_grad(
        lambda X: 2 * np.sum(np.log(np.diagonal(np.linalg.cholesky(X), axis1=-2, axis2=-1))))(S)
    np.testing.assert_allclose(value, np.sum(np.linalg.slogdet(S)[1]), rtol=1e-13)
    np.testing.assert_allclose(gradient, np.linalg.inv(S), rtol=1e-11, atol=1e-13)
    np.testing.assert_array_equal(gradient, np.swapaxes(gradient, -1, -2))


def test_jacobians_are_batched_block_operators():
    from kronvec.operators import BatchedKron

    for f, X in ((np.linalg.cholesky, SPD_344), (lambda Z: np.linalg.eigh(Z)[1], SPD_344),
                 (lambda Z: np.linalg.qr(Z)[1], TALL_2343)):
        J = kronvec.jacobian(f)(X)
        assert "blockdiag" in J.formula()
        assert any(isinstance(leaf, BatchedKron) for leaf in _leaves(J)), J.formula()


def _leaves(op):
    children = [*getattr(op, "terms", ()), *getattr(op, "factors", ())]
    if getattr(op, "operator", None) is not None:
        children.append(op.operator)
    if not children:
        return [op]
    return [leaf for child in children for leaf in _leaves(child)]


def test_cholesky_jacobian_of_many_small_matrices_stays_structured():
    """10,000 3×3 members: the Jacobian holds (K, 3, 3) stacks, never (9K)² entries."""
    K = 10_000
    S = _spd(K, 3, 3)
    J = kronvec.jacobian(np.linalg.cholesky)(S)
    V = RNG.standard_normal(S.shape)
    V = _sym(V)
    k = 4321
    L = np.linalg.cholesky(S[k])
    W = np.linalg.inv(L)
    expected = L @ (np.tril(W @ V[k] @ W.T, -1) + 0.5 * np.diag(np.diag(W @ V[k] @ W.T)))
    np.testing.assert_allclose(kronvec.unvec(J.matvec(vec(V)), S.shape)[k], expected, rtol=1e-12, atol=1e-14)
    with pytest.raises(MemoryError):
        J.toarray()


# ------------------------------------------------------------------ errors
def test_members_that_are_not_positive_definite_are_named():
    S = SPD_2333.copy()
    S[1, 0] = -np.eye(3)
    S[0, 2, 2, 2] = -5.0
    with pytest.raises(np.linalg.LinAlgError, match=r"np.linalg.cholesky: 2 members .* not positive definite, at "
                                                    r"batch index \(0, 2\), \(1, 0\).*leading minor of order 3"):
        kronvec.grad(lambda X: np.sum(np.linalg.cholesky(X)))(S)


def test_nan_in_one_member_is_named():
    """The registered operations on a plain stack with NaN in one member (within a traced
    function kronvec refuses a NaN argument or constant before it reaches them)."""
    from kronvec.ops import REGISTRY

    S = SPD_344.copy()
    S[2, 1, 1] = np.nan
    for op, name in (("linalg.cholesky", "cholesky"), ("linalg.eigvalsh", "eigvalsh"),
                     ("linalg.eigh_vectors", "eigh"), ("singular_values", "singular values"),
                     ("left_singular_vectors", "singular value decomposition"), ("linalg.qr_r", "qr")):
        with pytest.raises(ValueError, match=rf"{name}.*a member of the stack .*NaN or inf, at batch index 2"):
            REGISTRY[op](S)
    # a NaN argument of a differentiated function: its members named too
    with pytest.raises(ValueError, match=r"stack of shape \(3, 4, 4\), in 1 member\(s\) at batch index 2, contains NaN"):
        kronvec.grad(lambda X: np.sum(np.linalg.cholesky(X)))(S)
    with kronvec.config.override(check_finite=False):  # switched off, as for 2-D input: LAPACK's own error
        with pytest.raises(np.linalg.LinAlgError, match="did not converge"):
            REGISTRY["linalg.eigvalsh"](S)


def test_repeated_eigenvalues_in_a_member_name_it():
    Q = np.linalg.qr(RNG.standard_normal((3, 3)))[0]
    S = np.stack([SPD_344[0, :3, :3], SPD_344[1, :3, :3], _sym((Q * [1.0, 1.0, 2.0]) @ Q.T)])
    with pytest.raises(np.linalg.LinAlgError, match=r"np.linalg.eigh: a member .* repeated eigenvalues, at batch "
                                                    r"index 2 .*not unique"):
        kronvec.grad(lambda X: np.sum(np.linalg.eigh(X)[1]))(S)
    # functions of the eigenvalues alone stay differentiable there
    gradient = kronvec.grad(lambda X: np.sum(np.linalg.eigvalsh(X) ** 2))(S)
    np.testing.assert_allclose(gradient, 2 * S, rtol=1e-12, atol=1e-12)


def test_repeated_singular_values_and_rank_deficient_members_are_named():
    X = TALL_2343.copy()
    X[1, 2] = np.linalg.qr(RNG.standard_normal((4, 3)))[0]  # all singular values 1
    with pytest.raises(np.linalg.LinAlgError, match=r"repeated singular values, at batch index \(1, 2\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.svd(Z, full_matrices=False)[0]))(X)
    with pytest.raises(np.linalg.LinAlgError, match=r"largest singular value .* batch index \(1, 2\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.norm(Z, 2, axis=(-2, -1))))(X)
    Y = TALL_2343.copy()
    Y[0, 1, :, 2] = Y[0, 1, :, 0]
    with pytest.raises(np.linalg.LinAlgError, match=r"np.linalg.qr: a member .* rank-deficient.* \(0, 1\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.qr(Z)[1]))(Y)
    with pytest.raises(np.linalg.LinAlgError, match=r"np.linalg.pinv: a member .* \(0, 1\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.pinv(Z)))(Y)
    with pytest.raises(np.linalg.LinAlgError, match=r"np.linalg.cond: a member .* singular .* \(0, 1\)"):
        kronvec.grad(lambda Z: np.sum(np.linalg.cond(Z)))(Y)


def test_inputs_are_not_modified():
    from _helpers import assert_unchanged

    S, X = SPD_344.copy(), TALL_2343.copy()
    with assert_unchanged(S, X):
        kronvec.hessian(lambda Z: np.sum(np.linalg.cholesky(Z) ** 2))(S)
        kronvec.jacobian(lambda Z: np.linalg.eigh(Z)[1])(S).toarray()
        kronvec.grad(lambda Z: np.sum(np.linalg.svd(Z, full_matrices=False)[0]))(X)


# ---------------------------------------------------------------- optimize
def _mixture_data(k=3, n=2, N=300):
    true = np.stack([[[2.0, 0.5], [0.5, 1.0]], [[1.0, -0.3], [-0.3, 0.5]], [[0.7, 0.0], [0.0, 0.7]]])[:k]
    rng = np.random.default_rng(11)
    samples = np.stack([rng.multivariate_normal(np.zeros(n), true[j], size=N) for j in range(k)])
    return np.swapaxes(samples, -1, -2) @ samples / N  # each component's scatter matrix


def _nll(S, C):
    """Σ_k ln|S_k| + tr(S_k⁻¹ C_k): the Gaussian negative log-likelihood per component, up to constants."""
    return np.sum(np.linalg.slogdet(S)[1]) + np.sum(np.linalg.inv(S) * np.swapaxes(C, -1, -2))


def test_optimize_with_a_stacked_symmetric_unknown():
    """A Gaussian-mixture-like covariance fit: k covariances (k, n, n), symmetric=True per
    member; the maximum-likelihood estimates are the scatter matrices."""
    C = _mixture_data()
    k, n, _ = C.shape
    obj = kvo.objective(_nll, (k, n, n), C, symmetric=True)
    x0 = obj.to_vector(np.broadcast_to(np.eye(n), (k, n, n)))
    assert x0.shape == (k * n * (n + 1) // 2,)
    # x holds the vech of every member, the batch index fastest (conventions §11)
    np.testing.assert_array_equal(obj.to_vector(C).reshape(-1, k).T,
                                  np.stack([c[np.tril_indices(n)[1], np.tril_indices(n)[0]] for c in C]))
    result = scipy.optimize.minimize(obj.fun, x0, jac=obj.jac, hessp=obj.hessp, method="trust-ncg",
                                     options={"gtol": 1e-10})
    assert result.success
    fitted = obj.to_matrix(result.x)
    np.testing.assert_allclose(fitted, C, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(fitted, np.swapaxes(fitted, -1, -2))
    # gradient and Hessian in vech coordinates against central differences
    from _helpers import central_difference_jacobian
    x = obj.to_vector(C + 0.1 * np.eye(n))
    np.testing.assert_allclose(obj.jac(x), central_difference_jacobian(obj.fun, (x,))[0], rtol=1e-6, atol=1e-8)
    H = obj.hess(x, dense=True)
    np.testing.assert_allclose(H, central_difference_jacobian(obj.jac, (x,)), rtol=1e-6, atol=1e-7)


def test_minimize_with_stacked_cholesky_factors():
    """The same fit over k Cholesky factors (unconstrained lower triangles), BFGS."""
    C = _mixture_data()
    k, n, _ = C.shape

    def nll_of_factors(L, C):
        L = np.tril(L)
        return _nll(L @ np.swapaxes(L, -1, -2), C)

    result = kvo.minimize(nll_of_factors, np.broadcast_to(np.eye(n), (k, n, n)).copy(), C, method="trust-krylov")
    assert result.success
    L = np.tril(result.X)
    # (trust-krylov's default gtol, 1e-5, bounds the error of the fit at about that size)
    np.testing.assert_allclose(L @ np.swapaxes(L, -1, -2), C, rtol=1e-4, atol=1e-5)


def test_a_stacked_symmetric_unknown_that_is_not_symmetric_is_refused():
    obj = kvo.objective(_nll, (2, 2, 2), _mixture_data(k=2), symmetric=True)
    X = np.stack([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])
    with pytest.raises(ValueError, match=r"declared symmetric but has members that are not"):
        obj.to_vector(X)
    with pytest.raises(ValueError, match=r"stack of square matrices"):
        kvo.objective(_nll, (2, 2, 3), None, symmetric=True)


# -------------------------------------------- the products and moves on stacks
@pytest.mark.parametrize("name, f", [
    ("matmul", lambda X: X @ np.swapaxes(X, -1, -2)),
    ("matmul broadcast", lambda X: X @ SQUARE_344[0]),
    (".mT", lambda X: X.mT * X),
    ("swapaxes", lambda X: np.swapaxes(X, -1, -2) @ X),
    ("trace(axis1, axis2)", lambda X: np.trace(X @ X, axis1=-2, axis2=-1)),
    ("diagonal", lambda X: np.diagonal(X @ X, axis1=-2, axis2=-1)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_products_and_moves_take_stacks(name, f):
    """(Already working before this slice: checked here once more, on a 4-D stack.)"""
    X = RNG.standard_normal((2, 3, 4, 4))
    check_value_and_derivatives(f, X)
    J = kronvec.jacobian(f)(X).toarray()
    count = 6
    outside = np.ones(J.shape, dtype=bool)
    for b in range(count):
        outside[b::count, b::count] = False
    assert not np.any(J[outside]), name
