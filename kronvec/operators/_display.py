"""How structured operators show themselves: LaTeX, HTML and a sparsity plot.

Jupyter calls ``_repr_latex_`` and ``_repr_html_`` to display an object; the
operators get theirs from here (one line each in :mod:`kronvec.operators._base`).

* :func:`latex` writes the operator's formula (:meth:`StructuredOperator.formula`,
  :mod:`kronvec.operators._formula`) in LaTeX: ``⊗`` as ``\\otimes``, ``ᵀ`` as a
  superscript, ``K₂,₃`` as ``K_{2,3}``, ``inv(X)`` as ``\\operatorname{inv}(X)``.
  It translates the printed formula rather than walking the operator again, so
  the two never disagree (placeholders ``M₁``, abbreviations ``⟨sum of 12
  terms⟩`` and all).
* :func:`repr_html` is a short summary: the formula, shape, dtype, the bytes the
  operator holds (its arrays, each counted once however often it is shared)
  against the bytes of the dense matrix, and the bound on its nonzeros.
* :func:`spy` draws where the nonzeros are with matplotlib, as ``plt.spy``
  does, without forming a large dense matrix: from ``tosparse()`` when the
  nonzeros are few (within ``config.sparse_limit_bytes``, like any ``tosparse``
  call), otherwise by applying the operator to a few hundred columns at a time.
"""

from __future__ import annotations

import html
import re
import unicodedata

import numpy as np
from scipy.sparse import issparse
from scipy.sparse.linalg import LinearOperator

from ._dag import post_order

__all__ = ["latex", "repr_latex", "repr_html", "held_nbytes", "format_bytes", "spy"]

# --------------------------------------------------------------------------------- LaTeX
_SUBSCRIPT_DIGITS = {chr(0x2080 + k): str(k) for k in range(10)}
_SUPERSCRIPTS = {
    "ᵀ": r"\top", "⁻": "-", "⁺": "+", "⁰": "0", "¹": "1", "²": "2", "³": "3",
    **{chr(0x2070 + k): str(k) for k in range(4, 10)},
}
_SYMBOLS = {
    "⊗": r" \otimes ", "·": r" \, ", "∘": r" \circ ", "→": r" \to ", "×": r" \times ",
    "∇": r"\nabla ", "−": "-", "+": " + ", "-": "-", "ε": r"\varepsilon ", "∞": r"\infty ",
    "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&",
    "~": r"\sim ", "^": r"\wedge ", "\\": r"\backslash ", "_": r"\_",
}
_GREEK = {  # the Greek letters LaTeX has commands for (capitals: those unlike Latin ones)
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
    "Omega",
}
# A name: a letter, then letters, digits and inner underscores, then primes.  Sub- and
# superscript digits and ᵀ are word characters to Python but marks in a formula.
_MARKS = "ᵀ⁻⁺⁰¹²³⁴⁵⁶⁷⁸⁹₀₁₂₃₄₅₆₇₈₉"
_NAME = re.compile(rf"[^\W\d_{_MARKS}](?:[^\W_{_MARKS}]|_(?=[^\W_{_MARKS}]))*'*")
_GREEK_NAME = re.compile(r"GREEK (SMALL|CAPITAL) LETTER (\w+)$")


def _greek(ch):
    """``σ`` → ``\\sigma``, ``Σ`` → ``\\Sigma``; other characters as they are."""
    match = _GREEK_NAME.match(unicodedata.name(ch, ""))
    if match is None:
        return ch
    word = match.group(2).lower().replace("lamda", "lambda")
    word = word if match.group(1) == "SMALL" else word.capitalize()
    return f"\\{word} " if word in _GREEK else ch


