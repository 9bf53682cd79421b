"""Adversarial sweep of kronvec's structured operators (kronvec.operators, kronvec.algebra) and of
the scipy.optimize adapters (kronvec.optimize).

Operators: every leaf (Dense, Sparse, Diag, RowVector, Identity, Zero, Selection and its transpose,
Commutation, Duplication, Elimination, Wrapped), Kron of every kind of factor (non-square, 1×n, n×1,
0-size, scaled, float32, mixed), KroneckerSum and its Sylvester inverse, TriangleFold,
HalvedLowerMask, BatchedKron/BatchedDense, the Jacobians kronvec.jacobian builds (checked against
central differences first), and composites (sums, products, transposes, scalings,
powers, random algebra chains up to 40 terms) — each against a dense matrix built independently
with NumPy from the definitions.  For each: toarray, tosparse (canonical CSR), matvec with (n,)
and (n, 1), matmat with (n, k) for k = 0, 2, 9, rmatvec/rmatmat, x @ A, the dot test
<A x, y> = <x, Aᵀ y> (1e-12 relative), operands in Fortran order / negative strides / read-only /
float32 / int / scipy.sparse, A.solve(b) for b of every form (sparse, no columns,
F-order), inputs untouched, results not aliasing inputs, pickle and deepcopy,
arrays mutated after building (captured by value), two threads applying one operator, lsqr
through scipy.sparse.linalg; shape mismatches (ValueError naming both shapes), a dense or sparse
result above the limit refused before allocating (tracemalloc), naming bytes and the alternative.

Optimize: minimize with BFGS, L-BFGS-B, CG, Newton-CG, trust-ncg, trust-krylov, trust-constr,
dogleg, trust-exact against closed forms (plain, symmetric=True, two stacked unknowns, bounds),
the gradient / hessp / Hessian handed to SciPy against central differences of f in x
coordinates, least_squares with operator / sparse / dense Jacobians, bounds, jac="2-point" with
jac_sparsity, Jacobians against differences of the residuals.

Run standalone from the repository root (prints one line per finding and a summary):

    python tests/sweeps/operators.py [-k substr] [-v]

From Python, ``run(filter=None, echo=None)`` returns the findings as (category, case, message).
  WRONG   a number differs from the dense / closed-form / finite-difference reference
  CRASH   an internal error (not a clear kronvec refusal)
  UNCLEAR a refusal whose message does not say what was refused (shapes, bytes, who)
  REFUSED a clear refusal of something reasonable (listed with -v only)

Every random draw comes from one generator seeded afresh by each ``run()``.
"""
import copy
import pickle
import pathlib
import sys
import threading
import tracemalloc


import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

import kronvec  # noqa: E402
import kronvec.optimize as kvo  # noqa: E402
from kronvec import algebra  # noqa: E402
from kronvec.operators import (  # noqa: E402
    BatchedDense, BatchedKron, Commutation, Dense, Diag, Duplication, Elimination,
                               HalvedLowerMask, Identity, Kron, KroneckerSum, RowVector, Selection, Sparse,
                               TriangleFold, Wrapped, Zero, selection_from_index)

if str(pathlib.Path(__file__).resolve().parent) not in sys.path:  # (its sibling, run as a script or loaded by path)
    sys.path.append(str(pathlib.Path(__file__).resolve().parent))
from _sweep_checks import command_line, run_cases, short, vec, where  # noqa: E402

SEED = 20261205


# ------------------------------------------------------------------ references from definitions
def commutation_dense(m, n):
    """K with K vec(X) = vec(Xᵀ), X m×n, from the definition."""
    K = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            K[j + i * n, i + j * m] = 1.0
    return K


def lower_pairs(n):
    return [(i, j) for j in range(n) for i in range(j, n)]  # vech order: column by column


def duplication_dense(n):
    pairs = lower_pairs(n)
    D = np.zeros((n * n, len(pairs)))
    for t, (i, j) in enumerate(pairs):
        D[i + j * n, t] = 1.0
        D[j + i * n, t] = 1.0
    return D


def elimination_dense(n):
    pairs = lower_pairs(n)
    L = np.zeros((len(pairs), n * n))
    for t, (i, j) in enumerate(pairs):
        L[t, i + j * n] = 1.0
    return L


def batched_dense(blocks):
    """Member k's block at rows k + K·a, columns k + K·b (the stack layout)."""
    K, m, n = blocks.shape
    out = np.zeros((K * m, K * n))
    for k in range(K):
        out[np.ix_(k + K * np.arange(m), k + K * np.arange(n))] = blocks[k]
    return out



def close(a, b, rtol=1e-12):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    return bool(np.all(np.abs(a - b) <= rtol * scale * max(1, b.size) ** 0.5))


class PassThrough(spla.LinearOperator):
    """A SciPy LinearOperator (the identity) that hands back its very input, defining
    only _matvec/_rmatvec (SciPy stacks columns for matmat; none to stack is its edge)."""

    def __init__(self, n):
        super().__init__(np.float64, (n, n))

    def _matvec(self, x):
        return x

    def _rmatvec(self, x):
        return x


