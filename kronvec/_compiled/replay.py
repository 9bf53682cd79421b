"""``jacobian`` and ``hvp`` with ``compile=True``: a recording replayed node by node.

A structured Jacobian is assembled from the recording's nodes (their values,
arguments and local Jacobians: ``kronvec.api._Recording.forward_jacobian``),
and a Hessian-vector product is the forward tangent of the recorded gradient
(``forward_tangent``).  Their cost is the operators they build and apply, not
the recording; so the replay here recomputes each node's value from the
template recording's operations, in order, into new nodes — no tracing, no
dispatch, no capture — and hands the result to the same assembly code.  Same
operations, same order, same call scope: the uncompiled results, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from .. import api as _api
from .._config import condition_threshold
from .transform import compiled_transform

__all__ = ["ReplayedRecording", "compiled_jacobian", "compiled_hvp"]

_new_object = object.__new__
_FLOAT64 = np.dtype(np.float64)


class ReplayedRecording(_api._Recording):
    """`template`'s operations recomputed at new input values.

    Parameters
    ----------
    template : kronvec.api._Recording
        A recording taken under a compile guard (its decisions are all recorded).
    values : list of ndarray
        The checked values of the template's inputs: differentiated ones, then
        the constant arrays recorded as inputs.
    """

    def __init__(self, template, values):  # (no super().__init__: nothing is traced)
        self.f, self.args, self.argnums, self.fname = template.f, None, template.argnums, template.fname
        self.names, self.nested = template.names, False
        inputs = template.inputs + template.constant_inputs
        value_of_input = {node._index: value for node, value in zip(inputs, values)}
        nodes = []
        for node in template.nodes:
            new = _new_object(type(node))
            if node._op is None:
                new._value, new._args, new._parents = value_of_input[node._index], (), ()
            else:
                args = list(node._args)
                parents = []
                for position, parent in node._parents:
                    replayed = nodes[parent._index]
                    args[position] = replayed._value
                    parents.append((position, replayed))
                args = tuple(args)
                new._value = node._op.impl(*args, **node._params) if node._params else node._op.impl(*args)
                new._args, new._parents = args, tuple(parents)
            new._trace, new._op, new._params = node._trace, node._op, node._params
            new._index, new._labels = node._index, node._labels
            nodes.append(new)
        self.nodes = nodes
        self.inputs = nodes[:len(template.inputs)]
        self.constant_inputs = nodes[len(template.inputs):len(inputs)]
        self.output_node = nodes[template.output_node._index]
        self.output = self.output_node._value
        self.output_shape = template.output_shape
        if template.names is not None:
            # Formula labels depend on the operations and the user's names only, never
            # on values: the template's, computed once, serve every replay.
            self._labels = template.labels()


def compiled_jacobian(f, argnums, uncompiled):
    """The compiled form of ``jacobian(f, argnums)``: the recording replayed in Python, and
    for small programs of matrices its fused tier (:mod:`.jacobian`) once worth it."""
    from .jacobian import TieredJacobian, marked

    def build(template):
        return TieredJacobian(template, len(template.inputs))

    def run(program, arguments, extra):
        recording = ReplayedRecording(program.template, arguments.values)
        results = tuple(recording.forward_jacobian(k) for k in range(arguments.count))
        fill = program.fill  # (a numba dense fill, once the fused tier's thread has checked one)
        if fill is not None:
            results = tuple(marked(J, fill) for J in results)
        return results[0] if arguments.single else results

    def fast(program, args, numbers, constant_positions, single):
        fused = program.fused_run()
        if fused is None:
            return None
        values = []
        for position, k in enumerate((*numbers, *constant_positions)):
            arg = args[k]
            if type(arg) is not np.ndarray or arg.dtype != _FLOAT64:
                return None  # (the fused function was written for float64 arrays)
            if position < len(numbers):
                # the C-ordered copy the uncompiled call computes on (api._as_differentiable):
                # the operators returned keep it, so never the caller's array
                values.append(np.array(arg, order="C"))
                continue
            flags = arg.flags  # a constant array keeps its layout, which decided the program's
            if not (flags.c_contiguous if program.input_layouts[position] == "C" else flags.f_contiguous):
                return None
            values.append(arg.copy(order="K"))
        threshold = condition_threshold(_FLOAT64)
        try:
            results = fused(math.inf if threshold is None else threshold, *values)
        except program.fall_back:
            return None
        return results[0] if single else results

    return compiled_transform(f, argnums, "jacobian", build, run, uncompiled, fast=fast)


def compiled_hvp(f, argnums, uncompiled):
    """The compiled form of ``hvp(f, argnums)``: ``(*args, V)`` → ∇²f · V.

    What is compiled is ∇f, recorded as the uncompiled hvp records it (a gradient
    written in NumPy operations, inside ``jvp``), with respect to the point's
    argument `argnums`; a replay recomputes it and pushes V forward through it.
    """
    gradient = _api._gradient_transform(f, argnums, "hvp", with_value=False)

    def split(args):
        if len(args) < 2:
            raise TypeError("kronvec.hvp(f)(*args, V): pass the point's arguments, then the direction V last")
        *point, direction = args
        _api._check_hvp_direction(point, argnums % len(point), direction)
        return tuple(point), direction

    def run(template, arguments, direction):
        direction = _api._as_differentiable(direction, "V", f, "hvp")
        recording = ReplayedRecording(template, arguments.values)
        return recording.forward_tangent([direction])

    return compiled_transform(gradient, argnums, "hvp", _template, run, uncompiled, split=split)


def _template(recording):
    return recording
