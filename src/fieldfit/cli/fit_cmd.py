"""``fieldfit fit``: maximum likelihood, and kriging predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from ..data import Observations
from ..fit import fit as fit_mle
from ..io import write_table
from ..models.mean import MEAN_KINDS
from ..params import parse_assignments
from .app import app
from .common import _fail, _numbers, _reported_errors, _split, build_from_cli


@app.command()
def fit(
    data: Path = typer.Argument(..., help="Parquet or CSV file with coordinates and values."),
    coords: str = typer.Option(..., help="Coordinate columns, comma separated, e.g. x,y."),
    value: str = typer.Option(..., help="Value column (NaN rows are prediction targets)."),
    out: Path = typer.Option(..., help="Where to write the JSON result."),
    time: str = typer.Option(None, help="Time column (space-time models)."),
    model: str = typer.Option(
        "matern", help="matern, exponential, gaussian, matern-spde; separable, gneiting, "
        "advection-diffusion (fieldfit.models.available())."),
    engine: str = typer.Option(
        None, help="Likelihood engine: exact, vecchia or spde (default: exact; spde for the "
        "SPDE models)."),
    neighbours: int = typer.Option(
        None, help="Vecchia: conditioning-set size m (default 30)."),
    pred_neighbours: int = typer.Option(
        None, help="Vecchia: observations each prediction conditions on (default max(2m, 60))."),
    coarse_neighbours: int = typer.Option(
        None, help="Vecchia: optimise first with this smaller m (default 10), then with m."),
    grouped: bool = typer.Option(
        False, help="Vecchia: joint blocks for points that share neighbours (Guinness 2018)."),
    alpha: int = typer.Option(
        None, help="SPDE: the order α (Matérn: ν = α − 1 in 2-D, default 2; "
        "advection-diffusion: 1 or 2, default 1)."),
    alpha_s: int = typer.Option(
        1, help="advection-diffusion: spatial colouring α_s of the noise (0, 1, 2)."),
    time_step: float = typer.Option(
        None, help="advection-diffusion: time step (default: the smallest gap between times)."),
    advection: bool = typer.Option(
        True, help="advection-diffusion: estimate the advection γ (else γ = 0)."),
    mesh_max_edge: str = typer.Option(
        None, help="SPDE: the mesh's largest edge inside,outside the data's hull "
        "(default: diagonal/30, diagonal/10)."),
    mesh_offset: float = typer.Option(
        None, help="SPDE: how far the mesh extends beyond the hull (default 0.2·diagonal)."),
    mesh_cutoff: float = typer.Option(
        None, help="SPDE: data points closer than this share a mesh node."),
    fix: list[str] = typer.Option([], help="Fix parameters, e.g. --fix smoothness=1.5."),
    mean: str = typer.Option("constant", help=f"Mean: {', '.join(MEAN_KINDS)}."),
    covariates: str = typer.Option(None, help="Covariate columns for the mean."),
    nugget: bool = typer.Option(True, help="Estimate a nugget (noise variance)."),
    anisotropic: bool = typer.Option(False, help="Geometric anisotropy (2-D)."),
    id: str = typer.Option(None, "--id", help="Identifier column (default: row number)."),
    predict_at: Path = typer.Option(None, help="File of locations to predict at."),
    predictions: Path = typer.Option(None, help="Where to write predictions (.parquet/.csv)."),
    kind: str = typer.Option("universal", help="Kriging: universal, ordinary or simple."),
    restarts: int = typer.Option(2, help="Optimiser restarts besides the data-driven start."),
    allow_duplicates: bool = typer.Option(
        False, help="Kept for older scripts: repeated measurements at a location are accepted "
        "whenever the model has a nugget."),
    progress: bool = typer.Option(None, help="Show progress (default: on a terminal)."),
):
    """Fit a model by maximum likelihood; optionally predict (kriging mean and sd)."""
    with _reported_errors():
        fixed = parse_assignments(fix)
        coord_cols, cov_cols = _split(coords), _split(covariates) or None
        options = {"mean": mean, "nugget": nugget, "anisotropic": anisotropic,
                   "neighbours": neighbours, "pred_neighbours": pred_neighbours,
                   "coarse_neighbours": coarse_neighbours, "grouped": grouped, "alpha": alpha,
                   "alpha_s": alpha_s, "dt": time_step, "advection": advection,
                   "mesh_max_edge": _numbers(mesh_max_edge), "mesh_offset": mesh_offset,
                   "mesh_cutoff": mesh_cutoff, "engine": engine}
        m = build_from_cli(model, time is not None, options, fixed)
        obs = Observations.from_file(
            data, coords=coord_cols, value=value, time=time, covariates=cov_cols, id=id,
            duplicates="allow",
        )
        train = obs.observed_part()
        result = fit_mle(m, train, fix=fixed, restarts=restarts, progress=progress)
        result.to_json(out)
        typer.echo(result.summary())
        if train.n_duplicated:
            typer.echo(f"note: {train.n_duplicated} observed rows repeat a location (and time): "
                       "taken as repeated measurements, their differences as the nugget")
        typer.echo(f"result written to {out}")
        targets = None
        if predict_at is not None:
            targets = Observations.from_file(
                predict_at, coords=coord_cols, value=None, time=time, covariates=cov_cols, id=id,
                require_values=False, duplicates="allow",
            )
        elif obs.missing.any():
            targets = obs.missing_part()
        if predictions is not None:
            if targets is None:
                _fail("--predictions given but DATA has no NaN values and no --predict-at file")
            from ..predict import krige

            table = krige(m, train, targets, result, kind=kind)
            write_table(table, predictions)
            typer.echo(f"{len(table)} predictions written to {predictions}")
        elif targets is not None:
            typer.echo(f"{targets.n} locations to predict: pass --predictions FILE to write them")
