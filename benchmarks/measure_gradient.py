"""The figures of issue 3 (kronvec's gradients and Jacobians), side by side, in one process.

    python benchmarks/measure_gradient.py [--sizes 4 16 64 256 1024] [--rounds 15]
                                          [--jac-sizes 48 64] [--jac-rounds 7]
                                          [--blas-threads 1] [--skip jax,autograd,torch]
                                          [--quick]

What it measures, each table's contenders timed round-robin in this one process:

1. Value and gradient of f(S) = ln|S| + tr(S⁻¹C), S = A Aᵀ + n I and
   C = B Bᵀ + I from a seeded generator, at n = 4, 16, 64, 256, 1024
   (``--sizes``; ``--quick``: 4 and 64):

   * ``kronvec.value_and_grad`` of the plain NumPy expression;
   * the hand-written NumPy closed form (S⁻¹ − S⁻¹ C S⁻¹)ᵀ;
   * HIPS ``autograd.value_and_grad`` of the same with ``autograd.numpy``;
   * ``jax.jit(jax.value_and_grad(...))`` in float64, each call ending with
     ``jax.block_until_ready``;
   * ``torch.func.grad_and_value`` (float64 tensors).

   Targets: at n = 4, kronvec ≤ autograd / 5 and kronvec ≤ 2 × JAX (jit);
   at n = 256 and 1024, kronvec ≤ 1.3 × hand-written and faster than JAX,
   PyTorch and autograd.

2. The dense Jacobian of X ↦ X⁻¹ (X = G + 2√n I, G seeded standard normal) at
   n = 48 and 64 (``--jac-sizes``; ``--quick``: 16):
   ``kronvec.jacobian(np.linalg.inv)(X).toarray()``, the NumPy reference
   ``-np.kron(X⁻ᵀ, X⁻¹)``, ``jax.jit(jax.jacfwd(jnp.linalg.inv))`` and
   ``torch.func.jacfwd(torch.linalg.inv)``.  JAX and PyTorch return the
   (n, n, n, n) array ∂(X⁻¹)ᵢⱼ/∂Xₖₗ; it is brought to kronvec's numerator layout
   with column-major vec, J[i + j n, k + l n], by ``.transpose(1, 0, 3, 2)``
   and a reshape -- a layout verified against kronvec at n = 3 before any check
   relies on it, and done outside the timed calls.
   Target: kronvec ≥ 10× faster than ``jax.jacfwd`` (and PyTorch).

How it times.  Per size, every contender is called once on its own (the
"first call" column: JAX's tracing and XLA compile, kronvec's first trace and
any numba compile; excluded from the medians), its value and gradient (or
Jacobian) are checked against the hand-written NumPy result, it is warmed up
(20 calls in part 1, 5 in part 2 where one call of JAX takes ~1 s), and the
warm-up's median call time sets its batch, the number of calls that take
about 20 ms.  Then, for R rounds (``--rounds``, default 15; ``--jac-rounds``,
default 7 but never more than ``--rounds``), each contender in turn times one
batch with ``time.perf_counter``; the per-call time of a round is the batch
time over the batch size.  The starting contender rotates every round, so
load drift on this shared machine, and the cache state a contender leaves
behind, hit every contender alike.  Reported: median and minimum over rounds.

Checks.  A contender whose value or gradient (Jacobian) differs from the
hand-written one by a relative error (max |difference| / max |reference|)
above 1e-8, or that raises, is reported with "!!! ROW ABORTED" and not
timed, and the script exits with status 1 after printing everything.  Missed
speed targets are printed with ✗ but do not change the exit status: they are
measurements of this machine, not errors.

Optional frameworks.  jax, autograd and torch are imported lazily, when their
first row is built; one that is not installed (or fails to import) is skipped
with a printed note.  ``--skip jax,autograd,torch`` (or the environment
variable ``KRONVEC_BENCH_SKIP`` with the same comma-separated names, used by
the smoke test in ``tests/test_benchmarks_smoke.py`` to run the script as CI,
where none is installed, would) skips them without importing them.

Threads.  These are single-thread comparisons, so ``--blas-threads``
defaults to 1: it sets ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` (and ``NUMBA_NUM_THREADS``) before NumPy is imported,
``torch.set_num_threads``, and with 1 also turns XLA's multi-threaded Eigen
off, so every library computes on one core.  On this shared 2-core machine a
second BLAS thread that waits for a busy core made a 256×256 matmul tens of
times slower (benchmarks/README.md), which would measure the load, not the
code.  ``--blas-threads 0`` leaves the environment as it is.
"""

