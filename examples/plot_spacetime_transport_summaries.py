"""
Transport in space-time data: exact draws, unit scales and what a network sees
==============================================================================

The amortized estimators of fieldfit work on space-time data rescaled to the unit square and
the unit interval. This example shows the three pieces they stand on:

* exact draws of the continuous advection–diffusion SPDE at irregular stations
  (``simulator="spectral"``), stated by how far, how long and how fast the field is
  correlated (a prior in derived coordinates);
* the SPDE's scaling laws, which carry estimates made in unit scales back to the data's units;
* the space-time graph summaries: same-time and lagged neighbours with their offset vectors,
  and the directional lagged correlations that point along the transport.
"""

# %%
# A field that moves
# ------------------
# A range of 0.15 of the domain, a memory (the slowest mode's e-folding time) of a third of
# the series, a velocity of one domain width per series along +x, and 20 % of the variance
# as measurement noise. :func:`fieldfit.models.params_from_derived` turns those into the
# model's κ, c, τ, γ and nugget; the spectral simulator draws the continuum exactly at 150
# stations and 40 times.
import matplotlib.pyplot as plt
import numpy as np

from fieldfit.models import AdvectionDiffusionField, params_from_derived, rescaled_params
from fieldfit.models.ad_scaling import derived_quantities
from fieldfit.neural.spacetime_graphs import (
    DIRECTIONAL_EDGES,
    SECTORS,
    directional_correlations,
)

derived = {"range": 0.15, "memory": 0.33, "velocity_x": 1.0, "velocity_y": 0.0,
           "marginal_variance": 1.0, "nugget_share": 0.2, "mean": 0.0}
params = params_from_derived(derived)
print({k: round(v, 3) for k, v in params.items()})

rng = np.random.default_rng(1)
stations = rng.uniform(0, 1, (150, 2))
times = np.linspace(0, 1, 40)
points = np.column_stack([np.tile(stations, (40, 1)), np.repeat(times, 150)])
model = AdvectionDiffusionField(simulator="spectral")
z = model.simulate(points, params, n_replicates=1, seed=3).reshape(40, 150)

fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
for ax, k in zip(axes, (0, 5, 10), strict=True):
    sc = ax.scatter(*stations.T, c=z[k], cmap="RdBu_r", vmin=-2.5, vmax=2.5, s=18)
    ax.set_title(f"t = {times[k]:.2f}")
    ax.set_aspect("equal")
fig.colorbar(sc, ax=axes, shrink=0.8)
fig.suptitle("exact draws of the continuous SPDE at 150 stations (the field moves along +x)")

# %%
# The scaling laws
# ----------------
# The same field in kilometres and hours: a 200 km square observed over 48 hours. The laws
# (κ' = κL, c' = c L^{2α}/T, γ' = γ L^{2α−1}, τ' = τ L^{α+α_s−1}) change the parameters but
# not what they mean: the range scales with L, the speed with L/T, the memory with T, and
# the variance not at all.
km = rescaled_params(params, 1 / 200.0, 1 / 48.0)
unit, data_units = derived_quantities(params), derived_quantities(km)
for k in ("range", "speed", "direction", "memory", "marginal_variance"):
    print(f"{k:18s} unit scales {unit[k]:9.4g}   km and hours {data_units[k]:9.4g}")

# %%
# What the space-time network sees
# --------------------------------
# The mean of z(s_i, t) z(s_j, t − ℓ) over station pairs, by lag ℓ, distance and direction of
# the offset s_i − s_j. At lag 0 the field is symmetric; one step later it correlates best
# with its own past upstream (sector 0: offsets along +x), where the transport brought it.
zs = (z - z.mean()) / z.std()
d = directional_correlations(stations, zs[None])
per_lag = (len(DIRECTIONAL_EDGES) - 1) * SECTORS
angles = np.arange(SECTORS) * 360 / SECTORS
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), subplot_kw={"projection": "polar"})
for ax, lag in zip(axes, (0, 1, 2), strict=True):
    block = d[lag * per_lag:(lag + 1) * per_lag].reshape(-1, SECTORS)
    for b in range(block.shape[0]):
        lo, hi = DIRECTIONAL_EDGES[b], DIRECTIONAL_EDGES[b + 1]
        ax.plot(np.radians(np.r_[angles, 0]), np.r_[block[b], block[b, 0]],
                label=f"{lo:.2f}–{hi:.2f}")
    ax.set_title(f"lag {lag} step(s)")
axes[-1].legend(title="distance", fontsize=7, loc="lower left", bbox_to_anchor=(1.05, 0))
fig.suptitle("directional lagged correlations (the transport is along 0°)")
lag1 = d[per_lag:2 * per_lag].reshape(-1, SECTORS)
print("lag 1, distance 0.05–0.10: along +x", round(lag1[1, 0], 3), " against",
      round(lag1[1, 4], 3))
