"""Closed-form derivative rules: primal values in, structured Jacobian out.

Each function here returns a Jacobian in numerator layout, ∂vec F/∂(vec X)ᵀ
with column-major vec (``notes/conventions.md``), as a structured operator —
and none of them states a derivative: they are *derived* from the one
registry of operations (:mod:`kronvec.ops`), where each derivative is
defined once.  ``rules.inv(X)`` is the ``linalg.inv`` operation's Jacobian
at X; ``rules.sandwich(A, X, B)`` is ``kronvec.jacobian`` of ``A @ X @ B``.

:data:`REGISTRY` lists every rule with its primal function, sample inputs,
formula and reference; the tests and benchmarks iterate it.

Combinators (from :mod:`kronvec.differential`): :func:`product_rule`,
:func:`chain_rule`, :func:`sum_rule`, :func:`linear_map`.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Callable

import numpy as np

from ._config import config
from ._constants import check_real_dtype, freeze
from ._linalg.factorization import all_finite
from ._linalg.scope import call_scope
from ._vec import vec
from .api import hessian, jacobian
from .differential import chain_rule, linear_map, product_rule, sum_rule
from .operators import Commutation, Diag
from .ops import REGISTRY as OPERATIONS
from .ops import _samples
from .ops.linalg import adjugate_values

__all__ = [
    "REGISTRY",
    "Rule",
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


@dataclasses.dataclass(frozen=True)
class Rule:
    """A published rule: the Jacobian of ``primal`` with respect to argument ``argnum``.

    Attributes
    ----------
    name : str
        Public name in :mod:`kronvec.rules`.
    jacobian : callable
        ``jacobian(*args)`` → structured Jacobian (numerator layout).
    primal : callable
        The function being differentiated, ``primal(*args)``.
    argnum : int
    sample : callable
        ``sample(rng, n)`` → a tuple of valid arguments of size about n.
    formula : str
        The vec form.
    reference : str
        Where the formula comes from.
    signature : str
        The arguments' shapes, generalized-ufunc style (``"(m,k),(k,q)->(m,q)"``).
    entire : bool
        True when the primal is smooth everywhere (polynomial or entire).
    """

    name: str
    jacobian: Callable
    primal: Callable
    argnum: int
    sample: Callable
    formula: str
    reference: str
    signature: str = ""
    entire: bool = False


def _rule_argument(x, rule_name, arg_name):
    """A rule's argument as a float array, captured by value: ints promote to
    float64, float32 stays, complex and NaN/inf are refused."""
    x = np.asarray(x)
    if x.dtype.kind == "c":
        raise TypeError(f"rules.{rule_name}: {arg_name} is complex ({x.dtype}); kronvec's rules are real")
    check_real_dtype(x.dtype, f"{arg_name} of rules.{rule_name}")
    x = x.astype(np.float64) if x.dtype.kind != "f" else np.array(x, copy=True)
    if config.check_finite and not all_finite(x):
        raise ValueError(
            f"rules.{rule_name}: {arg_name} contains NaN or inf; kronvec refuses non-finite input "
            "(set kronvec.config.check_finite = False to skip this check)"
        )
    return freeze(x)


def _published(name, arg_names, compute):
    """``rules.<name>(*args)``: validated arguments, and errors that name the rule."""

    def rule(*args):
        values = [_rule_argument(a, name, arg_name) for a, arg_name in zip(args, arg_names)]
        if len(args) != len(arg_names):
            raise TypeError(f"rules.{name} takes {len(arg_names)} arguments ({', '.join(arg_names)}), "
                            f"got {len(args)}")
        try:
            with call_scope():  # the value and the Jacobian share one factorization
                return compute(*values)
        except (ValueError, np.linalg.LinAlgError) as error:
            message = str(error)
            if message.startswith(f"rules.{name}"):
                raise
            raise type(error)(f"rules.{name}: {message}") from None

    rule.__name__ = rule.__qualname__ = name
    rule.__module__ = __name__
    rule.__signature__ = inspect.Signature(
        [inspect.Parameter(a, inspect.Parameter.POSITIONAL_ONLY) for a in arg_names])
    return rule


def _derived_rule(op, position, name):
    names = list(op.param_names)

    def compute(*values):
        return op.jacobians[position](op.impl(*values), *values, names=names)

    rule = _published(name, names, compute)

    argument = names[position]
    rule.__doc__ = f"""Jacobian of ``{op.name}`` with respect to {argument}: ``{op.formula}``.

    Numerator layout, column-major vec (``notes/conventions.md``); derived from
    the ``{op.name}`` operation in :mod:`kronvec.ops` ({op.reference}).

    Parameters
    ----------
    {", ".join(names)} : array_like
        The operation's arguments (ints are promoted to float64, float32 is kept).

    Returns
    -------
    StructuredOperator
        Of shape (output size, size of {argument}).

    Raises
    ------
    ValueError
        Wrong shapes, or NaN/inf input.
    TypeError
        Complex input.
    """
    return rule


REGISTRY: dict[str, Rule] = {}
for _op in OPERATIONS.values():
    for _position, _name in _op.rule_names.items():
        REGISTRY[_name] = Rule(_name, _derived_rule(_op, _position, _name), _op.impl, _position,
                               _op.samples, _op.formula, _op.reference, _op.signature, _op.entire)

inv = REGISTRY["inv"].jacobian
det = REGISTRY["det"].jacobian
logdet = REGISTRY["logdet"].jacobian
trace = REGISTRY["trace"].jacobian
matmul_wrt_left = REGISTRY["matmul_wrt_left"].jacobian
matmul_wrt_right = REGISTRY["matmul_wrt_right"].jacobian
solve_wrt_a = REGISTRY["solve_wrt_a"].jacobian
solve_wrt_b = REGISTRY["solve_wrt_b"].jacobian
kron_wrt_left = REGISTRY["kron_wrt_left"].jacobian
kron_wrt_right = REGISTRY["kron_wrt_right"].jacobian
hadamard_wrt_left = REGISTRY["hadamard_wrt_left"].jacobian
hadamard_wrt_right = REGISTRY["hadamard_wrt_right"].jacobian
exp = REGISTRY["exp"].jacobian
log = REGISTRY["log"].jacobian
sqrt = REGISTRY["sqrt"].jacobian
tanh = REGISTRY["tanh"].jacobian
square = REGISTRY["square"].jacobian


def _composite(name, primal, argnum, sample, formula, reference, build, signature, entire):
    """Publish a rule derived by differentiating `primal` with kronvec itself."""
    rule = _published(name, list(inspect.signature(primal).parameters), build)
    rule.__doc__ = build.__doc__
    REGISTRY[name] = Rule(name, rule, primal, argnum, sample, formula, reference, signature, entire)
    return rule


def _sandwich_primal(A, X, B):
    return A @ X @ B


def sandwich(A, X, B):
    """Jacobian of X ↦ AXB: ``Bᵀ ⊗ A``, by differentiating ``A @ X @ B``.

    Examples
    --------
    >>> import numpy as np
    >>> sandwich(np.ones((2, 3)), np.ones((3, 4)), np.ones((4, 5))).formula()
    'Bᵀ ⊗ A'
    """
    return jacobian(_sandwich_primal, argnums=1)(A, X, B)


sandwich = _composite("sandwich", _sandwich_primal, 1, _samples.three_for_sandwich, "Bᵀ ⊗ A",
           "Magnus–Neudecker Thm 2.2: vec(AXB) = (Bᵀ ⊗ A) vec X", sandwich,
                      "(p,m),(m,k),(k,q)->(p,q)", True)


def _trace_product_primal(X, A):
    return np.trace(X @ A)


def trace_product(X, A):
    """Jacobian of X ↦ tr(XA): ``vec(Aᵀ)ᵀ`` (the gradient is Aᵀ).

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1., 2.], [3., 4.]])
    >>> trace_product(np.eye(2), A).gradient((2, 2))
    array([[1., 3.],
           [2., 4.]])
    """
    return jacobian(_trace_product_primal)(X, A)


trace_product = _composite("trace_product", _trace_product_primal, 0, _samples.two_for_trace, "vec(Aᵀ)ᵀ",
           "seed notes: ∇_X tr(XA) = Aᵀ; Matrix Cookbook eq. (100)", trace_product,
                           "(m,k),(k,m)->()", True)


adjugate = _published("adjugate", ["X"], adjugate_values)
adjugate.__doc__ = """The adjugate adj(X) (transposed cofactor matrix), exact for singular X.

    Computed from the SVD X = UΣVᵀ as ``adj(X) = det(U)·det(V)·V·adj(Σ)·Uᵀ``,
    where ``adj(Σ) = diag(∏_{j≠i} σ_j)``: no division by det(X), so rank n−1
    gives the rank-one adjugate and rank ≤ n−2 gives exactly zero.

    Examples
    --------
    >>> import numpy as np
    >>> adjugate(np.array([[1., 2.], [3., 4.]]))
    array([[ 4., -2.],
           [-3.,  1.]])
    """


def _adjugate_transpose(X):
    return adjugate_values(X).T


def det_hessian(X):
    """Hessian of X ↦ |X|: the Jacobian of vec ∇|X| = vec adj(X)ᵀ, exact at every rank.

    Examples
    --------
    >>> import numpy as np
    >>> H = det_hessian(np.eye(2))                   # |X| = x₁₁x₂₂ − x₁₂x₂₁
    >>> H.toarray().round(12) + 0.0
    array([[ 0.,  0.,  0.,  1.],
           [ 0.,  0., -1.,  0.],
           [ 0., -1.,  0.,  0.],
           [ 1.,  0.,  0.,  0.]])
    """
    return hessian(np.linalg.det)(X)


det_hessian = _composite("det_hessian", _adjugate_transpose, 0, _samples.one_square_for_det,
           "s·(V ⊗ U)·(diag(-vec C)·K + Eᵀ C E)·(Vᵀ ⊗ Uᵀ)",
           "second-order expansion of det(Σ + UᵀdXV) in the SVD X = UΣVᵀ", det_hessian,
                         "(m,m)->(m,m)", True)


def transpose(X_or_m, n=None):
    """Jacobian of X ↦ Xᵀ for X of shape (m, n): the commutation matrix K_{m,n}.

    Call as ``transpose(X)`` or ``transpose(m, n)``.

    Examples
    --------
    >>> transpose(2, 3)
    <6×6 Commutation: K₂,₃, dtype=float64>
    """
    if n is None:
        return _transpose_of_matrix(X_or_m)
    return Commutation(int(X_or_m), int(n))


_transpose_of_matrix = REGISTRY["transpose"].jacobian
REGISTRY["transpose"] = dataclasses.replace(REGISTRY["transpose"], jacobian=transpose)


def elementwise(derivative_values, name=None):
    """Jacobian of an elementwise map from its derivative values: ``Diag(vec f'(X))``.

    Examples
    --------
    >>> import numpy as np
    >>> elementwise(np.array([[1., 2.], [3., 4.]])).toarray().diagonal()
    array([1., 3., 2., 4.])
    """
    values = _rule_argument(derivative_values, "elementwise", "f'(X)")
    return Diag(vec(values), name=None if name is None else f"diag(vec {name})")
