"""Hard inputs side by side: kronvec, JAX, PyTorch and HIPS autograd (issue 6).

Run from the repository root::

    python benchmarks/hard_inputs_table.py                 # table + n = 4000 figures
    python benchmarks/hard_inputs_table.py --skip-n4000    # table only
    python benchmarks/hard_inputs_table.py --only kronvec,jax --timeout 60

For every bad-input class (singular determinants of rank n−1 and ≤ n−2 at
first and second order, log-determinant and inverse at singular matrices,
NaN/inf input, ill-conditioned inverses, complex input, a non-square inverse,
float32 input, and a 205 GB dense Jacobian request) each framework runs in
its *own subprocess* with a timeout (``--timeout`` seconds per class, enforced
with SIGALRM inside the worker and a hard subprocess timeout outside it) and
an address-space limit (``--memory-gib``, default 6 GiB) so that a framework
that tries to allocate the 205 GB Jacobian cannot swap or OOM the shared
machine.  Frameworks that are not installed are reported as such.

Each result is judged in this process against an independent reference
(cofactors from explicit minors, central differences of the cofactor matrix)
and summarized per class:

* ``n× ✓`` exact (max error ≤ 1e-8 relative), ``n× ✗ err=…`` finite but wrong,
* ``n× NaN/inf`` non-finite output, ``n× ExceptionType`` raised,
* ``+warn`` when a warning (e.g. kronvec's IllConditionedWarning) was emitted,
* ``timeout`` / ``killed``, and the wall time for the huge request.

The second part measures the structured Jacobian of inv at n = 4000 (each
side in a fresh process): ``jacobian(np.linalg.inv)(X)`` plus one ``matvec``
against one ``np.linalg.inv`` plus two matrix products, with peak memory from
``tracemalloc`` (NumPy reports its allocations to it) and the process's
``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

FRAMEWORKS = ["kronvec", "jax", "torch", "autograd"]
EXACT_RTOL = 1e-8


# --------------------------------------------------------------------------
# inputs and references (the parent process; plain NumPy only)
# --------------------------------------------------------------------------


def vec(X):
    return np.asarray(X).reshape(-1, order="F")


def unvec(v, shape):
    return np.asarray(v).reshape(shape, order="F")


def _orthogonal(rng, n):
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def svd_built(singular_values, seed):
    rng = np.random.default_rng(seed)
    n = len(singular_values)
    return (_orthogonal(rng, n) * np.asarray(singular_values, float)) @ _orthogonal(rng, n).T


def cofactor_matrix(X):
    """∇|X| from explicit minors (Laplace expansion): valid at every rank."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    C = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            C[i, j] = (-1) ** (i + j) * np.linalg.det(np.delete(np.delete(X, i, 0), j, 1))
    return C


def central_difference(f, X, step=1e-6):
    """∂vec f/∂(vec X)ᵀ by central differences (numerator layout, column-major vec)."""
    X = np.array(X, dtype=np.float64)
    x = vec(X).copy()
    J = None
    for k in range(x.size):
        h = step * max(1.0, abs(x[k]))
        xp, xm = x.copy(), x.copy()
        xp[k] += h
        xm[k] -= h
        column = (vec(f(unvec(xp, X.shape))) - vec(f(unvec(xm, X.shape)))) / (2 * h)
        if J is None:
            J = np.empty((column.size, x.size))
        J[:, k] = column
    return J


def hilbert(n):
    i = np.arange(n)
    return 1.0 / (i[:, None] + i[None, :] + 1.0)


def _rotation(theta):
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def _with(X, index, value):
    X = np.array(X, dtype=np.float64)
    X[index] = value
    return X


WELL3 = np.array([[4.0, 1.0, -1.0], [0.5, 3.0, 0.2], [-0.3, 1.0, 5.0]])
INT_RANK2 = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])

