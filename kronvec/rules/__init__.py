"""Closed-form derivative rules: primal values in, structured Jacobian out.

Every rule returns the Jacobian in numerator layout, ∂vec F/∂(vec X)ᵀ, with
column-major vec (``notes/conventions.md``), as a structured operator.
All rules are listed in :data:`REGISTRY` with their primal function, sample
inputs, formula and reference; the tests and benchmarks iterate it.

Combinators (re-exported from :mod:`kronvec.differential`):
:func:`product_rule`, :func:`chain_rule`, :func:`sum_rule`, :func:`linear_map`.
"""

from ..differential import chain_rule, linear_map, product_rule, sum_rule
from ._registry import REGISTRY, Rule, rule
from .determinant import adjugate, det, det_hessian, logdet
from .elementwise import (
    elementwise,
    exp,
    hadamard_wrt_left,
    hadamard_wrt_right,
    log,
    sqrt,
    square,
    tanh,
)
from .inverse import inv, solve_wrt_a, solve_wrt_b
from .kronecker import kron_wrt_left, kron_wrt_right
from .linear import matmul_wrt_left, matmul_wrt_right, sandwich, transpose
from .trace import trace, trace_product

__all__ = [
    "REGISTRY",
    "Rule",
    "rule",
    "inv",
    "det",
    "logdet",
    "det_hessian",
    "adjugate",
    "trace",
    "trace_product",
    "transpose",
    "matmul_wrt_left",
    "matmul_wrt_right",
    "sandwich",
    "solve_wrt_a",
    "solve_wrt_b",
    "kron_wrt_left",
    "kron_wrt_right",
    "hadamard_wrt_left",
    "hadamard_wrt_right",
    "elementwise",
    "exp",
    "log",
    "sqrt",
    "tanh",
    "square",
    "product_rule",
    "chain_rule",
    "sum_rule",
    "linear_map",
]
