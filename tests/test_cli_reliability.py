"""``fieldfit fit`` and ``fieldfit simulate`` on bad options and bad output paths: every case
refused before the fit with a one-line error naming the option, and old outputs untouched."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cli_helpers import fails, invoke, matern_frame, ok

OLD = '{"old": true}\n'


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.csv"
    matern_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def old_outputs(tmp_path):
    """A previous good result and predictions, which no failed run may touch."""
    out, pred = tmp_path / "result.json", tmp_path / "pred.csv"
    out.write_text(OLD)
    pred.write_text("id,mean,sd\n")
    return out, pred


def _fit(data, out, *extra):
    return invoke("fit", data, "--coords", "x,y", "--value", "z", "--model", "exponential",
                  "--restarts", "0", "--out", out, *extra)


def _untouched(out, pred):
    assert out.read_text() == OLD
    assert pred.read_text() == "id,mean,sd\n"


@pytest.mark.parametrize("extra, message", [
    (("--kind", "universel"), "--kind 'universel': choose one of universal, ordinary, simple"),
    (("--predictions", "{tmp}/pred.xlsx"), "--predictions"),
    (("--predictions", "{tmp}/pred.csv", "--predict-at", "{tmp}/targets.csv"), "'y'"),
    (("--mesh-max-edge", "abc"), "--mesh-max-edge: expected comma-separated numbers"),
    (("--alpha", "2"), "--alpha applies to the SPDE engine only"),
    (("--mesh-max-edge", "0.1"), "--mesh-max-edge applies to the SPDE engine only"),
    (("--covariates", "x"), "--covariates x is used by --mean covariates"),
    (("--mean", "covariates"), "--mean covariates needs --covariates"),
    (("--fix", "mean=1,nuget=0.1"), "unknown parameter 'nuget'"),
    (("--crs", "mercator"), "--crs 'mercator': choose one of planar, lonlat"),
    (("--restarts", "-1"), "--restarts must be 0 or more"),
    (("--fix", "range=0.1,range=0.2"), "--fix: parameter 'range' is given twice"),
])
def test_bad_options_fail_before_the_fit(data, old_outputs, tmp_path, extra, message):
    pd.DataFrame({"x": [0.5], "other": [0.5]}).to_csv(tmp_path / "targets.csv", index=False)
    out, pred = old_outputs
    extra = [str(e).format(tmp=tmp_path) for e in extra]
    res = _fit(data, out, *extra)
    fails(res, message)
    _untouched(out, pred)
    assert "parameter" not in res.stdout      # no fit summary: refused before the fit


def test_unknown_parameter_lists_the_mean(data, old_outputs):
    res = _fit(data, old_outputs[0], "--fix", "sill=1")
    fails(res, "its parameters are variance, range, nugget, mean")


@pytest.mark.parametrize("where", ["folder", "under-a-file", "read-only", "same-as-data"])
def test_bad_output_paths_fail_before_the_fit(data, old_outputs, tmp_path, where):
    out, pred = old_outputs
    bad = {"folder": tmp_path,
           "under-a-file": tmp_path / "result.json" / "r.json",
           "read-only": "/proc/fieldfit-test/r.json",   # not writable, even for root
           "same-as-data": data}[where]
    message = {"folder": "is a folder", "under-a-file": "is a file, not a folder",
               "read-only": "cannot write in", "same-as-data": "name the same file"}[where]
    fails(_fit(data, bad, "--predictions", pred), "--out", message)
    _untouched(out, pred)
    bad_table = bad if where in ("folder", "same-as-data") else str(bad)[:-5] + ".csv"
    fails(_fit(data, tmp_path / "new.json", "--predictions", bad_table), message)
    assert not (tmp_path / "new.json").exists()
    _untouched(out, pred)


def test_result_and_predictions_are_written_together(data, old_outputs, tmp_path):
    out, pred = old_outputs
    ok(_fit(data, out, "--predictions", pred))
    assert json.loads(out.read_text())["interrupted"] is False
    assert len(pd.read_csv(pred)) == 15
    assert not list(tmp_path.glob(".*"))          # no temporary file left behind


def test_failure_after_the_fit_leaves_the_result_untouched(data, old_outputs, monkeypatch):
    # a failure while kriging (after the fit) used to leave result.json replaced by the new
    # fit while the predictions were missing: now neither is written
    import fieldfit.predict

    def broken(*args, **kwargs):
        raise ValueError("kriging failed")

    monkeypatch.setattr(fieldfit.predict, "krige", broken)
    out, pred = old_outputs
    fails(_fit(data, out, "--predictions", pred), "kriging failed")
    _untouched(out, pred)


def test_help_does_not_truncate_option_names():
    res = ok(invoke("fit", "--help"))
    for name in ("--coarse-neighbours", "--pred-neighbours", "--mesh-max-edge",
                 "--allow-duplicates", "--covariates", "--no-advection", "--resume", "--crs"):
        assert name in res.stdout, name
    assert "…" not in res.stdout


# --- simulate ------------------------------------------------------------------------------

PARAMS = "variance=1,range=0.2,smoothness=1,mean=0"


@pytest.mark.parametrize("extra, message", [
    (("--grid", "0x5"), "--grid 0x5"),
    (("--grid", "5x5", "--replicates", "0"), "--replicates must be 1 or more"),
    (("--grid", "5x5", "--bounds", "1,0,0,1"), "--bounds"),
    (("--grid", "5x5", "--params", "nuget=0.5"), "unknown parameter 'nuget'"),
    (("{tmp}/points.csv", "--grid", "5x5"), "not both"),
    (("--grid", "5x5", "--out", "{tmp}/sim.txt"), "unknown file type"),
])
def test_simulate_refuses_silent_wrong_output(tmp_path, extra, message):
    pd.DataFrame({"x": [0.1, 0.9], "y": [0.2, 0.8]}).to_csv(tmp_path / "points.csv",
                                                            index=False)
    out = tmp_path / "sim.csv"
    extra = [str(e).format(tmp=tmp_path) for e in extra]
    args = ["simulate", *extra, "--params", PARAMS]
    if "--out" not in extra:
        args += ["--out", out]
    fails(invoke(*args), message)
    assert not out.exists()


def test_simulate_grid_is_nx_by_ny(tmp_path):
    out = tmp_path / "sim.csv"
    ok(invoke("simulate", "--grid", "4x2", "--bounds", "0,3,0,1", "--params", PARAMS,
              "--out", out))
    df = pd.read_csv(out)
    assert len(df) == 8
    assert sorted(df["x"].unique()) == [0, 1, 2, 3] and sorted(df["y"].unique()) == [0, 1]


# --- degenerate data -------------------------------------------------------------------------

@pytest.mark.parametrize("rows, value, message", [
    (1, None, "1 observed value(s) cannot carry"),
    (2, None, "2 observed value(s) cannot carry 5 parameters"),
    (40, 3.0, "the observed values are all equal (3)"),
])
def test_degenerate_data_is_refused(tmp_path, rows, value, message):
    df = matern_frame().dropna().head(rows)
    if value is not None:
        df["z"] = value
    data = tmp_path / "d.csv"
    df.to_csv(data, index=False)
    out = tmp_path / "r.json"
    fails(invoke("fit", data, "--coords", "x,y", "--value", "z", "--out", out), message)
    assert not out.exists()


# --- longitude / latitude ----------------------------------------------------------------------

def _lonlat_frame(shift: float) -> pd.DataFrame:
    # 60 stations around the dateline (longitudes 170..190 written as given + shift)
    import numpy as np

    from fieldfit.models import build

    rng = np.random.default_rng(5)
    lon = rng.uniform(170, 190, size=60)
    lat = rng.uniform(-20, 0, size=60)
    z = build("exponential", crs="lonlat").simulate(
        np.column_stack([lon, lat]), {"variance": 1.0, "range": 800.0, "nugget": 0.1,
                                      "mean": 0.0}, seed=6)[0]
    wrapped = (lon + shift + 180) % 360 - 180 if shift == 0 else lon
    return pd.DataFrame({"lon": wrapped, "lat": lat, "z": z})


def test_lonlat_columns_are_detected_and_the_dateline_does_not_matter(tmp_path):
    results = []
    for i, shift in enumerate((0, 360)):
        data, out = tmp_path / f"d{i}.csv", tmp_path / f"r{i}.json"
        _lonlat_frame(shift).to_csv(data, index=False)
        res = ok(invoke("fit", data, "--coords", "lon,lat", "--value", "z", "--model",
                        "exponential", "--restarts", "0", "--out", out))
        assert "look like longitude/latitude" in res.stderr
        assert "km" in res.stdout
        results.append(json.loads(out.read_text()))
    a, b = results
    assert a["units"] == {"range": "km"}
    assert a["loglik"] == pytest.approx(b["loglik"], rel=1e-9)
    assert a["params"]["range"] == pytest.approx(b["params"]["range"], rel=1e-6)
    assert 100 < a["params"]["range"] < 5000          # kilometres, not degrees


def test_planar_crs_overrides_the_detection(tmp_path):
    data, out = tmp_path / "d.csv", tmp_path / "r.json"
    _lonlat_frame(0).to_csv(data, index=False)
    res = ok(invoke("fit", data, "--coords", "lon,lat", "--value", "z", "--model",
                    "exponential", "--restarts", "0", "--crs", "planar", "--out", out))
    assert "longitude/latitude" not in res.stderr
    assert json.loads(out.read_text())["units"] == {}


def test_ctrl_c_while_kriging_keeps_the_finished_fit_beside_the_outputs(data, old_outputs,
                                                                       monkeypatch, tmp_path):
    import fieldfit.predict

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fieldfit.predict, "krige", interrupted)
    out, pred = old_outputs
    res = invoke("fit", data, "--coords", "x,y", "--value", "z", "--model", "exponential",
                 "--restarts", "0", "--out", out, "--predictions", pred)
    assert res.exit_code == 130
    _untouched(out, pred)
    side = json.loads((tmp_path / "result.interrupted.json").read_text())
    assert side["interrupted"] is True and side["converged"] is True
    assert "while kriging" in side["message"]


def test_estimate_out_in_a_folder_that_cannot_be_written_fails_before_work(tmp_path):
    # os.access says yes to root: the check writes a probe file
    data = tmp_path / "d.csv"
    matern_frame(ids=False).dropna().to_csv(data, index=False)
    fails(invoke("estimate", "--estimator", "matern-irregular-fast", data, "--out",
                 "/proc/e.csv"), "--out", "cannot write in")


def test_explicit_lonlat_crs_on_columns_with_other_names(tmp_path):
    data, out = tmp_path / "d.csv", tmp_path / "r.json"
    _lonlat_frame(360).rename(columns={"lon": "a", "lat": "b"}).to_csv(data, index=False)
    res = ok(invoke("fit", data, "--coords", "a,b", "--value", "z", "--model", "exponential",
                    "--restarts", "0", "--crs", "lonlat", "--out", out))
    assert "longitude/latitude" not in res.stderr          # given, not detected
    d = json.loads(out.read_text())
    assert d["units"] == {"range": "km"} and 100 < d["params"]["range"] < 5000
