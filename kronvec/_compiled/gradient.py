"""``grad`` and ``value_and_grad`` with ``compile=True``: a straight-line program per signature.

The first call with a new signature records ``f`` and writes the recording out
as a :class:`~.program.GradientProgram`; later calls replay it.  Results are
the uncompiled transformation's, bit for bit.

A program whose operations all have fused forms (:mod:`.fused`) has a second
tier: once it has been replayed :data:`FUSE_AFTER_REPLAYS` times, a
background thread compiles it into one numba function, checks it against the
Python program at the recording's point, and from then on calls take the
fused function.  Where a fused call meets anything the operations' own code
would act on (a singular or ill-conditioned matrix, a non-finite value), it
runs the Python program instead, which raises or warns as always.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from .. import api as _api
from .._config import condition_threshold
from .._linalg.scope import CallScope
from .._linalg.scope import _current as _current_scope
from .program import GradientProgram
from .transform import PROGRAMS_PER_FUNCTION, compiled_transform

__all__ = ["compiled_gradient", "PROGRAMS_PER_FUNCTION", "FUSE_AFTER_REPLAYS"]

#: Python replays of one program before its fused form is compiled (numba takes
#: about a second, in a background thread; a program called fewer times is not worth it).
FUSE_AFTER_REPLAYS = 16

_FLOAT64 = np.dtype(np.float64)


def compiled_gradient(f, argnums, fname, with_value, uncompiled):
    """The compiled form of ``grad(f, argnums)`` / ``value_and_grad(f, argnums)``."""

    def build(recording):
        inputs = recording.inputs + recording.constant_inputs
        return TieredProgram(GradientProgram(recording, inputs, len(recording.inputs)),
                             _fused_form(recording, inputs), [node._value for node in inputs])

    def run(program, arguments, extra):
        seed = _api.gradient_seed(arguments.output_shape, program.python.float32_output)
        output, cotangents = program.python.run(seed, *arguments.values)
        returned = []
        for ct, value in zip(cotangents, arguments.values):
            returned.append(_api._Recording._shaped_like_input(ct, _InputValue(value), returned))
        gradients = returned[0] if arguments.single else tuple(returned)
        if not with_value:
            return gradients
        return (output if isinstance(output, np.floating) else _api._scalar_value(output)), gradients

    def fast(program, args, numbers, constant_positions, single):
        fused = program.fused_run()
        if fused is None:
            return None
        values = []
        layouts = program.fused.input_layouts
        for position, k in enumerate((*numbers, *constant_positions)):
            arg = args[k]
            if type(arg) is not np.ndarray or arg.dtype != _FLOAT64:
                return None  # (the fused function was written for float64 arrays)
            if position < len(numbers):
                # The uncompiled call computes on a C-ordered copy of a differentiated argument
                # (api._as_differentiable); the fused one on the argument itself, or the same copy.
                values.append(arg if arg.flags.c_contiguous else np.ascontiguousarray(arg))
                continue
            flags = arg.flags  # a constant array keeps its layout, which decided the program's
            if not (flags.c_contiguous if layouts[position] == "C" else flags.f_contiguous):
                return None
            values.append(arg)
        if len(values) > 1:
            # The uncompiled call copies each argument, so no two of its operands share memory
            # (NumPy multiplies one buffer by its own transpose by syrk, others by gemm).
            for i in range(1, len(values)):
                for j in range(i):
                    if np.may_share_memory(values[i], values[j]):
                        values[i] = values[i].copy(order="K")
        threshold = condition_threshold(_FLOAT64)
        try:
            output, cotangents = fused(math.inf if threshold is None else threshold, 1.0, *values)
        except program.fall_back:
            return None
        gradients = cotangents[0] if single else cotangents
        return (np.float64(output), gradients) if with_value else gradients

    return compiled_transform(f, argnums, fname, build, run, uncompiled, scalar_output=True, fast=fast)


def _fused_form(recording, inputs):
    """The recording's :class:`~.fused.FusedGradient` (a program of matrices) or
    :class:`~.fused_stacks.FusedStackGradient` (a member-wise program of stacks), or None."""
    if any(type(node._value) is not np.ndarray for node in inputs):
        return None
    if all(node._value.ndim == 2 for node in inputs):
        from .fused import FusedGradient, NotFusable  # (only for programs of matrices)

        try:
            return FusedGradient(recording, inputs, len(recording.inputs))
        except NotFusable:
            return None
    if any(node._value.ndim >= 3 for node in inputs[:len(recording.inputs)]):
        from .fused import NotFusable
        from .fused_stacks import FusedStackGradient  # (only for programs of stacks)

        try:
            return FusedStackGradient(recording, inputs, len(recording.inputs))
        except NotFusable:
            return None
    return None


class TieredProgram:
    """A gradient program in Python, and its fused form once compiled and checked.

    Thread-safe: the replay count and the state change under a lock, the
    compiled function is published by one attribute assignment, and programs
    are otherwise immutable.
    """

    __slots__ = ("python", "fused", "_check_values", "_replays", "_state", "_run", "_lock", "_done",
                 "fall_back")

    def __init__(self, python, fused, check_values):
        self.python = python
        self.fused = fused
        self._check_values = check_values if fused is not None else None
        self._replays = 0
        self._state = "python" if fused is not None else "declined"
        self._run = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.fall_back = ()  # (the exception class, once fused_kernels is imported)
        if fused is None:
            self._done.set()

    def fused_run(self):
        """The fused function, or None (counting a replay, compiling in the background in time)."""
        run = self._run
        if run is not None or self._state == "declined":
            return run
        start = False
        with self._lock:
            self._replays += 1
            if self._state == "python" and self._replays >= FUSE_AFTER_REPLAYS:
                self._state, start = "compiling", True
        if start:
            threading.Thread(target=self._compile, name="kronvec fused compile").start()
        return None

    def fuse(self):
        """Compile and check the fused form now (or wait for the compile under way);
        returns whether calls now use it."""
        with self._lock:
            claimed = self._state == "python"
            if claimed:
                self._state = "compiling"
        if claimed:
            self._compile()
        self._done.wait()
        return self._run is not None

    def _compile(self):
        """Compile and check, once per program (the caller has set the state to "compiling")."""
        run = None
        try:
            run = self._checked()
        except Exception:  # noqa: BLE001 - any failure to fuse leaves the Python program, which is right
            run = None
        finally:
            if run is not None:
                self._run = run
            with self._lock:
                self._state = "fused" if run is not None else "declined"
                self._check_values = None
            self._done.set()

    def wait(self, timeout=None):
        """Wait for a background compile to finish; returns whether calls use the fused form."""
        self._done.wait(timeout)
        return self._run is not None

    def _checked(self):
        """The compiled fused function, if at the recording's point it returns what the Python
        program returns: bit for bit, or — with tanh, exp or log, whose last bit NumPy's SIMD
        loops and the C library may round differently, differences later operations carry — to
        within 1e-12 of the largest entry (a wrong formula or layout is off by far more)."""
        from .fused_kernels import FallBack

        run = self.fused.compile()
        values = self._check_values
        threshold = condition_threshold(_FLOAT64)
        threshold = math.inf if threshold is None else threshold
        try:
            output, cotangents = run(threshold, 1.0, *values)
        except FallBack:
            return None  # (the recording's point is one the Python program must handle)
        token = _current_scope.set(CallScope())
        try:
            with np.errstate(all="ignore"):  # (a check in the background prints nothing: NumPy's state is this thread's)
                expected_output, expected = self.python.run(1.0, *values)
        finally:
            _current_scope.reset(token)
        own_check = getattr(self.fused, "agree", None)  # (a stack program: its own tolerance, fused_stacks)
        if own_check is not None:
            if not own_check(run, values, threshold, expected_output, expected):
                return None
        else:
            agree = _agree if self.fused.transcendental else _identical
            if not agree(output, expected_output) or not all(map(agree, cotangents, expected)):
                return None
        self.fall_back = FallBack
        return run


def _identical(got, expected):
    return expected is not None and np.array_equal(np.asarray(got), np.asarray(expected))


def _agree(got, expected):
    if expected is None:
        return False
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return got.shape == expected.shape and bool(np.all(np.abs(got - expected) <= 1e-12 * scale))


class _InputValue:
    """What ``_Recording._shaped_like_input`` reads of an input node: its value."""

    __slots__ = ("_value",)

    def __init__(self, value):
        self._value = value
