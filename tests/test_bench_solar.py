"""Solar data and the forecast harness (fieldfit.bench.solar)."""

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from fieldfit import datasets
from fieldfit.bench import solar
from fieldfit.bench.solar import (
    SolarData,
    climatology_forecast,
    persistence_forecast,
    run_solar,
    split_data,
    standardise,
)

R = 6371.0088


# --------------------------------------------------------------------------- data
def test_germany_solar_loads_complete_with_projection():
    df = datasets.load("germany-solar")
    assert df.shape == (3136 * 420, 9)
    assert not df.isna().any().any()
    assert df.groupby("cell").size().eq(420).all()
    assert df["date"].min() == pd.Timestamp("1991-01-01")
    assert df["date"].max() == pd.Timestamp("2025-12-01")
    assert (df["date"].dt.month == df["month"]).all()
    assert 0 <= df["ghi"].min() and df["ghi"].max() < 400
    # the documented equirectangular projection about (10.5 E, 50.5 N)
    k = np.pi / 180 * R
    np.testing.assert_allclose(df["x_km"], k * np.cos(np.radians(50.5)) * (df["lon"] - 10.5),
                               atol=1e-9)
    np.testing.assert_allclose(df["y_km"], k * (df["lat"] - 50.5), atol=1e-9)
    cells = datasets.load("germany-solar-cells")
    assert len(cells) == 3136 and cells["cell"].is_unique
    lons = np.unique(np.round(cells["lon"], 6))
    np.testing.assert_allclose(lons, np.arange(5, 16.01, 0.2), atol=1e-9)


def test_south_tyrol_solar_loads_with_station_positions():
    df = datasets.load("south-tyrol-solar")
    assert df.shape == (15 * 1095, 9)
    assert df["station"].nunique() == 15
    assert df["insolation"].isna().sum() == 7
    assert df.loc[df["insolation"].isna(), "station"].eq("20500MS").all()
    assert not df[["lon", "lat", "x_km", "y_km", "elev", "date"]].isna().any().any()
    assert not df.duplicated(["station", "date"]).any()
    st = datasets.load("south-tyrol-solar-stations")
    k = np.pi / 180 * R
    np.testing.assert_allclose(st["x_km"], k * np.cos(np.radians(46.71)) * (st["lon"] - 11.37))
    # the local projection agrees with UTM 32N distances to within 1 %
    d_km = np.hypot(*(st[["x_km", "y_km"]].to_numpy()[:, None] - st[["x_km", "y_km"]].to_numpy()
                      ).transpose(2, 0, 1))
    utm = st[["x_utm32", "y_utm32"]].to_numpy() / 1000
    d_utm = np.hypot(*(utm[:, None] - utm).transpose(2, 0, 1))
    off = ~np.eye(15, dtype=bool)
    assert np.abs(d_km[off] / d_utm[off] - 1).max() < 0.01
    lt = datasets.load("south-tyrol-solar-longterm")
    assert lt["station"].nunique() == 7 and set(lt["station"]) <= set(st["station"])


@pytest.mark.parametrize("name", ["germany-solar", "south-tyrol-solar"])
def test_solar_provenance(name):
    meta = datasets.info(name)
    assert meta["time"] == "date" and meta["coords"] == ["lon", "lat"]
    assert "equirectangular" in meta["crs"]
    assert meta["licence"] and meta["source"] and meta["units"]["x_km"] == "km"
    text = resources.files("fieldfit").joinpath("_data", name, "PROVENANCE.md").read_text()
    for word in ("Source", "Licence", "Units", "equirectangular", "kept"):
        assert word in text


