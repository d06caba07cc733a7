"""`fieldfit fit` options, each checked by its effect: --covariates (coefficients beta_<name>
in the JSON, predictions that use the targets' covariates), --anisotropic (angle and ratio,
a higher likelihood on anisotropic data), --kind simple|ordinary|universal (universal sd ≥
simple sd), the Vecchia options --grouped and --pred-neighbours (predictions from all
observations equal the exact engine's), and the space-time models with --time (separable:
time_range; gneiting). References are computed with the Python API from the CLI's own
parameters."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from cli_helpers import invoke, matern_frame, ok
from fieldfit import GaussianField, Matern, Observations
from fieldfit.covariance import Anisotropic, Exponential, Gneiting, Separable
from fieldfit.fit import fit
from fieldfit.likelihood import get_engine

pytestmark = pytest.mark.usefixtures("one_torch_thread")
_invoke, _ok = invoke, ok


def _fails(result, *fragments):
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    for f in fragments:
        assert f in result.output, (f, result.output)


def _fit_cli(data, tmp_path, *extra, name="r", predictions=True):
    out, pred = tmp_path / f"{name}.json", tmp_path / f"{name}.csv"
    args = ["fit", data, "--coords", "x,y", "--value", "z", "--out", out, "--restarts", 0,
            "--no-progress", *extra]
    if predictions:
        args += ["--predictions", pred]
    _ok(_invoke(*args))
    d = json.loads(out.read_text())
    return d, (pd.read_csv(pred) if predictions else None)


def _targets(frame, cols=("x", "y")):
    return frame[frame.z.isna()][list(cols)].to_numpy(copy=True)


# --- covariates ------------------------------------------------------------------------------
BETA = {"beta_intercept": 1.0, "beta_c1": 0.8, "beta_c2": -0.5}


@pytest.fixture(scope="module")
def cov_frame():
    """150 rows, two covariates, z = 1 + 0.8 c1 − 0.5 c2 + Matérn field + nugget; 20 NaN z."""
    rng = np.random.default_rng(11)
    n = 150
    x = rng.uniform(size=(n, 2))
    c = rng.normal(size=(n, 2))
    field = GaussianField(Matern(smoothness=1.5), mean="zero").simulate(
        x, {"variance": 1.0, "range": 0.15, "nugget": 0.05}, seed=12)[0]
    z = BETA["beta_intercept"] + c @ [BETA["beta_c1"], BETA["beta_c2"]] + field
    z[rng.choice(n, 20, replace=False)] = np.nan
    return pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "c1": c[:, 0], "c2": c[:, 1], "z": z})


def test_covariates_become_beta_coefficients_and_drive_predictions(cov_frame, tmp_path):
    data = tmp_path / "d.csv"
    cov_frame.to_csv(data, index=False)
    d, pred = _fit_cli(data, tmp_path, "--fix", "smoothness=1.5", "--mean", "covariates",
                       "--covariates", "c1,c2")
    assert set(d["params"]) == {"variance", "range", "smoothness", "nugget", *BETA}
    for k, truth in BETA.items():
        se = d["stderr"][k]
        assert isinstance(se, float) and se > 0, k
        assert abs(d["params"][k] - truth) < 4 * se, (k, d["params"][k], se)
    # the slopes are identified sharply (covariates independent of the field)
    assert d["stderr"]["beta_c1"] < 0.1 and d["stderr"]["beta_c2"] < 0.1
    # predictions at the NaN rows use those rows' covariates
    obs = Observations.from_dataframe(cov_frame, coords=["x", "y"], value="z",
                                      covariates=["c1", "c2"])
    model = GaussianField(Matern(), mean="covariates")
    train, targets = obs.observed_part(), obs.missing_part()
    mean, sd = model.predict(train, _targets(cov_frame), d["params"],
                             new_covariates=targets.covariates)
    np.testing.assert_allclose(pred["mean"], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pred["sd"], sd, rtol=1e-9)
    shifted, _ = model.predict(train, _targets(cov_frame), d["params"],
                               new_covariates=targets.covariates + [1.0, 0.0])
    np.testing.assert_allclose(shifted - mean, d["params"]["beta_c1"], rtol=1e-9)
    # without the covariates the slopes' signal is left to the field: a far lower likelihood
    d0, _ = _fit_cli(data, tmp_path, "--fix", "smoothness=1.5", name="nocov",
                     predictions=False)
    assert "beta_c1" not in d0["params"] and d["loglik"] > d0["loglik"] + 20


def test_linear_plus_covariates_names_coordinates_and_covariates(cov_frame, tmp_path):
    data = tmp_path / "d.parquet"
    cov_frame.to_parquet(data, index=False)
    d, _ = _fit_cli(data, tmp_path, "--fix", "smoothness=1.5", "--mean", "linear+covariates",
                    "--covariates", "c2", predictions=False)
    assert set(d["params"]) - {"variance", "range", "smoothness", "nugget"} == {
        "beta_intercept", "beta_x", "beta_y", "beta_c2"}
    assert abs(d["params"]["beta_c2"] - BETA["beta_c2"]) < 4 * d["stderr"]["beta_c2"]


def test_covariates_mean_without_covariates_fails(cov_frame, tmp_path):
    data = tmp_path / "d.csv"
    cov_frame.to_csv(data, index=False)
    res = _invoke("fit", data, "--coords", "x,y", "--value", "z", "--mean", "covariates",
                  "--out", tmp_path / "r.json")
    _fails(res, "covariate")
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--mean", "covariates",
                   "--covariates", "c3", "--out", tmp_path / "r.json"), "c3")
    assert not (tmp_path / "r.json").exists()


# --- anisotropy ------------------------------------------------------------------------------
def test_anisotropic_adds_angle_and_ratio_and_fits_anisotropic_data(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(200, 2))
    truth = {"variance": 1.0, "range": 0.4, "angle": 0.5, "ratio": 0.25, "nugget": 0.02,
             "mean": 0.0}
    z = GaussianField(Anisotropic(Matern(smoothness=1.5))).simulate(x, truth, seed=6)[0]
    data = tmp_path / "d.csv"
    pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "z": z}).to_csv(data, index=False)
    iso, _ = _fit_cli(data, tmp_path, "--fix", "smoothness=1.5", name="iso",
                      predictions=False)
    ani, _ = _fit_cli(data, tmp_path, "--fix", "smoothness=1.5", "--anisotropic", name="ani",
                      predictions=False)
    assert set(ani["params"]) == set(iso["params"]) | {"angle", "ratio"}
    assert "angle" not in iso["params"]
    # two more parameters: the likelihood-ratio statistic 2Δℓ far beyond χ²₂'s 0.999 quantile
    assert 2 * (ani["loglik"] - iso["loglik"]) > 13.8, (ani["loglik"], iso["loglik"])
    # the direction (mod π) and the ratio recovered within 4 standard errors (measured: 0.54
    # ± 0.04 and 0.249 ± 0.037)
    diff = (ani["params"]["angle"] - truth["angle"] + math.pi / 2) % math.pi - math.pi / 2
    assert abs(diff) < 4 * ani["stderr"]["angle"], (ani["params"], ani["stderr"])
    assert abs(ani["params"]["ratio"] - truth["ratio"]) < 4 * ani["stderr"]["ratio"]
    assert ani["params"]["ratio"] + 4 * ani["stderr"]["ratio"] < 1     # not isotropic
    # the same optimum as the Python API
    obs = Observations(coords=x, values=z)
    ref = fit(GaussianField(Anisotropic(Matern()), mean="constant"), obs,
              fix={"smoothness": 1.5}, restarts=0, progress=False)
    np.testing.assert_allclose(ani["loglik"], ref.loglik, rtol=0, atol=1e-6)


# --- kriging kinds ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frame():
    """120 rows of a Matérn field with a constant mean 1; 15 NaN z (the targets)."""
    return matern_frame(ids=False)


def test_kinds_of_kriging(frame, tmp_path):
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    runs = {k: _fit_cli(data, tmp_path, "--fix", "smoothness=1.5", "--kind", k, name=k)
            for k in ("universal", "ordinary", "simple")}
    d = runs["universal"][0]
    assert all(r[0]["params"] == d["params"] for r in runs.values())   # the fit is the same
    uni, ordi, sim = (runs[k][1] for k in ("universal", "ordinary", "simple"))
    # universal kriging adds the variance of the GLS mean, r₀ᵀ(XᵀΣ⁻¹X)⁻¹r₀ ≥ 0 (small here:
    # 105 observations around each target): sd ≥ simple sd everywhere; its mean is simple
    # kriging's with β = the GLS estimate, which the fit reports as "mean"
    assert (uni["sd"] >= sim["sd"] - 1e-12).all()
    assert (uni["sd"] - sim["sd"]).max() > 1e-5
    np.testing.assert_allclose(uni["mean"], sim["mean"], rtol=1e-9, atol=1e-12)
    # with a constant mean ordinary kriging is universal kriging
    np.testing.assert_allclose(ordi[["mean", "sd"]], uni[["mean", "sd"]], rtol=1e-12)
    # simple kriging takes the mean as known: the fitted one
    obs = Observations.from_dataframe(frame, coords=["x", "y"], value="z").observed_part()
    model = GaussianField(Matern(), mean="constant")
    mean, sd = model.predict(obs, _targets(frame), d["params"], kind="simple")
    np.testing.assert_allclose(sim["mean"], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sim["sd"], sd, rtol=1e-9)


def test_ordinary_kriging_needs_a_constant_mean(frame, tmp_path):
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    res = _invoke("fit", data, "--coords", "x,y", "--value", "z", "--fix", "smoothness=1.5",
                  "--mean", "linear", "--kind", "ordinary", "--restarts", 0,
                  "--out", tmp_path / "r.json", "--predictions", tmp_path / "p.csv")
    _fails(res, "constant mean")
    assert not (tmp_path / "p.csv").exists()


# --- Vecchia options -------------------------------------------------------------------------
def test_vecchia_pred_neighbours_all_observations_equal_exact_kriging(frame, tmp_path):
    """Simple kriging (β known) from every observation is the exact engine's, whatever the
    likelihood's m; with 3 prediction neighbours it is not."""
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    common = ("--fix", "smoothness=1.5", "--engine", "vecchia", "--neighbours", 10,
              "--kind", "simple")
    d_all, p_all = _fit_cli(data, tmp_path, *common, "--pred-neighbours", 200, name="all")
    d_few, p_few = _fit_cli(data, tmp_path, *common, "--pred-neighbours", 3, name="few")
    assert d_all["engine"] == "vecchia" and d_all["params"] == d_few["params"]
    obs = Observations.from_dataframe(frame, coords=["x", "y"], value="z").observed_part()
    exact = GaussianField(Matern(), mean="constant")
    mean, sd = exact.predict(obs, _targets(frame), d_all["params"], kind="simple")
    np.testing.assert_allclose(p_all["mean"], mean, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(p_all["sd"], sd, rtol=1e-7)
    assert np.abs(p_few["mean"] - mean).max() > 1e-3
    assert (p_few["sd"] >= sd - 1e-12).all()        # fewer neighbours: never more certain


def test_vecchia_grouped_changes_the_likelihood_as_the_python_api_does(frame, tmp_path):
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    common = ("--fix", "smoothness=1.5", "--engine", "vecchia", "--neighbours", 3)
    plain, _ = _fit_cli(data, tmp_path, *common, name="plain", predictions=False)
    grouped, _ = _fit_cli(data, tmp_path, *common, "--grouped", name="grouped",
                          predictions=False)
    assert abs(grouped["loglik"] - plain["loglik"]) > 0.1, (grouped["loglik"], plain["loglik"])
    obs = Observations.from_dataframe(frame, coords=["x", "y"], value="z").observed_part()
    for d, g in ((plain, False), (grouped, True)):
        model = GaussianField(Matern(), mean="constant",
                              engine=get_engine("vecchia", neighbours=3, grouped=g))
        ref = fit(model, obs, fix={"smoothness": 1.5}, restarts=0, progress=False)
        np.testing.assert_allclose(d["loglik"], ref.loglik, rtol=0, atol=1e-6)
        # and the reported maximum is the likelihood of that engine at the reported estimates
        p = {k: torch.tensor(d["params"][k], dtype=torch.float64)
             for k in ("variance", "range", "smoothness", "nugget")}
        np.testing.assert_allclose(float(model.log_likelihood(obs, p)), d["loglik"],
                                   rtol=1e-9)


# --- space-time models -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def st_frame():
    """30 locations × 5 times of a separable Matérn(3/2) × exponential field; 10 NaN z."""
    rng = np.random.default_rng(21)
    s = rng.uniform(size=(30, 2))
    t = np.arange(5.0)
    pts = np.column_stack([np.repeat(s, 5, axis=0), np.tile(t, 30)])
    truth = {"variance": 1.0, "range": 0.2, "time_range": 2.0, "nugget": 0.05, "mean": 0.3}
    z = GaussianField(Separable(Matern(smoothness=1.5), Exponential())).simulate(
        pts, truth, seed=22)[0]
    z[rng.choice(len(z), 10, replace=False)] = np.nan
    return pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "t": pts[:, 2], "z": z})


