"""Observations: point data of a spatial or spatio-temporal field, validated once at the edge.

An :class:`Observations` holds numpy float64 arrays:

- ``coords`` ``(n, d)``: spatial coordinates;
- ``values`` ``(n,)`` or replicates ``(r, n)``; NaN marks a missing value (a prediction target,
  left out of fitting). A location is observed when any of its replicates is not NaN;
- ``times`` ``(n,)`` or None; ``covariates`` ``(n, p)`` or None; ``ids`` ``(n,)`` row identifiers.

Bad input raises a ``ValueError`` that names the problem; nothing is silently dropped.
Datetime columns / coordinates become float days since 1970-01-01 (UTC).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import xarray

_SHOW = 5  # how many offending row ids an error message lists


def _first_ids(ids: np.ndarray, bad: np.ndarray) -> str:
    shown = [v.item() if hasattr(v, "item") else v for v in ids[bad][:_SHOW]]
    return f"{shown}{' ...' if int(bad.sum()) > _SHOW else ''}"


def _reject(bad: np.ndarray, problem: str, ids: np.ndarray, hint: str = "") -> None:
    if bad.any():
        raise ValueError(f"{problem} in {int(bad.sum())} row(s) "
                         f"(first ids: {_first_ids(ids, bad)}){hint}")


def _float_array(x: Any, what: str) -> np.ndarray:
    try:
        return np.array(x, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be numeric: {e}") from None


def _to_days(x: Any) -> np.ndarray:
    """Datetimes (NaT -> NaN) as float days since 1970-01-01 UTC; anything else unchanged.

    Text columns (a CSV's dates) that are not numbers are parsed as ISO 8601 dates.
    """
    dtype = getattr(x, "dtype", None)
    if dtype is not None and (pd.api.types.is_object_dtype(dtype)
                              or pd.api.types.is_string_dtype(dtype)):
        try:
            return np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            try:
                x = pd.to_datetime(pd.Series(np.asarray(x)), format="ISO8601", utc=True)
            except (TypeError, ValueError):
                return x  # reported as non-numeric by the caller
            dtype = x.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        t = pd.to_datetime(pd.Series(np.asarray(x)) if not isinstance(x, pd.Series) else x,
                           utc=True)
        return ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)).to_numpy(np.float64)
    return x


@dataclass(frozen=True, eq=False, repr=False)
class Observations:
    """Point observations of a field (see the module docstring for the array shapes).

    ``duplicates="allow"`` (default) accepts observed rows sharing a location (and time):
    repeated measurements, which models with a nugget take as they are and models without one
    refuse (``n_duplicated`` counts them); ``"error"`` rejects them here.
    ``require_values=False`` accepts data with no observed value at all (prediction
    locations). ``values=None`` means all NaN.
    ``replicate_names`` optionally names the ``r`` value columns written by
    :meth:`to_dataframe` (default ``<value_name>_<i>``).
    """

    coords: np.ndarray
    values: np.ndarray | None = None
    times: np.ndarray | None = None
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    ids: np.ndarray | None = None
    coord_names: tuple[str, ...] = ()
    value_name: str = "value"
    time_name: str | None = None
    duplicates: str = "allow"
    require_values: bool = True
    replicate_names: tuple[str, ...] = ()

    def __post_init__(self):
        coords = _float_array(self.coords, "coords")
        if coords.ndim != 2:
            raise ValueError(
                f"coords must be 2-D (n, d), got shape {coords.shape}"
                + ("; use coords.reshape(-1, 1) for 1-D locations" if coords.ndim == 1 else "")
            )
        n, d = coords.shape
        if n == 0:
            raise ValueError(f"empty input: no rows (coords has shape {coords.shape})")
        if d == 0:
            raise ValueError("coords have no columns (d == 0)")
        values = (np.full(n, np.nan) if self.values is None
                  else _float_array(self.values, "values"))
        if values.ndim not in (1, 2):
            raise ValueError(f"values must be (n,) or replicates (r, n), got shape {values.shape}")
        ids = np.arange(n) if self.ids is None else np.array(self.ids, copy=True)
        times = None if self.times is None else _float_array(_to_days(self.times), "times")
        cov = None if self.covariates is None else _float_array(self.covariates, "covariates")
        if cov is not None and cov.ndim == 1:
            cov = cov[:, None]
        for name, arr in (("values", values), ("ids", ids), ("times", times),
                          ("covariates", cov)):
            if arr is None:
                continue
            m = arr.shape[-1] if name == "values" else (arr.shape[0] if arr.ndim else -1)
            if m != n:
                raise ValueError(
                    f"mismatched lengths: coords has {n} rows but {name} has shape {arr.shape}"
                    + (" (replicates are (r, n))" if name == "values" and values.ndim == 2 else "")
                )
        if ids.ndim != 1 or (times is not None and times.ndim != 1) or (
                cov is not None and cov.ndim != 2):
            raise ValueError("ids and times must have shape (n,), covariates (n, p)")
        _reject(~np.isfinite(coords).all(axis=1), "NaN or infinite coordinates", ids)
        if times is not None:
            _reject(~np.isfinite(times), "NaN or infinite times", ids)
        v2 = values.reshape(-1, n)
        _reject(np.isinf(v2).any(axis=0), "infinite values", ids, "; use NaN for missing values")
        observed = ~np.isnan(v2).all(axis=0)
        if self.require_values and not observed.any():
            raise ValueError(f"no observed value: all {n} values are NaN (pass "
                             "require_values=False for prediction locations)")
        if cov is not None:
            _reject(observed & ~np.isfinite(cov).all(axis=1),
                    "NaN or infinite covariates on observed rows", ids)
        if self.duplicates not in ("error", "allow"):
            raise ValueError(f"duplicates must be 'error' or 'allow', got {self.duplicates!r}")
        cov_names = tuple(self.covariate_names) or (
            tuple(f"z{i}" for i in range(cov.shape[1])) if cov is not None else ())
        coord_names = tuple(self.coord_names) or tuple(f"x{i}" for i in range(d))
        if len(coord_names) != d:
            raise ValueError(f"coord_names {coord_names} do not match the {d} coordinate columns")
        if cov is not None and len(cov_names) != cov.shape[1]:
            raise ValueError(f"covariate_names {cov_names} do not match the "
                             f"{cov.shape[1]} covariate columns")
        r = v2.shape[0]
        if self.replicate_names and len(self.replicate_names) != r:
            raise ValueError(f"replicate_names {tuple(self.replicate_names)} do not match the "
                             f"{r} replicates")
        for k, v in dict(coords=coords, values=values, times=times, covariates=cov, ids=ids,
                         covariate_names=cov_names, coord_names=coord_names,
                         replicate_names=tuple(self.replicate_names),
                         time_name=(self.time_name or "t") if times is not None else None).items():
            object.__setattr__(self, k, v)  # frozen dataclass: normalised arrays and names
        if self.duplicates == "error":
            self._check_duplicates(observed)

    def _duplicated(self, observed: np.ndarray):
        """Which observed rows share a location (and time) with another: the mask over the
        observed rows and the inverse of ``np.unique``."""
        pts = self.points[observed] + 0.0  # + 0.0 turns -0.0 into 0.0
        _, inverse, counts = np.unique(pts, axis=0, return_inverse=True, return_counts=True)
        return counts[inverse.ravel()] > 1, inverse

    @functools.cached_property
    def n_duplicated(self) -> int:
        """Observed rows that share a location (and time) with another observed row: repeated
        measurements, which a model with a nugget takes as they are."""
        return int(self._duplicated(self.observed)[0].sum())

    def _check_duplicates(self, observed: np.ndarray) -> None:
        dup, inverse = self._duplicated(observed)
        if dup.any():
            rows = np.flatnonzero(observed)[dup]
            inv = inverse.ravel()[dup]
            rows = rows[np.argsort(inv, kind="stable")]  # group rows sharing a location
            what = "location and time" if self.times is not None else "location"
            shown = [v.item() if hasattr(v, "item") else v for v in self.ids[rows][:2 * _SHOW]]
            raise ValueError(
                f"duplicated locations: {len(rows)} observed rows share a {what} with another "
                f"(ids: {shown}{' ...' if len(rows) > 2 * _SHOW else ''}); average the values "
                "at each location, or pass duplicates='allow' with a model that has a nugget"
            )

    # --- shapes and masks ------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of rows (locations)."""
        return self.coords.shape[0]

    @property
    def dim(self) -> int:
        """Spatial dimension ``d``."""
        return self.coords.shape[1]

    @property
    def n_replicates(self) -> int:
        """``r`` (1 for values ``(n,)``)."""
        return 1 if self.values.ndim == 1 else self.values.shape[0]

    @property
    def values_2d(self) -> np.ndarray:
        """Values as ``(r, n)`` (a view)."""
        return self.values.reshape(-1, self.n)

    @property
    def observed(self) -> np.ndarray:
        """``(n,)`` bool: the row has at least one non-NaN value."""
        return ~np.isnan(self.values_2d).all(axis=0)

    @property
    def missing(self) -> np.ndarray:
        """``(n,)`` bool: every value of the row is NaN (a prediction target)."""
        return ~self.observed

    @property
    def points(self) -> np.ndarray:
        """``(n, d)``, or ``(n, d + 1)`` with the time as last column (space-time inputs)."""
        if self.times is None:
            return self.coords.copy()
        return np.column_stack([self.coords, self.times])

    def __repr__(self) -> str:
        extra = f", times={self.time_name!r}" if self.times is not None else ""
        if self.covariates is not None:
            extra += f", covariates={self.covariate_names}"
        return (f"Observations(n={self.n}, dim={self.dim}, replicates={self.n_replicates}, "
                f"observed={int(self.observed.sum())}{extra})")

    # --- parts -----------------------------------------------------------------------------
    def subset(self, index: Any, require_values: bool | None = None) -> Observations:
        """Rows selected by a boolean mask ``(n,)``, integer indices or a slice."""
        idx = index if isinstance(index, slice) else np.atleast_1d(np.asarray(index))
        if isinstance(idx, np.ndarray) and idx.dtype == bool and idx.shape != (self.n,):
            raise ValueError(f"boolean mask has shape {idx.shape}, expected ({self.n},)")
        return dataclasses.replace(
            self, coords=self.coords[idx], values=self.values[..., idx], ids=self.ids[idx],
            times=None if self.times is None else self.times[idx],
            covariates=None if self.covariates is None else self.covariates[idx],
            require_values=self.require_values if require_values is None else require_values,
        )

    def observed_part(self) -> Observations:
        """The rows with an observed value (what a likelihood is fitted on)."""
        return self.subset(self.observed)

    def missing_part(self) -> Observations:
        """The rows whose values are all NaN (prediction targets)."""
        return self.subset(self.missing, require_values=False)

    def diameter(self) -> float:
        """Largest distance between two spatial locations (all rows).

        Exact for ``n <= 2000`` (all pairs), for ``d == 1`` (the range) and for ``d == 2``
        (pairs of convex-hull vertices); otherwise the bounding-box diagonal, an upper bound
        at most ``sqrt(d)`` times the true diameter.
        """
        x = self.coords
        if self.n < 2:
            return 0.0
        if self.dim == 1:
            return float(np.ptp(x))
        from scipy.spatial.distance import pdist

        if self.n <= 2000:
            return float(pdist(x).max())
        if self.dim == 2:
            from scipy.spatial import ConvexHull, QhullError

            try:
                hull = x[ConvexHull(x).vertices]
                if len(hull) <= 5000:
                    return float(pdist(hull).max())
            except QhullError:  # degenerate (collinear) points: fall back to the box
                pass
        return float(np.linalg.norm(np.ptp(x, axis=0)))

    # --- conversion ------------------------------------------------------------------------
    def to_dataframe(self) -> pd.DataFrame:
        """Columns ``id``, coordinates, time, covariates, then the value column(s)."""
        cols: dict[str, Any] = {"id": self.ids}
        cols.update(zip(self.coord_names, self.coords.T, strict=True))
        if self.times is not None:
            cols[self.time_name] = self.times
        if self.covariates is not None:
            cols.update(zip(self.covariate_names, self.covariates.T, strict=True))
        if self.values.ndim == 1:
            cols[self.value_name] = self.values
        else:
            names = self.replicate_names or [f"{self.value_name}_{i}"
                                             for i in range(self.n_replicates)]
            cols.update(zip(names, self.values, strict=True))
        return pd.DataFrame(cols)

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        coords: Sequence[str],
        value: str | Sequence[str] | None,
        time: str | None = None,
        covariates: Sequence[str] | None = None,
        id: str | None = None,  # noqa: A002
        duplicates: str = "allow",
        require_values: bool = True,
    ) -> Observations:
        """Observations from a table.

        ``coords``: the d coordinate columns; ``value``: one column (values ``(n,)``), a list
        of columns (replicates ``(r, n)``) or None (prediction locations: all NaN, no value
        required). ``id``: the identifier column, else the DataFrame's index values.
        """
        as_list = lambda c: [c] if isinstance(c, str) else list(c or [])  # noqa: E731
        coords, covariates, values = as_list(coords), as_list(covariates), as_list(value)
        wanted = coords + values + covariates + as_list(time) + as_list(id)
        absent = [c for c in wanted if c not in df.columns]
        if absent:
            raise ValueError(f"column(s) {absent} not found; available columns: "
                             f"{[str(c) for c in df.columns]}")
        if not coords:
            raise ValueError("no coordinate columns given")

        def num(cols: list[str]) -> np.ndarray:
            try:
                return df[cols].to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as e:
                raise ValueError(f"columns {cols} must be numeric: {e}") from None

        vals, value_name, rep_names = np.full(len(df), np.nan), "value", ()
        if value is None:
            require_values = False
        elif isinstance(value, str):
            vals, value_name, rep_names = num(values)[:, 0], value, ()
        else:
            vals, value_name, rep_names = num(values).T, "value", tuple(values)
        return cls(
            coords=num(coords), values=vals,
            times=None if time is None else _float_array(_to_days(df[time]), f"time {time!r}"),
            covariates=num(covariates) if covariates else None,
            covariate_names=tuple(covariates),
            ids=df[id].to_numpy() if id is not None else df.index.to_numpy(),
            coord_names=tuple(coords), value_name=value_name, time_name=time,
            duplicates=duplicates, require_values=require_values, replicate_names=rep_names,
        )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Observations:
        """Read ``.parquet`` / ``.csv`` / ``.tsv`` (by suffix); keywords as :meth:`from_dataframe`.

        A missing, empty or unreadable file, or an unknown suffix, raises ``ValueError`` naming
        the path; so does any problem in the data.
        """
        from .io import read_table

        path = Path(path)
        df = read_table(path)
        try:
            return cls.from_dataframe(df, **kwargs)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None

    @classmethod
    def from_xarray(
        cls,
        da: xarray.DataArray,
        coords: Sequence[str] | None = None,
        time: str | None = None,
        duplicates: str = "allow",
        require_values: bool = True,
    ) -> Observations:
        """Stack a gridded DataArray into points (row-major over ``da.dims``).

        ``coords``: names of the spatial coordinates (dimension coordinates, or non-dimension
        coordinates such as 2-D ``lat``/``lon``); default every dimension except ``time``.
        ``time``: the name of the time coordinate, if any. NaN cells become missing values.
        """
        dims = list(da.dims)
        names = [c for c in dims if c != time] if coords is None else list(coords)
        wanted = names + ([time] if time is not None else [])
        absent = [c for c in wanted if c not in dims and c not in da.coords]
        if absent:
            raise ValueError(f"{absent} not found in the DataArray; dims: {dims}, "
                             f"coords: {list(da.coords)}")
        if not names:
            raise ValueError("no spatial coordinate: the DataArray has only the time dimension")
        covered = {dd for c in wanted for dd in da[c].dims}
        if set(dims) - covered:
            raise ValueError(f"dimension(s) {sorted(set(dims) - covered, key=str)} are not "
                             "covered by coords or time; select or average over them first")

        def flat(name: str) -> np.ndarray:
            c = da[name]
            full = c.expand_dims({dd: da.sizes[dd] for dd in dims if dd not in c.dims})
            return np.asarray(_to_days(full.transpose(*dims).values.ravel()))

        xy = np.column_stack([_float_array(flat(c), f"coordinate {c!r}") for c in names])
        return cls(
            coords=xy, values=np.asarray(da.values, dtype=np.float64).ravel(),
            times=None if time is None else flat(time),
            coord_names=tuple(str(c) for c in names),
            value_name=str(da.name) if da.name is not None else "value", time_name=time,
            duplicates=duplicates, require_values=require_values,
        )
