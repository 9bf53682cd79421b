"""Recording cost at n = 2: each operation's value_and_grad, now and before.

    python benchmarks/measure_recording.py [--before REV] [--rounds 31]

At n = 2 the arithmetic is nothing and a call of ``kronvec.value_and_grad``
is all recording and reverse sweep.  Issue 12 asks that (a) the operations
kronvec had at ``--before`` (default b0fa435, the commit the issue was filed
against) cost no more than 1.2× what they cost then, and (b) the new
elementwise and indexing operations cost no more than ``add``.

Both versions run in this one process: the package at ``--before`` is
exported with ``git archive`` into a temporary directory under the name
``kronvec_before`` (kronvec imports itself only relatively), and the two
are timed round-robin — one ~20 ms batch of each per round, the starting
one rotating — so that load on the machine falls on both alike.  At n = 2
no BLAS thread starts, so thread settings do not change these figures.
Reported: the median per-call time of each and the ratios.

``--callgrind``: instead of (``--callgrind only``) or as well as (``--callgrind
also``) the timings, the same comparisons in instructions per call, counted by
valgrind's callgrind, which no load on the machine changes (the timings' noise
is ±15 % on a shared 2-core machine).  Each version runs in one worker process
under ``valgrind --tool=callgrind`` with instrumentation off while it imports
and warms every operation up; the worker then switches it on
(``callgrind_control -i on``) and runs each operation in two ``exec`` loops, a
short and a long one, each dumped by callgrind on leaving ``exec``; (long −
short) / (difference in calls) is the per-call count, the cost of the loop
and of ``exec`` itself cancelling out (string hashing seeded, so
that dictionaries collide alike from run to run).  The row "ln|S|+tr(S⁻¹C) n=4" is issue
11's objective (``measure_gradient.py``) at n = 4.  Needs valgrind
(``--valgrind PATH``) and a real interpreter binary (``--python PATH``; a pyenv
shim would be what valgrind measures).

Arithmetic and machinery (the last table of each mode).  A call's total also
holds each operation's own arithmetic: its value (``op.impl``: log1p's log1p)
and its VJPs' NumPy work (log1p's VJP divides by 1 + x, add's passes the
cotangent through), and the sums of cotangents that meet at a node.  That work
is fixed by the mathematics, whatever the tracer; the issue's "cost of
recording and of the reverse sweep" is the rest: NumPy's protocol or the
operator dunder reaching kronvec, the dispatch to the operation, the capture
of each constant by value (a copy, a finiteness check), the node, the input's
copy and check, the call's scope, the sweep's loop and bookkeeping, the seed
and the returned gradient.  So each objective is split, from its own recording
and nothing else (no operation is named):

* arithmetic — one recording of the objective (``api._Recording``, as
  ``value_and_grad`` makes it) gives the impl calls: each node's ``_op.impl``
  on its recorded ``_args`` and ``_params`` (the values and captured
  constants the tracer passed), preceded by the decisions its front door
  took on those values to make a parameter (``Primitive.decisions``: np.sort's
  permutation, the stable sort along the axis, which the impl then gathers
  by — the sort itself, which plain NumPy code sorting computes too; each
  replayed decision is checked equal to the recorded parameter, and the rest
  of the front door's work, its checks and the node, stays machinery).  The
  reverse sweep (``_tracer.reverse_sweep``,
  with ``value_and_grad``'s seed) then runs once with each node's VJPs and the
  cotangent sum replaced by loggers, which note every call's callable and
  arguments (the real cotangents) and make it.  Replaying those calls — the
  impls in recording order, then the sweep's calls in its order — as
  straight-line code, each call spelled out with its arguments (keywords as
  keywords, as plain code would call it: a generic ``f(*args, **params)``
  unpacks a dict per call, which is the tracer's cost, not the operation's),
  inside a fresh call scope (the per-call state the operations' own code
  reads: a factorization shared by inv and slogdet is shared alike), minus
  the same with no calls (the harness), is the arithmetic;
* machinery = total − arithmetic, and its ratio to add's (``np.sum(X + C)``:
  the target ≤ 1.00×; the ufunc-called operations also against
  ``np.sum(np.add(X, C))``).

The logged sweep's gradient is checked equal to ``value_and_grad``'s, so the
loggers changed nothing.  Replayed calls hit the same arrays each time (the
recorded ones): in the timings their memory is warm where a real call's is
fresh — a few percent of arithmetic at most at n = 2, which callgrind's
counts do not see at all.  The split needs the tracer's internals, so it is
made for the current version only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import operator
import os
import pathlib
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import types

import numpy as np

from _timing import Contender, round_robin  # noqa: E402 (benchmarks/ is the script's folder)

ROOT = pathlib.Path(__file__).resolve().parents[1]

# operations kronvec had before issue 12 (name: objective of a 2×2 X)
EXISTING = {
    "add": lambda X: np.sum(X + X),
    "multiply": lambda X: np.sum(X * X),
    "divide": lambda X: np.sum(X / (X * X + 1.0)),
    "power": lambda X: np.sum(X ** 3),
    "exp": lambda X: np.sum(np.exp(X)),
    "log": lambda X: np.sum(np.log(X * X + 1.0)),
    "sin": lambda X: np.sum(np.sin(X)),
    "tanh": lambda X: np.sum(np.tanh(X)),
    "sqrt": lambda X: np.sum(np.sqrt(X * X + 1.0)),
    "matmul": lambda X: np.sum(X @ X),
    "transpose": lambda X: np.sum(X.T * X),
    "trace": lambda X: np.trace(X @ X),
    "sum(axis=0)": lambda X: np.sum(np.sum(X, axis=0) ** 2),
    "inv": lambda X: np.sum(np.linalg.inv(X)),
    "solve": lambda X: np.sum(np.linalg.solve(X, X.T)),
    "slogdet": lambda X: np.linalg.slogdet(X)[1],
    "det": lambda X: np.linalg.det(X),
}

# new in issue 12: elementwise and indexing front doors, one operation each
# inside the same np.sum as add's (target: ≤ add); constants made beforehand
_MASK = np.array([[True, False], [False, True]])
_OTHER = np.array([[0.5, -1.0], [2.0, 0.25]])
NEW = {
    "log1p": lambda X: np.sum(np.log1p(X)),
    "sinh": lambda X: np.sum(np.sinh(X)),
    "arctan": lambda X: np.sum(np.arctan(X)),
    "maximum": lambda X: np.sum(np.maximum(X, 0.0)),
    "clip": lambda X: np.sum(np.clip(X, -0.5, 0.5)),
    "where": lambda X: np.sum(np.where(_MASK, X, _OTHER)),
    "where(M, X, 0.0)": lambda X: np.sum(np.where(_MASK, X, 0.0)),
    "X[::-1]": lambda X: np.sum(X[::-1]),
    "X[0]": lambda X: np.sum(X[0]),
    "np.flip": lambda X: np.sum(np.flip(X)),
    "np.roll": lambda X: np.sum(np.roll(X, 1)),
    "np.triu": lambda X: np.sum(np.triu(X)),
    "np.sort": lambda X: np.sum(np.sort(X)),
    "X.max()": lambda X: X.max(),
    "np.concatenate": lambda X: np.sum(np.concatenate([X, _OTHER])),
}


#: The new operations a call of a NumPy function records (np.log1p(X), np.where(M, X, C)):
#: NumPy's __array_ufunc__ or __array_function__ override reaches them, where X + C reaches
#: Traced.__add__ directly; the column "/np.add" compares them with np.add(X, C), which pays
#: the same dispatch.
UFUNC_CALLED = ("log1p", "sinh", "arctan", "maximum", "clip", "where", "where(M, X, 0.0)", "np.flip", "np.roll",
                "np.triu", "np.sort", "np.concatenate", "np.add(X, C)")


def _export(revision, into):
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "kronvec"],
                             check=True, capture_output=True).stdout
    path = pathlib.Path(into) / "archive.tar"
    path.write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    shutil.move(str(pathlib.Path(into) / "kronvec"), str(pathlib.Path(into) / "kronvec_before"))


def _issue11_objective():
    """S ↦ ln|S| + tr(S⁻¹C) and its S at n = 4, as measure_gradient.py builds them."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    S, C = A @ A.T + 4 * np.eye(4), B @ B.T + np.eye(4)
    return (lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C)), S


