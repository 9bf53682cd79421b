"""kronvec side by side with other ways to get the same derivatives.

    python benchmarks/compare.py --quick            # about 15 minutes on 2 cores
    python benchmarks/compare.py                    # more repeats, longer
    python benchmarks/compare.py --case dense_inv --case kron_matvec
    python benchmarks/compare.py --list             # cases and competitors

Every (case, competitor) pair runs in its own Python process with a timeout
(a hung or deadlocked competitor -- jitted ``jax.jacrev`` over large vmapped
batches was seen to deadlock on 2-core machines -- is killed with its whole
process group and reported, the sizes it finished are kept).  Inside that
process, for each size n in increasing order:

1. the inputs are built from a seeded generator (same numbers for everyone);
2. the first call is timed on its own ("first call": JAX tracing and XLA
   compilation, numba compilation or cache loading, imports inside libraries);
   at the smallest size its result is checked against a closed form;
3. one more call measures peak memory: the rise of the process's peak RSS
   (``VmHWM``, reset through ``/proc/self/clear_refs``) over its RSS before
   the call -- so the result array itself counts;
4. repeats are timed (each sample loops the call enough times to last a few
   milliseconds) and summarized by the median and the quartiles.

A size is not attempted when its predicted memory or time (from the size
before) exceeds the budget (2 GiB, 10 s per call), and a competitor stops
after its first size over budget.

Competitors are optional: one whose module is not installed is skipped with a
note (``pip install ".[compare]"`` installs JAX, PyTorch, autograd, matplotlib;
``pip install pykronecker`` for the Kronecker-matvec case).  JAX runs in
float64 (``JAX_ENABLE_X64=1``) so everyone computes the same thing.

Threads: by default every library runs on one thread (``--threads 1``:
OpenBLAS, MKL, OpenMP, numba, XLA, torch).  On a shared 2-core machine a
second thread waits for a busy core, which made a 256×256 matmul 37× slower
under load; one thread gives reproducible ratios.  ``--threads 2`` measures
with both cores on an idle machine.

Output (``--out``, default ``benchmarks/compare_results/``): ``results.md``
(machine, date, versions, a headline table, then one table per case with
medians, ratios to the best and spread), ``results.json`` (every sample
summary) and one log-log PNG per case (time and peak memory against n).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_OUT = HERE / "compare_results"
MARKER = "@@compare "
GiB = 2**30
BUDGET_SECONDS = 10.0
BUDGET_BYTES = 2 * GiB
SEED = 20240611


# ==========================================================================
# data: cases, competitors, measurements
# ==========================================================================


@dataclasses.dataclass(frozen=True)
class Competitor:
    """One way to compute a case's result.

    requires : modules that must be importable (checked without importing).
    time_exponent : the call's cost grows like n**time_exponent; used to skip
        a size whose predicted time exceeds the budget.
    predicted_bytes : n → bytes the call must allocate (e.g. a dense n⁴
        Jacobian); sizes above the memory budget are not attempted.
    ours : a kronvec entry (bold in tables).
    """

    name: str
    requires: tuple = ()
    time_exponent: float | None = None
    predicted_bytes: Callable | None = None
    ours: bool = False


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    title: str
    sizes: tuple
    competitors: tuple
    quick_sizes: tuple | None = None
    timeout: float = 240.0
    reach: bool = False  # report the largest n within budget instead of ratios
    note: str = ""

    def competitor(self, name):
        for competitor in self.competitors:
            if competitor.name == name:
                return competitor
        raise KeyError(f"case {self.name!r} has no competitor {name!r}")


@dataclasses.dataclass
class Measurement:
    case: str
    competitor: str
    n: int
    median: float
    q1: float
    q3: float
    peak_bytes: int | None = None
    first_call: float | None = None
    samples: int = 0
    error: float | None = None
    extra: dict = dataclasses.field(default_factory=dict)
    over_budget: bool = False
    ours: bool = False


@dataclasses.dataclass
class RunResult:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float


# ==========================================================================
# small pure helpers (unit-tested in tests/test_benchmarks_smoke.py)
# ==========================================================================


def availability(competitor):
    """(True, "") when every required module is installed, else (False, "skipped: ...")."""
    for module in competitor.requires:
        top = module.split(".")[0]
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return False, f"skipped: {top} is not installed"
    return True, ""


def run_with_timeout(command, timeout, env=None, cwd=None):
    """Run `command`, killing it and every process it started after `timeout` seconds.

    The child gets its own session (process group), so ``killpg`` also ends
    worker threads' helper processes; output printed before the kill is kept.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        stdout, stderr = process.communicate()
    except BaseException:  # Ctrl-C or an error while waiting: the child must not outlive us
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    else:
        # The worker is done; end anything it left running in its group.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return RunResult(process.returncode, stdout or "", stderr or "", timed_out, time.perf_counter() - started)


def summarize(samples):
    """(median, first quartile, third quartile) of the sample times."""
    samples = sorted(samples)
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return median, q1, q3


