"""The `fieldfit` command: fit (JSON result, predictions), simulate, and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_helpers import fails, invoke, matern_frame, ok
from fieldfit import GaussianField, Matern, Observations
from fieldfit.fit import fit

DESIGN_KEYS = {"model", "engine", "params", "stderr", "loglik", "n", "seconds"}
PARAMS = "variance=1,range=0.2,smoothness=1.5,nugget=0.1,mean=0.5"

pytestmark = pytest.mark.usefixtures("one_torch_thread")
_invoke, _ok = invoke, ok


def _fails(result, *fragments):
    fails(result, *fragments)
    return result


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def frame():
    """120 rows: id (strings), x, y, z with 15 NaN values (the prediction targets)."""
    return matern_frame(ids=True)


def _fit_args(data, out, *extra):
    return ["fit", data, "--coords", "x,y", "--value", "z", "--model", "matern",
            "--fix", "smoothness=1.5", "--engine", "exact", "--id", "id", "--out", out, *extra]


def _reference_fit(frame):
    obs = Observations.from_dataframe(frame, coords=["x", "y"], value="z", id="id")
    model = GaussianField(Matern(), mean="constant")
    train = obs.observed_part()
    return model, train, fit(model, train, fix={"smoothness": 1.5}, progress=False)


# --- fit -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, pred_suffix", [(".csv", ".parquet"), (".parquet", ".csv")])
def test_fit_writes_result_and_predictions(frame, tmp_path, suffix, pred_suffix):
    data = _write(frame, tmp_path / f"data{suffix}")
    out, pred = tmp_path / "result.json", tmp_path / f"pred{pred_suffix}"
    res = _ok(_invoke(*_fit_args(data, out, "--predictions", pred)))
    assert "result written to" in res.output and "15 predictions written" in res.output

    d = json.loads(out.read_text())
    assert DESIGN_KEYS <= set(d)
    assert d["model"] == "matern" and d["engine"] == "exact"
    assert isinstance(d["n"], int) and d["n"] == int(frame.z.notna().sum()) == 105
    assert isinstance(d["loglik"], float) and np.isfinite(d["loglik"])
    assert isinstance(d["seconds"], float) and d["seconds"] >= 0
    assert set(d["params"]) == {"variance", "range", "smoothness", "nugget", "mean"}
    assert set(d["stderr"]) == set(d["params"])
    assert all(isinstance(v, float) for v in d["params"].values())
    assert d["params"]["smoothness"] == 1.5 and d["stderr"]["smoothness"] is None
    for k in ("variance", "range", "nugget", "mean"):
        assert isinstance(d["stderr"][k], float) and d["stderr"][k] > 0, k
    assert "smoothness" in d["fixed"]

    # the same numbers as the Python API
    model, train, ref = _reference_fit(frame)
    np.testing.assert_allclose(d["loglik"], ref.loglik, rtol=0, atol=1e-6)
    for k, v in ref.params.items():
        np.testing.assert_allclose(d["params"][k], v, rtol=1e-4, err_msg=k)

    # predictions: exactly the NaN rows, in input order, with their ids, mean and sd
    p = _read(pred)
    nan_rows = frame[frame.z.isna()]
    assert {"id", "mean", "sd"} <= set(p.columns)
    assert list(p["id"]) == list(nan_rows["id"])
    np.testing.assert_array_equal(p[["x", "y"]], nan_rows[["x", "y"]])
    assert np.all(np.isfinite(p["mean"])) and np.all(p["sd"] > 0)
    mean, sd = model.predict(train, nan_rows[["x", "y"]].to_numpy(copy=True), d["params"])
    np.testing.assert_allclose(p["mean"], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p["sd"], sd, rtol=1e-9)
    # predicting a new observation: the sd includes the nugget
    assert np.all(p["sd"] ** 2 > d["params"]["nugget"])


def test_fit_predict_at_file(frame, tmp_path):
    data = _write(frame, tmp_path / "data.parquet")
    rng = np.random.default_rng(5)
    new = pd.DataFrame({"id": [f"new{i}" for i in range(7)], "x": rng.uniform(size=7),
                        "y": rng.uniform(size=7)})
    new.loc[6, ["x", "y"]] = new.loc[5, ["x", "y"]]  # duplicated targets are fine
    at = _write(new, tmp_path / "targets.csv")
    out, pred = tmp_path / "r.json", tmp_path / "pred.parquet"
    _ok(_invoke(*_fit_args(data, out, "--predict-at", at, "--predictions", pred)))
    p = pd.read_parquet(pred)
    assert list(p["id"]) == list(new["id"])  # only the file's locations, not the NaN rows
    np.testing.assert_array_equal(p[["x", "y"]], new[["x", "y"]])
    assert np.all(p["sd"] > 0)
    np.testing.assert_allclose(p["mean"][5], p["mean"][6], rtol=1e-12)
    np.testing.assert_allclose(p["sd"][5], p["sd"][6], rtol=1e-12)
    d = json.loads(out.read_text())
    model, train, _ = _reference_fit(frame)
    mean, sd = model.predict(train, new[["x", "y"]].to_numpy(copy=True), d["params"])
    np.testing.assert_allclose(p["mean"], mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p["sd"], sd, rtol=1e-9)


def test_fit_without_predictions_file_says_so(frame, tmp_path):
    data = _write(frame, tmp_path / "data.csv")
    out = tmp_path / "r.json"
    res = _ok(_invoke(*_fit_args(data, out)))
    assert "15 locations to predict" in res.output
    assert json.loads(out.read_text())["n"] == 105


def test_predictions_without_targets_fail(frame, tmp_path):
    data = _write(frame.dropna(), tmp_path / "data.csv")
    res = _invoke(*_fit_args(data, tmp_path / "r.json", "--predictions", tmp_path / "p.csv"))
    _fails(res, "--predictions given but there is nothing to predict")
    assert not (tmp_path / "p.csv").exists()
    assert not (tmp_path / "r.json").exists()  # refused before the fit


# --- bad input -------------------------------------------------------------------------------


def test_missing_column(frame, tmp_path):
    data = _write(frame, tmp_path / "data.csv")
    out = tmp_path / "r.json"
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "w", "--out", out),
           "['w'] not found")
    _fails(_invoke("fit", data, "--coords", "x,lat", "--value", "z", "--out", out),
           "['lat'] not found")
    assert not out.exists()


def test_nan_coordinate(frame, tmp_path):
    bad = frame.copy()
    bad.loc[3, "x"] = np.nan
    data = _write(bad, tmp_path / "data.csv")
    out = tmp_path / "r.json"
    _fails(_invoke(*_fit_args(data, out)), "NaN or infinite coordinates", "s003")
    assert not out.exists()


def test_duplicated_location(frame, tmp_path):
    bad = frame.dropna().reset_index(drop=True)
    bad.loc[5, ["x", "y"]] = bad.loc[4, ["x", "y"]]
    data = _write(bad, tmp_path / "data.parquet")
    out = tmp_path / "r.json"
    # repeated measurements: accepted by default (the model has a nugget), and said so
    res = _invoke(*_fit_args(data, out))
    _ok(res)
    assert "2 observed rows repeat a location" in res.output
    assert json.loads(out.read_text())["n"] == len(bad)
    assert "2 observed rows repeat a location" in json.loads(out.read_text())["message"]
    # without a nugget the covariance matrix would be singular: refused before any work
    out.unlink()
    _fails(_invoke(*_fit_args(data, out, "--no-nugget")), "repeat a location", "nugget")
    assert not out.exists()
    # the old flag is still accepted
    _ok(_invoke(*_fit_args(data, out, "--allow-duplicates")))


def test_empty_and_unreadable_files(tmp_path):
    out = tmp_path / "r.json"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _fails(_invoke("fit", empty, "--coords", "x,y", "--value", "z", "--out", out),
           "empty file")
    header = tmp_path / "header.csv"
    header.write_text("id,x,y,z\n")
    _fails(_invoke("fit", header, "--coords", "x,y", "--value", "z", "--out", out),
           "empty file")
    _fails(_invoke("fit", tmp_path / "nope.csv", "--coords", "x,y", "--value", "z",
                   "--out", out), "file not found")
    other = tmp_path / "data.txt"
    other.write_text("x,y,z\n0,0,1\n")
    _fails(_invoke("fit", other, "--coords", "x,y", "--value", "z", "--out", out),
           "unknown file type")
    assert not out.exists()


def test_unknown_model(frame, tmp_path):
    data = _write(frame, tmp_path / "data.csv")
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--model", "spline",
                   "--out", tmp_path / "r.json"), "unknown model 'spline'", "matern")


@pytest.mark.parametrize(
    "fix, fragment",
    [
        ("smoothness:1.5", "expected name=value"),
        ("smoothness", "expected name=value"),
        ("smoothness=abc", "not a number"),
        ("smoothnes=1.5", "unknown parameter 'smoothnes'"),
        ("nu=1.5", "unknown parameter 'nu'"),
        ("range=-0.1", "positive"),
    ],
)
def test_bad_fix(frame, tmp_path, fix, fragment):
    data = _write(frame, tmp_path / "data.csv")
    out = tmp_path / "r.json"
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--model", "matern",
                   "--fix", fix, "--out", out), fragment)
    assert not out.exists()


# --- simulate --------------------------------------------------------------------------------


def test_simulate_grid_size_and_seed(tmp_path):
    a, b, c = (tmp_path / f"{k}.parquet" for k in "abc")
    for path, seed in ((a, 3), (b, 3), (c, 4)):
        res = _ok(_invoke("simulate", "--grid", "10x12", "--params", PARAMS, "--out", path,
                          "--seed", seed))
        assert "120 points" in res.output
    da, db, dc = pd.read_parquet(a), pd.read_parquet(b), pd.read_parquet(c)
    assert list(da.columns) == ["x", "y", "z"] and len(da) == 120
    assert da["x"].nunique() == 10 and da["y"].nunique() == 12
    np.testing.assert_allclose([da.x.min(), da.x.max(), da.y.min(), da.y.max()], [0, 1, 0, 1])
    pd.testing.assert_frame_equal(da, db)  # same seed, same numbers
    np.testing.assert_array_equal(da[["x", "y"]], dc[["x", "y"]])
    assert not np.allclose(da["z"], dc["z"])
    # the very draw of the Python API with that seed
    model = GaussianField(Matern(), mean="constant")
    p = {"variance": 1.0, "range": 0.2, "smoothness": 1.5, "nugget": 0.1, "mean": 0.5}
    ref = model.simulate(da[["x", "y"]].to_numpy(copy=True), p, seed=3)[0]
    np.testing.assert_allclose(da["z"], ref, rtol=1e-12, atol=1e-12)


def test_simulate_at_points_with_replicates(tmp_path):
    rng = np.random.default_rng(2)
    pts = pd.DataFrame({"x": rng.uniform(size=40), "y": rng.uniform(size=40)})
    points = _write(pts, tmp_path / "points.csv")
    out = tmp_path / "sim.csv"
    _ok(_invoke("simulate", points, "--params", PARAMS, "--out", out, "--replicates", 3,
                "--seed", 7))
    d = pd.read_csv(out)
    assert list(d.columns) == ["x", "y", "z_0", "z_1", "z_2"] and len(d) == 40
    np.testing.assert_allclose(d[["x", "y"]], pts, rtol=1e-15)
    z = d[["z_0", "z_1", "z_2"]].to_numpy()
    assert np.all(np.isfinite(z))
    assert not np.allclose(z[:, 0], z[:, 1]) and not np.allclose(z[:, 1], z[:, 2])
    # the same seed again: the same table
    out2 = tmp_path / "sim2.csv"
    _ok(_invoke("simulate", points, "--params", PARAMS, "--out", out2, "--replicates", 3,
                "--seed", 7))
    pd.testing.assert_frame_equal(d, pd.read_csv(out2))


def test_simulate_the_continuous_advection_diffusion_spde(tmp_path):
    """--simulator spectral: exact continuum draws at irregular times, the same for a seed."""
    pts = pd.DataFrame({"x": [0.0, 1.0, 0.0, 1.0, 0.5], "y": [0.0, 0.0, 0.0, 0.0, 0.5],
                        "t": [0.0, 0.0, 0.3, 0.3, 1.1]})
    points = _write(pts, tmp_path / "points.csv")
    args = ("simulate", points, "--time", "t", "--model", "advection-diffusion", "--params",
            "kappa=1,c=1,tau=2,gamma_x=0.5,gamma_y=0,nugget=0.01,mean=0", "--simulator",
            "spectral", "--replicates", 2)
    _ok(_invoke(*args, "--out", tmp_path / "a.csv"))
    _ok(_invoke(*args, "--out", tmp_path / "b.csv"))
    a = pd.read_csv(tmp_path / "a.csv")
    assert list(a.columns) == ["x", "y", "t", "z_0", "z_1"]
    assert np.isfinite(a[["z_0", "z_1"]].to_numpy()).all()
    pd.testing.assert_frame_equal(a, pd.read_csv(tmp_path / "b.csv"))
    _fails(_invoke("simulate", "--grid", "5x5", "--params", PARAMS, "--simulator", "spectral",
                   "--out", tmp_path / "c.csv"), "--simulator is for --model advection-diffusion")


def test_simulate_bad_input(tmp_path):
    out = tmp_path / "sim.parquet"
    _fails(_invoke("simulate", "--grid", "5x5", "--params", "variance=1,range=0.2",
                   "--out", out), "smoothness")
    _fails(_invoke("simulate", "--grid", "5x5", "--params", "variance,range=0.2",
                   "--out", out), "expected name=value")
    _fails(_invoke("simulate", "--grid", "5x5", "--params", "variance=1;range=0.2",
                   "--out", out), "'variance' is not a number")
    _fails(_invoke("simulate", "--grid", "5x5", "--params", PARAMS, "--model", "spline",
                   "--out", out), "unknown model 'spline'")
    _fails(_invoke("simulate", "--params", PARAMS, "--out", out), "--grid")
    assert not out.exists()


# --- the installed command -------------------------------------------------------------------


def test_console_script_help():
    exe = Path(sys.executable).parent / "fieldfit"
    if not exe.exists():
        pytest.skip("the fieldfit console script is not installed next to this Python")
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    for command in ("fit", "simulate", "demo"):
        assert command in res.stdout


def test_fit_with_the_vecchia_engine(frame, tmp_path):
    data = _write(frame, tmp_path / "data.parquet")
    out, pred = tmp_path / "r.json", tmp_path / "p.parquet"
    _ok(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--id", "id", "--model",
                "matern", "--fix", "smoothness=1.5", "--engine", "vecchia", "--neighbours", 104,
                "--out", out, "--predictions", pred, "--restarts", 0, "--no-progress"))
    d = json.loads(out.read_text())
    assert d["engine"] == "vecchia" and DESIGN_KEYS <= set(d)
    # with every earlier point a neighbour the Vecchia fit is the exact one
    _, _, ref = _reference_fit(frame)
    for k in ("variance", "range", "nugget"):
        assert d["params"][k] == pytest.approx(ref.params[k], rel=1e-4)
    table = _read(pred)
    assert list(table.columns) == ["id", "x", "y", "mean", "sd"] and len(table) == 15
    assert table[["mean", "sd"]].notna().all().all()


def test_vecchia_options_need_the_vecchia_engine(frame, tmp_path):
    data = _write(frame, tmp_path / "data.csv")
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--neighbours", 10,
                   "--out", tmp_path / "r.json"), "--neighbours", "vecchia")
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--engine", "vecchia",
                   "--neighbours", 0, "--out", tmp_path / "r.json"), "neighbours")


def test_fit_with_the_spde_engine(tmp_path):
    from fieldfit.models.spde_field import SPDEField
    from fieldfit.spde import Mesh

    rng = np.random.default_rng(4)
    pts = rng.random((400, 2))
    x = np.linspace(-0.4, 1.4, 31)
    y = SPDEField(mesh=Mesh.grid(x, x)).simulate(
        pts, {"variance": 1.0, "range": 0.2, "nugget": 0.1, "mean": 1.0}, seed=2)[0]
    y[:20] = np.nan
    data = _write(pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "z": y}),
                  tmp_path / "data.parquet")
    out, pred = tmp_path / "r.json", tmp_path / "p.csv"
    _ok(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--engine", "spde",
                "--mesh-max-edge", "0.08,0.3", "--out", out, "--predictions", pred,
                "--restarts", 0, "--no-progress"))
    d = json.loads(out.read_text())
    assert d["engine"] == "spde" and DESIGN_KEYS <= set(d)
    assert set(d["params"]) >= {"variance", "range", "nugget", "mean"}
    table = _read(pred)
    assert list(table.columns) == ["id", "x", "y", "mean", "sd"] and len(table) == 20
    assert table[["mean", "sd"]].notna().all().all()
    _fails(_invoke("fit", data, "--coords", "x,y", "--value", "z", "--engine", "spde",
                   "--model", "gaussian", "--out", out), "spde", "matern")
