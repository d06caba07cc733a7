"""The Vecchia conditioning blocks, factorised and differentiated in one fused pass.

A block is the covariance Σ ``(k, k)`` of a point's conditioning set followed by the point,
given by its strict lower triangle (``pairs (P,)``, P = k(k−1)/2, row-major order of
``torch.tril_indices(k, k, −1)``) and its diagonal ``(k,)``, with data and design columns
V ``(k, q)``. Per block the kernel returns the whitened last row and log of the last pivot::

    Σ = L Lᵀ,   Z = (L⁻¹V)_k,   log L_kk ,

and, in the backward pass, with s = Σ⁻¹e_k (L_kk = s_k^{−½}), upstream w = ∂f/∂Z,
g = ∂f/∂log L_kk and t = Σ⁻¹Vw (since ds = −Σ⁻¹ dΣ s)::

    ∂f/∂Σ = sym[(½ L_kk³ sᵀVw + ½ g L_kk²) s sᵀ − L_kk s tᵀ],     ∂f/∂V = L_kk s wᵀ .

Why hand-written: batched torch operations on ``(B, k, k)`` tensors spend most of their time
allocating and streaming temporaries (the factorisation itself is a small part); here each
block stays in cache, O(k³/6) flops forward and O(k²) backward, in parallel over blocks (numba).
A graph of the gradient (Hessians) is built from differentiable torch operations instead.

The per-block steps, :func:`factor_block` and :func:`whiten_last`, are compiled functions that
other kernels call on their own blocks (the pilot likelihoods, :mod:`fieldfit.neural.pilot`).
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=True, nogil=True, inline="always")
def factor_block(L, k, floor):  # pragma: no cover - compiled
    """In place, the lower Cholesky factor (Cholesky–Crout) of a symmetric block (numba).

    The block is the symmetric matrix whose lower triangle is ``L[:k, :k]``. A pivot not above
    ``floor`` fails the factorisation when ``floor`` is 0, and is raised to ``floor`` when it
    is positive.

    Parameters
    ----------
    L : numpy.ndarray
        ``(≥ k, ≥ k)`` array; its lower triangle is overwritten by the factor.
    k : int
        Block size.
    floor : float
        Smallest pivot allowed (0: fail instead).

    Returns
    -------
    bool
        False if the factorisation failed.
    """
    for j in range(k):
        s = L[j, j]
        for t in range(j):
            s -= L[j, t] * L[j, t]
        if not s > floor:
            if floor > 0.0:
                s = floor
            else:
                return False
        d = np.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, k):
            s = L[i, j]
            for t in range(j):
                s -= L[i, t] * L[j, t]
            L[i, j] = s / d
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def whiten_last(L, k, v, y):  # pragma: no cover - compiled
    """:math:`(L^{-1} v)_{k-1}`, the last entry of the forward substitution (numba).

    Parameters
    ----------
    L : numpy.ndarray
        Factor from :func:`factor_block` in ``L[:k, :k]``.
    k : int
        Block size.
    v : numpy.ndarray
        ``(k,)`` right-hand side.
    y : numpy.ndarray
        ``(≥ k,)`` workspace (overwritten).

    Returns
    -------
    float
    """
    for i in range(k):
        s = v[i]
        for t in range(i):
            s -= L[i, t] * y[t]
        y[i] = s / L[i, i]
    return y[k - 1]


@numba.njit(parallel=True, cache=True)
def _forward(pairs, diag, V, L_out, Z, logl, fail):  # pragma: no cover - compiled
    B, k = diag.shape
    q = V.shape[2]
    for b in numba.prange(B):
        L = L_out[b]
        p = 0
        for i in range(k):
            for j in range(i):
                L[i, j] = pairs[b, p]
                p += 1
            L[i, i] = diag[b, i]
        if not factor_block(L, k, 0.0):
            fail[b] = 1
            continue
        y = np.empty(k)
        for c in range(q):  # forward substitution; only the last entry is kept
            Z[b, c] = whiten_last(L, k, V[b, :, c], y)
        logl[b] = np.log(L[k - 1, k - 1])


@numba.njit(parallel=True, cache=True)
def _backward(L_all, V, w, g, g_pairs, g_diag, g_V, need_v):  # pragma: no cover - compiled
    B, k, _ = L_all.shape
    q = V.shape[2]
    for b in numba.prange(B):
        L = L_all[b]
        lkk = L[k - 1, k - 1]
        # s = L⁻ᵀ (e_k / L_kk)
        s = np.zeros(k)
        s[k - 1] = 1.0 / (lkk * lkk)
        for i in range(k - 2, -1, -1):
            acc = 0.0
            for t in range(i + 1, k):
                acc += L[t, i] * s[t]
            s[i] = -acc / L[i, i]
        # Vw, then t = L⁻ᵀ L⁻¹ Vw
        u = np.empty(k)
        svw = 0.0
        for i in range(k):
            acc = 0.0
            for c in range(q):
                acc += V[b, i, c] * w[b, c]
            u[i] = acc
            svw += s[i] * acc
        for i in range(k):
            acc = u[i]
            for t in range(i):
                acc -= L[i, t] * u[t]
            u[i] = acc / L[i, i]
        for i in range(k - 1, -1, -1):
            acc = u[i]
            for t in range(i + 1, k):
                acc -= L[t, i] * u[t]
            u[i] = acc / L[i, i]
        coef = 0.5 * lkk**3 * svw + 0.5 * g[b] * lkk * lkk
        p = 0
        for i in range(k):
            for j in range(i):
                g_pairs[b, p] = 2.0 * coef * s[i] * s[j] - lkk * (s[i] * u[j] + s[j] * u[i])
                p += 1
            g_diag[b, i] = coef * s[i] * s[i] - lkk * s[i] * u[i]
            if need_v:
                for c in range(q):
                    g_V[b, i, c] = lkk * s[i] * w[b, c]


def assemble(pairs: torch.Tensor, diag: torch.Tensor) -> torch.Tensor:
    """The symmetric blocks from their strict lower triangles and diagonals (differentiable).

    Parameters
    ----------
    pairs : torch.Tensor
        ``(B, P)`` strict lower triangles in :func:`tril` order.
    diag : torch.Tensor
        ``(B, k)`` diagonals.

    Returns
    -------
    torch.Tensor
        ``(B, k, k)`` symmetric blocks.
    """
    k = diag.shape[1]
    ii, jj = tril(k)
    S = pairs.new_zeros(pairs.shape[0], k, k)
    S[:, ii, jj] = pairs
    S[:, jj, ii] = pairs
    return S + torch.diag_embed(diag)


_TRIL: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}


def tril(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the strict lower triangle of a k × k matrix (cached).

    Parameters
    ----------
    k : int
        Matrix size.

    Returns
    -------
    tuple of torch.Tensor
        ``(rows (P,), cols (P,))``, P = k(k−1)/2, row-major.
    """
    if k not in _TRIL:
        _TRIL[k] = tuple(torch.tril_indices(k, k, -1))
    return _TRIL[k]


