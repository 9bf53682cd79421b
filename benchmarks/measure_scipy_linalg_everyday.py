"""The everyday kronvec.scipy.linalg functions (norm, lstsq, pinv, pinvh,
orthogonal_procrustes, khatri_rao, solveh_banded, solve_toeplitz, solve_circulant):
value and gradient against SciPy's value alone, side by side in one process, with
one and with default BLAS threads.

    python benchmarks/measure_scipy_linalg_everyday.py [--sizes 64 256] [--rounds 7]

For each function f and size n, contenders timed round-robin (``benchmarks/_timing.py``)
and reported as medians over rounds:

* ``scipy value``: SciPy's own f (the floor);
* ``kronvec value_and_grad``: ``kronvec.value_and_grad`` of ⟨W, f(x)⟩ in its first
  argument (checked against central differences along one direction first);
* for ``orthogonal_procrustes`` and ``solve_toeplitz``, the gradient written by hand
  (``closed form``: SciPy's value plus the formulas of ``notes/derivatives.md`` §38).

Each thread setting runs in a process of its own (``--worker``): ``pinned`` sets the
BLAS variables to 1, ``default`` leaves them unset.  Exit status 1 when a gradient is wrong.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from _timing import rows_from_workers  # (benchmarks/, the script's folder)

ROOT = Path(__file__).resolve().parents[1]
MARKER = "@@everyday "


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--worker", choices=("default", "pinned"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _problems(n, np, scipy_linalg, kl):
    """name: (kronvec f of x, SciPy's f of x, x, closed form of (value, gradient) or None)."""
    generator = np.random.default_rng(n)
    X = generator.uniform(-1.0, 1.0, (n, n))
    tall = np.concatenate([X, np.eye(n)])
    b = generator.standard_normal(2 * n)
    spd = X @ X.T / n + np.eye(n)
    ab = np.stack([0.5 * X[0], 3.0 + X[1]])
    c = np.concatenate([[3.0], X[0, 1:] / n])
    r = np.concatenate([[0.0], X[1, 1:] / n])
    A, B = np.eye(n) + X / n, np.eye(n) + X.T / n

    def procrustes_closed_form(A):
        R, scale = scipy_linalg.orthogonal_procrustes(A, B)
        return scale, B @ R.T  # ∇_A Σσ(AᵀB) = B Rᵀ

    def toeplitz_closed_form(c):  # ⟨1, x⟩: x̄ = 1, b̄ = T⁻ᵀ1, c̄ₖ = −Σ_{i−j=k} b̄ᵢxⱼ
        x = scipy_linalg.solve_toeplitz((c, r), X[2])
        b_bar = scipy_linalg.solve_toeplitz((np.concatenate([c[:1], r[1:]]), c), np.ones(n))  # Tᵀ = toeplitz(r, c)
        return np.sum(x), -np.correlate(b_bar, x, mode="full")[n - 1:]

    return {
        "norm(X, 2)": (lambda X: kl.norm(X, 2), lambda X: scipy_linalg.norm(X, 2), X, None),
        "lstsq([X; I], b)[0]": (lambda T: kl.lstsq(T, b)[0], lambda T: scipy_linalg.lstsq(T, b)[0], tall, None),
        "pinv([X; I])": (kl.pinv, scipy_linalg.pinv, tall, None),
        "pinvh(spd)": (kl.pinvh, scipy_linalg.pinvh, spd, None),
        "khatri_rao(X[:4], X)": (lambda Y: kl.khatri_rao(Y[:4], Y), lambda Y: scipy_linalg.khatri_rao(Y[:4], Y), X,
                                 None),
        "orthogonal_procrustes scale": (lambda A: kl.orthogonal_procrustes(A, B)[1],
                                        lambda A: scipy_linalg.orthogonal_procrustes(A, B)[1], A,
                                        procrustes_closed_form),
        "solveh_banded (tridiagonal)": (lambda ab: kl.solveh_banded(ab, X[2]),
                                        lambda ab: scipy_linalg.solveh_banded(ab, X[2]), ab, None),
        "solve_toeplitz in c": (lambda c: kl.solve_toeplitz((c, r), X[2]),
                                lambda c: scipy_linalg.solve_toeplitz((c, r), X[2]), c, toeplitz_closed_form),
        "solve_circulant in c": (lambda c: kl.solve_circulant(c, X[2]), lambda c: scipy_linalg.solve_circulant(c, X[2]),
                                 c, None),
    }


def worker(args):
    sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
    import numpy as np
    import scipy.linalg

    import kronvec
    import kronvec.scipy.linalg as kl
    from _timing import Contender, round_robin

    status = 0
    for n in args.sizes:
        for name, (f, f_scipy, x, closed_form) in _problems(n, np, scipy.linalg, kl).items():
            W = np.random.default_rng(1).uniform(0.5, 1.5, np.shape(f_scipy(x)))
            if closed_form is not None:
                W = np.ones_like(W)  # (the closed forms are of Σ f)
            value_and_grad = kronvec.value_and_grad(lambda x: np.sum(W * f(x)))  # noqa: B023
            _, gradient = value_and_grad(x)
            direction = np.random.default_rng(2).standard_normal(np.shape(x))
            if name.startswith("pinvh"):  # (along symmetric directions: notes/conventions.md §10)
                direction = (direction + direction.T) / 2
            h = 1e-6
            fd = (np.sum(W * f_scipy(x + h * direction)) - np.sum(W * f_scipy(x - h * direction))) / (2 * h)
            if abs(np.sum(gradient * direction) - fd) > 1e-5 * max(1.0, abs(fd)):
                print(f"WRONG: {name} at n = {n}: directional derivative {np.sum(gradient * direction)} against {fd}")
                status = 1
            contenders = [Contender(lambda: f_scipy(x), "scipy value"),  # noqa: B023
                          Contender(lambda: value_and_grad(x), "kronvec value_and_grad")]  # noqa: B023
            if closed_form is not None:
                if not np.allclose(closed_form(x)[1], gradient, rtol=1e-8, atol=1e-10):
                    print(f"WRONG: the closed form of {name} at n = {n}")
                    status = 1
                contenders.append(Contender(lambda: closed_form(x), "closed form"))  # noqa: B023
            round_robin(contenders, args.rounds)
            floor = statistics.median(contenders[0].samples)
            for contender in contenders:
                median = statistics.median(contender.samples)
                print(MARKER + json.dumps({"threads": args.worker, "n": n, "function": name,
                                           "contender": contender.name, "median_ms": median * 1e3,
                                           "ratio": median / floor}), flush=True)
    return status


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    if args.worker:
        return worker(args)
    rows, status = rows_from_workers(__file__, argv, MARKER, timeout=3600)
    print("| threads | n | function | contender | median (ms) | × scipy value |\n|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['threads']} | {row['n']} | {row['function']} | {row['contender']} | "
              f"{row['median_ms']:.2f} | {row['ratio']:.2f} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