# ------------------------------------------------------------------ the operator zoo
def zoo(rng):
    """(name, build) pairs; build() -> (operator, dense reference, source arrays used)."""
    R = rng.standard_normal
    cases = []

    def add(name, build):
        cases.append((name, build))

    def dense_case(name, M):
        add(name, lambda M=M: (Dense(M), np.array(M, dtype=np.float64), [M]))

    A34 = R((3, 4))
    dense_case("Dense 3x4", A34)
    dense_case("Dense 1x5", R((1, 5)))
    dense_case("Dense 5x1", R((5, 1)))
    dense_case("Dense 0x3", np.zeros((0, 3)))
    dense_case("Dense 3x0", np.zeros((3, 0)))
    dense_case("Dense f32", R((3, 4)).astype(np.float32))
    dense_case("Dense int", rng.integers(-3, 4, (3, 3)))
    dense_case("Dense F-order", np.asfortranarray(R((4, 3))))
    dense_case("Dense neg-stride", R((4, 6))[::-1, ::-2])
    ro = R((3, 3))
    ro.flags.writeable = False
    dense_case("Dense read-only view of writeable", R((3, 3))[:, :])
    add("Dense read-only", lambda: (Dense(ro), ro.copy(), []))

    S = sp.random_array((5, 4), density=0.4, random_state=rng, format="csr")
    add("Sparse csr", lambda: (Sparse(S), S.toarray(), []))
    coo = sp.coo_array((np.array([1.0, 2.0, -3.0]), (np.array([0, 0, 2]), np.array([1, 1, 0]))), shape=(3, 2))
    add("Sparse coo with duplicates", lambda: (Sparse(coo), coo.toarray(), []))
    add("Sparse f32", lambda: (Sparse(S.astype(np.float32)), S.astype(np.float32).toarray(), []))
    add("Sparse empty 0x3", lambda: (Sparse(sp.csr_array((0, 3))), np.zeros((0, 3)), []))

    d = R(5)
    add("Diag", lambda: (Diag(d), np.diag(d), [d]))
    d0 = np.array([1.0, 0.0, -2.0])
    add("Diag with zero", lambda: (Diag(d0), np.diag(d0), [d0]))
    add("Diag f32", lambda: (Diag(d.astype(np.float32)), np.diag(d.astype(np.float32)), []))
    add("Diag empty", lambda: (Diag(np.zeros(0)), np.zeros((0, 0)), []))
    v = R(6)
    add("RowVector", lambda: (RowVector(v), v[None, :].copy(), [v]))
    for n in (0, 1, 5):
        add(f"Identity({n})", lambda n=n: (Identity(n), np.eye(n), []))
    add("Identity f32", lambda: (Identity(3, np.float32), np.eye(3), []))
    add("Zero 3x4", lambda: (Zero((3, 4)), np.zeros((3, 4)), []))
    add("Zero 0x2", lambda: (Zero((0, 2)), np.zeros((0, 2)), []))
    idx = rng.integers(0, 5, 7)
    add("Selection with repeats", lambda: (Selection(idx, 5), np.eye(5)[idx], [idx]))
    add("SelectionTranspose with repeats", lambda: (Selection(idx, 5).T, np.eye(5)[idx].T, [idx]))
    add("Selection empty", lambda: (Selection(np.zeros(0, int), 3), np.zeros((0, 3)), []))
    add("Selection empty .T", lambda: (Selection(np.zeros(0, int), 3).T, np.zeros((3, 0)), []))
    add("selection_from_index -> K", lambda: (selection_from_index(commutation_dense(2, 3).argmax(1), 6),
                                               commutation_dense(2, 3), []))
    for m, n in ((2, 3), (3, 2), (1, 4), (4, 1), (3, 3), (0, 2), (1, 1)):
        add(f"Commutation({m},{n})", lambda m=m, n=n: (Commutation(m, n), commutation_dense(m, n), []))
        add(f"Commutation({m},{n}).T", lambda m=m, n=n: (Commutation(m, n).T, commutation_dense(m, n).T, []))
    for n in (0, 1, 2, 3):
        add(f"Duplication({n})", lambda n=n: (Duplication(n), duplication_dense(n), []))
        add(f"Elimination({n})", lambda n=n: (Elimination(n), elimination_dense(n), []))
        add(f"Duplication({n}).T", lambda n=n: (Duplication(n).T, duplication_dense(n).T, []))
    W = R((4, 3))
    add("Wrapped aslinearoperator", lambda: (Wrapped(spla.aslinearoperator(W)), W.copy(), []))
    add("Wrapped pass-through LinearOperator", lambda: (Wrapped(PassThrough(4)), np.eye(4), []))

    # Kron of every kind of factor
    def kron_case(name, a, b, da, db, scale=1.0, sources=()):
        add(name, lambda: (Kron(a() if callable(a) else a, b() if callable(b) else b, scale),
                           scale * np.kron(da, db), list(sources)))

    A23, B41, C15 = R((2, 3)), R((4, 1)), R((1, 5))
    kron_case("Kron 2x3 (x) 4x1", A23, B41, A23, B41, sources=(A23, B41))
    kron_case("Kron 1x5 (x) 2x3", C15, A23, C15, A23, sources=(C15, A23))
    kron_case("Kron 4x1 (x) 1x5", B41, C15, B41, C15)
    kron_case("Kron 2x3 (x) 4x1 scale -2.5", A23, B41, A23, B41, scale=-2.5)
    kron_case("Kron scale 0", A23, B41, A23, B41, scale=0.0)
    kron_case("Kron 0x3 (x) 4x1", np.zeros((0, 3)), B41, np.zeros((0, 3)), B41)
    kron_case("Kron 2x0 (x) 4x1", np.zeros((2, 0)), B41, np.zeros((2, 0)), B41)
    kron_case("Kron I3 (x) 2x3", lambda: Identity(3), A23, np.eye(3), A23)
    kron_case("Kron 2x3 (x) I3", A23, lambda: Identity(3), A23, np.eye(3))
    kron_case("Kron I2 (x) I3", lambda: Identity(2), lambda: Identity(3), np.eye(2), np.eye(3))
    kron_case("Kron sparse (x) dense", lambda: Sparse(S), A23, S.toarray(), A23)
    kron_case("Kron diag (x) selection", lambda: Diag(d), lambda: Selection(idx, 5), np.diag(d), np.eye(5)[idx])
    kron_case("Kron K(2,3) (x) 2x3", lambda: Commutation(2, 3), A23, commutation_dense(2, 3), A23)
    kron_case("Kron f32 (x) f32", A23.astype(np.float32), B41.astype(np.float32),
              A23.astype(np.float32), B41.astype(np.float32))
    kron_case("Kron f32 (x) f64", A23.astype(np.float32), B41, A23.astype(np.float32), B41)
    kron_case("Kron f32 (x) I", A23.astype(np.float32), lambda: Identity(2), A23.astype(np.float32), np.eye(2))
    kron_case("Kron nested (Kron (x) dense)", lambda: Kron(A23, C15), B41, np.kron(A23, C15), B41)
    kron_case("Kron Wrapped (x) dense", lambda: Wrapped(spla.aslinearoperator(W)), A23, W, A23)
    kron_case("Kron transpose-of-sum (x) dense", lambda: (Dense(A34) + Sparse(sp.csr_array(A34))).T, B41,
              2 * A34.T, B41)
    kron_case("Kron F-order/neg-stride factors", np.asfortranarray(A34), R((6, 4))[::-2, ::-1], A34, None)
    cases[-1] = (cases[-1][0], _fix_layout_case(A34, R))
    P, Q = R((3, 3)), R((4, 4))
    add("KroneckerSum", lambda: (KroneckerSum(P, Q), np.kron(np.eye(4), P) + np.kron(Q.T, np.eye(3)), [P, Q]))
    add("SylvesterInverse", lambda: (KroneckerSum(P + 5 * np.eye(3), Q + 5 * np.eye(4)).inv(),
                                     np.linalg.inv(np.kron(np.eye(4), P + 5 * np.eye(3))
                                                   + np.kron((Q + 5 * np.eye(4)).T, np.eye(3))), []))
    for n in (1, 3):
        Tn = np.zeros((n * n, n * n))
        Hn = np.zeros((n * n, n * n))
        for i in range(n):
            for j in range(n):
                if i <= j:
                    Tn[i + j * n, i + j * n] += 1
                else:
                    Tn[j + i * n, i + j * n] += 1
                Hn[i + j * n, i + j * n] = 1.0 if i > j else (0.5 if i == j else 0.0)
        add(f"TriangleFold({n})", lambda n=n, Tn=Tn: (TriangleFold(n), Tn, []))
        add(f"HalvedLowerMask({n})", lambda n=n, Hn=Hn: (HalvedLowerMask(n), Hn, []))
    BA, BB = R((3, 2, 3)), R((3, 4, 1))
    add("BatchedKron arrays", lambda: (BatchedKron(BA, BB),
                                       batched_dense(np.stack([np.kron(BA[k], BB[k]) for k in range(3)])), [BA, BB]))
    add("BatchedKron I (x) arrays scale", lambda: (BatchedKron(2, BB, -0.5),
                                                   batched_dense(np.stack([-0.5 * np.kron(np.eye(2), BB[k])
                                                                           for k in range(3)])), []))
    add("BatchedKron I (x) I count", lambda: (BatchedKron(2, 3, count=4), np.eye(24), []))
    add("BatchedKron f32", lambda: (BatchedKron(BA.astype(np.float32), BB.astype(np.float32)),
                                    batched_dense(np.stack([np.kron(BA[k], BB[k]) for k in range(3)])
                                                  .astype(np.float32)), []))
    BM = R((4, 2, 3))
    add("BatchedDense", lambda: (BatchedDense(BM), batched_dense(BM), [BM]))
    add("BatchedDense .T", lambda: (BatchedDense(BM).T, batched_dense(BM).T, []))

    # composites
    Kx = Kron(A23, B41)  # 8×3
    G = R((8, 3))
    add("Sum Kron + Dense", lambda: (Kron(A23, B41) + Dense(G), np.kron(A23, B41) + G, []))
    add("Difference Kron - Sparse", lambda: (Kron(A23, B41) - sp.csr_array(G), np.kron(A23, B41) - G, []))
    add("Product K^T K", lambda: (Kx.T @ Kx, np.kron(A23, B41).T @ np.kron(A23, B41), []))
    add("Product (Kron) (Dense) rect", lambda: (Kron(A23, B41) @ Dense(R((3, 2))), None, []))
    cases[-1] = (cases[-1][0], _rect_product_case(A23, B41, R((3, 2))))
    add("Scaled Sum .T", lambda: ((-3.0 * (Kron(A23, B41) + Dense(G))).T, -3.0 * (np.kron(A23, B41) + G).T, []))
    Sq = R((6, 6))
    add("Power (Dense + K(2,3))**3", lambda: ((Dense(Sq) + Commutation(2, 3)) ** 3,
                                              np.linalg.matrix_power(Sq + commutation_dense(2, 3), 3), []))
    add("Power Kron**0", lambda: (Kron(R((2, 2)), R((3, 3))) ** 0, np.eye(6), []))
    add("Commutation @ Kron (law)", lambda: (Commutation(4, 2) @ Kron(A23, B41),
                                              commutation_dense(4, 2) @ np.kron(A23, B41), []))
    add("Kron @ Commutation (law)", lambda: (Kron(C15, B41) @ Commutation(5, 1),
                                              np.kron(C15, B41) @ commutation_dense(5, 1), []))
    add("Kron @ Kron (mixed product)", lambda: (Kron(A23, B41) @ Kron(R((3, 2)) * 0 + A23.T, C15), None, []))
    cases[-1] = (cases[-1][0], _mixed_case(A23, B41, C15))
    add("Kron + Kron sharing A", lambda: _shared_factor_case(A23, B41, R))
    add("Kron Zero (x) dense", lambda: (Kron(Zero((2, 3)), A23), np.zeros((4, 9)), []))
    add("Kron SelectionTranspose (x) dense", lambda: (Kron(Selection([0, 0, 1], 2).T, A23),
                                                      np.kron(np.eye(2)[[0, 0, 1]].T, A23), []))
    f = np.float32
    A2f, B3f = R((2, 2)).astype(f), R((3, 3)).astype(f)
    add("f32 chain (A⊗B + K)·diag, transposed", lambda: (((Kron(A2f, B3f) + Commutation(2, 3, f))
                                                          @ Diag(np.arange(6, dtype=f))).T,
                                                         ((np.kron(A2f, B3f) + commutation_dense(2, 3))
                                                          @ np.diag(np.arange(6.0))).T.astype(f), []))
    add("f32 Kron**3 - 0.5 Kron", lambda: (Kron(A2f, B3f) ** 3 - 0.5 * Kron(A2f, B3f),
                                          (np.linalg.matrix_power(np.kron(A2f, B3f).astype(np.float64), 3)
                                           - 0.5 * np.kron(A2f, B3f)).astype(f), []))
    add("Selection @ Selection.T (embedding)", lambda: (Selection([0, 2, 4], 6) @ Selection([2, 0, 5, 1], 6).T,
                                                        np.eye(6)[[0, 2, 4]] @ np.eye(6)[[2, 0, 5, 1]].T, []))
    return cases


