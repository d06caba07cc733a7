"""Matérn, exponential and Gaussian covariances.

Matérn (Stein 1999; Rasmussen & Williams 2006, eq. 4.14 with ℓ in place of ℓ/√(2ν)):

    C(h) = σ² 2^{1−ν}/Γ(ν) (h/ℓ)^ν K_ν(h/ℓ),      σ² = variance, ℓ = range, ν = smoothness

closed forms at ν = 1/2: e^{−r}; ν = 3/2: (1 + r) e^{−r}; ν = 5/2: (1 + r + r²/3) e^{−r}.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..params import Param, positive
from ..settings import current
from .base import Isotropic, Params, register_covariance
from .bessel import LOG2, log_bessel_k
from .hermite import HermiteExp

#: the smoothness values with closed-form torch correlations (any device, any batch shape)
CLOSED_FORMS = (0.5, 1.5, 2.5)
_TABLE_XMIN = 1e-6


def _closed_form(r: torch.Tensor, nu: float) -> torch.Tensor:
    e = torch.exp(-r)
    if nu == 0.5:
        return e
    if nu == 1.5:
        return (1.0 + r) * e
    return (1.0 + r + r * r / 3.0) * e


def _log_matern_direct(r: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
    """log ρ(r) for r > 0 through the Bessel function itself."""
    return (1.0 - nu) * LOG2 - torch.lgamma(nu) + nu * torch.log(r) + log_bessel_k(nu, r)


def _matern_direct(r: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
    pos = r > 0
    rs = torch.where(pos, r, torch.ones_like(r))
    return torch.where(pos, torch.exp(_log_matern_direct(rs, nu)), torch.ones_like(r))


def _matern_table(r: torch.Tensor, nu: torch.Tensor, step: float) -> torch.Tensor:
    """ρ(r) by cubic Hermite interpolation of G(t) = log ρ(e^t) on a grid in t = log r.

    The nodes carry G and G'(t) = −r K_{ν−1}(r)/K_ν(r), both differentiable in ν, so the
    interpolant is differentiable in r and ν. Interpolation error ≤ step⁴ max|G⁗|/384
    (about 1e-11 relative at the default step). The grid in t is fixed (from log 1e-6 to
    log(800 + 10ν)); only its nodes that bracket the distances given are evaluated, so the
    interpolant on each interval does not depend on the other distances. Distances below 1e-6
    go through the Bessel function directly; beyond the grid's end ρ underflows to 0.
    """
    xmax = 800.0 + 10.0 * float(nu.detach().abs())
    t0 = math.log(_TABLE_XMIN)
    nodes = int(math.ceil((math.log(xmax) - t0) / step)) + 1
    # only the grid's nodes that bracket the distances given: the same interpolant on every
    # interval used, at a fraction of the Bessel evaluations (scaled distances rarely span
    # more than 4 of the grid's 20 e-folds)
    rd = r.detach()
    inside = rd[(rd >= _TABLE_XMIN) & (rd < xmax)]
    first, last = 0, nodes - 1
    if inside.numel():
        first = max(0, int(math.floor((math.log(float(inside.min())) - t0) / step)))
        last = min(nodes - 1, int(math.ceil((math.log(float(inside.max())) - t0) / step)))
        last = max(last, first + 1)
    t_nodes = torch.from_numpy(t0 + step * np.arange(first, last + 1, dtype=np.float64)
                               ).to(r.dtype)
    t0 = t0 + first * step
    x_nodes = torch.exp(t_nodes)
    lk = log_bessel_k(nu, x_nodes)
    g = (1.0 - nu) * LOG2 - torch.lgamma(nu) + nu * t_nodes + lk
    hd = step * (-x_nodes * torch.exp(log_bessel_k(nu - 1.0, x_nodes) - lk))  # step·G'(t)
    g0, g1, d0, d1 = g[:-1], g[1:], hd[:-1], hd[1:]
    coef = torch.stack([g0, d0, 3 * (g1 - g0) - 2 * d0 - d1, 2 * (g0 - g1) + d0 + d1], dim=1)
    coef = torch.cat([coef, coef[-1:]])  # the clamp can land on the last node
    shape = r.shape
    r = r.reshape(-1)
    rho = HermiteExp.apply(coef, r, t0, step)
    small = torch.nonzero((r > 0) & (r < _TABLE_XMIN)).reshape(-1)
    if len(small):
        rho = rho.index_put((small,), torch.exp(_log_matern_direct(r[small], nu)))
    return rho.reshape(shape)


def matern_correlation(r: torch.Tensor, nu) -> torch.Tensor:
    r"""The Matérn correlation of scaled distances.

    .. math::

        \rho(r) = \frac{2^{1-\nu}}{\Gamma(\nu)} r^\nu K_\nu(r)

    in closed form at :math:`\nu \in \{1/2, 3/2, 5/2\}` unless :math:`\nu` needs a
    gradient; else through a table of :math:`\log\rho` interpolated in :math:`\log r` (large
    inputs) or the Bessel function itself.

    Parameters
    ----------
    r : torch.Tensor
        Scaled distances :math:`r \ge 0`, any shape.
    nu : float or torch.Tensor
        The smoothness :math:`\nu > 0` (a 0-d tensor where gradients flow).

    Returns
    -------
    torch.Tensor
        The correlations, the shape of ``r``.

    Raises
    ------
    ValueError
        For a smoothness that is not positive.
    """
    nu_t = torch.as_tensor(nu, dtype=r.dtype)
    if not nu_t.requires_grad and float(nu_t) in CLOSED_FORMS:
        return _closed_form(r, float(nu_t))
    if float(nu_t.detach()) <= 0:
        raise ValueError(f"Matérn smoothness must be positive, got {float(nu_t)}")
    cfg = current()
    if r.numel() >= cfg.matern_table_min:
        return _matern_table(r, nu_t, cfg.matern_table_step)
    return _matern_direct(r, nu_t)


@register_covariance("matern")
class Matern(Isotropic):
    r"""Matérn covariance (Stein 1999).

    .. math::

        C(h) = \sigma^2 \frac{2^{1-\nu}}{\Gamma(\nu)} (h/\ell)^\nu K_\nu(h/\ell)

    with ``variance`` :math:`\sigma^2`, ``range`` :math:`\ell` and ``smoothness``
    :math:`\nu > 0` (:math:`K_\nu` the modified Bessel function of the second kind).
    Differentiable in all three, :math:`\nu` included.

    Parameters
    ----------
    smoothness : float or None
        A fixed :math:`\nu`; None (default) estimates it.
    smoothness_search : tuple of float
        The box the optimiser searches :math:`\nu` in (default (0.05, 30), GSTools' upper
        end): as :math:`\nu \to \infty` the Matérn tends to the Gaussian covariance and the
        likelihood flattens out, so an unbounded search drifts; an estimate on the edge is
        reported by ``fit``.

    Raises
    ------
    ValueError
        For a smoothness that is not positive.

    References
    ----------
    M. L. Stein, Interpolation of Spatial Data: Some Theory for Kriging, Springer, 1999.
    C. E. Rasmussen and C. K. I. Williams, Gaussian Processes for Machine Learning, MIT
    Press, 2006, eq. 4.14 (with :math:`\ell` in place of :math:`\ell/\sqrt{2\nu}`).
    """

    def __init__(self, smoothness: float | None = None,
                 smoothness_search: tuple[float, float] = (0.05, 30.0)):
        if smoothness is not None and not smoothness > 0:
            raise ValueError(f"Matérn smoothness must be positive, got {smoothness}")
        self.smoothness = smoothness
        self.smoothness_search = smoothness_search

    def param_specs(self):
        """``variance``, ``range`` and ``smoothness`` (fixed when given).

        Returns
        -------
        list of Param
            The three parameters.
        """
        fixed = self.smoothness is not None
        nu = Param(
            "smoothness", positive, self.smoothness if fixed else 1.0, fixed=fixed,
            doc="smoothness ν", search=tuple(self.smoothness_search),
        )
        return [*super().param_specs(), nu]

    def correlation(self, r, p: Params):
        """:func:`matern_correlation` at ``p["smoothness"]``.

        Parameters
        ----------
        r : torch.Tensor
            Scaled distances, any shape.
        p : Mapping[str, torch.Tensor]
            Natural parameter values; ``smoothness`` is used.

        Returns
        -------
        torch.Tensor
            The correlations, the shape of ``r``.
        """
        return matern_correlation(r, p["smoothness"])

    def spec_options(self) -> dict:
        """``{"smoothness": ν or None}``.

        Returns
        -------
        dict
            The constructor option that rebuilds the covariance.

        Raises
        ------
        ValueError
            For a smoothness search box other than the default (no description carries it).
        """
        if tuple(self.smoothness_search) != (0.05, 30.0):
            raise ValueError("a Matérn with its own smoothness search box has no registered "
                             "description")
        return {"smoothness": self.smoothness}

    def __repr__(self):
        return f"Matern(smoothness={self.smoothness})"


@register_covariance("exponential")
class Exponential(Isotropic):
    r"""Exponential covariance, the Matérn with :math:`\nu = 1/2`.

    .. math::

        C(h) = \sigma^2 \exp(-h/\ell)

    References
    ----------
    M. L. Stein, Interpolation of Spatial Data: Some Theory for Kriging, Springer, 1999.
    """

    def correlation(self, r, p):
        r""":math:`\rho(r) = e^{-r}`.

        Parameters
        ----------
        r : torch.Tensor
            Scaled distances, any shape.
        p : Mapping[str, torch.Tensor]
            Natural parameter values (unused).

        Returns
        -------
        torch.Tensor
            The correlations, the shape of ``r``.
        """
        return torch.exp(-r)


@register_covariance("gaussian")
class Gaussian(Isotropic):
    r"""Gaussian (squared-exponential) covariance.

    .. math::

        C(h) = \sigma^2 \exp(-h^2 / (2\ell^2))

    the limit :math:`\nu \to \infty` of the Matérn with range :math:`\ell/\sqrt{2\nu}`
    (scikit-learn's RBF convention).

    References
    ----------
    C. E. Rasmussen and C. K. I. Williams, Gaussian Processes for Machine Learning, MIT
    Press, 2006, eq. 4.9.
    """

    def correlation(self, r, p):
        r""":math:`\rho(r) = e^{-r^2/2}`.

        Parameters
        ----------
        r : torch.Tensor
            Scaled distances, any shape.
        p : Mapping[str, torch.Tensor]
            Natural parameter values (unused).

        Returns
        -------
        torch.Tensor
            The correlations, the shape of ``r``.
        """
        return torch.exp(-0.5 * r * r)


__all__ = ["Matern", "Exponential", "Gaussian", "matern_correlation"]
