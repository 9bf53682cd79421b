"""Contractions: ``np.einsum`` and the products NumPy writes as one.

* Values equal NumPy's bit for bit, and derivatives match central differences
  in every mode (``check_value_and_derivatives``: structured Jacobian, JVP,
  gradient, Hessian, some third order), over a seeded sweep of random einsum
  subscripts — implicit and explicit output, ellipses with broadcasting,
  repeated labels (diagonals, traces), labels summed in one operand alone,
  one to three operands — and over every other spelling: tensordot, inner,
  vdot, outer, N-D dot, matmul on broadcast stacks, multi_dot, kron of N-D
  arrays, vecdot/matvec/vecmat, cross with its axis arguments, ``x.dot(y)``.
* The contraction operator against its dense forms (dot test, toarray,
  tosparse, transpose), and its algebra of placements and diagonals.
* Refusals: complex data, ``out=``, arguments kronvec does not implement,
  subscripts NumPy refuses.
* Structure at scale: the Jacobian of ``einsum("ij,jk->ik", A, X)`` and of a
  three-operand einsum of 1000×1000 matrices is a Kronecker product or a
  contraction operator, built in O(n²) memory.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kronvec
from kronvec import Kron
from kronvec.operators import Contraction
from kronvec import _kernels
from kronvec.operators.contraction import NAIVE_LOOP_LIMIT, REVERSED_COPY_MIN_MEMBER_BYTES, matmul_into
from kronvec._vec import vec

from _helpers import assert_canonical_csr, check_value_and_derivatives, dense_of, dot_test, jacobian_and_peak_memory

FD_RTOL = 1e-6
EXACT = 1e-12


# ----------------------------------------------------- random einsum subscripts
def _random_einsum(seed):
    """(subscripts, operand shapes) of a random valid einsum: 1–3 operands,
    repeated labels, implicit or explicit output, sometimes an ellipsis and
    size-1 axes broadcast against larger ones."""
    rng = np.random.default_rng([11, seed])
    pool = "abcdXY"  # upper case too: NumPy's implicit output sorts by ASCII
    sizes = {label: int(rng.integers(2, 4)) for label in pool}
    use_ellipsis = rng.random() < 0.35
    broadcast = [int(rng.integers(2, 4)) for _ in range(int(rng.integers(1, 3)))] if use_ellipsis else []
    terms, shapes = [], []
    for _ in range(int(rng.integers(1, 4))):
        labels = "".join(rng.choice(list(pool), size=int(rng.integers(0, 4))))
        shape = [sizes[c] for c in labels]
        for axis, c in enumerate(labels):  # a size-1 axis broadcasts (not on a diagonal)
            if labels.count(c) == 1 and rng.random() < 0.15:
                shape[axis] = 1
        if use_ellipsis:
            count = int(rng.integers(0, len(broadcast) + 1))
            extra = [1 if rng.random() < 0.3 else s for s in broadcast[len(broadcast) - count:]]
            at = int(rng.integers(0, len(labels) + 1))
            labels = labels[:at] + "..." + labels[at:]
            shape = shape[:at] + extra + shape[at:]
        terms.append(labels)
        shapes.append(tuple(shape))
    subscripts = ",".join(terms)
    if rng.random() < 0.5:  # explicit output: a random arrangement of some of the labels
        present = sorted(set("".join(terms).replace(".", "")))
        kept = [c for c in present if rng.random() < 0.6]
        rng.shuffle(kept)
        out = "".join(kept)
        if use_ellipsis:
            at = int(rng.integers(0, len(out) + 1))
            out = out[:at] + "..." + out[at:]
        subscripts += "->" + out
    return subscripts, shapes


def _valid_random_einsums(count):
    cases, seed = [], 0
    while len(cases) < count:
        subscripts, shapes = _random_einsum(seed)
        seed += 1
        operands = [np.ones(s) for s in shapes]
        try:
            result = np.einsum(subscripts, *operands)
        except ValueError:  # e.g. a broadcast axis against a summed label: NumPy refuses too
            continue
        if np.size(result) == 0 or max(np.size(o) for o in operands) > 36:
            continue
        cases.append(pytest.param(subscripts, shapes, id=f"{subscripts}:{shapes}"))
    return cases


RANDOM_EINSUMS = _valid_random_einsums(40)


def test_the_random_sweep_covers_the_class():
    specs = [case.values[0] for case in RANDOM_EINSUMS]
    shapes = [case.values[1] for case in RANDOM_EINSUMS]
    assert any("->" in s for s in specs) and any("->" not in s for s in specs)
    assert any("..." in s for s in specs)
    assert any(any(term.count(c) > 1 for term in s.split("->")[0].split(",") for c in set(term) - {"."})
               for s in specs), "no repeated label"
    assert {len(s) for s in shapes} >= {1, 2, 3}
    assert any(any(1 in shape for shape in group) for group in shapes), "no broadcast axis"


def _operands(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=shape) for shape in shapes]


def _in_position(f, operands, position):
    def g(X):
        args = list(operands)
        args[position] = X
        return f(*args)

    return g


@pytest.mark.parametrize("subscripts, shapes", RANDOM_EINSUMS)
def test_random_einsum_values_and_derivatives_in_every_operand(subscripts, shapes):
    operands = _operands(shapes)
    for position in range(len(operands)):
        f = _in_position(lambda *ops: np.einsum(subscripts, *ops), operands, position)
        check_value_and_derivatives(f, operands[position], FD_RTOL)


@pytest.mark.parametrize("subscripts, shapes", RANDOM_EINSUMS[:12])
def test_random_einsum_with_an_optimized_path_third_order(subscripts, shapes):
    operands = _operands(shapes, seed=1)
    f = _in_position(lambda *ops: np.einsum(subscripts, *ops, optimize=True), operands, 0)
    check_value_and_derivatives(f, operands[0], FD_RTOL, third=True)


# --------------------------------------------------------------- named einsums
RNG = np.random.default_rng(21)
A23, A34, A33, B33 = (RNG.uniform(-1, 1, size=s) for s in ((2, 3), (3, 4), (3, 3), (3, 3)))
V3, W3, V2 = (RNG.uniform(-1, 1, size=s) for s in ((3,), (3,), (2,)))
T234 = RNG.uniform(-1, 1, size=(2, 3, 4))

EINSUMS = {
    "matrix product": (lambda X: np.einsum("ij,jk->ik", A23, X), A34),
    "A Xᵀ": (lambda X: np.einsum("ij,kj->ik", A23, X), A23),
    "(A X)ᵀ": (lambda X: np.einsum("ij,jk->ki", A23, X), A34),
    "Xᵀ A": (lambda X: np.einsum("ji,jk->ik", X, A34), A34),
    "X Xᵀ (both operands)": (lambda X: np.einsum("ij,kj", X, X), A23),
    "trace": (lambda X: np.einsum("ii", X), A33),
    "diagonal": (lambda X: np.einsum("ii->i", X), A33),
    "diagonal of X times A": (lambda X: np.einsum("ii,ij->ij", X, A33), A33),
    "trace of X A X": (lambda X: np.einsum("ij,jk,ki->", X, B33, X), A33),
    "bilinear form": (lambda x: np.einsum("i,ij,j", x, A33, x), V3),
    "summed in X alone": (lambda X: np.einsum("ijk,j->i", X, V3), T234),
    "ellipsis broadcast stacks": (lambda X: np.einsum("...ij,...jk->...ik", X, T234), RNG.uniform(-1, 1, (1, 3, 3))),
    "batch of rows": (lambda X: np.einsum("bij,bj->bi", T234, X), RNG.uniform(-1, 1, (2, 4))),
    "transpose of one operand": (lambda X: np.einsum("ijk->kji", X), T234),
    "sublist format": (lambda X: np.einsum(A23, [0, 1], X, [1, 2], [2, 0]), A34),
    "sublist with ellipsis": (lambda X: np.einsum(X, [Ellipsis, 0], V3, [0]), A23),
    "greedy path, three operands": (lambda X: np.einsum("ij,jk,kl->il", A23, X, A34, optimize="greedy"), A33),
    "explicit path": (lambda X: np.einsum("ij,jk,kl->il", A23, X, A34,
                                         optimize=["einsum_path", (0, 1), (0, 1)]), A33),
    "scalar operand": (lambda X: np.einsum(",ij->ji", 2.5, X), A23),
}


@pytest.mark.parametrize("name", list(EINSUMS))
def test_named_einsums(name):
    f, X = EINSUMS[name]
    check_value_and_derivatives(f, X, FD_RTOL, third=name in ("trace of X A X", "bilinear form"))


# ------------------------------------------------------ the other spellings
def _quietly(f):
    """np.cross of 2-vectors warns (deprecated in NumPy 2.0) — NumPy's warning, not ours."""

    def g(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return f(*args)

    return g


S223 = RNG.uniform(-1, 1, size=(2, 2, 3))
SPELLINGS = {
    "tensordot axes=2": (lambda X: np.tensordot(X, T234[0], axes=2), RNG.uniform(-1, 1, (2, 3, 4))),
    "tensordot axes=1": (lambda X: np.tensordot(X, A34, 1), A23),
    "tensordot axes=0 (outer)": (lambda X: np.tensordot(X, V2, axes=0), A23),
    "tensordot axes pair": (lambda X: np.tensordot(T234, X, axes=([0, 2], [1, 0])), RNG.uniform(-1, 1, (4, 2))),
    "tensordot axes pair of ints": (lambda X: np.tensordot(X, A23, axes=(0, 1)), RNG.uniform(-1, 1, (3, 2))),
    "tensordot negative axes": (lambda X: np.tensordot(T234, X, axes=([-1], [-1])), RNG.uniform(-1, 1, (2, 4))),
    "inner of vectors": (lambda x: np.inner(x, W3), V3),
    "inner N-D": (lambda X: np.inner(T234, X), RNG.uniform(-1, 1, (2, 4))),
    "inner with a scalar": (lambda X: np.inner(2.0, X), A23),
    "vdot": (lambda X: np.vdot(X, A23), A23),
    "vdot of different shapes": (lambda X: np.vdot(X, A23), A23.T),
    "outer of N-D arrays": (lambda X: np.outer(X, T234[0]), A23),
    "dot N-D with a matrix": (lambda X: np.dot(X, A34), T234[:, :, :3]),
    "dot matrix with N-D": (lambda X: np.dot(A23, X), RNG.uniform(-1, 1, (2, 3, 2))),
    "dot N-D with a vector": (lambda X: np.dot(X, V3), RNG.uniform(-1, 1, (2, 2, 3))),
    "x.dot(y)": (lambda X: X.dot(A34), A23),
    "x.dot(y) N-D": (lambda X: X.dot(A34), T234[:, :, :3]),
    "matmul broadcast stacks": (lambda X: X @ T234, RNG.uniform(-1, 1, (1, 2, 3))),
    "matmul stack @ vector": (lambda X: np.matmul(X, V3), S223),
    "matmul vector @ stack": (lambda x: np.matmul(x, S223), V2),
    "matmul constant stack @ X": (lambda X: S223 @ X, A34[:, :2].copy()),
    "multi_dot of three": (lambda X: np.linalg.multi_dot([A23, X, A34]), A33),
    "multi_dot of four, vectors at the ends": (lambda X: np.linalg.multi_dot([V3, X, B33, X]), A33),
    "multi_dot of two": (lambda X: np.linalg.multi_dot([X, A34]), A23),
    "multi_dot, X last as a vector": (lambda x: np.linalg.multi_dot([A23, B33, A33, x]), V3),
    "kron of 3-D arrays": (lambda X: np.kron(X, T234[:, :2, :2]), RNG.uniform(-1, 1, (2, 1, 2))),
    "kron vector with matrix": (lambda x: np.kron(x, A23), V3),
    "kron matrix with 3-D": (lambda X: np.kron(T234[:, :2, :2], X), A23),
    "cross of 3-vectors": (lambda X: np.cross(X, A23 @ A33), A23),
    "cross along axis 0": (lambda X: np.cross(X, A23, axisa=0, axisb=1, axisc=0), A23.T.copy()),
    "cross with axis=": (lambda X: np.cross(X, A33, axis=0), A33),
    "cross broadcast": (lambda X: np.cross(X, V3), A23),
    "cross of 2-vectors": (_quietly(lambda X: np.cross(X, V2)), A23.T.copy()),
    "cross 2-vector with 3-vectors": (_quietly(lambda x: np.cross(x, A23)), V2),
}
if isinstance(getattr(np, "vecdot", None), np.ufunc):
    SPELLINGS["vecdot"] = (lambda X: np.vecdot(X, V3), A23)
    SPELLINGS["np.linalg.vecdot along axis 0"] = (lambda X: np.linalg.vecdot(X, A23, axis=0), A23)
    SPELLINGS["np.linalg.matmul"] = (lambda X: np.linalg.matmul(S223, X), A34[:, :2].copy())
    SPELLINGS["np.linalg.tensordot"] = (lambda X: np.linalg.tensordot(X, A34, axes=1), A23)
    SPELLINGS["np.linalg.outer"] = (lambda x: np.linalg.outer(x, W3), V3)
    SPELLINGS["np.linalg.cross"] = (lambda X: np.linalg.cross(X, A33, axis=0), A33)
if isinstance(getattr(np, "matvec", None), np.ufunc):
    SPELLINGS["matvec"] = (lambda X: np.matvec(X, V3), S223)
    SPELLINGS["vecmat"] = (lambda x: np.vecmat(x, S223), V2)


@pytest.mark.parametrize("name", list(SPELLINGS))
def test_every_spelling_equals_numpy_and_its_derivatives_match(name):
    f, X = SPELLINGS[name]
    check_value_and_derivatives(f, X, FD_RTOL, third=name in ("multi_dot of four, vectors at the ends",
                                                             "cross of 3-vectors"))


def test_multi_dot_multiplies_in_numpys_order_bit_for_bit():
    # a chain whose cheapest order is not left to right: the value is NumPy's exactly
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s) for s in ((30, 2), (2, 40), (40, 3), (3, 50), (50, 4))]
    f = lambda X: np.linalg.multi_dot([arrays[0], X, *arrays[2:]])  # noqa: E731
    out, _ = kronvec.vjp(f, arrays[1])
    np.testing.assert_array_equal(out, np.linalg.multi_dot(arrays))


