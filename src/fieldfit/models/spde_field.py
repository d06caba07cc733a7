"""The Matérn field of the SPDE approach, observed with noise: the model behind ``--engine spde``.

    y(s) = X(s) β + x(s) + ε(s),    x = Σ_k ψ_k(s) w_k,  w ~ N(0, Q(θ)⁻¹),  ε ~ N(0, τ²)

Q(θ) is the finite-element precision of τ(κ² − ∇·H∇)^{α/2} x = W (:class:`~fieldfit.spde.
matern.MaternSPDE`), ψ_k the P1 hat functions of a mesh (Lindgren, Rue & Lindström 2011). It
offers the same contract as :class:`~.gaussian_field.GaussianField` (``param_space``,
``log_likelihood``, ``estimate_mean``, ``predict``, ``simulate``), so :func:`fieldfit.fit.fit`
and the CLI use it unchanged. Parameter names follow DESIGN.md: ``variance``, ``range``,
``nugget`` (and ``angle``, ``ratio``); the smoothness ν = α − d/2 is fixed by α.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import torch

from ..data import Observations
from ..gmrf import Pattern
from ..likelihood.gmrf import GMRFEngine
from ..params import Param, ParamSpace, positive, real
from ..spde import Mesh
from ..spde.matern import MaternSPDE, spde_param_specs
from .gaussian_field import spread_starts
from .mean import Mean


class _EngineInfo:
    """What ``fit`` reads of a model's engine (its name, how to take Hessians)."""

    name = "spde"
    hessian = "differences"


def _key(x: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(x).tobytes(), digest_size=16).digest()


