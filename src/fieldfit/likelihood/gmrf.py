"""The likelihood of a latent Gaussian Markov random field observed with Gaussian noise.

The model is::

    y = X β + A x + ε,    x ~ N(0, Q⁻¹),    ε ~ N(0, τ² I)       (y (r, n), x (N,), A (n, N))

Marginally y ~ N(Xβ, A Q⁻¹ Aᵀ + τ² I); with the posterior precision Q_p = Q + AᵀA/τ²
(Woodbury; Rue & Held 2005, §2.3; Lindgren, Rue & Lindström 2011, §4)::

    log p(y) = ½ log|Q| − ½ log|Q_p| − (n/2) log 2πτ² − ½ (rᵀr/τ² − bᵀ Q_p⁻¹ b),
    r = y − Xβ,   b = Aᵀr/τ²,

summed over replicates. Q's values are differentiable (built from the parameters elsewhere),
and log|Q|, log|Q_p| and the quadratic form are :mod:`fieldfit.gmrf` operations, so the
gradient in every parameter costs two factorisations and two selected inversions. With β
profiled, β̂ = (XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹ȳ (Σ⁻¹v = v/τ² − A Q_p⁻¹ Aᵀv/τ⁴) is computed without a graph
and ℓ(θ, β̂) differentiated at fixed β̂ (envelope theorem: the profile gradient).

The posterior of x is N(μ, Q_p⁻¹), μ = Q_p⁻¹ b: kriging at new points is A₀μ + X₀β with
variance diag(A₀ Q_p⁻¹ A₀ᵀ) (+ τ²), from the selected inverse of Q_p on the mesh's pattern.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from ..gmrf import GMRF, Pattern, scatter, union
from .base import PrecisionEngine

_LOG2PI = math.log(2.0 * math.pi)


class GMRFEngine(PrecisionEngine):
    r"""Likelihood of a latent GMRF plus Gaussian noise, on a fixed precision pattern and projector.

    .. math::

        y = X\beta + A x + \varepsilon, \quad x \sim N(0, Q^{-1}), \quad
        \varepsilon \sim N(0, \tau^2 I),

    evaluated through sparse Cholesky factorisations (CHOLMOD) of Q and of the posterior
    precision :math:`Q_p = Q + A^\top A/\tau^2` (Rue & Held 2005, §2.3; Lindgren, Rue &
    Lindström 2011, §4); formulas in the module docstring. Built once per data set: the
    symbolic analyses are reused for every parameter value.

    Parameters
    ----------
    pattern : Pattern or tuple
        Q's :class:`~fieldfit.gmrf.Pattern` (or ``(indptr, indices, n)``).
    A : scipy.sparse matrix
        ``(n, N)`` projector from the mesh to the observed points.

    Raises
    ------
    ValueError
        If A's number of columns differs from Q's size, or the pattern is invalid.
    """

    name = "spde"
    #: Hessians by differences of the gradient (the gmrf backward passes are first order)
    hessian = "differences"

    def __init__(self, pattern: Pattern, A):
        self.pattern = pattern if isinstance(pattern, Pattern) else Pattern(*pattern)
        A = sp.csr_matrix(A, dtype=np.float64)
        if A.shape[1] != self.pattern.n:
            raise ValueError(f"A has {A.shape[1]} columns, the precision {self.pattern.n} rows")
        self.A = A
        AtA = (A.T @ A).tocsc()
        AtA.sum_duplicates()
        AtA.sort_indices()
        self._ata_pattern = Pattern.from_matrix(AtA)
        self._ata = self._ata_pattern.values_of(AtA)
        self.post_pattern, self._maps = union(self.pattern, self._ata_pattern)
        self._gmrf: GMRF | None = None  # Q's analysis, only when log|Q| is not given
        self.post = GMRF(self.post_pattern)
        At = A.T.tocoo()
        self._At = torch.sparse_coo_tensor(
            torch.from_numpy(np.vstack([At.row, At.col]).astype(np.int64)),
            torch.from_numpy(At.data), size=At.shape, dtype=torch.float64,
            check_invariants=True).coalesce()

    def posterior_values(self, q_values: torch.Tensor, nugget) -> torch.Tensor:
        r"""Values of :math:`Q_p = Q + A^\top A/\tau^2` on the union pattern (differentiable).

        Parameters
        ----------
        q_values : torch.Tensor
            ``(nnz,)`` values of Q on ``pattern``.
        nugget : float or torch.Tensor
            Noise variance τ².

        Returns
        -------
        torch.Tensor
            ``(nnz_p,)`` values on ``post_pattern``.
        """
        return scatter([q_values, self._ata / nugget], self._maps, self.post_pattern)

    def _atv(self, v: torch.Tensor) -> torch.Tensor:
        return self._At @ v

    def gls(self, q_values, nugget, y, X):
        """GLS coefficients and their covariance, shared by the replicates (no graph).

        Parameters
        ----------
        q_values : torch.Tensor
            ``(nnz,)`` values of Q on ``pattern``.
        nugget : float or torch.Tensor
            Noise variance τ².
        y : array_like or torch.Tensor
            ``(r, n)`` observations.
        X : array_like or torch.Tensor
            ``(n, p)`` design.

        Returns
        -------
        beta : torch.Tensor
            ``(p,)``.
        cov : torch.Tensor
            ``(p, p)``.

        Raises
        ------
        fieldfit.errors.NotPositiveDefinite
            If :math:`Q_p` is not positive definite.
        """
        return self._gls(self._factor_posterior(q_values, nugget).factor, nugget, y, X)

    def _gls(self, factor, nugget, y, X):
        """GLS with Σ⁻¹v = v/τ² − A Q_p⁻¹ Aᵀv/τ⁴ from ``factor`` (Q_p's CholeskyFactor)."""
        with torch.no_grad():
            tau2 = float(nugget)
            Xt = torch.as_tensor(X, dtype=torch.float64)
            y = torch.as_tensor(y, dtype=torch.float64)

            def sigma_inv(v):  # Σ⁻¹ v, v (n, k)
                w = torch.from_numpy(factor.solve(self._atv(v).numpy()))
                return v / tau2 - torch.from_numpy(self.A @ w.numpy()) / tau2**2

            SX = sigma_inv(Xt)
            M = Xt.T @ SX
            beta = torch.linalg.solve(M, SX.T @ y.mean(0))
            return beta, torch.linalg.inv(M) / y.shape[0]

    def log_likelihood(self, q_values, nugget, y, X=None, beta=None,
                       logdet_q=None) -> torch.Tensor:
        r"""The marginal log-likelihood :math:`\log p(y)`, summed over replicates.

        β is given, or profiled by GLS when ``beta`` is None and X has columns.

        Parameters
        ----------
        q_values : torch.Tensor
            ``(nnz,)`` values of Q on ``pattern``.
        nugget : float or torch.Tensor
            Noise variance τ².
        y : array_like or torch.Tensor
            ``(r, n)`` observations.
        X : array_like or torch.Tensor or None, optional
            ``(n, p)`` design.
        beta : torch.Tensor or None, optional
            ``(p,)`` coefficients (differentiable), or None to profile them.
        logdet_q : torch.Tensor or None, optional
            :math:`\log|Q|` (0-d, differentiable) when the model has a cheaper route to it than
            factorising Q (e.g. :meth:`MaternSPDE.precision_and_logdet
            <fieldfit.spde.matern.MaternSPDE.precision_and_logdet>`); by default Q is factorised
            here.

        Returns
        -------
        torch.Tensor
            0-d log-likelihood, differentiable in ``q_values``, ``nugget`` and ``beta``.

        Raises
        ------
        fieldfit.errors.NotPositiveDefinite
            If Q or :math:`Q_p` is not positive definite.
        """
        nugget = torch.as_tensor(nugget, dtype=torch.float64)
        y = torch.as_tensor(y, dtype=torch.float64)
        r, n = y.shape
        fp = self.post.factorize(self.posterior_values(q_values, nugget))
        if X is not None and X.shape[1]:
            if beta is None:  # profiled: no graph through β̂ (envelope theorem)
                beta, _ = self._gls(fp.factor, nugget, y, X)
            resid = y - (torch.as_tensor(X, dtype=torch.float64) @ beta)[None, :]
        else:
            resid = y
        if logdet_q is None:
            if self._gmrf is None:
                self._gmrf = GMRF(self.pattern)
            logdet_q = self._gmrf.factorize(q_values).logdet()
        b = self._atv(resid.T) / nugget  # (N, r)
        quad = (resid * resid).sum() / nugget - fp.quad_form(b).sum()
        return (0.5 * r * (logdet_q - fp.logdet()) - 0.5 * n * r * (_LOG2PI + torch.log(nugget))
                - 0.5 * quad)

    def _factor_posterior(self, q_values, nugget):
        """Q_p = Q + AᵀA/τ² factorised (no graph)."""
        with torch.no_grad():
            return self.post.factorize(self.posterior_values(
                torch.as_tensor(q_values).detach(),
                torch.as_tensor(nugget, dtype=torch.float64).detach()))

    def _posterior_mean(self, fp, nugget, y, X=None, beta=None) -> torch.Tensor:
        """Q_p⁻¹Aᵀ(y − Xβ)/τ² ``(r, N)`` from Q_p's factor ``fp``."""
        resid = torch.as_tensor(y, dtype=torch.float64)
        if X is not None and X.shape[1]:
            resid = resid - (torch.as_tensor(X, dtype=torch.float64) @ beta)[None, :]
        mu = fp.factor.solve((self._atv(resid.T) / float(nugget)).numpy())
        return torch.from_numpy(np.asarray(mu).reshape(self.pattern.n, -1).T)

    # --- the predictive distribution at new points --------------------------------------------
    def predict(self, q_values, nugget, y, X, A0, X0, beta=None, noise=False):
        r"""Predictive mean and variance at the rows of ``A0``: kriging from the posterior of x.

        ``beta`` given: simple kriging; None (and X has columns): universal kriging, β̂ by GLS and
        its covariance added, :math:`R\, \mathrm{Cov}(\hat\beta) R^\top` with
        :math:`R = X_0 - A_0 Q_p^{-1} A^\top X/\tau^2`. The variances
        :math:`\mathrm{diag}(A_0 Q_p^{-1} A_0^\top)` come from the selected inverse (the nodes of
        one cell are neighbours in the pattern of :math:`Q_p`'s factor).

        Parameters
        ----------
        q_values : torch.Tensor
            ``(nnz,)`` values of Q on ``pattern``.
        nugget : float or torch.Tensor
            Noise variance τ².
        y : array_like or torch.Tensor
            ``(r, n)`` observations.
        X : array_like or torch.Tensor
            ``(n, p)`` design.
        A0 : scipy.sparse matrix
            ``(m, N)`` projector to the prediction points.
        X0 : array_like
            ``(m, p)`` design at the prediction points.
        beta : array_like or None, optional
            Coefficients for simple kriging.
        noise : bool, default False
            Predict new observations (τ² added) rather than the field.

        Returns
        -------
        mean : numpy.ndarray
            ``(r, m)``.
        var : numpy.ndarray
            ``(m,)``.

        Raises
        ------
        fieldfit.errors.NotPositiveDefinite
            If :math:`Q_p` is not positive definite.
        """
        with torch.no_grad():
            X = torch.as_tensor(X, dtype=torch.float64)
            X0 = torch.as_tensor(np.asarray(X0), dtype=torch.float64)
            fp = self._factor_posterior(q_values, nugget)  # one factorisation for all below
            beta_cov = None
            if X.shape[1] and beta is None:
                beta, beta_cov = self._gls(fp.factor, nugget, y, X)
            mu = self._posterior_mean(fp, nugget, y, X, beta)
            A0 = sp.csr_matrix(A0)
            mean = torch.from_numpy(np.asarray((A0 @ mu.numpy().T).T))
            if X.shape[1]:
                mean = mean + (X0 @ beta)[None, :]
            S = self.post_pattern.to_scipy(fp.inverse_on(self.post_pattern).numpy())
            var = np.asarray((A0.multiply(A0 @ S)).sum(1)).ravel()
            if beta_cov is not None:
                AtX = self.A.T @ X.numpy() / float(nugget)
                R = X0.numpy() - A0 @ fp.factor.solve(AtX)
                var = var + ((R @ beta_cov.numpy()) * R).sum(1)
            if noise:
                var = var + float(nugget)
        return mean.numpy(), var

    def conditional_simulation(self, q_values, nugget, y, X, A0, X0, n_samples: int,
                               rng: np.random.Generator, beta=None, noise=False) -> np.ndarray:
        r"""Draws at the rows of ``A0`` given one replicate y, exact for the latent GMRF.

        .. math::

            x \mid \beta, y \sim N(\mu(\beta), Q_p^{-1}), \quad
            \mu(\beta) = Q_p^{-1} A^\top (y - X\beta)/\tau^2, \quad Q_p = Q + A^\top A/\tau^2,

        drawn as :math:`\mu(\beta) + P^\top L_p^{-\top} z` from the factor of :math:`Q_p`
        (Rue & Held 2005, §2.3), then :math:`A_0 x + X_0\beta`. ``beta`` None:
        :math:`\beta \sim N(\hat\beta, \mathrm{Cov}\,\hat\beta)` per draw (the flat-prior posterior,
        whose spread is universal kriging's extra variance); given: simple kriging.

        Parameters
        ----------
        q_values : torch.Tensor
            ``(nnz,)`` values of Q on ``pattern``.
        nugget : float or torch.Tensor
            Noise variance τ².
        y : array_like or torch.Tensor
            ``(1, n)`` observations (one replicate).
        X : array_like or torch.Tensor
            ``(n, p)`` design.
        A0 : scipy.sparse matrix
            ``(m, N)`` projector to the targets.
        X0 : array_like
            ``(m, p)`` design at the targets.
        n_samples : int
            Number of draws.
        rng : numpy.random.Generator
            Source of randomness.
        beta : array_like or None, optional
            Coefficients for simple kriging.
        noise : bool, default False
            Add τ² noise (simulate observations).

        Returns
        -------
        numpy.ndarray
            ``(n_samples, m)`` draws.

        Raises
        ------
        ValueError
            If ``n_samples < 1`` or y has more than one replicate.
        fieldfit.errors.NotPositiveDefinite
            If :math:`Q_p` is not positive definite.
        """
        from ..gmrf import sample_cholesky

        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        y = torch.as_tensor(y, dtype=torch.float64)
        if y.shape[0] != 1:
            raise ValueError(f"conditional simulation needs a single replicate, got {y.shape[0]}")
        X = torch.as_tensor(X, dtype=torch.float64)
        X0 = np.asarray(X0, dtype=np.float64)
        tau2 = float(nugget)
        N = self.pattern.n
        with torch.no_grad():
            fp = self._factor_posterior(q_values, nugget)  # one factorisation for all below
            betas = np.zeros((n_samples, X.shape[1]))
            if X.shape[1]:
                if beta is not None:
                    betas[:] = np.asarray(beta, dtype=np.float64)
                else:
                    b, cov = self._gls(fp.factor, nugget, y, X)
                    betas = rng.multivariate_normal(b.numpy(), cov.numpy(), size=n_samples,
                                                    method="cholesky")
            resid = y.numpy()[0][None, :] - betas @ X.numpy().T  # (s, n)
            mu = np.asarray(fp.factor.solve(np.asarray(self.A.T @ resid.T) / tau2))
            z = rng.standard_normal((N, n_samples))
            x = mu.reshape(N, -1) + np.asarray(
                sample_cholesky(fp.factor, z=z)).reshape(n_samples, -1).T
        draws = np.asarray((sp.csr_matrix(A0) @ x).T) + betas @ X0.T
        if noise:
            draws = draws + np.sqrt(tau2) * rng.standard_normal(draws.shape)
        return draws


__all__ = ["GMRFEngine"]
