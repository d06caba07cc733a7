"""The demo's space-time part: a one-day-ahead wind forecast for Ireland (``fieldfit demo``).

Data: daily mean wind speed at the 12 Irish synoptic stations (``irish-wind``, Haslett &
Raftery 1989), modelled, as they did, on the square-root scale, z = √(knots). The stations'
lon/lat positions are projected to a local planar map in kilometres, the azimuthal equidistant
projection centred on the stations' mean position (sphere of radius R = 6,371.0088 km):

    cos c = sin φ₀ sin φ + cos φ₀ cos φ cos(λ − λ₀),   k = c / sin c,
    x = R k cos φ sin(λ − λ₀),   y = R k (cos φ₀ sin φ − sin φ₀ cos φ cos(λ − λ₀))

(Snyder 1987, *Map Projections — A Working Manual*, USGS Prof. Paper 1395, eq. 25-2, 22-4,
22-5). Distances from the centre are exact; between two stations at most ~300 km from it the
error is below 0.1 %, far inside what the covariance can resolve; ranges are thus in km.

Model: z(s, t) = μ + Y(s, t) + ε, with Y of Gneiting's (2002) nonseparable space-time
covariance and a nugget ε, fitted by exact maximum likelihood on the first ``window`` days of
the last ``window + horizon`` days of the record, with the temporal smoothness α fixed at 0.5
(:data:`FIXED`). With daily data the time lags are u ∈ {0, 1, 2, …} and the fitted ℓ_T is far
below a day, so ψ(u) ≈ (u/ℓ_T)^{2α} at every lag but 0: only the products of α with β and with
log ℓ_T are identified, not α itself. Left free, α drifts to its upper limit 1 for a gain of
0.07 in log-likelihood on the demo's window (−199.07 against −199.14 at α = 0.5; β and ℓ_T
compensate). Each of the ``horizon`` following days is
then forecast one day ahead: kriging (the constant mean estimated by GLS) at that
day's time from every station value up to the day before, with the parameters of the window's
fit. The forecast days are never used to fit; each day's values enter only as conditioning
data for the days after it. The benchmark is persistence: tomorrow = today, with the
predictive sd the root mean square one-day change in the window (pooled over stations).
Both are scored on the held-out station values by RMSE, CRPS and the rest of
:func:`fieldfit.diagnostics.score_all`. The map is the forecast of the first day on a
regular grid over the stations' region.
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
from .io import write_atomic
from .models import build
from .predict import krige

#: parameters held fixed in the fit (see the module docstring)
FIXED = {"time_smoothness": 0.5}
#: mean Earth radius (IUGG), km
EARTH_RADIUS_KM = 6371.0088


def azimuthal_equidistant(lon, lat, lon0: float, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Planar ``(x, y)`` in km of lon/lat degrees, centred on ``(lon0, lat0)`` (see the module
    docstring for the formula)."""
    lam, phi = np.radians(np.asarray(lon, float)), np.radians(np.asarray(lat, float))
    lam0, phi0 = np.radians(lon0), np.radians(lat0)
    cos_c = np.sin(phi0) * np.sin(phi) + np.cos(phi0) * np.cos(phi) * np.cos(lam - lam0)
    c = np.arccos(np.clip(cos_c, -1.0, 1.0))
    k = np.where(c > 0, c / np.sin(np.where(c > 0, c, 1.0)), 1.0)
    x = EARTH_RADIUS_KM * k * np.cos(phi) * np.sin(lam - lam0)
    y = EARTH_RADIUS_KM * k * (np.cos(phi0) * np.sin(phi)
                               - np.sin(phi0) * np.cos(phi) * np.cos(lam - lam0))
    return x, y


def inverse_azimuthal_equidistant(x, y, lon0: float, lat0: float):
    """lon/lat degrees of planar ``(x, y)`` km (the inverse of :func:`azimuthal_equidistant`;
    Snyder 1987, eq. 20-14, 20-15, 25-15)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    lam0, phi0 = np.radians(lon0), np.radians(lat0)
    rho = np.hypot(x, y)
    c = rho / EARTH_RADIUS_KM
    safe = np.where(rho > 0, rho, 1.0)
    phi = np.where(rho > 0, np.arcsin(np.cos(c) * np.sin(phi0)
                                      + y * np.sin(c) * np.cos(phi0) / safe), phi0)
    lam = lam0 + np.arctan2(x * np.sin(c),
                            rho * np.cos(phi0) * np.cos(c) - y * np.sin(phi0) * np.sin(c))
    return np.degrees(lam), np.degrees(phi)


def load_wind() -> tuple[pd.DataFrame, tuple[float, float]]:
    """The ``irish-wind`` table with planar ``x``, ``y`` (km) and ``z`` = √(knots); and the
    projection's centre (lon₀, lat₀)."""
    df = datasets.load("irish-wind")
    stations = df.drop_duplicates("station")
    centre = (float(stations["lon"].mean()), float(stations["lat"].mean()))
    df["x"], df["y"] = azimuthal_equidistant(df["lon"], df["lat"], *centre)
    df["z"] = np.sqrt(df["wind"].to_numpy())
    return df, centre


