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
(:func:`fieldfit.fit.substeps.fit_auto_substeps`) and records the substeps chosen;
``"refine_mesh": true`` adds ``--refine-mesh`` (the search over both kinds, or the mesh alone
without ``"substeps": "auto"``) and records the mesh nodes chosen.

``--check`` runs the discretisation check after each fit, as ``fieldfit fit`` does by default
(``AdvectionDiffusionField.discretisation_check``: one Newton step on twice the substeps and on
a mesh with √2 shorter edges), and records each refinement's shift. The summary then also
gives, per parameter, the median signed shift and the median log error of the Richardson
estimate θ̂ + 2 Δ_mesh + (4/3) Δ_time (second-order errors in h and Δt: refining h by √2
halves the mesh error, halving Δt quarters the time error), the estimate the discretisation
would give in the limit if both errors were in their asymptotic regime.

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


def simulate_set(i: int, stations: int, times: int, dt: float, seed: int, tau: float = 1.0,
                 modes: int = 64):
    """Data set ``i``: its truth, the simulator, stations ``(n, 2)``, times ``(T,)`` and
    values ``(T, n)`` (the spectral series on a 10 × 10 periodic box, stations in [2, 8]²)."""
    from fieldfit.spde.spectral import SpectralAdvectionDiffusion

    th = truth(i)
    sim = SpectralAdvectionDiffusion(10.0, 10.0, modes, modes, kappa=th["kappa"], c=th["c"],
                                     tau=tau,
                                     gamma=(th["gamma_x"], th["gamma_y"]))
    rng = np.random.default_rng(seed + i)
    pts = rng.uniform(2.0, 8.0, size=(stations, 2))
    t = np.arange(times) * dt
    z = sim.sample_at(pts, t, seed=seed + 1000 + i, nugget=th["nugget"])[0]   # (n_t, n)
    return th, sim, pts, t, z


def one(i: int, stations: int, times: int, dt: float, seed: int, options: dict,
        check: bool = False, tau: float = 1.0, modes: int = 64) -> dict:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from fieldfit.data import Observations
    from fieldfit.fit import fit
    from fieldfit.models import build

    th, sim, pts, t, z = simulate_set(i, stations, times, dt, seed, tau, modes)
    obs = Observations(coords=np.tile(pts, (times, 1)), times=np.repeat(t, stations),
                       values=z.ravel())
    t0 = time.perf_counter()
    options = dict(options)
    continuum = bool(options.pop("continuum", False))          # fit --continuum
    refine_mesh = bool(options.pop("refine_mesh", False))     # fit --refine-mesh
    auto_time = options.get("substeps") == "auto"             # fit --substeps auto
    auto = auto_time or refine_mesh
    if auto:
        from fieldfit.fit.substeps import fit_auto_substeps

        options["substeps"] = 1
        kinds = (("time",) if auto_time else ()) + (("mesh",) if refine_mesh else ())
        model, res, search = fit_auto_substeps(build("advection-diffusion", **options), obs,
                                               restarts=2, progress=False, kinds=kinds)
    else:
        model = build("advection-diffusion", **options)
        res = fit(model, obs, restarts=2, progress=False)
    if continuum:  # as fieldfit fit: the fit's own estimates where the correction fails
        from fieldfit.models import continuum_result

        t1 = time.perf_counter()
        raw = res
        res = continuum_result(model, obs, raw)
        cont = res.discretisation["continuum"]
        out_raw = {"params": raw.params, "intervals": {k: list(raw.confidence_interval(k))
                                                       for k in th},
                   "correction_seconds": time.perf_counter() - t1,
                   "error": cont.get("error"), "iterations": cont.get("iterations"),
                   "residual_se": cont.get("residual_se")}
    out = {"set": i, "truth": th, "params": res.params, "stderr": res.stderr,
           "seconds": time.perf_counter() - t0, "converged": res.converged,
           "on_edge": res.on_edge,
           "intervals": {k: list(res.confidence_interval(k)) for k in th},
           "field_variance": sim.continuum_marginal_variance()}
    if continuum:
        out["raw"] = out_raw
    if check:
        t1 = time.perf_counter()
        ch = model.discretisation_check(obs, res.params, hessian=res.hessian)
        out["check"] = {kind: {k: r[k] for k in ("estimates", "shift", "shift_se")}
                        for kind, r in ch["refined"].items()}
        out["check_seconds"] = time.perf_counter() - t1
    if auto:
        out["mesh_nodes"] = search["mesh_nodes"]
        out["substeps"] = search["chosen"]
        out["substeps_steps"] = [{k: s[k] for k in ("substeps", "mesh_nodes", "max_shift_se",
                                                    "worst", "shifts_se", "next")}
                                 for s in search["steps"]]
    return out


