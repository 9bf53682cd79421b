"""The traced value that plain NumPy code runs on.

:class:`Traced` is the tracer's node (:mod:`kronvec._tracer`) dressed as an
array: NumPy's protocols (``__array_ufunc__``, NEP 13, and
``__array_function__``, NEP 18) and the ndarray methods route every
operation to its :class:`~kronvec.ops.Primitive`, through the dispatch
tables the operations registered (:mod:`kronvec.ops`).  So users
differentiate their functions unchanged.

What cannot be differentiated is refused loudly, naming what the user
called: an unsupported NumPy function or ndarray method, a keyword argument
kronvec does not implement, a traced value turned into a plain number
(``float(x)``, ``x.item()``, ``np.asarray(x, dtype=float)``, ``np.asarray(x)``
from inside a SciPy function) or written into a plain array.  ``np.array``
and ``np.asarray`` of traced values give object arrays of traced entries,
turned into one recorded value where they meet kronvec
(:func:`kronvec.ops.joining.lift`).  Writes into a traced array
(``x[...] = v``, ``x += y``) are recorded functionally
(:mod:`kronvec.ops.assignment`).
"""

from __future__ import annotations

import importlib
import operator
import sys

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._constants import ForeignOperand
from ._tracer import Node, bind, compile_guard, plain_value, static_value
from .ops import (NUMPY_FUNCTIONS, NUMPY_METHODS, UFUNCS, UFUNCS_WITH_PARAMETERS, VALUE_ONLY_OPERATIONS,
                  VALUE_ONLY_UFUNCS, VALUE_ONLY_UNLESS_TRACED)
from .ops import assignment as _assignment
from .ops import elementwise as _elementwise
from .ops import indexing as _indexing
from .ops import joining as _joining
from .ops import products as _products
from .ops import shape as _shape

_ndarray = np.ndarray  # (hot type checks read it as a global: see kronvec/_tracer.py)

__all__ = ["Traced", "function_name"]

_LEAVING_MESSAGE = (
    "kronvec: {what} would turn a traced value into a plain number and drop its "
    "derivative. Keep the computation in NumPy operations on the array (see "
    "kronvec.SUPPORTED_FUNCTIONS), or move it outside the differentiated function."
)


def function_name(func):
    """``np.linalg.eig``, ``np.fft.fft``, ``scipy.special.expit``...: the public path users typed."""
    if isinstance(func, np.ufunc):
        special = sys.modules.get("scipy.special")
        if getattr(np, func.__name__, None) is not func and getattr(special, func.__name__, None) is func:
            return f"scipy.special.{func.__name__}"
        return f"np.{func.__name__}"
    module = getattr(func, "__module__", "") or "numpy"
    public = [part for part in module.split(".") if not part.startswith("_")]
    public = ["np"] + public[1:] if public and public[0] == "numpy" else public
    return ".".join(public + [getattr(func, "__name__", repr(func))])


def _unsupported(name):
    return TypeError(
        f"kronvec cannot differentiate {name}: it is not one of the supported NumPy "
        "functions (see kronvec.SUPPORTED_FUNCTIONS). Rewrite it with supported "
        "operations, define it with kronvec.primitive, or compute it outside the "
        "differentiated function."
    )


def _unsupported_in_caller(name):
    """The TypeError for an unsupported NumPy function `name`; when a SciPy function that
    kronvec.scipy mirrors called it (``scipy.linalg.solve_circulant`` calls ``np.fft.fft``),
    the error names that function and its counterpart, as a conversion by np.asarray does."""
    caller = _foreign_caller()
    counterpart = _counterpart(caller) if caller is not None else None
    if counterpart is None:
        return _unsupported(name)
    return TypeError(
        f"kronvec cannot differentiate {caller}: it calls {name}, which kronvec does not differentiate. "
        f"Use {counterpart} instead (import kronvec.scipy.{caller.split('.')[1]}): the same function, "
        "written with operations kronvec differentiates."
    )


def _foreign_caller():
    """The SciPy (or other library) function that asked for ``np.asarray`` of a
    traced value, named as users call it; None when the user's code did."""
    frame = sys._getframe(2)
    found = None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        top = module.split(".")[0]
        if top in ("numpy", "kronvec"):
            frame = frame.f_back
            continue
        if top in ("scipy", "sklearn", "statsmodels", "pandas"):
            # the outermost library frame is what the user called; a decorator's wrapper
            # is named by the function it wraps (kept when that cannot be read)
            found = _public_name(module, frame) or found
            frame = frame.f_back
            continue
        break
    return found


_DECORATOR_WRAPPERS = frozenset({"wrapper", "wrapped", "inner", "decorated", "_wrapper"})


