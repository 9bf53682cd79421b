"""
Convergence of a matrix fit with scipy.optimize
===============================================

The Gaussian maximum-likelihood covariance: minimize ln|Σ| + tr(Σ⁻¹ S) over Σ = L Lᵀ,
whose optimum is Σ = S.  ``kronvec.optimize.minimize`` hands the matrix unknown L to
``scipy.optimize.minimize`` as x = vec L (``symmetric=True``: its lower triangle, L = Lᵀ),
with kronvec's gradient, and for Newton-type methods its structured Hessian-vector product.
Below, four methods solve the same problem; the objective's distance to the optimum is
recorded at every iteration.
"""

import matplotlib.pyplot as plt
import numpy as np

import kronvec.optimize as kvo

rng = np.random.default_rng(3)
n = 8
root = np.tril(rng.standard_normal((n, n))) + 2 * np.eye(n)
data = rng.standard_normal((500, n)) @ root.T
S = np.cov(data, rowvar=False)


def nll(L, S):
    Sigma = L @ L.T
    return np.linalg.slogdet(Sigma)[1] + np.trace(np.linalg.inv(Sigma) @ S)


optimum = np.linalg.slogdet(S)[1] + n  # the value at Σ = S
L0 = np.sqrt(np.trace(S) / n) * np.eye(n)  # a start of the right scale

histories = {}
for method in ["trust-krylov", "Newton-CG", "BFGS", "L-BFGS-B"]:
    history = [nll(L0, S)]
    # tolerances tight enough to reach the optimum (SciPy's defaults can stop earlier)
    options = {"gtol": 1e-10} if method in ("BFGS", "trust-krylov") else {}
    if method == "L-BFGS-B":
        options = {"ftol": 1e-15, "gtol": 1e-10}
    if method == "Newton-CG":
        options = {"xtol": 1e-12}
    res = kvo.minimize(nll, L0, S, method=method, symmetric=True, options=options,
                       callback=lambda intermediate_result: history.append(intermediate_result.fun))
    histories[method] = np.maximum(np.array(history) - optimum, 1e-16)
    error = np.abs(res.X @ res.X.T - S).max()
    print(f"{method:13} {res.nit:3d} iterations, {res.nfev:3d} evaluations, max |LLᵀ − S| = {error:.1e}")

# %%
# Newton-type methods (with the Hessian through ``hessp``) converge quadratically in a few
# iterations; quasi-Newton ones (gradient only) take many more, each cheaper.

fig, ax = plt.subplots(figsize=(6.5, 4.2))
for method, gap in histories.items():
    ax.semilogy(np.arange(len(gap)), gap, "o-", ms=3, label=method)
ax.set_xlabel("iteration")
ax.set_ylabel("f(L) − f(optimum)")
ax.set_title(f"ln|Σ| + tr(Σ⁻¹S), Σ = LLᵀ, n = {n} ({n * (n + 1) // 2} unknowns)")
ax.legend()
fig.tight_layout()
