"""kronvec.dask: distributed separable objectives and lazy operators.

The distributed tests share one real ``dask.distributed.LocalCluster`` (two
worker processes, one thread each), started and stopped by a module fixture
that checks no worker process outlives it.  Every wait on the cluster is
bounded (``_bounded``: the call runs in a thread joined with a timeout; the
cluster's own start, connect and close have dask timeouts), so a hung cluster
fails the test instead of hanging CI.  No wall-clock asserts.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import cloudpickle  # noqa: E402  (a dependency of distributed)
import dask  # noqa: E402
import dask.array as da  # noqa: E402
import scipy.optimize  # noqa: E402

import kronvec  # noqa: E402
import kronvec.dask as kvd  # noqa: E402
import kronvec.optimize as kvo  # noqa: E402

# Worker processes cannot import this test module: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

TIMEOUT = 90  # seconds for any one wait on the cluster
RTOL = 1e-12  # distributed vs in-memory: the same per-chunk arithmetic, summed in another order
I3 = np.eye(3)


def _bounded(function, *args, timeout=TIMEOUT):
    """``function(*args)``, failing the test after `timeout` seconds instead of hanging."""
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        return pool.submit(function, *args).result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        pytest.fail(f"{getattr(function, '__name__', function)} did not finish within {timeout} s")
    finally:
        pool.shutdown(wait=False)


# ------------------------------------------------------------------ model
def group_nll(Sigma, S, D, n):
    """Multi-group Gaussian negative log-likelihood, up to constants: group g has
    covariance Σ + diag(D_g) and sufficient statistics (n_g, S_g = Σ yyᵀ)."""
    Sg = Sigma + D[:, :, None] * I3
    return 0.5 * np.sum(n * np.linalg.slogdet(Sg)[1]) + 0.5 * np.sum(np.linalg.inv(Sg) * S)


def make_groups(groups, seed=0):
    rng = np.random.default_rng(seed)
    L = np.array([[1.0, 0.0, 0.0], [0.5, 1.2, 0.0], [-0.3, 0.2, 0.8]])
    Sigma = L @ L.T
    n = rng.integers(3, 8, groups).astype(float)
    D = rng.uniform(0.1, 0.5, (groups, 3))
    S = np.empty((groups, 3, 3))
    for g in range(groups):  # n_g draws from N(0, Σ + D_g)
        C = np.linalg.cholesky(Sigma + np.diag(D[g]))
        Y = rng.standard_normal((int(n[g]), 3)) @ C.T
        S[g] = Y.T @ Y
    return Sigma, S, D, n


def as_dask(chunk, *arrays):
    return [da.from_array(a, chunks=(chunk,) + a.shape[1:]) for a in arrays]


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    scale = max(float(np.max(np.abs(b))), 1e-300)
    assert float(np.max(np.abs(a - b))) <= rtol * scale, (a, b)


@pytest.fixture(scope="module")
def groups():
    return make_groups(2000)


@pytest.fixture(scope="module")
def point():
    return np.array([[1.4, 0.3, 0.1], [0.3, 1.9, -0.2], [0.1, -0.2, 1.1]]), np.array(
        [[0.5, -0.1, 0.2], [-0.1, 1.0, 0.3], [0.2, 0.3, -0.4]])


# ------------------------------------------------------- import behaviour
def test_import_kronvec_does_not_import_dask():
    code = "import sys, kronvec, kronvec.optimize; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_dask_gives_an_install_hint():
    code = (
        "import sys; sys.modules['dask'] = None\n"
        "try:\n    import kronvec.dask\nexcept ImportError as e:\n    print(e)\n"
        "else:\n    raise SystemExit('imported')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=120, capture_output=True, text=True)
    assert 'pip install "kronvec[dask]"' in out.stdout


# --------------------------------------- objectives, local (threaded) scheduler
def test_value_and_grad_equals_in_memory_sum(groups, point):
    _, S, D, n = groups
    X, _ = point
    expected = kronvec.value_and_grad(group_nll)(X, S, D, n)
    with dask.config.set(scheduler="threads"):
        value, gradient = kvd.value_and_grad(group_nll)(X, *as_dask(300, S, D, n))
    assert isinstance(value, np.floating) and gradient.shape == (3, 3)
    close(value, expected[0])
    close(gradient, expected[1])


def test_constants_tuple_argnums_and_mixed_data(groups, point):
    _, S, D, n = groups
    X, V = point

    def f(A, B, S, w):  # two unknowns, one dask array, one NumPy constant
        return np.sum(np.linalg.inv(A + I3 * w)[None] * S) + np.sum(B * B) * len(S)

    (Sd,) = as_dask(450, S)  # 2000 rows: the last chunk is short
    expected = kronvec.value_and_grad(f, (0, 1))(X, V, S, 0.5)
    value, (gA, gB) = kvd.value_and_grad(f, (0, 1))(X, V, Sd, 0.5)
    close(value, expected[0])
    close(gA, expected[1][0])
    close(gB, expected[1][1])
    # arrays with other chunkings are aligned to the first one's chunks
    Dd = da.from_array(D, chunks=(700, 1))
    Sd2, nd = as_dask(250, S, n)
    value, _ = kvd.value_and_grad(group_nll)(X, Sd2, Dd, nd)
    close(value, kronvec.value_and_grad(group_nll)(X, S, D, n)[0])


def test_hvp_equals_in_memory(groups, point):
    _, S, D, n = groups
    X, V = point
    expected = kronvec.hvp(group_nll)(X, S, D, n, V)
    close(kvd.hvp(group_nll)(X, *as_dask(300, S, D, n), V), expected)


def test_bad_calls_are_refused(groups, point):
    _, S, D, n = groups
    X, V = point
    with pytest.raises(ValueError, match="none of the arguments is a dask.array"):
        kvd.value_and_grad(group_nll)(X, S, D, n)
    with pytest.raises(TypeError, match="must be a NumPy array"):
        kvd.value_and_grad(group_nll)(da.from_array(X), *as_dask(300, S, D, n))
    with pytest.raises(ValueError, match="same length"):
        kvd.value_and_grad(group_nll)(X, *as_dask(300, S, D[:10], n))
    with pytest.raises(ValueError, match="split_every"):
        kvd.value_and_grad(group_nll, split_every=1)
    with pytest.raises(TypeError, match="single int"):
        kvd.hvp(group_nll, argnums=(0,))
    # an error inside f names the chunk it happened in (Python >= 3.11 shows notes)
    with pytest.raises(np.linalg.LinAlgError) as info:
        kvd.value_and_grad(lambda X, S: np.sum(np.linalg.cholesky(X - 10 * I3)) * np.sum(S))(X, *as_dask(300, S))
    if sys.version_info >= (3, 11):
        assert any("kronvec.dask: in chunk" in note for note in info.value.__notes__)


def test_objective_matches_in_memory_objective(groups, point):
    _, S, D, n = groups
    X, V = point
    local = kvo.objective(group_nll, (3, 3), S, D, n, symmetric=True)
    dist = kvd.objective(group_nll, (3, 3), *as_dask(300, S, D, n), symmetric=True)
    x, p = local.to_vector(X), local.to_vector(V)
    assert dist.n_chunks == 7 and dist.convention == local.convention
    close(dist.fun(x), local.fun(x))
    close(dist.jac(x), local.jac(x))
    assert dist.n_evaluations == 1  # fun and jac share one distributed evaluation
    close(dist.value(x + 0.01), local.value(x + 0.01))
    close(dist.hessp(x, p), local.hessp(x, p))
    close(dist.hess(x, dense=True), local.hess(x, dense=True))
    close(dist.hess(x) @ p, local.hessp(x, p))
    with pytest.raises(ValueError, match="non-finite"):
        dist.fun(np.full(6, np.nan))
    streamed = kvd.objective(group_nll, (3, 3), *as_dask(500, S, D, n), symmetric=True, persist=False)
    close(streamed.value_and_grad(x)[1], local.jac(x))
    assert "4 chunks" in repr(streamed)


# -------------------------------------------------------------- operators
def _rng_matrix(rng, shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("case", ["kron", "kron_rect", "sum", "product", "scaled", "selection",
                                  "duplication", "commutation", "inv", "sylvester", "diag"])
def test_operators_on_dask_arrays_equal_numpy(case):
    rng = np.random.default_rng(1)
    A, B = _rng_matrix(rng, (5, 5)), _rng_matrix(rng, (4, 4))
    Ad, Bd = da.from_array(A, chunks=2), da.from_array(B, chunks=3)
    if case == "kron":
        lazy_op, ref = kvd.Kron(Ad, Bd, scale=2.0), kronvec.Kron(A, B, scale=2.0)
    elif case == "kron_rect":
        R, Q = _rng_matrix(rng, (3, 6)), _rng_matrix(rng, (7, 2))
        lazy_op = kvd.Kron(da.from_array(R, chunks=2), da.from_array(Q, chunks=3))
        ref = kronvec.Kron(R, Q)
    elif case == "sum":
        lazy_op = kvd.Kron(Ad, kvd.Identity(4)) + kvd.Kron(kvd.Identity(5), Bd)
        ref = kronvec.Kron(A, kronvec.Identity(4)) + kronvec.Kron(kronvec.Identity(5), B)
    elif case == "product":
        lazy_op = kvd.Product(kvd.Kron(Ad, Bd), kvd.Commutation(4, 5), kvd.Kron(Bd, Ad))
        ref = kronvec.Kron(A, B) @ kronvec.Commutation(4, 5) @ kronvec.Kron(B, A)
    elif case == "scaled":
        lazy_op, ref = -0.5 * kvd.Kron(Ad, Bd) - kvd.Kron(Ad, Bd), -1.5 * kronvec.Kron(A, B)
    elif case == "selection":
        index = rng.integers(0, 20, 13)
        lazy_op = kvd.Product(kvd.Selection(index, 20), kvd.Kron(Ad, Bd))
        ref = kronvec.Selection(index, 20) @ kronvec.Kron(A, B)
    elif case == "duplication":
        lazy_op, ref = kvd.Duplication(5), kronvec.Duplication(5)
    elif case == "commutation":
        lazy_op, ref = kvd.Commutation(5, 4), kronvec.Commutation(5, 4)
    elif case == "inv":
        X = A @ A.T + 5 * np.eye(5)
        lazy_op = kvd.inv_jacobian(da.from_array(np.linalg.inv(X), chunks=2))
        ref = kronvec.rules.inv(X)
    elif case == "sylvester":
        lazy_op = kvd.sylvester_operator(Ad, Bd)
        ref = kronvec.jacobian(lambda Z: A @ Z + Z @ B)(np.ones((5, 4)))
    else:
        d = rng.standard_normal(20)
        lazy_op = kvd.Product(kvd.Diag(da.from_array(d, chunks=7)), kvd.Kron(Ad, Bd).T)
        ref = kronvec.Diag(d) @ kronvec.Kron(A, B).T
    M = ref.toarray()
    x, y = rng.standard_normal(M.shape[1]), rng.standard_normal(M.shape[0])
    X, Y = rng.standard_normal((M.shape[1], 3)), rng.standard_normal((M.shape[0], 2))
    xd = da.from_array(x, chunks=7)
    for result, expected in [(lazy_op.matvec(xd), M @ x), (lazy_op.rmatvec(y), M.T @ y),
                             (lazy_op.matmat(da.from_array(X, chunks=(6, 2))), M @ X),
                             (lazy_op.rmatmat(Y), M.T @ Y), (lazy_op @ xd, M @ x), (y @ lazy_op, y @ M),
                             (lazy_op.T.matvec(y), M.T @ y)]:
        assert isinstance(result, da.Array)  # lazy
        np.testing.assert_allclose(result.compute(), expected, rtol=1e-12, atol=1e-12 * np.abs(M).max())
    assert lazy_op.shape == M.shape


def test_conjugate_gradients_on_a_lazy_sylvester_operator():
    """CG on I ⊗ A + Bᵀ ⊗ I (A, B symmetric positive definite) with dask arrays:
    each step is one lazy matvec and two reductions; it solves AZ + ZB = C."""
    rng = np.random.default_rng(3)
    A, B = (M @ M.T + m * np.eye(m) for m, M in ((4, rng.standard_normal((4, 4))),
                                                    (3, rng.standard_normal((3, 3)))))
    C = rng.standard_normal((4, 3))
    S = kvd.sylvester_operator(da.from_array(A, chunks=2), da.from_array(B, chunks=2))
    b = da.from_array(C.ravel(order="F"), chunks=4)
    x, r = da.zeros_like(b), b
    p, rr = r, float((r @ r).compute())
    for _ in range(12):  # 12 unknowns: CG terminates in at most 12 steps
        Sp = S.matvec(p).persist()
        alpha = rr / float((p @ Sp).compute())
        x, r = dask.persist(x + alpha * p, r - alpha * Sp)
        rr_new = float((r @ r).compute())
        if rr_new < 1e-28:
            break
        p, rr = r + (rr_new / rr) * p, rr_new
    Z = x.compute().reshape(3, 4).T
    np.testing.assert_allclose(A @ Z + Z @ B, C, atol=1e-10)


def test_lazy_converts_kronvec_jacobians():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((4, 4)) + 4 * np.eye(4)
    for f in (lambda X: X @ X, np.linalg.inv, lambda X: X.T @ np.linalg.inv(X), lambda X: X @ X.T):
        J = kronvec.jacobian(f)(X)
        L = kvd.lazy(J, chunks=3)
        v = rng.standard_normal(16)
        np.testing.assert_allclose(L.matvec(v).compute(), J.matvec(v), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(L.rmatvec(v).compute(), J.rmatvec(v), rtol=1e-12, atol=1e-12)
    H = kronvec.hessian(lambda X: np.linalg.slogdet(X)[1])(X)
    np.testing.assert_allclose(kvd.lazy(H).matvec(v).compute(), H.matvec(v), rtol=1e-12, atol=1e-12)
    with pytest.raises(TypeError, match="no lazy form"):
        kvd.lazy(kronvec.Sparse(np.eye(3)))


def test_lazy_operators_refuse_to_materialize():
    big = kvd.Kron(da.ones((20000, 20000), chunks=5000), da.ones((20000, 20000), chunks=5000))
    for method in (big.toarray, big.tosparse, big.todense, lambda: np.asarray(big)):
        with pytest.raises(TypeError, match="never materialized.*matvec"):
            method()
    with pytest.raises(ValueError, match="needs shape"):
        big.matvec(np.ones(3))
    assert repr(big) == "<400000000×400000000 LazyOperator: M ⊗ M (dask)>"


# ----------------------------------------------------- distributed cluster
@pytest.fixture(scope="module")
def client():
    # Work stealing off: it may move a chunk to an idle worker to balance load
    # (Dask's default, fine in use), which would blur the byte count of
    # test_cluster_data_are_persisted_once_not_resent.  Retries after a lost
    # worker do not depend on it.
    with dask.config.set({"distributed.comm.timeouts.connect": "30s",
                          "distributed.scheduler.work-stealing": False}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR,
                                           timeout="60s")
        client = distributed.Client(cluster, timeout="60s")
        pids = set()
        try:
            client.wait_for_workers(2, timeout=60)
            pids.update(client.run(os.getpid).values())
            client.kronvec_pids = pids  # the tests add restarted workers' pids
            yield client
        finally:
            try:
                pids.update(client.run(os.getpid).values())
            except Exception:  # noqa: BLE001 - a worker may be restarting; the ones we saw are checked
                pass
            client.close(timeout=30)
            cluster.close(timeout=30)
    deadline = time.monotonic() + 30
    alive = [pid for pid in pids if _alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if _alive(pid)]
    assert not alive, f"worker processes {alive} outlived the cluster"


def _alive(pid):
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_cluster_value_grad_hvp_equal_in_memory(client, groups, point):
    _, S, D, n = groups
    X, V = point
    data = [a.persist() for a in as_dask(250, S, D, n)]
    value, gradient = _bounded(kvd.value_and_grad(group_nll), X, *data)
    expected = kronvec.value_and_grad(group_nll)(X, S, D, n)
    close(value, expected[0])
    close(gradient, expected[1])
    close(_bounded(kvd.hvp(group_nll), X, *data, V), kronvec.hvp(group_nll)(X, S, D, n, V))


def _transfer_bytes(client):
    def outgoing(dask_worker):
        log = getattr(dask_worker, "transfer_outgoing_log", None)
        if log is None:  # distributed < 2023.x
            log = dask_worker.outgoing_transfer_log
        return sum(entry.get("total", entry.get("total_nbytes", 0)) for entry in log)

    return sum(client.run(outgoing).values())


def test_cluster_data_are_persisted_once_not_resent(client, groups, point):
    _, S, D, n = groups
    X, V = point
    chunks = as_dask(250, S, D, n)
    data_bytes = sum(a.nbytes for a in chunks)
    obj = kvd.objective(group_nll, (3, 3), *chunks, symmetric=True)
    _bounded(distributed.wait, distributed.futures_of(obj.data))
    x = obj.to_vector(X)
    _bounded(obj.fun, x)  # warm: f and the constants are shipped once here
    before = _transfer_bytes(client)
    evaluations = 5
    with distributed.get_task_stream(client=client) as stream:
        for k in range(evaluations):
            _bounded(obj.fun, x + 0.01 * (k + 1))
    sent = _transfer_bytes(client) - before
    # Worker-to-worker traffic is partial sums (3×3 arrays) and the point, not
    # data: far below one copy of the data, let alone one per evaluation.
    assert sent < data_bytes / 20, (sent, data_bytes)
    names = [task["key"][0] if isinstance(task["key"], tuple) else task["key"] for task in stream.data]
    chunk_tasks = [k for k in names if k.startswith("kronvec-value_and_grad-")]
    assert len(chunk_tasks) == evaluations * obj.n_chunks  # one task per chunk per evaluation
    reductions = math.ceil(obj.n_chunks / 8) + (obj.n_chunks > 8)
    point = 1  # X (small: it travels in the graph, one key read by every chunk task)
    assert len(names) == evaluations * (obj.n_chunks + reductions + point), sorted(set(names))
    assert all(k.startswith("kronvec-") for k in names)  # nothing recomputes the data


def _start(S, n):
    return np.linalg.cholesky(np.sum(S, axis=0) / np.sum(n))  # the pooled covariance's factor


def factored_nll(L, S, D, n):
    """group_nll over Σ = L Lᵀ: positive semidefinite for every L, so the
    solver cannot leave the likelihood's domain (Σ + diag(D_g) stays definite)."""
    return group_nll(L @ L.T, S, D, n)


