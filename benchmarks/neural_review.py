#!/usr/bin/env python
"""The illustration of Zammit-Mangion, Sainsbury-Dale & Huser (2025), "Neural methods for
amortized inference" (Annu. Rev. Stat. Appl.), with fieldfit's neural estimators.

Model: a zero-mean Gaussian process with exponential covariance C(h) = exp(−h/θ) (variance 1,
no nugget) observed once on a 16 × 16 grid of the unit square, θ ~ U(0, 0.6) (fieldfit's
``range`` is θ). Methods, on the same test sets:

* exact posterior of θ by quadrature (what the review's MCMC column approximates): the exact
  Gaussian likelihood by Cholesky on a fine θ grid (dense near 0), factorised once per θ for
  all test sets; posterior mean (and median) and the central 90 % credible interval;
* exact MLE on (0, 0.6]: maximiser on the same grid refined by bounded Brent, with a
  likelihood-ratio interval {θ : 2(ℓ(θ̂) − ℓ(θ)) ≤ χ²₁(0.90)};
* neural Bayes estimators (NBE) with fieldfit's CNNSummary: absolute loss (posterior median),
  squared loss (posterior mean), and a QuantileEstimator at τ = 0.05, 0.5, 0.95 (90 % intervals);
* neural posterior estimator (NPE): PosteriorEstimator (zuko neural spline flow); posterior
  median, mean and 90 % interval from 1000 draws;
* neural likelihood surface (NRE): RatioEstimator, a classifier of dependent vs shuffled
  (θ, Z) pairs whose Platt-calibrated logit is log r(θ, Z) = log p(Z | θ) − log p(Z); its
  maximiser on a fine θ grid and the likelihood-ratio interval
  {θ : 2(max log r − log r(θ)) ≤ χ²₁(0.90)} from the surface, beside the exact MLE, and the
  surface against the exact log-likelihood within the exact 99 % likelihood-ratio region.

Reported on the test set: RMSPE, MAE, bias (× 10²), 90 % coverage, mean interval width, interval
score, seconds per dataset; beside the review's table (RMSPE × 10²: MCMC 1.50, NBE 1.56,
NPE 1.50; coverage 89.6, 87.7, 90.6 %).

Assumptions (the review's text was not available here; see the report): the review's public
code (R/Julia scripts "Estimation of length scale in Gaussian Process covariance function",
A. Zammit-Mangion 2024) puts the grid at ``seq(0, 1, length.out = 16)`` in each axis (spacing
1/15, points on the boundary): ``--grid review`` (default). ``--grid centres`` uses fieldfit's
``GridDesign(16, 16)`` (cell centres, spacing 1/16). The review used 160 000 training sets;
the default here is 20 000.

    .venv/bin/python benchmarks/neural_review.py                       # default run
    .venv/bin/python benchmarks/neural_review.py --train 500 --val 100 --test 50 --minutes 0.2
    .venv/bin/python benchmarks/neural_review.py --methods nre         # exact + NRE only

``--methods`` picks the networks (the exact posterior and MLE are always computed); every
network's initial weights are seeded from ``--seed`` and its name, and the simulations depend
on ``--seed`` and the set sizes only, so a subset reproduces the networks of the full run.
Outputs of a subset go to ``neural_review_<methods>.*`` (e.g. ``neural_review_nre.md``).
"""

from __future__ import annotations

import fieldfit  # first: BLAS set-up (see fieldfit._blas)

# isort: split
import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from _common import busy_share, busy_warning, machine_info, md_table
from scipy import linalg, optimize, stats
from threadpoolctl import threadpool_limits

from fieldfit.io import write_atomic
from fieldfit.neural import (
    Bound,
    CNNSummary,
    GridDesign,
    ModelSpec,
    NeuralEstimator,
    PointEstimator,
    PosteriorEstimator,
    Prior,
    QuantileEstimator,
    RatioEstimator,
    SimulationSpec,
    TrainingSettings,
    train,
)
from fieldfit.neural.training import as_batch

HERE = Path(__file__).resolve().parent
UPPER = 0.6          # θ ~ U(0, UPPER)
LEVEL = 0.90
CHI2_90 = float(stats.chi2.ppf(LEVEL, 1))
PUBLISHED = {        # the review's table: RMSPE × 10², 90 % coverage (%)
    "MCMC": (1.50, 89.6), "NBE": (1.56, 87.7), "NPE": (1.50, 90.6)}
BINS = np.linspace(0.0, UPPER, 7)
METHODS = {"nbe": "NBE", "npe": "NPE", "nre": "NRE"}
NET_SEEDS = {"nbe_abs": 1, "nbe_sq": 2, "nbe_q": 3, "npe": 4, "nre": 5}  # + --seed
CHI2_99 = float(stats.chi2.ppf(0.99, 1))


# --- set-up ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndpointGrid:
    """The review's grid: ``seq(0, 1, length.out = n)`` in each axis (points on the boundary,
    spacing 1/(n − 1)), row-major (y then x) like :class:`GridDesign`."""

    ny: int = 16
    nx: int = 16
    gridded = True

    def sample(self, rng=None) -> np.ndarray:
        yy, xx = np.meshgrid(np.linspace(0, 1, self.ny), np.linspace(0, 1, self.nx),
                             indexing="ij")
        return np.column_stack([xx.ravel(), yy.ravel()])

    def to_dict(self):
        return {"kind": "grid-endpoints", "ny": self.ny, "nx": self.nx}


def make_spec(grid: str) -> SimulationSpec:
    design = EndpointGrid(16, 16) if grid == "review" else GridDesign(16, 16)
    return SimulationSpec(ModelSpec("exponential", {"nugget": False}),
                          Prior({"range": Bound(0.0, UPPER)},
                                fixed={"variance": 1.0, "mean": 0.0}),
                          design, 1)


