"""Observations: point data of a spatial or spatio-temporal field, validated once at the edge.

An :class:`Observations` holds numpy float64 arrays:

- ``coords`` ``(n, d)``: spatial coordinates;
- ``values`` ``(n,)`` or replicates ``(r, n)``; NaN marks a missing value (a prediction target,
  left out of fitting). A location is observed when any of its replicates is not NaN;
- ``times`` ``(n,)`` or None; ``covariates`` ``(n, p)`` or None; ``ids`` ``(n,)`` row identifiers.

Bad input raises a one-line ``ValueError`` that names the problem, the column (with the
command-line option that chose it: ``column 'z' (--value)``) and the first offending row ids;
nothing is silently dropped. Magnitudes above :data:`MAX_MAGNITUDE` are refused before any
arithmetic can overflow. Datetime columns / coordinates, and text time columns in ISO 8601
form, become float days since 1970-01-01 (UTC).
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

#: Largest magnitude of a coordinate, time, value or covariate that :class:`Observations`
#: accepts. Covariances and likelihoods square and multiply these numbers; below 1e100 their
#: squares (1e200) and sums of squares stay far from float64's overflow at 1.8e308.
MAX_MAGNITUDE = 1e100
#: Smallest non-zero spread (largest minus smallest) of a coordinate column or of the values:
#: a smaller one would underflow when squared (float64's smallest normal number is 2.2e-308).
MIN_SPREAD = 1e-100


def _first_ids(ids: np.ndarray, bad: np.ndarray) -> str:
    """The first few ids of the rows where ``bad`` is True, as text (``[...] ...``)."""
    shown = [v.item() if hasattr(v, "item") else v for v in ids[bad][:_SHOW]]
    return f"{shown}{' ...' if int(bad.sum()) > _SHOW else ''}"


def _reject(bad: np.ndarray, problem: str, ids: np.ndarray, hint: str = "") -> None:
    """ValueError ``"<problem>: k row(s) (first ids: [...])<hint>"`` when ``bad`` ``(n,)`` has
    any True."""
    if bad.any():
        raise ValueError(f"{problem}: {int(bad.sum())} row(s) "
                         f"(first ids: {_first_ids(ids, bad)}){hint}")


def _reject_columns(bad: np.ndarray, problem: str, labels: Sequence[str], ids: np.ndarray,
                    hint: str = "") -> None:
    """As :func:`_reject` for ``bad`` ``(n, k)`` over k columns: the message names the columns
    (``labels``) that hold a bad entry and counts the rows that do."""
    if bad.any():
        cols = ", ".join(dict.fromkeys(labels[j] for j in np.flatnonzero(bad.any(axis=0))))
        _reject(bad.any(axis=1), f"{problem} in {cols}", ids, hint)


def _float_array(x: Any, what: str) -> np.ndarray:
    """``x`` as a new float64 array; ValueError naming ``what`` when it is not numeric."""
    try:
        return np.array(x, dtype=np.float64, copy=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"{what} must be numeric: {e}") from None


def _parse_float(v: Any) -> float | None:
    """One cell as a float (NaN for an empty cell), or None when it is not a number."""
    if v is None or v is pd.NA or v is pd.NaT:
        return np.nan
    if isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
        try:
            return float(v)
        except OverflowError:  # an integer beyond float64's range
            return None
    if isinstance(v, str):
        v = v.strip()
        if not v:
            return np.nan
        try:
            return float(v)
        except (ValueError, OverflowError):
            return None
    return None


def _numeric_column(s: pd.Series, label: str, ids: np.ndarray) -> np.ndarray:
    """A table column as float64 ``(n,)`` (empty cells NaN); ``ValueError`` naming the column
    (``label``) and the first rows whose cells are not numbers."""
    dtype = s.dtype
    if pd.api.types.is_complex_dtype(dtype):
        raise ValueError(f"{label} holds complex numbers; give real numbers")
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        raise ValueError(f"{label} holds dates or durations, not numbers (a time column goes "
                         "to --time)")
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        try:
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError, OverflowError):
            pass  # e.g. an integer extension type beyond float64: reported cell by cell
    cells = s.to_numpy(dtype=object)
    parsed = [_parse_float(v) for v in cells]
    bad = np.array([p is None for p in parsed], dtype=bool)
    if bad.any():
        first = cells[bad][0]
        shown = first if isinstance(first, str) else f"{first!r} ({type(first).__name__})"
        raise ValueError(f"{label} is not numeric: {int(bad.sum())} row(s) hold values such as "
                         f"{shown!r} (first ids: {_first_ids(ids, bad)})")
    return np.array(parsed, dtype=np.float64)


_DATE_HINT = "write dates in ISO 8601 form, e.g. 2020-01-31 or 2020-01-31T12:00"


def _to_days(x: Any, label: str = "times", ids: np.ndarray | None = None) -> Any:
    """Datetimes (NaT -> NaN) as float days since 1970-01-01 UTC; anything else unchanged.

    Text (a CSV's time column) is read as numbers when every cell is one, else as ISO 8601
    dates; a cell that is neither raises ``ValueError`` quoting it and naming its row (an id
    of ``ids``, default the position) and the column (``label``).
    """
    dtype = getattr(x, "dtype", None)
    if dtype is not None and (pd.api.types.is_object_dtype(dtype)
                              or pd.api.types.is_string_dtype(dtype)):
        cells = np.asarray(x, dtype=object).ravel()
        parsed = [_parse_float(v) for v in cells]
        if all(p is not None for p in parsed):
            return np.array(parsed, dtype=np.float64).reshape(np.shape(x))
        empty = np.array([p is not None and np.isnan(p) for p in parsed], dtype=bool)
        texts = [None if p is not None and np.isnan(p) else
                 v if isinstance(v, (str, pd.Timestamp, np.datetime64)) or hasattr(v, "year")
                 else str(v) for v, p in zip(cells, parsed, strict=True)]  # numbers: no dates
        try:
            t = pd.to_datetime(pd.Series(texts, dtype=object), format="ISO8601", utc=True,
                               errors="coerce")
        except (TypeError, ValueError, OverflowError):
            t = pd.Series(pd.NaT, index=range(len(cells)), dtype="datetime64[ns, UTC]")
        bad = t.isna().to_numpy() & ~empty
        if bad.any():
            rows = np.arange(len(cells)) if ids is None else np.asarray(ids)
            first = cells[bad][0]
            raise ValueError(f"{label}: {int(bad.sum())} row(s) hold neither a number nor an "
                             f"ISO 8601 date, such as {str(first)!r} (first ids: "
                             f"{_first_ids(rows, bad)}); {_DATE_HINT}")
        x, dtype = t, t.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        t = pd.to_datetime(pd.Series(np.asarray(x)) if not isinstance(x, pd.Series) else x,
                           utc=True)
        return ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(days=1)).to_numpy(np.float64)
    return x


def _holds_dates(x: Any) -> bool:
    """Whether :func:`_to_days` reads ``x`` as dates: datetimes, or text that is not all
    numbers."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return False
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return any(_parse_float(v) is None for v in np.asarray(x, dtype=object).ravel())
    return False


def _check_scale(arr: np.ndarray, what: str, labels: Sequence[str], ids: np.ndarray,
                 rows: np.ndarray | None = None, spread: bool = True) -> None:
    """Refuse magnitudes above MAX_MAGNITUDE among the finite entries of ``arr`` ``(n, k)``
    (on ``rows`` only, when given), and with ``spread`` a column whose finite entries differ
    by less than MIN_SPREAD but not by 0."""
    with np.errstate(all="ignore"):
        finite = np.isfinite(arr) if rows is None else np.isfinite(arr) & rows[:, None]
        _reject_columns(finite & (np.abs(arr) > MAX_MAGNITUDE),
                        f"{what} above {MAX_MAGNITUDE:g} in magnitude", labels, ids,
                        "; rescale them (divide by a power of ten) so that their squares do "
                        "not overflow")
        for j in range(arr.shape[1] if spread else 0):
            col = arr[finite[:, j], j]
            width = float(col.max() - col.min()) if len(col) else 0.0
            if 0 < width < MIN_SPREAD:
                raise ValueError(f"{what} in {labels[j]} all lie within {width:.3g} of each "
                                 f"other (less than {MIN_SPREAD:g}); rescale them (multiply "
                                 "by a power of ten) so that their squares do not underflow")


@dataclass(frozen=True, eq=False, repr=False)
class Observations:
    """Point observations of a field, validated once: the data every estimator takes.

    The arrays are stored as new float64 arrays (a frozen dataclass: an instance does not
    change). Coordinates and times must be finite, values finite or NaN (missing),
    covariates finite on the observed rows; every magnitude at most :data:`MAX_MAGNITUDE`
    (1e100), and a coordinate column's or the values' spread either 0 or at least
    :data:`MIN_SPREAD` (1e-100). Errors name the column (with its command-line option, e.g.
    ``column 'z' (--value)``, when the names are given) and the first offending row ids.

    Parameters
    ----------
    coords : array_like
        Spatial coordinates ``(n, d)``.
    values : array_like, optional
        Values ``(n,)`` or replicates ``(r, n)``; NaN marks a missing value (a prediction
        target). None means all NaN.
    times : array_like, optional
        Times ``(n,)``: numbers, or datetimes / ISO 8601 text (then float days since
        1970-01-01 UTC).
    covariates : array_like, optional
        Covariates ``(n, p)`` (or ``(n,)`` for one).
    covariate_names : tuple of str, optional
        Their names (default ``z0, z1, ...``).
    ids : array_like, optional
        Row identifiers ``(n,)`` (default 0, 1, ..., n − 1).
    coord_names : tuple of str, optional
        The coordinates' names (default ``x0, x1, ...``).
    value_name : str, optional
        The values' name (default ``"value"``).
    time_name : str, optional
        The times' name (default ``"t"`` when there are times).
    duplicates : {"allow", "error"}, optional
        ``"allow"`` (default) accepts observed rows sharing a location (and time): repeated
        measurements, which models with a nugget take as they are and models without one
        refuse (:attr:`n_duplicated` counts them); ``"error"`` rejects them here.
    require_values : bool, optional
        False accepts data with no observed value at all (prediction locations).
    replicate_names : tuple of str, optional
        Names of the ``r`` value columns written by :meth:`to_dataframe` (default
        ``<value_name>_<i>``).
    time_unit : str, optional
        The unit of the times: ``"days"`` when they were given as dates (set then), else
        what the caller states (None: unknown). Summaries print temporal ranges in it.

    Raises
    ------
    ValueError
        Bad input, in one line naming the problem, the column and the first row ids: shapes
        that do not match, non-finite coordinates or times, infinite values, no observed
        value (unless ``require_values=False``), magnitudes or spreads out of range, or
        duplicated locations with ``duplicates="error"``.

    See Also
    --------
    Observations.from_dataframe, Observations.from_file, Observations.from_xarray

    Examples
    --------
    The Meuse zinc data (155 soil samples, coordinates in metres) on the log scale:

    >>> import numpy as np
    >>> import fieldfit
    >>> df = fieldfit.datasets.load("meuse")
    >>> df["log_zinc"] = np.log(df["zinc"])
    >>> obs = fieldfit.Observations.from_dataframe(df, coords=["x", "y"], value="log_zinc")
    >>> obs
    Observations(n=155, dim=2, replicates=1, observed=155)
    >>> obs.coords.shape, obs.coord_names, obs.value_name
    ((155, 2), ('x', 'y'), 'log_zinc')

    Arrays directly; a NaN value marks a prediction target:

    >>> obs = fieldfit.Observations(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
    ...                             np.array([1.5, np.nan, 0.5]))
    >>> obs.observed.tolist(), obs.observed_part().n
    ([True, False, True], 2)
    """

    coords: np.ndarray
    values: np.ndarray | None = None
    times: np.ndarray | None = None
    covariates: np.ndarray | None = None
    covariate_names: tuple[str, ...] = ()
    ids: np.ndarray | None = None
    coord_names: tuple[str, ...] = ()
    value_name: str | None = None
    time_name: str | None = None
    duplicates: str = "allow"
    require_values: bool = True
    replicate_names: tuple[str, ...] = ()
    time_unit: str | None = None

    def __post_init__(self):
        coords = _float_array(self.coords, "coords")
        if coords.ndim != 2:
            raise ValueError(
                f"coords must be 2-D (n, d), got shape {coords.shape}"
                + ("; use coords.reshape(-1, 1) for 1-D locations" if coords.ndim == 1 else "")
            )
        n, d = coords.shape
        if n == 0:
            raise ValueError("empty input: no rows")
        if d == 0:
            raise ValueError("coords have no columns (d == 0)")
        values = (np.full(n, np.nan) if self.values is None
                  else _float_array(self.values, "values"))
        if values.ndim not in (1, 2):
            raise ValueError(f"values must be (n,) or replicates (r, n), got shape {values.shape}")
        ids = np.arange(n) if self.ids is None else np.array(self.ids, copy=True)
        if ids.ndim == 1 and len(ids) == n:
            id_rows = ids
        else:
            id_rows = np.arange(n)
        raw_times = (pd.Series(list(self.times)) if isinstance(self.times, (list, tuple))
                     else self.times)
        times = None if raw_times is None else _float_array(
            _to_days(raw_times, "times", id_rows), "times")
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
        v2 = values.reshape(-1, n)
        r = v2.shape[0]
        if self.replicate_names and len(self.replicate_names) != r:
            raise ValueError(f"replicate_names {tuple(self.replicate_names)} do not match the "
                             f"{r} replicates")

        # what the messages call each column: its name and option when names were given
        def label(kind: str, option: str, names: Sequence[str], j: int) -> str:
            return f"column {names[j]!r} ({option})" if names else f"{kind} column {j}"

        coord_label = [label("coordinate", "--coords", self.coord_names, j) for j in range(d)]
        value_label = (
            [label("value", "--value", self.replicate_names, i) for i in range(r)]
            if self.replicate_names else
            [f"column {self.value_name!r} (--value)" if self.value_name is not None
             else "the value array"] * r)
        time_label = f"column {self.time_name!r} (--time)" if self.time_name else "times"
        cov_label = ([label("covariate", "--covariates", self.covariate_names, j)
                      for j in range(cov.shape[1])] if cov is not None else [])

        _reject_columns(~np.isfinite(coords), "NaN or infinite coordinates", coord_label, ids)
        _check_scale(coords, "coordinates", coord_label, ids)
        if times is not None:
            _reject(~np.isfinite(times), f"NaN or infinite times in {time_label}", ids)
            _check_scale(times[:, None], "times", [time_label], ids, spread=False)
        _reject_columns(np.isinf(v2).T, "infinite values", value_label, ids,
                        "; leave a cell empty (NaN) for a missing value")
        observed = ~np.isnan(v2).all(axis=0)
        if self.require_values and not observed.any():
            what = "" if value_label[0] == "the value array" else " of " + ", ".join(
                dict.fromkeys(value_label))
            raise ValueError(f"no observed value: all {n} values{what} are NaN or empty")
        _check_scale(v2.T, "values", value_label, ids, spread=False)
        if observed.any():  # the values' spread, over every replicate together
            vals = v2[:, observed]
            vals = vals[~np.isnan(vals)]
            width = float(vals.max() - vals.min())
            if 0 < width < MIN_SPREAD:
                raise ValueError(
                    f"values in {', '.join(dict.fromkeys(value_label))} all lie within "
                    f"{width:.3g} of each other (less than {MIN_SPREAD:g}); rescale them "
                    "(multiply by a power of ten) so that their squares do not underflow")
        if cov is not None:
            _reject_columns(observed[:, None] & ~np.isfinite(cov),
                            "NaN or infinite covariates on observed rows", cov_label, ids)
            _check_scale(cov, "covariates", cov_label, ids, rows=observed, spread=False)
        for k, v in dict(coords=coords, values=values, times=times, covariates=cov, ids=ids,
                         covariate_names=cov_names, coord_names=coord_names,
                         value_name=self.value_name or "value",
                         replicate_names=tuple(self.replicate_names),
                         time_name=(self.time_name or "t") if times is not None else None,
                         time_unit=None if times is None else (
                             "days" if _holds_dates(raw_times) else self.time_unit)).items():
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
        """The number of observed rows that share a location (and time) with another observed
        row: repeated measurements, which a model with a nugget takes as they are."""
        return int(self._duplicated(self.observed)[0].sum())

    @functools.cached_property
    def n_locations(self) -> int:
        """The number of distinct spatial locations among the observed rows (times ignored).

        1 means every observation sits at one place, from which no range can be estimated;
        Observations accepts such data (one prediction or simulation point is fine), a fit
        should not.
        """
        pts = self.coords[self.observed] + 0.0
        return int(len(np.unique(pts, axis=0))) if len(pts) else 0

    def _check_duplicates(self, observed: np.ndarray) -> None:
        """ValueError listing the ids of observed rows that share a location (and time)."""
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
                "at each location, or take them as repeated measurements with a model that has "
                "a nugget"
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
        """The rows selected by ``index``, as new Observations.

        Parameters
        ----------
        index : array_like or slice
            A boolean mask ``(n,)``, integer indices or a slice.
        require_values : bool, optional
            For the subset (default: as this one's).

        Returns
        -------
        Observations
            The rows, with their ids, times and covariates.

        Raises
        ------
        ValueError
            A boolean mask of another shape, or a subset without an observed value when
            values are required.
        IndexError
            An index out of range.
        """
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
        """The rows with an observed value (what a likelihood is fitted on).

        Returns
        -------
        Observations
            The rows where :attr:`observed` is True.
        """
        return self.subset(self.observed)

    def missing_part(self) -> Observations:
        """The rows whose values are all NaN (prediction targets).

        Returns
        -------
        Observations
            The rows where :attr:`missing` is True (no value required).

        Raises
        ------
        ValueError
            No row is missing.
        """
        return self.subset(self.missing, require_values=False)

    def diameter(self) -> float:
        """The largest distance between two spatial locations (all rows).

        Exact for ``n <= 2000`` (all pairs), for ``d == 1`` (the range) and for ``d == 2``
        (pairs of convex-hull vertices); otherwise the bounding-box diagonal, an upper bound
        at most ``sqrt(d)`` times the true diameter.

        Returns
        -------
        float
            The diameter in the coordinates' units (0 for one row).
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
        """The observations as a table.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, the coordinates, the time, the covariates, then the value column
            (or one per replicate), one row per location.
        """
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

        Text cells holding numbers are read as numbers, empty ones as NaN; booleans as 0 / 1;
        a time column of datetimes or ISO 8601 text as days since 1970-01-01 (UTC).

        Parameters
        ----------
        df : pandas.DataFrame
            The table.
        coords : sequence of str
            The d coordinate columns.
        value : str, sequence of str or None
            One column (values ``(n,)``), a list of columns (replicates ``(r, n)``) or None
            (prediction locations: all NaN, no value required).
        time : str, optional
            The time column.
        covariates : sequence of str, optional
            Covariate columns.
        id : str, optional
            The identifier column, else the DataFrame's index values.
        duplicates : {"allow", "error"}, optional
            As :class:`Observations`.
        require_values : bool, optional
            As :class:`Observations`.

        Returns
        -------
        Observations
            The data, with the columns' names.

        Raises
        ------
        ValueError
            Naming the column and its option (``--coords``, ``--value``, ``--time``,
            ``--covariates``, ``--id``): a column named twice for one part or for two parts
            (a coordinate that is also the value, the value as a covariate or the time), an
            absent column, a column that the table holds twice, a cell that is not a number
            (quoted, with the first row ids), and any problem :class:`Observations` finds.
        """
        as_list = lambda c: [c] if isinstance(c, str) else list(c or [])  # noqa: E731
        coords, covariates, values = as_list(coords), as_list(covariates), as_list(value)
        times, id_cols = as_list(time), as_list(id)
        roles = [("--coords", coords), ("--value", values), ("--time", times),
                 ("--covariates", covariates), ("--id", id_cols)]
        if not coords:
            raise ValueError("no coordinate columns given (--coords)")
        for option, cols in roles:
            for c in dict.fromkeys(cols):
                if cols.count(c) > 1:
                    raise ValueError(f"column {c!r} is given {cols.count(c)} times in {option}")
        clashes = [("--coords", coords, "--value", values), ("--coords", coords, "--time", times),
                   ("--value", values, "--time", times),
                   ("--value", values, "--covariates", covariates)]
        for opt_a, cols_a, opt_b, cols_b in clashes:
            both = [c for c in cols_a if c in cols_b]
            if both:
                raise ValueError(f"column {both[0]!r} is given both in {opt_a} and in {opt_b}; "
                                 "a column can play one of these parts only")
        absent = [(c, option) for option, cols in roles for c in cols if c not in df.columns]
        if absent:
            raise ValueError(f"column(s) {[c for c, _ in absent]} not found "
                             f"({', '.join(dict.fromkeys(o for _, o in absent))}); available "
                             f"columns: {[str(c) for c in df.columns]}")
        for option, cols in roles:
            for c in cols:
                k = int(np.sum(df.columns == c))
                if k > 1:
                    raise ValueError(f"column {c!r} ({option}) appears {k} times in the table; "
                                     "rename the copies")
        ids = df[id].to_numpy() if id is not None else df.index.to_numpy()
        if ids.ndim != 1:  # e.g. a MultiIndex flattened to tuples: report rows by position
            ids = np.arange(len(df))
        rows = ids

        def num(cols: list[str], option: str) -> np.ndarray:
            out = np.empty((len(df), len(cols)))
            for j, c in enumerate(cols):
                out[:, j] = _numeric_column(df[c], f"column {c!r} ({option})", rows)
            return out

        vals, value_name, rep_names = np.full(len(df), np.nan), None, ()
        if value is None:
            require_values = False
        elif isinstance(value, str):
            vals, value_name = num(values, "--value")[:, 0], value
        else:
            vals, rep_names = num(values, "--value").T, tuple(values)
        return cls(
            coords=num(coords, "--coords"), values=vals,
            times=None if time is None else _float_array(
                _to_days(df[time], f"column {time!r} (--time)", rows),
                f"column {time!r} (--time)"),
            covariates=num(covariates, "--covariates") if covariates else None,
            covariate_names=tuple(covariates), ids=ids,
            coord_names=tuple(coords), value_name=value_name, time_name=time,
            duplicates=duplicates, require_values=require_values, replicate_names=rep_names,
            time_unit="days" if time is not None and _holds_dates(df[time]) else None,
        )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> Observations:
        """Observations from a ``.parquet``, ``.csv`` or ``.tsv`` file (by its suffix).

        Parameters
        ----------
        path : str or pathlib.Path
            The file (:func:`fieldfit.io.read_table`).
        **kwargs
            As :meth:`from_dataframe` (``coords``, ``value``, ``time``, ...).

        Returns
        -------
        Observations
            The data.

        Raises
        ------
        ValueError
            Naming the path: a missing, empty or unreadable file, an unknown suffix, or any
            problem in the data.
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
        """Observations from a gridded DataArray, stacked into points (row-major over
        ``da.dims``); NaN cells become missing values.

        Parameters
        ----------
        da : xarray.DataArray
            The grid.
        coords : sequence of str, optional
            The spatial coordinates: dimension coordinates, or non-dimension coordinates
            such as 2-D ``lat``/``lon`` (default every dimension except ``time``).
        time : str, optional
            The time coordinate, if any.
        duplicates : {"allow", "error"}, optional
            As :class:`Observations`.
        require_values : bool, optional
            As :class:`Observations`.

        Returns
        -------
        Observations
            One row per grid cell.

        Raises
        ------
        ValueError
            A coordinate not in the DataArray, no spatial coordinate, a dimension that no
            coordinate covers, or any problem :class:`Observations` finds.
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
            time_unit="days" if time is not None and _holds_dates(da[time].values) else None,
        )
