"""Adversarial sweep of kronvec.scipy: special (logsumexp, softmax, log_softmax, multigammaln,
polygamma), stats (norm, t, chi2, gamma, beta, expon, laplace, logistic, cauchy, uniform,
lognorm, poisson, multivariate_normal, dirichlet), linalg (expm, logm, sqrtm,
fractional_matrix_power, cholesky/cho_solve, lu_factor/lu_solve, solve_triangular, solve with
assume_a, inv, det, eigh, solve_sylvester, Lyapunov), signal (convolve, correlate) and
integrate (odeint), with adversarial inputs: parameters at the edges of their domains (df → ∞,
shape parameters near 0, scale tiny or huge), far tails of log-CDFs, the support boundary,
loc/scale broadcast against x, keywords, float32, Fortran-order and negative-stride inputs,
0-d inputs, near-singular and near-defective matrices, SciPy's keyword options.

Every mode: value equal to SciPy's (bit for bit unless the case allows ulps; a few ulp is
ULP, more is WRONG), vjp vs central differences, jvp vs differences and the dot test
<vjp(u), v> = <u, jvp(v)>, structured Jacobian vs its dense form (and matvec/rmatvec),
value_and_grad, hessian of a scalarization vs differences of the gradient, inputs untouched,
results owning their memory.

    python tests/sweeps/scipy_functions.py [-k substr] [-v] [-u]

``run(filter=None, echo=None)`` returns (findings, cases, seconds); findings are
(category, case name, message) with the categories of tests/sweeps/linalg.py:
WRONG, CRASH, UNCLEAR, ULP (listed with -u), REFUSED (listed with -v).
The cases are built from one generator seeded afresh by each run(); each case's checks draw
from their own, seeded by its name, so that a case which starts running (a refusal lifted)
does not move the draws of the cases after it.
"""
import pathlib
import sys
import zlib


import numpy as np  # noqa: E402
import scipy.integrate  # noqa: E402
import scipy.linalg
import scipy.signal
import scipy.special
import scipy.stats

import kronvec
import kronvec.scipy.integrate as kint
import kronvec.scipy.linalg as kla
import kronvec.scipy.signal as ksig
import kronvec.scipy.special as ksp
import kronvec.scipy.stats as kst

if str(pathlib.Path(__file__).resolve().parent) not in sys.path:  # (its sibling, run as a script or loaded by path)
    sys.path.append(str(pathlib.Path(__file__).resolve().parent))
from _sweep_checks import command_line, owns, run_cases, same_bits, short, sym, where  # noqa: E402

SEED = 20261206
WRONG_ULP = 64  # beyond this many ulp from SciPy a value is WRONG, not ULP


# ----------------------------------------------------------------- helpers
def vec(a):
    return np.reshape(np.asarray(a), (-1,), order="F")


def ulps(a, b):
    """max distance in ulps of b's dtype; inf where one is NaN/inf and the other is not."""
    a, b = np.asarray(a), np.asarray(b)
    dt = b.dtype if b.dtype.kind == "f" else np.float64
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if same.all():
        return 0.0
    a, b = a[~same], b[~same]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return np.inf
    sp = np.spacing(np.maximum(np.abs(a), np.abs(b)).astype(dt)).astype(np.float64)
    return float(np.max(np.abs(a - b) / sp))


def close(a, b, rtol, atol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))



def clear_refusal(err, ref=None):
    msg = str(err)
    if isinstance(ref, Exception) and type(ref) is type(err):
        return True  # SciPy refuses too, with the same exception type
    return "kronvec" in msg or "scipy." in msg or msg.startswith(("np.", "ndarray."))


def fd_dir(F, X, V, eps):
    return (np.asarray(F(X + eps * V), dtype=np.float64) - np.asarray(F(X - eps * V), dtype=np.float64)) / (2 * eps)


def fd_grad(Fs, X, eps):
    G = np.zeros(np.shape(X))
    for idx in np.ndindex(*np.shape(X)):
        E = np.zeros(np.shape(X))
        E[idx] = 1.0
        G[idx] = float(fd_dir(Fs, X, E, eps))
    return G


