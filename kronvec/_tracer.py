"""The generic tracer: recordings of operations, and the reverse sweep over them.

A transformation (``grad``, ``jacobian``, ...) opens a :class:`Trace` and
runs the user's function on :class:`Node` values.  Every operation on a node
goes through :func:`bind`, which computes the value and appends a new node
``value = op(*args, **params)`` to the trace.  Traces nest (a Hessian is the
Jacobian of a gradient): a node's value may itself be a node of an outer
trace — the design of HIPS autograd's boxes — and the trace with the highest
``level`` records first.

This module knows nothing about NumPy's protocols: the array-facing node
class (``kronvec._traced_array.Traced``) subclasses :class:`Node`, and a
node created by :func:`bind` has the class of the node it was computed from.
An operation ``op`` is anything with ``impl`` (plain values in, value out),
``vjps`` (position → ``vjp(g, ans, *args, **params)``) and ``name``.

Nothing here is shared between calls: a trace belongs to one call, and
levels only increase (``itertools.count`` is atomic under the GIL).
"""

from __future__ import annotations

import itertools

import numpy as np

from ._config import settings
from ._constants import capture
from ._linalg.factorization import all_finite

# Hot paths test ``type(x) is _ndarray``, not ``np.ndarray``: NumPy's module defines a
# ``__getattr__``, which keeps CPython 3.11 from specializing ``np.<name>`` loads, so each
# is a full module attribute lookup, where a global of our own is one specialized load
# (a gradient of a small objective made some twenty-five such lookups).
_ndarray = np.ndarray
_FLOAT64 = np.dtype(np.float64)

__all__ = ["Trace", "Node", "bind", "reverse_sweep", "plain_value", "static_value", "new_input", "compile_guard",
           "holds_nodes", "set_object_lift"]

_levels = itertools.count(1)

# How an operand that holds traced values inside a container (the object array
# ``np.array([x, y])`` makes, a list ``[x, 1.0]``) becomes one recorded node.
# Set once, when kronvec.ops is imported (this module knows no operations);
# never changed afterwards, so no call sees another's state.
_object_lift = None


def set_object_lift(lift):
    """Install ``lift(container) -> node or plain array`` (kronvec.ops.joining.lift)."""
    global _object_lift
    _object_lift = lift


class _ObjectOperand(Exception):
    """An operand is a container holding traced values: lift it, then record the operation."""


def _is_object_array(value):
    return isinstance(value, _ndarray) and value.dtype.hasobject


def holds_nodes(value):
    """True when `value` — an object ndarray, a list or a tuple, at any depth — holds a node."""
    kind = type(value)
    if kind is list or kind is tuple:
        for item in value:  # (a loop, not any(generator): list constants pass here)
            item_kind = type(item)
            if item_kind is float or item_kind is int:
                continue
            if isinstance(item, Node) or holds_nodes(item):
                return True
        return False
    if isinstance(value, _ndarray) and value.dtype.hasobject:
        for item in value.flat:
            if isinstance(item, Node) or holds_nodes(item):
                return True
    return False


class Trace:
    """One recording; a higher ``level`` is nested inside a lower one.

    Attributes
    ----------
    nodes : list of Node
        In evaluation order: a node's parents come before it.
    named_constants : list of (object, str) or None
        Arrays the user named (closure variables, globals, arguments), looked
        up by identity when a constant is recorded, for formula labels; None
        when the recording needs no formulas.
    nested : bool
        True once an operation involved values traced by another (outer)
        trace: the recording's derivatives must then be traced too.
    memo : dict
        Per-recording facts keyed by node index (e.g. the recorded inverse
        of a node, reused by second derivatives).
    compiling : object or None
        For a recording that will be replayed (``kronvec._compiled``): told
        of every read of a recorded value outside a recorded operation
        (``compiling.value_read(node)``), which a replay could not repeat.
    """

    __slots__ = ("level", "active", "nodes", "named_constants", "nested", "memo", "compiling")

    def __init__(self, named_constants=None, compiling=None):
        self.level = next(_levels)
        self.active = True
        self.nodes = []
        self.named_constants = named_constants
        self.nested = False
        self.memo = None  # made on first use
        self.compiling = compiling


class Node:
    """A value recorded on a trace: ``_value = _op.impl(*_args, **_params)``.

    ``_parents`` lists ``(position, parent)`` for the arguments recorded on
    the same trace (``_args`` holds their values); every other argument is a
    constant of this trace, captured by value.  An input of the trace has no
    operation.  ``_labels`` holds the user's names of constant arguments
    (None when no formula is wanted).  Nodes are created by :func:`_record`
    only and never modified afterwards.
    """

    __slots__ = ("_value", "_trace", "_op", "_args", "_params", "_parents", "_index", "_labels")


