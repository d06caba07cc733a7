"""The exact Gaussian likelihood by dense Cholesky factorisation, O(n³).

The log-likelihood is::

    log p(y) = −½ (y − Xβ)ᵀ Σ⁻¹ (y − Xβ) − ½ log|Σ| − (n/2) log 2π,    Σ = K + τ² I

With ``beta=None`` the coefficients are profiled out by generalised least squares,
β̂ = (Xᵀ Σ⁻¹ X)⁻¹ Xᵀ Σ⁻¹ y, shared by all replicates. Kriging (Cressie 1993, §3.4)::

    mean  x₀ᵀβ + k₀ᵀ Σ⁻¹ (y − Xβ)
    var   k(x₀, x₀) − k₀ᵀ Σ⁻¹ k₀ [+ r₀ᵀ (Xᵀ Σ⁻¹ X)⁻¹ r₀ for universal kriging] [+ τ²],
          r₀ = x₀ − Xᵀ Σ⁻¹ k₀
"""

from __future__ import annotations

import math

import torch

from ..errors import NotPositiveDefinite
from ..settings import current
from .base import CovarianceEngine, GaussianSpec, Prediction, physical_memory


def cholesky(K: torch.Tensor) -> torch.Tensor:
    r"""Lower Cholesky factor of a covariance matrix, with relative jitter (see ``settings``).

    The jitter ``settings.jitter · mean(diag K)`` is added to the diagonal; on failure it is
    raised tenfold up to ``settings.max_jitter_tries`` times.

    Parameters
    ----------
    K : torch.Tensor
        ``(n, n)`` symmetric covariance.

    Returns
    -------
    torch.Tensor
        ``(n, n)`` lower-triangular L with :math:`L L^\top = K + \text{jitter}\, I`.

    Raises
    ------
    fieldfit.errors.NotPositiveDefinite
        If K is not positive definite even with the largest jitter.
    """
    return cholesky_jitter(K)[0]


def cholesky_jitter(K: torch.Tensor) -> tuple[torch.Tensor, float]:
    """:func:`cholesky`, also returning the jitter added to the diagonal.

    Parameters
    ----------
    K : torch.Tensor
        ``(n, n)`` symmetric covariance.

    Returns
    -------
    L : torch.Tensor
        ``(n, n)`` lower Cholesky factor.
    jitter : float
        The absolute amount added to the diagonal.

    Raises
    ------
    fieldfit.errors.NotPositiveDefinite
        If K is not positive definite even with the largest jitter.
    """
    cfg = current()
    scale = float(K.diagonal().mean().detach())
    jitter = cfg.jitter
    for _ in range(cfg.max_jitter_tries + 1):
        L, info = torch.linalg.cholesky_ex(add_diagonal(K, jitter * scale))
        if int(info) == 0:
            return L, float(jitter * scale)
        jitter *= 10.0
    raise NotPositiveDefinite(
        "covariance matrix is not positive definite even with jitter "
        f"{jitter / 10:.1e}×mean variance: duplicated locations without a nugget, or a "
        "degenerate parameter value (zero variance, infinite range)?"
    )


def gram(spec: GaussianSpec, points: torch.Tensor) -> torch.Tensor:
    """The covariance matrix K(points, points).

    An isotropic covariance (``spec.of_distance``) is evaluated on the n(n − 1)/2 distinct pairs
    only (``torch.pdist``) and mirrored, half the covariance evaluations and half their
    backward pass; any other (or points that need a gradient) through ``spec.kernel``.

    Parameters
    ----------
    spec : GaussianSpec
        The covariance.
    points : torch.Tensor
        ``(n, D)`` locations.

    Returns
    -------
    torch.Tensor
        ``(n, n)`` covariance matrix.
    """
    n = points.shape[0]
    if spec.of_distance is None or n < 2 or points.requires_grad:
        return spec.kernel(points, points)
    c = spec.of_distance(torch.pdist(points))
    i, j = torch.triu_indices(n, n, offset=1)
    upper = points.new_zeros(n, n).index_put((i, j), c)
    return upper + upper.T + torch.diag(spec.diag(points))


#: dense n × n float64 matrices alive at once in a likelihood-and-gradient evaluation
_DENSE_COPIES = 6


class ProblemTooLarge(ValueError):
    """The problem does not fit in memory for this engine (not a bad parameter value).

    A subclass of ``ValueError``, raised by :func:`check_dense_size`.
    """


