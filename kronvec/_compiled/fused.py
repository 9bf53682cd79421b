"""The fused tier: a gradient program written out as one numba function.

:class:`~kronvec._compiled.program.GradientProgram` replays a recording as
straight-line Python; each operation still pays NumPy's and kronvec's
per-call overhead, which dominates small matrices.  :class:`FusedGradient`
writes the same program — the same operations, the same reverse order, the
same accumulation — as the source of one ``numba.njit`` function, for
programs made only of operations with a *fused form* here (the arithmetic
operators, ``tanh``/``exp``/``log``, 2-D ``matmul``, ``sum``, ``trace``,
``slogdet``, ``inv`` and ``solve`` of small float64 matrices).

What keeps it the same computation:

* **The same routines.**  LU, the inverse and every matrix product call the
  LAPACK/BLAS routines the operations' code calls, with the transpose flags
  NumPy derives from the same memory layouts (:mod:`.fused_kernels`); sums are
  NumPy's pairwise order, ln|det X| NumPy's slogdet's.  The memory layout of every
  value — C or Fortran order, a view like X⁻ᵀ or a new array — is read from a
  *probe*: the Python program run once at build time, whose values the fused
  code reproduces layout for layout.  Elementwise arithmetic is IEEE, entry by
  entry, in any order.  So results are bit for bit the Python replay's, except
  ``tanh``, ``exp`` and ``log``: numba calls the C library's, NumPy its own
  SIMD loops, which differ in the last bit of some entries (≤ 1 ulp each, both
  faithfully rounded) — the "1 ulp where fused" of ``notes/compile.md``.
* **The same checks.**  Where an operation's code would raise or warn — a
  singular matrix (a zero pivot), κ₁ above the warning threshold, a non-finite
  inverse, solution or quotient — the fused code raises :class:`FallBack` and
  the call runs the Python program instead, which raises or warns exactly as
  the uncompiled transformation does.
* **A self-check.**  A fused program is kept only if, at the recording's own
  point, it returns what the Python program returns (bit for bit, or to 1 ulp
  per transcendental entry as above); otherwise the program stays Python.

Anything else — another operation, broadcasting beyond a scalar, a vector, a
float32 matrix, a matrix above :data:`MAX_ORDER` — is :class:`NotFusable`:
the program simply stays Python.  Compiling a fused program takes numba a
second or so; :mod:`.gradient` does it in a background thread once a program
has been replayed often enough to be worth it.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from .._linalg.scope import CallScope
from .._linalg.scope import _current as _current_scope
from .._tracer import ancestors
from ..ops._support import identity_scale
from .program import ELIDABLE, _between

__all__ = ["FusedGradient", "FusedForward", "NotFusable", "MAX_ORDER", "FUSED_OPERATIONS", "TRANSCENDENTAL"]

#: The largest matrix a fused program holds: kronvec._linalg.factorization reads
#: sign and ln|det X| off the pivots in plain Python up to this order, and compiled
#: mode is for small problems.
MAX_ORDER = 16

#: Operations whose values NumPy computes with its own SIMD loops (not the C
#: library the fused code calls): results may differ in the last bit.
TRANSCENDENTAL = frozenset({"tanh", "exp", "log"})

#: The entrywise expressions of fused programs, for scalar operands (for matrices each is a
#: kernel of the same name in ``fused_kernels.ELEMENTWISE``): the IEEE operations NumPy
#: performs, in its order — tanh's VJP ḡ·(1 − y·y), a quotient's VJP in its divisor (−ḡ·y)/b,
#: log's ḡ·(1/x) (kronvec.ops.elementwise).
SCALAR_EXPRESSIONS = {
    "add": "{0} + {1}", "subtract": "{0} - {1}", "multiply": "{0} * {1}", "divide": "{0} / {1}",
    "negative": "-{0}", "tanh": "math.tanh({0})", "exp": "math.exp({0})", "log": "math.log({0})",
    "tanh_vjp": "{0} * (1.0 - {1} * {1})", "quotient_vjp": "(-{0} * {1}) / {2}", "log_vjp": "{0} * (1.0 / {1})",
}

#: The registry's operations with a fused form (of their impl and every VJP), by
#: registry name; tests/test_fused.py checks each name is registered.
FUSED_OPERATIONS = frozenset({"add", "subtract", "multiply", "true_divide", "negative", "transpose", "matmul",
                              "sum", "trace", "linalg.slogdet", "linalg.inv", "linalg.solve"}) | TRANSCENDENTAL


class NotFusable(Exception):
    """The program has an operation, or a value, without a fused form."""


class _Kind:
    """What a value of the program is, as the fused code holds it.

    ``"S"`` a float64 scalar; ``"A"`` a 2-D float64 array in `layout` ("C" or
    "F"); ``"I"`` a c·I made by ``scaled_identity`` (the fused code holds c).
    """

    __slots__ = ("kind", "shape", "layout", "python_float")

    def __init__(self, kind, shape=(), layout=None, python_float=False):
        self.kind, self.shape, self.layout = kind, shape, layout
        # (a scalar that is a Python float, not a NumPy one: ops.linalg._scaled returns
        # its matrix itself only for a Python float 1.0 — the same values, another buffer)
        self.python_float = python_float

    def __eq__(self, other):
        return (self.kind, self.shape, self.layout) == (other.kind, other.shape, other.layout)

    def __repr__(self):
        return f"_Kind({self.kind!r}, {self.shape}, {self.layout!r})"


def _kind_of(value):
    """The kind of a Python value of the program, or NotFusable."""
    if identity_scale(value) is not None:
        return _Kind("I", value.shape)
    if type(value) is float or type(value) is np.float64:
        return _Kind("S", python_float=type(value) is float)
    if type(value) is int and abs(value) < 2 ** 53:  # (exactly a float64, as NumPy converts it)
        return _Kind("S")
    if type(value) is np.ndarray and value.dtype == np.float64:
        if value.ndim == 0:
            return _Kind("S")
        if value.ndim == 2 and min(value.shape) >= 2 and max(value.shape) <= MAX_ORDER:
            flags = value.flags
            if flags.c_contiguous:
                return _Kind("A", value.shape, "C")
            if flags.f_contiguous:
                return _Kind("A", value.shape, "F")
    raise NotFusable(f"a value of type {type(value).__name__} {getattr(value, 'shape', '')} "
                     f"{getattr(value, 'dtype', '')}")


class _Source:
    """The lines of the fused function, and fresh local names."""

    def __init__(self):
        self.lines = []
        self._count = 0

    def name(self, stem):
        self._count += 1
        return f"{stem}_{self._count}"

    def emit(self, line):
        self.lines.append("    " + line)


class _Writer:
    """Writes the fused forms of the operations, one value at a time.

    Each method takes the names and kinds of its operands and the kind the
    probe saw for its result, and returns the name holding that result.
    """

    def __init__(self, source):
        self.source = source
        self.factorizations = {}  # parent value's name → (factors, pivots) names
        self.inverses = {}        # parent value's name → the inverse's name

    # ------------------------------------------------------------ helpers
    def array(self, name, kind):
        """An "I" value as the array ``scaled_identity`` made; others as they are."""
        if kind.kind == "I":
            array = self.source.name("eye")
            self.source.emit(f"{array} = scaled_eye({kind.shape[0]}, {name})")
            return array, _Kind("A", kind.shape, "C")
        return name, kind

    def elementwise(self, operation, operands, result):
        """The entrywise `operation` (a key of ``fused_kernels.ELEMENTWISE``) of the operands,
        a new value of kind `result`: its kernel writing an array allocated in the layout
        NumPy gives, or for scalars the same expression inline."""
        if result.kind == "S":
            if any(kind.kind != "S" for _, kind in operands):
                raise NotFusable("a scalar result of array operands")
            out = self.source.name("s")
            self.source.emit(f"{out} = {SCALAR_EXPRESSIONS[operation].format(*[name for name, _ in operands])}")
            return out
        if result.kind != "A":
            raise NotFusable("an elementwise result that is not an array")
        for _, kind in operands:
            if kind.kind == "A" and kind.shape != result.shape:
                raise NotFusable("broadcasting between arrays")
            if kind.kind == "I":
                raise NotFusable("an elementwise operand c·I")  # (materialized by the caller)
        out = self.source.name("a")
        arguments = ", ".join(name for name, _ in operands)
        self.source.emit(f"{out} = ew_{operation}({arguments}, {self._allocation(result)})")
        return out

    @staticmethod
    def _allocation(kind):
        """A new array of `kind`'s shape in its layout (Fortran order as the transpose of a C one)."""
        m, n = kind.shape
        return f"np.empty(({m}, {n}))" if kind.layout == "C" else f"np.empty(({n}, {m})).T"

    def checked_finite(self, name, kind, why):
        test = f"not math.isfinite({name})" if kind.kind == "S" else f"not all_finite({name})"
        self.source.emit(f"if {test}:")
        self.source.emit(f"    raise FallBack({why!r})")
        return name

    def product(self, a, b, result):
        """a @ b by dgemm, as NumPy's matmul calls it."""
        if result.kind != "A" or result.layout != "C":
            raise NotFusable("a matrix product NumPy did not write C-ordered")
        out = self.source.name("p")
        self.source.emit(f"{out} = gemm({a}, {b}, np.empty({result.shape}))")
        return out

    def factorization(self, X):
        if X not in self.factorizations:
            factors, pivots, info = (self.source.name(stem) for stem in ("lu", "piv", "info"))
            self.source.emit(f"{factors}, {pivots}, {info} = lu_factor({X})")
            self.source.emit(f"if {info} > 0:")
            self.source.emit("    raise FallBack('singular')")
            self.factorizations[X] = (factors, pivots)
        return self.factorizations[X]

    def inverse(self, X):
        """X⁻¹ (Fortran-ordered, as f2py returns getri's result) with Factorization's checks."""
        if X not in self.inverses:
            factors, pivots = self.factorization(X)
            inverse = self.source.name("inv")
            self.source.emit(f"{inverse} = lu_inverse({factors}, {pivots})")
            self.source.emit(f"kappa = one_norm({X}) * one_norm({inverse})")
            self.source.emit("if not math.isfinite(kappa) or kappa > threshold:")
            self.source.emit("    raise FallBack('ill-conditioned or numerically singular')")
            self.inverses[X] = inverse
        return self.inverses[X]

    def scaled(self, c, A, A_kind, result, unit=True):
        """``_scaled(c, A)`` of kronvec.ops: A itself (a view) when c is 1 and `unit`, else
        c·A — the same values either way, in the same layout."""
        if result.kind != "A" or result.layout != A_kind.layout:
            raise NotFusable("a scaled view in another layout")
        if not unit:
            return self.elementwise("multiply", [(c, _Kind("S")), (A, A_kind)], result)
        # c·A only when it is used: the unit cotangent (the common case) takes A itself
        out = self.source.name("sc")
        self.source.emit(f"if {c} == 1.0:")
        self.source.emit(f"    {out} = {A}")
        self.source.emit("else:")
        self.source.emit(f"    {out} = ew_multiply({c}, {A}, {self._allocation(result)})")
        return out

    def unbroadcast(self, g, g_kind, shape):
        """``unbroadcast(g, shape)`` for an array g and a scalar operand."""
        if shape == g_kind.shape:
            return g, g_kind
        if shape != ():
            raise NotFusable("broadcasting other than of a scalar")
        if g_kind.kind == "S":
            return g, g_kind
        g, g_kind = self.array(g, g_kind)
        if g_kind.layout != "C":
            raise NotFusable("a sum over a Fortran-ordered cotangent")
        columns, total = self.source.name("col"), self.source.name("s")
        self.source.emit(f"{columns} = sum_axis0({g})")
        self.source.emit(f"{total} = sum_all({columns})")
        return total, _Kind("S")


