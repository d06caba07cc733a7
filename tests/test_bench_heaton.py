"""`fieldfit bench heaton`: the Heaton et al. (2019) case study on small subsamples."""

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy.stats import norm
from typer.testing import CliRunner

from fieldfit import datasets
from fieldfit.bench import DATASETS, PUBLISHED, published_table, run_heaton
from fieldfit.bench.heaton import SOURCES, _engine_options
from fieldfit.cli import app

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DESIGN_KEYS = {"model", "engine", "params", "stderr", "loglik", "n", "seconds"}
PRED_COLUMNS = ["row", "Lon", "Lat", "mean", "sd"]  # the format the issue states
METHODS = {"FRK", "Gapfill", "LatticeKrig", "LAGP", "Metakriging", "MRA", "NNGP conjugate",
           "NNGP response", "Partition", "Pred. Proc.", "SPDE", "Tapering", "Periodic Embedding"}
N = 200


def _quiet():
    return Console(file=io.StringIO(), width=120)


@pytest.fixture(scope="module")
def bench(tmp_path_factory, one_torch_thread):
    out = tmp_path_factory.mktemp("heaton")
    summary = run_heaton(out, engine="exact", subsample=N, progress=False, console=_quiet())
    return out, summary


def test_writes_files(bench):
    out, summary = bench
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert set(on_disk["datasets"]) == set(DATASETS)
    assert on_disk["engine"] == "exact" and on_disk["engine_options"] == {}
    for name in DATASETS:
        row = on_disk["datasets"][name]
        assert row["n_train"] == N and row["n_predict"] == N
        assert {"variance", "range", "smoothness", "nugget", "beta_intercept", "beta_Lon",
                "beta_Lat"} <= set(row["params"])
        assert all(v is not None and math.isfinite(v) for v in row["params"].values())
        s = row["seconds"]
        assert 0 < s["fit"] <= s["total"] and 0 < s["predict"] <= s["total"]
        fit_json = json.loads((out / row["files"]["fit"]).read_text())
        assert DESIGN_KEYS <= set(fit_json) and fit_json["params"] == row["params"]
        pred = pd.read_parquet(out / row["files"]["predictions"])
        assert list(pred.columns) == PRED_COLUMNS
        assert len(pred) == N and not pred.isna().any().any()
        assert (pred["sd"] > 0).all() and pred["row"].is_unique
    # not scored without the truth
    assert on_disk["datasets"]["satellite"]["metrics"] is None


def test_predictions_are_the_missing_cells(bench):
    out, _ = bench
    for name, value in (("heaton-modis-simulated", "MaskTemp"), ("heaton-modis", "Temp")):
        df = datasets.load(name)
        short = "simulated" if name.endswith("simulated") else "satellite"
        pred = pd.read_parquet(out / f"{short}_predictions.parquet")
        rows = df.loc[pred["row"]]
        assert rows[value].isna().all()
        np.testing.assert_array_equal(rows[["Lon", "Lat"]], pred[["Lon", "Lat"]])
        # temperatures of the right size
        assert 30 < pred["mean"].mean() < 60


def test_metrics_agree_with_direct_computation(bench):
    out, summary = bench
    pred = pd.read_parquet(out / "simulated_predictions.parquet")
    y = datasets.load("heaton-modis-simulated")["TrueTemp"].to_numpy()[pred["row"]]
    mu, sd = pred["mean"].to_numpy(), pred["sd"].to_numpy()
    z = (y - mu) / sd
    q = norm.ppf(0.975)
    lo, hi = mu - q * sd, mu + q * sd
    direct = {
        "mae": np.mean(np.abs(y - mu)),
        "rmse": np.sqrt(np.mean((y - mu) ** 2)),
        # Gneiting & Raftery (2007), as in the competition's GetResults.R
        "crps": np.mean(sd * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))),
        "interval_score": np.mean((hi - lo) + 40 * (lo - y) * (y < lo) + 40 * (y - hi) * (y > hi)),
        "coverage": np.mean((y >= lo) & (y <= hi)),
    }
    metrics = summary["datasets"]["simulated"]["metrics"]
    assert metrics["n"] == N
    for k, v in direct.items():
        assert metrics[k] == pytest.approx(v, rel=1e-10), k
    # a spatial fit to 200 cells of this smooth field: errors of about a degree
    assert 0.3 < metrics["rmse"] < 3 and 0.5 < metrics["coverage"] <= 1


def test_published_table():
    tab = published_table()
    assert set(tab["dataset"]) == set(DATASETS)
    for name in DATASETS:
        assert set(tab.loc[tab["dataset"] == name, "method"]) == METHODS
    spde = tab[(tab["dataset"] == "satellite") & (tab["method"] == "SPDE")].iloc[0]
    assert spde["rmse"] == 1.53 and spde["crps"] == 0.83 and spde["cores"] == 2
    assert spde["minutes"] == pytest.approx(120.33, abs=0.005)
    nngp = tab[(tab["dataset"] == "satellite") & (tab["method"] == "NNGP conjugate")].iloc[0]
    assert nngp["rmse"] == 1.64 and nngp["cores"] == 10
    assert round(nngp["minutes"], 1) == 2.1
    assert published_table("simulated")["dataset"].eq("simulated").all()
    with pytest.raises(ValueError, match="unknown Heaton dataset"):
        published_table("nope")


def test_every_published_number_has_a_source():
    for r in PUBLISHED:
        numbers = {k for k in ("mae", "rmse", "crps", "interval_score", "coverage", "minutes",
                               "cores") if getattr(r, k) is not None}
        assert set(r.sources) == numbers, (r.dataset, r.method)
        assert set(r.sources.values()) <= set(SOURCES)


def test_engine_options_only_for_vecchia():
    assert _engine_options("vecchia", 30) == {"neighbours": 30}
    assert _engine_options("exact", 30) == {}


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown engine"):
        run_heaton(tmp_path, engine="no-such-engine", console=_quiet())
    with pytest.raises(ValueError, match="unknown Heaton dataset"):
        run_heaton(tmp_path, engine="exact", datasets=("moon",), console=_quiet())
    with pytest.raises(ValueError, match="file not found"):
        run_heaton(tmp_path, engine="exact", data_dir=tmp_path, datasets=("satellite",),
                   console=_quiet())
    assert not (tmp_path / "summary.json").exists()


def test_data_dir(tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    sat = datasets.load("heaton-modis").iloc[::400].reset_index(drop=True)  # 375 cells
    sat.to_parquet(src / "satellite.parquet")
    summary = run_heaton(tmp_path / "out", engine="exact", datasets=["satellite"], data_dir=src,
                         progress=False, console=_quiet())
    row = summary["datasets"]["satellite"]
    assert row["n_train"] == sat["Temp"].notna().sum()
    assert row["n_predict"] == sat["Temp"].isna().sum()
    pred = pd.read_parquet(tmp_path / "out" / "satellite_predictions.parquet")
    assert set(pred["row"]) == set(np.flatnonzero(sat["Temp"].isna()))


def test_cli(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, ["bench", "heaton", "--engine", "exact", "--subsample", "150",
                                 "--dataset", "simulated", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "SPDE" in result.output and "fieldfit (exact)" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["datasets"]) == ["simulated"] and summary["subsample"] == 150
    assert (out / "simulated_predictions.parquet").is_file()
    bad = runner.invoke(app, ["bench", "heaton", "--dataset", "moon", "--out", str(out)])
    assert bad.exit_code == 2 and "error:" in bad.stderr and "moon" in bad.stderr
