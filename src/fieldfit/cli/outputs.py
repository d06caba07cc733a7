"""The commands' outputs: every path checked before any work starts, all written as one set
at the end, and Ctrl-C handled in two steps.

A command that fails or is interrupted leaves every existing output untouched: each file is
first written to a temporary file beside it, and only once all of them are written are they
renamed over their targets (:func:`fieldfit.io.write_set`).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..fit.parameterisation import (
    DATA_UNITS,
    LINE_WIDTH,
    TIME_UNITS,
    Derived,
    describe,
    parameterisation_line,
    unit_of,
)
from ..io import TABLE_SUFFIXES

#: the exit status of a command stopped by Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED = 130


def check_output(path: Path | str, option: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """Check that ``path`` can be written as the output of ``option``, before any work.

    The path must not be a folder, must have a known suffix (when ``suffixes`` are given),
    and must lie under a folder (existing or to be made) that accepts new files: a real probe
    file is made and removed there.

    Parameters
    ----------
    path : pathlib.Path or str
        The output file.
    option : str
        The option that names it, for the message (e.g. ``"--out"``).
    suffixes : tuple of str, optional
        The accepted suffixes (lower case, with the dot).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        Naming the option and the problem: a folder, an unknown suffix, a file where a
        folder should be, or a folder that cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{option} {path} is a folder: give a file name")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        got = f"{path.suffix!r}" if path.suffix else "none"
        raise ValueError(f"{option} {path}: unknown file type (suffix {got}); use "
                         f"{', '.join(suffixes)}")
    folder = path.parent if str(path.parent) else Path(".")
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, not a folder")
    try:  # a real probe: os.access says yes to root even on a read-only file system
        fd, probe = tempfile.mkstemp(prefix=".fieldfit-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"{option} {path}: cannot write in {existing} "
                         f"({e.strerror or e})") from None
    return path


def check_output_folder(folder: Path | str, option: str, file: str) -> Path:
    """Check that ``folder`` is, or can be made, a folder that accepts ``file``.

    Parameters
    ----------
    folder : pathlib.Path or str
        The output folder.
    option : str
        The option that names it, for the message.
    file : str
        One of the files to be written there (checked by :func:`check_output`).

    Returns
    -------
    pathlib.Path
        ``folder``.

    Raises
    ------
    ValueError
        Naming the option: ``folder`` is a file, or cannot take ``file``.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{option} {folder}: is a file; give a folder")
    check_output(folder / file, option)
    return folder


def check_table_output(path: Path | str, option: str) -> Path:
    """:func:`check_output` for a table (.parquet, .pq, .csv, .tsv).

    Parameters
    ----------
    path : pathlib.Path or str
        The table's file.
    option : str
        The option that names it.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        As :func:`check_output`, an unknown suffix included.
    """
    return check_output(path, option, TABLE_SUFFIXES)


def check_distinct(**paths: Path | None) -> None:
    """Check that no two options name the same file.

    Parameters
    ----------
    **paths : pathlib.Path or None
        ``{option: path}``; None (an option not given) is skipped.

    Raises
    ------
    ValueError
        Two options resolve to the same file (both named).
    """
    seen: dict[Path, str] = {}
    for option, p in paths.items():
        if p is None:
            continue
        key = Path(p).resolve()
        if key in seen:
            raise ValueError(f"{seen[key]} and {option} name the same file {p}")
        seen[key] = option


@contextlib.contextmanager
def two_step_interrupt():
    """A context in which Ctrl-C stops in two steps.

    Ctrl-C once raises KeyboardInterrupt (a fit then stops at its best point and the command
    reports it); Ctrl-C again exits the process at once with status 130
    (:data:`INTERRUPTED`), writing nothing more. Outside the main thread (no signal handlers
    there) Python's default is kept. The previous handler is restored on leaving.

    Yields
    ------
    None
        Control, with the two-step handler installed.
    """
    def again(signum, frame):
        os.write(2, b"\ninterrupted again: exiting now, nothing written\n")
        os._exit(INTERRUPTED)

    def first(signum, frame):
        signal.signal(signal.SIGINT, again)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGINT, first)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        # after a first Ctrl-C the command is ending: a second one still exits at once
        if signal.getsignal(signal.SIGINT) is first:
            signal.signal(signal.SIGINT, previous)


# --- the summary tables' practical ranges and parameterisation ---------------------------------
#: how many datasets ``fieldfit estimate`` prints a table for (all are written to --out)
SHOWN_DATASETS = 5


def _units_of(spec: Mapping, obs=None) -> tuple[str, str]:
    """The units of distances and of times of a model described by ``spec``
    (``model.to_spec()``) on the data ``obs``: km on lon/lat (``crs="lonlat"``), else the
    data's own; days for times given as dates (``obs.time_unit``)."""
    space = "km" if spec.get("crs") == "lonlat" else DATA_UNITS
    time = obs.time_unit if obs is not None and obs.time_unit else TIME_UNITS
    return space, time