def _public_name(module, frame):
    """``scipy.special.logsumexp``; for a method of a scipy.stats distribution, the
    distribution as users name it: ``scipy.stats.norm.logpdf``, ``scipy.stats.norm(…).logpdf``;
    for a method, its object's class (``scipy.interpolate.interp1d`` for the constructor,
    ``scipy.interpolate.interp1d(…)`` for a call of an instance); for a class or static
    method, ``Class.method``; for SciPy's uarray dispatch (``scipy.fft``), the function
    dispatched; for a decorator's wrapper, the function it wraps (None when that cannot be read)."""
    public = [part for part in module.split(".") if not part.startswith("_")]
    code = frame.f_code
    first = code.co_varnames[0] if code.co_argcount else None  # ("self" for a method, "cls" for a class method)
    if public[:2] == ["scipy", "stats"] and first == "self":
        distribution = _distribution_name(frame.f_locals.get("self"))
        if distribution:
            public.append(distribution)
    name = code.co_name
    if name == "__ua_function__":  # SciPy's uarray dispatch (scipy.fft): the function called is `method`
        method = frame.f_locals.get("method")
        return ".".join(public + [method.__name__]) if isinstance(getattr(method, "__name__", None), str) else None
    owner = frame.f_locals.get("self") if first == "self" else None
    if owner is not None and public[:2] != ["scipy", "stats"]:
        # a method: named by the user's class (interp1d, not _Interpolator1D), a
        # constructor by the class itself and __call__ as a call of an instance
        kind = type(owner).__name__
        if name in ("__init__", "__new__"):
            return ".".join(public + [kind])
        return ".".join(public + [f"{kind}(…)" if name == "__call__" else f"{kind}(…).{name}"])
    owner = frame.f_locals.get("cls") if first == "cls" else None
    if isinstance(owner, type):  # a class method, named by the class it was called on
        return ".".join(public + [f"{owner.__name__}.{name}"])
    qualified = getattr(code, "co_qualname", name)  # (Python ≥ 3.11) a static method: Rotation.from_rotvec
    if first != "self" and "." in qualified and "<" not in qualified and not qualified.startswith("_"):
        return ".".join(public + [qualified])
    if name in _DECORATOR_WRAPPERS:  # the function a decorator wraps, from the wrapper's closure
        for variable in ("fun", "func", "function", "f", "fn", "wrapped"):
            wrapped = frame.f_locals.get(variable) if variable in code.co_freevars else None
            if isinstance(getattr(wrapped, "__name__", None), str):
                wrapped_module = getattr(wrapped, "__module__", None) or module
                public = [part for part in wrapped_module.split(".") if not part.startswith("_")]
                return ".".join(public + [wrapped.__name__])
        return None
    return ".".join(public + [name])


def _distribution_name(owner):
    """``norm`` for scipy.stats.norm, ``norm(…)`` for a frozen one; None when not a distribution."""
    frozen_of = getattr(owner, "dist", None) or getattr(owner, "_dist", None)
    if frozen_of is not None:
        name = _distribution_name(frozen_of)
        return f"{name}(…)" if name else None
    name = getattr(owner, "name", None)
    if isinstance(name, str) and name.isidentifier():
        return name
    kind = type(owner).__name__
    return kind[:-len("_gen")] if kind.endswith("_gen") else None


def _counterpart(name):
    """``kronvec.scipy.<name>`` when kronvec.scipy has a function of that name
    (``scipy.stats.norm.logpdf`` → ``kronvec.scipy.stats.norm.logpdf``), else None.
    Looked up in kronvec.scipy itself, so the list of counterparts is its contents."""
    path = name.replace("(…)", "").split(".")
    if path[0] != "scipy" or len(path) < 3:
        return None
    try:
        target = importlib.import_module(f"kronvec.scipy.{path[1]}")
    except ImportError:
        return None
    for part in path[2:]:
        target = getattr(target, part, None)
    return "kronvec." + ".".join(path) if callable(target) else None


_PIECEWISE_CONSTANT_KINDS = "iub"  # integer and boolean casts: derivative 0 almost everywhere


def _handed_back(error, other):
    """x ∘ other where `other` is another library's array (ForeignOperand): NotImplemented,
    so Python calls other's reflected operator, which applies the ufunc to its plain data
    and x — recorded then.  An error about any other operand is re-raised."""
    if error.operand is other:
        return NotImplemented
    raise error