def _elementwise_kind(shape, operand_kinds):
    """The kind NumPy gives an elementwise result of array operands: Fortran-ordered when
    every array operand is (and none is C-ordered), else C-ordered ("K" order)."""
    layouts = {kind.layout for kind in operand_kinds if kind.kind == "A"}
    return _Kind("A", shape, "F" if layouts == {"F"} else "C")


def _transpose_kind(kind):
    return _Kind("A", kind.shape[::-1], {"C": "F", "F": "C"}[kind.layout])


# --------------------------------------------------------------- forward forms
def _forward(writer, name, operands, params, result):
    """The fused form of one operation's impl; returns the result's name."""
    if name not in FUSED_OPERATIONS:
        raise NotFusable(f"no fused form of {name}")
    kinds = [kind for _, kind in operands]
    binary = {"add": "add", "subtract": "subtract", "multiply": "multiply", "true_divide": "divide"}
    if name in binary:
        out = writer.elementwise(binary[name], operands, result)
        return writer.checked_finite(out, result, "a quotient overflowed") if name == "true_divide" else out
    if name == "negative":
        return writer.elementwise("negative", operands, result)
    if name in TRANSCENDENTAL:
        out = writer.elementwise(name, operands, result)
        return out if name == "tanh" else writer.checked_finite(out, result, f"{name} left its domain")
    if name == "transpose":
        X, kind = operands[0]
        if kind.kind != "A" or params.get("axes") not in (None, (1, 0)) or result != _transpose_kind(kind):
            raise NotFusable("a transpose other than of a matrix")
        out = writer.source.name("t")
        writer.source.emit(f"{out} = {X}.T")  # (a view, as ndarray.transpose gives)
        return out
    if name == "matmul":
        if kinds[0].kind != "A" or kinds[1].kind != "A":
            raise NotFusable("matmul of other than two matrices")
        return writer.product(operands[0][0], operands[1][0], result)
    if name == "sum":
        if params.get("axis") is not None or params.get("keepdims") or kinds[0].kind != "A":
            raise NotFusable("a sum along an axis")
        X, kind = operands[0]
        out = writer.source.name("s")
        writer.source.emit(f"{out} = sum_all({X if kind.layout == 'C' else X + '.T'})")  # (memory order)
        return out
    if name == "trace":
        X, kind = operands[0]
        if kind.kind != "A" or kind.shape[0] != kind.shape[1]:
            raise NotFusable("a trace of other than a square matrix")
        out = writer.source.name("s")
        # (ops.linalg._trace_impl: NumPy's add.reduce of the diagonal, its pairwise order)
        writer.source.emit(f"{out} = pairwise_sum(np.diag({X}), 0, {kind.shape[0]})")
        return out
    if name in ("linalg.slogdet", "linalg.inv", "linalg.solve"):
        X, kind = operands[0]
        if kind.kind != "A" or kind.shape[0] != kind.shape[1]:
            raise NotFusable(f"{name} of other than a square matrix")
        if name == "linalg.slogdet":
            factors, pivots = writer.factorization(X)
            out = writer.source.name("s")
            writer.source.emit(f"_, {out} = log_abs_determinant({factors}, {pivots})")
            return out
        inverse = writer.inverse(X)
        if name == "linalg.inv":
            if result.layout != "F":
                raise NotFusable("an inverse NumPy did not give Fortran-ordered")
            return inverse
        B, B_kind = operands[1]
        if B_kind.kind != "A":
            raise NotFusable("solve with a vector right-hand side")
        # Factorization.solve with several right-hand sides: X⁻¹B by the inverse, then the finite check
        out = writer.product(inverse, B, result)
        return writer.checked_finite(out, result, "a solution overflowed")
    raise NotFusable(f"no fused form of {name}")