def _fix_layout_case(A34, R):
    Bn = R((6, 4))[::-2, ::-1]
    return lambda: (Kron(np.asfortranarray(A34), Bn), np.kron(A34, Bn), [])


def _rect_product_case(A23, B41, M32):
    return lambda: (Kron(A23, B41) @ Dense(M32), np.kron(A23, B41) @ M32, [M32])


def _mixed_case(A23, B41, C15):
    return lambda: (Kron(A23, B41) @ Kron(A23.T, C15), np.kron(A23, B41) @ np.kron(A23.T, C15), [])


def _shared_factor_case(A23, B41, R):
    a = Dense(A23)
    B2 = R((4, 1))
    return Kron(a, B41, 2.0) + Kron(a, B2, -1.0), 2 * np.kron(A23, B41) - np.kron(A23, B2), []


# ------------------------------------------------------------------ the operator checker
def _probe_inputs(rng, n, k):
    """(label, x, reference as float64) for matmat: layouts and dtypes."""
    X = rng.standard_normal((n, k))
    out = [("C", X), ("F", np.asfortranarray(X)), ("neg-stride", X[::-1].copy()[::-1])]
    ro = X.copy()
    ro.flags.writeable = False
    out.append(("read-only", ro))
    wide = rng.standard_normal((n, 2 * k))
    out.append(("strided cols", wide[:, ::2]))
    out.append(("f32", X.astype(np.float32)))
    out.append(("int", rng.integers(-2, 3, (n, k))))
    return out


def check_op(op, D, rng, sources, f32=False):
    out = []
    rtol = 2e-6 if f32 else 1e-12
    m, n = D.shape
    if op.shape != (m, n):
        return [("WRONG", f"shape {op.shape}, expected {(m, n)}")]
    if op.dtype not in (np.float32, np.float64):
        out.append(("WRONG", f"dtype {op.dtype}"))
    before = op.toarray()
    if not close(before, D, rtol):
        out.append(("WRONG", f"toarray differs from the dense reference by {np.abs(before - D).max():.3g}"))
    if before.dtype != op.dtype:
        out.append(("WRONG", f"toarray dtype {before.dtype} != op.dtype {op.dtype}"))
    S = op.tosparse()
    if not isinstance(S, sp.csr_array):
        out.append(("WRONG", f"tosparse gave {type(S).__name__}, not csr_array"))
    else:
        S2 = S.copy()
        S2.sum_duplicates()
        if S.nnz != S2.nnz or not S.has_sorted_indices:
            out.append(("WRONG", "tosparse is not canonical (duplicates or unsorted indices)"))
        if not close(S.toarray(), D, rtol):
            out.append(("WRONG", f"tosparse differs by {np.abs(S.toarray() - D).max():.3g}"))
    x = rng.standard_normal(n)
    y = rng.standard_normal(m)
    for label, got, want, shape in (
            ("matvec (n,)", lambda: op.matvec(x), D @ x, (m,)),
            ("matvec (n,1)", lambda: op.matvec(x[:, None]), (D @ x)[:, None], (m, 1)),
            ("rmatvec (m,)", lambda: op.rmatvec(y), D.T @ y, (n,)),
            ("rmatvec (m,1)", lambda: op.rmatvec(y[:, None]), (D.T @ y)[:, None], (n, 1)),
            ("A @ x", lambda: op @ x, D @ x, (m,)),
            ("y @ A", lambda: y @ op, y @ D, (n,)),
            ("A.T @ y", lambda: op.T @ y, D.T @ y, (n,)),
            ("A.T.T @ x", lambda: op.T.T @ x, D @ x, (m,)),
            ("A.H @ y", lambda: op.H @ y, D.T @ y, (n,)),
            ("matmat (n,0)", lambda: op.matmat(np.zeros((n, 0))), np.zeros((m, 0)), (m, 0)),
            ("rmatmat (m,0)", lambda: op.rmatmat(np.zeros((m, 0))), np.zeros((n, 0)), (n, 0)),
    ):
        try:
            r = got()
        except Exception as e:
            out.append(("CRASH", f"{label}: {short(e)}{where(e)}"))
            continue
        if np.shape(r) != shape:
            out.append(("WRONG", f"{label}: shape {np.shape(r)}, expected {shape}"))
        elif not close(r, want, rtol):
            out.append(("WRONG", f"{label}: differs by {np.abs(np.asarray(r) - want).max():.3g}"))
    for k in (2, 9):
        for label, X in _probe_inputs(rng, n, k):
            saved = np.array(X, copy=True)
            try:
                r = op.matmat(X)
            except Exception as e:
                out.append(("CRASH", f"matmat k={k} {label}: {short(e)}{where(e)}"))
                continue
            want = D @ np.asarray(X, dtype=np.float64)
            tol = 2e-6 if (f32 or label == "f32") else rtol
            if np.shape(r) != (m, k) or not close(r, want, tol):
                out.append(("WRONG", f"matmat k={k} {label}: shape {np.shape(r)} or values off"))
            exp_dtype = np.float32 if (label == "f32" and op.dtype == np.float32) else np.float64
            if label in ("f32", "int", "C") and r.dtype != exp_dtype and not (label == "f32" and r.dtype == np.float64
                                                                               and op.dtype == np.float64):
                out.append(("WRONG", f"matmat k={k} {label}: dtype {r.dtype} for op {op.dtype}"))
            if not np.array_equal(saved, X):
                out.append(("WRONG", f"matmat k={k} {label}: the input was modified"))
            if r.size and np.may_share_memory(r, X):
                out.append(("WRONG", f"matmat k={k} {label}: the result shares memory with the input"))
        Y = rng.standard_normal((m, k))
        try:
            r = op.rmatmat(Y[::-1][::-1] if k == 2 else np.asfortranarray(Y))
            if not close(r, D.T @ Y, rtol):
                out.append(("WRONG", f"rmatmat k={k}: values off"))
            r = Y.T @ op
            if not close(r, Y.T @ D, rtol):
                out.append(("WRONG", f"Y @ A k={k}: values off"))
        except Exception as e:
            out.append(("CRASH", f"rmatmat k={k}: {short(e)}{where(e)}"))
    # scipy.sparse inputs: either a number equal to the dense product or a clear refusal
    if n:
        xs = sp.csr_array(rng.standard_normal((n, 1)) * (rng.random((n, 1)) < 0.6))
        for label, call in (("matvec(sparse (n,1))", lambda: op.matvec(xs)),
                            ("matmat(sparse (n,1))", lambda: op.matmat(xs))):
            try:
                r = call()
            except (TypeError, ValueError) as e:
                if "sparse" not in str(e):
                    out.append(("UNCLEAR", f"{label}: {short(e)}"))
                else:
                    out.append(("REFUSED", f"{label}: {short(e)}"))
            except Exception as e:
                out.append(("CRASH", f"{label}: {short(e)}{where(e)}"))
            else:
                if not close(np.asarray(r.toarray() if sp.issparse(r) else r).reshape(m, 1), D @ xs.toarray(), rtol):
                    out.append(("WRONG", f"{label}: values off"))
    # the dot test (adjoint), relative to |Ax||y| + |x||Aᵀy|
    if m and n:
        for _ in range(3):
            x, y = rng.standard_normal(n), rng.standard_normal(m)
            Ax, Aty = op.matvec(x), op.rmatvec(y)
            lhs, rhs = float(np.dot(Ax, y)), float(np.dot(x, Aty))
            scale = np.linalg.norm(Ax) * np.linalg.norm(y) + np.linalg.norm(x) * np.linalg.norm(Aty) + 1e-300
            if abs(lhs - rhs) > (1e-5 if f32 else 1e-12) * scale:
                out.append(("WRONG", f"dot test <Ax,y>={lhs!r} <x,Aᵀy>={rhs!r}"))
                break
    # transpose materializations
    try:
        if not close(op.T.toarray(), D.T, rtol) or not close(op.T.tosparse().toarray(), D.T, rtol):
            out.append(("WRONG", "A.T.toarray/tosparse differ from Dᵀ"))
    except Exception as e:
        out.append(("CRASH", f"A.T materialization: {short(e)}{where(e)}"))
    # pickle / deepcopy
    for label, clone in (("pickle", lambda: pickle.loads(pickle.dumps(op))), ("deepcopy", lambda: copy.deepcopy(op))):
        try:
            c = clone()
            if not close(c.toarray(), D, rtol) or (n and not close(c.matvec(np.ones(n)), D @ np.ones(n), rtol)):
                out.append(("WRONG", f"{label}: the copy computes other numbers"))
            if not close(c.T.toarray(), D.T, rtol):
                out.append(("WRONG", f"{label}: the copy's transpose computes other numbers"))
        except Exception as e:
            out.append(("CRASH", f"{label}: {short(e)}{where(e)}"))
    # two threads applying the operator
    if m * n:
        Xs = [rng.standard_normal((n, 3)) for _ in range(2)]
        want = [op.matmat(X) for X in Xs]
        got, errors = [None, None], []

        def work(t):
            try:
                for _ in range(20):
                    r = op.matmat(Xs[t])
                    r2 = op.T.matmat(op.matmat(Xs[t]))
                got[t] = (r, r2)
            except Exception as e:  # pragma: no cover
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            out.append(("CRASH", f"threads: {short(errors[0])}"))
        elif any(not np.array_equal(got[t][0], want[t]) for t in range(2)):
            out.append(("WRONG", "two threads: results differ from the serial ones"))
    # scipy.sparse.linalg interop: lsqr through aslinearoperator
    if m and n and m * n <= 400:
        b = rng.standard_normal(m)
        L = spla.aslinearoperator(op)
        sol = spla.lsqr(L, b, atol=1e-14, btol=1e-14, iter_lim=20 * n)[0]
        normal = D.T @ (b - D @ sol)
        if np.linalg.norm(normal) > 1e-6 * (np.linalg.norm(D) ** 2 * np.linalg.norm(sol) + np.linalg.norm(D) * np.linalg.norm(b) + 1e-30):
            out.append(("WRONG", f"lsqr via aslinearoperator: normal-equation residual {np.linalg.norm(normal):.3g}"))
    # captured by value: mutate the arrays the operator was built from
    # (restored afterwards: other cases are built from the same arrays)
    mutated = [(src, src.copy()) for src in sources
               if isinstance(src, np.ndarray) and src.flags.writeable and src.size]
    for src, _ in mutated:
        src[...] = 0 if src.dtype.kind != "f" else np.nan
    try:
        if mutated and not np.array_equal(op.toarray(), before, equal_nan=True):
            out.append(("WRONG", "mutating an array after building the operator changed it (not captured by value)"))
    finally:
        for src, saved in mutated:
            src[...] = saved
    return out


