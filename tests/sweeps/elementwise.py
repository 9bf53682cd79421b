"""Adversarial sweep of kronvec's elementwise ufuncs (NumPy's and scipy.special's),
reductions and ndarray methods.

Inputs: every memory layout (C, Fortran, negative strides, strided, transposed, read-only,
broadcast views), odd shapes ((), (0,), (2, 0), 1×1), float32/int/bool/Python-scalar arguments,
float32 constants beside a float64 X, keyword combinations (axis tuples, keepdims, where=,
initial=, dtype=, ddof, out=), and kinks and ties (notes/conventions.md §7).  Each case is
checked in every mode: the value bit for bit against NumPy's, vjp/jvp against central
differences and the dot test, the structured Jacobian against its dense form (matvec and
rmatvec too), value_and_grad, the Hessian (symmetric, and against differences of the
gradient), inputs never modified, returned arrays owning their memory, and the same
transformed function from two threads at once.

Run standalone from the repository root (prints one line per finding and a summary):

    python tests/sweeps/elementwise.py [-k substr] [-v]

``-k`` keeps the cases whose name contains ``substr``; ``-v`` lists REFUSED findings too.
From Python, ``run(filter=None)`` returns the findings as (category, case name, message)
without printing (``tests/test_adversarial_sweeps.py`` holds them to an allow-list).
Categories:
  WRONG   a number differs from NumPy / finite differences / the documented convention
  CRASH   an internal error (not a clear kronvec refusal)
  UNCLEAR a refusal whose message does not name kronvec or what was called
  REFUSED a clear refusal of something NumPy accepts (not a defect by itself)

Every random draw comes from one generator seeded afresh by each ``run()``; the cases are
built anew by each run, so two runs in one process see the same inputs and nothing else is
kept between them.  Nothing is written to disk.
"""
import pathlib
import sys
import threading
import time
import warnings

import numpy as np
import scipy.special as sc

import kronvec

if str(pathlib.Path(__file__).resolve().parent) not in sys.path:  # (its sibling, run as a script or loaded by path)
    sys.path.append(str(pathlib.Path(__file__).resolve().parent))
from _sweep_checks import (  # noqa: E402
    Result, close, command_line, fd_dir, fd_grad, short, ulps, vec, where, with_const,
)

SEED = 12345


# ----------------------------------------------------------------- helpers
def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":
        return np.array_equal(a.view(np.uint8 if a.ndim == 0 else a.dtype), b.view(np.uint8 if b.ndim == 0 else b.dtype),
                              equal_nan=True) if a.ndim else (a == b or (np.isnan(a) and np.isnan(b)))
    return np.array_equal(a, b)


def clear_refusal(err):
    """kronvec's refusals name kronvec or the NumPy function the user called."""
    msg = str(err)
    return "kronvec" in msg or msg.startswith(("np.", "scipy.", "ndarray."))



# ----------------------------------------------------------------- the checker


