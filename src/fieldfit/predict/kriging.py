"""Kriging, conditional simulation and cross-validation with a fitted model.

Kriging predictor at x₀ (Cressie 1993, §3.4), Σ = K + τ² I, r₀ = x₀ − XᵀΣ⁻¹k₀:

    simple     ŷ₀ = x₀ᵀβ + k₀ᵀΣ⁻¹(y − Xβ),     σ₀² = k₀₀ − k₀ᵀΣ⁻¹k₀
    universal  β → β̂_GLS,                       σ₀² += r₀ᵀ(XᵀΣ⁻¹X)⁻¹r₀
    ordinary   universal with a constant mean

(+ τ² when predicting a new observation rather than the field).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..data import Observations
from ..diagnostics import score_all


def _params(result_or_params) -> dict[str, float]:
    params = getattr(result_or_params, "params", result_or_params)
    if not isinstance(params, Mapping):
        raise ValueError("give a FitResult or a dict of parameter values")
    return dict(params)


def krige(
    model,
    obs: Observations,
    new: Observations | np.ndarray,
    params,
    kind: str = "universal",
    noise: bool = True,
) -> pd.DataFrame:
    """Kriging at new locations: a table with the new rows' ``id``, their coordinates (and
    time), ``mean`` and ``sd``.

    ``new``: Observations (its coordinates, times and covariates are used; values ignored;
    the columns take its coordinate and time names) or an array of points ``(m, D)`` (columns
    ``x0, x1, …``, the time last as ``t`` for space-time models). ``params``: a FitResult or a
    dict.
    """
    p = _params(params)
    if isinstance(new, Observations):
        pts = model.points(new)
        ids, cov = new.ids, new.covariates
        names = list(new.coord_names) + ([new.time_name] if pts.shape[1] > new.dim else [])
    else:
        pts = np.atleast_2d(np.asarray(new, dtype=float))
        ids, cov = np.arange(len(pts)), None
        d = obs.dim
        names = [f"x{i}" for i in range(d)] + (["t"] if pts.shape[1] > d else [])
        if len(names) != pts.shape[1]:
            raise ValueError(f"prediction points have {pts.shape[1]} columns, the data "
                             f"{model.points(obs).shape[1]}")
    mean, sd = model.predict(obs, pts, p, kind=kind, noise=noise, new_covariates=cov)
    if np.ndim(mean) != 1:
        raise ValueError("krige returns a table for one replicate; use model.predict for several")
    table = pd.DataFrame(pts, columns=names)
    table.insert(0, "id", ids)
    table["mean"], table["sd"] = mean, sd
    return table


def conditional_simulation(
    model, obs: Observations, new_points: np.ndarray, params, n_samples: int = 1,
    seed: int | None = None, kind: str = "universal",
) -> np.ndarray:
    """Draws ``(n_samples, m)`` of the field at ``new_points`` given the observed data."""
    return model.conditional_simulation(obs, new_points, _params(params), n_samples, seed, kind)


def cross_validate(
    model,
    obs: Observations,
    params,
    folds: int | None = 10,
    seed: int = 0,
    kind: str = "universal",
    level: float = 0.95,
) -> tuple[dict, pd.DataFrame]:
    """K-fold cross-validation of kriging at fixed parameters (``folds=None``: leave-one-out).

    Returns the scores (MAE, RMSE, CRPS, interval score, coverage; see
    :func:`fieldfit.diagnostics.score_all`) and the per-point table (id, value, mean, sd, fold).
    """
    p = _params(params)
    part = obs.observed_part()
    n = part.n
    if part.n_replicates != 1:
        raise ValueError("cross-validation needs a single replicate")
    k = n if folds is None else int(folds)
    if not 2 <= k <= n:
        raise ValueError(f"folds must be between 2 and the number of observations ({n}), got {k}")
    rng = np.random.default_rng(seed)
    fold = rng.permutation(np.arange(n) % k)
    mean, sd = np.empty(n), np.empty(n)
    pts = model.points(part)
    for f in range(k):
        test = fold == f
        train = part.subset(~test)
        cov = part.covariates[test] if part.covariates is not None else None
        m, s = model.predict(train, pts[test], p, kind=kind, noise=True, new_covariates=cov)
        mean[test], sd[test] = m, s
    y = part.values_2d[0]
    table = pd.DataFrame({"id": part.ids, "value": y, "mean": mean, "sd": sd, "fold": fold})
    return score_all(y, mean, sd, level=level), table
