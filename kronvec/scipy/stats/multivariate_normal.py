"""The multivariate normal distribution N(mean, cov), as
``scipy.stats.multivariate_normal``: logpdf and pdf differentiable in x, mean
and cov; entropy in cov.

log f(x) = −½(d·log 2π + log det C + (x − μ)ᵀ C⁻¹ (x − μ)), with C⁻¹(x − μ) by a
solve and log det C by ``slogdet``, so that d log f = −½ tr(C⁻¹dC) + ½ δᵀC⁻¹ dC C⁻¹δ
+ δᵀC⁻¹(dμ − dx) for δ = x − μ. Every entry of cov is used as given (SciPy reads
its lower triangle): on a symmetric cov the values agree, and the gradient in
cov is the symmetric ½(C⁻¹δδᵀC⁻¹ − C⁻¹).

With ``allow_singular=True`` and a constant singular cov (rank r < d), the density
lives on the affine support μ + range(C): log f = −½(r·log 2π + log pdet C +
‖Uᵀδ‖²) with C⁺ = UUᵀ, SciPy's formula with its constants (eigenvalues below
1e6·eps·max|λ| count as 0). Its derivative in x and mean is −UUᵀδ and UUᵀδ —
the derivative along the support; off the support pdf is 0 (derivative 0) and
logpdf −inf, which kronvec refuses. A traced singular cov is refused (its
pseudo-determinant and pseudo-inverse are not differentiable where the rank
can change).
"""

from __future__ import annotations

import numpy as np

from ._common import LOG_2PI, as_float64, is_traced, plain_value, sampler, static_value

__all__ = ["logpdf", "pdf", "entropy", "rvs"]


def _parameters(mean, cov, function, allow_singular=False):
    """SciPy's reading of mean and cov (``_process_parameters_psd``): dimension, mean
    vector, covariance matrix (a scalar is c·I, a vector the diagonal)."""
    cov = as_float64(1.0 if cov is None else cov)  # (SciPy's: float64 arrays, whatever the input's precision)
    if mean is None:
        dim = 1 if np.ndim(cov) < 2 else np.shape(cov)[0]
        mean = np.zeros(dim)
    else:
        mean = as_float64(mean)
        dim = int(np.size(static_value(mean)))
    if dim == 1:
        mean, cov = np.reshape(mean, (1,)), np.reshape(cov, (1, 1))
    if np.ndim(mean) != 1 or np.shape(mean)[0] != dim:
        raise ValueError(f"Array 'mean' must be a vector of length {dim}.")
    if np.ndim(cov) == 0:
        cov = cov * np.eye(dim)
    elif np.ndim(cov) == 1:
        cov = np.diag(cov)
    elif np.ndim(cov) == 2 and np.shape(cov) != (dim, dim):
        rows, cols = np.shape(cov)
        if rows != cols:
            raise ValueError(f"Array 'cov' must be square if it is two dimensional, but cov.shape = {np.shape(cov)}.")
        raise ValueError(f"Dimension mismatch: array 'cov' is of shape {np.shape(cov)}, "
                         f"but 'mean' is a vector of length {dim}.")
    elif np.ndim(cov) > 2:
        raise ValueError(f"Array 'cov' must be at most two-dimensional, but cov.ndim = {np.ndim(cov)}")
    _check_positive_definite(np.asarray(plain_value(cov)), function,
                             allow_singular=allow_singular and not is_traced(cov))
    return dim, mean, cov


def _check_positive_definite(cov, function, allow_singular=False):
    """Raises unless cov is positive definite; True when it is singular and that is allowed."""
    # SciPy's test (_PSD, eigenvalues of the lower triangle, relative tolerance 1e6·eps)
    eigenvalues = np.linalg.eigvalsh(cov)
    eps = 1e6 * np.finfo(np.float64).eps * np.max(np.abs(eigenvalues))
    if np.min(eigenvalues) < -eps:
        raise ValueError(f"{function}: the input matrix must be positive semidefinite")
    if np.min(eigenvalues) <= eps:
        if allow_singular:
            return True
        raise np.linalg.LinAlgError(f"{function}: cov is singular; kronvec differentiates the density of a "
                                    "nonsingular covariance only (allow_singular=False)")
    return False


def _quantiles(x, dim):
    x = as_float64(x)  # (SciPy's _process_quantiles: np.asarray(x, dtype=float))
    if np.ndim(x) == 0:
        return np.reshape(x, (1,))
    if np.ndim(x) == 1:
        return np.reshape(x, (-1, 1)) if dim == 1 else np.reshape(x, (1, -1))
    return x


def _squeezed(out):
    out = np.squeeze(out)
    return out[()] if not is_traced(out) and np.ndim(out) == 0 else out


