"""
Advection–diffusion parameters from station time series in milliseconds
========================================================================

The advection–diffusion SPDE (Clarotto et al. 2024) describes a field that is carried by a
wind or a current, spreads, and forgets. Its maximum-likelihood fit takes minutes; the shipped
neural estimator ``advection-diffusion`` answers in milliseconds with a posterior over every
parameter. It was trained on exact draws of the continuous SPDE at 30–300 stations in the unit
square over 20–100 regular times spanning the unit interval; any dataset is mapped there (its
stations' bounding box, its series' span, its values' median and spread) and the answer is
mapped back to the data's units by the SPDE's scaling laws.

This example checks it on a simulated network in kilometres and hours, where the truth is
known, then applies it to two real datasets bundled with fieldfit: daily maximum temperatures
at US stations (July 1993) and ECMWF winds over the Mediterranean (February 2005).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from fieldfit import datasets
from fieldfit.models.ad_scaling import params_from_derived
from fieldfit.models.advection_diffusion_field import AdvectionDiffusionField
from fieldfit.neural import load_estimator

est = load_estimator("advection-diffusion")
print(est)
print("trained on", est.spec.design.n_range, "stations ×", est.spec.time_step_range, "times")

# %%
# A simulated network in kilometres and hours
# -------------------------------------------
# 150 stations in a 400 km square, observed every hour for 60 hours; the field has a range of
# 60 km, remembers for 10 hours and moves at 5 km/h towards the north-east; 10 % of its
# variance is measurement noise and 15 % of the values are missing.
truth = {"range": 60.0, "memory": 10.0, "velocity_x": 3.5, "velocity_y": 3.5,
         "marginal_variance": 4.0, "nugget_share": 0.1, "mean": 15.0}
params = params_from_derived(truth)
rng = np.random.default_rng(2)
stations = rng.uniform(0, 400, (150, 2))
hours = np.arange(60.0)
points = np.column_stack([np.tile(stations, (len(hours), 1)), np.repeat(hours, len(stations))])
model = AdvectionDiffusionField(simulator="spectral")
z = model.simulate(points, params, seed=5).ravel()
z[rng.random(z.size) < 0.15] = np.nan
data = pd.DataFrame({"x": points[:, 0], "y": points[:, 1], "t": points[:, 2], "z": z})

table = est.estimate(data)
shown = ["range", "memory", "speed", "direction", "marginal_variance", "nugget_share", "mean"]
want = {**truth, "speed": np.hypot(3.5, 3.5), "direction": 45.0}
for k in shown:
    print(f"{k:18s} truth {want[k]:8.3f}   estimate {table.loc[0, k]:8.3f}   90 % "
          f"[{table.loc[0, k + '_lower']:8.3f}, {table.loc[0, k + '_upper']:8.3f}]")

# %%
# The shipped estimator is a first one, trained on 2,000 simulations for 45 minutes on a CPU
# (docs/benchmarks.md, "Space-time amortized inference"): it has learned the range, the
# variances and the mean, while its posteriors of the memory and the velocity are still close
# to the prior — wide, as they should be when the network cannot yet read them. The
# posterior of the velocity: draws of (v_x, v_y) in km/h, the truth as a cross.
draws = est.posterior_draws(data, n_draws=2000, seed=1)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.scatter(draws.velocity_x, draws.velocity_y, s=2, alpha=0.3, label="posterior draws")
ax.plot(3.5, 3.5, "rx", ms=12, mew=3, label="truth")
ax.axhline(0, color="0.7", lw=0.8)
ax.axvline(0, color="0.7", lw=0.8)
ax.set_xlabel("velocity x (km/h)")
ax.set_ylabel("velocity y (km/h)")
ax.set_aspect("equal")
ax.legend(loc="lower right")
ax.set_title("transport velocity")

# %%
# Real data: temperatures and winds
# ---------------------------------
# Coordinates in degrees of latitude (x = lon · cos φ₀), times as datetimes (converted to
# days). The Mediterranean grid has 1,175 cells, more than four times the most stations the
# estimator was trained on; 300 cells drawn at random (seed 0) are used. The advection–
# diffusion maximum-likelihood fits of ``benchmarks/advection_diffusion.py`` (anisotropic
# diffusion, 80 % of the locations, docs/benchmarks.md) found a southward velocity of
# (0.021 ± 0.018, −0.203 ± 0.016) degrees per 6 h for the winds, i.e. (0.08, −0.81) per day,
# and no velocity distinguishable from zero for the temperatures, (0.05 ± 0.08, 0.01 ± 0.05)
# per day.
noaa = datasets.load("noaa-tmax")
wind = datasets.load("mediterranean-wind")
cells = wind[["lon", "lat"]].drop_duplicates().sample(300, random_state=0)
wind = wind.merge(cells, on=["lon", "lat"])


def as_table(df, value, time):
    lat0 = np.radians(df["lat"].mean())
    return pd.DataFrame({"x": df["lon"] * np.cos(lat0), "y": df["lat"], "t": df[time],
                         "z": df[value]})


real = pd.concat([as_table(noaa, "tmax", "date").assign(dataset="NOAA Tmax, July 1993"),
                  as_table(wind, "u", "time").assign(dataset="ECMWF u-wind, Feb 2005")])
found = est.estimate(real)
cols = ["dataset", "range", "memory", "velocity_x", "velocity_x_lower", "velocity_x_upper",
        "velocity_y", "velocity_y_lower", "velocity_y_upper", "nugget_share"]
print(found[cols].round(3).to_string(index=False))

# %%
# Velocity per day on the map, with the posterior draws of the displacement over one day.
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (name, df), frame in zip(axes, real.groupby("dataset", sort=False),
                                 (noaa, wind), strict=True):
    sites = df[["x", "y"]].drop_duplicates()
    ax.scatter(sites.x, sites.y, s=6, color="0.6")
    centre = sites.mean().to_numpy()
    post = est.posterior_draws(df, n_draws=500, seed=2)
    ax.scatter(centre[0] + post.velocity_x, centre[1] + post.velocity_y, s=2, alpha=0.3)
    row = found[found.dataset == name].iloc[0]
    ax.annotate("", xy=(centre[0] + row.velocity_x, centre[1] + row.velocity_y),
                xytext=centre, arrowprops={"arrowstyle": "->", "color": "C3", "lw": 2})
    ax.set_title(f"{name}\nvelocity (deg/day): ({row.velocity_x:.2f}, {row.velocity_y:.2f})",
                 fontsize=9)
    ax.set_aspect("equal")
    ax.set_xlabel("x = lon · cos φ₀ (deg)")
axes[0].set_ylabel("latitude (deg)")
fig.tight_layout()
