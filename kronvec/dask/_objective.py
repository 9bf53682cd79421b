"""Separable objectives on Dask: one task per chunk, then a tree reduction.

``f(X) = Σₖ f(X, Dₖ)`` where the Dₖ are the chunks of the ``dask.array``
arguments along axis 0.  Differentiation is linear, so ``∇f = Σₖ ∇f(X, Dₖ)``
and ``H[V] = Σₖ Hₖ[V]``: each task runs kronvec's in-memory transformation
(:func:`kronvec.value_and_grad`, :func:`kronvec.hvp`, or a
:class:`kronvec.optimize.Objective` on the chunk) on one chunk, and partial
results are summed ``split_every`` at a time (a tree, as ``dask.array``'s own
reductions do), so no task holds more than one chunk and a few partials.

What travels per evaluation: the point (X, and V for an hvp) -- scattered to
every worker once (``Client.scatter(..., broadcast=True)``) when a
``dask.distributed.Client`` is the active scheduler, one graph key otherwise
-- and the small tasks.  The data do not: :func:`objective` persists them once
(``dask.persist``), and each chunk task runs where its chunk lives.  The
function f and the constants are shipped once per call of
:func:`value_and_grad`/:func:`hvp`, once per objective for :func:`objective`.
"""

from __future__ import annotations

import functools
import numbers
import uuid

import dask
import dask.array as da
import numpy as np
from scipy.sparse.linalg import LinearOperator

from .. import api as _api
from .. import optimize as _kvo

__all__ = ["value_and_grad", "hvp", "objective", "Objective"]

_SPLIT_EVERY = 8


# ----------------------------------------------------------------- scheduler
def _active_client():
    """The ``dask.distributed.Client`` that ``dask.compute`` uses right now, or None."""
    try:
        from distributed import Client
    except ImportError:  # dask without distributed: threads or processes
        return None
    scheduler = dask.base.get_scheduler()
    client = getattr(scheduler, "__self__", None)
    return client if isinstance(client, Client) else None


class _Pack:
    """Values every chunk task reads, shipped as one object (never split by scatter)."""

    __slots__ = ("values",)

    def __init__(self, values):
        self.values = tuple(values)


#: Points (X, V) up to this size travel inside the graph; larger ones are
#: scattered to every worker first.  Scattering costs a round trip to the
#: workers (tens of ms), the graph route one small worker-to-worker copy.
_SCATTER_BYTES = 1 << 20


def _nbytes(values):
    return sum(getattr(v, "nbytes", 0) for v in values)


def _broadcast(values, client, name, scatter=True):
    """One handle to `values` that all chunk tasks depend on.

    With a Client and `scatter`: scattered to every worker now (a Future), so
    no task waits for a transfer.  Otherwise one key in the graph (embedded
    once, not once per task).
    """
    pack = _Pack(values)
    if client is not None and scatter:
        return client.scatter(pack, broadcast=True, hash=False)
    return dask.delayed(pack, name=name)


def _add_note(err, text):
    if hasattr(err, "add_note"):  # Python >= 3.11
        err.add_note(text)


# ------------------------------------------------------------- chunk tasks
class _Job:
    """What one chunk task computes, given the point and the chunk's arguments.

    ``template`` lists, for each argument f receives after the point, where it
    comes from: ``("p", i)`` the point, ``("c", i)`` a constant, ``("d", i)``
    the chunk of the i-th dask array.
    """

    def __init__(self, kind, f, template, argnums=None, extra=None):
        self.kind, self.f, self.template = kind, f, tuple(template)
        self.argnums, self.extra = argnums, extra

    def arguments(self, point, consts, blocks):
        sources = {"p": point, "c": consts, "d": blocks}
        return [sources[where][i] for where, i in self.template]

    def run(self, point, consts, blocks):
        args = self.arguments(point, consts, blocks)
        if self.kind == "value_and_grad":
            value, gradients = _api.value_and_grad(self.f, self.argnums)(*args)
            single = isinstance(self.argnums, numbers.Integral)
            return np.float64(value), ((gradients,) if single else tuple(gradients))
        if self.kind == "hvp":
            return (_api.hvp(self.f, self.argnums)(*args),)
        # "objective": an in-memory kronvec.optimize.Objective on this chunk
        shape, symmetric, method = self.extra
        chunk = _kvo.Objective(self.f, shape, args, symmetric=symmetric, hessp_mode="hvp")
        return getattr(chunk, method)(*point)


