"""Contractions: ``np.einsum`` and the products NumPy writes as one —
``tensordot``, ``inner``, ``vdot``, N-D ``dot``, ``vecdot``/``matvec``/``vecmat``,
``cross`` — and ``np.linalg.multi_dot``.

An einsum is linear in each operand: F = Σ (Π of the operands' entries) over
the labels absent from the output, so with every other operand held fixed,

    dF = einsum(A₁, …, dX, …)        ⇒  J vec V = vec einsum(A₁, …, V, …),
    X̄ = einsum(Ḡ, A₁, … → X's labels),

the VJP being the same contraction with the output's cotangent in X's place
and X's labels as the output.  Where X repeats a label (``ii``: it is read on
a diagonal) the cotangent is placed back on that diagonal of zeros; where X
carries a label found nowhere else (summed in X alone) the cotangent is
constant along it.  The structured Jacobian is that contraction as an
operator (:class:`~kronvec.operators.Contraction`, applied by one einsum);
for a product of two matrices (``ij,jk->ik`` and its transposed spellings) it
is the Kronecker form of ``linear_map`` (``I ⊗ A``, ``Bᵀ ⊗ I``, with a
commutation for a transposed X).

Every other function here is one of these contractions evaluated NumPy's
way (``np.tensordot``, ``np.cross``…, so values are NumPy's own), with its
derivatives read off the equivalent einsum subscripts.

Derivations: ``notes/derivatives.md`` §21.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types

import numpy as np

from .._tracer import Node, static_value
from ..differential import linear_map
from ..operators import Contraction, Dense
from ..operators.contraction import contract, einsum_optimize, plain_einsum
from . import _samples
from ._registry import Primitive, numpy_function, register, ufunc
from ._support import (
    bind,
    decided,
    index_map_jacobian,
    normalize_axes,
    plain_value,
    positions,
    refuse_arguments,
    shape_of,
)
from .indexing import Distinct, untake
from .shape import in_dtype

__all__ = ["einsum", "einsum_plan", "einsum_cotangent", "einsum_jacobian", "tensordot", "inner",
           "vdot", "dot", "cross"]

#: The labels np.einsum accepts, in its sublist numbering (0–25 'A'–'Z', 26–51 'a'–'z').
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# ---------------------------------------------------------- reading subscripts
@dataclasses.dataclass(frozen=True)
class EinsumPlan:
    """The subscripts of one einsum, read for given operand shapes.

    Attributes
    ----------
    inputs : tuple of str
        One letter per axis of each operand (an ellipsis spelled out).
    output : str
        The output's letters (implicit output made explicit).
    sizes : mapping letter → size
        Each label's size after broadcasting.
    effective : tuple of str
        Each operand's letters without its broadcast axes (size 1 against a
        larger size elsewhere): the operand as the contraction sees it.
    effective_shapes : tuple of tuple
    shapes : tuple of tuple
    cotangents : tuple
        Per operand, how its plain cotangent is contracted: ``(subscripts,
        optimize)`` when one einsum gives it, None when it needs placing on a
        diagonal or broadcasting (then :func:`contract` does it).
    """

    inputs: tuple
    output: str
    sizes: types.MappingProxyType
    effective: tuple
    effective_shapes: tuple
    shapes: tuple
    cotangents: tuple

    def squeezed(self, position):
        """True when the operand has broadcast axes (dropped by a reshape)."""
        return self.effective_shapes[position] != self.shapes[position]


class _Unreadable(Exception):
    pass


def _read(subscripts, shapes):
    """The plan of `subscripts` for `shapes`, as NumPy reads them: an ellipsis
    stands for the leading axes the letters leave over, right-aligned across
    operands and named by letters used nowhere else; the implicit output is
    those axes, then the letters used once, in ASCII order; an axis of size 1
    broadcasts against its label's size elsewhere.  _Unreadable when NumPy
    would refuse them."""
    spec = subscripts.replace(" ", "")
    if spec.count("->") > 1:
        raise _Unreadable
    lhs, arrow, output = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise _Unreadable
    used = set(c for c in spec if c.isalpha())
    if any(c not in _LETTERS for c in used) or any(c not in _LETTERS + ".,->" for c in spec):
        raise _Unreadable
    ellipsis_dims = []
    for term, shape in zip(terms, shapes):
        letters = term.replace("...", "")
        if "." in letters:
            raise _Unreadable
        extra = len(shape) - len(letters)
        if extra < 0 or (extra and "..." not in term):
            raise _Unreadable
        ellipsis_dims.append(extra)
    broadcast_dims = max(ellipsis_dims, default=0)
    fresh = "".join(c for c in _LETTERS if c not in used)[:broadcast_dims]
    if len(fresh) < broadcast_dims:
        raise _Unreadable
    inputs = tuple(term.replace("...", fresh[broadcast_dims - extra:])
                   for term, extra in zip(terms, ellipsis_dims))
    if arrow:
        if output.replace("...", "").count(".") or (broadcast_dims and "..." not in output):
            raise _Unreadable
        output = output.replace("...", fresh)
        if len(set(output)) != len(output) or any(c not in "".join(inputs) for c in output):
            raise _Unreadable
    else:  # NumPy's implicit output: the broadcast axes, then the labels used once, sorted
        counts = {}
        for c in "".join(terms):
            counts[c] = counts.get(c, 0) + 1
        output = fresh + "".join(sorted(c for c, count in counts.items() if count == 1 and c != "."))
    sizes = {}
    for labels, shape in zip(inputs, shapes):
        own = {}
        for label, size in zip(labels, shape):
            if own.setdefault(label, size) != size:  # a repeated label: a square diagonal
                raise _Unreadable
            known = sizes.get(label)
            if known is None or known == 1:
                sizes[label] = size
            elif size not in (1, known):
                raise _Unreadable
    effective = tuple("".join(label for label, size in zip(labels, shape) if size == sizes[label])
                      for labels, shape in zip(inputs, shapes))
    effective_shapes = tuple(tuple(sizes[label] for label in labels) for labels in effective)
    cotangents = []
    for position, target in enumerate(effective):
        labels = [output] + [labels for j, labels in enumerate(effective) if j != position]
        if set(target) <= set("".join(labels)) and len(set(target)) == len(target):
            cotangents.append((",".join(labels) + "->" + target, einsum_optimize(labels, target, sizes)))
        else:
            cotangents.append(None)
    return EinsumPlan(inputs, output, types.MappingProxyType(sizes), effective, effective_shapes,
                      tuple(shapes), tuple(cotangents))


@functools.lru_cache(maxsize=1024)
def einsum_plan(subscripts, shapes):
    """Read einsum `subscripts` for operands of `shapes` (a tuple of tuples).

    Cached by value (the plan is immutable).  Subscripts NumPy refuses raise
    NumPy's own ValueError.
    """
    try:
        return _read(subscripts, shapes)
    except _Unreadable:
        pass
    np.einsum(subscripts, *(np.broadcast_to(0.0, shape) for shape in shapes))  # NumPy's message
    raise ValueError(f"np.einsum: cannot read the subscripts {subscripts!r} for operands of shapes {shapes}")


def _as_subscripts(arguments):
    """(subscripts, operands) from either of np.einsum's calling conventions."""
    if arguments and isinstance(arguments[0], str):
        return arguments[0], arguments[1:]
    # the sublist format: op₀, sublist₀, op₁, sublist₁, …, [output sublist]
    pairs = arguments[: len(arguments) // 2 * 2]
    operands, sublists = pairs[0::2], pairs[1::2]

    def letters(sublist):
        text = []
        for item in sublist:
            if item is Ellipsis:
                text.append("...")
            elif isinstance(item, (int, np.integer)) and 0 <= item < len(_LETTERS):
                text.append(_LETTERS[item])
            else:
                raise ValueError(f"np.einsum: subscript {item!r} in a sublist is not an integer in [0, 52)")
        return "".join(text)

    subscripts = ",".join(letters(sublist) for sublist in sublists)
    if len(arguments) % 2:
        subscripts += "->" + letters(arguments[-1])
    return subscripts, operands


# ------------------------------------------------------- derivatives of einsum
def _effective(plan, position, operand):
    """The operand without its broadcast axes (a reshape: vec is unchanged)."""
    if plan.squeezed(position):
        return np.reshape(operand, plan.effective_shapes[position])
    return operand


def _diagonal_key(out_labels, sizes):
    """The index placing an array over the distinct labels onto the diagonal
    ``out_labels`` names (each entry once: an assignment, not a scatter-add)."""
    distinct = "".join(dict.fromkeys(out_labels))
    key = []
    for label in out_labels:
        index = np.arange(sizes[label]).reshape([-1 if d == label else 1 for d in distinct])
        index.flags.writeable = False
        key.append(index)
    return Distinct(key)


def _traced_contract(arrays, labels, out_labels, sizes):
    """:func:`~kronvec.operators.contraction.contract` written with recorded
    operations (an einsum, a broadcast, a placement), so it can be differentiated."""
    present = set("".join(labels))
    distinct = "".join(dict.fromkeys(out_labels))
    computed = "".join(label for label in distinct if label in present)
    value = bind(einsum, *arrays, subscripts=",".join(labels) + "->" + computed,
                 optimize=einsum_optimize(labels, computed, sizes))
    if computed != distinct:  # constant along the labels of no operand
        value = np.broadcast_to(np.reshape(value, [sizes[c] if c in present else 1 for c in distinct]),
                                [sizes[c] for c in distinct])
    if distinct != out_labels:  # on the diagonal the repeated labels name
        value = bind(untake, value, key=_diagonal_key(out_labels, sizes),
                     shape=tuple(sizes[c] for c in out_labels))
    return value


def einsum_cotangent(plan, position, g, operands):
    """The cotangent of operand `position` of ``einsum(plan, *operands)`` for the
    output's cotangent `g`: ``einsum(Ḡ, others → the operand's labels)``, placed
    on its diagonals and broadcast along the labels it alone carries; plain
    arrays are contracted directly, traced ones recorded (second order)."""
    others = [j for j in range(len(operands)) if j != position]
    arrays = [g] + [_effective(plan, j, operands[j]) for j in others]
    traced = False
    for a in arrays:
        if isinstance(a, Node):
            traced = True
    direct = plan.cotangents[position]
    if direct is not None and not traced and len(arrays) == 2 and type(g) is float and g == 1.0 \
            and direct[0].startswith(","):
        # Ḡ = 1 of a two-operand einsum with a scalar output (tr(AB) = einsum("ij,ji->", A, B)):
        # the cotangent is the other operand relabelled, a view of it when that is all it is
        # (no copy of a captured constant: the sweep may reuse it, kronvec/_tracer.py).  The
        # other operand is an argument of the recorded operation, which the sweep's aliasing
        # test sees (the one contraction with a constant of its own, cross, has three operands).
        value = plain_einsum(direct[0][1:], arrays[1])
    elif direct is not None and not traced:  # one einsum (the common case, without the general path)
        value = plain_einsum(direct[0], *arrays, optimize=direct[1])
    else:
        labels = [plan.output] + [plan.effective[j] for j in others]
        contraction = _traced_contract if traced else contract
        value = contraction(arrays, labels, plan.effective[position], plan.sizes)
    return np.reshape(value, plan.shapes[position]) if plan.squeezed(position) else value


def _matrix_factor(array, labels, rows, cols, sizes, name):
    """`array` (labels ⊆ rows + cols) as the matrix with those row and column
    labels (each a letter or ''), as an operator."""
    if len(labels) == 2 and labels == cols + rows:
        return Dense(array, name=name).T
    shape = (sizes[rows] if rows else 1, sizes[cols] if cols else 1)
    if len(labels) <= 1 and rows == "" and cols:  # a row vector: aᵀ
        return Dense(np.reshape(array, shape[::-1]), name=name).T
    return Dense(np.reshape(array, shape), name=name)


def _matrix_product_jacobian(plan, position, other, name):
    """D_X einsum for two operands that multiply as matrices (A·X, A·Xᵀ, (A·X)ᵀ,
    a matrix-vector or outer product…): the Kronecker form of ``linear_map``,
    or None when the subscripts are not such a product."""
    x, a, out = plan.effective[position], plan.effective[1 - position], plan.output
    if len(x) > 2 or len(a) > 2 or len(set(x)) < len(x) or len(set(a)) < len(a):
        return None
    shared = set(x) & set(a)
    free_x = "".join(c for c in x if c not in shared)
    free_a = "".join(c for c in a if c not in shared)
    if shared & set(out) or len(shared) > 1 or len(free_x) > 1 or len(free_a) > 1:
        return None
    if any(c not in out for c in free_x + free_a):  # a label summed in one operand alone
        return None
    s, sizes = "".join(shared), plan.sizes
    # F = A'·X' with A' (free_a × s) and X' (s × free_x), vec F = vec out unless out = (free_x, free_a)
    A = _matrix_factor(other, a, free_a, s, sizes, name)
    x_shape = plan.effective_shapes[position]
    if len(x) == 2:
        in_shape, x_transposed = x_shape, x == free_x + s
    else:  # a vector or a scalar: X' is a reshape of it, with the same vec
        in_shape, x_transposed = (sizes[s] if s else 1, sizes[free_x] if free_x else 1), False
    if len(out) == 2 and out == free_x + free_a:  # F = (A'X')ᵀ = X'ᵀ A'ᵀ
        if len(x) != 2:
            in_shape = in_shape[::-1]
        return linear_map(None, A.T, in_shape, transposed=(len(x) == 2 and not x_transposed))
    return linear_map(A, None, in_shape, transposed=x_transposed)


def einsum_jacobian(plan, position, operands, names):
    """The structured Jacobian of ``einsum(plan, *operands)`` in operand `position`
    (plain arrays): a selection for a single operand that is only moved or
    read on a diagonal, the Kronecker form for a product of two matrices,
    else a :class:`~kronvec.operators.Contraction` of the other operands."""
    x_labels = plan.effective[position]
    if len(operands) == 1 and set(x_labels) <= set(plan.output):  # entries moved, none summed
        moved = np.einsum(f"{x_labels}->{plan.output}", positions(plan.effective_shapes[position]))
        return index_map_jacobian(plan.effective_shapes[position], moved)
    if len(operands) == 2:
        other = _effective(plan, 1 - position, np.asarray(operands[1 - position]))
        jacobian = _matrix_product_jacobian(plan, position, other, names[1 - position])
        if jacobian is not None:
            return jacobian
    others = [j for j in range(len(operands)) if j != position]
    return Contraction([_effective(plan, j, np.asarray(operands[j])) for j in others],
                       [plan.effective[j] for j in others], x_labels, plan.output, plan.sizes,
                       names=[names[j] for j in others])


# -------------------------------------------------------------------- einsum
def _einsum_impl(*operands, subscripts, optimize=False, order="K"):
    if order == "K":
        return plain_einsum(subscripts, *operands, optimize=optimize)
    return np.einsum(subscripts, *operands, optimize=optimize, order=order)


def _shapes(arrays):
    return tuple([a.shape if type(a) is np.ndarray else tuple(shape_of(a)) for a in arrays])


def _einsum_vjp(position):
    def vjp(g, ans, *operands, subscripts, optimize=False, order="K"):
        return einsum_cotangent(einsum_plan(subscripts, _shapes(operands)), position, g, operands)

    vjp.returns_fresh = fresh_unless_aliased
    return vjp


def fresh_unless_aliased(contribution, protected):
    """True when an einsum cotangent shares no memory with the `protected` arrays
    (Ḡ, the operands; ``kronvec/_tracer.py``, reverse_sweep): an einsum (and the
    reshapes, placements and products of ``contract``) returns a new array or a
    view of one of its operands, so the reverse sweep may then reuse it in place."""
    if type(contribution) is not np.ndarray or not contribution.flags.writeable or \
            0 in contribution.strides and contribution.size > 1:  # (a broadcast view)
        return False
    for other in protected:
        if type(other) is np.ndarray and np.may_share_memory(contribution, other):
            return False
    return True


def _einsum_jacobian(position):
    def jacobian(ans, *operands, names, subscripts, optimize=False, order="K"):
        return einsum_jacobian(einsum_plan(subscripts, _shapes(operands)), position, operands, names)

    return jacobian


def _einsum_sample(subscripts, *shapes, optimize=False):
    def sample(rng):
        return _samples.Sample(tuple(rng.standard_normal(shape) for shape in shapes),
                               {"subscripts": subscripts, "optimize": optimize})

    return sample


einsum = register(Primitive(
    _einsum_impl, name="einsum",
    vjps=_einsum_vjp, jacobians=_einsum_jacobian,
    label=lambda *labels, subscripts, optimize=False, order="K": None,
    formula="D_X einsum(…, X, …) = the contraction V ↦ einsum(…, V, …) (I ⊗ A for ij,jk->ik); "
            "X̄ = einsum(Ḡ, others → X's labels), placed on X's diagonals",
    reference="linearity in each operand; Magnus–Neudecker Thm 2.2 for the matrix product",
    samples=lambda rng, n: _samples.Sample(
        (rng.standard_normal((n, n + 1)), rng.standard_normal((n + 1, n + 2))), {"subscripts": "ij,jk->ik"}),
    param_names=("A", "B"),
    edge_cases={
        "trace": _einsum_sample("ii", (3, 3)),
        "diagonal times a matrix": _einsum_sample("ii,ij->ij", (3, 3), (3, 2)),
        "transposed product, implicit output": _einsum_sample("ji,kj", (3, 2), (4, 3)),
        "summed in one operand alone": _einsum_sample("ijk,j->i", (2, 3, 2), (3,)),
        "three operands": _einsum_sample("ij,jk,kl->il", (2, 3), (3, 3), (3, 2), optimize="greedy"),
        "broadcast stacks": _einsum_sample("...ij,...jk->...ik", (2, 2, 3), (1, 3, 2)),
        "outer product": _einsum_sample("i,j", (3,), (2,)),
        "transpose of one operand": _einsum_sample("ijk->kij", (2, 3, 2)),
    },
    fuzz=lambda Y, c: np.einsum("ij,kj->ik", Y, Y) / Y.shape[1],
    entire=True,
))


def _refuse_complex(function, arrays):
    for a in arrays:
        complex_data = a.dtype.kind == "c" if type(a) is np.ndarray else (
            not isinstance(a, Node) and np.iscomplexobj(a))
        if complex_data:
            raise TypeError(f"kronvec cannot differentiate {function} of complex data: kronvec "
                            "differentiates real functions only (split real and imaginary parts)")


def _captured_optimize(optimize):
    """``optimize=`` by value: an explicit path (a list) becomes a tuple."""
    if isinstance(optimize, (list, tuple)):
        return tuple(tuple(step) if isinstance(step, list) else step for step in optimize)
    return optimize


@numpy_function(np.einsum)
def _einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    refuse_arguments("np.einsum", out=(out, None), **({"casting": (casting, "safe")} if dtype is None else {}))
    subscripts, arrays = _as_subscripts(operands)
    _refuse_complex("np.einsum", arrays)
    if dtype is not None:  # NumPy casts each operand to dtype under `casting`, then contracts in dtype
        for x in arrays:
            if not np.can_cast(np.result_type(static_value(x)), dtype, casting=casting):
                raise TypeError(f"np.einsum: cannot cast an operand from {np.result_type(static_value(x))} "
                                f"to {np.dtype(dtype)} according to the rule {casting!r}")
        arrays = [in_dtype(x, dtype, "np.einsum") for x in arrays]
    einsum_plan(subscripts, _shapes(arrays))  # NumPy's error for subscripts it refuses, now
    return bind(einsum, *arrays, subscripts=subscripts, optimize=_captured_optimize(optimize), order=order)


@numpy_function(np.einsum_path)
def _einsum_path(*operands, optimize="greedy", einsum_call=False):
    # the path depends on the shapes alone: NumPy's own answer on the plain values
    return np.einsum_path(*(plain_value(a) for a in operands), optimize=optimize, einsum_call=einsum_call)


# ------------------------------------- NumPy's products, read as einsum subscripts
def _contraction(name, impl, subscripts_of, **fields):
    """A primitive whose value is NumPy's `impl` and whose derivatives are those of
    ``einsum(subscripts, *operands, *constants)``, with ``(subscripts, constants) =
    subscripts_of(shapes, **params)`` (the two are the same function)."""

    def plan_of(operands, params):
        shapes = _shapes(operands)
        subscripts, constants = subscripts_of(shapes, **params)
        return einsum_plan(subscripts, shapes + _shapes(constants)), constants

    def vjp_of(position):
        def vjp(g, ans, *operands, **params):
            plan, constants = plan_of(operands, params)
            return einsum_cotangent(plan, position, g, (*operands, *constants))

        vjp.returns_fresh = fresh_unless_aliased
        return vjp

    def jacobian_of(position):
        def jacobian(ans, *operands, names, **params):
            plan, constants = plan_of(operands, params)
            return einsum_jacobian(plan, position, (*operands, *constants),
                                   (*names, *(None,) * len(constants)))

        return jacobian

    return register(Primitive(impl, name=name, vjps=vjp_of, jacobians=jacobian_of, entire=True, **fields))


def _letters(count, skip=""):
    return "".join(c for c in _LETTERS if c not in skip)[:count]


# ----------------------------------------------------------------- tensordot
@functools.lru_cache(maxsize=256)
def _tensordot_subscripts(shapes, axes):
    (a_shape, b_shape), (a_axes, b_axes) = shapes, axes
    a_labels = list(_letters(len(a_shape)))
    b_labels = list(_letters(len(b_shape), skip="".join(a_labels)))
    for i, j in zip(a_axes, b_axes):
        b_labels[j] = a_labels[i]
    free_a = [c for i, c in enumerate(a_labels) if i not in a_axes]
    free_b = [c for j, c in enumerate(b_labels) if j not in b_axes]
    return f"{''.join(a_labels)},{''.join(b_labels)}->{''.join(free_a + free_b)}", ()


tensordot = _contraction(
    "tensordot", lambda a, b, axes: np.tensordot(a, b, axes=axes), _tensordot_subscripts,
    label=lambda a, b, axes: None,
    formula="the einsum summing a's `axes[0]` against b's `axes[1]` (see einsum)",
    reference="linearity in each operand; NumPy documentation of np.tensordot",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, 2, n + 1)), rng.standard_normal((n + 1, n, 3))),
                                           {"axes": ((0, 2), (1, 0))}),
    param_names=("A", "B"),
    edge_cases={"matrix product (axes=1)": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 3)), rng.standard_normal((3, 4))), {"axes": ((1,), (0,))}),
                "outer product (axes=0)": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 2)), rng.standard_normal(3)), {"axes": ((), ())}),
                "full contraction": lambda rng: _samples.Sample(
        (rng.standard_normal((2, 3)), rng.standard_normal((2, 3))), {"axes": ((0, 1), (0, 1))})},
    fuzz=lambda Y, c: np.tensordot(Y, Y, axes=((1,), (1,))) / Y.shape[1],
)


