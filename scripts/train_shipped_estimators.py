"""Train the estimators shipped in src/fieldfit/_estimators (see its README.md).

    .venv/bin/python scripts/train_shipped_estimators.py matern-irregular
    .venv/bin/python scripts/train_shipped_estimators.py matern-irregular-smoothness
    # the comparison networks of docs/benchmarks.md (same simulations):
    .venv/bin/python scripts/train_shipped_estimators.py matern-irregular 16000 1000 20 \
        --kind posterior --out /tmp/fieldfit-sims/matern-irregular-posterior.pt

    # on a GPU, every dataset fresh (fieldfit.neural.batched), e.g. continuing a saved bundle
    # on datasets half of which have n >= 300 (the second GPU run in docs/benchmarks.md):
    python3 scripts/train_shipped_estimators.py matern-irregular 0 2048 2.4 --device cuda \
        --workers 1 --epoch-size 16384 --lr 3e-4 --large-n-from 300 \
        --start-from IN.pt --out OUT.pt

Same API as `fieldfit train-estimator`; the shipped estimators' prior, designs and sizes:
Matérn field on irregular locations in the unit square, n from 50 to 1,000 (uniform and
clustered designs), range ∈ [0.02, 0.5] and variance ∈ [0.1, 5] log-uniform, nugget ∈ [0, 1]
and mean ∈ [−5, 5] uniform, smoothness fixed at 1 or uniform on [0.5, 2.5].
"""

import argparse
import time

import torch

import fieldfit  # noqa: F401  (first: BLAS set-up)
from fieldfit.neural import (
    Bound,
    ClusteredDesign,
    MixedDesign,
    NeuralEstimator,
    SimulationSpec,
    TrainingSettings,
    UniformDesign,
    train,
)
from fieldfit.neural.graphs import VARIOGRAM_EDGES
from fieldfit.neural.recipes import DEFAULT_BOUNDS, build_network, build_spec
from fieldfit.neural.training import as_batch


def spec_for(name: str) -> SimulationSpec:
    """The set-ups of the shipped estimators: fieldfit.neural.recipes.build_spec's defaults,
    with the smoothness fixed at 1 or estimated on [0.5, 2.5]."""
    if name == "matern-irregular":
        return build_spec()
    if name == "matern-irregular-smoothness":
        return build_spec(bounds={**DEFAULT_BOUNDS, "smoothness": Bound(0.5, 2.5)}, fixed={})
    raise SystemExit(f"unknown estimator {name}")


def with_large_n(spec: SimulationSpec, n_from: int) -> SimulationSpec:
    """The same prior and model, with half of the datasets drawn with n in [n_from, n_max]:
    training weight on the large datasets, whose small losses the network otherwise neglects.
    The Bayes estimator does not change (n is an input, the prior on θ is the same); only
    where the approximation is spent does."""
    lo, hi = spec.design.n_range
    large = MixedDesign((UniformDesign(n_from, hi), ClusteredDesign(n_from, hi)))
    return SimulationSpec(spec.model, spec.prior, MixedDesign((spec.design, large)),
                          spec.replicates)


def widened(previous, net):
    """``net`` (a network with more expert summaries than ``previous``, otherwise the same)
    starting where ``previous`` stands: every shared weight copied, the new inputs of the
    DeepSets head ψ given zero weights — the widened network computes exactly what
    ``previous`` did until training moves them."""
    old, new = previous.state_dict(), net.state_dict()
    for key, value in new.items():
        if key not in old:
            raise SystemExit(f"cannot widen: {key} is not in the earlier network")
        if old[key].shape == value.shape:
            new[key] = old[key]
        elif key == "summary.sets.psi.0.weight" and old[key].shape[0] == value.shape[0]:
            value.zero_()
            value[:, :old[key].shape[1]] = old[key]
            new[key] = value
        else:
            raise SystemExit(f"cannot widen: {key} is {tuple(old[key].shape)} there, "
                             f"{tuple(value.shape)} here")
    net.load_state_dict(new)
    return net


