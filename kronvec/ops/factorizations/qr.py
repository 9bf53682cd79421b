"""The QR decomposition A = QR: ``np.linalg.qr``.

    C = Qᵀ dA R⁻¹,  Ω = tril(C, −1) − tril(C, −1)ᵀ:  dR = (C − Ω) R,  dQ = Q(Ω − C) + dA R⁻¹

R must be invertible (A of full column rank); the signs of R's diagonal are
LAPACK's, as NumPy returns them.  ``mode='complete'`` of a tall A (m > n) adds
m − n columns to Q, a basis of the null space of Aᵀ, and zero rows to R: one extra
column is unique up to its sign and differentiated, two or more are not unique
and a function of them raises ``LinAlgError`` (as the SVD's extra vectors).
Derivations: ``notes/derivatives.md`` §23 and §24.5 (stacks).
"""

from __future__ import annotations


import functools
import math

import numpy as np

from ..._tracer import Node
from ...operators import BatchedKron, Commutation, Dense, Identity, Kron, TriangleFold, algebra
from .. import _samples
from .. import _stack_factors as stacked
from .._registry import Primitive, numpy_function, register
from .._support import bind, decided, index_map_jacobian, positions, shape_of
from .._matrix_support import (_as_float, _as_one_member, _mT, _matrix_shape, _members, _remembered, _tolerance,
                               _unused_cotangent)
from .cholesky_factor import _lower_inverse, _lower_inverse_stack

__all__ = ["qr_q", "qr_r"]

try:  # NumPy's result types (NumPy ≥ 2.0); a plain tuple elsewhere
    from numpy.linalg._linalg import QRResult
except ImportError:  # pragma: no cover
    QRResult = tuple


_QR = "np.linalg.qr"


def _qr_factors(A, complete=False):
    """``np.linalg.qr(A)`` as NumPy returns it — reduced, or with ``mode='complete'``
    (Q m×m, R m×n) — once per call; R must be invertible."""
    def compute():
        m, n = A.shape[-2:]
        if A.ndim > 2:
            stacked.require_finite_members(A, _QR)
        if m < n:
            raise TypeError(f"kronvec cannot differentiate {_QR} of a wide {m}×{n} matrix (m < n) yet: "
                            "its R is not square (see kronvec.SUPPORTED_FUNCTIONS)")
        return np.linalg.qr(A, mode="complete" if complete else "reduced")

    return _remembered("qr", (A,), compute, bool(complete))


def _leading(Q, R):
    """Q's n leading columns and R's n leading rows (R n×n, invertible): the reduced
    decomposition's factors, of the complete one too."""
    n = R.shape[-1]
    return (Q[..., :n] if Q.shape[-1] > n else Q), (R[..., :n, :] if R.shape[-2] > n else R)


def _leading_factors(A, complete=False):
    """:func:`_leading` of A's factors, once per call: the same R each time, whose
    inverse :func:`_inverse_of_r` then remembers (a fresh slice would be factored again)."""
    return _remembered("qr leading", (A,), lambda: _leading(*_qr_factors(A, complete)), bool(complete))


def _inverse_of_r(R):
    """R⁻¹ for the derivatives, refused (LinAlgError) when A is rank-deficient."""
    def compute():
        if R.ndim > 2:
            return _inverse_of_r_stack(R)
        d = np.abs(R.diagonal())
        tolerance = _tolerance(d, R.shape[0])
        if d.size and d.min() <= tolerance:
            k = int(np.argmin(d)) + 1
            raise np.linalg.LinAlgError(
                f"{_QR}: the matrix is rank-deficient (|R{k}{k}| = {d.min():.3g} ≤ {tolerance:.3g}): "
                "its QR factors have no derivative there")
        return _lower_inverse(R, transposed=True).T

    return _remembered("inverse of R", (R,), compute)


def _inverse_of_r_stack(R):
    """R_k⁻¹ of every member (the transpose of the lower-triangular R_kᵀ's inverse);
    rank-deficient members raise one LinAlgError naming them."""
    d = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
    deficient = (d <= stacked.member_tolerance(d, R.shape[-1])).any(axis=-1)
    if deficient.any():
        raise np.linalg.LinAlgError(
            f"{_QR}: {stacked.member_count(deficient)} of the stack "
            f"{'is' if np.count_nonzero(deficient) == 1 else 'are'} rank-deficient (a diagonal entry of R at "
            f"working precision's zero), at batch index {stacked.member_list(deficient)}: "
            "its QR factors have no derivative there")
    return _mT(_lower_inverse_stack(R, transposed=True))


def _qr_impl(A, factor, complete=False, leading=False):
    _matrix_shape(A, _QR)
    A = _as_float(A)
    return (_leading_factors(A, complete) if leading else _qr_factors(A, complete))[factor]


