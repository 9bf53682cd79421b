"""Batched Fréchet derivatives of the general-matrix Jacobians (notes/derivatives.md §43).

``FrechetOperator`` applies many directions at once — expm by a batched Al-Mohy & Higham
(2009) algorithm (:class:`kronvec._linalg.expm_frechet.ExpmFrechetPlan`), logm and
fractional powers through one eigendecomposition where it is accurate
(:class:`kronvec._linalg.eigen_frechet.EigenFrechetPlan`), else the block identity
column by column — and ``SecondFrechetOperator`` the same way at order 2n.

References are independent of the batched code: ``scipy.linalg.expm_frechet`` per
column (same algorithm, same choices: agreement to rounding, 1e-13 scaled); SciPy's
logm/fractional_matrix_power of the 2n×2n block matrix per column (the block identity;
1e-10 scaled: SciPy's inverse scaling and squaring and Schur–Padé are accurate to about
1e-12 on these inputs, the eigendecomposition to κ₂(V)²·u, κ₂(V) < 30 here);
closed-form divided differences of conjugate pairs (arg λ / Im λ); central finite
differences.  Timing is measured in benchmarks/measure_frechet_batched.py, not here.
"""

from __future__ import annotations


import numpy as np
import pytest
import scipy.linalg as sl

import kronvec
from kronvec._linalg import eigen_frechet
from kronvec._linalg.eigen_frechet import EigenFrechetPlan, divided_differences
from kronvec._linalg.expm_frechet import ELL, ExpmFrechetPlan, pade_choice
from kronvec.ops import matrix_functions as mf
from kronvec.ops.matrix_functions import FrechetOperator, SecondFrechetOperator, fractional_power
from kronvec.scipy import linalg as kl

from _helpers import assert_scaled_close, central_difference_jacobian, dot_test, peak_memory, run_in_threads

RNG = np.random.default_rng(41)


def _with_norm(n, norm, seed):
    """A random non-symmetric n×n matrix of 1-norm `norm`."""
    A = np.random.default_rng(seed).standard_normal((n, n))
    if n > 1:
        A += 0.3 * np.triu(np.ones((n, n)), 1)  # (never symmetric, even by chance)
    return A * (norm / np.abs(A).sum(axis=0).max())


def _units(n):
    return np.eye(n * n)


def _per_column(apply, n, X):
    """apply(E) for the directions E = unvec(X[:, j]), one at a time, stacked as columns."""
    return np.stack([kronvec.vec(apply(kronvec.unvec(X[:, j], (n, n)))) for j in range(X.shape[1])], axis=1)


def _block(f, A, E):
    """L_f(A, E) by the block identity with SciPy's f at order 2n."""
    n = A.shape[0]
    F = f(np.block([[A, E], [np.zeros((n, n)), A]]))
    return np.real(F[:n, n:])


def _logm(M):
    return sl.logm(M)


def _power(M):
    return sl.fractional_matrix_power(M, 0.3)


# ------------------------------------------------------------------ expm
# ‖A‖₁ picked to land on each of SciPy's choices (m, s): ℓ₃ = 0.0108, ℓ₅ = 0.2, ℓ₇ = 0.783,
# ℓ₉ = 1.78, ℓ₁₃ = 4.74 (s = 0), then 13 with s = 3 and s = 7
EXPM_CASES = {(3, 0): 0.005, (5, 0): 0.15, (7, 0): 0.6, (9, 0): 1.5, (13, 0): 3.0, (13, 3): 30.0, (13, 7): 500.0}


def test_pade_choice_is_scipys():
    # the table is SciPy's own (where this SciPy exposes it), and the choice follows it
    table = pytest.importorskip("scipy.linalg._expm_frechet").ell_table_61
    assert all(ELL[m] == table[m] for m in ELL)
    for m in (3, 5, 7, 9):
        assert pade_choice(ELL[m]) == (m, 0)
        assert pade_choice(np.nextafter(ELL[m], np.inf))[0] > m
    assert pade_choice(0.0) == (3, 0)
    assert pade_choice(ELL[13]) == (13, 0)
    assert pade_choice(np.nextafter(ELL[13], np.inf)) == (13, 1)
    assert pade_choice(4 * ELL[13]) == (13, 2)


