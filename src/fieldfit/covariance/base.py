"""The covariance contract.

A covariance maps two point sets ``x1 (n1, D)`` and ``x2 (n2, D)`` and a dict of natural
parameter tensors to the matrix ``(n1, n2)``; batches ``(B, n1, D)``, ``(B, n2, D)`` give
``(B, n1, n2)`` (the Vecchia engine's conditioning blocks). Stationary isotropic covariances
need only one method, the correlation of the scaled distance (the extension point, as
GSTools' ``cor``):

    C(h) = σ² ρ(‖h‖ / ℓ)

and get the matrix, its diagonal and their parameters derived. Points of space-time
covariances carry the time as their last column.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..params import Param, ParamSpace, positive

Params = Mapping[str, torch.Tensor]


def pairwise_sq_dist(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``(..., n1, n2)`` computed from differences (exact at h = 0);
    leading batch dimensions ``...`` of ``x1 (..., n1, D)`` and ``x2 (..., n2, D)`` broadcast."""
    if x1.shape[-1] == 1:
        return (x1 - x2.transpose(-1, -2)) ** 2
    diff = x1[..., :, None, :] - x2[..., None, :, :]
    return (diff * diff).sum(-1)


def safe_sqrt(d2: torch.Tensor) -> torch.Tensor:
    """√d2 with a zero (not NaN) gradient where d2 == 0."""
    pos = d2 > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, d2, torch.ones_like(d2))), 0.0 * d2)


def distance(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ``(..., n1, n2)`` (batched like :func:`pairwise_sq_dist`); exact
    zeros on coincident points."""
    if x1.shape[-1] == 1:
        return (x1 - x2.transpose(-1, -2)).abs()
    if not (x1.requires_grad or x2.requires_grad):
        return torch.cdist(x1, x2, compute_mode="donot_use_mm_for_euclid_dist")
    return safe_sqrt(pairwise_sq_dist(x1, x2))


class Covariance:
    """Base class: a positive-definite function of two point sets."""

    #: number of trailing columns of the points that are time (0 or 1)
    time_dims: int = 0

    def param_specs(self) -> list[Param]:
        raise NotImplementedError

    def params(self) -> ParamSpace:
        return ParamSpace(self.param_specs())

    def __call__(self, x1: torch.Tensor, x2: torch.Tensor, p: Params) -> torch.Tensor:
        raise NotImplementedError

    def paired(self, x1: torch.Tensor, x2: torch.Tensor, p: Params) -> torch.Tensor:
        """Covariances ``(...)`` of paired points ``x1 (..., D)``, ``x2 (..., D)`` (the
        diagonal of the matrix; the Vecchia engine builds its blocks from these)."""
        return self(x1[..., None, :], x2[..., None, :], p)[..., 0, 0]

    def diag(self, x: torch.Tensor, p: Params) -> torch.Tensor:
        """The variances ``(..., n)`` at the points ``(..., n, D)``."""
        return p["variance"] * torch.ones(x.shape[:-1], dtype=x.dtype)

    def initial_values(self, variance: float, diameter: float, time_span: float = 1.0) -> dict:
        """A data-driven starting point from the data's variance and the domain's diameter."""
        return {"variance": variance, "range": diameter / 10.0}

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Isotropic(Covariance):
    """C(h) = σ² ρ(‖h‖/ℓ): subclasses give ``correlation(r, p)`` for scaled distances r ≥ 0."""

    #: a function of the Euclidean distance (engines may cache distances)
    euclidean = True

    def param_specs(self) -> list[Param]:
        return [
            Param("variance", positive, 1.0, doc="marginal variance σ²"),
            Param("range", positive, 1.0, doc="range ℓ"),
        ]

    def correlation(self, r: torch.Tensor, p: Params) -> torch.Tensor:
        raise NotImplementedError

    def scaled_distance(self, x1, x2, p: Params) -> torch.Tensor:
        return distance(x1, x2) / p["range"]

    def paired_scaled_distance(self, diff: torch.Tensor, p: Params) -> torch.Tensor:
        """Scaled lengths ``(...)`` of difference vectors ``diff (..., D)``."""
        return safe_sqrt((diff * diff).sum(-1)) / p["range"]

    def __call__(self, x1, x2, p):
        return p["variance"] * self.correlation(self.scaled_distance(x1, x2, p), p)

    def paired(self, x1, x2, p):
        return p["variance"] * self.correlation(self.paired_scaled_distance(x1 - x2, p), p)

    def covariance_of_distance(self, h: torch.Tensor, p: Params) -> torch.Tensor:
        """C as a function of the (unscaled) distance ``h`` (any shape)."""
        return p["variance"] * self.correlation(h / p["range"], p)
