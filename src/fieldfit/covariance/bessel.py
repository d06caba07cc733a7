"""The modified Bessel function of the second kind as a differentiable torch function.

    log K_ν(x),  x > 0, any real ν

scipy evaluates K_ν; torch has no K_ν of real order, and neither offers a derivative in ν.
This module supplies both, to every order (so that autograd Hessians work):

    ∂/∂x log K_ν(x) = −K_{ν−1}(x)/K_ν(x) − ν/x                     (DLMF 10.29.2)
    ∂/∂ν log K_ν(x) : five-point central difference in ν, step δ = 1e-3·max(1, ν)
                      (truncation O(δ⁴) ≈ 1e-12, rounding ≈ 1e-13 relative); with
                      ``settings(bessel_nu_stencil=3)`` at the forward pass, a three-point
                      one, δ = 1e-5·max(1, ν) (truncation ≈ 1e-11, rounding ≈ 1e-9: first
                      derivatives only, half the calls)

Each derivative is written with the function itself, so derivatives of derivatives come out of
autograd. Values come from ``scipy.special.kve`` (exponentially scaled, so large x never
underflows); where K_ν overflows a double (large ν at small x) the upward recurrence
K_{μ+1} = K_{μ−1} + (2μ/x) K_μ is run in log-ratio form from μ = ν − ⌊ν⌋.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.special as sp
import torch

from ..settings import current

LOG2 = math.log(2.0)


def _log_kv_recurrence(nu: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log K_ν(x) by upward recurrence from the fractional order (stable for K)."""
    n = np.floor(nu).astype(np.int64)
    f = nu - n
    with np.errstate(all="ignore"):
        lk0 = np.log(sp.kve(f, x)) - x
        lk1 = np.log(sp.kve(f + 1.0, x)) - x
    ratio = np.exp(lk1 - lk0)  # K_{f+1}/K_f
    acc = np.where(n >= 1, lk1, lk0)
    for k in range(1, int(n.max(initial=0))):
        active = n > k
        ratio = np.where(active, 1.0 / ratio + 2.0 * (f + k) / x, ratio)
        acc = np.where(active, acc + np.log(ratio), acc)
    return acc


def log_kv_numpy(nu, x) -> np.ndarray:
    """:math:`\\log K_\\nu(x)` in NumPy, overflow-free.

    Parameters
    ----------
    nu : array_like
        Orders (their absolute values are used: :math:`K_{-\\nu} = K_\\nu`).
    x : array_like
        Arguments :math:`x > 0`, broadcast with ``nu``.

    Returns
    -------
    numpy.ndarray
        float64, the broadcast shape.
    """
    x = np.asarray(x, dtype=np.float64)
    nu = np.abs(np.broadcast_to(np.asarray(nu, dtype=np.float64), x.shape))
    x = np.broadcast_to(x, nu.shape)
    with np.errstate(all="ignore"):
        out = np.log(sp.kve(nu, x)) - x
    bad = ~np.isfinite(out) & (x > 0)
    if bad.any():
        out = np.array(out)
        out[bad] = _log_kv_recurrence(nu[bad], x[bad])
    return out


def _nu_step(nu: torch.Tensor) -> torch.Tensor:
    return 1e-3 * torch.clamp(nu.detach().abs(), min=1.0)


def _sum_to(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if t.shape == like.shape:
        return t
    if like.dim() == 0:
        return t.sum()
    return t.sum_to_size(like.shape)


class _LogBesselK(torch.autograd.Function):
    @staticmethod
    def forward(ctx, nu, x):
        out = torch.from_numpy(
            np.ascontiguousarray(log_kv_numpy(nu.detach().cpu().numpy(), x.detach().cpu().numpy()))
        ).to(dtype=x.dtype, device=x.device)
        ctx.save_for_backward(nu, x, out)
        ctx.stencil = current().bessel_nu_stencil
        return out

    @staticmethod
    def backward(ctx, grad):
        nu, x, out = ctx.saved_tensors
        g_nu = g_x = None
        if ctx.needs_input_grad[1]:
            d_x = -torch.exp(log_bessel_k(nu - 1.0, x) - out) - nu / x
            g_x = _sum_to(grad * d_x, x)
        if ctx.needs_input_grad[0]:
            if ctx.stencil == 3:
                d = 1e-2 * _nu_step(nu)
                d_nu = (log_bessel_k(nu + d, x) - log_bessel_k(nu - d, x)) / (2 * d)
            else:
                d = _nu_step(nu)
                d_nu = (
                    -log_bessel_k(nu + 2 * d, x)
                    + 8 * log_bessel_k(nu + d, x)
                    - 8 * log_bessel_k(nu - d, x)
                    + log_bessel_k(nu - 2 * d, x)
                ) / (12 * d)
            g_nu = _sum_to(grad * d_nu, nu)
        return g_nu, g_x


def log_bessel_k(nu, x: torch.Tensor) -> torch.Tensor:
    """:math:`\\log K_\\nu(x)` as a torch function, differentiable in ν and x to any order.

    Parameters
    ----------
    nu : float or torch.Tensor
        The order (a tensor broadcast with ``x``, where gradients flow).
    x : torch.Tensor
        Arguments :math:`x > 0`, any shape.

    Returns
    -------
    torch.Tensor
        The shape of ``x`` (broadcast with ``nu``).
    """
    nu = torch.as_tensor(nu, dtype=x.dtype, device=x.device)
    return _LogBesselK.apply(nu, x)
