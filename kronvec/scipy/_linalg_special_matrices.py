"""kronvec.scipy.linalg: special matrices built from entries (see kronvec/scipy/linalg.py).

``block_diag``, ``toeplitz``, ``circulant`` and ``hankel`` with SciPy's names,
signatures and values, differentiable in every argument.  Each output entry is
an entry of an argument or a structural zero, so each function is one gather
(``kronvec.ops.indexing.gather``) from the arguments' entries laid end to end
behind a single 0, and its Jacobian is a 0/1 selection (a zero row for a
structural zero) — never dense.

Which entry lands where is SciPy's own function run on *labels*: each argument
replaced by the array of its entries' positions in that line-up (1, 2, …; 0 is
the zero).  So every shape rule — ``toeplitz``'s ignored ``r[0]`` and its batches
of N-d input, ``block_diag``'s 1-D blocks as rows and empty blocks — is SciPy's
and not re-derived here; the values are the arguments' entries, bit for bit.
Derivation: ``notes/derivatives.md`` §19 (entries moved by an index map).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from ..ops._support import positions, shape_of
from ..ops.indexing import gather
from ._support import as_array, static_value

__all__ = ["block_diag", "toeplitz", "circulant", "hankel"]


def _placed(function, arguments):
    """``function(*arguments)`` for a SciPy function that only places its arguments'
    entries: SciPy's placement of the labels, then one gather of the entries."""
    arrays = [as_array(a) for a in arguments]
    dtype = np.result_type(*[static_value(a).dtype for a in arrays]) if arrays else np.float64
    labels, start = [], 1
    for a in arrays:
        shape = tuple(shape_of(a))
        labels.append(positions(shape) + start if shape else np.array(start))
        start += math.prod(shape)
    origins = np.asarray(function(*labels)).astype(np.intp)  # (block_diag() of nothing is float)
    entries = np.concatenate([np.zeros(1, dtype)] + [np.ravel(a, order="F") for a in arrays])  # (vec order)
    return gather(entries, origins)


def block_diag(*arrs):
    """The block-diagonal matrix of `arrs`, as ``scipy.linalg.block_diag``.

    >>> import numpy as np
    >>> import kronvec
    >>> from kronvec.scipy.linalg import block_diag
    >>> kronvec.grad(lambda x: np.sum(block_diag(x, 2.0 * x) ** 2))(np.array([[1.0, 2.0]]))
    array([[10., 20.]])
    """
    return _placed(scipy.linalg.block_diag, arrs)


def toeplitz(c, r=None):
    """The Toeplitz matrix with first column c and first row r (r[0] ignored; r = c when
    omitted), as ``scipy.linalg.toeplitz``: a gather of c's and r's entries."""
    if r is None:
        return _placed(scipy.linalg.toeplitz, (c,))
    return _placed(scipy.linalg.toeplitz, (c, r))


def circulant(c):
    """The circulant matrix with first column c, as ``scipy.linalg.circulant``."""
    return _placed(scipy.linalg.circulant, (c,))


def hankel(c, r=None):
    """The Hankel matrix with first column c and last row r (r[0] ignored; zeros below
    the anti-diagonal when r is omitted), as ``scipy.linalg.hankel``."""
    if r is None:
        return _placed(scipy.linalg.hankel, (c,))
    return _placed(scipy.linalg.hankel, (c, r))
