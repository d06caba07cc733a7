"""What a likelihood engine receives, and the engine interface.

A Gaussian model with covariance k, nugget τ² and a mean X β reaches an engine as a
:class:`GaussianSpec`; the engine returns the (profile) log-likelihood of the observed values::

    y ~ N(X β, K + τ² I),     K_ij = k(x_i, x_j)

and the predictive distribution at new points. Engines know nothing of models.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch


def physical_memory() -> float | None:
    """The machine's physical memory in bytes: the default bound of the engines' memory budgets.

    Returns
    -------
    float or None
        Bytes, or None where the OS does not say.
    """
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class GaussianSpec:
    """A Gaussian field on given points, ready for an engine.

    Parameters
    ----------
    kernel : callable
        ``k(x1 (n1, D), x2 (n2, D)) -> (n1, n2)``, the latent covariance.
    diag : callable
        ``k(x, x)`` diagonal: ``x (n, D) -> (n,)``.
    nugget : torch.Tensor
        τ², a 0-d tensor (0 for none).
    beta : torch.Tensor or None, optional
        ``(p,)`` regression coefficients, or None to profile them out by GLS.
    paired : callable or None, optional
        k of paired points ``x1 (..., D), x2 (..., D) -> (...)``; lets the Vecchia engine
        evaluate each block's lower triangle only.
    of_distance : callable or None, optional
        C(h) of Euclidean distances h (any shape), for isotropic covariances only.
    """

    kernel: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    diag: Callable[[torch.Tensor], torch.Tensor]
    nugget: torch.Tensor
    beta: torch.Tensor | None = None
    paired: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    of_distance: Callable[[torch.Tensor], torch.Tensor] | None = None


@dataclass
class Prediction:
    """Predictive means and variances.

    Parameters
    ----------
    mean : torch.Tensor
        ``(r, m)`` means (or ``(m,)`` for one replicate).
    var : torch.Tensor
        ``(r, m)`` variances (or ``(m,)``), or an ``(m, m)`` predictive covariance when asked
        for with ``full_cov``.
    """

    mean: torch.Tensor
    var: torch.Tensor


class Engine:
    """What every likelihood engine states: its name, its family and how ``fit`` takes Hessians.

    ``name`` is the registry's name. ``family`` is "covariance" (:class:`CovarianceEngine`: a
    :class:`GaussianSpec` of a covariance function and the points) or "precision"
    (:class:`PrecisionEngine`: the values of a sparse precision matrix of a latent GMRF
    observed through a projector). ``hessian`` is "autograd" (second derivatives through every
    operation) or "differences" (forward differences of the closed-form gradient: the graph of
    a gradient would not fit in memory, or the backward passes are first order). The base class
    takes no constructor arguments.
    """

    name = "engine"
    family = "covariance"
    hessian = "autograd"

    @property
    def label(self) -> str:
        """How ``fit``'s messages name this engine (its ``repr`` unless a subclass says better).

        Returns
        -------
        str
        """
        return repr(self)

    def to_spec(self) -> dict:
        """The registry name and options that rebuild this engine (the name alone here).

        Returns
        -------
        dict
            ``{"engine": name, <option>: <value>, ...}``.
        """
        return {"engine": self.name}

    def coarse(self) -> Engine | None:
        """A cheaper engine for ``fit`` to search on first, or None (the default).

        Returns
        -------
        Engine or None
        """
        return None


class CovarianceEngine(Engine):
    """Interface: log-likelihood, GLS coefficients and prediction for a :class:`GaussianSpec`.

    ``simulates_conditionally`` says whether the engine draws conditional simulations itself
    (:meth:`conditional_simulation`, e.g. by sequential Vecchia kriging); where it is False the
    model draws them from the dense predictive covariance.
    """

    family = "covariance"
    simulates_conditionally = False

    def conditional_simulation(self, spec, points, y, X, new_points, new_X, n_samples,
                               generator=None, noise: bool = False) -> torch.Tensor:
        """Draws of the field (or the observations) at new points given the data.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean (universal kriging when ``spec.beta`` is None).
        points : torch.Tensor
            ``(n, D)`` observed locations.
        y : torch.Tensor
            ``(r, n)`` observations.
        X : torch.Tensor
            ``(n, p)`` design at the observed locations.
        new_points : torch.Tensor
            ``(m, D)`` simulation locations.
        new_X : torch.Tensor
            ``(m, p)`` design at the simulation locations.
        n_samples : int
            Number of draws.
        generator : torch.Generator or None, optional
            Seeded generator.
        noise : bool, default False
            Draw observations (field + nugget) rather than the latent field.

        Returns
        -------
        torch.Tensor
            ``(n_samples, m)``.

        Raises
        ------
        NotImplementedError
            Where ``simulates_conditionally`` is False.
        """
        raise NotImplementedError(f"the {self.name} engine draws no conditional simulations "
                                  "itself; the model draws them from the dense covariance")

    def log_likelihood(
        self, spec: GaussianSpec, points: torch.Tensor, y: torch.Tensor, X: torch.Tensor
    ) -> torch.Tensor:
        r"""The (profile) Gaussian log-likelihood :math:`\log p(y)`, summed over replicates.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean.
        points : torch.Tensor
            ``(n, D)`` locations.
        y : torch.Tensor
            ``(r, n)`` observations (NaN-free), r replicates.
        X : torch.Tensor
            ``(n, p)`` design (p may be 0).

        Returns
        -------
        torch.Tensor
            0-d log-likelihood, differentiable in the spec's parameters.

        Raises
        ------
        NotImplementedError
            On the interface.
        """
        raise NotImplementedError

    def gls(self, spec, points, y, X):
        """GLS coefficients and their covariance.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance and nugget.
        points : torch.Tensor
            ``(n, D)`` locations.
        y : torch.Tensor
            ``(r, n)`` observations.
        X : torch.Tensor
            ``(n, p)`` design.

        Returns
        -------
        beta : torch.Tensor
            ``(p,)`` coefficients.
        cov : torch.Tensor
            ``(p, p)`` covariance.

        Raises
        ------
        NotImplementedError
            On the interface.
        """
        raise NotImplementedError

    def predict(self, spec, points, y, X, new_points, new_X, noise: bool = True,
                full_cov: bool = False) -> Prediction:
        """Kriging means and variances at new points.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean (universal kriging when ``spec.beta`` is None).
        points : torch.Tensor
            ``(n, D)`` observed locations.
        y : torch.Tensor
            ``(r, n)`` observations.
        X : torch.Tensor
            ``(n, p)`` design at the observed locations.
        new_points : torch.Tensor
            ``(m, D)`` prediction locations.
        new_X : torch.Tensor
            ``(m, p)`` design at the prediction locations.
        noise : bool, default True
            Add the nugget to the variances (predict observations, not the latent field).
        full_cov : bool, default False
            Return the ``(m, m)`` predictive covariance instead of the variances.

        Returns
        -------
        Prediction

        Raises
        ------
        NotImplementedError
            On the interface.
        """
        raise NotImplementedError


class PrecisionEngine(Engine):
    r"""Interface of a latent-GMRF engine.

    The model is :math:`y = X\beta + A x + \varepsilon`, :math:`x \sim N(0, Q^{-1})`. It is
    built per data set (Q's pattern and the projector A), then called with Q's values
    ``(nnz,)``: ``log_likelihood(q_values, nugget, y, X, beta=None, logdet_q=None)``,
    ``gls(q_values, nugget, y, X)``, ``predict(q_values, nugget, y, X, A0, X0, beta, noise)``
    and ``conditional_simulation(...)``; see :class:`~fieldfit.likelihood.gmrf.GMRFEngine`.
    """

    family = "precision"
