"""What the distributions share: standardizing by loc and scale, and the
support (values outside it are SciPy's constants, with no derivative)."""

from __future__ import annotations

import functools
import math

import numpy as np

from ..._tracer import Node, compile_guard
from ...ops._support import decided
from .._support import as_array, is_traced, plain_parameter, plain_value, static_value

__all__ = ["as_float64", "standardized", "require_positive",
           "quantile_arguments", "standardized_and_plain", "symmetric_family",
           "on_support", "piecewise", "log", "switched_log", "scipy_median", "Interior", "sampler", "as_array",
           "is_traced", "plain_parameter", "plain_value", "LOG_2PI"]

LOG_2PI = math.log(2.0 * math.pi)


def require_positive(value, what):
    """A scale or shape parameter that is not positive is refused: SciPy's every function
    is NaN there, and the formulas computed as if it were valid would give a plausible
    number instead."""
    plain = np.asarray(plain_value(value))
    bad = ~(plain > 0)  # (NaN too)
    if bad.any():
        raise ValueError(f"kronvec.scipy.stats: {what} must be positive, got {plain[bad].ravel()[:3]} "
                         "(SciPy's value is NaN there)")
    return np.zeros_like(plain)


def _checked_scale(scale):
    """`scale`, refused where it is not positive (:func:`require_positive`).  In a recording
    made for replay (``compile=True``) the check is a recorded decision whose value, zeros, is
    added to the scale (exact): each replay checks its own scale, as an uncompiled call does."""
    if isinstance(scale, Node) and compile_guard(scale) is not None:
        return scale + decided(functools.partial(require_positive, what="scale"), scale)
    require_positive(scale, "scale")
    return scale


def require_probability(q, what):
    """A quantile function's level outside [0, 1] is refused, as a scale that is not
    positive (SciPy's value is NaN there)."""
    plain = np.asarray(plain_value(q))
    bad = ~((plain >= 0) & (plain <= 1))
    if bad.any():
        raise ValueError(f"{what}: q must lie in [0, 1], got {plain[bad].ravel()[:3]} (SciPy's value is NaN there)")


def _require_positive_shapes(shapes):
    for name, value in shapes.items():
        require_positive(value, f"the shape parameter {name}")


def as_float64(x):
    """`x` in the precision SciPy's distributions compute in: float64 at least
    (``np.promote_types(x.dtype, np.float64)``, rv_continuous's; the quantiles of
    multivariate_normal ``np.asarray(x, dtype=float)``), so that a float32 x, or float32
    loc and scale with it, give float64 values, as SciPy's do."""
    x = as_array(x)
    return x if x.dtype == np.float64 else x.astype(np.float64)  # (a traced x's dtype: its value's)


def standardized(x, loc, scale, **shapes):
    """(x − loc)/scale, the standard variable; loc and scale may be traced.  A scale, or a
    shape parameter named in `shapes`, that is not positive is refused (require_positive)."""
    scale = _checked_scale(scale)  # (the scale the result is computed from: checked at each replay)
    _require_positive_shapes(shapes)
    return (as_float64(x) - as_array(loc)) / as_array(scale)


def quantile_arguments(q, scale, what, **shapes):
    """The checks of a quantile function (ppf, isf): q in [0, 1], a positive scale and shapes."""
    require_probability(q, what)
    require_positive(scale, "scale")  # (read here: a traced scale of a compiled quantile is refused)
    _require_positive_shapes(shapes)


def symmetric_family(module, standard_cdf, standard_ppf, standard_logcdf=None):
    """cdf, sf, ppf, isf (and logcdf, logsf given `standard_logcdf`) of a location-scale
    family whose standard density is even: S(z) = F(−z), log S(z) = log F(−z), and
    isf(q) = loc − scale·Q(q) for the standard quantile Q = ppf of loc 0, scale 1.
    Returned in that order, named for `module` (the distribution's module)."""

    def cdf(x, loc=0, scale=1):
        return standard_cdf(standardized(x, loc, scale))

    def sf(x, loc=0, scale=1):
        return standard_cdf(-standardized(x, loc, scale))

    def logcdf(x, loc=0, scale=1):
        return standard_logcdf(standardized(x, loc, scale))

    def logsf(x, loc=0, scale=1):
        return standard_logcdf(-standardized(x, loc, scale))

    def ppf(q, loc=0, scale=1):
        quantile_arguments(q, scale, f"{module}.ppf")
        return as_array(loc) + as_array(scale) * standard_ppf(as_float64(q))

    def isf(q, loc=0, scale=1):
        quantile_arguments(q, scale, f"{module}.isf")
        return as_array(loc) - as_array(scale) * standard_ppf(as_float64(q))

    functions = (cdf, sf, ppf, isf) + ((logcdf, logsf) if standard_logcdf is not None else ())
    for function in functions:
        function.__module__, function.__qualname__ = module, function.__name__
    return functions

def standardized_and_plain(x, loc, scale):
    """(z, its plain values as an array): z = (x − loc)/scale, and what its support
    masks are computed from."""
    z = standardized(x, loc, scale)
    return z, np.asarray(plain_value(z))


