r"""Space-time datasets as network inputs: graphs over stations and times, directional summaries.

A space-time dataset is ``(coords (n, 2), values (r T, n), times (T,))``: n stations observed at
T regular times, r replicates (their T slices in turn), NaN where a value is missing. Every
observed value is a node; missing values are left out (masking, not imputation), and so are
their edges and their terms in every summary.

**Edges** (:func:`space_time_edges`). Node (i, t) receives edges from

* the k nearest stations j at the same time (lag 0), and
* station i itself and its k nearest stations j at each earlier time t − ℓ, ℓ = 1 … L,

where observed. An edge carries the offset vector from its source to its target and the time
between them, ``(x_i − x_j, y_i − y_j, t_i − t_j)``: a network weighting its messages by a
function of the offset (not only of its length) can learn the direction of transport, since a
field advected with velocity v is most like its own past at the offset v ℓ Δt.

**Directional lagged correlations** (:func:`directional_correlations`), the expert summaries of
transport: for lags ℓ = 0, 1, 2 steps, distance bins and 8 direction sectors of the offset
s_i − s_j, the mean of z̃_j(t − ℓ) z̃_i(t) over the observed pairs (z̃ the standardised
values), and each station's own autocorrelation at lags 1, 2, 4 and 8 steps; empty bins give 0.

Values are standardised per dataset over its observed values, as the spatial batches are
(:mod:`fieldfit.neural.graphs`); the expert summaries :data:`SPACE_TIME_EXPERT` add log T and
the share of missing values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

from .graphs import FLOAT, ExpertLayout, _Batch

#: space-time batches: mean and log sd of the observed values, log n, log T, log r, the share
#: of values missing
SPACE_TIME_EXPERT = ExpertLayout(("mean", "log_sd", "log_n", "log_t", "log_r", "missing"))
#: distance-bin edges of the directional summaries, on the unit square's scale
DIRECTIONAL_EDGES = (0.0, 0.05, 0.1, 0.2, 0.35)
#: lags (steps) of the directional summaries
DIRECTIONAL_LAGS = (0, 1, 2)
#: direction sectors of the directional summaries (sector 0 centred on +x, anticlockwise)
SECTORS = 8
#: lags (steps) of the stations' own autocorrelations
AUTOCORRELATION_LAGS = (1, 2, 4, 8)


def n_directional(edges: Sequence[float] = DIRECTIONAL_EDGES,
                  lags: Sequence[int] = DIRECTIONAL_LAGS) -> int:
    """The number of directional summaries per dataset."""
    return len(lags) * (len(edges) - 1) * SECTORS + len(AUTOCORRELATION_LAGS)


def _check(b: int, coords, values, times) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    coords = np.asarray(coords, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) < 2:
        raise ValueError(f"dataset {b}: coords must be (n, 2) with n >= 2, got {coords.shape}")
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError(f"dataset {b}: times must be at least 2, increasing")
    n, n_t = len(coords), len(times)
    if values.ndim != 2 or values.shape[1] != n or values.shape[0] % n_t:
        raise ValueError(f"dataset {b}: values {values.shape} are not (r × {n_t} times, {n} "
                         "stations)")
    if np.isinf(values).any():
        raise ValueError(f"dataset {b}: values contain infinite numbers")
    return coords, values.reshape(-1, n_t, n), times


def _standardise_observed(values: np.ndarray, b: int) -> tuple[np.ndarray, float, float]:
    seen = values[~np.isnan(values)]
    if seen.size < 2:
        raise ValueError(f"dataset {b}: fewer than 2 observed values")
    mean, sd = float(seen.mean()), float(seen.std())
    if not sd > 0:
        raise ValueError(f"dataset {b}: the observed values are all equal: nothing to estimate "
                         "a covariance from")
    return (values - mean) / sd, mean, sd


def _neighbours(coords: np.ndarray, k: int) -> np.ndarray:
    """``(n, min(k, n−1))`` indices of each station's nearest other stations."""
    kk = min(k, len(coords) - 1)
    return cKDTree(coords).query(coords, kk + 1)[1][:, 1:]


