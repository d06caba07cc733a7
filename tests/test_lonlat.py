"""Longitude/latitude coordinates: ``fieldfit.geo`` and ``crs="lonlat"``.

The chordal distance against closed forms; log-likelihoods that do not depend on how the
longitudes are written (across the dateline, shifted by 360°) or on a rotation of the sphere;
the exact and Vecchia engines agreeing at m = n − 1; the likelihood against a direct
computation from the chordal distances; kriging and simulation on the same distance; ranges
in kilometres; the SPDE engine refusing lon/lat; detect_crs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

import fieldfit as ff
from fieldfit.geo import (
    CRS_CHOICES,
    EARTH_RADIUS_KM,
    check_lonlat,
    chordal_distance,
    chordal_from_great_circle,
    detect_crs,
    great_circle_distance,
    lonlat_to_cartesian,
)
from fieldfit.models import build, from_spec
from fieldfit.models.registry import entry

R = EARTH_RADIUS_KM
#: float64 round-off of a log-likelihood of ~60 points (sums of ~n² products)
LL_RTOL = 1e-11
PARAMS = {"variance": 1.0, "range": 500.0, "smoothness": 1.5, "nugget": 0.1}


def _dateline_data(n: int = 60, seed: int = 0):
    """``n`` stations around the dateline (170°E–170°W, 10°S–10°N; the issue's case) and one
    draw of a Matérn field (range 500 km) at them. Returns lon in [170, 190], lat, z."""
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(170, 190, n), rng.uniform(-10, 10, n)
    z = build("matern", crs="lonlat").simulate(np.column_stack([lon, lat]),
                                               {**PARAMS, "mean": 0.0}, seed=seed + 1)[0]
    return lon, lat, z


def _wrap(lon):
    """Longitudes in [−180, 180)."""
    return (lon + 180.0) % 360.0 - 180.0


def _loglik(model, lon, lat, z, params=PARAMS) -> float:
    obs = ff.Observations(coords=np.column_stack([lon, lat]), values=z)
    return float(model.log_likelihood(obs, params))


# --- fieldfit.geo ---------------------------------------------------------------------------
def test_chordal_distance_closed_forms():
    pts = np.array([[0.0, 0.0], [90.0, 0.0], [180.0, 0.0], [0.0, 90.0], [123.0, -90.0]])
    h = chordal_distance(pts, pts)
    assert h[0, 1] == pytest.approx(R * math.sqrt(2), rel=1e-14)  # a quarter of the equator
    assert h[0, 2] == pytest.approx(2 * R, rel=1e-14)              # antipodes
    assert h[0, 3] == pytest.approx(R * math.sqrt(2), rel=1e-14)   # equator to pole
    assert h[3, 4] == pytest.approx(2 * R, rel=1e-14)              # pole to pole
    np.testing.assert_allclose(np.diag(h), 0.0, atol=1e-9)
    # -180 and 180 are one meridian; any longitude at a pole is the pole
    assert chordal_distance([[-180.0, 12.0]], [[180.0, 12.0]])[0, 0] < 1e-9
    assert chordal_distance([[10.0, 90.0]], [[-75.0, 90.0]])[0, 0] < 1e-9


def test_chordal_is_2R_sin_of_the_great_circle_distance():
    rng = np.random.default_rng(3)
    a = np.column_stack([rng.uniform(-180, 360, 40), rng.uniform(-90, 90, 40)])
    b = np.column_stack([rng.uniform(-180, 360, 30), rng.uniform(-90, 90, 30)])
    d = great_circle_distance(a, b)
    np.testing.assert_allclose(chordal_distance(a, b), chordal_from_great_circle(d),
                               rtol=1e-10)
    # along a meridian the great-circle distance is R·Δφ
    assert great_circle_distance([[7.0, -20.0]], [[7.0, 35.0]])[0, 0] == pytest.approx(
        R * math.radians(55.0), rel=1e-13)


def test_chordal_equals_haversine_at_small_distances():
    # ~1 km apart: h = d (1 − d²/(24R²)), the difference below 1e-12 relative
    a = np.array([[13.4, 52.5]])
    b = np.array([[13.4 + 0.01, 52.5 + 0.004]])
    d, h = great_circle_distance(a, b)[0, 0], chordal_distance(a, b)[0, 0]
    assert 0.5 < d < 1.5
    assert h == pytest.approx(d, rel=1e-9)
    assert h == pytest.approx(d * (1 - d * d / (24 * R * R)), rel=1e-9)


def test_cartesian_points_lie_on_the_sphere():
    rng = np.random.default_rng(0)
    x = lonlat_to_cartesian(np.column_stack([rng.uniform(-180, 360, 50),
                                             rng.uniform(-90, 90, 50)]))
    assert x.shape == (50, 3)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), R, rtol=1e-14)


@pytest.mark.parametrize("point, fragment", [
    ([400.0, 10.0], "longitude"), ([-181.0, 10.0], "longitude"), ([10.0, 95.0], "latitude"),
    ([10.0, -90.5], "latitude"), ([np.nan, 10.0], "longitude"), ([10.0, np.inf], "latitude")])
def test_check_lonlat_names_the_bad_coordinate(point, fragment):
    with pytest.raises(ValueError, match=fragment) as err:
        check_lonlat([[0.0, 0.0], point])
    assert "row 1" in str(err.value)
    with pytest.raises(ValueError, match="two columns"):
        check_lonlat(np.zeros((4, 3)))


@pytest.mark.parametrize("names, expected", [
    (["lon", "lat"], "lonlat"), (["Lat", "Lon"], "lonlat"), (["LONGITUDE", "latitude"], "lonlat"),
    (["long", "lat"], "lonlat"), (["latitude", "longitude"], "lonlat"), (["x", "y"], None),
    (["lon", "y"], None), (["lon", "lat", "t"], None), (["lat", "lat"], None),
    (["easting", "northing"], None)])
def test_detect_crs(names, expected):
    assert detect_crs(names) == expected


def test_detect_crs_with_values_ignores_projected_columns_named_lon_lat():
    assert detect_crs(["lon", "lat"], np.array([[10.0, 50.0], [11.0, 51.0]])) == "lonlat"
    assert detect_crs(["Lat", "Lon"], np.array([[50.0, 10.0], [51.0, 11.0]])) == "lonlat"
    # MODIS sinusoidal metres / 1e5 (the Heaton data): latitude 400 is no latitude
    assert detect_crs(["Lon", "Lat"], np.array([[-95.0, 400.0], [-94.0, 401.0]])) is None
    assert CRS_CHOICES == ("planar", "lonlat")


# --- the models --------------------------------------------------------------------------------
def test_dateline_shift_and_rotation_leave_the_loglik_unchanged():
    lon, lat, z = _dateline_data()
    wrapped = _wrap(lon)                      # the same stations written across the dateline
    assert (wrapped < 0).any() and (wrapped > 0).any()
    for model in (build("matern", crs="lonlat"),
                  build("matern", crs="lonlat", engine="vecchia", neighbours=10)):
        ref = _loglik(model, lon, lat, z)
        assert _loglik(model, wrapped, lat, z) == pytest.approx(ref, rel=LL_RTOL)
        assert _loglik(model, lon - 180.0, lat, z) == pytest.approx(ref, rel=LL_RTOL)
        assert _loglik(model, _wrap(lon + 37.0), lat, z) == pytest.approx(ref, rel=LL_RTOL)
    # the planar model (the old behaviour) sees a different point set
    planar = build("matern")
    a = _loglik(planar, lon, lat, z, {**PARAMS, "range": 5.0})
    b = _loglik(planar, wrapped, lat, z, {**PARAMS, "range": 5.0})
    assert abs(a - b) > 0.1


def test_space_time_models_take_lonlat():
    lon, lat, _ = _dateline_data(n=15)
    times = np.repeat(np.arange(3.0), 15)
    lon3, lat3 = np.tile(lon, 3), np.tile(lat, 3)
    z = np.random.default_rng(5).standard_normal(45)
    for name, extra in (("separable", {"smoothness": 1.5, "time_range": 2.0}),
                        ("gneiting", {"time_range": 2.0, "smoothness": 0.5,
                                      "time_smoothness": 0.5, "separability": 0.5})):
        model = build(name, crs="lonlat")
        p = {"variance": 1.0, "range": 500.0, "nugget": 0.1, **extra}
        lls = [float(model.log_likelihood(
            ff.Observations(coords=np.column_stack([lo, lat3]), times=times, values=z), p))
               for lo in (lon3, _wrap(lon3), _wrap(lon3 + 37.0))]
        assert lls[1] == pytest.approx(lls[0], rel=LL_RTOL), name
        assert lls[2] == pytest.approx(lls[0], rel=LL_RTOL), name


def test_loglik_equals_a_direct_computation_from_chordal_distances():
    lon, lat, z = _dateline_data(n=40)
    lonlat = np.column_stack([_wrap(lon), lat])
    model = build("matern", smoothness=1.5, mean="zero", crs="lonlat")
    p = {"variance": 1.3, "range": 400.0, "nugget": 0.2}
    h = chordal_distance(lonlat, lonlat) / p["range"]
    K = p["variance"] * (1 + h) * np.exp(-h) + p["nugget"] * np.eye(len(z))
    direct = scipy.stats.multivariate_normal(np.zeros(len(z)), K).logpdf(z)
    got = float(model.log_likelihood(ff.Observations(coords=lonlat, values=z), p))
    assert got == pytest.approx(direct, rel=1e-10)
    # the dense covariance the model evaluates is the same matrix
    import torch
    x = torch.tensor(model.covariance_points(lonlat))
    Km = model.covariance(x, x, {k: torch.tensor(v, dtype=torch.float64)
                                 for k, v in {**p, "smoothness": 1.5}.items()}).numpy()
    np.testing.assert_allclose(Km, K - p["nugget"] * np.eye(len(z)), rtol=1e-12, atol=1e-14)


def test_exact_and_vecchia_agree_at_m_n_minus_1():
    lon, lat, z = _dateline_data(n=30)
    lonlat = np.column_stack([_wrap(lon), lat])
    obs = ff.Observations(coords=lonlat, values=z)
    exact = build("matern", crs="lonlat")
    vecchia = build("matern", crs="lonlat", engine="vecchia", neighbours=29, pred_neighbours=30)
    assert float(vecchia.log_likelihood(obs, PARAMS)) == pytest.approx(
        float(exact.log_likelihood(obs, PARAMS)), rel=1e-10)
    new = np.array([[179.5, 0.5], [-179.0, -3.0], [175.0, 8.0]])
    p = {**PARAMS, "mean": 0.2}
    m_e, s_e = exact.predict(obs, new, p)
    m_v, s_v = vecchia.predict(obs, new, p)
    np.testing.assert_allclose(m_v, m_e, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(s_v, s_e, rtol=1e-8)
    draws = vecchia.conditional_simulation(obs, new, p, n_samples=4, seed=0)
    assert draws.shape == (4, 3) and np.isfinite(draws).all()


def test_kriging_uses_the_chordal_distance_and_interpolates_without_nugget():
    lon, lat, z = _dateline_data(n=30)
    lonlat = np.column_stack([_wrap(lon), lat])
    obs = ff.Observations(coords=lonlat, values=z, coord_names=["lon", "lat"])
    model = build("matern", smoothness=1.5, nugget=False, crs="lonlat")
    p = {"variance": 1.0, "range": 500.0}
    # the same station written with longitude + 360 (or −360): the same point of the sphere
    at = lonlat[[3, 7]].copy()
    at[:, 0] = np.where(at[:, 0] < 0, at[:, 0] + 360.0, at[:, 0])
    mean, sd = model.predict(obs, at, p, noise=False)
    np.testing.assert_allclose(mean, z[[3, 7]], atol=1e-6)
    assert (sd < 1e-4).all()
    targets = ff.Observations(coords=at, values=None, coord_names=["lon", "lat"],
                              require_values=False)
    table = ff.krige(model, obs, targets, p, noise=False)
    assert list(table.columns[:3]) == ["id", "lon", "lat"]
    np.testing.assert_allclose(table[["lon", "lat"]].to_numpy(), at)  # degrees, as given
    # simple kriging weights from the chordal distances
    far = np.array([[0.0, 0.0]])  # ~19,000 km away: the field's mean
    m_far, s_far = model.predict(obs, far, {**p, "mean": 0.4}, kind="simple", noise=False)
    assert float(m_far[0]) == pytest.approx(0.4, abs=1e-8)
    assert float(s_far[0]) == pytest.approx(1.0, rel=1e-8)
    scores, _ = ff.cross_validate(build("matern", smoothness=1.5, crs="lonlat"), obs,
                                  {**p, "nugget": 0.05}, folds=5)
    assert np.isfinite(scores["rmse"])


def test_prediction_and_simulation_points_are_checked_as_degrees():
    lon, lat, z = _dateline_data(n=20)
    obs = ff.Observations(coords=np.column_stack([_wrap(lon), lat]), values=z)
    model = build("matern", crs="lonlat")
    with pytest.raises(ValueError, match="latitude of the prediction points"):
        model.predict(obs, np.array([[10.0, 91.0]]), {**PARAMS, "mean": 0.0})
    with pytest.raises(ValueError, match="longitude of the simulation points"):
        model.simulate(np.array([[0.0, 0.0], [500.0, 0.0]]), {**PARAMS, "mean": 0.0}, seed=0)
    bad = ff.Observations(coords=np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 120.0]]),
                          values=np.zeros(3))
    with pytest.raises(ValueError, match="latitude"):
        model.check_data(bad)


def test_one_point_written_twice_without_nugget_is_refused():
    coords = np.array([[-180.0, 10.0], [180.0, 10.0], [0.0, 0.0], [3.0, 4.0]])
    obs = ff.Observations(coords=coords, values=np.arange(4.0))
    with pytest.raises(ValueError, match="repeat a location on the sphere"):
        build("matern", nugget=False, crs="lonlat").check_data(obs)
    build("matern", crs="lonlat").check_data(obs)  # with a nugget: repeated measurements


def test_starting_range_is_in_kilometres():
    lon, lat, z = _dateline_data(n=50)
    obs = ff.Observations(coords=np.column_stack([_wrap(lon), lat]), values=z)
    model = build("matern", crs="lonlat")
    diam = chordal_distance(obs.coords, obs.coords).max()
    assert 2000 < diam < 3200  # 20° × 20° at the equator
    assert model.initial_values(obs)["range"] == pytest.approx(diam / 10, rel=1e-12)
    assert model.diameter(obs) == pytest.approx(diam, rel=1e-12)


def test_fitted_range_is_in_kilometres():
    # 200 stations over 30° × 30° (~3,300 km), 4 replicates, true range 500 km
    rng = np.random.default_rng(11)
    lonlat = np.column_stack([rng.uniform(-15, 15, 200), rng.uniform(30, 60, 200)])
    model = build("matern", smoothness=1.5, crs="lonlat")
    truth = {"variance": 2.0, "range": 500.0, "nugget": 0.1, "mean": 1.0}
    z = model.simulate(lonlat, truth, n_replicates=4, seed=4)
    result = ff.fit(model, ff.Observations(coords=lonlat, values=z), restarts=0)
    assert 350 < result.params["range"] < 700, result.params
    assert 1.0 < result.params["variance"] < 4.0, result.params


def test_crs_option_spec_and_refusals():
    for name in ("matern", "exponential", "gaussian", "separable", "gneiting", "matern-spde",
                 "advection-diffusion"):
        assert entry(name).options["crs"] == "planar", name
    m = build("exponential", crs="lonlat", engine="vecchia", neighbours=5)
    spec = m.to_spec()
    assert spec["crs"] == "lonlat"
    again = from_spec(spec)
    assert again.crs == "lonlat" and again.engine.neighbours == 5
    assert "crs" not in build("matern").to_spec()  # planar specs are as before
    assert "crs='lonlat'" in repr(m)
    with pytest.raises(ValueError, match="--crs must be one of planar, lonlat"):
        build("matern", crs="wgs84")
    with pytest.raises(ValueError, match="--anisotropic is not available with --crs lonlat"):
        build("matern", anisotropic=True, crs="lonlat")
    with pytest.raises(ValueError, match="--anisotropic is not available with --crs lonlat"):
        ff.GaussianField(ff.Anisotropic(ff.Matern()), crs="lonlat")
    with pytest.raises(ValueError, match="two coordinate columns"):
        build("matern", crs="lonlat").check_data(
            ff.Observations(coords=np.zeros((3, 3)) + np.arange(3)[:, None], values=np.ones(3)))


@pytest.mark.parametrize("name, options", [
    ("matern", {"engine": "spde"}), ("matern-spde", {}), ("advection-diffusion", {})])
def test_spde_refuses_lonlat_and_says_what_to_do(name, options):
    with pytest.raises(ValueError, match="needs planar coordinates") as err:
        build(name, crs="lonlat", **options)
    msg = str(err.value)
    assert "local planar CRS" in msg and "\n" not in msg
    if name != "advection-diffusion":
        assert "--engine exact or vecchia" in msg


@pytest.mark.parametrize("name", ["matern", "exponential", "gaussian", "separable", "gneiting"])
def test_every_covariance_model_takes_lonlat_through_its_spec(name):
    lon, lat, _ = _dateline_data(n=12)
    model = build(name, crs="lonlat")
    if model.space_time:
        pts = np.column_stack([np.tile(_wrap(lon), 2), np.tile(lat, 2), np.repeat([0.0, 1.0], 12)])
        obs = lambda z: ff.Observations(coords=pts[:, :2], times=pts[:, 2], values=z)  # noqa: E731
    else:
        pts = np.column_stack([_wrap(lon), lat])
        obs = lambda z: ff.Observations(coords=pts, values=z)  # noqa: E731
    probe = obs(np.zeros(len(pts)))
    truth = {p.name: float(p.value) for p in model.param_space(probe)}
    truth.update(range=500.0, mean=0.0)
    z = model.simulate(pts, truth, seed=2)[0]
    data = obs(z)
    again = from_spec(model.to_spec())
    assert float(again.log_likelihood(data, truth)) == pytest.approx(
        float(model.log_likelihood(data, truth)), rel=1e-13)
    assert model.initial_values(data)["range"] > 100  # km, not degrees
