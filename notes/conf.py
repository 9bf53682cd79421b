"""Sphinx configuration of kronvec's documentation site.

Build (from the repository root, warnings are errors):

    python -m sphinx -W --keep-going -b html notes notes/_build/html

The sources are the Markdown notes in this folder (MyST), the gallery scripts
in ``examples/`` (sphinx-gallery runs them and keeps their figures), and an
API reference that this file writes into ``api/`` from each public module's
``__all__`` on every build, so a name added to ``__all__`` is documented with
no edit here.  ``_build/``, ``api/`` and ``gallery/`` are generated and
ignored by git.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # document this checkout's kronvec, not another installed copy

import kronvec  # noqa: E402

project = "kronvec"
author = "kronvec developers"
copyright = "kronvec developers"
release = version = kronvec.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated", "examples", "Thumbs.db", ".DS_Store"]
templates_path = []

# --- MyST: GitHub-style heading anchors, so the notes' links (conventions.md#7-kinks-and-ties)
# and the README's (#supported-functions) resolve as they do on GitHub.
myst_heading_anchors = 4

# --- autodoc + numpydoc
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
autosummary_generate = False  # the API pages are written below, from __all__
numpydoc_show_class_members = False  # autodoc's :members: lists them once
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False

# --- sphinx-gallery: every notes/examples/plot_*.py is run and its figures kept.
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "capture_repr": ("_repr_html_", "__repr__"),
    "abort_on_example_error": True,
    "min_reported_time": 1,
    "write_computation_times": False,
    "show_memory": False,
    "line_numbers": False,
    "reset_modules": ("matplotlib",),
}

# --- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"kronvec {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 5,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_static_path = []
html_last_updated_fmt = None

os.environ.setdefault("MPLBACKEND", "Agg")  # the gallery draws without a display


# ----------------------------------------------------------------------------------------------
# The API reference, written from __all__.
# Pages in reading order; `owner` pages document the objects first (a name re-exported
# elsewhere points back to it), so each object is described once.
API_PAGES = [
    ("kronvec", "The transformations (jacobian, grad, hessian, …), vec and config"),
    ("kronvec.operators", "Structured operators: what a Jacobian in vec form is"),
    ("kronvec.rules", "Closed-form rules and combinators"),
    ("kronvec.optimize", "scipy.optimize with matrix unknowns"),
    ("kronvec.scipy.special", "scipy.special for traced values"),
    ("kronvec.scipy.stats", "scipy.stats distributions for traced values"),
    ("kronvec.scipy.signal", "scipy.signal for traced values"),
    ("kronvec.scipy.linalg", "scipy.linalg for traced values"),
    ("kronvec.scipy.integrate", "scipy.integrate.odeint for traced values"),
]
# Which page owns an object documented on several: operator classes belong to the
# operators page, everything else to the first page that lists it.
OWNER_ORDER = ["kronvec.operators"] + [name for name, _ in API_PAGES if name != "kronvec.operators"]


def _is_foreign(obj):
    """An object kronvec re-exports from SciPy or NumPy (a scipy.special ufunc…)."""
    if isinstance(obj, np.ufunc):
        return True
    module = getattr(obj, "__module__", None) or ""
    return not module.startswith("kronvec") and not isinstance(obj, types.ModuleType)


def _foreign_name(obj, name):
    module = getattr(obj, "__module__", None) or ""
    if isinstance(obj, np.ufunc) or module.startswith("scipy.special"):
        return f"scipy.special.{name}"
    return f"{module.split('._')[0]}.{name}" if module else name


def _entry(module_name, name, obj, owners, page):
    """The reST that documents `module_name.name`."""
    full = f"{module_name}.{name}"
    owner = owners.get(id(obj))
    if owner is not None and owner != full:
        role = "class" if inspect.isclass(obj) else "func" if callable(obj) else "data"
        return f".. rubric:: {name}\n\nThe same object as :{role}:`{owner}`.\n"
    if inspect.isclass(obj):
        return f".. autoclass:: {full}\n   :members:\n   :show-inheritance:\n"
    if inspect.isroutine(obj):
        return f".. autofunction:: {full}\n"
    return f".. autodata:: {full}\n   :no-value:\n"


def _collect_owners():
    owners = {}
    for module_name in OWNER_ORDER:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType) or _is_foreign(obj) or isinstance(obj, (str, int, float, tuple, dict)):
                continue
            owners.setdefault(id(obj), f"{module_name}.{name}")
    return owners


def _module_page(module_name, title, owners):
    module = importlib.import_module(module_name)
    names = list(module.__all__)
    heading = f"``{module_name}``"
    lines = [heading, "=" * len(heading), "",
             f".. automodule:: {module_name}", "   :no-members:", "",
             f".. currentmodule:: {module_name}", ""]
    own, foreign, submodules = [], [], []
    for name in names:
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            submodules.append((name, obj))
        elif _is_foreign(obj):
            foreign.append((name, obj))
        else:
            own.append((name, obj))
    if not names:
        lines += ["This namespace exports no name yet.", ""]
    if own:
        lines += [".. autosummary::", ""] + [f"   {name}" for name, _ in own] + [""]
        for name, obj in own:
            lines += [_entry(module_name, name, obj, owners, module_name)]
    for name, sub in submodules:
        if any(sub.__name__ == page for page, _ in API_PAGES):
            lines += [f".. rubric:: {name}", "", f"The module :mod:`{sub.__name__}` (its own page).", ""]
            continue
        sub_heading = f"``{sub.__name__}``"
        lines += [sub_heading, "-" * len(sub_heading), "",
                  f".. automodule:: {sub.__name__}", "   :no-members:", "",
                  f".. currentmodule:: {sub.__name__}", "",
                  ".. autosummary::", ""] + [f"   {n}" for n in sub.__all__] + [""]
        for n in sub.__all__:
            lines += [_entry(sub.__name__, n, getattr(sub, n), owners, sub.__name__)]
    if foreign:
        lines += ["Re-exported from SciPy", "----------------------", "",
                  "These are SciPy's own objects; kronvec differentiates them on traced values "
                  "(documentation: SciPy's reference).", ""]
        lines += [".. list-table::", "   :header-rows: 1", "", "   * - name", "     - SciPy object"]
        for name, obj in foreign:
            lines += [f"   * - ``{module_name}.{name}``", f"     - ``{_foreign_name(obj, name)}``"]
        lines += [""]
    return "\n".join(lines)


def _write_if_changed(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_api_pages():
    owners = _collect_owners()
    api = HERE / "api"
    header = ["API reference", "=============", "",
              "Every public name of kronvec, generated from each module's ``__all__``.", ""]
    index = ["", ".. toctree::", "   :maxdepth: 1", "   :hidden:", ""]
    table = []
    for module_name, title in API_PAGES:
        _write_if_changed(api / f"{module_name}.rst", _module_page(module_name, title, owners))
        index.append(f"   {module_name}")
        table.append(f"* :mod:`{module_name}` — {title}.")
    _write_if_changed(api / "index.rst", "\n".join(header + table + index) + "\n")


write_api_pages()


# ----------------------------------------------------------------------------------------------
# Pages made from the README and the benchmark report, so that they never drift apart: the
# README's sections from its first "## " heading up to "Performance" become the getting-started
# page, its "Performance" section and benchmarks/compare_results/results.md the performance page.
# Links are rewritten for the site: notes/X.md -> X.md, files the site does not hold -> their
# text, images -> paths from notes/.
_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")


def _site_link(match, base):
    bang, text, target = match.groups()
    if re.match(r"[a-z]+:|#", target):
        return match.group(0)
    path = (base / target.split("#")[0]).resolve()
    anchor = target[len(target.split("#")[0]):]
    if bang:
        return f"![{text}]({os.path.relpath(path, HERE)})"
    if path.parent == HERE and path.suffix == ".md":
        return f"[{text}]({path.name}{anchor})"
    if path == ROOT / "benchmarks" / "compare_results" / "results.md":
        return f"[{text}](performance.md)"
    return text  # a file of the repository, not a page of the site


def _for_site(text, base, demote=0):
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            line = _LINK.sub(lambda m: _site_link(m, base), line)
            if demote and line.startswith("#"):  # demote > 0 lowers headings, < 0 raises them
                level = len(line) - len(line.lstrip("#"))
                line = "#" * max(1, level + demote) + line[level:]
            if line.lstrip().startswith("|"):  # ln|S| inside a table cell is not a column bar
                line = re.sub(r"(?<=[A-Za-z])\|([A-Za-z]\w*)\|", r"\\|\1\\|", line)
        out.append(line)
    return "\n".join(out) + "\n"


def _sections(text):
    """[(title, text)] of the "## " sections of a Markdown file (fences respected)."""
    sections, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if line.startswith("## ") and not fenced:
            sections.append([line[3:].strip(), []])
        if sections:
            sections[-1][1].append(line)
    return [(title, "\n".join(lines)) for title, lines in sections]


def write_readme_pages():
    readme = _sections((ROOT / "README.md").read_text(encoding="utf-8"))
    titles = [title for title, _ in readme]
    stop = next((i for i, t in enumerate(titles) if t.lower().startswith("performance")), len(titles))
    start = "\n\n".join(body for title, body in readme[:stop] if title.lower() != "notes")
    _write_if_changed(HERE / "_generated" / "readme_start.md", _for_site(start, ROOT))
    # the section without its own "## Performance" heading: the page has its title
    performance = "\n\n".join(body.split("\n", 1)[-1] for title, body in readme[stop:stop + 1])
    _write_if_changed(HERE / "_generated" / "readme_performance.md", _for_site(performance, ROOT, demote=-1))
    report = ROOT / "benchmarks" / "compare_results" / "results.md"
    text = report.read_text(encoding="utf-8") if report.exists() else "*No comparison report.*"
    _write_if_changed(HERE / "_generated" / "compare_results.md", _for_site(text, report.parent, demote=1))


write_readme_pages()


# ----------------------------------------------------------------------------------------------
# Docstrings are written in plain-text mathematics (``|X|`` for a determinant, ``f(X, *args)``),
# which reST would read as substitution references and emphasis.  Before rendering, escape a
# ``|`` and an unpaired ``*`` in prose (never inside literals, roles, doctests or literal
# blocks), and lengthen a section underline shorter than its title: the text then shows as
# written, and the docstrings stay plain for ``help()``.
_LITERAL = re.compile(r"(``.+?``|:[\w:+-]+:`[^`]*`|`[^`]*`_{0,2})")
_STAR = re.compile(r"(?<![\w*\\`])(\*{1,2})(?=[A-Za-z_(])")
_UNDERLINE = re.compile(r"^(\s*)([-=~^])\2{2,}\s*$")


def _escape_stars(text):
    out, pos = [], 0
    for match in _STAR.finditer(text):
        rest = text[match.end():]
        # an emphasis start-string is fine when a closing * follows a non-space character
        closes = re.search(r"(?<=[^\s*\\])\*+(?![\w])", rest)
        if closes is None:
            out.append(text[pos:match.start()] + "\\*" * len(match.group(1)))
            pos = match.end()
    return "".join(out) + text[pos:]


def _escape_prose(text):
    pieces = _LITERAL.split(text)
    for k in range(0, len(pieces), 2):  # even pieces are outside literals and roles
        pieces[k] = _escape_stars(pieces[k].replace("|", "\\|"))
    return "".join(pieces)


def plain_text_docstrings(app, what, name, obj, options, lines):
    if any(line.lstrip().startswith(("+-", "+=")) for line in lines):
        return  # a grid table: leave its bars alone
    literal_indent, in_doctest = None, False
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped:
            in_doctest = False
            continue
        if literal_indent is not None:
            if indent > literal_indent:
                continue
            literal_indent = None
        if stripped.startswith(">>>") or in_doctest:
            in_doctest = True
            continue
        if stripped.startswith(".. "):
            literal_indent = indent  # a directive: its body is left as it is
            continue
        underline = _UNDERLINE.match(line)
        if underline and i > 0 and lines[i - 1].strip() and not _UNDERLINE.match(lines[i - 1]):
            title = lines[i - 1].rstrip()
            lines[i] = underline.group(1) + underline.group(2) * max(len(title) - len(underline.group(1)), 3)
            continue
        lines[i] = _escape_prose(line)
        if stripped.endswith("::"):
            literal_indent = indent


def init_signature(app, what, name, obj, options, signature, return_annotation):
    """A class's __init__ signature: SciPy's LinearOperator.__new__(*args, **kwargs) hides it."""
    if what == "class" and signature == "(*args, **kwargs)" and obj.__init__ is not object.__init__:
        try:
            parameters = list(inspect.signature(obj.__init__).parameters.values())[1:]
        except (TypeError, ValueError):
            return None
        return str(inspect.Signature(parameters)), return_annotation
    return None


# Pages of notes/ that index.md does not list (a note another change adds) join its toctree
# here, so that a new note never breaks the build.
_LISTED = {"index", "getting_started", "conventions", "derivatives", "optimization", "extending",
           "performance"}


def other_notes(app, docname, source):
    if docname != "index":
        return
    extra = sorted(path.stem for path in HERE.glob("*.md") if path.stem not in _LISTED)
    if extra:
        source[0] += "\n\n```{toctree}\n:hidden:\n\n" + "\n".join(extra) + "\n```\n"


def setup(app):
    app.connect("source-read", other_notes)
    app.connect("autodoc-process-signature", init_signature)
    # after numpydoc (priority 500), which escapes the * of its own parameter names
    app.connect("autodoc-process-docstring", plain_text_docstrings, priority=600)
