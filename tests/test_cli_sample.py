"""``fieldfit sample`` end to end on a temporary file: NetCDF, summary JSON, plots,
predictions; bad priors refused with a clear error before any output is written."""

import json

import arviz as az
import numpy as np
import pandas as pd
import pytest

from cli_helpers import fails, invoke, ok
from fieldfit import models

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """30 observed rows of an exponential field plus 3 rows with a missing value."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(33, 2))
    z = models.build("exponential").simulate(
        x, {"variance": 1.0, "range": 0.2, "nugget": 0.1, "mean": 1.0}, seed=1)[0]
    z[-3:] = np.nan
    path = tmp_path_factory.mktemp("data") / "d.csv"
    pd.DataFrame({"id": [f"s{i}" for i in range(33)], "x": x[:, 0], "y": x[:, 1],
                  "z": z}).to_csv(path, index=False)
    return path


def _args(data, out, *more, progress="--no-progress"):
    return ("sample", data, "--coords", "x,y", "--value", "z", "--id", "id",
            "--model", "exponential", "--chains", "2", "--draws", "20", "--warmup", "20",
            *([progress] if progress else []), "--out", out, *more)


def test_end_to_end(data, tmp_path):
    out, summ = tmp_path / "post.nc", tmp_path / "post.json"
    pred, plots = tmp_path / "pred.parquet", tmp_path / "plots"
    res = ok(invoke(*_args(data, out, "--summary", summ, "--plots", plots,
                           "--predictions", pred, "--prior", "range=pc:0.05:0.5",
                           "--prior", "nugget=halfnormal:1", "--fix", "variance=1")))
    idata = az.from_netcdf(out)
    assert set(idata.posterior.data_vars) == {"range", "nugget", "mean"}
    assert idata.posterior["range"].shape == (2, 20)
    s = json.loads(summ.read_text())
    assert {"params", "n", "seconds", "divergences"} <= set(s)
    assert s["n"] == 30 and s["fixed"] == {"variance": 1.0}
    assert set(s["params"]) == {"range", "nugget", "mean"}
    for row in s["params"].values():
        assert {"mean", "sd", "q2.5", "q50", "q97.5", "rhat", "ess_bulk"} <= set(row)
        assert row["q2.5"] <= row["q50"] <= row["q97.5"]
    assert s["priors"]["range"] == {"kind": "pc-range", "rho0": 0.05, "alpha": 0.5, "dim": 2}
    assert s["priors"]["nugget"] == {"kind": "halfnormal", "scale": 1.0}
    assert s["priors"]["mean"]["kind"] == "normal"              # a default
    table = pd.read_parquet(pred)
    assert list(table.columns) == ["id", "mean", "sd"]
    assert list(table["id"]) == ["s30", "s31", "s32"] and (table["sd"] > 0).all()
    for name in ("trace.png", "pair.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ess_bulk" in res.stdout and "range" in res.stdout
    assert isinstance(s["warnings"], list)


def test_a_short_run_prints_and_records_its_convergence_warnings(data, tmp_path):
    """2 chains × 20 draws (in two processes): fewer than 200 effective draws, so the ESS
    checks fail; each failed check is one stderr line and one entry of the JSON's warnings,
    and the exit status stays 0. No progress bar reaches a stderr that is not a terminal."""
    out, summ = tmp_path / "post.nc", tmp_path / "post.json"
    res = ok(invoke(*_args(data, out, "--summary", summ, "--cores", "2", progress=None)))
    s = json.loads(summ.read_text())
    checks = {(w["check"], w["parameter"]) for w in s["warnings"]}
    assert {("ess_bulk", "range"), ("ess_bulk", "mean")} <= checks
    lines = [x for x in res.stderr.splitlines() if x.startswith("warning: ")]
    assert [x.removeprefix("warning: ") for x in lines] == [w["message"] for w in s["warnings"]]
    for w in s["warnings"]:
        assert {"check", "parameter", "value", "threshold", "message"} == set(w)
        if w["check"] == "ess_bulk":
            assert w["value"] == pytest.approx(s["params"][w["parameter"]]["ess_bulk"])
            assert w["threshold"] == 200
    assert "convergence check(s) failed" not in res.stderr   # one line per check instead
    assert "%|" not in res.stderr and "it/s" not in res.stderr
    assert s["warmup"] == 20 and s["chains"] == 2


def test_the_help_states_the_defaults():
    res = ok(invoke("sample", "--help"))
    text = " ".join(res.stdout.split())
    for fragment in ("--cores", "--warmup", "at least 200", "at most 1000", "--progress",
                     "on a terminal"):
        assert fragment in text, fragment


@pytest.mark.parametrize("prior, fragments", [
    ("range=weibull:1:2", ["unknown prior family 'weibull'"]),
    ("nugget=halfnormal:-1", ["nugget=halfnormal:-1", "scale must be positive"]),
    ("rnage=pc:0.1:0.5", ["unknown parameter 'rnage'", "did you mean 'range'"]),
    ("range=pc:0.1:2", ["must lie in (0, 1)"]),
    ("range", ["expected NAME=FAMILY:ARGS"]),
])
def test_bad_priors_fail_before_any_output(data, tmp_path, prior, fragments):
    out, summ = tmp_path / "post.nc", tmp_path / "post.json"
    fails(invoke(*_args(data, out, "--summary", summ, "--prior", prior)), *fragments)
    assert not out.exists() and not summ.exists()


def test_bad_options(data, tmp_path):
    fails(invoke(*_args(data, tmp_path / "post.json")), "--out", ".nc")
    fails(invoke(*_args(data, tmp_path / "p.nc", "--fix", "range=0.2", "--prior",
                        "range=pc:0.1:0.5")), "--prior and --fix both name 'range'")
    fails(invoke(*_args(data, tmp_path / "p.nc", "--kind", "ordinary")), "--kind")
    fails(invoke(*_args(data, tmp_path / "p.nc", "--cores", "0")), "--cores must be 1")
    fails(invoke(*_args(data, tmp_path / "p.nc", "--warmup", "-1")), "--warmup must be 0")
    a_file = tmp_path / "plots.txt"
    a_file.write_text("not a folder")
    fails(invoke(*_args(data, tmp_path / "p.nc", "--plots", a_file)), "--plots", "is a file")
    assert not (tmp_path / "p.nc").exists()


def test_the_model_options_are_fits(data, tmp_path):
    """sample declares fit's model options from fit's own declarations (same names, help
    and defaults): --anisotropic samples the angle and ratio too; fit's checks apply."""
    from fieldfit.cli.fit_cmd import MODEL_OPTIONS, fit_defaults

    res = invoke("sample", "--help")
    ok(res)
    for name in MODEL_OPTIONS:
        assert "--" + name.replace("_", "-") in res.stdout, name
    assert fit_defaults()["alpha_s"] == 1 and fit_defaults()["field"] == []
    out, summ = tmp_path / "a.nc", tmp_path / "a.json"
    ok(invoke(*_args(data, out, "--anisotropic", "--summary", summ, "--chains", "1",
                     "--draws", "5", "--warmup", "5")))
    assert {"angle", "ratio"} <= set(json.loads(summ.read_text())["params"])
    fails(invoke(*_args(data, tmp_path / "b.nc", "--field", "gamma=bspline:3x3")),
          "--field applies to --model")
    fails(invoke(*_args(data, tmp_path / "b.nc", "--substeps", "2")), "substeps")
    assert not (tmp_path / "b.nc").exists()


def test_ctrl_c_writes_the_draws_so_far_beside_out(data, tmp_path, monkeypatch):
    import importlib

    mcmc = importlib.import_module("fieldfit.fit.mcmc")   # fieldfit.fit is also the function
    real = mcmc.sample

    def interrupted(*args, **kwargs):   # as sample returns after Ctrl-C: the draws so far
        post = real(*args, **{**kwargs, "chains": 1, "draws": 5, "warmup": 5})
        post.interrupted = True
        return post

    monkeypatch.setattr(mcmc, "sample", interrupted)
    out, summ = tmp_path / "post.nc", tmp_path / "post.json"
    res = invoke(*_args(data, out, "--summary", summ))
    assert res.exit_code == 130, res.output
    assert not out.exists() and not summ.exists()
    kept = az.from_netcdf(tmp_path / "post.interrupted.nc")
    assert kept.posterior["range"].shape == (1, 5) and kept.attrs["interrupted"] == 1
