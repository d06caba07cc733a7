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
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from . import datasets
from .covariance import Matern
from .data import Observations
from .diagnostics import score_all
from .fit import fit, write_atomic
from .models import GaussianField
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
        model = GaussianField(Matern(), mean="covariates")
        return obs, targets, None, model, "log zinc (log ppm), Meuse"
    if dataset == "sic97":
        df = datasets.load("sic97")
        train = df[df["split"] == "train"]
        valid = df[df["split"] != "train"]
        obs = Observations.from_dataframe(train, coords=["x", "y"], value="rainfall", id="ID")
        targets = Observations.from_dataframe(valid, coords=["x", "y"], value=None, id="ID",
                                              require_values=False)
        model = GaussianField(Matern(), mean="constant")
        return obs, targets, valid["rainfall"].to_numpy(), model, "rainfall (0.1 mm), SIC97"
    raise ValueError(f"unknown demo dataset {dataset!r}; choose meuse or sic97")


def _map(path: Path, targets: Observations, table: pd.DataFrame, obs: Observations, title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), constrained_layout=True)
    x, y = targets.coords[:, 0], targets.coords[:, 1]
    size = 4.0 if targets.n > 1000 else 25.0
    for ax, col, cmap, label in ((axes[0], "mean", "viridis", "kriging mean"),
                                 (axes[1], "sd", "magma", "kriging sd")):
        sc = ax.scatter(x, y, c=table[col], s=size, marker="s", cmap=cmap, linewidths=0)
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


def run_demo(out: Path | str = "demo-output", dataset: str = "meuse", folds: int = 10,
             console: Console | None = None) -> dict:
    """Fit, cross-validate, predict and map; returns a dict of the result and scores."""
    console = console or Console()
    out = Path(out)
    obs, targets, truth, model, title = _prepare(dataset)
    console.print(f"[bold]fieldfit demo[/bold]: {model!r} on {dataset} (n = {obs.n})")
    result = fit(model, obs, restarts=2)
    tab = Table(title=f"Maximum likelihood estimates ({dataset}, exact engine)")
    for col in ("parameter", "estimate", "std. error", "95% interval"):
        tab.add_column(col, justify="right" if col != "parameter" else "left")
    for name, value in result.params.items():
        se = result.stderr.get(name)
        lo, hi = result.confidence_interval(name)
        tab.add_row(name, f"{value:.4g}", "—" if se is None else f"{se:.3g}",
                    "—" if se is None else f"[{lo:.4g}, {hi:.4g}]")
    console.print(tab)
    console.print(f"log-likelihood {result.loglik:.3f}, AIC {result.aic:.2f}, "
                  f"{result.evaluations} evaluations, {result.seconds:.1f} s")

    scores, _ = cross_validate(model, obs, result, folds=folds)
    rows = {f"{folds}-fold CV": scores}
    y = obs.values_2d[0]
    rows["CV, mean only"] = score_all(y, np.full_like(y, y.mean()), np.full_like(y, y.std()))
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
    pred = pd.concat([table[["id"]], pd.DataFrame(targets.coords, columns=targets.coord_names),
                      table[["mean", "sd"]]], axis=1)
    buf = io.BytesIO()
    pred.to_parquet(buf, index=False)
    write_atomic(out / "predictions.parquet", buf.getvalue())
    _map(out / "map.png", targets, table, obs, title)
    console.print(f"wrote {out / 'result.json'}, {out / 'predictions.parquet'}, {out / 'map.png'}")
    return {"result": result, "scores": rows}
