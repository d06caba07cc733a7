"""Retrain ψ and the head of a shipped graph-network estimator on its frozen convolutions φ,
with the default pilot likelihoods (relative, 3 × 3 grid) and a wider ψ
(fieldfit.neural.frozen). The shipped ``matern-irregular`` (docs/benchmarks.md):

    git show 574319b:src/fieldfit/_estimators/matern-irregular.pt > /tmp/pilot-v1.pt
    OMP_NUM_THREADS=1 .venv/bin/python scripts/train_frozen_graph.py \
        --start-from /tmp/pilot-v1.pt --out src/fieldfit/_estimators/matern-irregular.pt \
        --train /tmp/fieldfit-sims/matern-irregular-train.zarr \
        --train /tmp/fieldfit-sims/matern-irregular-large-train.zarr \
        --train /tmp/fieldfit-sims/matern-irregular-large2-train.zarr \
        --val /tmp/fieldfit-sims/matern-irregular-val.zarr --epochs 150

With ``--kind posterior`` the head is a neural posterior (zuko spline flow) on the same frozen
φ: the shipped ``matern-irregular-posterior`` (src/fieldfit/_estimators/README.md).

Each store's φ features and summaries are computed once and cached beside it
(``<store>.frozen-<key>.pt``, keyed by φ's weights and the pilot settings), so a second run
trains at once. Stores: those of ``scripts/train_shipped_estimators.py`` (same prior).
"""

import argparse
import hashlib
import io
import time
from pathlib import Path

import torch

import fieldfit  # noqa: F401  (first: BLAS set-up)
from fieldfit.neural import NeuralEstimator, TrainingSettings
from fieldfit.neural.frozen import FROZEN, pooled_inputs, train_frozen_graph
from fieldfit.neural.graphs import PooledBatch
from fieldfit.neural.recipes import build_network
from fieldfit.neural.store import ZarrSamples


def cache_key(net) -> str:
    buf = io.BytesIO()
    torch.save({k: v for k, v in net.state_dict().items() if k.startswith(FROZEN)}, buf)
    buf.write(repr(net.summary.config()).encode())
    return hashlib.sha256(buf.getvalue()).hexdigest()[:12]


def features(net, spec, path: str, key: str):
    cache = Path(f"{path.rstrip('/')}.frozen-{key}.pt")
    if cache.exists():
        d = torch.load(cache, weights_only=True)
        return PooledBatch(d["phi"], d["expert"], d.get("variogram"), d.get("pilot")), d["u"]
    pooled, u = pooled_inputs(net, ZarrSamples(path), spec)
    tmp = cache.with_suffix(".tmp")
    torch.save({"phi": pooled.phi, "expert": pooled.expert, "variogram": pooled.variogram,
                "pilot": pooled.pilot, "u": u}, tmp)
    tmp.replace(cache)
    return pooled, u


def concat(parts):
    return PooledBatch.concat([p for p, _ in parts]), torch.cat([u for _, u in parts])


def main(a):
    start = NeuralEstimator.load(a.start_from)
    spec = start.spec
    cfg = {k: v for k, v in start.network.summary.config().items() if k != "kind"}
    torch.manual_seed(a.seed)                   # the new ψ and head's initial weights
    net = build_network(a.kind or start.network.kind, spec, width=cfg["width"],
                        layers=cfg["layers"], out=cfg["out"], k=cfg["k"],
                        radius=cfg["radius"], pilot=True,
                        psi=[int(v) for v in a.psi.split(",")])
    state, own = net.state_dict(), start.network.state_dict()
    for k in state:
        if k.startswith(FROZEN):
            state[k] = own[k]
    net.load_state_dict(state)
    key = cache_key(net)
    t0 = time.perf_counter()
    train_set = concat([features(net, spec, p, key) for p in a.train])
    val_set = features(net, spec, a.val, key)
    feature_s = time.perf_counter() - t0
    st = TrainingSettings(epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, patience=10**6,
                          threads=1, max_seconds=None, schedule="cosine", seed=a.seed)
    hist = train_frozen_graph(net, spec, train_set, val_set, st, checkpoint=f"{a.out}.ckpt")
    earlier = start.metadata
    meta = {"name": a.name, "n_train": len(train_set[1]), "n_val": len(val_set[1]),
            "stores": {"train": a.train, "val": a.val},
            "graph_convolutions_from": a.start_from,
            "training_runs": earlier.get("training_runs", []) + [earlier["training"]],
            "feature_seconds": feature_s, "training": hist.to_dict(),
            "frozen": list(FROZEN),
            "command": "python scripts/train_frozen_graph.py " + " ".join(a.argv)}
    out = NeuralEstimator(net, spec, meta).save(a.out)
    print(out, hist.stopped, hist.best_epoch, hist.val[hist.best_epoch], hist.seconds,
          flush=True)


if __name__ == "__main__":
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("--start-from", required=True,
                    help="bundle whose spec, sizes and graph convolutions φ are kept")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="matern-irregular")
    ap.add_argument("--train", action="append", required=True, help="Zarr store; repeatable")
    ap.add_argument("--val", required=True, help="Zarr store")
    ap.add_argument("--kind", default=None,
                    help="the new head's estimator kind (default: the start's), e.g. "
                         "posterior: a neural posterior (spline flow) on the frozen φ")
    ap.add_argument("--psi", default="128,128", help="ψ's hidden layer sizes")
    ap.add_argument("--epochs", type=int, default=150,
                    help="epochs (the learning rate decays by cosine over them)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    a.argv = sys.argv[1:]
    main(a)