def _normalized_tensordot_axes(axes, a_ndim, b_ndim):
    try:
        count = int(axes)
    except TypeError:
        a_axes, b_axes = axes
        a_axes = (a_axes,) if np.ndim(a_axes) == 0 else tuple(a_axes)
        b_axes = (b_axes,) if np.ndim(b_axes) == 0 else tuple(b_axes)
    else:
        if count < 0:
            raise ValueError("np.tensordot: axes must be a non-negative integer")
        a_axes, b_axes = tuple(range(a_ndim - count, a_ndim)), tuple(range(count))
    if len(a_axes) != len(b_axes):
        raise ValueError("np.tensordot: shape-mismatch for sum")
    return (normalize_axes(a_axes, a_ndim, "np.tensordot") or (),
            normalize_axes(b_axes, b_ndim, "np.tensordot") or ())


@numpy_function(np.tensordot)
def _tensordot(a, b, axes=2):
    _refuse_complex("np.tensordot", (a, b))
    a_shape, b_shape = shape_of(a), shape_of(b)
    a_axes, b_axes = _normalized_tensordot_axes(axes, len(a_shape), len(b_shape))
    if any(a_shape[i] != b_shape[j] for i, j in zip(a_axes, b_axes)):
        raise ValueError(f"np.tensordot: shape-mismatch for sum: shapes {a_shape} and {b_shape} "
                         f"summed along axes {a_axes} and {b_axes}")
    return bind(tensordot, a, b, axes=(a_axes, b_axes))