def as_arrays(samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """coords (n, 2) shared by all, values (N, n), θ (N,)."""
    coords = samples[0].coords
    if any(not np.array_equal(s.coords, coords) for s in samples):
        raise ValueError("the test sets do not share their locations")
    return (coords, np.stack([s.values[0] for s in samples]),
            np.array([s.theta[0] for s in samples]))


# --- exact likelihood, posterior by quadrature, MLE ------------------------------------------
def theta_grid(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints θ_i and cell edges of k cells uniform in u = sqrt(θ / UPPER): cells of
    width ∝ sqrt(θ), fine near 0 where the posterior is narrowest."""
    edges = UPPER * (np.arange(k + 1) / k) ** 2
    return UPPER * ((np.arange(k) + 0.5) / k) ** 2, edges


def log_lik(dist: np.ndarray, theta: float, z: np.ndarray) -> np.ndarray:
    """Exact log-likelihood of each column of ``z (n, N)`` at θ (one Cholesky for all)."""
    n = dist.shape[0]
    chol = linalg.cholesky(np.exp(-dist / theta), lower=True, check_finite=False)
    a = linalg.solve_triangular(chol, z, lower=True, check_finite=False)
    logdet = 2.0 * np.log(np.diag(chol)).sum()
    return -0.5 * ((a * a).sum(0) + logdet + n * math.log(2 * math.pi))


def log_lik_table(dist, values, k) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(θ midpoints (k,), edges (k + 1,), log-likelihood (k, N))."""
    mids, edges = theta_grid(k)
    z = np.ascontiguousarray(values.T)
    return mids, edges, np.stack([log_lik(dist, t, z) for t in mids])


def posterior_summaries(mids, edges, ll, probs) -> dict[str, np.ndarray]:
    """Exact posterior under the uniform prior: mass of cell i ∝ L(θ_i) (e_{i+1} − e_i)
    (midpoint rule), density constant within a cell for the quantiles."""
    w = np.exp(ll - ll.max(0)) * np.diff(edges)[:, None]
    w /= w.sum(0)
    cdf = np.vstack([np.zeros(w.shape[1]), np.cumsum(w, 0)])
    out = {"mean": mids @ w}
    for p in probs:
        out[f"q{p:g}"] = np.array([np.interp(p, cdf[:, j], edges) for j in range(w.shape[1])])
    return out


def mle_and_lr_interval(dist, values, mids, ll) -> dict[str, np.ndarray]:
    """MLE on (0, UPPER]: grid maximiser refined by bounded Brent on the neighbouring cells;
    likelihood-ratio interval {θ : 2(ℓ̂ − ℓ(θ)) ≤ χ²₁(0.9)} from the grid (linear
    interpolation of ℓ at the crossings), clipped to [0, UPPER]."""
    k, n_sets = ll.shape
    est, lo, hi = np.empty(n_sets), np.empty(n_sets), np.empty(n_sets)
    for j in range(n_sets):
        i = int(np.argmax(ll[:, j]))
        a = mids[i - 1] if i > 0 else 0.5 * mids[0]
        b = mids[i + 1] if i < k - 1 else UPPER
        z = values[j][:, None]
        res = optimize.minimize_scalar(lambda t, z=z: -log_lik(dist, t, z)[0], bounds=(a, b),
                                       method="bounded", options={"xatol": 1e-7})
        if -res.fun >= ll[i, j]:
            est[j], top = res.x, -res.fun
        else:
            est[j], top = mids[i], ll[i, j]
        if i == k - 1:                       # increasing to the boundary: check θ = UPPER
            at_upper = log_lik(dist, UPPER, z)[0]
            if at_upper > top:
                est[j], top = UPPER, at_upper
        cut = top - 0.5 * CHI2_90
        inside = np.flatnonzero(ll[:, j] >= cut)
        first, last = inside[0], inside[-1]
        lo[j] = 0.0 if first == 0 else np.interp(cut, [ll[first - 1, j], ll[first, j]],
                                                 [mids[first - 1], mids[first]])
        hi[j] = UPPER if last == k - 1 else np.interp(cut, [ll[last + 1, j], ll[last, j]],
                                                      [mids[last + 1], mids[last]])
    return {"estimate": est, "lower": np.minimum(lo, est), "upper": np.maximum(hi, est)}


def check_against_fieldfit(coords, values, dist) -> float:
    """Largest relative difference of the numpy log-likelihood from fieldfit's."""
    model = fieldfit.GaussianField(fieldfit.Exponential(), mean="zero", nugget=False)
    obs = fieldfit.Observations(coords, values[0])
    worst = 0.0
    for t in (0.01, 0.1, 0.3, 0.59):
        ref = float(model.log_likelihood(obs, {"variance": 1.0, "range": t}))
        mine = float(log_lik(dist, t, values[0][:, None])[0])
        worst = max(worst, abs(mine - ref) / abs(ref))
    return worst


# --- metrics -----------------------------------------------------------------------------------
def metrics(truth, est, lower, upper, sec_batch, sec_alone) -> dict:
    e = est - truth
    n = len(truth)
    rmspe = float(np.sqrt(np.mean(e * e)))
    se_rmspe = float(np.std(e * e, ddof=1) / math.sqrt(n) / (2 * rmspe))
    out = {"rmspe": rmspe, "rmspe_se": se_rmspe, "mae": float(np.mean(np.abs(e))),
           "root_median_spe": float(np.sqrt(np.median(e * e))),
           "root_median_spe_se": float(np.std(np.sqrt(np.median(
               (e * e)[np.random.default_rng(0).integers(0, n, (200, n))], 1)), ddof=1)),
           "bias": float(np.mean(e)), "bias_se": float(np.std(e, ddof=1) / math.sqrt(n)),
           "seconds_per_dataset": sec_batch, "seconds_per_dataset_alone": sec_alone,
           "rmspe_by_theta_bin": {}}
    idx = np.clip(np.digitize(truth, BINS) - 1, 0, len(BINS) - 2)
    for b in range(len(BINS) - 1):
        m = idx == b
        out["rmspe_by_theta_bin"][f"[{BINS[b]:.1f}, {BINS[b + 1]:.1f})"] = (
            float(np.sqrt(np.mean(e[m] ** 2))) if m.any() else None)
    if lower is not None:
        cover = (truth > lower) & (truth < upper)      # as the review's cov90
        alpha = 1 - LEVEL
        score = ((upper - lower) + 2 / alpha * (lower - truth) * (truth < lower)
                 + 2 / alpha * (truth - upper) * (truth > upper))
        out.update(coverage=float(cover.mean()),
                   coverage_se=float(math.sqrt(cover.mean() * (1 - cover.mean()) / n)),
                   width=float(np.mean(upper - lower)), interval_score=float(np.mean(score)),
                   interval_score_median=float(np.median(score)))
    return out


# --- networks ----------------------------------------------------------------------------------
def train_network(name, net, spec, train_set, val_set, args, log) -> dict:
    st = TrainingSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          patience=args.patience, max_seconds=60 * args.minutes,
                          threads=args.threads, seed=args.seed)
    n_weights = sum(p.numel() for p in net.parameters())
    hist = train(net, spec, train_set, val_set, st, progress=args.progress)
    log(f"  {name}: {len(hist.val)} epochs, best {hist.best_epoch + 1} "
        f"(val {min(hist.val):.4f}), {hist.seconds:.0f} s, {hist.stopped}")
    return {"weights": n_weights, "epochs": len(hist.val), "best_epoch": hist.best_epoch + 1,
            "best_val_loss": float(min(hist.val)), "seconds": hist.seconds,
            "stopped": hist.stopped, "val_loss": hist.val, "train_loss": hist.train}


def evaluate(net, spec, items, batch_size) -> tuple[dict, float]:
    """Unit-scale outputs mapped to θ, and seconds per dataset (batched, after a warm-up)."""
    est = NeuralEstimator(net, spec)
    est.estimate_unit(items[:batch_size], batch_size)
    t0 = time.perf_counter()
    out = est.estimate_unit(items, batch_size)
    sec = (time.perf_counter() - t0) / len(items)
    return {k: spec.prior.from_unit(v)[:, 0] for k, v in out.items()}, sec


def npe_mean(net, spec, items, batch_size, n_draws) -> np.ndarray:
    means = []
    for s in range(0, len(items), batch_size):
        u = net.sample_unit(net.collate(items[s:s + batch_size]), n_draws, seed=0)
        means.append(spec.prior.from_unit(u.mean(1))[:, 0])
    return np.concatenate(means)


# --- neural likelihood surface (NRE) ----------------------------------------------------------
def surface_grid(m: int) -> np.ndarray:
    """The unit-scale grid of the surfaces: u_i = (i + 0.5)/m (θ = UPPER u)."""
    return (np.arange(m) + 0.5) / m


def surface_max_and_interval(theta: np.ndarray, surf: np.ndarray) -> dict[str, np.ndarray]:
    """Maximiser and likelihood-ratio interval of each surface ``surf (N, M)`` on the uniform
    grid ``theta (M,)``: the grid maximum refined by the parabola through it and its two
    neighbours; {θ : 2(max − surf(θ)) ≤ χ²₁(0.9)} from the grid (linear interpolation at the
    crossings; the hull when the set is not an interval), ends at the first / last grid point
    taken as 0 / UPPER as for the MLE. ``split``: the set is not an interval on the grid."""
    n, m = surf.shape
    h = theta[1] - theta[0]
    est, lo, hi = np.empty(n), np.empty(n), np.empty(n)
    split = np.zeros(n, bool)
    for j in range(n):
        y = surf[j]
        i = int(np.argmax(y))
        est[j], top = theta[i], y[i]
        if 0 < i < m - 1:
            curv = y[i - 1] - 2 * y[i] + y[i + 1]
            if curv < 0:
                d = float(np.clip(0.5 * (y[i - 1] - y[i + 1]) / curv, -0.5, 0.5))
                est[j], top = theta[i] + d * h, y[i] - 0.25 * (y[i - 1] - y[i + 1]) * d
        cut = top - 0.5 * CHI2_90
        inside = np.flatnonzero(y >= cut)
        first, last = inside[0], inside[-1]
        split[j] = last - first + 1 != len(inside)
        lo[j] = 0.0 if first == 0 else np.interp(cut, [y[first - 1], y[first]],
                                                 [theta[first - 1], theta[first]])
        hi[j] = UPPER if last == m - 1 else np.interp(cut, [y[last + 1], y[last]],
                                                      [theta[last + 1], theta[last]])
    return {"estimate": est, "lower": np.minimum(lo, est), "upper": np.maximum(hi, est),
            "split": split}


def nre_surfaces(net, items, u_grid, batch_size) -> np.ndarray:
    """Calibrated log r ``(N, M)`` of every dataset at the unit-scale grid ``u_grid (M,)``."""
    return np.concatenate([net.log_ratio(net.collate(items[s:s + batch_size]), u_grid[:, None])
                           for s in range(0, len(items), batch_size)])


@torch.no_grad()
def pair_bce(net, spec, samples, platt: tuple[float, float] | None) -> float:
    """The ratio estimator's loss (BCE of dependent pairs + BCE of pairs with θ rolled by one;
    chance 2 log 2) over ``samples`` at once, on the raw or the Platt-calibrated logit."""
    inputs, u = as_batch(net, samples, spec)
    t = net.summary(inputs)
    pos = net.logit_pair(t, u).double()
    neg = net.logit_pair(t, u[torch.roll(torch.arange(len(u)), 1)]).double()
    if platt is not None:
        pos, neg = platt[0] * pos + platt[1], platt[0] * neg + platt[1]
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    return float(bce(pos, torch.ones_like(pos)) + bce(neg, torch.zeros_like(neg)))


def surface_agreement(truth, neural: np.ndarray, exact: np.ndarray) -> dict:
    """Neural log r(θ) − max log r against the exact ℓ(θ) − max ℓ (maxima over the grid) at
    the grid points inside the exact 99 % likelihood-ratio region {2(max ℓ − ℓ) ≤ χ²₁(0.99)},
    per test set: RMS difference, RMS after removing the mean difference (shape only),
    correlation and the least-squares slope of log r on ℓ (< 1: the neural surface is flatter,
    its intervals wider); summarised over the test sets."""
    n = len(neural)
    rms, rms_c, corr, slope, npts = (np.full(n, np.nan) for _ in range(5))
    for j in range(n):
        e = exact[j] - exact[j].max()
        r = neural[j] - neural[j].max()
        m = e >= -0.5 * CHI2_99
        d = r[m] - e[m]
        npts[j] = m.sum()
        rms[j], rms_c[j] = np.sqrt(np.mean(d * d)), np.std(d)
        if m.sum() >= 3:
            corr[j] = np.corrcoef(r[m], e[m])[0, 1]
            slope[j] = np.polyfit(e[m], r[m], 1)[0]
    ok = np.isfinite(corr)
    out = {"region": "exact 99 % LR region on the surface grid",
           "grid_points_in_region_median": float(np.median(npts)),
           "sets_with_fewer_than_3_points": int((~ok).sum()),
           "rms_mean": float(np.mean(rms)), "rms_median": float(np.median(rms)),
           "rms_q90": float(np.quantile(rms, 0.9)),
           "rms_centred_median": float(np.median(rms_c)),
           "corr_median": float(np.median(corr[ok])) if ok.any() else None,
           "corr_q10": float(np.quantile(corr[ok], 0.1)) if ok.any() else None,
           "slope_median": float(np.median(slope[ok])) if ok.any() else None,
           "slope_q10_q90": ([float(np.quantile(slope[ok], q)) for q in (0.1, 0.9)]
                             if ok.any() else None),
           "rms_median_by_theta_bin": {}}
    idx = np.clip(np.digitize(truth, BINS) - 1, 0, len(BINS) - 2)
    for b in range(len(BINS) - 1):
        sel = idx == b
        out["rms_median_by_theta_bin"][f"[{BINS[b]:.1f}, {BINS[b + 1]:.1f})"] = (
            float(np.median(rms[sel])) if sel.any() else None)
    return out


def nre_section(nre: dict) -> list[str]:
    ag, cal = nre["surface_agreement"], nre["calibration"]
    chk = nre["grid_check"]

    def fmt(v, f):
        return "—" if v is None else format(v, f)

    rows = [
        ["Platt calibration a · logit + b (validation pairs)",
         f"a = {cal['a']:.3f}, b = {cal['b']:+.3f}"],
        ["BCE, validation pairs: raw / calibrated (chance 2 log 2 = "
         f"{2 * math.log(2):.4f})", f"{cal['val_bce_raw']:.4f} / {cal['val_bce_calibrated']:.4f}"],
        ["BCE, test pairs (not used for calibration): raw / calibrated",
         f"{cal['test_bce_raw']:.4f} / {cal['test_bce_calibrated']:.4f}"],
        ["grid points in the exact 99 % LR region (median over test sets)",
         f"{ag['grid_points_in_region_median']:.0f} (sets with < 3: "
         f"{ag['sets_with_fewer_than_3_points']})"],
        ["RMS of (log r − max log r) − (ℓ − max ℓ) in that region: mean / median / 90 % "
         "quantile over test sets",
         f"{ag['rms_mean']:.3f} / {ag['rms_median']:.3f} / {ag['rms_q90']:.3f}"],
        ["the same after removing each set's mean difference (shape only), median",
         f"{ag['rms_centred_median']:.3f}"],
        ["correlation of log r and ℓ in that region: median / 10 % quantile",
         f"{fmt(ag['corr_median'], '.4f')} / {fmt(ag['corr_q10'], '.4f')}"],
        ["slope of log r on ℓ in that region: median (10 %, 90 % quantiles)",
         f"{fmt(ag['slope_median'], '.3f')} ("
         + (", ".join(f"{v:.3f}" for v in ag["slope_q10_q90"]) if ag["slope_q10_q90"]
            else "—") + ")"],
        ["median RMS by true θ",
         ", ".join(f"{b}: {'—' if v is None else format(v, '.3f')}"
                   for b, v in ag["rms_median_by_theta_bin"].items())],
        ["90 % LR set not an interval on the grid (hull used)",
         f"{nre['split_sets']} of {nre['n_test']} test sets"],
        ["interval width, NRE / exact MLE (median ratio over test sets)",
         f"{nre['width_ratio_median']:.3f}"],
        ["s/dataset: summaries + log r on the grid + maximiser and interval (batch)",
         fmt_time(nre["seconds_per_dataset"])],
    ]
    return [
        "## Neural likelihood surface (NRE) against the exact likelihood", "",
        "fieldfit's `RatioEstimator` (the `CNNSummary` above and an MLP head 128–128 on "
        "(T(Z), logit u)), trained with the binary cross-entropy of dependent (θ, Z) pairs "
        "against pairs with θ shuffled (rolled by one within each batch), then Platt-calibrated "
        "(`calibrate`) on the validation pairs. Its calibrated logit estimates log r(θ, Z) = "
        "log p(Z | θ) − log p(Z), so for fixed Z differences of log r in θ are differences of "
        "the log-likelihood ℓ if the classifier is exact. The surface is evaluated at "
        f"{nre['grid_points']} values u = (i + 0.5)/{nre['grid_points']} (θ = 0.6 u, spacing "
        f"{UPPER / nre['grid_points']:.4f}) with `log_ratio`; point estimate: the grid "
        "maximiser refined by a parabola through its neighbours; 90 % interval: "
        "{θ : 2(max log r − log r(θ)) ≤ χ²₁(0.9)} with linear interpolation at the crossings "
        "(as for the exact MLE row, whose interval uses the exact ℓ).", "",
        md_table(["", ""], rows), "",
        "Check of the grid procedure: applied to the exact ℓ on the same grid, the maximiser "
        f"differs from the Brent MLE by at most {chk['estimate_max_abs']:.1e} and the interval "
        f"ends from the MLE row's by at most {chk['lower_max_abs']:.1e} / "
        f"{chk['upper_max_abs']:.1e} (the grid stops half a spacing short of 0 and 0.6: an "
        "MLE on the boundary differs by that much).", "",
    ]


# --- report ------------------------------------------------------------------------------------
ROWS = [  # key, label, point estimate, interval, published key
    ("exact_mean", "exact posterior (quadrature; MCMC's target)", "posterior mean",
     "central 90 % credible", "MCMC"),
    ("exact_median", "exact posterior (quadrature)", "posterior median",
     "central 90 % credible", None),
    ("mle", "exact MLE on (0, 0.6]", "MLE", "likelihood ratio, χ²₁", None),
    ("nre", "NRE (neural likelihood surface)", "maximiser of the calibrated surface",
     "likelihood ratio of the surface, χ²₁", None),
    ("nbe_abs", "NBE, absolute loss", "≈ posterior median", "quantile NBE (0.05, 0.95)", "NBE"),
    ("nbe_sq", "NBE, squared loss", "≈ posterior mean", "quantile NBE (0.05, 0.95)", None),
    ("nbe_q", "quantile NBE", "τ = 0.5 output", "its τ = 0.05, 0.95", None),
    ("npe_median", "NPE (neural spline flow)", "median of 1000 draws",
     "5 %, 95 % of the draws", "NPE"),
    ("npe_mean", "NPE (neural spline flow)", "mean of 1000 draws", "5 %, 95 % of the draws",
     None),
]


def fmt_time(s) -> str:
    if s is None:
        return "—"
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def results_table(res: dict) -> str:
    rows = []
    for key, label, point, interval, pub in ROWS:
        if key not in res:
            continue
        m = res[key]
        cov = (f"{100 * m['coverage']:.1f} ± {100 * m['coverage_se']:.1f}"
               if "coverage" in m else "—")
        width = f"{100 * m['width']:.2f}" if "width" in m else "—"
        score = f"{100 * m['interval_score']:.2f}" if "interval_score" in m else "—"
        p_rmspe, p_cov = (f"{PUBLISHED[pub][0]:.2f}", f"{PUBLISHED[pub][1]:.1f}") if pub else (
            "", "")
        rows.append([label, point, interval,
                     f"{100 * m['rmspe']:.2f} ± {100 * m['rmspe_se']:.2f}",
                     f"{100 * m['root_median_spe']:.2f} ± {100 * m['root_median_spe_se']:.2f}",
                     f"{100 * m['mae']:.2f}",
                     f"{100 * m['bias']:+.2f}", cov, width, score,
                     fmt_time(m["seconds_per_dataset"]),
                     fmt_time(m["seconds_per_dataset_alone"]),
                     f"{pub}: {p_rmspe}" if pub else "", p_cov])
    return md_table(["method", "point estimate", "90 % interval", "RMSPE×10²",
                     "√median SPE×10²", "MAE×10²",
                     "bias×10²", "coverage %", "width×10²", "IS90×10²", "s/dataset (batch)",
                     "s/dataset (alone)", "review RMSPE×10²", "review cov. %"], rows)


TARGETS = {"estimate": {"exact_mean": "mean", "nbe_sq": "mean", "npe_mean": "mean"},
           "lower": "q0.05", "upper": "q0.95"}


def comparison(truth, values: dict) -> dict:
    """Each method against the exact posterior: RMS distance of its point estimate (and
    interval ends) from the exact quantity it approximates, and its excess MSE over the
    exact posterior mean (the Bayes estimator under squared error), paired over test sets."""
    ex_mean, ex_med = values["exact_mean"], values["exact_median"]
    base = (ex_mean["estimate"] - truth) ** 2
    out = {}
    for key, v in values.items():
        if key.startswith("exact"):
            continue
        if key == "nre":        # a likelihood surface: its target is the exact MLE
            tgt, target = values["mle"], "exact MLE (interval: its LR interval)"
        else:
            tgt = ex_mean if key in ("nbe_sq", "npe_mean") else ex_med
            target = "posterior mean" if tgt is ex_mean else "posterior median"
        d = (v["estimate"] - truth) ** 2 - base
        row = {"target": target + (" (not its target)" if key == "mle" else ""),
               "rms_to_target": float(np.sqrt(np.mean((v["estimate"] - tgt["estimate"]) ** 2))),
               "excess_mse_pct": float(100 * d.mean() / base.mean()),
               "excess_mse_pct_se": float(100 * d.std(ddof=1) / math.sqrt(len(d)) / base.mean())}
        if key != "mle" and v.get("lower") is not None:
            ends = tgt if key == "nre" else ex_med
            row["rms_to_q05"] = float(np.sqrt(np.mean((v["lower"] - ends["lower"]) ** 2)))
            row["rms_to_q95"] = float(np.sqrt(np.mean((v["upper"] - ends["upper"]) ** 2)))
        out[key] = row
    return out


def comparison_table(cmp: dict) -> str:
    rows = []
    for key, label, point, *_ in ROWS:
        if key not in cmp:
            continue
        c = cmp[key]
        q = (f"{100 * c['rms_to_q05']:.2f} / {100 * c['rms_to_q95']:.2f}"
             if "rms_to_q05" in c else "— (MLE, LR interval)")
        rows.append([label, point, c["target"], f"{100 * c['rms_to_target']:.2f}", q,
                     f"{c['excess_mse_pct']:+.1f} ± {c['excess_mse_pct_se']:.1f}"])
    return md_table(["method", "point estimate", "exact target", "RMS distance ×10²",
                     "interval ends: RMS distance to exact 5 % / 95 % (NRE: to the exact "
                     "LR interval's ends) ×10²",
                     "excess MSE over exact posterior mean, % (paired)"], rows)


def training_table(tr: dict) -> str:
    rows = [[k, f"{v['weights']:,}", v["epochs"], v["best_epoch"], f"{v['best_val_loss']:.4f}",
             f"{v['seconds'] / 60:.1f}", v["stopped"]] for k, v in tr.items()]
    return md_table(["network", "weights", "epochs", "best epoch", "best val. loss", "minutes",
                     "stopped by"], rows)


def bin_table(res: dict) -> str:
    labels = list(res["exact_mean"]["rmspe_by_theta_bin"])
    rows = [[k] + [("—" if res[k]["rmspe_by_theta_bin"][b] is None
                    else f"{100 * res[k]['rmspe_by_theta_bin'][b]:.2f}") for b in labels]
            for k, *_ in ROWS if k in res]
    return md_table(["method"] + [f"θ ∈ {b}" for b in labels], rows)


def figure(path: Path, truth, res_values: dict, title: str, surfaces: dict | None = None
           ) -> None:
    """Estimates vs truth per method; with ``surfaces`` (NRE) a last row of neural vs exact
    log-likelihood curves of a few test sets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [r for r in ROWS if r[0] in res_values]
    ncol = 4
    nrow = math.ceil(len(keys) / ncol)
    extra = surfaces is not None
    fig, axes = plt.subplots(nrow + extra, ncol, figsize=(3.2 * ncol, 3.3 * (nrow + extra)),
                             squeeze=False)
    if extra:
        surface_panels(axes[-1], truth, surfaces)
        axes = axes[:-1]
    order = np.argsort(truth)
    show = order[:: max(1, len(order) // 150)]
    for ax, (key, label, point, *_rest) in zip(axes.ravel(), keys, strict=False):
        v = res_values[key]
        if v.get("lower") is not None:
            ax.vlines(truth[show], v["lower"][show], v["upper"][show], color="0.75", lw=0.6,
                      zorder=1)
        ax.scatter(truth, v["estimate"], s=3, alpha=0.6, zorder=2)
        ax.plot([0, UPPER], [0, UPPER], "k-", lw=0.7, zorder=3)
        ax.set(xlim=(0, UPPER), ylim=(0, UPPER), aspect="equal", xlabel="θ (truth)",
               ylabel="θ̂")
        ax.set_title(f"{label}\n{point}", fontsize=8)
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def surface_panels(axes, truth, surfaces: dict) -> None:
    """Neural log r − max vs exact ℓ − max for test sets at spread-out quantiles of θ."""
    theta, neural, exact = surfaces["theta"], surfaces["neural"], surfaces["exact"]
    order = np.argsort(truth)
    picks = order[((np.arange(len(axes)) + 0.5) / len(axes) * len(order)).astype(int)]
    floor = -8.0
    for ax, j in zip(axes, picks, strict=True):
        e, r = exact[j] - exact[j].max(), neural[j] - neural[j].max()
        show = np.flatnonzero((e >= floor) | (r >= floor))
        a, b = theta[max(show[0] - 3, 0)], theta[min(show[-1] + 3, len(theta) - 1)]
        ax.plot(theta, e, "k-", lw=1.0, label="exact ℓ − max")
        ax.plot(theta, r, "C1-", lw=1.0, label="neural log r − max")
        ax.axhline(-0.5 * CHI2_90, color="0.6", lw=0.6, ls=":")
        ax.axvline(truth[j], color="C0", lw=0.8, ls="--", label="true θ")
        ax.set(xlim=(a, b), ylim=(floor, 0.5), xlabel="θ", ylabel="log-likelihood − max")
        ax.set_title(f"test set {j}, θ = {truth[j]:.3f}", fontsize=8)
    axes[0].legend(fontsize=6, loc="lower left")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="The review's GP length-scale illustration with fieldfit.neural",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--train", type=int, default=20000, help="training sets (fixed, in memory)")
    ap.add_argument("--val", type=int, default=1000, help="validation sets")
    ap.add_argument("--test", type=int, default=1000, help="test sets")
    ap.add_argument("--seed", type=int, default=0, help="simulation and training seed")
    ap.add_argument("--minutes", type=float, default=7.0,
                    help="training budget per network (TrainingSettings.max_seconds)")
    ap.add_argument("--epochs", type=int, default=200, help="most epochs per network")
    ap.add_argument("--patience", type=int, default=6, help="early-stopping patience")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--grid", choices=["review", "centres"], default="review",
                    help="review: seq(0, 1, length.out = 16) per axis (the review's code); "
                         "centres: fieldfit's GridDesign(16, 16) (cell centres)")
    ap.add_argument("--quad", type=int, default=1000,
                    help="θ grid points of the quadrature (the check uses half as many)")
    ap.add_argument("--draws", type=int, default=1000, help="NPE posterior draws per dataset")
    ap.add_argument("--eval-batch", type=int, default=256, help="datasets per network call")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                    help="networks to train and score (the exact posterior and MLE always "
                         "run): nbe (absolute, squared, quantile NBE), npe, nre (neural "
                         "likelihood surface)")
    ap.add_argument("--nre-grid", type=int, default=600,
                    help="θ values of the NRE surface (uniform in (0, 0.6))")
    ap.add_argument("--skip", nargs="*", default=[], choices=["nbe_sq", "npe"],
                    help="networks not to train")
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    ap.add_argument("--progress", action="store_true", help="training progress bars")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="output folder")
    ap.add_argument("--name", default=None,
                    help="output stem (default neural_review, neural_review_centres)")
    args = ap.parse_args(argv)
    if min(args.train, args.val, args.test) < 2:
        ap.error("--train, --val and --test need at least 2 datasets")
    methods = [m for m in METHODS if m in args.methods and not (m == "npe" and "npe" in args.skip)]
    stem = args.name or ("neural_review" if args.grid == "review" else "neural_review_centres")
    if args.name is None and methods != list(METHODS):   # never overwrite the full run's files
        stem += "_" + ("_".join(methods) if methods else "exact")
    if not stem.startswith("neural_review"):
        ap.error("--name must start with neural_review")

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.1f} s] {msg}", file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads, f"fieldfit {fieldfit.__version__}, torch "
                        f"{torch.__version__}, numpy {np.__version__}",
                        "torch.set_num_threads, threadpoolctl for numpy/scipy")
    share = busy_share()
    info.append(["CPUs busy with other work at start (3 s sample)",
                 "?" if share is None else f"{100 * share:.0f} %"])
    out: dict = {"settings": {k: (str(v) if isinstance(v, Path) else v)
                              for k, v in vars(args).items()},
                 "published": PUBLISHED, "training": {}, "results": {}}
    res: dict = {}
    values: dict = {}
    with threadpool_limits(limits=args.threads):
        # 1. data
        spec = make_spec(args.grid)
        n_tr, n_va, n_te = args.train, args.val, args.test
        t0 = time.perf_counter()
        train_set = spec.simulate(range(0, n_tr), seed=args.seed)
        val_set = spec.simulate(range(n_tr, n_tr + n_va), seed=args.seed)
        test_set = spec.simulate(range(n_tr + n_va, n_tr + n_va + n_te), seed=args.seed)
        sim_s = time.perf_counter() - t0
        log(f"simulated {n_tr} + {n_va} + {n_te} datasets in {sim_s:.0f} s")
        coords, z_test, truth = as_arrays(test_set)
        items = [(s.coords, s.values) for s in test_set]
        dist = linalg.norm(coords[:, None, :] - coords[None, :, :], axis=-1)

        # 2. exact posterior and MLE
        rel = check_against_fieldfit(coords, z_test, dist)
        if rel > 1e-6:
            raise SystemExit(f"numpy log-likelihood differs from fieldfit's by {rel:.1e}")
        t0 = time.perf_counter()
        mids, edges, ll = log_lik_table(dist, z_test, args.quad)
        post = posterior_summaries(mids, edges, ll, (0.05, 0.5, 0.95))
        quad_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        mle = mle_and_lr_interval(dist, z_test, mids, ll)
        mle_s = time.perf_counter() - t0
        # quadrature error: the same with half the θ points
        m2, e2, l2 = log_lik_table(dist, z_test, args.quad // 2)
        post2 = posterior_summaries(m2, e2, l2, (0.05, 0.5, 0.95))
        quad_err = {k: float(np.max(np.abs(post[k] - post2[k]))) for k in post}
        # one dataset at a time (what a per-dataset MCMC or optimiser would face)
        n_alone = min(5, n_te)
        t0 = time.perf_counter()
        for j in range(n_alone):
            a, b, c = log_lik_table(dist, z_test[j:j + 1], args.quad)
            posterior_summaries(a, b, c, (0.05, 0.5, 0.95))
        quad_alone = (time.perf_counter() - t0) / n_alone
        t0 = time.perf_counter()
        for j in range(n_alone):
            optimize.minimize_scalar(lambda t, z=z_test[j][:, None]: -log_lik(dist, t, z)[0],
                                     bounds=(1e-4, UPPER), method="bounded",
                                     options={"xatol": 1e-7})
        mle_alone = (time.perf_counter() - t0) / n_alone
        log(f"exact posterior ({args.quad} θ points) {quad_s:.1f} s, MLE refinement "
            f"{mle_s:.1f} s; quadrature check (vs {args.quad // 2} points): "
            + ", ".join(f"{k} {v:.1e}" for k, v in quad_err.items()))
        ci = (post["q0.05"], post["q0.95"])
        values["exact_mean"] = {"estimate": post["mean"], "lower": ci[0], "upper": ci[1]}
        values["exact_median"] = {"estimate": post["q0.5"], "lower": ci[0], "upper": ci[1]}
        values["mle"] = {"estimate": mle["estimate"], "lower": mle["lower"],
                         "upper": mle["upper"]}
        per = quad_s / n_te
        res["exact_mean"] = metrics(truth, post["mean"], *ci, per, quad_alone)
        res["exact_median"] = metrics(truth, post["q0.5"], *ci, per, quad_alone)
        res["mle"] = metrics(truth, mle["estimate"], mle["lower"], mle["upper"],
                             (quad_s + mle_s) / n_te, mle_alone)
        out["exact"] = {"loglik_rel_diff_vs_fieldfit": rel, "quadrature_points": args.quad,
                        "quadrature_max_abs_change_at_half_points": quad_err,
                        "seconds_quadrature": quad_s, "seconds_mle_refinement": mle_s}

        # the oracle under the other grid convention (same seeds and indices)
        other = "centres" if args.grid == "review" else "review"
        o_spec = make_spec(other)
        o_set = o_spec.simulate(range(n_tr + n_va, n_tr + n_va + n_te), seed=args.seed)
        o_coords, o_z, o_truth = as_arrays(o_set)
        o_dist = linalg.norm(o_coords[:, None, :] - o_coords[None, :, :], axis=-1)
        om, oe, oll = log_lik_table(o_dist, o_z, args.quad)
        opost = posterior_summaries(om, oe, oll, (0.05, 0.95))
        out["exact_other_grid"] = {"grid": other, **metrics(
            o_truth, opost["mean"], opost["q0.05"], opost["q0.95"], None, None)}
        log(f"exact posterior on the {other} grid: RMSPE×10² "
            f"{100 * out['exact_other_grid']['rmspe']:.2f}")

        # 3. networks (initial weights seeded per network: a subset of --methods trains the
        # same networks as the full run)
        makers = {}
        if "nbe" in methods:
            makers["nbe_abs"] = lambda: PointEstimator(CNNSummary(), 1, "absolute")
            if "nbe_sq" not in args.skip:
                makers["nbe_sq"] = lambda: PointEstimator(CNNSummary(), 1, "squared")
            makers["nbe_q"] = lambda: QuantileEstimator(CNNSummary(), 1,
                                                        probs=(0.05, 0.5, 0.95))
        if "npe" in methods:
            makers["npe"] = lambda: PosteriorEstimator(CNNSummary(), 1, n_draws=args.draws,
                                                       probs=(0.05, 0.5, 0.95))
        if "nre" in methods:
            makers["nre"] = lambda: RatioEstimator(CNNSummary(), 1, level=LEVEL)
        nets, outputs, secs = {}, {}, {}
        for name, make in makers.items():
            torch.manual_seed(args.seed + NET_SEEDS[name])
            nets[name] = net = make()
            log(f"training {name} ...")
            out["training"][name] = train_network(name, net, spec, train_set, val_set, args,
                                                  log)
            if name != "nre":
                outputs[name], secs[name] = evaluate(net, spec, items, args.eval_batch)
        if "nbe_q" in outputs:
            q = outputs["nbe_q"]
            for name in ("nbe_abs", "nbe_sq"):
                if name in outputs:
                    values[name] = {"estimate": outputs[name]["estimate"], "lower": q["q0.05"],
                                    "upper": q["q0.95"]}
                    res[name] = metrics(truth, outputs[name]["estimate"], q["q0.05"],
                                        q["q0.95"], secs[name] + secs["nbe_q"], None)
            values["nbe_q"] = {"estimate": q["estimate"], "lower": q["q0.05"],
                               "upper": q["q0.95"]}
            res["nbe_q"] = metrics(truth, q["estimate"], q["q0.05"], q["q0.95"],
                                   secs["nbe_q"], None)
        if "npe" in outputs:
            o = outputs["npe"]
            mean = npe_mean(nets["npe"], spec, items, args.eval_batch, args.draws)
            values["npe_median"] = {"estimate": o["estimate"], "lower": o["q0.05"],
                                    "upper": o["q0.95"]}
            values["npe_mean"] = {"estimate": mean, "lower": o["q0.05"], "upper": o["q0.95"]}
            res["npe_median"] = metrics(truth, o["estimate"], o["q0.05"], o["q0.95"],
                                        secs["npe"], None)
            res["npe_mean"] = metrics(truth, mean, o["q0.05"], o["q0.95"], secs["npe"], None)
        if "nre" in nets:
            net = nets["nre"]
            a, b = net.calibrate(*as_batch(net, val_set, spec))
            cal = {"a": a, "b": b, "chance": 2 * math.log(2),
                   "val_bce_raw": pair_bce(net, spec, val_set, None),
                   "val_bce_calibrated": pair_bce(net, spec, val_set, (a, b)),
                   "test_bce_raw": pair_bce(net, spec, test_set, None),
                   "test_bce_calibrated": pair_bce(net, spec, test_set, (a, b))}
            log(f"  nre: Platt a = {a:.3f}, b = {b:+.3f}; validation BCE raw "
                f"{cal['val_bce_raw']:.4f}, calibrated {cal['val_bce_calibrated']:.4f} "
                f"(chance {cal['chance']:.4f})")
            u_grid = surface_grid(args.nre_grid)
            theta_g = UPPER * u_grid
            nre_surfaces(net, items[:args.eval_batch], u_grid, args.eval_batch)  # warm-up
            t0 = time.perf_counter()
            surf = nre_surfaces(net, items, u_grid, args.eval_batch)
            nre = surface_max_and_interval(theta_g, surf)
            nre_s = (time.perf_counter() - t0) / n_te
            z = np.ascontiguousarray(z_test.T)
            exact_g = np.stack([log_lik(dist, t, z) for t in theta_g], 1)     # (N, M)
            ex = surface_max_and_interval(theta_g, exact_g)
            values["nre"] = {k: nre[k] for k in ("estimate", "lower", "upper")}
            res["nre"] = metrics(truth, nre["estimate"], nre["lower"], nre["upper"], nre_s,
                                 None)
            agree = surface_agreement(truth, surf, exact_g)
            out["nre"] = {
                "grid_points": args.nre_grid, "calibration": cal,
                "surface_agreement": agree, "seconds_per_dataset": nre_s,
                "n_test": n_te, "split_sets": int(nre["split"].sum()),
                "width_ratio_median": float(np.median(
                    (nre["upper"] - nre["lower"]) / (mle["upper"] - mle["lower"]))),
                "grid_check": {f"{k}_max_abs": float(np.max(np.abs(ex[k] - mle[k])))
                               for k in ("estimate", "lower", "upper")}}
            surfaces = {"theta": theta_g, "neural": surf, "exact": exact_g}
            log(f"  nre: RMSPE×10² {100 * res['nre']['rmspe']:.2f}, coverage "
                f"{100 * res['nre']['coverage']:.1f} %, surface RMS difference (median) "
                f"{agree['rms_median']:.3f}, correlation (median) "
                f"{float('nan') if agree['corr_median'] is None else agree['corr_median']:.3f}")
        else:
            surfaces = None
    elapsed = time.perf_counter() - t_start
    out["results"] = res
    out["comparison_with_exact"] = cmp = comparison(truth, values)
    out["seconds"] = {"simulation": sim_s, "total": elapsed}
    out["machine"] = {k: v for k, v in info}

    # 4. report
    grid_text = ("`seq(0, 1, length.out = 16)` per axis (spacing 1/15, as in the review's code)"
                 if args.grid == "review" else
                 "cell centres `(i + 0.5)/16` per axis (fieldfit's `GridDesign(16, 16)`)")
    assumptions = [
        "Model: zero-mean Gaussian process, C(h) = exp(−h/θ), variance 1, no nugget, one "
        f"replicate on a 16 × 16 grid of the unit square: {grid_text}; θ ~ U(0, 0.6).",
        "We could not read the review's text; its public code (R/Julia scripts of the "
        "illustration, found in a code index) gives the grid, U(0, 0.6), 200 000 simulations "
        "(160 000 training, 20 000 validation; the first 1000 test sets scored), a CNN "
        "summary (two 3 × 3 conv + max-pool layers, 32 and 64 channels), coverage as "
        "lower < θ < upper, and RMSPE/MAE/IS90/COV90 on the test set. The NBE there was "
        "trained with squared error in one version and the package default (absolute error) "
        "in another, its interval from a separate quantile/interval estimator; the table "
        "script summarised MCMC and NPE draws by their median in one version and the mean "
        "elsewhere, and one version computes its 'RMSPE' as the square root of the *median* "
        "squared error (`summarise_method <- median`), hence the √median SPE column. Which "
        "version gave the published table we cannot tell: all are reported.",
        "The review's MCMC column is replaced by the exact posterior it approximates (here "
        "by quadrature on a θ grid; no Monte Carlo error), with the same point summaries and "
        "the central 90 % credible interval. The review's NPE is BayesFlow (a normalising "
        "flow); here zuko's neural spline flow on logit(θ/0.6).",
        f"Here: {n_tr} training sets (fixed, in memory; not refreshed), {n_va} validation, "
        f"{n_te} test, simulated with `SimulationSpec.simulate` (disjoint index ranges, seed "
        f"{args.seed}); fieldfit's `CNNSummary` (3 × 3 convolutions, 16/32/64 channels, "
        "average pooling; inputs standardised, plus the expert summaries mean, log sd, "
        "log spacing, log r) for every network; Adam, lr "
        f"{args.lr}, batch {args.batch_size}, early stopping (patience {args.patience}), at "
        f"most {args.minutes:g} min per network on {args.threads} thread(s).",
        "± : Monte Carlo standard errors over the test sets (RMSPE by the delta method, "
        "√median SPE by 200 bootstrap resamples).",
        "Networks run here: " + (", ".join(METHODS[m] for m in methods) or "none")
        + " (`--methods`); initial weights seeded by `torch.manual_seed(seed + k)`, k = "
        + ", ".join(f"{k} {v}" for k, v in NET_SEEDS.items()) + ".",
    ]
    if "nre" in methods:
        assumptions.append(
            "NRE: the review has no such column; fieldfit's `RatioEstimator` with the same "
            "summary network, trained like the others (its loss: binary cross-entropy of "
            "dependent vs shuffled pairs), Platt-calibrated on the validation pairs; point "
            "estimate and 90 % interval from the calibrated surface on a θ grid (see the NRE "
            "section), so it is compared with the exact MLE and its likelihood-ratio interval.")
    exact = out["exact"]
    body = [
        "# The review's illustration: GP length scale, exact posterior"
        + "".join(f" vs {METHODS[m]}" for m in methods), "",
        "Zammit-Mangion, Sainsbury-Dale & Huser (2025), *Neural methods for amortized "
        "inference*, Annu. Rev. Stat. Appl.; script `benchmarks/neural_review.py`.", "",
        md_table(["", ""], info), "",
    ]
    if busy_warning(share):
        body += [busy_warning(share), ""]
    body += ["## Assumptions", ""] + [f"- {a}" for a in assumptions] + [""]
    body += ["## Results on the test set", "", results_table(res), "",
             f"Exact posterior under the other grid convention ({other}): RMSPE×10² "
             f"{100 * out['exact_other_grid']['rmspe']:.2f} ± "
             f"{100 * out['exact_other_grid']['rmspe_se']:.2f}, coverage "
             f"{100 * out['exact_other_grid']['coverage']:.1f} % (its own test sets, same "
             "seeds).", "",
             "s/dataset (batch): wall time over the whole test set divided by its size "
             f"(networks: `NeuralEstimator.estimate_unit`, {args.eval_batch} datasets per call, "
             "NBE rows include the quantile network; NRE: summaries, `log_ratio` on its θ "
             "grid, maximiser and interval; exact posterior: one Cholesky per θ "
             "shared by all test sets). s/dataset (alone): one dataset at a time "
             f"({args.quad} Choleskys for the posterior; bounded Brent on (0, 0.6) for the "
             "MLE).", "",
             f"Checks: numpy log-likelihood vs `fieldfit.GaussianField.log_likelihood`, largest "
             f"relative difference {exact['loglik_rel_diff_vs_fieldfit']:.1e}; quadrature with "
             f"{args.quad} vs {args.quad // 2} θ points, largest change "
             + ", ".join(f"{k} {v:.1e}"
                         for k, v in exact["quadrature_max_abs_change_at_half_points"].items())
             + ".", "",
             "## Against the exact posterior", "",
             "How far each method's output is from the exact quantity it approximates (same "
             "test sets), and its excess mean squared error over the exact posterior mean "
             "(the Bayes estimator under squared error loss; the test θ are drawn from the "
             "prior, so no method can beat it in expectation).", "",
             comparison_table(cmp), ""]
    if "nre" in out:
        body += nre_section(out["nre"])
    body += ["## RMSPE × 10² by true θ", "", bin_table(res), "",
             "## Training", "", training_table(out["training"]), "",
             f"Simulation of all datasets: {sim_s:.0f} s. Total wall time: "
             f"{elapsed / 60:.1f} min.", "",
             f"Figure: `{stem}.png` (estimates vs truth; grey: 90 % intervals of about 150 "
             "test sets"
             + ("; last row: neural vs exact log-likelihood of four test sets, dotted: the "
                "χ²₁(0.9)/2 cut of the 90 % intervals" if surfaces is not None else "")
             + f"). Per-dataset estimates: `{stem}_estimates.csv`.", ""]
    text = "\n".join(body)
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / f"{stem}.md", text)
    out["assumptions"] = assumptions
    cols = {"theta": truth}
    for k, v in values.items():
        cols.update({f"{k}_{kk}": vv for kk, vv in v.items()})
    csv = ",".join(cols) + "\n" + "\n".join(
        ",".join(f"{c[i]:.6g}" for c in cols.values()) for i in range(n_te)) + "\n"
    write_atomic(args.out / f"{stem}_estimates.csv", csv)
    write_atomic(args.out / f"{stem}.json", json.dumps(out, indent=1, default=float))
    figure(args.out / f"{stem}.png", truth, values,
           f"θ ~ U(0, 0.6), exponential GP on 16 × 16 ({args.grid} grid); "
           f"{n_tr} training sets, {n_te} test sets", surfaces)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
