"""One registry of models and one factory: ``build(name, **options)``, ``available()``.

Every part of fieldfit that makes a model from a name goes through :func:`build`: the CLI
(``fit``, ``simulate``, ``train-estimator``), ``fieldfit bench`` and the neural simulation
specs (:class:`fieldfit.neural.simulation.ModelSpec`). A model describes itself with
``to_spec()`` (a plain dict: ``{"model": name, **options}``), and :func:`from_spec` rebuilds it,
in a Dask worker or from a saved estimator bundle.

Registered models (``available()``):

=====================  ==============================================================
``matern``             Gaussian field, Matérn covariance (``engine`` exact / vecchia; with
                       ``engine="spde"`` the Matérn SPDE field, α from the smoothness)
``exponential``        Gaussian field, exponential covariance
``gaussian``           Gaussian field, squared-exponential covariance
``separable``          space-time Gaussian field, Matérn(space) × exponential(time)
``gneiting``           space-time Gaussian field, Gneiting (2002) covariance
``matern-spde``        the Matérn SPDE field on a finite-element mesh (sparse precision)
``advection-diffusion``  the advection–diffusion SPDE of Clarotto et al. (2024)
=====================  ==============================================================

A new model is one :func:`register` call: a builder taking keyword options, the option names
it accepts with their defaults, and whether it is space-time. The contract test
(tests/test_contract.py) then runs it through fit, prediction, simulation and its spec.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..likelihood import engine_family, engine_spec, get_engine

#: options of the Vecchia engine that ``build`` accepts alongside the model's
VECCHIA_OPTIONS = ("neighbours", "pred_neighbours", "coarse_neighbours", "grouped", "ordering",
                   "seed")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder, the options it takes (with defaults) and what data it
    needs (``space_time``: points (x, y, t))."""

    name: str
    builder: Callable
    space_time: bool
    doc: str

    @property
    def options(self) -> dict:
        """The builder's keyword options and their defaults."""
        return {k: p.default for k, p in inspect.signature(self.builder).parameters.items()
                if p.kind is p.KEYWORD_ONLY}


MODELS: dict[str, ModelEntry] = {}


def register(name: str, space_time: bool = False, doc: str = ""):
    """Decorator: register ``builder(*, option=default, ...)`` under ``name``."""

    def deco(builder):
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = ModelEntry(name, builder, space_time, doc or (builder.__doc__ or ""))
        return builder

    return deco


def available() -> list[str]:
    """The registered model names."""
    return sorted(MODELS)


def entry(name: str) -> ModelEntry:
    try:
        return MODELS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {available()}") from None


def build(name: str, **options):
    """The model registered as ``name``, with ``options`` (ValueError for an unknown name or
    option, before anything is built)."""
    e = entry(name)
    known = e.options
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"model {e.name!r} takes the options {sorted(known)}, not {unknown}")
    model = e.builder(**options)
    return model


def from_spec(spec: Mapping):
    """Rebuild a model from ``model.to_spec()``: ``{"model": name, **options}``."""
    spec = dict(spec)
    if "model" not in spec:
        raise ValueError(f"a model spec needs a 'model' name, got keys {sorted(spec)}")
    return build(spec.pop("model"), **spec)


def is_space_time(name: str) -> bool:
    return entry(name).space_time


# --- the Gaussian fields ------------------------------------------------------------
def _vecchia(engine, **options) -> dict:
    """The Vecchia engine's options that were given (not None / False); ValueError when any
    is given for another engine."""
    given = {k: v for k, v in options.items() if v is not None and v is not False}
    if given and (not isinstance(engine, str) or engine != "vecchia"):
        raise ValueError(f"{sorted(given)} apply to the vecchia engine only, not {engine!r}")
    return given


def _gaussian_field(cov, *, mean, nugget, anisotropic, engine, profile_mean, vecchia):
    """A GaussianField with ``cov`` (made anisotropic on request) on the engine ``engine``
    with the Vecchia options ``vecchia`` (from :func:`_vecchia`)."""
    from ..covariance import Anisotropic
    from .gaussian_field import GaussianField

    if anisotropic:
        cov = Anisotropic(cov)
    return GaussianField(cov, mean=mean, nugget=nugget, profile_mean=profile_mean,
                         engine=get_engine(engine, **vecchia))


def _spde_options(mesh, mesh_max_edge, mesh_offset, mesh_cutoff) -> tuple:
    from ..spde import Mesh

    if mesh is not None and not isinstance(mesh, Mesh):
        m = dict(mesh)
        mesh = Mesh(np.asarray(m["nodes"], dtype=np.float64), np.asarray(m["cells"],
                                                                          dtype=np.int64))
    options = {}
    if mesh_max_edge is not None:
        edges = np.atleast_1d(np.asarray(mesh_max_edge, dtype=np.float64)).tolist()
        options["max_edge"] = edges[0] if len(edges) == 1 else tuple(edges)
    if mesh_offset is not None:
        options["offset"] = float(mesh_offset)
    if mesh_cutoff is not None:
        options["cutoff"] = float(mesh_cutoff)
    return mesh, options


