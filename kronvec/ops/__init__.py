"""kronvec's differentiable operations: the one home of every derivative.

One module per family — :mod:`.elementwise`, :mod:`.reductions`,
moving entries in :mod:`.shape` (axes and shapes), :mod:`.indexing`
(selecting entries), :mod:`.joining` (joining, splitting, padding),
:mod:`.assignment` (writes, recorded functionally), :mod:`.differences`
(np.diff, np.gradient, np.trapezoid, np.linspace) and :mod:`.statistics`
(NaN-skipping reductions, np.cov, np.corrcoef, np.polyval) and :mod:`.polynomials`
(np.polyadd, polymul, polyder, polyint, polyfit) — the last three built from
the others' operations —
:mod:`.products` (matmul, kron, applying an operator), :mod:`.contractions`
(einsum, tensordot, cross…), :mod:`.linalg`
(inverse, solve, determinants, trace), :mod:`.factorizations` (Cholesky,
eigh, SVD, QR, pinv, lstsq), :mod:`.eigen_general` (np.linalg.eig and eigvals
of a real spectrum), :mod:`.triangular` (triangular solves and LU,
behind kronvec.scipy.linalg), :mod:`.toeplitz` (Toeplitz and circulant solves, behind
kronvec.scipy.linalg.solve_toeplitz and solve_circulant), :mod:`.banded` (LAPACK's symmetric banded solve,
behind kronvec.scipy.linalg.solveh_banded), :mod:`.sylvester` (Sylvester and Lyapunov
equations), :mod:`.matrix_functions` (expm, logm, sqrtm, fractional powers,
spectral functions of symmetric matrices), :mod:`.polar` (the polar decomposition, behind
kronvec.scipy.linalg.polar), :mod:`.odes` (``odeint``'s solution, behind
kronvec.scipy.integrate.odeint) — each operation a single
:class:`~kronvec.ops._registry.Primitive` holding its value, VJPs,
structured Jacobians, formula, reference and samples.  Importing this
package registers them all; ``notes/extending.md`` walks through adding one.
"""

from . import elementwise, linalg, products, reductions, shape  # noqa: F401 (registers the operations)
from . import assignment, contractions, differences, indexing, joining, statistics  # noqa: F401 (registers the operations)
from . import banded, eigen_general, factorizations, toeplitz, triangular  # noqa: F401 (registers the operations)
from . import sylvester  # noqa: F401 (registers the operations)
from . import matrix_functions, polar  # noqa: F401 (registers the operations)
from . import odes  # noqa: F401 (registers the operations; scipy.integrate is imported on first use)
from . import polynomials  # noqa: F401 (registers the front doors)
from ._registry import (
    NUMPY_FUNCTIONS,
    NUMPY_METHODS,
    REGISTRY,
    UFUNCS,
    UFUNCS_WITH_PARAMETERS,
    VALUE_ONLY_OPERATIONS,
    VALUE_ONLY_UFUNCS,
    VALUE_ONLY_UNLESS_TRACED,
    Primitive,
    Sample,
    primitive,
)

__all__ = ["REGISTRY", "NUMPY_FUNCTIONS", "NUMPY_METHODS", "UFUNCS", "UFUNCS_WITH_PARAMETERS", "VALUE_ONLY_UFUNCS",
           "VALUE_ONLY_OPERATIONS", "VALUE_ONLY_UNLESS_TRACED",
           "Primitive", "Sample", "primitive"]
