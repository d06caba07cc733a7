"""fit() on hard cases: the search box kept by every stage, degenerate data refused, intervals
inside the parameters' domains, Ctrl-C ending the whole fit, and --resume from a journal."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from fieldfit.covariance import Exponential
from fieldfit.data import Observations
from fieldfit.fit import FitResult, fit
from fieldfit.models import GaussianField, build

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Spy(GaussianField):
    """Records every smoothness evaluated; Ctrl-C at the ``at``-th evaluation. The record is
    one object shared with the model's copies (its coarse stage's model)."""

    def log_likelihood(self, obs, params):
        rec = self.record
        rec["calls"] += 1
        if rec["at"] is not None and rec["calls"] == rec["at"]:
            raise KeyboardInterrupt
        if "smoothness" in params:
            rec["smoothness"].append(float(params["smoothness"].detach()))
        return super().log_likelihood(obs, params)

    @property
    def calls(self) -> int:
        return self.record["calls"]

    @property
    def smoothness(self) -> list[float]:
        return self.record["smoothness"]


def _spy(model, at=None):
    """The registry's ``model`` with a :class:`Spy` in its class (so its coarse copies spy)."""
    cls = type("Spy" + type(model).__name__, (Spy, type(model)), {})
    model.__class__ = cls
    model.record = {"at": at, "calls": 0, "smoothness": []}
    return model


@pytest.fixture(scope="module")
def smooth_obs():
    # a very smooth field (squared-exponential, tiny nugget): the Matérn likelihood keeps
    # rising with ν, so the optimum is on the box's edge ν = 30
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(150, 2))
    y = build("gaussian").simulate(
        x, {"variance": 1.0, "range": 0.3, "nugget": 1e-4, "mean": 0.0}, seed=2)[0]
    return Observations(coords=x, values=y)


