"""A trained estimator with everything needed to use it: :class:`NeuralEstimator`.

A bundle holds the network, the :class:`~fieldfit.neural.simulation.SimulationSpec` it was
trained for (model, prior, design, replicates) and metadata (versions, training history, date).
It is saved as one ``torch.save`` file of plain data (configs, weights, JSON-able metadata) and
loaded with ``weights_only=True`` (no pickled code runs on load).

Shipped estimators live in ``fieldfit/_estimators/<name>.pt`` and load by name
(:func:`load_estimator`); ``matern-irregular`` is the first.
"""

from __future__ import annotations

import datetime as _dt
import json
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .base import AmortizedEstimator, estimator_from_config
from .simulation import SimulationSpec
from .training import save_state_atomic

FORMAT = 1
LENGTH_PARAMS = ("range",)


def versions() -> dict:
    import torch_geometric
    import zuko

    from .. import __version__

    return {"fieldfit": str(__version__), "torch": str(torch.__version__),
            "torch_geometric": str(torch_geometric.__version__), "zuko": str(zuko.__version__),
            "numpy": str(np.__version__)}


def shipped_dir() -> Path:
    return Path(str(resources.files("fieldfit") / "_estimators"))


def available() -> list[str]:
    """Names of the estimators shipped with fieldfit."""
    d = shipped_dir()
    return sorted(p.stem for p in d.glob("*.pt")) if d.is_dir() else []


def _check_columns(df: pd.DataFrame) -> None:
    missing = [c for c in ("x", "y", "z") if c not in df.columns]
    if missing:
        raise ValueError(f"the data need columns x, y, z (and optionally dataset, replicate); "
                         f"missing {missing}")
    if len(df) == 0:
        raise ValueError("the data table is empty")
    for c in ("x", "y", "z"):
        col = pd.to_numeric(df[c], errors="coerce")
        bad = ~np.isfinite(col.to_numpy(dtype=np.float64))
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(f"column {c!r} has missing or non-numeric values (rows {rows})")


def datasets_from_table(df: pd.DataFrame) -> tuple[list, list[tuple[np.ndarray, np.ndarray]]]:
    """Split a table with columns x, y, z [, dataset] [, replicate] into datasets
    ``(coords (n, 2), values (r, n))``; replicates must share their locations."""
    _check_columns(df)
    df = df.copy()
    has_ds = "dataset" in df.columns
    if not has_ds:
        df["dataset"] = 0
    elif df["dataset"].isna().any():
        rows = np.flatnonzero(df["dataset"].isna().to_numpy())[:5].tolist()
        raise ValueError(f"column 'dataset' has missing values (rows {rows})")
    names, out = [], []
    for name, part in df.groupby("dataset", sort=False):
        if "replicate" in part.columns:
            reps = [g.sort_values(["x", "y"]) for _, g in part.groupby("replicate", sort=False)]
            coords = reps[0][["x", "y"]].to_numpy(np.float64)
            for g in reps[1:]:
                if len(g) != len(coords) or not np.allclose(g[["x", "y"]].to_numpy(), coords):
                    raise ValueError(f"dataset {name!r}: replicates are not observed at the "
                                     "same locations")
            values = np.stack([g["z"].to_numpy(np.float64) for g in reps])
        else:
            coords = part[["x", "y"]].to_numpy(np.float64)
            values = part["z"].to_numpy(np.float64)[None]
        if coords.shape[0] < 3:
            raise ValueError(f"dataset {name!r} has {coords.shape[0]} locations; at least 3 "
                             "are needed")
        names.append(name)
        out.append((coords, values))
    return names, out


