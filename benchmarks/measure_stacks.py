"""Stacks of matrices (issue 14): kronvec against batched NumPy, side by side in one process.

    python benchmarks/measure_stacks.py [--rounds 15] [--default-threads] [--only cholesky] [--jax] [--torch]

Contenders are timed round-robin (one ~50 ms batch of each per round, the
starting one rotating) so that load on the shared machine falls on all
alike; reported are the medians.  One BLAS thread, as in the asv suite,
unless ``--default-threads`` (then OpenBLAS picks its own count).

The Jacobian of X⁻¹ is also compared with the numba ``prange`` floor (one
kernel: closed-form inverse and the 81 entries of each block, written once)
and, with ``--jax``, with ``jax.jit(jax.vmap(jax.jacfwd(inv)))`` timed in a
subprocess under a timeout (jaxlib can deadlock on two cores); peak memory
(tracemalloc: the peak of what is allocated during the call, the caller's
inputs excluded) is reported against the size of the result.  With ``--torch``,
PyTorch (CPU, float64, eager ``torch.func``) is timed the same way, in a
subprocess under a timeout, beside the JAX row: ``vmap(jacfwd(torch.linalg.inv))``
for the Jacobian of X⁻¹, and ``vmap(grad_and_value)`` of one member's
ln|S| + tr(S⁻¹C) for the Gaussian objective (its threads pinned to one unless
``--default-threads``).  kronvec's own
``--one-core`` pins this whole process to one core (``os.sched_setaffinity``)
before anything is imported, and then times JAX **in this process**, round-robin
with the others: ``jax.jit(jax.value_and_grad)`` of the sum of ``jax.vmap`` of one
member's ln|S| + tr(S⁻¹C), and ``jax.jit(jax.vmap(jax.jacfwd(inv)))``.  On two
cores jaxlib deadlocks at 100,000 members in most fresh processes (the calls after
the first never return; seen again on 2026-12-04 with jax 0.10.2, where 1,000 and
10,000 members ran); on one core it runs, and every contender gets the same core.
kronvec's own
kernels run on one thread below ``kronvec._kernels.PARALLEL_MIN_BYTES``
(64 MiB) whatever the setting: the (K, 9, 9) blocks (62 MiB) are below it, so
``--default-threads`` pits them against the floor on every core.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import textwrap
import time
import tracemalloc

if "--one-core" in sys.argv:  # (before any thread pool starts: see the docstring)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
if "--default-threads" not in sys.argv:  # (before NumPy loads its BLAS)
    for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

from _timing import Contender, round_robin  # noqa: E402 (benchmarks/ is the script's folder)

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _contender(name, call):
    """A Contender whose calls also record their process CPU time: on a shared,
    overloaded machine the wall time of a one-thread call is mostly waiting for
    a core, its CPU time is the work (both are reported)."""
    cpu = []

    def timed():
        start = time.process_time()
        result = call()
        cpu.append(time.process_time() - start)
        return result

    contender = Contender(timed, name, batch_seconds=0.05)
    contender.cpu = cpu
    return contender


def _report(title, contenders, reference):
    print(f"\n## {title}")
    print(f"{'':<44}{'wall median':>13}{'ratio':>8}{'CPU median':>13}{'ratio':>8}")
    base = statistics.median(reference.samples)
    cpu_base = statistics.median(reference.cpu)
    for contender in contenders:
        median, cpu = statistics.median(contender.samples), statistics.median(contender.cpu)
        print(f"{contender.name:<44}{median * 1e3:>10.2f} ms{median / base:>7.2f}×"
              f"{cpu * 1e3:>10.2f} ms{cpu / cpu_base:>7.2f}×")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--default-threads", action="store_true",
                        help="leave OpenBLAS its default thread count (else one thread)")
    parser.add_argument("--only", choices=("gaussian", "inverse", "cholesky"), action="append",
                        help="run only these sections (repeatable; default: all)")
    parser.add_argument("--jax", action="store_true", help="also time jax.jit(vmap(jacfwd(inv))) (subprocess)")
    parser.add_argument("--torch", action="store_true",
                        help="also time torch.func.vmap(jacfwd(inv)) and vmap(grad_and_value) (subprocess)")
    parser.add_argument("--one-core", action="store_true",
                        help="pin the process to one core and time JAX in it, round-robin (see the docstring)")
    options = parser.parse_args(argv)
    sections = set(options.only or ("gaussian", "inverse", "cholesky"))
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import kronvec
    from benchmarks import stacks

    threads = "default BLAS threads" if options.default_threads else "one BLAS thread"
    print(f"# {os.cpu_count()} cores, {threads}, NumPy {np.__version__}; medians of {options.rounds} rounds")
    if "cholesky" in sections:
        _cholesky_logdet(kronvec, stacks, options.rounds)
    pairs = ((100_000, 3), (1000, 64)) if "gaussian" in sections else ()
    for count, n in pairs:
        generator = np.random.default_rng([count, n])
        S, C = stacks.spd_stack(generator, count, n), stacks.spd_stack(generator, count, n)
        C_t = np.ascontiguousarray(np.swapaxes(C, -1, -2))
        value_and_grad = kronvec.value_and_grad(stacks.gaussian_objective(C))
        (v1, g1), (v2, g2) = value_and_grad(S), stacks.gaussian_closed_form(S, C, C_t)
        assert np.allclose(v1, v2) and np.allclose(g1, g2)
        closed = _contender("batched NumPy closed form (slogdet + inv)", lambda: stacks.gaussian_closed_form(S, C, C_t))
        product_form = kronvec.value_and_grad(stacks.gaussian_objective_product_form(C_t))
        assert np.allclose(product_form(S)[1], g2)
        ours = _contender("kronvec.value_and_grad, tr as einsum", lambda: value_and_grad(S))
        ours_product = _contender("kronvec.value_and_grad, tr as sum(inv(S)*Cᵀ)", lambda: product_form(S))
        compiled, fused = _fused_stack_program(kronvec, stacks.gaussian_objective(C), S)
        v3, g3 = compiled(S)
        assert np.allclose(v3, v2) and np.allclose(g3, g2)
        ours_compiled = _contender(f"value_and_grad(compile=True), {'fused' if fused else 'NOT fused'}",
                                   lambda: compiled(S))
        contenders = [closed, ours, ours_product, ours_compiled]
        if options.one_core:
            contenders.append(_jax_gaussian_contender(S, C, v2, g2))
        round_robin(contenders, options.rounds)
        _report(f"value+grad of Σ ln|S_k| + tr(S_k⁻¹C_k), {count:,} members {n}×{n}", contenders, closed)
        peak_ours, _ = _peak(lambda: value_and_grad(S))
        peak_product, _ = _peak(lambda: product_form(S))
        peak_compiled, _ = _peak(lambda: compiled(S))
        peak_closed, _ = _peak(lambda: stacks.gaussian_closed_form(S, C, C_t))
        size = g2.nbytes
        print(f"peak memory (tracemalloc, S and C allocated before): kronvec {peak_ours / 2**20:.1f} MiB = "
              f"{peak_ours / size:.2f}× the gradient ({size / 2**20:.1f} MiB); product form "
              f"{peak_product / 2**20:.1f} MiB = {peak_product / size:.2f}×; compile=True "
              f"{peak_compiled / 2**20:.1f} MiB = {peak_compiled / size:.2f}×; closed form "
              f"{peak_closed / 2**20:.1f} MiB = {peak_closed / size:.2f}×")
        if fused:
            # (numba's own allocations are not traced: the fused loop's scratch, a few members per task
            # in flight, is reported beside the traced peak)
            scratch = _program(compiled).fused.scratch_bytes
            print(f"  compile=True, fused: + untraced numba scratch {scratch:,} bytes per thread "
                  f"({scratch / size:.4f}× the gradient per thread)")
        if options.torch:
            median = _torch_median("gaussian", options.rounds, count=count, n=n,
                                   pinned=not options.default_threads)
            _print_subprocess_row("torch vmap(grad_and_value), subprocess", median,
                                  [("kronvec", ours), ("the closed form", closed)])

    if "inverse" not in sections:
        return
    X = np.random.default_rng(3).standard_normal((100_000, 3, 3)) + 3.0 * np.eye(3)
    jacobian = kronvec.jacobian(np.linalg.inv)
    J = jacobian(X)
    assert np.allclose(J.blocks(), stacks.inverse_jacobian_blocks_closed_form(X))
    floor = _floor_kernel()
    assert np.allclose(floor(X), J.blocks())
    contenders = [
        _contender("numba floor: inv + blocks, one pass, 1 thread", lambda: floor(X, 1)),
        _contender("numba floor, prange on every core", lambda: floor(X)),
        _contender("batched NumPy: inv + broadcast blocks", lambda: stacks.inverse_jacobian_blocks_closed_form(X)),
        _contender("kronvec.jacobian (structured)", lambda: jacobian(X)),
        _contender("kronvec.jacobian + .blocks() (K, 9, 9)", lambda: jacobian(X).blocks()),
        _contender("kronvec.jacobian + .tosparse() (CSR)", lambda: jacobian(X).tosparse()),
    ]
    if options.one_core:
        contenders.append(_jax_inverse_contender(X, J.blocks()))
    round_robin(contenders, options.rounds)
    _report("Jacobian of X⁻¹, 100,000 members 3×3 (ratios to the one-thread numba floor)", contenders, contenders[0])
    every_core = statistics.median(contenders[1].samples)
    print("ratios to the floor on every core (wall): " + ", ".join(
        f"{c.name.removeprefix('kronvec.jacobian + ')} {statistics.median(c.samples) / every_core:.2f}×"
        for c in contenders[4:]))
    # (peak of traced allocations during the call: X is the caller's, allocated before)
    for name, call in (("blocks", lambda: jacobian(X).blocks()), ("CSR", lambda: jacobian(X).tosparse())):
        peak, result = _peak(call)
        size = result.nbytes if name == "blocks" else result.data.nbytes + result.indices.nbytes + result.indptr.nbytes
        print(f"peak memory, jacobian + {name:<6}{peak / 2**20:>10.1f} MiB = {peak / size:.2f}× the result "
              f"({size / 2**20:.1f} MiB)")
    if options.torch:
        median = _torch_median("inverse", options.rounds, pinned=not options.default_threads)
        _print_subprocess_row("torch vmap(jacfwd(inv)), subprocess", median,
                              [("kronvec's CSR", contenders[5]), ("its blocks", contenders[4])])
    if options.jax:
        median = _jax_median(options.rounds)
        base = statistics.median(contenders[5].samples)
        if median is None:
            print("jax: timed out (deadlock?) or failed")
        else:
            print(f"{'jax.jit(vmap(jacfwd(inv))), subprocess':<44}{median * 1e3:>10.2f} ms"
                  f"   ({median / base:.1f}× kronvec's CSR, {median / statistics.median(contenders[4].samples):.1f}× "
                  "its blocks)")


def _jax_gaussian_contender(S, C, value, gradient):
    """``jax.jit(jax.value_and_grad)`` of Σₖ of ``jax.vmap`` of one member's
    ln|S| + tr(S⁻¹C), checked against the closed form's value and gradient."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def member(s, c):
        return jnp.linalg.slogdet(s)[1] + jnp.trace(jnp.linalg.inv(s) @ c)

    f = jax.jit(jax.value_and_grad(lambda S, C: jnp.sum(jax.vmap(member)(S, C))))
    Sj, Cj = jnp.asarray(S), jnp.asarray(C)
    v, g = f(Sj, Cj)
    assert np.allclose(float(v), value) and np.allclose(np.asarray(g), gradient)
    return _contender("jax.jit(value_and_grad(Σ vmap(member)))", lambda: f(Sj, Cj)[1].block_until_ready())


