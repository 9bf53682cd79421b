"""Factorizations: Cholesky, the symmetric eigendecomposition, the SVD and QR,
and what NumPy builds on them (pinv, lstsq, matrix_power, cond, matrix_rank).

    A = LLᵀ      dL = L Φ(L⁻¹ dA L⁻ᵀ)               D chol = (I ⊗ L)·Diag(vec φ)·(L⁻¹ ⊗ L⁻¹)·N
    A = VΛVᵀ     dλ = diag(Vᵀ dA V)                  D λ    = S_diag·(Vᵀ ⊗ Vᵀ)
                 dV = V (F ∘ Vᵀ dA V)                D V    = (I ⊗ V)·Diag(vec F)·(Vᵀ ⊗ Vᵀ)·N
    X = UΣVᵀ     dσ = diag(Uᵀ dX V); dU, dV as Townsend (2016)
    A = QR       C = Qᵀ dA R⁻¹, Ω = tril(C, −1) − tril(C, −1)ᵀ:  dR = (C − Ω) R,  dQ = Q(Ω − C) + dA R⁻¹
    A⁺           dA⁺ = −A⁺ dA A⁺ + A⁺A⁺ᵀ dAᵀ (I − AA⁺) + (I − A⁺A) dAᵀ A⁺ᵀA⁺

φ keeps the strict lower triangle and halves the diagonal; Fᵢⱼ = 1/(λⱼ − λᵢ)
off the diagonal; N = ½(I + K) symmetrizes the direction.  One module each:
:mod:`.cholesky_factor`, :mod:`.eigh`, :mod:`.svd` (with ``hermitian=True``),
:mod:`.qr`, :mod:`.least_squares` (pinv, lstsq) and :mod:`.derived`
(matrix_power, cond, matrix_rank).

**Symmetric input.**  ``np.linalg.cholesky``, ``eigh`` and ``eigvalsh`` read one
triangle of their argument; kronvec differentiates them *along symmetric
directions*, so gradients come back symmetric (``notes/conventions.md`` §10;
:mod:`kronvec.ops._symmetric_directions`).

**Where it is not smooth: right or loud.**  Eigenvector and singular-vector
derivatives at repeated eigen/singular values raise ``LinAlgError`` naming
the gap; eigenvalues tied at a repeated eigenvalue share their derivative
evenly (the derivative of their mean, as ties of ``max`` are split), which is
exact for every symmetric function of them (their sum, tr f(A)); a matrix that
is not positive definite raises ``LinAlgError`` naming its leading minor.
Signs of eigenvectors, singular vectors and of the diagonal of R are LAPACK's,
as NumPy returns them, and the derivatives are of those.

One decomposition per matrix and call, shared by the value, the VJPs and the
Jacobians (:mod:`kronvec.ops._matrix_support`).  **Stacks** (…, m, n) go through
every factorization here but lstsq (2-D in NumPy too), as NumPy broadcasts them:
the values are NumPy's batched results, the VJPs the same formulas with batched
products, the Jacobians products of batched block operators (``BatchedKron``,
member-wise masks and index maps from ``kronvec/ops/_stack_factors.py``), errors
name the members; a stack of one member goes through the 2-D rules.
Derivations: ``notes/derivatives.md`` §23 and §24.5.
"""

from . import derived  # noqa: F401 (registers np.linalg.matrix_power, cond and matrix_rank)
from .cholesky_factor import cholesky
from .eigh import eigh_vectors, eigvalsh
from .least_squares import lstsq, lstsq_residuals, pinv
from .qr import qr_q, qr_r
from .svd import (extreme_singular_value, left_singular_vectors, right_singular_vectors, signed_order_gather,
                  signed_order_scatter, signed_spectrum_guard, singular_values)

__all__ = ["cholesky", "eigvalsh", "eigh_vectors", "singular_values", "left_singular_vectors",
           "right_singular_vectors", "qr_q", "qr_r", "pinv", "lstsq", "lstsq_residuals",
           "extreme_singular_value", "signed_spectrum_guard", "signed_order_gather", "signed_order_scatter"]
