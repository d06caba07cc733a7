"""exp of a piecewise cubic in log-distance, evaluated fast, differentiable to second order.

    ρ(r) = exp(p_j(s)),   t = log r,  j = ⌊(t − t₀)/Δ⌋,  s = (t − t₀)/Δ − j,
    p_j(s) = c_j0 + s (c_j1 + s (c_j2 + s c_j3))

Used by the Matérn covariance (its table of log ρ). No library evaluates a gathered spline with
gradients in both the abscissa and the coefficients at the speed dense covariance matrices
need, so this module does: a fused, parallel numba kernel computes ρ and dρ/dr in one pass,
and the coefficients' gradient is accumulated by another; when a graph of the backward is
needed (Hessians) the same operations run as differentiable torch code.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(parallel=True, fastmath=False, cache=True)
def _forward_kernel(coef, r, t0, step, rho, drho, idx, pos):  # pragma: no cover - compiled
    n = r.shape[0]
    last = coef.shape[0] - 1
    tmax = t0 + last * step - 1e-12
    for i in numba.prange(n):
        ri = r[i]
        if ri <= 0.0:  # ρ(0) = 1 does not depend on the table: flagged by idx = -1
            rho[i] = 1.0
            drho[i] = 0.0
            idx[i] = -1
            pos[i] = 0.0
            continue
        t = np.log(ri)
        if t > tmax:  # beyond the table's end: underflow
            rho[i] = 0.0
            drho[i] = 0.0
            idx[i] = 0
            pos[i] = 0.0
            continue
        inside = t0 <= t
        tc = min(max(t, t0), tmax)
        u = (tc - t0) / step
        j = int(np.floor(u))
        s = u - j
        c0, c1, c2, c3 = coef[j, 0], coef[j, 1], coef[j, 2], coef[j, 3]
        val = c0 + s * (c1 + s * (c2 + s * c3))
        e = np.exp(val)
        rho[i] = e
        idx[i] = j
        pos[i] = s
        if inside:
            drho[i] = e * (c1 + s * (2.0 * c2 + 3.0 * s * c3)) / (step * ri)
        else:
            drho[i] = 0.0


@numba.njit(cache=True)
def _coef_grad_kernel(w, idx, pos, nodes):  # pragma: no cover - compiled
    out = np.zeros((nodes, 4))
    for i in range(w.shape[0]):
        wi = w[i]
        if wi == 0.0 or idx[i] < 0:
            continue
        s = pos[i]
        j = idx[i]
        out[j, 0] += wi
        out[j, 1] += wi * s
        out[j, 2] += wi * s * s
        out[j, 3] += wi * s * s * s
    return out


def _torch_locate(r, t0, step, nodes):
    pos = r > 0
    t = torch.log(torch.where(pos, r, torch.ones_like(r)))
    tc = torch.clamp(t, t0, t0 + (nodes - 1) * step - 1e-12)
    u = (tc - t0) / step
    j = torch.floor(u.detach()).long()
    beyond = t > t0 + (nodes - 1) * step - 1e-12
    return j, u - j, pos & (t == tc), beyond


class HermiteExp(torch.autograd.Function):
    """ρ = exp(p_j(s)) for ``coef (nodes, 4)`` and distances ``r (N,)``.

    r ≤ 0 gives 1; r beyond the last node gives 0; below the first node the first cubic is
    held constant (callers replace those values).
    """

    @staticmethod
    def forward(ctx, coef, r, t0, step):
        c = coef.detach().contiguous().numpy()
        rn = r.detach().contiguous().numpy()
        n = rn.shape[0]
        rho, drho = np.empty(n), np.empty(n)
        idx, pos = np.empty(n, dtype=np.int64), np.empty(n)
        _forward_kernel(c, rn, float(t0), float(step), rho, drho, idx, pos)
        out = torch.from_numpy(rho)
        ctx.save_for_backward(coef, r, out)
        ctx.fast = (torch.from_numpy(drho), idx, pos)
        ctx.t0, ctx.step = t0, step
        return out

    @staticmethod
    def backward(ctx, grad):
        coef, r, rho = ctx.saved_tensors
        g_coef = g_r = None
        if not torch.is_grad_enabled():
            drho, idx, pos = ctx.fast
            if ctx.needs_input_grad[0]:
                w = (grad * rho).contiguous().numpy()
                g_coef = torch.from_numpy(_coef_grad_kernel(w, idx, pos, coef.shape[0]))
            if ctx.needs_input_grad[1]:
                g_r = grad * drho
            return g_coef, g_r, None, None
        # differentiable path (create_graph=True): the same formulas in torch operations
        j, s, inside, beyond = _torch_locate(r, ctx.t0, ctx.step, coef.shape[0])
        off = beyond | (r <= 0)  # entries that do not depend on the table
        w = torch.where(off, torch.zeros_like(rho), grad * rho)
        if ctx.needs_input_grad[0]:
            s2 = s * s
            powers = torch.stack([torch.ones_like(s), s, s2, s2 * s], dim=1)
            g_coef = torch.zeros_like(coef).index_add(0, j, w[:, None] * powers)
        if ctx.needs_input_grad[1]:
            c = coef[j]
            dval = c[:, 1] + s * (2 * c[:, 2] + 3 * s * c[:, 3])
            r_safe = torch.where(inside, r, torch.ones_like(r))
            g_r = torch.where(inside, w * dval / (ctx.step * r_safe), torch.zeros_like(r))
        return g_coef, g_r, None, None