def format_seconds(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_bytes(nbytes):
    if nbytes is None:
        return "—"
    for unit, size in (("GiB", GiB), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size or unit == "KiB":
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} B"  # pragma: no cover


def format_ratio(ratio):
    return f"{ratio:.1f}×" if ratio < 100 else f"{ratio:.0f}×"


def _spread(m):
    if m.median <= 0 or m.q3 is None or m.q1 is None:
        return "—"
    return f"±{100.0 * (m.q3 - m.q1) / (2.0 * m.median):.0f}%"


def _extra_text(m):
    parts = [f"{key}={value}" for key, value in m.extra.items()]
    if m.error is not None:
        parts.append(f"err={m.error:.0e}")
    if m.over_budget:
        parts.append("over budget")
    return ", ".join(parts)


def markdown_table(measurements, notes=None):
    """One case's measurements as a Markdown table, grouped by n, best first.

    Columns: median time, ratio to the fastest at that n (the fastest is
    bold, 1.0×), spread (half the interquartile range, relative to the
    median), peak memory, first-call time, and remarks (checks, solver
    counts).  `notes` ({competitor: text}) are listed under the table.
    """
    header = "| n | competitor | median | vs best | spread | peak memory | first call | remarks |"
    lines = [header, "|--:|---|--:|--:|--:|--:|--:|---|"]
    for n in sorted({m.n for m in measurements}):
        group = sorted((m for m in measurements if m.n == n), key=lambda m: m.median)
        best = group[0].median
        for m in group:
            ratio = format_ratio(m.median / best if best > 0 else 1.0)
            if m is group[0]:
                ratio = f"**{ratio}**"
            name = f"**{m.competitor}**" if m.ours else m.competitor
            first = format_seconds(m.first_call) if m.first_call is not None else "—"
            lines.append(
                f"| {n} | {name} | {format_seconds(m.median)} | {ratio} | {_spread(m)} | "
                f"{format_bytes(m.peak_bytes)} | {first} | {_extra_text(m)} |"
            )
    if notes:
        lines.append("")
        lines += [f"- {name}: {text}" for name, text in notes.items()]
    return "\n".join(lines)


def reach_table(case, measurements, notes=None):
    """Largest n each competitor reached within the budget."""
    lines = [
        f"| competitor | largest n within {format_bytes(BUDGET_BYTES)} and {BUDGET_SECONDS:.0f} s | "
        "time at that n | peak memory at that n | stopped because |",
        "|---|--:|--:|--:|---|",
    ]
    rows = []
    for competitor in case.competitors:
        within = [m for m in measurements if m.competitor == competitor.name and not m.over_budget]
        best = max(within, key=lambda m: m.n, default=None)
        reason = (notes or {}).get(competitor.name, "")
        rows.append((best.n if best else 0, competitor, best, reason))
    for n, competitor, best, reason in sorted(rows, key=lambda row: -row[0]):
        name = f"**{competitor.name}**" if competitor.ours else competitor.name
        if best is None:
            lines.append(f"| {name} | — | — | — | {reason} |")
        else:
            lines.append(
                f"| {name} | {n} | {format_seconds(best.median)} | {format_bytes(best.peak_bytes)} | {reason} |"
            )
    return "\n".join(lines)


# ==========================================================================
# parent: run cases, collect, write results
# ==========================================================================


def worker_environment(threads):
    env = dict(os.environ)
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[variable] = str(threads)
    env["JAX_ENABLE_X64"] = "1"
    env["JAX_PLATFORMS"] = "cpu"
    if threads == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()
    env["KRONVEC_COMPARE_THREADS"] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def run_case(case, quick, timeout=None, threads=1, log=None):
    """Run every competitor of `case`; return (measurements, notes)."""
    measurements, notes = [], {}
    sizes = case.quick_sizes if (quick and case.quick_sizes) else case.sizes
    for competitor in case.competitors:
        available, note = availability(competitor)
        if not available:
            notes[competitor.name] = note
            if log:
                log(f"  {competitor.name}: {note}")
            continue
        command = [
            sys.executable, str(Path(__file__).resolve()), "--worker", case.name, competitor.name,
            "--sizes", ",".join(map(str, sizes)), "--threads", str(threads),
        ] + (["--quick"] if quick else [])
        limit = timeout or case.timeout
        result = run_with_timeout(command, limit, env=worker_environment(threads), cwd=str(REPO))
        found, stop_reason = _parse_worker_output(case, competitor, result.stdout)
        measurements += found
        last_n = max((m.n for m in found), default=None)
        if result.timed_out:
            notes[competitor.name] = f"timed out after {limit:.0f} s" + (
                f" (finished up to n={last_n})" if last_n else " (no size finished)")
        elif result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or ["no message"]
            notes[competitor.name] = f"failed (exit {result.returncode}): {tail[0][:200]}"
        elif stop_reason:
            notes[competitor.name] = stop_reason
        if log:
            done = ", ".join(f"n={m.n}: {format_seconds(m.median)}" for m in found)
            log(f"  {competitor.name} ({result.seconds:.0f} s): {done} {notes.get(competitor.name, '')}")
    return measurements, notes


def _parse_worker_output(case, competitor, stdout):
    found, stop_reason = [], ""
    for line in stdout.splitlines():
        if not line.startswith(MARKER):
            continue
        record = json.loads(line[len(MARKER):])
        if "stopped" in record:
            stop_reason = record["stopped"]
            continue
        found.append(Measurement(case=case.name, competitor=competitor.name, ours=competitor.ours, **record))
    return found, stop_reason


def _versions():
    names = ["kronvec", "numpy", "scipy", "numba", "jax", "jaxlib", "torch", "autograd", "pykronecker", "matplotlib"]
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "kronvec"], capture_output=True, text=True,
            timeout=10,
        ).stdout.strip()
        versions["kronvec"] += f" (git {commit}{', modified' if dirty else ''})"
    except (OSError, subprocess.SubprocessError):
        pass
    return versions


def _machine():
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            kib = int(next(line.split()[1] for line in info if line.startswith("MemTotal")))
        memory = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores{memory}"


_FRAMEWORKS = ("jax", "torch", "autograd")


def headline(results):
    """One line per case at its largest common n: kronvec's best entry, the fastest
    other entry, and the fastest autodiff framework (JAX, PyTorch, autograd)."""
    lines = [
        "| case | n | kronvec | fastest other | ratio | fastest of JAX / PyTorch / autograd | ratio |",
        "|---|--:|--:|---|--:|---|--:|",
    ]
    for case, measurements, notes in results:
        if case.reach:
            continue
        common = [n for n in sorted({m.n for m in measurements})
                  if any(m.ours for m in measurements if m.n == n)
                  and any(not m.ours for m in measurements if m.n == n)]
        if not common:
            continue
        n = common[-1]
        ours = min((m for m in measurements if m.n == n and m.ours), key=lambda m: m.median)
        other = min((m for m in measurements if m.n == n and not m.ours), key=lambda m: m.median)
        frameworks = [m for m in measurements if m.n == n and not m.ours and any(
            module.split(".")[0] in _FRAMEWORKS for module in _requires(case, m.competitor))]
        framework = min(frameworks, key=lambda m: m.median) if frameworks else None
        framework_text = (f"{framework.competitor}: {format_seconds(framework.median)} | "
                          f"{ours.median / framework.median:.2f}") if framework else "— | —"
        lines.append(
            f"| {case.title} | {n} | {ours.competitor}: {format_seconds(ours.median)} | "
            f"{other.competitor}: {format_seconds(other.median)} | {ours.median / other.median:.2f} | "
            f"{framework_text} |"
        )
    lines.append("")
    lines.append("ratio = kronvec's time ÷ the other's (below 1: kronvec is faster).")
    return "\n".join(lines)


def _requires(case, competitor_name):
    try:
        return case.competitor(competitor_name).requires
    except KeyError:
        return ()