# class -> (operation, inputs, expectation, judge)
#   judge: "cofactor" | "hessian" | "expect-raise" | "finite" | "dtype" | "time"
CASES = {
    "grad det, rank n−1": ("grad_det", [INT_RANK2, svd_built([3, 2, 1, 0.0], 1), np.array([[0.0, 1], [0, 1]]),
                                        np.zeros((1, 1))], "exact (adjugate)", "cofactor"),
    "grad det, rank ≤ n−2": ("grad_det", [np.zeros((3, 3)), np.ones((3, 3)), svd_built([3, 2, 0, 0.0], 2)],
                             "exact (zero)", "cofactor"),
    "hessian det, rank n−1 / ≤ n−2": ("hess_det", [INT_RANK2, svd_built([3, 2, 1, 0.0], 1),
                                                   svd_built([3, 2, 0, 0.0], 2), np.zeros((3, 3))],
                                      "exact", "hessian"),
    "grad logdet, singular": ("grad_logdet", [np.array([[1.0, 2], [2, 4]]), INT_RANK2, np.zeros((2, 2))],
                              "LinAlgError", "expect-raise"),
    "grad Σinv, singular": ("grad_suminv", [np.array([[1.0, 2], [2, 4]]), INT_RANK2, np.zeros((2, 2))],
                            "LinAlgError", "expect-raise"),
    "NaN / inf input (grad Σinv)": ("grad_suminv", [_with(WELL3, (0, 1), np.nan), _with(WELL3, (2, 2), np.inf)],
                                    "ValueError", "expect-raise"),
    "ill-conditioned inv (κ 1e15–1e17)": ("grad_suminv", [_rotation(0.3) @ np.diag([1.0, 1e-15]) @ _rotation(1.1).T,
                                                           hilbert(12), svd_built([3, 2, 1, 1e-16], 3)],
                                          "finite + warning", "finite"),
    "complex input (grad Σinv)": ("grad_suminv_complex", [WELL3 + 0.5j * np.eye(3)], "TypeError", "expect-raise"),
    "non-square inv (2×3)": ("jac_inv", [np.ones((2, 3))], "ValueError naming shape", "expect-raise"),
    "float32 input (grad logdet)": ("grad_logdet", [WELL3.astype(np.float32)], "float32 out", "dtype"),
    "huge dense Jacobian (inv, n=400, 205 GB)": ("jac_inv_dense", ["huge400"], "MemoryError in ms", "time"),
}


def huge_input():
    n = 400
    rng = np.random.default_rng(400)
    return rng.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)


# --------------------------------------------------------------------------
# the worker (a subprocess per framework; the huge request in its own)
# --------------------------------------------------------------------------


class _Alarm(Exception):
    pass


