"""What kronvec differentiates, read from the registry: ``SUPPORTED_FUNCTIONS``
and the README's table of it (kept in sync by ``tools/sync_readme.py``,
checked by ``tests/test_readme.py``)."""

from __future__ import annotations


from ._traced_array import _TWO_OUTPUTS, _UFUNC_METHODS, function_name
from .ops import NUMPY_FUNCTIONS, UFUNCS, UFUNCS_WITH_PARAMETERS, VALUE_ONLY_UFUNCS
from .ops import elementwise as _elementwise
from .ops import joining as _joining

__all__ = ["SUPPORTED_FUNCTIONS", "supported_by_family", "supported_markdown"]

_SYNTAX = (
    "operators + - * / // % ** @ (unary -, abs) .T .mT, indexing and slicing, comparisons",
    "assignment x[...] = v and in-place operators (x += y), recorded functionally",
    "ufunc.outer (np.add.outer, np.multiply.outer …) of every ufunc above",
    "ufunc.reduce and ufunc.accumulate of every binary ufunc above (np.logaddexp.reduce, np.maximum.accumulate …)",
    "ufunc.at of np.add and np.subtract (np.add.at(Y, idx, v)) into a traced array: an unbuffered scatter-add, recorded functionally",
)

# family → heading, in the order of notes/extending.md's table of ops modules
_FAMILIES = {
    "elementwise": "Elementwise (diagonal Jacobians)",
    "special": "scipy.special (diagonal Jacobians)",
    "reductions": "Reductions",
    "shape": "Axes and shapes",
    "indexing": "Selecting entries",
    "joining": "Joining, splitting, padding",
    "assignment": "Writes, recorded functionally",
    "differences": "Differences and sampled calculus",
    "statistics": "NaN-skipping reductions, covariance, polynomials",
    "polynomials": "NaN-skipping reductions, covariance, polynomials",
    "factorizations": "Factorizations",
    "eigen_general": "Factorizations",
    "contractions": "Products and contractions",
    "products": "Products and contractions",
    "linalg": "Linear algebra",
    "syntax": "Python syntax on traced arrays",
}


def _family_of_function(handler):
    module = getattr(handler, "__module__", "") or ""
    # the family is the module under kronvec.ops (kronvec.ops.factorizations.svd: factorizations)
    return module.split(".")[2] if module.startswith("kronvec.ops.") else "elementwise"


def _family_of_ufunc(ufunc):
    if ufunc.signature is not None:  # matmul, vecdot, matvec, vecmat: gufuncs that contract
        return "contractions"
    return "special" if function_name(ufunc).startswith("scipy.") else "elementwise"


def supported_by_family():
    """``{heading: sorted names}``: every function and ufunc kronvec
    differentiates (or evaluates as a piecewise-constant plain value), grouped
    as the README lists them."""
    groups = {}

    def add(family, name):
        groups.setdefault(_FAMILIES.get(family, family), set()).add(name)

    for function, handler in NUMPY_FUNCTIONS.items():
        add(_family_of_function(handler), function_name(function))
    for ufunc in list(UFUNCS) + list(UFUNCS_WITH_PARAMETERS) + list(VALUE_ONLY_UFUNCS):
        add(_family_of_ufunc(ufunc), function_name(ufunc))
    for ufunc, method in _UFUNC_METHODS:  # np.add.reduce is np.sum (…): dispatched by __array_ufunc__
        add("reductions", f"{function_name(ufunc)}.{method}")
    for ufunc in _TWO_OUTPUTS:  # np.modf, np.divmod: the pair of ufuncs computing their outputs
        add("elementwise", function_name(ufunc))
    for name in _elementwise.ON_DEMAND_NAMES:  # scipy.special, registered when SciPy is first used
        add("special", name)
    add("elementwise", "np.positive")
    for name in _joining.COERCIONS:  # not dispatched: through __array__ and lifting (derivatives.md §29)
        add("joining", name)
    for entry in _SYNTAX:
        add("syntax", entry)
    order = list(dict.fromkeys(_FAMILIES.values()))
    return {heading: tuple(sorted(groups[heading])) for heading in order if heading in groups}


def supported_markdown():
    """The README's list of supported functions, one line per family."""
    lines = []
    for heading, names in supported_by_family().items():
        shown = ", ".join(f"`{name}`" if name.startswith(("np.", "scipy.")) else name for name in names)
        lines.append(f"- **{heading}** ({len(names)}): {shown}")
    return "\n".join(lines) + "\n"


#: The NumPy functions, ufuncs and SciPy ufuncs kronvec differentiates, generated from the registry.
SUPPORTED_FUNCTIONS = tuple(sorted({name for names in supported_by_family().values() for name in names}))