def plot_case(case, measurements, path):
    """Log-log time and peak memory against n, one line per competitor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.4), dpi=72)
    for competitor in case.competitors:
        points = sorted((m for m in measurements if m.competitor == competitor.name), key=lambda m: m.n)
        if not points:
            continue
        style = dict(marker="o", markersize=3, linewidth=2.2 if competitor.ours else 1.2,
                     linestyle="-" if competitor.ours else "--", label=competitor.name)
        left.plot([m.n for m in points], [m.median for m in points], **style)
        memory = [(m.n, m.peak_bytes / 2**20) for m in points if m.peak_bytes]
        if memory:
            right.plot(*zip(*memory), **style)
    for axis, label in ((left, "median time per call [s]"), (right, "peak memory rise [MiB]")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("n")
        axis.set_ylabel(label)
        axis.grid(True, which="major", alpha=0.3)
    if case.reach:
        left.axhline(BUDGET_SECONDS, color="grey", linewidth=0.8)
        right.axhline(BUDGET_BYTES / 2**20, color="grey", linewidth=0.8)
    left.set_title(case.title, fontsize=9)
    right.legend(fontsize=6, loc="upper left", frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=72)
    plt.close(figure)


def write_results(results, out, quick, threads, started, rerun=None, took_minutes=None, versions=None,
                  load=None):
    out.mkdir(parents=True, exist_ok=True)
    versions = versions or _versions()
    if load is None and hasattr(os, "getloadavg"):
        load = "{:.1f} / {:.1f} / {:.1f} (1 / 5 / 15 min, at the end of the run)".format(*os.getloadavg())
    if took_minutes is None:
        took_minutes = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds() / 60
    lines = [
        "# kronvec compared",
        "",
        f"- machine: {_machine()}",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; run took {took_minutes:.0f} min"
        f" (`python benchmarks/compare.py{' --quick' if quick else ''}{f' --threads {threads}' if threads != 1 else ''}`)",
        "- versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
        f"- threads: {threads} per library (BLAS, numba, XLA, torch); JAX in float64",
        f"- load average: {load or 'unknown'}",
    ] + ([f"- re-run later with --update: {', '.join(rerun)}; the other cases are from the run above"]
         if rerun else []) + [
        "- each competitor in its own process; times are medians of repeats after a first call, "
        "which is reported separately (JAX: tracing + XLA compile; kronvec: numba compile or cache load "
        "at n where it materializes with numba)",
        "",
        "## Headline",
        "",
        headline(results),
        "",
    ]
    plots = []
    for case, measurements, notes in results:
        lines += [f"## {case.title}", ""]
        if case.note:
            lines += [case.note, ""]
        if case.reach:
            lines += [reach_table(case, measurements, notes), ""]
        lines += [markdown_table(measurements, notes), ""]
        if measurements:
            try:
                png = out / f"{case.name}.png"
                plot_case(case, measurements, png)
                plots.append(png.name)
                lines += [f"![{case.title}]({png.name})", ""]
            except ImportError:
                lines += ["(matplotlib is not installed: no plot)", ""]
    (out / "results.md").write_text("\n".join(lines))
    (out / "results.json").write_text(json.dumps(
        {
            "machine": _machine(), "date": started.isoformat(), "versions": versions, "quick": quick,
            "threads": threads, "took_minutes": took_minutes, "rerun": rerun, "load": load,
            "cases": {
                case.name: {"measurements": [dataclasses.asdict(m) for m in measurements], "notes": notes}
                for case, measurements, notes in results
            },
        },
        indent=1,
    ))
    return out / "results.md", plots


# ==========================================================================
# worker: measure one competitor of one case over the sizes
# ==========================================================================

IMPLEMENTATIONS = {}


def implementation(case, competitor):
    """Register ``make(n, rng) -> Bench`` for one (case, competitor) pair."""

    def register(make):
        IMPLEMENTATIONS[(case, competitor)] = make
        return make

    return register


@dataclasses.dataclass
class Bench:
    """call() computes the result; check(result) → relative error against a closed form;
    summary(result) → remarks for the table (solver counts)."""

    call: Callable
    check: Callable | None = None
    summary: Callable | None = None


def _status_kib(key):
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_memory_of(call):
    """Rise of peak RSS during one call (bytes), or None where /proc cannot tell."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset VmHWM to the current RSS (Linux ≥ 4.0)
    except OSError:
        return None, call()
    before = _status_kib("VmRSS")
    result = call()
    peak = _status_kib("VmHWM")
    if before is None or peak is None:
        return None, result
    return max(0, peak - before) * 1024, result


def _sample(call, quick, call_seconds):
    """Median-ready samples: per-call seconds, each sample looping enough calls
    (`call_seconds`: one warm call's time)."""
    minimum_sample = 0.005 if quick else 0.02
    total_budget = 1.5 if quick else 5.0
    max_samples = 5 if quick else 15
    number = 1 if call_seconds >= minimum_sample else max(1, int(minimum_sample / max(call_seconds, 1e-7)))
    if call_seconds > 2.0:  # slow calls: a few samples are enough and all we can afford
        max_samples = 2 if quick else 3
    samples, spent = [], 0.0
    while len(samples) < max_samples and (len(samples) < 3 or spent < total_budget):
        started = time.perf_counter()
        for _ in range(number):
            call()
        elapsed = time.perf_counter() - started
        samples.append(elapsed / number)
        spent += elapsed
        if elapsed > BUDGET_SECONDS:
            break
    return samples


def _emit(record):
    print(MARKER + json.dumps(record), flush=True)


def worker_main(case_name, competitor_name, sizes, quick):
    case = CASES[case_name]
    competitor = case.competitor(competitor_name)
    make = IMPLEMENTATIONS[(case_name, competitor_name)]
    threads = int(os.environ.get("KRONVEC_COMPARE_THREADS", "1"))
    _configure_threads(competitor, threads)
    previous = None
    for index, n in enumerate(sizes):
        if competitor.predicted_bytes is not None and competitor.predicted_bytes(n) >= BUDGET_BYTES:
            _emit({"stopped": f"n={n} would need {format_bytes(competitor.predicted_bytes(n))} (> budget)"})
            return
        if previous is not None and competitor.time_exponent is not None:
            predicted = previous[1] * (n / previous[0]) ** competitor.time_exponent
            if predicted > BUDGET_SECONDS:
                _emit({"stopped": f"n={n} predicted {format_seconds(predicted)} per call (> budget)"})
                return
        try:
            previous = _measure_one(case_name, n, index, make, quick)
        except Exception as error:  # noqa: BLE001 - reported, the sizes before are kept
            _emit({"stopped": f"n={n}: {type(error).__name__}: {str(error)[:200]}"})
            return
        if previous is None:
            return
        gc.collect()


