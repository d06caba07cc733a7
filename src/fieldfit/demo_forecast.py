"""The demo's space-time part: a one-day-ahead wind forecast for Ireland (``fieldfit demo``).

Data: daily mean wind speed at the 12 Irish synoptic stations (``irish-wind``, Haslett &
Raftery 1989), modelled, as they did, on the square-root scale, z = √(knots). The stations
stay at their longitude/latitude (degrees): the model is built with ``crs="lonlat"``
(:mod:`fieldfit.geo`), which places them on a sphere of radius R = 6,371.0088 km and uses
chordal distances h = 2R sin(d_gc / (2R)), d_gc the great-circle distance. The stations are at
most 427 km apart, where h is 0.02 % shorter than d_gc, so the fitted range reads as
kilometres (the result's ``units`` give ``"range": "km"``). On the sphere the Gneiting
covariance takes its spatial dimension as d = 3 (``ψ^{−βd/2}``: it is positive definite on
R³), so the estimates differ slightly from those of a planar fit on projected coordinates.

Model: z(s, t) = μ + Y(s, t) + ε, with Y of Gneiting's (2002) nonseparable space-time
covariance and a nugget ε, fitted by exact maximum likelihood on the first ``window`` days of
the last ``window + horizon`` days of the record, with the temporal smoothness α fixed at 0.5
(:data:`FIXED`). With daily data the time lags are u ∈ {0, 1, 2, …} and the fitted ℓ_T is far
below a day, so ψ(u) ≈ (u/ℓ_T)^{2α} at every lag but 0: only the products of α with β and with
log ℓ_T are identified, not α itself: left free, α drifts to its upper limit 1 for a
negligible gain in log-likelihood while β and ℓ_T compensate.
Each of the ``horizon`` following days is then forecast one day ahead: kriging
(the constant mean estimated by GLS) at that day's time from every station value up to the
day before, with the parameters of the window's fit. The forecast days are never used to fit;
each day's values enter only as conditioning data for the days after it. The benchmark is
persistence: tomorrow = today, with the predictive sd the root mean square one-day change in
the window (pooled over stations). Both are scored on the held-out station values by RMSE,
CRPS and the rest of :func:`fieldfit.diagnostics.score_all`. The map is the forecast of the
first day on a regular longitude/latitude grid over the stations' box widened by 40 km, its
cells square on the ground (Δλ = Δφ / cos φ̄, φ̄ the box's middle latitude).

Settings (:func:`run_forecast`'s defaults) were chosen by their cost and by the fit on
training windows only (the demo's window and earlier 28-day windows of the record, all before
the forecast days), never by the forecast days' scores: no restarts (``restarts=0``), since
extra starts never improved on the data-driven start's optimum there; a 28-day window; a grid
of about 3,600 cells, whose kriging costs little beside the fit.
"""

from __future__ import annotations

import io
import time as _time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import datasets
from .data import Observations
from .diagnostics import score_all
from .fit import fit
from .geo import EARTH_RADIUS_KM
from .io import write_atomic
from .models import build
from .predict import krige

#: parameters held fixed in the fit (see the module docstring)
FIXED = {"time_smoothness": 0.5}
#: the coordinates of the fit, the forecasts and the grid: longitude, latitude (degrees)
COORDS = ["lon", "lat"]
#: kilometres per degree of latitude (great circle) on the sphere of :mod:`fieldfit.geo`
KM_PER_DEGREE = EARTH_RADIUS_KM * np.pi / 180.0


def load_wind() -> pd.DataFrame:
    """The ``irish-wind`` table (``lon``, ``lat`` in degrees) with ``z`` = √(knots).

    Returns
    -------
    pandas.DataFrame
    """
    df = datasets.load("irish-wind")
    df["z"] = np.sqrt(df["wind"].to_numpy())
    return df


def forecast_model():
    """The forecast's model: Gneiting space-time field, constant mean, nugget, on lon/lat.

    Returns
    -------
    Model
        ``build("gneiting", mean="constant", crs="lonlat")``.
    """
    return build("gneiting", mean="constant", crs="lonlat")