# ----------------------------------------------------------------- the checker
def check(name, f, args, opts, rng):
    """Returns a list of (category, message); rng draws the cotangent and tangent directions."""
    out = []
    argnum = opts.get("argnum", 0)
    modes = opts.get("modes", ("value", "vjp", "jvp", "jac", "grad", "hess", "own"))
    rtol = opts.get("rtol", 1e-6)
    atol = opts.get("atol", 1e-7)
    eps = opts.get("eps", 1e-6)
    expect_grad = opts.get("expect_grad")  # explicit gradient (kinks, conventions)
    fd = opts.get("fd", expect_grad is None)
    ulp_ok = opts.get("ulp", 0)
    saved = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    X = args[argnum]
    F = with_const(f, args, argnum)
    try:
        ref = f(*args)
    except Exception as e:  # NumPy itself refuses: kronvec should refuse too (clearly)
        ref = e
    # -- value via vjp
    try:
        val, pull = kronvec.vjp(F, X)
    except Exception as e:
        if opts.get("expect_refusal"):
            if not clear_refusal(e):
                out.append(("UNCLEAR", "expected refusal, got: " + short(e)))
            return out
        if isinstance(ref, Exception):
            if not clear_refusal(e) and type(e) is not type(ref):
                out.append(("UNCLEAR", f"NumPy raises {short(ref)}; kronvec: {short(e)}"))
            return out
        if isinstance(e, (TypeError, ValueError, NotImplementedError)) and clear_refusal(e):
            out.append(("REFUSED", short(e)))
        elif isinstance(e, (TypeError, ValueError)):
            out.append(("UNCLEAR", short(e)))
        else:
            out.append(("CRASH", "vjp: " + short(e) + where(e)))
        return out
    if opts.get("expect_refusal"):
        out.append(("WRONG", "expected a refusal, got a value"))
        return out
    if isinstance(ref, Exception):
        out.append(("WRONG", f"NumPy raises {short(ref)} but kronvec returned a value"))
        return out
    ref_a = np.asarray(ref)
    val_a = np.asarray(val)
    if "value" in modes:
        if val_a.shape != ref_a.shape:
            out.append(("WRONG", f"value shape {val_a.shape} != NumPy {ref_a.shape}"))
            return out
        if val_a.dtype != ref_a.dtype and not (opts.get("dtype_ok") and opts["dtype_ok"](val_a.dtype, ref_a.dtype)):
            out.append(("WRONG", f"value dtype {val_a.dtype} != NumPy {ref_a.dtype}"))
        elif not same_bits(val_a.astype(ref_a.dtype), ref_a):
            u = ulps(val_a, ref_a)
            if u > ulp_ok:
                out.append(("WRONG", f"value differs from NumPy by {u:.3g} ulp (max abs {np.max(np.abs(val_a - ref_a)):.3g})"))
    xf = np.asarray(X, dtype=np.float64)
    Ff = lambda x: np.asarray(F(x), dtype=np.float64)  # differences in float64 even for a float32 X
    x_dtype = np.asarray(X).dtype
    lo = x_dtype == np.float32 or np.asarray(val).dtype == np.float32  # float32 arithmetic somewhere
    if lo:
        eps = max(eps, 1e-3)  # float32 rounding (1e-7) over a 1e-6 step would swamp the difference
    g_dtype_expected = np.float32 if x_dtype in (np.float32, np.float16) else np.float64
    u = rng.standard_normal(val_a.shape).astype(val_a.dtype if val_a.dtype.kind == "f" else np.float64)
    v = rng.standard_normal(np.shape(X))
    g = t = None
    if "vjp" in modes:
        try:
            g = pull(u)[0]
            gg = np.asarray(g)
            if gg.shape != np.shape(X):
                out.append(("WRONG", f"vjp shape {gg.shape} != X {np.shape(X)}"))
            if gg.dtype != g_dtype_expected and val_a.dtype.kind == "f":
                out.append(("WRONG", f"vjp dtype {gg.dtype} for X {x_dtype}, output {val_a.dtype}"))
            if fd and val_a.dtype.kind == "f":
                Fs = lambda x: np.sum(u.astype(np.float64) * Ff(x))
                gfd = fd_grad(Fs, xf, eps)
                if not close(gg, gfd, 1e-3 if lo else rtol, 1e-3 if lo else atol):
                    out.append(("WRONG", f"vjp vs FD: max err {np.max(np.abs(gg - gfd)):.3g}\n      got {gg.ravel()[:6]}\n      fd  {gfd.ravel()[:6]}"))
            if "own" in modes:
                gg_copy = gg.copy()
                if gg.size and gg.flags.writeable:
                    gg[...] = 777.0
                g2 = np.asarray(pull(u)[0])
                if not same_bits(g2, gg_copy):
                    out.append(("WRONG", "mutating a returned cotangent changed a later pullback"))
                g = gg_copy
        except Exception as e:
            out.append(("CRASH" if not clear_refusal(e) else "REFUSED", "vjp pullback: " + short(e)))
    if "jvp" in modes:
        try:
            val2, t = kronvec.jvp(F, (X,), (v.astype(x_dtype) if x_dtype.kind == "f" else v,))
            ta = np.asarray(t)
            if "value" in modes and not same_bits(np.asarray(val2), np.asarray(val)):
                out.append(("WRONG", "jvp's value differs from vjp's"))
            if ta.shape != val_a.shape:
                out.append(("WRONG", f"jvp tangent shape {ta.shape} != output {val_a.shape}"))
            elif fd and val_a.dtype.kind == "f":
                tfd = fd_dir(Ff, xf, v, eps)
                if not close(ta, tfd, 1e-3 if lo else rtol, 1e-3 if lo else atol):
                    out.append(("WRONG", f"jvp vs FD: max err {np.max(np.abs(ta - tfd)):.3g}"))
            if g is not None and ta.shape == val_a.shape:
                lhs = float(np.sum(np.asarray(g, dtype=np.float64) * v))
                rhs = float(np.sum(u.astype(np.float64) * ta))
                if abs(lhs - rhs) > 1e-8 * (1 + abs(lhs)) * (1e5 if lo else 1):
                    out.append(("WRONG", f"dot test <vjp(u),v>={lhs:.12g} != <u,jvp(v)>={rhs:.12g}"))
        except Exception as e:
            out.append(("CRASH" if not clear_refusal(e) else "REFUSED", "jvp: " + short(e)))
    if "jac" in modes and val_a.dtype.kind == "f":
        try:
            J = kronvec.jacobian(F)(X)
            if J.shape != (val_a.size, int(np.prod(np.shape(X)))):
                out.append(("WRONG", f"jacobian shape {J.shape}"))
            else:
                D = np.asarray(J.toarray())
                if g is not None and D.size:
                    if not close(D.T @ vec(u).astype(np.float64), vec(g), 1e-4 if lo else 1e-10, 1e-4 if lo else 1e-10):
                        out.append(("WRONG", f"dense Jacobianᵀu != vjp(u): max err {np.max(np.abs(D.T @ vec(u) - vec(g))):.3g}"))
                if t is not None and D.size:
                    if not close(D @ vec(v), vec(t), 1e-4 if lo else 1e-10, 1e-4 if lo else 1e-10):
                        out.append(("WRONG", f"dense Jacobian v != jvp(v): max err {np.max(np.abs(D @ vec(v) - vec(t))):.3g}"))
                    mv = np.asarray(J.matvec(vec(v)))
                    if not close(mv, D @ vec(v), 1e-4 if lo else 1e-10, 1e-4 if lo else 1e-10):
                        out.append(("WRONG", "J.matvec != dense"))
                    rv = np.asarray(J.rmatvec(vec(u).astype(np.float64)))
                    if not close(rv, D.T @ vec(u), 1e-4 if lo else 1e-10, 1e-4 if lo else 1e-10):
                        out.append(("WRONG", "J.rmatvec != denseᵀ"))
                if expect_grad is not None and val_a.size == 1:
                    if not close(D.reshape(np.shape(X), order="F") if D.size else D, expect_grad, 1e-12, 1e-12):
                        out.append(("WRONG", f"Jacobian row {D.ravel()} != convention {np.ravel(expect_grad)}"))
                if "own" in modes and D.size and D.flags.writeable:
                    Dc = D.copy()
                    D[...] = 5.0
                    if not same_bits(np.asarray(J.toarray()), Dc):
                        out.append(("WRONG", "mutating toarray() result changed a later toarray()"))
        except Exception as e:
            out.append(("CRASH" if not clear_refusal(e) else "REFUSED", "jacobian: " + short(e)))
    if val_a.size == 1 and val_a.dtype.kind == "f" and "grad" in modes:
        try:
            vg, G = kronvec.value_and_grad(F)(X)
            if "value" in modes and not same_bits(np.asarray(vg).reshape(()), ref_a.reshape(()).astype(np.asarray(vg).dtype)):
                if ulps(vg, ref_a) > ulp_ok:
                    out.append(("WRONG", f"value_and_grad value {vg!r} != NumPy {ref_a!r}"))
            G = np.asarray(G)
            if G.dtype != g_dtype_expected:
                out.append(("WRONG", f"grad dtype {G.dtype} for X {x_dtype}"))
            if expect_grad is not None:
                if not close(G, expect_grad, 1e-12, 1e-12):
                    out.append(("WRONG", f"grad {G.ravel()} != convention {np.ravel(expect_grad)}"))
            elif g is not None:
                us = float(np.asarray(u).reshape(()))
                if not close(G * us, g, 1e-5 if lo else 1e-10, 1e-6 if lo else 1e-12):
                    out.append(("WRONG", "grad != vjp(1)"))
            if "own" in modes and G.size:
                Gc = G.copy()
                G[...] = -3.0
                G2 = np.asarray(kronvec.grad(F)(X))
                if not same_bits(G2, Gc):
                    out.append(("WRONG", "mutating a returned gradient changed a later call"))
            if "hess" in modes and opts.get("order", 2) >= 2 and x_dtype == np.float64:
                H = kronvec.hessian(F)(X).toarray()
                n = int(np.prod(np.shape(X)))
                if H.shape != (n, n):
                    out.append(("WRONG", f"hessian shape {H.shape}"))
                else:
                    if not np.allclose(H, H.T, rtol=1e-8, atol=1e-10):
                        out.append(("WRONG", f"hessian not symmetric: {np.max(np.abs(H - H.T)):.3g}"))
                    if opts.get("expect_hess") is not None:
                        if not close(H, opts["expect_hess"], 1e-12, 1e-12):
                            out.append(("WRONG", f"hessian {H.ravel()} != convention {np.ravel(opts['expect_hess'])}"))
                    elif fd:
                        gradf = kronvec.grad(F)
                        Hfd = np.zeros((n, n))
                        for c in range(n):
                            E = np.zeros(n)
                            E[c] = 1.0
                            E = E.reshape(np.shape(X), order="F")
                            Hfd[:, c] = vec((np.asarray(gradf(xf + 1e-5 * E)) - np.asarray(gradf(xf - 1e-5 * E))) / 2e-5)
                        if not close(H, Hfd, 1e-5, 1e-6):
                            out.append(("WRONG", f"hessian vs FD of grad: {np.max(np.abs(H - Hfd)):.3g}"))
        except Exception as e:
            out.append(("CRASH" if not clear_refusal(e) else "REFUSED", "grad/hessian: " + short(e)))
    # float32 constants with a float64 X: NumPy promotes them to float64 before computing, so every
    # derivative must equal the one taken with the constants upcast (no float32 arithmetic inside)
    if x_dtype == np.float64 and val_a.dtype == np.float64 and g is not None and any(
            isinstance(a, np.ndarray) and a.dtype == np.float32 for k, a in enumerate(args) if k != argnum):
        up = [a.astype(np.float64) if k != argnum and isinstance(a, np.ndarray) and a.dtype == np.float32 else a
              for k, a in enumerate(args)]
        F64 = with_const(f, up, argnum)
        try:
            g64 = np.asarray(kronvec.vjp(F64, X)[1](u)[0])
            if not close(g, g64, 1e-13, 1e-300):
                out.append(("WRONG", f"f32 constant: vjp differs from the upcast one by {np.max(np.abs(g - g64)):.3g}"))
            if t is not None:
                t64 = np.asarray(kronvec.jvp(F64, (X,), (v,))[1])
                if not close(t, t64, 1e-13, 1e-300):
                    out.append(("WRONG", f"f32 constant: jvp differs from the upcast one by {np.max(np.abs(t - t64)):.3g}"))
            if "jac" in modes:
                D = np.asarray(kronvec.jacobian(F)(X).toarray(), dtype=np.float64)
                D64 = np.asarray(kronvec.jacobian(F64)(X).toarray())
                if not close(D, D64, 1e-13, 1e-300):
                    out.append(("WRONG", f"f32 constant: Jacobian differs from the upcast one by {np.max(np.abs(D - D64)):.3g}"))
        except Exception as e:
            out.append(("CRASH", "upcast oracle: " + short(e)))
    # inputs never modified
    for k, (a, s) in enumerate(zip(args, saved)):
        if isinstance(a, np.ndarray) and not same_bits(a, s):
            out.append(("WRONG", f"argument {k} was modified"))
    return out



