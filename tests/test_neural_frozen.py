"""Training ψ and the head on frozen graph convolutions (fieldfit.neural.frozen)."""

import numpy as np
import pytest
import torch

from fieldfit.neural import (
    Bound,
    CNNSummary,
    ModelSpec,
    NeuralEstimator,
    PointEstimator,
    Prior,
    QuantileEstimator,
    SimulationSpec,
    TrainingSettings,
    UniformDesign,
)
from fieldfit.neural.frozen import pooled_inputs, train_frozen_graph
from fieldfit.neural.summaries import GNNSummary


def test_pooled_inputs_give_the_networks_own_outputs():
    """φ's replicate means with the expert and pilot summaries reproduce the full network's
    output (two replicates: the mean over replicates is taken as the network takes it)."""
    spec = SimulationSpec(ModelSpec("exponential"),
                          Prior({"range": Bound(0.05, 0.5), "mean": Bound(-2.0, 2.0)},
                                fixed={"variance": 1.0, "nugget": 0.1}),
                          UniformDesign(30, 50), (1, 3))
    torch.manual_seed(0)
    net = QuantileEstimator(GNNSummary(width=8, layers=2, out=8, k=5, pilot=True, psi=(12,)),
                            2).eval()
    samples = spec.simulate(7, seed=3)
    assert {s.values.shape[0] for s in samples} != {1}
    pooled, u = pooled_inputs(net, samples, spec, batch_size=3, progress=False)
    with torch.no_grad():
        full = net(net.collate([(s.coords, s.values) for s in samples]))
        torch.testing.assert_close(net(pooled), full, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(net(pooled.select(torch.tensor([4, 1]))), full[[4, 1]],
                                   rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(u.numpy(), spec.prior.to_unit(np.stack([s.theta for s in samples])),
                               rtol=1e-6)


def test_frozen_graph_training_keeps_phi_and_beats_the_prior(tmp_path):
    """Exponential field, range and mean unknown; random (untrained) graph convolutions kept
    frozen: ψ and the head, trained on the expert and pilot summaries, must beat the prior
    median's absolute error 0.25 (unit scale) by a third for the range and by half for the
    mean; φ's weights are bit-identical afterwards and the result saves and loads."""
    prior = Prior({"range": Bound(0.05, 0.5, "loguniform"), "mean": Bound(-2.0, 2.0)},
                  fixed={"variance": 1.0, "nugget": 0.01})
    spec = SimulationSpec(ModelSpec("exponential"), prior,
                          UniformDesign(40, 80), 1)
    torch.manual_seed(0)
    net = PointEstimator(GNNSummary(width=8, layers=2, out=16, k=6, pilot=True, psi=(32,)), 2)
    phi_before = {k: v.clone() for k, v in net.state_dict().items()
                  if k.startswith(("summary.convs.", "summary.distance_weights."))}
    psi_before = net.summary.sets.psi[0].weight.detach().clone()
    st = TrainingSettings(epochs=40, batch_size=64, lr=3e-3, patience=40, schedule="cosine")
    hist = train_frozen_graph(net, spec, spec.simulate(1500, seed=0), spec.simulate(200, seed=1),
                              st, checkpoint=tmp_path / "c.ckpt", progress=False)
    assert len(hist.val) == 40 and (tmp_path / "c.ckpt").exists()
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in phi_before.items())
    assert all(p.requires_grad for p in net.parameters())
    assert not torch.equal(net.summary.sets.psi[0].weight, psi_before)
    va = spec.simulate(300, seed=7)
    path = NeuralEstimator(net, spec).save(tmp_path / "f.pt")
    est = NeuralEstimator.load(path).estimate_unit([(s.coords, s.values) for s in va])
    mae = np.abs(est["estimate"] - prior.to_unit(np.stack([s.theta for s in va]))).mean(0)
    assert mae[0] < 0.67 * 0.25, mae
    assert mae[1] < 0.5 * 0.25, mae


def test_frozen_graph_training_needs_a_graph_network():
    spec = SimulationSpec(ModelSpec("exponential"),
                          Prior({"range": Bound(0.05, 0.5)}, fixed={"variance": 1.0,
                                                                   "mean": 0.0, "nugget": 0.1}),
                          UniformDesign(20, 30), 1)
    net = PointEstimator(CNNSummary(channels=(4,), out=4), 1)
    with pytest.raises(ValueError, match="graph network"):
        train_frozen_graph(net, spec, [], [])
