"""``fieldfit fit``: maximum likelihood, and kriging predictions."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import typer
from typer.models import OptionInfo

from ..contract import require_mesh_model
from ..data import Observations
from ..fit import fit as fit_mle
from ..io import read_table, table_bytes, write_set
from ..models.mean import MEAN_KINDS
from ..params import parse_assignments
from ..spde.field_spec import check_columns, field_columns
from .app import app
from .common import (
    _numbers,
    _reported_errors,
    _split,
    build_from_cli,
    check_param_names,
    plain_warnings,
)
from .outputs import (
    INTERRUPTED,
    check_distinct,
    check_output,
    check_table_output,
    two_step_interrupt,
)

#: the kinds of kriging (fieldfit.predict.krige)
KRIGING_KINDS = ("universal", "ordinary", "simple")


@app.command()
def fit(
    data: Path = typer.Argument(..., help="Parquet or CSV file with coordinates and values."),
    coords: str = typer.Option(..., help="Coordinate columns, comma separated, e.g. x,y."),
    value: str = typer.Option(..., help="Value column (NaN rows are prediction targets)."),
    out: Path = typer.Option(..., help="Where to write the JSON result."),
    time: str = typer.Option(None, help="Time column (space-time models)."),
    model: str = typer.Option(
        "matern", help="matern, exponential, gaussian, matern-spde; separable, gneiting, "
        "advection-diffusion (fieldfit.models.available())."),
    engine: str = typer.Option(
        None, help="Likelihood engine: exact, vecchia or spde (default: exact; spde for the "
        "SPDE models)."),
    neighbours: int = typer.Option(
        None, help="Vecchia: conditioning-set size m (default 30)."),
    pred_neighbours: int = typer.Option(
        None, help="Vecchia: observations each prediction conditions on (default max(2m, 60))."),
    coarse_neighbours: int = typer.Option(
        None, help="Vecchia: optimise first with this smaller m (default 10), then with m."),
    grouped: bool = typer.Option(
        False, help="Vecchia: joint blocks for points that share neighbours (Guinness 2018)."),
    alpha: int = typer.Option(
        None, help="SPDE: the order α (Matérn: ν = α − 1 in 2-D, default 2; "
        "advection-diffusion: 1 or 2, default 1)."),
    rational_order: int = typer.Option(
        None, help="SPDE Matérn: estimate the smoothness ν by a rational approximation of "
        "order M (1–4; M + 1 GMRFs), with ν + d/2 in [α, α + 1) (--alpha, default the lowest: "
        "ν in (0, 1) in 2-D); with --fix smoothness=ν, that ν at order M. A non-integer "
        "--fix smoothness alone uses order 2."),
    alpha_s: int = typer.Option(
        1, help="advection-diffusion: spatial colouring α_s of the noise (0, 1, 2)."),
    time_step: float = typer.Option(
        None, help="advection-diffusion: time step (default: the smallest gap between times)."),
    advection: bool = typer.Option(
        True, help="advection-diffusion: estimate the advection γ (else γ = 0)."),
    mesh_max_edge: str = typer.Option(
        None, help="SPDE: the mesh's largest edge inside,outside the data's hull "
        "(default: diagonal/30, diagonal/10)."),
    mesh_offset: float = typer.Option(
        None, help="SPDE: how far the mesh extends beyond the hull (default 0.2·diagonal)."),
    mesh_cutoff: float = typer.Option(
        None, help="SPDE: data points closer than this share a mesh node."),
    field: list[str] = typer.Option(
        [], help="A nonstationary parameter, NAME=KIND:ARGS, repeatable. advection-diffusion: "
        "gamma=bspline:4x4 (γ per place; 4x4x3: and time), H=bspline:3x3, kappa=bspline:4x4, "
        "kappa=covariates:elev (log κ linear in DATA columns). Matérn with --engine spde: "
        "kappa=bspline:6x6, tau=rbf:25 (5 × 5 radial bases), anisotropy=bspline:4x4 (angle "
        "and ratio), kappa=covariates:elev. bspline:4x4:sd=0.5 sets the roughness prior, "
        "rbf:25:sd=0.5 the weights' prior (default sd 1)."),
    fix: list[str] = typer.Option([], help="Fix parameters, e.g. --fix smoothness=1.5."),
    mean: str = typer.Option("constant", help=f"Mean: {', '.join(MEAN_KINDS)}."),
    covariates: str = typer.Option(None, help="Covariate columns for the mean."),
    nugget: bool = typer.Option(True, help="Estimate a nugget (noise variance)."),
    anisotropic: bool = typer.Option(False, help="Geometric anisotropy (2-D)."),
    id: str = typer.Option(None, "--id", help="Identifier column (default: row number)."),
    predict_at: Path = typer.Option(None, help="File of locations to predict at."),
    predictions: Path = typer.Option(None, help="Where to write predictions (.parquet/.csv)."),
    kind: str = typer.Option("universal", help=f"Kriging: {', '.join(KRIGING_KINDS)}."),
    restarts: int = typer.Option(2, help="Optimiser restarts besides the data-driven start."),
    allow_duplicates: bool = typer.Option(
        False, help="Kept for older scripts: repeated measurements at a location are accepted "
        "whenever the model has a nugget."),
    crs: str = typer.Option(
        None, help="Coordinates: planar (x, y in any unit) or lonlat (degrees; chordal "
        "distances on the sphere, ranges in km). Default: planar, or lonlat with a warning "
        "when --coords are named lon/lat or longitude/latitude."),
    substeps: str = typer.Option(
        None, help="advection-diffusion: model time steps per observation step (the states "
        "between are latent; default 1), or 'auto': doubled from 1 until one more doubling "
        "moves no estimate by more than half a standard error (at most 8; the search is "
        "written to the result's 'discretisation')."),
    refine_mesh: bool = typer.Option(
        False, "--refine-mesh", help="advection-diffusion: refine the mesh (edges / √2, "
        "about twice the nodes, at most 4.5× the first mesh's) until one more refinement "
        "moves no estimate by more than half a standard error; with --substeps auto each "
        "step refines the mesh or the time step, whichever moves the estimates more (the "
        "search is written to the result's 'discretisation')."),
    theta: float = typer.Option(
        None, help="advection-diffusion: the time scheme, θ in [0.5, 1]: 0.5 Crank–Nicolson "
        "(default), 1 implicit Euler."),
    discretisation_check: bool = typer.Option(
        True, help="Mesh and time-step models: after the fit, estimate the shift of the "
        "estimates under a finer time step and mesh (one Newton step each), written to the "
        "result as 'discretisation'."),
    continuum: bool = typer.Option(
        True, help="advection-diffusion: report the estimates of the continuous SPDE "
        "(indirect inference against its exact spectral covariance on a window of the data's "
        "design, which removes the mesh's and the time step's bias); the fit's own "
        "estimates and intervals are kept in the result's 'discretisation.continuum.raw', "
        "and predictions use them. --no-continuum reports the fit's own."),
    resume: bool = typer.Option(
        False, help="Continue a fit that was killed or interrupted, from its checkpoint "
        "beside OUT (OUT's stem + '.checkpoint.jsonl', e.g. result.checkpoint.jsonl for "
        "--out result.json), to the same answer; without a checkpoint a new fit starts."),
    progress: bool = typer.Option(None, help="Show progress (default: on a terminal)."),
):
    """Fit a model by maximum likelihood; optionally predict (kriging mean and sd).

    Every option and output path is checked before the fit starts; the result and the
    predictions are written together at the end (a failure leaves old outputs untouched).
    While it runs, the fit journals its evaluations to OUT's stem + '.checkpoint.jsonl'
    beside OUT (result.checkpoint.jsonl for result.json), which --resume continues from.
    Ctrl-C stops the fit and writes its best point so far to OUT's stem +
    '.interrupted.json' (result.interrupted.json; exit status 130; OUT untouched); a second
    Ctrl-C exits at once."""
    a = SimpleNamespace(**locals())
    with plain_warnings():
        _fit_command(a)


def _fit_command(a) -> None:
    """``fieldfit fit`` with its options ``a`` (one attribute per option)."""
    resume, restarts, progress = a.resume, a.restarts, a.progress
    with _reported_errors():
        plan = _plan(a)
    if plan.checkpoint.exists() and not resume:
        typer.secho(f"warning: {plan.checkpoint} (an earlier, unfinished run of this fit) is "
                    "replaced: pass --resume to continue it instead", err=True, fg="yellow")
    if resume and not plan.checkpoint.exists():
        typer.secho(f"--resume: no checkpoint {plan.checkpoint} found; starting a new fit",
                    err=True, fg="yellow")
    with two_step_interrupt():
        try:
            with _reported_errors():
                if plan.auto_substeps or plan.refine_mesh:
                    result, search = _fit_auto_substeps(plan, restarts, progress, resume)
                else:
                    search = None
                    result = fit_mle(plan.model, plan.train, fix=plan.fixed,
                                     restarts=restarts, progress=progress,
                                     checkpoint=plan.checkpoint, resume=resume)
        except KeyboardInterrupt:
            typer.secho("interrupted before any likelihood was evaluated: nothing written",
                        err=True)
            raise typer.Exit(code=INTERRUPTED) from None
        if result.interrupted:
            _report_interrupted(result, plan)
        if plan.check_discretisation:
            result.discretisation = _discretisation(result, plan)
        if search is not None:
            result.discretisation = {**(result.discretisation or {}), "substeps_search": search}
        fitted = result
        if plan.continuum and not result.interrupted:
            result = _continuum(result, plan)
        _finish(result, plan, a.predictions, a.kind, fitted)


def _fit_auto_substeps(plan: _Plan, restarts: int, progress, resume: bool):
    """``--substeps auto`` and/or ``--refine-mesh``: the fits at 1, 2, 4, … substeps and/or
    finer meshes (plan.model becomes the one chosen); the search as the result's
    ``discretisation["substeps_search"]``."""
    from ..fit.substeps import fit_auto_substeps

    kinds = (("time",) if plan.auto_substeps else ()) + (("mesh",) if plan.refine_mesh
                                                         else ())
    what = {"time": "one more doubling", "mesh": "a √2 finer mesh"}

    def report(step):
        where = f"substeps {step['substeps']}, {step['mesh_nodes']} nodes"
        if step["worst"] is None:
            typer.secho(f"{where}: the shift has no standard error to be measured in: kept",
                        err=True, fg="yellow")
        else:
            moves = "; ".join(f"{what[k]} moves the estimates by up to {v:.2f} se"
                              for k, v in step["shifts_se"].items())
            typer.secho(f"{where}: {moves} (worst: {step['worst']})", err=True)

    plan.model, result, search = fit_auto_substeps(plan.model, plan.train, fix=plan.fixed,
                                                   restarts=restarts, progress=progress,
                                                   checkpoint=plan.checkpoint, resume=resume,
                                                   on_step=report, kinds=kinds)
    return result, search


def _discretisation(result, plan: _Plan) -> dict | None:
    """The model's discretisation check at the estimate (its Hessian reused): the shift of
    the estimates under a finer time step and mesh. A numerical failure of the refined
    models is recorded, not fatal (the fit itself is finished)."""
    from ..errors import NumericalFailure

    typer.secho("checking the discretisation (a finer time step and mesh) ...", err=True)
    try:
        with _reported_errors():
            return plan.model.discretisation_check(plan.train, result.params, fix=plan.fixed,
                                                   hessian=result.hessian)
    except NumericalFailure as e:
        return {"error": str(e)}


def _continuum(result, plan: _Plan):
    """The estimates carried to the continuous SPDE
    (:func:`fieldfit.models.continuum_result`), with a warning where the fit's own stand."""
    from ..models.ad_continuum import continuum_result

    typer.secho("carrying the estimates to the continuous SPDE ...", err=True)
    reported = continuum_result(plan.model, plan.train, result, fix=plan.fixed)
    error = reported.discretisation["continuum"].get("error")
    if error is not None:
        typer.secho(f"the continuum correction was not made ({error}): the fit's own "
                    "estimates are reported", err=True, fg="yellow")
    return reported


