"""Safety of the structured operators (DESIGN.md §4, §8).

* calls share nothing: threads applying and materializing shared DAGs get
  the serial results bit for bit;
* deep DAGs (10⁴ chained operations) apply, transpose, materialize and print
  without recursion, and a row times a DAG stays numerically stable;
* ``toarray``/``tosparse`` keep their *peak* memory within the limits;
* formula labels are true: only named matrices are named, anonymous ones
  get placeholders numbered within one formula;
* operators own their memory: later changes to the caller's arrays change
  nothing, and nothing returned aliases an operator's data writeably;
* wrong input gives a clear exception, never a crash inside a kernel.

Each test guards against a defect present at commit c0d938b.

Dense references are computed independently with ``np.kron`` and matrix
products, step by step.  Tolerances: the deep chains are contractions or
O(1)-conditioned, so their rounding errors stay at a few hundred ulps
(1e-12 relative); the y·y/‖y‖ chain amplifies rounding by its own
conditioning, ~1e3 at depth 80, so the brief's 1e-10 bound is used there.
"""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import kronvec
from kronvec.operators import Contraction
from kronvec import (
    Commutation,
    Dense,
    Diag,
    Duplication,
    Elimination,
    Identity,
    Kron,
    Product,
    RowVector,
    Scaled,
    Selection,
    Sparse,
    Sum,
    algebra,
)
from kronvec._vec import vec
from kronvec.operators import Wrapped, selection_from_index

from _helpers import commutation_dense, dense_of, peak_memory

