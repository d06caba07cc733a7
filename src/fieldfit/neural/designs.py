"""Samplers of spatial designs: where a simulated dataset is observed, and how often.

A design draws the locations ``(n, 2)`` of one dataset from a ``numpy.random.Generator``
(``n_range``: the fewest and most locations it draws):

    UniformDesign     n ~ log-uniform{n_min..n_max}, locations uniform in the unit square
    ClusteredDesign   a Thomas process: k parents uniform, children N(parent, spread²) kept in
                      the square (Diggle 2013 §5.3), n as above
    GridDesign        a regular (ny, nx) grid of cell centres in the unit square
    MixedDesign       one of several designs, chosen with given weights

The number of replicates of each dataset is part of
:class:`~fieldfit.neural.simulation.SimulationSpec`. Designs are plain data (``to_dict`` /
``design_from_dict``) so that they travel with a saved estimator.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


def _draw_n(rng: np.random.Generator, n_min: int, n_max: int) -> int:
    """log-uniform on {n_min, …, n_max}: as many small datasets as large ones per decade."""
    if n_min == n_max:
        return n_min
    return int(np.clip(math.floor(math.exp(rng.uniform(math.log(n_min), math.log(n_max + 1)))),
                       n_min, n_max))


def _check_n(n_min: int, n_max: int) -> None:
    if not 2 <= n_min <= n_max:
        raise ValueError(f"a design needs 2 <= n_min <= n_max, got ({n_min}, {n_max})")


@dataclass(frozen=True)
class UniformDesign:
    """``n`` points uniform in the unit square, ``n`` log-uniform in ``[n_min, n_max]``."""

    n_min: int = 50
    n_max: int = 1000
    gridded = False

    def __post_init__(self):
        _check_n(self.n_min, self.n_max)

    @property
    def n_range(self) -> tuple[int, int]:
        return self.n_min, self.n_max

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(size=(_draw_n(rng, self.n_min, self.n_max), 2))

    def to_dict(self):
        return {"kind": "uniform", **asdict(self)}


@dataclass(frozen=True)
class ClusteredDesign:
    """Thomas cluster process in the unit square: ``clusters`` parents (drawn in the given
    range), children scattered N(parent, spread²) with spread drawn log-uniformly; points
    falling outside the square are redrawn."""

    n_min: int = 50
    n_max: int = 1000
    clusters: tuple[int, int] = (2, 12)
    spread: tuple[float, float] = (0.02, 0.15)
    gridded = False

    def __post_init__(self):
        _check_n(self.n_min, self.n_max)
        if not 1 <= self.clusters[0] <= self.clusters[1]:
            raise ValueError(f"clusters needs 1 <= lo <= hi, got {self.clusters}")
        if not 0 < self.spread[0] <= self.spread[1]:
            raise ValueError(f"spread needs 0 < lo <= hi, got {self.spread}")

    @property
    def n_range(self) -> tuple[int, int]:
        return self.n_min, self.n_max

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        n = _draw_n(rng, self.n_min, self.n_max)
        k = int(rng.integers(self.clusters[0], self.clusters[1] + 1))
        sd = math.exp(rng.uniform(math.log(self.spread[0]), math.log(self.spread[1])))
        parents = rng.uniform(size=(k, 2))
        out = np.empty((0, 2))
        while len(out) < n:
            pts = parents[rng.integers(0, k, size=2 * n)] + sd * rng.standard_normal((2 * n, 2))
            out = np.vstack([out, pts[((pts > 0) & (pts < 1)).all(1)]])
        return out[:n]

    def to_dict(self):
        d = asdict(self)
        return {"kind": "clustered", **{k: list(v) if isinstance(v, tuple) else v
                                        for k, v in d.items()}}


@dataclass(frozen=True)
class GridDesign:
    """Cell centres of a regular ``(ny, nx)`` grid on the unit square (row-major order)."""

    ny: int = 16
    nx: int = 16
    gridded = True

    def __post_init__(self):
        if self.ny < 2 or self.nx < 2:
            raise ValueError(f"a grid needs at least 2 x 2 cells, got {self.ny} x {self.nx}")

    @property
    def n_range(self) -> tuple[int, int]:
        return self.ny * self.nx, self.ny * self.nx

    def sample(self, rng: np.random.Generator | None = None) -> np.ndarray:
        yy, xx = np.meshgrid((np.arange(self.ny) + 0.5) / self.ny,
                             (np.arange(self.nx) + 0.5) / self.nx, indexing="ij")
        return np.column_stack([xx.ravel(), yy.ravel()])

    def to_dict(self):
        return {"kind": "grid", **asdict(self)}


@dataclass(frozen=True)
class MixedDesign:
    """One of ``designs`` per dataset, chosen with probabilities ``weights``."""

    designs: tuple
    weights: tuple[float, ...] | None = None

    def __post_init__(self):
        if not self.designs:
            raise ValueError("MixedDesign needs at least one design")
        if len({d.gridded for d in self.designs}) > 1:
            raise ValueError("MixedDesign cannot mix gridded and irregular designs")
        if self.weights is not None and (len(self.weights) != len(self.designs)
                                         or min(self.weights) < 0 or sum(self.weights) <= 0):
            raise ValueError("MixedDesign weights must be non-negative, one per design")

    @property
    def gridded(self) -> bool:
        return self.designs[0].gridded

    @property
    def n_range(self) -> tuple[int, int]:
        return (min(d.n_range[0] for d in self.designs), max(d.n_range[1] for d in self.designs))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        w = np.asarray(self.weights if self.weights is not None else [1.0] * len(self.designs))
        i = int(rng.choice(len(self.designs), p=w / w.sum()))
        return self.designs[i].sample(rng)

    def to_dict(self):
        return {"kind": "mixed", "designs": [d.to_dict() for d in self.designs],
                "weights": None if self.weights is None else list(self.weights)}


def design_from_dict(d: dict):
    d = dict(d)
    kind = d.pop("kind")
    if kind == "uniform":
        return UniformDesign(**d)
    if kind == "clustered":
        return ClusteredDesign(d["n_min"], d["n_max"], tuple(d["clusters"]), tuple(d["spread"]))
    if kind == "grid":
        return GridDesign(**d)
    if kind == "mixed":
        return MixedDesign(tuple(design_from_dict(x) for x in d["designs"]),
                           None if d["weights"] is None else tuple(d["weights"]))
    raise ValueError(f"unknown design kind {kind!r}")
