"""Space-time network inputs and summary network (neural/spacetime_graphs.py,
neural/spacetime_summary.py): edges, masks, directional summaries, invariances."""

import math

import numpy as np
import pytest
import torch

import fieldfit  # noqa: F401  (first, see conftest)
from fieldfit.neural.spacetime_graphs import (
    AUTOCORRELATION_LAGS,
    DIRECTIONAL_EDGES,
    DIRECTIONAL_LAGS,
    SECTORS,
    collate_space_time,
    directional_correlations,
    n_directional,
    space_time_edges,
)
from fieldfit.neural.spacetime_summary import SpaceTimeGNNSummary
from fieldfit.neural.summaries import summary_from_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def dataset(n=15, n_t=6, r=1, seed=0, missing=0.0):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0, 1, (n, 2))
    values = rng.normal(size=(r * n_t, n))
    if missing:
        values[rng.random(values.shape) < missing] = np.nan
    return coords, values, np.linspace(0.0, 1.0, n_t)


def test_edges_are_the_neighbours_at_each_lag_among_observed_values():
    """Brute force: node (i, t) hears its k nearest stations at t, and itself and its k
    nearest at t − 1, t − 2, where observed."""
    coords, values, _ = dataset(n=9, n_t=5, missing=0.25)
    observed = ~np.isnan(values)
    k, lags = 3, 2
    e, lag = space_time_edges(coords, observed, k, lags)
    ids = -np.ones(observed.shape, int)
    ids[observed] = np.arange(observed.sum())
    d = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    near = np.argsort(d, 1)[:, 1:k + 1]
    want = set()
    for t in range(5):
        for i in range(9):
            if not observed[t, i]:
                continue
            for ell in range(lags + 1):
                if t - ell < 0:
                    continue
                sources = near[i] if ell == 0 else np.r_[i, near[i]]
                for j in sources:
                    if observed[t - ell, j]:
                        want.add((ids[t - ell, j], ids[t, i], ell))
    got = set(zip(e[0].tolist(), e[1].tolist(), lag.tolist(), strict=True))
    assert got == want and len(got) == e.shape[1]


def test_batch_attributes_and_missing_values_are_left_out():
    coords, values, times = dataset(n=10, n_t=4, r=2, missing=0.2)
    batch = collate_space_time([(coords, values, times)], k=3, lags=1)
    seen = ~np.isnan(values)
    assert batch.x.shape == (seen.sum(), 1)
    z = (values - np.nanmean(values)) / np.nanstd(values)
    np.testing.assert_allclose(batch.x[:, 0].numpy(), z[seen], rtol=1e-6)
    # the offsets: target minus source, in space and time
    node_t = np.concatenate([np.nonzero(seen[j * 4:(j + 1) * 4])[0] for j in range(2)])
    node_s = np.concatenate([np.nonzero(seen[j * 4:(j + 1) * 4])[1] for j in range(2)])
    src, dst = batch.edge_index.numpy()
    np.testing.assert_allclose(batch.edge_attr[:, :2].numpy(),
                               coords[node_s[dst]] - coords[node_s[src]], rtol=1e-6)
    np.testing.assert_allclose(batch.edge_attr[:, 2].numpy(),
                               times[node_t[dst]] - times[node_t[src]], rtol=1e-6)
    assert batch.graph.max() == 1 and batch.dataset.tolist() == [0, 0]
    assert batch.expert[0, 5].item() == pytest.approx(1 - seen.mean())
    assert batch.directional.shape == (1, n_directional())


