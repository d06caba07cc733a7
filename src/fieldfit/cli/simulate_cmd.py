"""``fieldfit simulate``: draws of a model at points or on a grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer

from ..data import Observations
from ..io import read_table, write_table
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
    value: str = typer.Option("z", help="Name of the simulated column (NAME_0, NAME_1, ... "
                              "with --replicates); POINTS must not have a column of that name."),
    simulator: str = typer.Option(None, help="advection-diffusion: mesh (time stepping on a "
                                  "finite-element mesh, the default) or spectral (the "
                                  "continuous SPDE, exactly, at any times)."),
):
    """Simulate a model (values with the nugget as noise) at points or on a grid.

    At POINTS the output keeps every column of POINTS (identifiers, covariates, ...) in
    their order, then the simulated column(s); a simulated column whose name POINTS already
    uses is refused (choose another with --value). On a grid the output is the grid's
    coordinates, then the simulated column(s)."""
    with _reported_errors(), plain_warnings():
        check_table_output(out, "--out")
        if replicates < 1:
            raise ValueError(f"--replicates must be 1 or more, got {replicates}")
        p = parse_assignments(params, option="--params")
        cols = _split(coords)
        table = None
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
            table = read_table(points)
            check_draw_names(table, value, replicates, "POINTS")
            try:
                where = Observations.from_dataframe(table, coords=cols, value=None, time=time,
                                                    require_values=False)
            except ValueError as e:
                raise ValueError(f"{points}: {e}") from None
            pts = where.points
        else:
            raise ValueError("give a POINTS file or --grid NXxNY")
        options = {"mean": mean, "nugget": "nugget" in p}
        if simulator is not None:
            if model != "advection-diffusion":
                raise ValueError(f"--simulator is for --model advection-diffusion, not {model!r}")
            options["simulator"] = simulator.strip().lower()
        if crs is not None:
            options["crs"] = crs.strip().lower()
        # names are checked against the model with its nugget, so that a misspelt nugget
        # is named as such rather than simulated without one
        check_param_names(build_from_cli(model, time is not None, {**options, "nugget": True},
                                         p), where, p, "--params")
        m = build_from_cli(model, time is not None, options, p)
        draws = m.simulate(pts, p, n_replicates=replicates, seed=seed)
        if table is None:
            table = pd.DataFrame(pts, columns=cols)
        df = with_draws(table, draws, value, "POINTS" if points is not None else "--grid")
        write_table(df, out)
        typer.echo(f"{len(df)} points × {replicates} replicate(s) written to {out}")


def draw_columns(value: str, replicates: int) -> list[str]:
    """The names of the simulated columns: ``value`` for one replicate, ``value_0``,
    ``value_1``, ... for several.

    Parameters
    ----------
    value : str
        The name of the simulated column (``--value``).
    replicates : int
        The number of replicates.

    Returns
    -------
    list of str
        One name per replicate.
    """
    return [value] if replicates == 1 else [f"{value}_{i}" for i in range(replicates)]


def _columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a named index (a Parquet file's saved index) as its first column(s), an
    unnamed one dropped: the columns that the output keeps."""
    if any(name is not None for name in table.index.names):
        return table.reset_index()
    return table.reset_index(drop=True)


def check_draw_names(table: pd.DataFrame, value: str, replicates: int, source: str) -> None:
    """Refuse simulated column names that ``table`` already uses, before any simulation.

    Parameters
    ----------
    table : pandas.DataFrame
        The locations' table (POINTS as read).
    value : str
        The name of the simulated column (``--value``).
    replicates : int
        The number of replicates (:func:`draw_columns`).
    source : str
        What the table is, for the message (``"POINTS"``).

    Raises
    ------
    ValueError
        ``value`` is empty, or a simulated column's name is already a column of ``table``
        (the message names it and the ``--value`` option that avoids the clash).
    """
    if not value.strip():
        raise ValueError("--value must be a non-empty column name")
    have = set(map(str, _columns(table).columns))
    taken = [c for c in draw_columns(value, replicates) if c in have]
    if taken:
        raise ValueError(f"{source} already has a column {taken[0]!r}, the name of the "
                         f"simulated values: give them another name with --value (e.g. "
                         f"--value {value}_sim), or drop that column")


def with_draws(table: pd.DataFrame, draws: np.ndarray, value: str, source: str) -> pd.DataFrame:
    """``table`` with the simulated columns appended after all of its own.

    Parameters
    ----------
    table : pandas.DataFrame
        The locations' table: POINTS as read (a named index becomes its first column), or the
        grid's coordinates.
    draws : numpy.ndarray
        The simulations ``(r, n)``, one row per replicate, in the table's row order.
    value : str
        The name of the simulated column (:func:`draw_columns`).
    source : str
        What the table is, for the error message (``"POINTS"``).

    Returns
    -------
    pandas.DataFrame
        A new table: every column of ``table``, then ``value`` (or ``value_0``, ...).

    Raises
    ------
    ValueError
        As :func:`check_draw_names`.
    """
    check_draw_names(table, value, len(draws), source)
    out = _columns(table).copy()
    for name, draw in zip(draw_columns(value, len(draws)), draws, strict=True):
        out[name] = draw
    return out