_new_object = object.__new__


def new_input(trace, value, node_type):
    """Record `value` as an input of `trace`, as a node of class `node_type`."""
    if isinstance(value, Node) and value._trace is not trace:
        trace.nested = True
    return _record(trace, None, (), {}, (), value, None, node_type)


def _record(trace, op, values, params, parents, value, labels, node_type):
    # (The recording owns its values: they reach the user only as copies.)
    nodes = trace.nodes
    node = _new_object(node_type)
    node._value = value
    node._trace = trace
    node._op = op
    node._args = values
    node._params = params
    node._parents = parents
    node._index = len(nodes)
    node._labels = labels
    nodes.append(node)
    return node


def _constant(op, value, partner):
    """A constant operand of `op` captured by value; `partner`, the plain value of the
    operation's traced operand (None when there is none to promote against)."""
    # The two common constants, without the general path: a finite Python float
    # (immutable; x − x is 0 exactly for finite x) and a float64 array (copied).
    kind = type(value)
    if kind is float and value - value == 0.0:
        return value
    if kind is _ndarray and value.dtype.char == "d" and (not settings().check_finite or all_finite(value)):
        return value.copy()
    if (kind is list or kind is tuple or (kind is _ndarray and value.dtype.hasobject)) and (
            kind is _ndarray or holds_nodes(value)) and _object_lift is not None:
        # np.array([x, y]) of traced values is an object array: it is not a constant
        # (bind lifts it into a recorded node — or, holding numbers only, a plain
        # array — and records the operation on that)
        raise _ObjectOperand
    captured = capture(value, f"a constant operand of {op.name}")
    # (the promotion here, off the float64 fast path above: it costs the common case nothing)
    return _promoted(captured, partner, op.promotes_integers) if op.promotes and partner is not None else captured


def _promoted(constant, partner, integers):
    """`constant` in the precision NumPy computes the ufunc in: the result type of the
    constant and the traced operand, to which NumPy casts it before computing (so the
    value is unchanged).  Kept as it was, the derivative rules would compute 1/C, log C,
    −C … in the constant's own type: float32 rounding in a float64 derivative (``X / C``
    with C float32), float16 for log of a bool or 8-bit integer, and a negated unsigned
    integer wrapping around (``np.arctan2(C, X)`` with C uint8).  `integers`: whether the
    ufunc computes integer operands as floats (not ldexp's exponent)."""
    kind = type(constant)
    if kind is bool and integers:  # (NumPy's log(True) is float16; True is 1.0 in any float type)
        return float(constant)
    if kind is _ndarray or isinstance(constant, np.generic):
        partner_dtype = getattr(partner, "dtype", None)
        char = constant.dtype.char
        if partner_dtype is not None and partner_dtype.kind == "f" and (
                (integers and constant.dtype.kind in "biu") or char == "e"
                or (char == "f" and partner_dtype == _FLOAT64)):
            return constant.astype(np.result_type(constant.dtype, partner_dtype))
    return constant