# -------------------------------------------------------- structured Jacobians
@pytest.mark.parametrize("subscripts, expected", [
    ("ij,jk->ik", lambda A, X: np.kron(np.eye(X.shape[1]), A)),
    ("ij,jk->ki", None),
    ("ij,kj->ik", None),
])
def test_a_product_of_two_matrices_has_the_kronecker_form(subscripts, expected):
    A, X = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 4))
    J = kronvec.jacobian(lambda X: np.einsum(subscripts, A, X))(X)
    leaves = [J] + list(getattr(J, "factors", ()))
    assert any(isinstance(op, Kron) for op in leaves), J.formula()
    assert not any(isinstance(op, Contraction) for op in leaves)
    if expected is not None:
        np.testing.assert_allclose(J.toarray(), expected(A, X), rtol=EXACT)


def test_the_kronecker_form_names_the_matrix():
    A = np.arange(6.0).reshape(2, 3)
    assert kronvec.jacobian(lambda X: np.einsum("ij,jk->ik", A, X))(np.ones((3, 2))).formula() == "I₂ ⊗ A"


def test_general_subscripts_give_a_contraction_operator():
    J = kronvec.jacobian(lambda X: np.einsum("ij,jk,kl->il", A23, X, A34))(A33)
    assert isinstance(J, Contraction)
    assert J.formula() == "einsum(ij,kl,·jk→il; A23, A34)"


