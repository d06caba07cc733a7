r"""The advection–diffusion estimates carried to the continuous SPDE: the discretisation's bias out.

The finite-element model's maximum-likelihood estimate θ̂ does not converge to the
parameter θ of the continuous SPDE that made the data but to its pseudo-true value, the
discretised model (mesh, boundary, time step) closest to that SPDE in Kullback–Leibler
divergence,

.. math::

    b(\theta) = \arg\max_\varphi \; E_\theta[\ell_h(\varphi)],

and b(θ) − θ is the discretisation's bias. Indirect inference (Gouriéroux, Monfort & Renault
1993) reports the θ̃ that solves b(θ̃) = θ̂, iterated from θ̃ = θ̂ as
:math:`\tilde u \leftarrow \hat u - \delta(\tilde u)`, :math:`\delta = b - \mathrm{id}`, in the
free unconstrained parameters u. b is always that of the fit's own mesh, time step,
substeps and scheme.

**On the data's design, by simulation (the default).** R exact draws of the continuum at θ
(:meth:`fieldfit.spde.spectral.SpectralAdvectionDiffusion.sample_at` at the observed stations
and times, on a periodic box wide enough that nothing wraps; one seed for every θ) are scored
together as replicates, and b(θ) is reached by quasi-Newton steps
:math:`\varphi \leftarrow \varphi + I^{-1} \bar s(\varphi)`, :math:`\bar s` the draws' mean
score and I the fit's information (two steps at the first iteration, one from the previous b
moved alike after). The draws' Monte-Carlo error adds 1/R to the estimate's variance.

**On a window, exactly** (``method="window"``; also the standard errors below). The data's
stations at W consecutive observation times (at most 800 observations). With
:math:`\Sigma_\theta` the continuum's covariance there
(:meth:`fieldfit.spde.spectral.SpectralAdvectionDiffusion.covariance_matrix` on a periodic box
around the stations, wide enough that nothing wraps) plus the nugget, and
:math:`\Sigma_h(u) = A Q_h(u)^{-1} A^\top + \tau_\varepsilon^2 I` the finite-element model's,
b(θ) is found by Newton steps of :math:`E_\theta[\ell_h(\varphi)]` over φ from φ = θ (two at
the first iteration, one from the previous b moved alike after),

.. math::

    \varphi \leftarrow \varphi + I_h^{-1} g, \quad
    g_j = \tfrac12 \operatorname{tr}(\Sigma_h^{-1}\partial_j\Sigma_h\Sigma_h^{-1}\Sigma_\theta)
          - \tfrac12 \operatorname{tr}(\Sigma_h^{-1}\partial_j\Sigma_h), \quad
    (I_h)_{jk} = \tfrac12 \operatorname{tr}(\Sigma_h^{-1}\partial_j\Sigma_h
                                             \Sigma_h^{-1}\partial_k\Sigma_h),

at φ, the derivatives by forward differences. The window is cheap, but its b is that of a
short series: where the slowest mode's memory c/κ² exceeds the window, the data's b differs
(docs/benchmarks.md, "The continuum correction"). The mean is left out: it does not enter
either covariance.

Standard errors: the finite-element model is misspecified for the continuum's data, so the
fit's own information understates the spread of θ̂ for some parameters (the nugget most); its
covariance is the sandwich :math:`I_h^{-1} V I_h^{-1}`, V the score's covariance under
:math:`\Sigma_\theta` (the expected Hessian taken as :math:`I_h`, exact to first order in the
misfit), and that of ũ is :math:`J_b^{-1} I_h^{-1} V I_h^{-1} J_b^{-\top}`, :math:`J_b` the binding
function's Jacobian. Both are computed on the window; the ratio of their diagonal to
:math:`I_h^{-1}`'s scales the fit's standard errors (``se_factor``), on the unconstrained
scale, around ũ.

No discretisation is needed for the reference, so the correction is mesh-independent; it needs
the continuum's covariance, which the spectral representation gives for the stationary model
(constant κ, H and γ): a model with ``--field`` nonstationarity is reported uncorrected.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp
import torch

from ..data import Observations
from ..errors import NumericalFailure
from ..fit.parameterisation import natural_slope
from ..gmrf.cholesky import SparseCholesky

#: the most observations of the window (stations × times) the correction computes on
WINDOW_OBSERVATIONS = 800
#: the fewest observation times of the window
WINDOW_MIN_TIMES = 4
#: the most stations the window keeps (a fixed-seed subset beyond)
WINDOW_MAX_STATIONS = 400
#: continuum draws of the simulated binding function
SIMULATIONS = 32
#: the memory one chunk of draws may take for one time's modes' coefficients (bytes; the
#: spectral sampler keeps one time at a time)
DRAW_BYTES = 2**28
#: the longest quasi-Newton step of b, on the unconstrained scale
MAX_STEP = 0.5
#: the largest correction accepted, in the fit's standard errors: beyond it the iteration is
#: taken to have failed
MAX_SHIFT_SE = 25.0
#: the most fixed-point iterations of ũ ← û − δ(ũ)
ITERATIONS = 5
#: the iteration stops once b(ũ) is this close to û on every parameter (the fit's standard
#: errors; the error left is about |1 − J_b| times it)
TOLERANCE_SE = 0.1
#: Newton steps of the expected log-likelihood for b at the first iteration (one after)
NEWTON_STEPS = 2
#: the spectral reference's grid spacing is the spatial range divided by this
POINTS_PER_RANGE = 16
#: the periodic box extends this many ranges beyond the stations and the advected span
MARGIN_RANGES = 4.0
#: the most grid points per axis of the spectral reference (the correction's)
MAX_GRID = 192
#: the most grid points per axis of exact draws (``simulate(method="spectral")``: the series
#: is summed by the NUFFT, one time at a time)
SIMULATION_MAX_GRID = 1024
#: the coarsest spacing of the spectral reference: the range divided by this
MIN_POINTS_PER_RANGE = 6


def _window(obs: Observations, dt: float | None) -> tuple[np.ndarray, float, float, int]:
    """The stations ``(S, 2)``, first time, observation step and number of times W."""
    from .ad_design import regular_time_grid

    m = obs.observed
    stations = np.unique(obs.coords[m], axis=0)
    if len(stations) > WINDOW_MAX_STATIONS:
        pick = np.random.default_rng(0).choice(len(stations), WINDOW_MAX_STATIONS,
                                               replace=False)
        stations = stations[np.sort(pick)]
    t0, step, n_obs_times = regular_time_grid(obs.times[m], dt)
    W = max(WINDOW_MIN_TIMES, WINDOW_OBSERVATIONS // len(stations))
    return stations, t0, step, int(min(W, n_obs_times))


def _reference(params: Mapping, stations: np.ndarray, span: float, alpha: int,
               alpha_s: int, max_grid: int = MAX_GRID,
               points_per_range: float = POINTS_PER_RANGE):
    """The continuum on a periodic square around the stations (origin shift returned).

    Nothing wraps: with a constant velocity v the field at (s, t) is a diffusion-only field at
    s − vt (the moving frame), so pairs of observations are pairs of points of {s − vt}, whose
    extent along each axis is the stations' plus |v_axis| times the time over which they
    correlate (the window, or 12 memories if shorter); a side of that extent plus twice
    :data:`MARGIN_RANGES` ranges keeps every wrapped image of a pair beyond that many ranges.
    """
    from ..spde.spectral import SpectralAdvectionDiffusion, diffusion_matrix

    p = {k: float(v) for k, v in params.items()}
    H = diffusion_matrix(p.get("H_scale", 1.0), p.get("H_ratio", 1.0), p.get("H_angle", 0.0))
    nu = max(alpha + alpha_s - 1.0, 0.5)
    rng = math.sqrt(8.0 * nu) / p["kappa"] * math.sqrt(float(np.linalg.eigvalsh(H).max()))
    # the drift per axis over the window, or over the slowest mode's memory (e^{-12}) if shorter
    memory = 12.0 * p["c"] / p["kappa"] ** (2 * alpha)
    drift = np.abs([p.get("gamma_x", 0.0), p.get("gamma_y", 0.0)]) / p["c"] * min(span, memory)
    lo, hi = stations.min(0), stations.max(0)
    side = float((hi - lo + drift).max()) + 2.0 * MARGIN_RANGES * rng
    drift = float(np.hypot(*drift))
    n = int(math.ceil(side / (rng / points_per_range)))
    if n > max_grid * points_per_range / min(MIN_POINTS_PER_RANGE, points_per_range):
        raise ValueError(f"the spectral reference cannot resolve the range {rng:.3g} on a box "
                         f"of side {side:.3g} (the stations' extent and the advected distance "
                         f"{drift:.3g}) with {max_grid} points per axis")
    n = int(min(max_grid, max(32, n)))
    sim = SpectralAdvectionDiffusion.from_params(side, side, n, n, p, alpha=alpha,
                                                 alpha_s=alpha_s)
    return sim, lo - (side - (hi - lo)) / 2.0


def unresolved_variance(sim) -> float:
    """The continuum's variance beyond the reference's highest modes, as white noise.

    The modes above the grid's Nyquist frequency ω_max hold σ² − C(0, 0) of the plane's
    variance; their correlation length (about 1/ω_max) is below the grid spacing and their
    time scale c/ω_max² below any step, so at the stations they are a nugget. (ν = 1, κ = 1,
    16 points per range: 0.3 % of σ², which is 6 % of a nugget of 0.05 when σ² = 1.)

    Parameters
    ----------
    sim : SpectralAdvectionDiffusion
        The reference.

    Returns
    -------
    float
        ``max(σ² − C(0, 0), 0)`` (0 where σ² is infinite, ν ≤ 0).
    """
    total = sim.continuum_marginal_variance()
    return max(total - sim.marginal_variance(), 0.0) if math.isfinite(total) else 0.0


def continuum_draws(params: Mapping, stations: np.ndarray, times: np.ndarray, alpha: int,
                    alpha_s: int, n_replicates: int, seed: int,
                    nugget: float = 0.0, max_grid: int = MAX_GRID,
                    points_per_range: float = POINTS_PER_RANGE) -> np.ndarray:
    """Exact draws of the continuous SPDE at stations and times.

    The spectral reference on a periodic square around the stations, wide enough that nothing
    wraps (:func:`_reference`), evaluated at the stations
    (:meth:`~fieldfit.spde.spectral.SpectralAdvectionDiffusion.sample_at`); the variance
    above its highest modes is added as white noise (:func:`unresolved_variance`), and
    ``nugget``. Drawn in chunks of replicates (seeds ``seed``, ``seed + 1``, …), each at most
    :data:`DRAW_BYTES` of one time's mode coefficients.

    Parameters
    ----------
    params : Mapping
        Natural values of ``kappa``, ``c``, ``tau``, and any of ``gamma_x``, ``gamma_y``,
        ``H_scale``, ``H_ratio``, ``H_angle``.
    stations : numpy.ndarray
        ``(S, 2)``.
    times : numpy.ndarray
        ``(T,)``, increasing (any spacing).
    alpha, alpha_s : int
        The orders of the diffusion and of the noise's colour.
    n_replicates : int
        r.
    seed : int
        The first chunk's seed.
    nugget : float
        White noise added to every value.
    max_grid : int
        The most grid points per axis of the reference (its modes, and so its cost, grow as
        their square).
    points_per_range : float
        Grid points per spatial range (default :data:`POINTS_PER_RANGE`): the variance of finer
        scales is drawn as white noise (:func:`unresolved_variance`; for ν = 1 about
        (√8/(π p))² of σ²: 0.3 % at 16 points, 1.3 % at 8).

    Returns
    -------
    numpy.ndarray
        ``(r, T, S)``.

    Raises
    ------
    ValueError
        Where the reference cannot resolve the range on a box holding the stations and the
        advected distance.
    """
    times = np.asarray(times, dtype=np.float64)
    sim, origin = _reference(params, stations, float(times[-1] - times[0]), alpha, alpha_s,
                             max_grid, points_per_range)
    chunk = max(1, int(DRAW_BYTES // (16 * sim.n_modes)))
    white = float(nugget) + unresolved_variance(sim)
    return np.concatenate([
        sim.sample_at(stations - origin, times, min(chunk, n_replicates - start),
                      seed=int(seed) + j, nugget=white)
        for j, start in enumerate(range(0, n_replicates, chunk))])


class _Window:
    """The finite-element and continuum covariances on the window, by parameter vector u."""

    def __init__(self, model, obs: Observations, space):
        self.stations, t0, self.step, self.W = _window(obs, model.dt)
        S, W = len(self.stations), self.W
        times = t0 + self.step * np.arange(W)
        self.times = times
        self.sub_obs = Observations(coords=np.tile(self.stations, (W, 1)),
                                    times=np.repeat(times, S), values=np.zeros(S * W))
        self.sub = model.with_discretisation(mesh=model.mesh_for(obs))
        self.spde = self.sub.spde_for(self.sub_obs)
        self.A = sp.csc_matrix(self.spde.projector(self.sub_obs.points))
        self._At = self.A.T.toarray()
        self._cholesky = SparseCholesky(self.spde.pattern)  # analysed once, for every u
        self.space = space
        self.alpha, self.alpha_s = model.options["alpha"], model.options["alpha_s"]

    def params(self, u: np.ndarray) -> dict[str, float]:
        p = self.space.unpack(torch.as_tensor(u, dtype=torch.float64))
        return {k: float(v) for k, v in p.items()}

    def fem(self, u: np.ndarray) -> np.ndarray:
        """Σ_h(u) ``(S W, S W)``."""
        p = self.space.unpack(torch.as_tensor(u, dtype=torch.float64))
        with torch.no_grad():
            X = self._cholesky.factorize(self.spde.precision_values(p)).solve(self._At)
        C = np.asarray(self.A @ X)
        C[np.diag_indices_from(C)] += float(p["nugget"])
        return C

    def continuum(self, u: np.ndarray) -> np.ndarray:
        """Σ_θ(u) ``(S W, S W)``: the continuous SPDE's covariance plus the nugget."""
        p = self.params(u)
        sim, origin = _reference(p, self.stations, self.step * (self.W - 1), self.alpha,
                                 self.alpha_s)
        C = sim.covariance_matrix(self.stations - origin, self.times)
        C[np.diag_indices_from(C)] += p["nugget"] + unresolved_variance(sim)
        return C

    def expected(self, phi: np.ndarray, target: np.ndarray, eps: float = 1e-5,
                 score_covariance: bool = False, target_derivatives=()):
        """Expectations of ℓ_h at φ under the covariance ``target``.

        The score g ``(k,)``, the information I_h ``(k, k)``, and when asked the score's
        covariance V ``(k, k)`` (V_ij = ½ tr(M_i R M_j R), M_i = Σ_h⁻¹∂_iΣ_h, R = Σ_h⁻¹Σ_θ)
        and the cross-information K ``(k, m)`` with the ``target_derivatives`` ∂_jΣ_θ
        (K_ij = ½ tr(M_i Σ_h⁻¹ ∂_jΣ_θ), the derivative of g in θ).
        """
        S_h = self.fem(phi)
        try:
            cf = sl.cho_factor(S_h, lower=True)
        except np.linalg.LinAlgError:
            raise NumericalFailure("the continuum correction: the finite-element covariance "
                                   "is not positive definite on the window") from None
        k = len(phi)
        Ms, g = [], np.zeros(k)
        R = sl.cho_solve(cf, target)  # Σ_h⁻¹ Σ_θ
        for j in range(k):
            e = np.zeros(k)
            e[j] = eps
            M = sl.cho_solve(cf, (self.fem(phi + e) - S_h) / eps)  # Σ_h⁻¹ ∂_jΣ_h
            Ms.append(M)
            g[j] = 0.5 * np.sum(M * R.T) - 0.5 * np.trace(M)
        info = np.array([[0.5 * np.sum(a * b.T) for b in Ms] for a in Ms])
        info = 0.5 * (info + info.T)
        V = K = None
        if score_covariance:
            MR = [M @ R for M in Ms]
            V = np.array([[0.5 * np.sum(a * b.T) for b in MR] for a in MR])
            V = 0.5 * (V + V.T)
        if len(target_derivatives):
            P = [sl.cho_solve(cf, d) for d in target_derivatives]  # Σ_h⁻¹ ∂_jΣ_θ
            K = np.array([[0.5 * np.sum(a * b.T) for b in P] for a in Ms])
        return g, info, V, K

    def newton_step(self, phi: np.ndarray, target: np.ndarray) -> np.ndarray:
        """φ + I_h(φ)⁻¹ g(φ): one Newton step of E[ℓ_h(φ)] under the covariance ``target``."""
        g, info, _, _ = self.expected(phi, target)
        return phi + np.linalg.solve(info, g)

    def jacobian(self, u: np.ndarray, b: np.ndarray,
                 eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The binding function's Jacobian J_b = I_h⁻¹K ``(k, k)`` at θ(u), φ = b (the
        implicit function theorem on g(b(θ); θ) = 0), the sandwich I_h⁻¹VI_h⁻¹ ``(k, k)`` of
        the fit under the continuum, and I_h⁻¹ ``(k, k)``."""
        target = self.continuum(u)
        k = len(u)
        dT = []
        for j in range(k):
            e = np.zeros(k)
            e[j] = eps
            dT.append((self.continuum(u + e) - target) / eps)
        _, info, V, K = self.expected(b, target, score_covariance=True, target_derivatives=dT)
        inv = np.linalg.inv(info)
        return inv @ K, inv @ V @ inv, inv

    def standard_error_factors(self, u: np.ndarray, b: np.ndarray,
                               eps: float = 1e-5) -> np.ndarray:
        """How much the corrected estimate's standard errors exceed the fit's ``(k,)``, on the
        unconstrained scale: sqrt(diag(J_b⁻¹ I⁻¹VI⁻¹ J_b⁻ᵀ) / diag(I⁻¹)) at φ = b(ũ) ≈ û,
        the sandwich I⁻¹VI⁻¹ of the fit under the continuum carried through the binding
        function's Jacobian (:meth:`jacobian`)."""
        J, sandwich, inv = self.jacobian(u, b, eps)
        Jinv = np.linalg.inv(J)
        cov = Jinv @ sandwich @ Jinv.T
        return np.sqrt(np.diag(cov) / np.diag(inv))

    def binding(self, u: np.ndarray, start: np.ndarray | None = None,
                steps: int = 1) -> np.ndarray:
        """b(u): ``steps`` Newton steps of E_u[ℓ_h] from ``start`` (default u)."""
        target = self.continuum(u)
        phi = np.array(u if start is None else start, dtype=np.float64)
        for _ in range(steps):
            phi = self.newton_step(phi, target)
        return phi


