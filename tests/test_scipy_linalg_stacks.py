"""kronvec.scipy.linalg on stacks of matrices (…, n, n): matrix functions and decompositions.

Values against SciPy 1.17's batched results and against the 2-D kronvec result of each
member; a stack of one equals the unbatched result bit for bit; Jacobians are batched
block operators checked against central differences, their dense form and the
gradient; errors name the members.  (The registry sweep, tests/test_registry.py, runs
every mode at the stacked edge cases of kronvec/ops/matrix_functions.py.)
"""

import warnings

import numpy as np
import pytest
import scipy.linalg as sl

import kronvec
import kronvec.scipy.linalg as kl
from kronvec.operators import StructuredOperator
from kronvec.ops import matrix_functions
from kronvec.ops._stack_functions import (StackFrechetOperator, expm_frechet_stack, expm_stack, frechet_stack,
                                          logm_stack)

RNG = np.random.default_rng(14)
N = 3


def _rotated(values, rng=RNG):
    Q, _ = np.linalg.qr(rng.standard_normal((len(values), len(values))))
    A = (Q * np.asarray(values)) @ Q.T
    return (A + A.T) / 2


def _general(shift, batch=(3, 2), n=N, rng=RNG):
    return shift * np.eye(n) + 0.5 * rng.standard_normal(batch + (n, n)) / np.sqrt(n)


def _mixed(shift):
    """A (3, 2) stack whose members (1, 0) and (2, 1) are exactly symmetric (the spectral path)."""
    A = _general(shift)
    A[1, 0] = _rotated([0.5, 1.25, 2.0])
    A[2, 1] = _rotated([1.0, 1.0, 2.0])  # a double eigenvalue: exact there
    return A


SPD = np.stack([_rotated(RNG.uniform(0.5, 2.0, N)) for _ in range(6)]).reshape(3, 2, N, N)

FUNCTIONS = {
    "expm": (kl.expm, sl.expm, lambda: _general(0.0), lambda: _mixed(0.0)),
    "logm": (kl.logm, sl.logm, lambda: _general(2.0), lambda: _mixed(2.0)),
    "sqrtm": (kl.sqrtm, sl.sqrtm, lambda: _general(2.0), lambda: _mixed(2.0)),
    "fractional_matrix_power": (lambda A: kl.fractional_matrix_power(A, 0.3),
                                lambda A: sl.fractional_matrix_power(A, 0.3), lambda: SPD, lambda: SPD),
}


def _members(A):
    return [A[index] for index in np.ndindex(A.shape[:-2])]


def _central_jacobian(f, A, h=1e-6):
    """Central differences of vec f(A) in every direction of vec A (column-major over all axes)."""
    x = A.ravel(order="F")
    columns = []
    for b in range(x.size):
        e = np.zeros_like(x)
        e[b] = h
        plus, minus = f((x + e).reshape(A.shape, order="F")), f((x - e).reshape(A.shape, order="F"))
        columns.append(((plus - minus) / (2 * h)).ravel(order="F"))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("which", ["general", "mixed"])
