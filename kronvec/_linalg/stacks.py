"""Stacks of square matrices (…, n, n): validation, per-call results, errors.

The values are NumPy's own batched ``np.linalg`` results (so they equal
NumPy's bit for bit), except for stacks large enough for the numba kernels
(``config.numba_min_entries`` entries): closed forms for members of order
n ≤ 4, one LU per member (getrf + getri) up to order 149, equal to NumPy's
to rounding (``notes/derivatives.md`` §24.6).  Within a differentiation call (:mod:`.scope`) a stack's
``slogdet`` and inverse are computed once and shared by the forward pass and
the derivatives (``ln|S| + tr(S⁻¹C)`` asks for both and for S⁻ᵀ again on the
way back), remembered in the call's scope like the 2-D factorizations.

Errors name the members: a singular member raises ``LinAlgError`` with its
batch index (the first few of them), a member with NaN or inf entries
``ValueError``; batch shapes that do not broadcast raise ``ValueError`` naming
both shapes and NumPy's rule.  Ill-conditioned members give one
``IllConditionedWarning`` per stack and call, saying how many they are.
"""

from __future__ import annotations

import numpy as np

from .._config import IllConditionedWarning, condition_threshold, config
from .._warnings import warn_at_user_line
from .factorization import THREADED_MIN_ORDER
from .scope import _current as _current_scope

__all__ = ["square_stack", "stack_results", "broadcast_batch", "singular_members_error", "non_finite_members_error",
           "stack_adjugate", "stack_det_hessian_apply", "stack_sandwich", "uses_kernels", "SMALL_MAX_ORDER", "HADAMARD_MIN"]

#: How many singular members an error message lists.
_LISTED_MEMBERS = 5


