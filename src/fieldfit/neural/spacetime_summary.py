r"""The space-time summary network: graph convolutions over stations and times, DeepSets over
replicates.

.. math::

    T(Z_1, \dots, Z_r) = \psi\Big( \Big[ \frac{1}{r} \sum_{j=1}^{r} \phi(Z_j),
    \text{expert summaries} \Big] \Big), \qquad
    \phi(Z) = \operatorname{mean}_{(i, t)\ \text{observed}} h^{(L)}_{i,t},

with :math:`h^{(L)}` from L :class:`~fieldfit.neural.summaries.SpatialGraphConv` layers on the
space-time graph of :mod:`fieldfit.neural.spacetime_graphs` (same-time neighbours and lagged
ones), each edge's message weighted by a learned function of its offset vector and time lag,
:math:`w(x_i - x_j, y_i - y_j, t_i - t_j)`. Because w sees the offset's direction, the
network can tell transport along +x from transport along −x; the mean over observed nodes makes
φ invariant to the order of the stations and lets any number of stations and times in, and a
missing value is no node at all. The expert summaries are the dataset's location, scale, size
and missing share (:data:`~fieldfit.neural.spacetime_graphs.SPACE_TIME_EXPERT`) and, by
default, its directional lagged correlations
(:func:`~fieldfit.neural.spacetime_graphs.directional_correlations`).

This generalises the spatial graph network of Sainsbury-Dale et al. (2025) to space-time; the
graph over space and time lags follows the space-time neighbourhoods of
Vecchia-type space-time approximations (Datta et al. 2016), here as message passing.

References
----------
M. Sainsbury-Dale, A. Zammit-Mangion, J. Richards and R. Huser (2025), "Neural Bayes
estimators for irregular spatial data using graph neural networks", Journal of Computational
and Graphical Statistics.

A. Datta, S. Banerjee, A. O. Finley, N. A. S. Hamm and M. Schaap (2016), "Nonseparable dynamic
nearest neighbor Gaussian process models for large spatio-temporal data", Annals of Applied
Statistics 10(3), 1286–1316.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .spacetime_graphs import SPACE_TIME_EXPERT, SpaceTimeBatch, collate_space_time, n_directional
from .summaries import _convolve_and_pool, _DeepSets, _graph_convolutions, _psi_sizes, mlp

#: the edge offsets are multiplied by this before the weight network (unit scales: a
#: neighbour at 0.05, a step of 0.01–0.05)
OFFSET_SCALE = 10.0


class SpaceTimeGNNSummary(nn.Module):
    """DeepSets of a space-time graph network (any n, T, r; missing values masked).

    Parameters
    ----------
    width : int, default 32
        Channels of the graph convolutions.
    layers : int, default 3
        Number of graph convolutions.
    out : int, default 64
        Size of the summary, ``S``.
    k : int, default 8
        Nearest stations per node and lag.
    lags : int, default 2
        Earlier times linked to each node.
    directional : bool, default True
        Add the directional lagged correlations to the expert summaries.
    psi : sequence of int or None, default None
        Hidden layer sizes of the DeepSets head ψ (default one of ``2 * width``).

    Raises
    ------
    ValueError
        If a size is not positive or ``lags`` is negative.
    """

    gridded = False

    def __init__(self, width: int = 32, layers: int = 3, out: int = 64, k: int = 8,
                 lags: int = 2, directional: bool = True, psi: Sequence[int] | None = None):
        super().__init__()
        for name, v in (("width", width), ("layers", layers), ("out", out), ("k", k)):
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        if int(lags) != lags or lags < 0:
            raise ValueError(f"lags must be a non-negative integer, got {lags}")
        self._config = dict(width=width, layers=layers, out=out, k=k, lags=lags,
                            directional=bool(directional))
        psi = _psi_sizes(psi)
        if psi is not None:
            self._config["psi"] = psi
        self.k, self.lags, self.directional = int(k), int(lags), bool(directional)
        self.convs = _graph_convolutions(width, layers)
        # (dx, dy, dt, |d|) → one weight vector per layer
        self.offset_weights = mlp([4, 32, width * layers])
        extra = n_directional() if directional else 0
        self.sets = _DeepSets(width, out, extra, psi, SPACE_TIME_EXPERT)
        self.out_features = out

    def config(self) -> dict:
        """The constructor's arguments (:func:`~fieldfit.neural.summaries.summary_from_config`).

        Returns
        -------
        dict
            ``{"kind": "st-gnn", ...}``.
        """
        return {"kind": "st-gnn", **self._config}

    def collate(self, items) -> SpaceTimeBatch:
        """Datasets as this network's input
        (:func:`~fieldfit.neural.spacetime_graphs.collate_space_time`).

        Parameters
        ----------
        items : sequence of (coords, values, times)
            ``coords (n, 2)``, ``values (r T, n)`` (NaN where missing), ``times (T,)``.

        Returns
        -------
        SpaceTimeBatch
        """
        return collate_space_time(items, self.k, self.lags, self.directional)

    def per_replicate(self, batch: SpaceTimeBatch) -> torch.Tensor:
        """φ: the graph convolutions averaged over each replicate's observed nodes.

        Parameters
        ----------
        batch : SpaceTimeBatch
            From :meth:`collate`.

        Returns
        -------
        torch.Tensor, shape (G, width)
            One row per replicate of the batch.
        """
        a = OFFSET_SCALE * batch.edge_attr
        dist = torch.linalg.vector_norm(a[:, :2], dim=1, keepdim=True)
        w = self.offset_weights(torch.cat([a, dist], 1))
        return _convolve_and_pool(self.convs, batch.x, batch.edge_index, w, batch.graph,
                                  len(batch.dataset))

    def forward(self, batch: SpaceTimeBatch) -> torch.Tensor:
        """The summaries ``(B, out)`` of a batch.

        Parameters
        ----------
        batch : SpaceTimeBatch
            From :meth:`collate`.

        Returns
        -------
        torch.Tensor, shape (B, out)

        Raises
        ------
        ValueError
            If the network uses the directional summaries and the batch lacks them.
        """
        expert = batch.expert
        if self.directional:
            if batch.directional is None:
                raise ValueError("this network needs the directional summaries in its batches "
                                 "(build them with its own collate)")
            expert = torch.cat([expert, batch.directional], 1)
        return self.sets.pool(self.per_replicate(batch), batch.dataset, batch.n_datasets,
                              expert)


__all__ = ["SpaceTimeGNNSummary"]
