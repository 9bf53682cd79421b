"""kronvec.scipy.special (issue 12): logsumexp, softmax, log_softmax, multigammaln,
polygamma and the re-exported ufuncs.

Values against SciPy's (1e-12), derivatives against finite differences in every
mode (tests/_scipy_helpers.py), arguments that are not differentiated refused by
name; ``import kronvec`` imports none of kronvec.scipy; a traced value reaching
a real SciPy function names it and its kronvec.scipy counterpart.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.fft
import scipy.interpolate
import scipy.special as sp
from scipy.spatial.transform import Rotation

import kronvec
import kronvec.scipy.special as ks

from _scipy_helpers import check_derivatives

RNG = np.random.default_rng(22)
X = RNG.standard_normal((3, 4))
B = RNG.uniform(0.5, 2.0, (3, 4))
SIGNED = np.array([[1.0, -2.0, 0.5, 3.0], [-1.0, 0.2, 0.1, -0.3], [2.0, 0.0, 0.7, 1.1]])


def _values_agree(ours, theirs):
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    assert np.shape(ours) == np.shape(theirs)


# ------------------------------------------------------------------ logsumexp
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_gives_scipys_values_and_shapes(axis, keepdims):
    _values_agree(ks.logsumexp(X, axis=axis, keepdims=keepdims), sp.logsumexp(X, axis=axis, keepdims=keepdims))
    _values_agree(ks.logsumexp(X, axis=axis, b=B, keepdims=keepdims), sp.logsumexp(X, axis=axis, b=B, keepdims=keepdims))
    ours = ks.logsumexp(X, axis=axis, b=SIGNED, keepdims=keepdims, return_sign=True)
    theirs = sp.logsumexp(X, axis=axis, b=SIGNED, keepdims=keepdims, return_sign=True)
    _values_agree(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_logsumexp_edge_values_match_scipy():
    big = np.array([1000.0, 1000.0, -1000.0])  # no overflow: the shift
    _values_agree(ks.logsumexp(big), sp.logsumexp(big))
    _values_agree(ks.logsumexp(big, b=[0.0, 1.0, 1.0]), sp.logsumexp(big, b=[0.0, 1.0, 1.0]))
    _values_agree(ks.logsumexp(2.5), sp.logsumexp(2.5))  # 0-d
    assert ks.logsumexp([1, 2], b=[1, -1], return_sign=True) == sp.logsumexp([1, 2], b=[1, -1], return_sign=True)
    assert type(ks.logsumexp(X)) is type(sp.logsumexp(X))  # a NumPy scalar, as SciPy's


@pytest.mark.parametrize("axis", [None, 1, (0, 1)])
def test_logsumexp_derivatives_in_a_and_b_in_every_mode(axis):
    check_derivatives(lambda a: ks.logsumexp(a, axis=axis), (X,), 0, what="logsumexp")
    check_derivatives(lambda a, b: ks.logsumexp(a, axis=axis, b=b), (X, B), 0, what="logsumexp(b=)")
    check_derivatives(lambda a, b: ks.logsumexp(a, axis=axis, b=b), (X, B), 1, what="logsumexp(b=)")
    check_derivatives(lambda a, b: ks.logsumexp(a, axis=axis, b=b, return_sign=True)[0], (X, SIGNED), 1,
                      what="logsumexp(return_sign=True)")


def test_logsumexp_gradient_is_softmax_and_its_hessian_diag_p_minus_ppt():
    x = np.array([0.3, -1.2, 2.0, 0.0])
    p = sp.softmax(x)
    np.testing.assert_allclose(kronvec.grad(ks.logsumexp)(x), p, rtol=1e-15)
    np.testing.assert_allclose(kronvec.hessian(ks.logsumexp)(x).toarray(), np.diag(p) - np.outer(p, p), atol=1e-15)
    # far apart (the shift is a constant of the point, so it leaves no trace in the derivative)
    far = np.array([800.0, 0.0, -800.0])
    np.testing.assert_allclose(kronvec.grad(ks.logsumexp)(far), [1.0, 0.0, 0.0], atol=1e-300)
    # broadcasting weights: b's gradient is summed over the broadcast axis
    g = kronvec.grad(lambda b: ks.logsumexp(X, b=b))(np.ones((1, 4)))
    np.testing.assert_allclose(g, np.sum(np.exp(X - sp.logsumexp(X)), axis=0, keepdims=True), rtol=1e-13)


def test_logsumexp_of_a_negative_sum_without_return_sign_is_loud():
    with pytest.raises(ValueError, match="not finite"):
        kronvec.grad(lambda b: ks.logsumexp(np.zeros(2), b=b))(np.array([1.0, -2.0]))


# -------------------------------------------------------- softmax, log_softmax
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_softmax_and_log_softmax(axis):
    _values_agree(ks.softmax(X, axis=axis), sp.softmax(X, axis=axis))
    _values_agree(ks.log_softmax(X, axis=axis), sp.log_softmax(X, axis=axis))
    check_derivatives(lambda x: ks.softmax(x, axis=axis), (X,), 0, what="softmax")
    check_derivatives(lambda x: ks.log_softmax(x, axis=axis), (X,), 0, what="log_softmax")


def test_softmax_jacobian_is_diag_s_minus_s_st():
    x = np.array([0.1, 1.0, -0.5])
    s = sp.softmax(x)
    np.testing.assert_allclose(kronvec.jacobian(ks.softmax)(x).toarray(), np.diag(s) - np.outer(s, s), atol=1e-16)
    np.testing.assert_allclose(ks.softmax(np.array([1000.0, 0.0])), [1.0, 0.0])  # no overflow


# ------------------------------------------- every function: SciPy's dtype and values
_POSITIVE, _UNIT = (0.2, 3.0), (0.05, 0.95)
#: each function's arguments: a (low, high) range for a uniform array, or a plain number
_ARGUMENTS = {
    "logsumexp": [None], "softmax": [None], "log_softmax": [None], "multigammaln": [(2.2, 5.0), 2],
    "polygamma": [1, _POSITIVE], "beta": [_POSITIVE, _POSITIVE], "betainc": [_POSITIVE, _POSITIVE, _UNIT],
    "betaincc": [_POSITIVE, _POSITIVE, _UNIT], "betaln": [_POSITIVE, _POSITIVE], "digamma": [_POSITIVE],
    "entr": [_POSITIVE], "erf": [None], "erfc": [None], "erfcinv": [(0.1, 1.9)], "erfinv": [(-0.9, 0.9)],
    "expit": [None], "gamma": [_POSITIVE], "gammainc": [_POSITIVE, _POSITIVE], "gammaincc": [_POSITIVE, _POSITIVE],
    "gammaln": [_POSITIVE], "gammasgn": [None], "i0": [None], "i0e": [None], "i1": [None], "i1e": [None],
    "iv": [1.5, _POSITIVE], "ive": [1.5, _POSITIVE], "j0": [None], "j1": [None], "jn": [2, None],
    "jv": [1.5, _POSITIVE], "k0": [_POSITIVE], "k1": [_POSITIVE], "kv": [1.5, _POSITIVE], "kve": [1.5, _POSITIVE],
    "log_expit": [None], "log_ndtr": [None], "logit": [_UNIT], "ndtr": [None], "ndtri": [_UNIT], "psi": [_POSITIVE],
    "rel_entr": [_POSITIVE, _POSITIVE], "rgamma": [_POSITIVE], "softplus": [None], "stdtr": [3.0, None],
    "xlog1py": [None, _POSITIVE], "xlogy": [None, _POSITIVE], "y0": [_POSITIVE], "y1": [_POSITIVE],
    "yn": [2, _POSITIVE], "yv": [1.5, _POSITIVE],
}


def test_every_function_is_in_the_parity_sweep():
    assert set(_ARGUMENTS) == set(ks.__all__)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(_ARGUMENTS))
def test_every_function_has_scipys_dtype_and_values(name, dtype):
    # The class sweep: plain calls are SciPy's to the bit, traced ones SciPy's dtype and
    # values to rounding (multigammaln of float32 was float32 where SciPy's is float64)
    rng = np.random.default_rng(sorted(_ARGUMENTS).index(name))
    args = [rng.standard_normal((3, 2)).astype(dtype) if spec is None
            else rng.uniform(*spec, (3, 2)).astype(dtype) if isinstance(spec, tuple) else spec
            for spec in _ARGUMENTS[name]]
    ours, theirs = getattr(ks, name), getattr(sp, name)
    expected = np.asarray(theirs(*args))
    plain = np.asarray(ours(*args))
    assert (plain.dtype, plain.shape) == (expected.dtype, expected.shape)
    np.testing.assert_array_equal(plain, expected)
    for position, arg in enumerate(args):
        if not isinstance(arg, np.ndarray):
            continue
        try:
            traced = np.asarray(kronvec.vjp(lambda x: ours(*args[:position], x, *args[position + 1:]), arg)[0])
        except TypeError as error:  # a parameter kronvec does not differentiate in (betainc's a, b): named
            assert "with respect to its argument" in str(error)
            continue
        assert traced.dtype == expected.dtype, f"{name} traced in argument {position}"
        np.testing.assert_allclose(traced, expected, rtol=1e-12 if dtype == np.float64 else 1e-5)


# ------------------------------------------------------ multigammaln, polygamma
def test_multigammaln():
    a = np.array([[2.5, 3.1], [4.0, 7.3]])
    for d in (1, 2, 4):
        _values_agree(ks.multigammaln(a, d), sp.multigammaln(a, d))
        check_derivatives(lambda x: ks.multigammaln(x, d), (a,), 0, what=f"multigammaln(·, {d})")
    np.testing.assert_allclose(kronvec.grad(lambda x: ks.multigammaln(x, 3))(4.0),
                               sum(sp.digamma(4.0 - j / 2) for j in range(3)), rtol=1e-15)
    with pytest.raises(ValueError, match="not met"):
        ks.multigammaln(1.0, 4)
    with pytest.raises(ValueError, match="positive integer"):
        ks.multigammaln(3.0, 1.5)
    with pytest.raises(TypeError, match=r"multigammaln with respect to its argument d"):
        kronvec.grad(lambda d: ks.multigammaln(5.0, d))(2.0)


def test_polygamma():
    x = np.array([[0.7, 1.5, 3.0], [2.2, 0.4, 5.0]])
    for n in (0, 1, 3, np.array([0, 1, 2]), [[1], [2]]):
        _values_agree(ks.polygamma(n, x), sp.polygamma(n, x))
        traced_value, _ = kronvec.jvp(lambda y: ks.polygamma(n, y), (x,), (x,))
        _values_agree(traced_value, sp.polygamma(n, x))
        check_derivatives(lambda y: ks.polygamma(n, y), (x,), 0, what=f"polygamma({n}, ·)")
    np.testing.assert_allclose(kronvec.grad(lambda y: np.sum(ks.polygamma(2, y)))(x), sp.polygamma(3, x), rtol=1e-14)
    with pytest.raises(TypeError, match=r"polygamma with respect to its argument n"):
        kronvec.grad(lambda n: np.sum(ks.polygamma(n, x)))(1.0)
    with pytest.raises(ValueError, match="integers"):
        kronvec.grad(lambda y: np.sum(ks.polygamma(1.5, y)))(x)


def test_the_ufuncs_are_scipys_own_and_differentiable():
    for name in ks._UFUNCS:
        assert getattr(ks, name) is getattr(sp, name), name
        assert f"scipy.special.{name}" in kronvec.SUPPORTED_FUNCTIONS, name
    np.testing.assert_allclose(kronvec.grad(lambda x: np.sum(ks.gammaln(x)))(B), sp.digamma(B), rtol=1e-14)

_INTERPOLANT = scipy.interpolate.interp1d(np.arange(3.0), np.arange(3.0) ** 2)


# ------------------------------------------------------- imports and messages
def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_kronvec_imports_no_kronvec_scipy_and_the_subpackage_loads_on_demand():
    assert _run("import sys, kronvec; print(any(m.startswith('kronvec.scipy') for m in sys.modules))") == "False"
    assert _run("import kronvec.scipy as s; print(s.stats.norm.__name__, s.special.logsumexp.__name__)") == \
        "kronvec.scipy.stats.norm logsumexp"


@pytest.mark.parametrize("call, scipy_name, counterpart", [
    (lambda x: sp.logsumexp(x), "scipy.special.logsumexp", "kronvec.scipy.special.logsumexp"),
    (lambda x: sp.softmax(x), "scipy.special.softmax", "kronvec.scipy.special.softmax"),
    (lambda x: sp.log_softmax(x), "scipy.special.log_softmax", "kronvec.scipy.special.log_softmax"),
    (lambda x: sp.polygamma(1, x), "scipy.special.polygamma", "kronvec.scipy.special.polygamma"),
    (lambda x: sp.multigammaln(x + 3.0, 2), "scipy.special.multigammaln", "kronvec.scipy.special.multigammaln"),
], ids=["logsumexp", "softmax", "log_softmax", "polygamma", "multigammaln"])
def test_a_real_scipy_function_on_a_traced_value_names_itself_and_its_counterpart(call, scipy_name, counterpart):
    with pytest.raises(TypeError) as error:
        kronvec.grad(lambda x: np.sum(call(x)))(np.array([0.5, 1.5]))
    message = str(error.value)
    assert f"cannot differentiate {scipy_name}:" in message and f"Use {counterpart} instead" in message, message
    assert "np.asarray" in message


def test_a_scipy_function_without_counterpart_is_named_alone():
    # (spherical_jn is wrapped by a decorator: the name is the function's, not the wrapper's)
    with pytest.raises(TypeError, match=r"cannot differentiate scipy\.special\.spherical_jn: ") as error:
        kronvec.grad(lambda x: np.sum(sp.spherical_jn(1, x)))(np.array([0.5, 1.5]))
    assert "Use kronvec.scipy" not in str(error.value)


@pytest.mark.parametrize("call, scipy_name", [
    (lambda x: np.abs(scipy.fft.fft(x)), "scipy.fft.fft"),  # (uarray dispatch: not "__ua_function__")
    (lambda x: scipy.interpolate.interp1d(np.arange(2.0), x)(0.5), "scipy.interpolate.interp1d"),
    (lambda x: _INTERPOLANT(x), "scipy.interpolate.interp1d(…)"),
    (lambda x: Rotation.from_rotvec(np.concatenate([x, x[:1]])).as_matrix(),
     "scipy.spatial.transform.Rotation.from_rotvec"),
], ids=["uarray", "constructor", "instance call", "static method"])
def test_a_scipy_function_is_named_as_the_user_called_it(call, scipy_name):
    with pytest.raises(TypeError) as error:
        kronvec.grad(lambda x: np.sum(call(x)))(np.array([0.5, 1.5]))
    assert f"cannot differentiate {scipy_name}: it converts its input" in str(error.value), str(error.value)


@pytest.mark.parametrize("f", [
    lambda z: ks.logsumexp(z), lambda z: ks.logsumexp(z, b=np.array([1.0, 0.0, 2.0])),
    lambda z: np.sum(ks.softmax(z) ** 2), lambda z: np.sum(ks.log_softmax(z) * np.arange(3.0)),
], ids=["logsumexp", "logsumexp with b", "softmax", "log_softmax"])
def test_the_shifted_exponentials_compile(f):
    # (program sweep) compile=True refused them: their shift, the plain maximum, read the traced
    # value; it is a decision now, taken again at every replay
    x = np.array([0.3, -1.2, 0.8])
    compiled = kronvec.grad(f, compile=True)
    for point in (x, 3.0 * x, x[::-1].copy()):
        np.testing.assert_array_equal(compiled(point), kronvec.grad(f)(point))
