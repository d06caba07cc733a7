#!/usr/bin/env python
"""The advection–diffusion estimators' efficiency against the Cramér–Rao bound.

For each data set of an ``ad_continuum_study.py`` run (its ``.sets.jsonl``), the exact Fisher
information of the continuous SPDE at the truth and the set's design
(:func:`ad_information.information`) gives the bound's standard deviation sd_i(θ) of every
unbiased estimator. The efficiency of an estimator θ̂ is the bound's variance over its mean
squared error, pooled over the data sets in bound units::

    eff(θ) = 1 / mean_i[((θ̂_i − θ_i) / sd_i(θ))²],

so a biased estimator loses efficiency by its bias as well as by its spread, and sets with
different truths pool (each is measured against its own bound). An efficiency near 1 is the
bound; 30 sets give it within about ±25 % (the mean of 30 squared standard normals has a
relative sd of 26 %).

The bound is computed once per parameter setting of the study (its five settings cycle), on the
design of the first data set with that setting: the stations are uniform draws of the same
region, so the bound changes little between sets of one setting. Beyond ``--max-direct`` times the
information is extrapolated linearly in the series length from two shorter series (``T₁`` and
``2T₁``): for series much longer than the slowest mode's memory c/κ² the information grows by
the same amount per step.

    .venv/bin/python benchmarks/ad_efficiency.py /tmp/study/hi-100x40.sets.jsonl \\
        --stations 100 --times 40 --tau 5 --out ad-efficiency-hi-40.json

The estimates reported by ``fieldfit fit`` (the continuum-corrected ones) and, where the study
kept them, the fit's own (``raw``) are both scored.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from ad_continuum_study import truth
from ad_information import NAMES, design, information

SCORED = ("kappa", "c", "gamma_x", "gamma_y", "tau", "nugget")


def bound_sd(setting: int, stations: int, times: int, dt: float, seed: int, tau: float,
             max_direct: int) -> dict:
    """The bound's sd per parameter for the study's setting at ``times`` steps."""
    th = truth(setting) | {"tau": tau}
    pts, _ = design(setting, stations, times, dt, seed)
    if times <= max_direct:
        info = information(th, pts, np.arange(times) * dt)
    else:
        short = max_direct // 2
        i1 = information(th, pts, np.arange(short) * dt)
        i2 = information(th, pts, np.arange(2 * short) * dt)
        info = i2 + (i2 - i1) * (times - 2 * short) / short
    sd = np.sqrt(np.diag(np.linalg.inv(info)))
    return dict(zip(NAMES, sd.tolist(), strict=True))


def efficiency(rows: list[dict], sds: dict[int, dict], which: str) -> dict:
    """eff per parameter over ``rows`` for the estimates ``which`` ("params" or "raw")."""
    out = {}
    for k in SCORED:
        z2 = []
        for r in rows:
            est = r["params"] if which == "params" else r["raw"]["params"]
            z2.append(((est[k] - r["truth"][k]) / sds[r["set"] % 5][k]) ** 2)
        out[k] = 1.0 / float(np.mean(z2))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sets", type=Path, help="a study's .sets.jsonl")
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--times", type=int, default=40)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tau", type=float, default=1.0)
    ap.add_argument("--max-direct", type=int, default=80,
                    help="the longest series whose information is computed directly")
    ap.add_argument("--bounds", type=Path, default=None,
                    help="a JSON file of the bound's sd per setting: read when it exists, "
                    "else computed and written there")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    rows = [json.loads(line) for line in a.sets.read_text().splitlines() if line.strip()]
    for r in rows:
        r["truth"] = {**r["truth"], "tau": a.tau}
    if a.bounds is not None and a.bounds.exists():
        sds = {int(k): v for k, v in json.loads(a.bounds.read_text()).items()}
    else:
        sds = {s: bound_sd(s, a.stations, a.times, a.dt, a.seed, a.tau, a.max_direct)
               for s in sorted({r["set"] % 5 for r in rows})}
        if a.bounds is not None:
            a.bounds.write_text(json.dumps(sds) + "\n")
    report = {"n_sets": len(rows), "bound_sd": sds,
              "efficiency": efficiency(rows, sds, "params")}
    if all("raw" in r for r in rows):
        report["efficiency_raw"] = efficiency(rows, sds, "raw")
    report["settings"] = {k: str(v) for k, v in vars(a).items()}
    text = json.dumps(report, indent=1)
    print(text)
    if a.out is not None:
        a.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
