"""Calibration diagnostics (fieldfit.diagnostics.calibration): each one passes an exact
posterior and detects one shrunk by half, on a conjugate Gaussian problem; and a tiny trained
estimator of each kind run end to end through ``calibrate``."""

import json

import numpy as np
import pytest
import torch
from scipy.stats import norm

from fieldfit.diagnostics.calibration import (
    DIAGNOSTICS_START,
    CalibrationSubject,
    NeuralSubject,
    calibrate,
)

SIGMA = 0.7          # x | θ ~ N(θ, σ²) per parameter, θ ~ N(0, 1)


class Conjugate(CalibrationSubject):
    """θ ~ N(0, I₂), x | θ ~ N(θ, σ² I₂): the exact posterior is N(x/(1 + σ²), σ²/(1 + σ²))
    per parameter. ``shrink`` < 1 contracts the draws (kind "posterior") or the quantiles
    (kind "quantile") about the posterior mean by that factor."""

    names = ["a", "b"]

    def __init__(self, kind="posterior", shrink=1.0, probs=(0.05, 0.25, 0.5, 0.75, 0.95)):
        self.kind, self.shrink, self.probs = kind, shrink, probs

    def simulate(self, count, seed, progress=False):
        rng = np.random.default_rng(seed)
        theta = rng.normal(size=(count, 2))
        return theta, theta + SIGMA * rng.normal(size=(count, 2))

    def _moments(self, x):
        return np.asarray(x) / (1 + SIGMA**2), SIGMA / np.sqrt(1 + SIGMA**2)

    def estimate(self, datasets):
        return self._moments(datasets)[0]

    def quantiles(self, datasets):
        m, s = self._moments(datasets)
        return {p: m + self.shrink * s * norm.ppf(p) for p in self.probs}

    def draws(self, datasets, n, seed):
        if self.kind != "posterior":
            return None
        m, s = self._moments(datasets)
        rng = np.random.default_rng([seed, 7])
        return m + self.shrink * s * rng.normal(size=(n, *m.shape))

    def features(self, datasets):
        return np.asarray(datasets)


@pytest.fixture(scope="module")
def reports():
    """Each diagnostic on the exact posterior and on one shrunk by half (L-C2ST needs a few
    hundred simulations to see it: 600)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    for shrink in (1.0, 0.5):
        out["posterior", shrink] = calibrate(Conjugate("posterior", shrink), simulations=600,
                                             seed=0, draws=200, lc2st_observations=2,
                                             lc2st_trials=20)
        out["quantile", shrink] = calibrate(Conjugate("quantile", shrink), simulations=300,
                                            seed=0)
    torch.set_num_threads(before)
    return out


@pytest.mark.parametrize("diagnostic", ["sbc", "coverage", "tarp", "lc2st"])
def test_each_draw_diagnostic_passes_the_exact_posterior_and_detects_a_shrunk_one(
        reports, diagnostic):
    good, bad = reports["posterior", 1.0], reports["posterior", 0.5]
    assert good.verdicts[diagnostic] is True
    assert bad.verdicts[diagnostic] is False


def test_the_numbers_behind_the_verdicts(reports):
    good, bad = reports["posterior", 1.0].to_dict(), reports["posterior", 0.5].to_dict()
    # shrunk by half: the 90% interval holds P(|Z| < 1.645 / 2) ≈ 59%
    row = next(r for r in bad["coverage"]["table"] if r["level"] == 0.9)
    assert all(abs(c - (2 * norm.cdf(1.645 / 2) - 1)) < 0.06 for c in row["coverage"].values())
    row = next(r for r in good["coverage"]["table"] if r["level"] == 0.9)
    assert all(abs(c - 0.9) < 0.04 for c in row["coverage"].values())
    assert bad["tarp"]["atc"] < -0.03 < good["tarp"]["atc"]        # too narrow: below
    assert min(bad["sbc"]["ks_pvalues"].values()) < 1e-4
    assert bad["lc2st"]["statistic"] > 3 * good["lc2st"]["statistic"]
    h = good["sbc"]["histograms"]["a"]                              # ranks in 0 … 200
    assert sum(h["counts"]) == 600 and h["edges"][0] == 0 and h["edges"][-1] == 201
    np.testing.assert_allclose(sum(h["expected"]), 600)
    assert good["tarp"]["ecp"][0] == 0 and abs(good["tarp"]["ecp"][-1] - 1) < 1e-6


@pytest.mark.parametrize("diagnostic", ["sbc", "coverage"])
def test_quantile_diagnostics_pass_exact_quantiles_and_detect_intervals_shrunk_by_half(
        reports, diagnostic):
    good, bad = reports["quantile", 1.0], reports["quantile", 0.5]
    assert good.verdicts[diagnostic] is True and bad.verdicts[diagnostic] is False
    assert set(good.verdicts) == {"sbc", "coverage"}
    assert set(good.not_applicable) == {"tarp", "lc2st"}
    levels = [r["level"] for r in good.coverage["table"]]
    assert levels == [0.5, 0.9]                     # the pairs (0.25, 0.75), (0.05, 0.95)
    counts = good.sbc["histograms"]["b"]["counts"]
    assert len(counts) == 6 and sum(counts) == 300  # 5 quantiles: 6 bins


def test_report_writes_json_and_pngs_as_one_set(reports, tmp_path):
    paths = reports["posterior", 0.5].write(tmp_path / "d.json", tmp_path / "plots")
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["verdicts"] == {"sbc": False, "coverage": False, "tarp": False, "lc2st": False}
    assert data["posterior_draws"] == 200 and data["params"] == ["a", "b"]
    for name in ("sbc_ranks.png", "coverage.png", "tarp.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(paths) == 4
    reports["quantile", 1.0].write(tmp_path / "q" / "d.json")
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == [
        "coverage.png", "d.json", "sbc_ranks.png"]     # no TARP for a quantile estimator


def test_bad_arguments_are_refused_before_any_work():
    class Boom(Conjugate):
        def simulate(self, *a, **k):
            raise AssertionError("simulated")

    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="simulations must be an integer >= 1"):
            calibrate(Boom(), simulations=bad)
    with pytest.raises(ValueError, match="draws"):
        calibrate(Boom(), simulations=10, draws=1)
    with pytest.raises(ValueError, match="no estimator file"):
        calibrate("/nonexistent/est.pt", simulations=10)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny estimator of each kind, trained one epoch on 32 simulations."""
    from fieldfit.neural.recipes import build_spec, train_estimator
    from fieldfit.neural.training import TrainingSettings

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny")
    spec = build_spec(model="exponential", n_min=20, n_max=30)
    out = {}
    for kind in ("posterior", "ratio", "quantile", "point"):
        out[kind] = train_estimator(
            spec, folder / f"{kind}.pt", kind, n_train=32, n_val=8, seed=0,
            settings=TrainingSettings(epochs=1, batch_size=16, seed=0),
            network_options={"width": 4}, progress=False)
    torch.set_num_threads(before)
    return out


