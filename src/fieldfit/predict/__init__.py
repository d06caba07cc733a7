"""Prediction: kriging (simple, ordinary, universal), conditional simulation, cross-validation."""

from .kriging import conditional_simulation, cross_validate, krige

__all__ = ["conditional_simulation", "cross_validate", "krige"]