def _measure_one(case_name, n, index, make, quick):
    """Measure one size; return (n, median) to continue, or None after a stop."""
    generator = _rng(case_name, n)
    bench = make(n, generator)
    started = time.perf_counter()
    result = bench.call()
    first_call = time.perf_counter() - started
    error = float(bench.check(result)) if (bench.check is not None and index == 0) else None
    del result
    if first_call > 3 * BUDGET_SECONDS:
        _emit({"n": n, "median": first_call, "q1": first_call, "q3": first_call, "first_call": first_call,
               "samples": 1, "error": error, "over_budget": True})
        _emit({"stopped": f"n={n}: first call took {format_seconds(first_call)}"})
        return None
    started = time.perf_counter()
    peak, result = peak_memory_of(bench.call)
    # The loop is sized from this second, warm call: the first one carries one-time
    # costs (imports, compilation, cold caches) and sized µs-scale calls to 1 per sample.
    warm_call = time.perf_counter() - started
    extra = bench.summary(result) if bench.summary is not None else {}
    del result
    samples = _sample(bench.call, quick, warm_call)
    median, q1, q3 = summarize(samples)
    over = median > BUDGET_SECONDS or (peak is not None and peak > BUDGET_BYTES)
    _emit({"n": n, "median": median, "q1": q1, "q3": q3, "peak_bytes": peak, "first_call": first_call,
           "samples": len(samples), "error": error, "extra": extra, "over_budget": over})
    if over:
        _emit({"stopped": f"n={n} over budget ({format_seconds(median)}, {format_bytes(peak)})"})
        return None
    return n, median


def _rng(case_name, n):
    import zlib

    import numpy as np

    return np.random.default_rng([SEED, zlib.crc32(case_name.encode()), n])


def _configure_threads(competitor, threads):
    if any(module.startswith("torch") for module in competitor.requires):
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)


# ==========================================================================
# the competitors' code (imported only inside their worker process)
# ==========================================================================


def _np():
    import numpy as np

    return np


def _well_conditioned(generator, n):
    np = _np()
    return generator.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)


def _spd(generator, n):
    np = _np()
    A = generator.standard_normal((n, n))
    return A @ A.T / n + np.eye(n)


def _vec(X):
    return X.reshape(-1, order="F")


def _numerator(J4):
    """(n, n, n, n) array J[i, j, k, l] = ∂Y_ij/∂X_kl → numerator-layout (n², n²) matrix."""
    n = J4.shape[0]
    return _np().asarray(J4).transpose(1, 0, 3, 2).reshape(n * n, n * n)


def _relative_error(a, b):
    np = _np()
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jax, jnp


def _torch():
    import torch

    return torch


def _ready(x):
    """Wait for JAX's asynchronous dispatch."""
    return x.block_until_ready() if hasattr(x, "block_until_ready") else x


# ----------------------------------------------------- dense Jacobian of inv


def _dense_inv_reference(X):
    np = _np()
    Xi = np.linalg.inv(X)
    return -np.kron(Xi.T, Xi)


def _inv_check(native_to_numerator=lambda J: J):
    def check(X):
        return lambda J: _relative_error(native_to_numerator(J), _dense_inv_reference(X))

    return check


def _make_dense_inv(kind):
    def make(n, generator):
        np = _np()
        X = _well_conditioned(generator, n)
        if kind == "kronvec toarray()":
            import kronvec

            call = lambda: kronvec.jacobian(np.linalg.inv)(X).toarray()  # noqa: E731
            return Bench(call, _inv_check()(X))
        if kind == "-np.kron (closed form)":
            return Bench(lambda: _dense_inv_reference(X), _inv_check()(X))
        if kind.startswith("jax"):
            jax, jnp = _jax()
            transform = jax.jacfwd if "jacfwd" in kind else jax.jacrev
            f = jax.jit(transform(jnp.linalg.inv))
            Xj = jnp.asarray(X)
            return Bench(lambda: _ready(f(Xj)), _inv_check(lambda J: _numerator(np.asarray(J)))(X))
        if kind.startswith("torch"):
            torch = _torch()
            transform = torch.func.jacfwd if "jacfwd" in kind else torch.func.jacrev
            f = transform(torch.linalg.inv)
            Xt = torch.from_numpy(X)
            return Bench(lambda: f(Xt), _inv_check(lambda J: _numerator(J.numpy()))(X))
        if kind == "autograd.jacobian":
            import autograd
            import autograd.numpy as anp

            f = autograd.jacobian(anp.linalg.inv)
            return Bench(lambda: f(X), _inv_check(_numerator)(X))
        if kind == "central differences":
            return Bench(lambda: _fd_jacobian_inv(X), _inv_check()(X))
        raise KeyError(kind)

    return make


