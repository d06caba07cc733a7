"""The exact spectral simulator of the continuous advection–diffusion SPDE: empirical
covariances against the closed form (on the grid and at off-grid stations), grid and station
sampling agree, the AR(1) transition is exact, the marginal variance tends to the continuum
Matérn formula of the FEM model, transport along +γ/c, and clear errors for bad input."""

import math

import numpy as np
import pytest

from fieldfit.spde.matern import rotated_diffusion
from fieldfit.spde.spectral import SpectralAdvectionDiffusion, diffusion_matrix


def _model(**kw):
    p = dict(Lx=6.0, Ly=5.0, nx=12, ny=10, kappa=1.2, c=0.8, tau=1.0, gamma=(0.6, -0.3))
    p.update(kw)
    return SpectralAdvectionDiffusion(**p)


def _mc_check(products, expected, n_sigma=4.5):
    """``products (r, m)``: one unbiased estimate per replicate (iid over r) of each of m
    covariances. The Monte-Carlo standard error is their sample std / √r."""
    est = products.mean(0)
    se = products.std(0, ddof=1) / math.sqrt(products.shape[0])
    z = np.abs(est - expected) / se
    assert np.all(z < n_sigma), (est, expected, se)
    return est, se


def test_grid_covariance_matches_closed_form():
    m = _model(H=diffusion_matrix(1.0, 0.7, 0.5))
    times = np.array([0.0, 0.15, 0.4])  # unequal steps: the transition is exact for any Δt
    X = m.simulate(times, n_replicates=3000, seed=11)
    assert X.shape == (3000, 3, 10, 12)
    dx, dy = m.Lx / m.nx, m.Ly / m.ny
    # (di, dj, k2, k1): Cov(X(s + (di dx, dj dy), t_k2), X(s, t_k1))
    lags = [(0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 1, 1), (2, -1, 0, 0), (0, 0, 1, 0),
            (1, 0, 1, 0), (-1, 0, 1, 0), (1, -1, 2, 0), (2, 1, 2, 1), (-2, 3, 2, 2)]
    prods, h, u = [], [], []
    for di, dj, k2, k1 in lags:
        shifted = np.roll(X[:, k2], shift=(-dj, -di), axis=(-2, -1))  # X(s + h, t_k2)
        prods.append((shifted * X[:, k1]).mean((-2, -1)))
        h.append((di * dx, dj * dy))
        u.append(times[k2] - times[k1])
    prods = np.stack(prods, 1)
    expected = m.covariance(np.array(h), np.array(u))
    est, se = _mc_check(prods, expected)
    var = m.marginal_variance()
    assert np.isclose(expected[0], var, rtol=1e-12)
    assert se.max() < 0.02 * var  # the test has power
    # the reversed advection is rejected at the lags that see it
    wrong = _model(H=diffusion_matrix(1.0, 0.7, 0.5), gamma=(-0.6, 0.3)).covariance(
        np.array(h), np.array(u))
    assert np.max(np.abs(est - wrong) / se) > 8


def test_station_covariance_matches_closed_form_off_the_grid():
    m = _model(nx=16, ny=13)
    pts = np.array([[0.37, 1.91], [1.02, 1.55], [5.83, 4.71]])  # not grid points; 3rd wraps
    times = np.array([0.0, 0.25])
    Y = m.sample_at(pts, times, n_replicates=4000, seed=5)
    assert Y.shape == (4000, 2, 3)
    pairs = [(0, 0, 0, 0), (1, 0, 0, 0), (1, 0, 1, 0), (0, 1, 1, 0), (2, 0, 1, 0),
             (0, 2, 1, 1)]
    prods = np.stack([Y[:, k2, a] * Y[:, k1, b] for a, b, k2, k1 in pairs], 1)
    h = np.array([pts[a] - pts[b] for a, b, _, _ in pairs])
    u = np.array([times[k2] - times[k1] for _, _, k2, k1 in pairs])
    _mc_check(prods, m.covariance(h, u))


