"""Compiled transformations (issue 17): record once per signature, replay.

The contract checked here:

* **bit for bit**: a compiled gradient equals the uncompiled one exactly —
  values and gradients — at a *different* point from the one it was compiled
  at (so a decision frozen at compile time would show), over the whole
  registry and over NumPy-level templates of every family;
* **sound or refused**: a function whose result depends on a decision taken on
  a traced value outside a recorded operation (a Python branch, an index
  computed from the values, ``int(x)``) is refused with a ``TypeError`` naming
  ``compile=True`` and the way out; decisions kronvec records (comparisons
  feeding ``np.where``, sorts, the symmetric reading of ``cholesky``/``eigh``,
  the sign of a determinant) are taken again by every replay;
* the edge policy is unchanged at replay (singular → ``LinAlgError``, NaN →
  ``ValueError``), inputs are never modified, results never alias them;
* the program cache is per function, bounded, and safe under threads.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kronvec
import kronvec.scipy.linalg as ksl
from kronvec._compiled.transform import PROGRAMS_PER_FUNCTION
from kronvec.ops import REGISTRY, Sample

from _helpers import FuzzConstants, run_in_threads


def _same(a, b):
    """Bit for bit: equal arrays of equal dtype (NaN where NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _outcome(function, *args):
    """(value, gradient) or the exception's type."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(*args)
    except Exception as error:  # noqa: BLE001 - the outcome is compared, not handled
        return type(error)


def _assert_same_outcome(compiled, uncompiled):
    if isinstance(uncompiled, type) or isinstance(compiled, type):
        assert compiled is uncompiled, (compiled, uncompiled)
        return
    assert _same(compiled[0], uncompiled[0]), (compiled[0], uncompiled[0])
    assert _same(compiled[1], uncompiled[1]), np.max(np.abs(compiled[1] - uncompiled[1]))


# ----------------------------------------------------------------- registry sweep
def _registry_cases():
    cases = []
    for name, op in sorted(REGISTRY.items()):
        first = op.samples(np.random.default_rng([7, 2]), 2)
        first = first if isinstance(first, Sample) else Sample(tuple(first), {})
        for position, arg in enumerate(first.args):
            if op.vjps.of(position) is None or np.asarray(arg).dtype.kind != "f":
                continue
            cases.append(pytest.param(op, position, id=f"{name}@{position}"))
    return cases


@pytest.mark.parametrize("op, position", _registry_cases())
def test_every_registered_operation_replays_bit_for_bit_at_a_new_point(op, position):
    samples = [op.samples(np.random.default_rng([7, 2, k]), 2) for k in range(2)]
    samples = [s if isinstance(s, Sample) else Sample(tuple(s), {}) for s in samples]
    args, params = samples[0].args, samples[0].params
    weights = np.random.default_rng(9).uniform(-1.0, 1.0, size=np.shape(op.impl(*args, **params)))

    def f(a):
        call = list(args)
        call[position] = a
        return np.sum(weights * op(*call, **params))

    compiled = kronvec.value_and_grad(f, compile=True)
    uncompiled = kronvec.value_and_grad(f)
    for sample in samples:  # compiled at the first point, replayed at the second
        point = np.array(sample.args[position], dtype=np.float64)
        if point.shape != np.shape(args[position]):
            continue
        _assert_same_outcome(_outcome(compiled, point), _outcome(uncompiled, point))


# ------------------------------------------------------------ NumPy-level templates
_W = np.random.default_rng(4).uniform(-1.0, 1.0, size=(3, 3))


def _assigned(X):
    Y = np.zeros_like(X)
    Y[0] = X[1]
    Y[1:] = X[:2] * 2.0
    return Y


#: Written as users write them; each must replay bit for bit, including the ones
#: whose derivative depends on a decision kronvec records.
_TEMPLATES = {
    "abs": lambda X: np.sum(np.abs(X) * _W),
    "maximum": lambda X: np.sum(np.maximum(X, 0.1) * _W),
    "clip": lambda X: np.sum(np.clip(X, -0.2, 0.3) * _W),
    "sort": lambda X: np.sum(np.sort(X, axis=0) * _W),
    "max": lambda X: np.max(X) + np.sum(np.max(X, axis=1)),
    "median": lambda X: np.median(X),
    "where(X > 0)": lambda X: np.sum(np.where(X > 0, X, 0.0) * _W),
    "where(X < Xᵀ)": lambda X: np.sum(np.where(X < X.T, X * X, -X)),
    "X∘(X > 0)": lambda X: np.sum(X * (X > 0) * _W),
    "sign(X)∘X, floor": lambda X: np.sum(np.sign(X) * X + np.floor(3.0 * X) * X),
    "select": lambda X: np.sum(np.select([X > 0.5, X < -0.5], [X, X ** 2], 0.0)),
    "slogdet sign·det": lambda X: (lambda s: s[0] * np.exp(s[1]))(np.linalg.slogdet(X)),
    "nuclear norm": lambda X: np.linalg.norm(X, "nuc"),
    "1-norm": lambda X: np.linalg.norm(X, 1),
    "eigh": lambda X: np.sum(np.linalg.eigh(X + X.T)[1] ** 2 * _W) + np.sum(np.linalg.eigh(X + X.T)[0]),
    "eigvalsh(X) (reads one triangle)": lambda X: np.sum(np.linalg.eigvalsh(X) ** 2),
    "svd": lambda X: np.sum(np.linalg.svd(X)[1]),
    "qr": lambda X: np.sum(np.linalg.qr(X)[1] * _W),
    "cholesky(XXᵀ + 3I)": lambda X: np.sum(np.linalg.cholesky(X @ X.T + 3.0 * np.eye(3)) * _W),
    "cholesky(X + 4I) (reads one triangle)": lambda X: np.sum(np.linalg.cholesky(X + 4.0 * np.eye(3)) * _W),
    "expm": lambda X: np.sum(ksl.expm(X) * _W),
    "sqrtm": lambda X: np.sum(ksl.sqrtm(X @ X.T + np.eye(3)) * _W),
    "einsum": lambda X: np.einsum("ij,jk,ki->", X, _W, X),
    "concatenate": lambda X: np.sum(np.concatenate([X, X ** 2], axis=1)[:, :4] * 2.0),
    "assignment": lambda X: np.sum(_assigned(X) ** 2),
    "logsumexp": lambda X: np.log(np.sum(np.exp(X - np.max(X)))) + np.max(X),
    "inv": lambda X: np.sum(np.linalg.inv(X + 3.0 * np.eye(3)) * _W),
    "det": lambda X: np.linalg.det(X),
    "pinv": lambda X: np.sum(np.linalg.pinv(X) * _W),
    "matrix_power(X, −2)": lambda X: np.sum(np.linalg.matrix_power(X, -2) * _W),
    "std": lambda X: np.std(X, axis=0).sum(),
    "cumsum": lambda X: np.sum(np.cumsum(X, axis=1) * _W),
    # (the zeros np.polyadd prepends take the shorter argument's dtype: a static fact, so it compiles)
    "polyadd": lambda X: np.sum(np.polyadd(X[0, :2], X[1]) ** 2) + np.sum(np.polysub(X[2], X[0, :1]) ** 2),
    "unwrap": lambda X: np.sum(np.unwrap(6.0 * X, axis=0) * _W),
    # (kronvec.scipy.linalg's check_finite is a recorded decision: these compile)
    "scipy.linalg.solve": lambda X: np.sum(ksl.solve(X + 3.0 * np.eye(3), _W) * _W),
    "scipy.linalg.cho_solve": lambda X: np.sum(ksl.cho_solve(ksl.cho_factor(X @ X.T + np.eye(3)), _W[0])),
    # (their rank counts at SciPy's cutoff are recorded decisions too)
    "scipy.linalg.pinv": lambda X: np.sum(ksl.pinv(X + 3.0 * np.eye(3)) * _W),
    "scipy.linalg.pinvh": lambda X: np.sum(ksl.pinvh(X @ X.T + np.eye(3)) * _W),
    "ln|S| + tr(S⁻¹C)": lambda X: np.linalg.slogdet(X @ X.T + np.eye(3))[1]
    + np.trace(np.linalg.solve(X @ X.T + np.eye(3), _W @ _W.T)),
}
# Every registered operation's own template (its `fuzz`: the operation in its domain).
_TEMPLATES.update({f"registry: {name}": (lambda fuzz: lambda X: np.sum(_weighted(fuzz(X, FuzzConstants(3)))))(op.fuzz)
                   for name, op in REGISTRY.items() if op.fuzz is not None})


def _weighted(Y):
    return Y * np.random.default_rng(5).uniform(-1.0, 1.0, size=np.shape(Y))


@pytest.mark.parametrize("name", sorted(_TEMPLATES))
def test_numpy_code_replays_bit_for_bit_where_its_decisions_change(name):
    f = _TEMPLATES[name]
    rng = np.random.default_rng(11)
    points = [rng.uniform(-1.0, 1.0, size=(3, 3)) for _ in range(3)]
    compiled = kronvec.value_and_grad(f, compile=True)
    uncompiled = kronvec.value_and_grad(f)
    for point in points:
        _assert_same_outcome(_outcome(compiled, point), _outcome(uncompiled, point))
    assert len(compiled.cache) <= 1


#: hvp(compile=True) records ∇f as NumPy code.  The second-order rules record the decisions
#: they take on values (ties, signs, zero and gap checks, the symmetric reading: kronvec.ops.
#: _support.decided; sort's permutation: sort.gather/sort.scatter), so every template compiles.
_HVP_REFUSED = ()


@pytest.mark.parametrize("mode", ["jacobian", "hvp"])
@pytest.mark.parametrize("name", sorted(_TEMPLATES))
def test_compiled_jacobians_and_hvps_equal_the_uncompiled_ones_bit_for_bit(name, mode):
    f = _TEMPLATES[name]
    rng = np.random.default_rng(12)
    points = [rng.uniform(-1.0, 1.0, size=(3, 3)) for _ in range(2)]
    direction = rng.uniform(-1.0, 1.0, size=(3, 3))
    transform = getattr(kronvec, mode)
    compiled, uncompiled = transform(f, compile=True), transform(f)

    def evaluate(function, point):
        if mode == "jacobian":
            return 0.0, function(point).toarray()
        return 0.0, function(point, direction)

    for point in points:
        got, expected = _outcome(evaluate, compiled, point), _outcome(evaluate, uncompiled, point)
        if mode == "hvp" and got is TypeError and not isinstance(expected, type):
            assert name in _HVP_REFUSED
            with pytest.raises(TypeError, match=r"kronvec\.hvp\(compile=True\) cannot compile"):
                evaluate(compiled, point)
            return
        _assert_same_outcome(got, expected)


def test_a_symmetric_and_a_nonsymmetric_input_take_their_own_branch_in_one_program():
    # cholesky reads one triangle: symmetric directions at a symmetric A, the lower
    # triangle otherwise — a decision on the values, taken again by each replay.
    f = lambda A: np.sum(np.linalg.cholesky(A) * _W)  # noqa: E731
    compiled, uncompiled = kronvec.grad(f, compile=True), kronvec.grad(f)
    S = _W @ _W.T + 3.0 * np.eye(3)
    N = S + np.triu(np.full((3, 3), 0.25), 1)
    for A in (S, N, S):
        assert _same(compiled(A), uncompiled(A))
    assert not _same(compiled(S), compiled(N))


# ----------------------------------------------------------------------- refusals
_REFUSED = {
    "an if on a value": lambda X: np.sum(X) if np.sum(X) > 0 else -np.sum(X),
    "int() of a value": lambda X: X[int(X[0, 0] > 0)].sum(),
    "a boolean mask": lambda X: np.sum(X[X > 0]),
    "an index from argmax": lambda X: X.ravel()[np.argmax(X)],
    "astype(int)": lambda X: np.sum(X * X.astype(int)),
    "np.linalg.norm(X, 2)": lambda X: np.linalg.norm(X, 2),
    "np.linalg.cond": lambda X: np.linalg.cond(X),
}


@pytest.mark.parametrize("name", sorted(_REFUSED))
def test_a_decision_outside_the_recording_refuses_to_compile(name):
    f = _REFUSED[name]
    X = np.array([[1.0, -2.0, 0.5], [0.3, 2.0, -1.0], [0.2, 0.1, 3.0]])
    with pytest.raises(TypeError, match=r"kronvec\.grad\(compile=True\) cannot compile this function") as raised:
        kronvec.grad(f, compile=True)(X)
    assert "without compile=True" in str(raised.value)
    kronvec.grad(f)(X)  # the uncompiled path still differentiates it


def _masked_write(X):
    Y = X.copy()
    Y[X < 0] = 0.0
    return np.sum(Y ** 2)


def _putmask(X):
    Y = X ** 2
    np.putmask(Y, X < 0, X ** 3)
    return np.sum(Y)


def _copyto_where(X):
    Y = np.zeros_like(X)
    np.copyto(Y, X ** 3, where=X > 0)
    return np.sum(Y)


#: A comparison is a traced boolean under compile=True (recorded, so each replay takes it
#: again); these consumers of one said "needs a plain mask, not a traced value" — a demand
#: the user's mask, plain without compile=True, seemed to meet — naming neither compile=True
#: nor the way out.
_TRACED_MASK_CONSUMERS = {
    "x[mask] = v": _masked_write,
    "x[rows, col] = v": lambda X: _row_write(X),
    "np.putmask": _putmask,
    "np.place": lambda X: (lambda Y: (np.place(Y, X < 0, [1.0]), np.sum(Y))[1])(X ** 2),
    "np.copyto(where=)": _copyto_where,
    "np.compress": lambda X: np.sum(np.compress(X[:, 0] > 0, X, axis=0)),
    "np.extract": lambda X: np.sum(np.extract(X > 0, X)),
    "np.sum(where=)": lambda X: np.sum(X ** 2, where=X > 0),
    "np.mean(where=)": lambda X: np.mean(X ** 2, where=X > 0),
    "np.max(where=)": lambda X: np.max(X ** 2, where=X > 0, initial=0.0),
    "np.delete": lambda X: np.sum(np.delete(X, X[:, 0] > 0, axis=0)),
    "np.put": lambda X: (lambda Y: (np.put(Y, X[0] > 0, 1.0), np.sum(Y))[1])(X.copy()),
    "np.choose": lambda X: np.sum(np.choose(X > 0, [X, X ** 2])),
}


def _row_write(X):
    Y = X.copy()
    Y[X[:, 0] < 0, 1] = 0.0
    return np.sum(Y ** 2)


@pytest.mark.parametrize("name", sorted(_TRACED_MASK_CONSUMERS))
def test_a_mask_computed_from_the_values_is_refused_naming_compile(name):
    f = _TRACED_MASK_CONSUMERS[name]
    X = np.array([[1.0, -2.0, 0.5], [-0.3, 2.0, -1.0], [0.2, 0.1, 3.0]])
    for transformation, args in (("grad", (X,)), ("hvp", (X, X))):
        with pytest.raises(TypeError, match=rf"kronvec\.{transformation}\(compile=True\) cannot compile") as raised:
            getattr(kronvec, transformation)(f, compile=True)(*args)
        message = str(raised.value)
        assert "without compile=True" in message and "np.where(x > 0, a, b)" in message
    G = kronvec.grad(f)(X)  # the uncompiled path differentiates it
    assert G.shape == X.shape and np.all(np.isfinite(G))


def test_the_way_out_it_names_compiles_and_replays_each_decision():
    # The refusal said "np.where with a recorded condition is not" an operation whose result
    # is recorded; np.where(x < 0, 0, x) is the rewrite of x[x < 0] = 0, and it compiles.
    rewritten = lambda X: np.sum(np.where(X < 0, 0.0, X) ** 2)  # noqa: E731
    compiled = kronvec.grad(rewritten, compile=True)
    for X in (np.ones((3, 3)), np.array([[1.0, -2.0, 0.5], [-0.3, 2.0, -1.0], [0.2, 0.1, 3.0]])):
        assert _same(compiled(X), kronvec.grad(_masked_write)(X))


# ------------------------------------------------------------- arguments and cache
def test_constant_float_arrays_are_inputs_of_the_program_and_static_arguments_key_it():
    def f(X, C, idx, scale):
        return scale * np.sum(np.linalg.solve(X, C)[idx] ** 2)

    compiled, uncompiled = kronvec.value_and_grad(f, compile=True), kronvec.value_and_grad(f)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 3)) + 3.0 * np.eye(3)
    idx = np.array([0, 2])
    for C, scale in ((rng.standard_normal((3, 2)), 2.0), (rng.standard_normal((3, 2)), 2.0),
                     (rng.standard_normal((3, 2)), 0.5)):
        _assert_same_outcome(compiled(X, C, idx, scale), uncompiled(X, C, idx, scale))
    assert len(compiled.cache) == 2  # C's values changed (an input); scale's did (static)
    _assert_same_outcome(compiled(X, C, np.array([1]), 0.5), uncompiled(X, C, np.array([1]), 0.5))
    assert len(compiled.cache) == 3
    with pytest.raises(TypeError, match="argument 3 is a list"):
        compiled(X, C, idx, [1.0])


def test_a_new_shape_records_again_and_the_cache_is_bounded_and_per_function():
    f = lambda X: np.sum(np.linalg.inv(X + 4.0 * np.eye(X.shape[0])) ** 2)  # noqa: E731
    compiled, other = kronvec.grad(f, compile=True), kronvec.grad(f, compile=True)
    for n in range(1, PROGRAMS_PER_FUNCTION + 4):
        X = np.random.default_rng(n).uniform(-1, 1, size=(n, n))
        assert _same(compiled(X), kronvec.grad(f)(X))
    assert len(compiled.cache) == PROGRAMS_PER_FUNCTION
    assert len(other.cache) == 0


def test_replays_keep_the_edge_policy_and_never_touch_or_alias_their_inputs():
    f = lambda X, C: np.linalg.slogdet(X)[1] + np.vdot(X, C)  # noqa: E731 (∇_X = X⁻ᵀ + C)
    compiled = kronvec.grad(f, compile=True)
    X, C = np.array([[2.0, 1.0], [1.0, 3.0]]), np.array([[1.0, 0.0], [0.5, 1.0]])
    compiled(X, C)
    X_before, C_before = X.copy(), C.copy()
    G = compiled(X, C)
    assert _same(X, X_before) and _same(C, C_before)
    assert not np.shares_memory(G, X) and not np.shares_memory(G, C)
    with pytest.raises(np.linalg.LinAlgError, match="np.linalg.slogdet"):
        compiled(np.array([[1.0, 2.0], [2.0, 4.0]]), C)
    with pytest.raises(ValueError, match="NaN or inf"):
        compiled(np.array([[np.nan, 0.0], [0.0, 1.0]]), C)
    with pytest.raises(ValueError, match="NaN or inf"):
        compiled(X, np.array([[np.inf, 0.0], [0.0, 1.0]]))
    with pytest.warns(kronvec.IllConditionedWarning):
        compiled(np.array([[1.0, 1.0], [1.0, 1.0 + 1e-15]]), C)


def test_four_threads_share_programs_and_nothing_else():
    f = lambda S, C: np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, C))  # noqa: E731
    compiled, uncompiled = kronvec.value_and_grad(f, compile=True), kronvec.value_and_grad(f)
    rng = np.random.default_rng(0)
    points = []
    for k in range(40):
        n = 3 + k % 2  # two signatures, compiled concurrently
        A = rng.standard_normal((n, n))
        points.append((A @ A.T + n * np.eye(n), rng.standard_normal((n, n))))
    expected = [uncompiled(S, C) for S, C in points]
    failures = []

    def work(offset):
        for _ in range(5):
            for k in range(offset, len(points), 4):
                value, gradient = compiled(*points[k])
                if not (_same(value, expected[k][0]) and _same(gradient, expected[k][1])):
                    failures.append(k)

    run_in_threads(work)
    assert failures == []
    assert len(compiled.cache) == 2


def test_the_program_is_straight_line_code_and_skips_an_unused_determinant_sign():
    f = lambda S: np.linalg.slogdet(S)[1]  # noqa: E731
    compiled = kronvec.grad(f, compile=True)
    compiled(np.eye(2) * 2.0)
    (entry,) = compiled.cache.values()
    source = entry.built.python.source
    assert source.startswith("def run(seed, v0):") and "for " not in source and "if " not in source
    assert source.count("impl") == 1  # ln|S| only: its sign, unused, is not replayed


def test_compiled_hvp_takes_each_replays_decisions_again():
    # Second-order rules decide on values (which side of a kink, a tie, the symmetric
    # reading of cholesky, whether a gap is too small): a compiled hvp records those
    # decisions, so a replay at a point where they differ gives the uncompiled numbers.
    V = np.arange(9.0).reshape(3, 3) / 9.0 - 0.4
    cases = {
        "relu²": (lambda X: np.sum(np.maximum(X, 0.0) ** 2 * _W),
                  [np.full((3, 3), 0.5), np.full((3, 3), -0.5), np.eye(3) - 0.5]),
        "|X|³": (lambda X: np.sum(np.abs(X) ** 3), [np.full((3, 3), 0.5), -np.full((3, 3), 0.5)]),
        "logsumexp, a tie then none": (lambda X: np.log(np.sum(np.exp(X - np.max(X)))) + np.max(X),
                                       [np.ones((3, 3)), np.arange(9.0).reshape(3, 3)]),
        "cholesky: symmetric, then not": (lambda A: np.sum(np.linalg.cholesky(A) * _W),
                                          [_W @ _W.T + 3 * np.eye(3), _W @ _W.T + 3 * np.eye(3) + np.triu(
                                              np.full((3, 3), 0.25), 1)]),
        "eigvalsh: distinct, then tied": (lambda A: np.sum(np.linalg.eigvalsh(A) ** 3),
                                          [np.diag([1.0, 2.0, 3.0]), np.diag([1.0, 1.0, 3.0])]),
        "std at a constant column": (lambda X: np.sum(np.std(X, axis=0)),
                                     [np.arange(9.0).reshape(3, 3) ** 2, np.ones((3, 3))]),
        "sort, two orders": (lambda X: np.sum(np.sort(X, axis=0) ** 3 * _W),
                             [np.arange(9.0).reshape(3, 3), -np.arange(9.0).reshape(3, 3)]),
    }
    for name, (f, points) in cases.items():
        compiled, uncompiled = kronvec.hvp(f, compile=True), kronvec.hvp(f)
        for X in points:
            got, want = _outcome(compiled, X, V), _outcome(uncompiled, X, V)
            assert not isinstance(got, type) or got is want, (name, got, want)
            if not isinstance(want, type):
                assert _same(got, want), (name, X)


def test_compiled_hvp_repeats_the_second_order_checks():
    # compiled at a regular point, replayed where the second derivative does not exist:
    # the same error as the uncompiled call, raised by the replay
    eigenvectors = kronvec.hvp(lambda A: np.sum(np.linalg.eigh(A)[1] ** 2 * _W), compile=True)
    eigenvectors(np.diag([1.0, 2.0, 3.0]), np.eye(3))
    with pytest.raises(np.linalg.LinAlgError, match="repeated eigenvalues"):
        eigenvectors(np.diag([1.0, 1.0, 3.0]), np.eye(3))
    Y = np.array([[0.0, 0.3], [2.0, -1.0]])
    hypot = kronvec.hvp(lambda X: np.sum(np.hypot(X, Y)), compile=True)
    hypot(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="no second derivative at x = y = 0"):
        hypot(np.array([[0.0, 1.5], [-0.5, 0.7]]), np.ones((2, 2)))


def test_a_refused_second_order_rule_is_named_not_blamed_on_the_users_code(monkeypatch):
    # (every rule records its decisions now: one is made to read a value, as a new rule might)
    from kronvec.ops import indexing

    def reading_vjp(g, ans, a, axis):
        return indexing._getitem_vjp(g, ans, a, key=indexing._sort_key(indexing.plain_value(a), axis))

    monkeypatch.setitem(indexing.sorted_values.vjps, 0, reading_vjp)
    with pytest.raises(TypeError, match=r"the second-order rule of sort\.replayed decides") as raised:
        kronvec.hvp(lambda X: np.sum(np.sort(X, axis=0) * _W), compile=True)(np.eye(3) + 0.1 * _W, np.eye(3))
    assert "Python code read" not in str(raised.value)


# ------------------------------------------------ found by an adversarial sweep (stop 36)
@pytest.mark.parametrize("f, first, second", [
    (lambda X, key: np.sum(X[np.array(key)] ** 2), (1, 0), (True, False)),  # a gather, then a mask
    (lambda X, s: np.sum(X * np.copysign(1.0, s)), np.float64(0.0), np.float64(-0.0)),
    (lambda X, t: np.sum(X * np.copysign(1.0, t[0])), (0.0,), (-0.0,)),
    (lambda X, t: np.sum(X * t[1]), (1, 2), (1, 2.5)),
], ids=["bools vs ints in a tuple", "-0.0 vs 0.0 NumPy scalar", "-0.0 vs 0.0 in a tuple", "int vs float in a tuple"])
def test_static_arguments_equal_under_python_but_distinct_to_the_function_compile_anew(f, first, second):
    # (True, False) == (1, 0) and -0.0 == 0.0 in Python: a program keyed by == replayed the
    # first recording for the second value — the key holds types and float bits now
    X = np.arange(1.0, 7.0).reshape(2, 3)
    compiled = kronvec.grad(f, compile=True)
    np.testing.assert_array_equal(compiled(X, first), kronvec.grad(f)(X, first))
    np.testing.assert_array_equal(compiled(X, second), kronvec.grad(f)(X, second))


@pytest.mark.parametrize("f", [
    lambda X: np.sum(X @ X), lambda X: np.sum(np.linalg.inv(X)), lambda X: np.sum(np.tanh(X) * X),
], ids=["sum(X @ X)", "sum(inv X)", "sum(tanh(X) X)"])
def test_a_compiled_float32_gradient_is_the_uncompiled_one_bit_for_bit(f):
    # the compiled replay seeded a float32 output with a float64 1.0: its gradient was computed
    # in float64 and rounded once, the uncompiled one in float32 (found by an adversarial sweep)
    rng = np.random.default_rng(36)
    for _ in range(5):
        X = (rng.standard_normal((3, 3)) + 3.0 * np.eye(3)).astype(np.float32)
        compiled = kronvec.value_and_grad(f, compile=True)(X)
        plain = kronvec.value_and_grad(f)(X)
        assert compiled[1].dtype == plain[1].dtype == np.float32
        np.testing.assert_array_equal(compiled[1], plain[1])
        assert compiled[0] == plain[0]


def test_an_argument_compared_by_identity_is_refused_and_a_frozen_dataclass_is_a_key():
    # a plain instance whose attribute changes would replay the first recording (found by an
    # adversarial sweep); functions and frozen dataclasses key by what they are
    import dataclasses

    X = np.arange(1.0, 7.0).reshape(2, 3)

    class Settings:
        scale = 1.0

    f = lambda X, s: np.sum(X * s.scale)  # noqa: E731
    with pytest.raises(TypeError, match="compares by identity, not by value"):
        kronvec.grad(f, compile=True)(X, Settings())

    @dataclasses.dataclass(frozen=True)
    class Frozen:
        scale: float

    compiled = kronvec.grad(f, compile=True)
    np.testing.assert_array_equal(compiled(X, Frozen(2.0)), np.full((2, 3), 2.0))
    np.testing.assert_array_equal(compiled(X, Frozen(3.0)), np.full((2, 3), 3.0))
    h = kronvec.grad(lambda X, g: np.sum(g(X)), compile=True)
    np.testing.assert_array_equal(h(X, np.sin), np.cos(X))


@pytest.mark.parametrize("f", [
    lambda x: np.where(x > 0.3, x * x, x * 0.5),
    lambda x: np.tril(np.where(x > 0.3, x * x, 0.5)) + 0.3 * np.sum(np.take(x * x, [2, 1, 1], axis=1)),
    lambda x: np.sort(x, axis=1) + np.sort(x, axis=0) @ np.array([0.393, 0.142, -1.143, 0.64]).reshape(4, 1),
    lambda x: np.std(np.rot90(x * x), axis=1, keepdims=True),
], ids=["where on a traced condition", "where, tril, take", "sort", "std of rot90"])
def test_a_compiled_jacobian_is_the_uncompiled_operator_bit_for_bit(f):
    # (random-program sweep) where and sort recorded for replay had Jacobians built densely from
    # their VJPs (n² × n² for an n × n where) and summed in another order: 1-4 ulps apart
    x = np.random.default_rng(0).standard_normal((3, 4))
    compiled = kronvec.jacobian(f, compile=True)
    for point in (x, 1.1 * x, -x):
        J, K = kronvec.jacobian(f)(point), compiled(point)
        assert "D " not in K.formula() and K.formula() == J.formula()
        np.testing.assert_array_equal(K.toarray(), J.toarray())
