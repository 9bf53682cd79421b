"""What the adversarial sweeps of tests/sweeps share: a run's Result, vec, distances in
ulps, closeness, bitwise equality, central differences, a function of one argument, where
an exception was raised, whether an array owns its memory, the symmetric part."""
import traceback
from typing import NamedTuple

import numpy as np


class Result(NamedTuple):
    """What one run found: ``findings`` as (category, case name, message), the number of
    ``cases`` run and the wall-clock ``seconds`` it took."""

    findings: list
    cases: int
    seconds: float


def vec(a):
    return np.reshape(np.asarray(a), (-1,), order="F")


def ulps(a, b):
    """distance in units of the last place of b's dtype."""
    dt = np.asarray(b).dtype if np.asarray(b).dtype.kind == "f" else np.float64
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = np.abs(a - b)
    sp = np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(dt)).astype(np.float64)
    with np.errstate(all="ignore"):
        r = np.where(d == 0, 0.0, d / sp)
    return float(np.max(r)) if r.size else 0.0


def close(a, b, rtol, atol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def fd_dir(F, X, V, eps):
    """central difference of F along V (float64)."""
    return (np.asarray(F(X + eps * V), dtype=np.float64) - np.asarray(F(X - eps * V), dtype=np.float64)) / (2 * eps)


def fd_grad(Fs, X, eps):
    G = np.zeros(X.shape)
    for idx in np.ndindex(*X.shape):
        E = np.zeros(X.shape)
        E[idx] = 1.0
        G[idx] = float(fd_dir(Fs, X, E, eps))
    return G


def with_const(f, args, argnum):
    """f as a function of args[argnum] alone."""
    def g(x):
        a = list(args)
        a[argnum] = x
        return f(*a)
    return g


def where(e):
    tb = traceback.extract_tb(e.__traceback__)[-1]
    return f" @ {tb.filename.split('/')[-1]}:{tb.lineno}"


def owns(a):
    a = np.asarray(a)
    return a.base is None or not a.flags.writeable or a.size == 0


def sym(X):
    return (X + np.swapaxes(X, -1, -2)) / 2


def same_bits(a, b):
    """a and b equal bit for bit: shape, dtype, values, NaNs and the signs of zeros."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))) and np.all(np.signbit(a) == np.signbit(b)))
    return np.array_equal(a, b)