class NotPositiveDefinite(Exception):
    """A block's factorisation failed (the caller retries with more jitter)."""


def plain_rows(pairs, diag, V):
    r"""Whitened last rows and log last pivots by differentiable torch operations.

    The reference, and the differentiable path for Hessians, of :class:`BlockRows`.

    Parameters
    ----------
    pairs : torch.Tensor
        ``(B, P)`` strict lower triangles of the blocks, P = k(k−1)/2, row-major order of
        ``torch.tril_indices(k, k, −1)``.
    diag : torch.Tensor
        ``(B, k)`` diagonals.
    V : torch.Tensor
        ``(B, k, q)`` data and design columns.

    Returns
    -------
    Z : torch.Tensor
        ``(B, q)`` whitened last rows.
    logl : torch.Tensor
        ``(B,)`` :math:`\log L_{kk}`.

    Raises
    ------
    NotPositiveDefinite
        If a block is not positive definite.
    """
    L, info = torch.linalg.cholesky_ex(assemble(pairs, diag))
    if bool((info != 0).any()):
        raise NotPositiveDefinite
    Z = torch.linalg.solve_triangular(L, V, upper=False)[:, -1, :]
    return Z, torch.log(L[:, -1, -1])


class BlockRows(torch.autograd.Function):
    """Whitened last rows and log last pivots of Vecchia blocks, as an autograd function.

    A fused numba forward and the closed-form backward of the module docstring; when a graph of
    the gradient is asked for (Hessians), the backward recomputes with :func:`plain_rows`. Use
    ``BlockRows.apply(pairs, diag, V)``, which returns ``(Z (B, q), log L_kk (B,))``.
    """

    @staticmethod
    def forward(ctx, pairs, diag, V):
        """Factorise the blocks and whiten their last rows (numba, in parallel over blocks).

        Parameters
        ----------
        ctx : torch.autograd.function.FunctionCtx
            Autograd context.
        pairs : torch.Tensor
            ``(B, P)`` strict lower triangles of the blocks, P = k(k−1)/2, row-major order of
            ``torch.tril_indices(k, k, −1)``.
        diag : torch.Tensor
            ``(B, k)`` diagonals.
        V : torch.Tensor
            ``(B, k, q)`` data and design columns.

        Returns
        -------
        Z : torch.Tensor
            ``(B, q)``.
        logl : torch.Tensor
            ``(B,)``.

        Raises
        ------
        NotPositiveDefinite
            If a block is not positive definite.
        """
        B, k = diag.shape
        q = V.shape[2]
        L = np.empty((B, k, k))
        Z = np.empty((B, q))
        logl = np.empty(B)
        fail = np.zeros(B, dtype=np.int8)
        Vn = V.detach().contiguous().numpy()
        _forward(pairs.detach().contiguous().numpy(), diag.detach().contiguous().numpy(), Vn,
                 L, Z, logl, fail)
        if fail.any():
            raise NotPositiveDefinite
        # saved through autograd (not as a ctx attribute) so that activation checkpointing
        # can drop the factors between the passes
        ctx.save_for_backward(pairs, diag, V, torch.from_numpy(L))
        return torch.from_numpy(Z), torch.from_numpy(logl)

    @staticmethod
    def backward(ctx, gZ, glog):
        """Closed-form gradients with respect to ``pairs``, ``diag`` and ``V``.

        Parameters
        ----------
        ctx : torch.autograd.function.FunctionCtx
            Autograd context.
        gZ : torch.Tensor
            ``(B, q)`` upstream gradient of Z.
        glog : torch.Tensor
            ``(B,)`` upstream gradient of log L_kk.

        Returns
        -------
        tuple
            Gradients of ``pairs (B, P)``, ``diag (B, k)`` and ``V (B, k, q)`` (None where not
            needed).
        """
        pairs, diag, V, L = ctx.saved_tensors
        if torch.is_grad_enabled():  # a differentiable backward (the saved inputs carry graphs)
            inputs = [x for x, nd in zip((pairs, diag, V), ctx.needs_input_grad, strict=True)
                      if nd]
            Z, logl = plain_rows(pairs, diag, V)
            out = iter(torch.autograd.grad((Z, logl), inputs, (gZ, glog), create_graph=True,
                                           allow_unused=True))
            return tuple(next(out) if nd else None for nd in ctx.needs_input_grad)
        B, k = diag.shape
        need_v = bool(ctx.needs_input_grad[2])
        g_pairs = np.empty(pairs.shape)
        g_diag = np.empty((B, k))
        g_V = np.empty(V.shape) if need_v else np.empty((1, 1, 1))
        _backward(L.numpy(), V.detach().contiguous().numpy(), gZ.contiguous().numpy(),
                  glog.contiguous().numpy(), g_pairs, g_diag, g_V, need_v)
        return (torch.from_numpy(g_pairs), torch.from_numpy(g_diag),
                torch.from_numpy(g_V) if need_v else None)