def _bundle(*blocks):
    """One chunk's blocks of every data array, as one persisted value (so they live together)."""
    return blocks


def _chunk_task(index, point, shared, *blocks):
    job, consts = shared.values
    if len(blocks) == 1 and isinstance(blocks[0], tuple):  # a persisted bundle
        blocks = blocks[0]
    try:
        return job.run(point.values, consts, blocks)
    except Exception as err:
        rows = blocks[0].shape[0] if blocks and hasattr(blocks[0], "shape") else "?"
        _add_note(err, f"kronvec.dask: in chunk {index} ({rows} rows) of the data")
        raise


def _add(*parts):
    """Σ parts for a float, an array, or a tuple of them; a new array, owned."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_add(*column) for column in zip(*parts))
    total = np.array(first, dtype=np.result_type(*parts), copy=True)
    for part in parts[1:]:
        total += part
    return total


def _tree_sum(parts, name, split_every):
    level = 0
    while len(parts) > 1:
        parts = [
            dask.delayed(_add, pure=False)(*parts[i:i + split_every], dask_key_name=(f"{name}-{level}", j))
            for j, i in enumerate(range(0, len(parts), split_every))
        ]
        level += 1
    return parts[0]


# ------------------------------------------------------------------- data
def _check_split_every(split_every, owner):
    if not isinstance(split_every, numbers.Integral) or isinstance(split_every, bool) or split_every < 2:
        raise ValueError(f"{owner}: split_every must be an int >= 2, got {split_every!r}")
    return int(split_every)


def _split_arguments(args, fixed, owner):
    """``(template, consts, arrays)``: dask arrays become data, the rest constants.

    `fixed` maps positions to point indices (the unknowns, the direction).
    The dask arrays are rechunked to one chunk along every axis but the
    first, and to the first array's chunks along axis 0.
    """
    template, consts, arrays = [], [], []
    for position, value in enumerate(args):
        if position in fixed:
            if dask.is_dask_collection(value):
                raise TypeError(
                    f"{owner}: argument {position} is differentiated (or the direction), so it must be a "
                    f"NumPy array broadcast to every chunk; got a {type(value).__name__}. The data are "
                    "the dask.array arguments after it")
            template.append(("p", fixed[position]))
        elif isinstance(value, da.Array):
            template.append(("d", len(arrays)))
            arrays.append((position, value))
        elif dask.is_dask_collection(value):
            raise TypeError(
                f"{owner}: argument {position} is a {type(value).__name__}; the data must be "
                "dask.array.Array objects chunked along axis 0 (use .to_dask_array(lengths=True))")
        else:
            template.append(("c", len(consts)))
            consts.append(value)
    if not arrays:
        raise ValueError(
            f"{owner}: none of the arguments is a dask.array, so there is nothing to distribute; "
            "pass the data as a dask.array chunked along axis 0 (or use kronvec itself for in-memory data)")
    return template, consts, _aligned(arrays, owner)


def _aligned(arrays, owner):
    position, first = arrays[0]
    if first.ndim == 0:
        raise ValueError(f"{owner}: argument {position} is a 0-d dask.array; the data are chunked along axis 0")
    if any(np.isnan(c) for c in first.chunks[0]):
        raise ValueError(f"{owner}: argument {position} has unknown chunk sizes; call "
                         ".compute_chunk_sizes() on it first")
    rows = first.chunks[0]
    out = []
    for position, a in arrays:
        if a.ndim == 0 or a.shape[0] != first.shape[0]:
            raise ValueError(
                f"{owner}: every dask.array argument is chunked along its first axis, so they need the "
                f"same length there; argument {arrays[0][0]} has shape {first.shape}, argument "
                f"{position} has shape {a.shape}")
        wanted = (rows,) + tuple((n,) for n in a.shape[1:])
        if a.chunks != wanted:
            a = a.rechunk(wanted)  # one block per chunk of rows: one task per chunk
        out.append(a)
    return out


def _blocks(arrays):
    """Per chunk of rows, the tuple of its blocks (one per dask array), as Delayed."""
    columns = [a.to_delayed().reshape(-1) for a in arrays]
    return list(zip(*columns))


def _persisted_bundles(arrays):
    """Persist the data once, each chunk's blocks of all arrays as one value.

    Persisting the arrays one by one would let the scheduler put chunk k of
    one array and chunk k of another on different workers, and every
    evaluation would move one of them; a bundle keeps them on one worker, and
    the chunk task runs there.
    """
    token = uuid.uuid4().hex
    client = _active_client()
    workers = sorted(client.scheduler_info().get("workers", ())) if client is not None else []
    bundles = []
    for k, chunk in enumerate(_blocks(arrays)):
        bundle = functools.partial(dask.delayed(_bundle, pure=False), *chunk,
                                   dask_key_name=(f"kronvec-data-{token}", k))
        if workers:
            # Round robin over the workers: the scheduler's own placement of freshly
            # generated data can be uneven (measured 9 and 11 of 20 chunks), and the
            # busiest worker sets the time of every evaluation.  Loose: a chunk whose
            # worker is gone lands elsewhere.
            with dask.annotate(workers=[workers[k % len(workers)]], allow_other_workers=True):
                bundles.append(bundle())
        else:
            bundles.append(bundle())
    return [(bundle,) for bundle in dask.persist(*bundles)]


def _holders(client, blocks):
    """For persisted bundles on a cluster: the workers holding each chunk, or None."""
    if client is None or not blocks or len(blocks[0]) != 1:
        return None
    from distributed import futures_of

    try:
        futures = [futures_of(chunk[0])[0] for chunk in blocks]
        who_has = client.who_has(futures)
    except Exception:  # noqa: BLE001 - placement is an optimization: never fail an evaluation for it
        return None
    return [list(who_has.get(future.key, ())) for future in futures]


def _evaluate(kind, blocks, shared, point_values, split_every, client, holders=None):
    token = uuid.uuid4().hex
    point = _broadcast(point_values, client, f"kronvec-point-{token}",
                       scatter=_nbytes(point_values) > _SCATTER_BYTES)
    name = f"kronvec-{kind}-{token}"
    parts = []
    for k, chunk in enumerate(blocks):
        task = functools.partial(dask.delayed(_chunk_task, pure=False), k, point, shared, *chunk,
                                 dask_key_name=(name, k))
        if holders and holders[k]:
            # Run each chunk where its data live.  Dask's placement weighs a
            # busy worker's queue against moving the chunk (at its default
            # bandwidth estimate, a move often looks cheaper), so without this
            # every evaluation would ship some chunks; loose, so a chunk whose
            # worker died is recomputed and run elsewhere.
            with dask.annotate(workers=holders[k], allow_other_workers=True):
                parts.append(task())
        else:
            parts.append(task())
    (result,) = dask.compute(_tree_sum(parts, f"kronvec-sum-{token}", split_every))
    return result


def _one_call(kind, f, args, fixed, point_values, argnums, split_every, owner):
    template, consts, arrays = _split_arguments(args, fixed, owner)
    client = _active_client()
    token = uuid.uuid4().hex
    # One call: f and the constants travel in the graph unless large (a scatter costs a round trip).
    shared = _broadcast((_Job(kind, f, template, argnums), tuple(consts)), client, f"kronvec-shared-{token}",
                        scatter=_nbytes(consts) > _SCATTER_BYTES)
    return _evaluate(kind, _blocks(arrays), shared, point_values, split_every, client)


# --------------------------------------------------------------- public API
def value_and_grad(f, argnums=0, *, split_every=_SPLIT_EVERY):
    """Value and gradient of ``Σₖ f(X, Dₖ)`` over the chunks Dₖ of dask.array data.

    Parameters
    ----------
    f : callable
        The per-chunk term ``f(X, chunk, *consts)``, plain NumPy returning a
        scalar, as for :func:`kronvec.value_and_grad`.  It must be picklable
        by cloudpickle (lambdas and closures are) to reach worker processes.
    argnums : int or tuple of int
        The differentiated argument(s): NumPy arrays, broadcast to every chunk.
    split_every : int, default 8
        Partial results summed per reduction task.

    Returns
    -------
    callable
        ``value_and_grad(f)(*args)`` → ``(value, gradient)``: a NumPy float and
        an ndarray shaped like ``args[argnums]`` (a tuple for tuple argnums),
        computed on the active Dask scheduler.  Every ``dask.array.Array``
        argument is data, split along axis 0 into the first one's chunks (one
        task per chunk); every other argument is a constant shipped whole.
        Persist the data once (``data = data.persist()``) when calling this
        repeatedly, or use :func:`objective`, which does.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> Y = da.from_array(np.arange(12.).reshape(6, 2), chunks=(2, 2))   # 3 chunks of rows
    >>> f = lambda w, Y: 0.5 * np.sum((Y @ w - 1.0) ** 2)
    >>> value, g = value_and_grad(f)(np.zeros(2), Y)
    >>> float(value), g
    (3.0, array([-30., -36.]))
    """
    owner = "kronvec.dask.value_and_grad"
    split_every = _check_split_every(split_every, owner)

    @functools.wraps(f)
    def transformed(*args):
        single, numbers_ = _api._normalize_argnums(argnums, len(args), "dask.value_and_grad")
        fixed = {position: i for i, position in enumerate(numbers_)}
        point = [args[k] for k in numbers_]
        value, gradients = _one_call("value_and_grad", f, args, fixed, point, argnums, split_every, owner)
        value = np.float64(value)
        return value, (gradients[0] if single else tuple(gradients))

    return transformed


def hvp(f, argnums=0, *, split_every=_SPLIT_EVERY):
    """Hessian-vector product of ``Σₖ f(X, Dₖ)``, as :func:`kronvec.hvp` does in memory.

    ``hvp(f)(*args, V)``: the point's arguments as f takes them (the data
    among them as dask.arrays), then the direction V, shaped like
    ``args[argnums]``, last.  Returns ``H(X)[V]`` shaped like X, an ndarray.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> Y = da.from_array(np.arange(12.).reshape(6, 2), chunks=(2, 2))
    >>> f = lambda w, Y: 0.5 * np.sum((Y @ w - 1.0) ** 2)            # H = YᵀY
    >>> hvp(f)(np.zeros(2), Y, np.array([1., 0.]))
    array([220., 250.])
    """
    owner = "kronvec.dask.hvp"
    split_every = _check_split_every(split_every, owner)
    if not isinstance(argnums, numbers.Integral) or isinstance(argnums, bool):
        raise TypeError(f"{owner}: argnums must be a single int")

    @functools.wraps(f)
    def transformed(*args):
        if len(args) < 2:
            raise TypeError(f"{owner}(f)(*args, V): pass the point's arguments, then the direction V last")
        *point_args, direction = args
        k = argnums % len(point_args)
        fixed = {k: 0, len(point_args): 1}
        (product,) = _one_call("hvp", f, args, fixed, (point_args[k], direction), k, split_every, owner)
        return product

    return transformed


class Objective(_kvo._Base):
    """A separable ``Σₖ f(X, Dₖ, *consts)`` as the callables of :func:`scipy.optimize.minimize`.

    Built by :func:`objective`; the same contract as
    :class:`kronvec.optimize.Objective` (x = vec X column-major, vech X for a
    symmetric unknown; ``fun`` and ``jac`` at the same x share one
    evaluation), with every evaluation distributed over the chunks of the
    data.  ``hessp`` is always the distributed Hessian-vector product (one
    map-reduce per product); ``hess(x)`` is a ``LinearOperator`` applying it,
    ``hess(x, dense=True)`` sums the chunks' dense Hessians (small unknowns).

    Attributes
    ----------
    data : tuple
        With ``persist=True``, the persisted chunks (one ``Delayed`` per
        chunk, holding that chunk's block of every data array; pass them to
        ``distributed.wait`` to wait for the data to be loaded); otherwise
        the data arrays, rechunked along axis 0.
    n_evaluations, n_values, n_hessians, n_hessp : int
        Distributed evaluations of value and gradient, values only, dense
        Hessians and Hessian-vector products.
    """

    _kind = "kronvec.dask.objective"

    def __init__(self, f, shape, args=(), symmetric=False, persist=True, split_every=_SPLIT_EVERY):
        if not callable(f):
            raise TypeError(f"{self._kind}: f must be callable, got {type(f).__name__}")
        self.f, self.split_every = f, _check_split_every(split_every, self._kind)
        self._layout = _kvo._Layout(shape, symmetric, self._kind)
        self._symmetric_arg = symmetric
        self._template, self._consts, arrays = _split_arguments(tuple(args), {}, self._kind)
        # Persisted once: every evaluation reads these where they live.
        self._persisted = bool(persist)
        self._persisted_on = _active_client() if persist else None
        self._chunks = _persisted_bundles(arrays) if persist else _blocks(arrays)
        self.data = tuple(chunk[0] for chunk in self._chunks) if persist else tuple(arrays)
        self._shared = {}  # method → (client, handle): f and the constants, shipped once
        self._holders = None  # (client, workers, per-chunk holders) for placement
        self._last = None  # (x, (value, gradient))
        self.n_evaluations = self.n_values = self.n_hessians = self.n_hessp = 0

    def __repr__(self):
        return (f"<kronvec.dask.Objective of {getattr(self.f, '__name__', 'f')}: "
                f"{self._layout.describe()}; {self.size} unknowns, {self.convention}; "
                f"{len(self._chunks)} chunks>")

    @property
    def n_chunks(self):
        """Tasks per evaluation before the reduction: one per chunk of the data."""
        return len(self._chunks)

    def _run(self, method, *point):
        client = _active_client()
        if self._persisted and client is not self._persisted_on:
            where = "no dask.distributed Client" if self._persisted_on is None else repr(self._persisted_on)
            raise RuntimeError(
                f"{self._kind}: the data were persisted with {where} active, but now "
                f"{'no Client' if client is None else repr(client)} is the scheduler; evaluate under the "
                "scheduler the objective was built under (or build it again)")
        cached = self._shared.get(method)
        if cached is None or cached[0] is not client:
            job = _Job("objective", self.f, self._template,
                       extra=(self._layout.shape, self._symmetric_arg, method))
            # scattered (with a Client) once, so later evaluations' graphs only name it
            handle = _broadcast((job, tuple(self._consts)), client, f"kronvec-shared-{uuid.uuid4().hex}")
            cached = self._shared[method] = (client, handle)
        holders = self._placement(client) if self._persisted else None
        return _evaluate(method, self._chunks, cached[1], point, self.split_every, client, holders)

    def _placement(self, client):
        """Where each persisted chunk lives, asked again when the workers change."""
        if client is None:
            return None
        workers = frozenset(client.scheduler_info().get("workers", ()))  # cached by the client: no RPC
        cached = self._holders
        if cached is None or cached[0] is not client or cached[1] != workers or not all(cached[2]):
            holders = _holders(client, self._chunks)
            if holders is None:
                return None
            self._holders = cached = (client, workers, holders)
        return cached[2]

    def _evaluate(self, x):
        x = self._checked_point(x)
        cached = self._last  # (x, (value, gradient)), replaced whole: see kronvec.optimize.Objective
        if cached is not None and np.array_equal(x, cached[0]):
            return cached[1]
        self.n_evaluations += 1
        value, g = self._run("value_and_grad", x)
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(
                f"{self._kind}: f summed over the chunks is the non-finite {value} at "
                f"{_kvo._fmt_x(x)} ({self._layout.describe()}), evaluation #{self.n_evaluations}")
        g = np.ascontiguousarray(g, dtype=np.float64)
        if not np.isfinite(g).all():
            raise ValueError(
                f"{self._kind}: the summed gradient has {int((~np.isfinite(g)).sum())} non-finite entries at "
                f"{_kvo._fmt_x(x)} ({self._layout.describe()}), evaluation #{self.n_evaluations}")
        self._last = (x.copy(), (value, g))
        return value, g

    def fun(self, x):
        """Σ f at x, a Python float (the gradient is kept for :meth:`jac`)."""
        return self._evaluate(x)[0]

    def jac(self, x):
        """The gradient in x coordinates, a float64 1-D array (shares :meth:`fun`'s evaluation)."""
        return self._evaluate(x)[1].copy()

    def value_and_grad(self, x):
        """``(fun(x), jac(x))`` from one evaluation — for ``minimize(..., jac=True)``."""
        value, g = self._evaluate(x)
        return value, g.copy()

    def value(self, x):
        """Σ f at x without differentiating (each chunk runs plain f)."""
        x = self._checked_point(x)
        cached = self._last
        if cached is not None and np.array_equal(x, cached[0]):
            return cached[1][0]
        self.n_values += 1
        return float(self._run("value", x))

    def hessp(self, x, p):
        """The Hessian at x applied to p: one distributed forward-over-reverse pass."""
        x = self._checked_point(x)
        p = self._layout.check_x(p, what="p")
        self.n_hessp += 1
        return np.ascontiguousarray(self._run("hessp", x, p), dtype=np.float64)

    def hess(self, x, dense=False):
        """The Hessian in x coordinates.

        ``dense=False``: a ``scipy.sparse.linalg.LinearOperator`` whose
        matvec is :meth:`hessp` at x (one map-reduce per product).
        ``dense=True``: the float64 matrix, the sum of the chunks' dense
        Hessians (for ``trust-exact``/``dogleg`` on small unknowns).
        """
        x = self._checked_point(x)
        if dense:
            self.n_hessians += 1
            return np.ascontiguousarray(self._run("hess_dense", x), dtype=np.float64)
        x = x.copy()
        return LinearOperator((self.size, self.size), matvec=lambda p: self.hessp(x, np.ravel(p)),
                              rmatvec=lambda p: self.hessp(x, np.ravel(p)), dtype=np.float64)

    def hess_dense(self, x):
        """``hess(x, dense=True)``, as a callable for ``trust-exact``/``dogleg``."""
        return self.hess(x, dense=True)


def objective(f, shape, *args, symmetric=False, persist=True, split_every=_SPLIT_EVERY):
    """Wrap a separable ``Σₖ f(X, Dₖ, *consts)`` for :func:`scipy.optimize.minimize`.

    As :func:`kronvec.optimize.objective`, but every ``dask.array.Array``
    among `args` is data, chunked along axis 0: value, gradient and
    Hessian-vector products are sums over chunks computed on the active Dask
    scheduler (a ``dask.distributed.Client`` if one is the default).

    Parameters
    ----------
    f : callable
        The per-chunk term ``f(X, chunk, *consts)`` (``f(X0, X1, ..., *args)``
        for several unknowns), plain NumPy returning a scalar.
    shape : tuple of int, or tuple of tuples
        The unknown's shape, as for :func:`kronvec.optimize.objective`.
    *args
        The data (dask.arrays of equal length along axis 0) and constants.
    symmetric : bool or tuple of bool, default False
        Optimize over symmetric X, x = vech(X).
    persist : bool, default True
        Persist the data now, once, on the active scheduler (in the cluster's
        memory with a Client), so evaluations read them where they live
        instead of recomputing or re-sending them.  ``False`` re-runs the
        data's graph at every evaluation (memory per task bounded by one
        chunk; for data generated on the fly).
    split_every : int, default 8
        Partial results summed per reduction task.

    Returns
    -------
    Objective

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from scipy.optimize import minimize
    >>> rng = np.random.default_rng(0)
    >>> Y = da.from_array(rng.standard_normal((400, 2)) @ [[2., 0.], [1., 1.]], chunks=(100, 2))
    >>> def nll(Sigma, Y):           # Gaussian negative log-likelihood of the rows of one chunk
    ...     return 0.5 * (len(Y) * np.linalg.slogdet(Sigma)[1] + np.trace(np.linalg.solve(Sigma, Y.T @ Y)))
    >>> obj = objective(nll, (2, 2), Y, symmetric=True)
    >>> res = minimize(obj.fun, obj.to_vector(np.eye(2)), jac=obj.jac, hessp=obj.hessp, method="trust-krylov")
    >>> S = (Y.T @ Y).compute() / 400
    >>> np.allclose(obj.to_matrix(res.x), S, atol=1e-6)
    True
    """
    return Objective(f, shape, args, symmetric=symmetric, persist=persist, split_every=split_every)