@pytest.mark.parametrize("n", [1, 2, 5, 9])
@pytest.mark.parametrize("choice", list(EXPM_CASES))
def test_batched_expm_matches_scipy_per_column(n, choice):
    A = _with_norm(n, EXPM_CASES[choice], seed=10 * n + choice[0] + choice[1])
    plan = ExpmFrechetPlan(A)
    assert (plan.m, plan.s) == choice  # (every degree and a scaling are exercised)
    J = FrechetOperator("expm", A, None)
    X = np.random.default_rng(n).standard_normal((n * n, 7))
    expected = _per_column(lambda E: sl.expm_frechet(A, E, compute_expm=False), n, X)
    assert_scaled_close(J.matmat(X), expected, 1e-13, f"n = {n}, (m, s) = {choice}: matmat")
    # the transpose: L(Aᵀ, G), with the choice SciPy makes for Aᵀ
    expected_T = _per_column(lambda G: sl.expm_frechet(A.T, G, compute_expm=False), n, X)
    assert_scaled_close(J.T.matmat(X), expected_T, 1e-13, f"n = {n}, (m, s) = {choice}: J.T matmat")
    assert_scaled_close(J.rmatmat(X), expected_T, 1e-13, f"n = {n}, (m, s) = {choice}: rmatmat")


def test_plan_apply_takes_a_stack_and_leaves_it_alone():
    for n, k in ((1, 1), (1, 3), (4, 1), (4, 5)):  # (with a unit axis, a transposed view is contiguous)
        A = _with_norm(n, 3.0, seed=n)
        E = RNG.standard_normal((k, n, n))
        before = E.copy()
        L = ExpmFrechetPlan(A).apply(E)
        np.testing.assert_array_equal(E, before)
        expected = np.stack([sl.expm_frechet(A, e, compute_expm=False) for e in E])
        assert_scaled_close(L, expected, 1e-13, f"n = {n}, k = {k}")
    assert ExpmFrechetPlan(np.zeros((0, 0))).apply(np.zeros((2, 0, 0))).shape == (2, 0, 0)


def test_matmat_leaves_its_input_alone():
    for kind, A in (("expm", _with_norm(3, 3.0, 1)), ("logm", 2 * np.eye(3) + _with_norm(3, 0.5, 2))):
        J = FrechetOperator(kind, A, None)
        for X in (RNG.standard_normal((9, 4)), RNG.standard_normal((9, 1)), np.asfortranarray(RNG.standard_normal((9, 3)))):
            before = X.copy()
            J.matmat(X)
            J.T.matmat(X)
            np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("kind", ["expm", "logm", "power"])
def test_toarray_matches_matmat_of_the_identity_and_the_transpose(kind):
    n = 6
    A = _with_norm(n, 3.0, seed=3) if kind == "expm" else 2 * np.eye(n) + _with_norm(n, 0.6, seed=3)
    J = FrechetOperator(kind, A, None, t=0.3 if kind == "power" else None)
    dense = J.toarray()
    f = {"expm": lambda E: sl.expm_frechet(A, E, compute_expm=False),
         "logm": lambda E: _block(_logm, A, E), "power": lambda E: _block(_power, A, E)}[kind]
    assert_scaled_close(dense, _per_column(f, n, _units(n)), 1e-13 if kind == "expm" else 1e-10, f"{kind}: toarray")
    assert_scaled_close(J.T.toarray(), dense.T, 1e-13, f"{kind}: J.T.toarray")
    dot_test(J, np.random.default_rng(5), k=4)
    dot_test(J.T, np.random.default_rng(6), k=4)