class SPDEField:
    """y = Xβ + Σψ_k w_k + ε with w ~ N(0, Q⁻¹), Q the Matérn SPDE precision on a mesh.

    Parameters
    ----------
    mesh : a :class:`~fieldfit.spde.Mesh` (None: built from the observed points with
        ``Mesh.from_points(points, **mesh_options)``, once per data set)
    alpha : the SPDE order (2: ν = 1 in 2-D)
    mean, nugget, profile_mean : as :class:`~.gaussian_field.GaussianField` (the nugget is
        needed: the likelihood goes through Q + AᵀA/τ²)
    anisotropic, kappa_field, tau_field : see :class:`~fieldfit.spde.matern.MaternSPDE`
    """

    def __init__(self, mesh: Mesh | None = None, alpha: int = 2, mean: str | Mean = "constant",
                 nugget: bool | float = True, profile_mean: bool = True,
                 anisotropic: bool = False, kappa_field=None, tau_field=None,
                 mesh_options: Mapping | None = None):
        if nugget is False or (nugget is not True and not float(nugget) > 0):
            raise ValueError("the SPDE model needs a positive nugget (estimated, or a fixed "
                             "value > 0): its likelihood goes through Q + AᵀA/τ²")
        self.mesh, self.alpha, self.nugget = mesh, int(alpha), nugget
        self.mean = mean if isinstance(mean, Mean) else Mean(mean)
        self.profile_mean = profile_mean
        self.anisotropic, self.kappa_field, self.tau_field = anisotropic, kappa_field, tau_field
        self.mesh_options = dict(mesh_options or {})
        self.engine = _EngineInfo()
        self._spde: dict = {}
        self._engines: dict = {}

    name = "matern-spde"

    def __repr__(self):
        return (f"SPDEField(alpha={self.alpha}, mean={self.mean.kind!r}, "
                f"anisotropic={self.anisotropic}, mesh={self.mesh!r})")

    # --- mesh, precision and engine per data set ------------------------------------------
    def mesh_for(self, obs: Observations) -> Mesh:
        if self.mesh is not None:
            return self.mesh
        key = _key(obs.coords[obs.observed])
        if key not in self._spde:
            self._spde[key] = Mesh.from_points(obs.coords[obs.observed], **self.mesh_options)
        return self._spde[key]

    def spde_for(self, obs: Observations) -> MaternSPDE:
        mesh = self.mesh_for(obs)
        key = ("spde", id(mesh))
        if key not in self._engines:
            self._engines[key] = MaternSPDE(mesh, self.alpha, self.anisotropic,
                                            self.kappa_field, self.tau_field)
        return self._engines[key]

    def engine_for(self, obs: Observations) -> GMRFEngine:
        spde = self.spde_for(obs)
        key = ("engine", id(spde), _key(obs.coords[obs.observed]))
        if key not in self._engines:
            A = self.mesh_for(obs).projector(obs.coords[obs.observed])
            self._engines[key] = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n), A)
        return self._engines[key]

    def _points(self, obs: Observations) -> np.ndarray:
        if obs.times is not None:
            raise ValueError("the SPDE Matérn model is spatial: the points have times")
        return obs.coords

    # --- parameters -------------------------------------------------------------------------
    def mean_names(self, obs: Observations) -> list[str]:
        return self.mean.names(obs.coord_names, obs.covariate_names or ())

    def _specs(self, obs=None) -> list[Param]:
        specs = spde_param_specs(self.anisotropic, self.kappa_field, self.tau_field)
        if self.nugget is True:
            specs.append(Param("nugget", positive, 0.1, doc="noise variance τ²"))
        else:
            specs.append(Param("nugget", positive, float(self.nugget), fixed=True))
        return specs

    def param_space(self, obs: Observations | None = None) -> ParamSpace:
        specs = self._specs()
        if not self.profile_mean:
            if obs is None:
                raise ValueError("the mean coefficients' names depend on the data: pass obs")
            specs += [Param(n, real, 0.0) for n in self.mean_names(obs)]
        return ParamSpace(specs)

    def _arrays(self, obs: Observations):
        if obs.dim != 2 and self.mesh is None:
            raise ValueError("the automatic SPDE mesh is 2-D: give a Mesh for other dimensions")
        if obs.times is not None:
            raise ValueError("the SPDE Matérn model is spatial: the data have times")
        mask = obs.observed
        vals = obs.values_2d[:, mask]
        if np.isnan(vals).any():
            raise ValueError("replicates are missing at different locations")
        cov = obs.covariates[mask] if obs.covariates is not None else None
        X = self.mean.design(obs.coords[mask], cov)
        return torch.from_numpy(np.array(vals, dtype=np.float64)), torch.from_numpy(
            np.array(X, dtype=np.float64))

    def initial_values(self, obs: Observations) -> dict[str, float]:
        y, X = self._arrays(obs)
        yn, Xn = y.numpy(), X.numpy()
        resid = yn - (Xn @ np.linalg.lstsq(Xn, yn.T, rcond=None)[0]).T if Xn.shape[1] else yn
        var = float(np.var(resid)) or 1.0
        out = {}
        if self.tau_field is None:
            out["variance"] = 0.9 * var
        if self.kappa_field is None:
            out["range"] = obs.diameter() / 10.0
        if self.nugget is True:
            out["nugget"] = 0.1 * var
        return out

    def restart_values(self, obs: Observations, k: int) -> list[dict[str, float]]:
        return spread_starts(self.initial_values(obs), k)

    def _check(self, params: Mapping) -> dict[str, torch.Tensor]:
        return ParamSpace(self._specs()).complete(params)

    def _beta(self, obs, p):
        names = self.mean_names(obs)
        if self.profile_mean or not names:
            return None
        missing = [n for n in names if n not in p]
        if missing:
            raise ValueError(f"missing values of the mean coefficients {missing}")
        return torch.stack([p[n] for n in names])

    # --- the model contract -------------------------------------------------------------------
    def log_likelihood(self, obs: Observations, params: Mapping) -> torch.Tensor:
        p = self._check(params)
        y, X = self._arrays(obs)
        spde, engine = self.spde_for(obs), self.engine_for(obs)
        q, logdet_q = spde.precision_and_logdet(p)
        return engine.log_likelihood(q, p["nugget"], y, X, beta=self._beta(obs, p),
                                     logdet_q=logdet_q)

    def estimate_mean(self, obs: Observations, params: Mapping) -> tuple[dict, dict]:
        names = self.mean_names(obs)
        if not names:
            return {}, {}
        p = self._check(params)
        y, X = self._arrays(obs)
        beta, cov = self.engine_for(obs).gls(self.spde_for(obs).precision_values(p),
                                             p["nugget"], y, X)
        se = torch.sqrt(torch.diagonal(cov))
        return (dict(zip(names, beta.tolist(), strict=True)),
                dict(zip(names, se.tolist(), strict=True)))

    def _simple_beta(self, obs, p, kind):
        if kind not in ("universal", "ordinary", "simple"):
            raise ValueError(f"unknown kriging kind {kind!r}")
        names = self.mean_names(obs)
        if kind == "simple" and names:
            return torch.stack([p[n] for n in names])
        return None

    def predict(self, obs: Observations, new_points, params: Mapping, kind: str = "universal",
                noise: bool = True, new_covariates=None):
        """Posterior mean and sd at ``new_points (m, 2)``: ``(m,)`` arrays (``(r, m)`` for
        replicates). ``kind``: "universal" (β̂ by GLS, its uncertainty included), "ordinary"
        (the same for a constant mean) or "simple" (β from ``params``)."""
        p = self._check(params)
        beta = self._simple_beta(obs, p, kind)
        new_points = np.atleast_2d(np.asarray(new_points, dtype=np.float64))
        y, X = self._arrays(obs)
        with torch.no_grad():
            mean, var = self.engine_for(obs).predict(
                self.spde_for(obs).precision_values(p), p["nugget"], y, X,
                self.mesh_for(obs).projector(new_points),
                self.mean.design(new_points, new_covariates), beta=beta, noise=noise)
        sd = np.broadcast_to(np.sqrt(np.clip(var, 0.0, None)), mean.shape).copy()
        return (mean[0], sd[0]) if mean.shape[0] == 1 else (mean, sd)

    def conditional_simulation(self, obs: Observations, new_points, params: Mapping,
                               n_samples: int = 1, seed: int | None = None,
                               kind: str = "universal", noise: bool = False,
                               new_covariates=None) -> np.ndarray:
        """Draws ``(n_samples, m)`` of the field (``noise``: of new observations) at
        ``new_points (m, 2)`` given the data, exact for the discretised model
        (:meth:`GMRFEngine.conditional_simulation`; universal kriging draws β from its GLS
        distribution, simple kriging takes it from ``params``). Single replicate only."""
        p = self._check(params)
        beta = self._simple_beta(obs, p, kind)
        new_points = np.atleast_2d(np.asarray(new_points, dtype=np.float64))
        y, X = self._arrays(obs)
        with torch.no_grad():
            return self.engine_for(obs).conditional_simulation(
                self.spde_for(obs).precision_values(p), p["nugget"], y, X,
                self.mesh_for(obs).projector(new_points),
                self.mean.design(new_points, new_covariates), n_samples,
                np.random.default_rng(seed), beta=beta, noise=noise)

    def simulate(self, points, params: Mapping, n_replicates: int = 1, seed: int | None = None,
                 noise: bool = True, mesh: Mesh | None = None, coord_names=None,
                 method: str = "cholesky", tol: float = 1e-6) -> np.ndarray:
        """Draws ``(r, n)`` at ``points (n, 2)``: w ~ N(0, Q⁻¹) on ``mesh`` (default: the
        model's mesh, or one built from the points), projected, plus the mean (``mean`` or
        ``beta_*`` in ``params``) and the noise.

        ``method``: "cholesky" (x = L⁻ᵀz with CHOLMOD's factor) or "chebyshev" (matrix-free
        Q^{−1/2}z by a Chebyshev polynomial to relative accuracy ``tol``, Pereira & Desassis
        2019: O(K·nnz), for meshes too large to factorise; stationary models, whose smallest
        eigenvalue is at least τ²κ^{2α} min C̃_ii since K = κ²C̃ + G ≥ κ²C̃)."""
        from ..gmrf import GMRF, ChebyshevSampler

        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        mesh = mesh or self.mesh or Mesh.from_points(points, **self.mesh_options)
        p = self._check(params)
        spde = MaternSPDE(mesh, self.alpha, self.anisotropic, self.kappa_field, self.tau_field)
        pattern = Pattern(spde.indptr, spde.indices, spde.n)
        with torch.no_grad():
            q = spde.precision_values(p)
            if method == "cholesky":
                w = GMRF(pattern).factorize(q).sample(n_replicates, seed=seed)
            elif method == "chebyshev":
                if self.kappa_field is not None or self.tau_field is not None:
                    raise ValueError("Chebyshev simulation needs a stationary model (a lower "
                                     "bound on Q's eigenvalues); use method='cholesky'")
                kappa = spde.kappa(p)
                lower = float(spde.tau(p, kappa)[0] ** 2 * kappa[0] ** (2 * self.alpha)
                              * spde.fem.lumped_mass().min())
                w = ChebyshevSampler((pattern, q), tol=tol, lower=lower).sample(
                    n_replicates, seed=seed)
            else:
                raise ValueError(f"unknown simulation method {method!r}: cholesky or chebyshev")
            w = torch.as_tensor(w).reshape(n_replicates, -1).numpy()
        draws = np.asarray((mesh.projector(points) @ w.T).T)
        names = self.mean.names(coord_names or [f"x{i}" for i in range(points.shape[1])], ())
        X = self.mean.design(points, None)
        if names:
            missing = [n for n in names if n not in params]
            if missing:
                raise ValueError(f"simulation needs the mean coefficients {missing}")
            draws = draws + X @ np.array([float(params[n]) for n in names])
        if noise:
            rng = np.random.default_rng(None if seed is None else seed + 1)
            draws = draws + np.sqrt(float(p["nugget"])) * rng.standard_normal(draws.shape)
        return draws
