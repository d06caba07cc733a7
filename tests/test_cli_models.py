"""The CLI builds every model through the registry: `--engine spde --fix smoothness=ν`, and a
space-time CSV with repeated stations fitted by the advection–diffusion model without extra
flags."""

import json

import numpy as np
import pandas as pd

import fieldfit as ff
from cli_helpers import invoke as _invoke
from fieldfit.models import build


def test_fit_spde_engine_with_a_fixed_smoothness(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(80, 2))
    y = ff.GaussianField(ff.Matern(smoothness=1.0)).simulate(
        x, {"variance": 1.0, "range": 0.15, "nugget": 0.1, "mean": 0.5}, seed=1)[0]
    data = tmp_path / "d.csv"
    pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "z": y}).to_csv(data, index=False)
    out = tmp_path / "r.json"
    args = ("fit", data, "--coords", "x,y", "--value", "z", "--engine", "spde",
            "--mesh-max-edge", "0.12,0.4", "--restarts", "0", "--out", out)
    res = _invoke(*args, "--fix", "smoothness=1")
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["engine"] == "spde" and r["model"] == "matern-spde"
    assert r["params"]["smoothness"] == 1.0 and "smoothness" in r["fixed"]
    # the same fit through the library, the same numbers
    model = build("matern", engine="spde", smoothness=1, mesh_max_edge=[0.12, 0.4])
    lib = ff.fit(model, ff.Observations(coords=x, values=y), fix={"smoothness": 1.0},
                 restarts=0, progress=False)
    np.testing.assert_allclose(r["loglik"], lib.loglik, rtol=1e-9)
    # ν = 1.5 has no integer order: the rational approximation (order 2) with ν fixed
    res = _invoke(*args, "--fix", "smoothness=1.5")
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["params"]["smoothness"] == 1.5 and "smoothness" in r["fixed"]
    assert "rational approximation" in " ".join(res.output.split())
    # ν estimated (--rational-order), within the band ν + d/2 in [α, α + 1) of --alpha
    res = _invoke(*args, "--rational-order", "2", "--alpha", "2")
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert "smoothness" not in r["fixed"] and 1.0 < r["params"]["smoothness"] < 2.0
    for extra, words in ((["--fix", "smoothness=0.5", "--alpha", "2"], "leave --alpha out"),
                         (["--rational-order", "7"], "--rational-order must be"),
                         (["--rational-order", "2", "--engine", "exact"], "--rational-order")):
        res = _invoke(*[a for a in args if a not in ("--engine", "spde")], *extra,
                      *(["--engine", "spde"] if "--engine" not in extra else []))
        assert res.exit_code == 2 and words in " ".join(res.output.split()), res.output
    res = _invoke("fit", data, "--coords", "x,y", "--value", "z", "--engine", "spde",
                  "--neighbours", "10", "--out", out)
    assert res.exit_code == 2 and "--neighbours" in res.output


def test_space_time_csv_with_repeated_stations_fits_advection_diffusion(tmp_path):
    """Stations repeated over days (one row per station and day, a station column), read from
    CSV and fitted with `--model advection-diffusion` and no other model flag."""
    rng = np.random.default_rng(2)
    stations = rng.uniform(size=(10, 2))
    days = np.arange(4.0)
    pts = np.column_stack([np.tile(stations, (len(days), 1)), np.repeat(days, len(stations))])
    model = build("advection-diffusion")
    z = model.simulate(pts, {"kappa": 6.0, "c": 10.0, "tau": 8.0, "gamma_x": 0.05,
                             "gamma_y": 0.0, "nugget": 0.05, "mean": 1.0}, seed=3)[0]
    table = pd.DataFrame({"station": np.tile([f"s{i}" for i in range(10)], len(days)),
                          "x": pts[:, 0], "y": pts[:, 1], "day": pts[:, 2], "z": z})
    data = tmp_path / "st.csv"
    table.to_csv(data, index=False)
    out = tmp_path / "ad.json"
    res = _invoke("fit", data, "--coords", "x,y", "--time", "day", "--value", "z",
                  "--model", "advection-diffusion", "--out", out)
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["model"] == "advection-diffusion" and r["n"] == 40
    assert {"kappa", "c", "tau", "gamma_x", "gamma_y", "nugget", "mean"} <= set(r["params"])
    assert np.isfinite(r["loglik"])
