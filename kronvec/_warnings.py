"""Warnings that point at the user's line, once per call site.

Python shows a warning once per (message, category, module, line) under its
default filter.  kronvec's warnings therefore keep their text stable — the
measured quantity (a condition number, a gap) travels as an attribute of the
warning object, not in its message — and are attributed to the first frame
outside kronvec, NumPy and SciPy: the user's line that called the
differentiated function or the NumPy operation, never kronvec's own code.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["warn_at_user_line", "user_stacklevel"]

# Frames of these packages are never "the user's line".
_LIBRARY_PREFIXES = ("kronvec.", "numpy.", "scipy.", "functools", "contextlib")
_LIBRARY_NAMES = frozenset({"kronvec", "numpy", "scipy"})


def _is_library(frame):
    name = frame.f_globals.get("__name__", "")
    return name in _LIBRARY_NAMES or name.startswith(_LIBRARY_PREFIXES)


def user_stacklevel():
    """The ``stacklevel`` that makes ``warnings.warn``, called by the function that
    calls this one, name the innermost frame outside the libraries."""
    # stacklevel 1 is the frame calling warnings.warn, 2 its caller, …
    frame, level = sys._getframe(2), 2
    while frame is not None and _is_library(frame):
        frame, level = frame.f_back, level + 1
    return level


def warn_at_user_line(message, category, **details):
    """Emit ``category(message)`` at the user's line; `details` become attributes of the
    warning object (e.g. ``condition=1.3e17``), so the message stays the same from call to
    call and Python's filters show it once per call site."""
    warning = category(message)
    for name, value in details.items():
        setattr(warning, name, value)
    warnings.warn(warning, stacklevel=user_stacklevel())