# --------------------------------------------------------------------------- tiny frame
def _tiny(monthly=False, T=40, S=6, seed=1):
    rng = np.random.default_rng(seed)
    dates = (pd.date_range("2000-01-01", periods=T, freq="MS") if monthly
             else pd.date_range("2019-01-01", periods=T, freq="D"))
    xy = rng.uniform(0, 50, size=(S, 2))
    sites = pd.DataFrame({"site": [f"s{i}" for i in range(S)], "x_km": xy[:, 0],
                          "y_km": xy[:, 1], "lon": xy[:, 0], "lat": xy[:, 1]})
    season = dates.month.to_numpy() if monthly else dates.day_of_year.to_numpy()
    ar = np.zeros((T, S))
    for t in range(1, T):
        ar[t] = 0.7 * ar[t - 1] + rng.normal(size=S) * 0.5
    values = 3.0 + np.sin(2 * np.pi * season / (12 if monthly else 365.25))[:, None] + ar
    return SolarData("tiny", values, pd.DatetimeIndex(dates), season, sites, monthly, "u")


def test_split_is_honest_and_refuses_bad_sizes():
    data = _tiny()
    sp = split_data(data, n_test=5, n_test_sites=2, seed=3)
    assert set(sp.test_times) == set(range(35, 40))
    assert not set(sp.train_times) & set(sp.test_times)
    assert not set(sp.train_sites) & set(sp.test_sites) and len(sp.test_sites) == 2
    assert sorted(np.r_[sp.train_sites, sp.test_sites]) == list(range(6))
    with pytest.raises(ValueError, match="held-out steps"):
        split_data(data, n_test=0)
    with pytest.raises(ValueError, match="held-out sites"):
        split_data(data, n_test=5, n_test_sites=4)


def test_persistence_and_climatology_by_hand():
    data = _tiny()
    sp = split_data(data, n_test=5, n_test_sites=1, seed=0)
    z = data.values.copy()
    z[:, sp.test_sites] = np.nan
    tr = sp.train_times
    o, h = 34, 2
    mu, sd = persistence_forecast(z, sp, data.xy, o, h)
    a = sp.train_sites
    # hand: z at the origin, sd = RMS of the h-step changes over training times and sites
    np.testing.assert_allclose(mu[a], data.values[o, a])
    diffs = [data.values[t + h, s] - data.values[t, s] for t in tr[:-h] for s in a]
    np.testing.assert_allclose(sd, np.sqrt(np.mean(np.square(diffs))))
    # the held-out site takes the nearest training site's value
    j = sp.test_sites[0]
    near = a[np.argmin(np.linalg.norm(data.xy[a] - data.xy[j], axis=1))]
    assert mu[j] == data.values[o, near]
    # a missing value at the origin: the last value before it
    z2 = z.copy()
    z2[o, a[0]] = np.nan
    assert persistence_forecast(z2, sp, data.xy, o, h)[0][a[0]] == data.values[o - 1, a[0]]
    cm, cs = climatology_forecast(z, sp, data.xy)
    for s in a:
        col = data.values[tr, s]
        assert cm[s] == pytest.approx(col.mean())
        assert cs[s] == pytest.approx(np.sqrt(np.mean((col - col.mean()) ** 2)))
    assert cm[j] == cm[near] and cs[j] == cs[near]


def test_monthly_standardisation_by_hand():
    data = _tiny(monthly=True, T=48)
    sp = split_data(data, n_test=6, n_test_sites=0)
    m, s = standardise(data, sp)
    for k in (0, 47):                     # a training month and a held-out month
        same = [t for t in sp.train_times if data.season[t] == data.season[k]]
        np.testing.assert_allclose(m[k], data.values[same].mean(0))
        np.testing.assert_allclose(s[k], data.values[same].std(0))


def test_standardisation_ignores_held_out_values():
    for monthly in (False, True):
        data = _tiny(monthly=monthly, T=48)
        sp = split_data(data, n_test=6, n_test_sites=0 if monthly else 2)
        m, s = standardise(data, sp)
        bad = data.values.copy()
        bad[sp.test_times] = 1e6
        bad[:, sp.test_sites] = -1e6
        m2, s2 = standardise(SolarData("t", bad, data.dates, data.season, data.sites,
                                       monthly, "u"), sp)
        np.testing.assert_array_equal(m, m2)
        np.testing.assert_array_equal(s, s2)