def _framework_ops(framework):
    """op name -> callable(X ndarray) -> array-like, for one framework."""
    if framework == "kronvec":
        import kronvec

        logdet = lambda X: np.linalg.slogdet(X)[1]  # noqa: E731
        return {
            "grad_det": kronvec.grad(np.linalg.det),
            "hess_det": lambda X: kronvec.hessian(np.linalg.det)(X).toarray(),
            "grad_logdet": kronvec.grad(logdet),
            "grad_suminv": kronvec.grad(lambda X: np.sum(np.linalg.inv(X))),
            "grad_suminv_complex": kronvec.grad(lambda X: np.sum(np.linalg.inv(X))),
            "jac_inv": lambda X: kronvec.jacobian(np.linalg.inv)(X).toarray(),
            "jac_inv_dense": lambda X: kronvec.jacobian(np.linalg.inv)(X).toarray(),
        }
    if framework == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        def run(f):
            return lambda X: np.asarray(jax.block_until_ready(f(jnp.asarray(X))))

        return {
            "grad_det": run(jax.grad(jnp.linalg.det)),
            "hess_det": run(jax.hessian(jnp.linalg.det)),
            "grad_logdet": run(jax.grad(lambda X: jnp.linalg.slogdet(X)[1])),
            "grad_suminv": run(jax.grad(lambda X: jnp.sum(jnp.linalg.inv(X)))),
            "grad_suminv_complex": run(jax.grad(lambda X: jnp.sum(jnp.linalg.inv(X)).real)),
            "jac_inv": run(jax.jacfwd(jnp.linalg.inv)),
            "jac_inv_dense": run(jax.jacfwd(jnp.linalg.inv)),
        }
    if framework == "torch":
        import torch

        def grad_of(f):
            def g(X):
                T = torch.tensor(X, requires_grad=True)
                (G,) = torch.autograd.grad(f(T), T)
                return G.detach().numpy()

            return g

        return {
            "grad_det": grad_of(torch.linalg.det),
            "hess_det": lambda X: torch.autograd.functional.hessian(torch.linalg.det, torch.tensor(X)).numpy(),
            "grad_logdet": grad_of(lambda T: torch.linalg.slogdet(T)[1]),
            "grad_suminv": grad_of(lambda T: torch.linalg.inv(T).sum()),
            "grad_suminv_complex": grad_of(lambda T: torch.linalg.inv(T).sum().real),
            "jac_inv": lambda X: torch.autograd.functional.jacobian(torch.linalg.inv, torch.tensor(X)).numpy(),
            "jac_inv_dense": lambda X: torch.autograd.functional.jacobian(
                torch.linalg.inv, torch.tensor(X), vectorize=True).numpy(),
        }
    if framework == "autograd":
        import autograd
        import autograd.numpy as anp

        return {
            "grad_det": autograd.grad(anp.linalg.det),
            "hess_det": autograd.hessian(anp.linalg.det),
            "grad_logdet": autograd.grad(lambda X: anp.linalg.slogdet(X)[1]),
            "grad_suminv": autograd.grad(lambda X: anp.sum(anp.linalg.inv(X))),
            "grad_suminv_complex": autograd.grad(lambda X: anp.real(anp.sum(anp.linalg.inv(X)))),
            "jac_inv": autograd.jacobian(anp.linalg.inv),
            "jac_inv_dense": autograd.jacobian(anp.linalg.inv),
        }
    raise ValueError(framework)


def worker(framework, case_names, inputs_path, case_timeout):
    """Print one JSON line per (case, input): the outcome, flushed as it happens."""
    data = np.load(inputs_path, allow_pickle=False)

    def on_alarm(signum, frame):
        raise _Alarm()

    signal.signal(signal.SIGALRM, on_alarm)
    try:
        ops = _framework_ops(framework)
    except ImportError as error:
        print(json.dumps({"case": None, "status": "not installed", "detail": str(error)}), flush=True)
        return
    for case in case_names:
        op = CASES[case][0]
        k = 0
        while f"{case}|{k}" in data:
            X = data[f"{case}|{k}"]
            record = {"case": case, "index": k}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                signal.alarm(case_timeout)
                started = time.perf_counter()
                try:
                    out = np.asarray(ops[op](X))
                except _Alarm:
                    record.update(status="timeout")
                except BaseException as error:  # noqa: BLE001 - we report whatever happens
                    record.update(status="raised", exception=type(error).__name__, message=str(error)[:160])
                else:
                    record.update(status="ok", dtype=str(out.dtype), shape=list(out.shape),
                                  finite=bool(np.all(np.isfinite(out))))
                    if out.size <= 4096:
                        record["value"] = np.real(out).astype(np.float64).tolist()
                        record["complex"] = bool(np.iscomplexobj(out) and np.any(np.imag(out)))
                finally:
                    signal.alarm(0)
                record["seconds"] = time.perf_counter() - started
            record["warnings"] = sorted({w.category.__name__ for w in caught})
            print(json.dumps(record), flush=True)
            k += 1


# --------------------------------------------------------------------------
# the parent: run workers, judge, print the table
# --------------------------------------------------------------------------


