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

from ..io import numeric_column
from .base import AmortizedEstimator, estimator_from_config
from .simulation import SimulationSpec
from .standardise import ValueMap, describe, slope_names
from .training import save_state_atomic

FORMAT = 1
LENGTH_PARAMS = ("range",)


def versions() -> dict:
    """The versions of fieldfit and of the libraries a saved estimator depends on.

    Returns
    -------
    dict of str to str
        Versions of ``fieldfit``, ``torch``, ``torch_geometric``, ``zuko`` and ``numpy``.
    """
    import torch_geometric
    import zuko

    from .. import __version__

    return {"fieldfit": str(__version__), "torch": str(torch.__version__),
            "torch_geometric": str(torch_geometric.__version__), "zuko": str(zuko.__version__),
            "numpy": str(np.__version__)}


def shipped_dir() -> Path:
    """The folder of the estimators shipped with fieldfit, ``fieldfit/_estimators``.

    Returns
    -------
    pathlib.Path
        Its path (it may not exist in a source tree without shipped estimators).
    """
    return Path(str(resources.files("fieldfit") / "_estimators"))


def available() -> list[str]:
    """Names of the estimators shipped with fieldfit.

    Returns
    -------
    list of str
        Sorted names, loadable with :func:`load_estimator` (empty if none are shipped).
    """
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
        numeric_column(df, c, missing_ok=c == "z")        # a NaN value z is missing


