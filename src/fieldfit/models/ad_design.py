"""Where the advection–diffusion model is discretised: its time grid and its automatic mesh.

The observations' times must lie on a regular grid (:func:`regular_time_grid`). The automatic
mesh follows a pilot estimate of the spatial range (:func:`pilot_range`, an empirical
variogram at single times fitted by the Matérn's) within a node budget
(:func:`automatic_mesh_options`).
"""

from __future__ import annotations

import math

import numpy as np

from ..data import Observations
from ..spde import Mesh

#: the automatic mesh's inner edge is the pilot range divided by this
EDGES_PER_RANGE = 4.0
#: most nodes of the automatic mesh (its edges grow until it fits)
NODE_BUDGET = 2000
#: the automatic mesh's nodes per distinct location, within NODE_BUDGET ...
NODES_PER_LOCATION = 8
#: ... and never fewer than this
MIN_NODE_BUDGET = 150
#: the pilot range is at least this many median nearest-neighbour spacings of the locations
SPACINGS_PER_RANGE = 2.0


def pilot_range(obs: Observations, nu: float, n_bins: int = 15) -> dict[str, float]:
    """A pilot estimate of the spatial Matérn range √(8ν)/κ of space-time data.

    The empirical semivariogram of y − ȳ, pooled over the times (pairs of locations observed
    at the same time), in ``n_bins`` distance bins up to half the diameter, is fitted by
    weighted least squares (weights the pair counts) with γ(h) = η + s(1 − ρ_ν(h√(8ν)/r)),
    η, s ≥ 0, over a log grid of ranges r ∈ [D/100, 2D] (D the diameter; ρ_ν the Matérn
    correlation).

    Parameters
    ----------
    obs : Observations
        Space-time data.
    nu : float
        The Matérn smoothness ν of the field's spatial correlation.
    n_bins : int
        The number of distance bins.

    Returns
    -------
    dict
        ``{"range", "nugget", "sill"}``.

    Raises
    ------
    ValueError
        When fewer than three distance bins have pairs of locations observed at one time.
    """
    from scipy.special import gamma as gamma_fn
    from scipy.special import kv

    m = obs.observed
    xy, t = obs.coords[m], obs.times[m]
    y = obs.values_2d[:, m].mean(0)
    r = y - y.mean()
    diam = obs.diameter()
    edges = np.linspace(0.0, 0.5 * diam, n_bins + 1)
    sums, counts = np.zeros(n_bins), np.zeros(n_bins)
    order = np.argsort(t, kind="stable")
    _, starts = np.unique(t[order], return_index=True)
    for idx in np.split(order, starts[1:]):
        if len(idx) < 2:
            continue
        i, j = np.triu_indices(len(idx), 1)
        d = np.linalg.norm(xy[idx[i]] - xy[idx[j]], axis=1)
        b = np.searchsorted(edges, d, side="right") - 1
        ok = (b >= 0) & (b < n_bins)
        np.add.at(sums, b[ok], 0.5 * (r[idx[i]] - r[idx[j]])[ok] ** 2)
        np.add.at(counts, b[ok], 1.0)
    keep = counts > 0
    if keep.sum() < 3:
        raise ValueError("the pilot range needs pairs of locations observed at the same time "
                         "in three distance bins or more: give the mesh (--mesh-max-edge)")
    h = 0.5 * (edges[:-1] + edges[1:])[keep]
    g, w = sums[keep] / counts[keep], counts[keep]
    best = (np.inf, diam / 5.0, 0.0, float(g.mean()))
    for rng_ in np.geomspace(diam / 100.0, 2.0 * diam, 60):
        u = np.maximum(h * math.sqrt(8.0 * nu) / rng_, 1e-12)
        rho = 2.0 ** (1.0 - nu) / gamma_fn(nu) * u**nu * kv(nu, u)
        X = np.column_stack([np.ones_like(h), 1.0 - rho])
        coef = np.linalg.lstsq(X * np.sqrt(w)[:, None], g * np.sqrt(w), rcond=None)[0]
        if coef[0] < 0:  # no nugget
            coef = np.array([0.0, (w * (1 - rho) * g).sum() / (w * (1 - rho) ** 2).sum()])
        if coef[1] <= 0:
            continue
        sse = float((w * (X @ coef - g) ** 2).sum())
        if sse < best[0]:
            best = (sse, float(rng_), float(coef[0]), float(coef[1]))
    return {"range": best[1], "nugget": best[2], "sill": best[3]}