class _LoggedVJPs:
    """An operation's VJPs as the sweep reads them (``vjps[position]``), each call logged."""

    __slots__ = ("vjps", "log")

    def __init__(self, vjps, log):
        self.vjps, self.log = vjps, log

    def __getitem__(self, position):
        vjp, log = self.vjps[position], self.log

        def logged(*args, **params):
            log.append((vjp, args, params))
            return vjp(*args, **params)

        return logged


class _LoggedOperation:
    """What the reverse sweep reads of a node's operation (its VJPs), logging their calls."""

    __slots__ = ("vjps",)

    def __init__(self, op, log):
        self.vjps = _LoggedVJPs(op.vjps, log)


def _arithmetic_calls(package, f, X):
    """The calls one ``value_and_grad(f)(X)`` of `package` makes into the operations' own
    arithmetic, as ``(callable, args, params)``: the impls in recording order, then the
    VJPs and cotangent sums in the reverse sweep's order (see the module docstring)."""
    api = importlib.import_module(f"{package.__name__}.api")
    tracer = importlib.import_module(f"{package.__name__}._tracer")
    scope = importlib.import_module(f"{package.__name__}._linalg.scope")
    add = getattr(api, "_add", operator.add)
    sweep_log = []

    def logged_add(a, b):
        sweep_log.append((add, (a, b), {}))
        return add(a, b)

    token = scope.open_scope()  # (as value_and_grad: one scope for recording and sweep)
    try:
        recording = api._Recording(f, (X,), (0,), "value_and_grad")
        nodes = recording.nodes
        impls = []
        for node in nodes:
            if node._op is None:
                continue
            for name, decide in getattr(node._op, "decisions", {}).items():  # (a version without them: none)
                others = {key: value for key, value in node._params.items() if key != name}
                if not np.array_equal(decide(*node._args, **others), node._params[name]):
                    raise AssertionError(f"{node._op.name}'s decision {name!r} differs from the recorded one")
                impls.append((decide, node._args, others))
            impls.append((node._op.impl, node._args, node._params))
        output = recording.output_node
        if output is None or recording.output_shape != () or np.asarray(recording.output).dtype != np.float64:
            raise ValueError("the split is made for objectives with a recorded float64 scalar output")
        for node in nodes:
            if node._op is not None:
                node._op = _LoggedOperation(node._op, sweep_log)
        # value_and_grad's seed for a float64 scalar output, and its consuming sweep
        (gradient,) = tracer.reverse_sweep(nodes, {output._index: 1.0}, recording.inputs, logged_add, True)
    finally:
        scope.close_scope(token)
    expected = package.value_and_grad(f)(X)[1]
    if not np.array_equal(gradient, expected):
        raise AssertionError("the logged sweep's gradient differs from value_and_grad's")
    return impls + sweep_log


