"""A contraction's structured Jacobian applied, against the einsum computing its value.

    python benchmarks/measure_contractions.py [--sizes 200 500] [--rounds 15] [--busy]

Issue 12 asks that a contraction's Jacobian be applied in the time of the
contraction itself: its matvec within 1.5× of the ``np.einsum`` (NumPy's optimized
path) that computes the value, at sizes where the work dominates.  For each
subscripts of the asv suite (``benchmarks/benchmarks/contractions.py``,
``APPLIED``) the einsum, the Jacobian's matvec and its rmatvec are timed side by
side, round-robin in this one process (``_timing.py``); reported: the einsum's
median time and the two ratios.

Thread settings are the caller's (as a user's are): run it once as is (OpenBLAS's
default threads) and once with ``OPENBLAS_NUM_THREADS=1`` (pinned).  ``--busy``
keeps one core busy in a separate process meanwhile (a busy neighbour: a BLAS
call with as many threads as cores then waits on the loaded one).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import subprocess
import sys

#: the caller's setting, read before the asv suite's package (imported below) defaults it to 1
#: for asv — too late by then for this process's OpenBLAS, which NumPy has loaded already
THREADS = os.environ.get("OPENBLAS_NUM_THREADS", "default")

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # benchmarks/ itself: _timing and the asv suite

from _timing import median_seconds  # noqa: E402
from benchmarks.contractions import APPLIED, JacobianApply  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--busy", action="store_true", help="keep one core busy meanwhile")
    parser.add_argument("--only", default="", help="subscripts containing this text only")
    options = parser.parse_args()
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if options.busy else None
    try:
        print(f"# {platform.machine()}, {os.cpu_count()} cores, NumPy {np.__version__}, OpenBLAS threads: "
              f"{THREADS}{', one core busy' if options.busy else ''}; median of {options.rounds} rounds")
        print(f"{'subscripts':22s} {'n':>5s} {'einsum ms':>10s} {'matvec':>8s} {'rmatvec':>8s}  Jacobian")
        for name in APPLIED:
            if options.only not in name:
                continue
            for n in options.sizes:
                case = JacobianApply()
                case.setup(name, n)
                medians = median_seconds([("einsum", lambda: case.time_value_einsum(name, n)),
                                          ("matvec", lambda: case.time_matvec(name, n)),
                                          ("rmatvec", lambda: case.time_rmatvec(name, n))], options.rounds)
                einsum = medians["einsum"]
                print(f"{name:22s} {n:5d} {einsum * 1e3:10.3f} {medians['matvec'] / einsum:7.2f}× "
                      f"{medians['rmatvec'] / einsum:7.2f}×  {type(case.J).__name__}", flush=True)
    finally:
        if neighbour is not None:
            neighbour.kill()


if __name__ == "__main__":
    main()
