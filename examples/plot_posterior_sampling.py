"""
Meuse zinc: a Bayesian posterior by NUTS, with ArviZ diagnostics
================================================================

This example draws the joint posterior of a Matérn field's parameters and trend coefficients
for log(zinc) in the Meuse flood plain by NUTS, under penalised-complexity priors on the range
and the variances. It then checks the two chains with ArviZ, printing the summary table and
drawing trace and pair plots, and sets the posterior beside the maximum-likelihood estimate.
"""

# %%
# The data and the model
# ----------------------
# The 155 soil samples of :func:`fieldfit.datasets.load` (``"meuse"``), with log(zinc) as the
# response and the square root of the distance to the river as a covariate. The model is a
# :class:`fieldfit.GaussianField` with a :class:`fieldfit.Matern` covariance, a nugget and a
# mean linear in √dist:
#
# .. math::
#
#    \log \mathrm{zinc}(s) = \beta_0 + \beta_1 \sqrt{\mathrm{dist}(s)} + Z(s)
#    + \varepsilon(s), \qquad \varepsilon(s) \sim N(0, \tau^2).
#
# The smoothness :math:`\nu` is hardly identified by these data (see the kriging example), so
# it is held fixed at 1.5, where the Matérn correlation has a closed form and each likelihood
# evaluation is cheap. The sampler works on the other five parameters: variance, range,
# nugget :math:`\tau^2`, :math:`\beta_0` and :math:`\beta_1`.
import warnings

import matplotlib.pyplot as plt
import numpy as np

import fieldfit as ff

warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")  # its refactor note
import arviz as az  # noqa: E402

samples = ff.datasets.load("meuse")
samples["log_zinc"] = np.log(samples["zinc"])
samples["sqrt_dist"] = np.sqrt(samples["dist"])
obs = ff.Observations.from_dataframe(samples, coords=["x", "y"], value="log_zinc",
                                     covariates=["sqrt_dist"])
model = ff.GaussianField(ff.Matern(), mean="covariates")
print(f"{obs.n} samples; log(zinc) has sd {samples['log_zinc'].std():.2f}; the samples span "
      f"{obs.diameter():.0f} m")

# %%
# The priors
# ----------
# Penalised-complexity priors (Fuglstad et al. 2019) shrink towards the simplest field: a
# long range and a small variance. They are stated as tail probabilities in natural units:
#
# * :class:`fieldfit.priors.PCRange`: :math:`P(\rho < 100\,\mathrm{m}) = 0.05`, a range
#   below the smallest spacing of the samples being unlikely;
# * :class:`fieldfit.priors.PCVariance` on the field's variance and on the nugget:
#   :math:`P(\sigma > 2) = 0.05`, nearly three times the sd of log(zinc).
#
# The trend coefficients get the default weakly-informative normal priors of
# :func:`fieldfit.fit.mcmc.default_priors` (centred on the generalised-least-squares
# estimate, with a standard deviation 100 times its standard error).
priors = {
    "range": ff.priors.PCRange(100.0, 0.05, dim=2),
    "variance": ff.priors.PCVariance(2.0, 0.05),
    "nugget": ff.priors.PCVariance(2.0, 0.05),
}

# %%
# Sampling
# --------
# :func:`fieldfit.sample` runs Pyro's NUTS on the unconstrained parameters (log range, log
# variances, the coefficients), each chain started near the maximum-likelihood estimate. Two
# chains of 150 warm-up steps and 300 kept draws are enough for a first look at this
# five-parameter posterior (with fewer, :func:`fieldfit.sample` warns that the effective
# sample sizes are too small); a dense mass matrix (``full_mass=True``) adapts to the strong
# correlation of range and variance and keeps the trajectories short. ``cores=1`` runs the
# chains one after another in this process; with more cores they run in parallel worker
# processes, which a script must start under ``if __name__ == "__main__":``. The draws depend
# on ``seed`` only, not on ``cores``.
posterior = ff.sample(model, obs, priors=priors, fix={"smoothness": 1.5}, chains=2,
                      warmup=150, draws=300, cores=1, full_mass=True, seed=7, progress=False)
chains, draws = posterior.shape
print(f"{chains} chains × {draws} draws, {posterior.divergences} divergent transitions, "
      f"{posterior.seconds:.0f} s")