class Traced(Node, np.lib.mixins.NDArrayOperatorsMixin):
    """An array whose NumPy operations are recorded for differentiation.

    Behaves like the ndarray it wraps for the supported operations
    (``kronvec.SUPPORTED_FUNCTIONS``); comparisons return plain boolean
    arrays of the values, so piecewise code runs.  Made by the
    transformations (``kronvec.grad`` and friends), never by users.
    """

    __slots__ = ()
    __array_priority__ = 1000.0

    # --- static information (never differentiated) ---
    @property
    def shape(self):
        value = self._value
        return value.shape if type(value) is _ndarray else np.shape(value)

    @property
    def ndim(self):
        value = self._value
        return value.ndim if type(value) is _ndarray else np.ndim(value)

    @property
    def size(self):
        return int(np.size(self._value))

    @property
    def dtype(self):
        return np.asarray(static_value(self)).dtype

    @property
    def itemsize(self):
        return self.dtype.itemsize

    @property
    def nbytes(self):  # (of the value: as ndarray's, size × itemsize)
        return self.size * self.dtype.itemsize

    @property
    def device(self):  # (the Array API attribute: NumPy's arrays live on the CPU)
        return "cpu"

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __contains__(self, value):
        # ndarray's `value in x`, (x == value).any(): a decision on the values, as a comparison
        # is (without it Python iterated over the rows, and a row's truth value is ambiguous)
        return bool((plain_value(self) == (plain_value(value) if isinstance(value, Node) else value)).any())

    def __repr__(self):
        return f"Traced({static_value(self)!r})"

    def __format__(self, spec):
        # f"{loss:.4f}" in a function being differentiated: the value printed, as NumPy formats
        # it (a 0-d value as its scalar, an array with a spec: ndarray's TypeError); a text
        # leaves the recording without a derivative to lose
        if not spec:  # (f"{x}" is str(x), as for every object)
            return str(self)
        value = np.asarray(plain_value(self))
        return format(value[()] if value.ndim == 0 else value, spec)

    __hash__ = object.__hash__

    # --- the NumPy protocols ---
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        try:
            op = UFUNCS.get(ufunc)
            if op is not None and method == "__call__" and not kwargs and op is not _elementwise.power:
                return bind(op, *inputs)  # (the common case first: this runs once per operation)
            guard = (compile_guard(self) if self._trace.compiling is not None or isinstance(self._value, Node)
                     else None)  # (the uncompiled case without the walk: this runs once per operation)
            if guard is not None:
                return guard.run(function_name(ufunc), _ufunc_call, (ufunc, method, inputs, kwargs), {})
            return _ufunc_call(ufunc, method, inputs, kwargs)
        except ForeignOperand as error:
            # x * DataArray: hand the ufunc to the operand's own __array_ufunc__ (NEP 13); it calls
            # the ufunc again on its plain data, and this call records it.  (Only an operand of
            # this very call: one met deeper, inside a rule, is an error there.)
            if any(error.operand is x for x in inputs):
                return NotImplemented
            raise

    def __array_function__(self, func, types, args, kwargs):
        try:  # (a subscript, not .get: a method call costs more; free in CPython ≥ 3.11 unless raised)
            handler = NUMPY_FUNCTIONS[func]
        except KeyError:
            raise _unsupported_in_caller(function_name(func)) from None
        value = self._value
        if self._trace.compiling is None and (type(value) is _ndarray or not isinstance(value, Node)):
            # (the uncompiled case without the walk: this runs once per operation; a plain array
            # under this layer, the common case, read by its type first; NumPy passes a dict even
            # without keywords, and an empty **kwargs still costs a dict copy)
            return handler(*args, **kwargs) if kwargs else handler(*args)
        guard = compile_guard(self)
        if guard is not None:  # a recording made for replay: see kronvec._compiled.guard
            return guard.run(function_name(func), handler, args, kwargs)
        return handler(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype).kind in _PIECEWISE_CONSTANT_KINDS:
            return _shape.integer_value(self, dtype, copy)
        caller = _foreign_caller()
        if caller is not None:
            counterpart = _counterpart(caller)
            if counterpart is not None:
                raise TypeError(
                    f"kronvec cannot differentiate {caller}: it converts its input with np.asarray, "
                    f"which drops the derivative. Use {counterpart} instead (import "
                    f"kronvec.scipy.{caller.split('.')[1]}): the same function, written with "
                    "operations kronvec differentiates."
                )
            raise TypeError(
                f"kronvec cannot differentiate {caller}: it converts its input with "
                "np.asarray, which drops the derivative. Write the computation with "
                "NumPy operations, or wrap it with kronvec.primitive and give its VJP."
            )
        if dtype is None or np.dtype(dtype) == object:
            # np.array([x, y]), np.asarray(x), np.r_[x, c]: an object array of x's entries,
            # each a recorded 0-d traced value; kronvec.ops.joining.lift turns it into one
            # recorded value where it meets kronvec (notes/derivatives.md §29)
            _assignment.refuse_plain_target()  # (np.copyto(Y, x) & co. with Y a plain array)
            if copy is False:
                raise ValueError("kronvec: np.asarray(traced value, copy=False): a traced value has no "
                                 "plain buffer to share; np.array/np.asarray make an array of its entries")
            return _joining.elements(self)
        raise _assignment.conversion_error(f"np.asarray(traced value, dtype={np.dtype(dtype)})")

    def __float__(self):
        raise _assignment.conversion_error("float(traced value)")

    def __int__(self):
        # Truncation is piecewise constant: its derivative is 0 wherever it has one
        # (notes/conventions.md §7), so the plain integer is the right answer.
        return int(plain_value(self))

    def __floor__(self):
        # math.floor/ceil/trunc (NumPy's object loops of np.floor & co. call them): piecewise
        # constant, derivative 0 wherever it exists (notes/conventions.md §7), as int(x)
        return int(np.floor(plain_value(self)))

    def __ceil__(self):
        return int(np.ceil(plain_value(self)))

    def __trunc__(self):
        return int(plain_value(self))

    def __round__(self, ndigits=None):
        # round(x) is an int, round(x, k) np.round's value: piecewise constant, derivative 0
        # wherever it exists (notes/conventions.md §7), as np.round returns it
        if ndigits is None:
            return round(float(np.asarray(plain_value(self))))
        return np.round(self, ndigits)

    def __index__(self):
        # A float is never an index in NumPy either (x[np.float64(1.0)] raises).
        raise TypeError(
            "kronvec: a traced value is a float and cannot be used as an index; "
            "convert it explicitly with int(x) (its derivative is 0)"
        )

    def __complex__(self):
        raise TypeError(_LEAVING_MESSAGE.format(what="complex(traced value)"))

    def item(self, *args):
        raise TypeError(_LEAVING_MESSAGE.format(what="x.item()"))

    def tolist(self):
        raise TypeError(_LEAVING_MESSAGE.format(what="x.tolist()"))

    def __bool__(self):
        # A branch on a value, like a comparison: the derivative is the branch's.
        return bool(plain_value(self))

    def __setitem__(self, key, value):
        _assignment.assign(self, key, value)  # recorded functionally; self is rebound

    def __copy__(self):
        return bind(_shape.copy, self)

    def __deepcopy__(self, memo):
        return bind(_shape.copy, self)

    def __kronvec_apply__(self, operator, method):
        """``operator.matvec(self)`` and friends: one recorded operation."""
        return _products.apply(operator, self, method)

    # --- arithmetic: straight to the primitives (the mixin's ufunc round trip
    # costs microseconds per operation, which small problems feel); an operand of a
    # library with its own __array_ufunc__ (x * DataArray) gets the operation back ---
    def __add__(self, other):
        try:
            return bind(_elementwise.add, self, other)
        except ForeignOperand as error:
            return _handed_back(error, other)

    def __radd__(self, other):
        try:
            return bind(_elementwise.add, other, self)
        except ForeignOperand as error:
            return _handed_back(error, other)

    def __sub__(self, other):
        try:
            return bind(_elementwise.subtract, self, other)
        except ForeignOperand as error:
            return _handed_back(error, other)

    def __rsub__(self, other):
        try:
            return bind(_elementwise.subtract, other, self)
        except ForeignOperand as error:
            return _handed_back(error, other)

    def __mul__(self, other):
        try:
            return bind(_elementwise.multiply, self, other)
        except ForeignOperand as error:
            return _handed_back(error, other)

    def __rmul__(self, other):
        try:
            return bind(_elementwise.multiply, other, self)
        except ForeignOperand as error:
            return _handed_back(error, other)

    def __truediv__(self, other):
        try:
            return bind(_elementwise.divide, self, other)
        except ForeignOperand as error:
            return _handed_back(error, other)

    def __rtruediv__(self, other):
        try:
            return bind(_elementwise.divide, other, self)
        except ForeignOperand as error:
            return _handed_back(error, other)

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):  # x @ J = (Jᵀ xᵀ)ᵀ
            return np.transpose(_products.apply(other.T, np.transpose(self), "matvec"))
        return bind(_products.matmul, self, other)

    def __rmatmul__(self, other):
        if isinstance(other, LinearOperator):
            return _products.apply(other, self, "matvec")
        return bind(_products.matmul, other, self)

    # x += y: the result written into x (recorded, x rebound; kronvec.ops.assignment).
    # A 0-d value that is not a view stands for a NumPy scalar (x[0], np.sum(x)), which is
    # immutable: t += y makes a new value and leaves other references to t (u = t, the
    # entries of np.array([t, t]) or of a copied object array) unchanged, as in NumPy.
    def __iadd__(self, other):
        if self._scalar():
            return bind(_elementwise.add, self, other)
        return _assignment.write(self, bind(_elementwise.add, self, other))

    def __isub__(self, other):
        if self._scalar():
            return bind(_elementwise.subtract, self, other)
        return _assignment.write(self, bind(_elementwise.subtract, self, other))

    def __imul__(self, other):
        if self._scalar():
            return bind(_elementwise.multiply, self, other)
        return _assignment.write(self, bind(_elementwise.multiply, self, other))

    def __itruediv__(self, other):
        if self._scalar():
            return bind(_elementwise.divide, self, other)
        return _assignment.write(self, bind(_elementwise.divide, self, other))

    def _scalar(self):
        value = self._value
        if type(value) is _ndarray and value.ndim:  # (the common case: an array)
            return False
        return self.ndim == 0 and self._op is not None and _assignment.view_kind(self) is None

    def __neg__(self):
        return bind(_elementwise.negative, self)

    def __pos__(self):
        return self

    # --- ndarray methods, routed through the NumPy functions ---
    @property
    def T(self):
        return _shape._transpose(self)  # (without NumPy's dispatch: x.T is everywhere)

    @property
    def mT(self):
        return np.swapaxes(self, -1, -2) if self.ndim > 2 else np.transpose(self)

    def transpose(self, *axes):
        if not axes or (len(axes) == 1 and axes[0] is None):
            return np.transpose(self)
        return np.transpose(self, axes[0] if len(axes) == 1 else axes)

    def reshape(self, *shape, order="C"):
        if not shape:  # (ndarray's message: a() is no shape)
            raise TypeError("reshape() takes exactly 1 argument (0 given)")
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def ravel(self, order="C"):
        return np.ravel(self, order=order)

    def flatten(self, order="C"):
        return bind(_shape.copy, np.ravel(self, order=order))  # always a copy, as NumPy's

    def squeeze(self, axis=None):
        return np.squeeze(self, axis)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        return np.sum(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        return np.mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)

    def dot(self, b, out=None):
        return np.dot(self, b, out=out)

    def trace(self, offset=0, axis1=0, axis2=1, dtype=None, out=None):
        return np.trace(self, offset, axis1, axis2, dtype, out)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return np.diagonal(self, offset, axis1, axis2)

    def copy(self, order="C"):
        return _shape.copy_in_order(self, order)  # (ndarray.copy's default order is 'C', np.copy's 'K')

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        return _shape.cast(self, dtype, copy)

    def take(self, indices, axis=None, out=None, mode="raise"):
        return np.take(self, indices, axis, out, mode)

    def __getitem__(self, key):
        guard = (compile_guard(self) if self._trace.compiling is not None or isinstance(self._value, Node)
                 else None)  # (the uncompiled case without the walk: this runs once per operation)
        if guard is not None:
            parts = key if type(key) is tuple else (key,)
            if any(isinstance(part, Node) for part in parts):
                raise guard.refusal("x[key] with a key computed from traced values (a mask or indices) "
                                    "selects entries, and a mask also a shape, that the values decide")
            return guard.run("indexing (x[key])", _indexing.index, (self, key), {})
        return _indexing.index(self, key)