def _replay(package, calls):
    """A call making `calls` inside a fresh call scope (no calls: the harness), as straight-line
    code: each call spelled out with its own arguments, positional and keyword, as plain code
    would write it — so that the arithmetic holds no cost of calling through a generic
    ``f(*args, **params)``, which is the tracer's way of calling (a dict unpacked per call)."""
    scope = importlib.import_module(f"{package.__name__}._linalg.scope")
    namespace = {"open_scope": scope.open_scope, "close_scope": scope.close_scope}
    lines = ["def replay(_argument=None):  # (called as the totals are: call(argument))",
             "    token = open_scope()", "    try:"]
    for k, (call, args, params) in enumerate(calls):
        namespace[f"f{k}"] = call
        spelled = []
        for j, arg in enumerate(args):
            namespace[f"a{k}_{j}"] = arg
            spelled.append(f"a{k}_{j}")
        for key, value in params.items():
            namespace[f"p{k}_{key}"] = value
            spelled.append(f"{key}=p{k}_{key}")
        lines.append(f"        f{k}({', '.join(spelled)})")
    lines += ["        pass", "    finally:", "        close_scope(token)"]
    # (the function made from its code object, not by exec: callgrind dumps its counts on
    # leaving every exec, and the worker's dumps must be its loops' alone)
    module = compile("\n".join(lines), "<replay>", "exec")
    code = next(constant for constant in module.co_consts if isinstance(constant, types.CodeType))
    return types.FunctionType(code, namespace, "replay", (None,))


