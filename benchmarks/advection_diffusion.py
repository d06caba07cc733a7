#!/usr/bin/env python
"""Benchmark: the advection–diffusion SPDE (Clarotto et al. 2024) on real space-time data, beside
the same SPDE without advection and a separable space-time Gaussian field; a simulation study;
the scaling of ℓ + ∇ℓ in the number of space-time nodes.

Part ``realdata`` (the default): for each data set, hold out 20 % of the locations (all their
times: interpolation in space) and the last ``--forecast`` times (all locations: forecasting),
fit on the rest by maximum likelihood with standard errors, and score the Gaussian predictive
distributions of the held-out values (CRPS, RMSE, 95 % coverage, interval score). Models:

- ``AD``: AdvectionDiffusionField(alpha=1, alpha_s=1, anisotropic H, advection γ);
- ``D``: the same with γ = 0 (diffusion only);
- ``separable``: GaussianField(Separable(Matérn, exponential) + nugget), Vecchia engine
  (m = 30, Euclidean neighbours on (x, y, t/time_scale) with the time scaled by the ratio of the
  spatial to the temporal extent).

Data sets (``--datasets``): ``medwind`` (ECMWF u-wind, 0.5° grid over the Mediterranean,
1,175 cells × 28 six-hourly times, STRbook ``Medwind_data``) and ``noaa`` (daily Tmax at 137
US stations, 30 days from 1 July 1993, STRbook ``NOAA_df_1990``). Coordinates: x = lon·cos(φ₀),
y = lat (degrees of latitude), φ₀ the mean latitude; time in steps of the data (6 h, 1 day).

The report (``benchmarks/results/advection_diffusion.md``) gives the scores, the fitted
advection velocity γ/c and diffusion H/c (per unit time) with standard errors, and a figure of
them (``advection_diffusion_<dataset>.png``).

Part ``study``: ``--replicates`` data sets simulated from the model (α = 1, α_s = 1, regular
grid mesh of ``--study-nodes`` nodes over [0, 1]², ``--study-times`` steps, 100 stations
observed at every step), each fitted by maximum likelihood with standard errors; bias, RMSE and
95 % coverage of every parameter, and the wall time per fit.

Part ``scaling``: seconds for ℓ and ℓ + ∇ℓ at (N_s, n_t) in ``--scaling``, until one takes
longer than ``--budget`` seconds.

    .venv/bin/python benchmarks/advection_diffusion.py                 # real data
    .venv/bin/python benchmarks/advection_diffusion.py --parts study --replicates 30
    .venv/bin/python benchmarks/advection_diffusion.py --parts scaling
    .venv/bin/python benchmarks/advection_diffusion.py --quick         # smoke run
"""

from __future__ import annotations

import argparse
import gc
import math
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, md_table  # noqa: E402

from fieldfit import Observations, fit  # noqa: E402
from fieldfit.covariance import Exponential, Matern  # noqa: E402
from fieldfit.covariance.spacetime import Separable  # noqa: E402
from fieldfit.diagnostics.scores import score_all  # noqa: E402
from fieldfit.io import write_atomic  # noqa: E402
from fieldfit.models import GaussianField  # noqa: E402
from fieldfit.models.advection_diffusion_field import AdvectionDiffusionField  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load_medwind(quick: bool) -> pd.DataFrame:
    d = pd.read_parquet(DATA / "mediterranean_wind" / "ecmwf_uvp_long.parquet")
    d = d.rename(columns={"u": "z"})
    d["t"] = d["t_index"].astype(float) - 1.0
    if quick:
        d = d[(d.lon % 1.5 == 0) & (d.lat % 1.5 == 0) & (d.t < 10)]
    return d[["lon", "lat", "t", "z"]]


def load_noaa(quick: bool) -> pd.DataFrame:
    d = pd.read_parquet(DATA / "noaa_daily" / "NOAA_df_1990_long.parquet")
    d = d[d.variable == "Tmax"].copy()
    d["date"] = pd.to_datetime(d["date"])
    start = pd.Timestamp("1993-07-01")
    days = 10 if quick else 30
    d = d[(d.date >= start) & (d.date < start + pd.Timedelta(days=days))]
    d["t"] = (d["date"] - start).dt.days.astype(float)
    return d.rename(columns={"value": "z"})[["lon", "lat", "t", "z"]]


LOADERS = {"medwind": load_medwind, "noaa": load_noaa}


def split(d: pd.DataFrame, forecast: int, seed: int):
    """Training rows, held-out locations (all times before the forecast) and forecast times."""
    lat0 = math.radians(d.lat.mean())
    d = d.assign(x=d.lon * math.cos(lat0), y=d.lat)
    locs = d[["x", "y"]].drop_duplicates().to_numpy()
    rng = np.random.default_rng(seed)
    test_locs = locs[rng.random(len(locs)) < 0.2]
    key = pd.MultiIndex.from_frame(d[["x", "y"]])
    in_test = key.isin(pd.MultiIndex.from_arrays(test_locs.T))
    t_cut = np.sort(d.t.unique())[-forecast]
    future = d.t >= t_cut
    return d[~in_test & ~future], d[in_test & ~future], d[future]


