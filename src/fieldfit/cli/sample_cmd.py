"""``fieldfit sample``: posterior draws by NUTS, their summary, plots and predictive kriging."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import typer

from ..fit.mcmc import MAX_WARMUP, MIN_WARMUP, ConvergenceWarning
from ..fit.posterior import prior_dict
from ..io import table_bytes, write_set
from ..prior_spec import GRAMMAR, parse_priors
from .app import app
from .common import _reported_errors, plain_warnings
from .fit_cmd import model_options, model_plan, sibling
from .outputs import (
    INTERRUPTED,
    check_distinct,
    check_output,
    check_output_folder,
    check_table_output,
    posterior_range_summary,
    posterior_table,
    two_step_interrupt,
)

#: kinds of the posterior predictive (:meth:`fieldfit.fit.mcmc.PosteriorSample.predict`)
PREDICT_KINDS = ("simple", "universal")


@app.command()
@model_options
def sample(
    data: Path = typer.Argument(..., help="Parquet or CSV file with coordinates and values."),
    coords: str = typer.Option(..., help="Coordinate columns, comma separated, e.g. x,y."),
    value: str = typer.Option(..., help="Value column (NaN rows are prediction targets)."),
    out: Path = typer.Option(..., help="Where to write the draws (ArviZ NetCDF, .nc)."),
    prior: list[str] = typer.Option(
        [], help="A prior, repeatable: " + GRAMMAR + ". Default: PC priors for ranges and "
        "variances scaled to the data, wide ones elsewhere (fieldfit.fit.mcmc.default_priors)."),
    chains: int = typer.Option(4, help="Chains."),
    draws: int = typer.Option(1000, help="Draws kept per chain."),
    warmup: int = typer.Option(
        None, help=f"Warm-up (adaptation) steps per chain. Default: as many as --draws, at "
        f"least {MIN_WARMUP} and at most {MAX_WARMUP}."),
    cores: int = typer.Option(
        None, help="Processes running chains at once. Default: one per chain, at most one "
        "per CPU. The draws do not depend on it."),
    seed: int = typer.Option(0, help="Seed: the same seed gives the same draws."),
    summary: Path = typer.Option(None, help="Where to write the summary JSON."),
    plots: Path = typer.Option(None, help="Folder for trace.png and pair.png."),
    predict_at: Path = typer.Option(None, help="File of locations to predict at."),
    predictions: Path = typer.Option(None, help="Where to write predictions (.parquet/.csv)."),
    kind: str = typer.Option("simple", help="Predictive: simple (each draw's mean "
                             "coefficients: the posterior predictive) or universal."),
    predict_draws: int = typer.Option(200, help="Draws the predictive mixes over."),
    progress: bool = typer.Option(None, help="Show progress bars (default: on a terminal)."),
    **options,
):
    """Sample the posterior of a model's parameters by NUTS; write the draws (NetCDF), a
    summary (JSON), trace and pair plots (PNG) and posterior predictive kriging.

    The chains start from the maximum likelihood fit and run in parallel processes (--cores).
    Every option, prior and output path is checked before sampling starts; the outputs are
    written together at the end. Failed convergence checks (R-hat above 1.01, bulk or tail
    ESS below 100 per chain, divergent transitions, transitions at the maximum tree depth)
    are printed as warnings, one line each, and listed under 'warnings' in the summary JSON;
    the exit status stays 0. Ctrl-C keeps the draws so far: they go to OUT's stem +
    '.interrupted.nc', e.g. post.interrupted.nc for post.nc (exit status 130; the outputs
    untouched). The model options are those of 'fieldfit fit'."""
    a = SimpleNamespace(**{k: v for k, v in locals().items() if k != "options"}, **options)
    with plain_warnings():
        _sample_command(a)


def _plan(a):
    """Options, priors and outputs checked, data read and model built (``fit``'s
    :func:`~fieldfit.cli.fit_cmd.model_plan`)."""

    if a.kind not in PREDICT_KINDS:
        raise ValueError(f"--kind {a.kind!r}: choose one of {', '.join(PREDICT_KINDS)}")
    for name in ("chains", "draws", "predict_draws", "cores"):
        if getattr(a, name) is not None and getattr(a, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be 1 or more, got "
                             f"{getattr(a, name)}")
    if a.warmup is not None and a.warmup < 0:
        raise ValueError(f"--warmup must be 0 or more, got {a.warmup}")
    check_output(a.out, "--out", (".nc",))
    if a.summary is not None:
        check_output(a.summary, "--summary", (".json",))
    if a.plots is not None:
        check_output_folder(a.plots, "--plots", "trace.png")
    check_distinct(**{"--out": a.out, "--summary": a.summary, "--predictions": a.predictions,
                      "DATA": a.data, "--predict-at": a.predict_at})
    if a.predictions is not None:
        check_table_output(a.predictions, "--predictions")
    if str(a.substeps).strip().lower() == "auto":
        raise ValueError("--substeps auto chooses the time step by refitting, which `fieldfit "
                         "fit --substeps auto` does: give sample the substeps it chose (its "
                         "result's discretisation.substeps_search.chosen)")
    plan = model_plan(a)
    names = list(plan.model.param_space(plan.train).names)
    names += [n for n in plan.model.mean_names(plan.train) if n not in names]
    priors = parse_priors(a.prior, names, plan.train.dim)
    both = sorted(set(priors) & set(plan.fixed))
    if both:
        raise ValueError(f"--prior and --fix both name {both[0]!r}: a fixed parameter takes "
                         "no prior")
    return plan, priors, sibling(a.out, "interrupted.nc")


def _sample_command(a) -> None:
    with _reported_errors():
        plan, priors, interrupted = _plan(a)
    with two_step_interrupt():
        _run(a, plan, priors, interrupted)


def _run(a, plan, priors, interrupted) -> None:
    """Sample, then write every output as one set (Ctrl-C: the draws so far beside OUT)."""
    from ..fit.mcmc import sample as run_sample

    with _reported_errors(), warnings.catch_warnings():
        # printed below, one line per failed check, instead of as one Python warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            post = run_sample(plan.model, plan.train, priors=priors, fix=plan.fixed,
                              chains=a.chains, draws=a.draws, warmup=a.warmup,
                              cores=a.cores, seed=a.seed, progress=a.progress)
        except KeyboardInterrupt:
            typer.secho("interrupted before any draw was kept: nothing written", err=True)
            raise typer.Exit(code=INTERRUPTED) from None
    for w in post.warnings:
        typer.secho(f"warning: {w['message']}", fg="yellow", err=True)
    if post.interrupted:
        write_set([(interrupted, post.to_netcdf_bytes())])
        typer.echo(posterior_table(post))
        typer.secho(f"sampling interrupted: the draws so far written to {interrupted} "
                    f"({a.out} untouched)", err=True, fg="yellow")
        raise typer.Exit(code=INTERRUPTED)
    files = [(a.out, post.to_netcdf_bytes())]
    table = None
    if a.summary is not None:
        files.append((a.summary, json.dumps(summary_json(post), indent=2) + "\n"))
    if a.plots is not None:
        files += plot_files(post, a.plots)
    if a.predictions is not None:
        try:
            with _reported_errors():
                table = _predict(post, plan, a)
        except KeyboardInterrupt:   # the draws are complete: keep them beside the outputs
            write_set([(interrupted, post.to_netcdf_bytes())])
            typer.secho(f"interrupted while predicting: the finished draws are in "
                        f"{interrupted} (the outputs untouched)", err=True, fg="yellow")
            raise typer.Exit(code=INTERRUPTED) from None
        files.append((a.predictions, table_bytes(table, a.predictions)))
    write_set(files)
    interrupted.unlink(missing_ok=True)   # superseded by the finished draws
    typer.echo(posterior_table(post))
    typer.echo(f"draws written to {a.out}")
    if table is not None:
        typer.echo(f"{len(table)} predictions written to {a.predictions}")


def summary_json(post) -> dict:
    """The summary JSON of ``fieldfit sample --summary``.

    Parameters
    ----------
    post : PosteriorSample
        The draws (:func:`fieldfit.sample`).

    Returns
    -------
    dict
        ``params`` (``{name: {mean, sd, q2.5, q50, q97.5, rhat, ess_bulk, ess_tail}}``),
        ``n``, ``seconds``, ``divergences``, ``model``, ``engine``, ``chains``, ``draws``,
        ``warmup``, ``seed``, ``fixed``, ``priors`` and ``warnings``: the failed
        convergence checks, a list of dicts with ``check``, ``parameter``, ``value``,
        ``threshold`` and ``message`` (:func:`fieldfit.fit.mcmc.check_convergence`), empty
        when every check passed; ``practical_ranges``, the posterior summary of the practical
        ranges (:func:`fieldfit.cli.outputs.posterior_range_summary`).
    """
    c, d = post.shape
    return {"params": post.summary(), "n": post.n, "seconds": post.seconds,
            "divergences": post.divergences, "model": post.model.name,
            "engine": post.model.engine_name, "chains": c, "draws": d, "warmup": post.warmup,
            "seed": post.seed, "fixed": post.fixed,
            "priors": {k: prior_dict(v) for k, v in post.priors.items()},
            "practical_ranges": posterior_range_summary(post), "warnings": post.warnings}


def plot_files(post, folder: Path) -> list[tuple[Path, bytes]]:
    """The trace and pair plots of the draws (ArviZ, matplotlib's Agg backend).

    Parameters
    ----------
    post : PosteriorSample
        The draws (:func:`fieldfit.sample`).
    folder : Path
        Where the plots are to go.

    Returns
    -------
    list of (Path, bytes)
        ``folder / "trace.png"`` and ``folder / "pair.png"`` with their PNG contents, for
        :func:`fieldfit.io.write_set`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import arviz as az
    import matplotlib.pyplot as plt

    idata = post.to_inference_data()
    out = []
    for name, draw in (("trace", lambda: az.plot_trace(idata)),
                       ("pair", lambda: az.plot_pair(idata, divergences=True))):
        axes = draw()
        fig = (axes.ravel()[0] if hasattr(axes, "ravel") else axes).get_figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        out.append((Path(folder) / f"{name}.png", buf.getvalue()))
    return out


def _predict(post, plan, a):
    import pandas as pd

    targets = plan.targets
    pts = post.model.points(targets)
    mean, sd = post.predict(pts, n_draws=a.predict_draws, kind=a.kind,
                            new_covariates=targets.covariates)
    return pd.DataFrame({"id": targets.ids, "mean": mean, "sd": sd})
