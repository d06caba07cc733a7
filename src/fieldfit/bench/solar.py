"""Solar-radiation forecasts: the advection–diffusion SPDE beside simpler forecasts.

Two bundled datasets (:mod:`fieldfit.datasets`):

- ``germany-solar``: monthly mean global horizontal irradiance (W/m²), CM SAF 0.2° grid,
  1991–2025; the harness keeps every ``cell_step``-th cell in longitude and latitude (default
  5: a 1° grid of 12 × 12 = 144 cells over 5–16 °E, 45–56 °N);
- ``south-tyrol-solar``: daily insolation (kWh/m²) at 15 stations, 2017–2019.

Both are modelled in the planar km coordinates ``x_km, y_km`` (an equirectangular projection
about the region's centre, see the datasets' PROVENANCE.md): the SPDE engine needs a plane.

**Split** (:func:`split_data`). The last ``n_test`` time steps are held out; the rest is the
training period. For the station data ``n_test_sites`` stations (a seeded draw) are held out
as well: their values are never used — not to fit, not to standardise, not to condition a
forecast; they are only scored. :class:`Split` asserts that the sets are disjoint.

**Anomalies** (:func:`standardise`). Irradiance has a strong seasonal cycle in its mean and
its spread, so every forecast is made on a standardised anomaly z = (y − m)/s and mapped back,
y = m + s z (a Gaussian forecast N(μ, σ²) of z is N(m + sμ, (sσ)²) of y). The seasonal term
uses training times at training sites only:

- monthly data: m, s = the per-cell mean and sd of each calendar month over the training
  years;
- daily data: m(d), s(d) = two-harmonic regressions in the day of year d, pooled over the
  training stations (s from a regression of ``|y − m|``, times √(π/2)); a pooled term so that it
  exists at held-out stations.

**Forecasts** from origins o = T₀ − 1, …, T₀ + n_test − 1 − max(h) (T₀ the first held-out
step): step o + h for each horizon h, from data at times ≤ o at training sites. Models:

- ``persistence``: z(o + h) = z(o), sd = the root mean square h-step change of z over the
  training period (pooled over sites); at a held-out station the nearest training station's
  z(o);
- ``climatology``: z = the site's training-period mean of z, sd its sd (monthly data: 0 and
  1 by construction, i.e. the per-cell calendar-month mean and sd); held-out stations take the
  nearest training station's;
- ``separable``: Matérn(space) × exponential(time) Gaussian field, constant mean, nugget
  (``build("separable")``; exact engine up to 1,500 points, else Vecchia with 20 neighbours),
  smoothness fixed at 0.5, kriged at o + h from the last ``window`` steps up to o;
- ``diffusion``: ``build("advection-diffusion", advection=False)``, α = 1, α_s = 1;
- ``advection-diffusion``: ``build("advection-diffusion")`` with the velocity γ/c; both SPDE
  models on a mesh with inner / outer edges ``mesh_max_edge`` (km), kriged as the separable
  model (the time grid extended past the data: the Markov chain runs forward).

Every model is fitted once, by maximum likelihood on z at the training sites over the last
``window`` training steps, and its parameters are kept for every origin. The
advection–diffusion model is fitted twice, from its data-driven start and from the diffusion
model's optimum with γ = 0 (the nested case), and the higher likelihood is kept (both are in
the settings' ``starts``), so that it never ends below the model it contains. Scores
(:func:`fieldfit.diagnostics.score_all`: CRPS, RMSE, MAE, 95 % coverage, …) are in the
original units, per model, horizon and site group (``train``: the training sites at held-out
times; ``test``: the held-out stations).

**Settings are not tuned on the held-out steps.** ``validation=True`` drops the last
``n_test`` steps from the data before anything else, so the same harness scores the models on
the last ``n_test`` steps of the training period instead: settings are to be compared there.
The defaults (:data:`DEFAULTS`) keep every fit cheap; how they were chosen on the
validation period is recorded in docs/benchmarks.md ("Solar radiation forecasts").
"""

from __future__ import annotations

