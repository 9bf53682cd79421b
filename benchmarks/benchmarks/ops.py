"""Every operation in ``kronvec.ops.REGISTRY``, at growing sizes.

The parameter list is the registry itself, so an operation registered in
``kronvec/ops/`` is benchmarked with no edit here.  Inputs come from the
operation's own ``samples(rng, n)`` (seeded per operation and size); the
operation is differentiated with respect to its first array argument.

* ``Operations.time_value_and_grad``: record ⟨W, op(x)⟩ and sweep back
  (what the operation costs inside an optimizer's objective);
* ``Operations.time_jacobian`` / ``peakmem_jacobian``: its structured
  Jacobian through ``kronvec.jacobian`` (a factorization or two, O(n²) memory);
* ``Operations.time_value``: the operation alone on plain arrays, the floor
  the two above are measured against.
"""

from __future__ import annotations

import warnings

import numpy as np

import kronvec
import kronvec.ops.special  # noqa: F401 (registered on first use otherwise: benchmarked too)
from kronvec.ops import REGISTRY, Sample

from . import rng, warm

OPERATIONS = sorted(REGISTRY)


def _problem(name, n):
    op = REGISTRY[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sample = op.samples(rng("ops", name, n), n)
    sample = sample if isinstance(sample, Sample) else Sample(tuple(sample))
    position = next(k for k, a in enumerate(sample.args)
                    if op.vjps.of(k) is not None and np.asarray(a).dtype.kind == "f")
    args, params = list(sample.args), sample.params

    def f(x):
        call = list(args)
        call[position] = x
        return op(*call, **params)

    weights = rng("ops-weights", name, n).standard_normal(np.shape(op.impl(*args, **params)))
    return op, sample, args[position], f, (lambda x: np.sum(weights * f(x)))


class Operations:
    """Each registered operation: value, value+gradient, structured Jacobian."""

    params = [OPERATIONS, [2, 16, 128]]
    param_names = ["operation", "n"]

    def setup(self, name, n):
        self.op, self.sample, self.x, self.f, self.s = _problem(name, n)
        self._errors = np.seterr(all="ignore")  # det of a large sample overflows its warnings, not its timing
        warm(kronvec.value_and_grad(self.s), self.x)
        warm(kronvec.jacobian(self.f), self.x)

    def teardown(self, name, n):
        np.seterr(**getattr(self, "_errors", {}))

    def time_value(self, name, n):
        self.op.impl(*self.sample.args, **self.sample.params)

    def time_value_and_grad(self, name, n):
        kronvec.value_and_grad(self.s)(self.x)

    def time_jacobian(self, name, n):
        kronvec.jacobian(self.f)(self.x)

    def peakmem_jacobian(self, name, n):
        kronvec.jacobian(self.f)(self.x)
