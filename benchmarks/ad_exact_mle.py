#!/usr/bin/env python
"""The exact continuum MLE of one study data set, beside the finite-element fit: whose bias?

Data set ``--set`` of ``ad_continuum_study.py`` (its design, ``--tau``) is fitted three ways:

- ``fieldfit.fit`` with the defaults of ``fieldfit fit --model advection-diffusion``, and
  its continuum correction (``model.continuum_correction``, ``--method``);
- the exact MLE of the continuous SPDE: the dense covariance of
  ``SpectralAdvectionDiffusion.covariance_matrix`` on the periodic box ``--box`` (10: the
  simulator's own; 20: practically the plane) with ``--modes`` per axis, plus the nugget, the
  constant mean profiled by GLS, maximised by L-BFGS-B in (log κ, log c, log τ, γ, log nugget)
  from the truth.

It prints the three estimates and the exact log-likelihood of the finite-element estimate
below the exact maximum. Cost: a dense Cholesky of n = stations × times per evaluation (100 ×
40: about 1 s, 130 evaluations).

    .venv/bin/python benchmarks/ad_exact_mle.py --set 0 --tau 5 --box 20 --modes 64

``--sets N --out FILE`` fits the exact MLE alone to data sets 0 … N − 1 on the simulator's own
box (``--box 10 --modes 64``: the data's exact likelihood) and appends one JSON line per set
(``set``, ``truth``, ``params``, ``seconds``), skipping sets already in FILE; the lines are
those of ``ad_continuum_study.py``, so ``ad_efficiency.py FILE`` scores the exact MLE against
the Cramér–Rao bound (is the bound attained at this size?).

    .venv/bin/python benchmarks/ad_exact_mle.py --sets 30 --tau 5 --box 10 \\
        --out exact-hi-40.sets.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import scipy.linalg as sl
import scipy.optimize as so
from ad_continuum_study import truth

NAMES = ("kappa", "c", "tau", "gamma_x", "gamma_y", "nugget")
LOGS = {"kappa", "c", "tau", "nugget"}


def data(i: int, stations: int, times: int, dt: float, tau: float, seed: int = 0):
    """The study's data set ``i``: (Observations, truth, stations, times)."""
    from fieldfit.data import Observations
    from fieldfit.spde.spectral import SpectralAdvectionDiffusion

    th = truth(i) | {"tau": tau}
    sim = SpectralAdvectionDiffusion(10.0, 10.0, 64, 64, kappa=th["kappa"], c=th["c"], tau=tau,
                                     gamma=(th["gamma_x"], th["gamma_y"]))
    rng = np.random.default_rng(seed + i)
    pts = rng.uniform(2.0, 8.0, size=(stations, 2))
    t = np.arange(times) * dt
    z = sim.sample_at(pts, t, seed=seed + 1000 + i, nugget=th["nugget"])[0]
    obs = Observations(coords=np.tile(pts, (times, 1)), times=np.repeat(t, stations),
                       values=z.ravel())
    return obs, th, pts, t


def exact_nll(u, pts, t, y, box: float, modes: int) -> float:
    """−ℓ of the continuum at u (constant mean profiled)."""
    from fieldfit.spde.spectral import SpectralAdvectionDiffusion

    p = {k: (math.exp(v) if k in LOGS else v) for k, v in zip(NAMES, u, strict=True)}
    sim = SpectralAdvectionDiffusion(box, box, modes, modes, kappa=p["kappa"], c=p["c"],
                                     tau=p["tau"], gamma=(p["gamma_x"], p["gamma_y"]))
    C = sim.covariance_matrix(pts, t)
    C[np.diag_indices_from(C)] += p["nugget"]
    try:
        cf = sl.cho_factor(C, lower=True)
    except np.linalg.LinAlgError:
        return 1e10
    one = np.ones_like(y)
    r = y - (one @ sl.cho_solve(cf, y)) / (one @ sl.cho_solve(cf, one))
    return float(0.5 * r @ sl.cho_solve(cf, r) + np.log(np.diag(cf[0])).sum()
                 + 0.5 * len(y) * math.log(2 * math.pi))


def pack(p: dict) -> np.ndarray:
    return np.array([math.log(p[k]) if k in LOGS else p[k] for k in NAMES])


def exact_mle(obs, th, pts, t, box: float, modes: int):
    """The exact MLE (natural values) from the truth, and scipy's result."""
    best = so.minimize(exact_nll, pack(th), args=(pts, t, obs.values, box, modes),
                       method="L-BFGS-B")
    return {k: (math.exp(v) if k in LOGS else v) for k, v in zip(NAMES, best.x, strict=True)}, best


def exact_sets(a) -> None:
    """The exact MLE of data sets 0 … a.sets − 1, one JSON line each in ``a.out``."""
    done = set()
    if a.out.exists():
        done = {json.loads(line)["set"] for line in a.out.read_text().splitlines() if line}
    for i in range(a.sets):
        if i in done:
            continue
        obs, th, pts, t = data(i, a.stations, a.times, a.dt, a.tau)
        t0 = time.perf_counter()
        est, best = exact_mle(obs, th, pts, t, a.box, a.modes)
        row = {"set": i, "truth": {k: v for k, v in th.items() if k != "tau"}, "params": est,
               "seconds": time.perf_counter() - t0, "evaluations": int(best.nfev),
               "converged": bool(best.success)}
        with a.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"set {i}: {row['seconds']:.0f} s, kappa {est['kappa']:.3f} "
              f"(truth {th['kappa']:.3f})", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", type=int, default=0)
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--times", type=int, default=40)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--tau", type=float, default=5.0)
    ap.add_argument("--box", type=float, default=20.0)
    ap.add_argument("--modes", type=int, default=64)
    ap.add_argument("--method", default="simulation", choices=("simulation", "window"))
    ap.add_argument("--sets", type=int, default=None,
                    help="fit the exact MLE alone to sets 0 … N − 1 (with --out)")
    ap.add_argument("--out", type=Path, default=None, help="JSON lines, one per set")
    a = ap.parse_args(argv)
    if a.sets is not None:
        if a.out is None:
            ap.error("--sets needs --out")
        exact_sets(a)
        return
    from fieldfit.fit import fit
    from fieldfit.models import build

    obs, th, pts, t = data(a.set, a.stations, a.times, a.dt, a.tau)
    model = build("advection-diffusion")
    t0 = time.perf_counter()
    res = fit(model, obs, restarts=2, progress=False)
    t1 = time.perf_counter()
    corr = model.continuum_correction(obs, res.params, hessian=res.hessian)
    t2 = time.perf_counter()
    exact, best = exact_mle(obs, th, pts, t, a.box, a.modes)
    t3 = time.perf_counter()
    rows = {"truth": th, "finite-element fit": res.params,
            "continuum-corrected": {**res.params, **corr["estimates"]}, "exact MLE": exact}
    print(f"{'':22s}" + "".join(f"{k:>10s}" for k in NAMES))
    for name, p in rows.items():
        print(f"{name:22s}" + "".join(f"{float(p[k]):10.4f}" for k in NAMES))
    gap = exact_nll(pack(res.params), pts, t, obs.values, a.box, a.modes) - best.fun
    print(f"exact −ℓ of the finite-element estimate above the exact maximum: {gap:.1f}")
    print(f"seconds: fit {t1 - t0:.1f}, correction {t2 - t1:.1f}, exact MLE {t3 - t2:.1f} "
          f"({best.nfev} evaluations)")


if __name__ == "__main__":
    main()
