"""`fieldfit train-estimator` and `fieldfit estimate`, end to end, and the shipped estimators."""

import re

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import fieldfit  # noqa: F401
from fieldfit.cli import app
from fieldfit.neural import load_estimator
from fieldfit.neural.store import ZarrSamples


def _table(spec, indices, seed=5):
    frames = []
    for i, s in zip(indices, spec.simulate(indices, seed=seed), strict=True):
        frames.append(pd.DataFrame({"dataset": f"set{i}", "x": s.coords[:, 0],
                                    "y": s.coords[:, 1], "z": s.values[0]}))
    return pd.concat(frames, ignore_index=True)


def _datasets_with(settings, n=60, seed=0):
    """A table of datasets (exponential field, variance 1, no nugget) with known (mean,
    range), one per entry of ``settings``, at n uniform locations each."""
    from fieldfit import Exponential, GaussianField

    rng = np.random.default_rng(seed)
    model = GaussianField(Exponential(), mean="constant", nugget=False)
    frames = []
    for i, (mean, range_) in enumerate(settings):
        x = rng.uniform(size=(n, 2))
        z = model.simulate(x, {"variance": 1.0, "range": range_, "mean": mean},
                           seed=100 + i)[0]
        frames.append(pd.DataFrame({"dataset": f"set{i}", "x": x[:, 0], "y": x[:, 1],
                                    "z": z}))
    return pd.concat(frames, ignore_index=True)


