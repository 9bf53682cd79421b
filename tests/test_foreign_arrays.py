"""Arrays of other libraries that define their own ``__array_ufunc__`` (xarray's DataArray…)
as operands of traced values: the operation is handed to them (NEP 13), they apply the ufunc
to their plain data and the traced value, and that call is recorded."""

import numpy as np
import pytest

import kronvec
from tests._helpers import central_difference_jacobian


class Labelled:
    """A minimal NEP 13 wrapper, as xarray's DataArray is: unwraps its operands, calls the
    ufunc, wraps the result (which holds a traced value inside a differentiated f)."""

    def __init__(self, data):
        self.data = data

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [x.data if isinstance(x, Labelled) else x for x in inputs]
        return Labelled(getattr(ufunc, method)(*plain, **kwargs))

    def __mul__(self, other):
        return np.multiply(self, other)

    def __rmul__(self, other):
        return np.multiply(other, self)

    def __add__(self, other):
        return np.add(self, other)

    __radd__ = __add__

    def __sub__(self, other):
        return np.subtract(self, other)

    def __rsub__(self, other):
        return np.subtract(other, self)

    def __truediv__(self, other):
        return np.divide(self, other)

    def __rtruediv__(self, other):
        return np.divide(other, self)


BASE = np.array([0.5, 1.0, 1.5])
CASES = {
    "x * L": lambda x: x * Labelled(BASE),
    "L * x": lambda x: Labelled(BASE) * x,
    "x + L": lambda x: x + Labelled(BASE),
    "x - L": lambda x: x - Labelled(BASE),
    "L - x": lambda x: Labelled(BASE) - x,
    "x / L": lambda x: x / Labelled(BASE),
    "L / x": lambda x: Labelled(BASE) / x,
    "np.multiply(x, L)": lambda x: np.multiply(x, Labelled(BASE)),
    "np.sin(x * L)": lambda x: np.sin(x * Labelled(BASE)),
    "x * (L * x)": lambda x: x * (Labelled(BASE) * x),
    "np.arctan2(x, L)": lambda x: np.arctan2(x, Labelled(BASE)),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_an_operand_with_its_own_array_ufunc_gets_the_operation(case):
    f = lambda x: np.sum(CASES[case](x).data)  # noqa: E731
    for x in (np.array(0.7), np.array([0.7, -0.3, 1.2])):
        assert isinstance(CASES[case](x), Labelled)
        expected = central_difference_jacobian(f, (x,))
        np.testing.assert_allclose(kronvec.jacobian(f)(x).toarray(), expected, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(kronvec.grad(f)(x), expected.reshape(np.shape(x)), rtol=1e-7, atol=1e-9)
        H = kronvec.hessian(f)(x).toarray()  # the derivative recorded through the handed-back call
        np.testing.assert_allclose(H, central_difference_jacobian(kronvec.grad(f), (x,)), rtol=1e-6, atol=1e-8)


def test_an_unknown_operand_is_still_refused_by_name():
    class Opaque:
        pass

    with pytest.raises(TypeError, match="a constant operand of multiply is a Opaque"):
        kronvec.grad(lambda x: np.sum(x * Opaque()))(np.ones(2))
    with pytest.raises(TypeError, match="a constant operand of add is a Opaque"):
        kronvec.grad(lambda x: np.sum(np.add(x, Opaque())))(np.ones(2))


def test_xarray_dataarray_operands():
    xr = pytest.importorskip("xarray")
    base = np.array([1.0, 2.0, 3.0])
    # autograd's test_ufunc_dispatch: the traced value first, and a DataArray holding one
    assert kronvec.grad(lambda x: np.sum((x * xr.DataArray(base)).data))(2.0) == np.sum(base)
    g = kronvec.grad(lambda x: np.sum((x * (xr.DataArray(base) * x)).data))(2.0)
    np.testing.assert_allclose(g, 2 * 2.0 * np.sum(base), rtol=1e-15)
