"""Run-time settings: memory limits for materialization, the NumPy/numba cut-over.

``kronvec.config`` is the single instance.  Change a limit for a block of code
with :meth:`Config.override`::

    with kronvec.config.override(dense_limit_bytes=2**34):
        J.toarray()
"""

from __future__ import annotations

import contextlib
import dataclasses

__all__ = ["Config", "config", "check_materialization", "IllConditionedWarning"]

_GiB = 2**30


try:  # subclass SciPy's warning so existing `LinAlgWarning` filters catch ours too
    from scipy.linalg import LinAlgWarning as _LinAlgWarning
except ImportError:  # pragma: no cover - very old SciPy
    _LinAlgWarning = RuntimeWarning


class IllConditionedWarning(_LinAlgWarning):
    """A derivative was computed at an ill-conditioned matrix (see ``config.condition_warning``)."""


@dataclasses.dataclass
class Config:
    """Settings read by every materializer.

    Attributes
    ----------
    dense_limit_bytes : int
        ``toarray()`` refuses results larger than this (default 4 GiB, a safe
        share of a 24 GiB machine).
    sparse_limit_bytes : int
        ``tosparse()`` refuses results whose CSR arrays would exceed this
        (default 4 GiB).
    numba_min_entries : int
        Results with fewer entries (dense) or nonzeros (sparse) are built by
        plain NumPy, so small problems never pay numba's start-up cost
        (about 0.4 s per process even from a warm cache).
    condition_warning : float or None
        ``inv``/``logdet``/``solve`` derivatives warn (:class:`IllConditionedWarning`)
        when the 1-norm condition number of the matrix exceeds this
        (default 1e-2/eps ≈ 4.5e13: derivatives there have lost about all but
        two digits).  ``None`` switches the warning off.
    check_finite : bool
        Rules and differentiation entry points reject NaN/inf input with a
        ``ValueError`` (SciPy's ``check_finite`` behaviour).  Switch off to
        save one pass over the data.
    """

    dense_limit_bytes: int = 4 * _GiB
    sparse_limit_bytes: int = 4 * _GiB
    numba_min_entries: int = 1 << 18
    condition_warning: float | None = 1e-2 / 2.220446049250313e-16
    check_finite: bool = True

    @contextlib.contextmanager
    def override(self, **settings):
        """Temporarily change settings; restored on exit even after an error."""
        unknown = set(settings) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown kronvec.config setting(s): {sorted(unknown)}")
        saved = {name: getattr(self, name) for name in settings}
        try:
            for name, value in settings.items():
                setattr(self, name, value)
            yield self
        finally:
            for name, value in saved.items():
                setattr(self, name, value)


config = Config()


def _format_bytes(nbytes):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


def check_materialization(kind, nbytes, what, alternative):
    """Refuse, before allocating, a result above the configured limit.

    Parameters
    ----------
    kind : {"dense", "sparse"}
    nbytes : int
        Exact (dense) or upper-bound (sparse) size of the result.
    what : str or callable
        The operator being materialized, for the message (a callable is only
        called when refusing, so building a long formula costs nothing otherwise).
    alternative : str
        What to do instead (``matvec``, ``tosparse()``...).

    Raises
    ------
    MemoryError
        Naming the bytes, the limit, and the alternative.
    """
    limit = config.dense_limit_bytes if kind == "dense" else config.sparse_limit_bytes
    if nbytes > limit:
        what = what() if callable(what) else what  # formulas are built only to refuse
        raise MemoryError(
            f"{kind} result of {what} would need {nbytes:,} bytes "
            f"({_format_bytes(nbytes)}), above kronvec.config.{kind}_limit_bytes = "
            f"{limit:,} ({_format_bytes(limit)}); {alternative}, or raise the limit "
            f"with kronvec.config.override({kind}_limit_bytes=...)"
        )
