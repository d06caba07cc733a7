"""Estimation: maximum likelihood (L-BFGS + Newton polish, Hessian standard errors,
:mod:`.mle`) and Bayesian inference (NUTS, :mod:`.mcmc`); the result and its JSON
(:mod:`.results`), what the parameters mean and the practical ranges derived from them
(:mod:`.parameterisation`), and the fit's checkpoint journal (:mod:`.checkpoint`)."""

from .mcmc import PosteriorSample, sample
from .mle import fit
from .results import FitResult, write_atomic, write_table

__all__ = ["FitResult", "PosteriorSample", "fit", "sample", "write_atomic", "write_table"]
