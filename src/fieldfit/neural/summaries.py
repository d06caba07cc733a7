"""Summary networks: datasets of any size and number of replicates -> a vector ``(B, S)``.

Both networks are DeepSets over replicates (Zaheer et al. 2017; Sainsbury-Dale et al. 2024):

    T(Z_1, …, Z_r) = ψ( [ (1/r) Σ_j φ(Z_j) , expert summaries ] )

with φ a spatial network applied to each replicate and the mean over replicates making T
invariant to their order. φ is

* :class:`GNNSummary` for irregular locations: layers of :class:`SpatialGraphConv`, mean-pooled
  over the nodes (invariant to the order of the locations), on k-nearest-neighbour graphs;
  optionally with empirical variograms or pilot likelihoods (:mod:`fieldfit.neural.pilot`)
  among the expert summaries;
* :class:`CNNSummary` for gridded data: 3 × 3 convolutions, adaptive average pooling (any grid
  size).

Networks compute in float32 (training speed on CPUs); inputs are standardised
(:mod:`fieldfit.neural.graphs`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import MessagePassing, global_mean_pool
from torch_geometric.utils import scatter

from .graphs import (
    GRAPH_EXPERT,
    GRID_EXPERT,
    ExpertLayout,
    PooledBatch,
    collate_graphs,
    collate_grids,
    expert_field,
)
from .pilot import n_pilot_features, pilot_settings, relative_likelihoods


def mlp(sizes, act=nn.SiLU, last_act: bool = False) -> nn.Sequential:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_act:
            layers.append(act())
    return nn.Sequential(*layers)


class SpatialGraphConv(MessagePassing):
    """Graph convolution with messages weighted by a learned function of distance
    (Danel et al. 2020; the spatial graph convolution of Sainsbury-Dale et al. 2025):

        h'_i = σ( W_1 h_i + mean_{j ∈ N(i)} w(d_ij) ⊙ W_2 m_ij + b ),
        m_ij = [h_j, (h_j − h_i)²]  (``squared=True``, the first layer: variogram-like)
        m_ij = h_j                  (otherwise; W_2 is then applied per node, not per edge)

    The distance weights ``w (E, c_out)`` are given by the caller (:class:`GNNSummary` computes
    those of all layers with one small network of ``(10 d, log d)``). Shapes:
    ``h (N, c_in) -> (N, c_out)``.
    """

    def __init__(self, c_in: int, c_out: int, squared: bool = False):
        super().__init__(aggr="mean")
        self.squared = squared
        self.root = nn.Linear(c_in, c_out)
        self.neighbour = nn.Linear(2 * c_in if squared else c_in, c_out, bias=False)
        self.act = nn.SiLU()

    def forward(self, h, edge_index, w):
        if self.squared:
            agg = self.propagate(edge_index, h=h, w=w)
        else:
            agg = self.propagate(edge_index, h=self.neighbour(h), w=w)
        return self.act(self.root(h) + agg)

    def message(self, h_i, h_j, w):
        if self.squared:
            return w * self.neighbour(torch.cat([h_j, (h_j - h_i) ** 2], 1))
        return w * h_j


class _DeepSets(nn.Module):
    """ψ over the replicate mean of φ, with the expert summaries of ``expert`` (their layout)
    and ``extra`` further numbers appended; ``hidden``: ψ's hidden layer sizes (default one
    of ``2 · width``)."""

    def __init__(self, width: int, out: int, extra: int = 0, hidden: Sequence[int] | None = None,
                 expert: ExpertLayout = GRAPH_EXPERT):
        super().__init__()
        hidden = [2 * width] if hidden is None else [int(h) for h in hidden]
        self.n_expert = len(expert)
        self.psi = mlp([width + self.n_expert + extra, *hidden, out])
        self.out_features = out

    def pool(self, per_replicate, dataset, n_datasets, expert):
        pooled = scatter(per_replicate, dataset, 0, dim_size=n_datasets, reduce="mean")
        return self.psi(torch.cat([pooled, expert], 1))


class GNNSummary(nn.Module):
    """DeepSets of a graph network for irregular locations (any n, any r).

    ``k`` nearest neighbours (or those within ``radius``) define the graph; ``layers`` spatial
    graph convolutions of ``width`` channels; output ``(B, out)``. ``variogram``: lag-bin edges;
    the empirical semivariances of the standardised values over all pairs in those bins
    (:func:`~fieldfit.neural.graphs.variogram_summary`) join the expert summaries, giving the
    network the long-lag structure that k-nearest-neighbour messages do not reach.
    ``pilot``: True (the default grid) or the keyword arguments of
    :func:`~fieldfit.neural.pilot.pilot_likelihoods` (``ranges``, ``nuggets``, ``m``); a few
    fixed Vecchia profile likelihoods, generalised-least-squares means and profiled variances
    join the expert summaries (as likelihoods relative to the grid's best,
    :func:`~fieldfit.neural.pilot.relative_likelihoods`, unless ``relative=False``).
    ``psi``: the hidden layer sizes of the DeepSets head ψ (default one of ``2 · width``).
    """

    gridded = False

    def __init__(self, width: int = 32, layers: int = 3, out: int = 64, k: int = 10,
                 radius: float | None = None, variogram: Sequence[float] | None = None,
                 pilot: bool | Mapping | None = None, psi: Sequence[int] | None = None):
        super().__init__()
        self._config = dict(width=width, layers=layers, out=out, k=k, radius=radius)
        if psi is not None:
            psi = [int(h) for h in psi]
            if not psi or min(psi) < 1:
                raise ValueError(f"psi (hidden layer sizes) must be positive integers, got {psi}")
            self._config["psi"] = psi
        self.pilot = pilot_settings(pilot)
        if self.pilot is not None:
            self._config["pilot"] = self.pilot
        if variogram is not None:
            variogram = [float(e) for e in variogram]
            if len(variogram) < 2 or any(np.diff(variogram) <= 0):
                raise ValueError(f"variogram lag edges must increase, got {variogram}")
            self._config["variogram"] = variogram
        self.k, self.radius, self.variogram = k, radius, variogram
        self.convs = nn.ModuleList(
            [SpatialGraphConv(1 if i == 0 else width, width, squared=i == 0)
             for i in range(layers)])
        self.distance_weights = mlp([2, 16, width * layers])
        extra = 0 if variogram is None else 2 * (len(variogram) - 1)
        if self.pilot is not None:
            extra += n_pilot_features(self.pilot["ranges"], self.pilot["nuggets"],
                                      self.pilot["relative"])
        self.sets = _DeepSets(width, out, extra, psi, GRAPH_EXPERT)
        self.out_features = out

    def config(self) -> dict:
        return {"kind": "gnn", **self._config}

    def collate(self, items):
        return collate_graphs(items, self.k, self.radius, self.variogram, self.pilot)

    def per_replicate(self, batch) -> torch.Tensor:
        """φ: the graph convolutions averaged over each replicate's nodes, ``(R, width)``
        for the batch's R replicates (all datasets)."""
        d = batch.edge_attr
        w = self.distance_weights(torch.cat([10.0 * d, torch.log(d.clamp_min(1e-6))], 1))
        h = batch.x
        for conv, wl in zip(self.convs, w.chunk(len(self.convs), 1), strict=True):
            h = conv(h, batch.edge_index, wl)
        return global_mean_pool(h, batch.graph, size=len(batch.dataset))

    def combine(self, per_graph: torch.Tensor, batch) -> torch.Tensor:
        """ψ of the replicate means of ``per_graph`` (:meth:`per_replicate`) with the batch's
        expert summaries: ``(B, out)``. Only ``dataset``, ``n_datasets``, ``expert`` and
        ``variogram`` / ``pilot`` of ``batch`` are read (training on frozen φ supplies those)."""
        expert = batch.expert
        if self.variogram is not None:
            if batch.variogram is None:
                raise ValueError("this network needs the variogram summaries in its batches "
                                 "(build them with its own collate)")
            expert = torch.cat([expert, batch.variogram], 1)
        if self.pilot is not None:
            if batch.pilot is None:
                raise ValueError("this network needs the pilot likelihoods in its batches "
                                 "(build them with its own collate)")
            pilot = batch.pilot
            if self.pilot["relative"]:
                pilot = relative_likelihoods(pilot, torch.exp(expert_field(batch, "log_n")))
            expert = torch.cat([expert, pilot], 1)
        return self.sets.pool(per_graph, batch.dataset, batch.n_datasets, expert)

    def forward(self, batch) -> torch.Tensor:
        if isinstance(batch, PooledBatch):                  # φ given (frozen convolutions)
            return self.combine(batch.phi, batch)
        return self.combine(self.per_replicate(batch), batch)


