"""A fit redirected to a log writes a progress line every interval (the bar is for
terminals), and none when progress is switched off."""

import io

import numpy as np

import fieldfit
from fieldfit import Observations
from fieldfit.fit import progress
from fieldfit.fit.progress import ProgressLines
from fieldfit.models import build


def _data():
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (60, 2))
    model = build("exponential")
    y = model.simulate(x, {"variance": 1.0, "range": 0.2, "nugget": 0.1, "mean": 0.0},
                       seed=1)[0]
    return model, Observations(coords=x, values=y)


def test_lines_come_at_most_once_per_interval():
    out = io.StringIO()
    lines = ProgressLines("fit m", interval=3600, stream=out)
    lines.update(1, -10.0, -10.0)
    assert out.getvalue() == "" and lines.lines == 0
    lines.interval = 0.0
    lines.update(7, -12.5, -9.25)
    text = out.getvalue()
    assert text.startswith("fit m: 7 evaluations, loglik -12.5000 (best -9.2500), ")
    assert text.rstrip().endswith(" s") and lines.lines == 1


def test_a_fit_in_a_log_writes_progress_lines(capfd, monkeypatch):
    model, obs = _data()
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.0)   # a line at every evaluation
    res = fieldfit.fit(model, obs, restarts=0, stderr=False)     # stderr captured: a log
    err = capfd.readouterr().err
    lines = [s for s in err.splitlines() if s.startswith("fit exponential: ")]
    assert len(lines) >= 5 and "evaluations, loglik" in lines[-1]
    assert f"(best {res.loglik:.4f})" in lines[-1]
    fieldfit.fit(model, obs, restarts=0, stderr=False, progress=False)
    assert "evaluations, loglik" not in capfd.readouterr().err
