"""Conformal widening of quantile-estimator intervals (QuantileEstimator.calibrate)."""

import numpy as np
import pytest
import torch

from fieldfit.neural import NeuralEstimator, QuantileEstimator
from fieldfit.neural.recipes import build_spec
from fieldfit.neural.summaries import GNNSummary


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _overconfident(rng, b):
    """Quantiles (b, 2, 3) whose 90 % intervals are too narrow (true sd 1, claimed 0.5 on the
    logit scale; one parameter with a shifted median), and the truths u (b, 2)."""
    y = rng.normal(size=(b, 2))
    mid = y + rng.normal(size=(b, 2)) + np.array([0.0, 0.3])
    half = 1.645 * 0.5
    q = _expit(np.stack([mid - half, mid, mid + half], -1))
    return q, _expit(y)


def test_calibration_gives_nominal_coverage_on_fresh_data_and_keeps_medians():
    rng = np.random.default_rng(0)
    net = QuantileEstimator(GNNSummary(width=4, layers=1, out=4, k=3), 2)
    q, u = _overconfident(rng, 2000)
    raw = ((q[..., 0] <= u) & (u <= q[..., 2])).mean(0)
    assert (raw < 0.65).all()                       # the interval claims 90 %, holds ~59 %
    widening = net.calibrate(q, u)
    assert all(w > 0.5 for w in widening)          # ~ (sd 1 / 0.5 claimed) − 1 = 1
    assert net.config()["widening"] == widening

    def widened(q):
        lg = np.log(q) - np.log1p(-q)
        mid = lg[..., 1:2]
        return _expit(mid + (1 + np.array(widening))[:, None] * (lg - mid))

    w = widened(q)                                  # on the calibration set: ≥ the level
    cal = ((w[..., 0] <= u + 1e-12) & (u <= w[..., 2] + 1e-12)).mean(0)
    assert (cal >= 0.9).all() and (cal <= 0.9 + 2 / 2000).all()
    q2, u2 = _overconfident(rng, 4000)              # on fresh data: near the level
    w2 = widened(q2)
    fresh = ((w2[..., 0] <= u2) & (u2 <= w2[..., 2])).mean(0)
    np.testing.assert_allclose(fresh, 0.9, atol=0.02)
    np.testing.assert_allclose(w2[..., 1], q2[..., 1], rtol=1e-12)


def test_estimate_unit_applies_the_widening_and_it_is_saved(tmp_path):
    spec = build_spec(n_min=20, n_max=30)
    torch.manual_seed(0)
    net = QuantileEstimator(GNNSummary(width=4, layers=1, out=4, k=3), len(spec.prior))
    items = [(s.coords, s.values) for s in spec.simulate(4, seed=0)]
    before = net.estimate_unit(net.collate(items))
    net.widening = [0.5, 0.0, -0.5, 1.0]
    after = net.estimate_unit(net.collate(items))
    np.testing.assert_allclose(after["estimate"], before["estimate"], rtol=1e-12)
    width = after["q0.95"] - after["q0.05"]
    raw = before["q0.95"] - before["q0.05"]
    assert (width[:, 0] > raw[:, 0]).all() and (width[:, 2] < raw[:, 2]).all()
    np.testing.assert_allclose(width[:, 1], raw[:, 1], rtol=1e-12)
    loaded = NeuralEstimator.load(NeuralEstimator(net, spec).save(tmp_path / "w.pt")).network
    assert loaded.widening == net.widening
    cfg = net.config()
    del cfg["widening"]                           # a network saved before widening existed
    from fieldfit.neural.base import estimator_from_config
    assert estimator_from_config(cfg).widening is None


def test_calibration_refusals():
    net = QuantileEstimator(GNNSummary(width=4, layers=1, out=4, k=3), 2)
    q, u = _overconfident(np.random.default_rng(1), 5)
    with pytest.raises(ValueError, match="at least 9 datasets"):
        net.calibrate(q, u)
    with pytest.raises(ValueError, match="quantiles"):
        net.calibrate(q[:, :1], u)
    with pytest.raises(ValueError, match="widening"):
        QuantileEstimator(GNNSummary(width=4, layers=1, out=4, k=3), 2, widening=[0.1])


def test_train_estimator_refuses_calibration_before_training(tmp_path):
    from fieldfit.neural.recipes import train_estimator

    for kind, n in (("point", 50), ("quantile", -1)):
        with pytest.raises(ValueError, match="interval calibration"):
            train_estimator(build_spec(n_min=20, n_max=30), tmp_path / "x.pt", kind, n_train=10,
                            n_val=4, n_calibrate=n, progress=False)
    assert not list(tmp_path.iterdir())              # nothing simulated, trained or saved