def _fd_jacobian_inv(X, step=1e-6):
    """Central differences of X ↦ X⁻¹, batched: chunks of perturbed matrices inverted at once."""
    np = _np()
    n = X.shape[0]
    N = n * n
    x = _vec(X)
    J = np.empty((N, N))
    chunk = max(1, (1 << 21) // N)
    for start in range(0, N, chunk):
        ks = np.arange(start, min(N, start + chunk))
        h = step * np.maximum(1.0, np.abs(x[ks]))
        E = np.zeros((ks.size, n, n))
        E[np.arange(ks.size), ks % n, ks // n] = h
        difference = np.linalg.inv(X + E) - np.linalg.inv(X - E)
        J[:, ks] = (difference.transpose(0, 2, 1).reshape(ks.size, N) / (2.0 * h)[:, None]).T
    return J


def _dense(n):
    return 8 * n**4


DENSE_INV_COMPETITORS = (
    Competitor("kronvec toarray()", ours=True, predicted_bytes=_dense),
    Competitor("-np.kron (closed form)", predicted_bytes=_dense),
    Competitor("jax.jacfwd (jit)", requires=("jax",), predicted_bytes=_dense),
    Competitor("jax.jacrev (jit)", requires=("jax",), predicted_bytes=_dense),
    Competitor("torch.func.jacfwd", requires=("torch",), predicted_bytes=_dense),
    Competitor("torch.func.jacrev", requires=("torch",), predicted_bytes=_dense),
    Competitor("autograd.jacobian", requires=("autograd",), predicted_bytes=_dense, time_exponent=5),
    Competitor("central differences", predicted_bytes=_dense, time_exponent=5),
)

for _competitor in DENSE_INV_COMPETITORS:
    implementation("dense_inv", _competitor.name)(_make_dense_inv(_competitor.name))
    implementation("reach", _competitor.name)(_make_dense_inv(_competitor.name))


@implementation("reach", "kronvec structured jacobian()")
def _reach_structured(n, generator):
    np = _np()
    import kronvec

    X = _well_conditioned(generator, n)

    def call():
        return kronvec.jacobian(np.linalg.inv)(X)

    def check(J):
        return _relative_error(J.toarray(), _dense_inv_reference(X)) if n <= 64 else 0.0

    return Bench(call, check)


# ------------------------------------------------ gradient of ln|S| + tr(S⁻¹C)


def _gaussian_inputs(n, generator):
    return _spd(generator, n), _spd(generator, n)


def _gaussian_closed_form(S, C):
    np = _np()
    Si = np.linalg.inv(S)
    value = np.linalg.slogdet(S)[1] + np.trace(Si @ C)
    return value, (Si - Si @ C @ Si).T


def _gaussian_check(S, C, to_numpy=lambda value, gradient: (value, gradient)):
    value, gradient = _gaussian_closed_form(S, C)

    def check(result):
        v, g = to_numpy(*result)
        return max(_relative_error(v, value), _relative_error(g, gradient))

    return check


@implementation("gaussian_grad", "kronvec.value_and_grad")
def _gaussian_kronvec(n, generator):
    np = _np()
    import kronvec

    S, C = _gaussian_inputs(n, generator)
    f = kronvec.value_and_grad(lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C))
    return Bench(lambda: f(S), _gaussian_check(S, C))


@implementation("gaussian_grad", "hand-written (NumPy)")
def _gaussian_hand(n, generator):
    S, C = _gaussian_inputs(n, generator)
    return Bench(lambda: _gaussian_closed_form(S, C), _gaussian_check(S, C))


@implementation("gaussian_grad", "jax.value_and_grad (jit)")
def _gaussian_jax(n, generator):
    np = _np()
    jax, jnp = _jax()
    S, C = _gaussian_inputs(n, generator)
    Cj = jnp.asarray(C)
    f = jax.jit(jax.value_and_grad(lambda S: jnp.linalg.slogdet(S)[1] + jnp.trace(jnp.linalg.inv(S) @ Cj)))
    Sj = jnp.asarray(S)

    def call():
        value, gradient = f(Sj)
        return _ready(value), _ready(gradient)

    return Bench(call, _gaussian_check(S, C, lambda v, g: (np.asarray(v), np.asarray(g))))


@implementation("gaussian_grad", "torch.func.grad_and_value")
def _gaussian_torch(n, generator):
    torch = _torch()
    S, C = _gaussian_inputs(n, generator)
    Ct, St = torch.from_numpy(C), torch.from_numpy(S)
    f = torch.func.grad_and_value(lambda S: torch.linalg.slogdet(S)[1] + torch.trace(torch.linalg.inv(S) @ Ct))

    def call():
        gradient, value = f(St)
        return value, gradient

    return Bench(call, _gaussian_check(S, C, lambda v, g: (v.numpy(), g.numpy())))


@implementation("gaussian_grad", "autograd.value_and_grad")
def _gaussian_autograd(n, generator):
    import autograd
    import autograd.numpy as anp

    S, C = _gaussian_inputs(n, generator)
    f = autograd.value_and_grad(lambda S: anp.linalg.slogdet(S)[1] + anp.trace(anp.linalg.inv(S) @ C))
    return Bench(lambda: f(S), _gaussian_check(S, C))


@implementation("gaussian_grad", "central differences")
def _gaussian_fd(n, generator, step=1e-6):
    np = _np()
    S, C = _gaussian_inputs(n, generator)
    N = n * n

    def values(stack):
        return np.linalg.slogdet(stack)[1] + np.einsum("kij,ji->k", np.linalg.inv(stack), C)

    def call():
        value = float(values(S[None])[0])
        s = _vec(S)
        gradient = np.empty(N)
        chunk = max(1, (1 << 21) // N)
        for start in range(0, N, chunk):
            ks = np.arange(start, min(N, start + chunk))
            h = step * np.maximum(1.0, np.abs(s[ks]))
            E = np.zeros((ks.size, n, n))
            E[np.arange(ks.size), ks % n, ks // n] = h
            gradient[ks] = (values(S + E) - values(S - E)) / (2.0 * h)
        return value, gradient.reshape((n, n), order="F")

    return Bench(call, _gaussian_check(S, C))


# ------------------------------------------------------------- tosparse


def _make_tosparse(layout, kind):
    def make(n, generator):
        np = _np()
        import scipy.sparse as sp

        A = generator.random((n, n)) + 0.1
        if kind == "kronvec tosparse()":
            from kronvec import Identity, Kron

            K = Kron(Identity(n), A) if layout == "I⊗A" else Kron(A, Identity(n))
            call = K.tosparse
        else:
            eye = sp.identity(n, format="csr")
            factors = (eye, A) if layout == "I⊗A" else (A, eye)
            call = lambda: sp.kron(*factors, format="csr")  # noqa: E731
        def check(M):  # at the smallest size only (dense n⁴ reference)
            reference = np.kron(np.eye(n), A) if layout == "I⊗A" else np.kron(A, np.eye(n))
            return _relative_error(M.toarray(), reference)

        return Bench(call, check)

    return make


def _csr_bytes(n):
    return 12 * n**3


TOSPARSE_COMPETITORS = (
    Competitor("kronvec tosparse()", ours=True, predicted_bytes=_csr_bytes),
    Competitor("scipy.sparse.kron(format='csr')", predicted_bytes=_csr_bytes),
)
for _layout, _case in (("I⊗A", "tosparse_IA"), ("A⊗I", "tosparse_AI")):
    for _competitor in TOSPARSE_COMPETITORS:
        implementation(_case, _competitor.name)(_make_tosparse(_layout, _competitor.name))


# ---------------------------------------------------------- Kron matvec


def _matvec_inputs(n, generator):
    A = generator.standard_normal((n, n))
    B = generator.standard_normal((n, n))
    x = generator.standard_normal(n * n)
    return A, B, x


def _matvec_check(A, B, x):
    np = _np()
    reference = np.kron(A, B) @ x if A.shape[0] <= 64 else None
    return lambda y: _relative_error(np.asarray(y).reshape(-1), reference) if reference is not None else 0.0


@implementation("kron_matvec", "kronvec Kron.matvec")
def _matvec_kronvec(n, generator):
    from kronvec import Kron

    A, B, x = _matvec_inputs(n, generator)
    K = Kron(A, B)
    return Bench(lambda: K.matvec(x), _matvec_check(A, B, x))


@implementation("kron_matvec", "two matmuls (NumPy floor)")
def _matvec_floor(n, generator):
    A, B, x = _matvec_inputs(n, generator)

    def call():  # (A ⊗ B) vec V = vec(B V Aᵀ), column-major vec
        return (B @ x.reshape((n, n), order="F") @ A.T).reshape(-1, order="F")

    return Bench(call, _matvec_check(A, B, x))


def _pykronecker(backend):
    def make(n, generator):
        if backend == "numpy":
            sys.modules["jax"] = None  # pykronecker picks JAX whenever it imports; force NumPy
        else:
            _jax()
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):  # it prints its backend at import
            from pykronecker import KroneckerProduct
        A, B, x = _matvec_inputs(n, generator)
        K = KroneckerProduct([A, B])
        return Bench(lambda: _ready(K @ x), _matvec_check(A, B, x))

    return make


implementation("kron_matvec", "pykronecker (NumPy backend)")(_pykronecker("numpy"))
implementation("kron_matvec", "pykronecker (JAX backend)")(_pykronecker("jax"))


# -------------------------------------------------------------- JVP of inv


def _jvp_inputs(n, generator):
    return _well_conditioned(generator, n), generator.standard_normal((n, n))


def _jvp_check(X, V, to_numpy=lambda t: t):
    np = _np()
    Xi = np.linalg.inv(X)
    reference = -Xi @ V @ Xi
    return lambda result: _relative_error(to_numpy(result), reference)


@implementation("inv_jvp", "kronvec.jvp")
def _jvp_kronvec(n, generator):
    np = _np()
    import kronvec

    X, V = _jvp_inputs(n, generator)
    return Bench(lambda: kronvec.jvp(np.linalg.inv, (X,), (V,))[1], _jvp_check(X, V))


@implementation("inv_jvp", "kronvec jacobian().matvec")
def _jvp_kronvec_structured(n, generator):
    np = _np()
    import kronvec

    X, V = _jvp_inputs(n, generator)

    def call():
        return kronvec.jacobian(np.linalg.inv)(X).matvec(_vec(V)).reshape((n, n), order="F")

    return Bench(call, _jvp_check(X, V))


@implementation("inv_jvp", "hand-written -X⁻¹VX⁻¹ (NumPy)")
def _jvp_hand(n, generator):
    np = _np()
    X, V = _jvp_inputs(n, generator)

    def call():
        Xi = np.linalg.inv(X)
        return -Xi @ V @ Xi

    return Bench(call, _jvp_check(X, V))


@implementation("inv_jvp", "jax.jvp (jit)")
def _jvp_jax(n, generator):
    np = _np()
    jax, jnp = _jax()
    X, V = _jvp_inputs(n, generator)
    f = jax.jit(lambda X, V: jax.jvp(jnp.linalg.inv, (X,), (V,))[1])
    Xj, Vj = jnp.asarray(X), jnp.asarray(V)
    return Bench(lambda: _ready(f(Xj, Vj)), _jvp_check(X, V, np.asarray))


@implementation("inv_jvp", "torch.func.jvp")
def _jvp_torch(n, generator):
    torch = _torch()
    X, V = _jvp_inputs(n, generator)
    Xt, Vt = torch.from_numpy(X), torch.from_numpy(V)
    return Bench(lambda: torch.func.jvp(torch.linalg.inv, (Xt,), (Vt,))[1], _jvp_check(X, V, lambda t: t.numpy()))


# ------------------------------------------------------- optimization examples


def _covariance_problem(n, generator):
    """min over A of ln|S| + tr(S⁻¹C), S = AAᵀ + I: a Gaussian covariance fit (C = target)."""
    np = _np()
    C = _spd(generator, n) + np.eye(n)  # eigenvalues > 1, so the optimum S = C is reachable
    A0 = 0.1 * generator.standard_normal((n, n))
    return C, A0


def _minimize(fun, A0, jac=True):
    from scipy.optimize import minimize

    n = A0.shape[0]
    if jac is True:
        def wrapped(a):
            value, gradient = fun(a.reshape((n, n), order="F"))
            return float(value), _np().asarray(gradient, dtype=float).reshape(-1, order="F")
    else:
        def wrapped(a):
            return float(fun(a.reshape((n, n), order="F")))
    return minimize(wrapped, _vec(A0), jac=jac, method="L-BFGS-B",
                    options={"maxiter": 2000, "gtol": 1e-9, "ftol": 1e-15})


def _covariance_summary(C):
    np = _np()

    def summary(result):
        n = C.shape[0]
        A = result.x.reshape((n, n), order="F")
        S = A @ A.T + np.eye(n)
        return {"nit": int(result.nit), "nfev": int(result.nfev), "|S-C|/|C|": f"{np.linalg.norm(S - C) / np.linalg.norm(C):.0e}"}

    return summary


def _covariance_check(C):
    summary = _covariance_summary(C)
    return lambda result: float(summary(result)["|S-C|/|C|"])


def _covariance_bench(n, generator, value_and_grad):
    C, A0 = _covariance_problem(n, generator)
    objective = value_and_grad(C)  # built once: JAX compiles on the first call only
    return Bench(lambda: _minimize(objective, A0), _covariance_check(C), _covariance_summary(C))


@implementation("opt_covariance", "kronvec.value_and_grad")
def _covariance_kronvec(n, generator):
    np = _np()
    import kronvec

    def make(C):
        eye = np.eye(C.shape[0])

        def f(A):
            S = A @ A.T + eye
            return np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C)

        return kronvec.value_and_grad(f)

    return _covariance_bench(n, generator, make)


@implementation("opt_covariance", "hand-written gradient (NumPy)")
def _covariance_hand(n, generator):
    np = _np()

    def make(C):
        eye = np.eye(C.shape[0])

        def f(A):
            S = A @ A.T + eye
            Si = np.linalg.inv(S)
            G = Si - Si @ C @ Si  # ∇_S, symmetric
            return np.linalg.slogdet(S)[1] + np.trace(Si @ C), 2.0 * G @ A

        return f

    return _covariance_bench(n, generator, make)


@implementation("opt_covariance", "jax.value_and_grad (jit)")
def _covariance_jax(n, generator):
    np = _np()
    jax, jnp = _jax()

    def make(C):
        Cj, eye = jnp.asarray(C), jnp.eye(C.shape[0])

        def f(A):
            S = A @ A.T + eye
            return jnp.linalg.slogdet(S)[1] + jnp.trace(jnp.linalg.inv(S) @ Cj)

        g = jax.jit(jax.value_and_grad(f))

        def call(A):
            value, gradient = g(jnp.asarray(A))
            return float(value), np.asarray(gradient)

        return call

    return _covariance_bench(n, generator, make)


@implementation("opt_covariance", "torch.func.grad_and_value")
def _covariance_torch(n, generator):
    torch = _torch()

    def make(C):
        Ct, eye = torch.from_numpy(C), torch.eye(C.shape[0], dtype=torch.float64)

        def f(A):
            S = A @ A.T + eye
            return torch.linalg.slogdet(S)[1] + torch.trace(torch.linalg.inv(S) @ Ct)

        g = torch.func.grad_and_value(f)

        def call(A):
            gradient, value = g(torch.from_numpy(_np().ascontiguousarray(A)))
            return float(value), gradient.numpy()

        return call

    return _covariance_bench(n, generator, make)


@implementation("opt_covariance", "autograd.value_and_grad")
def _covariance_autograd(n, generator):
    import autograd
    import autograd.numpy as anp

    def make(C):
        eye = anp.eye(C.shape[0])

        def f(A):
            S = A @ A.T + eye
            return anp.linalg.slogdet(S)[1] + anp.trace(anp.linalg.inv(S) @ C)

        return autograd.value_and_grad(f)

    return _covariance_bench(n, generator, make)


@implementation("opt_covariance", "finite differences (scipy 2-point)")
def _covariance_fd(n, generator):
    np = _np()
    C, A0 = _covariance_problem(n, generator)
    eye = np.eye(n)

    def f(A):
        S = A @ A.T + eye
        return np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C)

    return Bench(lambda: _minimize(f, A0, jac=None), _covariance_check(C), _covariance_summary(C))


