"""Reductions: sums, means, products, extremes, medians, moments, cumulative
sums and products, and norms.

A reduction over some axes maps each slice of X to one number.  Its
Jacobian is therefore ``Bᵀ·Diag(vec D)``: the derivative D of each output
with respect to the entries of its slice, summed back onto the output by
Bᵀ, the transpose of the 0/1 map B that broadcasts the result over the
reduced axes.  A sum has D = 1 (Jacobian Bᵀ), a product the products of the
other entries, a variance 2(X − μ)/(N − ddof), a norm X/‖X‖; an extreme
(max, min, median) picks entries, so its Jacobian is a weighted selection,
``Sᵀ_out·Diag(w)·S_in``, with O(number of picked entries) storage.  The VJPs
broadcast the cotangent back over the slice and multiply by D.

Cumulative sums and products act along one axis: ``I ⊗ tril(1) ⊗ I`` for a
sum, and for a product a first-order linear recurrence, ``(I − diag(X)S)⁻¹``
with S the shift along the axis — applied in O(N), never stored.  Products
are exact with zeros: no derivative divides by an entry.

Matrix norms built on singular values (``'nuc'``, 2, −2) differentiate
through three operations — the singular values and the left and right
singular vectors, defined with the other factorizations in
:mod:`.factorizations` — whose VJPs are written in terms of each other, so
every order is traced.

Kinks follow ``notes/conventions.md`` §7 and these additions: ties of max
and min are split evenly among the maximizers (also with ``initial``); the
median takes its middle order statistic(s), ½ each for an even count, each
shared evenly among the entries equal to it; std and the p-norms take the
subgradient 0 at a zero spread (zero slice), like ‖X‖ at 0; a singular value
0 has derivative 0 (like |x| at 0).  One module each: :mod:`.sums` (sum, mean), :mod:`.products`, :mod:`.extremes`
(max, min, ptp), :mod:`.order_statistics` (median, quantile), :mod:`.moments`
(var, std), :mod:`.cumulative` (cumsum, cumprod) and :mod:`.norms`, on the shared
helpers of :mod:`._common`.  Derivations: ``notes/derivatives.md`` §3, §12 and §18.
"""

from ..factorizations import left_singular_vectors, right_singular_vectors, singular_values
from .cumulative import LinearRecurrence, cumprod, cumsum, linear_recurrence
from .extremes import max_, min_
from .moments import std, var
from .norms import norm
from .order_statistics import median, quantile
from .products import prod
from .sums import mean, sum_

__all__ = ["sum_", "mean", "prod", "max_", "min_", "median", "quantile", "var", "std", "norm", "cumsum", "cumprod",
           "linear_recurrence", "LinearRecurrence", "singular_values", "left_singular_vectors",
           "right_singular_vectors"]