from __future__ import annotations

import argparse
import os
import sys

FRAMEWORKS = ("jax", "autograd", "torch")
SKIP_VARIABLE = "KRONVEC_BENCH_SKIP"


def _names(text):
    """Comma-separated framework names -> tuple, rejecting unknown ones."""
    names = tuple(name.strip().lower() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(FRAMEWORKS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown framework(s) {', '.join(unknown)}; choose from {', '.join(FRAMEWORKS)}")
    return names


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="n for part 1 (default 4 16 64 256 1024; --quick: 4 64)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds in part 1 (default 15)")
    parser.add_argument("--jac-sizes", type=int, nargs="+", default=None,
                        help="n for part 2 (default 48 64; --quick: 16)")
    parser.add_argument("--jac-rounds", type=int, default=None,
                        help="rounds in part 2 (default min(7, --rounds))")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="threads for BLAS/OpenMP/numba/XLA/torch, set before NumPy is "
                             "imported (default 1: single-thread comparisons; 0: leave as is)")
    parser.add_argument("--skip", type=_names, default=None,
                        help=f"frameworks not to import, comma-separated among {','.join(FRAMEWORKS)} "
                             f"(default: ${SKIP_VARIABLE})")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = parser.parse_args()
    if args.skip is None:
        try:
            args.skip = _names(os.environ.get(SKIP_VARIABLE, ""))
        except argparse.ArgumentTypeError as error:
            parser.error(f"${SKIP_VARIABLE}: {error}")
    if args.sizes is None:
        args.sizes = [4, 64] if args.quick else [4, 16, 64, 256, 1024]
    if args.jac_sizes is None:
        args.jac_sizes = [16] if args.quick else [48, 64]
    if args.jac_rounds is None:
        args.jac_rounds = min(7, args.rounds)
    if min(args.rounds, args.jac_rounds) < 1 or min(args.sizes + args.jac_sizes) < 1:
        parser.error("rounds and sizes must be positive")
    return args


def _set_threads(threads):
    """Pin every library to `threads` threads; must run before NumPy, numba or JAX is imported."""
    if threads <= 0:
        return
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)
    if threads == 1:  # XLA's CPU backend otherwise runs Eigen on a thread pool of all cores
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # no probing for accelerators


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    _set_threads(ARGS.blas_threads)

import dataclasses  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import kronvec  # noqa: E402
from compare import format_seconds  # noqa: E402  (the sibling script; stdlib-only at import)

SEED = 3  # issue 3
TOLERANCE = 1e-8  # relative error above which a row is aborted
BATCH_SECONDS = 0.02  # each timed batch lasts about this long
KRONVEC = "kronvec.value_and_grad"
KRONVEC_COMPILED = "kronvec, compile=True"
HAND = "hand-written NumPy"
AUTOGRAD = "autograd.value_and_grad"
JAX = "jax.jit(value_and_grad)"
TORCH = "torch.func.grad_and_value"
KRONVEC_JAC = "kronvec.jacobian().toarray()"
NUMPY_JAC = "-np.kron(Xi.T, Xi)"
JAX_JAC = "jax.jit(jax.jacfwd(inv))"
TORCH_JAC = "torch.func.jacfwd(inv)"
FAILURES = []  # rows aborted for a wrong answer or an exception: exit status 1


# ======================================================================= frameworks
_MODULES = {}
NOTES = {}  # framework -> why it is not run


def _import_jax():
    import jax

    jax.config.update("jax_enable_x64", True)  # float64, like everyone else
    import jax.numpy  # noqa: F401  (makes jax.numpy an attribute)

    return jax