# ------------------------------------------------------------------ VJP forms
def _vjp(writer, name, position, g, g_kind, ans, ans_kind, operands, params, result):
    """The fused form of one VJP: returns the cotangent's name."""
    kinds = [kind for _, kind in operands]
    mine = kinds[position]
    if name in ("add", "subtract"):
        if name == "subtract" and position == 1:
            g, g_kind = writer.array(g, g_kind)
            g = writer.elementwise("negative", [(g, g_kind)], _negated_kind(g_kind, result))
            g_kind = _negated_kind(g_kind, result)
        out, _ = writer.unbroadcast(g, g_kind, mine.shape)
        return out
    if name == "multiply":
        g, g_kind = writer.array(g, g_kind)
        other = operands[1 - position]
        product_kind = (result if mine.shape == g_kind.shape or g_kind.kind == "S"
                        else _elementwise_kind(g_kind.shape, [g_kind, other[1]]))
        product = writer.elementwise("multiply", [(g, g_kind), other], product_kind)
        out, _ = writer.unbroadcast(product, product_kind, mine.shape)
        return out
    if name == "true_divide":
        g, g_kind = writer.array(g, g_kind)
        b = operands[1]
        if position == 0:
            quotient_kind = result if mine.shape == g_kind.shape else _elementwise_kind(g_kind.shape, [g_kind, b[1]])
            quotient = writer.elementwise("divide", [(g, g_kind), b], quotient_kind)
        else:
            quotient_kind = (result if mine.shape == g_kind.shape
                             else _elementwise_kind(g_kind.shape, [g_kind, ans_kind, b[1]]))
            quotient = writer.elementwise("quotient_vjp", [(g, g_kind), (ans, ans_kind), b], quotient_kind)
        writer.checked_finite(quotient, quotient_kind, "a derivative of a quotient overflowed")
        out, _ = writer.unbroadcast(quotient, quotient_kind, mine.shape)
        return out
    if name == "negative":
        g, g_kind = writer.array(g, g_kind)
        return writer.elementwise("negative", [(g, g_kind)], result)
    if name == "transpose":
        g, g_kind = writer.array(g, g_kind)
        if result != _transpose_kind(g_kind):
            raise NotFusable("a transposed cotangent in another layout")
        out = writer.source.name("t")
        writer.source.emit(f"{out} = {g}.T")
        return out
    if name in TRANSCENDENTAL:
        g, g_kind = writer.array(g, g_kind)
        if name == "tanh":
            return writer.elementwise("tanh_vjp", [(g, g_kind), (ans, ans_kind)], result)
        if name == "exp":
            return writer.elementwise("multiply", [(g, g_kind), (ans, ans_kind)], result)
        out = writer.elementwise("log_vjp", [(g, g_kind), operands[0]], result)
        return writer.checked_finite(out, result, "the derivative of log overflowed")
    if name == "matmul":
        a, b = operands
        if g_kind.kind == "I":  # (c·I)Bᵀ = c·Bᵀ and Aᵀ(c·I) = c·Aᵀ (kronvec.ops.products)
            other, other_kind = b if position == 0 else a
            return writer.scaled(g, other + ".T", _transpose_kind(other_kind), result)
        if position == 0:
            return writer.product(g, b[0] + ".T", result)
        return writer.product(a[0] + ".T", g, result)
    if name == "sum":
        out = writer.source.name("a")
        m, n = mine.shape
        if result != _Kind("A", (m, n), "C"):
            raise NotFusable("a sum's cotangent in another layout")
        writer.source.emit(f"{out} = np.full(({m}, {n}), {g})")
        return out
    if name == "trace":
        if g_kind.kind != "S":
            raise NotFusable("a trace's cotangent that is not a scalar")
        return g  # c·I, held as c
    if name == "linalg.slogdet":
        inverse = writer.inverse(operands[0][0])
        return writer.scaled(g, inverse + ".T", _Kind("A", mine.shape, "C"), result, unit=g_kind.python_float)
    if name == "linalg.inv":
        g, g_kind = writer.array(g, g_kind)
        inner_kind = _Kind("A", g_kind.shape, "C")
        inner = writer.product(ans + ".T", g, inner_kind)
        outer = writer.product(inner, ans + ".T", inner_kind)
        return writer.elementwise("negative", [(outer, inner_kind)], result)
    if name == "linalg.solve":
        A = operands[0][0]
        inverse = writer.inverse(A)
        n = mine.shape[0] if position == 0 else operands[0][1].shape[0]
        transposed_kind = _Kind("A", (n, n), "C")
        if g_kind.kind == "I":  # A⁻ᵀ(c·I) = c·A⁻ᵀ without a solve (ops.linalg._solve_transposed)
            B_bar_kind = transposed_kind
            B_bar = writer.scaled(g, inverse + ".T", transposed_kind, transposed_kind)
        else:
            B_bar_kind = _Kind("A", g_kind.shape, "C")
            B_bar = writer.checked_finite(writer.product(inverse + ".T", g, B_bar_kind), B_bar_kind,
                                          "a solution overflowed")
        if position == 1:
            if B_bar_kind != result:
                raise NotFusable("a solve's cotangent in another layout")
            return B_bar
        product_kind = _Kind("A", mine.shape, "C")
        product = writer.product(B_bar, ans + ".T", product_kind)
        return writer.elementwise("negative", [(product, product_kind)], result)
    raise NotFusable(f"no fused form of the derivative of {name}")