def regular_time_grid(times: np.ndarray, dt: float | None = None) -> tuple[float, float, int]:
    """A regular time grid covering the times.

    Parameters
    ----------
    times : numpy.ndarray
        Times ``(n,)``.
    dt : float or None
        The step; None: the smallest gap between distinct times, which must then divide
        every gap (to 1e-6 relative).

    Returns
    -------
    tuple
        ``(t0, dt, n_t)``: first time, step and number of steps (at least 2).

    Raises
    ------
    ValueError
        For fewer than two distinct times, irregular times without ``dt``, or a step that
        is not positive.
    """
    t = np.unique(np.asarray(times, dtype=np.float64))
    if len(t) < 2:
        raise ValueError("the advection–diffusion model needs observations at two times or "
                         "more")
    if dt is None:
        gaps = np.diff(t)
        dt = float(gaps.min())
        ratio = gaps / dt
        if np.abs(ratio - np.round(ratio)).max() > 1e-6:
            raise ValueError("the observation times are not on a regular grid: give the time "
                             "step (dt / --time-step); observations between steps are "
                             "interpolated")
    elif not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"the time step must be positive, got {dt}")
    n = int(math.floor((t[-1] - t[0]) / dt + 1e-6)) + 1
    if (t[-1] - t[0]) / dt - (n - 1) > 1e-6:
        n += 1
    return float(t[0]), float(dt), max(n, 2)


def automatic_mesh_options(obs: Observations, nu: float, node_budget: int = NODE_BUDGET,
                           given=None) -> tuple[dict, dict]:
    """The ``Mesh.from_points`` options of the automatic mesh, and the pilot behind them.

    The range r is the :func:`pilot_range` of the data (for smoothness ν), at least
    :data:`SPACINGS_PER_RANGE` median nearest-neighbour spacings of the distinct locations (a
    shorter range is one the data cannot resolve: small data with a weak signal give a pilot
    range of little meaning). Inner edge e = r / :data:`EDGES_PER_RANGE`, at most D/10 (D the
    diameter); outer edge 3e, extension max(0.2 D, r/2) beyond the hull, locations within e/4
    sharing a node; e grown until the mesh has at most min(``node_budget``, max(
    :data:`MIN_NODE_BUDGET`, :data:`NODES_PER_LOCATION` × locations)) nodes.

    Parameters
    ----------
    obs : Observations
        The data.
    nu : float
        The field's spatial smoothness.
    node_budget : int
        The most nodes.
    given : Mapping or None
        Mesh options the user gave (``offset``, ``cutoff``: kept; ``max_edge`` ignored).

    Returns
    -------
    tuple
        ``({"max_edge": (inner, outer), "offset", "cutoff"}, info)``, info the pilot's
        estimates with ``spacing``, ``range_used``, ``node_budget``, ``max_edge``, ``nodes``.

    Raises
    ------
    ValueError
        When the data have too few pairs for the pilot range.
    """
    from scipy.spatial import cKDTree

    points = np.unique(obs.coords[obs.observed], axis=0)
    pilot = pilot_range(obs, nu)
    diam = obs.diameter()
    spacing = (float(np.median(cKDTree(points).query(points, k=2)[0][:, 1]))
               if len(points) > 1 else diam)
    rng_ = max(pilot["range"], SPACINGS_PER_RANGE * spacing)
    budget = min(node_budget, max(MIN_NODE_BUDGET, NODES_PER_LOCATION * len(points)))
    edge = min(rng_ / EDGES_PER_RANGE, diam / 10.0)
    given = {k: v for k, v in dict(given or {}).items() if k != "max_edge"}
    for _ in range(40):
        opts = {"max_edge": (edge, 3.0 * edge),
                "offset": float(given.get("offset") or max(0.2 * diam, 0.5 * rng_)),
                "cutoff": float(given.get("cutoff", edge / 4.0))}
        opts["cutoff"] = min(opts["cutoff"], 0.5 * opts["offset"])
        n = Mesh.from_points(points, **opts).n_nodes
        if n <= budget:
            break
        edge *= max(1.1, 1.05 * math.sqrt(n / budget))
    return opts, dict(pilot, spacing=spacing, range_used=rng_, node_budget=budget,
                      max_edge=edge, nodes=n)


__all__ = ["automatic_mesh_options", "pilot_range", "regular_time_grid"]