def _limit_memory(gib):
    def apply():
        limit = int(gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run_worker(framework, case_names, inputs_path, timeout, memory_gib):
    command = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--inputs", inputs_path,
               "--cases", json.dumps(case_names), "--timeout", str(timeout)]
    hard_timeout = timeout * sum(len(CASES[c][1]) for c in case_names) + 120  # imports are slow here
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=hard_timeout,
                                   preexec_fn=_limit_memory(memory_gib))
        stdout, returncode = completed.stdout, completed.returncode
    except subprocess.TimeoutExpired as expired:
        stdout = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        returncode = "timeout"
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return records, returncode


def judge(case, X, record):
    """A short verdict for one input."""
    op, _, _, how = CASES[case]
    status = record["status"]
    if status == "timeout":
        return "timeout"
    if status == "raised":
        return record["exception"]
    if not record["finite"]:
        return "NaN/inf"
    if record.get("complex"):
        return "complex result"
    if how in ("cofactor", "hessian") and "value" in record:
        value = np.asarray(record["value"])
        if how == "cofactor":
            expected = cofactor_matrix(X)
        else:
            expected = central_difference(cofactor_matrix, X)
            n = X.shape[0]
            if value.ndim == 4:  # frameworks return ∂²f/∂X_ij∂X_kl as (n, n, n, n)
                value = value.transpose(1, 0, 3, 2).reshape(n * n, n * n)
        scale = max(1.0, float(np.abs(expected).max()))
        error = float(np.abs(value - expected).max()) / scale
        return "✓" if error <= EXACT_RTOL else f"✗ err={error:.0e}"
    if how == "dtype":
        return f"ok {record['dtype']}"
    return "finite"


def summarize(case, verdicts, records):
    counts = collections.Counter(verdicts)
    text = ", ".join(f"{n}× {v}" for v, n in counts.items())
    warned = sorted({w for r in records for w in r.get("warnings", []) if w != "DeprecationWarning"})
    if warned:
        text += " +warn(" + ",".join(warned) + ")"
    if CASES[case][3] == "time" and records:
        text += f" in {max(r['seconds'] for r in records):.3g} s"
    return text


def build_table(frameworks, timeout, memory_gib):
    inputs = {}
    for case, (_, Xs, _, _) in CASES.items():
        for k, X in enumerate(Xs):
            inputs[f"{case}|{k}"] = huge_input() if isinstance(X, str) else X
    normal = [c for c in CASES if CASES[c][3] != "time"]
    huge = [c for c in CASES if CASES[c][3] == "time"]
    cells = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "inputs.npz")
        np.savez(path, **inputs)
        for framework in frameworks:
            for group in (normal, huge):
                started = time.perf_counter()
                records, returncode = run_worker(framework, group, path, timeout, memory_gib)
                elapsed = time.perf_counter() - started
                print(f"  {framework}: {len(group)} class(es) in {elapsed:.0f} s (exit {returncode})",
                      file=sys.stderr)
                if records and records[0].get("status") == "not installed":
                    for case in group:
                        cells[case, framework] = "not installed"
                    continue
                for case in group:
                    mine = [r for r in records if r.get("case") == case]
                    Xs = [inputs[f"{case}|{r['index']}"] for r in mine]
                    verdicts = [judge(case, X, r) for X, r in zip(Xs, mine)]
                    missing = len(CASES[case][1]) - len(mine)
                    if missing:
                        verdicts += ["killed" if returncode not in (0, "timeout") else "timeout"] * missing
                    cells[case, framework] = summarize(case, verdicts, mine)
    lines = ["| bad-input class | #inputs | expected | " + " | ".join(frameworks) + " |",
             "|---|---|---|" + "---|" * len(frameworks)]
    for case, (_, Xs, expected, _) in CASES.items():
        row = [case, str(len(Xs)), expected] + [cells.get((case, f), "—") for f in frameworks]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# n = 4000: structured Jacobian of inv against one inverse + two products
# --------------------------------------------------------------------------


