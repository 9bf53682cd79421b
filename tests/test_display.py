"""How operators show themselves: LaTeX and HTML for Jupyter, and the spy plot.

The LaTeX is a translation of the printed formula, so it is checked against
known formulas and, for every published rule, for what must never survive
translation (raw ᵀ, ⊗, subscript digits) and for balanced braces.  The memory
figure is checked against the arrays the operator was built from; the spy
image against the dense pattern, pixel for pixel, on both of its paths.
"""

import re
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import aslinearoperator

import kronvec
from kronvec import Commutation, Dense, Diag, Identity, Kron, Sparse, Sum
from kronvec.operators import Wrapped
from kronvec.operators._display import formula_latex, held_nbytes, latex


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-(inv(X)ᵀ ⊗ inv(X))", r"-(\operatorname{inv}(X)^{\top} \otimes \operatorname{inv}(X))"),
        ("K₂,₁₀", "K_{2,10}"),
        ("D₃ᵀ·L₃", r"D_{3}^{\top} \, L_{3}"),
        ("Xᵀ ⊗ I₃ + I₃ ⊗ X", r"X^{\top} \otimes I_{3} + I_{3} \otimes X"),
        ("vec(adj(X)ᵀ)ᵀ", r"\operatorname{vec}(\operatorname{adj}(X)^{\top})^{\top}"),
        ("diag(vec exp'(X))", r"\operatorname{diag}(\operatorname{vec}\operatorname{exp}'(X))"),
        ("vec(∇f(X))ᵀ", r"\operatorname{vec}(\nabla f(X))^{\top}"),
        ("Σ_1 ⊗ σ²", r"\Sigma_{1} \otimes \sigma^{2}"),
        ("X⁻ᵀ", r"X^{-\top}"),
        ("Cov ⊗ A_b", r"\mathrm{Cov} \otimes A_{b}"),
        ("⟨sum of 12 terms⟩", r"\langle\text{sum of 12 terms}\rangle"),
        ("2.5·M₁", r"2.5 \, M_{1}"),
        ("a{b}$%&#", r"a\{b\}\$\%\&\#"),
    ],
)
def test_formula_latex_known(text, expected):
    assert formula_latex(text) == expected


def _unbalanced(tex):
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return True
    return depth != 0


def test_latex_of_every_published_rule(rng):
    seen = 0
    for name, rule in kronvec.rules.REGISTRY.items():
        J = rule.jacobian(*rule.sample(rng, 3))
        tex = J._repr_latex_()
        assert tex.startswith("$") and tex.endswith("$"), name
        body = tex[1:-1]
        assert not set(body) & set("ᵀ⁻⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉⊗·∇⟨⟩"), (name, J.formula(), body)
        assert not _unbalanced(body), (name, body)
        seen += 1
    assert seen >= 20


def test_latex_of_traced_jacobians_and_hessians():
    X = np.array([[4.0, 1.0], [2.0, 3.0]])
    assert latex(kronvec.jacobian(np.linalg.inv)(X)) == (
        r"-(\operatorname{inv}(X)^{\top} \otimes \operatorname{inv}(X))"
    )
    H = kronvec.hessian(lambda X: np.linalg.slogdet(X)[1])(X)
    assert latex(H).endswith(r"K_{2,2}")
    einsum = kronvec.jacobian(lambda X: np.einsum("ij,jk,kl->il", X, X, X))(X)
    assert r"\operatorname{einsum}(\texttt{" in latex(einsum) and not _unbalanced(latex(einsum))
    assert latex(Commutation(2, 3).T) == "K_{3,2}"


def test_html_summary_names_shape_dtype_and_memory():
    A = np.ones((100, 100))
    K = Kron(Dense(A, name="A<1>"), Identity(100))
    text = K._repr_html_()
    assert "A&lt;1&gt; ⊗ I₁₀₀" in text  # the formula, HTML-escaped
    assert "10000×10000" in text and "float64" in text
    assert "78.1 KiB" in text and "762.9 MiB" in text  # A itself against the dense matrix
    assert "0.01% of dense" in text
    assert "≤ 1,000,000" in text
    f32 = Diag(np.ones(3, dtype=np.float32))
    assert "float32" in f32._repr_html_()