def _drop_missing(name, coords: np.ndarray, values: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """Leave out the locations with a missing (NaN) value in any replicate; infinite values
    are an error. Returns coords, values and the number of NaN values."""
    if np.isinf(values).any():
        raise ValueError(f"dataset {name!r} has infinite values")
    missing = np.isnan(values)
    keep = ~missing.any(0)
    return coords[keep], values[:, keep], int(missing.sum())


def datasets_from_table(df: pd.DataFrame) -> tuple[list, list[tuple[np.ndarray, np.ndarray]]]:
    """Split a table into datasets ``(coords (n, 2), values (r, n))``.

    The table has columns ``x``, ``y``, ``z`` and optionally ``dataset`` and ``replicate``;
    replicates must share their locations (each replicate's rows are sorted by ``(x, y)``). A
    missing (NaN) value ``z`` is kept as NaN here (:meth:`NeuralEstimator.estimate` leaves its
    location out).

    Parameters
    ----------
    df : pandas.DataFrame
        The table.

    Returns
    -------
    names : list
        The dataset labels, in order of first appearance (``[0]`` without a ``dataset``
        column).
    datasets : list of (numpy.ndarray, numpy.ndarray)
        ``(coords (n, 2), values (r, n))`` per dataset, float64.

    Raises
    ------
    ValueError
        If a column is missing, the table is empty, a coordinate is missing or infinite, a value
        is infinite or non-numeric, a ``dataset`` label is missing, or the replicates of a
        dataset are not observed at the same locations.
    """
    _check_columns(df)
    df = df.copy()
    for c in ("x", "y", "z"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(np.float64)
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
        names.append(name)
        out.append((coords, values))
    return names, out


#: datasets with fewer than n_min / FAR or more than FAR · n_max locations (or replicates)
#: are refused without ``force`` (--force); between those and the trained range, a warning
FAR = 2.0
#: the fewest locations a dataset needs at all
MIN_LOCATIONS = 3


class NeuralEstimator:
    """A trained amortized estimator and the simulation set-up it was trained for.

    Parameters
    ----------
    network : AmortizedEstimator
        The trained network (put in evaluation mode).
    spec : SimulationSpec
        The model, prior, design and replicates it was trained on.
    metadata : mapping or None, optional
        JSON-able information: training history, date, versions, value standardisation, ….

    See Also
    --------
    load_estimator : Load a shipped or saved estimator.

    Examples
    --------
    >>> import pandas as pd
    >>> est = load_estimator("matern-irregular")
    >>> sample = est.spec.simulate(1, seed=1)[0]      # one dataset from the estimator's prior
    >>> df = pd.DataFrame({"x": sample.coords[:, 0], "y": sample.coords[:, 1],
    ...                    "z": sample.values[0]})
    >>> table = est.estimate(df)            # df: columns x, y, z [, dataset] [, replicate]
    >>> list(table.columns[:4])
    ['dataset', 'range', 'range_lower', 'range_upper']
    """

    def __init__(self, network: AmortizedEstimator, spec: SimulationSpec,
                 metadata: Mapping | None = None):
        self.network, self.spec = network, spec
        self.metadata = dict(metadata or {})
        self.network.eval()

    @property
    def names(self) -> list[str]:
        """The parameters estimated, in the prior's order."""
        return self.spec.prior.names

    def __repr__(self):
        return (f"{type(self).__name__}({self.network.kind}, {self.spec.model.to_dict()}, "
                f"params={self.names})")

    # --- estimation ---------------------------------------------------------------------
    def estimate_unit(self, items: Sequence[tuple[np.ndarray, np.ndarray]],
                      batch_size: int = 64) -> dict[str, np.ndarray]:
        """The network's outputs for datasets as they are, on the prior's unit scale.

        No standardisation, rescaling or checks: the datasets go to the network unchanged, in
        batches.

        Parameters
        ----------
        items : sequence of (coords, values)
            ``coords (n, 2)`` and ``values (r, n)`` per dataset.
        batch_size : int, default 64
            Datasets per network call.

        Returns
        -------
        dict of str to numpy.ndarray
            Each output of the network's ``estimate_unit`` (``"estimate"`` and, for quantile and
            posterior estimators, ``"q<level>"``), each ``(B, p)``.
        """
        parts: dict[str, list] = {}
        for s in range(0, len(items), batch_size):
            out = self.network.estimate_unit(self.network.collate(items[s:s + batch_size]))
            for k, v in out.items():
                parts.setdefault(k, []).append(v)
        return {k: np.concatenate(v) for k, v in parts.items()}

    def _rescaled(self, items):
        """Coordinates outside the unit square (the designs' domain) are mapped into it by a
        shift and one scale factor per dataset; length parameters are scaled back. An
        estimator with a linear mean in the coordinates (``beta_x``, ``beta_y``) is refused
        such data: the intercept's interval would not map back exactly."""
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
            slopes = slope_names(self.names)
            if slopes:
                raise ValueError(f"this estimator has a linear mean in the coordinates "
                                 f"({slopes}): give coordinates inside the unit square "
                                 "[0, 1]², where it was trained")
            warnings.warn("coordinates outside the unit square were rescaled into it (the "
                          "estimator was trained there); range estimates are scaled back",
                          stacklevel=4)
        return new, np.asarray(scales)

    def _check_design(self, names, items, force: bool = False) -> None:
        """Refuse datasets far outside what the estimator was trained on (fewer than
        n_min / :data:`FAR` or more than :data:`FAR` · n_max locations or replicates) unless
        ``force``; warn for those outside the trained range but within that margin."""
        for name, (coords, _) in zip(names, items, strict=True):
            if len(coords) < MIN_LOCATIONS:
                raise ValueError(f"dataset {name!r} has {len(coords)} location(s) with a "
                                 f"value (column 'z'; NaN values are missing); at least "
                                 f"{MIN_LOCATIONS} are needed")
        if self.spec.design.gridded:
            return
        # rows of values: replicates (× time steps for a space-time model)
        (n_min, n_max), (r_min, r_max) = self.spec.design.n_range, self.spec.rows_range
        ns, rs = [len(c) for c, _ in items], [len(v) for _, v in items]
        self._check_counts(names, (("locations", ns, n_min, n_max),
                                   ("replicates", rs, r_min, r_max)), force)

    @staticmethod
    def _check_counts(names, checks, force: bool) -> None:
        """For each ``(what, counts, lo, hi)``: refuse counts below lo / :data:`FAR` or above
        :data:`FAR` · hi unless ``force``; warn for those outside [lo, hi]."""
        for what, counts, lo, hi in checks:
            far = [(name, k) for name, k in zip(names, counts, strict=True)
                   if k < lo / FAR or k > FAR * hi]
            if far and not force:
                name, k = far[0]
                raise ValueError(
                    f"dataset {name!r} has {k} {what}, far outside the {lo}..{hi} the "
                    f"estimator was trained on (it answers for {lo / FAR:g}..{FAR * hi:g}; "
                    f"{len(far)} dataset(s) outside): its estimates would be extrapolations; "
                    "use --force to estimate anyway")
            if min(counts) < lo or max(counts) > hi:
                warnings.warn(f"datasets with {min(counts)}..{max(counts)} {what}; the "
                              f"estimator was trained on {lo}..{hi} (its answers outside are "
                              "extrapolations)", stacklevel=5)

    @property
    def value_map(self) -> ValueMap:
        """How the values of a dataset are standardised (:mod:`fieldfit.neural.standardise`)."""
        return ValueMap.for_prior(self.spec.prior, self.metadata.get("value_target"))

    def _prepared(self, data, force: bool, standardise: bool = True):
        """The datasets of ``data`` as the network sees them: names, items ``(coords,
        values)``, the missing counts ``(B,)``, the value maps' α and β ``(B,)`` (0 and 1
        without ``standardise``) and the coordinates' scale factors ``(B,)`` (see
        :meth:`estimate`). Warnings name the caller's line (``stacklevel`` 3)."""
        if isinstance(data, pd.DataFrame):
            names, items = datasets_from_table(data)
        else:
            items = []
            for j, (c, v) in enumerate(data):
                c = np.asarray(c, np.float64)
                v = np.atleast_2d(np.asarray(v, np.float64))
                if c.ndim != 2 or c.shape[1] != 2 or v.shape[-1] != len(c):
                    raise ValueError(f"dataset {j}: coordinates (n, 2) and values (r, n) "
                                     f"needed, got {c.shape} and {v.shape}")
                if not np.isfinite(c).all():
                    raise ValueError(f"dataset {j}: coordinates with missing or infinite "
                                     "values")
                items.append((c, v))
            names = list(range(len(items)))
        cleaned = [_drop_missing(name, c, v) for name, (c, v) in zip(names, items, strict=True)]
        items = [(c, v) for c, v, _ in cleaned]
        n_missing = np.array([k for *_, k in cleaned])
        if n_missing.any():
            warnings.warn(f"{int(n_missing.sum())} missing (NaN) value(s) left out of "
                          f"{int((n_missing > 0).sum())} dataset(s) (with replicates, their "
                          "locations in every replicate)", stacklevel=3)
        self._check_design(names, items, force)
        alpha, beta = np.zeros(len(items)), np.ones(len(items))
        if standardise:
            vmap = self.value_map
            if vmap.unknown:
                warnings.warn(describe(vmap), stacklevel=3)
            coef = np.array([vmap.coefficients(v, name)
                             for name, (_, v) in zip(names, items, strict=True)]).reshape(-1, 2)
            alpha, beta = coef[:, 0], coef[:, 1]
            items = [(c, a + b * v) for (c, v), a, b in zip(items, alpha, beta, strict=True)]
        items, scales = self._rescaled(items)
        return names, items, n_missing, alpha, beta, scales

    def estimate(self, data, level: float = 0.9, batch_size: int = 64,
                 force: bool = False) -> pd.DataFrame:
        r"""Estimates and central intervals of the parameters of each dataset.

        Each dataset's values are standardised by their median and MAD and the estimates mapped back
        exactly by the model's equivariance under :math:`z \to \alpha + \beta z` (mean :math:`\to
        \alpha + \beta \cdot` mean, variance and nugget :math:`\to \beta^2 \cdot`, range and
        smoothness unchanged; :mod:`fieldfit.neural.standardise`), so they are not bounded by the
        prior box; nor are ranges, scaled back from coordinates rescaled into the unit square. A
        missing (NaN) value leaves its location out of its dataset (of every replicate) with a
        warning giving the count. Datasets with far fewer or more locations than the estimator was
        trained on are refused unless ``force`` (:meth:`_check_design`).

        Parameters
        ----------
        data : pandas.DataFrame or sequence of (coords, values)
            A table with columns ``x``, ``y``, ``z`` [, ``dataset``] [, ``replicate``], or a list
            of ``(coords (n, 2), values (r, n))``.
        level : float, default 0.9
            Level of the central intervals (quantile and posterior estimators at their trained
            levels; ratio estimators by profiles).
        batch_size : int, default 64
            Datasets per network call.
        force : bool, default False
            Estimate datasets far outside the trained numbers of locations or replicates too.

        Returns
        -------
        pandas.DataFrame
            One row per dataset: ``dataset``, each parameter, ``{name}_lower`` / ``{name}_upper``
            (NaN when the estimator gives no intervals at ``level``), then ``n`` (locations used),
            ``n_missing`` (NaN values left out), ``value_shift`` and ``value_factor`` (the network
            saw ``value_shift + value_factor * z``); ``attrs["values"]`` describes the
            standardisation.

        Raises
        ------
        ValueError
            If the data are malformed (see :func:`datasets_from_table`), a dataset has fewer than
            3 locations or is far outside the trained design without ``force``, coordinates outside
            the unit square are given to an estimator with a linear mean in them, or an estimate is
            not finite.

        Warns
        -----
        UserWarning
            For missing values left out, datasets outside the trained range, rescaled coordinates,
            estimates at the edge of the prior box, or no intervals at ``level``.
        """
        names, items, n_missing, alpha, beta, scales = self._prepared(data, force)
        vmap = self.value_map
        out = self.estimate_unit(items, batch_size)
        lo_key, hi_key = f"q{(1 - level) / 2:g}", f"q{(1 + level) / 2:g}"
        prior = self.spec.prior
        self._warn_at_edge(out["estimate"], "after standardising the values")
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
            for col, key in ((n, "estimate"), (f"{n}_lower", lo_key), (f"{n}_upper", hi_key)):
                if col != n and not have:
                    table[col] = nan[:, j]
                    continue
                table[col] = vmap.back(n, natural[key][:, j], alpha, beta) * f
                if not np.isfinite(table[col]).all():
                    k = int(np.flatnonzero(~np.isfinite(table[col]))[0])
                    raise ValueError(f"dataset {names[k]!r}: the estimate {col} is not "
                                     "finite; the values of column 'z' are out of range")
        table["n"] = [len(c) for c, _ in items]
        table["n_missing"] = n_missing
        table["value_shift"], table["value_factor"] = alpha, beta
        frame = pd.DataFrame(table)
        frame.attrs["values"] = describe(vmap)
        return frame

    def posterior_draws(self, data, n_draws: int = 1000, seed: int | None = 0,
                        standardise: bool = True, batch_size: int = 64,
                        force: bool = False) -> pd.DataFrame:
        r"""Draws from the amortized posterior of each dataset (a neural posterior estimator).

        With ``standardise`` (as :meth:`estimate`) the network sees :math:`\alpha + \beta z` and
        each draw is mapped back by the model's equivariance; the draws then follow the posterior
        under the prior box placed on the standardised values. ``standardise=False`` gives the
        network the values as they are: the amortized posterior under the estimator's own prior, the
        one to compare with an exact posterior under that prior (data inside the training
        distribution).

        Parameters
        ----------
        data : pandas.DataFrame or sequence of (coords, values)
            As for :meth:`estimate`.
        n_draws : int, default 1000
            Draws per dataset (at least 1).
        seed : int or None, default 0
            Fixes the draws (``None``: torch's global state).
        standardise : bool, default True
            Standardise the values (see above).
        batch_size : int, default 64
            Datasets per network call.
        force : bool, default False
            As for :meth:`estimate`.

        Returns
        -------
        pandas.DataFrame
            One row per draw: ``dataset``, ``draw`` and each parameter on its natural scale.

        Raises
        ------
        ValueError
            If the estimator is not a posterior estimator (``kind == "posterior"``), ``n_draws`` is
            not an integer >= 1, or the data are refused as by :meth:`estimate`.
        """
        self._check_draws(n_draws)
        names, items, _, alpha, beta, scales = self._prepared(data, force, standardise)
        vmap, prior = self.value_map, self.spec.prior
        unit = self._draws_unit(items, int(n_draws), seed, batch_size)
        natural = prior.from_unit(unit.reshape(-1, unit.shape[-1])).reshape(unit.shape)
        table = {"dataset": np.repeat(np.asarray(names, dtype=object), n_draws),
                 "draw": np.tile(np.arange(int(n_draws)), len(names))}
        for j, n in enumerate(self.names):
            f = scales[:, None] if n in LENGTH_PARAMS else 1.0
            table[n] = (vmap.back(n, natural[:, :, j], alpha[:, None], beta[:, None])
                        * f).ravel()
        return pd.DataFrame(table)

    def _check_draws(self, n_draws) -> None:
        """Refuse draws from a network that gives none, or a count that is not an integer ≥ 1."""
        if self.network.kind != "posterior":
            raise ValueError(f"a {self.network.kind} estimator gives no posterior draws (its "
                             "outputs are point estimates or marginal quantiles); use a "
                             "posterior estimator (kind 'posterior')")
        if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 1:
            raise ValueError(f"n_draws must be an integer ≥ 1, got {n_draws!r}")

    def _draws_unit(self, items, n_draws: int, seed: int | None,
                    batch_size: int) -> np.ndarray:
        """Posterior draws ``(B, n_draws, p)`` on the unit scale, in batches (seed + the
        batch's first index per batch)."""
        parts = []
        for s in range(0, len(items), batch_size):
            inputs = self.network.collate(items[s:s + batch_size])
            parts.append(self.network.sample_unit(inputs, int(n_draws),
                                                  None if seed is None else seed + s))
        return np.concatenate(parts)

    def _warn_at_edge(self, unit_estimate: np.ndarray, where: str) -> None:
        """Warn for estimates within 0.005 of the prior box's edge on the unit scale
        (``where``: how the data were shown to the network); names the caller's caller."""
        edge = (unit_estimate < 0.005) | (unit_estimate > 0.995)
        if edge.any():
            which = sorted({self.names[j] for j in np.flatnonzero(edge.any(0))})
            warnings.warn(f"estimates of {which} at the edge of the prior box in "
                          f"{int(edge.any(1).sum())} dataset(s) ({where}): the data may lie "
                          f"outside what the estimator was trained on "
                          f"({self.spec.prior.to_dict()['bounds']})", stacklevel=3)

    # --- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Save the estimator as one ``torch.save`` file of plain data (written atomically).

        The file holds the network's config and weights, the simulation spec and the metadata (with
        the creation date if not set and the current :func:`versions`); it loads with
        ``weights_only=True``.

        Parameters
        ----------
        path : str or pathlib.Path
            The file to write (conventionally ``.pt``).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
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
        """Load an estimator saved by :meth:`save` (no pickled code runs: ``weights_only=True``).

        Parameters
        ----------
        path : str or pathlib.Path
            The estimator file.

        Returns
        -------
        NeuralEstimator
            The estimator, on the CPU.

        Raises
        ------
        ValueError
            If ``path`` is a directory or missing, not a fieldfit estimator file of this format, or
            its network or spec cannot be rebuilt.
        """
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{str(path)!r} is a directory, not an estimator file (.pt)")
        if not path.is_file():
            raise ValueError(f"no estimator file {str(path)!r}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001  (torch's message advises unsafe loading: not shown)
            raise ValueError(f"{str(path)!r} is not a fieldfit estimator file") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT or not all(
                k in state for k in ("config", "spec", "weights")):
            raise ValueError(f"{str(path)!r} is not a fieldfit estimator file (format {FORMAT})")
        try:
            net = estimator_from_config(state["config"])
            net.load_state_dict(state["weights"])
            spec = SimulationSpec.from_dict(state["spec"])
        except Exception as err:  # noqa: BLE001  (a damaged or foreign bundle)
            raise ValueError(f"{str(path)!r} is not a usable fieldfit estimator file "
                             f"({type(err).__name__}: {str(err).splitlines()[0][:200]})"
                             ) from None
        if cls is NeuralEstimator:
            return bundle(net, spec, state.get("metadata", {}))
        return cls(net, spec, state.get("metadata", {}))


def bundle(network: AmortizedEstimator, spec: SimulationSpec,
           metadata: Mapping | None = None) -> NeuralEstimator:
    """The estimator object for a network and its spec: a
    :class:`~fieldfit.neural.spacetime_estimator.SpaceTimeEstimator` for a space-time model,
    a :class:`NeuralEstimator` otherwise.

    Parameters
    ----------
    network : AmortizedEstimator
        The trained network.
    spec : SimulationSpec
        What it was trained on.
    metadata : mapping or None, optional
        As for :class:`NeuralEstimator`.

    Returns
    -------
    NeuralEstimator
    """
    if spec.space_time:
        from .spacetime_estimator import SpaceTimeEstimator

        return SpaceTimeEstimator(network, spec, metadata)
    return NeuralEstimator(network, spec, metadata)


def load_estimator(name_or_path: str | Path) -> NeuralEstimator:
    """A shipped estimator by name (see :func:`available`) or a saved file by path.

    A name ending in ``.pt``, or a path that exists, is loaded as a file; otherwise the name is
    looked up among the shipped estimators.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A shipped estimator's name (e.g. ``"matern-irregular"``) or an estimator file.

    Returns
    -------
    NeuralEstimator
        The estimator.

    Raises
    ------
    ValueError
        If there is no such file or shipped estimator, or the file is not a usable estimator.

    Examples
    --------
    Load the shipped Matérn estimator for irregular locations and apply it to one dataset
    simulated (with a fixed seed) from its own prior and design:

    >>> from fieldfit.neural import load_estimator
    >>> est = load_estimator("matern-irregular")
    >>> est.names
    ['range', 'variance', 'nugget', 'mean']
    >>> sample = est.spec.simulate(1, seed=1)[0]
    >>> sample.coords.shape, sample.values.shape
    ((177, 2), (1, 177))
    >>> table = est.estimate([(sample.coords, sample.values)])
    >>> int(table.loc[0, "n"])
    177
    >>> bool(table.loc[0, "range_lower"] <= table.loc[0, "range"] <= table.loc[0, "range_upper"])
    True
    >>> round(float(sample.theta[0]), 1), round(float(table.loc[0, "range"]), 1)
    (0.1, 0.1)
    """
    p = Path(name_or_path)
    if p.suffix == ".pt" or p.exists():
        return NeuralEstimator.load(p)
    shipped = shipped_dir() / f"{name_or_path}.pt"
    if shipped.is_file():
        return NeuralEstimator.load(shipped)
    raise ValueError(f"no estimator named {str(name_or_path)!r}: give a file or one of the "
                     f"shipped estimators {available()}")
