"""Model choice without peeking for the Heaton et al. (2019) data: validation on training cells.

The cells to predict in the competition are large cloud-shaped gaps. A model is judged here as
it will be there: the shape of the test mask is shifted onto the grid (no wrapping), and the
*observed* cells it covers become a validation set; a candidate is fitted on the other
observed cells and predicts the validation cells, scored by CRPS. The test cells are never
used: a validation set is a subset of the observed cells by construction (its cells are those
of the shifted mask that are observed), and neither the fit nor the scoring reads any value at
a test cell.

Shifts are tried on a grid of offsets (a quarter and a half of the grid along each axis and the
diagonals) and the ``folds`` that cover the most observed cells are kept. To stay within the
bench's time budget each candidate's parameters are estimated on a random subsample of its
training cells, of the candidate's own size (every training cell is then used to predict): the
size is part of what is chosen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from ..data import Observations
from ..diagnostics import score_all
from ..fit import fit
from ..predict import krige

__all__ = ["choose_model", "grid_of", "validation_masks"]

#: the offsets tried, as fractions of the grid's size along (x, y)
OFFSETS = tuple((fx, fy) for fx in (-0.5, -0.25, 0.0, 0.25, 0.5)
                for fy in (-0.5, -0.25, 0.0, 0.25, 0.5) if (fx, fy) != (0.0, 0.0))


def grid_of(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The cells' column and row on the regular grid their coordinates form.

    Parameters
    ----------
    lon, lat : numpy.ndarray
        ``(n,)`` coordinates of the cells.

    Returns
    -------
    ix, iy : numpy.ndarray
        ``(n,)`` integer column and row of each cell.
    shape : (int, int)
        ``(ny, nx)``.

    Raises
    ------
    ValueError
        If two cells share a grid position.
    """
    xs, ix = np.unique(np.round(np.asarray(lon, np.float64), 9), return_inverse=True)
    ys, iy = np.unique(np.round(np.asarray(lat, np.float64), 9), return_inverse=True)
    shape = (len(ys), len(xs))
    flat = iy * shape[1] + ix
    if len(np.unique(flat)) != len(flat):
        raise ValueError("two cells share a grid position: the data are not a regular grid")
    return ix.ravel(), iy.ravel(), shape


def validation_masks(ix: np.ndarray, iy: np.ndarray, shape: tuple[int, int],
                     test: np.ndarray, folds: int = 2) -> list[np.ndarray]:
    """Validation sets: the test mask shifted onto observed cells.

    Parameters
    ----------
    ix, iy : numpy.ndarray
        ``(n,)`` grid column and row of each cell (:func:`grid_of`).
    shape : (int, int)
        ``(ny, nx)``.
    test : numpy.ndarray
        ``(n,)`` bool: the cells to predict (never in a validation set).
    folds : int, default 2
        How many shifts to keep (those covering the most observed cells).

    Returns
    -------
    list of numpy.ndarray
        ``folds`` boolean ``(n,)`` masks, each a subset of the observed cells (``~test``).

    Raises
    ------
    ValueError
        If no shift covers an observed cell.
    """
    ny, nx = shape
    grid_test = np.zeros(shape, bool)
    grid_test[iy[test], ix[test]] = True
    where = np.full(shape, -1, np.int64)
    where[iy, ix] = np.arange(len(ix))
    candidates = []
    for fx, fy in OFFSETS:
        dx, dy = int(round(fx * nx)), int(round(fy * ny))
        shifted = np.zeros(shape, bool)
        src = grid_test[max(0, -dy):ny - max(0, dy), max(0, -dx):nx - max(0, dx)]
        shifted[max(0, dy):ny - max(0, -dy), max(0, dx):nx - max(0, -dx)] = src
        cells = where[shifted]
        cells = cells[cells >= 0]
        mask = np.zeros(len(ix), bool)
        mask[cells] = True
        mask &= ~test                      # observed cells only
        candidates.append((int(mask.sum()), (dx, dy), mask))
    candidates.sort(key=lambda c: -c[0])
    kept = [m for n, _, m in candidates[:folds] if n > 0]
    if not kept:
        raise ValueError("no shift of the test mask covers an observed cell")
    return kept