def _contractions():
    rng = np.random.default_rng(8)
    A, B = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    sizes = {"i": 2, "j": 3, "k": 2, "l": 3}
    return {
        "matrix product": Contraction([A], ["ij"], "jk", "ik", sizes),
        "two fixed operands": Contraction([A, B], ["ij", "jk"], "kl", "il", sizes),
        "diagonal read": Contraction([], [], "jj", "j", sizes),
        "placed on a diagonal": Contraction([A], ["ij"], "j", "iji", sizes),
        "broadcast and summed": Contraction([B], ["ji"], "l", "jkl", sizes),
        "scalar result": Contraction([A], ["ij"], "ij", "", sizes),
        "float32": Contraction([A.astype(np.float32)], ["ij"], "jk", "ki", sizes),
    }


CONTRACTIONS = _contractions()


def _einsum_dense(op):
    """The matrix of a Contraction from the definition: column c is the einsum of
    the fixed operands with the unit array e_c (never through the operator)."""
    columns = []
    for c in range(op.shape[1]):
        unit = np.zeros(op.shape[1])
        unit[c] = 1.0
        V = unit.reshape(op.in_shape, order="F")
        distinct = "".join(dict.fromkeys(op.out_labels))
        computed = "".join(x for x in distinct if x in "".join(op.fixed_labels) + op.in_labels)
        Y = np.einsum(",".join((*op.fixed_labels, op.in_labels)) + "->" + computed, *op.fixed, V)
        full = np.zeros(op.out_shape)
        for index in np.ndindex(*op.out_shape):
            value = dict(zip(op.out_labels, index))
            if all(value[x] == i for x, i in zip(op.out_labels, index)):  # on the diagonal
                full[index] = Y[tuple(value[x] for x in computed)]
        columns.append(full.reshape(-1, order="F"))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("name", list(CONTRACTIONS))