def bind(op, *args, **params):
    """Apply `op`, recording it on the innermost active trace among `args`.

    Constant operands are captured by value (see :mod:`kronvec._constants`);
    the result is a new node, or a plain value when no argument is traced by
    an active trace.
    """
    # Once per NumPy operation in a differentiated function: the common case
    # (one to three arguments, the traced ones on a single active trace holding
    # plain values, no formulas wanted) is recorded here without the loops.
    #
    # `constant` keeps a second reference to a captured constant while the impl runs:
    # held by the `values` tuple alone, a fresh copy of ≥ 256 KiB would look like a
    # temporary to NumPy, which then writes `X * C` into it (temporary elision, for
    # the C-level operator.mul & co.) — and the recorded C would be the product.
    try:  # (free in CPython ≥ 3.11 unless raised)
        trace = constant = None
        count = len(args)  # (read once: a one- or three-argument operation tested it twice or thrice)
        if count == 2:
            first, second = args
            if isinstance(first, Node):
                if not isinstance(second, Node):
                    trace = first._trace
                    constant = _constant(op, second, first._value)
                    values, parents = (first._value, constant), ((0, first),)
                elif first._trace is second._trace and not isinstance(second._value, Node):
                    trace, values, parents = first._trace, (first._value, second._value), ((0, first), (1, second))
            elif isinstance(second, Node):
                trace = second._trace
                constant = _constant(op, first, second._value)
                values, parents = (constant, second._value), ((1, second),)
        elif count == 1:
            first = args[0]
            if isinstance(first, Node):
                trace, values, parents = first._trace, (first._value,), ((0, first),)
        elif count == 3:  # (np.clip(x, low, high) with constant bounds)
            first, second, third = args
            if isinstance(first, Node) and not isinstance(second, Node) and not isinstance(third, Node):
                trace = first._trace
                constant = (_constant(op, second, first._value), _constant(op, third, first._value))  # (a second reference: see above)
                values, parents = (first._value, constant[0], constant[1]), ((0, first),)  # (not *constant: a list, then a tuple)
        if (trace is None or not trace.active or trace.named_constants is not None
                or isinstance(values[parents[0][0]], Node)):
            # (the constants captured above are handed on, not captured again: a second
            # copy, alive beside the first while the impl runs, would double their memory —
            # 2 n² more in a jacobian of solve_sylvester(X, B, C))
            return _bind_general(op, args, params, values if trace is not None and trace.active else None)
        value = op.impl(*values, **params) if params else op.impl(*values)
        # (_record's body, inline: this line runs once per operation)
        nodes = trace.nodes
        node = _new_object(parents[0][1].__class__)
        node._value, node._trace, node._op, node._args, node._params = value, trace, op, values, params
        node._parents, node._index, node._labels = parents, len(nodes), None
        nodes.append(node)
        return node
    except _ObjectOperand:
        pass
    # an operand is a container of traced values (np.array([x, y]) & co.): lift it, record again
    return bind(op, *[_object_lift(a) if _is_object_array(a) or holds_nodes(a) else a for a in args], **params)


def _bind_general(op, args, params, captured=None):
    """Record `op` on the innermost active trace among `args` (the general case of :func:`bind`).

    `captured`, from bind's fast path: the arguments with every constant already captured
    by value, and its one active trace that of every traced argument (so the top trace)."""
    top = None
    for arg in args:
        if isinstance(arg, Node):
            trace = arg._trace
            if trace.active and (top is None or trace.level > top.level):
                top = trace
    if top is None:  # only stale nodes of finished traces: plain values
        values = [_live_value(a) if isinstance(a, Node) else a for a in args]
        if any(isinstance(v, Node) for v in values):
            return bind(op, *values, **params)
        return op.impl(*[_constant(op, v, None) for v in values], **params)
    values, parents, labels = list(args), [], None
    nested = False
    named = top.named_constants
    for position, arg in enumerate(args):
        if isinstance(arg, Node):
            if arg._trace is top:
                value = values[position] = arg._value
                parents.append((position, arg))
                nested = nested or isinstance(value, Node)
                continue
            value = _live_value(arg)
            if isinstance(value, Node):  # traced by an outer trace: recorded there first
                values[position] = value
                nested = True
                continue
            arg = value
        if named:
            label = _name_of(arg, named)
            if label is not None:
                labels = labels or [None] * len(args)
                labels[position] = label
        values[position] = _constant(op, arg, None) if captured is None else captured[position]
    if op.promotes and len(parents) < len(values):  # (NumPy's promotion: see _promoted)
        floats = [values[k] for k, _ in parents if getattr(getattr(values[k], "dtype", None), "kind", None) == "f"]
        widest = next((v for v in floats if v.dtype == _FLOAT64), floats[0] if floats else None)
        if widest is not None:
            traced = {k for k, _ in parents}
            values = [v if k in traced else _promoted(v, widest, op.promotes_integers) for k, v in enumerate(values)]
    recorded = tuple(values)  # (with `values`: two references to each constant, see bind)
    if nested:
        top.nested = True
        value = bind(op, *recorded, **params)
    else:
        value = op.impl(*recorded, **params)
    return _record(top, op, recorded, params, tuple(parents), value,
                   tuple(labels) if labels else None, type(parents[0][1]))


def _live_value(node):
    """A node of a finished trace stands for its value (which may be a node of
    an outer trace that is still recording)."""
    value = node
    while isinstance(value, Node) and not value._trace.active:
        value = value._value
    return value


def _name_of(value, named):
    for candidate, name in named:
        if candidate is value:
            return name
    return None


def plain_value(x):
    """The plain value under any number of traced layers.

    Reading it is a decision taken on the value outside the recording (a
    branch, a mask, an index): a recording made to be replayed is told
    (:attr:`Trace.compiling`).  For static facts (shape, dtype) use
    :func:`static_value`.
    """
    while isinstance(x, Node):
        trace = x._trace
        if trace.compiling is not None and trace.active:
            trace.compiling.value_read(x)
        x = x._value
    return x


