"""Adversarial sweep of kronvec's NumPy surface beyond elementwise functions: indexing
(basic, advanced, boolean, mixed, np.take/take_along_axis), recorded writes (x[key] = v, +=
through views, np.add.at, put/place/putmask/copyto, out=), joining, splitting and padding,
products and contractions (einsum, tensordot, matmul, dot, vecdot, cross, kron, multi_dot),
aliases, and structure at scale.

Every case f(*args) differentiates all of its arguments (constants are closed over) and is
checked in every mode:
  value  == NumPy's (shape and numbers), on copies of the inputs
  jac    structured jacobian: matmat(I) == toarray() == central differences; dot test (rmatvec)
  grad   grad of sum(W * f) == Wᵀ · FD Jacobian
  jvp    == FD Jacobian · v;  vjp(u) == FD Jacobianᵀ · u;  <vjp(u), v> == <u, jvp(v)>
  hess   hessian of sum(W * f²) (argument 0) == central differences of kronvec.grad
  pure   no input modified by any call; returned arrays share no memory with the inputs
Error cases: NumPy raises E, kronvec must raise E (or a subclass) too.
float32 cases: values in float32 as NumPy's, gradients float32 and equal to the float64 ones.
Scale cases: jacobian of 1000×1000 expressions built with tracemalloc peak < 50·n²·8 bytes.

Run standalone from the repository root (prints one line per finding and a summary):

    python tests/sweeps/indexing.py [-k substr] [-v] [--no-scale]

``-k`` keeps the cases whose name contains ``substr``; ``-v`` also prints the scale cases'
memory peaks; ``--no-scale`` skips them.  From Python, ``run(filter=None, scale=True)``
returns the findings as (category, case name, message) without printing
(``tests/test_adversarial_sweeps.py`` holds them to an allow-list).  Categories:
  WRONG    a number differs from NumPy / finite differences
  CRASH    an internal error (not a clear kronvec refusal)
  UNCLEAR  NumPy raises E, kronvec raises something that is not an E
  SILENT   NumPy raises, kronvec raised nothing
  DENSIFY  a scale case's memory peak is over budget
  BADCASE  the case itself is broken (NumPy raised on it)
  REFUSED  a clear kronvec refusal of something NumPy accepts (not a defect by itself)

Every random draw comes from one generator seeded afresh by each ``run()`` (the scale
cases seed their own); the cases are built anew by each run, so two runs in one process
see the same inputs and nothing else is kept between them.  Nothing is written to disk.
"""
import gc
import sys
import time
import traceback
import tracemalloc
import warnings
from typing import NamedTuple

import numpy as np

import kronvec

SEED = 1


class Result(NamedTuple):
    """What one run found: ``findings`` as (category, case name, message), the number of
    ``cases`` run and the wall-clock ``seconds`` it took; ``scale_lines`` the scale cases'
    memory peaks."""

    findings: list
    cases: int
    seconds: float
    scale_lines: list


def vecF(a):
    return np.asarray(a, dtype=float).reshape(-1, order="F")


def unvecF(v, shape):
    return np.array(np.asarray(v).reshape(shape, order="F"), order="C")


def call_np(f, args):
    return f(*[np.array(a, copy=True, order="C") for a in args])


def fd_jac(f, args, k, h=1e-6):
    x = vecF(args[k])
    cols = []
    for j in range(x.size):
        hj = h * max(1.0, abs(x[j]))
        outs = []
        for s in (1, -1):
            xx = x.copy()
            xx[j] += s * hj
            a = list(args)
            a[k] = unvecF(xx, np.shape(args[k]))
            outs.append(vecF(call_np(f, a)))
        cols.append((outs[0] - outs[1]) / (2 * hj))
    out = vecF(call_np(f, args))
    return np.stack(cols, axis=1) if cols else np.zeros((out.size, 0))


def close(a, b, tol=1e-6):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False
    return np.allclose(a, b, rtol=tol, atol=tol * max(1.0, np.max(np.abs(b), initial=0.0)))


def digest(args):
    return [np.array(a, copy=True) for a in args]


def unchanged(args, saved):
    return all(np.array_equal(np.asarray(a), s) and np.shape(a) == s.shape for a, s in zip(args, saved))


def shares(res, args):
    res = res if isinstance(res, (tuple, list)) else (res,)
    return any(isinstance(r, np.ndarray) and isinstance(a, np.ndarray) and np.shares_memory(r, a)
               for r in res for a in args)


def check_case(name, f, args, hess, rs):
    args = tuple(np.array(a, dtype=float) for a in args)
    problems = []
    saved = digest(args)
    n = len(args)
    ref = call_np(f, args)
    ref_shape = np.shape(ref)
    W = rs.randn(*ref_shape) if ref_shape else rs.randn()
    argn = tuple(range(n))
    fds = [fd_jac(f, args, k) for k in range(n)]
    # value and jvp
    tans = tuple(rs.randn(*np.shape(a)) for a in args)
    val, t_out = kronvec.jvp(f, args, tans)
    if np.shape(val) != ref_shape or not close(val, ref, 1e-12):
        problems.append(f"value: shape {np.shape(val)} vs NumPy {ref_shape}; maxdiff "
                        f"{np.max(np.abs(np.asarray(val, float) - ref)) if np.shape(val) == ref_shape else '-'}")
    want_t = sum(fds[k] @ vecF(tans[k]) for k in range(n))
    if not close(vecF(t_out), want_t) or np.shape(t_out) != ref_shape:
        problems.append("jvp != FD")
    if shares(val, args) or shares(t_out, args):
        problems.append("jvp result shares memory with an input")
    # vjp
    val2, pull = kronvec.vjp(f, *args)
    u = rs.randn(*ref_shape) if ref_shape else rs.randn()
    cts = pull(u)
    for k in range(n):
        if np.shape(cts[k]) != np.shape(args[k]) or not close(vecF(cts[k]), fds[k].T @ vecF(u)):
            problems.append(f"vjp[{k}] != FD")
    lhs = sum(np.vdot(vecF(cts[k]), vecF(tans[k])) for k in range(n))
    rhs = np.vdot(vecF(u), vecF(t_out))
    if not np.isclose(lhs, rhs, rtol=1e-9, atol=1e-9 * (1 + abs(rhs))):
        problems.append(f"<vjp(u),v>={lhs:.6g} != <u,jvp(v)>={rhs:.6g}")
    # grad
    g = kronvec.grad(lambda *a: np.sum(W * f(*a)), argnums=argn)(*args)
    for k in range(n):
        if not close(vecF(g[k]), fds[k].T @ vecF(W)) or np.shape(g[k]) != np.shape(args[k]):
            problems.append(f"grad[{k}] != FD")
    if shares(g, args):
        problems.append("grad shares memory with an input")
    # structured jacobian
    Js = kronvec.jacobian(f, argnums=argn)(*args)
    for k in range(n):
        J = Js[k]
        if J.shape != fds[k].shape:
            problems.append(f"jac[{k}] shape {J.shape} vs {fds[k].shape}")
            continue
        dense_mm = np.asarray(J.matmat(np.eye(J.shape[1]))) if J.shape[1] else np.zeros(J.shape)
        dense = J.toarray()
        if not close(dense_mm, fds[k]):
            problems.append(f"jac[{k}].matmat(I) != FD")
        if not close(dense, dense_mm, 1e-12):
            problems.append(f"jac[{k}].toarray() != matmat(I)")
        if J.shape[0]:
            y = rs.randn(J.shape[0])
            x = rs.randn(J.shape[1])
            if not np.isclose(np.dot(J.matvec(x), y), np.dot(x, J.rmatvec(y)), rtol=1e-9, atol=1e-9):
                problems.append(f"jac[{k}] dot test")
    # hessian wrt arg 0
    if hess:
        h = lambda *a: np.sum(W * f(*a) ** 2)
        H = kronvec.hessian(h, 0)(*args)
        gk = lambda *a: kronvec.grad(h, 0)(*a)
        Hfd = fd_jac(gk, args, 0, h=1e-5)
        Hd = np.asarray(H.matmat(np.eye(H.shape[1]))) if H.shape[1] else np.zeros(H.shape)
        if not close(Hd, Hfd, 1e-5):
            problems.append("hessian != FD of grad")
    if not unchanged(args, saved):
        problems.append("an input was modified")
    return problems