def _name_latex(name, is_function):
    """A name of the formula: ``inv`` → ``\\operatorname{inv}``, ``Σ_1`` → ``\\Sigma_{1}``."""
    primes = len(name) - len(name.rstrip("'"))
    name = name.rstrip("'")
    base, _, sub = name.partition("_")
    if len(base) == 1:
        text = _greek(base).rstrip()
    elif is_function or base in ("vec", "vech", "diag", "tr", "adj", "sym"):
        text = rf"\operatorname{{{base}}}"
    else:
        text = rf"\mathrm{{{base}}}"
    if sub:
        text += "_{" + "".join(_greek(ch).rstrip() for ch in sub.replace("_", ",")) + "}"
    return text + "'" * primes


def latex(op):
    """The formula of `op` in LaTeX (math mode, without delimiters).

    Parameters
    ----------
    op : StructuredOperator
        The operator; its :meth:`~kronvec.StructuredOperator.formula` is translated.

    Returns
    -------
    str
        For example ``-(\\operatorname{inv}(X)^{\\top} \\otimes \\operatorname{inv}(X))``.

    Examples
    --------
    >>> from kronvec import Kron, Commutation, Identity, Dense
    >>> print(latex(Kron(Dense(np.eye(2), name="A"), Identity(3))))
    A \\otimes I_{3}
    >>> print(latex(Commutation(2, 3).T))
    K_{3,2}
    """
    return formula_latex(op.formula())


def formula_latex(text):
    """Translate a printed formula (``"-(inv(X)ᵀ ⊗ inv(X))"``) to LaTeX.

    >>> print(formula_latex("-(inv(X)ᵀ ⊗ inv(X))"))
    -(\\operatorname{inv}(X)^{\\top} \\otimes \\operatorname{inv}(X))
    >>> print(formula_latex("2.5·I₉ + S₁·diag(d₁)"))
    2.5 \\, I_{9} + S_{1} \\, \\operatorname{diag}(d_{1})
    """
    out, i, n = [], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "⟨":  # an abbreviation: ⟨sum of 12 terms⟩
            end = text.find("⟩", i)
            end = n if end < 0 else end
            out.append(r"\langle\text{" + _text_escape(text[i + 1:end]) + r"}\rangle")
            i = end + 1
            continue
        if text.startswith("einsum(", i):  # the subscripts are text: einsum(ij,·jk→ik; M₁)
            stop = min((k for k in (text.find(";", i), text.find(")", i)) if k >= 0), default=n)
            spec = text[i + len("einsum("):stop].replace("·", "•")
            out.append(r"\operatorname{einsum}(\texttt{" + _text_escape(spec) + "}")
            i = stop
            continue
        match = _NAME.match(text, i)
        if match:
            name = match.group(0)
            out.append(_name_latex(name, is_function=text.startswith("(", match.end())))
            i = match.end()
            continue
        if ch in _SUBSCRIPT_DIGITS:  # K₂,₃ → K_{2,3}
            j, digits = i, []
            while j < n and (text[j] in _SUBSCRIPT_DIGITS
                             or (text[j] == "," and j + 1 < n and text[j + 1] in _SUBSCRIPT_DIGITS)):
                digits.append(_SUBSCRIPT_DIGITS.get(text[j], ","))
                j += 1
            out.append("_{" + "".join(digits) + "}")
            i = j
            continue
        if ch in _SUPERSCRIPTS:  # ᵀ, ⁻¹, ⁻ᵀ → ^{\top}, ^{-1}, ^{-\top}
            j, marks = i, []
            while j < n and text[j] in _SUPERSCRIPTS:
                marks.append(_SUPERSCRIPTS[text[j]])
                j += 1
            out.append("^{" + "".join(marks) + "}")
            i = j
            continue
        if ch == " ":
            i += 1
            continue
        out.append(_SYMBOLS.get(ch, _greek(ch)))
        i += 1
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def _text_escape(text):
    return "".join({"{": r"\{", "}": r"\}", "\\": r"\textbackslash{}", "#": r"\#", "$": r"\$",
                    "%": r"\%", "&": r"\&", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}.get(c, c)
                   for c in text)


def repr_latex(op):
    """Jupyter's LaTeX view: ``$…$`` around :func:`latex`."""
    return f"${latex(op)}$"