import io
import json
import math
import time as _time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import datasets
from ..data import Observations
from ..diagnostics import score_all
from ..fit import fit
from ..io import write_atomic, write_json
from ..models import build

__all__ = ["DATASETS", "MODELS", "SolarData", "SolarRun", "Split", "climatology_forecast",
           "load_solar", "persistence_forecast", "run_solar", "split_data", "standardise",
           "velocity_map"]

#: the bundled datasets the harness runs on
DATASETS = ("germany-solar", "south-tyrol-solar")
#: the forecast models, in table order
MODELS = ("persistence", "climatology", "separable", "diffusion", "advection-diffusion")
#: defaults per dataset (see the module docstring)
DEFAULTS = {
    "germany-solar": dict(n_test=12, n_test_sites=0, window=24, mesh_max_edge=(100.0, 300.0)),
    "south-tyrol-solar": dict(n_test=30, n_test_sites=3, window=60, mesh_max_edge=(15.0, 40.0)),
}
_EXACT_MAX = 1500


@dataclass
class SolarData:
    """A dataset as a (time × site) table.

    Parameters
    ----------
    name : str
        The dataset's name.
    values : numpy.ndarray, shape (T, S)
        Values in original units, NaN where missing.
    dates : pandas.DatetimeIndex, shape (T,)
        The time steps.
    season : numpy.ndarray, shape (T,)
        Calendar month (monthly data) or day of year (daily data).
    sites : pandas.DataFrame
        ``S`` rows with ``site``, ``x_km``, ``y_km``, ``lon``, ``lat``, in the columns' order of
        ``values``.
    monthly : bool
        The time step is a month (else a day).
    unit : str
        The unit of the values.
    """

    name: str
    values: np.ndarray
    dates: pd.DatetimeIndex
    season: np.ndarray
    sites: pd.DataFrame
    monthly: bool
    unit: str

    @property
    def xy(self) -> np.ndarray:
        """The sites' planar coordinates ``(S, 2)``, in km."""
        return self.sites[["x_km", "y_km"]].to_numpy(np.float64)


