"""
Is a neural posterior calibrated? SBC, coverage and TARP
========================================================

This example checks the calibration of the shipped neural posterior estimator
``matern-irregular-posterior`` on fresh simulations from its own prior, model and design, with
simulation-based calibration, the expected coverage of its credible intervals, TARP and
L-C2ST. It prints the coverage table and the tests' verdicts and draws the rank histograms
with their uniform band, the coverage curves and the TARP curve.
"""

# %%
# The estimator and the diagnostics
# ---------------------------------
# ``matern-irregular-posterior`` (:func:`fieldfit.neural.load_estimator`) is a normalising
# flow: for any dataset of a Matérn field (smoothness 1, constant mean, nugget) at 50 to
# 1,000 irregular locations it returns draws from an approximate posterior of the range,
# variance, nugget and mean under its training prior. An amortized posterior is only worth
# using if it is calibrated: averaged over the prior, its :math:`\gamma` credible regions
# must hold the true parameters a fraction :math:`\gamma` of the time.
#
# :func:`fieldfit.diagnostics.calibration.calibrate` checks this on ``simulations`` fresh
# pairs :math:`(\theta_k, Z_k) \sim \pi(\theta)\, p(Z \mid \theta)`, simulated exactly as the
# training data were but never seen in training, with ``draws`` posterior draws for each. It
# runs what the estimator's kind allows (all four diagnostics for a posterior estimator),
# on the prior's unit scale, where each parameter's prior is uniform on (0, 1). It is what
# the command ``fieldfit diagnose --estimator matern-irregular-posterior --out DIR`` runs
# (with 500 simulations by default); here 150 simulations keep the example quick, at the
# price of tests that can only detect gross miscalibration.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import binom

from fieldfit.diagnostics.calibration import calibrate
from fieldfit.neural import load_estimator

estimator = load_estimator("matern-irregular-posterior")
print(estimator)
report = calibrate(estimator, simulations=150, seed=0, draws=100, lc2st_observations=2,
                   lc2st_trials=20, progress=False)
print(report.summary())
for warning in report.warnings:
    print("warning:", warning)

# %%
# Simulation-based calibration
# ----------------------------
# If the posterior is calibrated, the rank of the true :math:`\theta_k` among the
# :math:`L = 100` posterior draws for :math:`Z_k` is uniform on :math:`\{0, \dots, L\}`
# (Talts et al. 2018). A rank histogram piled up at both ends means a posterior too narrow,
# a hump in the middle one too wide, and a slope a biased one. The grey band holds 99 % of
# the counts of each bin under uniformity (binomial); the titles give the p-values of the
# Kolmogorov–Smirnov and chi-square tests of uniformity.
sbc = report.sbc
names = report.names
n = report.simulations
fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.1), sharey=True,
                         constrained_layout=True)
for ax, name in zip(axes, names, strict=True):
    hist = sbc["histograms"][name]
    edges = np.asarray(hist["edges"])
    share = np.diff(edges) / edges[-1]               # a bin's probability under uniformity
    low, high = binom.ppf(0.005, n, share), binom.ppf(0.995, n, share)
    ax.fill_between(edges, np.r_[low, low[-1]], np.r_[high, high[-1]], step="post",
                    color="0.85", label="99 % band")
    ax.bar(edges[:-1], hist["counts"], width=np.diff(edges), align="edge", color="C0",
           edgecolor="white", label="ranks")
    ax.plot(edges, np.r_[hist["expected"], hist["expected"][-1]], "k--", lw=1,
            drawstyle="steps-post", label="uniform")
    ax.set_title(f"{name}\nKS p = {sbc['ks_pvalues'][name]:.2f}, "
                 f"χ² p = {sbc['chi2_pvalues'][name]:.2f}", fontsize=10)
    ax.set_xlabel(f"rank among {report.draws} draws")
axes[0].set_ylabel(f"count (of {n} simulations)")
handles, labels = axes[0].get_legend_handles_labels()
fig.legend(handles, labels, loc="outside upper right", ncols=3, fontsize=8)
fig.suptitle("SBC rank histograms", x=0.3)
plt.show()

# %%
# Coverage of the credible intervals
# ----------------------------------
# The share of the true values inside the central :math:`\gamma` interval of the draws
# (between their :math:`(1-\gamma)/2` and :math:`(1+\gamma)/2` quantiles), at four levels,
# with the two-sided binomial test's p-value; the diagnostic's verdict fails where any
# p-value is below 0.01.
coverage = report.coverage
table = pd.DataFrame(
    {f"{row['level']:.0%}": {name: f"{row['coverage'][name]:.3f} "
                                   f"(p={row['binomial_pvalue'][name]:.2f})"
                             for name in names}
     for row in coverage["table"]})
print(f"Empirical coverage of central credible intervals, {n} simulations:")
print(table.to_string())

# %%
# In this run the intervals of the variance and the nugget cover as they should, while the
# 90 % and 95 % intervals of the range and of the mean cover a few per cent too little: the
# flow's tails for these two are somewhat too light, which is what fails the coverage
# verdict. The rank histograms above hint at the same (the range's ranks pile up a little at
# the ends) without failing their tests. With 150 simulations a coverage of 0.90 has a
# standard error of 0.025, so before acting on this, rerun with more simulations (the
# command's default is 500).

# %%
# The same for every level from 5 % to 95 % (left), and TARP (right; Lemos et al. 2023),
# which tests the joint posterior rather than each margin: the expected coverage of balls
# about random reference points against their credibility. Calibrated curves follow the
# diagonal; a curve below it means an overconfident posterior (too narrow), above it an
# underconfident one. The grey band is the 95 % binomial band of a calibrated posterior's
# coverage at each level.
curve = coverage["curve"]
tarp = report.tarp
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6), constrained_layout=True)
levels = np.asarray(curve["levels"])
left.fill_between(levels, curve["band_lower"], curve["band_upper"], color="0.85",
                  label="95 % band")
left.plot([0, 1], [0, 1], "k--", lw=1)
for name in names:
    left.plot(levels, curve["coverage"][name], "o-", ms=3, label=name)
left.set_xlabel("credibility level γ of the central interval")
left.set_ylabel("empirical coverage")
left.set_title("marginal coverage")
left.legend(fontsize=8)
right.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
right.plot(tarp["alpha"], tarp["ecp"], "C3-", lw=2, label="TARP")
right.set_xlabel("credibility level α")
right.set_ylabel("expected coverage probability")
right.set_title(f"TARP: ATC {tarp['atc']:+.3f}, p = {tarp['pvalue']:.2f}")
right.legend(fontsize=8)
for ax in (left, right):
    ax.set_aspect("equal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
plt.show()

# %%
# Every verdict, with L-C2ST (Linhart et al. 2023): a classifier trained to tell true
# parameters from posterior draws, given the data's summary, and read at held-out
# observations. Its p-value is near 1 when the classifier does no better than chance.
# The accuracy of the posterior medians is on the unit scale (a root mean square error of
# 0.1 is a tenth of the prior's width).
print("verdicts (True: no miscalibration found at level 0.01):", report.verdicts)
print(f"L-C2ST statistic {report.lc2st['statistic']:.4f}, p = {report.lc2st['pvalue']:.2f}")
accuracy = pd.DataFrame({"rmse": report.accuracy["rmse"], "bias": report.accuracy["bias"]})
print(accuracy.round(3).T.to_string())
