"""Adapters between kronvec and :mod:`scipy.optimize`: matrix unknowns, one call.

SciPy's optimizers work on a flat vector x.  This module is the plumbing that
maps x to the matrix unknown(s) and back, and hands SciPy the derivatives
kronvec computes — keeping their structure all the way into the solver.  It
does no calculus of its own: gradients come from :func:`kronvec.value_and_grad`,
Hessians from :func:`kronvec.hessian` (or :func:`kronvec.hvp`), residual
Jacobians from :func:`kronvec.jacobian`.

The flattening convention (``notes/conventions.md`` §1, ``notes/optimization.md``)
---------------------------------------------------------------------------------
* One matrix X of shape (m, n): ``x = vec(X)``, column-major,
  ``x[i + j*m] == X[i, j]``.
* A symmetric X (``symmetric=True``): ``x = vech(X)``, the lower triangle
  column by column, n(n+1)/2 unknowns; ``vec(X) = D_n x``.  The gradient in
  these coordinates is ``D_nᵀ vec(∇f)`` and the Hessian ``D_nᵀ H D_n``.
* Several unknowns (``shape`` a tuple of shapes, e.g. ``((m, r), (n, r))`` for
  ``f(U, V)``): ``x`` is the concatenation ``[vec U; vec V]`` (each block vech
  when that unknown is symmetric).

Every map from x to the unknowns is a 0/1 selection ``vec X_i = P_i x`` (an
identity, a contiguous block, or the duplication matrix), so the gradient in x
is ``Σ P_iᵀ vec ∇_i f``, the Hessian ``Σ P_iᵀ H_ij P_j`` and a residual Jacobian
``Σ J_i P_i`` — still structured :class:`~kronvec.StructuredOperator` objects.

Examples
--------
>>> import numpy as np
>>> import kronvec.optimize as kvo
>>> S = np.array([[2.0, 0.5], [0.5, 1.0]])
>>> def nll(L, S):   # Gaussian negative log-likelihood (up to constants), Σ = LLᵀ
...     Sigma = L @ L.T
...     return np.linalg.slogdet(Sigma)[1] + np.trace(np.linalg.inv(Sigma) @ S)
>>> res = kvo.minimize(nll, np.eye(2), S, method="newton-cg", symmetric=True,
...                    options={"xtol": 1e-10})
>>> res.success, np.allclose(res.X @ res.X.T, S, atol=1e-8)
(True, True)

The covariance is fitted through a factor L (any nonsingular L gives an SPD Σ):
on Σ itself the objective has no lower bound outside the SPD cone, and the
solvers step out of it.  SciPy's default tolerances can stop far from the
optimum and still report success; ``notes/optimization.md`` §8 measures this
and says what to pass instead.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
import scipy.optimize

from ._config import check_materialization
from ._vec import stack_duplication_index, stack_vech_index, tril_size, unvec, vec
from .api import grad as _grad
from .api import hessian as _hessian
from .api import hvp as _hvp
from .api import jacobian as _jacobian
from .api import jvp as _jvp
from .api import value_and_grad as _value_and_grad
from .operators import Duplication, Identity, Product, Scaled, Selection, Sum

__all__ = ["objective", "minimize", "residuals", "least_squares", "Objective", "Residuals"]

#: Methods of :func:`scipy.optimize.minimize` that use no derivative.
DERIVATIVE_FREE = frozenset({"nelder-mead", "powell", "cobyla", "cobyqa"})
#: Methods that take a Hessian-vector product ``hessp``.
HESSP_METHODS = frozenset({"newton-cg", "trust-ncg", "trust-krylov"})
#: Methods that need the Hessian as a dense array.
DENSE_HESS_METHODS = frozenset({"dogleg", "trust-exact"})
#: Methods that take the Hessian as a ``LinearOperator``.
OPERATOR_HESS_METHODS = frozenset({"trust-constr"})

_JAC_FORMATS = ("operator", "sparse", "dense")
_HESSP_MODES = ("operator", "hvp")


class _NotScalar(Exception):
    """Raised inside f's recording when f's output is not a scalar."""

    def __init__(self, shape):
        super().__init__(shape)
        self.shape = shape


def _add_note(err, text):
    """Attach `text` to an exception raised inside f (shown by Python ≥ 3.11)."""
    if hasattr(err, "add_note"):
        err.add_note(text)


def _is_shape(shape):
    return isinstance(shape, (tuple, list)) and all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in shape)


# ------------------------------------------------------------------ layout
class _Layout:
    """How the flat vector x maps to the matrix unknowns, and back.

    ``vec X_i = x[index_i]`` for every unknown: ``index_i`` is a contiguous
    range, or the duplication index map shifted to the block's offset.
    """

    def __init__(self, shape, symmetric, owner):
        self.owner = owner
        if _is_shape(shape):
            self.single, shapes = True, (tuple(int(s) for s in shape),)
        elif isinstance(shape, (tuple, list)) and shape and all(_is_shape(s) for s in shape):
            self.single, shapes = False, tuple(tuple(int(d) for d in s) for s in shape)
        else:
            raise TypeError(
                f"{owner}: shape must be a tuple of ints (one unknown, e.g. (3, 4)) or a "
                f"tuple of such tuples (several unknowns, e.g. ((5, 2), (4, 2))); got {shape!r}"
            )
        for s in shapes:
            if any(d < 0 for d in s):
                raise ValueError(f"{owner}: negative dimension in shape {s}")
        if isinstance(symmetric, (bool, np.bool_)):
            symmetric = (bool(symmetric),) * len(shapes)
        else:
            symmetric = tuple(bool(s) for s in symmetric)
            if len(symmetric) != len(shapes):
                raise ValueError(
                    f"{owner}: symmetric has {len(symmetric)} entries for {len(shapes)} unknowns")
        for s, sym in zip(shapes, symmetric):
            if sym and (len(s) < 2 or s[-2] != s[-1]):
                raise ValueError(
                    f"{owner}: symmetric=True needs a square matrix unknown or a stack of square "
                    f"matrices (…, n, n); got shape {s}")
        self.shapes, self.symmetric = shapes, symmetric
        # a symmetric stack (…, n, n): every member symmetric, x = vech of each, in the
        # stack layout (the batch index fastest, conventions §11)
        self.sizes = tuple(tril_size(s[-1]) * int(np.prod(s[:-2], dtype=np.int64)) if sym
                           else int(np.prod(s, dtype=np.int64)) for s, sym in zip(shapes, symmetric))
        self.offsets = tuple(int(o) for o in np.cumsum((0,) + self.sizes[:-1]))
        self.size = int(sum(self.sizes))
        # x-indices of vec X_i: None means "x itself" (single, not symmetric)
        self.indices, self.duplications = [], []
        for s, sym, off, size in zip(shapes, symmetric, self.offsets, self.sizes):
            self.duplications.append(stack_duplication_index(s) if sym else None)
            if sym:
                self.indices.append(self.duplications[-1] + off)
            elif self.single:
                self.indices.append(None)
            else:
                self.indices.append(np.arange(off, off + size, dtype=np.intp))

    # ------------------------------------------------------------ describe
    @property
    def shape(self):
        return self.shapes[0] if self.single else self.shapes

    def describe(self):
        """``X of shape (3, 3), symmetric`` — for error messages."""
        names = ["X"] if self.single else [f"X{i}" for i in range(len(self.shapes))]
        parts = []
        for name, s, sym in zip(names, self.shapes, self.symmetric):
            parts.append(f"{name} of shape {s}" + (" (symmetric, x = vech)" if sym else ""))
        return ", ".join(parts)

    def convention(self):
        pieces = []
        for s, sym in zip(self.shapes, self.symmetric):
            pieces.append("vech(X)" if sym else "vec(X)")
        flat = pieces[0] if self.single else "[" + "; ".join(
            p.replace("X", f"X{i}") for i, p in enumerate(pieces)) + "]"
        return f"x = {flat}, column-major"

    # --------------------------------------------------------------- maps
    def check_x(self, x, what="x"):
        """x as a float64 1-D array of the right length, or a clear ValueError."""
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{self.owner}: {what} must be a real vector, got dtype {x.dtype}")
        if x.ndim != 1:
            raise ValueError(
                f"{self.owner}: {what} must be a 1-D vector of {self.size} entries "
                f"({self.convention()}, for {self.describe()}); got an array of shape "
                f"{x.shape}. kronvec never reshapes it silently: use to_vector(X).")
        if x.size != self.size:
            raise ValueError(
                f"{self.owner}: {what} has {x.size} entries (shape {x.shape}), but "
                f"{self.describe()} needs {self.size} ({self.convention()})")
        return np.ascontiguousarray(x, dtype=np.float64)

    def to_matrices(self, x, copy=True):
        """The unknowns for a checked x (arrays that do not share memory with x; with
        ``copy=False`` possibly views of x, for a transformation that copies its
        arguments itself)."""
        out = []
        for s, index in zip(self.shapes, self.indices):
            flat = x if index is None else x[index]
            out.append(unvec(flat, s).copy() if index is None and copy else unvec(flat, s))
        return out

    def to_vector(self, X):
        """The flat x for the unknown(s) X (a tuple of arrays for several)."""
        if self.single:
            Xs = (X,)
        else:
            if not isinstance(X, (tuple, list)) or len(X) != len(self.shapes):
                raise ValueError(
                    f"{self.owner}: expected a tuple of {len(self.shapes)} arrays "
                    f"({self.describe()})")
            Xs = tuple(X)
        pieces = []
        for k, (A, s, sym) in enumerate(zip(Xs, self.shapes, self.symmetric)):
            A = np.asarray(A)
            if A.dtype.kind not in "biuf":
                raise TypeError(f"{self.owner}: unknown {k} must be real, got dtype {A.dtype}")
            if A.shape != s:
                raise ValueError(
                    f"{self.owner}: unknown {k} has shape {A.shape}, expected {s} "
                    f"({self.describe()})")
            if sym:
                At = np.swapaxes(A, -1, -2)
                if not np.allclose(A, At, rtol=1e-12, atol=1e-14 * max(1.0, np.abs(A).max(initial=0.0))):
                    what = "is" if A.ndim == 2 else "has members that are"
                    raise ValueError(
                        f"{self.owner}: unknown {k} of shape {s} is declared symmetric but "
                        f"{what} not (max |X - Xᵀ| = {np.abs(A - At).max():.3g}); "
                        "symmetrize it, e.g. (X + X.T) / 2" + ("" if A.ndim == 2 else
                                                               " or (X + np.swapaxes(X, -1, -2)) / 2"))
                pieces.append(vec(A)[stack_vech_index(s)])
            else:
                pieces.append(vec(A))
        return np.ascontiguousarray(np.concatenate(pieces) if pieces else np.zeros(0),
                                    dtype=np.float64)

    def pull_gradient(self, gradients):
        """x-gradient ``Σ P_iᵀ vec G_i`` for gradients G_i shaped like the unknowns."""
        g = np.empty(self.size, dtype=np.float64)
        for G, dup, off, size in zip(gradients, self.duplications, self.offsets, self.sizes):
            flat = vec(np.asarray(G, dtype=np.float64))
            if dup is not None:
                # D_nᵀ vec G: each vech entry sums the copies it was duplicated to
                # (np.bincount sums in one buffered pass; np.add.at is unbuffered)
                g[off:off + size] = np.bincount(dup, weights=flat, minlength=size)
            else:
                g[off:off + size] = flat
        return g

    def selections(self):
        """The operators P_i with ``vec X_i = P_i x``."""
        ops = []
        for s, sym, index in zip(self.shapes, self.symmetric, self.indices):
            if index is None:
                ops.append(Identity(self.size))
            elif sym and self.single and len(s) == 2:
                ops.append(Duplication(s[0]))
            else:
                ops.append(Selection(index, self.size, name=f"P{len(ops)}"))
        return ops

    def matrices_from_x(self, x):
        """``to_matrix`` result for the user: one array or a tuple."""
        Xs = [np.array(X) for X in self.to_matrices(x)]
        return Xs[0] if self.single else tuple(Xs)


def _argnums(layout):
    return 0 if layout.single else tuple(range(len(layout.shapes)))


def _fmt_x(x):
    return f"x of shape {np.shape(x)}"


class _Base:
    _kind = "kronvec.optimize"

    @property
    def shape(self):
        """The shape of the unknown (a tuple of shapes for several unknowns)."""
        return self._layout.shape

    @property
    def size(self):
        """Number of scalar unknowns, the length of x."""
        return self._layout.size

    @property
    def symmetric(self):
        """Whether each unknown is optimized over its symmetric subspace (x = vech)."""
        s = self._layout.symmetric
        return s[0] if self._layout.single else s

    #: Memory order of the flattening: ``"F"`` (column-major vec).
    order = "F"

    @property
    def convention(self):
        """How x is built from the unknown(s), in words."""
        return self._layout.convention()

    def to_matrix(self, x):
        """The unknown(s) for the flat vector x: an array, or a tuple for several.

        Column-major: ``to_matrix(x)[i, j] == x[i + j*m]`` (vech for a symmetric
        unknown, which comes back as the full symmetric matrix).
        """
        return self._layout.matrices_from_x(self._layout.check_x(x))

    def to_vector(self, X):
        """The flat x for the unknown(s) X: ``vec(X)`` (``vech(X)`` if symmetric)."""
        return self._layout.to_vector(X)

    def _checked_point(self, x):
        x = self._layout.check_x(x)
        if not np.isfinite(x).all():
            raise ValueError(
                f"{self._kind}: the solver passed an {_fmt_x(x)} with "
                f"{int((~np.isfinite(x)).sum())} non-finite entries ({self._layout.describe()})")
        return x

    def _context(self, x, number):
        return (f"while evaluating at {_fmt_x(x)} ({self._layout.describe()}), "
                f"evaluation #{number}")


# --------------------------------------------------------------- objective
class Objective(_Base):
    """A scalar f(X, *args) as the callables :func:`scipy.optimize.minimize` takes.

    Build it with :func:`objective`.  x is ``vec(X)``, column-major (``vech(X)``
    for a symmetric unknown); see :attr:`convention`, :meth:`to_matrix` and
    :meth:`to_vector`.

    Attributes
    ----------
    n_evaluations : int
        How many times f was traced to get a value and gradient.
    n_values : int
        How many times f was run for its value only (:meth:`value`).
    n_hessians : int
        How many structured Hessians were built (one per distinct x asked for).
    n_hessp : int
        Hessian-vector products applied.
    """

    _kind = "kronvec.optimize.objective"

    def __init__(self, f, shape, args=(), symmetric=False, hessp_mode="operator", compile=False, caller=None):
        if caller is not None:  # errors name what the user called (kronvec.optimize.minimize builds one)
            self._kind = caller
        if not callable(f):
            raise TypeError(f"{self._kind}: f must be callable, got {type(f).__name__}")
        if hessp_mode not in _HESSP_MODES:
            raise ValueError(f"{self._kind}: hessp_mode must be one of {_HESSP_MODES}, "
                             f"got {hessp_mode!r}")
        self.f, self.args, self.hessp_mode = f, tuple(args), hessp_mode
        self._layout = _Layout(shape, symmetric, self._kind)
        self._f_checked = self._scalar_checked(f)
        self._argnums = _argnums(self._layout)
        self._value_and_grad = _value_and_grad(self._f_checked, self._argnums, compile=compile)
        self._single_hvp = _hvp(self._f_checked, compile=compile) if self._layout.single else None
        # One-entry caches, each (x, result) in one tuple: read once and replaced whole (one
        # assignment), so a thread never pairs one call's x with another's result (§8 of
        # ../shared/DESIGN.md; tests/test_optimize_threads.py)
        self._last = None  # (x, (value, gradient))
        self._last_hessian = None  # (x, H)
        self.n_evaluations = self.n_values = self.n_hessians = self.n_hessp = 0

    def __repr__(self):
        return (f"<kronvec.optimize.Objective of {getattr(self.f, '__name__', 'f')}: "
                f"{self._layout.describe()}; {self.size} unknowns, {self.convention}>")

    @staticmethod
    def _scalar_checked(f):
        @functools.wraps(f)
        def checked(*a):
            out = f(*a)
            shape = np.shape(out)
            if int(np.prod(shape, dtype=np.int64)) != 1:
                raise _NotScalar(shape)
            return out

        return checked

    # --------------------------------------------------------- evaluate
    def _not_scalar(self, x, shape):
        return ValueError(
            f"{self._kind}: f must return a scalar (a float, 0-d or 1×1 array), but at "
            f"{_fmt_x(x)} ({self._layout.describe()}) it returned shape {shape}; "
            "use kronvec.optimize.residuals for vector outputs")

    def _evaluate(self, x):
        x = self._checked_point(x)
        cached = self._last
        if cached is not None and np.array_equal(x, cached[0]):
            return cached[1]
        Xs = self._layout.to_matrices(x, copy=False)  # (value_and_grad copies its arguments)
        self.n_evaluations += 1
        try:
            value, gradients = self._value_and_grad(*Xs, *self.args)
        except _NotScalar as err:
            raise self._not_scalar(x, err.shape) from None
        except Exception as err:
            _add_note(err, f"kronvec.optimize: {self._context(x, self.n_evaluations)}")
            raise
        gradients = (gradients,) if self._layout.single else gradients
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(
                f"{self._kind}: f returned the non-finite value {value} at {_fmt_x(x)} "
                f"({self._layout.describe()}), evaluation #{self.n_evaluations}; the solver "
                "left f's domain (e.g. a covariance that is no longer positive definite)")
        g = self._layout.pull_gradient(gradients)
        if not np.isfinite(g).all():
            bad = int((~np.isfinite(g)).sum())
            raise ValueError(
                f"{self._kind}: the gradient has {bad} non-finite entries at {_fmt_x(x)} "
                f"({self._layout.describe()}), evaluation #{self.n_evaluations}, where "
                f"f = {value:g}")
        self._last = (x.copy(), (value, g))
        return value, g

    def fun(self, x):
        """f at x, as a Python float (and the gradient is kept for :meth:`jac`)."""
        return self._evaluate(x)[0]

    def value(self, x):
        """f at x by running f on plain arrays: no gradient, no tracing.

        For solvers that take no derivative from kronvec (derivative-free
        methods, ``jac="2-point"`` comparison runs); the same checks as
        :meth:`fun`.
        """
        x = self._checked_point(x)
        cached = self._last
        if cached is not None and np.array_equal(x, cached[0]):
            return cached[1][0]
        self.n_values += 1
        try:
            out = self.f(*self._layout.to_matrices(x), *self.args)
        except Exception as err:
            _add_note(err, f"kronvec.optimize: {self._context(x, self.n_values)}")
            raise
        shape = np.shape(out)
        if int(np.prod(shape, dtype=np.int64)) != 1:
            raise self._not_scalar(x, shape)
        value = float(np.asarray(out, dtype=np.float64).reshape(()))
        if not np.isfinite(value):
            raise ValueError(
                f"{self._kind}: f returned the non-finite value {value} at {_fmt_x(x)} "
                f"({self._layout.describe()}), value evaluation #{self.n_values}")
        return value

    def jac(self, x):
        """The gradient in x coordinates: a float64, C-contiguous 1-D array.

        ``vec(∇f(X))`` for an unconstrained unknown, ``D_nᵀ vec(∇f(X))`` for a
        symmetric one (x = vech X).  Shares one evaluation with :meth:`fun` at
        the same x.
        """
        return self._evaluate(x)[1].copy()

    def value_and_grad(self, x):
        """``(fun(x), jac(x))`` from one evaluation — for ``minimize(..., jac=True)``."""
        value, g = self._evaluate(x)
        return value, g.copy()

    # --------------------------------------------------------- second order
    def _hessian_at(self, x):
        cached = self._last_hessian
        if cached is not None and np.array_equal(x, cached[0]):
            return cached[1]
        Xs = self._layout.to_matrices(x)
        self.n_hessians += 1
        try:
            if self._layout.single:
                blocks = ((_hessian(self._f_checked)(*Xs, *self.args),),)
            else:
                k = len(Xs)
                blocks = tuple(
                    _jacobian(_grad(self._f_checked, i), self._argnums)(*Xs, *self.args)
                    for i in range(k))
        except _NotScalar as err:
            raise self._not_scalar(x, err.shape) from None
        except Exception as err:
            _add_note(err, f"kronvec.optimize: building the Hessian {self._context(x, self.n_hessians)}")
            raise
        P = self._layout.selections()
        H = None
        for i, row in enumerate(blocks):
            for j, Hij in enumerate(row):
                term = Hij if isinstance(P[j], Identity) else Hij @ P[j]
                term = term if isinstance(P[i], Identity) else P[i].T @ term
                H = term if H is None else H + term
        self._last_hessian = (x.copy(), H)
        return H

    def hess(self, x, dense=False):
        """The Hessian in x coordinates.

        Parameters
        ----------
        x : ndarray, shape (size,)
        dense : bool, default False
            False: a structured :class:`~kronvec.StructuredOperator` (a
            ``scipy.sparse.linalg.LinearOperator``; ``D_nᵀ H D_n`` for a
            symmetric unknown), built once per x and reused.  True: the dense
            float64 array (needed by ``trust-exact`` and ``dogleg``).
        """
        x = self._checked_point(x)
        H = self._hessian_at(x)
        return np.ascontiguousarray(H.toarray(), dtype=np.float64) if dense else H

    def hess_dense(self, x):
        """``hess(x, dense=True)``, as a callable for ``trust-exact``/``dogleg``."""
        return self.hess(x, dense=True)

    def hessp(self, x, p):
        """The Hessian at x applied to p, without forming the Hessian.

        ``hessp_mode="operator"`` (default) builds the structured Hessian once
        per x and applies it to every p at that x (trust-krylov and Newton-CG
        call hessp many times per iterate); ``"hvp"`` runs
        :func:`kronvec.hvp` (forward-over-reverse) for each p.  See
        ``notes/optimization.md`` for the measured trade-off.
        """
        x = self._checked_point(x)
        p = self._layout.check_x(p, what="p")
        if not np.isfinite(p).all():
            # (SciPy's trust-krylov hands NaN directions once its Lanczos process breaks down,
            # e.g. with gtol=1e-12 at the optimum of a quadratic: the product is then NaN, and
            # the error must name the direction, not blame the Hessian)
            raise ValueError(
                f"{self._kind}: the solver passed a direction p of shape {p.shape} with "
                f"{int((~np.isfinite(p)).sum())} non-finite entries (NaN or inf) to hessp at a finite "
                f"{_fmt_x(x)} ({self._layout.describe()}): the solver broke down, not f's Hessian; "
                "a looser tolerance (gtol) or another method avoids it")
        self.n_hessp += 1
        if self.hessp_mode == "operator":
            out = self._hessian_at(x).matvec(p)
        else:
            try:
                out = self._hvp(x, p)
            except _NotScalar as err:
                raise self._not_scalar(x, err.shape) from None
        out = np.ascontiguousarray(out, dtype=np.float64)
        if not np.isfinite(out).all():
            raise ValueError(
                f"{self._kind}: the Hessian-vector product has non-finite entries at "
                f"{_fmt_x(x)} ({self._layout.describe()})")
        return out

    def _hvp(self, x, p):
        Xs = self._layout.to_matrices(x)
        Ps = self._layout.to_matrices(p)
        if self._layout.single:
            products = (self._single_hvp(*Xs, *self.args, *Ps),)
        else:
            products = []
            for i in range(len(Xs)):
                gradient_i = _grad(self._f_checked, i)
                along = functools.partial(_call_with_tail, gradient_i, self.args)
                products.append(_jvp(along, tuple(Xs), tuple(Ps))[1])
        return self._layout.pull_gradient(products)


def _call_with_tail(function, tail, *head):
    return function(*head, *tail)


def objective(f, shape, *args, symmetric=False, hessp_mode="operator", compile=False):
    """Wrap a scalar f(X, *args) of a matrix X for :func:`scipy.optimize.minimize`.

    Parameters
    ----------
    f : callable
        Plain NumPy code ``f(X, *args)`` returning a scalar (float, 0-d or
        1×1 array), using the operations in :data:`kronvec.SUPPORTED_FUNCTIONS`.
        For several unknowns, ``f(X0, X1, ..., *args)``.
    shape : tuple of int, or tuple of tuples
        The shape of X, e.g. ``(3, 4)``; ``((m, r), (n, r))`` for two unknowns,
        flattened as x = [vec X0; vec X1].
    *args
        Constants passed to f after the unknown(s) (not differentiated).
    symmetric : bool or tuple of bool, default False
        Optimize over symmetric X: x = vech(X) with n(n+1)/2 entries and
        vec(X) = D_n x, so the iterates stay symmetric.  The gradient is then
        ``D_nᵀ vec ∇f`` — *not* sym(∇f); see ``notes/optimization.md``.
        For a stack of matrices (shape (…, n, n)) it applies per matrix: x holds
        the vech of every member, the batch index fastest (``x[k + K·t] =
        vech(X_k)[t]``, ``notes/conventions.md`` §11).
    hessp_mode : {"operator", "hvp"}
        How :meth:`Objective.hessp` works (see there).
    compile : bool, default False
        Record f once per shape and replay it at every later x
        (``kronvec.value_and_grad(f, compile=True)``; with ``hessp_mode="hvp"``
        the Hessian-vector product too): the same numbers, bit for bit, at a
        fraction of the cost for small matrices.  f must not take decisions on
        its values outside NumPy operations (a Python ``if`` on a value, an index
        computed from one): such an f raises ``TypeError`` on the first call.
        Float-array ``args`` may change between calls; other ``args`` are part
        of the compiled program (hashable: numbers, strings, tuples).

    Returns
    -------
    Objective
        With ``fun(x)``, ``jac(x)``, ``value_and_grad(x)``, ``hess(x, dense=False)``,
        ``hessp(x, p)``, ``to_matrix(x)``, ``to_vector(X)``.  x is ``vec(X)``
        (column-major; ``order == "F"``).  ``fun`` and ``jac`` at the same x
        share one evaluation of f.

    Raises
    ------
    ValueError
        From the methods: x of the wrong length or not 1-D; f not scalar;
        a non-finite x, value or gradient — each naming x's shape and X's.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]]); B = np.array([[1.0, 0.0], [2.0, 1.0]])
    >>> f = lambda X, A, B: 0.5 * np.sum((A @ X - B) ** 2)
    >>> obj = objective(f, (2, 2), A, B)
    >>> obj.convention
    'x = vec(X), column-major'
    >>> res = minimize(obj.fun, np.zeros(4), jac=obj.jac, hessp=obj.hessp, method="trust-krylov")
    >>> np.allclose(obj.to_matrix(res.x), np.linalg.solve(A, B))
    True
    >>> res = minimize(obj.value_and_grad, np.zeros(4), jac=True, method="L-BFGS-B")
    >>> np.allclose(obj.to_matrix(res.x), np.linalg.solve(A, B), atol=1e-5)
    True
    """
    return Objective(f, shape, args, symmetric=symmetric, hessp_mode=hessp_mode, compile=compile)


def _shape_of(X0, owner):
    if isinstance(X0, tuple):
        return tuple(np.shape(A) for A in X0)
    shape = np.shape(X0)
    if len(shape) == 0:
        raise ValueError(f"{owner}: X0 must be an array (the unknown's starting value), got a scalar")
    return shape


def _method_name(method):
    return method.lower() if isinstance(method, str) else method


def _checked_start(x0, driver):
    """Refuse a non-finite starting point up front, naming X0 (not the solver)."""
    bad = np.count_nonzero(~np.isfinite(x0))
    if bad:
        raise ValueError(
            f"kronvec.optimize.{driver}: the starting point X0 has {bad} non-finite "
            f"entr{'y' if bad == 1 else 'ies'} (NaN or inf); start from a finite point"
        )
    return x0


def minimize(f, X0, *args, method=None, symmetric=False, hessp_mode="operator", compile=False, **options):
    """:func:`scipy.optimize.minimize` over a matrix unknown, with kronvec derivatives.

    Passes every derivative the method can use: the gradient for CG, BFGS,
    L-BFGS-B, TNC, SLSQP (and SciPy's default method); the gradient and
    ``hessp`` for Newton-CG, trust-ncg and trust-krylov; the dense Hessian for
    dogleg and trust-exact; the structured Hessian operator for trust-constr;
    nothing for derivative-free methods.  A ``jac``, ``hess`` or ``hessp`` in
    `options` overrides ours (e.g. ``jac="2-point"`` for a comparison run).

    Parameters
    ----------
    f : callable
        Scalar ``f(X, *args)``, as for :func:`objective`.
    X0 : array_like, or tuple of arrays
        Starting value; its shape is the unknown's shape.  A *tuple* of arrays
        means several unknowns ``f(X0, X1, ..., *args)``.
    *args
        Constants for f.
    method : str or callable, optional
        As for :func:`scipy.optimize.minimize`.
    symmetric, hessp_mode, compile
        As for :func:`objective`.
    **options
        Passed to :func:`scipy.optimize.minimize` (``tol``, ``bounds``,
        ``constraints``, ``callback``, ``options``...), all in x coordinates.

    Returns
    -------
    scipy.optimize.OptimizeResult
        SciPy's result, plus ``X``: the solution reshaped like X0 (a tuple for
        several unknowns; the full symmetric matrix when ``symmetric=True``).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[3.0, 1.0], [1.0, 2.0]]); C = np.array([[1.0, 2.0], [0.0, 1.0]])
    >>> res = minimize(lambda X, A, C: 0.5 * np.sum((A @ X - C) ** 2), np.zeros((2, 2)), A, C,
    ...                method="Newton-CG")
    >>> np.allclose(res.X, np.linalg.solve(A, C), atol=1e-6)
    True
    """
    owner = "kronvec.optimize.minimize"
    obj = Objective(f, _shape_of(X0, owner), args, symmetric=symmetric, hessp_mode=hessp_mode,
                    compile=compile, caller=owner)
    x0 = _checked_start(obj.to_vector(X0), "minimize")
    name = _method_name(method)
    kwargs = dict(options)
    fun = obj.value  # no tracing unless the solver takes our gradient
    if name not in DERIVATIVE_FREE:
        ours = kwargs.setdefault("jac", obj.jac) == obj.jac  # bound methods: == not is
        if ours:
            fun = obj.fun
        elif kwargs["jac"] is True:
            fun = obj.value_and_grad
        user_second_order = "hess" in kwargs or "hessp" in kwargs
        if not user_second_order and callable(kwargs["jac"]):
            if name in HESSP_METHODS:
                kwargs["hessp"] = obj.hessp
            elif name in DENSE_HESS_METHODS:
                kwargs["hess"] = obj.hess_dense
            elif name in OPERATOR_HESS_METHODS:
                kwargs["hess"] = obj.hess
    result = scipy.optimize.minimize(fun, x0, method=method, **kwargs)
    result.X = obj.to_matrix(result.x)
    return result


# --------------------------------------------------------------- residuals
class Residuals(_Base):
    """A residual function r(X, *args) as ``fun``/``jac`` for
    :func:`scipy.optimize.least_squares`.  Build it with :func:`residuals`.

    ``fun(x)`` is ``vec(r(X))`` (a float64 1-D array); ``jac(x)`` is the
    numerator-layout Jacobian ∂vec r/∂xᵀ of shape (number of residuals, size)
    in the format chosen by :attr:`jac_format`.
    """

    _kind = "kronvec.optimize.residuals"

    def __init__(self, r, shape, args=(), jac_format="operator", symmetric=False):
        if not callable(r):
            raise TypeError(f"{self._kind}: r must be callable, got {type(r).__name__}")
        if jac_format not in _JAC_FORMATS:
            raise ValueError(f"{self._kind}: jac_format must be one of {_JAC_FORMATS}, "
                             f"got {jac_format!r}")
        self.r, self.args, self.jac_format = r, tuple(args), jac_format
        self._layout = _Layout(shape, symmetric, self._kind)
        self._jacobian = _jacobian(r, _argnums(self._layout))
        self._values = self._jacobian_at = None  # one-entry caches (x, result): see Objective
        self.n_evaluations = self.n_jacobians = 0

    def __repr__(self):
        return (f"<kronvec.optimize.Residuals of {getattr(self.r, '__name__', 'r')}: "
                f"{self._layout.describe()}; {self.size} unknowns, {self.convention}, "
                f"jac_format={self.jac_format!r}>")

    def fun(self, x):
        """The residuals ``vec(r(X, *args))`` as a float64 C-contiguous 1-D array."""
        x = self._checked_point(x)
        cached = self._values
        if cached is None or not np.array_equal(x, cached[0]):
            self.n_evaluations += 1
            try:
                out = self.r(*self._layout.to_matrices(x), *self.args)
            except Exception as err:
                _add_note(err, f"kronvec.optimize: {self._context(x, self.n_evaluations)}")
                raise
            out = np.asarray(out)
            if out.dtype.kind not in "biuf":
                raise TypeError(f"{self._kind}: r must return real numbers, got dtype {out.dtype}")
            values = np.ascontiguousarray(vec(out), dtype=np.float64)
            if not np.isfinite(values).all():
                raise ValueError(
                    f"{self._kind}: r returned {int((~np.isfinite(values)).sum())} non-finite "
                    f"residuals (of {values.size}) at {_fmt_x(x)} ({self._layout.describe()}), "
                    f"evaluation #{self.n_evaluations}")
            cached = self._values = (x.copy(), values)
        return cached[1].copy()

    def jac_operator(self, x):
        """The structured Jacobian ∂vec r/∂xᵀ, whatever :attr:`jac_format` says."""
        x = self._checked_point(x)
        cached = self._jacobian_at
        if cached is not None and np.array_equal(x, cached[0]):
            return cached[1]
        Xs = self._layout.to_matrices(x)
        self.n_jacobians += 1
        try:
            blocks = self._jacobian(*Xs, *self.args)
        except Exception as err:
            _add_note(err, f"kronvec.optimize: Jacobian {self._context(x, self.n_jacobians)}")
            raise
        blocks = (blocks,) if self._layout.single else blocks
        J = None
        for Ji, Pi in zip(blocks, self._layout.selections()):
            term = Ji if isinstance(Pi, Identity) else Ji @ Pi
            J = term if J is None else J + term
        self._jacobian_at = (x.copy(), J)
        return J

    def jac(self, x):
        """The Jacobian ∂vec r/∂xᵀ at x, numerator layout, shape (residuals, size).

        ``"operator"``: the structured operator (matvec / rmatvec / matmat;
        use ``tr_solver="lsmr"``); ``"sparse"``: a canonical
        ``scipy.sparse.csr_array``; ``"dense"``: a float64 ndarray.
        """
        J = self.jac_operator(x)
        if self.jac_format == "operator":
            return J
        if self.jac_format == "sparse":
            return J.tosparse()
        return _dense(J)


def _dense(J):
    """J as a float64 ndarray.

    Kron and leaf operators are written straight into the dense array by
    kronvec's kernels.  Lazy sums and products (a residual on a subset of
    entries, several unknowns) go through their CSR form.  (That route was
    chosen when ``toarray()`` of a Product applied it to blocks of unit
    columns: 12.6 s and 1.39 GiB for the completion example, 10⁴ × 2·10³,
    against 0.07 s and 154 MiB through ``tosparse().toarray()``.  ``toarray()``
    now builds such sparse products through their CSR itself, within the
    dense limit; the route here stays as measured.)
    """
    through_csr = isinstance(J, (Sum, Product, Scaled))
    # The CSR route's scipy toarray() knows no kronvec limit: check the peak here.
    peak = J.shape[0] * J.shape[1] * 8 + (J.nnz_bound * 12 if through_csr else 0)
    check_materialization(
        "dense", peak, lambda: f"the {J.shape[0]}×{J.shape[1]} Jacobian {J.formula()}",
        "use jac_format='operator' or 'sparse' (with method='trf' or 'dogbox')")
    if through_csr:
        return J.tosparse().toarray()
    return np.asarray(J.toarray(), dtype=np.float64)


def residuals(r, shape, *args, jac_format="operator", symmetric=False):
    """Wrap residuals r(X, *args) of a matrix X for :func:`scipy.optimize.least_squares`.

    Parameters
    ----------
    r : callable
        Plain NumPy code returning a matrix or vector of residuals; the solver
        minimizes ½‖vec r‖².  For several unknowns ``r(X0, X1, ..., *args)``.
    shape : tuple of int, or tuple of tuples
        As for :func:`objective`: x = vec(X), or [vec X0; vec X1; ...].
    *args
        Constants for r.
    jac_format : {"operator", "sparse", "dense"}
        ``"operator"`` (the default, and the fastest measured: see
        :func:`least_squares`): a structured ``LinearOperator``
        (``tr_solver="lsmr"``, memory of the factors only); ``"sparse"``: a
        canonical ``csr_array`` materialized by kronvec's kernels; ``"dense"``:
        an ndarray (the only format ``method="lm"`` accepts).
    symmetric : bool or tuple of bool
        As for :func:`objective` (x = vech(X)).

    Returns
    -------
    Residuals
        With ``fun(x)`` (``vec r``), ``jac(x)``, ``to_matrix``, ``to_vector``.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import least_squares as scipy_least_squares
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0], [0.0, 1.0]]); B = np.ones((3, 2))
    >>> res_ = residuals(lambda X, A, B: A @ X - B, (2, 2), A, B)
    >>> res_.jac(np.zeros(4))
    <6×4 Kron: I₂ ⊗ A, dtype=float64>
    >>> sol = scipy_least_squares(res_.fun, np.zeros(4), jac=res_.jac, tr_solver="lsmr")
    >>> np.allclose(res_.to_matrix(sol.x), np.linalg.lstsq(A, B, rcond=None)[0], atol=1e-6)
    True
    """
    return Residuals(r, shape, args, jac_format=jac_format, symmetric=symmetric)


def least_squares(r, X0, *args, jac_format=None, symmetric=False, **options):
    """:func:`scipy.optimize.least_squares` over a matrix unknown, kronvec Jacobians.

    Parameters
    ----------
    r : callable
        Residuals ``r(X, *args)`` (a matrix or vector), as for :func:`residuals`.
    X0 : array_like, or tuple of arrays
        Starting value; a tuple of arrays means several unknowns.
    *args
        Constants for r.
    jac_format : {"operator", "sparse", "dense"}, optional
        Default ``"dense"`` for ``method="lm"`` (MINPACK takes nothing else),
        ``"operator"`` otherwise (SciPy then uses ``tr_solver="lsmr"``).
        Keep the default: the operator costs a few matrix products per
        ``matvec`` and no materialization, and was fastest in every case we
        measured (Sylvester residual AX + XB − C: 1.3 s against 9.7 s for
        ``"sparse"`` at n = 60; ``notes/optimization.md`` §2).  Choose
        ``"sparse"`` only when SciPy needs the entries (``x_scale="jac"``) and
        ``"dense"`` for ``tr_solver="exact"`` on small problems.
    symmetric : bool or tuple of bool
        As for :func:`objective`.
    **options
        Passed to :func:`scipy.optimize.least_squares` (``method``, ``tr_solver``,
        ``ftol``, ``max_nfev``, ``bounds`` in x coordinates...).  A ``jac`` here
        overrides ours (e.g. ``jac="2-point"``).

    Returns
    -------
    scipy.optimize.OptimizeResult
        SciPy's result plus ``X``, the solution shaped like X0.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0], [0.0, 1.0]]); B = np.ones((3, 2))
    >>> sol = least_squares(lambda X, A, B: A @ X - B, np.zeros((2, 2)), A, B)
    >>> np.allclose(sol.X, np.linalg.lstsq(A, B, rcond=None)[0], atol=1e-6)
    True
    """
    owner = "kronvec.optimize.least_squares"
    method = options.get("method", "trf")
    if jac_format is None:
        jac_format = "dense" if method == "lm" else "operator"
    if method == "lm" and jac_format != "dense" and "jac" not in options:
        raise ValueError(
            f"{owner}: method='lm' (MINPACK) accepts only dense Jacobians; use "
            f"jac_format='dense' (got {jac_format!r}) or method='trf' with tr_solver='lsmr'")
    res_ = Residuals(r, _shape_of(X0, owner), args, jac_format=jac_format, symmetric=symmetric)
    x0 = _checked_start(res_.to_vector(X0), "least_squares")
    kwargs = dict(options)
    kwargs.setdefault("jac", res_.jac)
    if jac_format == "operator" and callable(kwargs["jac"]):
        kwargs.setdefault("tr_solver", "lsmr")
    result = scipy.optimize.least_squares(res_.fun, x0, **kwargs)
    result.X = res_.to_matrix(result.x)
    return result
