#!/usr/bin/env python
"""Benchmark: NUTS (``fieldfit.sample``) on large data, through the Vecchia and SPDE engines.

Each part simulates one dataset, builds the model, times ℓ + ∇ℓ at the starting point (the
cost of one gradient, which bounds the sampler), then runs ``--chains`` chains of ``--warmup``
+ ``--draws`` NUTS steps with the default priors, from the MLE neighbourhood, and reports:

- wall time of the whole run (the MLE start included) and of the chains alone;
- gradient evaluations per draw (``PosteriorSample.evaluations``) and seconds per
  evaluation;
- min bulk and tail ESS over the parameters (ArviZ), ESS per second of the chains, R-hat;
- the wall time of 1,000 warm-up + 1,000 draws per chain at the measured seconds per NUTS
  step, when the run was shorter (labelled as extrapolated).

Parts:

1. ``vecchia``: a Matérn field (ν = 3/2, σ² = 1, ℓ = 0.1, nugget 0.1, mean 1) at
   ``--vecchia-n`` uniform points, simulated by GSTools' randomisation method (``gs.SRF``; a
   dense Cholesky is out of reach at n = 20,000), fitted with ``engine="vecchia"`` (m =
   ``--neighbours``), ν fixed at 3/2 (a closed form, as GpGp and GPBoost use; ν = 1 would
   send the n (m + 1)² conditioning-set distances through the Bessel table, 5× dearer):
   variance, range, nugget and mean sampled.
2. ``spde``: the Matérn SPDE field (α = 2, ν = 1) on an automatic mesh of about
   ``--spde-nodes`` nodes (inner edge chosen for it), data at ``--spde-n`` uniform points
   simulated from the same model (exact GMRF draw), ``engine="spde"``: variance, range, nugget
   and mean sampled.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mcmc_scale.py --parts vecchia \\
        --chains 1 --warmup 200 --draws 200 --out benchmarks/results/mcmc_scale-vecchia.md
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from _common import load_average, machine_info, md_table

TRUTH = {"variance": 1.0, "range": 0.1, "nugget": 0.1, "mean": 1.0}
VECCHIA_NU = 1.5


def vecchia_data(n: int, seed: int):
    import gstools as gs

    from fieldfit import Observations

    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    # GSTools' Matérn: len_scale is fieldfit's range (C(h) = σ² M_ν(h/ℓ)) with rescale=1
    cov = gs.Matern(dim=2, var=TRUTH["variance"], len_scale=TRUTH["range"], nu=VECCHIA_NU,
                    rescale=1.0)
    srf = gs.SRF(cov, mean=TRUTH["mean"], seed=seed, mode_no=2000)
    z = srf((x[:, 0], x[:, 1])) + rng.normal(scale=math.sqrt(TRUTH["nugget"]), size=n)
    return Observations(coords=x, values=np.asarray(z))


def vecchia_model(args):
    from fieldfit.models import build

    return (build("matern", engine="vecchia", neighbours=args.neighbours),
            {"smoothness": VECCHIA_NU})


def spde_model_and_data(args):
    from fieldfit import Observations
    from fieldfit.models import build

    rng = np.random.default_rng(args.seed)
    x = rng.random((args.spde_n, 2))
    # a regular triangulation's node count is about (1 + 2·offset)² / (edge² · √3/2) inside
    # plus the coarser outer ring; the inner edge for the target count, refined once if short
    edge = 1.0 / math.sqrt(args.spde_nodes * math.sqrt(3) / 2 / 1.3)
    for _ in range(4):
        model = build("matern-spde", alpha=2, mesh_max_edge=(edge, 5 * edge),
                      mesh_offset=0.1)
        obs = Observations(coords=x, values=np.zeros(len(x)))
        nodes = model.mesh_for(obs).n_nodes if hasattr(model, "mesh_for") else None
        if nodes is None or abs(nodes / args.spde_nodes - 1) < 0.15:
            break
        edge *= math.sqrt(nodes / args.spde_nodes)
    y = model.simulate(x, TRUTH, seed=args.seed + 1)[0]
    return model, Observations(coords=x, values=y), {}, nodes


def time_gradient(model, obs, fix, repeats=3) -> float:
    """Median seconds of ℓ + ∇ℓ at the true parameters (the model's own parameter space)."""
    import torch

    space = model.param_space(obs).fix(**fix)
    values = {p.name: TRUTH.get(p.name, p.value) for p in space if not p.fixed}
    u0 = space.pack({k: v for k, v in values.items() if v is not None}).numpy()
    times = []
    for _ in range(repeats + 1):
        u = torch.tensor(u0, dtype=torch.float64, requires_grad=True)
        t0 = time.perf_counter()
        ll = model.log_likelihood(obs, space.unpack(u))
        torch.autograd.grad(ll, u)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[1:]))


