"""What the SPDE models share: a latent GMRF observed with Gaussian noise, y = Xβ + A x + ε.

:class:`LatentGMRFModel` implements the model contract (``param_space``, ``log_likelihood``,
``estimate_mean``, ``predict``, ``conditional_simulation``) once, on top of four hooks a
subclass provides:

- ``_specs()``: the precision's parameters (the nugget is added here);
- ``spde_for(obs)``: an object with ``precision_values(p)`` and ``precision_and_logdet(p)``;
- ``engine_for(obs)``: the :class:`~fieldfit.likelihood.gmrf.GMRFEngine` of the data;
- ``_targets(obs, new_points, p)``: (precision object, engine, A₀, spatial coordinates) for
  prediction points (a space-time model may extend its time grid there);

and ``_check_obs(obs)`` (what kind of data it accepts). The mean is a function of the spatial
coordinates and covariates.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import torch

from ..data import Observations
from ..params import Param, ParamSpace
from ..spde import Mesh
from .gaussian_field import nugget_specs, ols_residual_variance, with_mean_params
from .mean import Mean


def data_key(x: np.ndarray) -> bytes:
    """A digest of an array: the key of the caches of meshes and engines per data set.

    Parameters
    ----------
    x : numpy.ndarray
        Any array.

    Returns
    -------
    bytes
        A 16-byte BLAKE2b digest of its bytes.
    """
    return hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest()


KINDS = ("universal", "ordinary", "simple")


class LatentGMRFModel:
    r"""A latent Gaussian Markov random field observed with noise: what the SPDE models share.

    .. math::

        y = X\beta + A x + \varepsilon, \qquad x \sim N(0, Q(\theta)^{-1}), \qquad
        \varepsilon \sim N(0, \tau^2 I)

    with :math:`A` the projector of the mesh's basis functions to the data (Lindgren, Rue &
    Lindström 2011). Implements the model contract once on the hooks of the module
    docstring.

    Parameters
    ----------
    mean : str or Mean
        The mean (a function of the spatial coordinates and covariates).
    nugget : bool or float
        True (estimated) or a positive fixed :math:`\tau^2` (a nugget is needed: the
        likelihood goes through :math:`Q + A^T A/\tau^2`).
    profile_mean : bool
        Profile the mean coefficients out by GLS (default).

    Raises
    ------
    ValueError
        Without a nugget.

    References
    ----------
    F. Lindgren, H. Rue and J. Lindström, An explicit link between Gaussian fields and
    Gaussian Markov random fields: the SPDE approach, JRSS B 73 (2011), 423-498.
    """

    def __init__(self, mean: str | Mean = "constant", nugget: bool | float = True,
                 profile_mean: bool = True):
        if nugget is False or (nugget is not True and not float(nugget) > 0):
            raise ValueError("the SPDE engine needs a nugget (estimated, or fixed at a value "
                             "> 0; drop --no-nugget): its likelihood goes through Q + AᵀA/τ²")
        self.nugget = nugget
        self.mean = mean if isinstance(mean, Mean) else Mean(mean)
        self.profile_mean = profile_mean
        self.mesh: Mesh | None = None
        self.mesh_options: dict = {}
        #: > 1 for the coarse copy that ``fit`` searches on first (:meth:`coarse`)
        self.coarsening = 1.0
        self._cache: dict = {}

    #: the engine's registry name: the precision engine :class:`~fieldfit.likelihood.GMRFEngine`
    engine_name = "spde"
    #: Hessians by differences of the gradient (the gmrf backward passes are first order)
    hessian = "differences"
    #: planar coordinates only (the meshes are planar)
    crs = "planar"
    #: nonstationary parameters given as field specs (none by default)
    fields: Mapping = MappingProxyType({})
    #: not a :class:`~fieldfit.contract.MeshModel` unless a subclass declares it
    mesh_model = False
    #: the attributes :meth:`with_discretisation` may replace
    discretisation_attributes: tuple[str, ...] = ("mesh", "mesh_options", "coarsening")

    @property
    def coarse_label(self) -> str:
        """What :meth:`coarse` is, for ``fit``'s messages."""
        return f"a {self.coarsening:g}× coarser mesh"

    def check_data(self, obs: Observations) -> None:
        """Check, before any work, that the model can take the data.

        Repeated measurements at one location are fine: the nugget is positive.

        Parameters
        ----------
        obs : Observations
            The data.

        Raises
        ------
        ValueError
            For data of the wrong kind (times, dimension, covariate columns).
        """
        self._check_obs(obs)

    def diameter(self, obs: Observations) -> float:
        """The largest distance between two observed locations (planar coordinates).

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        float
            ``obs.diameter()``.
        """
        return float(obs.diameter())

    def points(self, obs: Observations) -> np.ndarray:
        """The points the model sees.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        numpy.ndarray
            The coordinates ``(n, d)``, with the time last for space-time models.

        Raises
        ------
        ValueError
            For data the model cannot take.
        """
        self._check_obs(obs)
        return obs.points if obs.times is not None else obs.coords

    def to_spec(self) -> dict:
        """The registry name and options that rebuild this model.

        Returns
        -------
        dict
            ``{"model": name, **options}`` (:func:`fieldfit.models.from_spec`).

        Raises
        ------
        ValueError
            When the model has no registered description (subclasses describe themselves).
        """
        raise ValueError(f"{self!r} has no registered description")

    def _mesh_spec(self) -> dict:
        """The options every latent-GMRF model's spec shares: the mean, nugget and the mesh
        (a given mesh as its nodes and cells, or the automatic mesh's options)."""
        mesh = None if self.mesh is None else {"nodes": np.asarray(self.mesh.nodes).tolist(),
                                               "cells": np.asarray(self.mesh.cells).tolist()}
        mo = dict(self.mesh_options)
        common = dict(mean=self.mean.kind, nugget=self.nugget, profile_mean=self.profile_mean,
                      mesh=mesh, mesh_max_edge=mo.pop("max_edge", None),
                      mesh_offset=mo.pop("offset", None), mesh_cutoff=mo.pop("cutoff", None))
        if mo:
            raise ValueError(f"mesh options {sorted(mo)} have no registered description")
        return common

    @classmethod
    def from_spec(cls, spec):
        """Rebuild a model from its :meth:`to_spec`.

        Parameters
        ----------
        spec : Mapping
            ``{"model": name, **options}``.

        Returns
        -------
        Model
            :func:`fieldfit.models.from_spec` of ``spec``.
        """
        from .registry import from_spec

        return from_spec(spec)

    # --- meshes ----------------------------------------------------------------------------------
    def _auto_mesh(self, points: np.ndarray) -> Mesh:
        """``Mesh.from_points(points, **mesh_options)``, once per data set; on the coarse copy
        the edges are ``coarsening`` times longer and data points closer than half the inner
        edge share a node (else every data point stays a node)."""
        key = ("mesh", data_key(points), self.coarsening)
        if key not in self._cache:
            opts = dict(self.mesh_options)
            if self.coarsening != 1.0:
                diam = float(np.linalg.norm(points.max(0) - points.min(0)))
                me = np.atleast_1d(np.asarray(opts.get("max_edge", (diam / 30, diam / 10)),
                                              dtype=np.float64))
                me = np.repeat(me, 2) if me.size == 1 else me
                me = me * self.coarsening
                opts["max_edge"] = tuple(me)
                # data points within half an edge share a node, but the cutoff must stay
                # below the mesh's extension beyond the hull (default 0.2 · diameter)
                offset = float(opts.get("offset") or 0.2 * diam)
                opts["cutoff"] = min(max(float(opts.get("cutoff") or 0.0), me[0] / 2),
                                     0.5 * offset)
            self._cache[key] = Mesh.from_points(points, **opts)
        return self._cache[key]

    def with_discretisation(self, **attributes):
        """A copy with discretisation attributes replaced and its caches emptied.

        The one way refinements, coarse copies and sub-stepping are made; the parameters,
        fields and options are shared with ``self``.

        Parameters
        ----------
        **attributes
            New values of the attributes :attr:`discretisation_attributes` names
            (``mesh``, ``mesh_options``, ``coarsening``, and a subclass's own, such as
            ``substeps``).

        Returns
        -------
        LatentGMRFModel
            The copy, with empty caches (meshes, patterns, engines).

        Raises
        ------
        AttributeError
            For a name that is not a discretisation attribute.
        """
        unknown = [k for k in attributes if k not in self.discretisation_attributes]
        if unknown:
            raise AttributeError(f"{type(self).__name__} has no discretisation attribute "
                                 f"{unknown}")
        other = copy.copy(self)
        other._cache = {}
        for k, v in attributes.items():
            setattr(other, k, v)
        return other

    def coarse(self):
        """A copy on a coarser mesh, for ``fit`` to search on before the asked mesh.

        The edges are twice longer (and data points merged within half an edge): about 4×
        fewer nodes in 2-D. Parameters are defined on the continuum, so the coarse optimum
        is a close start. A given 2-D mesh is coarsened by :meth:`Mesh.coarsened`.

        Returns
        -------
        LatentGMRFModel or None
            The copy, or None for a given 1-D mesh (and on the coarse copy itself).
        """
        if self.coarsening != 1.0 or (self.mesh is not None and self.mesh.dim != 2):
            return None
        return self.with_discretisation(
            coarsening=2.0, mesh=None if self.mesh is None else self.mesh.coarsened(2.0))

    # --- hooks ---------------------------------------------------------------------------------
    def _specs(self) -> list[Param]:
        raise NotImplementedError

    def _check_obs(self, obs: Observations) -> None:
        raise NotImplementedError

    def spde_for(self, obs: Observations):
        """The precision of the data set (a hook: subclasses give it).

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        object
            With ``precision_values(p)`` and ``precision_and_logdet(p)``.
        """
        raise NotImplementedError

    def engine_for(self, obs: Observations):
        """The likelihood engine of the data set (a hook: subclasses give it).

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        GMRFEngine
            The engine of the precision's pattern and the data's projector.
        """
        raise NotImplementedError

    def _targets(self, obs, new_points, p):
        raise NotImplementedError

    # --- parameters -------------------------------------------------------------------------
    def mean_names(self, obs: Observations) -> list[str]:
        """The names of the mean coefficients.

        Parameters
        ----------
        obs : Observations
            The data (its coordinate and covariate names).

        Returns
        -------
        list of str
            :meth:`Mean.names` of the data's names.
        """
        return self.mean.names(obs.coord_names, obs.covariate_names or ())

    def _all_specs(self) -> list[Param]:
        return self._specs() + nugget_specs(self.nugget)

    def param_space(self, obs: Observations | None = None) -> ParamSpace:
        """The precision's parameters, ``nugget``, and the mean coefficients unless profiled.

        Parameters
        ----------
        obs : Observations or None
            The data (needed for the mean coefficients' names when they are parameters).

        Returns
        -------
        ParamSpace
            The parameters.
        """
        return with_mean_params(self._all_specs(), self.profile_mean,
                                None if obs is None else lambda: self.mean_names(obs))

    def _check(self, params: Mapping) -> dict[str, torch.Tensor]:
        return ParamSpace(self._all_specs()).complete(params)

    def _arrays(self, obs: Observations):
        """Observed values ``(r, n)`` and the mean design ``(n, p)`` as tensors."""
        self._check_obs(obs)
        mask = obs.observed
        vals = obs.values_2d[:, mask]
        if np.isnan(vals).any():
            raise ValueError("replicates are missing at different locations")
        cov = obs.covariates[mask] if obs.covariates is not None else None
        X = self.mean.design(obs.coords[mask], cov)
        return torch.from_numpy(np.array(vals, dtype=np.float64)), torch.from_numpy(
            np.array(X, dtype=np.float64))

    def _residual_variance(self, obs: Observations) -> float:
        """var(y − Xβ̂_OLS): the scale of the starting values."""
        y, X = self._arrays(obs)
        return ols_residual_variance(y.numpy(), X.numpy())

    def _beta(self, obs, p):
        names = self.mean_names(obs)
        if self.profile_mean or not names:
            return None
        missing = [n for n in names if n not in p]
        if missing:
            raise ValueError(f"missing values of the mean coefficients {missing}")
        return torch.stack([p[n] for n in names])

    def _simple_beta(self, obs, p, kind):
        if kind not in KINDS:
            raise ValueError(f"unknown kriging kind {kind!r}; choose one of {KINDS}")
        names = self.mean_names(obs)
        if kind == "ordinary" and self.mean.kind != "constant":
            raise ValueError("ordinary kriging needs a constant mean; use universal kriging")
        if kind == "simple" and names:
            missing = [n for n in names if n not in p]
            if missing:
                raise ValueError(f"simple kriging needs the mean coefficients {missing}")
            return torch.stack([p[n] for n in names])
        return None

    # --- the model contract -------------------------------------------------------------------
    def log_likelihood(self, obs: Observations, params: Mapping) -> torch.Tensor:
        """The log-likelihood of the observed values, through the GMRF engine.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            0-d, differentiable in ``params``.

        Raises
        ------
        ValueError
            For a missing parameter or one outside its domain, or data the model cannot
            take.
        """
        p = self._check(params)
        y, X = self._arrays(obs)
        q, logdet_q = self.spde_for(obs).precision_and_logdet(p)
        return self.engine_for(obs).log_likelihood(q, p["nugget"], y, X, beta=self._beta(obs, p),
                                                   logdet_q=logdet_q)

    def estimate_mean(self, obs: Observations, params: Mapping) -> tuple[dict, dict]:
        """GLS coefficients and their standard errors at given precision parameters.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            Natural values of the precision parameters and the nugget.

        Returns
        -------
        tuple of dict
            The coefficients and their standard errors by name (empty for a zero mean).
        """
        names = self.mean_names(obs)
        if not names:
            return {}, {}
        p = self._check(params)
        y, X = self._arrays(obs)
        with torch.no_grad():
            beta, cov = self.engine_for(obs).gls(self.spde_for(obs).precision_values(p),
                                                 p["nugget"], y, X)
        se = torch.sqrt(torch.diagonal(cov))
        return (dict(zip(names, beta.tolist(), strict=True)),
                dict(zip(names, se.tolist(), strict=True)))

    def _prepare(self, obs, new_points, params, kind, new_covariates):
        p = self._check(params)
        beta = self._simple_beta(obs, p, kind)
        new_points = np.atleast_2d(np.asarray(new_points, dtype=np.float64))
        if not np.isfinite(new_points).all():
            raise ValueError("prediction points contain NaN or infinite coordinates")
        spde, engine, A0, coords = self._targets(obs, new_points, p)
        y, X = self._arrays(obs)
        X0 = self.mean.design(coords, new_covariates)
        return p, beta, spde.precision_values(p), engine, A0, X0, y, X

    def predict(self, obs: Observations, new_points, params: Mapping, kind: str = "universal",
                noise: bool = True, new_covariates=None):
        """Posterior (kriging) mean and standard deviation at new points.

        Parameters
        ----------
        obs : Observations
            The data.
        new_points : numpy.ndarray
            ``(m, D)``, as :meth:`points`.
        params : Mapping
            Natural parameter values by name.
        kind : str
            "universal" (β̂ by GLS, its uncertainty included), "ordinary" (the same for a
            constant mean) or "simple" (β from ``params``).
        noise : bool
            Of a new observation (τ² added) rather than of the field.
        new_covariates : numpy.ndarray or None
            Covariates ``(m, q)`` of a mean with covariates.

        Returns
        -------
        tuple of numpy.ndarray
            Mean and sd, ``(m,)`` each (``(r, m)`` for replicated data).

        Raises
        ------
        ValueError
            For an unknown ``kind``, ordinary kriging without a constant mean, or
            non-finite points.
        """
        with torch.no_grad():
            p, beta, q, engine, A0, X0, y, X = self._prepare(obs, new_points, params, kind,
                                                             new_covariates)
            mean, var = engine.predict(q, p["nugget"], y, X, A0, X0, beta=beta, noise=noise)
        sd = np.broadcast_to(np.sqrt(np.clip(var, 0.0, None)), mean.shape).copy()
        return (mean[0], sd[0]) if mean.shape[0] == 1 else (mean, sd)

    def conditional_simulation(self, obs: Observations, new_points, params: Mapping,
                               n_samples: int = 1, seed: int | None = None,
                               kind: str = "universal", noise: bool = False,
                               new_covariates=None) -> np.ndarray:
        """Draws of the field at new points given the data, exact for the discretised model.

        (:meth:`GMRFEngine.conditional_simulation`: universal kriging draws β from its GLS
        distribution, simple kriging takes it from ``params``.) Single replicate only.

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
            "universal", "ordinary" or "simple" (:meth:`predict`).
        noise : bool
            Draws of new observations rather than of the field.
        new_covariates : numpy.ndarray or None
            Covariates ``(m, q)`` of a mean with covariates.

        Returns
        -------
        numpy.ndarray
            ``(n_samples, m)``.

        Raises
        ------
        ValueError
            For an unknown ``kind`` or bad points.
        """
        with torch.no_grad():
            p, beta, q, engine, A0, X0, y, X = self._prepare(obs, new_points, params, kind,
                                                             new_covariates)
            return engine.conditional_simulation(q, p["nugget"], y, X, A0, X0, n_samples,
                                                 np.random.default_rng(seed), beta=beta,
                                                 noise=noise)

    def _add_mean_and_noise(self, draws, coords, params, p, seed, noise, coord_names):
        """Simulated field values ``(r, n)`` plus Xβ (``mean`` / ``beta_*`` in ``params``) and
        the nugget noise."""
        names = self.mean.names(coord_names or [f"x{i}" for i in range(coords.shape[1])], ())
        if names:
            missing = [n for n in names if n not in params]
            if missing:
                raise ValueError(f"simulation needs the mean coefficients {missing}")
            draws = draws + self.mean.design(coords, None) @ np.array(
                [float(params[n]) for n in names])
        if noise:
            rng = np.random.default_rng(None if seed is None else seed + 1)
            draws = draws + np.sqrt(float(p["nugget"])) * rng.standard_normal(draws.shape)
        return draws


__all__ = ["KINDS", "LatentGMRFModel", "data_key"]
