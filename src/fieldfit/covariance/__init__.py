"""Covariance functions: stationary Matérn family, two-scale sums, anisotropy, space-time.

Every covariance maps points ``x1 (n1, D)``, ``x2 (n2, D)`` and natural parameters to
``(n1, n2)``; isotropic ones implement only ``correlation(r, p)`` of the scaled distance.
Covariance classes register themselves by name (:func:`register_covariance`); a registered
one describes itself (``to_spec``), is rebuilt by :func:`covariance_from_spec`, and is a
model of :func:`fieldfit.models.build` under its name.
"""

from .anisotropy import Anisotropic
from .base import (
    COVARIANCES,
    Covariance,
    Isotropic,
    covariance_from_spec,
    distance,
    register_covariance,
)
from .matern import Exponential, Gaussian, Matern, matern_correlation
from .spacetime import Gneiting, Separable
from .two_scale import TwoScaleMatern

__all__ = [
    "COVARIANCES",
    "Anisotropic",
    "Covariance",
    "Exponential",
    "Gaussian",
    "Gneiting",
    "Isotropic",
    "Matern",
    "Separable",
    "TwoScaleMatern",
    "covariance_from_spec",
    "distance",
    "matern_correlation",
    "register_covariance",
]
