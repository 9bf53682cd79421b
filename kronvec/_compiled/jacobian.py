"""The fused tier of ``jacobian(f, compile=True)``: forward values by numba, operators from a template.

A compiled Jacobian's Python replay (:class:`~.replay.ReplayedRecording`)
recomputes each node's value and then assembles the structured operator from
the operations' Jacobian builders and the operator algebra; for small matrices
both cost more than the numbers they move.  This tier removes both, for the
programs where it can be done soundly:

* **the values** come from one numba function (:class:`~.fused.FusedForward`,
  the forward part of the fused gradient tier: the same LAPACK/BLAS routines,
  layouts and checks, so the same bits);
* **the operator** is rebuilt from an :class:`OperatorTemplate`: the operator
  the Python replay assembled once, with each array it holds traced back to the
  node value it *is* (or the transpose view of one) — every other part of it
  (structure, shapes, labels, scales) is copied as it was.

That is sound when the operator's structure cannot depend on the values, which
:func:`eligible` makes sure of: every operation is one of
:data:`JACOBIAN_OPERATIONS` (whose Jacobian builders and the algebra they call
branch on shapes and operator types only), every value is a matrix (a scalar
node could become a value-dependent ``scale``), and every array the operator
holds is a node value or a transpose of one (an array computed from values —
``vec(Y)``, ``1 − Y²`` — makes the program :class:`~.fused.NotFusable`).  A
template is kept only if, at the recording's point, the rebuilt operator prints
the same formula and has the same dense form, bit for bit, as the one the Python
replay assembles there.

As for gradients, the tier is compiled in a background thread once a program
has been replayed :data:`~.gradient.FUSE_AFTER_REPLAYS` times, and a call whose
values meet a check (singular or ill-conditioned matrix, non-finite value) runs
the Python replay instead, which raises or warns exactly as uncompiled.

The Krons of a rebuilt operator carry :func:`small_kron_fill`: their dense form
(below ``config.numba_min_entries``, where ``kron_dense`` broadcasts in NumPy) is
written by a serial numba kernel, compiled on this path only.  Where the template
is refused, the operators the Python replay assembles get it too (:func:`marked`).
"""

from __future__ import annotations

import functools
import math
import weakref

import numpy as np

from .._config import condition_threshold, config
from .._linalg.scope import CallScope
from .._linalg.scope import _current as _current_scope
from .._tracer import ancestors
from ..operators import Dense, StructuredOperator
from ..operators.composite import Scaled, Sum
from ..operators._formula import Label
from ..operators.kron import Kron
from .gradient import TieredProgram

__all__ = ["TieredJacobian", "OperatorTemplate", "JACOBIAN_OPERATIONS", "eligible", "marked", "small_kron_fill"]

#: Operations whose Jacobian builders give an operator whose structure depends on the
#: shapes and the constants only (kronvec.ops: elementwise, products, shape, linalg), and
#: which have a fused form.  Those that hold arrays computed from values (an entrywise
#: product's Diag(vec b), solve's A⁻¹) are refused by the template instead.
JACOBIAN_OPERATIONS = frozenset({"add", "subtract", "negative", "multiply", "true_divide", "transpose", "matmul",
                                 "linalg.inv", "linalg.solve"})

_FLOAT64 = np.dtype(np.float64)
_new_object = object.__new__


def eligible(recording, inputs):
    """Whether the recording may have a fused Jacobian (see the module docstring): matrices
    of float64 throughout, an output that is not a scalar, only JACOBIAN_OPERATIONS."""
    if math.prod(recording.output_shape) <= 1:
        return False  # (a scalar's Jacobian is a row from the reverse sweep: another program)
    for node in inputs:
        if type(node._value) is not np.ndarray or node._value.ndim != 2 or node._value.dtype != _FLOAT64:
            return False
    needed = ancestors(recording.output_node)
    for node in recording.nodes:
        if node._op is None or node._index not in needed:
            continue
        value = node._value
        if node._op.name not in JACOBIAN_OPERATIONS:
            return False
        if type(value) is not np.ndarray or value.ndim != 2 or value.dtype != _FLOAT64:
            return False
    return True