def test_held_bytes_count_each_array_once():
    A = np.arange(12.0).reshape(3, 4)
    D = Dense(A)
    assert held_nbytes(Kron(D, D)) == (A.nbytes, True)  # the same matrix twice: held once
    assert held_nbytes(Kron(D, D.T)) == (A.nbytes, True)  # a transpose is a view of it
    assert held_nbytes(Kron(A, A)) == (2 * A.nbytes, True)  # two arrays, each copied by Kron
    J = Kron(D, D)
    assert held_nbytes(J + J.T.T) == (A.nbytes, True)  # shared terms and transposes
    S = sp.random(50, 40, density=0.1, format="csr", random_state=1)
    own = Sparse(S)
    expected = own.S.data.nbytes + own.S.indices.nbytes + own.S.indptr.nbytes
    assert held_nbytes(own) == (expected, True)
    assert held_nbytes(Identity(1000)) == (0, True)
    wrapped = Wrapped(aslinearoperator(np.eye(3)))
    assert held_nbytes(wrapped)[1] is False  # a foreign LinearOperator's memory is unknown
    assert "at least" in wrapped._repr_html_()


def test_display_of_a_deep_composition_does_not_recurse():
    B = np.array([[1.0, 0.2], [0.1, 1.0]])
    op = Dense(B)
    for _ in range(3000):  # deeper than Python's recursion limit
        op = Sum([op, op @ Dense(B)])  # shares op twice: a DAG, not a tree
    assert held_nbytes(op)[1]
    assert "<table>" in op._repr_html_()
    assert op._repr_latex_().startswith("$")


# ------------------------------------------------------------------------------- spy
plt = pytest.importorskip("matplotlib.pyplot", reason="spy() draws with matplotlib (the docs extra)")


def _pattern(op):
    return op.toarray() != 0


SMALL = {
    "X @ X": lambda: kronvec.jacobian(lambda X: X @ X)(np.arange(1.0, 10.0).reshape(3, 3)),
    "triu diff": lambda: kronvec.jacobian(lambda X: np.diff(np.triu(X), axis=0))(np.ones((5, 4))),
    "commutation": lambda: Commutation(3, 5),
    "transpose + exp": lambda: kronvec.jacobian(lambda X: X.T + np.exp(X))(np.ones((4, 4))),
}


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("max_nnz", [2**22, 0])  # 0: force the probing path
def test_spy_draws_the_exact_pattern(name, max_nnz, ax):
    op = SMALL[name]()
    image = op.spy(ax, max_nnz=max_nnz)
    np.testing.assert_array_equal(image.get_array().astype(bool), _pattern(op))
    assert image.axes is ax
    assert image.get_extent() == [-0.5, op.shape[1] - 0.5, op.shape[0] - 0.5, -0.5]


@pytest.mark.parametrize("max_nnz", [2**22, 0])
def test_spy_bins_large_operators(max_nnz, ax):
    op = kronvec.jacobian(lambda X: X.T + np.exp(np.triu(X)))(np.ones((8, 8)))  # 64×64
    image = np.asarray(op.spy(ax, resolution=10, max_nnz=max_nnz).get_array()).astype(bool)
    dense = _pattern(op)
    rows = np.arange(64) * 10 // 64
    cols = np.arange(64) * 10 // 64
    expected = np.zeros((10, 10), dtype=bool)
    for i, j in zip(*np.nonzero(dense)):
        expected[rows[i], cols[j]] = True
    np.testing.assert_array_equal(image, expected)


