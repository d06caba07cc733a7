"""Conformal calibration of a quantile estimator's intervals on fresh simulations
(``QuantileEstimator.calibrate``: normalised conformalized quantile regression). The shipped
``matern-irregular`` (docs/benchmarks.md):

    OMP_NUM_THREADS=1 .venv/bin/python scripts/calibrate_estimator.py \
        src/fieldfit/_estimators/matern-irregular.pt --n 4000 --seed 13 \
        --store /tmp/fieldfit-sims/matern-irregular-calibration.zarr

The calibration datasets come from the bundle's own simulation set-up (prior and designs) with
a seed used nowhere else (simulated with Dask into ``--store``, resumable); the widening and the
raw and calibrated coverages on them are written into the bundle's metadata, in place.
"""

import argparse

import numpy as np
import torch
from tqdm.auto import tqdm

import fieldfit  # noqa: F401  (first: BLAS set-up)
from fieldfit.neural import NeuralEstimator, QuantileEstimator
from fieldfit.neural.store import ZarrSamples, simulate_to_zarr


def main(a):
    bundle = NeuralEstimator.load(a.bundle)
    net = bundle.network
    if not isinstance(net, QuantileEstimator):
        raise SystemExit(f"{a.bundle}: a {net.kind} estimator; calibration is for quantile "
                         "estimators")
    simulate_to_zarr(bundle.spec, a.store, a.n, seed=a.seed)
    samples = ZarrSamples(a.store)
    torch.set_num_threads(1)
    qs, us = [], []
    with torch.no_grad():
        for s in tqdm(range(0, len(samples), 64), desc="raw quantiles"):
            chunk = [samples[i] for i in range(s, min(s + 64, len(samples)))]
            qs.append(net(net.collate([(x.coords, x.values) for x in chunk])).double().numpy())
            us.append(bundle.spec.prior.to_unit(np.stack([x.theta for x in chunk])))
    q, u = np.concatenate(qs), np.concatenate(us)
    raw = ((q[..., 0] <= u) & (u <= q[..., -1])).mean(0)
    widening = net.calibrate(q, u)
    names = list(bundle.spec.prior.names)
    bundle.metadata["calibration"] = {
        "method": "normalised conformalized quantile regression on the logit scale",
        "n": len(u), "seed": a.seed, "widening": dict(zip(names, widening, strict=True)),
        "raw_coverage": dict(zip(names, raw.tolist(), strict=True)),
        "command": f"python scripts/calibrate_estimator.py {a.bundle} --n {a.n} "
                   f"--seed {a.seed} --store {a.store}"}
    bundle.save(a.bundle)
    print("raw coverage", dict(zip(names, raw.round(3).tolist(), strict=True)))
    print("widening", dict(zip(names, np.round(widening, 3).tolist(), strict=True)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--n", type=int, default=4000, help="calibration datasets")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--store", required=True, help="Zarr store of the calibration datasets")
    main(ap.parse_args())
