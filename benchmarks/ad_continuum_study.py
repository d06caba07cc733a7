#!/usr/bin/env python
"""The advection–diffusion fit on exact continuum data: bias and interval coverage.

Each data set is an exact draw of the continuous SPDE (α = α_s = 1) from
:class:`fieldfit.spde.spectral.SpectralAdvectionDiffusion` on the periodic square [0, 10)²,
observed with noise at stations inside its central 60 %, at regular times; the parameters
(κ, c, γ, nugget) vary over data sets (a fixed design, below). Each is fitted with the
defaults of ``fieldfit fit --model advection-diffusion`` (τ free, H_scale fixed at 1), and the
study reports per parameter the median |log(θ̂/θ)| (κ, c, the speed |γ/c|), the velocity's
direction error where the speed exceeds one range over the series, and the coverage of the
95 % intervals (``FitResult.confidence_interval``).

    .venv/bin/python benchmarks/ad_continuum_study.py --sets 30 --stations 100 --times 40 \\
        --workers 2 --out ad-study.json

``--options '{"substeps": "auto"}'`` fits each set as ``fieldfit fit --substeps auto`` does
(:func:`fieldfit.fit.substeps.fit_auto_substeps`) and records the substeps chosen.

Progress is shown per data set; finished sets are kept in ``--out`` (JSON lines beside it), so
an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

#: the design: (κ, c, speed, direction in degrees, nugget) cycled over data sets
DESIGN = [(1.0, 1.0, 1.58, 18.4, 0.05), (0.7, 1.0, 1.0, 120.0, 0.05),
          (1.4, 0.7, 2.0, -60.0, 0.1), (1.0, 1.5, 0.5, 200.0, 0.02),
          (0.8, 0.8, 1.2, 45.0, 0.05)]


def truth(i: int) -> dict:
    kappa, c, speed, deg, nugget = DESIGN[i % len(DESIGN)]
    v = speed * np.array([math.cos(math.radians(deg)), math.sin(math.radians(deg))])
    return {"kappa": kappa, "c": c, "gamma_x": float(c * v[0]), "gamma_y": float(c * v[1]),
            "nugget": nugget}


def one(i: int, stations: int, times: int, dt: float, seed: int, options: dict) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fieldfit.data import Observations
    from fieldfit.fit import fit
    from fieldfit.models import build
    from fieldfit.spde.spectral import SpectralAdvectionDiffusion

    th = truth(i)
    sim = SpectralAdvectionDiffusion(10.0, 10.0, 64, 64, kappa=th["kappa"], c=th["c"], tau=1.0,
                                     gamma=(th["gamma_x"], th["gamma_y"]))
    rng = np.random.default_rng(seed + i)
    pts = rng.uniform(2.0, 8.0, size=(stations, 2))
    t = np.arange(times) * dt
    z = sim.sample_at(pts, t, seed=seed + 1000 + i, nugget=th["nugget"])[0]   # (n_t, n)
    obs = Observations(coords=np.tile(pts, (times, 1)), times=np.repeat(t, stations),
                       values=z.ravel())
    t0 = time.perf_counter()
    options = dict(options)
    auto = options.get("substeps") == "auto"    # fit --substeps auto
    if auto:
        from fieldfit.fit.substeps import fit_auto_substeps

        options["substeps"] = 1
        _, res, search = fit_auto_substeps(build("advection-diffusion", **options), obs,
                                           restarts=2, progress=False)
    else:
        res = fit(build("advection-diffusion", **options), obs, restarts=2, progress=False)
    out = {"set": i, "truth": th, "params": res.params, "stderr": res.stderr,
           "seconds": time.perf_counter() - t0, "converged": res.converged,
           "on_edge": res.on_edge,
           "intervals": {k: list(res.confidence_interval(k)) for k in th}}
    if auto:
        out["substeps"] = search["chosen"]
        out["substeps_steps"] = [{k: s[k] for k in ("substeps", "max_shift_se", "worst")}
                                 for s in search["steps"]]
    return out


def summarise(rows: list[dict], dt: float, times: int) -> dict:
    def logerr(f):
        return float(np.median([abs(math.log(f(r["params"]) / f(r["truth"]))) for r in rows]))

    def speed(p):
        return math.hypot(p["gamma_x"], p["gamma_y"]) / p["c"]

    out = {"n": len(rows),
           "median_abs_log_error": {"kappa": logerr(lambda p: p["kappa"]),
                                    "c": logerr(lambda p: p["c"]), "speed": logerr(speed)},
           "coverage_95": {}, "direction_error_deg": [], "median_seconds":
           float(np.median([r["seconds"] for r in rows]))}
    for k in ("kappa", "c", "gamma_x", "gamma_y", "nugget"):
        hits = [lo <= r["truth"][k] <= hi for r in rows
                for lo, hi in [r["intervals"][k]] if np.isfinite(lo) and np.isfinite(hi)]
        out["coverage_95"][k] = float(np.mean(hits)) if hits else None
    for r in rows:
        tr, p = r["truth"], r["params"]
        # the speed exceeds one range (1/κ) over the series
        if speed(tr) * dt * times > 1.0 / tr["kappa"]:
            a = math.degrees(math.atan2(p["gamma_y"], p["gamma_x"])
                             - math.atan2(tr["gamma_y"], tr["gamma_x"]))
            out["direction_error_deg"].append(abs((a + 180) % 360 - 180))
    d = out["direction_error_deg"]
    out["direction_within_10deg"] = float(np.mean([e <= 10 for e in d])) if d else None
    chosen = [r["substeps"] for r in rows if "substeps" in r]
    if chosen:
        out["substeps_chosen"] = {str(s): chosen.count(s) for s in sorted(set(chosen))}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", type=int, default=30)
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--times", type=int, default=40)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("ad-study.json"))
    ap.add_argument("--options", default="{}", help="model options as JSON, e.g. "
                    "'{\"substeps\": 2}' (default: the CLI's defaults)")
    a = ap.parse_args(argv)
    from tqdm import tqdm

    done_path = a.out.with_suffix(".sets.jsonl")
    rows = ([json.loads(line) for line in done_path.read_text().splitlines() if line.strip()]
            if done_path.exists() else [])
    todo = [i for i in range(a.sets) if i not in {r["set"] for r in rows}]
    with ProcessPoolExecutor(a.workers) as pool, open(done_path, "a") as log:
        options = json.loads(a.options)
        futures = [pool.submit(one, i, a.stations, a.times, a.dt, a.seed, options)
                   for i in todo]
        for f in tqdm(as_completed(futures), total=len(futures), desc="data sets"):
            r = f.result()
            rows.append(r)
            log.write(json.dumps(r) + "\n")
            log.flush()
    summary = summarise(sorted(rows, key=lambda r: r["set"]), a.dt, a.times)
    a.out.write_text(json.dumps({"settings": vars(a) | {"out": str(a.out)},
                                 "summary": summary}, indent=1, default=str))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