class _Unknown(Exception):
    """Something in an operator the template cannot trace back or copy."""


#: Attribute values copied by reference: immutable, and the same for every call.
_IMMUTABLE = (bool, int, float, str, type(None), np.dtype, type, np.floating, np.integer, np.bool_)


class OperatorTemplate:
    """An operator assembled by the Python replay, as a function of the replay's values.

    Parameters
    ----------
    operator : StructuredOperator
        The Jacobian assembled at one point.
    positions : dict
        Node index → position in the value tuple :meth:`rebuild` takes.
    values : dict
        Node index → that node's value at the point (the arrays `operator` holds).
    constants : list of ndarray
        Arrays the recording captured by value (read-only, shared by every replay).
    fill : callable
        What the rebuilt Krons of two dense factors use for their dense form
        (:func:`small_kron_fill` with its kernel).

    Raises
    ------
    NotFusable
        When `operator` holds an array that is none of these, or an object that is not
        an operator, a label, or an immutable value.
    """

    def __init__(self, operator, positions, values, constants, fill):
        from .fused import NotFusable

        self._lines_new, self._lines_fill = [], []
        self._namespace = {"_new": _new_object, "_ref": weakref.ref, "_fill": fill}
        self._seen = []  # (object, its name) for every object met so far: a walk of tens of objects
        # where an array can come from: a value of this call (by position), or a constant
        self._origins = [(f"w[{positions[index]}]", value) for index, value in values.items()]
        self._origins += [(self._bind(array), array) for array in constants]
        try:
            root = self._object(operator)
        except _Unknown as reason:
            raise NotFusable(f"a Jacobian operator holding {reason}") from None
        source = "\n".join(["def rebuild(w):", *self._lines_new, *self._lines_fill, f"    return {root}"]) + "\n"
        exec(compile(source, "<kronvec compiled Jacobian template>", "exec"), self._namespace)  # noqa: S102
        self.source = source
        #: ``rebuild(values)`` → a new operator holding `values` (indexed as `positions` says).
        self.rebuild = self._namespace["rebuild"]
        del self._seen, self._origins, self._namespace

    def _name_of(self, obj):
        """The name given to `obj` itself earlier in this walk, or None."""
        for seen, name in self._seen:
            if seen is obj:
                return name
        return None

    def _bind(self, value):
        name = f"c{len(self._namespace)}"
        self._namespace[name] = value
        return name

    def _expression(self, value):
        """Source for `value`, rebuilt from the values."""
        if isinstance(value, _IMMUTABLE):
            return self._bind(value)
        if type(value) is np.ndarray:
            return self._array(value)
        if type(value) is tuple:
            return "(" + "".join(f"{self._expression(item)}, " for item in value) + ")"
        if type(value) is weakref.ref:
            target = value()
            if target is None:
                raise _Unknown("a dead weak reference")  # (one left out of an operator's attributes above)
            if not isinstance(target, (StructuredOperator, Label)):
                raise _Unknown(f"a weak reference to a {type(target).__name__}")
            return f"_ref({self._object(target)})"
        if isinstance(value, (StructuredOperator, Label)):
            return self._object(value)
        raise _Unknown(f"a {type(value).__name__}")

    def _array(self, array):
        """Source for an array the operator holds: a node value or a constant, or a view of
        one with the same data (the same layout, or the transpose, as a builder's ``Yᵀ``).
        Each array object becomes one object of the rebuilt operator, so which parts share
        an array (a label's key and its matrix) is as it was."""
        name = self._name_of(array)
        if name is not None:
            return name
        source = None
        for origin, value in self._origins:
            if array is value:
                source = origin
                break
        if source is None:
            for origin, value in self._origins:
                if array.dtype != value.dtype or array.ndim != 2 or value.ndim != 2:
                    continue
                if array.ctypes.data != value.ctypes.data:
                    continue
                if array.shape == value.shape and array.strides == value.strides:
                    source = f"{origin}.view()"
                    break
                if array.shape == value.shape[::-1] and array.strides == value.strides[::-1]:
                    source = f"{origin}.T"
                    break
        if source is None:
            raise _Unknown(f"an array of shape {array.shape} computed from the values")
        name = f"a{len(self._seen)}"
        self._seen.append((array, name))
        self._lines_new.append(f"    {name} = {source}")
        return name

    def _object(self, obj):
        name = self._name_of(obj)
        if name is not None:
            return name
        name = f"o{len(self._seen)}"
        self._seen.append((obj, name))
        self._lines_new.append(f"    {name} = _new({self._bind(type(obj))})")
        slots = [slot for cls in type(obj).__mro__ for slot in cls.__dict__.get("__slots__", ())]
        for slot in slots:
            if slot != "__weakref__" and slot != "__dict__" and hasattr(obj, slot):
                self._lines_fill.append(f"    {name}.{slot} = {self._expression(getattr(obj, slot))}")
        if hasattr(obj, "__dict__"):
            # (a dead weak reference, a transpose no longer held anywhere, is a cache entry
            # of nothing: the attribute is left out, as ``StructuredOperator.T`` reads it)
            items = [f"{key!r}: {self._expression(value)}" for key, value in vars(obj).items()
                     if not (type(value) is weakref.ref and value() is None) and key != "_small_fill"]
            if type(obj) is Kron and type(obj.A) is Dense and type(obj.B) is Dense:
                items.append("'_small_fill': _fill")
            self._lines_fill.append(f"    {name}.__dict__.update({{{', '.join(items)}}})")
        return name


