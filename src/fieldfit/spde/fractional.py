r"""The Matérn SPDE of any smoothness: a sum of m + 1 GMRFs by a rational approximation.

For :math:`\tau(\kappa^2 - \nabla\cdot H\nabla)^{\alpha/2} x = \mathcal{W}` with
:math:`\alpha = \nu + d/2 = n + \beta` (n an integer, 0 < β < 1), the covariance operator
:math:`\tau^{-2}\kappa^{-2\alpha}\tilde L^{-\alpha}` (:math:`\tilde L = \kappa^{-2}L`) is
approximated by :math:`\tilde L^{-n}(kI + \sum_j a_j (I + b_j\tilde L)^{-1})`
(:mod:`fieldfit.spde.rational`), so the field is :math:`x = x_0 + \dots + x_m`, independent
GMRFs with the finite-element precisions (lumped mass :math:`\tilde C`,
:math:`K = \kappa^2\tilde C + G`, :math:`P_j = K(\tilde C^{-1}K)^{j-1}`, :math:`P_0 = \tilde C`,
:math:`s = \tau^2\kappa^{2\alpha}`)

.. math::

    Q_0 = \frac{s}{k}\,\kappa^{-2n} P_n, \qquad
    Q_j = \frac{s}{a_j}\bigl(\kappa^{-2n} P_n + b_j\,\kappa^{-2n-2} P_{n+1}\bigr),

(Xiong, Simas & Bolin 2022, the covariance-based form), and with :math:`\tilde C` diagonal

.. math::

    \log|Q_0| = N\log\tfrac{s}{k} + n\,(\log|K| - \log|\tilde C| - 2N\log\kappa)
                + \log|\tilde C|, \\
    \log|Q_j| = N\log\tfrac{s}{a_j} + n\,(\log|K| - \log|\tilde C| - 2N\log\kappa)
                + \log|\tilde C + b_j\kappa^{-2}K|,

so :math:`\log|Q|` needs factorisations of m + 1 matrices of the mesh's pattern only. τ follows
from the marginal variance σ² by the Matérn formula (as :class:`~fieldfit.spde.matern.
MaternSPDE`), with Γ(ν) differentiable in ν. The block-diagonal precision of
:math:`(x_0, \dots, x_m)` has every block on :math:`P_{n+1}`'s pattern; the observations see
their sum, :math:`\bar A = [A, \dots, A]`.

The integer part n is fixed by the model (its *band*): ν moves within
(n + 0.005 − d/2, n + 0.995 − d/2) (above 0); an order within 0.005 of an integer is that
integer, :class:`~fieldfit.spde.matern.MaternSPDE`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..gmrf import GMRF, Pattern
from ..params import DTYPE, Param, interval
from .fem import FEM
from .matern import PatternProduct, rotated_diffusion, spde_param_specs
from .rational import BETA_MAX, ORDERS, coefficients, split_order
from .summed_fields import SummedFields

#: the smallest fractional part β a free smoothness reaches (the terms' a_j vanish at 0)
BETA_MIN = 0.01


def band_of(smoothness: float, d: int) -> int:
    """The integer part n of α = ν + d/2 (the band whose model represents ν).

    Parameters
    ----------
    smoothness : float
        ν > 0.
    d : int
        The dimension.

    Returns
    -------
    int
    """
    return split_order(float(smoothness) + d / 2.0)[0]


def band_limits(n: int, d: int) -> tuple[float, float]:
    """The open smoothness interval of band n: ν with α = n + β, β in (BETA_MIN/2,
    (1 + BETA_MAX)/2) and ν > 0 (the coefficients are those of β clamped to [BETA_MIN,
    BETA_MAX]; the orders between are within 0.005 of an integer).

    Parameters
    ----------
    n : int
        The integer part of α.
    d : int
        The dimension.

    Returns
    -------
    (float, float)
    """
    return (max(n + BETA_MIN / 2 - d / 2.0, BETA_MIN / 2),
            n + (1.0 + BETA_MAX) / 2 - d / 2.0)


def smoothness_param(band: int, d: int, value: float, order: int,
                     fixed: bool = False) -> Param:
    """The ``smoothness`` parameter of the rational approximation in band n: ν in
    :func:`band_limits`, starting at (or fixed to) ``value``.

    Parameters
    ----------
    band : int
        The integer part n of α = ν + d/2.
    d : int
        The dimension.
    value : float
        ν (brought into the band).
    order : int
        The rational approximation's order m (for the description).
    fixed : bool, default False
        Whether ν is fixed.

    Returns
    -------
    fieldfit.params.Param
    """
    lo, hi = band_limits(band, d)
    return Param("smoothness", interval(lo, hi), min(max(value, lo), hi), fixed=fixed,
                 doc=f"Matérn smoothness ν, within [{lo:g}, {hi:g}] (SPDE order α = ν + d/2 "
                     f"= {band} + β; rational approximation of order {order})")


class FractionalMaternSPDE(SummedFields):
    r"""Precision of the weights of the fractional Matérn SPDE: m + 1 GMRFs, block-diagonal.

    .. math::

        x = \sum_{i=0}^{m} x_i, \quad x_i \sim N(0, Q_i^{-1}), \quad
        \mathrm{Cov}(x) \approx \tau^{-2}\kappa^{-2\alpha}\tilde L^{-n}
        \Bigl(kI + \sum_j a_j (I + b_j\tilde L)^{-1}\Bigr)\tilde C^{-1}

    (module docstring). Parameters: ``variance`` σ², ``range`` ℓ = 1/κ, ``smoothness`` ν
    (free within the band, or fixed), and ``angle``, ``ratio`` when anisotropic (a constant
    H as :class:`~fieldfit.spde.matern.MaternSPDE`). Stationary: κ, τ and H are constants.

    Parameters
    ----------
    mesh_or_fem : Mesh or FEM
        The mesh, or its finite elements.
    smoothness : float
        ν: its band n = ⌊ν + d/2⌋ (an order within 0.005 of an integer counts as that
        integer) is the model's; the value is the parameter's start (or its fixed value).
    order : int, default 2
        The rational approximation's order m (1–4): m + 1 fields.
    anisotropic : bool, default False
        Add ``angle`` and ``ratio`` (2-D only).

    Raises
    ------
    ValueError
        For ν ≤ 0, an order outside 1–4, or anisotropy outside 2-D.

    References
    ----------
    Bolin, D. & Kirchner, K. (2020). The rational SPDE approach for Gaussian random fields
    with general smoothness. JCGS 29, 274–285.

    Xiong, Z., Simas, A. B. & Bolin, D. (2022). Covariance-based rational approximations of
    fractional SPDEs for computationally efficient Bayesian inference. arXiv:2209.04670.
    """

    def __init__(self, mesh_or_fem, smoothness: float, order: int = 2,
                 anisotropic: bool = False):
        self.fem = mesh_or_fem if isinstance(mesh_or_fem, FEM) else FEM(mesh_or_fem)
        d = self.fem.dim
        if not smoothness > 0:
            raise ValueError(f"the smoothness ν must be positive, got {smoothness}")
        if order not in ORDERS:
            raise ValueError(f"the rational approximation's order must be one of {ORDERS}, "
                             f"got {order}")
        if anisotropic and d != 2:
            raise ValueError("anisotropy is implemented in 2-D")
        self.d, self.order, self.anisotropic = d, int(order), bool(anisotropic)
        self.band = band_of(smoothness, d)
        self.limits = band_limits(self.band, d)
        self.start = float(min(max(smoothness, self.limits[0]), self.limits[1]))
        fem, n = self.fem, self.band
        base = (fem.indptr.astype(np.int64), fem.indices.astype(np.int64), fem.n_nodes)
        self._products, pattern, patterns = [], base, [base]
        for _ in range(n):                       # P_2 .. P_{n+1}
            prod = PatternProduct(pattern, base)
            self._products.append(prod)
            pattern = prod.pattern
            patterns.append(pattern)
        ptr, idx, N = pattern                    # P_{n+1}'s pattern, every block's
        # where P_n's entries (the diagonal for P_0) sit in P_{n+1}'s pattern
        low = patterns[n - 1] if n >= 1 else (np.arange(N + 1), np.arange(N), N)
        self._embed = torch.from_numpy(_positions(low, (ptr, idx, N)))
        self._base_diag = torch.from_numpy(np.asarray(fem.diag_index, np.int64))
        self._block_pattern(ptr, idx, N, self.order + 1)
        self._lumped = fem.lumped_mass_values()
        self._log_lumped_sum = torch.log(self._lumped).sum()
        self._mesh_gmrf: GMRF | None = None

    # --- parameters ---------------------------------------------------------------------------
    def param_specs(self) -> list[Param]:
        """``variance``, ``range`` (and ``angle``, ``ratio``) and ``smoothness``.

        Returns
        -------
        list of fieldfit.params.Param
        """
        return [*spde_param_specs(self.anisotropic),
                smoothness_param(self.band, self.d, self.start, self.order)]

    def smoothness_of(self, p) -> torch.Tensor:
        """ν from the parameters, checked against the band."""
        nu = torch.as_tensor(p["smoothness"], dtype=DTYPE)
        lo, hi = self.limits
        if not lo < float(nu.detach()) < hi:
            raise ValueError(f"smoothness {float(nu):g} is outside this model's band "
                             f"[{lo:g}, {hi:g}] (SPDE order {self.band} + β): build the model "
                             "with a smoothness in the band you need")
        return nu

    # --- the precision ------------------------------------------------------------------------
    def _parts(self, p):
        d, n, m = self.d, self.band, self.order
        kappa = 1.0 / torch.as_tensor(p["range"], dtype=DTYPE)
        H = rotated_diffusion(p["angle"], p["ratio"]) if self.anisotropic else None
        det = p["ratio"] ** 2 if self.anisotropic else torch.ones((), dtype=DTYPE)
        nu = self.smoothness_of(p)
        alpha = nu + d / 2.0
        k, a, b = coefficients(torch.clamp(alpha - n, BETA_MIN, BETA_MAX), d, n, m)
        K = self.fem.stiffness_values(H).index_add(0, self._base_diag,
                                                   kappa**2 * self._lumped)
        log_factor = (torch.lgamma(nu) - torch.lgamma(alpha) - d / 2.0 * math.log(4 * math.pi))
        log_tau2 = log_factor - 2 * nu * torch.log(kappa) - torch.log(
            torch.as_tensor(p["variance"], dtype=DTYPE)) - 0.5 * torch.log(det)
        log_s = log_tau2 + 2 * alpha * torch.log(kappa)
        return kappa, K, k, a, b, log_s

    def _values(self, kappa, K, k, a, b, log_s) -> torch.Tensor:
        n = self.band
        inv_c = 1.0 / self._lumped
        powers = [K]
        for prod in self._products:
            powers.append(prod(powers[-1], inv_c, K))
        top = powers[n]                                            # P_{n+1}
        low = powers[n - 1] if n >= 1 else self._lumped            # P_n (P_0 = C̃)
        low = torch.zeros_like(top).index_add(0, self._embed, low) * kappa ** (-2 * n)
        top = top * kappa ** (-2 * n - 2)
        s = torch.exp(log_s)
        blocks = [s / k * low] + [s / a[j] * (low + b[j] * top) for j in range(self.order)]
        return torch.cat(blocks)

    def precision_values(self, p) -> torch.Tensor:
        """The block-diagonal precision's values on (``indptr``, ``indices``), differentiable.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            ``((m+1) nnz_block,)``.
        """
        return self._values(*self._parts(p))

    def precision_and_logdet(self, p) -> tuple[torch.Tensor, torch.Tensor]:
        r"""The precision's values and :math:`\log|Q|`, both differentiable.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Natural parameter values by name.

        Returns
        -------
        values : torch.Tensor
            ``((m+1) nnz_block,)``.
        logdet : torch.Tensor
            0-d.

        Raises
        ------
        ValueError
            If a factorised matrix is not positive definite.
        """
        kappa, K, k, a, b, log_s = self._parts(p)
        N, n = self.N, self.band
        if self._mesh_gmrf is None:
            fem = self.fem
            self._mesh_gmrf = GMRF(Pattern(fem.indptr.astype(np.int64),
                                           fem.indices.astype(np.int64), fem.n_nodes))
        log_c = self._log_lumped_sum
        shared = torch.zeros((), dtype=DTYPE)
        if n > 0:
            shared = n * (self._mesh_gmrf.factorize(K).logdet() - log_c
                          - 2 * N * torch.log(kappa))
        logdet = N * (log_s - torch.log(k)) + shared + log_c
        for j in range(self.order):
            shifted = (b[j] / kappa**2 * K).index_add(0, self._base_diag, self._lumped)
            logdet = logdet + (N * (log_s - torch.log(a[j])) + shared
                               + self._mesh_gmrf.factorize(shifted).logdet())
        return self._values(kappa, K, k, a, b, log_s), logdet

    def __repr__(self):
        return (f"FractionalMaternSPDE(band={self.band}, order={self.order}, "
                f"nodes={self.N}, anisotropic={self.anisotropic})")


def _positions(low, high) -> np.ndarray:
    """The position in ``high``'s CSC pattern of each entry of ``low``'s (a sub-pattern)."""
    lp, li, n = low
    hp, hi, _ = high
    # column-major keys are ascending in a canonical CSC pattern
    key_high = np.repeat(np.arange(n, dtype=np.int64), np.diff(hp)) * n + hi
    key_low = np.repeat(np.arange(n, dtype=np.int64), np.diff(lp)) * n + li
    pos = np.searchsorted(key_high, key_low)
    if pos.size and (pos.max() >= len(key_high) or not np.array_equal(key_high[pos],
                                                                        key_low)):
        raise AssertionError("P_n's pattern is not inside P_{n+1}'s")
    return pos


__all__ = ["BETA_MIN", "FractionalMaternSPDE", "band_limits", "band_of", "smoothness_param"]
