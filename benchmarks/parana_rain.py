#!/usr/bin/env python
"""Flexible SPDE models on data no one here tuned to: the Paraná rainfall of 2011.

The mean daily rainfall of 2011 (mm/day) at the gauges of ``../shared/data/parana_rain``
(R-INLA's ``PRprec``; gauges with at least 300 days), on planar km (an equirectangular
projection about the gauges' centre), with the altitude as a covariate. A random fifth of the
gauges is held out first (seed 0) and never used for any choice. Every candidate is fitted on
the other gauges; the model is chosen by 10-fold cross-validated CRPS on those training gauges
only (``fieldfit.cross_validate`` at the fitted parameters), and all candidates are then
scored on the held-out gauges, so the table shows what the choice was worth:

- the stationary SPDE field (ν = 1), the integer order: the reference;
- ν estimated by the rational approximation (``--rational-order 2``);
- κ varying in space (``--field kappa=bspline:4x4``) and τ too (``tau=bspline:4x4``);
- κ linear in the altitude (``--field kappa=covariates:altitude``);
- the sum of a long- and a short-range field (``matern2``);
- a mean linear in the coordinates and the altitude, with the stationary field;
- the exact Gaussian process with ν estimated (the peer engine).

    .venv/bin/python benchmarks/parana_rain.py --out benchmarks/results/parana_rain.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, md_table  # noqa: E402

import fieldfit as ff  # noqa: E402
from fieldfit.diagnostics import score_all  # noqa: E402
from fieldfit.io import write_atomic  # noqa: E402
from fieldfit.models import build  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "parana_rain"
EDGE = (25.0, 80.0)  # mesh edges (km) inside and outside the gauges' hull


def gauges(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path / "PRprec_long_nonNA.parquet")
    g = df.groupby("station").agg(lon=("lon", "first"), lat=("lat", "first"),
                                  altitude=("altitude", "first"), days=("precip_mm", "size"),
                                  rain=("precip_mm", "mean")).reset_index()
    g = g[(g["days"] >= 300) & g["altitude"].notna()].reset_index(drop=True)
    lon0, lat0 = g["lon"].mean(), g["lat"].mean()
    g["x_km"] = (g["lon"] - lon0) * 111.32 * math.cos(math.radians(lat0))
    g["y_km"] = (g["lat"] - lat0) * 110.57
    return g


def candidates() -> dict:
    spde = {"engine": "spde", "mesh_max_edge": list(EDGE), "mean": "linear"}
    return {
        "SPDE ν = 1 (stationary)": (lambda: build("matern", **spde), False),
        "SPDE ν estimated (rational, m = 2)": (
            lambda: build("matern", rational_order=2, **spde), False),
        "SPDE κ(s) B-spline 4×4": (
            lambda: build("matern", fields=["kappa=bspline:4x4"], **spde), False),
        "SPDE κ(s), τ(s) B-splines 4×4": (
            lambda: build("matern", fields=["kappa=bspline:4x4", "tau=bspline:4x4"],
                          **spde), False),
        "SPDE κ linear in altitude": (
            lambda: build("matern", fields=["kappa=covariates:altitude"], **spde), True),
        "SPDE two scales (matern2)": (
            lambda: build("matern2", engine="spde", mesh_max_edge=list(EDGE), mean="linear"),
            False),
        "SPDE ν = 1, mean + altitude": (
            lambda: build("matern", engine="spde", mesh_max_edge=list(EDGE),
                          mean="linear+covariates"), True),
        "exact GP, ν estimated": (lambda: build("matern", mean="linear"), False),
    }


def observations(frame: pd.DataFrame, with_altitude: bool, values: bool = True):
    return ff.Observations.from_dataframe(
        frame, coords=["x_km", "y_km"], value="rain" if values else None,
        covariates=["altitude"] if with_altitude else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    g = gauges(a.data)
    rng = np.random.default_rng(a.seed)
    held = np.zeros(len(g), bool)
    held[rng.choice(len(g), int(round(a.holdout * len(g))), replace=False)] = True
    train, test = g[~held], g[held]
    print(f"{len(g)} gauges: {len(train)} for fitting and choosing, {len(test)} held out",
          flush=True)
    rows, out = [], {"gauges": len(g), "train": len(train), "held_out": len(test),
                     "candidates": {}}
    for name, (make, altitude) in candidates().items():
        t0 = time.perf_counter()
        model = make()
        obs = observations(train, altitude)
        result = ff.fit(model, obs, restarts=2, progress=False)
        cv, _ = ff.cross_validate(model, obs, result, folds=a.folds, seed=a.seed)
        pred = ff.krige(model, obs, observations(test, altitude, values=False), result)
        s = score_all(test["rain"].to_numpy(), pred["mean"].to_numpy(),
                      pred["sd"].to_numpy(), level=0.95)
        seconds = time.perf_counter() - t0
        loglik = float(model.log_likelihood(obs, result.params))
        out["candidates"][name] = {
            "cv": {k: float(cv[k]) for k in ("crps", "rmse", "coverage")},
            "held_out": {k: float(s[k]) for k in ("crps", "rmse", "coverage")},
            "loglik": loglik, "free": result.n_free, "seconds": seconds,
            "params": {k: float(v) for k, v in result.params.items()}}
        print(f"{name}: CV CRPS {cv['crps']:.4f}, held-out CRPS {s['crps']:.4f} RMSE "
              f"{s['rmse']:.4f} ({seconds:.0f} s)", flush=True)
    chosen = min(out["candidates"], key=lambda n: out["candidates"][n]["cv"]["crps"])
    out["chosen"] = chosen
    for name, c in out["candidates"].items():
        rows.append([("**" + name + "**") if name == chosen else name, c["free"],
                     f"{c['loglik']:.1f}", f"{c['cv']['crps']:.4f}",
                     f"{c['held_out']['crps']:.4f}", f"{c['held_out']['rmse']:.4f}",
                     f"{c['held_out']['coverage']:.3f}", f"{c['seconds']:.0f}"])
    text = ("# Paraná rainfall 2011: flexible SPDE models, chosen by cross-validation\n\n"
            + md_table(["", ""], machine_info(1, "", "")) + "\n\n"
            + md_table(["model", "parameters", "log-likelihood", "CV CRPS (training)",
                        "held-out CRPS", "held-out RMSE", "held-out 95 % coverage", "s"],
                       rows)
            + f"\n\nChosen by CV CRPS on the {len(train)} training gauges: **{chosen}**.\n")
    write_atomic(a.out, json.dumps(out, indent=1) + "\n")
    write_atomic(a.out.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
