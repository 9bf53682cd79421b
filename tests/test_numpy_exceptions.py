"""Bad arguments on traced values raise what NumPy raises for them.

Code written for NumPy catches NumPy's exceptions: ``except np.linalg.LinAlgError``
around a Cholesky factorization, ``except np.exceptions.AxisError`` around an axis
argument.  For each bad call below NumPy's own exception type is read from NumPy
(not written down here) and kronvec's, on a traced argument, must be an instance
of it.  (A kronvec exception may be narrower: a LinAlgError is a ValueError.)
"""

import numpy as np
import pytest

import kronvec

X = np.arange(1.0, 7.0).reshape(2, 3)
INDEFINITE = np.array([[1.0, 2.0], [2.0, 1.0]])
SINGULAR = np.array([[1.0, 2.0], [2.0, 4.0]])

BAD_CALLS = {
    "sum, axis out of range": (X, lambda x: np.sum(x, axis=5)),
    "mean, negative axis out of range": (X, lambda x: np.mean(x, axis=-3)),
    "max, axis out of range": (X, lambda x: np.max(x, axis=2)),
    "var, axis out of range": (X, lambda x: np.var(x, axis=4)),
    "cumsum, axis out of range": (X, lambda x: np.cumsum(x, axis=2)),
    "sort, axis out of range": (X, lambda x: np.sort(x, axis=2)),
    "roll, axis out of range": (X, lambda x: np.roll(x, 1, axis=2)),
    "flip, axis out of range": (X, lambda x: np.flip(x, axis=2)),
    "diff, axis out of range": (X, lambda x: np.diff(x, axis=3)),
    "take, axis out of range": (X, lambda x: np.take(x, [0], axis=3)),
    "percentile, axis out of range": (X, lambda x: np.percentile(x, 50, axis=3)),
    "swapaxes, axis out of range": (X, lambda x: np.swapaxes(x, 0, 4)),
    "moveaxis, axis out of range": (X, lambda x: np.moveaxis(x, 0, 3)),
    "expand_dims, axis out of range": (X, lambda x: np.expand_dims(x, 5)),
    "trace, axis out of range": (X, lambda x: np.trace(x, axis1=0, axis2=3)),
    "diagonal, equal axes": (X, lambda x: np.diagonal(x, axis1=0, axis2=0)),
    "transpose, repeated axes": (X, lambda x: np.transpose(x, (0, 0))),
    "squeeze of a length-2 axis": (X, lambda x: np.squeeze(x, axis=0)),
    "reshape to another size": (X, lambda x: x.reshape(4)),
    "broadcast of unequal shapes": (X, lambda x: x + np.ones(4)),
    "broadcast_to an incompatible shape": (X, lambda x: np.broadcast_to(x, (3, 3))),
    "where of unequal shapes": (X, lambda x: np.where(np.ones(4, bool), x, 0.0)),
    "clip of unequal shapes": (X, lambda x: np.clip(x, np.zeros(4), 1.0)),
    "matmul of unequal inner sizes": (X, lambda x: x @ np.ones(2)),
    "dot of unequal inner sizes": (X, lambda x: np.dot(x, np.ones(4))),
    "tensordot of unequal axes": (X, lambda x: np.tensordot(x, x, axes=([0], [1]))),
    "einsum of unequal sizes": (X, lambda x: np.einsum("ij,jk->ik", x, x)),
    "einsum with an output label not in the inputs": (X, lambda x: np.einsum("ij->ijk", x)),
    "concatenate of unequal shapes": (X, lambda x: np.concatenate([x, np.ones((2, 2))])),
    "stack of unequal shapes": (X, lambda x: np.stack([x, np.ones((3, 2))])),
    "split into unequal parts": (X, lambda x: np.split(x, 4, axis=1)),
    "repeat with too many counts": (X, lambda x: np.repeat(x, [1, 2, 3])),
    "pad with too many widths": (X, lambda x: np.pad(x, ((1, 1), (1, 1), (1, 1)))),
    "cross of 2- and 1-vectors": (X, lambda x: np.cross(x[:, :2], x[:, :1])),
    "partition, kth out of range": (X, lambda x: np.partition(x, 5, axis=1)),
    "quantile, q outside [0, 1]": (X, lambda x: np.quantile(x, 1.5)),
    "average, weights of another shape": (X, lambda x: np.average(x, weights=np.ones(4))),
    "interp, xp and fp of unequal lengths": (X, lambda x: np.interp(x, np.ones(3), np.ones(4))),
    "norm, unknown order": (X, lambda x: np.linalg.norm(x, "abc")),
    "norm, order 3 of a matrix": (X, lambda x: np.linalg.norm(x, 3)),
    "inv of a rectangular matrix": (X, lambda x: np.linalg.inv(x)),
    "det of a vector": (X, lambda x: np.linalg.det(x[0])),
    "triu of a 0-d array": (X, lambda x: np.triu(x[0, 0])),
    "index out of range": (X, lambda x: x[5]),
    "column index out of range": (X, lambda x: x[:, 3]),
    "too many indices": (X, lambda x: x[0, 0, 0]),
    "take, index out of range": (X, lambda x: np.take(x, 10)),
    "assignment, index out of range": (X, lambda x: x.copy().__setitem__(10, 1.0)),
    "assignment of another shape": (X, lambda x: x.copy().__setitem__(0, np.ones(4))),
    "cholesky of an indefinite matrix": (INDEFINITE, lambda s: np.linalg.cholesky(s)),
    "inv of a singular matrix": (SINGULAR, lambda s: np.linalg.inv(s)),
    "solve with a singular matrix": (SINGULAR, lambda s: np.linalg.solve(s, np.ones(2))),
    "matrix_power -1 of a singular matrix": (SINGULAR, lambda s: np.linalg.matrix_power(s, -1)),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_a_bad_call_raises_numpys_exception(name):
    point, call = BAD_CALLS[name]
    with pytest.raises(Exception) as numpys:
        call(point.copy())

    def objective(x):
        result = call(x)
        return np.sum(x) if result is None else np.sum(result)

    with pytest.raises(numpys.type):
        kronvec.grad(objective)(point)
