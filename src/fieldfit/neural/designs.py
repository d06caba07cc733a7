"""Samplers of spatial designs: where a simulated dataset is observed, and how often.

A design draws the locations ``(n, 2)`` of one dataset from a ``numpy.random.Generator``
(``n_range``: the fewest and most locations it draws)::

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
    r"""``n`` points uniform in the unit square, ``n`` log-uniform in ``[n_min, n_max]``.

    The number of points is :math:`n = \lfloor e^{u} \rfloor` with
    :math:`u \sim U(\log n_{min}, \log(n_{max} + 1))` (clipped to the range), so that there are
    as many small datasets as large ones per decade.

    Parameters
    ----------
    n_min : int, default 50
        Fewest locations drawn (at least 2).
    n_max : int, default 1000
        Most locations drawn (at least ``n_min``).

    Raises
    ------
    ValueError
        If not ``2 <= n_min <= n_max``.
    """

    n_min: int = 50
    n_max: int = 1000
    gridded = False

    def __post_init__(self):
        _check_n(self.n_min, self.n_max)

    @property
    def n_range(self) -> tuple[int, int]:
        """The fewest and most locations a draw has, ``(n_min, n_max)``."""
        return self.n_min, self.n_max

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Draw the locations of one dataset.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness (the number of points and the points).

        Returns
        -------
        numpy.ndarray, shape (n, 2)
            Locations uniform in the unit square, ``n_min <= n <= n_max``.
        """
        return rng.uniform(size=(_draw_n(rng, self.n_min, self.n_max), 2))

    def to_dict(self):
        """The design as plain data, ``{"kind": "uniform", "n_min": ..., "n_max": ...}``.

        Returns
        -------
        dict
            JSON-ready description, read back by :func:`design_from_dict`.
        """
        return {"kind": "uniform", **asdict(self)}


