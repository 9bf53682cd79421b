"""Smoke tests for the tour, ``python -m kronvec``.

The tour is the first thing a newcomer runs, so it must exit 0, say "pass"
on every line, start fast, and never pull in numba (small problems take
kronvec's plain NumPy path).  The 30 s limit below is a generous smoke-test
bound against hangs or an accidental numba compile, not a benchmark: speed
is measured by the asv suite in ``benchmarks/``.
"""

import io
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import kronvec
from kronvec import Kron, tour

PACKAGE_ROOT = Path(kronvec.__file__).resolve().parents[1]
SMOKE_LIMIT_SECONDS = 30.0
CHECK_LINE = re.compile(r"^\s*(\d+[a-z]?)\s{2}")


def _run_python(*args, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env["PYTHONIOENCODING"] = "utf-8"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, encoding="utf-8",
        env=env, cwd=PACKAGE_ROOT, timeout=timeout,
    )
    return result, time.perf_counter() - start


def _check_lines(output):
    return [line for line in output.splitlines() if CHECK_LINE.match(line)]


def test_python_m_kronvec_passes_every_check_quickly():
    result, seconds = _run_python("-m", "kronvec")
    assert result.returncode == 0, result.stdout + result.stderr
    assert seconds < SMOKE_LIMIT_SECONDS, f"the tour took {seconds:.1f} s (smoke limit, not a benchmark)"

    lines = _check_lines(result.stdout)
    labels = [CHECK_LINE.match(line).group(1) for line in lines]
    assert labels == [c.label for c in tour.CHECKS], result.stdout
    for line in lines:
        assert re.search(r"\spass$", line), f"check did not pass: {line}"
    assert "summary:" in result.stdout and "all passed" in result.stdout
    assert "numpy" in result.stdout and "scipy" in result.stdout  # header with versions


def test_the_tour_fits_a_terminal_and_speaks_plainly():
    output = io.StringIO()
    assert tour.main(stream=output) == 0
    lines = output.getvalue().splitlines()
    too_wide = [line for line in lines if len(line) > tour.WIDTH]
    assert not too_wide, f"{len(too_wide)} lines wider than {tour.WIDTH} columns: {too_wide[:2]}"
    assert "seed" not in output.getvalue().lower()  # (an internal word of the project's history)
    # every check's identity is readable on its own: no name used before it is defined
    first = next(line for line in lines if CHECK_LINE.match(line))
    assert "f =" in first, first


def test_the_tour_takes_help_and_list():
    result, _ = _run_python("-m", "kronvec", "--help")
    assert result.returncode == 0 and "usage: python -m kronvec" in result.stdout, result.stderr
    assert "finite differences" in result.stdout
    result, _ = _run_python("-m", "kronvec", "--list")
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == [c.label for c in tour.CHECKS]
    result, _ = _run_python("-m", "kronvec", "--no-such-option")
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr


def test_tour_never_imports_numba():
    script = textwrap.dedent(
        """
        import runpy, sys
        sys.argv = ["kronvec"]
        try:
            runpy.run_module("kronvec", run_name="__main__", alter_sys=True)
        except SystemExit as exit_:
            code = exit_.code
        else:
            code = "no SystemExit"
        assert code == 0, code
        assert "numba" not in sys.modules, "the tour imported numba"
        print("numba-free")
        """
    )
    result, _ = _run_python("-c", script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "numba-free" in result.stdout


def test_main_returns_zero_in_process():
    stream = io.StringIO()
    assert tour.main(stream=stream) == 0, stream.getvalue()
    assert len(_check_lines(stream.getvalue())) == len(tour.CHECKS)


def test_a_wrong_check_makes_main_fail(monkeypatch):
    def wrong():
        return "2 + 2 = 5", abs((2 + 2) - 5), 1e-12

    bad = tour.Check("99", "deliberately wrong", wrong)
    monkeypatch.setattr(tour, "CHECKS", tour.CHECKS + [bad])
    stream = io.StringIO()
    assert tour.main(stream=stream) != 0
    output = stream.getvalue()
    (line,) = [l for l in _check_lines(output) if CHECK_LINE.match(l).group(1) == "99"]
    assert "FAIL" in line
    assert "1 FAILED" in output


def test_a_check_that_raises_is_reported_not_fatal(monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(tour, "CHECKS", [tour.Check("98", "raises", broken)])
    stream = io.StringIO()
    assert tour.main(stream=stream) != 0
    assert "ERROR" in stream.getvalue() and "RuntimeError: boom" in stream.getvalue()


def test_a_transposed_kron_factor_is_caught(monkeypatch):
    """The classic bug, −(A⁻¹ ⊗ A⁻ᵀ) instead of −(A⁻ᵀ ⊗ A⁻¹), fails check 8a."""

    def swapped_inverse_rule(X):
        X_inv = np.linalg.inv(X)
        return Kron(X_inv, X_inv.T, -1.0)

    monkeypatch.setattr(tour.rules, "inv", swapped_inverse_rule)
    outcomes = {o.check.label: o for o in tour.run_checks()}
    assert outcomes["8a"].status == "FAIL"
    assert outcomes["8a"].error > 1e3 * outcomes["8a"].tolerance


@pytest.mark.parametrize("item", tour.CHECKS, ids=lambda c: c.label)
def test_each_check_passes_with_margin(item):
    outcome = tour.run_check(item)
    assert outcome.status == "pass", outcome
    assert outcome.error <= outcome.tolerance / 10, "tolerance too tight for comfort"