def space_time_edges(coords: np.ndarray, observed: np.ndarray, k: int = 8,
                     lags: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The edges among the observed values of one replicate (module docstring).

    Parameters
    ----------
    coords : numpy.ndarray, shape (n, 2)
        The stations.
    observed : numpy.ndarray of bool, shape (T, n)
        Which values are observed; node ids number the observed ones in (t, i) order.
    k : int, default 8
        Nearest stations per node and lag.
    lags : int, default 2
        L: the earlier times linked.

    Returns
    -------
    edges : numpy.ndarray, shape (2, E)
        ``(source, target)`` node ids.
    lag_steps : numpy.ndarray, shape (E,)
        ℓ of each edge (0 within a time).
    """
    n_t, n = observed.shape
    nb = _neighbours(coords, k)                              # (n, kk)
    ids = np.full(observed.shape, -1, dtype=np.int64)
    ids[observed] = np.arange(int(observed.sum()))
    src, dst, lag = [], [], []
    with_self = np.concatenate([np.arange(n)[:, None], nb], 1)
    for ell in range(0, lags + 1):
        if ell >= n_t:
            break
        sources = nb if ell == 0 else with_self              # (n, m)
        t = np.arange(ell, n_t)
        s_id = ids[t - ell][:, sources]                      # (T', n, m)
        d_id = np.broadcast_to(ids[t][:, :, None], s_id.shape)
        keep = (s_id >= 0) & (d_id >= 0)
        src.append(s_id[keep])
        dst.append(d_id[keep])
        lag.append(np.full(int(keep.sum()), ell))
    return np.stack([np.concatenate(src), np.concatenate(dst)]), np.concatenate(lag)


def directional_correlations(coords: np.ndarray, z: np.ndarray,
                             edges: Sequence[float] = DIRECTIONAL_EDGES,
                             lags: Sequence[int] = DIRECTIONAL_LAGS) -> np.ndarray:
    """Directional lagged correlations and autocorrelations of standardised values.

    Parameters
    ----------
    coords : numpy.ndarray, shape (n, 2)
        The stations.
    z : numpy.ndarray, shape (r, T, n)
        Standardised values, NaN where missing.
    edges : sequence of float
        Distance-bin edges (increasing; pairs beyond the last are not used).
    lags : sequence of int
        Lags in steps.

    Returns
    -------
    numpy.ndarray, shape (n_directional(edges, lags),)
        For each lag, distance bin and sector (in that nesting) the mean of
        z_j(t − ℓ) z_i(t) over observed pairs whose offset s_i − s_j falls there (0 if none),
        then the stations' autocorrelations at :data:`AUTOCORRELATION_LAGS`.
    """
    edges = np.asarray(edges, dtype=np.float64)
    n_b = len(edges) - 1
    pairs = cKDTree(coords).query_pairs(edges[-1], output_type="ndarray")
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])            # both orders: offsets ±
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    off = coords[i] - coords[j]
    dist = np.hypot(off[:, 0], off[:, 1])
    dbin = np.clip(np.searchsorted(edges, dist, side="right") - 1, 0, n_b - 1)
    angle = np.arctan2(off[:, 1], off[:, 0])
    sector = np.floor(angle / (2 * math.pi) * SECTORS + 0.5) % SECTORS
    cell = (dbin * SECTORS + sector).astype(np.int64)
    filled = np.where(np.isnan(z), 0.0, z)
    seen = (~np.isnan(z)).astype(np.float64)
    out = []
    for ell in lags:
        sums, counts = np.zeros(n_b * SECTORS), np.zeros(n_b * SECTORS)
        n_t = z.shape[1]
        if ell < n_t and len(i):
            later, earlier = filled[:, ell:], filled[:, :n_t - ell]
            w_later, w_earlier = seen[:, ell:], seen[:, :n_t - ell]
            prod = (later[:, :, i] * earlier[:, :, j]).sum((0, 1))       # (P,)
            cnt = (w_later[:, :, i] * w_earlier[:, :, j]).sum((0, 1))
            np.add.at(sums, cell, prod)
            np.add.at(counts, cell, cnt)
        out.append(np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0))
    auto = []
    for ell in AUTOCORRELATION_LAGS:
        n_t = z.shape[1]
        if ell >= n_t:
            auto.append(0.0)
            continue
        prod = (filled[:, ell:] * filled[:, :n_t - ell]).sum()
        cnt = (seen[:, ell:] * seen[:, :n_t - ell]).sum()
        auto.append(prod / cnt if cnt > 0 else 0.0)
    return np.concatenate([*out, np.asarray(auto)])


@dataclass
class SpaceTimeBatch(_Batch):
    """Several space-time datasets as one disconnected graph, one subgraph per replicate.

    Built by :func:`collate_space_time`; ``N`` observed values in all, ``G`` replicates.

    Parameters
    ----------
    x : torch.Tensor, shape (N, 1)
        Standardised values.
    edge_index : torch.Tensor, shape (2, E)
        Edges ``(source, target)``.
    edge_attr : torch.Tensor, shape (E, 3)
        Offset from source to target ``(dx, dy, dt)``, on the data's (unit) scales.
    graph : torch.Tensor, shape (N,)
        The replicate-graph of each node.
    dataset : torch.Tensor, shape (G,)
        The dataset of each replicate-graph.
    expert : torch.Tensor, shape (B, 6)
        Expert summaries, columns :data:`SPACE_TIME_EXPERT`.
    directional : torch.Tensor or None, shape (B, D)
        :func:`directional_correlations`, where the network uses them.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    graph: torch.Tensor
    dataset: torch.Tensor
    expert: torch.Tensor
    directional: torch.Tensor | None = None
    expert_layout = SPACE_TIME_EXPERT


def collate_space_time(items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int = 8,
                       lags: int = 2, directional: bool = True) -> SpaceTimeBatch:
    """Standardise space-time datasets and join them into one :class:`SpaceTimeBatch`.

    Parameters
    ----------
    items : sequence of (coords, values, times)
        Per dataset, ``coords (n, 2)``, ``values (r T, n)`` (the T slices of each replicate in
        turn; NaN where missing) and ``times (T,)``.
    k : int, default 8
        Nearest stations per node and lag (:func:`space_time_edges`).
    lags : int, default 2
        Earlier times linked.
    directional : bool, default True
        Compute :func:`directional_correlations`.

    Returns
    -------
    SpaceTimeBatch
        In float32.

    Raises
    ------
    ValueError
        If a dataset's arrays do not match, its times do not increase, its values are
        infinite, or fewer than 2 are observed or all are equal.
    """
    xs, edges, attrs, graph, dataset, expert, dirs = [], [], [], [], [], [], []
    offset = g = 0
    for b, item in enumerate(items):
        if len(item) != 3:
            raise ValueError(f"dataset {b}: a space-time dataset is (coords, values, times)")
        coords, values, times = _check(b, *item)
        z, mean, sd = _standardise_observed(values, b)
        r, n_t, n = z.shape
        observed = ~np.isnan(z)
        for j in range(r):
            e, lag = space_time_edges(coords, observed[j], k, lags)
            t_idx, s_idx = np.nonzero(observed[j])          # node order: (t, i)
            xs.append(z[j][observed[j]])
            dxy = coords[s_idx[e[1]]] - coords[s_idx[e[0]]]
            dt = times[t_idx[e[1]]] - times[t_idx[e[0]]]
            edges.append(e + offset)
            attrs.append(np.column_stack([dxy, dt]))
            graph.append(np.full(len(t_idx), g))
            dataset.append(b)
            offset += len(t_idx)
            g += 1
        expert.append(SPACE_TIME_EXPERT.row(mean=mean, log_sd=math.log(sd), log_n=math.log(n),
                                            log_t=math.log(n_t), log_r=math.log(r),
                                            missing=float(1.0 - observed.mean())))
        if directional:
            dirs.append(directional_correlations(coords, z))
    return SpaceTimeBatch(
        x=torch.as_tensor(np.concatenate(xs), dtype=FLOAT)[:, None],
        edge_index=torch.as_tensor(np.concatenate(edges, 1), dtype=torch.long),
        edge_attr=torch.as_tensor(np.concatenate(attrs), dtype=FLOAT),
        graph=torch.as_tensor(np.concatenate(graph), dtype=torch.long),
        dataset=torch.as_tensor(np.asarray(dataset), dtype=torch.long),
        expert=torch.as_tensor(np.asarray(expert), dtype=FLOAT),
        directional=(torch.as_tensor(np.asarray(dirs), dtype=FLOAT) if directional else None))


__all__ = ["SPACE_TIME_EXPERT", "SpaceTimeBatch", "collate_space_time",
           "directional_correlations", "n_directional", "space_time_edges"]
