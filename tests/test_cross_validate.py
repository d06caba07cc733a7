"""fieldfit.cross_validate: k-fold and leave-one-out kriging at fixed parameters, checked
against kriging written out here with dense numpy (no fieldfit): the exponential covariance
C(h) = σ² exp(−h/ℓ), Σ = C + τ²I, and for a held-out point x₀ with design row f₀

    simple     m = f₀ᵀβ + k₀ᵀΣ⁻¹(y − Fβ),       v = σ² + τ² − k₀ᵀΣ⁻¹k₀
    universal  β → β̂ = (FᵀΣ⁻¹F)⁻¹FᵀΣ⁻¹y,        v += r₀ᵀ(FᵀΣ⁻¹F)⁻¹r₀,  r₀ = f₀ − FᵀΣ⁻¹k₀

(a new observation: τ² included), from the points of the other folds only.
"""

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import norm

from fieldfit import GaussianField, Observations, cross_validate
from fieldfit.covariance import Exponential

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PARAMS = {"variance": 1.3, "range": 0.2, "nugget": 0.15}


def _data(n=40, seed=0, covariate=False):
    """Observations of an exponential field at n uniform points, with a constant mean 1 or a
    mean 1 + 2z of one covariate z; also the arrays and the design F (n, p)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 2))
    y = GaussianField(Exponential(), mean="zero").simulate(x, PARAMS, seed=seed + 1)[0]
    if covariate:
        z = rng.normal(size=n)
        y = y + 1.0 + 2.0 * z
        obs = Observations(coords=x, values=y, covariates=z[:, None], covariate_names=("z0",))
        return obs, x, y, np.column_stack([np.ones(n), z]), {
            **PARAMS, "beta_intercept": 1.0, "beta_z0": 2.0}
    y = y + 1.0
    return Observations(coords=x, values=y), x, y, np.ones((n, 1)), {**PARAMS, "mean": 1.0}


def _dense_kriging(x, y, F, train, test, p, beta=None):
    """Kriging of the ``test`` rows from the ``train`` rows (boolean masks), dense numpy:
    universal (β̂ by GLS) when ``beta`` is None, else simple with that β."""
    s2, ell, tau2 = p["variance"], p["range"], p["nugget"]
    xt, yt, Ft = x[train], y[train], F[train]
    S = s2 * np.exp(-cdist(xt, xt) / ell) + tau2 * np.eye(len(xt))
    k0 = s2 * np.exp(-cdist(xt, x[test]) / ell)                     # (n_train, m)
    Si_k0 = np.linalg.solve(S, k0)
    A = Ft.T @ np.linalg.solve(S, Ft)
    universal = beta is None
    if universal:
        beta = np.linalg.solve(A, Ft.T @ np.linalg.solve(S, yt))
    mean = F[test] @ beta + Si_k0.T @ (yt - Ft @ beta)
    var = s2 + tau2 - np.einsum("ij,ij->j", k0, Si_k0)
    if universal:
        r0 = F[test].T - Ft.T @ Si_k0                                  # (p, m)
        var = var + np.einsum("im,im->m", r0, np.linalg.solve(A, r0))
    return mean, np.sqrt(var)


def _expected(x, y, F, fold, p, kind):
    """Per point: the dense kriging from the points of the other folds."""
    beta = None
    if kind == "simple":
        beta = (np.array([p["mean"]]) if "mean" in p
                else np.array([p["beta_intercept"], p["beta_z0"]]))
    mean, sd = np.empty(len(y)), np.empty(len(y))
    for f in np.unique(fold):
        test = fold == f
        mean[test], sd[test] = _dense_kriging(x, y, F, ~test, test, p, beta)
    return mean, sd


@pytest.mark.parametrize("kind", ["universal", "simple"])
def test_leave_one_out_is_kriging_from_the_other_points(kind):
    obs, x, y, F, truth = _data()
    model = GaussianField(Exponential(), mean="constant")
    scores, table = cross_validate(model, obs, truth, folds=None, kind=kind)
    n = len(y)
    # one fold per point
    assert sorted(table["fold"]) == list(range(n))
    np.testing.assert_array_equal(table["id"], obs.ids)
    np.testing.assert_array_equal(table["value"], y)
    mean, sd = _expected(x, y, F, table["fold"].to_numpy(), truth, kind)
    np.testing.assert_allclose(table["mean"], mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(table["sd"], sd, rtol=1e-8)
    # held out: the sd exceeds the nugget's (a new observation), and stays below the prior sd
    assert (table["sd"] > np.sqrt(PARAMS["nugget"])).all()
    if kind == "simple":
        assert (table["sd"] < np.sqrt(PARAMS["variance"] + PARAMS["nugget"])).all()


def test_universal_leave_one_out_sd_exceeds_simple():
    """Estimating the mean adds r₀ᵀ(FᵀΣ⁻¹F)⁻¹r₀ ≥ 0 to every variance."""
    obs, *_, truth = _data(seed=3)
    model = GaussianField(Exponential(), mean="constant")
    _, uni = cross_validate(model, obs, truth, folds=None, kind="universal")
    _, sim = cross_validate(model, obs, truth, folds=None, kind="simple")
    assert (uni["sd"] > sim["sd"]).all()
    assert not np.allclose(uni["mean"], sim["mean"])


def test_leave_one_out_with_covariates_uses_the_held_out_rows_covariates():
    obs, x, y, F, truth = _data(n=45, seed=5, covariate=True)
    model = GaussianField(Exponential(), mean="covariates")
    _, table = cross_validate(model, obs, truth, folds=None)
    mean, sd = _expected(x, y, F, table["fold"].to_numpy(), truth, "universal")
    np.testing.assert_allclose(table["mean"], mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(table["sd"], sd, rtol=1e-8)


def test_k_folds_partition_the_points_and_krige_each_from_the_others():
    obs, x, y, F, truth = _data(n=43, seed=1)
    model = GaussianField(Exponential(), mean="constant")
    k = 5
    scores, table = cross_validate(model, obs, truth, folds=k, seed=7)
    fold = table["fold"].to_numpy()
    # every point in exactly one fold, the folds as equal as they can be (43 = 3·9 + 2·8)
    assert len(table) == 43 and set(fold) == set(range(k))
    assert sorted(np.bincount(fold, minlength=k)) == [8, 8, 9, 9, 9]
    np.testing.assert_array_equal(table["id"], obs.ids)
    mean, sd = _expected(x, y, F, fold, truth, "universal")
    np.testing.assert_allclose(table["mean"], mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(table["sd"], sd, rtol=1e-8)
    # a held-out fold is predicted less well than from all other points (LOO): larger sd
    _, loo = cross_validate(model, obs, truth, folds=None)
    assert (table["sd"].to_numpy() >= loo["sd"].to_numpy() - 1e-12).all()
    assert (table["sd"].to_numpy() > loo["sd"].to_numpy() + 1e-6).any()
    # the seed decides the assignment: the same seed the same folds, another seed others
    _, again = cross_validate(model, obs, truth, folds=k, seed=7)
    np.testing.assert_array_equal(again["fold"], fold)
    _, other = cross_validate(model, obs, truth, folds=k, seed=8)
    assert not np.array_equal(other["fold"].to_numpy(), fold)
    assert sorted(np.bincount(other["fold"], minlength=k)) == [8, 8, 9, 9, 9]


def test_scores_are_those_of_the_table():
    obs, x, y, F, truth = _data(n=40, seed=2)
    model = GaussianField(Exponential(), mean="constant")
    for level in (0.95, 0.5):
        scores, t = cross_validate(model, obs, truth, folds=4, level=level)
        err = t["value"] - t["mean"]
        assert scores["n"] == 40
        np.testing.assert_allclose(scores["mae"], np.abs(err).mean(), rtol=1e-12)
        np.testing.assert_allclose(scores["rmse"], np.sqrt((err ** 2).mean()), rtol=1e-12)
        z = norm.ppf(0.5 + level / 2)
        inside = np.abs(err) <= z * t["sd"]
        np.testing.assert_allclose(scores["coverage"], inside.mean(), rtol=1e-12)
        zz = err / t["sd"]
        crps = t["sd"] * (zz * (2 * norm.cdf(zz) - 1) + 2 * norm.pdf(zz) - 1 / np.sqrt(np.pi))
        np.testing.assert_allclose(scores["crps"], crps.mean(), rtol=1e-10)


def test_missing_values_are_left_out():
    obs, x, y, F, truth = _data(n=40, seed=4)
    y_nan = y.copy()
    y_nan[[3, 17, 30]] = np.nan
    with_nan = Observations(coords=x, values=y_nan)
    model = GaussianField(Exponential(), mean="constant")
    _, t = cross_validate(model, with_nan, truth, folds=None)
    keep = ~np.isnan(y_nan)
    assert len(t) == 37
    np.testing.assert_array_equal(t["id"], np.flatnonzero(keep))
    mean, sd = _expected(x[keep], y[keep], F[keep], t["fold"].to_numpy(), truth, "universal")
    np.testing.assert_allclose(t["mean"], mean, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(t["sd"], sd, rtol=1e-8)


@pytest.mark.parametrize("folds", [0, 1, -3, 41])
def test_bad_folds_raise(folds):
    obs, *_, truth = _data(n=40)
    model = GaussianField(Exponential(), mean="constant")
    with pytest.raises(ValueError, match="folds"):
        cross_validate(model, obs, truth, folds=folds)


def test_replicates_and_bad_params_raise():
    obs, x, y, F, truth = _data(n=30)
    model = GaussianField(Exponential(), mean="constant")
    two = Observations(coords=x, values=np.stack([y, y + 1]))
    with pytest.raises(ValueError, match="single replicate"):
        cross_validate(model, two, truth, folds=3)
    with pytest.raises(ValueError, match="FitResult or a dict"):
        cross_validate(model, obs, [1.0, 0.2, 0.1], folds=3)


def test_a_fit_result_gives_the_same_as_its_params():
    from fieldfit import fit

    obs, *_ = _data(n=40, seed=6)
    model = GaussianField(Exponential(), mean="constant")
    res = fit(model, obs, restarts=0, progress=False)
    s1, t1 = cross_validate(model, obs, res, folds=5)
    s2, t2 = cross_validate(model, obs, dict(res.params), folds=5)
    assert s1 == s2
    np.testing.assert_array_equal(t1["mean"], t2["mean"])