def test_sample_at_grid_points_equals_the_grid_simulation():
    m = _model(nx=12, ny=9, H=diffusion_matrix(1.3, 0.5, -0.7), alpha=2, alpha_s=0.5)
    times = np.array([0.0, 0.1, 0.3, 0.35])
    X = m.simulate(times, n_replicates=2, seed=3)
    x, y = m.grid()
    P = np.stack(np.meshgrid(x, y), -1).reshape(-1, 2)  # row-major (j, i), as X[.., j, i]
    Y = m.sample_at(P, times, n_replicates=2, seed=3)
    scale = np.abs(X).max()
    np.testing.assert_allclose(Y, X.reshape(2, 4, -1), atol=1e-12 * scale)
    # the series is periodic, and the nugget adds noise on top of the same field
    Yp = m.sample_at(P + [m.Lx, -2 * m.Ly], times, n_replicates=2, seed=3)
    np.testing.assert_allclose(Yp, Y, atol=1e-10 * scale)
    Yn = m.sample_at(P, times, n_replicates=2, seed=3, nugget=0.05)
    d = (Yn - Y).ravel()
    assert abs(d.var() / 0.05 - 1) < 4 * math.sqrt(2 / d.size)
    assert not np.allclose(m.simulate(times, 2, seed=4), X)


@pytest.mark.parametrize("nx, ny", [(12, 9), (33, 40)])
def test_nufft_evaluation_is_the_direct_series(nx, ny):
    """sample_at by FINUFFT's type-2 transform equals the direct sum (odd and even grids,
    points off the periodic box) to the transform's tolerance."""
    m = _model(nx=nx, ny=ny, H=diffusion_matrix(1.3, 0.5, -0.7), alpha=2, alpha_s=0.5)
    rng = np.random.default_rng(4)
    pts = rng.uniform(-2 * m.Lx, 3 * m.Lx, (57, 2))
    times = np.array([0.0, 0.1, 0.3])
    a = m.sample_at(pts, times, n_replicates=3, seed=9, method="direct")
    b = m.sample_at(pts, times, n_replicates=3, seed=9, method="nufft")
    np.testing.assert_allclose(b, a, atol=1e-10 * np.abs(a).max())
    with pytest.raises(ValueError, match="method must be"):
        m.sample_at(pts, times, method="fft")


def test_transition_is_exact_two_steps_equal_one():
    m = _model(H=diffusion_matrix(1.0, 0.6, 0.3), alpha=1.5, alpha_s=1)
    dt1, dt2 = 0.13, 0.29
    p1, v1 = m.transition(dt1)
    p2, v2 = m.transition(dt2)
    p12, v12 = m.transition(dt1 + dt2)
    # X(t + Δt₁ + Δt₂) | X(t) ~ CN(φ₂φ₁ X(t), |φ₂|² v₁ + v₂): the same law as one step
    np.testing.assert_allclose(p2 * p1, p12, rtol=1e-13, atol=0)
    np.testing.assert_allclose(np.abs(p2) ** 2 * v1 + v2, v12, rtol=1e-12)
    # stationarity: |φ|² q + v = q, and v(0) = 0, φ(0) = 1
    np.testing.assert_allclose(np.abs(p1) ** 2 * m.q + v1, m.q, rtol=1e-13)
    p0, v0 = m.transition(0.0)
    assert np.all(p0 == 1) and np.all(v0 == 0)
    # the closed-form covariance is Re Σ w q φ(u) e^{iω·h} / A, built from the transitions
    rng = np.random.default_rng(0)
    h = rng.uniform(-3, 3, (7, 2))
    for u in (0.0, dt1, dt1 + dt2):
        phi, _ = m.transition(u)
        ref = ((m.weights * m.q * phi) * np.exp(1j * h @ m.omega.T)).sum(1).real / m.area
        np.testing.assert_allclose(m.covariance(h, u), ref, rtol=1e-10, atol=1e-14)
        # C(h, −u) = C(−h, u)
        np.testing.assert_allclose(m.covariance(h, -u), m.covariance(-h, u), rtol=1e-10)


def _tail_bound(m, nu):
    """Relative mass of the spectral density λ^{−(ν+1)} beyond the largest disc inside the mode
    box: (κ/K)^{2ν}, K = π min(nx/Lx, ny/Ly) √(λ_min(H)) (the square keeps more than the
    disc, so the truncation error is below this)."""
    K = math.pi * min(m.nx / m.Lx, m.ny / m.Ly) * math.sqrt(np.linalg.eigvalsh(m.H).min())
    return (m.kappa / K) ** (2 * nu)