# ----------------------------------------------------------------- the checker
def check(name, f, args, opts, rng):
    """(category, message) pairs for one case: f is kronvec's, opts['ref'] SciPy's (same args)."""
    out = []
    argnum = opts.get("argnum", 0)
    modes = opts.get("modes", ("value", "vjp", "jvp", "jac", "grad", "hess", "own"))
    rtol, eps = opts.get("rtol", 1e-6), opts.get("eps", 1e-6)
    ulp_ok = opts.get("ulp", 0)
    symfd = opts.get("sym", False)
    saved = [np.array(a, copy=True, order="K") if isinstance(a, np.ndarray) else a for a in args]
    saved_strides = [a.strides if isinstance(a, np.ndarray) else None for a in args]
    X = args[argnum]

    def F(x):
        a = list(args)
        a[argnum] = x
        return f(*a)

    Fd = (lambda x: F(sym(x))) if symfd else F
    ref_f = opts.get("ref")
    try:
        ref = ref_f(*[np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args])
    except Exception as e:
        ref = e
    try:
        plain = f(*args)
    except Exception as e:
        plain = e
    if isinstance(plain, Exception):
        if isinstance(ref, Exception):
            if not clear_refusal(plain, ref):
                out.append(("UNCLEAR", f"SciPy raises {short(ref)}; kronvec: {short(plain)}" + where(plain)))
        elif clear_refusal(plain):
            out.append(("REFUSED", "plain: " + short(plain)))
        else:
            out.append(("CRASH", "plain: " + short(plain) + where(plain)))
        return out
    if isinstance(ref, Exception):
        out.append(("WRONG", f"SciPy raises {short(ref)} but kronvec returned a value"))
        return out
    ref_a, plain_a = np.asarray(ref), np.asarray(plain)
    if "value" in modes:
        if plain_a.shape != ref_a.shape:
            out.append(("WRONG", f"value shape {plain_a.shape} != SciPy {ref_a.shape}"))
            return out
        if plain_a.dtype != ref_a.dtype and not opts.get("dtype_ok"):
            out.append(("WRONG", f"value dtype {plain_a.dtype} != SciPy {ref_a.dtype}"))
        if not same_bits(plain_a.astype(ref_a.dtype), ref_a):
            u_ = ulps(plain_a, ref_a)
            if u_ > max(ulp_ok, WRONG_ULP):
                bad = ~np.isclose(plain_a, ref_a, rtol=1e-13, atol=0) if plain_a.shape else np.array(True)
                out.append(("WRONG", f"value differs from SciPy by {u_:.3g} ulp: kronvec "
                                     f"{np.ravel(plain_a[bad] if plain_a.shape else plain_a)[:3]} SciPy "
                                     f"{np.ravel(ref_a[bad] if ref_a.shape else ref_a)[:3]}"))
            elif u_ > ulp_ok:
                out.append(("ULP", f"value differs from SciPy by {u_:.3g} ulp"))
    for k, (a, s, st) in enumerate(zip(args, saved, saved_strides)):
        if isinstance(a, np.ndarray) and (not same_bits(a, s) or a.strides != st):
            out.append(("WRONG", f"argument {k} was modified by the plain call"))
    if not opts.get("diff", True) or plain_a.dtype.kind != "f":
        return out
    try:
        val, pull = kronvec.vjp(F, X)
    except Exception as e:
        if opts.get("refusal_ok") and clear_refusal(e):
            return out
        cat = "REFUSED" if clear_refusal(e) else ("UNCLEAR" if isinstance(e, (TypeError, ValueError)) else "CRASH")
        out.append((cat, "vjp: " + short(e) + where(e)))
        return out
    val_a = np.asarray(val)
    if not same_bits(val_a, plain_a):
        u_ = ulps(val_a, plain_a)
        if u_ > ulp_ok:
            out.append(("WRONG" if u_ > max(ulp_ok, WRONG_ULP) else "ULP",
                        f"traced value differs from the plain call's by {u_:.3g} ulp"))
    xf = np.asarray(X, dtype=np.float64)
    Ff = lambda x: np.asarray(Fd(x), dtype=np.float64)
    x_dtype = np.asarray(X).dtype
    lo = x_dtype == np.float32 or val_a.dtype == np.float32
    if lo:
        eps = max(eps, 1e-3)
    frt = 1e-3 if lo else rtol
    u = rng.standard_normal(val_a.shape)
    v = rng.standard_normal(np.shape(X))
    if symfd:
        v = sym(v)
    g = t = None
    if "jac-only" in modes:
        modes = modes + ("vjp", "jvp", "jac")
    if "vjp" in modes:
        try:
            gg = np.asarray(pull(u.astype(val_a.dtype))[0])
            if gg.shape != np.shape(X):
                out.append(("WRONG", f"vjp shape {gg.shape} != X {np.shape(X)}"))
            Fs = lambda x: np.sum(u * Ff(x))
            gfd = fd_grad(Fs, xf, eps) if "jac-only" not in modes else gg
            if not close(gg, gfd, frt, frt * (1 + np.max(np.abs(gfd), initial=0))):
                out.append(("WRONG", f"vjp vs FD: max err {np.max(np.abs(gg - gfd)):.3g}; got {np.ravel(gg)[:4]} "
                                     f"fd {np.ravel(gfd)[:4]}"))
            if "own" in modes and (not owns(gg) or (isinstance(X, np.ndarray) and np.shares_memory(gg, X))):
                out.append(("WRONG", "vjp cotangent does not own its memory"))
            g = gg
        except Exception as e:
            out.append(("REFUSED" if clear_refusal(e) else "CRASH", "vjp pullback: " + short(e) + where(e)))
    if "jvp" in modes:
        try:
            _, t = kronvec.jvp(F, (X,), (v.astype(x_dtype),))
            t = np.asarray(t)
            tfd = fd_dir(Ff, xf, v, eps) if "jac-only" not in modes else t
            if t.shape != val_a.shape:
                out.append(("WRONG", f"jvp tangent shape {t.shape} != {val_a.shape}"))
            elif not close(t, tfd, frt, frt * (1 + np.max(np.abs(tfd), initial=0))):
                out.append(("WRONG", f"jvp vs FD: max err {np.max(np.abs(t - tfd)):.3g}"))
            if g is not None and t.shape == val_a.shape:
                lhs, rhs = float(np.sum(g * v)), float(np.sum(u * t))
                if abs(lhs - rhs) > (1e-4 if lo else 1e-9) * (1 + abs(lhs)):
                    out.append(("WRONG", f"dot test <vjp(u),v>={lhs:.12g} != <u,jvp(v)>={rhs:.12g}"))
        except Exception as e:
            out.append(("REFUSED" if clear_refusal(e) else "CRASH", "jvp: " + short(e) + where(e)))
    tol = 1e-4 if lo else 1e-9
    if "jac" in modes:
        try:
            J = kronvec.jacobian(F)(X)
            D = np.asarray(J.toarray(), dtype=np.float64)
            if D.shape != (val_a.size, int(np.prod(np.shape(X)))):
                out.append(("WRONG", f"jacobian shape {D.shape}"))
            else:
                sc = 1 + (np.max(np.abs(D)) if D.size else 0)
                if g is not None and not close(D.T @ vec(u), vec(g), tol, tol * sc):
                    out.append(("WRONG", "dense Jacobianᵀu != vjp(u)"))
                if t is not None:
                    if not close(D @ vec(v), vec(t), tol, tol * sc):
                        out.append(("WRONG", "dense Jacobian v != jvp(v)"))
                    if not close(np.asarray(J.matvec(vec(v))), D @ vec(v), tol, tol * sc):
                        out.append(("WRONG", "J.matvec != dense"))
                    if not close(np.asarray(J.rmatvec(vec(u))), D.T @ vec(u), tol, tol * sc):
                        out.append(("WRONG", "J.rmatvec != denseᵀ"))
        except Exception as e:
            out.append(("REFUSED" if clear_refusal(e) else "CRASH", "jacobian: " + short(e) + where(e)))
    if "grad" in modes:
        W = rng.standard_normal(val_a.shape)
        S = lambda x: np.sum(W * F(x))
        Sd = (lambda x: S(sym(x))) if symfd else S
        try:
            _, G = kronvec.value_and_grad(S)(X)
            G = np.asarray(G)
            gfd = fd_grad(lambda x: float(np.asarray(Sd(x), dtype=np.float64)), xf, eps)
            if not close(G, gfd, frt, frt * (1 + np.max(np.abs(gfd), initial=0))):
                out.append(("WRONG", f"grad vs FD: max err {np.max(np.abs(G - gfd)):.3g}"))
            if "own" in modes and not owns(G):
                out.append(("WRONG", "gradient does not own its memory"))
            if "hess" in modes and x_dtype == np.float64 and np.size(X) <= 9:
                H = np.asarray(kronvec.hessian(S)(X).toarray())
                n = int(np.prod(np.shape(X)))
                gradf = kronvec.grad(Sd)
                Hfd = np.zeros((n, n))
                h = opts.get("heps", 1e-5)
                for c in range(n):
                    E = np.zeros(n)
                    E[c] = 1.0
                    E = E.reshape(np.shape(X), order="F")
                    Hfd[:, c] = vec((np.asarray(gradf(xf + h * E)) - np.asarray(gradf(xf - h * E))) / (2 * h))
                if symfd:  # a function of a symmetric matrix: compare N·H·N with N = ½(I + K)
                    m_ = np.shape(X)[-1]
                    Kc = np.zeros((n, n))
                    for i in range(m_):
                        for j in range(m_):
                            Kc[i + j * m_, j + i * m_] = 1.0
                    N = (np.eye(n) + Kc) / 2
                    H, Hfd = N @ H @ N, N @ Hfd @ N
                hs = 1 + np.max(np.abs(Hfd))
                if H.shape != (n, n) or not close(H, Hfd, 1e-5, 1e-6 * hs * opts.get("hess_atol_scale", 1)):
                    out.append(("WRONG", f"hessian vs FD of grad: {np.max(np.abs(H - Hfd)):.3g} (scale {hs:.3g})"))
        except Exception as e:
            out.append(("REFUSED" if clear_refusal(e) else "CRASH", "grad/hessian: " + short(e) + where(e)))
    for k, (a, s, st) in enumerate(zip(args, saved, saved_strides)):
        if isinstance(a, np.ndarray) and (not same_bits(a, s) or a.strides != st):
            out.append(("WRONG", f"argument {k} was modified"))
    return out