def check_dense_size(n: int, what: str = "the exact engine") -> None:
    """Check that an engine's dense n × n matrices fit in the memory budget.

    The budget is ``settings.max_dense_memory``, or half the physical memory when unset (no
    check when the OS does not say).

    Parameters
    ----------
    n : int
        Number of points.
    what : str, default "the exact engine"
        What stores the matrices, for the message.

    Raises
    ------
    ProblemTooLarge
        When ``n`` points need more memory than allowed.
    """
    limit = current().max_dense_memory
    if limit is None:
        memory = physical_memory()
        if memory is None:
            return
        limit = 0.5 * memory
    need = _DENSE_COPIES * 8.0 * n * n
    if need > limit:
        raise ProblemTooLarge(
            f"{what} stores dense {n} × {n} matrices: about {need / 2**30:.1f} GiB for "
            f"n = {n}, more than the {limit / 2**30:.1f} GiB allowed "
            "(settings(max_dense_memory=...)); fit a subset of the data, or use a scalable "
            "engine"
        )


def add_diagonal(K: torch.Tensor, d) -> torch.Tensor:
    """K + d·I without forming I (differentiable in K and d).

    Parameters
    ----------
    K : torch.Tensor
        ``(n, n)`` matrix (not modified).
    d : float or torch.Tensor
        Scalar or ``(n,)`` diagonal.

    Returns
    -------
    torch.Tensor
        ``(n, n)`` copy with d added to the diagonal.
    """
    out = K.clone()
    out.diagonal().add_(d)
    return out


def _tri(L, B):
    return torch.linalg.solve_triangular(L, B, upper=False)


