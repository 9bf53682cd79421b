"""Adversarial sweep of kronvec's NESTED and REPLAYED transformations.

Nested: grad of grad, jacobian of grad, hessian vs jacobian(grad), hvp vs hessian,
jvp of vjp, vjp of jvp, perturbation confusion (inner closures over the outer traced
value).  Replayed: compile=True at a new point where branch decisions differ (mask,
argmax, sort permutation, clip bounds, abs sign, max ties), a new shape/dtype,
compiled hvp/jacobian, compiled inside traced, two threads at once.

Every answer is checked against central finite differences (nested: FD of kronvec's own
inner gradient) and jvp/vjp adjointness.

Run standalone from the repository root (prints one line per finding and a summary):

    python tests/sweeps/nested.py [-k substr] [-v]

``-k`` keeps the cases whose name contains ``substr``; ``-v`` lists REFUSED findings too.
From Python, ``run(filter=None)`` returns the findings as (category, case name, message)
without printing (``tests/test_adversarial_sweeps.py`` holds them to an allow-list).
Categories:
  WRONG   a number differs from finite differences / uncompiled / convention
  CRASH   an internal error (not a clear kronvec refusal)
  UNCLEAR a refusal whose message does not name kronvec or what was called
  REFUSED a clear refusal (listed with -v only; not a defect by itself)

Every random draw comes from one generator that each ``run()`` puts back to the state it
had after drawing the module's constant weights W3 and W6 (read-only arrays), so two runs in
one process draw the same points; the findings of a run are kept in that run only.  Threads
are joined before a case ends.  Nothing is written to disk.
"""
import pathlib
import sys
import threading
import time
import traceback
import warnings

import numpy as np

import kronvec

if str(pathlib.Path(__file__).resolve().parent) not in sys.path:  # (its sibling, run as a script or loaded by path)
    sys.path.append(str(pathlib.Path(__file__).resolve().parent))
from _sweep_checks import Result, command_line, short  # noqa: E402

SEED = 2024
rng = np.random.default_rng(SEED)  # put back to _RNG_START by every run()


class _Run:
    """The state of the run under way: its filter, findings, case count and echo."""

    def __init__(self, filter, echo):
        self.filter, self.echo = filter, echo
        self.findings, self.cases = [], 0

    def report(self, cat, name, msg):
        self.findings.append((cat, name, msg))
        if self.echo is not None:
            self.echo(cat, name, msg)


_RUN = None  # the _Run of the run() under way (set and cleared by run())


class Wrong(AssertionError):
    pass


class Unclear(AssertionError):
    pass


# ---------------------------------------------------------------- helpers
def vec(a):
    return np.reshape(np.asarray(a, dtype=float), (-1,), order="F")


def fd_dir(F, X, V, eps=1e-6):
    return (np.asarray(F(X + eps * V), dtype=float) - np.asarray(F(X - eps * V), dtype=float)) / (2 * eps)


def fd_jac(F, X, eps=1e-6):
    """dense numerator-layout Jacobian of F at X by central differences."""
    X = np.asarray(X, dtype=float)
    cols = []
    for k in range(X.size):
        E = np.zeros(X.size)
        E[k] = 1.0
        cols.append(vec(fd_dir(F, X, E.reshape(X.shape, order="F"), eps)))
    return np.stack(cols, axis=1)


def fd_grad(F, X, eps=1e-6):
    return fd_jac(lambda Y: np.reshape(F(Y), (1,)), X, eps).reshape(np.shape(X), order="F")


def check_close(what, got, want, rtol=2e-5, atol=2e-6):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        raise Wrong(f"{what}: shape {got.shape} != expected {want.shape}")
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    if not np.all(np.isfinite(got)) or err > atol + rtol * scale:
        raise Wrong(f"{what}: max error {err:.3g} (scale {scale:.3g})")


def same(what, got, want):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or not np.array_equal(got, want):
        d = np.max(np.abs(got.astype(float) - want.astype(float))) if got.shape == want.shape else "shape"
        raise Wrong(f"{what}: not bit for bit (diff {d})")


def clear_refusal(err):
    msg = str(err)
    return "kronvec" in msg or msg.startswith(("np.", "scipy.", "ndarray."))



def run_case(name, fn):
    run = _RUN
    if run.filter and run.filter not in name:
        return
    run.cases += 1
    try:
        fn()
    except Wrong as w:
        run.report("WRONG", name, str(w))
        return
    except Unclear as w:
        run.report("UNCLEAR", name, str(w))
        return
    except Exception as e:  # noqa: BLE001
        tb = traceback.extract_tb(e.__traceback__)
        where = f" @ {tb[-1].filename.split('kronvec/')[-1]}:{tb[-1].lineno}" if tb else ""
        if isinstance(e, (TypeError, ValueError, NotImplementedError, np.linalg.LinAlgError)) and clear_refusal(e):
            run.report("REFUSED", name, short(e))
            return
        cat = "UNCLEAR" if isinstance(e, (TypeError, ValueError)) else "CRASH"
        run.report(cat, name, short(e) + where)


