"""The documentation site builds, warnings as errors, with every page it promises.

Runs the README's command (``python -m sphinx -W --keep-going -b html notes
notes/_build/html``) into a temporary folder, in a subprocess (Sphinx, the
gallery's matplotlib and their warning filters stay out of this process), then
checks the result: the notes as pages, an API entry for every name of every
public module's ``__all__``, and a gallery of at least five examples with
their figures.  Skipped, naming the missing package, when the docs extra is
not installed (``python -m pip install ".[docs]"``; the test extra includes it).
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

for _package in ("sphinx", "pydata_sphinx_theme", "numpydoc", "myst_parser", "sphinx_gallery", "matplotlib"):
    pytest.importorskip(_package, reason=f"{_package} is not installed: the docs extra is needed "
                                         "(python -m pip install '.[docs]')")

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "notes"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html",
               "-d", str(out / "doctrees"), str(NOTES), str(out / "html")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    log = done.stdout + done.stderr
    assert done.returncode == 0, "the site does not build cleanly:\n" + log[-6000:]
    return out / "html"


def test_the_notes_are_pages(site):
    for page in ("index", "getting_started", "conventions", "derivatives", "optimization",
                 "extending", "performance", "api/index", "gallery/index"):
        assert (site / f"{page}.html").is_file(), page
    start = re.sub(r"<[^>]*>", "", (site / "getting_started.html").read_text(encoding="utf-8"))
    assert "kronvec.jacobian(np.linalg.inv)" in start  # the README's quick start
    performance = (site / "performance.html").read_text(encoding="utf-8")
    assert "reach.png" in performance and (site / "_images" / "reach.png").is_file()


API_MODULES = ["kronvec", "kronvec.operators", "kronvec.rules", "kronvec.optimize",
               "kronvec.scipy.special", "kronvec.scipy.stats", "kronvec.scipy.signal",
               "kronvec.scipy.linalg", "kronvec.scipy.integrate"]


@pytest.mark.parametrize("module_name", API_MODULES)
def test_every_public_name_is_in_the_api_reference(site, module_name):
    assert f'href="{module_name}.html"' in (site / "api" / "index.html").read_text(encoding="utf-8")
    text = (site / "api" / f"{module_name}.html").read_text(encoding="utf-8")
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        # documented here (an anchor), or a heading pointing to where it is, or listed as SciPy's
        assert (f'id="{module_name}.{name}"' in text
                or f'<p class="rubric">{name}</p>' in text
                or f"{module_name}.{name}</span>" in text), f"{module_name}.{name} is missing"
        if hasattr(obj, "__all__") and obj.__name__ not in API_MODULES:
            for inner in obj.__all__:  # the distributions of kronvec.scipy.stats
                assert f'id="{obj.__name__}.{inner}"' in text, f"{obj.__name__}.{inner} is missing"


def test_the_gallery_has_examples_with_figures(site):
    examples = sorted(NOTES.glob("examples/plot_*.py"))
    assert len(examples) >= 5
    for example in examples:
        page = site / "gallery" / f"{example.stem}.html"
        assert page.is_file(), example.name
        figures = list((site / "_images").glob(f"sphx_glr_{example.stem}_0*.png"))
        assert figures, f"{example.name} drew no figure"


def test_operators_show_their_summary_in_the_gallery(site):
    page = (site / "gallery" / "plot_jupyter_display.html").read_text(encoding="utf-8")
    assert "kronvec-operator" in page and "memory held" in page  # _repr_html_ captured