def compile_guard(x):
    """The guard of the recording made for replay that `x` is traced by, at any
    layer (a gradient recorded inside a compiled hvp is one layer down), or None."""
    while isinstance(x, Node):
        trace = x._trace
        if trace.compiling is not None and trace.active:
            return trace.compiling
        x = x._value
    return None


def static_value(x):
    """The plain value under any number of traced layers, for its static facts
    only (shape, dtype, repr): never a decision on the numbers."""
    while isinstance(x, Node):
        x = x._value
    return x


def ancestors(output):
    """Indices of the nodes `output` depends on, itself included."""
    found, stack = set(), [output]
    while stack:
        node = stack.pop()
        if node._index in found:
            continue
        found.add(node._index)
        stack.extend(parent for _, parent in node._parents)
    return found


def reverse_sweep(nodes, seeds, inputs, add, consume=False):
    """Reverse accumulation over recorded `nodes`.

    Parameters
    ----------
    nodes : list of Node
        A trace's nodes in evaluation order.
    seeds : dict node index → cotangent
        Cotangents of the outputs.
    inputs : list of Node
        Inputs of the trace whose cotangents are returned.
    add : callable
        ``add(a, b)`` accumulates two cotangents of one node.
    consume : bool, default False
        True when the recording is used once (``grad``, ``value_and_grad``):
        each node is dropped from `nodes` once it has been pulled back, so
        the values and captured constants that only its VJP needed are freed
        during the sweep instead of at its end (the caller must hold no other
        reference to the later nodes, e.g. its output node).

    Returns
    -------
    list
        The cotangent of each input (None where no output depends on it).

    Nodes are in evaluation order, so a node's consumers come after it: one
    sweep backwards completes each cotangent before it is pulled back.  The
    sweep is a loop, so a recording of any depth is fine.
    """
    if not seeds:
        return [None] * len(inputs)
    for node in inputs:
        value = node._value
        if type(value) is _ndarray and value.size >= IN_PLACE_MIN_ENTRIES:
            break
    else:  # small inputs (small cotangents): nothing to reuse, the plain sweep
        return _plain_sweep(nodes, seeds, inputs, add)
    last = max(seeds)
    cotangents = [None] * (last + 1)
    # owned[i]: cotangents[i] is an ndarray (or a view of one) that nothing but this
    # sweep references -- the sum of two cotangents, or what a VJP marked
    # ``returns_fresh`` returned (True, or a test of the returned array) -- so a
    # further contribution is added into it in place instead of into a new array,
    # and a VJP with an ``in_place`` variant may write its result over it (each a
    # cotangent-sized array less at the peak of a gradient).
    owned = [False] * (last + 1)
    for index, seed in seeds.items():
        cotangents[index] = seed
    if consume:
        del nodes[last + 1:]  # (nodes after the last seed contribute nothing)
    kept = len(inputs) if consume else last + 1  # (inputs are the first nodes: kept)
    for index in range(last, -1, -1):
        ct = cotangents[index]
        node = nodes[index]
        if index >= kept:
            nodes[index] = None
        if ct is None or node._op is None:
            continue
        cotangents[index] = None  # freed once pulled back
        vjps, value, args, params = node._op.vjps, node._value, node._args, node._params
        parents = node._parents
        ct_owned = owned[index] and len(parents) == 1  # (one VJP reads ct: it may overwrite it)
        for position, parent in parents:
            vjp = vjps[position]
            if ct_owned and getattr(vjp, "in_place", None) is not None:
                contribution = vjp.in_place(ct, value, *args, **params)
                fresh = True  # (ct's own memory, or a new array)
            else:
                if params or len(args) > 2:
                    contribution = vjp(ct, value, *args, **params)
                elif len(args) == 2:  # (spelled out: a call with *args re-enters the interpreter from C)
                    contribution = vjp(ct, value, args[0], args[1])
                else:
                    contribution = vjp(ct, value, args[0])
                fresh = None  # (asked of the VJP below, for a large enough ndarray only)
            if type(contribution) is _ndarray and contribution.size >= IN_PLACE_MIN_ENTRIES:
                if fresh is None:
                    fresh = getattr(vjp, "returns_fresh", False)
                if fresh is not False:
                    fresh = fresh is True or fresh(contribution, _protected(ct, value, args, parents, consume))
            else:
                fresh = False
            parent_index = parent._index
            previous = cotangents[parent_index]
            if previous is None:
                cotangents[parent_index], owned[parent_index] = contribution, fresh
            elif owned[parent_index] and _add_in_place(previous, contribution):
                pass
            elif fresh and _add_in_place(contribution, previous):
                cotangents[parent_index], owned[parent_index] = contribution, True
            else:
                total = add(previous, contribution)
                cotangents[parent_index] = total
                # (ndarray + ndarray is a new array: ours alone)
                owned[parent_index] = (type(total) is _ndarray and type(previous) is _ndarray
                                       and type(contribution) is _ndarray
                                       and total.size >= IN_PLACE_MIN_ENTRIES)
        # (let go of this node's arrays before the next VJP allocates: a replaced
        # cotangent held by `previous` would otherwise live through it)
        node = value = args = parents = ct = contribution = previous = None
    result = []
    for node in inputs:
        index = node._index
        result.append(cotangents[index] if index <= last else None)
    return result


