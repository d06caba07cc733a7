"""The space-time advection–diffusion SPDE, discretised by P1 finite elements and a θ-scheme.

The θ-scheme in time is implicit Euler (θ = 1) or Crank–Nicolson (θ = ½). The model is::

    [∂/∂t + (1/c)(κ² − ∇·H∇)^α + (1/c) γ·∇] X(s, t) = (τ/√c) Z(s, t),   Z = W_T ⊗ Z_S,
    (κ² − ∇·H∇)^{α_s/2} Z_S = W_S

(Clarotto, Allard, Romary & Desassis 2024, Spatial Statistics 62, 100847): κ damping, H an
anisotropic diffusion matrix, γ an advection velocity, c a time scale, τ a scale; W_T white in
time, Z_S a spatially coloured (α_s > 0) or white (α_s = 0) noise.

**Space.** With the lumped mass C̃, K = κ²C̃ + G(H), K₁ = K, K₂ = K C̃⁻¹ K; the advection
B_ij = ∫ φᵢ γ·∇φⱼ (Galerkin, transport along +γ/c); streamline diffusion S = G(δ γγᵀ) per cell
T with the classical weight (Brooks & Hughes 1982)::

    δ_T = h_T / (2|γ|) · (coth Pe_T − 1/Pe_T),   Pe_T = |γ| h_T / (2 γ̂ᵀHγ̂),

h_T the longest edge: it tends to h_T/(2|γ|) where advection dominates (Pe ≫ 1) and vanishes
smoothly (as h_T²|γ|²/(12 γ̂ᵀHγ̂)) where diffusion does, so it is always on when enabled (c
cancels from Pe: diffusion and advection share the 1/c). For α = 2 the Péclet number uses the
second-order H all the same.

**Time.** Steps t_k = t₀ + kΔt, k = 0 … n_t − 1, the θ-scheme (A_k = K_α + B_k + S_k)::

    D_k x_k = M_k x_{k−1} + τ √(Δt/c) ξ_k,   D_k = C̃ + θ(Δt/c)A_k,
    M_k = C̃ − (1 − θ)(Δt/c)A_k,   ξ_k ~ N(0, C̃ Q_{α_s}⁻¹ C̃),   Q₀ = C̃, Q₁ = K, Q₂ = K C̃⁻¹ K,

so the innovations e_k = D_k x_k − M_k x_{k−1} have precision Σ⁻¹ = σ C̃⁻¹Q_{α_s}C̃⁻¹,
σ = c/(τ²Δt). θ = 1 is implicit Euler (M = C̃; Clarotto et al.), first order: per Fourier
mode of rate z it keeps 1/(1 + zΔt) where the continuum keeps e^{−zΔt}. θ = ½ is
Crank–Nicolson, second order ((1 − zΔt/2)/(1 + zΔt/2), the (1, 1) Padé approximant), and
without advection it leaves the semi-discrete stationary law N(0, Q_init⁻¹) invariant for
any Δt (the midpoint rule's discrete Lyapunov equation is the continuous one), where implicit
Euler's chain shrinks the fast modes' variance. Both are unconditionally stable (θ ≥ ½).

The initial state has the stationary spatial marginal of the continuous model:
integrating its spectral density τ²c λ^{−α_s} / ((2π)^{d+1}((ck + γ·ω)² + λ^{2α})),
λ = κ² + ωᵀHω, over the temporal frequency k gives (τ²/2)(2π)^{−d} λ^{−(α+α_s)}, the Matérn
SPDE (κ² − ∇·H∇)^{(α+α_s)/2} x₀ = (τ/√2) W, so Q_init = (2/τ²) K (C̃⁻¹K)^{α+α_s−1}
(marginal variance (τ²/2) Γ(ν)/(Γ(α+α_s)(4π)^{d/2} κ^{2ν} √det H), ν = α + α_s − d/2;
γ does not change it).

**Space-time precision.** x = (x₀, …, x_{n_t−1}) stacked time-major (index k·N + i). With L
block lower bidiagonal (I, then D_k on the diagonal, −C̃ below) and W = blockdiag(Q_init,
Σ⁻¹, …), Q = LᵀWL is block tridiagonal::

    Q_kk = [k = 0] Q_init + [k ≥ 1] D_kᵀΣ⁻¹D_k + [k < n_t−1] M_{k+1}ᵀΣ⁻¹M_{k+1},
    Q_{k,k−1} = −D_kᵀ Σ⁻¹ M_k,   Q_{k−1,k} = Q_{k,k−1}ᵀ,

(for θ = 1, MᵀΣ⁻¹M = σQ_{α_s} and DᵀΣ⁻¹M = σDᵀC̃⁻¹Q_{α_s} on smaller patterns; for θ < 1
both are products on DᵀΣ⁻¹D's pattern: DᵀC̃⁻¹M, DᵀC̃⁻¹KC̃⁻¹M, EᵀC̃⁻¹F with E = KC̃⁻¹D,
F = KC̃⁻¹M for α_s = 0, 1, 2),
assembled on one fixed CSC pattern from spatial pattern products (no dense block) and
differentiable in every parameter, and::

    log|Q| = log|Q_init| + Σ_{k≥1} (2 log|det D_k| − log|Σ|),
    log|Σ| = N log(τ²Δt/c) + 2 Σ log C̃_ii − log|Q_{α_s}|,

with log|det D_k| = ½ log|D_kᵀD_k| (D_k is not symmetric when γ ≠ 0) and log|K| by sparse
Cholesky: log|Q| never factorises the space-time matrix (L is block lower triangular with
diagonal blocks D_k for every θ).

**Identifiability.** Multiplying κ², H by s and c, γ by s^α (τ² by s^{α+α_s}) leaves the
discrete (and the continuous) model unchanged: one of κ, c and the scale of H must be fixed.
``H_scale`` (H = H_scale · R(θ) diag(1, λ²) R(θ)ᵀ) is fixed at 1 by default.

**Nonstationarity.** ``gamma_fields``: two :class:`~fieldfit.spde.fields.Field` objects
named ``gamma_x`` and ``gamma_y`` (identity link), evaluated at the cell centroids, in (x, y)
or, for 3-D fields, in (x, y, t) at each step (then D_k varies with k); ``H_field``: a field
named ``H_scale`` multiplying H per cell (its intercept fixed at 1 unless ``fix_H_scale=False``);
``kappa_field``: a field named ``kappa`` (exp link) evaluated at the nodes, K = diag(κ²(sᵢ))C̃
+ G(H) (Q_init keeps its form, now the nonstationary SPDE's; log|Q| is unchanged).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from ..gmrf import GMRF, Pattern
from ..params import DTYPE, Param, interval, positive, real
from .fem import FEM
from .fields import Field
from .matern import PatternProduct, rotated_diffusion


def _pattern(ptr, idx, n) -> tuple[np.ndarray, np.ndarray, int]:
    return np.asarray(ptr, np.int64), np.asarray(idx, np.int64), int(n)


def _transpose_index(pattern) -> torch.Tensor:
    """Positions of (j, i) for each stored (i, j) of a symmetric pattern."""
    return torch.from_numpy(np.asarray(Pattern(*pattern).transpose, np.int64))


def _embed(small, big) -> torch.Tensor:
    """Positions of the entries of pattern ``small`` inside pattern ``big`` (small ⊂ big)."""
    sp_, si, n = small
    bp, bi, _ = big
    scol = np.repeat(np.arange(n), np.diff(sp_))
    bcol = np.repeat(np.arange(n), np.diff(bp))
    bkey = bcol * n + bi
    pos = np.searchsorted(bkey, scol * n + si)
    if np.any(pos >= len(bkey)) or np.any(bkey[np.minimum(pos, len(bkey) - 1)] != scol * n + si):
        raise ValueError("pattern is not contained in the larger one")
    return torch.from_numpy(pos.astype(np.int64))


def _xi_over_pe(pe2: torch.Tensor) -> torch.Tensor:
    """g(Pe) = (coth Pe − 1/Pe) / Pe as a smooth function of Pe² (g → 1/3 at 0)."""
    small = pe2 < 1e-4
    pe = torch.sqrt(torch.where(small, torch.ones_like(pe2), pe2))
    big = (1.0 / torch.tanh(pe) - 1.0 / pe) / pe
    series = 1.0 / 3.0 - pe2 / 45.0 + 2.0 * pe2 * pe2 / 945.0
    return torch.where(small, series, big)


def advection_diffusion_param_specs(advection: bool = True, anisotropic: bool = False,
                                    gamma_fields=None, H_field=None,
                                    fix_H_scale: bool = True, kappa_field=None) -> list[Param]:
    """The parameters of :class:`AdvectionDiffusionSPDE`.

    They are ``kappa`` (or the κ field's intercept and weights), ``c``, ``tau``, ``H_scale``
    (fixed at 1 by default), ``H_ratio``, ``H_angle`` (anisotropic), ``gamma_x``, ``gamma_y``
    (advection; or the γ fields' weights) and the H field's weights.

    Parameters
    ----------
    advection : bool, default True
        Include the advection velocity ``gamma_x``, ``gamma_y``.
    anisotropic : bool, default False
        Include ``H_ratio`` and ``H_angle``.
    gamma_fields : tuple of Field or None, optional
        Fields ``gamma_x``, ``gamma_y`` replacing the constant velocity.
    H_field : Field or None, optional
        Field ``H_scale`` scaling H per cell.
    fix_H_scale : bool, default True
        Whether ``H_scale`` (or the H field's intercept) is fixed at 1 (identifiability).
    kappa_field : Field or None, optional
        Field ``kappa`` replacing the constant damping.

    Returns
    -------
    list of fieldfit.params.Param
    """
    out = (kappa_field.param_specs() if kappa_field is not None
           else [Param("kappa", positive, 1.0, doc="damping κ")])
    out += [Param("c", positive, 1.0, doc="time scale c"),
           Param("tau", positive, 1.0, doc="scale τ")]
    if H_field is not None:
        specs = H_field.param_specs()
        specs[0] = Param("H_scale", positive, 1.0, fixed=fix_H_scale,
                         doc="scale of H where the other weights are 0")
        out += specs
    else:
        out.append(Param("H_scale", positive, 1.0, fixed=fix_H_scale,
                         doc="scale of the diffusion matrix H (fixed: see identifiability)"))
    if anisotropic:
        out += [Param("H_ratio", positive, 1.0, doc="√(diffusion across / along H_angle)"),
                Param("H_angle", interval(-math.pi / 2, math.pi / 2), 0.0,
                      doc="direction of the main diffusion axis")]
    if gamma_fields is not None:
        for f in gamma_fields:
            out += f.param_specs()
    elif advection:
        out += [Param("gamma_x", real, 0.0, doc="advection velocity, x component"),
                Param("gamma_y", real, 0.0, doc="advection velocity, y component")]
    return out


class AdvectionDiffusionSPDE:
    r"""Space-time precision of the θ-scheme FEM discretisation of the advection–diffusion SPDE.

    The SPDE of Clarotto, Allard, Romary & Desassis (2024),

    .. math::

        \Big[\frac{\partial}{\partial t} + \frac{1}{c}(\kappa^2 - \nabla\cdot H\nabla)^{\alpha}
        + \frac{1}{c}\gamma\cdot\nabla\Big] X(s, t) = \frac{\tau}{\sqrt{c}} Z(s, t),

    with Z white in time and :math:`(\kappa^2 - \nabla\cdot H\nabla)^{\alpha_s/2} Z_S = W_S` in
    space; the discretisation and the precision Q of the stacked states
    ``(x_0, …, x_{n_t−1})`` (time-major) are in the module docstring. Its parameters are
    ``kappa``, ``c``, ``tau``, ``H_scale`` (fixed at 1), ``H_ratio``, ``H_angle``, ``gamma_x``,
    ``gamma_y``.

    Parameters
    ----------
    mesh_or_fem : Mesh or FEM
        The spatial mesh (2-D), or its finite elements.
    n_times : int
        Number of time steps n_t ≥ 2.
    dt : float, default 1.0
        Step length Δt > 0.
    t0 : float, default 0.0
        Time of the first step.
    alpha : {1, 2}, default 1
        Order of the spatial operator in time.
    alpha_s : {0, 1, 2}, default 0
        Spatial colour of the noise (0: white).
    advection : bool, default True
        Estimate the velocity γ.
    anisotropic : bool, default False
        Estimate ``H_ratio`` and ``H_angle``.
    stabilization : bool, default True
        Streamline diffusion (Brooks & Hughes 1982); it matters only where
        :math:`|\gamma|\, h_T \gtrsim 2 \hat\gamma^\top H \hat\gamma`.
    gamma_fields : tuple of Field or None, optional
        Fields named ``gamma_x``, ``gamma_y`` (identity link) of (x, y) or (x, y, t).
    H_field : Field or None, optional
        Field named ``H_scale`` scaling H per cell.
    fix_H_scale : bool, default True
        Whether ``H_scale`` is fixed at 1.
    theta : float, default 1.0
        Time scheme θ ∈ [½, 1] (1: implicit Euler; ½: Crank–Nicolson).
    kappa_field : Field or None, optional
        Field named ``kappa`` with the exp link, evaluated at the nodes.

    Raises
    ------
    ValueError
        If the mesh is not 2-D, ``alpha``, ``alpha_s``, ``n_times``, ``dt`` or ``theta`` is out
        of range, or a field is misnamed or has the wrong link or dimension.

    References
    ----------
    Clarotto, L., Allard, D., Romary, T. & Desassis, N. (2024). The SPDE approach for
    spatio-temporal datasets with advection and diffusion. Spatial Statistics 62, 100847.

    Brooks, A. N. & Hughes, T. J. R. (1982). Streamline upwind/Petrov–Galerkin formulations for
    convection dominated flows. Comput. Methods Appl. Mech. Eng. 32, 199–259.
    """

    def __init__(self, mesh_or_fem, n_times: int, dt: float = 1.0, t0: float = 0.0,
                 alpha: int = 1, alpha_s: int = 0, advection: bool = True,
                 anisotropic: bool = False, stabilization: bool = True,
                 gamma_fields: tuple[Field, Field] | None = None, H_field: Field | None = None,
                 fix_H_scale: bool = True, theta: float = 1.0,
                 kappa_field: Field | None = None):
        self.fem = mesh_or_fem if isinstance(mesh_or_fem, FEM) else FEM(mesh_or_fem)
        mesh = self.fem.mesh
        if mesh.dim != 2:
            raise ValueError(f"the advection–diffusion SPDE is implemented in 2-D, got "
                             f"{mesh.dim}-D")
        if alpha not in (1, 2):
            raise ValueError(f"alpha must be 1 or 2, got {alpha}")
        if alpha_s not in (0, 1, 2):
            raise ValueError(f"alpha_s must be 0, 1 or 2, got {alpha_s}")
        if int(n_times) != n_times or n_times < 2:
            raise ValueError(f"n_times must be an integer ≥ 2, got {n_times}")
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"dt must be positive, got {dt}")
        if not 0.5 <= float(theta) <= 1.0:
            raise ValueError(f"the time scheme's theta must be in [0.5, 1] (0.5: Crank–Nicolson, "
                             f"1: implicit Euler), got {theta}")
        self.theta = float(theta)
        if gamma_fields is not None:
            names = tuple(f.name for f in gamma_fields)
            if names != ("gamma_x", "gamma_y"):
                raise ValueError(f"gamma_fields must be named ('gamma_x', 'gamma_y'), got {names}")
            if any(f.link != "identity" for f in gamma_fields):
                raise ValueError("gamma fields need the identity link (γ takes any sign)")
            advection = True
        if H_field is not None and H_field.name != "H_scale":
            raise ValueError(f"the H field must be named 'H_scale', got {H_field.name!r}")
        if kappa_field is not None and (kappa_field.name != "kappa"
                                        or kappa_field.link != "exp"):
            raise ValueError("the κ field must be named 'kappa' with the exp link")
        self.kappa_field = kappa_field
        self.n_space, self.n_times = self.fem.n_nodes, int(n_times)
        self.dt, self.t0 = float(dt), float(t0)
        self.alpha, self.alpha_s = alpha, alpha_s
        self.advection, self.anisotropic = advection, anisotropic
        self.stabilization = stabilization and advection
        self.gamma_fields, self.H_field, self.fix_H_scale = gamma_fields, H_field, fix_H_scale
        self.times = self.t0 + self.dt * np.arange(self.n_times)
        self.n = self.n_space * self.n_times

        fem, N = self.fem, self.n_space
        self._c = fem.lumped_mass_values()  # (N,)
        self._inv_c = 1.0 / self._c
        self._log_c = float(torch.log(self._c).sum())
        self._diag = torch.from_numpy(np.asarray(fem.diag_index, np.int64))
        P1 = _pattern(fem.indptr, fem.indices, N)
        self._P1 = P1
        # K_α (and D) on P_D
        if alpha == 2:
            self._kk = PatternProduct(P1, P1)
            PD = self._kk.pattern
            self._emb1 = _embed(P1, PD)
        else:
            self._kk, PD, self._emb1 = None, P1, None
        self._PD = PD
        self._tD = _transpose_index(PD)
        self._diagD = torch.from_numpy(np.asarray(Pattern(*PD).diagonal, np.int64))
        # D_kᵀ Σ⁻¹ D_k (σ factored out) and D_kᵀ Σ⁻¹ C̃ (σ factored out)
        if alpha_s == 0:
            self._dd = PatternProduct(PD, PD)  # Dᵀ C̃⁻¹ D
            POff = PD  # Dᵀ
        else:
            self._e = PatternProduct(P1, PD)  # E = K C̃⁻¹ D
            PE = self._e.pattern
            self._tE = _transpose_index(PE)
            if alpha_s == 1:
                self._dd = PatternProduct(PD, PE)  # Dᵀ C̃⁻¹ E
                self._off = PatternProduct(PD, P1)  # Dᵀ C̃⁻¹ K
            else:
                self._dd = PatternProduct(PE, PE)  # Eᵀ C̃⁻¹ E
                self._off = PatternProduct(PE, P1)  # Eᵀ C̃⁻¹ K
            POff = self._off.pattern
        PDD = self._dd.pattern
        # σ Q_{α_s}
        if alpha_s == 2:
            self._qs = PatternProduct(P1, P1)
            PQs = self._qs.pattern
        else:
            self._qs, PQs = None, P1
        self._PQs = PQs
        # Q_init = (2/τ²) K (C̃⁻¹K)^{α+α_s−1}
        self._init_products, Pi = [], P1
        for _ in range(alpha + alpha_s - 1):
            prod = PatternProduct(Pi, P1)
            self._init_products.append(prod)
            Pi = prod.pattern
        self._PI = Pi
        # DᵀD (with w = 1) for log|det D|: the same product as DᵀC̃⁻¹D when α_s = 0
        self._DtD = self._dd if alpha_s == 0 else PatternProduct(PD, PD)
        self._dtd_gmrf: GMRF | None = None
        self._k_gmrf: GMRF | None = None
        if self.theta < 1.0:  # MᵀΣ⁻¹M and DᵀΣ⁻¹M (θ-scheme) share DᵀΣ⁻¹D's pattern
            PQs, POff = PDD, PDD
        self._parts = (Pi, PQs, PDD, POff)  # the space-time pattern is built on first use
        self._st = None
        # cells: centroids, longest edges (streamline diffusion), per-cell fields
        self._centroids = mesh.centroids
        self._h = torch.from_numpy(np.array(mesh.longest_edges))
        self._gdesign = None
        self._time_varying = False
        if gamma_fields is not None:
            dims = {f.dim_hint() for f in gamma_fields}
            if len(dims) != 1 or dims.pop() not in (2, 3):
                raise ValueError("the gamma fields must both be functions of (x, y) or of "
                                 "(x, y, t)")
            self._time_varying = gamma_fields[0].dim_hint() == 3
            if self._time_varying:
                pts = np.concatenate([np.column_stack([self._centroids, np.full(mesh.n_cells, t)])
                                      for t in self.times[1:]])
            else:
                pts = self._centroids
            self._gpts = pts
            self._gdesign = tuple(f.design(pts) for f in gamma_fields)
        self._hdesign = H_field.design(self._centroids) if H_field is not None else None
        # κ(s) at the nodes (the lumped κ²C̃ of K is per node)
        self._kdesign = (kappa_field.design(mesh.nodes) if kappa_field is not None else None)

    # ------------------------------------------------------------------ structure
    def _space_time(self):
        """The space-time CSC pattern (indptr, indices) and, for the concatenated values of
        the contributions, where each goes (built once, on first use: simulation needs none
        of it)."""
        if self._st is None:
            self._st = self._assemble_pattern(*self._parts)
        return self._st

    def _assemble_pattern(self, PI, PQs, PDD, POff):
        N, T = self.n_space, self.n_times
        parts = []  # (pattern, block rows, block cols, transposed?)
        k = np.arange(T)
        parts.append((PI, np.array([0]), np.array([0]), False))  # Q_init
        parts.append((PQs, k[:-1], k[:-1], False))  # σ Q_{α_s}
        parts.append((PDD, k[1:], k[1:], False))  # D_kᵀΣ⁻¹D_k
        parts.append((POff, k[1:], k[:-1], False))  # −D_kᵀΣ⁻¹C̃ at (k, k−1)
        parts.append((POff, k[:-1], k[1:], True))  # its transpose at (k−1, k)
        rows, cols = [], []
        for (ptr, idx, n), br, bc, transposed in parts:
            col = np.repeat(np.arange(n), np.diff(ptr))
            r, c = (col, idx) if transposed else (idx, col)
            rows.append((br[:, None] * N + r[None, :]).ravel())
            cols.append((bc[:, None] * N + c[None, :]).ravel())
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        key = cols.astype(np.int64) * self.n + rows
        uniq, inv = np.unique(key, return_inverse=True)
        gcols, grows = uniq // self.n, uniq % self.n
        indptr = np.searchsorted(gcols, np.arange(self.n + 1)).astype(np.int64)
        return indptr, grows.astype(np.int64), torch.from_numpy(inv.astype(np.int64))

    @property
    def indptr(self) -> np.ndarray:
        """Column pointers of Q's space-time CSC pattern (built on first use).

        Returns
        -------
        numpy.ndarray
            ``(N n_t + 1,)`` int64.
        """
        return self._space_time()[0]

    @property
    def indices(self) -> np.ndarray:
        """Row indices of Q's space-time CSC pattern (built on first use).

        Returns
        -------
        numpy.ndarray
            ``(nnz,)`` int64, sorted within each column.
        """
        return self._space_time()[1]

    @property
    def nnz(self) -> int:
        """Number of stored entries of Q.

        Returns
        -------
        int
        """
        return len(self.indices)

    @property
    def pattern(self) -> Pattern:
        """Q's space-time pattern as a :class:`fieldfit.gmrf.Pattern`.

        Returns
        -------
        fieldfit.gmrf.Pattern
        """
        return Pattern(self.indptr, self.indices, self.n)

    # ------------------------------------------------------------------ parameters
    def param_specs(self) -> list[Param]:
        """The model's parameters (see :func:`advection_diffusion_param_specs`).

        Returns
        -------
        list of fieldfit.params.Param
        """
        return advection_diffusion_param_specs(self.advection, self.anisotropic,
                                               self.gamma_fields, self.H_field, self.fix_H_scale,
                                               self.kappa_field)

    def H(self, p) -> torch.Tensor:
        r"""The diffusion tensor H, per cell or constant.

        :math:`H = H_\mathrm{scale}\, R(\theta)\, \mathrm{diag}(1, \lambda^2)\, R(\theta)^\top`
        (:math:`\lambda = 1`, :math:`\theta = 0` when isotropic).

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (natural scale; see :meth:`param_specs`).

        Returns
        -------
        torch.Tensor
            ``(2, 2)`` constant, or ``(M, 2, 2)`` per cell with an H field.
        """
        if self.anisotropic:
            H = rotated_diffusion(p["H_angle"], p["H_ratio"])
        else:
            H = torch.eye(2, dtype=DTYPE)
        if self.H_field is not None:
            return self.H_field(self._centroids, p, self._hdesign)[:, None, None] * H
        return torch.as_tensor(p["H_scale"], dtype=DTYPE) * H

    def gamma(self, p) -> torch.Tensor | None:
        """The advection velocity γ.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (natural scale; see :meth:`param_specs`).

        Returns
        -------
        torch.Tensor or None
            ``(2,)`` constant, ``(M, 2)`` per cell or ``(n_t − 1, M, 2)`` per step and cell; None
            without advection.
        """
        if not self.advection:
            return None
        if self.gamma_fields is None:
            return torch.stack([torch.as_tensor(p["gamma_x"], dtype=DTYPE),
                                torch.as_tensor(p["gamma_y"], dtype=DTYPE)])
        g = torch.stack([f(self._gpts, p, d) for f, d in zip(self.gamma_fields, self._gdesign,
                                                              strict=True)], dim=-1)
        if self._time_varying:
            return g.reshape(self.n_times - 1, -1, 2)
        return g

    # ------------------------------------------------------------------ matrices
    def _k_values(self, p, H) -> torch.Tensor:
        if self.kappa_field is not None:
            kappa = self.kappa_field(self.fem.mesh.nodes, p, self._kdesign)  # (N,)
        else:
            kappa = torch.as_tensor(p["kappa"], dtype=DTYPE)
        return self.fem.stiffness_values(H).index_add(0, self._diag, kappa**2 * self._c)

    def _stabilization(self, gamma, H) -> torch.Tensor:
        """S = G(δ γγᵀ) values ``(..., nnz₁)`` for γ ``(2,)``, ``(M, 2)`` or ``(T, M, 2)``."""
        M = self.fem.mesh.n_cells
        g = gamma if gamma.ndim > 1 else gamma.expand(M, 2)
        Hc = H if H.ndim == 3 else H.expand(M, 2, 2)
        gg = (g * g).sum(-1)  # |γ|²
        gHg = torch.einsum("...mi,mij,...mj->...m", g, Hc, g)  # |γ|² γ̂ᵀHγ̂
        lam = gHg / torch.clamp(gg, min=1e-300)  # γ̂ᵀHγ̂ (any value where γ = 0)
        lam = torch.where(gg > 0, lam, torch.ones_like(lam))
        pe2 = gg * self._h**2 / (4.0 * lam**2)
        # δ_T = h/(2|γ|) ξ(Pe) = h²/(4 γ̂ᵀHγ̂) · ξ(Pe)/Pe, smooth through γ = 0
        delta = self._h**2 / (4.0 * lam) * _xi_over_pe(pe2)
        tensor = delta[..., None, None] * g[..., :, None] * g[..., None, :]
        if tensor.ndim == 3:
            return self.fem.stiffness_values(tensor)
        return torch.stack([self.fem.stiffness_values(t) for t in tensor])

    def step_values(self, p, K=None, H=None) -> torch.Tensor:
        r"""Values of the step operator :math:`D_k = \tilde C + \theta(\Delta t/c)A_k`.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (natural scale; see :meth:`param_specs`).
        K : torch.Tensor or None, optional
            Precomputed ``(nnz₁,)`` values of K on the spatial pattern (from ``p`` when None).
        H : torch.Tensor or None, optional
            Precomputed diffusion tensor (from ``p`` when None).

        Returns
        -------
        torch.Tensor
            ``(nnz_D,)``, or ``(n_t − 1, nnz_D)`` when γ varies in time.
        """
        return self._with_mass(self.theta * self._generator_values(p, K, H))

    def previous_values(self, p, K=None, H=None) -> torch.Tensor:
        r"""The previous-state operator :math:`M_k = \tilde C - (1 - \theta)(\Delta t/c)A_k`.

        :math:`A_k = K_\alpha + B_k + S_k`; :math:`M_k = \tilde C` for implicit Euler. The values
        are on D's pattern.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (natural scale; see :meth:`param_specs`).
        K : torch.Tensor or None, optional
            Precomputed ``(nnz₁,)`` values of K on the spatial pattern (from ``p`` when None).
        H : torch.Tensor or None, optional
            Precomputed diffusion tensor (from ``p`` when None).

        Returns
        -------
        torch.Tensor
            ``(nnz_D,)``, or ``(n_t − 1, nnz_D)`` when γ varies in time.
        """
        return self._with_mass(-(1.0 - self.theta) * self._generator_values(p, K, H))

    def _with_mass(self, op) -> torch.Tensor:
        """C̃ + op for values ``(..., nnz_D)``."""
        return op.index_add(-1, self._diagD, self._c.expand(op.shape[:-1] + (-1,))
                            if op.ndim > 1 else self._c)

    def _generator_values(self, p, K=None, H=None) -> torch.Tensor:
        """(Δt/c)(K_α + B_k + S_k) on D's pattern: ``(nnz_D,)`` or ``(n_t−1, nnz_D)``."""
        H = self.H(p) if H is None else H
        K = self._k_values(p, H) if K is None else K
        Ka = self._kk(K, self._inv_c, K) if self.alpha == 2 else K
        extra = None
        gamma = self.gamma(p)
        if gamma is not None:
            if gamma.ndim == 3:
                extra = torch.stack([self.fem.advection_values(g) for g in gamma])
            else:
                extra = self.fem.advection_values(gamma)
            if self.stabilization:
                extra = extra + self._stabilization(gamma, H)
            if self.alpha == 2:
                extra = torch.zeros(extra.shape[:-1] + (Ka.shape[-1],),
                                    dtype=DTYPE).index_add(-1, self._emb1, extra)
        scale = self.dt / torch.as_tensor(p["c"], dtype=DTYPE)
        op = Ka if extra is None else Ka + extra
        return scale * op

    def _sigma(self, p) -> torch.Tensor:
        return torch.as_tensor(p["c"], dtype=DTYPE) / (
            torch.as_tensor(p["tau"], dtype=DTYPE) ** 2 * self.dt)

    def precision_values(self, p) -> torch.Tensor:
        """Q's values on (``indptr``, ``indices``), differentiable.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (natural scale; see :meth:`param_specs`).

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` float64 values.
        """
        H = self.H(p)
        K = self._k_values(p, H)
        return self._values(p, K, *self._operators(p, K, H))

    def _operators(self, p, K, H):
        """(D_k, M_k) values (M None for implicit Euler, where M = C̃)."""
        if self.theta == 1.0:
            return self.step_values(p, K, H), None
        G = self._generator_values(p, K, H)
        return self._with_mass(self.theta * G), self._with_mass(-(1.0 - self.theta) * G)

    def precision_and_logdet(self, p) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Q's values and :math:`\log|Q|`, both differentiable.

        :math:`\log|Q|` is assembled from sparse Cholesky factorisations of K and
        :math:`D_k^\top D_k` (module docstring); the space-time matrix is never factorised.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (natural scale; see :meth:`param_specs`).

        Returns
        -------
        values : torch.Tensor
            ``(nnz,)`` Q values.
        logdet : torch.Tensor
            0-d :math:`\log|Q|`.

        Raises
        ------
        ValueError
            If K or :math:`D_k^	op D_k` is not positive definite.
        """
        H = self.H(p)
        K = self._k_values(p, H)
        D, M = self._operators(p, K, H)
        tau2 = torch.as_tensor(p["tau"], dtype=DTYPE) ** 2
        return self._values(p, K, D, M), self._logdet(p, K, D, tau2)

    def _values(self, p, K, D, M=None) -> torch.Tensor:
        sigma = self._sigma(p)
        tau2 = torch.as_tensor(p["tau"], dtype=DTYPE) ** 2
        Dt = D[..., self._tD]  # Dᵀ's values on the same pattern
        ic = self._inv_c
        if M is not None:  # θ-scheme: MᵀΣ⁻¹M and DᵀΣ⁻¹M on DᵀΣ⁻¹D's pattern
            Mt = M[..., self._tD]
            if self.alpha_s == 0:
                dd, qs, off = self._dd(Dt, ic, Dt), self._dd(Mt, ic, Mt), -self._dd(Dt, ic, Mt)
            else:
                E, F = self._e(K, ic, Dt), self._e(K, ic, Mt)  # K C̃⁻¹ D, K C̃⁻¹ M
                Et, Ft = E[..., self._tE], F[..., self._tE]
                if self.alpha_s == 1:
                    dd, qs, off = (self._dd(Dt, ic, Et), self._dd(Mt, ic, Ft),
                                   -self._dd(Dt, ic, Ft))
                else:
                    dd, qs, off = (self._dd(Et, ic, Et), self._dd(Ft, ic, Ft),
                                   -self._dd(Et, ic, Ft))
        elif self.alpha_s == 0:
            dd = self._dd(Dt, ic, Dt)
            off = -Dt
            qs = torch.zeros_like(K).index_add(0, self._diag, self._c)
        else:
            E = self._e(K, ic, Dt)  # K C̃⁻¹ D
            Et = E[..., self._tE]
            if self.alpha_s == 1:
                dd, off = self._dd(Dt, ic, Et), -self._off(Dt, ic, K)
                qs = K
            else:
                dd, off = self._dd(Et, ic, Et), -self._off(Et, ic, K)
                qs = self._qs(K, ic, K)
        init = K
        for prod in self._init_products:
            init = prod(init, ic, K)
        T = self.n_times
        parts = [(2.0 / tau2) * init,
                 (sigma * qs).expand(T - 1, -1) if qs.ndim == 1 else sigma * qs,
                 (sigma * dd).expand(T - 1, -1) if dd.ndim == 1 else sigma * dd,
                 (sigma * off).expand(T - 1, -1) if off.ndim == 1 else sigma * off]
        parts.append(parts[-1])
        flat = torch.cat([v.reshape(-1) for v in parts])
        return torch.zeros(self.nnz, dtype=DTYPE).index_add(0, self._space_time()[2], flat)

    def _logdet(self, p, K, D, tau2) -> torch.Tensor:
        N, T = self.n_space, self.n_times
        if self._k_gmrf is None:
            self._k_gmrf = GMRF(Pattern(*self._P1))
            self._dtd_gmrf = GMRF(Pattern(*self._DtD.pattern))
        logK = self._k_gmrf.factorize(K).logdet()
        a = self.alpha + self.alpha_s
        log_init = N * torch.log(2.0 / tau2) + a * logK - (a - 1) * self._log_c
        log_qs = {0: torch.as_tensor(self._log_c, dtype=DTYPE), 1: logK,
                  2: 2.0 * logK - self._log_c}[self.alpha_s]
        log_sigma = (N * torch.log(tau2 * self.dt / torch.as_tensor(p["c"], dtype=DTYPE))
                     + 2.0 * self._log_c - log_qs)
        ones = torch.ones(N, dtype=DTYPE)
        Dt = D[..., self._tD]
        if D.ndim == 1:
            logdetD = 0.5 * self._dtd_gmrf.factorize(self._DtD(Dt, ones, Dt)).logdet()
            total = (T - 1) * (2.0 * logdetD - log_sigma)
        else:
            logdetD = sum(0.5 * self._dtd_gmrf.factorize(self._DtD(d, ones, d)).logdet()
                          for d in Dt)
            total = 2.0 * logdetD - (T - 1) * log_sigma
        return log_init + total

    def projector(self, points) -> sp.csr_matrix:
        """Observation matrix A mapping the space-time weights to points (x, y, t).

        Barycentric in space × linear in time between the two steps around t (that step alone when
        t is on the grid).

        Parameters
        ----------
        points : array_like
            ``(m, 3)`` points (x, y, t).

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(m, N n_t)``.

        Raises
        ------
        ValueError
            If a time lies outside the model's time grid, or a point outside the mesh.
        """
        points = np.atleast_2d(np.asarray(points, dtype=np.float64))
        As = self.fem.mesh.projector(points[:, :2]).tocoo()
        u = (points[:, 2] - self.t0) / self.dt
        if np.any(u < -1e-9) or np.any(u > self.n_times - 1 + 1e-9):
            bad = int(np.flatnonzero((u < -1e-9) | (u > self.n_times - 1 + 1e-9))[0])
            raise ValueError(f"time {points[bad, 2]} is outside the model's time grid "
                             f"[{self.t0}, {self.times[-1]}]")
        k = np.clip(np.floor(u + 1e-9).astype(np.int64), 0, self.n_times - 2)
        w = np.clip(u - k, 0.0, 1.0)
        N = self.n_space
        rows = np.concatenate([As.row, As.row])
        cols = np.concatenate([k[As.row] * N + As.col, (k[As.row] + 1) * N + As.col])
        vals = np.concatenate([As.data * (1 - w[As.row]), As.data * w[As.row]])
        A = sp.csr_matrix((vals, (rows, cols)), shape=(len(points), self.n))
        A.eliminate_zeros()
        return A

    # ------------------------------------------------------------------ simulation
    def sample(self, p, n_samples: int = 1, seed=None, progress: bool = False) -> np.ndarray:
        r"""Draw space-time fields by time stepping.

        :math:`x_0 \sim N(0, Q_\mathrm{init}^{-1})` (sparse Cholesky), then
        :math:`D_k x_k = M_k x_{k-1} + \tau\sqrt{\Delta t/c}\, \tilde C z_k`
        (:math:`M_k = \tilde C` for θ = 1) with :math:`z_k \sim N(0, Q_{\alpha_s}^{-1})`
        (:math:`z_k = \tilde C^{-1/2} n` for :math:`\alpha_s = 0`, else by the Cholesky factor of
        :math:`Q_{\alpha_s}`), one sparse LU of D (SuperLU) reused for every step (one per step when
        γ varies in time).

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (natural scale; see :meth:`param_specs`).
        n_samples : int, default 1
            Number of draws.
        seed : int or numpy.random.Generator or None, optional
            Seed of the draws.
        progress : bool, default False
            Show a progress bar over the steps.

        Returns
        -------
        numpy.ndarray
            ``(n_samples, n_t, N)`` draws.

        Raises
        ------
        ValueError
            If ``n_samples < 1``, or a factorised matrix is not positive definite.
        """
        from scipy.sparse import csc_matrix
        from scipy.sparse.linalg import splu
        from tqdm.auto import tqdm

        from ..gmrf import standard_normals

        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        rng = np.random.default_rng(seed)
        N, Tn = self.n_space, self.n_times
        with torch.no_grad():
            H = self.H(p)
            K = self._k_values(p, H)
            D, M = self._operators(p, K, H)
            D, M = D.numpy(), None if M is None else M.numpy()
            tau, c = float(p["tau"]), float(p["c"])
            ic = self._inv_c
            init = K
            for prod in self._init_products:
                init = prod(init, ic, K)
            init = (2.0 / tau**2) * init
            qs = None if self.alpha_s == 0 else (K if self.alpha_s == 1 else self._qs(K, ic, K))
        ct = self._c.numpy()
        x = np.empty((n_samples, Tn, N))
        f0 = GMRF(Pattern(*self._PI)).factorize(init)
        x[:, 0] = np.asarray(f0.sample(n_samples, seed=int(rng.integers(2**63)))).reshape(
            n_samples, N)
        fs = None if qs is None else GMRF(Pattern(*self._PQs)).factorize(qs)
        ptr, idx, _ = self._PD
        lu = None if D.ndim > 1 else splu(csc_matrix((D, idx, ptr), shape=(N, N)))
        scale = tau * math.sqrt(self.dt / c)
        steps = range(1, Tn)
        for k in tqdm(steps, desc="time steps", unit=" step", disable=not progress, leave=False):
            if fs is None:
                z = standard_normals(N, n_samples, int(rng.integers(2**63))) / np.sqrt(ct)[:, None]
            else:
                z = np.asarray(fs.sample(n_samples, seed=int(rng.integers(2**63)))).reshape(
                    n_samples, N).T
            if M is None:
                rhs = ct[:, None] * (x[:, k - 1].T + scale * z)
            else:
                Mk = M if M.ndim == 1 else M[k - 1]
                rhs = (csc_matrix((Mk, idx, ptr), shape=(N, N)) @ x[:, k - 1].T
                       + ct[:, None] * (scale * z))
            step = lu if lu is not None else splu(csc_matrix((D[k - 1], idx, ptr), shape=(N, N)))
            x[:, k] = step.solve(rhs).T
        return x

    def precision(self, p):
        """Q as a scipy sparse matrix.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Parameter values by name (natural scale; see :meth:`param_specs`).

        Returns
        -------
        scipy.sparse.csc_matrix
            ``(N n_t, N n_t)`` precision.
        """
        with torch.no_grad():
            v = self.precision_values(p).numpy()
        return sp.csc_matrix((v, self.indices, self.indptr), shape=(self.n, self.n))

    def __repr__(self):
        return (f"AdvectionDiffusionSPDE(nodes={self.n_space}, n_times={self.n_times}, "
                f"dt={self.dt:g}, theta={self.theta:g}, alpha={self.alpha}, "
                f"alpha_s={self.alpha_s}, "
                f"advection={self.advection}, anisotropic={self.anisotropic})")


__all__ = ["AdvectionDiffusionSPDE", "advection_diffusion_param_specs"]
