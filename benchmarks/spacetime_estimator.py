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
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

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
    args = ap.parse_args()
    est = load_estimator(args.estimator)
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
              "machine": machine_info(), "command": " ".join(sys.argv)}
    write_atomic(args.out, json.dumps(result, indent=1).encode())
    print(md_table(["quantity", "scale", "bias", "RMSE", "90 % coverage", "median width"],
                   rows))
    print(f"coverage band (95 %) for {len(samples)} sets: [{lo_band:.3f}, {hi_band:.3f}]")
    print(f"direction: {int(fast.sum())} datasets with speed > range over the series; "
          f"{result['direction']['within_20_degrees']} within 20°, median error "
          f"{result['direction']['median_error_degrees']}°")
    print(f"{seconds / len(samples) * 1000:.1f} ms per estimate ({len(samples)} datasets in "
          f"{seconds:.1f} s, 2000 posterior draws each)")


if __name__ == "__main__":
    main()