def _copy_upper(N):
    """B(N) = triu(N) + triu(N, 1)ᵀ: the upper triangle mirrored (what Ω's adjoint leaves)."""
    return np.triu(N) + _mT(np.triu(N, 1))


def _qr_pullback(A, Q, R, Q_bar, R_bar):
    # ⟨Q̄, dQ⟩ + ⟨R̄, dR⟩ = ⟨(Q̄ + Q B(N)) R⁻ᵀ, dA⟩, N = R̄Rᵀ − QᵀQ̄ (Walter & Lehmann 2018)
    N = 0.0
    if R_bar is not None:
        N = R_bar @ _mT(R)
    if Q_bar is not None:
        N = N - _mT(Q) @ Q_bar
    M = Q @ _copy_upper(N)
    if Q_bar is not None:
        M = M + Q_bar
    if isinstance(R, Node) or isinstance(M, Node):
        return _mT(np.linalg.solve(R, _mT(M)))  # M R⁻ᵀ
    return np.matmul(np.asarray(M), _mT(_inverse_of_r(np.asarray(R))))


def _qr_both(A, complete=False):
    """(Q, R) of A's reduced decomposition, or the leading ones of its complete one: plain
    for a plain A, recorded for a traced one.  (The leading factors are recorded as such,
    not sliced from the complete Q, whose extra columns may have no derivative, which a
    Hessian would need.)"""
    if isinstance(A, Node):
        params = {"complete": True, "leading": True} if complete else {}
        return bind(qr_q, A, **params), bind(qr_r, A, **params)
    return _leading_factors(_as_float(A), complete)


def _qr_q_vjp(g, Q, A, complete=False, leading=False):
    # (`leading`: Q holds its n leading columns only, which its shape says too)
    n = shape_of(A)[-1]
    if shape_of(Q)[-1] == n:
        _, R = _qr_both(A, complete)
        return _qr_pullback(A, Q, R, g, None)
    # the complete Q of a tall A: its n leading columns, then the m − n extra ones
    Q_leading, R = _qr_both(A, True)
    extra = _extra_columns_vjp(g[..., n:], Q, Q_leading, R, A)
    if extra is not None and _unused_cotangent(g[..., :n]):
        return extra
    through_leading = _qr_pullback(A, Q_leading, R, g[..., :n], None)
    return through_leading if extra is None else through_leading + extra


def _qr_r_vjp(g, R, A, complete=False, leading=False):
    n = shape_of(A)[-1]
    Q, R_leading = _qr_both(A, complete)
    if shape_of(R)[-2] > n:  # the complete R: its last m − n rows are 0 whatever A is
        g = g[..., :n, :]
    return _qr_pullback(A, Q, R_leading, None, g)


def _extra_columns_vjp(g, Q, Q_leading, R, A):
    """The pullback of the extra columns W = Q[..., n:] of a complete decomposition, with
    cotangent g (None: no contribution); Q_leading and R, the leading factors.

    One extra column is unique up to its sign, and orthogonality fixes its derivative:
    dW = −Q dQᵀ W with Wᵀ dQ = Wᵀ dA R⁻¹ (dQ's projector term), i.e. dW = −Q R⁻ᵀ dAᵀ W
    (notes/derivatives.md §23, QR) ⇒ Ā = −W Ḡᵀ Q R⁻ᵀ.  Two or more are an arbitrary basis
    of their space, with no derivative: their cotangent must be 0, else LinAlgError."""
    shape = tuple(shape_of(A))
    if shape_of(g)[-1] > 1:
        decided(functools.partial(_extra_columns_unused, shape=shape), g)
        return None
    M = Q[..., shape[-1]:] @ _mT(g) @ Q_leading
    if isinstance(R, Node) or isinstance(M, Node):
        return -_mT(np.linalg.solve(R, _mT(M)))  # −M R⁻ᵀ
    return -np.matmul(np.asarray(M), _mT(_inverse_of_r(np.asarray(R))))


def _extra_columns_unused(g, shape):
    """LinAlgError unless the cotangent g of two or more extra columns of Q is 0 (a rule
    for ``decided``)."""
    if np.any(np.asarray(g)):
        raise np.linalg.LinAlgError(_extra_columns_message(shape, "a function of them"))
    return np.zeros(())


def _extra_columns_message(shape, what):
    m, n = shape[-2:]
    return (f"{_QR} with mode='complete' of a {m}×{n} matrix: its {m - n} extra columns of Q are an "
            f"arbitrary basis of the null space of Aᵀ, not unique, so {what} has no derivative; use "
            f"mode='reduced' to differentiate Q's {n} leading columns")