def _sqrtm_problem(n, generator):
    """Solve X² = C (C SPD) by scipy.optimize.least_squares on the n² residuals vec(X² - C)."""
    np = _np()
    C = _spd(generator, n)
    X0 = np.eye(n) + 0.05 * generator.standard_normal((n, n))
    return C, X0


def _least_squares(C, X0, jac):
    from scipy.optimize import least_squares

    n = C.shape[0]

    def residual(x):
        X = x.reshape((n, n), order="F")
        return _vec(X @ X - C)

    return least_squares(residual, _vec(X0), jac=jac, method="trf", tr_solver="lsmr",
                         xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=200)


def _sqrtm_summary(C):
    np = _np()

    def summary(result):
        n = C.shape[0]
        X = result.x.reshape((n, n), order="F")
        return {"nfev": int(result.nfev), "njev": int(result.njev or 0),
                "|X²-C|/|C|": f"{np.linalg.norm(X @ X - C) / np.linalg.norm(C):.0e}"}

    return summary


def _sqrtm_bench(n, generator, make_jac):
    C, X0 = _sqrtm_problem(n, generator)
    summary = _sqrtm_summary(C)
    jac = make_jac(n)  # built once: JAX compiles on the first call only
    return Bench(lambda: _least_squares(C, X0, jac), lambda r: float(summary(r)["|X²-C|/|C|"]), summary)


