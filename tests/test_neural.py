"""Amortized neural inference: priors, designs, simulation, networks, training, persistence."""

import numpy as np
import pandas as pd
import pytest
import torch

import fieldfit  # noqa: F401
from fieldfit.neural import (
    Bound,
    ClusteredDesign,
    CNNSummary,
    GNNSummary,
    GridDesign,
    MixedDesign,
    ModelSpec,
    NeuralEstimator,
    PointEstimator,
    PosteriorEstimator,
    Prior,
    QuantileEstimator,
    RatioEstimator,
    SimulationSpec,
    TrainingSettings,
    UniformDesign,
    load_estimator,
    train,
)
from fieldfit.neural.designs import design_from_dict
from fieldfit.neural.graphs import collate_graphs, grid_shape, spatial_graph
from fieldfit.neural.training import evaluate_loss


def tiny_spec(design=None, replicates=1):
    """Exponential field, range and mean unknown: a problem small networks learn quickly."""
    prior = Prior({"range": Bound(0.05, 0.5, "loguniform"), "mean": Bound(-2.0, 2.0)},
                  fixed={"variance": 1.0, "nugget": 0.01})
    return SimulationSpec(ModelSpec("exponential"), prior,
                          design or UniformDesign(40, 80), replicates)


# --- priors, designs, simulation ---------------------------------------------------------
def test_prior_unit_scale_round_trip_and_errors():
    prior = Prior({"range": Bound(0.02, 0.5, "loguniform"), "mean": Bound(-5, 5)})
    theta = prior.sample(1000, seed=1)
    u = prior.to_unit(theta)
    assert u.min() > 0 and u.max() < 1
    np.testing.assert_allclose(prior.from_unit(u), theta, rtol=1e-12)
    # log-uniform: log range uniform, so the median is the geometric mean of the bounds
    assert abs(np.median(theta[:, 0]) - np.sqrt(0.02 * 0.5)) < 0.015
    assert Prior.from_dict(prior.to_dict()) == prior
    with pytest.raises(ValueError, match="lower > 0"):
        Bound(0.0, 1.0, "loguniform")
    with pytest.raises(ValueError, match="lower < upper"):
        Bound(1.0, 1.0)
    with pytest.raises(ValueError, match="both estimated and fixed"):
        Prior({"mean": Bound(0, 1)}, fixed={"mean": 0.0})


def test_designs_sizes_domain_and_round_trip():
    rng = np.random.default_rng(0)
    for d in (UniformDesign(50, 1000), ClusteredDesign(50, 1000, (2, 5), (0.02, 0.1))):
        ns = [len(d.sample(rng)) for _ in range(300)]
        assert 50 <= min(ns) and max(ns) <= 1000
        # log-uniform n: about half the datasets below the geometric mean (≈ 224)
        assert 0.35 < np.mean(np.array(ns) < 224) < 0.65
        pts = d.sample(rng)
        assert ((pts > 0) & (pts < 1)).all()
        assert design_from_dict(d.to_dict()) == d
    g = GridDesign(4, 5).sample()
    assert g.shape == (20, 2) and np.allclose(np.unique(g[:, 0]), (np.arange(5) + 0.5) / 5)
    m = MixedDesign((UniformDesign(), ClusteredDesign()), (1.0, 3.0))
    assert design_from_dict(m.to_dict()) == m
    with pytest.raises(ValueError, match="n_min"):
        UniformDesign(100, 50)
    with pytest.raises(ValueError, match="cannot mix"):
        MixedDesign((UniformDesign(), GridDesign()))


