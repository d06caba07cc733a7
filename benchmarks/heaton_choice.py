#!/usr/bin/env python
"""Which model and which estimation subsample for the Heaton data: validation on observed
cells, and (for the simulated twin, whose truth is bundled) the test cells' own scores.

Each candidate (a model and the number of observed cells its parameters are estimated on;
every observed cell conditions the predictions) is scored by
``fieldfit.bench.heaton_validation.choose_model`` on validation sets made by shifting the test
mask onto observed cells. For the simulated twin the same candidate is then fitted on all
observed cells' subsample and scored on the test cells against ``TrueTemp``, which says
whether the validation ranks candidates as the test does.

    .venv/bin/python benchmarks/heaton_choice.py --dataset simulated satellite \\
        --sizes 2000 5000 10000 20000 --out benchmarks/results/heaton_choice.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fieldfit import datasets
from fieldfit.bench.heaton_validation import choose_model
from fieldfit.data import Observations
from fieldfit.diagnostics import score_all
from fieldfit.fit import fit
from fieldfit.io import write_atomic
from fieldfit.models import build
from fieldfit.predict import krige

#: the data's coordinates are MODIS sinusoidal metres / 1e5, planar (fieldfit/_data/README.md);
#: "lonlat" reads them as degrees (the first run of this study did, by mistake)
CRS = "planar"
CASES = {"simulated": ("heaton-modis-simulated", "MaskTemp", "TrueTemp"),
         "satellite": ("heaton-modis", "Temp", None)}


def factory(model: str):
    """``matern``, ``matern2``, or ``matern-anisotropic`` (a geometric anisotropy)."""
    name, _, aniso = model.partition("-")
    return lambda: build(name, engine="vecchia", neighbours=30, mean="linear", crs=CRS,
                         **({"anisotropic": True} if aniso else {}))


def test_scores(df, value, truth, model, size, seed):
    """Fit on ``size`` observed cells, predict every test cell from all observed ones."""
    observed = np.flatnonzero(df[value].notna().to_numpy())
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(observed, min(size, len(observed)), replace=False))
    coords = ["Lon", "Lat"]
    m = factory(model)()
    result = fit(m, Observations.from_dataframe(df.iloc[rows], coords=coords, value=value),
                 restarts=0, progress=False, stderr=False)
    train = Observations.from_dataframe(df.iloc[observed], coords=coords, value=value)
    test = df[value].isna().to_numpy()
    targets = Observations.from_dataframe(df.loc[test, coords], coords=coords, value=None)
    pred = krige(m, train, targets, result)
    s = score_all(df.loc[test, truth].to_numpy(), pred["mean"].to_numpy(),
                  pred["sd"].to_numpy(), level=0.95)
    return {k: float(s[k]) for k in ("crps", "rmse", "coverage")}, result.params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", nargs="+", default=["simulated", "satellite"])
    ap.add_argument("--models", nargs="+", default=["matern", "matern2"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--crs", default="planar", choices=["planar", "lonlat"])
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    global CRS
    CRS = a.crs
    out = json.loads(a.out.read_text()) if a.out.exists() else {}  # resumable per entry
    for name in a.dataset:
        dataset, value, truth = CASES[name]
        df = datasets.load(dataset)
        for model in a.models:
            for size in a.sizes:
                key = f"{name}/{model}/{size}"
                if key in out:
                    continue
                t0 = time.perf_counter()
                choice = choose_model(df, value, {model: (factory(model), size)},
                                      folds=a.folds, seed=a.seed)
                entry = {"validation": choice["scores"][model], "folds": choice["folds"]}
                if truth is not None:
                    entry["test"], params = test_scores(df, value, truth, model, size, a.seed)
                    entry["params"] = params
                entry["seconds"] = time.perf_counter() - t0
                out[key] = entry
                print(key, json.dumps(entry, default=float), flush=True)
                write_atomic(a.out, json.dumps(out, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
