"""The README's list of supported functions is the registry's (issue 12):
regenerate it with ``python tools/sync_readme.py`` after adding an operation."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

import kronvec

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _sync_module():
    spec = importlib.util.spec_from_file_location("sync_readme", ROOT / "tools" / "sync_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_lists_exactly_the_registry():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _sync_module().synced(text) == text, "README.md is out of date: run python tools/sync_readme.py"


def test_every_listed_numpy_function_is_dispatched_and_every_dispatched_one_is_listed():
    from kronvec.ops import NUMPY_FUNCTIONS, UFUNCS
    from kronvec.ops.joining import COERCIONS  # (not dispatched: __array__ and lifting, tests/test_object_arrays.py)

    listed = set(kronvec.SUPPORTED_FUNCTIONS)
    for name in listed:
        if name.startswith("np."):
            target = np
            for part in name[3:].split("."):
                target = getattr(target, part)
            ufunc_method = (getattr(target, "__self__", None), getattr(target, "__name__", None))
            assert (target in NUMPY_FUNCTIONS or target in UFUNCS or isinstance(target, np.ufunc)
                    or name in COERCIONS or ufunc_method in kronvec._traced_array._UFUNC_METHODS), name
    for function in NUMPY_FUNCTIONS:
        assert kronvec._traced_array.function_name(function) in listed, function


def test_the_readme_python_examples_run_in_order():
    """Every ```python block of the README, run top to bottom in one namespace (as a
    reader pasting them would): an example that no longer runs fails here."""
    import re

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    namespace = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)


def test_ci_runs_exactly_the_readme_test_command():
    """`.ci/run` runs the README's second command as written: no environment variable or
    option of its own (the hypothesis profile is chosen in tests/conftest.py)."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line for block in re.findall(r"```bash\n(.*?)```", readme, re.S)
                for line in block.splitlines() if line and not line.startswith("#")]
    test_command = next(line for line in commands if "pytest" in line)
    script = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
              if line and not line.startswith("#")]
    assert script[-1] == test_command, (script[-1], test_command)
    assert not any(line.startswith("export") or "=" in line.split()[0] for line in script), script
