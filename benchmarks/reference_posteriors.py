"""Exact reference posteriors for the shipped spatial estimators, and how close each amortized
estimator comes to them.

No simulation-based-inference benchmark (sbibm) has a spatial-field task with reference
posteriors. fieldfit computes them: NUTS (``fieldfit.sample``) on the exact Matérn likelihood,
under the estimators' own prior (their training prior: ``Bound`` per parameter, sampled on the
logit of its unit scale) and model (smoothness fixed where the estimators fix it).

Stages (each resumable: finished datasets are skipped; files are written atomically):

1. **datasets**: ``--datasets`` per size in ``--sizes``, simulated from the set-up of
   ``--setup`` (a shipped estimator: its model, prior and designs, uniform or clustered, with
   the number of locations fixed), run seed ``--seed`` (the estimators were trained and
   calibrated on seeds 0, 1, 10, 12 and 13). ``OUT/datasets.parquet`` (one row per location:
   ``dataset, n, design, x, y, z``) and ``OUT/truth.parquet`` (``dataset, n``, the
   parameters).
2. **reference**: per dataset ``OUT/draws/<dataset>.parquet`` (``chain, draw``, the
   parameters) and ``OUT/draws/<dataset>.json`` (R-hat, bulk ESS, divergences, seconds) as
   each finishes (several processes may share ``OUT``: ``--part``, ``--reference-sizes``),
   then all finished ones consolidated into ``OUT/reference_draws.parquet`` (``dataset``
   first) and ``OUT/reference_info.json``, from which a later run also resumes.
3. **compare**: each estimator of ``--estimators`` on the same datasets, given the values as
   they are (``standardise=False``: the amortized posterior under the prior it was trained
   on; ``fieldfit estimate`` standardises the values first). Per estimator and size:
   - C2ST accuracy (sbi's ``c2st``, an MLP classifier, 5 folds, on the logit of the prior's
     unit scale) between its draws and the reference draws, for estimators that give draws
     (posterior estimators): 0.5 is indistinguishable, 1.0 disjoint;
   - each parameter's 5 / 50 / 95 % quantiles against the reference's, in reference
     posterior sd (every estimator: quantile estimators give exactly these);
   - RMSE against the truth of the posterior mean (exact, posterior estimators) and of the
     posterior median (every method: the quantile estimators' point estimate), and the
     coverage of the 90 % central intervals.
   The exact row's C2ST is between the reference's own first two chains (500 against 500
   draws by default): the accuracy a perfect amortized posterior would reach with draws as
   correlated as the chains', the floor to read the others against.
   Written to ``OUT/comparison.json`` and ``OUT/comparison.md``.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reference_posteriors.py \\
        --sizes 100 --datasets 50 --out benchmarks/results/reference_posteriors
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import load_average, md_table
from tqdm.auto import tqdm

import fieldfit
from fieldfit.neural import load_estimator
from fieldfit.neural.designs import MixedDesign
from fieldfit.neural.simulation import SimulationSpec

LEVELS = (0.05, 0.5, 0.95)


def fixed_n_spec(spec: SimulationSpec, n: int) -> SimulationSpec:
    """``spec`` with every design's number of locations fixed at ``n``."""
    d = spec.design
    if isinstance(d, MixedDesign):
        d = dataclasses.replace(d, designs=tuple(dataclasses.replace(x, n_min=n, n_max=n)
                                                 for x in d.designs))
    else:
        d = dataclasses.replace(d, n_min=n, n_max=n)
    return SimulationSpec(spec.model, spec.prior, d, spec.replicates)


def write_atomic(frame: pd.DataFrame, path: Path) -> None:
    # a temporary name of this process's own: several processes may consolidate at once
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def dataset_id(n: int, i: int) -> str:
    return f"n{n}-{i:03d}"


