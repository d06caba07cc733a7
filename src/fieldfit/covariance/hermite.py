"""exp of a piecewise cubic in log-distance, evaluated fast, differentiable to second order.

    ρ(r) = exp(p_j(s)),   t = log r,  j = ⌊(t − t₀)/Δ⌋,  s = (t − t₀)/Δ − j,
    p_j(s) = c_j0 + s (c_j1 + s (c_j2 + s c_j3))

Used by the Matérn covariance (its table of log ρ). No library evaluates a gathered spline with
gradients in both the abscissa and the coefficients at the speed dense covariance matrices
need, so this module does: a fused, parallel numba kernel computes ρ and dρ/dr in one pass,
and the coefficients' gradient is accumulated by another; when a graph of the backward is
needed (Hessians), the backward is itself a Function whose adjoint (a Hessian-vector
product) is written out in a third kernel.
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
        if t > tmax:  # beyond the table's end: underflow, independent of the table
            rho[i] = 0.0
            drho[i] = 0.0
            idx[i] = -1
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
        if inside:
            pos[i] = s
            drho[i] = e * (c1 + s * (2.0 * c2 + 3.0 * s * c3)) / (step * ri)
        else:  # below the first node: held at the first node's value, marked by pos = -1
            pos[i] = -1.0
            drho[i] = 0.0


@numba.njit(cache=True)
def _coef_grad_kernel(w, idx, pos, nodes):  # pragma: no cover - compiled
    out = np.zeros((nodes, 4))
    for i in range(w.shape[0]):
        wi = w[i]
        if wi == 0.0 or idx[i] < 0:
            continue
        s = max(pos[i], 0.0)
        j = idx[i]
        out[j, 0] += wi
        out[j, 1] += wi * s
        out[j, 2] += wi * s * s
        out[j, 3] += wi * s * s * s
    return out


@numba.njit(parallel=True, cache=True)
def _second_kernel(g, coef, r, rho_, idx, pos, step, Gc, Gr, adj_g, adj_r, a_c):  # pragma: no cover
    """Adjoints of (g_coef, g_r) = backward(g) for upstream (Gc, Gr); see _HermiteGrad."""
    n = r.shape[0]
    for i in numba.prange(n):
        j = idx[i]
        adj_g[i] = 0.0
        adj_r[i] = 0.0
        a_c[i, 0] = 0.0
        a_c[i, 1] = 0.0
        a_c[i, 2] = 0.0
        a_c[i, 3] = 0.0
        if j < 0:
            continue
        ri = r[i]
        inside = pos[i] >= 0.0
        s = pos[i] if inside else 0.0
        c1, c2, c3 = coef[j, 1], coef[j, 2], coef[j, 3]
        rho = rho_[i]
        s2 = s * s
        a = Gc[j, 0] + s * Gc[j, 1] + s2 * Gc[j, 2] + s2 * s * Gc[j, 3]
        w = g[i] * rho
        if not inside:  # ρ = exp(c_j0): depends on the first coefficient only, not on r
            adj_g[i] = rho * a
            a_c[i, 0] = w * a
            continue
        dval = c1 + s * (2.0 * c2 + 3.0 * s * c3)
        d2val = 2.0 * c2 + 6.0 * s * c3
        q = 1.0 / (step * ri)  # ds/dr
        b = Gr[i]
        adj_g[i] = rho * (a + dval * q * b)
        k = w * (a + dval * q * b)
        m = w * q * b
        a_c[i, 0] = k
        a_c[i, 1] = k * s + m
        a_c[i, 2] = k * s2 + m * 2.0 * s
        a_c[i, 3] = k * s2 * s + m * 3.0 * s2
        da = (Gc[j, 1] + 2.0 * s * Gc[j, 2] + 3.0 * s2 * Gc[j, 3]) * q
        adj_r[i] = w * (dval * q * (a + dval * q * b) + da + b * (d2val * q * q - dval * q / ri))


@numba.njit(cache=True)
def _accumulate(a_c, idx, nodes):  # pragma: no cover - compiled
    out = np.zeros((nodes, 4))
    for i in range(idx.shape[0]):
        j = idx[i]
        if j >= 0:
            out[j, 0] += a_c[i, 0]
            out[j, 1] += a_c[i, 1]
            out[j, 2] += a_c[i, 2]
            out[j, 3] += a_c[i, 3]
    return out


def _first_order(g, rho, drho, idx, pos, nodes, need=(True, True)):
    """(g_coef ``(nodes, 4)``, g_r ``(N,)``): the backward of :class:`HermiteExp` for upstream
    g; None for what ``need`` does not ask for."""
    g_coef = g_r = None
    if need[0]:
        w = (g * rho).contiguous().numpy()
        g_coef = torch.from_numpy(_coef_grad_kernel(w, idx, pos, nodes))
    if need[1]:
        g_r = g * drho
    return g_coef, g_r


class _HermiteGrad(torch.autograd.Function):
    """The backward of :class:`HermiteExp` as a function of (g, coef, r), for Hessians:

        g_coef[j] = Σ_{i: j_i = j} g_i ρ_i P(s_i),   g_r,i = g_i ρ_i p_j'(s_i) / (Δ r_i),
        P(s) = (1, s, s², s³),  ρ_i = exp(c_{j_i} · P(s_i)),  ds/dr = 1/(Δ r).

    Its own backward (the Hessian-vector product) is written out by hand in a numba kernel
    (first order in (g, coef, r); no third derivatives).
    """

    @staticmethod
    def forward(ctx, g, coef, r, rho, drho, idx, pos, step):
        ctx.save_for_backward(g, coef, r, rho)
        ctx.idx, ctx.pos, ctx.step = idx, pos, step
        return _first_order(g, rho, drho, idx, pos, coef.shape[0])

    @staticmethod
    def backward(ctx, Gc, Gr):
        g, coef, r, rho = ctx.saved_tensors
        n = r.shape[0]
        Gc = torch.zeros_like(coef) if Gc is None else Gc
        Gr = torch.zeros_like(r) if Gr is None else Gr
        adj_g, adj_r, a_c = np.empty(n), np.empty(n), np.empty((n, 4))
        _second_kernel(g.detach().contiguous().numpy(), coef.detach().contiguous().numpy(),
                       r.detach().contiguous().numpy(), rho.contiguous().numpy(), ctx.idx, ctx.pos,
                       float(ctx.step),
                       Gc.detach().contiguous().numpy(), Gr.detach().contiguous().numpy(),
                       adj_g, adj_r, a_c)
        adj_c = torch.from_numpy(_accumulate(a_c, ctx.idx, coef.shape[0]))
        return (torch.from_numpy(adj_g), adj_c, torch.from_numpy(adj_r),
                None, None, None, None, None)


class HermiteExp(torch.autograd.Function):
    """ρ = exp(p_j(s)) for ``coef (nodes, 4)`` and distances ``r (N,)``.

    r ≤ 0 gives 1; r beyond the last node gives 0; below the first node the first cubic is
    held constant (callers replace those values). Call it as
    ``HermiteExp.apply(coef, r, t0, step)``.
    """

    @staticmethod
    def forward(ctx, coef, r, t0, step):
        """The interpolant at the distances.

        Parameters
        ----------
        ctx : torch.autograd.function.FunctionCtx
            Autograd's context.
        coef : torch.Tensor
            Cubic coefficients ``(nodes, 4)`` per interval of the grid in log-distance.
        r : torch.Tensor
            Distances ``(N,)``.
        t0 : float
            The grid's first node (a log-distance).
        step : float
            The grid's step.

        Returns
        -------
        torch.Tensor
            ρ ``(N,)``.
        """
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
        """The gradients in the coefficients and the distances.

        Parameters
        ----------
        ctx : torch.autograd.function.FunctionCtx
            Autograd's context.
        grad : torch.Tensor
            The upstream gradient ``(N,)``.

        Returns
        -------
        tuple
            Gradients of ``coef`` ``(nodes, 4)`` and ``r`` ``(N,)`` (None where not
            needed), and None for ``t0`` and ``step``.
        """
        coef, r, rho = ctx.saved_tensors
        drho, idx, pos = ctx.fast
        need = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():  # a graph of the gradient is wanted (Hessians)
            g_coef, g_r = _HermiteGrad.apply(grad, coef, r, rho.detach(), drho, idx, pos,
                                              ctx.step)
            return g_coef if need[0] else None, g_r if need[1] else None, None, None
        return (*_first_order(grad, rho, drho, idx, pos, coef.shape[0], need), None, None)