def main(name: str, n_train: int = 16000, n_val: int = 1000, minutes: float = 45.0,
         store: str = "/tmp/fieldfit-sims", kind: str = "quantile", out: str | None = None,
         resume: bool = False, lr: float = 1e-3, device: str = "cpu", width: int = 32,
         layers: int = 3, features: int = 64, start_from: str | None = None,
         workers: int = 6, batch_size: int = 64, seed: int = 0, epoch_size: int = 65536,
         large_n_from: int | None = None, variogram: bool = False,
         add_train: tuple[str, ...] = (), pilot: bool = False, schedule: str = "plateau"):
    """CPU: simulations with Dask into ``store/<name>-{train,val}.zarr`` (resumable; a second
    call finds them done), then training on one thread. ``device`` other than cpu: every
    training dataset simulated afresh on the device (fieldfit.neural.batched), for
    ``minutes`` with a cosine learning-rate decay; ``n_train`` is then unused."""
    spec = spec_for(name)
    train_spec = with_large_n(spec, large_n_from) if large_n_from else spec
    out = out or f"src/fieldfit/_estimators/{name}.pt"
    earlier = []
    source = start_from or (out if resume else None)
    if source:      # continue from a saved bundle (fresh optimiser)
        previous = NeuralEstimator.load(source)
        net = previous.network
        earlier = previous.metadata.get("training_runs", []) + [previous.metadata["training"]]
        if pilot and getattr(net.summary, "pilot", None) is None:   # add the pilot inputs
            cfg = {k: v for k, v in net.summary.config().items() if k != "kind"}
            net = widened(net, build_network(kind, spec, width=cfg["width"],
                                             layers=cfg["layers"], out=cfg["out"], k=cfg["k"],
                                             variogram=cfg.get("variogram"), pilot=True))
    else:
        torch.manual_seed(seed)
        net = build_network(kind, spec, width=width, layers=layers, out=features, k=10,
                            variogram=VARIOGRAM_EDGES if variogram else None,
                            pilot=pilot or None)
    command = ("python scripts/train_shipped_estimators.py "
               f"{name} {n_train} {n_val} {minutes:g} --kind {kind}"
               + (f" --resume --lr {lr:g}" if resume else "")
               + (f" --start-from {start_from} --lr {lr:g}" if start_from else "")
               + (f" --large-n-from {large_n_from}" if large_n_from else "")
               + (" --variogram" if variogram else "")
               + (" --pilot" if pilot else "")
               + (f" --schedule {schedule}" if schedule != "plateau" else "")
               + "".join(f" --add-train {p}" for p in add_train))
    if device != "cpu":
        from fieldfit.neural.batched import train_batched

        st = TrainingSettings(epochs=10**6, batch_size=batch_size, lr=lr, patience=10**6,
                              max_seconds=60 * minutes, schedule="cosine", seed=seed)
        hist = train_batched(net, train_spec, st, device=device, epoch_size=epoch_size,
                             n_val=n_val, workers=workers,
                             checkpoint=f"{out}.ckpt", progress=True)
        meta = {"name": name, "simulation": f"batched on {device} "
                f"({torch.cuda.get_device_name() if device.startswith('cuda') else device}), "
                "every training dataset fresh", "datasets_seen": len(hist.train) * epoch_size,
                "n_val": n_val, "seed": seed, "training_runs": earlier,
                "training": hist.to_dict(),
                "command": command + f" --device {device} --width {width} --layers {layers} "
                f"--features {features} --batch-size {batch_size}"}
    else:
        from fieldfit.neural.store import ZarrSamples, simulate_to_zarr

        t0 = time.perf_counter()
        tag = f"{name}-n{large_n_from}" if large_n_from else name
        simulate_to_zarr(train_spec, f"{store}/{tag}-train.zarr", n_train, seed=0)
        simulate_to_zarr(train_spec, f"{store}/{tag}-val.zarr", n_val, seed=1)
        train_set = ZarrSamples(f"{store}/{tag}-train.zarr")
        if add_train:        # further stores of the same prior (e.g. more large-n datasets)
            train_set = list(train_set) + [x for path in add_train for x in ZarrSamples(path)]
        val_set = ZarrSamples(f"{store}/{tag}-val.zarr")
        sim_s = time.perf_counter() - t0
        st = TrainingSettings(epochs=200, batch_size=batch_size, lr=lr, patience=6, threads=1,
                              max_seconds=60 * minutes, schedule=schedule)
        hist = train(net, train_spec, train_set, val_set, st,
                     checkpoint=f"{out}.ckpt", progress=True)
        meta = {"name": name, "n_train": len(train_set), "n_val": n_val,
                "simulation_seconds": sim_s, "added_stores": list(add_train),
                "simulation_seeds": {"train": 0, "val": 1}, "training_runs": earlier,
                "training": hist.to_dict(), "command": command}
        if kind == "ratio":
            meta["platt"] = net.calibrate(*as_batch(net, list(val_set), spec))
    out = NeuralEstimator(net, spec, meta).save(out)
    print(out, hist.stopped, hist.best_epoch, hist.val[hist.best_epoch], hist.seconds,
          meta.get("datasets_seen", n_train), "datasets", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("n_train", type=int, nargs="?", default=16000)
    ap.add_argument("n_val", type=int, nargs="?", default=1000)
    ap.add_argument("minutes", type=float, nargs="?", default=45.0)
    ap.add_argument("--kind", default="quantile", choices=["quantile", "posterior", "ratio"])
    ap.add_argument("--out", default=None, help="default: src/fieldfit/_estimators/NAME.pt")
    ap.add_argument("--store", default="/tmp/fieldfit-sims")
    ap.add_argument("--resume", action="store_true", help="continue training the saved file")
    ap.add_argument("--start-from", default=None, help="continue from this bundle")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--device", default="cpu",
                    help="cuda: fresh simulations on the GPU (fieldfit.neural.batched)")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--large-n-from", type=int, default=None,
                    help="train with half of the datasets having n from this value up")
    ap.add_argument("--variogram", action="store_true",
                    help="empirical-variogram expert summaries (GNNSummary(variogram=...))")
    ap.add_argument("--add-train", action="append", default=[],
                    help="a further training store (Zarr) of the same prior; repeatable")
    ap.add_argument("--pilot", action="store_true",
                    help="pilot-likelihood expert summaries (GNNSummary(pilot=True)); with "
                    "--start-from a network without them, that network widened")
    ap.add_argument("--schedule", default="plateau", choices=["plateau", "cosine"],
                    help="CPU training: learning rate halved on plateaus, or a cosine decay "
                    "over the minutes given (the device path always decays by cosine)")
    ap.add_argument("--epoch-size", type=int, default=65536, help="batched: datasets per epoch")
    a = ap.parse_args()
    main(a.name, a.n_train, a.n_val, a.minutes, a.store, a.kind, a.out, a.resume, a.lr,
         a.device, a.width, a.layers, a.features, a.start_from, a.workers, a.batch_size,
         a.seed, a.epoch_size, a.large_n_from, a.variogram, tuple(a.add_train), a.pilot,
         a.schedule)
