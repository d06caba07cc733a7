"""Batched simulation and graph batches (fieldfit.neural.batched), variogram summaries, and
training on fresh batched simulations; all on the CPU (the same code runs on a GPU)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist

import fieldfit  # noqa: F401
from fieldfit.neural import (
    Bound,
    GNNSummary,
    ModelSpec,
    NeuralEstimator,
    PointEstimator,
    Prior,
    QuantileEstimator,
    SimulationSpec,
    TrainingSettings,
    UniformDesign,
)
from fieldfit.neural.batched import (
    BatchedSimulator,
    SettingChunks,
    covariance_function,
    graph_batch,
    pad,
    train_batched,
)
from fieldfit.neural.graphs import VARIOGRAM_EDGES, collate_graphs, variogram_summary
from fieldfit.neural.recipes import build_spec


def _padded(spec, count, seed=0):
    settings = [spec.draw_setting(seed, i)[:3] for i in range(count)]
    return BatchedSimulator(spec, group=5).simulate(pad(settings, "cpu"),
                                                    torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("k,radius,vario", [(7, None, VARIOGRAM_EDGES), (12, 0.15, None),
                                            (3, None, (0.0, 0.1, 0.3))])
def test_graph_batch_equals_the_cpu_collate(k, radius, vario):
    """Variable n (some below k + 1), 1-3 replicates, kNN and disc graphs: node order, values,
    edges, distances, expert and variogram summaries identical to collate_graphs."""
    spec = build_spec(n_min=6, n_max=150, replicates=(1, 3))
    batch = _padded(spec, 12)
    assert int(batch.n.min()) < 8 and int(batch.r.max()) > 1   # n < k + 1 for k >= 7
    mine = graph_batch(batch, k, radius, vario)
    ref = collate_graphs(batch.items(), k, radius, vario)
    for f in ("x", "edge_index", "edge_attr", "graph", "dataset", "expert"):
        torch.testing.assert_close(getattr(mine, f), getattr(ref, f), rtol=0, atol=0)
    if vario is None:
        assert mine.variogram is None and ref.variogram is None
    else:
        torch.testing.assert_close(mine.variogram, ref.variogram, rtol=0, atol=0)


@pytest.mark.parametrize("covariance,smoothness", [("matern", 1.0), ("matern", 1.5),
                                                   ("exponential", None), ("gaussian", None)])
def test_batched_covariance_is_the_models(covariance, smoothness):
    fixed = {"smoothness": smoothness} if smoothness else {}
    spec = build_spec(covariance, fixed=fixed, n_min=5, n_max=60)
    batch = _padded(spec, 8)
    cov = BatchedSimulator(spec).covariance(batch)
    model = spec.model_
    for b in range(len(batch)):
        n = int(batch.n[b])
        p = spec.prior.params(batch.theta[b].numpy())
        x = batch.coords[b, :n]
        ref = model.covariance(x, x, p) + p["nugget"] * torch.eye(n, dtype=torch.float64)
        torch.testing.assert_close(cov[b, :n, :n], ref, rtol=1e-12, atol=1e-13)
        pad_block = cov[b, n:, n:]
        torch.testing.assert_close(pad_block, torch.eye(len(pad_block), dtype=torch.float64))
        assert not cov[b, :n, n:].any()


def test_batched_draws_have_the_prior_covariance():
    """4,000 draws of one dataset: mean and covariance within 5 standard errors."""
    spec = build_spec(n_min=12, n_max=12)
    theta, coords, _ = spec.draw_setting(0, 3)[:3]
    sim = BatchedSimulator(spec, group=1000)
    batch = sim.simulate(pad([(theta, coords, 1)] * 4000, "cpu"), torch.Generator().manual_seed(5))
    z = batch.values[:, 0].numpy()
    cov = sim.covariance(batch.select(torch.arange(1))).numpy()[0]
    p = spec.prior.params(theta)
    se_mean = np.sqrt(np.diag(cov) / len(z))
    assert np.all(np.abs(z.mean(0) - p["mean"]) < 5 * se_mean)
    se_cov = np.sqrt((cov ** 2 + np.outer(np.diag(cov), np.diag(cov))) / len(z))
    assert np.all(np.abs(np.cov(z.T) - cov) < 5 * se_cov)


def test_batched_path_refuses_what_it_cannot_simulate():
    free = build_spec(bounds={"range": Bound(0.05, 0.5), "variance": Bound(0.5, 2.0),
                              "smoothness": Bound(0.5, 2.5), "nugget": Bound(0.0, 1.0),
                              "mean": Bound(-1.0, 1.0)}, fixed={})
    with pytest.raises(ValueError, match="smoothness fixed"):
        covariance_function(free)
    with pytest.raises(ValueError, match="smoothness fixed.*got 2.0.*host CPU"):
        covariance_function(build_spec(fixed={"smoothness": 2.0}))
    spde = ModelSpec("matern-spde")
    with pytest.raises(ValueError, match="covers Gaussian fields"):
        covariance_function(SimpleNamespace(model=spde, model_=spde.build()))


@pytest.mark.parametrize("covariance,smoothness", [("matern", 0.5), ("matern", 1.0),
                                                   ("matern", 2.5), ("exponential", None),
                                                   ("gaussian", None)])
def test_batched_covariance_runs_without_host_code(covariance, smoothness):
    """On torch's "meta" device (shapes only, no data: what runs there runs on any device)
    the batched covariance of every covered model evaluates; the model's general-smoothness
    path, which computes on the host, cannot."""
    fixed = {"smoothness": smoothness} if smoothness else {}
    spec = build_spec(covariance, fixed=fixed, n_min=5, n_max=20)
    sim = BatchedSimulator(spec)
    theta = torch.empty(3, len(spec.prior), dtype=torch.float64, device="meta")
    coords = torch.empty(3, 7, 2, dtype=torch.float64, device="meta")
    assert sim.cov(coords, sim._cov_params(theta)).shape == (3, 7, 7)
    general = build_spec(fixed={"smoothness": 2.0}).model_.covariance
    p = {"variance": torch.ones((), device="meta"), "range": torch.ones((), device="meta"),
         "smoothness": torch.tensor(2.0)}
    with pytest.raises((NotImplementedError, RuntimeError, TypeError)):
        general(coords, coords, p)


def test_setting_chunks_are_the_specs_draws():
    spec = build_spec(n_min=10, n_max=40)
    chunks = iter(SettingChunks(spec, seed=4, size=5, first=2))
    first = next(chunks)
    for i, (theta, coords, r) in enumerate(first):
        t2, c2, r2, _ = spec.draw_setting(4, 10 + i)
        np.testing.assert_array_equal(theta, t2)
        np.testing.assert_array_equal(coords, c2)
        assert r == r2


def test_variogram_summary_equals_a_direct_computation():
    rng = np.random.default_rng(0)
    edges = np.array([0.0, 0.05, 0.1, 0.2, 0.4, 0.6])
    coords = np.vstack([rng.uniform(size=(80, 2)) * 0.25, [[0.95, 0.95]]])  # [0.4, 0.6) empty
    z = rng.normal(size=(2, 81))
    v = variogram_summary(coords, z, edges)
    d = pdist(coords)
    sq = pdist(z.T, "sqeuclidean") / (2 * 2)
    b = np.digitize(d, edges) - 1
    for j in range(len(edges) - 1):
        sel = b == j
        if sel.any():
            assert v[j] == pytest.approx(sq[sel].mean(), rel=1e-12)
        else:
            assert v[j] == 1.0
        assert v[len(edges) - 1 + j] == pytest.approx(sel.mean(), rel=1e-12)
    assert (v[len(edges) - 1:] == 0).any()   # an empty bin was exercised
    with pytest.raises(ValueError, match="increase"):
        GNNSummary(variogram=(0.0, 0.2, 0.1))


@pytest.mark.parametrize("extra,config", [
    ({"variogram": VARIOGRAM_EDGES}, {"variogram": list(VARIOGRAM_EDGES)}),
    ({"pilot": True, "psi": (16, 12)},
     {"pilot": {"ranges": [0.03, 0.12, 0.5], "nuggets": [0.01, 0.15, 0.5], "m": 10,
                "relative": True},
      "psi": [16, 12]}),
    ({"pilot": {"ranges": [0.03, 0.1, 0.3], "nuggets": [0.05, 0.4], "m": 10}},
     {"pilot": {"ranges": [0.03, 0.1, 0.3], "nuggets": [0.05, 0.4], "m": 10,
                "relative": False}}),
])
def test_gnn_with_more_expert_summaries_is_invariant_and_round_trips(tmp_path, extra, config):
    """Variogram and pilot-likelihood summaries: invariant to the order of locations and
    replicates; saved and loaded with their settings, giving the same outputs."""
    spec = build_spec(n_min=30, n_max=60, replicates=2)
    torch.manual_seed(0)
    net = QuantileEstimator(GNNSummary(width=8, layers=2, out=8, k=5, **extra),
                            len(spec.prior)).eval()
    items = [(s.coords, s.values) for s in spec.simulate(3, seed=1)]
    coords, values = items[0]
    perm = np.random.default_rng(2).permutation(len(coords))
    with torch.no_grad():
        base = net(net.collate(items))
        moved = net(net.collate([(coords[perm], values[::-1][:, perm]), *items[1:]]))
    torch.testing.assert_close(moved, base, rtol=1e-4, atol=1e-5)
    path = NeuralEstimator(net, spec).save(tmp_path / "v.pt")
    again = NeuralEstimator.load(path)
    saved = again.network.summary.config()
    assert all(saved[k] == v for k, v in config.items())
    with torch.no_grad():
        torch.testing.assert_close(again.network(again.network.collate(items)), base)


def test_training_on_fresh_batched_simulations_beats_the_prior_mean(tmp_path):
    """Exponential field, range and mean unknown: after ~20,000 fresh datasets the absolute
    error on the unit scale must beat the prior median's 0.25 by the margins of the in-process
    test (range by a third, mean by half)."""
    prior = Prior({"range": Bound(0.05, 0.5, "loguniform"), "mean": Bound(-2.0, 2.0)},
                  fixed={"variance": 1.0, "nugget": 0.01})
    spec = SimulationSpec(ModelSpec("exponential"), prior, UniformDesign(40, 80), 1)
    torch.manual_seed(0)
    net = PointEstimator(GNNSummary(width=16, layers=2, out=32, k=8), 2, loss="absolute")
    st = TrainingSettings(epochs=5, batch_size=32, lr=3e-3, schedule="cosine", seed=0)
    hist = train_batched(net, spec, st, device="cpu", epoch_size=4096, n_val=300, chunk=1024,
                         workers=0, group=128, checkpoint=tmp_path / "c.ckpt", progress=False)
    assert len(hist.val) == 5 and (tmp_path / "c.ckpt").exists()
    assert next(net.parameters()).device.type == "cpu"
    va = spec.simulate(range(10**6, 10**6 + 300), seed=7)      # exact, in-process draws
    est = NeuralEstimator(net, spec).estimate_unit([(s.coords, s.values) for s in va])
    truth = spec.prior.to_unit(np.stack([s.theta for s in va]))
    mae = np.abs(est["estimate"] - truth).mean(0)
    assert mae[0] < 0.67 * 0.25, mae
    assert mae[1] < 0.5 * 0.25, mae


def test_training_settings_reject_an_unknown_schedule():
    spec = build_spec(n_min=20, n_max=30)
    net = PointEstimator(GNNSummary(width=4, layers=1, out=4, k=3), len(spec.prior))
    with pytest.raises(ValueError, match="schedule"):
        train_batched(net, spec, TrainingSettings(schedule="step"), device="cpu", n_val=4,
                      workers=0, progress=False)
