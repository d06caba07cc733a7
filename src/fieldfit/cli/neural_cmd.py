"""``fieldfit train-estimator`` and ``fieldfit estimate``: amortized neural inference."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from ..io import read_table, write_table
from .app import app
from .common import _reported_errors
from .outputs import (
    check_output,
    check_output_folder,
    check_table_output,
    estimates_report,
    space_time_report,
)


def _shipped() -> list[str]:
    """The shipped estimators' names, from the files in ``fieldfit/_estimators`` (read
    without importing torch, for the help text)."""
    d = Path(str(resources.files("fieldfit") / "_estimators"))
    return sorted(p.stem for p in d.glob("*.pt")) if d.is_dir() else []


#: the level of the intervals ``fieldfit estimate`` writes and prints
LEVEL = 0.9

#: the default of ``train-estimator --diagnostics``: fresh simulations for the calibration
#: diagnostics after training (2.5 % of the default 20,000 training simulations)
DIAGNOSTICS = 500


def diagnostics_paths(out: Path) -> tuple[Path, Path]:
    """Where ``train-estimator --out OUT`` writes its diagnostics.

    Parameters
    ----------
    out : pathlib.Path
        The estimator's file (``--out``).

    Returns
    -------
    report : pathlib.Path
        ``<stem>.diagnostics.json`` beside ``out`` (the numbers).
    plots : pathlib.Path
        The folder ``<stem>-diagnostics`` beside ``out`` (the PNGs).
    """
    out = Path(out)
    return (out.parent / f"{out.stem}.diagnostics.json",
            out.parent / f"{out.stem}-diagnostics")


@app.command("train-estimator")
def train_estimator_cmd(
    out: Path = typer.Option(..., help="Where to save the trained estimator (.pt)."),
    estimator: str = typer.Option(None, help="quantile (median + 90% interval), point, "
                                  "posterior (normalizing flow) or ratio (likelihood surface). "
                                  "Default: quantile."),
    model: str = typer.Option(None, help="Any registered model that simulates: matern, "
                              "exponential, gaussian, matern-spde; separable, gneiting, "
                              "advection-diffusion (space-time: --time-steps). Default: matern."
                              " advection-diffusion trains on exact draws of the continuous "
                              "SPDE at 30-300 stations in the unit square over 20-100 times "
                              "spanning the unit interval (estimate maps any data there)."),
    prior: list[str] = typer.Option(None, help="Priors name=lo:hi[:log] (or name=uniform:lo:hi"
                                    ", name=loguniform:lo:hi); default range=0.02:0.5:log, "
                                    "variance=0.1:5:log, nugget=0:1, mean=-5:5; "
                                    "other parameters need one (or --fix). advection-diffusion: "
                                    "range=0.03:0.5:log, memory=0.003:3:log, velocity_x=-2:2, "
                                    "velocity_y=-2:2, marginal_variance=0.2:5:log, "
                                    "nugget_share=0:0.5, mean=-3:3 (unit scales)."),
    time_steps: str = typer.Option(None, help="Space-time models: regular times per "
                                   "dataset, T or LO:HI (default 10; advection-diffusion "
                                   "20:100)."),
    missing: float = typer.Option(None, help="Space-time models: the largest share of missing "
                                  "values; each dataset draws its share up to it (default 0; "
                                  "advection-diffusion 0.3)."),
    fix: list[str] = typer.Option(None, help="Fixed parameters, e.g. smoothness=1 (the Matérn "
                                  "default; give a smoothness prior to estimate it)."),
    nugget: bool = typer.Option(None, help="Estimate a nugget (--no-nugget: none). Default: on."),
    mean: str = typer.Option(None, help="The model's mean (zero, constant, linear); its "
                             "coefficients beta_* need priors. Default: the model's (constant)."),
    anisotropic: bool = typer.Option(None, help="Geometric anisotropy (angle, ratio need "
                                     "priors or --fix). Default: off."),
    design: str = typer.Option(None, help="mixed (uniform + clustered), uniform, clustered "
                               "or grid locations in the unit square. Default: mixed."),
    n_min: int = typer.Option(None, help="Fewest locations per simulated dataset. Default: 50 "
                              "(advection-diffusion: 30)."),
    n_max: int = typer.Option(None, help="Most locations per simulated dataset. Default: 1000 "
                              "(advection-diffusion: 300)."),
    grid: str = typer.Option(None, help="Grid NXxNY (cells along x, then along y; as "
                             "simulate --grid) for --design grid. Default: 16x16."),
    replicates: str = typer.Option(None, help="Replicates per dataset: R or LO:HI. Default: 1."),
    train: int = typer.Option(None, help="Number of training simulations. Default: 20000."),
    val: int = typer.Option(None, help="Number of validation simulations. Default: 1000."),
    on_the_fly: bool = typer.Option(None, help="Simulate new training data every --refresh "
                                    "epochs (in process) instead of a fixed set. Default: off."),
    refresh: int = typer.Option(None, help="Epochs between fresh simulations with "
                                "--on-the-fly. Default: 1."),
    store: Path = typer.Option(None, help="Folder for the simulations (Zarr, written with Dask;"
                               " an interrupted or repeated run resumes from it). Default: "
                               "OUT's stem + '-simulations' beside OUT (est-simulations for "
                               "est.pt)."),
    scheduler: str = typer.Option(None, help="Dask scheduler: an existing cluster's ADDRESS, "
                                  "or 'synchronous' (default: a local cluster)."),
    epochs: int = typer.Option(None, help="Most epochs. Default: 100."),
    patience: int = typer.Option(None, help="Early stopping after this many epochs without "
                                 "improvement of the validation loss. Default: 6."),
    batch_size: int = typer.Option(None, help="Datasets per mini-batch. Default: 64."),
    lr: float = typer.Option(None, help="Adam learning rate. Default: 1e-3."),
    max_minutes: float = typer.Option(None, help="Stop training after this many minutes."),
    width: int = typer.Option(None, help="Channels of the graph network. Default: 32."),
    neighbours: int = typer.Option(None, help="Graph: edges from the k nearest neighbours. "
                                   "Default: 10."),
    radius: float = typer.Option(None, help="Graph: only neighbours within this distance "
                                 "(at most --neighbours of them)."),
    variogram: bool = typer.Option(None, help="Give the graph network empirical-variogram "
                                   "summaries over all pairs (long-lag structure). Default: off."),
    pilot: bool = typer.Option(None, help="Give the graph network pilot likelihoods: GLS "
                               "means, profiled variances and Vecchia profile log-likelihoods "
                               "under a fixed grid of covariances (fieldfit.neural.pilot). "
                               "Default: off."),
    psi: str = typer.Option(None, help="Hidden layer sizes of the graph network's DeepSets "
                            "head, comma-separated (default: one of twice --width)."),
    calibrate: int = typer.Option(None, help="Quantile estimator: calibrate its 90% intervals "
                                  "(conformalized quantile regression) on this many further "
                                  "simulations (e.g. 2000; 0: none). Default: 0."),
    device: str = typer.Option(None, help="cpu, or an accelerator (cuda): then every training"
                               " dataset is simulated afresh there, --train per epoch "
                               "(Gaussian fields; Matérn smoothness fixed at 0.5, 1, 1.5, 2.5). "
                               "Default: cpu."),
    seed: int = typer.Option(None, help="Seed of the simulations and of the training. Default: 0."),
    diagnostics: int = typer.Option(DIAGNOSTICS, help="Calibration diagnostics on this many "
                                    "fresh simulations after training (as fieldfit diagnose),"
                                    " written to OUT's stem + '.diagnostics.json' and PNGs in "
                                    "OUT's stem + '-diagnostics'; 0: none."),
    progress: bool = typer.Option(None, help="Show progress bars. Default: on."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run that was killed or "
                                "interrupted from its checkpoint (OUT with suffix .ckpt, "
                                "written after every epoch) to the answer of an uninterrupted "
                                "run; give the same options (a checkpoint of other options is "
                                "refused). CPU training only."),
    start_from: str = typer.Option(None, help="Train a saved estimator further (a .pt file or "
                                   "a shipped name): its weights start the training, with a "
                                   "fresh optimiser; give the options it was trained with "
                                   "(others are refused) and more --train or --epochs. With "
                                   "the same --store, a larger --train grows the simulations "
                                   "already there."),
):
    """Train an amortized estimator on simulations (Dask) and save it with its metadata.
    The defaults of every option are those of ``fieldfit.neural.train_options.TrainOptions``."""
    from ..neural import train_options

    given = {"estimator": estimator, "model": model, "priors": prior, "time_steps": time_steps,
             "missing": missing,
             "fix": fix, "nugget": nugget, "mean": mean, "anisotropic": anisotropic,
             "design": design, "n_min": n_min, "n_max": n_max,
             "grid": grid, "replicates": replicates, "train": train, "val": val,
             "on_the_fly": on_the_fly, "refresh": refresh, "store": store,
             "scheduler": scheduler, "epochs": epochs, "patience": patience,
             "batch_size": batch_size, "lr": lr, "max_minutes": max_minutes, "width": width,
             "neighbours": neighbours, "radius": radius, "variogram": variogram,
             "pilot": pilot, "psi": psi, "calibrate": calibrate, "device": device,
             "seed": seed, "progress": progress, "resume": resume, "start_from": start_from}
    with _reported_errors():
        check_output(out, "--out", (".pt",))
        report, plots = diagnostics_paths(out)
        if diagnostics != 0:
            from ..diagnostics.calibration import PLOTS, check_simulations

            check_simulations(diagnostics, "--diagnostics (0: none)")
            check_output(report, "--diagnostics")
            check_output_folder(plots, "--diagnostics", PLOTS[0])
        options = train_options.TrainOptions(
            **{k: v for k, v in given.items() if v is not None})
        est = train_options.train_from_options(out, options)
        spec = est.spec
        h = est.metadata["training"]
        typer.echo(f"{options.estimator} estimator of {spec.prior.names} saved to {out} "
                   f"(best validation loss {min(h['val']):.4f} at epoch {h['best_epoch'] + 1}; "
                   f"{h['stopped']}; {h['seconds']:.0f} s)")
        if "calibration" in est.metadata:
            c = est.metadata["calibration"]
            raw = ", ".join(f"{k} {v:.1%}" for k, v in c["raw_coverage"].items())
            typer.echo(f"90% intervals calibrated on {c['n']} simulations (raw coverage: {raw})")
        if diagnostics:
            from .diagnose_cmd import run_diagnostics

            line = run_diagnostics(est, diagnostics, options.seed, report, plots,
                                   options.progress)
            typer.echo(f"diagnostics: {line}; written to {report} and {plots}")


@app.command()
def estimate(
    data: Path = typer.Argument(..., help="CSV or Parquet with columns x, y, z and optionally "
                                "dataset (one estimate per dataset) and replicate; a missing "
                                "(NaN) z leaves its location out."),
    estimator: str = typer.Option(..., help="A saved estimator file or a shipped name ("
                                  + ", ".join(_shipped()) + ")."),
    out: Path = typer.Option(..., help="Where to write the estimates (.csv, .tsv or "
                             ".parquet)."),
    force: bool = typer.Option(False, "--force", help="Estimate datasets with far fewer or "
                               "more locations (or replicates) than the estimator was trained "
                               "on (below half its fewest, above twice its most), which are "
                               "otherwise refused."),
    posterior_samples: int = typer.Option(0, help="A posterior estimator: also write this "
                                          "many posterior draws per dataset (every parameter "
                                          "and derived quantity) to OUT's stem + "
                                          "'.posterior.parquet' beside OUT. Default: 0 (none)."),
):
    """Estimate parameters with a trained neural estimator: one row per dataset with each
    parameter and its 90% interval ({name}_lower, {name}_upper), the locations used (n), the
    missing values left out (n_missing) and the standardisation of the values (value_shift,
    value_factor: the network saw value_shift + value_factor * z; the estimates are mapped
    back exactly). A table of the estimates is printed per dataset (the first five), with the
    practical range beside the range and the covariance's parameterisation.

    A space-time estimator (advection-diffusion) reads columns x, y, t, z [, dataset]: stations
    at regular times (a missing station-time is a missing value). Its rows hold kappa, c, tau,
    gamma_x, gamma_y, nugget, mean and the derived range, memory, speed, direction, velocity_x,
    velocity_y, marginal_variance, nugget_share, each with its interval, in the data's units."""
    import time
    import warnings

    from ..neural.bundle import load_estimator

    with _reported_errors():
        check_table_output(out, "--out")
        draws_path = out.parent / f"{out.stem}.posterior.parquet"
        if isinstance(posterior_samples, bool) or posterior_samples < 0:
            raise ValueError(f"--posterior-samples must be an integer ≥ 0, got "
                             f"{posterior_samples}")
        if posterior_samples:
            check_output(draws_path, "--posterior-samples")
        est = load_estimator(estimator)
        if posterior_samples and est.network.kind != "posterior":
            raise ValueError(f"--posterior-samples needs a posterior estimator; "
                             f"{estimator!r} is a {est.network.kind} estimator")
        df = read_table(data)
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = est.estimate(df, level=LEVEL, force=force)
            draws = (est.posterior_draws(df, n_draws=posterior_samples, force=force)
                     if posterior_samples else None)
        seconds = time.perf_counter() - t0
        for w in caught:
            typer.secho(f"warning: {w.message}", fg="yellow", err=True)
        write_table(table, out)
        if draws is not None:
            write_table(draws, draws_path)
        if est.spec.space_time:
            typer.echo(space_time_report(table, level=LEVEL))
        else:
            model = est.spec.model_
            typer.echo(estimates_report(table, est.names, model.name, est.spec.prior.fixed,
                                        model.to_spec(), level=LEVEL))
        typer.echo(f"{len(table)} dataset(s) estimated in {seconds:.2f} s "
                   f"({table.attrs.get('values', '')}); written to {out}"
                   + (f"; {posterior_samples} posterior draws per dataset written to "
                      f"{draws_path}" if draws is not None else ""))
