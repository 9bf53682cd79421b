"""Differentiate plain NumPy functions: jacobian, grad, value_and_grad, jvp, vjp,
hessian, hvp.

Conventions (``notes/conventions.md``): Jacobians are numerator layout,
∂vec F/∂(vec X)ᵀ with column-major vec, returned as structured operators;
gradients are arrays shaped like the argument.

Two evaluations of one recorded graph (:mod:`kronvec._tracer`):

* reverse accumulation (``grad``, ``vjp``): cotangents flow from the output
  back through each operation's vector-Jacobian product — O(k) matrix
  operations for k recorded operations, however often values are reused,
  and no Jacobian is ever formed;
* forward composition (``jacobian``, ``jvp``): the structured local Jacobians
  are multiplied together with the laws of :mod:`kronvec.operators.algebra`,
  so that ``jacobian(np.linalg.inv)(X)`` *is* ``-(X⁻ᵀ ⊗ X⁻¹)``.

Transformations nest in any order.  Reverse mode is traceable as it is (the
VJPs are NumPy code).  Inside another transformation, forward mode is the
transpose of reverse mode — ``J v = ∂⟨Jᵀu, v⟩/∂u``, reverse accumulation over
the recorded (linear) pullback — and ``jacobian`` returns an operator whose
products are computed that way, as traced values.

Every call is independent: its state lives in the call (and its context),
inputs and constants are captured by value, and results own their memory.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import operator
import re
import types

import numpy as np

from ._config import config, settings
from ._constants import check_real_dtype, freeze, refuse_matrix_subclass
from ._linalg.factorization import all_finite
from ._linalg.scope import CallScope, call_scope
from ._linalg.scope import _current as _current_scope
from ._traced_array import Traced
from .ops.joining import lift as _lift
from ._tracer import Node, Trace, _record, ancestors, new_input, plain_value, reverse_sweep, static_value
from ._vec import unvec, vec
from .operators import Identity, RowVector, StructuredOperator, Zero, algebra
from .operators._precision import in_float32

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)
_FLOAT64 = np.dtype(np.float64)  # (the native float64 dtype: an array's is this very object)
_SCALAR_RESULTS = (Node, np.floating)  # (the same: a value_and_grad value returned as it is)
_float64 = np.float64  # (the same: the type of a float64 scalar output)

__all__ = ["jacobian", "grad", "value_and_grad", "jvp", "vjp", "hessian", "hvp"]

_add = operator.add
_set_scope, _reset_scope = _current_scope.set, _current_scope.reset


# ------------------------------------------------------------ preparation
def _normalize_argnums(argnums, nargs, fname):
    single = isinstance(argnums, numbers.Integral)
    try:
        given = (argnums,) if single else tuple(argnums)
    except TypeError:  # (argnums=1.5, None: not a sequence either)
        raise TypeError(f"kronvec.{fname}: argnums must be an int or a tuple of ints, got {argnums!r}") from None
    for k in given:
        if not isinstance(k, numbers.Integral) or isinstance(k, bool):
            raise TypeError(f"kronvec.{fname}: argnums must be ints, got {argnums!r}")
        if not -nargs <= k < nargs:
            raise ValueError(
                f"kronvec.{fname}: argnums={argnums!r} is out of range for a call with "
                f"{nargs} positional argument(s)"
            )
    normalized = tuple(int(k) % nargs for k in given)
    if len(set(normalized)) != len(normalized):
        raise ValueError(
            f"kronvec.{fname}: argnums={argnums!r} names the same argument twice "
            f"(positions {normalized} for {nargs} arguments)"
        )
    return single, normalized


def _argument_name(f, position):
    if isinstance(position, str):
        return position
    return f"{_parameter_names(f, position + 1)[position]!r} (position {position})"


def _non_finite(fname, what):
    return ValueError(
        f"kronvec.{fname}: {what} contains NaN or inf "
        "(set kronvec.config.check_finite = False to skip this check)"
    )


def _as_differentiable(x, position, f, fname):
    """Validate one argument we differentiate with respect to; capture it by value."""
    if type(x) is _ndarray and x.dtype is _FLOAT64:
        # the common case, a float64 array, at once: a copy (the caller may change x after
        # the call, and nothing computed may follow), checked finite (the error: below); in
        # x's own memory order ("K"), so that NumPy adds the entries of a Fortran-ordered x
        # in the order it would for x itself and sum, mean, prod … give NumPy's value bit for bit
        # — but a broadcast view (a zero stride), which NumPy reduces as its C-order copy
        x = x.copy("K") if 0 not in x.strides else x.copy()
        if not settings().check_finite or all_finite(x):
            return x
        return _checked_finite(x, position, f, fname)
    if isinstance(x, Node):
        return x
    try:
        if type(x) is not _ndarray:
            refuse_matrix_subclass(x, f"argument {_argument_name(f, position)}")
            x = np.asarray(x)
        dtype = x.dtype
        kind = dtype.kind
        if kind != "f" or dtype.itemsize > 8:
            check_real_dtype(dtype, f"argument {_argument_name(f, position)}")
    except TypeError as error:  # name the transformation the user called
        raise TypeError(str(error).replace("kronvec: ", f"kronvec.{fname}: ", 1)) from None
    # A copy: the caller may change x after the call, and nothing computed may follow.
    # (float16 read off its type code: comparing dtypes with np.float16 converts it each call)
    x = x.astype(np.float64) if kind != "f" else (x.astype(np.float32) if dtype.char == "e" else x.copy("K") if 0 not in x.strides else x.copy())
    return _checked_finite(x, position, f, fname)


def _checked_finite(x, position, f, fname):
    """x, the captured copy of an argument, when it is finite (or the check is off); else
    the ValueError naming the argument (and, for a stack, its members)."""
    if settings().check_finite and not all_finite(x):
        what = f"argument {_argument_name(f, position)}"
        if x.ndim > 2:  # a stack of matrices (…, m, n): name the members (notes/conventions.md §11)
            from ._linalg.stacks import _member_list

            bad = ~np.isfinite(x).all(axis=(-2, -1))
            what += (f", a stack of shape {x.shape}, in {int(np.count_nonzero(bad))} member(s) at batch index "
                     f"{_member_list(np.argwhere(bad))},")
        raise _non_finite(fname, what)
    return x


def _check_constant_argument(x, position, f, fname):
    """A constant argument is not differentiated, but NaN or complex data in it
    would still poison the derivative: refuse it like a differentiated one."""
    if type(x) is _ndarray and x.dtype.kind == "f" and x.dtype.itemsize <= 8:  # the common case
        if config.check_finite and not all_finite(x):
            raise _non_finite(fname, f"argument {_argument_name(f, position)}")
        return
    if isinstance(x, Node) or callable(x) or isinstance(x, (str, bytes, dict, type(None))):
        return

    def what():  # (named only for an error: reading f's signature costs microseconds per call)
        return f"argument {_argument_name(f, position)}"

    if isinstance(x, (np.matrix, np.ma.MaskedArray)):
        refuse_matrix_subclass(x, what())
    if isinstance(x, (_ndarray, np.generic, numbers.Number, list, tuple)):
        try:
            array = np.asarray(x)
        except (TypeError, ValueError):
            return  # not numeric data (e.g. a ragged list of settings): nothing to check
        if array.dtype == object:
            return
        if array.dtype.kind == "c":
            check_real_dtype(array.dtype, what())
        if array.dtype.kind == "f" and config.check_finite and not all_finite(array):
            raise _non_finite(fname, what())


def _parameter_names(f, nargs):
    """f's names for its first `nargs` positional arguments (``x{i}`` past them), for formulas.

    A plain Python function's are read off its code object: its positional parameters
    are the first ``co_argcount`` local names (positional-only ones included).
    ``jacobian(f)(A)`` written inline makes a new transformed function per call, and
    ``inspect.signature`` took ~10 µs of it (~1 % of eigh's dense Jacobian at n = 32,
    ``notes/derivatives.md`` §30).  Anything else (wrapped, with ``__signature__``, a
    partial, a method) goes through ``inspect.signature``."""
    if (getattr(f, "__module__", None) or "").startswith("numpy"):
        # NumPy's own parameter names (a, b) read badly in formulas.
        return ["X", "Y", "Z"][:nargs] + [f"x{i}" for i in range(3, nargs)]
    code = getattr(f, "__code__", None)
    if (type(f) is types.FunctionType and code is not None and "__wrapped__" not in f.__dict__
            and "__signature__" not in f.__dict__):
        params = code.co_varnames[:code.co_argcount]
    else:
        params = _signature_parameters(f)
    return [params[i] if i < len(params) else f"x{i}" for i in range(nargs)]


def _signature_parameters(f):
    """The names of f's positional parameters, by ``inspect.signature`` ([] when it has none to read)."""
    try:
        return [p.name for p in inspect.signature(f).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _named_constants(f, args, names, argnums):
    """(array, name) for the arrays the user named: closure variables, globals
    used by f, and constant arguments.  Looked up by identity while recording."""
    named = []
    code = getattr(f, "__code__", None)
    if code is not None:
        for name in code.co_names:
            value = getattr(f, "__globals__", {}).get(name)
            if isinstance(value, _ndarray):
                named.append((value, name))
        for name, cell in zip(code.co_freevars, getattr(f, "__closure__", None) or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, _ndarray):
                named.append((value, name))
    for i, arg in enumerate(args):
        if i not in argnums and isinstance(arg, _ndarray):
            named.append((arg, names[i]))
    return named


# NumPy's ufunc loop for object arrays calls a method named after the ufunc on each entry
# (entry.exp()): traced entries have those methods, plain numbers do not.
_OBJECT_LOOP_FAILURE = re.compile(
    r"loop of ufunc does not support argument (\d+) of type (\w+) which has no callable (\w+) method")


#: NumPy's gufuncs behind np.linalg (svd_f, inv, det …) given an object array
_OBJECT_GUFUNC_FAILURE = re.compile(r"Cannot cast ufunc '(\w+)' input (?:\d+ )?from dtype\('O'\)")


def _numpy_function_of(traceback):
    """The public name of the outermost NumPy function in `traceback` (np.linalg.svd), or None."""
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if module.split(".")[0] == "numpy":
            name = traceback.tb_frame.f_code.co_name
            return f"np.linalg.{name}" if ".linalg" in module else f"np.{name}"
        traceback = traceback.tb_next
    return None


def _object_loop_explanation(error, fname):
    """kronvec's TypeError for NumPy's failure to apply a ufunc to an object array that
    mixes traced values and plain numbers (np.exp(np.array([x, 3.0]))), or a gufunc of
    np.linalg to the object array np.asarray(x) makes of a traced x; None for any
    other TypeError."""
    gufunc = _OBJECT_GUFUNC_FAILURE.search(str(error))
    if gufunc is not None:
        function = _numpy_function_of(error.__traceback__) or f"NumPy's {gufunc.group(1)}"
        return TypeError(
            f"kronvec.{fname}: {function} was given an object array — what np.asarray(x), np.array(x) or "
            f"np.asfortranarray(x) make of a traced value x (its entries, each traced; derivatives.md §29) — "
            f"and NumPy's linear algebra cannot take one. Pass x itself (drop the conversion; x.copy() or "
            f"x.copy(order='F') copies it traced), or build arrays of traced values with np.stack.")
    match = _OBJECT_LOOP_FAILURE.search(str(error))
    if match is None:
        return None
    kind, name = match.group(2), match.group(3)
    return TypeError(
        f"kronvec.{fname}: np.{name} was applied to an object array that mixes traced values and plain "
        f"numbers (an entry of type {kind}), such as np.array([x, 3.0]): NumPy applies a ufunc to such an "
        f"array entry by entry and cannot apply np.{name} to the plain number. Build the array with "
        f"np.stack([x, 3.0]) or np.concatenate, which kronvec records as one operation.")


class _Recording:
    """f run once on traced arguments: the graph, its inputs and its output."""

    #: f's own return value where it is a constant of the point (np.linalg.matrix_rank's
    #: integer), which `output` holds as floats for the derivatives; None otherwise
    returned = None

    def __init__(self, f, args, argnums, fname, labels=False, guard=None, constant_inputs=(), names=None):
        # guard, constant_inputs: a recording made to be replayed (kronvec._compiled): the
        # guard refuses reads of traced values outside operations, and the constant array
        # arguments at positions `constant_inputs` are recorded as inputs (not differentiated),
        # so that a replay takes their new values.
        self.f, self.args, self.argnums, self.fname = f, args, argnums, fname
        if labels:  # (names: f's parameter names, when the caller has read them already)
            self.names = names if names is not None else _parameter_names(f, len(args))
            trace = Trace(_named_constants(f, args, self.names, argnums), compiling=guard)
        else:
            self.names = None
            trace = Trace(None, guard)  # (positional: keywords cost a call from C its dict)
        if len(args) > len(argnums):
            for k, arg in enumerate(args):
                if k not in argnums:
                    _check_constant_argument(arg, k, f, fname)
        if len(args) == 1:  # the common case, without the general loop
            value = _as_differentiable(args[0], 0, f, fname)
            call_args = [_record(trace, None, (), {}, (), value, None, Traced)]
        else:
            call_args = list(args)
            for k in argnums:
                call_args[k] = new_input(trace, _as_differentiable(args[k], k, f, fname), Traced)
            for k in constant_inputs:
                call_args[k] = new_input(trace, np.array(args[k], copy=True), Traced)
        try:
            out = f(*call_args)
            if type(out) is _ndarray and out.dtype.hasobject:  # np.array([x, y]) returned
                out = _lift(out, "the function's result (an object array)")
        except ValueError as error:
            # Y[i] = x with Y a plain array and x a traced scalar: NumPy reports the failed
            # float(x) of a sequence-like value as "setting an array element with a sequence",
            # kronvec's explanation chained as its cause. Raise the explanation (at f's line).
            cause = error.__cause__
            if isinstance(cause, TypeError) and str(cause).startswith("kronvec"):
                raise cause.with_traceback(error.__traceback__) from None
            raise
        except TypeError as error:
            explained = _object_loop_explanation(error, fname)
            if explained is not None:
                raise explained.with_traceback(error.__traceback__) from None
            raise
        finally:
            trace.active = False
            # The recording keeps the nodes; the finished trace lets go of them (each
            # node points at its trace, so trace ↔ nodes would be a reference cycle,
            # and every intermediate array would wait for the cyclic collector).
            self.nodes, trace.nodes, trace.memo = trace.nodes, None, None
        # (an input the function assigned into was rebound; its recording is still the first nodes)
        count = len(argnums)
        self.inputs = self.nodes[:count]
        self.constant_inputs = self.nodes[count:count + len(constant_inputs)] if constant_inputs else []
        self.nested = trace.nested
        if isinstance(out, Node) and out._trace is trace:  # (the common case, checked first)
            self.output_node, self.output = out, out._value
        else:
            if out is None:
                raise TypeError(f"kronvec.{fname}: the function returned None; it must return an array or a number")
            if isinstance(out, (tuple, list)):
                raise TypeError(
                    f"kronvec.{fname}: the function must return one array, got a {type(out).__name__}"
                )
            self.output_node = None
            if isinstance(out, Node):
                self.output = out
            else:
                refuse_matrix_subclass(out, "the function's result")
                self.returned = out
                self.output = np.asarray(out)
                check_real_dtype(self.output.dtype, "the function's result")
                if self.output.dtype.kind == "b":  # (np.allclose(x, y), x > 0: a truth value, no derivative)
                    raise TypeError(f"kronvec.{fname}: the function returned a boolean ({out!r}); a truth "
                                    "value has no derivative (return a float to differentiate a constant)")
                self.output = self.output.astype(np.result_type(self.output.dtype, np.float32), copy=False)
        output = self.output
        if type(output) is _float64:  # (a float64 scalar, the common case: its shape at once)
            self.output_shape = ()
            return
        shape = getattr(output, "shape", None)  # ndarray, NumPy scalar and Traced have one
        self.output_shape = tuple(shape) if shape is not None else np.shape(static_value(output))

    # ------------------------------------------------------------ reverse
    def backward(self, cotangent, consume=False):
        """Cotangents of the inputs for a cotangent of the output (reverse mode).

        ``consume=True`` (a recording used once: ``grad``, ``value_and_grad``)
        lets the sweep drop each operation's recorded values and constants as
        soon as it has been pulled back; the recording cannot be swept again.
        """
        if self.output_node is None:
            return tuple([self._shaped_like_input(None, node, ()) for node in self.inputs])
        seed_index = self.output_node._index
        if consume:
            # (the output node references the whole graph through its parents)
            self.output_node = None
        cotangents = reverse_sweep(self.nodes, {seed_index: cotangent}, self.inputs, _add, consume)
        if len(cotangents) == 1:  # (one input, the common case: nothing to compare it with)
            return (self._shaped_like_input(cotangents[0], self.inputs[0], ()),)
        returned = []
        for ct, node in zip(cotangents, self.inputs):
            returned.append(self._shaped_like_input(ct, node, returned))
        return tuple(returned)

    @staticmethod
    def _shaped_like_input(ct, node, returned):
        # dtype policy: a cotangent has its input's dtype (float32 in, float32 out;
        # ints were promoted to float64 on the way in).
        value = node._value
        if type(value) is _ndarray and type(ct) is _ndarray:  # the common case, checked cheaply
            dtype = ct.dtype  # (the same dtype object, the common case, spares the comparison)
            if ct.shape != value.shape or (dtype is not value.dtype and dtype != value.dtype):
                ct = ct.astype(value.dtype, copy=False).reshape(value.shape)
        else:
            plain = np.asarray(static_value(value))  # (its shape and dtype)
            if ct is None:
                return np.zeros(plain.shape, dtype=plain.dtype)
            if isinstance(ct, Node):  # (a gradient traced by an outer transformation: hessian, hvp)
                if ct.dtype != plain.dtype:  # (the same dtype policy, recorded: float32 in, float32 out)
                    ct = ct.astype(plain.dtype)
                return ct if tuple(ct.shape) == plain.shape else np.reshape(ct, plain.shape)
            ct = np.asarray(ct, dtype=plain.dtype).reshape(plain.shape)
        # A gradient never aliases anything: shared read-only cotangents (the c·I of a
        # trace), views (Bᵀ of a constant B, X⁻ᵀ of a shared inverse) and a cotangent
        # already handed out for another argument are copied.
        flags = ct.flags
        if flags.writeable and flags.owndata:
            for other in returned:
                if other is ct:
                    return ct.copy()
            return ct
        return ct.copy()

    # ------------------------------------------------------------ forward
    def labels(self):
        """Formula labels of every node (None for what the user did not name),
        computed in one pass in recording order (parents come first)."""
        cached = getattr(self, "_labels", None)
        if cached is not None:
            return cached
        labels = []
        argnum_of_input = {node._index: k for node, k in zip(self.inputs, self.argnums)}
        for node in self.nodes:
            if node._op is None:
                k = argnum_of_input.get(node._index)
                labels.append(self.names[k] if self.names and k is not None else None)
                continue
            labels.append(self._node_label(node, labels))
        self._labels = labels
        return labels

    def _argument_labels(self, node, labels):
        arg_labels = []
        given = node._labels
        for position, arg in enumerate(node._args):
            label = given[position] if given else None
            if label is None and np.ndim(arg) == 0 and not isinstance(arg, Node):
                label = f"{float(plain_value(arg)):g}"
            arg_labels.append(label)
        for position, parent in node._parents:
            arg_labels[position] = labels[parent._index]
        return arg_labels

    def _node_label(self, node, labels):
        arg_labels = self._argument_labels(node, labels)
        if any(label is None for label in arg_labels):
            return None  # an unnamed operand (a constant without a name, a long formula): unnamed
        text = node._op.label(*arg_labels, **node._params)
        return text if text is None or len(text) <= 40 else None  # long formulas: unnamed

    def freeze_values(self):
        """Make every recorded array read-only before structured operators are built
        from them: the operators then keep them without copying (they are the
        recording's own; nothing else holds them writeable)."""
        if getattr(self, "_frozen", False):
            return
        for node in self.nodes:
            for value in (node._value, *node._args):
                if type(value) is _ndarray:
                    value.flags.writeable = False
        self._frozen = True

    def local_jacobian(self, node, position, named=True):
        """The operation's structured Jacobian at this node (`named` builds formula
        labels; a jvp only applies the operator, so it skips them)."""
        if named and self.names is not None:
            names = self._argument_labels(node, self.labels())
        else:
            names = [None] * len(node._args)
        builder = node._op.jacobians.of(position)
        if builder is None:
            return _PullbackOperator(node, position)
        local = builder(node._value, *node._args, names=names, **node._params)
        if local.dtype.char == "d" and getattr(node._value, "dtype", None) == np.float32:
            local = in_float32(local)  # (a float32 value's derivative is float32: conventions §4)
        return local

    def _ancestors_of_output(self):
        """Indices of the nodes the output depends on (others need no Jacobian)."""
        return ancestors(self.output_node)

    def forward_jacobian(self, position):
        """The structured Jacobian of the output w.r.t. input `position` (forward composition)."""
        input_node = self.inputs[position]
        n_in = int(np.size(input_node._value))
        n_out = math.prod(self.output_shape)
        if self.output_node is None:
            return Zero((n_out, n_in))
        node = self.output_node
        if n_out == 1 and not (len(node._parents) == 1 and node._parents[0][1] is input_node):
            # A scalar's Jacobian is one row: reverse mode gives it in O(k) operations
            # (a single rule applied to the input keeps its own, named, row below).
            gradient = self.backward(_unit_cotangent(self))[position]
            name = self.names[self.argnums[position]] if self.names else None
            return RowVector(vec(gradient), name=None if name is None else f"∇f({name})")
        self.freeze_values()
        input_dtype = getattr(input_node._value, "dtype", None)
        jacobians = {input_node._index: Identity(n_in, np.float32 if input_dtype == np.float32 else np.float64)}
        needed = self._ancestors_of_output()
        for node in self.nodes[input_node._index + 1: self.output_node._index + 1]:
            if node._index not in needed:
                continue
            total = None
            for p, parent in node._parents:
                upstream = jacobians.get(parent._index)
                if upstream is None:
                    continue
                term = algebra.multiply(self.local_jacobian(node, p), upstream)
                total = term if total is None else algebra.add(total, term)
            if total is not None:
                jacobians[node._index] = total
        result = jacobians.get(self.output_node._index)
        if result is None:
            return Zero((n_out, n_in))
        if n_out == 1 and not isinstance(result, (RowVector, Zero)):
            result = RowVector(result.rmatvec(np.ones(1, dtype=result.dtype)))  # one row
        return result

    def forward_tangent(self, tangents):
        """The directional derivative of the output along `tangents` (plain forward mode)."""
        dtype = np.result_type(np.asarray(static_value(self.output)).dtype, *(np.asarray(t).dtype for t in tangents))
        if self.output_node is None:  # (a constant of the point, np.floor(x) of a float32 x: a float32 0)
            return np.zeros(self.output_shape, dtype=dtype if dtype.kind == "f" else np.float64)
        self.freeze_values()
        flowing = {node._index: vec(t) for node, t in zip(self.inputs, tangents)}
        needed = self._ancestors_of_output()
        for node in self.nodes[: self.output_node._index + 1]:
            if node._op is None or node._index not in needed:
                continue
            total = None
            for position, parent in node._parents:
                upstream = flowing.get(parent._index)
                if upstream is None:
                    continue
                term = self.local_jacobian(node, position, named=False).matvec(upstream)
                total = term if total is None else total + term
            if total is not None:
                flowing[node._index] = total
        result = flowing.get(self.output_node._index)
        if result is None:
            return np.zeros(self.output_shape, dtype=dtype)
        return unvec(result, self.output_shape).astype(dtype, copy=True)

    def traced_tangent(self, tangents):
        """The directional derivative as a traced computation (inside another
        transformation): the transpose of the recorded pullback, applied to the tangents."""
        # (`like` gives the map's dtype only: the output itself, never its numbers — reading
        # them through plain_value would refuse a compile=True recording this jvp runs inside)
        pullback = _LinearMap(lambda u: self.backward(u), self.output_shape, self.output)
        return pullback.transposed(tangents)


class _LinearMap:
    """A linear map u ↦ (L₁u, …, L_k u), recorded once; its transpose
    (v₁, …, v_k) ↦ Σ L_iᵀ v_i is then reverse accumulation over that recording.

    This is how forward mode works inside other transformations and for
    operations given only a VJP: J v = ∂⟨Jᵀu, v⟩/∂u, where u ↦ Jᵀu is the
    (traceable) pullback.  The value of u is irrelevant (the map is linear);
    zeros are used.
    """

    def __init__(self, function, in_shape, like):
        self.in_shape = tuple(in_shape)
        trace = Trace()
        dtype = np.result_type(np.asarray(like).dtype if not isinstance(like, Node) else static_value(like).dtype,
                               np.float32)
        self.input = new_input(trace, freeze(np.zeros(self.in_shape, dtype=dtype)), Traced)
        try:
            outputs = function(self.input)
        finally:
            trace.active = False
            self.nodes, trace.nodes, trace.memo = trace.nodes, None, None
        self.input = self.nodes[0]  # (even if the function assigned into it)
        self.outputs = outputs if isinstance(outputs, tuple) else (outputs,)

    def transposed(self, cotangents):
        seeds = {}
        for output, cotangent in zip(self.outputs, cotangents):
            if isinstance(output, Node) and output._trace is self.input._trace:
                index = output._index
                seeds[index] = cotangent if index not in seeds else seeds[index] + cotangent
        (result,) = reverse_sweep(self.nodes, seeds, [self.input], _add)
        if result is None:
            return np.zeros(self.in_shape)
        return result if isinstance(result, Node) else np.array(result, copy=True)


class _PullbackOperator(StructuredOperator):
    """The Jacobian of an operation that has a VJP but no structured Jacobian
    (a user's primitive): ``rmatvec`` is its VJP, ``matvec`` the transpose of it."""

    def __init__(self, node, position):
        self.node, self.position = node, position
        self.in_shape = np.shape(node._args[position])
        self.out_shape = np.shape(node._value)
        dtype = np.result_type(np.asarray(node._value).dtype, np.float32)
        super().__init__((math.prod(self.out_shape), math.prod(self.in_shape)), dtype)
        self._forward = None

    def _vjp(self, g):
        node = self.node
        return node._op.vjps[self.position](g, node._value, *node._args, **node._params)

    def _column(self, v, transpose):
        if transpose:
            return vec(np.asarray(self._vjp(unvec(v, self.out_shape)), dtype=self.dtype))
        if self._forward is None:
            self._forward = _LinearMap(self._vjp, self.out_shape, self.node._value)
        return vec(np.asarray(self._forward.transposed((unvec(v, self.in_shape),)), dtype=self.dtype))

    def _matmat(self, X):
        return np.stack([self._column(x, False) for x in X.T], axis=1)

    def _transpose(self):
        return _TransposedPullback(self)

    def _render(self, parts, placeholders):
        return f"D {self.node._op.name}"

    def __reduce__(self):
        # (it applies the recorded operation's VJP: the recording, its callables included,
        # is not data to save; pickle's own error named a lambda deep inside it)
        raise TypeError(
            f"kronvec: the Jacobian of {self.node._op.name} has no structured form — it is applied "
            f"through the recorded operation's VJP, which cannot be pickled; pickle its toarray() "
            f"or tosparse() instead")

    def __copy__(self):
        # (copy and deepcopy go through __reduce_ex__ too: a twin sharing the recording,
        # which nothing writes into, and building its own forward map)
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.__dict__.pop("_cached_transpose", None)
        twin._forward = None
        return twin

    def __deepcopy__(self, memo):
        return self.__copy__()


class _TransposedPullback(StructuredOperator):
    def __init__(self, pullback):
        self.pullback = pullback
        super().__init__(pullback.shape[::-1], pullback.dtype)

    def __reduce__(self):
        return self.pullback.__reduce__()  # (refused, naming the operation)

    def __copy__(self):
        return _TransposedPullback(self.pullback)

    def __deepcopy__(self, memo):
        return _TransposedPullback(self.pullback.__copy__())

    def _matmat(self, X):
        return np.stack([self.pullback._column(x, True) for x in X.T], axis=1)

    def _transpose(self):
        return self.pullback

    def _render(self, parts, placeholders):
        return f"(D {self.pullback.node._op.name})ᵀ"


def _check_scalar_output(recording, fname):
    shape = recording.output_shape
    if math.prod(shape) != 1:
        raise TypeError(
            f"kronvec.{fname} needs a function with a scalar output (Python float, 0-d or "
            f"1×1 array); this one returned shape {shape}. Use kronvec.jacobian or kronvec.vjp."
        )


def _unit_cotangent(recording):
    shape = recording.output_shape
    return 1.0 if shape == () else np.ones(shape)


def _scalar_value(output):
    if isinstance(output, _SCALAR_RESULTS):
        return output
    return np.asarray(output, dtype=float).reshape(())[()]


def _owned(value):
    """A result for the user: arrays are copied (the recording keeps its own)."""
    if type(value) is _ndarray:
        return np.array(value, copy=True)
    return value


def _returned_value(recording):
    """f's value for jvp and vjp to return: the output's, or f's own constant (its type kept)."""
    return _owned(recording.output if recording.returned is None else recording.returned)


# ---------------------------------------------------------- public API
def grad(f, argnums=0, *, compile=False):
    """Gradient of a scalar function, shaped like its argument.

    Reverse accumulation: no Jacobian is formed; a chain of k operations
    costs O(k) matrix operations even when intermediate values are reused.

    Parameters
    ----------
    f : callable
        Plain NumPy code returning a scalar (Python float, 0-d or 1×1 array).
    argnums : int or tuple of int
        Which positional argument(s) to differentiate (each at most once).
    compile : bool, default False
        Record f once per call signature (shapes and dtypes of the arguments,
        values of the non-array ones) and replay the recording on later calls:
        the same numbers, bit for bit, without re-tracing — for the many calls of
        an optimization on small matrices (``notes/compile.md``).  A function
        that takes a decision on a traced value outside NumPy operations (a Python
        ``if`` on it, ``int(x)``, an index computed from it) raises ``TypeError``
        on its first call; arrays f closes over are captured at that call.

    Returns
    -------
    callable
        ``grad(f)(*args)`` → an ndarray shaped like ``args[argnums]`` (a tuple
        of them for a tuple `argnums`).  Each is a new array owned by the caller.
        Keyword arguments (``grad(f)(X, c=2.0)``) are passed to f and not
        differentiated, as in every transformation here (``compile=True`` takes
        positional arguments only).

    Examples
    --------
    >>> import numpy as np
    >>> B = np.array([[1., 2.], [3., 4.]])
    >>> grad(lambda A: np.trace(A @ B))(np.eye(2))      # ∇_A tr(AB) = Bᵀ
    array([[1., 3.],
           [2., 4.]])
    """
    if compile:
        return _compiled_gradient(f, argnums, "grad", with_value=False)
    return _gradient_transform(f, argnums, "grad", with_value=False)


def value_and_grad(f, argnums=0, *, compile=False):
    """``(f(*args), grad(f)(*args))`` from one evaluation of f.

    Parameters are those of :func:`grad`, `compile` included.

    Examples
    --------
    >>> import numpy as np
    >>> value, gradient = value_and_grad(lambda X: np.linalg.slogdet(X)[1])(np.diag([1., 2.]))
    >>> round(float(value), 12), (gradient + 0.0).tolist()   # + 0.0 turns -0. into 0.
    (0.69314718056, [[1.0, 0.0], [0.0, 0.5]])

    Compiled, for an optimization loop: the first call records, the others replay.

    >>> C = np.array([[2.0, 0.5], [0.5, 1.0]])
    >>> nll = value_and_grad(lambda S: np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C)),
    ...                      compile=True)
    >>> for S in (np.eye(2), 2.0 * np.eye(2)):
    ...     value, gradient = nll(S)
    >>> round(float(value), 6)
    2.886294
    """
    if compile:
        return _compiled_gradient(f, argnums, "value_and_grad", with_value=True)
    return _gradient_transform(f, argnums, "value_and_grad", with_value=True)


def _value_and_seed(recording, fname, with_value):
    """The gradient's value (when `with_value`) and its seed, for an output that is not a
    float64 scalar: refused unless it has one entry; seeded with 1.0 for a 0-d output and
    with ones shaped like it otherwise (float32 for a float32 output, so that a gradient
    traced again — hessian, hvp — stays float32)."""
    shape = recording.output_shape
    if shape != ():
        _check_scalar_output(recording, fname)
    output = recording.output
    value = (output if isinstance(output, _SCALAR_RESULTS) else _scalar_value(output)) if with_value else None
    return value, gradient_seed(shape, getattr(getattr(output, "dtype", None), "char", None) == "f")


def gradient_seed(shape, float32):
    """The cotangent a gradient's reverse sweep starts from: 1.0 for a 0-d output, ones shaped
    like it otherwise — float32 for a float32 output, so that its gradient is computed in
    float32 (and one traced again, by hessian or hvp, stays float32); the compiled replay
    seeds alike (kronvec/_compiled/gradient.py), so both give the same numbers."""
    if float32:
        return np.ones(shape, dtype=np.float32) if shape else np.float32(1.0)
    return 1.0 if shape == () else np.ones(shape)


def _compiled_gradient(f, argnums, fname, with_value):
    from ._compiled.gradient import compiled_gradient  # (a cycle at import: it builds on this module)

    uncompiled = _gradient_transform(f, argnums, fname, with_value)
    return compiled_gradient(f, argnums, fname, with_value, uncompiled)


def _gradient_transform(f, argnums, fname, with_value):
    argnums_by_count = {}  # len(args) → normalized argnums (idempotent: safe under threads)

    @functools.wraps(f)
    def transformed(*args, **keywords):
        if keywords:  # (passed to f as they are, not differentiated: as JAX and autograd do)
            return _gradient_transform(functools.partial(f, **keywords), argnums, fname, with_value)(*args)
        normalized = argnums_by_count.get(len(args))
        if normalized is None:
            normalized = argnums_by_count[len(args)] = _normalize_argnums(argnums, len(args), fname)
        single, numbers_ = normalized
        token = _set_scope(CallScope())  # (open_scope, without its call: this runs per gradient)
        try:
            recording = _Recording(f, args, numbers_, fname)
            # (the value taken before the sweep, which may reuse recorded memory: consume=True)
            value = recording.output
            if type(value) is _float64:  # the common case, read at once: a float64 scalar, seeded with 1.0
                seed = 1.0
            else:
                value, seed = _value_and_seed(recording, fname, with_value)
            gradients = recording.backward(seed, consume=True)
        finally:
            _reset_scope(token)
        gradients = gradients[0] if single else gradients
        return (value, gradients) if with_value else gradients

    return transformed


def jacobian(f, argnums=0, *, compile=False):
    """Structured Jacobian of f, numerator layout: ∂vec f/∂(vec X)ᵀ.

    Parameters
    ----------
    f : callable
        Plain NumPy code returning an array.
    argnums : int or tuple of int
        Which positional argument(s) to differentiate.
    compile : bool, default False
        Record f once per call signature (shapes and dtypes of the arguments,
        values of the non-array ones) and replay the recording on later calls:
        the same operator, bit for bit, without re-tracing — for the many calls of
        an optimization on small matrices (``notes/compile.md``).  A function
        that takes a decision on a traced value outside NumPy operations (a Python
        ``if`` on it, ``int(x)``, an index computed from it) raises ``TypeError``
        on its first call; arrays f closes over are captured at that call.

    Returns
    -------
    callable
        ``jacobian(f)(*args)`` → a :class:`~kronvec.StructuredOperator` of shape
        (size of f's output, size of ``args[argnums]``); a tuple of them for a
        tuple `argnums`.  A scalar output gives a 1×N :class:`~kronvec.RowVector`.
        Inside another transformation, the operator's products are traced values.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[2., 1.], [1., 3.]])
    >>> jacobian(np.linalg.inv)(X)
    <4×4 Kron: -(inv(X)ᵀ ⊗ inv(X)), dtype=float64>
    >>> jacobian(lambda X: X @ X)(X)
    <4×4 Sum: Xᵀ ⊗ I₂ + I₂ ⊗ X, dtype=float64>
    """

    if compile:
        from ._compiled.replay import compiled_jacobian  # (a cycle at import: it builds on this module)

        return compiled_jacobian(f, argnums, jacobian(f, argnums))

    names_by_count = {}  # len(args) → f's parameter names, read once (inspect.signature is slow; idempotent)

    @functools.wraps(f)
    def transformed(*args, **keywords):
        if keywords:  # (passed to f as they are, not differentiated: as JAX and autograd do)
            return jacobian(functools.partial(f, **keywords), argnums)(*args)
        single, numbers_ = _normalize_argnums(argnums, len(args), "jacobian")
        names = names_by_count.get(len(args))
        if names is None:
            names = names_by_count[len(args)] = tuple(_parameter_names(f, len(args)))
        with call_scope():
            recording = _Recording(f, args, numbers_, "jacobian", labels=True, names=names)
            if recording.nested:
                results = tuple(_NestedJacobian(recording, k) for k in range(len(numbers_)))
            else:
                results = tuple(recording.forward_jacobian(k) for k in range(len(numbers_)))
        return results[0] if single else results

    return transformed


def jvp(f, primals, tangents):
    """Forward-mode directional derivative: ``(f(*primals), Df(primals)[tangents])``.

    Parameters
    ----------
    primals, tangents : tuple of array_like
        The point and a direction for each argument (same shapes).

    Returns
    -------
    (value, tangent_out) with ``tangent_out`` shaped like f's output.

    Examples
    --------
    >>> import numpy as np
    >>> _, t = jvp(np.linalg.inv, (np.eye(2) * 2,), (np.eye(2),))
    >>> t                                      # -X⁻¹ V X⁻¹
    array([[-0.25, -0.  ],
           [-0.  , -0.25]])
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        # (an array would be taken as its rows, one argument each)
        raise TypeError(f"kronvec.jvp: primals and tangents must be tuples (or lists) of the arguments, got "
                        f"{type(primals).__name__} and {type(tangents).__name__}: jvp(f, (X,), (V,))")
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"kronvec.jvp: {len(primals)} primals but {len(tangents)} tangents")
    for k, (p, t) in enumerate(zip(primals, tangents)):
        if np.shape(p) != np.shape(t):
            raise ValueError(
                f"kronvec.jvp: tangent {k} has shape {np.shape(t)}, its primal {np.shape(p)}"
            )
    tangents = [_as_differentiable(t, f"tangent {k}", f, "jvp") for k, t in enumerate(tangents)]
    with call_scope():
        recording = _Recording(f, primals, tuple(range(len(primals))), "jvp")
        if recording.nested or any(isinstance(t, Node) for t in tangents):
            tangent_out = recording.traced_tangent(tangents)
        else:
            tangent_out = recording.forward_tangent(tangents)
    return _returned_value(recording), tangent_out


def vjp(f, *primals):
    """Reverse-mode: ``(f(*primals), vjp_fn)`` with ``vjp_fn(cotangent)`` → tuple of
    cotangents shaped like the primals.

    Examples
    --------
    >>> import numpy as np
    >>> out, pullback = vjp(lambda X: X @ X, np.eye(2))
    >>> pullback(np.ones((2, 2)))[0]
    array([[2., 2.],
           [2., 2.]])
    """
    with call_scope():
        recording = _Recording(f, primals, tuple(range(len(primals))), "vjp")

    def pullback(cotangent):
        if not isinstance(cotangent, Node):
            cotangent = _as_differentiable(cotangent, "cotangent", f, "vjp")
        shape = tuple(np.shape(cotangent) if not isinstance(cotangent, Node) else cotangent.shape)
        if shape != recording.output_shape:
            raise ValueError(
                f"kronvec.vjp: the cotangent must be shaped like the output {recording.output_shape}, "
                f"got {shape}"
            )
        with call_scope():
            return recording.backward(cotangent)

    return _returned_value(recording), pullback


def hessian(f, argnums=0):
    """Structured Hessian of a scalar f: the Jacobian of vec ∇f (numerator layout).

    Examples
    --------
    >>> import numpy as np
    >>> H = hessian(lambda X: np.linalg.slogdet(X)[1])(np.array([[2., 1.], [1., 3.]]))
    >>> H
    <4×4 Product: -(inv(X) ⊗ inv(X)ᵀ)·K₂,₂, dtype=float64>
    """
    if not isinstance(argnums, numbers.Integral):
        raise TypeError("kronvec.hessian: argnums must be a single int")
    # (grad's transform under the name the user called, for its errors)
    return jacobian(_gradient_transform(f, argnums, "hessian", with_value=False), argnums)


def hvp(f, argnums=0, *, compile=False):
    """Hessian-vector product ``H(X)[V]`` shaped like X, without forming H.

    Parameters
    ----------
    f : callable
        A scalar function ``f(*args)`` written with NumPy operations.
    argnums : int, optional
        Which argument of f the Hessian is taken in (default 0); the other
        arguments are constants of the point.
    compile : bool, default False
        Record ∇f once per call signature (shapes and dtypes of the arguments,
        values of the non-array ones) and replay the recording on later calls:
        the same numbers, bit for bit, without re-tracing — for the many calls of
        an optimization on small matrices (``notes/compile.md``).  A function
        that takes a decision on a traced value outside NumPy operations (a Python
        ``if`` on it, ``int(x)``, an index computed from it) raises ``TypeError``
        on its first call (so does one whose second-order rules decide on values:
        a tie of max, the sign under abs); arrays f closes over are captured at that call.

    Returns
    -------
    callable
        ``hvp(f, argnums)(*args, V)``: **the point's arguments exactly as f takes
        them, then the direction V last**, V shaped like ``args[argnums]``.  It
        returns ∇²f · V (the directional derivative of ∇f along V), shaped like
        ``args[argnums]``, by forward-over-reverse differentiation: about the
        cost of two gradients, whatever the size of the Hessian.

    See Also
    --------
    hessian : the whole Hessian, as a structured operator.
    kronvec.optimize.objective : ``hessp`` for ``scipy.optimize.minimize`` is this product.

    Examples
    --------
    >>> import numpy as np
    >>> hvp(lambda x: np.sum(x ** 3))(np.array([1., 2.]), np.array([1., 1.]))
    array([ 6., 12.])

    With a constant argument C, the direction still comes last — f(X, C), then V:

    >>> f = lambda X, C: np.trace(X @ C @ X.T)      # ∇²f · V = V (C + Cᵀ)
    >>> X, C, V = np.eye(2), np.array([[1., 2.], [0., 1.]]), np.array([[1., 0.], [0., 0.]])
    >>> hvp(f)(X, C, V)
    array([[2., 2.],
           [0., 0.]])
    """
    if not isinstance(argnums, numbers.Integral):
        raise TypeError("kronvec.hvp: argnums must be a single int")
    if compile:
        from ._compiled.replay import compiled_hvp  # (a cycle at import: it builds on this module)

        return compiled_hvp(f, argnums, hvp(f, argnums))
    gradient = _gradient_transform(f, argnums, "hvp", with_value=False)

    def transformed(*args, **keywords):
        if len(args) < 2:
            raise TypeError("kronvec.hvp(f)(*args, V): pass the point's arguments, then the direction V last")
        *point, direction = args
        k = argnums % len(point)
        _check_hvp_direction(point, k, direction)

        def along(x):
            call = list(point)
            call[k] = x
            return gradient(*call, **keywords)

        return jvp(along, (point[k],), (direction,))[1]

    return transformed


def _check_hvp_direction(point, k, direction):
    point_shape, direction_shape = np.shape(static_value(point[k])), np.shape(static_value(direction))
    if point_shape != direction_shape:
        raise ValueError(
            f"kronvec.hvp(f)(*args, V): the direction V (the last argument) has shape "
            f"{direction_shape}, but argument {k} of f, the one the Hessian is taken in, "
            f"has shape {point_shape}; pass the point's arguments first and V, shaped like "
            f"that argument, last"
        )


# ------------------------------------------ Jacobians inside transformations
class _NestedJacobian(StructuredOperator):
    """The Jacobian at a traced point (``jacobian`` inside another transformation).

    Its products are computed by the recording's pullback (``rmatvec``) and
    its transpose (``matvec``), so they are traced values of the outer
    transformation; ``toarray()`` stacks them.  Nothing is materialized until
    asked for.
    """

    def __init__(self, recording, position, transposed=False):
        self.recording, self.position, self.transposed = recording, position, transposed
        self.in_shape = tuple(np.shape(static_value(recording.inputs[position]._value)))
        self.out_shape = recording.output_shape
        m, n = math.prod(self.out_shape), math.prod(self.in_shape)
        dtype = np.result_type(np.asarray(static_value(recording.output)).dtype, np.float32)
        super().__init__((n, m) if transposed else (m, n), dtype)
        self._forward = None

    def _pull(self, u):  # Jᵀ u
        return self.recording.backward(u)[self.position]

    def _push(self, v):  # J v
        if self._forward is None:
            self._forward = _LinearMap(self._pull, self.out_shape, self.recording.output)
        return self._forward.transposed((v,))

    def _apply(self, x, adjoint):
        if adjoint != self.transposed:  # Jᵀ x
            return np.reshape(self._pull(np.reshape(x, self.out_shape, order="F")), (-1,), order="F")
        return np.reshape(self._push(np.reshape(x, self.in_shape, order="F")), (-1,), order="F")

    def _vector(self, x, length, method):
        if np.ndim(x) == 2 and np.shape(x)[1] == 1:
            x = np.reshape(x, (-1,))
        if tuple(np.shape(x)) != (length,):
            raise ValueError(f"{method}: operator of shape {self.shape} needs a vector of length {length}, "
                             f"got shape {np.shape(x)}")
        return x

    def matvec(self, x):
        return self._apply(self._vector(x, self.shape[1], "matvec"), adjoint=False)

    def rmatvec(self, x):
        return self._apply(self._vector(x, self.shape[0], "rmatvec"), adjoint=True)

    def matmat(self, X):
        return np.stack([self.matvec(X[:, j]) for j in range(np.shape(X)[1])], axis=1)

    def rmatmat(self, X):
        return np.stack([self.rmatvec(X[:, j]) for j in range(np.shape(X)[1])], axis=1)

    def dot(self, x):
        return self.matvec(x) if np.ndim(x) == 1 else self.matmat(x)

    def _matmat(self, X):
        return self.matmat(X)

    def toarray(self):
        m, n = self.shape
        if n <= m:
            return self.matmat(np.eye(n, dtype=self.dtype))
        return np.transpose(self.rmatmat(np.eye(m, dtype=self.dtype)))

    def tosparse(self):
        raise TypeError("the Jacobian at a traced point is made of traced values: use toarray() or matvec")

    def _transpose(self):
        return _NestedJacobian(self.recording, self.position, not self.transposed)

    def _render(self, parts, placeholders):
        text = "D(at a traced point)"
        return f"({text})ᵀ" if self.transposed else text

