"""The advection–diffusion SPDE field observed with noise: ``--model advection-diffusion``.

    y(s, t) = X(s) β + x(s, t) + ε,   x = Σ_k Σ_i ℓ_k(t) ψ_i(s) w_{k,i},   w ~ N(0, Q(θ)⁻¹),
    ε ~ N(0, τ_ε²)

Q(θ) is the space-time precision of :class:`~fieldfit.spde.advection_diffusion.
AdvectionDiffusionSPDE` (Clarotto et al. 2024) on a spatial mesh × a regular time grid,
ψ_i the P1 hat functions of the mesh and ℓ_k the piecewise-linear hat functions of the time
grid (an observation between two steps interpolates them linearly; on a step it is that
step). The likelihood is :class:`~fieldfit.likelihood.gmrf.GMRFEngine`'s with log|Q| from
the time-stepping structure (no factorisation of Q), the posterior precision
Q + AᵀA/τ_ε² factorised by CHOLMOD with a fill-reducing ordering over space and time.
The contract is :class:`~.spde_field.SPDEField`'s, with points ``(n, 3)`` = (x, y, t).
Parameter names: ``kappa``, ``c``, ``tau``, ``H_scale`` (fixed at 1: see the
identifiability note of the SPDE), ``H_ratio``, ``H_angle``, ``gamma_x``, ``gamma_y``,
``nugget``.

Forecasting: prediction times after the last step extend the time grid (the Markov chain
runs forward; the data's likelihood is unchanged by steps after them); times before the
first step are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import torch

from ..data import Observations
from ..gmrf import Pattern
from ..likelihood.gmrf import GMRFEngine
from ..params import Param, ParamSpace, positive, real
from ..spde import Mesh
from ..spde.advection_diffusion import AdvectionDiffusionSPDE, advection_diffusion_param_specs
from .gaussian_field import spread_starts
from .mean import Mean
from .spde_field import _EngineInfo, _key


def regular_time_grid(times: np.ndarray, dt: float | None = None) -> tuple[float, float, int]:
    """(t₀, Δt, n_t) of a regular grid covering ``times`` (n,). ``dt`` None: the smallest
    gap between distinct times, which must then divide every gap (to 1e-6 relative)."""
    t = np.unique(np.asarray(times, dtype=np.float64))
    if len(t) < 2:
        raise ValueError("the advection–diffusion model needs observations at two times or "
                         "more")
    if dt is None:
        gaps = np.diff(t)
        dt = float(gaps.min())
        ratio = gaps / dt
        if np.abs(ratio - np.round(ratio)).max() > 1e-6:
            raise ValueError("the observation times are not on a regular grid: give the time "
                             "step (dt / --time-step); observations between steps are "
                             "interpolated")
    elif not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"the time step must be positive, got {dt}")
    n = int(math.floor((t[-1] - t[0]) / dt + 1e-6)) + 1
    if (t[-1] - t[0]) / dt - (n - 1) > 1e-6:
        n += 1
    return float(t[0]), float(dt), max(n, 2)


class AdvectionDiffusionField:
    """y = Xβ + x + ε, x the advection–diffusion SPDE field on a mesh × a regular time grid.

    Parameters
    ----------
    mesh : spatial :class:`~fieldfit.spde.Mesh` (None: ``Mesh.from_points`` of the distinct
        observed locations with ``mesh_options``)
    dt : time step (None: the observations' smallest time gap)
    alpha, alpha_s, advection, anisotropic, stabilization, gamma_fields, H_field : as
        :class:`~fieldfit.spde.advection_diffusion.AdvectionDiffusionSPDE`
    mean, nugget, profile_mean : as :class:`~.spde_field.SPDEField` (the mean is a function
        of the spatial coordinates and covariates)
    """

    name = "advection-diffusion"

    def __init__(self, mesh: Mesh | None = None, dt: float | None = None, alpha: int = 1,
                 alpha_s: int = 1, advection: bool = True, anisotropic: bool = False,
                 stabilization: bool = True, gamma_fields=None, H_field=None,
                 mean: str | Mean = "constant", nugget: bool | float = True,
                 profile_mean: bool = True, mesh_options: Mapping | None = None):
        if nugget is False or (nugget is not True and not float(nugget) > 0):
            raise ValueError("the SPDE model needs a positive nugget (estimated, or a fixed "
                             "value > 0): its likelihood goes through Q + AᵀA/τ²")
        self.mesh, self.dt = mesh, dt
        self.options = dict(alpha=alpha, alpha_s=alpha_s, advection=advection,
                            anisotropic=anisotropic, stabilization=stabilization,
                            gamma_fields=gamma_fields, H_field=H_field)
        self.nugget = nugget
        self.mean = mean if isinstance(mean, Mean) else Mean(mean)
        self.profile_mean = profile_mean
        self.mesh_options = dict(mesh_options or {})
        self.engine = _EngineInfo()
        self._cache: dict = {}

    def __repr__(self):
        o = self.options
        return (f"AdvectionDiffusionField(alpha={o['alpha']}, alpha_s={o['alpha_s']}, "
                f"advection={o['advection']}, anisotropic={o['anisotropic']}, "
                f"mean={self.mean.kind!r}, dt={self.dt})")

    # --- structure per data set ----------------------------------------------------------------
    def _check_obs(self, obs: Observations) -> None:
        if obs.times is None:
            raise ValueError("the advection–diffusion model is spatio-temporal: give the "
                             "observation times (--time)")
        if obs.dim != 2:
            raise ValueError(f"the advection–diffusion model is 2-D in space, the data have "
                             f"{obs.dim} coordinates")

    def mesh_for(self, obs: Observations) -> Mesh:
        if self.mesh is not None:
            return self.mesh
        pts = np.unique(obs.coords[obs.observed], axis=0)
        key = ("mesh", _key(pts))
        if key not in self._cache:
            self._cache[key] = Mesh.from_points(pts, **self.mesh_options)
        return self._cache[key]

    def time_grid(self, obs: Observations) -> tuple[float, float, int]:
        return regular_time_grid(obs.times[obs.observed], self.dt)

    def spde_for(self, obs: Observations, n_times: int | None = None) -> AdvectionDiffusionSPDE:
        mesh = self.mesh_for(obs)
        t0, dt, n = self.time_grid(obs)
        n = n if n_times is None else n_times
        key = ("spde", id(mesh), t0, dt, n)
        if key not in self._cache:
            self._cache[key] = AdvectionDiffusionSPDE(mesh, n, dt=dt, t0=t0, **self.options)
        return self._cache[key]

    def projector(self, spde: AdvectionDiffusionSPDE, points: np.ndarray) -> sp.csr_matrix:
        """A ``(m, N n_t)``: barycentric in space × linear in time, for points ``(m, 3)``."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        As = spde.fem.mesh.projector(points[:, :2]).tocoo()
        u = (points[:, 2] - spde.t0) / spde.dt
        if np.any(u < -1e-9) or np.any(u > spde.n_times - 1 + 1e-9):
            bad = int(np.flatnonzero((u < -1e-9) | (u > spde.n_times - 1 + 1e-9))[0])
            raise ValueError(f"time {points[bad, 2]} is outside the model's time grid "
                             f"[{spde.t0}, {spde.times[-1]}]")
        k = np.clip(np.floor(u + 1e-9).astype(np.int64), 0, spde.n_times - 2)
        w = np.clip(u - k, 0.0, 1.0)
        N = spde.n_space
        rows = np.concatenate([As.row, As.row])
        cols = np.concatenate([k[As.row] * N + As.col, (k[As.row] + 1) * N + As.col])
        vals = np.concatenate([As.data * (1 - w[As.row]), As.data * w[As.row]])
        A = sp.csr_matrix((vals, (rows, cols)), shape=(len(points), spde.n))
        A.eliminate_zeros()
        return A

    def engine_for(self, obs: Observations, n_times: int | None = None) -> GMRFEngine:
        spde = self.spde_for(obs, n_times)
        pts = obs.points[obs.observed]
        key = ("engine", id(spde), _key(pts))
        if key not in self._cache:
            self._cache[key] = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n),
                                          self.projector(spde, pts))
        return self._cache[key]

    def _points(self, obs: Observations) -> np.ndarray:
        self._check_obs(obs)
        return obs.points

    # --- parameters ----------------------------------------------------------------------------
    def mean_names(self, obs: Observations) -> list[str]:
        return self.mean.names(obs.coord_names, obs.covariate_names or ())

    def _specs(self) -> list[Param]:
        o = self.options
        specs = advection_diffusion_param_specs(o["advection"], o["anisotropic"],
                                                o["gamma_fields"], o["H_field"])
        if self.nugget is True:
            specs.append(Param("nugget", positive, 0.1, doc="noise variance τ_ε²"))
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
        self._check_obs(obs)
        mask = obs.observed
        vals = obs.values_2d[:, mask]
        if np.isnan(vals).any():
            raise ValueError("replicates are missing at different locations")
        cov = obs.covariates[mask] if obs.covariates is not None else None
        X = self.mean.design(obs.coords[mask], cov)
        return torch.from_numpy(np.array(vals, dtype=np.float64)), torch.from_numpy(
            np.array(X, dtype=np.float64))

    def initial_values(self, obs: Observations) -> dict[str, float]:
        """Spatial range ≈ diameter/5, temporal decay over ≈ span/5, σ² ≈ 0.9 var(y − Xβ̂),
        τ from the stationary marginal variance, nugget 0.1 var, γ = 0."""
        y, X = self._arrays(obs)
        yn, Xn = y.numpy(), X.numpy()
        resid = yn - (Xn @ np.linalg.lstsq(Xn, yn.T, rcond=None)[0]).T if Xn.shape[1] else yn
        var = float(np.var(resid)) or 1.0
        a, a_s = self.options["alpha"], self.options["alpha_s"]
        nu = max(a + a_s - 1.0, 0.5)
        kappa = math.sqrt(8.0 * nu) / (obs.diameter() / 5.0)
        t0, dt, n = self.time_grid(obs)
        span = max(dt * (n - 1), dt)
        c = kappa ** (2 * a) * span / 5.0
        tau2 = 2.0 * 0.9 * var * math.gamma(a + a_s) * 4.0 * math.pi * kappa ** (2 * nu) \
            / math.gamma(nu)
        out = {"kappa": kappa, "c": c, "tau": math.sqrt(tau2)}
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

    # --- the model contract ----------------------------------------------------------------------
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
        with torch.no_grad():
            q, _ = self.spde_for(obs).precision_and_logdet(p)
            beta, cov = self.engine_for(obs).gls(q, p["nugget"], y, X)
        se = torch.sqrt(torch.diagonal(cov))
        return (dict(zip(names, beta.tolist(), strict=True)),
                dict(zip(names, se.tolist(), strict=True)))

    def _prediction_setup(self, obs, new_points, params, kind):
        if kind not in ("universal", "ordinary", "simple"):
            raise ValueError(f"unknown kriging kind {kind!r}")
        new_points = np.atleast_2d(np.asarray(new_points, dtype=np.float64))
        if new_points.shape[1] != 3:
            raise ValueError(f"prediction points must be (m, 3) = (x, y, t), got "
                             f"{new_points.shape}")
        p = self._check(params)
        names = self.mean_names(obs)
        beta = torch.stack([p[n] for n in names]) if kind == "simple" and names else None
        t0, dt, n = self.time_grid(obs)
        last = float(new_points[:, 2].max())
        n_need = max(n, int(math.ceil((last - t0) / dt - 1e-9)) + 1)
        spde, engine = self.spde_for(obs, n_need), self.engine_for(obs, n_need)
        return new_points, p, beta, spde, engine

    def predict(self, obs: Observations, new_points, params: Mapping, kind: str = "universal",
                noise: bool = True, new_covariates=None):
        """Kriging mean and sd at ``new_points (m, 3)`` = (x, y, t): interpolation inside the
        time grid, forecasting after it. ``kind`` as :meth:`SPDEField.predict`."""
        new_points, p, beta, spde, engine = self._prediction_setup(obs, new_points, params, kind)
        y, X = self._arrays(obs)
        with torch.no_grad():
            q, _ = spde.precision_and_logdet(p)
            mean, var = engine.predict(q, p["nugget"], y, X, self.projector(spde, new_points),
                                       self.mean.design(new_points[:, :2], new_covariates),
                                       beta=beta, noise=noise)
        sd = np.broadcast_to(np.sqrt(np.clip(var, 0.0, None)), mean.shape).copy()
        return (mean[0], sd[0]) if mean.shape[0] == 1 else (mean, sd)

    def conditional_simulation(self, obs: Observations, new_points, params: Mapping,
                               n_samples: int = 1, seed: int | None = None,
                               kind: str = "universal", noise: bool = False,
                               new_covariates=None) -> np.ndarray:
        """Draws ``(n_samples, m)`` at ``new_points (m, 3)`` given the data, exact for the
        discretised model (:meth:`GMRFEngine.conditional_simulation`)."""
        new_points, p, beta, spde, engine = self._prediction_setup(obs, new_points, params, kind)
        y, X = self._arrays(obs)
        with torch.no_grad():
            q, _ = spde.precision_and_logdet(p)
            return engine.conditional_simulation(
                q, p["nugget"], y, X, self.projector(spde, new_points),
                self.mean.design(new_points[:, :2], new_covariates), n_samples,
                np.random.default_rng(seed), beta=beta, noise=noise)

    def simulate(self, points, params: Mapping, n_replicates: int = 1, seed: int | None = None,
                 noise: bool = True, mesh: Mesh | None = None, dt: float | None = None,
                 coord_names=None, progress: bool = False) -> np.ndarray:
        """Draws ``(r, n)`` at ``points (n, 3)`` = (x, y, t) by time stepping
        (:meth:`AdvectionDiffusionSPDE.sample`) on ``mesh`` (default: the model's, or one
        built from the distinct locations) and the regular grid of the points' times (step
        ``dt``, default the model's or the smallest gap), plus the mean and the noise."""
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if points.shape[1] != 3:
            raise ValueError(f"points must be (n, 3) = (x, y, t), got {points.shape}")
        mesh = mesh or self.mesh or Mesh.from_points(np.unique(points[:, :2], axis=0),
                                                     **self.mesh_options)
        t0, step, n = regular_time_grid(points[:, 2], dt if dt is not None else self.dt)
        spde = AdvectionDiffusionSPDE(mesh, n, dt=step, t0=t0, **self.options)
        p = self._check(params)
        x = spde.sample(p, n_replicates, seed=seed, progress=progress).reshape(n_replicates, -1)
        draws = np.asarray((self.projector(spde, points) @ x.T).T)
        names = self.mean.names(coord_names or ["x0", "x1"], ())
        if names:
            missing = [k for k in names if k not in params]
            if missing:
                raise ValueError(f"simulation needs the mean coefficients {missing}")
            draws = draws + self.mean.design(points[:, :2], None) @ np.array(
                [float(params[k]) for k in names])
        if noise:
            rng = np.random.default_rng(None if seed is None else seed + 1)
            draws = draws + np.sqrt(float(p["nugget"])) * rng.standard_normal(draws.shape)
        return draws


__all__ = ["AdvectionDiffusionField", "regular_time_grid"]
