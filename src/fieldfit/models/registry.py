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

Options are checked when the model is built, before any data are read, and errors name them
as the CLI does (``--alpha``, ``--mesh-max-edge``, ``--neighbours``). Unknown model and engine
names list every registered one and suggest the closest. ``crs`` ("planar" or "lonlat",
:data:`fieldfit.geo.CRS_CHOICES`) is taken by every model. The covariance models use chordal
distances in km on lon/lat; the SPDE models refuse lon/lat (their meshes are planar).

A new model is one :func:`register` call: a builder taking keyword options, the option names
it accepts with their defaults, and whether it is space-time. The contract test
(tests/test_contract.py) then runs it through fit, prediction, simulation and its spec.
A new covariance is one :func:`fieldfit.covariance.register_covariance` decorator: the
Gaussian field with it is then a model under the covariance's name (its constructor options
beside the field's), unless a model of that name is registered itself.

Each model and covariance describes itself (``to_spec``); this module holds no switch over
their types. :func:`from_spec` rebuilds any of them through :func:`build`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import did_you_mean
from ..likelihood import engine_family, get_engine

#: options of the Vecchia engine that ``build`` accepts alongside the model's
VECCHIA_OPTIONS = ("neighbours", "pred_neighbours", "coarse_neighbours", "grouped", "ordering",
                   "seed")


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder, the options it takes and what data it needs.

    Parameters
    ----------
    name : str
        The registry name.
    builder : callable
        ``builder(*, option=default, ...)`` returns the model.
    space_time : bool
        The model's points are (x, y, t).
    doc : str
        A one-line description.
    """

    name: str
    builder: Callable
    space_time: bool
    doc: str

    @property
    def options(self) -> dict:
        """The builder's keyword options and their defaults, ``{name: default}``."""
        return {k: p.default for k, p in inspect.signature(self.builder).parameters.items()
                if p.kind is p.KEYWORD_ONLY}


#: the models registered by :func:`register`, by name
MODELS: dict[str, ModelEntry] = {}
#: the Gaussian-field models derived from registered covariances, by (name, class)
_DERIVED: dict[tuple, ModelEntry] = {}


def register(name: str, space_time: bool = False, doc: str = ""):
    """Decorator: register ``builder(*, option=default, ...)`` under ``name``.

    Parameters
    ----------
    name : str
        The model's registry name.
    space_time : bool
        The model's points are (coordinates, time).
    doc : str
        A one-line description (default: the builder's docstring).

    Returns
    -------
    callable
        The decorator; it returns the builder unchanged.

    Raises
    ------
    ValueError
        When ``name`` is already registered.
    """

    def deco(builder):
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = ModelEntry(name, builder, space_time, doc or (builder.__doc__ or ""))
        return builder

    return deco


def _covariance_models() -> dict[str, ModelEntry]:
    """The models of registered covariances that have no model of their own: a Gaussian
    field with the covariance, built from its constructor options and the field's."""
    from ..covariance import COVARIANCES

    out = {}
    for name, cls in COVARIANCES.items():
        if name in MODELS:
            continue
        key = (name, cls)
        if key not in _DERIVED:
            _DERIVED[key] = ModelEntry(name, _covariance_builder(cls, name),
                                       bool(cls.time_dims),
                                       f"Gaussian field with the covariance {cls.__name__}")
        out[name] = _DERIVED[key]
    return out


def available() -> list[str]:
    """The registered model names.

    Returns
    -------
    list of str
        Sorted: those of :func:`register` and of registered covariances.
    """
    return sorted(set(MODELS) | set(_covariance_models()))


def closest(name: str, choices) -> str:
    """:func:`fieldfit.errors.did_you_mean` for a name of the lower-case registries.

    Parameters
    ----------
    name : str
        The name given.
    choices : iterable of str
        The registered names.

    Returns
    -------
    str
        A " (did you mean ...?)" suffix, or "".
    """
    return did_you_mean(str(name).lower(), choices)


def entry(name: str) -> ModelEntry:
    """The registered model ``name`` (case-insensitive).

    Parameters
    ----------
    name : str
        A model name (:func:`available`).

    Returns
    -------
    ModelEntry
        Its builder, options and kind.

    Raises
    ------
    ValueError
        For an unknown name, listing every registered model and suggesting the closest one.
    """
    key = str(name).lower()
    found = MODELS.get(key) or _covariance_models().get(key)
    if found is None:
        raise ValueError(f"unknown model {name!r}{closest(name, available())}; choose one of "
                         f"{', '.join(available())}")
    return found


