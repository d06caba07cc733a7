#!/usr/bin/env python
"""Benchmark: fieldfit's NUTS (Pyro, :func:`fieldfit.sample`) beside NumPyro's NUTS on the same
exact Matérn posterior, both checked against a long random-walk Metropolis reference.

Model: y = μ + X + ε at n points uniform in the unit square (seed 0), X a zero-mean Gaussian
field with C(h) = σ² 2^{1−ν}/Γ(ν) (h/ℓ)^ν K_ν(h/ℓ), ε ~ N(0, τ²); truth σ² = 1, ℓ = 0.15,
ν = 1, τ² = 0.1, μ = 0. Five parameters (ν estimated), the same priors on both sides:

    σ² ~ LogNormal(0, 1),  ℓ ~ LogNormal(log 0.15, 1),  ν ~ LogNormal(0, 0.5),
    τ² ~ LogNormal(log 0.1, 1),  μ ~ N(0, 10²).

- fieldfit: ``fieldfit.sample(build("matern", engine="exact"), obs, priors=…)``: NUTS on the
  log-transformed parameters (Pyro), the likelihood and gradient from fieldfit's exact engine
  (torch, its own differentiable K_ν).
- NumPyro: NUTS on the same density written in JAX (``jax_enable_x64``). JAX has no
  K_ν differentiable in ν, so K_ν(x) = ∫₀^∞ e^{−x cosh t} cosh(νt) dt is evaluated by the
  trapezoidal rule on [0, T] (step ≤ :data:`JAX_STEP`; exponentially convergent for this
  analytic integrand; checked here against ``scipy.special.kv`` at the data's distances).
  The step 0.2 gives the correlation to 3·10⁻¹² (ν ≤ 2.5) and 7·10⁻⁹ (ν = 6) absolute,
  as a step of 0.05 does (the remaining error is T's truncation), with 4× fewer nodes; the
  runs of 2026-12-01 before that used 0.05 (docs/benchmarks.md).
- Reference: random-walk Metropolis in the same unconstrained coordinates (log of the positive
  parameters), its Gaussian proposal 2.38²/d × the NUTS draws' covariance, ``--rwm`` steps.

Both NUTS run ``--chains`` chains one after another, ``--warmup`` adaptation steps and
``--draws`` draws each, diagonal mass matrix, target acceptance 0.8. Reported: wall time,
the smallest bulk ESS over the parameters (ArviZ) per second of the whole run (warm-up
included) and of the sampling phase, and whether the 2.5 / 50 / 97.5 % quantiles of each
parameter agree with the reference within Monte-Carlo error (|Δ| ≤ 3 √(mcse₁² + mcse₂²),
ArviZ's quantile MCSE).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mcmc.py --n 500 --out benchmarks/results/mcmc.md
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from _common import load_average, md_table

TRUTH = {"variance": 1.0, "range": 0.15, "smoothness": 1.0, "nugget": 0.1, "mean": 0.0}
#: the priors' (family, a, b): LogNormal(a, b) on the positive parameters, Normal on the mean
PRIORS = {"variance": ("lognormal", 0.0, 1.0), "range": ("lognormal", math.log(0.15), 1.0),
          "smoothness": ("lognormal", 0.0, 0.5), "nugget": ("lognormal", math.log(0.1), 1.0),
          "mean": ("normal", 0.0, 10.0)}
NAMES = list(PRIORS)
#: the trapezoidal rule's largest step in t for the JAX K_ν (module docstring)
JAX_STEP = 0.2


def data(n: int, seed: int = 0):
    from fieldfit.data import Observations
    from fieldfit.models import build

    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    y = build("matern", engine="exact").simulate(x, TRUTH, seed=seed + 1)[0]
    return Observations(coords=x, values=y)


# --- fieldfit -------------------------------------------------------------------------------
def run_fieldfit(obs, chains, draws, warmup, seed):
    from fieldfit import sample
    from fieldfit.models import build
    from fieldfit.priors import LogNormal, Normal

    priors = {k: (LogNormal(a, b) if f == "lognormal" else Normal(a, b))
              for k, (f, a, b) in PRIORS.items()}
    t0 = time.perf_counter()
    post = sample(build("matern", engine="exact"), obs, priors=priors, chains=chains,
                  draws=draws, warmup=warmup, seed=seed, progress=False)
    return {k: np.asarray(post.draws[k]) for k in NAMES}, time.perf_counter() - t0, post


# --- NumPyro --------------------------------------------------------------------------------
def _jax_matern(T: float):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    m = int(math.ceil(T / JAX_STEP))
    step = T / m
    t = jnp.linspace(0.0, T, m + 1)
    logw = jnp.log(jnp.full(m + 1, step).at[0].set(step / 2).at[-1].set(step / 2))

    def log_kv(nu, x):  # log K_ν(x), x (k,) > 0
        f = (-x[:, None] * jnp.cosh(t)[None, :] + nu * t[None, :]
             + jnp.log1p(jnp.exp(-2.0 * nu * t))[None, :] - jnp.log(2.0))
        return jax.scipy.special.logsumexp(f + logw[None, :], axis=1)

    def corr(h, ell, nu):  # Matérn correlation at distances h (k,)
        x = jnp.where(h > 0, h / ell, 1.0)
        logc = ((1.0 - nu) * jnp.log(2.0) - jax.scipy.special.gammaln(nu) + nu * jnp.log(x)
                + log_kv(nu, x))
        return jnp.where(h > 0, jnp.exp(logc), 1.0)

    return log_kv, corr


def check_jax_bessel(obs, T):
    from scipy.special import kv

    log_kv, _ = _jax_matern(T)
    d = np.linalg.norm(obs.coords[:, None] - obs.coords[None], axis=-1)
    h = d[np.triu_indices_from(d, 1)]
    x = np.quantile(h, [0.0, 0.001, 0.5, 1.0]) / np.array([0.02, 0.15, 0.15, 1.0])
    err = 0.0
    for nu in (0.3, 1.0, 2.5, 6.0):
        a = np.exp(np.asarray(log_kv(nu, np.asarray(x))))
        err = max(err, float(np.max(np.abs(a / kv(nu, x) - 1))))
    return err


def run_numpyro(obs, chains, draws, warmup, seed, T):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    _, corr = _jax_matern(T)
    X = jnp.asarray(obs.coords)
    y = jnp.asarray(obs.values)
    n = len(y)
    iu = np.triu_indices(n, 1)
    H = jnp.linalg.norm(X[:, None] - X[None], axis=-1)[iu]

    def model():
        p = {}
        for k, (f, a, b) in PRIORS.items():
            p[k] = numpyro.sample(k, dist.LogNormal(a, b) if f == "lognormal"
                                  else dist.Normal(a, b))
        r = corr(H, p["range"], p["smoothness"])
        C = jnp.zeros((n, n)).at[iu].set(r)
        C = p["variance"] * (C + C.T + jnp.eye(n)) + p["nugget"] * jnp.eye(n)
        numpyro.sample("y", dist.MultivariateNormal(p["mean"] * jnp.ones(n),
                                                    covariance_matrix=C), obs=y)

    init = {k: float(v) for k, v in TRUTH.items()}
    init["mean"] = float(np.mean(obs.values))
    mcmc = MCMC(NUTS(model, target_accept_prob=0.8,
                     init_strategy=numpyro.infer.init_to_value(values=init)),
                num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method="sequential", progress_bar=False)
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed))
    out = {k: np.asarray(v).reshape(chains, draws) for k, v in
           mcmc.get_samples(group_by_chain=True).items()}
    return out, time.perf_counter() - t0


# --- random-walk Metropolis reference --------------------------------------------------------
def run_rwm(obs, steps, seed, cov_u, u0):
    """Random-walk Metropolis on u = (log σ², log ℓ, log ν, log τ², μ); returns the draws."""
    import torch

    from fieldfit.models import build

    model = build("matern", engine="exact", profile_mean=False)
    from scipy import stats

    def logpost(u):
        th = dict(zip(NAMES, [*np.exp(u[:4]), u[4]], strict=True))
        lp = sum(stats.lognorm(s=b, scale=math.exp(a)).logpdf(th[k]) + u[i]  # + log-Jacobian
                 for i, (k, (f, a, b)) in enumerate(PRIORS.items()) if f == "lognormal")
        lp += stats.norm(PRIORS["mean"][1], PRIORS["mean"][2]).logpdf(u[4])
        with torch.no_grad():
            try:
                ll = float(model.log_likelihood(obs, {k: torch.tensor(v, dtype=torch.float64)
                                                      for k, v in th.items()}))
            except Exception:  # noqa: BLE001 - a failed factorisation: reject
                return -math.inf
        return ll + lp

    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(cov_u * 2.38**2 / len(u0))
    u, lp = np.array(u0, float), logpost(u0)
    out = np.empty((steps, len(u0)))
    acc = 0
    from tqdm import tqdm

    for i in tqdm(range(steps), desc="random-walk Metropolis", mininterval=5):
        prop = u + L @ rng.standard_normal(len(u))
        lq = logpost(prop)
        if math.log(rng.random()) < lq - lp:
            u, lp, acc = prop, lq, acc + 1
        out[i] = u
    draws = np.column_stack([np.exp(out[:, :4]), out[:, 4]])
    return {k: draws[:, i][None, :] for i, k in enumerate(NAMES)}, acc / steps


# --- comparison -----------------------------------------------------------------------------
def ess_min(d):
    import arviz as az

    return min(float(az.ess(d[k], method="bulk")) for k in NAMES)


def agreement(a, ref):
    """Per parameter: the largest |Δq| / (3 √(mcse_a² + mcse_ref²)) over q = 2.5, 50, 97.5 %."""
    import arviz as az

    out = {}
    for k in NAMES:
        worst = 0.0
        for q in (0.025, 0.5, 0.975):
            da = float(np.quantile(a[k], q)) - float(np.quantile(ref[k], q))
            se = math.hypot(float(az.mcse(a[k], method="quantile", prob=q)),
                            float(az.mcse(ref[k], method="quantile", prob=q)))
            worst = max(worst, abs(da) / (3 * se))
        out[k] = worst
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--rwm", type=int, default=40000, help="random-walk Metropolis steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    obs = data(a.n, a.seed)
    h = np.linalg.norm(obs.coords[:, None] - obs.coords[None], axis=-1)
    hmin = float(h[np.triu_indices_from(h, 1)].min())
    T = math.acosh(60.0 / (hmin / 2.0)) + 1.0  # e^{−x cosh T} < e^{−60} down to ℓ = 2
    bessel = check_jax_bessel(obs, T)
    load = load_average()

    ff, ff_s, post = run_fieldfit(obs, a.chains, a.draws, a.warmup, a.seed)
    print(f"fieldfit: {ff_s:.1f} s, min bulk ESS {ess_min(ff):.0f}", flush=True)
    npy, np_s = run_numpyro(obs, a.chains, a.draws, a.warmup, a.seed, T)
    print(f"numpyro: {np_s:.1f} s, min bulk ESS {ess_min(npy):.0f}", flush=True)
    pooled = np.column_stack([np.log(ff[k].ravel()) if k != "mean" else ff[k].ravel()
                              for k in NAMES])
    ref, acc = run_rwm(obs, a.rwm, a.seed + 7, np.cov(pooled.T), pooled.mean(0))
    burn = a.rwm // 10
    ref = {k: v[:, burn:] for k, v in ref.items()}

    rows = []
    for label, d, s in (("fieldfit (Pyro NUTS)", ff, ff_s), ("NumPyro NUTS", npy, np_s)):
        e = ess_min(d)
        ag = agreement(d, ref)
        rows.append([label, f"{s:.1f}", f"{e:.0f}", f"{e / s:.2f}",
                     ", ".join(f"{k} {v:.2f}" for k, v in ag.items()),
                     "yes" if max(ag.values()) <= 1 else "no"])
    qt = [[k] + [f"{np.quantile(d[k], q):.4g}" for d in (ff, npy, ref)
                 for q in (0.025, 0.5, 0.975)] for k in NAMES]
    text = "\n".join([
        f"# MCMC: fieldfit's NUTS beside NumPyro's (n = {a.n}, exact Matérn, ν estimated)", "",
        f"Command: `{' '.join(['python', *sys.argv])}`; OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}; load average before: {load}.",
        f"{a.chains} chains × ({a.warmup} warm-up + {a.draws} draws), one after another. "
        f"Reference: random-walk Metropolis, {a.rwm} steps (first 10 % dropped), acceptance "
        f"{acc:.2f}, min bulk ESS {ess_min(ref):.0f}. JAX K_ν against scipy: max relative "
        f"error {bessel:.1e} (T = {T:.1f}). fieldfit divergences: {post.divergences}.", "",
        md_table(["sampler", "wall s", "min bulk ESS", "ESS / s",
                  "max |Δq| / 3 mcse (per parameter)", "agrees with the reference"], rows),
        "", f"ESS/s ratio fieldfit / NumPyro: {(ess_min(ff) / ff_s) / (ess_min(npy) / np_s):.2f}",
        "", "Quantiles 2.5 / 50 / 97.5 % (fieldfit | NumPyro | reference):", "",
        md_table(["parameter"] + [f"{s} {q}" for s in ("ff", "np", "ref")
                                  for q in ("2.5", "50", "97.5")], qt)])
    print(text)
    if a.out is not None:
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
