"""The distribution ships every part of kronvec: the packages listed in pyproject.toml
are exactly the folders of Python modules under kronvec/, each with an __init__.py
(a folder without one imports from a source checkout as a namespace package, and is
silently left out of the wheel)."""

from __future__ import annotations

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_module_folder_is_a_listed_package():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "kronvec").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert folders == listed, f"not listed: {sorted(folders - listed)}; listed but absent: {sorted(listed - folders)}"
    for package in folders:
        assert (ROOT.joinpath(*package.split(".")) / "__init__.py").is_file(), f"{package} has no __init__.py"