def build(name: str, **options):
    """The model registered as ``name``, with ``options``.

    Parameters
    ----------
    name : str
        A model name (:func:`available`).
    **options
        The model's options (:attr:`ModelEntry.options`).

    Returns
    -------
    Model
        The model built.

    Raises
    ------
    ValueError
        For an unknown name or option (before anything is built), or a bad option value.
    """
    e = entry(name)
    known = e.options
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"model {e.name!r} takes the options {sorted(known)}, not {unknown}")
    model = e.builder(**options)
    return model


def from_spec(spec: Mapping):
    """Rebuild a model from ``model.to_spec()``.

    Parameters
    ----------
    spec : Mapping
        ``{"model": name, **options}``.

    Returns
    -------
    Model
        ``build(name, **options)``.

    Raises
    ------
    ValueError
        For a spec without a ``"model"`` name, or with an unknown name or option.
    """
    spec = dict(spec)
    if "model" not in spec:
        raise ValueError(f"a model spec needs a 'model' name, got keys {sorted(spec)}")
    return build(spec.pop("model"), **spec)


def is_space_time(name: str) -> bool:
    """Whether the model ``name`` is a space-time one.

    Parameters
    ----------
    name : str
        A model name (:func:`available`).

    Returns
    -------
    bool
        True when its points are (coordinates, time).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    return entry(name).space_time


# --- option checks ------------------------------------------------------------------
def _flags(names) -> str:
    """The command-line spelling of option names: ``--mesh-max-edge, --alpha``."""
    return ", ".join("--" + {"dt": "time-step"}.get(k, k.replace("_", "-")) for k in names)


def _verb(names) -> str:
    return "applies" if len(names) == 1 else "apply"


def _check_engine(engine) -> None:
    """ValueError for an engine name that is not registered (all names listed, the closest
    suggested); engine instances pass."""
    if isinstance(engine, str):
        from ..likelihood import ENGINES

        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}{closest(engine, ENGINES)}; choose "
                             f"--engine {' | '.join(sorted(ENGINES))}")


def _check_crs(crs, planar_only: str | None = None) -> str:
    """``crs`` checked (:data:`fieldfit.geo.CRS_CHOICES`); with ``planar_only`` (what needs
    planar coordinates) "lonlat" is refused with what to do instead."""
    from ..geo import check_crs

    crs = check_crs(crs)
    if crs == "lonlat" and planar_only:
        raise ValueError(f"{planar_only} needs planar coordinates, not --crs lonlat: project "
                         "lon/lat to a local planar CRS (e.g. UTM, in km) first"
                         + (", or use --engine exact or vecchia" if "SPDE engine" in planar_only
                            else ", or use --model separable or gneiting, which take --crs "
                            "lonlat"))
    return crs


def _positive_number(value, flag: str, allow_zero: bool = False) -> float:
    """``float(value)``, finite and > 0 (≥ 0 with ``allow_zero``), else a ValueError naming the
    option ``flag``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (np.isfinite(v) and (v >= 0 if allow_zero else v > 0)):
        need = "a non-negative number" if allow_zero else "a positive number"
        raise ValueError(f"{flag} must be {need}, got {value!r}")
    return v


def _max_edge(value) -> float | tuple[float, float]:
    """``--mesh-max-edge``: one positive number (both regions) or two, ``inner,outer`` (a
    sequence, or text "0.1,0.5")."""
    items = value.split(",") if isinstance(value, str) else np.atleast_1d(
        np.asarray(value, dtype=object)).tolist()
    if not 1 <= len(items) <= 2:
        raise ValueError(f"--mesh-max-edge must be one or two positive numbers (inside,outside "
                         f"the data's hull), got {value!r}")
    try:
        edges = [float(v) for v in items]
    except (TypeError, ValueError):
        edges = [float("nan")]
    if not all(np.isfinite(e) and e > 0 for e in edges):
        raise ValueError(f"--mesh-max-edge must be one or two positive numbers (inside,outside "
                         f"the data's hull), got {value!r}")
    return edges[0] if len(edges) == 1 else tuple(edges)


# --- the Gaussian fields ------------------------------------------------------------
def _vecchia(engine, **options) -> dict:
    """The Vecchia engine's options that were given (not None / False); ValueError when any
    is given for another engine."""
    _check_engine(engine)
    given = {k: v for k, v in options.items() if v is not None and v is not False}
    if given and (not isinstance(engine, str) or engine != "vecchia"):
        raise ValueError(f"{_flags(sorted(given))} {_verb(given)} to --engine vecchia only, not "
                         f"{engine!r}")
    return given


