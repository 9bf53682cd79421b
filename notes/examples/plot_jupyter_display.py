"""
Operators in Jupyter: formula, summary and spy
==============================================

A structured operator shows itself in a notebook: Jupyter displays its formula in LaTeX
(``_repr_latex_``) or a short HTML summary (``_repr_html_``: shape, dtype, the memory it
holds against the dense matrix's, and a bound on its nonzeros — what this page shows
below).  ``J.spy()`` draws its nonzero pattern with matplotlib without forming a large
dense matrix, even for a Jacobian whose dense form would not fit in memory.
"""

import matplotlib.pyplot as plt
import numpy as np

import kronvec

X = np.arange(1.0, 10.0).reshape(3, 3) + 5 * np.eye(3)
J = kronvec.jacobian(np.linalg.inv)(X)
print(J._repr_latex_())  # what a notebook renders as math
J  # the HTML summary

# %%
# A large Jacobian: the first differences of the upper triangle of a 200×200 matrix,
# 39 800 × 40 000 — 11.9 GiB dense.  Its nonzeros are only bounded (a product of
# selections), so ``spy`` probes it: it applies the operator to a few hundred random
# positive combinations of the columns each pixel covers.

Y = np.ones((200, 200))
D = kronvec.jacobian(lambda Y: np.diff(np.triu(Y), axis=0))(Y)
D

# %%

fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
D.spy(axes[0])
axes[0].set_title("all 39 800 × 40 000 (each pixel: a block of entries)", fontsize=9)
small = kronvec.jacobian(lambda Y: np.diff(np.triu(Y), axis=0))(np.ones((6, 6)))
small.spy(axes[1], color="tab:green")
axes[1].set_title(f"the same map for 6×6: {small._repr_latex_()}", fontsize=9)
fig.tight_layout()
