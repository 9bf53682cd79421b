"""Helpers the operation families share: shapes, broadcasting, index maps,
diagonal Jacobians, loud elementwise evaluation and formula labels."""

from __future__ import annotations

import functools
import math

import numpy as np

from .._tracer import Node, bind, compile_guard, plain_value, static_value
from .._vec import unvec, vec
from .._linalg.scope import _current as _current_scope
from ..operators import Dense, Diag, Identity, algebra, selection_from_index

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)

__all__ = [
    "shape_of",
    "size_of",
    "positions",
    "index_map_jacobian",
    "broadcast_jacobian",
    "unbroadcast",
    "elementwise_jacobian",
    "loud",
    "quiet",
    "derived_label",
    "scalar_constant",
]


def shape_of(x):
    """The shape of an array, a traced value or a Python scalar."""
    if type(x) is float:  # the unit cotangent of a scalar output
        return ()
    shape = getattr(x, "shape", None)  # ndarray and traced values both have one
    return shape if shape is not None else np.shape(x)


def size_of(x):
    return math.prod(shape_of(x))


def positions(shape):
    """The array of vec positions laid out in `shape`: P[i, j] = i + j*m."""
    return unvec(np.arange(math.prod(shape), dtype=np.intp), shape)


def index_map_jacobian(in_shape, moved_positions):
    """Jacobian of an index-moving operation, read off where it moved the vec
    positions (``moved_positions = op(positions(in_shape))``): a 0/1 selection."""
    # (the identity and the commutation matrix come back as such: K_{m,n} for Xᵀ and X.ravel())
    return selection_from_index(vec(moved_positions), math.prod(in_shape))


def broadcast_jacobian(in_shape, out_shape):
    """Jacobian of ``broadcast_to(x, out_shape)``: a selection (identity if no-op)."""
    if tuple(in_shape) == tuple(out_shape):
        return Identity(math.prod(in_shape))
    return index_map_jacobian(in_shape, np.broadcast_to(positions(in_shape), out_shape))


