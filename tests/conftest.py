"""Shared pytest configuration: hypothesis profiles.

Two profiles, chosen by the ``HYPOTHESIS_PROFILE`` environment variable:

* ``ci``  — derandomized (reproducible on every run), 30 examples per
  property, failing examples printed as a reproduction blob;
* ``dev`` — random, 200 examples per property, for local bug hunting.

Without ``HYPOTHESIS_PROFILE`` the profile is ``ci``: the README's test
command, ``.ci/run`` and a CI service all run the same reproducible suite
(2 cores, two pytest-xdist workers, well under 10 minutes), with no environment
variable to remember.
``HYPOTHESIS_PROFILE=dev python -m pytest`` explores with fresh random examples.
``deadline=None`` in both: the first call of a materializer may pay a
one-off import or compile cost that is not a property of the code under test.

Numerical helpers shared by the test modules live in ``tests/_helpers.py``.
"""

import os
import zlib

import numpy as np
import pytest
from hypothesis import settings

import kronvec
import kronvec.ops.special  # noqa: F401 (registered on first use otherwise: the sweep covers it too)

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=30, print_blob=True)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    """A freshly seeded generator per test, so every test is reproducible on its own."""
    return np.random.default_rng(20240611)


@pytest.fixture(autouse=True)
def module_generators_reseeded_per_test(request):
    """Reseed every module-level ``np.random.Generator`` of the test's module from the
    test's own id before it runs.

    Test modules draw from module-level generators (``RNG = np.random.default_rng(…)``).
    Left alone, a test's draws would depend on which tests ran before it in the same
    process — and pytest-xdist hands tests to its workers in an order that changes from
    run to run — so a test could pass in one run and, with an unlucky draw, fail the
    next.  Seeded from the test id, every test draws the same numbers in every run,
    alone or in the suite.  (Arrays the modules drew at import are drawn once, in
    import order: unaffected.)"""
    seed = zlib.crc32(request.node.nodeid.encode())
    for value in vars(request.module).values():
        if isinstance(value, np.random.Generator):
            value.bit_generator.state = type(value.bit_generator)(seed).state
    yield


@pytest.fixture(autouse=True)
def config_is_left_as_found():
    """Fail any test that leaves ``kronvec.config`` changed (and put it back, so
    one leak cannot silently change what every later test runs on)."""
    before = kronvec.config.snapshot()
    yield
    after = kronvec.config.snapshot()
    if after != before:
        for name, value in before.items():
            setattr(kronvec.config, name, value)
        changed = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
        pytest.fail(f"the test left kronvec.config changed (before, after): {changed}")