def test_separable_space_time_model_estimates_a_time_range(st_frame, tmp_path):
    data = tmp_path / "st.csv"
    st_frame.to_csv(data, index=False)
    d, pred = _fit_cli(data, tmp_path, "--time", "t", "--model", "separable",
                       "--fix", "smoothness=1.5")
    assert set(d["params"]) == {"variance", "range", "smoothness", "time_range", "nugget",
                                "mean"}
    se = d["stderr"]["time_range"]
    assert se > 0 and abs(d["params"]["time_range"] - 2.0) < 4 * se, (d["params"], se)
    obs = Observations.from_dataframe(st_frame, coords=["x", "y"], value="z", time="t")
    train = obs.observed_part()
    model = GaussianField(Separable(Matern(), Exponential()), mean="constant")
    ref = fit(model, train, fix={"smoothness": 1.5}, restarts=0, progress=False)
    np.testing.assert_allclose(d["loglik"], ref.loglik, rtol=0, atol=1e-6)
    # predictions at the NaN rows' (x, y, t): the time matters
    pts = _targets(st_frame, ("x", "y", "t"))
    assert list(pred.columns) == ["id", "x", "y", "t", "mean", "sd"]
    np.testing.assert_array_equal(pred[["x", "y", "t"]], pts)
    mean, sd = model.predict(train, pts, d["params"])
    np.testing.assert_allclose(pred["mean"], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pred["sd"], sd, rtol=1e-9)
    later, _ = model.predict(train, pts + [0, 0, 50.0], d["params"])
    assert np.abs(later - mean).max() > 1e-2


def test_gneiting_space_time_model(st_frame, tmp_path):
    data = tmp_path / "st.csv"
    st_frame.to_csv(data, index=False)
    d, _ = _fit_cli(data, tmp_path, "--time", "t", "--model", "gneiting", predictions=False)
    names = {p.name for p in Gneiting().param_specs()}
    assert {"time_range", "separability"} <= names
    assert set(d["params"]) == names | {"nugget", "mean"}
    obs = Observations.from_dataframe(st_frame, coords=["x", "y"], value="z",
                                      time="t").observed_part()
    ref = fit(GaussianField(Gneiting(), mean="constant"), obs, restarts=0, progress=False)
    np.testing.assert_allclose(d["loglik"], ref.loglik, rtol=0, atol=1e-5)


def test_space_time_and_spatial_models_check_time(st_frame, tmp_path):
    data = tmp_path / "st.csv"
    st_frame.to_csv(data, index=False)
    out = tmp_path / "r.json"
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--model", "separable",
                   "--out", out), "space-time model", "--time")
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--time", "t",
                   "--model", "matern", "--out", out), "spatial", "--time")
    assert not out.exists()
