"""The front end every compiled transformation shares: signature, cache, checks.

``kronvec.grad(f, compile=True)`` and its siblings are built by
:func:`compiled_transform` from two functions:

* ``build(recording)`` → what a replay needs, made once per signature from a
  recording taken under a :class:`~.guard.CompileGuard` (a
  :class:`~.program.GradientProgram`, or the recording itself as the template
  of :class:`~.replay.ReplayedRecording`);
* ``run(built, values)`` → the result, from the checked argument values.

A call inside another transformation (an argument is itself traced) is not
compiled: it takes the uncompiled path, which records into the outer
transformation as usual.
"""

from __future__ import annotations

import functools

import numpy as np

from .. import api as _api
from .._linalg.scope import CallScope
from .._linalg.scope import _current as _current_scope
from .._tracer import Node
from .cache import ProgramCache
from .guard import CompileGuard
from .signature import call_signature, traced_constant_positions

__all__ = ["compiled_transform", "PROGRAMS_PER_FUNCTION", "Arguments"]

#: Signatures one compiled function keeps (shapes met in one optimization are few).
PROGRAMS_PER_FUNCTION = 16

_set_scope, _reset_scope = _current_scope.set, _current_scope.reset


class _Entry:
    """One signature's compiled form and what its replay needs besides."""

    __slots__ = ("built", "constant_positions", "output_shape")

    def __init__(self, built, constant_positions, output_shape):
        self.built, self.constant_positions, self.output_shape = built, constant_positions, output_shape


class Arguments:
    """One call's checked argument values, in the program's input order: the
    differentiated arguments, then the constant float arrays."""

    __slots__ = ("values", "single", "count", "output_shape")

    def __init__(self, values, single, count, output_shape):
        self.values, self.single, self.count, self.output_shape = values, single, count, output_shape


def compiled_transform(f, argnums, fname, build, run, uncompiled, scalar_output=False, split=None, fast=None):
    """A compiled transformation of `f` (see the module docstring).

    Parameters
    ----------
    build : callable
        ``build(recording)`` → the compiled form of one signature.
    run : callable
        ``run(built, arguments, extra)`` → the result (arguments: :class:`Arguments`).
    uncompiled : callable
        The uncompiled transformation of `f`, for calls inside another transformation.
    scalar_output : bool
        Refuse, at compile time, a function whose value is not a scalar.
    split : callable, optional
        ``split(args)`` → ``(f's arguments, extra)``: what the transformation takes
        besides f's arguments (hvp's direction), handed to `run`.
    fast : callable, optional
        ``fast(built, args, argnums, constant_positions, single)`` → the result, or None
        for the checked path: a fused program's call on the raw arguments (it checks
        what it needs itself and hands anything else back).
    """
    cache = ProgramCache(PROGRAMS_PER_FUNCTION)
    argnums_by_count = {}  # len(args) → normalized argnums (idempotent: safe under threads)

    def compile_for(args, numbers, signature):
        constant_positions = traced_constant_positions(args, numbers)
        token = _set_scope(CallScope())
        try:
            recording = _api._Recording(f, args, numbers, fname, labels=not scalar_output,
                                        guard=CompileGuard(fname), constant_inputs=constant_positions)
        finally:
            _reset_scope(token)
        if scalar_output and recording.output_shape != ():
            _api._check_scalar_output(recording, fname)
        if recording.nested:
            # f closes over a value traced by an outer transformation (grad of
            # x ↦ x·grad(y ↦ x·y, compile=True)(2)): a program would bake that value in as
            # a constant, and the outer derivative through it would be lost. Such a call is
            # recorded, not compiled, and nothing is cached for its signature.
            return _Entry(None, constant_positions, recording.output_shape)
        # A value that does not depend on the differentiated arguments has nothing to
        # replay: such calls take the uncompiled path (which gives the zero derivative).
        built = None if recording.output_node is None else build(recording)
        entry = _Entry(built, constant_positions, recording.output_shape)
        cache.put(signature, entry)
        return entry

    # The last signature a fast call served, when every argument is a float array:
    # (shapes, dtypes, entry, argnums, single).  One per compiled function, replaced whole
    # (an atomic assignment), so threads read either the old or the new one.
    shortcut = [None]

    def fast_by_shortcut(given):
        """The fast call for the arguments of the last fast call's signature, or None."""
        cut = shortcut[0]
        if cut is None or len(given) != len(cut[0]):
            return None
        for arg, shape, dtype in zip(given, cut[0], cut[1]):
            if type(arg) is not np.ndarray or arg.shape != shape or arg.dtype != dtype:
                return None
        return fast(cut[2].built, given, cut[3], cut[2].constant_positions, cut[4])

    @functools.wraps(f)
    def transformed(*given, **keywords):
        if keywords:
            raise TypeError(
                f"kronvec.{fname}(compile=True): the compiled function takes positional arguments only "
                f"(got the keyword arguments {sorted(keywords)}); pass them by position, bind them with "
                "functools.partial before compiling, or leave compile=False, which accepts them")
        if _current_scope.get() is not None:
            # Inside another transformation's call (f, or a pullback, being recorded): what f
            # closes over may be traced by it, as in x ↦ grad(y ↦ x·y, compile=True)(2.0) once
            # that signature is cached; a replay would use the first call's closure as a
            # constant and lose the outer derivative through it, silently. Recorded there, as
            # a traced argument is (the same numbers: replays equal uncompiled calls bit for bit).
            return uncompiled(*given)
        if fast is not None and split is None:
            result = fast_by_shortcut(given)
            if result is not None:
                return result
        for arg in given:
            if isinstance(arg, Node):  # inside another transformation: recorded there, not compiled
                return uncompiled(*given)
        args, extra = split(given) if split is not None else (given, None)
        normalized = argnums_by_count.get(len(args))
        if normalized is None:
            normalized = argnums_by_count[len(args)] = _api._normalize_argnums(argnums, len(args), fname)
        single, numbers = normalized
        signature = call_signature(args, numbers, fname)
        entry = cache.get(signature)
        if entry is None:
            entry = compile_for(args, numbers, signature)
        if entry.built is None:
            return uncompiled(*given)
        if fast is not None:
            result = fast(entry.built, args, numbers, entry.constant_positions, single)
            if result is not None:
                # (float arrays only: any other argument is static, keyed by its value)
                if split is None and all(type(arg) is np.ndarray and arg.dtype.kind == "f" for arg in args):
                    shortcut[0] = (tuple(arg.shape for arg in args), tuple(arg.dtype for arg in args),
                                   entry, numbers, single)
                return result
        # The checks of an uncompiled call, argument by argument (copies: inputs are never
        # modified, and nothing a replay returns aliases them).
        values = [_api._as_differentiable(args[k], k, f, fname) for k in numbers]
        for k in entry.constant_positions:
            _api._check_constant_argument(args[k], k, f, fname)
            values.append(np.array(args[k], copy=True))
        token = _set_scope(CallScope())
        try:
            return run(entry.built, Arguments(values, single, len(numbers), entry.output_shape), extra)
        finally:
            _reset_scope(token)

    transformed.cache = cache
    return transformed
