"""Model choice without peeking (fieldfit.bench.heaton_validation): the validation sets are
observed cells only, shaped as the test mask, and the choice reads no test cell."""

import numpy as np
import pandas as pd
import pytest

from fieldfit import datasets
from fieldfit.bench.heaton_validation import choose_model, grid_of, validation_masks
from fieldfit.models import build


def test_the_validation_sets_never_touch_a_test_cell_on_the_satellite_grid():
    df = datasets.load("heaton-modis")
    test = df["Temp"].isna().to_numpy()
    ix, iy, shape = grid_of(df["Lon"].to_numpy(), df["Lat"].to_numpy())
    assert shape == (300, 500)
    masks = validation_masks(ix, iy, shape, test, folds=3)
    assert len(masks) == 3
    for m in masks:
        assert not (m & test).any()                    # observed cells only
        assert m.sum() > 0.5 * test.sum()              # most of the mask's shape lands
    assert all(not np.array_equal(a, b) for a, b in zip(masks, masks[1:], strict=False))


def test_a_mask_is_the_test_shape_shifted():
    # a 20 × 30 grid, the test cells a 5 × 6 block in the corner
    y, x = np.mgrid[0:20, 0:30]
    lon, lat = x.ravel() * 0.1, y.ravel() * 0.1
    test = ((x < 6) & (y < 5)).ravel()
    ix, iy, shape = grid_of(lon, lat)
    (mask,) = validation_masks(ix, iy, shape, test, folds=1)
    assert mask.sum() == test.sum() and not (mask & test).any()
    rows, cols = iy[mask], ix[mask]
    # the block moved by whole multiples of a quarter of the grid along each axis
    dy, dx = rows.min(), cols.min()
    assert (rows.max() - dy, cols.max() - dx) == (4, 5)
    assert dy % 5 == 0 and dx % round(30 / 4) in (0, 1, 2) and (dx, dy) != (0, 0)
    with pytest.raises(ValueError, match="regular grid"):
        grid_of(np.zeros(3), np.zeros(3))


def test_the_choice_reads_no_test_cell(monkeypatch):
    """Every fit, every conditioning set and every scored cell of the choice is an observed
    cell (recorded through the fit and the kriging it calls), and the model with the better
    validation CRPS wins."""
    from fieldfit.bench import heaton_validation as hv

    y, x = np.mgrid[0:18, 0:18]
    lon, lat = x.ravel() / 17.0, y.ravel() / 17.0
    P = {"variance": 1.0, "range": 0.4, "smoothness": 1.0, "variance_short": 1.0,
         "range_short": 0.05, "smoothness_short": 1.0, "nugget": 0.01, "mean": 0.0}
    z = build("matern2").simulate(np.c_[lon, lat], P, seed=2)[0]
    test = np.hypot(lon - 0.3, lat - 0.3) < 0.15
    df = pd.DataFrame({"Lon": lon, "Lat": lat, "T": np.where(test, np.nan, z)})
    test_points = {(round(a, 9), round(b, 9)) for a, b in zip(lon[test], lat[test],
                                                               strict=True)}
    seen = []

    def touched(coords):
        return any((round(a, 9), round(b, 9)) in test_points for a, b in coords)

    def fit(model, obs, **kw):
        seen.append(("fit", touched(obs.coords)))
        return real_fit(model, obs, **kw)

    def krige(model, train, targets, result):
        seen.append(("condition", touched(train.coords)))
        seen.append(("score", touched(targets.coords)))
        return real_krige(model, train, targets, result)

    real_fit, real_krige = hv.fit, hv.krige
    monkeypatch.setattr(hv, "fit", fit)
    monkeypatch.setattr(hv, "krige", krige)
    cands = {"matern": (lambda: build("matern", smoothness=1.0), 200),
             "matern2": (lambda: build("matern2", smoothness=1.0, smoothness_short=1.0), None)}
    out = choose_model(df, "T", cands, coords=("Lon", "Lat"), folds=2, log=lambda *_: None)
    assert len(seen) == 2 * 2 * 3 and not any(t for _, t in seen)
    assert set(out["scores"]) == {"matern", "matern2"} and len(out["folds"]) == 2
    assert all(np.isfinite(v["crps"]) for v in out["scores"].values())
    assert out["winner"] == min(out["scores"], key=lambda n: out["scores"][n]["crps"])
    # a broken mask (the test cells included) would be caught by the recorder
    assert touched(np.c_[lon, lat][test][:1])