def _import_autograd():
    import autograd
    import autograd.numpy  # noqa: F401

    return autograd


def _import_torch():
    import torch
    import torch.func  # noqa: F401

    if ARGS is not None and ARGS.blas_threads > 0:
        torch.set_num_threads(ARGS.blas_threads)
    return torch


_IMPORTERS = {"jax": _import_jax, "autograd": _import_autograd, "torch": _import_torch}


def _installed(name):
    """Whether `name` can be found, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # e.g. sys.modules[name] is None: import blocked
        return False


def framework(name):
    """The configured module `name`, imported on first use, or None (with NOTES[name] saying why)."""
    if name in _MODULES:
        return _MODULES[name]
    module = None
    if name in ARGS.skip:
        NOTES[name] = f"skipped (--skip / ${SKIP_VARIABLE})"
    elif not _installed(name):
        NOTES[name] = "not installed: skipped"
    else:
        try:
            module = _IMPORTERS[name]()
        except Exception as error:  # a broken install is skipped with its reason, not a crash
            NOTES[name] = f"import failed ({type(error).__name__}: {error}): skipped"
    _MODULES[name] = module
    return module


def version_of(distribution):
    """Installed version without importing the package (JAX's import is not free)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# ========================================================================== helpers
@dataclasses.dataclass
class Contender:
    """One row: a zero-argument call and how to turn its result into NumPy arrays for the check."""

    name: str
    call: Callable[[], Any]
    to_numpy: Callable[[Any], tuple] = lambda result: tuple(np.atleast_1d(part) for part in result)
    first: float = float("nan")  # seconds of the first call (compile included)
    error: float = float("nan")  # relative error against the reference
    batch: int = 1
    samples: list = dataclasses.field(default_factory=list)  # per-call seconds, one per round

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def best(self):
        return min(self.samples)


class WrongAnswer(Exception):
    pass


def relative_error(got, want):
    """max |got - want| / max |want| (inf on a shape mismatch, so a transpose cannot pass)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return float("inf")
    scale = float(np.max(np.abs(want))) or 1.0
    return float(np.max(np.abs(got - want))) / scale


def prepare(contender, reference, warm_calls):
    """First call (timed alone), check against `reference`, warm up, and size the batch."""
    start = time.perf_counter()
    result = contender.call()
    contender.first = time.perf_counter() - start
    got = contender.to_numpy(result)
    contender.error = max(relative_error(g, w) for g, w in zip(got, reference))
    if len(got) != len(reference) or not contender.error <= TOLERANCE:
        raise WrongAnswer(f"relative error {contender.error:.2e} > {TOLERANCE:.0e}")
    del result, got
    warm = []
    for _ in range(warm_calls):
        start = time.perf_counter()
        contender.call()
        warm.append(time.perf_counter() - start)
    contender.batch = max(1, int(BATCH_SECONDS / statistics.median(warm)))


def round_robin(contenders, rounds):
    """Time one batch of each contender per round, the starting contender rotating every round."""
    for r in range(rounds):
        for k in range(len(contenders)):
            contender = contenders[(r + k) % len(contenders)]
            call, batch = contender.call, contender.batch
            start = time.perf_counter()
            for _ in range(batch):
                call()
            contender.samples.append((time.perf_counter() - start) / batch)


def run_table(n, builders, reference, rounds, warm_calls):
    """Build, check, warm and time the contenders of one size.

    `builders` is a list of (name, framework or None, build) where build() returns a Contender.
    Returns {name: Contender (timed) or str (why there is no row)} in the builders' order.
    """
    rows, timed = {}, []
    for name, needs, build in builders:
        if needs is not None and framework(needs) is None:
            rows[name] = f"{needs} {NOTES[needs]}"
            continue
        try:
            contender = build()
            prepare(contender, reference, warm_calls)
        except Exception as error:
            reason = f"!!! ROW ABORTED: {type(error).__name__}: {error}"
            FAILURES.append(f"n = {n}, {name}: {type(error).__name__}: {error}")
            if not isinstance(error, WrongAnswer):
                traceback.print_exc()
            print(f"{name} at n = {n}: {reason}", file=sys.stderr)
            rows[name] = reason
            continue
        rows[name] = contender
        timed.append(contender)
    round_robin(timed, rounds)
    return rows


ROW = "{n:>5}  {name:30s} {first:>11s} {batch:>6s} {median:>11s} {best:>11s} {ratio:>10s} {error:>9s}"


def print_rows(n, rows, baseline):
    """One line per contender; `ratio` is its median over the `baseline` contender's median."""
    base = rows.get(baseline)
    for name, row in rows.items():
        if isinstance(row, str):
            print(f"{n:>5}  {name:30s} {row}")
            continue
        ratio = f"{row.median / base.median:.2f}x" if isinstance(base, Contender) else "-"
        print(ROW.format(n=n, name=name, first=format_seconds(row.first), batch=str(row.batch),
                         median=format_seconds(row.median), best=format_seconds(row.best), ratio=ratio,
                         error=f"{row.error:.1e}"))


def print_title(title):
    print()
    print(title)
    print("-" * len(title))


def print_columns(baseline):
    print(ROW.format(n="n", name="contender", first="first call", batch="batch", median="median",
                     best="min", ratio=f"/{baseline.split('.')[0]}", error="rel.err"))


# ========================================================================== targets
@dataclasses.dataclass
class Target:
    text: str
    met: bool | None  # None: cannot be checked here (size not run, contender skipped)
    detail: str


def compare(label, rows, other, factor, strict=False, ours=KRONVEC):
    """Target "ours median ≤ factor × other median" (``<`` when `strict`)."""
    mine, theirs = rows.get(ours), rows.get(other)
    for name, row in ((ours, mine), (other, theirs)):
        if not isinstance(row, Contender):
            return Target(label, None, f"{name}: {row or 'not run'}")
    bound = factor * theirs.median
    met = mine.median < bound if strict else mine.median <= bound
    short = other.split(".")[0].split("(")[0]  # "jax.jit(...)" -> "jax"
    if factor == 1:
        against = f"{short} {format_seconds(theirs.median)}"
    else:
        against = f"bound {format_seconds(bound)} = {factor:g} x {short} {format_seconds(theirs.median)}"
    return Target(label, met, f"kronvec {format_seconds(mine.median)} vs {against}; "
                              f"{short}/kronvec = {theirs.median / mine.median:.2f}x")


def gradient_targets(results):
    """The targets of part 1, for the sizes that were run."""
    targets = []
    if 4 in results:
        rows = results[4]
        targets.append(compare("n = 4: kronvec <= autograd / 5", rows, AUTOGRAD, 0.2))
        targets.append(compare("n = 4: kronvec <= 2 x JAX (jit)", rows, JAX, 2.0))
        targets.append(compare("n = 4: compile=True <= autograd / 5", rows, AUTOGRAD, 0.2, ours=KRONVEC_COMPILED))
        targets.append(compare("n = 4: compile=True <= 2 x JAX (jit)", rows, JAX, 2.0, ours=KRONVEC_COMPILED))
    else:
        targets.append(Target("n = 4 targets", None, "not measured (4 not in --sizes)"))
    for n in (256, 1024):
        if n not in results:
            targets.append(Target(f"n = {n} targets", None, f"not measured ({n} not in --sizes)"))
            continue
        rows = results[n]
        targets.append(compare(f"n = {n}: kronvec <= 1.3 x hand-written", rows, HAND, 1.3))
        for other in (JAX, TORCH, AUTOGRAD):
            targets.append(compare(f"n = {n}: kronvec faster than {other}", rows, other, 1.0, strict=True))
    return targets


def jacobian_targets(results):
    """The target of part 2: kronvec ≥ 10× faster than jax.jacfwd and torch.func.jacfwd."""
    targets = []
    for n, rows in results.items():
        for other in (JAX_JAC, TORCH_JAC):
            targets.append(compare(f"n = {n}: kronvec >= 10x faster than {other}", rows, other,
                                   0.1, ours=KRONVEC_JAC))
    return targets


def print_targets(targets):
    mark = {True: "✓", False: "✗", None: "-"}
    width = max(len(t.text) for t in targets)
    for target in targets:
        print(f"  {mark[target.met]} {target.text:{width}s}  {target.detail}")
    met = sum(t.met is True for t in targets)
    checked = sum(t.met is not None for t in targets)
    print(f"  => {met} of {checked} checkable targets met"
          + (f"; {len(targets) - checked} not checkable here" if checked < len(targets) else ""))


# =================================================================== part 1: gradient
def gaussian_inputs(n):
    """S = A Aᵀ + n I (SPD, well conditioned) and C = B Bᵀ + I from a seeded generator."""
    g = np.random.default_rng([SEED, 1, n])
    A, B = g.standard_normal((n, n)), g.standard_normal((n, n))
    return A @ A.T + n * np.eye(n), B @ B.T + np.eye(n)


def hand_written(S, C):
    """The closed form: f = ln|S| + tr(S⁻¹C), ∇f = (S⁻¹ − S⁻¹ C S⁻¹)ᵀ."""
    Si = np.linalg.inv(S)
    value = np.linalg.slogdet(S)[1] + np.trace(Si @ C)
    grad = (Si - Si @ C @ Si).T
    return value, grad


def gradient_builders(S, C):
    """(name, framework needed, build) for every part-1 contender, in table order."""

    def kronvec_row():
        f = kronvec.value_and_grad(lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C))
        return Contender(KRONVEC, lambda: f(S))

    def compiled_row():
        from kronvec._compiled.gradient import FUSE_AFTER_REPLAYS

        f = kronvec.value_and_grad(lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.inv(S) @ C),
                                   compile=True)
        for _ in range(FUSE_AFTER_REPLAYS + 1):  # the steady state: fused (notes/compile.md §7)
            f(S)
        for entry in f.cache.values():
            entry.built.wait(timeout=600)
        return Contender(KRONVEC_COMPILED, lambda: f(S))

    def hand_row():
        return Contender(HAND, lambda: hand_written(S, C))

    def autograd_row():
        autograd = framework("autograd")
        anp = autograd.numpy
        f = autograd.value_and_grad(lambda S: anp.linalg.slogdet(S)[1] + anp.trace(anp.linalg.inv(S) @ C))
        return Contender(AUTOGRAD, lambda: f(S))

    def jax_row():
        jax = framework("jax")
        jnp = jax.numpy
        Sj, Cj = jnp.asarray(S), jnp.asarray(C)

        def fj(S):
            return jnp.linalg.slogdet(S)[1] + jnp.trace(jnp.linalg.inv(S) @ Cj)

        f = jax.jit(jax.value_and_grad(fj))
        return Contender(JAX, lambda: jax.block_until_ready(f(Sj)),
                         lambda result: (np.atleast_1d(np.asarray(result[0])), np.asarray(result[1])))

    def torch_row():
        torch = framework("torch")
        St, Ct = torch.from_numpy(S), torch.from_numpy(C)  # float64, sharing NumPy's memory
        f = torch.func.grad_and_value(
            lambda S: torch.linalg.slogdet(S)[1] + torch.trace(torch.linalg.inv(S) @ Ct))
        # grad_and_value returns (gradient, value): swap to (value, gradient) for the check
        return Contender(TORCH, lambda: f(St),
                         lambda result: (np.atleast_1d(result[1].numpy()), result[0].numpy()))

    return [(KRONVEC, None, kronvec_row), (KRONVEC_COMPILED, None, compiled_row), (HAND, None, hand_row), (AUTOGRAD, "autograd", autograd_row),
            (JAX, "jax", jax_row), (TORCH, "torch", torch_row)]


