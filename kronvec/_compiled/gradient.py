"""``grad`` and ``value_and_grad`` with ``compile=True``: a straight-line program per signature.

The first call with a new signature records ``f`` and writes the recording out
as a :class:`~.program.GradientProgram`; later calls replay it.  Results are
the uncompiled transformation's, bit for bit.
"""

from __future__ import annotations

import numpy as np

from .. import api as _api
from .program import GradientProgram
from .transform import PROGRAMS_PER_FUNCTION, compiled_transform

__all__ = ["compiled_gradient", "PROGRAMS_PER_FUNCTION"]


def compiled_gradient(f, argnums, fname, with_value, uncompiled):
    """The compiled form of ``grad(f, argnums)`` / ``value_and_grad(f, argnums)``."""

    def build(recording):
        return GradientProgram(recording, recording.inputs + recording.constant_inputs, len(recording.inputs))

    def run(program, arguments, extra):
        shape = arguments.output_shape
        seed = 1.0 if shape == () else np.ones(shape)
        output, cotangents = program.run(seed, *arguments.values)
        returned = []
        for ct, value in zip(cotangents, arguments.values):
            returned.append(_api._Recording._shaped_like_input(ct, _InputValue(value), returned))
        gradients = returned[0] if arguments.single else tuple(returned)
        if not with_value:
            return gradients
        return (output if isinstance(output, np.floating) else _api._scalar_value(output)), gradients

    return compiled_transform(f, argnums, fname, build, run, uncompiled, scalar_output=True)


class _InputValue:
    """What ``_Recording._shaped_like_input`` reads of an input node: its value."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value
