"""Estimation: maximum likelihood (L-BFGS + Newton polish, Hessian standard errors) and
Bayesian inference (NUTS, :mod:`.mcmc`)."""

from .mcmc import PosteriorSample, sample
from .mle import fit
from .results import FitResult, write_atomic, write_table

__all__ = ["FitResult", "PosteriorSample", "fit", "sample", "write_atomic", "write_table"]