def _plain_singular(allow_singular, function, args):
    """SciPy's own value when nothing is traced; None otherwise.  A traced singular cov
    is refused by name."""
    if not allow_singular:
        return None
    if not any(is_traced(a) for a in args):
        import scipy.stats

        return getattr(scipy.stats.multivariate_normal, function.rsplit(".", 1)[1])(*args, allow_singular=True)
    cov = args[2]
    if is_traced(cov) and np.ndim(cov) == 2:
        eigenvalues = np.linalg.eigvalsh(np.asarray(plain_value(cov)))
        if np.min(eigenvalues) <= 1e6 * np.finfo(np.float64).eps * np.max(np.abs(eigenvalues)):
            raise TypeError(f"kronvec cannot differentiate {function} with allow_singular=True at a traced "
                            "singular cov (its pseudo-determinant is not differentiable where the rank can "
                            "change); pass cov as a constant to differentiate in x and mean")
    return None


def _singular_logpdf(deviations, cov, dim, function):
    """(log f on the support, the support mask) for a constant singular cov: SciPy's _PSD."""
    import scipy.linalg

    s, u = scipy.linalg.eigh(cov, lower=True)
    eps = 1e6 * np.finfo(np.float64).eps * np.max(np.abs(s))
    kept = s > eps
    U = u[:, kept] * np.sqrt(1.0 / s[kept])  # C⁺ = UUᵀ on the range of C
    rank, log_pdet = int(np.count_nonzero(kept)), float(np.sum(np.log(s[kept])))
    null = u[:, ~kept]
    leading = np.shape(deviations)[:-1]
    rows = np.reshape(deviations, (-1, dim))
    mahalanobis = np.sum(np.square(rows @ U), axis=1)
    residual = np.linalg.norm(np.asarray(plain_value(rows)) @ null, axis=-1)
    support = np.reshape(residual < 1e3 * eps, leading)
    return np.reshape(-0.5 * (rank * LOG_2PI + log_pdet + mahalanobis), leading), support


def logpdf(x, mean=None, cov=1, allow_singular=False):
    """log f(x) for N(mean, cov); x's last axis holds the components (SciPy's shapes)."""
    function = "kronvec.scipy.stats.multivariate_normal.logpdf"
    plain = _plain_singular(allow_singular, function, (x, mean, cov))
    if plain is not None:
        return plain
    dim, mean, cov = _parameters(mean, cov, function, allow_singular)
    if allow_singular and not is_traced(cov) and _check_positive_definite(np.asarray(cov), function, True):
        out, support = _singular_logpdf(_quantiles(x, dim) - mean, np.asarray(cov), dim, function)
        if not np.all(support):
            raise ValueError(f"{function}: x lies off the support of the singular cov at "
                             f"{int(np.size(support) - np.count_nonzero(support))} point(s): logpdf is -inf "
                             "there, which has no derivative (pdf is 0 there)")
        return _squeezed(out)
    deviations = _quantiles(x, dim) - mean
    leading = np.shape(deviations)[:-1]
    rows = np.reshape(deviations, (-1, dim))  # one point per row
    whitened = np.linalg.solve(cov, np.transpose(rows))  # C⁻¹δ, one point per column
    mahalanobis = np.sum(np.transpose(rows) * whitened, axis=0)
    log_det = np.linalg.slogdet(cov)[1]
    out = -0.5 * (dim * LOG_2PI + log_det + np.reshape(mahalanobis, leading))
    return _squeezed(out)


def pdf(x, mean=None, cov=1, allow_singular=False):
    """f(x) = exp(log f(x)) for N(mean, cov)."""
    function = "kronvec.scipy.stats.multivariate_normal.pdf"
    plain = _plain_singular(allow_singular, function, (x, mean, cov))
    if plain is not None:
        return plain
    if allow_singular:
        dim, mean, cov = _parameters(mean, cov, function, allow_singular)
        if not is_traced(cov) and _check_positive_definite(np.asarray(cov), function, True):
            out, support = _singular_logpdf(_quantiles(x, dim) - mean, np.asarray(cov), dim, function)
            return _squeezed(np.where(support, np.exp(out), 0.0))  # 0 off the support
    return np.exp(logpdf(x, mean, cov))


def entropy(mean=None, cov=1):
    """½(d(1 + log 2π) + log det C), the differential entropy of N(mean, cov)."""
    dim, _, cov = _parameters(mean, cov, "kronvec.scipy.stats.multivariate_normal.entropy")
    return 0.5 * (dim * (LOG_2PI + 1) + np.linalg.slogdet(cov)[1])


rvs = sampler("multivariate_normal")