def run_cases(cases, select, rs):
    fails, n = [], 0
    for name, f, args, hess in cases:
        if select and select not in name:
            continue
        n += 1
        try:
            with np.errstate(all="ignore"):
                call_np(f, [np.array(a, dtype=float) for a in args])  # (NumPy must accept the case)
        except Exception as e:
            fails.append(("BADCASE", name, f"NumPy itself raised {type(e).__name__}: {e}"))
            continue
        try:
            problems = check_case(name, f, args, hess, rs)
            if problems:
                fails.append(("WRONG", name, "; ".join(problems)))
        except Exception as e:
            tb = traceback.extract_tb(e.__traceback__)
            last = tb[-1]
            where = f"{last.filename.split('kronvec/')[-1]}:{last.lineno}"
            clear = "kronvec" in last.filename and isinstance(
                e, (TypeError, ValueError, NotImplementedError, IndexError, np.linalg.LinAlgError))
            fails.append(("REFUSED" if clear else "CRASH", name,
                          f"{type(e).__name__} at {where}: " + str(e).replace("\n", " ")[:260]))
    return n, fails


def run_float32(select, rs):
    fails, n = [], 0
    for name, f, x in float32_cases(rs):
        if select and select not in name:
            continue
        n += 1
        try:
            want = call_np(f, [x])
            got = kronvec.jvp(f, (x,), (np.ones_like(x),))[0]
            W = rs.randn(*np.shape(want))
            g32 = kronvec.grad(lambda z: np.sum(W * f(z)))(x)
            g64 = kronvec.grad(lambda z: np.sum(W * f(z)))(x.astype(np.float64))
            problems = []
            if np.asarray(got).dtype != np.asarray(want).dtype or not np.allclose(got, want, rtol=1e-6):
                problems.append(f"value {np.asarray(got).dtype} vs NumPy {np.asarray(want).dtype}")
            if g32.dtype != np.float32 or not np.allclose(g32, g64, rtol=1e-4, atol=1e-4):
                problems.append(f"grad dtype {g32.dtype} or != float64 grad")
            if problems:
                fails.append(("WRONG", name, "; ".join(problems)))
        except Exception as e:
            last = traceback.extract_tb(e.__traceback__)[-1]
            fails.append(("REFUSED" if "kronvec" in last.filename else "CRASH", name,
                          f"{type(e).__name__} at {last.filename.split('kronvec/')[-1]}:{last.lineno}: {str(e)[:200]}"))
    return n, fails


def run_errors(errors, select):
    fails, n = [], 0
    for name, f, args in errors:
        if select and select not in name:
            continue
        n += 1
        args = tuple(np.array(a, dtype=float) for a in args)
        try:
            call_np(f, args)
            fails.append(("BADCASE", name, "NumPy raised nothing"))
            continue
        except Exception as e:
            want = type(e)
        for mode, run in (("grad", lambda: kronvec.grad(lambda *a: np.sum(f(*a)), tuple(range(len(args))))(*args)),
                          ("jacobian", lambda: kronvec.jacobian(f, tuple(range(len(args))))(*args))):
            try:
                run()
                fails.append(("SILENT", name, f"{mode}: NumPy raises {want.__name__}, kronvec raised nothing"))
            except Exception as e:
                if not isinstance(e, want):
                    last = traceback.extract_tb(e.__traceback__)[-1]
                    fails.append(("UNCLEAR", name, f"{mode}: NumPy raises {want.__name__}, kronvec "
                                  f"{type(e).__name__} at {last.filename.split('kronvec/')[-1]}:{last.lineno}: "
                                  + str(e).replace(chr(10), ' ')[:200]))
                    break
    return n, fails


def run_scale(scale_cases, select):
    fails, n, lines = [], 0, []
    N = 1000
    budget = 50 * N * N * 8
    for name, f, nargs in scale_cases:
        if select and select not in name:
            continue
        n += 1
        args = [np.random.default_rng(k).standard_normal((N, N)) for k in range(nargs)]
        gc.collect()
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            J = kronvec.jacobian(f, tuple(range(nargs)) if nargs > 1 else 0)(*args)
            J = J if isinstance(J, tuple) else (J,)
            # one product each way, at the same scale
            for Jk in J:
                Jk.matvec(np.ones(Jk.shape[1]))
                Jk.rmatvec(np.ones(Jk.shape[0]))
            peak = tracemalloc.get_traced_memory()[1]
            dt = time.perf_counter() - t0
            lines.append(f"  scale {name}: peak {peak / 2**20:.0f} MiB ({peak / (N * N * 8):.1f} n²·8), {dt:.2f} s")
            if peak > budget:
                fails.append(("DENSIFY", name, f"peak {peak / 2**20:.0f} MiB > {budget / 2**20:.0f} MiB"))
        except Exception as e:
            last = traceback.extract_tb(e.__traceback__)[-1]
            fails.append(("CRASH", name, f"{type(e).__name__} at {last.filename.split('kronvec/')[-1]}:"
                          f"{last.lineno}: {str(e)[:200]}"))
        finally:
            tracemalloc.stop()
            del args
            gc.collect()
    return n, fails, lines


def float32_cases(rs):
    """float32 X: values in float32 as NumPy's, gradients float32 and equal to the float64 ones."""
    out = []
    x = rs.randn(3, 4).astype(np.float32)

    def zeros_write(x):
        b = np.zeros_like(x)
        b[0] = x[1] ** 2
        b[1:, 1] = x[:2, 0]
        return b

    def full_like_traced(x):
        return np.full_like(x, x[0, 0], shape=(2,)) * x[1, :2]

    for name, f in (("float32 zeros_like written", zeros_write), ("float32 full_like traced fill", full_like_traced),
                    ("float32 X[[0,0]] = ...", lambda x: (x.__setitem__([0, 0], x[[1, 2]] * 2), x)[1]),
                    ("float32 add.at", lambda x: (np.add.at(x, [1, 1], x[0]), x)[1]),
                    ("float32 einsum", lambda x: np.einsum("ij,kj->ik", x, x)),
                    ("float32 concat const", lambda x: np.concatenate([x, np.ones((1, 4))]))):
        out.append((name, f, x))
    return out