TOL = dict(rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# operators built the way forward composition builds Jacobians
# --------------------------------------------------------------------------


def norm_chain(depth, n=3, seed=0):
    """J of y ← y·y/‖y‖_F + X (y₀ = X) after `depth` steps, with a dense reference.

    One step: d(yy) = dy·y + y·dy, so D(yy) = S J with S = yᵀ ⊗ I + I ⊗ y;
    d‖y‖ = vec(y)ᵀ vec(dy)/‖y‖.  Hence
    J ← S J/‖y‖ − vec(yy)/‖y‖² · (vec(y)ᵀ/‖y‖) J + I.
    The reference does the same in float64 dense matrices, the rank-one
    correction cancelling at each step.
    """
    rng = np.random.default_rng(seed)
    X = 0.3 * rng.standard_normal((n, n))
    eye, eye_n = np.eye(n * n), np.eye(n)
    y, J, reference = X.copy(), Identity(n * n), eye.copy()
    for _ in range(depth):
        yy, norm = y @ y, np.linalg.norm(y)
        S = Kron(Dense(y.T), Identity(n)) + Kron(Identity(n), Dense(y))
        row = RowVector(vec(y) / norm)
        column = Dense(-vec(yy).reshape(-1, 1) / norm**2)
        J = (1.0 / norm) * (S @ J) + column @ (row @ J) + Identity(n * n)
        step = (np.kron(y.T, eye_n) + np.kron(eye_n, y)) / norm
        reference = step @ reference + column.M @ (row.v[None, :] @ reference) + eye
        y = yy / norm + X
    return J, reference


def contracting_chain(depth, n=3, seed=1):
    """J ← ¼((I ⊗ Q) J + (Qᵀ ⊗ I) J) + I with orthogonal Q: a DAG sharing J
    twice per step, bounded (the step has norm ≤ ½), with a dense reference."""
    rng = np.random.default_rng(seed)
    rotations = [np.linalg.qr(rng.standard_normal((n, n)))[0] for _ in range(7)]
    eye, eye_n = np.eye(n * n), np.eye(n)
    steps = [0.25 * (np.kron(eye_n, Q) + np.kron(Q.T, eye_n)) for Q in rotations]
    J, reference = Identity(n * n), eye.copy()
    for k in range(depth):
        Q = rotations[k % len(rotations)]
        J = 0.25 * (Kron(Identity(n), Dense(Q)) @ J + Kron(Dense(Q.T), Identity(n)) @ J) + Identity(n * n)
        reference = steps[k % len(steps)] @ reference + eye
    return J, reference


def det_hessian_like(n, seed=2):
    """``s·(V ⊗ U)·(diag(d)·K + EᵀCE)·(Vᵀ ⊗ Uᵀ)``: the shape of the Hessian of
    det through the SVD, with E selecting the diagonal of vec X."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((n, n)))[0]
    V = np.linalg.qr(rng.standard_normal((n, n)))[0]
    d, C = rng.standard_normal(n * n), rng.standard_normal((n, n))
    diagonal = np.arange(n) * (n + 1)
    E = Selection(diagonal, n * n)
    operator = 1.7 * (Kron(V, U) @ (Diag(d) @ Commutation(n, n) + E.T @ Dense(C) @ E) @ Kron(V.T, U.T))
    E_dense = np.zeros((n, n * n))
    E_dense[np.arange(n), diagonal] = 1.0
    middle = np.diag(d) @ commutation_dense(n, n) + E_dense.T @ C @ E_dense
    return operator, 1.7 * np.kron(V, U) @ middle @ np.kron(V.T, U.T)


# --------------------------------------------------------------------------
# 1. calls share nothing
# --------------------------------------------------------------------------


def _shared_dag_cases():
    chain, _ = norm_chain(25)
    contracting, _ = contracting_chain(60)
    hessian, _ = det_hessian_like(5)
    return [chain, contracting, hessian, contracting.T, chain @ contracting]


_FACTORS = [Dense(np.random.default_rng(k).standard_normal((9, 9))) for k in range(8)]

_OPERATIONS = {
    "toarray": lambda op, x, y, X: op.toarray(),
    "toarray of temporaries": lambda op, x, y, X: [
        Product([factor, op]).toarray() for factor in _FACTORS] if op.shape[0] == 9 else op.toarray(),
    "matvec": lambda op, x, y, X: op.matvec(x),
    "rmatvec": lambda op, x, y, X: op.rmatvec(y),
    "matmat": lambda op, x, y, X: op.matmat(X),
    "tosparse": lambda op, x, y, X: op.tosparse().toarray(),
}


def test_threads_sharing_dags_get_the_serial_results_bit_for_bit():
    # c0d938b memoized (id(op), id(X)) in one module-global table: threads
    # applying shared DAGs at once read each other's entries (6–8 % wrong).
    rng = np.random.default_rng(3)
    cases = []
    for op in _shared_dag_cases():
        x, y = rng.standard_normal(op.shape[1]), rng.standard_normal(op.shape[0])
        X = rng.standard_normal((op.shape[1], 4))
        cases.append((op, x, y, X))
    names = list(_OPERATIONS)
    serial = {(c, name): np.asarray(_OPERATIONS[name](*cases[c])) for c in range(len(cases)) for name in names}

    start, wrong, errors = threading.Barrier(4), [], []

    def work(thread):
        start.wait()
        try:
            for k in range(100):
                c, name = (thread + k) % len(cases), names[(thread * 7 + k) % len(names)]
                if not np.array_equal(np.asarray(_OPERATIONS[name](*cases[c])), serial[(c, name)]):
                    wrong.append((thread, k, c, name))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert not wrong, f"{len(wrong)} of 400 concurrent results differ from the serial ones: {wrong[:5]}"


class _Gate(spla.LinearOperator):
    """The identity, whose application waits until `release` is set: it holds
    one thread inside an application while another thread runs."""

    def __init__(self, n):
        super().__init__(dtype=np.float64, shape=(n, n))
        self.entered, self.release = threading.Event(), threading.Event()

    def _matmat(self, X):
        self.entered.set()
        assert self.release.wait(timeout=30), "the gate was never released"
        return np.array(X)


def test_an_application_in_flight_in_another_thread_changes_nothing():
    # c0d938b kept one memo table per process while any application ran, keyed
    # by id() of operators that die: with thread A inside an application,
    # thread B's temporaries reused the ids of earlier ones and got their results.
    J, reference = contracting_chain(5)
    gate = _Gate(9)
    held = Sum([Product([Wrapped(gate), J]), Identity(9)])
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("held", held.toarray()))
    thread.start()
    try:
        assert gate.entered.wait(timeout=30)
        rng = np.random.default_rng(8)
        factors = [Dense(rng.standard_normal((9, 9))) for _ in range(20)]
        wrong = 0
        for factor in factors:
            temporary = Product([factor, J])  # dies below: CPython reuses its address
            dense = temporary.toarray()
            wrong += not np.allclose(dense, factor.M @ reference, **TOL)
            del temporary, dense
        assert wrong == 0, f"{wrong} of 20 products got another product's matrix"
    finally:
        gate.release.set()
        thread.join()
    np.testing.assert_allclose(outcome["held"], reference + np.eye(9), **TOL)


# --------------------------------------------------------------------------
# 2. deep DAGs: no recursion, linear cost, stable
# --------------------------------------------------------------------------

DEPTH = 10_000


@pytest.fixture(scope="module")
def deep_chain():
    return contracting_chain(DEPTH)


def test_deep_dag_applies_and_materializes_without_recursion(deep_chain):
    # c0d938b recursed per level: RecursionError from ~400 chained operations.
    J, reference = deep_chain
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal(9), rng.standard_normal(9)
    np.testing.assert_allclose(J.matvec(x), reference @ x, **TOL)
    np.testing.assert_allclose(J.rmatvec(y), reference.T @ y, **TOL)
    np.testing.assert_allclose(J.toarray(), reference, **TOL)
    np.testing.assert_allclose(J.tosparse().toarray(), reference, **TOL)


def test_deep_dag_prints_an_abbreviated_formula(deep_chain):
    J, _ = deep_chain
    text = repr(J)
    assert "⟨" in text and len(text) < 1000, text
    assert J.formula() in text


def test_laws_combine_long_products_without_recursion(rng):
    # c0d938b combined an operand with a Product factor by factor, recursing
    # once per factor: RecursionError for ~1000 factors that all combine.
    d = 1.0 + 0.01 * rng.standard_normal((3000, 4))
    chain = Product([Diag(row) for row in d])  # built lazily on purpose
    left = Diag(np.ones(4)) @ chain
    right = chain @ Diag(np.ones(4))
    for combined in (left, right, RowVector(np.ones(4)) @ chain):
        assert not isinstance(combined, Product), type(combined)
        np.testing.assert_allclose(combined.toarray().ravel() if combined.shape[0] == 1 else np.diag(combined.toarray()),
                                   np.prod(d, axis=0), rtol=1e-12)
    K = Kron(rng.standard_normal((2, 3)), rng.standard_normal((3, 2)))  # K @ K has no mixed product
    longer = algebra.multiply(Product([K] * 3000), K)
    assert isinstance(longer, Product) and len(longer.factors) == 3001


def test_row_times_a_dag_stays_lazy_and_a_leaf_collapses(rng):
    J, _ = norm_chain(3)
    v = RowVector(rng.standard_normal(9))
    assert isinstance(v @ J, Product)  # applied forward, adjoint accumulated like reverse mode
    K = Kron(rng.standard_normal((3, 3)), rng.standard_normal((3, 3)))
    assert isinstance(v @ K, RowVector)  # one rmatvec of a leaf: collapsed
    assert isinstance(v @ J.T, RowVector)  # vᵀJᵀ = (J v)ᵀ: J applied forward, collapsed
    np.testing.assert_allclose((v @ J.T).toarray(), v.toarray() @ J.toarray().T, **TOL)
    lazy = v @ J
    np.testing.assert_allclose(lazy.toarray(), v.toarray() @ J.toarray(), **TOL)
    np.testing.assert_allclose(lazy.gradient((3, 3)), (v.toarray() @ J.toarray()).reshape(3, 3, order="F"), **TOL)


def test_deep_norm_chain_jacobian_matches_forward_propagation():
    # c0d938b collapsed r_kᵀJ_k by a reverse sweep over DAGs whose rows were
    # collapsed the same way: at depth 80 the Jacobian was off by ~3e2 (relative).
    J, reference = norm_chain(80)
    dense = J.toarray()
    error = np.abs(dense - reference).max() / np.abs(reference).max()
    assert error < 1e-10, f"relative error {error:.1e}"
    x = np.random.default_rng(5).standard_normal(9)
    np.testing.assert_allclose(J.matvec(x), reference @ x, rtol=1e-10, atol=1e-10 * np.abs(reference).max())
    np.testing.assert_allclose(J.rmatvec(x), reference.T @ x, rtol=1e-10, atol=1e-10 * np.abs(reference).max())


# --------------------------------------------------------------------------
# 3. peak memory bounded by the limits
# --------------------------------------------------------------------------


def _memory_cases():
    rng = np.random.default_rng(6)
    g = rng.standard_normal
    hessian, hessian_dense = det_hessian_like(20)
    A, B, C, D = g((12, 16)), g((32, 24)), g((24, 16)), g((16, 24))  # (A⊗B)(C⊗D): no mixed product
    d = g(384)
    P, Q, R = g((16, 16)), g((24, 24)), g((16, 16))
    return {
        "Kron": (Kron(P, Q), np.kron(P, Q)),
        "Sum of Krons": (
            Kron(P, Identity(24)) + Kron(Identity(16), Q) + Kron(R, Q),
            np.kron(P, np.eye(24)) + np.kron(np.eye(16), Q) + np.kron(R, Q),
        ),
        "Product chain": (
            Kron(A, B) @ Kron(C, D) @ Diag(d),
            np.kron(A, B) @ np.kron(C, D) @ np.diag(d),
        ),
        "det-Hessian shape": (hessian, hessian_dense),
        "Contraction": (Contraction([P, Q[:16]], ["ij", "kl"], "jk", "il", {"i": 16, "j": 16, "k": 16, "l": 24}),
                        np.kron(Q[:16].T, P)),
        "adjoint of a DAG": (
            (Kron(A, B) @ Kron(C, D) + Kron(Identity(16), Q)).T,
            (np.kron(A, B) @ np.kron(C, D) + np.kron(np.eye(16), Q)).T,
        ),
        # a product of selections (the Jacobian of a concatenation), written through its CSR
        "scattered selections": _concatenation_jacobian(R),
    }


def _concatenation_jacobian(X):
    n = X.shape[0]

    def f(Y):
        return np.concatenate([Y, Y.T])[:n] + 2 * np.concatenate([Y.T, Y])[n // 2:n + n // 2]

    # f is linear: column k of its Jacobian is vec f(E_k), exactly (sums of 0, 1 and 2)
    units = np.eye(n * n)
    reference = np.stack([vec(f(units[k].reshape(n, n, order="F"))) for k in range(n * n)], axis=1)
    return kronvec.jacobian(f)(X), reference


MEMORY_CASES = list(_memory_cases())


@pytest.fixture(autouse=True)
def _numpy_path_by_default():
    """The memory tests measure NumPy's allocations (it reports them to
    tracemalloc), so they run on the NumPy path whatever the process default
    (a benchmark module sets it to 0 on import)."""
    with kronvec.config.override(numba_min_entries=1 << 18):
        yield


def _traced_peak(call):
    call()  # warm up: first-use imports and caches are not the operation's memory
    return peak_memory(call)


@pytest.mark.parametrize("name", MEMORY_CASES)
def test_toarray_peak_stays_within_the_documented_estimate(name):
    # c0d938b bounded the result only: Products peaked at 3×, the det-Hessian shape at 7×.
    op, reference = _memory_cases()[name]
    assert op.dense_nbytes < 8 * kronvec.config.numba_min_entries  # a NumPy-path size
    limit = op.dense_peak_nbytes
    with kronvec.config.override(dense_limit_bytes=limit):
        dense, peak = _traced_peak(op.toarray)
    np.testing.assert_allclose(dense, reference, rtol=1e-12, atol=1e-12 * np.abs(reference).max())
    assert peak <= limit, f"peak {peak:,} bytes above the estimate {limit:,}"
    assert peak <= 2 * op.dense_nbytes, f"peak {peak:,} bytes for a {op.dense_nbytes:,}-byte result"


@pytest.mark.parametrize("name", MEMORY_CASES)
def test_toarray_refuses_before_allocating_naming_result_and_workspace(name):
    op, _ = _memory_cases()[name]
    with kronvec.config.override(dense_limit_bytes=op.dense_nbytes):  # no room for any workspace
        tracemalloc.start()
        try:
            with pytest.raises(MemoryError) as info:
                op.toarray()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    message = str(info.value)
    assert f"result {op.dense_nbytes:,} bytes" in message and "workspace" in message, message
    assert peak < op.dense_nbytes / 4, f"{peak:,} bytes allocated before refusing"


def _smallest_accepted_limit(call, kind, low, high):
    """The smallest `kind` limit in [low, high] at which `call` succeeds (bisection)."""
    setting = f"{kind}_limit_bytes"
    while high - low > max(64, high // 1000):
        middle = (low + high) // 2
        try:
            with kronvec.config.override(**{setting: middle}):
                call()
            high = middle
        except MemoryError:
            low = middle
    return high


@pytest.mark.parametrize("name", ["Product chain", "det-Hessian shape"])
def test_toarray_at_the_tightest_accepted_limit_stays_within_it(name):
    # Narrower blocks when the limit is tight: the peak follows the limit down.
    op, reference = _memory_cases()[name]
    limit = _smallest_accepted_limit(op.toarray, "dense", op.dense_nbytes, op.dense_peak_nbytes)
    assert limit < op.dense_peak_nbytes
    with kronvec.config.override(dense_limit_bytes=limit):
        dense, peak = _traced_peak(op.toarray)
    assert peak <= limit, f"peak {peak:,} bytes above the accepted limit {limit:,}"
    np.testing.assert_allclose(dense, reference, rtol=1e-12, atol=1e-12 * np.abs(reference).max())


@pytest.mark.parametrize("name", ["Kron", "Sum of Krons", "Product chain", "det-Hessian shape"])
def test_tosparse_at_the_tightest_accepted_limit_stays_within_it(name):
    # Intermediate CSRs (the terms of a sum, partial products) count towards the limit.
    # Kron: the NumPy fill of kron_csr kept up to a dozen block-long index temporaries
    # alive against the eight its workspace counts (peak 1.13× the limit for a dense A ⊗ B).
    op, reference = _memory_cases()[name]
    high = 64 * op.dense_nbytes
    with kronvec.config.override(sparse_limit_bytes=high):
        op.tosparse()
    limit = _smallest_accepted_limit(op.tosparse, "sparse", 0, high)
    with kronvec.config.override(sparse_limit_bytes=limit):
        matrix, peak = _traced_peak(op.tosparse)
    assert peak <= limit, f"peak {peak:,} bytes above the accepted limit {limit:,}"
    np.testing.assert_allclose(matrix.toarray(), reference, rtol=1e-12, atol=1e-12 * np.abs(reference).max())


def test_tosparse_refuses_an_intermediate_above_the_limit(rng):
    # Each term of the sum fits, and so does the sum; the terms held together
    # with the merge buffers do not: refused before the merge allocates.
    P, Q = rng.standard_normal((16, 16)), rng.standard_normal((24, 24))
    op = Kron(P, Identity(24)) + Kron(Identity(16), Q) + Kron(P, Q)
    final = op.tosparse()
    final_bytes = final.data.nbytes + final.indices.nbytes + final.indptr.nbytes
    with kronvec.config.override(sparse_limit_bytes=int(1.5 * final_bytes)):
        with pytest.raises(MemoryError, match="sparse_limit_bytes") as info:
            op.tosparse()
    assert "while building" in str(info.value)


def test_sparse_products_are_scattered_and_the_others_applied_to_unit_blocks():
    # A composite term with a few nonzeros per column is built as a CSR and added in
    # (the Jacobian of a concatenation of 32×32 matrices: 58 ms applied to 1024 unit
    # columns, 5 ms scattered); a Product of dense Krons is not, and a CSR build never
    # scatters its own dense nodes (that would recurse).
    from kronvec.operators._materialize import DensePlan

    op, reference = _memory_cases()["scattered selections"]
    plan = DensePlan(op, kronvec.config.dense_limit_bytes)
    assert plan.scattered and plan.lazy is None, (plan.scattered, plan.lazy)
    np.testing.assert_array_equal(op.toarray(), reference)
    np.testing.assert_array_equal(op.T.toarray(), op.toarray().T)
    assert not DensePlan(op, kronvec.config.dense_limit_bytes, scatter=False).scattered
    chain, _ = _memory_cases()["Product chain"]
    assert not DensePlan(chain, kronvec.config.dense_limit_bytes).scattered


def test_kron_row_and_column_bounds_are_the_products_of_its_factors():
    # Row (i, k) of A ⊗ B is row i of A times row k of B: the bound nnz_bounds multiplies
    # along a Product. Checked against the dense rows and columns of every factor kind.
    rng = np.random.default_rng(11)
    v = rng.standard_normal((5, 1))
    for op in (Kron(Identity(3), v), Kron(v.T, Identity(4)), Kron(Commutation(2, 3), Identity(2)),
               Kron(rng.standard_normal((2, 3)), Identity(2)), Kron(Diag(rng.standard_normal(3)), v)):
        dense = op.toarray()
        assert op.row_nnz_max >= np.count_nonzero(dense, axis=1).max(), op
        assert op.column_nnz_max >= np.count_nonzero(dense, axis=0).max(), op
        assert op.row_nnz_max == op.A.row_nnz_max * op.B.row_nnz_max


def test_the_jacobian_of_a_kronecker_product_of_slices_is_scattered():
    # kron(X[:4, :4], X[:8, :8]) of a 32×32 X: 2032 nonzeros in a 1024×1024 Jacobian whose
    # terms are Products of I ⊗ vec(X[…]), a commutation Kron and a selection. With Kron's
    # row bounds its bound is 2048 (it was rows × columns, 1024², and the terms were applied
    # to 1024 unit columns: 16–19 ms where the scattered CSR takes ~1.5 ms).
    from kronvec.operators._materialize import DensePlan

    X = np.random.default_rng(5).standard_normal((32, 32))
    J = kronvec.jacobian(lambda X: np.kron(X[:4, :4], X[:8, :8]))(X)
    assert J.nnz_bound == 2048, J.nnz_bound
    plan = DensePlan(J, kronvec.config.dense_limit_bytes)
    assert len(plan.scattered) == 2 and plan.lazy is None, (plan.scattered, plan.lazy)
    reference = J.matmat(np.eye(1024))
    np.testing.assert_allclose(J.toarray(), reference, rtol=0, atol=1e-15)
    assert J.tosparse().nnz == 2032


def test_toarray_keeps_the_direct_fills():
    # Kron, sums of Krons and selections are written straight into the result
    # (no application to unit vectors), so their workspace is the factors only.
    rng = np.random.default_rng(7)
    P, Q = rng.standard_normal((16, 16)), rng.standard_normal((24, 24))
    for op in (Kron(P, Q), Kron(P, Identity(24)) + Kron(Identity(16), Q), Commutation(16, 24)):
        workspace = op.dense_peak_nbytes - op.dense_nbytes
        assert workspace < op.dense_nbytes / 2, (op, workspace)


# --------------------------------------------------------------------------
# 4. formula labels are true
# --------------------------------------------------------------------------


def test_plain_arrays_are_anonymous_and_never_named_by_position(rng):
    # c0d938b printed Kron(B, A) of plain arrays as "A ⊗ B" (names by position).
    A, B = rng.standard_normal((2, 2)), rng.standard_normal((3, 3))
    assert Kron(B, A).formula() == "M₁ ⊗ M₂"
    assert Dense(A).formula() == "M₁" and Dense(A).name is None
    assert Selection([1, 0, 2], 3).formula() == "S₁"
    assert Diag([1.0, 2.0]).formula() == "diag(d₁)"
    assert RowVector([1.0, 2.0]).formula() == "v₁ᵀ"
    assert Sparse(sp.eye_array(2)).formula() == "M₁"


def test_placeholders_are_numbered_by_identity_within_one_formula(rng):
    M, N = Dense(rng.standard_normal((2, 2))), Dense(rng.standard_normal((2, 2)))
    assert Kron(M, M.T).formula() == "M₁ ⊗ M₁ᵀ"  # one matrix, one placeholder
    assert Kron(N, M).formula() == "M₁ ⊗ M₂"  # numbered in order of appearance
    assert (Kron(M, N) + Kron(N, M)).formula() == "M₁ ⊗ M₂ + M₂ ⊗ M₁"
    assert M.inv().formula() == "inv(M₁)"
    S, T = Selection([1, 0], 2), Selection([0, 0], 2)
    assert Sum([S, T, S.T]).formula() == "S₁ + S₂ + S₁ᵀ"
    # two Dense of one frozen array share the data, hence the placeholder
    frozen = np.eye(2)
    frozen.flags.writeable = False
    assert Kron(Dense(frozen), Dense(frozen)).formula() == "M₁ ⊗ M₁"


def test_names_are_kept_and_laws_name_results_only_from_named_inputs(rng):
    A = Dense(rng.standard_normal((2, 2)), name="A")
    B = Dense(rng.standard_normal((2, 2)), name="B")
    anonymous = Dense(rng.standard_normal((2, 2)))
    assert (A @ B).formula() == "A·B"
    assert (A + B).formula() == "A + B"
    assert (A @ anonymous).name is None and (A @ anonymous).formula() == "M₁"
    assert (A + anonymous).name is None
    assert (Diag([1.0, 2.0], name="D") @ Diag([3.0, 4.0])).name is None
    assert (RowVector([1.0, 2.0], name="g") + RowVector([1.0, 1.0])).name is None
    assert Kron(A, A.T).formula() == "A ⊗ Aᵀ"
    assert Commutation(2, 3).formula() == "K₂,₃" and Duplication(3).formula() == "D₃"
    assert Elimination(3).formula() == "L₃" and Identity(4).formula() == "I₄"


def test_a_commutation_valued_selection_is_and_prints_as_k():
    X = np.arange(6.0).reshape(2, 3)
    index = np.arange(6).reshape(2, 3, order="F").ravel()  # vec(X)[index] == X.ravel()
    np.testing.assert_array_equal(vec(X)[index], X.ravel())
    K = selection_from_index(index, 6)
    assert isinstance(K, Commutation) and (K.m, K.n) == (2, 3) and K.formula() == "K₂,₃"
    assert Selection(index, 6).formula() == "K₂,₃"
    assert Selection(index, 6).T.formula() == "K₃,₂"
    assert isinstance(selection_from_index(np.arange(4), 4), Identity)
    general = selection_from_index([2, 0], 3)
    assert type(general) is Selection and general.formula() == "S₁"
    # composing two selections gives the most specific operator
    assert isinstance(Selection(index, 6) @ Selection(Commutation(3, 2).index, 6), Identity)


def test_deep_formula_abbreviates_and_numbers_only_what_it_shows():
    J, _ = contracting_chain(40)
    text = J.formula()
    assert "⟨" in text and len(text) < 400
    numbers = [int(ch) for ch in "".join(c for c in text if c in "₀₁₂₃₄₅₆₇₈₉").translate(
        str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789"))]
    assert all(k >= 1 for k in numbers)


# --------------------------------------------------------------------------
# 5. results own their memory
# --------------------------------------------------------------------------


def test_operators_do_not_change_when_the_caller_mutates_the_input(rng):
    # c0d938b kept a read-only *view* of the caller's array in Dense, Diag and RowVector.
    M, d, v = rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal(3)
    index = np.array([2, 0, 1])
    S = sp.csr_array(rng.standard_normal((3, 3)))
    ops = [Dense(M), Diag(d), RowVector(v), Selection(index, 3), Sparse(S), Kron(M, M)]
    before = [op.toarray() for op in ops]
    M[...], d[...], v[...], index[...], S.data[...] = 7.0, 7.0, 7.0, 0, 7.0
    for op, expected in zip(ops, before):
        np.testing.assert_array_equal(op.toarray(), expected)


def test_frozen_input_is_kept_writeable_input_is_copied(rng):
    M = rng.standard_normal((3, 3))
    frozen = M.copy()
    frozen.flags.writeable = False
    assert Dense(frozen).M is frozen  # nobody can write it: no copy needed
    view = M[:, :2]
    view.flags.writeable = False  # read-only, but its base is not
    assert not np.shares_memory(Dense(view).M, M)
    assert not np.shares_memory(Dense(M).M, M)
    d = rng.standard_normal(3)
    assert not np.shares_memory(Diag(d).d, d) and not np.shares_memory(RowVector(d).v, d)


def test_nothing_returned_aliases_an_operators_data_writeably(rng):
    M, v = rng.standard_normal((3, 3)), rng.standard_normal(4)
    D, R, S = Dense(M), RowVector(v), Sparse(sp.csr_array(M))
    for array in (D.M, Diag(v).d, R.v, S.S.data, S.S.indices, Selection([1, 0], 2).index):
        assert not array.flags.writeable
    for result, data in [(D.toarray(), D.M), (R.gradient((2, 2)), R.v), (R.toarray(), R.v),
                         (D.T.toarray(), D.M), (S.tosparse().data, S.S.data)]:
        assert result.flags.writeable and not np.shares_memory(result, data)
    x = rng.standard_normal(4)
    assert not np.shares_memory(Kron(Identity(2), Identity(2)).matvec(x), x)
    assert not np.shares_memory(Identity(4).matvec(x), x)


# --------------------------------------------------------------------------
# 6. clear errors instead of crashes
# --------------------------------------------------------------------------


def test_sparse_operands_are_wrapped_and_stay_structured(rng):
    # c0d938b: J @ csr_array raised "expected 1-D or 2-D, got shape ()", J + sparse a TypeError.
    A, B = rng.standard_normal((2, 2)), rng.standard_normal((3, 3))
    J, dense = Kron(A, B), np.kron(A, B)
    S_dense = rng.standard_normal((6, 6)) * (rng.random((6, 6)) < 0.4)
    S = sp.csr_array(S_dense)
    cases = {
        "J @ S": (J @ S, dense @ S_dense),
        "S @ J": (S @ J, S_dense @ dense),
        "J + S": (J + S, dense + S_dense),
        "S + J": (S + J, S_dense + dense),
        "J - S": (J - S, dense - S_dense),
        "S - J": (S - J, S_dense - dense),
    }
    for what, (result, expected) in cases.items():
        assert isinstance(result, kronvec.StructuredOperator), what
        np.testing.assert_allclose(result.toarray(), expected, **TOL, err_msg=what)
    assert any(isinstance(t, Sparse) for t in (J + S).terms)


def test_inverse_of_a_zero_scale_raises_linalg_error(rng):
    # c0d938b raised ZeroDivisionError.
    A = rng.standard_normal((2, 2)) + 3 * np.eye(2)
    with pytest.raises(np.linalg.LinAlgError, match=r"Kron\.inv.*scale 0"):
        Kron(A, A, scale=0).inv()
    with pytest.raises(np.linalg.LinAlgError, match=r"Kron\.solve"):
        Kron(A, A, scale=0).solve(np.ones(4))
    with pytest.raises(np.linalg.LinAlgError, match=r"Scaled\.inv"):
        Scaled(0.0, Dense(A)).inv()
    with pytest.raises(np.linalg.LinAlgError, match=r"Scaled\.solve"):
        Scaled(0.0, Dense(A)).solve(np.ones(2))


def test_sparse_solve_of_a_singular_matrix_raises_like_dense_solve():
    # c0d938b returned NaN (spsolve warns and carries on).
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(np.linalg.LinAlgError):
        Dense(singular).solve(np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match="Sparse.solve"):
        Sparse(sp.csr_array(singular)).solve(np.ones(2))
    with pytest.raises(np.linalg.LinAlgError, match="Sparse.solve"):
        Sparse(sp.csr_array((2, 2))).solve(np.ones(2))
    A = np.array([[2.0, 1.0], [0.0, 3.0]])
    np.testing.assert_allclose(Sparse(sp.csr_array(A)).solve(np.array([1.0, 2.0])), np.linalg.solve(A, [1.0, 2.0]))


def test_unsupported_dtypes_are_refused_at_construction_naming_them():
    # c0d938b accepted np.longdouble and failed inside a numba kernel.
    wide = np.eye(2, dtype=np.longdouble)
    if wide.dtype.itemsize <= 8:
        pytest.skip("np.longdouble is float64 on this platform")
    constructors = [Dense, Diag, RowVector, lambda a: Kron(a, a), lambda a: Sparse(sp.csr_array(a.astype(float))) @ Dense(a)]
    for build in constructors:
        with pytest.raises(TypeError, match=r"float32 and float64.*" + str(wide.dtype)):
            build(wide if build is not Diag and build is not RowVector else wide[0])
    with pytest.raises(TypeError, match=str(wide.dtype)):
        Kron(np.eye(2), np.eye(2)).matvec(np.ones(4, dtype=np.longdouble))
    with pytest.raises(TypeError, match="complex"):
        Dense(np.eye(2) * 1j)


@pytest.mark.parametrize("dtype, expected", [
    (np.float16, np.float32), (np.int8, np.float64), (np.uint16, np.float64),
    (np.bool_, np.float64), (np.float32, np.float32), (np.int64, np.float64),
])
def test_small_dtypes_promote_to_a_supported_float(dtype, expected):
    data = np.ones((2, 2), dtype=dtype)
    for op in (Dense(data), Diag(data[0]), RowVector(data[0]), Kron(data, data)):
        assert op.dtype == expected, (type(op).__name__, op.dtype)
        assert op.toarray().dtype == expected


def test_wrong_shapes_raise_value_error_naming_shapes_and_law(rng):
    A = rng.standard_normal((2, 2)) + 3 * np.eye(2)
    J = Kron(A, A)
    cases = [
        (lambda: J @ np.ones((4, 2, 2)), r"\(4, 4\).*\(4, 2, 2\)"),
        (lambda: np.ones((2, 4, 4)) @ J, r"\(4, 4\).*\(2, 4, 4\)"),
        (lambda: J @ Dense(np.ones((3, 3))), r"matrix product.*\(4, 4\) @ \(3, 3\)"),
        (lambda: J + Dense(np.ones((3, 3))), r"sum law.*\(4, 4\).*\(3, 3\)"),
        (lambda: J + sp.csr_array((3, 3)), r"sum law.*\(4, 4\).*\(3, 3\)"),
        (lambda: J.solve(np.ones(3)), r"\(3,\).*\(4, 4\)"),
        (lambda: Identity(4).solve(np.ones(3)), r"A x = b.*\(4, 4\).*\(3,\)"),
        (lambda: Dense(A).solve(np.ones(3)), r"A x = b.*\(2, 2\).*\(3,\)"),
        (lambda: Sparse(sp.csr_array(A)).solve(np.ones(3)), r"A x = b.*\(2, 2\).*\(3,\)"),
        (lambda: RowVector(np.ones(4)).gradient((3, 2)), r"∇f.*\(1, 4\).*\(3, 2\)"),
        (lambda: (RowVector(np.ones(4)) @ (J + J.T)).gradient((3, 3)), r"∇f.*\(1, 4\)"),
        (lambda: J.gradient((4, 4)), r"∇f.*1×N.*\(4, 4\)"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()


def test_operators_work_on_both_sides_of_the_numba_cut_over():
    op, reference = det_hessian_like(4)
    summed = Kron(np.eye(4), np.ones((4, 4))) + Kron(np.ones((4, 4)), np.eye(4))
    for entries in (1, 1 << 40):  # numba for everything, then numba for nothing
        with kronvec.config.override(numba_min_entries=entries):
            np.testing.assert_allclose(op.toarray(), reference, **TOL)
            np.testing.assert_allclose(op.tosparse().toarray(), reference, **TOL)
            np.testing.assert_allclose(summed.toarray(), dense_of(summed), **TOL)
            np.testing.assert_allclose(summed.tosparse().toarray(), dense_of(summed), **TOL)


# --------------------------------------------------------------- ** and np.asarray (issue 16)
def test_an_integer_power_is_the_repeated_product_and_stays_structured():
    rng = np.random.default_rng(16)
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((2, 2))
    K = kronvec.Kron(A, B)
    for p in range(6):
        P = K ** p
        np.testing.assert_allclose(P.toarray(), np.linalg.matrix_power(np.kron(A, B), p),
                                   rtol=1e-12, atol=1e-12)
        assert isinstance(P, kronvec.Kron if p else kronvec.Identity), (p, type(P))
    S = kronvec.Kron(A, np.eye(2)) + kronvec.Kron(np.eye(3), B)  # a Sum: powers are products
    np.testing.assert_allclose((S ** 3).toarray(), np.linalg.matrix_power(S.toarray(), 3), rtol=1e-12)
    with pytest.raises(ValueError, match="negative powers.*solve"):
        K ** -1
    with pytest.raises(ValueError, match="square operator"):
        kronvec.Dense(np.ones((2, 3))) ** 2
    with pytest.raises(TypeError):
        K ** 0.5


def test_np_asarray_of_an_operator_refuses_and_points_to_toarray():
    J = kronvec.jacobian(np.linalg.inv)(np.eye(3) * 2)
    with pytest.raises(TypeError, match=r"\.toarray\(\)"):
        np.asarray(J)
    with pytest.raises(TypeError, match=r"\.toarray\(\)"):
        np.array(J)
    x = np.arange(9.0)  # (ndarray @ operator still applies it: NumPy defers to __rmatmul__)
    np.testing.assert_allclose(x @ J, J.toarray().T @ x)


def test_structured_jacobians_pickle_with_their_cached_transposes():
    # (a Jacobian sent to another process: the weak link a transpose keeps to its original
    # is a cache, dropped by pickling and rebuilt by .T)
    import pickle

    import kronvec

    rng = np.random.default_rng(23)
    X = rng.standard_normal((3, 3)) + 3.0 * np.eye(3)
    C = rng.standard_normal((3, 3))
    for f in (np.linalg.inv, lambda X: X @ X.T, lambda X: np.linalg.solve(X, C), lambda X: np.tanh(X) @ X):
        J = kronvec.jacobian(f)(X)
        J.T.T  # (both directions cached, one of them weakly)
        copy = pickle.loads(pickle.dumps(J))
        assert copy.formula() == J.formula()
        np.testing.assert_array_equal(copy.toarray(), J.toarray())
        np.testing.assert_array_equal(copy.T.toarray(), J.T.toarray())
    stack = kronvec.jacobian(np.linalg.inv)(np.stack([X, 2.0 * X]))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(stack)).toarray(), stack.toarray())


def test_a_jacobian_without_structure_refuses_pickling_by_name_and_copies():
    # A user's primitive with a VJP alone: its Jacobian applies the recorded VJP, which holds
    # the user's callables — not data to save.  pickle named a lambda deep inside it; now the
    # refusal names the operation and the way out, and copy/deepcopy still work.
    import copy
    import pickle

    import kronvec

    cube = kronvec.primitive(lambda x: x ** 3, name="cube")
    cube.defvjp(lambda g, ans, x: 3.0 * x ** 2 * g)
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    J = kronvec.jacobian(cube)(x)
    expected = np.diag(3.0 * x.ravel(order="F") ** 2)
    for operator in (J, J.T):
        with pytest.raises(TypeError, match=r"Jacobian of cube has no structured form.*toarray\(\)"):
            pickle.dumps(operator)
    for twin in (copy.copy(J), copy.deepcopy(J), copy.deepcopy(J.T).T):
        np.testing.assert_allclose(twin.toarray(), expected, rtol=1e-15)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(J.toarray())), expected, rtol=1e-15)
