"""Run-time settings: memory limits for materialization, the NumPy/numba cut-over,
the finiteness check and the ill-conditioning warning.

``kronvec.config`` is the single instance.  Two ways to change a setting:

* assignment, ``kronvec.config.dense_limit_bytes = 2**34``, sets the
  process-wide default, seen by every thread (do it once, at start-up);
* :meth:`Config.override` changes settings for a block of code, in the
  current thread (more precisely, the current :mod:`contextvars` context)
  only, and restores them on exit::

      with kronvec.config.override(dense_limit_bytes=2**34):
          J.toarray()

  Two threads overriding the same setting at once do not see each other's
  values, and neither leaks into the default when it leaves its block.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import types

import numpy as np

__all__ = ["Config", "config", "settings", "check_materialization", "IllConditionedWarning", "format_bytes"]

_GiB = 2**30


try:  # subclass SciPy's warning so existing `LinAlgWarning` filters catch ours too
    from scipy.linalg import LinAlgWarning as _LinAlgWarning
except ImportError:  # pragma: no cover - very old SciPy
    _LinAlgWarning = RuntimeWarning


class IllConditionedWarning(_LinAlgWarning):
    """A derivative was computed at an ill-conditioned matrix (see ``config.condition_warning``)."""


@dataclasses.dataclass
class _Settings:
    dense_limit_bytes: int = 4 * _GiB
    sparse_limit_bytes: int = 4 * _GiB
    numba_min_entries: int = 1 << 18
    condition_warning: float | str | None = "auto"
    check_finite: bool = True
    object_entries_limit: int = 1 << 12


_FIELDS = tuple(field.name for field in dataclasses.fields(_Settings))

# The settings in effect in this context, as attributes of one namespace: the
# process-wide defaults, or, inside config.override(...), a copy of them with
# the overrides applied (set in this context only, so other threads never see
# it).  Hot paths read ``settings().check_finite``: a context-variable lookup
# and an attribute, without a Python call.
_DEFAULTS = types.SimpleNamespace(**dataclasses.asdict(_Settings()))
_effective: contextvars.ContextVar[types.SimpleNamespace] = contextvars.ContextVar(
    "kronvec_config", default=_DEFAULTS
)
settings = _effective.get


class Config:
    """Settings read by the materializers, the rules and the transformations.

    Attributes
    ----------
    dense_limit_bytes : int
        ``toarray()`` refuses, before allocating, a result whose peak memory
        (the result and the workspace needed to build it) would exceed this
        (default 4 GiB, a safe share of a 24 GiB machine).
    sparse_limit_bytes : int
        ``tosparse()`` refuses results whose CSR arrays, with the workspace
        needed to build them, would exceed this (default 4 GiB).
    numba_min_entries : int
        Results with fewer entries (dense) or nonzeros (sparse) are built by
        plain NumPy, so small problems never pay numba's start-up cost
        (about 0.4 s per process even from a warm cache).
    condition_warning : "auto", float or None
        ``inv``/``logdet``/``solve`` derivatives warn (:class:`IllConditionedWarning`)
        when the 1-norm condition number of the matrix exceeds this.  The
        default ``"auto"`` is ``1e-2/eps`` of the matrix's dtype (≈ 4.5e13 for
        float64, ≈ 8.4e4 for float32): derivatives there have lost all but
        about two digits.  A number applies to every dtype; ``None`` switches
        the warning off.
    check_finite : bool
        Rules and differentiation entry points reject NaN/inf input, and
        constants met inside a differentiated function, with a ``ValueError``
        (SciPy's ``check_finite`` behaviour).  Switch off to save one pass
        over the data.
    object_entries_limit : int
        ``np.array``/``np.asarray`` of a traced array larger than this raises
        ``TypeError`` (default 4096 entries): each entry becomes a recorded
        scalar and NumPy's object loops then compute entry by entry
        (``notes/derivatives.md`` §29), microseconds per entry and per
        product term; ``np.stack``/``np.concatenate`` join whole arrays in one
        recorded operation.
    """

    __slots__ = ()

    def __getattr__(self, name):  # only reached for names that are not settings
        raise AttributeError(f"kronvec.config has no setting {name!r}; the settings are {list(_FIELDS)}")

    def __setattr__(self, name, value):
        if name not in _FIELDS:
            raise AttributeError(f"kronvec.config has no setting {name!r}; the settings are {list(_FIELDS)}")
        object.__setattr__(self, name, value)

    def __repr__(self):
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"kronvec.config({settings})"

    def snapshot(self):
        """The settings in effect here, as a dict (for tests and diagnostics)."""
        return {name: getattr(self, name) for name in _FIELDS}

    @contextlib.contextmanager
    def override(self, **settings):
        """Change settings for a block of code in this thread/context only.

        Restored on exit, even after an error; other threads never see the
        overridden values.
        """
        unknown = set(settings) - set(_FIELDS)
        if unknown:
            raise TypeError(f"unknown kronvec.config setting(s): {sorted(unknown)}")
        block = types.SimpleNamespace(**vars(_effective.get()))
        for name, value in settings.items():
            setattr(block, name, _validated(name, value))
        token = _effective.set(block)
        try:
            yield self
        finally:
            _effective.reset(token)


def _validated(name, value):
    if name == "condition_warning":
        if value is None or value == "auto":
            return value
        if isinstance(value, str) or not np.isscalar(value) or not value > 0:
            raise ValueError(f"kronvec.config.condition_warning must be 'auto', a positive number or None, got {value!r}")
        return float(value)
    if name == "check_finite":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"kronvec.config.check_finite must be True or False, got {value!r}")
        return bool(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"kronvec.config.{name} must be a non-negative int, got {value!r}")
    return int(value)


class _Setting:
    """One setting of :class:`Config`: read from the namespace in effect here.

    Assignment sets the process-wide default; inside an override block it also
    changes that block's value (a block works on a copy of the defaults made
    when it began, so a default changed by another thread meanwhile shows
    there only after the block ends).
    """

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return getattr(_effective.get(), self.name)

    def __set__(self, instance, value):
        value = _validated(self.name, value)
        setattr(_DEFAULTS, self.name, value)
        current = _effective.get()
        if current is not _DEFAULTS:
            setattr(current, self.name, value)


for _name in _FIELDS:
    setattr(Config, _name, _Setting(_name))

config = Config()


_AUTO_THRESHOLDS = {np.dtype(t).char: 1e-2 / float(np.finfo(t).eps) for t in (np.float16, np.float32, np.float64)}


def condition_threshold(dtype):
    """The condition number above which derivatives at a matrix of `dtype` warn (None: never)."""
    setting = _effective.get().condition_warning
    if setting == "auto":
        threshold = _AUTO_THRESHOLDS.get(dtype.char)
        return threshold if threshold is not None else 1e-2 / float(np.finfo(dtype).eps)
    return setting


def format_bytes(nbytes):
    """``1536`` → ``'1.5 KiB'``: sizes in messages."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024


