"""The demo (``fieldfit demo``): fit, cross-validation, kriging map and files, end to end."""

import json

import numpy as np
import pandas as pd
from rich.console import Console

from fieldfit.demo import run_demo


def test_demo_meuse_writes_result_predictions_and_map(tmp_path):
    console = Console(record=True, width=120)
    out = run_demo(tmp_path, dataset="meuse", folds=5, console=console)
    text = console.export_text()
    assert "Maximum likelihood estimates" in text and "CV, trend only" in text

    result = json.loads((tmp_path / "result.json").read_text())
    for key in ("model", "engine", "params", "stderr", "loglik", "n", "seconds"):
        assert key in result
    assert result["n"] == 155 and result["engine"] == "exact"
    # the river-distance trend is strongly negative for log zinc (a known property of meuse)
    assert result["params"]["beta_sqrt_dist"] < -1.5

    pred = pd.read_parquet(tmp_path / "predictions.parquet")
    assert list(pred.columns) == ["id", "x", "y", "mean", "sd"]
    assert len(pred) == 3103 and (pred["sd"] > 0).all() and np.isfinite(pred["mean"]).all()
    # log zinc lies between about 4.7 and 7.5 ppm in the data: the kriging mean stays near
    assert 4.0 < pred["mean"].min() and pred["mean"].max() < 8.0

    png = (tmp_path / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000

    scores = out["scores"]
    spatial, trend = scores["5-fold CV"], scores["CV, trend only"]
    # the spatial model must beat the trend alone out of sample
    assert spatial["rmse"] < trend["rmse"] and spatial["crps"] < trend["crps"]