def test_train_estimator_then_estimate(tmp_path):
    """A tiny quantile estimator trained through the CLI (simulations by Dask's synchronous
    scheduler into a Zarr store), then used on a CSV of datasets whose parameters lie far
    from the prior's centre: its estimates move from the prior median towards the truth."""
    runner = CliRunner()
    out = tmp_path / "tiny.pt"
    res = runner.invoke(app, [
        "train-estimator", "--out", str(out), "--model", "exponential",
        "--prior", "range=0.05:0.5:log", "--prior", "mean=-2:2", "--fix", "variance=1",
        "--no-nugget", "--design", "uniform", "--n-min", "30", "--n-max", "60",
        "--train", "300", "--val", "60", "--epochs", "20", "--lr", "3e-3", "--patience", "50",
        "--width", "8", "--variogram", "--pilot",
        "--psi", "12,10", "--calibrate", "40", "--store", str(tmp_path / "sims"),
        "--scheduler", "synchronous", "--no-progress", "--diagnostics", "100"])
    assert res.exit_code == 0, res.output
    assert "quantile estimator of ['range', 'mean'] saved" in res.output
    assert "diagnostics: quantile estimator, 100 simulations" in res.output
    assert (tmp_path / "sims" / "train.zarr").is_dir()
    est = load_estimator(out)
    assert est.metadata["n_train"] == 300 and est.spec.prior.fixed == {"variance": 1.0}
    assert est.metadata["training"]["stopped"] == "epoch limit"
    assert len(est.metadata["training"]["val"]) == 20
    assert est.network.summary.variogram is not None
    assert est.network.summary.pilot["relative"] is True
    assert est.network.summary.config()["psi"] == [12, 10]
    assert "90% intervals calibrated on 40 simulations" in res.output
    assert (tmp_path / "sims" / "calibration.zarr").is_dir()
    assert len(est.network.widening) == 2 and est.metadata["calibration"]["seed"] == 2

    # the prior median: mean 0, range √(0.05 · 0.5) ≈ 0.158; the datasets' truths are far
    # from both (means ±1.5, ranges 0.07 and 0.35, about 0.35 of the log box either side)
    settings = [(1.5, 0.07), (-1.5, 0.07), (1.5, 0.35), (-1.5, 0.35)] * 3
    data = tmp_path / "data.csv"
    _datasets_with(settings).to_csv(data, index=False)
    res = runner.invoke(app, ["estimate", "--estimator", str(out), str(data),
                              "--out", str(tmp_path / "est.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "est.csv")
    assert list(table.columns) == ["dataset", "range", "range_lower", "range_upper", "mean",
                                   "mean_lower", "mean_upper", "n", "n_missing",
                                   "value_shift", "value_factor"]
    # variance fixed at 1: the values are only shifted (by their median), never scaled
    assert (table["value_factor"] == 1.0).all() and (table["n"] == 60).all()
    assert list(table["dataset"]) == [f"set{i}" for i in range(len(settings))]
    mean_true = np.array([m for m, _ in settings])
    range_true = np.array([r for _, r in settings])
    # the mean (the best identified): the right sign in every dataset and, on average, less
    # than half the prior median's error of 1.5
    assert (np.sign(table["mean"]) == np.sign(mean_true)).all(), table
    assert np.abs(table["mean"] - mean_true).mean() < 0.5 * 1.5, table
    # the range (weakly identified from 60 points: single estimates scatter): the short-range
    # datasets' geometric mean estimate below the prior median, the long-range ones' above,
    # and on average closer (in log) to the truth than the prior median
    prior_median = np.sqrt(0.05 * 0.5)
    log_range = np.log(table["range"].to_numpy())
    short = range_true < prior_median
    assert log_range[short].mean() < np.log(prior_median) < log_range[~short].mean(), table
    log_err = np.abs(np.log(table["range"] / range_true)).mean()
    # (measured: 0.46 against the prior median's 0.80)
    assert log_err < 0.8 * np.abs(np.log(prior_median / range_true)).mean(), table
    # the same numbers as the Python API on the same table
    api = est.estimate(pd.read_csv(data))
    np.testing.assert_allclose(table[["range", "mean"]], api[["range", "mean"]], rtol=1e-5)


def test_train_estimator_reports_a_missing_accelerator_and_misplaced_variogram(tmp_path):
    runner = CliRunner()
    base = ["train-estimator", "--out", str(tmp_path / "x.pt"), "--train", "10", "--val", "4",
            "--no-progress"]
    if not torch.cuda.is_available():
        res = runner.invoke(app, [*base, "--device", "cuda"])
        assert res.exit_code == 2 and "no CUDA device" in res.output, res.output
    for option in ("--variogram", "--pilot"):
        res = runner.invoke(app, [*base, "--design", "grid", option])
        assert res.exit_code == 2 and "graph network" in res.output, res.output
    for extra in (["--calibrate", "-1"], ["--estimator", "point", "--calibrate", "50"],
                  ["--psi", "12,x"]):
        res = runner.invoke(app, [*base, *extra])
        assert res.exit_code == 2 and ("--calibrate" in res.output or "--psi" in res.output), \
            res.output
    assert not (tmp_path / "x.pt").exists()


def test_estimate_reports_bad_input(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"x": [0.1, 0.2, 0.3], "y": [0.1, 0.5, 0.9]}).to_csv(bad, index=False)
    name = "matern-irregular"
    res = runner.invoke(app, ["estimate", "--estimator", name, str(bad), "--out",
                              str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "columns x, y, z" in res.output
    res = runner.invoke(app, ["estimate", "--estimator", "nope", str(bad), "--out",
                              str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "no estimator named 'nope'" in res.output
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize("name", ["matern-irregular", "matern-irregular-fast",
                                  "matern-irregular-smoothness", "matern-irregular-posterior"])
def test_shipped_estimator_estimates_and_covers(tmp_path, name):
    """The shipped estimators on 60 fresh datasets from their own prior and designs (a seed
    never used in training): 90 % intervals cover 75–99 % of the true values of each parameter
    and the point estimates beat the prior mean's unit-scale error."""
    est = load_estimator(name)
    assert est.spec.prior.names[:4] == ["range", "variance", "nugget", "mean"]
    spec = est.spec
    idx = list(range(60))
    data = tmp_path / "d.csv"
    _table(spec, idx, seed=987654).to_csv(data, index=False)
    res = CliRunner().invoke(app, ["estimate", "--estimator", name, str(data),
                                   "--out", str(tmp_path / "e.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "e.csv")
    truth = np.stack([s.theta for s in spec.simulate(idx, seed=987654)])
    u_true = spec.prior.to_unit(truth)
    u_est = spec.prior.to_unit(table[spec.prior.names].to_numpy())
    mae = np.abs(u_est - u_true).mean(0)
    lower = table[[f"{n}_lower" for n in spec.prior.names]].to_numpy()
    upper = table[[f"{n}_upper" for n in spec.prior.names]].to_numpy()
    cover = ((lower <= truth) & (truth <= upper)).mean(0)
    assert (lower <= upper).all()
    assert (cover >= 0.75).all() and (cover <= 0.99).all(), cover
    # the prior mean's (0.5) error on the unit scale is 0.25; every parameter beats it, the
    # mean (the best identified) by far, the range (traded off against the variance in a
    # fixed domain, Zhang 2004) by a third
    assert mae[0] < 0.7 * 0.25 and mae[3] < 0.3 * 0.25, mae
    assert (mae < 0.25).all(), mae


def test_train_estimator_start_from_trains_a_saved_estimator_further(tmp_path):
    """``--start-from`` loads the saved weights (with a vanishing learning rate one epoch
    leaves them as they were, where a fresh start does not), grows the training store with a
    larger --train, records the lineage, and refuses an estimator of other options before any
    simulation."""
    runner = CliRunner()
    sims = tmp_path / "sims"
    base = ["train-estimator", "--model", "exponential", "--prior", "range=0.05:0.5:log",
            "--prior", "mean=-2:2", "--fix", "variance=1", "--no-nugget", "--design",
            "uniform", "--n-min", "20", "--n-max", "30", "--val", "8", "--width", "4",
            "--neighbours", "4", "--store", str(sims), "--scheduler", "synchronous",
            "--no-progress", "--diagnostics", "0", "--batch-size", "8"]
    first = tmp_path / "first.pt"
    res = runner.invoke(app, [*base, "--out", str(first), "--train", "16", "--epochs", "2"])
    assert res.exit_code == 0, res.output
    more = tmp_path / "more.pt"
    res = runner.invoke(app, [*base, "--out", str(more), "--train", "24", "--epochs", "1",
                              "--lr", "1e-12", "--start-from", str(first)])
    assert res.exit_code == 0, res.output
    a, b = load_estimator(first), load_estimator(more)
    for (name, wa), wb in zip(a.network.state_dict().items(),
                              b.network.state_dict().values(), strict=True):
        torch.testing.assert_close(wb, wa, atol=1e-8, rtol=0, msg=name)
    assert b.metadata["n_train"] == 24 and len(ZarrSamples(sims / "train.zarr")) == 24
    (entry,) = b.metadata["lineage"]
    assert entry["file"] == str(first) and entry["n_train"] == 16 and entry["epochs"] == 2
    assert len(entry["sha256"]) == 64
    fresh = tmp_path / "fresh.pt"
    res = runner.invoke(app, [*base, "--out", str(fresh), "--train", "24", "--epochs", "1",
                              "--lr", "1e-12"])  # the initial weights of `first`
    assert res.exit_code == 0, res.output
    w = load_estimator(fresh).network.state_dict()
    assert any(not torch.allclose(w[k], v) for k, v in a.network.state_dict().items())
    # a second generation keeps the whole lineage
    res = runner.invoke(app, [*base, "--out", str(tmp_path / "third.pt"), "--train", "24",
                              "--epochs", "1", "--start-from", str(more)])
    assert res.exit_code == 0, res.output
    lineage = load_estimator(tmp_path / "third.pt").metadata["lineage"]
    assert [e["file"] for e in lineage] == [str(first), str(more)]

    bad = tmp_path / "bad.pt"
    for extra, words in ((["--width", "6"], "network differs in .*width"),
                         (["--prior", "range=0.05:0.8:log"], "simulation set-up differs"),
                         (["--estimator", "point"], "'quantile' estimator, not 'point'")):
        args = [*base, "--out", str(bad), "--train", "16", "--start-from", str(first),
                "--store", str(tmp_path / "other"), *extra]
        if extra[0] == "--prior":  # replaces the first --prior
            args[args.index("range=0.05:0.5:log")] = extra[1]
            args = args[:-2]
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and "--start-from" in res.output, res.output
        assert re.search(words, " ".join(res.output.split())), res.output
        assert not bad.exists() and not (tmp_path / "other").exists()
    res = runner.invoke(app, [*base, "--out", str(bad), "--train", "16", "--start-from",
                              str(tmp_path / "nope.pt")])
    assert res.exit_code == 2 and "nope.pt" in res.output, res.output
