"""Kriging, conditional simulation and cross-validation with a fitted model.

Kriging predictor at x₀ (Cressie 1993, §3.4), Σ = K + τ² I, r₀ = x₀ − XᵀΣ⁻¹k₀::

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
    """The parameter values of a FitResult (its ``params``) or of a mapping, as a dict."""
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
    """Kriging at new locations: the predictive mean and standard deviation.

    Parameters
    ----------
    model : Model
        The model (:class:`fieldfit.contract.Model`).
    obs : Observations
        The observed data it conditions on.
    new : Observations or numpy.ndarray
        The new locations: Observations (its coordinates, times and covariates are used,
        its values ignored; the columns take its coordinate and time names) or an array of
        points ``(m, D)`` (columns ``x0, x1, ...``, the time last as ``t`` for space-time
        models).
    params : FitResult or mapping of str to float
        The parameter values (a fit's estimates).
    kind : {"universal", "ordinary", "simple"}, optional
        Universal (default: the mean coefficients re-estimated by GLS, their uncertainty in
        the sd), ordinary (universal with a constant mean) or simple (the coefficients in
        ``params`` taken as known).
    noise : bool, optional
        True (default): predict a new observation (the nugget added to the variance);
        False: the field itself.

    Returns
    -------
    pandas.DataFrame
        One row per new location: ``id``, the coordinates (and time), ``mean`` and ``sd``.

    Raises
    ------
    ValueError
        ``params`` is neither a FitResult nor a mapping, the points' columns do not match
        the data's, a kind the model does not know, or values with several replicates
        (use ``model.predict`` for those).

    See Also
    --------
    fieldfit.fit : The estimates to krige with.
    fieldfit.conditional_simulation : Draws instead of the mean and sd.

    Examples
    --------
    Simulate 60 observations of a Matérn field, then predict at two new points:

    >>> import numpy as np
    >>> import fieldfit
    >>> from fieldfit.models import build
    >>> model = build("matern", smoothness=1.5)
    >>> params = {"variance": 1.0, "range": 0.2, "nugget": 0.1, "mean": 0.0}
    >>> xy = np.random.default_rng(0).uniform(0, 1, (60, 2))
    >>> obs = fieldfit.Observations(xy, model.simulate(xy, params, seed=1)[0])
    >>> table = fieldfit.krige(model, obs, np.array([[0.5, 0.5], [0.1, 0.9]]), params)
    >>> list(table.columns), len(table)
    (['id', 'x0', 'x1', 'mean', 'sd'], 2)
    >>> bool(((table["sd"] > 0) & (table["sd"] < np.sqrt(1.1))).all())
    True
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
    """Draws of the field at new points given the observed data.

    Parameters
    ----------
    model : Model
        The model.
    obs : Observations
        The observed data.
    new_points : numpy.ndarray
        The points ``(m, D)`` (the time last for space-time models).
    params : FitResult or mapping of str to float
        The parameter values.
    n_samples : int, optional
        The number of draws.
    seed : int, optional
        The seed: the same seed gives the same draws.
    kind : {"universal", "ordinary", "simple"}, optional
        As :func:`krige`.

    Returns
    -------
    numpy.ndarray
        Draws ``(n_samples, m)``.

    Raises
    ------
    ValueError
        ``params`` is neither a FitResult nor a mapping, or the model refuses the points or
        the kind.
    """
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
    """K-fold cross-validation of kriging at fixed parameters.

    Each fold's observations are predicted from the others' (a new observation: the nugget
    included), with the folds drawn at random.

    Parameters
    ----------
    model : Model
        The model.
    obs : Observations
        The data (its observed rows; one replicate).
    params : FitResult or mapping of str to float
        The parameter values, the same for every fold.
    folds : int or None, optional
        The number of folds (default 10); None: leave-one-out.
    seed : int, optional
        The seed of the folds' assignment.
    kind : {"universal", "ordinary", "simple"}, optional
        As :func:`krige`.
    level : float, optional
        The level of the interval score and the coverage.

    Returns
    -------
    scores : dict
        MAE, RMSE, CRPS, interval score and coverage
        (:func:`fieldfit.diagnostics.score_all`).
    table : pandas.DataFrame
        One row per observation: ``id``, ``value``, ``mean``, ``sd``, ``fold``.

    Raises
    ------
    ValueError
        Several replicates, or ``folds`` not between 2 and the number of observations.
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
