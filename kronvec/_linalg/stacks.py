"""Stacks of square matrices (…, n, n): validation, per-call results, errors.

The values are NumPy's own batched ``np.linalg`` results (so they equal
NumPy's bit for bit).  Within a differentiation call (:mod:`.scope`) a stack's
``slogdet`` and inverse are computed once and shared by the forward pass and
the derivatives (``ln|S| + tr(S⁻¹C)`` asks for both and for S⁻ᵀ again on the
way back), remembered in the call's scope like the 2-D factorizations.

Errors name the members: a singular member raises ``LinAlgError`` with its
batch index (the first few of them); batch shapes that do not broadcast raise
``ValueError`` naming both shapes and NumPy's rule.
"""

from __future__ import annotations

import numpy as np

from .scope import _current as _current_scope

__all__ = ["square_stack", "stack_results", "broadcast_batch", "singular_members_error", "stack_adjugate"]

#: How many singular members an error message lists.
_LISTED_MEMBERS = 5


def square_stack(X, operation, name="X"):
    """X as an ndarray stack (…, n, n) with at least one batch axis, or the error."""
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise TypeError(f"{operation}: {name} is complex ({X.dtype}); kronvec rules are real")
    if X.ndim < 3 or X.shape[-1] != X.shape[-2]:
        raise ValueError(
            f"{operation}: {name} must be a square matrix or a stack of square matrices (…, n, n); "
            f"got shape {X.shape}"
        )
    return X


def broadcast_batch(a_shape, b_shape, operation):
    """The broadcast batch shape of two stacks' leading axes, or ValueError naming both."""
    a_batch, b_batch = tuple(a_shape[:-2]), tuple(b_shape[:-2])
    try:
        return np.broadcast_shapes(a_batch, b_batch)
    except ValueError:
        raise ValueError(
            f"{operation}: the batch shapes {a_batch} (A of shape {tuple(a_shape)}) and {b_batch} "
            f"(B of shape {tuple(b_shape)}) do not broadcast: NumPy pairs the leading (batch) axes "
            f"from the right, and each pair must be equal or contain a 1"
        ) from None


def _member_list(indices):
    """The first few batch indices as text: ``(0, 2), (1, 0) and 3 more``."""
    listed = [str(tuple(int(i) for i in index)) if len(index) != 1 else str(int(index[0]))
              for index in indices[:_LISTED_MEMBERS]]
    text = ", ".join(listed)
    if len(indices) > _LISTED_MEMBERS:
        text += f" and {len(indices) - _LISTED_MEMBERS} more"
    return text


def singular_members_error(X, operation, sign=None):
    """``LinAlgError`` naming the singular members of the stack X (exact zero pivots:
    the members whose LU, as ``np.linalg.slogdet`` computes it, has sign 0)."""
    if sign is None:
        sign = np.linalg.slogdet(X)[0]
    indices = np.argwhere(sign == 0)
    n = X.shape[-1]
    if len(indices) == 0:  # np.linalg raised for a reason slogdet does not see
        return np.linalg.LinAlgError(f"{operation}: a {n}×{n} member of the stack of shape {X.shape} is singular")
    which = "a member" if len(indices) == 1 else f"{len(indices)} members"
    verb = "is" if len(indices) == 1 else "are"
    return np.linalg.LinAlgError(
        f"{operation}: {which} of the stack of shape {X.shape} {verb} singular (exact zero pivot), "
        f"at batch index {_member_list(indices)}"
    )


class StackResults:
    """``slogdet`` and the inverse of one stack, each computed once when asked."""

    __slots__ = ("X", "operation", "_slogdet", "_inverse")

    def __init__(self, X, operation):
        self.X, self.operation = X, operation
        self._slogdet = self._inverse = None

    def slogdet(self):
        if self._slogdet is None:
            self._slogdet = np.linalg.slogdet(self.X)
        return self._slogdet

    def inverse(self):
        """X⁻¹ member by member; ``LinAlgError`` naming the singular members."""
        if self._inverse is None:
            try:
                self._inverse = np.linalg.inv(self.X)
            except np.linalg.LinAlgError:
                raise singular_members_error(self.X, self.operation, self.slogdet()[0]) from None
        return self._inverse

    def inverse_for_derivative(self):
        """X⁻¹ for a derivative of ln|X|: refused at a singular member (ln 0 = -inf
        has no derivative) even when LAPACK's inverse would not notice."""
        sign = self.slogdet()[0]
        if not np.all(sign):
            raise singular_members_error(self.X, self.operation, sign)
        return self.inverse()


def stack_results(X, operation):
    """The :class:`StackResults` of the stack X, shared within a call scope.

    Keyed by identity in the call's scope, as :func:`.factorization.factorize`
    keys matrices (why that is safe: :class:`~.scope.CallScope`).
    """
    scope = _current_scope.get()
    if scope is None:
        return StackResults(X, operation)
    key = ("stack", id(X))
    entry = scope.factorizations.get(key)
    if entry is None or entry[0] is not X:
        entry = scope.factorizations[key] = (X, StackResults(X, operation))
    return entry[1]


def stack_adjugate(X, operation):
    """adj(X_k) for every member, exact at singular members (as ``adjugate_values``).

    n ≤ 2 in closed form; otherwise from the batched SVD X = UΣVᵀ,
    ``adj(X) = det(U)·det(V)·V·diag(∏_{j≠i} σ_j)·Uᵀ`` with the products formed
    from prefix and suffix products (no division, so exact at rank n−1 and n−2).
    """
    n = X.shape[-1]
    dtype = np.result_type(X.dtype, np.float32)
    if n == 0:
        return np.zeros(X.shape, dtype=dtype)
    if n == 1:
        return np.ones(X.shape, dtype=dtype)
    if n == 2:
        adj = np.empty(X.shape, dtype=dtype)
        adj[..., 0, 0], adj[..., 1, 1] = X[..., 1, 1], X[..., 0, 0]
        adj[..., 0, 1], adj[..., 1, 0] = -X[..., 0, 1], -X[..., 1, 0]
        return adj
    U, s, Vt = np.linalg.svd(X)
    ones = np.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    prefix = np.concatenate((ones, np.cumprod(s[..., :-1], axis=-1)), axis=-1)
    suffix = np.concatenate((np.cumprod(s[..., ::-1][..., :-1], axis=-1)[..., ::-1], ones), axis=-1)
    w = prefix * suffix
    finite = np.all(np.isfinite(w), axis=-1)
    if not np.all(finite):
        raise ValueError(
            f"{operation}: the adjugate (the gradient of det) of {n}×{n} member(s) at batch index "
            f"{_member_list(np.argwhere(~finite))} overflows {X.dtype}"
        )
    sign = np.sign(np.linalg.det(U)) * np.sign(np.linalg.det(Vt))
    V = np.swapaxes(Vt, -1, -2)
    return sign[..., None, None] * np.matmul(V * w[..., None, :], np.swapaxes(U, -1, -2))