def test_clustered_design_is_clustered():
    """Thomas-process points have smaller nearest-neighbour distances than uniform ones."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(3)

    def nn(p):
        return np.median(cKDTree(p).query(p, 2)[0][:, 1])

    uni = UniformDesign(400, 400).sample(rng)
    clu = ClusteredDesign(400, 400, (3, 3), (0.03, 0.03)).sample(rng)
    assert nn(clu) < 0.5 * nn(uni)


def test_simulation_depends_only_on_seed_and_index():
    spec = tiny_spec(replicates=(1, 3))
    a = spec.simulate([5, 2, 7], seed=11)
    b = SimulationSpec.from_dict(spec.to_dict()).simulate([7, 2], seed=11)
    np.testing.assert_array_equal(a[2].values, b[0].values)
    np.testing.assert_array_equal(a[1].coords, b[1].coords)
    assert not np.array_equal(a[0].values[0, :5], spec.simulate([5], seed=12)[0].values[0, :5])
    assert {s.values.shape[0] for s in spec.simulate(30, seed=0)} <= {1, 2, 3}


def test_simulation_spec_checks_the_parameters():
    prior = Prior({"range": Bound(0.05, 0.5)}, fixed={"variance": 1.0})
    with pytest.raises(ValueError, match="missing"):
        SimulationSpec(ModelSpec("exponential"), prior, UniformDesign())


def test_simulated_field_has_the_prior_covariance():
    """Empirical variance of many simulated values equals variance + nugget."""
    prior = Prior({"mean": Bound(-0.001, 0.001)},
                  fixed={"variance": 2.0, "nugget": 0.5, "range": 0.1})
    spec = SimulationSpec(ModelSpec("exponential"), prior,
                          UniformDesign(30, 30), 200)
    v = np.concatenate([s.values.ravel() for s in spec.simulate(5, seed=0)])
    assert abs(v.var() - 2.5) < 0.1


# --- graphs and summary networks ---------------------------------------------------------
def test_spatial_graph_is_the_k_nearest_neighbours():
    rng = np.random.default_rng(0)
    pts = rng.uniform(size=(50, 2))
    e = spatial_graph(pts, k=4)
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    np.fill_diagonal(d, np.inf)
    for i in range(50):
        assert set(e[0, e[1] == i]) == set(np.argsort(d[i])[:4])
    er = spatial_graph(pts, k=10, radius=0.1)
    assert (np.linalg.norm(pts[er[0]] - pts[er[1]], axis=1) <= 0.1).all()


def test_grid_shape_recovers_the_grid_and_rejects_others():
    pts = GridDesign(3, 4).sample()
    perm = np.random.default_rng(0).permutation(12)
    order, shape, step = grid_shape(pts[perm])
    assert shape == (3, 4) and np.isclose(step, np.sqrt(0.25 / 3))
    np.testing.assert_array_equal(pts[perm][order], pts)
    with pytest.raises(ValueError, match="not a complete grid"):
        grid_shape(pts[:-1])


def _items(spec, n, seed=0):
    return [(s.coords, s.values) for s in spec.simulate(n, seed=seed)]


def test_gnn_summary_is_invariant_to_orders_and_batch_companions():
    torch.manual_seed(0)
    net = GNNSummary(width=8, layers=2, out=6, k=5).eval()
    items = _items(tiny_spec(replicates=3), 3)
    with torch.no_grad():
        base = net(net.collate(items))
        coords, values = items[0]
        perm = np.random.default_rng(1).permutation(len(coords))
        permuted = [(coords[perm], values[::-1][:, perm]), *items[1:]]   # locations + replicates
        torch.testing.assert_close(net(net.collate(permuted)), base, rtol=1e-4, atol=1e-5)
        alone = net(net.collate(items[:1]))
        torch.testing.assert_close(alone[0], base[0], rtol=1e-4, atol=1e-5)
        # and it does depend on the data
        other = [(coords, values[:, ::-1].copy()), *items[1:]]
        assert not torch.allclose(net(net.collate(other))[0], base[0], atol=1e-4)


def test_cnn_summary_is_invariant_to_replicate_order_and_any_grid_size():
    torch.manual_seed(0)
    net = CNNSummary(channels=(4, 8), out=5).eval()
    items = _items(tiny_spec(GridDesign(8, 8), replicates=3), 2)
    with torch.no_grad():
        base = net(net.collate(items))
        swapped = [(items[0][0], items[0][1][[2, 0, 1]]), items[1]]
        torch.testing.assert_close(net(net.collate(swapped)), base, rtol=1e-5, atol=1e-6)
        big = _items(tiny_spec(GridDesign(12, 10)), 1)
        assert net(net.collate(big)).shape == (1, 5)


def test_collate_rejects_bad_data():
    coords = np.random.default_rng(0).uniform(size=(10, 2))
    with pytest.raises(ValueError, match="NaN"):
        collate_graphs([(coords, np.r_[np.nan, np.ones(9)])])
    with pytest.raises(ValueError, match="all equal"):
        collate_graphs([(coords, np.ones(10))])
    with pytest.raises(ValueError, match="do not match"):
        collate_graphs([(coords, np.arange(9.0))])


def test_quantiles_never_cross():
    torch.manual_seed(0)
    net = QuantileEstimator(GNNSummary(width=8, layers=2, out=8, k=5), 2,
                            probs=(0.05, 0.25, 0.5, 0.75, 0.95))
    for p in net.head.parameters():
        torch.nn.init.normal_(p, std=3.0)   # wild weights: crossing would show
    q = net(net.collate(_items(tiny_spec(), 20)))
    assert (q.diff(dim=-1) >= 0).all()
    with pytest.raises(ValueError, match="0.5"):
        QuantileEstimator(GNNSummary(), 2, probs=(0.1, 0.9))


# --- training beats the prior --------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data():
    spec = tiny_spec()
    return spec, spec.simulate(1500, seed=0), spec.simulate(range(10**6, 10**6 + 300), seed=0)


@pytest.fixture(scope="module")
def tiny_test(tiny_data):
    """300 held-out simulations: neither trained on nor used to pick the best epoch or to
    calibrate (the validation set ``va`` is both)."""
    spec = tiny_data[0]
    return spec.simulate(range(2 * 10**6, 2 * 10**6 + 300), seed=0)


def _fit(net, tiny_data, epochs=8):
    spec, tr, va = tiny_data
    torch.manual_seed(0)
    hist = train(net, spec, tr, va, TrainingSettings(epochs=epochs, batch_size=32, lr=3e-3,
                                                     seed=0), progress=False)
    return hist


def _unit_truth(spec, va):
    return spec.prior.to_unit(np.stack([s.theta for s in va]))


def _prior_mean_mae(spec, samples):
    """Unit-scale absolute error of the trivial estimator u = 0.5 (prior mean and median) on
    ``samples``, per parameter (≈ 0.25, with Monte Carlo error ≈ 0.29/√300 ≈ 0.017)."""
    return np.abs(_unit_truth(spec, samples) - 0.5).mean(0)


def test_point_estimator_beats_the_prior_mean(tiny_data, tiny_test):
    """Absolute loss, held-out data: the trained estimator's unit-scale error is well below
    that of the prior mean (= median) 0.5 and of the same network untrained; the validation
    loss fell below the untrained one, and the best epoch's weights are the ones returned."""
    spec, _, va = tiny_data
    torch.manual_seed(0)
    net = PointEstimator(GNNSummary(width=16, layers=2, out=32, k=8), 2, loss="absolute")
    untrained_val = evaluate_loss(net, va, spec)
    untrained = NeuralEstimator(net, spec).estimate_unit(_items_of(tiny_test))["estimate"]
    hist = _fit(net, tiny_data)
    truth = _unit_truth(spec, tiny_test)
    base = _prior_mean_mae(spec, tiny_test)
    mae0 = np.abs(untrained - truth).mean(0)
    # the validation loss is the sum over the two parameters of the absolute error: the
    # untrained network (outputs ≈ 0.5) sits at the prior mean's ≈ 0.5; training halves it
    assert min(hist.val) < 0.6 * untrained_val, (hist.val, untrained_val)
    assert hist.val[hist.best_epoch] == min(hist.val)
    np.testing.assert_allclose(evaluate_loss(net, va, spec), min(hist.val), rtol=1e-5)
    est = NeuralEstimator(net, spec).estimate_unit(_items_of(tiny_test))["estimate"]
    mae = np.abs(est - truth).mean(0)
    # measured: prior 0.252 / 0.257, untrained 0.251 / 0.255, trained 0.116 / 0.066
    assert mae[0] < 0.6 * base[0] and mae[0] < 0.6 * mae0[0], (mae, base, mae0)    # range
    assert mae[1] < 0.4 * base[1] and mae[1] < 0.4 * mae0[1], (mae, base, mae0)    # mean