def parameterisation_lines(model, params: Mapping[str, float], fixed: Sequence[str] = (),
                           obs=None) -> list[str]:
    """The line(s) that say which covariance a model's parameters belong to, with the units.

    Every summary table ends with them (:func:`fieldfit.fit.parameterisation.describe`).

    Parameters
    ----------
    model : Model
        The model (its ``name`` and ``to_spec()`` are read).
    params : mapping of str to float
        Parameter values (estimates, posterior means), fixed ones included.
    fixed : sequence of str, optional
        The fixed parameters.
    obs : Observations, optional
        The data (their ``time_unit`` names the unit of times).

    Returns
    -------
    list of str
        The sentence, wrapped at 100 characters.
    """
    spec = model.to_spec()
    return parameterisation_line(model.name, params, fixed, spec, *_units_of(spec, obs))


def practical_range_draws(model, draws: Mapping[str, np.ndarray],
                          fixed: Mapping[str, float]) -> dict[str, np.ndarray]:
    """The practical ranges of each posterior draw: √(8ν)·ℓ of every draw's own ν and ℓ.

    Parameters
    ----------
    model : Model
        The model sampled (its ``name`` and ``to_spec()`` are read).
    draws : mapping of str to numpy.ndarray
        ``{name: (chains, draws)}`` natural values (``PosteriorSample.draws``).
    fixed : mapping of str to float
        The fixed parameters' values.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{name: (chains, draws)}`` for each practical range of the model.
    """
    shape = next(iter(draws.values())).shape if draws else ()
    values = {**{k: np.full(shape, float(v)) for k, v in fixed.items()}, **draws}
    _, derived = describe(model.name, {k: 1.0 for k in values}, list(fixed), model.to_spec())
    return {d.name: np.asarray(d.function({"H_scale": np.ones(shape), **values}), dtype=float)
            for d in derived}


def posterior_range_summary(post) -> dict[str, dict[str, float | None]]:
    """The posterior summary of the practical ranges, as ``PosteriorSample.summary()``'s.

    Parameters
    ----------
    post : PosteriorSample
        The draws (:func:`fieldfit.sample`).

    Returns
    -------
    dict
        ``{name: {mean, sd, q2.5, q50, q97.5, rhat, ess_bulk, ess_tail}}`` of the practical
        ranges of the draws (:func:`practical_range_draws`); None where ArviZ gives NaN.
    """
    import arviz as az

    derived = practical_range_draws(post.model, post.draws, post.fixed)
    if not derived:
        return {}
    quantiles = {"q2.5": 0.025, "q50": 0.5, "q97.5": 0.975}
    funcs = {k: (lambda x, q=q: np.quantile(x, q)) for k, q in quantiles.items()}
    table = az.summary(az.from_dict(posterior=derived), kind="all", stat_funcs=funcs,
                       extend=True, round_to="none")
    out = {}
    for name in derived:
        row = table.loc[name]
        vals = {"mean": row["mean"], "sd": row["sd"], **{k: row[k] for k in quantiles},
                "rhat": row["r_hat"], "ess_bulk": row["ess_bulk"], "ess_tail": row["ess_tail"]}
        out[name] = {k: (float(v) if np.isfinite(v) else None) for k, v in vals.items()}
    return out


#: the columns of ``PosteriorSample.summary_table``
POSTERIOR_COLUMNS = ("mean", "sd", "q2.5", "q50", "q97.5", "rhat", "ess_bulk", "ess_tail")


def _aligned(label: str, cells: Sequence[str], width: int, cell: int = 11) -> str:
    """``label`` and right-aligned ``cells`` whose right edges fall where a table with a name
    column of ``width`` and cells of ``cell`` characters puts them (a longer label takes its
    room from the first cell)."""
    first = max(width + cell - len(label), len(cells[0]) + 1)
    return label + f"{cells[0]:>{first}}" + "".join(f"{c:>{cell}}" for c in cells[1:])


