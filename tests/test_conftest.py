"""The suite's own fixtures (tests/conftest.py) do what they promise."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

RNG = np.random.default_rng(0)


def _expected_draws(request, count):
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode())).standard_normal(count)


@pytest.mark.parametrize("case", ["first", "second"])
def test_module_generators_are_reseeded_from_the_test_id(request, case):
    # Whatever ran before (the other case, another module in this worker), a test's draws
    # from a module-level generator are those of its own id: without the reseeding the
    # first case would draw from seed 0 and the second would continue the first's stream.
    expected = _expected_draws(request, 8)
    np.testing.assert_array_equal(RNG.standard_normal(5), expected[:5])
    np.testing.assert_array_equal(RNG.standard_normal(3), expected[5:])