def _items_of(samples):
    return [(s.coords, s.values) for s in samples]


def test_quantile_estimator_covers_and_beats_the_prior(tiny_data):
    spec, _, va = tiny_data
    net = QuantileEstimator(GNNSummary(width=16, layers=2, out=32, k=8), 2)
    _fit(net, tiny_data)
    out = NeuralEstimator(net, spec).estimate_unit(_items_of(va))
    u = _unit_truth(spec, va)
    width = out["q0.95"] - out["q0.05"]
    assert (width.mean(0) < 0.75 * 0.9).all()          # the prior's 90 % interval has width 0.9
    cover = ((out["q0.05"] <= u) & (u <= out["q0.95"])).mean(0)
    assert ((cover > 0.75) & (cover < 0.99)).all(), cover


def test_posterior_estimator_beats_the_prior_density(tiny_data, tiny_test):
    """On held-out data, the flow's mean negative log density of the true logit u is well
    below the prior's (logit u of a uniform u is logistic: −log p = −log u(1 − u), 2 nats per
    parameter in expectation), and its posterior median beats the prior mean's error."""
    spec, _, va = tiny_data
    torch.manual_seed(0)
    net = PosteriorEstimator(GNNSummary(width=16, layers=2, out=32, k=8), 2, transforms=2,
                             hidden=32, n_draws=400)
    untrained = evaluate_loss(net, tiny_test, spec)
    _fit(net, tiny_data)
    u = _unit_truth(spec, tiny_test)
    prior_nll = float((-np.log(u) - np.log1p(-u)).sum(1).mean())
    nll = evaluate_loss(net, tiny_test, spec)
    # measured: prior 4.07, untrained 5.86, trained 2.97 (the per-dataset sd ≈ 1.5 nats gives
    # the difference a Monte Carlo error of ≈ 0.1 over 300 datasets)
    assert abs(prior_nll - 4.0) < 0.3                      # the reference itself is right
    assert nll < prior_nll - 0.5 and nll < untrained - 1.0, (nll, prior_nll, untrained)
    out = NeuralEstimator(net, spec).estimate_unit(_items_of(tiny_test))
    mae = np.abs(out["estimate"] - u).mean(0)
    base = _prior_mean_mae(spec, tiny_test)
    assert mae[0] < 0.7 * base[0] and mae[1] < 0.4 * base[1], (mae, base)   # 0.12 / 0.064
    # its 90 % intervals are informative (the prior's is 0.9 wide) and cover about 90 %
    # (measured 0.88 / 0.86; 3 binomial sd at n = 300 is 0.05, plus 0.05 for a flow trained
    # 8 epochs)
    width = (out["q0.95"] - out["q0.05"]).mean(0)
    cover = ((out["q0.05"] <= u) & (u <= out["q0.95"])).mean(0)
    assert (width < 0.75 * 0.9).all(), width
    assert ((cover > 0.8) & (cover < 0.96)).all(), cover
    # posterior draws on the natural scale: unstandardised, the same draws as estimate_unit's
    # (the same batch, seed 0); standardised, equivariant under z -> a + z (the variance is
    # fixed here: no scaling)
    est = NeuralEstimator(net, spec)
    items = _items_of(tiny_test[:20])
    raw = est.posterior_draws(items, n_draws=400, seed=0, standardise=False)
    assert list(raw.columns) == ["dataset", "draw", *spec.prior.names] and len(raw) == 8000
    u_raw = spec.prior.to_unit(raw[spec.prior.names].to_numpy()).reshape(20, 400, 2)
    np.testing.assert_allclose(np.median(u_raw, 1), est.estimate_unit(items)["estimate"],
                               atol=1e-6)
    a = 3.0
    moved = [(c, a + v) for c, v in items]
    d0 = est.posterior_draws(items, n_draws=50, seed=1)
    d1 = est.posterior_draws(moved, n_draws=50, seed=1)
    np.testing.assert_allclose(d1["range"], d0["range"], rtol=1e-5)
    np.testing.assert_allclose(d1["mean"], a + d0["mean"], rtol=1e-5, atol=1e-5)
    quantile = NeuralEstimator(QuantileEstimator(GNNSummary(width=8, layers=2, out=8, k=5), 2),
                               spec)
    with pytest.raises(ValueError, match="no posterior draws"):
        quantile.posterior_draws(items)


