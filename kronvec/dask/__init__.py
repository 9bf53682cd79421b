"""kronvec on Dask: separable objectives over chunked data, and lazy operators.

Two ways of outgrowing one machine (``notes/scale.md``):

* **Data-parallel objectives** -- a small unknown X, huge data:
  ``f(X) = Σₖ f(X, Dₖ)`` over the chunks Dₖ of a :class:`dask.array.Array`
  chunked along axis 0.  :func:`value_and_grad`, :func:`hvp` and
  :func:`objective` run one task per chunk (kronvec differentiates the
  plain-NumPy per-chunk term f there) and a tree reduction, on whatever Dask
  scheduler is active: threads, processes, or a ``dask.distributed.Client``
  connected to a cluster.
* **Lazy operators** -- Kronecker-structured Jacobians whose factors are
  ``dask.array`` s too large for one machine: :func:`Kron`, :func:`Dense`,
  :func:`Sum`, :func:`Product`, :func:`Scaled`, the selection family,
  :func:`inv_jacobian` and :func:`sylvester_operator` build a
  :class:`LazyOperator` whose ``matvec``/``rmatvec``/``matmat`` return
  ``dask.array`` s; :func:`lazy` turns an in-memory kronvec operator into
  one.

Install with ``pip install "kronvec[dask]"``.  ``import kronvec`` never
imports Dask; only ``import kronvec.dask`` does.
"""

import importlib

try:
    importlib.import_module("dask.array")  # dask itself and its array extra (NumPy-backed chunks)
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "kronvec.dask needs Dask (dask.array, and dask.distributed for clusters); install it with "
        'pip install "kronvec[dask]"'
    ) from error

from ._objective import Objective, hvp, objective, value_and_grad
from ._operators import (
    Commutation,
    Dense,
    Diag,
    Duplication,
    Elimination,
    Identity,
    Kron,
    LazyOperator,
    Product,
    Scaled,
    Selection,
    Sum,
    inv_jacobian,
    lazy,
    sylvester_operator,
)

__all__ = [
    "value_and_grad",
    "hvp",
    "objective",
    "Objective",
    "LazyOperator",
    "lazy",
    "Dense",
    "Diag",
    "Identity",
    "Kron",
    "Sum",
    "Product",
    "Scaled",
    "Selection",
    "Commutation",
    "Duplication",
    "Elimination",
    "inv_jacobian",
    "sylvester_operator",
]
