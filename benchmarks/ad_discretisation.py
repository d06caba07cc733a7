#!/usr/bin/env python
"""Profile and discretisation check of the advection–diffusion fit on exact continuum data.

Data: the SPDE [∂t + (1/c)(κ² − Δ) + (1/c)γ·∇] X = (τ/√c) Z, α = α_s = 1, simulated exactly on
a periodic square [0, L)² by :class:`fieldfit.spde.spectral.SpectralAdvectionDiffusion` (each
Fourier mode an exact Ornstein–Uhlenbeck process, 80 × 80 grid: modes |m|, |n| ≤ 40),
observed with noise at stations inside the central 60 % of the square.

    .venv/bin/python benchmarks/ad_discretisation.py profile --stations 100 --times 40
    .venv/bin/python benchmarks/ad_discretisation.py fit --stations 146 --times 60
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time

import numpy as np

TRUTH = dict(kappa=1.0, c=1.0, tau=None, gamma_x=1.5, gamma_y=0.5, nugget=0.05)


def dataset(n_st, n_t, dt=0.1, seed=0, L=10.0, truth=None):
    from fieldfit import Observations

    t = dict(TRUTH, **(truth or {}))
    if t["tau"] is None:  # marginal variance 1: τ² = 8πκ²
        t["tau"] = float(np.sqrt(8 * np.pi * t["kappa"] ** 2))
    rng = np.random.default_rng(seed)
    st = L * (0.2 + 0.6 * rng.random((n_st, 2)))
    from fieldfit.spde.spectral import SpectralAdvectionDiffusion

    sim = SpectralAdvectionDiffusion(L, L, 80, 80, kappa=t["kappa"], c=t["c"], tau=t["tau"],
                                     gamma=(t["gamma_x"], t["gamma_y"]))
    y = sim.sample_at(st, np.arange(n_t) * dt, seed=seed + 1, nugget=t["nugget"]).ravel()
    pts = np.column_stack([np.tile(st, (n_t, 1)), np.repeat(np.arange(n_t) * dt, n_st)])
    return Observations(coords=pts[:, :2], times=pts[:, 2], values=y), t


def summary(res, truth):
    p = res.params
    out = {k: round(float(p[k]), 4) for k in ("kappa", "c", "tau", "gamma_x", "gamma_y",
                                                "nugget") if k in p}
    out["vx"], out["vy"] = p["gamma_x"] / p["c"], p["gamma_y"] / p["c"]
    out["log_err"] = {k: round(float(np.log(p[k] / truth[k])), 3) for k in ("kappa", "c")}
    sp = np.hypot(out["vx"], out["vy"])
    st = np.hypot(truth["gamma_x"], truth["gamma_y"]) / truth["c"]
    out["log_err"]["speed"] = round(float(np.log(sp / st)), 3)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["profile", "fit", "eval", "check"])
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--times", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opts", default="{}", help="model options as JSON")
    ap.add_argument("--restarts", type=int, default=2)
    a = ap.parse_args(argv)
    import torch

    import fieldfit as ff
    from fieldfit.models.advection_diffusion_field import AdvectionDiffusionField

    torch.set_num_threads(1)
    obs, truth = dataset(a.stations, a.times, seed=a.seed)
    model = AdvectionDiffusionField(**json.loads(a.opts))
    if a.part == "eval":
        spde = model.spde_for(obs)
        print("nodes", spde.n_space, "times", spde.n_times, "nnz", spde.nnz)
        space = model.param_space(obs)
        p = {k: v for k, v in truth.items()}
        u = torch.tensor(space.pack(p), requires_grad=True)
        for _ in range(3):
            t0 = time.perf_counter()
            ll = model.log_likelihood(obs, space.unpack(u))
            t1 = time.perf_counter()
            ll.backward()
            print(f"ll {float(ll):.3f}  forward {t1 - t0:.2f} s  backward "
                  f"{time.perf_counter() - t1:.2f} s")
            u.grad = None
        return
    t0 = time.perf_counter()
    if a.part == "profile":
        pr = cProfile.Profile()
        pr.enable()
    res = ff.fit(model, obs, restarts=a.restarts)
    wall = time.perf_counter() - t0
    check = None
    if a.part == "check":
        t1 = time.perf_counter()
        check = model.discretisation_check(obs, res.params)
        check["seconds"] = round(time.perf_counter() - t1, 1)
    if a.part == "profile":
        pr.disable()
        pstats.Stats(pr).sort_stats("cumulative").print_stats(35)
    spde = model.spde_for(obs)
    print(json.dumps({"wall_s": round(wall, 1), "nodes": spde.n_space, "n_t": spde.n_times,
                      "evaluations": res.evaluations, "message": res.message,
                      "summary": summary(res, truth), "check": check}, default=str,
                     indent=1))


if __name__ == "__main__":
    main()
