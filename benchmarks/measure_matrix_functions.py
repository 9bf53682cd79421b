"""Matrix functions (expm, sqrtm, logm): the issue-13 targets, side by side in one
process with default and with one BLAS thread, and the "at a repeated eigenvalue"
table against JAX and PyTorch.

    python benchmarks/measure_matrix_functions.py [--trace-size 512] [--matvec-size 500]
        [--jacobian-size 1000] [--rounds 7] [--timeout 300] [--skip-targets] [--skip-competitors] [--quick]

Targets (medians over rounds, one ~20 ms batch of each contender per round, the
starting contender rotating):

* value+grad of tr(expm(A)), A symmetric: ``kronvec.value_and_grad`` against one
  ``eigh`` plus the two products of the closed form.  Target ≤ 1.3× at n = 512.
* ``jacobian(sqrtm)(A).matvec`` against one ``scipy.linalg.solve_sylvester(S, S, E)``.
  Target within 2× at n = 500.
* ``kronvec.jacobian(f)(A)`` for expm, sqrtm, logm at a general and a symmetric A against
  f(A) itself (kronvec's value: SciPy's call on a general A, one eigh on a symmetric one).
  Target < 3× (the issue states n = 2000; the default here is n = 1000, see --jacobian-size).

The table: ∇ of Σ W∘f(A) (W symmetric, so every framework's convention for the
derivative of a symmetric-input function agrees) at diag(1, 1, 2), a rotated
diag(1, 1, 2) and the identity, for f = expm, sqrtm, logm, written through each
library's matrix function and through its ``eigh`` (V f(Λ) Vᵀ), and a Hessian-vector
product of Σ W∘expm(A).  Each framework runs in its own subprocess with a timeout; the
reference is central differences of SciPy's functions (first order) and of
``scipy.linalg.expm_frechet`` (the hvp).  ✓ means within 1e-6 of the reference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _timing import median_seconds, rows_from_workers, thread_environment  # (benchmarks/, the script's folder)

ROOT = Path(__file__).resolve().parents[1]
MARKER = "@@matfun "
TOLERANCE = 1e-6
FRAMEWORKS = ("kronvec", "jax", "torch")
POINTS = ("diag(1, 1, 2)", "rotated diag(1, 1, 2)", "identity")
FUNCTIONS = ("expm", "sqrtm", "logm")


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace-size", type=int, default=512)
    parser.add_argument("--matvec-size", type=int, default=500)
    parser.add_argument("--jacobian-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per competitor subprocess")
    parser.add_argument("--skip-targets", action="store_true")
    parser.add_argument("--skip-jacobians", action="store_true", help="only the first two targets")
    parser.add_argument("--skip-competitors", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 3 rounds: a smoke run")
    parser.add_argument("--worker", choices=("default", "pinned"), help=argparse.SUPPRESS)
    parser.add_argument("--competitor", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.trace_size, args.matvec_size, args.jacobian_size, args.rounds = 16, 16, 16, 3
    return args


# ------------------------------------------------------------------ targets
def worker(args):
    import numpy as np
    import scipy.linalg

    sys.path.insert(0, str(ROOT))
    import kronvec
    from kronvec.scipy import linalg as kl

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchmarks.matrix_functions import FUNCTIONS as PAIRS
    from benchmarks.matrix_functions import general, symmetric, trace_expm, trace_expm_closed_form

    def emit(**row):
        print(MARKER + json.dumps(row), flush=True)

    n = args.trace_size
    A = symmetric(np.random.default_rng(n), n)
    ours = kronvec.value_and_grad(trace_expm)
    value, gradient = ours(A)
    reference = trace_expm_closed_form(A)
    if abs(value - reference[0]) > 1e-10 * abs(reference[0]) or \
            np.max(np.abs(gradient - reference[2])) > 1e-10 * np.max(np.abs(reference[2])):
        raise SystemExit("wrong answer: tr expm")
    times = median_seconds([("kronvec", lambda: ours(A)), ("reference", lambda: trace_expm_closed_form(A))], args.rounds)
    emit(what="value+grad tr(expm(A)), A symmetric", n=n, reference_name="eigh + 2 products", target="≤ 1.3", **times)

    n = args.matvec_size
    generator = np.random.default_rng(n + 1)
    A = general(generator, n)
    J = kronvec.jacobian(kl.sqrtm)(A)
    S = scipy.linalg.sqrtm(A)
    v = generator.standard_normal(n * n)
    E = v.reshape(n, n, order="F")
    X = J.matvec(v).reshape(n, n, order="F")
    if np.max(np.abs(S @ X + X @ S - E)) > 1e-8 * np.max(np.abs(E)):
        raise SystemExit("wrong answer: sqrtm matvec")
    times = median_seconds([("kronvec", lambda: J.matvec(v)), ("reference", lambda: scipy.linalg.solve_sylvester(S, S, E))],
                   args.rounds)
    emit(what="jacobian(sqrtm)(A).matvec", n=n, reference_name="one solve_sylvester", target="≤ 2", **times)
    if args.skip_jacobians:
        return

    n = args.jacobian_size
    generator = np.random.default_rng(n + 2)
    for name, (ours_f, _) in PAIRS.items():
        for kind in ("general", "symmetric"):
            A = general(generator, n) if kind == "general" else symmetric(generator, n) + 2.0 * np.eye(n)
            build = kronvec.jacobian(ours_f)
            rounds = max(3, args.rounds // 2)
            times = median_seconds([("kronvec", lambda: build(A)), ("reference", lambda: ours_f(A))], rounds)
            emit(what=f"jacobian of {name}, {kind} A", n=n, reference_name=f"{name}(A)", target="< 3", **times)


def _targets(args, forwarded):
    rows, status = rows_from_workers(__file__, forwarded, MARKER, timeout=7200)
    print("| measurement | n | BLAS threads | kronvec | reference | ratio | target |")
    print("|---|---:|---|---:|---:|---:|---|")
    for row in rows:
        ratio = row["kronvec"] / row["reference"]
        limit = float(row["target"].split()[-1])
        ok = ratio <= limit if row["target"].startswith("≤") else ratio < limit
        print(f"| {row['what']} | {row['n']} | {row['threads']} | {row['kronvec'] * 1e3:.1f} ms | "
              f"{row['reference'] * 1e3:.1f} ms ({row['reference_name']}) | {ratio:.2f} | "
              f"{row['target']} {'✓' if ok else '✗'} |")
    return status


# -------------------------------------------------------------- competitors
def _points():
    import numpy as np

    Q, _ = np.linalg.qr(np.random.default_rng(13).standard_normal((3, 3)))
    rotated = (Q * [1.0, 1.0, 2.0]) @ Q.T
    return {"diag(1, 1, 2)": np.diag([1.0, 1.0, 2.0]), "rotated diag(1, 1, 2)": (rotated + rotated.T) / 2,
            "identity": np.eye(3)}


def _weights():
    import numpy as np

    W = np.random.default_rng(14).uniform(0.5, 1.5, (3, 3))
    return (W + W.T) / 2


def _direction():
    import numpy as np

    D = np.random.default_rng(15).standard_normal((3, 3))
    return (D + D.T) / 2


def _cases_kronvec(W, D):
    import numpy as np

    sys.path.insert(0, str(ROOT))
    import kronvec
    from kronvec.scipy import linalg as kl

    def via_eigh(fn):
        def f(A):
            w, V = np.linalg.eigh(A)
            return np.sum(W * ((V * fn(w)) @ V.T))
        return f

    library = {name: (lambda fn: lambda A: np.sum(W * fn(A)))(getattr(kl, name)) for name in FUNCTIONS}
    scalar = {"expm": np.exp, "sqrtm": np.sqrt, "logm": np.log}
    cases = {}
    for name in FUNCTIONS:
        cases[(name, "library")] = lambda A, f=library[name]: kronvec.grad(f)(A)
        cases[(name, "eigh")] = lambda A, f=via_eigh(scalar[name]): kronvec.grad(f)(A)
    cases[("hvp expm", "library")] = lambda A: kronvec.hvp(library["expm"])(A, D)
    cases[("hvp expm", "eigh")] = lambda A: kronvec.hvp(via_eigh(np.exp))(A, D)
    return cases


def _cases_jax(W, D):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl

    def via_eigh(fn):
        def f(A):
            w, V = jnp.linalg.eigh(A)
            return jnp.sum(W * ((V * fn(w)) @ V.T))
        return f

    scalar = {"expm": jnp.exp, "sqrtm": jnp.sqrt, "logm": jnp.log}
    cases = {}
    for name in FUNCTIONS:
        fn = getattr(jsl, name, None)
        if fn is None:
            cases[(name, "library")] = None
        else:
            cases[(name, "library")] = (lambda g: lambda A: jax.grad(g)(A))(lambda A, fn=fn: jnp.sum(W * fn(A)))
        cases[(name, "eigh")] = (lambda g: lambda A: jax.grad(g)(A))(via_eigh(scalar[name]))

    def hvp(f):
        return lambda A: jax.jvp(jax.grad(f), (A,), (jnp.asarray(D),))[1]

    cases[("hvp expm", "library")] = hvp(lambda A: jnp.sum(W * jsl.expm(A)))
    cases[("hvp expm", "eigh")] = hvp(via_eigh(jnp.exp))
    return cases


def _cases_torch(W, D):
    import torch

    torch.set_default_dtype(torch.float64)
    Wt, Dt = torch.tensor(W), torch.tensor(D)

    def via_eigh(fn):
        def f(A):
            w, V = torch.linalg.eigh(A)
            return torch.sum(Wt * ((V * fn(w)) @ V.T))
        return f

    def grad(f):
        def g(A):
            X = torch.tensor(A, requires_grad=True)
            (G,) = torch.autograd.grad(f(X), X)
            return G.detach().numpy()
        return g

    def hvp(f):
        def h(A):
            return torch.func.jvp(torch.func.grad(f), (torch.tensor(A),), (Dt,))[1].detach().numpy()
        return h

    scalar = {"expm": torch.exp, "sqrtm": torch.sqrt, "logm": torch.log}
    cases = {}
    for name in FUNCTIONS:
        cases[(name, "library")] = grad(lambda A: torch.sum(Wt * torch.linalg.matrix_exp(A))) if name == "expm" else None
        cases[(name, "eigh")] = grad(via_eigh(scalar[name]))
    cases[("hvp expm", "library")] = hvp(lambda A: torch.sum(Wt * torch.linalg.matrix_exp(A)))
    cases[("hvp expm", "eigh")] = hvp(via_eigh(torch.exp))
    return cases


def competitor(framework):
    import numpy as np

    W, D = _weights(), _direction()
    cases = {"kronvec": _cases_kronvec, "jax": _cases_jax, "torch": _cases_torch}[framework](W, D)
    for (name, how), case in cases.items():
        for point, A in _points().items():
            if case is None:
                result = ["unavailable", f"no {name} in {framework}"]
            else:
                try:
                    result = ["ok", np.asarray(case(A), dtype=float).tolist()]
                except Exception as error:  # noqa: BLE001 - the table reports what each framework does
                    result = ["error", f"{type(error).__name__}: {str(error).splitlines()[0][:120]}"]
            print(MARKER + json.dumps({"function": name, "how": how, "point": point, "result": result}), flush=True)


def _references():
    import numpy as np
    import scipy.linalg

    W, D = _weights(), _direction()
    h = 1e-6
    functions = {"expm": scipy.linalg.expm, "sqrtm": scipy.linalg.sqrtm, "logm": scipy.linalg.logm}
    references = {}
    for point, A in _points().items():
        for name, fn in functions.items():
            G = np.zeros((3, 3))
            for i in range(3):
                for j in range(3):
                    E = np.zeros((3, 3))
                    E[i, j] = h
                    G[i, j] = (np.sum(W * fn(A + E)) - np.sum(W * fn(A - E))) / (2 * h)
            references[(name, point)] = G
        # the hvp: d/dt L_exp(Aᵀ + t Dᵀ, W) by central differences of the exact Fréchet derivative
        plus = scipy.linalg.expm_frechet(A.T + h * D.T, W, compute_expm=False)
        minus = scipy.linalg.expm_frechet(A.T - h * D.T, W, compute_expm=False)
        references[("hvp expm", point)] = (plus - minus) / (2 * h)
    return references


def _verdict(result, reference):
    import numpy as np

    status, payload = result
    if status == "unavailable":
        return "—"
    if status == "error":
        return payload.split(":")[0]
    G = np.asarray(payload)
    if not np.all(np.isfinite(G)):
        return "NaN" if np.isnan(G).any() else "inf"
    error = float(np.max(np.abs(G - reference)))
    return "✓" if error <= TOLERANCE else f"✗ (err {error:.1e})"


def _competitors(args):
    references = _references()
    results = {}
    for framework in FRAMEWORKS:
        try:
            done = subprocess.run([sys.executable, __file__, "--competitor", framework], capture_output=True,
                                  text=True, timeout=args.timeout, env=thread_environment("default"))
            lines = [json.loads(line[len(MARKER):]) for line in done.stdout.splitlines() if line.startswith(MARKER)]
            if not lines:
                tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
                lines = [{"function": f, "how": how, "point": p, "result": ["error", tail]}
                         for f in (*FUNCTIONS, "hvp expm") for how in ("library", "eigh") for p in POINTS]
        except subprocess.TimeoutExpired:
            lines = [{"function": f, "how": how, "point": p, "result": ["error", "timeout"]}
                     for f in (*FUNCTIONS, "hvp expm") for how in ("library", "eigh") for p in POINTS]
        for line in lines:
            results[(framework, line["function"], line["how"], line["point"])] = line["result"]
    header = ["derivative", "point"]
    columns = [(f, how) for f in FRAMEWORKS for how in ("library", "eigh")]
    names = {("kronvec", "library"): "kronvec.scipy.linalg", ("kronvec", "eigh"): "kronvec, via eigh",
             ("jax", "library"): "jax.scipy.linalg", ("jax", "eigh"): "JAX, via eigh",
             ("torch", "library"): "torch.linalg.matrix_exp", ("torch", "eigh"): "PyTorch, via eigh"}
    print("| " + " | ".join(header + [names[c] for c in columns]) + " |")
    print("|" + "---|" * (len(header) + len(columns)))
    for function in (*FUNCTIONS, "hvp expm"):
        label = f"∇ Σ W∘{function}(A)" if function in FUNCTIONS else "hvp of Σ W∘expm(A)"
        for point in POINTS:
            cells = []
            for framework, how in columns:
                result = results.get((framework, function, how, point), ["error", "missing"])
                cells.append(_verdict(result, references[(function, point)]))
            print(f"| {label} | {point} | " + " | ".join(cells) + " |")


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.worker:
        worker(args)
        return 0
    if args.competitor:
        competitor(args.competitor)
        return 0
    status = 0
    if not args.skip_targets:
        forwarded = ["--trace-size", str(args.trace_size), "--matvec-size", str(args.matvec_size),
                     "--jacobian-size", str(args.jacobian_size), "--rounds", str(args.rounds)]
        if args.skip_jacobians:
            forwarded.append("--skip-jacobians")
        status = _targets(args, forwarded)
    if not args.skip_competitors:
        print()
        _competitors(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