def _negated_kind(g_kind, result):
    return _Kind("S") if g_kind.kind == "S" else _Kind("A", g_kind.shape, g_kind.layout)


def _add(writer, left, left_kind, right, right_kind, result):
    """``operator.add`` of two cotangents (the sweep's accumulation)."""
    left, left_kind = writer.array(left, left_kind)
    right, right_kind = writer.array(right, right_kind)
    return writer.elementwise("add", [(left, left_kind), (right, right_kind)], result)


# ---------------------------------------------------------------- the program
class FusedGradient:
    """One recording's forward values and reverse sweep as one numba function.

    Built from the same recording, inputs and order as
    :class:`~kronvec._compiled.program.GradientProgram`; raises
    :class:`NotFusable` when an operation or a value has no fused form.

    Attributes
    ----------
    source : str
        The generated source.
    transcendental : bool
        Whether the program evaluates tanh, exp or log (results within 1 ulp per
        entry of NumPy's there, bit for bit elsewhere).
    input_layouts : tuple of str
        "C" or "F" for each input: the memory order the program was written for.
    run : callable
        ``run(threshold, seed, *input_values)`` → ``(output value, cotangents)``,
        compiled on first use (or by :meth:`compile`); raises
        :class:`~.fused_kernels.FallBack` where the Python program must run.
    """

    def __init__(self, recording, inputs, differentiated):
        nodes = recording.nodes
        output = recording.output_node
        self._differentiated = differentiated
        probe = _probe(recording, inputs, differentiated)
        forward = _ForwardValues(recording, inputs)
        writer, names, kinds, constants = forward.writer, forward.names, forward.kinds, forward.constants
        self.input_layouts, self.transcendental = forward.input_layouts, forward.transcendental

        relevant = _between(nodes, output, [node._index for node in inputs[:differentiated]])
        cotangents = {output._index: "seed"}
        cotangent_kinds = {output._index: _Kind("S", python_float=True)}  # (GradientProgram's seed, 1.0)
        for node in reversed(nodes[: output._index + 1]):
            i = node._index
            if node._op is None or i not in relevant:
                continue
            operands = _operands(node, names, kinds, constants)
            for position, parent in node._parents:
                j = parent._index
                if j not in relevant:
                    continue
                contribution_kind, accumulated_kind = probe[(i, position)]
                contribution = _vjp(writer, node._op.name, position, cotangents[i], cotangent_kinds[i],
                                    names[i], kinds[i], operands, node._params, contribution_kind)
                if j in cotangents:
                    cotangents[j] = _add(writer, cotangents[j], cotangent_kinds[j], contribution,
                                         contribution_kind, accumulated_kind)
                    cotangent_kinds[j] = accumulated_kind
                else:
                    cotangents[j], cotangent_kinds[j] = contribution, contribution_kind
        returned = []
        # A non-finite value or gradient (an overflow NumPy would have warned about on the way)
        # takes the Python program, whose warnings and errors are the uncompiled call's.
        writer.checked_finite(names[output._index], _Kind("S"), "a non-finite value")
        for node in inputs[:differentiated]:
            name = cotangents.get(node._index)
            if name is None:
                raise NotFusable("an input the output does not depend on")
            name, kind = writer.array(name, cotangent_kinds[node._index])
            writer.checked_finite(name, kind, "a non-finite gradient")
            returned.append(f"{name}.copy()" if kind.kind == "A" else name)  # (gradients own their memory)
        self.source = forward.function("fused(threshold, seed", f"{names[output._index]}, ({', '.join(returned)},)")
        self._namespace = constants
        self._run = None

    def compile(self):
        """Compile the fused function (a second or so of numba); returns it."""
        if self._run is None:
            self._run = _compiled(self.source, self._namespace, "fused")
        return self._run

    def run(self, threshold, seed, *values):
        return self.compile()(threshold, seed, *values)