def point(shape, lo=0.08, spread=0.06, avoid=(-0.5, 0.5, 0.0)):
    """random point with entries in [-1.2, 1.2] that are distinct (sort/max/argmax
    decisions are stable), away from 0 and ±0.5 (where/clip/abs kinks)."""
    while True:
        X = rng.uniform(-1.2, 1.2, size=shape)
        v = np.sort(X.ravel())
        if X.size > 1 and np.min(np.diff(v)) < spread / max(1, X.size // 3):
            continue
        if all(np.min(np.abs(X - a)) > lo for a in avoid):
            return X


# ---------------------------------------------------------------- functions under test
W3 = rng.uniform(-1.0, 1.0, size=(3, 3))
W6 = rng.uniform(-1.0, 1.0, size=(6, 3))
IDX = np.array([0, 0, 2, 1, 2])
for _constant in (W3, W6, IDX):  # read-only: no case can change what a later run sees
    _constant.flags.writeable = False
del _constant
_RNG_START = rng.bit_generator.state


def f_index_repeat(X):
    return np.sum(X[IDX] ** 2 * W6[:5]) + np.sum(X[IDX, IDX] ** 3) + np.sum(X[:, [1, 1]] * X[:, [0, 2]])


def f_assign_zeros_like(X):
    Y = np.zeros_like(X)
    Y[0] = X[1] ** 2
    Y[1:, :2] = np.sin(X[:2, 1:])
    Y[2, 2] = X[0, 0] * X[2, 2]
    return np.sum(Y * W3) + np.sum(Y ** 2)


def f_iadd(X):
    Y = X.copy()
    Y += X ** 2
    Y[0] *= X[1]
    Y -= np.exp(X) * 0.5
    return np.sum(Y ** 3 * W3)


def f_iadd_input(X):
    X += X ** 2  # writes into the (traced) argument
    X[1] *= 2.0
    return np.sum(X ** 2 * W3)


def f_where(X):
    return np.sum(np.where(X > 0, X ** 3, np.sin(X)) * W3)


def f_select(X):
    return np.sum(np.select([X > 0.5, X < -0.5], [X ** 2, X ** 3], np.exp(X)) * W3)


def f_sort(X):
    return np.sum(np.sort(X, axis=0) ** 3 * W3) + np.sum(np.sort(X.ravel())[:4] ** 2)


def f_argsort_gather(X):
    p = np.argsort(X[:, 0])
    return np.sum(X[p] ** 2 * W3)


def f_max(X):
    return np.sum(np.max(X, axis=0) ** 2) + np.max(X) * np.min(X) + np.sum(np.maximum(X, X.T) ** 2 * W3)


def f_argmax_take(X):
    i = np.argmax(X, axis=0)
    return np.sum(np.take_along_axis(X, i[None, :], axis=0) ** 3)


def f_concat(X):
    Z = np.concatenate([X, X ** 2, X[:1] * X[2:]], axis=0)
    return np.sum(Z ** 2 * np.concatenate([W3, W3, W3[:1]]))


def f_stack(X):
    return np.sum(np.stack([X, X.T @ X]) ** 2) + np.sum(np.hstack([X[:, :1], X ** 3]) * X[:, [0, 1, 2, 0]])


def f_einsum(X):
    return (np.einsum("ij,ij,jk->", X, X, X) + np.einsum("ii->", X @ X) + np.einsum("ij,jk,ki->", X, X, X)
            + np.sum(np.einsum("ij,kj->ik", X, X) * W3))


def f_tensordot(X):
    return np.sum(np.tensordot(X, X, axes=([1], [0])) * W3) + np.sum((X @ X.T @ X) ** 2) + np.sum(np.matmul(X, X[:, :1]) ** 2)


def f_cumsum(X):
    return np.sum(np.cumsum(X ** 2, axis=0) * W3) + np.sum(np.cumprod(X + 2.0, axis=1) * W3) + np.sum(np.cumsum(X) ** 2)


def f_clip(X):
    return np.sum(np.clip(X, -0.5, 0.5) ** 2 * W3) + np.sum(X * np.clip(X ** 3, -0.2, 0.3))


def f_abs(X):
    return np.sum(np.abs(X) ** 3 * W3) + np.sum(np.abs(X * X.T - 0.01))


def f_norm(X):
    return np.linalg.norm(X) ** 3 + np.sum(np.linalg.norm(X, axis=0) * np.array([1.0, 2.0, -1.0])) + np.linalg.norm(X[0], 3)


def f_ufuncs(X):
    return np.sum(np.tanh(X) * np.exp(X) * W3) + np.sum(np.log1p(X ** 2)) + np.sum(np.arctan2(X, X.T + 3.0) ** 2)


def f_reduce(X):
    return np.prod(X[0] + 2.0) + np.sum(np.mean(X, axis=1) ** 2) + np.var(X) * np.std(X, axis=0).sum()


def f_median(X):
    return np.sum(np.median(X, axis=0) ** 2) + np.percentile(X, 30) ** 3


def f_addat(X):
    Y = np.zeros_like(X)
    np.add.at(Y, ([0, 0, 1], [1, 1, 2]), X[0] ** 2)
    return np.sum((Y + X) ** 2 * W3)


def f_setitem_repeat(X):
    Y = np.ones_like(X)
    Y[[0, 0, 2], [1, 1, 0]] = X[1] ** 2 * np.array([1.0, 3.0, 2.0])  # last write wins
    return np.sum(Y * X * W3)


def f_logsumexp(X):
    m = np.max(X, axis=1, keepdims=True)
    return np.sum(m[:, 0] + np.log(np.sum(np.exp(X - m), axis=1)))


def f_maximum_min(X):
    return np.sum(np.minimum(np.maximum(X, -0.5), X ** 2) * W3)


def f_view_write(X):
    Y = X.copy()
    v = Y[:, 0]
    v *= X[:, 1]  # a write through a basic view reaches Y
    Y[1] += v
    return np.sum(Y ** 2 * W3)


def f_transpose_write(X):
    Y = X.copy()
    Y.T[0] = X[0] ** 2  # writes column 0 of Y
    Y[..., 2] *= np.cos(X[:, 0])
    return np.sum(Y ** 3 * W3)


def f_fill_diagonal(X):
    Y = X ** 2
    np.fill_diagonal(Y, np.sum(X, axis=0))
    return np.sum(Y * W3) + np.sum(np.diagonal(Y) ** 2)


def f_einsum_optimize(X):
    return np.einsum("ij,jk,kl,li->", X, X.T, X, X, optimize=True) + np.einsum("i,i->", X[0], X[0])


def f_products(X):
    return (np.dot(X[0], X[1]) * np.inner(X[2], X[0]) + np.sum(np.outer(X[0], X[1]) * W3)
            + np.sum(np.tensordot(X, X, axes=0)[0, 1] * W3) + np.sum(np.matmul(np.stack([X, X.T]), X) ** 2))


def f_diag_write(X):
    Y = np.zeros_like(X)
    Y[np.diag_indices(3)] = X[0] ** 3
    Y[np.triu_indices(3, 1)] = X[1, :] * X[2, :]
    return np.sum(Y * W3) + np.sum(Y @ Y)


def f_mixed_kinks(X):
    return np.sum(np.abs(np.clip(X, -0.5, 0.5)) * np.maximum(X, X.T) * np.sort(X, axis=1))


SCALAR_FUNCS = {name[2:]: fn for name, fn in dict(globals()).items() if name.startswith("f_")}


# matrix-valued ones for jacobian/jvp/vjp
def F_where(X):
    return np.where(X > 0, X ** 2, X @ X) * W3


def F_sort(X):
    return np.sort(X ** 3, axis=1) + X


def F_concat_index(X):
    return np.concatenate([X[[0, 0, 2]] ** 2, np.cumsum(X, axis=1)], axis=0)


def F_assign(X):
    Y = np.zeros_like(X)
    Y[1:] = X[:2] * X[1:]
    Y[0] += np.clip(X[0], -0.5, 0.5)
    return Y


def F_einsum(X):
    return np.einsum("ij,jk,kl->il", X, X, X) + np.einsum("ij,ij->ij", X, np.abs(X))


def F_max(X):
    return np.maximum(X, 0.2) * np.max(X, axis=0, keepdims=True) + np.linalg.norm(X, axis=1, keepdims=True)


MATRIX_FUNCS = {name[2:]: fn for name, fn in dict(globals()).items() if name.startswith("F_")}


# ---------------------------------------------------------------- nested checks (scalar f)
def nested_checks(name, f):
    X = point((3, 3))
    V = rng.standard_normal((3, 3))
    g = kronvec.grad(f)

    def c_grad():
        check_close("grad vs FD", g(X.copy()), fd_grad(f, X))

    def c_grad_of_grad():
        s = lambda Y: np.sum(kronvec.grad(f)(Y) ** 2)  # noqa: E731
        check_close("grad(sum grad²) vs FD", kronvec.grad(s)(X.copy()), fd_grad(s, X))

    def c_value_and_grad_of_vag():
        s = lambda Y: kronvec.value_and_grad(f)(Y)[0] * np.sum(kronvec.value_and_grad(f)(Y)[1] * W3)  # noqa: E731
        v, G = kronvec.value_and_grad(s)(X.copy())
        check_close("value", v, s(X))
        check_close("value_and_grad nested vs FD", G, fd_grad(s, X))

    def c_hessian():
        H = kronvec.hessian(f)(X.copy()).toarray()
        Hfd = fd_jac(g, X)
        check_close("hessian vs FD of grad", H, Hfd, rtol=5e-5)
        J = kronvec.jacobian(g)(X.copy()).toarray()
        check_close("jacobian(grad) vs hessian", J, H, rtol=1e-10, atol=1e-10)
        hv = kronvec.hvp(f)(X.copy(), V)
        check_close("hvp vs H·v", vec(hv), H @ vec(V), rtol=1e-10, atol=1e-10)

    def c_jvp_of_vjp():
        # d/dX [vjp(f)(X)(1)] along V = H V
        inner = lambda Y: kronvec.vjp(f, Y)[1](1.0)[0]  # noqa: E731
        _, t = kronvec.jvp(inner, (X.copy(),), (V,))
        check_close("jvp of vjp vs FD", t, fd_dir(g, X, V))

    def c_vjp_of_jvp():
        inner = lambda Y: kronvec.jvp(f, (Y,), (V,))[1]  # noqa: E731
        out, pb = kronvec.vjp(inner, X.copy())
        check_close("jvp value vs FD", out, np.sum(g(X) * V))
        (ct,) = pb(1.0)
        check_close("vjp of jvp vs FD", ct, fd_grad(inner, X))

    def c_grad_of_jvp():
        inner = lambda Y: kronvec.jvp(f, (Y,), (V,))[1]  # noqa: E731
        check_close("grad of jvp vs hvp", kronvec.grad(inner)(X.copy()), fd_dir(g, X, V))

    def c_hvp_of_hvp_third():
        # third order: d/dX <hvp(X, V), W>
        s = lambda Y: np.sum(kronvec.hvp(f)(Y, V) * W3)  # noqa: E731
        check_close("grad of hvp vs FD", kronvec.grad(s)(X.copy()), fd_grad(s, X), rtol=1e-4)

    for label, c in [("grad", c_grad), ("grad∘grad", c_grad_of_grad), ("vag∘vag", c_value_and_grad_of_vag),
                     ("hessian", c_hessian), ("jvp∘vjp", c_jvp_of_vjp), ("vjp∘jvp", c_vjp_of_jvp),
                     ("grad∘jvp", c_grad_of_jvp), ("grad∘hvp", c_hvp_of_hvp_third)]:
        run_case(f"nested/{name}/{label}", c)


def matrix_checks(name, F):
    X = point((3, 3))
    V = rng.standard_normal((3, 3))
    C = rng.standard_normal(np.shape(F(X)))

    def c_jac():
        J = kronvec.jacobian(F)(X.copy())
        Jd = J.toarray()
        check_close("jacobian vs FD", Jd, fd_jac(F, X))
        check_close("matvec", J.matvec(vec(V)), Jd @ vec(V), rtol=1e-12, atol=1e-12)
        check_close("rmatvec", J.rmatvec(vec(C)), Jd.T @ vec(C), rtol=1e-12, atol=1e-12)

    def c_adjoint():
        _, t = kronvec.jvp(F, (X.copy(),), (V,))
        _, pb = kronvec.vjp(F, X.copy())
        (ct,) = pb(C)
        a, b = np.sum(t * C), np.sum(ct * V)
        if abs(a - b) > 1e-10 * max(1, abs(a)):
            raise Wrong(f"dot test <Jv,c>={a} <v,J'c>={b}")

    def c_jac_of_vjp():
        # X ↦ Jᵀ(X) c : its Jacobian is symmetric-less; check vs FD
        inner = lambda Y: kronvec.vjp(F, Y)[1](C)[0]  # noqa: E731
        J = kronvec.jacobian(inner)(X.copy()).toarray()
        check_close("jacobian of vjp vs FD", J, fd_jac(inner, X))

    def c_jvp_of_jvp():
        V2 = rng.standard_normal((3, 3))
        inner = lambda Y: kronvec.jvp(F, (Y,), (V,))[1]  # noqa: E731
        _, t = kronvec.jvp(inner, (X.copy(),), (V2,))
        check_close("jvp of jvp vs FD", t, fd_dir(inner, X, V2))

    def c_vjp_of_jvp():
        inner = lambda Y: kronvec.jvp(F, (Y,), (V,))[1]  # noqa: E731
        _, pb = kronvec.vjp(inner, X.copy())
        (ct,) = pb(C)
        check_close("vjp of jvp vs FD", ct, fd_grad(lambda Y: np.sum(inner(Y) * C), X))

    def c_grad_through_nested_jacobian():
        s = lambda Y: np.sum(kronvec.jacobian(F)(Y).matvec(vec(V)) ** 2)  # noqa: E731
        check_close("grad of |J v|² vs FD", kronvec.grad(s)(X.copy()), fd_grad(s, X))

    def c_grad_of_jac_toarray():
        s = lambda Y: np.sum(kronvec.jacobian(F)(Y).toarray() * np.outer(vec(C), vec(V)))  # noqa: E731
        check_close("grad of <J, c vᵀ> vs FD", kronvec.grad(s)(X.copy()), fd_grad(s, X))

    for label, c in [("jac", c_jac), ("adjoint", c_adjoint), ("jac∘vjp", c_jac_of_vjp), ("jvp∘jvp", c_jvp_of_jvp),
                     ("vjp∘jvp", c_vjp_of_jvp), ("grad∘jac.matvec", c_grad_through_nested_jacobian),
                     ("grad∘jac.toarray", c_grad_of_jac_toarray)]:
        run_case(f"matrix/{name}/{label}", c)


# ---------------------------------------------------------------- perturbation confusion
def confusion_checks():
    def classic():
        # d/dx [x · d/dy (x + y)|_{y=1}] at x=1 is 1
        got = kronvec.grad(lambda x: x * kronvec.grad(lambda y: x + y)(1.0))(1.0)
        check_close("classic", got, 1.0, rtol=0, atol=1e-14)

    def classic_at_x():
        # inner evaluated at the outer traced x: d/dx [x · d/dy (x·y)|_{y=x}] = d/dx x² = 2x
        got = kronvec.grad(lambda x: x * kronvec.grad(lambda y: x * y)(x))(3.0)
        check_close("at x", got, 6.0, rtol=0, atol=1e-13)

    def matrix_version():
        X0 = point((3, 3))
        Y0 = point((3, 3))
        # inner grad wrt Y of <X, Y²> is 2 X∘Y ; outer s(X) = <X, 2 X∘Y0> → grad 4 X∘Y0
        s = lambda X: np.sum(X * kronvec.grad(lambda Y: np.sum(X * Y ** 2))(Y0))  # noqa: E731
        check_close("matrix", kronvec.grad(s)(X0), 4 * X0 * Y0, rtol=1e-12, atol=1e-12)

    def matrix_inner_at_outer():
        X0 = point((3, 3))
        # inner ∇_Y tr(X Y) = Xᵀ at Y = X ; s(X) = <X, Xᵀ>=tr(X X) ; ∇ = 2 Xᵀ
        s = lambda X: np.sum(X * kronvec.grad(lambda Y: np.trace(X @ Y))(X))  # noqa: E731
        check_close("matrix at outer", kronvec.grad(s)(X0), 2 * X0.T, rtol=1e-12, atol=1e-12)

    def jvp_closure():
        X0 = point((3, 3))
        V = rng.standard_normal((3, 3))
        # inner jvp wrt Y of X@Y along V = X@V ; s(X) = sum((X@V)²)
        s = lambda X: np.sum(kronvec.jvp(lambda Y: X @ Y, (X,), (V,))[1] ** 2)  # noqa: E731
        check_close("jvp closure", kronvec.grad(s)(X0), fd_grad(s, X0))

    def vjp_closure():
        X0 = point((3, 3))
        s = lambda X: np.sum(kronvec.vjp(lambda Y: np.sin(X * Y), X)[1](X)[0])  # noqa: E731
        check_close("vjp closure", kronvec.grad(s)(X0), fd_grad(s, X0))

    def jacobian_closure():
        X0 = point((3, 3))
        s = lambda X: np.sum(kronvec.jacobian(lambda Y: np.where(Y > 0, X * Y, Y ** 2))(X).toarray() ** 2)  # noqa: E731
        check_close("jacobian closure", kronvec.grad(s)(X0), fd_grad(s, X0))

    def hessian_closure():
        X0 = point((2, 2))
        s = lambda X: np.sum(kronvec.hessian(lambda Y: np.sum(X * Y ** 3))(X).toarray())  # noqa: E731
        check_close("hessian closure", kronvec.grad(s)(X0), fd_grad(s, X0))

    def hvp_closure():
        X0 = point((3, 3))
        V = rng.standard_normal((3, 3))
        s = lambda X: np.sum(kronvec.hvp(lambda Y: np.sum(np.sort(X * Y, axis=0) ** 3))(X, V))  # noqa: E731
        check_close("hvp closure", kronvec.grad(s)(X0), fd_grad(s, X0))

    def same_function_twice():
        X0 = point((3, 3))
        g = kronvec.grad(f_where)
        s = lambda X: np.sum(g(X) * g(2.0 * X))  # noqa: E731
        check_close("same g twice", kronvec.grad(s)(X0), fd_grad(s, X0))

    def jacobian_of_grad_closure():
        X0 = point((3, 3))
        F = lambda X: kronvec.grad(lambda Y: np.sum(np.abs(X - Y) ** 3))(X * 0.5)  # noqa: E731
        check_close("jac(grad closure)", kronvec.jacobian(F)(X0).toarray(), fd_jac(F, X0))

    def argnums_two():
        X0, Y0 = point((3, 3)), point((3, 3))
        h = lambda X, Y: np.sum(np.maximum(X, Y) ** 2 * W3)  # noqa: E731
        s = lambda X: np.sum(kronvec.grad(h, argnums=(0, 1))(X, Y0)[1] * X)  # noqa: E731
        check_close("argnums tuple nested", kronvec.grad(s)(X0), fd_grad(s, X0))

    def grad_wrt_closure_in_compiled_inner():
        X0 = point((3, 3))
        s = lambda X: np.sum(kronvec.grad(lambda Y: np.sum(np.sort(X * Y, axis=None) * np.arange(9.0)), compile=True)(X0 + 1.0))  # noqa: E731
        check_close("compiled inner closure", kronvec.grad(s)(X0), fd_grad(s, X0))

    def triple_nest():
        # d/dx d/dy d/dz (x y z²) at (1,2,3): d/dz = 2xyz, d/dy = 2xz, d/dx = 2z = 6
        got = kronvec.grad(lambda x: kronvec.grad(lambda y: kronvec.grad(lambda z: x * y * z ** 2)(3.0))(2.0))(1.0)
        check_close("triple", got, 6.0, rtol=0, atol=1e-13)

    def triple_confusion():
        # d/dx [ x · d/dy [ y · d/dz (x + y + z) ] ] = d/dx [x · d/dy y] = 1
        got = kronvec.grad(lambda x: x * kronvec.grad(lambda y: y * kronvec.grad(lambda z: x + y + z)(1.0))(1.0))(1.0)
        check_close("triple confusion", got, 1.0, rtol=0, atol=1e-14)

    def jvp_confusion():
        # forward version: d/dx [x · d/dy (x + y)] via jvp in both
        def outer(x):
            return x * kronvec.jvp(lambda y: x + y, (1.0,), (1.0,))[1]
        _, t = kronvec.jvp(outer, (1.0,), (1.0,))
        check_close("jvp classic", t, 1.0, rtol=0, atol=1e-14)

    def jvp_in_grad_confusion():
        def outer(x):
            return x * kronvec.jvp(lambda y: x * y, (x,), (1.0,))[1]  # = x·x
        check_close("jvp-in-grad", kronvec.grad(outer)(3.0), 6.0, rtol=0, atol=1e-13)

    for label, c in [("classic", classic), ("classic_at_x", classic_at_x), ("matrix", matrix_version),
                     ("matrix_inner_at_outer", matrix_inner_at_outer), ("jvp_closure", jvp_closure),
                     ("vjp_closure", vjp_closure), ("jacobian_closure", jacobian_closure),
                     ("hessian_closure", hessian_closure), ("hvp_closure", hvp_closure),
                     ("same_function_twice", same_function_twice), ("jacobian_of_grad_closure", jacobian_of_grad_closure),
                     ("argnums_two", argnums_two), ("compiled_inner_closure", grad_wrt_closure_in_compiled_inner),
                     ("triple_nest", triple_nest), ("triple_confusion", triple_confusion),
                     ("jvp_confusion", jvp_confusion), ("jvp_in_grad_confusion", jvp_in_grad_confusion)]:
        run_case(f"confusion/{label}", c)


# ---------------------------------------------------------------- compile / replay
def compile_checks(name, f, npoints=4):
    pts = [point((3, 3)) for _ in range(npoints)]
    V = rng.standard_normal((3, 3))

    def c_grad():
        cg, ug = kronvec.value_and_grad(f, compile=True), kronvec.value_and_grad(f)
        for k, P in enumerate(pts):
            vc, gc = cg(P.copy())
            vu, gu = ug(P.copy())
            check_close(f"compiled value at point {k}", vc, f(P.copy()), rtol=1e-12, atol=1e-12)
            check_close(f"compiled grad at point {k} vs FD", gc, fd_grad(f, P))
            same(f"compiled vs uncompiled grad at point {k}", gc, gu)
        for k in range(20):  # past the fusion threshold (16 replays)
            P = pts[k % len(pts)]
            check_close(f"replay {k}", cg(P.copy())[1], ug(P.copy())[1], rtol=1e-13, atol=1e-14)

    def c_hvp():
        ch, uh = kronvec.hvp(f, compile=True), kronvec.hvp(f)
        g = kronvec.grad(f)
        for k, P in enumerate(pts):
            hc = ch(P.copy(), V)
            check_close(f"compiled hvp at point {k} vs FD of grad", hc, fd_dir(g, P, V))
            same(f"compiled vs uncompiled hvp at point {k}", hc, uh(P.copy(), V))

    def c_grad_of_grad_compiled():
        s = lambda Y: np.sum(kronvec.grad(f)(Y) ** 2)  # noqa: E731
        cs = kronvec.grad(s, compile=True)
        for k, P in enumerate(pts):
            check_close(f"compiled grad∘grad at point {k} vs FD", cs(P.copy()), fd_grad(s, P))

    def c_inner_compiled_in_jacobian():
        # hessian as jacobian of a compiled gradient: the inner call is traced
        cg = kronvec.grad(f, compile=True)
        cg(pts[0].copy())  # record at the first point
        g = kronvec.grad(f)
        for k, P in enumerate(pts[1:]):
            check_close(f"jacobian(compiled grad) at point {k}", kronvec.jacobian(cg)(P.copy()).toarray(), fd_jac(g, P), rtol=5e-5)

    for label, c in [("grad", c_grad), ("hvp", c_hvp), ("grad∘grad", c_grad_of_grad_compiled),
                     ("jacobian∘compiled-grad", c_inner_compiled_in_jacobian)]:
        run_case(f"compile/{name}/{label}", c)


def compile_matrix_checks(name, F, npoints=3):
    pts = [point((3, 3)) for _ in range(npoints)]

    def c_jac():
        cj, uj = kronvec.jacobian(F, compile=True), kronvec.jacobian(F)
        for k, P in enumerate(pts):
            Jc = cj(P.copy())
            check_close(f"compiled jacobian at point {k} vs FD", Jc.toarray(), fd_jac(F, P))
            same(f"compiled vs uncompiled jacobian at point {k}", Jc.toarray(), uj(P.copy()).toarray())
        for k in range(20):
            P = pts[k % len(pts)]
            check_close(f"replay {k}", cj(P.copy()).toarray(), uj(P.copy()).toarray(), rtol=1e-13, atol=1e-14)

    run_case(f"compile-matrix/{name}/jacobian", c_jac)


def targeted_compile_checks():
    """Replays at points chosen so that a decision differs from the recorded one."""

    def branch(label, f, P_record, P_new, modes=("grad", "hvp")):
        V = np.linspace(-1, 1, np.size(P_record)).reshape(np.shape(P_record))
        for mode in modes:
            def c(mode=mode):
                if mode == "grad":
                    cg = kronvec.grad(f, compile=True)
                    cg(np.array(P_record))
                    got = cg(np.array(P_new))
                    want_fd = fd_grad(f, np.array(P_new))
                    check_close("replay at new decision vs FD", got, want_fd)
                    same("replay vs uncompiled", got, kronvec.grad(f)(np.array(P_new)))
                elif mode == "hvp":
                    ch = kronvec.hvp(f, compile=True)
                    ch(np.array(P_record), V)
                    got = ch(np.array(P_new), V)
                    check_close("hvp replay at new decision vs FD", got, fd_dir(kronvec.grad(f), np.array(P_new), V))
                elif mode == "jacobian":
                    cj = kronvec.jacobian(f, compile=True)
                    cj(np.array(P_record))
                    got = cj(np.array(P_new)).toarray()
                    check_close("jacobian replay at new decision vs FD", got, fd_jac(f, np.array(P_new)))
            run_case(f"branch/{label}/{mode}", c)

    pos = np.array([[0.3, 0.7, 1.1], [0.9, 0.2, 0.6], [1.3, 0.4, 0.8]])
    mixed = np.array([[0.3, -0.7, 1.1], [-0.9, 0.2, -0.6], [1.3, 0.4, -0.8]])
    branch("where mask flips", lambda X: np.sum(np.where(X > 0, X ** 3, np.sin(X)) * W3), pos, mixed)
    branch("where mask flips (matrix)", lambda X: np.where(X > 0, X ** 2, -X ** 3), pos, mixed, modes=("jacobian",))
    branch("boolean mask multiply", lambda X: np.sum((X > 0) * X ** 3 + (X <= 0) * X ** 2), pos, mixed)
    branch("argmax take_along_axis", f_argmax_take, pos, pos[::-1].copy())
    branch("argsort gather", f_argsort_gather, pos, pos[::-1].copy())
    branch("sort permutation", lambda X: np.sum(np.sort(X, axis=None) ** 3 * np.arange(9.0)), pos, mixed)
    branch("sort permutation (matrix)", lambda X: np.sort(X, axis=1) ** 2, pos, mixed, modes=("jacobian",))
    branch("max argmax changes", lambda X: np.max(X) ** 3 + np.sum(np.max(X, axis=1) ** 2), pos, mixed)
    branch("max tie at replay", lambda X: np.sum(np.max(X, axis=1) * np.array([1.0, 2.0, 3.0])), pos,
           np.array([[0.7, 0.7, 0.1], [0.2, 0.9, 0.9], [1.3, 0.4, 0.8]]), modes=("grad",))
    branch("clip bounds crossed", lambda X: np.sum(np.clip(X, -0.5, 0.5) ** 2 * W3), pos * 0.3, mixed)
    branch("clip array bounds crossed", lambda X: np.sum(np.clip(X, X.T - 0.1, 0.5 + X.T ** 2) ** 3), pos * 0.3, mixed)
    branch("abs sign flips", lambda X: np.sum(np.abs(X) ** 3 * W3) + np.sum(np.abs(X)), pos, mixed)
    branch("maximum branch", lambda X: np.sum(np.maximum(X, 0.5) ** 2 * W3), pos, mixed)
    branch("maximum two traced", lambda X: np.sum(np.maximum(X, X.T) ** 3), pos, mixed)
    branch("select", f_select, pos, mixed)
    branch("median order", lambda X: np.sum(np.median(X, axis=1) ** 3), pos, mixed)
    branch("norm", lambda X: np.linalg.norm(X - pos) ** 3, pos + 0.3, mixed)
    branch("cumprod sign", lambda X: np.sum(np.cumprod(X, axis=0) * W3), pos, mixed)
    branch("relu via X*(X>0)", lambda X: np.sum((X * (X > 0)) ** 2 * W3), pos, mixed)
    branch("where mask from other arg", lambda X: np.sum(np.where(X @ X.T > 0.5, X @ X, X) * W3), pos, mixed)
    branch("logsumexp", f_logsumexp, pos, mixed)
    branch("piecewise setitem mask", _setitem_mask, pos, mixed)
    branch("sign multiply", lambda X: np.sum(np.sign(X) * X ** 2 * W3), pos, mixed)
    branch("floor", lambda X: np.sum(np.floor(3 * X) * X ** 2), pos, mixed)
    branch("argmin index", lambda X: np.sum(X[np.argmin(X, axis=0), np.arange(3)] ** 2), pos, mixed)
    branch("minimum.accumulate", lambda X: np.sum(np.minimum.accumulate(X, axis=1) ** 2 * W3), pos, mixed)
    branch("fmax/fmin", lambda X: np.sum(np.fmax(X, 0.1) * np.fmin(X, 0.6) * W3), pos, mixed)
    branch("heaviside times", lambda X: np.sum(np.heaviside(X, 0.5) * X ** 3), pos, mixed)
    branch("nonzero in sum", lambda X: np.sum(X[np.nonzero(X > 0)] ** 2), pos, mixed)
    branch("putmask", _putmask, pos, mixed)
    branch("copyto where", _copyto_where, pos, mixed)
    branch("quantile", lambda X: np.quantile(X, 0.37) ** 3 + np.sum(np.percentile(X, [10, 80], axis=0) ** 2), pos, mixed)
    branch("partition", lambda X: np.sum(np.partition(X.ravel(), 4)[:5] ** 2), pos, mixed)
    branch("ptp", lambda X: np.sum(np.ptp(X, axis=0) ** 3), pos, mixed)
    branch("maximum.reduce", lambda X: np.sum(np.maximum.reduce(X, axis=0) ** 3), pos, mixed)


def _setitem_mask(X):
    Y = X.copy()
    Y[X < 0] = 0.0  # boolean mask write
    return np.sum(Y ** 2 * W3)


def _putmask(X):
    Y = X ** 2
    np.putmask(Y, X < 0, X ** 3)
    return np.sum(Y * W3)


def _copyto_where(X):
    Y = np.zeros_like(X)
    np.copyto(Y, X ** 3, where=X > 0)
    return np.sum(Y * W3)


def shape_dtype_checks():
    def c_shape():
        f = lambda X: np.sum(np.sort(X, axis=0) ** 3) + np.sum(np.where(X > 0, X, X ** 2))  # noqa: E731
        cg = kronvec.grad(f, compile=True)
        for shape in [(3, 3), (2, 4), (3, 3), (5,), (1, 1), (2, 2, 2), (3, 3)]:
            P = point(shape)
            check_close(f"shape {shape}", cg(P), fd_grad(f, P))

    def c_dtype():
        f = lambda X: np.sum(np.sort(X, axis=0) ** 3) + np.sum(np.tanh(X) * W3)  # noqa: E731
        cg = kronvec.grad(f, compile=True)
        P = point((3, 3))
        g64 = cg(P)
        g32 = cg(P.astype(np.float32))
        if g32.dtype != np.float32:
            raise Wrong(f"float32 replay returned {g32.dtype}")
        check_close("float32", g32, kronvec.grad(f)(P.astype(np.float32)), rtol=1e-6, atol=1e-6)
        g64b = cg(P)
        same("float64 after float32", g64b, g64)
        gi = cg(np.array([[1, -2, 3], [0, 2, 1], [4, -1, 2]]))
        check_close("int input", gi, kronvec.grad(f)(np.array([[1, -2, 3], [0, 2, 1], [4, -1, 2]], dtype=float)))

    def c_dtype_hvp():
        f = lambda X: np.sum(np.abs(X) ** 3 * W3)  # noqa: E731
        ch = kronvec.hvp(f, compile=True)
        P, V = point((3, 3)), rng.standard_normal((3, 3))
        h64 = ch(P, V)
        h32 = ch(P.astype(np.float32), V.astype(np.float32))
        if h32.dtype != np.float32:
            raise Wrong(f"float32 hvp replay returned {h32.dtype}")
        check_close("float32 hvp", h32, h64, rtol=1e-4, atol=1e-4)
        same("float64 hvp again", ch(P, V), h64)

    def c_static_argument():
        f = lambda X, k: np.sum(np.sort(X, axis=k) ** 3 * W3)  # noqa: E731
        cg = kronvec.grad(f, compile=True)
        P = point((3, 3))
        for k in (0, 1, 0, -1):
            check_close(f"axis {k}", cg(P, k), fd_grad(lambda Y: f(Y, k), P))

    def c_constant_array_arg():
        f = lambda X, M: np.sum(np.where(M > 0, X ** 2, X ** 3))  # noqa: E731
        cg = kronvec.grad(f, compile=True)
        P = point((3, 3))
        for M in (np.ones((3, 3)), -np.ones((3, 3)), np.eye(3) - 0.5):
            check_close("mask arg", cg(P, M), fd_grad(lambda Y: f(Y, M), P))
        for M in (np.ones((3, 3), dtype=bool), np.eye(3, dtype=bool)):
            check_close("bool mask arg", cg(P, M), fd_grad(lambda Y: f(Y, M), P))

    def c_int_index_arg():
        f = lambda X, idx: np.sum(X[idx] ** 3)  # noqa: E731
        cg = kronvec.grad(f, compile=True)
        P = point((3, 3))
        for idx in (np.array([0, 0, 1]), np.array([2, 1, 2]), np.array([1])):
            check_close(f"index arg {idx}", cg(P, idx), fd_grad(lambda Y: f(Y, idx), P))

    def c_closure_mutation():
        M = np.ones((3, 3))
        f = lambda X: np.sum(M * X ** 2)  # noqa: E731
        cg = kronvec.grad(f, compile=True)
        P = point((3, 3))
        g1 = cg(P)
        M[:] = 5.0  # documented: arrays closed over are captured at the first call
        g2 = cg(P)
        same("captured closure", g2, g1)

    def c_jacobian_shape():
        F = lambda X: np.sort(X, axis=-1) * np.concatenate([X[..., :1], X[..., 1:] ** 2], axis=-1)  # noqa: E731
        cj = kronvec.jacobian(F, compile=True)
        for shape in [(3, 3), (2, 4), (4,), (3, 3)]:
            P = point(shape)
            check_close(f"jacobian shape {shape}", cj(P).toarray(), fd_jac(F, P))

    def c_second_arg_compiled():
        f = lambda A, X: np.sum(np.maximum(A @ X, 0.1) ** 2)  # noqa: E731
        cg = kronvec.grad(f, argnums=(0, 1), compile=True)
        for _ in range(3):
            A, X = point((3, 3)), point((3, 2))
            ga, gx = cg(A, X)
            check_close("argnums (0,1) A", ga, fd_grad(lambda Y: f(Y, X), A))
            check_close("argnums (0,1) X", gx, fd_grad(lambda Y: f(A, Y), X))

    def c_hvp_argnum1():
        f = lambda C, X: np.sum(np.sort(C * X, axis=0) ** 3)  # noqa: E731
        ch = kronvec.hvp(f, argnums=1, compile=True)
        for _ in range(3):
            C, X, V = point((3, 3)), point((3, 3)), rng.standard_normal((3, 3))
            check_close("hvp argnum 1", ch(C, X, V), fd_dir(lambda Y: kronvec.grad(f, argnums=1)(C, Y), X, V))

    for label, c in [("shape", c_shape), ("dtype", c_dtype), ("dtype_hvp", c_dtype_hvp),
                     ("static_arg", c_static_argument), ("constant_array_arg", c_constant_array_arg),
                     ("int_index_arg", c_int_index_arg), ("closure_mutation", c_closure_mutation),
                     ("jacobian_shape", c_jacobian_shape), ("argnums_tuple", c_second_arg_compiled),
                     ("hvp_argnum1", c_hvp_argnum1)]:
        run_case(f"shape-dtype/{label}", c)


def thread_checks():
    def two_threads(label, make, f, ptsets, ref):
        def c():
            compiled = make(f)
            barrier = threading.Barrier(2)
            errors, results = [], {}

            def work(t):
                try:
                    barrier.wait()
                    for r in range(12):
                        for k, args in enumerate(ptsets[t]):
                            results[(t, r, k)] = compiled(*[a.copy() for a in args])
                except Exception as e:  # noqa: BLE001
                    errors.append(e)
            ts = [threading.Thread(target=work, args=(t,)) for t in range(2)]
            for th in ts:
                th.start()
            for th in ts:
                th.join()
            if errors:
                raise errors[0]
            for (t, r, k), got in results.items():
                want = ref(*ptsets[t][k])
                got = got.toarray() if hasattr(got, "toarray") else got
                want = want.toarray() if hasattr(want, "toarray") else want
                if isinstance(got, tuple):
                    for a, b in zip(got, want):
                        same(f"thread {t} round {r} point {k}", a, b)
                else:
                    same(f"thread {t} round {r} point {k}", got, want)
        run_case(f"threads/{label}", c)

    pts = [[(point((3, 3)),) for _ in range(3)] for _ in range(2)]
    V = rng.standard_normal((3, 3))
    for name in ("where", "sort", "max", "clip", "abs", "einsum", "index_repeat", "iadd", "logsumexp"):
        f = SCALAR_FUNCS[name]
        two_threads(f"{name}/value_and_grad", lambda g: kronvec.value_and_grad(g, compile=True), f, pts,
                    kronvec.value_and_grad(f))
    hpts = [[(P, V) for (P,) in ps] for ps in pts]
    for name in ("where", "sort", "abs", "logsumexp"):
        f = SCALAR_FUNCS[name]
        two_threads(f"{name}/hvp", lambda g: kronvec.hvp(g, compile=True), f, hpts, kronvec.hvp(f))
    for name in ("where", "sort", "max"):
        F = MATRIX_FUNCS[name]
        two_threads(f"{name}/jacobian", lambda g: kronvec.jacobian(g, compile=True), F, pts, kronvec.jacobian(F))
    # two signatures at once (different shapes per thread), first call concurrent
    mixed_pts = [[(point((3, 3)),) for _ in range(2)], [(point((2, 4)),) for _ in range(2)]]
    two_threads("sort/two-shapes", lambda g: kronvec.grad(g, compile=True), f_sort_any, mixed_pts, kronvec.grad(f_sort_any))
    # uncompiled nested transformations from 2 threads at once
    nested = lambda X: kronvec.grad(lambda Y: np.sum(kronvec.grad(f_where)(Y) ** 2))(X)  # noqa: E731
    two_threads("nested grad∘grad uncompiled", lambda g: g, nested, pts, nested)


def f_sort_any(X):
    return np.sum(np.sort(X, axis=0) ** 3) + np.sum(np.where(X > 0, X, -X ** 2))


def tie_checks():
    """Ties at the point: first-order conventions under nesting and compile."""

    def c_max_tie_jvp_vjp():
        X = np.array([[1.0, 0.2, 1.0], [0.3, 0.4, 0.5], [0.1, 1.0, 0.0]])
        f = lambda X: np.max(X)  # noqa: E731
        g = kronvec.grad(f)(X)
        want = np.where(X == 1.0, 1.0 / 3.0, 0.0)
        check_close("max tie grad", g, want, rtol=0, atol=1e-15)
        _, t = kronvec.jvp(f, (X,), (np.ones_like(X),))
        check_close("max tie jvp of ones", t, 1.0, rtol=0, atol=1e-15)
        gc = kronvec.grad(f, compile=True)
        gc(np.arange(9.0).reshape(3, 3))
        check_close("max tie compiled", gc(X), want, rtol=0, atol=1e-15)

    def c_sort_tie_nested():
        X = np.array([[1.0, 2.0], [1.0, 0.5]])
        f = lambda X: np.sum(np.sort(X, axis=0) * np.array([[1.0, 2.0], [3.0, 4.0]]))  # noqa: E731
        g = kronvec.grad(f)(X)
        check_close("sort tie stable", g, np.array([[1.0, 4.0], [3.0, 2.0]]), rtol=0, atol=0)
        gc = kronvec.grad(f, compile=True)
        gc(np.array([[2.0, 0.0], [1.0, 3.0]]))
        check_close("sort tie compiled", gc(X), g, rtol=0, atol=0)

    def c_maximum_tie_compiled():
        f = lambda X: np.sum(np.maximum(X, X.T))  # noqa: E731
        X = np.array([[1.0, 2.0], [2.0, 0.5]])
        g = kronvec.grad(f)(X)
        check_close("maximum tie", g, np.ones((2, 2)), rtol=0, atol=0)  # ½+½ per tied pair, 1 on the diagonal
        gc = kronvec.grad(f, compile=True)
        gc(np.array([[1.0, 3.0], [0.0, 0.5]]))
        check_close("maximum tie compiled", gc(X), g, rtol=0, atol=0)

    def c_clip_at_bound():
        f = lambda X: np.sum(np.clip(X, -0.5, 0.5))  # noqa: E731
        X = np.array([0.5, -0.5, 0.1, 0.9])
        want = np.array([0.5, 0.5, 1.0, 0.0])
        check_close("clip at bound", kronvec.grad(f)(X), want, rtol=0, atol=0)
        gc = kronvec.grad(f, compile=True)
        gc(np.array([0.0, 0.0, 0.0, 0.0]))
        check_close("clip at bound compiled", gc(X), want, rtol=0, atol=0)

    def c_abs_zero_nested():
        f = lambda x: np.sum(np.abs(x) ** 2)  # noqa: E731
        x = np.array([0.0, 1.0, -2.0])
        # |x|'(0) = sign(0) = 0 (conventions §7) makes the Hessian of |x|² at 0 equal 0, as in JAX
        # and PyTorch: the documented kink convention, checked for consistency, not for 2
        want = kronvec.hessian(f)(x).toarray()
        check_close("hessian abs² at 0 (convention)", want, np.diag([0.0, 2.0, 2.0]), rtol=0, atol=1e-14)
        h = kronvec.hvp(f, compile=True)
        h(np.array([1.0, 1.0, 1.0]), np.ones(3))
        check_close("hvp abs² at 0 compiled = uncompiled", h(x, np.ones(3)), want @ np.ones(3), rtol=0, atol=1e-14)

    def c_norm_zero_nested():
        # ‖X‖² is smooth (Hessian 2I everywhere); ‖X‖ itself has no second derivative at 0.
        # Right or loud: 2I, or a clear refusal as hypot's at the origin -- never 0.
        f = lambda X: np.linalg.norm(X) ** 2  # noqa: E731
        X = np.zeros((2, 2))
        check_close("grad ‖0‖²", kronvec.grad(f)(X), 0 * X, rtol=0, atol=0)
        check_close("hessian ‖X‖² at 0", kronvec.hessian(f)(X).toarray(), 2 * np.eye(4), rtol=0, atol=1e-14)

    def c_norm_zero_hvp_compiled():
        f = lambda X: np.sum(np.linalg.norm(X, axis=0) ** 2)  # noqa: E731
        h = kronvec.hvp(f, compile=True)
        V = np.ones((2, 2))
        h(np.ones((2, 2)), V)
        X = np.array([[0.0, 1.0], [0.0, 2.0]])  # a zero column
        check_close("compiled hvp of Σ‖col‖² with a zero column", h(X, V), 2 * V, rtol=0, atol=1e-14)

    def c_norm_zero_grad_of_grad():
        s = lambda X: np.sum(kronvec.grad(lambda Y: np.linalg.norm(Y) ** 2)(X) * W3)  # noqa: E731
        check_close("grad∘grad ‖X‖² at 0", kronvec.grad(s)(np.zeros((3, 3))), 2 * W3, rtol=0, atol=1e-14)

    for label, c in [("max_tie", c_max_tie_jvp_vjp), ("sort_tie", c_sort_tie_nested),
                     ("maximum_tie", c_maximum_tie_compiled), ("clip_bound", c_clip_at_bound),
                     ("abs_zero_hessian", c_abs_zero_nested), ("norm_zero_hessian", c_norm_zero_nested),
                     ("norm_zero_hvp_compiled", c_norm_zero_hvp_compiled), ("norm_zero_grad_of_grad", c_norm_zero_grad_of_grad)]:
        run_case(f"ties/{label}", c)


# ---------------------------------------------------------------- compiled == uncompiled, outcomes
def _outcome(fn, *args):
    try:
        r = fn(*[np.array(a) for a in args])
        if hasattr(r, "toarray"):
            r = r.toarray()
        return r
    except Exception as e:  # noqa: BLE001
        return e


def _same_outcome(what, got, want):
    if isinstance(want, Exception) or isinstance(got, Exception):
        if type(got) is not type(want):
            raise Wrong(f"{what}: compiled gives {short(got) if isinstance(got, Exception) else 'a number'}, "
                        f"uncompiled {short(want) if isinstance(want, Exception) else 'a number'}")
        return
    if isinstance(want, tuple):
        for a, b in zip(got, want):
            same(what, a, b)
    else:
        same(what, got, want)


def outcome_checks():
    rec = np.array([[0.3, 0.7, 1.1], [0.9, 0.2, 0.6], [1.3, 0.4, 0.8]])
    edge_points = {
        "mixed": np.array([[0.3, -0.7, 1.1], [-0.9, 0.2, -0.6], [1.3, 0.4, -0.8]]),
        "zeros entries": np.array([[0.0, -0.7, 1.1], [-0.9, 0.0, -0.6], [1.3, 0.4, 0.0]]),
        "ties": np.array([[0.5, 0.5, 1.1], [0.5, 0.2, 0.2], [1.1, 0.4, 0.5]]),
        "zero column": np.array([[0.0, 0.7, 1.1], [0.0, 0.2, 0.6], [0.0, 0.4, 0.8]]),
        "constant rows": np.array([[0.3, 0.3, 0.3], [0.9, 0.9, 0.9], [-1.0, -1.0, -1.0]]),
        "all zero": np.zeros((3, 3)),
        "bound ties": np.array([[0.5, -0.5, 0.2], [-0.2, 0.5, 0.5], [-0.5, 0.0, 0.3]]),
    }
    funcs = {
        "safe log where": lambda X: np.sum(np.where(X > 0, np.log(np.where(X > 0, X, 1.0)), X) * W3),
        "sqrt where": lambda X: np.sum(np.where(X > 0, np.sqrt(np.abs(X)), X ** 2)),
        "column norms via sqrt": lambda X: np.sum(np.sqrt(np.sum(X ** 2, axis=0))),
        "column norms": lambda X: np.sum(np.linalg.norm(X, axis=0) * W3[0]),
        "frobenius": lambda X: np.linalg.norm(X),
        "std rows": lambda X: np.sum(np.std(X, axis=1) * W3[0]),
        "reciprocal": lambda X: np.sum(1.0 / (X + 0.0)),
        "abs": lambda X: np.sum(np.abs(X) * W3),
        "abs cubed": lambda X: np.sum(np.abs(X) ** 3 * W3),
        "relu": lambda X: np.sum(np.maximum(X, 0.0) * W3),
        "relu²": lambda X: np.sum(np.maximum(X, 0.0) ** 2 * W3),
        "max rows": lambda X: np.sum(np.max(X, axis=1) * W3[0]),
        "max all": lambda X: np.max(X) ** 2,
        "sort": lambda X: np.sum(np.sort(X, axis=None) * np.arange(9.0)),
        "sort²": lambda X: np.sum(np.sort(X, axis=0) ** 2 * W3),
        "median": lambda X: np.sum(np.median(X, axis=0) * W3[0]),
        "clip": lambda X: np.sum(np.clip(X, -0.5, 0.5) * W3),
        "clip²": lambda X: np.sum(np.clip(X, -0.5, 0.5) ** 2 * W3),
        "clip traced bounds": lambda X: np.sum(np.clip(X, X.T, 0.5)),
        "maximum two traced": lambda X: np.sum(np.maximum(X, X.T) * W3),
        "sign·x²": lambda X: np.sum(np.sign(X) * X ** 2),
        "where ==": lambda X: np.sum(np.where(X == 0.5, 0.0, X ** 2)),
        "power 0.5": lambda X: np.sum(np.abs(X) ** 0.5),
        "x**x (pos)": lambda X: np.sum(np.abs(X) ** 1.5 * np.exp(X)),
        "cumprod": lambda X: np.sum(np.cumprod(X, axis=1) * W3),
        "prod": lambda X: np.prod(X),
        "logsumexp": f_logsumexp,
        "log abs": lambda X: np.sum(np.log(np.abs(X) + 0.0)),
        "arctan2": lambda X: np.sum(np.arctan2(X, X.T)),
        "hypot": lambda X: np.sum(np.hypot(X, X.T)),
        "minimum.accumulate": lambda X: np.sum(np.minimum.accumulate(X, axis=0) * W3),
        "ptp": lambda X: np.sum(np.ptp(X, axis=1) * W3[0]),
        "amax keepdims minus": lambda X: np.sum((X - np.amax(X, axis=0, keepdims=True)) ** 2),
        "unique": lambda X: np.sum(np.unique(X) ** 2),
        "var": lambda X: np.var(X) + np.sum(np.var(X, axis=0)),
        "quantile": lambda X: np.quantile(X, 0.5) ** 2,
        "fmax nan-free": lambda X: np.sum(np.fmax(X, X.T) ** 2),
        "einsum abs": lambda X: np.einsum("ij,ji->", np.abs(X), X),
        "unsafe log where": lambda X: np.sum(np.where(X > 0, np.log(X), X)),
        "unsafe sqrt where": lambda X: np.sum(np.where(X > 0, np.sqrt(X), 0.0)),
        "divide where": lambda X: np.sum(np.where(X != 0, 1.0 / X, 0.0)),
    }
    V = np.linspace(-1.0, 1.0, 9).reshape(3, 3)
    modes = {
        "vag": (lambda f: kronvec.value_and_grad(f, compile=True), lambda f: kronvec.value_and_grad(f), ()),
        "hvp": (lambda f: kronvec.hvp(f, compile=True), lambda f: kronvec.hvp(f), (V,)),
        "grad∘grad": (lambda f: kronvec.grad(lambda Y: np.sum(kronvec.grad(f)(Y) * W3), compile=True),
                      lambda f: kronvec.grad(lambda Y: np.sum(kronvec.grad(f)(Y) * W3)), ()),
    }
    for fname, f in funcs.items():
        for mname, (make_c, make_u, extra) in modes.items():
            def c(f=f, make_c=make_c, make_u=make_u, extra=extra):
                cf, uf = make_c(f), make_u(f)
                first = _outcome(cf, rec, *extra)
                if isinstance(first, Exception):
                    raise first
                for pname, P in edge_points.items():
                    _same_outcome(f"at '{pname}'", _outcome(cf, P, *extra), _outcome(uf, P, *extra))
                _same_outcome("back at the recording point", _outcome(cf, rec, *extra), _outcome(uf, rec, *extra))
            run_case(f"outcome/{fname}/{mname}", c)

    # jacobian of matrix-valued versions
    jfuncs = {
        "relu": lambda X: np.maximum(X, 0.0) * X,
        "sort rows": lambda X: np.sort(X, axis=1),
        "clip": lambda X: np.clip(X, -0.5, 0.5) * X,
        "abs": lambda X: np.abs(X) @ X,
        "where": lambda X: np.where(X > 0, X, X ** 3),
        "norm rows": lambda X: X * np.linalg.norm(X, axis=1, keepdims=True),
        "max cols": lambda X: X - np.max(X, axis=0),
        "median": lambda X: X * np.median(X, axis=1, keepdims=True),
    }
    for fname, F in jfuncs.items():
        def c(F=F):
            cf, uf = kronvec.jacobian(F, compile=True), kronvec.jacobian(F)
            first = _outcome(cf, rec)
            if isinstance(first, Exception):
                raise first
            for pname, P in edge_points.items():
                _same_outcome(f"at '{pname}'", _outcome(cf, P), _outcome(uf, P))
        run_case(f"outcome/{fname}/jacobian", c)


def nested_compile_checks():
    P0, P1 = point((3, 3)), point((3, 3))
    V = rng.standard_normal((3, 3))

    def grad_calls_hvp():
        s = lambda X: np.sum(kronvec.hvp(f_sort)(X, V) * W3)  # noqa: E731
        cs = kronvec.grad(s, compile=True)
        cs(P0)
        check_close("compiled grad of hvp", cs(P1), fd_grad(s, P1), rtol=1e-4)

    def grad_calls_jvp():
        s = lambda X: np.sum(kronvec.jvp(F_where, (X,), (V,))[1] ** 2)  # noqa: E731
        cs = kronvec.grad(s, compile=True)
        cs(P0)
        check_close("compiled grad of jvp", cs(P1), fd_grad(s, P1))

    def jacobian_calls_vjp():
        F = lambda X: kronvec.vjp(F_sort, X)[1](W3)[0]  # noqa: E731
        cj = kronvec.jacobian(F, compile=True)
        cj(P0)
        check_close("compiled jacobian of vjp", cj(P1).toarray(), fd_jac(F, P1))

    def hvp_calls_grad():
        s = lambda X: np.sum(kronvec.grad(f_clip)(X) * np.sin(X))  # noqa: E731
        ch = kronvec.hvp(s, compile=True)
        ch(P0, V)
        check_close("compiled hvp of a grad", ch(P1, V), fd_dir(kronvec.grad(s), P1, V), rtol=1e-4)

    def vag_calls_jacobian():
        s = lambda X: np.sum(kronvec.jacobian(F_max)(X).toarray() ** 2)  # noqa: E731
        cs = kronvec.value_and_grad(s, compile=True)
        cs(P0)
        v, g = cs(P1)
        check_close("value", v, s(P1), rtol=1e-12, atol=1e-12)
        check_close("compiled vag of jacobian", g, fd_grad(s, P1))

    def compiled_in_compiled():
        inner = kronvec.grad(f_where, compile=True)
        s = lambda X: np.sum(inner(X) ** 2)  # noqa: E731
        cs = kronvec.grad(s, compile=True)
        inner(P0)
        cs(P0)
        check_close("compiled in compiled", cs(P1), fd_grad(s, P1))
        check_close("inner after", inner(P1), kronvec.grad(f_where)(P1), rtol=0, atol=0)

    def hessian_of_compiled_vag():
        cvag = kronvec.value_and_grad(f_max, compile=True)
        cvag(P0)
        F = lambda X: cvag(X)[1]  # noqa: E731
        check_close("jacobian of compiled vag's grad", kronvec.jacobian(F)(P1).toarray(), fd_jac(kronvec.grad(f_max), P1), rtol=5e-5)

    def jvp_of_compiled():
        cg = kronvec.grad(f_abs, compile=True)
        cg(P0)
        _, t = kronvec.jvp(cg, (P1,), (V,))
        check_close("jvp of a compiled grad", t, fd_dir(kronvec.grad(f_abs), P1, V))

    def vjp_of_compiled_jacobian_matvec():
        cj = kronvec.jacobian(F_sort, compile=True)
        cj(P0)
        F = lambda X: cj(X).matvec(vec(V))  # noqa: E731
        _, pb = kronvec.vjp(F, P1)
        c = rng.standard_normal(9)
        check_close("vjp of compiled jacobian matvec", pb(c)[0], fd_grad(lambda X: np.sum(F(X) * c), P1))

    def compiled_hvp_inside_grad():
        ch = kronvec.hvp(f_abs, compile=True)
        ch(P0, V)
        s = lambda X: np.sum(ch(X, V) * W3)  # noqa: E731
        check_close("grad of compiled hvp", kronvec.grad(s)(P1), fd_grad(s, P1), rtol=1e-4)

    def compiled_hvp_direction_traced():
        ch = kronvec.hvp(f_sort, compile=True)
        ch(P0, V)
        s = lambda D: np.sum(ch(P1, D) * W3)  # noqa: E731 (linear in D)
        check_close("grad wrt the direction of a compiled hvp", kronvec.grad(s)(V), fd_grad(s, V))

    for label, c in [("grad∘hvp", grad_calls_hvp), ("grad∘jvp", grad_calls_jvp), ("jacobian∘vjp", jacobian_calls_vjp),
                     ("hvp∘grad", hvp_calls_grad), ("vag∘jacobian", vag_calls_jacobian),
                     ("compiled∘compiled", compiled_in_compiled), ("jacobian∘compiled vag", hessian_of_compiled_vag),
                     ("jvp∘compiled grad", jvp_of_compiled), ("vjp∘compiled jacobian.matvec", vjp_of_compiled_jacobian_matvec),
                     ("grad∘compiled hvp", compiled_hvp_inside_grad), ("grad wrt hvp direction", compiled_hvp_direction_traced)]:
        run_case(f"nested-compile/{label}", c)


def deep_checks():
    X = point((2, 2))
    V = rng.standard_normal((2, 2))
    C = rng.standard_normal((2, 2))

    def jac_of_jac():
        for name, F in MATRIX_FUNCS.items():
            G = lambda Y: kronvec.jacobian(F)(Y).toarray()  # noqa: E731
            Xs = point((3, 3))
            got = kronvec.jacobian(G)(Xs).toarray()
            check_close(f"{name}: jacobian of jacobian.toarray", got, fd_jac(G, Xs), rtol=1e-4)

    def jac_T_products():
        for name, F in MATRIX_FUNCS.items():
            Xs, Vs = point((3, 3)), rng.standard_normal((3, 3))
            Cs = rng.standard_normal(np.shape(F(Xs)))
            s = lambda Y: np.sum(kronvec.jacobian(F)(Y).T.matvec(vec(Cs)) * vec(Vs)) + np.sum((kronvec.jacobian(F)(Y) @ vec(Vs)) ** 2)  # noqa: E731
            check_close(f"{name}: grad of Jᵀc and J@v", kronvec.grad(s)(Xs), fd_grad(s, Xs))

    def fourth_order():
        f = lambda Y: np.sum(np.sin(Y) * np.sort(Y, axis=0) ** 3)  # noqa: E731
        s = lambda Y: np.sum(kronvec.hessian(f)(Y).toarray() * np.outer(vec(V), vec(C)))  # noqa: E731
        H2 = kronvec.hessian(s)(X).toarray()
        check_close("hessian of a hessian entry sum", H2, fd_jac(kronvec.grad(s), X), rtol=1e-4)

    def hessian_argnum1_closure():
        f = lambda A, Y: np.sum(np.maximum(A * Y, 0.1) ** 3 + np.abs(Y) ** 3)  # noqa: E731
        A = point((2, 2))
        H = kronvec.hessian(f, argnums=1)(A, X).toarray()
        check_close("hessian argnums=1", H, fd_jac(lambda Y: kronvec.grad(f, argnums=1)(A, Y), X))

    def vjp_both_traced():
        s = lambda Y: np.sum(kronvec.vjp(lambda Z: np.clip(Z * Y, -0.5, 0.5) ** 2, Y)[1](np.sin(Y))[0])  # noqa: E731
        check_close("vjp with traced primal and cotangent", kronvec.grad(s)(X), fd_grad(s, X))

    def jvp_both_traced():
        s = lambda Y: np.sum(kronvec.jvp(lambda Z: np.sort(Z * Y, axis=None), (Y,), (np.cos(Y),))[1] ** 2)  # noqa: E731
        check_close("jvp with traced primal and tangent", kronvec.grad(s)(X), fd_grad(s, X))

    def hvp_traced_everything():
        s = lambda Y: np.sum(kronvec.hvp(lambda Z: np.sum(np.abs(Z) ** 3 * Y))(Y, Y ** 2))  # noqa: E731
        check_close("hvp with traced point and direction", kronvec.grad(s)(X), fd_grad(s, X))

    def value_and_grad_argnums():
        f = lambda A, B: np.sum(np.maximum(A @ B, B @ A) ** 2)  # noqa: E731
        s = lambda Y: np.sum(kronvec.value_and_grad(f, argnums=(0, 1))(Y, Y.T)[1][1] * C) + kronvec.value_and_grad(f, argnums=(0, 1))(Y, C)[0]  # noqa: E731
        check_close("vag argnums nested", kronvec.grad(s)(X), fd_grad(s, X))

    for label, c in [("jac∘jac", jac_of_jac), ("jacᵀ products", jac_T_products), ("fourth order", fourth_order),
                     ("hessian argnums=1", hessian_argnum1_closure), ("vjp both traced", vjp_both_traced),
                     ("jvp both traced", jvp_both_traced), ("hvp traced everything", hvp_traced_everything),
                     ("vag argnums nested", value_and_grad_argnums)]:
        run_case(f"deep/{label}", c)


def cached_closure_and_message_checks():
    """A compiled function cached outside, then called inside a transformation with a closure
    that now holds the outer traced value; compile refusals of masks name compile=True."""
    def cached_closure(make, call, expected):
        def c():
            box = [np.array([1.0, 2.0])]
            compiled = make(box)
            call(compiled)

            def s(x):
                box[0] = x
                try:
                    return np.sum(call(compiled))
                finally:
                    box[0] = np.array([1.0, 2.0])
            check_close("outer gradient through a cached compiled closure", kronvec.grad(s)(np.array([3.0, 5.0])),
                        expected, rtol=1e-13, atol=1e-13)
        return c

    y0, V = np.array([1.0, -1.5]), np.array([0.5, 2.0])
    for label, make, call, expected in [
        ("grad", lambda b: kronvec.grad(lambda y: np.sum(b[0] * np.maximum(y, 0) ** 2 + b[0] * y), compile=True),
         lambda c: c(y0), 2 * np.maximum(y0, 0) + 1),
        ("hvp", lambda b: kronvec.hvp(lambda y: np.sum(b[0] * np.sort(y) ** 3), compile=True),
         lambda c: c(y0, V), 6 * (y0 * V)[np.argsort(y0)]),
        ("jacobian", lambda b: kronvec.jacobian(lambda y: b[0] * np.abs(y), compile=True),
         lambda c: c(y0).matvec(V), np.sign(y0) * V),
    ]:
        run_case(f"cached-closure/{label}", cached_closure(make, call, expected))

    X = np.array([[0.3, -0.7, 0.5], [1.1, -0.2, 0.4], [0.2, 0.9, -1.3]])

    def setmask(X):
        Y = X.copy(); Y[X < 0] = 0.0; return np.sum(Y ** 2)  # noqa: E702

    def putmask(X):
        Y = X ** 2; np.putmask(Y, X < 0, X ** 3); return np.sum(Y)  # noqa: E702

    def copyto(X):
        Y = np.zeros_like(X); np.copyto(Y, X ** 3, where=X > 0); return np.sum(Y)  # noqa: E702

    consumers = {"x[mask] = v": setmask, "putmask": putmask, "copyto where": copyto,
                 "compress": lambda X: np.sum(np.compress(X[:, 0] > 0, X, axis=0)),
                 "extract": lambda X: np.sum(np.extract(X > 0, X)),
                 "sum where": lambda X: np.sum(X ** 2, where=X > 0),
                 "delete": lambda X: np.sum(np.delete(X, X[:, 0] > 0, axis=0)),
                 "choose": lambda X: np.sum(np.choose(X > 0, [X, X ** 2])),
                 "bincount": lambda X: np.sum(np.bincount(X[0] > 0, weights=X[1]) ** 2)}
    for name, f in consumers.items():
        def c(f=f):
            try:
                kronvec.grad(f, compile=True)(X)
            except TypeError as e:
                if "compile=True" not in str(e) or "np.where(x > 0" not in str(e):
                    raise Unclear("refusal does not name compile=True and the np.where way out: " + short(e))
                return
            raise Wrong("compiled although the mask is a decision on the values")
        run_case(f"compile-message/{name}", c)
        run_case(f"compile-message/{name}/uncompiled FD", lambda f=f: check_close("uncompiled", kronvec.grad(f)(X), fd_grad(f, X)))


def run(filter=None, echo=None):
    """Run every case whose name contains ``filter`` (all when None).

    Returns a :class:`Result`; ``echo(category, name, message)``, when given, is called
    for each finding as it is found (the script prints with it)."""
    global _RUN
    t0 = time.time()
    rng.bit_generator.state = _RNG_START
    _RUN = run = _Run(filter, echo)
    threads_before = set(threading.enumerate())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name, f in SCALAR_FUNCS.items():
                nested_checks(name, f)
            for name, F in MATRIX_FUNCS.items():
                matrix_checks(name, F)
            confusion_checks()
            for name, f in SCALAR_FUNCS.items():
                compile_checks(name, f)
            for name, F in MATRIX_FUNCS.items():
                compile_matrix_checks(name, F)
            targeted_compile_checks()
            shape_dtype_checks()
            tie_checks()
            outcome_checks()
            nested_compile_checks()
            deep_checks()
            cached_closure_and_message_checks()
            thread_checks()
    finally:
        _RUN = None
        # kronvec compiles a program replayed 16 times in a background thread: wait for those
        # this run started, so that none outlives it
        for thread in set(threading.enumerate()) - threads_before:
            thread.join()
    return Result(run.findings, run.cases, time.time() - t0)


if __name__ == "__main__":
    command_line(run, sys.argv[1:], harmless=())
