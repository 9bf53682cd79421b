"""One-off costs, each timed in a fresh Python process (asv ``timeraw_*``).

* ``timeraw_import_kronvec`` against ``timeraw_import_dependencies`` (numpy +
  scipy.sparse.linalg, which kronvec imports anyway): importing kronvec must
  compile nothing and import no numba;
* ``timeraw_import_numba_kernels``: what the first large materialization pays
  to import numba and ``kronvec._kernels`` (no compilation yet);
* ``FirstMaterialization.timeraw_compile_cold_cache``: the first call of each
  materializer with an empty numba cache (``NUMBA_CACHE_DIR`` set to a fresh
  temporary directory) -- pure compile time, numba already imported;
* ``FirstMaterialization.timeraw_load_warm_cache``: the same first call when
  the cache is populated (``setup`` fills it) -- what every later process pays;
* ``FirstMaterialization.timeraw_import_and_first_call``: import kronvec and
  make the first call with a warm cache, as a user's new process does.

The materializations are tiny (8×8 factors) and forced onto the numba path
(``numba_min_entries = 0``), so these numbers are overhead only; the steady
state is in ``sparse`` and ``operators``.
"""

from __future__ import annotations

import textwrap

_FRESH_CACHE = """
import atexit, os, shutil, tempfile
_cache = tempfile.mkdtemp(prefix="kronvec-asv-numba-")
atexit.register(shutil.rmtree, _cache, True)
os.environ["NUMBA_CACHE_DIR"] = _cache
"""

_INPUTS = """
import numpy as np
import kronvec
kronvec.config.numba_min_entries = 0
_rng = np.random.default_rng(0)
X = _rng.standard_normal((8, 8)) + 6.0 * np.eye(8)
A = _rng.random((8, 8)) + 0.1
"""

#: name → (operator expression, materializer call); all share _INPUTS.
CASES = {
    "toarray(inv)": ("kronvec.jacobian(np.linalg.inv)(X)", "J.toarray()"),
    "tosparse(kron(I,A))": ("kronvec.Kron(kronvec.Identity(8), A)", "J.tosparse()"),
    "tosparse(sum)": ("kronvec.jacobian(lambda X: X @ X)(X)", "J.tosparse()"),
}


def _setup_code(name, *, fresh_cache, import_numba):
    expression, _ = CASES[name]
    code = (_FRESH_CACHE if fresh_cache else "") + _INPUTS + f"J = {expression}\n"
    if import_numba:
        code += "import numba, kronvec._kernels\n"
    return textwrap.dedent(code)


def timeraw_import_kronvec():
    return "import kronvec"


def timeraw_import_dependencies():
    return "import numpy, scipy.sparse, scipy.sparse.linalg"


def timeraw_import_numba_kernels():
    return "import kronvec._kernels", "import kronvec"


for _function in (timeraw_import_kronvec, timeraw_import_dependencies, timeraw_import_numba_kernels):
    _function.repeat = (3, 10, 20.0)
    _function.warmup_time = 0
    _function.number = 1


class FirstMaterialization:
    """First-call costs of numba-backed materializers (tiny inputs, numba forced)."""

    params = [list(CASES)]
    param_names = ["case"]
    number = 1
    repeat = (1, 3, 60.0)
    warmup_time = 0
    timeout = 300

    def setup(self, name):
        # Populate numba's on-disk cache for the warm-cache benchmarks: the same
        # kernels, dtypes and signatures as the timed child processes use.
        # The programs force numba process-wide, which is right in their own child
        # process; here, in the benchmark's process, the setting is put back.
        import kronvec

        saved = kronvec.config.numba_min_entries
        try:
            namespace = {}
            exec(_setup_code(name, fresh_cache=False, import_numba=False), namespace)
            exec(CASES[name][1], namespace)
        finally:
            kronvec.config.numba_min_entries = saved

    def timeraw_compile_cold_cache(self, name):
        return CASES[name][1], _setup_code(name, fresh_cache=True, import_numba=True)

    def timeraw_load_warm_cache(self, name):
        return CASES[name][1], _setup_code(name, fresh_cache=False, import_numba=True)

    def timeraw_import_and_first_call(self, name):
        expression, call = CASES[name]
        return textwrap.dedent(_INPUTS + f"J = {expression}\n{call}\n")

