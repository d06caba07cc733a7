r"""Summary networks: datasets of any size and number of replicates -> a vector ``(B, S)``.

Both networks are DeepSets over replicates (Zaheer et al. 2017; Sainsbury-Dale et al. 2024):

.. math::

    T(Z_1, \dots, Z_r) = \psi\Big( \Big[ \frac{1}{r} \sum_{j=1}^{r} \phi(Z_j),
    \text{expert summaries} \Big] \Big)

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

References
----------
M. Zaheer, S. Kottur, S. Ravanbakhsh, B. Poczos, R. Salakhutdinov and A. Smola (2017),
"Deep sets", NeurIPS 2017.

M. Sainsbury-Dale, A. Zammit-Mangion and R. Huser (2024), "Likelihood-free parameter
estimation with neural Bayes estimators", The American Statistician 78(1), 1–14.
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
    """A multilayer perceptron: linear layers of the given sizes with activations between them.

    Parameters
    ----------
    sizes : sequence of int
        Input size, hidden sizes, output size (at least two entries).
    act : type, default torch.nn.SiLU
        Activation module class, instantiated after every linear layer but the last.
    last_act : bool, default False
        Also apply the activation after the last linear layer.

    Returns
    -------
    torch.nn.Sequential
        Maps ``(B, sizes[0])`` to ``(B, sizes[-1])``.
    """
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or last_act:
            layers.append(act())
    return nn.Sequential(*layers)


class SpatialGraphConv(MessagePassing):
    r"""Graph convolution with messages weighted by a learned function of distance.

    After Danel et al. (2020) and the spatial graph convolution of Sainsbury-Dale et al. (2025):

    .. math::

        h'_i = \sigma\Big( W_1 h_i + \operatorname{mean}_{j \in N(i)} w(d_{ij}) \odot W_2 m_{ij}
        + b \Big),

    with :math:`m_{ij} = [h_j, (h_j - h_i)^2]` when ``squared=True`` (the first layer:
    variogram-like) and :math:`m_{ij} = h_j` otherwise (:math:`W_2` is then applied per node, not
    per edge); σ is the SiLU. The distance weights ``w (E, c_out)`` are given by the caller
    (:class:`GNNSummary` computes those of all layers with one small network of
    :math:`(10 d, \log d)`). Shapes: ``h (N, c_in) -> (N, c_out)``.

    Parameters
    ----------
    c_in : int
        Input channels.
    c_out : int
        Output channels.
    squared : bool, default False
        Use the squared differences :math:`(h_j - h_i)^2` in the messages.

    References
    ----------
    T. Danel et al. (2020), "Spatial graph convolutional networks", ICONIP 2020.

    M. Sainsbury-Dale, A. Zammit-Mangion, J. Richards and R. Huser (2025), "Neural Bayes
    estimators for irregular spatial data using graph neural networks", Journal of
    Computational and Graphical Statistics.
    """

    def __init__(self, c_in: int, c_out: int, squared: bool = False):
        super().__init__(aggr="mean")
        self.squared = squared
        self.root = nn.Linear(c_in, c_out)
        self.neighbour = nn.Linear(2 * c_in if squared else c_in, c_out, bias=False)
        self.act = nn.SiLU()

    def forward(self, h, edge_index, w):
        """Apply the convolution.

        Parameters
        ----------
        h : torch.Tensor, shape (N, c_in)
            Node features.
        edge_index : torch.Tensor, shape (2, E)
            Edges ``(source, target)``.
        w : torch.Tensor, shape (E, c_out)
            Distance weights of the edges.

        Returns
        -------
        torch.Tensor, shape (N, c_out)
            The new node features.
        """
        if self.squared:
            agg = self.propagate(edge_index, h=h, w=w)
        else:
            agg = self.propagate(edge_index, h=self.neighbour(h), w=w)
        return self.act(self.root(h) + agg)

    def message(self, h_i, h_j, w):
        r"""The message of each edge, :math:`w(d_{ij}) \odot W_2 m_{ij}` (torch-geometric hook).

        Parameters
        ----------
        h_i : torch.Tensor, shape (E, c)
            Features of each edge's target.
        h_j : torch.Tensor, shape (E, c)
            Features of each edge's source (already multiplied by :math:`W_2` unless ``squared``).
        w : torch.Tensor, shape (E, c_out)
            Distance weights.

        Returns
        -------
        torch.Tensor, shape (E, c_out)
            The messages, averaged per target by the layer.
        """
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


def _psi_sizes(psi: Sequence[int] | None) -> list[int] | None:
    """ψ's hidden layer sizes as integers (None: the default), refused unless positive."""
    if psi is None:
        return None
    psi = [int(h) for h in psi]
    if not psi or min(psi) < 1:
        raise ValueError(f"psi (hidden layer sizes) must be positive integers, got {psi}")
    return psi


