"""Neural posterior estimation: a conditional normalizing flow q(θ | T(Z)).

Trained by maximum likelihood on simulated pairs, which minimises the expected forward KL
divergence from the posterior (Papamakarios & Murray 2016; Radev et al. 2022):

    min  −(1/K) Σ_k log q( logit u_k | T(Z_k) )

with u the prior's unit scale (so the flow lives on ℝ^p and its samples map back inside the
prior box by the sigmoid). The flow is zuko's neural spline flow (Durkan et al. 2019), its
context the summary network's output; summary and flow are trained jointly.
"""

from __future__ import annotations

import numpy as np
import torch
import zuko

from .base import AmortizedEstimator, register_estimator
from .prior import logit


@register_estimator("posterior")
class PosteriorEstimator(AmortizedEstimator):
    """Neural posterior: ``transforms`` rational-quadratic spline transforms (zuko NSF)."""

    def __init__(self, summary, n_params: int, transforms: int = 4, hidden: int = 64,
                 n_draws: int = 1000, probs=(0.05, 0.5, 0.95)):
        super().__init__(summary, n_params)
        self._flow_config = dict(transforms=transforms, hidden=hidden, n_draws=n_draws,
                                 probs=list(probs))
        self.flow = zuko.flows.NSF(n_params, summary.out_features, transforms=transforms,
                                   hidden_features=(hidden, hidden))
        self.n_draws, self.probs = int(n_draws), [float(p) for p in probs]

    def _extra_config(self):
        return dict(self._flow_config)

    def distribution(self, inputs):
        return self.flow(self.summary(inputs))

    def loss(self, inputs, u: torch.Tensor) -> torch.Tensor:
        return -self.distribution(inputs).log_prob(logit(u)).mean()

    @torch.no_grad()
    def sample_unit(self, inputs, n: int, seed: int | None = 0) -> np.ndarray:
        """Posterior draws ``(B, n, p)`` on the unit scale."""
        gen_state = torch.random.get_rng_state()
        if seed is not None:
            torch.manual_seed(seed)
        try:
            v = self.distribution(inputs).sample((n,))
        finally:
            torch.random.set_rng_state(gen_state)
        return torch.sigmoid(v).transpose(0, 1).double().numpy()

    @torch.no_grad()
    def estimate_unit(self, inputs):
        draws = self.sample_unit(inputs, self.n_draws)
        out = {"estimate": np.median(draws, 1)}
        for p in self.probs:
            out[f"q{p:g}"] = np.quantile(draws, p, axis=1)
        return out
