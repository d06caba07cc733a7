"""Batches of simulated or observed datasets as network inputs.

Every dataset is standardised before it reaches a network, ``z̃ = (z − z̄)/s`` with the mean
``z̄`` and standard deviation ``s`` over all its values, and the network also sees the *expert
summaries* ``(z̄, log s, log n, log r)`` (``log`` of the grid spacing in place of ``log n`` for
gridded data): location and scale then enter through two numbers whose effect is easy to learn,
and the rest of the network works on data of unit scale whatever the prior on mean and variance.
They are named by :data:`GRAPH_EXPERT` and :data:`GRID_EXPERT` (the column order of a batch's
``expert``, which trained networks depend on) and read by name, :func:`expert_field`.

Spatial graphs are built with scipy's k-d tree (``cKDTree``): each location receives edges from
its ``k`` nearest neighbours, or from all neighbours within ``radius`` (at most ``k``); the edge
attribute is the distance. torch-geometric's own ``knn_graph`` / ``radius_graph`` need pyg-lib or
torch-cluster, which are not installable here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numba
import numpy as np
import torch
from scipy.spatial import cKDTree

from .pilot import cached_pilot_likelihoods

FLOAT = torch.float32


def _standardise(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("data values contain NaN or infinite numbers")
    mean, sd = float(values.mean()), float(values.std())
    if not sd > 0:
        raise ValueError("the data values are all equal: nothing to estimate a covariance from")
    return (values - mean) / sd, mean, sd


def spatial_graph(coords: np.ndarray, k: int = 10, radius: float | None = None) -> np.ndarray:
    """Nearest-neighbour graph of a set of locations.

    Each point receives edges from its ``k`` nearest neighbours (fewer if there are fewer than
    ``k + 1`` points), keeping only those within ``radius`` if given; found with scipy's
    ``cKDTree``.

    Parameters
    ----------
    coords : array_like, shape (n, 2)
        The locations.
    k : int, default 10
        Most incoming edges per point.
    radius : float or None, default None
        Largest distance of an edge; ``None``: no limit.

    Returns
    -------
    numpy.ndarray, shape (2, E)
        Edges as ``(source, target)`` indices into ``coords``; no self-loops.

    Raises
    ------
    ValueError
        If there are fewer than 2 locations.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = len(coords)
    if n < 2:
        raise ValueError("a spatial graph needs at least 2 locations")
    kk = min(k, n - 1)
    dist, idx = cKDTree(coords).query(coords, kk + 1,
                                      distance_upper_bound=np.inf if radius is None else radius)
    dist, idx = dist[:, 1:], idx[:, 1:]
    keep = np.isfinite(dist)
    target = np.repeat(np.arange(n), kk).reshape(n, kk)
    return np.stack([idx[keep], target[keep]])


#: lag-bin edges of the empirical-variogram summaries, on the unit square's scale
VARIOGRAM_EDGES = (0.0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8)


@numba.njit(cache=True, nogil=True)
def _binned_pairs(coords, z, edges, step, lut):  # pragma: no cover  (compiled)
    n, nb = coords.shape[0], len(edges) - 1
    sums, counts = np.zeros(nb), np.zeros(nb)
    top = edges[nb]
    for i in range(n - 1):
        for j in range(i + 1, n):
            dx, dy = coords[i, 0] - coords[j, 0], coords[i, 1] - coords[j, 1]
            d = math.sqrt(dx * dx + dy * dy)
            if d >= top:
                continue
            b = lut[min(int(d / step), len(lut) - 1)]
            while d >= edges[b + 1]:
                b += 1
            sq = 0.0
            for r in range(z.shape[0]):
                sq += (z[r, i] - z[r, j]) ** 2
            sums[b] += sq
            counts[b] += 1.0
    return sums, counts


