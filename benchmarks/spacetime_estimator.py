#!/usr/bin/env python
"""Benchmark: a space-time (advection–diffusion) neural estimator on held-out simulations.

Simulates ``--sets`` datasets from the estimator's own prior and design (with ``--seed``, 11
by default: the shipped estimator was trained with seed 0, validated with seed 1; written to a
resumable Zarr store, ``--store``), estimates them through the public path (tables x, y, t, z →
``SpaceTimeEstimator.estimate``: rescaling, standardisation, posterior draws, the map back)
and reports, per reported quantity: bias, RMSE (of log for positive quantities), the 90 %
intervals' coverage with its binomial 95 % band, and the median interval width; the velocity
direction's error for datasets whose speed exceeds one spatial range over the series (the
share within 20°); and the time per estimate.

    .venv/bin/python benchmarks/spacetime_estimator.py --estimator advection-diffusion \
        --sets 200 --store /tmp/st-eval --out benchmarks/results/spacetime_estimator.json

With ``--mle SETS.jsonl`` (the per-set records of ``benchmarks/ad_continuum_study.py``, with
its ``--stations --times --dt --seed --tau --modes``) it also regenerates those data sets
exactly (``ad_continuum_study.simulate_set``: data the estimator's own simulator did not make)
and compares the network with the recorded AD-MLE on the same sets, per parameter: bias,
RMSE of log for positive parameters and their ratio to the MLE's with a paired bootstrap 90 %
interval, the network's 90 % coverage beside the MLE's 95 % (as recorded), the direction's
error and the time per estimate.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, md_table  # noqa: E402

from fieldfit.io import write_atomic  # noqa: E402
from fieldfit.models.ad_scaling import params_from_derived  # noqa: E402
from fieldfit.neural import load_estimator  # noqa: E402
from fieldfit.neural.spacetime_estimator import DERIVED_COLUMNS, MODEL_COLUMNS  # noqa: E402
from fieldfit.neural.store import load_samples, simulate_to_zarr  # noqa: E402

#: quantities compared on the log scale (positive)
POSITIVE = ("kappa", "c", "tau", "nugget", "range", "memory", "speed", "marginal_variance")


def truth_of(spec, theta) -> dict[str, float]:
    """Every reported quantity of one prior draw (unit scales: the data's own units)."""
    coords = {**spec.prior.fixed, **dict(zip(spec.prior.names, map(float, theta), strict=True))}
    o = spec.model_.options
    p = params_from_derived(coords, o["alpha"], o["alpha_s"])
    v = np.array([coords["velocity_x"], coords["velocity_y"]])
    return {**{k: p[k] for k in MODEL_COLUMNS if k in p}, **coords,
            "speed": float(np.hypot(*v)), "direction": float(np.degrees(np.arctan2(v[1], v[0])))}


def table_of(samples) -> pd.DataFrame:
    parts = []
    for j, s in enumerate(samples):
        T, n = s.values.shape
        parts.append(pd.DataFrame({"dataset": j, "x": np.tile(s.coords[:, 0], T),
                                   "y": np.tile(s.coords[:, 1], T),
                                   "t": np.repeat(s.times, n), "z": s.values.ravel()}))
    return pd.concat(parts, ignore_index=True)


def band(n: int, level: float = 0.9) -> tuple[float, float]:
    sd = np.sqrt(level * (1 - level) / n)
    return level - 1.96 * sd, level + 1.96 * sd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--estimator", default="advection-diffusion")
    ap.add_argument("--sets", type=int, default=200)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mle", type=Path, help="per-set records of ad_continuum_study.py")
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--times", type=int, default=40)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--study-seed", type=int, default=0)
    ap.add_argument("--tau", type=float, default=5.0)
    ap.add_argument("--modes", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(1)
    est = load_estimator(args.estimator)
    mle = (compare_with_mle(est, args.mle, args.stations, args.times, args.dt,
                            args.study_seed, args.tau, args.modes) if args.mle else None)
    if mle is not None:
        print(mle_report(mle))
    spec = est.spec
    path = simulate_to_zarr(spec, args.store, args.sets, seed=args.seed,
                            scheduler="synchronous", progress=True)
    samples = load_samples(path)
    df = table_of(samples)
    t0 = time.perf_counter()
    table = est.estimate(df, force=True)
    seconds = time.perf_counter() - t0
    truth = pd.DataFrame([truth_of(spec, s.theta) for s in samples])
    rows, summary = [], {}
    lo_band, hi_band = band(len(samples))
    for name in (*MODEL_COLUMNS, *DERIVED_COLUMNS):
        t, e = truth[name].to_numpy(), table[name].to_numpy()
        lower, upper = table[f"{name}_lower"].to_numpy(), table[f"{name}_upper"].to_numpy()
        if name == "direction":
            err = (e - t + 180.0) % 360.0 - 180.0
            off = (t - e + 180.0) % 360.0 - 180.0       # the truth about the estimate
            inside = (lower - e <= off) & (off <= upper - e)
        else:
            err = np.log(e / t) if name in POSITIVE else e - t
            inside = (lower <= t) & (t <= upper)
        s = {"bias": float(np.mean(err)), "rmse": float(np.sqrt(np.mean(err ** 2))),
             "coverage": float(np.mean(inside)),
             "width": float(np.median(np.log(upper / lower) if name in POSITIVE
                                      else upper - lower)),
             "scale": "log" if name in POSITIVE else "natural"}
        summary[name] = s
        rows.append([name, s["scale"], f"{s['bias']:+.3f}", f"{s['rmse']:.3f}",
                     f"{s['coverage']:.3f}", f"{s['width']:.3f}"])
    fast = truth["speed"].to_numpy() * 1.0 > truth["range"].to_numpy()   # series spans 1
    angle = np.abs((table["direction"].to_numpy() - truth["direction"].to_numpy() + 180.0)
                   % 360.0 - 180.0)[fast]
    result = {"estimator": str(args.estimator), "sets": len(samples), "seed": args.seed,
              "seconds_per_estimate": seconds / len(samples), "coverage_band": [lo_band, hi_band],
              "per_quantity": summary,
              "direction": {"datasets": int(fast.sum()),
                            "within_20_degrees": float(np.mean(angle <= 20.0)) if fast.any()
                            else None,
                            "median_error_degrees": float(np.median(angle)) if fast.any()
                            else None},
              "mle": mle,
              "machine": machine_info(1, f"torch {torch.__version__}",
                                      "OMP_NUM_THREADS and torch.set_num_threads(1)")}
    write_atomic(args.out, json.dumps(result, indent=1).encode())
    print(md_table(["quantity", "scale", "bias", "RMSE", "90 % coverage", "median width"],
                   rows))
    print(f"coverage band (95 %) for {len(samples)} sets: [{lo_band:.3f}, {hi_band:.3f}]")
    print(f"direction: {int(fast.sum())} datasets with speed > range over the series; "
          f"{result['direction']['within_20_degrees']} within 20°, median error "
          f"{result['direction']['median_error_degrees']}°")
    print(f"{seconds / len(samples) * 1000:.1f} ms per estimate ({len(samples)} datasets in "
          f"{seconds:.1f} s, 1000 posterior draws each)")


def compare_with_mle(est, sets_file: Path, stations: int, times: int, dt: float, seed: int,
                     tau: float, modes: int, boot: int = 2000) -> dict:
    """The network against the recorded AD-MLE on the study's own data sets."""
    from ad_continuum_study import simulate_set

    records = [json.loads(line) for line in sets_file.read_text().splitlines() if line.strip()]
    records.sort(key=lambda r: r["set"])
    rows = []
    for r in records:
        th, sim, pts, t, z = simulate_set(r["set"], stations, times, dt, seed, tau, modes)
        rows.append(pd.DataFrame({"dataset": r["set"], "x": np.tile(pts[:, 0], len(t)),
                                  "y": np.tile(pts[:, 1], len(t)), "t": np.repeat(t, len(pts)),
                                  "z": z.ravel()}))
    t0 = time.perf_counter()
    table = est.estimate(pd.concat(rows, ignore_index=True), force=True)
    seconds = (time.perf_counter() - t0) / len(records)
    rng = np.random.default_rng(0)
    out = {"sets": len(records), "seconds_per_estimate": seconds,
           "mle_median_seconds": float(np.median([r["seconds"] for r in records])),
           "per_parameter": {}}
    names = ("kappa", "c", "gamma_x", "gamma_y", "nugget", "speed", "direction")

    def speed(p):
        return float(np.hypot(p["gamma_x"], p["gamma_y"]) / p["c"])

    def direction(p):
        return float(np.degrees(np.arctan2(p["gamma_y"], p["gamma_x"])))

    for k in names:
        get = {"speed": speed, "direction": direction}.get(k, lambda p, k=k: p[k])
        truth_ = np.array([get(r["truth"]) for r in records])
        mle = np.array([get(r["params"]) for r in records])
        net = table[k].to_numpy()
        if k == "direction":
            e_net = (net - truth_ + 180) % 360 - 180
            e_mle = (mle - truth_ + 180) % 360 - 180
        elif k in ("kappa", "c", "nugget", "speed"):
            e_net, e_mle = np.log(net / truth_), np.log(mle / truth_)
        else:
            e_net, e_mle = net - truth_, mle - truth_
        idx = rng.integers(0, len(records), (boot, len(records)))
        ratios = np.sqrt((e_net[idx] ** 2).mean(1) / (e_mle[idx] ** 2).mean(1))
        entry = {"net_bias": float(e_net.mean()), "mle_bias": float(e_mle.mean()),
                 "net_rmse": float(np.sqrt((e_net ** 2).mean())),
                 "mle_rmse": float(np.sqrt((e_mle ** 2).mean())),
                 "rmse_ratio": float(np.sqrt((e_net ** 2).mean() / (e_mle ** 2).mean())),
                 "rmse_ratio_90": [float(np.quantile(ratios, 0.05)),
                                   float(np.quantile(ratios, 0.95))]}
        if k in ("kappa", "c", "gamma_x", "gamma_y", "nugget"):
            lo, hi = table[f"{k}_lower"].to_numpy(), table[f"{k}_upper"].to_numpy()
            entry["net_coverage_90"] = float(np.mean((lo <= truth_) & (truth_ <= hi)))
            entry["mle_coverage_95"] = float(np.mean([r["intervals"][k][0] <= r["truth"][k]
                                                      <= r["intervals"][k][1]
                                                      for r in records]))
        out["per_parameter"][k] = entry
    return out


def mle_report(cmp: dict) -> str:
    rows = [[k, f"{e['net_bias']:+.3f}", f"{e['mle_bias']:+.3f}", f"{e['net_rmse']:.3f}",
             f"{e['mle_rmse']:.3f}", f"{e['rmse_ratio']:.2f} [{e['rmse_ratio_90'][0]:.2f}, "
             f"{e['rmse_ratio_90'][1]:.2f}]", f"{e.get('net_coverage_90', float('nan')):.2f}",
             f"{e.get('mle_coverage_95', float('nan')):.2f}"]
            for k, e in cmp["per_parameter"].items()]
    return (md_table(["parameter", "bias net", "bias MLE", "RMSE net", "RMSE MLE",
                      "ratio [90 % bootstrap]", "net 90 % cov.", "MLE 95 % cov."], rows)
            + f"\n{cmp['seconds_per_estimate'] * 1000:.1f} ms per network estimate against "
              f"{cmp['mle_median_seconds']:.0f} s per MLE fit (median): "
              f"{cmp['mle_median_seconds'] / cmp['seconds_per_estimate']:.0f}× faster")


if __name__ == "__main__":
    main()