def test_values_on_stacks(name, which):
    function, scipy_function, general, mixed = FUNCTIONS[name]
    A = general() if which == "general" else mixed()
    F = function(A)
    assert F.shape == A.shape and F.flags.owndata
    # Bit for bit, except logm: SciPy's logm itself is not reproducible bit for bit — the
    # same matrix at another address gave a result 1 ulp apart in 58 of 200 calls (its
    # vectorized loops round by alignment) — so logm is held to 4 ulps of the largest entry.
    same = np.testing.assert_array_equal if name != "logm" else \
        (lambda x, y: np.testing.assert_allclose(x, y, rtol=0, atol=4 * np.finfo(float).eps * np.abs(y).max()))
    # each member is its 2-D kronvec value
    for a, f in zip(_members(A), _members(F)):
        same(f, function(a))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = scipy_function(A)
    if which == "general" and name != "fractional_matrix_power":
        same(F, reference)  # general members: SciPy's batched values themselves
    else:  # symmetric members come from eigh, as in 2-D: SciPy's to rounding
        np.testing.assert_allclose(F, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_stack_of_one_is_the_unbatched_result_exactly(name):
    function, _, general, mixed = FUNCTIONS[name]
    for A in (general()[:1, :1], mixed()[1:2, :1]):
        a = A[0, 0]
        np.testing.assert_array_equal(function(A)[0, 0], function(a))
        W = RNG.standard_normal(a.shape)
        g_stack = kronvec.grad(lambda X: np.sum(W * function(X)))(A)
        np.testing.assert_array_equal(g_stack[0, 0], kronvec.grad(lambda X: np.sum(W * function(X)))(a))
        np.testing.assert_array_equal(kronvec.jacobian(function)(A).toarray(),
                                      kronvec.jacobian(function)(a).toarray())


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("which", ["general", "mixed"])
def test_jacobian_is_a_block_operator_matching_differences(name, which):
    function, _, general, mixed = FUNCTIONS[name]
    A = (general() if which == "general" else mixed())[:2]  # (2, 2, 3, 3): 36 directions
    J = kronvec.jacobian(function)(A)
    assert isinstance(J, StructuredOperator) and J.shape == (A.size, A.size)
    assert isinstance(J, StackFrechetOperator)
    dense = J.toarray()
    # (the front door refuses a matrix that is not exactly symmetric: the operation itself
    # is differentiated in every direction)
    differenced = (lambda X: matrix_functions.fractional_power(X, t=0.3)) if name == "fractional_matrix_power" \
        else function
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = _central_jacobian(differenced, A)
    np.testing.assert_allclose(dense, reference, atol=2e-8 * max(1.0, np.abs(reference).max()))
    np.testing.assert_allclose(J.tosparse().toarray(), dense, rtol=0, atol=1e-15 * max(1.0, np.abs(dense).max()))
    # block structure: member k's rows only see member k's columns (k + K·a, k + K·b)
    K = A.size // (N * N)
    rows, columns = np.nonzero(dense)
    assert np.all(rows % K == columns % K)
    # dot test and the gradient (the VJP) against Jᵀ
    u, v = RNG.standard_normal(A.size), RNG.standard_normal(A.size)
    assert abs(u @ J.matvec(v) - J.rmatvec(u) @ v) <= 1e-12 * np.linalg.norm(u) * np.linalg.norm(J.matvec(v)) * 10
    W = RNG.standard_normal(A.shape)
    g = kronvec.grad(lambda X: np.sum(W * function(X)))(A)
    np.testing.assert_allclose(g.ravel(order="F"), dense.T @ W.ravel(order="F"), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_hvp_on_stacks_matches_differences_of_the_gradient(name):
    function, _, general, mixed = FUNCTIONS[name]
    A = mixed()[:2] if name != "fractional_matrix_power" else SPD[:2]
    W, D = RNG.standard_normal(A.shape), RNG.standard_normal(A.shape)
    if name == "fractional_matrix_power":  # symmetric positive definite input only: symmetric directions
        D = (D + np.swapaxes(D, -1, -2)) / 2

    def objective(X):
        return np.sum(W * function(X))

    hv = kronvec.hvp(objective)(A, D)
    h = 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = (kronvec.grad(objective)(A + h * D) - kronvec.grad(objective)(A - h * D)) / (2 * h)
    np.testing.assert_allclose(hv, reference, rtol=1e-6, atol=1e-7)


def test_expm_stack_agrees_with_scipy_member_by_member():
    # norms from 1e-3 to 60 (0 to 4 squarings at θ₁₃ ≈ 5.4), one diagonal and one nilpotent member
    A = np.stack([s * RNG.standard_normal((4, 4)) for s in (1e-3, 0.5, 3.0, 15.0)]
                 + [np.diag([1.0, -2.0, 0.5, 3.0]), np.triu(np.ones((4, 4)), 1)])
    E = expm_stack(A)
    for a, e in zip(A, E):
        reference = sl.expm(a)
        np.testing.assert_allclose(e, reference, rtol=1e-12, atol=1e-13 * np.abs(reference).max())


@pytest.mark.filterwarnings("ignore:logm result may be inaccurate")  # (SciPy's error estimate for its reference)
def test_batched_frechet_derivatives_agree_with_scipy():
    # Its own generator: drawn from the module's RNG, the members depended on which tests
    # ran before in the same xdist worker, and some draws failed. Two backward-stable
    # evaluations differ by about the condition number times u. Over 150 draws of these
    # stacks (2,250 directions), the largest difference from expm_frechet was 8.8e-14 of
    # its max|L| for the differentiated Padé (the bound here was 1e-14) and 1.5e-13 for the
    # block identity (bound 1e-13). Over 1,500 logm members it was 3.3e-13 (bound 1e-13,
    # exceeded by 7 %). So every bound is 1e-12.
    rng = np.random.default_rng(1913)
    # expm: the differentiated Padé against expm_frechet, and the block identity against both
    A = np.stack([s * rng.standard_normal((4, 4)) for s in (1e-3, 0.5, 3.0, 40.0)] + [np.triu(np.ones((4, 4)), 1)])
    E = rng.standard_normal((5, 3, 4, 4))
    L = expm_frechet_stack(A, E)
    block = frechet_stack("expm", np.repeat(A, 3, axis=0), E.reshape(-1, 4, 4)).reshape(L.shape)
    for k, c in np.ndindex(5, 3):
        reference = sl.expm_frechet(A[k], E[k, c], compute_expm=False)
        np.testing.assert_allclose(L[k, c], reference, rtol=0, atol=1e-12 * np.abs(reference).max())
        np.testing.assert_allclose(block[k, c], reference, rtol=0, atol=1e-12 * np.abs(reference).max())
    # logm: the batched inverse scaling and squaring against SciPy, from near I to far from it
    A = np.stack([shift * np.eye(4) + scale * rng.standard_normal((4, 4)) / 2
                  for shift, scale in ((1.0, 0.01), (2.0, 0.5), (10.0, 5.0), (1e-3, 2e-4), (3.0, 1.5))])
    for a, log in zip(A, logm_stack(A)):
        reference = sl.logm(a)
        np.testing.assert_allclose(log, reference, rtol=0, atol=1e-12 * np.abs(reference).max())


def test_frechet_of_expm_on_stacks_agrees_with_expm_frechet():
    A = RNG.standard_normal((4, 3, 3)) * np.array([0.1, 1.0, 4.0, 10.0])[:, None, None]
    J = kronvec.jacobian(kl.expm)(A)
    E = RNG.standard_normal(A.shape) * 1e3  # (a large direction: scaled inside, so no accuracy is lost)
    applied = J.matvec(E.ravel(order="F")).reshape(A.shape, order="F")
    for a, e, got in zip(A, E, applied):
        reference = sl.expm_frechet(a, e, compute_expm=False)
        np.testing.assert_allclose(got, reference, rtol=1e-10, atol=1e-12 * np.abs(reference).max())


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("function", [kl.expm, kl.logm, kl.sqrtm, lambda A: kl.fractional_matrix_power(A, 0.5)],
                         ids=["expm", "logm", "sqrtm", "power"])
def test_a_nan_member_is_named(function):
    A = SPD.copy()
    A[2, 1, 0, 1] = np.nan
    with pytest.raises(ValueError, match=r"a member of the stack of shape \(3, 2, 3, 3\).*batch index \(2, 1\)"):
        function(A)


@pytest.mark.parametrize("member", [np.diag([-1.0, 2.0, 3.0]), np.array([[-2.0, 1.0, 0.0], [0.0, 3.0, 0.0],
                                                                          [0.0, 0.0, 1.0]])],
                         ids=["symmetric", "general"])
@pytest.mark.parametrize("function", [kl.logm, kl.sqrtm], ids=["logm", "sqrtm"])
def test_a_member_without_a_real_result_is_named(function, member):
    A = _general(2.0)
    A[1, 1] = member
    with pytest.raises(np.linalg.LinAlgError, match=r"batch index \(1, 1\)"):
        function(A)


@pytest.mark.parametrize("member", [np.diag([0.0, 2.0, 3.0]), np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0],
                                                                         [0.0, 0.0, 1.0]])],
                         ids=["symmetric", "general"])
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # (SciPy's, for the singular member's root)
def test_a_singular_member_is_named(member):
    A = _general(2.0)
    A[0, 1] = member
    with pytest.raises(np.linalg.LinAlgError, match=r"singular, at batch index \(0, 1\)"):
        kl.logm(A)
    S = kl.sqrtm(A)  # the square root exists ...
    assert np.isfinite(S).all()
    with pytest.raises(np.linalg.LinAlgError, match=r"singular, at batch index \(0, 1\)"):
        kronvec.grad(lambda X: np.sum(kl.sqrtm(X)))(A)  # ... its derivative does not
    with pytest.raises(np.linalg.LinAlgError, match=r"singular, at batch index \(0, 1\)"):
        kronvec.jacobian(kl.sqrtm)(A)


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_a_singular_matrix_without_a_square_root_is_refused():
    nilpotent = np.triu(np.ones((3, 3)), 1)
    with pytest.raises(np.linalg.LinAlgError, match="no square root"):
        kl.sqrtm(nilpotent)
    A = _general(2.0)
    A[2, 0] = nilpotent
    with pytest.raises(np.linalg.LinAlgError, match=r"without a square root, at batch index \(2, 0\)"):
        kl.sqrtm(A)