def test_ratio_estimator_beats_chance_and_calibrates(tiny_data, tiny_test):
    """Chance level of the balanced cross-entropy is 2 log 2. On held-out (θ, Z) pairs (true
    and shuffled θ), the Platt-calibrated classifier is right far more often than chance and
    its mean probability is the share of true pairs (1/2); the surface's maximiser beats the
    prior mean; the profile intervals cover near their level; the joint region is a small part
    of the box that still holds the truth in most datasets."""
    from scipy.stats import chi2

    spec, _, va = tiny_data
    torch.manual_seed(0)
    net = RatioEstimator(GNNSummary(width=16, layers=2, out=32, k=8), 2, n_candidates=1024,
                         n_bins=20)
    test_inputs = net.collate(_items_of(tiny_test))
    _, untrained_region = net.confidence_region(test_inputs)
    hist = _fit(net, tiny_data)
    assert min(hist.val) < 2 * np.log(2) - 0.3
    inputs = net.collate(_items_of(va))
    u = torch.as_tensor(_unit_truth(spec, va), dtype=torch.float32)
    a, b = net.calibrate(inputs, u)
    assert a > 0
    # calibration pairs: with an intercept the fitted mean probability equals the labels'
    with torch.no_grad():
        t = net.summary(inputs)
        z = torch.cat([net.logit_pair(t, u), net.logit_pair(t, u.roll(1, 0))]).double()
    assert abs(float(torch.sigmoid(a * z + b).mean()) - 0.5) < 0.02
    # held-out pairs
    truth = _unit_truth(spec, tiny_test)
    ut = torch.as_tensor(truth, dtype=torch.float32)
    with torch.no_grad():
        t = net.summary(test_inputs)
        p_true = torch.sigmoid(a * net.logit_pair(t, ut).double() + b)
        p_false = torch.sigmoid(a * net.logit_pair(t, ut.roll(1, 0)).double() + b)
    accuracy = 0.5 * (float((p_true > 0.5).double().mean())
                      + float((p_false < 0.5).double().mean()))
    # measured 0.88; chance 0.5 (binomial sd over 600 pairs ≈ 0.02)
    assert accuracy > 0.75, accuracy
    assert abs(float(torch.cat([p_true, p_false]).mean()) - 0.5) < 0.05
    out = net.estimate_unit(test_inputs)
    mae = np.abs(out["estimate"] - truth).mean(0)
    base = _prior_mean_mae(spec, tiny_test)
    assert mae[0] < 0.85 * base[0] and mae[1] < 0.5 * base[1], (mae, base)  # 0.154 / 0.069
    # profile (χ²₁) 90 % intervals: measured 0.88 / 0.85 (0.80 / 0.86 with training seed 1);
    # the band is 3 binomial sd at n = 300 (0.05) plus 0.07 of overconfidence allowed a
    # classifier trained 8 epochs below, and 3 sd above (intervals rounded out to the bins)
    cover = ((out["q0.05"] <= truth) & (truth <= out["q0.95"])).mean(0)
    assert ((cover > 0.9 - 0.12) & (cover < 0.9 + 0.06)).all(), cover
    assert ((out["q0.95"] - out["q0.05"]).mean(0) < 0.7).all()
    # the joint χ²₂ region: the untrained surface is flat (the whole box); trained, it is
    # ~15 % of the box and holds the truth in ~80 % of the datasets (level 0.9)
    cand, mask = net.confidence_region(test_inputs)
    assert mask.shape == (len(tiny_test), len(cand))
    assert untrained_region.mean() > 0.9
    assert mask.mean() < 0.3, mask.mean()
    lr_truth = np.diag(net.log_ratio(test_inputs, truth))
    lr_max = np.maximum(net.log_ratio(test_inputs, cand).max(1), lr_truth)
    joint_cover = (2 * (lr_max - lr_truth) <= chi2.ppf(0.9, 2)).mean()
    assert joint_cover > 0.65, joint_cover