# ----------------------------------------------------------------- the cases
def build_cases(rng):
    CASES = []

    def case(name, f, ref, *args, **opts):
        opts["ref"] = ref
        CASES.append((name, f, args, opts))

    R = lambda *s: rng.standard_normal(s)
    SS = scipy.stats

    # ---------------- stats: value and derivatives in every differentiable argument
    x5 = np.array([-1.3, -0.2, 0.4, 1.1, 2.5])
    pos = np.array([0.05, 0.4, 1.1, 2.5, 7.0])
    unit = np.array([0.03, 0.2, 0.5, 0.77, 0.96])
    # (distribution, [(label, x, shape params)], functions differentiable in the shape params)
    table = [
        ("norm", [("mid", x5, ()), ("tails", np.array([-38.0, -12.0, 9.0, 30.0]), ())], True),
        ("t", [("df3", x5, (3.0,)), ("df0.3", x5, (0.3,)), ("df1e4", x5, (1e4,)), ("df1e9", x5, (1e9,)),
               ("df1e16", x5, (1e16,)), ("dfinf", x5, (np.inf,)), ("tails df3", np.array([-1e4, -50.0, 40.0, 1e5]), (3.0,))],
         ("pdf", "logpdf")),
        ("chi2", [("df3", pos, (3.0,)), ("df1e-3", pos, (1e-3,)), ("df1e6", np.array([9.9e5, 1e6, 1.01e6]), (1e6,)),
                  ("tails df2", np.array([1e-12, 1e-5, 60.0, 200.0]), (2.0,))], ("pdf", "logpdf")),
        ("gamma", [("a2.5", pos, (2.5,)), ("a1e-3", pos, (1e-3,)), ("a1", pos, (1.0,)), ("a1e7", np.array([0.99e7, 1e7, 1.002e7]), (1e7,)),
                   ("tails a3", np.array([1e-12, 1e-4, 40.0, 300.0]), (3.0,))], ("pdf", "logpdf")),
        ("beta", [("a2b3", unit, (2.0, 3.0)), ("small", unit, (1e-3, 2e-3)), ("a.5b2", unit, (0.5, 2.0)),
                  ("large", np.array([0.499, 0.5, 0.5005]), (1e6, 1e6)),
                  ("tails", np.array([1e-12, 1e-6, 1 - 1e-6, 1 - 1e-12]), (2.0, 3.0))], ("pdf", "logpdf")),
        ("expon", [("mid", pos, ()), ("tails", np.array([1e-300, 1e-12, 40.0, 700.0]), ())], True),
        ("laplace", [("mid", x5, ()), ("tails", np.array([-700.0, -40.0, 40.0, 700.0]), ())], True),
        ("logistic", [("mid", x5, ()), ("tails", np.array([-700.0, -40.0, 40.0, 700.0]), ())], True),
        ("cauchy", [("mid", x5, ()), ("tails", np.array([-1e12, -1e4, 1e4, 1e12]), ())], True),
        ("uniform", [("mid", unit, ())], True),
        ("lognorm", [("s1", pos, (1.0,)), ("s1e-3", np.array([0.999, 1.0004, 1.001]), (1e-3,)), ("s10", pos, (10.0,)),
                     ("tails s.5", np.array([1e-30, 1e-8, 1e6, 1e30]), (0.5,))], True),
    ]
    fns = ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf")
    # ulps allowed where kronvec's formula is not SciPy's routine: expon's F is np.expm1 (SciPy's
    # scipy.special.expm1); laplace's and logistic's log f are closed forms where SciPy takes
    # log(pdf) (or rounds (x − loc)/scale apart).  (beta.pdf is SciPy's own Boost density.)
    ULP = {("expon", "cdf"): 2, ("expon", "logcdf"): 2, ("expon", "ppf"): 2,
           ("laplace", "logpdf"): 2, ("laplace", "logcdf"): 2, ("laplace", "logsf"): 2, ("logistic", "logpdf"): 2}
    for dist, points, shape_diff in table:
        K, S = getattr(kst, dist), getattr(SS, dist)
        for label, x, shp in points:
            for fn in fns:
                kf, sf_ = getattr(K, fn), getattr(S, fn)
                tails = "tails" in label
                # differences in the far tails are ill-conditioned: value only there for the derivatives' FD
                o = dict(rtol=1e-5, ulp=ULP.get((dist, fn), 0))
                if tails:  # (differences there cross the support or underflow: the value, and J vs vjp/jvp)
                    o["modes"] = ("value", "jac-only", "own")
                elif any(np.isfinite(p) and (p >= 1e6 or p <= 1e-3) for p in shp):
                    o["hess_atol_scale"] = 1e3  # (differences of gradients of size 1e6: their noise, not a defect)
                    o["eps"] = 1e-6 * max(1.0, float(np.max(np.abs(x))) / 10)
                else:  # differences relative to the spread of the points (x ~ 1e6 at large shapes)
                    o["eps"] = 1e-6 * max(1.0, float(np.max(np.abs(x))) / 100)
                    o["heps"] = 1e-5 * min(1.0, *(float(p) for p in shp if np.isfinite(p)), 1.0) if shp else 1e-5
                case(f"{dist} {label} {fn}(x)", kf, sf_, x, *shp, **o)
                if tails:
                    continue
                loc, scale = 0.3, 1.7
                # (at shapes ~1e6 the log-density is a difference of terms ~1e7: differences need a wide step,
                # and the Hessian's differences of gradients carry that noise ×1e5)
                big = any(np.isfinite(p) and p >= 1e6 for p in shp)
                o = dict(rtol=1e-5, hess_atol_scale=1e3 if "1e-3" in label else 1, ulp=ULP.get((dist, fn), 0))
                if big:  # (no step resolves the slope of a difference of terms ~1e7: J vs vjp/jvp only)
                    o["modes"] = ("value", "jac-only", "own")
                case(f"{dist} {label} {fn} d/loc", lambda l, f=kf, x=x, s=shp: f(x, *s, loc=l, scale=1.7),
                     lambda l, f=sf_, x=x, s=shp: f(x, *s, loc=l, scale=1.7), np.array(loc) if dist != "beta" else np.array(-0.05), **o)
                case(f"{dist} {label} {fn} d/scale", lambda c, f=kf, x=x, s=shp: f(x, *s, scale=c),
                     lambda c, f=sf_, x=x, s=shp: f(x, *s, scale=c), np.array(scale if dist not in ("beta", "uniform") else 1.02), **o)
                if shp and (shape_diff is True or fn in shape_diff) and np.all(np.isfinite(shp)):
                    for k in range(len(shp)):
                        def kf_s(p, f=kf, x=x, s=shp, k=k):
                            a = list(s); a[k] = p
                            return f(x, *a)

                        def sf_s(p, f=sf_, x=x, s=shp, k=k):
                            a = list(s); a[k] = p
                            return f(x, *a)

                        big = float(shp[k]) >= 1e6
                        case(f"{dist} {label} {fn} d/shape{k}", kf_s, sf_s, np.array(float(shp[k])),
                             rtol=1e-4, heps=1e-4 * min(1.0, float(shp[k])), ulp=ULP.get((dist, fn), 0), eps=(1e-6 * max(1.0, float(shp[k])) if not big else float(shp[k]) * 1e-5),
                             **({"modes": ("value", "jvp", "vjp", "jac", "own")} if big else {}))
        if hasattr(K, "ppf"):
            shp = points[0][2]
            for fn in ("ppf", "isf"):
                kf, sf_ = getattr(K, fn), getattr(S, fn)
                case(f"{dist} {fn}(q) mid", kf, sf_, np.array([0.02, 0.3, 0.45, 0.71, 0.97]), *shp, rtol=1e-5,
                     ulp=ULP.get((dist, fn), 0))
                case(f"{dist} {fn}(q) tails", kf, sf_, np.array([1e-300, 1e-20, 1e-9, 1 - 1e-9, 1 - 2 ** -52]), *shp,
                     modes=("value",))
                case(f"{dist} {fn} edges 0 and 1", kf, sf_, np.array([0.0, 1.0]), *shp, diff=False)
        # layouts, dtypes and broadcasting of x against loc/scale
        shp = points[0][2]
        xin = points[0][1]
        M = np.outer(np.ones(3), xin[:4])  # 3x4
        for fn in ("logpdf", "cdf", "logsf"):
            kf, sf_ = getattr(K, fn), getattr(S, fn)
            case(f"{dist} {fn} F-order", kf, sf_, np.asfortranarray(M), *shp, ulp=ULP.get((dist, fn), 0), modes=("value", "vjp", "jvp", "jac", "own"))
            case(f"{dist} {fn} neg-stride", kf, sf_, xin[::-1], *shp, ulp=ULP.get((dist, fn), 0))
            case(f"{dist} {fn} 0-d", kf, sf_, np.array(xin[2]), *shp, ulp=ULP.get((dist, fn), 0))
            case(f"{dist} {fn} float32", kf, sf_, xin.astype(np.float32), *shp, ulp=2, modes=("value",))
            lo = np.array([[0.0], [0.1], [-0.05]])
            case(f"{dist} {fn} loc (3,1) vs x (4,)",
                 lambda l, f=kf, xin=xin, shp=shp: f(xin[:4], *shp, loc=l, scale=1.0),
                 lambda l, f=sf_, xin=xin, shp=shp: f(xin[:4], *shp, loc=l, scale=1.0), lo, ulp=ULP.get((dist, fn), 0), modes=("value", "vjp", "jvp", "jac", "own"))
            sc_ = np.array([1.0, 1.1, 0.9, 1.05])
            case(f"{dist} {fn} scale (4,) positional", lambda c, f=kf, M=M, shp=shp: f(M, *shp, 0.0, c),
                 lambda c, f=sf_, M=M, shp=shp: f(M, *shp, 0.0, c), sc_, ulp=ULP.get((dist, fn), 0), modes=("value", "vjp", "jvp", "jac", "own"))
            case(f"{dist} {fn} list x", lambda l, f=kf, xin=xin, shp=shp: f(list(xin), *shp, loc=l),
                 lambda l, f=sf_, xin=xin, shp=shp: f(list(xin), *shp, loc=l), np.array(0.01), rtol=1e-5,
                 ulp=ULP.get((dist, fn), 0))
    # scale tiny / huge (norm, logistic)
    for dist in ("norm", "logistic", "laplace", "cauchy"):
        K, S = getattr(kst, dist), getattr(SS, dist)
        for scale in (1e-300, 1e300):
            for fn in ("logpdf", "logcdf", "logsf"):
                case(f"{dist} {fn} scale={scale:g}", lambda x, f=getattr(K, fn), s=scale: f(x, scale=s),
                     lambda x, f=getattr(S, fn), s=scale: f(x, scale=s), np.array([-1e-300, 1e-300, 1.0]), modes=("value",),
                     ulp=ULP.get((dist, fn), 0))
    # outside the support: SciPy's constants (values), refusals of -inf (traced)
    for dist, xs, shp in (("gamma", np.array([-1.0, 0.0, 0.5]), (2.0,)), ("beta", np.array([-0.5, 0.0, 1.0, 1.5]), (2.0, 3.0)),
                          ("expon", np.array([-1.0, 0.0, 2.0]), ()), ("uniform", np.array([-0.5, 0.0, 1.0, 1.5]), ()),
                          ("lognorm", np.array([-1.0, 0.0, 2.0]), (0.7,)), ("chi2", np.array([-1.0, 0.0, 2.0]), (3.0,))):
        for fn in fns:
            case(f"{dist} {fn} outside support", getattr(getattr(kst, dist), fn), getattr(getattr(SS, dist), fn), xs, *shp,
                 diff=False)
    # bad parameters: SciPy gives NaN
    for dist, shp in (("norm", ()), ("t", (3.0,)), ("gamma", (2.0,))):
        for fn in ("logpdf", "cdf"):
            case(f"{dist} {fn} scale<0", lambda x, f=getattr(getattr(kst, dist), fn), s=shp: f(x, *s, scale=-1.0),
                 lambda x, f=getattr(getattr(SS, dist), fn), s=shp: f(x, *s, scale=-1.0), np.array([0.5, 1.0]), diff=False)
    # poisson in mu
    ks_ = np.array([0.0, 1.0, 3.0, 10.0])
    for fn in ("pmf", "logpmf", "cdf", "logcdf", "sf", "logsf"):
        case(f"poisson {fn} d/mu", lambda m, f=getattr(kst.poisson, fn): f(ks_, m),
             lambda m, f=getattr(SS.poisson, fn): f(ks_, m), np.array(2.3), rtol=1e-5)
        case(f"poisson {fn} mu large", lambda m, f=getattr(kst.poisson, fn): f(np.array([900.0, 1000.0, 1100.0]), m),
             lambda m, f=getattr(SS.poisson, fn): f(np.array([900.0, 1000.0, 1100.0]), m), np.array(1000.0), rtol=1e-4,
             eps=1e-3)
        case(f"poisson {fn} k non-integer/negative", lambda m, f=getattr(kst.poisson, fn): f(np.array([-1.0, 1.5, 2.0]), m),
             lambda m, f=getattr(SS.poisson, fn): f(np.array([-1.0, 1.5, 2.0]), m), np.array(2.0), refusal_ok=True)
    # multivariate normal
    C = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 1.5]])
    mu = np.array([0.1, -0.2, 0.3])
    Xs = R(4, 3)
    for fn in ("logpdf", "pdf"):
        kf, sf_ = getattr(kst.multivariate_normal, fn), getattr(SS.multivariate_normal, fn)
        case(f"mvn {fn} d/x", lambda x, f=kf: f(x, mu, C), lambda x, f=sf_: f(x, mu, C), Xs, ulp=16)
        case(f"mvn {fn} d/mean", lambda m, f=kf: f(Xs, m, C), lambda m, f=sf_: f(Xs, m, C), mu, ulp=16)
        case(f"mvn {fn} d/cov", lambda c, f=kf: f(Xs, mu, c), lambda c, f=sf_: f(Xs, mu, c), C, ulp=16, sym=True)
        case(f"mvn {fn} one point", lambda x, f=kf: f(x, mu, C), lambda x, f=sf_: f(x, mu, C), Xs[0], ulp=16)
        case(f"mvn {fn} scalar cov", lambda c, f=kf: f(Xs, mu, c), lambda c, f=sf_: f(Xs, mu, c), np.array(1.3), ulp=16)
        case(f"mvn {fn} 1-D cov", lambda c, f=kf: f(Xs, mu, c), lambda c, f=sf_: f(Xs, mu, c), np.array([1.3, 0.7, 2.0]), ulp=16)
        case(f"mvn {fn} F-order cov", lambda c, f=kf: f(Xs, mu, c), lambda c, f=sf_: f(Xs, mu, c), np.asfortranarray(C),
             ulp=16, sym=True)
    case("mvn entropy d/cov", lambda c: kst.multivariate_normal.entropy(mu, c), lambda c: SS.multivariate_normal.entropy(mu, c),
         C, ulp=16, sym=True)
    case("mvn logpdf near-singular cov", lambda c: kst.multivariate_normal.logpdf(Xs, mu, c),
         lambda c: SS.multivariate_normal.logpdf(Xs, mu, c), np.diag([1.0, 1.0, 1e-13]), ulp=1e6, modes=("value",))
    # dirichlet
    al = np.array([0.7, 2.0, 3.5])
    pts = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]).T
    for fn in ("logpdf", "pdf"):
        kf, sf_ = getattr(kst.dirichlet, fn), getattr(SS.dirichlet, fn)
        case(f"dirichlet {fn} d/alpha", lambda a, f=kf: f(pts, a), lambda a, f=sf_: f(pts, a), al, rtol=1e-5, ulp=16)
        case(f"dirichlet {fn} d/x", lambda x, f=kf: f(x, al), lambda x, f=sf_: f(x, al), pts[:, 0], ulp=8,
             modes=("value",))

    # ---------------- special
    SP = scipy.special
    a34 = R(3, 4)
    for ax in (None, 0, 1, -1, (0, 1)):
        for kd in (False, True):
            case(f"logsumexp axis={ax} kd={kd}", lambda a, ax=ax, kd=kd: ksp.logsumexp(a, axis=ax, keepdims=kd),
                 lambda a, ax=ax, kd=kd: SP.logsumexp(a, axis=ax, keepdims=kd), a34, ulp=2)
    bw = np.abs(R(3, 4)) + 0.1
    bw[0, 1] = 0.0
    case("logsumexp b (zero entry) d/a", lambda a: ksp.logsumexp(a, axis=1, b=bw), lambda a: SP.logsumexp(a, axis=1, b=bw), a34, ulp=2)
    case("logsumexp b d/b", lambda b: ksp.logsumexp(a34, axis=0, b=b), lambda b: SP.logsumexp(a34, axis=0, b=b), bw + 0.5, ulp=2)
    bn = R(4)
    case("logsumexp return_sign", lambda a: ksp.logsumexp(a, b=bn, return_sign=True)[0],
         lambda a: SP.logsumexp(a, b=bn, return_sign=True)[0], R(4), ulp=2)
    case("logsumexp -inf entry", lambda a: ksp.logsumexp(a + np.array([0.0, -np.inf, 0.0])),
         lambda a: SP.logsumexp(a + np.array([0.0, -np.inf, 0.0])), R(3), ulp=2)
    case("logsumexp huge", ksp.logsumexp, SP.logsumexp, np.array([1000.0, 1000.5, -1000.0]), ulp=2)
    case("logsumexp 0-d", ksp.logsumexp, SP.logsumexp, np.array(0.7))
    case("logsumexp F-order", lambda a: ksp.logsumexp(a, axis=0), lambda a: SP.logsumexp(a, axis=0), np.asfortranarray(a34), ulp=2)
    case("logsumexp float32", lambda a: ksp.logsumexp(a, axis=1), lambda a: SP.logsumexp(a, axis=1), a34.astype(np.float32),
         ulp=4, modes=("value", "vjp", "jvp"))
    for fname in ("softmax", "log_softmax"):
        for ax in (None, 0, 1):
            case(f"{fname} axis={ax}", lambda a, f=getattr(ksp, fname), ax=ax: f(a, axis=ax),
                 lambda a, f=getattr(SP, fname), ax=ax: f(a, axis=ax), a34, ulp=2)
        case(f"{fname} huge", getattr(ksp, fname), getattr(SP, fname), np.array([800.0, 799.0, -800.0]), ulp=2)
        case(f"{fname} neg-stride", getattr(ksp, fname), getattr(SP, fname), R(5)[::-1], ulp=2)
        case(f"{fname} float32", getattr(ksp, fname), getattr(SP, fname), R(4).astype(np.float32), ulp=4, modes=("value",))
    for d in (1, 3):
        case(f"multigammaln d={d}", lambda a, d=d: ksp.multigammaln(a, d), lambda a, d=d: SP.multigammaln(a, d),
             np.array([1.7, 3.0, 25.0]), ulp=4)
    case("multigammaln scalar", lambda a: ksp.multigammaln(a, 2), lambda a: SP.multigammaln(a, 2), np.array(2.5), ulp=4)
    for n in (0, 1, 3):
        case(f"polygamma n={n}", lambda x, n=n: ksp.polygamma(n, x), lambda x, n=n: SP.polygamma(n, x), np.array([0.3, 1.5, 7.0]))
    case("polygamma n array", lambda x: ksp.polygamma(np.array([0, 1, 2]), x), lambda x: SP.polygamma(np.array([0, 1, 2]), x),
         np.array([0.3, 1.5, 7.0]))
    for uf, xs in (("gammaln", np.array([1e-8, 0.5, 30.0, 1e10])), ("log_ndtr", np.array([-40.0, -5.0, 0.0, 6.0])),
                   ("erfcinv", np.array([1e-20, 0.3, 1.0, 1.9])), ("ndtri", np.array([1e-30, 0.2, 0.5, 1 - 1e-12])),
                   ("digamma", np.array([0.01, 1.0, 1e6])), ("expit", np.array([-700.0, 0.0, 36.0])),
                   ("log_expit", np.array([-700.0, 0.0, 700.0]))):
        case(f"ufunc {uf}", getattr(ksp, uf), getattr(SP, uf), xs, modes=("value", "jac-only", "own"))
        inner = xs[1:-1]
        case(f"ufunc {uf} d/x inside", getattr(ksp, uf), getattr(SP, uf), inner, rtol=1e-5, eps=1e-6 * max(1e-3, np.min(np.abs(inner))),
             modes=("value", "vjp", "jvp", "jac", "own"))
    case("stdtr d/t df=1e12", lambda x: ksp.stdtr(1e12, x), lambda x: SP.stdtr(1e12, x), np.array([-1.0, 0.5, 2.0]), rtol=1e-5)
    case("stdtr d/t df=inf", lambda x: ksp.stdtr(np.inf, x), lambda x: SP.stdtr(np.inf, x), np.array([-1.0, 0.5, 2.0]), rtol=1e-5)

    # ---------------- linalg
    LA = scipy.linalg

    def wellcond(n):
        return R(n, n) + 3 * np.eye(n)

    def spd(n):
        B = R(n, n)
        return B @ B.T + n * np.eye(n)

    A3 = wellcond(3)
    P3 = spd(3)
    b3 = R(3, 2)
    layouts = lambda X: {"C": X, "F": np.asfortranarray(X), "neg": np.ascontiguousarray(X[::-1, ::-1])[::-1, ::-1]}
    for lname, A in layouts(A3).items():
        case(f"expm {lname}", kla.expm, LA.expm, A * 0.3)
        case(f"solve {lname} d/a", lambda a: kla.solve(a, b3), lambda a: LA.solve(a, b3), A, ulp=16)
        case(f"inv {lname}", kla.inv, LA.inv, A, ulp=16)
        case(f"det {lname}", kla.det, LA.det, A, ulp=16)
        case(f"lu_factor+lu_solve trans=1 {lname}", lambda a: kla.lu_solve(kla.lu_factor(a), b3, trans=1),
             lambda a: LA.lu_solve(LA.lu_factor(a), b3, trans=1), A, ulp=16)
    for lname, P in layouts(P3).items():
        for lower in (False, True):
            case(f"cholesky lower={lower} {lname}", lambda a, lo=lower: kla.cholesky(a, lower=lo),
                 lambda a, lo=lower: LA.cholesky(a, lower=lo), P, sym=True)
            case(f"cho_solve lower={lower} {lname}", lambda a, lo=lower: kla.cho_solve(kla.cho_factor(a, lower=lo), b3),
                 lambda a, lo=lower: LA.cho_solve(LA.cho_factor(a, lower=lo), b3), P, sym=True, ulp=16)
        for aa in ("pos", "sym", "gen"):
            case(f"solve assume_a={aa} {lname}", lambda a, aa=aa: kla.solve(a, b3, assume_a=aa),
                 lambda a, aa=aa: LA.solve(a, b3, assume_a=aa), P, sym=aa != "gen", ulp=16)
        case(f"eigh {lname} values", lambda a: kla.eigh(a)[0], lambda a: LA.eigh(a)[0], P, sym=True, ulp=16)
        case(f"eigh {lname} vecs abs", lambda a: np.abs(kla.eigh(a)[1]), lambda a: np.abs(LA.eigh(a)[1]), P, sym=True, ulp=16)
        case(f"sqrtm {lname}", kla.sqrtm, LA.sqrtm, P, ulp=64, rtol=1e-5)
        case(f"logm {lname}", kla.logm, LA.logm, P, ulp=64, rtol=1e-5)
    T = np.triu(A3)
    for trans in (0, 1, "T"):
        for lower in (False, True):
            for unit in (False, True):
                Tm = T.T.copy() if lower else T
                case(f"solve_triangular trans={trans} lower={lower} unit={unit}",
                     lambda a, t=trans, lo=lower, u=unit: kla.solve_triangular(a, b3, trans=t, lower=lo, unit_diagonal=u),
                     lambda a, t=trans, lo=lower, u=unit: LA.solve_triangular(a, b3, trans=t, lower=lo, unit_diagonal=u),
                     Tm, ulp=16)
    case("solve_triangular d/b", lambda b: kla.solve_triangular(T, b), lambda b: LA.solve_triangular(T, b), b3)
    case("solve_triangular 1-D b", lambda b: kla.solve_triangular(T, b), lambda b: LA.solve_triangular(T, b), b3[:, 0])
    case("solve_triangular F-order neg b", lambda b: kla.solve_triangular(np.asfortranarray(T), b),
         lambda b: LA.solve_triangular(np.asfortranarray(T), b), b3[::-1])
    case("solve overwrite_a=True", lambda a: kla.solve(a, b3, overwrite_a=True), lambda a: LA.solve(a, b3, overwrite_a=False), A3, ulp=16)
    case("solve overwrite_b=True d/b", lambda b: kla.solve(A3, b, overwrite_b=True), lambda b: LA.solve(A3, b), b3.copy(), ulp=16)
    case("cholesky overwrite_a=True", lambda a: kla.cholesky(a, overwrite_a=True), lambda a: LA.cholesky(a), P3, sym=True)
    case("lu_factor overwrite_a=True", lambda a: kla.lu_factor(a, overwrite_a=True)[0], lambda a: LA.lu_factor(a)[0], A3, ulp=16)
    case("inv overwrite_a=True", lambda a: kla.inv(a, overwrite_a=True), lambda a: LA.inv(a), A3, ulp=16)
    case("check_finite=False", lambda a: kla.solve(a, b3, check_finite=False), lambda a: LA.solve(a, b3, check_finite=False), A3, ulp=16)
    case("solve nan refuses", lambda a: kla.solve(a, b3), lambda a: LA.solve(a, b3), np.where(np.eye(3) > 0, np.nan, A3), diff=False)
    case("solve float32", lambda a: kla.solve(a, b3.astype(np.float32)), lambda a: LA.solve(a, b3.astype(np.float32)),
         A3.astype(np.float32), ulp=8, modes=("value", "vjp", "jvp"))
    case("expm float32", kla.expm, LA.expm, (0.3 * A3).astype(np.float32), ulp=8, modes=("value", "vjp", "jvp"))
    case("expm 0-norm", kla.expm, LA.expm, np.zeros((3, 3)))
    case("expm 1x1", kla.expm, LA.expm, np.array([[0.7]]))
    case("expm large norm", kla.expm, LA.expm, 5.0 * A3 / np.linalg.norm(A3), rtol=1e-5)
    J = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    Jp = J + np.diag([0.0, 1e-9, -1e-9])
    case("expm defective", kla.expm, LA.expm, J)
    case("expm near-defective", kla.expm, LA.expm, Jp)
    case("logm defective", kla.logm, LA.logm, J, ulp=64, rtol=1e-5)
    case("logm near-defective", kla.logm, LA.logm, Jp, ulp=64, rtol=1e-5)
    case("sqrtm defective", kla.sqrtm, LA.sqrtm, J, ulp=64, rtol=1e-5)
    case("sqrtm near-defective", kla.sqrtm, LA.sqrtm, Jp, ulp=64, rtol=1e-5)
    case("sqrtm near-singular spd", kla.sqrtm, LA.sqrtm, np.diag([1.0, 1e-6, 2.0]) + 1e-3, ulp=1e4, rtol=1e-3, eps=1e-9,
         modes=("value", "vjp", "jvp", "jac"))
    case("sqrtm general real spectrum", kla.sqrtm, LA.sqrtm, np.array([[4.0, 1.0, 0.5], [0.2, 3.0, 0.1], [0.0, 0.3, 2.0]]),
         ulp=64, rtol=1e-5)
    case("sqrtm 1x1", kla.sqrtm, LA.sqrtm, np.array([[2.0]]))
    case("logm identity", kla.logm, LA.logm, np.eye(3))
    case("expm stack", kla.expm, LA.expm, 0.3 * R(2, 3, 3), modes=("value", "vjp", "jvp", "jac", "own"))
    for p in (0.5, -0.5, 1.5, 2.0, -1.0):
        case(f"fractional_matrix_power t={p}", lambda a, p=p: kla.fractional_matrix_power(a, p),
             lambda a, p=p: LA.fractional_matrix_power(a, p), P3 / 3, ulp=1e3, rtol=1e-5)
    case("expm_frechet d/A", lambda a: kla.expm_frechet(a, A3, compute_expm=False), lambda a: LA.expm_frechet(a, A3, compute_expm=False),
         0.3 * A3, ulp=64, rtol=1e-5)
    case("expm_frechet d/E", lambda e: kla.expm_frechet(0.3 * A3, e)[1], lambda e: LA.expm_frechet(0.3 * A3, e)[1], R(3, 3), ulp=64)
    for side in ("right", "left"):
        case(f"polar {side} u", lambda a, s=side: kla.polar(a, side=s)[0], lambda a, s=side: LA.polar(a, side=s)[0], A3, ulp=64)
        case(f"polar {side} p", lambda a, s=side: kla.polar(a, side=s)[1], lambda a, s=side: LA.polar(a, side=s)[1], A3, ulp=64)
    for fm in ("cosm", "sinm", "tanm", "coshm", "sinhm", "tanhm"):
        case(f"{fm}", getattr(kla, fm), getattr(LA, fm), 0.3 * A3, ulp=1e3, rtol=1e-5)
    Q = R(3, 2)
    Bs = wellcond(2)
    case("solve_sylvester d/a", lambda a: kla.solve_sylvester(a, Bs, Q), lambda a: LA.solve_sylvester(a, Bs, Q), A3, ulp=64)
    case("solve_sylvester d/b", lambda b: kla.solve_sylvester(A3, b, Q), lambda b: LA.solve_sylvester(A3, b, Q), Bs, ulp=64)
    case("solve_sylvester d/q", lambda q: kla.solve_sylvester(A3, Bs, q), lambda q: LA.solve_sylvester(A3, Bs, q), Q, ulp=64)
    case("solve_sylvester F-order q", lambda q: kla.solve_sylvester(A3, Bs, q), lambda q: LA.solve_sylvester(A3, Bs, q),
         np.asfortranarray(Q), ulp=64)
    Qs = sym(R(3, 3))
    case("solve_continuous_lyapunov d/a", lambda a: kla.solve_continuous_lyapunov(a, Qs),
         lambda a: LA.solve_continuous_lyapunov(a, Qs), A3, ulp=64)
    case("solve_continuous_lyapunov d/q", lambda q: kla.solve_continuous_lyapunov(A3, q),
         lambda q: LA.solve_continuous_lyapunov(A3, q), Qs, ulp=64)
    Ad = 0.3 * A3 / np.max(np.abs(np.linalg.eigvals(A3)))
    for meth in (None, "direct", "bilinear"):
        case(f"solve_discrete_lyapunov method={meth} d/a", lambda a, m=meth: kla.solve_discrete_lyapunov(a, Qs, method=m),
             lambda a, m=meth: LA.solve_discrete_lyapunov(a, Qs, method=m), Ad, ulp=1e3)
    case("lu p", lambda a: kla.lu(a)[1], lambda a: LA.lu(a)[1], A3, ulp=16)
    case("lu permute_l", lambda a: kla.lu(a, permute_l=True)[0], lambda a: LA.lu(a, permute_l=True)[0], A3, ulp=16)
    case("lu 3x2", lambda a: kla.lu(a)[2], lambda a: LA.lu(a)[2], R(3, 2), ulp=16)
    case("norm fro", kla.norm, LA.norm, A3, ulp=4)
    case("pinv 3x2", kla.pinv, LA.pinv, R(3, 2), ulp=64)
    case("lstsq d/a", lambda a: kla.lstsq(a, b3)[0], lambda a: LA.lstsq(a, b3)[0], R(3, 2) + 0, ulp=64)

    # ---------------- signal
    SG = scipy.signal
    a7, v3 = R(7), R(3)
    A45, K22 = R(4, 5), R(2, 3)
    for fname in ("convolve", "correlate"):
        kf, sf_ = getattr(ksig, fname), getattr(SG, fname)
        for mode in ("full", "same", "valid"):
            for method in ("auto", "direct", "fft"):
                case(f"{fname} {mode} {method} d/in1", lambda a, m=mode, me=method, f=kf: f(a, v3, mode=m, method=me),
                     lambda a, m=mode, me=method, f=sf_: f(a, v3, mode=m, method=me), a7, ulp=64)
            case(f"{fname} {mode} d/in2", lambda v, m=mode, f=kf: f(a7, v, mode=m), lambda v, m=mode, f=sf_: f(a7, v, mode=m), v3, ulp=64)
            case(f"{fname} {mode} 2-D d/in2", lambda v, m=mode, f=kf: f(A45, v, mode=m), lambda v, m=mode, f=sf_: f(A45, v, mode=m),
                 K22, ulp=64)
            case(f"{fname} {mode} in2 longer", lambda v, m=mode, f=kf: f(v3, v, mode=m), lambda v, m=mode, f=sf_: f(v3, v, mode=m),
                 a7, ulp=64)
        case(f"{fname} neg-stride", lambda a, f=kf: f(a, v3), lambda a, f=sf_: f(a, v3), a7[::-1], ulp=64)
        case(f"{fname} F-order 2-D", lambda a, f=kf: f(a, K22), lambda a, f=sf_: f(a, K22), np.asfortranarray(A45), ulp=64)
        case(f"{fname} float32", lambda a, f=kf: f(a, v3.astype(np.float32)), lambda a, f=sf_: f(a, v3.astype(np.float32)),
             a7.astype(np.float32), ulp=64, modes=("value", "vjp", "jvp"))
        case(f"{fname} 0-d", lambda a, f=kf: f(a, np.array(2.0)), lambda a, f=sf_: f(a, np.array(2.0)), np.array(1.5))
        case(f"{fname} same in2 bigger", lambda a, f=kf: f(a, a7, mode="same"), lambda a, f=sf_: f(a, a7, mode="same"), v3, ulp=64)

    # ---------------- integrate
    tt = np.array([0.0, 0.4, 1.1])
    dec = lambda y, t, k: -k * y
    case("odeint d/y0", lambda y: kint.odeint(dec, y, tt, args=(1.3,), rtol=1e-11, atol=1e-12),
         lambda y: scipy.integrate.odeint(dec, y, tt, args=(1.3,), rtol=1e-11, atol=1e-12), np.array([1.0, -0.5]),
         rtol=1e-5, modes=("value", "vjp", "jvp", "jac", "own"))
    case("odeint d/k", lambda k: kint.odeint(dec, np.array([1.0, 2.0]), tt, args=(k,), rtol=1e-11, atol=1e-12),
         lambda k: scipy.integrate.odeint(dec, np.array([1.0, 2.0]), tt, args=(k,), rtol=1e-11, atol=1e-12), np.array(0.7),
         rtol=1e-5, eps=1e-5, modes=("value", "vjp", "jvp", "jac", "own"))
    case("odeint d/t", lambda t: kint.odeint(dec, np.array([1.0]), t, args=(0.8,), rtol=1e-11, atol=1e-12),
         lambda t: scipy.integrate.odeint(dec, np.array([1.0]), t, args=(0.8,), rtol=1e-11, atol=1e-12), tt,
         rtol=1e-5, eps=1e-5, modes=("value", "vjp", "jvp", "jac", "own"))
    case("odeint scalar y0", lambda y: kint.odeint(dec, y, tt, args=(1.3,), rtol=1e-11, atol=1e-12),
         lambda y: scipy.integrate.odeint(dec, y, tt, args=(1.3,), rtol=1e-11, atol=1e-12), np.array(1.0),
         rtol=1e-5, modes=("value", "vjp", "jvp", "jac", "own"))
    case("odeint tfirst", lambda y: kint.odeint(lambda t, y, k: -k * y, y, tt, args=(1.3,), rtol=1e-11, atol=1e-12, tfirst=True),
         lambda y: scipy.integrate.odeint(lambda t, y, k: -k * y, y, tt, args=(1.3,), rtol=1e-11, atol=1e-12, tfirst=True),
         np.array([1.0, -0.5]), rtol=1e-5, modes=("value", "vjp", "jvp", "own"))
    case("odeint decreasing t", lambda y: kint.odeint(dec, y, tt[::-1], args=(1.3,), rtol=1e-11, atol=1e-12),
         lambda y: scipy.integrate.odeint(dec, y, tt[::-1], args=(1.3,), rtol=1e-11, atol=1e-12), np.array([1.0, -0.5]),
         rtol=1e-5, modes=("value", "vjp", "jvp", "own"))
    return CASES


def run(filter=None, echo=None):
    """Run every case whose name contains ``filter``; returns a :class:`Result`."""
    rng = np.random.default_rng(SEED)
    return run_cases(lambda: build_cases(rng),
                     lambda name, f, args, opts: check(name, f, args, opts, np.random.default_rng(
                         [SEED, zlib.crc32(name.encode())])),
                     filter, echo, floating="ignore")


if __name__ == "__main__":
    command_line(run, sys.argv[1:], quiet=("REFUSED", "ULP"), harmless=("REFUSED", "ULP"))