def _gaussian_field(cov, *, mean, nugget, anisotropic, engine, profile_mean, vecchia,
                    crs="planar"):
    """A GaussianField with ``cov`` (made anisotropic on request) on the engine ``engine``
    with the Vecchia options ``vecchia`` (from :func:`_vecchia`), in the coordinates ``crs``."""
    from ..covariance import Anisotropic
    from .gaussian_field import GaussianField

    crs = _check_crs(crs)
    if anisotropic:
        if crs == "lonlat":
            raise ValueError("--anisotropic is not available with --crs lonlat: geometric "
                             "anisotropy needs planar coordinates (project lon/lat to a local "
                             "planar CRS in km, or drop --anisotropic)")
        cov = Anisotropic(cov)
    return GaussianField(cov, mean=mean, nugget=nugget, profile_mean=profile_mean,
                         engine=get_engine(engine, **vecchia), crs=crs)


def _spde_options(mesh, mesh_max_edge, mesh_offset, mesh_cutoff) -> tuple:
    """The mesh (a Mesh, or its ``{"nodes", "cells"}`` description) and the checked
    ``Mesh.from_points`` options; a bad option is a ValueError naming it (``--mesh-…``)."""
    from ..spde import Mesh

    if mesh is not None and not isinstance(mesh, Mesh):
        m = dict(mesh)
        mesh = Mesh(np.asarray(m["nodes"], dtype=np.float64), np.asarray(m["cells"],
                                                                          dtype=np.int64))
    options = {}
    if mesh_max_edge is not None:
        options["max_edge"] = _max_edge(mesh_max_edge)
    if mesh_offset is not None:
        options["offset"] = _positive_number(mesh_offset, "--mesh-offset")
    if mesh_cutoff is not None:
        options["cutoff"] = _positive_number(mesh_cutoff, "--mesh-cutoff", allow_zero=True)
    if "offset" in options and "cutoff" in options and options["cutoff"] >= options["offset"]:
        raise ValueError(f"--mesh-cutoff ({options['cutoff']:g}) must be smaller than "
                         f"--mesh-offset ({options['offset']:g})")
    return mesh, options


def _integer(value, flag: str, allowed, note: str = "") -> int:
    """``int(value)`` if it is an integer in ``allowed``, else a ValueError naming ``flag``
    (and ``note``, why)."""
    try:
        ok = float(value) == int(float(value)) and int(float(value)) in allowed
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        words = [str(a) for a in allowed]
        need = (", ".join(words[:-1]) + " or " + words[-1] if len(words) <= 3
                else f"an integer ≥ {min(allowed)}")
        raise ValueError(f"{flag} must be {need}{note}, got {value!r}")
    return int(float(value))


@register("matern", doc="Gaussian field with a Matérn covariance (any ν > 0)")
def _matern(*, smoothness=None, mean="constant", nugget=True, anisotropic=False,
            engine="exact", profile_mean=True, neighbours=None, pred_neighbours=None,
            coarse_neighbours=None, grouped=False, ordering=None, seed=None, alpha=None,
            rational_order=None, mesh=None, mesh_max_edge=None, mesh_offset=None,
            mesh_cutoff=None, crs="planar", fields=None):
    from ..covariance import Matern

    vecchia = _vecchia(engine, neighbours=neighbours, pred_neighbours=pred_neighbours,
                       coarse_neighbours=coarse_neighbours, grouped=grouped, ordering=ordering,
                       seed=seed)
    if isinstance(engine, str) and engine_family(engine) == "precision":
        return _matern_spde(smoothness=smoothness, alpha=alpha, rational_order=rational_order,
                            mean=mean, nugget=nugget, anisotropic=anisotropic,
                            profile_mean=profile_mean, mesh=mesh, mesh_max_edge=mesh_max_edge,
                            mesh_offset=mesh_offset, mesh_cutoff=mesh_cutoff, crs=crs,
                            fields=fields)
    spde_only = {"alpha": alpha, "rational_order": rational_order, "mesh": mesh,
                 "field": fields or None,
                 "mesh_max_edge": mesh_max_edge,
                 "mesh_offset": mesh_offset, "mesh_cutoff": mesh_cutoff}
    given = sorted(k for k, v in spde_only.items() if v is not None)
    if given:
        raise ValueError(f"{_flags(given)} {_verb(given)} to --engine spde only, not "
                         f"{engine!r}")
    return _gaussian_field(Matern(smoothness=smoothness), mean=mean, nugget=nugget,
                           anisotropic=anisotropic, engine=engine, profile_mean=profile_mean,
                           vecchia=vecchia, crs=crs)


