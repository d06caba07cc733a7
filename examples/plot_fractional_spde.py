"""
Any Matérn smoothness with the SPDE engine: a rational approximation, ν estimated by gradient
=============================================================================================

The SPDE engine represents the Matérn field of smoothness ν as the solution of
:math:`\\tau(\\kappa^2 - \\Delta)^{\\alpha/2} x = W` with :math:`\\alpha = \\nu + d/2`. For an
integer α the finite-element precision is a sparse matrix; for any other α fieldfit writes
the field as a sum of a few independent GMRFs whose covariance approximates the fractional
power (a rational approximation, Bolin & Kirchner 2020), so ν can be fixed at any value
(``--fix smoothness=0.5``: the exponential covariance in 2-D) or estimated by gradient like
every other parameter (``--rational-order 2``). This example checks the approximation's
covariance against the exact fractional power and the Matérn, then estimates ν on the
1991–2025 mean solar irradiance over Germany and compares held-out scores with ν fixed at 1
and with the exact Gaussian process.
"""

# %%
# The approximation's covariance
# ------------------------------
# On a fine 1-D mesh (h = 0.05, κ = 1) the covariance of the sum of the m + 1 fields
# (:class:`fieldfit.spde.fractional.FractionalMaternSPDE`, from its precision's blocks) is
# compared with the exact fractional power of the same discrete operator (an
# eigendecomposition), which isolates the approximation's error from the mesh's, and with the
# Matérn covariance.
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scipy.sparse.linalg as spl
import torch
from scipy.special import gamma, kv

import fieldfit as ff
from fieldfit.models.spde_field import SPDEField
from fieldfit.spde import Mesh
from fieldfit.spde.fractional import FractionalMaternSPDE

mesh1 = Mesh.interval(-25.0, 25.0, 1001)
N, c0 = mesh1.n_nodes, mesh1.n_nodes // 2
fem = FractionalMaternSPDE(mesh1, 0.7).fem
C = fem.lumped_mass()
lam, V = np.linalg.eigh(fem.stiffness().toarray() / np.sqrt(np.outer(C, C)))
W = V / np.sqrt(C)[:, None]
lags = mesh1.nodes[c0:c0 + 80, 0] - mesh1.nodes[c0, 0]


def covariance_column(nu, m):
    spde = FractionalMaternSPDE(mesh1, nu, order=m)
    p = {k: torch.tensor(v, dtype=torch.float64) for k, v in
         {"variance": 1.0, "range": 1.0, "smoothness": nu}.items()}
    Q = spde.precision(p).tocsc()
    e = np.zeros(N)
    e[c0] = 1.0
    return sum(spl.spsolve(Q[b * N:(b + 1) * N, b * N:(b + 1) * N].tocsc(), e)
               for b in range(m + 1))


fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
rows = []
for nu, colour in ((0.3, "tab:blue"), (1.3, "tab:red")):
    alpha = nu + 0.5
    exact = (W * (1.0 + lam) ** -alpha) @ W[c0] * gamma(alpha) * np.sqrt(4 * np.pi) / gamma(nu)
    r = np.abs(lags)
    matern = np.ones_like(r)
    matern[1:] = 2 ** (1 - nu) / gamma(nu) * r[1:] ** nu * kv(nu, r[1:])
    axes[0].plot(lags, matern, color=colour, lw=3, alpha=0.3, label=f"Matérn ν = {nu}")
    for m, style in ((1, ":"), (2, "--")):
        col = covariance_column(nu, m)[c0:c0 + 80]
        axes[0].plot(lags, col, color=colour, ls=style, label=f"rational, m = {m}")
        err = np.abs(covariance_column(nu, m) - (W * (1.0 + lam) ** -alpha) @ W[c0]
                     * gamma(alpha) * np.sqrt(4 * np.pi) / gamma(nu))[c0:c0 + 80]
        axes[1].semilogy(lags, np.maximum(err, 1e-12), color=colour, ls=style,
                         label=f"ν = {nu}, m = {m}")
        rows.append({"ν": nu, "m": m, "largest error": err.max()})