def part_gradient(sizes, rounds):
    print_title("Part 1 - value and gradient of f(S) = ln|S| + tr(S^-1 C), S = A A^T + n I, "
                "C = B B^T + I")
    print_columns(KRONVEC)
    results = {}
    for n in sizes:
        S, C = gaussian_inputs(n)
        value, grad = hand_written(S, C)
        reference = (np.atleast_1d(value), grad)
        results[n] = run_table(n, gradient_builders(S, C), reference, rounds, warm_calls=20)
        print_rows(n, results[n], KRONVEC)
    print("first call: timed alone, excluded from median/min (JAX: trace + XLA compile). "
          "/kronvec: median over kronvec's median.")
    print()
    print("Targets, part 1")
    targets = gradient_targets(results)
    print_targets(targets)
    return targets


# =================================================================== part 2: Jacobian
def well_conditioned(n):
    """X = G + 2√n I: G's eigenvalues lie in a disc of radius ≈ √n, so X is far from singular."""
    g = np.random.default_rng([SEED, 2, n])
    return g.standard_normal((n, n)) + 2.0 * np.sqrt(n) * np.eye(n)


def numerator_layout(J4):
    """(n, n, n, n) array J4[i, j, k, l] = ∂(X⁻¹)ᵢⱼ/∂Xₖₗ -> J[i + j n, k + l n] (column-major vec)."""
    J4 = np.asarray(J4)
    n = J4.shape[0]
    return J4.transpose(1, 0, 3, 2).reshape(n * n, n * n)