def build_cases(rs):
    """The cases, drawn from ``rs``: (derivative cases, error cases, scale cases)."""
    CASES, ERRORS, SCALE = [], [], []
    R = lambda *s: rs.randn(*s)  # noqa: E731
    P = lambda *s: rs.rand(*s) + 0.5  # noqa: E731

    def case(name, f, *args, hess=True):
        CASES.append((name, f, args, hess))

    def err(name, f, *args):
        ERRORS.append((name, f, args))

    def scale(name, f, nargs=1):
        SCALE.append((name, f, nargs))

    # =============================================================== indexing (reads)
    X = R(3, 4)
    X3 = R(2, 3, 4)
    case("X[[0, 2], 1:]", lambda x: x[[0, 2], 1:], X)
    case("X[:, [1, 0, 1]] repeats", lambda x: x[:, [1, 0, 1]], X)
    case("X[[2, 2, 0]] repeated rows", lambda x: x[[2, 2, 0]], X)
    case("X[..., None, 0]", lambda x: x[..., None, 0], X3)
    case("X[None, ..., None]", lambda x: x[None, ..., None], X)
    case("X[()]", lambda x: x[()], X)
    case("X[-1]", lambda x: x[-1], X)
    case("X[-2:, ::-1]", lambda x: x[-2:, ::-1], X)
    case("X[::-2, 1::2]", lambda x: x[::-2, 1::2], X)
    case("X[5:1:-2]", lambda x: x[5:1:-2], R(7))
    case("X[row mask]", lambda x: x[np.array([True, False, True])], X)
    case("X[:, col mask]", lambda x: x[:, np.array([True, False, True, True])], X)
    case("X[list of bools]", lambda x: x[[True, False, True]], X)
    case("X[full mask]", lambda x: x[np.abs(x) > 0.3], X)
    case("X3[partial 2-D mask]", lambda x: x[np.array([[True, False, True], [False, True, True]])], X3)
    case("X3[:, 2-D mask]", lambda x: x[:, np.array([[True, False, True, False]] * 3)], X3)
    case("X3[mask, 0]", lambda x: x[np.array([True, False]), 0], X3)
    case("X[all-False mask]", lambda x: x[np.zeros((3, 4), bool)], X)
    case("X[np.ix_]", lambda x: x[np.ix_([0, 2], [3, 1, 3])], X)
    case("X[np.ix_ bool]", lambda x: x[np.ix_([True, False, True], [False, True, True, False])], X)
    case("X[idx (2,2)]", lambda x: x[np.array([[0, 1], [2, 0]])], X)
    case("X[idx (2,2), idx (2,2)]", lambda x: x[np.array([[0, 1], [2, 0]]), np.array([[3, 3], [0, 1]])], X)
    case("X[idx (2,1), idx (3,)] broadcast", lambda x: x[np.array([[0], [2]]), np.array([1, 3, 0])], X)
    case("X[[], :] empty list", lambda x: x[[], :], X, hess=False)
    case("X[np.array([], int)]", lambda x: x[np.array([], dtype=int)], X, hess=False)
    case("X3[[0, 1], :, [1, 2]] split adv", lambda x: x[[0, 1], :, [1, 2]], X3)
    case("X3[:, [0, 2], [1, 3]] adjacent adv", lambda x: x[:, [0, 2], [1, 3]], X3)
    case("X3[0, ..., [1, 0]]", lambda x: x[0, ..., [1, 0]], X3)
    case("X3[1, :, [3, 3]]", lambda x: x[1, :, [3, 3]], X3)
    case("X3[None, [1, 0], None, 2]", lambda x: x[None, [1, 0], None, 2], X3)
    case("X[np.int64(1), -1]", lambda x: x[np.int64(1), -1], X)
    case("X[[-1, -3], [-4, 0]]", lambda x: x[[-1, -3], [-4, 0]], X)
    case("X[np.uint8 idx]", lambda x: x[np.array([2, 0], dtype=np.uint8)], X)
    case("X[(0, slice(1,3))] tuple key", lambda x: x[(0, slice(1, 3))], X)
    case("X[[[0, 1]]] nested list", lambda x: x[[[0, 1]]], X)
    case("X[0][1:][::-1] chain", lambda x: x[0][1:][::-1], X)
    case("X.T[[0, 1]]", lambda x: x.T[[0, 1]], X)
    case("X[idx] then reduce", lambda x: np.sum(x[[0, 0, 1]] ** 2, axis=0), X)
    case("x[argsort(x)]", lambda x: x[np.argsort(x)], R(5))
    case("X.flat[[1, 5]]", lambda x: x.flat[[1, 5]], X)
    case("X.flat[3]", lambda x: x.flat[3] * x, X)
    case("X[mask of X>0] sum", lambda x: np.sum(x[x > 0] ** 2), X)
    case("X[True]", lambda x: x[True], X)
    case("X[..., [True, False, True, True]]", lambda x: x[..., [True, False, True, True]], X)
    # take / take_along_axis
    case("np.take mode=wrap", lambda x: np.take(x, [0, 5, -7, 13], mode="wrap"), X)
    case("np.take mode=clip", lambda x: np.take(x, [0, 50, -7], mode="clip"), X)
    case("np.take axis=-1 2-D idx", lambda x: np.take(x, np.array([[0, 3], [3, 1]]), axis=-1), X)
    case("np.take axis=0 scalar idx", lambda x: np.take(x, 2, axis=0), X)
    case("np.take axis=1 clip", lambda x: np.take(x, [-1, 9], axis=1, mode="clip"), X)
    case("np.take axis=1 wrap", lambda x: np.take(x, [-1, 9], axis=1, mode="wrap"), X)
    case("np.take empty", lambda x: np.take(x, [], axis=1), X, hess=False)
    case("x.take(mode=wrap)", lambda x: x.take([7, -1], mode="wrap"), R(5))
    case("take_along_axis axis=None", lambda x: np.take_along_axis(x, np.array([11, 0, 0, 4]), axis=None), X)
    case("take_along_axis bcast idx", lambda x: np.take_along_axis(x, np.array([[2, 0]]), axis=1), X)
    case("take_along_axis axis=0 repeats", lambda x: np.take_along_axis(x, np.array([[0, 0, 2, 1], [0, 0, 0, 0]]), axis=0), X)
    case("take_along_axis 3-D axis=1", lambda x: np.take_along_axis(x, np.argsort(x, axis=1)[:, :2], axis=1), X3)
    case("take_along_axis neg idx", lambda x: np.take_along_axis(x, np.array([[-1], [-2], [0]]), axis=1), X)
    # diagonal / trace
    for off in (-3, -1, 0, 2, 5):
        for ax in ((1, 2), (2, 1), (-1, 0), (0, -2)):
            case(f"np.diagonal(off={off}, axes={ax}) 3-D",
                 lambda x, o=off, a=ax: np.diagonal(x, offset=o, axis1=a[0], axis2=a[1]), X3, hess=(off == 0))
        case(f"np.trace(off={off}) 2-D", lambda x, o=off: np.trace(x, offset=o), X)
        case(f"np.trace(off={off}, axes=(2,1)) 3-D", lambda x, o=off: np.trace(x, offset=o, axis1=2, axis2=1), X3,
             hess=(off == 0))
    case("x.diagonal(1, 0, 2)", lambda x: x.diagonal(1, 0, 2), X3)
    case("x.trace(-1, dtype)", lambda x: x.trace(-1, dtype=np.float64), X)
    case("np.linalg.trace(offset=1)", lambda x: np.linalg.trace(x, offset=1), X3)
    case("np.linalg.diagonal(offset=-1)", lambda x: np.linalg.diagonal(x, offset=-1), X3)
    case("np.diag(2-D, k=-2)", lambda x: np.diag(x, -2), X)
    case("np.diag(2-D, k=9) empty", lambda x: np.diag(x, 9), X, hess=False)
    case("np.diagonal then write copy", lambda x: np.diagonal(x).copy() * 2, X)
    case("np.compress axis=None", lambda x: np.compress([True, False, True, True, False], x), X)
    case("np.compress short cond", lambda x: np.compress([False, True], x, axis=1), X)
    case("np.choose mode=wrap", lambda x, y: np.choose([0, 3, 1], [x, y], mode="wrap"), R(3), R(3))
    case("np.choose mode=clip", lambda x, y: np.choose([[0, 5, 1]], [x, y], mode="clip"), R(3), R(2, 3))
    case("np.select overlapping", lambda x: np.select([x > 0, x > -0.5], [x, 2 * x], default=x ** 2), X)
    case("np.where 1-arg", lambda x: x[np.where(x > 0)], X)
    case("np.where bcast", lambda x, y: np.where(np.array([True, False, True, False]), x, y), X, R(3, 1))
    case("np.nonzero index", lambda x: x[np.nonzero(x > 0.1)], X)
    # errors that NumPy raises
    err("X[3] out of range", lambda x: x[3], X)
    err("X[-4] out of range", lambda x: x[-4], X)
    err("X[:, 4]", lambda x: x[:, 4], X)
    err("X[[0, 3]]", lambda x: x[[0, 3]], X)
    err("X[[0], [9]]", lambda x: x[[0], [9]], X)
    err("X[1.5]", lambda x: x[1.5], X)
    err("X[[0.0, 1.0]]", lambda x: x[[0.0, 1.0]], X)
    err("X[0, 0, 0] too many", lambda x: x[0, 0, 0], X)
    err("X[mask wrong length]", lambda x: x[np.array([True, False])], X)
    err("X[..., ...]", lambda x: x[..., ...], X)
    err("X[[0,1],[0,1,2]] no bcast", lambda x: x[[0, 1], [0, 1, 2]], X)
    err("np.take raise", lambda x: np.take(x, [12]), X)
    err("np.take axis raise", lambda x: np.take(x, [4], axis=1), X)
    err("take_along_axis out of range", lambda x: np.take_along_axis(x, np.array([[5]]), axis=1), X)
    err("np.diagonal same axes", lambda x: np.diagonal(x, axis1=1, axis2=1), X3)
    err("np.diagonal axis out of range", lambda x: np.diagonal(x, axis1=0, axis2=3), X3)
    err("np.trace 1-D", lambda x: np.trace(x), R(3))
    err("X.flat[99]", lambda x: x.flat[99], X)
    err("np.choose raise", lambda x, y: np.choose([0, 3, 1], [x, y]), R(3), R(3))


    # =============================================================== assignment (recorded writes)
    def _w(body):
        """f(x, v) that copies nothing: body writes into its traced argument and returns a result."""
        return body


    def set_rep(x, v):
        x[[0, 0, 1]] = v
        return x


    case("X[[0,0,1]] = v (last wins)", set_rep, R(3, 2), R(3, 2))


    def set_rep_bcast(x, v):
        x[[2, 0, 2], 1] = v
        return x


    case("X[[2,0,2], 1] = v", set_rep_bcast, R(3, 2), R(3))


    def set_rep_2d(x, v):
        x[[0, 1, 0], [1, 1, 1]] = v
        return x * x


    case("X[[0,1,0],[1,1,1]] = v then x*x", set_rep_2d, R(2, 3), R(3))


    def set_mask(x, v):
        x[np.array([[True, False], [False, True], [True, True]])] = v
        return x


    case("X[mask] = traced", set_mask, R(3, 2), R(4))


    def set_mask_traced_cond(x):
        x[x > 0] = x[x > 0] ** 2
        return x


    case("X[X>0] = X[X>0]**2", set_mask_traced_cond, R(3, 4))


    def iadd_rep(x, v):
        x[[0, 0, 2]] += v
        return x


    case("X[[0,0,2]] += v (no accumulation)", iadd_rep, R(3, 2), R(3, 2))


    def iadd_rep_scalar_idx(x, v):
        x[[1, 1]] += v
        return x


    case("x[[1,1]] += v 1-D", iadd_rep_scalar_idx, R(3), R(2))


    def imul_mask(x, v):
        x[x > 0] *= v
        return x


    case("X[X>0] *= v (scalar)", imul_mask, R(3, 4), R())


    def add_at(x, v):
        np.add.at(x, [0, 0, 2], v)
        return x


    case("np.add.at repeats (accumulates)", add_at, R(3, 2), R(3, 2))


    def add_at_2d(x, v):
        np.add.at(x, ([0, 0, 1], [1, 1, 0]), v)
        return x


    case("np.add.at tuple idx", add_at_2d, R(2, 2), R(3))


    def sub_at(x, v):
        np.subtract.at(x, (slice(None), [1, 1]), v)
        return x


    case("np.subtract.at slice+list", sub_at, R(2, 3), R(2, 2))


    def add_at_scalar(x):
        np.add.at(x, [0, 0, 0], 1.0)
        return x * x


    case("np.add.at constant b", add_at_scalar, R(3))


    def add_at_into_zeros(x):
        b = np.zeros_like(x)
        np.add.at(b, [0, 1, 0], x)
        return b


    case("np.add.at into zeros_like", add_at_into_zeros, R(3))


    def view_write(x):
        y = x[0]
        y[1] = 5.0
        return x


    case("Y=X[0]; Y[1]=5 changes X", view_write, R(3, 4))


    def view_write_traced(x, v):
        y = x[:, 1]
        y[:] = v
        return x * 2


    case("Y=X[:,1]; Y[:]=v", view_write_traced, R(3, 4), R(3))


    def view_iadd(x):
        y = x[1:]
        y += x[1:] * 0 + 1.0
        return x


    case("Y=X[1:]; Y += ...", view_iadd, R(3, 4))


    def view_T_write(x, v):
        y = x.T
        y[0] = v
        return x


    case("Y=X.T; Y[0]=v", view_T_write, R(3, 4), R(3))


    def view_flip_write(x, v):
        y = x[::-1, ::2]
        y[0, 1] = v
        return x


    case("Y=X[::-1, ::2]; Y[0,1]=v", view_flip_write, R(3, 4), R())


    def view_chain_write(x, v):
        x[1][::-1][0] = v
        return x


    case("X[1][::-1][0]=v", view_chain_write, R(3, 4), R())


    def view_newaxis_write(x, v):
        y = x[None, 1]
        y[0, 2] = v
        return x


    case("Y=X[None, 1]; Y[0,2]=v", view_newaxis_write, R(3, 4), R())


    def view_return_both(x):
        y = x[0]
        y *= 3.0
        return x.sum() + y.sum()


    case("view *= then use both", view_return_both, R(3, 4))


    def view_then_read(x):
        y = x[1]
        y[0] = y[1] * 2  # reads the view, writes into it
        return np.concatenate([x.ravel(), y])


    case("view written then read", view_then_read, R(3, 4))


    def write_then_read(x):
        x[0] = x[1] * 2
        z = x[0] + x.sum(axis=0)
        x[2, 1] = z[0]
        return x


    case("X written then read then written", write_then_read, R(3, 4))


    def zeros_buffer(x):
        b = np.zeros_like(x)
        b[1:] = x[:-1]
        b[0] = x[-1] ** 2
        return b


    case("zeros_like buffer filled", zeros_buffer, R(3, 4))


    def zeros_buffer_rep(x):
        b = np.zeros_like(x)
        b[[0, 0, 1]] = x
        return b


    case("zeros_like[[0,0,1]] = x", zeros_buffer_rep, R(3, 2))


    def empty_buffer(x):
        b = np.empty_like(x)
        b[...] = x[::-1]
        return b


    case("empty_like[...] = x[::-1]", empty_buffer, R(3, 4))


    def full_buffer_col(x):
        b = np.full_like(x, 2.0)
        b[:, 0] = x[:, 1] * x[:, 2]
        return b


    case("full_like[:,0] = ...", full_buffer_col, R(3, 4))


    def ones_like_shape(x):
        b = np.ones_like(x, shape=(2, 2))
        b[0] = x[:2]
        return b


    case("ones_like(shape=) written", ones_like_shape, R(3))


    def swap_rows_adv(x):
        x[[0, 1]] = x[[1, 0]]
        return x


    case("X[[0,1]] = X[[1,0]] swap", swap_rows_adv, R(3, 4))


    def self_slice_overlap(x):
        x[1:] = x[:-1]
        return x


    case("x[1:] = x[:-1] overlap", self_slice_overlap, R(5))


    for wrap in (False, True):
        def fd(x, v, wrap=wrap):
            np.fill_diagonal(x, v, wrap=wrap)
            return x

        case(f"fill_diagonal tall wrap={wrap} traced vec", fd, R(7, 3), R(2))

        def fd3(x, wrap=wrap):
            np.fill_diagonal(x, 0.0, wrap=wrap)
            return x

        case(f"fill_diagonal 3-D cube wrap={wrap}", fd3, R(3, 3, 3))


    def fd_wide(x, v):
        np.fill_diagonal(x, v)
        return x


    case("fill_diagonal wide scalar traced", fd_wide, R(2, 5), R())


    def copyto_where(x, y):
        np.copyto(x, y, where=np.array([[True, False, True, False]] * 3))
        return x


    case("np.copyto(X, Y, where=)", copyto_where, R(3, 4), R(3, 4))


    def copyto_bcast(x, y):
        np.copyto(x, y, where=np.array([True, False, True, True]))
        return x


    case("np.copyto(X, y row, where=)", copyto_bcast, R(3, 4), R(4))


    def copyto_const(x):
        np.copyto(x, 2.0, where=x > 0)
        return x


    case("np.copyto(X, const, where=X>0)", copyto_const, R(3, 4))


    def copyto_into_buffer(x):
        b = np.zeros_like(x)
        np.copyto(b, x.T.T)
        return b


    case("np.copyto(zeros_like, x)", copyto_into_buffer, R(3, 4))

    for mode in ("raise", "wrap", "clip"):
        def put(x, v, mode=mode):
            np.put(x, [0, -1, 5, 5] if mode == "raise" else [0, -1, 17, 25], v, mode=mode)
            return x

        case(f"np.put mode={mode} repeats", put, R(3, 4), R(4))


    def put_recycle(x, v):
        np.put(x, [0, 1, 2, 3, 4], v)
        return x


    case("np.put recycled v", put_recycle, R(3, 4), R(2))


    def put_method(x, v):
        x.put([2, 2], v)
        return x


    case("x.put repeats", put_method, R(5), R(2))


    def place(x, v):
        np.place(x, x > 0, v)
        return x


    case("np.place recycled", place, R(3, 4), R(2))


    def putmask(x, v):
        np.putmask(x, x > 0, v)
        return x


    case("np.putmask recycled by position", putmask, R(3, 4), R(5))


    def put_along(x, v):
        np.put_along_axis(x, np.array([[0], [2], [2]]), v, axis=1)
        return x


    case("np.put_along_axis", put_along, R(3, 4), R(3, 1))


    def put_along_rep(x, v):
        np.put_along_axis(x, np.array([[1, 1]]), v, axis=0)
        return x


    case("np.put_along_axis repeats bcast", put_along_rep, R(3, 2), R(1, 2))


    def put_along_none(x, v):
        np.put_along_axis(x, np.array([0, 7, 7]), v, axis=None)
        return x


    case("np.put_along_axis axis=None", put_along_none, R(3, 4), R(3))


    def flat_set(x, v):
        x.flat[[1, 5, 1]] = v
        return x


    case("x.flat[[1,5,1]] = v", flat_set, R(3, 4), R(3))


    def flat_slice_set(x, v):
        x.flat[::5] = v
        return x


    case("x.flat[::5] = v", flat_slice_set, R(3, 4), R())


    def fill_method(x, v):
        y = x[1]
        y.fill(v)
        return x


    case("view.fill(v)", fill_method, R(3, 4), R())


    def out_ufunc(x, y):
        np.multiply(x, y, out=x)
        return x


    case("np.multiply(out=x)", out_ufunc, R(3, 4), R(3, 4))


    def out_ufunc_where(x, y):
        np.add(x, y, out=x, where=np.array([True, False, True, False]))
        return x


    case("np.add(out=x, where=)", out_ufunc_where, R(3, 4), R(4))


    def out_view(x, y):
        np.add(x[0], y, out=x[1])
        return x


    case("np.add(..., out=X[1]) view out", out_view, R(3, 4), R(4))


    def setitem_int_buffer(x):
        b = np.zeros_like(x)
        b[0] = x[0] ** 2
        c = b.copy()
        c[1] += b[0]
        return c


    case("copy of buffer then += row", setitem_int_buffer, R(3, 4))


    def set_0d(x, v):
        y = x[1:2, 2:3]
        y[...] = v
        return x


    case("X[1:2,2:3][...] = v", set_0d, R(3, 4), R())


    def set_list_of_traced(x):
        x[0] = [x[1, 0], x[2, 1], 3.0, x[0, 0]]
        return x


    case("X[0] = [traced, ..., const]", set_list_of_traced, R(3, 4))


    def set_empty(x, v):
        x[[]] = v
        return x * 2


    case("X[[]] = v (nothing)", set_empty, R(3), R())


    def set_neg_step(x, v):
        x[::-2] = v
        return x


    case("x[::-2] = v", set_neg_step, R(5), R(3))


    def set_ellipsis_none(x, v):
        x[..., None, 1] = v
        return x


    case("X[..., None, 1] = v", set_ellipsis_none, R(3, 4), R(3, 1))


    def set_ix(x, v):
        x[np.ix_([0, 2], [1, 1])] = v
        return x


    case("X[np.ix_ repeats] = v", set_ix, R(3, 4), R(2, 2))


    def sort_inplace(x):
        y = x[1]
        y.sort()
        return x


    case("view.sort() in place", sort_inplace, R(3, 4))

    err("X[[0, 3]] = v out of range", lambda x: (x.__setitem__([0, 3], 0.0), x)[1], R(3, 2))
    err("X[mask] = wrong count", lambda x, v: (x.__setitem__(x > -99, v), x)[1], R(3, 2), R(5))
    err("X[:, 0] = v wrong shape", lambda x, v: (x.__setitem__((slice(None), 0), v), x)[1], R(3, 2), R(2))
    err("np.put raise out of range", lambda x: (np.put(x, [12], 1.0), x)[1], R(3, 4))
    err("fill_diagonal 1-D", lambda x: (np.fill_diagonal(x, 1.0), x)[1], R(3))
    err("np.add.at out of range", lambda x: (np.add.at(x, [3], 1.0), x)[1], R(3))
    err("np.place mask size", lambda x, v: (np.place(x, np.array([True, False]), v), x)[1], R(3), R(1))


    # =============================================================== joining / splitting / padding
    R(2, 3), R(2, 3)  # (draws kept: the later cases' inputs follow from the generator's sequence)
    case("concatenate axis=None 2-D+1-D", lambda x, y: np.concatenate([x, y], axis=None), R(2, 2), R(3))
    case("concatenate axis=-2", lambda x, y: np.concatenate((x, y), axis=-2), R(2, 3), R(1, 3))
    case("concatenate 0-length constant", lambda x, y: np.concatenate([x, np.zeros(0), y]), R(3), R(2))
    case("concatenate 0-length traced", lambda x: np.concatenate([x[:0], x, x[5:]]), R(3))
    case("concatenate single", lambda x: np.concatenate([x]), R(2, 3))
    case("concatenate same twice", lambda x: np.concatenate([x, x, 2 * x], axis=1), R(2, 2))
    case("concatenate tuple of list const", lambda x: np.concatenate(([1.0, 2.0], x)), R(3))
    case("concatenate dtype=", lambda x, y: np.concatenate([x, y], dtype=np.float64), R(2), R(3))
    case("concatenate 3-D axis=1 mixed", lambda x: np.concatenate([x, np.ones((2, 1, 4)), x[:, :1]], axis=1), X3)
    case("stack of 0-d", lambda x: np.stack([x[0, 0], x[1, 1], np.float64(3.0)]), R(2, 2))
    case("stack axis=-1 of 0-d", lambda x: np.stack([x[0], x[1]], axis=-1), R(2))
    case("stack axis=2 3 pieces", lambda x, y: np.stack([x, y, x * y], axis=2), R(2, 3), R(2, 3))
    case("stack axis=-3", lambda x: np.stack([x, x.T.T], axis=-3), R(2, 3))
    case("stack generator->tuple", lambda x: np.stack(tuple(x[i] for i in range(2))), R(2, 3))
    case("hstack 1-D + 0-d", lambda x: np.hstack([x, x[0], 1.0]), R(3))
    case("vstack 1-D", lambda x, y: np.vstack([x, y, np.ones(3)]), R(3), R(3))
    case("dstack 1-D", lambda x, y: np.dstack([x, y]), R(3), R(3))
    case("column_stack 1-D+2-D", lambda x, y: np.column_stack([x, y, np.zeros(2)]), R(2), R(2, 2))
    case("block nested mixed", lambda x, v: np.block([[x, v[:, None]], [np.zeros((1, 2)), np.ones((1, 1))]]),
         R(2, 2), R(2))
    case("block 3-deep", lambda x: np.block([[[x, x]], [[x, np.ones((1, 2, 2))]]]), R(1, 2, 2))
    case("block 1-D list", lambda x: np.block([x, 2.0, x[:1]]), R(3))
    case("block scalars 2-D", lambda x: np.block([[x[0], 1.0], [2.0, x[1]]]), R(2))
    case("block single", lambda x: np.block(x), R(2, 2))
    case("block [[x]]", lambda x: np.block([[x]]), R(3))
    case("r_ slices", lambda x: np.r_[x, 0:3, x[:1]], R(2))
    case("r_ '0,2'", lambda x, y: np.r_["0,2", x, y], R(3), R(3))
    case("r_ '-1'", lambda x, y: np.r_["-1", x, y], R(2, 2), R(2, 1))
    case("r_ '1,2,0'", lambda x, y: np.r_["1,2,0", x, y], R(3), R(3))
    case("r_ linspace slice", lambda x: np.r_[x, -1:1:3j], R(2))
    case("c_ 1-D", lambda x, y: np.c_[x, y], R(3), R(3))
    case("c_ 2-D + 1-D", lambda x, y: np.c_[x, y], R(3, 2), R(3))
    case("r_ 'r'", lambda x: np.r_["r", x, x], R(2))
    for sect in ([1, 3], [0, 0, 2], [2, 10], [3, 1]):
        for k in range(len(sect) + 1):
            case(f"split {sect}[{k}] axis=1", lambda x, s=sect, k=k: np.split(x, s, axis=1)[k], R(2, 4), hess=False)
    for sect in (3, 5):
        for k in range(sect):
            case(f"array_split {sect}[{k}] axis=-1", lambda x, s=sect, k=k: np.array_split(x, s, axis=-1)[k], R(2, 4),
                 hess=False)
    case("array_split idx list", lambda x: np.array_split(x, [1, 1, 2])[2], R(3, 2))
    case("split all pieces concat", lambda x: np.concatenate(np.split(x, 2, axis=0)[::-1]), R(4, 2))
    case("hsplit 1-D", lambda x: np.hsplit(x, [2])[1], R(5))
    case("vsplit", lambda x: np.vsplit(x, 2)[1], R(4, 2))
    case("dsplit", lambda x: np.dsplit(x, [1])[1], X3)
    case("unstack axis=-1", lambda x: np.unstack(x, axis=-1)[2], X3)
    for pw in (1, (1,), (1, 2), ((1, 2),), ((1, 2), (0, 3)), [[0, 0], [2, 0]], np.array([[1, 0], [0, 1]])):
        case(f"pad constant pw={np.asarray(pw).tolist()}", lambda x, pw=pw: np.pad(x, pw), R(2, 3))
    for cv in (2.5, (1.0,), (1.0, 2.0), ((1.0, 2.0),), ((1.0, 2.0), (3.0, 4.0))):
        case(f"pad constant_values={cv}", lambda x, cv=cv: np.pad(x, ((1, 1), (2, 1)), constant_values=cv), R(2, 3))
    for mode in ("edge", "reflect", "symmetric", "wrap", "linear_ramp", "maximum", "minimum", "mean", "median"):
        case(f"pad {mode} wide (7 > size)", lambda x, m=mode: np.pad(x, (7, 4), mode=m), R(3))
        case(f"pad {mode} zero width on axis", lambda x, m=mode: np.pad(x, ((0, 0), (1, 2)), mode=m), R(2, 3))
    case("pad stat_length", lambda x: np.pad(x, 2, mode="mean", stat_length=2), R(5))
    case("pad stat_length pairs", lambda x: np.pad(x, ((1, 1), (2, 0)), mode="maximum", stat_length=((1, 2), (2, 1))),
         R(3, 4))
    case("pad linear_ramp end_values", lambda x: np.pad(x, (2, 3), mode="linear_ramp", end_values=(1.0, -2.0)), R(3))
    case("pad symmetric odd", lambda x: np.pad(x, 3, mode="symmetric", reflect_type="odd"), R(4))
    case("pad empty mode", lambda x: np.pad(x, 0), R(3))
    case("append axis=0", lambda x, y: np.append(x, y, axis=0), R(2, 3), R(1, 3))
    case("insert several traced", lambda x, v: np.insert(x, [1, 1, 3], v), R(4), R(3))
    case("insert axis=1 scalar", lambda x: np.insert(x, 2, 7.0, axis=1), R(2, 3))
    case("insert slice", lambda x, v: np.insert(x, slice(0, 3), v), R(4), R(3))
    case("insert negative", lambda x, v: np.insert(x, -1, v, axis=0), R(2, 3), R(3))
    case("delete slice", lambda x: np.delete(x, slice(None, None, 2), axis=1), R(2, 5))
    case("delete bool", lambda x: np.delete(x, np.array([True, False, True, False, False])), R(5))
    case("delete negative repeated", lambda x: np.delete(x, [-1, -1, 0]), R(5))
    case("resize grow", lambda x: np.resize(x, (3, 3)), R(2, 2))
    case("resize shrink", lambda x: np.resize(x, 3), R(2, 2))
    case("repeat axis=-1 array", lambda x: np.repeat(x, [2, 0, 1, 3], axis=-1), R(2, 4))
    case("tile 0 reps", lambda x: np.tile(x, (2, 0)), R(2), hess=False)
    case("tile 1-D reps on 2-D", lambda x: np.tile(x, 2), R(2, 2))
    case("trim_zeros const pad", lambda x: np.trim_zeros(np.concatenate([np.zeros(2), x, np.zeros(1)])), P(3))
    err("concatenate shape mismatch", lambda x, y: np.concatenate([x, y], axis=0), R(2, 3), R(2, 2))
    err("concatenate axis out of range", lambda x: np.concatenate([x, x], axis=2), R(2, 3))
    err("stack mismatch", lambda x, y: np.stack([x, y]), R(2), R(3))
    err("split unequal", lambda x: np.split(x, 3), R(4))
    err("block depth mismatch", lambda x: np.block([[x], x]), R(2))
    err("pad negative", lambda x: np.pad(x, -1), R(3))
    err("pad reflect on empty axis", lambda x: np.pad(x[:0], 1, mode="reflect"), R(3))
    err("array_split 0 sections", lambda x: np.array_split(x, 0), R(3))


    # =============================================================== products and contractions
    A, B, C = R(2, 3), R(3, 4), R(4, 2)
    case("einsum ...ij,...jk bcast", lambda x, y: np.einsum("...ij,...jk", x, y), R(2, 1, 2, 3), R(3, 3, 2))
    case("einsum ...ij,...jk->...ik", lambda x, y: np.einsum("...ij,...jk->...ik", x, y), R(3, 2, 3), R(3, 2))
    case("einsum i...,i...->...", lambda x, y: np.einsum("i...,i...->...", x, y), R(3, 2), R(3, 1))
    case("einsum ii->i", lambda x: np.einsum("ii->i", x), R(3, 3))
    case("einsum ii", lambda x: np.einsum("ii", x), R(3, 3))
    case("einsum iij->j", lambda x: np.einsum("iij->j", x), R(3, 3, 2))
    case("einsum iji->j", lambda x: np.einsum("iji->j", x), R(3, 2, 3))
    case("einsum iii->i", lambda x: np.einsum("iii->i", x), R(3, 3, 3))
    case("einsum ijij->ij", lambda x: np.einsum("ijij->ij", x), R(2, 3, 2, 3))
    case("einsum ii->ii? (ii->i)*", lambda x: np.einsum("ij,jj->ij", x, x), R(3, 3))
    case("einsum implicit ba", lambda x: np.einsum("ba", x), R(2, 3))
    case("einsum implicit ij,jk", lambda x, y: np.einsum("ij,jk", x, y), A, B)
    case("einsum implicit ij,ij", lambda x, y: np.einsum("ij,ij", x, y), A, R(2, 3))
    case("einsum implicit ji,jk", lambda x, y: np.einsum("ji,jk", x, y), R(3, 2), R(3, 4))
    case("einsum 3 ops", lambda x, y, z: np.einsum("ij,jk,ki->", x, y, z), A, B, C)
    case("einsum 4 ops", lambda x, y, z, w: np.einsum("ij,jk,kl,l->i", x, y, z, w), A, B, C, R(2))
    for opt in (True, "greedy", "optimal", False):
        case(f"einsum 4 ops optimize={opt}", lambda x, y, z, w, o=opt: np.einsum("ij,jk,kl,li->", x, y, z, w, optimize=o),
             A, B, C, R(2, 2))
    case("einsum explicit path", lambda x, y, z: np.einsum(
        "ij,jk,kl->il", x, y, z, optimize=np.einsum_path("ij,jk,kl->il", A, B, C, optimize="optimal")[0]), A, B, C)
    case("einsum uppercase", lambda x, y: np.einsum("Ab,bC->CA", x, y), A, B)
    case("einsum mixed case distinct", lambda x: np.einsum("aA->Aa", x), A)
    case("einsum same operand twice", lambda x: np.einsum("ij,ij->", x, x), A)
    case("einsum same operand 3x", lambda x: np.einsum("ij,jk,kl->il", x, x, x), R(3, 3))
    case("einsum const int operand", lambda x: np.einsum("ij,jk->ik", x, np.arange(12).reshape(3, 4)), A)
    case("einsum const int first", lambda x: np.einsum("ij,jk->ik", np.arange(6).reshape(3, 2), x), A)
    case("einsum bool const", lambda x: np.einsum("ij,ij->i", x, np.array([[True, False, True]] * 2)), A)
    case("einsum spaces", lambda x, y: np.einsum(" ij , jk -> ik ", x, y), A, B)
    case("einsum sublist", lambda x, y: np.einsum(x, [0, 1], y, [1, 2], [2, 0]), A, B)
    case("einsum sublist ellipsis", lambda x, y: np.einsum(x, [Ellipsis, 0], y, [0, Ellipsis]), R(2, 3), R(3, 2))
    case("einsum 0-d operand", lambda x, s: np.einsum(",ij->ji", s, x), A, R())
    case("einsum ->  scalar of 1-D", lambda x: np.einsum("i->", x), R(4))
    case("einsum outer i,j", lambda x, y: np.einsum("i,j", x, y), R(2), R(3))
    case("einsum repeated in two ops ii,ii->i", lambda x, y: np.einsum("ii,ii->i", x, y), R(3, 3), R(3, 3))
    case("einsum ellipsis only", lambda x: np.einsum("...", x), X3)
    case("einsum ...ii->...i", lambda x: np.einsum("...ii->...i", x), R(2, 3, 3))
    case("einsum size-1 bcast labels", lambda x, y: np.einsum("ij,ij->ij", x, y), R(2, 1), R(1, 3))
    case("einsum dim-1 contracted", lambda x, y: np.einsum("ij,jk->ik", x, y), R(2, 1), R(1, 3))
    case("einsum_path then einsum ints", lambda x: np.einsum("ij,j", x, np.array([1, 2, 3])), A)
    # tensordot
    for axes in (0, 1, 2, ([1], [0]), ([1, 0], [0, 1]), ([-1], [-2]), ([], []), (1, 0), ([-1, 0], [1, 0])):
        a, b = (R(2, 3), R(3, 2)) if axes not in (([1], [0]), ([-1], [-2])) else (R(2, 3), R(3, 3))
        if axes == 2:
            a, b = R(2, 3), R(2, 3)
        if axes == (1, 0):
            a, b = R(2, 3), R(3, 2)
        if axes == ([-1, 0], [1, 0]):
            a, b = R(2, 3), R(2, 3)
        case(f"tensordot axes={axes}", lambda x, y, ax=axes: np.tensordot(x, y, axes=ax), a, b)
    case("tensordot 3-D pairs", lambda x, y: np.tensordot(x, y, axes=([0, 2], [2, 0])), X3, R(4, 5, 2))
    case("tensordot same operand", lambda x: np.tensordot(x, x, axes=([0], [0])), A)
    # matmul / @
    case("matmul 1-D @ 2-D", lambda x, y: x @ y, R(3), B)
    case("matmul 2-D @ 1-D", lambda x, y: x @ y, A, R(3))
    case("matmul 1-D @ 1-D", lambda x, y: x @ y, R(3), R(3))
    case("matmul (1,3,4)@(2,4,5)", lambda x, y: x @ y, R(1, 3, 4), R(2, 4, 5))
    case("matmul 1-D @ 3-D", lambda x, y: np.matmul(x, y), R(3), R(2, 3, 2))
    case("matmul 3-D @ 1-D", lambda x, y: np.matmul(x, y), R(2, 2, 3), R(3))
    case("matmul (2,1,2,3)@(3,3,2)", lambda x, y: x @ y, R(2, 1, 2, 3), R(3, 3, 2))
    case("matmul X @ X", lambda x: x @ x @ x, R(3, 3))
    case("matmul X.T @ X", lambda x: x.T @ x, A)
    case("matmul const @ X", lambda x: np.arange(6.0).reshape(2, 3) @ x, B)
    case("matmul int const @ 1-D", lambda x: np.array([[1, 2], [3, 4]]) @ x, R(2))
    case("rmatmul list @ X", lambda x: [1.0, 2.0] @ x, A)
    case("matmul axes=", lambda x, y: np.matmul(x, y, axes=[(0, 1), (0, 1), (0, 1)]), R(3, 2), R(2, 4))
    case("matmul 0-size inner", lambda x, y: x @ y, R(2, 0), R(0, 3), hess=False)
    case("dot 0-d", lambda x, s: np.dot(s, x), A, R())
    case("dot 1-D 1-D", lambda x, y: np.dot(x, y), R(3), R(3))
    case("dot 2-D 1-D", lambda x, y: x.dot(y), A, R(3))
    case("dot N-D 1-D", lambda x, y: np.dot(x, y), X3, R(4))
    case("dot 1-D N-D", lambda x, y: np.dot(x, y), R(3), X3)
    case("vecdot axis=0", lambda x, y: np.vecdot(x, y, axis=0), A, R(2, 1))
    case("vecdot bcast", lambda x, y: np.vecdot(x, y), R(2, 1, 3), R(4, 3))
    case("linalg.vecdot axis=-2", lambda x, y: np.linalg.vecdot(x, y, axis=-2), R(3, 2), R(3, 2))
    case("matvec bcast", lambda x, y: np.matvec(x, y), R(2, 3, 4), R(5, 1, 4))
    case("vecmat bcast", lambda x, y: np.vecmat(x, y), R(2, 3), R(4, 1, 3, 2))
    case("matvec same", lambda x: np.matvec(x, x[0]), R(3, 3))
    for kw in (dict(), dict(axisa=0), dict(axisb=0, axisc=0), dict(axisa=0, axisb=-1, axisc=0), dict(axis=0)):
        a = R(3, 2) if kw.get("axisa") == 0 or kw.get("axis") == 0 else R(2, 3)
        b = R(3, 2) if kw.get("axisb") == 0 or kw.get("axis") == 0 else R(2, 3)
        case(f"cross {kw}", lambda x, y, kw=kw: np.cross(x, y, **kw), a, b)
    case("cross 2-vectors", lambda x, y: np.cross(x, y), R(2), R(2))
    case("cross 2x3 vectors", lambda x, y: np.cross(x, y), R(2), R(3))
    case("cross 3x2 vectors stack", lambda x, y: np.cross(x, y), R(4, 3), R(2))
    case("cross stack 2-vectors", lambda x, y: np.cross(x, y), R(4, 2), R(4, 2))
    case("cross const", lambda x: np.cross(x, [0.0, 0.0, 1.0]), R(3))
    case("cross same", lambda x: np.cross(x, x[::-1]), R(3))
    case("linalg.cross", lambda x, y: np.linalg.cross(x, y), R(2, 3), R(3))
    case("multi_dot 1-D ends", lambda x, y, z: np.linalg.multi_dot([x, y, z]), R(3), B, R(4))
    case("multi_dot 1-D first", lambda x, y, z: np.linalg.multi_dot([x, y, z]), R(2), R(2, 3), B)
    case("multi_dot 2 ops", lambda x, y: np.linalg.multi_dot([x, y]), A, B)
    case("multi_dot 4 ops const", lambda x, y: np.linalg.multi_dot([x, np.eye(3), y, np.ones((4, 2))]), A, B)
    case("outer N-D", lambda x, y: np.outer(x, y), R(2, 2), R(3, 1))
    case("outer same", lambda x: np.outer(x, x), R(3))
    case("linalg.outer", lambda x, y: np.linalg.outer(x, y), R(2), R(3))
    case("inner N-D", lambda x, y: np.inner(x, y), X3, R(2, 4))
    case("inner 0-d", lambda x, s: np.inner(x, s), A, R())
    case("inner same", lambda x: np.inner(x, x), A)
    case("vdot N-D", lambda x, y: np.vdot(x, y), X3, R(4, 6))
    case("vdot same", lambda x: np.vdot(x, x), A)
    case("kron 2-D 3-D", lambda x, y: np.kron(x, y), R(2, 2), R(2, 1, 2))
    case("kron 1-D 2-D", lambda x, y: np.kron(x, y), R(3), R(2, 2))
    case("kron 0-d", lambda x, s: np.kron(s, x), A, R())
    case("kron same", lambda x: np.kron(x, x), R(2, 2))
    case("kron const int", lambda x: np.kron(np.eye(2, dtype=int), x), A)
    case("ufunc.outer N-D", lambda x, y: np.multiply.outer(x, y), R(2, 2), R(3))
    case("trace of product", lambda x, y: np.trace(x @ y, offset=1), A, R(3, 2))
    err("matmul shape mismatch", lambda x, y: x @ y, A, A)
    err("matmul 0-d", lambda x, s: np.matmul(x, s), A, R())
    err("einsum bad label count", lambda x: np.einsum("ijk", x), A)
    err("einsum mismatch dims", lambda x, y: np.einsum("ij,ij->", x, y), A, B)
    err("einsum ii non-square", lambda x: np.einsum("ii", x), A)
    err("einsum output label not in input", lambda x: np.einsum("ij->k", x), A)
    err("tensordot mismatch", lambda x, y: np.tensordot(x, y, axes=1), A, A)
    err("cross 4-vectors", lambda x, y: np.cross(x, y), R(4), R(4))
    err("vecdot mismatch", lambda x, y: np.vecdot(x, y), R(3), R(4))
    err("multi_dot single", lambda x: np.linalg.multi_dot([x]), A)
    err("dot mismatch", lambda x, y: np.dot(x, y), R(3), R(4))


    # =============================================================== aliases and made-like arrays
    def alias_asarray(x, v):
        y = np.asarray(x)  # NumPy: y IS x
        y[0] = v
        return x * 1.0


    case("y=np.asarray(x); y[0]=v; return x (alias)", alias_asarray, R(3, 2), R(2))


    def alias_asarray_read(x):
        y = np.asarray(x)
        x[1] = 2.0 * x[0]
        return y * 1.0


    case("y=np.asarray(x); x[1]=..; return y (alias)", alias_asarray_read, R(3, 2))


    def alias_conj(x, v):
        y = x.conj()  # NumPy: a real array's conj() is the array itself
        y[0] = v
        return x * 1.0


    case("y=x.conj(); y[0]=v; return x (alias)", alias_conj, R(3, 2), R(2))
    case("full_like(x, traced, shape=)", lambda x: np.full_like(x, x[0, 0], shape=(5,)) * x[1, 1], R(2, 3))
    case("full_like(x, traced col, shape=3-D)", lambda x: np.full_like(x, x[:, :1], shape=(2, 2, 3)), R(2, 3))
    case("full_like(x, traced, dtype=f64)", lambda x: np.full_like(x, x[0, 0], dtype=np.float64), R(2, 3))
    case("insert list traced+const", lambda x: np.insert(x, [0, 2], [x[1], 5.0]), R(4))
    case("insert nested list traced", lambda x: np.insert(x, 1, [[x[0, 0]], [7.0]], axis=1), R(2, 3))




    # =============================================================== structure at scale (n = 1000)
    scale("concatenate axis=0", lambda x, y: np.concatenate([x, y]), 2)
    scale("concatenate axis=1 with const", lambda x: np.concatenate([x, np.ones((1000, 3))], axis=1))
    scale("concatenate axis=None", lambda x: np.concatenate([x, x], axis=None))
    scale("stack axis=0", lambda x, y: np.stack([x, y]), 2)
    scale("stack axis=-1", lambda x, y: np.stack([x, y], axis=-1), 2)
    scale("block 2x2", lambda x: np.block([[x, x], [x, x]]))
    scale("X[idx rows]", lambda x: x[np.arange(0, 1000, 2)])
    scale("X[:, repeated idx]", lambda x: x[:, np.r_[0:1000, 0:10]])
    scale("X[mask]", lambda x: x[x > 0])
    scale("X[ix_]", lambda x: x[np.ix_(np.arange(500), np.arange(0, 1000, 3))])
    scale("X[::-1, 1:]", lambda x: x[::-1, 1:])
    scale("take_along_axis argsort", lambda x: np.take_along_axis(x, np.argsort(x[:, :1], axis=0), axis=0))
    scale("np.where", lambda x, y: np.where(x > 0, x, y), 2)
    scale("np.where scalar", lambda x: np.where(x > 0, x, 0.0))
    scale("einsum ij->ji", lambda x: np.einsum("ij->ji", x))
    scale("einsum ij,ij->ij", lambda x, y: np.einsum("ij,ij->ij", x, y), 2)
    scale("einsum ii->i", lambda x: np.einsum("ii->i", x))
    scale("einsum ij,jk->ik", lambda x, y: np.einsum("ij,jk->ik", x, y), 2)
    scale("einsum ij->i", lambda x: np.einsum("ij->i", x))
    scale("einsum ...ij->...ji", lambda x: np.einsum("...ij->...ji", x))
    scale("setitem rows", lambda x: (lambda b: (b.__setitem__(slice(1, None), x[:-1]), b)[1])(np.zeros_like(x)))
    scale("X[[0,0,1]] = ...", lambda x: (x.__setitem__([0, 0, 1], x[[3, 4, 5]] * 2), x)[1])
    scale("np.add.at", lambda x: (np.add.at(x, [0, 0, 1], x[[5, 6, 7]]), x)[1])
    scale("np.pad", lambda x: np.pad(x, 2))
    scale("np.diagonal", lambda x: np.diagonal(x, 3))
    scale("np.kron tiny", lambda x: np.kron(np.eye(2), x))
    scale("np.tensordot axes=0 tiny", lambda x: np.tensordot(np.ones(2), x, axes=0))
    scale("np.split piece", lambda x: np.split(x, 4, axis=1)[2])
    scale("np.fill_diagonal", lambda x: (np.fill_diagonal(x, 0.0), x)[1])
    scale("np.copyto where", lambda x, y: (np.copyto(x, y, where=y > 0), x)[1], 2)
    scale("np.tile", lambda x: np.tile(x, (2, 1)))
    scale("np.repeat", lambda x: np.repeat(x, 2, axis=0))
    scale("np.put wrap", lambda x: (np.put(x, np.arange(0, 3_000_000, 7), x[0, 0] * 2.0, mode="wrap"), x)[1])
    scale("np.place", lambda x: (np.place(x, x > 1.0, x[0, :10]), x)[1])
    scale("np.take wrap", lambda x: np.take(x, np.arange(-500, 1500), axis=1, mode="wrap"))
    scale("np.insert col", lambda x: np.insert(x, [3, 500], x[:, :1], axis=1))
    scale("np.delete rows", lambda x: np.delete(x, np.s_[::3], axis=0))
    scale("X.T[[0,0,2]] = row", lambda x: (x.T.__setitem__([0, 0, 2], x[1]), x)[1])
    scale("einsum ij,j->ij const", lambda x: np.einsum("ij,j->ij", x, np.arange(1000.0)))
    scale("full_like traced fill", lambda x: np.full_like(x, x[0, 0]) + x)
    scale("zeros_like written", lambda x: (lambda b: (b.__setitem__((slice(None), 0), x[:, 1]), b)[1])(np.zeros_like(x)))
    return CASES, ERRORS, SCALE


