"""gmrf/: sparse Cholesky, selected inverse, differentiable ops, sampling; against dense numpy."""

import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from fieldfit.gmrf import (
    GMRF,
    ChebyshevOperator,
    ChebyshevSampler,
    Pattern,
    SelectedInverse,
    SparseCholesky,
    chebyshev_inverse_sqrt,
    logdet,
    quad_form,
    sample_cholesky,
    scatter,
    solve,
    union,
)


def grid_laplacian(m1, m2, shift=0.1):
    """2-D grid Laplacian (Dirichlet) + shift·I, (m1·m2, m1·m2)."""
    def path(m):
        return sp.diags([-np.ones(m - 1), 2 * np.ones(m), -np.ones(m - 1)], [-1, 0, 1])
    Q = sp.kron(path(m1), sp.identity(m2)) + sp.kron(sp.identity(m1), path(m2))
    return (Q + shift * sp.identity(m1 * m2)).tocsc()


def random_spd(n, density, seed):
    """M Mᵀ + 0.5 I with M sparse random: an irregular pattern."""
    rng = np.random.default_rng(seed)
    M = sp.random(n, n, density=density, random_state=rng, data_rvs=rng.standard_normal)
    return (M @ M.T + 0.5 * sp.identity(n)).tocsc()


def tridiagonal(n):
    rng = np.random.default_rng(1)
    off = rng.uniform(-1, 1, n - 1)
    diag = np.abs(np.r_[off, 0]) + np.abs(np.r_[0, off]) + rng.uniform(0.1, 1, n)
    return sp.diags([off, diag, off], [-1, 0, 1]).tocsc()


MATRICES = {
    "grid": lambda: grid_laplacian(11, 9),
    "random": lambda: random_spd(80, 0.03, 0),
    "tridiagonal": lambda: tridiagonal(60),
}


@pytest.fixture(params=sorted(MATRICES))
def matrix(request):
    return MATRICES[request.param]()


# ---------------------------------------------------------------- patterns


def test_pattern_split_roundtrip_and_maps():
    Q = random_spd(30, 0.1, 3)
    pat, v = Pattern.split(Q)
    assert pat.has_diagonal and v.dtype == torch.float64 and v.shape == (pat.nnz,)
    assert (pat.to_scipy(v) != Q).nnz == 0
    np.testing.assert_array_equal(pat.rows[pat.transpose], pat.cols)
    np.testing.assert_array_equal(pat.cols[pat.transpose], pat.rows)
    np.testing.assert_array_equal(pat.rows[pat.diagonal], np.arange(30))
    np.testing.assert_array_equal(pat.cols[pat.diagonal], np.arange(30))
    np.testing.assert_array_equal(pat.positions([2, 5], [2, 5]), pat.diagonal[[2, 5]])
    assert pat == Pattern.from_matrix(Q) and pat.shape == (30, 30)


def test_pattern_rejects_bad_structure():
    with pytest.raises(ValueError, match="structurally symmetric"):
        Pattern.from_matrix(sp.csc_matrix(np.triu(np.ones((3, 3)))))
    with pytest.raises(ValueError, match="sorted"):
        Pattern(np.array([0, 2, 3, 4]), np.array([1, 0, 1, 2]), 3)
    with pytest.raises(ValueError, match="square"):
        Pattern.from_matrix(sp.csc_matrix(np.ones((2, 3))))
    pat = Pattern.from_matrix(sp.csc_matrix(np.eye(3)))
    with pytest.raises(ValueError, match="not in the pattern"):
        pat.positions([0], [1])
    with pytest.raises(ValueError, match="diagonal entry"):
        SparseCholesky(Pattern.from_matrix(sp.csc_matrix(np.array([[0, 1.0], [1.0, 0]]))))


def test_pattern_explicit_zeros_and_diagonal():
    A = sp.csc_matrix((np.array([0.0, 0.0]), np.array([1, 0]), np.array([0, 1, 2])), shape=(2, 2))
    pat = Pattern.from_matrix(A)
    assert pat.nnz == 2 and not pat.has_diagonal
    full = Pattern.from_matrix(A, diagonal=True)
    assert full.nnz == 4 and full.has_diagonal


