"""Priors for amortized inference: independent uniform or log-uniform parameters in a box.

The single-parameter prior is :class:`fieldfit.priors.Bound`, the same type that
``Param.prior`` holds for penalised likelihoods and MCMC; :class:`Prior` is a box of them (plus
fixed values), built by hand or from a parameter space's priors (:meth:`Prior.from_space`).

Every network in :mod:`fieldfit.neural` works on the *unit scale* of the prior box,

    uniform(a, b):      u = (θ − a) / (b − a)
    loguniform(a, b):   u = (log θ − log a) / (log b − log a)

so that every parameter lies in (0, 1) whatever its units, estimates stay inside the prior's
support (outputs through a sigmoid), and ``logit(u)`` is an unbounded version for flows.
Fixed parameters are carried along for the simulator but never estimated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

# one prior type for every estimator: the neural priors are boxes of fieldfit.priors.Bound
from ..priors import KINDS, Bound  # noqa: E402,F401  (re-exported)


@dataclass(frozen=True)
class Prior:
    """Independent priors on the estimated parameters, plus fixed values.

    >>> prior = Prior({"range": Bound(0.02, 0.5, "loguniform"), "variance": Bound(0.1, 5)},
    ...               fixed={"smoothness": 1.0})
    >>> theta = prior.sample(100, seed=0)          # (100, 2) natural values
    >>> u = prior.to_unit(theta)                    # (100, 2) in (0, 1)
    """

    bounds: Mapping[str, Bound]
    fixed: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if not self.bounds:
            raise ValueError("a prior needs at least one estimated parameter")
        both = set(self.bounds) & set(self.fixed)
        if both:
            raise ValueError(f"parameters both estimated and fixed: {sorted(both)}")

    @classmethod
    def from_space(cls, space, fixed: Mapping[str, float] | None = None) -> Prior:
        """The box of a :class:`~fieldfit.params.ParamSpace`'s free parameters, from their
        ``Param.prior`` (each a :class:`~fieldfit.priors.Bound`); ``fixed`` adds values."""
        bounds, missing = {}, []
        for p in space:
            if p.fixed:
                continue
            if isinstance(p.prior, Bound):
                bounds[p.name] = p.prior
            else:
                missing.append(p.name)
        if missing:
            raise ValueError(f"amortized inference needs a bounded prior (fieldfit.priors."
                             f"Bound) on every estimated parameter; {missing} have none")
        return cls(bounds, dict(fixed or {}))

    @property
    def names(self) -> list[str]:
        return list(self.bounds)

    def __len__(self) -> int:
        return len(self.bounds)

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``(n, p)`` natural values drawn from the prior."""
        rng = np.random.default_rng(seed)
        return self.from_unit(rng.uniform(size=(n, len(self))))

    def to_unit(self, theta) -> np.ndarray:
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        if theta.shape[-1] != len(self):
            raise ValueError(f"expected {len(self)} parameters {self.names}, got {theta.shape[-1]}")
        return np.stack([b.to_unit(theta[:, j]) for j, b in enumerate(self.bounds.values())], 1)

    def from_unit(self, u) -> np.ndarray:
        u = np.asarray(u, dtype=np.float64)
        return np.stack([b.from_unit(u[..., j]) for j, b in enumerate(self.bounds.values())], -1)

    def params(self, theta_row) -> dict[str, float]:
        """One parameter vector ``(p,)`` as a dict with the fixed values added."""
        out = {k: float(v) for k, v in zip(self.names, theta_row, strict=True)}
        out.update({k: float(v) for k, v in self.fixed.items()})
        return out

    def to_dict(self) -> dict:
        return {"bounds": {k: [b.lower, b.upper, b.kind] for k, b in self.bounds.items()},
                "fixed": dict(self.fixed)}

    @classmethod
    def from_dict(cls, d: Mapping) -> Prior:
        return cls({k: Bound(float(v[0]), float(v[1]), str(v[2])) for k, v in d["bounds"].items()},
                   {k: float(v) for k, v in d.get("fixed", {}).items()})


def logit(u: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    u = u.clamp(eps, 1 - eps)
    return torch.log(u) - torch.log1p(-u)