#: The rows every table keeps whatever --only selects (the references of the ratios).
REFERENCES = ("add (X + C)", "np.add(X, C)")


def _objectives(package, only=None):
    """{name: (objective, argument)}: every operation's objective, add's two and issue 11's
    (with `only`, a regular expression, those whose name it finds, and add's two)."""
    X = np.array([[1.3, 0.4], [-0.2, 0.9]])
    objective, S = _issue11_objective()
    found = {name: (f, X) for name, f in {**EXISTING, **NEW}.items()}
    found["add (X + C)"] = (lambda X: np.sum(X + _OTHER), X)
    found["np.add(X, C)"] = (lambda X: np.sum(np.add(X, _OTHER)), X)
    found["ln|S|+tr(S⁻¹C) n=4"] = (objective, S)
    if only is not None:
        found = {name: value for name, value in found.items() if name in REFERENCES or re.search(only, name)}
    return found


HARNESS = "(replay harness)"


#: The calls of the two exec loops per operation (the short one cancels the fixed costs).
_SHORT, _LONG = 10, 110


def _worker(module_name, folder, split, only):
    """Inside valgrind: import the version, warm up, count each operation (see --callgrind);
    with `split`, also each objective's arithmetic replay and the replay harness."""
    sys.path.insert(0, folder)
    kronvec_version = importlib.import_module(module_name)
    calls = {}  # (name, "total" | "arithmetic") → (call, argument)
    for name, (f, argument) in _objectives(kronvec_version, only).items():
        calls[name, "total"] = (kronvec_version.value_and_grad(f), argument)
        if split:
            try:
                calls[name, "arithmetic"] = (_replay(kronvec_version, _arithmetic_calls(kronvec_version, f, argument)),
                                             argument)
            except Exception:  # (an operation this version does not have: dropped below)
                pass
    if split:
        calls[HARNESS, "arithmetic"] = (_replay(kronvec_version, []), None)
    for key, (call, argument) in list(calls.items()):
        try:
            for _ in range(3):  # first-call costs (imports, caches) stay out of the counts
                call(argument)
        except Exception:  # (an operation this version does not have)
            del calls[key]
    print(json.dumps({"keys": list(calls), "file": kronvec_version.__file__}), flush=True)
    # instrumentation on from here (valgrind ran with --instr-atstart=no)
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True)
    for call, argument in calls.values():
        loop = {"call": call, "argument": argument}
        exec(f"for _ in range({_SHORT}): call(argument)", loop)  # callgrind dumps after each exec
        exec(f"for _ in range({_LONG}): call(argument)", loop)


def _count(module_name, folder, options, split=False):
    """{(operation, "total" | "arithmetic"): instructions per call} of the version
    `module_name` in `folder` (the arithmetic replays with `split`, harness not yet subtracted)."""
    with tempfile.TemporaryDirectory() as out:
        command = [options.valgrind, "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
                   "--toggle-collect=builtin_exec", "--dump-after=builtin_exec",
                   f"--callgrind-out-file={out}/cg.out", options.python, str(pathlib.Path(__file__).resolve()),
                   "--callgrind-worker", module_name, folder, "split" if split else "total", options.only or ""]
        finished = subprocess.run(command, capture_output=True, text=True,
                                  env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"})
        if finished.returncode != 0:
            sys.exit(f"callgrind worker failed:\n{finished.stderr[-3000:]}")
        told = json.loads(finished.stdout.strip().splitlines()[-1])
        if not pathlib.Path(told["file"]).resolve().is_relative_to(pathlib.Path(folder).resolve()):
            # (an installed kronvec found before `folder` -- an editable install's finder -- would
            # be what the counts measure)
            sys.exit(f"callgrind worker imported {module_name} from {told['file']}, not from {folder}")
        keys = [tuple(key) for key in told["keys"]]
        totals = []
        for k in range(1, 2 * len(keys) + 1):
            text = pathlib.Path(out, f"cg.out.{k}").read_text(errors="replace")
            totals.append(int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1)))
        if pathlib.Path(out, f"cg.out.{2 * len(keys) + 1}").exists():
            sys.exit("callgrind: more dumps than exec loops (an exec inside kronvec?): counts unreliable")
    return {key: (totals[2 * k + 1] - totals[2 * k]) / (_LONG - _SHORT) for k, key in enumerate(keys)}


