"""Value and gradient of ln|S| + tr(S⁻¹C) under each BLAS thread setting and load.

    python benchmarks/measure_threads.py [--sizes 4 64 128 256 1024] [--rounds 11]
                                         [--configs default-idle,default-busy,pinned-idle,pinned-busy]
                                         [--cycles 1] [--isolate] [--neighbour-size 1500] [--quick]

NumPy and SciPy wheels each bring their own OpenBLAS with its own thread
pool; kronvec factors with SciPy's LAPACK.  This script measures what that
costs on this machine.

Configurations: thread setting × load.

* ``default``: ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``,
  ``MKL_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` unset, so each OpenBLAS uses
  every core; ``pinned``: all set to 1 before NumPy is imported.
* ``idle``: nothing else of ours runs; ``busy``: one neighbour process
  multiplies two ``--neighbour-size`` square matrices in a loop with default
  threads, started (and multiplying) before the configuration's timing and
  killed after it -- also on an error or Ctrl-C, and by itself within one
  product if this script dies.

Each configuration runs in its own Python process (this script with
``--worker``), so the thread variables take effect when NumPy loads its BLAS.
In it, per size n, four contenders on S = A Aᵀ + n I, C = B Bᵀ + I
(``measure_gradient.gaussian_inputs``) are checked against the closed form,
warmed up and timed round-robin, each round one ~20 ms batch of each,
the starting contender rotating (``measure_gradient.prepare`` and
``round_robin``):

* ``kronvec inv``: ``kronvec.value_and_grad`` of
  ``np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C)``;
* ``NumPy inv``: the closed form ``measure_gradient.hand_written``,
  Sᵢ = inv(S), f = ln|S| + tr(SᵢC), ∇f = (Sᵢ − SᵢCSᵢ)ᵀ;
* ``kronvec solve``: the same with ``np.trace(np.linalg.solve(S, C))``;
* ``NumPy solve``: X = solve(S, C), f = ln|S| + tr X, ∇f = solve(Sᵀ, I − Xᵀ).

``--isolate`` times each contender in a process of its own instead (one
library's pool per process: what each costs without the other library's
pool spinning beside it).  ``--cycles N`` runs the list of configurations N
times over, interleaved, and reports per contender the median of the N
medians, so that load which drifts during the run (other users of the
machine) falls on every configuration alike.

Reported: the median per-call time over rounds of each contender, kronvec
over NumPy for each spelling (the ratio of the medians, and the *paired*
ratio: the median over rounds of kronvec's time over NumPy's in the same
round, which a drifting load cannot tilt, see :func:`paired_ratio`), and the
targets: with default threads and a busy neighbour, kronvec ≤ 1.3 × NumPy at
n = 64, 128, 256 and 1024 (both spellings, paired); at n = 4, kronvec with
default threads ≤ 1.2 × kronvec pinned, under the same load (two processes:
medians).  Missed targets are marked ✗; the exit status is 1
only when a contender gives a wrong answer or a worker fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import _machine, format_seconds, run_with_timeout  # noqa: E402  (stdlib-only at import)

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
CONFIGS = ("default-idle", "default-busy", "pinned-idle", "pinned-busy")
CONTENDERS = ("kronvec inv", "NumPy inv", "kronvec solve", "NumPy solve")
SPELLINGS = ("inv", "solve")
MARKER = "@@threads "
TARGET_SIZES = (64, 128, 256, 1024)
CLOSED_FORM_FACTOR = 1.3  # kronvec ≤ this × NumPy, default threads, busy neighbour
PINNED_FACTOR = 1.2  # at n = 4: kronvec default ≤ this × kronvec pinned
WORKER_TIMEOUT = 3600.0

# The neighbour stops by itself once its parent is gone (re-parented), so a
# killed script cannot leave it spinning.
NEIGHBOUR = """
import os, numpy as np
parent = os.getppid()
a = np.random.default_rng(0).standard_normal(({n}, {n}))
b = a.T.copy()
a @ b
print("multiplying", flush=True)
while os.getppid() == parent:
    a @ b