# -------------------------------------------------------- inner, vdot, N-D dot
@functools.lru_cache(maxsize=256)
def _inner_subscripts(shapes):
    a_ndim, b_ndim = (len(s) for s in shapes)
    a = _letters(a_ndim)
    b = _letters(b_ndim - 1, skip=a) + a[-1]
    return f"{a},{b}->{a[:-1]}{b[:-1]}", ()


inner = _contraction(
    "inner", lambda a, b: np.inner(a, b), _inner_subscripts,
    label=lambda a, b: None,
    formula="the einsum ...i,...i over the last axes (see einsum): D_a = I ⊗ bᵀ-like contraction",
    reference="linearity in each operand; NumPy documentation of np.inner",
    samples=lambda rng, n: (rng.standard_normal((n, n + 1)), rng.standard_normal((2, n + 1))),
    param_names=("a", "b"),
    edge_cases={"two vectors": lambda rng: (rng.standard_normal(3), rng.standard_normal(3)),
                "3-D and a vector": lambda rng: (rng.standard_normal((2, 2, 3)), rng.standard_normal(3))},
)


@numpy_function(np.inner)
def _inner(a, b):
    _refuse_complex("np.inner", (a, b))
    if len(shape_of(a)) == 0 or len(shape_of(b)) == 0:
        return a * b  # NumPy: a scalar operand multiplies
    return bind(inner, a, b)