def test_fractional_power_names_members_that_are_not_symmetric_positive_definite():
    A = SPD.copy()
    A[0, 1, 0, 2] += 0.1
    with pytest.raises(np.linalg.LinAlgError, match=r"not symmetric, at batch index \(0, 1\)"):
        kl.fractional_matrix_power(A, 0.5)
    A = SPD.copy()
    A[1, 0] = np.diag([-1.0, 1.0, 2.0])
    with pytest.raises(np.linalg.LinAlgError, match=r"not positive definite, at batch index \(1, 0\)"):
        kl.fractional_matrix_power(A, 0.5)


def test_errest_on_stacks_is_per_member():
    A = _general(2.0)
    with pytest.warns(DeprecationWarning):
        F, errest = kl.logm(A, disp=False)
    assert errest.shape == A.shape[:-2] and np.all(errest < 1e-12)
    with pytest.warns(DeprecationWarning):
        S, errest = kl.sqrtm(A, disp=False)
    assert errest.shape == A.shape[:-2] and np.all(errest < 1e-12)


# ----------------------------------------------------------- decompositions
GENERAL = 2 * np.eye(N) + 0.5 * RNG.standard_normal((3, 2, N, N))
TALL = RNG.standard_normal((2, 4, 3))

DECOMPOSITIONS = {
    "cholesky": (lambda A: kl.cholesky(A), lambda A: sl.cholesky(A), SPD, True),
    "cholesky lower": (lambda A: kl.cholesky(A, lower=True), lambda A: sl.cholesky(A, lower=True), SPD, True),
    "det": (kl.det, sl.det, GENERAL, False),
    "inv": (kl.inv, sl.inv, GENERAL, False),
    "inv sym": (lambda A: kl.inv(A, assume_a="sym"), lambda A: sl.inv(A, assume_a="sym"), SPD, True),
    "eigh values": (lambda A: kl.eigh(A)[0], lambda A: sl.eigh(A)[0], SPD, True),
    "eigh vectors": (lambda A: kl.eigh(A)[1], None, SPD, True),
    "eigh subset_by_index": (lambda A: kl.eigh(A, subset_by_index=(1, 2))[0],
                             lambda A: sl.eigh(A, subset_by_index=(1, 2))[0], SPD, True),
    "eigvalsh": (kl.eigvalsh, sl.eigvalsh, SPD, True),
    "svd U": (lambda A: kl.svd(A)[0], lambda A: sl.svd(A)[0], GENERAL, False),
    "svd s": (lambda A: kl.svd(A)[1], lambda A: sl.svd(A)[1], GENERAL, False),
    "svd Vh, tall": (lambda A: kl.svd(A, full_matrices=False)[2], lambda A: sl.svd(A, full_matrices=False)[2],
                     TALL, False),
    "svdvals": (kl.svdvals, sl.svdvals, TALL, False),
    "qr Q": (lambda A: kl.qr(A)[0], lambda A: sl.qr(A)[0], GENERAL, False),
    "qr R economic, tall": (lambda A: kl.qr(A, mode="economic")[1], lambda A: sl.qr(A, mode="economic")[1],
                            TALL, False),
    "qr mode r, tall": (lambda A: kl.qr(A, mode="r"), lambda A: sl.qr(A, mode="r"), TALL, False),
}