_format_bytes = format_bytes


def check_materialization(kind, nbytes, what, alternative, workspace=0):
    """Refuse, before allocating, a materialization whose peak exceeds the limit.

    Parameters
    ----------
    kind : {"dense", "sparse"}
    nbytes : int
        Bytes of the result: exact (dense) or an upper bound (sparse).
    what : str or callable
        The operator being materialized, for the message (a callable is only
        called when refusing, so building a long formula costs nothing otherwise).
    alternative : str
        What to do instead (``matvec``, ``tosparse()``...).
    workspace : int, optional
        Bytes needed on top of the result while building it (temporaries,
        intermediate results).  The limit bounds ``nbytes + workspace``, the
        peak.

    Raises
    ------
    MemoryError
        Naming the peak bytes (result and workspace), the limit, and the
        alternative.
    """
    current = _effective.get()
    limit = current.dense_limit_bytes if kind == "dense" else current.sparse_limit_bytes
    peak = nbytes + workspace
    if peak > limit:
        what = what() if callable(what) else what  # formulas are built only to refuse
        parts = (
            f" (result {nbytes:,} bytes + workspace {workspace:,} bytes)" if workspace else ""
        )
        raise MemoryError(
            f"{kind} result of {what} would need {peak:,} bytes "
            f"({format_bytes(peak)}){parts}, above kronvec.config.{kind}_limit_bytes = "
            f"{limit:,} ({format_bytes(limit)}); {alternative}, or raise the limit "
            f"with kronvec.config.override({kind}_limit_bytes=...)"
        )