def _ufunc_call(ufunc, method, inputs, kwargs):
    with_parameters = UFUNCS_WITH_PARAMETERS.get(ufunc)
    if with_parameters is not None and method == "__call__" and not kwargs:
        return _bind_with_parameters(ufunc, *with_parameters, inputs)
    if (ufunc not in UFUNCS and with_parameters is None and ufunc not in VALUE_ONLY_UFUNCS
            and _elementwise.ufunc_on_demand(ufunc)):
        return _ufunc_call(ufunc, method, inputs, kwargs)  # (its family is registered now)
    name = function_name(ufunc)
    pair = _TWO_OUTPUTS.get(ufunc)
    if pair is not None and method == "__call__":
        if kwargs:
            raise TypeError(f"kronvec cannot differentiate {name} with keyword arguments {sorted(kwargs)}")
        return pair(*inputs)
    if (method == "outer" and set(kwargs) <= {"dtype"} and len(inputs) == 2
            and (ufunc in UFUNCS or ufunc in VALUE_ONLY_UFUNCS)):
        # f.outer(a, b)[i…, j…] = f(a[i…], b[j…]): the ufunc of a and b broadcast against each other
        a, b = inputs
        return ufunc(np.reshape(a, tuple(np.shape(a)) + (1,) * np.ndim(b)), b, **kwargs)
    if method == "outer" and len(inputs) == 2 and (ufunc in UFUNCS or ufunc in VALUE_ONLY_UFUNCS):
        # (f.outer itself is supported: name the keywords that are not, as for other functions)
        raise TypeError(f"kronvec cannot differentiate {name}.outer with "
                        + ", ".join(f"{key}={value!r}" for key, value in kwargs.items() if key != "dtype")
                        + " (see kronvec.SUPPORTED_FUNCTIONS)")
    if method != "__call__":
        if method == "at" and ufunc in (np.add, np.subtract):  # (scatter-add into a traced array)
            return _assignment.add_at(ufunc, *inputs, **kwargs)
        equivalent = _UFUNC_METHODS.get((ufunc, method))
        if equivalent is None:
            if method in ("reduce", "accumulate") and ufunc.nin == 2 and ufunc in UFUNCS and len(inputs) == 1:
                return _folded(ufunc, method, inputs[0], **kwargs)
            raise _unsupported(f"{name}.{method}")
        return _as_reduction(equivalent, f"{name}.{method}", inputs, kwargs)
    if ufunc.signature is not None and ("axis" in kwargs or "axes" in kwargs) and kwargs.get("out") is None:
        return _gufunc_on_axes(ufunc, name, inputs, kwargs)
    if "dtype" in kwargs and kwargs.get("out") is None:
        # np.exp(x, dtype=np.float32): NumPy casts the operands to dtype and computes in it;
        # for float32/float64 the cast is recorded (the identity map in that precision)
        kwargs = dict(kwargs)
        dtype = kwargs.pop("dtype")
        if dtype is not None:
            inputs = tuple(_shape.in_dtype(x, dtype, name) for x in inputs)
        return ufunc(*inputs, **kwargs)
    if kwargs.get("out") is not None:  # x += y and friends: computed, then written into out
        return _assignment.ufunc_into(ufunc, inputs, kwargs)
    evaluate = VALUE_ONLY_UFUNCS.get(ufunc)
    if evaluate is not None:
        differentiable = VALUE_ONLY_UNLESS_TRACED.get(ufunc)
        if differentiable is not None and not kwargs and isinstance(inputs[differentiable[0]], Node):
            return differentiable[1](*inputs)  # (np.heaviside's h: see value_only_ufunc)
        if any(compile_guard(x) is not None for x in inputs):
            # (a recording made for replay records the decision: kronvec._compiled.guard)
            return bind(VALUE_ONLY_OPERATIONS[ufunc], *inputs, **kwargs)
        return evaluate(*(plain_value(x) for x in inputs), **kwargs)
    if kwargs:
        raise TypeError(f"kronvec cannot differentiate {name} with keyword arguments {sorted(kwargs)}")
    if ufunc is np.positive:
        return inputs[0]
    op = UFUNCS.get(ufunc)
    if op is None:
        raise _unsupported(name)
    if op is _elementwise.power and not isinstance(inputs[1], Node):
        exponent = inputs[1]
        if np.isscalar(exponent) and exponent == 2:
            base = inputs[0]
            # x ** 2 is square(x) when it keeps x's precision: a Python 2 or 2.0 does (NEP 50), an
            # np.float64(2) promotes a float32 x, as NumPy's power does
            if type(exponent) in (int, float) or np.result_type(base.dtype, exponent) == base.dtype:
                return bind(_elementwise.square, base)
    return bind(op, *inputs)


