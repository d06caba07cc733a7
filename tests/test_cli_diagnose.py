"""``fieldfit diagnose`` and ``fieldfit train-estimator --diagnostics``, end to end."""

import json

import pytest
import torch
from typer.testing import CliRunner

from fieldfit.cli import app

TRAIN = ["train-estimator", "--model", "exponential", "--prior", "range=0.05:0.5:log",
         "--prior", "mean=-2:2", "--fix", "variance=1", "--no-nugget", "--design", "uniform",
         "--n-min", "20", "--n-max", "30", "--train", "32", "--val", "8", "--epochs", "1",
         "--width", "4", "--on-the-fly", "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny quantile estimator trained through the CLI, its diagnostics on 30 simulations
    written beside it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("diag")
    res = CliRunner().invoke(app, [*TRAIN, "--out", str(folder / "est.pt"),
                                   "--diagnostics", "30"])
    torch.set_num_threads(before)
    assert res.exit_code == 0, res.output
    return folder, res.output


def test_train_estimator_writes_its_diagnostics_beside_the_estimator(trained):
    folder, output = trained
    data = json.loads((folder / "est.diagnostics.json").read_text())
    assert data["kind"] == "quantile" and data["simulations"] == 30
    assert data["params"] == ["range", "mean"] and set(data["verdicts"]) == {"sbc", "coverage"}
    assert sorted(p.name for p in (folder / "est-diagnostics").iterdir()) == [
        "coverage.png", "sbc_ranks.png"]
    assert "diagnostics: quantile estimator, 30 simulations: sbc" in output


def test_diagnose_end_to_end(trained, tmp_path):
    folder, _ = trained
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["diagnose", "--estimator", str(folder / "est.pt"),
                                   "--simulations", "20", "--seed", "3", "--out", str(out),
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "diagnostics.json").read_text())
    assert data["simulations"] == 20 and data["seed"] == 3
    assert sum(data["sbc"]["histograms"]["mean"]["counts"]) == 20
    assert (out / "sbc_ranks.png").read_bytes()[:4] == b"\x89PNG"
    assert f"written to {out}" in res.output


def test_diagnose_and_train_refuse_bad_input_before_any_work(trained, tmp_path):
    folder, _ = trained
    runner = CliRunner()
    out = tmp_path / "report"
    res = runner.invoke(app, ["diagnose", "--estimator", str(tmp_path / "missing.pt"),
                              "--out", str(out)])
    assert res.exit_code == 2 and "no estimator file" in res.output, res.output
    res = runner.invoke(app, ["diagnose", "--estimator", "no-such-name", "--out", str(out)])
    assert res.exit_code == 2 and "no estimator named 'no-such-name'" in res.output
    for n in ("0", "-5"):
        res = runner.invoke(app, ["diagnose", "--estimator", str(folder / "est.pt"),
                                  "--simulations", n, "--out", str(out)])
        assert res.exit_code == 2 and "--simulations must be an integer >= 1" in res.output
    (tmp_path / "afile").write_text("x")
    res = runner.invoke(app, ["diagnose", "--estimator", str(folder / "est.pt"),
                              "--out", str(tmp_path / "afile")])
    assert res.exit_code == 2 and "is a file" in res.output
    assert not out.exists()
    res = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "e.pt"), "--diagnostics", "-1"])
    assert res.exit_code == 2 and "--diagnostics" in res.output, res.output
    assert list(tmp_path.iterdir()) == [tmp_path / "afile"]          # nothing trained