class NeuralEstimator:
    """A trained amortized estimator and the simulation set-up it was trained for.

    >>> est = load_estimator("matern-irregular")
    >>> table = est.estimate(df)            # df: columns x, y, z [, dataset]
    """

    def __init__(self, network: AmortizedEstimator, spec: SimulationSpec,
                 metadata: Mapping | None = None):
        self.network, self.spec = network, spec
        self.metadata = dict(metadata or {})
        self.network.eval()

    @property
    def names(self) -> list[str]:
        return self.spec.prior.names

    def __repr__(self):
        return (f"NeuralEstimator({self.network.kind}, {self.spec.model.to_dict()}, "
                f"params={self.names})")

    # --- estimation ---------------------------------------------------------------------
    def estimate_unit(self, items: Sequence[tuple[np.ndarray, np.ndarray]],
                      batch_size: int = 64) -> dict[str, np.ndarray]:
        parts: dict[str, list] = {}
        for s in range(0, len(items), batch_size):
            out = self.network.estimate_unit(self.network.collate(items[s:s + batch_size]))
            for k, v in out.items():
                parts.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in parts.items()}

    def _rescaled(self, items):
        """Coordinates outside the unit square (the designs' domain) are mapped into it by a
        shift and one scale factor per dataset; length parameters are scaled back."""
        if self.spec.design.gridded:
            return items, np.ones(len(items))
        new, scales = [], []
        for coords, values in items:
            lo, span = coords.min(0), float(np.ptp(coords, 0).max())
            if coords.min() >= 0 and coords.max() <= 1:
                new.append((coords, values))
                scales.append(1.0)
                continue
            if not span > 0:
                raise ValueError("all locations of a dataset coincide")
            new.append(((coords - lo) / span, values))
            scales.append(span)
        if any(s != 1.0 for s in scales):
            warnings.warn("coordinates outside the unit square were rescaled into it (the "
                          "estimator was trained there); range estimates are scaled back",
                          stacklevel=3)
        return new, np.asarray(scales)

    def _check_design(self, items) -> None:
        """Warn when datasets lie outside what the estimator was trained on."""
        if self.spec.design.gridded:
            return
        # rows of values: replicates (× time steps for a space-time model)
        (n_min, n_max), (r_min, r_max) = self.spec.design.n_range, self.spec.rows_range
        ns, rs = [len(c) for c, _ in items], [len(v) for _, v in items]
        if min(ns) < n_min or max(ns) > n_max:
            warnings.warn(f"datasets with {min(ns)}..{max(ns)} locations; the estimator was "
                          f"trained on {n_min}..{n_max} (its answers outside are extrapolations)",
                          stacklevel=3)
        if min(rs) < r_min or max(rs) > r_max:
            warnings.warn(f"datasets with {min(rs)}..{max(rs)} replicates; the estimator was "
                          f"trained on {r_min}..{r_max}", stacklevel=3)

    def estimate(self, data, level: float = 0.9, batch_size: int = 64) -> pd.DataFrame:
        """One row per dataset: ``dataset``, each parameter, ``{name}_lower``/``_upper``.

        ``data``: a table with columns x, y, z [, dataset] [, replicate], or a list of
        ``(coords (n, 2), values (r, n))``. Intervals are central at ``level`` (quantile
        and posterior estimators at their trained levels; ratio estimators by profiles).
        """
        if isinstance(data, pd.DataFrame):
            names, items = datasets_from_table(data)
        else:
            items = [(np.asarray(c, np.float64), np.atleast_2d(np.asarray(v, np.float64)))
                     for c, v in data]
            names = list(range(len(items)))
        self._check_design(items)
        items, scales = self._rescaled(items)
        out = self.estimate_unit(items, batch_size)
        lo_key, hi_key = f"q{(1 - level) / 2:g}", f"q{(1 + level) / 2:g}"
        prior = self.spec.prior
        edge = (out["estimate"] < 0.005) | (out["estimate"] > 0.995)
        if edge.any():
            which = sorted({self.names[j] for j in np.flatnonzero(edge.any(0))})
            warnings.warn(f"estimates of {which} at the edge of the prior box in "
                          f"{int(edge.any(1).sum())} dataset(s): the data may lie outside what "
                          f"the estimator was trained on ({prior.to_dict()['bounds']})",
                          stacklevel=2)
        table = {"dataset": names}
        have = lo_key in out and hi_key in out
        if not have:
            warnings.warn(f"a {self.network.kind} estimator gives no {level:.0%} intervals; "
                          "the _lower/_upper columns are NaN", stacklevel=2)
        nan = np.full((len(names), len(self.names)), np.nan)
        natural = {key: prior.from_unit(out[key]) if key in out else nan
                   for key in ("estimate", lo_key, hi_key)}
        for j, n in enumerate(self.names):
            f = scales if n in LENGTH_PARAMS else 1.0
            table[n] = natural["estimate"][:, j] * f
            table[f"{n}_lower"] = natural[lo_key][:, j] * f if have else nan[:, j]
            table[f"{n}_upper"] = natural[hi_key][:, j] * f if have else nan[:, j]
        return pd.DataFrame(table)

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        meta = dict(self.metadata)
        meta.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        meta["versions"] = versions()
        meta = json.loads(json.dumps(meta, default=float))   # plain data only (weights_only)
        state = {"format": FORMAT, "config": self.network.config(), "spec": self.spec.to_dict(),
                 "metadata": meta,
                 "weights": {k: v.detach().cpu() for k, v in self.network.state_dict().items()}}
        save_state_atomic(state, Path(path))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> NeuralEstimator:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"no estimator file {str(path)!r}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{str(path)!r} is not a fieldfit estimator file: {err}") from err
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"{str(path)!r} is not a fieldfit estimator file (format {FORMAT})")
        net = estimator_from_config(state["config"])
        net.load_state_dict(state["weights"])
        return cls(net, SimulationSpec.from_dict(state["spec"]), state["metadata"])


def load_estimator(name_or_path: str | Path) -> NeuralEstimator:
    """A shipped estimator by name (see :func:`available`) or a saved file by path."""
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        return NeuralEstimator.load(p)
    shipped = shipped_dir() / f"{name_or_path}.pt"
    if shipped.is_file():
        return NeuralEstimator.load(shipped)
    raise ValueError(f"no estimator named {str(name_or_path)!r}: give a file or one of the "
                     f"shipped estimators {available()}")
