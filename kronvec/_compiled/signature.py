"""What a compiled program is specialised to: the signature of a call.

A program replays one recording, so it is valid for calls that would record
the same operations: the same shapes and dtypes of the differentiated
arguments and of the constant float arrays (recorded as inputs, so their
values may change), and the same value of every other argument (an integer
array used as an index, a number, a string, a tuple of settings) — these
*static* arguments decide what the function records, as ``static_argnums``
do in ``jax.jit``.  Static values are keyed by value, never by identity.
"""

from __future__ import annotations

import functools
import types

import numpy as np

__all__ = ["call_signature", "traced_constant_positions"]


def traced_constant_positions(args, argnums):
    """Positions of the arguments, not differentiated, that are recorded as
    inputs of the program: float arrays (their values may change between calls)."""
    return tuple(k for k, arg in enumerate(args)
                 if k not in argnums and type(arg) is np.ndarray and arg.dtype.kind == "f")


def call_signature(args, argnums, transformation):
    """A hashable key: equal for two calls one compiled program serves."""
    key = []
    for k, arg in enumerate(args):
        if k in argnums:
            key.append(_array_facts(arg))
        elif type(arg) is np.ndarray:
            if arg.dtype.kind == "f":
                key.append(("constant", arg.shape, arg.dtype.str))
            else:  # an index, a mask, counts: static, by value
                key.append(("static", arg.shape, arg.dtype.str, arg.tobytes()))
        else:
            key.append(_static_value(arg, k, transformation))
    return tuple(key)


def _array_facts(arg):
    if type(arg) is np.ndarray:
        return (arg.shape, arg.dtype.str)
    if type(arg) in (float, int):
        return (type(arg),)
    array = np.asarray(arg)  # a list or a NumPy scalar: what the recording would see
    return (type(arg), array.shape, array.dtype.str)


def _value_key(arg):
    """`arg` as a key equal only for values a function cannot tell apart: with its type
    (True == 1 and (True, False) == (1, 0), yet x[np.array(key)] is a mask for one and
    a gather for the other) and its floats by their bits (−0.0 == 0.0, yet copysign and
    1/x tell them apart), inside tuples too."""
    kind = type(arg)
    if kind is float or kind is complex or isinstance(arg, (np.floating, np.complexfloating)):
        return (kind, np.asarray(arg).tobytes())
    if kind is tuple:
        return (kind, tuple(_value_key(item) for item in arg))
    if kind is frozenset:
        return (kind, frozenset(_value_key(item) for item in arg))
    hash(arg)  # (a TypeError for what cannot key a program)
    if kind.__hash__ is object.__hash__ and kind.__eq__ is object.__eq__ and not isinstance(arg, _BY_IDENTITY):
        # an instance compared by identity: the same object with other attribute values
        # would replay the first recording
        raise TypeError(f"a {kind.__name__} instance compares by identity, not by value")
    return (kind, arg)


# Objects compared by identity that are what they are (a function, a class, a module): keys.
_BY_IDENTITY = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type, types.ModuleType,
                functools.partial, type(None), type(Ellipsis), np.ufunc)


def _static_value(arg, position, transformation):
    try:
        return ("static", _value_key(arg))
    except TypeError as error:
        raise TypeError(
            f"kronvec.{transformation}(compile=True): argument {position} is a {type(arg).__name__}, "
            f"which cannot key a compiled program ({error}). Arguments that are not differentiated are "
            "static (the program is compiled for their value): pass a tuple, a number, a string, a "
            "frozen dataclass or a NumPy array instead"
        ) from None