@dataclass
class Forecast:
    """What :func:`run_forecast` returns: the fit, the per-station forecasts and their scores,
    the forecast grid (first forecast day) and the days used."""

    result: object
    model: object
    stations: pd.DataFrame      # date, station, observed, mean, sd, persistence, persistence_sd
    scores: dict                # {"gneiting": score_all(...), "persistence": score_all(...)}
    grid: pd.DataFrame          # id, x, y, lon, lat, date, mean, sd
    fit_days: tuple[str, str]   # first and last day of the fitting window (ISO)
    forecast_days: list[str]
    seconds: dict = field(default_factory=dict)


def _grid(df: pd.DataFrame, centre, day, cells: int, margin_km: float = 40.0) -> pd.DataFrame:
    """A regular grid over the stations' box widened by ``margin_km``, at time ``day``
    (about ``cells`` cells, square cells)."""
    xs, ys = df["x"].to_numpy(), df["y"].to_numpy()
    x0, x1 = xs.min() - margin_km, xs.max() + margin_km
    y0, y1 = ys.min() - margin_km, ys.max() + margin_km
    step = np.sqrt((x1 - x0) * (y1 - y0) / cells)
    gx, gy = np.meshgrid(np.arange(x0, x1 + step / 2, step), np.arange(y0, y1 + step / 2, step))
    grid = pd.DataFrame({"x": gx.ravel(), "y": gy.ravel()})
    grid["lon"], grid["lat"] = inverse_azimuthal_equidistant(grid["x"], grid["y"], *centre)
    grid["date"] = pd.Timestamp(day)
    return grid


def run_forecast(window: int = 28, horizon: int = 7, restarts: int = 1, grid_cells: int = 3600,
                 progress: bool | None = None) -> Forecast:
    """Fit on ``window`` days, forecast each of the next ``horizon`` days one day ahead, and
    the first of them on a grid of about ``grid_cells`` cells (see the module docstring)."""
    if window < 3 or horizon < 1:
        raise ValueError(f"the forecast needs a window of at least 3 days and a horizon of at "
                         f"least 1, got {window} and {horizon}")
    t0 = _time.perf_counter()
    df, centre = load_wind()
    days = np.sort(df["date"].unique())
    used = days[-(window + horizon):]
    fit_days, fc_days = used[:window], used[window:]
    train = df[df["date"].isin(fit_days)]
    obs = Observations.from_dataframe(train, coords=["x", "y"], value="z", time="date",
                                      id="station")
    model = build("gneiting", mean="constant")
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
        past = Observations.from_dataframe(hist, coords=["x", "y"], value="z", time="date",
                                           id="station")
        new = Observations.from_dataframe(test, coords=["x", "y"], value=None, time="date",
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
    grid = _grid(df, centre, fc_days[0], grid_cells)
    targets = Observations.from_dataframe(grid, coords=["x", "y"], value=None, time="date")
    pred = krige(model, obs, targets, result)
    grid["mean"], grid["sd"] = pred["mean"].to_numpy(), pred["sd"].to_numpy()
    grid.insert(0, "id", np.arange(len(grid)))
    iso = lambda d: str(pd.Timestamp(d).date())  # noqa: E731
    return Forecast(result=result, model=model, stations=stations, scores=scores, grid=grid,
                    fit_days=(iso(fit_days[0]), iso(fit_days[-1])),
                    forecast_days=[iso(d) for d in fc_days],
                    seconds={"fit": t_fit, "total": _time.perf_counter() - t0})


def forecast_map(path: Path, fc: Forecast) -> None:
    """PNG: the first forecast day's mean and sd (√knots) on the grid, with the stations (the
    mean panel colours them by their held-out value on the colour scale of the map)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = fc.grid
    xs, ys = np.unique(g["x"]), np.unique(g["y"])
    day = fc.forecast_days[0]
    first = fc.stations[fc.stations["date"] == pd.Timestamp(day)]
    st, _ = load_wind()
    st = st.drop_duplicates("station").set_index("station").loc[first["station"]]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.6), constrained_layout=True)
    for ax, col, cmap, label in ((axes[0], "mean", "viridis", "forecast mean"),
                                 (axes[1], "sd", "magma", "forecast sd")):
        img = g[col].to_numpy().reshape(len(ys), len(xs))
        mesh = ax.pcolormesh(xs, ys, img, cmap=cmap, shading="nearest")
        if col == "mean":
            ax.scatter(st["x"], st["y"], c=first["observed"].to_numpy(), cmap=cmap,
                       norm=mesh.norm, s=60, edgecolors="white", linewidths=1.2,
                       label="stations (held-out value)")
            ax.legend(loc="lower right", fontsize=8)
        else:
            ax.scatter(st["x"], st["y"], s=14, c="white", edgecolors="black", linewidths=0.5)
        for code, row in st.iterrows():
            ax.annotate(code, (row["x"], row["y"]), xytext=(4, 4), textcoords="offset points",
                        fontsize=7, color="white" if col == "sd" else "black")
        ax.set_aspect("equal")
        ax.set_xlabel("x (km, azimuthal equidistant)")
        ax.set_ylabel("y (km)")
        ax.set_title(f"{label}, {day}: √(wind, knots)")
        fig.colorbar(mesh, ax=ax, shrink=0.8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
