"""A recording turned into a straight-line Python function: record once, replay.

A recording (``kronvec.api._Recording``) is already a program: each node is
``value = op.impl(*args, **params)``, its arguments either earlier nodes or
constants captured by value, and reverse accumulation calls each operation's
VJP in a fixed order.  :class:`GradientProgram` writes that program out as
the source of one Python function — the forward values, then the reverse
sweep, every operation's impl and VJP bound as a local name — and compiles it
with :func:`compile`.  A call then costs the operations themselves: no traced
values, no dispatch through NumPy's protocols, no capture of constants, no
dictionaries of cotangents.

The replay calls *the same* impl and VJP functions, in the same order, on the
same kinds of values, inside its own :class:`~kronvec._linalg.scope.CallScope`
(so factorizations are shared exactly as in the recorded call): its results
are bit-for-bit those of the uncompiled transformation.  Every check an
operation makes (singular input, domain, ill-conditioning) is in its impl or
VJP, so the replay makes it too.

The reverse sweep visits only the nodes that lie between a differentiated
input and the output; the uncompiled sweep also pulls cotangents back into
constants' branches that lead nowhere, which changes no number it returns
(each cotangent is the same sum, in the same order).
"""

from __future__ import annotations

import operator

import numpy as np

from .._tracer import Node, ancestors

__all__ = ["GradientProgram", "ELIDABLE"]

#: Operations a replay skips when nothing the output depends on uses them.  Every
#: other operation is replayed even when its result is unused, because its impl may
#: raise (a singular matrix, a domain error) and the replay keeps every check the
#: recording made.  The determinant's sign is recorded only beside ln|det X| of the
#: same matrix (kronvec.ops.linalg._slogdet), whose impl makes the same checks.
ELIDABLE = frozenset({"linalg.slogdet.sign"})


class GradientProgram:
    """The forward values and the reverse sweep of one recording, as one function.

    Parameters
    ----------
    recording : kronvec.api._Recording
        A finished recording whose output is a node of its trace.
    inputs : sequence of Node
        The recording's input nodes, in the order the program takes their
        values: the differentiated ones first (their cotangents are returned),
        then the constant arrays recorded as inputs.
    differentiated : int
        How many of `inputs` are differentiated.

    Attributes
    ----------
    run : callable
        ``run(seed, *input_values)`` → ``(output value, cotangent of each
        differentiated input)``; a cotangent is None when the output does not
        depend on that input.
    source : str
        The generated source (for the curious, and for tests).
    """

    def __init__(self, recording, inputs, differentiated):
        nodes = recording.nodes
        output = recording.output_node
        # (a float32 output is seeded with a float32 cotangent, as the uncompiled sweep seeds it)
        self.float32_output = getattr(getattr(recording.output, "dtype", None), "char", None) == "f"
        position_of_input = {node._index: k for k, node in enumerate(inputs)}
        namespace = {"_add": operator.add}  # (the uncompiled sweep's accumulation: kronvec.api._add)
        relevant = _between(nodes, output, [node._index for node in inputs[:differentiated]])

        parameters = ", ".join(f"v{node._index}" for node in inputs)
        lines = [f"def run(seed{', ' if parameters else ''}{parameters}):"]
        needed = ancestors(output)
        for node in nodes:  # (all of them: an unused operation's impl still makes its checks)
            if node._op is None:
                if node._index not in position_of_input:
                    raise AssertionError("an input node that is not an input of the program")  # pragma: no cover
                continue
            if node._index not in needed and node._op.name in ELIDABLE:
                continue
            i = node._index
            namespace[f"impl{i}"] = node._op.impl
            arguments = _arguments(node, namespace)
            lines.append(f"    v{i} = impl{i}({arguments}{_keywords(node, namespace)})")

        # Reverse accumulation, in the uncompiled sweep's order (kronvec._tracer.reverse_sweep):
        # nodes from the output down, each node's arguments in position order, the first
        # contribution to a cotangent taken as it is and later ones added to it.
        assigned = set()
        lines.append(f"    g{output._index} = seed")
        assigned.add(output._index)
        for node in reversed(nodes[: output._index + 1]):
            i = node._index
            if node._op is None or i not in relevant:
                continue
            arguments = _arguments(node, namespace)
            keywords = _keywords(node, namespace)
            for position, parent in node._parents:
                j = parent._index
                if j not in relevant:
                    continue
                namespace[f"vjp{i}_{position}"] = node._op.vjps[position]
                call = f"vjp{i}_{position}(g{i}, v{i}, {arguments}{keywords})"
                if j in assigned:
                    lines.append(f"    g{j} = _add(g{j}, {call})")
                else:
                    lines.append(f"    g{j} = {call}")
                    assigned.add(j)
            lines.append(f"    g{i} = None")  # freed once pulled back, as in the uncompiled sweep
        returned = [f"g{node._index}" if node._index in assigned else "None" for node in inputs[:differentiated]]
        lines.append(f"    return v{output._index}, ({', '.join(returned)}{',' if len(returned) == 1 else ''})")
        self.source = "\n".join(lines) + "\n"
        code = compile(self.source, f"<kronvec compiled program of {getattr(recording.f, '__name__', 'f')}>", "exec")
        exec(code, namespace)  # noqa: S102 (kronvec's own generated source, from a recording)
        self.run = namespace["run"]


def _arguments(node, namespace):
    """The argument list of a node's impl: earlier nodes by name, constants bound once."""
    parent_at = dict(node._parents)
    names = []
    for position, value in enumerate(node._args):
        parent = parent_at.get(position)
        if parent is not None:
            names.append(f"v{parent._index}")
            continue
        if isinstance(value, Node):
            raise AssertionError("a traced argument that is not a parent")  # pragma: no cover
        name = f"k{node._index}_{position}"
        if type(value) is np.ndarray:
            value.flags.writeable = False  # the program's own copy: read by every replay, written by none
        namespace[name] = value
        names.append(name)
    return ", ".join(names)


def _keywords(node, namespace):
    if not node._params:
        return ""
    namespace[f"p{node._index}"] = node._params
    return f", **p{node._index}"


def _between(nodes, output, sources):
    """Indices of the nodes on a path from one of `sources` to `output`."""
    upstream = ancestors(output)
    reached = set(sources)
    for node in nodes[: output._index + 1]:
        if node._index in upstream and any(parent._index in reached for _, parent in node._parents):
            reached.add(node._index)
    return reached & upstream
