"""Solutions of ordinary differential equations: ``scipy.integrate.odeint``,
differentiable in the initial state, the output times and the parameters (front
door: :func:`kronvec.scipy.integrate.odeint`).

Y[i] = y(tᵢ) where y′ = f(y, t, θ₁, …, θₖ) and y(t₀) = y₀.  Its VJP is the adjoint
method (``notes/derivatives.md`` §42; Pontryagin's costate, as in Cao, Li, Petzold &
Serban 2003, Chen et al. 2018 — and autograd's ``odeint``): from the last output time
backwards, one augmented system carries the state y, its adjoint a = ∂L/∂y, the
cotangent of the first time and those of the parameters,

    y′ = f,  a′ = −(∂f/∂y)ᵀ a,  a_t′ = −(∂f/∂t)ᵀ a,  θ̄′ = −(∂f/∂θ)ᵀ a,

integrated from tᵢ to tᵢ₋₁ by ``odeint`` itself, with Ȳ[i−1] added to a at each
output time; t̄ᵢ = ⟨f(Y[i], tᵢ), Ȳ[i]⟩ for i ≥ 1 and t̄₀ = the carried a_t.  The
products (∂f/∂·)ᵀ a are kronvec's own VJP of f, and the backward solves are this
operation again, so the VJP is NumPy code on recorded operations: traced again, it
gives Hessians and third derivatives (each order one more augmented system).

SciPy is imported on the first call (``import kronvec`` does not import
``scipy.integrate``).
"""

from __future__ import annotations

import math

import numpy as np

from . import _samples
from ._registry import Primitive, register
from .._tracer import Node, static_value
from ..operators import Dense
from ._matrix_support import _remembered

__all__ = ["odeint"]


def _odeint_impl(y0, t, *args, func, options=()):
    from scipy.integrate import odeint as scipy_odeint

    return scipy_odeint(func, y0, t, args=tuple(args), **dict(options))


def _sizes(args):
    return [math.prod(np.shape(static_value(a))) for a in args]


def _augmented(func, n, sizes):
    """The adjoint system of y′ = f(y, t, θ): state [y, a, a_t, θ̄₁, …, θ̄ₖ] (flat)."""
    from ..api import vjp

    def augmented_dynamics(state, tau, *args):
        y, a = state[:n], state[n:2 * n]
        dy, pullback = vjp(lambda y_, tau_, *args_: func(y_, tau_, *args_), y, tau, *args)
        cotangents = pullback(-np.reshape(a, np.shape(dy)))
        parts = [np.reshape(dy, (-1,)), np.reshape(cotangents[0], (-1,)), np.reshape(cotangents[1], (1,))]
        parts += [np.reshape(c, (-1,)) for c in cotangents[2:]]
        return np.concatenate(parts)

    augmented_dynamics.__name__ = f"adjoint_of_{getattr(func, '__name__', 'f')}"
    return augmented_dynamics


def _adjoint(g, ans, y0, t, *args, func, options=()):
    """(ȳ₀, t̄, θ̄₁, …, θ̄ₖ) for the cotangent g of Y = odeint(f, y₀, t, θ) (§42)."""
    count, n = np.shape(static_value(ans))
    sizes = _sizes(args)
    dynamics = _augmented(func, n, sizes)
    a = g[count - 1]
    a_t = np.zeros(())
    theta = np.zeros(sum(sizes))
    time_cotangents = []
    for i in range(count - 1, 0, -1):
        f_i = np.reshape(func(ans[i], t[i], *args), (-1,))
        t_bar = np.sum(f_i * g[i])  # Y[i] moves with tᵢ at the speed f(Y[i], tᵢ)
        time_cotangents.append(t_bar)
        a_t = a_t - t_bar
        start = np.concatenate([ans[i], a, np.reshape(a_t, (1,)), theta])
        span = np.stack([t[i], t[i - 1]])
        end = odeint(start, span, *args, func=dynamics, options=options)[1]
        a, a_t, theta = end[n:2 * n] + g[i - 1], end[2 * n], end[2 * n + 1:]
    time_cotangents.append(a_t)
    t_bar = np.stack(time_cotangents[::-1])
    offsets = np.cumsum([0] + sizes)
    theta_bars = [np.reshape(theta[offsets[k]:offsets[k + 1]], np.shape(static_value(arg)))
                  for k, arg in enumerate(args)]
    return (np.reshape(a, np.shape(static_value(y0))), t_bar, *theta_bars)


def _vjp_factory(position):
    def vjp(g, ans, *args, func, options=()):
        arrays = (g, ans, *args)
        if any(isinstance(a, Node) for a in arrays):  # (traced again, for a higher order: recorded as it is)
            return _adjoint(g, ans, *args, func=func, options=options)[position]
        # One backward solve gives the cotangents of every argument: a gradient in several
        # of them (y0 and the parameters, as a fit asks) solves it once per call, not once each
        return _remembered("odeint adjoint", arrays, lambda: _adjoint(g, ans, *args, func=func, options=options),
                           func, options)[position]

    return vjp


