"""The bundled real datasets, loaded by name into pandas DataFrames.

    >>> from fieldfit import datasets
    >>> datasets.list_datasets()  # doctest: +NORMALIZE_WHITESPACE
    ['germany-solar', 'germany-solar-cells', 'heaton-modis', 'heaton-modis-simulated',
     'heaton-modis-small', 'irish-wind', 'irish-wind-stations', 'mediterranean-wind', 'meuse',
     'meuse-grid', 'noaa-tmax', 'sic97', 'south-tyrol-solar', 'south-tyrol-solar-longterm',
     'south-tyrol-solar-stations']
    >>> df = datasets.load("meuse")
    >>> df.attrs["coords"], df.attrs["value"]
    (['x', 'y'], 'zinc')

A dataset has one or more tables; ``load(name)`` gives its default table ("observations") and
``load(name, table=t)`` another one, which is also listed under the name ``"<name>-<t>"``
(``load("meuse", table="grid") == load("meuse-grid")``). Names are case-insensitive and ``_``
may stand for ``-``; an unknown name or table raises ``ValueError`` listing the valid ones.

Every frame carries its metadata in ``df.attrs`` (``info(name)`` gives the same dict without
reading the file): ``name``, ``dataset``, ``table``, ``coords`` (coordinate columns), ``value``
(default response column, or None), ``time`` (time column, or None), ``crs`` (text),
``units`` ({column: unit}), ``description``, ``source``, ``licence``, ``rows``, ``columns`` and
``true_params`` (the generating parameters of a simulated dataset in fieldfit's names, else None).
Coordinates are float64 and never NaN; missing values elsewhere are NaN.

Datasets (files under ``fieldfit/_data/<dataset>/``, provenance in each ``PROVENANCE.md``):

meuse
    Heavy metals in the top soil of a Meuse flood plain (NL): 155 samples; x, y in Dutch RD New
    metres (EPSG:28992); zinc, cadmium, copper, lead (mg/kg), elev (m), dist, om, ffreq, soil,
    lime, landuse, dist.m. Usual model: log(zinc) = beta0 + beta1 sqrt(dist) + Matérn field.
meuse-grid (table "grid")
    The 3,103 cells (40 m x 40 m) of the prediction grid for meuse: x, y, part.a, part.b, dist,
    soil, ffreq; no response.
sic97
    Spatial Interpolation Comparison 1997, Swiss daily rainfall of 8 May 1986 (tenths of mm) at
    467 gauges: ID, x, y (planar metres), rainfall, split = "train" (the 100 observed) or
    "validation" (the 367 to predict).
heaton-modis-small
    The 10,000-point code-checking set of the Heaton et al. (2019) competition: a simulated
    field, not MODIS data, on a 100 x 100 grid of the unit square, y = 44.49 + x(s) + eps with
    x exponential (Matérn nu = 1/2, variance 16.41, range 2/3) and nugget 0.05. MaskedData is
    NaN at the 2,900 held-out cells; FullData is the truth everywhere.
heaton-modis
    MODIS daytime land-surface temperature (°C) of 4 Aug 2016 on a 500 x 300 grid (150,000
    cells), the real data of the Heaton et al. (2019) competition: Lon, Lat (MODIS sinusoidal
    metres / 1e5, planar), Temp (NaN at the 42,740 test cells and 1,691 cloud cells).
heaton-modis-simulated
    The competition's simulated twin on the same grid and mask: MaskTemp (training, NaN at the
    44,431 cells to predict) and TrueTemp (truth everywhere); exponential field (variance
    16.41, range 4/3) + nugget 0.05 + mean 44.49.
irish-wind
    Daily mean wind speed (knots) at 12 Irish meteorological stations, 1961-1978 (6,574 days),
    Haslett & Raftery (1989); long format: station, name, date, lon, lat, wind (78,888 rows).
irish-wind-stations (table "stations")
    The 12 stations: station, name, lon, lat, mean_wind (m/s), lat_dms, lon_dms.
germany-solar
    Monthly mean global horizontal irradiance (W/m², EUMETSAT CM SAF via DWD) on the 0.2° grid
    over Germany and its neighbours (56 x 56 = 3,136 cells, 5-16 °E, 45-56 °N), 420 months
    1991-2025, complete: cell, date (first of the month), year, month, lon, lat, x_km, y_km
    (equirectangular about 10.5 °E, 50.5 °N), ghi (1,317,120 rows).
germany-solar-cells (table "cells")
    The 3,136 cells: cell, lon, lat, x_km, y_km.
south-tyrol-solar
    Daily insolation (kWh/m²) and mean temperature (°C) at 15 South Tyrol (IT) stations,
    2017-2019 (1,095 days): station, date, lon, lat, x_km, y_km (equirectangular about
    11.37 °E, 46.71 °N), elev, insolation, tmean (16,425 rows; 7 days NaN).
south-tyrol-solar-stations (table "stations")
    The 15 stations: station, elev, slope, aspect, x_utm32, y_utm32, lon, lat, x_km, y_km.
south-tyrol-solar-longterm (table "longterm")
    Daily insolation and mean temperature of 7 of the stations, 1986-2017 (35,430 rows):
    station, date, insolation, tmean (no coordinates: join the stations table).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import pandas as pd

__all__ = ["info", "list_datasets", "load"]

_DEFAULT_TABLE = "observations"


@dataclass(frozen=True)
class _Table:
    dataset: str
    table: str
    file: str
    coords: tuple[str, ...]
    value: str | None
    time: str | None
    crs: str
    units: dict[str, str]
    description: str
    source: str
    licence: str
    rows: int
    columns: tuple[str, ...]
    true_params: dict[str, float] | None = field(default=None)

    @property
    def name(self) -> str:
        if self.table == _DEFAULT_TABLE:
            return self.dataset
        return f"{self.dataset}-{self.table}"


_MEUSE_SOURCE = (
    "R package sp, data sets meuse and meuse.grid (Pebesma & Bivand); field data of Rikken & "
    "Van Rijn (1993), see Burrough & McDonnell (1998)"
)
_RD_NEW = "Dutch RD New (Amersfoort / RD New, EPSG:28992), metres"
_SIC_CRS = (
    "planar metres, local Swiss coordinates as shipped in R gstat (origin not documented); "
    "treat as Euclidean"
)
_HEATON_SOURCE = (
    "Heaton et al. (2019), A case study competition among methods for analyzing large spatial "
    "data, JABES 24, 398-425; repo finnlindgren/heatoncomparison, Data/SmallTestData.RData "
    "(generated by Code/FormatData/FormatData.R)"
)
_HEATON_REPO = (
    "Heaton et al. (2019), A case study competition among methods for analyzing large spatial "
    "data, JABES 24, 398-425; repo finnlindgren/heatoncomparison, "
)
_HEATON_CRS = (
    "MODIS sinusoidal projection, metres / 1e5 (not degrees despite the names); planar, "
    "treat as Euclidean"
)
_WIND_SOURCE = (
    "R package gstat, data sets wind and wind.loc; Haslett & Raftery (1989), Space-time "
    "modelling with long-memory dependence: assessing Ireland's wind power resource, Applied "
    "Statistics 38, 1-50"
)
_CMSAF_SOURCE = (
    "EUMETSAT CM SAF surface solar radiation (SARAH), monthly means on a 0.2 degree grid, as "
    "distributed by the Deutscher Wetterdienst; converted from GitHub IWUGERMANY/clidamonger "
    "data.sol.rda (shared/data/germany_solar/cmsaf_ghi_monthly_long.parquet)"
)
_CMSAF_CRS = (
    "lon/lat degrees (WGS84), cell centres of the 0.2 degree grid; x_km, y_km: "
    "equirectangular projection about 10.5 E, 50.5 N on the sphere R = 6371.0088 km, "
    "x = R cos(50.5 deg)(lon - 10.5) pi/180, y = R (lat - 50.5) pi/180 (planar km for the "
    "SPDE engine; east-west scale off by up to 11 % at the grid's north/south edges)"
)
_STS_SOURCE = (
    "GitHub sitscholl/topoclim (South Tyrol station data of the Hydrographic Office of the "
    "Autonomous Province of Bolzano); shared/data/south_tyrol_solar"
)
_STS_CRS = (
    "lon/lat degrees (WGS84); x_km, y_km: equirectangular projection about 11.37 E, 46.71 N "
    "on the sphere R = 6371.0088 km (planar km for the SPDE engine; east-west scale error "
    "< 0.7 % over the stations); the stations table also has UTM 32N metres (x_utm32, "
    "y_utm32)"
)
_WIND_CRS = "geographic lon/lat, decimal degrees (WGS84 assumed; from degree-minute positions)"

_STRBOOK = ("R package STRbook (Wikle, Zammit-Mangion & Cressie 2019, Spatio-Temporal Statistics "
            "with R, Chapman & Hall/CRC)")
_LONLAT = "geographic lon/lat, decimal degrees"

_TABLES: tuple[_Table, ...] = (
    _Table(
        dataset="noaa-tmax",
        table=_DEFAULT_TABLE,
        file="noaa-tmax/tmax_july1993.parquet",
        coords=("lon", "lat"),
        value="tmax",
        time="date",
        crs=_LONLAT,
        units={"lon": "degree", "lat": "degree", "tmax": "degF"},
        description=(
            "Daily maximum temperature at 133 US stations (central and eastern states), "
            "1-31 July 1993, long format with one row per station and day observed (absent "
            "rows are missing values): the month fieldfit's advection-diffusion benchmark "
            "fits."
        ),
        source=_STRBOOK + ", data set NOAA_df_1990 (NOAA daily station data)",
        licence="GPL (> 2.1), as the R package STRbook",
        rows=4122,
        columns=("station", "lon", "lat", "date", "tmax"),
    ),
    _Table(
        dataset="mediterranean-wind",
        table=_DEFAULT_TABLE,
        file="mediterranean-wind/ecmwf_uv.parquet",
        coords=("lon", "lat"),
        value="u",
        time="time",
        crs=_LONLAT,
        units={"lon": "degree", "lat": "degree", "u": "m/s", "v": "m/s"},
        description=(
            "ECMWF analysis surface winds over the Mediterranean: east (u) and north (v) "
            "components on a 0.5 degree grid, 1,175 cells x 28 six-hourly times, 29 Jan - 4 "
            "Feb 2005 (UTC), complete."
        ),
        source=_STRBOOK + ", data set Medwind_data (ECMWF analyses; Milliff et al. 2011)",
        licence="GPL (> 2.1), as the R package STRbook",
        rows=32900,
        columns=("lon", "lat", "time", "u", "v"),
    ),
    _Table(
        dataset="meuse",
        table=_DEFAULT_TABLE,
        file="meuse/meuse.parquet",
        coords=("x", "y"),
        value="zinc",
        time=None,
        crs=_RD_NEW,
        units={
            "x": "m",
            "y": "m",
            "cadmium": "mg/kg",
            "copper": "mg/kg",
            "lead": "mg/kg",
            "zinc": "mg/kg",
            "elev": "m above local river bed",
            "dist": "1 (0-1, normalised)",
            "om": "% (organic matter)",
            "dist.m": "m",
        },
        description=(
            "Heavy-metal concentrations in the top soil of a flood plain of the river Meuse "
            "near Stein (NL): 155 samples. ffreq (flooding frequency class 1-3), soil (type "
            "1-3), lime (0/1) are factor codes, landuse a class label; om has 2 and landuse 1 "
            "missing value."
        ),
        source=_MEUSE_SOURCE,
        licence="GPL (>= 2), as the R package sp",
        rows=155,
        columns=(
            "x",
            "y",
            "cadmium",
            "copper",
            "lead",
            "zinc",
            "elev",
            "dist",
            "om",
            "ffreq",
            "soil",
            "lime",
            "landuse",
            "dist.m",
        ),
    ),
    _Table(
        dataset="meuse",
        table="grid",
        file="meuse/meuse_grid.parquet",
        coords=("x", "y"),
        value=None,
        time=None,
        crs=_RD_NEW,
        units={"x": "m", "y": "m", "dist": "1 (0-1, normalised)"},
        description=(
            "Prediction grid for meuse: 3,103 cells of 40 m x 40 m with covariates part.a, "
            "part.b (0/1 halves of the area), dist, soil, ffreq; no response."
        ),
        source=_MEUSE_SOURCE,
        licence="GPL (>= 2), as the R package sp",
        rows=3103,
        columns=("x", "y", "part.a", "part.b", "dist", "soil", "ffreq"),
    ),
    _Table(
        dataset="sic97",
        table=_DEFAULT_TABLE,
        file="sic97/sic97.parquet",
        coords=("x", "y"),
        value="rainfall",
        time=None,
        crs=_SIC_CRS,
        units={"x": "m", "y": "m", "rainfall": "0.1 mm"},
        description=(
            "Spatial Interpolation Comparison 1997: daily rainfall of 8 May 1986 at 467 Swiss "
            "gauges; split is 'train' for the 100 observed gauges and 'validation' for the 367 "
            "whose values were to be predicted."
        ),
        source=(
            "R package gstat, data sets sic_obs and sic_full (sic97); Dubois (1998), Spatial "
            "interpolation comparison 97, J. Geographic Information and Decision Analysis 2(2)"
        ),
        licence="GPL (>= 2), as the R package gstat",
        rows=467,
        columns=("ID", "x", "y", "rainfall", "split"),
    ),
    _Table(
        dataset="heaton-modis-small",
        table=_DEFAULT_TABLE,
        file="heaton-modis-small/small_test_full.parquet",
        coords=("Lon", "Lat"),
        value="MaskedData",
        time=None,
        crs="unit square, planar (Euclidean); Lon, Lat are not geographic",
        units={"MaskedData": "degC-like (simulated)", "FullData": "degC-like (simulated)"},
        description=(
            "Code-checking set of the Heaton et al. competition: a simulated Gaussian field "
            "(not MODIS data) on a 100 x 100 grid of the unit square, exponential covariance "
            "plus nugget; MaskedData is NaN at 2,900 randomly held-out cells, FullData is the "
            "simulated truth everywhere."
        ),
        source=_HEATON_SOURCE,
        licence="none stated; the repository says 'provided as-is'",
        rows=10000,
        columns=("Lon", "Lat", "MaskedData", "FullData"),
        true_params={
            "mean": 44.49105,
            "variance": 16.40771,
            "range": 1 / 1.5,
            "smoothness": 0.5,
            "nugget": 0.05,
        },
    ),
    _Table(
        dataset="heaton-modis",
        table=_DEFAULT_TABLE,
        file="heaton-modis/satellite.parquet",
        coords=("Lon", "Lat"),
        value="Temp",
        time=None,
        crs=_HEATON_CRS,
        units={"Lon": "100 km", "Lat": "100 km", "Temp": "degC"},
        description=(
            "MODIS (MOD11A1) daytime land-surface temperature of 4 August 2016 on a 500 x 300 "
            "window of the 1 km grid: the real data of the Heaton et al. competition. Temp is "
            "NaN at 44,431 cells: the 42,740 held-out test cells (cloudy on 5 August) and "
            "1,691 cells cloudy on 4 August; the file does not tell them apart."
        ),
        source=_HEATON_REPO + "Data/SatelliteTemps.RData",
        licence="none stated; the repository says 'provided as-is'",
        rows=150000,
        columns=("Lon", "Lat", "Temp"),
    ),
    _Table(
        dataset="heaton-modis-simulated",
        table=_DEFAULT_TABLE,
        file="heaton-modis-simulated/simulated_full.parquet",
        coords=("Lon", "Lat"),
        value="MaskTemp",
        time=None,
        crs=_HEATON_CRS,
        units={
            "Lon": "100 km",
            "Lat": "100 km",
            "MaskTemp": "degC-like (simulated)",
            "TrueTemp": "degC-like (simulated)",
        },
        description=(
            "The simulated twin of the Heaton et al. competition on the heaton-modis grid: an "
            "exponential Gaussian field plus nugget and constant mean. MaskTemp is NaN at the "
            "same 44,431 cells as heaton-modis (the cells to predict), TrueTemp is the "
            "simulated truth everywhere."
        ),
        source=_HEATON_REPO + "Data/AllSimulatedTemps.RData (Code/FormatData/FormatData.R)",
        licence="none stated; the repository says 'provided as-is'",
        rows=150000,
        columns=("Lon", "Lat", "MaskTemp", "TrueTemp"),
        true_params={
            "mean": 44.49105,
            "variance": 16.40771,
            "range": 1 / 0.75,
            "smoothness": 0.5,
            "nugget": 0.05,
        },
    ),
    _Table(
        dataset="irish-wind",
        table=_DEFAULT_TABLE,
        file="irish-wind/wind_wide.parquet",
        coords=("lon", "lat"),
        value="wind",
        time="date",
        crs=_WIND_CRS,
        units={"lon": "degree", "lat": "degree", "wind": "knot"},
        description=(
            "Daily mean wind speed at 12 Irish synoptic stations, 1 Jan 1961 - 31 Dec 1978 "
            "(6,574 days, complete), long format with one row per station and day. Haslett & "
            "Raftery model sqrt(wind) after removing a seasonal mean."
        ),
        source=_WIND_SOURCE,
        licence="GPL (>= 2), as the R package gstat",
        rows=78888,
        columns=("station", "name", "date", "lon", "lat", "wind"),
    ),
    _Table(
        dataset="irish-wind",
        table="stations",
        file="irish-wind/stations.parquet",
        coords=("lon", "lat"),
        value=None,
        time=None,
        crs=_WIND_CRS,
        units={"lon": "degree", "lat": "degree", "mean_wind": "m/s"},
        description=(
            "The 12 stations of irish-wind: 3-letter code, name, position (decimal and as "
            "given, degree-minute) and mean_wind, the 1961-1978 mean speed in m/s (not knots) "
            "as tabulated in gstat wind.loc."
        ),
        source=_WIND_SOURCE,
        licence="GPL (>= 2), as the R package gstat",
        rows=12,
        columns=("station", "name", "lon", "lat", "mean_wind", "lat_dms", "lon_dms"),
    ),
    _Table(
        dataset="germany-solar",
        table=_DEFAULT_TABLE,
        file="germany-solar/ghi.parquet",
        coords=("lon", "lat"),
        value="ghi",
        time="date",
        crs=_CMSAF_CRS,
        units={"lon": "degree", "lat": "degree", "x_km": "km", "y_km": "km", "ghi": "W/m2"},
        description=(
            "Monthly mean global horizontal irradiance (surface incoming shortwave) on the "
            "0.2 degree CM SAF grid over Germany and its neighbours: 56 x 56 = 3,136 cells "
            "(5-16 E, 45-56 N) x 420 months (Jan 1991 - Dec 2025), complete, integer W/m2 "
            "as distributed; date is the first day of the month."
        ),
        source=_CMSAF_SOURCE,
        licence="CC BY 4.0 (the clidamonger repository; CM SAF data: EUMETSAT, DWD)",
        rows=1317120,
        columns=("cell", "date", "year", "month", "lon", "lat", "x_km", "y_km", "ghi"),
    ),
    _Table(
        dataset="germany-solar",
        table="cells",
        file="germany-solar/cells.parquet",
        coords=("lon", "lat"),
        value=None,
        time=None,
        crs=_CMSAF_CRS,
        units={"lon": "degree", "lat": "degree", "x_km": "km", "y_km": "km"},
        description="The 3,136 grid cells of germany-solar: cell, lon, lat, x_km, y_km.",
        source=_CMSAF_SOURCE,
        licence="CC BY 4.0 (the clidamonger repository; CM SAF data: EUMETSAT, DWD)",
        rows=3136,
        columns=("cell", "lon", "lat", "x_km", "y_km"),
    ),
    _Table(
        dataset="south-tyrol-solar",
        table=_DEFAULT_TABLE,
        file="south-tyrol-solar/daily.parquet",
        coords=("lon", "lat"),
        value="insolation",
        time="date",
        crs=_STS_CRS,
        units={"lon": "degree", "lat": "degree", "x_km": "km", "y_km": "km",
               "elev": "m", "insolation": "kWh/m2 per day", "tmean": "degC"},
        description=(
            "Daily insolation and daily mean air temperature at 15 meteorological stations "
            "of South Tyrol (Italy), 2017-2019 (1,095 days), one row per station and day; "
            "insolation and tmean are NaN on 7 station-days (20500MS: 2017-07-25 and "
            "2019-06-19..24)."
        ),
        source=_STS_SOURCE,
        licence="MIT (the topoclim repository)",
        rows=16425,
        columns=("station", "date", "lon", "lat", "x_km", "y_km", "elev", "insolation",
                 "tmean"),
    ),
    _Table(
        dataset="south-tyrol-solar",
        table="stations",
        file="south-tyrol-solar/stations.parquet",
        coords=("lon", "lat"),
        value=None,
        time=None,
        crs=_STS_CRS,
        units={"elev": "m", "slope": "degree", "aspect": "degree (from north, clockwise)",
               "x_utm32": "m", "y_utm32": "m", "lon": "degree", "lat": "degree",
               "x_km": "km", "y_km": "km"},
        description=(
            "The 15 stations of south-tyrol-solar: id, elevation, terrain slope and aspect, "
            "UTM 32N and lon/lat positions, and the projected x_km, y_km."
        ),
        source=_STS_SOURCE,
        licence="MIT (the topoclim repository)",
        rows=15,
        columns=("station", "elev", "slope", "aspect", "x_utm32", "y_utm32", "lon", "lat",
                 "x_km", "y_km"),
    ),
    _Table(
        dataset="south-tyrol-solar",
        table="longterm",
        file="south-tyrol-solar/longterm.parquet",
        coords=(),
        value="insolation",
        time="date",
        crs=_STS_CRS,
        units={"insolation": "kWh/m2 per day", "tmean": "degC"},
        description=(
            "Long daily series (1986-2017, lengths 2,192-11,688 days) of 7 of the 15 "
            "stations: station, date, insolation (50 NaN), tmean (1,665 NaN); join "
            "south-tyrol-solar-stations for positions."
        ),
        source=_STS_SOURCE,
        licence="MIT (the topoclim repository)",
        rows=35430,
        columns=("station", "date", "insolation", "tmean"),
    ),
)

_BY_KEY: dict[tuple[str, str], _Table] = {(t.dataset, t.table): t for t in _TABLES}
_BY_NAME: dict[str, _Table] = {t.name: t for t in _TABLES}


def list_datasets() -> list[str]:
    """The names :func:`load` accepts, sorted.

    Non-default tables appear as ``"<name>-<table>"``.

    Returns
    -------
    list of str
    """
    return sorted(_BY_NAME)


def _norm(text: str) -> str:
    return text.strip().lower().replace("_", "-")


def _resolve(name: str, table: str | None) -> _Table:
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {type(name).__name__}")
    key = _norm(name)
    if table is None:
        if key in _BY_NAME:
            return _BY_NAME[key]
    else:
        tkey = _norm(table)
        base = _BY_NAME.get(key)
        if base is not None and (base.dataset, tkey) in _BY_KEY:
            if base.table not in (_DEFAULT_TABLE, tkey):
                raise ValueError(
                    f"{name!r} already names table {base.table!r}; got table={table!r}"
                )
            return _BY_KEY[(base.dataset, tkey)]
        if base is not None:
            tables = sorted(t.table for t in _TABLES if t.dataset == base.dataset)
            raise ValueError(
                f"unknown table {table!r} for dataset {base.dataset!r}; valid tables: "
                + ", ".join(tables)
            )
    raise ValueError(f"unknown dataset {name!r}; valid names: " + ", ".join(list_datasets()))


def _metadata(t: _Table) -> dict[str, Any]:
    return {
        "name": t.name,
        "dataset": t.dataset,
        "table": t.table,
        "tables": sorted(u.table for u in _TABLES if u.dataset == t.dataset),
        "coords": list(t.coords),
        "value": t.value,
        "time": t.time,
        "crs": t.crs,
        "units": dict(t.units),
        "description": t.description,
        "source": t.source,
        "licence": t.licence,
        "rows": t.rows,
        "columns": list(t.columns),
        "true_params": copy.deepcopy(t.true_params),
    }


def info(name: str, table: str | None = None) -> dict[str, Any]:
    """Metadata of a dataset table (the ``attrs`` that :func:`load` attaches), without reading it.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets` (case-insensitive; ``_`` may stand for ``-``).
    table : str or None, optional
        A non-default table of the dataset.

    Returns
    -------
    dict
        ``name``, ``dataset``, ``table``, ``tables``, ``coords``, ``value``, ``time``, ``crs``,
        ``units``, ``description``, ``source``, ``licence``, ``rows``, ``columns`` and
        ``true_params``.

    Raises
    ------
    ValueError
        For an unknown name or table, listing the valid ones.
    """
    return _metadata(_resolve(name, table))


def _read(relpath: str) -> pd.DataFrame:
    res = resources.files("fieldfit").joinpath("_data", *relpath.split("/"))
    if not res.is_file():
        raise FileNotFoundError(
            f"bundled data file fieldfit/_data/{relpath} is missing; reinstall fieldfit"
        )
    with res.open("rb") as fh:
        return pd.read_parquet(fh)


def _irish_wind_long() -> pd.DataFrame:
    wide = _read("irish-wind/wind_wide.parquet")
    stations = _read("irish-wind/stations.parquet")[["station", "name", "lon", "lat"]]
    long = wide.melt(id_vars="date", var_name="station", value_name="wind")
    long["date"] = pd.to_datetime(long["date"])
    long = long.merge(stations, on="station", how="left", validate="many_to_one")
    long = long.sort_values(["station", "date"], kind="stable", ignore_index=True)
    return long[["station", "name", "date", "lon", "lat", "wind"]]


def _germany_solar_long() -> pd.DataFrame:
    ghi = _read("germany-solar/ghi.parquet")
    cells = _read("germany-solar/cells.parquet")
    out = ghi.merge(cells, on="cell", how="left", validate="many_to_one")
    out["date"] = pd.to_datetime(pd.DataFrame({"year": out["year"], "month": out["month"],
                                               "day": 1}))
    for col in ("cell", "year", "month", "ghi"):
        out[col] = out[col].astype("int64")
    return out


def _south_tyrol_daily() -> pd.DataFrame:
    daily = _read("south-tyrol-solar/daily.parquet")
    st = _read("south-tyrol-solar/stations.parquet")[["station", "lon", "lat", "x_km", "y_km",
                                                      "elev"]]
    out = daily.merge(st, on="station", how="left", validate="many_to_one")
    out["date"] = pd.to_datetime(out["date"])
    return out


def _south_tyrol_longterm() -> pd.DataFrame:
    out = _read("south-tyrol-solar/longterm.parquet")
    out["date"] = pd.to_datetime(out["date"])
    return out


_LOADERS = {
    ("irish-wind", _DEFAULT_TABLE): _irish_wind_long,
    ("germany-solar", _DEFAULT_TABLE): _germany_solar_long,
    ("south-tyrol-solar", _DEFAULT_TABLE): _south_tyrol_daily,
    ("south-tyrol-solar", "longterm"): _south_tyrol_longterm,
}


def load(name: str, table: str | None = None) -> pd.DataFrame:
    """Load a bundled dataset table as a DataFrame with its metadata in ``df.attrs``.

    The datasets (one line each: content; provenance — details in the module docstring and
    each ``PROVENANCE.md``):

    - ``meuse``: zinc and other heavy metals in the top soil of a Meuse flood plain (NL), 155
      samples; R package sp (Pebesma & Bivand), field data of Rikken & Van Rijn (1993).
    - ``meuse-grid``: the 3,103-cell prediction grid for meuse, covariates only; R package sp.
    - ``sic97``: Swiss daily rainfall of 8 May 1986 at 467 gauges (100 train, 367
      validation); Spatial Interpolation Comparison 1997 (Dubois 1998), via R gstat.
    - ``heaton-modis-small``: 10,000-point simulated exponential field with nugget on the unit
      square, 2,900 cells held out; Heaton et al. (2019) competition code-checking set.
    - ``heaton-modis``: MODIS daytime land-surface temperature of 4 Aug 2016, 500 × 300 grid;
      Heaton et al. (2019) competition, real data.
    - ``heaton-modis-simulated``: the competition's simulated twin on the same grid and mask,
      with known parameters; Heaton et al. (2019).
    - ``irish-wind``: daily mean wind speed at 12 Irish stations, 1961–1978, long format;
      Haslett & Raftery (1989), via R gstat.
    - ``irish-wind-stations``: the 12 stations' positions and mean speeds; R gstat
      ``wind.loc``.
    - ``germany-solar``: monthly mean global horizontal irradiance on a 0.2° grid over Germany,
      1991–2025; EUMETSAT CM SAF (SARAH) via the Deutscher Wetterdienst.
    - ``germany-solar-cells``: the 3,136 grid cells of germany-solar; same source.
    - ``south-tyrol-solar``: daily insolation and mean temperature at 15 South Tyrol stations,
      2017–2019; Hydrographic Office of Bolzano, via GitHub sitscholl/topoclim.
    - ``south-tyrol-solar-stations``: the 15 stations' elevation, slope, aspect and positions;
      same source.
    - ``south-tyrol-solar-longterm``: daily series 1986–2017 of 7 of the stations, no
      coordinates; same source.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets` (case-insensitive; ``_`` may stand for ``-``).
    table : str or None, optional
        A non-default table of the dataset (``load("meuse", table="grid")`` is
        ``load("meuse-grid")``).

    Returns
    -------
    pandas.DataFrame
        The table, its columns in the documented order; ``df.attrs`` holds the metadata of
        :func:`info` (coordinate, response and time columns, CRS, units, source, licence,
        and the generating parameters of a simulated dataset).

    Raises
    ------
    ValueError
        For an unknown name or table (listing the valid ones), or a bundled file with the
        wrong rows or columns.
    FileNotFoundError
        If a bundled data file is missing from the installation.

    Examples
    --------
    >>> from fieldfit import datasets
    >>> df = datasets.load("meuse")
    >>> df.attrs["coords"], df.attrs["value"]
    (['x', 'y'], 'zinc')
    """
    t = _resolve(name, table)
    loader = _LOADERS.get((t.dataset, t.table))
    df = loader() if loader is not None else _read(t.file)
    missing = [c for c in t.columns if c not in df.columns]
    if missing or len(df) != t.rows:
        raise ValueError(
            f"bundled file for {t.name!r} is corrupt: {len(df)} rows (expected {t.rows}), "
            f"missing columns {missing}"
        )
    df = df[list(t.columns)].reset_index(drop=True)
    df.attrs.update(_metadata(t))
    return df