def _callgrind_tables(before_folder, options):
    before = {name: count for (name, kind), count in _count("kronvec_before", before_folder, options).items()
              if kind == "total"}
    counted = _count("kronvec", str(ROOT), options, split=True)
    now = {name: count for (name, kind), count in counted.items() if kind == "total"}
    print(f"\n## callgrind: thousands of instructions per call of value_and_grad, now vs {options.before} "
          f"(existing target ≤ 1.2×; new target ≤ add (X + C))")
    print(f"{'operation':<22}{'before':>10}{'now':>10}{'now/before':>12}{'now/add':>10}{'/np.add':>10}")
    for name, count in now.items():
        old = before.get(name)
        ratio = f"{count / old:>11.2f}×" if old else f"{'':>12}"
        over = name in EXISTING and old and count / old > 1.2 or name in NEW and count > now["add (X + C)"]
        # (the ufunc-called operations against add called the same way: NumPy's override
        # protocol, the same for both, costs more than `X + C`'s operator dunder)
        ufunc_ratio = f"{count / now['np.add(X, C)']:>9.2f}×" if name in UFUNC_CALLED else f"{'':>10}"
        print(f"{name:<22}{f'{old / 1e3:.1f}' if old else '—':>10}{count / 1e3:>10.1f}{ratio}"
              f"{count / now['add (X + C)']:>9.2f}×{ufunc_ratio}{'  ✗' if over else ''}")
    failed = [name for name in {**EXISTING, **NEW} if name not in now
              and (options.only is None or re.search(options.only, name))]
    if failed:  # (the worker drops an operation that raises: this version must not)
        print(f"!!! raised in this version, not counted: {', '.join(failed)}")
    harness = counted[HARNESS, "arithmetic"]
    arithmetic = {name: counted[name, "arithmetic"] - harness for name in now if (name, "arithmetic") in counted}
    print(f"\n## callgrind, now: each call split into the operations' own arithmetic (impls, VJPs, cotangent "
          f"sums, replayed) and machinery = total − arithmetic; thousands of instructions per call "
          f"(replay harness {harness / 1e3:.2f}k, subtracted)")
    _split_table({name: (now[name], arithmetic[name], None) for name in arithmetic}, 1e3)


def _split_table(rows, unit):
    """Print total, arithmetic, machinery and machinery against add's (and np.add's, for the
    ufunc-called operations).  `rows` is {name: (total, arithmetic, add's machinery)}, the
    last None where add's own row is the reference (callgrind: counts do not drift); figures
    are divided by `unit`."""
    machinery = {name: total - arithmetic for name, (total, arithmetic, _) in rows.items()}
    np_add = machinery.get("np.add(X, C)")
    print(f"{'operation':<22}{'total':>10}{'arith':>10}{'machinery':>11}{'mach/add':>10}{'/np.add':>10}")
    for name, (total, arithmetic, add) in rows.items():
        add = add if add is not None else machinery.get("add (X + C)")
        over = name in NEW and add and machinery[name] > add
        versus_add = f"{machinery[name] / add:>9.2f}×" if add else f"{'':>10}"
        versus_np_add = f"{machinery[name] / np_add:>9.2f}×" if np_add and name in UFUNC_CALLED else f"{'':>10}"
        print(f"{name:<22}{total / unit:>10.1f}{arithmetic / unit:>10.1f}{machinery[name] / unit:>11.1f}"
              f"{versus_add}{versus_np_add}{'  ✗' if over else ''}")


