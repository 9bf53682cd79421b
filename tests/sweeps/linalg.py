"""Adversarial sweep of kronvec's np.linalg surface (norms, det/slogdet, inv/solve, pinv, lstsq,
matrix_power, multi_dot, matrix_rank, cond, cholesky, qr, svd, eig/eigvals, eigh/eigvalsh,
outer/cross/trace/diagonal, the NumPy 2 array-API names), with adversarial inputs: kinks and
ties, zero and 1x1 matrices, negative determinants, stacks and broadcasting, near-singular and
rank-deficient matrices, float32, Fortran-order and negative-stride layouts.

Every mode: value equal to NumPy's (bit for bit unless the case allows ulps), vjp vs central
differences, jvp vs differences and the dot test <vjp(u), v> = <u, jvp(v)>, structured Jacobian
vs its dense form (and matvec/rmatvec), value_and_grad, hessian of a scalarization vs differences
of the gradient (and symmetric), inputs untouched, results owning their memory.

Symmetric-input convention (conventions.md §10): for cholesky/eigh/eigvalsh/svd(hermitian)/
pinv(hermitian) at an exactly symmetric point, differences are taken of f(sym(X)) ("sym" cases).

Run standalone from the repository root (prints one line per finding and a summary):

    python tests/sweeps/linalg.py [-k substr] [-v] [-u]

``-k`` keeps the cases whose name contains ``substr``; ``-v`` lists REFUSED and ULP findings
too, ``-u`` ULP findings.  From Python, ``run(filter=None)`` returns the findings as
(category, case name, message) without printing (``tests/test_adversarial_sweeps.py`` holds
them to an allow-list).  Categories:
  WRONG   a number differs from NumPy / finite differences / the documented convention
  CRASH   an internal error (not a clear kronvec refusal)
  UNCLEAR a refusal whose message does not name kronvec or what was called
  ULP     the value is within a few ulps of NumPy's, not bit for bit (listed with -u; see the report)
  REFUSED a clear refusal of something NumPy accepts (listed with -v only; not a defect by itself)

Every random draw comes from one generator seeded afresh by each ``run()``; the cases are
built anew by each run, so two runs in one process see the same inputs and nothing else is
kept between them.  Nothing is written to disk.
"""
import pathlib
import sys

import numpy as np

import kronvec

if str(pathlib.Path(__file__).resolve().parent) not in sys.path:  # (its sibling, run as a script or loaded by path)
    sys.path.append(str(pathlib.Path(__file__).resolve().parent))
from _sweep_checks import (  # noqa: E402
    close, command_line, fd_dir, fd_grad, owns, run_cases, same_bits, short, sym, ulps, vec, where,
    with_const,
)

SEED = 20261205
LA = np.linalg


# ----------------------------------------------------------------- helpers
def clear_refusal(err, ref=None):
    msg = str(err)
    if isinstance(ref, Exception) and type(ref) is type(err) and str(ref) == msg:
        return True  # NumPy's own refusal, in NumPy's words
    return "kronvec" in msg or msg.startswith(("np.", "scipy.", "ndarray.")) or "np.linalg" in msg



# ----------------------------------------------------------------- the checker
def check_refusal(F, X, ref, want):
    """a documented refusal: every mode must raise it (the forward pass or the derivative)."""
    out = []

    def vjp_mode():
        val, pull = kronvec.vjp(F, X)
        pull(np.ones(np.shape(val)))

    def jvp_mode():
        kronvec.jvp(F, (X,), (np.ones(np.shape(X)),))

    def jac_mode():
        kronvec.jacobian(F)(X).toarray()

    for mname, m in (("vjp", vjp_mode), ("jvp", jvp_mode), ("jacobian", jac_mode)):
        try:
            m()
        except Exception as e:
            if want is not True and not isinstance(e, want):
                out.append(("UNCLEAR", f"{mname}: expected {want.__name__}, got " + short(e) + where(e)))
            elif not clear_refusal(e, ref):
                out.append(("UNCLEAR", f"{mname}: refusal does not say who refuses: " + short(e) + where(e)))
        else:
            out.append(("WRONG", f"{mname}: expected a refusal, got a value"))
    return out