def run_threads(name, f, X, reps=30):
    gradf = kronvec.grad(f)
    serial = np.asarray(gradf(X))
    results, errors = [], []

    def worker():
        try:
            for _ in range(reps):
                results.append(np.asarray(gradf(X)))
        except Exception as e:
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(2)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    out = []
    if errors:
        out.append(("CRASH", "threads: " + short(errors[0])))
    bad = sum(not same_bits(r, serial) for r in results)
    if bad:
        out.append(("WRONG", f"threads: {bad}/{len(results)} results differ from serial"))
    return out


def build_cases(rng):
    """The cases, drawn from ``rng``: a list of (name, f, args, opts) and a list of
    (name, f, X) run from two threads."""
    CASES, THREAD_CASES = [], []

    def case(name, f, *args, **opts):
        CASES.append((name, f, args, opts))

    # ================================================================ cases
    R = lambda *s: rng.standard_normal(s)
    P = lambda *s: rng.uniform(0.5, 1.5, s)
    U = lambda *s: rng.uniform(-0.9, 0.9, s)


    def layouts(X):
        """X in several memory layouts, all equal in value."""
        out = {"C": np.ascontiguousarray(X), "F": np.asfortranarray(X)}
        if X.ndim >= 1:
            out["neg"] = np.ascontiguousarray(X[::-1])[::-1]
            big = np.zeros(X.shape[:-1] + (2 * X.shape[-1],))
            big[..., ::2] = X
            out["strided"] = big[..., ::2]
        if X.ndim == 2:
            out["negF"] = np.asfortranarray(X[::-1, ::-1])[::-1, ::-1]
            out["T"] = np.ascontiguousarray(X.T).T
        ro = X.copy()
        ro.flags.writeable = False
        out["readonly"] = ro
        return out


    def bcast_view(shape, gen):
        row = gen(*shape[1:])
        return np.broadcast_to(row, shape)


    UNARY_NP = {"sin": R, "cos": R, "tan": U, "arcsin": U, "arccos": U, "arctan": R, "sinh": R, "cosh": R,
                "tanh": R, "arcsinh": R, "arccosh": lambda *s: P(*s) + 1.0, "arctanh": U, "exp": R, "exp2": R,
                "expm1": R, "log": P, "log2": P, "log10": P, "log1p": P, "sqrt": P, "cbrt": P, "square": R,
                "reciprocal": P, "negative": R, "positive": R, "absolute": P, "fabs": P, "deg2rad": R,
                "rad2deg": R, "degrees": R, "radians": R, "sinc": P, "i0": R, "conjugate": R}
    UNARY_SC = {"erf": R, "erfc": R, "erfcx": P, "erfinv": U, "erfcinv": P, "expit": R, "log_expit": R, "logit":
                lambda *s: rng.uniform(0.2, 0.8, s), "ndtr": R, "ndtri": lambda *s: rng.uniform(0.2, 0.8, s),
                "log_ndtr": R, "gammaln": P, "gamma": P, "rgamma": P, "digamma": P, "psi": P, "i0": R, "i0e": R,
                "i1": R, "i1e": R, "j0": R, "j1": R, "y0": P, "y1": P, "k0": P, "k1": P, "entr": P, "exp10": U,
                "exp2": R, "expm1": R, "log1p": P, "cbrt": P, "cosdg": R, "sindg": R, "cosm1": R, "gammasgn": P,
                "softplus": R}

    LAYOUT_UNARY = ["sin", "exp", "log", "sqrt", "tanh", "arctanh", "absolute", "reciprocal", "square", "cbrt"]
    LAYOUT_SC = ["erf", "gammaln", "expit", "log_ndtr", "i1e", "softplus", "ndtri"]
    for name in LAYOUT_UNARY:
        f = getattr(np, name)
        for lname, X in layouts(UNARY_NP[name](3, 4)).items():
            case(f"layout np.{name} X:{lname}", lambda x, f=f: f(x), X, modes=("value", "vjp", "jvp", "jac", "own"))
        case(f"layout np.{name} X:bcast", lambda x, f=f: f(x), bcast_view((3, 4), UNARY_NP[name]),
             modes=("value", "vjp", "jvp", "jac", "own"))
    for name in LAYOUT_SC:
        f = getattr(sc, name)
        for lname, X in layouts(UNARY_SC[name](3, 2)).items():
            case(f"layout sc.{name} X:{lname}", lambda x, f=f: f(x), X, modes=("value", "vjp", "jvp", "jac"))

    # every unary in odd shapes and dtypes
    for mod, table in (("np", UNARY_NP), ("sc", UNARY_SC)):
        for name, gen in table.items():
            f = getattr(np if mod == "np" else sc, name)
            for shape in [(), (0,), (1, 1), (2, 0), (1,)]:
                case(f"shape {mod}.{name} {shape}", lambda x, f=f: f(x), gen(*shape), modes=("value", "vjp", "jvp", "jac"))
            X = gen(2, 3)
            case(f"f32 {mod}.{name}", lambda x, f=f: f(x), X.astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
            case(f"pyscalar {mod}.{name}", lambda x, f=f: np.sum(f(x)), float(gen()), modes=("value", "vjp", "grad", "hess"))
            case(f"0d {mod}.{name}", lambda x, f=f: f(x), np.array(gen()), modes=("value", "vjp", "jvp", "jac", "grad", "hess"))
            case(f"npscalar {mod}.{name}", lambda x, f=f: f(x), np.float64(gen()), modes=("value", "vjp", "jvp", "grad"))
            case(f"f32scalar {mod}.{name}", lambda x, f=f: f(x), np.float32(gen()), modes=("value", "vjp", "jvp", "grad"))
        # integer/bool inputs: kronvec differentiates them as float64 (documented); NumPy's value dtype may be
        # float16/float32 for small ints: allow a float64 result as long as the numbers agree
    for name in ["sin", "exp", "sqrt", "square", "negative", "absolute", "reciprocal", "cbrt"]:
        f = getattr(np, name)
        for dt in (np.int64, np.int8, np.bool_):
            X = np.array([[1, 2], [3, 1]], dtype=dt) if dt is not np.bool_ else np.array([[True, False], [True, True]])
            case(f"int-input np.{name} {np.dtype(dt).name}", lambda x, f=f: f(x) * 1.0, X,
                 modes=("vjp", "jvp", "jac"), fd=False)
            case(f"int-input value np.{name} {np.dtype(dt).name}", lambda x, f=f: f(x) * 1.0, X,
                 modes=("value",), dtype_ok=lambda a, b: a == np.float64)

    # binary ufuncs: constants in odd layouts and dtypes, both argument positions
    BIN = {"add": (R, R), "subtract": (R, R), "multiply": (R, R), "divide": (R, P), "power": (P, R),
           "float_power": (P, R), "arctan2": (R, P), "hypot": (R, R), "logaddexp": (R, R), "logaddexp2": (R, R),
           "maximum": (R, R), "minimum": (R, R), "fmax": (R, R), "fmin": (R, R), "copysign": (P, R),
           "remainder": (P, lambda *s: P(*s) + 1.0), "fmod": (P, lambda *s: P(*s) + 1.0)}
    for name, (ga, gb) in BIN.items():
        f = getattr(np, name)
        A = ga(3, 4)
        B = gb(3, 4)
        for lname, Bl in layouts(B).items():
            case(f"const-layout np.{name}(X, C:{lname})", lambda x, c, f=f: f(x, c), A, Bl,
                 modes=("value", "vjp", "jvp", "jac"))
            case(f"const-layout np.{name}(C:{lname}, X) wrt X", lambda c, x, f=f: f(c, x), A, Bl, argnum=1,
                 modes=("value", "vjp", "jvp", "jac"))
        case(f"const-bcast np.{name}(X, C)", lambda x, c, f=f: f(x, c), A, bcast_view((3, 4), gb),
             modes=("value", "vjp", "jvp", "jac"))
        case(f"X-bcast np.{name}(X, C)", lambda x, c, f=f: f(x, c), bcast_view((3, 4), ga), B,
             modes=("value", "vjp", "jvp", "jac"))
        # dtype mixes
        case(f"mixed np.{name}(f32 X, f64 C)", lambda x, c, f=f: f(x, c), A.astype(np.float32), B,
             modes=("value", "vjp", "jvp", "jac"))
        case(f"mixed np.{name}(f64 X, f32 C)", lambda x, c, f=f: f(x, c), A, B.astype(np.float32),
             modes=("value", "vjp", "jvp", "jac"))
        case(f"mixed np.{name}(f32 X, pyfloat)", lambda x, f=f: f(x, 1.7), A.astype(np.float32),
             modes=("value", "vjp", "jvp", "jac"))
        case(f"mixed np.{name}(f32 X, np.float64 scalar)", lambda x, f=f: f(x, np.float64(1.7)),
             A.astype(np.float32), modes=("value", "vjp", "jvp", "jac"))
        case(f"mixed np.{name}(f32 X, 0-d f64 array)", lambda x, f=f: f(x, np.array(1.7)),
             A.astype(np.float32), modes=("value", "vjp", "jvp", "jac"))
        case(f"mixed np.{name}(f32 X, int array)", lambda x, f=f: f(x, np.array([[3, 2, 3, 4]])),
             A.astype(np.float32), modes=("value", "vjp", "jvp", "jac"))
        case(f"mixed np.{name}(f32 X, f32 Y) both", lambda x, f=f: f(x, x[::-1] + 2.0),
             ga(3, 4).astype(np.float32), modes=("value", "vjp", "jvp", "jac"))
        case(f"mixed np.{name}(X, pyint)", lambda x, f=f: f(x, 2), A, modes=("value", "vjp", "jvp", "jac"))
        case(f"mixed np.{name}(pyint, X)", lambda x, f=f: f(2, x), B, modes=("value", "vjp", "jvp", "jac"))
        case(f"0d np.{name}(X 0d, C 2d)", lambda x, c, f=f: f(x, c), np.array(ga()), B,
             modes=("value", "vjp", "jvp", "jac", "own"))
        case(f"same-arg np.{name}(X, X)", lambda x, f=f: f(x, x), ga(2, 3), modes=("value", "vjp", "jvp", "jac")
             , fd=name not in ("maximum", "minimum", "fmax", "fmin", "copysign", "remainder", "fmod"))
        case(f"shape0 np.{name}", lambda x, c, f=f: f(x, c), ga(0, 3), gb(1, 3), modes=("value", "vjp", "jvp", "jac"))

    SC_BIN = {"xlogy": (P, P), "xlog1py": (P, P), "rel_entr": (P, P), "kl_div": (P, P), "beta": (P, P),
              "betaln": (P, P), "gammainc": (P, P), "gammaincc": (P, P), "boxcox": (P, U), "boxcox1p": (P, U),
              "inv_boxcox": (U, U), "inv_boxcox1p": (U, U), "powm1": (P, U), "huber": (P, R), "pseudo_huber": (P, R),
              "jv": (lambda *s: np.full(s, 1.5), P), "yv": (lambda *s: np.full(s, 1.5), P),
              "iv": (lambda *s: np.full(s, 1.5), P), "ive": (lambda *s: np.full(s, 1.5), P),
              "kv": (lambda *s: np.full(s, 1.5), P), "kve": (lambda *s: np.full(s, 1.5), P),
              "stdtr": (lambda *s: np.full(s, 3.0), R)}
    for name, (ga, gb) in SC_BIN.items():
        f = getattr(sc, name)
        A, B = ga(2, 3), gb(2, 3)
        for argnum in (0, 1):
            for lname, L in (("F", np.asfortranarray), ("neg", lambda a: a[::-1].copy()[::-1]),
                             ("f32", lambda a: a.astype(np.float32))):
                args = [A, B]
                other = 1 - argnum
                args[other] = L(args[other])
                case(f"sc.{name} wrt {argnum} const:{lname}", lambda a, b, f=f: f(a, b), *args, argnum=argnum,
                     modes=("value", "vjp", "jvp", "jac"), rtol=1e-5, atol=1e-6)
            case(f"sc.{name} wrt {argnum} X:f32", lambda a, b, f=f: f(a, b),
                 *[x.astype(np.float32) if k == argnum else x for k, x in enumerate((A, B))], argnum=argnum,
                 modes=("value", "vjp", "jvp", "jac"))
            case(f"sc.{name} wrt {argnum} 0-d", lambda a, b, f=f: f(a, b),
                 *[np.array(x[0, 0]) if k == argnum else x for k, x in enumerate((A, B))], argnum=argnum,
                 modes=("value", "vjp", "jvp", "jac", "grad"), rtol=1e-5, atol=1e-6)
    for name, gens in {"betainc": (P, P, lambda *s: rng.uniform(0.2, 0.8, s)),
                       "betaincc": (P, P, lambda *s: rng.uniform(0.2, 0.8, s))}.items():
        f = getattr(sc, name)
        a, b, x = (g(2, 2) for g in gens)
        for argnum in (0, 1, 2):
            case(f"sc.{name} wrt {argnum} F-consts", lambda a, b, x, f=f: f(a, b, x),
                 *[np.asfortranarray(v) for v in (a, b, x)], argnum=argnum, modes=("value", "vjp", "jvp", "jac"),
                 rtol=1e-5, atol=1e-6)
    case("sc.jn(int n, X)", lambda x: sc.jn(2, x), P(2, 3), modes=("value", "vjp", "jvp", "jac"))
    case("sc.yn(int array n, X)", lambda x: sc.yn(np.array([[1], [2]]), x), P(2, 3), modes=("value", "vjp", "jvp", "jac"))

    # ================================================================ reductions
    RED = {"sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min, "amax": np.amax,
           "amin": np.amin, "var": np.var, "std": np.std, "ptp": np.ptp, "median": np.median,
           "nansum": np.nansum, "cumsum": np.cumsum, "cumprod": np.cumprod, "average": np.average,
           "add.reduce": np.add.reduce, "multiply.reduce": np.multiply.reduce, "maximum.reduce": np.maximum.reduce,
           "fmin.reduce": np.fmin.reduce, "quantile.3": lambda x, **k: np.quantile(x, 0.3, **k),
           "percentile70": lambda x, **k: np.percentile(x, 70.0, **k), "cumulative_sum": np.cumulative_sum}
    ALL = ("value", "vjp", "jvp", "jac", "grad", "hess", "own")
    KINKY = ("value", "vjp", "jvp", "jac", "grad", "own")
    for rname, f in RED.items():
        gen = P if "prod" in rname else R
        X = gen(2, 3, 4)
        for lname, Xl in list(layouts(X).items()) + [("bcast", bcast_view((2, 3, 4), gen))]:
            case(f"red-layout {rname}(X:{lname})", lambda x, f=f: f(x), Xl,
                 modes=KINKY if lname == "bcast" else ALL)
            if "cum" not in rname:
                case(f"red-layout {rname}(X:{lname}, axis=(-1,0))", lambda x, f=f: f(x, axis=(-1, 0)), Xl,
                     modes=("value", "vjp", "jvp", "jac", "own"))
            else:
                case(f"red-layout {rname}(X:{lname}, axis=-2)", lambda x, f=f: f(x, axis=-2), Xl,
                     modes=("value", "vjp", "jvp", "jac", "own"))
        X32 = X.astype(np.float32)
        case(f"red f32 {rname}", lambda x, f=f: f(x), X32, modes=("value", "vjp", "jvp", "jac", "grad"))
        case(f"red f32-F {rname}", lambda x, f=f: f(x), np.asfortranarray(X32), modes=("value", "vjp", "jvp", "grad"))
        case(f"red f32 {rname} axis=1", lambda x, f=f: f(x, axis=1), X32, modes=("value", "vjp", "jvp", "jac"))
        big = gen(3, 257).astype(np.float32)  # long enough for NumPy's pairwise summation blocks
        case(f"red f32-long {rname} axis=1", lambda x, f=f: f(x, axis=1), big, modes=("value",))
        case(f"red f32-long-F {rname} axis=None", lambda x, f=f: f(x), np.asfortranarray(big), modes=("value",))
        case(f"red f64-long-F {rname} axis=None", lambda x, f=f: f(x), np.asfortranarray(big.astype(np.float64)),
             modes=("value",))
        case(f"red f64-long-neg {rname} axis=None", lambda x, f=f: f(x), big.astype(np.float64)[::-1, ::-1],
             modes=("value",))
        case(f"red f64-long-T {rname} axis=0", lambda x, f=f: f(x, axis=0), big.astype(np.float64).T.copy().T.T,
             modes=("value",))
        case(f"red int {rname}", lambda x, f=f: f(x) * 1.0, np.array([[1, 2, 3], [4, 2, 1]]),
             modes=("value", "vjp", "jvp", "jac"), dtype_ok=lambda a, b: a == np.float64)
        case(f"red 0d {rname}", lambda x, f=f: f(x), np.array(gen()))
        case(f"red pyscalar {rname}", lambda x, f=f: f(x), float(gen()))
        case(f"red 1x1 {rname} axis=0", lambda x, f=f: f(x, axis=0), gen(1, 1))
        case(f"red (1,) {rname}", lambda x, f=f: f(x), gen(1))
        case(f"red (2,0) {rname} axis=1", lambda x, f=f: f(x, axis=1), gen(2, 0), modes=("value", "vjp", "jvp", "jac"))
        case(f"red (0,3) {rname} axis=1", lambda x, f=f: f(x, axis=1), gen(0, 3), modes=("value", "vjp", "jvp", "jac"))
        case(f"red (0,) {rname}", lambda x, f=f: f(x), gen(0), modes=("value", "vjp", "jvp", "jac"))
        if "cum" not in rname and "quantile" not in rname and "percentile" not in rname and rname not in (
                "median", "average", "ptp"):
            case(f"red keepdims+where {rname}", lambda x, f=f: f(x, axis=(0, -1), keepdims=True,
                                                                  where=np.array([True, False, True, True])),
                 X if rname not in ("max", "min", "amax", "amin", "maximum.reduce", "fmin.reduce") else X,
                 modes=("value", "vjp", "jvp", "jac"))
        if rname in ("sum", "prod", "max", "min", "amax", "amin", "add.reduce", "multiply.reduce", "maximum.reduce",
                     "fmin.reduce", "nansum"):
            case(f"red initial+where {rname}", lambda x, f=f: f(x, axis=1, initial=0.75,
                                                                 where=np.array([[True], [False], [True]])), X,
                 modes=("value", "vjp", "jvp", "jac"))
            case(f"red initial+where all-false {rname}", lambda x, f=f: f(x, axis=1, initial=0.75,
                                                                           where=np.zeros((3, 4), bool)), X,
                 modes=("value", "vjp", "jvp", "jac"))
        if rname in ("sum", "mean", "prod", "cumsum", "cumprod", "add.reduce", "multiply.reduce", "var", "std",
                     "nansum", "cumulative_sum"):
            case(f"red dtype=f32 {rname}", lambda x, f=f: f(x, dtype=np.float32), X, modes=("value", "vjp", "jvp", "jac"))
            case(f"red dtype=f64 on f32 {rname}", lambda x, f=f: f(x, dtype=np.float64), X32,
                 modes=("value", "vjp", "jvp", "jac"))
            case(f"red dtype=int {rname}", lambda x, f=f: f(x, dtype=np.int64) * 1.0, X * 3,
                 modes=("value", "vjp", "jvp"), fd=False)
        if rname not in ("average", "quantile.3", "percentile70", "median"):
            case(f"red out= {rname}", lambda x, f=f: f(x, axis=1, out=np.zeros((2, 4) if "cum" not in rname else (2, 3, 4))),
                 X, expect_refusal=True)
        case(f"red dup axis {rname}", lambda x, f=f: f(x, axis=(0, -3)), X, modes=("value",))
        case(f"red bad axis {rname}", lambda x, f=f: f(x, axis=3), X, modes=("value",))
        case(f"red np.int axis {rname}", lambda x, f=f: f(x, axis=np.int64(-1)), X, modes=("value", "vjp", "jvp"))

    for fn in ("var", "std"):
        f = getattr(np, fn)
        for ddof in (2, 3, 4, 7, 1.5, -1):
            case(f"{fn} ddof={ddof} n=3", lambda x, f=f, d=ddof: f(x, axis=1, ddof=d), R(2, 3),
                 modes=("value", "vjp", "jvp", "jac"))
        case(f"{fn} ddof where", lambda x, f=f: f(x, axis=1, ddof=1, where=np.array([True, True, False, True])), R(3, 4),
             modes=("value", "vjp", "jvp", "jac"))
        case(f"{fn} mean=", lambda x, f=f: f(x, axis=1, mean=np.mean(x, axis=1, keepdims=True)), R(3, 4),
             modes=("value", "vjp", "jvp", "jac"))
        case(f"{fn} correction=1", lambda x, f=f: f(x, axis=0, correction=1), R(3, 4), modes=("value", "vjp", "jvp", "jac"))
        case(f"{fn} zero spread", lambda x, f=f: f(x), np.full((2, 2), 0.3), expect_grad=np.zeros((2, 2)),
             expect_hess=np.zeros((4, 4)) if fn == "std" else None, fd=fn == "var")
    case("average weights F, axis=-1", lambda x, w: np.average(x, axis=-1, weights=w), R(3, 4), np.asfortranarray(P(3, 4)),
         modes=("value", "vjp", "jvp", "jac"))
    case("average weights wrt w", lambda x, w: np.average(x, axis=0, weights=w), R(3, 4), P(3), argnum=1)
    case("average keepdims", lambda x: np.average(x, axis=(0, 1), keepdims=True), R(2, 3, 2))
    case("average returned", lambda x: np.average(x, axis=1, weights=np.arange(1.0, 4.0), returned=True)[1] * x[:, 0],
         R(2, 3))
    case("mean int input dtype", lambda x: np.mean(x), np.array([1, 2, 4]), modes=("value", "vjp", "jvp"))
    case("sum bool input", lambda x: np.sum(x) * 1.0, np.array([True, False, True]), modes=("vjp", "jvp"), fd=False)
    case("median axis tuple neg", lambda x: np.median(x, axis=(-1, 0)), R(2, 3, 4))
    case("median keepdims", lambda x: np.median(x, axis=1, keepdims=True), R(2, 4, 3))
    case("quantile q array", lambda x: np.quantile(x, [0.1, 0.5, 0.9], axis=1), R(2, 5))
    case("quantile method=lower", lambda x: np.quantile(x, 0.4, method="lower"), R(6))
    case("quantile weights", lambda x: np.quantile(x, 0.4, weights=np.arange(1.0, 7.0), method="inverted_cdf"), R(6))

    # ================================================================ ndarray methods / attributes
    METH = [
        ("x.sum(axis=-1, keepdims=True)", lambda x: x.sum(axis=-1, keepdims=True)),
        ("x.sum(axis=(-2,-1))", lambda x: x.sum(axis=(-2, -1))),
        ("x.sum(where=)", lambda x: x.sum(where=np.array([True, False, True, False]))),
        ("x.sum(initial=)", lambda x: x.sum(initial=1.5)),
        ("x.mean(dtype=f32)", lambda x: x.mean(dtype=np.float32)),
        ("x.mean(axis=0, where=)", lambda x: x.mean(axis=0, where=np.array([[True], [False], [True]]))),
        ("x.max(axis=(0,-1))", lambda x: x.max(axis=(0, -1))),
        ("x.max(initial=, where=)", lambda x: x.max(axis=0, initial=-5.0, where=np.array([True, False, True, True]))),
        ("x.min(keepdims)", lambda x: x.min(axis=1, keepdims=True)),
        ("x.prod(axis=0, keepdims)", lambda x: x.prod(axis=0, keepdims=True)),
        ("x.prod(initial=2)", lambda x: x.prod(initial=2.0)),
        ("x.var(ddof=1, keepdims)", lambda x: x.var(ddof=1, axis=-1, keepdims=True)),
        ("x.std(axis=(-2,-1))", lambda x: x.std(axis=(-2, -1))),
        ("x.std(ddof=2)", lambda x: x.std(ddof=2)),
        ("x.cumsum(axis=-1)", lambda x: x.cumsum(axis=-1)),
        ("x.cumsum(dtype=f32)", lambda x: x.cumsum(dtype=np.float32)),
        ("x.cumprod(axis=0)", lambda x: x.cumprod(axis=0)),
        ("x.clip(C_lo, C_hi) arrays F", lambda x: x.clip(np.asfortranarray(np.full((3, 4), -0.5)), 0.5)),
        ("x.clip(max=)", lambda x: x.clip(max=0.2)),
        ("x.clip(None, bcast)", lambda x: x.clip(None, np.broadcast_to(np.array([0.1, 0.2, 0.3, 0.4]), (3, 4)))),
        ("x.round(2)", lambda x: x.round(2) * x),
        ("x.round(decimals=-1)", lambda x: x.round(decimals=-1) + x),
        ("x.repeat(2, axis=-1)", lambda x: x.repeat(2, axis=-1)),
        ("x.repeat([1,0,2], axis=0)", lambda x: x.repeat([1, 0, 2], axis=0)),
        ("x.swapaxes(-1, 0)", lambda x: x.swapaxes(-1, 0)),
        ("x.conj()", lambda x: x.conj()),
        ("x.conjugate()", lambda x: x.conjugate()),
        ("x.real", lambda x: x.real),
        ("x.imag + x", lambda x: x.imag + x),
        ("x.T", lambda x: x.T),
        ("x.mT", lambda x: x.mT),
        ("x.flatten('F')", lambda x: x.flatten("F")),
        ("x.ravel('K')", lambda x: x.ravel("K")),
        ("x.ravel('A')", lambda x: x.ravel("A")),
        ("x.reshape(order='F')", lambda x: x.reshape((4, 3), order="F")),
        ("x.reshape(-1)", lambda x: x.reshape(-1)),
        ("x.transpose()", lambda x: x.transpose()),
        ("x.transpose((1,0))", lambda x: x.transpose((1, 0))),
        ("x.squeeze() on (3,4)", lambda x: x.squeeze()),
        ("x.copy('F')", lambda x: x.copy("F")),
        ("x.copy('K')", lambda x: x.copy("K")),
        ("x.astype(f32)", lambda x: x.astype(np.float32)),
        ("x.astype(f32, order=F)", lambda x: x.astype(np.float32, order="F")),
        ("x.astype(int) * x", lambda x: x.astype(int) * x),
        ("x.astype(bool) * x", lambda x: x.astype(bool) * x),
        ("x.dot(C)", lambda x: x.dot(np.asfortranarray(np.arange(8.0).reshape(4, 2)))),
        ("x.trace()", lambda x: x.trace()),
        ("x.trace(offset=-1)", lambda x: x.trace(offset=-1)),
        ("x.diagonal(1)", lambda x: x.diagonal(1)),
        ("x.take([0,-1], axis=-1)", lambda x: x.take([0, -1], axis=-1)),
        ("x.take(mode=wrap)", lambda x: x.take([0, 13], mode="wrap")),
        ("x.take(mode=clip)", lambda x: x.take([0, 13, -4], mode="clip")),
        ("x * x.size", lambda x: x * x.size),
        ("x * x.ndim", lambda x: x * x.ndim),
        ("x * len(x)", lambda x: x * len(x)),
        ("x * x.shape[0]", lambda x: x * x.shape[0]),
        # (nbytes / itemsize is the size whatever the precision: x * x.itemsize itself is 4x at
        # float32 and 8x at float64, and the sweep's differences are taken in float64)
        ("x * (x.nbytes // x.itemsize)", lambda x: x * (x.nbytes // x.itemsize)),
        ("x.device", lambda x: x * (x.device == "cpu")),
        ("x.dtype used", lambda x: x * np.ones(3, dtype=x.dtype)[0]),
        ("np.zeros(x.shape, x.dtype) + x", lambda x: np.zeros(x.shape, x.dtype) + x),
        ("x.argmax() index", lambda x: x.ravel()[x.argmax()]),
        ("x.argmin(axis=1)", lambda x: np.take_along_axis(x, x.argmin(axis=1)[:, None], 1)),
        ("x.argsort(axis=0)", lambda x: np.take_along_axis(x, x.argsort(axis=0), 0)),
        ("x.nonzero()", lambda x: x[x.nonzero()]),
        ("x.all()/any() * x", lambda x: x * float(x.all()) + x * float(x.any())),
        ("x.sort() on copy", lambda x: (lambda y: (y.sort(axis=0), y)[1])(x * 1.0)),
        ("x.sort(axis=None) refused by NumPy", lambda x: (lambda y: (y.sort(axis=None), y)[1])(x * 1.0)),
        ("x.partition(1) on copy", lambda x: (lambda y: (y.partition(1), y)[1])(x * 1.0)),
        ("x.argpartition(1)", lambda x: np.take_along_axis(x, x.argpartition(1), -1)),
        ("x.fill on copy", lambda x: (lambda y: (y.fill(2.0), y * x)[1])(x * 1.0)),
        ("x.put on copy", lambda x: (lambda y: (y.put([0, 5], x[0, :2]), y)[1])(x * 2.0)),
        ("x.flat[i]", lambda x: x.flat[3] * x),
        ("x.tolist() refused", lambda x: np.sum(x.tolist())),
        ("x.item() refused", lambda x: x.item(0) * x),
        ("x.compress", lambda x: x.compress([True, False, True], axis=0)),
        ("x.searchsorted", lambda x: x[0] * x.ravel().searchsorted(0.0)),
        ("x.cumsum then [::-1]", lambda x: x.cumsum(axis=0)[::-1]),
        ("x.view()", lambda x: x.view() * 2),
        ("x[..., None].squeeze(-1)", lambda x: x[..., None].squeeze(-1)),
        ("x.__abs__", lambda x: abs(x)),
        ("x ** 2 .__pow__", lambda x: x ** 2),
        ("x.__rpow__ 2.0 ** x", lambda x: 2.0 ** x),
        ("x // 0.3 + x", lambda x: x // 0.3 + x),
        ("x % 0.3", lambda x: x % 0.3),
        ("divmod(x, 0.3)[1]", lambda x: divmod(x, 0.3)[1]),
        ("0.7 % x", lambda x: 0.7 % (x + 3.0)),
        ("x @ x.T", lambda x: x @ x.T),
        ("x.__neg__ f32 scalar mult", lambda x: -x * np.float32(2)),
        ("x.ptp? (removed in NumPy 2)", lambda x: np.ptp(x, axis=-1, keepdims=True)),
    ]
    for mname, f in METH:
        for lname, X in (("C", R(3, 4)), ("F", np.asfortranarray(R(3, 4))), ("neg", R(3, 4)[::-1, ::-1]),
                         ("f32", R(3, 4).astype(np.float32))):
            case(f"method {mname} X:{lname}", f, X, modes=("value", "vjp", "jvp", "jac", "own"),
                 fd="argmax" not in mname and "round" not in mname and "//" not in mname)

    # ================================================================ kinks and ties (conventions.md §7)
    A = np.array
    KINK = "value", "vjp", "jvp", "jac", "grad", "hess", "own"
    case("tie max 1d", lambda x: np.max(x), A([1.0, 3.0, 3.0, 2.0]), expect_grad=A([0, .5, .5, 0]),
         expect_hess=np.zeros((4, 4)))
    case("tie max F 2d axis0 sum", lambda x: np.sum(np.max(x, axis=0)), np.asfortranarray(A([[3.0, 1.0], [3.0, 2.0]])),
         expect_grad=A([[.5, 0], [.5, 1]]))
    case("tie max neg-stride", lambda x: np.max(x), A([2.0, 3.0, 3.0, 3.0])[::-1], expect_grad=A([1 / 3, 1 / 3, 1 / 3, 0]))
    case("tie amax all equal", lambda x: np.amax(x), np.full((2, 2), 0.5), expect_grad=np.full((2, 2), .25))
    case("tie max initial == max", lambda x: np.max(x, initial=3.0), A([1.0, 3.0]), expect_grad=A([0, .5]))
    case("tie max initial > max", lambda x: np.max(x, initial=4.0), A([1.0, 3.0]), expect_grad=A([0, 0.0]))
    case("tie max where excludes tie", lambda x: np.max(x, where=A([True, True, False]), initial=-10.0),
         A([3.0, 1.0, 3.0]), expect_grad=A([1.0, 0, 0]))
    case("tie max where+keepdims", lambda x: np.sum(np.max(x, axis=1, keepdims=True, initial=0.0,
                                                           where=A([[True, True, False], [False, True, True]]))),
         A([[2.0, 2.0, 5.0], [7.0, 1.0, 1.0]]), expect_grad=A([[.5, .5, 0], [0, .5, .5]]))
    case("tie min axis tuple neg", lambda x: np.sum(np.min(x, axis=(-1, -2))), np.ones((2, 2, 2)),
         expect_grad=np.full((2, 2, 2), .25))
    case("tie x.max()", lambda x: x.max(), A([[1.0, 4.0], [4.0, 4.0]]), expect_grad=A([[0, 1 / 3], [1 / 3, 1 / 3]]))
    case("tie maximum.reduce", lambda x: np.maximum.reduce(x), A([4.0, 1.0, 4.0]), expect_grad=A([.5, 0, .5]))
    case("tie fmin.reduce", lambda x: np.fmin.reduce(x), A([1.0, 1.0, 4.0]), expect_grad=A([.5, .5, 0]))
    case("tie maximum.accumulate", lambda x: np.sum(np.maximum.accumulate(x)), A([1.0, 3.0, 3.0, 2.0]),
         expect_grad=A([1.0, 2.0, 1.0, 0.0]))
    case("tie ptp", lambda x: np.ptp(x), A([3.0, 1.0, 3.0, 1.0]), expect_grad=A([.5, -.5, .5, -.5]))
    case("tie ptp all equal", lambda x: np.ptp(x), A([2.0, 2.0]), expect_grad=A([0.0, 0.0]))
    case("tie median odd 3 equal", lambda x: np.median(x), A([2.0, 2.0, 2.0, 1.0, 3.0]),
         expect_grad=A([1 / 3, 1 / 3, 1 / 3, 0, 0]))
    case("tie median even", lambda x: np.median(x), A([1.0, 2.0, 2.0, 3.0]), expect_grad=A([0, .5, .5, 0]))
    case("tie median even 3 equal", lambda x: np.median(x), A([1.0, 2.0, 2.0, 2.0, 3.0, 3.0]),
         expect_grad=A([0, 1 / 3, 1 / 3, 1 / 3, 0, 0]))
    case("tie median axis F", lambda x: np.sum(np.median(x, axis=0)), np.asfortranarray(A([[1.0, 5.0], [1.0, 5.0], [0.0, 6.0]])),
         expect_grad=A([[.5, .5], [.5, .5], [0, 0]]))
    case("tie median all equal", lambda x: np.median(x), np.full(4, 7.0), expect_grad=np.full(4, .25))
    case("tie quantile linear", lambda x: np.quantile(x, 0.5), A([1.0, 2.0, 2.0, 4.0]), expect_grad=A([0, .5, .5, 0]))
    case("tie sort stable", lambda x: np.sort(x) @ A([1.0, 2.0, 3.0, 4.0]), A([2.0, 1.0, 2.0, 0.0]),
         expect_grad=A([3.0, 2.0, 4.0, 1.0]))
    case("tie sort stable neg-stride", lambda x: np.sort(x) @ A([1.0, 2.0, 3.0, 4.0]), A([0.0, 2.0, 1.0, 2.0])[::-1],
         expect_grad=A([3.0, 2.0, 4.0, 1.0]))
    case("tie sort kind=quicksort", lambda x: np.sort(x, kind="quicksort") @ A([1.0, 2.0, 3.0]), A([2.0, 2.0, 1.0]),
         modes=("value", "vjp", "jvp", "jac"), fd=False)
    case("tie abs at 0", lambda x: np.sum(np.abs(x)), A([0.0, -0.0, 1.0, -2.0]), expect_grad=A([0, 0, 1.0, -1.0]),
         expect_hess=np.zeros((4, 4)))
    case("tie fabs at 0", lambda x: np.sum(np.fabs(x)), A([0.0, -0.0]), expect_grad=A([0.0, 0.0]))
    case("tie maximum(x, 0)", lambda x: np.sum(np.maximum(x, 0.0)), A([0.0, 1.0, -1.0]), expect_grad=A([.5, 1, 0]))
    case("tie maximum(x, -0.0)", lambda x: np.sum(np.maximum(x, -0.0)), A([0.0, -0.0]), expect_grad=A([.5, .5]))
    case("tie maximum(x, x[::-1])", lambda x: np.sum(np.maximum(x, x[::-1])), A([1.0, 2.0, 3.0]),
         expect_grad=A([0.0, 1.0, 2.0]))
    case("tie minimum(x,x)", lambda x: np.sum(np.minimum(x, x)), A([1.0, 2.0]), expect_grad=A([1.0, 1.0]))
    case("tie max+min identity", lambda x: np.sum(np.maximum(x, 0.0) + np.minimum(x, 0.0)), A([0.0, 1.0]),
         expect_grad=A([1.0, 1.0]))
    case("tie fmax(x,x)", lambda x: np.sum(np.fmax(x, x)), A([1.0, 2.0]), expect_grad=A([1.0, 1.0]))
    case("tie clip at bounds", lambda x: np.sum(np.clip(x, 0.0, 1.0)), A([0.0, 1.0, 0.5, 2.0]),
         expect_grad=A([.5, .5, 1.0, 0.0]))
    case("tie clip l=h=x", lambda x: np.sum(np.clip(x, 1.0, 1.0)), A([1.0]), expect_grad=A([.25]))
    case("tie clip l>h", lambda x: np.sum(np.clip(x, 2.0, 1.0)), A([1.5, 1.0]), expect_grad=A([0.0, 0.0]))
    case("tie x.clip(min=0) at 0", lambda x: np.sum(x.clip(min=0.0)), A([0.0, -1.0]), expect_grad=A([.5, 0.0]))
    case("tie clip inf bound", lambda x: np.sum(np.clip(x, 0.0, np.inf)), A([0.0, 2.0]), expect_grad=A([.5, 1.0]))
    case("tie clip in lo", lambda lo: np.sum(np.clip(A([0.0, 1.0]), lo, 3.0)), A([0.0, 2.0]), expect_grad=A([.5, 1.0]))
    case("kink sign*x", lambda x: np.sum(np.sign(x) * x), A([0.0, 1.0, -2.0]), expect_grad=A([0.0, 1.0, -1.0]),
         expect_hess=np.zeros((3, 3)))
    for fl in ("floor", "ceil", "trunc", "rint", "fix", "round", "around"):
        case(f"kink {fl} at integers", lambda x, fl=fl: np.sum(getattr(np, fl)(x) * x), A([1.0, -2.0, 0.5, 2.5]),
             expect_grad=getattr(np, fl)(A([1.0, -2.0, 0.5, 2.5])), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink floor_divide", lambda x: np.sum(np.floor_divide(x, 0.5) * x), A([1.0, 0.75]),
         expect_grad=A([2.0, 1.0]), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink heaviside", lambda x: np.sum(np.heaviside(x, 0.5) * x), A([0.0, 1.0]), expect_grad=A([.5, 1.0]))
    case("kink remainder 1%0.1 in y", lambda y: np.remainder(1.0, y), A(0.1), expect_grad=A(-9.0),
         modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink remainder in x at jump", lambda x: np.sum(np.remainder(x, 1.0)), A([1.0, -1.0, 2.0]),
         expect_grad=A([1.0, 1.0, 1.0]), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink fmod in y at jump", lambda y: np.sum(np.fmod(A([3.0, -3.0]), y)), A([1.5, 1.5]),
         expect_grad=-np.trunc(A([3.0, -3.0]) / 1.5), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink remainder neg y", lambda y: np.sum(np.remainder(A([1.0, -1.0]), y)), A([-0.3, -0.3]),
         expect_grad=-np.floor(A([1.0, -1.0]) / -0.3), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink divmod[1]", lambda x: np.sum(np.divmod(x, 0.5)[1]), A([1.0, 0.7]), expect_grad=A([1.0, 1.0]),
         modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink modf", lambda x: np.sum(np.modf(x)[0]), A([1.0, -0.5]), expect_grad=A([1.0, 1.0]),
         modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink copysign x=0", lambda x: np.sum(np.copysign(x, A([1.0, -1.0]))), A([0.0, 0.0]), expect_grad=A([0.0, 0.0]))
    case("kink copysign y", lambda y: np.sum(np.copysign(A([2.0, 3.0]), y)), A([1.0, -1.0]), expect_grad=A([0.0, 0.0]))
    case("kink hypot 0,0", lambda x: np.hypot(x, 0.0), A(0.0), expect_grad=A(0.0), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink hypot 0,0 hessian refused", lambda x: np.hypot(x[0], x[1]), A([0.0, 0.0]), expect_grad=A([0.0, 0.0]),
         modes=("hess",), fd=False)
    case("kink power(x,0) at 0", lambda x: np.sum(np.power(x, 0.0)), A([0.0, 1.0]), expect_grad=A([0.0, 0.0]),
         expect_hess=np.zeros((2, 2)))
    case("kink x**0 int at 0", lambda x: np.sum(x ** 0), A([0.0, 1.0]), expect_grad=A([0.0, 0.0]))
    case("kink power(0, p) in p", lambda p: np.sum(np.power(0.0, p)), A([2.0, 0.5]), expect_grad=A([0.0, 0.0]))
    case("kink x**2 at 0", lambda x: np.sum(x ** 2), A([0.0]), expect_grad=A([0.0]), expect_hess=A([[2.0]]))
    case("kink x**1 at 0", lambda x: np.sum(x ** 1), A([0.0]), expect_grad=A([1.0]), expect_hess=A([[0.0]]))
    case("kink x**3 at 0 hessian", lambda x: np.sum(x ** 3), A([0.0, 1.0]), expect_grad=A([0.0, 3.0]),
         expect_hess=A([[0.0, 0], [0, 6.0]]))
    case("kink x**2.0 neg x", lambda x: np.sum(x ** 2.0), A([-1.5]), expect_grad=A([-3.0]), expect_hess=A([[2.0]]))
    case("kink x**3.0 neg x", lambda x: np.sum(x ** 3.0), A([-1.5]), expect_grad=A([3 * 2.25]), expect_hess=A([[-9.0]]))
    case("kink float_power(x,2) neg", lambda x: np.sum(np.float_power(x, 2)), A([-1.5]), expect_grad=A([-3.0]),
         expect_hess=A([[2.0]]))
    case("kink power(x, 2) int array", lambda x: np.sum(np.power(x, A([2, 3]))), A([-1.5, -2.0]),
         expect_grad=A([-3.0, 12.0]), expect_hess=A([[2.0, 0], [0, -12.0]]))
    case("kink power(x, [2., 0.]) neg", lambda x: np.sum(np.power(x, A([2.0, 0.0]))), A([-1.5, -2.0]),
         expect_grad=A([-3.0, 0.0]))
    case("kink norm at 0", lambda x: np.linalg.norm(x), np.zeros((2, 2)), expect_grad=np.zeros((2, 2)),
         modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink maximum vs const bcast tie", lambda x: np.sum(np.maximum(x, np.broadcast_to(A([0.0, 1.0]), (2, 2)))),
         A([[0.0, 1.0], [0.0, 2.0]]), expect_grad=A([[.5, .5], [.5, 1.0]]))
    case("kink huber at delta", lambda r: sc.huber(1.0, r), A(1.0), expect_grad=A(1.0), expect_hess=A([[0.5]]))
    case("kink huber at delta wrt delta", lambda d: sc.huber(d, 1.0), A(1.0), expect_grad=A(0.0),
         modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink xlogy x=0 wrt y", lambda y: np.sum(sc.xlogy(A([0.0, 1.0]), y)), A([2.0, 2.0]), expect_grad=A([0.0, .5]))
    case("kink xlog1py x=0 wrt y", lambda y: np.sum(sc.xlog1py(A([0.0, 1.0]), y)), A([1.0, 1.0]), expect_grad=A([0.0, .5]))
    case("kink rel_entr x=0 wrt y", lambda y: np.sum(sc.rel_entr(A([0.0]), y)), A([2.0]), expect_grad=A([0.0]))
    case("kink kl_div x=0 wrt y", lambda y: np.sum(sc.kl_div(A([0.0]), y)), A([2.0]), expect_grad=A([1.0]))
    case("kink sqrt at 0", lambda x: np.sum(np.sqrt(x)), A([0.0, 1.0]), modes=("value", "vjp", "grad"), fd=False)
    case("kink prod one zero", lambda x: np.prod(x), A([0.0, 2.0, 3.0]), expect_grad=A([6.0, 0, 0]),
         expect_hess=A([[0, 3.0, 2.0], [3.0, 0, 0], [2.0, 0, 0]]))
    case("kink prod two zeros", lambda x: np.prod(x), A([0.0, 2.0, 0.0]), expect_grad=A([0.0, 0, 0]),
         expect_hess=A([[0, 0, 2.0], [0, 0, 0], [2.0, 0, 0]]))
    case("kink prod zero axis F", lambda x: np.sum(np.prod(x, axis=1)), np.asfortranarray(A([[0.0, 2.0], [3.0, 0.0]])),
         expect_grad=A([[2.0, 0.0], [0.0, 3.0]]))
    case("kink cumprod zero", lambda x: np.sum(np.cumprod(x)), A([2.0, 0.0, 3.0]), expect_grad=A([1.0, 2 + 6.0, 0.0]))
    case("kink cumprod two zeros", lambda x: np.sum(np.cumprod(x)), A([0.0, 0.0, 3.0]), expect_grad=A([1.0, 0.0, 0.0]))
    case("kink multiply.accumulate zero", lambda x: np.sum(np.multiply.accumulate(x)), A([2.0, 0.0, 3.0]),
         expect_grad=A([1.0, 8.0, 0.0]))
    case("kink x.prod(where) zero", lambda x: x.prod(where=A([True, True, False])), A([0.0, 2.0, 5.0]),
         expect_grad=A([2.0, 0.0, 0.0]))
    case("kink prod f32 zero", lambda x: np.prod(x), A([0.0, 2.0, 3.0], dtype=np.float32),
         expect_grad=A([6.0, 0, 0], dtype=np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("kink std at zero spread axis", lambda x: np.sum(np.std(x, axis=0)), np.ones((3, 2)), expect_grad=np.zeros((3, 2)),
         expect_hess=np.zeros((6, 6)))
    case("kink logaddexp tie", lambda x: np.logaddexp(x, 1.0), A(1.0), modes=KINK)
    case("kink arctan2(0, x)", lambda x: np.sum(np.arctan2(0.0, x)), A([1.0]), modes=KINK)

    # thread cases: same transformed function from 2 threads
    THREAD_CASES += [
        ("threads max ties", lambda x: np.max(x) + np.sum(np.median(x, axis=0)), np.ones((4, 3))),
        ("threads unary chain F", lambda x: np.sum(sc.erf(np.tanh(x)) * np.sqrt(np.abs(x) + 1.0)), np.asfortranarray(R(6, 5))),
        ("threads var ddof", lambda x: np.sum(np.var(x, axis=1, ddof=1)) + np.prod(x[0]), R(5, 4)),
        ("threads clip/remainder", lambda x: np.sum(np.clip(x, -0.3, 0.3) + np.remainder(x, 0.7)), R(8, 8)),
        ("threads f32", lambda x: np.sum(np.exp(x) * x), R(5, 5).astype(np.float32)),
    ]
    return CASES, THREAD_CASES


def run(filter=None, echo=None):
    """Run every case whose name contains ``filter`` (all when None).

    Returns a :class:`Result`; ``echo(category, name, message)``, when given, is called
    for each finding as it is found (the script prints with it)."""
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    findings, n = [], 0

    def report(cat, name, msg):
        findings.append((cat, name, msg))
        if echo is not None:
            echo(cat, name, msg)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases, thread_cases = build_cases(rng)
        for name, f, args, opts in cases:
            if filter and filter not in name:
                continue
            n += 1
            try:
                res = check(name, f, args, opts, rng)
            except Exception as e:
                res = [("CRASH", "checker: " + short(e))]
            for cat, msg in res:
                report(cat, name, msg)
        for name, f, X in thread_cases:
            if filter and filter not in name:
                continue
            n += 1
            for cat, msg in run_threads(name, f, X):
                report(cat, name, msg)
    return Result(findings, n, time.time() - t0)


if __name__ == "__main__":
    command_line(run, sys.argv[1:])
