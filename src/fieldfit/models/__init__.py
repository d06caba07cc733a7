"""Models: parameters + simulator + likelihood engine (the contract every estimator uses,
:mod:`fieldfit.contract`), made by name through one registry: :func:`build`, :func:`available`,
:func:`from_spec`."""

from .gaussian_field import GaussianField
from .mean import Mean
from .registry import available, build, from_spec, register

__all__ = ["GaussianField", "Mean", "available", "build", "from_spec", "register"]
