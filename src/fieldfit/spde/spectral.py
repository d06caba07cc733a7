"""Exact spectral simulation of the continuous advection–diffusion SPDE on a periodic rectangle.

The model (Clarotto, Allard, Romary & Desassis 2024, Spatial Statistics 62, 100847; the
spectral construction of Sigrist, Künsch & Stahel 2015, JRSS-B 77, 3–33, and their R package
``spate``; the Matérn–SPDE link of Lindgren, Rue & Lindström 2011, JRSS-B 73, 423–498)::

    [∂/∂t + (1/c)(κ² − ∇·H∇)^α + (1/c) γ·∇] X(s, t) = (τ/√c) Z(s, t),   Z = W_T ⊗ Z_S,
    (κ² − ∇·H∇)^{α_s/2} Z_S = W_S,

on the torus [0, Lx) × [0, Ly) (area A = Lx·Ly), with the same parameters and conventions as
:mod:`fieldfit.spde.advection_diffusion` (transport along +γ/c). Nothing here is discretised
in space or time beyond truncating the Fourier series: it is the "no inverse crime"
reference for the finite-element model.

**Modes.** ω = 2π(k_x/Lx, k_y/Ly) with ``|k_x| ≤ ⌊nx/2⌋``, ``|k_y| ≤ ⌊ny/2⌋`` (a set symmetric under
ω → −ω; for even nx both Nyquist frequencies ±nx/2 are kept, as two distinct modes of the
continuum field that alias onto one on the nx × ny grid), λ_ω = κ² + ωᵀHω. With::

    X(s, t) = A^{−1/2} Σ_ω X_ω(t) e^{iω·s},   X_{−ω} = conj(X_ω),

each pair ±ω is one complex Ornstein–Uhlenbeck process (ω = 0 a real one)::

    dX_ω = −a_ω X_ω dt + (τ/√c) λ_ω^{−α_s/2} dB_ω,   a_ω = (λ_ω^α + i γ·ω)/c,

B_ω a circular complex Brownian motion (E|dB_ω|² = dt), since on e^{iω·s} the operator
(κ² − ∇·H∇) acts as λ_ω and γ·∇ as iγ·ω. Its stationary variance is::

    q_ω = E|X_ω|² = (τ²/c) λ_ω^{−α_s} / (2 Re a_ω) = τ² λ_ω^{−α_s} / (2 λ_ω^α),

and the exact transition over any Δt is the AR(1)::

    X_ω(t + Δt) = φ_ω(Δt) X_ω(t) + ε_ω,   φ_ω(Δt) = e^{−(λ_ω^α + iγ·ω)Δt/c},
    E|ε_ω|² = q_ω (1 − |φ_ω|²) = q_ω (1 − e^{−2λ_ω^αΔt/c}),

so φ(Δt₁)φ(Δt₂) = φ(Δt₁ + Δt₂) and sampling at any increasing times is exact. The field
starts from the stationary law X_ω(t₀) ~ CN(0, q_ω).

**Covariance.** C(h, u) = Cov(X(s + h, t + u), X(s, t)) is, for any real u::

    C(h, u) = (1/A) Σ_ω q_ω e^{−λ_ω^α |u|/c} cos(ω·h − (γ·ω) u/c),

the sum over the whole symmetric mode set. Its peak moves with h = +γu/c (each mode is
e^{iω·(s − γt/c)} damped). The marginal variance is C(0, 0) = (1/A) Σ_ω q_ω. **Constants
against the model:** the model's spatial marginal has spectral density (τ²/2)(2π)^{−d}
λ^{−(α+α_s)} (advection_diffusion.py), and the mode spacing is Δω = (2π)²/A, so
(1/A) Σ_ω q_ω = Σ_ω (τ²/2)(2π)^{−2} λ_ω^{−(α+α_s)} Δω is exactly a Riemann sum of that
density. By Poisson summation the full (untruncated) sum is Σ_n C_∞(nL) (the periodised
continuum covariance), so on a domain much larger than the range and with enough modes it tends
to the continuum marginal variance::

    σ² = (τ²/2) Γ(ν) / (Γ(α + α_s) (4π)^{d/2} κ^{2ν} √det H),   ν = α + α_s − d/2 > 0

(:meth:`continuum_marginal_variance`; infinite for ν ≤ 0, e.g. α = 1, α_s = 0, where the
truncated field's variance grows with the number of modes). Truncation leaves out the
spectral tail: relative to σ², about (κ/K)^{2ν} beyond a disc of radius
K = π min(nx/Lx, ny/Ly) √λ_min(H) (the mode box keeps more than that disc, so this is a bound).

**Real fields.** The simulation keeps one mode of each pair ±ω (ω = 0 and the half-set
{k_y > 0} ∪ {k_y = 0, k_x > 0}) with weights w = 1 (ω = 0) and 2 (the rest), so that
X(s, t) = A^{−1/2} Re Σ_{half} w_ω X_ω(t) e^{iω·s}. On the grid s_ij = (i Lx/nx, j Ly/ny) that
sum is an inverse FFT (numpy.fft.ifft2, the Nyquist pairs folded onto one index); at arbitrary
stations (:meth:`sample_at`) it is evaluated exactly, not interpolated. The same seed gives the
same Fourier coefficients in both, so the station values are the grid field's values.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp


def diffusion_matrix(H_scale: float = 1.0, H_ratio: float = 1.0,
                     H_angle: float = 0.0) -> np.ndarray:
    r"""Diffusion matrix of the advection–diffusion model from its three parameters.

    :math:`H = H_\mathrm{scale}\, R(\theta)\, \mathrm{diag}(1, \lambda^2)\, R(\theta)^\top`, the
    parametrisation of :mod:`fieldfit.spde.advection_diffusion`.

    Parameters
    ----------
    H_scale : float, default 1.0
        Overall scale.
    H_ratio : float, default 1.0
        λ, the square root of the ratio of the diffusion across to that along θ.
    H_angle : float, default 0.0
        θ, the direction of the main axis (radians).

    Returns
    -------
    numpy.ndarray
        ``(2, 2)`` symmetric matrix.
    """
    c, s, l2 = math.cos(H_angle), math.sin(H_angle), float(H_ratio) ** 2
    off = (1.0 - l2) * c * s
    return float(H_scale) * np.array([[c * c + l2 * s * s, off], [off, s * s + l2 * c * c]])


#: ``sample_at(method="auto")`` evaluates the series by the NUFFT beyond this many
#: point × mode pairs (the direct sum's cost; below it the direct sum is as fast)
NUFFT_ABOVE = 2_000_000
#: the NUFFT's requested relative accuracy
NUFFT_TOLERANCE = 1e-12


def _positive(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v


def _grid_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"{name} must be an integer ≥ 2 (grid points along the axis), "
                         f"got {value!r}")
    return int(value)


class SpectralAdvectionDiffusion:
    """The continuous advection–diffusion SPDE on a periodic rectangle, simulated exactly per mode.

    The SPDE of Clarotto et al. (2024) with the spectral construction of Sigrist, Künsch &
    Stahel (2015): each Fourier mode is an Ornstein–Uhlenbeck process with an exact AR(1)
    transition (module docstring: modes, transition, covariance, constants).

    Parameters
    ----------
    Lx, Ly : float
        Side lengths of the periodic domain [0, Lx) × [0, Ly).
    nx, ny : int
        Grid points per axis (≥ 2); the modes are ``|k_x| ≤ ⌊nx/2⌋``, ``|k_y| ≤ ⌊ny/2⌋``.
    kappa, c, tau : float
        Damping κ, time scale c and scale τ (all positive).
    gamma : array_like, default (0.0, 0.0)
        ``(2,)`` advection γ; the field moves with velocity γ/c.
    H : array_like, optional
        ``(2, 2)`` symmetric positive definite diffusion matrix (identity by default); see
        :func:`diffusion_matrix` for the model's (H_scale, H_ratio, H_angle).
    alpha : float, default 1
        Order α > 0 of the diffusion operator.
    alpha_s : float, default 1
        Order α_s ≥ 0 of the spatial noise colour.

    Raises
    ------
    ValueError
        If a size, scale or order is out of range, gamma is not two finite numbers, or H is not
        a finite symmetric positive definite 2 × 2 matrix.

    References
    ----------
    Clarotto, L., Allard, D., Romary, T. & Desassis, N. (2024). The SPDE approach for
    spatio-temporal datasets with advection and diffusion. Spatial Statistics 62, 100847.

    Sigrist, F., Künsch, H. R. & Stahel, W. A. (2015). Stochastic partial differential equation
    based modelling of large space-time data sets. JRSS-B 77, 3–33.
    """

    def __init__(self, Lx: float, Ly: float, nx: int, ny: int, kappa: float, c: float,
                 tau: float, gamma=(0.0, 0.0), H=None, alpha: float = 1,
                 alpha_s: float = 1):
        self.Lx, self.Ly = _positive("Lx", Lx), _positive("Ly", Ly)
        self.nx, self.ny = _grid_size("nx", nx), _grid_size("ny", ny)
        self.kappa = _positive("kappa", kappa)
        self.c = _positive("c", c)
        self.tau = _positive("tau", tau)
        self.alpha = _positive("alpha", alpha)
        try:
            a_s = float(alpha_s)
        except (TypeError, ValueError):
            raise ValueError(f"alpha_s must be a number ≥ 0, got {alpha_s!r}") from None
        if not (math.isfinite(a_s) and a_s >= 0):
            raise ValueError(f"alpha_s must be finite and ≥ 0, got {alpha_s!r}")
        self.alpha_s = a_s
        g = np.asarray(gamma, dtype=float)
        if g.shape != (2,) or not np.all(np.isfinite(g)):
            raise ValueError(f"gamma must be two finite numbers (gamma_x, gamma_y), got {gamma!r}")
        self.gamma = g
        Hm = np.eye(2) if H is None else np.asarray(H, dtype=float)
        if Hm.shape != (2, 2) or not np.all(np.isfinite(Hm)):
            raise ValueError(f"H must be a finite 2×2 matrix, got shape {Hm.shape}")
        if not np.allclose(Hm, Hm.T, rtol=1e-12, atol=1e-14 * np.abs(Hm).max()):
            raise ValueError("H must be symmetric")
        if np.linalg.eigvalsh(Hm).min() <= 0:
            raise ValueError("H must be positive definite (both eigenvalues > 0)")
        self.H = Hm

        kx_max, ky_max = self.nx // 2, self.ny // 2
        kx, ky = np.meshgrid(np.arange(-kx_max, kx_max + 1), np.arange(0, ky_max + 1))
        kx, ky = kx.ravel(), ky.ravel()
        half = (ky > 0) | ((ky == 0) & (kx > 0))
        kx = np.concatenate([[0], kx[half]])
        ky = np.concatenate([[0], ky[half]])
        self._k = np.stack([kx, ky], 1)  # (M, 2) integer wavenumbers, ω = 0 first
        self.omega = 2 * np.pi * np.stack([kx / self.Lx, ky / self.Ly], 1)  # (M, 2)
        self.weights = np.where(np.arange(len(kx)) == 0, 1.0, 2.0)  # (M,)
        om = self.omega
        self.lam = self.kappa**2 + np.einsum("mi,ij,mj->m", om, self.H, om)  # (M,)
        self.decay = self.lam**self.alpha / self.c  # Re a_ω (M,)
        self.rotation = om @ self.gamma / self.c  # Im a_ω (M,)
        self.q = self.tau**2 * self.lam ** (-self.alpha_s) / (2 * self.lam**self.alpha)
        self.area = self.Lx * self.Ly
        # grid map: half-set mode m → flat FFT index (k_y mod ny)·nx + (k_x mod nx)
        flat = (ky % self.ny) * self.nx + (kx % self.nx)
        self._to_grid = sp.csr_matrix(
            (self.weights, (flat, np.arange(len(kx)))), shape=(self.nx * self.ny, len(kx)))

    # ---- construction from the model's parameters ------------------------------------------
    @classmethod
    def from_params(cls, Lx: float, Ly: float, nx: int, ny: int, params: dict,
                    alpha: float = 1, alpha_s: float = 1) -> SpectralAdvectionDiffusion:
        """Build from a dict of the finite-element model's parameters.

        Parameters
        ----------
        Lx, Ly : float
            Side lengths of the periodic domain.
        nx, ny : int
            Grid points per axis.
        params : dict
            ``kappa``, ``c``, ``tau``, and optionally ``gamma_x``, ``gamma_y``, ``H_scale``,
            ``H_ratio``, ``H_angle``.
        alpha, alpha_s : float, default 1
            Orders of the diffusion operator and of the noise colour.

        Returns
        -------
        SpectralAdvectionDiffusion

        Raises
        ------
        KeyError
            If ``kappa``, ``c`` or ``tau`` is missing.
        ValueError
            As the constructor.
        """
        p = {k: float(v) for k, v in params.items()}
        H = diffusion_matrix(p.get("H_scale", 1.0), p.get("H_ratio", 1.0),
                             p.get("H_angle", 0.0))
        return cls(Lx, Ly, nx, ny, p["kappa"], p["c"], p["tau"],
                   gamma=(p.get("gamma_x", 0.0), p.get("gamma_y", 0.0)), H=H, alpha=alpha,
                   alpha_s=alpha_s)

    @property
    def n_modes(self) -> int:
        """Number of independent complex modes kept (ω = 0 and one of each pair ±ω).

        Returns
        -------
        int
        """
        return len(self.weights)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Grid coordinates of :meth:`simulate`.

        Returns
        -------
        x : numpy.ndarray
            ``(nx,)``, i·Lx/nx.
        y : numpy.ndarray
            ``(ny,)``, j·Ly/ny.
        """
        return (np.arange(self.nx) * self.Lx / self.nx, np.arange(self.ny) * self.Ly / self.ny)

    # ---- second-order structure -----------------------------------------------------------
    def transition(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        r"""Exact AR(1) transition of each kept mode over a time step.

        Parameters
        ----------
        dt : float
            Time step Δt ≥ 0.

        Returns
        -------
        phi : numpy.ndarray
            ``(M,)`` complex, :math:`\phi = e^{-(\lambda^\alpha + i\gamma\cdot\omega)\Delta t/c}`.
        var : numpy.ndarray
            ``(M,)`` innovation variances :math:`q(1 - e^{-2\lambda^\alpha\Delta t/c})`.

        Raises
        ------
        ValueError
            If ``dt`` is negative or not finite.
        """
        dt = float(dt)
        if not (math.isfinite(dt) and dt >= 0):
            raise ValueError(f"time step must be finite and ≥ 0, got {dt!r}")
        phi = np.exp(-(self.decay + 1j * self.rotation) * dt)
        return phi, self.q * -np.expm1(-2 * self.decay * dt)

    def covariance(self, h, u) -> np.ndarray:
        r"""Space-time covariance :math:`C(h, u) = \mathrm{Cov}(X(s + h, t + u), X(s, t))`.

        .. math::

            C(h, u) = \frac{1}{A} \sum_\omega q_\omega e^{-\lambda_\omega^\alpha |u|/c}
            \cos(\omega\cdot h - (\gamma\cdot\omega) u/c).

        Parameters
        ----------
        h : array_like
            ``(m, 2)`` spatial lags.
        u : float or array_like
            ``(m,)`` time lags, or a scalar.

        Returns
        -------
        numpy.ndarray
            ``(m,)`` covariances.

        Raises
        ------
        ValueError
            If ``h`` is not ``(m, 2)`` or a lag is not finite.
        """
        h = np.atleast_2d(np.asarray(h, dtype=float))
        if h.ndim != 2 or h.shape[1] != 2:
            raise ValueError(f"spatial lags must have shape (m, 2), got {h.shape}")
        u = np.broadcast_to(np.asarray(u, dtype=float), (h.shape[0],))
        if not (np.all(np.isfinite(h)) and np.all(np.isfinite(u))):
            raise ValueError("spatial and time lags must be finite")
        wq = self.weights * self.q / self.area
        out = np.empty(h.shape[0])
        step = max(1, 2**22 // self.n_modes)
        for i in range(0, h.shape[0], step):
            hh, uu = h[i:i + step], u[i:i + step, None]
            phase = hh @ self.omega.T - self.rotation * uu
            out[i:i + step] = (np.exp(-self.decay * np.abs(uu)) * np.cos(phase)) @ wq
        return out

    def covariance_matrix(self, points, times) -> np.ndarray:
        r"""Dense covariance of the field at stations and times, stacked time-major.

        Index ``k·n + i`` (time k, station i), as the FEM model stacks its states: block (k, l) is
        :math:`\mathrm{Re}(E\, \mathrm{diag}(w q \phi(t_k - t_l))\, E^H)/A` for :math:`t_k \ge t_l`,
        :math:`E = e^{i\omega\cdot s}` ``(n, M)``, and its transpose above the diagonal. For exact
        (oracle) likelihoods at small sizes; cost n² M per distinct time lag.

        Parameters
        ----------
        points : array_like
            ``(n, 2)`` stations.
        times : array_like
            ``(n_t,)`` times.

        Returns
        -------
        numpy.ndarray
            ``(n_t·n, n_t·n)`` covariance.

        Raises
        ------
        ValueError
            If ``points`` is not a finite ``(n, 2)`` array or ``times`` not a non-empty finite 1-D
            array.
        """
        pts = np.asarray(points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
            raise ValueError(f"points must be a finite array of shape (n, 2), got {pts.shape}")
        t = np.asarray(times, dtype=float)
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)):
            raise ValueError("times must be a non-empty finite 1-D array")
        n, nt = len(pts), t.size
        E = np.exp(1j * (pts @ self.omega.T))
        wq = self.weights * self.q / self.area
        lag = t[:, None] - t[None, :]
        scale = max(float(np.ptp(t)), 1.0)
        keys, inverse = np.unique(np.round(np.abs(lag) / scale, 12), return_inverse=True)
        inverse = inverse.reshape(nt, nt)
        blocks = {}
        out = np.empty((nt * n, nt * n))
        for k in range(nt):
            for j in range(nt):
                if lag[k, j] < 0:
                    continue
                key = inverse[k, j]
                if key not in blocks:
                    phi, _ = self.transition(keys[key] * scale)
                    blocks[key] = ((E * (wq * phi)) @ E.conj().T).real
                out[k * n:(k + 1) * n, j * n:(j + 1) * n] = blocks[key]
                out[j * n:(j + 1) * n, k * n:(k + 1) * n] = blocks[key].T
        return out

    def marginal_variance(self) -> float:
        r"""Marginal variance of the truncated periodic field, :math:`C(0, 0)`.

        :math:`C(0, 0) = \sum_\omega q_\omega / A` over the whole symmetric mode set.

        Returns
        -------
        float
        """
        return float(self.weights @ self.q / self.area)

    def continuum_marginal_variance(self) -> float:
        r"""The marginal variance of the model on the plane (untruncated, non-periodic).

        .. math::

            \sigma^2 = \frac{\tau^2}{2} \frac{\Gamma(\nu)}{\Gamma(\alpha + \alpha_s)\, 4\pi\,
            \kappa^{2\nu} \sqrt{\det H}}, \qquad \nu = \alpha + \alpha_s - 1.

        Returns
        -------
        float
            σ², or ``inf`` where ν ≤ 0.
        """
        beta = self.alpha + self.alpha_s
        nu = beta - 1.0
        if nu <= 0:
            return math.inf
        return (self.tau**2 / 2 * math.gamma(nu)
                / (math.gamma(beta) * 4 * math.pi * self.kappa ** (2 * nu)
                   * math.sqrt(np.linalg.det(self.H))))

    # ---- simulation ---------------------------------------------------------------------------
    def _coefficient_steps(self, times, n_replicates: int, seed):
        """Mode coefficients ``(r, M)`` complex at each time in turn: stationary start, exact
        AR(1) steps (one time's coefficients in memory at once)."""
        t = np.asarray(times, dtype=float)
        if t.ndim != 1 or t.size == 0:
            raise ValueError(f"times must be a non-empty 1-D array, got shape {t.shape}")
        if not np.all(np.isfinite(t)):
            raise ValueError("times must be finite")
        if np.any(np.diff(t) <= 0):
            raise ValueError("times must be strictly increasing")
        if (isinstance(n_replicates, bool) or not isinstance(n_replicates, (int, np.integer))
                or n_replicates < 1):
            raise ValueError(f"n_replicates must be a positive integer, got {n_replicates!r}")
        rng = np.random.default_rng(seed)
        r, m = int(n_replicates), self.n_modes
        real = np.zeros(m, bool)
        real[0] = True  # ω = 0: a real OU process

        def noise():
            e = rng.standard_normal((r, m, 2))
            z = (e[..., 0] + 1j * e[..., 1]) / math.sqrt(2.0)
            z[:, real] = e[:, real, 0]
            return z

        z = np.sqrt(self.q) * noise()
        yield z
        for k in range(1, t.size):
            phi, var = self.transition(t[k] - t[k - 1])
            z = phi * z + np.sqrt(var) * noise()
            yield z

    def _coefficients(self, times, n_replicates: int, seed) -> np.ndarray:
        """Mode coefficients ``(r, n_t, M)`` complex: stationary start, exact AR(1) steps."""
        return np.stack(list(self._coefficient_steps(times, n_replicates, seed)), 1)

    def simulate(self, times, n_replicates: int = 1, seed=None) -> np.ndarray:
        """Exact draws on the grid (:meth:`grid`) at the given times.

        The field starts from its stationary law and steps by the exact AR(1) transitions; the grid
        values come from an inverse FFT.

        Parameters
        ----------
        times : array_like
            ``(n_t,)`` strictly increasing times.
        n_replicates : int, default 1
            Number of independent draws r.
        seed : int or numpy.random.Generator or None, optional
            Seed; the same seed gives the same Fourier coefficients as :meth:`sample_at`.

        Returns
        -------
        numpy.ndarray
            ``(r, n_t, ny, nx)``; entry ``[.., j, i]`` at (i·Lx/nx, j·Ly/ny).

        Raises
        ------
        ValueError
            If ``times`` is empty, not finite or not strictly increasing, or ``n_replicates`` is not
            a positive integer.
        """
        z = self._coefficients(times, n_replicates, seed)
        r, nt, m = z.shape
        F = (self._to_grid @ z.reshape(r * nt, m).T).T.reshape(r, nt, self.ny, self.nx)
        X = np.fft.ifft2(F, axes=(-2, -1)).real * (self.nx * self.ny)
        return X / math.sqrt(self.area)

    def sample_at(self, points, times, n_replicates: int = 1, seed=None,
                  nugget: float = 0.0, method: str = "auto") -> np.ndarray:
        """Exact draws at stations: the Fourier series evaluated at the points.

        ``method="direct"`` sums the series at each point (n × M complex exponentials);
        ``"nufft"`` evaluates it by a type-2 non-uniform FFT (FINUFFT, Barnett, Magland &
        af Klinteberg 2019) at relative accuracy :data:`NUFFT_TOLERANCE`, in O(M log M + n)
        per time; ``"auto"`` takes the NUFFT where n × M exceeds :data:`NUFFT_ABOVE`. The
        coefficients, and so the draws, are the same for a seed.

        Parameters
        ----------
        points : array_like
            ``(n, 2)`` stations (any coordinates; the domain is periodic).
        times : array_like
            ``(n_t,)`` strictly increasing times.
        n_replicates : int, default 1
            Number of independent draws r.
        seed : int or numpy.random.Generator or None, optional
            Seed; the field part equals :meth:`simulate`'s at grid points for the same seed.
        nugget : float, default 0.0
            Variance of independent N(0, nugget) measurement error, drawn after the field (so the
            field part is the same as with ``nugget=0``).
        method : {"auto", "direct", "nufft"}, default "auto"
            How the series is evaluated at the points.

        Returns
        -------
        numpy.ndarray
            ``(r, n_t, n)``.

        Raises
        ------
        ValueError
            If ``points`` is not a finite ``(n, 2)`` array, ``nugget`` is negative, ``times`` /
            ``n_replicates`` are invalid, or the method is unknown.
        """
        if method not in ("auto", "direct", "nufft"):
            raise ValueError(f"method must be 'auto', 'direct' or 'nufft', got {method!r}")
        pts = np.asarray(points, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValueError("points must be finite")
        nug = float(nugget)
        if not (math.isfinite(nug) and nug >= 0):
            raise ValueError(f"nugget must be finite and ≥ 0, got {nugget!r}")
        rng = np.random.default_rng(seed)
        # one time at a time: memory O(r M), not O(r n_t M)
        steps = self._coefficient_steps(times, n_replicates, rng)
        if method == "nufft" or (method == "auto" and len(pts) * self.n_modes > NUFFT_ABOVE):
            X = self._series_nufft(steps, pts, int(n_replicates))
        else:
            E = (np.exp(1j * (pts @ self.omega.T)) * self.weights).T  # (M, n)
            X = np.stack([(z @ E).real for z in steps], 1) / math.sqrt(self.area)
        if nug > 0:
            X = X + math.sqrt(nug) * rng.standard_normal(X.shape)
        return X

    def _series_nufft(self, steps, pts: np.ndarray, r: int) -> np.ndarray:
        """Re Σ_m w_m z_m e^{iω_m·x} / √area at the points ``(n, 2)`` for each time's
        coefficients ``(r, M)`` of ``steps``, by one FINUFFT type-2 plan on the centred
        wavenumber grid; ``(r, n_t, n)``."""
        import finufft

        kx_max, ky_max = self.nx // 2, self.ny // 2
        shape = (2 * kx_max + 1, 2 * ky_max + 1)
        plan = finufft.Plan(2, shape, n_trans=r, eps=NUFFT_TOLERANCE, isign=1, nthreads=1)
        # the points as phases in [−π, π): the series is periodic
        plan.setpts(np.mod(2 * np.pi * pts[:, 0] / self.Lx + np.pi, 2 * np.pi) - np.pi,
                    np.mod(2 * np.pi * pts[:, 1] / self.Ly + np.pi, 2 * np.pi) - np.pi)
        ix, iy = self._k[:, 0] + kx_max, self._k[:, 1] + ky_max
        grid = np.zeros((r, *shape), complex)
        out = []
        for z in steps:
            grid[:, ix, iy] = z * self.weights
            out.append(plan.execute(grid).reshape(r, len(pts)).real)
        return np.stack(out, 1) / math.sqrt(self.area)

        r, n_t, m = z.shape
        kx_max, ky_max = self.nx // 2, self.ny // 2
        grid = np.zeros((r * n_t, 2 * kx_max + 1, 2 * ky_max + 1), complex)
        grid[:, self._k[:, 0] + kx_max, self._k[:, 1] + ky_max] = (
            z.reshape(r * n_t, m) * self.weights)
        # the points as phases in [−π, π): the series is periodic
        x = np.mod(2 * np.pi * pts[:, 0] / self.Lx + np.pi, 2 * np.pi) - np.pi
        y = np.mod(2 * np.pi * pts[:, 1] / self.Ly + np.pi, 2 * np.pi) - np.pi
        values = finufft.nufft2d2(x, y, grid, isign=1, eps=NUFFT_TOLERANCE, nthreads=1)
        return values.real.reshape(r, n_t, len(pts)) / math.sqrt(self.area)
