"""``fieldfit fit`` as a process: Ctrl-C once, Ctrl-C twice, and SIGKILL then ``--resume``.

Each test runs the real command in a subprocess (one thread, so that an interrupted and
resumed fit compute the same numbers as an uninterrupted one) and signals it once its
checkpoint shows the likelihood being evaluated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fieldfit.models import build

OLD = '{"old": "a previous good result"}\n'
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(1500, 2))
    z = build("matern", smoothness=1.5).simulate(
        x, {"variance": 1.0, "range": 0.1, "nugget": 0.1, "mean": 0.0}, seed=1)[0]
    z[-20:] = np.nan                                     # prediction targets
    path = tmp_path_factory.mktemp("interrupt") / "data.csv"
    pd.DataFrame({"x": x[:, 0], "y": x[:, 1], "z": z}).to_csv(path, index=False)
    return path


def _command(data, out, *extra):
    return [sys.executable, "-m", "fieldfit.cli", "fit", str(data), "--coords", "x,y",
            "--value", "z", "--engine", "vecchia", "--neighbours", "15", "--restarts", "0",
            "--fix", "smoothness=1.5", "--no-progress", "--out", str(out), *extra]


def _start(data, out, *extra):
    return subprocess.Popen(_command(data, out, *extra), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_evaluations(proc, checkpoint: Path, k: int, timeout: float = 120.0):
    """Until the checkpoint journals ``k`` evaluations (the fit is under way)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise AssertionError(f"the fit ended early: {proc.communicate()}")
        if checkpoint.exists() and len(checkpoint.read_text().splitlines()) > k:
            return
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the fit never started evaluating")


def test_one_ctrl_c_stops_the_fit_and_writes_the_best_point_beside_the_outputs(data,
                                                                              tmp_path):
    out = tmp_path / "result.json"
    out.write_text(OLD)
    proc = _start(data, out)
    _wait_for_evaluations(proc, tmp_path / "result.checkpoint.jsonl", 3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (stdout, stderr)
    assert out.read_text() == OLD                          # OUT untouched
    side = json.loads((tmp_path / "result.interrupted.json").read_text())
    assert side["interrupted"] is True and side["converged"] is False
    assert all(np.isfinite(v) for v in side["params"].values())
    assert np.isfinite(side["loglik"])
    assert "interrupted" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr


def test_a_second_ctrl_c_exits_at_once_touching_nothing(data, tmp_path):
    out, pred = tmp_path / "result.json", tmp_path / "pred.csv"
    out.write_text(OLD)
    pred.write_text("id,mean,sd\n")
    proc = _start(data, out, "--predictions", pred)
    _wait_for_evaluations(proc, tmp_path / "result.checkpoint.jsonl", 3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert out.read_text() == OLD and pred.read_text() == "id,mean,sd\n"


def test_the_second_ctrl_c_does_not_wait_for_the_first_to_be_handled():
    # the mechanism alone: code that catches the first KeyboardInterrupt and carries on
    # (slow cleanup, or an optimiser that swallows it) is cut short by the second
    script = textwrap.dedent("""
        import os, signal, time
        from fieldfit.cli.outputs import two_step_interrupt
        with two_step_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                print("first", flush=True)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)          # never reached: the second exits at once
            print("carried on", flush=True)
    """)
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 130
    assert res.stdout.split() == ["first"]
    assert "interrupted again" in res.stderr
    assert time.monotonic() - t0 < 20


def test_a_fit_killed_with_sigkill_resumes_to_the_same_answer(data, tmp_path):
    full = tmp_path / "full.json"
    subprocess.run(_command(data, full), env=ENV, check=True, capture_output=True, timeout=300)
    reference = json.loads(full.read_text())
    assert not (tmp_path / "full.checkpoint.jsonl").exists()   # removed when finished

    out = tmp_path / "result.json"
    out.write_text(OLD)
    checkpoint = tmp_path / "result.checkpoint.jsonl"
    proc = _start(data, out)
    _wait_for_evaluations(proc, checkpoint, 12)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert out.read_text() == OLD and checkpoint.exists()
    journaled = len(checkpoint.read_text().splitlines()) - 1

    res = subprocess.run(_command(data, out, "--resume"), env=ENV, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    resumed = json.loads(out.read_text())
    assert resumed["params"] == reference["params"]          # bit for bit
    assert resumed["stderr"] == reference["stderr"]
    assert resumed["loglik"] == reference["loglik"]
    assert resumed["evaluations"] == reference["evaluations"]
    assert "evaluations replayed" in resumed["message"]
    assert journaled >= 12
    assert not checkpoint.exists()
