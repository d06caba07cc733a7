"""Batches of simulated or observed datasets as network inputs.

Every dataset is standardised before it reaches a network, ``z̃ = (z − z̄)/s`` with the mean
``z̄`` and standard deviation ``s`` over all its values, and the network also sees the *expert
summaries* ``(z̄, log s, log n, log r)`` (``log`` of the grid spacing in place of ``log n`` for
gridded data): location and scale then enter through two numbers whose effect is easy to learn,
and the rest of the network works on data of unit scale whatever the prior on mean and variance.

Spatial graphs are built with scipy's k-d tree (``cKDTree``): each location receives edges from
its ``k`` nearest neighbours, or from all neighbours within ``radius`` (at most ``k``); the edge
attribute is the distance. torch-geometric's own ``knn_graph`` / ``radius_graph`` need pyg-lib or
torch-cluster, which are not installable here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree

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


class _Batch:
    """A batch of datasets: ``expert (B, 4)`` has one row per dataset."""

    expert: torch.Tensor

    @property
    def n_datasets(self) -> int:
        return self.expert.shape[0]


@dataclass
class GraphBatch(_Batch):
    """Several datasets as one disconnected graph, one subgraph per replicate.

    ``x (N, 1)`` standardised values, ``edge_index (2, E)``, ``edge_attr (E, 1)`` distances,
    ``graph (N,)`` the replicate-graph of each node, ``dataset (G,)`` the dataset of each
    replicate-graph, ``expert (B, 4)``.
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    graph: torch.Tensor
    dataset: torch.Tensor
    expert: torch.Tensor


def collate_graphs(items: Sequence[tuple[np.ndarray, np.ndarray]], k: int = 10,
                   radius: float | None = None) -> GraphBatch:
    """``items``: (coords (n, 2), values (r, n)) per dataset -> :class:`GraphBatch`."""
    xs, edges, dists, graph, dataset, expert = [], [], [], [], [], []
    offset = g = 0
    for b, (coords, values) in enumerate(items):
        coords = np.asarray(coords, dtype=np.float64)
        values = np.atleast_2d(values)
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
        expert.append([mean, np.log(sd), np.log(n), np.log(r)])
    return GraphBatch(
        x=torch.as_tensor(np.concatenate(xs), dtype=FLOAT)[:, None],
        edge_index=torch.as_tensor(np.concatenate(edges, 1), dtype=torch.long),
        edge_attr=torch.as_tensor(np.concatenate(dists), dtype=FLOAT)[:, None],
        graph=torch.as_tensor(np.concatenate(graph), dtype=torch.long),
        dataset=torch.as_tensor(np.asarray(dataset), dtype=torch.long),
        expert=torch.as_tensor(np.asarray(expert), dtype=FLOAT),
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
    """``images (G, 1, ny, nx)`` standardised, ``dataset (G,)``, ``expert (B, 4)``."""

    images: torch.Tensor
    dataset: torch.Tensor
    expert: torch.Tensor


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
        expert.append([mean, np.log(sd), np.log(step), np.log(len(values))])
    return GridBatch(torch.as_tensor(np.concatenate(images), dtype=FLOAT),
                     torch.as_tensor(np.asarray(dataset), dtype=torch.long),
                     torch.as_tensor(np.asarray(expert), dtype=FLOAT))