@dataclass
class _Plan:
    """What ``fieldfit fit`` will do, all checked before the fit starts."""

    model: object
    train: Observations
    targets: Observations | None
    fixed: dict
    out: Path
    checkpoint: Path
    interrupted: Path
    #: run the model's discretisation check after the fit (mesh and time-step models)
    check_discretisation: bool = False
    #: choose the substeps by the time shift (``--substeps auto``)
    auto_substeps: bool = False
    #: refine the mesh by the mesh shift (``--refine-mesh``)
    refine_mesh: bool = False
    #: report the continuum-corrected estimates (``--continuum``, mesh models)
    continuum: bool = False


def sibling(out: Path, what: str) -> Path:
    """The file beside ``out`` named after its stem.

    Parameters
    ----------
    out : pathlib.Path
        The result file (``--out``).
    what : str
        The new ending, such as ``"checkpoint.jsonl"``.

    Returns
    -------
    pathlib.Path
        ``result.json`` → ``result.<what>`` (``result`` without a suffix → the same).
    """
    return out.with_name(f"{out.stem if out.suffix else out.name}.{what}")


def _plan(a) -> _Plan:
    """Every option checked, the model built and the data read: what the fit will do."""
    if a.kind not in KRIGING_KINDS:
        raise ValueError(f"--kind {a.kind!r}: choose one of {', '.join(KRIGING_KINDS)}")
    if a.restarts < 0:
        raise ValueError(f"--restarts must be 0 or more, got {a.restarts}")
    check_output(a.out, "--out")
    if a.predictions is not None:
        check_table_output(a.predictions, "--predictions")
    check_distinct(**{"--out": a.out, "--predictions": a.predictions, "DATA": a.data,
                      "--predict-at": a.predict_at})
    model = model_plan(a)
    if a.refine_mesh:
        require_mesh_model(model.model, "--refine-mesh")
    return _Plan(model.model, model.train, model.targets, model.fixed, a.out,
                 sibling(a.out, "checkpoint.jsonl"), sibling(a.out, "interrupted.json"),
                 a.discretisation_check and model.model.mesh_model,
                 model.auto_substeps, bool(a.refine_mesh),
                 a.continuum and model.model.mesh_model)


