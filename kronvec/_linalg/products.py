"""Matrix products on the hot paths.

``matmul(a, b)`` for two plain 2-D float arrays: ``ndarray.dot``, the same
BLAS product as ``@`` without the matmul ufunc's overhead on small matrices.
"""

from __future__ import annotations

import numpy as np

__all__ = ["matmul"]


def matmul(a, b):
    """``a @ b`` for plain 2-D arrays (anything else goes through ``@``)."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2:
        return a.dot(b)
    return a @ b