def _gls(Lx: torch.Tensor, Ly: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """β̂ = (XᵀΣ⁻¹X)⁻¹ XᵀΣ⁻¹ȳ from the whitened design ``Lx (n, p)`` and data ``Ly (n, r)``;
    also returns A = XᵀΣ⁻¹X."""
    A = Lx.T @ Lx
    return torch.linalg.solve(A, Lx.T @ Ly.mean(1)), A


def _profile_terms(L: torch.Tensor, Y: torch.Tensor, X: torch.Tensor | None):
    """Whitened residuals ``(n, r)`` after GLS on ``X`` (if any) and β̂ (or None)."""
    Ly = _tri(L, Y.T)
    if X is None or X.shape[1] == 0:
        return Ly, None
    Lx = _tri(L, X)
    beta, _ = _gls(Lx, Ly)
    return Ly - (Lx @ beta)[:, None], beta


def _loglik_from(L, resid, r):
    n = L.shape[0]
    logdet = 2.0 * torch.log(L.diagonal()).sum()
    return -0.5 * (resid * resid).sum() - 0.5 * r * (logdet + n * math.log(2.0 * math.pi))


def _grad_sigma(L, resid, r):
    """∂ℓ/∂Σ = ½ (Σ_k α_k α_kᵀ − r Σ⁻¹),  α_k = Σ⁻¹ (y_k − X β̂)  (envelope theorem for β̂).

    Returns ∂ℓ/∂Σ, α ``(n, r)`` and Σ⁻¹.
    """
    alpha = torch.linalg.solve_triangular(L.T, resid, upper=True)  # (n, r)
    Sinv = torch.cholesky_inverse(L)
    return torch.addmm(Sinv, alpha, alpha.T, beta=-0.5 * r, alpha=0.5), alpha, Sinv


class _SigmaGrad(torch.autograd.Function):
    """G(Σ) = ∂ℓ/∂Σ = ½(Σ_k α_k α_kᵀ − rΣ⁻¹) with a closed-form backward (Hessian products).

    With α_k = Σ⁻¹(y_k − Xβ̂), β̂ = A⁻¹XᵀΣ⁻¹ȳ, A = XᵀΣ⁻¹X, a perturbation dΣ moves

        dα_k = −Σ⁻¹ dΣ α_k + Σ⁻¹X A⁻¹ XᵀΣ⁻¹ dΣ ᾱ,     d(Σ⁻¹) = −Σ⁻¹ dΣ Σ⁻¹,

    so for an upstream V (symmetrised) the adjoint is sym(−Σ_k Σ⁻¹Vα_k α_kᵀ
    + Σ⁻¹X A⁻¹ XᵀΣ⁻¹(Σ_k Vα_k) ᾱᵀ + ½ r Σ⁻¹VΣ⁻¹): two n³ products, against the
    differentiation of a Cholesky factorisation. Exact to second order (no third derivatives).
    """

    @staticmethod
    def forward(ctx, S, L, resid, X):
        G, alpha, Sinv = _grad_sigma(L, resid, resid.shape[1])
        ctx.save_for_backward(Sinv, alpha, X)
        ctx.r = resid.shape[1]
        return G

    @staticmethod
    def backward(ctx, V):
        Sinv, alpha, X = ctx.saved_tensors
        X = X if X.shape[1] else None
        V = 0.5 * (V + V.T)
        W = V @ alpha  # (n, r)
        adj = -(Sinv @ W) @ alpha.T
        if X is not None:
            Xs = Sinv @ X  # (n, p)
            A = X.T @ Xs
            v = Xs @ torch.linalg.solve(A, Xs.T @ W.sum(1))
            adj = adj + torch.outer(v, alpha.mean(1))
        adj = adj + 0.5 * ctx.r * (Sinv @ V @ Sinv)
        return 0.5 * (adj + adj.T), None, None, None


class _GaussianLogLik(torch.autograd.Function):
    """ℓ(Σ, Y) for ``Σ (n, n)`` (jitter and nugget included), data ``Y (r, n)``, design ``X``.

    The backward pass uses the closed form ∂ℓ/∂Σ = ½(ααᵀ − rΣ⁻¹) (envelope theorem for the
    profiled β̂) with Σ⁻¹ from the Cholesky factor (``cholesky_inverse``: n³ flops in all,
    against ~3n³ for autograd through the factorisation and the triangular solves). When a
    graph of the gradient is requested (Hessians), ∂ℓ/∂Σ comes from :class:`_SigmaGrad`, whose
    own backward is closed-form too; if the data carry a gradient (a mean β given as a
    parameter) the closed form is recomputed from Σ in differentiable operations instead.
    """

    @staticmethod
    def forward(ctx, S, Y, X, L):
        resid, _ = _profile_terms(L, Y, X)
        ctx.save_for_backward(S, Y, X, L, resid)
        return _loglik_from(L, resid, Y.shape[0])

    @staticmethod
    def backward(ctx, grad):
        S, Y, X, L, resid = ctx.saved_tensors
        r = Y.shape[0]
        if torch.is_grad_enabled():
            if not ctx.needs_input_grad[1]:
                gS = _SigmaGrad.apply(S, L, resid, X)
                return grad * gS, None, None, None
            L = torch.linalg.cholesky(S)  # differentiable recomputation from Σ
            resid, _ = _profile_terms(L, Y, X)
        gS, alpha, _ = _grad_sigma(L, resid, r)
        g_y = -grad * alpha.T if ctx.needs_input_grad[1] else None
        return grad * gS, g_y, None, None


class _Factor:
    """Σ = L Lᵀ with the whitened data and design, shared by GLS and prediction."""

    def __init__(self, spec: GaussianSpec, points, y, X):
        check_dense_size(points.shape[0])
        self.L = cholesky(add_diagonal(gram(spec, points), spec.nugget))
        self.Ly = _tri(self.L, y.T)  # (n, r)
        self.r = y.shape[0]
        self.Lx = _tri(self.L, X) if X is not None and X.shape[1] > 0 else None
        self.beta, self.beta_cov = None, None
        if self.Lx is not None:
            if spec.beta is None:
                self.beta, A = _gls(self.Lx, self.Ly)
                self.beta_cov = torch.linalg.inv(A) / self.r
            else:
                self.beta = spec.beta
        self.resid = self.Ly - (self.Lx @ self.beta)[:, None] if self.Lx is not None else self.Ly


class ExactEngine(CovarianceEngine):
    """Dense Cholesky likelihood and kriging: exact, O(n³) time and O(n²) memory.

    Parameters
    ----------
    chunk : int, default 4096
        Number of prediction points handled at once in :meth:`predict`.
    """

    name = "exact"

    def __init__(self, chunk: int = 4096):
        self.chunk = chunk

    def to_spec(self) -> dict:
        """The registry name and options that rebuild this engine.

        Returns
        -------
        dict
            ``{"engine": "exact", "chunk": chunk}``.
        """
        return {"engine": self.name, "chunk": self.chunk}

    def log_likelihood(self, spec, points, y, X):
        """The exact (profile) Gaussian log-likelihood, summed over replicates.

        The gradient with respect to Σ is closed-form (no autograd through the factorisation);
        Hessians are available by autograd.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean.
        points : torch.Tensor
            ``(n, D)`` locations.
        y : torch.Tensor
            ``(r, n)`` observations, r replicates.
        X : torch.Tensor or None
            ``(n, p)`` design.

        Returns
        -------
        torch.Tensor
            0-d log-likelihood.

        Raises
        ------
        ProblemTooLarge
            If the dense matrices do not fit in memory.
        fieldfit.errors.NotPositiveDefinite
            If the covariance is not positive definite even with jitter.
        """
        n = points.shape[0]
        check_dense_size(n)
        S = add_diagonal(gram(spec, points), spec.nugget)
        L, jitter = cholesky_jitter(S.detach())
        S.diagonal().add_(jitter)  # the jitter the factor carries
        if spec.beta is not None:  # a given mean: the residual carries β's gradient
            if X is not None and X.shape[1]:
                y = y - (X @ spec.beta)[None, :]
            X = None
        Xa = X if X is not None and X.shape[1] else torch.zeros(n, 0, dtype=y.dtype)
        return _GaussianLogLik.apply(S, y, Xa, L.detach())

    def gls(self, spec, points, y, X):
        r"""GLS coefficients and their covariance (or the given ``spec.beta`` and None).

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean.
        points : torch.Tensor
            ``(n, D)`` locations.
        y : torch.Tensor
            ``(r, n)`` observations, r replicates.
        X : torch.Tensor or None
            ``(n, p)`` design.

        Returns
        -------
        beta : torch.Tensor or None
            ``(p,)`` coefficients (None without a design).
        cov : torch.Tensor or None
            ``(p, p)`` covariance :math:`(X^\top \Sigma^{-1} X)^{-1} / r` when profiled, else None.

        Raises
        ------
        ProblemTooLarge
            If the dense matrices do not fit in memory.
        fieldfit.errors.NotPositiveDefinite
            If the covariance is not positive definite even with jitter.
        """
        f = _Factor(spec, points, y, X)
        return f.beta, f.beta_cov

    def predict(self, spec, points, y, X, new_points, new_X, noise=True, full_cov=False):
        """Kriging at new points; universal kriging when ``spec.beta`` is None.

        Parameters
        ----------
        spec : GaussianSpec
            Covariance, nugget and mean.
        points : torch.Tensor
            ``(n, D)`` locations.
        y : torch.Tensor
            ``(r, n)`` observations, r replicates.
        X : torch.Tensor or None
            ``(n, p)`` design.
        new_points : torch.Tensor
            ``(m, D)`` prediction locations.
        new_X : torch.Tensor
            ``(m, p)`` design at the prediction locations.
        noise : bool, default True
            Add the nugget τ² to the variances.
        full_cov : bool, default False
            Return the ``(m, m)`` predictive covariance (shared by replicates).

        Returns
        -------
        Prediction
            Means ``(r, m)`` and variances ``(r, m)``, or the ``(m, m)`` covariance with
            ``full_cov``.

        Raises
        ------
        ProblemTooLarge
            If the dense matrices do not fit in memory.
        fieldfit.errors.NotPositiveDefinite
            If the covariance is not positive definite even with jitter.
        """
        f = _Factor(spec, points, y, X)
        profiled = spec.beta is None and f.Lx is not None
        means, variances = [], []
        chunk = new_points.shape[0] if full_cov else self.chunk
        for start in range(0, new_points.shape[0], chunk):
            P0 = new_points[start : start + chunk]
            A = _tri(f.L, spec.kernel(points, P0))  # (n, m)
            mean = A.T @ f.resid  # (m, r)
            if f.Lx is not None:
                X0 = new_X[start : start + chunk]
                mean = mean + (X0 @ f.beta)[:, None]
            if full_cov:
                cov = spec.kernel(P0, P0) - A.T @ A
                if profiled:
                    R = X0 - A.T @ f.Lx
                    cov = cov + R @ f.beta_cov @ R.T
                if noise:
                    cov = cov + spec.nugget * torch.eye(P0.shape[0], dtype=cov.dtype)
                return Prediction(mean.T, cov)
            var = spec.diag(P0) - (A * A).sum(0)
            if profiled:
                R = X0 - A.T @ f.Lx
                var = var + ((R @ f.beta_cov) * R).sum(1)
            if noise:
                var = var + spec.nugget
            means.append(mean.T)
            variances.append(torch.clamp(var, min=0.0).expand(f.r, -1))
        return Prediction(torch.cat(means, 1), torch.cat(variances, 1))
