#!/usr/bin/env python
"""The Cramér–Rao bound of the continuous advection–diffusion SPDE: how well can any estimator
recover (κ, c, γ, τ, nugget) from a given design?

For a zero-mean Gaussian vector y ~ N(0, Σ(θ)) the Fisher information is

    I_ij = ½ tr(Σ⁻¹ ∂_iΣ Σ⁻¹ ∂_jΣ),

and I⁻¹ bounds the covariance of every unbiased estimator. Σ is the exact covariance of the
continuous SPDE (``SpectralAdvectionDiffusion.covariance_matrix``, α = α_s = 1, periodic
[0, 10)², 64 × 64 modes) at the stations and times of ``ad_continuum_study.py``'s data set
``--set`` (stations uniform in the central 60 %, Δt = 0.1), plus the nugget; ∂Σ by central
differences (relative step 10⁻⁴). The velocity v = γ/c gets its covariance by the delta
method; the report gives the bound's sd of the speed |v| (along v) and of the direction
(across v, in degrees), and the median |log(speed̂/speed)| and |direction error| an efficient
estimator would have (0.674 sd, the median of a centred normal's absolute value).

    .venv/bin/python benchmarks/ad_information.py --stations 100 --times 40 --sets 5

Cost: dense n = stations × times (4,000: 20 s; 8,760: 150 s on 2 cores), memory 8 n² bytes
per matrix (7 matrices held).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import scipy.linalg as sl
from ad_continuum_study import truth

NAMES = ("kappa", "c", "gamma_x", "gamma_y", "tau", "nugget")


def design(i: int, stations: int, times: int, dt: float, seed: int):
    """Stations ``(stations, 2)`` and times ``(times,)`` of the study's data set ``i``."""
    rng = np.random.default_rng(seed + i)
    return rng.uniform(2.0, 8.0, size=(stations, 2)), np.arange(times) * dt


def information(theta: dict, pts: np.ndarray, t: np.ndarray, modes: int = 64) -> np.ndarray:
    """Fisher information ``(6, 6)`` in the order of :data:`NAMES` at ``theta``."""
    from fieldfit.spde.spectral import SpectralAdvectionDiffusion

    def cov(p):
        sim = SpectralAdvectionDiffusion(10.0, 10.0, modes, modes, kappa=p["kappa"], c=p["c"],
                                         tau=p["tau"], gamma=(p["gamma_x"], p["gamma_y"]))
        S = sim.covariance_matrix(pts, t)
        S[np.diag_indices_from(S)] += p["nugget"]
        return S

    chol = sl.cho_factor(cov(theta), lower=True)
    W = []
    for k in NAMES:
        h = 1e-4 * max(abs(theta[k]), 1.0)
        up, dn = dict(theta), dict(theta)
        up[k] += h
        dn[k] -= h
        W.append(sl.cho_solve(chol, (cov(up) - cov(dn)) / (2 * h)))  # Σ⁻¹ ∂Σ
    return np.array([[0.5 * np.sum(a * b.T) for b in W] for a in W])


def bound(theta: dict, info: np.ndarray) -> dict:
    """Per-parameter bound sd, and the velocity's speed and direction sd and medians."""
    C = np.linalg.inv(info)
    se = dict(zip(NAMES, np.sqrt(np.diag(C)).tolist(), strict=True))
    c, g = theta["c"], np.array([theta["gamma_x"], theta["gamma_y"]])
    ix = [NAMES.index(k) for k in ("c", "gamma_x", "gamma_y")]
    J = np.array([[-g[0] / c**2, 1 / c, 0.0], [-g[1] / c**2, 0.0, 1 / c]])  # ∂v/∂(c, γ)
    Cv = J @ C[np.ix_(ix, ix)] @ J.T
    v = g / c
    speed = float(np.linalg.norm(v))
    u = v / speed
    across = np.array([-u[1], u[0]])
    sd_speed = math.sqrt(u @ Cv @ u)
    sd_dir = math.degrees(math.sqrt(across @ Cv @ across) / speed)
    return {"se": se, "speed": speed, "speed_rel_sd": sd_speed / speed,
            "direction_sd_deg": sd_dir,
            "median_abs_log_speed": 0.674 * sd_speed / speed,
            "median_direction_error_deg": 0.674 * sd_dir}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--times", type=int, default=40)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--sets", type=int, default=5, help="the study's data sets 0..sets-1")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = []
    for i in range(a.sets):
        th = truth(i) | {"tau": 1.0}
        pts, t = design(i, a.stations, a.times, a.dt, a.seed)
        t0 = time.perf_counter()
        b = bound(th, information(th, pts, t))
        b |= {"set": i, "truth": th, "seconds": time.perf_counter() - t0}
        out.append(b)
        print(json.dumps(b), flush=True)


if __name__ == "__main__":
    main()
