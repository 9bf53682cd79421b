"""``scipy.integrate.odeint`` for differentiated code, as ``autograd.scipy.integrate``
offers it: the solution of y′ = func(y, t, *args) at the times t, differentiable in
the initial state ``y0``, the times ``t`` and every array in ``args``.

With no traced argument it is SciPy's ``odeint`` itself.  With one, the value is
SciPy's and the derivative comes from the adjoint system, solved backwards by
``odeint`` (``kronvec/ops/odes.py``; ``notes/derivatives.md`` §42).  ``func`` must
be written with NumPy operations: its VJP is taken by kronvec at every step of the
backward solves.  Derivations: ``notes/derivatives.md`` §42.
"""

from __future__ import annotations

import numpy as np

from ..ops._support import refuse_arguments
from ..ops.odes import odeint as _odeint_op
from ._support import as_array, is_traced

__all__ = ["odeint"]

_PASSED_ON = ("rtol", "atol", "h0", "hmax", "hmin", "mxstep", "mxordn", "mxords")


def odeint(func, y0, t, args=(), Dfun=None, col_deriv=0, full_output=0, ml=None, mu=None, rtol=None, atol=None,
           tcrit=None, h0=0.0, hmax=0.0, hmin=0.0, ixpr=0, mxstep=0, mxhnil=0, mxordn=12, mxords=5, printmessg=0,
           tfirst=False):
    """``scipy.integrate.odeint`` with SciPy's signature, differentiable in y0, t and args.

    Parameters
    ----------
    func : callable
        ``func(y, t, *args)`` (``func(t, y, *args)`` with ``tfirst=True``), written
        with NumPy operations.
    y0 : (n,) array_like
        The initial state (a scalar is a state of size 1, as in SciPy).
    t : (T,) array_like
        Monotonic output times; t[0] is the initial time.
    args : tuple of array_like
        Extra arguments of `func`; each float array among them can be differentiated.
    rtol, atol, h0, hmax, hmin, mxstep, mxordn, mxords
        SciPy's solver settings, used for the solution and for the backward solves.

    Returns
    -------
    (T, n) ndarray
        y(t[i]) in row i.

    Raises
    ------
    TypeError
        With a traced argument: a SciPy option that changes what is returned or how
        the Jacobian is supplied (``Dfun``, ``col_deriv``, ``full_output``, ``ml``,
        ``mu``, ``tcrit``, ``ixpr``, ``mxhnil``, ``printmessg``) is refused by name,
        and so is a non-float array in `args`.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.integrate import odeint
    >>> decay = lambda y, t, k: -k * y
    >>> t = np.array([0.0, 1.0])
    >>> g = kronvec.grad(lambda k: odeint(decay, np.array([1.0]), t, args=(k,), rtol=1e-10, atol=1e-10)[1, 0])
    >>> round(float(g(2.0)), 6)          # d/dk e^(−k) = −e^(−2)
    -0.135335
    """
    args = args if isinstance(args, tuple) else (args,)
    traced = is_traced(y0) or is_traced(t) or any(is_traced(a) for a in args) or _holds_traced((y0, t) + args)
    settings = dict(rtol=rtol, atol=atol, h0=h0, hmax=hmax, hmin=hmin, mxstep=mxstep, mxordn=mxordn, mxords=mxords)
    if not traced:
        from scipy.integrate import odeint as scipy_odeint

        return scipy_odeint(func, y0, t, args=args, Dfun=Dfun, col_deriv=col_deriv, full_output=full_output, ml=ml,
                            mu=mu, tcrit=tcrit, ixpr=ixpr, mxhnil=mxhnil, printmessg=printmessg, tfirst=tfirst,
                            **settings)
    refuse_arguments("scipy.integrate.odeint", Dfun=(Dfun, None), col_deriv=(col_deriv, 0),
                     full_output=(full_output, 0), ml=(ml, None), mu=(mu, None), tcrit=(tcrit, None),
                     ixpr=(ixpr, 0), mxhnil=(mxhnil, 0), printmessg=(printmessg, 0))
    y0, t = as_array(y0), as_array(t)
    if np.ndim(y0) > 1 or np.ndim(t) != 1:
        raise ValueError(f"scipy.integrate.odeint: y0 must be a scalar or 1-D and t 1-D, got shapes "
                         f"{np.shape(y0)} and {np.shape(t)}")
    if np.ndim(y0) == 0:
        y0 = np.reshape(y0, (1,))
    args = tuple(_float_argument(a, k) for k, a in enumerate(args))
    rhs = func if not tfirst else _time_first(func)
    options = tuple((name, value) for name, value in settings.items() if name in _PASSED_ON and value is not None)
    return _odeint_op(y0, t, *args, func=rhs, options=options)


def _holds_traced(values):
    return any(isinstance(v, (list, tuple)) and any(is_traced(x) for x in v) for v in values)


def _float_argument(value, position):
    value = as_array(value)
    if not is_traced(value) and value.dtype.kind not in "fiub":
        raise TypeError(f"kronvec cannot differentiate scipy.integrate.odeint with args[{position}] of dtype "
                        f"{value.dtype}: with a traced argument, args must be numeric arrays")
    return value if is_traced(value) else np.asarray(value, dtype=np.float64)


def _time_first(func):
    def swapped(y, t, *args):
        return func(t, y, *args)

    swapped.__name__ = getattr(func, "__name__", "f")
    return swapped
