"""Symmetric input: the derivative along symmetric directions.

``np.linalg.cholesky``, ``eigh`` and ``eigvalsh`` (and SciPy's symmetric solvers)
read one triangle of their argument.  kronvec differentiates them *along
symmetric directions*: its derivative is that of the function of sym(A) =
(A + Aᵀ)/2, the Jacobian composed with N = ½(I + K_{n,n}), so gradients come back
symmetric (``notes/conventions.md`` §10).  The registered operations are
therefore functions of sym(A); their front doors hand them A itself when A is
exactly symmetric (the value is then NumPy's, bit for bit), and otherwise the
symmetric matrix NumPy actually factors — the triangle it reads, mirrored —
recorded by :data:`symmetric_reading`, so that its derivative follows.
"""

from __future__ import annotations


import numpy as np

from .._tracer import Node, compile_guard
from ..operators import Commutation, Identity, Product, Scaled, Sum, algebra
from ._registry import Primitive, Sample, register
from ._support import bind, decided, derived_label, plain_value
from .indexing import where_replayed
from ._matrix_support import _as_float, _mT


def _exactly_symmetric(A):
    """Aᵀ = A exactly (every member of a stack).  Large matrices: the first row against the first column settles
    most nonsymmetric ones at once, then bands of 128 rows against the matching columns,
    which reads the transposed half cache-friendly (a third faster at n = 1024)."""
    if A.ndim > 2:
        return bool((A == np.swapaxes(A, -1, -2)).all())
    n = A.shape[0]
    if n <= 256:
        return bool((A == A.T).all())
    if not np.array_equal(A[0], A[:, 0]):
        return False
    block = 128
    for i in range(0, n, block):
        if not np.array_equal(A[i:i + block, :i + block], A[:i + block, i:i + block].T):
            return False
    return True


def _symmetric_part(A):
    """sym(A) = (A + Aᵀ)/2: A itself when it is exactly symmetric."""
    return A if _exactly_symmetric(A) else (A + np.swapaxes(A, -1, -2)) / 2


def _what_numpy_reads(a, lower):
    """The symmetric matrix NumPy factors when given `a` (it reads one triangle):
    `a` itself when exactly symmetric, else that triangle mirrored — recorded,
    so its derivative (which ignores the other triangle) follows."""
    if compile_guard(a) is not None:
        # A recording made for replay cannot decide on a's symmetry once: the
        # decision is one recorded operation, taken again by every replay.
        return bind(symmetric_reading, a, lower=lower)
    if _exactly_symmetric(_as_float(plain_value(a))):
        return a
    if lower:
        return np.tril(a) + _mT(np.tril(a, -1))
    return np.triu(a) + _mT(np.triu(a, 1))


def _symmetric_reading_impl(A, lower):
    # (the values _what_numpy_reads records, operation for operation: bit for bit the same)
    if _exactly_symmetric(_as_float(A)):
        return A
    if lower:
        return np.tril(A) + _mT(np.tril(A, -1))
    return np.triu(A) + _mT(np.triu(A, 1))


def _symmetric_reading_vjp(g, ans, A, lower):
    # The pullbacks of the operations _what_numpy_reads records (tril, swapaxes, add).
    if isinstance(A, Node) and compile_guard(A) is not None:
        # a traced VJP in a recording made for replay (hvp): the symmetry test is recorded,
        # each replay takes it on its own values and picks one of the two pullbacks
        folded = np.tril(g) + np.tril(_mT(g), -1) if lower else np.triu(g) + np.triu(_mT(g), 1)
        return bind(where_replayed, g, folded, decided(_symmetry_flag, A))
    if _exactly_symmetric(_as_float(plain_value(A))):
        return g
    if lower:
        return np.tril(g) + np.tril(_mT(g), -1)
    return np.triu(g) + np.triu(_mT(g), 1)


def _symmetry_flag(A):
    return np.asarray(_exactly_symmetric(_as_float(np.asarray(A))))


symmetric_reading = register(Primitive(
    _symmetric_reading_impl, name="linalg.symmetric_reading",
    vjps={0: _symmetric_reading_vjp},
    label=lambda a, lower=True: derived_label("sym(tril({}))" if lower else "sym(triu({}))", a),
    formula="I at an exactly symmetric A (derivative along symmetric directions); else "
            "vec(tril(dA) + tril(dA, −1)ᵀ), the triangle NumPy reads, mirrored",
    reference="notes/conventions.md (Cholesky and eigh read one triangle); LAPACK dpotrf/dsyevd UPLO",
    samples=lambda rng, n: Sample((rng.standard_normal((n, n)),), {"lower": bool(rng.integers(2))}),
    # (no exactly symmetric sample: there the value is A but a non-symmetric step leaves
    # the branch, so finite differences see the other branch; tests/test_compile.py
    # checks that branch against the recording it stands for)
    param_names=("A",),
    signature="(m,m)->(m,m)",
))


def _symmetrizer(n, dtype=np.float64):
    """N = ½(I + K_{n,n}): vec dA ↦ vec sym(dA) (in `dtype`: a float32 Jacobian stays float32)."""
    return algebra.scale(algebra.add(Identity(n * n, dtype), Commutation(n, n, dtype)), 0.5)


def _symmetrized_product(n, *factors):
    """F₁ ⋯ F_k · ½(I + K_{n,n}) for the Jacobians of the Cholesky factor and of eigh's
    eigenvectors, (I ⊗ A)·Diag·(B ⊗ C)·N.  No law combines these neighbours (none is
    written for Kron·Diag, Diag·Kron or Kron·(I + K)), so for n ≥ 2 the product is
    built as ``algebra.multiply`` builds it — ½ outside, one flat Product — without its
    law lookups (they were a third of the build at n = 32, where the whole dense
    Jacobian takes about 2 ms); for n ≤ 1, where K = I, the laws simplify it."""
    # (N in the factors' precision: float64 identity and commutation made a float32 input's
    # Jacobian float64, against conventions.md §4)
    dtype = np.result_type(*(factor.dtype for factor in factors))
    if n < 2:
        result = _symmetrizer(n, dtype)
        for factor in reversed(factors):
            result = algebra.multiply(factor, result)
        return result
    return Scaled(0.5, Product([*factors, Sum([Identity(n * n, dtype), Commutation(n, n, dtype)])]))