def _plain_sweep(nodes, seeds, inputs, add):
    """reverse_sweep without reuse of cotangents, for small arrays (same numbers: an
    in-place sum is the same sum)."""
    if len(seeds) == 1:  # (one output, the common case: without max() and the loop)
        ((last, seed),) = seeds.items()
        cotangents = [None] * (last + 1)
        cotangents[last] = seed
    else:
        last = max(seeds)
        cotangents = [None] * (last + 1)
        for index, seed in seeds.items():
            cotangents[index] = seed
    for index in range(last, -1, -1):
        ct = cotangents[index]
        if ct is None:
            continue
        node = nodes[index]
        if node._op is None:
            continue
        cotangents[index] = None  # freed once pulled back
        vjps, value, args, params = node._op.vjps, node._value, node._args, node._params
        spelled = len(args)  # (decided once per node, not per parent)
        for position, parent in node._parents:
            # Spelled out: a call with *args builds a list and then a tuple, and one with
            # **params also copies the dict, where a spelled call passes its arguments as
            # they are (the keywords, when there are any, still come from the dict).
            if not params:
                if spelled == 1:
                    contribution = vjps[position](ct, value, args[0])
                elif spelled == 2:
                    contribution = vjps[position](ct, value, args[0], args[1])
                elif spelled == 3:
                    contribution = vjps[position](ct, value, args[0], args[1], args[2])
                else:
                    contribution = vjps[position](ct, value, *args)
            elif spelled == 1:
                contribution = vjps[position](ct, value, args[0], **params)
            elif spelled == 2:
                contribution = vjps[position](ct, value, args[0], args[1], **params)
            else:
                contribution = vjps[position](ct, value, *args, **params)
            parent_index = parent._index
            previous = cotangents[parent_index]
            cotangents[parent_index] = contribution if previous is None else add(previous, contribution)
    result = []  # (a loop: a comprehension is a function call of its own in CPython 3.11)
    for node in inputs:
        index = node._index
        result.append(cotangents[index] if index <= last else None)
    return result


#: Cotangents smaller than this are never reused in place: below it the checks that
#: make reuse safe (shapes, strides, overlap) cost more than the new array they save,
#: and the peak memory they would lower is a few KiB.
IN_PLACE_MIN_ENTRIES = 4096


def _add_in_place(target, addend):
    """``target += addend`` when that is what ``target + addend`` would be (same
    shape and dtype, both plain ndarrays, no overlap); False when it is not."""
    if type(addend) is not _ndarray or type(target) is not _ndarray or not target.flags.writeable:
        return False
    if 0 in target.strides and target.size > 1:  # (a broadcast view: its entries are shared)
        return False
    if addend.shape != target.shape and np.broadcast_shapes(addend.shape, target.shape) != target.shape:
        return False
    if np.result_type(target.dtype, addend.dtype) != target.dtype or np.may_share_memory(target, addend):
        return False
    np.add(target, addend, out=target)
    return True


def _protected(ct, value, args, parents, consume):
    """The arrays a cotangent returned by this node's VJP must not share memory
    with to be the sweep's own: all the node's arrays, except -- in a consuming
    sweep, for a node with one traced argument -- the constants it captured
    (copies made by :func:`_constant`, writeable and owning their memory, held by
    this node alone, which the sweep has just dropped)."""
    if not consume or len(parents) != 1:
        return (ct, value, *args)
    traced = parents[0][0]
    protected = [ct, value, args[traced]]
    for position, arg in enumerate(args):
        if position != traced and not (type(arg) is _ndarray and arg.flags.writeable and arg.flags.owndata
                                       and not (type(value) is _ndarray and np.may_share_memory(arg, value))):
            protected.append(arg)
    return protected
