"""An operator declared float32 when every number it holds is a float32 number.

The precision rule (``notes/conventions.md`` §4): a float32 argument's
derivatives are float32.  The exact 0/1 operators (identities, selections,
commutation matrices, the triangle maps) are float64 unless told otherwise,
and an operator's dtype is the promotion of its parts', so one of them in a
Jacobian of float32 values — ``(X + X.T)/2`` is ``0.5·(I + K)`` — made the
whole Jacobian float64.  :func:`in_float32` gives such an operator its float32
twin: the same structure, the same numbers (0/1 patterns are exact in any
float type; a diagonal or row is kept only when it is exact in float32).
Anything it does not know, or whose data would round, is returned unchanged.
"""

from __future__ import annotations

import copy

import numpy as np

from .basic import Diag, Identity, RowVector, Zero
from .composite import Product, Scaled, Sum
from .kron import Kron
from .selection import Commutation, Duplication, Elimination, Selection, SelectionTranspose
from .triangle import HalvedLowerMask, TriangleFold

__all__ = ["in_float32"]

_FLOAT32 = np.dtype(np.float32)

#: Leaves whose entries are 0, 1 or ½ (exact in float32) and whose arrays are integer
#: index maps: a copy declared float32 is the same operator in float32.
_EXACT_LEAVES = (Selection, Commutation, Duplication, Elimination, TriangleFold, HalvedLowerMask)


def in_float32(op):
    """`op` declared float32 where that changes no number; else `op` itself."""
    if op.dtype == _FLOAT32:
        return op
    kind = type(op)
    if kind is Identity:
        return Identity(op.n, _FLOAT32)
    if kind is Zero:
        return Zero(op.shape, _FLOAT32)
    if kind in _EXACT_LEAVES:
        return _declared_float32(op)
    if kind is SelectionTranspose:
        selection = in_float32(op.selection)
        return op if selection is op.selection else SelectionTranspose(selection)
    if kind is Diag or kind is RowVector:
        data = op.d if kind is Diag else op.v
        narrowed = data.astype(_FLOAT32)
        if not np.array_equal(narrowed, data):  # (rounding would change a derivative's digits)
            return op
        twin = _declared_float32(op)
        narrowed.flags.writeable = False
        if kind is Diag:
            twin.d = narrowed
        else:
            twin.v = narrowed
        return twin
    if kind is Scaled:
        inner = in_float32(op.operator)
        return Scaled(op.alpha, inner) if inner.dtype == _FLOAT32 else op
    if kind is Sum or kind is Product:
        parts = [in_float32(part) for part in (op.terms if kind is Sum else op.factors)]
        return kind(parts) if all(part.dtype == _FLOAT32 for part in parts) else op
    if kind is Kron:
        A, B = in_float32(op.A), in_float32(op.B)
        return Kron(A, B, op.scale) if A.dtype == B.dtype == _FLOAT32 else op
    return op


def _declared_float32(op):
    twin = copy.copy(op)
    twin.__dict__.pop("_cached_transpose", None)  # (the original's transpose is float64)
    twin.dtype = _FLOAT32
    return twin
