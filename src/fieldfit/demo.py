"""The demo behind ``fieldfit demo``: fieldfit on bundled real data in about a minute.

Four steps, each printed as it runs:

1. **A penalised Matérn fit with a well-posed smoothness.** meuse: log zinc concentration in
   the Meuse flood plain (155 soil samples), mean linear in √(distance to the river), Matérn
   covariance + nugget. sic97: Swiss daily rainfall of 8 May 1986 on the 100 training gauges,
   constant mean, no nugget (its estimate is 0, the boundary of its range, where it gets no
   useful standard error: the gauges' rainfall varies smoothly). On Meuse the likelihood of
   the smoothness ν is flat: the profile log-likelihood (ν fixed on a grid, the other
   parameters maximised) rises only slightly from ν = 0.5 to ν = 10 and keeps creeping up
   towards ν → ∞ (the Gaussian covariance), so the unpenalised estimate runs to the edge of
   its search box with no standard error. The demo keeps ν estimated and puts a
   weakly-informative prior on it,

       ν ~ Gamma(shape 2, rate 1):  p(ν) = ν e^{−ν}   (mode 1, mean 2, 95 % of its mass in
                                                       (0.24, 5.6))

   and maximises the penalised likelihood ℓ(θ) + log p(ν) (the posterior mode under flat
   priors on the rest; :func:`fieldfit.fit` with ``priors=``). A prior rather than a profile
   alone, because the profile only shows that the data cannot choose ν (every ν on the grid is
   inside the 95 % profile-likelihood set, Δℓ < χ²₁,₀.₉₅ / 2 = 1.92), while the prior turns
   that into an interior estimate with a standard error, and the other parameters' standard
   errors then include ν's uncertainty (fixing ν would hide it). The profile is printed too,
   as the evidence. Then
   K-fold cross-validated kriging (beside a trend-only baseline) and the kriging mean and sd
   on the 3,103-cell Meuse grid (sic97: also the 367 held-out gauges).
2. **The shipped amortized estimator beside maximum likelihood**, on the same values and
   locations: ``matern-irregular`` (Matérn, ν = 1, constant mean, nugget;
   ``fieldfit.neural.load_estimator``) against the exact MLE of that same model, with its
   90 % intervals and both timings.
3. **A one-day-ahead space-time forecast** of Irish wind speeds
   (:mod:`fieldfit.demo_forecast`): a Gneiting space-time field fitted on four weeks, the
   next seven days forecast one day ahead and scored on the held-out station values beside
   persistence, and the first forecast day mapped.
4. **Outputs**, written into a staging folder beside ``out`` and moved into ``out`` only when
   every step has succeeded, so a failed or interrupted demo leaves an existing ``out``
   untouched.

Files: ``result.json`` (the penalised fit), ``smoothness-profile.csv``, ``predictions.parquet``
(id, coordinates, mean, sd), ``map.png``, ``neural-vs-mle.csv``, ``forecast-result.json``,
``forecast.parquet`` (the forecast grid), ``forecast-stations.csv`` (the scored forecasts) and
``forecast.png``.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from . import datasets
from .data import Observations
from .diagnostics import score_all
from .fit import fit
from .io import write_atomic, write_json, write_table
from .models import build
from .predict import cross_validate, krige
from .priors import Gamma

DATASETS = ("meuse", "sic97")
#: the weakly-informative prior on the Matérn smoothness (see the module docstring)
SMOOTHNESS_PRIOR = Gamma(2.0, 1.0)
#: the smoothness grid of the profile log-likelihood (quick: a shorter one)
PROFILE_GRID = (0.5, 1.0, 1.5, 2.5, 5.0, 10.0)
QUICK_PROFILE_GRID = (0.5, 1.5, 5.0)
#: the shipped estimator compared with maximum likelihood, and its fixed smoothness
ESTIMATOR = "matern-irregular"
SCORE_KEYS = ("mae", "rmse", "crps", "interval_score", "coverage", "n")


def _prepare(dataset: str):
    if dataset == "meuse":
        obs_df = datasets.load("meuse")
        grid_df = datasets.load("meuse-grid")
        for df in (obs_df, grid_df):
            df["sqrt_dist"] = np.sqrt(df["dist"])
        obs_df["log_zinc"] = np.log(obs_df["zinc"])
        obs = Observations.from_dataframe(obs_df, coords=["x", "y"], value="log_zinc",
                                          covariates=["sqrt_dist"])
        targets = Observations.from_dataframe(grid_df, coords=["x", "y"], value=None,
                                              covariates=["sqrt_dist"])
        model = build("matern", mean="covariates")
        return (obs, targets, None, model, "log zinc (log ppm), Meuse",
                "log zinc = β₀ + β₁·√dist + Matérn field + nugget")
    if dataset == "sic97":
        df = datasets.load("sic97")
        train = df[df["split"] == "train"]
        valid = df[df["split"] != "train"]
        obs = Observations.from_dataframe(train, coords=["x", "y"], value="rainfall", id="ID")
        targets = Observations.from_dataframe(valid, coords=["x", "y"], value=None, id="ID")
        model = build("matern", mean="constant", nugget=False)
        return (obs, targets, valid["rainfall"].to_numpy(), model, "rainfall (0.1 mm), SIC97",
                "rainfall = μ + Matérn field (no nugget)")
    raise ValueError(f"unknown --dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


class _Staging:
    """Outputs written into a hidden folder beside ``out`` and moved into ``out`` by
    :meth:`commit` (one ``os.replace`` per file, same file system); :meth:`discard` removes
    the folder and leaves ``out`` as it was. Bad output paths fail here, before any work."""

    def __init__(self, out: Path):
        self.out = out
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {str(out)!r} is a file, not a folder")
        parent = out.absolute().parent
        up = next((p for p in (parent, *parent.parents) if p.exists()), None)
        if up is not None and not up.is_dir():
            raise ValueError(f"--out {str(out)!r}: {str(up)!r} is a file, not a folder")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
        except OSError as e:
            raise ValueError(f"--out {str(out)!r}: cannot write in {str(parent)!r} "
                             f"({e.strerror or e})") from None

    def __truediv__(self, name: str) -> Path:
        return self.dir / name

    def commit(self) -> list[Path]:
        self.out.mkdir(parents=True, exist_ok=True)
        done = []
        for f in sorted(self.dir.iterdir()):
            os.replace(f, self.out / f.name)
            done.append(self.out / f.name)
        self.dir.rmdir()
        return done

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _as_raster(x: np.ndarray, y: np.ndarray):
    """(xs, ys, ix, iy) when the points lie on a regular grid, else None."""
    xs, ix = np.unique(x, return_inverse=True)
    ys, iy = np.unique(y, return_inverse=True)
    if len(xs) < 2 or len(ys) < 2 or len(xs) * len(ys) > 4 * len(x):
        return None
    if not (np.allclose(np.diff(xs), xs[1] - xs[0]) and np.allclose(np.diff(ys), ys[1] - ys[0])):
        return None
    return xs, ys, ix, iy


def _map(path: Path, targets: Observations, table: pd.DataFrame, obs: Observations, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), constrained_layout=True)
    x, y = targets.coords[:, 0], targets.coords[:, 1]
    grid = _as_raster(x, y)
    for ax, col, cmap, label in ((axes[0], "mean", "viridis", "kriging mean"),
                                 (axes[1], "sd", "magma", "kriging sd")):
        v = table[col].to_numpy()
        if grid is not None:  # a regular grid: draw it as a raster
            xs, ys, ix, iy = grid
            img = np.full((len(ys), len(xs)), np.nan)
            img[iy, ix] = v
            sc = ax.pcolormesh(xs, ys, np.ma.masked_invalid(img), cmap=cmap, shading="nearest")
        else:
            sc = ax.scatter(x, y, c=v, s=12, cmap=cmap, linewidths=0)
        ax.scatter(obs.coords[:, 0], obs.coords[:, 1], s=6, c="white", edgecolors="black",
                   linewidths=0.4, label="observations")
        ax.set_aspect("equal")
        ax.locator_params(axis="x", nbins=5)
        ax.set_title(f"{label}: {title}")
        fig.colorbar(sc, ax=ax, shrink=0.8)
    axes[0].legend(loc="lower right", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def _trend_only_cv(model, obs: Observations, fold: np.ndarray) -> dict:
    """The same folds scored by the mean model alone (least squares, independent errors):
    what the spatial covariance adds. Predictive sd: σ̂ √(1 + x₀ᵀ(XᵀX)⁻¹x₀)."""
    X = model.mean.design(obs.coords, obs.covariates)
    y = obs.values_2d[0]
    mean, sd = np.empty_like(y), np.empty_like(y)
    for f in np.unique(fold):
        test = fold == f
        Xt, yt = X[~test], y[~test]
        beta, *_ = np.linalg.lstsq(Xt, yt, rcond=None)
        dof = max(len(yt) - X.shape[1], 1)
        s2 = float(np.sum((yt - Xt @ beta) ** 2)) / dof
        lev = np.einsum("ij,jk,ik->i", X[test], np.linalg.pinv(Xt.T @ Xt), X[test])
        mean[test] = X[test] @ beta
        sd[test] = np.sqrt(s2 * (1.0 + lev))
    return score_all(y, mean, sd)


def _fit_quietly(model, obs, **kw):
    """``fit`` with its UserWarnings collected: (result, [messages])."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(model, obs, **kw)
    return result, [str(w.message) for w in caught if issubclass(w.category, UserWarning)]