def test_contraction_operator_against_its_definition(name):
    op = CONTRACTIONS[name]
    oracle = _einsum_dense(op)
    rng = np.random.default_rng(2)
    tol = 1e-5 if op.dtype == np.float32 else EXACT
    np.testing.assert_allclose(op.toarray(), oracle, rtol=tol, atol=tol)
    np.testing.assert_allclose(dense_of(op), oracle, rtol=tol, atol=tol)
    np.testing.assert_allclose(op.T.toarray(), oracle.T, rtol=tol, atol=tol)
    np.testing.assert_allclose(dense_of(op.T), oracle.T, rtol=tol, atol=tol)
    S = op.tosparse()
    assert_canonical_csr(S, op.shape, dtype=op.dtype)
    np.testing.assert_allclose(S.toarray(), oracle, rtol=tol, atol=tol)
    assert S.nnz <= op.nnz_bound
    dot_test(op, rng)
    dot_test(op.T, rng)
    assert op.T.T is op
    X = rng.standard_normal((op.shape[1], 3))
    np.testing.assert_allclose(op.matmat(np.asfortranarray(X)), oracle @ X, rtol=1e-5, atol=1e-5)
    assert op.matvec(X[:, 1].astype(op.dtype)).dtype == op.dtype


@pytest.mark.parametrize("fixed_labels, in_labels, out_labels, sizes", [
    ("jl", "ijk", "ilk", {"i": 20, "j": 12, "k": 15, "l": 10}),  # a fixed matrix broadcast over a stack
    ("bij", "bjk", "bik", {"b": 4, "i": 12, "j": 30, "k": 25}),   # stacks of matrices
    ("ijk", "kj", "i", {"i": 40, "j": 30, "k": 30}),                # two labels summed
    ("bij", "bik", "bjk", {"b": 4, "i": 30, "j": 12, "k": 25}),   # the transpose of the stacks
    ("ij", "ij", "ij", {"i": 200, "j": 190}),                      # entrywise: np.multiply
    ("ij", "i", "ij", {"i": 200, "j": 190}),                       # broadcast along j
    ("i", "j", "ji", {"i": 200, "j": 190}),                        # an outer product, transposed
])
def test_a_contraction_large_enough_for_blas_against_einsum(fixed_labels, in_labels, out_labels, sizes):
    # Above NAIVE_LOOP_LIMIT the operator multiplies by one matmul written into the
    # result (matmul_into) — for stacks of matrices unreversed, on a row-major copy of
    # the fixed operand — or, when no label is summed, by one np.multiply
    # (broadcast_product_into); each application must still be the einsum of its definition.
    rng = np.random.default_rng(5)
    fixed = rng.standard_normal([sizes[label] for label in fixed_labels])
    for op in (Contraction([fixed], [fixed_labels], in_labels, out_labels, sizes),
               Contraction([fixed.astype(np.float32)], [fixed_labels], in_labels, out_labels, sizes)):
        assert op.apply_cost > NAIVE_LOOP_LIMIT
        tol = 1e-4 if op.dtype == np.float32 else 1e-12
        X = rng.standard_normal((op.shape[1], 3)).astype(op.dtype)
        columns = [vec(np.einsum(f"{fixed_labels},{in_labels}->{out_labels}", op.fixed[0],
                                 X[:, t].reshape(op.in_shape, order="F"))) for t in range(3)]
        np.testing.assert_allclose(op.matvec(X[:, 0]), columns[0], rtol=tol, atol=tol)
        np.testing.assert_allclose(op.matmat(np.asfortranarray(X)), np.stack(columns, axis=1), rtol=tol, atol=tol)
        assert op.matvec(X[:, 0]).dtype == op.dtype
        dot_test(op, rng)


