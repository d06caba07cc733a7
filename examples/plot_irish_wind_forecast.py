"""
Irish wind: a space-time forecast on longitude and latitude
===========================================================

This example fits a Gneiting space-time covariance to four weeks of daily wind speeds at the
12 Irish synoptic stations, kept at their longitude and latitude with chordal distances in
kilometres, and forecasts each of the following seven days one day ahead. It scores the
forecasts against persistence on the held-out station values and maps the forecast mean
and standard deviation of the first day over Ireland.
"""

# %%
# The data
# --------
# :func:`fieldfit.datasets.load` gives the daily mean wind speed (knots) at 12 stations from
# 1961 to 1978, one row per station and day. As Haslett & Raftery (1989) did, the model is
# for the square root of the speed, :math:`z = \sqrt{\mathrm{wind}}`, whose variance hardly
# depends on its level. The last 35 days of the record are used: the first 28 to fit, the
# last 7 to forecast, each from the station values of all the days before it.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import fieldfit as ff

wind = ff.datasets.load("irish-wind")
stations = ff.datasets.load("irish-wind", table="stations").set_index("station")
wind["z"] = np.sqrt(wind["wind"])
days = np.sort(wind["date"].unique())
fit_days, forecast_days = days[-35:-7], days[-7:]
print(f"{wind['station'].nunique()} stations, {len(days)} days; fit on "
      f"{pd.Timestamp(fit_days[0]).date()} to {pd.Timestamp(fit_days[-1]).date()}, forecast "
      f"{pd.Timestamp(forecast_days[0]).date()} to {pd.Timestamp(forecast_days[-1]).date()}")
print(stations[["name", "lon", "lat", "mean_wind"]].to_string())

# %%
# The model on the sphere
# -----------------------
# :class:`fieldfit.GaussianField` with ``crs="lonlat"`` keeps the coordinates in degrees and
# places the stations on a sphere of radius 6,371 km, with the chordal distance
# :math:`h = 2R \sin(d/(2R))` (:math:`d` the great-circle distance): a valid distance for any
# covariance that is positive definite in three dimensions, and here, with stations at most
# 427 km apart, within 0.02 % of :math:`d`. So the fitted range is in kilometres.
#
# The covariance is Gneiting's (2002) nonseparable space-time family
# (:class:`fieldfit.Gneiting`),
#
# .. math::
#
#    C(h, u) = \frac{\sigma^2}{\psi(u)^{\beta d/2}}
#    \exp\!\left(-\frac{(h/\ell_S)^{2\gamma}}{\psi(u)^{\beta\gamma}}\right),
#    \qquad \psi(u) = 1 + (|u|/\ell_T)^{2\alpha},
#
# with :math:`d = 3` on the sphere (the family is positive definite in :math:`\mathbb{R}^3`),
# a constant mean and a nugget, fitted by exact maximum likelihood with
# :func:`fieldfit.fit`. The separability :math:`\beta` couples space and time (0: separable).
# With daily data the fitted time range :math:`\ell_T` is far below a day, so
# :math:`\psi(u) \approx (u/\ell_T)^{2\alpha}` at every lag but 0 and the temporal smoothness
# :math:`\alpha` is not identified on its own: it is held at 0.5.
model = ff.GaussianField(ff.Gneiting(), mean="constant", crs="lonlat")
train = wind[wind["date"].isin(fit_days)]
obs = ff.Observations.from_dataframe(train, coords=["lon", "lat"], value="z", time="date",
                                     id="station")
result = ff.fit(model, obs, fix={"time_smoothness": 0.5}, restarts=0, progress=False)
print(result.summary())
print("units:", result.units)

# %%
# One-day-ahead forecasts
# -----------------------
# Each forecast day is predicted by :func:`fieldfit.krige` at that day's time from every
# station value from the start of the window up to the day before, with the window's fitted
# parameters (the forecast days never enter the fit). The benchmark is persistence:
# tomorrow's value is today's, with a predictive sd equal to the root mean square
# one-day change at the stations in the window.
wide = wind.pivot(index="date", columns="station", values="z")
persistence_sd = float(np.sqrt(np.mean(np.diff(wide.loc[fit_days].to_numpy(), axis=0) ** 2)))
rows = []
for day in forecast_days:
    past = wind[(wind["date"] >= fit_days[0]) & (wind["date"] < day)]
    today = wind[wind["date"] == day]
    history = ff.Observations.from_dataframe(past, coords=["lon", "lat"], value="z",
                                             time="date", id="station")
    targets = ff.Observations.from_dataframe(today, coords=["lon", "lat"], value=None,
                                             time="date", id="station")
    pred = ff.krige(model, history, targets, result)
    yesterday = wide.loc[wide.index < day].iloc[-1]
    rows.append(pd.DataFrame({
        "date": day, "station": today["station"].to_numpy(),
        "observed": today["z"].to_numpy(), "mean": pred["mean"].to_numpy(),
        "sd": pred["sd"].to_numpy(), "persistence": yesterday[today["station"]].to_numpy()}))
