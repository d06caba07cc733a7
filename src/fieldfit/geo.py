"""Geographic coordinates: longitude/latitude in degrees on a spherical Earth.

A point at longitude λ and latitude φ (degrees) lies at::

    p = R (cos φ cos λ, cos φ sin λ, sin φ)      R = 6371.0088 km

(the IUGG mean Earth radius, Moritz 2000, "Geodetic Reference System 1980"). The Euclidean
distance of two such points is the **chordal distance**::

    h = ‖p₁ − p₂‖ = 2R sin(d_gc / (2R)),     d_gc the great-circle distance,

and a covariance that is positive definite on R³ as a function of the Euclidean distance
stays positive definite on the sphere as a function of h, for every Matérn smoothness ν
(Gneiting 2013, "Strictly and non-strictly positive definite functions on spheres",
Bernoulli 19; GpGp's ``matern_sphere`` does the same). The great-circle distance itself
is not: Matérn with ν > 1/2 of d_gc is not positive definite on the sphere. At small
distances h ≈ d_gc (h/d_gc ≈ 1 − d_gc²/(24R²): 0.1 % short at 1,000 km, 1 % at 3,100 km), so a
range in chordal kilometres reads as a range in kilometres.

The models take ``crs="lonlat"`` (:func:`fieldfit.models.build`; the CLI's ``--crs lonlat``):
they convert the (lon, lat) columns with :func:`lonlat_to_cartesian` (O(n), before the
covariance and the engine see the points), and every covariance, neighbour search and
ordering then runs on the 3-D points in kilometres.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: mean Earth radius R (km), IUGG (Moritz 2000)
EARTH_RADIUS_KM = 6371.0088

#: coordinate reference systems of the models' ``crs`` option (the CLI's ``--crs``):
#: ``"planar"`` — the coordinates are Cartesian, distances Euclidean in their units;
#: ``"lonlat"`` — longitude, latitude in degrees; distances chordal, in kilometres
CRS_CHOICES = ("planar", "lonlat")

#: column names read as longitude / latitude (case-insensitive) by :func:`detect_crs`
LONGITUDE_NAMES = ("lon", "long", "longitude")
LATITUDE_NAMES = ("lat", "latitude")


def check_crs(crs) -> str:
    """Check a coordinate reference system name.

    Parameters
    ----------
    crs : str
        One of ``CRS_CHOICES`` (``"planar"``, ``"lonlat"``).

    Returns
    -------
    str
        ``crs`` itself.

    Raises
    ------
    ValueError
        Naming the choices, if ``crs`` is not one of them.
    """
    if not isinstance(crs, str) or crs not in CRS_CHOICES:
        raise ValueError(f"--crs must be one of {', '.join(CRS_CHOICES)}, got {crs!r}")
    return crs


def check_lonlat(lonlat, what: str = "coordinates") -> np.ndarray:
    """Check longitude/latitude coordinates in degrees and return them as float64.

    Parameters
    ----------
    lonlat : array_like
        ``(n, 2)`` (lon, lat) in degrees (a single ``(2,)`` point is accepted).
    what : str, default "coordinates"
        Names the points in the messages.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` float64.

    Raises
    ------
    ValueError
        If there are not two columns, or a value is not finite or outside longitude
        [−180, 360] / latitude [−90, 90] (naming the column and the first offending row).
    """
    x = np.asarray(lonlat, dtype=np.float64)
    if x.ndim == 1 and x.shape[0] == 2:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"longitude/latitude {what} need two columns (lon, lat), got shape "
                         f"{x.shape}")
    for col, (name, lo, hi) in enumerate((("longitude", -180.0, 360.0),
                                          ("latitude", -90.0, 90.0))):
        v = x[:, col]
        bad = np.flatnonzero(~(np.isfinite(v) & (v >= lo) & (v <= hi)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name} of the {what} must be in [{lo:g}, {hi:g}] degrees; row "
                             f"{i} (from 0) has {v[i]:g} ({bad.size} rows out of range; with "
                             "--crs lonlat the coordinates are longitude, latitude in degrees)")
    return x


def lonlat_to_cartesian(lonlat, radius: float = EARTH_RADIUS_KM,
                        what: str = "coordinates") -> np.ndarray:
    r"""3-D Cartesian points (km) of longitude/latitude points on the sphere of radius R.

    :math:`p = R(\cos\varphi\cos\lambda, \cos\varphi\sin\lambda, \sin\varphi)`.

    Parameters
    ----------
    lonlat : array_like
        ``(n, 2)`` (lon, lat) in degrees, checked by :func:`check_lonlat`.
    radius : float, default EARTH_RADIUS_KM
        Sphere radius R in km.
    what : str, default "coordinates"
        Names the points in the messages.

    Returns
    -------
    numpy.ndarray
        ``(n, 3)`` points in km.

    Raises
    ------
    ValueError
        As :func:`check_lonlat`.
    """
    x = check_lonlat(lonlat, what)
    lon, lat = np.radians(x[:, 0]), np.radians(x[:, 1])
    c = np.cos(lat)
    return radius * np.column_stack([c * np.cos(lon), c * np.sin(lon), np.sin(lat)])


def great_circle_distance(lonlat1, lonlat2, radius: float = EARTH_RADIUS_KM) -> np.ndarray:
    r"""Great-circle distances by the haversine formula.

    .. math::

        d = 2R \arcsin\sqrt{\sin^2(\Delta\varphi/2) + \cos\varphi_1 \cos\varphi_2
        \sin^2(\Delta\lambda/2)}.

    Parameters
    ----------
    lonlat1 : array_like
        ``(n1, 2)`` (lon, lat) in degrees.
    lonlat2 : array_like
        ``(n2, 2)`` (lon, lat) in degrees.
    radius : float, default EARTH_RADIUS_KM
        Sphere radius R in km.

    Returns
    -------
    numpy.ndarray
        ``(n1, n2)`` distances in km.

    Raises
    ------
    ValueError
        As :func:`check_lonlat`.
    """
    a, b = check_lonlat(lonlat1), check_lonlat(lonlat2)
    lon1, lat1 = np.radians(a[:, 0])[:, None], np.radians(a[:, 1])[:, None]
    lon2, lat2 = np.radians(b[:, 0])[None, :], np.radians(b[:, 1])[None, :]
    s = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * radius * np.arcsin(np.sqrt(np.clip(s, 0.0, 1.0)))


def chordal_distance(lonlat1, lonlat2, radius: float = EARTH_RADIUS_KM) -> np.ndarray:
    """Chordal distances: the Euclidean distances of the :func:`lonlat_to_cartesian` points.

    Parameters
    ----------
    lonlat1 : array_like
        ``(n1, 2)`` (lon, lat) in degrees.
    lonlat2 : array_like
        ``(n2, 2)`` (lon, lat) in degrees.
    radius : float, default EARTH_RADIUS_KM
        Sphere radius R in km.

    Returns
    -------
    numpy.ndarray
        ``(n1, n2)`` distances in km.

    Raises
    ------
    ValueError
        As :func:`check_lonlat`.
    """
    p1, p2 = lonlat_to_cartesian(lonlat1, radius), lonlat_to_cartesian(lonlat2, radius)
    diff = p1[:, None, :] - p2[None, :, :]
    return np.sqrt((diff * diff).sum(-1))


def chordal_from_great_circle(d_gc, radius: float = EARTH_RADIUS_KM):
    r"""The chordal distance :math:`h = 2R \sin(d_{gc} / (2R))` of a great-circle distance.

    Parameters
    ----------
    d_gc : float or array_like
        Great-circle distances in km, any shape.
    radius : float, default EARTH_RADIUS_KM
        Sphere radius R in km.

    Returns
    -------
    numpy.ndarray
        Chordal distances in km, the shape of ``d_gc``.
    """
    return 2.0 * radius * np.sin(np.asarray(d_gc, dtype=np.float64) / (2.0 * radius))


def chordal_diameter(points3: np.ndarray) -> float:
    """The largest distance between two of the 3-D points (km), or an upper bound.

    Exact for n ≤ 2,000 (all pairs), else the diagonal of their bounding box (an upper bound, at
    most √3 times the diameter), never above the sphere's diameter 2R.

    Parameters
    ----------
    points3 : numpy.ndarray
        ``(n, 3)`` points in km.

    Returns
    -------
    float
        0 for fewer than two points.
    """
    x = np.asarray(points3, dtype=np.float64)
    if len(x) < 2:
        return 0.0
    if len(x) <= 2000:
        from scipy.spatial.distance import pdist

        return float(pdist(x).max())
    return float(min(np.linalg.norm(x.max(0) - x.min(0)), 2.0 * EARTH_RADIUS_KM))


def detect_crs(column_names: Sequence[str], coords=None) -> str | None:
    """Guess ``"lonlat"`` from the coordinate column names, for the CLI to warn about ``--crs``.

    The two coordinate columns must be named as longitude and latitude (lon/lat, long/lat,
    longitude/latitude, case-insensitive, in either order). With ``coords`` given, names whose
    values are not valid degrees (longitude in [−180, 360], latitude in [−90, 90]) give None:
    projected coordinates named Lon/Lat (the Heaton MODIS data) are not mistaken for degrees.

    Parameters
    ----------
    column_names : sequence of str
        The two coordinate column names.
    coords : array_like or None, optional
        ``(n, 2)`` the columns' values, in that order.

    Returns
    -------
    str or None
        ``"lonlat"``, or None.
    """
    names = [str(c).strip().lower() for c in column_names]
    if len(names) != 2:
        return None
    if names[0] in LONGITUDE_NAMES and names[1] in LATITUDE_NAMES:
        lon_col = 0
    elif names[1] in LONGITUDE_NAMES and names[0] in LATITUDE_NAMES:
        lon_col = 1
    else:
        return None
    if coords is not None:
        x = np.asarray(coords, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 2:
            return None
        try:
            check_lonlat(x[:, [lon_col, 1 - lon_col]])
        except ValueError:
            return None
    return "lonlat"


__all__ = ["CRS_CHOICES", "EARTH_RADIUS_KM", "LATITUDE_NAMES", "LONGITUDE_NAMES", "check_crs",
           "check_lonlat", "chordal_diameter", "chordal_distance", "chordal_from_great_circle",
           "detect_crs", "great_circle_distance", "lonlat_to_cartesian"]
