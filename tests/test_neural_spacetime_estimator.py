"""Space-time estimators (neural/spacetime_data.py, spacetime_estimator.py,
spacetime_recipe.py): tables, unit scales and the exact map back, masks, errors, the CLI."""

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import fieldfit  # noqa: F401  (first, see conftest)
from fieldfit.cli import app
from fieldfit.models.ad_scaling import (
    derived_quantities,
    derived_rescaled,
    params_from_derived,
    rescaled_params,
)
from fieldfit.neural.bundle import bundle, load_estimator
from fieldfit.neural.designs import UniformDesign
from fieldfit.neural.prior import Bound
from fieldfit.neural.recipes import build_network, build_spec
from fieldfit.neural.spacetime_data import UnitScales, space_time_datasets_from_table
from fieldfit.neural.spacetime_estimator import DERIVED_COLUMNS, MODEL_COLUMNS
from fieldfit.neural.spacetime_recipe import AD_DEFAULT_BOUNDS, advection_diffusion_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_spec():
    return advection_diffusion_spec(design=UniformDesign(12, 20), time_steps=(5, 8))


@pytest.fixture(scope="module")
def posterior_estimator():
    """An untrained (seeded) posterior network: the maps around it are exact whatever its
    weights."""
    torch.manual_seed(0)
    spec = small_spec()
    net = build_network("posterior", spec, width=8, k=3)
    return bundle(net, spec, {"value_target": {"location": 0.0, "scale": 1.0}})


def table_of(coords, values, times, dataset=None):
    T, n = values.shape
    df = pd.DataFrame({"x": np.tile(coords[:, 0], T), "y": np.tile(coords[:, 1], T),
                       "t": np.repeat(times, n), "z": values.ravel()})
    if dataset is not None:
        df.insert(0, "dataset", dataset)
    return df


def a_series(seed=0, n=15, T=6):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0, 1, (n, 2))
    times = np.linspace(0, 1, T)
    values = rng.normal(size=(T, n))
    values[rng.random(values.shape) < 0.2] = np.nan
    return coords, values, times


def test_the_table_gives_stations_by_regular_times_with_missing_values():
    coords, values, times = a_series()
    df = table_of(coords * 50, values, times * 10 + 3)
    df = df[~np.isnan(df["z"])].sample(frac=1.0, random_state=1)  # rows left out, shuffled
    (d,) = space_time_datasets_from_table(df)
    order = np.lexsort((coords[:, 1], coords[:, 0]))
    np.testing.assert_allclose(d.coords, coords[order] * 50)
    np.testing.assert_allclose(d.times, times * 10 + 3)
    np.testing.assert_array_equal(np.isnan(d.values), np.isnan(values[:, order]))
    np.testing.assert_allclose(d.values[~np.isnan(d.values)],
                               values[:, order][~np.isnan(values[:, order])])
    s = UnitScales.of(d)
    u = s.apply(d)
    assert u.coords.min() == 0 and u.coords.max() == pytest.approx(1.0)
    np.testing.assert_allclose(u.times, times, atol=1e-12)


@pytest.mark.parametrize("change, words", [
    (lambda df: df.drop(columns="t"), "missing ['t']"),
    (lambda df: df.assign(t=df["t"] ** 2), "irregular times"),
    (lambda df: df.assign(t=0.0).drop_duplicates(["x", "y"]), "a single time"),
    (lambda df: df[df["x"] == df["x"].iloc[0]], "station(s)"),
    (lambda df: pd.concat([df, df.iloc[:1]]), "rows at t"),
    (lambda df: df.assign(replicate=0), "replicates"),
    (lambda df: df.assign(t="soon"), "non-numeric"),
    (lambda df: df.iloc[:0], "empty"),
])
def test_bad_tables_are_refused_with_a_message_naming_the_problem(change, words):
    df = table_of(*a_series())
    with pytest.raises(ValueError, match=None) as err:
        space_time_datasets_from_table(change(df))
    assert words in str(err.value)


def test_datetime_times_are_days():
    coords, values, _ = a_series()
    times = pd.date_range("2024-01-01", periods=values.shape[0], freq="6h")
    df = table_of(coords, values, np.arange(values.shape[0]))
    df["t"] = np.repeat(times, coords.shape[0])
    (d,) = space_time_datasets_from_table(df)
    np.testing.assert_allclose(d.times, np.arange(values.shape[0]) * 0.25)