@implementation("opt_sqrtm", "kronvec jacobian (LinearOperator)")
def _sqrtm_kronvec(n, generator):
    import kronvec

    def make_jac(n):
        J = kronvec.jacobian(lambda X: X @ X)
        return lambda x: J(x.reshape((n, n), order="F"))

    return _sqrtm_bench(n, generator, make_jac)


@implementation("opt_sqrtm", "kronvec jacobian().toarray()")
def _sqrtm_kronvec_dense(n, generator):
    import kronvec

    def make_jac(n):
        J = kronvec.jacobian(lambda X: X @ X)
        return lambda x: J(x.reshape((n, n), order="F")).toarray()

    return _sqrtm_bench(n, generator, make_jac)


@implementation("opt_sqrtm", "hand-written np.kron Jacobian")
def _sqrtm_hand(n, generator):
    np = _np()

    def make_jac(n):
        eye = np.eye(n)

        def jac(x):
            X = x.reshape((n, n), order="F")
            return np.kron(X.T, eye) + np.kron(eye, X)

        return jac

    return _sqrtm_bench(n, generator, make_jac)


@implementation("opt_sqrtm", "jax.jacfwd (jit)")
def _sqrtm_jax(n, generator):
    np = _np()
    jax, jnp = _jax()

    def make_jac(n):
        def residual(x):
            X = x.reshape((n, n), order="F")
            return (X @ X).reshape(-1, order="F")

        J = jax.jit(jax.jacfwd(residual))
        return lambda x: np.asarray(J(jnp.asarray(x)))

    return _sqrtm_bench(n, generator, make_jac)


@implementation("opt_sqrtm", "torch.func.jacfwd")
def _sqrtm_torch(n, generator):
    torch = _torch()

    def make_jac(n):
        def residual(x):
            X = x.reshape(n, n).T  # column-major unvec
            return (X @ X).T.reshape(-1)

        J = torch.func.jacfwd(residual)
        return lambda x: J(torch.from_numpy(x)).numpy()

    return _sqrtm_bench(n, generator, make_jac)


@implementation("opt_sqrtm", "finite differences (scipy 2-point)")
def _sqrtm_fd(n, generator):
    return _sqrtm_bench(n, generator, lambda n: "2-point")


# ==========================================================================
# the cases
# ==========================================================================

_REACH_SIZES = (8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192)