@dataclass(frozen=True)
class ClusteredDesign:
    r"""Thomas cluster process in the unit square.

    ``clusters`` parents (their number drawn uniformly in the given range) are uniform in the
    square; each of the ``n`` children picks a parent at random and is scattered
    :math:`N(\text{parent}, s^2 I_2)` around it, with the spread :math:`s` drawn log-uniformly in
    ``spread``; points falling outside the square are redrawn (Diggle 2013, §5.3). ``n`` is drawn
    log-uniformly in ``[n_min, n_max]`` as in :class:`UniformDesign`.

    Parameters
    ----------
    n_min : int, default 50
        Fewest locations drawn (at least 2).
    n_max : int, default 1000
        Most locations drawn (at least ``n_min``).
    clusters : tuple of int, default (2, 12)
        Fewest and most parents, ``1 <= lo <= hi``.
    spread : tuple of float, default (0.02, 0.15)
        Smallest and largest standard deviation of children around their parent,
        ``0 < lo <= hi``.

    Raises
    ------
    ValueError
        If the numbers of points, of clusters or the spreads are out of range.

    References
    ----------
    P. J. Diggle (2013), *Statistical Analysis of Spatial and Spatio-Temporal Point Patterns*,
    3rd ed., CRC Press.
    """

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
        """The fewest and most locations a draw has, ``(n_min, n_max)``."""
        return self.n_min, self.n_max

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Draw the locations of one dataset.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness (number of points, of parents, spread, points).

        Returns
        -------
        numpy.ndarray, shape (n, 2)
            Clustered locations strictly inside the unit square.
        """
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
        """The design as plain data (``kind`` ``"clustered"``, ranges as lists).

        Returns
        -------
        dict
            JSON-ready description, read back by :func:`design_from_dict`.
        """
        d = asdict(self)
        return {"kind": "clustered", **{k: list(v) if isinstance(v, tuple) else v
                                        for k, v in d.items()}}


@dataclass(frozen=True)
class GridDesign:
    """Cell centres of a regular ``(ny, nx)`` grid on the unit square (row-major order).

    The centre of cell ``(i, j)`` is :math:`((j + 1/2)/n_x, (i + 1/2)/n_y)`; the design is
    deterministic.

    Parameters
    ----------
    ny : int, default 16
        Number of rows (at least 2).
    nx : int, default 16
        Number of columns (at least 2).

    Raises
    ------
    ValueError
        If the grid has fewer than 2 rows or columns.
    """

    ny: int = 16
    nx: int = 16
    gridded = True

    def __post_init__(self):
        if self.ny < 2 or self.nx < 2:
            raise ValueError(f"a grid needs at least 2 x 2 cells, got {self.ny} x {self.nx}")

    @property
    def n_range(self) -> tuple[int, int]:
        """The number of cells twice, ``(ny * nx, ny * nx)``."""
        return self.ny * self.nx, self.ny * self.nx

    def sample(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """The cell centres of the grid.

        Parameters
        ----------
        rng : numpy.random.Generator or None, optional
            Unused (the grid is fixed); accepted so that every design samples alike.

        Returns
        -------
        numpy.ndarray, shape (ny * nx, 2)
            The ``(x, y)`` centres in row-major order (``x`` varies fastest).
        """
        yy, xx = np.meshgrid((np.arange(self.ny) + 0.5) / self.ny,
                             (np.arange(self.nx) + 0.5) / self.nx, indexing="ij")
        return np.column_stack([xx.ravel(), yy.ravel()])

    def to_dict(self):
        """The design as plain data, ``{"kind": "grid", "ny": ..., "nx": ...}``.

        Returns
        -------
        dict
            JSON-ready description, read back by :func:`design_from_dict`.
        """
        return {"kind": "grid", **asdict(self)}


@dataclass(frozen=True)
class MixedDesign:
    """One of ``designs`` per dataset, chosen with probabilities ``weights``.

    Parameters
    ----------
    designs : tuple
        The designs to choose from (at least one), all gridded or all irregular.
    weights : tuple of float or None, default None
        Non-negative weights, one per design, normalised to probabilities; ``None`` chooses
        uniformly.

    Raises
    ------
    ValueError
        If ``designs`` is empty, mixes gridded and irregular designs, or ``weights`` has the
        wrong length, a negative entry or a zero sum.
    """

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
        """Whether the designs are gridded (all of them are alike)."""
        return self.designs[0].gridded

    @property
    def n_range(self) -> tuple[int, int]:
        """The fewest and most locations over all the designs, ``(min n_min, max n_max)``."""
        return (min(d.n_range[0] for d in self.designs), max(d.n_range[1] for d in self.designs))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Choose a design and draw the locations of one dataset from it.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness (the choice of design, then the design's own draw).

        Returns
        -------
        numpy.ndarray, shape (n, 2)
            The locations drawn by the chosen design.
        """
        w = np.asarray(self.weights if self.weights is not None else [1.0] * len(self.designs))
        i = int(rng.choice(len(self.designs), p=w / w.sum()))
        return self.designs[i].sample(rng)

    def to_dict(self):
        """The design as plain data, its component designs nested.

        Returns
        -------
        dict
            ``{"kind": "mixed", "designs": [...], "weights": [...] or None}``, read back by
            :func:`design_from_dict`.
        """
        return {"kind": "mixed", "designs": [d.to_dict() for d in self.designs],
                "weights": None if self.weights is None else list(self.weights)}


def design_from_dict(d: dict):
    """Rebuild a design from its plain-data description (the inverse of ``to_dict``).

    Parameters
    ----------
    d : dict
        A description with a ``"kind"`` key (``"uniform"``, ``"clustered"``, ``"grid"`` or
        ``"mixed"``) and the design's fields.

    Returns
    -------
    UniformDesign, ClusteredDesign, GridDesign or MixedDesign
        The design described.

    Raises
    ------
    ValueError
        If the kind is unknown, or the fields are invalid for the design.
    """
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