class _ForwardValues:
    """The forward values of a recording written out: the fused forms of its operations in
    order (:func:`_forward`), each value's name and kind, and the constants bound by value."""

    def __init__(self, recording, inputs):
        self.source = _Source()
        self.writer = _Writer(self.source)
        self.inputs = inputs
        self.names = {node._index: f"v{node._index}" for node in inputs}
        self.kinds = {node._index: _input_kind(node._value) for node in inputs}
        # The layouts the probe saw decide every later layout (and so BLAS's flags): the
        # program serves arguments in these layouts, and hands others to the Python program.
        self.input_layouts = tuple(self.kinds[node._index].layout for node in inputs)
        self.constants = {}
        self.transcendental = False
        self.operations = set()
        needed = ancestors(recording.output_node)
        for node in recording.nodes:
            if node._op is None:
                continue
            if node._index not in needed and node._op.name in ELIDABLE:
                continue
            operands = _operands(node, self.names, self.kinds, self.constants)
            result = _kind_of(node._value)
            name = node._op.name
            self.operations.add(name)
            self.transcendental |= name in TRANSCENDENTAL
            self.names[node._index] = _forward(self.writer, name, operands, node._params, result)
            self.kinds[node._index] = result

    def function(self, head, returned):
        """The source of the function ``def {head}, v…):`` that checks its arguments, computes
        the values and returns `returned`."""
        parameters = ", ".join(f"v{node._index}" for node in self.inputs)
        header = f"def {head}, {parameters}):"
        # The uncompiled transformation refuses non-finite arguments: the Python program's path says so.
        checks = [f"    if not all_finite(v{node._index}):\n        raise FallBack('a non-finite argument')"
                  for node in self.inputs]
        body = checks + self.source.lines + [f"    return {returned}"]
        return "\n".join([header] + body) + "\n"


