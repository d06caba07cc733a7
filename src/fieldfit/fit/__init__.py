"""Estimation: maximum likelihood (L-BFGS + Newton polish, Hessian standard errors,
:mod:`.mle`) and Bayesian inference (NUTS, :mod:`.mcmc`); the result and its JSON
(:mod:`.results`), what the parameters mean and the practical ranges derived from them
(:mod:`.parameterisation`), and the fit's checkpoint journal (:mod:`.checkpoint`)."""

from .mcmc import ConvergenceWarning, PosteriorSample, sample
from .mle import SearchEdgeWarning, fit
from .results import FitResult, write_atomic, write_table

__all__ = ["ConvergenceWarning", "FitResult", "PosteriorSample", "SearchEdgeWarning", "fit",
           "sample", "write_atomic", "write_table"]