# --------------------------------------------------------------------------------- memory
def _parts(value):
    """Arrays, sparse matrices and operators directly inside an attribute value."""
    if isinstance(value, (tuple, list)):
        for item in value:
            yield from _parts(item)
    elif isinstance(value, (np.ndarray, LinearOperator)) or issparse(value):
        yield value


def _attributes(obj):
    values = list(getattr(obj, "__dict__", {}).values())
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(obj, slot):
                values.append(getattr(obj, slot))
    return values


def _root_array(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def held_nbytes(op):
    """Bytes of the arrays `op` keeps, each counted once however often it is shared.

    Walks the operator and everything it refers to (factors, terms, cached
    transposes) without recursion; a view counts as the array it views.
    Returns ``(nbytes, complete)``: `complete` is False when the operator
    wraps a foreign ``LinearOperator`` whose memory cannot be seen.

    >>> from kronvec import Dense, Kron
    >>> A = Dense(np.ones((3, 3)))
    >>> held_nbytes(Kron(A, A.T))   # one 3×3 array, stored once
    (72, True)
    """
    children_of = {}

    def children(node):
        found = children_of.get(id(node))
        if found is None:
            found = children_of[id(node)] = tuple(
                part for value in _attributes(node) for part in _parts(value)
                if isinstance(part, LinearOperator))
        return found

    nodes = post_order(op, children)
    total, seen, complete = 0, set(), True
    from ._base import StructuredOperator

    for node in nodes:
        if not isinstance(node, StructuredOperator):
            complete = False  # a foreign LinearOperator: its storage is its own business
            continue
        for value in _attributes(node):
            for part in _parts(value):
                if issparse(part):
                    arrays = [getattr(part, name, None) for name in ("data", "indices", "indptr", "row", "col", "offsets")]
                    arrays = [array for array in arrays if isinstance(array, np.ndarray)]
                else:
                    arrays = [part] if isinstance(part, np.ndarray) else []
                for array in arrays:
                    root = _root_array(array)
                    if id(root) not in seen:
                        seen.add(id(root))
                        total += root.nbytes
    return total, complete


def format_bytes(nbytes):
    """``1536`` → ``'1.5 KiB'``.

    >>> format_bytes(512), format_bytes(3 * 2**30)
    ('512 B', '3.0 GiB')
    """
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024


def repr_html(op):
    """Jupyter's HTML view: formula, shape, dtype, memory held against the dense size.

    >>> from kronvec import Kron
    >>> text = repr_html(Kron(np.eye(100), np.eye(100)))
    >>> "10000×10000" in text and "762.9 MiB" in text   # the dense matrix it is not
    True
    """
    m, n = op.shape
    held, complete = held_nbytes(op)
    dense = op.dense_nbytes
    ratio = f"{held / dense:.2%}" if dense else "—"
    nnz = op.nnz_bound
    rows = [
        ("formula", f"<code>{html.escape(op.formula())}</code>"),
        ("shape", f"{m}×{n}"),
        ("dtype", html.escape(str(op.dtype))),
        ("memory held", f"{'' if complete else 'at least '}{format_bytes(held)} ({ratio} of dense)"),
        ("dense size", format_bytes(dense)),
        ("nonzeros", f"≤ {nnz:,}" + (f" ({nnz / (m * n):.2%})" if m * n else "")),
    ]
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{key}</th>"
        f"<td style='text-align:left'>{value}</td></tr>"
        for key, value in rows)
    return (f"<div class='kronvec-operator'><strong>{html.escape(type(op).__name__)}</strong>"
            f" <span style='opacity:0.7'>(kronvec structured operator)</span>"
            f"<table>{cells}</table></div>")


# ----------------------------------------------------------------------------------- spy
_PROBE_BYTES = 64 * 2**20  # input and output blocks of one probing matmat