#: ufunc methods that are NumPy reductions under another name: np.add.reduce(x, axis=0) is
#: np.sum(x, axis=0) — the same numbers, so the same derivative (only the default axis, 0, differs)
_UFUNC_METHODS = {
    (np.add, "reduce"): np.sum, (np.multiply, "reduce"): np.prod,
    (np.maximum, "reduce"): np.max, (np.minimum, "reduce"): np.min,
    (np.fmax, "reduce"): np.nanmax, (np.fmin, "reduce"): np.nanmin,
    (np.add, "accumulate"): np.cumsum, (np.multiply, "accumulate"): np.cumprod,
}
#: The reductions among them (not the accumulations, which NumPy refuses on a 0-d array).
_SCALAR_REDUCIBLE = (np.sum, np.prod, np.max, np.min, np.nanmax, np.nanmin)


#: ufuncs with two outputs, as the pair of ufuncs that compute them (the same numbers):
#: np.modf's fractional part is fmod(x, 1) (x − trunc x, with x's sign also at 0), np.divmod
#: is (x // y, x % y) — each differentiated as those are (conventions.md §7)
_TWO_OUTPUTS = {
    np.modf: lambda x: (np.fmod(x, 1.0), np.trunc(x)),
    np.divmod: lambda x, y: (np.floor_divide(x, y), np.remainder(x, y)),
}