def posterior_range_rows(post, width: int | None = None) -> list[str]:
    """The practical ranges' rows in the columns of ``PosteriorSample.summary_table``.

    Parameters
    ----------
    post : PosteriorSample
        The draws.
    width : int, optional
        The table's name column (default as ``summary_table``: the longest name, at least 9).

    Returns
    -------
    list of str
        One row per practical range, its unit after the last column.
    """
    if width is None:
        width = max([9, *map(len, post.names)])
    space, time = _units_of(post.model.to_spec(), post.obs)
    _, derived = describe(post.model.name, {k: 1.0 for k in (*post.fixed, *post.names)},
                          list(post.fixed), post.model.to_spec())
    units = {d.name: unit_of(d, space, time) for d in derived}
    rows = []
    for name, s in posterior_range_summary(post).items():
        cells = ["—" if s[c] is None else format(s[c], ".4g") for c in POSTERIOR_COLUMNS]
        rows.append(_aligned(name, cells, width) + f"  {units[name]}")
    return rows


def posterior_table(post) -> str:
    """``post.summary_table()`` with the practical ranges and the parameterisation.

    The practical-range rows (:func:`posterior_range_rows`) go before the table's last line
    (chains, draws, divergences), the parameterisation lines (:func:`parameterisation_lines`
    at the posterior means) after it.

    Parameters
    ----------
    post : PosteriorSample
        The draws (:func:`fieldfit.sample`).

    Returns
    -------
    str
        The table as text.
    """
    lines = post.summary_table().splitlines()
    means = {**post.fixed, **{k: float(np.mean(v)) for k, v in post.draws.items()}}
    return "\n".join([*lines[:-1], *posterior_range_rows(post), *lines[-1:],
                      *parameterisation_lines(post.model, means, list(post.fixed),
                                              post.obs)])


def _monotone_interval(d: Derived, values: Mapping[str, float], lower: Mapping[str, float],
                       upper: Mapping[str, float],
                       estimated: Sequence[str]) -> tuple[float, float] | None:
    """The interval of a derived quantity whose only estimated input has the interval
    [lower, upper] (the quantity is monotone in it); None when several inputs are estimated
    (their marginal intervals do not give the joint one)."""
    free = [k for k in d.inputs if k in estimated]
    if len(free) != 1 or not (math.isfinite(lower.get(free[0], math.nan))
                              and math.isfinite(upper.get(free[0], math.nan))):
        return None
    k = free[0]
    ends = sorted(float(d.function({**values, k: v})) for v in (lower[k], upper[k]))
    return ends[0], ends[1]


def estimate_table(row: Mapping, names: Sequence[str], model: str, fixed: Mapping[str, float],
                   options: Mapping | None = None, level: float = 0.9) -> list[str]:
    """One dataset's estimates from ``fieldfit estimate`` as a table.

    Parameters
    ----------
    row : mapping
        The dataset's row of ``NeuralEstimator.estimate``: each parameter, ``{name}_lower``,
        ``{name}_upper``, ``n`` and ``n_missing``.
    names : sequence of str
        The estimated parameters.
    model : str
        The model's name (``ModelSpec.name``).
    fixed : mapping of str to float
        The parameters the estimator was trained with fixed.
    options : mapping, optional
        The model's options (``ModelSpec.options``).
    level : float, optional
        The intervals' level.

    Returns
    -------
    list of str
        The rows: a header, one row per parameter (estimated, then fixed), the practical
        ranges after the ranges they come from (their intervals where one estimated input
        makes them), with units.
    """
    values = {**{k: float(v) for k, v in fixed.items()}, **{k: float(row[k]) for k in names}}
    lower = {k: float(row[f"{k}_lower"]) for k in names}
    upper = {k: float(row[f"{k}_upper"]) for k in names}
    _, derived = describe(model, values, list(fixed), options)
    width = max([18, *(len(k) + 2 for k in values), *(len(d.name) + 2 for d in derived)])
    head = f"{'parameter':<{width}}{'estimate':>14}{f'{level:.0%} interval':>28}"
    rows = [head]

    def interval(lo, hi) -> str:
        if lo is None or not (math.isfinite(lo) and math.isfinite(hi)):
            return f"{'n/a':>28}"
        return f"   [{lo:>11.4g}, {hi:>11.4g}]"

    for k in (*names, *[k for k in fixed if k not in names]):
        unit = {"range": f" {DATA_UNITS}", "time_range": f" {TIME_UNITS}"}.get(k, "")
        if k in fixed and k not in names:
            rows.append(f"{k:<{width}}{values[k]:>14.5g}{'fixed':>28}")
            continue
        rows.append(f"{k:<{width}}{values[k]:>14.5g}{interval(lower[k], upper[k])}{unit}")
        for d in derived:
            if d.inputs[0] != k:
                continue
            value = float(d.function({"H_scale": 1.0, **values}))
            ends = _monotone_interval(d, {"H_scale": 1.0, **values}, lower, upper, names)
            rows.append(f"{d.name:<{width}}{value:>14.5g}"
                        f"{interval(*(ends or (None, None)))} {unit_of(d)}   ({d.formula})")
    return rows