def _simple_covariance(cls, name):
    def builder(*, mean="constant", nugget=True, anisotropic=False, engine="exact",
                profile_mean=True, neighbours=None, pred_neighbours=None,
                coarse_neighbours=None, grouped=False, ordering=None, seed=None,
                crs="planar"):
        _check_engine(engine)
        if isinstance(engine, str) and engine_family(engine) == "precision":
            raise ValueError(f"--engine {engine} fits the Matérn SPDE field only: use --model "
                             f"matern (or matern-spde), or --engine exact or vecchia for "
                             f"--model {name}")
        vecchia = _vecchia(engine, neighbours=neighbours, pred_neighbours=pred_neighbours,
                           coarse_neighbours=coarse_neighbours, grouped=grouped,
                           ordering=ordering, seed=seed)
        return _gaussian_field(cls(), mean=mean, nugget=nugget, anisotropic=anisotropic,
                               engine=engine, profile_mean=profile_mean, vecchia=vecchia,
                               crs=crs)

    return builder


def _register_simple():
    from ..covariance import Exponential, Gaussian

    register("exponential", doc="Gaussian field with an exponential covariance")(
        _simple_covariance(Exponential, "exponential"))
    register("gaussian", doc="Gaussian field with a squared-exponential covariance")(
        _simple_covariance(Gaussian, "gaussian"))


_register_simple()


def _space_time(make):
    def builder(*, mean="constant", nugget=True, engine="exact", profile_mean=True,
                neighbours=None, pred_neighbours=None, coarse_neighbours=None, grouped=False,
                ordering=None, seed=None, crs="planar"):
        _check_engine(engine)
        if isinstance(engine, str) and engine_family(engine) == "precision":
            raise ValueError(f"--engine {engine} is spatial (the Matérn SPDE field); the "
                             "space-time SPDE field is --model advection-diffusion")
        vecchia = _vecchia(engine, neighbours=neighbours, pred_neighbours=pred_neighbours,
                           coarse_neighbours=coarse_neighbours, grouped=grouped,
                           ordering=ordering, seed=seed)
        return _gaussian_field(make(), mean=mean, nugget=nugget, anisotropic=False,
                               engine=engine, profile_mean=profile_mean, vecchia=vecchia,
                               crs=crs)

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


def _covariance_builder(cls, name: str):
    """The builder of the Gaussian field with the registered covariance ``cls``: its
    constructor options (those with defaults) beside the field's options (those of the
    exponential model, or of the separable one for a space-time covariance)."""
    field = (_space_time(None) if cls.time_dims else _simple_covariance(None, name))
    field_params = list(inspect.signature(field).parameters.values())
    taken = {p.name for p in field_params}
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
           for p in inspect.signature(cls).parameters.values()
           if p.default is not p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    clash = sorted(p.name for p in own if p.name in taken)
    if clash:
        raise ValueError(f"covariance {name!r}: its options {clash} clash with the Gaussian "
                         "field's")

    def builder(**options):
        cov_options = {p.name: options.pop(p.name, p.default) for p in own}
        cov = cls.from_options(**cov_options)
        make = _space_time(lambda: cov) if cls.time_dims else _simple_covariance(
            lambda: cov, name)
        return make(**options)

    builder.__signature__ = inspect.Signature(field_params + own)
    builder.__doc__ = f"Gaussian field with the registered covariance {cls.__name__}."
    return builder


@register("matern2", doc="the sum of two independent Matérn fields, a long range and a "
          "short one (exact, Vecchia or SPDE engine)")
