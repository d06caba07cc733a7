"""What a likelihood engine receives, and the engine interface.

A Gaussian model with covariance k, nugget τ² and a mean X β reaches an engine as a
:class:`GaussianSpec`; the engine returns the (profile) log-likelihood of the observed values

    y ~ N(X β, K + τ² I),     K_ij = k(x_i, x_j)

and the predictive distribution at new points. Engines know nothing of models.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch


def physical_memory() -> float | None:
    """The machine's physical memory in bytes (None where the OS does not say): the default
    bound of the engines' memory budgets."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class GaussianSpec:
    """A Gaussian field on given points, ready for an engine.

    kernel   k(x1 (n1, D), x2 (n2, D)) -> (n1, n2), the latent covariance
    diag     k(x, x) diagonal -> (n,)
    nugget   τ², a 0-d tensor (0 for none)
    beta     (p,) regression coefficients, or None to profile them out by GLS
    paired   k of paired points x1 (..., D), x2 (..., D) -> (...) (optional: lets the Vecchia
             engine evaluate each block's lower triangle only)
    of_distance  C(h) of Euclidean distances h (any shape), for isotropic covariances only
    """

    kernel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    diag: Callable[[torch.Tensor], torch.Tensor]
    nugget: torch.Tensor
    beta: torch.Tensor | None = None
    paired: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    of_distance: Callable[[torch.Tensor], torch.Tensor] | None = None


@dataclass
class Prediction:
    """Predictive means ``(r, m)`` and variances ``(r, m)`` (or ``(m,)`` for one replicate)."""

    mean: torch.Tensor
    var: torch.Tensor


class Engine:
    """What every likelihood engine states: its ``name`` (the registry's), its ``family``
    (what a model hands it) and how ``fit`` takes Hessians with it.

    ``family``: "covariance" (:class:`CovarianceEngine`: a :class:`GaussianSpec` of a
    covariance function and the points) or "precision" (:class:`PrecisionEngine`: the values
    of a sparse precision matrix of a latent GMRF observed through a projector).
    ``hessian``: "autograd" (second derivatives through every operation) or "differences"
    (forward differences of the closed-form gradient: the graph of a gradient would not fit in
    memory, or the backward passes are first order).
    """

    name = "engine"
    family = "covariance"
    hessian = "autograd"

    def coarse(self) -> Engine | None:
        """A cheaper engine for ``fit`` to search on first, or None (the default)."""
        return None


class CovarianceEngine(Engine):
    """Interface: log-likelihood, GLS coefficients and prediction for a GaussianSpec."""

    family = "covariance"

    def log_likelihood(
        self, spec: GaussianSpec, points: torch.Tensor, y: torch.Tensor, X: torch.Tensor
    ) -> torch.Tensor:
        """log p(y) for ``points (n, D)``, ``y (r, n)`` (NaN-free), ``X (n, p)``."""
        raise NotImplementedError

    def gls(self, spec, points, y, X):
        """GLS coefficients ``(p,)`` and their covariance ``(p, p)``."""
        raise NotImplementedError

    def predict(self, spec, points, y, X, new_points, new_X, noise: bool = True,
                full_cov: bool = False) -> Prediction:
        """Kriging means and variances at ``new_points`` (``full_cov``: the full covariance)."""
        raise NotImplementedError


class PrecisionEngine(Engine):
    """Interface of a latent-GMRF engine, y = Xβ + A x + ε, x ~ N(0, Q⁻¹): built per data
    set (Q's pattern and the projector A), then called with Q's values ``(nnz,)``.

    ``log_likelihood(q_values, nugget, y, X, beta=None, logdet_q=None)``,
    ``gls(q_values, nugget, y, X)``, ``predict(q_values, nugget, y, X, A0, X0, beta, noise)``
    and ``conditional_simulation(...)``: see :class:`~fieldfit.likelihood.gmrf.GMRFEngine`.
    """

    family = "precision"
