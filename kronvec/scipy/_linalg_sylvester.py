"""kronvec.scipy.linalg: sylvester (see kronvec/scipy/linalg.py)."""

from __future__ import annotations

__all__: list[str] = []