def unbroadcast(g, shape):
    """Sum the cotangent `g` over the axes that broadcasting added to `shape`."""
    if shape_of(g) == shape:
        return g
    shape = tuple(shape)
    while len(shape_of(g)) > len(shape):
        g = np.sum(g, axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and shape_of(g)[axis] != 1:
            g = np.sum(g, axis=axis, keepdims=True)
    return g


def scalar_constant(x):
    """A plain (untraced) operand of size 1, as a float; None otherwise."""
    if isinstance(x, Node):
        return None
    x = np.asarray(x)
    return float(x.reshape(())) if x.size == 1 and x.dtype.kind in "biuf" else None


#: How tightly each infix operator of a formula label binds (higher: tighter); a postfix ᵀ
#: and a function call bind tightest.  Used to parenthesize operands, so that the label
#: of (A + B)·C is "(A + B)·C" and that of (XᵀX)ᵀ is "(Xᵀ·X)ᵀ", never "A + B·C" or "Xᵀ·Xᵀ".
_BINDING = {" + ": 1, " - ": 1, " ∘ ": 2, " / ": 2, " ⊗ ": 2, "·": 3, "^": 4}
_ATOM = 5


def label_binding(label):
    """How tightly the loosest operator at the top level of `label` binds (``_ATOM``
    for a name, a call, a bracketed or transposed group); a leading minus binds like ∘."""
    depth, loosest, i = 0, _ATOM, 0
    while i < len(label):
        character = label[i]
        if character in "([{⟨":
            depth += 1
        elif character in ")]}⟩":
            depth -= 1
        elif depth == 0:
            for symbol, binding in _BINDING.items():
                if label.startswith(symbol, i):
                    loosest = min(loosest, binding)
                    i += len(symbol) - 1
                    break
        i += 1
    if label.startswith("-"):
        loosest = min(loosest, 2)
    return loosest


def operand_label(label, binding, right=False):
    """`label` as an operand of an operator binding this tightly: parenthesized when its
    own top-level operator binds more loosely (or equally, on the right of a
    non-associative operator: A - (B - C), A / (B / C))."""
    own = label_binding(label)
    return f"({label})" if own < binding or (right and own == binding and own < _ATOM) else label


def infix_label(symbol):
    """The label function of the infix operator `symbol` (a key of ``_BINDING``)."""
    binding = _BINDING[symbol]
    associative = symbol in (" + ", " ∘ ", "·", " ⊗ ")

    def label(a, b, *_, **__):
        if a is None or b is None:
            return None
        return f"{operand_label(str(a), binding)}{symbol}{operand_label(str(b), binding, right=not associative)}"

    return label


def transposed_label(a):
    """The label of aᵀ: a name or call gets ᵀ, anything else its parentheses first."""
    return None if a is None else f"{operand_label(str(a), _ATOM)}ᵀ"


def decided(rule, *args):
    """``rule(*plain values of args)``: a decision a rule takes on values, e.g. the weights
    of tied maxima or the sign of x (a piecewise-constant function: derivative 0).

    Evaluated on the plain values, as every rule reads them — except in a recording made
    for replay (``compile=True``) of a rule that is itself traced (the second-order rules
    behind ``hvp``), where it is recorded as an operation: a replay then takes the
    decision again on its own values instead of reusing the first call's
    (``kronvec/_compiled/guard.py``).  Its result is then a traced value, so `rule` must
    return an array used only in NumPy arithmetic (no ``if`` on it, no index).
    """
    for arg in args:
        if isinstance(arg, Node) and compile_guard(arg) is not None:
            from ._registry import DECISION  # (the registry builds on this module)

            return bind(DECISION, *args, rule=rule)
    return rule(*[plain_value(arg) if isinstance(arg, Node) else arg for arg in args])


def is_zero(x):
    """x == 0 entrywise (a rule for :func:`decided`)."""
    return np.asarray(x) == 0


def traced_argument_error(value, message, what):
    """The TypeError for a traced `value` passed where a plain one is needed (a mask,
    indices, split points), for the caller to raise.

    Under ``compile=True`` a comparison (``x > 0``) and the other value-only ufuncs give
    traced booleans and integers, recorded so that each replay takes the decision again
    (``notes/compile.md`` §3).  Such a mask looks plain to the user and is plain without
    compile=True, so demanding "a plain mask" names neither the cause nor the way out:
    there the error is the compile refusal, naming `what` decides and
    ``without compile=True``.  A traced float (refused with compile=True or without) keeps
    `message`.
    """
    guard = compile_guard(value)
    if guard is not None and static_value(value).dtype.kind in "biu":
        return guard.refusal(f"{what} computed from traced values (a comparison such as x > 0 is one) "
                             "decides which entries are used")
    return TypeError(message)


def derived_label(template, *labels):
    """A formula label built from the operands' labels; None (unnamed) when any
    operand is unnamed, so a printed name is never a guess."""
    if any(label is None for label in labels):
        return None
    return template.format(*labels)


def elementwise_jacobian(derivative, arg_shape, out_shape, label=None):
    """Diag(vec f') composed with the broadcast of the argument to the output shape."""
    scalar = scalar_constant(derivative) if np.size(derivative) == 1 else None
    broadcast = broadcast_jacobian(arg_shape, out_shape)
    if scalar is not None:
        return algebra.scale(broadcast, scalar)
    values = np.broadcast_to(np.asarray(derivative, dtype=np.result_type(derivative, np.float32)), out_shape)
    if math.prod(arg_shape) == 1 and values.size > 1:
        return Dense(vec(values).reshape(-1, 1), name=derived_label("vec({})", label))
    return algebra.multiply(Diag(vec(values), name=derived_label("diag(vec {})", label)), broadcast)


class _Errstate:
    """``np.errstate(all="ignore")`` with the context variable's set/reset interface."""

    @staticmethod
    def set(_):
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    @staticmethod
    def reset(state):
        state.__exit__(None, None, None)


try:  # NumPy's floating-point error state is a context variable (NumPy 2); setting it
    # directly costs a tenth of entering ``np.errstate``, which elementwise maps pay per call.
    from numpy._core.umath import _extobj_contextvar as _fp_state
    from numpy._core.umath import _make_extobj

    _QUIET = _make_extobj(all="ignore")
except ImportError:  # pragma: no cover - another NumPy: the public (slower) spelling
    _fp_state, _QUIET = _Errstate, None


def _all_finite(result):
    """True unless `result` (an array or a scalar) has a NaN or ±inf entry."""
    if isinstance(result, float):
        return math.isfinite(result)
    result = np.asarray(result)
    return result.dtype.kind not in "fc" or bool(np.isfinite(result).all())


def loud(name, compute):
    """Evaluate an elementwise formula; a non-finite result from finite inputs is an error.

    At a domain edge (log or 1/x at 0, √x's derivative at 0) or on overflow
    NumPy would return inf/NaN with a RuntimeWarning; kronvec raises instead,
    so no NaN escapes into a derivative: right or loud.
    """

    def evaluate(*args):
        token = _fp_state.set(_QUIET)
        try:
            result = compute(*args)
        finally:
            _fp_state.reset(token)
        if type(result) is _ndarray and result.dtype.kind == "f":
            size = result.size
            if size <= _PYTHON_SUM_MAX_ENTRIES:
                # The smallest results: their sum as Python floats is finite when every
                # entry is (fewer C calls than ⟨r, r⟩); when it is not, the entries are looked at.
                if _isfinite(sum(result.ravel().tolist())):
                    return result
            elif size <= _VDOT_MAX_ENTRIES:
                # ⟨r, r⟩ is finite when every entry is: one BLAS call, the cheapest check for
                # the small arrays whose per-call overhead matters. When it is not (an entry
                # NaN or ±inf, or squares beyond the float range) the entries are looked at.
                if _isfinite(_vdot(result, result)):
                    return result
            elif _isfinite_all(result):  # (no BLAS: see _VDOT_MAX_ENTRIES)
                return result
        elif isinstance(result, Node):
            return result
        if not _all_finite(result) and all(_all_finite(a) for a in args if not isinstance(a, Node)):
            bad = int(np.count_nonzero(~np.isfinite(np.asarray(result))))
            raise ValueError(
                f"{name} is not finite at {bad} entr{'y' if bad == 1 else 'ies'} of a finite "
                "input (a domain edge such as log or 1/x at 0, or overflow); kronvec "
                "refuses rather than return inf/NaN. If those entries are discarded later, as in "
                "np.where(x > 0, np.log(x), 0), keep the argument inside the domain instead: "
                "np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), 0) has NumPy's value and a "
                "finite derivative"
            )
        return result

    return evaluate


def quiet(compute):
    """Evaluate `compute` without NumPy's floating-point warnings, and without
    :func:`loud`'s check: for formulas finite at every finite input whose
    intermediate steps may overflow harmlessly (1/(1 + x²) is 0 where x² is inf)."""

    def evaluate(*args):
        token = _fp_state.set(_QUIET)
        try:
            return compute(*args)
        finally:
            _fp_state.reset(token)

    return evaluate


_vdot, _isfinite = np.vdot, math.isfinite
#: Above this many entries the finiteness check is np.isfinite(r).all(), not ⟨r, r⟩:
#: OpenBLAS runs a long ddot on its thread pool, and on a busy 2-core machine with the
#: default threads that one check measured ~21 ms for 30,000 entries (0.1 ms pinned).
_VDOT_MAX_ENTRIES = 4096
#: Up to this many entries the check sums the entries as Python floats instead.
_PYTHON_SUM_MAX_ENTRIES = 16


def _isfinite_all(result):
    return bool(np.isfinite(result).all())


def keepdims_shape(shape, axis):
    """`shape` with the reduced axes kept as 1s."""
    if axis is None:
        return (1,) * len(shape)
    axes = {a % len(shape) for a in ((axis,) if np.isscalar(axis) else tuple(axis))}
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


_AxisError = getattr(getattr(np, "exceptions", np), "AxisError")  # (np.exceptions from NumPy 1.25)


def normalize_axes(axis, ndim, function):
    """``axis`` as a tuple of non-negative ints (None stays None).  Out of range: NumPy's
    ``AxisError`` (a ValueError and an IndexError), so code catching either still does."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    elif isinstance(axis, np.ndarray) and axis.ndim == 0:  # np.sum(x, axis=np.array(1)): NumPy takes its integer
        axes = (axis[()],)
    else:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
    normalized = []
    for a in axes:
        if isinstance(a, np.ndarray) and a.ndim == 0:
            a = a[()]
        if not isinstance(a, (int, np.integer)) or isinstance(a, (bool, np.bool_)):
            raise TypeError(f"{function}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise _AxisError(f"{function}: axis {a} is out of bounds for an array of dimension {ndim}")
        normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{function}: repeated axis in {axis!r}")
    return tuple(normalized)


def refuse_arguments(function, **given):
    """TypeError naming the NumPy function and each argument kronvec does not support.

    ``given`` maps an argument's name to ``(value, default)``; only values
    that differ from their default are refused.
    """
    unsupported = [name for name, (value, default) in given.items()
                   if not (value is default or (value is not None and default is not None and _equal(value, default)))]
    if unsupported:
        raise TypeError(
            f"kronvec cannot differentiate {function} with "
            + ", ".join(f"{name}={given[name][0]!r}" for name in unsupported)
            + " (see kronvec.SUPPORTED_FUNCTIONS)"
        )


def _equal(value, default):
    try:
        return bool(value == default)
    except Exception:  # noqa: BLE001 - arrays and odd objects: not the default
        return False


__all__ += ["keepdims_shape", "normalize_axes", "refuse_arguments", "plain_value", "static_value", "bind"]


# ------------------------------------------------- cotangents known to be c·I
# The gradient of a trace is c·I; the product below it (tr(X⁻¹C)) then pulls
# back c·I·Cᵀ = c·Cᵀ without a matrix product.  Such cotangents are marked in
# the current call's scope (never in module state) and are read-only.
def scaled_identity(scale, n, dtype=np.float64):
    """A read-only c·I_n, marked as such in the current call (or unmarked outside one)."""
    eye = _frozen_scaled_identity(scale, n, dtype)
    scope = _current_scope.get()
    if scope is not None:
        scope.scaled_identities.append((eye, scale))
    return eye


@functools.lru_cache(maxsize=32)
def _frozen_scaled_identity(scale, n, dtype):
    # Shared between calls and threads, and safe to: read-only, so nobody can change it
    # (an optimization loop asks for the same 1·I every iteration).
    eye = np.eye(n, dtype=dtype)
    if scale != 1.0:
        eye *= scale
    eye.flags.writeable = False
    return eye


def identity_scale(g):
    """c when the cotangent `g` is a c·I made by :func:`scaled_identity` in this call, else None."""
    if type(g) is not _ndarray:
        return None
    scope = _current_scope.get()
    if scope is not None:
        for eye, scale in scope.scaled_identities:
            if eye is g:
                return scale
    return None


__all__ += ["scaled_identity", "identity_scale"]


def matmul_2d(a, b):
    """a @ b: for two plain 2-D arrays by ``ndarray.dot`` (NumPy's BLAS, the pool
    of the factorizations of large matrices: see ``kronvec/_linalg/factorization.py``),
    for traced ones recorded."""
    if type(a) is _ndarray and type(b) is _ndarray and a.ndim == 2 and b.ndim == 2:
        return a.dot(b)  # (the matmul ufunc's overhead is felt by small matrices)
    return a @ b


def along_axis(operator, shape, axis):
    """The Jacobian of a linear map acting on one axis of an array of `shape`:
    ``I_(axes after) ⊗ M ⊗ I_(axes before)`` (vec runs fastest over the first
    axis; Magnus–Neudecker Thm 2.2 applied twice), identities of size 1 dropped."""
    before, after = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
    result = operator if before == 1 else algebra.kron(operator, Identity(before))
    return result if after == 1 else algebra.kron(Identity(after), result)


__all__ += ["along_axis", "matmul_2d"]


def undispatched(function):
    """NumPy's own implementation of the NumPy function `function`, without its
    ``__array_function__`` dispatch (NEP 18's ``_implementation``): for impls and
    VJPs on plain arrays, where the dispatch only finds that no argument overrides
    it (~1.5k instructions a call, which small arrays feel); `function` itself
    where NumPy does not expose it."""
    return getattr(function, "_implementation", function)


__all__ += ["undispatched"]


def on_plain_values(function, module):
    """`function` evaluated on the plain values of its traced arguments (positional or
    keyword, e.g. ``where=``): for NumPy functions whose result is booleans or integers
    of the point (argsort, nonzero, any…), piecewise constant, so it carries no
    derivative.  Under ``compile=True`` each is a value read the replay refuses, by name.
    `module` is the ops module registering it (its family in ``kronvec/_catalog.py``)."""

    def evaluate(*args, **kwargs):
        return function(*[plain_value(a) for a in args], **{k: plain_value(v) for k, v in kwargs.items()})

    evaluate.__name__, evaluate.__module__ = function.__name__, module
    return evaluate


__all__ += ["on_plain_values"]