@pytest.mark.parametrize("alpha, alpha_s, H", [
    (1, 1, None), (2, 1, None), (1, 2, diffusion_matrix(1.5, 0.6, 0.4)),
    (1.5, 1, diffusion_matrix(0.8, 1.4, -1.0))])
def test_marginal_variance_tends_to_the_continuum_formula(alpha, alpha_s, H):
    """On a 40 × 40 torus (40 ranges: the periodic wrap-around adds ~e^{−40}), the only error
    is the truncation tail, which is below (κ/K)^{2ν} (0.25 % for ν = 1 at 256² modes)."""
    nu = alpha + alpha_s - 1
    errs = []
    for n in (128, 256):
        m = SpectralAdvectionDiffusion(40.0, 40.0, n, n, 1.0, 0.7, 1.3, gamma=(2.0, 1.0), H=H,
                                       alpha=alpha, alpha_s=alpha_s)
        exact = m.continuum_marginal_variance()
        detH = 1.0 if H is None else np.linalg.det(H)
        assert np.isclose(exact, 1.3**2 / 2 * math.gamma(nu)
                          / (math.gamma(alpha + alpha_s) * 4 * math.pi * math.sqrt(detH)))
        rel = m.marginal_variance() / exact - 1
        assert -_tail_bound(m, nu) - 1e-12 < rel < 1e-12  # truncation only removes variance
        errs.append(-rel)
    if nu == 1:  # the tail falls like K^{−2ν}: halving the cut-off quarters it
        assert 3.0 < errs[0] / errs[1] < 5.0
    assert np.isclose(m.covariance([[0.0, 0.0]], 0.0)[0], m.marginal_variance(), rtol=1e-12)
    # advection does not change the marginal variance
    m0 = SpectralAdvectionDiffusion(40.0, 40.0, 256, 256, 1.0, 0.7, 1.3, H=H, alpha=alpha,
                                    alpha_s=alpha_s)
    assert np.isclose(m0.marginal_variance(), m.marginal_variance(), rtol=1e-13)


def test_alpha_s_zero_has_no_finite_continuum_variance():
    m = SpectralAdvectionDiffusion(10.0, 10.0, 16, 16, 1.0, 1.0, 1.0, alpha=1, alpha_s=0)
    assert math.isinf(m.continuum_marginal_variance())
    finer = SpectralAdvectionDiffusion(10.0, 10.0, 64, 64, 1.0, 1.0, 1.0, alpha=1, alpha_s=0)
    assert finer.marginal_variance() > 1.2 * m.marginal_variance()  # grows like log K


def test_transport_along_gamma_over_c():
    """The space-time covariance at lag u peaks at h = +γu/c, in the closed form and in the
    simulated cross-covariance (here γu/c = (2, −1) grid cells)."""
    c = 1.5
    m = SpectralAdvectionDiffusion(8.0, 8.0, 32, 32, 1.0, c, 1.0, gamma=(1.0 * c, -0.5 * c))
    u, dx = 0.5, 0.25
    x, y = m.grid()
    h = np.stack(np.meshgrid(x - 4.0, y - 4.0), -1).reshape(-1, 2)
    cov = m.covariance(h, np.full(len(h), u))
    np.testing.assert_allclose(h[np.argmax(cov)], [0.5, -0.25], atol=1e-12)
    X = m.simulate([0.0, u], n_replicates=300, seed=2)
    F0, F1 = np.fft.fft2(X[:, 0]), np.fft.fft2(X[:, 1])
    cc = np.fft.ifft2(F1 * np.conj(F0)).real.mean(0)  # cc[j, i] = mean_s X1(s + d) X0(s)
    j, i = np.unravel_index(np.argmax(cc), cc.shape)
    shift = (np.array([i, j]) + 16) % 32 - 16
    np.testing.assert_array_equal(shift, [2, -1])
    assert dx * shift[0] == 0.5