def _upper_minus_omega(n, dtype):
    """T: vec C ↦ vec(C − Ω) = vec(triu(C) + tril(C, −1)ᵀ), held as its size alone
    (Diag(vec U) + K·Diag(vec(1 − U)) would hold three n×n arrays)."""
    return TriangleFold(n, dtype)


def _qr_jacobian(A, want_q, complete=False, leading=False):
    """The Jacobian of Q (`want_q`) or R; of the complete decomposition's too unless
    `leading` (R's zero rows; Q's one extra column, see :func:`_extra_columns_vjp`; more:
    LinAlgError)."""
    A = _as_float(A)
    Q, R = _leading_factors(A, complete)
    J = _qr_jacobian_stack(Q, R, want_q) if A.ndim > 2 else _leading_qr_jacobian(Q, R, want_q)
    m, n = A.shape[-2:]
    if not complete or leading or m == n:
        return J
    if not want_q:  # the complete R: the n×n factor on top of m − n zero rows
        shape = A.shape[:-2] + (m, n)
        return algebra.multiply(index_map_jacobian(shape, positions(shape)[..., :n, :]).T, J)
    if m - n > 1:
        # (forward mode carries the whole matrix: a Jacobian, JVP or Hessian through any of it)
        raise np.linalg.LinAlgError(_extra_columns_message(A.shape, "a Jacobian, JVP or Hessian through Q, "
                                                                    "which carries them,"))
    W = _qr_factors(A, True)[0][..., n:]
    scaled = np.matmul(Q, _mT(_inverse_of_r(R)))  # Q R⁻ᵀ
    # vec dW = −(Wᵀ ⊗ Q R⁻ᵀ) K_{m,n} vec dA
    if A.ndim > 2:
        K = math.prod(A.shape[:-2])
        extra = algebra.multiply(BatchedKron(_members(_mT(W)), _members(scaled), name="blockdiag(Wₖᵀ ⊗ QₖRₖ⁻ᵀ)"),
                                 stacked.member_transpose(K, m, n, Q.dtype))
    else:
        extra = algebra.multiply(Kron(Dense(W.T), Dense(scaled)), Commutation(m, n))
    shape = A.shape[:-2] + (m, m)
    grid = positions(shape)
    return algebra.add(algebra.multiply(index_map_jacobian(shape, grid[..., :n]).T, J),
                       algebra.multiply(index_map_jacobian(shape, grid[..., n:]).T, algebra.scale(extra, -1.0)))


def _leading_qr_jacobian(Q, R, want_q):
    m, n = Q.shape
    R_inv = Dense(_inverse_of_r(R))
    C = Kron(R_inv.T, Dense(Q.T))  # vec C = (R⁻ᵀ ⊗ Qᵀ) vec dA
    T = algebra.multiply(_upper_minus_omega(n, Q.dtype), C)
    if not want_q:  # dR = (C − Ω) R
        return algebra.multiply(Kron(Dense(R.T), Identity(n)), T)
    # dQ = −Q(C − Ω) + dA R⁻¹
    return algebra.add(algebra.scale(algebra.multiply(Kron(Identity(n), Dense(Q)), T), -1.0),
                       Kron(R_inv.T, Identity(m)))


def _qr_jacobian_stack(Q, R, want_q):
    """:func:`_qr_jacobian` for every member: products of batched block operators (§24.5)."""
    Qm, Rm = _members(Q), _members(R)
    K, m, n = Qm.shape
    R_inv_t = np.swapaxes(_members(_inverse_of_r(R)), -1, -2)
    C = BatchedKron(R_inv_t, np.swapaxes(Qm, -1, -2), name="blockdiag(Rₖ⁻ᵀ ⊗ Qₖᵀ)")
    upper = np.triu(np.ones((n, n), dtype=Qm.dtype))
    T = algebra.add(stacked.member_mask(upper, K),
                    algebra.multiply(stacked.member_transpose(K, n, n, Qm.dtype), stacked.member_mask(1.0 - upper, K)))
    T = algebra.multiply(T, C)
    if not want_q:  # dR = (C − Ω) R
        return algebra.multiply(BatchedKron(np.swapaxes(Rm, -1, -2), n, name="blockdiag(Rₖᵀ ⊗ I)"), T)
    return algebra.add(algebra.scale(algebra.multiply(BatchedKron(n, Qm, name="blockdiag(I ⊗ Qₖ)"), T), -1.0),
                       BatchedKron(R_inv_t, m, name="blockdiag(Rₖ⁻ᵀ ⊗ I)"))


def _qr_samples(rng, n):
    return (rng.standard_normal((n + 1, n)) + np.eye(n + 1, n),)