_PREFIX_EXTREMES = {np.maximum: np.max, np.minimum: np.min, np.fmax: np.nanmax, np.fmin: np.nanmin}


def _folded(ufunc, method, x, axis=0, dtype=None, out=None, keepdims=False, initial=np._NoValue, where=True):
    """f.reduce / f.accumulate of a binary ufunc without a NumPy reduction of its own
    (np.maximum.accumulate, np.logaddexp.reduce …): NumPy folds left along the axis,
    r₀ = x₀ (or f(initial, x₀)), rₖ = f(rₖ₋₁, xₖ), and so does this, one recorded f per
    step — the same numbers, and f's derivative (its tie convention too) at each step."""
    name = f"{function_name(ufunc)}.{method}"
    if out is not None:
        raise TypeError(f"kronvec cannot differentiate {name} with out= (see kronvec.SUPPORTED_FUNCTIONS)")
    if not np.all(where):  # (where=True, NumPy's default, or a mask that keeps every entry: the plain fold)
        raise TypeError(f"kronvec cannot differentiate {name} with a where= mask that skips entries "
                        "(see kronvec.SUPPORTED_FUNCTIONS)")
    x = _shape.in_dtype(x, dtype, name)
    value = static_value(x)
    shape = np.shape(value)
    # NumPy's own checks of axis, keepdims and initial, on a plain array of x's shape (its
    # errors for what it refuses: accumulate's keepdims, axis=None over several axes of a
    # ufunc that is not reorderable, an empty axis without an identity), and the shape
    # of its result
    arguments = {"axis": axis}
    if keepdims:
        arguments["keepdims"] = keepdims
    if initial is not np._NoValue:  # (a traced initial value: its value for the check, traced in the fold)
        arguments["initial"] = static_value(initial) if isinstance(initial, Node) else initial
    with np.errstate(all="ignore"):
        expected = getattr(ufunc, method)(np.ones(shape, dtype=np.result_type(value)), **arguments)
    if type(axis) is tuple:
        if len(axis) != 1:
            raise TypeError(f"kronvec cannot differentiate {name} over several axes (axis={axis!r})")
        axis = axis[0]
    if axis is None or not shape:  # a 0-d array folds as its one entry
        x, axis = np.reshape(x, (-1,)), 0
    moved = np.moveaxis(x, operator.index(axis), 0)
    length = np.shape(static_value(moved))[0]
    if length == 0:  # (NumPy accepted it: the initial value or the ufunc's identity, whatever x holds)
        return expected
    extreme = _PREFIX_EXTREMES.get(ufunc)
    if extreme is not None and method == "accumulate":
        # a running maximum is the maximum of each prefix: its ties split evenly among the
        # tied entries of the prefix (conventions §7), where folding max(a, b) would halve again
        return np.moveaxis(np.stack([extreme(moved[:k + 1], axis=0) for k in range(length)]), 0, axis)
    steps = [moved[0] if initial is np._NoValue else ufunc(initial, moved[0])]
    for k in range(1, length):
        steps.append(ufunc(steps[-1], moved[k]))
    if method == "reduce":
        return np.reshape(steps[-1], np.shape(expected))  # (keepdims: the result's axes of length 1)
    return np.moveaxis(np.stack(steps), 0, axis)


