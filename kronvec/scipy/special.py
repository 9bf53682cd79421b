"""``scipy.special`` for differentiated code: ``logsumexp``, ``softmax``,
``log_softmax``, ``multigammaln``, ``polygamma`` written with operations kronvec
differentiates, and the scipy.special ufuncs kronvec differentiates.

The ufuncs are SciPy's own objects, re-exported: called on a traced value they
are recorded (``kronvec/ops/special.py``), on plain arrays they are SciPy.  The
functions below take SciPy's arguments and give SciPy's values (to rounding)
on plain arrays; on traced ones, their derivatives.  Arguments that are not
differentiated (``polygamma``'s order n, ``multigammaln``'s dimension d) must
be plain: a traced value there is a TypeError naming the argument.

Derivations: ``notes/derivatives.md`` §22.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import (  # noqa: F401 (re-exported: the ufuncs kronvec differentiates)
    beta,
    betainc,
    betaincc,
    betaln,
    digamma,
    entr,
    erf,
    erfc,
    erfcinv,
    erfinv,
    expit,
    gamma,
    gammainc,
    gammaincc,
    gammaln,
    gammasgn,
    i0,
    i0e,
    i1,
    i1e,
    iv,
    ive,
    j0,
    j1,
    jn,
    jv,
    k0,
    k1,
    kv,
    kve,
    log_expit,
    log_ndtr,
    logit,
    ndtr,
    ndtri,
    psi,
    rel_entr,
    rgamma,
    softplus,
    stdtr,
    xlog1py,
    xlogy,
    y0,
    y1,
    yn,
    yv,
)

from ..ops import special as _family  # registers the family (it would be, on first use, anyway)
from ._support import as_array, is_traced, plain_parameter, plain_value, shift_for

_UFUNCS = ("beta", "betainc", "betaincc", "betaln", "digamma", "entr", "erf", "erfc", "erfcinv", "erfinv", "expit",
           "gamma", "gammainc", "gammaincc", "gammaln", "gammasgn", "i0", "i0e", "i1", "i1e", "iv", "ive", "j0", "j1",
           "jn", "jv", "k0", "k1", "kv", "kve", "log_expit", "log_ndtr", "logit", "ndtr", "ndtri", "psi", "rel_entr",
           "rgamma", "softplus", "stdtr", "xlog1py", "xlogy", "y0", "y1", "yn", "yv")
__all__ = ["logsumexp", "softmax", "log_softmax", "multigammaln", "polygamma", *_UFUNCS]


def _axes(axis, ndim, function):
    """`axis` as a tuple of non-negative ints (None: every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    normalized = []
    for a in axes:
        if not isinstance(a, numbers.Integral) or isinstance(a, bool):
            raise TypeError(f"{function}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        normalized.append(int(a) % ndim)
    return tuple(normalized)


def _scalar_if_plain(x):
    # SciPy returns NumPy scalars for 0-d results; a traced 0-d value stays as it is
    return x[()] if not is_traced(x) and np.ndim(x) == 0 else x


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log Σ b·eᵃ over `axis`, as ``scipy.special.logsumexp``, differentiable in a and b.

    Computed as c + log Σ b·e^(a − c) with c the plain maximum of a (over the
    entries whose b is not 0): no overflow, and c — a constant of the point —
    cancels from every derivative: d lse = Σ softmax·da + Σ e^(a − lse)·db.
    With ``return_sign=True``, returns (log |Σ b·eᵃ|, sign); the sign is a plain
    value (piecewise constant). Real input only.

    Examples
    --------
    >>> import numpy as np, kronvec
    >>> from kronvec.scipy.special import logsumexp
    >>> x = np.array([0.0, np.log(3.0)])
    >>> float(logsumexp(x))                 # log(1 + 3)
    1.3862943611198906
    >>> kronvec.grad(logsumexp)(x)          # softmax(x)
    array([0.25, 0.75])
    """
    a = as_array(a)
    if b is not None:
        b = as_array(b)
        shape = np.broadcast_shapes(np.shape(a), np.shape(b))
        a = a if np.shape(a) == shape else np.broadcast_to(a, shape)
        b = b if np.shape(b) == shape else np.broadcast_to(b, shape)
    if np.ndim(a) == 0:  # (SciPy reads a 0-d array as a vector of one entry)
        a = np.reshape(a, (1,))
        b = None if b is None else np.reshape(b, (1,))
    axes = _axes(axis, np.ndim(a), "kronvec.scipy.special.logsumexp")
    shift = shift_for(a, axes, None if b is None else np.asarray(plain_value(b)) != 0)
    terms = np.exp(a - shift)
    if b is not None:
        terms = b * terms
    total = np.sum(terms, axis=axes, keepdims=True)
    sign = None
    if return_sign:
        sign = np.sign(np.asarray(plain_value(total)))  # piecewise constant: a plain value
        total = total * sign  # |Σ b eᵃ|
    out = np.log(total) + shift
    if not keepdims:
        out = np.squeeze(out, axis=axes)
        sign = None if sign is None else np.squeeze(sign, axis=axes)
    out = _scalar_if_plain(out)
    return (out, _scalar_if_plain(sign)) if return_sign else out


def softmax(x, axis=None):
    """e^x / Σ e^x over `axis`, as ``scipy.special.softmax``; its Jacobian is
    diag(s) − s sᵀ along each slice."""
    x = as_array(x)
    shifted = np.exp(x - shift_for(x, axis))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def log_softmax(x, axis=None):
    """x − log Σ e^x over `axis`, as ``scipy.special.log_softmax`` (computed as SciPy does)."""
    x = as_array(x)
    shifted = x - shift_for(x, axis)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def multigammaln(a, d):
    """log Γ_d(a) = d(d − 1)/4·log π + Σ_{j=1}^{d} log Γ(a − (j − 1)/2), as
    ``scipy.special.multigammaln``; differentiable in a (d is the plain dimension):
    d log Γ_d(a) = Σ_j ψ(a − (j − 1)/2) da."""
    d = plain_parameter(d, "kronvec.scipy.special.multigammaln", "d")
    if d.ndim != 0 or np.floor(d) != d:
        raise ValueError("d should be a positive integer (dimension)")
    d = int(d)
    a = as_array(a)
    if np.any(np.asarray(plain_value(a)) <= 0.5 * (d - 1)):
        raise ValueError(f"condition a ({plain_value(a)}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    # (SciPy's constant is a NumPy float64, so a float32 a gives a float64 result, as here)
    constant = (d * (d - 1) * 0.25) * np.log(np.pi)
    return constant + np.sum(np.stack([gammaln(a - (j - 1.0) / 2) for j in range(1, d + 1)]), axis=0)


def polygamma(n, x):
    """ψ⁽ⁿ⁾(x), as ``scipy.special.polygamma``, differentiable in x (n is a plain
    integer or integer array): dψ⁽ⁿ⁾ = ψ⁽ⁿ⁺¹⁾ dx, so every order exists."""
    n = plain_parameter(n, "kronvec.scipy.special.polygamma", "n")
    if not is_traced(x) and not (isinstance(x, (list, tuple)) and any(map(is_traced, x))):
        from scipy.special import polygamma as scipy_polygamma

        return scipy_polygamma(n, x)
    x = as_array(x)
    if n.dtype.kind not in "iu" and not np.all(np.floor(n) == n):
        raise ValueError(f"kronvec.scipy.special.polygamma: n must be integers, got {n!r}")
    orders = np.unique(n)
    if np.any(orders < 0):
        raise ValueError(f"kronvec.scipy.special.polygamma: n must be non-negative, got {n!r}")
    if n.ndim == 0:
        return _polygamma_of_order(x, int(n))
    shape = np.broadcast_shapes(n.shape, np.shape(x))
    result = np.broadcast_to(_polygamma_of_order(x, int(orders[0])), shape)
    for order in orders[1:]:  # one recorded operation per distinct order, placed where n has it
        result = np.where(n == order, _polygamma_of_order(x, int(order)), result)
    return result


def _polygamma_of_order(x, order):
    return digamma(x) if order == 0 else _family.polygamma(x, n=order)
