"""Per-call state: what one differentiation call shares with itself, and no one else.

One call (``value_and_grad(f)(X)``, ``jacobian(f)(X)``, ...) opens a
:class:`CallScope`.  Inside it a matrix is factored once (``factorization.py``
keeps the factorizations here) and cotangents known to be ``c·I`` are marked
(so the product below a trace pulls back ``c·Bᵀ`` instead of multiplying by
an identity).  The scope lives in a context variable: two threads, or two
asyncio tasks, never see each other's scope, and a scope opened inside
another (a Hessian's inner gradient) has its own.
"""

from __future__ import annotations

import contextvars

__all__ = ["CallScope", "call_scope", "open_scope", "close_scope", "current_scope"]


class CallScope:
    """The state of one differentiation call.

    Attributes
    ----------
    factorizations : dict
        ``id(X) → (X, Factorization)``, and for other per-call results
        ``(what, id(X), …) → (X or (X, …), result)``.  Keyed by identity: each
        entry holds the array(s) itself, so an id cannot be reused while the
        scope lives; and every X that reaches it belongs to the call (inputs and
        constants are captured by copy, values are the recording's own), so
        nothing changes it.  The scope dies with the call: nothing outlives it.
    scaled_identities : list of (ndarray, float)
        Read-only ``c·I`` cotangents made in this call, with their c.
    """

    __slots__ = ("factorizations", "scaled_identities")

    def __init__(self):
        self.factorizations = {}
        self.scaled_identities = []


# (Hot paths read ``_current.get()`` directly: a function around it costs a call.)
_current: contextvars.ContextVar[CallScope | None] = contextvars.ContextVar("kronvec_call_scope", default=None)


def current_scope():
    """The scope of the call running in this context, or None."""
    return _current.get()


def open_scope():
    """Begin a scope by hand and return its token for :func:`close_scope`; the
    gradient's hot path pairs the two in ``try``/``finally``, which spares it
    the context manager's two calls from C back into Python."""
    return _current.set(CallScope())


def close_scope(token):
    _current.reset(token)


class call_scope:
    """Context manager for one differentiation call's scope."""

    __slots__ = ("_token",)

    def __enter__(self):
        self._token = open_scope()
        return _current.get()

    def __exit__(self, *exc):
        close_scope(self._token)
        return False