def run(label, model, obs, fix, args, extra=""):
    import arviz as az

    import fieldfit

    grad_s = time_gradient(model, obs, fix)
    print(f"{label}: ℓ + ∇ℓ {grad_s:.3f} s", flush=True)
    t0 = time.perf_counter()
    post = fieldfit.sample(model, obs, fix=fix, chains=args.chains, draws=args.draws,
                           warmup=args.warmup, seed=args.seed, progress=True,
                           full_mass=args.full_mass)
    wall = time.perf_counter() - t0
    summary = post.summary()
    idata = post.to_inference_data()
    ess_bulk = min(v["ess_bulk"] for v in summary.values())
    ess_tail = float(np.nanmin([float(az.ess(idata, method="tail")[k]) for k in post.draws]))
    rhats = [v["rhat"] for v in summary.values() if v["rhat"] is not None]
    rhat = max(rhats) if rhats else float("nan")    # R-hat needs 2 chains
    chains_s = wall - (post.mle.seconds if post.mle is not None else 0.0)   # the MLE start out
    steps = args.chains * (args.warmup + args.draws)
    per_step = chains_s / steps
    evals = post.evaluations
    extrapolated = per_step * 2000 if (args.warmup, args.draws) != (1000, 1000) else None
    row = [label, extra, f"{grad_s:.3f}", f"{wall:.0f}", f"{chains_s:.0f}",
           f"{evals / steps:.1f}", f"{ess_bulk:.0f}", f"{ess_tail:.0f}",
           f"{ess_bulk / chains_s:.3f}", f"{rhat:.3f}", str(post.divergences),
           "—" if extrapolated is None else f"{extrapolated / 3600:.1f} h (extrapolated)"]
    quantiles = [[label, k, f"{v['q2.5']:.4g}", f"{v['q50']:.4g}", f"{v['q97.5']:.4g}",
                  f"{TRUTH.get(k, float('nan')):g}"] for k, v in summary.items()]
    return row, quantiles


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", nargs="+", default=["vecchia", "spde"],
                    choices=["vecchia", "spde"])
    ap.add_argument("--vecchia-n", type=int, default=20_000)
    ap.add_argument("--neighbours", type=int, default=30)
    ap.add_argument("--spde-nodes", type=int, default=100_000)
    ap.add_argument("--spde-n", type=int, default=20_000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full-mass", action="store_true", help="a dense mass matrix")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import torch

    info = machine_info(torch.get_num_threads(), f"torch {torch.__version__}",
                        "OMP_NUM_THREADS")
    rows, quantiles = [], []
    if "vecchia" in args.parts:
        t0 = time.perf_counter()
        obs = vecchia_data(args.vecchia_n, args.seed)
        print(f"simulated n = {args.vecchia_n} in {time.perf_counter() - t0:.1f} s", flush=True)
        model, fix = vecchia_model(args)
        r, q = run("Vecchia", model, obs, fix, args,
                   f"n = {args.vecchia_n}, m = {args.neighbours}, ν = {VECCHIA_NU:g} fixed")
        rows.append(r)
        quantiles += q
    if "spde" in args.parts:
        model, obs, fix, nodes = spde_model_and_data(args)
        r, q = run("SPDE", model, obs, fix, args,
                   f"{nodes} mesh nodes, n = {args.spde_n}, α = 2")
        rows.append(r)
        quantiles += q
    text = "\n\n".join([
        "# NUTS on large data: the Vecchia and SPDE engines",
        md_table(["", ""], info + [["load average at the end", load_average()]]),
        f"{args.chains} chain(s) × ({args.warmup} warm-up + {args.draws} draws), default "
        "priors (fieldfit.fit.mcmc.default_priors), started from the MLE neighbourhood, "
        + ("a dense" if args.full_mass else "a diagonal") + " mass matrix.",
        md_table(["engine", "set-up", "ℓ + ∇ℓ (s)", "wall (s)", "chains (s)",
                  "gradients / step", "min bulk ESS", "min tail ESS", "bulk ESS / s",
                  "max R-hat", "divergences", "1,000 + 1,000 per chain"], rows),
        "Posterior quantiles (truth of the simulation beside them):",
        md_table(["engine", "parameter", "2.5 %", "50 %", "97.5 %", "truth"], quantiles)])
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
