"""``fieldfit simulate``: draws of a model at points or on a grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer

from ..data import Observations
from ..io import write_table
from ..params import parse_assignments
from .app import app
from .common import _reported_errors, _split, build_from_cli


@app.command()
def simulate(
    points: Path = typer.Argument(None, help="File of locations (else --grid)."),
    out: Path = typer.Option(..., help="Where to write the simulations (.parquet/.csv)."),
    params: list[str] = typer.Option(..., help="Parameter values, e.g. variance=1,range=0.2."),
    coords: str = typer.Option("x,y", help="Coordinate columns of POINTS (and of the output)."),
    grid: str = typer.Option(None, help="Simulate on a regular grid NXxNY over --bounds."),
    bounds: str = typer.Option("0,1,0,1", help="xmin,xmax,ymin,ymax of the grid."),
    model: str = typer.Option("matern", help="A registered model: matern, exponential, "
                              "gaussian, matern-spde; with --time separable, gneiting, "
                              "advection-diffusion."),
    time: str = typer.Option(None, help="Time column of POINTS (space-time models)."),
    mean: str = typer.Option("constant", help="Mean: zero or constant (give mean=... in params)."),
    replicates: int = typer.Option(1, help="Number of independent replicates."),
    seed: int = typer.Option(0, help="Random seed."),
):
    """Simulate a model (values with the nugget as noise) at points or on a grid."""
    with _reported_errors():
        p = parse_assignments(params)
        cols = _split(coords)
        if grid is not None:
            if time is not None:
                raise ValueError("--grid is spatial: give a POINTS file with --time")
            try:
                nx, ny = (int(v) for v in grid.lower().split("x"))
                x0, x1, y0, y1 = (float(v) for v in _split(bounds))
            except ValueError:
                raise ValueError(f"--grid is NXxNY and --bounds xmin,xmax,ymin,ymax; got "
                                 f"{grid!r}, {bounds!r}") from None
            gx, gy = np.meshgrid(np.linspace(x0, x1, nx), np.linspace(y0, y1, ny))
            pts = np.column_stack([gx.ravel(), gy.ravel()])
            cols = cols[:2] if len(cols) >= 2 else ["x", "y"]
        elif points is not None:
            where = Observations.from_file(points, coords=cols, value=None, time=time,
                                           require_values=False)
            pts = where.points
            cols = cols + ([time] if time is not None else [])
        else:
            raise ValueError("give a POINTS file or --grid NXxNY")
        m = build_from_cli(model, time is not None, {"mean": mean, "nugget": "nugget" in p}, p)
        draws = m.simulate(pts, p, n_replicates=replicates, seed=seed)
        df = pd.DataFrame(pts, columns=cols)
        if replicates == 1:
            df["z"] = draws[0]
        else:
            for i in range(replicates):
                df[f"z_{i}"] = draws[i]
        write_table(df, out)
        typer.echo(f"{len(df)} points × {replicates} replicate(s) written to {out}")