axes[0].set(xlabel="lag (ranges)", ylabel="correlation", title="covariance")
axes[0].legend(fontsize=7)
axes[1].set(xlabel="lag (ranges)", ylabel="|rational − exact fractional power|",
            title="the approximation's own error")
axes[1].legend(fontsize=7)
plt.show()
print(pd.DataFrame(rows).to_string(index=False, float_format="{:.1e}".format))

# %%
# With m = 2 (three fields) the error is below 10⁻³ of the variance for ν ≥ 0.7 and about
# 7·10⁻³ at ν = 0.3 in 1-D, far below the mesh's own error here; the coefficients minimise the
# spectral density's L1 error, which bounds the covariance error at every lag
# (:mod:`fieldfit.spde.rational`).
#
# Estimating ν on real data
# -------------------------
# ``germany-solar`` (:func:`fieldfit.datasets.load`): the 1991–2025 mean irradiance on
# 3,136 cells over Germany and the northern Alps, a random 800 of them as data and the rest
# held out, a mean linear in the coordinates. Three fits: the SPDE engine with ν fixed at 1
# (α = 2, the integer model), the SPDE engine with ν estimated (``rational_order=2``: ν in
# (0, 1), the band of the start), and the exact Gaussian process with ν estimated.
monthly = ff.datasets.load("germany-solar")
cells = monthly.groupby("cell", as_index=False).agg(
    x_km=("x_km", "first"), y_km=("y_km", "first"), ghi=("ghi", "mean"))
rng = np.random.default_rng(0)
order = rng.permutation(len(cells))
train, test = cells.iloc[order[:800]], cells.iloc[order[800:]]
obs = ff.Observations.from_dataframe(train, coords=["x_km", "y_km"], value="ghi")
held_out = ff.Observations.from_dataframe(test, coords=["x_km", "y_km"], value=None)
mesh = Mesh.from_points(obs.coords, max_edge=(40.0, 150.0), offset=150.0, cutoff=10.0)

models = {
    "SPDE, ν = 1 (integer α)": SPDEField(mesh=mesh, mean="linear"),
    "SPDE, ν estimated (rational m = 2)": SPDEField(mesh=mesh, mean="linear",
                                                    estimate_smoothness=True),
    "exact GP, ν estimated": ff.GaussianField(ff.covariance.Matern(), mean="linear"),
}
rows = {}
for name, model in models.items():
    t0 = time.perf_counter()
    result = ff.fit(model, obs, restarts=0)
    seconds = time.perf_counter() - t0
    pred = ff.krige(model, obs, held_out, result)
    scores = ff.diagnostics.score_all(test["ghi"].to_numpy(), pred["mean"].to_numpy(),
                                      pred["sd"].to_numpy())
    nu = result.params["smoothness"]
    se = result.stderr.get("smoothness")
    rows[name] = {"ν": nu, "se(ν)": np.nan if se is None else se,
                  "range (km)": result.params["range"], "log-likelihood": result.loglik,
                  "RMSE": scores["rmse"], "CRPS": scores["crps"],
                  "coverage": scores["coverage"], "fit (s)": seconds}
with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 200,
                       "display.max_columns", 20):
    print(pd.DataFrame.from_dict(rows, orient="index"))

# %%
# The data prefer a much rougher field than ν = 1: the SPDE engine puts ν at about 0.27 and
# the exact Gaussian process at 0.34 (standard error 0.04), both with a long range, and the
# free ν raises the SPDE fit's log-likelihood by 18. The SPDE fit sets the nugget at its
# lower edge (so it reports no standard errors: the observed information is singular there)
# and its held-out RMSE is the best of the three, but its intervals are too wide (coverage
# 0.965, CRPS 1.75): ν and the nugget trade off on these smooth data, and the mesh (edge
# 40 km) cannot resolve what a field this rough does below its edge. On the command line the
# same fit is ``fieldfit fit DATA --coords x_km,y_km --value ghi --engine spde --mean linear
# --rational-order 2``, and ``--fix smoothness=0.5`` fixes any ν.