def test_refinement_stage_never_leaves_the_search_box(smooth_obs):
    # the preconditioned BFGS after the coarse Vecchia stage used to step to ν = 107 (each
    # evaluation slower as ν grows) and check the box only at the end
    m = _spy(build("matern", engine="vecchia"))
    upper = m.param_space(smooth_obs)["smoothness"].search[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # the edge warning
        res = fit(m, smooth_obs, restarts=0, progress=False, stderr=False)
    assert max(m.smoothness) <= upper * (1 + 1e-12), max(m.smoothness)
    assert res.params["smoothness"] == pytest.approx(upper, rel=1e-9)
    assert res.on_edge == ["smoothness"]


def test_constant_values_are_refused(field_obs):
    obs = Observations(coords=field_obs.coords, values=np.full(field_obs.n, 2.5))
    with pytest.raises(ValueError, match="all equal .*constant data"):
        fit(build("matern"), obs, progress=False)


def test_too_few_values_for_the_parameters_are_refused(field_obs):
    two = field_obs.subset(slice(0, 2))
    # matern: variance, range, smoothness, nugget + the mean = 5 parameters on 2 values
    with pytest.raises(ValueError, match="2 observed value.* cannot carry 5 parameters"):
        fit(build("matern"), two, progress=False)
    with pytest.raises(ValueError, match="1 observed value"):
        fit(build("exponential"), field_obs.subset(slice(0, 1)), progress=False)


def test_one_location_is_refused(field_obs):
    obs = Observations(coords=np.zeros((6, 2)), values=np.arange(6.0))
    with pytest.raises(ValueError, match="all 6 observations are at one location"):
        fit(build("exponential"), obs, progress=False)


def test_intervals_of_positive_parameters_stay_positive():
    # few data, a large standard error of the variance: the natural-scale Wald interval
    # θ ± 1.96 se goes below 0; on the log scale it is θ·exp(±1.96 se/θ)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(25, 2))
    y = GaussianField(Exponential(), mean="constant").simulate(
        x, {"variance": 1.0, "range": 0.4, "nugget": 0.05, "mean": 0.0}, seed=1)[0]
    res = fit(GaussianField(Exponential(), mean="constant"), Observations(coords=x, values=y),
              progress=False)
    assert res.scales["variance"] == "log" and res.scales["mean"] == "identity"
    z = 1.959963984540054
    for k in ("variance", "range", "nugget"):
        t, se = res.params[k], res.stderr[k]
        lo, hi = res.confidence_interval(k)
        assert 0 < lo < t < hi
        assert lo == pytest.approx(t * math.exp(-z * se / t), rel=1e-12)
        assert math.log(hi) - math.log(t) == pytest.approx(math.log(t) - math.log(lo))
    assert any(res.params[k] - z * res.stderr[k] < 0 for k in ("variance", "range", "nugget"))
    lo, hi = res.confidence_interval("mean")
    assert (lo + hi) / 2 == pytest.approx(res.params["mean"], rel=1e-12)
    # the JSON carries the intervals and says how they were formed; they survive a round trip
    d = json.loads(res.to_json())
    assert d["intervals"]["variance"] == pytest.approx(list(res.confidence_interval("variance")))
    assert "log" in d["interval_method"]
    back = FitResult.from_json(res.to_json())
    assert back.confidence_interval("range") == pytest.approx(res.confidence_interval("range"))


def test_interval_on_a_bounded_parameter_stays_inside_it():
    res = FitResult(model="m", engine="exact", params={"rho": 0.95}, stderr={"rho": 0.08},
                    loglik=0.0, n=10, seconds=0.0, scales={"rho": ["logit", -1.0, 1.0]})
    lo, hi = res.confidence_interval("rho")
    assert -1 < lo < 0.95 < hi < 1
    # the logit-scale interval: u = logit((ρ+1)/2), se_u = se / (2 p (1 − p))
    p = (0.95 + 1) / 2
    u, se_u = math.log(p / (1 - p)), 0.08 / (2 * p * (1 - p))
    want = -1 + 2 / (1 + math.exp(-(u + 1.959963984540054 * se_u)))
    assert hi == pytest.approx(want, rel=1e-12)


def test_ctrl_c_in_the_coarse_stage_ends_the_fit(field_obs):
    # Ctrl-C during the coarse Vecchia search used to return from that stage and carry on
    # into the fine one: now the fit ends there, with the coarse stage's best point
    m = _spy(build("exponential", engine="vecchia", neighbours=20), at=6)
    with pytest.warns(UserWarning, match="interrupted"):
        res = fit(m, field_obs, restarts=0, progress=False)
    assert res.interrupted and not res.converged
    assert "coarse stage" in res.message
    assert m.calls == 6                       # nothing evaluated after Ctrl-C
    assert all(res.stderr[k] is None for k in ("variance", "range", "nugget"))
    assert json.loads(res.to_json())["interrupted"] is True


def test_resume_replays_the_journal_to_the_same_answer(field_obs, tmp_path):
    ckpt = tmp_path / "fit.checkpoint.jsonl"
    full_spy = _spy(GaussianField(Exponential(), mean="constant"))
    full = fit(full_spy, field_obs, restarts=1, progress=False)
    # interrupted at the 15th evaluation: the journal is kept
    with pytest.warns(UserWarning, match="interrupted"):
        part = fit(_spy(GaussianField(Exponential(), mean="constant"), at=15), field_obs,
                   restarts=1, progress=False, checkpoint=ckpt)
    assert part.interrupted and ckpt.exists()
    lines = ckpt.read_text().splitlines()
    assert len(lines) == 1 + 14                # the header and 14 evaluations
    # a torn last line (a process killed while writing) is ignored
    ckpt.write_text("\n".join(lines) + '\n{"s": "fine", "k": "f", "u": [0.1')
    spy = _spy(GaussianField(Exponential(), mean="constant"))
    res = fit(spy, field_obs, restarts=1, progress=False, checkpoint=ckpt, resume=True)
    assert spy.calls == full_spy.calls - 14     # only the rest computed
    assert "14 evaluations replayed" in res.message
    for k in full.params:
        assert res.params[k] == full.params[k], k          # bit for bit
        assert res.stderr[k] == full.stderr[k], k
    assert res.loglik == full.loglik and res.evaluations == full.evaluations
    assert not ckpt.exists()                                # finished: journal removed


def test_resume_refuses_another_fits_checkpoint(field_obs, tmp_path):
    ckpt = tmp_path / "c.jsonl"
    with pytest.warns(UserWarning, match="interrupted"):
        fit(_spy(GaussianField(Exponential(), mean="constant"), at=5), field_obs,
            progress=False, checkpoint=ckpt)
    other = Observations(coords=field_obs.coords, values=field_obs.values + 1.0)
    with pytest.raises(ValueError, match="belongs to a different fit"):
        fit(GaussianField(Exponential(), mean="constant"), other, progress=False,
            checkpoint=ckpt, resume=True)
    with pytest.raises(ValueError, match="resume=True needs a checkpoint"):
        fit(GaussianField(Exponential(), mean="constant"), field_obs, progress=False,
            resume=True)