def choose_model(df: pd.DataFrame, value: str,
                 candidates: Mapping[str, tuple[Callable, int | None]],
                 coords=("Lon", "Lat"), folds: int = 2, seed: int = 0,
                 progress: bool = False, log=print) -> dict:
    """Choose among candidate models by CRPS on validation sets of observed cells.

    Parameters
    ----------
    df : pandas.DataFrame
        The grid's cells: ``coords`` and ``value`` (NaN at the cells to predict).
    value : str
        The value column.
    candidates : Mapping of str to (callable, int or None)
        ``{name: (model factory, cells)}``: the parameters are estimated on ``cells`` random
        training cells (all when None); all training cells condition the predictions.
    coords : (str, str)
        The coordinate columns.
    folds : int, default 2
        Validation sets (:func:`validation_masks`).
    seed : int, default 0
        Seed of the subsample.
    progress : bool, default False
        Progress bars of the fits.
    log : callable, default print
        Where a line per candidate and fold goes.

    Returns
    -------
    dict
        ``{"winner", "folds": [{"cells", ...}], "scores": {name: {"crps", "rmse",
        "coverage", "seconds"}}}`` (means over the folds, weighted by their cells).
    """
    lon, lat = df[coords[0]].to_numpy(), df[coords[1]].to_numpy()
    test = df[value].isna().to_numpy()
    ix, iy, shape = grid_of(lon, lat)
    masks = validation_masks(ix, iy, shape, test, folds)
    rng = np.random.default_rng(seed)
    scores: dict[str, dict] = {name: {"crps": 0.0, "rmse": 0.0, "coverage": 0.0,
                                      "seconds": 0.0} for name in candidates}
    total = sum(int(m.sum()) for m in masks)
    for k, valid in enumerate(masks):
        train_rows = np.flatnonzero(~test & ~valid)
        order = rng.permutation(train_rows)   # nested subsamples: the first ``cells`` of it
        frame = df.iloc[train_rows]
        train = Observations.from_dataframe(frame, coords=list(coords), value=value)
        targets = Observations.from_dataframe(df.loc[valid, list(coords)],
                                              coords=list(coords), value=None)
        truth = df.loc[valid, value].to_numpy()
        for name, (factory, cells) in candidates.items():
            t0 = time.perf_counter()
            fit_rows = np.sort(order[:cells]) if cells is not None else train_rows
            fit_obs = Observations.from_dataframe(df.iloc[fit_rows], coords=list(coords),
                                                  value=value)
            model = factory()
            result = fit(model, fit_obs, restarts=0, progress=progress, stderr=False)
            pred = krige(model, train, targets, result)
            s = score_all(truth, pred["mean"].to_numpy(), pred["sd"].to_numpy(), level=0.95)
            seconds = time.perf_counter() - t0
            w = valid.sum() / total
            for key in ("crps", "rmse", "coverage"):
                scores[name][key] += w * float(s[key])
            scores[name]["seconds"] += seconds
            log(f"  validation fold {k + 1}/{len(masks)} ({int(valid.sum()):,} cells): "
                f"{name} CRPS {s['crps']:.3f}, RMSE {s['rmse']:.3f} ({seconds:.0f} s)")
    winner = min(scores, key=lambda n: scores[n]["crps"])
    return {"winner": winner, "scores": scores,
            "estimation_cells": {n: c for n, (_, c) in candidates.items()},
            "folds": [{"cells": int(m.sum())} for m in masks],
            "protocol": "the test mask shifted onto observed cells (never a test cell); "
                        "parameters on a subsample of the other observed cells; CRPS"}
