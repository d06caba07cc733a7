"""Bundled datasets: every name loads with its documented shape and metadata."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fieldfit import datasets

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared/data not available")

NAMES = [
    "germany-solar",
    "germany-solar-cells",
    "heaton-modis",
    "heaton-modis-simulated",
    "heaton-modis-small",
    "irish-wind",
    "irish-wind-stations",
    "mediterranean-wind",
    "meuse",
    "meuse-grid",
    "noaa-tmax",
    "sic97",
    "south-tyrol-solar",
    "south-tyrol-solar-longterm",
    "south-tyrol-solar-stations",
]
ROWS = {
    "germany-solar": 3136 * 420,
    "germany-solar-cells": 3136,
    "south-tyrol-solar": 15 * 1095,
    "south-tyrol-solar-longterm": 35_430,
    "south-tyrol-solar-stations": 15,
    "heaton-modis": 150_000,
    "heaton-modis-simulated": 150_000,
    "heaton-modis-small": 10_000,
    "irish-wind": 12 * 6574,
    "irish-wind-stations": 12,
    "meuse": 155,
    "meuse-grid": 3103,
    "sic97": 467,
    "noaa-tmax": 4122,
    "mediterranean-wind": 1175 * 28,
}
META_KEYS = {"coords", "value", "time", "crs", "description", "source", "licence", "units"}


def test_list_datasets():
    assert datasets.list_datasets() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_load_shape_and_metadata(name):
    df = datasets.load(name)
    assert isinstance(df, pd.DataFrame)
    assert len(df) == ROWS[name]
    attrs = df.attrs
    assert META_KEYS <= set(attrs)
    assert attrs["name"] == name
    assert attrs["rows"] == len(df)
    assert list(df.columns) == attrs["columns"]
    for col in attrs["coords"]:
        assert col in df.columns
        assert df[col].dtype == np.float64
        assert not df[col].isna().any()
    assert attrs["value"] is None or attrs["value"] in df.columns
    assert attrs["time"] is None or attrs["time"] in df.columns
    assert set(attrs["units"]) <= set(df.columns)
    for key in ("crs", "description", "source", "licence"):
        assert isinstance(attrs[key], str) and attrs[key]
    # info() gives the same metadata without loading
    assert datasets.info(name) == attrs


def test_meuse():
    df = datasets.load("meuse")
    assert df.attrs["coords"] == ["x", "y"] and df.attrs["value"] == "zinc"
    assert "EPSG:28992" in df.attrs["crs"]
    assert (df["zinc"] > 0).all()
    assert df["om"].isna().sum() == 2 and df["landuse"].isna().sum() == 1
    assert not df.duplicated(["x", "y"]).any()


def test_meuse_grid_aliases():
    a = datasets.load("meuse-grid")
    b = datasets.load("meuse", table="grid")
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    assert a.attrs["value"] is None
    assert datasets.info("Meuse_Grid")["table"] == "grid"
    # the grid spacing is 40 m
    assert set(np.diff(np.unique(a["x"]))) == {40.0}


def test_sic97_split():
    df = datasets.load("sic97")
    counts = df["split"].value_counts()
    assert counts["train"] == 100 and counts["validation"] == 367
    assert df["ID"].is_unique
    assert not df["rainfall"].isna().any()
    assert df.attrs["units"]["rainfall"] == "0.1 mm"


def test_heaton_small():
    df = datasets.load("heaton-modis-small")
    assert df["MaskedData"].isna().sum() == 2900
    assert not df["FullData"].isna().any()
    seen = df["MaskedData"].notna()
    np.testing.assert_array_equal(df.loc[seen, "MaskedData"], df.loc[seen, "FullData"])
    grid = np.linspace(0.0, 1.0, 100)
    np.testing.assert_allclose(np.unique(df["Lon"]), grid)
    np.testing.assert_allclose(np.unique(df["Lat"]), grid)
    assert df.attrs["true_params"]["smoothness"] == 0.5


def test_heaton_modis():
    sat = datasets.load("heaton-modis")
    sim = datasets.load("heaton-modis-simulated")
    # one 500 x 300 grid, the same rows in both, no duplicated cells
    assert sat["Lon"].nunique() == 500 and sat["Lat"].nunique() == 300
    assert not sat.duplicated(["Lon", "Lat"]).any()
    np.testing.assert_array_equal(sat[["Lon", "Lat"]], sim[["Lon", "Lat"]])
    # 42,740 test cells + 1,691 cloud cells, the same mask in both
    assert sat["Temp"].isna().sum() == 42_740 + 1_691
    np.testing.assert_array_equal(sat["Temp"].isna(), sim["MaskTemp"].isna())
    assert not sim["TrueTemp"].isna().any()
    seen = sim["MaskTemp"].notna()
    np.testing.assert_array_equal(sim.loc[seen, "MaskTemp"], sim.loc[seen, "TrueTemp"])
    assert 30 < sat["Temp"].mean() < 60  # degrees Celsius
    assert sim.attrs["true_params"]["range"] == pytest.approx(4 / 3)
    assert sat.attrs["value"] == "Temp" and sim.attrs["value"] == "MaskTemp"


def test_irish_wind():
    df = datasets.load("irish-wind")
    assert df["station"].nunique() == 12
    assert df.groupby("station").size().eq(6574).all()
    assert df.attrs["time"] == "date"
    assert pd.api.types.is_datetime64_any_dtype(df["date"])
    assert df["date"].min() == pd.Timestamp("1961-01-01")
    assert df["date"].max() == pd.Timestamp("1978-12-31")
    assert not df[["station", "date", "wind"]].isna().any().any()
    assert not df.duplicated(["station", "date"]).any()
    assert (df["wind"] >= 0).all()
    st = datasets.load("irish-wind", table="stations")
    assert sorted(st["station"]) == sorted(df["station"].unique())
    # each station sits at one place
    assert (df.groupby("station")[["lon", "lat"]].nunique() == 1).all().all()


def test_unknown_name_and_table():
    with pytest.raises(ValueError, match="valid names: .*meuse"):
        datasets.load("no-such-data")
    with pytest.raises(ValueError, match="valid names"):
        datasets.info("no-such-data")
    with pytest.raises(ValueError, match="valid tables: grid, observations"):
        datasets.load("meuse", table="nope")
    with pytest.raises(ValueError, match="already names table"):
        datasets.load("meuse-grid", table="observations")


def test_attrs_are_copies():
    a = datasets.load("meuse")
    a.attrs["coords"].append("z")
    datasets.info("meuse")["units"]["zinc"] = "g"
    b = datasets.info("meuse")
    assert b["coords"] == ["x", "y"] and b["units"]["zinc"] == "mg/kg"


@needs_shared
def test_space_time_tables_match_the_shared_originals():
    """noaa-tmax is July 1993's Tmax of NOAA_df_1990 and mediterranean-wind the ECMWF u, v of
    Medwind_data, values unchanged (scripts/make_spacetime_data.py)."""
    orig = pd.read_parquet(SHARED / "noaa_daily" / "NOAA_df_1990_long.parquet")
    orig = orig[(orig["variable"] == "Tmax") & (orig["date"].astype(str) >= "1993-07-01")
                & (orig["date"].astype(str) < "1993-08-01")]
    mine = datasets.load("noaa-tmax")
    key = ["station", "date"]
    orig = orig.assign(station=orig["station_id"].astype("int64"),
                       date=pd.to_datetime(orig["date"])).sort_values(key)
    np.testing.assert_array_equal(mine.sort_values(key)["tmax"], orig["value"])
    wind = datasets.load("mediterranean-wind")
    w = pd.read_parquet(SHARED / "mediterranean_wind" / "ecmwf_uvp_long.parquet")
    w = w.assign(time=pd.to_datetime(w["time_utc"])).sort_values(["time", "lon", "lat"])
    np.testing.assert_array_equal(wind[["u", "v"]], w[["u", "v"]])
    assert wind["time"].nunique() == 28 and len(wind[["lon", "lat"]].drop_duplicates()) == 1175


@needs_shared
def test_matches_shared_originals():
    m = pd.read_csv(SHARED / "meuse" / "meuse.csv")
    np.testing.assert_array_equal(datasets.load("meuse")["zinc"], m["zinc"])
    s = datasets.load("sic97").sort_values("ID")
    full = pd.read_csv(SHARED / "sic97" / "sic_full.csv").sort_values("ID")
    np.testing.assert_array_equal(s["rainfall"], full["rainfall"])
    np.testing.assert_array_equal(s[["x", "y"]], full[["X", "Y"]])
    obs = pd.read_csv(SHARED / "sic97" / "sic_obs.csv")
    assert set(s.loc[s["split"] == "train", "ID"]) == set(obs["ID"])
    w = datasets.load("irish-wind")
    orig = pd.read_parquet(SHARED / "irish_wind" / "wind_long.parquet")
    orig = orig.assign(date=pd.to_datetime(orig["date"])).sort_values(["code", "date"])
    np.testing.assert_array_equal(w["wind"], orig["speed_knots"])
    np.testing.assert_array_equal(w["station"], orig["code"])
    np.testing.assert_array_equal(w["lat"], orig["lat"])
    for name, file in (("heaton-modis", "satellite"), ("heaton-modis-simulated", "simulated_full")):
        orig = pd.read_parquet(SHARED / "heaton_modis" / f"{file}.parquet")
        pd.testing.assert_frame_equal(datasets.load(name), orig, check_like=False,
                                      check_flags=False)
