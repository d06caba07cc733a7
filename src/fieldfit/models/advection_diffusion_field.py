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

Discretisation: the time grid is the observations' regular grid with each step cut into
``substeps`` model steps (the states in between latent), the time scheme a θ-scheme
(``theta``: ½ Crank–Nicolson by default, 1 implicit Euler), the automatic mesh's inner edge a
quarter of a pilot estimate of the spatial range within a node budget
(:func:`~.ad_design.automatic_mesh_options`);
:meth:`AdvectionDiffusionField.discretisation_check` reports how much the estimates move when
the step or the mesh is refined.

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
from ..spde.field_spec import location_covariates, parse_field_specs
from .ad_design import NODE_BUDGET, automatic_mesh_options, regular_time_grid
from .ad_scaling import derived_quantities, rescaled_params
from .gaussian_field import spread_starts
from .latent_gmrf import LatentGMRFModel
from .latent_gmrf import data_key as _key
from .mean import Mean

#: default time scheme: θ = ½ (Crank–Nicolson; docs/benchmarks.md, "discretisation")
THETA = 0.5
#: how ``simulate`` draws: time stepping on the mesh, or the continuum's spectral series
SIMULATORS = ("mesh", "spectral")
#: grid points per spatial range of the spectral simulator
SPECTRAL_POINTS = 16.0

