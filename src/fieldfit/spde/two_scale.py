r"""Two independent Matérn SPDE fields on one mesh, a long range and a short one.

.. math::

    x = x_\ell + x_s, \qquad
    \tau_\ell(\kappa_\ell^2 - \nabla\cdot H\nabla)^{\alpha/2} x_\ell = \mathcal{W}_\ell, \quad
    \tau_s(\kappa_s^2 - \Delta)^{\alpha/2} x_s = \mathcal{W}_s,

the SPDE counterpart of :class:`~fieldfit.covariance.TwoScaleMatern` (same α, so the same ν,
for both). The weights (x_ℓ, x_s) have the block-diagonal precision diag(Q_ℓ, Q_s) on two
copies of the mesh (:class:`~fieldfit.spde.matern.MaternSPDE` each), log|Q| the sum of
theirs, and the observations see the sum through [A, A]. The mesh must resolve the short
range too: its edge should be well below ℓ_s.
"""

from __future__ import annotations

import torch

from ..params import Param, positive
from .fem import FEM
from .matern import MaternSPDE
from .summed_fields import SummedFields


def short_param_specs() -> list[Param]:
    """``variance_short`` and ``range_short``: the short-range part's parameters.

    Returns
    -------
    list of fieldfit.params.Param
    """
    return [Param("variance_short", positive, 1.0,
                  doc="marginal variance of the short-range part"),
            Param("range_short", positive, 1.0, doc="range of the short-range part")]


class TwoScaleMaternSPDE(SummedFields):
    r"""Precision of the weights of a long-range plus a short-range Matérn SPDE field.

    .. math::

        Q = \begin{pmatrix} Q_\ell & 0 \\ 0 & Q_s \end{pmatrix}, \qquad
        \log|Q| = \log|Q_\ell| + \log|Q_s|

    Parameters: ``variance``, ``range`` (and ``angle``, ``ratio`` when anisotropic) of the
    long part, ``variance_short``, ``range_short`` of the short one (isotropic).

    Parameters
    ----------
    mesh_or_fem : Mesh or FEM
        The mesh, or its finite elements.
    alpha : int, default 2
        The SPDE order of both parts (ν = α − d/2).
    anisotropic : bool, default False
        A geometric anisotropy of the long part.
    """

    def __init__(self, mesh_or_fem, alpha: int = 2, anisotropic: bool = False):
        fem = mesh_or_fem if isinstance(mesh_or_fem, FEM) else FEM(mesh_or_fem)
        self.fem = fem
        self.long = MaternSPDE(fem, alpha, anisotropic)
        self.short = MaternSPDE(fem, alpha)
        self.alpha, self.anisotropic = self.long.alpha, self.long.anisotropic
        self._block_pattern(self.long.indptr, self.long.indices, self.long.n, 2)

    def param_specs(self) -> list[Param]:
        """The long part's parameters, then ``variance_short`` and ``range_short``.

        Returns
        -------
        list of fieldfit.params.Param
        """
        return [*self.long.param_specs(), *short_param_specs()]

    @staticmethod
    def _short(p):
        return {"variance": p["variance_short"], "range": p["range_short"]}

    def precision_values(self, p) -> torch.Tensor:
        """The block-diagonal precision's values, differentiable.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            ``(2 nnz,)``.
        """
        return torch.cat([self.long.precision_values(p),
                          self.short.precision_values(self._short(p))])

    def precision_and_logdet(self, p) -> tuple[torch.Tensor, torch.Tensor]:
        """The precision's values and log|Q|, both differentiable.

        Parameters
        ----------
        p : Mapping of str to torch.Tensor
            Natural parameter values by name.

        Returns
        -------
        values : torch.Tensor
            ``(2 nnz,)``.
        logdet : torch.Tensor
            0-d.
        """
        q1, l1 = self.long.precision_and_logdet(p)
        q2, l2 = self.short.precision_and_logdet(self._short(p))
        return torch.cat([q1, q2]), l1 + l2

    def __repr__(self):
        return (f"TwoScaleMaternSPDE(alpha={self.alpha}, nodes={self.N}, "
                f"anisotropic={self.anisotropic})")


__all__ = ["TwoScaleMaternSPDE", "short_param_specs"]