@dataclass
class ModelPlan:
    """The model built from the options, the observed data and the prediction targets.

    Parameters
    ----------
    model : Model
        The model built.
    train : Observations
        The observed rows.
    targets : Observations or None
        The prediction targets (the --predict-at file, or the rows with a missing value).
    fixed : dict
        The ``--fix`` values.
    auto_substeps : bool
        ``--substeps auto``: the model is built with one substep, the fit doubles them.
    """

    model: object
    train: Observations
    targets: Observations | None
    fixed: dict
    #: ``--substeps auto``: the model is built with one substep, the fit doubles them
    #: (:func:`fieldfit.fit.substeps.fit_auto_substeps`)
    auto_substeps: bool = False


def model_plan(a) -> ModelPlan:
    """The model options checked, the model built, the data read and split.

    The model is built before the data are read, so a bad option fails first. Shared by
    ``fit`` and ``sample`` (which declares the same options: :func:`model_options`).

    Parameters
    ----------
    a : types.SimpleNamespace
        The command's options (one attribute per option); it also needs ``data``,
        ``predict_at`` and ``predictions``. Options a command does not declare take
        ``fit``'s defaults.

    Returns
    -------
    ModelPlan
        The model, the observed rows, the targets and the fixed values.

    Raises
    ------
    ValueError
        For a bad option, option combination or data file, naming it.
    """
    a = SimpleNamespace(**{**fit_defaults(), **vars(a)})
    data, coords, value, time, model = a.data, a.coords, a.value, a.time, a.model
    fix, mean, covariates, id = a.fix, a.mean, a.covariates, a.id
    predict_at, predictions, crs = a.predict_at, a.predictions, a.crs
    fixed = parse_assignments(fix, option="--fix")
    coord_cols, cov_cols = _split(coords), _split(covariates) or None
    if cov_cols and mean not in ("covariates", "linear+covariates"):
        raise ValueError(f"--covariates {covariates} is used by --mean covariates or "
                         f"linear+covariates only, not --mean {mean}")
    if mean in ("covariates", "linear+covariates") and not cov_cols:
        raise ValueError(f"--mean {mean} needs --covariates")
    crs = _check_crs(crs)
    auto_substeps = isinstance(a.substeps, str) and a.substeps.strip().lower() == "auto"
    options = {"mean": mean, "nugget": a.nugget, "anisotropic": a.anisotropic,
               "neighbours": a.neighbours, "pred_neighbours": a.pred_neighbours,
               "coarse_neighbours": a.coarse_neighbours, "grouped": a.grouped,
               "alpha": a.alpha, "alpha_s": a.alpha_s, "dt": a.time_step,
               "rational_order": a.rational_order,
               "advection": a.advection,
               "mesh_max_edge": _numbers(a.mesh_max_edge, "--mesh-max-edge"),
               "mesh_offset": a.mesh_offset, "mesh_cutoff": a.mesh_cutoff,
               "engine": a.engine, "crs": crs,
               "substeps": 1 if auto_substeps else a.substeps, "theta": a.theta,
               "fields": _check_field_option(a.field, model)}
    m0 = build_from_cli(model, time is not None, options, fixed)   # checked before reading
    field_cols = _field_columns(m0, cov_cols, mean)
    df = read_table(data)
    check_columns(m0.fields, df.columns)
    try:
        obs = Observations.from_dataframe(df, coords=coord_cols, value=value, time=time,
                                          covariates=(cov_cols or []) + field_cols or None,
                                          id=id, duplicates="allow")
    except ValueError as e:
        raise ValueError(f"{data}: {e}") from None
    if crs is None and _looks_lonlat(coord_cols, obs.coords):
        options["crs"] = "lonlat"
    m = build_from_cli(model, time is not None, options, fixed)
    train = obs.observed_part()
    check_param_names(m, train, fixed, "--fix")
    targets = None
    if predict_at is not None:
        targets = Observations.from_file(
            predict_at, coords=coord_cols, value=None, time=time, covariates=cov_cols, id=id,
            require_values=False, duplicates="allow")
    elif obs.missing.any():
        targets = obs.missing_part()
    if predictions is not None and targets is None:
        raise ValueError("--predictions given but there is nothing to predict: DATA has no "
                         "rows with a missing value and no --predict-at file was given")
    return ModelPlan(m, train, targets, fixed, auto_substeps)


