"""The one registry of closed-form rules.

A rule is a function of the primal arguments that returns the structured
Jacobian of ``primal`` with respect to argument ``argnum``.  It is
registered next to its formula with :func:`rule`; the test suite checks
every registered rule against central finite differences of ``primal`` and
the benchmark suite times every one of them, so adding a rule is one
decorated function plus its sample-input generator.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

__all__ = ["Rule", "REGISTRY", "rule"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A registered derivative rule.

    Attributes
    ----------
    name : str
        Public name in :mod:`kronvec.rules`.
    jacobian : callable
        ``jacobian(*args)`` → structured Jacobian (numerator layout).
    primal : callable
        The function being differentiated, ``primal(*args)``.
    argnum : int
        Which argument the Jacobian is taken with respect to.
    sample : callable
        ``sample(rng, n)`` → a tuple of valid arguments of size about n.
    formula : str
        The vec form, as printed in notes and the tour.
    reference : str
        Where the formula comes from.
    """

    name: str
    jacobian: Callable
    primal: Callable
    argnum: int
    sample: Callable
    formula: str
    reference: str


REGISTRY: dict[str, Rule] = {}


def rule(*, primal, sample, formula, reference, argnum=0):
    """Register the decorated Jacobian function as a rule (returns it unchanged)."""

    def register(jacobian):
        name = jacobian.__name__
        if name in REGISTRY:
            raise ValueError(f"rule {name!r} registered twice")
        REGISTRY[name] = Rule(name, jacobian, primal, argnum, sample, formula, reference)
        return jacobian

    return register