def variogram_summary(coords: np.ndarray, z: np.ndarray,
                      edges: Sequence[float] = VARIOGRAM_EDGES) -> np.ndarray:
    r"""Empirical semivariances of standardised values and the share of pairs per lag bin.

    .. math::

        \hat\gamma_b = \frac{1}{2 |N_b|} \sum_{(i, j) \in N_b} \frac{1}{r} \sum_{k=1}^{r}
        (\tilde z_{ki} - \tilde z_{kj})^2, \qquad f_b = \frac{|N_b|}{n (n - 1) / 2},

    over the pairs :math:`N_b` with distance in ``[edges[b], edges[b+1])`` (Matheron's
    estimator, averaged over replicates); an empty bin gives :math:`\hat\gamma_b = 1` (the
    standardised variance) and :math:`f_b = 0`. All pairs are visited in one compiled pass that
    does not store them (scipy's ``pdist`` would hold :math:`n^2/2` distances and bin them in a
    second pass).

    Parameters
    ----------
    coords : array_like, shape (n, 2)
        The locations.
    z : array_like, shape (r, n) or (n,)
        Standardised values, one row per replicate.
    edges : sequence of float, default VARIOGRAM_EDGES
        Increasing lag-bin edges, ``n_bins + 1`` of them; pairs at distance ``>= edges[-1]``
        are ignored.

    Returns
    -------
    numpy.ndarray, shape (2 * n_bins,)
        :math:`(\hat\gamma_1, \dots, \hat\gamma_{n_{bins}}, f_1, \dots, f_{n_{bins}})`.
    """
    coords = np.ascontiguousarray(coords, dtype=np.float64)
    z = np.ascontiguousarray(np.atleast_2d(z), dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    n = len(coords)
    step = float(np.diff(edges).min())
    lut = np.searchsorted(edges, np.arange(int(np.ceil(edges[-1] / step)) + 1) * step,
                          side="right") - 1
    lut = np.clip(lut, 0, len(edges) - 2)
    sums, counts = _binned_pairs(coords, z, edges, step, lut.astype(np.int64))
    gamma = np.where(counts > 0, sums / (2.0 * len(z) * np.maximum(counts, 1)), 1.0)
    return np.concatenate([gamma, counts / (n * (n - 1) / 2)])


@dataclass(frozen=True)
class ExpertLayout:
    """The names of the expert summaries, in the column order of a batch's ``expert``.

    A batch's ``expert`` has shape ``(B, len(fields))``: networks are trained on that order, so
    it never changes for a kind of batch; code reads and builds the columns by name.

    Parameters
    ----------
    fields : tuple of str
        The names of the columns, in order.
    """

    fields: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.fields)

    def index(self, name: str) -> int:
        """The column of the expert summary ``name``.

        Parameters
        ----------
        name : str
            One of :attr:`fields`.

        Returns
        -------
        int
            Its position in :attr:`fields`.

        Raises
        ------
        ValueError
            If there is no summary of that name.
        """
        try:
            return self.fields.index(name)
        except ValueError:
            raise ValueError(f"no expert summary {name!r}; these batches have "
                             f"{list(self.fields)}") from None

    def row(self, **values) -> list:
        """The values given by name, in the column order (every field exactly once).

        Parameters
        ----------
        **values
            One value per field, by name.

        Returns
        -------
        list
            The values in the order of :attr:`fields`.

        Raises
        ------
        ValueError
            If the names given are not exactly the fields.
        """
        if set(values) != set(self.fields):
            raise ValueError(f"expert summaries are {list(self.fields)}; got "
                             f"{sorted(values)}")
        return [values[f] for f in self.fields]

    def stack(self, **columns: torch.Tensor) -> torch.Tensor:
        """Columns given by name, stacked into an ``expert`` matrix.

        Parameters
        ----------
        **columns : torch.Tensor, shape (B,)
            One column per field, by name.

        Returns
        -------
        torch.Tensor, shape (B, len(fields))
            The columns in the order of :attr:`fields`.

        Raises
        ------
        ValueError
            If the names given are not exactly the fields.
        """
        return torch.stack(self.row(**columns), 1)


#: graph batches: mean and log standard deviation of all values, log n, log r (replicates)
GRAPH_EXPERT = ExpertLayout(("mean", "log_sd", "log_n", "log_r"))
#: grid batches: as graphs, with the log of the grid spacing in place of log n
GRID_EXPERT = ExpertLayout(("mean", "log_sd", "log_spacing", "log_r"))


