"""Differentiate plain NumPy functions: jacobian, grad, value_and_grad, jvp, vjp,
hessian, hvp.

Conventions (``notes/conventions.md``): Jacobians are numerator layout,
∂vec F/∂(vec X)ᵀ with column-major vec, returned as structured operators;
gradients are arrays shaped like the argument.

Two evaluations of one recorded graph (:mod:`kronvec.trace`):

* reverse accumulation (``grad``, ``vjp``): cotangents flow from the output
  back through each primitive's vector-Jacobian product — O(k) matrix
  operations for k recorded operations, however often values are reused,
  and no Jacobian is ever formed;
* forward composition (``jacobian``): the structured local Jacobians are
  multiplied together with the laws of :mod:`kronvec.algebra`, so that
  ``jacobian(np.linalg.inv)(X)`` *is* ``-(X⁻ᵀ ⊗ X⁻¹)``.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers

import numpy as np

from . import algebra
from ._config import config
from ._vec import unvec, vec
from .operators import Identity, RowVector, Zero
from ._linalg.factorization import all_finite, call_scope, close_scope, open_scope
from .trace import Trace, Traced, _record, plain_value

__all__ = ["jacobian", "grad", "value_and_grad", "jvp", "vjp", "hessian", "hvp"]



# ------------------------------------------------------------ preparation
def _normalize_argnums(argnums, nargs, fname):
    single = isinstance(argnums, numbers.Integral)
    numbers_ = (argnums,) if single else tuple(argnums)
    for k in numbers_:
        if not isinstance(k, numbers.Integral) or isinstance(k, bool):
            raise TypeError(f"kronvec.{fname}: argnums must be ints, got {argnums!r}")
        if not -nargs <= k < nargs:
            raise ValueError(
                f"kronvec.{fname}: argnums={argnums!r} is out of range for a call with "
                f"{nargs} positional argument(s)"
            )
    return single, tuple(k % nargs for k in numbers_)


def _as_differentiable(x, position, f, fname):
    """Validate one argument we differentiate with respect to."""
    if isinstance(x, Traced):
        return x
    x = np.asarray(x)
    kind = x.dtype.kind
    if kind == "c":
        raise TypeError(
            f"kronvec.{fname}: argument {_argument_name(f, position)} is complex ({x.dtype}); "
            "kronvec is real-only"
        )
    if kind not in "biuf":
        raise TypeError(
            f"kronvec.{fname}: argument {_argument_name(f, position)} must be a real array, "
            f"got dtype {x.dtype}"
        )
    x = x.astype(np.float64) if kind != "f" else x.copy()  # captured by value: the caller may change x later
    if config.check_finite and not all_finite(x):
        raise ValueError(
            f"kronvec.{fname}: argument {_argument_name(f, position)} contains NaN or inf "
            "(set kronvec.config.check_finite = False to skip this check)"
        )
    return x


def _check_constant(x, position, f, fname):
    """A constant argument is not differentiated, but NaN or complex data in it
    would still poison the derivative: refuse it like a differentiated one."""
    if x.dtype.kind == "c":
        raise TypeError(
            f"kronvec.{fname}: argument {_argument_name(f, position)} is complex ({x.dtype}); "
            "kronvec is real-only"
        )
    if config.check_finite and x.dtype.kind == "f" and not all_finite(x):
        raise ValueError(
            f"kronvec.{fname}: argument {_argument_name(f, position)} contains NaN or inf "
            "(set kronvec.config.check_finite = False to skip this check)"
        )


def _argument_name(f, position):
    if isinstance(position, str):
        return position
    return f"{_parameter_names(f, position + 1)[position]!r} (position {position})"


def _parameter_names(f, nargs):
    if (getattr(f, "__module__", None) or "").startswith("numpy"):
        # NumPy's own parameter names (a, b) read badly in formulas.
        return ["X", "Y", "Z"][:nargs] + [f"x{i}" for i in range(3, nargs)]
    try:
        params = [p.name for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"x{i}" for i in range(nargs)]


def _constant_names(f, args, names, argnums):
    """id(array) → the name the user gave it (closure, global or argument)."""
    known = {}
    code = getattr(f, "__code__", None)
    if code is not None:
        for name in code.co_names:
            value = getattr(f, "__globals__", {}).get(name)
            if isinstance(value, np.ndarray):
                known[id(value)] = name
        for name, cell in zip(code.co_freevars, getattr(f, "__closure__", None) or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if isinstance(value, np.ndarray):
                known[id(value)] = name
    for i, arg in enumerate(args):
        if i not in argnums and isinstance(arg, np.ndarray):
            known[id(arg)] = names[i]
    return known


class _Recording:
    """f run once on traced arguments: the graph, its inputs and its output."""

    def __init__(self, f, args, argnums, fname):
        self.f, self.args, self.argnums = f, args, argnums
        self.trace = trace = Trace()
        call_args = list(args)
        if len(args) > len(argnums):
            for k, arg in enumerate(args):
                if k not in argnums and isinstance(arg, np.ndarray):
                    _check_constant(arg, k, f, fname)
        for k in argnums:
            call_args[k] = _record(trace, None, (), {}, (), _as_differentiable(args[k], k, f, fname))
        self.inputs = list(trace.nodes)  # the inputs are the first nodes
        try:
            out = f(*call_args)
        finally:
            trace.active = False
            # The recording keeps the nodes; the finished trace lets go of them.  Each
            # node points at its trace, so trace ↔ nodes was a reference cycle: the
            # whole graph (every intermediate array) waited for the cyclic garbage
            # collector instead of being freed when the call returns.
            self.nodes, trace.nodes = trace.nodes, None
        if isinstance(out, (tuple, list)):
            raise TypeError(
                f"kronvec.{fname}: the function must return one array, got a {type(out).__name__}"
            )
        if isinstance(out, Traced) and out._trace is self.trace:
            self.output_node, self.output = out, out._value
        else:
            self.output_node, self.output = None, out if isinstance(out, Traced) else np.asarray(out, dtype=float)
        shape = getattr(self.output, "shape", None)  # ndarray, NumPy scalar and Traced have one
        self.output_shape = shape if shape is not None else np.shape(plain_value(self.output))

    @functools.cached_property
    def names(self):
        """Argument names for formulas (only computed when a formula is built)."""
        names = _parameter_names(self.f, len(self.args))
        for node, k in zip(self.inputs, self.argnums):
            node._label = names[k]
        return names

    @functools.cached_property
    def constant_names(self):
        return _constant_names(self.f, self.args, self.names, self.argnums)

    # ------------------------------------------------------------ reverse
    def backward(self, cotangent):
        """Cotangents of the inputs for a cotangent of the output (reverse mode)."""
        inputs = self.inputs
        output_node = self.output_node
        if output_node is None:
            return tuple([self._shaped_like_input(None, node) for node in inputs])
        # cotangents[i]: node i's cotangent so far.  Nodes are recorded in evaluation
        # order, so a node's consumers come after it: one sweep backwards completes
        # each cotangent before it is pulled back.
        cotangents = [None] * (output_node._index + 1)
        cotangents[-1] = cotangent
        for node in reversed(self.nodes[len(inputs): output_node._index + 1]):
            index = node._index
            ct = cotangents[index]
            if ct is None:
                continue
            cotangents[index] = None  # freed once pulled back
            vjps, value, args, kwargs = node._primitive.vjps, node._value, node._args, node._kwargs
            for position, parent in node._parents:
                if kwargs or len(args) > 2:
                    contribution = vjps[position](ct, value, *args, **kwargs)
                elif len(args) == 2:  # (spelled out: a call with *args re-enters the interpreter from C)
                    contribution = vjps[position](ct, value, args[0], args[1])
                else:
                    contribution = vjps[position](ct, value, args[0])
                parent_index = parent._index
                previous = cotangents[parent_index]
                cotangents[parent_index] = contribution if previous is None else previous + contribution
        return tuple([self._shaped_like_input(cotangents[node._index], node) for node in inputs])

    @staticmethod
    def _shaped_like_input(ct, node):
        # dtype policy: a cotangent has its input's dtype (float32 in, float32 out;
        # ints were promoted to float64 on the way in).
        value = node._value
        if type(value) is np.ndarray and type(ct) is np.ndarray:  # the common case, checked cheaply
            if ct.shape != value.shape or ct.dtype != value.dtype:
                ct = ct.astype(value.dtype, copy=False).reshape(value.shape)
        else:
            plain = plain_value(value)
            if ct is None:
                return np.zeros(plain.shape, dtype=plain.dtype)
            if isinstance(ct, Traced):
                return ct if ct.shape == plain.shape else np.reshape(ct, plain.shape)
            ct = np.asarray(ct, dtype=plain.dtype).reshape(plain.shape)
        # A gradient never aliases anything: shared read-only cotangents (the c·I of a
        # trace) and views (Bᵀ of a constant B, X⁻ᵀ of a shared inverse) are copied.
        flags = ct.flags
        return ct if flags.writeable and flags.owndata else ct.copy()

    # ------------------------------------------------------------ forward
    def _require_plain(self, fname):
        for node in self.inputs:
            if isinstance(node._value, Traced):
                raise TypeError(
                    f"kronvec.{fname} builds structured operators from plain arrays and "
                    "cannot run inside another transformation; use kronvec.hessian / hvp "
                    "for second derivatives"
                )

    def _label(self, node_or_value):
        if isinstance(node_or_value, Traced) and node_or_value._trace is self.trace:
            node = node_or_value
            if getattr(node, "_label", None) is None:
                labels = [self._label(a) for a in node._args]
                for position, parent in node._parents:
                    labels[position] = self._label(parent)
                text = node._primitive.label(*labels, **node._kwargs)
                node._label = text if len(text) <= 40 else f"F{node._index}"
            return node._label
        value = node_or_value
        if id(value) in self.constant_names:
            return self.constant_names[id(value)]
        if np.ndim(value) == 0:
            return f"{float(plain_value(value)):g}"
        return "C"

    def _local_jacobian(self, node, position, named=True):
        """The primitive's structured Jacobian at this node; `named` builds formula labels
        (a jvp only applies the operator, so it skips them)."""
        if named:
            self.names  # noqa: B018 - names the input nodes before labels are built
            labels = [self._label(a) for a in node._args]
            for p, parent in node._parents:
                labels[p] = self._label(parent)
        else:
            labels = ["·"] * len(node._args)
        return node._primitive.jacobians[position](node._value, *node._args, names=labels, **node._kwargs)

    def _ancestors_of_output(self):
        """Indices of the nodes the output depends on (others need no Jacobian)."""
        needed, stack = set(), [self.output_node]
        while stack:
            node = stack.pop()
            if node._index in needed:
                continue
            needed.add(node._index)
            stack.extend(parent for _, parent in node._parents)
        return needed

    def forward_jacobian(self, input_node):
        """The structured Jacobian of the output w.r.t. one input (forward composition)."""
        n_in = int(np.size(input_node._value))
        n_out = math.prod(self.output_shape)
        if self.output_node is None:
            return Zero((n_out, n_in))
        node = self.output_node
        if n_out == 1 and not (len(node._parents) == 1 and node._parents[0][1] is input_node):
            # A scalar's Jacobian is one row: reverse mode gives it in O(k) operations
            # (a single rule applied to the input keeps its own, named, row below).
            position = self.inputs.index(input_node)
            gradient = self.backward(_unit_cotangent(self))[position]
            return RowVector(vec(gradient), name=f"∇f({self.names[self.argnums[position]]})")
        jacobians = {input_node._index: Identity(n_in)}
        needed = self._ancestors_of_output()
        for node in self.nodes[input_node._index + 1: self.output_node._index + 1]:
            if node._index not in needed:
                continue
            total = None
            for position, parent in node._parents:
                upstream = jacobians.get(parent._index)
                if upstream is None:
                    continue
                term = algebra.multiply(self._local_jacobian(node, position), upstream)
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
        """The directional derivative of the output along `tangents` (forward mode)."""
        if self.output_node is None:
            return np.zeros(self.output_shape)
        flowing = {node._index: vec(t) for node, t in zip(self.inputs, tangents)}
        needed = self._ancestors_of_output()
        for node in self.nodes[: self.output_node._index + 1]:
            if node._primitive is None or node._index not in needed:
                continue
            total = None
            for position, parent in node._parents:
                upstream = flowing.get(parent._index)
                if upstream is None:
                    continue
                term = self._local_jacobian(node, position, named=False).matvec(upstream)
                total = term if total is None else total + term
            if total is not None:
                flowing[node._index] = total
        dtype = np.result_type(plain_value(self.output).dtype, *(np.asarray(t).dtype for t in tangents))
        return unvec(flowing[self.output_node._index], self.output_shape).astype(dtype, copy=False)


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
    if isinstance(output, (Traced, np.floating)):
        return output
    return np.asarray(output, dtype=float).reshape(())[()]


# ---------------------------------------------------------- public API
def grad(f, argnums=0):
    """Gradient of a scalar function, shaped like its argument.

    Reverse accumulation: no Jacobian is formed; a chain of k operations
    costs O(k) matrix operations even when intermediate values are reused.

    Parameters
    ----------
    f : callable
        Plain NumPy code returning a scalar (Python float, 0-d or 1×1 array).
    argnums : int or tuple of int
        Which positional argument(s) to differentiate.

    Returns
    -------
    callable
        ``grad(f)(*args)`` → an ndarray shaped like ``args[argnums]`` (a tuple
        of them for a tuple `argnums`).

    Examples
    --------
    >>> import numpy as np
    >>> B = np.array([[1., 2.], [3., 4.]])
    >>> grad(lambda A: np.trace(A @ B))(np.eye(2))      # ∇_A tr(AB) = Bᵀ
    array([[1., 3.],
           [2., 4.]])
    """
    return _gradient_transform(f, argnums, "grad", with_value=False)


def value_and_grad(f, argnums=0):
    """``(f(*args), grad(f)(*args))`` from one evaluation of f.

    Examples
    --------
    >>> import numpy as np
    >>> value, gradient = value_and_grad(lambda X: np.linalg.slogdet(X)[1])(np.diag([1., 2.]))
    >>> round(float(value), 12), (gradient + 0.0).tolist()   # + 0.0 turns -0. into 0.
    (0.69314718056, [[1.0, 0.0], [0.0, 0.5]])
    """
    return _gradient_transform(f, argnums, "value_and_grad", with_value=True)


def _gradient_transform(f, argnums, fname, with_value):
    argnums_by_count = {}  # len(args) → normalized argnums, checked once per count

    @functools.wraps(f)
    def transformed(*args):
        normalized = argnums_by_count.get(len(args))
        if normalized is None:
            normalized = argnums_by_count[len(args)] = _normalize_argnums(argnums, len(args), fname)
        single, numbers_ = normalized
        scope = open_scope()
        try:
            recording = _Recording(f, args, numbers_, fname)
            shape = recording.output_shape
            if shape == ():  # the common case: a 0-d output and a Python 1.0 cotangent
                gradients = recording.backward(1.0)
            else:
                _check_scalar_output(recording, fname)
                gradients = recording.backward(np.ones(shape))
        finally:
            close_scope(scope)
        gradients = gradients[0] if single else gradients
        return (_scalar_value(recording.output), gradients) if with_value else gradients

    return transformed


def jacobian(f, argnums=0):
    """Structured Jacobian of f, numerator layout: ∂vec f/∂(vec X)ᵀ.

    Returns
    -------
    callable
        ``jacobian(f)(*args)`` → a :class:`~kronvec.StructuredOperator` of shape
        (size of f's output, size of ``args[argnums]``); a tuple of them for a
        tuple `argnums`.  A scalar output gives a 1×N :class:`~kronvec.RowVector`.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[2., 1.], [1., 3.]])
    >>> jacobian(np.linalg.inv)(X)
    <4×4 Kron: -(inv(X)ᵀ ⊗ inv(X)), dtype=float64>
    >>> jacobian(lambda X: X @ X)(X)
    <4×4 Sum: Xᵀ ⊗ I₂ + I₂ ⊗ X, dtype=float64>
    """

    @functools.wraps(f)
    def transformed(*args):
        single, numbers_ = _normalize_argnums(argnums, len(args), "jacobian")
        with call_scope():
            recording = _Recording(f, args, numbers_, "jacobian")
            recording._require_plain("jacobian")
            results = tuple(recording.forward_jacobian(node) for node in recording.inputs)
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
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"kronvec.jvp: {len(primals)} primals but {len(tangents)} tangents")
    for k, (p, t) in enumerate(zip(primals, tangents)):
        if np.shape(p) != np.shape(t):
            raise ValueError(
                f"kronvec.jvp: tangent {k} has shape {np.shape(t)}, its primal {np.shape(p)}"
            )
    with call_scope():
        recording = _Recording(f, primals, tuple(range(len(primals))), "jvp")
        recording._require_plain("jvp")
        tangents = [_as_differentiable(t, f"tangent {k}", f, "jvp") for k, t in enumerate(tangents)]
        tangent_out = recording.forward_tangent(tangents)
    return recording.output, tangent_out


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
        if isinstance(cotangent, Traced):
            shape = cotangent.shape
        else:
            cotangent = np.array(_as_differentiable(cotangent, "cotangent", f, "vjp"))  # never alias
            shape = cotangent.shape
        if shape != recording.output_shape:
            raise ValueError(
                f"kronvec.vjp: the cotangent must be shaped like the output {recording.output_shape}, "
                f"got {shape}"
            )
        with call_scope():
            return recording.backward(cotangent)

    return recording.output, pullback


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
    return jacobian(grad(f, argnums), argnums)


def hvp(f, argnums=0):
    """Hessian-vector product ``H(X)[V]`` shaped like X, without forming H.

    Forward-over-reverse: the directional derivative of ∇f along V.

    Examples
    --------
    >>> import numpy as np
    >>> hvp(lambda x: np.sum(x ** 3))(np.array([1., 2.]), np.array([1., 1.]))
    array([ 6., 12.])
    """
    if not isinstance(argnums, numbers.Integral):
        raise TypeError("kronvec.hvp: argnums must be a single int")
    gradient = grad(f, argnums)

    def transformed(*args):
        if len(args) < 2:
            raise TypeError("kronvec.hvp(f)(*args, V): pass the direction V last")
        *point, direction = args
        k = argnums % len(point)

        def along(x):
            call = list(point)
            call[k] = x
            return gradient(*call)

        return jvp(along, (point[k],), (direction,))[1]

    return transformed