def test_directional_correlations_match_a_direct_sum():
    coords, values, _ = dataset(n=12, n_t=5, r=2, missing=0.2, seed=3)
    z = values.reshape(2, 5, 12)
    got = directional_correlations(coords, z)
    edges = np.asarray(DIRECTIONAL_EDGES)
    nb = len(edges) - 1
    want = []
    for ell in DIRECTIONAL_LAGS:
        sums, counts = np.zeros(nb * SECTORS), np.zeros(nb * SECTORS)
        for i in range(12):
            for j in range(12):
                if i == j:
                    continue
                off = coords[i] - coords[j]
                dist = math.hypot(*off)
                if dist >= edges[-1]:
                    continue
                b = np.searchsorted(edges, dist, side="right") - 1
                s = int(np.floor(math.atan2(off[1], off[0]) / (2 * math.pi) * SECTORS + 0.5)) \
                    % SECTORS
                for r in range(2):
                    for t in range(ell, 5):
                        p = z[r, t, i] * z[r, t - ell, j]
                        if not np.isnan(p):
                            sums[b * SECTORS + s] += p
                            counts[b * SECTORS + s] += 1
        want.append(np.where(counts > 0, sums / np.maximum(counts, 1), 0.0))
    for ell in AUTOCORRELATION_LAGS:
        p = (z[:, ell:] * z[:, :5 - ell]).ravel() if ell < 5 else np.array([np.nan])
        want.append([np.nanmean(p) if np.isfinite(p).any() else 0.0])
    np.testing.assert_allclose(got, np.concatenate(want), rtol=1e-12, atol=1e-12)


def test_directional_correlations_point_along_the_transport():
    """A pattern moving along +x: at lag one the correlation is largest for offsets s_i − s_j
    pointing along +x (sector 0), not along −x (sector 4)."""
    rng = np.random.default_rng(5)
    coords = rng.uniform(0, 1, (200, 2))
    waves = rng.normal(size=(8, 2)) * 12.0
    phases = rng.uniform(0, 2 * np.pi, 8)
    v = np.array([0.05, 0.0])                        # per step
    z = np.stack([np.cos((coords - v * t) @ waves.T + phases).sum(1) for t in range(6)])[None]
    z = (z - z.mean()) / z.std()
    d = directional_correlations(coords, z)
    per_lag = (len(DIRECTIONAL_EDGES) - 1) * SECTORS
    lag1 = d[per_lag:2 * per_lag].reshape(-1, SECTORS)      # (bins, sectors)
    assert lag1[1, 0] > lag1[1, 4] + 0.1                      # 0.05–0.1: along v beats against


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return SpaceTimeGNNSummary(width=8, layers=2, out=6, k=4, lags=2).eval()


def test_summary_is_invariant_to_the_order_of_stations(net):
    coords, values, times = dataset(n=20, n_t=5, r=2, missing=0.1)
    perm = np.random.default_rng(1).permutation(20)
    with torch.no_grad():
        a = net(net.collate([(coords, values, times)]))
        b = net(net.collate([(coords[perm], values[:, perm], times)]))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_missing_values_change_nothing_but_their_terms(net):
    """A value marked missing is no node: the summary does not depend on what was there (the
    edges and summary terms without it are the test above and the direct sum)."""
    coords, values, times = dataset(n=20, n_t=5, missing=0.0, seed=2)
    a = values.copy()
    a[2, 7] = np.nan
    c = values.copy()
    c[2, 7] = 1e6                             # a wild value, then masked
    c[2, 7] = np.nan
    with torch.no_grad():
        sa = net(net.collate([(coords, a, times)]))
        sc = net(net.collate([(coords, c, times)]))
        full = net(net.collate([(coords, values, times)]))
    torch.testing.assert_close(sa, sc)
    assert not torch.allclose(sa, full)


def test_any_number_of_stations_times_and_a_batch_of_several(net):
    items = [dataset(n=12, n_t=4, seed=1), dataset(n=30, n_t=9, r=2, seed=2, missing=0.3)]
    with torch.no_grad():
        both = net(net.collate(items))
        one = net(net.collate(items[1:]))
    assert both.shape == (2, 6)
    torch.testing.assert_close(both[1:], one, rtol=1e-5, atol=1e-6)
    again = summary_from_config(net.config())
    assert isinstance(again, SpaceTimeGNNSummary) and again.config() == net.config()


def test_bad_space_time_input_is_refused(net):
    coords, values, times = dataset()
    with pytest.raises(ValueError, match=r"\(coords, values, times\)"):
        net.collate([(coords, values)])
    with pytest.raises(ValueError, match="times must be at least 2, increasing"):
        net.collate([(coords, values, times[::-1])])
    with pytest.raises(ValueError, match="are not"):
        net.collate([(coords, values[:-1], times)])
    with pytest.raises(ValueError, match="all equal"):
        net.collate([(coords, np.ones_like(values), times)])
    with pytest.raises(ValueError, match="lags must be"):
        SpaceTimeGNNSummary(lags=-1)