def test_spy_never_forms_the_dense_matrix(ax, monkeypatch):
    def refuse(self):
        raise AssertionError("spy must not call toarray()")

    monkeypatch.setattr(kronvec.StructuredOperator, "toarray", refuse)
    n = 300  # a 90000×90000 Jacobian: 60 GiB dense
    op = kronvec.jacobian(lambda X: X @ X)(np.eye(n) + 0.01)
    image = op.spy(ax, resolution=64)
    assert image.get_array().shape == (64, 64)
    # a Product with Kronecker factors (dense blocks): only a loose bound, so it is probed
    # (a Product of selections and diagonals, np.diff(np.triu(X)), is now bounded by its rows)
    probe = kronvec.jacobian(lambda X: np.diff(X @ X, axis=0))(np.eye(n) + 0.01)
    assert probe.nnz_bound > 2**22
    assert probe.spy(ax, resolution=32).get_array().shape == (32, 32)


def test_spy_checks_its_arguments(ax):
    with pytest.raises(ValueError, match="resolution"):
        Identity(3).spy(ax, resolution=0)


def test_spy_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install matplotlib"):
        Identity(3).spy()


def test_formula_labels_parenthesize_by_precedence():
    # Each label must read as the matrix it names: (XᵀX)ᵀ was printed "Xᵀ·Xᵀ" and (A + B)/2
    # as "A + B / 2" (regressions of issue 11's "labels are true").
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 3)) + 3 * np.eye(3)
    A, B = np.eye(3), np.diag([1.0, 2.0, 3.0])
    cases = [
        (lambda X: np.linalg.inv(X.T @ X + (X.T @ X).T), "inv(Xᵀ·X + (Xᵀ·X)ᵀ)"),
        (lambda X: np.linalg.inv((X + A) @ B), "inv((X + A)·B)"),
        (lambda X: np.linalg.inv(X @ (X + A)), "inv(X·(X + A))"),
        (lambda X: np.linalg.inv(X - (X - A) @ B), "inv(X - (X - A)·B)"),
        (lambda X: np.linalg.inv((X @ A).T), "inv((X·A)ᵀ)"),
    ]
    for f, wanted in cases:
        text = str(kronvec.jacobian(f)(X))
        assert wanted in text, (wanted, text)
    from kronvec.ops._support import infix_label, transposed_label

    assert infix_label(" - ")("A", "B - C") == "A - (B - C)"
    assert infix_label(" / ")("A ∘ B", "C / D") == "A ∘ B / (C / D)"
    assert infix_label("·")("A + B", "-C") == "(A + B)·(-C)"
    assert transposed_label("inv(X)") == "inv(X)ᵀ" and transposed_label("-X") == "(-X)ᵀ"


def test_jacobian_reads_the_same_parameter_names_as_inspect_signature():
    # (_parameter_names reads a plain function's names off its code object: the same names
    # inspect.signature gives, for every kind of callable)
    import functools

    from kronvec.api import _parameter_names, _signature_parameters

    def positional(a, b, /, c, *rest, d=1):
        return a

    def named(Sigma, W=2):
        return Sigma

    @functools.wraps(named)
    def wrapper(*args):
        return named(*args)

    class Method:
        def __call__(self, M, N):
            return M

    callables = [lambda X: X, lambda *args: args, positional, named, wrapper, functools.partial(named, W=1),
                 Method(), Method().__call__, np.linalg.inv, np.sin]
    for f in callables:
        for count in (1, 2, 4):
            by_signature = _signature_parameters(f)
            if (getattr(f, "__module__", None) or "").startswith("numpy"):
                by_signature = ["X", "Y", "Z"]  # (NumPy's own names are replaced in formulas)
            expected = [by_signature[i] if i < len(by_signature) else f"x{i}" for i in range(count)]
            assert _parameter_names(f, count) == expected, (f, count)
    X = np.array([[2.0, 1.0], [1.0, 3.0]])
    assert "inv(Sigma)" in str(kronvec.jacobian(lambda Sigma: np.linalg.inv(Sigma))(X))
