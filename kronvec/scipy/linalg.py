"""``scipy.linalg`` for differentiated code.

SciPy's linear-algebra functions are not NumPy functions: ``__array_function__``
never sees them, and they convert their input with ``np.asarray``, which drops
a traced value's derivative.  kronvec therefore mirrors them here, as
``jax.scipy.linalg`` does: each function has SciPy's name, signature, defaults
and values (to rounding), and is recorded as kronvec's own operations, so it
works on traced values and on plain arrays alike.  A real ``scipy.linalg``
function reached by a traced value raises a TypeError that names its
counterpart here.  Why a namespace and not SciPy's array-API dispatch:
``notes/derivatives.md`` §25.

The functions come in six families, one private module each:

* decompositions and solves, banded ones included (``_linalg_decompositions``);
* norms, least squares, pseudo-inverses and the orthogonal Procrustes problem —
  ``norm``, ``lstsq``, ``pinv``, ``pinvh``, ``orthogonal_procrustes``
  (``_linalg_least_squares``);
* matrix functions — ``expm``, ``logm``, ``sqrtm``, ``fractional_matrix_power``,
  ``polar`` and spectral functions of symmetric matrices (``_linalg_functions``);
* ``expm_frechet`` and the trigonometric and hyperbolic functions SciPy builds on the
  exponential — ``cosm``, ``sinm``, ``tanm``, ``coshm``, ``sinhm``, ``tanhm``
  (``_linalg_exponential``);
* Sylvester and Lyapunov equations (``_linalg_sylvester``);
* special matrices placed from entries — ``block_diag``, ``toeplitz``, ``circulant``,
  ``hankel``, ``khatri_rao`` — and solves with Toeplitz and circulant matrices
  (``_linalg_special_matrices``).
"""

from __future__ import annotations

from ._support import plain_calls_outside_scope
from . import (_linalg_decompositions, _linalg_exponential, _linalg_functions, _linalg_least_squares,
               _linalg_special_matrices, _linalg_sylvester)
from ._linalg_decompositions import *  # noqa: F401,F403 (the public names, listed in its __all__)
from ._linalg_exponential import *  # noqa: F401,F403
from ._linalg_functions import *  # noqa: F401,F403
from ._linalg_least_squares import *  # noqa: F401,F403
from ._linalg_special_matrices import *  # noqa: F401,F403
from ._linalg_sylvester import *  # noqa: F401,F403

__all__ = [*_linalg_decompositions.__all__, *_linalg_functions.__all__, *_linalg_exponential.__all__,
           *_linalg_least_squares.__all__, *_linalg_special_matrices.__all__, *_linalg_sylvester.__all__]

# Plain calls run outside the differentiation call's scope (its per-call results are keyed
# by the identity of the call's own arrays, and a plain call's are the caller's):
# kronvec.scipy._support.plain_calls_outside_scope
# (an alias — solve_lyapunov is solve_continuous_lyapunov — stays one function)
_wrapped = {}
for _name in __all__:
    _function = globals()[_name]
    if _function not in _wrapped:
        _wrapped[_function] = plain_calls_outside_scope(_function)
    globals()[_name] = _wrapped[_function]
del _name, _function, _wrapped
