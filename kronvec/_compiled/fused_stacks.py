"""The fused stack tier: a member-wise gradient program as one numba ``prange`` loop.

Many objectives over a stack of matrices (…, m, n) are *member-wise*: every
operation maps member k of its operands to member k of its result (batched
``inv``, ``slogdet``, ``solve``, ``matmul``, the last-two-axes transpose,
elementwise arithmetic, per-member contractions such as ``'kij,kji->k'``),
and the value is a sum over the members, Σₖ fₖ(Xₖ).  Then member k of the
gradient is ∇fₖ(Xₖ), a function of member k alone.  The Python program (and
the uncompiled call) computes the whole stack of every intermediate value —
X⁻¹, the cotangents, the products — so its peak memory is several times the
gradient's.  :class:`FusedStackGradient` writes the same program as one
numba function that loops over the members (in tasks of a fixed size, run
by ``prange``), computes member k's forward values and reverse sweep in a
few n×n scratch matrices per task, writes ∇fₖ straight into member k of the
result, and adds member k's share of each sum into a per-task partial.  Its
peak is the gradient, the per-task partials, and the scratch of the tasks in
flight (a few m×n matrices per thread).

When a program is member-wise is read from the recording, never annotated
(:func:`_member_wise`): every differentiated input is a stack with one batch
shape B (K ≥ 1 members; several batch axes are one flattened axis); every
value is a stack of batch shape B (*member* matrices), a vector of shape B
(*per-member* scalars), a *total* — a sum over every member — or a scalar
computed from totals by additions, negation and scalings by constants
(*post-total*: linear, so the seed of each total is a number known before the
loop); constants are stacks or vectors of batch shape B, matrices broadcast
over every member, or numbers.  Anything else — an operation mixing members
(``S[0]``, a sum over the batch axis inside, ``np.linalg.det(S.sum(0))``), a
product of two totals — is :class:`~.fused.NotFusable`, and the program keeps
its Python form (and, where they apply, its other tiers).

**The same formulas, not the same rounding.**  The per-member forms are the
operations' VJPs (``notes/derivatives.md``: d ln|X| = tr(X⁻¹dX) gives ḡX⁻ᵀ,
d(X⁻¹) = −X⁻¹ dX X⁻¹ gives −X⁻ᵀḠX⁻ᵀ, …), computed as the stack rules compute
the values: X⁻¹ and ln|det X| by the closed form for n ≤ 4 where it is as
accurate as LU, else one LU per member.  Sums over members are taken per task
then the task sums exactly (``math.fsum``), so the value does not depend on
the number of threads; but it is not NumPy's pairwise order, and members'
products are not NumPy's batched matmul — so results equal the Python
program's to rounding, not bit for bit, and the self-check is a tolerance
(:meth:`FusedStackGradient.agree`).  The 2-D tier's :data:`~.fused.MAX_ORDER`
(16, where ``math.fsum``'s order makes it bit for bit) does not apply: members
up to :data:`MAX_MEMBER_ORDER` are allowed, every value checked to tolerance.

**The same checks.**  An exact zero pivot, κ₁ above the warning threshold, a
non-finite argument, value or gradient, a logarithm or quotient leaving its
domain — anything the stack rules would raise or warn about — stops the
members' loop, and the call runs the Python program, which raises
``LinAlgError`` naming the singular members, ``ValueError`` naming the
non-finite ones, or warns, exactly as uncompiled.
"""

from __future__ import annotations

import math

import numpy as np

from .._tracer import ancestors
from .fused import SCALAR_EXPRESSIONS, TRANSCENDENTAL, NotFusable
from .program import ELIDABLE, _between

__all__ = ["FusedStackGradient", "MAX_MEMBER_ORDER", "STACK_OPERATIONS"]

#: The largest member (rows or columns) a fused stack program holds: its scratch is a few
#: members per thread, and above this LAPACK's blocked routines on the whole stack win.
MAX_MEMBER_ORDER = 128

#: Operations with a member-wise fused form (registry names).
STACK_OPERATIONS = frozenset({"add", "subtract", "multiply", "true_divide", "negative", "transpose", "matmul",
                              "sum", "einsum", "linalg.slogdet", "linalg.inv", "linalg.solve"}) | TRANSCENDENTAL

