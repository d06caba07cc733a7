r"""The potential energy that NUTS samples: U(u) and its gradient in one evaluation.

.. math::

    U(u) = -\Big[\ell(g(u)) + \sum_i \log p_i(g_i(u_i)) + \sum_i \log |g_i'(u_i)|\Big]

on the unconstrained vector u of the free parameters (:mod:`fieldfit.fit.mcmc`); +∞ where a
numerical failure makes a point infeasible. Also the transforms' log-Jacobian and the
diagonal Laplace approximation that starts the warm-up's metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from ..params import DTYPE, ParamSpace
from ..settings import settings
from .mle import NUMERICAL_FAILURES, feasible, search_box

#: while sampling, a Matérn correlation of any size goes through its cubic-Hermite table
#: (``fieldfit.settings``: matern_table_min = 0) at this step in log-distance: relative error
#: about 3·10⁻⁹ (the error scales as step⁴: 10⁻¹¹ at the default 2.5·10⁻³), far below any
#: Monte-Carlo error, for ~2,000 Bessel nodes per evaluation instead of six Bessel calls per
#: entry (a few times faster with ν free; docs/benchmarks.md)
TABLE_STEP = 1e-2


class Potential:
    """U(u) and ∇U(u) (module docstring) in one evaluation; +∞ and a zero gradient where
    infeasible. The log-likelihood and log-prior of the points evaluated since the last
    :meth:`take` are kept (a draw is one of them)."""

    def __init__(self, model, obs, space: ParamSpace, table_step: float | None = TABLE_STEP):
        self.model, self.obs, self.space = model, obs, space
        # first derivatives only: the three-point ν-stencil of K_ν (half its Bessel calls)
        self.numerics = {"bessel_nu_stencil": 3}
        if table_step is not None:
            self.numerics.update(matern_table_min=0, matern_table_step=float(table_step))
        self.seen: dict[bytes, tuple[float, float]] = {}
        self.evaluations = 0
        self.lo, self.hi = search_box(space)

    def evaluate(self, u_np: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        u = torch.tensor(u_np, dtype=DTYPE, requires_grad=True)
        bad = (math.inf, np.zeros_like(u_np))
        if np.any(u_np < self.lo) or np.any(u_np > self.hi):  # outside a search box
            return bad
        theta = self.space.unpack(u)
        if not feasible(self.space, theta):
            return bad
        try:
            with settings(**self.numerics):
                ll = self.model.log_likelihood(self.obs, theta)
            lp = self.space.log_prior(theta)
            target = ll + lp + log_jacobian(self.space, u)
            (g,) = torch.autograd.grad(target, u, allow_unused=True) if target.requires_grad \
                else (None,)
        except NUMERICAL_FAILURES:
            return bad
        g = torch.zeros_like(u) if g is None else g
        f = -float(target.detach())
        if not (math.isfinite(f) and torch.isfinite(g).all()):
            return bad
        self.seen[u_np.tobytes()] = (float(ll.detach()), float(lp.detach()))
        return f, -g.detach().numpy()

    def take(self, u_np: np.ndarray) -> tuple[float, float]:
        """(ℓ, log prior) at a draw ``u_np``; forgets the other points."""
        key = np.asarray(u_np, dtype=np.float64).tobytes()
        hit = self.seen.get(key)
        if hit is None:
            self.evaluate(np.asarray(u_np, dtype=np.float64))
            hit = self.seen.get(key, (math.nan, math.nan))
        self.seen = {}
        return hit

    def __call__(self, z: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return _Energy.apply(z["u"], self)


class _Energy(torch.autograd.Function):
    """U(u) as a torch function whose backward pass returns the gradient computed forward."""

    @staticmethod
    def forward(ctx, u, potential):
        with torch.enable_grad():
            f, g = potential.evaluate(u.detach().to(DTYPE).numpy().copy())
        ctx.save_for_backward(torch.as_tensor(g, dtype=u.dtype))
        return torch.as_tensor(f, dtype=u.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (g,) = ctx.saved_tensors
        return grad_output * g, None


def log_jacobian(space: ParamSpace, u: torch.Tensor) -> torch.Tensor:
    """The transforms' log-Jacobian, the sum over the free parameters of log abs g_i'(u_i).

    Each term is the transform's ``log_abs_det_jacobian``: u_i for θ = exp(u),
    log(b − a) + log σ(u) + log σ(−u) on (a, b), 0 on the real line.

    Parameters
    ----------
    space : ParamSpace
        The parameters; the free ones in ``space.free_names`` order.
    u : torch.Tensor
        ``(..., k)`` unconstrained values of the k free parameters.

    Returns
    -------
    torch.Tensor
        ``(...)``, differentiable in ``u``.
    """
    terms = [space[name].transform.log_abs_det_jacobian(u[..., j])
             for j, name in enumerate(space.free_names)]
    return sum(terms) if terms else torch.zeros(u.shape[:-1], dtype=DTYPE)


def laplace_variances(space: ParamSpace, u_hat: np.ndarray, se_u: np.ndarray) -> np.ndarray:
    """The posterior variances in u of the diagonal Laplace approximation at the MLE û,
    ``(k,)``: 1 / (1/se_i² + h_i), h_i = −∂²/∂u_i² [log p(θ(u)) + log|J(u)|] at û (the
    prior's and the transform's curvature, at least 0), with 1/se² taken as 1 where the
    standard error is unknown. Where the prior is informative the MLE's variance alone is too
    wide (a normal prior of sd 0.3 on a mean with se 0.38: posterior sd 0.24)."""
    def log_prior(v):
        return space.log_prior(space.unpack(v)) + log_jacobian(space, v)

    try:
        H = torch.autograd.functional.hessian(log_prior, torch.tensor(u_hat, dtype=DTYPE))
        h = np.clip(-np.diag(H.numpy()), 0.0, None)
    except (RuntimeError, ValueError):
        h = np.zeros(len(u_hat))
    h = np.where(np.isfinite(h), h, 0.0)
    info = np.where(np.isfinite(se_u), 1.0 / np.where(np.isfinite(se_u), se_u, 1.0) ** 2, 1.0)
    return 1.0 / (info + h)


__all__ = ["TABLE_STEP", "Potential", "laplace_variances", "log_jacobian"]