def _same_shape_subscripts(shapes):
    labels = _letters(len(shapes[0]))
    return f"{labels},{labels}->", ()


vdot = _contraction(
    "vdot", lambda a, b: np.vdot(a, b), _same_shape_subscripts,
    label=lambda a, b: None,
    formula="⟨a, b⟩ = vec(a)ᵀ vec(b): D_a = vec(b)ᵀ, D_b = vec(a)ᵀ",
    reference="linearity in each operand; NumPy documentation of np.vdot (real data: no conjugation)",
    samples=lambda rng, n: (rng.standard_normal((n, n + 1)), rng.standard_normal((n, n + 1))),
    param_names=("a", "b"),
)


@numpy_function(np.vdot)
def _vdot(a, b):
    _refuse_complex("np.vdot", (a, b))
    if shape_of(a) != shape_of(b):  # NumPy flattens both (row-major); their sizes must agree
        if math.prod(shape_of(a)) != math.prod(shape_of(b)):
            raise ValueError(f"np.vdot: vectors have different lengths: shapes {shape_of(a)} and {shape_of(b)}")
        a, b = np.reshape(a, (-1,)), np.reshape(b, (-1,))
    return bind(vdot, a, b)


@functools.lru_cache(maxsize=256)
def _dot_subscripts(shapes):
    (a_shape, b_shape) = shapes
    a = _letters(len(a_shape))
    if len(b_shape) == 1:
        return f"{a},{a[-1]}->{a[:-1]}", ()
    rest = _letters(len(b_shape) - 1, skip=a)
    b = rest[:-1] + a[-1] + rest[-1]
    return f"{a},{b}->{a[:-1]}{rest}", ()


