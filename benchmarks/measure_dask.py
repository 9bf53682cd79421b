"""kronvec.dask at scale: a multi-group covariance fit and a Kronecker matvec.

1. **Covariance fit** -- G groups (default 10⁷) of 3×3 sufficient statistics
   S_g (n_g = 4 draws each), per-group noise D_g, generated lazily with
   ``dask.array`` random in chunks of ``--chunk`` groups, persisted once in
   the cluster; the objective is the multi-group Gaussian negative
   log-likelihood over Σ = L Lᵀ (``dask_covariance_fit.py`` fits it).  For 1
   and 2 worker processes (one thread each) it prints the time per value+grad
   (median of ``--evaluations``), the speed-up, and per worker the data held
   and the peak resident memory; then one evaluation with ``persist=False``
   (data regenerated chunk by chunk, never held): its peak memory per worker
   is bounded by a few chunks, not by G.
2. **Kron matvec** -- ``kronvec.dask.Kron(A, B).matvec(x)`` with n×n factors
   chunked ``--kron-chunk`` square, generated lazily, against
   ``kronvec.Kron(A, B).matvec(x)`` in memory, at each ``--kron`` n.  The
   operator is n²×n²; a matvec is 4n³ flops (two n×n by n×n products).

The machine is shared: the 1-minute load average is printed with every
figure, since other processes' load distorts the scaling.

Run from the repository root::

    PYTHONPATH=. python benchmarks/measure_dask.py                 # the full run (minutes)
    PYTHONPATH=. python benchmarks/measure_dask.py --groups 200000 --kron 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import time

import numpy as np

import kronvec

I3 = np.eye(3)
C = np.array([[1.0, 0.0, 0.0], [0.5, 1.2, 0.0], [-0.3, 0.2, 0.8]])  # the true Σ is C Cᵀ


def group_nll(L, S, D, n):
    """Σ_g ½ n_g log|Σ + D_g| + ½ tr((Σ + D_g)⁻¹ S_g), Σ = L Lᵀ (up to constants)."""
    Sg = (L @ L.T) + D[:, :, None] * I3
    return 0.5 * np.sum(n * np.linalg.slogdet(Sg)[1]) + 0.5 * np.sum(np.linalg.inv(Sg) * S)


def statistics_data(groups, chunk, seed=0):
    """Lazy (S, D, n): nothing is generated until a chunk task needs it."""
    import dask.array as da

    rng = da.random.default_rng(seed)
    Z = rng.standard_normal((groups, 3, 4), chunks=(chunk, 3, 4))
    Y = C @ Z                                   # 4 draws of N(0, C Cᵀ) per group
    S = Y @ Y.transpose(0, 2, 1)
    D = rng.uniform(0.05, 0.2, (groups, 3), chunks=(chunk, 3))
    n = da.full((groups,), 4.0, chunks=chunk)
    return S, D, n


def load():
    return round(os.getloadavg()[0], 2)


def _worker_memory(dask_worker):
    import psutil

    held = 0
    try:
        held = sum(ts.nbytes for ts in dask_worker.state.tasks.values() if ts.state == "memory")
    except AttributeError:
        pass
    return {"rss_MB": psutil.Process().memory_info().rss / 2**20,
            "peak_rss_MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,  # KiB on Linux
            "data_MB": held / 2**20}


def _worker_cpu(dask_worker):
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def covariance(groups, chunk, workers, evaluations, persist=True):
    import distributed

    import kronvec.dask as kvd

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        # warm the workers (imports, first traces) on a tiny problem first
        warm = kvd.objective(group_nll, (3, 3), *statistics_data(8 * workers, 4))
        warm.fun(warm.to_vector(I3))
        before = client.run(_worker_memory)
        t0 = time.perf_counter()
        obj = kvd.objective(group_nll, (3, 3), *statistics_data(groups, chunk), persist=persist)
        if persist:
            distributed.wait(distributed.futures_of(obj.data))
        persist_s = time.perf_counter() - t0
        x = obj.to_vector(np.linalg.cholesky(C @ C.T + 0.1 * I3))
        times, loads, cpu = [], [], []
        for k in range(evaluations if persist else 1):
            loads.append(load())
            cpu_before = client.run(_worker_cpu)
            t = time.perf_counter()
            value, g = obj.value_and_grad(x + 1e-3 * k)
            times.append(time.perf_counter() - t)
            cpu_after = client.run(_worker_cpu)
            cpu.append([cpu_after[w] - cpu_before[w] for w in sorted(cpu_after)])
        after = client.run(_worker_memory)
    memory = [{"before": before[w], "after": after[w]} for w in sorted(after)]
    return {"groups": groups, "chunk": chunk, "chunks": obj.n_chunks, "workers": workers,
            "persist": persist, "persist_s": persist_s, "times_s": times,
            "median_s": statistics.median(times), "load_1min": loads, "memory": memory,
            # CPU seconds each worker process spent per evaluation: the work, whatever the load
            "cpu_s": cpu, "cpu_total_s": statistics.median(sum(c) for c in cpu),
            "cpu_max_worker_s": statistics.median(max(c) for c in cpu),
            "value": value, "chunk_MB": chunk * (9 + 3 + 1) * 8 / 2**20}


def kron_plan(n, block):
    """The lazy matvec's graph at size n, built but not computed: tasks and the largest block."""
    import dask.array as da

    import kronvec.dask as kvd

    rng = da.random.default_rng(1)
    A = rng.standard_normal((n, n), chunks=block)
    B = rng.standard_normal((n, n), chunks=block)
    x = rng.standard_normal(n * n, chunks=block * block)
    t = time.perf_counter()
    y = kvd.Kron(A, B).matvec(x)
    build = time.perf_counter() - t
    graph = dict(y.__dask_graph__())
    largest = max(max(y.chunks[0]), block * block) * 8  # result, factor and x blocks
    return {"n": n, "block": block, "tasks": len(graph), "build_s": build,
            "largest_block_MB": largest / 2**20, "flops": 4 * n**3,
            "factor_GB": n * n * 8 / 2**30}


