#!/usr/bin/env python
"""Profile and discretisation check of the advection–diffusion fit on exact continuum data.

Data: the SPDE [∂t + (1/c)(κ² − Δ) + (1/c)γ·∇] X = (τ/√c) Z, α = α_s = 1, simulated exactly on
a periodic square [0, L]² (each Fourier mode an exact complex Ornstein–Uhlenbeck process,
modes |m|, |n| ≤ M), observed with noise at stations inside the central 60 % of the square.

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


def exact_ou_field(stations, n_t, dt, kappa, c, tau, gamma, L=10.0, M=40, seed=0):
    """Exact draws ``(n_t, n_st)`` of the α = α_s = 1 field at ``stations (n_st, 2)``, times
    k·dt: X = √2 Re Σ_ω b_ω(t) e^{iω·s}, b_ω a complex OU process with rate (λ + iγ·ω)/c,
    λ = κ² + |ω|², stationary E|b_ω|² = τ²λ^{−2}/(2 L²)."""
    rng = np.random.default_rng(seed)
    m = np.arange(-M, M + 1)
    wx, wy = np.meshgrid(2 * np.pi * m / L, 2 * np.pi * m / L, indexing="ij")
    wx, wy = wx.ravel(), wy.ravel()
    lam = kappa**2 + wx**2 + wy**2
    v = tau**2 / lam**2 / (2 * L**2)
    a = np.exp(-(lam + 1j * (gamma[0] * wx + gamma[1] * wy)) * dt / c)
    innov = np.sqrt(v * (1 - np.abs(a) ** 2))

    def cn(size):
        return (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / np.sqrt(2)

    b = np.sqrt(v) * cn(len(v))
    E = np.exp(1j * (np.outer(stations[:, 0], wx) + np.outer(stations[:, 1], wy)))
    out = np.empty((n_t, len(stations)))
    for k in range(n_t):
        if k:
            b = a * b + innov * cn(len(v))
        out[k] = np.sqrt(2) * (E @ b).real
    return out


TRUTH = dict(kappa=1.0, c=1.0, tau=None, gamma_x=1.5, gamma_y=0.5, nugget=0.05)


def dataset(n_st, n_t, dt=0.1, seed=0, L=10.0, truth=None):
    from fieldfit import Observations

    t = dict(TRUTH, **(truth or {}))
    if t["tau"] is None:  # marginal variance 1: τ² = 8πκ²
        t["tau"] = float(np.sqrt(8 * np.pi * t["kappa"] ** 2))
    rng = np.random.default_rng(seed)
    st = L * (0.2 + 0.6 * rng.random((n_st, 2)))
    x = exact_ou_field(st, n_t, dt, t["kappa"], t["c"], t["tau"], (t["gamma_x"], t["gamma_y"]),
                       L=L, seed=seed + 1)
    y = x.ravel() + np.sqrt(t["nugget"]) * rng.standard_normal(x.size)
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