_QR_EDGES = {"square": lambda rng: (_samples.well_conditioned(rng, 3),),
             "one column": lambda rng: (rng.standard_normal((3, 1)),),
             "a (2, 3, 2) stack": lambda rng: (_samples.stack_of(lambda r: _qr_samples(r, 2)[0], rng, (2,)),)}


def _complete_sample(shape, **params):
    """A tall A (or a stack of them) for mode='complete': one of rank n, well conditioned."""
    def sample(rng):
        make = lambda r: r.standard_normal(shape[-2:]) + np.eye(*shape[-2:])  # noqa: E731
        A = make(rng) if len(shape) == 2 else _samples.stack_of(make, rng, shape[:-2])
        return _samples.Sample((A,), {"complete": True, **params})

    return sample


#: mode='complete': Q with one extra column (two or more have no derivative), and its n
#: leading columns alone (as the rules record them); R with its zero rows, any m − n
_COMPLETE_Q_EDGES = {
    "mode='complete' (tall, one extra column)": _complete_sample((3, 2)),
    "mode='complete' (a (2, 4, 3) stack)": _complete_sample((2, 4, 3)),
    "the leading columns of a complete decomposition (two extra)": _complete_sample((4, 2), leading=True),
}
_COMPLETE_R_EDGES = {
    "mode='complete' (tall by one)": _complete_sample((3, 2)),
    "mode='complete' (tall by two)": _complete_sample((4, 2)),
    "mode='complete' (a (2, 5, 3) stack)": _complete_sample((2, 5, 3)),
}


qr_q = register(Primitive(
    lambda A, complete=False, leading=False: _qr_impl(A, 0, complete, leading), name="linalg.qr_q",
    vjps={0: _qr_q_vjp},
    jacobians={0: lambda Q, A, names, complete=False, leading=False: _qr_jacobian(A, True, complete, leading)},
    label=lambda a, complete=False, leading=False: None,
    formula="D Q = −(I ⊗ Q)·T·(R⁻ᵀ ⊗ Qᵀ) + (R⁻ᵀ ⊗ I), T vec C = vec(triu(C) + tril(C, −1)ᵀ)",
    reference="Walter & Lehmann, 'Algorithmic differentiation of linear algebra functions with "
              "application in optimum experimental design' (2018); JAX qr_jvp_rule",
    samples=_qr_samples, param_names=("A",), edge_cases={**_QR_EDGES, **_COMPLETE_Q_EDGES},
    signature="(m,n)->(m,n)",
))


qr_r = register(Primitive(
    lambda A, complete=False, leading=False: _qr_impl(A, 1, complete, leading), name="linalg.qr_r",
    vjps={0: _qr_r_vjp},
    jacobians={0: lambda R, A, names, complete=False, leading=False: _qr_jacobian(A, False, complete, leading)},
    label=lambda a, complete=False, leading=False: None,
    formula="D R = (Rᵀ ⊗ I)·T·(R⁻ᵀ ⊗ Qᵀ), T vec C = vec(triu(C) + tril(C, −1)ᵀ)",
    reference="Walter & Lehmann (2018); JAX qr_jvp_rule",
    samples=_qr_samples, param_names=("A",), edge_cases={**_QR_EDGES, **_COMPLETE_R_EDGES},
    signature="(m,n)->(n,n)",
))


@numpy_function(np.linalg.qr)
def _linalg_qr(a, mode="reduced"):
    m, n = _matrix_shape(a, _QR)
    if mode not in ("reduced", "complete", "r", "raw", "full", "f", "economic", "e"):
        raise ValueError(f"{_QR}: unrecognized mode {mode!r} (NumPy's modes: 'reduced', 'complete', 'r', "
                         "'raw')")  # (an invalid argument, as NumPy says: not a limit of kronvec's)
    if mode == "complete" and m == n:
        mode = "reduced"  # (the same factors for a square matrix)
    if mode not in ("reduced", "r", "complete"):
        raise TypeError(f"kronvec cannot differentiate {_QR} with mode={mode!r}; use mode='reduced', 'complete' "
                        "or 'r' (see kronvec.SUPPORTED_FUNCTIONS)")
    if m < n:
        raise TypeError(f"kronvec cannot differentiate {_QR} of a wide {m}×{n} matrix (m < n) yet "
                        "(see kronvec.SUPPORTED_FUNCTIONS)")
    if mode == "r":
        return bind(qr_r, a)
    if mode == "complete":
        return QRResult(bind(qr_q, a, complete=True), bind(qr_r, a, complete=True))
    return QRResult(bind(qr_q, a), bind(qr_r, a))


for _op in (qr_q, qr_r):
    _as_one_member(_op)
del _op