def marked(operator, fill):
    """`operator`, its Krons of two dense factors — it, its terms, the operator it scales —
    given `fill` as their dense fill (``Kron._small_fill``).  For operators the Python replay
    of a compiled Jacobian has just assembled: new objects of this call, which nothing else
    holds; the fill writes the same entries."""
    pending = [operator]
    while pending:
        op = pending.pop()
        kind = type(op)
        if kind is Kron:
            if type(op.A) is Dense and type(op.B) is Dense:
                op._small_fill = fill
        elif kind is Sum:
            pending.extend(op.terms)
        elif kind is Scaled:
            pending.append(op.operator)
    return operator


def small_kron_fill(kernel, kron, out, scale):
    """``scale·kron`` as a new dense array (`out` None) or added into `out` — what
    ``Kron._toarray`` / ``_accumulate_dense`` compute through ``kron_dense`` — by the serial
    kernel ``fused_kernels.kron_fill`` (`kernel`, bound by the caller: this module imports no
    numba); None where kron_dense's own path is the one to take
    (other factors or dtypes, a non-C-ordered `out`, numba's parallel range)."""
    A, B = kron.A, kron.B
    if type(A) is not Dense or type(B) is not Dense or A.M.dtype != _FLOAT64 or B.M.dtype != _FLOAT64:
        return None
    if kron.shape[0] * kron.shape[1] >= config.numba_min_entries:
        return None
    factor = kron.scale * scale if out is not None else kron.scale  # (the product Kron._accumulate_dense forms)
    a, b = np.ascontiguousarray(A.M), np.ascontiguousarray(B.M)
    if out is None:
        return kernel(a, b, factor, np.empty(kron.shape), False)
    if type(out) is not np.ndarray or out.dtype != _FLOAT64 or not out.flags.c_contiguous or not out.flags.writeable:
        return None
    return kernel(a, b, factor, out, True)