# ------------------------------------------------------------------ algebra chains
def random_chain(rng, depth):
    """A random expression over 6×6 operators and its dense value, built side by side."""
    R = rng.standard_normal
    A2, B3 = R((2, 2)), R((3, 3))
    leaves = [
        (lambda: Kron(A2, B3), np.kron(A2, B3), "A⊗B"),
        (lambda: Kron(Identity(2), B3, -0.5), -0.5 * np.kron(np.eye(2), B3), "-½I⊗B"),
        (lambda: Commutation(2, 3), commutation_dense(2, 3), "K23"),
        (lambda: Commutation(3, 2), commutation_dense(3, 2), "K32"),
        (lambda: Identity(6), np.eye(6), "I"),
        (lambda: Diag(R(6)), None, "diag"),
        (lambda: Dense(R((6, 6))), None, "M"),
        (lambda: Selection(rng.integers(0, 6, 6), 6), None, "S"),
        (lambda: Sparse(sp.random_array((6, 6), density=0.3, random_state=rng)), None, "Sp"),
        (lambda: Zero((6, 6)), np.zeros((6, 6)), "0"),
        (lambda: algebra.kron(-2.0 * Dense(A2), Identity(3)), -2.0 * np.kron(A2, np.eye(3)), "-2A⊗I"),
        (lambda: algebra.kron(Identity(2), algebra.multiply(Dense(B3), Dense(B3).T)), np.kron(np.eye(2), B3 @ B3.T),
         "I⊗BBᵀ"),
    ]

    def leaf():
        build, dense, name = leaves[rng.integers(len(leaves))]
        op = build()
        return op, (op.toarray() if dense is None else dense), name

    op, D, text = leaf()
    for _ in range(depth):
        r = rng.integers(7)
        o2, D2, t2 = leaf()
        if r == 0:
            op, D, text = op + o2, D + D2, f"({text} + {t2})"
        elif r == 1:
            op, D, text = op @ o2, D @ D2, f"{text}·{t2}"
        elif r == 2:
            op, D, text = o2 @ op, D2 @ D, f"{t2}·{text}"
        elif r == 3:
            op, D, text = op.T, D.T, f"({text})ᵀ"
        elif r == 4:
            a = float(rng.choice([-1.0, 0.5, 2.0, -3.25]))
            op, D, text = a * op, a * D, f"{a:g}{text}"
        elif r == 5:
            op, D, text = op - o2.T, D - D2.T, f"({text} - {t2}ᵀ)"
        else:
            op, D, text = op ** 2, D @ D, f"({text})²"
    return op, D, text


def long_sum(rng, terms=40):
    """Σ_t s_t·(A_tᵀ ⊗ B_t)ᵀ·(C_t ⊗ I)·K: a sum of products of transposes of Krons (past the merge limit)."""
    R = rng.standard_normal
    op, D = None, np.zeros((6, 6))
    for t in range(terms):
        A, B, C = R((2, 2)), R((3, 3)), R((2, 2))
        s = float(rng.standard_normal())
        term = s * (Kron(A.T, B).T @ Kron(C, Identity(3)) @ Commutation(3, 2))
        D = D + s * (np.kron(A.T, B).T @ np.kron(C, np.eye(3)) @ commutation_dense(3, 2))
        op = term if op is None else op + term
    return op, D


# ------------------------------------------------------------------ refusals
def _names_shapes(err, *shapes):
    msg = str(err)
    return all(str(tuple(s)) in msg for s in shapes)


