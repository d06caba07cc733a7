"""Likelihood engines behind two interfaces, one registry.

Covariance engines (:class:`CovarianceEngine`: a covariance function and the points):

``exact``
    dense Cholesky, O(n³) — the reference every approximate engine is tested against.
``vecchia``
    Vecchia's approximation with m nearest earlier neighbours, O(n m³); exact at m = n − 1.

Precision engines (:class:`PrecisionEngine`: a sparse precision on a mesh, observed through a
projector; built by the model for each data set):

``spde``
    :class:`GMRFEngine`: sparse Cholesky (CHOLMOD) of Q and Q + AᵀA/τ².

``ENGINES`` maps each name to its class; :func:`engine_family` says which kind of model uses
it (``fieldfit.models.build`` picks the model from it: ``build("matern", engine="spde")`` is the
Matérn SPDE field).
"""

from ..errors import did_you_mean
from .base import CovarianceEngine, Engine, GaussianSpec, PrecisionEngine, Prediction
from .exact import ExactEngine, cholesky
from .gmrf import GMRFEngine
from .vecchia import VecchiaEngine

ENGINES: dict[str, type[Engine]] = {"exact": ExactEngine, "vecchia": VecchiaEngine,
                                    "spde": GMRFEngine}


def engine_family(name: str) -> str:
    """The family, "covariance" or "precision", of a registered engine name.

    Parameters
    ----------
    name : str
        Engine name, a key of ``ENGINES``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For an unknown name (with a suggestion).
    """
    try:
        return ENGINES[name].family
    except KeyError:
        raise ValueError(f"unknown engine {name!r}{did_you_mean(name, ENGINES)}; choose --engine "
                         f"{' | '.join(sorted(ENGINES))}") from None


def get_engine(engine: str | Engine = "exact", **options) -> Engine:
    """A covariance engine instance from its name (or the instance itself).

    Precision engines (``spde``) are built by their model for each data set (the mesh's
    pattern and the projector): ``fieldfit.models.build(name, engine="spde")`` gives that model.

    Parameters
    ----------
    engine : str or Engine, default "exact"
        Registered name, or an engine instance (returned as is).
    **options
        Constructor options of the named engine.

    Returns
    -------
    Engine

    Raises
    ------
    ValueError
        For an unknown name, a precision engine's name, or options given with an instance.
    """
    if isinstance(engine, Engine):
        if options:
            raise ValueError(f"engine options {sorted(options)} given with an engine instance")
        return engine
    if engine_family(engine) == "precision":
        raise ValueError(f"the {engine!r} engine is built by its model for each data set: use "
                         f"--model matern --engine {engine} (the Matérn SPDE field) or --model "
                         "advection-diffusion")
    return ENGINES[engine](**options)


def engine_spec(engine: Engine) -> dict:
    """The registry name and options that rebuild ``engine`` with :func:`get_engine`.

    Parameters
    ----------
    engine : Engine
        An engine instance.

    Returns
    -------
    dict
        ``{"engine": name, <option>: <value>, ...}``: :meth:`Engine.to_spec`.
    """
    return engine.to_spec()


__all__ = ["ENGINES", "CovarianceEngine", "Engine", "ExactEngine", "GMRFEngine", "GaussianSpec",
           "Prediction", "PrecisionEngine", "VecchiaEngine", "cholesky", "engine_family",
           "engine_spec", "get_engine"]
