"""Pilot likelihoods (fieldfit.neural.pilot): against dense exact Gaussian likelihoods, the
neighbour search they use against the Vecchia engine's tree search, invariance, the training
cache, the network option's refusals (its invariance and save/load:
tests/test_neural_batched.py)."""

import numpy as np
import pytest
import torch
from scipy.linalg import cho_factor, cho_solve
from scipy.stats import multivariate_normal

from fieldfit.likelihood.ordering import maxmin_order, previous_neighbours
from fieldfit.neural import pilot as pilot_mod
from fieldfit.neural.batched import train_batched
from fieldfit.neural.pilot import (
    pilot_cache,
    pilot_likelihoods,
    pilot_settings,
    relative_likelihoods,
)
from fieldfit.neural.recipes import build_network, build_spec
from fieldfit.neural.summaries import GNNSummary
from fieldfit.neural.training import TrainingSettings


def _dense(coords, z, ranges, nuggets):
    """GLS mean, profiled variance and profile log-likelihood per location of the exact
    Gaussian model with correlation (1 − τ) Matérn-3/2(h/ρ) + τ 1{h = 0}."""
    n = len(coords)
    d = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1))
    one, out = np.ones(n), []
    for rho in ranges:
        for tau in nuggets:
            s = np.sqrt(3.0) * d / rho
            cf = cho_factor((1 - tau) * (1 + s) * np.exp(-s) + tau * np.eye(n), lower=True)
            rows = []
            for y in z:
                mu = one @ cho_solve(cf, y) / (one @ cho_solve(cf, one))
                s2 = (y - mu) @ cho_solve(cf, y - mu) / n
                rows.append([mu, np.log(s2),
                             -0.5 * (np.log(s2) + 1) - np.log(np.diag(cf[0])).sum() / n])
            out += list(np.mean(rows, 0))
    return np.array(out)


def test_with_all_earlier_neighbours_pilot_likelihoods_are_exact():
    """m ≥ n − 1: Vecchia's factorisation is the exact one, so every summary equals the dense
    computation (two replicates, averaged)."""
    rng = np.random.default_rng(0)
    coords, z = rng.random((70, 2)), rng.normal(size=(2, 70))
    ranges, nuggets = (0.05, 0.2, 0.6), (0.0, 0.3)
    got = pilot_likelihoods(coords, z, ranges, nuggets, m=69)
    np.testing.assert_allclose(got, _dense(coords, z, ranges, nuggets), rtol=1e-9, atol=1e-10)


def test_vecchia_pilot_is_close_to_exact_and_better_with_more_neighbours():
    rng = np.random.default_rng(1)
    coords = rng.random((300, 2))
    d = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1))
    s = np.sqrt(3.0) * d / 0.1
    z = np.linalg.cholesky(0.8 * (1 + s) * np.exp(-s) + 0.2 * np.eye(300)) @ rng.normal(
        size=300)
    exact = _dense(coords, z[None], (0.1,), (0.2,))
    err = [np.abs(pilot_likelihoods(coords, z, (0.1,), (0.2,), m) - exact)[2] for m in (3, 15)]
    assert err[1] < err[0] and err[1] < 0.01       # profile log-likelihood per location


def test_the_pilots_neighbour_search_equals_the_vecchia_engines():
    """previous_neighbours(search="scan"), which the pilot likelihoods use, gives the k-d tree
    search's neighbours in the same order (no ties among random points); on a grid (ties)
    and in 3-D, the m nearest earlier points with ties to the lower index, as a stable sort;
    m beyond n pads with −1."""
    rng = np.random.default_rng(2)
    x = rng.random((400, 2))
    x = x[maxmin_order(x)]
    np.testing.assert_array_equal(previous_neighbours(x, 8, search="scan"),
                                  previous_neighbours(x, 8))
    grid = np.stack(np.meshgrid(np.arange(12.0), np.arange(9.0)), -1).reshape(-1, 2)
    for pts, m in ((grid[maxmin_order(grid)], 6), (rng.random((60, 3)), 5), (grid[:7], 10)):
        got = previous_neighbours(pts, m, search="scan")
        assert got.shape == (len(pts), m)
        for i in range(len(pts)):
            ref = np.argsort(((pts[:i] - pts[i]) ** 2).sum(1), kind="stable")[:m]
            np.testing.assert_array_equal(got[i, :len(ref)], ref)
            assert (got[i, len(ref):] == -1).all()
    with pytest.raises(ValueError, match="neighbour search"):
        previous_neighbours(x, 3, search="brute")


