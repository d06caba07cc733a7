"""The model contract as code: what every estimator may use of a model, a simulator, an engine.

fieldfit's estimators (:func:`fieldfit.fit`, :func:`fieldfit.krige`,
:func:`fieldfit.cross_validate`, :func:`fieldfit.conditional_simulation`, the neural simulation
specs) use models only through the members below, and no private member crosses a module
boundary. The registry (:func:`fieldfit.models.build`) makes every model from a name, and
``tests/test_contract.py`` runs each registered model through the same suite.

Shapes: ``obs`` an :class:`~fieldfit.data.Observations` (coords ``(n, d)``, values ``(n,)`` or
``(r, n)``); points ``(n, D)`` with D = d, or d + 1 for space-time models (the time last);
parameters a ``{name: value}`` mapping of natural values (0-d tensors where gradients flow).

Engines state their ``name``, ``family`` and ``hessian`` (:class:`Engine`); covariance engines
(:class:`CovarianceEngine`: exact, Vecchia) take a :class:`~fieldfit.likelihood.GaussianSpec`
and the points, precision engines (:class:`PrecisionEngine`: the SPDE/GMRF engine) a sparse
precision's values and a projector. Models own their engine: estimators never call one.

Models on a mesh and a time grid (the advection–diffusion field) declare the second contract,
:class:`MeshModel`, by ``mesh_model = True``: what ``fit``'s discretisation check and the
substeps and mesh searches use of them. Every model states ``mesh_model``, so estimators ask
the flag (:func:`require_mesh_model`) instead of probing for members.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import torch

from .data import Observations
from .likelihood.base import CovarianceEngine, Engine, PrecisionEngine
from .params import ParamSpace

if TYPE_CHECKING:
    from .spde.field_spec import FieldSpec
    from .spde.mesh import Mesh


@runtime_checkable
class Simulator(Protocol):
    """What amortized and simulation-based estimators need: parameters and seeded draws.

    Attributes
    ----------
    name : str
        The model's label (the registry's name for registered models).
    space_time : bool
        True when the points are (coordinates, time), the time last.

    Notes
    -----
    ``simulate(points, params, n_replicates, seed)`` returns ``(r, n)`` draws of the
    observations (noise included) at ``points (n, D)``; the same seed gives the same draws.
    ``to_spec()`` is a plain dict that :func:`fieldfit.models.from_spec` turns back into the
    model (a Dask worker, a saved bundle).
    """

    name: str
    space_time: bool

    def param_space(self, obs: Observations | None = None) -> ParamSpace:
        """The model's parameters.

        Parameters
        ----------
        obs : Observations or None
            The data (needed when the mean coefficients are parameters: their names).

        Returns
        -------
        ParamSpace
            Names, transforms, search boxes, priors and fixed values.
        """
        ...

    def simulate(self, points: np.ndarray, params: Mapping, n_replicates: int = 1,
                 seed: int | None = None) -> np.ndarray:
        """Seeded draws of the observations (noise included).

        Parameters
        ----------
        points : numpy.ndarray
            Points ``(n, D)``.
        params : Mapping
            Natural parameter values by name.
        n_replicates : int
            The number of independent draws.
        seed : int or None
            The seed; the same seed gives the same draws.

        Returns
        -------
        numpy.ndarray
            ``(n_replicates, n)``.
        """
        ...

    def to_spec(self) -> dict:
        """A plain dict that :func:`fieldfit.models.from_spec` rebuilds the model from."""
        ...


@runtime_checkable
class Model(Simulator, Protocol):
    """A model every estimator runs on.

    Attributes
    ----------
    engine_name : str
        The likelihood engine's registry name (a label of the result).
    hessian : str
        How ``fit`` takes Hessians: "autograd" or "differences".
    profile_mean : bool
        The mean coefficients are profiled out by GLS (not optimised).
    crs : str
        The coordinates: "planar" or "lonlat" (:data:`fieldfit.geo.CRS_CHOICES`); ranges
        of a lon/lat model are in kilometres.
    fields : Mapping[str, FieldSpec]
        The nonstationary parameters given as field specs (:mod:`fieldfit.spde.field_spec`),
        by name; empty for models without. Covariate fields read DATA columns.
    mesh_model : bool
        True when the model is a :class:`MeshModel` (a mesh and a time grid whose
        discretisation ``fit`` can check and refine); False for every other model.

    Notes
    -----
    Parameters and starts: ``param_space(obs)`` the estimated parameters
    (:class:`~fieldfit.params.ParamSpace`: names, transforms, search boxes, priors);
    ``initial_values(obs)`` a data-driven start; ``restart_values(obs, k)`` k spread starts;
    ``diameter(obs)`` the scale of the starting ranges and of the default range priors.

    Likelihood: ``log_likelihood(obs, params)`` a 0-d tensor differentiable in ``params``;
    ``check_data(obs)`` a ValueError, before any work, for data the model cannot take;
    ``mean_names(obs)``, ``estimate_mean(obs, params)`` (GLS coefficients and standard
    errors).

    What ``fit`` reads: ``name``, ``engine_name``, ``hessian``, ``coarse()`` (a cheaper copy
    to search on first, or None) and its ``coarse_label``.

    Prediction: ``points(obs)`` the points ``(n, D)`` the model sees;
    ``predict(obs, new_points, params, kind, noise, new_covariates)`` kriging mean and sd
    ``(m,)``; ``conditional_simulation(obs, new_points, params, n_samples, seed, kind)``
    draws ``(n_samples, m)``.

    Description: ``to_spec()`` / ``from_spec(spec)``.
    """

    engine_name: str
    hessian: str
    profile_mean: bool
    crs: str
    fields: Mapping[str, FieldSpec]
    mesh_model: bool

    def initial_values(self, obs: Observations) -> dict[str, float]:
        """A data-driven starting point.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        dict
            ``{name: natural value}``.
        """
        ...

    def restart_values(self, obs: Observations, k: int) -> list[dict[str, float]]:
        """Further starting points spread around :meth:`initial_values`.

        Parameters
        ----------
        obs : Observations
            The data.
        k : int
            How many.

        Returns
        -------
        list of dict
            ``k`` starting points.
        """
        ...

    def diameter(self, obs: Observations) -> float:
        """The largest distance between two locations, in the model's units.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        float
            In the coordinates' units, or chordal kilometres for ``crs="lonlat"``.
        """
        ...

    def log_likelihood(self, obs: Observations, params: Mapping) -> torch.Tensor:
        """The log-likelihood of the observed values.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            Natural parameter values by name (0-d tensors where gradients flow).

        Returns
        -------
        torch.Tensor
            0-d, differentiable in ``params``.

        Raises
        ------
        ValueError
            For a missing parameter or one outside its domain.
        """
        ...

    def check_data(self, obs: Observations) -> None:
        """Check, before any work, that the model can take the data.

        Parameters
        ----------
        obs : Observations
            The data.

        Raises
        ------
        ValueError
            Naming what the model cannot take.
        """
        ...

    def mean_names(self, obs: Observations) -> list[str]:
        """The names of the mean coefficients.

        Parameters
        ----------
        obs : Observations
            The data (its coordinate and covariate names).

        Returns
        -------
        list of str
            ``["mean"]`` for a constant mean, ``beta_<name>`` otherwise.
        """
        ...

    def estimate_mean(self, obs: Observations, params: Mapping) -> tuple[dict, dict]:
        """GLS estimates of the mean coefficients.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            Natural values of the other parameters.

        Returns
        -------
        tuple of dict
            The coefficients and their standard errors, by name.
        """
        ...

    def coarse(self) -> Model | None:
        """A cheaper copy for ``fit`` to search on first.

        Returns
        -------
        Model or None
            The copy, or None when the model has none.
        """
        ...

    def points(self, obs: Observations) -> np.ndarray:
        """The points the model sees.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        numpy.ndarray
            ``(n, D)``: the coordinates, and the time last for space-time models.
        """
        ...

    def predict(self, obs: Observations, new_points: np.ndarray, params: Mapping,
                kind: str = "universal", noise: bool = True,
                new_covariates: np.ndarray | None = None):
        """Kriging at new points.

        Parameters
        ----------
        obs : Observations
            The data.
        new_points : numpy.ndarray
            ``(m, D)``.
        params : Mapping
            Natural parameter values by name.
        kind : str
            "universal", "ordinary" or "simple".
        noise : bool
            Predict a new observation (nugget added) rather than the field.
        new_covariates : numpy.ndarray or None
            Covariates ``(m, q)`` of a mean with covariates.

        Returns
        -------
        tuple of numpy.ndarray
            Mean and sd, ``(m,)`` each.
        """
        ...

    def conditional_simulation(self, obs: Observations, new_points: np.ndarray,
                               params: Mapping, n_samples: int = 1, seed: int | None = None,
                               kind: str = "universal") -> np.ndarray:
        """Draws of the field at new points given the data.

        Parameters
        ----------
        obs : Observations
            The data.
        new_points : numpy.ndarray
            ``(m, D)``.
        params : Mapping
            Natural parameter values by name.
        n_samples : int
            The number of draws.
        seed : int or None
            The seed of the draws.
        kind : str
            "universal", "ordinary" or "simple" (how the mean is treated).

        Returns
        -------
        numpy.ndarray
            ``(n_samples, m)``.
        """
        ...


@runtime_checkable
class MeshModel(Model, Protocol):
    r"""The second contract: a latent field on a spatial mesh and a regular time grid.

    What :func:`fieldfit.fit` 's callers use of a model whose estimates depend on its
    discretisation: the discretisation check after a fit (``fieldfit fit``), the substeps
    and mesh searches (:func:`fieldfit.fit.substeps.fit_auto_substeps`). A model declares
    it with ``mesh_model = True`` (:class:`~fieldfit.models.AdvectionDiffusionField`);
    estimators ask that flag, never probe for the members.

    Attributes
    ----------
    mesh_model : bool
        True: the declaration.
    mesh : Mesh or None
        The given spatial :class:`~fieldfit.spde.Mesh`, or None for an automatic mesh built
        per data set from ``mesh_options``.
    mesh_options : dict
        The ``Mesh.from_points`` options of the automatic mesh (``max_edge``, ``offset``,
        ``cutoff``).
    substeps : int
        Model time steps per observation step (≥ 1; the states in between are latent).

    Notes
    -----
    Methods, ``obs`` an :class:`~fieldfit.data.Observations` with times:

    - ``mesh_for(obs)``: the :class:`~fieldfit.spde.Mesh` the model uses on ``obs``
      (nodes ``(n_nodes, 2)``, triangles ``(n_cells, 3)``): ``mesh``, or the automatic one.
    - ``time_grid(obs)``: ``(t0, dt, n_t)`` of the model's time grid, the observation step
      cut into ``substeps``.
    - ``with_discretisation(**attributes)``: a copy with discretisation attributes replaced
      (``mesh``, ``mesh_options``, ``substeps``, ``coarsening``) and its caches emptied;
      parameters and options shared.
    - ``refined(obs, kind)``: ``(model, settings)``, a copy refined in ``kind`` ("time":
      twice the substeps; "mesh": every edge divided by :math:`\sqrt{2}`, about twice the
      nodes), or None for "mesh" on a given mesh; ``settings`` a dict of what changed.
    - ``discretisation_check(obs, params, fix, hessian, refine)``: the shift of the
      estimates ``params`` under the refinements ``refine`` (one Newton step each), as a
      dict with ``"refined": {kind: {"shift", "shift_se", "estimates", ...}}``, ``"shift"``,
      ``"shift_se"`` and ``"mesh_nodes"``.
    - ``continuum_correction(obs, params, fix, hessian)``: the estimates of the continuous model
      whose discretised fit ``params`` are (the discretisation's bias removed), as a dict
      with ``"estimates"``, ``"shift"`` and ``"window"``; ValueError where the model has no
      continuum reference.
    """

    mesh: Mesh | None
    mesh_options: dict
    substeps: int

    def mesh_for(self, obs: Observations) -> Mesh:
        """The mesh the model uses on the data.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        Mesh
            ``mesh``, or the automatic mesh built from the observed locations (once per data
            set).
        """
        ...

    def time_grid(self, obs: Observations) -> tuple[float, float, int]:
        """The model's regular time grid on the data.

        Parameters
        ----------
        obs : Observations
            The data (with times).

        Returns
        -------
        tuple
            ``(t0, dt, n_t)``: first time, model step (the observation step over
            ``substeps``) and number of steps.
        """
        ...

    def with_discretisation(self, **attributes) -> MeshModel:
        """A copy with discretisation attributes replaced and its caches emptied.

        Parameters
        ----------
        **attributes
            New values of ``mesh``, ``mesh_options``, ``substeps`` or ``coarsening``.

        Returns
        -------
        MeshModel
            The copy (parameters and options shared with the model).

        Raises
        ------
        AttributeError
            For a name that is not a discretisation attribute.
        """
        ...

    def refined(self, obs: Observations, kind: str) -> tuple[MeshModel, dict] | None:
        """A copy with a finer discretisation.

        Parameters
        ----------
        obs : Observations
            The data.
        kind : str
            "time" (twice the substeps) or "mesh" (edges divided by √2).

        Returns
        -------
        tuple or None
            ``(model, settings)``, or None for "mesh" on a given mesh.

        Raises
        ------
        ValueError
            For an unknown ``kind``.
        """
        ...

    def discretisation_check(self, obs: Observations, params: Mapping,
                             fix: Mapping[str, float] | None = None, hessian=None,
                             refine=("time", "mesh")) -> dict:
        """The estimates' shift under refined discretisations.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            The estimates (natural values).
        fix : Mapping or None
            The parameters held fixed in the fit.
        hessian : numpy.ndarray or None
            The fit's Hessian ``(k, k)`` in the free unconstrained parameters, or None to
            compute it.
        refine : tuple of str
            The refinements: "time" and/or "mesh".

        Returns
        -------
        dict
            ``"refined": {kind: {"estimates", "shift", "shift_se", ...}}``, ``"shift"``,
            ``"shift_se"``, ``"mesh_nodes"``, ``"substeps"`` and more (see the model).
        """
        ...

    def continuum_correction(self, obs: Observations, params: Mapping,
                             fix: Mapping[str, float] | None = None, hessian=None) -> dict:
        """The estimates of the continuous model whose discretised fit ``params`` are.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            The fit's estimates (natural values).
        fix : Mapping or None
            The parameters held fixed in the fit.
        hessian : numpy.ndarray or None
            The fit's −∇²ℓ in the free unconstrained parameters, or None.

        Returns
        -------
        dict
            ``"estimates"`` (natural values of the free parameters), ``"shift"`` (relative
            changes), ``"window"`` (the design computed on) and more (see the model).

        Raises
        ------
        ValueError
            Where the model has no continuum reference (nonstationary fields).
        """
        ...


#: the members :func:`check_model` asks of every model
MODEL_MEMBERS = ("name", "space_time", "engine_name", "hessian", "profile_mean", "crs",
                 "fields", "mesh_model", "param_space", "initial_values", "restart_values",
                 "diameter", "log_likelihood", "check_data", "mean_names", "estimate_mean",
                 "coarse", "points", "predict", "conditional_simulation", "simulate",
                 "to_spec")

#: the members a model declaring ``mesh_model = True`` offers beyond :data:`MODEL_MEMBERS`
MESH_MODEL_MEMBERS = ("mesh", "mesh_options", "substeps", "mesh_for", "time_grid",
                      "with_discretisation", "refined", "discretisation_check",
                      "continuum_correction")


def _missing(model, members) -> list[str]:
    return [m for m in members if not hasattr(model, m)]


def check_model(model) -> None:
    """Check that ``model`` offers the model contract (and, if it declares it, the mesh one).

    ``isinstance(model, Model)`` checks presence only, not signatures; this names what is
    missing.

    Parameters
    ----------
    model : object
        The model to check.

    Raises
    ------
    TypeError
        Naming the members of :class:`Model` (and of :class:`MeshModel` for a model with
        ``mesh_model`` True) that ``model`` lacks.
    """
    members = _missing(model, MODEL_MEMBERS)
    if members:
        raise TypeError(f"{type(model).__name__} does not offer the model contract: it lacks "
                        f"{members} (see fieldfit.contract.Model)")
    if model.mesh_model:
        members = _missing(model, MESH_MODEL_MEMBERS)
        if members:
            raise TypeError(f"{type(model).__name__} declares mesh_model but lacks {members} "
                            "(see fieldfit.contract.MeshModel)")


def require_mesh_model(model: Model, what: str) -> MeshModel:
    """``model`` itself if it declares the mesh contract, else a ValueError naming ``what``.

    Parameters
    ----------
    model : Model
        A model of the contract.
    what : str
        What needs the mesh contract (an option such as ``"--substeps auto"``), for the
        message.

    Returns
    -------
    MeshModel
        ``model``.

    Raises
    ------
    ValueError
        When ``model.mesh_model`` is False.
    """
    if not model.mesh_model:
        raise ValueError(f"{what} needs a time-stepped model on a mesh (advection-diffusion), "
                         f"not {model.name!r}")
    return model


__all__ = ["CovarianceEngine", "Engine", "MESH_MODEL_MEMBERS", "MODEL_MEMBERS", "MeshModel",
           "Model", "PrecisionEngine", "Simulator", "check_model", "require_mesh_model"]
