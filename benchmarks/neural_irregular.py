"""Shipped neural estimators beside maximum likelihood on held-out simulations.

    .venv/bin/python benchmarks/neural_irregular.py [--estimator matern-irregular]
        [--sizes 100,400,1000] [--reps 100,50,30] [--vecchia-from 1000] [--seed 2026]
        [--parts mle,neural] [--compare more.pt ...]

``--parts mle`` computes and caches the maximum-likelihood fits (they do not depend on the
networks); ``--parts neural`` evaluates the networks (the shipped one and ``--compare`` files)
and writes the tables with the cached fits.

For each n: datasets from the estimator's own prior with n uniform locations in the unit square
(a seed never used in training); the neural estimator (median and 90 % quantile interval) and
the exact MLE (``fieldfit.fit``, Wald 90 % intervals from the Hessian), plus Vecchia (m = 30)
from ``--vecchia-from`` locations. Reports bias, RMSE, MAE, 90 % coverage and seconds per
estimate per parameter; MLEs outside the prior box are also reported clipped to it (the neural
estimator knows the box; the MLE does not). Writes benchmarks/results/neural_irregular.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import fieldfit as ff
from fieldfit.neural import UniformDesign, load_estimator
from fieldfit.neural.recipes import build_spec
from fieldfit.neural.simulation import SimulationSpec

Z90 = 1.6448536269514722


def mle_estimates(est, samples, engine):
    fixed = est.spec.prior.fixed
    model = est.spec.model.build(fixed)
    if engine != "exact":
        model = ff.GaussianField(model.covariance, mean="constant", nugget=True,
                                 engine=ff.VecchiaEngine(30))
    names = est.spec.prior.names
    pt, lo, hi, secs = [], [], [], []
    for s in samples:
        obs = ff.Observations(coords=s.coords, values=s.values[0])
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = ff.fit(model, obs, fix={k: v for k, v in fixed.items() if k != "mean"},
                       progress=False)
        secs.append(time.perf_counter() - t0)
        p = np.array([r.params[n] for n in names])
        se = np.array([r.stderr.get(n) if r.stderr.get(n) is not None else np.nan
                       for n in names])
        pt.append(p)
        lo.append(p - Z90 * se)
        hi.append(p + Z90 * se)
    return np.array(pt), np.array(lo), np.array(hi), np.array(secs)


def scores(names, truth, pt, lo, hi, secs, keep=False):
    """Bias, RMSE, MAE, 90 % coverage per parameter; ``keep``: the estimates themselves too
    (for the paired comparisons)."""
    out = {}
    for j, n in enumerate(names):
        e = pt[:, j] - truth[:, j]
        cover = np.nan if lo is None else float(np.mean((lo[:, j] <= truth[:, j])
                                                        & (truth[:, j] <= hi[:, j])))
        out[n] = {"bias": float(e.mean()), "rmse": float(np.sqrt(np.mean(e ** 2))),
                  "mae": float(np.abs(e).mean()), "coverage90": cover}
    out["seconds_per_estimate"] = float(np.median(secs))
    if keep:
        keep6 = lambda a: None if a is None else np.round(a, 6).tolist()  # noqa: E731
        out["estimates"] = {"point": keep6(pt), "lower": keep6(lo), "upper": keep6(hi)}
    return out


def rmse_ratio(names, truth, a, b, draws=2000, seed=0):
    """RMSE(a) / RMSE(b) per parameter on the same datasets, with a paired bootstrap 90 %
    interval (datasets resampled with replacement): how sure the comparison is."""
    rng = np.random.default_rng(seed)
    ea, eb = (np.asarray(a) - truth) ** 2, (np.asarray(b) - truth) ** 2
    idx = rng.integers(0, len(truth), (draws, len(truth)))
    boot = np.sqrt(ea[idx].mean(1) / eb[idx].mean(1))              # (draws, p)
    ratio = np.sqrt(ea.mean(0) / eb.mean(0))
    return {n: {"ratio": float(ratio[j]), "lower": float(np.quantile(boot[:, j], 0.05)),
                "upper": float(np.quantile(boot[:, j], 0.95))} for j, n in enumerate(names)}


def test_sets(est, sizes, reps, seed):
    for n, k in zip(sizes, reps, strict=True):
        spec = SimulationSpec(est.spec.model, est.spec.prior, UniformDesign(n, n), 1)
        yield n, spec.simulate(k, seed=seed + n)


def neural_scores(est, names, samples):
    truth = np.stack([s.theta for s in samples])
    items = [(s.coords, s.values) for s in samples]
    est.estimate(items[:2])                                  # warm-up
    t0 = time.perf_counter()
    table = est.estimate(items)
    secs = np.full(len(items), (time.perf_counter() - t0) / len(items))
    t1 = time.perf_counter()
    for it in items[:20]:                                    # one dataset at a time
        est.estimate([it])
    out = scores(names, truth, table[names].to_numpy(),
                 table[[f"{m}_lower" for m in names]].to_numpy(),
                 table[[f"{m}_upper" for m in names]].to_numpy(), secs, keep=True)
    out["seconds_single"] = (time.perf_counter() - t1) / min(20, len(items))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--estimator", default="matern-irregular")
    ap.add_argument("--compare", nargs="*", default=[])
    ap.add_argument("--sizes", default="100,400,1000")
    ap.add_argument("--reps", default="100,50,30")
    ap.add_argument("--vecchia-from", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--parts", default="mle,neural")
    ap.add_argument("--out", default="benchmarks/results")
    a = ap.parse_args()
    try:
        est = load_estimator(a.estimator)
    except ValueError:
        if a.parts != "mle" or a.estimator != "matern-irregular":
            raise
        # the fits need only the set-up: that of matern-irregular before it is trained
        est = SimpleNamespace(spec=build_spec())
    names = est.spec.prior.names
    sizes = [int(v) for v in a.sizes.split(",")]
    reps = [int(v) for v in a.reps.split(",")]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"neural_irregular-{Path(a.estimator).stem}"      # a name or a bundle file
    cache = out / f"{stem}-mle.json"
    parts = a.parts.split(",")
    if "mle" in parts:
        fits = {}
        for n, samples in test_sets(est, sizes, reps, a.seed):
            truth = np.stack([s.theta for s in samples])
            box = np.array([[b.lower, b.upper] for b in est.spec.prior.bounds.values()])
            row = {}
            for eng in ["exact"] + (["vecchia"] if n >= a.vecchia_from else []):
                pt, lo, hi, secs = mle_estimates(est, samples, eng)
                row[f"mle_{eng}"] = scores(names, truth, pt, lo, hi, secs, keep=True)
                row[f"mle_{eng}_clipped"] = scores(
                    names, truth, np.clip(pt, box[:, 0], box[:, 1]), lo, hi, secs)
                print(n, eng, json.dumps({k: v for k, v in row[f"mle_{eng}"].items()
                                          if k != "estimates"}), flush=True)
            fits[str(n)] = row
        cache.write_text(json.dumps({"seed": a.seed, "sizes": sizes, "reps": reps,
                                     "fits": fits}))
    if "neural" not in parts:
        return
    fits = json.loads(cache.read_text())["fits"] if cache.exists() else {}
    results = {"estimator": a.estimator, "seed": a.seed, "sizes": {}}
    others = [(Path(p).stem, load_estimator(p)) for p in a.compare]
    for n, samples in test_sets(est, sizes, reps, a.seed):
        row = {"n": n, "replicates": len(samples), "neural": neural_scores(est, names, samples)}
        for label, other in others:
            row[label] = neural_scores(other, names, samples)
        row.update(fits.get(str(n), {}))
        truth = np.stack([s.theta for s in samples])
        mle = row.get("mle_exact", {}).get("estimates")
        if mle is not None and len(mle["point"]) == len(samples):
            row["ratio_to_mle"] = {
                label: rmse_ratio(names, truth, row[label]["estimates"]["point"], mle["point"])
                for label in ["neural", *(lb for lb, _ in others)]}
        results["sizes"][str(n)] = row
    (out / f"{stem}.json").write_text(json.dumps(results))
    lines = [f"# {a.estimator} vs maximum likelihood (held-out simulations, seed {a.seed})", "",
             "RMSE / 90 % coverage per parameter; seconds per estimate (networks: per dataset "
             "in a batch)", "",
             "| n | method | " + " | ".join(names) + " | s per estimate |",
             "|---|---|" + "---|" * (len(names) + 1)]
    for n, row in results["sizes"].items():
        for meth, sc in row.items():
            if not isinstance(sc, dict) or meth == "ratio_to_mle":
                continue
            cells = [f"{sc[m]['rmse']:.3g} / {sc[m]['coverage90']:.2f}" for m in names]
            secs = sc["seconds_per_estimate"]
            lines.append(f"| {n} | {meth} | " + " | ".join(cells) + f" | {secs:.3g} |")
    lines += ["", "RMSE of the network / RMSE of the exact MLE on the same datasets, with a paired "
              "bootstrap 90 % interval (2,000 resamples of the datasets)", "",
              "| n | network | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for n, row in results["sizes"].items():
        for label, rat in row.get("ratio_to_mle", {}).items():
            cells = [f"{rat[m]['ratio']:.2f} ({rat[m]['lower']:.2f}–{rat[m]['upper']:.2f})"
                     for m in names]
            lines.append(f"| {n} | {label} | " + " | ".join(cells) + " |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
