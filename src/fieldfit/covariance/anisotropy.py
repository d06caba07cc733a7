"""Geometric anisotropy in two dimensions.

    C(h) = C_iso(‖R(−θ) h‖_A),   ‖(a, b)‖_A = √(a² + (b/λ)²)

θ = ``angle`` (radians, counter-clockwise from the x axis) is the direction of the range
``range``; λ = ``ratio`` is the range across that direction divided by the range along it
(λ < 1: correlation decays faster across; λ = 1: isotropic). Any isotropic covariance can be
made anisotropic (Chilès & Delfiner 2012, §2.5.2).
"""

from __future__ import annotations

import math

import torch

from ..params import Param, interval, positive
from .base import Isotropic, safe_sqrt


class Anisotropic(Isotropic):
    r"""Geometric anisotropy of an isotropic covariance in two dimensions.

    .. math::

        C(h) = C_{\mathrm{iso}}(\lVert R(-\theta) h \rVert_A), \qquad
        \lVert (a, b) \rVert_A = \sqrt{a^2 + (b/\lambda)^2}

    Adds the parameters ``angle`` :math:`\theta` (radians, counter-clockwise from the x
    axis: the direction of ``range``) and ``ratio`` :math:`\lambda` (the range across that
    direction over the range along it) to those of ``base``.

    Parameters
    ----------
    base : Isotropic
        The isotropic covariance made anisotropic (not itself anisotropic).

    Raises
    ------
    ValueError
        When ``base`` is not an isotropic covariance, or is already anisotropic.

    References
    ----------
    J.-P. Chilès and P. Delfiner, Geostatistics: Modeling Spatial Uncertainty, 2nd ed.,
    Wiley, 2012, §2.5.2.
    """

    euclidean = False

    def __init__(self, base: Isotropic):
        if not isinstance(base, Isotropic) or isinstance(base, Anisotropic):
            raise ValueError("Anisotropic needs an isotropic covariance such as Matern()")
        self.base = base

    def param_specs(self):
        """The base covariance's parameters, then ``angle`` and ``ratio``.

        Returns
        -------
        list of Param
            The parameters.
        """
        return [
            *self.base.param_specs(),
            Param("angle", interval(-math.pi / 2, math.pi / 2), 0.0, doc="direction θ (rad)"),
            Param("ratio", positive, 1.0, doc="range across / range along θ"),
        ]

    def correlation(self, r, p):
        """The base covariance's correlation.

        Parameters
        ----------
        r : torch.Tensor
            Scaled anisotropic distances, any shape.
        p : Mapping[str, torch.Tensor]
            Natural parameter values by name.

        Returns
        -------
        torch.Tensor
            The correlations, the shape of ``r``.
        """
        return self.base.correlation(r, p)

    def scaled_distance(self, x1, x2, p):
        """Anisotropic distances between two point sets, divided by the range.

        Parameters
        ----------
        x1 : torch.Tensor
            Points ``(..., n1, 2)``.
        x2 : torch.Tensor
            Points ``(..., n2, 2)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values; ``range``, ``angle`` and ``ratio`` are used.

        Returns
        -------
        torch.Tensor
            ``(..., n1, n2)``.

        Raises
        ------
        ValueError
            For points that are not 2-D.
        """
        if x1.shape[-1] != 2:
            raise ValueError(f"Anisotropic works on 2-D coordinates, got {x1.shape[-1]}-D points")
        return self.paired_scaled_distance(x1[..., :, None, :] - x2[..., None, :, :], p)

    def paired_scaled_distance(self, d, p):
        """Scaled anisotropic lengths of difference vectors.

        Parameters
        ----------
        d : torch.Tensor
            Differences ``(..., 2)``.
        p : Mapping[str, torch.Tensor]
            Natural parameter values; ``range``, ``angle`` and ``ratio`` are used.

        Returns
        -------
        torch.Tensor
            ``(...)``.

        Raises
        ------
        ValueError
            For differences that are not 2-D.
        """
        if d.shape[-1] != 2:
            raise ValueError(f"Anisotropic works on 2-D coordinates, got {d.shape[-1]}-D points")
        c, s = torch.cos(p["angle"]), torch.sin(p["angle"])
        along = c * d[..., 0] + s * d[..., 1]
        across = -s * d[..., 0] + c * d[..., 1]
        return safe_sqrt(along**2 + (across / p["ratio"]) ** 2) / p["range"]

    def to_spec(self) -> dict:
        """The base covariance's description with ``"anisotropic": True``.

        Returns
        -------
        dict
            ``{**base.to_spec(), "anisotropic": True}``
            (:func:`~fieldfit.covariance.base.covariance_from_spec` rebuilds it).

        Raises
        ------
        ValueError
            When the base covariance has no registered description.
        """
        return {**self.base.to_spec(), "anisotropic": True}

    @property
    def name(self):
        """``anisotropic-<base name>``."""
        return f"anisotropic-{self.base.name}"

    def __repr__(self):
        return f"Anisotropic({self.base!r})"
