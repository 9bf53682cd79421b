"""Every docstring example in kronvec runs and prints what it says."""

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import kronvec

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(kronvec.__path__, prefix="kronvec.")
    if name not in {"kronvec.__main__", "kronvec._kernels"}  # _kernels imports numba
)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    if module_name.split(".")[:2] == ["kronvec", "dask"]:
        pytest.importorskip("dask.array")  # the optional extra kronvec[dask]
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    for test in finder.find(module, module_name, globs={"np": np, **vars(module)}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"
