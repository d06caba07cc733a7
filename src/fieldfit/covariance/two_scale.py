r"""The sum of two independent Matérn fields: a long and a short range.

.. math::

    C(h) = \sigma^2 M_\nu(h/\ell) + \sigma_s^2 M_{\nu_s}(h/\ell_s),

:math:`M_\nu` the Matérn correlation (:func:`~fieldfit.covariance.matern.matern_correlation`).
Fields with structure on two scales (a smooth regional trend and local detail, as in
satellite temperature scenes) are poorly served by one range; the sum keeps the Matérn's
interpretation for each part (Cressie 1993, §2.3's nested models).
"""

from __future__ import annotations

import torch

from ..params import Param, positive
from .base import Covariance, Params, distance, register_covariance, safe_sqrt
from .matern import matern_correlation


@register_covariance("matern2")
class TwoScaleMatern(Covariance):
    r"""Two independent Matérn fields, a long range and a short one.

    .. math::

        C(h) = \sigma^2 M_\nu(\lVert h \rVert/\ell)
             + \sigma_s^2 M_{\nu_s}(\lVert h \rVert/\ell_s)

    Parameters (DESIGN.md names): ``variance`` σ², ``range`` ℓ, ``smoothness`` ν of the long
    part, ``variance_short`` σ_s², ``range_short`` ℓ_s, ``smoothness_short`` ν_s of the
    short one. The data-driven start puts ℓ_s at a tenth of ℓ; nothing else orders the two
    (a fit may swap them, which changes no likelihood).

    Parameters
    ----------
    smoothness, smoothness_short : float or None
        Fixed ν and ν_s; None (default) estimates them.

    Raises
    ------
    ValueError
        For a smoothness that is not positive.

    References
    ----------
    N. Cressie, Statistics for Spatial Data, revised ed., Wiley, 1993, §2.3.
    """

    euclidean = True

    def __init__(self, smoothness: float | None = None,
                 smoothness_short: float | None = None):
        for name, v in (("smoothness", smoothness), ("smoothness_short", smoothness_short)):
            if v is not None and not v > 0:
                raise ValueError(f"{name} must be positive, got {v}")
        self.smoothness, self.smoothness_short = smoothness, smoothness_short

    def param_specs(self) -> list[Param]:
        """The two parts' variance, range and smoothness (fixed when given).

        Returns
        -------
        list of Param
        """
        out = []
        for suffix, nu, what in (("", self.smoothness, "long"),
                                 ("_short", self.smoothness_short, "short")):
            out += [Param(f"variance{suffix}", positive, 1.0,
                          doc=f"marginal variance of the {what}-range part"),
                    Param(f"range{suffix}", positive, 1.0, doc=f"range of the {what}-range part"),
                    Param(f"smoothness{suffix}", positive, 1.0 if nu is None else nu,
                          fixed=nu is not None, search=(0.05, 30.0),
                          doc=f"smoothness of the {what}-range part")]
        return out

    def covariance_of_distance(self, h: torch.Tensor, p: Params) -> torch.Tensor:
        """C at distances ``h`` (any shape).

        Parameters
        ----------
        h : torch.Tensor
            Distances ≥ 0.
        p : Mapping[str, torch.Tensor]
            Natural parameter values.

        Returns
        -------
        torch.Tensor
            The shape of ``h``.
        """
        return (p["variance"] * matern_correlation(h / p["range"], p["smoothness"])
                + p["variance_short"] * matern_correlation(h / p["range_short"],
                                                           p["smoothness_short"]))

    def __call__(self, x1, x2, p):
        """The covariance matrix ``(..., n1, n2)`` of points ``(..., n1, D)``, ``(..., n2, D)``.

        Parameters
        ----------
        x1, x2 : torch.Tensor
            Points.
        p : Mapping[str, torch.Tensor]
            Natural parameter values.

        Returns
        -------
        torch.Tensor
        """
        return self.covariance_of_distance(distance(x1, x2), p)

    def paired(self, x1, x2, p):
        """Covariances of paired points ``(..., D)`` (row by row).

        Parameters
        ----------
        x1, x2 : torch.Tensor
            Points.
        p : Mapping[str, torch.Tensor]
            Natural parameter values.

        Returns
        -------
        torch.Tensor
            ``(...)``.
        """
        diff = x1 - x2
        return self.covariance_of_distance(safe_sqrt((diff * diff).sum(-1)), p)

    def diag(self, x, p):
        """The variances σ² + σ_s² at the points ``(..., n, D)``.

        Parameters
        ----------
        x : torch.Tensor
            Points.
        p : Mapping[str, torch.Tensor]
            Natural parameter values.

        Returns
        -------
        torch.Tensor
            ``(..., n)``.
        """
        return (p["variance"] + p["variance_short"]) * torch.ones(x.shape[:-1], dtype=x.dtype)

    def initial_values(self, variance: float, diameter: float, time_span: float = 1.0) -> dict:
        """Two thirds of the field's variance at range diameter/10, a third at diameter/100.

        Parameters
        ----------
        variance : float
            The share of the data's variance given to the field.
        diameter : float
            The domain's diameter.
        time_span : float
            Unused (spatial).

        Returns
        -------
        dict
        """
        return {"variance": 2.0 * variance / 3.0, "range": diameter / 10.0,
                "variance_short": variance / 3.0, "range_short": diameter / 100.0}

    def spec_options(self) -> dict:
        """``{"smoothness": ν or None, "smoothness_short": ν_s or None}``.

        Returns
        -------
        dict
        """
        return {"smoothness": self.smoothness, "smoothness_short": self.smoothness_short}

    def __repr__(self):
        return (f"TwoScaleMatern(smoothness={self.smoothness}, "
                f"smoothness_short={self.smoothness_short})")


__all__ = ["TwoScaleMatern"]
