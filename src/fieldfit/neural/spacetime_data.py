"""Space-time tables for amortized estimators: stations × regular times, and their unit scales.

A table with columns ``x``, ``y``, ``t``, ``z`` (and optionally ``dataset``) holds, per dataset,
stations (the distinct ``(x, y)``) observed at regular times (the distinct ``t``, equally
spaced). A station without a row at some time, or with a NaN ``z``, is missing there: the
network masks it, nothing is imputed.

The estimators are trained in unit scales: the stations' bounding box mapped to the unit square
(shifted to the origin, divided by its larger side L) and the times to the unit interval
(shifted to 0, divided by the span T). Parameters are mapped back to the data's units by the
SPDE's scaling laws (:mod:`fieldfit.models.ad_scaling`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..io import numeric_column

#: the fewest stations and times a space-time dataset needs
MIN_STATIONS = 3
MIN_TIMES = 2
#: relative tolerance (to the mean step) on the spacing of regular times
TIME_TOLERANCE = 1e-6
#: days per unit of a datetime ``t`` column (times are converted to days)
DAY = np.timedelta64(1, "D")


@dataclass(frozen=True)
class SpaceTimeDataset:
    """One dataset: stations, regular times and the values at each (time, station).

    Parameters
    ----------
    name : object
        The dataset's label.
    coords : numpy.ndarray, shape (n, 2)
        The stations.
    times : numpy.ndarray, shape (T,)
        The regular times, increasing.
    values : numpy.ndarray, shape (T, n)
        ``values[k, i]`` at time ``times[k]`` and station ``coords[i]``; NaN where missing.
    """

    name: object
    coords: np.ndarray
    times: np.ndarray
    values: np.ndarray

    @property
    def n_missing(self) -> int:
        """The number of missing (time, station) values."""
        return int(np.isnan(self.values).sum())


def _numeric_column(df: pd.DataFrame, c: str) -> np.ndarray:
    if c == "t" and (pd.api.types.is_datetime64_any_dtype(df[c])
                     or pd.api.types.is_timedelta64_dtype(df[c])):
        t = df[c]
        if t.isna().any():
            rows = np.flatnonzero(t.isna().to_numpy())[:5].tolist()
            raise ValueError(f"column 't' has missing values (rows {rows})")
        base = t.min()
        return ((t - base) / DAY).to_numpy(np.float64)
    return numeric_column(df, c, missing_ok=c == "z")       # a NaN z is a missing value


def regular_times(t: np.ndarray, name) -> np.ndarray:
    """The distinct times of a dataset, checked to be regular.

    Parameters
    ----------
    t : numpy.ndarray, shape (m,)
        The times of its rows.
    name : object
        The dataset's label (for messages).

    Returns
    -------
    numpy.ndarray, shape (T,)
        The distinct times, increasing and equally spaced (to :data:`TIME_TOLERANCE` of the
        step).

    Raises
    ------
    ValueError
        For fewer than :data:`MIN_TIMES` distinct times or unequal spacing.
    """
    times = np.unique(t)
    if len(times) < MIN_TIMES:
        raise ValueError(f"dataset {name!r} has a single time ({times[0]:g}): a space-time "
                         f"estimator needs at least {MIN_TIMES} regular times (column 't')")
    steps = np.diff(times)
    step = (times[-1] - times[0]) / (len(times) - 1)
    worst = int(np.argmax(np.abs(steps - step)))
    if abs(steps[worst] - step) > TIME_TOLERANCE * step:
        raise ValueError(f"dataset {name!r} has irregular times: the step from t = "
                         f"{times[worst]:g} to {times[worst + 1]:g} is {steps[worst]:g}, the "
                         f"mean step {step:g}; give regular times (a station not observed at "
                         "some time is a missing value: leave its row out or set z to NaN)")
    return times[0] + step * np.arange(len(times))


def space_time_datasets_from_table(df: pd.DataFrame) -> list[SpaceTimeDataset]:
    """Split a table into space-time datasets.

    Parameters
    ----------
    df : pandas.DataFrame
        Columns ``x``, ``y``, ``t``, ``z`` and optionally ``dataset``. ``t`` is numeric, or
        datetimes (converted to days since the first). A NaN ``z`` is a missing value; so is a
        (station, time) without a row.

    Returns
    -------
    list of SpaceTimeDataset
        In order of first appearance of the ``dataset`` labels (one dataset without that
        column); stations sorted by ``(x, y)``.

    Raises
    ------
    ValueError
        If a column is missing (the message names it), the table is empty, a coordinate or
        time is missing, infinite or not numeric, a value is infinite, a ``dataset`` label is
        missing, a ``replicate`` column is given, a (station, time) has two rows, or a dataset
        has irregular times, a single time, fewer than :data:`MIN_STATIONS` stations, or no
        value at all.
    """
    missing = [c for c in ("x", "y", "t", "z") if c not in df.columns]
    if missing:
        extra = (" (a space-time estimator needs the time of each value; for spatial data "
                 "use a spatial estimator)" if missing == ["t"] else "")
        raise ValueError(f"the data need columns x, y, t, z (and optionally dataset); "
                         f"missing {missing}{extra}")
    if "replicate" in df.columns:
        raise ValueError("a space-time estimator takes one series per dataset: give "
                         "independent series as separate datasets (column 'dataset'), not as "
                         "replicates")
    if len(df) == 0:
        raise ValueError("the data table is empty")
    cols = {c: _numeric_column(df, c) for c in ("x", "y", "t", "z")}
    if "dataset" in df.columns:
        labels = df["dataset"]
        if labels.isna().any():
            rows = np.flatnonzero(labels.isna().to_numpy())[:5].tolist()
            raise ValueError(f"column 'dataset' has missing values (rows {rows})")
        codes, names = pd.factorize(labels, sort=False)
        names = list(names)
    else:
        codes, names = np.zeros(len(df), int), [0]
    out = []
    for j, name in enumerate(names):
        rows = np.flatnonzero(codes == j)
        xy = np.column_stack([cols["x"][rows], cols["y"][rows]])
        coords, station = np.unique(xy, axis=0, return_inverse=True)
        station = station.ravel()
        times = regular_times(cols["t"][rows], name)
        step = times[1] - times[0]
        k = np.rint((cols["t"][rows] - times[0]) / step).astype(int)
        cell = k * len(coords) + station
        counts = np.bincount(cell, minlength=len(times) * len(coords))
        if counts.max() > 1:
            c = int(np.argmax(counts))
            raise ValueError(f"dataset {name!r}: station ({coords[c % len(coords), 0]:g}, "
                             f"{coords[c % len(coords), 1]:g}) has {counts[c]} rows at t = "
                             f"{times[c // len(coords)]:g}; give one value per station and "
                             "time")
        values = np.full((len(times), len(coords)), np.nan)
        values[k, station] = cols["z"][rows]
        seen = ~np.isnan(values)
        if not seen.any():
            raise ValueError(f"dataset {name!r} has no value (every z is NaN)")
        observed = seen.any(0)
        if observed.sum() < MIN_STATIONS:
            raise ValueError(f"dataset {name!r} has {int(observed.sum())} station(s) with a "
                             f"value; a space-time estimator needs at least {MIN_STATIONS} "
                             "(distinct x, y)")
        out.append(SpaceTimeDataset(name, coords[observed], times, values[:, observed]))
    return out


@dataclass(frozen=True)
class UnitScales:
    """The map of a dataset to the unit square and interval: s' = (s − s₀)/L, t' = (t − t₀)/T.

    Parameters
    ----------
    origin : numpy.ndarray, shape (2,)
        s₀, the lower corner of the stations' bounding box.
    length : float
        L, the box's larger side.
    start : float
        t₀, the first time.
    duration : float
        T, the unit of time (the span of the times, or their step; :meth:`of`).
    """

    origin: np.ndarray
    length: float
    start: float
    duration: float

    @classmethod
    def of(cls, data: SpaceTimeDataset, time_span: float | None = 1.0) -> UnitScales:
        """The scales of a dataset.

        Parameters
        ----------
        data : SpaceTimeDataset
            The dataset.
        time_span : float or None, default 1.0
            What the series spans in the new units (T is the data's span over it); ``None``:
            the step is the unit of time (an estimator trained on times 0, 1, …, T − 1).

        Returns
        -------
        UnitScales

        Raises
        ------
        ValueError
            If its stations coincide or its times span nothing.
        """
        lo = data.coords.min(0)
        length = float(np.ptp(data.coords, 0).max())
        duration = float(data.times[-1] - data.times[0])
        if not length > 0:
            raise ValueError(f"dataset {data.name!r}: all stations coincide")
        if not duration > 0:
            raise ValueError(f"dataset {data.name!r}: the times span nothing")
        over = len(data.times) - 1 if time_span is None else float(time_span)
        return cls(lo, length, float(data.times[0]), duration / over)

    def apply(self, data: SpaceTimeDataset) -> SpaceTimeDataset:
        """The dataset in unit scales (values unchanged).

        Parameters
        ----------
        data : SpaceTimeDataset

        Returns
        -------
        SpaceTimeDataset
        """
        return SpaceTimeDataset(data.name, (data.coords - self.origin) / self.length,
                                (data.times - self.start) / self.duration, data.values)


__all__ = ["MIN_STATIONS", "MIN_TIMES", "SpaceTimeDataset", "UnitScales", "regular_times",
           "space_time_datasets_from_table"]