#: Entries of member work per task: tasks of a fixed number of members (so the order of the
#: sums does not depend on the thread count), large enough that a task's scratch is reused.
_TASK_ENTRIES = 8192

#: The self-check's relative tolerance (see FusedStackGradient.agree).
TOLERANCE = 1e-9

_BINARY = {"add": "add", "subtract": "subtract", "multiply": "multiply", "true_divide": "divide"}


class _Value:
    """What a value of the program is, member by member.

    role: "M" member matrix (expr: the member's 2-D array), "P" per-member scalar (expr: a
    float), "T" a total over members (index: which accumulator), "Z" a scalar of totals,
    "C" a constant: ``kind`` "stack" (expr indexes member k), "matrix" (broadcast), "vector"
    (member k's number), "number".
    """

    __slots__ = ("role", "shape", "expr", "index", "kind")

    def __init__(self, role, shape=(), expr=None, index=None, kind=None):
        self.role, self.shape, self.expr, self.index, self.kind = role, shape, expr, index, kind

    @property
    def matrix(self):  # a 2-D operand inside the loop
        return self.role == "M" or (self.role == "C" and self.kind in ("stack", "matrix"))

    @property
    def scalar(self):  # a number inside the loop
        return self.role == "P" or (self.role == "C" and self.kind in ("vector", "number"))


class _Code:
    def __init__(self):
        self.allocations, self.body = [], []
        self._count = 0
        self.scratch_bytes = 0

    def name(self, stem):
        self._count += 1
        return f"{stem}{self._count}"

    def scratch(self, shape, stem="w"):
        """A matrix allocated once per task (reused by every member of the task)."""
        name = self.name(stem)
        self.allocations.append(f"{name} = np.empty(({shape[0]}, {shape[1]}))")
        self.scratch_bytes += 8 * shape[0] * shape[1]
        return name

    def pivots(self, n):
        name = self.name("piv")
        self.allocations.append(f"{name} = np.empty({n}, dtype=np.int32)")
        self.scratch_bytes += 4 * n
        return name

    def emit(self, line):
        self.body.append(line)

    def check(self, condition, status="FALL_BACK"):
        """Stop the members' loop (the call then runs the Python program) unless `condition`."""
        self.emit(f"if not ({condition}):")
        self.emit(f"    bad = {status}")
        self.emit("    break")


def _batch_of(nodes, inputs, differentiated):
    """The batch shape B every differentiated input shares, or NotFusable."""
    batch = None
    for node in inputs[:differentiated]:
        value = node._value
        if type(value) is not np.ndarray or value.dtype != np.float64 or value.ndim < 3:
            raise NotFusable("a differentiated input that is not a float64 stack")
        if batch is None:
            batch = value.shape[:-2]
        elif value.shape[:-2] != batch:
            raise NotFusable("differentiated stacks of different batch shapes")
        if max(value.shape[-2:]) > MAX_MEMBER_ORDER or min(value.shape[-2:]) < 1:
            raise NotFusable("members larger than MAX_MEMBER_ORDER")
    return batch