def _jax_inverse_contender(X, blocks):
    """``jax.jit(jax.vmap(jax.jacfwd(inv)))``, checked against kronvec's (K, 9, 9) blocks
    (JAX's J[k, i, j, a, b] = ∂(X_k⁻¹)ᵢⱼ/∂(X_k)ₐᵦ; kronvec's rows and columns are vec positions)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    f = jax.jit(jax.vmap(jax.jacfwd(jnp.linalg.inv)))
    Xj = jnp.asarray(X)
    assert np.allclose(np.asarray(f(Xj)).transpose(0, 2, 1, 4, 3).reshape(len(X), 9, 9), blocks)
    return _contender("jax.jit(vmap(jacfwd(inv))), in process", lambda: f(Xj).block_until_ready())


def _cholesky_logdet(kronvec, stacks, rounds):
    """value+grad of Σₖ ln|S_k| through cholesky against slogdet + inv by hand."""
    for count, n in ((10_000, 3), (1000, 64)):
        S = stacks.spd_stack(np.random.default_rng([count, n, 1]), count, n)
        value_and_grad = kronvec.value_and_grad(stacks.cholesky_logdet)
        (v1, g1), (v2, g2) = value_and_grad(S), stacks.logdet_closed_form(S)
        assert np.allclose(v1, v2) and np.allclose(g1, g2)
        closed = _contender("batched NumPy closed form (slogdet + inv)", lambda: stacks.logdet_closed_form(S))
        factor = _contender("batched NumPy: cholesky alone (value only)", lambda: np.linalg.cholesky(S))
        ours = _contender("kronvec.value_and_grad (through cholesky)", lambda: value_and_grad(S))
        round_robin([closed, factor, ours], rounds)
        _report(f"value+grad of Σ ln|S_k| via cholesky, {count:,} members {n}×{n}", [closed, factor, ours], closed)


def _program(compiled):
    (entry,) = compiled.cache.values()
    return entry.built


def _fused_stack_program(kronvec, f, S):
    """value_and_grad(f, compile=True) after enough calls to start the fused tier's background
    compile (kronvec._compiled.gradient.FUSE_AFTER_REPLAYS), and once that compile is done:
    (the compiled function, whether calls take the fused stack program)."""
    from kronvec._compiled.gradient import FUSE_AFTER_REPLAYS

    compiled = kronvec.value_and_grad(f, compile=True)
    for _ in range(FUSE_AFTER_REPLAYS + 1):
        compiled(S)
    return compiled, _program(compiled).wait(timeout=600)


def _floor_kernel():
    """The write-limit floor: one numba prange pass computing each X_k⁻¹ in
    closed form and writing the block −X_k⁻ᵀ ⊗ X_k⁻¹ (what vmap(jacfwd) returns)."""
    import numba

    @numba.njit(parallel=True, cache=True)
    def fill(X, out):
        for k in numba.prange(X.shape[0]):
            a = X[k]
            b = np.empty((3, 3))
            b[0, 0] = a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]
            b[0, 1] = a[0, 2] * a[2, 1] - a[0, 1] * a[2, 2]
            b[0, 2] = a[0, 1] * a[1, 2] - a[0, 2] * a[1, 1]
            b[1, 0] = a[1, 2] * a[2, 0] - a[1, 0] * a[2, 2]
            b[1, 1] = a[0, 0] * a[2, 2] - a[0, 2] * a[2, 0]
            b[1, 2] = a[0, 2] * a[1, 0] - a[0, 0] * a[1, 2]
            b[2, 0] = a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]
            b[2, 1] = a[0, 1] * a[2, 0] - a[0, 0] * a[2, 1]
            b[2, 2] = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
            det = a[0, 0] * b[0, 0] + a[0, 1] * b[1, 0] + a[0, 2] * b[2, 0]
            for i in range(3):
                for j in range(3):
                    b[i, j] /= det
            o = out[k]
            for i in range(3):  # (−X⁻ᵀ ⊗ X⁻¹)[3i + u, 3j + v] = −X⁻¹[j, i]·X⁻¹[u, v]
                for u in range(3):
                    for j in range(3):
                        factor = -b[j, i]
                        for v in range(3):
                            o[3 * i + u, 3 * j + v] = factor * b[u, v]

    def floor(X, threads=None):
        out = np.empty((X.shape[0], 9, 9))
        previous = numba.get_num_threads()
        numba.set_num_threads(threads or previous)
        try:
            fill(X, out)
        finally:
            numba.set_num_threads(previous)
        return out

    return floor


def _peak(call):
    """Peak traced allocation of one call (after a warm call) and its result."""
    call()
    tracemalloc.start()
    try:
        result = call()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


_JAX = """
import os, statistics, time
import numpy as np, jax, jax.numpy as jnp
jax.config.update("jax_enable_x64", True)
X = jnp.asarray(np.random.default_rng(3).standard_normal((100_000, 3, 3)) + 3.0 * np.eye(3))
f = jax.jit(jax.vmap(jax.jacfwd(jnp.linalg.inv)))
f(X).block_until_ready()
samples = []
for _ in range({rounds}):
    start = time.perf_counter()
    f(X).block_until_ready()
    samples.append(time.perf_counter() - start)
