"""The traced value that plain NumPy code runs on.

A :class:`Traced` wraps an array and records every NumPy operation applied
to it (through NumPy's own protocols: ``__array_ufunc__``, NEP 13, and
``__array_function__``, NEP 18), so users differentiate their functions
unchanged.  Each transformation (``grad``, ``jacobian``, ...) opens a
:class:`Trace`; traces nest (a Hessian is the Jacobian of a gradient), and
a value traced by an outer trace may itself be the value inside an inner
one — the design of HIPS autograd's boxes.

What happens to the recorded graph is the business of :mod:`kronvec.api`:
reverse accumulation of cotangents (traceable, so it can be differentiated
again) or forward composition of structured Jacobians.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

__all__ = ["Trace", "Traced", "Primitive", "bind"]

_trace_levels = itertools.count(1)


class Trace:
    """One recording session; a higher ``level`` is nested inside a lower one."""

    __slots__ = ("level", "active", "nodes")

    def __init__(self):
        self.level = next(_trace_levels)
        self.active = True
        self.nodes = []


class Primitive:
    """A differentiable operation known to kronvec.

    Parameters
    ----------
    name : str
        The NumPy name users know (``"linalg.inv"``), used in messages.
    impl : callable
        Pure NumPy on plain arrays; never sees a :class:`Traced`.
    vjps : dict position -> callable
        ``vjp(g, ans, *args, **kwargs)`` returns the cotangent of argument
        `position`.  Written with NumPy operations only, so that it can be
        traced again (this is what makes Hessians work).
    jacobians : dict position -> callable
        ``jacobian(ans, *args, names=..., **kwargs)`` returns the structured
        Jacobian (numerator layout) of the output w.r.t. that argument, from
        plain arrays; ``names`` are the arguments' labels for formulas.
    label : callable, optional
        ``label(*arg_labels, **kwargs)`` → the formula of the output.
    """

    __slots__ = ("name", "impl", "vjps", "jacobians", "label")

    def __init__(self, name, impl, vjps, jacobians, label=None):
        self.name = name
        self.impl = impl
        self.vjps = vjps
        self.jacobians = jacobians
        self.label = label or (lambda *names, **kw: f"{name}({', '.join(names)})")

    def __repr__(self):
        return f"<kronvec primitive {self.name}>"


def bind(primitive, *args, **kwargs):
    """Apply `primitive`, recording it on the innermost trace among `args`."""
    # This runs once per NumPy operation in a differentiated function: the
    # common case (one or two arguments, the traced ones of a single active
    # trace and holding plain values) is recorded here without the general
    # loops or another call.
    trace = None
    if len(args) == 2:
        first, second = args
        if type(first) is Traced:
            if type(second) is not Traced:
                trace, values, parents = first._trace, (first._value, second), ((0, first),)
            elif first._trace is second._trace and type(second._value) is not Traced:
                trace, values, parents = first._trace, (first._value, second._value), ((0, first), (1, second))
        elif type(second) is Traced:
            trace, values, parents = second._trace, (first, second._value), ((1, second),)
    elif len(args) == 1:
        first = args[0]
        if type(first) is Traced:
            trace, values, parents = first._trace, (first._value,), ((0, first),)
    if trace is None or not trace.active or type(values[parents[0][0]]) is Traced:
        return _bind_general(primitive, args, kwargs)
    value = primitive.impl(*values, **kwargs) if kwargs else primitive.impl(*values)
    return _record(trace, primitive, values, kwargs, parents, value)


def _record(trace, primitive, values, kwargs, parents, value):
    """Append the node ``value = primitive(*values, **kwargs)`` to `trace` (an input
    of the trace when `primitive` is None) and return it.

    The only constructor of :class:`Traced`: slots are filled here rather than
    by an ``__init__``, whose call from C costs ~1 µs per operation in small problems.
    """
    if type(value) is np.ndarray:
        value.flags.writeable = False  # recorded values are frozen: nothing may change them
    nodes = trace.nodes
    node = _new_object(Traced)
    node._value = value
    node._trace = trace
    node._primitive = primitive
    node._args = values
    node._kwargs = kwargs
    node._parents = parents
    node._index = len(nodes)
    nodes.append(node)
    return node


_new_object = object.__new__


def _bind_general(primitive, args, kwargs):
    top = None
    for arg in args:
        if type(arg) is Traced:
            trace = arg._trace
            if trace.active and (top is None or trace.level > top.level):
                top = trace
    if top is None:
        plain = [a._value_if_stale() if type(a) is Traced else a for a in args]
        return primitive.impl(*plain, **kwargs)
    values = list(args)
    parents = []
    nested = False
    for position, arg in enumerate(args):
        if type(arg) is Traced:
            if arg._trace is top:
                value = values[position] = arg._value
                parents.append((position, arg))
                if type(value) is Traced:
                    nested = True
            else:
                nested = True
    # A lower trace involved: the value is itself recorded there first.
    value = bind(primitive, *values, **kwargs) if nested else primitive.impl(*values, **kwargs)
    return _record(top, primitive, tuple(values), kwargs, tuple(parents), value)


# --------------------------------------------------------------------------
_NOT_DIFFERENTIABLE_MESSAGE = (
    "kronvec: {what} would turn a traced value into a plain number and drop its "
    "derivative. Keep the computation in NumPy operations on the array (see "
    "kronvec.SUPPORTED_FUNCTIONS), or move it outside the differentiated function."
)


class Traced(np.lib.mixins.NDArrayOperatorsMixin):
    """An array whose NumPy operations are recorded for differentiation.

    Behaves like the ndarray it wraps for the supported operations
    (``kronvec.SUPPORTED_FUNCTIONS``); comparisons return plain boolean
    arrays of the values, so piecewise code runs.

    A traced value is also its own node in the recorded graph:
    ``_value = _primitive(*_args, **_kwargs)``, the ``_index``-th entry of
    ``_trace.nodes``.  ``_parents`` lists ``(position, parent)`` for the
    arguments traced by the same trace (``_args`` holds their values); every
    other argument is a constant for this trace.  An input of the trace has
    no primitive.  Nodes are made by :func:`_record` only.  Nothing here is
    modified after recording, except the formula ``_label``, which is unset
    until first asked for (read it with ``getattr(node, "_label", None)``).
    """

    __slots__ = ("_value", "_trace", "_primitive", "_args", "_kwargs", "_parents", "_index", "_label")
    __array_priority__ = 1000.0

    def _value_if_stale(self):
        value = self._value
        while isinstance(value, Traced) and not value._trace.active:
            value = value._value
        return value

    # --- array attributes (static information, never differentiated) ---
    @property
    def shape(self):
        return np.shape(self._value)

    @property
    def ndim(self):
        return np.ndim(self._value)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def dtype(self):
        return plain_value(self).dtype

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        return f"Traced({plain_value(self)!r})"

    # --- the NumPy protocols ---
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _primitives.dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        handler = _primitives.FUNCTION_HANDLERS.get(func)
        if handler is None:
            raise _primitives.unsupported_function(func)
        return handler(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_NOT_DIFFERENTIABLE_MESSAGE.format(what="np.asarray(traced value)"))

    def __float__(self):
        raise TypeError(_NOT_DIFFERENTIABLE_MESSAGE.format(what="float(traced value)"))

    def __int__(self):
        raise TypeError(_NOT_DIFFERENTIABLE_MESSAGE.format(what="int(traced value)"))

    def __bool__(self):
        return bool(plain_value(self))

    def __hash__(self):
        return id(self)

    # --- arithmetic: straight to the primitives (the mixin's ufunc round trip
    # costs microseconds per operation, which small problems feel) ---
    def __add__(self, other):
        return bind(_primitives.add, self, other)

    def __radd__(self, other):
        return bind(_primitives.add, other, self)

    def __sub__(self, other):
        return bind(_primitives.subtract, self, other)

    def __rsub__(self, other):
        return bind(_primitives.subtract, other, self)

    def __mul__(self, other):
        return bind(_primitives.multiply, self, other)

    def __rmul__(self, other):
        return bind(_primitives.multiply, other, self)

    def __truediv__(self, other):
        return bind(_primitives.divide, self, other)

    def __rtruediv__(self, other):
        return bind(_primitives.divide, other, self)

    def __matmul__(self, other):
        return bind(_primitives.matmul, self, other)

    def __rmatmul__(self, other):
        return bind(_primitives.matmul, other, self)

    def __neg__(self):
        return bind(_primitives.negative, self)

    # --- ndarray methods, all routed through the NumPy functions ---
    @property
    def T(self):
        return np.transpose(self)

    def transpose(self, *axes):
        return np.transpose(self, axes if axes else None) if len(axes) != 1 else np.transpose(self, axes[0])

    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 else shape
        return np.reshape(self, shape, order=order)

    def ravel(self, order="C"):
        return np.reshape(self, (-1,), order=order)

    def flatten(self, order="C"):
        return np.reshape(self, (-1,), order=order)

    def sum(self, axis=None, keepdims=False):
        return np.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return np.mean(self, axis=axis, keepdims=keepdims)

    def dot(self, other):
        return np.dot(self, other)

    def trace(self):
        return np.trace(self)

    def __getitem__(self, key):
        return _primitives.getitem(self, key)


# kronvec.primitives (which imports this module) puts itself here when it is
# imported, as ``import kronvec`` does; the dunders above dispatch through it
# without an import statement on every operation.
_primitives = None


def plain_value(x):
    """The plain ndarray under any number of traced layers."""
    while isinstance(x, Traced):
        x = x._value
    return np.asarray(x)