@register("matern", doc="Gaussian field with a Matérn covariance (any ν > 0)")
def _matern(*, smoothness=None, mean="constant", nugget=True, anisotropic=False,
            engine="exact", profile_mean=True, neighbours=None, pred_neighbours=None,
            coarse_neighbours=None, grouped=False, ordering=None, seed=None, alpha=None,
            mesh=None, mesh_max_edge=None, mesh_offset=None, mesh_cutoff=None):
    from ..covariance import Matern

    vecchia = _vecchia(engine, neighbours=neighbours, pred_neighbours=pred_neighbours,
                       coarse_neighbours=coarse_neighbours, grouped=grouped, ordering=ordering,
                       seed=seed)
    if isinstance(engine, str) and engine_family(engine) == "precision":
        return _matern_spde(smoothness=smoothness, alpha=alpha, mean=mean, nugget=nugget,
                            anisotropic=anisotropic, profile_mean=profile_mean, mesh=mesh,
                            mesh_max_edge=mesh_max_edge, mesh_offset=mesh_offset,
                            mesh_cutoff=mesh_cutoff)
    spde_only = {"alpha": alpha, "mesh": mesh, "mesh_max_edge": mesh_max_edge,
                 "mesh_offset": mesh_offset, "mesh_cutoff": mesh_cutoff}
    given = sorted(k for k, v in spde_only.items() if v is not None)
    if given:
        raise ValueError(f"{given} apply to engine='spde' only, not {engine!r}")
    return _gaussian_field(Matern(smoothness=smoothness), mean=mean, nugget=nugget,
                           anisotropic=anisotropic, engine=engine, profile_mean=profile_mean,
                           vecchia=vecchia)


def _simple_covariance(cls):
    def builder(*, mean="constant", nugget=True, anisotropic=False, engine="exact",
                profile_mean=True, neighbours=None, pred_neighbours=None,
                coarse_neighbours=None, grouped=False, ordering=None, seed=None):
        if isinstance(engine, str) and engine_family(engine) == "precision":
            raise ValueError(f"the {engine!r} engine fits the Matérn SPDE model: use "
                             "model 'matern' (or 'matern-spde')")
        vecchia = _vecchia(engine, neighbours=neighbours, pred_neighbours=pred_neighbours,
                           coarse_neighbours=coarse_neighbours, grouped=grouped,
                           ordering=ordering, seed=seed)
        return _gaussian_field(cls(), mean=mean, nugget=nugget, anisotropic=anisotropic,
                               engine=engine, profile_mean=profile_mean, vecchia=vecchia)

    return builder


def _register_simple():
    from ..covariance import Exponential, Gaussian

    register("exponential", doc="Gaussian field with an exponential covariance")(
        _simple_covariance(Exponential))
    register("gaussian", doc="Gaussian field with a squared-exponential covariance")(
        _simple_covariance(Gaussian))


_register_simple()


def _space_time(make):
    def builder(*, mean="constant", nugget=True, engine="exact", profile_mean=True,
                neighbours=None, pred_neighbours=None, coarse_neighbours=None, grouped=False,
                ordering=None, seed=None):
        if isinstance(engine, str) and engine_family(engine) == "precision":
            raise ValueError(f"the {engine!r} engine is spatial (Matérn SPDE); space-time SPDE "
                             "fields: model 'advection-diffusion'")
        vecchia = _vecchia(engine, neighbours=neighbours, pred_neighbours=pred_neighbours,
                           coarse_neighbours=coarse_neighbours, grouped=grouped,
                           ordering=ordering, seed=seed)
        return _gaussian_field(make(), mean=mean, nugget=nugget, anisotropic=False,
                               engine=engine, profile_mean=profile_mean, vecchia=vecchia)

    return builder


def _register_space_time():
    from ..covariance import Exponential, Gneiting, Matern, Separable

    register("separable", space_time=True,
             doc="space-time Gaussian field, Matérn(space) × exponential(time)")(
        _space_time(lambda: Separable(Matern(), Exponential())))
    register("gneiting", space_time=True,
             doc="space-time Gaussian field, Gneiting (2002) covariance")(
        _space_time(Gneiting))


_register_space_time()


# --- the SPDE fields ------------------------------------------------------------
@register("matern-spde", doc="Matérn SPDE field on a finite-element mesh (sparse precision)")
def _matern_spde(*, smoothness=None, alpha=None, mean="constant", nugget=True,
                 anisotropic=False, profile_mean=True, mesh=None, mesh_max_edge=None,
                 mesh_offset=None, mesh_cutoff=None, engine="spde"):
    from .spde_field import SPDEField, alpha_for_smoothness

    if engine != "spde":
        raise ValueError(f"model 'matern-spde' runs on the spde engine, not {engine!r}")
    mesh, mesh_options = _spde_options(mesh, mesh_max_edge, mesh_offset, mesh_cutoff)
    d = mesh.dim if mesh is not None else 2
    if smoothness is not None:
        a = alpha_for_smoothness(smoothness, d)
        if alpha is not None and int(alpha) != a:
            raise ValueError(f"smoothness {smoothness:g} needs alpha = {a} in {d}-D, got "
                             f"alpha = {alpha}")
        alpha = a
    return SPDEField(mesh=mesh, alpha=2 if alpha is None else int(alpha), mean=mean,
                     nugget=nugget, profile_mean=profile_mean, anisotropic=anisotropic,
                     mesh_options=mesh_options)