# ------------------------------------------------- against finite differences
@pytest.mark.parametrize("name", ["expm", "expm, scaled (s > 0)", "logm", "fractional_power(·, 0.3)"])
def test_jacobian_toarray_against_finite_differences(name):
    n = 3
    if name.startswith("expm"):
        A = _with_norm(n, 12.0 if "scaled" in name else 1.0, seed=7)
        f, reference = kl.expm, sl.expm
    elif name == "logm":
        A = 2 * np.eye(n) + _with_norm(n, 1.0, seed=7)
        f, reference = kl.logm, _logm
    else:
        A = 2 * np.eye(n) + _with_norm(n, 1.0, seed=7)
        f, reference = (lambda X: fractional_power(X, t=0.3)), _power
    J = kronvec.jacobian(f)(A)
    assert isinstance(J, FrechetOperator)
    expected = central_difference_jacobian(lambda X: np.real(reference(X)), (A,))
    # (central differences with h = 1e-6·max(1, |x|): truncation and rounding ≈ 1e-9 relative;
    # e^A at ‖A‖₁ = 12 has entries near 1e4, so the check is relative to the largest)
    assert_scaled_close(J.toarray(), expected, 1e-6, f"{name}: toarray vs FD")


# ------------------------------------------------------------- logm and powers
def _normal_with_close_pair(b, seed):
    """Q ([[2, b], [−b, 2]] ⊕ [3, 1.5]) Qᵀ: normal, not symmetric, eigenvalues 2 ± ib close."""
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((4, 4)))
    T = np.zeros((4, 4))
    T[:2, :2] = [[2.0, b], [-b, 2.0]]
    T[2, 2], T[3, 3] = 3.0, 1.5
    return Q @ T @ Q.T


@pytest.mark.parametrize("kind", ["logm", "power"])
@pytest.mark.parametrize("b", [1e-3, 1e-9, 1e-14])
def test_close_conjugate_eigenvalues_stay_accurate(kind, b):
    A = _normal_with_close_pair(b, seed=8)
    plan = EigenFrechetPlan(A, kind, 0.3 if kind == "power" else None)
    assert plan.usable, plan.reason  # (κ₂(V) = 1: a normal matrix)
    J = FrechetOperator(kind, A, None, t=0.3 if kind == "power" else None)
    f = _logm if kind == "logm" else _power
    expected = _per_column(lambda E: _block(f, A, E), 4, _units(4))
    assert_scaled_close(J.toarray(), expected, 1e-10, f"{kind}, Im λ = ±{b:g}")


def test_exactly_repeated_eigenvalues():
    # lower triangular, diagonalizable (A − 2I has rank 1): eig returns 2, 2, 3 exactly
    A = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    for kind, f in (("logm", _logm), ("power", _power)):
        plan = EigenFrechetPlan(A, kind, 0.3)
        assert plan.usable, plan.reason
        J = FrechetOperator(kind, A, None, t=0.3)
        assert_scaled_close(J.toarray(), _per_column(lambda E: _block(f, A, E), 3, _units(3)), 1e-11, kind)


def _closed_form(kind, a, b, t=0.3):
    """f[λ, λ̄] for λ = a + ib (b ≠ 0): (f(λ) − f(λ̄))/(2ib) = Im f(λ)/b, with
    Im log λ = θ = atan2(b, a) and Im λ^t = |λ|^t sin(tθ): no cancellation in either."""
    theta = np.arctan2(b, a)
    return theta / b if kind == "logm" else np.hypot(a, b) ** t * np.sin(t * theta) / b


@pytest.mark.parametrize("kind", ["logm", "power"])
@pytest.mark.parametrize("a, b", [(2.0, 1e-12), (2.0, 1e-6), (2.0, 0.5), (-1.0, 1e-3), (-1.0, 0.5), (-3.0, 1e-9),
                                  (1e-3, 1e3), (0.3, 4.0)])
def test_divided_differences_of_conjugate_pairs(kind, a, b):
    # (a < 0: the pair straddles the cut, log λ − log λ̄ = 2iθ with θ near π: the unwinding term)
    G = divided_differences(kind, np.array([a + 1j * b, a - 1j * b]), 0.3)
    expected = _closed_form(kind, a, b)
    assert abs(G[0, 1] - expected) <= 4e-15 * abs(expected)
    assert abs(G[1, 0] - expected) <= 4e-15 * abs(expected)


