"""Smoke tests for the benchmark suites, so they cannot rot.

* Every module in ``benchmarks/benchmarks/`` (found on disk, so a new module
  is covered with no edit here) is imported, and every benchmark it defines
  -- collected by asv's own rules: public module-level functions and methods
  of public classes named ``time_*``, ``peakmem_*``, ``mem_*``, ``track_*`` or
  ``timeraw_*`` -- runs once at its smallest parameter combination (the first
  value of each ``params`` list), with ``setup_cache``, ``setup`` and
  ``teardown`` as asv calls them.  ``timeraw_*`` code runs in a child process
  with a timeout.  Nothing here measures speed; asv does that.
* ``benchmarks/compare.py``: its Markdown table, its "competitor not
  installed → skipped with a note" logic and its subprocess-with-timeout
  helper, without running any competitor.
* ``benchmarks/measure_gradient.py``: one quick run in a subprocess, with the
  optional frameworks skipped (as in CI, where none is installed) and, marked
  ``competitor``, with whichever of them are installed.
* ``benchmarks/measure_threads.py``: its timing core at n = 4 in this
  process, its busy neighbour's lifetime, and one tiny run in a subprocess.

asv itself is not needed: the suite is loaded with importlib under a private
package name, exactly as asv would run it (relative imports included).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import numbers
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE_DIR = ROOT / "benchmarks" / "benchmarks"
COMPARE_PATH = ROOT / "benchmarks" / "compare.py"
MEASURE_GRADIENT_PATH = ROOT / "benchmarks" / "measure_gradient.py"
PACKAGE = "_kronvec_asv_suite"
BENCHMARK_PREFIXES = ("time_", "peakmem_", "mem_", "track_", "timeraw_")
TIMERAW_TIMEOUT = 120


def _suite_modules():
    return sorted(path.stem for path in SUITE_DIR.glob("*.py") if path.stem != "__init__")


def _load_suite_package():
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    spec = importlib.util.spec_from_file_location(
        PACKAGE, SUITE_DIR / "__init__.py", submodule_search_locations=[str(SUITE_DIR)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    try:
        spec.loader.exec_module(package)
    except BaseException:
        del sys.modules[PACKAGE]
        raise
    return package


def _import_suite_module(name):
    _load_suite_package()
    return importlib.import_module(f"{PACKAGE}.{name}")


def _collect(module):
    """(label, owner class or None, attribute name) for each benchmark, as asv discovers them."""
    found = []
    for attr, value in list(module.__dict__.items()):
        if attr.startswith("_"):
            continue
        if inspect.isclass(value) and not inspect.isabstract(value):
            for name, member in inspect.getmembers(value):
                if (inspect.isfunction(member) or inspect.ismethod(member)) and name.startswith(BENCHMARK_PREFIXES):
                    found.append((f"{attr}.{name}", value, name))
        elif inspect.isfunction(value) and attr.startswith(BENCHMARK_PREFIXES):
            found.append((attr, None, attr))
    return found


def _first_params(*sources):
    """asv's ``params``: a list of lists (one per parameter), or one flat list."""
    for source in sources:
        params = getattr(source, "params", None)
        if params is not None:
            params = list(params)
            if params and not isinstance(params[0], (list, tuple)):
                params = [params]
            return tuple(values[0] for values in params)
    return ()


def _hook(sources, name):
    for source in sources:
        hook = getattr(source, name, None)
        if hook is not None:
            return hook
    return None


def _run_timeraw(code):
    stmt, setup = code if isinstance(code, tuple) else (code, "")
    program = textwrap.dedent(setup) + "\n" + textwrap.dedent(stmt) + "\n"
    completed = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=TIMERAW_TIMEOUT
    )
    assert completed.returncode == 0, completed.stderr[-2000:]


