"""GaussianField: exact likelihood against scipy, simulation, kriging against scikit-learn."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from fieldfit import GaussianField, Matern, Observations
from fieldfit.covariance import Exponential, Separable
from fieldfit.settings import settings


def _matern_cov(x, variance, rng, nu):
    from scipy.spatial.distance import cdist
    from scipy.special import gamma, kv

    h = cdist(x, x) / rng
    with np.errstate(all="ignore"):
        c = variance * 2 ** (1 - nu) / gamma(nu) * h**nu * kv(nu, h)
    c[h == 0] = variance
    return c


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(60, 2))
    cov = covariates = rng.normal(size=(60, 1))
    K = _matern_cov(x, 1.3, 0.25, 1.2) + 0.1 * np.eye(60)
    y = 2.0 + 0.5 * covariates[:, 0] + np.linalg.cholesky(K) @ rng.normal(size=60)
    return x, cov, y


P = {"variance": 1.3, "range": 0.25, "smoothness": 1.2, "nugget": 0.1}


def test_loglik_against_scipy(data):
    x, z, y = data
    model = GaussianField(Matern(), mean="covariates", profile_mean=False)
    obs = Observations(coords=x, values=y, covariates=z, covariate_names=("z",))
    p = {**P, "beta_intercept": 2.1, "beta_z": 0.4}
    ll = float(model.log_likelihood(obs, p))
    K = _matern_cov(x, 1.3, 0.25, 1.2) + 0.1 * np.eye(60)
    ref = multivariate_normal(mean=2.1 + 0.4 * z[:, 0], cov=K).logpdf(y)
    np.testing.assert_allclose(ll, ref, rtol=1e-9)  # jitter 1e-10 × variance


def test_profiled_loglik_is_maximum_over_beta(data):
    x, z, y = data
    obs = Observations(coords=x, values=y, covariates=z, covariate_names=("z",))
    prof = GaussianField(Matern(), mean="covariates")
    full = GaussianField(Matern(), mean="covariates", profile_mean=False)
    ll_prof = float(prof.log_likelihood(obs, P))
    beta, se = prof.estimate_mean(obs, P)
    # GLS by hand
    K = _matern_cov(x, 1.3, 0.25, 1.2) + 0.1 * np.eye(60)
    X = np.column_stack([np.ones(60), z])
    Ki = np.linalg.inv(K)
    b = np.linalg.solve(X.T @ Ki @ X, X.T @ Ki @ y)
    np.testing.assert_allclose([beta["beta_intercept"], beta["beta_z"]], b, rtol=1e-9)
    np.testing.assert_allclose([se["beta_intercept"], se["beta_z"]],
                               np.sqrt(np.diag(np.linalg.inv(X.T @ Ki @ X))), rtol=1e-9)
    ll_at_b = float(full.log_likelihood(obs, {**P, "beta_intercept": b[0], "beta_z": b[1]}))
    np.testing.assert_allclose(ll_prof, ll_at_b, rtol=1e-12)
    ll_off = float(full.log_likelihood(obs, {**P, "beta_intercept": b[0] + 0.1, "beta_z": b[1]}))
    assert ll_off < ll_prof


def test_replicates_loglik_is_sum(data):
    x, _, y = data
    rng = np.random.default_rng(3)
    y2 = np.vstack([y, y[::-1] + rng.normal(size=60)])
    model = GaussianField(Matern(), mean="constant", profile_mean=False)
    p = {**P, "mean": 1.9}
    both = float(model.log_likelihood(Observations(coords=x, values=y2), p))
    each = sum(float(model.log_likelihood(Observations(coords=x, values=v), p)) for v in y2)
    np.testing.assert_allclose(both, each, rtol=1e-12)


def test_loglik_gradient_against_finite_differences(data):
    x, _, y = data
    model = GaussianField(Matern(), mean="constant")
    obs = Observations(coords=x, values=y)
    names = list(P)
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in P.items()}
    grads = torch.autograd.grad(model.log_likelihood(obs, t), [t[k] for k in names])
    for k, g in zip(names, grads, strict=False):
        eps = 1e-6 * P[k]
        up = float(model.log_likelihood(obs, {**P, k: P[k] + eps}))
        dn = float(model.log_likelihood(obs, {**P, k: P[k] - eps}))
        np.testing.assert_allclose(float(g), (up - dn) / (2 * eps), rtol=1e-6, err_msg=k)


def test_simulate_is_seeded_and_has_the_covariance():
    model = GaussianField(Matern(smoothness=1.5), mean="constant", nugget=False)
    x = np.array([[0.0, 0.0], [0.1, 0.0], [0.5, 0.5]])
    p = {"variance": 2.0, "range": 0.2, "mean": 1.0}
    a = model.simulate(x, p, n_replicates=20000, seed=7)
    b = model.simulate(x, p, n_replicates=20000, seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.simulate(x, p, n_replicates=20000, seed=8))
    emp = np.cov(a.T)
    ref = _matern_cov(x, 2.0, 0.2, 1.5)
    np.testing.assert_allclose(emp, ref, atol=0.08)
    np.testing.assert_allclose(a.mean(0), 1.0, atol=0.06)


def test_simple_kriging_against_sklearn(data):
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel
    from sklearn.gaussian_process.kernels import Matern as SkMatern

    x, _, y = data
    # sklearn's Matern uses sqrt(2 nu) h / l; ours h / l: l_sk = l * sqrt(2 nu).
    nu, ell, var, tau2 = 1.5, 0.25, 1.3, 0.1
    kernel = ConstantKernel(var, "fixed") * SkMatern(length_scale=ell * np.sqrt(2 * nu), nu=nu,
                                                      length_scale_bounds="fixed")
    gp = GaussianProcessRegressor(kernel, alpha=tau2, optimizer=None, normalize_y=False)
    gp.fit(x, y - 2.0)
    new = np.random.default_rng(5).uniform(0, 1, size=(40, 2))
    m_sk, s_sk = gp.predict(new, return_std=True)
    model = GaussianField(Matern(smoothness=1.5), mean="constant")
    obs = Observations(coords=x, values=y)
    p = {"variance": var, "range": ell, "nugget": tau2, "mean": 2.0}
    mean, sd = model.predict(obs, new, p, kind="simple", noise=False)
    np.testing.assert_allclose(mean, m_sk + 2.0, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(sd, s_sk, rtol=1e-7, atol=1e-9)
    _, sd_noisy = model.predict(obs, new, p, kind="simple", noise=True)
    np.testing.assert_allclose(sd_noisy**2, s_sk**2 + tau2, rtol=1e-9)


def test_universal_kriging_against_dense_formula(data):
    x, z, y = data
    model = GaussianField(Exponential(), mean="linear")
    obs = Observations(coords=x, values=y)
    p = {"variance": 1.1, "range": 0.3, "nugget": 0.05}
    new = np.random.default_rng(9).uniform(0, 1, size=(7, 2))
    mean, sd = model.predict(obs, new, p, kind="universal", noise=False)
    from scipy.spatial.distance import cdist

    K = 1.1 * np.exp(-cdist(x, x) / 0.3) + 0.05 * np.eye(60)
    k0 = 1.1 * np.exp(-cdist(x, new) / 0.3)
    X = np.column_stack([np.ones(60), x])
    X0 = np.column_stack([np.ones(7), new])
    Ki = np.linalg.inv(K)
    b = np.linalg.solve(X.T @ Ki @ X, X.T @ Ki @ y)
    m_ref = X0 @ b + k0.T @ Ki @ (y - X @ b)
    R = X0 - k0.T @ Ki @ X
    v_ref = 1.1 - np.sum(k0 * (Ki @ k0), 0) + np.sum((R @ np.linalg.inv(X.T @ Ki @ X)) * R, 1)
    np.testing.assert_allclose(mean, m_ref, rtol=1e-9)
    np.testing.assert_allclose(sd**2, v_ref, rtol=1e-8)
    # ordinary kriging needs a constant mean
    with pytest.raises(ValueError, match="constant mean"):
        model.predict(obs, new, p, kind="ordinary")


def test_kriging_against_gstools():
    gs = pytest.importorskip("gstools")
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 10, size=(40, 2))
    y = np.sin(x[:, 0]) + 0.3 * x[:, 1] + rng.normal(scale=0.1, size=40)
    new = rng.uniform(0, 10, size=(15, 2))
    # GSTools' Exponential: C(h) = var exp(-h / len_scale); ordinary kriging, no nugget.
    gm = gs.Exponential(dim=2, var=1.5, len_scale=3.0)
    ok = gs.krige.Ordinary(gm, cond_pos=(x[:, 0], x[:, 1]), cond_val=y, exact=True)
    m_gs, v_gs = ok((new[:, 0], new[:, 1]), mesh_type="unstructured", return_var=True)
    model = GaussianField(Exponential(), mean="constant", nugget=False)
    obs = Observations(coords=x, values=y)
    with settings(jitter=0.0):
        mean, sd = model.predict(obs, new, {"variance": 1.5, "range": 3.0}, kind="ordinary",
                                 noise=False)
    np.testing.assert_allclose(mean, m_gs, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(sd**2, v_gs, rtol=1e-6, atol=1e-9)


def test_conditional_simulation_matches_kriging(data):
    x, _, y = data
    model = GaussianField(Matern(smoothness=1.5), mean="constant")
    obs = Observations(coords=x, values=y)
    p = {"variance": 1.3, "range": 0.25, "nugget": 0.1, "mean": 2.0}
    new = np.array([[0.5, 0.5], [0.52, 0.5], [0.9, 0.1]])
    draws = model.conditional_simulation(obs, new, p, n_samples=20000, seed=1)
    mean, sd = model.predict(obs, new, p, noise=False)
    np.testing.assert_allclose(draws.mean(0), mean, atol=4 * sd.max() / np.sqrt(20000))
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.03)
    assert np.corrcoef(draws[:, 0], draws[:, 1])[0, 1] > 0.9  # nearby points move together


def test_space_time_model_uses_times():
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, size=(30, 2))
    t = rng.uniform(0, 5, size=30)
    y = rng.normal(size=30)
    obs = Observations(coords=x, values=y, times=t)
    model = GaussianField(Separable(Matern(smoothness=0.5), Exponential()), mean="constant")
    p = {"variance": 1.0, "range": 0.3, "time_range": 1.0, "nugget": 0.2}
    ll = float(model.log_likelihood(obs, p))
    from scipy.spatial.distance import cdist

    K = np.exp(-cdist(x, x) / 0.3) * np.exp(-np.abs(t[:, None] - t[None, :]) / 1.0)
    K += 0.2 * np.eye(30)
    Ki = np.linalg.inv(K)
    one = np.ones(30)
    b = one @ Ki @ y / (one @ Ki @ one)
    ref = multivariate_normal(mean=b * one, cov=K).logpdf(y)
    np.testing.assert_allclose(ll, ref, rtol=1e-9)  # jitter 1e-10 × variance
    with pytest.raises(ValueError, match="times"):
        model.log_likelihood(Observations(coords=x, values=y), p)


def test_bad_parameters_raise(data):
    x, _, y = data
    model = GaussianField(Matern(), mean="constant")
    obs = Observations(coords=x, values=y)
    with pytest.raises(ValueError, match="positive"):
        model.log_likelihood(obs, {**P, "range": -1.0})
    with pytest.raises(ValueError, match="missing parameter"):
        model.log_likelihood(obs, {"variance": 1.0})
    with pytest.raises(ValueError, match="unknown engine"):
        GaussianField(engine="nope")
    with pytest.raises(ValueError, match="unknown mean"):
        GaussianField(mean="quadratic")


def test_exact_engine_refuses_problems_too_large_for_memory():
    from fieldfit.settings import settings

    rng = np.random.default_rng(0)
    obs = Observations(coords=rng.uniform(size=(300, 2)), values=rng.normal(size=300))
    model = GaussianField(Matern(smoothness=1.5), mean="constant")
    params = {"variance": 1.0, "range": 0.2, "nugget": 0.1}
    # 300 points need 6 × 8 × 300² bytes ≈ 4.3 MB of dense matrices
    with settings(max_dense_memory=1e6):
        with pytest.raises(ValueError, match="dense 300 × 300"):
            model.log_likelihood(obs, params)
        with pytest.raises(ValueError, match="simulation by Cholesky"):
            model.simulate(obs.coords, {**params, "mean": 0.0}, seed=0)
    with settings(max_dense_memory=1e7):
        assert np.isfinite(float(model.log_likelihood(obs, params)))


def test_fit_reports_a_problem_too_large_instead_of_a_failed_evaluation():
    from fieldfit.fit import fit

    rng = np.random.default_rng(1)
    obs = Observations(coords=rng.uniform(size=(300, 2)), values=rng.normal(size=300))
    with settings(max_dense_memory=1e6), pytest.raises(ValueError, match="GiB"):
        fit(GaussianField(Matern(smoothness=1.5)), obs, progress=False)


@pytest.mark.parametrize("table_min", [0, 10**9])
def test_gram_on_distinct_pairs_equals_the_full_matrix_and_its_gradient(data, table_min):
    # the exact engine evaluates an isotropic covariance on the n(n − 1)/2 distinct pairs
    # and mirrors them: the same matrix and the same parameter gradient as k(x, x), through
    # the Matérn table (table_min = 0) and through the Bessel function directly
    from fieldfit.likelihood.base import GaussianSpec
    from fieldfit.likelihood.exact import gram

    x = torch.as_tensor(np.vstack([data[0], data[0][:3]]))  # with coincident points
    cov = Matern()
    w = torch.randn(len(x), len(x), generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64)
    out = []
    for mirrored in (True, False):
        p = {k: torch.tensor(P[k], dtype=torch.float64, requires_grad=True)
             for k in ("variance", "range", "smoothness")}
        spec = GaussianSpec(kernel=lambda a, b, p=p: cov(a, b, p),
                            diag=lambda a, p=p: cov.diag(a, p), nugget=torch.zeros(()),
                            of_distance=((lambda h, p=p: cov.covariance_of_distance(h, p))
                                         if mirrored else None))
        with settings(matern_table_min=table_min):
            K = gram(spec, x)
            g = torch.autograd.grad((K * w).sum(), list(p.values()))
        out.append((K.detach(), torch.stack(g)))
    torch.testing.assert_close(out[0][0], out[1][0], rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(out[0][1], out[1][1], rtol=1e-11, atol=1e-12)
