"""From ``fieldfit train-estimator``'s options to a spec, settings, a network and a run.

:class:`TrainOptions` holds every option with its default (the command line passes only what
it was given); :func:`train_from_options` checks them all (before any simulation) and runs
:func:`~fieldfit.neural.recipes.train_estimator`. The parsers of the options that are not
plain values (ranges ``LO:HI``, priors, training settings, network options) are here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..params import parse_assignments, parse_grid
from .bundle import NeuralEstimator
from .recipes import build_spec, parse_bound, train_estimator
from .simulation import SimulationSpec
from .training import TrainingSettings


def parse_range(text, option: str) -> int | tuple[int, int]:
    """``N`` or ``LO:HI`` (positive integers) as an int or a pair.

    Parameters
    ----------
    text : str or int
        The option's value.
    option : str
        The option's name, for the message.

    Returns
    -------
    int or tuple of int

    Raises
    ------
    ValueError
        If it does not parse.
    """
    try:
        parts = tuple(int(v) for v in str(text).split(":"))
    except ValueError:
        raise ValueError(f"{option} is N or LO:HI, got {text!r}") from None
    if len(parts) not in (1, 2):
        raise ValueError(f"{option} is N or LO:HI, got {text!r}")
    return parts[0] if len(parts) == 1 else parts


def spec_from_options(model: str = "matern", priors: Sequence[str] = (),
                      fix: Sequence[str] = (), nugget: bool = True, design: str = "mixed",
                      n_min: int | None = None, n_max: int | None = None,
                      grid: str = "16x16", replicates: str = "1",
                      time_steps: str | int | None = None,
                      model_options: Mapping | None = None,
                      missing: float | None = None) -> SimulationSpec:
    """:func:`~fieldfit.neural.recipes.build_spec` from ``fieldfit train-estimator``'s text options.

    ``--grid NXxNY`` is the convention of ``fieldfit simulate --grid``: columns × rows, ``"16x8"``
    is 16 cells along x and 8 along y (a :class:`GridDesign` of ``ny=8, nx=16``).

    Parameters
    ----------
    model : str, default "matern"
        A registered model name.
    priors : sequence of str, default ()
        ``--prior`` values, ``name=lo:hi[:log]`` (each may hold several, comma-separated).
    fix : sequence of str, default ()
        ``--fix`` values, ``name=value``.
    nugget : bool, default True
        The model's ``nugget`` option.
    design : str, default "mixed"
        The design sampler.
    n_min : int or None, optional
        Fewest locations (model default).
    n_max : int or None, optional
        Most locations (model default).
    grid : str, default "16x16"
        ``NXxNY``.
    replicates : str, default "1"
        ``R`` or ``LO:HI``.
    time_steps : str, int or None, optional
        Times of a space-time model, ``T`` or ``LO:HI``.
    model_options : mapping or None, optional
        Further options of the model.
    missing : float or None, optional
        Largest share of missing values of a space-time model.

    Returns
    -------
    SimulationSpec
        The set-up.

    Raises
    ------
    ValueError
        If an option does not parse or :func:`build_spec` refuses the set-up.
    """
    bounds = {}
    for item in priors or ():
        for part in (p.strip() for p in item.split(",")):
            if part:
                name, bound = parse_bound(part)
                bounds[name] = bound
    nx, ny = parse_grid(str(grid), "--grid")
    reps = parse_range(replicates, "--replicates")
    steps = None if time_steps is None else parse_range(time_steps, "--time-steps")
    return build_spec(model, bounds, parse_assignments(fix), design, n_min, n_max, (ny, nx),
                      reps, nugget, steps, model_options, missing)


def training_settings(epochs: int = 100, batch_size: int = 64, lr: float = 1e-3,
                      patience: int = 6, refresh: int | None = None, seed: int = 0,
                      max_minutes: float | None = None, device: str = "cpu"):
    """The :class:`TrainingSettings` of ``train-estimator``'s options.

    On an accelerator with a time budget the learning rate follows a cosine schedule (every batch
    is new data, so the plateau rule has no fixed validation set to watch for long).

    Parameters
    ----------
    epochs : int, default 100
        Most epochs.
    batch_size : int, default 64
        Datasets per batch.
    lr : float, default 1e-3
        Initial learning rate.
    patience : int, default 6
        Epochs without improvement before early stopping.
    refresh : int or None, optional
        Epochs between fresh training sets when simulating on the fly.
    seed : int, default 0
        Seed of the run.
    max_minutes : float or None, optional
        Time budget.
    device : str, default "cpu"
        Where training runs.

    Returns
    -------
    TrainingSettings
        The settings.
    """
    st = TrainingSettings(epochs=epochs, batch_size=batch_size, lr=lr, patience=patience,
                          refresh=refresh, seed=seed,
                          max_seconds=None if max_minutes is None else 60 * max_minutes)
    if device != "cpu" and max_minutes is not None:
        st.schedule = "cosine"
    return st


def network_options(width: int = 32, neighbours: int = 10, radius: float | None = None,
                    variogram: bool = False, pilot: bool = False,
                    psi: str | Sequence[int] | None = None) -> dict:
    """The graph network's options from ``train-estimator``'s.

    Parameters
    ----------
    width : int, default 32
        Channels of the graph convolutions.
    neighbours : int, default 10
        Neighbours per node (``k``).
    radius : float or None, optional
        Largest edge length.
    variogram : bool, default False
        Add the variogram summaries (:data:`~fieldfit.neural.graphs.VARIOGRAM_EDGES`).
    pilot : bool, default False
        Add the pilot likelihoods (default grid).
    psi : str, sequence of int or None, optional
        Hidden sizes of ψ, e.g. ``"128,128"``.

    Returns
    -------
    dict
        Keyword arguments of :func:`~fieldfit.neural.recipes.build_network`.

    Raises
    ------
    ValueError
        If ``psi`` is not comma-separated integers.
    """
    options = {"width": width, "k": neighbours, "radius": radius}
    if variogram:
        from .graphs import VARIOGRAM_EDGES

        options["variogram"] = VARIOGRAM_EDGES
    if pilot:
        options["pilot"] = True
    if psi is not None:
        try:
            options["psi"] = ([int(v) for v in psi.split(",")] if isinstance(psi, str)
                              else [int(v) for v in psi])
        except ValueError:
            raise ValueError(f"--psi takes comma-separated integers, got {psi!r}") from None
    return options


@dataclass
class TrainOptions:
    """Every option of ``fieldfit train-estimator``, with its default.

    The one place they live (the command line passes only what it was given). See
    :func:`train_from_options`.

    Parameters
    ----------
    estimator : str, default "quantile"
        Estimator kind.
    model : str, default "matern"
        Registered model name.
    priors : sequence of str, default ()
        ``--prior`` assignments.
    fix : sequence of str, default ()
        ``--fix`` assignments.
    nugget : bool, default True
        The model's nugget option.
    mean : str or None, optional
        The model's ``mean`` option.
    anisotropic : bool, default False
        The model's ``anisotropic`` option.
    design : str, default "mixed"
        Design sampler.
    n_min : int or None, optional
        Fewest locations (default 50; 30 for advection–diffusion).
    n_max : int or None, optional
        Most locations (default 1000; 300 for advection–diffusion).
    grid : str, default "16x16"
        ``NXxNY`` of a grid design.
    replicates : str, default "1"
        ``R`` or ``LO:HI``.
    time_steps : str, int or None, optional
        Times of a space-time model, ``T`` or ``LO:HI`` (default 10; 20:100 for
        advection–diffusion).
    missing : float or None, optional
        Largest share of missing values of a space-time model (default 0; 0.3 for
        advection–diffusion).
    train : int, default 20000
        Training samples.
    val : int, default 1000
        Validation samples.
    on_the_fly : bool, default False
        Simulate training data during training.
    refresh : int, default 1
        Epochs between fresh training sets on the fly.
    store : pathlib.Path or None, optional
        Folder of the simulations (default beside the output).
    scheduler : str or None, optional
        Dask scheduler.
    epochs : int
        Most epochs (default ``TrainingSettings.epochs``).
    patience : int
        Early-stopping patience (default ``TrainingSettings.patience``).
    batch_size : int
        Datasets per batch (default ``TrainingSettings.batch_size``).
    lr : float
        Learning rate (default ``TrainingSettings.lr``).
    max_minutes : float or None, optional
        Time budget.
    width : int, default 32
        Channels of the graph convolutions.
    neighbours : int, default 10
        Neighbours per node.
    radius : float or None, optional
        Largest edge length.
    variogram : bool, default False
        Variogram summaries.
    pilot : bool, default False
        Pilot-likelihood summaries.
    psi : str or None, optional
        Hidden sizes of ψ, ``"128,128"``.
    calibrate : int, default 0
        Calibration simulations of a quantile estimator.
    device : str, default "cpu"
        Where training runs.
    seed : int, default 0
        Seed of the run.
    progress : bool, default True
        Show progress bars.
    resume : bool, default False
        Continue from the checkpoint.
    start_from : str or None, optional
        A saved estimator (file or shipped name) to train further.

    Raises
    ------
    ValueError
        If a count is not a positive integer, or ``lr`` or ``max_minutes`` is not positive.
    """

    estimator: str = "quantile"
    model: str = "matern"
    priors: Sequence[str] = ()
    fix: Sequence[str] = ()
    nugget: bool = True
    mean: str | None = None
    anisotropic: bool = False
    design: str = "mixed"
    n_min: int | None = None
    n_max: int | None = None
    grid: str = "16x16"
    replicates: str = "1"
    time_steps: str | int | None = None
    missing: float | None = None
    train: int = 20000
    val: int = 1000
    on_the_fly: bool = False
    refresh: int = 1
    store: Path | None = None
    scheduler: str | None = None
    epochs: int = TrainingSettings.epochs
    patience: int = TrainingSettings.patience
    batch_size: int = TrainingSettings.batch_size
    lr: float = TrainingSettings.lr
    max_minutes: float | None = None
    width: int = 32
    neighbours: int = 10
    radius: float | None = None
    variogram: bool = False
    pilot: bool = False
    psi: str | None = None
    calibrate: int = 0
    device: str = "cpu"
    seed: int = 0
    progress: bool = True
    resume: bool = False
    start_from: str | None = None

    def __post_init__(self):
        for name in ("train", "val", "epochs", "batch_size", "width", "neighbours", "n_min",
                     "n_max", "refresh"):
            v = getattr(self, name)
            if v is None and name in ("n_min", "n_max"):
                continue
            if int(v) != v or v < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, "
                                 f"got {v}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be positive, got {self.lr}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"--max-minutes must be positive, got {self.max_minutes}")


def train_from_options(out: Path, options: TrainOptions | None = None,
                       **changes) -> NeuralEstimator:
    """What ``fieldfit train-estimator`` runs.

    The spec, the training settings and the network from ``options`` (checked before any
    simulation), then :func:`train_estimator`. The simulations go to ``store`` (default: OUT's
    stem + ``"-simulations"`` beside OUT) unless they are made on the fly or on an accelerator.

    Parameters
    ----------
    out : pathlib.Path
        The estimator file to write.
    options : TrainOptions or None, optional
        The options (default ``TrainOptions()``).
    **changes
        Options overriding those of ``options``.

    Returns
    -------
    NeuralEstimator
        The trained, saved estimator.

    Raises
    ------
    ValueError
        If an option is invalid.
    """
    o = options or TrainOptions()
    if changes:
        o = TrainOptions(**{**o.__dict__, **changes})
    out = Path(out)
    model_options = {k: v for k, v in (("mean", o.mean), ("anisotropic", o.anisotropic))
                     if v not in (None, False)}
    spec = spec_from_options(o.model, o.priors, o.fix, o.nugget, o.design, o.n_min, o.n_max,
                             o.grid, o.replicates, o.time_steps, model_options, o.missing)
    settings = training_settings(o.epochs, o.batch_size, o.lr, o.patience,
                                 o.refresh if o.on_the_fly else None, o.seed, o.max_minutes,
                                 o.device)
    network = network_options(o.width, o.neighbours, o.radius, o.variogram, o.pilot, o.psi)
    store = o.store
    if store is None and not o.on_the_fly and o.device == "cpu":
        store = out.parent / f"{out.stem}-simulations"
    return train_estimator(spec, out, o.estimator, o.train, o.val, o.seed, store, o.scheduler,
                           o.on_the_fly, settings, network, o.progress, device=o.device,
                           n_calibrate=o.calibrate, resume=o.resume,
                           start_from=o.start_from)


__all__ = ["TrainOptions", "network_options", "parse_range", "spec_from_options",
           "train_from_options", "training_settings"]