# --- persistence and the command line -------------------------------------------------------
def test_save_load_round_trip(tmp_path, tiny_data):
    spec, _, va = tiny_data
    torch.manual_seed(0)
    net = QuantileEstimator(GNNSummary(width=8, layers=2, out=8, k=5), 2)
    est = NeuralEstimator(net, spec, {"note": "untrained"})
    path = est.save(tmp_path / "e.pt")
    back = load_estimator(path)
    data = _items_of(va[:5])
    pd.testing.assert_frame_equal(back.estimate(data), est.estimate(data))
    assert back.metadata["note"] == "untrained" and "torch" in back.metadata["versions"]
    assert back.spec.to_dict() == spec.to_dict()
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a fieldfit estimator"):
        load_estimator(tmp_path / "junk.pt")
    with pytest.raises(ValueError, match="no estimator named"):
        load_estimator("no-such-estimator")


def test_estimate_table_from_a_data_frame(tiny_data):
    spec, _, va = tiny_data
    torch.manual_seed(0)
    est = NeuralEstimator(QuantileEstimator(GNNSummary(width=8, layers=2, out=8, k=5), 2), spec)
    frames = [pd.DataFrame({"dataset": f"d{i}", "x": s.coords[:, 0], "y": s.coords[:, 1],
                            "z": s.values[0]}) for i, s in enumerate(va[:3])]
    table = est.estimate(pd.concat(frames))
    assert list(table["dataset"]) == ["d0", "d1", "d2"]
    assert list(table.columns) == ["dataset", "range", "range_lower", "range_upper", "mean",
                                   "mean_lower", "mean_upper", "n", "n_missing",
                                   "value_shift", "value_factor"]
    assert (table["range_lower"] <= table["range"]).all()
    assert (table["range"] <= table["range_upper"]).all()
    one = est.estimate(frames[1].drop(columns="dataset"))
    np.testing.assert_allclose(one["range"].to_numpy(), table["range"].to_numpy()[1:2], rtol=1e-5)
    with pytest.raises(ValueError, match="column 'z'"):
        est.estimate(frames[0].assign(z=np.nan))
    with pytest.raises(ValueError, match="columns x, y, z"):
        est.estimate(frames[0].drop(columns="z"))