@pytest.mark.parametrize("t", [0.3, -1.7, 2.5])
def test_divided_differences_of_close_real_eigenvalues(t):
    for lam, delta in ((2.0, 1e-13), (2.0, 1e-7), (0.01, 1e-9), (5.0, 3.0)):
        G = divided_differences("logm", np.array([lam, lam + delta], dtype=complex))
        assert abs(G[0, 1] - np.log1p(delta / lam) / delta) <= 4e-15 / lam
        G = divided_differences("power", np.array([lam, lam + delta], dtype=complex), t)
        expected = lam ** t * np.expm1(t * np.log1p(delta / lam)) / delta
        assert abs(G[0, 1] - expected) <= 4e-15 * abs(expected)
        assert G[0, 0] == pytest.approx(t * lam ** (t - 1), rel=1e-15)


def test_ill_conditioned_eigenvectors_fall_back_to_the_block_identity():
    # a perturbed Jordan block: κ₂(V) ≈ 1e6, where V(Γ ∘ V⁻¹EV)V⁻¹ would lose ~κ²u ≈ 1e-4
    Q, _ = np.linalg.qr(np.random.default_rng(9).standard_normal((3, 3)))
    A = Q @ np.array([[2.0, 1.0, 0.0], [0.0, 2.0 + 1e-6, 0.5], [0.0, 0.0, 3.0]]) @ Q.T
    for kind, f, reference in (("logm", kl.logm, _logm),
                               ("power", lambda X: fractional_power(X, t=0.3), _power)):
        plan = EigenFrechetPlan(A, kind, 0.3)
        assert not plan.usable and "ill conditioned" in plan.reason and plan.condition > 1e5
        J = kronvec.jacobian(f)(A)
        dense = J.toarray()
        assert_scaled_close(dense, _per_column(lambda E: _block(reference, A, E), 3, _units(3)), 1e-12,
                            f"{kind}: the block identity")
        assert_scaled_close(dense, central_difference_jacobian(lambda X: np.real(reference(X)), (A,)), 1e-6,
                            f"{kind}: toarray vs FD")
        dot_test(J, np.random.default_rng(10), k=3)


def test_the_eigendecomposition_is_refused_where_it_does_not_apply():
    assert "negative real axis" in EigenFrechetPlan(np.diag([-1.0, 2.0]) + np.triu(np.ones((2, 2)), 1),
                                                    "power", 2.0).reason
    assert "singular" in EigenFrechetPlan(np.array([[0.0, 1.0], [0.0, 1.0]]), "power", 2.0).reason
    with pytest.raises(ValueError, match="not usable"):
        EigenFrechetPlan(np.array([[1.0, 1.0], [0.0, 1.0]]), "logm").apply_rows(np.zeros((2, 1, 2)))


def test_condition_limit_keeps_the_error_of_the_similarity_small():
    # the error of V(Γ ∘ V⁻¹EV)V⁻¹ grows like κ₂(V)²·u (a perturbed Jordan block of gap δ has
    # κ₂(V) ≈ 2/δ): at the limit it stays below 1e-10 against the block identity (accurate
    # to ~1e-15 on these: the problem itself is well conditioned)
    Q, _ = np.linalg.qr(np.random.default_rng(12).standard_normal((3, 3)))
    for delta in (1e-1, 3e-3):
        A = Q @ np.array([[2.0, 1.0, 0.0], [0.0, 2.0 + delta, 0.0], [0.0, 0.0, 3.0]]) @ Q.T
        plan = EigenFrechetPlan(A, "logm")
        assert plan.usable and plan.condition <= eigen_frechet.CONDITION_LIMIT
        dense = FrechetOperator("logm", A, None).toarray()
        expected = _per_column(lambda E: _block(_logm, A, E), 3, _units(3))
        assert_scaled_close(dense, expected, 1e-10, f"δ = {delta:g}, κ₂(V) = {plan.condition:.3g}")