def _obs(d: pd.DataFrame) -> Observations:
    return Observations(coords=d[["x", "y"]].to_numpy(), times=d.t.to_numpy(),
                        values=d.z.to_numpy(), coord_names=("x", "y"), time_name="t")


def models(train: pd.DataFrame):
    space = np.ptp(train[["x", "y"]].to_numpy(), axis=0).max()
    edge = space / 25.0
    # data points within an edge share a node: the nugget then absorbs what the piecewise-
    # linear field cannot resolve between nodes (with a node at every datum it tends to 0 and
    # predictions between nodes are overconfident)
    opts = {"max_edge": (edge, 3 * edge), "offset": space / 6.0, "cutoff": edge}
    return {
        "AD": AdvectionDiffusionField(alpha=1, alpha_s=1, anisotropic=True, mesh_options=opts),
        "D": AdvectionDiffusionField(alpha=1, alpha_s=1, anisotropic=True, advection=False,
                                     mesh_options=opts),
        "separable": GaussianField(Separable(Matern(smoothness=1.0), Exponential()),
                                   engine="vecchia"),
    }


def run_dataset(name: str, args) -> tuple[str, dict]:
    d = LOADERS[name](args.quick)
    train, held_locs, future = split(d, args.forecast, args.seed)
    obs = _obs(train)
    print(f"{name}: {len(train)} training values, {len(held_locs)} at held-out locations, "
          f"{len(future)} forecast values", flush=True)
    rows, fitted, params_rows = [], {}, []
    for label, m in models(train).items():
        t0 = time.perf_counter()
        res = fit(m, obs, restarts=0, stderr=True, progress=False)
        t_fit = time.perf_counter() - t0
        scores = {}
        for part, target in (("locations", held_locs), ("forecast", future)):
            pts = target[["x", "y", "t"]].to_numpy()
            mean, sd = m.predict(obs, pts, res.params, noise=True)
            scores[part] = score_all(target.z.to_numpy(), mean, sd)
        fitted[label] = (m, res)
        params_rows.append([label, ", ".join(
            f"{k} {v:.4g}" + (f" ± {res.stderr[k]:.2g}" if res.stderr.get(k) else "")
            for k, v in res.params.items() if k not in res.fixed)])
        print(f"  {label}: ℓ {res.loglik:.1f}, fit {t_fit:.0f} s, CRPS loc "
              f"{scores['locations']['crps']:.3f} / forecast {scores['forecast']['crps']:.3f}",
              flush=True)
        rows.append([label, f"{res.loglik:.1f}", len([k for k in res.params
                                                      if k not in res.fixed]), f"{t_fit:.0f}",
            *(f"{scores[p][k]:.3f}" for p in ("locations", "forecast")
              for k in ("crps", "rmse", "coverage"))])
    table = md_table(["model", "ℓ", "free parameters", "fit (s)", "CRPS loc.", "RMSE loc.",
                      "95 % cov. loc.", "CRPS fcst.", "RMSE fcst.", "95 % cov. fcst."], rows)
    text = f"### {name}\n\n{len(train):,} training values; {len(held_locs):,} at held-out " \
           f"locations; {len(future):,} forecast values (last {args.forecast} times).\n\n" + table
    text += "\n\nEstimates (± standard errors where the observed information is positive " \
            "definite):\n\n" + md_table(["model", "parameters"], params_rows)
    text += "\n\n" + _transport(name, fitted["AD"][1], args)
    return text, fitted


