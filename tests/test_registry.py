"""The registry sweep: every operation in ``kronvec.ops.REGISTRY``, every mode.

For each registered operation, each of its samples (``samples(rng, n)`` at two
sizes and every named edge case) and each argument that has a VJP:

* the structured Jacobian against central finite differences of the value,
  and against its own dense forms (``toarray`` = ``matmat(I)`` = ``tosparse``,
  ``J.T`` = ``Jᵀ``), with the dot test ``⟨Jx, y⟩ = ⟨x, Jᵀy⟩``;
* the VJP (through ``kronvec.vjp``) against ``Jᵀ``, the JVP (``kronvec.jvp``)
  against ``J``, and ``kronvec.jacobian`` against the operation's own rule;
* second order: ``kronvec.hessian`` of ⟨W, op⟩ against finite differences of
  its gradient, symmetric, and ``kronvec.hvp`` against the Hessian;
* third order: the gradient of ⟨U, hvp⟩ (a JVP inside a gradient) against
  finite differences of hvp.

Nothing here names an operation: a new registry entry is swept with no edit.

Tolerances: central differences with h = 1e-6·max(1, |x|) err by
O(h²)·|f'''| + O(eps·|f|/h) ≈ 1e-10 relative for the O(1), well-conditioned
samples; FD_RTOL = 1e-6 leaves a wide margin while a wrong formula errs by
O(1).  Second differences of a gradient err alike (the gradient is exact);
third order differences hvp, exact too.  Structured-vs-dense comparisons
differ by a few ulps per entry (1e-12).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kronvec
from kronvec.ops import REGISTRY, Primitive, Sample
from kronvec.ops._registry import register

from _helpers import assert_scaled_close as _close
from _helpers import central_difference_jacobian, dense_of, dot_test

FD_RTOL = 1e-6
EXACT_RTOL = 1e-12


def _as_sample(sample):
    return sample if isinstance(sample, Sample) else Sample(tuple(sample), {})


def _cases():
    cases = []
    for name, op in sorted(REGISTRY.items()):
        samples = [(f"n={n}", op.samples(np.random.default_rng([7, n]), n)) for n in (2, 3)]
        samples += [(edge, make(np.random.default_rng(5))) for edge, make in op.edge_cases.items()]
        for label, sample in samples:
            sample = _as_sample(sample)
            for position, arg in enumerate(sample.args):
                if op.vjps.of(position) is None or np.asarray(arg).dtype.kind != "f":
                    continue
                cases.append(pytest.param(op, sample, position, id=f"{name}[{label}]@{position}"))
    return cases


CASES = _cases()


def _function_of(op, sample, position):
    """The operation as a function of argument `position` alone (others fixed)."""
    args, params = sample.args, sample.params

    def f(a):
        call = list(args)
        call[position] = a
        return op(*call, **params)

    return f


def _plain(op, sample, position):
    f = _function_of(op, sample, position)
    return lambda a: np.asarray(f(np.asarray(a)), dtype=np.float64)


def _weights(shape, seed):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape)


def _point(sample, position):
    return np.array(sample.args[position], dtype=np.float64)


def test_the_registry_is_not_empty_and_every_entry_is_complete():
    assert len(REGISTRY) >= 20
    for name, op in REGISTRY.items():
        assert op.name == name and op.formula and op.reference and callable(op.samples), name
        assert op.param_names, f"{name}: no argument names for formulas"


DECIDING = [pytest.param(op, id=name) for name, op in sorted(REGISTRY.items()) if op.decisions]


def test_some_operation_declares_a_decision():
    assert DECIDING, "np.sort's recording decides its permutation on the values"  # (so the next test runs)


@pytest.mark.parametrize("op", DECIDING)
def test_every_declared_decision_gives_the_parameter_again_from_the_arguments(op):
    # Primitive.decisions: decide(*args, **other params) gives the decided parameter again
    # from the values — checked on every sample (each a recording's arguments and parameters)
    for label, make in [(f"n={n}", lambda rng, n=n: op.samples(rng, n)) for n in (2, 3)] + list(op.edge_cases.items()):
        sample = _as_sample(make(np.random.default_rng(11)))
        for name, decide in op.decisions.items():
            others = {key: value for key, value in sample.params.items() if key != name}
            decided = decide(*sample.args, **others)
            assert type(decided) is type(sample.params[name]), (label, name)
            np.testing.assert_array_equal(decided, sample.params[name], err_msg=f"{op.name} {label}: {name}")


@pytest.mark.parametrize("missing", ["formula", "reference", "samples"])
def test_an_operation_without_formula_reference_or_samples_is_refused(missing):
    fields = dict(formula="I", reference="linearity", samples=lambda rng, n: (np.ones(n),))
    fields[missing] = None
    op = Primitive(lambda x: x, name="incomplete", vjps={0: lambda g, ans, x: g}, **fields)
    with pytest.raises(ValueError, match=f"without {missing}"):
        register(op)
    assert "incomplete" not in REGISTRY


def test_an_operation_registered_twice_is_refused():
    with pytest.raises(ValueError, match="twice"):
        register(REGISTRY["linalg.inv"])


@pytest.mark.parametrize("op, sample, position", CASES)
def test_structured_jacobian_matches_finite_differences_and_its_dense_forms(op, sample, position):
    X = _point(sample, position)
    f = _plain(op, sample, position)
    expected = central_difference_jacobian(f, (X,))
    J = kronvec.jacobian(_function_of(op, sample, position))(X)
    dense = J.toarray()
    _close(dense, expected, FD_RTOL, f"{op.name}: jacobian vs finite differences")
    _close(dense_of(J), dense, EXACT_RTOL, f"{op.name}: matmat(I) vs toarray")
    _close(J.tosparse().toarray(), dense, EXACT_RTOL, f"{op.name}: tosparse vs toarray")
    _close(J.T.toarray(), dense.T, EXACT_RTOL, f"{op.name}: J.T vs toarray.T")
    dot_test(J, np.random.default_rng(3))


@pytest.mark.parametrize("op, sample, position", CASES)
def test_vjp_jvp_and_the_operations_own_jacobian_agree(op, sample, position):
    X = _point(sample, position)
    f = _function_of(op, sample, position)
    J = central_difference_jacobian(_plain(op, sample, position), (X,))
    out, pullback = kronvec.vjp(f, X)
    U = _weights(np.shape(out), 1)
    (cotangent,) = pullback(U)
    _close(kronvec.vec(cotangent), J.T @ kronvec.vec(U), FD_RTOL, f"{op.name}: vjp vs Jᵀ")
    V = _weights(X.shape, 2)
    _, tangent = kronvec.jvp(f, (X,), (V,))
    _close(kronvec.vec(tangent), J @ kronvec.vec(V), FD_RTOL, f"{op.name}: jvp vs J")
    builder = op.jacobians.of(position)
    if builder is not None:  # the rule itself, at plain values, as the registry states it
        args = [np.asarray(a) for a in sample.args]
        ans = op.impl(*args, **sample.params)
        own = builder(ans, *args, names=[None] * len(args), **sample.params)
        _close(own.toarray(), J, FD_RTOL, f"{op.name}: registered Jacobian vs finite differences")


def _scalarized(op, sample, position):
    f = _function_of(op, sample, position)
    W = _weights(np.shape(op.impl(*sample.args, **sample.params)), 9)
    return lambda a: np.sum(W * f(a))


def _loud_beyond(sample, order):
    """At a point whose derivatives stop at ``sample.max_order``, the next order is
    the documented error, never a wrong number."""
    if sample.max_order >= order:
        return None
    return pytest.raises((np.linalg.LinAlgError, ValueError))


@pytest.mark.parametrize("op, sample, position", CASES)
def test_gradient_hessian_and_hvp_match_finite_differences(op, sample, position):
    X = _point(sample, position)
    s = _scalarized(op, sample, position)
    G = kronvec.grad(s)(X)
    _close(kronvec.vec(G), central_difference_jacobian(s, (X,))[0], FD_RTOL, f"{op.name}: grad")
    loud = _loud_beyond(sample, 2)
    if loud is not None:
        with loud:
            kronvec.hessian(s)(X)
        return
    H_fd = central_difference_jacobian(kronvec.grad(s), (X,))
    H = kronvec.hessian(s)(X).toarray()
    _close(H, H_fd, FD_RTOL, f"{op.name}: hessian vs finite differences of grad")
    _close(H, H.T, 1e-10, f"{op.name}: hessian symmetry")
    V = _weights(X.shape, 4)
    _close(kronvec.vec(kronvec.hvp(s)(X, V)), H @ kronvec.vec(V), EXACT_RTOL * 1e3, f"{op.name}: hvp vs hessian")


@pytest.mark.parametrize("op, sample, position", CASES)
def test_third_order_gradient_of_an_hvp(op, sample, position):
    X = _point(sample, position)
    s = _scalarized(op, sample, position)
    V, U = _weights(X.shape, 4), _weights(X.shape, 5)
    hvp = kronvec.hvp(s)

    def contracted(Y):
        return np.sum(U * hvp(Y, V))

    loud = _loud_beyond(sample, 3)
    if loud is not None:
        with loud:
            kronvec.grad(contracted)(X)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        third = kronvec.grad(contracted)(X)
    _close(kronvec.vec(third), central_difference_jacobian(contracted, (X,))[0], FD_RTOL,
           f"{op.name}: gradient of ⟨U, hvp(·, V)⟩")