def check(name, f, args, opts, rng):
    """Returns a list of (category, message); rng draws the directions and weights."""
    out = []
    argnum = opts.get("argnum", 0)
    modes = opts.get("modes", ("value", "vjp", "jvp", "jac", "grad", "hess", "own"))
    rtol, atol, eps = opts.get("rtol", 1e-6), opts.get("atol", 1e-7), opts.get("eps", 1e-6)
    expect_grad = opts.get("expect_grad")
    fd = opts.get("fd", expect_grad is None)  # (at a tie the convention is not what differences give)
    ulp_ok = opts.get("ulp", 0)
    symfd = opts.get("sym", False)  # differences of f(sym X) (§10 convention)
    saved = [np.array(a, copy=True, order="K") if isinstance(a, np.ndarray) else a for a in args]
    saved_strides = [a.strides if isinstance(a, np.ndarray) else None for a in args]
    X = args[argnum]
    F = with_const(f, args, argnum)
    Fd = (lambda x: F(sym(x))) if symfd else F  # the function differences are taken of
    try:
        ref = f(*args)
    except Exception as e:
        ref = e
    if opts.get("expect_refusal"):
        return check_refusal(F, X, ref, opts["expect_refusal"])
    try:
        val, pull = kronvec.vjp(F, X)
    except Exception as e:
        if opts.get("expect_refusal"):
            want = opts["expect_refusal"]
            if want is not True and not isinstance(e, want):
                out.append(("UNCLEAR", f"expected {want.__name__}, got " + short(e)))
            elif not clear_refusal(e):
                out.append(("UNCLEAR", "expected refusal, got: " + short(e) + where(e)))
            return out
        if isinstance(ref, Exception):
            if not clear_refusal(e, ref) and type(e) is not type(ref):
                out.append(("UNCLEAR", f"NumPy raises {short(ref)}; kronvec: {short(e)}" + where(e)))
            return out
        if isinstance(e, (TypeError, ValueError, NotImplementedError, LA.LinAlgError)) and clear_refusal(e):
            out.append(("REFUSED", short(e)))
        elif isinstance(e, (TypeError, ValueError, LA.LinAlgError)):
            out.append(("UNCLEAR", short(e) + where(e)))
        else:
            out.append(("CRASH", "vjp: " + short(e) + where(e)))
        return out
    if opts.get("expect_refusal"):
        out.append(("WRONG", "expected a refusal, got a value"))
        return out
    if isinstance(ref, Exception):
        out.append(("WRONG", f"NumPy raises {short(ref)} but kronvec returned a value"))
        return out
    ref_a, val_a = np.asarray(ref), np.asarray(val)
    if "value" in modes:
        if val_a.shape != ref_a.shape:
            out.append(("WRONG", f"value shape {val_a.shape} != NumPy {ref_a.shape}"))
            return out
        if val_a.dtype != ref_a.dtype:
            out.append(("WRONG", f"value dtype {val_a.dtype} != NumPy {ref_a.dtype}"))
        elif not same_bits(val_a, ref_a):
            u_ = ulps(val_a, ref_a)
            if u_ > ulp_ok:
                out.append(("ULP", f"value differs from NumPy by {u_:.3g} ulp (max abs {np.max(np.abs(val_a - ref_a)):.3g})"))
    if val_a.dtype.kind != "f":
        return out  # plain integer/bool results: nothing to differentiate
    xf = np.asarray(X, dtype=np.float64)
    Ff = lambda x: np.asarray(Fd(x), dtype=np.float64)
    x_dtype = np.asarray(X).dtype
    lo = x_dtype == np.float32 or val_a.dtype == np.float32
    if lo:
        eps = max(eps, 1e-3)
    g_dtype_expected = np.float32 if x_dtype == np.float32 else np.float64
    u = rng.standard_normal(val_a.shape).astype(val_a.dtype)
    v = rng.standard_normal(np.shape(X))
    if symfd:
        v = sym(v)
    g = t = None
    if "own" in modes and isinstance(X, np.ndarray) and np.shares_memory(val_a, X):
        out.append(("WRONG", "value shares memory with the input"))
    if "vjp" in modes:
        try:
            gg = np.asarray(pull(u)[0])
            if gg.shape != np.shape(X):
                out.append(("WRONG", f"vjp shape {gg.shape} != X {np.shape(X)}"))
            if gg.dtype != g_dtype_expected:
                out.append(("WRONG", f"vjp dtype {gg.dtype} for X {x_dtype}, output {val_a.dtype}"))
            if fd:
                Fs = lambda x: np.sum(u.astype(np.float64) * Ff(x))
                gfd = fd_grad(Fs, xf, eps)
                if symfd:
                    gfd = sym(gfd)  # (gfd is already symmetric; kept explicit)
                if not close(gg, gfd, 1e-3 if lo else rtol, 1e-3 if lo else atol):
                    out.append(("WRONG", f"vjp vs FD: max err {np.max(np.abs(gg - gfd)):.3g}\n      got {gg.ravel()[:6]}\n      fd  {gfd.ravel()[:6]}"))
            if "own" in modes:
                if not owns(gg):
                    out.append(("WRONG", "vjp cotangent is a writeable view (does not own its memory)"))
                if isinstance(X, np.ndarray) and np.shares_memory(gg, X):
                    out.append(("WRONG", "vjp cotangent shares memory with X"))
                gg_copy = gg.copy()
                if gg.size and gg.flags.writeable:
                    gg[...] = 777.0
                val_copy = val_a.copy()
                if val_a.size and val_a.flags.writeable:
                    val_a[...] = -55.0
                g2 = np.asarray(pull(u)[0])
                if not same_bits(g2, gg_copy):
                    out.append(("WRONG", "mutating a returned cotangent/value changed a later pullback"))
                val_a = val_copy
                g = gg_copy
            else:
                g = gg
        except Exception as e:
            out.append(("CRASH" if not clear_refusal(e) else "REFUSED", "vjp pullback: " + short(e) + where(e)))
    if "jvp" in modes:
        try:
            val2, t = kronvec.jvp(F, (X,), (v.astype(x_dtype),))
            ta = np.asarray(t)
            if "value" in modes and not same_bits(np.asarray(val2), val_a):
                out.append(("WRONG", "jvp's value differs from vjp's"))
            if ta.shape != val_a.shape:
                out.append(("WRONG", f"jvp tangent shape {ta.shape} != output {val_a.shape}"))
            elif fd:
                tfd = fd_dir(Ff, xf, v, eps)
                if not close(ta, tfd, 1e-3 if lo else rtol, 1e-3 if lo else atol):
                    out.append(("WRONG", f"jvp vs FD: max err {np.max(np.abs(ta - tfd)):.3g}"))
            if g is not None and ta.shape == val_a.shape:
                lhs = float(np.sum(np.asarray(g, dtype=np.float64) * v))
                rhs = float(np.sum(u.astype(np.float64) * ta))
                if abs(lhs - rhs) > 1e-8 * (1 + abs(lhs)) * (1e4 if lo else 1):
                    out.append(("WRONG", f"dot test <vjp(u),v>={lhs:.12g} != <u,jvp(v)>={rhs:.12g}"))
        except Exception as e:
            out.append(("CRASH" if not clear_refusal(e) else "REFUSED", "jvp: " + short(e) + where(e)))
    tol = 1e-4 if lo else 1e-9
    if "jac" in modes:
        try:
            J = kronvec.jacobian(F)(X)
            if J.shape != (val_a.size, int(np.prod(np.shape(X)))):
                out.append(("WRONG", f"jacobian shape {J.shape}"))
            else:
                D = np.asarray(J.toarray(), dtype=np.float64)
                sc = 1 + np.max(np.abs(D)) if D.size else 1
                if g is not None and D.size and not close(D.T @ vec(u).astype(np.float64), vec(g), tol, tol * sc):
                    out.append(("WRONG", f"dense Jacobianᵀu != vjp(u): max err {np.max(np.abs(D.T @ vec(u) - vec(g))):.3g}"))
                if t is not None and D.size:
                    if not close(D @ vec(v), vec(t), tol, tol * sc):
                        out.append(("WRONG", f"dense Jacobian v != jvp(v): max err {np.max(np.abs(D @ vec(v) - vec(t))):.3g}"))
                    mv = np.asarray(J.matvec(vec(v)))
                    if not close(mv, D @ vec(v), tol, tol * sc):
                        out.append(("WRONG", "J.matvec != dense"))
                    rv = np.asarray(J.rmatvec(vec(u).astype(np.float64)))
                    if not close(rv, D.T @ vec(u), tol, tol * sc):
                        out.append(("WRONG", "J.rmatvec != denseᵀ"))
                if expect_grad is not None and val_a.size == 1:
                    if not close(D.reshape(np.shape(X), order="F"), expect_grad, 1e-12, 1e-12):
                        out.append(("WRONG", f"Jacobian row {D.ravel()} != convention {np.ravel(expect_grad)}"))
        except Exception as e:
            out.append(("CRASH" if not clear_refusal(e) else "REFUSED", "jacobian: " + short(e) + where(e)))
    # scalarization s(X) = <W, F(X)> for grad / hessian
    W = np.ones(val_a.shape) if val_a.size == 1 else rng.standard_normal(val_a.shape)
    S = (lambda x: F(x)) if val_a.size == 1 and val_a.ndim == 0 else (lambda x: np.sum(W * F(x)))
    Sd = (lambda x: S(sym(x))) if symfd else S
    if "grad" in modes:
        try:
            vg, G = kronvec.value_and_grad(S)(X)
            G = np.asarray(G)
            if G.dtype != g_dtype_expected:
                out.append(("WRONG", f"grad dtype {G.dtype} for X {x_dtype}"))
            if val_a.size == 1 and val_a.ndim == 0 and "value" in modes and not same_bits(np.asarray(vg), ref_a):
                if ulps(vg, ref_a) > ulp_ok and not same_bits(np.asarray(vg), val_a):
                    out.append(("WRONG", f"value_and_grad value {vg!r} != NumPy {ref_a!r}"))
            if expect_grad is not None:
                if not close(G, expect_grad, 1e-12, 1e-12):
                    out.append(("WRONG", f"grad {G.ravel()} != convention {np.ravel(expect_grad)}"))
            elif fd:
                gfd = fd_grad(lambda x: float(np.asarray(Sd(x), dtype=np.float64)), xf, eps)
                if not close(G, gfd, 1e-3 if lo else rtol, 1e-3 if lo else atol):
                    out.append(("WRONG", f"grad vs FD: max err {np.max(np.abs(G - gfd)):.3g}"))
            if "own" in modes and not owns(G):
                out.append(("WRONG", "gradient does not own its memory"))
            if "hess" in modes and x_dtype == np.float64 and fd:
                H = np.asarray(kronvec.hessian(S)(X).toarray())
                n = int(np.prod(np.shape(X)))
                if H.shape != (n, n):
                    out.append(("WRONG", f"hessian shape {H.shape}"))
                else:
                    if not np.allclose(H, H.T, rtol=1e-7, atol=1e-9):
                        out.append(("WRONG", f"hessian not symmetric: {np.max(np.abs(H - H.T)):.3g}"))
                    gradf = kronvec.grad(Sd)
                    Hfd = np.zeros((n, n))
                    h = opts.get("heps", 1e-5)
                    for c in range(n):
                        E = np.zeros(n)
                        E[c] = 1.0
                        E = E.reshape(np.shape(X), order="F")
                        Hfd[:, c] = vec((np.asarray(gradf(xf + h * E)) - np.asarray(gradf(xf - h * E))) / (2 * h))
                    if symfd:  # a Hessian along symmetric directions: compare N·H·N with N = ½(I + K)
                        Hfd = (Hfd + Hfd.T) / 2
                    hs = 1 + (np.max(np.abs(Hfd)) if Hfd.size else 0.0)
                    if not close(H, Hfd, 1e-5, 1e-6 * hs * opts.get("hess_atol_scale", 1)):
                        out.append(("WRONG", f"hessian vs FD of grad: {np.max(np.abs(H - Hfd)):.3g} (scale {hs:.3g})"))
        except Exception as e:
            out.append(("CRASH" if not clear_refusal(e) else "REFUSED", "grad/hessian: " + short(e) + where(e)))
    for k, (a, s, st) in enumerate(zip(args, saved, saved_strides)):
        if isinstance(a, np.ndarray) and (not same_bits(a, s) or a.strides != st):
            out.append(("WRONG", f"argument {k} was modified"))
    return out