def _matern2(*, smoothness=None, smoothness_short=None, mean="constant", nugget=True,
             anisotropic=False, engine="exact", profile_mean=True, neighbours=None,
             pred_neighbours=None, coarse_neighbours=None, grouped=False, ordering=None,
             seed=None, alpha=None, mesh=None, mesh_max_edge=None, mesh_offset=None,
             mesh_cutoff=None, crs="planar"):
    """:class:`~fieldfit.covariance.TwoScaleMatern` on the exact or Vecchia engine; on the
    SPDE engine two SPDE fields of one integer order (:class:`~fieldfit.spde.two_scale.
    TwoScaleMaternSPDE`), ν = α − d/2 for both."""
    from ..covariance import TwoScaleMatern

    if isinstance(engine, str) and engine_family(engine) == "precision":
        from .spde_field import SPDEField, alpha_for_smoothness

        _check_crs(crs, "the SPDE engine (a planar finite-element mesh)")
        if anisotropic:
            raise ValueError("--anisotropic is not available for matern2 with --engine spde")
        mesh, mesh_options = _spde_options(mesh, mesh_max_edge, mesh_offset, mesh_cutoff)
        d = mesh.dim if mesh is not None else 2
        nus = {v for v in (smoothness, smoothness_short) if v is not None}
        if len(nus) > 1:
            raise ValueError("matern2 with --engine spde has one smoothness for both parts "
                             f"(one SPDE order), got {sorted(nus)}")
        if nus:
            a = alpha_for_smoothness(nus.pop(), d)
            if alpha is not None and alpha != a:
                raise ValueError(f"the smoothness needs --alpha {a} in {d}-D, got --alpha "
                                 f"{alpha}")
            alpha = a
        if alpha is not None:
            alpha = _integer(alpha, "--alpha", range(d // 2 + 1, 1000),
                             f" (the smoothness ν = α − d/2 must be positive; here d = {d})")
        return SPDEField(mesh=mesh, alpha=2 if alpha is None else alpha, mean=mean,
                         nugget=nugget, profile_mean=profile_mean, mesh_options=mesh_options,
                         two_scale=True)
    spde_only = {"alpha": alpha, "mesh": mesh, "mesh_max_edge": mesh_max_edge,
                 "mesh_offset": mesh_offset, "mesh_cutoff": mesh_cutoff}
    given = sorted(k for k, v in spde_only.items() if v is not None)
    if given:
        raise ValueError(f"{_flags(given)} {_verb(given)} to --engine spde only, not "
                         f"{engine!r}")
    if anisotropic:
        raise ValueError("--anisotropic is not available for matern2: the two parts are "
                         "isotropic")
    vecchia = _vecchia(engine, neighbours=neighbours, pred_neighbours=pred_neighbours,
                       coarse_neighbours=coarse_neighbours, grouped=grouped, ordering=ordering,
                       seed=seed)
    return _gaussian_field(TwoScaleMatern(smoothness, smoothness_short), mean=mean,
                           nugget=nugget, anisotropic=False, engine=engine,
                           profile_mean=profile_mean, vecchia=vecchia, crs=crs)


# --- the SPDE fields ------------------------------------------------------------
@register("matern-spde", doc="Matérn SPDE field on a finite-element mesh (sparse precision)")
def _matern_spde(*, smoothness=None, alpha=None, rational_order=None,
                 estimate_smoothness=None, mean="constant", nugget=True, anisotropic=False,
                 profile_mean=True, mesh=None, mesh_max_edge=None, mesh_offset=None,
                 mesh_cutoff=None, engine="spde", crs="planar", fields=None,
                 two_scale=False):
    """``two_scale``: :func:`_matern2`'s SPDE model (its description's name). ``fields``:
    nonstationary κ, τ, anisotropy as ``--field`` specs
    (:data:`fieldfit.spde.field_spec.MATERN_SPDE_FIELDS`). α integer: the integer-order
    model; a smoothness ν with α = ν + d/2 not an integer, or ``rational_order`` without a
    smoothness (ν estimated, ν + d/2 in [α, α + 1)), the rational approximation
    (:class:`~fieldfit.spde.fractional.FractionalMaternSPDE`)."""
    from ..spde.fractional import band_limits
    from .spde_field import SPDEField, alpha_for_smoothness

    if engine != "spde":
        raise ValueError(f"model 'matern-spde' runs on --engine spde, not {engine!r}")
    if two_scale:
        return _matern2(smoothness=smoothness, alpha=alpha, mean=mean, nugget=nugget,
                        anisotropic=anisotropic, engine=engine, profile_mean=profile_mean,
                        mesh=mesh, mesh_max_edge=mesh_max_edge, mesh_offset=mesh_offset,
                        mesh_cutoff=mesh_cutoff, crs=crs)
    _check_crs(crs, "the SPDE engine (a planar finite-element mesh)")
    mesh, mesh_options = _spde_options(mesh, mesh_max_edge, mesh_offset, mesh_cutoff)
    d = mesh.dim if mesh is not None else 2
    if rational_order is not None:
        rational_order = _integer(rational_order, "--rational-order", range(1, 5),
                                  " (1 to 4)")
    if estimate_smoothness is None:  # the CLI's: a rational order and no fixed smoothness
        estimate_smoothness = rational_order is not None and smoothness is None
    if alpha is not None:
        # the integer model: ν = α − d/2 > 0 (α ≥ 2 in 2-D and 3-D, α ≥ 1 in 1-D); a band of
        # the rational approximation: ν + d/2 in [α, α + 1) with ν > 0 (α ≥ d // 2)
        low = d // 2 if estimate_smoothness else d // 2 + 1
        alpha = _integer(alpha, "--alpha", range(low, 1000),
                         f" (the smoothness ν = α − d/2 must be positive; here d = {d})")
    common = dict(mesh=mesh, mean=mean, nugget=nugget, profile_mean=profile_mean,
                  anisotropic=anisotropic, mesh_options=mesh_options, fields=fields)
    if estimate_smoothness:
        band = alpha if alpha is not None else d // 2
        if smoothness is None:
            smoothness = sum(band_limits(band, d)) / 2.0
        return SPDEField(smoothness=smoothness, estimate_smoothness=True,
                         rational_order=rational_order or 2, **common)
    if smoothness is not None:
        a = float(smoothness) + d / 2.0
        if abs(a - round(a)) > 1e-9:             # a fractional order
            if alpha is not None:
                raise ValueError(f"--fix smoothness={smoothness:g} is a fractional order "
                                 f"α = {a:g} in {d}-D: leave --alpha out")
            return SPDEField(smoothness=smoothness, rational_order=rational_order or 2,
                             **common)
        a = alpha_for_smoothness(smoothness, d)
        if alpha is not None and alpha != a:
            raise ValueError(f"--fix smoothness={smoothness:g} needs --alpha {a} in {d}-D "
                             f"(ν = α − d/2), got --alpha {alpha}")
        alpha = a
    return SPDEField(alpha=2 if alpha is None else alpha, **common)


@register("advection-diffusion", space_time=True,
          doc="advection–diffusion SPDE (Clarotto et al. 2024) on a mesh × a regular time grid")
def _advection_diffusion(*, alpha=1, alpha_s=1, dt=None, advection=True, anisotropic=False,
                         stabilization=True, mean="constant", nugget=True, profile_mean=True,
                         mesh=None, mesh_max_edge=None, mesh_offset=None, mesh_cutoff=None,
                         engine="spde", crs="planar", fields=None, substeps=None, theta=None,
                         simulator="mesh", spectral_points=None):
    """``fields``: nonstationary γ, H, κ as ``--field`` specs (:mod:`fieldfit.spde.field_spec`:
    ``{"gamma": "bspline:4x4"}``, ``["gamma=bspline:4x4", "kappa=covariates:elev"]`` or parsed
    ``FieldSpec`` s); ``simulator``: how ``simulate`` draws, "mesh" (time stepping) or
    "spectral" (the continuum, exactly); ``spectral_points``: the spectral simulator's grid
    points per range (default 16)."""
    from ..spde.field_spec import parse_field_specs
    from .advection_diffusion_field import AdvectionDiffusionField

    fields = parse_field_specs(fields) or None  # checked before anything else is built

    if engine not in ("spde", "exact"):  # "exact": the CLI's default engine name
        _check_engine(engine)
        raise ValueError(f"model 'advection-diffusion' runs on --engine spde, not {engine!r}")
    _check_crs(crs, "the advection-diffusion model (a planar finite-element mesh)")
    mesh, mesh_options = _spde_options(mesh, mesh_max_edge, mesh_offset, mesh_cutoff)
    alpha = 1 if alpha is None else _integer(alpha, "--alpha", (1, 2))
    alpha_s = _integer(alpha_s, "--alpha-s", (0, 1, 2))
    if dt is not None:
        dt = _positive_number(dt, "--time-step")
    # --substeps / --theta: model steps per observation step, time scheme (None: defaults)
    extra = {} if substeps is None else {"substeps": substeps}
    if theta is not None:
        extra["theta"] = _positive_number(theta, "--theta")
    return AdvectionDiffusionField(mesh=mesh, dt=dt, alpha=alpha, **extra,
                                   alpha_s=alpha_s, advection=advection,
                                   anisotropic=anisotropic, stabilization=stabilization,
                                   mean=mean, nugget=nugget, profile_mean=profile_mean,
                                   mesh_options=mesh_options, fields=fields,
                                   simulator=simulator,
                                   **({} if spectral_points is None
                                      else {"spectral_points": spectral_points}))


__all__ = ["MODELS", "ModelEntry", "available", "build", "entry", "from_spec", "is_space_time",
           "register"]