def _compiled(source, constants, function):
    """The function named `function` in `source`, compiled by numba with the fused kernels in scope."""
    from numba import njit

    from . import fused_kernels

    namespace = dict(constants)
    namespace.update({name: getattr(fused_kernels, name) for name in fused_kernels.__all__})
    namespace.update({f"ew_{name}": kernel for name, kernel in fused_kernels.ELEMENTWISE.items()})
    namespace.update(np=np, math=math)
    exec(compile(source, "<kronvec fused program>", "exec"), namespace)  # noqa: S102
    # error_model="numpy": IEEE results (inf, nan) for scalar division, as NumPy gives
    return njit(error_model="numpy", cache=False)(namespace[function])


class FusedForward:
    """Some forward values of one recording, computed by one numba function.

    The forward part of :class:`FusedGradient` (the same operations, layouts and
    checks), returning the values of the nodes `wanted` instead of a gradient:
    what a compiled Jacobian's operators hold (:mod:`.jacobian`).  Each returned
    value is checked finite (else :class:`~.fused_kernels.FallBack`: the Python
    replay decides what a non-finite value means).

    Attributes
    ----------
    operations : set of str
        The registry names of the operations the program evaluates.
    run : callable
        ``run(threshold, *input_values)`` → the tuple of the wanted values.
    """

    def __init__(self, recording, inputs, wanted):
        forward = _ForwardValues(recording, inputs)
        self.operations, self.input_layouts, self.transcendental = (forward.operations, forward.input_layouts,
                                                                    forward.transcendental)
        returned = []
        for index in wanted:
            kind = forward.kinds.get(index)
            if kind is None or kind.kind != "A":
                raise NotFusable("a wanted value that is not a matrix")
            forward.writer.checked_finite(forward.names[index], kind, "a non-finite value")
            returned.append(forward.names[index])
        self.source = forward.function("forward(threshold", f"({', '.join(returned)},)")
        self._namespace = forward.constants
        self._run = None

    def compile(self):
        """Compile the function (a second or so of numba); returns it."""
        if self._run is None:
            self._run = _compiled(self.source, self._namespace, "forward")
        return self._run