class CNNSummary(nn.Module):
    """DeepSets of a convolutional network for gridded data (any grid size, any r).

    ``channels`` per 3 × 3 convolution (stride 1, then 2, …), adaptive average pooling;
    output ``(B, out)``.
    """

    gridded = True

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64), out: int = 64):
        super().__init__()
        self._config = dict(channels=list(channels), out=out)
        layers, c = [], 1
        for i, c_out in enumerate(channels):
            layers += [nn.Conv2d(c, c_out, 3, stride=1 if i == 0 else 2, padding=1), nn.SiLU()]
            c = c_out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.sets = _DeepSets(c, out, expert=GRID_EXPERT)
        self.out_features = out

    def config(self) -> dict:
        return {"kind": "cnn", **self._config}

    def collate(self, items):
        return collate_grids(items)

    def forward(self, batch) -> torch.Tensor:
        return self.sets.pool(self.features(batch.images), batch.dataset, batch.n_datasets,
                              batch.expert)


def summary_from_config(cfg: dict) -> nn.Module:
    cfg = dict(cfg)
    kind = cfg.pop("kind")
    if kind == "gnn":
        return GNNSummary(**cfg)
    if kind == "cnn":
        cfg["channels"] = tuple(cfg["channels"])
        return CNNSummary(**cfg)
    raise ValueError(f"unknown summary network {kind!r}")
