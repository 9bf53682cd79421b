"""The programs one compiled function holds: bounded, least recently used first out.

One cache per compiled function (never module-global).  Programs are
immutable once built and every replay keeps its values in its own frame, so
threads share programs freely; the lock guards only the dictionary.  Two
threads compiling the same signature at once both build it, and one copy is
kept — each returns its own, equally right, result.
"""

from __future__ import annotations

import collections
import threading

__all__ = ["ProgramCache"]


class ProgramCache:
    """Compiled programs by call signature, at most `maxsize` of them.

    Parameters
    ----------
    maxsize : int
        How many signatures are kept; the least recently used goes first.
    """

    def __init__(self, maxsize):
        if maxsize < 1:
            raise ValueError(f"a program cache holds at least one program, got maxsize={maxsize}")
        self.maxsize = maxsize
        self._programs = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, signature):
        """The program compiled for `signature`, or None."""
        with self._lock:
            program = self._programs.get(signature)
            if program is not None:
                self._programs.move_to_end(signature)
            return program

    def put(self, signature, program):
        with self._lock:
            self._programs[signature] = program
            self._programs.move_to_end(signature)
            while len(self._programs) > self.maxsize:
                self._programs.popitem(last=False)

    def values(self):
        """The programs held, least recently used first (a snapshot)."""
        with self._lock:
            return list(self._programs.values())

    def __len__(self):
        with self._lock:
            return len(self._programs)

    def clear(self):
        with self._lock:
            self._programs.clear()
