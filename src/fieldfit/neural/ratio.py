r"""Neural likelihood surfaces: a classifier of dependent vs shuffled (θ, data) pairs.

A classifier d(θ, Z) trained with the binary cross-entropy to tell pairs (θ_k, Z_k) drawn
jointly (label 1) from pairs (θ_π(k), Z_k) with θ shuffled across the batch (label 0) has the
optimum d = p(Z, θ)/(p(Z, θ) + p(Z)π(θ)), so its logit is the likelihood ratio

.. math::

    \log r(\theta, Z) = \log p(Z \mid \theta) - \log p(Z)

(Hermans et al. 2020; Walchessen, Lenzi & Kuusela 2024): for fixed data, a neural likelihood
surface in θ up to a constant. The logit is calibrated by Platt scaling, a·logit + b, fitted by
logistic regression on held-out pairs (:meth:`RatioEstimator.calibrate`), as in Walchessen et al.
Approximate confidence regions follow from Wilks' theorem:

.. math::

    \{\theta : 2 (\max \log r - \log r(\theta)) \le \chi^2_{p, \mathrm{level}}\},

and per-parameter intervals from the profile of the surface (χ²_1), evaluated on a fixed
scrambled Sobol set of ``n_candidates`` points of the prior box.

References
----------
J. Hermans, V. Begy and G. Louppe (2020), "Likelihood-free MCMC with amortized approximate
ratio estimators", ICML 2020.

J. Walchessen, A. Lenzi and M. Kuusela (2024), "Neural likelihood surfaces for spatial
processes with computationally intensive or intractable likelihoods", Spatial Statistics 62,
100848.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import chi2, qmc
from torch.nn import functional as F

from .base import AmortizedEstimator, register_estimator
from .prior import logit
from .summaries import mlp


@register_estimator("ratio")
class RatioEstimator(AmortizedEstimator):
    r"""Neural likelihood ratio :math:`\log r(\theta, Z)` with Platt calibration and Wilks regions.

    A classifier :math:`d(\theta, Z) = \operatorname{sigmoid}(h([T(Z), \operatorname{logit} u]))`
    of jointly drawn against shuffled pairs (module docstring); the calibrated logit
    :math:`a \cdot \operatorname{logit} d + b` estimates :math:`\log r`. Point estimates and
    intervals are read on a fixed scrambled Sobol set of candidates of the prior box.

    Parameters
    ----------
    summary : torch.nn.Module
        The summary network.
    n_params : int
        Number of parameters ``p``.
    hidden : int, default 128
        Width of the classifier's two hidden layers.
    level : float, default 0.9
        Level of the profile intervals of :meth:`estimate_unit` (and default of
        :meth:`confidence_region`).
    n_candidates : int, default 8192
        Size ``M`` of the candidate set.
    n_bins : int, default 40
        Bins per parameter of the profiles (the intervals' resolution is ``1 / n_bins`` on the
        unit scale).
    """

    def __init__(self, summary, n_params: int, hidden: int = 128, level: float = 0.9,
                 n_candidates: int = 8192, n_bins: int = 40):
        super().__init__(summary, n_params)
        self._ratio_config = dict(hidden=hidden, level=level, n_candidates=n_candidates,
                                  n_bins=n_bins)
        self.level, self.n_candidates, self.n_bins = float(level), int(n_candidates), int(n_bins)
        self.head = mlp([summary.out_features + n_params, hidden, hidden, 1])
        self.register_buffer("platt", torch.tensor([1.0, 0.0]))

    def _extra_config(self):
        return dict(self._ratio_config)

    def logit_pair(self, t: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Uncalibrated classifier logit of (summary, parameter) pairs.

        Parameters
        ----------
        t : torch.Tensor, shape (B, S)
            Summaries :math:`T(Z)`.
        u : torch.Tensor, shape (B, p)
            Parameters on the unit scale.

        Returns
        -------
        torch.Tensor, shape (B,)
            The logits.
        """
        return self.head(torch.cat([t, logit(u)], 1))[:, 0]

    def loss(self, inputs, u: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of joint pairs (label 1) against pairs with θ shuffled (label 0).

        The shuffle is a cyclic shift of the batch by one.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.
        u : torch.Tensor, shape (B, p)
            True parameters on the unit scale.

        Returns
        -------
        torch.Tensor
            The scalar loss (sum of the two classes' mean cross-entropies).
        """
        t = self.summary(inputs)
        shuffled = u[torch.roll(torch.arange(len(u)), 1)]
        pos, neg = self.logit_pair(t, u), self.logit_pair(t, shuffled)
        return (F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos))
                + F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))

    @torch.no_grad()
    def calibrate(self, inputs, u: torch.Tensor, iterations: int = 200) -> tuple[float, float]:
        r"""Platt scaling on held-out pairs; the coefficients are stored in the estimator.

        Fits :math:`(a, b)` maximising the Bernoulli likelihood of the labels given
        :math:`a \cdot \operatorname{logit} + b` (L-BFGS), on joint and shifted pairs as in
        :meth:`loss`.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A held-out batch.
        u : torch.Tensor, shape (B, p)
            Its true parameters on the unit scale.
        iterations : int, default 200
            Most L-BFGS iterations.

        Returns
        -------
        tuple of float
            ``(a, b)``.
        """
        t = self.summary(inputs)
        shuffled = u[torch.roll(torch.arange(len(u)), 1)]
        z = torch.cat([self.logit_pair(t, u), self.logit_pair(t, shuffled)]).double()
        y = torch.cat([torch.ones(len(u)), torch.zeros(len(u))]).double()
        ab = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([ab], max_iter=iterations, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            with torch.enable_grad():
                loss = F.binary_cross_entropy_with_logits(ab[0] * z + ab[1], y)
                loss.backward()
            return loss

        opt.step(closure)
        self.platt.copy_(ab.detach().to(self.platt.dtype))
        return float(ab[0]), float(ab[1])

    def candidates(self) -> np.ndarray:
        """The fixed candidate set of the prior box (scrambled Sobol, seed 0).

        Returns
        -------
        numpy.ndarray, shape (M, p)
            Points on the unit scale, clipped to ``[1e-4, 1 - 1e-4]``.
        """
        pts = qmc.Sobol(self.n_params, scramble=True, seed=0).random(self.n_candidates)
        return np.clip(pts, 1e-4, 1 - 1e-4)

    @torch.no_grad()
    def log_ratio(self, inputs, u: np.ndarray) -> np.ndarray:
        r"""Calibrated :math:`\log r` at given parameters for every dataset.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.
        u : numpy.ndarray, shape (M, p)
            Parameters on the unit scale.

        Returns
        -------
        numpy.ndarray, shape (B, M)
            :math:`\log r(u_m, Z_b)`, float64.
        """
        t = self.summary(inputs)
        uu = torch.as_tensor(u, dtype=t.dtype)
        out = []
        for b in range(len(t)):
            z = self.logit_pair(t[b].expand(len(uu), -1), uu)
            out.append(self.platt[0] * z + self.platt[1])
        return torch.stack(out).double().numpy()

    @torch.no_grad()
    def estimate_unit(self, inputs):
        r"""Maximiser of the surface over the candidates and profile intervals (:math:`\chi^2_1`).

        The profile of parameter ``j`` is the largest :math:`\log r` over the candidates in each of
        ``n_bins`` bins of its unit range; the interval spans the bins whose profile is within
        :math:`\chi^2_{1, \mathrm{level}} / 2` of the maximum.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.

        Returns
        -------
        dict of str to numpy.ndarray
            ``"estimate"`` and the interval ends ``"q<(1 - level)/2>"``, ``"q<(1 + level)/2>"``,
            each ``(B, p)`` on the unit scale.
        """
        u = self.candidates()
        lr = self.log_ratio(inputs, u)
        cut = 0.5 * chi2.ppf(self.level, 1)
        bins = np.minimum((u * self.n_bins).astype(int), self.n_bins - 1)
        est = u[np.argmax(lr, 1)]
        lower = np.empty_like(est)
        upper = np.empty_like(est)
        for j in range(self.n_params):
            prof = np.full((len(lr), self.n_bins), -np.inf)
            for k in range(self.n_bins):
                sel = bins[:, j] == k
                if sel.any():
                    prof[:, k] = lr[:, sel].max(1)
            inside = prof >= prof.max(1, keepdims=True) - cut
            first = np.argmax(inside, 1)
            last = self.n_bins - 1 - np.argmax(inside[:, ::-1], 1)
            lower[:, j], upper[:, j] = first / self.n_bins, (last + 1) / self.n_bins
        return {"estimate": est, f"q{(1 - self.level) / 2:g}": lower,
                f"q{(1 + self.level) / 2:g}": upper}

    @torch.no_grad()
    def confidence_region(self, inputs, level: float | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
        r"""The candidates inside the approximate joint Wilks region of each dataset.

        The region is :math:`2(\max \log r - \log r) \le \chi^2_{p, \mathrm{level}}`.

        Parameters
        ----------
        inputs : GraphBatch, GridBatch or PooledBatch
            A batch.
        level : float or None, optional
            The region's level (default the estimator's ``level``).

        Returns
        -------
        candidates : numpy.ndarray, shape (M, p)
            The candidate set (:meth:`candidates`).
        inside : numpy.ndarray, shape (B, M)
            Boolean mask of the candidates inside each dataset's region.
        """
        u = self.candidates()
        lr = self.log_ratio(inputs, u)
        cut = 0.5 * chi2.ppf(self.level if level is None else level, self.n_params)
        return u, lr >= lr.max(1, keepdims=True) - cut
