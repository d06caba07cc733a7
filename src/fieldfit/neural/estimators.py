r"""Neural Bayes estimators: point estimators and non-crossing quantile estimators.

A neural Bayes estimator θ̂(Z) = h(T(Z)) minimises the empirical Bayes risk over simulated
pairs (θ_k, Z_k) ~ π(θ) p(Z | θ) (Sainsbury-Dale, Zammit-Mangion & Huser 2024):

.. math::

    \hat\theta = \arg\min_h \frac{1}{K} \sum_{k=1}^{K} L(\theta_k, h(T(Z_k)))

on the prior's unit scale u ∈ (0, 1) (:mod:`fieldfit.neural.prior`):

* :class:`PointEstimator`, ``loss="absolute"`` (the posterior median, invariant to monotone
  reparametrisation) or ``"squared"`` (the posterior mean of u);
* :class:`QuantileEstimator`, the pinball loss ρ_τ(e) = e (τ − 1{e < 0}) summed over the
  probability levels τ_1 < … < τ_K, giving marginal posterior quantiles; levels cannot cross,
  the network outputs :math:`\operatorname{logit} q_1 = a_1`,
  :math:`\operatorname{logit} q_k = \operatorname{logit} q_{k-1} + \operatorname{softplus}(a_k)`.

All estimators share the interface of :class:`AmortizedEstimator`: ``loss(inputs, u)`` for
training, ``estimate(items)`` for use, ``config()`` for saving.

References
----------
M. Sainsbury-Dale, A. Zammit-Mangion and R. Huser (2024), "Likelihood-free parameter
estimation with neural Bayes estimators", The American Statistician 78(1), 1–14.

Y. Romano, E. Patterson and E. Candès (2019), "Conformalized quantile regression",
NeurIPS 2019.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .base import AmortizedEstimator, register_estimator
from .summaries import mlp

LOSSES = ("absolute", "squared")


@register_estimator("quantile")
class QuantileEstimator(AmortizedEstimator):
    r"""Marginal posterior quantiles at ``probs``, non-crossing by construction.

    The point estimate is the median (0.5 must be among ``probs``). The network outputs, per
    parameter, :math:`\operatorname{logit} q_1 = a_1` and :math:`\operatorname{logit} q_k =
    \operatorname{logit} q_{k-1} + \operatorname{softplus}(a_k)`, and is trained with the pinball
    loss :math:`\sum_k \rho_{\tau_k}(u - q_k)`, :math:`\rho_\tau(e) = e (\tau - 1\{e < 0\})`.

    ``widening`` (one number :math:`Q_j` per parameter, from :meth:`calibrate`): the reported
    quantiles other than the median are moved away from it on the logit scale,
    :math:`\operatorname{logit} q' = \operatorname{logit} m + (1 + Q_j)(\operatorname{logit} q -
    \operatorname{logit} m)` — normalised conformalized quantile regression (Romano, Patterson &
    Candès 2019), which gives the outer interval its nominal coverage on the calibration
    distribution. Training and the loss use the raw quantiles.

    Parameters
    ----------
    summary : torch.nn.Module
        The summary network.
    n_params : int
        Number of parameters ``p``.
    probs : sequence of float, default (0.05, 0.5, 0.95)
        Increasing levels in (0, 1), including 0.5.
    widening : sequence of float or None, optional
        The :math:`Q_j`, ``p`` finite numbers > -1 (``None``: no widening).

    Raises
    ------
    ValueError
        If ``probs`` is not increasing in (0, 1), lacks 0.5, or ``widening`` is invalid.
    """

    def __init__(self, summary: nn.Module, n_params: int,
                 probs: Sequence[float] = (0.05, 0.5, 0.95),
                 widening: Sequence[float] | None = None):
        super().__init__(summary, n_params)
        probs = [float(p) for p in probs]
        if sorted(probs) != probs or len(set(probs)) != len(probs) or not all(
                0 < p < 1 for p in probs):
            raise ValueError(f"probs must be increasing levels in (0, 1), got {probs}")
        if 0.5 not in probs:
            raise ValueError("probs must include 0.5 (the point estimate is the median)")
        self.probs = probs
        if widening is not None:
            widening = [float(v) for v in widening]
            if len(widening) != n_params or not all(math.isfinite(v) and v > -1
                                                    for v in widening):
                raise ValueError(f"widening needs {n_params} finite numbers > -1, got "
                                 f"{widening}")
        self.widening = widening
        self.register_buffer("tau", torch.tensor(probs))
        self.head = mlp([summary.out_features, 2 * summary.out_features, n_params * len(probs)])

    def _extra_config(self):
        return {"probs": self.probs,
                **({"widening": self.widening} if self.widening is not None else {})}

    def forward(self, inputs) -> torch.Tensor:
        """The raw (unwidened) quantiles of a batch, on the unit scale.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch from :meth:`collate`.

        Returns
        -------
        torch.Tensor, shape (B, p, K)
            Quantiles at the ``K`` levels, increasing along the last axis.
        """
        a = self.head(self.summary(inputs)).view(-1, self.n_params, len(self.probs))
        steps = torch.cat([a[..., :1], F.softplus(a[..., 1:])], -1)
        return torch.sigmoid(torch.cumsum(steps, -1))

    def loss(self, inputs, u: torch.Tensor) -> torch.Tensor:
        """The pinball loss, summed over parameters and levels, averaged over the batch.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.
        u : torch.Tensor, shape (B, p)
            True parameters on the unit scale.

        Returns
        -------
        torch.Tensor
            The scalar loss.
        """
        e = u[..., None] - self(inputs)
        return (e * (self.tau - (e < 0).to(e.dtype))).sum((1, 2)).mean()

    def calibrate(self, q: np.ndarray, u: np.ndarray) -> list[float]:
        r"""Set :attr:`widening` from held-out simulations (conformalized quantile regression).

        With :math:`L, M, H` the lowest, median and highest quantile and :math:`y` the truth, all on
        the logit scale, the score of a dataset is :math:`\max((L - y)/(M - L), (y - H)/(H - M))`
        and :math:`Q_j` its :math:`\lceil (1 - \alpha)(B + 1) \rceil`-th smallest value
        (:math:`\alpha = 1 -` (highest − lowest level)): the widened interval then covers :math:`y`
        exactly when the score is :math:`\le Q_j`. Values are floored at -0.99.

        Parameters
        ----------
        q : numpy.ndarray, shape (B, p, K)
            Raw quantiles (``self(inputs)``, unit scale).
        u : numpy.ndarray, shape (B, p)
            True parameters on the unit scale.

        Returns
        -------
        list of float
            The :math:`Q_j`, one per parameter (negative: the interval shrinks).

        Raises
        ------
        ValueError
            If the shapes do not match, or there are too few datasets for the interval's level.
        """
        q, u = np.asarray(q, dtype=np.float64), np.asarray(u, dtype=np.float64)
        if q.ndim != 3 or q.shape[1:] != (self.n_params, len(self.probs)) or u.shape != (
                len(q), self.n_params):
            raise ValueError(f"calibrate needs quantiles (B, {self.n_params}, "
                             f"{len(self.probs)}) and parameters (B, {self.n_params}); got "
                             f"{q.shape} and {u.shape}")
        level = self.probs[-1] - self.probs[0]
        rank = math.ceil(level * (len(q) + 1))
        if rank > len(q):
            raise ValueError(f"calibrating a {level:.0%} interval needs at least "
                             f"{math.ceil(level / (1 - level))} datasets, got {len(q)}")
        lg = _logit(q)
        y = _logit(u)
        lo, mid, hi = lg[..., 0], lg[..., self.probs.index(0.5)], lg[..., -1]
        score = np.maximum((lo - y) / (mid - lo), (y - hi) / (hi - mid))
        widening = np.sort(score, 0)[rank - 1]
        self.widening = [float(max(v, -0.99)) for v in widening]
        return self.widening

    @torch.no_grad()
    def estimate_unit(self, inputs):
        """Median and (widened) quantiles of a batch, on the unit scale.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.

        Returns
        -------
        dict of str to numpy.ndarray
            ``"estimate"`` (the median) and ``"q<level>"`` for each level, each ``(B, p)``.
        """
        q = self(inputs).double().numpy()
        if self.widening is not None:
            lg = _logit(q)
            mid = lg[..., self.probs.index(0.5)][..., None]
            factor = 1.0 + np.asarray(self.widening)[:, None]
            q = 1.0 / (1.0 + np.exp(-(mid + factor * (lg - mid))))
        out = {"estimate": q[..., self.probs.index(0.5)]}
        for k, p in enumerate(self.probs):
            out[f"q{p:g}"] = q[..., k]
        return out


@register_estimator("point")
class PointEstimator(AmortizedEstimator):
    r"""A neural Bayes point estimator on the unit scale.

    :math:`\hat u(Z) = \operatorname{sigmoid}(h(T(Z)))`, trained with the absolute error
    (approximating the posterior median, invariant to monotone reparametrisation) or the squared
    error (the posterior mean of :math:`u`) (Sainsbury-Dale et al. 2024).

    Parameters
    ----------
    summary : torch.nn.Module
        The summary network.
    n_params : int
        Number of parameters ``p``.
    loss : {"absolute", "squared"}, default "absolute"
        The training loss.

    Raises
    ------
    ValueError
        If ``loss`` is not one of :data:`LOSSES`.
    """

    def __init__(self, summary: nn.Module, n_params: int, loss: str = "absolute"):
        super().__init__(summary, n_params)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.loss_kind = loss
        self.head = mlp([summary.out_features, summary.out_features, n_params])

    def _extra_config(self):
        return {"loss": self.loss_kind}

    def forward(self, inputs) -> torch.Tensor:
        """The estimates of a batch, on the unit scale.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.

        Returns
        -------
        torch.Tensor, shape (B, p)
            Estimates in (0, 1).
        """
        return torch.sigmoid(self.head(self.summary(inputs)))

    def loss(self, inputs, u: torch.Tensor) -> torch.Tensor:
        """The absolute or squared error, summed over parameters, averaged over the batch.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.
        u : torch.Tensor, shape (B, p)
            True parameters on the unit scale.

        Returns
        -------
        torch.Tensor
            The scalar loss.
        """
        e = self(inputs) - u
        return (e.abs() if self.loss_kind == "absolute" else e * e).sum(1).mean()

    @torch.no_grad()
    def estimate_unit(self, inputs):
        """The estimates of a batch, on the unit scale.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.

        Returns
        -------
        dict of str to numpy.ndarray
            ``{"estimate": (B, p)}`` in float64.
        """
        return {"estimate": self(inputs).double().numpy()}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)
