"""The QR decomposition A = QR (reduced): ``np.linalg.qr``.

    C = Qᵀ dA R⁻¹,  Ω = tril(C, −1) − tril(C, −1)ᵀ:  dR = (C − Ω) R,  dQ = Q(Ω − C) + dA R⁻¹

R must be invertible (A of full column rank); the signs of R's diagonal are
LAPACK's, as NumPy returns them.  Derivations: ``notes/derivatives.md`` §23 and §24.5 (stacks).
"""

from __future__ import annotations


import numpy as np

from ..._tracer import Node
from ...operators import BatchedKron, Dense, Identity, Kron, TriangleFold, algebra
from .. import _samples
from .. import _stack_factors as stacked
from .._registry import Primitive, numpy_function, register
from .._support import bind
from .._matrix_support import _as_float, _as_one_member, _mT, _matrix_shape, _members, _remembered, _tolerance
from .cholesky_factor import _lower_inverse, _lower_inverse_stack

__all__ = ["qr_q", "qr_r"]

try:  # NumPy's result types (NumPy ≥ 2.0); a plain tuple elsewhere
    from numpy.linalg._linalg import QRResult
except ImportError:  # pragma: no cover
    QRResult = tuple


_QR = "np.linalg.qr"


def _qr_factors(A):
    """``np.linalg.qr(A)`` (reduced) as NumPy returns it, once per call; R must be invertible."""
    def compute():
        m, n = A.shape[-2:]
        if A.ndim > 2:
            stacked.require_finite_members(A, _QR)
        if m < n:
            raise TypeError(f"kronvec cannot differentiate {_QR} of a wide {m}×{n} matrix (m < n) yet: "
                            "its R is not square (see kronvec.SUPPORTED_FUNCTIONS)")
        return np.linalg.qr(A)

    return _remembered("qr", (A,), compute)


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


def _qr_impl(A, factor):
    _matrix_shape(A, _QR)
    return _qr_factors(_as_float(A))[factor]


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


def _qr_both(A):
    if isinstance(A, Node):
        return bind(qr_q, A), bind(qr_r, A)
    return _qr_factors(_as_float(A))


def _qr_q_vjp(g, Q, A):
    _, R = _qr_both(A)
    return _qr_pullback(A, Q, R, g, None)


def _qr_r_vjp(g, R, A):
    Q, _ = _qr_both(A)
    return _qr_pullback(A, Q, R, None, g)


def _upper_minus_omega(n, dtype):
    """T: vec C ↦ vec(C − Ω) = vec(triu(C) + tril(C, −1)ᵀ), held as its size alone
    (Diag(vec U) + K·Diag(vec(1 − U)) would hold three n×n arrays)."""
    return TriangleFold(n, dtype)


def _qr_jacobian(A, want_q):
    A = _as_float(A)
    Q, R = _qr_factors(A)
    if A.ndim > 2:
        return _qr_jacobian_stack(Q, R, want_q)
    m, n = A.shape
    R_inv = Dense(_inverse_of_r(R))
    C = Kron(R_inv.T, Dense(Q.T))  # vec C = (R⁻ᵀ ⊗ Qᵀ) vec dA
    T = algebra.multiply(_upper_minus_omega(n, A.dtype), C)
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


qr_q = register(Primitive(
    lambda A: _qr_impl(A, 0), name="linalg.qr_q",
    vjps={0: _qr_q_vjp},
    jacobians={0: lambda Q, A, names: _qr_jacobian(A, True)},
    label=lambda a: None,
    formula="D Q = −(I ⊗ Q)·T·(R⁻ᵀ ⊗ Qᵀ) + (R⁻ᵀ ⊗ I), T vec C = vec(triu(C) + tril(C, −1)ᵀ)",
    reference="Walter & Lehmann, 'Algorithmic differentiation of linear algebra functions with "
              "application in optimum experimental design' (2018); JAX qr_jvp_rule",
    samples=_qr_samples, param_names=("A",), edge_cases=_QR_EDGES,
    signature="(m,n)->(m,n)",
))


qr_r = register(Primitive(
    lambda A: _qr_impl(A, 1), name="linalg.qr_r",
    vjps={0: _qr_r_vjp},
    jacobians={0: lambda R, A, names: _qr_jacobian(A, False)},
    label=lambda a: None,
    formula="D R = (Rᵀ ⊗ I)·T·(R⁻ᵀ ⊗ Qᵀ), T vec C = vec(triu(C) + tril(C, −1)ᵀ)",
    reference="Walter & Lehmann (2018); JAX qr_jvp_rule",
    samples=_qr_samples, param_names=("A",), edge_cases=_QR_EDGES,
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
    if mode not in ("reduced", "r"):
        why = f" of a {m}×{n} matrix (its extra columns of Q are not unique)" if mode == "complete" else ""
        raise TypeError(f"kronvec cannot differentiate {_QR} with mode={mode!r}{why}; use mode='reduced' or 'r' "
                        "(see kronvec.SUPPORTED_FUNCTIONS)")
    if m < n:
        raise TypeError(f"kronvec cannot differentiate {_QR} of a wide {m}×{n} matrix (m < n) yet "
                        "(see kronvec.SUPPORTED_FUNCTIONS)")
    if mode == "r":
        return bind(qr_r, a)
    return QRResult(bind(qr_q, a), bind(qr_r, a))


for _op in (qr_q, qr_r):
    _as_one_member(_op)
del _op