# --- 1. datasets -------------------------------------------------------------------------------
def make_datasets(spec, sizes, count, seed, out: Path):
    """The held-out datasets (made once: an existing set is kept if it is the same request)."""
    meta_path = out / "datasets.json"
    request = {"setup_spec": spec.to_dict(), "sizes": sizes, "datasets": count, "seed": seed}
    if meta_path.exists():
        if json.loads(meta_path.read_text()) != request:
            sys.exit(f"{out} holds datasets of another request ({meta_path}); use another --out")
        return pd.read_parquet(out / "datasets.parquet"), pd.read_parquet(out / "truth.parquet")
    rows, truth = [], []
    for n in sizes:
        s_n = fixed_n_spec(spec, n)
        for i in range(count):
            s = s_n.simulate_one(seed, n * 10_000 + i)
            name = dataset_id(n, i)
            rows.append(pd.DataFrame({"dataset": name, "n": n, "x": s.coords[:, 0],
                                      "y": s.coords[:, 1], "z": s.values[0]}))
            truth.append({"dataset": name, "n": n, **spec.prior.params(s.theta)})
    data, truth = pd.concat(rows, ignore_index=True), pd.DataFrame(truth)
    truth = truth[["dataset", "n", *spec.prior.names]]
    write_atomic(data, out / "datasets.parquet")
    write_atomic(truth, out / "truth.parquet")
    meta_path.write_text(json.dumps(request, indent=1))
    return data, truth


def items_of(data: pd.DataFrame, names) -> list[tuple[np.ndarray, np.ndarray]]:
    groups = dict(tuple(data.groupby("dataset", sort=False)))
    return [(groups[k][["x", "y"]].to_numpy(), groups[k]["z"].to_numpy()[None, :])
            for k in names]