def native_jacobians():
    """{name: (framework, X -> its native (n, n, n, n) Jacobian of inv as NumPy)} for those present."""
    found = {}
    jax = framework("jax")
    if jax is not None:
        found[JAX_JAC] = ("jax", lambda X: np.asarray(jax.jacfwd(jax.numpy.linalg.inv)(jax.numpy.asarray(X))))
    torch = framework("torch")
    if torch is not None:
        found[TORCH_JAC] = ("torch", lambda X: torch.func.jacfwd(torch.linalg.inv)(torch.from_numpy(X)).numpy())
    return found


def verify_layout():
    """Check, at n = 3, that numerator_layout() turns each framework's Jacobian into kronvec's.

    Returns the names whose layout is confirmed; a mismatch aborts that framework's rows loudly.
    """
    X = well_conditioned(3)
    want = kronvec.jacobian(np.linalg.inv)(X).toarray()
    Xi = np.linalg.inv(X)
    print(f"  layout check at n = 3: kronvec vs -np.kron(Xi.T, Xi): {relative_error(want, -np.kron(Xi.T, Xi)):.1e}")
    confirmed = set()
    for name, (_, native) in native_jacobians().items():
        J4 = native(X)
        error = relative_error(numerator_layout(J4), want)
        plain = relative_error(J4.reshape(9, 9), want)  # shows the transpose is needed, not a no-op
        print(f"  layout check at n = 3: {name} .transpose(1,0,3,2).reshape(9, 9) vs kronvec: "
              f"{error:.1e} (a plain reshape would be off by {plain:.1e})")
        if error <= TOLERANCE:
            confirmed.add(name)
        else:
            FAILURES.append(f"{name}: layout check at n = 3 failed ({error:.1e})")
            print(f"!!! {name}: layout check failed; its rows are aborted", file=sys.stderr)
    return confirmed


