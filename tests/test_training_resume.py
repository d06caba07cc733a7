"""Training checkpoints and ``--resume``: a training killed after any epoch and resumed from
its checkpoint ends with the weights and history of a run never stopped (CPU, one thread).

In process, the kill is an exception raised from ``train``'s epoch callback; in a
subprocess, ``fieldfit train-estimator`` is sent SIGKILL once its first checkpoint exists
(marked slow). A checkpoint of a run with other options is refused before any simulation."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import fieldfit  # noqa: F401
from fieldfit.cli import app
from fieldfit.neural import Bound, load_estimator
from fieldfit.neural.recipes import build_network, build_spec, run_fingerprint
from fieldfit.neural.training import TrainingSettings, read_checkpoint, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Killed(Exception):
    """Stands for SIGKILL: ends the run after an epoch's checkpoint."""


def _setup(seed=0):
    spec = build_spec("exponential", {"range": Bound(0.05, 0.5, "loguniform")},
                      {"variance": 1.0}, design="uniform", n_min=30, n_max=50, nugget=False)
    torch.manual_seed(seed)
    net = build_network("quantile", spec, width=8, out=8)
    return spec, net


@pytest.fixture(scope="module")
def samples():
    spec, _ = _setup()
    return spec.simulate(48, seed=0), spec.simulate(range(10**9, 10**9 + 16), seed=0)


def _run(tmp_path, samples, kill_after=None, resume=False, settings=None, fingerprint=None):
    spec, net = _setup()
    st = settings or TrainingSettings(epochs=5, batch_size=16, lr=3e-3, patience=50)
    fp = fingerprint or run_fingerprint(spec, net, "quantile", 48, 16, 0, False, st)

    def callback(epoch, hist):
        if kill_after is not None and epoch == kill_after:
            raise Killed

    hist = train(net, spec, *samples, st, checkpoint=tmp_path / "run.ckpt", progress=False,
                 resume=resume, fingerprint=fp, callback=callback)
    return net, hist


def _same(a, b):
    for (k, v), (k2, w) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert k == k2
        torch.testing.assert_close(v, w, rtol=0, atol=0, msg=k)


def test_a_killed_run_resumes_to_the_uninterrupted_answer(tmp_path, samples):
    (tmp_path / "a").mkdir()
    whole, hist = _run(tmp_path / "a", samples)
    assert hist.stopped == "epoch limit" and len(hist.val) == 5
    (tmp_path / "b").mkdir()
    with pytest.raises(Killed):
        _run(tmp_path / "b", samples, kill_after=1)
    state = read_checkpoint(tmp_path / "b" / "run.ckpt")
    assert state["last_epoch"] == 1 and len(state["history"]["val"]) == 2
    assert {"current", "state", "optimiser", "scheduler", "torch_rng", "numpy_rng",
            "fingerprint", "best", "bad"} <= set(state)
    resumed, hist2 = _run(tmp_path / "b", samples, resume=True)
    assert hist2.val == hist.val and hist2.train == hist.train
    assert hist2.best_epoch == hist.best_epoch and hist2.stopped == "epoch limit"
    _same(resumed, whole)
    # resuming a finished run goes straight to its end: the same best weights
    again, hist3 = _run(tmp_path / "b", samples, resume=True)
    assert hist3.val == hist.val
    _same(again, whole)


def test_a_fresh_run_differs_from_a_resumed_one_without_its_checkpoint_state(tmp_path,
                                                                            samples):
    """The equality above is no accident: training from scratch for the remaining epochs
    (the weights of the checkpoint but a fresh optimiser) gives other weights."""
    (tmp_path / "a").mkdir()
    whole, _ = _run(tmp_path / "a", samples)
    (tmp_path / "b").mkdir()
    with pytest.raises(Killed):
        _run(tmp_path / "b", samples, kill_after=1)
    spec, net = _setup()
    net.load_state_dict(read_checkpoint(tmp_path / "b" / "run.ckpt")["current"])
    train(net, spec, *samples, TrainingSettings(epochs=3, batch_size=16, lr=3e-3,
                                                patience=50), progress=False)
    diff = max(float((v - w).abs().max()) for v, w in zip(
        net.state_dict().values(), whole.state_dict().values(), strict=True))
    assert diff > 1e-6