def load_solar(dataset: str, cell_step: int = 5) -> SolarData:
    """A bundled solar dataset as :class:`SolarData`.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
    cell_step : int, default 5
        For the ``germany-solar`` grid, keep every ``cell_step``-th cell in longitude and
        latitude (ignored for the station data).

    Returns
    -------
    SolarData
        The (time × site) table.

    Raises
    ------
    ValueError
        If the dataset is unknown or ``cell_step`` is not a positive integer.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown solar dataset {dataset!r}; choose one of "
                         + ", ".join(DATASETS))
    if dataset == "germany-solar":
        if not (isinstance(cell_step, int) and cell_step >= 1):
            raise ValueError(f"the cell step must be a positive integer, got {cell_step!r}")
        df = datasets.load("germany-solar")
        ilon = np.rint((df["lon"] - 5.0) / 0.2).astype(int)
        ilat = np.rint((df["lat"] - 45.0) / 0.2).astype(int)
        df = df[(ilon % cell_step == 0) & (ilat % cell_step == 0)]
        wide, sites, dates = _wide(df, "cell", "ghi")
        return SolarData(dataset, wide, dates, dates.month.to_numpy(), sites, True, "W/m2")
    wide, sites, dates = _wide(datasets.load("south-tyrol-solar"), "station", "insolation")
    return SolarData(dataset, wide, dates, dates.day_of_year.to_numpy(), sites, False,
                     "kWh/m2")


def _wide(df: pd.DataFrame, site: str, value: str):
    """The long table as values ``(n_times, n_sites)`` (dates × ``site``), the sites' table
    (site, x_km, y_km, lon, lat, in the values' column order) and the dates."""
    wide = df.pivot(index="date", columns=site, values=value).sort_index()
    sites = (df.drop_duplicates(site).set_index(site)
             .loc[wide.columns, ["x_km", "y_km", "lon", "lat"]].reset_index()
             .rename(columns={site: "site"}))
    return wide.to_numpy(np.float64), sites, pd.DatetimeIndex(wide.index)


@dataclass
class Split:
    """Indices of the training / held-out time steps and sites (disjoint: :meth:`check`).

    Parameters
    ----------
    train_times : numpy.ndarray
        Training time steps.
    test_times : numpy.ndarray
        Held-out time steps, all after the training ones.
    train_sites : numpy.ndarray
        Training sites.
    test_sites : numpy.ndarray
        Held-out sites (maybe none).
    """

    train_times: np.ndarray
    test_times: np.ndarray
    train_sites: np.ndarray
    test_sites: np.ndarray

    def check(self) -> None:
        """Check that the split is sound.

        Raises
        ------
        AssertionError
            Unless the held-out times and sites are disjoint from the training ones, there are
            training times, held-out times and training sites, and the held-out times all come
            after the training times.
        """
        assert not set(self.train_times) & set(self.test_times)
        assert not set(self.train_sites) & set(self.test_sites)
        assert len(self.train_times) and len(self.test_times) and len(self.train_sites)
        assert self.train_times.max() < self.test_times.min()


def split_data(data: SolarData, n_test: int, n_test_sites: int = 0, seed: int = 0) -> Split:
    """Hold out the last ``n_test`` steps, and ``n_test_sites`` sites drawn with ``seed``.

    Parameters
    ----------
    data : SolarData
        The dataset, ``T`` steps and ``S`` sites.
    n_test : int
        Held-out time steps, ``1 <= n_test <= T - 3``.
    n_test_sites : int, default 0
        Held-out sites, ``0 <= n_test_sites <= S - 3``.
    seed : int, default 0
        Seed of the draw of held-out sites.

    Returns
    -------
    Split
        The checked split.

    Raises
    ------
    ValueError
        If ``n_test`` or ``n_test_sites`` is not an integer in range.
    """
    T, S = data.values.shape
    if not (isinstance(n_test, int) and 1 <= n_test < T - 2):
        raise ValueError(f"the number of held-out steps must be an integer in 1..{T - 3}, "
                         f"got {n_test!r}")
    if not (isinstance(n_test_sites, int) and 0 <= n_test_sites <= S - 3):
        raise ValueError(f"the number of held-out sites must be an integer in 0..{S - 3}, "
                         f"got {n_test_sites!r}")
    perm = np.random.default_rng(seed).permutation(S)
    test_sites = np.sort(perm[:n_test_sites])
    train_sites = np.sort(perm[n_test_sites:])
    sp = Split(np.arange(T - n_test), np.arange(T - n_test, T), train_sites, test_sites)
    sp.check()
    return sp


def _harmonics(doy: np.ndarray, k: int = 2) -> np.ndarray:
    w = 2 * np.pi * np.asarray(doy, dtype=np.float64) / 365.25
    cols = [np.ones_like(w)]
    for j in range(1, k + 1):
        cols += [np.cos(j * w), np.sin(j * w)]
    return np.stack(cols, axis=1)


def standardise(data: SolarData, split: Split) -> tuple[np.ndarray, np.ndarray]:
    r"""Seasonal mean ``m`` and sd ``s`` of every value, from training times at training sites only.

    Monthly data: the per-cell mean and sd of each calendar month over the training years
    (held-out sites take the nearest training site's). Daily data: two-harmonic regressions in
    the day of year, pooled over the training stations (``s`` from a regression of
    :math:`|y - m|`, times :math:`\sqrt{\pi/2}`, floored at 5 % of the values' sd); see the
    module docstring.

    Parameters
    ----------
    data : SolarData
        The dataset.
    split : Split
        Which times and sites are training ones.

    Returns
    -------
    m : numpy.ndarray, shape (T, S)
        Seasonal means.
    s : numpy.ndarray, shape (T, S)
        Seasonal standard deviations (positive).

    Raises
    ------
    ValueError
        If monthly training data do not cover every calendar month.
    """
    T, S = data.values.shape
    tr_t, tr_s = split.train_times, split.train_sites
    train = data.values[np.ix_(tr_t, tr_s)]
    m, s = np.empty((T, S)), np.empty((T, S))
    if data.monthly:
        months = data.season
        mm = np.empty((12, len(tr_s)))
        ss = np.empty((12, len(tr_s)))
        for k in range(12):
            rows = months[tr_t] == k + 1
            if not rows.any():
                raise ValueError("the training period must cover every calendar month")
            mm[k] = np.nanmean(train[rows], axis=0)
            ss[k] = np.nanstd(train[rows], axis=0)
        ss = np.maximum(ss, 1e-6 * max(float(np.nanmax(np.abs(mm))), 1.0))
        near = _nearest(data.xy, tr_s)
        m[:] = mm[months - 1][:, near]
        s[:] = ss[months - 1][:, near]
        return m, s
    X = _harmonics(data.season)
    Xt = np.repeat(X[tr_t], len(tr_s), axis=0)
    yt = train.reshape(-1)
    ok = np.isfinite(yt)
    beta = np.linalg.lstsq(Xt[ok], yt[ok], rcond=None)[0]
    res = np.abs(yt[ok] - Xt[ok] @ beta)
    gamma = np.linalg.lstsq(Xt[ok], res, rcond=None)[0]
    m[:] = (X @ beta)[:, None]
    floor = 0.05 * float(np.std(yt[ok]))
    s[:] = np.maximum(X @ gamma * math.sqrt(math.pi / 2), floor)[:, None]
    return m, s


def _nearest(xy: np.ndarray, train_sites: np.ndarray) -> np.ndarray:
    """(S,) for every site the index of the nearest training site (itself if training)."""
    d = np.linalg.norm(xy[:, None, :] - xy[None, train_sites, :], axis=2)
    return train_sites[np.argmin(d, axis=1)]


def _ffill(z: np.ndarray) -> np.ndarray:
    """Forward-fill NaN along time (axis 0)."""
    out = z.copy()
    for k in range(1, len(out)):
        bad = np.isnan(out[k])
        out[k, bad] = out[k - 1, bad]
    return out


def persistence_forecast(z: np.ndarray, split: Split, xy: np.ndarray, origin: int,
                         h: int) -> tuple[np.ndarray, np.ndarray]:
    """The persistence forecast :math:`z(o + h) = z(o)` at every site.

    Missing values are forward-filled in time; held-out sites take the nearest training site's
    value. The predictive sd is the root mean square ``h``-step change of ``z`` over the training
    period at the training sites.

    Parameters
    ----------
    z : numpy.ndarray, shape (T, S)
        Standardised anomalies.
    split : Split
        Training and held-out times and sites.
    xy : numpy.ndarray, shape (S, 2)
        Site coordinates.
    origin : int
        The forecast origin ``o`` (a time index).
    h : int
        The horizon, in steps.

    Returns
    -------
    mean : numpy.ndarray, shape (S,)
        Forecast means.
    sd : numpy.ndarray, shape (S,)
        Forecast standard deviations (one value repeated).
    """
    tr = z[np.ix_(split.train_times, split.train_sites)]
    change = tr[h:] - tr[:-h]
    sd = float(np.sqrt(np.nanmean(change ** 2)))
    near = _nearest(xy, split.train_sites)
    last = _ffill(z[: origin + 1, :])[-1]
    return last[near], np.full(z.shape[1], sd)


def climatology_forecast(z: np.ndarray, split: Split,
                         xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each site's training-period mean and sd of ``z`` (held-out sites: the nearest training
    site's).

    Parameters
    ----------
    z : numpy.ndarray, shape (T, S)
        Standardised anomalies.
    split : Split
        Training and held-out times and sites.
    xy : numpy.ndarray, shape (S, 2)
        Site coordinates.

    Returns
    -------
    mean : numpy.ndarray, shape (S,)
        Forecast means.
    sd : numpy.ndarray, shape (S,)
        Forecast standard deviations (at least 1e-9).
    """
    tr = z[np.ix_(split.train_times, split.train_sites)]
    mu = np.full(z.shape[1], np.nan)
    sd = np.full(z.shape[1], np.nan)
    mu[split.train_sites], sd[split.train_sites] = np.nanmean(tr, axis=0), np.nanstd(tr, axis=0)
    near = _nearest(xy, split.train_sites)
    return mu[near], np.maximum(sd[near], 1e-9)


def _build(name: str, n_points: int, mesh_max_edge):
    if name == "separable":
        if n_points <= _EXACT_MAX:
            return build("separable")
        return build("separable", engine="vecchia", neighbours=20)
    return build("advection-diffusion", advection=(name == "advection-diffusion"),
                 mesh_max_edge=mesh_max_edge)


def _nested_start(params: dict) -> dict:
    """Start values for the advection–diffusion fit at the diffusion model's optimum, γ = 0."""
    keep = {k: float(v) for k, v in params.items() if k in ("kappa", "c", "tau", "nugget")}
    return {**keep, "gamma_x": 0.0, "gamma_y": 0.0}


def _observations(z, data, split, times) -> Observations:
    """z at the training sites and the given time indices, as Observations (x_km, y_km, t)."""
    sub = z[np.ix_(times, split.train_sites)]
    xy = data.xy[split.train_sites]
    frame = pd.DataFrame({
        "x_km": np.tile(xy[:, 0], len(times)), "y_km": np.tile(xy[:, 1], len(times)),
        "t": np.repeat(times.astype(np.float64), len(split.train_sites)),
        "z": sub.reshape(-1),
        "site": np.tile(data.sites["site"].to_numpy()[split.train_sites], len(times)).astype(str),
    })
    frame = frame[np.isfinite(frame["z"])]
    return Observations.from_dataframe(frame, coords=["x_km", "y_km"], value="z", time="t",
                                       id="site")


@dataclass
class SolarRun:
    """What :func:`run_solar` returns.

    Parameters
    ----------
    dataset : str
        The dataset's name.
    scores : pandas.DataFrame
        :func:`score_table` of the forecasts (dataset, model, horizon, sites, scores, …).
    forecasts : pandas.DataFrame
        One row per model, origin, horizon and site: ``date``, ``group``, ``observed``,
        ``mean``, ``sd`` in original units.
    fits : dict
        Model name to its :class:`~fieldfit.FitResult`.
    settings : dict
        The run's settings and what they gave (periods, sites, fitting points, starts).
    seconds : dict, default {}
        Wall-clock seconds of each fit and forecast, and the total.
    split : Split or None, default None
        The split used.
    """

    dataset: str
    scores: pd.DataFrame            # dataset, model, horizon, sites, n, crps, rmse, ...
    forecasts: pd.DataFrame         # model, origin, horizon, date, site, group, observed, mean, sd
    fits: dict                      # model -> FitResult
    settings: dict
    seconds: dict = field(default_factory=dict)
    split: Split | None = None


def run_solar(dataset: str | SolarData, out: str | Path | None = None, horizons=(1, 2, 3), *,
              n_test: int | None = None, n_test_sites: int | None = None,
              window: int | None = None, cell_step: int = 5, mesh_max_edge=None,
              models=MODELS, restarts: int = 0, validation: bool = False, seed: int = 0,
              max_origins: int | None = None, progress: bool | None = False) -> SolarRun:
    """Fit, forecast and score the models on a solar dataset (module docstring).

    Parameters
    ----------
    dataset : str or SolarData
        A name of :data:`DATASETS`, or a :class:`SolarData` (defaults of the dataset of its
        name, else of the monthly or daily dataset).
    out : str, pathlib.Path or None, optional
        Folder to write ``scores.csv``, ``scores.json`` (scores, fits, timings, settings),
        ``forecasts.parquet`` and ``velocity.png`` to; ``None``: write nothing.
    horizons : sequence of int, default (1, 2, 3)
        Forecast horizons in steps, positive and at most ``n_test``.
    n_test : int or None, optional
        Held-out steps (default per dataset, :data:`DEFAULTS`).
    n_test_sites : int or None, optional
        Held-out sites (default per dataset).
    window : int or None, optional
        Fitting and conditioning window in steps (default per dataset).
    cell_step : int, default 5
        Grid thinning of ``germany-solar`` (:func:`load_solar`).
    mesh_max_edge : tuple of float or None, optional
        Inner and outer mesh edge lengths (km) of the SPDE models (default per dataset).
    models : sequence of str, default MODELS
        Which of :data:`MODELS` to run.
    restarts : int, default 0
        Extra optimiser restarts of each fit.
    validation : bool, default False
        Drop the last ``n_test`` steps first, so the scores are on the last ``n_test`` training
        steps instead of the held-out ones.
    seed : int, default 0
        Seed of the held-out sites.
    max_origins : int or None, optional
        Keep only the first forecast origins (tests).
    progress : bool or None, default False
        Passed to :func:`fieldfit.fit`.

    Returns
    -------
    SolarRun
        Scores, forecasts, fits, settings and timings.

    Raises
    ------
    ValueError
        If the dataset, a model, a horizon, the window or the split sizes are invalid.
    """
    if isinstance(dataset, SolarData):
        data, name = dataset, dataset.name
        key = name if name in DEFAULTS else ("germany-solar" if data.monthly
                                             else "south-tyrol-solar")
    elif dataset in DATASETS:
        data, name, key = None, dataset, dataset
    else:
        raise ValueError(f"unknown solar dataset {dataset!r}; choose one of "
                         + ", ".join(DATASETS))
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ValueError(f"unknown model(s) {unknown}; choose from " + ", ".join(MODELS))
    horizons = tuple(int(h) for h in horizons)
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be positive integers, got {horizons}")
    d = DEFAULTS[key]
    n_test = d["n_test"] if n_test is None else n_test
    n_test_sites = d["n_test_sites"] if n_test_sites is None else n_test_sites
    window = d["window"] if window is None else window
    mesh_max_edge = d["mesh_max_edge"] if mesh_max_edge is None else tuple(mesh_max_edge)
    if max(horizons) > n_test:
        raise ValueError(f"the largest horizon ({max(horizons)}) exceeds the held-out steps "
                         f"({n_test})")
    out = None if out is None else Path(out)
    t_start = _time.perf_counter()

    if data is None:
        data = load_solar(dataset, cell_step)
    if validation:
        data = SolarData(data.name, data.values[:-n_test], data.dates[:-n_test],
                         data.season[:-n_test], data.sites, data.monthly, data.unit)
    split = split_data(data, n_test, n_test_sites, seed)
    if not (isinstance(window, int) and 2 <= window <= len(split.train_times)):
        raise ValueError(f"the fitting window must be an integer in 2..{len(split.train_times)}"
                         f", got {window!r}")
    m, s = standardise(data, split)
    z = (data.values - m) / s
    # the held-out sites are never seen by a model: blank them in the data the models get
    z_seen = z.copy()
    z_seen[:, split.test_sites] = np.nan

    t0 = int(split.test_times[0])
    origins = np.arange(t0 - 1, t0 + n_test - max(horizons))
    if max_origins is not None:
        origins = origins[:max_origins]
    group = np.where(np.isin(np.arange(z.shape[1]), split.test_sites), "test", "train")
    seconds: dict = {}
    fits: dict = {}
    starts: dict = {}
    rows: list[pd.DataFrame] = []

    def record(model_name, origin, h, mu, sd):
        tgt = origin + h
        rows.append(pd.DataFrame({
            "model": model_name, "origin": str(data.dates[origin].date()), "horizon": h,
            "date": data.dates[tgt], "site": data.sites["site"].astype(str).to_numpy(),
            "group": group, "observed": data.values[tgt],
            "mean": m[tgt] + s[tgt] * mu, "sd": s[tgt] * sd}))

    clim = climatology_forecast(z_seen, split, data.xy)
    for o in origins:
        for h in horizons:
            if "persistence" in models:
                record("persistence", o, h, *persistence_forecast(z_seen, split, data.xy, o, h))
            if "climatology" in models:
                record("climatology", o, h, *clim)

    fit_times = split.train_times[-window:]
    obs = _observations(z_seen, data, split, fit_times)
    for mname in models:
        if mname in ("persistence", "climatology"):
            continue
        model = _build(mname, obs.n, mesh_max_edge)
        fix = {"smoothness": 0.5} if mname == "separable" else None
        tic = _time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = fit(model, obs, fix=fix, restarts=restarts, progress=progress)
            if mname == "advection-diffusion" and "diffusion" in fits:
                # the diffusion model is the γ = 0 case: start there too, keep the better
                nested = fit(model, obs, start=_nested_start(fits["diffusion"].params),
                             restarts=0, progress=progress)
                starts[mname] = {"data-driven": res.loglik, "diffusion optimum": nested.loglik}
                if nested.loglik > res.loglik:
                    res = nested
        seconds[f"fit {mname}"] = _time.perf_counter() - tic
        fits[mname] = res
        tic = _time.perf_counter()
        for o in origins:
            cond = _observations(z_seen, data, split, np.arange(o - window + 1, o + 1))
            pts = np.concatenate([np.column_stack([data.xy, np.full(len(data.xy), o + h,
                                                                    dtype=np.float64)])
                                  for h in horizons])
            mu, sd = model.predict(cond, pts, res.params, kind="universal", noise=True)
            mu, sd = np.asarray(mu).reshape(len(horizons), -1), np.asarray(sd).reshape(
                len(horizons), -1)
            for k, h in enumerate(horizons):
                record(mname, o, h, mu[k], sd[k])
        seconds[f"forecast {mname}"] = _time.perf_counter() - tic

    forecasts = pd.concat(rows, ignore_index=True)
    scores = score_table(forecasts, name)
    seconds["total"] = _time.perf_counter() - t_start
    settings = dict(dataset=name, horizons=list(horizons), n_test=n_test,
                    n_test_sites=n_test_sites, window=window, cell_step=cell_step,
                    mesh_max_edge=list(mesh_max_edge), restarts=restarts,
                    validation=validation, seed=seed, origins=len(origins),
                    sites=int(z.shape[1]), train_sites=len(split.train_sites),
                    test_sites=[str(v) for v in data.sites["site"].to_numpy()[split.test_sites]],
                    fit_points=int(obs.n), starts=starts,
                    fit_sites=sorted({str(v) for v in obs.ids}),
                    fit_times=[float(obs.times.min()), float(obs.times.max())],
                    train_period=[str(data.dates[split.train_times[0]].date()),
                                  str(data.dates[split.train_times[-1]].date())],
                    test_period=[str(data.dates[split.test_times[0]].date()),
                                 str(data.dates[split.test_times[-1]].date())],
                    unit=data.unit)
    run = SolarRun(name, scores, forecasts, fits, settings, seconds, split)
    if out is not None:
        _write(run, out, data, split)
    return run


def score_table(forecasts: pd.DataFrame, dataset: str = "") -> pd.DataFrame:
    """Scores per model, horizon and site group, on the finite observations.

    Parameters
    ----------
    forecasts : pandas.DataFrame
        Columns ``model``, ``horizon``, ``group``, ``observed``, ``mean``, ``sd``.
    dataset : str, default ""
        Written in the ``dataset`` column.

    Returns
    -------
    pandas.DataFrame
        One row per model × horizon × group (``sites``): :func:`fieldfit.diagnostics.score_all`
        of the Gaussian forecasts and ``mean_sd`` the mean predictive sd; held-out (``test``)
        rows after ``train`` rows, then by horizon and the order of :data:`MODELS`.
    """
    out = []
    ok = forecasts[np.isfinite(forecasts["observed"])]
    for (name, h, g), part in ok.groupby(["model", "horizon", "group"], sort=False):
        sc = score_all(part["observed"], part["mean"], part["sd"])
        out.append({"dataset": dataset, "model": name, "horizon": int(h), "sites": g, **sc,
                    "mean_sd": float(part["sd"].mean())})
    table = pd.DataFrame(out)
    order = {name: k for k, name in enumerate(MODELS)}
    table["_o"] = table["model"].map(order)
    return (table.sort_values(["sites", "horizon", "_o"], ascending=[False, True, True])
            .drop(columns="_o").reset_index(drop=True))


def _write(run: SolarRun, out: Path, data: SolarData, split: Split) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "scores.csv", run.scores.to_csv(index=False).encode())
    buf = io.BytesIO()
    run.forecasts.to_parquet(buf, index=False)
    write_atomic(out / "forecasts.parquet", buf.getvalue())
    fits = {k: {"params": r.params, "stderr": r.stderr, "loglik": r.loglik}
            for k, r in run.fits.items()}
    write_json({"settings": run.settings, "seconds": run.seconds,
                "fits": json.loads(json.dumps(fits, default=float)),
                "scores": run.scores.to_dict(orient="records")}, out / "scores.json")
    if "advection-diffusion" in run.fits:
        velocity_map(out / "velocity.png", run.fits["advection-diffusion"].params, data, split)


def velocity_map(path: Path, params: dict, data: SolarData, split: Split) -> None:
    r"""Write a PNG of the fitted advection velocity :math:`\gamma / c` over the sites.

    The velocity (km per time step) is drawn as arrows on a grid over the sites (constant: the
    model's velocity is one vector; arrows 0.08 × the sites' extent long, the key giving the
    speed), with the training and held-out sites.

    Parameters
    ----------
    path : pathlib.Path
        The PNG file (written atomically).
    params : dict
        Fitted parameters with ``gamma_x``, ``gamma_y`` and ``c``.
    data : SolarData
        The dataset (site coordinates, time step).
    split : Split
        Training and held-out sites.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vx = params["gamma_x"] / params["c"]
    vy = params["gamma_y"] / params["c"]
    xy = data.xy
    lo, hi = xy.min(0), xy.max(0)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 7), np.linspace(lo[1], hi[1], 7))
    speed = math.hypot(vx, vy)
    extent = float(max(hi - lo))
    # arrows of length 0.08 x the extent; the key gives the speed in km per step
    scale = speed / (0.08 * extent) if speed > 0 else 1.0
    ratio = (hi[1] - lo[1] + 0.2 * extent) / (hi[0] - lo[0] + 0.2 * extent)
    fig, ax = plt.subplots(figsize=(6.5, min(max(6.5 * ratio, 3.5), 9.0)),
                           constrained_layout=True)
    q = ax.quiver(gx, gy, np.full_like(gx, vx), np.full_like(gy, vy), color="tab:red",
                  angles="xy", scale_units="xy", scale=scale, width=0.004,
                  pivot="middle")
    tr, te = split.train_sites, split.test_sites
    ax.scatter(xy[tr, 0], xy[tr, 1], s=12, c="black", label="training sites")
    if len(te):
        ax.scatter(xy[te, 0], xy[te, 1], s=40, marker="x", c="tab:blue",
                   label="held-out sites")
    step = "month" if data.monthly else "day"
    ax.quiverkey(q, 0.08, 0.03, speed, f"{speed:.3g} km/{step}", labelpos="E",
                 coordinates="axes")
    heading = math.degrees(math.atan2(vx, vy)) % 360
    ax.set_title(f"{data.name}: fitted velocity γ/c = ({vx:.3g}, {vy:.3g}) km/{step}\n"
                 f"speed {speed:.3g} km/{step}, towards {heading:.0f}° (from north)",
                 fontsize=10)
    ax.set_xlabel("x (km, east)")
    ax.set_ylabel("y (km, north)")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def main(argv=None) -> int:
    """Command line: ``python -m fieldfit.bench.solar DATASET OUT [--validation] [--window W]``.

    Runs :func:`run_solar` with the defaults and prints the score table and timings.

    Parameters
    ----------
    argv : list of str or None, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status 0.
    """
    import argparse

    ap = argparse.ArgumentParser(prog="python -m fieldfit.bench.solar",
                                 description="solar-radiation forecast benchmark")
    ap.add_argument("dataset", choices=DATASETS)
    ap.add_argument("out")
    ap.add_argument("--validation", action="store_true",
                    help="score on the last held-out-sized block of the training period")
    ap.add_argument("--window", type=int, default=None, help="fitting window (time steps)")
    args = ap.parse_args(argv)
    run = run_solar(args.dataset, args.out, validation=args.validation, window=args.window)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(run.scores.to_string(index=False))
    print(json.dumps({k: round(v, 1) for k, v in run.seconds.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