def jacobian_builders(X, confirmed):
    """(name, framework needed, build) for every part-2 contender, in table order."""

    def kronvec_row():
        return Contender(KRONVEC_JAC, lambda: kronvec.jacobian(np.linalg.inv)(X).toarray(), lambda J: (J,))

    def numpy_row():
        def closed_form():
            Xi = np.linalg.inv(X)
            return -np.kron(Xi.T, Xi)

        return Contender(NUMPY_JAC, closed_form, lambda J: (J,))

    def jax_row():
        if JAX_JAC not in confirmed:
            raise WrongAnswer("layout not confirmed at n = 3")
        jax = framework("jax")
        f = jax.jit(jax.jacfwd(jax.numpy.linalg.inv))
        Xj = jax.numpy.asarray(X)
        return Contender(JAX_JAC, lambda: jax.block_until_ready(f(Xj)), lambda J: (numerator_layout(J),))

    def torch_row():
        if TORCH_JAC not in confirmed:
            raise WrongAnswer("layout not confirmed at n = 3")
        torch = framework("torch")
        f = torch.func.jacfwd(torch.linalg.inv)
        Xt = torch.from_numpy(X)
        return Contender(TORCH_JAC, lambda: f(Xt), lambda J: (numerator_layout(J.numpy()),))

    return [(KRONVEC_JAC, None, kronvec_row), (NUMPY_JAC, None, numpy_row),
            (JAX_JAC, "jax", jax_row), (TORCH_JAC, "torch", torch_row)]