class AdvectionDiffusionField(LatentGMRFModel):
    r"""The advection–diffusion SPDE field on a mesh and a regular time grid, with noise.

    .. math::

        y(s, t) = X(s)\beta + x(s, t) + \varepsilon, \qquad
        x = \sum_k \sum_i \ell_k(t) \psi_i(s) w_{k,i}, \qquad w \sim N(0, Q(\theta)^{-1})

    with :math:`Q(\theta)` the space-time precision of
    :class:`~fieldfit.spde.advection_diffusion.AdvectionDiffusionSPDE` (Clarotto et al.
    2024), :math:`\psi_i` the P1 hat functions of the mesh and :math:`\ell_k` the
    piecewise-linear hat functions of the time grid. Declares the mesh contract
    (:class:`~fieldfit.contract.MeshModel`, ``mesh_model = True``).

    Parameters
    ----------
    mesh : Mesh or None
        The spatial :class:`~fieldfit.spde.Mesh` (None: ``Mesh.from_points`` of the
        distinct observed locations with ``mesh_options``; without ``max_edge`` there, the
        inner edge follows the data's pilot range: :meth:`auto_mesh_options`).
    dt : float or None
        The observation time step (None: the observations' smallest time gap).
    alpha, alpha_s : int
        The orders of the SPDE and of its noise's spatial colouring.
    advection, anisotropic, stabilization : bool
        As :class:`~fieldfit.spde.advection_diffusion.AdvectionDiffusionSPDE`.
    gamma_fields, H_field : Field or None
        Nonstationary advection and diffusion fields (objects; see also ``fields``).
    mean : str or Mean
        The mean, a function of the spatial coordinates and covariates.
    nugget : bool or float
        True (estimated) or a positive fixed value.
    profile_mean : bool
        Profile the mean coefficients out by GLS (default).
    mesh_options : Mapping or None
        ``Mesh.from_points`` options of the automatic mesh.
    fields : Mapping, list or None
        Nonstationary parameters as ``--field`` specs (:mod:`fieldfit.spde.field_spec`:
        ``{"gamma": "bspline:4x4"}``, a list of ``"NAME=KIND:ARGS"`` or parsed
        ``FieldSpec`` s), built per data set over the mesh's bounding box (and the time
        grid's span); instead of ``gamma_fields`` / ``H_field``.
    substeps : int
        Model steps per observation step (≥ 1; the states between are latent).
    theta : float
        The time scheme, θ ∈ [½, 1] (½ Crank–Nicolson, 1 implicit Euler).
    node_budget : int
        The most nodes of the automatic mesh (≥ 50).
    simulator : {"mesh", "spectral"}
        How :meth:`simulate` draws: time stepping on the mesh, or exact draws of the continuous
        stationary SPDE by its spectral series
        (:func:`~fieldfit.models.ad_continuum.continuum_draws`).
    spectral_points : float
        Grid points per spatial range of the spectral simulator, in [4, 64] (default 16): the
        variance of finer scales is drawn as white noise (for ν = 1 about (√8/(π p))² of σ²:
        0.3 % at 16, 1.3 % at 8), the cost grows as its square.

    Raises
    ------
    ValueError
        For substeps that are not a positive integer, θ outside [½, 1], a node budget below
        50, fields given twice (``fields`` and ``gamma_fields`` / ``H_field``), a γ field
        without advection, or no nugget.

    References
    ----------
    L. Clarotto, D. Allard, T. Romary and N. Desassis, The SPDE approach for
    spatio-temporal datasets with advection and diffusion, Spatial Statistics 62 (2024).
    """

    name = "advection-diffusion"
    space_time = True
    #: declares the mesh contract (:class:`~fieldfit.contract.MeshModel`)
    mesh_model = True
    #: the attributes :meth:`with_discretisation` may replace
    discretisation_attributes = (*LatentGMRFModel.discretisation_attributes, "substeps")

    def __init__(self, mesh: Mesh | None = None, dt: float | None = None, alpha: int = 1,
                 alpha_s: int = 1, advection: bool = True, anisotropic: bool = False,
                 stabilization: bool = True, gamma_fields=None, H_field=None,
                 mean: str | Mean = "constant", nugget: bool | float = True,
                 profile_mean: bool = True, mesh_options: Mapping | None = None,
                 fields=None, substeps: int = 1, theta: float = THETA,
                 node_budget: int = NODE_BUDGET, simulator: str = "mesh",
                 spectral_points: float = SPECTRAL_POINTS):
        super().__init__(mean, nugget, profile_mean)
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {SIMULATORS}, got {simulator!r}")
        if not (isinstance(spectral_points, int | float) and 4 <= spectral_points <= 64):
            raise ValueError(f"spectral_points (grid points per range of the spectral "
                             f"simulator) must be in [4, 64], got {spectral_points!r}")
        self.simulator, self.spectral_points = simulator, float(spectral_points)
        self.mesh, self.dt = mesh, dt
        try:
            whole = float(substeps) == int(float(substeps)) and float(substeps) >= 1
        except (TypeError, ValueError, OverflowError):
            whole = False
        if not whole:
            raise ValueError(f"--substeps must be a positive integer, got {substeps!r}")
        substeps = int(float(substeps))
        if not 0.5 <= float(theta) <= 1.0:
            raise ValueError(f"--theta must be in [0.5, 1] (0.5: Crank–Nicolson, 1: implicit "
                             f"Euler), got {theta}")
        if int(node_budget) != node_budget or node_budget < 50:
            raise ValueError(f"the mesh's node budget must be an integer ≥ 50, got "
                             f"{node_budget}")
        self.substeps, self.node_budget = int(substeps), int(node_budget)
        self.fields = parse_field_specs(fields)
        if self.fields and (gamma_fields is not None or H_field is not None):
            raise ValueError("give the nonstationary parameters either as fields (--field) or "
                             "as gamma_fields / H_field, not both")
        if "gamma" in self.fields and not advection:
            raise ValueError("--field gamma needs the advection (drop --no-advection)")
        self.options = dict(alpha=alpha, alpha_s=alpha_s, advection=advection,
                            anisotropic=anisotropic, stabilization=stabilization,
                            gamma_fields=gamma_fields, H_field=H_field, theta=float(theta))
        self.mesh_options = dict(mesh_options or {})

    def to_spec(self) -> dict:
        """The registry name and options that rebuild this model.

        A given mesh travels as its nodes and cells, ``fields`` as their text.

        Returns
        -------
        dict
            ``{"model": "advection-diffusion", "dt", "substeps", the SPDE options, mean,
            nugget and mesh options}`` (:func:`fieldfit.models.from_spec`).

        Raises
        ------
        ValueError
            For ``gamma_fields`` / ``H_field`` objects (no description; ``fields`` specs
            have one) or mesh options the model registry does not take.
        """
        o = dict(self.options)
        if o.pop("gamma_fields") is not None or o.pop("H_field") is not None:
            raise ValueError("nonstationary advection–diffusion fields have no registered "
                             "description yet")
        if self.fields:  # as text, rebuilt by parse_field_specs
            o["fields"] = {k: spec.value for k, spec in self.fields.items()}
        if self.simulator != "mesh":
            o["simulator"] = self.simulator
        if self.spectral_points != SPECTRAL_POINTS:
            o["spectral_points"] = self.spectral_points
        return {"model": "advection-diffusion", "dt": self.dt, "substeps": self.substeps,
                **o, **self._mesh_spec()}

    def __repr__(self):
        o = self.options
        return (f"AdvectionDiffusionField(alpha={o['alpha']}, alpha_s={o['alpha_s']}, "
                f"advection={o['advection']}, anisotropic={o['anisotropic']}, "
                f"mean={self.mean.kind!r}, dt={self.dt})")

    @property
    def stationary(self) -> bool:
        """No nonstationary field (``fields``, ``gamma_fields``, ``H_field``): the model
        with a continuum covariance, scaling laws and a spectral simulator."""
        return not (self.fields or self.options.get("gamma_fields") is not None
                    or self.options.get("H_field") is not None)

    # --- structure per data set ----------------------------------------------------------------
    def _check_obs(self, obs: Observations) -> None:
        if obs.times is None:
            raise ValueError("the advection–diffusion model is spatio-temporal: give the "
                             "observation times (--time)")
        if obs.dim != 2:
            raise ValueError(f"the advection–diffusion model is 2-D in space, the data have "
                             f"{obs.dim} coordinates")
        for spec in self.fields.values():
            for c in spec.columns:
                if c not in (obs.covariate_names or ()):
                    raise ValueError(f"--field {spec.text}: the data have no covariate "
                                     f"column {c!r}")

    def _field_options(self, mesh: Mesh | None = None, span=(0.0, 1.0),
                       obs: Observations | None = None) -> dict:
        """The SPDE's ``gamma_fields`` / ``H_field`` / ``kappa_field`` built from
        ``self.fields`` over ``mesh``'s bounding box and the time ``span`` (no mesh: the unit
        box, enough for the parameter names and priors, which do not depend on it); a
        covariate field gets its columns from ``obs`` at the observed locations."""
        if not self.fields:
            return {}
        box = (np.array([[0.0, 1.0], [0.0, 1.0]]) if mesh is None
               else np.asarray(mesh.bbox).T)  # (2, 2): (lo, hi) per axis
        out = {}
        for name, spec in self.fields.items():
            bounds = np.vstack([box, [span]]) if spec.space_time else box
            if name == "gamma":
                out["gamma_fields"] = tuple(spec.build(n, bounds, "identity", 0.0)
                                            for n in ("gamma_x", "gamma_y"))
            else:
                f = spec.build({"H": "H_scale", "kappa": "kappa"}[name], bounds, "exp", 1.0)
                if spec.kind == "covariates" and obs is not None:
                    idx = [list(obs.covariate_names).index(c) for c in spec.columns]
                    m = obs.observed
                    f.attach(*location_covariates(obs.coords[m], obs.covariates[m][:, idx],
                                                  spec.columns))
                out[{"H": "H_field", "kappa": "kappa_field"}[name]] = f
        return out

    def mesh_for(self, obs: Observations) -> Mesh:
        """The mesh the model uses on the data.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        Mesh
            The given mesh, or one built from the distinct observed locations: with
            ``mesh_options["max_edge"]`` as asked, else with the inner edge tied to the
            field's range (:meth:`auto_mesh_options`); built once per data set.
        """
        if self.mesh is not None:
            return self.mesh
        points = np.unique(obs.coords[obs.observed], axis=0)
        if "max_edge" in self.mesh_options:
            return self._auto_mesh(points)
        opts = self.auto_mesh_options(obs)
        key = ("pilot-mesh", _key(points), tuple(sorted(opts.items())), self.coarsening)
        if key not in self._cache:
            # the shared coarsening rule, on the pilot's options
            other = self.with_discretisation(mesh_options=opts)
            self._cache[key] = LatentGMRFModel._auto_mesh(other, points)
        return self._cache[key]

    def auto_mesh_options(self, obs: Observations) -> dict:
        """The ``Mesh.from_points`` options of the automatic mesh.

        :func:`~.ad_design.automatic_mesh_options` for ν = α + α_s − 1 within the model's
        node budget, with the options given in ``mesh_options`` (offset, cutoff) kept.
        Computed once per data set.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        dict
            ``{"max_edge": (inner, outer), "offset", "cutoff"}``.

        Raises
        ------
        ValueError
            When the data have too few pairs for the pilot range.
        """
        key = self._pilot_key(obs)
        if key not in self._cache:
            a, a_s = self.options["alpha"], self.options["alpha_s"]
            opts, info = automatic_mesh_options(obs, max(a + a_s - 1.0, 0.5), self.node_budget,
                                                self.mesh_options)
            self._cache[key] = opts
            self._cache[("pilot-info", key)] = info
        return self._cache[key]

    def time_grid(self, obs: Observations) -> tuple[float, float, int]:
        """The model's time grid: the observations' regular grid, each step cut in substeps.

        Parameters
        ----------
        obs : Observations
            The data (with times).

        Returns
        -------
        tuple
            ``(t0, dt, n_t)``: first time, model step and number of model steps (the
            states between observation steps are latent).

        Raises
        ------
        ValueError
            For times that are not on a regular grid (without ``dt``).
        """
        t0, dt, n = regular_time_grid(obs.times[obs.observed], self.dt)
        s = self.substeps
        return t0, dt / s, (n - 1) * s + 1

    def spde_for(self, obs: Observations, n_times: int | None = None) -> AdvectionDiffusionSPDE:
        """The advection–diffusion precision on the data's mesh and time grid.

        Parameters
        ----------
        obs : Observations
            The data.
        n_times : int or None
            The number of time steps (None: the data's grid; more: a forecast).

        Returns
        -------
        AdvectionDiffusionSPDE
            Built once per mesh and grid.
        """
        mesh = self.mesh_for(obs)
        t0, dt, n = self.time_grid(obs)
        n = n if n_times is None else n_times
        key = ("spde", id(mesh), t0, dt, n)
        if key not in self._cache:
            t_grid = self.time_grid(obs)  # fields span the data's grid, also when extended
            fields = self._field_options(mesh, (t_grid[0], t_grid[0] + t_grid[1] * (t_grid[2]
                                                                                     - 1)), obs)
            self._cache[key] = AdvectionDiffusionSPDE(mesh, n, dt=dt, t0=t0,
                                                      **{**self.options, **fields})
        return self._cache[key]

    def engine_for(self, obs: Observations, n_times: int | None = None) -> GMRFEngine:
        """The GMRF engine of the data.

        Parameters
        ----------
        obs : Observations
            The data.
        n_times : int or None
            The number of time steps (:meth:`spde_for`).

        Returns
        -------
        GMRFEngine
            The engine of the precision's pattern and the projector to the observed
            points (built once per data set).
        """
        spde = self.spde_for(obs, n_times)
        pts = obs.points[obs.observed]
        key = ("engine", id(spde), _key(pts))
        if key not in self._cache:
            self._cache[key] = GMRFEngine(Pattern(spde.indptr, spde.indices, spde.n),
                                          spde.projector(pts))
        return self._cache[key]

    # --- parameters ----------------------------------------------------------------------------
    def _specs(self) -> list[Param]:
        if ("fields", None) not in self._cache:  # the names and priors, once
            self._cache[("fields", None)] = self._field_options()
        o = {**self.options, **self._cache[("fields", None)]}
        return advection_diffusion_param_specs(o["advection"], o["anisotropic"],
                                               o["gamma_fields"],
                                               o["H_field"], kappa_field=o.get("kappa_field"))

    def initial_values(self, obs: Observations) -> dict[str, float]:
        """A data-driven start.

        Spatial range ≈ diameter/5, temporal decay over ≈ span/5, σ² ≈ 0.9 var(y − Xβ̂), τ
        from the stationary marginal variance, nugget 0.1 var, γ = 0.

        Parameters
        ----------
        obs : Observations
            The data.

        Returns
        -------
        dict
            ``kappa``, ``c``, ``tau`` and ``nugget`` (when estimated).
        """
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
        """Further starts spread around :meth:`initial_values`.

        Parameters
        ----------
        obs : Observations
            The data.
        k : int
            How many starts.

        Returns
        -------
        list of dict
            ``k`` starting points (:func:`~fieldfit.models.gaussian_field.spread_starts`).
        """
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

    # --- discretisation ------------------------------------------------------------------------
    def discretisation_check(self, obs: Observations, params: Mapping,
                             fix: Mapping[str, float] | None = None, hessian=None,
                             refine=("time", "mesh")) -> dict:
        r"""The estimates' shift when the discretisation is refined.

        One Newton step from the estimate ``params`` on each refined model:

        .. math::

            u_r = \hat u + I^{-1} (\nabla\ell_r(\hat u) - \nabla\ell(\hat u))

        with :math:`u` the free unconstrained parameters, :math:`I = -\nabla^2\ell(\hat u)`
        on the model as fitted and :math:`\ell_r` the log-likelihood refined in "time" (twice
        the substeps) or "mesh" (the inner edge divided by :math:`\sqrt 2`, about twice the
        nodes; automatic meshes only). The correction :math:`-\nabla\ell(\hat u)` removes what
        is left of the optimisation's own tolerance. With an error of order :math:`h^2` (P1
        elements, θ = ½) the remaining discretisation error is about the mesh shift plus a
        third of the time shift.

        "extrapolated" is the Richardson estimate of the continuum limit, in :math:`u`,

        .. math::

            u_\infty = \hat u + w_{mesh} \Delta u_{mesh} + w_{time} \Delta u_{time},
            \qquad w = 1 / (1 - r^p)

        for an error of order :math:`p` under a refinement by the factor :math:`r`: the mesh
        (P1, p = 2, r = 1/√2) :math:`w_{mesh} = 2`; the time step (r = ½)
        :math:`w_{time} = 4/3` for Crank–Nicolson (θ = ½, p = 2), 2 for any θ > ½ (p = 1).
        It holds once both errors are in their asymptotic regime, which one refinement
        cannot show; its accuracy on simulated data is in docs/benchmarks.md.

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            The estimates (natural values, as ``FitResult.params``).
        fix : Mapping or None
            The parameters held fixed in the fit.
        hessian : numpy.ndarray or None
            :math:`-I`, ``(k, k)`` in the free unconstrained parameters (the fit's), or
            None to compute it by forward differences of k + 1 gradients.
        refine : tuple of str
            The refinements: "time" and/or "mesh".

        Returns
        -------
        dict
            ``{"mesh_nodes", "n_times", "dt", "substeps", "theta", "pilot"`` (automatic
            mesh: range, nugget, sill of the pilot estimate, inner edge), ``"refined":
            {kind: {settings, "estimates", "shift", "shift_se"}}, "shift": {name: relative
            shift}, "shift_se": {name: shift / standard error}, "extrapolated"}``: "shift"
            is :math:`(\theta_r - \hat\theta)/|\hat\theta|` for both refinements together
            (their steps in :math:`u` added), "shift_se" the same in standard errors;
            "extrapolated" ``{"estimates", "interval95": {name: [lo, hi]}, "weights"}``
            (the fit's Wald interval moved to :math:`u_\infty`).

        Raises
        ------
        ValueError
            For an unknown refinement, missing estimates, or a Hessian of the wrong shape.
        """
        import torch

        refine = tuple(refine)
        unknown = set(refine) - {"time", "mesh"}
        if unknown:
            raise ValueError(f"unknown refinement {sorted(unknown)}: choose 'time', 'mesh'")
        space = self.param_space(obs).fix(**dict(fix or {}))
        free = space.free_names
        missing = [n for n in free if n not in params]
        if missing:
            raise ValueError(f"the discretisation check needs the estimates of {missing}")
        u0 = space.pack({k: float(v) for k, v in params.items() if k in space and k in free})
        mesh = self.mesh_for(obs)
        t0, dt, n_t = self.time_grid(obs)

        def grad(model, u):
            u = u.detach().clone().requires_grad_(True)
            ll = model.log_likelihood(obs, space.unpack(u))
            return torch.autograd.grad(ll, u)[0].numpy()

        g0 = grad(self, u0)
        k = len(free)
        if hessian is None:
            step = 1e-4
            info = np.zeros((k, k))
            for j in range(k):
                e = torch.zeros(k, dtype=u0.dtype)
                e[j] = step
                info[:, j] = -(grad(self, u0 + e) - g0) / step
            info = 0.5 * (info + info.T)
        else:
            info = np.asarray(hessian, dtype=np.float64)
            if info.shape != (k, k):
                raise ValueError(f"the Hessian must be ({k}, {k}) over {free}, got "
                                 f"{info.shape}")
        cov = np.linalg.inv(info)
        theta0 = {n: float(space.unpack(u0)[n]) for n in free}

        def natural(u):
            p = space.unpack(torch.as_tensor(u, dtype=u0.dtype))
            return {n: float(p[n]) for n in free}

        def se(name):  # delta method: dθ/du by a forward difference
            j = free.index(name)
            e = np.zeros(k)
            e[j] = 1e-6
            d = (natural(u0.numpy() + e)[name] - theta0[name]) / 1e-6
            return abs(d) * math.sqrt(max(cov[j, j], 0.0))

        def shifts(du):
            est = natural(u0.numpy() + du)
            rel = {n: (est[n] - theta0[n]) / abs(theta0[n]) if theta0[n] != 0 else math.inf
                   for n in free}
            in_se = {n: (est[n] - theta0[n]) / se(n) if se(n) > 0 else math.inf for n in free}
            return est, rel, in_se

        out = {"mesh_nodes": mesh.n_nodes, "n_times": n_t, "dt": dt,
               "substeps": self.substeps, "theta": self.options["theta"], "refined": {}}
        pilot = self._pilot_info(obs)
        if pilot is not None:
            out["pilot"] = pilot
        total, steps = np.zeros(k), {}
        for kind in refine:
            made = self.refined(obs, kind)
            if made is None:
                continue  # a given mesh: nothing to refine it with
            other, settings = made
            du = cov @ (grad(other, u0) - g0)
            total += du
            steps[kind] = du
            est, rel, in_se = shifts(du)
            out["refined"][kind] = {**settings, "estimates": est, "shift": rel,
                                    "shift_se": in_se}
        _, out["shift"], out["shift_se"] = shifts(total)
        if steps:
            weights = {"mesh": 2.0, "time": 4.0 / 3.0 if self.options["theta"] == 0.5 else 2.0}
            weights = {kind: weights[kind] for kind in steps}
            u_inf = u0.numpy() + sum(weights[kind] * du for kind, du in steps.items())
            var = np.diag(cov)   # not positive away from a maximum: no interval (NaN)
            half = 1.959963984540054 * np.sqrt(np.where(var > 0, var, np.nan))
            lo, hi = natural(u_inf - half), natural(u_inf + half)
            out["extrapolated"] = {
                "estimates": natural(u_inf), "weights": weights,
                "interval95": {n: sorted([lo[n], hi[n]]) for n in free}}
        return out

    def continuum_correction(self, obs: Observations, params: Mapping,
                             fix: Mapping[str, float] | None = None, hessian=None) -> dict:
        """The estimates carried to the continuous SPDE: the discretisation's bias removed.

        Indirect inference against exact draws of the continuum on the data's design
        (:func:`fieldfit.models.ad_continuum.continuum_correction`).

        Parameters
        ----------
        obs : Observations
            The data.
        params : Mapping
            The fit's estimates (natural values).
        fix : Mapping or None
            The parameters held fixed in the fit.
        hessian : numpy.ndarray or None
            The fit's −∇²ℓ in the free unconstrained parameters (``FitResult.hessian``).

        Returns
        -------
        dict
            ``{"estimates", "shift", "u_shift", "se_factor", "window", "method",
            "replicates", "iterations"}``.

        Raises
        ------
        ValueError
            For a model with nonstationary fields, or missing estimates.
        NumericalFailure
            When a covariance on the window is not positive definite.
        """
        from .ad_continuum import continuum_correction

        return continuum_correction(self, obs, params, fix, hessian=hessian)

    def refined(self, obs: Observations, kind: str):
        """A copy with a finer discretisation.

        The refined mesh's options are explicit, so refining again divides them again.

        Parameters
        ----------
        obs : Observations
            The data.
        kind : str
            "time" (twice the substeps, the same mesh) or "mesh" (every edge and the cutoff
            divided by √2, about twice the nodes).

        Returns
        -------
        tuple or None
            ``(model, settings)`` (settings ``substeps``, ``dt`` or ``mesh_nodes``,
            ``max_edge``), or None for "mesh" on a given mesh (nothing to refine it with).

        Raises
        ------
        ValueError
            For an unknown ``kind``.
        """
        if kind == "time":
            dt = self.time_grid(obs)[1]
            other = self.with_discretisation(mesh=self.mesh_for(obs), substeps=2 * self.substeps)
            return other, {"substeps": other.substeps, "dt": dt / other.substeps}
        if kind != "mesh":
            raise ValueError(f"unknown refinement {kind!r}: choose 'time', 'mesh'")
        if self.mesh is not None:
            return None
        opts = (dict(self.mesh_options) if "max_edge" in self.mesh_options
                else dict(self.auto_mesh_options(obs)))
        me = np.atleast_1d(np.asarray(opts["max_edge"], dtype=np.float64))
        me = np.repeat(me, 2) if me.size == 1 else me
        opts["max_edge"] = tuple(float(e) for e in me / math.sqrt(2.0))
        if "cutoff" in opts:
            opts["cutoff"] = float(opts["cutoff"]) / math.sqrt(2.0)
        other = self.with_discretisation(mesh_options=opts)
        return other, {"mesh_nodes": other.mesh_for(obs).n_nodes,
                       "max_edge": float(opts["max_edge"][0])}

    def _pilot_info(self, obs: Observations) -> dict | None:
        """The pilot estimate behind the automatic mesh (None for a given mesh or edge)."""
        if self.mesh is not None or "max_edge" in self.mesh_options:
            return None
        self.auto_mesh_options(obs)
        return dict(self._cache[("pilot-info", self._pilot_key(obs))])

    @staticmethod
    def _pilot_key(obs: Observations) -> tuple:
        m = obs.observed
        return ("pilot", _key(np.unique(obs.coords[m], axis=0)), _key(obs.values_2d[:, m]),
                _key(obs.times[m]))

    def rescaled_params(self, params: Mapping, length: float,
                        duration: float = 1.0) -> dict[str, float]:
        """The parameters of the same field with coordinates divided by ``length`` and times
        by ``duration`` (:func:`~.ad_scaling.rescaled_params`, the SPDE's scaling laws for
        this model's α and α_s).

        Parameters
        ----------
        params : Mapping
            Natural values.
        length, duration : float
            The new units of length and time, in the data's.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            For a model with nonstationary fields, or a parameter without a law.
        """
        if not self.stationary:
            raise ValueError("the scaling laws are for the stationary model: a field's "
                             "coefficients have none here")
        return rescaled_params(params, length, duration, self.options["alpha"],
                               self.options["alpha_s"])

    def derived_quantities(self, params: Mapping) -> dict[str, float]:
        """Range, velocity γ/c (speed, direction), marginal variance and memory of ``params``
        (:func:`~.ad_scaling.derived_quantities`).

        Parameters
        ----------
        params : Mapping
            Natural values.

        Returns
        -------
        dict
        """
        return derived_quantities(params, self.options["alpha"], self.options["alpha_s"])

    def simulate(self, points, params: Mapping, n_replicates: int = 1, seed: int | None = None,
                 noise: bool = True, mesh: Mesh | None = None, dt: float | None = None,
                 coord_names=None, progress: bool = False,
                 method: str | None = None) -> np.ndarray:
        """Draws at space-time points, plus the mean and the noise.

        ``method="mesh"``: time stepping (:meth:`AdvectionDiffusionSPDE.sample` on ``mesh``
        and the regular grid of the points' times), the discretised model's law.
        ``method="spectral"``: exact draws of the continuous SPDE
        (:func:`~.ad_continuum.continuum_draws`: the spectral series on a periodic square
        around the locations, wide enough that nothing wraps), at any times, for the
        stationary model.

        Parameters
        ----------
        points : numpy.ndarray
            ``(n, 3)`` = (x, y, t).
        params : Mapping
            Natural parameter values by name, with the mean coefficients.
        n_replicates : int
            The number of independent draws.
        seed : int or None
            The seed of the draws.
        noise : bool
            Add the nugget: simulated observations rather than the field.
        mesh : Mesh or None
            The mesh (default: the model's, or one built from the distinct locations).
        dt : float or None
            The time step (default: the model's, or the smallest gap).
        coord_names : sequence of str or None
            The names the mean coefficients are named after (default x0, x1).
        progress : bool
            Show the time stepping's progress.
        method : {"mesh", "spectral"} or None
            How to draw (default: the model's ``simulator``).

        Returns
        -------
        numpy.ndarray
            ``(n_replicates, n)``.

        Raises
        ------
        ValueError
            For points that are not ``(n, 3)``, a covariate field (it needs the data's
            covariates), a missing parameter, an unknown method, or a spectral draw of a
            model with nonstationary fields.
        """
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        if points.shape[1] != 3:
            raise ValueError(f"points must be (n, 3) = (x, y, t), got {points.shape}")
        method = self.simulator if method is None else method
        if method not in SIMULATORS:
            raise ValueError(f"method must be one of {SIMULATORS}, got {method!r}")
        if method == "spectral":
            return self._simulate_spectral(points, params, n_replicates, seed, noise,
                                           coord_names)
        mesh = mesh or self.mesh or Mesh.from_points(np.unique(points[:, :2], axis=0),
                                                     **self.mesh_options)
        t0, step, n = regular_time_grid(points[:, 2], dt if dt is not None else self.dt)
        if any(s.kind == "covariates" for s in self.fields.values()):
            raise ValueError("simulating a covariate field needs the data's covariates: "
                             "simulate with a B-spline --field, or without --field")
        fields = self._field_options(mesh, (t0, t0 + step * (n - 1)))
        spde = AdvectionDiffusionSPDE(mesh, n, dt=step, t0=t0, **{**self.options, **fields})
        p = self._check(params)
        x = spde.sample(p, n_replicates, seed=seed, progress=progress).reshape(n_replicates, -1)
        draws = np.asarray((spde.projector(points) @ x.T).T)
        return self._add_mean_and_noise(draws, points[:, :2], params, p, seed, noise,
                                        coord_names)

    def _simulate_spectral(self, points, params, n_replicates, seed, noise, coord_names):
        from .ad_continuum import SIMULATION_MAX_GRID, continuum_draws

        if not self.stationary:
            raise ValueError("the spectral simulator draws the stationary model: a model with "
                             "nonstationary fields simulates on the mesh")
        p = self._check(params)
        natural = {k: float(v) for k, v in p.items()}
        stations, s_idx = np.unique(points[:, :2], axis=0, return_inverse=True)
        times, t_idx = np.unique(points[:, 2], return_inverse=True)
        if len(times) == 1:  # one time: the stationary spatial marginal
            times = np.array([times[0], times[0] + 1.0])
        base = int(np.random.default_rng(seed).integers(2**62))
        draws = continuum_draws(natural, stations, times, self.options["alpha"],
                                self.options["alpha_s"], int(n_replicates), base,
                                max_grid=SIMULATION_MAX_GRID,
                                points_per_range=self.spectral_points)
        draws = draws[:, t_idx.ravel(), s_idx.ravel()]
        return self._add_mean_and_noise(draws, points[:, :2], params, p, seed, noise,
                                        coord_names)


__all__ = ["AdvectionDiffusionField", "regular_time_grid"]
