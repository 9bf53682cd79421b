"""Stacks of matrices (issue 14): kronvec against batched NumPy, side by side in one process.

    python benchmarks/measure_stacks.py [--rounds 15]

Contenders are timed round-robin (one ~50 ms batch of each per round, the
starting one rotating) so that load on the shared machine falls on all
alike; reported are the medians.  One BLAS thread, as in the asv suite.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys

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
    options = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import kronvec
    from benchmarks import stacks

    print(f"# {os.cpu_count()} cores, NumPy {np.__version__}; medians of {options.rounds} rounds")
    for count, n in ((100_000, 3), (1000, 64)):
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


if __name__ == "__main__":
    main()
