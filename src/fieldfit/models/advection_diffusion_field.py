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

from ..data import Observations
from ..gmrf import Pattern
from ..likelihood.gmrf import GMRFEngine
from ..params import Param
from ..spde import Mesh
from ..spde.advection_diffusion import AdvectionDiffusionSPDE, advection_diffusion_param_specs
from .gaussian_field import spread_starts
from .latent_gmrf import LatentGMRFModel
from .latent_gmrf import data_key as _key
from .mean import Mean


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


class AdvectionDiffusionField(LatentGMRFModel):
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
    space_time = True

    def __init__(self, mesh: Mesh | None = None, dt: float | None = None, alpha: int = 1,
                 alpha_s: int = 1, advection: bool = True, anisotropic: bool = False,
                 stabilization: bool = True, gamma_fields=None, H_field=None,
                 mean: str | Mean = "constant", nugget: bool | float = True,
                 profile_mean: bool = True, mesh_options: Mapping | None = None):
        super().__init__(mean, nugget, profile_mean)
        self.mesh, self.dt = mesh, dt
        self.options = dict(alpha=alpha, alpha_s=alpha_s, advection=advection,
                            anisotropic=anisotropic, stabilization=stabilization,
                            gamma_fields=gamma_fields, H_field=H_field)
        self.mesh_options = dict(mesh_options or {})

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
        return self._auto_mesh(np.unique(obs.coords[obs.observed], axis=0))

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

    def engine_for(self, obs: Observations, n_times: int | None = None) -> GMRFEngine:
        spde = self.spde_for(obs, n_times)
        pts = obs.points[obs.observed]
        key = ("engine", id(spde), _key(pts))
        if key not in self._cache:
            self._cache[key] = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n),
                                          spde.projector(pts))
        return self._cache[key]

    # --- parameters ----------------------------------------------------------------------------
    def _specs(self) -> list[Param]:
        o = self.options
        return advection_diffusion_param_specs(o["advection"], o["anisotropic"],
                                               o["gamma_fields"], o["H_field"])

    def initial_values(self, obs: Observations) -> dict[str, float]:
        """Spatial range ≈ diameter/5, temporal decay over ≈ span/5, σ² ≈ 0.9 var(y − Xβ̂),
        τ from the stationary marginal variance, nugget 0.1 var, γ = 0."""
        var = self._residual_variance(obs)
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

    def _targets(self, obs, new_points, p):
        """The time grid extended to the last prediction time (forecasting)."""
        if new_points.shape[1] != 3:
            raise ValueError(f"prediction points must be (m, 3) = (x, y, t), got "
                             f"{new_points.shape}")
        t0, dt, n = self.time_grid(obs)
        n_need = max(n, int(math.ceil((float(new_points[:, 2].max()) - t0) / dt - 1e-9)) + 1)
        spde = self.spde_for(obs, n_need)
        return (spde, self.engine_for(obs, n_need), spde.projector(new_points),
                new_points[:, :2])

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
        draws = np.asarray((spde.projector(points) @ x.T).T)
        return self._add_mean_and_noise(draws, points[:, :2], params, p, seed, noise,
                                        coord_names)


__all__ = ["AdvectionDiffusionField", "regular_time_grid"]
