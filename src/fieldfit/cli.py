"""The ``fieldfit`` command.

    fieldfit fit DATA --coords x,y [--time t] --value z --model matern [--fix smoothness=1.5]
                 [--engine exact|vecchia|spde [--neighbours 30]] [--predict-at FILE]
                 --out result.json [--predictions p.parquet]
    fieldfit fit DATA --coords x,y --time t --value z --model advection-diffusion
                 [--alpha 1] [--alpha-s 1] [--time-step 1] [--no-advection] --out r.json
    fieldfit simulate [POINTS] (--coords x,y | --grid 50x50) --model matern
                 --params variance=1,range=0.2,smoothness=1.5,nugget=0.1,mean=0 --out sim.parquet
    fieldfit train-estimator --out est.pt [--estimator quantile|point|posterior|ratio]
                 [--model matern] [--prior range=0.02:0.5:log ...] [--fix smoothness=1]
                 [--design mixed|uniform|clustered|grid] [--n-min 50 --n-max 1000]
                 [--train 20000] [--store DIR] [--scheduler ADDRESS] [--on-the-fly]
    fieldfit estimate --estimator FILE_OR_NAME DATA --out OUT.csv
    fieldfit demo [--dataset meuse] [--out DIR]
    fieldfit bench heaton [--out DIR] [--neighbours 30] [--dataset simulated|satellite|both]

Results follow DESIGN.md: the fit as JSON, predictions as a table (Parquet or CSV by suffix)
with the input rows' ``id`` and the columns ``mean`` and ``sd``.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from .data import Observations
from .fit import fit as fit_mle
from .io import read_table, write_table
from .models import available, build
from .models.mean import MEAN_KINDS
from .models.registry import is_space_time
from .params import parse_assignments

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Fit, predict and simulate spatial random fields.")

def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", fg="red", err=True)
    raise typer.Exit(code=2)


@contextlib.contextmanager
def _reported_errors():
    """Bad input (ValueError, an unknown name's KeyError, a missing file) becomes a one-line
    error and exit code 2 instead of a traceback."""
    try:
        yield
    except KeyError as e:
        _fail(str(e.args[0]) if e.args else str(e))
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))


def _split(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def _numbers(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in _split(text)]
    except ValueError:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from None


def build_from_cli(name: str, time: bool, options: dict, fixed: dict):
    """The model that ``--model NAME`` and the other options name (through
    :func:`fieldfit.models.build`): options left at None are the model's defaults, and those a
    model does not take are refused only when given. A fixed ``smoothness`` is passed to
    models that take it (the SPDE engine turns it into its order α)."""
    from .models.registry import entry

    e = entry(name)
    if e.space_time and not time:
        raise ValueError(f"model {e.name!r} is a space-time model: give --time")
    if time and not e.space_time:
        raise ValueError(f"model {e.name!r} is spatial but --time was given: use --model "
                         f"{', '.join(n for n in available() if is_space_time(n))}")
    accepted = e.options
    given = {k: v for k, v in options.items() if v is not None}
    vecchia = [k for k in ("neighbours", "pred_neighbours", "coarse_neighbours")
               if given.get(k) is not None] + (["grouped"] if given.get("grouped") else [])
    if vecchia and given.get("engine") != "vecchia":
        raise ValueError(f"--{vecchia[0].replace('_', '-')} applies to --engine vecchia only, "
                         f"not {given.get('engine') or 'exact'!r}")
    if "smoothness" in fixed and "smoothness" in accepted:
        given["smoothness"] = fixed["smoothness"]
    defaults = {"mean": "constant", "nugget": True, "anisotropic": False, "grouped": False,
                "advection": True, "alpha_s": 1}
    refused = sorted(k for k, v in given.items()
                     if k not in accepted and defaults.get(k, object()) != v)
    if refused:
        flags = ", ".join("--" + {"dt": "time-step"}.get(k, k.replace("_", "-"))
                          for k in refused)
        raise ValueError(f"{flags} do(es) not apply to model {e.name!r}"
                         + (f" with --engine {options.get('engine')}" if options.get("engine")
                            else ""))
    return build(e.name, **{k: v for k, v in given.items() if k in accepted})


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
    fix: list[str] = typer.Option([], help="Fix parameters, e.g. --fix smoothness=1.5."),
    mean: str = typer.Option("constant", help=f"Mean: {', '.join(MEAN_KINDS)}."),
    covariates: str = typer.Option(None, help="Covariate columns for the mean."),
    nugget: bool = typer.Option(True, help="Estimate a nugget (noise variance)."),
    anisotropic: bool = typer.Option(False, help="Geometric anisotropy (2-D)."),
    id: str = typer.Option(None, "--id", help="Identifier column (default: row number)."),
    predict_at: Path = typer.Option(None, help="File of locations to predict at."),
    predictions: Path = typer.Option(None, help="Where to write predictions (.parquet/.csv)."),
    kind: str = typer.Option("universal", help="Kriging: universal, ordinary or simple."),
    restarts: int = typer.Option(2, help="Optimiser restarts besides the data-driven start."),
    allow_duplicates: bool = typer.Option(
        False, help="Kept for older scripts: repeated measurements at a location are accepted "
        "whenever the model has a nugget."),
    progress: bool = typer.Option(None, help="Show progress (default: on a terminal)."),
):
    """Fit a model by maximum likelihood; optionally predict (kriging mean and sd)."""
    with _reported_errors():
        fixed = parse_assignments(fix)
        coord_cols, cov_cols = _split(coords), _split(covariates) or None
        options = {"mean": mean, "nugget": nugget, "anisotropic": anisotropic,
                   "neighbours": neighbours, "pred_neighbours": pred_neighbours,
                   "coarse_neighbours": coarse_neighbours, "grouped": grouped, "alpha": alpha,
                   "alpha_s": alpha_s, "dt": time_step, "advection": advection,
                   "mesh_max_edge": _numbers(mesh_max_edge), "mesh_offset": mesh_offset,
                   "mesh_cutoff": mesh_cutoff, "engine": engine}
        m = build_from_cli(model, time is not None, options, fixed)
        obs = Observations.from_file(
            data, coords=coord_cols, value=value, time=time, covariates=cov_cols, id=id,
            duplicates="allow",
        )
        train = obs.observed_part()
        result = fit_mle(m, train, fix=fixed, restarts=restarts, progress=progress)
        result.to_json(out)
        typer.echo(result.summary())
        if train.n_duplicated:
            typer.echo(f"note: {train.n_duplicated} observed rows repeat a location (and time): "
                       "taken as repeated measurements, their differences as the nugget")
        typer.echo(f"result written to {out}")
        targets = None
        if predict_at is not None:
            targets = Observations.from_file(
                predict_at, coords=coord_cols, value=None, time=time, covariates=cov_cols, id=id,
                require_values=False, duplicates="allow",
            )
        elif obs.missing.any():
            targets = obs.missing_part()
        if predictions is not None:
            if targets is None:
                _fail("--predictions given but DATA has no NaN values and no --predict-at file")
            from .predict import krige

            table = krige(m, train, targets, result, kind=kind)
            write_table(table, predictions)
            typer.echo(f"{len(table)} predictions written to {predictions}")
        elif targets is not None:
            typer.echo(f"{targets.n} locations to predict: pass --predictions FILE to write them")


@app.command()
def simulate(
    points: Path = typer.Argument(None, help="File of locations (else --grid)."),
    out: Path = typer.Option(..., help="Where to write the simulations (.parquet/.csv)."),
    params: list[str] = typer.Option(..., help="Parameter values, e.g. variance=1,range=0.2."),
    coords: str = typer.Option("x,y", help="Coordinate columns of POINTS (and of the output)."),
    grid: str = typer.Option(None, help="Simulate on a regular grid NXxNY over --bounds."),
    bounds: str = typer.Option("0,1,0,1", help="xmin,xmax,ymin,ymax of the grid."),
    model: str = typer.Option("matern", help="A registered model: matern, exponential, "
                              "gaussian, matern-spde; with --time separable, gneiting, "
                              "advection-diffusion."),
    time: str = typer.Option(None, help="Time column of POINTS (space-time models)."),
    mean: str = typer.Option("constant", help="Mean: zero or constant (give mean=... in params)."),
    replicates: int = typer.Option(1, help="Number of independent replicates."),
    seed: int = typer.Option(0, help="Random seed."),
):
    """Simulate a model (values with the nugget as noise) at points or on a grid."""
    with _reported_errors():
        p = parse_assignments(params)
        cols = _split(coords)
        if grid is not None:
            if time is not None:
                raise ValueError("--grid is spatial: give a POINTS file with --time")
            try:
                nx, ny = (int(v) for v in grid.lower().split("x"))
                x0, x1, y0, y1 = (float(v) for v in _split(bounds))
            except ValueError:
                raise ValueError(f"--grid is NXxNY and --bounds xmin,xmax,ymin,ymax; got "
                                 f"{grid!r}, {bounds!r}") from None
            gx, gy = np.meshgrid(np.linspace(x0, x1, nx), np.linspace(y0, y1, ny))
            pts = np.column_stack([gx.ravel(), gy.ravel()])
            cols = cols[:2] if len(cols) >= 2 else ["x", "y"]
        elif points is not None:
            where = Observations.from_file(points, coords=cols, value=None, time=time,
                                           require_values=False)
            pts = where.points
            cols = cols + ([time] if time is not None else [])
        else:
            raise ValueError("give a POINTS file or --grid NXxNY")
        m = build_from_cli(model, time is not None, {"mean": mean, "nugget": "nugget" in p}, p)
        draws = m.simulate(pts, p, n_replicates=replicates, seed=seed)
        df = pd.DataFrame(pts, columns=cols)
        if replicates == 1:
            df["z"] = draws[0]
        else:
            for i in range(replicates):
                df[f"z_{i}"] = draws[i]
        write_table(df, out)
        typer.echo(f"{len(df)} points × {replicates} replicate(s) written to {out}")


@app.command("train-estimator")
def train_estimator_cmd(
    out: Path = typer.Option(..., help="Where to save the trained estimator (.pt)."),
    estimator: str = typer.Option(None, help="quantile (median + 90% interval), point, "
                                  "posterior (normalizing flow) or ratio (likelihood surface). "
                                  "Default: quantile."),
    model: str = typer.Option(None, help="Any registered model that simulates: matern, "
                              "exponential, gaussian, matern-spde; separable, gneiting, "
                              "advection-diffusion (space-time: --time-steps). Default: matern."),
    prior: list[str] = typer.Option(None, help="Priors name=lo:hi[:log]; default range="
                                    "0.02:0.5:log, variance=0.1:5:log, nugget=0:1, mean=-5:5; "
                                    "other parameters need one (or --fix)."),
    time_steps: int = typer.Option(None, help="Space-time models: regular times per location "
                                   "(default 10)."),
    fix: list[str] = typer.Option(None, help="Fixed parameters, e.g. smoothness=1 (the Matérn "
                                  "default; give a smoothness prior to estimate it)."),
    nugget: bool = typer.Option(None, help="Estimate a nugget (--no-nugget: none). Default: on."),
    mean: str = typer.Option(None, help="The model's mean (zero, constant, linear); its "
                             "coefficients beta_* need priors. Default: the model's (constant)."),
    anisotropic: bool = typer.Option(None, help="Geometric anisotropy (angle, ratio need "
                                     "priors or --fix). Default: off."),
    design: str = typer.Option(None, help="mixed (uniform + clustered), uniform, clustered "
                               "or grid locations in the unit square. Default: mixed."),
    n_min: int = typer.Option(None, help="Fewest locations per simulated dataset. Default: 50."),
    n_max: int = typer.Option(None, help="Most locations per simulated dataset. Default: 1000."),
    grid: str = typer.Option(None, help="Grid NYxNX for --design grid. Default: 16x16."),
    replicates: str = typer.Option(None, help="Replicates per dataset: R or LO:HI. Default: 1."),
    train: int = typer.Option(None, help="Number of training simulations. Default: 20000."),
    val: int = typer.Option(None, help="Number of validation simulations. Default: 1000."),
    on_the_fly: bool = typer.Option(None, help="Simulate new training data every --refresh "
                                    "epochs (in process) instead of a fixed set. Default: off."),
    refresh: int = typer.Option(None, help="Epochs between fresh simulations with "
                                "--on-the-fly. Default: 1."),
    store: Path = typer.Option(None, help="Folder for the simulations (Zarr, written with Dask;"
                               " an interrupted or repeated run resumes from it). Default: "
                               "OUT's name + '-simulations' beside OUT."),
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
    progress: bool = typer.Option(None, help="Show progress bars. Default: on."),
):
    """Train an amortized estimator on simulations (Dask) and save it with its metadata.
    The defaults of every option are those of ``fieldfit.neural.recipes.TrainOptions``."""
    from .neural import recipes

    given = {"estimator": estimator, "model": model, "priors": prior, "time_steps": time_steps,
             "fix": fix, "nugget": nugget, "mean": mean, "anisotropic": anisotropic,
             "design": design, "n_min": n_min, "n_max": n_max,
             "grid": grid, "replicates": replicates, "train": train, "val": val,
             "on_the_fly": on_the_fly, "refresh": refresh, "store": store,
             "scheduler": scheduler, "epochs": epochs, "patience": patience,
             "batch_size": batch_size, "lr": lr, "max_minutes": max_minutes, "width": width,
             "neighbours": neighbours, "radius": radius, "variogram": variogram,
             "pilot": pilot, "psi": psi, "calibrate": calibrate, "device": device,
             "seed": seed, "progress": progress}
    with _reported_errors():
        options = recipes.TrainOptions(**{k: v for k, v in given.items() if v is not None})
        est = recipes.train_from_options(out, options)
        spec = est.spec
        h = est.metadata["training"]
        typer.echo(f"{options.estimator} estimator of {spec.prior.names} saved to {out} "
                   f"(best validation loss {min(h['val']):.4f} at epoch {h['best_epoch'] + 1}; "
                   f"{h['stopped']}; {h['seconds']:.0f} s)")
        if "calibration" in est.metadata:
            c = est.metadata["calibration"]
            raw = ", ".join(f"{k} {v:.1%}" for k, v in c["raw_coverage"].items())
            typer.echo(f"90% intervals calibrated on {c['n']} simulations (raw coverage: {raw})")


@app.command()
def estimate(
    data: Path = typer.Argument(..., help="CSV or Parquet with columns x, y, z and optionally "
                                "dataset (one estimate per dataset) and replicate."),
    estimator: str = typer.Option(..., help="A saved estimator file or a shipped name "
                                  "(matern-irregular, matern-irregular-smoothness)."),
    out: Path = typer.Option(..., help="Where to write the estimates (.csv or .parquet)."),
):
    """Estimate parameters with a trained neural estimator: one row per dataset with each
    parameter and its 90% interval ({name}_lower, {name}_upper)."""
    import time

    from .neural.bundle import load_estimator

    with _reported_errors():
        df = read_table(data)
        est = load_estimator(estimator)
        t0 = time.perf_counter()
        table = est.estimate(df)
        write_table(table, out)
        typer.echo(f"{len(table)} dataset(s) estimated in {time.perf_counter() - t0:.2f} s; "
                   f"written to {out}")


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), help="Folder for the JSON, table and PNG map."),
    dataset: str = typer.Option("meuse", help="meuse (log zinc) or sic97 (Swiss rainfall)."),
    folds: int = typer.Option(10, help="Cross-validation folds."),
):
    """Fit a Matérn field to a bundled real dataset, cross-validate, map kriging mean and sd."""
    from .demo import run_demo

    try:
        run_demo(out, dataset=dataset, folds=folds)
    except (ValueError, KeyError) as e:
        _fail(str(e))


bench_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Benchmarks: fieldfit beside published results.")
app.add_typer(bench_app, name="bench")


@bench_app.command("heaton")
def bench_heaton(
    out: Path = typer.Option(Path("heaton-output"), help="Folder for the JSON and predictions."),
    engine: str = typer.Option("vecchia", help="Likelihood engine."),
    neighbours: int = typer.Option(30, help="Conditioning-set size m (vecchia engine only)."),
    dataset: str = typer.Option("both", help="simulated, satellite or both."),
    data_dir: Path = typer.Option(
        None, help="Read satellite.parquet / simulated_full.parquet from this folder instead "
        "of the bundled copies."),
    subsample: int = typer.Option(
        None, help="Quick run: fit on N random observed cells and predict N random cells to "
        "predict (not comparable with the published results)."),
    smoothness: float = typer.Option(None, help="Fix the Matérn smoothness (default: estimate)."),
    restarts: int = typer.Option(0, help="Optimiser restarts besides the data-driven start."),
    stderr: bool = typer.Option(False, help="Standard errors (autograd Hessian; expensive)."),
    seed: int = typer.Option(0, help="Seed of --subsample."),
    progress: bool = typer.Option(None, help="Show progress bars (default: on a terminal)."),
):
    """Heaton et al. (2019) case study: fit, predict and score the MODIS temperature data and
    its simulated twin; print fieldfit beside the competition's published results."""
    from .bench.heaton import DATASETS, run_heaton

    with _reported_errors():
        choice = dataset.strip().lower()
        if choice not in (*DATASETS, "both"):
            raise ValueError(f"unknown --dataset {dataset!r}; choose simulated, satellite or both")
        run_heaton(out, engine=engine, neighbours=neighbours,
                   datasets=DATASETS if choice == "both" else (choice,), data_dir=data_dir,
                   subsample=subsample, smoothness=smoothness, restarts=restarts, stderr=stderr,
                   seed=seed, progress=progress)


def main():  # pragma: no cover
    sys.exit(app())