# %%
# ArviZ diagnostics
# -----------------
# :meth:`fieldfit.PosteriorSample.to_inference_data` gives an ArviZ ``InferenceData``: the
# draws in its ``posterior`` group and the sampler's statistics (divergences, log density,
# step size) in ``sample_stats``. :func:`arviz.summary` reports the posterior means, sds and
# 94 % highest-density intervals with the rank-normalised split :math:`\hat R` and the bulk
# and tail effective sample sizes (Vehtari et al. 2021): :math:`\hat R` near 1 and ESS in the
# hundreds say that the two chains agree and mix well.
idata = posterior.to_inference_data()
print(az.summary(idata, round_to=3).to_string())

# %%
# The trace plot shows each parameter's marginal posterior per chain (left) and the draws in
# order (right): overlapping densities and traces without trends or stuck stretches.
az.plot_trace(idata, compact=False, figsize=(10, 9.5))
plt.gcf().suptitle("NUTS draws of the Meuse posterior (2 chains)")
plt.tight_layout()
plt.show()

# %%
# The pair plot shows the joint posterior of the covariance parameters. The variance and the
# range rise together: for a Matérn field observed in a bounded region, the data pin down
# the ratio :math:`\sigma^2 / \rho^{2\nu}` much better than either (Zhang 2004), which is why
# both marginals are wide and skewed to the right. The nugget rises with the range too: a
# longer range makes the field smoother, leaving more of the small-scale variation to the
# nugget. Divergent transitions, if any, would be marked in red.
az.plot_pair(idata, var_names=["variance", "range", "nugget"], kind="scatter",
             marginals=True, divergences=True, scatter_kwargs={"alpha": 0.4},
             figsize=(7, 7))
plt.gcf().suptitle("joint posterior of the covariance parameters")
plt.show()

# %%
# Posterior and maximum likelihood
# --------------------------------
# The sampler's start, the maximum-likelihood fit of :func:`fieldfit.fit`, is kept in
# ``posterior.mle``. The trend coefficients agree closely. For the range and the variance,
# the posterior medians lie above the maximum-likelihood estimates and the 95 % credible
# intervals reach further to the right than the Wald intervals (symmetric on the log scale):
# the likelihood is skewed in these parameters, and the posterior shows it.
summary = posterior.summary()
mle = posterior.mle
print(f"{'parameter':<16}{'MLE':>10}{'95% Wald interval':>24}{'posterior median':>18}"
      f"{'95% credible interval':>26}")
for name, row in summary.items():
    low, high = mle.confidence_interval(name)
    wald = f"[{low:.4g}, {high:.4g}]"
    credible = f"[{row['q2.5']:.4g}, {row['q97.5']:.4g}]"
    print(f"{name:<16}{mle.params[name]:>10.4g}{wald:>24}{row['q50']:>18.4g}{credible:>26}")

# %%
# The priors against the posteriors of the range and the field's sd: the posteriors are far
# narrower than the priors, so the data, not the PC priors, decide the answer; the priors
# only rule out the implausible corners (a range of a few metres, an sd of several units).
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
draws = {"range": posterior.draws["range"].ravel(),
         "sd": np.sqrt(posterior.draws["variance"].ravel())}
grids = {"range": np.linspace(1.0, 3 * np.quantile(draws["range"], 0.99), 400),
         "sd": np.linspace(1e-3, 1.5, 400)}
for ax, name in zip(axes, ("range", "sd"), strict=True):
    x = grids[name]
    if name == "range":
        density = np.exp(priors["range"].log_prob(x).numpy())
    else:   # the density of σ = √variance: p(σ²) |dσ²/dσ| = p(σ²) 2σ
        density = np.exp(priors["variance"].log_prob(x**2).numpy()) * 2 * x
    ax.hist(draws[name], bins=30, density=True, color="C0", alpha=0.6, label="posterior")
    ax.plot(x, density, "k--", label="PC prior")
    ax.set_xlabel("range (m)" if name == "range" else "field sd σ (log mg/kg)")
    ax.set_ylabel("density")
    ax.set_title(f"{name}: prior and posterior")
    ax.legend()
plt.show()