def _graph_convolutions(width: int, layers: int) -> nn.ModuleList:
    """``layers`` :class:`SpatialGraphConv` of ``width`` channels, the first on the value with
    squared differences."""
    return nn.ModuleList([SpatialGraphConv(1 if i == 0 else width, width, squared=i == 0)
                          for i in range(layers)])


def _convolve_and_pool(convs: nn.ModuleList, x: torch.Tensor, edge_index: torch.Tensor,
                       weights: torch.Tensor, graph: torch.Tensor,
                       n_graphs: int) -> torch.Tensor:
    """The convolutions in turn, each with its slice of the edge ``weights (E, width ·
    layers)``, averaged over each graph's nodes: ``(n_graphs, width)``."""
    h = x
    for conv, w in zip(convs, weights.chunk(len(convs), 1), strict=True):
        h = conv(h, edge_index, w)
    return global_mean_pool(h, graph, size=n_graphs)


class GNNSummary(nn.Module):
    """DeepSets of a graph network for irregular locations (any n, any r).

    ``k`` nearest neighbours (or those within ``radius``) define the graph; ``layers`` spatial
    graph convolutions (:class:`SpatialGraphConv`) of ``width`` channels, averaged over each
    replicate's nodes, give φ; ψ maps the replicate mean of φ and the expert summaries to the
    output ``(B, out)`` (Sainsbury-Dale et al. 2024, 2025).

    Parameters
    ----------
    width : int, default 32
        Channels of the graph convolutions.
    layers : int, default 3
        Number of graph convolutions.
    out : int, default 64
        Size of the summary, ``S``.
    k : int, default 10
        Neighbours per node.
    radius : float or None, default None
        Largest edge length; ``None``: no limit.
    variogram : sequence of float or None, default None
        Lag-bin edges; the empirical semivariances of the standardised values over all pairs in
        those bins (:func:`~fieldfit.neural.graphs.variogram_summary`) join the expert summaries,
        giving the network the long-lag structure that k-nearest-neighbour messages do not
        reach.
    pilot : bool, mapping or None, default None
        True (the default grid) or the keyword arguments of
        :func:`~fieldfit.neural.pilot.pilot_likelihoods` (``ranges``, ``nuggets``, ``m``); a few
        fixed Vecchia profile likelihoods, generalised-least-squares means and profiled variances
        join the expert summaries (as likelihoods relative to the grid's best,
        :func:`~fieldfit.neural.pilot.relative_likelihoods`, unless ``relative=False``).
    psi : sequence of int or None, default None
        The hidden layer sizes of the DeepSets head ψ (default one of ``2 * width``).

    Raises
    ------
    ValueError
        If ``psi`` has no or non-positive sizes, the variogram edges do not increase, or the
        pilot settings are invalid.
    """

    gridded = False

    def __init__(self, width: int = 32, layers: int = 3, out: int = 64, k: int = 10,
                 radius: float | None = None, variogram: Sequence[float] | None = None,
                 pilot: bool | Mapping | None = None, psi: Sequence[int] | None = None):
        super().__init__()
        self._config = dict(width=width, layers=layers, out=out, k=k, radius=radius)
        psi = _psi_sizes(psi)
        if psi is not None:
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
        self.convs = _graph_convolutions(width, layers)
        self.distance_weights = mlp([2, 16, width * layers])
        extra = 0 if variogram is None else 2 * (len(variogram) - 1)
        if self.pilot is not None:
            extra += n_pilot_features(self.pilot["ranges"], self.pilot["nuggets"],
                                      self.pilot["relative"])
        self.sets = _DeepSets(width, out, extra, psi, GRAPH_EXPERT)
        self.out_features = out

    def config(self) -> dict:
        """The constructor's arguments, to rebuild the network (:func:`summary_from_config`).

        Returns
        -------
        dict
            ``{"kind": "gnn", ...}``.
        """
        return {"kind": "gnn", **self._config}

    def collate(self, items):
        """Datasets as this network's input (:func:`~fieldfit.neural.graphs.collate_graphs`).

        Parameters
        ----------
        items : sequence of (coords, values)
            ``coords (n, 2)`` and ``values (r, n)`` per dataset.

        Returns
        -------
        fieldfit.neural.graphs.GraphBatch
            With the variogram and pilot summaries this network uses.
        """
        return collate_graphs(items, self.k, self.radius, self.variogram, self.pilot)

    def per_replicate(self, batch) -> torch.Tensor:
        """φ: the graph convolutions averaged over each replicate's nodes.

        Parameters
        ----------
        batch : fieldfit.neural.graphs.GraphBatch
            From :meth:`collate`.

        Returns
        -------
        torch.Tensor, shape (R, width)
            One row per replicate of the batch (all datasets).
        """
        d = batch.edge_attr
        w = self.distance_weights(torch.cat([10.0 * d, torch.log(d.clamp_min(1e-6))], 1))
        return _convolve_and_pool(self.convs, batch.x, batch.edge_index, w, batch.graph,
                                  len(batch.dataset))

    def combine(self, per_graph: torch.Tensor, batch) -> torch.Tensor:
        """ψ of the replicate means of ``per_graph`` with the batch's expert summaries.

        Only ``dataset``, ``n_datasets``, ``expert`` and ``variogram`` / ``pilot`` of ``batch`` are
        read (training on frozen φ supplies those).

        Parameters
        ----------
        per_graph : torch.Tensor, shape (R, width)
            φ per replicate (:meth:`per_replicate`), or per dataset for a pooled batch.
        batch : GraphBatch or PooledBatch
            The batch ``per_graph`` was computed from.

        Returns
        -------
        torch.Tensor, shape (B, out)
            The summaries.

        Raises
        ------
        ValueError
            If the network uses variogram or pilot summaries and the batch lacks them.
        """
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
        """The summaries of a batch.

        Parameters
        ----------
        batch : GraphBatch or PooledBatch
            Graphs (φ is computed) or precomputed φ (frozen convolutions).

        Returns
        -------
        torch.Tensor, shape (B, out)
            One summary per dataset.
        """
        if isinstance(batch, PooledBatch):                  # φ given (frozen convolutions)
            return self.combine(batch.phi, batch)
        return self.combine(self.per_replicate(batch), batch)


