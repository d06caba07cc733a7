"""The likelihood of a latent Gaussian Markov random field observed with Gaussian noise.

    y = X β + A x + ε,    x ~ N(0, Q⁻¹),    ε ~ N(0, τ² I)       (y (r, n), x (N,), A (n, N))

Marginally y ~ N(Xβ, A Q⁻¹ Aᵀ + τ² I); with the posterior precision Q_p = Q + AᵀA/τ²
(Woodbury; Rue & Held 2005, §2.3; Lindgren, Rue & Lindström 2011, §4),

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

_LOG2PI = math.log(2.0 * math.pi)


class GMRFEngine:
    """Latent GMRF + Gaussian noise on a fixed precision pattern and observation matrix.

    ``pattern``: Q's :class:`~fieldfit.gmrf.Pattern`; ``A`` ``(n, N)`` scipy sparse (the
    projector from the mesh to the observed points). Built once per data set: the symbolic
    analyses of Q and of Q_p = Q + AᵀA/τ² are reused for every parameter value.
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
        self.gmrf = GMRF(self.pattern)
        self.post = GMRF(self.post_pattern)
        At = A.T.tocoo()
        self._At = torch.sparse_coo_tensor(
            torch.from_numpy(np.vstack([At.row, At.col]).astype(np.int64)),
            torch.from_numpy(At.data), size=At.shape, dtype=torch.float64,
            check_invariants=True).coalesce()

    def posterior_values(self, q_values: torch.Tensor, nugget) -> torch.Tensor:
        """Values of Q_p = Q + AᵀA/τ² on the union pattern."""
        return scatter([q_values, self._ata / nugget], self._maps, self.post_pattern)

    def _atv(self, v: torch.Tensor) -> torch.Tensor:
        return self._At @ v

    def gls(self, q_values, nugget, y, X):
        """β̂ ``(p,)`` and its covariance ``(p, p)``, shared by the replicates (no graph)."""
        with torch.no_grad():
            fp = self.post.factorize(self.posterior_values(q_values.detach(),
                                                           torch.as_tensor(nugget).detach()))
        return self._gls(fp.factor, nugget, y, X)

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
        """log p(y) for ``y (r, n)``; β given, or profiled by GLS when ``beta`` is None and X
        has columns. ``logdet_q``: log|Q| (0-d, differentiable) when the model has a cheaper
        route to it than factorising Q (e.g. :meth:`MaternSPDE.precision_and_logdet`); by
        default Q is factorised here."""
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
            logdet_q = self.gmrf.factorize(q_values).logdet()
        b = self._atv(resid.T) / nugget  # (N, r)
        quad = (resid * resid).sum() / nugget - fp.quad_form(b).sum()
        return (0.5 * r * (logdet_q - fp.logdet()) - 0.5 * n * r * (_LOG2PI + torch.log(nugget))
                - 0.5 * quad)

    def posterior(self, q_values, nugget, y, X=None, beta=None):
        """The posterior mean ``(r, N)`` of x and the factor of Q_p (no graph)."""
        with torch.no_grad():
            nugget = torch.as_tensor(nugget, dtype=torch.float64)
            resid = torch.as_tensor(y, dtype=torch.float64)
            if X is not None and X.shape[1]:
                resid = resid - (torch.as_tensor(X, dtype=torch.float64) @ beta)[None, :]
            fp = self.post.factorize(self.posterior_values(q_values, nugget))
            mu = fp.factor.solve((self._atv(resid.T) / nugget).numpy())
            return torch.from_numpy(np.asarray(mu).reshape(self.pattern.n, -1).T), fp


__all__ = ["GMRFEngine"]