class _Simulated:
    """b on the data's own design by simulation: the mean score of R exact continuum draws.

    The draws (:meth:`SpectralAdvectionDiffusion.sample_at` at the observed stations and
    times, the nugget added, common random numbers: one seed for every θ) are one
    replicated data set, so one factorisation per φ scores them all.
    """

    def __init__(self, model, obs: Observations, space, info: np.ndarray,
                 replicates: int = SIMULATIONS, seed: int = 0, mean=0.0):
        from .ad_design import regular_time_grid

        m = obs.observed
        self.coords, self.times = obs.coords[m], obs.times[m]
        # the draws' mean: the fitted one where its coefficients are parameters (a profiled
        # mean takes any value in its design's span); the covariates travel with the draws
        self.mean = mean
        self.covariates = None if obs.covariates is None else obs.covariates[m]
        self.covariate_names = obs.covariate_names
        self.stations, self.station_index = np.unique(self.coords, axis=0,
                                                      return_inverse=True)
        t0, step, n_t = regular_time_grid(self.times, model.dt)
        self.time_index = np.rint((self.times - t0) / step).astype(np.int64)
        self.grid = t0 + step * np.arange(n_t)
        self.sub = model.with_discretisation(mesh=model.mesh_for(obs))
        self.space, self.info = space, info
        self.alpha, self.alpha_s = model.options["alpha"], model.options["alpha_s"]
        self.replicates, self.seed = int(replicates), int(seed)
        self.data_replicates = obs.n_replicates  # the fit's information is for these
        self._draws: dict[bytes, Observations] = {}

    def draws(self, u: np.ndarray) -> Observations:
        """R continuum draws at θ(u) on the data's observed rows, as replicates."""
        key = np.asarray(u, np.float64).tobytes()
        if key not in self._draws:
            p = {k: float(v) for k, v in
                 self.space.unpack(torch.as_tensor(u, dtype=torch.float64)).items()}
            values = continuum_draws(p, self.stations, self.grid, self.alpha, self.alpha_s,
                                     self.replicates, self.seed, p["nugget"])
            values = values[:, self.time_index, self.station_index] + self.mean
            self._draws = {key: Observations(coords=self.coords, times=self.times,
                                             values=values, covariates=self.covariates,
                                             covariate_names=self.covariate_names)}
        return self._draws[key]

    def score(self, phi: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The expected ∇ℓ_h(φ) ``(k,)`` of a data set (its replicates) at θ(u), by the mean
        over the draws."""
        data = self.draws(u)
        x = torch.as_tensor(phi, dtype=torch.float64).clone().requires_grad_(True)
        ll = self.sub.log_likelihood(data, self.space.unpack(x))
        return (torch.autograd.grad(ll, x)[0].numpy() * self.data_replicates
                / self.replicates)

    def binding(self, u: np.ndarray, start: np.ndarray | None = None,
                steps: int = 1) -> np.ndarray:
        """b(u): ``steps`` quasi-Newton steps φ ← φ + I⁻¹ s(φ) from ``start`` (default u)."""
        phi = np.array(u if start is None else start, dtype=np.float64)
        for _ in range(steps):
            step = np.linalg.solve(self.info, self.score(phi, u))
            phi = phi + step * min(1.0, MAX_STEP / max(float(np.abs(step).max()), 1e-300))
        return phi


def continuum_correction(model, obs: Observations, params: Mapping,
                         fix: Mapping[str, float] | None = None, hessian=None,
                         iterations: int = ITERATIONS, standard_errors: bool = True,
                         method: str = "simulation",
                         replicates: int = SIMULATIONS) -> dict:
    """The estimates of the continuous SPDE whose discretised fit the estimates are.

    Parameters
    ----------
    model : AdvectionDiffusionField
        The fitted model (its mesh, time step, substeps and scheme are the binding
        function's).
    obs : Observations
        The data it was fitted to.
    params : Mapping
        The fit's estimates (natural values).
    fix : Mapping or None
        The parameters held fixed in the fit.
    hessian : numpy.ndarray or None
        The fit's −∇²ℓ ``(k, k)`` in the free unconstrained parameters
        (``FitResult.hessian``): the simulated binding function's Newton steps use it (None:
        the window's expected information, scaled to the data).
    iterations : int
        The most fixed-point iterations ũ ← û − δ(ũ) (≥ 1); they stop, after the second,
        once b(ũ) is within :data:`TOLERANCE_SE` standard errors of û.
    method : {"simulation", "window"}
        How b is computed: on the data's whole design from ``replicates`` exact continuum
        draws (default), or exactly on the window.
    replicates : int
        The continuum draws of "simulation".
    standard_errors : bool
        Also compute ``se_factor`` (:meth:`_Window.standard_error_factors`).

    Returns
    -------
    dict
        ``{"estimates": {name: value}, "shift": {name: relative change}, "u_shift": {name:
        change on the unconstrained scale}, "se_factor": {name: factor}, "window":
        {"stations", "times", "step"}, "iterations", "residual_se"}`` over the free covariance
        parameters and the nugget; ``se_factor`` multiplies the fit's standard error on the
        unconstrained scale; ``residual_se`` is b − û at the last iterate but one, in the
        fit's standard errors.

    Raises
    ------
    ValueError
        For a model with nonstationary fields (no continuum covariance) or of infinite
        variance (α + α_s ≤ 1), missing estimates,
        ``iterations`` below 1, or a window the spectral reference cannot resolve (an
        advected distance of hundreds of ranges).
    NumericalFailure
        When a covariance on the window is not positive definite, or the iteration moves a
        parameter by more than :data:`MAX_SHIFT_SE` of the fit's standard errors.
    """
    if not model.stationary:
        raise ValueError("the continuum correction needs the stationary model: the "
                         "nonstationary fields have no continuum covariance here")
    if model.options["alpha"] + model.options["alpha_s"] - 1 <= 0:
        raise ValueError("the continuum correction needs a field of finite variance "
                         "(ν = α + α_s − 1 > 0): with α = 1 and α_s = 0 the continuous field "
                         "has none to compare with")
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations}")
    mean_names = set(model.mean_names(obs)) if not model.profile_mean else set()
    fixed = {**dict(fix or {}), **{k: float(params[k]) for k in mean_names}}
    space = model.param_space(obs).fix(**fixed)
    free = space.free_names
    missing = [n for n in free if n not in params]
    if missing:
        raise ValueError(f"the continuum correction needs the estimates of {missing}")
    u_hat = space.pack({k: float(params[k]) for k in free}).numpy()
    if method not in ("simulation", "window"):
        raise ValueError(f"unknown method {method!r}: choose 'simulation' or 'window'")
    window = _Window(model, obs, space)
    info = _information(window, u_hat, hessian, obs, len(free))
    se_u = np.sqrt(np.diag(np.linalg.inv(info)))
    if method == "simulation":
        mean = 0.0
        if mean_names:  # coefficients held at their estimates: the draws get that mean
            m = obs.observed
            X = model.mean.design(obs.coords[m], None if obs.covariates is None
                                  else obs.covariates[m])
            mean = X @ np.array([float(params[n]) for n in model.mean_names(obs)])
        binder = _Simulated(model, obs, space, info, replicates, mean=mean)
    else:
        binder = window
    # the fixed point ũ ← û − δ(ũ) converges at the rate |1 − J_b|, slowly where the fit's
    # parameter follows the continuum's weakly (the nugget's J_b can be near ½): iterated
    # until b(ũ) is within TOLERANCE_SE of û (Newton's method with the window's J_b
    # oscillates: the window's b responds to κ and τ more weakly than the whole series')
    u, start, residual, done = u_hat.copy(), None, None, 0
    for i in range(int(iterations)):
        b = binder.binding(u, start, NEWTON_STEPS if i == 0 else 1)
        residual = b - u_hat
        u, start, done = u - residual, b - residual, i + 1  # b moves with u (slope about one)
        moved = np.abs(u - u_hat) / se_u
        moved = np.where(np.isfinite(moved), moved, np.inf)
        if not np.all(moved <= MAX_SHIFT_SE):
            worst = free[int(np.argmax(moved))]
            raise NumericalFailure(f"the continuum correction did not converge: it moved "
                                   f"{worst} by {float(moved.max()):.3g} standard errors "
                                   f"(at most {MAX_SHIFT_SE:g} accepted)")
        if i > 0 and np.all(np.abs(residual) / se_u < TOLERANCE_SE):
            break
    est = window.params(u)
    est = {n: est[n] for n in free}
    out = {}
    if standard_errors:
        factors = window.standard_error_factors(u, u_hat)  # b(ũ) = û
        if method == "simulation":  # the draws' Monte-Carlo error in b
            factors = factors * math.sqrt(1.0 + 1.0 / replicates)
        out["se_factor"] = {n: float(f) for n, f in zip(free, factors, strict=True)}
    return {**out, "estimates": est,
            "shift": {n: (est[n] - float(params[n])) / abs(float(params[n]))
                      if float(params[n]) != 0 else math.inf for n in free},
            "u_shift": {n: float(u[i] - u_hat[i]) for i, n in enumerate(free)},
            "window": {"stations": len(window.stations), "times": window.W,
                       "step": window.step},
            "method": method, "replicates": replicates if method == "simulation" else None,
            "iterations": done,
            # b(ũ) − û at the last iterate but one, in the fit's standard errors
            "residual_se": {n: float(r) for n, r in zip(free, residual / se_u, strict=True)}}


def _information(window: _Window, u_hat: np.ndarray, hessian, obs: Observations,
                 k: int) -> np.ndarray:
    """The fit's information ``(k, k)`` in the free unconstrained parameters: ``hessian``
    (``FitResult.hessian``, −∇²ℓ), or the window's expected information scaled to the data's
    number of observations."""
    if hessian is not None:
        H = np.asarray(hessian, dtype=np.float64)
        if H.shape == (k, k) and np.all(np.isfinite(H)):
            H = 0.5 * (H + H.T)
            if np.all(np.linalg.eigvalsh(H) > 0):
                return H
    _, info, _, _ = window.expected(u_hat, window.fem(u_hat))
    return info * obs.observed.sum() * obs.n_replicates / window.A.shape[0]


def corrected_result(result, correction: dict):
    """A copy of ``result`` reporting the continuum-corrected estimates.

    The estimates are replaced and each standard error moved to the new estimate with its
    width on the unconstrained scale times the correction's ``se_factor`` (the misspecified
    fit's sandwich through the binding function; 1 where absent); the fit's own estimates,
    standard errors and intervals are kept in ``discretisation["continuum"]["raw"]``.

    Parameters
    ----------
    result : FitResult
        The fit.
    correction : dict
        :func:`continuum_correction`'s output.

    Returns
    -------
    FitResult
    """
    params, stderr = dict(result.params), dict(result.stderr)
    for name, value in correction["estimates"].items():
        se, scale = stderr.get(name), result.scales.get(name, "identity")
        if se is not None:
            se_u = se / abs(natural_slope(params[name], scale))
            se_u *= correction.get("se_factor", {}).get(name, 1.0)
            stderr[name] = se_u * abs(natural_slope(value, scale))
        params[name] = value
    raw = {"params": dict(result.params), "stderr": dict(result.stderr),
           "intervals": result.intervals}
    disc = {**(result.discretisation or {}),
            "reported": "continuum-corrected",
            "continuum": {**correction, "raw": raw}}
    note = ("estimates carried to the continuous SPDE (indirect inference against its "
            "spectral covariance on a window of the data; the fit's own in "
            "discretisation.continuum.raw)")
    message = f"{result.message}; {note}" if result.message else note
    return dataclasses.replace(result, params=params, stderr=stderr, discretisation=disc,
                               message=message)


def continuum_result(model, obs: Observations, result, fix: Mapping[str, float] | None = None):
    """The fit carried to the continuous SPDE, or the fit itself where that cannot be done.

    What ``fieldfit fit --continuum`` reports: :func:`corrected_result` of the model's
    :meth:`~fieldfit.contract.MeshModel.continuum_correction` (with the fit's Hessian), or,
    where the correction raises (a model without a continuum covariance, an iteration that
    does not converge, a covariance that is not positive definite), a copy of ``result``
    with ``discretisation["reported"] = "fitted"`` and the reason in
    ``discretisation["continuum"]["error"]``.

    Parameters
    ----------
    model : MeshModel
        The fitted model.
    obs : Observations
        The data it was fitted to.
    result : FitResult
        The fit.
    fix : Mapping or None
        The parameters held fixed in the fit.

    Returns
    -------
    FitResult
    """
    try:
        correction = model.continuum_correction(obs, result.params, fix=fix,
                                                hessian=result.hessian)
    except ValueError as e:  # NumericalFailure included
        disc = {**(result.discretisation or {}), "reported": "fitted",
                "continuum": {"error": str(e)}}
        return dataclasses.replace(result, discretisation=disc)
    return corrected_result(result, correction)


__all__ = ["continuum_correction", "continuum_draws", "continuum_result", "corrected_result"]