def test_pilot_likelihoods_ignore_the_order_of_the_locations_and_check_input():
    rng = np.random.default_rng(3)
    coords, z = rng.random((200, 2)), rng.normal(size=(1, 200))
    perm = rng.permutation(200)
    np.testing.assert_allclose(pilot_likelihoods(coords[perm], z[:, perm]),
                               pilot_likelihoods(coords, z), rtol=1e-12, atol=1e-12)
    assert pilot_likelihoods(coords, z).shape == (27,)           # 3 ranges x 3 nugget shares
    with pytest.raises(ValueError, match="coords"):
        pilot_likelihoods(coords[:, :1], z)
    with pytest.raises(ValueError, match="nugget"):
        pilot_likelihoods(coords, z, nuggets=(1.0,))
    with pytest.raises(ValueError, match="pilot settings"):
        GNNSummary(pilot={"ranges": (0.1,), "neighbours": 4})


def test_pilot_cache_computes_each_dataset_once(monkeypatch):
    rng = np.random.default_rng(4)
    items = [(rng.random((40, 2)), rng.normal(size=(1, 40))) for _ in range(3)]
    net = GNNSummary(width=4, layers=1, out=4, k=4, pilot=True)
    calls = []
    real = pilot_mod.pilot_likelihoods
    monkeypatch.setattr(pilot_mod, "pilot_likelihoods",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    first = net.collate(items).pilot
    net.collate(items)
    assert len(calls) == 6                           # no cache outside the block
    with pilot_cache():
        again = net.collate(items).pilot
        net.collate(items[::-1])
    assert len(calls) == 9
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert pilot_mod._CACHE is None


def test_pilot_refusals():
    with pytest.raises(ValueError, match="graph network"):
        build_network("quantile", build_spec(design="grid"), pilot=True)
    spec = build_spec(n_min=30, n_max=40)
    net = build_network("quantile", spec, width=4, layers=1, out=4, pilot=True)
    with pytest.raises(ValueError, match="pilot likelihoods"):
        train_batched(net, spec, TrainingSettings(epochs=1), device="cpu", epoch_size=8,
                      n_val=4)


def test_relative_likelihoods_are_the_grids_exact_profile_likelihood_weights():
    """With m ≥ n − 1, n·ℓ_s is the exact profile log-likelihood up to one constant, so the
    weights are exp(profile log-likelihood) normalised over the grid (scipy's Gaussian
    density at the GLS mean and profiled variance) and Δ_s their log-ratios to the best."""
    rng = np.random.default_rng(5)
    n = 60
    coords, z = rng.random((n, 2)), rng.normal(size=(1, n))
    ranges, nuggets = (0.05, 0.3), (0.0, 0.2, 0.6)
    raw = pilot_likelihoods(coords, z, ranges, nuggets, m=n - 1)
    d = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1))
    logl = []
    for k, (rho, tau) in enumerate((r, t) for r in ranges for t in nuggets):
        s = np.sqrt(3.0) * d / rho
        mu, s2 = raw[3 * k], np.exp(raw[3 * k + 1])
        cov = s2 * ((1 - tau) * (1 + s) * np.exp(-s) + tau * np.eye(n))
        logl.append(multivariate_normal(np.full(n, mu), cov).logpdf(z[0]))
    logl = np.array(logl)
    got = relative_likelihoods(torch.tensor(raw[None]), torch.tensor([float(n)]))[0].numpy()
    S = len(logl)
    np.testing.assert_allclose(got[:S], raw[0::3], rtol=1e-12)
    np.testing.assert_allclose(got[S:2 * S], raw[1::3], rtol=1e-12)
    np.testing.assert_allclose(np.sinh(got[2 * S:3 * S]), logl - logl.max(), atol=1e-8)
    np.testing.assert_allclose(got[3 * S:], np.exp(logl - logl.max()) / np.exp(
        logl - logl.max()).sum(), atol=1e-10)


def test_pilot_settings_defaults_and_networks_saved_before_relative():
    assert pilot_settings(True)["relative"] is True
    old = {"ranges": [0.03, 0.1, 0.3], "nuggets": [0.05, 0.4], "m": 10}
    assert pilot_settings(old)["relative"] is False          # as those networks were trained
    net = GNNSummary(width=4, layers=1, out=4, k=4, pilot=old)
    assert net.sets.psi[0].in_features == 4 + 4 + 18
    net = GNNSummary(width=4, layers=1, out=4, k=4, pilot={**old, "relative": True},
                     psi=(8, 6))
    assert net.sets.psi[0].in_features == 4 + 4 + 24
    assert [m.out_features for m in net.sets.psi if isinstance(m, torch.nn.Linear)] == [8, 6, 4]
    with pytest.raises(ValueError, match="relative"):
        pilot_settings({"relative": "yes"})
    with pytest.raises(ValueError, match="psi"):
        GNNSummary(psi=(0,))