def square_stack(X, operation, name="X"):
    """X as an ndarray stack (…, n, n) with at least one batch axis, or the error."""
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise TypeError(f"{operation}: {name} is complex ({X.dtype}); kronvec rules are real")
    if X.ndim < 3 or X.shape[-1] != X.shape[-2]:  # (NumPy's error type: LinAlgError, a ValueError)
        raise np.linalg.LinAlgError(
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


#: Stacks of members up to this order go through the closed forms of
#: ``kronvec._kernels.small_inverse_fill`` (cofactors; notes/derivatives.md §24.6).
SMALL_MAX_ORDER = 4

#: Members whose Hadamard ratio |det X| / ∏ row norms is below this go to LAPACK:
#: above it the closed form's error is within a small factor of LU's (§24.6).
HADAMARD_MIN = 1e-3


def uses_kernels(X):
    """True when the stack is large enough for the numba kernels (small problems
    never import numba: ``kronvec.config.numba_min_entries``)."""
    return X.dtype.char in "fd" and X.size >= config.numba_min_entries


def stack_sandwich(A, G, scale, out=None):
    """``scale · A_kᵀ G_k A_kᵀ`` member by member, in one numba pass (float
    stacks of equal shape and dtype, large enough for the kernels).

    `out` may be G itself (the kernel reads each member of G before writing
    it); it must then be a (K, n, n) array or C-contiguous, so that its
    (K, n, n) form is a view and not a copy.
    """
    from .. import _kernels

    n = A.shape[-1]
    if out is None:
        out = np.empty(A.shape, dtype=A.dtype)
    if out.ndim != 3 and not out.flags.c_contiguous:  # pragma: no cover (callers check the layout)
        raise AssertionError("stack_sandwich: out must reshape to (K, n, n) without a copy")
    members = out if out.ndim == 3 else out.reshape((-1, n, n))
    _kernels.call(_kernels.stack_sandwich_fill, out.nbytes, A.reshape((-1, n, n)), G.reshape((-1, n, n)),
                  float(scale), members)
    return out


def non_finite_members_error(X, operation, indices):
    """``ValueError`` naming the members of the stack X with NaN or inf entries."""
    which = "a member" if len(indices) == 1 else f"{len(indices)} members"
    verb = "has" if len(indices) == 1 else "have"
    return ValueError(
        f"{operation}: {which} of the stack of shape {X.shape} {verb} NaN or inf entries, "
        f"at batch index {_member_list(indices)}"
    )


def _one_norms(stack):
    """‖X_k‖₁ of every member (max column sum of |entries|), in NumPy."""
    return np.abs(stack).sum(axis=-2).max(axis=-1, initial=0.0)


class StackResults:
    """``slogdet`` and the inverse of one stack, each computed once when asked.

    Members of order n ≤ :data:`SMALL_MAX_ORDER` in a stack large enough for
    the numba kernels get both from the closed form (adjugate over
    determinant, one pass, no LAPACK); members it leaves out (nearly singular
    by the Hadamard ratio, or with over/underflowing determinants) are
    computed by NumPy's LAPACK, as every member of the other stacks is.
    """

    __slots__ = ("X", "operation", "_slogdet", "_inverse", "_closed", "_warned")

    def __init__(self, X, operation):
        self.X, self.operation = X, operation
        self._slogdet = self._inverse = self._closed = None
        self._warned = False

    # ----------------------------------------------------- closed forms
    def _one_lu(self):
        """Inverse and slogdet together from one LU per member (numba calling
        LAPACK's getrf and getri), for stacks of medium-sized members large
        enough for the kernels; False for other stacks.  Sets both results."""
        X = self.X
        n = X.shape[-1]
        if not (SMALL_MAX_ORDER < n < THREADED_MIN_ORDER and uses_kernels(X)):
            return False
        from .. import _kernels

        members = np.ascontiguousarray(X.reshape((-1, n, n)))
        count, batch = members.shape[0], X.shape[:-2]
        inverse = np.empty(X.shape, dtype=X.dtype)  # (owning its memory, as above)
        sign, logabsdet = np.empty(batch, dtype=X.dtype), np.empty(batch, dtype=X.dtype)
        status = np.empty(count, dtype=np.int8)
        _kernels.lu_inverse_fill(members, inverse.reshape(members.shape), sign.reshape(-1), logabsdet.reshape(-1),
                                 status)
        status = status.reshape(batch)
        non_finite = np.argwhere(status == 2)
        if len(non_finite):
            raise non_finite_members_error(X, self.operation, non_finite)
        self._slogdet = (sign, logabsdet)
        self._closed = (inverse, status == 1)
        return True

    def _closed_form(self):
        """The kernel's (inverse, det, condition, status), batch-shaped, or False
        when the stack is not one for the closed forms."""
        if self._closed is None:
            X = self.X
            n = X.shape[-1]
            self._closed = False
            if 1 <= n <= SMALL_MAX_ORDER and uses_kernels(X):
                from .. import _kernels

                members = np.ascontiguousarray(X.reshape((-1, n, n)))
                count, batch = members.shape[0], X.shape[:-2]
                # (results allocated in their final shapes, so that they own their memory)
                inverse = np.empty(X.shape, dtype=X.dtype)
                det = np.empty(count, dtype=X.dtype)
                condition = np.empty(count, dtype=np.float64)
                status = np.empty(count, dtype=np.int8)
                _kernels.call(_kernels.small_inverse_fill, inverse.nbytes, members, HADAMARD_MIN,
                              float(np.finfo(X.dtype).tiny), inverse.reshape(members.shape), det, condition,
                              status)
                non_finite = np.argwhere(status.reshape(batch) == _kernels.SMALL_NON_FINITE)
                if len(non_finite):
                    raise non_finite_members_error(X, self.operation, non_finite)
                self._closed = (inverse, det.reshape(batch), condition.reshape(batch),
                                status.reshape(batch) != _kernels.SMALL_CLOSED_FORM)
        return self._closed

    # ---------------------------------------------------------- results
    def slogdet(self):
        """``(sign, ln|det X_k|)`` of every member, as NumPy's ``slogdet`` gives them
        (sign 0 and -inf at singular members)."""
        if self._slogdet is None and (self._closed is not None or not self._one_lu()):
            closed = self._closed_form()
            if closed:
                inverse, det, condition, fallback = closed
                # (the determinants are needed no more: let them go with this call's peak)
                self._closed = (inverse, None, condition, fallback)
                sign = np.sign(det)
                with np.errstate(divide="ignore", invalid="ignore"):  # (fallback members: overwritten)
                    logabsdet = np.abs(det)  # (a new array owning its memory, logged in place)
                    np.log(logabsdet, out=logabsdet)
                del det
                if fallback.any():
                    sign[fallback], logabsdet[fallback] = np.linalg.slogdet(self.X[fallback])
            else:
                with np.errstate(invalid="ignore"):  # (NaN members: named below)
                    sign, logabsdet = np.linalg.slogdet(self.X)
                suspects = ~np.isfinite(logabsdet)  # NaN or inf in a member shows here (or ln 0)
                if suspects.any():
                    bad = ~np.isfinite(self.X[suspects]).all(axis=(-1, -2))
                    if bad.any():
                        raise non_finite_members_error(self.X, self.operation, np.argwhere(suspects)[bad])
            self._slogdet = (sign, logabsdet)
        return self._slogdet

    def inverse(self):
        """X⁻¹ member by member; ``LinAlgError`` naming the singular members,
        ``ValueError`` naming members with NaN or inf entries, and one
        :class:`~kronvec.IllConditionedWarning` naming how many members are
        ill-conditioned."""
        if self._inverse is None:
            X = self.X
            if self._closed is None:
                self._one_lu()
            closed = self._closed_form()
            if closed and len(closed) == 2:  # one LU per member
                inverse, singular = closed
                if singular.any():
                    raise self._singular(np.argwhere(singular), "exact zero pivot")
                condition = self._condition(inverse)
            elif closed:
                inverse, det, condition, fallback = closed
                self._closed = (inverse, det, None, fallback)  # (the condition numbers are used once, here)
                if fallback.any():
                    members = X[fallback]
                    try:
                        inverse[fallback] = members_inverse = np.linalg.inv(members)
                    except np.linalg.LinAlgError:
                        sign = np.linalg.slogdet(members)[0]
                        raise self._singular(np.argwhere(fallback)[sign == 0], "exact zero pivot") from None
                    condition[fallback] = _one_norms(members) * _one_norms(members_inverse)
            else:
                try:
                    inverse = np.linalg.inv(X)
                except np.linalg.LinAlgError:
                    raise singular_members_error(X, self.operation, self.slogdet()[0]) from None
                condition = self._condition(inverse)
            self._check_condition(condition)
            self._inverse = inverse
        return self._inverse

    def _condition(self, inverse):
        """κ₁ = ‖X_k‖₁‖X_k⁻¹‖₁ of every member (NaN where X_k is not finite)."""
        X, n = self.X, self.X.shape[-1]
        if n == 0:
            return np.ones(X.shape[:-2])
        if uses_kernels(X) and inverse.dtype == X.dtype:
            from .. import _kernels

            condition = np.empty(X.shape[:-2], dtype=np.float64)
            _kernels.call(_kernels.stack_condition_fill, condition.nbytes,
                          np.ascontiguousarray(X.reshape((-1, n, n))),
                          np.ascontiguousarray(inverse.reshape((-1, n, n))), condition.reshape(-1))
            return condition
        with np.errstate(invalid="ignore", over="ignore"):
            condition = _one_norms(X) * _one_norms(inverse)
        condition[np.isnan(condition)] = np.inf  # (a NaN in X⁻¹ of a finite X_k: overflowed)
        condition[~np.isfinite(X).all(axis=(-1, -2))] = np.nan
        return condition

    def _singular(self, indices, detail):
        which = "a member" if len(indices) == 1 else f"{len(indices)} members"
        verb = "is" if len(indices) == 1 else "are"
        return np.linalg.LinAlgError(
            f"{self.operation}: {which} of the stack of shape {self.X.shape} {verb} singular ({detail}), "
            f"at batch index {_member_list(indices)}"
        )

    def _check_condition(self, condition):
        """The errors and the one warning the members' condition numbers call for."""
        finite = np.isfinite(condition)
        if not finite.all():
            non_finite = np.argwhere(np.isnan(condition))
            if len(non_finite):
                raise non_finite_members_error(self.X, self.operation, non_finite)
            raise self._singular(np.argwhere(~finite), "numerically: the inverse overflows")
        threshold = condition_threshold(np.result_type(self.X.dtype, np.float32))
        if threshold is None or self._warned or condition.size == 0:
            return
        ill = condition > threshold
        if ill.any():
            self._warned = True
            count, worst = int(np.count_nonzero(ill)), float(condition.max())
            which = "1 member" if count == 1 else f"{count} members"
            verb = "is" if count == 1 else "are"
            # (the largest κ₁ travels as an attribute, so the text repeats for the same
            # stack shape and count, and Python shows it once per call site)
            warn_at_user_line(
                f"{self.operation}: {which} of the {condition.size} in the stack of shape {self.X.shape} "
                f"{verb} ill-conditioned (1-norm condition number above {threshold:.3g}); "
                "their derivatives may have lost most of their digits. Set "
                "kronvec.config.condition_warning = None to silence this.",
                IllConditionedWarning,
                condition=worst,
            )

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

    n ≤ 2 in closed form, and n ≤ 4 by cofactors in a numba kernel for stacks
    large enough for the kernels; otherwise from the batched SVD X = UΣVᵀ,
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
    if n <= SMALL_MAX_ORDER and uses_kernels(X):  # cofactors: exact up to rounding at every rank
        from .. import _kernels

        members = np.ascontiguousarray(X.reshape((-1, n, n)))
        adj = np.empty(X.shape, dtype=X.dtype)
        _kernels.call(_kernels.small_adjugate_fill, adj.nbytes, members, adj.reshape(members.shape))
        return adj
    U, s, Vt = np.linalg.svd(X)
    w = _products_of_all_but_one(s)
    finite = np.all(np.isfinite(w), axis=-1)
    if not np.all(finite):
        raise ValueError(
            f"{operation}: the adjugate (the gradient of det) of {n}×{n} member(s) at batch index "
            f"{_member_list(np.argwhere(~finite))} overflows {X.dtype}"
        )
    sign = np.sign(np.linalg.det(U)) * np.sign(np.linalg.det(Vt))
    V = np.swapaxes(Vt, -1, -2)
    return sign[..., None, None] * np.matmul(V * w[..., None, :], np.swapaxes(U, -1, -2))


def _products_of_all_but_one(s):
    """``w[..., i] = ∏_{j≠i} s[..., j]`` along the last axis, without division
    (prefix times suffix products: exact at zeros)."""
    ones = np.ones(s.shape[:-1] + (1,), dtype=s.dtype)
    prefix = np.concatenate((ones, np.cumprod(s[..., :-1], axis=-1)), axis=-1)
    suffix = np.concatenate((np.cumprod(s[..., ::-1][..., :-1], axis=-1)[..., ::-1], ones), axis=-1)
    return prefix * suffix


def stack_det_hessian_apply(X, W):
    """``H_k vec(W_k)`` for every member: the Hessian of det at X_k applied to W_k,
    exact at every rank (the batched ``det_hessian_operator`` of ``ops/linalg.py``).

    With X_k = UΣVᵀ, Ẽ = Uᵀ W V and ``C_ij = ∏_{l≠i,j} σ_l`` (0 on the diagonal),
    ``H vec W = s·vec(U M Vᵀ)`` with ``M = −C ∘ Ẽᵀ + diag(C·diag Ẽ)`` and
    s = det(U)det(V) = ±1: nothing is divided by a singular value
    (``notes/derivatives.md`` §24.7).  W broadcasts against X like a stack.
    """
    n = X.shape[-1]
    dtype = np.result_type(X.dtype, W.dtype, np.float32)
    shape = np.broadcast_shapes(X.shape, W.shape)
    if n <= 1:  # det is linear (or constant): its Hessian vanishes
        return np.zeros(shape, dtype=dtype)
    U, s, Vt = np.linalg.svd(X)
    sign = np.sign(np.linalg.det(U)) * np.sign(np.linalg.det(Vt))
    E = np.matmul(np.matmul(np.swapaxes(U, -1, -2), W), np.swapaxes(Vt, -1, -2))  # Uᵀ W V
    C = np.zeros(s.shape + (n,), dtype=s.dtype)
    columns = np.arange(n)
    for i in range(n):  # row i: the products of all but σ_i and σ_j, j ≠ i
        C[..., i, columns != i] = _products_of_all_but_one(np.delete(s, i, axis=-1))
    M = -C * np.swapaxes(E, -1, -2)
    M[..., columns, columns] += np.einsum("...ij,...j->...i", C, np.diagonal(E, axis1=-2, axis2=-1))
    return sign[..., None, None] * np.matmul(np.matmul(U, M), Vt)