def _run_once(module, owner, attr):
    """Run one benchmark once at its smallest parameters; return 'ok' or 'skipped: ...'."""
    if owner is None:
        instance, function = None, getattr(module, attr)
        sources = [function, module]
    else:
        instance = owner()
        function = getattr(instance, attr)
        sources = [function, instance, module]
    params = _first_params(*sources)
    setup_cache = _hook(sources, "setup_cache")
    cache = (setup_cache(),) if setup_cache is not None else ()
    setup, teardown = _hook(sources, "setup"), _hook(sources, "teardown")
    try:
        if setup is not None:
            try:
                setup(*cache, *params)
            except NotImplementedError as reason:
                return f"skipped: {reason}"
        result = function(*cache, *params)
        if attr.startswith("timeraw_"):
            _run_timeraw(result)
        elif attr.startswith("track_"):
            assert isinstance(result, numbers.Real) and not isinstance(result, bool), (
                f"track_ benchmarks must return a number, got {result!r}"
            )
            assert math.isfinite(result), f"track_ returned {result!r}"
        return "ok"
    finally:
        if teardown is not None:
            teardown(*cache, *params)


def test_the_suite_has_the_modules_mirroring_kronvec():
    present = set(_suite_modules())
    assert {"operators", "rules", "ops", "sparse", "api", "compile_and_import"} <= present


@pytest.mark.parametrize("module_name", _suite_modules())
def test_every_benchmark_runs_once_at_its_smallest_size(module_name):
    module = _import_suite_module(module_name)
    benchmarks = _collect(module)
    assert benchmarks, f"benchmarks/benchmarks/{module_name}.py defines no asv benchmark"
    failures, outcomes = [], {}
    for label, owner, attr in benchmarks:
        started = time.perf_counter()
        try:
            outcomes[label] = _run_once(module, owner, attr)
        except Exception as error:  # report every broken benchmark, not just the first
            failures.append(f"{module_name}.{label}: {type(error).__name__}: {error}")
        else:
            outcomes[label] += f" ({time.perf_counter() - started:.2f} s)"
    assert not failures, "\n".join(failures)
    skipped = {label: outcome for label, outcome in outcomes.items() if outcome.startswith("skipped")}
    assert not skipped, f"benchmarks skipped at their smallest size: {skipped}"


def test_rule_benchmarks_cover_every_registered_rule():
    from kronvec.rules import REGISTRY

    rules = _import_suite_module("rules")
    for klass in (rules.Rules, rules.RuleApply, rules.RuleToarray, rules.RuleAccuracy):
        assert set(klass.params[0]) == set(REGISTRY), klass.__name__


def test_operation_benchmarks_cover_the_registry():
    from kronvec.ops import REGISTRY

    assert set(_import_suite_module("ops").Operations.params[0]) == set(REGISTRY)


def test_sizes_grow():
    """Every size list is increasing, so the first value (the one run here) is the smallest."""
    for name in _suite_modules():
        module = _import_suite_module(name)
        for _, owner, _ in _collect(module):
            if owner is None or not hasattr(owner, "param_names"):
                continue
            for param_name, values in zip(owner.param_names, owner.params):
                if param_name == "n":
                    assert list(values) == sorted(values), (owner.__name__, values)


# --------------------------------------------------------------------------
# benchmarks/compare.py: pure helpers only, no competitor is run
# --------------------------------------------------------------------------