@dataclass
class Forecast:
    """What :func:`run_forecast` returns: the fit, the forecasts, their scores and the grid.

    Parameters
    ----------
    result : FitResult
        The fit on the window.
    model : Model
        The fitted model.
    stations : pandas.DataFrame
        Per station and forecast day: ``date, station, observed, mean, sd, persistence,
        persistence_sd``.
    scores : dict
        ``{"gneiting": score_all(...), "persistence": score_all(...)}``.
    grid : pandas.DataFrame
        The first forecast day on the grid: ``id, lon, lat, date, mean, sd``.
    fit_days : tuple of str
        First and last day of the fitting window (ISO).
    forecast_days : list of str
        The forecast days (ISO).
    seconds : dict, optional
        Timings of the fit, the grid and the whole run.
    """

    result: object
    model: object
    stations: pd.DataFrame      # date, station, observed, mean, sd, persistence, persistence_sd
    scores: dict                # {"gneiting": score_all(...), "persistence": score_all(...)}
    grid: pd.DataFrame          # id, lon, lat, date, mean, sd
    fit_days: tuple[str, str]   # first and last day of the fitting window (ISO)
    forecast_days: list[str]
    seconds: dict = field(default_factory=dict)


def _grid(df: pd.DataFrame, day, cells: int, margin_km: float = 40.0) -> pd.DataFrame:
    """A regular lon/lat grid over the stations' box widened by ``margin_km``, at time
    ``day``: about ``cells`` cells, square on the ground at the box's middle latitude."""
    lon, lat = df["lon"].to_numpy(float), df["lat"].to_numpy(float)
    dlat = margin_km / KM_PER_DEGREE
    lat0, lat1 = lat.min() - dlat, lat.max() + dlat
    shrink = np.cos(np.radians((lat0 + lat1) / 2))    # km per degree of longitude, relative
    dlon = dlat / shrink
    lon0, lon1 = lon.min() - dlon, lon.max() + dlon
    step = np.sqrt((lon1 - lon0) * shrink * (lat1 - lat0) / cells)   # degrees of latitude
    glon, glat = np.meshgrid(np.arange(lon0, lon1 + step / shrink / 2, step / shrink),
                             np.arange(lat0, lat1 + step / 2, step))
    grid = pd.DataFrame({"lon": glon.ravel(), "lat": glat.ravel()})
    grid["date"] = pd.Timestamp(day)
    return grid