def mismatch_cases(rng):
    R = rng.standard_normal
    K = Kron(R((2, 3)), R((4, 1)))  # 8×3
    M = Dense(R((5, 2)))
    ops = [("Kron 8x3", K), ("Dense 5x2", M), ("Commutation 2,3", Commutation(2, 3)), ("Diag 4", Diag(R(4))),
           ("Sum 8x3", K + Dense(R((8, 3)))), ("Selection 3<-5", Selection([0, 4, 1], 5)),
           ("BatchedKron 12x9", BatchedKron(R((3, 2, 3)), R((3, 2, 1))))]
    cases = []
    for na, a in ops:
        for nb, b in ops:
            if a.shape[1] != b.shape[0]:
                cases.append((f"mismatch {na} @ {nb}", lambda a=a, b=b: a @ b, (a.shape, b.shape)))
            if a.shape != b.shape:
                cases.append((f"mismatch {na} + {nb}", lambda a=a, b=b: a + b, (a.shape, b.shape)))
        bad = np.ones(a.shape[1] + 1)
        cases.append((f"mismatch {na} @ x wrong length", lambda a=a, bad=bad: a @ bad, (a.shape, bad.shape)))
        cases.append((f"mismatch {na}.matvec (n,2)", lambda a=a: a.matvec(np.ones((a.shape[1], 2))),
                      (a.shape, (a.shape[1], 2))))
        badr = np.ones((2, a.shape[0] + 1))
        cases.append((f"mismatch X @ {na}", lambda a=a, badr=badr: badr @ a, (a.shape,)))
        cases.append((f"mismatch {na} @ 3-D", lambda a=a: a @ np.ones((a.shape[1], 2, 2)), (a.shape,)))
    return cases


def check_mismatch(call, shapes):
    try:
        call()
    except ValueError as e:
        if not _names_shapes(e, *shapes):
            return [("UNCLEAR", f"ValueError does not name the shapes {shapes}: {short(e)}")]
        return []
    except Exception as e:
        return [("UNCLEAR", f"expected a ValueError naming {shapes}, got {short(e)}{where(e)}")]
    return [("WRONG", "a mismatched operation returned a value")]


def memory_cases(rng):
    R = rng.standard_normal
    big = lambda: Kron(R((40, 40)), R((40, 40)))  # noqa: E731  (dense 1600×1600: 20 MB)
    return [
        ("limit Kron toarray", lambda: big().toarray(), "dense"),
        ("limit Kron.T toarray", lambda: big().T.toarray(), "dense"),
        ("limit Sum toarray", lambda: (big() + Identity(1600)).toarray(), "dense"),
        ("limit Product toarray", lambda: (big() @ Commutation(40, 40) @ big()).toarray(), "dense"),
        ("limit Scaled transpose toarray", lambda: (-2 * (big() @ big() + Diag(R(1600)))).T.toarray(), "dense"),
        ("limit Product dense_solve", lambda: (big() @ Diag(R(1600)) + Commutation(40, 40)).solve(np.ones(1600)), "dense"),
        ("limit BatchedKron toarray", lambda: BatchedKron(R((4, 20, 20)), R((4, 20, 20))).toarray(), "dense"),
        ("limit KroneckerSum toarray", lambda: KroneckerSum(R((40, 40)), R((40, 40))).toarray(), "dense"),
        ("limit Dense-Kron tosparse", lambda: big().tosparse(), "sparse"),
        ("limit Sum tosparse", lambda: (big() + big()).tosparse(), "sparse"),
        ("limit Product tosparse", lambda: (big() @ big()).tosparse(), "sparse"),
        ("limit Commutation(800,800) toarray at default limit", lambda: Commutation(800, 800).toarray(), "default"),
        ("limit Kron 400² default", lambda: Kron(R((400, 400)), R((400, 400))).toarray(), "default"),
    ]


def check_memory(call, kind):
    limit = 1 << 20
    settings = {} if kind == "default" else {f"{kind}_limit_bytes": limit}
    tracemalloc.start()
    try:
        with kronvec.config.override(**settings):
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            call()
    except MemoryError as e:
        peak = tracemalloc.get_traced_memory()[1] - base
        msg = str(e)
        out = []
        if "bytes" not in msg or not any(w in msg for w in ("matvec", "tosparse", "gmres", "operator")):
            out.append(("UNCLEAR", f"refusal does not name bytes and an alternative: {msg[:200]}"))
        cap = 16 << 20 if kind == "default" else 4 * limit
        if peak > cap:
            out.append(("WRONG", f"refused only after allocating {peak:,} bytes"))
        return out
    except Exception as e:
        return [("CRASH", f"{short(e)}{where(e)}")]
    finally:
        tracemalloc.stop()
    return [("WRONG", "a result above the limit was materialized")]


def refusal_cases(rng):
    """(name, call, exception type, words the message must hold): clear refusals."""
    K = Kron(rng.standard_normal((2, 3)), rng.standard_normal((2, 2)))
    return [
        ("refuse Selection float index", lambda: Selection([0.5, 1.0], 3), TypeError, ("Selection", "integer")),
        ("refuse Selection bool index", lambda: Selection([True, False], 2), TypeError, ("Selection", "integer")),
        ("refuse Selection out of range", lambda: Selection([0, 3], 3), ValueError, ("Selection", "3")),
        ("refuse Selection 2-D index", lambda: Selection([[0, 1]], 3), ValueError, ("Selection", "1-D")),
        ("refuse Identity(2.5)", lambda: Identity(2.5), TypeError, ("Identity", "2.5")),
        ("refuse Identity(-1)", lambda: Identity(-1), ValueError, ("Identity", "-1")),
        ("refuse Commutation(2.0, 3)", lambda: Commutation(2.0, 3), TypeError, ("Commutation", "2.0")),
        ("refuse Commutation(-1, 2)", lambda: Commutation(-1, 2), ValueError, ("Commutation", "-1")),
        ("refuse Duplication(-1)", lambda: Duplication(-1), ValueError, ("Duplication", "-1")),
        ("refuse Elimination(-1)", lambda: Elimination(-1), ValueError, ("Elimination", "-1")),
        ("refuse Elimination(1.5)", lambda: Elimination(1.5), TypeError, ("Elimination", "1.5")),
        ("refuse Zero((-1, 2))", lambda: Zero((-1, 2)), ValueError, ("Zero", "-1")),
        ("refuse Dense 1-D", lambda: Dense(np.ones(3)), ValueError, ("Dense", "(3,)")),
        ("refuse Dense complex", lambda: Dense(np.ones((2, 2), complex)), TypeError, ("complex",)),
        ("refuse Dense of an operator", lambda: Dense(Diag(np.ones(2))), TypeError, ("Diag", "toarray")),
        ("refuse Diag 2-D", lambda: Diag(np.ones((2, 2))), ValueError, ("Diag", "(2, 2)")),
        ("refuse Kron complex scale", lambda: Kron(np.eye(2), np.eye(2), 1j), TypeError, ("Kron", "scale")),
        ("refuse K / 0", lambda: K / 0, ZeroDivisionError, ("Kron", "zero")),
        ("refuse K * complex", lambda: K * 1j, TypeError, ("real",)),
        ("refuse K @ scalar", lambda: K @ 2.0, ValueError, ("scalar",)),
        ("refuse K ** 2 rectangular", lambda: K ** 2, ValueError, ("(4, 6)",)),
        ("refuse K ** -1", lambda: (K.T @ K) ** -1, ValueError, ("negative",)),
        ("refuse K.matvec complex", lambda: K.matvec(np.ones(6, complex)), TypeError, ("complex",)),
        ("refuse K.matvec masked", lambda: K.matvec(np.ma.array(np.ones(6))), TypeError, ("masked",)),
        ("refuse K.matvec object", lambda: K.matvec(np.array([None] * 6)), TypeError, ("object",)),
        ("refuse np.asarray(K)", lambda: np.asarray(K), TypeError, ("toarray",)),
        ("refuse K.solve rectangular", lambda: K.solve(np.ones(4)), ValueError, ("(4, 6)",)),
        ("refuse singular Kron.inv", lambda: Kron(np.zeros((2, 2)), np.eye(2)).inv(), np.linalg.LinAlgError, ("inv",)),
        ("refuse Sum of unequal shapes", lambda: K + Dense(np.ones((6, 4))), ValueError, ("(4, 6)", "(6, 4)")),
        ("refuse BatchedKron counts", lambda: BatchedKron(np.ones((2, 2, 2)), np.ones((3, 2, 2))), ValueError,
         ("(2, 2, 2)", "(3, 2, 2)")),
    ]


def check_refusal(call, exc, words):
    try:
        call()
    except exc as e:
        missing = [w for w in words if w not in str(e)]
        return [("UNCLEAR", f"the message lacks {missing}: {short(e)}")] if missing else []
    except Exception as e:
        return [("UNCLEAR", f"expected {exc.__name__}, got {short(e)}{where(e)}")]
    return [("WRONG", f"accepted: expected {exc.__name__}")]


