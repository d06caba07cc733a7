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

import fieldfit  # noqa: F401  (first: BLAS set-up)
from fieldfit.neural import NeuralEstimator, QuantileEstimator
from fieldfit.neural.recipes import calibrate_quantiles
from fieldfit.neural.store import ZarrSamples, simulate_to_zarr


def main(a):
    bundle = NeuralEstimator.load(a.bundle)
    if not isinstance(bundle.network, QuantileEstimator):
        raise SystemExit(f"{a.bundle}: a {bundle.network.kind} estimator; calibration is for "
                         "quantile estimators")
    simulate_to_zarr(bundle.spec, a.store, a.n, seed=a.seed)
    record = calibrate_quantiles(bundle.network, ZarrSamples(a.store), bundle.spec)
    bundle.metadata["calibration"] = {
        **record, "seed": a.seed,
        "command": f"python scripts/calibrate_estimator.py {a.bundle} --n {a.n} "
                   f"--seed {a.seed} --store {a.store}"}
    bundle.save(a.bundle)
    print("raw coverage", record["raw_coverage"])
    print("widening", record["widening"])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--n", type=int, default=4000, help="calibration datasets")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--store", required=True, help="Zarr store of the calibration datasets")
    main(ap.parse_args())