#: the options of ``fit`` that say which model to build (``model_plan``), beyond the data
#: columns: ``sample`` declares them by :func:`model_options`, from ``fit``'s own declarations
MODEL_OPTIONS = ("time", "model", "engine", "neighbours", "alpha", "rational_order",
                 "alpha_s", "time_step",
                 "advection", "mesh_max_edge", "mesh_offset", "mesh_cutoff", "field", "fix",
                 "mean", "covariates", "nugget", "anisotropic", "id", "crs", "substeps",
                 "theta")


def fit_defaults() -> dict:
    """The default of every option of ``fit``, read from its declarations.

    Returns
    -------
    dict
        ``{option name: default}``.
    """
    out = {}
    for name, p in inspect.signature(fit).parameters.items():
        if isinstance(p.default, OptionInfo):
            out[name] = p.default.default
    return out


def model_options(command):
    """Decorator: give a command ``fit``'s model options.

    Parameters
    ----------
    command : callable
        A command taking ``**options``.

    Returns
    -------
    callable
        ``command`` with ``fit``'s model options (:data:`MODEL_OPTIONS`: their names, help
        and defaults as ``fit`` declares them) appended to its signature, which is what
        typer reads.
    """
    sig = inspect.signature(command)
    own = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    taken = {p.name for p in own}
    source = inspect.signature(fit, eval_str=True).parameters
    extra = [source[n].replace(kind=inspect.Parameter.KEYWORD_ONLY) for n in MODEL_OPTIONS
             if n not in taken]
    command.__signature__ = sig.replace(parameters=own + extra)
    return command