def _estimates_table(result, title: str) -> Table:
    """Estimate, standard error and 95 % interval per parameter (fixed ones say so)."""
    tab = Table(title=title)
    for col in ("parameter", "estimate", "std. error", "95% interval"):
        tab.add_column(col, justify="right" if col != "parameter" else "left")
    for name, value in result.params.items():
        se = result.stderr.get(name)
        if name in result.fixed:
            tab.add_row(name, f"{value:.4g}", "fixed", "—")
            continue
        lo, hi = result.confidence_interval(name)
        tab.add_row(name, f"{value:.4g}" + (" (edge)" if name in result.on_edge else ""),
                    "—" if se is None else f"{se:.3g}",
                    "—" if se is None else f"[{lo:.4g}, {hi:.4g}]")
    return tab


def smoothness_profile(model, obs, grid=PROFILE_GRID, restarts: int = 1) -> pd.DataFrame:
    r"""Profile log-likelihood of the Matérn smoothness on a grid of ν.

    :math:`\ell_p(\nu)` is the maximum over the other parameters of :math:`\ell(\theta)` at ν
    fixed; ν is inside the 95 % profile-likelihood set on the grid where delta < 1.92.

    Parameters
    ----------
    model : Model
        A Matérn model with a ``smoothness`` parameter.
    obs : fieldfit.Observations
        The data.
    grid : sequence of float, default PROFILE_GRID
        Smoothness values.
    restarts : int, default 1
        Restarts of each fit.

    Returns
    -------
    pandas.DataFrame
        Columns ``smoothness``, ``loglik`` and ``delta`` = :math:`\max \ell_p - \ell_p(\nu)`.
    """
    rows = []
    for nu in grid:
        r = fit(model, obs, fix={"smoothness": float(nu)}, restarts=restarts, stderr=False,
                progress=False)
        rows.append({"smoothness": float(nu), "loglik": float(r.loglik)})
    prof = pd.DataFrame(rows)
    prof["delta"] = prof["loglik"].max() - prof["loglik"]
    return prof