def part_jacobian(sizes, rounds):
    print_title("Part 2 - dense Jacobian of X -> X^-1, (n^2 x n^2), X = G + 2 sqrt(n) I")
    confirmed = verify_layout()
    print_columns(KRONVEC_JAC)
    results = {}
    for n in sizes:
        X = well_conditioned(n)
        Xi = np.linalg.inv(X)
        reference = (-np.kron(Xi.T, Xi),)
        # 5 warm-up calls, not 20: one jax.jacfwd call at n = 64 takes ~1 s on one core
        results[n] = run_table(n, jacobian_builders(X, confirmed), reference, rounds, warm_calls=5)
        del reference
        print_rows(n, results[n], KRONVEC_JAC)
    print("first call: timed alone, excluded from median/min (JAX: trace + XLA compile; kronvec: "
          "numba compile or cache load).  JAX/torch rows time their native (n,n,n,n) result; "
          "the layout change is not timed.")
    print()
    print("Targets, part 2")
    targets = jacobian_targets(results)
    print_targets(targets)
    return targets


# ============================================================================= main
def blas_name():
    """The BLAS NumPy was built against, when NumPy says (>= 1.25)."""
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:
        return "unknown"


def print_machine():
    import scipy

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print("measure_gradient.py - the figures of issue 3, side by side in one process")
    print(f"python {platform.python_version()}, numpy {np.__version__} ({blas_name()}), "
          f"scipy {scipy.__version__}, kronvec {kronvec.__version__}, "
          f"numba {version_of('numba')}")
    print(f"jax {version_of('jax')} (jaxlib {version_of('jaxlib')}), autograd {version_of('autograd')}, "
          f"torch {version_of('torch')}; skipped on request: {', '.join(ARGS.skip) or 'none'}")
    print(f"{platform.platform()}; os.cpu_count() = {os.cpu_count()}; load average {load}")
    threads = ", ".join(f"{k}={os.environ.get(k, 'unset')}"
                        for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                  "NUMBA_NUM_THREADS"))
    print(f"threads (--blas-threads {ARGS.blas_threads}): {threads}; XLA_FLAGS="
          f"{os.environ.get('XLA_FLAGS', 'unset')!r}")
    print(f"part 1 sizes n = {', '.join(map(str, ARGS.sizes))}, {ARGS.rounds} rounds; part 2 sizes "
          f"n = {', '.join(map(str, ARGS.jac_sizes))}, {ARGS.jac_rounds} rounds; batches of "
          f"~{BATCH_SECONDS * 1e3:.0f} ms, round-robin with rotating start; seed {SEED}")


def main():
    if hasattr(sys.stdout, "reconfigure"):  # never die on ✓ or µ under a non-UTF-8 locale
        sys.stdout.reconfigure(errors="replace")
    print_machine()
    targets = part_gradient(ARGS.sizes, ARGS.rounds)
    targets += part_jacobian(ARGS.jac_sizes, ARGS.jac_rounds)
    print()
    for name in FRAMEWORKS:
        if name in NOTES:
            print(f"note: {name} {NOTES[name]}")
    met = sum(t.met is True for t in targets)
    checked = sum(t.met is not None for t in targets)
    print(f"all targets: {met} of {checked} checkable met; load average at the end "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if FAILURES:
        print(f"!!! {len(FAILURES)} row(s) aborted:", *FAILURES, sep="\n!!! ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