CASES = {
    case.name: case
    for case in (
        Case(
            "dense_inv", "Dense Jacobian of X ↦ X⁻¹ (n² × n²)", (8, 16, 32, 64), DENSE_INV_COMPETITORS,
            note="Every competitor starts from X and returns the full dense Jacobian (JAX/torch/autograd "
                 "in their native (n, n, n, n) layout, not converted). kronvec materializes with numba "
                 "from n = 23 (2¹⁸ entries) on, so its first call at n = 32 includes numba's start-up.",
        ),
        Case(
            "reach", "Structured vs dense: how large can n get (2 GiB, 10 s per call)", _REACH_SIZES,
            (Competitor("kronvec structured jacobian()", ours=True, time_exponent=3,
                        predicted_bytes=lambda n: 40 * n * n),) + DENSE_INV_COMPETITORS,
            timeout=420.0, reach=True,
            note="The structured Jacobian -(X⁻ᵀ ⊗ X⁻¹) keeps one inverse (O(n²) memory, O(n³) time); "
                 "every dense method needs 8n⁴ bytes, so 2 GiB stops it below n = 128.",
        ),
        Case(
            "gaussian_grad", "Value and gradient of ln|S| + tr(S⁻¹C)", (4, 16, 64, 256, 1024), (
                Competitor("kronvec.value_and_grad", ours=True),
                Competitor("hand-written (NumPy)"),
                Competitor("jax.value_and_grad (jit)", requires=("jax",)),
                Competitor("torch.func.grad_and_value", requires=("torch",)),
                Competitor("autograd.value_and_grad", requires=("autograd",)),
                Competitor("central differences", time_exponent=5),
            ),
        ),
        Case(
            "tosparse_IA", "tosparse() of I ⊗ A (the Jacobian of X ↦ AX)", (16, 32, 64, 128, 256),
            TOSPARSE_COMPETITORS, quick_sizes=(16, 64, 256),
        ),
        Case(
            "tosparse_AI", "tosparse() of A ⊗ I (the Jacobian of X ↦ XA)", (16, 32, 64, 128, 256),
            TOSPARSE_COMPETITORS, quick_sizes=(16, 64, 256),
        ),
        Case(
            "kron_matvec", "Structured Kron(A, B) matvec (n² × n² operator)", (32, 64, 128, 256, 512, 1024), (
                Competitor("kronvec Kron.matvec", ours=True),
                Competitor("two matmuls (NumPy floor)"),
                Competitor("pykronecker (NumPy backend)", requires=("pykronecker",)),
                Competitor("pykronecker (JAX backend)", requires=("pykronecker", "jax")),
            ),
            note="The floor is vec(B V Aᵀ) written by hand: two matrix products and two reshapes.",
        ),
        Case(
            "inv_jvp", "JVP of X ↦ X⁻¹ (directional derivative -X⁻¹VX⁻¹)", (64, 128, 256, 512, 1024, 2048), (
                Competitor("kronvec.jvp", ours=True),
                Competitor("kronvec jacobian().matvec", ours=True),
                Competitor("hand-written -X⁻¹VX⁻¹ (NumPy)"),
                Competitor("jax.jvp (jit)", requires=("jax",)),
                Competitor("torch.func.jvp", requires=("torch",)),
            ),
            quick_sizes=(64, 256, 1024, 2048),
        ),
        Case(
            "opt_covariance", "Optimization: Gaussian covariance fit by L-BFGS-B (whole solve)",
            (4, 8, 16, 32, 64), (
                Competitor("kronvec.value_and_grad", ours=True),
                Competitor("hand-written gradient (NumPy)"),
                Competitor("jax.value_and_grad (jit)", requires=("jax",)),
                Competitor("torch.func.grad_and_value", requires=("torch",)),
                Competitor("autograd.value_and_grad", requires=("autograd",)),
                Competitor("finite differences (scipy 2-point)", time_exponent=5),
            ),
            note="min over A of ln|AAᵀ+I| + tr((AAᵀ+I)⁻¹C), scipy.optimize.minimize(method='L-BFGS-B', "
                 "jac=True) from the same start; remarks give iterations, evaluations and the final error.",
        ),
        Case(
            "opt_sqrtm", "Optimization: X² = C by least_squares (whole solve, lsmr)", (4, 8, 16, 32, 64), (
                Competitor("kronvec jacobian (LinearOperator)", ours=True),
                Competitor("kronvec jacobian().toarray()", ours=True, predicted_bytes=_dense),
                Competitor("hand-written np.kron Jacobian", predicted_bytes=_dense),
                Competitor("jax.jacfwd (jit)", requires=("jax",), predicted_bytes=_dense),
                Competitor("torch.func.jacfwd", requires=("torch",), predicted_bytes=_dense),
                Competitor("finite differences (scipy 2-point)", time_exponent=5, predicted_bytes=_dense),
            ),
            note="scipy.optimize.least_squares(method='trf', tr_solver='lsmr') on vec(X² − C); kronvec "
                 "passes the structured Jacobian Xᵀ⊗I + I⊗X as a LinearOperator, the others a dense array.",
        ),
    )
}


def _merge_earlier(results, path):
    """Cases of an earlier results.json that were not run now, in CASES order."""
    try:
        earlier = json.loads(path.read_text())["cases"]
    except (OSError, ValueError, KeyError):
        return results
    fresh = {case.name: (case, measurements, notes) for case, measurements, notes in results}
    merged = []
    for name, case in CASES.items():
        if name in fresh:
            merged.append(fresh[name])
        elif name in earlier:
            measurements = [Measurement(**record) for record in earlier[name]["measurements"]]
            merged.append((case, measurements, earlier[name]["notes"]))
    return merged


# ==========================================================================
# command line
# ==========================================================================


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="run only these cases")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per competitor process")
    parser.add_argument("--threads", type=int, default=1, help="threads per library (default 1)")
    parser.add_argument("--list", action="store_true", help="list cases and competitors")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: rewrite results.md and the plots from --out/results.json")
    parser.add_argument("--update", action="store_true",
                        help="keep the other cases of an earlier run in --out, replace only those run now")
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "COMPETITOR"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker_main(*args.worker, [int(s) for s in args.sizes.split(",")], args.quick)
        return 0
    if args.list:
        for case in CASES.values():
            print(f"{case.name}: {case.title}  sizes {case.sizes}")
            for competitor in case.competitors:
                available, note = availability(competitor)
                print(f"    {competitor.name}{'' if available else '  (' + note + ')'}")
        return 0

    if args.report_only:
        stored = json.loads((args.out / "results.json").read_text())
        results = _merge_earlier([], args.out / "results.json")
        path, plots = write_results(
            results, args.out, stored.get("quick", False), stored.get("threads", 1),
            datetime.datetime.fromisoformat(stored["date"]), stored.get("rerun"), stored.get("took_minutes"),
            stored.get("versions"), stored.get("load"))
        print(f"rewrote {path} and {len(plots)} plots from results.json")
        return 0

    started = datetime.datetime.now(datetime.timezone.utc)
    results = []
    for name in args.case or list(CASES):
        case = CASES[name]
        print(f"{case.name}: {case.title}", flush=True)
        measurements, notes = run_case(case, args.quick, args.timeout, args.threads,
                                       log=lambda text: print(text, flush=True))
        results.append((case, measurements, notes))
    rerun = None
    if args.update:
        rerun = [case.name for case, _, _ in results]
        results = _merge_earlier(results, args.out / "results.json")
    path, plots = write_results(results, args.out, args.quick, args.threads, started, rerun)
    print(f"wrote {path} and {len(plots)} plots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
