"""The model contract as code: what every estimator may use of a model, a simulator, an engine.

fieldfit's estimators (:func:`fieldfit.fit`, :func:`fieldfit.krige`,
:func:`fieldfit.cross_validate`, :func:`fieldfit.conditional_simulation`, the neural simulation
specs) use models only through the members below, and no private member crosses a module
boundary. The registry (:func:`fieldfit.models.build`) makes every model from a name, and
``tests/test_contract.py`` runs each registered model through the same suite.

Shapes: ``obs`` an :class:`~fieldfit.data.Observations` (coords ``(n, d)``, values ``(n,)`` or
``(r, n)``); points ``(n, D)`` with D = d, or d + 1 for space-time models (the time last);
parameters a ``{name: value}`` mapping of natural values (0-d tensors where gradients flow).

Engines state their ``name``, ``family`` and ``hessian`` (:class:`Engine`); covariance engines
(:class:`CovarianceEngine`: exact, Vecchia) take a :class:`~fieldfit.likelihood.GaussianSpec`
and the points, precision engines (:class:`PrecisionEngine`: the SPDE/GMRF engine) a sparse
precision's values and a projector. Models own their engine: estimators never call one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .data import Observations
from .likelihood.base import CovarianceEngine, Engine, PrecisionEngine
from .params import ParamSpace


@runtime_checkable
class Simulator(Protocol):
    """What amortized and simulation-based estimators need: parameters and seeded draws.

    ``simulate(points, params, n_replicates, seed)`` returns ``(r, n)`` draws of the
    observations (noise included) at ``points (n, D)``; the same seed gives the same draws.
    ``to_spec()`` is a plain dict that :func:`fieldfit.models.from_spec` turns back into the
    model (a Dask worker, a saved bundle).
    """

    name: str
    space_time: bool        # points are (coordinates, time)

    def param_space(self, obs: Observations | None = None) -> ParamSpace: ...

    def simulate(self, points: np.ndarray, params: Mapping, n_replicates: int = 1,
                 seed: int | None = None) -> np.ndarray: ...

    def to_spec(self) -> dict: ...


@runtime_checkable
class Model(Simulator, Protocol):
    """A model every estimator runs on.

    Parameters and starts
        ``param_space(obs)`` the estimated parameters (:class:`~fieldfit.params.ParamSpace`:
        names, transforms, search boxes, priors); ``initial_values(obs)`` a data-driven
        start; ``restart_values(obs, k)`` k spread starts.
    Likelihood
        ``log_likelihood(obs, params)`` a 0-d tensor differentiable in ``params``;
        ``check_data(obs)`` a ValueError, before any work, for data the model cannot take;
        ``profile_mean`` (the mean coefficients are profiled out by GLS), ``mean_names(obs)``,
        ``estimate_mean(obs, params)`` (GLS coefficients and standard errors).
    What ``fit`` reads
        ``name``, ``engine_name`` (labels of the result), ``hessian`` ("autograd" or
        "differences"), ``coarse()`` (a cheaper copy to search on first, or None) and its
        ``coarse_label``.
    Prediction
        ``points(obs)`` the points ``(n, D)`` the model sees;
        ``predict(obs, new_points, params, kind, noise, new_covariates)`` kriging mean and sd
        ``(m,)``; ``conditional_simulation(obs, new_points, params, n_samples, seed, kind)``
        draws ``(n_samples, m)``.
    Description
        ``to_spec()`` / ``from_spec(spec)``.
    """

    engine_name: str
    hessian: str
    profile_mean: bool

    def initial_values(self, obs: Observations) -> dict[str, float]: ...

    def restart_values(self, obs: Observations, k: int) -> list[dict[str, float]]: ...

    def log_likelihood(self, obs: Observations, params: Mapping) -> torch.Tensor: ...

    def check_data(self, obs: Observations) -> None: ...

    def mean_names(self, obs: Observations) -> list[str]: ...

    def estimate_mean(self, obs: Observations, params: Mapping) -> tuple[dict, dict]: ...

    def coarse(self) -> Model | None: ...

    def points(self, obs: Observations) -> np.ndarray: ...

    def predict(self, obs: Observations, new_points: np.ndarray, params: Mapping,
                kind: str = "universal", noise: bool = True,
                new_covariates: np.ndarray | None = None): ...

    def conditional_simulation(self, obs: Observations, new_points: np.ndarray,
                               params: Mapping, n_samples: int = 1, seed: int | None = None,
                               kind: str = "universal") -> np.ndarray: ...


def check_model(model) -> None:
    """TypeError naming the members ``model`` lacks (``isinstance(model, Model)`` checks
    presence only, not signatures)."""
    members = [m for m in ("name", "space_time", "engine_name", "hessian", "profile_mean",
                           "param_space", "initial_values", "restart_values",
                           "log_likelihood", "check_data",
                           "mean_names", "estimate_mean", "coarse", "points", "predict",
                           "conditional_simulation", "simulate", "to_spec")
               if not hasattr(model, m)]
    if members:
        raise TypeError(f"{type(model).__name__} does not offer the model contract: it lacks "
                        f"{members} (see fieldfit.contract.Model)")


__all__ = ["CovarianceEngine", "Engine", "Model", "PrecisionEngine", "Simulator", "check_model"]
