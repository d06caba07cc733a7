#!/usr/bin/env python
"""Convergence of the advection–diffusion estimates in the time step: 12 replicates of exact
continuum data (fieldfit.spde.spectral, κ = c = 1, γ = (1.5, 0.5), 40 stations), fitted with
the model options given as JSON (name -> options), without restarts or standard errors.

    NT=30 DT=0.1 .venv/bin/python benchmarks/ad_convergence.py \
        '{"CN1": {"theta": 0.5}, "CN2": {"theta": 0.5, "substeps": 2}}'

Prints: name, mesh nodes, seconds, κ̂, ĉ, speed |γ̂|/ĉ, direction (degrees), nugget,
evaluations.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch

import fieldfit as ff
from fieldfit import Observations
from fieldfit.models.advection_diffusion_field import AdvectionDiffusionField
from fieldfit.spde.spectral import SpectralAdvectionDiffusion


def data(n_st=40, n_t=15, r=12, dt=0.2, seed=0):
    rng = np.random.default_rng(seed)
    L = 10.0
    st = L * (0.2 + 0.6 * rng.random((n_st, 2)))
    sim = SpectralAdvectionDiffusion(L, L, 64, 64, kappa=1.0, c=1.0, tau=np.sqrt(8 * np.pi),
                                     gamma=(1.5, 0.5))
    times = np.arange(n_t) * dt
    X = sim.sample_at(st, times, n_replicates=r, seed=seed + 1, nugget=0.05)  # (r, n_t, n)
    pts = np.column_stack([np.tile(st, (n_t, 1)), np.repeat(times, n_st)])
    return Observations(coords=pts[:, :2], times=pts[:, 2], values=X.reshape(r, -1))


def main():
    torch.set_num_threads(1)
    obs = data(n_t=int(os.environ.get("NT", 15)), dt=float(os.environ.get("DT", 0.2)))
    for name, o in json.loads(sys.argv[1]).items():
        m = AdvectionDiffusionField(**o)
        t = time.time()
        res = ff.fit(m, obs, restarts=0, stderr=False)
        p = res.params
        sp = np.hypot(p["gamma_x"], p["gamma_y"]) / p["c"]
        direction = np.degrees(np.arctan2(p["gamma_y"], p["gamma_x"]))
        print(name, m.mesh_for(obs).n_nodes, round(time.time() - t, 1),
              f"kappa {p['kappa']:.3f} c {p['c']:.3f} speed {sp:.3f} dir {direction:.1f} "
              f"nug {p['nugget']:.3f}", res.evaluations, flush=True)


if __name__ == "__main__":
    main()