def test_union_scatter_sum_of_patterns():
    """Q + AᵀA/τ² from two patterns, differentiable in τ, equal to the dense sum."""
    rng = np.random.default_rng(4)
    Q = grid_laplacian(6, 5)
    n = Q.shape[0]
    A = sp.csr_matrix((rng.uniform(0, 1, 36), rng.integers(0, n, 36), np.arange(0, 37, 3)),
                      shape=(12, n))
    AtA = (A.T @ A).tocsc()
    pq, vq = Pattern.split(Q)
    pa, va = Pattern.split(AtA)
    pat, maps = union(pq, pa)
    tau = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    values = scatter([vq, va / tau**2], maps, pat)
    dense = Q.toarray() + AtA.toarray() / 0.49
    np.testing.assert_allclose(pat.to_dense(values.detach()), dense, atol=1e-14)
    ld = logdet(GMRF(pat), values)
    ld.backward()
    # d log|Q + AᵀA/τ²|/dτ = tr(Σ (−2AᵀA/τ³))
    expected = np.trace(np.linalg.solve(dense, -2 * AtA.toarray() / 0.7**3))
    np.testing.assert_allclose(tau.grad.item(), expected, rtol=1e-10)
    # the same union from scipy matrices, and add_diagonal
    pat2, _ = union(Q, AtA)
    assert pat2 == pat
    d = torch.arange(n, dtype=torch.float64)
    np.testing.assert_allclose(pq.to_dense(pq.add_diagonal(vq, d)), Q.toarray() + np.diag(d))
    np.testing.assert_allclose(pq.values_of(sp.identity(n)).sum().item(), n)


# ---------------------------------------------------------------- factorisation and selinv


