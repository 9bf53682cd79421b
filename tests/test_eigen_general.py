"""np.linalg.eig and np.linalg.eigvals of a real spectrum (kronvec/ops/eigen_general.py,
derivatives.md §36).

The registry sweep (tests/test_registry.py) checks every mode against central
differences at the registered samples and edge cases; here: NumPy's values bit for
bit, spellings through the front doors (EigResult, functions of both outputs, a
generalized eigenproblem B⁻¹A), the unit length of the eigenvectors, the refusals (complex spectrum, repeated eigenvalues, stacks), the
warning of a nearly defective matrix, and O(n²) Jacobians at n = 300."""

from __future__ import annotations

import numpy as np
import pytest

import kronvec
from kronvec import IllConditionedWarning

from _helpers import check_value_and_derivatives, jacobian_and_peak_memory

FD_RTOL = 1e-6


def _real_spectrum(n, seed, eigenvalues=None):
    rng = np.random.default_rng(seed)
    S = np.eye(n) + rng.standard_normal((n, n)) / (2.0 * np.sqrt(n))
    values = np.arange(1.0, n + 1.0) if eigenvalues is None else np.asarray(eigenvalues)
    return np.linalg.solve(S.T, (S * values).T).T


A4 = _real_spectrum(4, 1)
_W = np.random.default_rng(2).uniform(0.5, 1.5, (4, 4))
_G, _H = np.random.default_rng(3).standard_normal((2, 4, 4))
_SPD_B_INVERSE = np.linalg.inv(_H @ _H.T + 4.0 * np.eye(4))  # (a constant: kronvec's solve is NumPy's to rounding)

SPELLINGS = {
    "eigvals": lambda A: np.linalg.eigvals(A),
    "eig's eigenvalues": lambda A: np.linalg.eig(A).eigenvalues,
    "eig's eigenvectors": lambda A: np.linalg.eig(A).eigenvectors,
    "eigenvectors times eigenvalues": lambda A: (lambda r: r.eigenvectors * r.eigenvalues)(np.linalg.eig(A)),
    "spectral abscissa (largest eigenvalue)": lambda A: np.max(np.linalg.eigvals(A)),
    "generalized eigenvalues of (A Aᵀ, B)": lambda A: np.sort(np.linalg.eigvals(_SPD_B_INVERSE @ (A @ A.T))),
    "weighted eigenvectors": lambda A: np.sum(_W * np.linalg.eig(A)[1] ** 2, axis=0),
}


@pytest.mark.parametrize("name", SPELLINGS)
def test_values_are_numpys_and_derivatives_match_central_differences(name):
    check_value_and_derivatives(SPELLINGS[name], A4, FD_RTOL)


def test_eigenvectors_keep_unit_length_to_first_order():
    # vᵢᵀ dvᵢ = 0 for every column: the normalization term of dV
    E = np.random.default_rng(4).standard_normal((4, 4))
    V, dV = kronvec.jvp(lambda A: np.linalg.eig(A)[1], (A4,), (E,))
    np.testing.assert_allclose(np.sum(V * dV, axis=0), 0.0, atol=1e-12)


def test_a_complex_spectrum_is_refused_by_name():
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]]) + 0.1 * np.eye(2)
    for function, name in ((np.linalg.eig, "np.linalg.eig"), (np.linalg.eigvals, "np.linalg.eigvals")):
        with pytest.raises(TypeError, match=f"{name}: the 2×2 matrix has complex eigenvalues"):
            kronvec.jacobian(lambda A: function(A)[0] if name.endswith("eig") else function(A))(rotation)


def test_repeated_eigenvalues_raise_and_nearly_repeated_warn():
    repeated = _real_spectrum(3, 5, [1.0, 2.0, 2.0])
    for f in (np.linalg.eigvals, lambda A: np.linalg.eig(A)[1]):
        with pytest.raises(np.linalg.LinAlgError, match="repeated eigenvalues"):
            kronvec.jacobian(f)(repeated)
    nearly = _real_spectrum(3, 5, [1.0, 2.0, 2.0 + 1e-14])  # (2/1e-14 above the 4.5e13 threshold)
    with pytest.warns(IllConditionedWarning, match="nearly repeated eigenvalues"):
        kronvec.grad(lambda A: np.sum(np.linalg.eigvals(A)))(nearly)


def test_a_nearly_defective_matrix_warns_when_its_eigenvectors_are_inverted():
    # eigenvalues 1 and 2, but eigenvectors 1e-15 from parallel: κ(V) ≈ 1e15
    A = np.array([[1.0, 1e15], [0.0, 2.0]])
    with pytest.warns(IllConditionedWarning, match="its eigenvector matrix"):
        kronvec.grad(lambda A: np.sum(np.linalg.eigvals(A)))(A)


def test_stacks_and_non_square_matrices_are_refused():
    with pytest.raises(TypeError, match="np.linalg.eig of one matrix"):
        kronvec.jacobian(lambda A: np.linalg.eig(np.stack([A, A]))[0])(A4)
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        kronvec.jacobian(np.linalg.eigvals)(A4[:3])


def test_jacobians_stay_structured_at_scale():
    n = 300
    A = _real_spectrum(n, 6)
    for f in (np.linalg.eigvals, lambda A: np.linalg.eig(A)[1]):
        J, peak = jacobian_and_peak_memory(f, A)
        assert J.shape[1] == n * n
        assert peak < 40 * n * n * 8, f"peak {peak / 1e6:.1f} MB"  # (n⁴ entries would be 65 GB)
        v = np.random.default_rng(7).standard_normal(n * n)
        assert np.all(np.isfinite(J.matvec(v)))


def test_threads_share_no_factorization():
    # eig's factors are remembered for the length of one call (the per-call scope): four
    # threads on different points must each get their own, bit for bit the serial results
    import threading

    points = [_real_spectrum(5, seed) for seed in range(6)]
    gradient = kronvec.grad(lambda A: np.sum(np.linalg.eig(A)[1] ** 3) + np.sum(np.linalg.eigvals(A) ** 2))
    serial = [gradient(A) for A in points]
    mismatches = []

    def work(seed):
        order = np.random.default_rng(seed).integers(len(points), size=30)
        for k in order:
            if not np.array_equal(gradient(points[k]), serial[k]):
                mismatches.append(int(k))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []
