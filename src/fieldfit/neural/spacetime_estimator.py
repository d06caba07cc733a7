r"""A trained estimator for space-time data: :class:`SpaceTimeEstimator`.

A dataset (stations × regular times, :mod:`fieldfit.neural.spacetime_data`) is mapped to unit
scales, s' = (s − s₀)/L and t' = (t − t₀)/T, and its values standardised, z' = α + βz
(:mod:`fieldfit.neural.standardise`); the network's answer θ' (in the prior's coordinates:
range, memory, velocity, marginal variance, nugget share, mean) is mapped back exactly,

.. math::

    \rho = L\rho', \quad m = T m', \quad v = \frac{L}{T} v', \quad
    \sigma^2 = \sigma'^2/\beta^2, \quad \mu = (\mu' - \alpha)/\beta,

the nugget share unchanged (:func:`fieldfit.models.ad_scaling.derived_rescaled`), and the
model's parameters κ, c, τ, γ, τ_ε² follow from those
(:func:`~fieldfit.models.ad_scaling.params_from_derived`). A posterior estimator's draws are
mapped one by one, so every reported quantity has its posterior median and central interval;
the velocity's direction is summarised on the circle (the direction of the median velocity, its
interval from the draws' angles about it).

A prior stated in the model's own parameters (κ, c, τ, γ, …) is mapped back by the scaling
laws themselves (:func:`~fieldfit.models.ad_scaling.rescaled_params`) and the derived
quantities follow from it (:func:`~fieldfit.models.ad_scaling.derived_quantities`). T is the
span of the times over the spec's ``time_span``, or the step when the estimator was trained on
times 0, 1, …, T − 1.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..models.ad_scaling import (
    derived_quantities,
    derived_rescaled,
    params_from_derived,
    rescaled_params,
)
from .bundle import NeuralEstimator
from .spacetime_data import (
    MIN_STATIONS,
    SpaceTimeDataset,
    UnitScales,
    regular_times,
    space_time_datasets_from_table,
)
from .standardise import describe

#: the model's parameters reported, in order (those the prior gives)
MODEL_COLUMNS = ("kappa", "c", "tau", "gamma_x", "gamma_y", "nugget", "mean")
#: how the data were shown to the network, for warnings
WHERE = "in unit scales, after standardising the values"
#: what they mean, reported beside them
DERIVED_COLUMNS = ("range", "memory", "speed", "direction", "velocity_x", "velocity_y",
                   "marginal_variance", "nugget_share")


def _datasets(data) -> list[SpaceTimeDataset]:
    if isinstance(data, pd.DataFrame):
        return space_time_datasets_from_table(data)
    out = []
    for j, item in enumerate(data):
        if len(item) != 3:
            raise ValueError(f"dataset {j}: give (coords (n, 2), values (T, n), times (T,))")
        c, v, t = (np.asarray(a, np.float64) for a in item)
        if c.ndim != 2 or c.shape[1] != 2 or v.ndim != 2 or v.shape != (len(t), len(c)):
            raise ValueError(f"dataset {j}: coordinates (n, 2), values (T, n) and times (T,) "
                             f"needed, got {c.shape}, {v.shape} and {t.shape}")
        if not (np.isfinite(c).all() and np.isfinite(t).all()):
            raise ValueError(f"dataset {j}: coordinates or times with missing or infinite "
                             "values")
        if np.isinf(v).any():
            raise ValueError(f"dataset {j} has infinite values")
        if len(np.unique(c, axis=0)) != len(c):
            raise ValueError(f"dataset {j}: two stations at the same place")
        if np.any(np.diff(t) <= 0):
            raise ValueError(f"dataset {j}: the times must increase")
        regular_times(t, j)
        observed = ~np.isnan(v).all(0)
        if observed.sum() < MIN_STATIONS:
            raise ValueError(f"dataset {j} has {int(observed.sum())} station(s) with a value; "
                             f"a space-time estimator needs at least {MIN_STATIONS}")
        out.append(SpaceTimeDataset(j, c[observed], t, v[:, observed]))
    return out


def _circular_summary(vx: np.ndarray, vy: np.ndarray, lo: float, hi: float):
    """Direction (degrees) of the median velocity and the ``lo``, ``hi`` quantiles of the
    draws' directions unwrapped about it; ``vx``, ``vy`` are ``(B, N)``."""
    centre = np.degrees(np.arctan2(np.median(vy, 1), np.median(vx, 1)))
    offset = (np.degrees(np.arctan2(vy, vx)) - centre[:, None] + 180.0) % 360.0 - 180.0
    return centre, centre + np.quantile(offset, lo, 1), centre + np.quantile(offset, hi, 1)


class SpaceTimeEstimator(NeuralEstimator):
    """A trained amortized estimator of the advection–diffusion SPDE for station time series.

    Data are tables with columns ``x``, ``y``, ``t``, ``z`` (and optionally ``dataset``), or
    sequences of ``(coords (n, 2), values (T, n), times (T,))``; the map to unit scales and
    back is the module's formula.

    Parameters
    ----------
    network : AmortizedEstimator
        The trained network (a space-time summary network).
    spec : SimulationSpec
        What it was trained on (a space-time model; unit square and interval).
    metadata : mapping or None, optional
        As for :class:`~fieldfit.neural.bundle.NeuralEstimator`.

    See Also
    --------
    fieldfit.neural.load_estimator : Load a shipped or saved estimator.
    """

    # --- preparation --------------------------------------------------------------------
    def _check_space_time_design(self, datasets, force: bool) -> None:
        (n_min, n_max), (t_min, t_max) = self.spec.design.n_range, self.spec.time_step_range
        names = [d.name for d in datasets]
        self._check_counts(names, (("stations", [len(d.coords) for d in datasets], n_min, n_max),
                                   ("times", [len(d.times) for d in datasets], t_min, t_max)),
                           force)

    def _prepared_space_time(self, data, force: bool, standardise: bool = True):
        """Datasets, their network inputs in unit scales, their scales and the values' α, β."""
        datasets = _datasets(data)
        self._check_space_time_design(datasets, force)
        scales = [UnitScales.of(d, self.spec.time_span) for d in datasets]
        vmap = self.value_map
        alpha, beta = np.zeros(len(datasets)), np.ones(len(datasets))
        if standardise:
            if vmap.unknown:
                warnings.warn(describe(vmap), stacklevel=3)
            for j, d in enumerate(datasets):
                observed = d.values[~np.isnan(d.values)]
                alpha[j], beta[j] = vmap.coefficients(observed[None], d.name)
        items = []
        for d, s, a, b in zip(datasets, scales, alpha, beta, strict=True):
            u = s.apply(d)
            items.append((u.coords, a + b * u.values, u.times))
        return datasets, items, scales, alpha, beta

    # --- from the network's coordinates to the reported quantities ----------------------------
    def _coordinates(self, unit: np.ndarray, scales, alpha, beta) -> dict[str, np.ndarray]:
        """The prior's coordinates in the data's units, from unit-scale values ``(B, N, p)``."""
        prior, vmap = self.spec.prior, self.value_map
        natural = prior.from_unit(unit.reshape(-1, unit.shape[-1])).reshape(unit.shape)
        values = {n: natural[..., j] for j, n in enumerate(self.names)}
        for n, v in prior.fixed.items():
            values[n] = np.full(unit.shape[:2], float(v))
        values = {n: vmap.back(n, v, alpha[:, None], beta[:, None]) for n, v in values.items()}
        options = self.spec.model_.options
        out = {n: np.empty(unit.shape[:2]) for n in values}
        for b, s in enumerate(scales):
            row = {n: v[b] for n, v in values.items()}
            row = (derived_rescaled(row, 1 / s.length, 1 / s.duration) if self._derived else
                   rescaled_params(row, 1 / s.length, 1 / s.duration, options["alpha"],
                                   options["alpha_s"]))
            for n, v in row.items():
                out[n][b] = v
        return out

    @property
    def _derived(self) -> bool:
        """Whether the prior is stated in the derived coordinates (else in the model's)."""
        return self.spec.prior.parameterisation == "advection-diffusion-derived"

    def _reported(self, coordinates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every reported quantity (:data:`MODEL_COLUMNS`, :data:`DERIVED_COLUMNS`)."""
        options = self.spec.model_.options
        orders = options["alpha"], options["alpha_s"]
        if self._derived:
            params = params_from_derived(coordinates, *orders)
            vx, vy = coordinates["velocity_x"], coordinates["velocity_y"]
            derived = {**coordinates, "speed": np.hypot(vx, vy),
                       "direction": np.degrees(np.arctan2(vy, vx))}
        else:
            params = coordinates
            derived = derived_quantities(params, *orders)
            if "nugget" in params:
                derived["nugget_share"] = params["nugget"] / (params["nugget"]
                                                              + derived["marginal_variance"])
        out = {k: params[k] for k in MODEL_COLUMNS if k in params}
        out.update({k: derived[k] for k in DERIVED_COLUMNS if k in derived})
        return out

    def _summarised_draws(self, items, scales, alpha, beta, level, n_draws, batch_size):
        """Posterior medians and central intervals of every reported quantity."""
        unit = self._draws_unit(items, n_draws, 0, batch_size)
        self._warn_at_edge(np.median(unit, 1), WHERE)
        reported = self._reported(self._coordinates(unit, scales, alpha, beta))
        lo, hi = (1 - level) / 2, (1 + level) / 2
        table = {}
        for name, draws in reported.items():
            if name == "direction":
                centre, lower, upper = _circular_summary(reported["velocity_x"],
                                                         reported["velocity_y"], lo, hi)
            else:
                centre, lower, upper = (np.median(draws, 1), np.quantile(draws, lo, 1),
                                        np.quantile(draws, hi, 1))
            table[name], table[f"{name}_lower"], table[f"{name}_upper"] = centre, lower, upper
        return table

    def _mapped_quantiles(self, items, scales, alpha, beta, level, batch_size):
        """A quantile or point estimator's answer: every quantity at the point estimate;
        intervals for the prior's coordinates and κ (increasing or decreasing maps of one
        coordinate), NaN for the others (warned)."""
        out = self.estimate_unit(items, batch_size)
        self._warn_at_edge(out["estimate"], WHERE)

        def reported(key):
            return self._reported(self._coordinates(out[key][:, None, :], scales, alpha,
                                                    beta))

        point = reported("estimate")
        lo_key, hi_key = f"q{(1 - level) / 2:g}", f"q{(1 + level) / 2:g}"
        have = lo_key in out and hi_key in out
        low, high = (reported(lo_key), reported(hi_key)) if have else ({}, {})
        nan = np.full(len(items), np.nan)
        table, without = {}, []
        for name, v in point.items():
            table[name] = v[:, 0]
            if have and name in self.names:
                lower, upper = low[name][:, 0], high[name][:, 0]
            elif have and name == "kappa" and "range" in self.names and self._derived:
                lower, upper = high[name][:, 0], low[name][:, 0]       # κ ∝ 1/range
            else:
                lower, upper = nan, nan
                without.append(name)
            table[f"{name}_lower"], table[f"{name}_upper"] = lower, upper
        if without:
            warnings.warn(f"a {self.network.kind} estimator gives {level:.0%} intervals of "
                          f"its own coordinates only; no intervals (NaN) for {without} (a "
                          "posterior estimator gives every one)", stacklevel=3)
        return table

    # --- public -------------------------------------------------------------------------------
    def estimate(self, data, level: float = 0.9, batch_size: int = 64,
                 force: bool = False, n_draws: int = 1000) -> pd.DataFrame:
        """Estimates and central intervals of every parameter and derived quantity, per dataset.

        Parameters
        ----------
        data : pandas.DataFrame or sequence of (coords, values, times)
            A table with columns ``x``, ``y``, ``t``, ``z`` [, ``dataset``], or
            ``(coords (n, 2), values (T, n), times (T,))`` per dataset (NaN values missing).
        level : float, default 0.9
            Level of the central intervals (a quantile estimator: its trained level only).
        batch_size : int, default 64
            Datasets per network call.
        force : bool, default False
            Estimate datasets far outside the trained numbers of stations or times too.
        n_draws : int, default 1000
            Posterior draws per dataset behind the medians and intervals (posterior
            estimators).

        Returns
        -------
        pandas.DataFrame
            One row per dataset: ``dataset``; for each of :data:`MODEL_COLUMNS` then
            :data:`DERIVED_COLUMNS` the estimate (posterior median; for ``direction``, the
            median velocity's) and ``{name}_lower`` / ``{name}_upper`` (a quantile or point
            estimator: every quantity at its point estimate, intervals for its own
            coordinates and κ, NaN for the others, with a warning); then ``n_stations``,
            ``n_times``, ``n_missing``, ``length_unit`` (L) and ``time_unit`` (T) of the unit
            scales, ``value_shift`` and ``value_factor`` (the network saw ``value_shift +
            value_factor * z``). Velocities are in the data's units of length per unit of time
            (days for datetime ``t``), directions in degrees anticlockwise from +x (the
            interval's ends may pass ±180).

        Raises
        ------
        ValueError
            For malformed data (see
            :func:`~fieldfit.neural.spacetime_data.space_time_datasets_from_table`), or a
            dataset far outside the trained design without ``force``.

        Warns
        -----
        UserWarning
            For datasets outside the trained design, or estimates at the edge of the prior box.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        datasets, items, scales, alpha, beta = self._prepared_space_time(data, force)
        table: dict[str, object] = {"dataset": [d.name for d in datasets]}
        if self.network.kind == "posterior":
            table.update(self._summarised_draws(items, scales, alpha, beta, level, n_draws,
                                                batch_size))
        else:
            table.update(self._mapped_quantiles(items, scales, alpha, beta, level, batch_size))
        table["n_stations"] = [len(d.coords) for d in datasets]
        table["n_times"] = [len(d.times) for d in datasets]
        table["n_missing"] = [d.n_missing for d in datasets]
        table["length_unit"] = [s.length for s in scales]
        table["time_unit"] = [s.duration for s in scales]
        table["value_shift"], table["value_factor"] = alpha, beta
        frame = pd.DataFrame(table)
        frame.attrs["values"] = describe(self.value_map)
        return frame

    def posterior_draws(self, data, n_draws: int = 1000, seed: int | None = 0,
                        standardise: bool = True, batch_size: int = 64,
                        force: bool = False) -> pd.DataFrame:
        """Posterior draws of every parameter and derived quantity, in the data's units.

        Parameters
        ----------
        data : pandas.DataFrame or sequence of (coords, values, times)
            As for :meth:`estimate`.
        n_draws : int, default 1000
            Draws per dataset (at least 1).
        seed : int or None, default 0
            Fixes the draws (``None``: torch's global state).
        standardise : bool, default True
            Standardise the values (``False``: the network sees them as they are, the posterior
            under the estimator's own prior box).
        batch_size : int, default 64
            Datasets per network call.
        force : bool, default False
            As for :meth:`estimate`.

        Returns
        -------
        pandas.DataFrame
            One row per draw: ``dataset``, ``draw``, then :data:`MODEL_COLUMNS` and
            :data:`DERIVED_COLUMNS`.

        Raises
        ------
        ValueError
            If the estimator is not a posterior estimator, ``n_draws`` is not an integer ≥ 1,
            or the data are refused as by :meth:`estimate`.
        """
        self._check_draws(n_draws)
        datasets, items, scales, alpha, beta = self._prepared_space_time(data, force,
                                                                         standardise)
        unit = self._draws_unit(items, int(n_draws), seed, batch_size)
        reported = self._reported(self._coordinates(unit, scales, alpha, beta))
        table = {"dataset": np.repeat(np.asarray([d.name for d in datasets], dtype=object),
                                      n_draws),
                 "draw": np.tile(np.arange(int(n_draws)), len(datasets))}
        table.update({k: v.ravel() for k, v in reported.items()})
        return pd.DataFrame(table)

    def estimate_coordinates(self, data, batch_size: int = 64,
                             force: bool = False) -> pd.DataFrame:
        """The network's own outputs per dataset: the prior's coordinates in the data's units.

        For any estimator kind: the point estimate and, where the network gives them (quantile
        and posterior estimators), its trained quantiles, each mapped back by the module's
        formula (every coordinate's map is increasing, so quantiles map to quantiles).

        Parameters
        ----------
        data : pandas.DataFrame or sequence of (coords, values, times)
            As for :meth:`estimate`.
        batch_size : int, default 64
            Datasets per network call.
        force : bool, default False
            As for :meth:`estimate`.

        Returns
        -------
        pandas.DataFrame
            ``dataset``, then per coordinate its estimate and one column per quantile,
            ``{name}_q{level}``.
        """
        datasets, items, scales, alpha, beta = self._prepared_space_time(data, force)
        out = self.estimate_unit(items, batch_size)
        self._warn_at_edge(out["estimate"], WHERE)
        table: dict[str, object] = {"dataset": [d.name for d in datasets]}
        for key, unit in out.items():
            coords = self._coordinates(unit[:, None, :], scales, alpha, beta)
            for n in self.names:
                table[n if key == "estimate" else f"{n}_{key}"] = coords[n][:, 0]
        return pd.DataFrame(table)


__all__ = ["DERIVED_COLUMNS", "MODEL_COLUMNS", "SpaceTimeEstimator"]
