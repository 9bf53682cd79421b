"""Apply a DAG of composite operators to a block of vectors, iteratively.

A Jacobian built by forward composition shares sub-operators: the product
rule gives ``D(FG) = (Gᵀ ⊗ I) DF + (I ⊗ F) DG``, and when F and G both depend
on one upstream value their Jacobians share its Jacobian J.  Evaluated as a
tree, a chain of d such reuses costs 2^d applications of J; evaluated as a
DAG, each shared operator is applied once per application.

The composites (:class:`~kronvec.operators.Sum`, ``Product``, ``Scaled``)
declare which operands see the *same* input as themselves
(``_shared_operands``: every term of a Sum, the operand of a Scaled, the
last factor of a Product) and how to combine their operands' values
(``_combine``) or split a cotangent among them (``_distribute``).  Everything
else is applied as a unit with ``_matmat``.  Each application builds its own
topological order and memo table here, in local variables: nothing is kept
between calls and nothing is shared between threads.

Forward (:func:`apply_dag`): operands before the composites that use them;
a value is released as soon as its last user has consumed it.  Adjoint
(:func:`apply_adjoint_dag`): cotangents flow from the root to the operands
in reverse topological order and are summed per operand before it is
applied, as reverse-mode differentiation does.
"""

from __future__ import annotations

import numpy as np

from ._dag import fold, post_order, reference_counts

__all__ = ["apply_dag", "apply_adjoint_dag", "forward_workspace", "adjoint_workspace"]


def _operands(op):
    return op._shared_operands() if op.is_composite else ()


def _sum_into(total, part, owned):
    """``total + part``, in place when `total` is ours and wide enough."""
    if owned and np.result_type(total.dtype, part.dtype) == total.dtype:
        total += part
        return total
    return total + part


def apply_dag(root, X):
    """``root @ X`` for a composite `root`, each shared operand applied once.

    Parameters
    ----------
    root : StructuredOperator
        A composite operator (``root.is_composite``).
    X : ndarray, 2-D
        Already validated and cast by the public ``matmat``.

    Returns
    -------
    ndarray
        A new array: no value of the walk aliases `X` or another result.
    """
    return fold(
        root,
        _operands,
        leaf=lambda op: op._matmat(X),
        combine=lambda op, values, last_use: op._combine(values),
    )


def apply_adjoint_dag(root, Y):
    """``rootᵀ @ Y`` for a composite `root`, in time linear in the DAG.

    Transposing the DAG term by term would apply a shared operand once per
    path to it.  Here a cotangent is accumulated per operand from all its
    users first, and the operand's transpose is applied once.
    """
    order = post_order(root, _operands)
    pending = {id(root): (Y, False)}  # id → (cotangent, owned by this sweep)
    result, result_owned = None, False
    for op in reversed(order):  # every user before the operands it shares
        cotangent, _ = pending.pop(id(op))
        if op.is_composite:
            for operand, part in zip(op._shared_operands(), op._distribute(cotangent)):
                previous = pending.get(id(operand))
                if previous is None:
                    pending[id(operand)] = (part, False)  # may be shared by several operands
                else:
                    pending[id(operand)] = (_sum_into(previous[0], part, previous[1]), True)
        else:
            contribution = op.T._matmat(cotangent)
            if result is None:
                result, result_owned = contribution, contribution is not Y
            else:
                result, result_owned = _sum_into(result, contribution, result_owned), True
    if not result_owned:  # a leaf returned the input itself: never hand it back
        result = result.copy()
    return result


# ---------------------------------------------------------------------------
# workspace bounds, in array entries per right-hand-side column
# ---------------------------------------------------------------------------


def forward_workspace(root):
    """Entries per column alive at the peak of :func:`apply_dag` (input excluded).

    The walk is replayed symbolically: values are counted from creation to
    release, and each step adds its own transient workspace (an operand's
    ``_column_workspace``, a composite's ``_combine_workspace``), both of
    which include the step's output.
    """
    order = post_order(root, _operands)
    remaining = reference_counts(order, _operands)
    live = peak = 0
    for op in order:
        step = op._combine_workspace() if op.is_composite else op._column_workspace()
        peak = max(peak, live + step)
        live += op.shape[0]
        for operand in _operands(op):
            remaining[id(operand)] -= 1
            if remaining[id(operand)] == 0:
                live -= operand.shape[0]
    return peak


def adjoint_workspace(root):
    """Entries per column alive at the peak of :func:`apply_adjoint_dag` (input excluded).

    Each pending cotangent is counted at its full size from the moment a user
    hands it on until it is consumed (sharing among operands only makes the
    truth smaller), the running result once it exists, and each step's
    transient workspace: a composite's ``_distribute_workspace`` plus one sum
    of two arrivals, a leaf's transpose's ``_column_workspace`` plus one sum
    into the result.
    """
    order = post_order(root, _operands)
    n = root.shape[1]
    counted = set()
    live = peak = 0
    result_counted = False
    for op in reversed(order):
        if op.is_composite:
            operands = op._shared_operands()
            step = op._distribute_workspace() + max(operand.shape[0] for operand in operands)
            peak = max(peak, live + step)
            for operand in operands:
                if id(operand) not in counted:
                    counted.add(id(operand))
                    live += operand.shape[0]
        else:
            peak = max(peak, live + op.T._column_workspace() + n)
            if not result_counted:
                live, result_counted = live + n, True
        if id(op) in counted:
            live -= op.shape[0]  # its cotangent is consumed
    return peak
