"""Models: parameters + simulator + likelihood engine (the contract every estimator uses)."""

from .gaussian_field import GaussianField
from .mean import Mean

__all__ = ["GaussianField", "Mean"]