class FusedStackGradient:
    """One member-wise recording's value and gradient as one numba ``prange`` loop.

    Built from the same recording and inputs as
    :class:`~kronvec._compiled.program.GradientProgram`; raises
    :class:`~.fused.NotFusable` unless the program is member-wise (module docstring).

    Attributes
    ----------
    source : str
        The generated kernel's source.
    input_layouts : tuple of str
        "C" for every input (other layouts take the Python program).
    transcendental : bool
        Always True here: results agree with the Python program's to a tolerance.
    run : callable
        After :meth:`compile`: ``run(threshold, seed, *input_values)`` →
        ``(value, gradients)``; raises :class:`~.fused_kernels.FallBack` where the
        Python program must run.
    """

    transcendental = True

    def __init__(self, recording, inputs, differentiated):
        nodes = recording.nodes
        output = recording.output_node
        self._batch = batch = _batch_of(nodes, inputs, differentiated)
        self._count = int(np.prod(batch, dtype=np.int64))
        self._differentiated = differentiated
        code = self._code = _Code()
        values = {}
        self._arguments = []      # (kernel parameter name, how to pass the input/constant)
        self._constants = {}      # kernel parameter name → captured constant array (C-ordered)
        self._gradient_shapes = []
        for position, node in enumerate(inputs):
            values[node._index] = self._input(node, position, position < differentiated)
        self.input_layouts = tuple("C" for _ in inputs)

        self._totals = 0
        self._total_index = {}  # node index → its accumulator
        self._post = []  # the post-total nodes, in order (evaluated on the totals after the loop)
        needed = ancestors(output)
        inverses = {}
        member_nodes = []
        for node in nodes:
            if node._op is None:
                continue
            if node._index not in needed and node._op.name in ELIDABLE:
                continue
            name = node._op.name
            if name not in STACK_OPERATIONS:
                raise NotFusable(f"no member-wise form of {name}")
            operands = [self._operand(node, position, values) for position in range(len(node._args))]
            result = self._forward(node, name, operands, inverses)
            values[node._index] = result
            if result.role == "T":
                self._total_index[node._index] = result.index
            if result.role != "Z":
                member_nodes.append((node, operands))
            else:
                self._post.append(node)
        out = values[output._index]
        if out.role not in ("T", "Z"):
            raise NotFusable("an output that is not a sum over the members")
        self._output = output

        # Seeds of the totals: the post-total part is linear, so ∂value/∂totalⱼ is a number.
        weights = self._total_weights(values, out)
        relevant = _between(nodes, output, [node._index for node in inputs[:differentiated]])
        self._reverse(member_nodes, values, relevant, weights, inputs, differentiated, inverses)
        for position in range(differentiated):
            code.check(f"all_finite2(g{position}[k])")  # (an overflow: the Python program warns and says)
        self._weights = weights
        self.source = self._source(inputs)
        self._kernel = None

    # ------------------------------------------------------------ inputs, constants
    def _input(self, node, position, differentiated):
        value = node._value
        name = f"a{position}"
        if differentiated:
            self._gradient_shapes.append(value.shape)
            self._arguments.append((name, "stack"))
            self._code.check(f"all_finite2({name}[k])")  # (the uncompiled call refuses NaN: its message names it)
            return _Value("M", value.shape[-2:], f"{name}[k]")
        return self._constant(value, name, argument=True)

    def _constant(self, value, name, argument=False):
        """A constant operand (an input not differentiated, or one the recording captured)."""
        batch = self._batch
        if type(value) in (float, int, np.float64) or (
                type(value) is np.ndarray and value.ndim == 0 and value.dtype == np.float64):
            if argument:
                raise NotFusable("a 0-d array argument")
            number = float(value)
            if not math.isfinite(number) or (type(value) is int and abs(value) >= 2 ** 53):
                raise NotFusable("a constant that is not a finite float64")
            return _Value("C", (), repr(number), kind="number")
        if type(value) is not np.ndarray or value.dtype != np.float64:
            raise NotFusable("a constant that is not a float64 array")
        if value.shape[:-2] == batch and value.ndim == len(batch) + 2:
            kind, shape, expr = "stack", value.shape[-2:], f"{name}[k]"
        elif value.shape == batch and len(batch) == 1:
            kind, shape, expr = "vector", (), f"{name}[k]"
        elif value.ndim == 2 and len(batch) != 2:  # (a 2-D constant with a 2-D batch: member or matrix?)
            kind, shape, expr = "matrix", value.shape, name
        else:
            raise NotFusable(f"a constant of shape {value.shape} against the batch {batch}")
        if argument:
            if not value.flags.c_contiguous:
                raise NotFusable("an argument that is not C-ordered")
            self._arguments.append((name, kind))
            if kind != "matrix":
                self._code.check(f"all_finite2({name}[k])" if kind == "stack" else f"math.isfinite({name}[k])")
        else:
            array = np.ascontiguousarray(value)
            if not np.isfinite(array).all():
                raise NotFusable("a non-finite constant")  # (the Python program's numbers are IEEE's; keep them)
            if kind == "stack":
                array = array.reshape((self._count,) + shape)
            elif kind == "vector":
                array = array.reshape(self._count)
            array.flags.writeable = False
            self._constants[name] = array
        return _Value("C", shape, expr, kind=kind)

    def _operand(self, node, position, values):
        parent = dict(node._parents).get(position)
        if parent is not None:
            return values[parent._index]
        return self._constant(node._args[position], f"k{node._index}_{position}")

    # ------------------------------------------------------------ forward
    def _forward(self, node, name, operands, inverses):
        code, params = self._code, node._params
        value = node._value
        batch = self._batch
        roles = [operand.role for operand in operands]
        if any(role in ("T", "Z") for role in roles):
            return self._post_total(node, name, operands)
        if name in _BINARY or name == "negative" or name in TRANSCENDENTAL:
            if params:
                raise NotFusable(f"{name} with parameters {params}")
            if all(operand.scalar for operand in operands):
                if not any(operand.role == "P" or operand.kind == "vector" for operand in operands):
                    raise NotFusable("an operation of numbers")
                expression = SCALAR_EXPRESSIONS[_BINARY.get(name, name)].format(*[o.expr for o in operands])
                out = code.name("p")
                code.emit(f"{out} = {expression}")
                if name in ("true_divide", "log", "exp"):
                    code.check(f"math.isfinite({out})")
                return _Value("P", (), out)
            shape = value.shape[-2:] if type(value) is np.ndarray else None
            if shape is None or value.shape[:-2] != batch:
                raise NotFusable("an elementwise result that is not a stack of the batch")
            for operand in operands:
                if not (operand.matrix and operand.shape == shape or operand.role == "C" and operand.kind == "number"):
                    raise NotFusable("elementwise broadcasting other than of a number or a matrix")
            out = code.scratch(shape, "x")
            kernel = _BINARY.get(name, name)
            code.emit(f"ew_{kernel}({', '.join(o.expr for o in operands)}, {out})")
            if name in ("true_divide", "log", "exp"):
                code.check(f"all_finite2({out})")
            return _Value("M", shape, out)
        if name == "transpose":
            (X,) = operands
            axes = params.get("axes")
            swap = tuple(range(len(batch))) + (len(batch) + 1, len(batch))
            if not (X.role == "M" or X.kind == "stack") or axes is None or tuple(axes) != swap:
                raise NotFusable("a transpose other than of the members")
            return _Value("M", X.shape[::-1], f"{X.expr}.T")
        if name == "matmul":
            A, B = operands
            if not (A.matrix and B.matrix) or A.shape[1] != B.shape[0]:
                raise NotFusable("matmul of other than member matrices")
            if type(value) is not np.ndarray or value.shape[:-2] != batch:
                raise NotFusable("a product that is not a stack of the batch")
            out = code.scratch((A.shape[0], B.shape[1]), "x")
            code.emit(f"mm({A.expr}, {B.expr}, {out})")
            return _Value("M", (A.shape[0], B.shape[1]), out)
        if name in ("linalg.inv", "linalg.slogdet", "linalg.solve"):
            X = operands[0]
            if not (X.role == "M" or X.kind == "stack") or X.shape[0] != X.shape[1]:
                raise NotFusable(f"{name} of other than a stack of square members")
            inverse, logabsdet = self._inverse(X, inverses)
            if name == "linalg.slogdet":
                return _Value("P", (), logabsdet)
            if name == "linalg.inv":
                return _Value("M", X.shape, inverse)
            B = operands[1]
            if not B.matrix or B.shape[0] != X.shape[0] or type(value) is not np.ndarray or value.ndim != len(batch) + 2:
                raise NotFusable("solve with a right-hand side that is not a stack of matrices")
            out = code.scratch(B.shape, "x")
            code.emit(f"mm({inverse}, {B.expr}, {out})")  # X⁻¹B, with the inverse's checks
            code.check(f"all_finite2({out})")
            return _Value("M", B.shape, out)
        if name == "sum":
            (X,) = operands
            if params.get("keepdims"):
                raise NotFusable("a sum keeping its axes")
            axis = params.get("axis")
            ndim = len(batch) + (2 if X.role == "M" else 0)
            axes = tuple(range(ndim)) if axis is None else tuple(sorted(a % ndim for a in np.atleast_1d(axis)))
            if X.role == "P" and axes == tuple(range(ndim)):
                return self._total(X.expr)
            if X.role == "M" and axes == tuple(range(ndim)):
                return self._total(f"total({X.expr})")
            if X.role == "M" and axes == (ndim - 2, ndim - 1):
                out = code.name("p")
                code.emit(f"{out} = total({X.expr})")
                return _Value("P", (), out)
            raise NotFusable("a sum along some of the batch axes")
        if name == "einsum":
            form = _einsum_form(params.get("subscripts", ""), len(batch), operands)
            if form is None:
                raise NotFusable(f"einsum {params.get('subscripts')!r} is not a per-member contraction")
            contraction, per_member = form
            if contraction == "trace":
                expression = f"trace({operands[0].expr})"
            else:
                expression = f"{contraction}({operands[0].expr}, {operands[1].expr})"
            if per_member:
                out = code.name("p")
                code.emit(f"{out} = {expression}")
                return _Value("P", (), out)
            return self._total(expression)
        raise NotFusable(f"no member-wise form of {name}")

    def _inverse(self, X, inverses):
        """The member's inverse and ln|det| (computed once per member and matrix), with the checks."""
        if X.expr not in inverses:
            code = self._code
            n = X.shape[0]
            inverse, lu = code.scratch((n, n), "inv"), code.scratch((n, n), "lu")
            pivots, status, logabsdet = code.pivots(n), code.name("st"), code.name("ld")
            code.emit(f"{status}, {logabsdet} = member_inverse({X.expr}, {inverse}, {lu}, {pivots}, threshold)")
            code.emit(f"if {status} != OK:")
            code.emit(f"    bad = {status}")
            code.emit("    break")
            inverses[X.expr] = (inverse, logabsdet)
        return inverses[X.expr]

    def _total(self, expression):
        """A sum over the members: member k's share added into this task's accumulator."""
        j = self._totals
        self._totals += 1
        self._code.emit(f"acc{j} += {expression}")
        return _Value("T", (), f"t{j}", index=j)

    def _post_total(self, node, name, operands):
        """A scalar of totals: linear ones only (add, subtract, negative, scaling by a number)."""
        roles = [operand.role for operand in operands]
        linear = (name in ("add", "subtract") and all(r in ("T", "Z") or operands[p].kind == "number"
                                                       for p, r in enumerate(roles))) or name == "negative" or (
            name in ("multiply", "true_divide") and sum(r in ("T", "Z") for r in roles) == 1
            and all(r in ("T", "Z") or operands[p].kind == "number" for p, r in enumerate(roles))
            and (name == "multiply" or roles[0] in ("T", "Z")))
        if not linear or node._params:
            raise NotFusable(f"{name} of totals is not linear in them")
        return _Value("Z", ())

    # ------------------------------------------------------------ reverse
    def _total_weights(self, values, out):
        """∂value/∂total of each total, for a unit seed, by the post-total part's own linear rules."""
        weights = [0.0] * self._totals
        cotangent = {self._output._index: 1.0}
        for node in reversed(self._post):
            g = cotangent.pop(node._index, 0.0)
            name = node._op.name
            for position, parent in node._parents:
                if name == "subtract" and position == 1 or name == "negative":
                    contribution = -g
                elif name == "multiply":
                    contribution = g * float(node._args[1 - position])
                elif name == "true_divide":
                    contribution = g / float(node._args[1])
                else:
                    contribution = g
                cotangent[parent._index] = cotangent.get(parent._index, 0.0) + contribution
        for index, g in cotangent.items():
            value = values.get(index)
            if value is not None and value.role == "T":
                weights[value.index] += g
        return weights

    def _reverse(self, member_nodes, values, relevant, weights, inputs, differentiated, inverses):
        """The reverse sweep of one member, from the totals down (the Python program's order)."""
        code = self._code
        gradient_of_input = {node._index: f"g{p}[k]" for p, node in enumerate(inputs[:differentiated])}
        cotangent = {}  # value → its cotangent's name (the first contribution is written, later ones added)

        def contribute(j, write):
            """`write(destination)` emits the contribution to value j's cotangent."""
            value = values[j]
            first = j not in cotangent
            if value.role == "P":
                expression = write(None)
                if first:
                    cotangent[j] = code.name("gp")
                    code.emit(f"{cotangent[j]} = {expression}")
                else:
                    code.emit(f"{cotangent[j]} += {expression}")
                return
            if first:
                cotangent[j] = gradient_of_input.get(j) or code.scratch(value.shape, "gx")
                write(cotangent[j])
            else:
                temporary = code.scratch(value.shape, "tmp")
                write(temporary)
                code.emit(f"add_into({cotangent[j]}, {temporary})")

        for node, operands in reversed(member_nodes):
            i = node._index
            if i not in relevant:
                continue
            result = values[i]
            g = f"{weights[result.index]!r}" if result.role == "T" else cotangent.get(i)
            if g is None:
                continue  # (no cotangent reached it: nothing to pull back)
            for position, parent in node._parents:
                j = parent._index
                if j not in relevant:
                    continue
                contribute(j, self._vjp(node, position, g, result, operands, inverses))

    def _vjp(self, node, position, g, result, operands, inverses):
        """A function writing the cotangent of operand `position` (destination → lines; for a
        per-member scalar, None → the expression)."""
        code = self._code
        name = node._op.name
        mine = operands[position]
        other = operands[1 - position] if len(operands) == 2 else None
        scalar_g = result.role in ("P", "T")

        def emit(*lines):
            for line in lines:
                code.emit(line)

        if mine.role == "P":  # a per-member scalar's cotangent: the scalar rules
            if name in ("add",):
                return lambda _: g
            if name == "subtract":
                return lambda _: g if position == 0 else f"-{g}"
            if name == "negative":
                return lambda _: f"-{g}"
            if name == "multiply":
                return lambda _: f"{g} * {other.expr}"
            if name == "true_divide":
                if position == 0:
                    return lambda _: f"{g} / {other.expr}"
                return lambda _: SCALAR_EXPRESSIONS["quotient_vjp"].format(g, result.expr, mine.expr)  # −ḡy/b
            if name in ("tanh", "exp", "log"):
                vjp = {"tanh": "tanh_vjp", "exp": "multiply", "log": "log_vjp"}[name]
                argument = result.expr if name != "log" else mine.expr
                return lambda _: SCALAR_EXPRESSIONS[vjp].format(g, argument)
            if name == "sum":  # a total of per-member scalars
                return lambda _: g
            raise NotFusable(f"no member-wise derivative of {name} for a per-member scalar")

        # A member matrix's cotangent, written into `out`.
        if name == "sum":
            return lambda out: emit(f"fill({out}, {g})")  # Σ of every entry: ḡ everywhere
        if name == "einsum":
            form, _ = _einsum_form(node._params["subscripts"], len(self._batch), operands)
            if form == "trace":
                return lambda out: emit(f"eye_into({out}, {g})")
            if form == "trace_product":  # tr(AB): Ā = ḡBᵀ, B̄ = ḡAᵀ
                return lambda out: emit(f"scale_into({out}, {g}, {other.expr}.T)")
            return lambda out: emit(f"scale_into({out}, {g}, {other.expr})")  # Σ A∘B: Ā = ḡB
        if name == "linalg.slogdet":  # d ln|X| = tr(X⁻¹dX): X̄ = ḡX⁻ᵀ
            inverse, _ = inverses[mine.expr]
            return lambda out: emit(f"scale_into({out}, {g}, {inverse}.T)")
        if name == "linalg.inv":  # d(X⁻¹) = −X⁻¹dX X⁻¹: X̄ = −X⁻ᵀḠX⁻ᵀ
            Y = result.expr
            inner = code.scratch(result.shape, "t")
            return lambda out: emit(f"mm({Y}.T, {g}, {inner})", f"mm({inner}, {Y}.T, {out})", f"negate({out})")
        if name == "linalg.solve":  # X = A⁻¹B: B̄ = A⁻ᵀX̄, Ā = −B̄Xᵀ
            inverse, _ = inverses[operands[0].expr]
            if position == 1:
                return lambda out: emit(f"mm({inverse}.T, {g}, {out})")
            B_bar = code.scratch(result.shape, "t")
            return lambda out: emit(f"mm({inverse}.T, {g}, {B_bar})", f"mm({B_bar}, {result.expr}.T, {out})",
                                    f"negate({out})")
        if name == "matmul":  # Y = AB: Ā = ḠBᵀ, B̄ = AᵀḠ
            if position == 0:
                return lambda out: emit(f"mm({g}, {operands[1].expr}.T, {out})")
            return lambda out: emit(f"mm({operands[0].expr}.T, {g}, {out})")
        if name == "transpose":
            return lambda out: emit(f"scale_into({out}, 1.0, {g}.T)")
        if scalar_g:
            raise NotFusable(f"a scalar cotangent of {name}")  # pragma: no cover (elementwise results are matrices)
        if name == "add":
            return lambda out: emit(f"scale_into({out}, 1.0, {g})")
        if name == "subtract":
            return lambda out: emit(f"scale_into({out}, {1.0 if position == 0 else -1.0}, {g})")
        if name == "negative":
            return lambda out: emit(f"scale_into({out}, -1.0, {g})")
        if name == "multiply":  # ḡ∘b
            return lambda out: emit(f"ew_multiply({g}, {other.expr}, {out})")
        if name == "true_divide":
            if position == 0:  # ḡ/b
                return lambda out: (emit(f"ew_divide({g}, {other.expr}, {out})"), code.check(f"all_finite2({out})"))
            # −ḡ·y/b (b: this operand, the divisor)
            return lambda out: (emit(f"ew_quotient_vjp({g}, {result.expr}, {mine.expr}, {out})"),
                                code.check(f"all_finite2({out})"))
        if name == "tanh":  # ḡ(1 − y²)
            return lambda out: emit(f"ew_tanh_vjp({g}, {result.expr}, {out})")
        if name == "exp":  # ḡ∘y
            return lambda out: emit(f"ew_multiply({g}, {result.expr}, {out})")
        if name == "log":  # ḡ/x
            return lambda out: (emit(f"ew_log_vjp({g}, {mine.expr}, {out})"), code.check(f"all_finite2({out})"))
        raise NotFusable(f"no member-wise derivative of {name}")

    # ------------------------------------------------------------ the kernel
    def _source(self, inputs):
        code = self._code
        parameters = ["threshold"] + [name for name, _ in self._arguments] + list(self._constants)
        parameters += [f"g{p}" for p in range(self._differentiated)] + ["partial", "status", "chunk", "count"]
        lines = [f"def kernel({', '.join(parameters)}):"]
        lines.append("    for task in prange(partial.shape[0]):")
        lines.append("        start = task * chunk")
        lines.append("        stop = min(start + chunk, count)")
        lines += [f"        {line}" for line in code.allocations]
        lines += [f"        acc{j} = 0.0" for j in range(self._totals)]
        lines.append("        bad = OK")
        lines.append("        for k in range(start, stop):")
        lines += [f"            {line}" for line in code.body]
        lines += [f"        partial[task, {j}] = acc{j}" for j in range(self._totals)]
        lines.append("        status[task] = bad")
        return "\n".join(lines) + "\n"

    @property
    def scratch_bytes(self):
        """Bytes of scratch one task in flight holds (numba allocates it; one task per thread)."""
        return self._code.scratch_bytes

    def compile(self):
        """Compile the kernel (a few seconds of numba); returns ``run(threshold, seed, *values)``."""
        if self._kernel is None:
            from numba import njit, prange

            from . import fused_kernels, fused_stack_kernels

            namespace = {name: getattr(fused_stack_kernels, name) for name in fused_stack_kernels.__all__}
            namespace.update({f"ew_{name}": kernel for name, kernel in fused_kernels.ELEMENTWISE.items()})
            namespace.update(np=np, math=math, prange=prange)
            exec(compile(self.source, "<kronvec fused stack program>", "exec"), namespace)  # noqa: S102
            # error_model="numpy": IEEE results for scalar division (checked for finiteness where it matters)
            self._kernel = njit(parallel=True, error_model="numpy", cache=False)(namespace["kernel"])
            self._fall_back = fused_kernels.FallBack
        return self.run

    def _call(self, threshold, seed, values):
        """(value, gradients, Σ|members' shares|) — or FallBack."""
        from .._kernels import call

        count = self._count
        arguments = []
        for (name, kind), value in zip(self._arguments, values):
            if kind == "stack":
                value = value.reshape((count,) + value.shape[-2:])
            elif kind == "vector":
                value = value.reshape(count)
            arguments.append(value)
        gradients = [np.empty(shape) for shape in self._gradient_shapes]  # (owning their memory)
        members = [g.reshape((count,) + g.shape[-2:]) for g in gradients]
        member_entries = max(1, max(shape[-1] * shape[-2] for shape in self._gradient_shapes))
        chunk = max(1, _TASK_ENTRIES // member_entries)
        tasks = max(1, -(-count // chunk))
        partial = np.zeros((tasks, max(self._totals, 1)))
        status = np.zeros(tasks, dtype=np.int8)
        # One thread below _kernels.PARALLEL_MIN_BYTES of result, as kronvec's other kernels.
        call(self._kernel, sum(g.nbytes for g in gradients), threshold, *arguments, *self._constants.values(),
             *members, partial, status, chunk, count)
        if status.any():
            raise self._fall_back("a member the Python program must handle")
        totals = [math.fsum(partial[:, j]) for j in range(self._totals)]
        value = self._post_value(totals)
        if not math.isfinite(value):
            raise self._fall_back("a non-finite value")
        if seed != 1.0:
            for g in gradients:
                g *= seed
        magnitude = float(np.abs(partial[:, :self._totals]).sum(axis=0) @ np.abs(self._weights)) if self._totals else 0.0
        return np.float64(value), tuple(gradients), magnitude

    def run(self, threshold, seed, *values):
        value, gradients, _ = self._call(threshold, seed, values)
        return value, gradients

    def _post_value(self, totals):
        """The output from the totals: the post-total operations' own impls, in order."""
        value_of = {index: np.float64(totals[j]) for index, j in self._total_index.items()}
        for node in self._post:
            args = list(node._args)
            for position, parent in node._parents:
                args[position] = value_of[parent._index]
            value_of[node._index] = node._op.impl(*args, **node._params)
        return float(value_of[self._output._index])

    def agree(self, run, values, threshold, expected_value, expected_gradients):
        """The self-check at the recording's point.

        The gradient: every entry within TOLERANCE of the largest entry of the Python
        program's — the two compute each member by the same formulas but in another
        order (a member's products by loops or dgemm against NumPy's batched matmul, its
        inverse by the same closed form or LU), so they differ by a few ulps times the
        members' condition numbers; a wrong formula, transpose or member is off by O(1).
        The value: within TOLERANCE of Σₖ|shareₖ| — NumPy adds the members' shares
        pairwise, this kernel per task then exactly; either order's error is below
        K·eps·Σₖ|shareₖ| ≤ 1e-10·Σₖ|shareₖ| for K ≤ 10⁶, while a missing or wrong member
        moves it by that member's whole share.
        """
        value, gradients, magnitude = self._call(threshold, 1.0, values)
        if expected_value is None or not math.isfinite(float(expected_value)):
            return False
        if abs(float(value) - float(expected_value)) > TOLERANCE * max(magnitude, abs(float(expected_value))):
            return False
        for got, expected in zip(gradients, expected_gradients):
            if expected is None:
                return False
            expected = np.asarray(expected)
            if got.shape != expected.shape:
                return False
            scale = float(np.max(np.abs(expected))) if expected.size else 0.0
            if not np.all(np.abs(got - expected) <= TOLERANCE * scale):
                return False
        return True


def _einsum_form(subscripts, batch_ndim, operands):
    """("trace" | "trace_product" | "inner", per_member) for an einsum that contracts each
    member alone — 'kii->k', 'kij,kji->', 'kij,kij->k' and the like (the batch letters first,
    in one order, on every operand; kept in the output or summed) — else None."""
    subscripts = subscripts.replace(" ", "")
    if "->" not in subscripts:
        return None
    inputs, output = subscripts.split("->")
    inputs = inputs.split(",")
    if len(inputs) != len(operands) or len(inputs) not in (1, 2):
        return None
    if "..." in subscripts:
        free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in subscripts][:batch_ndim]
        inputs = [s.replace("...", "".join(free)) for s in inputs]
        output = output.replace("...", "".join(free))
    batch = inputs[0][:batch_ndim]
    if any(len(s) != batch_ndim + 2 or s[:batch_ndim] != batch for s in inputs) or len(set(batch)) != batch_ndim:
        return None
    if output not in ("", batch):
        return None
    members = [s[batch_ndim:] for s in inputs]
    if any(set(m) & set(batch) for m in members):
        return None
    for operand in operands:
        if not operand.matrix:
            return None
    if not any(operand.role == "M" for operand in operands):
        return None
    if len(members) == 1:
        form = "trace" if members[0][0] == members[0][1] and operands[0].shape[0] == operands[0].shape[1] else None
    else:
        a, b = members
        if a[0] == a[1] or b[0] == b[1]:
            return None
        if a == b and operands[0].shape == operands[1].shape:
            form = "inner"
        elif a == b[::-1] and operands[0].shape == operands[1].shape[::-1]:
            form = "trace_product"
        else:
            form = None
    if form is None:
        return None
    return form, output == batch