def run(filter=None, scale=True, echo=None):
    """Run every case whose name contains ``filter`` (all when None); the scale cases
    only when ``scale``.

    Returns a :class:`Result`; ``echo(category, name, message)``, when given, is called
    for each finding (the script prints with it)."""
    t0 = time.perf_counter()
    rs = np.random.RandomState(SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases, errors, scale_cases = build_cases(rs)
        n1, f1 = run_cases(cases, filter, rs)
        n2, f2 = run_errors(errors, filter)
        n4, f4 = run_float32(filter, rs)
        n3, f3, lines = run_scale(scale_cases, filter) if scale else (0, [], [])
    findings = f1 + f4 + f2 + f3
    if echo is not None:
        for kind, name, msg in findings:
            echo(kind, name, msg)
    return Result(findings, n1 + n2 + n3 + n4, time.perf_counter() - t0, lines)


def main(argv):
    select = argv[argv.index("-k") + 1] if "-k" in argv else None
    result = run(select, scale="--no-scale" not in argv,
                 echo=lambda kind, name, msg: print(f"{kind:8s} {name}: {msg}", flush=True))
    if "-v" in argv:
        print("\n".join(result.scale_lines))
    counts = {}
    for kind, _, _ in result.findings:
        counts[kind] = counts.get(kind, 0) + 1
    failed_cases = len({(k, n) for k, n, _ in result.findings})
    print(f"\n{result.cases} cases: {result.cases - failed_cases} passed, "
          f"{failed_cases} failed {counts}  [{result.seconds:.0f} s]")


if __name__ == "__main__":
    main(sys.argv[1:])
