"""From options to a trained, saved estimator: what ``fieldfit train-estimator`` runs.

``build_spec`` turns model / prior / design options into a
:class:`~fieldfit.neural.simulation.SimulationSpec`; ``train_estimator`` simulates the training
and validation sets (with Dask into a resumable Zarr store, or in process, or afresh during
training), trains the network with early stopping and checkpoints, calibrates a ratio
estimator, and saves the bundle with its metadata.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .base import build_estimator, estimator_kinds, estimator_options
from .bundle import NeuralEstimator, bundle
from .designs import ClusteredDesign, GridDesign, MixedDesign, UniformDesign
from .prior import Bound, Prior
from .simulation import ModelSpec, SimulationSpec, example_observations, validation_indices
from .standardise import value_target
from .summaries import CNNSummary, GNNSummary
from .training import TrainingSettings, as_batch, check_fingerprint, read_checkpoint, train

#: the prior of the shipped ``matern-irregular`` estimators
DEFAULT_BOUNDS = {"range": Bound(0.02, 0.5, "loguniform"),
                  "variance": Bound(0.1, 5.0, "loguniform"),
                  "nugget": Bound(0.0, 1.0), "mean": Bound(-5.0, 5.0)}
DESIGNS = ("mixed", "uniform", "clustered", "grid")


def parse_bound(text: str) -> tuple[str, Bound]:
    """Parse one bounded prior of the ``--prior`` option.

    ``name=lo:hi`` (uniform), ``name=lo:hi:log`` (log-uniform), or ``name=uniform:lo:hi`` /
    ``name=loguniform:lo:hi``: the prior grammar of :mod:`fieldfit.prior_spec`, restricted to the
    bounded priors the neural estimators are trained on (a box, the unit scale).

    Parameters
    ----------
    text : str
        The assignment.

    Returns
    -------
    name : str
        The parameter's name.
    bound : fieldfit.priors.Bound
        Its prior.

    Raises
    ------
    ValueError
        If the text does not parse, or gives an unbounded prior.
    """
    from ..prior_spec import parse_prior

    name, prior = parse_prior(text)
    if not isinstance(prior, Bound):
        raise ValueError(f"--prior {text}: an amortized estimator is trained on a bounded "
                         "prior: give name=lo:hi[:log] (or uniform:lo:hi, loguniform:lo:hi), "
                         f"not a {type(prior).__name__} prior")
    return name, prior


def _design(design: str, n_min: int, n_max: int, grid: tuple[int, int]):
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")
    if design == "grid":
        return GridDesign(*grid)
    if design == "uniform":
        return UniformDesign(n_min, n_max)
    if design == "clustered":
        return ClusteredDesign(n_min, n_max)
    return MixedDesign((UniformDesign(n_min, n_max), ClusteredDesign(n_min, n_max)))


def build_spec(model: str = "matern", bounds: Mapping[str, Bound] | None = None,
               fixed: Mapping[str, float] | None = None, design: str = "mixed",
               n_min: int | None = None, n_max: int | None = None,
               grid: tuple[int, int] = (16, 16),
               replicates: int | tuple[int, int] = 1, nugget: bool = True,
               time_steps: int | tuple[int, int] | None = None,
               model_options: Mapping | None = None,
               missing: float | None = None) -> SimulationSpec:
    """A simulation set-up for any registered model (:func:`fieldfit.models.available`).

    By default that of ``matern-irregular`` (smoothness fixed at 1). The prior: ``bounds`` over
    :data:`DEFAULT_BOUNDS` for the model's free parameters that have a default (range, variance,
    nugget, mean); every other free parameter needs a bound in ``bounds`` or a value in
    ``fixed``. A Matérn smoothness with neither is fixed at 1.

    The advection–diffusion model with no prior, or priors only over its derived coordinates
    (range, memory, velocity, marginal variance, nugget share, mean), gets the set-up of
    :func:`~fieldfit.neural.spacetime_recipe.advection_diffusion_spec`: unit scales, exact
    spectral simulations, 30–300 stations × 20–100 times, up to 30 % missing.

    Parameters
    ----------
    model : str, default "matern"
        A registered model name.
    bounds : mapping of str to Bound or None, optional
        Priors of estimated parameters, over the defaults.
    fixed : mapping of str to float or None, optional
        Fixed parameter values (removed from the estimated ones).
    design : {"mixed", "uniform", "clustered", "grid"}, default "mixed"
        The design sampler (``"mixed"``: uniform and clustered with equal weights).
    n_min : int or None, optional
        Fewest locations of an irregular design (default 50; 30 for advection–diffusion).
    n_max : int or None, optional
        Most locations of an irregular design (default 1000; 300 for advection–diffusion).
    grid : tuple of int, default (16, 16)
        ``(ny, nx)`` of a grid design.
    replicates : int or tuple of int, default 1
        Replicates per dataset, or ``(lo, hi)``.
    nugget : bool, default True
        The model's ``nugget`` option, where it has one (unless ``model_options`` sets it).
    time_steps : int, tuple of int or None, optional
        The regular times of a space-time model, or ``(lo, hi)`` (default 10; 20–100 for
        advection–diffusion).
    model_options : mapping or None, optional
        Further options of the model.
    missing : float or None, optional
        Space-time models: the largest share of missing values (default 0; 0.3 for
        advection–diffusion).

    Returns
    -------
    SimulationSpec
        The set-up.

    Raises
    ------
    ValueError
        If the model or design is unknown, or a free parameter has neither a prior nor a fixed
        value (they are listed).
    """
    from ..models.registry import entry
    from .spacetime_recipe import AD_DESIGN, MODEL, advection_diffusion_spec, in_derived_coordinates

    e = entry(model)
    if e.name == MODEL and in_derived_coordinates(set(bounds or {}) | set(fixed or {})):
        n_min = AD_DESIGN["n_min"] if n_min is None else n_min
        n_max = AD_DESIGN["n_max"] if n_max is None else n_max
        if not nugget:
            fixed = {**dict(fixed or {}), "nugget_share": 0.0}
        return advection_diffusion_spec(bounds, fixed, _design(design, n_min, n_max, grid),
                                        time_steps, missing, model_options)
    n_min = 50 if n_min is None else n_min
    n_max = 1000 if n_max is None else n_max
    options = dict(model_options or {})
    if "nugget" in e.options:
        options.setdefault("nugget", nugget)
    fixed = dict(fixed or {})
    spec = ModelSpec(e.name, options)
    if spec.space_time and time_steps is None:
        time_steps = 10
    design_ = _design(design, n_min, n_max, grid)
    example = example_observations(spec.space_time)

    def free_names():     # the estimated parameters and, when profiled, the mean's
        m = spec.build(fixed)
        mean = set(m.mean_names(example)) if m.profile_mean else set()
        return set(m.param_space(example).free_names) | mean

    free = free_names()
    b = {k: v for k, v in DEFAULT_BOUNDS.items() if k in free}
    b.update(bounds or {})
    if ("smoothness" in free and "smoothness" not in fixed and "smoothness" not in b
            and e.name == "matern"):
        fixed["smoothness"] = 1.0
        free = free_names()
    for name in fixed:
        b.pop(name, None)
    missing = sorted(free - set(b) - set(fixed))
    if missing:
        raise ValueError(f"model {e.name!r}: give a prior (name=lo:hi[:log]) or a fixed value "
                         f"for {missing}")
    return SimulationSpec(spec, Prior(b, fixed), design_, replicates, time_steps,
                          missing=missing or 0.0)


def build_network(kind: str, spec: SimulationSpec, width: int = 32, layers: int = 3,
                  k: int = 10, out: int = 64, loss: str = "absolute",
                  radius: float | None = None, variogram: Sequence[float] | None = None,
                  pilot: bool | Mapping | None = None, psi: Sequence[int] | None = None):
    """A new estimator network of ``kind`` for ``spec``.

    The summary network is a :class:`~fieldfit.neural.summaries.CNNSummary` for gridded designs,
    a :class:`~fieldfit.neural.spacetime_summary.SpaceTimeGNNSummary` for space-time models at
    irregular stations and a :class:`~fieldfit.neural.summaries.GNNSummary` otherwise.

    Parameters
    ----------
    kind : str
        A registered estimator kind.
    spec : SimulationSpec
        The set-up (its design and number of parameters).
    width : int, default 32
        Channels of the graph convolutions.
    layers : int, default 3
        Graph convolutions.
    k : int, default 10
        Neighbours per node.
    out : int, default 64
        Size of the summary.
    loss : str, default "absolute"
        Loss of a point estimator (ignored by kinds without a ``loss`` option).
    radius : float or None, optional
        Largest edge length.
    variogram : sequence of float or None, optional
        Lag-bin edges of the variogram summaries.
    pilot : bool, mapping or None, optional
        Pilot-likelihood settings.
    psi : sequence of int or None, optional
        Hidden sizes of ψ.

    Returns
    -------
    AmortizedEstimator
        A freshly initialised network (weights from torch's current generator).

    Raises
    ------
    ValueError
        If the kind is unknown, or variogram or pilot summaries are asked for a gridded design.
    """
    if kind not in estimator_kinds():
        raise ValueError(f"estimator must be one of {estimator_kinds()}, got {kind!r}")
    if (variogram is not None or pilot) and spec.design.gridded:
        raise ValueError("variogram and pilot-likelihood summaries are inputs of the graph "
                         "network (irregular locations); gridded designs use the "
                         "convolutional network")
    if spec.space_time and not spec.design.gridded:
        if variogram is not None or pilot or radius is not None:
            raise ValueError("variogram, pilot-likelihood and radius options are for the "
                             "spatial graph network; the space-time network has its own "
                             "directional summaries")
        from .spacetime_summary import SpaceTimeGNNSummary

        summary = SpaceTimeGNNSummary(width=width, layers=layers, out=out, k=k, psi=psi)
    else:
        summary = (CNNSummary(out=out) if spec.design.gridded
                   else GNNSummary(width=width, layers=layers, out=out, k=k, radius=radius,
                                   variogram=variogram, pilot=pilot, psi=psi))
    options = {"loss": loss} if "loss" in estimator_options(kind) else {}
    if kind == "posterior" and spec.space_time:
        options["passes"] = 2        # coupling transforms: draws in two passes, not p
    return build_estimator(kind, summary, len(spec.prior), **options)


def simulated_sets(spec: SimulationSpec, n_train: int, n_val: int, seed: int,
                   store: Path | None, scheduler: str | None, progress: bool,
                   on_the_fly: bool = False) -> tuple[Sequence | int, Sequence]:
    """The training and validation samples of the run with ``seed``.

    Training samples are ``0 .. n_train - 1``; validation indices start at :math:`10^9`, never
    among the training ones. With ``store`` both are written by Dask into
    ``store/train.zarr`` and ``store/val.zarr`` (resumable; the validation set with seed + 1).

    Parameters
    ----------
    spec : SimulationSpec
        What to simulate.
    n_train : int
        Training samples.
    n_val : int
        Validation samples.
    seed : int
        The run's seed.
    store : pathlib.Path or None
        Folder of the Zarr stores; ``None``: simulate in process.
    scheduler : str or None
        Dask scheduler (:func:`fieldfit.neural.store.simulate_to_zarr`).
    progress : bool
        Show progress bars.
    on_the_fly : bool, default False
        Return just the number of training samples, for ``train`` to simulate.

    Returns
    -------
    train : sequence of Sample or int
        The training samples (a list, or a :class:`~fieldfit.neural.store.ZarrSamples`), or
        their number.
    val : sequence of Sample
        The validation samples.
    """
    val_idx = validation_indices(n_val)
    if on_the_fly:
        return n_train, spec.simulate(val_idx, seed=seed)
    if store is None:
        return spec.simulate(n_train, seed=seed), spec.simulate(val_idx, seed=seed)
    from .store import ZarrSamples, simulate_to_zarr

    store = Path(store)
    simulate_to_zarr(spec, store / "train.zarr", n_train, seed=seed, scheduler=scheduler,
                     progress=progress)
    simulate_to_zarr(spec, store / "val.zarr", n_val, seed=seed + 1, scheduler=scheduler,
                     progress=progress)
    return ZarrSamples(store / "train.zarr"), ZarrSamples(store / "val.zarr")


def train_estimator(spec: SimulationSpec, out: Path, kind: str = "quantile",
                    n_train: int = 20000, n_val: int = 1000, seed: int = 0,
                    store: Path | None = None, scheduler: str | None = None,
                    on_the_fly: bool = False, settings: TrainingSettings | None = None,
                    network_options: Mapping | None = None, progress: bool = True,
                    checkpoint: Path | None = None, device: str = "cpu",
                    n_calibrate: int = 0, resume: bool = False,
                    start_from: str | Path | None = None) -> NeuralEstimator:
    """Simulate, train, (calibrate) and save; returns the saved :class:`NeuralEstimator`.

    ``checkpoint`` holds the training's whole state after every epoch
    (:mod:`fieldfit.neural.training`); ``resume=True`` continues a run killed or interrupted from
    it, to the answer of a run never stopped, after checking (before any simulation) that it
    belongs to this run: the same spec, network, estimator kind, seed, numbers of simulations and
    training settings (:func:`run_fingerprint`). The simulations themselves resume from
    ``store``. (Not the ``--resume`` of ``scripts/train_shipped_estimators.py``, which trains a
    saved bundle further with a fresh optimiser.)

    ``start_from`` trains a saved estimator further (:func:`starting_weights`): its weights
    are the initial ones, the optimiser starts afresh, and its own trainings are kept in the
    new bundle's ``metadata["lineage"]``. With a larger ``n_train`` and the same store, the
    training store grows (the first samples are the ones it had).

    Parameters
    ----------
    spec : SimulationSpec
        What to simulate.
    out : pathlib.Path
        The estimator file to write.
    kind : str, default "quantile"
        Estimator kind.
    n_train : int, default 20000
        Training samples (on an accelerator: datasets per epoch).
    n_val : int, default 1000
        Validation samples.
    seed : int, default 0
        Seed of the simulations and initial weights.
    store : pathlib.Path or None, optional
        Folder of resumable Zarr stores of the simulations; ``None``: in process.
    scheduler : str or None, optional
        Dask scheduler.
    on_the_fly : bool, default False
        Simulate training data during training.
    settings : TrainingSettings or None, optional
        Optimisation settings (default ``TrainingSettings(seed=seed)``).
    network_options : mapping or None, optional
        Keyword arguments of :func:`build_network`.
    progress : bool, default True
        Show progress bars.
    checkpoint : pathlib.Path or None, optional
        Checkpoint file (default: ``out`` with the suffix ``.ckpt``).
    device : str, default "cpu"
        Other than ``"cpu"`` (e.g. ``"cuda"``): every training dataset is simulated afresh on
        that device (:func:`fieldfit.neural.batched.train_batched`), ``n_train`` datasets per
        epoch; ``store``, ``scheduler`` and ``on_the_fly`` do not apply.
    n_calibrate : int, default 0
        Quantile estimators: that many further simulations (seed + 2; in
        ``store/calibration.zarr`` when a store is used) calibrate the intervals
        (:func:`calibrate_quantiles`).
    resume : bool, default False
        Continue from ``checkpoint`` (CPU only).
    start_from : str, pathlib.Path or None, optional
        A saved estimator file or a shipped estimator's name to train further; it must have
        the same spec, estimator kind and network configuration.

    Returns
    -------
    NeuralEstimator
        The trained estimator, as saved at ``out``.

    Raises
    ------
    ValueError
        If ``n_calibrate`` is negative or given for a non-quantile kind, the network options are
        invalid, ``resume`` is asked on an accelerator or the checkpoint belongs to another
        run, or ``start_from`` is not an estimator of this spec, kind and network.
    """
    if n_calibrate < 0 or (n_calibrate and kind != "quantile"):     # before any training
        raise ValueError(f"interval calibration (--calibrate, n_calibrate) takes a number of "
                         f"simulations >= 0, for quantile estimators; got {n_calibrate} for "
                         f"{kind!r}")
    settings = settings or TrainingSettings(seed=seed)
    torch.manual_seed(seed)              # the initial weights: same seed, same estimator
    net = build_network(kind, spec, **dict(network_options or {}))
    lineage = starting_weights(net, spec, kind, start_from) if start_from is not None else None
    out = Path(out)
    checkpoint = Path(checkpoint or out.with_suffix(".ckpt"))
    fingerprint = run_fingerprint(spec, net, kind, n_train, n_val, seed, on_the_fly, settings,
                                  device)
    if lineage is not None:  # a resume must start from the same weights
        fingerprint["start_from"] = lineage[-1]["sha256"]
    if resume:                           # refused now, before any simulation
        if device != "cpu":
            raise ValueError("--resume continues a training on the CPU; on an accelerator "
                             "(--device) every epoch is simulated afresh and cannot be "
                             "replayed: train afresh")
        check_fingerprint(read_checkpoint(checkpoint), fingerprint, checkpoint)
    if device != "cpu":
        from .batched import train_batched

        hist = train_batched(net, spec, settings, device=device, epoch_size=n_train,
                             n_val=n_val, checkpoint=checkpoint, progress=progress)
        meta = {"estimator": kind, "n_train": n_train, "n_val": n_val, "seed": seed,
                "device": device, "on_the_fly": True,
                "datasets_seen": len(hist.train) * n_train, "training": hist.to_dict()}
        val_set = (spec.simulate(validation_indices(n_val), seed=seed) if kind == "ratio"
                   else None)
    else:
        t0 = time.perf_counter()
        train_set, val_set = simulated_sets(spec, n_train, n_val, seed, store, scheduler,
                                            progress, on_the_fly)
        sim_seconds = time.perf_counter() - t0
        hist = train(net, spec, train_set, val_set, settings, checkpoint=checkpoint,
                     progress=progress, resume=resume, fingerprint=fingerprint)
        meta = {"estimator": kind, "n_train": n_train, "n_val": n_val, "seed": seed,
                "on_the_fly": on_the_fly, "simulation_seconds": sim_seconds,
                "training": hist.to_dict(), **({"resumed": True} if resume else {})}
    if lineage is not None:
        meta["lineage"] = lineage
    if val_set is not None:          # the target of the values' standardisation
        meta["value_target"] = value_target([x.values for x in val_set])
    if kind == "ratio":
        meta["platt"] = net.calibrate(*as_batch(net, list(val_set), spec))
    if n_calibrate:
        if store is not None and device == "cpu":
            from .store import ZarrSamples, simulate_to_zarr

            simulate_to_zarr(spec, Path(store) / "calibration.zarr", n_calibrate,
                             seed=seed + 2, scheduler=scheduler, progress=progress)
            cal = ZarrSamples(Path(store) / "calibration.zarr")
        else:
            cal = spec.simulate(n_calibrate, seed=seed + 2)
        meta["calibration"] = {**calibrate_quantiles(net, cal, spec, progress=progress),
                               "seed": seed + 2}
    est = bundle(net, spec, meta)
    est.save(out)
    return est


def starting_weights(net, spec: SimulationSpec, kind: str, start_from: str | Path) -> list:
    """Load the weights of the saved estimator ``start_from`` into ``net``, in place.

    Parameters
    ----------
    net : AmortizedEstimator
        The freshly built network of this run.
    spec : SimulationSpec
        This run's spec.
    kind : str
        This run's estimator kind.
    start_from : str or pathlib.Path
        A saved estimator file or a shipped estimator's name.

    Returns
    -------
    list of dict
        The estimator's lineage: its own ``metadata["lineage"]`` (earlier trainings) and one
        entry for itself (``file``, ``sha256``, ``n_train``, ``seed``, best validation loss
        ``best_val``, ``epochs`` and ``seconds`` of its training).

    Raises
    ------
    ValueError
        If ``start_from`` is no estimator, or its spec, kind or network configuration differs
        from this run's (naming what differs).
    """
    import hashlib
    import json

    from .bundle import load_estimator, shipped_dir

    start = load_estimator(start_from)
    path = Path(start_from)
    if not path.exists():
        path = shipped_dir() / f"{start_from}.pt"
    diffs = []
    old_spec, new_spec = start.spec.to_dict(), spec.to_dict()
    keys = sorted(k for k in set(old_spec) | set(new_spec)
                  if json.dumps(old_spec.get(k), sort_keys=True, default=str)
                  != json.dumps(new_spec.get(k), sort_keys=True, default=str))
    if keys:
        diffs.append(f"the simulation set-up differs in {keys}")
    if start.metadata.get("estimator", start.network.kind) != kind:
        diffs.append(f"it is a {start.metadata.get('estimator')!r} estimator, not {kind!r}")
    old_net, new_net = start.network.config(), net.config()
    keys = sorted(k for k in set(old_net) | set(new_net)
                  if json.dumps(old_net.get(k), sort_keys=True, default=str)
                  != json.dumps(new_net.get(k), sort_keys=True, default=str))
    if keys:
        diffs.append("the network differs in "
                     + ", ".join(f"{k} ({old_net.get(k)!r} there, {new_net.get(k)!r} now)"
                                 for k in keys))
    if diffs:
        raise ValueError(f"--start-from {str(start_from)!r}: " + "; ".join(diffs)
                         + ": give the options it was trained with (its metadata and the "
                         "command that made it say which)")
    net.load_state_dict(start.network.state_dict())
    h = start.metadata.get("training", {})
    entry = {"file": str(start_from), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
             "n_train": start.metadata.get("n_train"), "seed": start.metadata.get("seed"),
             "best_val": min(h["val"]) if h.get("val") else None,
             "epochs": len(h.get("val", [])), "seconds": h.get("seconds")}
    return [*start.metadata.get("lineage", []), entry]


def run_fingerprint(spec: SimulationSpec, net, kind: str, n_train: int, n_val: int,
                    seed: int, on_the_fly: bool, settings: TrainingSettings,
                    device: str = "cpu") -> dict:
    """What a training checkpoint must share with a run that resumes from it.

    Everything that changes the sequence of weights (not the progress bars, the Dask scheduler,
    the store's folder or a time limit).

    Parameters
    ----------
    spec : SimulationSpec
        What is simulated.
    net : AmortizedEstimator
        The network (its configuration).
    kind : str
        Estimator kind.
    n_train : int
        Training samples.
    n_val : int
        Validation samples.
    seed : int
        The run's seed.
    on_the_fly : bool
        Whether training data are simulated during training.
    settings : TrainingSettings
        Optimisation settings (epochs, batch size, learning rate, patience, refresh, seed,
        schedule).
    device : str, default "cpu"
        Where training runs.

    Returns
    -------
    dict
        JSON-able fingerprint.
    """
    return {"spec": spec.to_dict(), "estimator": kind, "network": net.config(),
            "n_train": int(n_train), "n_val": int(n_val), "seed": int(seed),
            "on_the_fly": bool(on_the_fly), "device": device,
            "settings": {k: getattr(settings, k) for k in ("epochs", "batch_size", "lr",
                                                           "patience", "refresh", "seed",
                                                           "schedule")}}


def calibrate_quantiles(net, samples, spec: SimulationSpec, batch_size: int = 64,
                        progress: bool = True) -> dict:
    """Calibrate the intervals of a quantile estimator on held-out samples, in place.

    Uses :meth:`QuantileEstimator.calibrate` (normalised conformalized quantile regression on the
    logit scale).

    Parameters
    ----------
    net : QuantileEstimator
        The estimator (its ``widening`` is set).
    samples : sequence of Sample
        Held-out samples of ``spec``.
    spec : SimulationSpec
        Their specification (its prior maps the parameters to the unit scale).
    batch_size : int, default 64
        Datasets per network call.
    progress : bool, default True
        Show a progress bar.

    Returns
    -------
    dict
        What to record: ``method``, the number of samples ``n``, the ``widening`` and the
        ``raw_coverage`` of the outer interval per parameter.

    Raises
    ------
    ValueError
        If there are too few samples for the interval's level.
    """
    from tqdm.auto import tqdm

    qs, us = [], []
    with torch.no_grad():
        for s in tqdm(range(0, len(samples), batch_size), desc="calibration",
                      disable=not progress):
            chunk = [samples[i] for i in range(s, min(s + batch_size, len(samples)))]
            qs.append(net(net.collate([(x.coords, x.values) for x in chunk])).double().numpy())
            us.append(spec.prior.to_unit(np.stack([x.theta for x in chunk])))
    q, u = np.concatenate(qs), np.concatenate(us)
    raw = ((q[..., 0] <= u) & (u <= q[..., -1])).mean(0)
    widening = net.calibrate(q, u)
    names = list(spec.prior.names)
    return {"method": "normalised conformalized quantile regression on the logit scale",
            "n": len(u), "widening": dict(zip(names, widening, strict=True)),
            "raw_coverage": dict(zip(names, raw.tolist(), strict=True))}