def _spatial(obs, targets, truth, model, title, dataset, folds, quick, console, stage):
    """Step 1: the penalised fit, the profile, cross-validation, kriging and the map."""
    result, notes = _fit_quietly(model, obs, restarts=0 if quick else 1,
                                 priors={"smoothness": SMOOTHNESS_PRIOR})
    nu = result.params["smoothness"]
    log_prior = float(SMOOTHNESS_PRIOR.log_prob(nu))
    console.print(_estimates_table(
        result, f"Penalised maximum likelihood, smoothness ~ Gamma(2, 1) ({dataset}, exact "
        "engine)"))
    console.print(f"log-likelihood {result.loglik - log_prior:.3f} (+ log prior "
                  f"{log_prior:.3f} = penalised {result.loglik:.3f}), {result.evaluations} "
                  f"evaluations, {result.seconds:.1f} s")
    for note in notes:
        console.print(f"[yellow]note[/yellow]: {note}")

    prof = smoothness_profile(model, obs, QUICK_PROFILE_GRID if quick else PROFILE_GRID,
                              restarts=0 if quick else 1)
    pt = Table(title="Profile log-likelihood of the smoothness (ν fixed, the rest maximised)")
    for col in ("smoothness ν", "log-likelihood", "max − ℓ", "in 95% set"):
        pt.add_column(col, justify="right")
    for row in prof.itertuples():
        pt.add_row(f"{row.smoothness:g}", f"{row.loglik:.3f}", f"{row.delta:.3f}",
                   "yes" if row.delta < 1.92 else "no")
    console.print(pt)
    span = float(prof["delta"].max())
    console.print(f"the profile varies by {span:.2f} over ν ∈ [{prof['smoothness'].min():g}, "
                  f"{prof['smoothness'].max():g}]: "
                  + ("the data alone hardly identify ν; the prior settles it"
                     if span < 1.92 else "the data identify ν; the prior only regularises"))

    scores, cv_table = cross_validate(model, obs, result, folds=folds)
    rows = {f"{folds}-fold CV": scores,
            "CV, trend only": _trend_only_cv(model, obs, cv_table["fold"].to_numpy())}
    table = krige(model, obs, targets, result)
    if truth is not None:
        rows["validation gauges"] = score_all(truth, table["mean"].to_numpy(),
                                              table["sd"].to_numpy())
    console.print(_scores_table("Predictive scores (smaller is better; coverage of 95% "
                                "intervals)", rows))
    result.to_json(stage / "result.json")
    write_table(prof, stage / "smoothness-profile.csv")
    write_table(table, stage / "predictions.parquet")
    _map(stage / "map.png", targets, table, obs, title)
    return result, rows, prof