def test_resume_is_refused_without_a_checkpoint_or_with_other_options(tmp_path, samples):
    with pytest.raises(ValueError, match="no training checkpoint"):
        _run(tmp_path, samples, resume=True)
    with pytest.raises(Killed):
        _run(tmp_path, samples, kill_after=0)
    other = TrainingSettings(epochs=5, batch_size=8, lr=3e-3, patience=50)
    with pytest.raises(ValueError, match="other options.*settings"):
        _run(tmp_path, samples, resume=True, settings=other,
             fingerprint=run_fingerprint(*_setup(), "quantile", 48, 16, 0, False, other))
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a fieldfit training checkpoint"):
        read_checkpoint(tmp_path / "junk.ckpt")


TRAIN = ["train-estimator", "--model", "exponential", "--prior", "range=0.05:0.5:log",
         "--fix", "variance=1", "--no-nugget", "--design", "uniform", "--n-min", "30",
         "--n-max", "50", "--val", "16", "--width", "8", "--batch-size", "16",
         "--lr", "3e-3", "--patience", "50", "--scheduler", "synchronous", "--no-progress"]


def test_cli_resume_checks_the_options_before_any_simulation(tmp_path):
    runner = CliRunner()
    out = tmp_path / "e.pt"
    base = [*TRAIN, "--out", str(out), "--train", "32", "--epochs", "2",
            "--store", str(tmp_path / "sims")]
    res = runner.invoke(app, [*base, "--resume"])
    assert res.exit_code == 2 and "no training checkpoint" in res.output, res.output
    assert not (tmp_path / "sims").exists()                # refused before simulating
    res = runner.invoke(app, base)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*base, "--resume", "--seed", "1",
                              "--store", str(tmp_path / "sims1")])
    assert res.exit_code == 2 and "other options" in res.output and "seed" in res.output
    assert not (tmp_path / "sims1").exists()
    res = runner.invoke(app, [*base, "--resume", "--prior", "range=0.05:0.9:log"])
    assert res.exit_code == 2 and "other options" in res.output and "spec" in res.output
    res = runner.invoke(app, [*base, "--resume"])          # a finished run: same answer
    assert res.exit_code == 0, res.output
    saved = load_estimator(out)
    assert saved.metadata["resumed"] is True
    # the standardisation's target, measured on the validation simulations
    assert set(saved.metadata["value_target"]) == {"location", "scale"}
    res = runner.invoke(app, [*TRAIN, "--out", str(tmp_path / "e.txt"), "--train", "32"])
    assert res.exit_code == 2 and "--out" in res.output and ".pt" in res.output


@pytest.mark.slow
def test_train_estimator_killed_with_sigkill_resumes_to_the_same_estimator(tmp_path):
    """A subprocess ``fieldfit train-estimator`` is killed (SIGKILL) once its first
    checkpoint is on disk, then resumed with ``--resume``: its saved estimator has the weights
    and validation history of an uninterrupted run of the same command."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    exe = [sys.executable, "-c", "import sys; from fieldfit.cli import main; sys.argv[0] = "
           "'fieldfit'; main()"]

    def command(folder: Path):
        return [*exe, *TRAIN, "--out", str(folder / "e.pt"), "--train", "256", "--epochs",
                "12", "--store", str(tmp_path / "sims")]

    whole = tmp_path / "whole"
    whole.mkdir()
    subprocess.run(command(whole), check=True, env=env, capture_output=True, timeout=300)
    killed = tmp_path / "killed"
    killed.mkdir()
    proc = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt = killed / "e.ckpt"
    deadline = time.monotonic() + 240
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "e.pt").exists()
    epoch = read_checkpoint(ckpt)["last_epoch"]
    assert epoch < 11
    done = subprocess.run([*command(killed), "--resume"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    a, b = load_estimator(whole / "e.pt"), load_estimator(killed / "e.pt")
    assert a.metadata["training"]["val"] == b.metadata["training"]["val"]
    _same(a.network, b.network)
    data = [(s.coords, s.values) for s in a.spec.simulate(4, seed=99)]
    np.testing.assert_array_equal(a.estimate(data).to_numpy(), b.estimate(data).to_numpy())
