"""Models: parameters + simulator + likelihood engine (the contract every estimator uses,
:mod:`fieldfit.contract`), made by name through one registry: :func:`build`, :func:`available`,
:func:`from_spec`."""

from .ad_continuum import continuum_correction, continuum_result, corrected_result
from .ad_scaling import derived_quantities, params_from_derived, rescaled_params
from .advection_diffusion_field import AdvectionDiffusionField
from .gaussian_field import GaussianField
from .mean import Mean
from .registry import available, build, from_spec, register
from .spde_field import SPDEField

__all__ = ["AdvectionDiffusionField", "GaussianField", "Mean", "SPDEField", "available", "build",
           "continuum_correction", "continuum_result", "corrected_result", "derived_quantities",
           "from_spec", "params_from_derived", "register", "rescaled_params"]
