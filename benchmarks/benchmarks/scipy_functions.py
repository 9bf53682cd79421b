"""kronvec.scipy (issue 12): gradients of the objectives statisticians write
with SciPy's functions.

* ``NormalLogLikelihood``      −Σ norm.logpdf(data; μ, σ) in (μ, σ) over n data points;
* ``LocationScaleLogLikelihood``  the same for expon, laplace, logistic, cauchy and lognorm (s = 0.8);
* ``GaussianLogLikelihood``    −Σ multivariate_normal.logpdf(Xᵢ; m, C) in C (d × d), 64 points;
* ``LogSumExp``                logsumexp(W x) in x, W of shape (n, n) (a softmax-regression term);
* ``Convolution``              ‖convolve(x, k, 'same')‖² in x and k, 1-D, kernel of 5.

Each times the value with SciPy (the floor) and ``value_and_grad``; the
``…Hessian`` classes time ``hessian`` at the smaller sizes.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special
import scipy.stats

import kronvec
import kronvec.scipy.signal
import kronvec.scipy.special
import kronvec.scipy.stats

from . import rng, spd, warm


class NormalLogLikelihood:
    params = [[16, 1024, 65536]]
    param_names = ["n"]

    def setup(self, n):
        self.data = rng("scipy_functions", "norm", n).standard_normal(n) * 2.0 + 0.5

        def nll(mu, sigma):
            return -np.sum(kronvec.scipy.stats.norm.logpdf(self.data, loc=mu, scale=sigma))

        self.value_and_grad = kronvec.value_and_grad(nll, argnums=(0, 1))
        warm(self.value_and_grad, 0.3, 1.7)

    def time_value_scipy(self, n):
        -np.sum(scipy.stats.norm.logpdf(self.data, loc=0.3, scale=1.7))

    def time_value_and_grad(self, n):
        self.value_and_grad(0.3, 1.7)


class LocationScaleLogLikelihood:
    params = [["expon", "laplace", "logistic", "cauchy", "lognorm"], [1024, 65536]]
    param_names = ["distribution", "n"]

    def setup(self, name, n):
        # positive data above loc = 0.3: inside every family's support
        self.data = np.abs(rng("scipy_functions", name, n).standard_normal(n)) * 2.0 + 0.5
        self.shape = (0.8,) if name == "lognorm" else ()
        ours, self.theirs = getattr(kronvec.scipy.stats, name).logpdf, getattr(scipy.stats, name).logpdf

        def nll(loc, scale):
            return -np.sum(ours(self.data, *self.shape, loc=loc, scale=scale))

        self.value_and_grad = kronvec.value_and_grad(nll, argnums=(0, 1))
        warm(self.value_and_grad, 0.3, 1.7)

    def time_value_scipy(self, name, n):
        -np.sum(self.theirs(self.data, *self.shape, loc=0.3, scale=1.7))

    def time_value_and_grad(self, name, n):
        self.value_and_grad(0.3, 1.7)


class GaussianLogLikelihood:
    params = [[2, 16, 64]]
    param_names = ["d"]

    def setup(self, d):
        generator = rng("scipy_functions", "mvn", d)
        self.points, self.mean, self.cov = generator.standard_normal((64, d)), np.zeros(d), spd(generator, d)

        def nll(cov):
            return -np.sum(kronvec.scipy.stats.multivariate_normal.logpdf(self.points, self.mean, cov))

        self.nll = nll
        self.value_and_grad = kronvec.value_and_grad(nll)
        warm(self.value_and_grad, self.cov)

    def time_value_scipy(self, d):
        -np.sum(scipy.stats.multivariate_normal.logpdf(self.points, self.mean, self.cov))

    def time_value_and_grad(self, d):
        self.value_and_grad(self.cov)



class GaussianLogLikelihoodHessian(GaussianLogLikelihood):
    params = [[2, 8]]  # (d² × d² entries)

    def time_hessian(self, d):
        kronvec.hessian(self.nll)(self.cov)


class LogSumExp:
    params = [[8, 128, 1024]]
    param_names = ["n"]

    def setup(self, n):
        generator = rng("scipy_functions", "logsumexp", n)
        self.W, self.x = generator.standard_normal((n, n)) / np.sqrt(n), generator.standard_normal(n)

        def objective(x):
            return kronvec.scipy.special.logsumexp(self.W @ x)

        self.objective = objective
        self.value_and_grad = kronvec.value_and_grad(objective)
        warm(self.value_and_grad, self.x)

    def time_value_scipy(self, n):
        scipy.special.logsumexp(self.W @ self.x)

    def time_value_and_grad(self, n):
        self.value_and_grad(self.x)



class LogSumExpHessian(LogSumExp):
    params = [[8, 128]]  # (n² entries)

    def time_hessian(self, n):
        kronvec.hessian(self.objective)(self.x)


class Convolution:
    params = [[32, 4096]]
    param_names = ["n"]

    def setup(self, n):
        generator = rng("scipy_functions", "convolve", n)
        self.x, self.kernel = generator.standard_normal(n), generator.standard_normal(5)

        def energy(x, kernel):
            return np.sum(kronvec.scipy.signal.convolve(x, kernel, mode="same") ** 2)

        self.value_and_grad = kronvec.value_and_grad(energy, argnums=(0, 1))
        warm(self.value_and_grad, self.x, self.kernel)

    def time_value_scipy(self, n):
        np.sum(scipy.signal.convolve(self.x, self.kernel, mode="same") ** 2)

    def time_value_and_grad(self, n):
        self.value_and_grad(self.x, self.kernel)