dot = _contraction(
    "dot", lambda a, b: np.dot(a, b), _dot_subscripts,
    label=lambda a, b: None,
    formula="the einsum summing a's last axis against b's second-to-last (see einsum)",
    reference="linearity in each operand; NumPy documentation of np.dot",
    samples=lambda rng, n: (rng.standard_normal((2, n, n + 1)), rng.standard_normal((2, n + 1, n))),
    param_names=("A", "B"),
    edge_cases={"3-D with a vector": lambda rng: (rng.standard_normal((2, 2, 3)), rng.standard_normal(3)),
                "matrix with 3-D": lambda rng: (rng.standard_normal((2, 3)), rng.standard_normal((2, 3, 2)))},
)


# ----------------------------------------------- vecdot, matvec, vecmat (gufuncs)
def _fixed_subscripts(subscripts):
    return lambda shapes: (subscripts, ())


for _name, _subscripts, _sample in (
        ("vecdot", "...i,...i->...", lambda rng, n: (rng.standard_normal((n, n + 1)), rng.standard_normal(n + 1))),
        ("matvec", "...ij,...j->...i", lambda rng, n: (rng.standard_normal((2, n, n + 1)),
                                                       rng.standard_normal((1, n + 1)))),
        ("vecmat", "...i,...ij->...j", lambda rng, n: (rng.standard_normal(n),
                                                       rng.standard_normal((2, n, n + 1))))):
    _gufunc = getattr(np, _name, None)
    if isinstance(_gufunc, np.ufunc):  # NumPy ≥ 2.0 (vecdot), ≥ 2.2 (matvec, vecmat)
        ufunc(_gufunc, _contraction(
            _name, _gufunc, _fixed_subscripts(_subscripts),
            label=lambda a, b: None,
            formula=f"the einsum {_subscripts} (see einsum; real data: no conjugation)",
            reference=f"linearity in each operand; NumPy documentation of np.{_name}",
            samples=_sample, param_names=("a", "b"),
        ))


