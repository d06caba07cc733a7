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
    """Edges ``(2, E)`` (source, target): each point receives edges from its ``k`` nearest
    neighbours (within ``radius`` if given)."""
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
    """Empirical semivariances of standardised values and the share of pairs per lag bin,
    ``(2 · n_bins,)``:

        γ̂_b = (1 / 2|N_b|) Σ_{(i,j) ∈ N_b} mean_r (z̃_ri − z̃_rj)²,   f_b = |N_b| / (n(n−1)/2)

    over the pairs with distance in ``[edges[b], edges[b+1])`` (Matheron's estimator, averaged
    over replicates); an empty bin gives γ̂_b = 1 (the standardised variance), f_b = 0.
    ``coords (n, 2)``, ``z (r, n)``. All pairs, in one compiled pass that does not store them
    (scipy's ``pdist`` would hold n²/2 distances and bin them in a second pass).
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
    """The names of the expert summaries in the order of the columns of a batch's
    ``expert (B, len(fields))``: networks are trained on that order, so it never changes for
    a kind of batch; code reads and builds the columns by name."""

    fields: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.fields)

    def index(self, name: str) -> int:
        try:
            return self.fields.index(name)
        except ValueError:
            raise ValueError(f"no expert summary {name!r}; these batches have "
                             f"{list(self.fields)}") from None

    def row(self, **values) -> list:
        """The values given by name, in the column order (every field exactly once)."""
        if set(values) != set(self.fields):
            raise ValueError(f"expert summaries are {list(self.fields)}; got "
                             f"{sorted(values)}")
        return [values[f] for f in self.fields]

    def stack(self, **columns: torch.Tensor) -> torch.Tensor:
        """Columns ``(B,)`` given by name -> ``expert (B, len(fields))``."""
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
    """The expert summary ``name`` of every dataset of ``batch``, ``(B,)`` (e.g. "log_n")."""
    return batch.expert[:, batch.expert_layout.index(name)]


@dataclass
class GraphBatch(_Batch):
    """Several datasets as one disconnected graph, one subgraph per replicate.

    ``x (N, 1)`` standardised values, ``edge_index (2, E)``, ``edge_attr (E, 1)`` distances,
    ``graph (N,)`` the replicate-graph of each node, ``dataset (G,)`` the dataset of each
    replicate-graph, ``expert (B, 4)`` (:data:`GRAPH_EXPERT`).
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
    """Datasets whose graph-network features are already computed: ``phi (B, width)`` the
    replicate means of :meth:`GNNSummary.per_replicate`, with the ``expert (B, 4)`` and, where
    the network uses them, ``variogram`` and ``pilot`` summaries of
    :func:`collate_graphs` (training ψ and the head on frozen graph convolutions,
    :mod:`fieldfit.neural.frozen`)."""

    phi: torch.Tensor
    expert: torch.Tensor
    variogram: torch.Tensor | None = None
    pilot: torch.Tensor | None = None

    @property
    def dataset(self) -> torch.Tensor:
        return torch.arange(len(self.phi), device=self.phi.device)

    def select(self, idx) -> PooledBatch:
        return PooledBatch(*(None if t is None else t[idx]
                             for t in (self.phi, self.expert, self.variogram, self.pilot)))

    @staticmethod
    def concat(parts: Sequence[PooledBatch]) -> PooledBatch:
        """The datasets of ``parts``, in order, as one batch."""
        return PooledBatch(*(None if getattr(parts[0], k) is None else
                             torch.cat([getattr(p, k) for p in parts])
                             for k in ("phi", "expert", "variogram", "pilot")))


def collate_graphs(items: Sequence[tuple[np.ndarray, np.ndarray]], k: int = 10,
                   radius: float | None = None,
                   variogram: Sequence[float] | None = None,
                   pilot: Mapping | None = None) -> GraphBatch:
    """``items``: (coords (n, 2), values (r, n)) per dataset -> :class:`GraphBatch`;
    ``variogram``: lag-bin edges of :func:`variogram_summary` ``(B, 2 · n_bins)`` (None: none);
    ``pilot``: keyword arguments of :func:`fieldfit.neural.pilot.pilot_likelihoods` (ranges,
    nuggets, m), giving ``pilot (B, 3 · settings)`` (None: none).
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
    """Order of the points on a complete regular grid (row-major, y then x), its shape
    ``(ny, nx)`` and spacing (geometric mean of the two axes'); ValueError if the locations
    are not a complete regular grid."""
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
    """``images (G, 1, ny, nx)`` standardised, ``dataset (G,)``, ``expert (B, 4)``
    (:data:`GRID_EXPERT`)."""

    images: torch.Tensor
    dataset: torch.Tensor
    expert: torch.Tensor
    expert_layout: ClassVar[ExpertLayout] = GRID_EXPERT


def collate_grids(items: Sequence[tuple[np.ndarray, np.ndarray]]) -> GridBatch:
    """``items``: (coords (n, 2) on a regular grid, values (r, n)) -> :class:`GridBatch`
    (all datasets of a batch on grids of one shape)."""
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