def inv4000_worker(mode, n):
    import tracemalloc

    rng = np.random.default_rng(4000)
    X = rng.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)
    V = rng.standard_normal((n, n))
    v = vec(V)
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    if mode == "structured":
        import kronvec

        J = kronvec.jacobian(np.linalg.inv)(X)
        created = time.perf_counter()
        y = J.matvec(v)
        seconds = {"create": created - started, "matvec": time.perf_counter() - created}
    else:
        Xi = np.linalg.inv(X)
        inverted = time.perf_counter()
        y = vec(-(Xi @ V) @ Xi)
        seconds = {"inverse": inverted - started, "two matmuls": time.perf_counter() - inverted}
    seconds["total"] = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"mode": mode, "n": n, "seconds": seconds, "tracemalloc_peak": peak,
                      "maxrss_kib": rss, "maxrss_before_kib": baseline_rss,
                      "checksum": float(np.sum(y[:1000]))}))


def measure_inv4000(n, repeats):
    results = {}
    for mode in ("baseline", "structured"):
        runs = []
        for _ in range(repeats):
            completed = subprocess.run([sys.executable, os.path.abspath(__file__), "--inv4000-worker", mode,
                                        "--n", str(n)], capture_output=True, text=True, timeout=900)
            if completed.returncode != 0:
                raise RuntimeError(completed.stderr[-2000:])
            runs.append(json.loads(completed.stdout.strip().splitlines()[-1]))
        results[mode] = min(runs, key=lambda r: r["seconds"]["total"])
    b, s = results["baseline"], results["structured"]
    ratio = s["seconds"]["total"] / b["seconds"]["total"]
    same = np.isclose(b["checksum"], s["checksum"], rtol=1e-8)
    mib = 2**20
    inputs = 2 * n * n * 8  # X and V, allocated before tracing
    lines = [
        f"n = {n} (the dense Jacobian would be {(n * n) ** 2 * 8 / 1e15:.2f} PB); best of {repeats} fresh process(es)",
        f"- inverse + two matmuls: {b['seconds']['total']:.2f} s (inverse {b['seconds']['inverse']:.2f} s, "
        f"matmuls {b['seconds']['two matmuls']:.2f} s); tracemalloc peak {b['tracemalloc_peak'] / mib:.0f} MiB, "
        f"ru_maxrss {b['maxrss_kib'] / 1024:.0f} MiB",
        f"- kronvec jacobian(inv) + matvec: {s['seconds']['total']:.2f} s (create {s['seconds']['create']:.2f} s, "
        f"matvec {s['seconds']['matvec']:.2f} s); tracemalloc peak {s['tracemalloc_peak'] / mib:.0f} MiB, "
        f"ru_maxrss {s['maxrss_kib'] / 1024:.0f} MiB (inputs X, V: {inputs / mib:.0f} MiB)",
        f"- ratio {ratio:.2f}× (target ≤ 2×), peak {'<' if s['maxrss_kib'] * 1024 < 2**30 else '≥'} 1 GiB; "
        f"results agree: {bool(same)}",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker")
    parser.add_argument("--inputs")
    parser.add_argument("--cases")
    parser.add_argument("--inv4000-worker", choices=["structured", "baseline"])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--timeout", type=int, default=60, help="seconds per class per framework")
    parser.add_argument("--memory-gib", type=float, default=6.0, help="address-space limit of each worker")
    parser.add_argument("--only", default=",".join(FRAMEWORKS))
    parser.add_argument("--skip-n4000", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per n = 4000 measurement")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, json.loads(args.cases), args.inputs, args.timeout)
        return
    if args.inv4000_worker:
        inv4000_worker(args.inv4000_worker, args.n)
        return
    frameworks = [f for f in args.only.split(",") if f]
    print(build_table(frameworks, args.timeout, args.memory_gib))
    if not args.skip_n4000:
        print()
        print(measure_inv4000(args.n, args.repeats))


if __name__ == "__main__":
    main()