print(statistics.median(samples))
"""


def _jax_median(rounds, timeout=300):
    try:
        completed = subprocess.run([sys.executable, "-c", textwrap.dedent(_JAX.format(rounds=rounds))],
                                   capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if completed.returncode != 0:
        return None
    return float(completed.stdout.strip().splitlines()[-1])

# PyTorch, eager torch.func on the CPU (float64): the stacks regenerated from the same seeds
# as above (benchmarks/benchmarks/stacks.py), checked against NumPy before timing.
_TORCH = """
import statistics, sys, time
import numpy as np, torch
sys.path.insert(0, {benchmarks!r})
from benchmarks import stacks
if {pinned}:
    torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
if {section!r} == "inverse":
    X = np.random.default_rng(3).standard_normal((100_000, 3, 3)) + 3.0 * np.eye(3)
    Xt = torch.from_numpy(X)
    f = torch.func.vmap(torch.func.jacfwd(torch.linalg.inv))
    call = lambda: f(Xt)
    expected = stacks.inverse_jacobian_blocks_closed_form(X)
    # J[k, i, j, a, b] = ∂(X_k⁻¹)ᵢⱼ/∂(X_k)ₐᵦ; kronvec's block rows and columns are vec (column-major) positions
    assert np.allclose(call().permute(0, 2, 1, 4, 3).reshape(len(X), 9, 9).numpy(), expected)