# --------------------------------------------------------------------------- the harness
def test_harness_end_to_end_never_sees_held_out_values(tmp_path):
    data = _tiny(T=50, S=8)
    kw = dict(horizons=(1, 2), n_test=5, n_test_sites=2, window=12,
              models=("persistence", "climatology", "separable"), seed=0)
    run = run_solar(data, tmp_path / "a", **kw)
    sp = run.split
    test_ids = set(data.sites["site"].to_numpy()[sp.test_sites])
    assert not test_ids & set(run.settings["fit_sites"])
    assert run.settings["fit_times"][1] < sp.test_times[0]
    assert (tmp_path / "a" / "scores.csv").is_file()
    assert (tmp_path / "a" / "scores.json").is_file()
    table = pd.read_csv(tmp_path / "a" / "scores.csv")
    assert set(table["model"]) == {"persistence", "climatology", "separable"}
    assert set(table["dataset"]) == {"tiny"} and run.settings["dataset"] == "tiny"
    assert set(table["horizon"]) == {1, 2} and set(table["sites"]) == {"train", "test"}
    assert np.isfinite(table[["crps", "rmse", "coverage", "mean_sd"]].to_numpy()).all()
    # the table's scores are those of the forecasts: climatology at h = 1 on training sites
    f = run.forecasts
    part = f[(f["model"] == "climatology") & (f["horizon"] == 1) & (f["group"] == "train")]
    err = part["observed"] - part["mean"]
    row = table[(table["model"] == "climatology") & (table["horizon"] == 1)
                & (table["sites"] == "train")].iloc[0]
    assert row["rmse"] == pytest.approx(float(np.sqrt(np.mean(err ** 2))))
    assert row["n"] == len(part)
    # origins 44..47: n_test - max(h) + 1 = 4; every site, model and horizon
    assert len(run.forecasts) == 3 * 2 * 4 * 8
    # corrupting the held-out sites (all times) and the held-out times leaves the forecasts
    # from the first origin (the end of training) unchanged
    bad = data.values.copy()
    bad[sp.test_times] += 50.0
    bad[:, sp.test_sites] -= 50.0
    run2 = run_solar(SolarData("tiny", bad, data.dates, data.season, data.sites, False, "u"),
                     None, **kw)
    first = str(data.dates[sp.test_times[0] - 1].date())
    f1 = run.forecasts[run.forecasts["origin"] == first]
    f2 = run2.forecasts[run2.forecasts["origin"] == first]
    assert len(f1) == 3 * 2 * 8
    np.testing.assert_allclose(f1["mean"].to_numpy(), f2["mean"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(f1["sd"].to_numpy(), f2["sd"].to_numpy(), rtol=1e-6)
    # the observed column is the (corrupted) truth: scoring uses the held-out values
    assert not np.allclose(f1["observed"].to_numpy(), f2["observed"].to_numpy())


def test_harness_refuses_bad_options():
    data = _tiny()
    with pytest.raises(ValueError, match="unknown solar dataset"):
        run_solar("sahara")
    with pytest.raises(ValueError, match="unknown model"):
        run_solar(data, models=("persistence", "lstm"))
    with pytest.raises(ValueError, match="largest horizon"):
        run_solar(data, horizons=(1, 9), n_test=5)
    with pytest.raises(ValueError, match="fitting window"):
        run_solar(data, n_test=5, window=1)


def test_harness_real_subset_all_models(tmp_path):
    run = run_solar("south-tyrol-solar", tmp_path, horizons=(1, 2), n_test=4, window=8,
                    max_origins=1, mesh_max_edge=(25.0, 60.0))
    assert set(run.scores["model"]) == set(solar.MODELS)
    assert (tmp_path / "velocity.png").stat().st_size > 1000
    assert {"gamma_x", "gamma_y", "c"} <= set(run.fits["advection-diffusion"].params)
    assert "gamma_x" not in run.fits["diffusion"].params
    # the advection-diffusion fit also starts at the nested diffusion optimum: never below it
    assert set(run.settings["starts"]["advection-diffusion"]) == {"data-driven",
                                                                  "diffusion optimum"}
    assert run.fits["advection-diffusion"].loglik >= run.fits["diffusion"].loglik - 1e-6
    assert len(run.settings["test_sites"]) == 3
    assert not set(run.settings["test_sites"]) & set(run.settings["fit_sites"])
