"""The one registry: every differentiable operation, defined once.

A :class:`Primitive` holds an operation's value (``impl``), its
vector-Jacobian products (``vjps``, written with NumPy operations so they can
be traced again: that is what makes Hessians), its structured Jacobians
(``jacobians``, numerator layout, as operators), a label for formulas, and —
for kronvec's own operations — the vec-form formula, a public reference and
sample inputs.  Everything else is derived from these definitions: the NumPy
dispatch tables (:data:`NUMPY_FUNCTIONS`, :data:`UFUNCS`),
``kronvec.SUPPORTED_FUNCTIONS``, ``kronvec.rules``, the test sweep, the
fuzzing templates and the asv benchmarks.

Users define their own operations with the same class (``kronvec.primitive``),
as with autograd's ``primitive`` + ``defvjp`` or ``jax.custom_vjp``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from .._constants import check_real_dtype
from .._tracer import Node, bind, holds_nodes, static_value

__all__ = [
    "Primitive",
    "primitive",
    "Sample",
    "register",
    "REGISTRY",
    "NUMPY_FUNCTIONS",
    "NUMPY_METHODS",
    "numpy_method",
    "UFUNCS",
    "UFUNCS_WITH_PARAMETERS",
    "VALUE_ONLY_UFUNCS",
    "VALUE_ONLY_OPERATIONS",
    "VALUE_ONLY_UNLESS_TRACED",
    "numpy_function",
    "ufunc",
    "value_only_ufunc",
]


@dataclasses.dataclass(frozen=True)
class Sample:
    """Arguments for one evaluation of an operation: ``op.impl(*args, **params)``.

    ``max_order`` is the highest derivative order kronvec computes exactly at
    this point; beyond it, the documented error is raised (e.g. the third
    derivative of det at a singular matrix needs its inverse: ``LinAlgError``).
    """

    args: tuple
    params: dict = dataclasses.field(default_factory=dict)
    max_order: int = 3


class MissingVJPError(TypeError, NotImplementedError):
    """An operation differentiated where it has no VJP: kronvec's refusal (a TypeError),
    and a NotImplementedError too, which is what autograd and JAX raise for a primitive
    without a rule — so code written for either catches it unchanged."""


class _Derivatives(dict):
    """position → derivative function.

    Given as a dict, or — for operations taking any number of arrays
    (``np.concatenate``) — as a factory ``position → function``.  A missing
    VJP is a clear ``TypeError`` (:class:`MissingVJPError`), not a ``KeyError``.
    """

    __slots__ = ("owner", "kind", "factory")

    def __init__(self, owner, kind, entries):
        self.owner, self.kind = owner, kind
        self.factory = entries if callable(entries) else None
        super().__init__({} if self.factory or entries is None else entries)

    def of(self, position):
        """The derivative for `position`, or None when there is none."""
        found = dict.get(self, position)
        if found is None and self.factory is not None:
            found = self[position] = self.factory(position)
        return found

    def __missing__(self, position):
        found = self.of(position)
        if found is not None:
            return found
        if self.kind != "VJP":
            raise KeyError(position)
        raise MissingVJPError(
            f"kronvec cannot differentiate {self.owner} with respect to its argument "
            f"{position}: it has no {self.kind} for that argument"
            + (" (define one with .defvjp)" if self.kind == "VJP" else "")
        )


class Primitive:
    """A differentiable operation: its value and its derivatives, in one place.

    Parameters
    ----------
    impl : callable
        ``impl(*args, **params)`` on plain arrays; never sees a traced value.
        Positional arguments are the array operands (the ones that can be
        differentiated); keyword parameters are static (axes, shapes, keys).
    name : str, optional
        The name users know (``"linalg.inv"``); defaults to ``impl``'s name.
    vjps : dict position → callable, optional
        ``vjp(g, ans, *args, **params)`` → the cotangent of argument
        `position`, shaped like it, for a cotangent `g` shaped like ``ans``.
        Written with NumPy operations (so it can be traced again).  For an
        operation on any number of arrays, a factory ``position → vjp``.
    jacobians : dict position → callable (or a factory), optional
        ``jacobian(ans, *args, names, **params)`` → the structured Jacobian
        (a :class:`~kronvec.StructuredOperator`, numerator layout) of the
        output with respect to that argument, from plain arrays; ``names``
        are the arguments' labels for formulas (None for unnamed ones).
        Without one, kronvec builds the Jacobian from the VJP.
    label : callable, optional
        ``label(*arg_labels, **params)`` → the formula of the output.
    formula, reference : str, optional
        The vec form of the derivative and where it comes from (required
        for kronvec's own operations).
    samples : callable, optional
        ``samples(rng, n)`` → a tuple of arguments (or a :class:`Sample`)
        in a well-conditioned domain, of size about n.
    edge_cases : dict name → callable, optional
        ``edge_case(rng)`` → a tuple of arguments (or a :class:`Sample`) at a
        named hard point where the derivative is still defined.
    param_names : tuple of str, optional
        Names of the positional arguments for formulas (``("A", "B")``).
    rule_names : dict position → str, optional
        Publish ``kronvec.rules.<name>(*args)``: the structured Jacobian with
        respect to that argument.
    fuzz : callable, optional
        ``fuzz(Y, constants)`` → the operation applied to a generic matrix Y
        (mapped into its domain): a template for the random-composition tests.
    signature : str, optional
        The arguments' shapes in NumPy's generalized-ufunc notation, e.g.
        ``"(m,k),(k,q)->(m,q)"``: lets tests build conforming arguments of any size.
    entire : bool
        True when the operation is smooth everywhere (a polynomial or an entire
        function): finite differences are then a valid oracle at any point.
    decisions : dict name → callable, optional
        Parameters that the operation's front door decides on the values of its
        operands when it records the operation (np.sort's permutation: the stable
        sort itself), each with the function that decides it:
        ``decide(*args, **other_params)`` gives parameter `name` again from the
        recorded arguments and the node's other parameters.  The tracer never
        calls them (the front door decides once); they say that the decision is
        the operation's own arithmetic — what plain code sorting with NumPy
        computes too, which ``benchmarks/measure_recording.py`` replays with
        ``impl`` — and tests check every recorded decision against them.
    """

    __slots__ = ("name", "impl", "vjps", "jacobians", "label", "formula", "reference",
                 "samples", "edge_cases", "param_names", "rule_names", "fuzz", "signature", "entire",
                 "decisions", "promotes", "promotes_integers", "__weakref__")

    def __init__(self, impl, *, name=None, vjps=None, jacobians=None, label=None, formula=None,
                 reference=None, samples=None, edge_cases=None, param_names=None, rule_names=None,
                 fuzz=None, signature=None, entire=False, decisions=None):
        self.name = name or getattr(impl, "__qualname__", None) or repr(impl)
        self.impl = impl
        self.vjps = _Derivatives(self.name, "VJP", vjps)
        self.jacobians = _Derivatives(self.name, "Jacobian", jacobians)
        self.label = label or (lambda *names, **params: f"{self.name}({', '.join(map(str, names))})")
        self.formula = formula
        self.reference = reference
        self.samples = samples
        self.edge_cases = dict(edge_cases or {})
        self.param_names = tuple(param_names) if param_names else None
        self.rule_names = dict(rule_names or {})
        self.fuzz = fuzz
        self.signature = signature
        self.entire = entire
        self.decisions = dict(decisions or {})
        # True for the primitives NumPy ufuncs route to (set by `ufunc`): NumPy computes a ufunc
        # in its operands' common type, so a float32 constant meeting a float64 traced operand
        # is recorded as float64 (kronvec._tracer.bind) and the rules compute in float64 too;
        # an integer or boolean constant likewise, unless the ufunc has loops taking integers
        # beside floats (ldexp's exponent, yn's order), whose NumPy keeps them integers
        self.promotes = False
        self.promotes_integers = False

    def __call__(self, *args, **params):
        """Apply the operation: recorded when an argument is traced, else plain."""
        for arg in args:
            if isinstance(arg, Node) or holds_nodes(arg):  # (or an object array of np.array([x, y]))
                result = bind(self, *args, **params)
                # kronvec's own operations are real on real data; a user's might not be
                value = getattr(result, "_value", result)
                if isinstance(value, (tuple, list)):  # (a recorded value is one array: its VJP takes one g)
                    raise TypeError(
                        f"kronvec: {self.name} returned a {type(value).__name__}; a primitive returns "
                        "one array (define one primitive per output)")
                if getattr(value, "dtype", None) is not None and value.dtype.kind == "c":
                    check_real_dtype(value.dtype, f"the result of {self.name}")
                return result
        return self.impl(*args, **params)

    def defvjp(self, *vjps, argnums=None):
        """Define the VJPs: one ``vjp(g, ans, *args, **params)`` per argument.

        ``defvjp(vjp_x, vjp_y)`` sets the VJPs of arguments 0 and 1; pass None
        for an argument that is not differentiable, or name the positions with
        ``argnums``.  Returns the primitive, so calls chain.
        """
        users = REGISTRY.get(self.name) is not self  # (kronvec's own are checked by the sweep)
        for position, vjp in zip(argnums if argnums is not None else range(len(vjps)), vjps):
            if vjp is not None:
                self.vjps[int(position)] = _checked_vjp(self.name, int(position), vjp) if users else vjp
        return self

    def defjacobian(self, *jacobians, argnums=None):
        """Define structured Jacobians: one ``jacobian(ans, *args, **params)`` per argument,
        returning a :class:`~kronvec.StructuredOperator` of shape (output size, argument size).

        Optional: without it kronvec applies the Jacobian through the VJP.
        """
        for position, jacobian in zip(argnums if argnums is not None else range(len(jacobians)), jacobians):
            if jacobian is not None:
                self.jacobians[int(position)] = _accepting_names(self.name, int(position), jacobian)
        return self

    def __repr__(self):
        return f"<kronvec primitive {self.name}>"


def _shape(x):
    shape = getattr(x, "shape", None)  # ndarray and traced values both have one
    return tuple(shape) if shape is not None else np.shape(x)


def _checked_vjp(owner, position, vjp):
    """A user's VJP, refused loudly when what it returns cannot be argument `position`'s
    cotangent: a wrong shape (reshaped or broadcast, it would be a wrong gradient; a VJP
    ignoring g is not linear in it, and its transpose — the jvp, the Jacobian — would be
    silently 0) or complex data (cast to real, a wrong gradient). None stays "no
    contribution", as a zero cotangent in ``jax.custom_vjp``."""

    def checked(g, ans, *args, **params):
        cotangent = vjp(g, ans, *args, **params)
        if cotangent is None:
            return None
        if type(cotangent) is np.ndarray and cotangent.dtype.hasobject:
            # np.asarray(g), np.vectorize(...)(x) of a traced g or x, traced again for a second
            # derivative: an object array of traced entries, one recorded value once lifted
            # (left as it was, the sweep took it for a constant: a wrong Hessian)
            from .joining import lift

            cotangent = lift(cotangent, f"the VJP of {owner} for its argument {position}")
        expected, got = _shape(args[position]), _shape(cotangent)
        if got != expected:
            raise ValueError(
                f"kronvec: the VJP of {owner} for its argument {position} returned an array of "
                f"shape {got}; a cotangent is shaped like its argument, {expected}")
        dtype = getattr(static_value(cotangent), "dtype", None)
        if dtype is not None:
            check_real_dtype(dtype, f"the VJP of {owner} for its argument {position}")
        return cotangent

    checked.__wrapped__ = vjp
    return checked


def _accepting_names(owner, position, jacobian):
    """A user's ``jacobian(ans, *args, **params)`` in the registry's calling convention,
    refused loudly when the operator it returns is not (size of ans) × (size of the argument)."""

    def with_names(ans, *args, names=None, **params):
        operator = jacobian(ans, *args, **params)
        if not hasattr(operator, "is_identity") and hasattr(operator, "shape"):
            # an ndarray, a SciPy sparse matrix or LinearOperator: wrapped (they crashed
            # inside the operator algebra with an AttributeError)
            from ..operators import as_operator

            operator = as_operator(operator)
        expected = (math.prod(_shape(ans)), math.prod(_shape(args[position])))
        shape = getattr(operator, "shape", None)
        if not hasattr(operator, "matvec") or shape is None or tuple(shape) != expected:
            raise ValueError(
                f"kronvec: the Jacobian of {owner} for its argument {position} must be a "
                f"StructuredOperator of shape {expected} (output size × argument size); got "
                f"{type(operator).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else ""))
        return operator

    with_names.__wrapped__ = jacobian
    return with_names


def primitive(impl=None, *, name=None):
    """Make a function differentiable by kronvec with rules you give it.

    Decorate a function written on plain arrays, then give its VJP with
    :meth:`Primitive.defvjp` (and, optionally, its structured Jacobian with
    :meth:`Primitive.defjacobian`).  Called on traced values inside a function
    kronvec differentiates, it is recorded as one operation; called on plain
    arrays, it is the function itself.  Derivatives of every order follow when
    the VJP is written with NumPy operations (it is then traced in turn).

    Examples
    --------
    >>> import numpy as np
    >>> import kronvec
    >>> @kronvec.primitive
    ... def logsumexp(x):
    ...     top = np.max(x)
    ...     return top + np.log(np.sum(np.exp(x - top)))
    >>> _ = logsumexp.defvjp(lambda g, ans, x: g * np.exp(x - ans))
    >>> x = np.array([0.0, np.log(3.0)])
    >>> kronvec.grad(lambda x: 2.0 * logsumexp(x))(x)     # 2·softmax(x)
    array([0.5, 1.5])
    """
    if impl is None:
        return lambda function: primitive(function, name=name)
    return Primitive(impl, name=name)


#: kronvec's own operations, by name.
REGISTRY: dict[str, Primitive] = {}
#: NumPy function → handler(*args, **kwargs), used by ``__array_function__``.
NUMPY_FUNCTIONS: dict = {}
#: ndarray method name → handler(array, *args, **kwargs), for methods of traced
#: values beyond the common ones the traced array defines itself.
NUMPY_METHODS: dict = {}
#: NumPy ufunc → primitive, used by ``__array_ufunc__``.
UFUNCS: dict = {}
#: Ufuncs with arguments that are parameters, not variables (a Bessel function's
#: order ν, the shape a of the incomplete gamma function): ufunc → (primitive,
#: {position: argument name}).  They are differentiated in their other arguments;
#: a traced value passed as a parameter is refused, naming the function and the argument.
UFUNCS_WITH_PARAMETERS: dict = {}
#: Ufuncs whose result carries no derivative (comparisons, predicates, rounding):
#: ufunc → what evaluates it on the plain values, so piecewise code
#: (``np.where(X > 0, ...)``, ``int(np.floor(x))``) runs.
VALUE_ONLY_UFUNCS: dict = {}
#: The same ufuncs as recorded operations of derivative 0: what a recording made for
#: replay (``kronvec._compiled``) records instead of evaluating them once, so that
#: every replay takes the decision again (a mask for np.where, a sign).  Filled at
#: import, read only afterwards.
VALUE_ONLY_OPERATIONS: dict = {}
#: Value-only ufuncs that are differentiable in one argument after all: ufunc →
#: (position, the function computing it when that argument is traced) — np.heaviside(x, h)
#: is a step in x but h itself where x = 0.  Filled at import, read only afterwards.
VALUE_ONLY_UNLESS_TRACED: dict = {}

_REQUIRED = ("formula", "reference", "samples")


def register(op: Primitive) -> Primitive:
    """Add one of kronvec's own operations to :data:`REGISTRY`.

    Refuses an operation without a formula, a reference or samples, and a
    name registered twice: the sweep in ``tests/test_registry.py`` checks
    every entry against finite differences, so none may be left without
    the means to check it.
    """
    missing = [field for field in _REQUIRED if not getattr(op, field)]
    if missing:
        raise ValueError(f"kronvec operation {op.name!r} registered without {', '.join(missing)}")
    if op.name in REGISTRY:
        raise ValueError(f"kronvec operation {op.name!r} registered twice")
    REGISTRY[op.name] = op
    return op


def _front_door(table, keys):
    """A decorator entering its handler in `table` under each key, once."""

    def register_handler(handler: Callable):
        for key in keys:
            if key in table:
                raise ValueError(f"two handlers for {key!r}")
            table[key] = handler
        return handler

    return register_handler


def numpy_function(*functions):
    """Register the decorated handler as what a traced value does for each NumPy function."""
    return _front_door(NUMPY_FUNCTIONS, functions)


def numpy_method(*names):
    """Register the decorated handler as the ndarray method(s) `names` of traced values."""
    return _front_door(NUMPY_METHODS, names)


_INTEGER_CODES, _FLOAT_CODES = frozenset("?bBhHiIlLqQ"), frozenset("efdg")  # (NumPy's type characters)


def ufunc(numpy_ufunc, op: Primitive, parameters=None):
    """Route a NumPy ufunc called on traced values to a primitive.

    ``parameters`` maps the positions of arguments that are parameters (not
    differentiated: `op` has no VJP there) to their names: a traced value there
    is refused by name (:data:`UFUNCS_WITH_PARAMETERS`).
    """
    if numpy_ufunc in UFUNCS or numpy_ufunc in UFUNCS_WITH_PARAMETERS:
        raise ValueError(f"two primitives for {numpy_ufunc!r}")
    op.promotes = True
    op.promotes_integers = not any(set(types.split("->")[0]) & _INTEGER_CODES and set(types.split("->")[0]) & _FLOAT_CODES
                                   for types in numpy_ufunc.types)
    if parameters:
        UFUNCS_WITH_PARAMETERS[numpy_ufunc] = (op, dict(parameters))
    else:
        UFUNCS[numpy_ufunc] = op
    return op


def value_only_ufunc(*numpy_ufuncs, evaluate=None, unless_traced=None):
    """Evaluate these ufuncs on the plain values of traced arguments (by `evaluate`,
    e.g. a ``loud`` one, or the ufunc itself): their results carry no derivative —
    unless `unless_traced`, (position, function), names an argument they are
    differentiable in: traced there, the ufunc is computed by that function instead."""
    for numpy_ufunc in numpy_ufuncs:
        VALUE_ONLY_UFUNCS[numpy_ufunc] = evaluate or numpy_ufunc
        if unless_traced is not None:
            VALUE_ONLY_UNLESS_TRACED[numpy_ufunc] = unless_traced
        VALUE_ONLY_OPERATIONS[numpy_ufunc] = Primitive(
            evaluate or numpy_ufunc, name=f"np.{numpy_ufunc.__name__}", vjps=_zero_vjp, jacobians=_zero_jacobian)


def _zero_vjp(position):
    """The pullback of an operation whose value is piecewise constant: 0, shaped like
    argument `position` (notes/conventions.md §7)."""

    def vjp(g, ans, *args, **params):
        arg = args[position]
        shape = getattr(arg, "shape", None)
        return np.zeros(shape if shape is not None else np.shape(arg))

    return vjp


def _zero_jacobian(position):
    """The Jacobian of a piecewise-constant operation: the zero operator (not a dense zero
    matrix built from the VJP, n² × n² for an n × n comparison in a compiled jacobian)."""
    from ..operators import Zero  # (the operators do not import the registry: no cycle, but late)

    def jacobian(ans, *args_then_names, **params):
        return Zero((int(np.size(ans)), int(np.size(args_then_names[position]))))

    return jacobian


def _decide(*values, rule):
    return rule(*values)


#: A decision a rule takes on values (a tie, a sign, a zero check, a symmetry test): the
#: result of a plain function of them, piecewise constant, so its derivative is 0.  Recorded
#: only where a replay must take it again (see :func:`kronvec.ops._support.decided`).
DECISION = Primitive(_decide, name="decision", vjps=_zero_vjp, jacobians=_zero_jacobian)
