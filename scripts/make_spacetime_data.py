"""Make the bundled space-time datasets ``noaa-tmax`` and ``mediterranean-wind`` from the
project's shared data folder (see src/fieldfit/_data/README.md and each PROVENANCE.md).

    .venv/bin/python scripts/make_spacetime_data.py [SHARED_DATA]

- noaa-tmax: daily maximum temperature (°F) at the 137 stations of STRbook's NOAA_df_1990,
  July 1993 (the month the advection–diffusion benchmark fits), one row per station and day
  observed (absent rows are missing values, as in the original).
- mediterranean-wind: ECMWF analysis winds u, v (m/s) on the 0.5° grid over the Mediterranean,
  1,175 cells × 28 six-hourly times, 29 Jan – 4 Feb 2005 (STRbook Medwind_data), with the
  times as UTC datetimes.
"""

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
shared = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data"
out = ROOT / "src" / "fieldfit" / "_data"

noaa = pd.read_parquet(shared / "noaa_daily" / "NOAA_df_1990_long.parquet")
noaa = noaa[noaa["variable"] == "Tmax"].copy()
noaa["date"] = pd.to_datetime(noaa["date"])
noaa = noaa[(noaa["date"] >= "1993-07-01") & (noaa["date"] < "1993-08-01")]
noaa = noaa.rename(columns={"station_id": "station", "value": "tmax"})
noaa["station"] = noaa["station"].astype("int64")
noaa = noaa[["station", "lon", "lat", "date", "tmax"]].sort_values(["date", "station"])
noaa.to_parquet(out / "noaa-tmax" / "tmax_july1993.parquet", index=False, compression="zstd")

wind = pd.read_parquet(shared / "mediterranean_wind" / "ecmwf_uvp_long.parquet")
wind["time"] = pd.to_datetime(wind["time_utc"])
wind = wind[["lon", "lat", "time", "u", "v"]].sort_values(["time", "lon", "lat"])
wind.to_parquet(out / "mediterranean-wind" / "ecmwf_uv.parquet", index=False,
                compression="zstd")
print(len(noaa), noaa["station"].nunique(), noaa["date"].nunique(), len(wind))