def _exact_pattern(op, rows, cols):
    """Pixels holding a nonzero, from the operator's CSR."""
    S = op.tosparse().tocoo()
    keep = S.data != 0
    r = S.row[keep].astype(np.int64) * rows // op.shape[0]
    c = S.col[keep].astype(np.int64) * cols // op.shape[1]
    image = np.zeros(rows * cols, dtype=bool)
    image[r * cols + c] = True
    return image.reshape(rows, cols)


def _probed_pattern(op, rows, cols, seed=0):
    """Pixels holding a nonzero, by applying `op` to one random positive combination of the
    columns of each pixel column: a row of the result is nonzero exactly where some column
    of that pixel column is (up to cancellation, which random weights make improbable)."""
    m, n = op.shape
    rng = np.random.default_rng(seed)
    col_bin = np.arange(n, dtype=np.int64) * cols // n
    row_bin = np.arange(m, dtype=np.int64) * rows // m
    image = np.zeros((rows, cols), dtype=bool)
    block = max(1, _PROBE_BYTES // (8 * (m + n)))
    weights = rng.uniform(1.0, 2.0, size=n)
    for start in range(0, cols, block):
        stop = min(cols, start + block)
        members = (col_bin >= start) & (col_bin < stop)
        X = np.zeros((n, stop - start), dtype=op.dtype)
        X[np.flatnonzero(members), col_bin[members] - start] = weights[members]
        Y = np.asarray(op.matmat(X))
        hit_rows, hit_cols = np.nonzero(Y)
        image[row_bin[hit_rows], hit_cols + start] = True
    return image


def spy(op, ax=None, *, resolution=512, max_nnz=2**22, color="black"):
    """Plot where `op` has nonzeros, as ``matplotlib.pyplot.spy`` does.

    Never forms a large dense matrix.  When ``op.nnz_bound`` is at most
    `max_nnz`, the pattern comes from ``op.tosparse()`` (which refuses, as
    always, beyond ``kronvec.config.sparse_limit_bytes``); otherwise from
    applying the operator to blocks of random positive combinations of the
    columns that share a pixel (64 MiB of blocks at a time; about
    `resolution` columns in all).

    Parameters
    ----------
    op : StructuredOperator
        The operator to draw.
    ax : matplotlib.axes.Axes, optional
        Where to draw; the current axes by default.
    resolution : int, optional
        At most this many pixels per side: a larger operator is drawn with
        each pixel covering a block of entries, black when any entry of the
        block is nonzero.
    max_nnz : int, optional
        The largest ``nnz_bound`` for which the exact CSR is built.
    color : str, optional
        The colour of nonzero pixels.

    Returns
    -------
    matplotlib.image.AxesImage
        The image drawn (``image.axes`` is the axes).

    Raises
    ------
    ImportError
        When matplotlib is not installed.

    Examples
    --------
    >>> import kronvec
    >>> J = kronvec.jacobian(lambda X: X @ X)(np.eye(30))   # 900×900: (Xᵀ ⊗ I) + (I ⊗ X)
    >>> image = J.spy()                                      # doctest: +SKIP
    """
    try:
        import matplotlib.pyplot as plt
        from matplotlib.colors import ListedColormap
    except ImportError:
        raise ImportError(
            "spy() draws with matplotlib, which is not installed: python -m pip install matplotlib"
        ) from None
    if int(resolution) < 1:
        raise ValueError(f"resolution must be a positive number of pixels, got {resolution}")
    m, n = op.shape
    rows, cols = max(1, min(m, int(resolution))), max(1, min(n, int(resolution)))
    if m == 0 or n == 0:
        image = np.zeros((rows, cols), dtype=bool)
    elif op.nnz_bound <= max_nnz:
        image = _exact_pattern(op, rows, cols)
    else:
        image = _probed_pattern(op, rows, cols)
    if ax is None:
        ax = plt.gca()
    drawn = ax.imshow(image, cmap=ListedColormap(["white", color]), vmin=0, vmax=1,
                      interpolation="nearest", extent=(-0.5, n - 0.5, m - 0.5, -0.5), aspect="equal")
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    return drawn