def test_the_scaling_helpers_agree_with_the_laws_on_arrays():
    derived = {"range": np.array([0.1, 0.3]), "memory": np.array([0.05, 2.0]),
               "velocity_x": np.array([1.0, -0.5]), "velocity_y": np.array([0.2, 1.5]),
               "marginal_variance": np.array([1.0, 3.0]), "nugget_share": np.array([0.1, 0.4])}
    p = params_from_derived(derived)
    for j in range(2):
        one = params_from_derived({k: float(v[j]) for k, v in derived.items()})
        assert {k: float(v[j]) for k, v in p.items()} == pytest.approx(one)
    L, T = 37.0, 5.5
    via_laws = rescaled_params({k: v for k, v in p.items() if k != "H_scale"}, 1 / L, 1 / T)
    via_derived = params_from_derived(derived_rescaled(derived, 1 / L, 1 / T))
    for k, v in via_laws.items():
        np.testing.assert_allclose(v, via_derived[k], rtol=1e-12)
    back = derived_quantities(p)
    for k in ("range", "memory", "velocity_x", "velocity_y", "marginal_variance"):
        np.testing.assert_allclose(back[k], derived[k], rtol=1e-12)


def test_estimates_on_data_rescaled_in_space_time_and_values_map_back_exactly(
        posterior_estimator):
    """The same series in other units of length (× L), time (× T, shifted) and value
    (a + b z): every reported quantity changes by its law, to rounding."""
    est = posterior_estimator
    coords, values, times = a_series(seed=3)
    L, T, a, b = 250.0, 48.0, 7.0, 3.0
    one = est.estimate(table_of(coords, values, times), n_draws=400)
    two = est.estimate(table_of(coords * L + 5, a + b * values, times * T + 100), n_draws=400)
    # (κ, c, γ, τ) → (κ/L, c T/L², γ/L, bτ/L): the laws with unit length 1/L, time 1/T
    law = {"kappa": 1 / L, "c": T / L ** 2, "tau": b / L, "gamma_x": 1 / L, "gamma_y": 1 / L,
           "nugget": b ** 2, "range": L, "memory": T, "speed": L / T, "direction": 1.0,
           "velocity_x": L / T, "velocity_y": L / T, "marginal_variance": b ** 2,
           "nugget_share": 1.0}
    for k, f in law.items():
        for col in (k, f"{k}_lower", f"{k}_upper"):
            np.testing.assert_allclose(two[col], one[col] * f, rtol=1e-5, err_msg=col)
    np.testing.assert_allclose(two["mean"], a + b * one["mean"], rtol=1e-5)
    assert list(two[["length_unit", "time_unit"]].iloc[0]) == pytest.approx(
        [L * np.ptp(coords, 0).max(), T])
    cols = list(one.columns)
    for name in (*MODEL_COLUMNS, *DERIVED_COLUMNS):
        assert {name, f"{name}_lower", f"{name}_upper"} <= set(cols)
        assert np.all(one[f"{name}_lower"] <= one[name] + 1e-12)
        assert np.all(one[name] <= one[f"{name}_upper"] + 1e-12)


def test_a_missing_row_and_a_nan_value_are_the_same_and_station_order_is_irrelevant(
        posterior_estimator):
    est = posterior_estimator
    coords, values, times = a_series(seed=4)
    df = table_of(coords, values, times)
    with_nan = est.estimate(df, n_draws=200)
    without = est.estimate(df[~np.isnan(df["z"])].sample(frac=1.0, random_state=2),
                           n_draws=200)
    pd.testing.assert_frame_equal(with_nan, without)
    assert with_nan.loc[0, "n_missing"] == np.isnan(values).sum()