def odd_operand_cases(rng):
    """Operands beyond plain ndarrays, and SciPy's solvers applying kronvec operators."""
    R = rng.standard_normal
    A, B = R((2, 3)), R((3, 2))
    K, D = Kron(A, B), np.kron(A, B)
    x = R(6)
    spd_a, spd_b = R((3, 3)), R((2, 2))
    spd_a, spd_b = spd_a @ spd_a.T + 3 * np.eye(3), spd_b @ spd_b.T + 2 * np.eye(2)
    S, SD = Kron(spd_a, spd_b), np.kron(spd_a, spd_b)
    N = Kron(spd_a, spd_b) + Commutation(3, 2) @ Diag(np.arange(1.0, 7.0))
    ND = SD + commutation_dense(3, 2) @ np.diag(np.arange(1.0, 7.0))
    M = R((6, 6))
    ro = R(6)
    ro.flags.writeable = False

    def unpickled_is_frozen():
        c = pickle.loads(pickle.dumps(Dense(A)))
        try:
            c.M[0, 0] = 1e9
        except ValueError:
            return None
        return "the unpickled operator's matrix is writeable"

    return [
        ("operand np.matrix column", lambda: K.matvec(np.asmatrix(x).T), D @ x[:, None]),
        ("operand np.matrix block", lambda: K.matmat(np.asmatrix(np.stack([x, 2 * x], 1))), D @ np.stack([x, 2 * x], 1)),
        ("operand list", lambda: K.matvec(list(x)), D @ x),
        ("operand read-only 1-D", lambda: K.matvec(ro), D @ ro),
        ("operand sparse 1-D coo_array", lambda: K.matvec(sp.coo_array(x)), D @ x),
        ("operand sparse rmatvec", lambda: K.rmatvec(sp.csr_array(R((6, 1)))), None),
        ("K @ scipy LinearOperator", lambda: (K @ spla.aslinearoperator(M)).toarray(), D @ M),
        ("scipy LinearOperator @ K", lambda: (spla.aslinearoperator(R((3, 6))) @ K) @ x, None),
        ("K + scipy sparse", lambda: (K + sp.csr_array(D)).toarray(), 2 * D),
        ("scipy sparse - K", lambda: (sp.csr_array(D) - K).toarray(), 0 * D),
        ("aslinearoperator(K) is K", lambda: spla.aslinearoperator(K) @ x, D @ x),
        ("cg on SPD Kron", lambda: spla.cg(S, x, rtol=1e-13, maxiter=200)[0], np.linalg.solve(SD, x)),
        ("gmres on Kron + K·diag", lambda: spla.gmres(N, x, rtol=1e-13, restart=6, maxiter=50)[0], np.linalg.solve(ND, x)),
        ("lsqr on rectangular Kron", lambda: spla.lsqr(K, D @ x, atol=1e-15, btol=1e-15, iter_lim=200)[0],
         np.linalg.lstsq(D, D @ x, rcond=None)[0]),  # (rank 4 of 6: the minimum-norm solution)
        ("minres on symmetric Kron", lambda: spla.minres(S, x, rtol=1e-13)[0], np.linalg.solve(SD, x)),
        ("Kron.solve vs dense", lambda: S.solve(x), np.linalg.solve(SD, x)),
        ("Kron.solve (n,2)", lambda: S.solve(np.stack([x, -x], 1)), np.linalg.solve(SD, np.stack([x, -x], 1))),
        ("Sum.solve (dense LU)", lambda: N.solve(x), np.linalg.solve(ND, x)),
        ("Kron.inv", lambda: S.inv().toarray(), np.linalg.inv(SD)),
        ("eigsh of SPD Kron", lambda: np.sort(spla.eigsh(S, k=2, which="LA")[0]), np.sort(np.linalg.eigvalsh(SD))[-2:]),
        ("svds of Kron", lambda: np.sort(spla.svds(K, k=2)[1]), np.sort(np.linalg.svd(D, compute_uv=False))[-2:]),
        ("expm_multiply of Kron", lambda: spla.expm_multiply(0.1 * S, x), None),
        ("unpickled operator frozen", unpickled_is_frozen, "frozen"),
    ]


def solve_cases(rng):
    """Square invertible operators of every kind, for A.solve(b) with b of every form."""
    R = rng.standard_normal
    P, Q = R((3, 3)) + 3 * np.eye(3), R((2, 2)) + 3 * np.eye(2)
    d = np.arange(1.0, 7.0)
    ops = [("Kron", lambda: Kron(P, Q)), ("Kron scaled", lambda: Kron(P, Identity(2), -0.5)),
           ("Dense", lambda: Dense(np.kron(P, Q))), ("Sparse", lambda: Sparse(sp.csr_array(np.kron(P, Q)))),
           ("Identity", lambda: Identity(6)), ("Diag", lambda: Diag(d)), ("Commutation", lambda: Commutation(3, 2)),
           ("Sum", lambda: Kron(P, Q) + Commutation(3, 2)), ("Product", lambda: Kron(P, Q) @ Diag(d)),
           ("Scaled Product", lambda: -2 * (Kron(P, Q) @ Diag(d))), ("KroneckerSum", lambda: KroneckerSum(P, Q)),
           ("SylvesterInverse", lambda: KroneckerSum(P, Q).inv()), ("Sum of Krons (Sylvester)",
                                                                    lambda: Kron(Identity(2), P) + Kron(Q, Identity(3))),
           ("BatchedKron", lambda: BatchedKron(np.stack([P, P.T]), 1)), ("transposed Product", lambda: (Kron(P, Q) @ Diag(d)).T)]
    cases = []
    for name, build in ops:
        for label, make in (("(n,)", lambda n: R(n)), ("(n,1)", lambda n: R((n, 1))), ("(n,3)", lambda n: R((n, 3))),
                            ("(n,0)", lambda n: np.zeros((n, 0))), ("sparse (n,1)", lambda n: sp.csr_array(R((n, 1)))),
                            ("sparse (n,2) csr_matrix", lambda n: sp.csr_matrix(R((n, 2)))),
                            ("f32", lambda n: R(n).astype(np.float32)), ("F-order", lambda n: np.asfortranarray(R((n, 2)))),
                            ("wrong rows", None)):
            cases.append((f"solve {name} b {label}", build, make))
    return cases


def check_solve(build, make):
    op = build()
    n = op.shape[0]
    if make is None:
        return check_mismatch(lambda: op.solve(np.ones(n + 1)), ((n + 1,),))
    b = make(n)
    bd = b.toarray() if sp.issparse(b) else np.asarray(b, dtype=np.float64)
    x = op.solve(b)
    if sp.issparse(x) or not isinstance(x, np.ndarray):
        return [("WRONG", f"solve returned {type(x).__name__}, not an array")]
    if x.shape != bd.shape:
        return [("WRONG", f"solve returned shape {x.shape} for b of shape {bd.shape}")]
    D = op.toarray()
    if not close(D @ x, bd, 1e-9):
        return [("WRONG", f"A x - b = {np.abs(D @ x - bd).max():.3g}")]
    return []


def jacobian_cases(rng):
    """Structured Jacobians kronvec builds (lazy sums and products of Krons, commutations, the
    direct-dense products of cholesky/eigh, a Sylvester inverse): (name, f, X)."""
    import kronvec.scipy.linalg as ksl

    R = rng.standard_normal
    X = R((3, 3))
    S = X @ X.T + 3 * np.eye(3)
    W = R((3, 2))
    return [
        # (cholesky and eigh: differences of f(sym X), the symmetric reading of notes/conventions.md §10)
        ("jacobian cholesky", lambda s: np.linalg.cholesky((s + s.T) / 2), S),
        ("jacobian inv", np.linalg.inv, S),
        ("jacobian eigh vectors", lambda s: np.linalg.eigh((s + s.T) / 2)[1], S),
        ("jacobian cholesky (convention)", np.linalg.cholesky, S, "sym"),
        ("jacobian solve_sylvester", lambda a: ksl.solve_sylvester(a, 5 * np.eye(3) + a.T, np.ones((3, 3))), S),
        ("jacobian kron(X, X[:2])", lambda a: np.kron(a, a[:2]), X),
        ("jacobian X Xᵀ", lambda a: a @ a.T, X),
        ("jacobian qr R", lambda a: np.linalg.qr(a)[1], X),
        ("jacobian einsum", lambda a: np.einsum("ij,jk->ik", a, a), X),
        ("jacobian rectangular Wᵀ X W", lambda w: w.T @ X @ w + np.tanh(w[:2]).sum(), W),
        ("jacobian stack inv", np.linalg.inv, np.stack([S, S + np.eye(3)])),
        ("jacobian f32 inv", np.linalg.inv, S.astype(np.float32)),
        ("jacobian slogdet row", lambda s: np.linalg.slogdet(s)[1], S),
    ]