def test_cluster_optimizer_reaches_the_in_memory_optimum(client, groups):
    _, S, D, n = groups
    local = kvo.objective(factored_nll, (3, 3), S, D, n)
    dist = kvd.objective(factored_nll, (3, 3), *as_dask(400, S, D, n))
    x0 = local.to_vector(_start(S, n))
    options = dict(method="L-BFGS-B", jac=True, options={"maxiter": 500})
    ref = scipy.optimize.minimize(local.value_and_grad, x0, **options)
    res = _bounded(lambda: scipy.optimize.minimize(dist.value_and_grad, x0, **options), timeout=120)
    assert ref.success and res.success, (ref.message, res.message)
    # The same optimum, to within the solver's own tolerance (the iterates agree up
    # to rounding, as the values agree to 1e-12).
    L, L_ref = dist.to_matrix(res.x), local.to_matrix(ref.x)
    np.testing.assert_allclose(L @ L.T, L_ref @ L_ref.T, rtol=1e-5)
    assert abs(res.fun - ref.fun) <= 1e-9 * abs(ref.fun)


def test_hessp_drives_a_newton_solver_to_the_in_memory_optimum(client, groups):
    _, S, D, n = groups
    local = kvo.objective(group_nll, (3, 3), S, D, n, symmetric=True)
    x0 = local.to_vector(np.sum(S, axis=0) / np.sum(n))  # the pooled covariance
    options = dict(method="trust-krylov")
    ref = scipy.optimize.minimize(local.fun, x0, jac=local.jac, hessp=local.hessp, **options)
    with dask.config.set(scheduler="threads"):  # the threaded scheduler, even while a Client exists
        dist = kvd.objective(group_nll, (3, 3), *as_dask(400, S, D, n), symmetric=True)
        res = scipy.optimize.minimize(dist.fun, x0, jac=dist.jac, hessp=dist.hessp, **options)
    assert ref.success and res.success, (ref.message, res.message)
    np.testing.assert_allclose(dist.to_matrix(res.x), local.to_matrix(ref.x), rtol=1e-9)
    with pytest.raises(RuntimeError, match="persisted with no dask.distributed Client active"):
        dist.fun(x0)  # back under the module's Client: the data are not there