# ------------------------------------------------ the Jacobian: forward sensitivities
def _partials(func, y, tau, args):
    """∂f/∂y (n×n), ∂f/∂t (n), ∂f/∂θₖ (n × size θₖ, column-major vec) at one point, plain."""
    from ..api import jacobian

    blocks = jacobian(lambda y_, tau_, *args_: func(y_, tau_, *args_), argnums=tuple(range(2 + len(args))))(
        y, np.float64(tau), *args)
    n = np.size(y)
    return [np.reshape(J.toarray(), (n, -1)) for J in blocks]


def _sensitivities(y0, t, args, func, options, position):
    """S(tᵢ) = ∂y(tᵢ)/∂x for x = y₀ (position 0 or 1) or θ (position ≥ 2), solving
    y′ = f, S′ = (∂f/∂y) S + ∂f/∂x (0 for y₀) with S(t₀) = I (y₀) or 0 (θ):
    the variational equations (Hairer, Nørsett & Wanner I, §I.14).  (T, n, p)."""
    from scipy.integrate import odeint as scipy_odeint

    n = np.size(y0)
    wrt_state = position < 2
    p = n if wrt_state else int(np.size(args[position - 2]))

    def variational(z, tau, *args_):
        y, S = z[:n], np.reshape(z[n:], (n, p), order="F")
        partials = _partials(func, y, tau, args_)
        dS = partials[0] @ S + (0.0 if wrt_state else partials[position])
        return np.concatenate([np.reshape(func(y, tau, *args_), (-1,)), np.reshape(dS, (-1,), order="F")])

    S0 = np.eye(n) if wrt_state else np.zeros((n, p))
    z = scipy_odeint(variational, np.concatenate([y0, np.reshape(S0, (-1,), order="F")]), t, args=tuple(args),
                     **dict(options))
    return np.reshape(z[:, n:], (len(t), n, p), order="F")


def _jacobian_factory(position):
    def jacobian(ans, y0, t, *args, names, func, options=()):
        # rows: vec Y column-major (Y[i, j] at i + T·j); columns: vec of the argument
        y0, t = np.asarray(y0, dtype=np.float64), np.asarray(t, dtype=np.float64)
        args = [np.asarray(a, dtype=np.float64) for a in args]
        count, n = np.shape(ans)
        S = _sensitivities(y0, t, args, func, options, position)
        if position == 1:  # Y[i] moves with tᵢ at speed f(Y[i], tᵢ); t₀ moves every Y[i] by −S(tᵢ) f(y₀, t₀)
            D = np.zeros((count, n, count))
            for i in range(1, count):
                D[i, :, i] = np.reshape(func(ans[i], t[i], *args), (-1,))
            D[1:, :, 0] = -S[1:] @ np.reshape(func(y0, t[0], *args), (-1,))  # (Y[0] = y₀ whatever t₀)
            S = D
        return Dense(np.reshape(S, (count * n, -1), order="F"))

    return jacobian


def _sample_rhs(y, t, k, b):
    """A smooth nonlinear test system: damped, cubic, driven (the registry's samples)."""
    return -k * y - 0.1 * y ** 3 + b * np.sin(2.0 * t)


_TIGHT = (("rtol", 1e-12), ("atol", 1e-12))  # differences of a solution need it far below h = 1e-6


def _samples_of(rng, n):
    # a state of n − 1 ≤ 2 entries over a short span: every derivative order runs nested
    # adjoint solves (a third derivative, three), so the sweep keeps the systems small
    m = max(1, min(n - 1, 2))
    return _samples.Sample(
        (rng.uniform(0.5, 1.0, m), np.array([0.0, 0.15, 0.35]), rng.uniform(0.5, 1.5, m), np.array(0.3)),
        {"func": _sample_rhs, "options": _TIGHT})


odeint = register(Primitive(
    _odeint_impl, name="integrate.odeint",
    vjps=_vjp_factory,
    jacobians=_jacobian_factory,
    label=lambda *names, func, options=(): f"odeint({getattr(func, '__name__', 'f')}, {', '.join(map(str, names))})",
    formula="adjoint: a′ = −(∂f/∂y)ᵀa, a_t′ = −(∂f/∂t)ᵀa, θ̄′ = −(∂f/∂θ)ᵀa solved backwards from each tᵢ with "
            "Ȳ[i−1] added at tᵢ₋₁; ȳ₀ = a(t₀), t̄ᵢ = ⟨f(Y[i], tᵢ), Ȳ[i]⟩ (i ≥ 1), t̄₀ = a_t(t₀)",
    reference="Pontryagin et al. (1962); Cao, Li, Petzold & Serban, SIAM J. Sci. Comput. 24 (3), 2003; "
              "Chen, Rubanova, Bettencourt & Duvenaud, 'Neural ODEs' (2018), Alg. 1",
    samples=_samples_of, param_names=("y0", "t", "k", "b"),
    edge_cases={
        "one output time (Y = y0)": lambda rng: _samples.Sample(
            (rng.uniform(0.5, 1.0, 2), np.array([0.1]), rng.uniform(0.5, 1.5, 2), np.array(0.3)),
            {"func": _sample_rhs, "options": _TIGHT}),
        "times running backwards": lambda rng: _samples.Sample(
            (rng.uniform(0.5, 1.0, 1), np.array([0.3, -0.1]), rng.uniform(0.5, 1.5, 1), np.array(0.3)),
            {"func": _sample_rhs, "options": _TIGHT}),
    },
))