def _gufunc_on_axes(ufunc, name, inputs, kwargs):
    """np.vecdot(a, b, axis=k), np.matmul(A, B, axes=[…]): a gufunc whose core dimensions
    are other axes is the gufunc of its operands with those axes moved last (in order),
    its result's core axes moved back: the same numbers, and moveaxis is a permutation."""
    import re

    kwargs = dict(kwargs)
    axis, axes = kwargs.pop("axis", None), kwargs.pop("axes", None)
    cores = [len([d for d in group.split(",") if d.strip()]) for group in re.findall(r"\(([^)]*)\)", ufunc.signature)]
    if axis is not None and axes is not None:
        raise TypeError(f"{name}: cannot specify both 'axis' and 'axes'")
    if axis is not None:
        if any(c > 1 for c in cores):
            raise TypeError(f"{name}: axis= is for gufuncs whose operands have one core dimension; use axes=")
        axes = [(axis,) if c == 1 else () for c in cores]
    axes = [tuple(a) if isinstance(a, (tuple, list)) else (a,) for a in axes]
    if len(axes) == ufunc.nin and cores[-1] == 0:
        axes.append(())
    if len(axes) != len(cores) or any(len(a) != c for a, c in zip(axes, cores)):
        raise ValueError(f"{name}: axes={axes!r} does not give each operand its {cores} core dimensions")
    moved = []
    for x, core_axes, count in zip(inputs, axes, cores):
        ndim = np.ndim(static_value(x)) if isinstance(x, Node) else np.ndim(x)
        if ndim < count:
            raise TypeError(f"kronvec cannot differentiate {name} with axes= of an operand with fewer dimensions "
                            "than the gufunc's core (see kronvec.SUPPORTED_FUNCTIONS)")
        moved.append(np.moveaxis(x, list(core_axes), list(range(ndim - count, ndim))) if count else x)
    result = ufunc(*moved, **kwargs)
    count = cores[-1]
    if not count:
        return result
    ndim = len(np.shape(static_value(result)))
    return np.moveaxis(result, list(range(ndim - count, ndim)), list(axes[-1]))