def test_spde_simulator_feeds_the_same_pipeline():
    """The SPDE Matérn model (SPDEField, mesh from each design) as a simulator."""
    prior = Prior({"range": Bound(0.05, 0.5, "loguniform"), "mean": Bound(-1, 1)},
                  fixed={"variance": 1.0, "nugget": 0.1})
    spec = SimulationSpec(ModelSpec("matern-spde"), prior, UniformDesign(30, 40))
    a, b = spec.simulate([0, 1], seed=3)
    assert a.values.shape == (1, len(a.coords)) and np.isfinite(a.values).all()
    np.testing.assert_array_equal(spec.simulate([1], seed=3)[0].values, b.values)
    net = GNNSummary(width=8, layers=2, out=4, k=5)
    assert net(net.collate([(a.coords, a.values), (b.coords, b.values)])).shape == (2, 4)


def test_estimate_rejects_missing_dataset_labels(tiny_data):
    spec, _, va = tiny_data
    est = NeuralEstimator(QuantileEstimator(GNNSummary(width=8, layers=2, out=8, k=5), 2), spec)
    s = va[0]
    df = pd.DataFrame({"dataset": "a", "x": s.coords[:, 0], "y": s.coords[:, 1],
                       "z": s.values[0]})
    df.loc[3, "dataset"] = None
    with pytest.raises(ValueError, match="'dataset' has missing values"):
        est.estimate(df)


def test_any_model_with_simulate_can_be_the_simulator():
    """A model object (here an anisotropic field) in place of a ModelSpec: simulations in
    process work; it is saved (or sent to Dask) by its registry description, and a model
    with none is refused with a clear message."""
    model = fieldfit.GaussianField(fieldfit.Anisotropic(fieldfit.Exponential()))
    names = model.param_space().names
    prior = Prior({"range": Bound(0.05, 0.3)},
                  fixed={n: v for n, v in {"variance": 1.0, "nugget": 0.1, "mean": 0.0,
                                           "angle": 0.3, "ratio": 0.5}.items()
                         if n in names or n == "mean"})
    spec = SimulationSpec(model, prior, UniformDesign(20, 30))
    s = spec.simulate([0], seed=0)[0]
    assert s.values.shape == (1, len(s.coords))
    again = SimulationSpec.from_dict(spec.to_dict())
    assert again.model.name == "exponential" and again.model.options["anisotropic"]
    np.testing.assert_array_equal(again.simulate([0], seed=0)[0].values, s.values)
    odd = fieldfit.GaussianField(fieldfit.Matern(smoothness_search=(0.1, 5.0)))
    spec = SimulationSpec(odd, Prior({"range": Bound(0.05, 0.3)},
                                     fixed={"variance": 1.0, "nugget": 0.1, "mean": 0.0,
                                            "smoothness": 1.0}), UniformDesign(20, 30))
    with pytest.raises(ValueError, match="no registered description"):
        spec.to_dict()
