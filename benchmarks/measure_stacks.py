"""Stacks of matrices (issue 14): kronvec against batched NumPy, side by side in one process.

    python benchmarks/measure_stacks.py [--rounds 15] [--default-threads] [--only cholesky]

Contenders are timed round-robin (one ~50 ms batch of each per round, the
starting one rotating) so that load on the shared machine falls on all
alike; reported are the medians.  One BLAS thread, as in the asv suite,
unless ``--default-threads`` (then OpenBLAS picks its own count).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys

if "--default-threads" not in sys.argv:  # (before NumPy loads its BLAS)
    for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402

from _timing import Contender, round_robin  # noqa: E402 (benchmarks/ is the script's folder)

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _contender(name, call):
    return Contender(call, name, batch_seconds=0.05)


def _report(title, contenders, reference):
    print(f"\n## {title}")
    base = statistics.median(reference.samples)
    for contender in contenders:
        median = statistics.median(contender.samples)
        print(f"{contender.name:<44}{median * 1e3:>10.2f} ms{median / base:>8.2f}×")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--default-threads", action="store_true",
                        help="leave OpenBLAS its default thread count (else one thread)")
    parser.add_argument("--only", choices=("gaussian", "inverse", "cholesky"), action="append",
                        help="run only these sections (repeatable; default: all)")
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
    if "gaussian" not in sections:
        pairs = ()
    else:
        pairs = ((100_000, 3), (1000, 64))
    for count, n in pairs:
        generator = np.random.default_rng([count, n])
        S, C = stacks.spd_stack(generator, count, n), stacks.spd_stack(generator, count, n)
        C_t = np.ascontiguousarray(np.swapaxes(C, -1, -2))
        value_and_grad = kronvec.value_and_grad(stacks.gaussian_objective(C))
        (v1, g1), (v2, g2) = value_and_grad(S), stacks.gaussian_closed_form(S, C, C_t)
        assert np.allclose(v1, v2) and np.allclose(g1, g2)
        closed = _contender("batched NumPy closed form (slogdet + inv)", lambda: stacks.gaussian_closed_form(S, C, C_t))
        ours = _contender("kronvec.value_and_grad", lambda: value_and_grad(S))
        round_robin([closed, ours], options.rounds)
        _report(f"value+grad of Σ ln|S_k| + tr(S_k⁻¹C_k), {count:,} members {n}×{n}", [closed, ours], closed)

    if "inverse" not in sections:
        return
    X = np.random.default_rng(3).standard_normal((100_000, 3, 3)) + 3.0 * np.eye(3)
    jacobian = kronvec.jacobian(np.linalg.inv)
    J = jacobian(X)
    assert np.allclose(J.blocks(), stacks.inverse_jacobian_blocks_closed_form(X))
    contenders = [
        _contender("batched NumPy: inv + broadcast blocks", lambda: stacks.inverse_jacobian_blocks_closed_form(X)),
        _contender("kronvec.jacobian (structured)", lambda: jacobian(X)),
        _contender("kronvec.jacobian + .blocks() (K, 9, 9)", lambda: jacobian(X).blocks()),
        _contender("kronvec.jacobian + .tosparse() (CSR)", lambda: jacobian(X).tosparse()),
    ]
    round_robin(contenders, options.rounds)
    _report("Jacobian of X⁻¹, 100,000 members 3×3", contenders, contenders[0])


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


if __name__ == "__main__":
    main()