def _check_field_option(field, model: str) -> list[str] | None:
    """``--field`` values, or None; a ValueError when ``--model`` takes no fields."""
    from ..models.registry import MODELS, entry

    if not field:
        return None
    if "fields" not in entry(model).options:
        takers = sorted(n for n, e in MODELS.items() if "fields" in e.options)
        raise ValueError(f"--field applies to --model {' or '.join(takers)} only, not "
                         f"{entry(model).name!r}")
    return list(field)


def _field_columns(model, cov_cols, mean: str) -> list[str]:
    """The DATA columns the covariate fields (``--field kappa=covariates:…``) read that
    --covariates does not already load; they are loaded as covariates, so a covariates mean
    would take them too: refused then, unless they are also in --covariates."""
    extra = [c for c in field_columns(model.fields) if c not in (cov_cols or [])]
    if extra and mean in ("covariates", "linear+covariates"):
        raise ValueError(f"--field reads {', '.join(extra)}, which --mean {mean} would then "
                         f"use too: add {', '.join(extra)} to --covariates, or use another "
                         "--mean")
    return extra


def _check_crs(crs: str | None) -> str | None:
    """--crs as given (checked), or None (planar unless the columns look like lon/lat)."""
    from ..geo import CRS_CHOICES

    if crs is None:
        return None
    crs = crs.strip().lower()
    if crs not in CRS_CHOICES:
        raise ValueError(f"--crs {crs!r}: choose one of {', '.join(CRS_CHOICES)}")
    return crs