class _Batch:
    """A batch of datasets: ``expert (B, len(expert_layout))`` has one row per dataset."""

    expert: torch.Tensor
    expert_layout: ClassVar[ExpertLayout] = GRAPH_EXPERT

    @property
    def n_datasets(self) -> int:
        return self.expert.shape[0]


def expert_field(batch: _Batch, name: str) -> torch.Tensor:
    """The expert summary ``name`` of every dataset of ``batch`` (e.g. ``"log_n"``).

    Parameters
    ----------
    batch : GraphBatch, PooledBatch or GridBatch
        A batch with an ``expert`` matrix ``(B, len(layout))``.
    name : str
        A field of the batch's ``expert_layout``.

    Returns
    -------
    torch.Tensor, shape (B,)
        That column of ``batch.expert``.

    Raises
    ------
    ValueError
        If the batch has no expert summary of that name.
    """
    return batch.expert[:, batch.expert_layout.index(name)]


@dataclass
class GraphBatch(_Batch):
    """Several datasets as one disconnected graph, one subgraph per replicate.

    A batch of ``B`` datasets with ``G`` replicates in all and ``N`` nodes (locations times
    replicates) in all; built by :func:`collate_graphs`.

    Parameters
    ----------
    x : torch.Tensor, shape (N, 1)
        Standardised values.
    edge_index : torch.Tensor, shape (2, E)
        Edges ``(source, target)`` into the nodes.
    edge_attr : torch.Tensor, shape (E, 1)
        Edge lengths (distances).
    graph : torch.Tensor, shape (N,)
        The replicate-graph of each node.
    dataset : torch.Tensor, shape (G,)
        The dataset of each replicate-graph.
    expert : torch.Tensor, shape (B, 4)
        Expert summaries, columns :data:`GRAPH_EXPERT`.
    variogram : torch.Tensor or None, shape (B, 2 * n_bins)
        Variogram summaries (:func:`variogram_summary`), if the network uses them.
    pilot : torch.Tensor or None, shape (B, 3 * S)
        Pilot likelihoods (:func:`fieldfit.neural.pilot.pilot_likelihoods`), if the network
        uses them.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    graph: torch.Tensor
    dataset: torch.Tensor
    expert: torch.Tensor
    variogram: torch.Tensor | None = None
    pilot: torch.Tensor | None = None


@dataclass
class PooledBatch(_Batch):
    """Datasets whose graph-network features are already computed.

    Used to train ψ and the head on frozen graph convolutions (:mod:`fieldfit.neural.frozen`).

    Parameters
    ----------
    phi : torch.Tensor, shape (B, width)
        The replicate means of :meth:`GNNSummary.per_replicate`.
    expert : torch.Tensor, shape (B, 4)
        Expert summaries, columns :data:`GRAPH_EXPERT`.
    variogram : torch.Tensor or None, shape (B, 2 * n_bins)
        Variogram summaries of :func:`collate_graphs`, where the network uses them.
    pilot : torch.Tensor or None, shape (B, 3 * S)
        Pilot-likelihood summaries of :func:`collate_graphs`, where the network uses them.
    """

    phi: torch.Tensor
    expert: torch.Tensor
    variogram: torch.Tensor | None = None
    pilot: torch.Tensor | None = None

    @property
    def dataset(self) -> torch.Tensor:
        """The dataset of each row, ``arange(B)`` (one pooled row per dataset)."""
        return torch.arange(len(self.phi), device=self.phi.device)

    def select(self, idx) -> PooledBatch:
        """The datasets ``idx`` of the batch, as a new batch.

        Parameters
        ----------
        idx : int, slice, sequence of int or torch.Tensor
            Which rows to keep (any index torch accepts on the first axis).

        Returns
        -------
        PooledBatch
            The selected rows of every tensor (``None`` summaries stay ``None``).
        """
        return PooledBatch(*(None if t is None else t[idx]
                             for t in (self.phi, self.expert, self.variogram, self.pilot)))

    @staticmethod
    def concat(parts: Sequence[PooledBatch]) -> PooledBatch:
        """The datasets of ``parts``, in order, as one batch.

        Parameters
        ----------
        parts : sequence of PooledBatch
            Non-empty; all with the same optional summaries as the first.

        Returns
        -------
        PooledBatch
            The tensors of the parts concatenated along the first axis.
        """
        return PooledBatch(*(None if getattr(parts[0], k) is None else
                             torch.cat([getattr(p, k) for p in parts])
                             for k in ("phi", "expert", "variogram", "pilot")))


def collate_graphs(items: Sequence[tuple[np.ndarray, np.ndarray]], k: int = 10,
                   radius: float | None = None,
                   variogram: Sequence[float] | None = None,
                   pilot: Mapping | None = None) -> GraphBatch:
    """Standardise datasets and join them into one :class:`GraphBatch`.

    Each dataset is standardised over all its values (``(z - mean) / sd``), its locations joined
    by :func:`spatial_graph`, and its graph repeated once per replicate.

    Parameters
    ----------
    items : sequence of (coords, values)
        Per dataset, ``coords`` of shape ``(n, 2)`` and ``values`` of shape ``(r, n)`` (or
        ``(n,)`` for one replicate).
    k : int, default 10
        Neighbours per node (:func:`spatial_graph`).
    radius : float or None, default None
        Largest edge length (:func:`spatial_graph`).
    variogram : sequence of float or None, default None
        Lag-bin edges of :func:`variogram_summary`, giving ``variogram (B, 2 * n_bins)``;
        ``None``: none.
    pilot : mapping or None, default None
        Keyword arguments of :func:`fieldfit.neural.pilot.pilot_likelihoods` (``ranges``,
        ``nuggets``, ``m``), giving ``pilot (B, 3 * S)`` with ``S`` settings; ``None``: none.

    Returns
    -------
    GraphBatch
        The batch, in float32.

    Raises
    ------
    ValueError
        If a dataset's coordinates do not match its values, its values are not finite or all
        equal, or it has fewer than 2 locations.
    """
    xs, edges, dists, graph, dataset, expert, vario, pil = [], [], [], [], [], [], [], []
    offset = g = 0
    for b, item in enumerate(items):
        coords = np.asarray(item[0], dtype=np.float64)
        values = np.atleast_2d(item[1])
        r, n = values.shape
        if coords.shape != (n, 2):
            raise ValueError(f"dataset {b}: coords {coords.shape} do not match values "
                             f"{values.shape}")
        z, mean, sd = _standardise(values)
        e = spatial_graph(coords, k, radius)
        d = np.linalg.norm(coords[e[0]] - coords[e[1]], axis=1)
        for j in range(r):
            xs.append(z[j])
            edges.append(e + offset)
            dists.append(d)
            graph.append(np.full(n, g))
            dataset.append(b)
            offset += n
            g += 1
        expert.append(GRAPH_EXPERT.row(mean=mean, log_sd=np.log(sd), log_n=np.log(n),
                                       log_r=np.log(r)))
        if variogram is not None:
            vario.append(variogram_summary(coords, z, variogram))
        if pilot is not None:
            pil.append(cached_pilot_likelihoods(
                item, coords, z, **{k: pilot[k] for k in ("ranges", "nuggets", "m") if k in pilot}))
    return GraphBatch(
        x=torch.as_tensor(np.concatenate(xs), dtype=FLOAT)[:, None],
        edge_index=torch.as_tensor(np.concatenate(edges, 1), dtype=torch.long),
        edge_attr=torch.as_tensor(np.concatenate(dists), dtype=FLOAT)[:, None],
        graph=torch.as_tensor(np.concatenate(graph), dtype=torch.long),
        dataset=torch.as_tensor(np.asarray(dataset), dtype=torch.long),
        expert=torch.as_tensor(np.asarray(expert), dtype=FLOAT),
        variogram=(torch.as_tensor(np.asarray(vario), dtype=FLOAT) if variogram is not None
                   else None),
        pilot=torch.as_tensor(np.asarray(pil), dtype=FLOAT) if pilot is not None else None,
    )


def grid_shape(coords: np.ndarray) -> tuple[np.ndarray, tuple[int, int], float]:
    """Recognise a complete regular grid: the order of its points, its shape and spacing.

    Parameters
    ----------
    coords : array_like, shape (n, 2)
        The locations (coordinates are compared after rounding to 9 decimals).

    Returns
    -------
    order : numpy.ndarray, shape (n,)
        Indices putting the points in row-major order (y, then x).
    shape : tuple of int
        ``(ny, nx)``.
    spacing : float
        Geometric mean of the spacings along the two axes.

    Raises
    ------
    ValueError
        If the locations are not a complete regular grid of at least 2 x 2 points.
    """
    coords = np.asarray(coords, dtype=np.float64)
    xs, ix = np.unique(np.round(coords[:, 0], 9), return_inverse=True)
    ys, iy = np.unique(np.round(coords[:, 1], 9), return_inverse=True)
    if len(xs) * len(ys) != len(coords) or len(np.unique(iy * len(xs) + ix)) != len(coords):
        raise ValueError(f"the {len(coords)} locations are not a complete grid "
                         f"({len(ys)} distinct y x {len(xs)} distinct x)")
    if len(xs) < 2 or len(ys) < 2:
        raise ValueError("a grid needs at least 2 distinct x and 2 distinct y")
    dx, dy = np.diff(xs), np.diff(ys)
    if not (np.allclose(dx, dx[0], rtol=1e-6) and np.allclose(dy, dy[0], rtol=1e-6)):
        raise ValueError("the grid is not regular (unequal spacings along an axis)")
    return (np.argsort(iy * len(xs) + ix, kind="stable"), (len(ys), len(xs)),
            float(np.sqrt(dx[0] * dy[0])))


@dataclass
class GridBatch(_Batch):
    """Gridded datasets as a stack of images, built by :func:`collate_grids`.

    Parameters
    ----------
    images : torch.Tensor, shape (G, 1, ny, nx)
        Standardised values, one image per replicate.
    dataset : torch.Tensor, shape (G,)
        The dataset of each image.
    expert : torch.Tensor, shape (B, 4)
        Expert summaries, columns :data:`GRID_EXPERT`.
    """

    images: torch.Tensor
    dataset: torch.Tensor
    expert: torch.Tensor
    expert_layout: ClassVar[ExpertLayout] = GRID_EXPERT


def collate_grids(items: Sequence[tuple[np.ndarray, np.ndarray]]) -> GridBatch:
    """Standardise gridded datasets and stack them into one :class:`GridBatch`.

    Parameters
    ----------
    items : sequence of (coords, values)
        Per dataset, ``coords`` of shape ``(n, 2)`` on a complete regular grid and ``values`` of
        shape ``(r, n)`` (or ``(n,)``); all grids of one shape.

    Returns
    -------
    GridBatch
        The batch, in float32.

    Raises
    ------
    ValueError
        If a dataset is not on a complete regular grid, the grids differ in shape, or a
        dataset's values are not finite or all equal.
    """
    images, dataset, expert, shape = [], [], [], None
    for b, (coords, values) in enumerate(items):
        values = np.atleast_2d(values)
        order, sh, step = grid_shape(coords)
        if shape is not None and sh != shape:
            raise ValueError(f"grids of different shapes in one batch: {shape} and {sh}")
        shape = sh
        z, mean, sd = _standardise(values)
        images.append(z[:, order].reshape(-1, 1, *sh))
        dataset.extend([b] * len(values))
        expert.append(GRID_EXPERT.row(mean=mean, log_sd=np.log(sd), log_spacing=np.log(step),
                                      log_r=np.log(len(values))))
    return GridBatch(torch.as_tensor(np.concatenate(images), dtype=FLOAT),
                     torch.as_tensor(np.asarray(dataset), dtype=torch.long),
                     torch.as_tensor(np.asarray(expert), dtype=FLOAT))