def _timed_split(rounds, only):
    """The split of each objective's time, measured side by side with add's: per objective, one
    round-robin of its value_and_grad, its replay, add's two and the replay harness."""
    import kronvec

    objectives = _objectives(kronvec, only)

    def contenders(name):
        f, argument = objectives[name]
        transformed, replay = kronvec.value_and_grad(f), _replay(kronvec, _arithmetic_calls(kronvec, f, argument))
        return [Contender(lambda: transformed(argument)), Contender(lambda: replay(argument))]

    harness = _replay(kronvec, [])
    rows = {}
    for name in objectives:
        timed = contenders(name) + contenders("add (X + C)") + [Contender(lambda: harness(None))]
        round_robin(timed, rounds)
        total, replayed, add_total, add_replayed, empty = (statistics.median(c.samples) * 1e6 for c in timed)
        # (mach/add against the add timed in the same rounds: the load falls on both alike)
        rows[name] = (total, replayed - empty, add_total - (add_replayed - empty))
    print(f"\n## timings, now: each call split into arithmetic (replayed) and machinery = total − arithmetic; "
          f"µs per call, median of {rounds} rounds (mach/add: against add timed in the same rounds)")
    _split_table(rows, 1.0)


def main(argv=None):
    if argv is None and len(sys.argv) == 6 and sys.argv[1] == "--callgrind-worker":
        return _worker(sys.argv[2], sys.argv[3], sys.argv[4] == "split", sys.argv[5] or None)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="b0fa435")
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--callgrind", choices=("only", "also"), default=None)
    parser.add_argument("--valgrind", default=shutil.which("valgrind") or "/usr/bin/valgrind")
    parser.add_argument("--python", default=os.path.realpath(sys.executable))
    parser.add_argument("--only", default=None, metavar="REGEX",
                        help="only the operations whose name matches (add's rows are always kept)")
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import kronvec

    X = np.array([[1.3, 0.4], [-0.2, 0.9]])
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}; median of {options.rounds} rounds, µs per call of value_and_grad at n = 2")
    with tempfile.TemporaryDirectory() as temporary:
        _export(options.before, temporary)
        sys.path.insert(0, temporary)
        if options.callgrind:
            _callgrind_tables(temporary, options)
            if options.callgrind == "only":
                return
        before = importlib.import_module("kronvec_before")
        print(f"\n## existing operations: now vs {options.before} (target ≤ 1.2×)")
        print(f"{'operation':<16}{'before':>10}{'now':>10}{'now/before':>12}")
        for name, f in EXISTING.items():
            if options.only is not None and not re.search(options.only, name):
                continue
            old, new = Contender(lambda: before.value_and_grad(f)(X)), Contender(lambda: kronvec.value_and_grad(f)(X))
            round_robin([old, new], options.rounds)
            a, b = statistics.median(old.samples) * 1e6, statistics.median(new.samples) * 1e6
            print(f"{name:<16}{a:>10.1f}{b:>10.1f}{b / a:>11.2f}×{'' if b / a <= 1.2 else '  ✗'}")
    print("\n## new elementwise and indexing operations vs add (np.sum(X + C)), now (target ≤ 1×)")
    print(f"{'operation':<16}{'add':>10}{'op':>10}{'op/add':>12}")
    for name, f in NEW.items():
        if options.only is not None and not re.search(options.only, name):
            continue
        add, op = Contender(lambda: kronvec.value_and_grad(lambda X: np.sum(X + _OTHER))(X)), Contender(lambda: kronvec.value_and_grad(f)(X))
        round_robin([add, op], options.rounds)
        a, b = statistics.median(add.samples) * 1e6, statistics.median(op.samples) * 1e6
        print(f"{name:<16}{a:>10.1f}{b:>10.1f}{b / a:>11.2f}×")
    _timed_split(options.rounds, options.only)


if __name__ == "__main__":
    main()