def _looks_lonlat(coord_cols: list[str], coords) -> bool:
    """The --coords are named lon/lat (or longitude/latitude) and hold valid degrees: then
    they are taken as lon/lat, with a warning saying how to keep them flat."""
    from ..geo import detect_crs

    if detect_crs(coord_cols, coords) != "lonlat":
        return False
    typer.secho(f"warning: --coords {','.join(coord_cols)} look like longitude/latitude: "
                "taken as lon/lat in degrees (distances on the sphere, ranges in km); pass "
                "--crs planar to treat them as flat coordinates", err=True, fg="yellow")
    return True


def _report_interrupted(result, plan: _Plan) -> None:
    """Ctrl-C: the best point so far beside the outputs (never over them), exit 130."""
    write_set([(plan.interrupted, result.to_json() + "\n")])
    typer.echo(result.summary(model=plan.model))
    typer.secho(f"fit interrupted: its best point so far written to {plan.interrupted} "
                f"(not converged, no standard errors; {plan.out} untouched); rerun with "
                f"--resume to continue from the checkpoint {plan.checkpoint}", err=True,
                fg="yellow")
    raise typer.Exit(code=INTERRUPTED)


def _finish(result, plan: _Plan, predictions: Path | None, kind: str,
            fitted=None) -> None:
    """Kriging (when asked) with the fit's own estimates ``fitted`` (default ``result``),
    then the result and the predictions written as one set."""
    files = [(plan.out, result.to_json() + "\n")]
    table = None
    if predictions is not None:
        from ..predict import krige

        try:
            with _reported_errors():
                table = krige(plan.model, plan.train, plan.targets, fitted or result,
                              kind=kind)
        except KeyboardInterrupt:  # the fit is finished: keep it beside the outputs
            result.interrupted = True
            result.message += ("; the command was interrupted while kriging, after the fit "
                               "finished: the estimates are final, no predictions written")
            write_set([(plan.interrupted, result.to_json() + "\n")])
            typer.secho(f"interrupted while kriging: the finished fit is in {plan.interrupted} "
                        f"({plan.out} and {predictions} untouched)", err=True, fg="yellow")
            raise typer.Exit(code=INTERRUPTED) from None
        files.append((predictions, table_bytes(table, predictions)))
    write_set(files)
    plan.interrupted.unlink(missing_ok=True)  # superseded by the finished fit
    typer.echo(result.summary(model=plan.model))
    if plan.train.n_duplicated:
        typer.echo(f"note: {plan.train.n_duplicated} observed rows repeat a location (and "
                   "time): taken as repeated measurements, their differences as the nugget")
    typer.echo(f"result written to {plan.out}")
    if table is not None:
        typer.echo(f"{len(table)} predictions written to {predictions}")
    elif plan.targets is not None:
        typer.echo(f"{plan.targets.n} locations to predict: pass --predictions FILE to write "
                   "them")
