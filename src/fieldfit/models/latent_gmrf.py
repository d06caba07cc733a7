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
    """A digest of an array (caches of meshes and engines per data set)."""
    return hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest()


KINDS = ("universal", "ordinary", "simple")


class LatentGMRFModel:
    """y = Xβ + A x + ε, x ~ N(0, Q(θ)⁻¹), ε ~ N(0, τ²I): the shared contract (module doc)."""

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
        return f"a {self.coarsening:g}× coarser mesh"

    def check_data(self, obs: Observations) -> None:
        """ValueError, before any work, for data the model cannot take (repeated measurements
        at one location are fine: the nugget is positive)."""
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
        """The points the model sees: the coordinates (with the time for space-time models)."""
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
        """A copy with discretisation attributes replaced (``mesh``, ``mesh_options``,
        ``coarsening``, and the model's own, such as ``substeps``) and its caches (meshes,
        patterns) emptied: the one way refinements, coarse copies and sub-stepping are made.
        The parameters, fields and options are shared with ``self``."""
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
        """A copy on a mesh with twice longer edges (and data points merged within half an
        edge), for ``fit`` to search on before the asked mesh: about 4× fewer nodes in 2-D, so
        an order of magnitude cheaper evaluations; parameters are defined on the continuum,
        so the coarse optimum is a close start. A given 2-D mesh is coarsened by
        :meth:`Mesh.coarsened`; None for a given 1-D mesh (and on the coarse copy itself)."""
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
        raise NotImplementedError

    def engine_for(self, obs: Observations):
        raise NotImplementedError

    def _targets(self, obs, new_points, p):
        raise NotImplementedError

    # --- parameters -------------------------------------------------------------------------
    def mean_names(self, obs: Observations) -> list[str]:
        return self.mean.names(obs.coord_names, obs.covariate_names or ())

    def _all_specs(self) -> list[Param]:
        return self._specs() + nugget_specs(self.nugget)

    def param_space(self, obs: Observations | None = None) -> ParamSpace:
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
        p = self._check(params)
        y, X = self._arrays(obs)
        q, logdet_q = self.spde_for(obs).precision_and_logdet(p)
        return self.engine_for(obs).log_likelihood(q, p["nugget"], y, X, beta=self._beta(obs, p),
                                                   logdet_q=logdet_q)

    def estimate_mean(self, obs: Observations, params: Mapping) -> tuple[dict, dict]:
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
        """Posterior (kriging) mean and sd at ``new_points``: ``(m,)`` arrays (``(r, m)`` for
        replicates). ``kind``: "universal" (β̂ by GLS, its uncertainty included), "ordinary"
        (the same for a constant mean) or "simple" (β from ``params``); ``noise``: of a new
        observation (τ² added) or of the field."""
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
        """Draws ``(n_samples, m)`` of the field (``noise``: of new observations) at
        ``new_points`` given the data, exact for the discretised model
        (:meth:`GMRFEngine.conditional_simulation`: universal kriging draws β from its GLS
        distribution, simple kriging takes it from ``params``). Single replicate only."""
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