else:
    generator = np.random.default_rng([{count}, {n}])
    S, C = stacks.spd_stack(generator, {count}, {n}), stacks.spd_stack(generator, {count}, {n})
    St, Ct = torch.from_numpy(S), torch.from_numpy(C)

    def member(s, c):
        return torch.linalg.slogdet(s)[1] + torch.sum(torch.linalg.inv(s) * c.T)

    f = torch.func.vmap(torch.func.grad_and_value(member))

    def call():
        gradient, values = f(St, Ct)
        return values.sum(), gradient

    value, gradient = call()
    v2, g2 = stacks.gaussian_closed_form(S, C, np.ascontiguousarray(np.swapaxes(C, -1, -2)))
    assert np.allclose(float(value), v2) and np.allclose(gradient.numpy(), g2)
samples, cpu = [], []
for _ in range({rounds}):
    start, start_cpu = time.perf_counter(), time.process_time()
    call()
    samples.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
print(statistics.median(samples), statistics.median(cpu))
"""


def _torch_median(section, rounds, count=0, n=0, pinned=True, timeout=300):
    """Median seconds (wall, CPU) of PyTorch's call in a fresh subprocess, or None (no torch, failed, timed out)."""
    script = textwrap.dedent(_TORCH.format(section=section, rounds=rounds, count=count, n=n, pinned=pinned,
                                           benchmarks=str(ROOT / "benchmarks")))
    try:
        completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if completed.returncode != 0:
        print(completed.stderr.strip().splitlines()[-1] if completed.stderr.strip() else "torch failed")
        return None
    wall, cpu = completed.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _print_subprocess_row(name, medians, references):
    """One row for a subprocess's (wall, CPU) medians, with ratios to contenders (by wall and by CPU:
    on a loaded machine the CPU times compare the work)."""
    if medians is None:
        print(f"{name}: timed out or failed")
        return
    wall, cpu = medians
    ratios = ", ".join(f"{wall / statistics.median(c.samples):.2f}× {label} by wall, "
                       f"{cpu / statistics.median(c.cpu):.2f}× by CPU" for label, c in references)
    print(f"{name:<44}{wall * 1e3:>10.2f} ms{'':>8}{cpu * 1e3:>10.2f} ms   ({ratios})")


if __name__ == "__main__":
    main()
