"""Public alias of :mod:`kronvec.operators.algebra`, where the laws live."""

from .operators.algebra import add, kron, multiply, product_law, scale, sum_law

__all__ = ["multiply", "add", "scale", "kron", "product_law", "sum_law"]