def _random_large_contraction(seed, summed):
    """(fixed labels, in labels, out labels, sizes) of a random two-operand contraction
    above NAIVE_LOOP_LIMIT, where the operator takes its fast paths (one matmul, reversed
    or on stacks; one np.multiply when nothing is `summed`): stack labels in both operands
    and the output, labels summed in both, kept labels of one operand, in random orders
    (transposed operands and outputs)."""
    rng = np.random.default_rng([12, seed, summed])
    kinds = {"stack": "bc", "summed": "jk" if summed else "", "fixed_only": "im", "in_only": "ln"}
    chosen = {kind: "".join(rng.choice(list(pool), size=int(rng.integers(int(kind == "summed"), 3)), replace=False))
              if pool else "" for kind, pool in kinds.items()}
    fixed = list(chosen["stack"] + chosen["summed"] + chosen["fixed_only"])
    inputs = list(chosen["stack"] + chosen["summed"] + chosen["in_only"])
    out = list(chosen["stack"] + chosen["fixed_only"] + chosen["in_only"])
    for labels in (fixed, inputs, out):
        rng.shuffle(labels)
    largest = 9 if summed else 30  # (fewer labels: larger sizes to pass the limit)
    sizes = {label: int(rng.integers(2, largest)) for label in "bcjkimln"}
    return "".join(fixed), "".join(inputs), "".join(out), sizes


def _large_contractions(count, summed):
    cases, seed = [], 0
    while len(cases) < count:
        fixed, inputs, out, sizes = _random_large_contraction(seed, summed)
        seed += 1
        loop = np.prod([sizes[label] for label in set(fixed + inputs + out)])
        if not fixed or not inputs or not out or loop <= NAIVE_LOOP_LIMIT or loop > 1_000_000:
            continue
        cases.append(pytest.param(fixed, inputs, out, sizes, id=f"{fixed},{inputs}->{out}"))
    return cases


@pytest.mark.parametrize("fixed_labels, in_labels, out_labels, sizes",
                         _large_contractions(30, summed=True) + _large_contractions(15, summed=False))
def test_random_contractions_above_the_naive_limit_against_einsum(fixed_labels, in_labels, out_labels, sizes):
    # The class of the fast paths (issue 12's "matvec within 1.5× of the einsum"): each
    # application is the einsum of its definition, and its transpose its adjoint.
    rng = np.random.default_rng(7)
    fixed = rng.standard_normal([sizes[label] for label in fixed_labels])
    op = Contraction([fixed], [fixed_labels], in_labels, out_labels, sizes)
    spec = f"{fixed_labels},{in_labels}->{out_labels}"
    X = rng.standard_normal((op.shape[1], 2))
    columns = [vec(np.einsum(spec, fixed, X[:, t].reshape(op.in_shape, order="F"))) for t in range(2)]
    tol = 1e-12 * max(1.0, max(np.abs(c).max() for c in columns))
    np.testing.assert_allclose(op.matvec(X[:, 0]), columns[0], rtol=1e-12, atol=tol)
    np.testing.assert_allclose(op.matmat(X), np.stack(columns, axis=1), rtol=1e-12, atol=tol)
    W = rng.standard_normal(op.shape[0])
    adjoint = vec(np.einsum(f"{fixed_labels},{out_labels}->{in_labels}", fixed, W.reshape(op.out_shape, order="F")))
    np.testing.assert_allclose(op.rmatvec(W), adjoint, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(adjoint).max()))
    dot_test(op, rng)


def test_only_stacks_of_matrix_products_keep_a_row_major_copy():
    # reversed, a stack label comes last and matmul cannot loop over it: those (and only
    # those) are applied unreversed, on a read-only row-major copy of the fixed operand
    stacked = Contraction([np.ones((4, 3, 5))], ["bij"], "bjk", "bik", {"b": 4, "i": 3, "j": 5, "k": 2})
    assert stacked._row_major is not None and not stacked._row_major[0].flags.writeable
    assert stacked.T._row_major is not None
    plain = Contraction([np.ones((3, 5))], ["ij"], "jk", "ik", {"i": 3, "j": 5, "k": 2})
    assert plain._row_major is None and plain.T._row_major is None