def _transport(name, res, args) -> str:
    """Velocity γ/c and diffusion H/c with delta-method standard errors, and the figure."""
    p, se = res.params, res.stderr
    c = p["c"]
    v = np.array([p["gamma_x"], p["gamma_y"]]) / c
    vse = [abs(v[i]) * math.hypot((se.get(k) or 0) / max(abs(p[k]), 1e-300),
                                  (se.get("c") or 0) / c)
           for i, k in enumerate(("gamma_x", "gamma_y"))]
    th, r = p.get("H_angle", 0.0), p.get("H_ratio", 1.0)
    lines = [
        f"Fitted transport (AD model, per time step): velocity γ/c = ({v[0]:.4g} ± {vse[0]:.2g}, "
        f"{v[1]:.4g} ± {vse[1]:.2g}) (± 1 SE, delta method ignoring correlations); "
        f"κ = {p['kappa']:.4g} ± {se.get('kappa') or float('nan'):.2g}, "
        f"c = {c:.4g} ± {se.get('c') or float('nan'):.2g}, "
        f"H_ratio = {r:.3g} ± {se.get('H_ratio') or float('nan'):.2g}, "
        f"H_angle = {math.degrees(th):.1f}° ± "
        f"{math.degrees(se.get('H_angle') or float('nan')):.1f}°; "
        f"diffusion H/c along the main axis {1 / c:.3g}, across {r * r / c:.3g} "
        "(units² per step)."]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Ellipse

        fig, ax = plt.subplots(figsize=(5, 5))
        ax.arrow(0, 0, v[0], v[1], width=0.004 * max(np.abs(v).max(), 1e-9) * 10,
                 length_includes_head=True, color="C0", label="velocity γ/c")
        ax.add_patch(Ellipse((v[0], v[1]), 2 * 1.96 * vse[0], 2 * 1.96 * vse[1],
                             fill=False, color="C0", ls="--"))
        s = math.sqrt(1 / c)
        ax.add_patch(Ellipse((0, 0), 2 * s, 2 * s * r, angle=math.degrees(th), fill=False,
                             color="C3", label="√(H/c): diffusion per step"))
        lim = 1.3 * max(np.abs(v).max() + 2 * max(vse), s * max(1, r))
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.8", lw=0.5)
        ax.axvline(0, color="0.8", lw=0.5)
        ax.set_title(f"{name}: fitted advection and diffusion")
        ax.legend(loc="lower left", fontsize=8)
        path = args.out.parent / f"advection_diffusion_{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        lines.append(f"\n\n![{name}]({path.name})")
    except ImportError:
        lines.append(" (matplotlib not installed: no figure)")
    return "".join(lines)


STUDY_TRUTH = {"kappa": 8.0, "c": 32.0, "tau": 40.0, "gamma_x": 10.0, "gamma_y": -6.0,
               "nugget": 0.05, "mean": 1.0}  # σ² = 1, range √8/κ = 0.35, γ/c = (0.31, −0.19)


def study(args) -> str:
    from fieldfit.spde import Mesh

    k = int(round(math.sqrt(args.study_nodes)))
    mesh = Mesh.grid(np.linspace(0, 1, k), np.linspace(0, 1, k))
    rng = np.random.default_rng(args.seed)
    stations = rng.random((100, 2))
    pts = np.column_stack([np.tile(stations, (args.study_times, 1)),
                           np.repeat(np.arange(args.study_times), len(stations)) * 0.1])
    model = AdvectionDiffusionField(mesh=mesh, alpha=1, alpha_s=1)
    names = list(STUDY_TRUTH)
    est, cover, times = {n: [] for n in names}, {n: [] for n in names}, []
    for r in range(args.replicates):
        y = model.simulate(pts, STUDY_TRUTH, seed=1000 + r)[0]
        obs = Observations(coords=pts[:, :2], times=pts[:, 2], values=y)
        t0 = time.perf_counter()
        res = fit(model, obs, restarts=0, stderr=True, progress=False)
        times.append(time.perf_counter() - t0)
        for n in names:
            v, se = res.params[n], res.stderr.get(n)
            est[n].append(v)
            cover[n].append(se is not None and abs(v - STUDY_TRUTH[n]) <= 1.96 * se)
        print(f"replicate {r + 1}/{args.replicates}: {times[-1]:.0f} s, "
              + ", ".join(f"{n} {res.params[n]:.3g}" for n in names), flush=True)
    rows = [[n, f"{STUDY_TRUTH[n]:g}", f"{np.mean(est[n]) - STUDY_TRUTH[n]:.3g}",
             f"{np.sqrt(np.mean((np.array(est[n]) - STUDY_TRUTH[n]) ** 2)):.3g}",
             f"{np.mean(cover[n]):.2f}"] for n in names]
    return (f"{args.replicates} replicates; mesh {mesh.n_nodes} nodes × {args.study_times} "
            f"steps ({mesh.n_nodes * args.study_times:,} space-time nodes), 100 stations; "
            f"wall time per fit (with standard errors): median {np.median(times):.0f} s, "
            f"max {np.max(times):.0f} s.\n\n"
            + md_table(["parameter", "truth", "bias", "RMSE", "95 % coverage"], rows))