# --------------------------------------------------------------------- cross
def _levi_civita():
    epsilon = np.zeros((3, 3, 3))
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        epsilon[i, j, k], epsilon[i, k, j] = 1.0, -1.0
    epsilon.flags.writeable = False
    return epsilon


_EPSILON = _levi_civita()  # read-only: a constant by value


@functools.lru_cache(maxsize=256)
def _cross_subscripts(shapes, axisa, axisb, axisc):
    """c_i = ε_ijk a_j b_k over the broadcast leading axes; a 2-vector is a
    3-vector with a zero third component, and two 2-vectors give c_z alone."""
    a_shape, b_shape = shapes
    length_a, length_b = a_shape[axisa], b_shape[axisb]
    batch = max(len(a_shape), len(b_shape)) - 1
    letters = _letters(batch, skip="ijk")
    a = list(letters[batch - len(a_shape) + 1:])
    a.insert(axisa, "j")
    b = list(letters[batch - len(b_shape) + 1:])
    b.insert(axisb, "k")
    if length_a == 2 and length_b == 2:
        return f"{''.join(a)},{''.join(b)},jk->{letters}", (_EPSILON[2, :2, :2],)
    out = list(letters)
    out.insert(axisc, "i")
    return f"{''.join(a)},{''.join(b)},ijk->{''.join(out)}", (_EPSILON[:, :length_a, :length_b],)