"""


def thread_environment(setting, base=None):
    """The environment for `setting` "default" (thread variables unset) or "pinned" (all 1)."""
    env = {key: value for key, value in (os.environ if base is None else base).items()
           if key not in THREAD_VARIABLES}
    if setting == "pinned":
        env.update({key: "1" for key in THREAD_VARIABLES})
    return env


@contextlib.contextmanager
def busy_neighbour(size=1500):
    """A process multiplying two size×size matrices in a loop with default threads, for the block.

    Yields once it is multiplying; killed (with its process group) on leaving
    the block, however it is left.
    """
    process = subprocess.Popen([sys.executable, "-c", NEIGHBOUR.format(n=int(size))],
                               env=thread_environment("default"), stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        if process.stdout.readline().strip() != "multiplying":
            raise RuntimeError(f"the busy neighbour did not start (exit status {process.wait()})")
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()


# ============================================================================ worker
def closed_form_solve(S, C):
    """The closed form with np.linalg.solve: X = S⁻¹C, f = ln|S| + tr X, ∇f = S⁻ᵀ(I − Xᵀ)."""
    import numpy as np

    X = np.linalg.solve(S, C)
    value = np.linalg.slogdet(S)[1] + np.trace(X)
    return value, np.linalg.solve(S.T, np.eye(S.shape[0]) - X.T)


def measure(sizes, rounds, warm_calls=20, names=CONTENDERS):
    """Time the contenders `names` at each n in this process.

    Returns {n: {contender: {"median", "best", "batch", "error"} or {"failed": reason}}}.
    """
    import numpy as np

    import kronvec
    import measure_gradient as mg  # imports NumPy: only here, after the environment is set

    results = {}
    for n in sizes:
        S, C = mg.gaussian_inputs(n)
        value, gradient = mg.hand_written(S, C)
        reference = (np.atleast_1d(value), gradient)
        kronvec_inv = kronvec.value_and_grad(lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C))
        kronvec_solve = kronvec.value_and_grad(lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C)))
        calls = {"kronvec inv": lambda: kronvec_inv(S), "NumPy inv": lambda: mg.hand_written(S, C),
                 "kronvec solve": lambda: kronvec_solve(S), "NumPy solve": lambda: closed_form_solve(S, C)}
        rows, timed = {}, []
        for name in names:
            contender = mg.Contender(name, calls[name])
            try:
                # a few warm-up calls at large n, where one call takes ~0.1 s
                mg.prepare(contender, reference, warm_calls if n <= 256 else 3)
            except Exception as error:
                rows[name] = {"failed": f"{type(error).__name__}: {error}"}
                continue
            timed.append(contender)
        mg.round_robin(timed, rounds)
        for contender in timed:
            rows[contender.name] = {"median": contender.median, "best": contender.best,
                                    "batch": contender.batch, "error": contender.error,
                                    "samples": list(contender.samples)}
        results[n] = rows
    return results


def blas_pools():
    """One line per BLAS library loaded, with its thread count (threadpoolctl if installed)."""
    try:
        import threadpoolctl
    except ImportError:
        return ["threadpoolctl not installed: pools not listed"]
    return [f"{Path(pool['filepath']).name}: {pool.get('internal_api')} {pool.get('version')}, "
            f"{pool['num_threads']} threads" for pool in threadpoolctl.threadpool_info()]


def worker_main(args):
    import numpy as np
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, as kronvec does)

    import kronvec

    info = {"numpy": np.__version__, "scipy": sys.modules["scipy"].__version__,
            "kronvec": kronvec.__file__, "pools": blas_pools(), "load_before": os.getloadavg()}
    results = measure(args.sizes, args.rounds, names=args.contenders)
    info["load_after"] = os.getloadavg()
    print(MARKER + json.dumps({"info": info, "results": {str(n): rows for n, rows in results.items()}}),
          flush=True)
    return 0


# ============================================================================ parent
def run_worker(config, args, contenders):
    """Run one worker for `config` (with its neighbour); returns its parsed record or raises."""
    setting, load = config.split("-")
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--rounds", str(args.rounds),
               "--sizes", *map(str, args.sizes), "--contenders", ",".join(contenders)]
    with contextlib.ExitStack() as stack:
        if load == "busy":
            stack.enter_context(busy_neighbour(args.neighbour_size))
        result = run_with_timeout(command, WORKER_TIMEOUT, env=thread_environment(setting))
    for line in result.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    raise RuntimeError(f"{config}: worker failed (exit {result.returncode}"
                       f"{', timed out' if result.timed_out else ''}): {result.stderr.strip()[-1500:]}")


def run_config(config, args):
    """One configuration: one worker for all contenders, or one each with --isolate (rows merged)."""
    groups = [(name,) for name in CONTENDERS] if args.isolate else [CONTENDERS]
    records = [run_worker(config, args, group) for group in groups]
    merged = records[0]
    for record in records[1:]:
        for n, rows in record["results"].items():
            merged["results"][n].update(rows)
        merged["info"]["load_after"] = record["info"]["load_after"]
    return merged


def merge_cycles(cycles):
    """Per contender and n, the median over cycles of the per-cycle medians (a failure in any cycle stays)."""
    merged = cycles[0]
    for n, rows in merged["results"].items():
        for name, row in rows.items():
            found = [cycle["results"][n][name] for cycle in cycles]
            failed = [other for other in found if "failed" in other]
            if failed:
                rows[name] = failed[0]
            elif len(found) > 1:
                row["median"] = statistics.median(other["median"] for other in found)
                row["best"] = min(other["best"] for other in found)
    merged["info"]["load_after"] = cycles[-1]["info"]["load_after"]
    return merged


def _median(records, config, n, name):
    row = records.get(config, {}).get("results", {}).get(str(n), {}).get(name)
    return row.get("median") if row else None


def paired_ratio(cycles, config, n, ours, theirs):
    """The median over every round of every cycle of ours / theirs *in that round*, or None.

    A round times one ~20 ms batch of each contender back to back, so both batches of a
    pair meet the same load.  With a busy neighbour the load is not steady: in some
    stretches OpenBLAS's spinning threads and the neighbour's make every contender
    10–100× slower (stop 30: 44 ms instead of 0.55 ms at n = 128), and a ratio of two
    medians then compares one contender's fast rounds with the other's slow ones.  The
    ratio of a pair cancels the stretch it falls in; its median over rounds is the
    estimate the targets use, the ratio of medians is shown beside it."""
    ratios = []
    for record in cycles.get(config, []):
        rows = record["results"].get(str(n), {})
        mine, other = rows.get(ours, {}).get("samples"), rows.get(theirs, {}).get("samples")
        if mine and other:
            ratios += [a / b for a, b in zip(mine, other)]
    return statistics.median(ratios) if ratios else None


def _ratio(numerator, denominator):
    return f"{numerator / denominator:.2f}x" if numerator and denominator else "-"


ROW = "{config:14s} {n:>5}  {ki:>10s} {ni:>10s} {ri:>7s} {pi:>7s}   {ks:>10s} {ns:>10s} {rs:>7s} {ps:>7s}"


def print_table(records, sizes, cycles):
    print(ROW.format(config="config", n="n", ki="kronvec", ni="NumPy", ri="ratio", pi="paired", ks="kronvec",
                     ns="NumPy", rs="ratio", ps="paired"))
    print(ROW.format(config="", n="", ki="inv", ni="inv", ri="", pi="", ks="solve", ns="solve", rs="", ps=""))
    for config in records:
        for n in sizes:
            m = {name: _median(records, config, n, name) for name in CONTENDERS}
            failed = [f"{name}: {row['failed']}" for name, row in
                      records[config]["results"].get(str(n), {}).items() if "failed" in row]
            cells = {key: format_seconds(m[name]) if m[name] else "failed"
                     for key, name in zip(("ki", "ni", "ks", "ns"), CONTENDERS)}
            paired = {spelling: paired_ratio(cycles, config, n, f"kronvec {spelling}", f"NumPy {spelling}")
                      for spelling in SPELLINGS}
            print(ROW.format(config=config, n=n, ri=_ratio(m["kronvec inv"], m["NumPy inv"]),
                             rs=_ratio(m["kronvec solve"], m["NumPy solve"]),
                             pi=f"{paired['inv']:.2f}x" if paired["inv"] else "-",
                             ps=f"{paired['solve']:.2f}x" if paired["solve"] else "-", **cells))
            for reason in failed:
                print(f"{'':14s} {n:>5}  !!! {reason}")


def targets(records, cycles):
    """(text, met or None when not measured, detail) for every target."""
    found = []
    for spelling in SPELLINGS:
        ours, theirs = f"kronvec {spelling}", f"NumPy {spelling}"
        for n in TARGET_SIZES:
            mine, other = (_median(records, "default-busy", n, name) for name in (ours, theirs))
            paired = paired_ratio(cycles, "default-busy", n, ours, theirs)
            text = f"default threads, busy, n = {n}, {spelling}: kronvec <= {CLOSED_FORM_FACTOR} x NumPy"
            # (a contender that failed in any cycle has no median: the target is not measured)
            met = None if paired is None or not (mine and other) else paired <= CLOSED_FORM_FACTOR
            detail = (f"paired {paired:.2f}x (ratio of medians {_ratio(mine, other)})" if met is not None
                      else "not measured")
            found.append((text, met, detail))
        for load in ("idle", "busy"):
            mine, pinned = (_median(records, f"{setting}-{load}", 4, ours) for setting in ("default", "pinned"))
            text = f"n = 4, {load}, {spelling}: kronvec default <= {PINNED_FACTOR} x kronvec pinned"
            met = None if not (mine and pinned) else mine <= PINNED_FACTOR * pinned
            detail = (f"{format_seconds(mine)} vs {format_seconds(pinned)} = {_ratio(mine, pinned)}"
                      if met is not None else "not measured")
            found.append((text, met, detail))
    return found


def print_targets(found):
    mark = {True: "✓", False: "✗", None: "-"}
    width = max(len(text) for text, _, _ in found)
    for text, met, detail in found:
        print(f"  {mark[met]} {text:{width}s}  {detail}")
    checked = [met for _, met, _ in found if met is not None]
    print(f"  => {sum(checked)} of {len(checked)} measured targets met")


def parent_main(args):
    if hasattr(sys.stdout, "reconfigure"):  # never die on ✓ or µ under a non-UTF-8 locale
        sys.stdout.reconfigure(errors="replace")
    print("measure_threads.py - ln|S| + tr(S^-1 C), value and gradient, per BLAS thread setting and load")
    print(f"{_machine()}; python {platform.python_version()}; load average "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"sizes {' '.join(map(str, args.sizes))}; {args.rounds} rounds of ~20 ms batches, "
          + ("each contender in its own process" if args.isolate else "round-robin in one process")
          + f"; {args.cycles} cycle(s); busy neighbour: {args.neighbour_size}x{args.neighbour_size} products, "
          "default threads")
    cycles, failures = {config: [] for config in args.configs}, []
    for cycle in range(args.cycles):
        for config in args.configs:
            started = time.perf_counter()
            try:
                cycles[config].append(record := run_config(config, args))
            except RuntimeError as error:
                failures.append(str(error))
                print(f"!!! {error}", file=sys.stderr)
                continue
            info = record["info"]
            print(f"{config}{f' (cycle {cycle + 1})' if args.cycles > 1 else ''}: "
                  f"{time.perf_counter() - started:.0f} s; numpy {info['numpy']}, scipy {info['scipy']}, "
                  f"load average {info['load_before'][0]:.2f} -> {info['load_after'][0]:.2f}; "
                  + "; ".join(info["pools"]))
    records = {config: merge_cycles(found) for config, found in cycles.items() if found}
    failures += [f"{config}, n = {n}, {name}: {row['failed']}" for config, record in records.items()
                 for n, rows in record["results"].items() for name, row in rows.items() if "failed" in row]
    print()
    print("Median per call over rounds" + (f" (median over {args.cycles} cycles)" if args.cycles > 1 else "")
          + "; ratio = kronvec / NumPy closed form, of the medians; paired = median over rounds of the "
          "ratio within a round (what the targets use: see paired_ratio)")
    print_table(records, args.sizes, cycles)
    print()
    print("Targets")
    print_targets(targets(records, cycles))
    if failures:
        print(f"!!! {len(failures)} failure(s):", *failures, sep="\n!!! ")
        return 1
    return 0


def _choices(allowed):
    def parse(text):
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        if not names or set(names) - set(allowed):
            raise argparse.ArgumentTypeError(f"choose among {','.join(allowed)}; got {text!r}")
        return names

    return parse


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="n (default 4 64 128 256 1024; --quick: 4 64)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per size (default 11; --quick: 3)")
    parser.add_argument("--configs", type=_choices(CONFIGS), default=CONFIGS,
                        help=f"comma-separated among {','.join(CONFIGS)} (default: all)")
    parser.add_argument("--cycles", type=int, default=1, help="run the configurations this many times over")
    parser.add_argument("--isolate", action="store_true", help="each contender in a process of its own")
    parser.add_argument("--contenders", type=_choices(CONTENDERS), default=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--neighbour-size", type=int, default=1500, help="order of the neighbour's products")
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [4, 64] if args.quick else [4, 64, 128, 256, 1024]
    if args.rounds is None:
        args.rounds = 3 if args.quick else 11
    if min(args.rounds, args.cycles, *args.sizes) < 1:
        parser.error("rounds, cycles and sizes must be positive")
    return args


def main(argv=None):
    args = parse(argv)
    return worker_main(args) if args.worker else parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