@pytest.mark.parametrize("kind", ["posterior", "ratio", "quantile", "point"])
def test_calibrate_runs_end_to_end_on_a_tiny_trained_estimator(tiny, kind, tmp_path):
    est = tiny[kind]
    report = calibrate(est, simulations=30, seed=1, draws=40, lc2st_observations=1,
                       lc2st_trials=3)
    p = len(est.names)
    data = report.to_dict()
    assert data["kind"] == kind and data["params"] == est.names and data["simulations"] == 30
    assert all(np.isfinite(v) for v in data["accuracy"]["rmse"].values())
    if kind in ("posterior", "ratio"):
        assert set(report.verdicts) == {"sbc", "coverage", "tarp", "lc2st"}
        for name in est.names:
            assert sum(data["sbc"]["histograms"][name]["counts"]) == 30
            curve = data["coverage"]["curve"]["coverage"][name]
            assert len(curve) == 19 and all(0 <= c <= 1 for c in curve)
        assert np.all(np.diff(data["tarp"]["ecp"]) >= -1e-6)
        assert 0 <= data["lc2st"]["pvalue"] <= 1 and len(data["lc2st"]["statistics"]) == 1
        # the intervals fieldfit estimate reports (90%) are judged too
        assert [r["level"] for r in data["coverage"]["reported_intervals"]] == [0.9]
    elif kind == "quantile":
        assert set(report.verdicts) == {"sbc", "coverage"}
        assert len(data["sbc"]["histograms"][est.names[0]]["counts"]) == 4
    else:
        assert report.verdicts == {}
        assert set(data["not_applicable"]) == {"sbc", "coverage", "tarp", "lc2st"}
    report.write(tmp_path / "d.json")
    assert json.loads((tmp_path / "d.json").read_text())["kind"] == kind
    assert len(list(tmp_path.glob("*.png"))) == {"posterior": 3, "ratio": 3, "quantile": 2,
                                                 "point": 0}[kind]
    assert data["params"] == est.names and p == len(data["accuracy"]["bias"])


def test_neural_subject_simulates_fresh_indices_and_draws_inside_the_box(tiny):
    est = tiny["ratio"]
    subject = NeuralSubject(est)
    truth, data = subject.simulate(3, seed=4)
    expected = est.spec.simulate(range(DIAGNOSTICS_START, DIAGNOSTICS_START + 3), seed=4)
    np.testing.assert_array_equal(data[1][1], expected[1].values)
    np.testing.assert_allclose(truth, est.spec.prior.to_unit(
        np.stack([s.theta for s in expected])))
    draws = subject.draws(data, 25, seed=0)
    assert draws.shape == (25, 3, len(est.names))
    cand = est.network.candidates()                 # ratio draws lie on its candidate grid
    assert all((np.abs(cand - d).sum(1) == 0).any() for d in draws[:, 0])
    post = NeuralSubject(tiny["posterior"]).draws(data, 25, seed=0)
    assert post.shape == (25, 3, len(est.names)) and ((post > 0) & (post < 1)).all()
    assert NeuralSubject(tiny["point"]).draws(data, 25, seed=0) is None
