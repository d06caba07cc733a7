"""What the commands share: one-line errors with exit code 2, one-line warnings, option
parsing, and the model that the options name."""

from __future__ import annotations

import contextlib
import math
import warnings

import typer

from ..errors import did_you_mean
from ..models import available, build
from ..models.registry import is_space_time


def _fail(msg: str) -> None:
    """Print ``error: <msg>`` to stderr and exit with status 2."""
    typer.secho(f"error: {msg}", fg="red", err=True)
    raise typer.Exit(code=2)


@contextlib.contextmanager
def _reported_errors():
    """A context in which bad input (ValueError, an unknown name's KeyError, a missing file)
    becomes a one-line error and exit code 2 instead of a traceback."""
    try:
        yield
    except KeyError as e:
        _fail(str(e.args[0]) if e.args else str(e))
    except (ValueError, FileNotFoundError) as e:
        _fail(str(e))


@contextlib.contextmanager
def plain_warnings():
    """A context in which Python warnings show as one line, ``warning: <message>``.

    The source file and line that Python adds mean nothing to a user of the command line;
    the previous warning filters and display are restored on leaving.

    Yields
    ------
    None
        Control, with the one-line display installed.
    """
    with warnings.catch_warnings():
        def show(message, category, filename, lineno, file=None, line=None):
            typer.secho(f"warning: {message}", fg="yellow", err=True)

        warnings.showwarning = show
        yield


def _split(text: str | None) -> list[str]:
    """The non-empty, stripped items of comma-separated ``text`` ([] for None)."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def _numbers(text: str | None, option: str | None = None) -> list[float] | None:
    """Comma-separated finite numbers (None for None); ValueError naming ``option`` (e.g.
    "--mesh-max-edge") for anything else."""
    if text is None:
        return None
    where = f"{option}: " if option else ""
    try:
        values = [float(v) for v in _split(text)]
    except ValueError:
        raise ValueError(f"{where}expected comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{where}expected comma-separated finite numbers, got {text!r}")
    return values


def build_from_cli(name: str, time: bool, options: dict, fixed: dict):
    """The model that ``--model NAME`` and the other options name.

    Built through :func:`fieldfit.models.build`: options left at None are the model's
    defaults, and those a model does not take are refused only when given. A fixed
    ``smoothness`` is passed to models that take it (the SPDE engine turns it into its order
    α).

    Parameters
    ----------
    name : str
        The registered model (``--model``).
    time : bool
        ``--time`` was given (the data are space-time).
    options : dict
        The model options by their builder names (``mean``, ``nugget``, ``engine``,
        ``neighbours``, ``alpha``, ``dt``, ``crs``, ...), None where not given.
    fixed : dict
        The ``--fix`` values.

    Returns
    -------
    Model
        The model (:class:`fieldfit.contract.Model`).

    Raises
    ------
    ValueError
        An unknown model, a space-time model without ``--time`` or a spatial one with it, an
        option for another engine (Vecchia's without ``--engine vecchia``, the SPDE's without
        the SPDE engine), or an option the model does not take; the message names the flags.
    """
    from ..models.registry import entry

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
    engine = given.get("engine") or accepted.get("engine") or "exact"
    spde = [k for k in ("alpha", "rational_order", "mesh_max_edge", "mesh_offset",
                        "mesh_cutoff")
            if given.get(k) is not None]
    if spde and engine != "spde":
        raise ValueError(f"--{spde[0].replace('_', '-')} applies to the SPDE engine only "
                         f"(--engine spde, or --model matern-spde), not {engine!r}")
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


def check_param_names(model, obs, given: dict, option: str) -> None:
    """Check that every name in ``given`` is a parameter of the model.

    Parameters
    ----------
    model : Model
        The model.
    obs : Observations
        The data (they fix the mean coefficients' names).
    given : dict
        The values given (``--fix``, ``--params``), by parameter name.
    option : str
        The option they came from, for the message.

    Raises
    ------
    ValueError
        An unknown name: the message names the option, suggests the closest name and lists
        every parameter, the mean coefficients included.
    """
    names = list(model.param_space(obs).names)
    names += [n for n in model.mean_names(obs) if n not in names]
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ValueError(f"{option}: unknown parameter {unknown[0]!r} of model "
                         f"{model.name!r}{did_you_mean(unknown[0], names)}; its parameters "
                         f"are {', '.join(names)}")