@pytest.mark.parametrize("name", DECOMPOSITIONS)
def test_decompositions_on_stacks(name):
    function, scipy_function, A, symmetric = DECOMPOSITIONS[name]
    value = function(A)
    if scipy_function is not None:  # (eigenvector signs are NumPy's, as for 2-D input)
        np.testing.assert_allclose(value, scipy_function(A), rtol=1e-13, atol=1e-13)
    members = _members(A)
    flat = value.reshape((-1,) + value.shape[A.ndim - 2:]) if value.ndim > A.ndim - 2 else value.reshape(-1)
    for a, v in zip(members, flat.reshape((len(members),) + value.shape[A.ndim - 2:]) if value.ndim else flat):
        expected = function(a)[0] if name == "qr mode r, tall" else function(a)
        np.testing.assert_array_equal(v, expected)
    W = RNG.standard_normal(np.shape(value))
    D = RNG.standard_normal(A.shape)
    if symmetric:
        D = (D + np.swapaxes(D, -1, -2)) / 2

    def objective(X):
        return np.sum(W * function(X))

    g = kronvec.grad(objective)(A)
    h = 1e-6
    assert abs(np.sum(g * D) - (objective(A + h * D) - objective(A - h * D)) / (2 * h)) <= 1e-7 * max(
        1.0, np.abs(g).sum())
    J = kronvec.jacobian(function)(A)
    np.testing.assert_allclose(J.toarray().T @ W.ravel(order="F"), g.ravel(order="F"), rtol=1e-10, atol=1e-12)


def test_decompositions_name_nan_members():
    A = SPD.copy()
    A[1, 1, 2, 2] = np.inf
    with pytest.raises(ValueError, match=r"a member of the stack of shape \(3, 2, 3, 3\), at batch index \(1, 1\)"):
        kl.cholesky(A)
    with pytest.raises(ValueError, match=r"batch index \(1, 1\)"):
        kl.eigh(A)