@pytest.mark.parametrize("mode", ["supernodal", "simplicial"])
def test_logdet_solve_selinv_against_dense(matrix, mode):
    pat, v = Pattern.split(matrix)
    D = matrix.toarray()
    S = np.linalg.inv(D)
    f = SparseCholesky(pat, mode=mode).factorize(v)
    np.testing.assert_allclose(f.logdet(), np.linalg.slogdet(D)[1], rtol=1e-12)
    rng = np.random.default_rng(0)
    b = rng.standard_normal((pat.n, 3))
    np.testing.assert_allclose(f.solve(b), S @ b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f.solve(b[:, 0]), S @ b[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f.matvec(b), D @ b, atol=1e-12)
    # selected inverse: Q's pattern, the diagonal, and every entry of L + Lᵀ
    np.testing.assert_allclose(f.inverse_on(), S[pat.rows, pat.cols], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(f.variances(), np.diag(S), rtol=1e-10)
    L = f.L.tocoo()
    Sp = S[np.ix_(f.perm, f.perm)]
    Lcols = np.repeat(np.arange(pat.n), np.diff(f.L.indptr))
    np.testing.assert_allclose(f.selinv().values, Sp[f.L.indices, Lcols], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(f.selinv().entries(f.perm[L.row], f.perm[L.col]),
                               S[f.perm[L.row], f.perm[L.col]], rtol=1e-9, atol=1e-14)
    # L and P: Q[perm][:, perm] = LLᵀ, and the triangular solves
    np.testing.assert_allclose((f.L @ f.L.T).toarray(), D[np.ix_(f.perm, f.perm)], atol=1e-12)
    np.testing.assert_allclose(f.L.toarray() @ f.solve_L(b), b, atol=1e-10)
    np.testing.assert_allclose(f.L.toarray().T @ f.solve_Lt(b), b, atol=1e-10)
    np.testing.assert_array_equal(f.unpermute(f.permute(b)), b)


def test_selinv_standalone_and_outside_pattern():
    Q = grid_laplacian(7, 7)
    f = SparseCholesky(Q).factorize(Pattern.split(Q)[1])
    S = np.linalg.inv(Q.toarray())
    inv = SelectedInverse(f.L, f.perm)
    np.testing.assert_allclose(inv.diagonal(), np.diag(S), rtol=1e-10)
    pat = Pattern.from_matrix(Q)
    np.testing.assert_allclose(inv.on(pat), S[pat.rows, pat.cols], rtol=1e-9, atol=1e-14)
    Lpat = set(zip(f.perm[f.L.tocoo().row], f.perm[f.L.tocoo().col], strict=True))
    far = next((i, j) for i in range(49) for j in range(49)
               if (i, j) not in Lpat and (j, i) not in Lpat)
    with pytest.raises(ValueError, match="not on the pattern of the Cholesky factor"):
        inv.entries([far[0]], [far[1]])


@pytest.mark.parametrize("large_block", [0, None, 10**12])
def test_selinv_supernodal_paths(monkeypatch, large_block):
    """Supernodes through LAPACK (threshold 0), the default split, numba only; a wide stencil
    (Q = K², 13 points) with large supernodes, every entry of L's pattern against dense."""
    import fieldfit.gmrf.selinv as selinv

    if large_block is not None:
        monkeypatch.setattr(selinv, "_LARGE_BLOCK", large_block)
    K = grid_laplacian(30, 25)
    Q = (K @ K).tocsc()
    f = SparseCholesky(Q).factorize(Pattern.split(Q)[1])
    Sp = np.linalg.inv(Q.toarray())[np.ix_(f.perm, f.perm)]
    Lcols = np.repeat(np.arange(Q.shape[0]), np.diff(f.L.indptr))
    np.testing.assert_allclose(selinv.takahashi(f.L), Sp[f.L.indices, Lcols],
                               rtol=1e-8, atol=1e-12 * np.abs(Sp).max())
    assert (np.diff(selinv._supernodes(f.L.indptr, f.L.indices)) > 20).any()


def test_refactorisation_reuses_analysis():
    Q = grid_laplacian(9, 8)
    pat, v0 = Pattern.split(Q)
    chol = SparseCholesky(pat)
    symbolic, perm = chol._symbolic, chol.perm.copy()
    rng = np.random.default_rng(5)
    off = pat.rows != pat.cols
    for _ in range(4):
        v = v0.numpy().copy()
        w = rng.uniform(0.5, 2.0, pat.nnz)
        v[off] *= 0.5 * (w + w[pat.transpose])[off]  # symmetric changes of the values
        v[~off] += rng.uniform(0.0, 3.0, pat.n)
        D = pat.to_dense(v)
        f = chol.factorize(v)
        assert chol._symbolic is symbolic
        np.testing.assert_array_equal(f.perm, perm)
        np.testing.assert_allclose(f.logdet(), np.linalg.slogdet(D)[1], rtol=1e-12)
        np.testing.assert_allclose(f.inverse_on(), np.linalg.inv(D)[pat.rows, pat.cols],
                                   rtol=1e-9, atol=1e-14)


def test_not_positive_definite_and_bad_values():
    Q = grid_laplacian(5, 5, shift=0.0) - 1.0 * sp.identity(25)
    pat, v = Pattern.split(Q)
    with pytest.raises(ValueError, match="not positive definite"):
        SparseCholesky(pat).factorize(v)
    with pytest.raises(ValueError, match="not positive definite"):
        logdet(GMRF(pat), v)
    v = Pattern.split(grid_laplacian(5, 5))[1]
    v[3] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        SparseCholesky(pat).factorize(v)
    with pytest.raises(ValueError, match="expected"):
        SparseCholesky(pat).factorize(v[:-1])
    with pytest.raises(ValueError, match="float64"):
        GMRF(pat).factorize(v.float())


def test_values_are_symmetrised():
    """Q = (V + Vᵀ)/2: an asymmetric values vector factors its symmetric part."""
    Q = random_spd(20, 0.1, 7)
    pat, v = Pattern.split(Q)
    upper = torch.from_numpy(pat.rows < pat.cols)
    w = v.clone()
    w[upper] += 0.01  # V_ij + 0.01 above, V_ji below: the symmetric part moves by 0.005
    sym = Q.toarray() + 0.005 * (pat.to_dense(upper.double()) + pat.to_dense(upper.double()).T)
    np.testing.assert_allclose(logdet(GMRF(pat), w).item(), np.linalg.slogdet(sym)[1],
                               rtol=1e-12)


# ---------------------------------------------------------------- autograd


def _parametrised(Q, seed=0):
    """values(θ) = V₀ + θ₀ M₀ + θ₁ M₁ + θ₂ I with symmetric M's on Q's pattern."""
    pat, v0 = Pattern.split(Q)
    rng = np.random.default_rng(seed)
    Ms = []
    for _ in range(2):
        w = rng.uniform(-0.05, 0.05, pat.nnz)
        Ms.append(torch.from_numpy(w + w[pat.transpose]))
    Ms.append(pat.values_of(sp.identity(pat.n)))

    def values(theta):
        return v0 + sum(t * M for t, M in zip(theta, Ms, strict=True))

    return pat, values


def test_logdet_gradient_identity(matrix):
    pat, v = Pattern.split(matrix)
    x = v.clone().requires_grad_(True)
    logdet(GMRF(pat), x).backward()
    S = np.linalg.inv(matrix.toarray())
    np.testing.assert_allclose(x.grad.numpy(), S[pat.rows, pat.cols], rtol=1e-9, atol=1e-14)


def test_logdet_gradient_symmetric_perturbations():
    """The convention: grad[k] = Σ_ij per stored entry; moving both (i, j) and (j, i) by ε
    changes log|Q| by ε(grad[k] + grad[kᵀ]) = 2εΣ_ij; moving one stored entry by ε, by εΣ_ij."""
    Q = random_spd(40, 0.06, 2)
    pat, v = Pattern.split(Q)
    gm = GMRF(pat)
    x = v.clone().requires_grad_(True)
    logdet(gm, x).backward()
    g = x.grad
    eps = 1e-6
    k = int(np.flatnonzero(pat.rows > pat.cols)[3])
    kt = int(pat.transpose[k])
    for moved, expected in (([k, kt], g[k] + g[kt]), ([k], g[k])):
        up, down = v.clone(), v.clone()
        up[moved] += eps
        down[moved] -= eps
        fd = (logdet(gm, up) - logdet(gm, down)).item() / (2 * eps)
        np.testing.assert_allclose(fd, expected.item(), rtol=1e-7)


def test_gradients_against_finite_differences():
    """d/dθ of log|Q|, Σ w·Q⁻¹b and bᵀQ⁻¹b with values(θ) symmetric, central differences."""
    pat, values = _parametrised(grid_laplacian(8, 7), seed=1)
    gm = GMRF(pat)
    rng = np.random.default_rng(2)
    b = torch.from_numpy(rng.standard_normal((pat.n, 2)))
    w = torch.from_numpy(rng.standard_normal((pat.n, 2)))

    def objectives(theta):
        f = gm.factorize(values(theta))
        return [f.logdet(), (w * f.solve(b)).sum(), f.quad_form(b).sum(),
                f.quad_form(b[:, 0])]

    theta0 = torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64)
    for i in range(4):
        th = theta0.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(objectives(th)[i], th)
        h = 1e-5
        fd = torch.stack([(objectives(theta0 + h * e)[i] - objectives(theta0 - h * e)[i])
                          / (2 * h) for e in torch.eye(3, dtype=torch.float64)])
        np.testing.assert_allclose(grad.numpy(), fd.numpy(), rtol=1e-6, atol=1e-9)


def test_gradcheck_small():
    Q = random_spd(10, 0.15, 9)
    pat, v = Pattern.split(Q)
    gm = GMRF(pat)
    x = v.clone().requires_grad_(True)
    b = torch.randn(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: logdet(gm, x), (x,))
    assert torch.autograd.gradcheck(lambda x, b: solve(gm, x, b), (x, b))
    assert torch.autograd.gradcheck(lambda x, b: solve(gm, x, b[:, 1]), (x, b))
    assert torch.autograd.gradcheck(lambda x, b: quad_form(gm, x, b), (x, b))
    assert torch.autograd.gradcheck(lambda x, b: quad_form(gm, x, b[:, 0]), (x, b))


def test_factorisation_is_shared_and_cached():
    Q = grid_laplacian(6, 6)
    pat, v = Pattern.split(Q)
    gm = GMRF(pat)
    x = v.clone().requires_grad_(True)
    f = gm.factorize(x)
    assert gm.factorize(x) is f
    b = torch.ones(pat.n, dtype=torch.float64)
    loss = f.logdet() - f.quad_form(b)
    loss.backward()
    S = np.linalg.inv(Q.toarray())
    s = S @ b.numpy()
    np.testing.assert_allclose(x.grad.numpy(), S[pat.rows, pat.cols] + s[pat.rows] * s[pat.cols],
                               rtol=1e-9)
    with torch.no_grad():
        x[pat.diagonal] += 1.0  # changed in place: a new factorisation
    g = gm.factorize(x)
    assert g is not f
    np.testing.assert_allclose(g.logdet().item(),
                               np.linalg.slogdet(Q.toarray() + np.eye(pat.n))[1], rtol=1e-12)


# ---------------------------------------------------------------- sampling


def _mc_check(draws, S, z=5.0):
    """Empirical covariance of draws (N, n) against S, entrywise within z standard errors:
    sd(Ĉ_ij) = √((S_ii S_jj + S_ij²)/N) for Gaussian draws."""
    N = draws.shape[0]
    C = draws.T @ draws / N
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / N)
    assert np.max(np.abs(C - S) / se) < z


def test_cholesky_samples_covariance_and_seeds():
    Q = random_spd(25, 0.08, 11)
    pat, v = Pattern.split(Q)
    f = GMRF(pat).factorize(v)
    x = f.sample(40_000, seed=1).numpy()
    assert x.shape == (40_000, 25)
    _mc_check(x, np.linalg.inv(Q.toarray()))
    assert torch.equal(f.sample(3, seed=7), f.sample(3, seed=7))
    assert torch.equal(f.sample(3, seed=np.random.default_rng(7)), f.sample(3, seed=7))
    g1 = f.sample(2, seed=torch.Generator().manual_seed(3))
    assert torch.equal(g1, f.sample(2, seed=torch.Generator().manual_seed(3)))
    assert f.sample(seed=0).shape == (25,)
    # with given normals: x = PᵀL⁻ᵀz exactly
    z = np.random.default_rng(0).standard_normal((25, 2))
    x = sample_cholesky(f.factor, z=z).numpy()
    L = f.factor.L.toarray()
    np.testing.assert_allclose(x.T[f.factor.perm], np.linalg.solve(L.T, z), atol=1e-12)


def _inverse_sqrt(D):
    lam, U = np.linalg.eigh(D)
    return (U / np.sqrt(lam)) @ U.T


@pytest.mark.parametrize("tol", [1e-3, 1e-8])
@pytest.mark.parametrize("kind", ["dominant", "bound", "lanczos"])
def test_chebyshev_inverse_sqrt_against_eigendecomposition(kind, tol):
    """‖p_K(Q)z − Q^{−1/2}z‖ ≤ tol ‖Q^{−1/2}z‖ with the Gershgorin lower bound (Q = G + 0.05 I,
    diagonally dominant), a known bound (Q = G² + 0.05 I ≥ 0.05 I) or a Lanczos estimate."""
    G = grid_laplacian(12, 10, shift=0.0)
    Q = G + 0.05 * sp.identity(120) if kind == "dominant" else G @ G + 0.05 * sp.identity(120)
    lower = {"dominant": None, "bound": 0.05, "lanczos": "lanczos"}[kind]
    cs = ChebyshevSampler(Q, tol=tol, lower=lower)
    lam = np.linalg.eigvalsh(Q.toarray())
    assert cs.lower <= lam[0] and lam[-1] <= cs.upper
    z = np.random.default_rng(0).standard_normal((120, 3))
    exact = _inverse_sqrt(Q.toarray()) @ z
    err = np.linalg.norm(cs.apply(z) - exact, axis=0) / np.linalg.norm(exact, axis=0)
    assert np.all(err <= tol)
    assert np.max(err) > tol / 1e4  # the degree is not wildly larger than needed


def test_chebyshev_samples_covariance():
    Q = grid_laplacian(6, 5, shift=0.3)
    pat, v = Pattern.split(Q)
    cs = ChebyshevSampler((pat, v), tol=1e-8)
    x = cs.sample(40_000, seed=2).numpy()
    assert x.shape == (40_000, 30)
    _mc_check(x, np.linalg.inv(Q.toarray()))
    assert torch.equal(cs.sample(2, seed=5), cs.sample(2, seed=5))


def test_chebyshev_coefficients_and_errors():
    c = chebyshev_inverse_sqrt(0.5, 8.0, tol=1e-10)
    t = np.linspace(-1, 1, 1001)
    lam = 4.25 + 3.75 * t
    p = np.polynomial.chebyshev.chebval(t, np.r_[c[0] / 2, c[1:]])
    assert np.max(np.abs(p * np.sqrt(lam) - 1)) < 1e-10
    with pytest.raises(ValueError, match="max_degree"):
        chebyshev_inverse_sqrt(1e-6, 8.0, tol=1e-10, max_degree=50)
    with pytest.raises(ValueError, match="lower < upper"):
        ChebyshevSampler(grid_laplacian(3, 3), lower=5.0, upper=1.0)
    G = grid_laplacian(4, 4, shift=0.0)
    with pytest.raises(ValueError, match="not diagonally dominant"):
        ChebyshevSampler(G @ G + 0.1 * sp.identity(16))


def test_chebyshev_operator_pereira_desassis_form():
    """f(S)z with S = G ≥ 0 (Gershgorin interval [0, 8]) and f(λ) = (κ² + λ)^{−1}: no lower
    eigenvalue estimate needed; relative error ≤ tol against the dense (κ²I + G)^{−1}z."""
    G = grid_laplacian(10, 9, shift=0.0)
    op = ChebyshevOperator(G, lambda lam: (0.3 + lam) ** -1.0, tol=1e-9)
    assert op.lower <= 0.0 and op.upper >= 8.0 - 1e-12
    z = np.random.default_rng(1).standard_normal(90)
    exact = np.linalg.solve(0.3 * np.eye(90) + G.toarray(), z)
    assert np.linalg.norm(op.apply(z) - exact) <= 1e-9 * np.linalg.norm(exact)


# ---------------------------------------------------------------- benchmark material


@pytest.mark.slow
def test_selinv_timing_grid_1e5():
    Q = grid_laplacian(316, 316)
    pat, v = Pattern.split(Q)
    gm = GMRF(pat)
    x = v.clone().requires_grad_(True)
    t = time.perf_counter()
    ld = gm.factorize(x).logdet()
    ld.backward()
    seconds = time.perf_counter() - t
    assert seconds < 30
    diag = x.grad[torch.from_numpy(pat.diagonal)]
    assert torch.all(diag > 0)


def test_selinv_over_the_factor_values():
    """takahashi(overwrite=True) writes Σ̃ over L's values with the same result; a factor's
    selected inverse does so and its L is re-extracted intact afterwards."""
    from fieldfit.gmrf import selinv

    K = grid_laplacian(20, 18)
    Q = (K @ K).tocsc()
    f = SparseCholesky(Q).factorize(Pattern.split(Q)[1])
    L = f.L.copy()
    expected = selinv.takahashi(L)
    out = selinv.takahashi(L, overwrite=True)
    assert out is L.data
    np.testing.assert_array_equal(out, expected)
    f.selinv()
    np.testing.assert_allclose((f.L @ f.L.T).toarray(), Q.toarray()[np.ix_(f.perm, f.perm)],
                               atol=1e-10 * abs(Q).max())


def test_locating_entries_leaves_torchs_thread_count():
    """The selected inverse's lookup runs serially: a parallel numba kernel would reset the
    OpenMP thread count that torch's kernels (and so the fit's repeatability) depend on."""
    import torch
    from sksparse.cholmod import cholesky

    from fieldfit.gmrf.selinv import locate

    n = 40
    Q = sp.diags([np.full(n - 1, -1.0), np.full(n, 2.5), np.full(n - 1, -1.0)],
                 [-1, 0, 1]).tocsc()
    f = cholesky(Q)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        out = locate(f.L().tocsc(), f.P(), np.arange(n), np.arange(n))
        assert torch.get_num_threads() == 2
        assert np.all(out >= 0)
    finally:
        torch.set_num_threads(before)
