"""Formulas of operators: true labels, numbered placeholders, no recursion.

A label is printed only for a matrix somebody named (``Dense(A, name="A")``,
the rules' ``inv(X)``, the true names K₂,₃, D₃, L₃, I₄).  An anonymous leaf
is printed as a placeholder numbered within one printed formula, in order of
first appearance:

=============================  ==============
anonymous leaf                 placeholder
=============================  ==============
Dense, Sparse, Wrapped matrix  ``M₁``, ``M₂``…
Selection (0/1 index map)      ``S₁``, ``S₂``…
Diag                           ``diag(d₁)``…
RowVector                      ``v₁ᵀ``…
=============================  ==============

Placeholders are keyed by the leaf's data (its read-only array), so one
matrix used twice — or with its transpose, ``M₁ ⊗ M₁ᵀ`` — prints the same
placeholder, and two different matrices never share one.

Rendering walks the DAG iteratively (:func:`kronvec.operators._dag.post_order`)
and renders each shared sub-operator once per formula.  A composite whose
text would exceed :data:`FORMULA_LIMIT` characters is abbreviated, e.g.
``⟨sum of 12 terms⟩``: formulas of deep compositions would otherwise grow
exponentially.
"""

from __future__ import annotations

import re

from ._dag import post_order

__all__ = ["Label", "render", "parenthesize", "capped", "FORMULA_LIMIT", "PLACEHOLDER_KINDS"]

FORMULA_LIMIT = 160

#: What an anonymous leaf of each kind prints as, before its number.
PLACEHOLDER_KINDS = {"matrix": "M", "selection": "S", "diagonal": "d", "row": "v"}

_SLOT = "\x00"  # where a Label's placeholder goes in its template
_MARKER = re.compile("\ue000([0-9]+)\ue001")  # a placeholder inside a rendering, before numbering
_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


class Precedence:
    """Binding strength of a formula, for deciding where parentheses go."""

    SUM = 1
    KRON = 2
    PRODUCT = 3
    ATOM = 4


def parenthesize(text, precedence, parent_precedence):
    """`text` in parentheses when it binds more loosely than its context."""
    return f"({text})" if precedence < parent_precedence else text


def capped(text, kind, count):
    """`text`, or ``⟨sum of 12 terms⟩`` when it is longer than FORMULA_LIMIT."""
    if len(text) <= FORMULA_LIMIT:
        return text
    return f"⟨{kind} of {count} {'terms' if kind == 'sum' else 'factors'}⟩"


def name_precedence(name):
    """How tightly a name like ``"A·B"``, ``"A + B"`` or ``"inv(X)"`` binds."""
    depth, top = 0, []
    for ch in name:
        depth += ch == "("
        if depth == 0:
            top.append(ch)
        depth -= ch == ")"
    top = "".join(top)
    if " + " in top or " - " in top:
        return Precedence.SUM
    if "·" in top or " ⊗ " in top or top.startswith("-"):
        return Precedence.PRODUCT
    return Precedence.ATOM


def transposed_name(name):
    """``A`` → ``Aᵀ``, ``Aᵀ`` → ``A``, ``A + B`` → ``(A + B)ᵀ``."""
    if name.endswith("ᵀ") and name_precedence(name[:-1]) == Precedence.ATOM:
        return name[:-1]
    if name_precedence(name) != Precedence.ATOM:
        return f"({name})ᵀ"
    return name + "ᵀ"


class Label:
    """How a leaf prints: a name somebody gave it, or an anonymous placeholder.

    Parameters
    ----------
    name : str or None
        The user's name; None makes the label anonymous.
    kind : str
        A key of :data:`PLACEHOLDER_KINDS` (for anonymous labels).
    key : object
        What identifies the anonymous matrix: its read-only data array.
    template : str, optional
        How the placeholder is decorated (``"{}ᵀ"`` for a transpose...),
        with ``"\\x00"`` standing for it.
    """

    __slots__ = ("_template", "_kind", "_key")

    def __init__(self, name, kind, key, template=_SLOT):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"an operator's name must be a str or None, got {type(name).__name__}")
        self._template = template if name is None else name
        self._kind = kind
        self._key = key if name is None else None

    @property
    def name(self):
        """The user's name (decorated, e.g. ``"Aᵀ"``), or None when anonymous."""
        return None if self._key is not None else self._template

    @property
    def precedence(self):
        return name_precedence(self._template)

    def derived(self, template):
        """A label for a matrix computed from this one alone, e.g. ``"inv({})"``."""
        return self._with(template.replace("{}", self._template))

    def transposed(self):
        return self._with(transposed_name(self._template))

    def _with(self, template):
        label = Label.__new__(Label)
        label._template, label._kind, label._key = template, self._kind, self._key
        return label

    def text(self, placeholders):
        """The text inside one rendering (placeholders still unnumbered)."""
        if self._key is None:
            return self._template
        return self._template.replace(_SLOT, placeholders.marker(self._kind, self._key))


class _Placeholders:
    """The anonymous matrices met in one rendering, numbered at the end in
    order of first appearance in the final text (abbreviated parts of the
    formula never use up a number)."""

    def __init__(self):
        self._serials = {}  # id(key) → serial; `keys` keeps each key alive meanwhile
        self._keys = []
        self._kinds = []

    def marker(self, kind, key):
        serial = self._serials.get(id(key))
        if serial is None:
            serial = self._serials[id(key)] = len(self._keys)
            self._keys.append(key)
            self._kinds.append(kind)
        return f"\ue000{serial}\ue001"

    def number(self, text):
        numbers, counters = {}, {}

        def placeholder(match):
            serial = int(match.group(1))
            if serial not in numbers:
                kind = self._kinds[serial]
                counters[kind] = counters.get(kind, 0) + 1
                numbers[serial] = PLACEHOLDER_KINDS[kind] + str(counters[kind]).translate(_SUBSCRIPTS)
            return numbers[serial]

        return _MARKER.sub(placeholder, text)


def _formula_children(op):
    return op._formula_children()


def render(root):
    """The formula of `root`: every node rendered once, children first."""
    placeholders = _Placeholders()
    texts = {}
    for op in post_order(root, _formula_children):
        parts = [(texts[id(child)], child.precedence) for child in op._formula_children()]
        texts[id(op)] = op._render(parts, placeholders)
    return placeholders.number(texts[id(root)])