@register("advection-diffusion", space_time=True,
          doc="advection–diffusion SPDE (Clarotto et al. 2024) on a mesh × a regular time grid")
def _advection_diffusion(*, alpha=1, alpha_s=1, dt=None, advection=True, anisotropic=False,
                         stabilization=True, mean="constant", nugget=True, profile_mean=True,
                         mesh=None, mesh_max_edge=None, mesh_offset=None, mesh_cutoff=None,
                         engine="spde"):
    from .advection_diffusion_field import AdvectionDiffusionField

    if engine not in ("spde", "exact"):  # "exact": the CLI's default engine name
        raise ValueError(f"model 'advection-diffusion' runs on the spde engine, not {engine!r}")
    mesh, mesh_options = _spde_options(mesh, mesh_max_edge, mesh_offset, mesh_cutoff)
    return AdvectionDiffusionField(mesh=mesh, dt=dt, alpha=1 if alpha is None else alpha,
                                   alpha_s=alpha_s, advection=advection,
                                   anisotropic=anisotropic, stabilization=stabilization,
                                   mean=mean, nugget=nugget, profile_mean=profile_mean,
                                   mesh_options=mesh_options)


# --- descriptions of built models ------------------------------------------------------------
def _covariance_spec(cov) -> dict:
    from ..covariance import Anisotropic, Exponential, Gaussian, Gneiting, Matern, Separable

    out = {}
    if isinstance(cov, Anisotropic):
        out["anisotropic"] = True
        cov = cov.base
    if type(cov) is Matern:
        if tuple(cov.smoothness_search) != (0.05, 30.0):
            raise ValueError("a Matérn with its own smoothness search box has no registered "
                             "description")
        return {"model": "matern", "smoothness": cov.smoothness, **out}
    if type(cov) is Exponential:
        return {"model": "exponential", **out}
    if type(cov) is Gaussian:
        return {"model": "gaussian", **out}
    if (type(cov) is Separable and type(cov.space) is Matern and cov.space.smoothness is None
            and type(cov.time) is Exponential):
        return {"model": "separable"}
    if type(cov) is Gneiting:
        return {"model": "gneiting"}
    raise ValueError(f"{cov!r} has no registered description (fieldfit.models.available())")


def gaussian_field_spec(model) -> dict:
    """``GaussianField.to_spec()``: the registered covariance, mean, nugget and engine."""
    from .mean import Mean

    spec = _covariance_spec(model.covariance)
    if not isinstance(model.mean, Mean) or model.mean.kind not in ("zero", "constant", "linear",
                                                                   "covariates",
                                                                   "linear+covariates"):
        raise ValueError(f"mean {model.mean!r} has no registered description")
    eng = engine_spec(model.engine)
    name = eng.pop("engine")
    eng.pop("chunk", None)
    spec.update(mean=model.mean.kind, nugget=model.nugget, profile_mean=model.profile_mean,
                engine=name)
    if name == "vecchia":
        spec.update(eng)
    return spec


def latent_gmrf_spec(model) -> dict:
    """``SPDEField`` / ``AdvectionDiffusionField`` ``.to_spec()``."""
    from .advection_diffusion_field import AdvectionDiffusionField
    from .spde_field import SPDEField

    mesh = None if model.mesh is None else {"nodes": np.asarray(model.mesh.nodes).tolist(),
                                            "cells": np.asarray(model.mesh.cells).tolist()}
    mo = dict(model.mesh_options)
    common = dict(mean=model.mean.kind, nugget=model.nugget, profile_mean=model.profile_mean,
                  mesh=mesh, mesh_max_edge=mo.pop("max_edge", None),
                  mesh_offset=mo.pop("offset", None), mesh_cutoff=mo.pop("cutoff", None))
    if mo:
        raise ValueError(f"mesh options {sorted(mo)} have no registered description")
    if isinstance(model, SPDEField):
        if any(f is not None for f in (model.kappa_field, model.tau_field, model.angle_field,
                                       model.ratio_field)):
            raise ValueError("nonstationary SPDE fields have no registered description yet")
        return {"model": "matern-spde", "alpha": model.alpha, "anisotropic": model.anisotropic,
                **common}
    if isinstance(model, AdvectionDiffusionField):
        o = dict(model.options)
        if o.pop("gamma_fields") is not None or o.pop("H_field") is not None:
            raise ValueError("nonstationary advection–diffusion fields have no registered "
                             "description yet")
        return {"model": "advection-diffusion", "dt": model.dt, **o, **common}
    raise ValueError(f"{model!r} has no registered description")


__all__ = ["MODELS", "ModelEntry", "available", "build", "entry", "from_spec", "is_space_time",
           "register"]