def _script_module(name, path):
    """A benchmark script loaded as module `name`, for a fixture to yield from."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def compare():
    yield from _script_module("_kronvec_compare", COMPARE_PATH)


def test_compare_table_has_ratios_to_the_best(compare):
    measurements = [
        compare.Measurement(case="dense", competitor="kronvec", n=8, median=1e-3, q1=0.9e-3, q3=1.1e-3, peak_bytes=2**20),
        compare.Measurement(case="dense", competitor="other", n=8, median=4e-3, q1=3e-3, q3=5e-3, peak_bytes=None),
    ]
    table = compare.markdown_table(measurements)
    lines = table.splitlines()
    assert lines[0].startswith("| n |") and set(lines[1]) <= set("|-: ")
    kronvec_row = next(line for line in lines if "kronvec" in line)
    other_row = next(line for line in lines if "other" in line)
    assert "**1.0×**" in kronvec_row and "1.00 ms" in kronvec_row and "±10%" in kronvec_row
    assert "4.0×" in other_row and "4.00 ms" in other_row and "±25%" in other_row
    assert "1.0 MiB" in kronvec_row and "—" in other_row  # unknown memory is a dash


def test_compare_table_lists_skipped_and_failed_competitors(compare):
    measurements = [compare.Measurement(case="c", competitor="kronvec", n=4, median=2e-6, q1=2e-6, q3=2e-6)]
    notes = {"torch.func.jacrev": "skipped: torch is not installed", "jax.jacrev": "timed out after 60 s at n=64"}
    table = compare.markdown_table(measurements, notes=notes)
    assert "2.00 µs" in table
    assert "- torch.func.jacrev: skipped: torch is not installed" in table
    assert "- jax.jacrev: timed out after 60 s at n=64" in table


def test_missing_competitor_is_skipped_with_a_note(compare):
    competitor = compare.Competitor("ghost", requires=("kronvec_no_such_module_xyz",))
    available, note = compare.availability(competitor)
    assert not available
    assert note == "skipped: kronvec_no_such_module_xyz is not installed"
    present = compare.Competitor("plain numpy", requires=("numpy",))
    assert compare.availability(present) == (True, "")


def test_run_case_skips_missing_competitors_without_a_subprocess(compare, monkeypatch):
    def no_subprocess(*args, **kwargs):
        raise AssertionError("a missing competitor must not start a process")

    monkeypatch.setattr(compare, "run_with_timeout", no_subprocess)
    case = compare.Case("demo", "a demo", sizes=(4,), competitors=(
        compare.Competitor("ghost", requires=("kronvec_no_such_module_xyz",)),
    ))
    measurements, notes = compare.run_case(case, quick=True, timeout=5)
    assert measurements == [] and notes == {"ghost": "skipped: kronvec_no_such_module_xyz is not installed"}


def test_run_with_timeout_returns_output(compare):
    result = compare.run_with_timeout([sys.executable, "-c", "print('a'); print('b')"], timeout=30)
    assert not result.timed_out and result.returncode == 0
    assert result.stdout.splitlines() == ["a", "b"]


def test_run_with_timeout_kills_a_hung_child_and_keeps_its_partial_output(compare):
    code = "import sys, time; print('first', flush=True); time.sleep(60)"
    started = time.perf_counter()
    result = compare.run_with_timeout([sys.executable, "-c", code], timeout=1.0)
    assert result.timed_out
    assert time.perf_counter() - started < 15
    assert result.stdout.splitlines() == ["first"]


def test_run_with_timeout_kills_grandchildren_too(compare):
    """A worker that forks (JAX's thread pools, torch's) must not outlive the timeout."""
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    result = compare.run_with_timeout([sys.executable, "-c", code], timeout=1.5)
    assert result.timed_out
    grandchild = int(result.stdout.split()[0])
    deadline = time.time() + 10
    while time.time() < deadline and _alive(grandchild):
        time.sleep(0.1)
    assert not _alive(grandchild)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # pragma: no cover - no /proc: fall back to signal 0
        import os

        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_spread_and_ratio_helpers(compare):
    assert compare.summarize([3.0, 1.0, 2.0, 5.0, 4.0]) == pytest.approx((3.0, 2.0, 4.0))
    assert [compare.format_seconds(s) for s in (2e-7, 3e-4, 0.5, 12.0)] == [
        "0.20 µs", "300.00 µs", "500.00 ms", "12.00 s"
    ]


# --------------------------------------------------------------------------
# benchmarks/measure_gradient.py: one quick run (about 1 s with the frameworks
# skipped; ~10 s when JAX, autograd and PyTorch are all installed and run)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("skip", [
    pytest.param("jax,autograd,torch", id="frameworks-skipped"),
    pytest.param("", id="frameworks-if-installed", marks=pytest.mark.competitor),
])
def test_measure_gradient_quick_run_prints_the_n4_rows(skip):
    """The script runs to exit 0 and prints timed n = 4 rows for kronvec and the closed form.

    ``KRONVEC_BENCH_SKIP`` (which the script honours, like ``--skip``) set to every optional
    framework reproduces CI, where none is installed: each must be skipped with a printed
    note.  With it empty, whichever frameworks are installed run too (``competitor``).
    """
    env = {**os.environ, "KRONVEC_BENCH_SKIP": skip, "PYTHONIOENCODING": "utf-8"}
    completed = subprocess.run(
        [sys.executable, str(MEASURE_GRADIENT_PATH), "--quick", "--rounds", "2", "--sizes", "4"],
        cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120,
    )
    output = completed.stdout
    assert completed.returncode == 0, (output + completed.stderr)[-3000:]
    assert "ROW ABORTED" not in output
    timed = r"\s+\S+ [µm]?s\s+\d+\s+\S+ [µm]?s\s+\S+ [µm]?s\s"  # first call, batch, median, min
    for contender in ("kronvec.value_and_grad", "hand-written NumPy"):
        assert re.search(rf"^\s*4\s+{re.escape(contender)}{timed}", output, re.MULTILINE), output
    if skip:
        for name in skip.split(","):
            assert f"note: {name} skipped" in output, output



# --------------------------------------------------------------------------
# benchmarks/measure_threads.py: its core at n = 4 in this process, the busy
# neighbour's lifetime, and one tiny end-to-end run (about 2 s in all)
# --------------------------------------------------------------------------

MEASURE_THREADS_PATH = ROOT / "benchmarks" / "measure_threads.py"


@pytest.fixture(scope="module")
def measure_threads():
    yield from _script_module("_kronvec_measure_threads", MEASURE_THREADS_PATH)


def test_measure_threads_core_times_the_four_contenders_at_n4(measure_threads):
    rows = measure_threads.measure([4], rounds=1, warm_calls=1)[4]
    assert set(rows) == set(measure_threads.CONTENDERS)
    for row in rows.values():
        assert "failed" not in row, row
        assert 0 < row["best"] <= row["median"] < 1 and row["error"] <= 1e-8


def test_measure_threads_neighbour_is_killed_even_on_error(measure_threads):
    with pytest.raises(KeyboardInterrupt):
        with measure_threads.busy_neighbour(size=32) as neighbour:
            assert neighbour.poll() is None  # multiplying
            raise KeyboardInterrupt
    assert neighbour.poll() is not None and not _alive(neighbour.pid)


def test_measure_threads_environments(measure_threads):
    module = measure_threads
    base = {"PATH": "/bin", "OPENBLAS_NUM_THREADS": "3", "OMP_NUM_THREADS": "2"}
    assert module.thread_environment("default", base) == {"PATH": "/bin"}
    pinned = module.thread_environment("pinned", base)
    assert pinned["PATH"] == "/bin" and all(pinned[key] == "1" for key in module.THREAD_VARIABLES)


def test_measure_threads_tiny_run_prints_the_table_and_targets():
    completed = subprocess.run(
        [sys.executable, str(MEASURE_THREADS_PATH), "--sizes", "4", "--rounds", "1",
         "--configs", "pinned-busy", "--neighbour-size", "32"],
        cwd=ROOT, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, capture_output=True, text=True,
        encoding="utf-8", timeout=120,
    )
    output = completed.stdout
    assert completed.returncode == 0, (output + completed.stderr)[-3000:]
    assert re.search(r"^pinned-busy\s+4\s+\S+ [µm]?s\s+\S+ [µm]?s\s+\S+x", output, re.MULTILINE), output
    assert "n = 4, busy, inv: kronvec default <= 1.2 x kronvec pinned" in output


def test_measure_threads_cycles_merge_by_median_and_keep_failures(measure_threads):
    def record(kronvec_inv, numpy_inv, failed=False):
        rows = {"kronvec inv": {"median": kronvec_inv, "best": kronvec_inv},
                "NumPy inv": {"failed": "WrongAnswer"} if failed else {"median": numpy_inv, "best": numpy_inv}}
        return {"info": {"load_after": [0.0]}, "results": {"64": rows}}

    merged = measure_threads.merge_cycles([record(3.0, 1.0), record(1.0, 2.0), record(2.0, 9.0)])
    assert merged["results"]["64"]["kronvec inv"] == {"median": 2.0, "best": 1.0}
    assert merged["results"]["64"]["NumPy inv"]["median"] == 2.0
    merged = measure_threads.merge_cycles([record(1.0, 1.0), record(1.0, 1.0, failed=True)])
    assert "failed" in merged["results"]["64"]["NumPy inv"]
    cycles = {"default-busy": [record(1.0, 1.0), record(1.0, 1.0, failed=True)]}
    found = {text: met for text, met, _ in measure_threads.targets({"default-busy": merged}, cycles)}
    assert found["default threads, busy, n = 64, inv: kronvec <= 1.3 x NumPy"] is None  # not measured


def test_measure_threads_paired_ratio_cancels_a_load_shared_by_a_round(measure_threads):
    """Each round meets its own load (here 1×, 50× and 7× slower), shared by the pair
    timed in it: the paired ratio is the 1.1 of every round, and cycles pool their rounds."""
    def cycle(ours, theirs):
        return {"results": {"128": {"kronvec inv": {"samples": ours}, "NumPy inv": {"samples": theirs}}}}

    first = cycle([1.1, 1.1 * 50, 1.1 * 7], [1.0, 1.0 * 50, 1.0 * 7])
    second = cycle([2.2], [2.0])
    ratio = measure_threads.paired_ratio({"default-busy": [first, second]}, "default-busy", 128,
                                         "kronvec inv", "NumPy inv")
    assert ratio == pytest.approx(1.1)
    assert measure_threads.paired_ratio({}, "default-busy", 128, "kronvec inv", "NumPy inv") is None


# --------------------------------------------------------------------------
# benchmarks/measure_jacobian_memory.py: one worker in a subprocess
# --------------------------------------------------------------------------


def test_measure_jacobian_memory_worker_prints_a_growth():
    """One case, sqrtm's Jacobian at a general 40×40 A, in the worker's own process: it
    prints one finite number (the peak-RSS growth in n² doubles, ≥ 0); every case the
    script lists has its function (built here at n = 8 without running it)."""
    script = ROOT / "benchmarks" / "measure_jacobian_memory.py"
    completed = subprocess.run([sys.executable, str(script), "--worker", "40", "sqrtm", "general", "kronvec"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    growth = float(completed.stdout.strip().splitlines()[-1])
    assert math.isfinite(growth) and growth >= 0
    module = next(_script_module("_kronvec_measure_jacobian_memory", script))
    try:
        for name, kind in module.CASES:
            for mode in ("scipy", "kronvec"):
                f, A = module._case(8, name, kind, mode)
                assert callable(f) and A.shape == (8, 8)
    finally:
        sys.modules.pop("_kronvec_measure_jacobian_memory", None)


def test_measure_jacobian_memory_time_worker_prints_two_medians():
    """--time's worker: polar's build and the operation alone at 30×30, two positive times."""
    script = ROOT / "benchmarks" / "measure_jacobian_memory.py"
    completed = subprocess.run([sys.executable, str(script), "--time-worker", "30", "polar", "general", "2"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    build, alone = map(float, completed.stdout.strip().splitlines()[-1].split())
    assert build > 0 and alone > 0