# ------------------------------------------------------------- SecondFrechetOperator
@pytest.mark.parametrize("norm", [0.05, 1.0, 40.0])
def test_second_frechet_batched_matches_per_column(norm):
    n = 4
    A, E = _with_norm(n, norm, seed=11), RNG.standard_normal((n, n))
    J = SecondFrechetOperator(A, E)
    X = np.random.default_rng(12).standard_normal((n * n, 6))
    for op in (J, J.T):
        expected = np.stack([op._apply_one(kronvec.unvec(x, (n, n))).ravel(order="F") for x in X.T], axis=1)
        assert_scaled_close(op.matmat(X), expected, 1e-13, f"‖A‖₁ = {norm}, transposed = {op.transposed}")
    dot_test(J, np.random.default_rng(13), k=4)
    dense = J.toarray()
    fd = central_difference_jacobian(lambda Y: sl.expm_frechet(Y, E, compute_expm=False), (A,))
    assert_scaled_close(dense, fd, 1e-6, "toarray vs FD")


# --------------------------------------------------------------- chunks and memory
def test_several_chunks_give_the_one_chunk_result(monkeypatch):
    n = 5
    A = _with_norm(n, 30.0, seed=14)
    X = np.random.default_rng(15).standard_normal((n * n, 25))
    whole = FrechetOperator("expm", A, None).matmat(X)
    calls = []
    apply_rows = ExpmFrechetPlan.apply_rows

    def counted(self, S, overwrite=False):
        calls.append(S.shape[1])
        return apply_rows(self, S, overwrite)

    monkeypatch.setattr(ExpmFrechetPlan, "apply_rows", counted)
    monkeypatch.setattr(mf, "_CHUNK_BYTES", 8 * n * n * 3)  # three directions a chunk
    chunked = FrechetOperator("expm", A, None).matmat(X)
    assert len(calls) == 9 and sum(calls) == 25 and max(calls) <= 3
    assert_scaled_close(chunked, whole, 1e-14, "chunks of 3 vs one chunk")
    assert_scaled_close(whole, _per_column(lambda E: sl.expm_frechet(A, E, compute_expm=False), n, X), 1e-13,
                        "vs SciPy")


