"""Neural Bayes estimators: point estimators and non-crossing quantile estimators.

A neural Bayes estimator θ̂(Z) = h(T(Z)) minimises the empirical Bayes risk over simulated
pairs (θ_k, Z_k) ~ π(θ) p(Z | θ) (Sainsbury-Dale, Zammit-Mangion & Huser 2024):

    θ̂ = argmin_h  (1/K) Σ_k L(θ_k, h(T(Z_k)))

on the prior's unit scale u ∈ (0, 1) (:mod:`fieldfit.neural.prior`):

* :class:`PointEstimator`, ``loss="absolute"`` (the posterior median, invariant to monotone
  reparametrisation) or ``"squared"`` (the posterior mean of u);
* :class:`QuantileEstimator`, the pinball loss ρ_τ(e) = e (τ − 1{e < 0}) summed over the
  probability levels τ_1 < … < τ_K, giving marginal posterior quantiles; levels cannot cross,
  the network outputs  logit q_1 = a_1,  logit q_k = logit q_{k−1} + softplus(a_k).

All estimators share the interface of :class:`AmortizedEstimator`: ``loss(inputs, u)`` for
training, ``estimate(items)`` for use, ``config()`` for saving.
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
    """Marginal posterior quantiles at ``probs`` (sorted), non-crossing by construction; the
    point estimate is the median (0.5 must be among ``probs``).

    ``widening`` (one number Q_j per parameter, from :meth:`calibrate`): the reported quantiles
    other than the median are moved away from it on the logit scale,
    ``logit q' = logit m + (1 + Q_j)(logit q − logit m)`` — normalised conformalized quantile
    regression (Romano, Patterson & Candès 2019), which gives the outer interval its nominal
    coverage on the calibration distribution. Training and the loss use the raw quantiles.
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
        """Quantiles ``(B, p, K)`` on the unit scale."""
        a = self.head(self.summary(inputs)).view(-1, self.n_params, len(self.probs))
        steps = torch.cat([a[..., :1], F.softplus(a[..., 1:])], -1)
        return torch.sigmoid(torch.cumsum(steps, -1))

    def loss(self, inputs, u: torch.Tensor) -> torch.Tensor:
        e = u[..., None] - self(inputs)
        return (e * (self.tau - (e < 0).to(e.dtype))).sum((1, 2)).mean()

    def calibrate(self, q: np.ndarray, u: np.ndarray) -> list[float]:
        """Set :attr:`widening` from held-out simulations: raw quantiles ``q (B, p, K)``
        (``self(inputs)``, unit scale) and true parameters ``u (B, p)``. With L, M, H the
        lowest, median and highest quantile on the logit scale, the score of a dataset is
        ``max((L − y)/(M − L), (y − H)/(H − M))`` and Q_j its ⌈(1 − α)(B + 1)⌉-th smallest value
        (α = 1 − (highest − lowest level)): the widened interval then covers y exactly when
        the score is ≤ Q_j. Returns the Q_j (negative: the interval shrinks)."""
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
    """θ̂(Z) = sigmoid(h(T(Z))) on the unit scale, trained with absolute or squared error."""

    def __init__(self, summary: nn.Module, n_params: int, loss: str = "absolute"):
        super().__init__(summary, n_params)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.loss_kind = loss
        self.head = mlp([summary.out_features, summary.out_features, n_params])

    def _extra_config(self):
        return {"loss": self.loss_kind}

    def forward(self, inputs) -> torch.Tensor:
        return torch.sigmoid(self.head(self.summary(inputs)))

    def loss(self, inputs, u: torch.Tensor) -> torch.Tensor:
        e = self(inputs) - u
        return (e.abs() if self.loss_kind == "absolute" else e * e).sum(1).mean()

    @torch.no_grad()
    def estimate_unit(self, inputs):
        return {"estimate": self(inputs).double().numpy()}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)