cross = _contraction(
    "cross", lambda a, b, axisa, axisb, axisc: np.cross(a, b, axisa=axisa, axisb=axisb, axisc=axisc),
    _cross_subscripts,
    label=lambda a, b, axisa, axisb, axisc: None,
    formula="c = ε : (a ⊗ b): D_a c = [b]ₓᵀ-like contraction with the Levi-Civita symbol; ā = b × ḡ, b̄ = ḡ × a",
    reference="bilinearity; the Levi-Civita form of the cross product",
    samples=lambda rng, n: _samples.Sample((rng.standard_normal((n, 3)), rng.standard_normal((n, 3))),
                                           {"axisa": 1, "axisb": 1, "axisc": 1}),
    param_names=("a", "b"),
    edge_cases={"vectors along axis 0, broadcast": lambda rng: _samples.Sample(
        (rng.standard_normal((3, 2)), rng.standard_normal((3, 1))), {"axisa": 0, "axisb": 0, "axisc": 0})},
    # (2-vectors, deprecated by NumPy 2.0 with a warning, are checked in tests/test_contractions.py)
)


@numpy_function(np.cross)
def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    _refuse_complex("np.cross", (a, b))
    if axis is not None:
        axisa, axisb, axisc = axis, axis, axis
    a_shape, b_shape = shape_of(a), shape_of(b)
    if not a_shape or not b_shape:
        raise ValueError("np.cross: at least one array has zero dimension")
    axisa = normalize_axes(axisa, len(a_shape), "np.cross (axisa)")[0]
    axisb = normalize_axes(axisb, len(b_shape), "np.cross (axisb)")[0]
    if a_shape[axisa] not in (2, 3) or b_shape[axisb] not in (2, 3):
        raise ValueError("np.cross: incompatible dimensions for cross product (dimension must be 2 or 3)")
    if 3 in (a_shape[axisa], b_shape[axisb]):
        axisc = normalize_axes(axisc, max(len(a_shape), len(b_shape)), "np.cross (axisc)")[0]
    else:
        axisc = -1  # a scalar per pair: NumPy ignores axisc
    return bind(cross, a, b, axisa=axisa, axisb=axisb, axisc=axisc)


# ------------------------------------------------------------------ multi_dot
def _chain_order(shapes):
    """NumPy's ``_multi_dot_matrix_chain_order`` (Cormen et al., §15.2): the
    split of each sub-chain minimizing the scalar multiplications, ties as NumPy."""
    n = len(shapes)
    dims = [shapes[0][0]] + [shape[1] for shape in shapes]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


def _multiply_chain(arrays, split, i, j):
    if i == j:
        return arrays[i]
    k = split[i][j]
    return np.dot(_multiply_chain(arrays, split, i, k), _multiply_chain(arrays, split, k + 1, j))


@numpy_function(np.linalg.multi_dot)
def _multi_dot(arrays, *, out=None):
    refuse_arguments("np.linalg.multi_dot", out=(out, None))
    arrays = list(arrays)
    _refuse_complex("np.linalg.multi_dot", arrays)
    if len(arrays) < 2:
        raise ValueError("np.linalg.multi_dot: expecting at least two arrays.")
    if len(arrays) == 2:
        return np.dot(arrays[0], arrays[1])
    first, last = len(shape_of(arrays[0])), len(shape_of(arrays[-1]))
    if first == 1:  # a row vector
        arrays[0] = np.atleast_2d(arrays[0])
    if last == 1:  # a column vector
        arrays[-1] = np.transpose(np.atleast_2d(arrays[-1]))
    for a in arrays:
        if len(shape_of(a)) != 2:
            raise np.linalg.LinAlgError(
                f"np.linalg.multi_dot: {len(shape_of(a))}-dimensional array given. Array must be two-dimensional")
    shapes = [shape_of(a) for a in arrays]
    if len(arrays) == 3:  # NumPy's _multi_dot_three: the cheaper of (AB)C and A(BC)
        (p, q), (r, s) = shapes[0], shapes[2]
        if p * r * (q + s) < q * s * (p + r):
            result = np.dot(np.dot(arrays[0], arrays[1]), arrays[2])
        else:
            result = np.dot(arrays[0], np.dot(arrays[1], arrays[2]))
    else:
        result = _multiply_chain(arrays, _chain_order(shapes), 0, len(arrays) - 1)
    if first == 1 and last == 1:
        return result[0, 0]
    if first == 1 or last == 1:
        return np.ravel(result)
    return result