def _scores_table(title: str, rows: dict) -> Table:
    st = Table(title=title)
    st.add_column("")
    for k in SCORE_KEYS:
        st.add_column(k, justify="right")
    for label, s in rows.items():
        st.add_row(label, *(f"{s[k]:.4g}" for k in SCORE_KEYS))
    return st


def neural_vs_mle(obs: Observations, restarts: int = 1) -> tuple[pd.DataFrame, dict, list]:
    """The shipped ``matern-irregular`` estimate beside the exact MLE of the same model.

    The model is Matérn with the estimator's fixed smoothness, constant mean and nugget, on
    ``obs``'s locations and values.

    Parameters
    ----------
    obs : fieldfit.Observations
        The data (one replicate).
    restarts : int, default 1
        Restarts of the maximum-likelihood fit.

    Returns
    -------
    table : pandas.DataFrame
        ``parameter, mle, mle_se, mle_lower, mle_upper, neural, neural_lower, neural_upper``
        (the MLE's 95 % intervals of :meth:`FitResult.confidence_interval
        <fieldfit.fit.FitResult.confidence_interval>`, the estimator's conformally calibrated
        90 % intervals).
    seconds : dict
        ``{"mle", "neural_first", "neural"}`` in seconds (the first call includes the
        just-in-time compilation of the pilot likelihoods; ``neural`` is a second, identical
        call).
    notes : list of str
        The estimator's warnings.
    """
    from .neural.bundle import load_estimator

    est = load_estimator(ESTIMATOR)
    fixed = dict(est.spec.prior.fixed)
    data = pd.DataFrame({"x": obs.coords[:, 0], "y": obs.coords[:, 1], "z": obs.values_2d[0]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.estimate(data)
        t1 = time.perf_counter()
        neural = est.estimate(data)
        t2 = time.perf_counter()
    notes = list(dict.fromkeys(str(w.message) for w in caught
                               if issubclass(w.category, UserWarning)))
    model = build("matern", mean="constant")
    flat = Observations(coords=obs.coords, values=obs.values_2d[0], coord_names=obs.coord_names)
    t3 = time.perf_counter()
    mle, _ = _fit_quietly(model, flat, fix=fixed, restarts=restarts, progress=False)
    t4 = time.perf_counter()
    rows = []
    for name in est.names:
        se = mle.stderr.get(name)
        lo, hi = mle.confidence_interval(name)
        rows.append({"parameter": name, "mle": mle.params[name],
                     "mle_se": math.nan if se is None else se, "mle_lower": lo,
                     "mle_upper": hi, "neural": float(neural[name].iloc[0]),
                     "neural_lower": float(neural[f"{name}_lower"].iloc[0]),
                     "neural_upper": float(neural[f"{name}_upper"].iloc[0])})
    return pd.DataFrame(rows), {"mle": t4 - t3, "neural_first": t1 - t0,
                                "neural": t2 - t1}, notes


def _neural(obs, dataset, quick, console, stage):
    """Step 2: the shipped estimator beside the MLE."""
    table, secs, notes = neural_vs_mle(obs, restarts=0 if quick else 1)
    nt = Table(title=f"Amortized ({ESTIMATOR}) beside maximum likelihood ({dataset}, Matérn "
               "ν = 1, constant mean)")
    for col in ("parameter", "MLE ± std. error", "MLE 95% interval", "neural", "neural 90% "
                "interval"):
        nt.add_column(col, justify="right" if col != "parameter" else "left")
    for r in table.itertuples():
        nt.add_row(r.parameter, f"{r.mle:.4g} ± {r.mle_se:.3g}",
                   f"[{r.mle_lower:.4g}, {r.mle_upper:.4g}]", f"{r.neural:.4g}",
                   f"[{r.neural_lower:.4g}, {r.neural_upper:.4g}]")
    console.print(nt)
    console.print(f"time: MLE {secs['mle']:.2f} s; neural {secs['neural'] * 1e3:.0f} ms per "
                  f"dataset ({secs['neural_first']:.2f} s for the first call, which compiles "
                  "its pilot likelihoods)")
    for note in notes:
        console.print(f"[yellow]note[/yellow]: {note}")
    write_table(table, stage / "neural-vs-mle.csv")
    return table, secs


def _forecast(quick, console, stage):
    """Step 3: the Irish wind forecast, scored beside persistence, and its map."""
    from .demo_forecast import FIXED, forecast_map, run_forecast

    fc = (run_forecast(window=14, horizon=3, restarts=0, grid_cells=900) if quick
          else run_forecast())
    console.print(_estimates_table(
        fc.result, f"Gneiting space-time fit, √(wind, knots), 12 stations × "
        f"{fc.result.n // 12} days ({fc.fit_days[0]} – {fc.fit_days[1]}; range in km)"))
    fixed = ", ".join(f"{k} = {v:g}" for k, v in FIXED.items())
    console.print(f"log-likelihood {fc.result.loglik:.3f}, {fc.result.seconds:.1f} s "
                  f"({fixed}: not identified at daily lags, see fieldfit.demo_forecast)")
    console.print(_scores_table(
        f"One-day-ahead forecasts, {fc.forecast_days[0]} – {fc.forecast_days[-1]} (held out; "
        "smaller is better)", {"Gneiting kriging": fc.scores["gneiting"],
                               "persistence": fc.scores["persistence"]}))
    fc.result.to_json(stage / "forecast-result.json")
    write_table(fc.grid, stage / "forecast.parquet")
    write_table(fc.stations, stage / "forecast-stations.csv")
    forecast_map(stage / "forecast.png", fc)
    return fc


def run_demo(out: Path | str = "demo-output", dataset: str = "meuse", folds: int = 10,
             console: Console | None = None, quick: bool = False) -> dict:
    """Run the demo's steps (module docstring) and move their files into ``out``.

    Options and ``out`` are checked before any work; nothing in ``out`` changes unless every
    step succeeds.

    Parameters
    ----------
    out : path-like, default "demo-output"
        Output folder.
    dataset : {"meuse", "sic97"}, default "meuse"
        Dataset of the spatial steps.
    folds : int, default 10
        Number of cross-validation folds (2 to n).
    console : rich.console.Console or None, optional
        Where to print (a new console by default).
    quick : bool, default False
        A shorter run: fewer restarts and profile points, a two-week window and a three-day
        horizon for the forecast, a coarser forecast grid.

    Returns
    -------
    dict
        ``{"result", "scores", "profile", "neural", "neural_seconds", "forecast", "files",
        "seconds"}``.

    Raises
    ------
    ValueError
        For an unknown dataset, a bad number of folds, or an ``out`` that cannot be written.
    """
    t0 = time.perf_counter()
    console = console or Console()
    out = Path(out)
    choice = str(dataset).strip().lower()
    if choice not in DATASETS:
        raise ValueError(f"unknown --dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if isinstance(folds, bool) or int(folds) != folds or folds < 2:
        raise ValueError(f"--folds must be an integer of at least 2, got {folds}")
    obs, targets, truth, model, title, formula = _prepare(choice)
    if folds > obs.n:
        raise ValueError(f"--folds {folds} is more than the {obs.n} observations of {choice}")
    stage = _Staging(out)
    try:
        step = lambda i, what: console.print(  # noqa: E731
            f"[bold cyan][{i}/3][/bold cyan] {what} [dim]({time.perf_counter() - t0:.0f} s)"
            "[/dim]")
        step(1, f"{choice} (n = {obs.n}): {formula}; penalised fit, smoothness profile, "
             f"{folds}-fold CV, kriging map")
        result, rows, prof = _spatial(obs, targets, truth, model, title, choice, int(folds),
                                      quick, console, stage)
        step(2, f"{choice}: the shipped estimator {ESTIMATOR!r} beside maximum likelihood")
        neural, neural_secs = _neural(obs, choice, quick, console, stage)
        step(3, "irish-wind: space-time fit and one-day-ahead forecasts")
        fc = _forecast(quick, console, stage)
        seconds = time.perf_counter() - t0
        write_json({"dataset": choice, "quick": bool(quick), "folds": int(folds),
                    "seconds": round(seconds, 2), "smoothness_prior": SMOOTHNESS_PRIOR.to_dict(),
                    "scores": rows, "neural_seconds": neural_secs,
                    "forecast_scores": fc.scores, "forecast_days": fc.forecast_days},
                   stage / "summary.json")
        files = stage.commit()
    except BaseException:
        stage.discard()
        raise
    ft = Table(title=f"Files in {out} ({seconds:.0f} s in all)")
    ft.add_column("file")
    ft.add_column("size", justify="right")
    for f in files:
        ft.add_row(f.name, f"{f.stat().st_size / 1024:.0f} kB")
    console.print(ft)
    return {"result": result, "scores": rows, "profile": prof, "neural": neural,
            "neural_seconds": neural_secs, "forecast": fc, "files": files, "seconds": seconds}
