"""What the adversarial sweeps of tests/sweeps share: a run's Result, vec, distances in
ulps, closeness, bitwise equality, central differences, a function of one argument, where
an exception was raised, whether an array owns its memory, the symmetric part, and the
command line a sweep runs as a script."""
import time
import traceback
import warnings
from typing import NamedTuple

import numpy as np


class Result(NamedTuple):
    """What one run found: ``findings`` as (category, case name, message), the number of
    ``cases`` run and the wall-clock ``seconds`` it took."""

    findings: list
    cases: int
    seconds: float


def vec(a):
    return np.reshape(np.asarray(a), (-1,), order="F")


def ulps(a, b):
    """distance in units of the last place of b's dtype."""
    dt = np.asarray(b).dtype if np.asarray(b).dtype.kind == "f" else np.float64
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = np.abs(a - b)
    sp = np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(dt)).astype(np.float64)
    with np.errstate(all="ignore"):
        r = np.where(d == 0, 0.0, d / sp)
    return float(np.max(r)) if r.size else 0.0


def close(a, b, rtol, atol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def fd_dir(F, X, V, eps):
    """central difference of F along V (float64)."""
    return (np.asarray(F(X + eps * V), dtype=np.float64) - np.asarray(F(X - eps * V), dtype=np.float64)) / (2 * eps)


def fd_grad(Fs, X, eps):
    G = np.zeros(X.shape)
    for idx in np.ndindex(*X.shape):
        E = np.zeros(X.shape)
        E[idx] = 1.0
        G[idx] = float(fd_dir(Fs, X, E, eps))
    return G


def with_const(f, args, argnum):
    """f as a function of args[argnum] alone."""
    def g(x):
        a = list(args)
        a[argnum] = x
        return f(*a)
    return g


def short(err, width=220):
    """An exception in one line: its type and the start of its message's first line."""
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {message[:width]}"


def run_cases(build, check, filter=None, echo=None, floating="warn"):
    """Check every case of ``build()`` — tuples, each its name first — whose name contains
    `filter` (all when None), warnings silenced and NumPy's floating-point errors set to
    `floating`.  ``check(*case)`` returns the case's findings as (category, message); an
    exception raised by the checker itself is a CRASH finding naming where it was raised.
    ``echo(category, name, message)``, when given, sees each finding as it is found.
    Returns a :class:`Result`."""
    start = time.time()
    findings, count = [], 0
    with warnings.catch_warnings(), np.errstate(all=floating):
        warnings.simplefilter("ignore")
        for case in build():
            name = case[0]
            if filter and filter not in name:
                continue
            count += 1
            try:
                found = check(*case)
            except Exception as e:
                found = [("CRASH", f"checker: {short(e)}{where(e)}")]
            for category, message in found:
                findings.append((category, name, message))
                if echo is not None:
                    echo(category, name, message)
    return Result(findings, count, time.time() - start)


def where(e):
    tb = traceback.extract_tb(e.__traceback__)[-1]
    return f" @ {tb.filename.split('/')[-1]}:{tb.lineno}"


def owns(a):
    a = np.asarray(a)
    return a.base is None or not a.flags.writeable or a.size == 0


def sym(X):
    return (X + np.swapaxes(X, -1, -2)) / 2


def same_bits(a, b):
    """a and b equal bit for bit: shape, dtype, values, NaNs and the signs of zeros."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))) and np.all(np.signbit(a) == np.signbit(b)))
    return np.array_equal(a, b)


def command_line(run, argv, quiet=("REFUSED",), harmless=("REFUSED",)):
    """``python tests/sweeps/<sweep>.py [-k TEXT] [-v] [-u]``: run the sweep's cases whose
    name contains TEXT, print each finding as it comes and a summary.

    Findings of the `quiet` categories are printed with ``-v`` only (``ULP`` also with
    ``-u``); those of the `harmless` categories (a clear refusal, an ulp-level difference)
    do not make their case count as failed."""
    verbose, ulp = "-v" in argv, "-u" in argv
    select = argv[argv.index("-k") + 1] if "-k" in argv else None

    def echo(category, name, message):
        if category not in quiet or verbose or (ulp and category == "ULP"):
            print(f"{category:8s} {name}: {message}", flush=True)

    result = run(select, echo)
    categories, failed = {}, set()
    for category, name, _ in result.findings:
        categories[category] = categories.get(category, 0) + 1
        if category not in harmless:
            failed.add(name)
    print(f"\nSUMMARY: {result.cases} cases, {result.cases - len(failed)} passed, findings by category "
          f"{categories}, {result.seconds:.1f} s")
