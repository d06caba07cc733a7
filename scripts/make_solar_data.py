"""Convert the shared solar data (../shared/data) into fieldfit's bundled Parquet files.

    python scripts/make_solar_data.py [SHARED_DATA_DIR]

germany-solar: the CM SAF monthly GHI grid, every cell and month, as two files: cells.parquet
(cell, lon, lat, x_km, y_km) and ghi.parquet (cell int16, year int16, month int8, ghi int16,
sorted by cell, year, month). south-tyrol-solar: the 2017-2019 daily series joined to nothing
(station.parquet holds the stations with x_km, y_km), and the long-term series of 7 stations.
Projected coordinates: equirectangular about the region's centre (see the PROVENANCE.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

R = 6371.0088
OUT = Path(__file__).resolve().parents[1] / "src" / "fieldfit" / "_data"


def equirect(lon, lat, lon0, lat0):
    k = np.pi / 180.0 * R
    return k * np.cos(np.radians(lat0)) * (lon - lon0), k * (lat - lat0)


def main(src: Path) -> None:
    g = pd.read_parquet(src / "germany_solar" / "cmsaf_ghi_monthly_long.parquet")
    cells = g[["lon", "lat"]].drop_duplicates().sort_values(["lat", "lon"], ignore_index=True)
    cells.insert(0, "cell", np.arange(len(cells), dtype=np.int16))
    cells["x_km"], cells["y_km"] = equirect(cells["lon"], cells["lat"], 10.5, 50.5)
    g = g.merge(cells[["cell", "lon", "lat"]], on=["lon", "lat"], validate="many_to_one")
    assert not g.duplicated(["cell", "year", "month"]).any()
    assert len(g) == len(cells) * 420
    ghi = pd.DataFrame({"cell": g["cell"].astype(np.int16), "year": g["year"].astype(np.int16),
                        "month": g["month"].astype(np.int8),
                        "ghi": g["ghi_wm2"].astype(np.int16)})
    ghi = ghi.sort_values(["cell", "year", "month"], ignore_index=True)
    d = OUT / "germany-solar"
    d.mkdir(exist_ok=True)
    cells.to_parquet(d / "cells.parquet", compression="zstd", index=False)
    ghi.to_parquet(d / "ghi.parquet", compression="zstd", index=False)

    st = pd.read_csv(src / "south_tyrol_solar" / "stations.csv")
    lon0 = round(float((st["lon"].min() + st["lon"].max()) / 2), 2)
    lat0 = round(float((st["lat"].min() + st["lat"].max()) / 2), 2)
    print("south tyrol centre", lon0, lat0)
    st["x_km"], st["y_km"] = equirect(st["lon"], st["lat"], lon0, lat0)
    st = st.rename(columns={"st_id": "station"})
    ts = pd.read_parquet(src / "south_tyrol_solar" / "timeseries_2017_2019.parquet")
    ts = ts.rename(columns={"st_id": "station"})
    ts["date"] = pd.to_datetime(ts["date"]).dt.date
    ts = ts[["station", "date", "insolation", "tmean"]].sort_values(["station", "date"],
                                                                   ignore_index=True)
    assert not ts.duplicated(["station", "date"]).any() and set(ts["station"]) == set(st["station"])
    lt = pd.read_parquet(src / "south_tyrol_solar" / "rad_longterm.parquet")
    lt = lt.rename(columns={"st_id": "station"})
    lt["date"] = pd.to_datetime(lt["date"]).dt.date
    lt = lt[["station", "date", "insolation", "tmean"]].sort_values(["station", "date"],
                                                                   ignore_index=True)
    d = OUT / "south-tyrol-solar"
    d.mkdir(exist_ok=True)
    st.to_parquet(d / "stations.parquet", compression="zstd", index=False)
    ts.to_parquet(d / "daily.parquet", compression="zstd", index=False)
    lt.to_parquet(d / "longterm.parquet", compression="zstd", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else
         Path(__file__).resolve().parents[2] / "shared" / "data")