forecasts = pd.concat(rows, ignore_index=True)

# %%
# Scores on the 84 held-out station values (7 days × 12 stations), by
# :func:`fieldfit.diagnostics.score_all`: MAE and RMSE of the mean, the CRPS and the
# interval score of the Gaussian predictive distribution, and the coverage of its 95 %
# interval. All are on the √knots scale, and smaller is better but for the coverage.
scores = pd.DataFrame({
    "Gneiting kriging": ff.diagnostics.score_all(forecasts["observed"], forecasts["mean"],
                                                 forecasts["sd"]),
    "persistence": ff.diagnostics.score_all(forecasts["observed"], forecasts["persistence"],
                                            np.full(len(forecasts), persistence_sd)),
}).T
scores["n"] = scores["n"].astype(int)
print(scores.to_string(float_format=lambda v: f"{v:.3f}"))

# %%
# The forecasts at three stations, with their 95 % intervals, beside persistence and the
# values observed: kriging draws on all twelve stations' values of the day before, and on
# the spatial pattern, not only on the station's own.
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True, constrained_layout=True)
for ax, code in zip(axes, ["VAL", "DUB", "MAL"], strict=True):
    one = forecasts[forecasts["station"] == code]
    before = wide.loc[fit_days[-7]:, code]
    ax.plot(before.index, before.to_numpy(), "k.-", lw=0.8, label="observed")
    ax.errorbar(one["date"], one["mean"], yerr=1.96 * one["sd"], fmt="o", color="C0",
                capsize=3, label="kriging, 95 % interval")
    ax.plot(one["date"], one["persistence"], "s", color="C1", ms=5, label="persistence")
    ax.axvline(forecast_days[0] - np.timedelta64(12, "h"), color="0.6", ls=":")
    ax.set_title(f"{stations.loc[code, 'name']} ({code})")
    ax.tick_params(axis="x", labelrotation=45)
axes[0].set_ylabel("√(wind speed, knots)")
axes[0].legend(fontsize=8, loc="upper left")
plt.show()

# %%
# A map of the first forecast day
# -------------------------------
# Kriging on a regular longitude/latitude grid over the stations, for the first forecast
# day, from the 28 days of the window. A degree of longitude is shorter than a degree of
# latitude by :math:`\cos\varphi` (about 0.6 here), so the map's aspect is set to
# :math:`1/\cos\bar\varphi` to keep it unstretched. The sd is smallest at the stations,
# where the nugget sets its floor, and grows away from them.
lon = np.linspace(stations["lon"].min() - 0.6, stations["lon"].max() + 0.6, 70)
lat = np.linspace(stations["lat"].min() - 0.4, stations["lat"].max() + 0.4, 60)
grid = pd.DataFrame([(x, y) for y in lat for x in lon], columns=["lon", "lat"])
grid["date"] = forecast_days[0]
cells = ff.Observations.from_dataframe(grid, coords=["lon", "lat"], value=None, time="date")
surface = ff.krige(model, obs, cells, result)
first = forecasts[forecasts["date"] == forecast_days[0]].set_index("station")
# one colour scale for the forecast surface and the stations' observed values
value_range = {"mean": (min(surface["mean"].min(), first["observed"].min()),
                        max(surface["mean"].max(), first["observed"].max())),
               "sd": (surface["sd"].min(), surface["sd"].max())}

fig, axes = plt.subplots(1, 2, figsize=(11, 5.4), constrained_layout=True)
for ax, column, cmap, title in ((axes[0], "mean", "viridis", "forecast mean"),
                                (axes[1], "sd", "magma", "forecast sd")):
    image = surface[column].to_numpy().reshape(len(lat), len(lon))
    low, high = value_range[column]
    mesh = ax.pcolormesh(lon, lat, image, cmap=cmap, vmin=low, vmax=high, shading="nearest")
    if column == "mean":      # the stations coloured by their held-out value
        ax.scatter(stations.loc[first.index, "lon"], stations.loc[first.index, "lat"],
                   c=first["observed"], cmap=cmap, norm=mesh.norm, s=70,
                   edgecolors="white", linewidths=1.2, label="station (observed value)")
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.scatter(stations["lon"], stations["lat"], s=16, c="white", edgecolors="black",
                   linewidths=0.6)
    for code, row in stations.iterrows():
        ax.annotate(code, (row["lon"], row["lat"]), xytext=(4, 4), textcoords="offset points",
                    fontsize=7, color="white" if column == "sd" else "black")
    ax.set_aspect(1 / np.cos(np.radians(lat.mean())))
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_title(f"{title}, {pd.Timestamp(forecast_days[0]).date()}")
    fig.colorbar(mesh, ax=ax, shrink=0.8, label="√(wind speed, knots)")
plt.show()
