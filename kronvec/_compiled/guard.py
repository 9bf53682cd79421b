"""What a recording made for replay may not do: decide on a traced value outside
a recorded operation.

A compiled program replays the operations a first call recorded, on new values
(:mod:`kronvec._compiled.program`).  That is sound when every number the
program computes comes from a recorded operation: a Python ``if`` on a traced
value, a mask or an index computed from one, the sign NumPy returns beside a
log-determinant — all read the value outside the recording, and a replay would
silently reuse the first call's decision.  JAX has the same rule
("ConcretizationTypeError"); kronvec enforces it with one choke point:
every read of a recorded value outside an operation goes through
:func:`kronvec._tracer.plain_value`, which tells the recording's
:class:`CompileGuard`.  A read inside a NumPy function kronvec dispatches is
allowed only for the functions whose reads are repeated by the replay
(:data:`REPLAYED_READS`); any other read refuses the compilation with a
``TypeError`` naming the function and the way out.
"""

from __future__ import annotations

__all__ = ["CompileGuard", "REPLAYED_READS"]

#: NumPy functions (as kronvec names them) whose handlers read a traced value
#: only for what the replay recomputes: each read happens again inside the
#: recorded operation's impl or VJP, or reads a static fact.  Audited one by
#: one (tests/test_compile.py checks each against the uncompiled path on new values).
REPLAYED_READS = frozenset()


class CompileGuard:
    """One recording's guard (never shared: a recording belongs to one call).

    Parameters
    ----------
    transformation : str
        What the user called, for the error (``"value_and_grad"``).
    """

    __slots__ = ("transformation", "function", "reads")

    def __init__(self, transformation):
        self.transformation = transformation
        self.function = None  # the outermost NumPy function being dispatched
        self.reads = 0

    def run(self, name, handler, args, kwargs):
        """Run a dispatched NumPy function's handler, refusing it if it read a value."""
        if self.function is not None:  # kronvec's own call inside a handler: the outer one answers
            return handler(*args, **kwargs)
        self.function, self.reads = name, 0
        try:
            result = handler(*args, **kwargs)
            reads = self.reads
        finally:
            self.function = None
        if reads and name not in REPLAYED_READS:
            raise self.refusal(f"{name} reads the values of a traced array to decide what it returns "
                               "(a mask, an index, a sign, a branch)")
        return result

    def value_read(self, node):
        """Told by plain_value: a recorded value was read outside an operation."""
        if self.function is None:
            rule = _rule_being_pulled_back()
            if rule is not None:  # kronvec's own second-order rule read it, not the user's code
                raise self.refusal(f"the second-order rule of {rule} decides on the values of a traced array "
                                   "(an index computed from them)", rewrite=False)
            raise self.refusal("Python code read the value of a traced array (bool(), int(), an `if` "
                               "or a comparison used as a decision)")
        self.reads += 1

    def refusal(self, what, rewrite=True):
        # (np.where/np.select with a comparison as the condition record the decision: notes/compile.md §3;
        # this said np.where "is not", steering users away from the usual rewrite of x[x > 0] = v)
        way_out = (", or write the step with operations that record the decision, so that each replay takes "
                   "it again: np.where(x > 0, a, b) and np.select with comparisons as conditions, np.maximum, "
                   "np.minimum, np.abs, np.clip and np.sort") if rewrite else ""
        return TypeError(
            f"kronvec.{self.transformation}(compile=True) cannot compile this function: {what}, and a "
            "compiled program replays the first call's operations on new values, so it would reuse that "
            f"first decision. Call kronvec.{self.transformation} without compile=True (it records every "
            f"call){way_out}."
        )


def _rule_being_pulled_back():
    """The operation whose VJP is running in a reverse sweep on this thread's stack (a
    gradient recorded inside a compiled hvp), or None — read from the sweep's frame, on
    the refusal's path only."""
    import sys

    from .. import _tracer

    sweeps = (_tracer.reverse_sweep.__code__, _tracer._plain_sweep.__code__)
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code in sweeps:
            node = frame.f_locals.get("node")
            op = getattr(node, "_op", None)
            return getattr(op, "name", None)
        frame = frame.f_back
    return None