def estimates_report(table, names: Sequence[str], model: str, fixed: Mapping[str, float],
                     options: Mapping | None = None, level: float = 0.9,
                     shown: int = SHOWN_DATASETS) -> str:
    """The tables ``fieldfit estimate`` prints: one per dataset for the first ``shown``.

    Parameters
    ----------
    table : pandas.DataFrame
        ``NeuralEstimator.estimate``'s output, one row per dataset.
    names, model, fixed, options, level
        As :func:`estimate_table`.
    shown : int, optional
        How many datasets to print a table for; a line says how many there are in all.

    Returns
    -------
    str
        The tables, each under a line naming its dataset and its locations, then the
        parameterisation of the first dataset's estimates and how the intervals were formed.
    """
    if len(table) == 0:
        return "no dataset estimated"
    parts = []
    for _, row in table.head(shown).iterrows():
        name = row["dataset"]
        if isinstance(name, float) and name.is_integer():
            name = int(name)
        parts.append(f"dataset {name!s}: {int(row['n'])} locations"
                     + (f", {int(row['n_missing'])} missing values left out"
                        if row.get("n_missing", 0) else ""))
        parts += estimate_table(row, names, model, fixed, options, level)
    if len(table) > shown:
        parts.append(f"… the first {shown} of {len(table)} datasets shown; every one is in the "
                     "output table")
    first = table.iloc[0]
    values = {**{k: float(v) for k, v in fixed.items()}, **{k: float(first[k]) for k in names}}
    parts += parameterisation_line(model, values, list(fixed), options)
    parts += textwrap.wrap(f"intervals: the estimator's central {level:.0%} intervals, per "
                           "parameter (for a practical range, its range's interval mapped, "
                           "when the range is its only estimated input)", LINE_WIDTH,
                           subsequent_indent="  ")
    return "\n".join(parts)


def space_time_report(table, level: float = 0.9, shown: int = SHOWN_DATASETS) -> str:
    """What ``fieldfit estimate`` prints for a space-time estimator, per dataset (the first
    ``shown``): each parameter and derived quantity with its interval.

    Parameters
    ----------
    table : pandas.DataFrame
        ``SpaceTimeEstimator.estimate``'s output.
    level : float, default 0.9
        The intervals' level.
    shown : int, optional
        How many datasets to print.

    Returns
    -------
    str
    """
    from ..neural.spacetime_estimator import DERIVED_COLUMNS, MODEL_COLUMNS

    if len(table) == 0:
        return "no dataset estimated"
    units = {"range": "length", "memory": "time", "speed": "length/time",
             "velocity_x": "length/time", "velocity_y": "length/time",
             "direction": "degrees from +x"}
    parts = []
    for _, row in table.head(shown).iterrows():
        parts.append(f"dataset {row['dataset']!s}: {int(row['n_stations'])} stations × "
                     f"{int(row['n_times'])} times"
                     + (f", {int(row['n_missing'])} missing values" if row["n_missing"] else ""))
        parts.append(f"{'quantity':<20}{'estimate':>12}{f'{level:.0%} interval':>28}")
        for name in (*MODEL_COLUMNS, *DERIVED_COLUMNS):
            if name not in row:
                continue
            lo, hi = row[f"{name}_lower"], row[f"{name}_upper"]
            ends = "" if lo != lo else f"[{lo:.4g}, {hi:.4g}]"
            parts.append(f"{name:<20}{row[name]:>12.4g}{ends:>28}  {units.get(name, '')}"
                         .rstrip())
    if len(table) > shown:
        parts.append(f"… the first {shown} of {len(table)} datasets shown; every one is in the "
                     "output table")
    parts += textwrap.wrap("units: those of the data's x, y and t (days for datetimes); the "
                           "estimator saw the stations' bounding box as the unit square and "
                           "the series as the unit interval, and the estimates are mapped "
                           "back by the SPDE's scaling laws", LINE_WIDTH,
                           subsequent_indent="  ")
    return "\n".join(parts)
