"""The demo behind ``fieldfit demo``: a Matérn field fitted to a bundled real dataset.

meuse  log zinc concentration in the Meuse flood plain (155 soil samples), mean linear in
       √(distance to the river), Matérn covariance with ν estimated; universal kriging on the
       3,103-cell grid; 10-fold cross-validation.
sic97  Swiss daily rainfall of 8 May 1986: fitted on the 100 observed gauges, scored on the
       367 validation gauges (out of sample) and by cross-validation.

Writes ``result.json`` (the fit), ``predictions.parquet`` (id, coordinates, mean, sd) and
``map.png`` (kriging mean and standard deviation) into the output folder.
"""

from __future__ import annotations

import io
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
from .io import write_atomic, write_table
from .models import build
from .predict import cross_validate, krige


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
                                              covariates=["sqrt_dist"], require_values=False)
        model = build("matern", mean="covariates")
        return obs, targets, None, model, "log zinc (log ppm), Meuse"
    if dataset == "sic97":
        df = datasets.load("sic97")
        train = df[df["split"] == "train"]
        valid = df[df["split"] != "train"]
        obs = Observations.from_dataframe(train, coords=["x", "y"], value="rainfall", id="ID")
        targets = Observations.from_dataframe(valid, coords=["x", "y"], value=None, id="ID",
                                              require_values=False)
        model = build("matern", mean="constant")
        return obs, targets, valid["rainfall"].to_numpy(), model, "rainfall (0.1 mm), SIC97"
    raise ValueError(f"unknown demo dataset {dataset!r}; choose meuse or sic97")


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


def run_demo(out: Path | str = "demo-output", dataset: str = "meuse", folds: int = 10,
             console: Console | None = None) -> dict:
    """Fit, cross-validate, predict and map; returns a dict of the result and scores."""
    console = console or Console()
    out = Path(out)
    obs, targets, truth, model, title = _prepare(dataset)
    console.print(f"[bold]fieldfit demo[/bold]: {model!r} on {dataset} (n = {obs.n})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(model, obs, restarts=2)
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    tab = Table(title=f"Maximum likelihood estimates ({dataset}, exact engine)")
    for col in ("parameter", "estimate", "std. error", "95% interval"):
        tab.add_column(col, justify="right" if col != "parameter" else "left")
    for name, value in result.params.items():
        se = result.stderr.get(name)
        lo, hi = result.confidence_interval(name)
        edge = name in result.on_edge
        tab.add_row(name, f"{value:.4g}" + (" (edge)" if edge else ""),
                    "—" if se is None else f"{se:.3g}",
                    "—" if se is None else f"[{lo:.4g}, {hi:.4g}]")
    console.print(tab)
    console.print(f"log-likelihood {result.loglik:.3f}, AIC {result.aic:.2f}, "
                  f"{result.evaluations} evaluations, {result.seconds:.1f} s")
    for note in notes:
        console.print(f"[yellow]note[/yellow]: {note}")

    scores, cv_table = cross_validate(model, obs, result, folds=folds)
    rows = {f"{folds}-fold CV": scores}
    rows["CV, trend only"] = _trend_only_cv(model, obs, cv_table["fold"].to_numpy())
    table = krige(model, obs, targets, result)
    if truth is not None:
        rows["validation gauges"] = score_all(truth, table["mean"].to_numpy(),
                                              table["sd"].to_numpy())
    st = Table(title="Predictive scores (smaller is better; coverage of 95% intervals)")
    st.add_column("")
    for k in ("mae", "rmse", "crps", "interval_score", "coverage", "n"):
        st.add_column(k, justify="right")
    for label, s in rows.items():
        st.add_row(label, *(f"{s[k]:.4g}" for k in ("mae", "rmse", "crps", "interval_score",
                                                      "coverage", "n")))
    console.print(st)

    result.to_json(out / "result.json")
    write_table(table, out / "predictions.parquet")
    _map(out / "map.png", targets, table, obs, title)
    console.print(f"wrote {out / 'result.json'}, {out / 'predictions.parquet'}, {out / 'map.png'}")
    return {"result": result, "scores": rows}
