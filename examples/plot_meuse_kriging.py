"""
Meuse zinc: a Matérn fit and universal kriging maps
===================================================

This example fits log(zinc) in the Meuse flood plain as a linear trend in the square root of
the distance to the river plus a Matérn field and a nugget, with the smoothness estimated
under a weakly-informative Gamma(2, 1) prior. It then cross-validates the fitted model and
maps the universal-kriging mean and standard deviation on the bundled 40 m prediction grid.
"""

# %%
# The data
# --------
# :func:`fieldfit.datasets.load` returns the 155 soil samples as a DataFrame with their
# metadata in ``df.attrs``; the table ``"grid"`` holds the 3,103 cells of the prediction grid.
# Zinc is right-skewed, so it is modelled on the log scale, and its decline away from the
# river is captured by the covariate √dist (``dist`` is the normalised distance to the river).
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

import fieldfit as ff

samples = ff.datasets.load("meuse")
grid = ff.datasets.load("meuse", table="grid")
print(samples.attrs["description"])
print(f"{len(samples)} samples, {len(grid)} grid cells; coordinates: {samples.attrs['crs']}")

samples["log_zinc"] = np.log(samples["zinc"])
for frame in (samples, grid):
    frame["sqrt_dist"] = np.sqrt(frame["dist"])

obs = ff.Observations.from_dataframe(samples, coords=["x", "y"], value="log_zinc",
                                     covariates=["sqrt_dist"])
cells = ff.Observations.from_dataframe(grid, coords=["x", "y"], value=None,
                                       covariates=["sqrt_dist"])

# %%
# The model and the fit
# ---------------------
# :class:`fieldfit.GaussianField` with a :class:`fieldfit.Matern` covariance and
# ``mean="covariates"`` is
#
# .. math::
#
#    \log \mathrm{zinc}(s) = \beta_0 + \beta_1 \sqrt{\mathrm{dist}(s)} + Z(s)
#    + \varepsilon(s),
#
# with :math:`Z` a Matérn field (variance, range, smoothness :math:`\nu`) and
# :math:`\varepsilon` a nugget. On these data the likelihood of :math:`\nu` is nearly flat
# and keeps creeping up towards :math:`\nu \to \infty`, so the unpenalised estimate runs to
# the edge of its search box. A weakly-informative prior
# :math:`\nu \sim \mathrm{Gamma}(2, 1)` (:class:`fieldfit.priors.Gamma`: mode 1, mean 2)
# turns the estimate into an interior one with a finite standard error:
# :func:`fieldfit.fit` with ``priors=`` maximises the penalised likelihood (the posterior mode
# under flat priors on the other parameters). The mean coefficients are profiled out by
# generalised least squares and reported with their standard errors.
model = ff.GaussianField(ff.Matern(), mean="covariates")
smoothness_prior = ff.priors.Gamma(2.0, 1.0)
result = ff.fit(model, obs, priors={"smoothness": smoothness_prior}, restarts=1)
print(result.summary())

# %%
# The reported log-likelihood is the penalised one, ℓ(θ̂) + log p(ν̂); the likelihood alone is
log_prior = float(smoothness_prior.log_prob(result.params["smoothness"]))
print(f"log-likelihood {result.loglik - log_prior:.3f} + log prior {log_prior:.3f} "
      f"= penalised {result.loglik:.3f}")

# %%
# Cross-validation
# ----------------
# :func:`fieldfit.cross_validate` predicts each of 10 folds from the other nine, at the
# fitted parameters, and scores the predictive distributions with
# :func:`fieldfit.diagnostics.score_all` (smaller is better; ``coverage`` is that of the
# 95 % intervals, and should be near 0.95).
scores, per_sample = ff.cross_validate(model, obs, result, folds=10, seed=0)
for name, value in scores.items():
    print(f"{name:>15}: {value:.4g}")

# %%
# Universal kriging on the grid
# -----------------------------
# :func:`fieldfit.krige` returns a table with the kriging mean and sd of a new observation at
# every grid cell; under universal kriging the sd includes the uncertainty of the estimated
# trend coefficients. The grid cells are 40 m squares, so the maps are drawn as rasters.
pred = ff.krige(model, obs, cells, result, kind="universal")
print(pred.head())

xs, ix = np.unique(pred["x"].to_numpy(), return_inverse=True)
ys, iy = np.unique(pred["y"].to_numpy(), return_inverse=True)


def as_raster(values):
    """The grid values as an image ``(len(ys), len(xs))``, NaN outside the flood plain."""
    image = np.full((len(ys), len(xs)), np.nan)
    image[iy, ix] = values
    return np.ma.masked_invalid(image)


fig, axes = plt.subplots(1, 2, figsize=(10, 5.6), sharey=True, constrained_layout=True)
panels = ((axes[0], "mean", "viridis", "kriging mean of log(zinc)"),
          (axes[1], "sd", "magma", "kriging sd of log(zinc)"))
for ax, column, cmap, title in panels:
    mesh = ax.pcolormesh(xs, ys, as_raster(pred[column].to_numpy()), cmap=cmap,
                         shading="nearest")
    ax.scatter(samples["x"], samples["y"], s=9, c="white", edgecolors="black",
               linewidths=0.5, label="samples")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.set_xlabel("x (m, RD New)")
    ax.locator_params(axis="x", nbins=4)
    fig.colorbar(mesh, ax=ax, shrink=0.85, label="log(mg/kg)")
axes[0].set_ylabel("y (m, RD New)")
axes[0].legend(loc="lower right", fontsize=8)
plt.show()

# %%
# The sd is smallest next to the samples and largest in the unsampled corners. Back on the
# concentration scale, the median of the predictive distribution is
# :math:`\exp(\text{mean})`; its map follows the river, where the flood water deposited the
# heavy metals.
fig, ax = plt.subplots(figsize=(5.6, 5.6), constrained_layout=True)
mesh = ax.pcolormesh(xs, ys, as_raster(np.exp(pred["mean"].to_numpy())), cmap="viridis",
                     norm=LogNorm(), shading="nearest")
ax.scatter(samples["x"], samples["y"], s=samples["zinc"] / 15, c="none",
           edgecolors="black", linewidths=0.5, label="samples (size: zinc)")
ax.set_aspect("equal")
ax.set_title("predictive median of zinc")
ax.set_xlabel("x (m, RD New)")
ax.set_ylabel("y (m, RD New)")
ax.locator_params(axis="x", nbins=4)
ax.legend(loc="lower right", fontsize=8)
fig.colorbar(mesh, ax=ax, shrink=0.85, label="zinc (mg/kg, log scale)")
plt.show()
