"""``fieldfit diagnose``: calibration diagnostics of an amortized estimator
(:mod:`fieldfit.diagnostics.calibration`)."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app
from .common import _reported_errors, plain_warnings
from .outputs import check_output_folder

#: the file the report's numbers go to, inside --out
REPORT = "diagnostics.json"


def run_diagnostics(estimator, simulations: int, seed: int, json_path: Path,
                    plots_dir: Path, progress: bool) -> str:
    """Run the calibration diagnostics of an estimator and write them.

    :func:`~fieldfit.diagnostics.calibration.calibrate`, its report written to
    ``json_path`` and its plots to ``plots_dir``; its warnings go to stderr as
    ``warning: ...`` lines.

    Parameters
    ----------
    estimator : NeuralEstimator
        The estimator (:func:`fieldfit.neural.load_estimator`).
    simulations : int
        Fresh (θ, data) pairs simulated from its prior, model and design.
    seed : int
        The seed of the simulations, draws and tests.
    json_path : pathlib.Path
        Where the numbers go (JSON).
    plots_dir : pathlib.Path
        The folder for the PNG plots.
    progress : bool
        Show a progress bar for the simulations.

    Returns
    -------
    str
        The report's one-line summary.
    """
    from ..diagnostics.calibration import calibrate

    report = calibrate(estimator, simulations=simulations, seed=seed, progress=progress)
    report.write(json_path, plots_dir)
    for w in report.warnings:
        typer.secho(f"warning: {w}", fg="yellow", err=True)
    return report.summary()


@app.command()
def diagnose(
    estimator: str = typer.Option(..., help="A saved estimator file or a shipped name "
                                  "(as fieldfit estimate --estimator)."),
    out: Path = typer.Option(..., help="Folder for diagnostics.json (the numbers) and the "
                             "PNG plots (sbc_ranks.png, coverage.png, tarp.png)."),
    simulations: int = typer.Option(500, help="Fresh (θ, data) pairs simulated from the "
                                    "estimator's own prior, model and design."),
    seed: int = typer.Option(0, help="Seed of the simulations, draws and tests."),
    progress: bool = typer.Option(True, help="Show a progress bar for the simulations."),
):
    """Calibration diagnostics of an amortized estimator: simulation-based calibration (rank
    histograms with uniformity tests), expected coverage of central intervals, TARP and
    L-C2ST, each as far as the estimator's kind allows (a quantile estimator: ranks among its
    quantiles and its intervals' coverage; a point estimator: accuracy only)."""
    from ..diagnostics.calibration import check_simulations
    from ..neural.bundle import load_estimator

    with _reported_errors(), plain_warnings():
        check_simulations(simulations, "--simulations")
        check_output_folder(out, "--out", REPORT)
        est = load_estimator(estimator)
        line = run_diagnostics(est, simulations, seed, out / REPORT, out, progress)
        typer.echo(f"{line}; written to {out}")
