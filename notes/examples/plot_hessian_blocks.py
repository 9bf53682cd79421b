"""
The block structure of a Hessian
================================

A Hessian of a function of an n×n matrix is an n² × n² matrix: n×n blocks, one for each
pair of columns of X.  kronvec returns it structured; drawn, its blocks show where the
structure comes from.

* f(X) = ln|det X| has the Hessian −(X⁻¹ ⊗ X⁻ᵀ) K_{n,n} (Magnus & Neudecker): a Kronecker
  product times the commutation matrix, which moves each block's entries across the
  diagonal.
* f(X) = tr(A X B Xᵀ) has the Hessian Bᵀ ⊗ A + B ⊗ Aᵀ, constant in X.
* f(X) = Σ xᵢⱼ³ is separable: its Hessian is diagonal, 6 xᵢⱼ.
"""

import matplotlib.pyplot as plt
import numpy as np

import kronvec

rng = np.random.default_rng(2)
n = 4
X = rng.standard_normal((n, n)) + n * np.eye(n)
A, B = rng.standard_normal((n, n)), rng.standard_normal((n, n))

cases = {
    "ln|det X|": lambda X: np.linalg.slogdet(X)[1],
    "tr(A X B Xᵀ)": lambda X: np.trace(A @ X @ B @ X.T),
    "Σ xᵢⱼ³": lambda X: np.sum(X ** 3),
}
hessians = {name: kronvec.hessian(f)(X) for name, f in cases.items()}
for name, H in hessians.items():
    print(f"{name:14} {H.formula()}")

# checked against the closed forms
Xi = np.linalg.inv(X)
K = kronvec.Commutation(n, n).toarray()
assert np.allclose(hessians["ln|det X|"].toarray(), -np.kron(Xi, Xi.T) @ K)
assert np.allclose(hessians["tr(A X B Xᵀ)"].toarray(), np.kron(B.T, A) + np.kron(B, A.T))
assert np.allclose(hessians["Σ xᵢⱼ³"].toarray(), np.diag(6 * kronvec.vec(X)))

# %%
# Each Hessian drawn with its n×n block grid; the title is the operator's own LaTeX
# (``H._repr_latex_()``, what Jupyter shows).

fig, axes = plt.subplots(1, 3, figsize=(13, 5), layout="constrained")
for ax, (name, H) in zip(axes, hessians.items()):
    D = H.toarray()
    limit = np.abs(D).max()
    ax.imshow(D, cmap="RdBu_r", vmin=-limit, vmax=limit)
    for k in range(1, n):
        ax.axvline(k * n - 0.5, color="k", lw=0.7)
        ax.axhline(k * n - 0.5, color="k", lw=0.7)
    ax.set_title(f"{name}\n{H._repr_latex_()}", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])

# %%
# Applying the Hessian
# --------------------
# Newton-type solvers only need Hessian-vector products.  ``kronvec.hvp`` gives them without
# the n² × n² matrix — here for ln|det X| at n = 300, whose Hessian would take 60 GiB dense.

n_big = 300
X_big = rng.standard_normal((n_big, n_big)) + n_big ** 0.5 * np.eye(n_big)
V = rng.standard_normal((n_big, n_big))
HV = kronvec.hvp(lambda X: np.linalg.slogdet(X)[1])(X_big, V)
Xi = np.linalg.inv(X_big)
assert np.allclose(HV, -(Xi @ V @ Xi).T)  # d²ln|X| [V] = −tr(X⁻¹ V X⁻¹ ·), as a gradient
print(f"Hessian of ln|det X| at n = {n_big}: {n_big ** 4 * 8 / 2 ** 30:.0f} GiB dense; "
      f"H·V computed with {HV.nbytes / 2 ** 20:.1f} MiB")