def kron_matvec(n, block, repeat=1):
    import dask
    import dask.array as da

    import kronvec.dask as kvd

    rng = da.random.default_rng(1)
    A = rng.standard_normal((n, n), chunks=block)
    B = rng.standard_normal((n, n), chunks=block)
    x = rng.standard_normal(n * n, chunks=block * block)
    out = {"n": n, "operator": f"{n * n}×{n * n}", "block": block, "flops": 4 * n**3}
    y = kvd.Kron(A, B).matvec(x)
    checksum = da.linalg.norm(y)  # reduce: the n² result is never gathered
    out["tasks"] = len(dict(checksum.__dask_graph__()))
    times, loads = [], []
    for _ in range(repeat):
        loads.append(load())
        t = time.perf_counter()
        with dask.config.set(scheduler="threads", num_workers=2):
            norm_dask = float(checksum.compute())
        times.append(time.perf_counter() - t)
    out.update(dask_s=min(times), load_1min=loads, GFLOPs_dask=4 * n**3 / min(times) / 1e9)
    if 5 * n * n * 8 <= 0.4 * _total_memory():  # two factors, x, an intermediate and y in memory
        An, Bn, xn = (a.compute() for a in (A, B, x))
        K = kronvec.Kron(An, Bn)
        K.matvec(xn)  # warm
        t = time.perf_counter()
        yn = K.matvec(xn)
        out["numpy_s"] = time.perf_counter() - t
        out["GFLOPs_numpy"] = 4 * n**3 / out["numpy_s"] / 1e9
        out["relative_difference"] = abs(float(np.linalg.norm(yn)) - norm_dask) / norm_dask
    return out