def check_jacobian(f, X, sym=False):
    J = kronvec.jacobian(f)(X)
    fd_f = (lambda a: f((a + a.T) / 2)) if sym else f
    f32 = X.dtype == np.float32
    x64 = np.asarray(X, dtype=np.float64)
    eps = 1e-3 if f32 else 1e-6
    columns = []
    for i in range(x64.size):
        E = np.zeros(x64.size)
        E[i] = eps
        E = E.reshape(x64.shape, order="F")
        plus = np.asarray(fd_f((x64 + E).astype(X.dtype)), dtype=np.float64)
        minus = np.asarray(fd_f((x64 - E).astype(X.dtype)), dtype=np.float64)
        columns.append(vec(plus - minus) / (2 * eps))
    fd = np.stack(columns, axis=1)
    dense = J.toarray()
    if not close(dense, fd, 5e-3 if f32 else 1e-6):
        return [("WRONG", f"{J.formula()[:60]}: toarray vs differences {np.abs(dense - fd).max():.3g}")]
    return [(c, f"{J.formula()[:60]}: {m}") for c, m in check_op(J, dense.astype(np.float64), np.random.default_rng(0),
                                                               [], f32=f32)]


def check_odd(call, want):
    got = call()
    if isinstance(want, str):
        return [] if got is None else [("WRONG", got)]
    if want is None:
        return [] if np.all(np.isfinite(np.asarray(got.toarray() if sp.issparse(got) else got))) else [("WRONG", "non-finite")]
    got = np.asarray(got)
    if got.shape != np.shape(want):
        return [("WRONG", f"shape {got.shape}, expected {np.shape(want)}")]
    if not close(got, want, 1e-9):
        return [("WRONG", f"differs by {np.abs(got - want).max():.3g}")]
    return []