# --- 2. reference posteriors -------------------------------------------------------------------
def consolidate(out: Path, order) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every finished reference, from the combined files and the per-dataset ones, written
    back as ``OUT/reference_draws.parquet`` (``dataset, chain, draw``, the parameters) and
    ``OUT/reference_info.json`` (per dataset: seconds, divergences, R-hat, bulk ESS), in the
    order of ``order``. The combined files alone let a later run resume (the ``draws/``
    folder is the working store of running processes)."""
    draws_path, info_path = out / "reference_draws.parquet", out / "reference_info.json"
    draws = {}
    info = {}
    if draws_path.exists():
        for k, g in pd.read_parquet(draws_path).groupby("dataset", sort=False):
            draws[k] = g.drop(columns="dataset")
        info = {d["dataset"]: d for d in json.loads(info_path.read_text())}
    folder = out / "draws"
    for f in sorted(folder.glob("*.parquet")) if folder.is_dir() else ():
        k = f.stem
        j = folder / f"{k}.json"
        if k not in draws and j.exists():
            draws[k] = pd.read_parquet(f)
            info[k] = json.loads(j.read_text())
    names = [k for k in order if k in draws]
    if not names:
        return pd.DataFrame(), pd.DataFrame()
    allr = pd.concat([draws[k].assign(dataset=k) for k in names], ignore_index=True)
    allr = allr[["dataset", *[c for c in allr.columns if c != "dataset"]]]
    write_atomic(allr, draws_path)
    tmp = info_path.with_name(f"{info_path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps([info[k] for k in names], indent=1))
    tmp.replace(info_path)
    return allr, pd.DataFrame([info[k] for k in names])


def reference(spec, data, truth, chains, draws, warmup, out: Path, only=None, part=(1, 1)):
    """NUTS per dataset not yet done (``only``: those sizes; ``part`` (k, m): every m-th
    of them from the k-th, for m processes), each written to ``OUT/draws/`` as it finishes,
    then everything finished consolidated (:func:`consolidate`)."""
    from fieldfit import Observations

    folder = out / "draws"
    folder.mkdir(exist_ok=True)
    model, prior = spec.model_, spec.prior
    order = list(truth["dataset"])
    finished = set(consolidate(out, order)[1].get("dataset", []))
    todo = [k for k, n in zip(truth["dataset"], truth["n"], strict=True)
            if k not in finished and not (folder / f"{k}.parquet").exists()
            and (only is None or n in only)
            and int(k.split("-")[1]) % part[1] == part[0] - 1]
    groups = dict(tuple(data.groupby("dataset", sort=False)))
    for k in tqdm(todo, desc="reference posteriors"):
        if (folder / f"{k}.parquet").exists():        # done meanwhile by another process
            continue
        g = groups[k]
        obs = Observations(coords=g[["x", "y"]].to_numpy(), values=g["z"].to_numpy())
        t0 = time.perf_counter()
        post = fieldfit.sample(model, obs, priors=dict(prior.bounds), fix=dict(prior.fixed),
                               chains=chains, draws=draws, warmup=warmup,
                               seed=int(k.split("-")[1]) + 1000 * int(k[1:].split("-")[0]),
                               progress=False)
        seconds = time.perf_counter() - t0
        if post.interrupted:
            sys.exit("interrupted: the finished datasets are kept; run again to resume")
        frame = post.to_dataframe()
        frame = frame[["chain", "draw", *prior.names]]
        summary = post.summary()
        info = {"dataset": k, "seconds": seconds, "divergences": int(post.divergences),
                "rhat": {p: summary[p]["rhat"] for p in prior.names},
                "ess_bulk": {p: summary[p]["ess_bulk"] for p in prior.names}}
        (folder / f"{k}.json").write_text(json.dumps(info, indent=1))
        write_atomic(frame, folder / f"{k}.parquet")
    return list(consolidate(out, order)[1].get("dataset", []))


# --- 3. comparison -----------------------------------------------------------------------------
def unconstrained(prior, theta: np.ndarray) -> np.ndarray:
    u = np.clip(prior.to_unit(theta), 1e-9, 1 - 1e-9)
    return np.log(u) - np.log1p(-u)


def _c2st(prior, a: np.ndarray, b: np.ndarray, seed: int) -> float:
    """sbi's C2ST accuracy (MLP, 5 folds) between draws ``a`` and ``b`` ``(k, p)`` on the
    logit of the prior's unit scale, the larger set subsampled to the smaller's size."""
    import torch
    from sbi.utils.metrics import c2st

    a, b = unconstrained(prior, a), unconstrained(prior, b)
    k = min(len(a), len(b))
    rng = np.random.default_rng(seed)
    a, b = a[rng.permutation(len(a))[:k]], b[rng.permutation(len(b))[:k]]
    return float(c2st(torch.as_tensor(a, dtype=torch.float32),
                      torch.as_tensor(b, dtype=torch.float32), seed=seed, classifier="mlp"))


def _quartiles(acc) -> dict:
    return {"median": float(np.median(acc)), "q25": float(np.quantile(acc, 0.25)),
            "q75": float(np.quantile(acc, 0.75)), "per_dataset": [float(v) for v in acc]}


def compare(spec, data, truth, allr: pd.DataFrame, estimators, n_draws) -> dict:
    """The comparison of each estimator with the reference draws ``allr`` (``dataset,
    chain, draw``, the parameters: :func:`consolidate`) on their datasets."""
    prior = spec.prior
    pnames = prior.names
    frames = {k: g.drop(columns="dataset") for k, g in allr.groupby("dataset", sort=False)}
    names = list(frames)
    ref = {k: frames[k][pnames].to_numpy() for k in names}
    tr = truth.set_index("dataset").loc[names]
    sizes = tr["n"].to_numpy()
    items = items_of(data, names)
    theta = tr[pnames].to_numpy()
    methods = {"exact (NUTS)": {"draws": [ref[k] for k in names]}}
    for e in estimators:
        est = load_estimator(e)
        if est.spec.prior.to_dict() != prior.to_dict() or \
                est.spec.model.to_dict() != spec.model.to_dict():
            sys.exit(f"{e}: another model or prior than the reference set-up's")
        if hasattr(est.network, "sample_unit"):
            d = est.posterior_draws(items, n_draws=n_draws, seed=0, standardise=False)
            methods[e] = {"draws": [g[pnames].to_numpy() for _, g in
                                    d.groupby("dataset", sort=False)]}
        else:
            q = est.estimate_unit(items)
            methods[e] = {"quantiles": {lv: prior.from_unit(q[f"q{lv:g}"]) for lv in LEVELS}}
    result = {}
    for m in methods.values():
        if "draws" in m:
            m["quantiles"] = {lv: np.stack([np.quantile(x, lv, axis=0) for x in m["draws"]])
                              for lv in LEVELS}
            m["mean"] = np.stack([x.mean(0) for x in m["draws"]])
    ref_q = methods["exact (NUTS)"]["quantiles"]
    ref_sd = np.stack([ref[k].std(0) for k in names])
    for label, m in methods.items():
        per_n = {}
        for n in sorted(set(sizes)):
            sel = sizes == n
            row = {"datasets": int(sel.sum())}
            med = m["quantiles"][0.5][sel]
            row["rmse_median"] = dict(zip(pnames, np.sqrt(((med - theta[sel]) ** 2).mean(0))
                                          .tolist(), strict=True))
            if "mean" in m:
                row["rmse_mean"] = dict(zip(pnames, np.sqrt(((m["mean"][sel] - theta[sel]) ** 2)
                                                            .mean(0)).tolist(), strict=True))
            lo, hi = m["quantiles"][0.05][sel], m["quantiles"][0.95][sel]
            row["coverage90"] = dict(zip(pnames, ((lo <= theta[sel]) & (theta[sel] <= hi))
                                         .mean(0).tolist(), strict=True))
            if label == "exact (NUTS)" and all(frames[names[j]]["chain"].nunique() > 1
                                                for j in np.flatnonzero(sel)):
                # the floor: C2ST between the reference's own first two chains
                acc = [_c2st(prior, *(frames[names[j]].loc[frames[names[j]]["chain"] == c,
                                                           pnames].to_numpy() for c in (0, 1)),
                             j) for j in np.flatnonzero(sel)]
                row["c2st"] = _quartiles(acc)
            if label != "exact (NUTS)":
                row["quantile_error_sd"] = {
                    f"q{lv:g}": dict(zip(pnames, np.median(
                        np.abs(m["quantiles"][lv][sel] - ref_q[lv][sel]) / ref_sd[sel], 0)
                        .tolist(), strict=True)) for lv in LEVELS}
                if "draws" in m:
                    acc = [_c2st(prior, ref[names[j]], m["draws"][j], j)
                           for j in np.flatnonzero(sel)]
                    row["c2st"] = _quartiles(acc)
            per_n[int(n)] = row
        result[label] = per_n
    return result


def markdown(result, pnames, info, args) -> str:
    lines = ["# Exact reference posteriors and the amortized estimators", "",
             f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python "
             f"benchmarks/reference_posteriors.py {' '.join(args)}`; load average at the "
             f"comparison: {load_average()}.", ""]
    ess = pd.DataFrame(list(info["ess_bulk"])).astype(float).min(axis=1)
    rhat = pd.DataFrame(list(info["rhat"])).astype(float).max(axis=1)
    lines += [f"Reference: NUTS, {len(info)} datasets, min bulk ESS per dataset median "
              f"{ess.median():.0f} (lowest {ess.min():.0f}), max R-hat median {rhat.median():.3f} "
              f"(highest {rhat.max():.3f}), divergences {int(info['divergences'].sum())} in all, "
              f"median {info['seconds'].median():.0f} s per dataset.", ""]
    sizes = sorted({n for r in result.values() for n in r})
    for n in sizes:
        lines += [f"## n = {n}", ""]
        head = ["method", "C2ST (median [IQR])",
                *[f"RMSE {p} (mean / median)" for p in pnames],
                *[f"90 % cover {p}" for p in pnames],
                *[f"|Δq| / sd {p} (5/50/95 %)" for p in pnames]]
        rows = []
        for label, per in result.items():
            r = per[n]
            c = r.get("c2st")
            cell = (f"{c['median']:.3f} [{c['q25']:.3f}, {c['q75']:.3f}]" if c else
                    ("—" if label == "exact (NUTS)" else "no draws"))
            if c and label == "exact (NUTS)":
                cell += " (chain 1 vs 2: the floor)"
            rm = [f"{r['rmse_mean'][p]:.3g} / {r['rmse_median'][p]:.3g}" if "rmse_mean" in r
                  else f"— / {r['rmse_median'][p]:.3g}" for p in pnames]
            cov = [f"{r['coverage90'][p]:.2f}" for p in pnames]
            qe = ([" / ".join(f"{r['quantile_error_sd'][f'q{lv:g}'][p]:.2f}" for lv in LEVELS)
                   for p in pnames] if "quantile_error_sd" in r else ["—"] * len(pnames))
            rows.append([label, cell, *rm, *cov, *qe])
        lines += [md_table(head, rows), ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setup", default="matern-irregular",
                    help="the shipped estimator whose model, prior and designs make the datasets")
    ap.add_argument("--estimators", default="matern-irregular,matern-irregular-fast,"
                    "matern-irregular-posterior", help="comma-separated, same model and prior")
    ap.add_argument("--sizes", default="100,400")
    ap.add_argument("--datasets", type=int, default=50, help="per size")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--draws", type=int, default=500, help="kept draws per chain")
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--reference-sizes", default=None,
                    help="the reference stage for these sizes only (e.g. two processes, one "
                         "per size)")
    ap.add_argument("--part", default="1/1",
                    help="K/M: the reference stage for every M-th dataset from the K-th")
    ap.add_argument("--amortized-draws", type=int, default=1000)
    ap.add_argument("--stage", choices=("all", "datasets", "reference", "compare"),
                    default="all")
    ap.add_argument("--out", required=True, type=Path)
    a = ap.parse_args(argv)
    args = sys.argv[1:] if argv is None else list(argv)
    sizes = [int(v) for v in a.sizes.split(",")]
    if a.datasets < 1 or any(n < 10 for n in sizes):
        ap.error("--datasets must be ≥ 1 and every size ≥ 10")
    a.out.mkdir(parents=True, exist_ok=True)
    spec = load_estimator(a.setup).spec
    data, truth = make_datasets(spec, sizes, a.datasets, a.seed, a.out)
    if a.stage == "datasets":
        return
    names = list(truth["dataset"])
    if a.stage in ("all", "reference"):
        only = None if a.reference_sizes is None else {int(v) for v in
                                                      a.reference_sizes.split(",")}
        k, m = (int(v) for v in a.part.split("/"))
        if not 1 <= k <= m:
            ap.error(f"--part {a.part}: expected K/M with 1 ≤ K ≤ M")
        done = reference(spec, data, truth, a.chains, a.draws, a.warmup, a.out, only, (k, m))
        print(f"{len(done)} of {len(names)} reference posteriors done", flush=True)
        if a.stage == "reference":
            return
    allr, info = consolidate(a.out, names)
    if info.empty:
        sys.exit("no reference posterior yet: run the reference stage first")
    names = list(info["dataset"])
    result = compare(spec, data, truth, allr, [e for e in a.estimators.split(",") if e],
                     a.amortized_draws)
    (a.out / "comparison.json").write_text(json.dumps(
        {"datasets": names, "results": {k: {str(n): r for n, r in v.items()}
                                        for k, v in result.items()}}, indent=1))
    (a.out / "comparison.md").write_text(markdown(result, spec.prior.names, info, args))
    print((a.out / "comparison.md").read_text())


if __name__ == "__main__":
    main()
