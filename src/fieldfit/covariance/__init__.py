"""Covariance functions: stationary Matérn family, anisotropy, space-time.

Every covariance maps points ``x1 (n1, D)``, ``x2 (n2, D)`` and natural parameters to
``(n1, n2)``; isotropic ones implement only ``correlation(r, p)`` of the scaled distance.
"""

from .anisotropy import Anisotropic
from .base import Covariance, Isotropic, distance
from .matern import Exponential, Gaussian, Matern, matern_correlation
from .spacetime import Gneiting, Separable

__all__ = [
    "Anisotropic",
    "Covariance",
    "Exponential",
    "Gaussian",
    "Gneiting",
    "Isotropic",
    "Matern",
    "Separable",
    "distance",
    "matern_correlation",
]
