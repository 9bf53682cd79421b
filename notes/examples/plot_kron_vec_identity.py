"""
The vec trick, visualized: vec(A X B) = (Bᵀ ⊗ A) vec X
=======================================================

kronvec's conventions (column-major vec, ``Kron(A, B) == np.kron(A, B)``) make the
Jacobian of X ↦ A X B the Kronecker product Bᵀ ⊗ A.  Below, each matrix is drawn as a
heat map and the identity is checked number for number; then the commutation matrix
K_{m,n}, the Jacobian of the transpose, is drawn as the permutation it is.
"""

import matplotlib.pyplot as plt
import numpy as np

import kronvec

rng = np.random.default_rng(1)
A = rng.integers(-3, 4, size=(3, 2)).astype(float)
X = rng.integers(-3, 4, size=(2, 4)).astype(float)
B = rng.integers(-3, 4, size=(4, 3)).astype(float)

J = kronvec.jacobian(lambda X: A @ X @ B)(X)
print(J.formula())  # a Kronecker product, built from A and Bᵀ
K = np.kron(B.T, A)
assert np.allclose(J.toarray(), K)
assert np.allclose(kronvec.vec(A @ X @ B), K @ kronvec.vec(X))
assert np.allclose(J.matvec(kronvec.vec(X)), kronvec.vec(A @ X @ B))  # the vec trick: two products

# %%
# Each block (i, j) of Bᵀ ⊗ A is B[j, i]·A: the 3×2 blocks are copies of A scaled by the
# entries of Bᵀ.

fig, axes = plt.subplots(1, 4, figsize=(12, 4), gridspec_kw={"width_ratios": [8, 1, 1, 1.3]})
limit = np.abs(K).max()
style = dict(cmap="RdBu_r", vmin=-limit, vmax=limit)
axes[0].imshow(K, **style)
for k in range(1, 4):
    axes[0].axvline(2 * k - 0.5, color="k", lw=0.8)
    axes[0].axhline(3 * k - 0.5, color="k", lw=0.8)
axes[0].set_title("Bᵀ ⊗ A  (9×8, blocks B[j, i]·A)")
axes[1].imshow(kronvec.vec(X)[:, None], **style)
axes[1].set_title("vec X")
axes[2].imshow(kronvec.vec(A @ X @ B)[:, None], **style)
axes[2].set_title("vec(AXB)")
axes[3].imshow(A @ X @ B, **style)
axes[3].set_title("A X B")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()

# %%
# The commutation matrix
# ----------------------
# ``vec(Xᵀ) = K_{m,n} vec(X)``: a permutation matrix, stored by kronvec as the permutation
# (an index array), never as a matrix.

m, n = 4, 6
Kmn = kronvec.jacobian(lambda X: X.T)(rng.standard_normal((m, n)))
print(Kmn)  # K₄,₆
Y = rng.standard_normal((m, n))
assert np.allclose(Kmn.matvec(kronvec.vec(Y)), kronvec.vec(Y.T))
assert np.allclose((Kmn.T @ Kmn).toarray(), np.eye(m * n))  # orthogonal: Kᵀ = K⁻¹ = K_{n,m}

fig, ax = plt.subplots(figsize=(5, 5))
Kmn.spy(ax, color="tab:red")
ax.set_title(f"{Kmn._repr_latex_()}, the Jacobian of X ↦ Xᵀ (X is {m}×{n})")
