"""
The sparsity of a structured Jacobian, against its dense size
=============================================================

The derivative of F(X) = X X is the product rule's sum
dF = dX·X + X·dX, in vec form (Xᵀ ⊗ I) + (I ⊗ X): two Kronecker products.
kronvec returns exactly that operator.  It keeps X and nothing else — O(n²)
numbers for an n² × n² matrix — yet it can say where its nonzeros are.
"""

import matplotlib.pyplot as plt
import numpy as np

import kronvec

rng = np.random.default_rng(0)
n = 12
X = rng.standard_normal((n, n))
J = kronvec.jacobian(lambda X: X @ X)(X)
print(J)  # the formula
J  # in Jupyter (and here), a summary: shape, dtype, memory held against the dense size

# %%
# ``J.spy()`` draws where the nonzeros are (like ``matplotlib.pyplot.spy``), from the
# operator's sparse form — never from a dense matrix.  The diagonal blocks come from
# I ⊗ X (X repeated down the diagonal), the diagonal stripes from Xᵀ ⊗ I.

fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
for ax, (title, op) in zip(axes, [("Xᵀ ⊗ I", kronvec.Kron(X.T, np.eye(n))),
                                   ("I ⊗ X", kronvec.Kron(np.eye(n), X)),
                                   ("J = (Xᵀ ⊗ I) + (I ⊗ X)", J)]):
    op.spy(ax, color="tab:blue")
    ax.set_title(f"{title}\n{op.shape[0]}×{op.shape[1]}, ≤ {op.nnz_bound} nonzeros", fontsize=10)
fig.tight_layout()

# %%
# Memory against n
# ----------------
# The dense Jacobian has n⁴ entries; its CSR form stores each nonzero (2n³ of them here)
# with its column index; the structured operator stores X, n² numbers.  Only the last is
# affordable past n ≈ 100.  (No matrix is formed below: the sizes come from the operator.)

sizes = np.array([4, 8, 16, 32, 64, 128, 256, 512, 1024])
dense, csr, held = [], [], []
for m in sizes:
    Jm = kronvec.jacobian(lambda X: X @ X)(rng.standard_normal((m, m)))
    dense.append(Jm.dense_nbytes)
    csr.append(Jm.nnz_bound * (8 + 4) + (Jm.shape[0] + 1) * 4)  # data, int32 indices, indptr
    held.append(m * m * 8)  # X itself

fig, ax = plt.subplots(figsize=(6, 4))
ax.loglog(sizes, dense, "o-", label="dense n²×n² (toarray)")
ax.loglog(sizes, csr, "s-", label="CSR (tosparse), nonzeros only")
ax.loglog(sizes, held, "^-", label="structured operator (keeps X)")
ax.axhline(kronvec.config.dense_limit_bytes, color="gray", ls=":", label="default dense_limit_bytes")
ax.set_xlabel("n (X is n×n)")
ax.set_ylabel("bytes")
ax.set_title("Jacobian of X ↦ X X")
ax.legend(fontsize=8)
fig.tight_layout()