def test_diffusion_matrix_and_from_params_follow_the_model_convention():
    H = diffusion_matrix(1.7, 0.4, 0.9)
    ref = 1.7 * rotated_diffusion(0.9, 0.4).numpy()
    np.testing.assert_allclose(H, ref, rtol=1e-14)
    p = dict(kappa=1.1, c=0.9, tau=2.0, gamma_x=0.3, gamma_y=-0.2, H_scale=1.7, H_ratio=0.4,
             H_angle=0.9)
    a = SpectralAdvectionDiffusion.from_params(5.0, 4.0, 10, 8, p, alpha=2, alpha_s=1)
    b = SpectralAdvectionDiffusion(5.0, 4.0, 10, 8, 1.1, 0.9, 2.0, gamma=(0.3, -0.2), H=H,
                                   alpha=2, alpha_s=1)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.rotation, b.rotation)
    # modes: |k| ≤ n // 2 per axis, one of each ±ω pair plus ω = 0
    assert a.n_modes == (11 * 9 - 1) // 2 + 1
    odd = SpectralAdvectionDiffusion(5.0, 4.0, 9, 7, 1.0, 1.0, 1.0)
    assert odd.n_modes == (9 * 7 - 1) // 2 + 1


@pytest.mark.parametrize("kw, match", [
    (dict(kappa=0.0), "kappa must be positive"),
    (dict(c=-1.0), "c must be positive"),
    (dict(tau=float("nan")), "tau must be positive"),
    (dict(tau="big"), "tau must be a positive number"),
    (dict(Lx=0.0), "Lx must be positive"),
    (dict(nx=1), "nx must be an integer ≥ 2"),
    (dict(ny=4.5), "ny must be an integer ≥ 2"),
    (dict(H=[[1.0, 0.0], [0.0, -0.5]]), "H must be positive definite"),
    (dict(H=[[1.0, 0.3], [0.0, 1.0]]), "H must be symmetric"),
    (dict(H=np.eye(3)), "H must be a finite 2×2 matrix"),
    (dict(gamma=(1.0, 2.0, 3.0)), "gamma must be two finite numbers"),
    (dict(alpha=0.0), "alpha must be positive"),
    (dict(alpha_s=-1.0), "alpha_s must be finite and ≥ 0"),
])
def test_bad_parameters_raise_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        _model(**kw)


def test_bad_sampling_input_raises_clear_errors():
    m = _model()
    with pytest.raises(ValueError, match="times must be strictly increasing"):
        m.simulate([0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="times must be a non-empty 1-D array"):
        m.simulate([])
    with pytest.raises(ValueError, match="n_replicates must be a positive integer"):
        m.simulate([0.0], n_replicates=0)
    with pytest.raises(ValueError, match=r"points must have shape \(n, 2\)"):
        m.sample_at(np.zeros((4, 3)), [0.0])
    with pytest.raises(ValueError, match="nugget must be finite and ≥ 0"):
        m.sample_at(np.zeros((4, 2)), [0.0], nugget=-1.0)
    with pytest.raises(ValueError, match=r"spatial lags must have shape \(m, 2\)"):
        m.covariance(np.zeros((3, 3)), 0.0)
    with pytest.raises(ValueError, match="time step must be finite and ≥ 0"):
        m.transition(-0.1)


def test_covariance_matrix_at_stations_is_the_pairwise_closed_form():
    m = _model(H=diffusion_matrix(1.0, 0.8, 0.2))
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 5, (5, 2))
    times = np.array([0.0, 0.1, 0.2, 0.45])  # lags 0.1 repeat: shared blocks
    S = m.covariance_matrix(pts, times)
    assert S.shape == (20, 20)
    kk, ii = np.divmod(np.arange(20), 5)  # time-major: index k·n + i
    a, b = np.meshgrid(np.arange(20), np.arange(20), indexing="ij")
    h = pts[ii[a.ravel()]] - pts[ii[b.ravel()]]
    u = times[kk[a.ravel()]] - times[kk[b.ravel()]]
    np.testing.assert_allclose(S.ravel(), m.covariance(h, u), rtol=1e-10, atol=1e-14)
    assert np.linalg.eigvalsh(S).min() > 0
    # and the simulated stations have this covariance
    Y = m.sample_at(pts, times, n_replicates=4000, seed=8).reshape(4000, -1)
    iu = np.triu_indices(20)
    _mc_check((Y[:, :, None] * Y[:, None, :])[:, iu[0], iu[1]], S[iu], n_sigma=5.0)