def _total_memory():
    import psutil

    return psutil.virtual_memory().total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=float, default=1e7)
    parser.add_argument("--chunk", type=float, default=5e5)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--evaluations", type=int, default=3)
    parser.add_argument("--kron", default="2000,4000", help="factor sizes n (comma-separated; '' to skip)")
    parser.add_argument("--kron-chunk", type=int, default=1000)
    parser.add_argument("--kron-plan", default="20000",
                        help="sizes n whose lazy matvec graph is built but not computed")
    parser.add_argument("--kron-plan-chunk", type=int, default=2000)
    parser.add_argument("--skip-covariance", action="store_true")
    parser.add_argument("--skip-streaming", action="store_true", help="no persist=False run")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)
    results = {"machine": {"cores": os.cpu_count(), "memory_GB": round(_total_memory() / 2**30, 1)}}
    if not args.skip_covariance:
        groups, chunk = int(args.groups), int(args.chunk)
        runs = []
        for w in args.workers.split(","):
            runs.append(covariance(groups, chunk, int(w), args.evaluations))
            r = runs[-1]
            mem = ", ".join(f"data {m['after']['data_MB']:.0f} MB, peak RSS {m['after']['peak_rss_MB']:.0f} MB"
                            for m in r["memory"])
            print(f"covariance fit: G={r['groups']:.0e} in {r['chunks']} chunks of {r['chunk_MB']:.0f} MB, "
                  f"{r['workers']} worker(s): value+grad median {r['median_s']:.2f} s "
                  f"(all {[round(t, 2) for t in r['times_s']]}), persist {r['persist_s']:.1f} s, "
                  f"load {r['load_1min']}; CPU per evaluation {r['cpu_total_s']:.1f} s in all, "
                  f"{r['cpu_max_worker_s']:.1f} s on the busiest worker; per worker: {mem}", flush=True)
        if len(runs) >= 2:
            # Wall-clock speed-up, distorted by other processes on a shared machine; and the
            # speed-up on idle cores implied by the CPU accounting: the work done by one worker
            # over the busiest worker's share when there are several (no duplicated work).
            print(f"speed-up {runs[0]['workers']}→{runs[-1]['workers']} workers: wall clock "
                  f"{runs[0]['median_s'] / runs[-1]['median_s']:.2f}×; from CPU time "
                  f"{runs[0]['cpu_total_s'] / runs[-1]['cpu_max_worker_s']:.2f}× (total CPU "
                  f"{runs[0]['cpu_total_s']:.1f} s vs {runs[-1]['cpu_total_s']:.1f} s)", flush=True)
        results["covariance"] = runs
        if not args.skip_streaming:
            streamed = covariance(groups, chunk, int(args.workers.split(",")[-1]), 1, persist=False)
            mem = ", ".join(f"peak RSS {m['after']['peak_rss_MB']:.0f} MB (was {m['before']['peak_rss_MB']:.0f})"
                            for m in streamed["memory"])
            print(f"persist=False (data regenerated per evaluation, never held): value+grad "
                  f"{streamed['median_s']:.2f} s, load {streamed['load_1min']}; per worker: {mem}", flush=True)
            results["covariance"].append(streamed)
    results["kron"] = []
    for n in [int(s) for s in args.kron.split(",") if s.strip()]:
        r = kron_matvec(n, min(args.kron_chunk, n))
        results["kron"].append(r)
        numpy = (f"; in-memory NumPy {r['numpy_s']:.2f} s ({r['GFLOPs_numpy']:.1f} GFLOP/s), "
                 f"|‖y‖ difference| {r['relative_difference']:.1e}") if "numpy_s" in r else "; NumPy: does not fit"
        print(f"Kron matvec n={n} (operator {r['operator']}), {r['block']}² blocks, {r['tasks']} tasks: "
              f"dask {r['dask_s']:.2f} s ({r['GFLOPs_dask']:.1f} GFLOP/s){numpy}; load {r['load_1min']}",
              flush=True)
    results["kron_plan"] = []
    for n in [int(s) for s in args.kron_plan.split(",") if s.strip()]:
        r = kron_plan(n, args.kron_plan_chunk)
        results["kron_plan"].append(r)
        fastest = max([k["GFLOPs_dask"] for k in results["kron"]] or [float("nan")])
        print(f"Kron matvec n={n} planned (not computed): factors {r['factor_GB']:.1f} GB each, "
              f"{r['block']}² blocks, {r['tasks']} tasks built in {r['build_s']:.2f} s, largest block "
              f"{r['largest_block_MB']:.0f} MB; {r['flops']:.1e} flops = {r['flops'] / fastest / 1e9 / 60:.0f} min "
              f"at the {fastest:.1f} GFLOP/s measured above", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=float)
    return results


if __name__ == "__main__":
    main()