def on_support(function, name, z, inside, outside, safe):
    """`function(z)` where the plain mask `inside` holds, `outside` elsewhere.

    SciPy gives a constant outside the support (0 for a density, −∞ for its log, 0
    or 1 for a CDF): its derivative is 0. The formula is evaluated at `safe`
    (a point inside the support) there, so it raises nothing. A constant −∞ has
    no derivative to give: with traced input kronvec refuses it, naming `name`."""
    inside = np.broadcast_to(inside, np.shape(static_value(z)))
    if inside.all():
        return function(z)
    if np.isneginf(outside) and is_traced(z):
        raise ValueError(f"{name} is −∞ at {int(np.count_nonzero(~inside))} entr(y/ies) outside the support: "
                         "no derivative there")
    value = function(np.where(inside, z, safe))
    return np.where(inside, value, outside)


def piecewise(z, first_where, first, second, meeting_point):
    """`first(z)` where the plain mask `first_where` holds, `second(z)` elsewhere.

    SciPy's log-CDFs and log-SFs switch formulas at the median (log F below it,
    log1p(−S) above it, each accurate on its side).  Each formula is evaluated only
    at its own entries — the others at `meeting_point`, where both are finite — so
    neither's derivative meets the other's singularity (0·∞ in a pullback)."""
    first_where = np.broadcast_to(first_where, np.shape(static_value(z)))
    if first_where.all():
        return first(z)
    if not first_where.any():
        return second(z)
    return np.where(first_where, first(np.where(first_where, z, meeting_point)),
                    second(np.where(first_where, meeting_point, z)))


def scipy_median(distribution, *shape):
    """The median SciPy's generic log-CDF and log-SF switch formulas at:
    ``scipy.stats.<distribution>.ppf(0.5, *shape)`` (loc 0, scale 1), a plain array."""
    import scipy.stats  # (on first use: importing scipy.stats takes a while)

    return np.asarray(getattr(scipy.stats, distribution).ppf(0.5, *shape))


def switched_log(name, z, median, inside, outside, cdf, sf, upper=False, interior=None):
    """log F(z) (or log S(z), ``upper=True``) as SciPy's generic ``rv_continuous`` computes
    it (``scipy/stats/_distn_infrastructure.py``, ``_logcdf``/``_logsf``): log F below the
    median, log1p(−S) from it on (log S above it, log1p(−F) up to it), each accurate on its
    side — log F alone rounds F ≈ 1 to 0 in the upper tail.  `cdf` and `sf` are functions of
    z; the plain mask `inside` is the support, where SciPy's constants `outside` (an array of
    z's shape, or a number) hold elsewhere; a constant −∞ is refused when z is traced.
    Entries outside the support, and each formula's entries on the other side, are evaluated
    at the median — or at `interior` (a point inside the support) where the median is on the
    support's edge (χ² with ν = 0.001 has median 0, where the derivative of P(ν/2, z) is infinite)."""
    shape = np.broadcast_shapes(np.shape(static_value(z)), np.shape(median))
    if np.shape(static_value(z)) != shape:
        z = np.broadcast_to(z, shape)
    inside = np.broadcast_to(inside, shape)
    median = np.broadcast_to(median, shape)
    meeting = median if interior is None else np.where(interior(median), median, interior.point)
    outside = np.where(inside, 0.0, outside)  # (a −∞ where it is not used is no constant of the result)
    if not inside.all():
        if is_traced(z) and np.isneginf(outside[~inside]).any():
            raise ValueError(f"{name} is −∞ at {int(np.count_nonzero(np.isneginf(outside[~inside])))} entr(y/ies) "
                             "outside the support: no derivative there")
        z = np.where(inside, z, meeting)
    plain = np.asarray(plain_value(z))
    if upper:
        value = piecewise(z, plain > median, lambda z: log(sf(z)), lambda z: np.log1p(-cdf(z)), meeting)
    else:
        value = piecewise(z, plain < median, lambda z: log(cdf(z)), lambda z: np.log1p(-sf(z)), meeting)
    return value if inside.all() else np.where(inside, value, outside)


class Interior:
    """The open support as a test of plain values, and a point inside it (``switched_log``)."""

    def __init__(self, low, high, point):
        self.low, self.high, self.point = low, high, point

    def __call__(self, values):
        return (values > self.low) & (values < self.high)


def log(probability):
    """log of a probability: on plain values −∞ at 0 without a warning, as SciPy's
    log-CDFs give it; on traced ones kronvec's (log 0 has no derivative: refused)."""
    if is_traced(probability):
        return np.log(probability)
    with np.errstate(divide="ignore"):
        return np.log(probability)


def sampler(distribution):
    """``rvs`` of a distribution: SciPy's own draws, for plain parameters only.

    A draw is not a differentiable function of the parameters as SciPy makes it
    (it depends on them through the inverse CDF of a random state); a traced
    parameter is refused, with the reparametrization that is differentiable.
    """

    def rvs(*args, **kwargs):
        for value in (*args, *kwargs.values()):
            if is_traced(value):
                raise TypeError(
                    f"kronvec.scipy.stats.{distribution}.rvs: a draw has no derivative in its parameters "
                    "as SciPy makes it; draw with plain parameters and transform the draw instead "
                    "(e.g. loc + scale * norm.rvs(size=n))"
                )
        import scipy.stats  # (on first draw: importing scipy.stats takes a while)

        return getattr(scipy.stats, distribution).rvs(*args, **kwargs)

    rvs.__name__ = "rvs"
    rvs.__doc__ = f"``scipy.stats.{distribution}.rvs`` with plain parameters (a draw has no derivative)."
    return rvs