def scaling(args) -> str:
    from fieldfit.gmrf import Pattern
    from fieldfit.likelihood.gmrf import GMRFEngine
    from fieldfit.spde import Mesh
    from fieldfit.spde.advection_diffusion import AdvectionDiffusionSPDE

    rows = []
    for ns, nt in args.scaling:
        k = int(round(math.sqrt(ns)))
        mesh = Mesh.grid(np.linspace(0, 1, k), np.linspace(0, 1, k))
        t0 = time.perf_counter()
        spde = AdvectionDiffusionSPDE(mesh, nt, dt=0.1, alpha=1, alpha_s=1)
        rng = np.random.default_rng(args.seed)
        n_obs = min(spde.n // 4, 100 * nt)
        steps = rng.integers(0, nt, n_obs)
        A = spde.projector(np.column_stack([rng.random((n_obs, 2)), spde.times[steps]]))
        engine = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n), A)
        setup = time.perf_counter() - t0
        y = torch.from_numpy(rng.standard_normal((1, n_obs)))
        X = torch.ones(n_obs, 1, dtype=torch.float64)
        p0 = {k: torch.tensor(v, dtype=torch.float64) for k, v in STUDY_TRUTH.items()
              if k not in ("mean",)}
        p0["H_scale"] = torch.tensor(1.0, dtype=torch.float64)
        with torch.no_grad():
            t0 = time.perf_counter()
            q, ld = spde.precision_and_logdet(p0)
            engine.log_likelihood(q, p0["nugget"], y, X, logdet_q=ld)
            t_ll = time.perf_counter() - t0
        leaves = {k: v.clone().requires_grad_() for k, v in p0.items()}
        t0 = time.perf_counter()
        q, ld = spde.precision_and_logdet(leaves)
        ll = engine.log_likelihood(q, leaves["nugget"], y, X, logdet_q=ld)
        torch.autograd.grad(ll, list(leaves.values()))
        t_g = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
        rows.append([f"{spde.n_space:,}", nt, f"{spde.n:,}", f"{spde.nnz:,}", f"{n_obs:,}",
                     f"{setup:.1f}", f"{t_ll:.2f}", f"{t_g:.2f}", f"{peak:.1f}"])
        print(f"N_s = {spde.n_space}, n_t = {nt}: ℓ {t_ll:.2f} s, ℓ+∇ℓ {t_g:.2f} s", flush=True)
        if args.partial is not None:  # what is measured survives a later size running out
            write_atomic(args.partial, md_table(HEADERS, rows) + "\n")
        del spde, engine, q, ld, ll, leaves, A  # the factor and its selected inverse: GiBs
        gc.collect()
        if t_g > args.budget:
            break
    return md_table(HEADERS, rows)


HEADERS = ["N_s", "n_t", "space-time nodes", "nnz(Q)", "observations", "setup (s)", "ℓ (s)",
           "ℓ + ∇ℓ (s)", "peak memory so far (GiB)"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["realdata"],
                    choices=["realdata", "study", "scaling"])
    ap.add_argument("--datasets", nargs="+", default=["medwind", "noaa"], choices=list(LOADERS))
    ap.add_argument("--replicates", type=int, default=30)
    ap.add_argument("--study-nodes", type=int, default=1024)
    ap.add_argument("--study-times", type=int, default=50)
    ap.add_argument("--scaling", type=lambda s: tuple(int(v) for v in s.split("x")), nargs="+",
                    default=[(256, 50), (1024, 50), (1024, 100), (2500, 50), (1024, 200),
                             (256, 1000), (256, 3906)],
                    help="N_sxn_t pairs; 256x3906 = 10^6 space-time nodes needs ~21 GiB "
                    "(4096x50 ran out of 24 GiB: the factor of the space-time posterior "
                    "precision, its CSC copy and its selected inverse)")
    ap.add_argument("--budget", type=float, default=120.0,
                    help="scaling: stop after a size whose ℓ + ∇ℓ takes longer")
    ap.add_argument("--forecast", type=int, default=4, help="held-out final times")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=None,
                    help="report (default results/advection_diffusion[-PART].md)")
    args = ap.parse_args(argv)
    if args.out is None:
        suffix = "" if args.parts == ["realdata"] else "-" + "-".join(args.parts)
        args.out = Path(__file__).parent / "results" / f"advection_diffusion{suffix}.md"
    args.partial = args.out.with_suffix(".partial.md") if "scaling" in args.parts else None
    if args.quick:
        args.replicates, args.study_nodes, args.study_times = 2, 256, 10
        args.scaling = [(256, 10), (1024, 10)]
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    info = machine_info(args.threads, f"torch {torch.__version__}", "torch.set_num_threads")
    text = "# Advection–diffusion SPDE\n\n" + md_table(["", ""], info)
    if "realdata" in args.parts:
        text += "\n\n## Real data\n"
        for name in args.datasets:
            section, _ = run_dataset(name, args)
            text += "\n\n" + section
    if "study" in args.parts:
        text += "\n\n## Simulation study\n\n" + study(args)
    if "scaling" in args.parts:
        text += "\n\n## Scaling of ℓ + ∇ℓ\n\n" + scaling(args)
    text += f"\n\nTotal run time {time.perf_counter() - t0:.0f} s.\n"
    write_atomic(args.out, text)
    if args.partial is not None and args.partial.exists():
        args.partial.unlink()
    print(text)


if __name__ == "__main__":
    main()