def test_matmul_into_computes_the_einsum_or_refuses_writing_nothing():
    sizes = {"i": 3, "j": 4, "k": 5}
    rng = np.random.default_rng(6)
    # (the second with the operands swapped, the third with one transposed)
    computed = {(("ij", "jk"), "ik"), (("ij", "jk"), "ki"), (("ij", "kj"), "ik")}
    for labels, out_labels in ((("ij", "jk"), "ik"), (("ij", "jk"), "ki"), (("ij", "kj"), "ik"),
                               (("ij", "jk"), "ijk"), (("ii", "ik"), "ik"), (("ij", "ik"), "k"), (("ij", "j"), "i")):
        operands = [rng.standard_normal([sizes[label] for label in part]) for part in labels]
        out = np.full([sizes[label] for label in out_labels], 7.0)
        done = matmul_into(operands, labels, out_labels, sizes, out)
        assert done == ((labels, out_labels) in computed)
        expected = np.einsum(",".join(labels) + "->" + out_labels, *operands) if done else np.full(out.shape, 7.0)
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)
    # a result in another layout: written through its strides when no axes are grouped …
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    out = np.zeros((5, 3)).T
    assert matmul_into([A, B], ("ij", "jk"), "ik", sizes, out)
    np.testing.assert_allclose(out, A @ B, rtol=1e-13, atol=1e-13)
    # … and refused, untouched, when grouping its axes into matrices would copy it
    sizes = {"i": 3, "j": 4, "k": 5, "l": 2}
    out = np.full((2, 4, 3), 7.0).T  # ijl, column-major: i and j cannot merge into one row axis
    assert not matmul_into([np.ones((3, 4, 5)), np.ones((5, 2))], ("ijk", "kl"), "ijl", sizes, out)
    np.testing.assert_array_equal(out, 7.0)