def _fused_forward(recording, inputs, wanted):
    """The recording's :class:`~.fused.FusedForward`, or None where there is none."""
    if not eligible(recording, inputs):
        return None
    from .fused import FusedForward, NotFusable  # (only for programs of matrices; imports no numba)

    try:
        return FusedForward(recording, inputs, wanted)
    except NotFusable:
        return None


class TieredJacobian(TieredProgram):
    """A compiled Jacobian: the template recording replayed in Python, and its fused tier
    once compiled and checked (:class:`~.gradient.TieredProgram`'s states and threads).

    ``fused_run()`` gives, once fused, ``run(threshold, *input_values)`` → one operator
    per differentiated input; it raises ``fall_back`` where the Python replay must run.
    """

    __slots__ = ("template", "count", "wanted", "input_layouts", "fill")

    def __init__(self, template, count):
        inputs = template.inputs + template.constant_inputs
        needed = ancestors(template.output_node)
        #: the values the fused function returns: every one the output depends on (the
        #: template, made at compile time, picks those its operators hold)
        self.wanted = [node._index for node in template.nodes if node._index in needed]
        fused = _fused_forward(template, inputs, self.wanted)
        super().__init__(template, fused, None if fused is None else [node._value.copy() for node in inputs])
        self.template, self.count = template, count
        self.input_layouts = () if fused is None else fused.input_layouts
        #: The dense fill the Python replay's Krons take (:func:`marked`) once the background
        #: thread has compiled and checked it, else None.  Set by one assignment.
        self.fill = None

    def _checked(self):
        """The fused run, if at the recording's point it computes the Python replay's values bit
        for bit and its templates rebuild the Python replay's operators (formula and dense form)."""
        from .fused import NotFusable
        from .fused_kernels import FallBack, kron_fill
        from .replay import ReplayedRecording

        template, wanted = self.template, self.wanted
        forward = self.fused.compile()
        values = self._check_values
        threshold = condition_threshold(_FLOAT64)
        threshold = math.inf if threshold is None else threshold
        try:
            computed = forward(threshold, *[value.copy() for value in values])
        except FallBack:
            return None  # (the recording's point is one the Python replay must handle)
        token = _current_scope.set(CallScope())
        try:
            with np.errstate(all="ignore"):  # (a check in the background prints nothing)
                replay = ReplayedRecording(template, [value.copy() for value in values])
                expected = [replay.forward_jacobian(k) for k in range(self.count)]
        finally:
            _current_scope.reset(token)
        positions = {index: k for k, index in enumerate(wanted)}
        by_index = {index: replay.nodes[index]._value for index in wanted}
        for index, value in zip(wanted, computed):
            python = by_index[index]
            if value.strides != python.strides or not np.array_equal(value, python):
                return None
        constants = [arg for node in replay.nodes if node._op is not None
                     for position, arg in enumerate(node._args)
                     if type(arg) is np.ndarray and position not in dict(node._parents)]
        fill = functools.partial(small_kron_fill, kron_fill)
        # The dense fill, for the Python replay's operators too (a template may be refused):
        # used only if it writes their dense forms bit for bit here.
        dense = [J.toarray() for J in expected]
        if all(np.array_equal(marked(J, fill).toarray(), D) for J, D in zip(expected, dense)):
            self.fill = fill
        try:
            templates = tuple(OperatorTemplate(J, positions, by_index, constants, fill) for J in expected)
        except NotFusable:
            return None
        for value in computed:
            value.flags.writeable = False
        for J, D, operator_template in zip(expected, dense, templates):
            rebuilt = operator_template.rebuild(computed)
            if rebuilt.formula() != J.formula() or not np.array_equal(rebuilt.toarray(), D):
                return None
        self.fall_back = FallBack
        rebuilders = tuple(operator_template.rebuild for operator_template in templates)

        def run(threshold, *values):
            computed = forward(threshold, *values)
            for value in computed:
                value.flags.writeable = False  # (as the recording's: the operators keep them uncopied)
            return tuple(rebuild(computed) for rebuild in rebuilders)

        return run