def _input_kind(value):
    kind = _kind_of(value)
    if kind.kind != "A":
        raise NotFusable("an input that is not a matrix")
    return kind


def _operands(node, names, kinds, constants):
    """(name, kind) of each argument of `node`: earlier values, or constants bound by value."""
    parent_at = dict(node._parents)
    operands = []
    for position, value in enumerate(node._args):
        parent = parent_at.get(position)
        if parent is not None:
            operands.append((names[parent._index], kinds[parent._index]))
            continue
        name = f"k{node._index}_{position}"
        kind = _kind_of(value)
        if kind.kind == "I":
            raise NotFusable("a constant c·I")
        if kind.kind == "S":
            constants[name] = float(value)
        else:
            constants[name] = np.array(value, order=kind.layout)  # (numba freezes it into the program)
            constants[name].flags.writeable = False
        operands.append((name, kind))
    return operands


def _probe(recording, inputs, differentiated):
    """The kind of each VJP's result and of each accumulated cotangent, from one Python
    run of the reverse sweep in GradientProgram's order, in a call scope of its own."""
    nodes = recording.nodes
    output = recording.output_node
    relevant = _between(nodes, output, [node._index for node in inputs[:differentiated]])
    seen = {}
    token = _current_scope.set(CallScope())
    try:
        cotangents = {output._index: 1.0}
        for node in reversed(nodes[: output._index + 1]):
            i = node._index
            if node._op is None or i not in relevant:
                continue
            values = node._args  # (a parent's value, or the constant captured by value)
            for position, parent in node._parents:
                j = parent._index
                if j not in relevant:
                    continue
                contribution = node._op.vjps[position](cotangents[i], node._value, *values, **node._params)
                contribution_kind = _kind_of(contribution)
                if j in cotangents:
                    cotangents[j] = operator.add(cotangents[j], contribution)
                else:
                    cotangents[j] = contribution
                seen[(i, position)] = (contribution_kind, _kind_of(cotangents[j]))
            cotangents[i] = None
    finally:
        _current_scope.reset(token)
    return seen
