"""
A size sweep: structured against dense
======================================

How the cost of the Jacobian of X ↦ X⁻¹, −(X⁻ᵀ ⊗ X⁻¹), grows with n, measured while this
page was built (small sizes, a few repetitions each — a picture, not a benchmark): building
it, applying it to a vector (the vec trick: two n×n products), and the same product with
the dense n² × n² matrix.  The measured benchmarks, to n = 4096, are on the
performance page (``python benchmarks/compare.py``) and in the asv suite
(``benchmarks/README.md``); when the comparison report is in the repository, its
Kronecker-matvec sweep is drawn below too.
"""

import json
import timeit
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import kronvec


def best_of(f, repeat=5):
    """The fastest of `repeat` timings of f (seconds), after one warm-up call."""
    f()
    number = max(1, int(0.02 / max(timeit.timeit(f, number=1), 1e-7)))
    return min(timeit.repeat(f, number=number, repeat=repeat)) / number


rng = np.random.default_rng(4)
sizes = [4, 8, 12, 16, 20]
rows = []
for n in sizes:
    X = rng.standard_normal((n, n)) + n * np.eye(n)
    v = rng.standard_normal(n * n)
    J = kronvec.jacobian(np.linalg.inv)(X)
    D = J.toarray()  # at most 160 000 entries here
    rows.append((
        best_of(lambda: kronvec.jacobian(np.linalg.inv)(X)),
        best_of(lambda: J.matvec(v)),
        best_of(lambda: D @ v),
        best_of(lambda: J.toarray()),
    ))
    assert np.allclose(J.matvec(v), D @ v)
build, structured, dense, materialize = np.array(rows).T
for n, b, s, d in zip(sizes, build, structured, dense):
    print(f"n = {n:3d}: build {b * 1e6:7.1f} µs, matvec structured {s * 1e6:6.1f} µs, dense {d * 1e6:6.1f} µs")

fig, ax = plt.subplots(figsize=(6.5, 4.2))
ax.loglog(sizes, build, "o-", label="kronvec.jacobian(inv)(X)")
ax.loglog(sizes, structured, "s-", label="J.matvec(v) (structured)")
ax.loglog(sizes, dense, "^-", label="D @ v (dense n²×n²)")
ax.loglog(sizes, materialize, "v-", label="J.toarray()")
ax.set_xlabel("n (X is n×n)")
ax.set_ylabel("seconds (best of 5)")
ax.set_title("Jacobian of X ↦ X⁻¹, measured at build time")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The committed comparison
# ------------------------
# ``benchmarks/compare_results/results.json`` holds the last run of
# ``python benchmarks/compare.py --quick`` (medians over repeats, one thread per library):
# the Kronecker matvec to n = 1024, against the two bare matrix products and other tools.

try:
    here = Path(__file__).resolve().parent
except NameError:  # run interactively
    here = Path.cwd()
report = here.parents[1] / "benchmarks" / "compare_results" / "results.json"
if report.exists():
    case = json.loads(report.read_text())["cases"]["kron_matvec"]["measurements"]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for competitor in sorted({m["competitor"] for m in case}):
        points = sorted((m["n"], m["median"]) for m in case
                        if m["competitor"] == competitor and m.get("median"))
        if points:
            ax.loglog(*zip(*points), "o-", label=competitor)
    ax.set_xlabel("n (the operator is n²×n²)")
    ax.set_ylabel("median seconds")
    ax.set_title("Kron(A, B) matvec (benchmarks/compare.py)")
    ax.legend(fontsize=8)
    fig.tight_layout()
else:
    print("benchmarks/compare_results/results.json is not here: run python benchmarks/compare.py")