def _check_summary(rows: list[dict], speed) -> dict:
    """Median signed relative shifts per refinement, and the median (signed and absolute) log
    error of the fitted and the Richardson-extrapolated estimates (module docstring)."""
    def ext(r):
        p = dict(r["params"])
        for kind, w in (("mesh", 2.0), ("time", 4.0 / 3.0)):
            if kind in r["check"]:
                for k, v in r["check"][kind]["estimates"].items():
                    p[k] = p[k] + w * (v - r["params"][k])
        return p

    names = {"kappa": lambda p: p["kappa"], "c": lambda p: p["c"], "speed": speed}
    out = {"n": len(rows), "median_shift": {}, "median_log_error": {}}
    for kind in ("time", "mesh"):
        have = [r for r in rows if kind in r["check"]]
        out["median_shift"][kind] = {
            k: float(np.median([f(r["check"][kind]["estimates"]) / f(r["params"]) - 1
                                for r in have])) for k, f in names.items()} if have else None
    for label, get in (("fitted", lambda r: r["params"]), ("extrapolated", ext)):
        logs = {k: [math.log(f(get(r)) / f(r["truth"])) for r in rows
                    if f(get(r)) > 0] for k, f in names.items()}
        out["median_log_error"][label] = {
            k: {"signed": float(np.median(v)), "abs": float(np.median(np.abs(v)))}
            for k, v in logs.items()}
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
    if any("raw" in r for r in rows):  # the fit's own estimates, before the correction
        raw = [{**{k: v for k, v in r.items() if k != "raw"}, **r["raw"]} for r in rows
               if "raw" in r]
        out["raw"] = {k: v for k, v in summarise(raw, dt, times).items()
                      if k in ("median_abs_log_error", "coverage_95")}
        out["median_correction_seconds"] = float(np.median([r["correction_seconds"]
                                                            for r in raw]))
    if rows and "field_variance" in rows[0]:
        out["median_field_variance"] = float(np.median([r["field_variance"] for r in rows]))
    checked = [r for r in rows if "check" in r]
    if checked:
        out["check"] = _check_summary(checked, speed)
    chosen = [r["substeps"] for r in rows if "substeps" in r]
    if chosen:
        out["substeps_chosen"] = {str(s): chosen.count(s) for s in sorted(set(chosen))}
    nodes = [r["mesh_nodes"] for r in rows if r.get("mesh_nodes") is not None]
    if nodes:
        out["mesh_nodes_chosen"] = {"median": float(np.median(nodes)), "max": int(max(nodes))}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", type=int, default=30)
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--times", type=int, default=40)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", type=int, default=64, help="grid points per axis of the "
                    "simulator on [0, 10)² (64: modes up to |ω| = 20; the field's variance above "
                    "that, κ²σ²/400, is missing from the data)")
    ap.add_argument("--tau", type=float, default=1.0, help="the SPDE's scale τ: 1 gives a "
                    "field variance of about 0.04/κ² (below the nugget), 5 about 1/κ²")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("ad-study.json"))
    ap.add_argument("--options", default="{}", help="model options as JSON, e.g. "
                    "'{\"substeps\": 2}' (default: the CLI's defaults)")
    ap.add_argument("--check", action="store_true", help="run the discretisation check "
                    "after each fit and record its shifts")
    a = ap.parse_args(argv)
    from tqdm import tqdm

    done_path = a.out.with_suffix(".sets.jsonl")
    rows = ([json.loads(line) for line in done_path.read_text().splitlines() if line.strip()]
            if done_path.exists() else [])
    todo = [i for i in range(a.sets) if i not in {r["set"] for r in rows}]
    with ProcessPoolExecutor(a.workers) as pool, open(done_path, "a") as log:
        options = json.loads(a.options)
        futures = [pool.submit(one, i, a.stations, a.times, a.dt, a.seed, options, a.check,
                               a.tau, a.modes)
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
