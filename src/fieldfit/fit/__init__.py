"""Estimation: maximum likelihood (L-BFGS + Newton polish, Hessian standard errors)."""

from .mle import fit
from .results import FitResult, write_atomic, write_table

__all__ = ["FitResult", "fit", "write_atomic", "write_table"]
