"""``fieldfit simulate``: draws of a model at points or on a grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer

from ..data import Observations
from ..io import write_table
from ..params import parse_assignments, parse_grid
from .app import app
from .common import (
    _numbers,
    _reported_errors,
    _split,
    build_from_cli,
    check_param_names,
    plain_warnings,
)
from .outputs import check_table_output


@app.command()
def simulate(
    points: Path = typer.Argument(None, help="File of locations (else --grid)."),
    out: Path = typer.Option(..., help="Where to write the simulations (.parquet/.csv)."),
    params: list[str] = typer.Option(..., help="Parameter values, e.g. variance=1,range=0.2."),
    coords: str = typer.Option("x,y", help="Coordinate columns of POINTS (and of the output)."),
    grid: str = typer.Option(None, help="Simulate on a regular grid NXxNY (points along x × "
                             "along y) over --bounds."),
    bounds: str = typer.Option("0,1,0,1", help="xmin,xmax,ymin,ymax of the grid."),
    model: str = typer.Option("matern", help="A registered model: matern, exponential, "
                              "gaussian, matern-spde; with --time separable, gneiting, "
                              "advection-diffusion."),
    time: str = typer.Option(None, help="Time column of POINTS (space-time models)."),
    mean: str = typer.Option("constant", help="Mean: zero or constant (give mean=... in params)."),
    replicates: int = typer.Option(1, help="Number of independent replicates."),
    seed: int = typer.Option(0, help="Random seed."),
    crs: str = typer.Option(None, help="planar, or lonlat (coordinates in degrees, range in "
                            "km)."),
):
    """Simulate a model (values with the nugget as noise) at points or on a grid."""
    with _reported_errors(), plain_warnings():
        check_table_output(out, "--out")
        if replicates < 1:
            raise ValueError(f"--replicates must be 1 or more, got {replicates}")
        p = parse_assignments(params, option="--params")
        cols = _split(coords)
        if grid is not None and points is not None:
            raise ValueError("give either a POINTS file or --grid, not both")
        if grid is not None:
            if time is not None:
                raise ValueError("--grid is spatial: give a POINTS file with --time")
            nx, ny = parse_grid(grid, "--grid")
            bx = _numbers(bounds, "--bounds")
            if len(bx) != 4 or not (bx[0] < bx[1] and bx[2] < bx[3]):
                raise ValueError(f"--bounds is xmin,xmax,ymin,ymax with xmin < xmax and "
                                 f"ymin < ymax; got {bounds!r}")
            gx, gy = np.meshgrid(np.linspace(bx[0], bx[1], nx), np.linspace(bx[2], bx[3], ny))
            pts = np.column_stack([gx.ravel(), gy.ravel()])
            cols = cols[:2] if len(cols) >= 2 else ["x", "y"]
            where = Observations(coords=pts, coord_names=tuple(cols), require_values=False)
        elif points is not None:
            where = Observations.from_file(points, coords=cols, value=None, time=time,
                                           require_values=False)
            pts = where.points
            cols = cols + ([time] if time is not None else [])
        else:
            raise ValueError("give a POINTS file or --grid NXxNY")
        options = {"mean": mean, "nugget": "nugget" in p}
        if crs is not None:
            options["crs"] = crs.strip().lower()
        # names are checked against the model with its nugget, so that a misspelt nugget
        # is named as such rather than simulated without one
        check_param_names(build_from_cli(model, time is not None, {**options, "nugget": True},
                                         p), where, p, "--params")
        m = build_from_cli(model, time is not None, options, p)
        draws = m.simulate(pts, p, n_replicates=replicates, seed=seed)
        df = pd.DataFrame(pts, columns=cols)
        if replicates == 1:
            df["z"] = draws[0]
        else:
            for i in range(replicates):
                df[f"z_{i}"] = draws[i]
        write_table(df, out)
        typer.echo(f"{len(df)} points × {replicates} replicate(s) written to {out}")