def build_cases(rng):
    """The cases, drawn from ``rng``: a list of (name, f, args, opts)."""
    CASES = []

    def case(name, f, *args, **opts):
        CASES.append((name, f, args, opts))

    # ================================================================ inputs
    R = lambda *s: rng.standard_normal(s)


    def wellcond(n, *batch):
        A = rng.standard_normal(batch + (n, n)) + 3 * np.eye(n)
        return A


    def spd(n, *batch):
        B = rng.standard_normal(batch + (n, n))
        return B @ np.swapaxes(B, -1, -2) + n * np.eye(n)


    def sym_distinct(n, *batch):
        """a symmetric matrix with well separated eigenvalues"""
        Q, _ = np.linalg.qr(rng.standard_normal(batch + (n, n)))
        lam = np.arange(1, n + 1) * 1.3 - 0.4 * n
        return sym(Q @ (lam[..., :, None] * np.swapaxes(Q, -1, -2)))


    def distinct_sv(m, n, *batch):
        """full rank, well separated singular values"""
        k = min(m, n)
        U, _ = np.linalg.qr(rng.standard_normal(batch + (m, m)))
        V, _ = np.linalg.qr(rng.standard_normal(batch + (n, n)))
        S = np.zeros(batch + (m, n))
        for i in range(k):
            S[..., i, i] = 3.0 - 0.7 * i
        return U @ S @ V


    def real_spectrum(n):
        V = rng.standard_normal((n, n)) + 2 * np.eye(n)
        lam = np.arange(1, n + 1) * 1.1 - 1.7
        return V @ np.diag(lam) @ np.linalg.inv(V)


    def layouts(X):
        out = {"F": np.asfortranarray(X)}
        out["neg"] = np.ascontiguousarray(X[..., ::-1, ::-1])[..., ::-1, ::-1]
        big = np.zeros(X.shape[:-1] + (2 * X.shape[-1],))
        big[..., ::2] = X
        out["strided"] = big[..., ::2]
        ro = X.copy()
        ro.flags.writeable = False
        out["readonly"] = ro
        return out


    # ================================================================ cases
    # ---------------- vector norms
    x5 = R(5)
    xz = np.array([0.0, 1.5, -2.0, 0.7])
    for ord_ in [None, 1, 2, np.inf, -np.inf, -1, -2, 0.5, 3, 0, 1.5]:
        case(f"norm vec ord={ord_}", lambda x, o=ord_: LA.norm(x, ord=o), x5)
        case(f"vector_norm ord={ord_}", lambda x, o=ord_: LA.vector_norm(x, ord=o), x5)
        case(f"norm vec f32 ord={ord_}", lambda x, o=ord_: LA.norm(x, ord=o),  # (entries 0.1 apart: f32 steps 1e-3)
             np.array([0.7, -0.3, 1.2, -1.5, 0.45], dtype=np.float32),
             modes=("value", "vjp", "jvp", "jac", "grad"))
        # a zero entry: p < 1 documented as an error; otherwise smooth away from the kink in |x|
        if ord_ in (-1, -2, 0.5):
            case(f"norm vec zero-entry ord={ord_}", lambda x, o=ord_: LA.norm(x, ord=o), xz, expect_refusal=True)
        elif ord_ in (None, 2, 3, 1.5, np.inf, -np.inf):  # (-inf: min|x| = 0 there, |x|'s convention: 0)
            case(f"norm vec zero-entry ord={ord_}", lambda x, o=ord_: LA.norm(x, ord=o), xz, heps=1e-7,
                 modes=("value", "vjp", "jvp", "jac", "grad", "own") + (("hess",) if ord_ != -np.inf else ()))  # (|x|³'s second derivative 6|x| has a kink at 0: an O(h) difference error)
        # the zero vector: 0 for p >= 1 (minimal-norm subgradient); convention table §7
        if ord_ in (None, 1, 2, np.inf, 3, 1.5):
            case(f"norm zero vec ord={ord_}", lambda x, o=ord_: LA.norm(x, ord=o), np.zeros(4),
                 expect_grad=np.zeros(4), modes=("value", "vjp", "jac", "grad"))
        if ord_ == 0:
            case("norm zero vec ord=0", lambda x, o=ord_: LA.norm(x, ord=o), np.zeros(4),
                 expect_grad=np.zeros(4), modes=("value", "vjp", "jac", "grad"))
    # ties of the max |x_i|: 1/t to each tied entry (§7 max over a slice), with signs
    xt = np.array([2.0, -2.0, 1.0, 2.0])
    case("norm vec inf tie", lambda x: LA.norm(x, np.inf), xt, expect_grad=np.array([1, -1, 0, 1]) / 3.0,
         modes=("value", "vjp", "jac", "grad"))
    case("norm vec -inf tie", lambda x: LA.norm(x, -np.inf), np.array([1.0, -1.0, 3.0]),
         expect_grad=np.array([0.5, -0.5, 0]), modes=("value", "vjp", "jac", "grad"))
    # vector norms along axes of a matrix / stack
    X34 = R(3, 4)
    for ord_ in [None, 1, 2, np.inf, -np.inf, 3, 0.5]:
        for ax in [0, 1, -1]:
            for kd in (False, True):
                case(f"norm axis={ax} kd={kd} ord={ord_}", lambda x, o=ord_, a=ax, k=kd: LA.norm(x, o, a, k), X34)
        case(f"vector_norm axis=(0,1) ord={ord_}", lambda x, o=ord_: LA.vector_norm(x, axis=(0, 1), ord=o), X34)
        case(f"vector_norm 3d axis=(0,2) kd ord={ord_}", lambda x, o=ord_: LA.vector_norm(x, axis=(0, 2), ord=o, keepdims=True),
             R(2, 3, 2))
        case(f"vector_norm axis=None 3d ord={ord_}", lambda x, o=ord_: LA.vector_norm(x, ord=o), R(2, 2, 2))
    case("norm 2d no ord (fro of ravel)", lambda x: LA.norm(x), X34)
    case("norm 3d no ord no axis", lambda x: LA.norm(x), R(2, 3, 2))
    case("norm 3d no ord keepdims", lambda x: LA.norm(x, keepdims=True), R(2, 3, 2))
    case("norm 3d ord=2 no axis", lambda x: LA.norm(x, 2), R(2, 3, 2), expect_refusal=ValueError)
    case("norm 0d", lambda x: LA.norm(x), np.array(-3.0))
    case("norm empty", lambda x: LA.norm(x), np.zeros(0))
    case("norm empty inf", lambda x: LA.norm(x, np.inf), np.zeros(0))
    case("vector_norm empty inf", lambda x: LA.vector_norm(x, ord=np.inf), np.zeros((0, 3)))
    case("norm empty rows inf axis=1", lambda x: LA.norm(x, np.inf, axis=1), np.zeros((3, 0)))
    case("norm empty -inf", lambda x: LA.norm(x, -np.inf), np.zeros(0))
    case("norm axis zero row", lambda x: LA.norm(x, axis=1), np.array([[0.0, 0.0], [1.0, 2.0]]),
         modes=("value", "vjp", "jac", "grad"), fd=False,
         expect_grad=None)

    # ---------------- matrix norms
    Mg = R(3, 4)
    MOrds = ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]
    for ord_ in MOrds:
        case(f"norm mat ord={ord_}", lambda x, o=ord_: LA.norm(x, o), Mg if ord_ not in (2, -2, "nuc") else distinct_sv(3, 4))
        case(f"matrix_norm ord={ord_}", lambda x, o=ord_: LA.matrix_norm(x, ord=o), distinct_sv(3, 3))
        case(f"matrix_norm stack kd ord={ord_}", lambda x, o=ord_: LA.matrix_norm(x, ord=o, keepdims=True),
             distinct_sv(3, 2, 2) if ord_ in (2, -2, "nuc") else R(2, 3, 2))
        for ax in [(0, 1), (1, 0), (-1, -2), (2, 0)]:
            case(f"norm 3d axis={ax} ord={ord_}", lambda x, o=ord_, a=ax: LA.norm(x, o, a),
                 np.moveaxis(distinct_sv(3, 3, 2), 0, 1) if ord_ in (2, -2, "nuc") else R(3, 2, 3))
            case(f"norm 3d axis={ax} kd ord={ord_}", lambda x, o=ord_, a=ax: LA.norm(x, o, a, keepdims=True),
                 np.moveaxis(distinct_sv(3, 3, 2), 0, 1) if ord_ in (2, -2, "nuc") else R(3, 2, 3))
        case(f"norm mat f32 ord={ord_}", lambda x, o=ord_: LA.norm(x, o), distinct_sv(3, 3).astype(np.float32),
             modes=("value", "vjp", "jvp", "jac", "grad"))
        for lname, L in layouts(distinct_sv(3, 3)).items():
            case(f"norm mat layout {lname} ord={ord_}", lambda x, o=ord_: LA.norm(x, o), L,
                 modes=("value", "vjp", "jvp", "jac", "own"))
        Z = np.zeros((2, 3))
        if ord_ in ("fro", "nuc", 1, np.inf):
            case(f"norm zero mat ord={ord_}", lambda x, o=ord_: LA.norm(x, o), Z, expect_grad=np.zeros((2, 3)),
                 modes=("value", "vjp", "jac", "grad"))
        elif ord_ in (2, -2):  # (σ = 0 takes 0, as |x| at 0: the minimal-norm subgradient, not the tie error)
            case(f"norm zero mat ord={ord_}", lambda x, o=ord_: LA.norm(x, o), Z, expect_grad=np.zeros((2, 3)),
                 modes=("value", "vjp", "jac", "grad"))
    # the ∞-norm (max row sum) and 1-norm (max col sum) at ties: split evenly (§7)
    Xt = np.array([[1.0, -2.0, 0.0], [3.0, 0.0, 0.0], [-1.0, 1.0, 1.0]])  # rows 0,1 tie at 3, row 2 = 3 too
    Gi = np.array([[1, -1, 0], [1, 0, 0], [-1, 1, 1]]) / 3.0
    case("norm inf 3-way tie with zero entries", lambda x: LA.norm(x, np.inf), Xt, expect_grad=Gi,
         modes=("value", "vjp", "jac", "grad"))
    case("norm 1 3-way tie (transposed)", lambda x: LA.norm(x, 1), Xt.T.copy(), expect_grad=Gi.T,
         modes=("value", "vjp", "jac", "grad"))
    Xt2 = np.array([[1.0, 2.0], [-2.0, 1.0], [0.5, 0.5]])
    case("norm inf 2-way tie", lambda x: LA.norm(x, np.inf), Xt2,
         expect_grad=np.array([[0.5, 0.5], [-0.5, 0.5], [0, 0]]), modes=("value", "vjp", "jac", "grad"))
    case("norm -inf 2-way tie", lambda x: LA.norm(x, -np.inf), np.array([[1.0, 2.0], [-2.0, 1.0], [5.0, 0.5]]),
         expect_grad=np.array([[0.5, 0.5], [-0.5, 0.5], [0, 0]]), modes=("value", "vjp", "jac", "grad"))
    case("matrix_norm stack inf tie", lambda x: LA.matrix_norm(x, ord=np.inf), np.stack([Xt2, Xt2[::-1]]),
         expect_grad=None, modes=("value", "vjp", "jac", "grad"), fd=False)
    case("norm inf tie, hessian 0", lambda x: LA.norm(x, np.inf) ** 2, Xt2, fd=False, modes=("value", "grad"),
         expect_grad=2 * 3 * np.array([[0.5, 0.5], [-0.5, 0.5], [0, 0]]))
    case("norm nuc rank-deficient (U_r V_rᵀ)", lambda x: LA.norm(x, "nuc"),
         np.outer([1.0, 2.0, 2.0], [1.0, 0.0, 1.0]), modes=("value", "vjp", "jac", "grad"), fd=False,
         expect_grad=np.outer([1.0, 2.0, 2.0], [1.0, 0.0, 1.0]) / (3 * np.sqrt(2)))
    case("norm 2 repeated σ (orthogonal)", lambda x: LA.norm(x, 2), np.eye(3), expect_refusal=LA.LinAlgError)
    case("norm -2 singular", lambda x: LA.norm(x, -2), np.diag([1.0, 2.0, 0.0]), fd=False,
         modes=("value", "vjp", "jac", "grad"))

    # ---------------- det / slogdet
    for n in (1, 2, 3, 5):
        A = wellcond(n)
        A[0] *= -1  # negative determinant (for n>=1)
        case(f"det n={n} neg", LA.det, A)
        case(f"slogdet[1] n={n} neg", lambda x: LA.slogdet(x)[1], A)
        case(f"slogdet[0] n={n}", lambda x: LA.slogdet(x)[0], A, modes=("value",))
        case(f"slogdet.logabsdet n={n}", lambda x: LA.slogdet(x).logabsdet, A)
    case("det stack (2,3,3,3)", LA.det, wellcond(3, 2, 3))
    case("slogdet stack (4,2,2)", lambda x: LA.slogdet(x)[1], wellcond(2, 4))
    case("det stack (0,2,2)", LA.det, np.zeros((0, 2, 2)))
    case("det 0x0", LA.det, np.zeros((0, 0)))
    case("slogdet 0x0", lambda x: LA.slogdet(x)[1], np.zeros((0, 0)))
    case("det near-singular", LA.det, np.array([[1.0, 1.0], [1.0, 1.0 + 1e-10]]), fd=False, modes=("value", "vjp", "jvp", "jac", "grad"))
    case("det singular (adj)", LA.det, np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),
         modes=("value", "vjp", "jvp", "jac", "grad"))
    case("det rank n-2 (adj=0)", LA.det, np.zeros((3, 3)), expect_grad=np.zeros((3, 3)),
         modes=("value", "vjp", "jac", "grad"))
    case("slogdet singular", lambda x: LA.slogdet(x)[1], np.ones((2, 2)), expect_refusal=True)
    case("det f32", LA.det, wellcond(3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("slogdet f32", lambda x: LA.slogdet(x)[1], wellcond(3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("det int", LA.det, np.array([[2, 1], [1, 3]]), modes=("value",))
    case("det 1x1 f32 stack", LA.det, np.array([[[2.0]], [[-3.0]]], dtype=np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    for lname, L in layouts(wellcond(4)).items():
        case(f"det layout {lname}", LA.det, L)
        case(f"slogdet layout {lname}", lambda x: LA.slogdet(x)[1], L)
        case(f"inv layout {lname}", LA.inv, L)
    for lname, L in layouts(wellcond(3, 2)).items():
        case(f"det stack layout {lname}", LA.det, L)
        case(f"inv stack layout {lname}", LA.inv, L)

    # ---------------- inv / solve
    for n in (1, 2, 4):
        case(f"inv n={n}", LA.inv, wellcond(n))
    case("inv stack (2,2,3,3)", LA.inv, wellcond(3, 2, 2))
    case("inv f32", LA.inv, wellcond(3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("inv singular", LA.inv, np.ones((3, 3)), expect_refusal=LA.LinAlgError)
    case("inv 0x0", LA.inv, np.zeros((0, 0)))
    A3 = wellcond(3)
    b1, b2 = R(3), R(3, 2)
    for nm, b in (("b1", b1), ("b2", b2), ("b(3,1)", R(3, 1))):
        case(f"solve {nm} wrt A", lambda a, b: LA.solve(a, b), A3, b)
        case(f"solve {nm} wrt b", lambda a, b: LA.solve(a, b), A3, b, argnum=1)
    wellcond(3, 2)  # (a draw kept: the later cases' inputs follow from the generator's sequence)
    solve_shapes = [((2, 3, 3), (2, 3, 4)), ((2, 3, 3), (3,)), ((3, 3), (2, 3, 2)), ((2, 1, 3, 3), (4, 3, 2)),
                    ((3, 3, 3), (3, 3)), ((2, 3, 3), (2, 3)), ((2, 3, 3), (1, 3, 1)), ((1, 3, 3), (2, 3)),
                    ((4, 2, 2), (2,))]
    for sa, sb in solve_shapes:
        A_ = wellcond(sa[-1], *sa[:-2])
        b_ = R(*sb)
        case(f"solve A{sa} b{sb} wrt A", lambda a, b: LA.solve(a, b), A_, b_)
        case(f"solve A{sa} b{sb} wrt b", lambda a, b: LA.solve(a, b), A_, b_, argnum=1)
    case("solve f32 A, f64 b", lambda a, b: LA.solve(a, b), A3.astype(np.float32), b1, modes=("value", "vjp", "jvp", "jac", "grad"))
    case("solve f64 A, f32 b wrt A", lambda a, b: LA.solve(a, b), A3, b1.astype(np.float32))
    case("solve f32 both wrt b", lambda a, b: LA.solve(a, b), A3.astype(np.float32), b1.astype(np.float32), argnum=1,
         modes=("value", "vjp", "jvp", "jac", "grad"))
    case("solve b F-order", lambda a, b: LA.solve(a, b), A3, np.asfortranarray(R(3, 3)), argnum=1)
    case("solve b neg-stride", lambda a, b: LA.solve(a, b), A3, R(3, 3)[::-1, ::-1], argnum=1)
    case("solve A neg-stride", lambda a, b: LA.solve(a, b), A3[::-1, ::-1], R(3, 2))
    case("solve singular", lambda a, b: LA.solve(a, b), np.ones((2, 2)), R(2), expect_refusal=LA.LinAlgError)
    case("solve bad shapes", lambda a, b: LA.solve(a, b), A3, R(2), expect_refusal=True)
    case("solve b empty cols", lambda a, b: LA.solve(a, b), A3, np.zeros((3, 0)))

    # ---------------- pinv
    for m, n in ((3, 3), (4, 2), (2, 4)):
        case(f"pinv {m}x{n}", LA.pinv, distinct_sv(m, n))
    case("pinv stack", LA.pinv, distinct_sv(3, 2, 2))
    case("pinv rcond kept", lambda x: LA.pinv(x, rcond=0.1), distinct_sv(3, 3))
    case("pinv rtol kept", lambda x: LA.pinv(x, rtol=0.1), distinct_sv(3, 3))
    case("pinv rcond discards σ", lambda x: LA.pinv(x, rcond=0.6), distinct_sv(3, 3), expect_refusal=LA.LinAlgError)
    case("pinv rank-deficient", LA.pinv, np.outer([1.0, 2, 3], [1.0, 1, 0]), expect_refusal=LA.LinAlgError)
    case("pinv zero matrix", LA.pinv, np.zeros((2, 3)), expect_refusal=LA.LinAlgError)
    case("pinv hermitian", lambda x: LA.pinv(x, hermitian=True), sym_distinct(3), sym=True)
    case("pinv hermitian ±λ", lambda x: LA.pinv(x, hermitian=True), np.diag([1.0, -1.0, 2.0]), sym=True)
    case("pinv f32", LA.pinv, distinct_sv(3, 2).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("pinv rcond array (one per member)", lambda x: LA.pinv(x, rcond=np.array([0.01, 0.02])), distinct_sv(3, 3, 2),
         expect_refusal=TypeError)
    case("pinv rcond array, equal entries", lambda x: LA.pinv(x, rcond=np.array([0.01, 0.01])), distinct_sv(3, 3, 2))
    case("pinv rcond 0-d array", lambda x: LA.pinv(x, rcond=np.array(0.01)), distinct_sv(3, 3))

    # ---------------- lstsq
    for m, n in ((5, 3), (3, 3), (2, 4)):
        A_ = distinct_sv(m, n)
        for nm, b in (("b1", R(m)), ("b2", R(m, 2))):
            for k in range(4):
                if k == 2:
                    case(f"lstsq {m}x{n} {nm} rank", lambda a, b=b: LA.lstsq(a, b, rcond=None)[2], A_, inside=True)
                    continue
                case(f"lstsq {m}x{n} {nm} out[{k}] wrt A", lambda a, b, k=k: LA.lstsq(a, b, rcond=None)[k], A_, b)
                if k in (0, 1):
                    case(f"lstsq {m}x{n} {nm} out[{k}] wrt b", lambda a, b, k=k: LA.lstsq(a, b, rcond=None)[k], A_, b, argnum=1)
    case("lstsq rank-deficient", lambda a, b: LA.lstsq(a, b, rcond=None)[0], np.outer([1.0, 2, 3], [1.0, 1]), R(3),
         expect_refusal=LA.LinAlgError)
    case("lstsq rank-deficient wrt b", lambda a, b: LA.lstsq(a, b, rcond=None)[0], np.outer([1.0, 2, 3], [1.0, 1]), R(3),
         argnum=1)
    case("lstsq rcond discards", lambda a, b: LA.lstsq(a, b, rcond=0.6)[0], distinct_sv(4, 3), R(4), expect_refusal=LA.LinAlgError)
    case("lstsq rcond small", lambda a, b: LA.lstsq(a, b, rcond=1e-3)[0], distinct_sv(4, 3), R(4))
    case("lstsq default rcond", lambda a, b: LA.lstsq(a, b)[0], distinct_sv(4, 3), R(4))
    case("lstsq f32", lambda a, b: LA.lstsq(a, b)[0], distinct_sv(4, 3).astype(np.float32), R(4).astype(np.float32),
         modes=("value", "vjp", "jvp", "jac", "grad"))
    case("lstsq stack refused", lambda a, b: LA.lstsq(a, b)[0], distinct_sv(4, 3, 2), R(2, 4), expect_refusal=True)
    case("lstsq residuals b1 exact fit", lambda a, b: LA.lstsq(a, b, rcond=None)[1], distinct_sv(3, 2),
         distinct_sv(3, 2) @ np.array([1.0, 2.0]))

    # ---------------- matrix_power
    for p in (0, 1, 2, 3, -1, -2, -3, 7, 20, -6):
        case(f"matrix_power p={p}", lambda x, p=p: LA.matrix_power(x, p), wellcond(3) / 3.0, heps=1e-4)
    case("matrix_power stack p=3", lambda x: LA.matrix_power(x, 3), wellcond(2, 3) / 3)
    case("matrix_power stack p=-2", lambda x: LA.matrix_power(x, -2), wellcond(2, 3) / 3)
    case("matrix_power stack p=0", lambda x: LA.matrix_power(x, 0), wellcond(2, 3))
    case("matrix_power 1x1 p=5", lambda x: LA.matrix_power(x, 5), np.array([[1.1]]))
    case("matrix_power f32 p=3", lambda x: LA.matrix_power(x, 3), (wellcond(3) / 3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("matrix_power f32 p=-1", lambda x: LA.matrix_power(x, -1), (wellcond(3) / 3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("matrix_power np.int p", lambda x: LA.matrix_power(x, np.int64(2)), wellcond(3))
    case("matrix_power float p", lambda x: LA.matrix_power(x, 2.0), wellcond(3), expect_refusal=TypeError)
    case("matrix_power singular p=-1", lambda x: LA.matrix_power(x, -1), np.ones((2, 2)), expect_refusal=LA.LinAlgError)
    case("matrix_power neg-stride p=4", lambda x: LA.matrix_power(x, 4), (wellcond(3) / 3)[::-1, ::-1])
    case("matrix_power F p=5", lambda x: LA.matrix_power(x, 5), np.asfortranarray(wellcond(3) / 3))
    case("matrix_power nonsquare", lambda x: LA.matrix_power(x, 2), R(2, 3), expect_refusal=True)

    # ---------------- multi_dot
    A23, B34, C42, v3, w2 = R(2, 3), R(3, 4), R(4, 2), R(2), R(2)
    case("multi_dot 2", lambda a, b: LA.multi_dot([a, b]), A23, B34)
    case("multi_dot 3 wrt mid", lambda a, b, c: LA.multi_dot([a, b, c]), A23, B34, C42, argnum=1)
    case("multi_dot 3 wrt last", lambda a, b, c: LA.multi_dot([a, b, c]), A23, B34, C42, argnum=2)
    case("multi_dot 1-D ends", lambda v, a, b, c, w: LA.multi_dot([v, a, b, c, w]), v3, A23, B34, C42, w2, argnum=0)
    case("multi_dot 1-D ends wrt mid", lambda v, a, b, c, w: LA.multi_dot([v, a, b, c, w]), v3, A23, B34, C42, w2, argnum=2)
    case("multi_dot 1-D ends wrt last", lambda v, a, b, c, w: LA.multi_dot([v, a, b, c, w]), v3, A23, B34, C42, w2, argnum=4)
    case("multi_dot same X", lambda x: LA.multi_dot([x, x.T, x]), R(3, 3))
    case("multi_dot f32", lambda x: LA.multi_dot([x, x, x]), R(3, 3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("multi_dot tuple", lambda x: LA.multi_dot((x, x)), R(3, 3))
    case("multi_dot one", lambda x: LA.multi_dot([x]), R(3, 3), expect_refusal=True)
    R4a, R4b = R(30, 3), R(3, 20)
    case("multi_dot 4 chain order", lambda a, b: LA.multi_dot([a, b, R4a, R4b]), R(10, 2), R(2, 30))
    case("multi_dot 4 chain order wrt 2", lambda b, a: LA.multi_dot([a, b, R4a, R4b]), R(2, 30), R(10, 2))

    # ---------------- matrix_rank (plain int)
    case("matrix_rank", lambda x: LA.matrix_rank(x), np.outer([1.0, 2, 3], [1.0, 1, 0]), inside=True)
    case("matrix_rank tol", lambda x: LA.matrix_rank(x, tol=0.5), distinct_sv(3, 3), inside=True)
    case("matrix_rank rtol", lambda x: LA.matrix_rank(x, rtol=0.3), distinct_sv(3, 3), inside=True)
    case("matrix_rank stack", lambda x: LA.matrix_rank(x), distinct_sv(3, 3, 2), inside=True)
    case("matrix_rank hermitian", lambda x: LA.matrix_rank(x, hermitian=True), sym_distinct(3), inside=True)
    case("matrix_rank 1d", lambda x: LA.matrix_rank(x), R(3), inside=True)
    case("matrix_rank times x", lambda x: LA.matrix_rank(x) * np.sum(x), R(3, 3))

    # ---------------- cond
    for p in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
        case(f"cond p={p}", lambda x, p=p: LA.cond(x, p), distinct_sv(3, 3))
        case(f"cond stack p={p}", lambda x, p=p: LA.cond(x, p), distinct_sv(3, 3, 2))
        case(f"cond f32 p={p}", lambda x, p=p: LA.cond(x, p), distinct_sv(3, 3).astype(np.float32),
             modes=("value", "vjp", "jvp", "jac", "grad"))
    case("cond nonsquare p=None", lambda x: LA.cond(x), distinct_sv(4, 2))
    case("cond nonsquare p=1", lambda x: LA.cond(x, 1), distinct_sv(4, 2), expect_refusal=True)
    case("cond singular p=None", lambda x: LA.cond(x), np.diag([1.0, 2.0, 0.0]), expect_refusal=True)
    case("cond singular p=1", lambda x: LA.cond(x, 1), np.ones((2, 2)), expect_refusal=True)

    # ---------------- cholesky
    S3 = spd(3)
    case("cholesky sym", LA.cholesky, S3, sym=True)
    case("cholesky upper sym", lambda x: LA.cholesky(x, upper=True), S3, sym=True)
    case("cholesky sym grad convention", lambda x: np.sum(np.log(np.diagonal(LA.cholesky(x)))), S3, sym=True)
    Sn = S3 + np.triu(R(3, 3), 1) * 0.3  # not symmetric: NumPy reads the lower triangle
    case("cholesky nonsym (lower read)", LA.cholesky, Sn)
    case("cholesky upper nonsym (upper read)", lambda x: LA.cholesky(x, upper=True), S3 + np.tril(R(3, 3), -1) * 0.3)
    case("cholesky stack sym", LA.cholesky, spd(3, 2), sym=True)
    case("cholesky stack mixed sym/nonsym", LA.cholesky, np.stack([spd(2), spd(2) + np.array([[0, 0.3], [0, 0]])]),
         modes=("value", "vjp", "jvp", "jac", "own"), fd=False)
    case("cholesky f32 sym", LA.cholesky, S3.astype(np.float32), sym=True, modes=("value", "vjp", "jvp", "jac", "grad"))
    case("cholesky not PD", LA.cholesky, np.diag([1.0, -1.0]), expect_refusal=LA.LinAlgError)
    case("cholesky 1x1", LA.cholesky, np.array([[4.0]]))
    case("cholesky F sym", LA.cholesky, np.asfortranarray(S3), sym=True)
    case("cholesky neg-stride sym", LA.cholesky, S3[::-1, ::-1].copy()[::-1, ::-1], sym=True)

    # ---------------- qr
    for m, n in ((3, 3), (4, 2), (2, 4), (3, 2)):  # (mode='complete': 2 and 1 extra columns of Q)
        A_ = distinct_sv(m, n)
        for mode in ("reduced", "complete", "r"):
            if mode == "r":
                case(f"qr {m}x{n} mode=r", lambda x: LA.qr(x, mode="r"), A_)
            else:
                case(f"qr {m}x{n} {mode} Q", lambda x, md=mode: LA.qr(x, mode=md)[0], A_)
                case(f"qr {m}x{n} {mode} R", lambda x, md=mode: LA.qr(x, mode=md)[1], A_)
                case(f"qr {m}x{n} {mode} .Q", lambda x, md=mode: LA.qr(x, mode=md).Q, A_)
        case(f"qr {m}x{n} raw", lambda x: LA.qr(x, mode="raw")[0], A_)
    case("qr stack", lambda x: LA.qr(x)[0], distinct_sv(3, 2, 2))
    case("qr rank-deficient", lambda x: LA.qr(x)[0], np.outer([1.0, 2, 3], [1.0, 1, 1]), expect_refusal=LA.LinAlgError)
    case("qr f32", lambda x: LA.qr(x)[1], distinct_sv(3, 3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("qr bad mode", lambda x: LA.qr(x, mode="x")[0], distinct_sv(3, 3), expect_refusal=ValueError)
    case("qr neg-stride", lambda x: LA.qr(x)[0], distinct_sv(3, 3)[::-1, ::-1])

    # ---------------- svd
    for m, n in ((3, 3), (4, 2), (2, 4), (3, 2), (2, 3)):  # (full_matrices=True: 2, 2, 1, 1 extra vectors)
        A_ = distinct_sv(m, n)
        for fm in (True, False):
            for k in range(3):
                case(f"svd {m}x{n} full={fm} out[{k}]", lambda x, fm=fm, k=k: LA.svd(x, full_matrices=fm)[k], A_)
        case(f"svd {m}x{n} compute_uv=False", lambda x: LA.svd(x, compute_uv=False), A_)
        case(f"svdvals {m}x{n}", LA.svdvals, A_)
    case("svd .Vh", lambda x: LA.svd(x).Vh, distinct_sv(3, 3))
    case("svd stack U", lambda x: LA.svd(x)[0], distinct_sv(3, 3, 2))
    case("svd stack U full (tall, one extra)", lambda x: LA.svd(x)[0], distinct_sv(3, 2, 2))
    case("svd stack Vh full (wide, one extra)", lambda x: LA.svd(x)[2], distinct_sv(2, 3, 2))
    case("svd 4x2 full: σ and U's leading columns", lambda x: LA.svd(x)[0][:, :2] * LA.svd(x)[1], distinct_sv(4, 2))
    case("svdvals stack", LA.svdvals, distinct_sv(3, 2, 2))
    Hs = sym_distinct(3)
    for k in range(3):
        case(f"svd hermitian out[{k}]", lambda x, k=k: LA.svd(x, hermitian=True)[k], Hs, sym=True)
    case("svd hermitian compute_uv=False", lambda x: LA.svd(x, hermitian=True, compute_uv=False), Hs, sym=True)
    # at a tie of σ only symmetric functions of σ have a derivative (§7): Σσ³ and Σσ
    case("svd hermitian Σσ³ with ±λ", lambda x: np.sum(LA.svd(x, hermitian=True, compute_uv=False) ** 3),
         np.diag([1.0, -1.0, 2.0]), sym=True, modes=("value", "vjp", "jvp", "jac", "grad"))
    case("svd hermitian Σσ with ±λ", lambda x: np.sum(LA.svd(x, hermitian=True, compute_uv=False)),
         np.diag([1.0, -1.0, 2.0]) + 0.1 * sym_distinct(3) * 0, sym=True)
    case("svd hermitian U with ±λ", lambda x: LA.svd(x, hermitian=True)[0], np.diag([1.0, -1.0, 2.0]),
         expect_refusal=LA.LinAlgError)
    case("svd U repeated σ", lambda x: LA.svd(x)[0], np.eye(3), expect_refusal=LA.LinAlgError)
    case("svd Σσ³ repeated", lambda x: np.sum(LA.svd(x, compute_uv=False) ** 3), np.eye(3) * 2,
         modes=("value", "vjp", "jvp", "jac", "grad"))
    # a double σ of a rotated diag(2, 2, 1): each tied σ gets the mean derivative (as eigvalsh), which is
    # what central differences give, for any weights, and does not depend on LAPACK's basis
    _Q1, _ = np.linalg.qr(R(3, 3))
    _Q2, _ = np.linalg.qr(R(3, 3))
    Xdouble = _Q1 @ np.diag([2.0, 2.0, 1.0]) @ _Q2.T
    # (at a tie the central difference of one σ has an O(h) error, its second-order term no longer
    # cancelling: rtol/atol 1e-5 instead of 1e-6/1e-7 — the convention's O(1) errors stay far above)
    case("svdvals weighted at a double σ", lambda x: LA.svdvals(x) @ np.array([1.0, 0.3, -0.7]), Xdouble,
         modes=("value", "vjp", "jvp", "jac", "grad"), rtol=1e-5, atol=1e-5)
    case("svd σ vector at a double σ", lambda x: LA.svd(x, compute_uv=False), Xdouble, modes=("value", "vjp", "jvp", "jac"),
         rtol=1e-5, atol=1e-5)
    case("svdvals stack, a double σ in one member", lambda x: LA.svdvals(x), np.stack([Xdouble, distinct_sv(3, 3)]),
         modes=("value", "vjp", "jvp", "jac"), rtol=1e-5, atol=1e-5)
    case("svd σ hessian at a double σ", lambda x: LA.svdvals(x) @ np.array([1.0, 0.3, -0.7]), Xdouble,
         modes=("value", "grad", "hess"), expect_refusal=None)
    case("svd σ at zero", lambda x: LA.svd(x, compute_uv=False), np.diag([2.0, 1.0, 0.0]), fd=False,
         modes=("value", "vjp", "jvp", "jac"))
    case("svd f32 S", lambda x: LA.svd(x)[1], distinct_sv(3, 3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("svd f32 U", lambda x: LA.svd(x)[0], distinct_sv(3, 3).astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("svd F U", lambda x: LA.svd(x)[0], np.asfortranarray(distinct_sv(3, 3)))

    # ---------------- eig / eigvals (real spectrum)
    Ar = real_spectrum(3)
    case("eigvals real", LA.eigvals, Ar, ulp=0)
    case("eig w", lambda x: LA.eig(x)[0], Ar)
    case("eig V", lambda x: LA.eig(x)[1], Ar)
    case("eig .eigenvectors", lambda x: LA.eig(x).eigenvectors, Ar)
    case("eig complex refused", LA.eigvals, np.array([[0.0, -1.0], [1.0, 0.0]]), expect_refusal=TypeError)
    case("eig stack refused", LA.eigvals, np.stack([Ar, Ar]), expect_refusal=TypeError)
    case("eig repeated refused", LA.eigvals, np.eye(2), expect_refusal=LA.LinAlgError)
    case("eigvals f32", LA.eigvals, Ar.astype(np.float32), modes=("value", "vjp", "jvp", "jac", "grad"))
    case("eig 1x1", lambda x: LA.eig(x)[1], np.array([[2.0]]))
    case("eigvals 1x1", LA.eigvals, np.array([[2.0]]))
    case("eigvals symmetric input", LA.eigvals, sym_distinct(3))
    case("eig F", lambda x: LA.eig(x)[0], np.asfortranarray(Ar))

    # ---------------- eigh / eigvalsh
    Sd3 = sym_distinct(3)
    for up in ("L", "U"):
        case(f"eigvalsh {up} sym", lambda x, u=up: LA.eigvalsh(x, UPLO=u), Sd3, sym=True)
        case(f"eigh w {up} sym", lambda x, u=up: LA.eigh(x, UPLO=u)[0], Sd3, sym=True)
        case(f"eigh V {up} sym", lambda x, u=up: LA.eigh(x, UPLO=u)[1], Sd3, sym=True)
        Nn = Sd3 + (np.triu(R(3, 3), 1) if up == "L" else np.tril(R(3, 3), -1)) * 0.2  # other triangle junk
        case(f"eigvalsh {up} nonsym (triangle read)", lambda x, u=up: LA.eigvalsh(x, UPLO=u), Nn)
        case(f"eigh V {up} nonsym (triangle read)", lambda x, u=up: LA.eigh(x, UPLO=u)[1], Nn)
        case(f"eigh w {up} nonsym stack", lambda x, u=up: LA.eigh(x, UPLO=u)[0],
             sym_distinct(3, 2) + np.triu(R(2, 3, 3), 1) * 0.2)
    case("eigvalsh repeated (mean)", lambda x: LA.eigvalsh(x), np.diag([1.0, 1.0, 2.0]), sym=True,
         modes=("value", "vjp", "jvp", "jac"), rtol=1e-5, atol=1e-5)  # (a tie: see the double σ cases)
    case("eigh V repeated", lambda x: LA.eigh(x)[1], np.diag([1.0, 1.0, 2.0]), expect_refusal=LA.LinAlgError)
    case("eigh stack V", lambda x: LA.eigh(x)[1], sym_distinct(3, 2), sym=True)
    case("eigh .eigenvalues", lambda x: LA.eigh(x).eigenvalues, Sd3, sym=True)
    case("eigvalsh f32", LA.eigvalsh, Sd3.astype(np.float32), sym=True, modes=("value", "vjp", "jvp", "jac", "grad"))
    case("eigh F V", lambda x: LA.eigh(x)[1], np.asfortranarray(Sd3), sym=True)
    case("eigh neg-stride V", lambda x: LA.eigh(x)[1], Sd3[::-1, ::-1], sym=True)
    case("eigvalsh 1x1", LA.eigvalsh, np.array([[3.0]]))
    case("eigvalsh lowercase uplo", lambda x: LA.eigvalsh(x, UPLO="u"), Sd3, sym=True)

    # ---------------- outer / cross / trace / diagonal / array-API names
    case("np.outer", lambda x, y: np.outer(x, y), R(3), R(4))
    case("np.outer 2d flattens", lambda x, y: np.outer(x, y), R(2, 2), R(3), argnum=0)
    case("np.outer wrt 2nd", lambda x, y: np.outer(x, y), R(3), R(2, 2), argnum=1)
    case("linalg.outer", lambda x, y: LA.outer(x, y), R(3), R(2))
    case("linalg.outer 2d refused", lambda x, y: LA.outer(x, y), R(2, 2), R(2), expect_refusal=True)
    case("np.cross 3", lambda x, y: np.cross(x, y), R(3), R(3))
    case("np.cross stack", lambda x, y: np.cross(x, y), R(4, 3), R(3), argnum=0)
    case("np.cross stack bcast wrt b", lambda x, y: np.cross(x, y), R(4, 3), R(3), argnum=1)
    case("np.cross axis=0", lambda x, y: np.cross(x, y, axis=0), R(3, 2), R(3, 2))
    case("np.cross axisa/axisb/axisc", lambda x, y: np.cross(x, y, axisa=0, axisb=-1, axisc=0), R(3, 2), R(2, 3))
    case("np.cross 2x2 (scalar z)", lambda x, y: np.cross(x, y), R(4, 2), R(4, 2))
    case("np.cross 2 and 3", lambda x, y: np.cross(x, y), R(2), R(3))
    case("linalg.cross", lambda x, y: LA.cross(x, y), R(2, 3), R(2, 3))
    case("linalg.cross wrt y bcast", lambda x, y: LA.cross(x, y), R(2, 3), R(1, 3), argnum=1)
    case("np.cross f32", lambda x, y: np.cross(x, y), R(3).astype(np.float32), R(3).astype(np.float32),
         modes=("value", "vjp", "jvp", "jac", "grad"))
    T3 = R(2, 3, 4)
    for kw in [dict(), dict(offset=1), dict(offset=-1), dict(axis1=1, axis2=2), dict(axis1=2, axis2=0, offset=1),
               dict(offset=5)]:
        case(f"np.trace {kw}", lambda x, kw=kw: np.trace(x, **kw), T3)
        case(f"np.diagonal {kw}", lambda x, kw=kw: np.diagonal(x, **kw), T3)
        case(f"ndarray.diagonal {kw}", lambda x, kw=kw: x.diagonal(**kw), T3)
        case(f"ndarray.trace {kw}", lambda x, kw=kw: x.trace(**kw), T3)
    case("np.trace dtype f32", lambda x: np.trace(x, dtype=np.float32), R(3, 3))
    case("np.trace 2d", np.trace, R(3, 3))
    case("linalg.trace", LA.trace, T3)
    case("linalg.trace offset", lambda x: LA.trace(x, offset=-2), T3)
    case("linalg.diagonal", LA.diagonal, T3)
    case("linalg.diagonal offset", lambda x: LA.diagonal(x, offset=2), T3)
    case("np.diagonal write refused", lambda x: np.diagonal(x).copy() * 2, R(3, 3))
    case("linalg.vecdot", lambda x, y: LA.vecdot(x, y), R(2, 3), R(3))
    case("linalg.vecdot wrt y", lambda x, y: LA.vecdot(x, y), R(2, 3), R(3), argnum=1)
    case("linalg.vecdot axis=0", lambda x, y: LA.vecdot(x, y, axis=0), R(3, 2), R(3, 2))
    case("np.vecdot axis=-2", lambda x, y: np.vecdot(x, y, axis=-2), R(2, 3, 2), R(3, 2), argnum=1)
    case("linalg.matrix_transpose", LA.matrix_transpose, T3)
    case("np.matrix_transpose", np.matrix_transpose, T3)
    case("matrix_transpose 1d refused", np.matrix_transpose, R(3), expect_refusal=True)
    case("linalg.matmul", lambda x, y: LA.matmul(x, y), R(2, 3, 4), R(4, 2))
    case("linalg.tensordot", lambda x, y: LA.tensordot(x, y, axes=1), R(2, 3), R(3, 2))
    case("tensorinv", lambda x: LA.tensorinv(x, ind=2), wellcond(6).reshape(2, 3, 6))
    case("tensorsolve", lambda a, b: LA.tensorsolve(a, b), wellcond(6).reshape(2, 3, 2, 3), R(2, 3))
    case("tensorsolve wrt b", lambda a, b: LA.tensorsolve(a, b), wellcond(6).reshape(2, 3, 2, 3), R(2, 3), argnum=1)

    # ---------------- composites (hessians through the factorizations)
    Sc = spd(3)
    C3 = R(3, 3)
    case("logdet+trace(inv C)", lambda s: LA.slogdet(s)[1] + np.trace(LA.inv(s) @ C3), Sc)
    case("solve then norm", lambda a: LA.norm(LA.solve(a, np.arange(3.0)), 3), wellcond(3))
    case("cholesky logdet = slogdet (sym)", lambda s: 2 * np.sum(np.log(np.diagonal(LA.cholesky(s)))), Sc, sym=True)
    case("nuclear of stack sum", lambda x: np.sum(LA.matrix_norm(x, ord="nuc")), distinct_sv(3, 2, 3))
    case("pinv @ x", lambda x: np.sum(LA.pinv(x) @ x), distinct_sv(4, 3))
    return CASES


def check_inside(name, f, args, opts):
    """a plain (integer) result, computed on traced arguments inside kronvec.grad: NumPy's type and value"""
    got = []
    kronvec.grad(lambda x: (got.append(f(x)), np.sum(x))[1])(args[0])
    ref = f(*args)
    r, g = np.asarray(ref), np.asarray(got[0]) if not hasattr(got[0], "_value") else None
    if g is None:
        return [("WRONG", f"a traced value where NumPy gives {type(ref).__name__}")]
    if type(got[0]) is not type(ref) or r.dtype != g.dtype or not np.array_equal(r, g):
        return [("WRONG", f"{type(got[0]).__name__} {g!r} != NumPy {type(ref).__name__} {r!r}")]
    return []


def run(filter=None, echo=None):
    """Run every case whose name contains ``filter`` (all when None).

    Returns a :class:`Result`; ``echo(category, name, message)``, when given, is called
    for each finding as it is found (the script prints with it)."""
    rng = np.random.default_rng(SEED)

    def checked(name, f, args, opts):
        return check_inside(name, f, args, opts) if opts.get("inside") else check(name, f, args, opts, rng)

    return run_cases(lambda: build_cases(rng), checked, filter, echo)


if __name__ == "__main__":
    command_line(run, sys.argv[1:], quiet=("REFUSED", "ULP"), harmless=("REFUSED", "ULP"))
