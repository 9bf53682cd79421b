"""The adversarial sweeps of ``tests/sweeps/`` as regression tests.

Each sweep (also a script: ``python tests/sweeps/<name>.py [-k substr] [-v]``) runs a few
hundred to a few thousand cases and reports findings as (category, case name, message).
A REFUSED finding is a clear kronvec refusal and fails nothing.  Every other finding
(WRONG, CRASH, UNCLEAR, and the sweeps' own ULP, SILENT, DENSIFY, BADCASE) must be

* in ``ALLOWED``: accepted, with the reason and the section of the notes that documents
  it, keyed by case name and category (a new category in an allowed case still fails); or
* in ``KNOWN_DEFECTS``: a genuine defect, reported and not accepted.  While one is found
  the test is an expected failure that names it; once none of a sweep's known defects is
  found any more, the test fails until they are deleted here (``xfail(strict=True)``, entry
  by entry), so a fix is noticed and a defect cannot come back unseen.

Which entries round an ulp apart (ULP, and the layout cases of the elementwise sweep)
depends on the BLAS/LAPACK builds and NumPy's SIMD dispatch, so an allowed entry that is not
found is no failure.  ``MIN_CASES`` keeps a sweep from silently shrinking to nothing.
"""

import importlib.util
import pathlib
import sys

import pytest

SWEEPS = pathlib.Path(__file__).resolve().parent / "sweeps"

_NP_LOOPS = ("NumPy's own loop rounds this function of a negative-stride view 1 ulp apart from the same "
             "numbers in contiguous memory; the value is NumPy's for the contiguous copy kronvec captures "
             "(notes/conventions.md §8, Captured by value)")
_INT_AS_FLOAT = ("integer and boolean arguments are differentiated as float64, so the function acts on "
                 "floats (notes/conventions.md §4, Precision)")
_SCIPY_LU = ("a few ulp: SciPy's LAPACK factors matrices below 150×150 and its OpenBLAS build rounds the LU "
             "apart from NumPy's (notes/conventions.md §8, One thread pool per call; README)")

#: case name -> (category, why it is accepted and where that is documented)
ALLOWED = {
    "elementwise": {
        "layout np.arctanh X:negF": ("WRONG", _NP_LOOPS),
        "layout np.cbrt X:negF": ("WRONG", _NP_LOOPS),
        "method x.__rpow__ 2.0 ** x X:neg": ("WRONG", _NP_LOOPS),
        "red-layout nansum(X:bcast)": ("WRONG", "NumPy disagrees with itself on a broadcast view: np.nansum "
                                       "copies it in its own order (np.array(copy=True), 'K') where np.sum "
                                       "reduces it as its C-order copy; kronvec copies a zero-stride argument "
                                       "in C order, so sum, mean, prod, var, std match and nansum is 1 ulp "
                                       "apart (kronvec/api.py _as_differentiable)"),
        "int-input np.negative bool": ("WRONG", "NumPy refuses -bool; " + _INT_AS_FLOAT),
        "int-input value np.negative bool": ("WRONG", "NumPy refuses -bool; " + _INT_AS_FLOAT),
        "int-input value np.reciprocal int64": ("WRONG", "NumPy's integer reciprocal truncates (1/2 = 0); "
                                                + _INT_AS_FLOAT),
        "int-input value np.reciprocal int8": ("WRONG", "NumPy's integer reciprocal truncates (1/2 = 0); "
                                               + _INT_AS_FLOAT),
        "red (0,3) average axis=1": ("WRONG", "a NumPy bug, not a kronvec convention: np.average divides "
                                     "a.size/avg.size = 0/0 in Python (ZeroDivisionError) even without "
                                     "returned=True; kronvec returns np.mean's empty result (not in the notes)"),
    },
    "indexing": {
        "y=np.asarray(x); y[0]=v; return x (alias)": (
            "WRONG", "y = np.asarray(x) of a traced x is a copy, so a write into y is not seen by x "
            "(notes/conventions.md §8, Writes are recorded: the one alias beyond a recording)"),
        "y=np.asarray(x); x[1]=..; return y (alias)": (
            "WRONG", "y = np.asarray(x) of a traced x is a copy, so a write into x is not seen by y "
            "(notes/conventions.md §8, Writes are recorded: the one alias beyond a recording)"),
    },
    "linalg": {name: ("ULP", _SCIPY_LU) for name in (
        "inv f32", "inv layout F", "inv layout neg", "inv layout readonly", "inv layout strided",
        "inv n=2", "inv n=4",
        "solve A neg-stride", "solve b F-order", "solve b neg-stride", "solve b2 wrt A", "solve b2 wrt b",
        "solve f32 both wrt b",
        "matrix_power f32 p=-1", "matrix_power p=-1", "matrix_power p=-2", "matrix_power p=-3",
        "matrix_power p=-6",
        "cond f32 p=-1", "cond f32 p=-inf", "cond f32 p=1", "cond f32 p=inf", "cond f32 p=nuc",
        "cond p=-inf", "cond p=1",
        "tensorinv",
    )},
    "nested": {},
    "scipy_functions": {
        "laplace logpdf scale=1e-300": ("WRONG", "kronvec's −|z| − log 2 − log scale is finite (−1e300) where "
                                        "SciPy's generic log(pdf) underflows to −∞: the closed form is the "
                                        "more accurate (kronvec/scipy/stats/laplace.py; notes/derivatives.md §22)"),
        "laplace logsf scale=1e-300": ("WRONG", "kronvec's log S = −z − log 2 is finite where SciPy's "
                                       "log(½e^(−z)) underflows to −∞ (notes/derivatives.md §22)"),
    },
    # (its REFUSED findings, SciPy's trust-krylov breaking down at gtol 1e-12 on a quadratic — NaN
    # directions with SciPy's own dense hessp too; which case breaks down follows the BLAS's
    # rounding — fail nothing: kronvec names the breakdown)
    "operators": {},
}

