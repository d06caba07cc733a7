"""The demo (``fieldfit demo``): penalised fit, profile, cross-validation, kriging map, the
shipped estimator beside the MLE, the space-time forecast, and its files, end to end."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

import fieldfit.demo as demo
from fieldfit.cli import app
from fieldfit.demo import run_demo
from fieldfit.demo_forecast import KM_PER_DEGREE, _grid, load_wind
from fieldfit.geo import chordal_distance

FILES = {"result.json", "smoothness-profile.csv", "predictions.parquet", "map.png",
         "neural-vs-mle.csv", "forecast-result.json", "forecast.parquet",
         "forecast-stations.csv", "forecast.png", "summary.json"}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    console = Console(record=True, width=140)
    ret = run_demo(out, dataset="meuse", folds=5, console=console, quick=True)
    return out, ret, console.export_text()


def test_demo_writes_every_file_and_nothing_else(quick_run):
    out, ret, text = quick_run
    assert {p.name for p in out.iterdir()} == FILES
    assert {p.name for p in ret["files"]} == FILES
    # no staging folder left beside the output
    assert [p.name for p in out.parent.iterdir()] == ["out"]
    for name in ("map.png", "forecast.png"):
        png = (out / name).read_bytes()
        assert png[:8] == PNG and len(png) > 20_000
    assert "Files in" in text


def test_demo_first_table_is_a_well_posed_fit(quick_run):
    out, ret, text = quick_run
    # the first table the user sees: the penalised fit, no edge estimate, every free
    # parameter (the smoothness included) with a finite standard error and interval
    first = text.index("Penalised maximum likelihood")
    assert first < text.index("Profile log-likelihood") < text.index("Predictive scores")
    first_table = text[first:text.index("log-likelihood", first)]
    assert "(edge)" not in first_table and "—" not in first_table
    result = json.loads((out / "result.json").read_text())
    assert result["n"] == 155 and result["engine"] == "exact"
    assert result["on_edge"] == [] and result["fixed"] == []
    for name, se in result["stderr"].items():
        assert se is not None and math.isfinite(se) and se > 0, name
    r = ret["result"]
    assert 0.3 < r.params["smoothness"] < 5.0 and r.stderr["smoothness"] < 5.0
    lo, hi = r.confidence_interval("smoothness")
    assert lo < r.params["smoothness"] < hi
    # the river-distance trend is strongly negative for log zinc (a known property of meuse)
    assert result["params"]["beta_sqrt_dist"] < -1.5


def test_demo_profile_shows_a_flat_smoothness_likelihood(quick_run):
    out, ret, _ = quick_run
    prof = pd.read_csv(out / "smoothness-profile.csv")
    assert list(prof.columns) == ["smoothness", "loglik", "delta"]
    assert list(prof["smoothness"]) == list(demo.QUICK_PROFILE_GRID)
    assert np.isfinite(prof["loglik"]).all() and prof["delta"].min() == 0.0
    # Meuse: ν between 0.5 and 5 changes the profile by about one unit (< 1.92)
    assert 0.3 < prof["delta"].max() < 1.92
    # the penalised fit's likelihood lies below the profile's maximum: a penalty, not a gain
    assert ret["result"].loglik < prof["loglik"].max()


def test_demo_scores_and_predictions(quick_run):
    out, ret, text = quick_run
    assert "CV, trend only" in text
    pred = pd.read_parquet(out / "predictions.parquet")
    assert list(pred.columns) == ["id", "x", "y", "mean", "sd"]
    assert len(pred) == 3103 and (pred["sd"] > 0).all() and np.isfinite(pred["mean"]).all()
    # log zinc lies between about 4.7 and 7.5 ppm in the data: the kriging mean stays near
    assert 4.0 < pred["mean"].min() and pred["mean"].max() < 8.0
    spatial, trend = ret["scores"]["5-fold CV"], ret["scores"]["CV, trend only"]
    # the spatial model must beat the trend alone out of sample
    assert spatial["rmse"] < trend["rmse"] and spatial["crps"] < trend["crps"]


def test_demo_neural_table_beside_mle(quick_run):
    out, ret, text = quick_run
    assert "Amortized (matern-irregular) beside maximum likelihood" in text
    tab = pd.read_csv(out / "neural-vs-mle.csv")
    assert list(tab["parameter"]) == ["range", "variance", "nugget", "mean"]
    assert list(tab.columns) == ["parameter", "mle", "mle_se", "mle_lower", "mle_upper",
                                 "neural", "neural_lower", "neural_upper"]
    num = tab.drop(columns="parameter").to_numpy(float)
    assert np.isfinite(num).all()
    assert (tab["mle_lower"] < tab["mle"]).all() and (tab["mle"] < tab["mle_upper"]).all()
    assert (tab["neural_lower"] <= tab["neural"]).all()
    assert (tab["neural"] <= tab["neural_upper"]).all()
    # loose agreement of the two estimators on the same model and data
    t = tab.set_index("parameter")
    for name in ("range", "nugget"):
        assert 0.2 < t.loc[name, "neural"] / t.loc[name, "mle"] < 5.0, name
    secs = ret["neural_seconds"]
    assert set(secs) == {"mle", "neural_first", "neural"} and min(secs.values()) > 0
    assert "time: MLE" in text


def test_demo_forecast_is_held_out_and_scored_beside_persistence(quick_run):
    out, ret, text = quick_run
    fc = ret["forecast"]
    # quick: fitted on 14 days × 12 stations; the 3 forecast days come after the window
    fit = json.loads((out / "forecast-result.json").read_text())
    assert fit["n"] == 14 * 12 and fit["model"].startswith("gneiting")
    assert fit["on_edge"] == [] and fit["fixed"] == ["time_smoothness"]
    # fitted on longitude/latitude (chordal distances): the spatial range is in km
    assert fc.model.crs == "lonlat" and fit["units"] == {"range": "km", "time_range": "days"}
    assert 50.0 < fit["params"]["range"] < 5000.0
    st = pd.read_csv(out / "forecast-stations.csv", parse_dates=["date"])
    assert len(st) == 3 * 12 and st["station"].nunique() == 12
    assert (st["date"] > pd.Timestamp(fc.fit_days[1])).all()
    assert [str(d.date()) for d in sorted(st["date"].unique())] == fc.forecast_days
    assert np.isfinite(st[["observed", "mean", "sd", "persistence"]].to_numpy()).all()
    assert (st["sd"] > 0).all()
    # persistence is yesterday's value: the first forecast day's persistence is the window's
    # last day, which the fit used
    wind = demo.datasets.load("irish-wind")
    last = wind[wind["date"] == pd.Timestamp(fc.fit_days[1])].set_index("station")["wind"]
    first = st[st["date"] == st["date"].min()].set_index("station")
    assert np.allclose(first["persistence"], np.sqrt(last.loc[first.index]))
    for label in ("gneiting", "persistence"):
        s = fc.scores[label]
        assert s["n"] == 36
        assert all(math.isfinite(s[k]) for k in ("mae", "rmse", "crps", "interval_score"))
    assert "Gneiting kriging" in text and "persistence" in text
    grid = pd.read_parquet(out / "forecast.parquet")
    assert list(grid.columns) == ["id", "lon", "lat", "date", "mean", "sd"]
    assert (grid["sd"] > 0).all() and np.isfinite(grid["mean"]).all()
    # the grid covers Ireland: lon −11..−5, lat 51..56
    assert grid["lon"].between(-11.5, -4.5).all() and grid["lat"].between(51.0, 56.0).all()


def test_failed_demo_leaves_existing_outputs_untouched(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "result.json").write_text('{"old": true}')
    (out / "mine.txt").write_text("keep me")

    def broken(*args, **kwargs):  # the map fails after the fit, profile and kriging
        raise RuntimeError("disk full")

    monkeypatch.setattr(demo, "_map", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_demo(out, folds=2, quick=True, console=Console(quiet=True))
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt", "result.json"]
    assert (out / "result.json").read_text() == '{"old": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]   # staging folder removed


@pytest.mark.parametrize("args, message", [
    (["--dataset", "meuze"], "unknown --dataset 'meuze'; choose one of meuse, sic97"),
    (["--folds", "1"], "--folds must be an integer of at least 2"),
    (["--folds", "500"], "--folds 500 is more than the 155 observations of meuse"),
])
def test_demo_options_checked_before_work(tmp_path, monkeypatch, args, message):
    def no_work(*a, **k):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(demo, "fit", no_work)
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_demo_bad_out_paths_fail_before_work(tmp_path, monkeypatch):
    def no_work(*a, **k):
        raise AssertionError("work started before --out was checked")

    monkeypatch.setattr(demo, "fit", no_work)
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    for out, message in ((a_file, "is a file, not a folder"),
                         (a_file / "sub" / "out", "is a file, not a folder")):
        res = CliRunner().invoke(app, ["demo", "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert message in res.output and "Traceback" not in res.output
    assert a_file.read_text() == "x"


def test_forecast_grid_is_lonlat_over_the_stations_with_square_cells():
    wind = load_wind()
    stations = wind.drop_duplicates("station")
    day = wind["date"].max()
    grid = _grid(wind, day, cells=900, margin_km=40.0)
    assert list(grid.columns) == ["lon", "lat", "date"] and (grid["date"] == day).all()
    lons, lats = np.unique(grid["lon"]), np.unique(grid["lat"])
    assert len(grid) == len(lons) * len(lats) and 700 < len(grid) < 1100
    # the stations' box widened by 40 km on each side (to within one cell)
    dlat = 40.0 / KM_PER_DEGREE
    mid_lat = (stations["lat"].min() + stations["lat"].max()) / 2
    mid = np.cos(np.radians(mid_lat))
    assert np.isclose(lats[0], stations["lat"].min() - dlat)
    assert np.isclose(lons[0], stations["lon"].min() - dlat / mid)
    step_lat, step_lon = np.diff(lats), np.diff(lons)
    assert lats[-1] >= stations["lat"].max() + dlat - step_lat[0] / 2
    assert lons[-1] >= stations["lon"].max() + dlat / mid - step_lon[0] / 2
    # regular, and square on the ground at the middle latitude: Δλ cos φ̄ = Δφ, so one cell
    # east and one cell north are the same distance on the sphere
    assert np.allclose(step_lat, step_lat[0]) and np.allclose(step_lon, step_lon[0])
    assert np.isclose(step_lon[0] * mid, step_lat[0])
    centre = [-8.0, mid_lat]
    east = chordal_distance([centre], [[-8.0 + step_lon[0], mid_lat]])[0, 0]
    north = chordal_distance([[-8.0, mid_lat - step_lat[0] / 2]],
                             [[-8.0, mid_lat + step_lat[0] / 2]])[0, 0]
    assert np.isclose(east, north, rtol=1e-3) and 10.0 < north < 30.0
