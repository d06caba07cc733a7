"""Estimation: maximum likelihood (L-BFGS + Newton polish, Hessian standard errors)."""

from .mle import fit
from .results import FitResult, write_atomic

__all__ = ["FitResult", "fit", "write_atomic"]