class CNNSummary(nn.Module):
    """DeepSets of a convolutional network for gridded data (any grid size, any r).

    φ is a stack of 3 × 3 convolutions (stride 1, then 2, …) with SiLU activations and adaptive
    average pooling; ψ maps the replicate mean of φ and the expert summaries
    (:data:`~fieldfit.neural.graphs.GRID_EXPERT`) to the output ``(B, out)``.

    Parameters
    ----------
    channels : tuple of int, default (16, 32, 64)
        Output channels of each convolution.
    out : int, default 64
        Size of the summary, ``S``.
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
        """The constructor's arguments, to rebuild the network (:func:`summary_from_config`).

        Returns
        -------
        dict
            ``{"kind": "cnn", "channels": [...], "out": ...}``.
        """
        return {"kind": "cnn", **self._config}

    def collate(self, items):
        """Gridded datasets as this network's input (:func:`~fieldfit.neural.graphs.collate_grids`).

        Parameters
        ----------
        items : sequence of (coords, values)
            ``coords (n, 2)`` on a complete regular grid and ``values (r, n)`` per dataset.

        Returns
        -------
        fieldfit.neural.graphs.GridBatch
            The batch.
        """
        return collate_grids(items)

    def forward(self, batch) -> torch.Tensor:
        """The summaries of a batch.

        Parameters
        ----------
        batch : fieldfit.neural.graphs.GridBatch
            From :meth:`collate`.

        Returns
        -------
        torch.Tensor, shape (B, out)
            One summary per dataset.
        """
        return self.sets.pool(self.features(batch.images), batch.dataset, batch.n_datasets,
                              batch.expert)


def summary_from_config(cfg: dict) -> nn.Module:
    """Rebuild a summary network from its ``config()``.

    Parameters
    ----------
    cfg : dict
        ``{"kind": "gnn", "cnn" or "st-gnn", **constructor arguments}``.

    Returns
    -------
    GNNSummary, CNNSummary or SpaceTimeGNNSummary
        A freshly initialised network of that configuration.

    Raises
    ------
    ValueError
        If the kind is unknown or the arguments invalid.
    """
    cfg = dict(cfg)
    kind = cfg.pop("kind")
    if kind == "gnn":
        return GNNSummary(**cfg)
    if kind == "cnn":
        cfg["channels"] = tuple(cfg["channels"])
        return CNNSummary(**cfg)
    if kind == "st-gnn":
        from .spacetime_summary import SpaceTimeGNNSummary

        return SpaceTimeGNNSummary(**cfg)
    raise ValueError(f"unknown summary network {kind!r}")
