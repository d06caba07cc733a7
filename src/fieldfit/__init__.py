"""fieldfit: parameter inference for spatial and spatio-temporal random fields.

The data flow (see docs/architecture.md)::

    data ──► model (parameters + simulator + likelihood engine) ──► estimate
         ──► predict / simulate ──► diagnose / benchmark

Map of the public API

    Observations                    data: coords (n, d), times, values (n,) / (r, n), covariates
    Param, ParamSpace               named parameters, transforms, priors, packing
    priors.Bound, Normal, ...       one prior type: penalised fits, MCMC, neural priors
    covariance.Matern, Exponential, Gaussian, Anisotropic, Separable, Gneiting
    GaussianField                   covariance + mean + nugget; simulate, log_likelihood, predict
    models.build(name, **options)   every model by name (models.available()); to_spec/from_spec
    contract.Model, Simulator       what estimators use of a model (the contract as code)
    ExactEngine, VecchiaEngine      likelihood engines: GaussianField(..., engine=VecchiaEngine(30))
    fit(model, obs, fix=...)        maximum likelihood -> FitResult (params, stderr, to_json)
    sample(model, obs, priors=...)  NUTS posterior draws -> PosteriorSample (ArviZ, summary);
                                    ConvergenceWarning when a Stan/ArviZ check fails
    SearchEdgeWarning               a fit's estimate at the edge of its search box
    prior_spec.parse_prior          the prior grammar: "range=pc:0.1:0.5"
    io                              tables and results, read and written atomically
    krige, conditional_simulation, cross_validate
    diagnostics                     MAE, RMSE, CRPS, interval score, coverage
    datasets.load(name)             bundled real datasets
    bench.heaton.run_heaton         the Heaton et al. (2019) case study (``fieldfit bench heaton``)
    settings(...)                   numerical settings as a context manager
"""

from ._blas import match_numba_threads, match_numpy_openblas

# first: scipy.optimize loads CHOLMOD, and with it the system OpenBLAS (see fieldfit._blas);
# numba reads its thread count when imported
match_numpy_openblas()
match_numba_threads()

from . import contract, covariance, datasets, diagnostics, io, models, priors  # noqa: E402
from .covariance import Anisotropic, Exponential, Gaussian, Gneiting, Matern, Separable  # noqa: E402
from .data import Observations  # noqa: E402
from .fit import (  # noqa: E402
    ConvergenceWarning,
    FitResult,
    PosteriorSample,
    SearchEdgeWarning,
    fit,
    sample,
)
from .likelihood import ExactEngine, VecchiaEngine  # noqa: E402
from .models import GaussianField, Mean  # noqa: E402
from .params import Param, ParamSpace  # noqa: E402
from .predict import conditional_simulation, cross_validate, krige  # noqa: E402
from .settings import settings  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Anisotropic",
    "ConvergenceWarning",
    "ExactEngine",
    "Exponential",
    "FitResult",
    "Gaussian",
    "GaussianField",
    "Gneiting",
    "Matern",
    "Mean",
    "Observations",
    "Param",
    "ParamSpace",
    "PosteriorSample",
    "SearchEdgeWarning",
    "Separable",
    "VecchiaEngine",
    "conditional_simulation",
    "contract",
    "covariance",
    "cross_validate",
    "datasets",
    "diagnostics",
    "fit",
    "io",
    "krige",
    "models",
    "priors",
    "sample",
    "settings",
]