def test_cluster_survives_a_worker_killed_mid_evaluation(client, groups, point):
    _, S, D, n = groups
    X, _ = point

    def slow_nll(Sigma, S, D, n):  # long enough per chunk to kill a worker while it computes
        time.sleep(0.4)
        return group_nll(Sigma, S, D, n)

    data = [a.persist() for a in as_dask(250, S, D, n)]  # 8 chunks, spread over both workers
    _bounded(distributed.wait, data)
    outcome = {}

    def evaluate():
        try:
            outcome["result"] = kvd.value_and_grad(slow_nll)(X, *data)
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            outcome["error"] = err

    thread = threading.Thread(target=evaluate, daemon=True)
    thread.start()
    victim, deadline = None, time.monotonic() + 30
    while victim is None and time.monotonic() < deadline:
        processing = client.processing()
        busy = [w for w, keys in processing.items()
                if any("kronvec-value_and_grad" in str(k) for k in keys)]
        victim = busy[0] if busy else None
        time.sleep(0.05)
    assert victim is not None, "no chunk task started"
    time.sleep(0.2)  # mid-task
    pid = client.run(os.getpid, workers=[victim])[victim]
    client.kronvec_pids.add(pid)
    os.kill(pid, signal.SIGKILL)
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "the evaluation did not finish after the worker was killed"
    assert "error" not in outcome, outcome.get("error")
    value, gradient = outcome["result"]
    expected = kronvec.value_and_grad(group_nll)(X, S, D, n)
    close(value, expected[0])
    close(gradient, expected[1])
    _bounded(client.wait_for_workers, 2, 60)  # the nanny restarted it
    client.kronvec_pids.update(client.run(os.getpid).values())