def _smallest_accepted_limit(call, low, high):
    while high - low > max(64, high // 1000):
        middle = (low + high) // 2
        try:
            with kronvec.config.override(dense_limit_bytes=middle):
                call()
            high = middle
        except MemoryError:
            low = middle
    return high


MEMORY_CASES = {
    "expm, m = 9": lambda: FrechetOperator("expm", _with_norm(12, 1.5, 16), None),
    "expm, m = 13, s = 6": lambda: FrechetOperator("expm", _with_norm(12, 250.0, 16), None),
    "logm (complex eigenvalues)": lambda: FrechetOperator("logm", 2 * np.eye(12) + _with_norm(12, 2.0, 16), None),
    "second Fréchet derivative": lambda: SecondFrechetOperator(_with_norm(8, 3.0, 16), _with_norm(8, 1.0, 17)),
}


@pytest.mark.parametrize("name", MEMORY_CASES)
def test_toarray_peak_stays_within_its_estimate_plan_included(name):
    # a new operator each time: its plan is built inside the measured toarray
    make = MEMORY_CASES[name]
    reference = make().toarray()
    limit = make().dense_peak_nbytes
    with kronvec.config.override(dense_limit_bytes=limit):
        dense, peak = peak_memory(make().toarray)
    assert peak <= limit, f"peak {peak:,} bytes above the estimate {limit:,}"
    np.testing.assert_array_equal(dense, reference)
    # and at the tightest limit accepted: narrow blocks, several of them, still within it
    op = make()
    tight = _smallest_accepted_limit(lambda: make().toarray(), op.dense_nbytes, limit)
    assert tight < limit
    with kronvec.config.override(dense_limit_bytes=tight):
        dense, peak = peak_memory(make().toarray)
    assert peak <= tight, f"peak {peak:,} bytes above the tight limit {tight:,}"
    assert_scaled_close(dense, reference, 1e-13, f"{name}: narrow blocks")


@pytest.mark.parametrize("name", MEMORY_CASES)
def test_toarray_counts_the_plan_it_will_build(name, monkeypatch):
    # the plan's own allocation is bounded by _setup_nbytes (measured below); toarray's
    # estimate must include it, whichever way the result is filled
    op = MEMORY_CASES[name]()
    setup = op._setup_nbytes()
    assert setup >= 16 * op.n * op.n * 8
    counted = op.dense_peak_nbytes
    monkeypatch.setattr(type(op), "_setup_nbytes", lambda self: 0)
    assert MEMORY_CASES[name]().dense_peak_nbytes == counted - setup


def test_plan_workspace_constants_are_measured():
    n, k = 16, 24
    unit = n * k * n * 8
    S = RNG.standard_normal((n, k, n))
    for norm in (0.005, 0.15, 0.6, 1.5, 3.0, 60.0):  # every degree, and squarings
        plan = ExpmFrechetPlan(_with_norm(n, norm, 17))
        _, peak = peak_memory(lambda: plan.apply_rows(S.copy(), overwrite=True))
        assert peak <= (ExpmFrechetPlan.WORKSPACE + 1) * unit + (64 << 10), f"m = {plan.m}: {peak / unit:.2f} arrays"
        _, peak = peak_memory(lambda: ExpmFrechetPlan(_with_norm(n, norm, 17)))
        assert peak <= ExpmFrechetPlan.setup_entries(n, plan.s) * 8 + (16 << 10)
    plan = EigenFrechetPlan(2 * np.eye(n) + _with_norm(n, 2.0, 18), "logm")
    assert plan.usable and np.iscomplexobj(plan.V)
    _, peak = peak_memory(lambda: plan.apply_rows(S))
    assert peak <= EigenFrechetPlan.WORKSPACE * unit + (64 << 10), f"eig: {peak / unit:.2f} arrays"
    _, peak = peak_memory(lambda: EigenFrechetPlan(2 * np.eye(n) + _with_norm(n, 2.0, 18), "logm"))
    assert peak <= EigenFrechetPlan.setup_entries(n) * 8 + (16 << 10)


# --------------------------------------------------------------- laziness and threads
def test_the_plan_is_built_on_the_first_batched_apply_only():
    A = _with_norm(6, 3.0, 19)
    J = kronvec.jacobian(kl.expm)(A)
    assert "_lazy_plan" not in J.__dict__  # building the Jacobian builds no plan
    J.matvec(RNG.standard_normal(36))  # one column: SciPy's expm_frechet
    assert "_lazy_plan" not in J.__dict__
    J.matmat(RNG.standard_normal((36, 2)))
    plan = J.__dict__["_lazy_plan"]
    J.matmat(RNG.standard_normal((36, 3)))
    assert J.__dict__["_lazy_plan"] is plan  # kept
    assert "_lazy_plan" not in J.T.__dict__  # the transpose builds its own, for Aᵀ, when it needs one
    J.T.matmat(RNG.standard_normal((36, 2)))
    np.testing.assert_array_equal(J.T.__dict__["_lazy_plan"].A, ExpmFrechetPlan(A.T).A)
    assert all(not array.flags.writeable for array in (plan.A, plan.R, plan.W, plan.q_inverse, *plan.squares,
                                                       *plan.powers.values()))


def test_a_pickled_operator_leaves_its_plan_behind_and_rebuilds_it():
    import pickle

    A = _with_norm(5, 3.0, 21)
    J = kronvec.jacobian(kl.expm)(A)
    X = RNG.standard_normal((25, 4))
    Y = J.matmat(X)  # (builds the plan)
    assert "_lazy_plan" in J.__dict__
    copy = pickle.loads(pickle.dumps(J))
    assert "_lazy_plan" not in copy.__dict__
    np.testing.assert_array_equal(copy.matmat(X), Y)


@pytest.mark.parametrize("kind", ["expm", "logm"])
def test_threads_materializing_one_new_operator_get_the_serial_result(kind):
    n = 10
    A = _with_norm(n, 8.0, 20) if kind == "expm" else 2 * np.eye(n) + _with_norm(n, 2.0, 20)
    serial = FrechetOperator(kind, A, None).toarray()
    serial_T = FrechetOperator(kind, A, None).T.toarray()
    shared = FrechetOperator(kind, A, None)  # no plan yet: the threads race to build it
    results = [None] * 4

    def work(i):
        results[i] = (shared.T if i % 2 else shared).toarray()

    run_in_threads(work, 4)
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, serial_T if i % 2 else serial)