#: case name -> (category, the defect): genuine defects, reported, never accepted (none known
#: today: the six broadcast-view reductions reported when the sweeps came in were fixed then)
KNOWN_DEFECTS = {
    "elementwise": {},
    "indexing": {},
    "linalg": {},
    "nested": {},
    "scipy_functions": {},
    "operators": {},
}

#: a floor close to the number of cases each sweep ran when it was brought in (2,841, 480, 669, 723, 1,186, 569)
MIN_CASES = {"elementwise": 2800, "indexing": 470, "linalg": 660, "nested": 710, "scipy_functions": 1170, "operators": 560}


def _load(name):
    """tests/sweeps/<name>.py as a module (tests/ is no package: imported by its path)."""
    module_name = f"kronvec_adversarial_sweep_{name}"
    spec = importlib.util.spec_from_file_location(module_name, SWEEPS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # (what a NamedTuple or a pickle looks its module up by)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _listed(table, cat, name):
    entry = table.get(name)
    return entry is not None and entry[0] == cat


@pytest.mark.parametrize("sweep", sorted(MIN_CASES))
def test_adversarial_sweep(sweep):
    result = _load(sweep).run()
    assert result.cases >= MIN_CASES[sweep], (
        f"the {sweep} sweep ran {result.cases} cases, fewer than {MIN_CASES[sweep]}: did it lose some?")
    findings = [(cat, name, msg) for cat, name, msg in result.findings if cat != "REFUSED"]
    allowed, known = ALLOWED[sweep], KNOWN_DEFECTS[sweep]
    unexpected = [f for f in findings if not _listed(allowed, f[0], f[1]) and not _listed(known, f[0], f[1])]
    assert not unexpected, f"{len(unexpected)} new finding(s) of the {sweep} sweep:\n" + "\n".join(
        f"  {cat} {name}: {msg}" for cat, name, msg in unexpected)
    found = {name for cat, name, _ in findings if _listed(known, cat, name)}
    gone = sorted(set(known) - found)
    assert not gone, (f"known defects of the {sweep} sweep no longer found (fixed?): delete them from "
                      f"KNOWN_DEFECTS: {gone}")
    if found:
        pytest.xfail(f"{len(found)} known defect(s) of the {sweep} sweep (KNOWN_DEFECTS): "
                     + ", ".join(sorted(found)))