def run_forecast(window: int = 28, horizon: int = 7, restarts: int = 0, grid_cells: int = 3600,
                 progress: bool | None = None) -> Forecast:
    """Fit on ``window`` days and forecast each of the next ``horizon`` days one day ahead.

    The first forecast day is also kriged on a grid of about ``grid_cells`` cells. See the
    module docstring for the model and the scoring.

    Parameters
    ----------
    window : int, default 28
        Days of the fitting window (≥ 3), ending before the forecast days.
    horizon : int, default 7
        Number of forecast days (≥ 1), the last days of the record.
    restarts : int, default 0
        Restarts of the fit.
    grid_cells : int, default 3600
        About this many cells in the forecast map.
    progress : bool or None, optional
        Progress bars of the fit.

    Returns
    -------
    Forecast

    Raises
    ------
    ValueError
        If ``window < 3`` or ``horizon < 1``.
    """
    if window < 3 or horizon < 1:
        raise ValueError(f"the forecast needs a window of at least 3 days and a horizon of at "
                         f"least 1, got {window} and {horizon}")
    t0 = _time.perf_counter()
    df = load_wind()
    days = np.sort(df["date"].unique())
    used = days[-(window + horizon):]
    fit_days, fc_days = used[:window], used[window:]
    train = df[df["date"].isin(fit_days)]
    obs = Observations.from_dataframe(train, coords=COORDS, value="z", time="date",
                                      id="station")
    model = forecast_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # notes are in the result
        result = fit(model, obs, restarts=restarts, progress=progress, fix=FIXED)
    t_fit = _time.perf_counter() - t0

    wide = df[df["date"].isin(used)].pivot(index="date", columns="station", values="z")
    change = np.diff(wide.loc[fit_days].to_numpy(), axis=0)
    persistence_sd = float(np.sqrt(np.mean(change ** 2)))
    rows = []
    for day in fc_days:
        hist = df[(df["date"] >= fit_days[0]) & (df["date"] < day)]
        test = df[df["date"] == day]
        past = Observations.from_dataframe(hist, coords=COORDS, value="z", time="date",
                                           id="station")
        new = Observations.from_dataframe(test, coords=COORDS, value=None, time="date",
                                          id="station")
        pred = krige(model, past, new, result)
        yesterday = wide.loc[wide.index[wide.index < day][-1]]
        rows.append(pd.DataFrame({
            "date": pd.Timestamp(day), "station": test["station"].to_numpy(),
            "observed": test["z"].to_numpy(), "mean": pred["mean"].to_numpy(),
            "sd": pred["sd"].to_numpy(),
            "persistence": yesterday.loc[test["station"]].to_numpy(),
            "persistence_sd": persistence_sd}))
    stations = pd.concat(rows, ignore_index=True)
    scores = {
        "gneiting": score_all(stations["observed"], stations["mean"], stations["sd"]),
        "persistence": score_all(stations["observed"], stations["persistence"],
                                 stations["persistence_sd"]),
    }
    t_grid = _time.perf_counter()
    grid = _grid(df, fc_days[0], grid_cells)
    targets = Observations.from_dataframe(grid, coords=COORDS, value=None, time="date")
    pred = krige(model, obs, targets, result)
    grid["mean"], grid["sd"] = pred["mean"].to_numpy(), pred["sd"].to_numpy()
    grid.insert(0, "id", np.arange(len(grid)))
    t_end = _time.perf_counter()
    iso = lambda d: str(pd.Timestamp(d).date())  # noqa: E731
    return Forecast(result=result, model=model, stations=stations, scores=scores, grid=grid,
                    fit_days=(iso(fit_days[0]), iso(fit_days[-1])),
                    forecast_days=[iso(d) for d in fc_days],
                    seconds={"fit": t_fit, "grid": t_end - t_grid, "total": t_end - t0})


def forecast_map(path: Path, fc: Forecast) -> None:
    """Write a PNG of the first forecast day's mean and sd (√knots) on the lon/lat grid.

    The stations are drawn too (the mean panel colours them by their held-out value on the
    colour scale of the map); the aspect 1/cos φ̄ (φ̄ the grid's mean latitude) keeps the map
    unstretched.

    Parameters
    ----------
    path : pathlib.Path
        Output file (written atomically).
    fc : Forecast
        The forecast.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = fc.grid
    xs, ys = np.unique(g["lon"]), np.unique(g["lat"])
    aspect = 1.0 / np.cos(np.radians(float(g["lat"].mean())))
    day = fc.forecast_days[0]
    first = fc.stations[fc.stations["date"] == pd.Timestamp(day)]
    st = load_wind().drop_duplicates("station").set_index("station").loc[first["station"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.6), constrained_layout=True)
    for ax, col, cmap, label in ((axes[0], "mean", "viridis", "forecast mean"),
                                 (axes[1], "sd", "magma", "forecast sd")):
        img = g[col].to_numpy().reshape(len(ys), len(xs))
        mesh = ax.pcolormesh(xs, ys, img, cmap=cmap, shading="nearest")
        if col == "mean":
            ax.scatter(st["lon"], st["lat"], c=first["observed"].to_numpy(), cmap=cmap,
                       norm=mesh.norm, s=60, edgecolors="white", linewidths=1.2,
                       label="stations (held-out value)")
            ax.legend(loc="lower right", fontsize=8)
        else:
            ax.scatter(st["lon"], st["lat"], s=14, c="white", edgecolors="black",
                       linewidths=0.5)
        for code, row in st.iterrows():
            ax.annotate(code, (row["lon"], row["lat"]), xytext=(4, 4),
                        textcoords="offset points", fontsize=7,
                        color="white" if col == "sd" else "black")
        ax.set_aspect(aspect)
        ax.set_xlabel("longitude (°)")
        ax.set_ylabel("latitude (°)")
        ax.set_title(f"{label}, {day}: √(wind, knots)")
        fig.colorbar(mesh, ax=ax, shrink=0.8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