# ------------------------------------------- np.linalg's array-API spellings
_linalg = np.linalg
if hasattr(_linalg, "vecdot"):  # NumPy ≥ 2.0: thin wrappers of the functions above

    @numpy_function(_linalg.matmul)
    def _linalg_matmul(x1, x2):
        return np.matmul(x1, x2)

    @numpy_function(_linalg.tensordot)
    def _linalg_tensordot(x1, x2, axes=2):
        return _tensordot(x1, x2, axes)

    @numpy_function(_linalg.vecdot)
    def _linalg_vecdot(x1, x2, axis=-1):
        # the dot product along `axis` of each operand: moved last, NumPy's vecdot
        x1 = np.moveaxis(x1, axis, -1) if axis not in (-1, len(shape_of(x1)) - 1) else x1
        x2 = np.moveaxis(x2, axis, -1) if axis not in (-1, len(shape_of(x2)) - 1) else x2
        return np.vecdot(x1, x2)

    @numpy_function(_linalg.outer)
    def _linalg_outer(x1, x2):
        if len(shape_of(x1)) != 1 or len(shape_of(x2)) != 1:
            raise ValueError(f"np.linalg.outer: input arrays must be one-dimensional, got shapes "
                             f"{shape_of(x1)} and {shape_of(x2)}")
        return np.outer(x1, x2)

    @numpy_function(_linalg.cross)
    def _linalg_cross(x1, x2, axis=-1):
        if shape_of(x1)[axis] != 3 or shape_of(x2)[axis] != 3:
            raise ValueError(f"np.linalg.cross: both input arrays must be (arrays of) 3-dimensional vectors, "
                             f"got shapes {shape_of(x1)} and {shape_of(x2)} along axis {axis}")
        return _cross(x1, x2, axis=axis)


# ----------------------------------------- np.convolve / np.correlate (1-D)
# The 1-D cases of kronvec.scipy.signal's convolve/correlate (derivatives.md §22): the same
# sums of products, differentiable in both arguments. NumPy's 'same' is sized by the longer
# argument (it swaps them first), and np.correlate's default mode is 'valid'.
def _one_dimensional(name, a, v):
    for argument, label in ((a, "a"), (v, "v")):
        if len(shape_of(argument)) != 1:
            raise ValueError(f"{name}: {label} must be 1-D, got shape {tuple(shape_of(argument))}")
        if shape_of(argument)[0] == 0:
            raise ValueError(f"{name}: {label} cannot be empty")


@numpy_function(np.convolve)
def _convolve(a, v, mode="full"):
    from ..scipy import signal  # (kronvec.scipy builds on these modules: imported on first use)

    _one_dimensional("np.convolve", a, v)
    if shape_of(v)[0] > shape_of(a)[0]:
        a, v = v, a  # NumPy swaps so that 'same' has the longer length (convolution commutes)
    return _with_numpys_value(signal.convolve(a, v, mode=mode), a, v, mode, np.convolve)


@numpy_function(np.correlate)
def _correlate(a, v, mode="valid"):
    from ..scipy import signal

    _one_dimensional("np.correlate", a, v)
    if shape_of(v)[0] > shape_of(a)[0]:
        # NumPy: c[k] = Σₙ a[n+k]·v[n]; for a longer v it correlates v with a and reverses
        return _with_numpys_value(np.flip(signal.correlate(v, a, mode=mode)), a, v, mode, np.correlate)
    return _with_numpys_value(signal.correlate(a, v, mode=mode), a, v, mode, np.correlate)


def _numpys_value_correction(a, v, composite, mode, numpy_function):
    """NumPy's value minus the recorded composite's (a rule for ``decided``, on plain values)."""
    return numpy_function(a, v, mode=mode) - composite


def _with_numpys_value(result, a, v, mode, numpy_function):
    """`result` (the recorded composite: gathered windows times the kernel, with its structured
    Jacobian) plus NumPy's value minus its own: the sum is NumPy's value bit for bit (the two
    differ in the order of the dot products, by a few ulps, so their difference is exact and
    adding it back gives NumPy's), and the correction, a decision on the values (taken again
    at each compiled replay, on that replay's composite), carries no derivative."""
    return result + decided(functools.partial(_numpys_value_correction, mode=mode, numpy_function=numpy_function),
                            a, v, result)
