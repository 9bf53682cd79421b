"""``kronvec.dask`` on the local threaded scheduler (no cluster: asv runs it anywhere).

* ``SeparableObjective`` -- value+grad and an hvp of the multi-group
  covariance likelihood of ``benchmarks/measure_dask.py`` over G groups in
  chunks of 25,000, against :func:`kronvec.value_and_grad` on the same data
  in memory: the distributed path's overhead on one machine (task graph,
  per-chunk tracing, tree reduction).
* ``LazyKron`` -- ``kronvec.dask.Kron(A, B).matvec(x)`` with n×n factors in
  blocks of 500, computed, against the in-memory ``kronvec.Kron`` matvec.

Cluster figures (1 vs 2 worker processes, 10⁷ groups, memory per worker) come
from ``benchmarks/measure_dask.py``; they need minutes, not an asv repeat.
"""

from __future__ import annotations

import numpy as np

import kronvec

try:  # inside the asv suite (benchmarks/benchmarks/ is a package)
    from . import rng, skip_if
except ImportError:  # loaded as a plain file
    import zlib

    def rng(*key):
        return np.random.default_rng([20240611, *(zlib.crc32(repr(k).encode()) for k in key)])

    def skip_if(condition, reason):
        if condition:
            raise NotImplementedError(reason)


def _dask():
    try:
        import dask
        import dask.array as da

        import kronvec.dask as kvd
    except ImportError:
        return None
    return dask, da, kvd


I3 = np.eye(3)


def group_nll(L, S, D, n):
    Sg = (L @ L.T) + D[:, :, None] * I3
    return 0.5 * np.sum(n * np.linalg.slogdet(Sg)[1]) + 0.5 * np.sum(np.linalg.inv(Sg) * S)


class SeparableObjective:
    params = [[50_000, 200_000]]
    param_names = ["groups"]

    def setup(self, groups):
        modules = _dask()
        skip_if(modules is None, "dask is not installed (pip install 'kronvec[dask]')")
        self.dask, da, self.kvd = modules
        g = rng("dask", "groups", groups)
        Z = g.standard_normal((groups, 3, 4))
        self.S, self.D, self.n = Z @ Z.transpose(0, 2, 1), g.uniform(0.05, 0.2, (groups, 3)), np.full(groups, 4.0)
        self.data = [da.from_array(a, chunks=(25_000,) + a.shape[1:]) for a in (self.S, self.D, self.n)]
        self.L, self.V = np.linalg.cholesky(2 * I3), np.eye(3)[::-1].copy()

    def time_value_and_grad_dask_threads(self, groups):
        with self.dask.config.set(scheduler="threads"):
            self.kvd.value_and_grad(group_nll)(self.L, *self.data)

    def time_value_and_grad_in_memory(self, groups):
        kronvec.value_and_grad(group_nll)(self.L, self.S, self.D, self.n)

    def time_hvp_dask_threads(self, groups):
        with self.dask.config.set(scheduler="threads"):
            self.kvd.hvp(group_nll)(self.L, *self.data, self.V)


class LazyKron:
    params = [[500, 2000]]
    param_names = ["n"]

    def setup(self, n):
        modules = _dask()
        skip_if(modules is None, "dask is not installed (pip install 'kronvec[dask]')")
        self.dask, da, kvd = modules
        g = rng("dask", "kron", n)
        self.A, self.B, self.x = g.standard_normal((n, n)), g.standard_normal((n, n)), g.standard_normal(n * n)
        block = min(500, n)
        self.lazy = kvd.Kron(da.from_array(self.A, chunks=block), da.from_array(self.B, chunks=block))
        self.xd = da.from_array(self.x, chunks=block * n)
        self.K = kronvec.Kron(self.A, self.B)

    def time_matvec_dask_threads(self, n):
        with self.dask.config.set(scheduler="threads"):
            self.lazy.matvec(self.xd).compute()

    def time_matvec_in_memory(self, n):
        self.K.matvec(self.x)