# ------------------------------------------------------------------ optimize
def fd_grad(fx, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (fx(x + e) - fx(x - e)) / (2 * eps)
    return g


def optimize_cases(rng):
    R = rng.standard_normal
    m, n, p = 4, 3, 2
    A = R((m, m)) + 3 * np.eye(m)
    Bm = R((n, n)) + 3 * np.eye(n)
    C = R((m, n))
    # f(X) = ½‖A X B − C‖²: X* = A⁻¹ C B⁻¹
    Xstar = np.linalg.solve(A, np.linalg.solve(Bm.T, C.T).T)

    def f_plain(X, A, B, C):
        return 0.5 * np.sum((A @ X @ B - C) ** 2)

    S = R((n, n))
    S = S @ S.T + n * np.eye(n)
    W = R((n, n))
    W = W @ W.T + np.eye(n)

    # symmetric: f(X) = ½ tr((X − S) W (X − S) W) + ... minimized over symmetric X at X = S
    def f_sym(X, S, W):
        E = X - S
        return 0.5 * np.trace(E @ W @ E @ W) + np.sum(X) ** 2 * 0.0

    # two stacked unknowns f(U, V) = ½‖U − P‖² + ½‖V − Q‖² + ⟨U, V⟩·0.1 (closed form by a linear solve)
    Pm, Qm = R((p, n)), R((n, p))

    def f_two(U, V, P, Q):
        return 0.5 * np.sum((U - P) ** 2) + 0.5 * np.sum((V - Q) ** 2) + 0.1 * np.sum(U * V.T)

    # stationarity: U − P + 0.1 Vᵀ = 0, V − Q + 0.1 Uᵀ = 0 ⇒ U = (P − 0.1 Qᵀ)/(1 − 0.01)
    U_star = (Pm - 0.1 * Qm.T) / 0.99
    V_star = (Qm - 0.1 * Pm.T) / 0.99
    cases = []
    methods = ["BFGS", "L-BFGS-B", "CG", "Newton-CG", "trust-ncg", "trust-krylov", "trust-constr", "dogleg",
               "trust-exact"]
    for meth in methods:
        opts = {"options": {"gtol": 1e-12, "maxiter": 2000}} if meth in ("BFGS", "CG", "trust-ncg", "trust-krylov",
                                                                          "trust-constr", "dogleg", "trust-exact") else {}
        if meth == "L-BFGS-B":
            opts = {"options": {"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000}}
        if meth == "Newton-CG":
            opts = {"options": {"xtol": 1e-12}}
        cases.append((f"minimize plain {meth}", ("min", f_plain, np.zeros((m, n)), (A, Bm, C), meth, False, opts,
                                                 Xstar)))
        if meth in ("trust-krylov", "trust-ncg", "CG"):
            # (SciPy's trust-krylov breaks down at gtol 1e-9 on this quadratic with its own dense hessp
            # too: NaN steps for 2400 iterations; kronvec names the breakdown. Its default gtol converges.)
            cases.append((f"minimize plain {meth} default gtol", ("min", f_plain, np.zeros((m, n)), (A, Bm, C), meth,
                                                                   False, {}, Xstar)))
        cases.append((f"minimize symmetric {meth}", ("min", f_sym, np.eye(n), (S, W), meth, True, opts, S)))
        if meth not in ("dogleg", "trust-exact"):
            cases.append((f"minimize two unknowns {meth}", ("min", f_two, (np.zeros((p, n)), np.zeros((n, p))),
                                                            (Pm, Qm), meth, False, opts, (U_star, V_star))))
    lo = np.full(m * n, -0.05)
    cases.append(("minimize bounds L-BFGS-B", ("bounds", f_plain, np.zeros((m, n)), (A, Bm, C), lo)))
    # derivatives in x coordinates vs differences
    cases.append(("derivatives plain", ("deriv", f_plain, (m, n), (A, Bm, C), False)))
    cases.append(("derivatives symmetric", ("deriv", f_sym, (n, n), (S, W), True)))
    cases.append(("derivatives two unknowns", ("deriv", f_two, ((p, n), (n, p)), (Pm, Qm), False)))
    cases.append(("derivatives symmetric stack", ("deriv", lambda X, S: np.sum(np.log(np.linalg.det(X)))
                                                  + np.sum(X * X) * 0.3 + np.sum(X * S), (2, n, n),
                                                  (np.stack([S, S.T]),), True)))
    cases.append(("derivatives hvp mode symmetric", ("deriv-hvp", f_sym, (n, n), (S, W), True)))
    cases.append(("derivatives hvp mode two", ("deriv-hvp", f_two, ((p, n), (n, p)), (Pm, Qm), False)))
    # least squares: r(X) = A X B − C, closed form X*
    def r_plain(X, A, B, C):
        return A @ X @ B - C

    for fmt in ("operator", "sparse", "dense"):
        cases.append((f"least_squares {fmt}", ("lsq", r_plain, np.zeros((m, n)), (A, Bm, C), fmt, {}, Xstar)))
    cases.append(("least_squares lm", ("lsq", r_plain, np.zeros((m, n)), (A, Bm, C), None, {"method": "lm"}, Xstar)))
    cases.append(("least_squares dogbox sparse", ("lsq", r_plain, np.zeros((m, n)), (A, Bm, C), "sparse",
                                                  {"method": "dogbox"}, Xstar)))
    # symmetric least squares: r(X) = X − S over symmetric X: X* = S
    cases.append(("least_squares symmetric", ("lsq", lambda X, S: X - S, np.eye(n), (S,), None, {}, S, True)))
    cases.append(("least_squares two unknowns", ("lsq", lambda U, V, P, Q: np.concatenate([vec(U - P), vec(V - Q.T)]),
                                                 (np.zeros((p, n)), np.zeros((n, p))), (Pm, Pm), "operator", {},
                                                 (Pm, Pm.T))))
    # bounds: r = X − C clipped by lower bound lo: X* = max(C, lo)
    cases.append(("least_squares bounds", ("lsq", lambda X, C: X - C, np.zeros((m, n)), (C,), "operator",
                                           {"bounds": (np.full(m * n, -0.2), np.inf)}, np.maximum(C, -0.2))))
    cases.append(("least_squares 2-point jac_sparsity", ("lsq", lambda X, C: X ** 3 - C, np.ones((m, n)), (C,),
                                                         "operator", {"jac": "2-point",
                                                                      "jac_sparsity": sp.eye_array(m * n)},
                                                         np.cbrt(C))))
    cases.append(("least_squares jacobian vs differences", ("lsq-jac", lambda X, A: np.tanh(A @ X) - X * X[:1, :],
                                                            (m, n), (A,))))
    return cases


def _x_close(got, want, tol):
    if isinstance(want, tuple):
        return all(close(g, w, tol) for g, w in zip(got, want))
    return close(got, want, tol)


def check_optimize(spec, rng):
    kind = spec[0]
    out = []
    if kind == "min":
        _, f, X0, args, meth, sym, opts, want = spec
        try:
            res = kvo.minimize(f, X0, *args, method=meth, symmetric=sym, **opts)
        except ValueError as e:
            if "the solver passed" in str(e) and "kronvec.optimize" in str(e):
                return [("REFUSED", f"SciPy's {meth} broke down, named as such: {short(e)}")]
            raise
        if not _x_close(res.X, want, 1e-5):
            err = max(np.abs(np.asarray(g) - w).max() for g, w in zip(res.X if isinstance(want, tuple) else (res.X,),
                                                                       want if isinstance(want, tuple) else (want,)))
            out.append(("WRONG", f"optimum off by {err:.3g} (success={res.success}, {res.message!s:.60})"))
        if sym and not np.array_equal(res.X, res.X.T):
            out.append(("WRONG", "symmetric=True returned a non-symmetric X"))
    elif kind == "bounds":
        _, f, X0, args, lo = spec
        res = kvo.minimize(f, X0, *args, method="L-BFGS-B", bounds=scipy.optimize.Bounds(lo, np.inf),
                           options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000})
        ref = scipy.optimize.minimize(lambda x: f(vec(x).reshape(X0.shape, order="F"), *args), vec(X0),
                                      method="L-BFGS-B", bounds=scipy.optimize.Bounds(lo, np.inf),
                                      options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000})
        if np.any(res.x < lo - 1e-12):
            out.append(("WRONG", "the bounds were violated"))
        if abs(res.fun - ref.fun) > 1e-6 * max(1.0, abs(ref.fun)):
            out.append(("WRONG", f"bounded optimum {res.fun} vs SciPy with differences {ref.fun}"))
    elif kind in ("deriv", "deriv-hvp"):
        _, f, shape, args, sym = spec
        obj = kvo.objective(f, shape, *args, symmetric=sym, hessp_mode="hvp" if kind == "deriv-hvp" else "operator")
        x = rng.standard_normal(obj.size) * 0.3
        if sym:  # a point well inside the domain of log det
            Xs = obj.to_matrix(x)
            Xs = Xs + 3 * np.eye(Xs.shape[-1])
            x = obj.to_vector(Xs)

        def fx(z):
            M = obj.to_matrix(z)
            return f(*(M if isinstance(M, tuple) else (M,)), *args)

        g = obj.jac(x)
        gfd = fd_grad(fx, x)
        if not close(g, gfd, 1e-6):
            out.append(("WRONG", f"jac vs differences: {np.abs(g - gfd).max():.3g}"))
        v = rng.standard_normal(obj.size)
        hp = obj.hessp(x, v)
        eps = 1e-5
        hfd = (obj.jac(x + eps * v) - obj.jac(x - eps * v)) / (2 * eps)
        if not close(hp, hfd, 1e-5):
            out.append(("WRONG", f"hessp vs differences of jac: {np.abs(hp - hfd).max():.3g}"))
        H = obj.hess(x)
        Hd = obj.hess(x, dense=True)
        if not close(H.matvec(v), hp, 1e-9) or not close(Hd @ v, hp, 1e-9) or not close(Hd, Hd.T, 1e-12):
            out.append(("WRONG", "hess operator / dense / hessp disagree, or the dense Hessian is not symmetric"))
        if obj.jac(x).shape != (obj.size,) or hp.shape != (obj.size,):
            out.append(("WRONG", "derivative shapes"))
    elif kind == "lsq":
        _, r, X0, args, fmt, opts, want, *rest = spec
        sym = bool(rest and rest[0])
        res = kvo.least_squares(r, X0, *args, jac_format=fmt, symmetric=sym,
                                **{"xtol": 1e-15, "ftol": 1e-15, "gtol": 1e-15, **opts})
        if not _x_close(res.X, want, 1e-6):
            out.append(("WRONG", f"least-squares solution off (status {res.status}: {res.message!s:.60})"))
    elif kind == "lsq-jac":
        _, r, shape, args = spec
        for fmt in ("operator", "sparse", "dense"):
            R_ = kvo.residuals(r, shape, *args, jac_format=fmt)
            x = rng.standard_normal(R_.size)
            J = R_.jac(x)
            Jd = J.toarray() if hasattr(J, "toarray") else np.asarray(J)
            cols = []
            for i in range(R_.size):
                e = np.zeros(R_.size)
                e[i] = 1e-6
                cols.append((R_.fun(x + e) - R_.fun(x - e)) / 2e-6)
            if not close(Jd, np.stack(cols, axis=1), 1e-6):
                out.append(("WRONG", f"{fmt} Jacobian vs differences"))
            if fmt == "sparse" and not isinstance(J, sp.csr_array):
                out.append(("WRONG", f"jac_format='sparse' gave {type(J).__name__}"))
            if fmt == "dense" and not (isinstance(J, np.ndarray) and J.dtype == np.float64):
                out.append(("WRONG", f"jac_format='dense' gave {type(J).__name__}"))
    return out


# ------------------------------------------------------------------ driver
def build_cases(rng):
    cases = []
    for name, build in zoo(rng):
        cases.append((f"op {name}", "op", build))
    for d in range(30):
        for depth in (3, 8, 14):
            cases.append((f"chain depth {depth} #{d}", "chain", depth))
    cases.append(("chain long sum of 40 products of transposes of Krons", "long", None))
    for name, call, shapes in mismatch_cases(rng):
        cases.append((name, "mismatch", (call, shapes)))
    for name, call, kind in memory_cases(rng):
        cases.append((name, "memory", (call, kind)))
    for name, call, exc, words in refusal_cases(rng):
        cases.append((name, "refusal", (call, exc, words)))
    for name, call, want in odd_operand_cases(rng):
        cases.append((name, "odd", (call, want)))
    for name, build, make in solve_cases(rng):
        cases.append((name, "solve", (build, make)))
    for name, f, X, *sym in jacobian_cases(rng):
        cases.append((name, "jacobian", (f, X, bool(sym))))
    for name, spec in optimize_cases(rng):
        cases.append((name, "opt", spec))
    return cases


def run_one(kind, payload, rng):
    if kind == "op":
        op, D, sources = payload()
        f32 = op.dtype == np.float32 or (D is not None and np.asarray(D).dtype == np.float32)
        return check_op(op, np.asarray(D, dtype=np.float64), rng, sources, f32=f32)
    if kind == "chain":
        op, D, text = random_chain(rng, payload)
        res = check_op(op, D, rng, [])
        return [(c, f"[{text}] {m}") for c, m in res]
    if kind == "long":
        op, D = long_sum(rng)
        return check_op(op, D, rng, [])
    if kind == "mismatch":
        return check_mismatch(*payload)
    if kind == "memory":
        return check_memory(*payload)
    if kind == "refusal":
        return check_refusal(*payload)
    if kind == "odd":
        return check_odd(*payload)
    if kind == "solve":
        return check_solve(*payload)
    if kind == "jacobian":
        return check_jacobian(*payload)
    return check_optimize(payload, rng)


def run(filter=None, echo=None):
    """Run every case whose name contains ``filter``; returns a :class:`Result`."""
    rng = np.random.default_rng(SEED)
    return run_cases(lambda: build_cases(rng), lambda name, kind, payload: run_one(kind, payload, rng), filter, echo)


if __name__ == "__main__":
    command_line(run, sys.argv[1:])