@pytest.mark.parametrize("shape", [(8, 5, 70), (3, 64, 64), (1, 1, 1), (16, 33, 31), (5, 0, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reverse_axes_fill_writes_the_reversed_array(shape, dtype):
    # the kernel behind matmul_into's copy of a stack into column-major memory: every
    # entry once, for tiles cut short at either end and sizes of any factors
    source = np.random.default_rng(9).standard_normal(shape).astype(dtype)
    out = np.full(shape[::-1], np.nan, dtype=dtype)
    _kernels.reverse_axes_fill(source, out)
    np.testing.assert_array_equal(out, source.transpose(2, 1, 0))
    with pytest.raises(ValueError, match="shape reversed"):  # (unchecked, it would write past out)
        _kernels.reverse_axes_fill(source, np.empty(shape[::-1][:2] + (shape[0] + 1,), dtype=dtype))


@pytest.mark.parametrize("count, n, dtype", [(3, 450, np.float64), (2, 512, np.float64), (2, 640, np.float32)])
def test_stacks_of_large_products_written_through_the_kernel_against_einsum(count, n, dtype, monkeypatch):
    # Products of ≥ REVERSED_COPY_MIN_MEMBER_BYTES each are computed row-major and copied
    # into the column-major result by reverse_axes_fill (matmul_into): the matvec and
    # the rmatvec (its transpose's, the other operand transposed) must be the einsums
    # of their definitions, and must have taken that path.
    assert n * n * np.dtype(dtype).itemsize >= REVERSED_COPY_MIN_MEMBER_BYTES
    copies = []
    kernel = _kernels.reverse_axes_fill
    monkeypatch.setattr(_kernels, "reverse_axes_fill", lambda src, out: (copies.append(src.shape), kernel(src, out)))
    rng = np.random.default_rng(10)
    A = rng.standard_normal((count, n, n)).astype(dtype)
    op = Contraction([A], ["bij"], "bjk", "bik", {"b": count, "i": n, "j": n, "k": n})
    v, w = rng.standard_normal(op.shape[1]).astype(dtype), rng.standard_normal(op.shape[0]).astype(dtype)
    V, W = v.reshape((count, n, n), order="F"), w.reshape((count, n, n), order="F")
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(op.matvec(v), vec(np.einsum("bij,bjk->bik", A, V)), rtol=tol, atol=tol * n)
    np.testing.assert_allclose(op.rmatvec(w), vec(np.einsum("bij,bik->bjk", A, W)), rtol=tol, atol=tol * n)
    assert copies == [(count, n, n)] * 2
    assert op.matvec(v).dtype == dtype


def test_contraction_stores_read_only_copies():
    A = np.ones((2, 3))
    op = Contraction([A], ["ij"], "jk", "ik", {"i": 2, "j": 3, "k": 2})
    before = op.toarray()
    A[0, 0] = 5.0
    np.testing.assert_array_equal(op.toarray(), before)
    assert not op.fixed[0].flags.writeable


def test_contraction_refuses_inconsistent_labels():
    with pytest.raises(ValueError, match="does not match its labels"):
        Contraction([np.ones((2, 3))], ["ij"], "jk", "ik", {"i": 2, "j": 2, "k": 2})
    with pytest.raises(ValueError, match="no size"):
        Contraction([np.ones((2, 3))], ["ij"], "jk", "ik", {"i": 2, "j": 3})


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize("call, name", [
    (lambda X: np.einsum("ij,jk->ik", X, np.ones((3, 2)) * 1j), "np.einsum"),
    (lambda X: np.tensordot(X, np.ones((3, 2)) + 1j), "np.tensordot"),
    (lambda X: np.inner(X, np.ones(3) * 1j), "np.inner"),
    (lambda X: np.vdot(X, np.ones((2, 3)) * 1j), "np.vdot"),
    (lambda X: np.cross(X, np.ones(3) * 1j), "np.cross"),
    (lambda X: np.kron(X, np.ones(2) * 1j), "np.kron"),
    (lambda X: np.linalg.multi_dot([X, np.ones((3, 2)) * 1j, np.ones((2, 2))]), "np.linalg.multi_dot"),
], ids=["einsum", "tensordot", "inner", "vdot", "cross", "kron", "multi_dot"])
def test_complex_data_is_refused_naming_the_function(call, name):
    with pytest.raises(TypeError, match=name.replace(".", r"\.")):
        kronvec.grad(lambda X: np.sum(call(X)))(A23)


@pytest.mark.parametrize("call, name", [
    (lambda X: np.einsum("ij->i", X, out=np.empty(2)), "np.einsum"),
    (lambda X: np.einsum("ij->i", X, dtype=np.float32), "np.einsum"),  # (float64 → float32: not a safe cast)
    (lambda X: np.einsum("ij->i", X, casting="unsafe"), "np.einsum"),
    (lambda X: np.dot(X, np.ones(3), out=np.empty(2)), "np.dot"),
    (lambda X: np.matmul(X, np.ones(3), out=np.empty(2)), "np.matmul"),
    (lambda X: np.linalg.multi_dot([X, np.ones((3, 2)), np.ones(2)], out=np.empty(2)), "np.linalg.multi_dot"),
], ids=["einsum out", "einsum dtype", "einsum casting", "dot out", "matmul out", "multi_dot out"])
def test_unsupported_arguments_are_refused_naming_the_function(call, name):
    with pytest.raises(TypeError, match=name.replace(".", r"\.")):
        kronvec.grad(lambda X: np.sum(call(X)))(A23)


@pytest.mark.skipif(not isinstance(getattr(np, "vecdot", None), np.ufunc), reason="np.vecdot is NumPy ≥ 2.0")
def test_gufunc_keywords_are_refused_naming_the_function():
    # (axis=/axes=: test_gufunc_core_dimensions_on_other_axes)
    with pytest.raises(TypeError, match=r"np\.vecdot"):
        kronvec.grad(lambda X: np.sum(np.vecdot(X, X, keepdims=True)))(A23)


@pytest.mark.parametrize("subscripts, shapes", [
    ("ij,jk->ik", ((2, 3), (4, 2))),
    ("ij->ijk", ((2, 3),)),
    ("ii", ((2, 3),)),
    ("i,j", ((2,),)),
    ("...i->i", ((2, 3),)),
    ("ij->ii", ((2, 2),)),
])
def test_subscripts_numpy_refuses_raise_numpys_value_error(subscripts, shapes):
    operands = [np.ones(s) for s in shapes]
    with pytest.raises(ValueError) as numpy_error:
        np.einsum(subscripts, *operands)
    with pytest.raises(ValueError) as ours:
        kronvec.grad(lambda X: np.sum(np.einsum(subscripts, X, *operands[1:])))(operands[0])
    assert str(ours.value) == str(numpy_error.value)


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        kronvec.grad(lambda X: np.sum(np.tensordot(X, np.ones((2, 4)), axes=([1], [1]))))(A23)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        kronvec.grad(lambda X: np.vdot(X, np.ones(4)))(A23)
    with pytest.raises(ValueError, match="dimension must be 2 or 3"):
        kronvec.grad(lambda X: np.sum(np.cross(X, np.ones((2, 4)))))(np.ones((2, 4)))


def test_inputs_are_never_modified():
    X, A = A33.copy(), A23.copy()
    before = (X.copy(), A.copy())
    kronvec.hessian(lambda X: np.sum(np.sin(np.einsum("ij,jk,kl->il", A, X, X))))(X)
    kronvec.jacobian(lambda X: np.einsum("ii->i", X))(X).toarray()
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(A, before[1])


def test_supported_functions_list_the_contractions():
    names = set(kronvec.SUPPORTED_FUNCTIONS)
    for name in ("np.einsum", "np.tensordot", "np.inner", "np.vdot", "np.cross", "np.linalg.multi_dot",
                 "np.kron", "np.dot", "np.matmul", "np.outer"):
        assert name in names, name


# ------------------------------------------------------------- structure at scale
def test_einsum_jacobians_at_scale_are_built_in_linear_memory():
    n = 1000
    rng = np.random.default_rng(5)
    A, B, X = (rng.standard_normal((n, n)) for _ in range(3))
    matrix_bytes = 8 * n * n  # the Jacobian's dense form would be n⁴·8 = 8 TB
    J, peak = jacobian_and_peak_memory(lambda X: np.einsum("ij,jk->ik", A, X), X)
    assert isinstance(J, Kron) and J.shape == (n * n, n * n)
    assert peak < 8 * matrix_bytes, f"{peak / 2**20:.0f} MiB"
    J, peak = jacobian_and_peak_memory(lambda X: np.einsum("ij,jk,kl->il", A, X, B, optimize=True), X)
    assert isinstance(J, Contraction) and J.shape == (n * n, n * n)
    assert peak < 8 * matrix_bytes, f"{peak / 2**20:.0f} MiB"
    V = rng.standard_normal((n, n))
    np.testing.assert_allclose(J.matvec(vec(V)), vec(A @ V @ B), rtol=1e-10, atol=1e-8)


def test_a_plain_arrays_dot_method_on_a_traced_argument():
    # ndarray.dot converts its argument without dispatch: NumPy takes the traced entries
    # (an object array, computed entry by entry, right); above
    # kronvec.config.object_entries_limit it is refused, naming A @ x and np.dot(A, x)
    A = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.sum(A.dot(x)))(np.ones(3)), A.sum(axis=0))
    with kronvec.config.override(object_entries_limit=2):
        with pytest.raises(TypeError, match=r"write A @ x or np\.dot\(A, x\)"):
            kronvec.grad(lambda x: np.sum(A.dot(x)))(np.ones(3))
    np.testing.assert_array_equal(kronvec.grad(lambda x: np.sum(np.dot(A, x)))(np.ones(3)), A.sum(axis=0))


def test_einsum_dtype_casts_its_operands_under_the_casting_rule():
    A32 = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    f = lambda X: np.einsum("ij,kj->ik", X, X, dtype=np.float64)  # noqa: E731
    np.testing.assert_array_equal(kronvec.vjp(f, A32)[0], f(A32))
    check_value_and_derivatives(lambda X: np.einsum("ij,kj", X, X[::-1], dtype=np.float64), A32.astype(np.float64))
    g = kronvec.grad(lambda X: np.sum(f(X)))(A32)
    np.testing.assert_allclose(g, 2 * np.ones((3, 3)) @ A32, rtol=1e-6)
    with pytest.raises(TypeError, match="'safe'"):  # float64 → float32 is not a safe cast: NumPy refuses it too
        kronvec.grad(lambda X: np.einsum("ij->", X, dtype=np.float32))(A32.astype(np.float64))
    v = kronvec.vjp(lambda X: np.einsum("ij->", X, dtype=np.float32, casting="same_kind"), A32.astype(np.float64))[0]
    assert v.dtype == np.float32


@pytest.mark.parametrize("f", [
    lambda X: np.vecdot(X, X[::-1], axis=0),
    lambda X: np.vecdot(X, np.cos(X), axes=[(-2,), (-2,)]),
    lambda X: np.matmul(np.swapaxes(X, -1, -2), X, axes=[(-1, -2), (-2, -1), (-1, -2)]),
    lambda X: np.matvec(X, X[..., 0, :], axes=[(-2, -1), (-1,), (-1,)]),
    lambda X: np.vecmat(X[..., 0], X, axes=[(-1,), (-2, -1), (0,)]),
], ids=["vecdot axis", "vecdot axes", "matmul axes", "matvec axes", "vecmat axes"])
def test_gufunc_core_dimensions_on_other_axes(f):
    # the gufunc of the operands with the core axes moved last, its result's moved back
    for X in (A23.T.copy(), np.random.default_rng(3).standard_normal((2, 3, 3))):
        try:
            f(X)
        except ValueError:  # (shapes NumPy itself refuses for this case)
            continue
        check_value_and_derivatives(f, X)
    with pytest.raises(TypeError, match="both 'axis' and 'axes'"):
        kronvec.grad(lambda X: np.sum(np.vecdot(X, X, axis=0, axes=[(0,), (0,)])))(A23)


@pytest.mark.parametrize("function", [np.convolve, np.correlate])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_convolve_and_correlate_have_numpys_value_bit_for_bit(function, mode, dtype):
    # (program sweep) the recorded windows-times-kernel product sums in another order than NumPy's
    # correlate loop: ~75% of random pairs were a few ulps off; NumPy's value minus the composite's
    # is now added as a decision (no derivative), exact
    rng = np.random.default_rng(3)
    for na, nv in ((9, 4), (4, 9), (17, 17), (1, 5), (6, 1)):
        a, v = rng.standard_normal(na).astype(dtype), rng.standard_normal(nv).astype(dtype)
        for args, f in (((a, v), lambda a, v: function(a, v, mode)), ((a,), lambda a: function(a, v, mode)),
                        ((v,), lambda v: function(a, v, mode))):
            value, _ = kronvec.jvp(f, args, args)
            assert value.dtype == function(a, v, mode).dtype
            np.testing.assert_array_equal(value, function(a, v, mode))
    a, v = rng.standard_normal(7), rng.standard_normal(3)
    g = lambda a: np.sum(function(a, v, mode) ** 2)  # noqa: E731
    for point in (a, 2.0 * a):
        np.testing.assert_array_equal(kronvec.grad(g, compile=True)(point), kronvec.grad(g)(point))
    check_value_and_derivatives(lambda a: function(a, v, mode), a)
    check_value_and_derivatives(lambda v: function(a, v, mode), v)
