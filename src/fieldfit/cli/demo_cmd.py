"""``fieldfit demo`` and ``fieldfit bench``."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import HELP_SETTINGS, app
from .common import _reported_errors


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), help="Folder for the JSON, tables and PNG "
                             "maps (replaced only when the whole demo succeeds)."),
    dataset: str = typer.Option("meuse", help="Spatial dataset: meuse (log zinc) or sic97 "
                                "(Swiss rainfall)."),
    folds: int = typer.Option(10, help="Cross-validation folds."),
    quick: bool = typer.Option(False, help="A shorter run: fewer restarts and profile points, "
                               "a two-week forecast window and a three-day horizon."),
):
    """Fieldfit on real data in about a minute: a Matérn fit with a prior on the smoothness,
    cross-validation and a kriging map; the shipped neural estimator beside maximum
    likelihood; a one-day-ahead space-time wind forecast scored beside persistence."""
    from ..demo import run_demo

    with _reported_errors():
        run_demo(out, dataset=dataset, folds=folds, quick=quick)


bench_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                        context_settings=HELP_SETTINGS,
                        help="Benchmarks: fieldfit beside published results.")
app.add_typer(bench_app, name="bench")


@bench_app.command("heaton")
def bench_heaton(
    out: Path = typer.Option(Path("heaton-output"), help="Folder for the JSON and predictions."),
    engine: str = typer.Option("vecchia", help="Likelihood engine."),
    neighbours: int = typer.Option(30, help="Conditioning-set size m (vecchia engine only)."),
    dataset: str = typer.Option("both", help="simulated, satellite or both."),
    data_dir: Path = typer.Option(
        None, help="Read satellite.parquet / simulated_full.parquet from this folder instead "
        "of the bundled copies."),
    subsample: int = typer.Option(
        None, help="Quick run: fit on N random observed cells and predict N random cells to "
        "predict (not comparable with the published results)."),
    smoothness: float = typer.Option(None, help="Fix the Matérn smoothness (default: estimate)."),
    choose: bool = typer.Option(True, help="With --engine exact or vecchia, choose the model "
                                "(matern, matern with a geometric anisotropy, or matern2: a "
                                "long- plus a short-range field) and the number of cells its "
                                "parameters are estimated "
                                "on (5,000) by CRPS on validation sets of observed "
                                "cells: the test mask shifted onto observed cells (never a "
                                "test cell)."),
    estimation_cells: int = typer.Option(
        None, help="Estimate the parameters on this many random observed cells (every observed "
        "cell conditions the predictions); with --choose the only size tried. Default: chosen "
        "(--choose), else all."),
    restarts: int = typer.Option(0, help="Optimiser restarts besides the data-driven start."),
    stderr: bool = typer.Option(False, help="Standard errors (autograd Hessian; expensive)."),
    seed: int = typer.Option(0, help="Seed of --subsample."),
    progress: bool = typer.Option(None, help="Show progress bars (default: on a terminal)."),
):
    """Heaton et al. (2019) case study: fit, predict and score the MODIS temperature data and
    its simulated twin; print fieldfit beside the competition's published results."""
    from ..bench.heaton import DATASETS, run_heaton

    with _reported_errors():
        choice = dataset.strip().lower()
        if choice not in (*DATASETS, "both"):
            raise ValueError(f"unknown --dataset {dataset!r}; choose simulated, satellite or both")
        run_heaton(out, engine=engine, neighbours=neighbours,
                   datasets=DATASETS if choice == "both" else (choice,), data_dir=data_dir,
                   subsample=subsample, smoothness=smoothness, choose=choose,
                   estimation_cells=estimation_cells, restarts=restarts,
                   stderr=stderr, seed=seed, progress=progress)