def _as_reduction(equivalent, name, inputs, kwargs):
    if len(inputs) != 1:
        raise TypeError(f"{name} takes one array")
    kwargs = dict(kwargs)
    kwargs.setdefault("axis", 0)  # (a ufunc's reduce and accumulate default to the first axis)
    if np.ndim(static_value(inputs[0])) == 0 and kwargs["axis"] in (0, -1):
        if equivalent not in _SCALAR_REDUCIBLE:
            raise TypeError(f"{name}: cannot accumulate on a scalar")  # (NumPy's words)
        # NumPy reduces a 0-d array along "its first axis" to itself (np.add.reduce(3.0) is 3.0):
        # its whole reduction is the same value
        kwargs["axis"] = None
    elif name.endswith(".accumulate"):
        axis = kwargs["axis"]
        if isinstance(axis, tuple) and len(axis) == 1:
            kwargs["axis"] = axis = axis[0]
        if (axis is None and np.ndim(static_value(inputs[0])) > 1) or isinstance(axis, tuple):
            raise ValueError(f"{name}: accumulate does not allow multiple axes")  # (NumPy's words; cumsum flattens)
    if kwargs.get("where", True) is True:
        kwargs.pop("where", None)
    operand = inputs[0]
    if equivalent in (np.max, np.min, np.nanmax, np.nanmin):
        # (no dtype parameter: the extremes keep the input's, or compare in the given dtype,
        # as np.maximum.reduce(x, dtype=…) casts first)
        dtype = kwargs.pop("dtype", None)
        if dtype is not None:
            operand = operand.astype(dtype)
    return equivalent(operand, **kwargs)


def _bind_with_parameters(ufunc, op, parameters, inputs):
    """A ufunc differentiated in some arguments only: a traced parameter is refused by name."""
    for position, argument in parameters.items():
        if isinstance(inputs[position], Node):
            raise TypeError(
                f"kronvec cannot differentiate {function_name(ufunc)} with respect to its argument "
                f"{argument} (position {position}): kronvec differentiates it in its other arguments only. "
                f"Pass {argument} as a plain number or array, not a value computed from the "
                "differentiated inputs."
            )
    return bind(op, *inputs)


def _refused_method(name):
    def refused(self, *args, **kwargs):
        raise TypeError(
            f"kronvec cannot differentiate the ndarray method .{name}() of a traced value "
            "(see kronvec.SUPPORTED_FUNCTIONS for what is supported)"
        )

    refused.__name__ = name
    return refused


def _refused_attribute(name):
    def refused(self):
        raise TypeError(
            f"kronvec: the ndarray attribute .{name} of a traced value would expose its "
            "plain data outside the recording (see kronvec.SUPPORTED_FUNCTIONS)"
        )

    return property(refused)


def _registered_method(name, handler):
    def method(self, *args, **kwargs):
        guard = (compile_guard(self) if self._trace.compiling is not None or isinstance(self._value, Node)
                 else None)  # (the uncompiled case without the walk: this runs once per operation)
        if guard is not None:
            return guard.run(f"ndarray.{name}", handler, (self, *args), kwargs)
        return handler(self, *args, **kwargs)

    method.__name__ = getattr(handler, "__name__", "method")
    return method


def _complete_ndarray_methods(cls):
    """Give the traced array every public ndarray method and attribute, once, at
    import: a method an operation registered (``numpy_method``) calls its handler;
    any other refuses with a TypeError naming it.  (Defined on the class rather
    than found by ``__getattr__``, which would slow every attribute lookup.)"""
    for name in dir(np.ndarray):
        if name.startswith("_") or name in cls.__dict__ or any(name in base.__dict__ for base in cls.__mro__[1:-1]):
            continue
        if name in NUMPY_METHODS:
            handler = NUMPY_METHODS[name]  # an attribute (x.real) is registered as a property
            setattr(cls, name, handler if isinstance(handler, property) else _registered_method(name, handler))
        elif callable(getattr(np.ndarray, name)):
            setattr(cls, name, _refused_method(name))
        else:
            setattr(cls, name, _refused_attribute(name))


_complete_ndarray_methods(Traced)


def _ufunc_method(ufunc):
    def method(self, *others):
        return ufunc(self, *others)  # (recorded through __array_ufunc__, or refused by name)

    method.__name__ = ufunc.__name__
    method.__doc__ = f"``np.{ufunc.__name__}`` of this traced value: what NumPy's object loop calls."
    return method


def _complete_object_loop_methods(cls):
    """NumPy's ufunc loops for object arrays (``np.exp(np.array([x, y]))``) call a method
    named after the ufunc on each entry (``entry.exp()``): give traced values those
    methods, once, at import, each the ufunc itself — recorded, or refused by name."""
    for name in dir(np):
        ufunc = getattr(np, name)
        if (isinstance(ufunc, np.ufunc) and ufunc.__name__ == name and ufunc.nout == 1
                and any("O" in types for types in ufunc.types) and not hasattr(cls, name)):
            setattr(cls, name, _ufunc_method(ufunc))


_complete_object_loop_methods(Traced)