def test_posterior_draws_are_in_the_data_units_and_consistent(posterior_estimator):
    est = posterior_estimator
    coords, values, times = a_series(seed=5)
    df = pd.concat([table_of(coords, values, times, "a"),
                    table_of(coords * 10, values, times * 3, "b")])
    draws = est.posterior_draws(df, n_draws=50, seed=3)
    assert len(draws) == 100 and list(draws["dataset"].unique()) == ["a", "b"]
    a, b = (est.posterior_draws(df[df.dataset == k], n_draws=50, seed=3) for k in "ab")
    np.testing.assert_allclose(b["range"].to_numpy(), 10 * a["range"].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(b["memory"].to_numpy(), 3 * a["memory"].to_numpy(), rtol=1e-5)
    kappa = np.sqrt(8.0) / draws["range"]
    np.testing.assert_allclose(draws["kappa"], kappa, rtol=1e-12)
    np.testing.assert_allclose(draws["speed"], np.hypot(draws.velocity_x, draws.velocity_y))


def test_designs_far_outside_the_trained_one_are_refused(posterior_estimator):
    coords, values, times = a_series(n=80)            # trained on 12–20 stations
    with pytest.raises(ValueError, match="80 stations"):
        posterior_estimator.estimate(table_of(coords, values, times))
    with pytest.warns(UserWarning, match="stations"):
        posterior_estimator.estimate(table_of(coords, values, times), force=True, n_draws=50)


def test_the_default_set_up_covers_the_issue_prior():
    spec = build_spec("advection-diffusion")
    assert spec.prior.parameterisation == "advection-diffusion-derived"
    assert spec.prior.bounds == AD_DEFAULT_BOUNDS
    assert spec.time_step_range == (20, 100) and spec.time_span == 1.0
    assert spec.design.n_range == (30, 300) and spec.missing == 0.3
    assert spec.model_.simulator == "spectral"
    no_nugget = build_spec("advection-diffusion", nugget=False)
    assert no_nugget.prior.fixed == {"nugget_share": 0.0}
    with pytest.raises(ValueError, match="give a prior"):
        build_spec("advection-diffusion", {"kappa": Bound(1.0, 2.0)})


def test_cli_estimate_writes_every_column_and_posterior_draws(tmp_path, posterior_estimator):
    path = tmp_path / "st.pt"
    posterior_estimator.save(path)
    assert type(load_estimator(path)).__name__ == "SpaceTimeEstimator"
    df = pd.concat([table_of(*a_series(seed=s), dataset=f"d{s}") for s in (1, 2)])
    df.to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "est.csv"
    res = CliRunner().invoke(app, ["estimate", str(tmp_path / "data.csv"), "--estimator",
                                   str(path), "--out", str(out), "--posterior-samples", "30"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert list(table["dataset"]) == ["d1", "d2"]
    for name in ("kappa", "c", "tau", "gamma_x", "gamma_y", "nugget", "mean", "range",
                 "speed", "direction", "marginal_variance"):
        assert {name, f"{name}_lower", f"{name}_upper"} <= set(table.columns)
    draws = pd.read_parquet(tmp_path / "est.posterior.parquet")
    assert len(draws) == 60 and {"kappa", "speed", "direction"} <= set(draws.columns)
    assert "stations" in res.output and "speed" in res.output
    bad = tmp_path / "bad.csv"
    df.drop(columns="t").to_csv(bad, index=False)
    res = CliRunner().invoke(app, ["estimate", str(bad), "--estimator", str(path), "--out",
                                   str(tmp_path / "b.csv")])
    assert res.exit_code != 0 and "missing ['t']" in res.output
    assert not (tmp_path / "b.csv").exists()


@pytest.mark.slow
def test_a_small_training_beats_the_prior_mean_on_every_coordinate(tmp_path):
    """A posterior network trained on 500 exact simulations (40–60 stations × 15–20 times,
    range 0.1–0.4, memory 0.1–2, speed up to 1.5) estimates held-out data with a
    posterior-median RMSE on the prior's unit scale below the prior mean's, by the margins
    below (measured: range 0.49, memory 0.83, velocity 0.66 / 0.57, variance 0.21, mean 0.13).
    The nugget share is not identified at this size (0.995; 0.95 with 800 simulations at
    60–100 stations): its posterior must only do no harm (≤ 1.02)."""
    from fieldfit.neural.recipes import train_estimator
    from fieldfit.neural.training import TrainingSettings

    bounds = {"range": Bound(0.1, 0.4, "loguniform"), "memory": Bound(0.1, 2.0, "loguniform"),
              "velocity_x": Bound(-1.5, 1.5), "velocity_y": Bound(-1.5, 1.5),
              "nugget_share": Bound(0.0, 0.3)}
    spec = advection_diffusion_spec(bounds, design=UniformDesign(40, 60), time_steps=(15, 20),
                                    missing=0.1)
    est = train_estimator(spec, tmp_path / "st.pt", kind="posterior", n_train=500, n_val=100,
                          seed=0, settings=TrainingSettings(epochs=20, batch_size=32, seed=0,
                                                            patience=6),
                          network_options={"width": 16, "k": 6}, progress=False)
    test = spec.simulate(range(2_000_000, 2_000_150), seed=7)
    items = [(s.coords, s.values, s.times) for s in test]
    median = est.estimate_unit(items)["estimate"]
    truth = spec.prior.to_unit(np.stack([s.theta for s in test]))
    rmse = np.sqrt(((median - truth) ** 2).mean(0))
    prior_rmse = np.sqrt(((truth - truth.mean(0)) ** 2).mean(0))
    ratio = {k: round(float(v), 3) for k, v in zip(spec.prior.names, rmse / prior_rmse,
                                                   strict=True)}
    margin = {"range": 0.6, "memory": 0.92, "velocity_x": 0.8, "velocity_y": 0.8,
              "marginal_variance": 0.35, "nugget_share": 1.02, "mean": 0.25}
    if not all(ratio[k] <= margin[k] for k in ratio):
        pytest.fail(f"RMSE / prior mean's RMSE {ratio}, margins {margin}")
