r"""Differentiable log-determinant, solve and quadratic form of a sparse precision matrix.

The matrix is Q = (V + Vᵀ)/2, V the values ``(nnz,)`` of a fixed :class:`Pattern` (torch
float64, differentiable in whatever built them). Treating every stored entry as a variable::

    ∂ log|Q| / ∂V_ij = Σ_ij,            Σ = Q⁻¹ (selected inverse, on Q's pattern)
    x = Q⁻¹b:   ∂f/∂V_ij = −½ (u_i x_j + u_j x_i),   ∂f/∂b = u,   u = Q⁻¹ ∂f/∂x
    q = bᵀQ⁻¹b: ∂q/∂V_ij = −x_i x_j,                 ∂q/∂b = 2x,  x = Q⁻¹b

(the symmetric part makes every gradient symmetric: ``grad[k] = grad[transpose[k]]``). Moving
one stored entry :math:`V_{ij}` by ε moves :math:`Q_{ij}` and :math:`Q_{ji}` by ε/2; moving
both :math:`V_{ij}` and :math:`V_{ji}` by ε (a symmetric perturbation, e.g. of a parameter on
which both depend) changes :math:`\log|Q|` by :math:`2\varepsilon\Sigma_{ij}`, the sum of the
two entries' gradients. A values vector built by differentiable operations from parameters θ
therefore gets :math:`d\log|Q|/d\theta = \mathrm{tr}(Q^{-1}\, dQ/d\theta)` from one
factorisation and one selected inversion (Takahashi et al. 1973), whatever the number of
parameters.

Usage::

    gmrf = GMRF(pattern)                 # symbolic analysis, once
    f = gmrf.factorize(values)           # one numeric factorisation per values
    ll = 0.5 * f.logdet() - 0.5 * f.quad_form(b)
    ll.backward()                        # one selected inversion, one extra solve

First derivatives only: the backward passes are not themselves differentiable (Hessians by
differences of gradients).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .cholesky import CholeskyFactor, SparseCholesky
from .pattern import Pattern
from .sample import sample_cholesky


class GMRF:
    r"""A zero-mean GMRF :math:`x \sim N(0, Q^{-1})`, :math:`Q = (V + V^\top)/2` on ``pattern``.

    Holds the symbolic Cholesky analysis (:class:`SparseCholesky`, CHOLMOD) of ``pattern``;
    :meth:`factorize` returns a :class:`GMRFFactor` through which :math:`\log|Q|`,
    :math:`Q^{-1}b` and :math:`b^\top Q^{-1} b` are differentiable ops. The last factorisation is
    reused when the same values tensor, with the same contents, is passed again.

    Parameters
    ----------
    pattern : Pattern or scipy.sparse matrix
        Q's pattern, with its whole diagonal.
    ordering : str, default "default"
        CHOLMOD fill-reducing ordering (see :class:`SparseCholesky`).
    mode : {"supernodal", "simplicial"}, default "supernodal"
        CHOLMOD factorisation mode.

    Raises
    ------
    ValueError
        If the pattern lacks a diagonal entry or the analysis fails.
    """

    def __init__(self, pattern, ordering: str = "default", mode: str = "supernodal"):
        self.cholesky = SparseCholesky(pattern, ordering=ordering, mode=mode)
        self.pattern: Pattern = self.cholesky.pattern
        self.n = self.pattern.n
        self._last: GMRFFactor | None = None

    def __repr__(self) -> str:
        return f"GMRF(n={self.n}, nnz={self.pattern.nnz})"

    def factorize(self, values: torch.Tensor) -> GMRFFactor:
        """Factorise Q for the given values.

        Parameters
        ----------
        values : torch.Tensor or array_like
            ``(nnz,)`` float64 values on the pattern (differentiable).

        Returns
        -------
        GMRFFactor

        Raises
        ------
        ValueError
            If ``values`` has the wrong shape or dtype.
        fieldfit.errors.NumericalFailure
            If a value is not finite.
        fieldfit.errors.NotPositiveDefinite
            If Q is not positive definite.
        """
        if not isinstance(values, torch.Tensor):
            values = torch.as_tensor(np.asarray(values, dtype=np.float64))
        if values.shape != (self.pattern.nnz,):
            raise ValueError(f"values of shape {tuple(values.shape)}, expected "
                             f"({self.pattern.nnz},) (one per stored entry of the pattern)")
        if values.dtype != torch.float64:
            raise ValueError(f"values must be float64, got {values.dtype}")
        last = self._last
        if (last is not None and last.values is values
                and torch.equal(last._snapshot, values.detach())):
            return last
        self._last = GMRFFactor(self, values, self.cholesky.factorize(values))
        return self._last


class GMRFFactor:
    r"""One factorisation of Q for a values tensor, with differentiable ops.

    The ops are :math:`\log|Q|`, :math:`Q^{-1}b` and :math:`b^\top Q^{-1}b`.

    The Cholesky factor and the selected inverse are computed once and shared by all the ops
    (forward and backward) on these values. Made by :meth:`GMRF.factorize`.

    Parameters
    ----------
    gmrf : GMRF
        The owner.
    values : torch.Tensor
        ``(nnz,)`` values that were factorised.
    factor : CholeskyFactor
        The numpy-level factor (kept as ``factor``).
    """

    def __init__(self, gmrf: GMRF, values: torch.Tensor, factor: CholeskyFactor):
        self.gmrf = gmrf
        self.pattern = gmrf.pattern
        self.n = gmrf.n
        self.values = values
        self._snapshot = values.detach().clone()  # to tell in-place changes from reuse
        self.factor = factor
        self._inverse: torch.Tensor | None = None

    def logdet(self) -> torch.Tensor:
        r""":math:`\log|Q|`; its gradient is :math:`Q^{-1}` on the pattern (one selected inversion).

        Returns
        -------
        torch.Tensor
            0-d.
        """
        return _LogDet.apply(self.values, self)

    def solve(self, b) -> torch.Tensor:
        """:math:`Q^{-1} b`, differentiable in the values and in b.

        Parameters
        ----------
        b : array_like or torch.Tensor
            ``(n,)`` or ``(n, k)`` right-hand side(s).

        Returns
        -------
        torch.Tensor
            The shape of ``b``.

        Raises
        ------
        ValueError
            If ``b`` does not have n rows.
        """
        return _Solve.apply(self.values, self._rhs(b), self)

    def quad_form(self, b) -> torch.Tensor:
        r""":math:`b^\top Q^{-1} b`, differentiable in the values and in b.

        Parameters
        ----------
        b : array_like or torch.Tensor
            ``(n,)`` or ``(n, k)`` right-hand side(s).

        Returns
        -------
        torch.Tensor
            0-d for b ``(n,)``; ``(k,)``, one per column, for b ``(n, k)``.

        Raises
        ------
        ValueError
            If ``b`` does not have n rows.
        """
        return _QuadForm.apply(self.values, self._rhs(b), self)

    def inverse_on(self, pattern: Pattern | None = None) -> torch.Tensor:
        """:math:`Q^{-1}` on a pattern, as values; not differentiable.

        Parameters
        ----------
        pattern : Pattern or None, optional
            Target pattern (default: Q's own, cached).

        Returns
        -------
        torch.Tensor
            ``(nnz,)`` values.
        """
        if pattern is None:
            return self._inverse_on_pattern()
        return torch.from_numpy(self.factor.inverse_on(pattern))

    def variances(self) -> torch.Tensor:
        r"""The marginal variances :math:`\mathrm{diag}\, Q^{-1}`; not differentiable.

        Returns
        -------
        torch.Tensor
            ``(n,)``.
        """
        return torch.from_numpy(self.factor.variances())

    def sample(self, n_samples: int | None = None, seed=None) -> torch.Tensor:
        """Draws of :math:`N(0, Q^{-1})` by the Cholesky factor (:func:`sample_cholesky`).

        Parameters
        ----------
        n_samples : int or None, optional
            Number of draws; None for one ``(n,)`` draw.
        seed : None, int, numpy.random.Generator or torch.Generator, optional
            Source of the standard normals.

        Returns
        -------
        torch.Tensor
            ``(n,)`` or ``(n_samples, n)``.
        """
        return sample_cholesky(self.factor, n_samples=n_samples, seed=seed)

    def _inverse_on_pattern(self) -> torch.Tensor:
        if self._inverse is None:
            self._inverse = torch.from_numpy(self.factor.inverse_on())
        return self._inverse

    def _rhs(self, b) -> torch.Tensor:
        b = torch.as_tensor(b, dtype=torch.float64)
        if b.ndim not in (1, 2) or b.shape[0] != self.n:
            raise ValueError(f"right-hand side of shape {tuple(b.shape)}, expected ({self.n},) "
                             f"or ({self.n}, k)")
        return b


def logdet(gmrf: GMRF, values: torch.Tensor) -> torch.Tensor:
    r""":math:`\log|Q|` for values on ``gmrf.pattern`` (see :class:`GMRFFactor`).

    Parameters
    ----------
    gmrf : GMRF
        The GMRF (its pattern and symbolic analysis).
    values : torch.Tensor
        ``(nnz,)`` float64 values of Q on ``gmrf.pattern``.

    Returns
    -------
    torch.Tensor
        0-d, differentiable in ``values``.

    Raises
    ------
    fieldfit.errors.NotPositiveDefinite
        If Q is not positive definite.
    """
    return gmrf.factorize(values).logdet()


def solve(gmrf: GMRF, values: torch.Tensor, b) -> torch.Tensor:
    """:math:`Q^{-1} b`, differentiable in the values and in b.

    Parameters
    ----------
    gmrf : GMRF
        The GMRF (its pattern and symbolic analysis).
    values : torch.Tensor
        ``(nnz,)`` float64 values of Q on ``gmrf.pattern``.
    b : array_like or torch.Tensor
        ``(n,)`` or ``(n, k)`` right-hand side(s).

    Returns
    -------
    torch.Tensor
        The shape of ``b``.

    Raises
    ------
    fieldfit.errors.NotPositiveDefinite
        If Q is not positive definite.
    """
    return gmrf.factorize(values).solve(b)


def quad_form(gmrf: GMRF, values: torch.Tensor, b) -> torch.Tensor:
    r""":math:`b^\top Q^{-1} b` (per column of b), differentiable in the values and in b.

    Parameters
    ----------
    gmrf : GMRF
        The GMRF (its pattern and symbolic analysis).
    values : torch.Tensor
        ``(nnz,)`` float64 values of Q on ``gmrf.pattern``.
    b : array_like or torch.Tensor
        ``(n,)`` or ``(n, k)`` right-hand side(s).

    Returns
    -------
    torch.Tensor
        0-d, or ``(k,)`` for b ``(n, k)``.

    Raises
    ------
    fieldfit.errors.NotPositiveDefinite
        If Q is not positive definite.
    """
    return gmrf.factorize(values).quad_form(b)


def _pairs(handle: GMRFFactor) -> tuple[torch.Tensor, torch.Tensor]:
    p = handle.pattern
    return torch.from_numpy(p.rows), torch.from_numpy(p.cols)


class _LogDet(torch.autograd.Function):
    """log|Q| = 2 Σ log L_ii;  ∂/∂V_ij = Σ_ij (Takahashi et al. 1973)."""

    @staticmethod
    def forward(ctx, values, handle):
        ctx.handle = handle
        return torch.tensor(handle.factor.logdet(), dtype=torch.float64)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        return grad * ctx.handle._inverse_on_pattern(), None


class _Solve(torch.autograd.Function):
    """x = Q⁻¹b;  ∂f/∂V_ij = −½(u_i x_j + u_j x_i),  ∂f/∂b = u,  u = Q⁻¹ ∂f/∂x."""

    @staticmethod
    def forward(ctx, values, b, handle):
        ctx.handle = handle
        x = torch.from_numpy(handle.factor.solve(b.detach().numpy()))
        ctx.save_for_backward(x)
        return x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        handle = ctx.handle
        u = torch.from_numpy(handle.factor.solve(grad.numpy()))
        grad_values = None
        if ctx.needs_input_grad[0]:
            rows, cols = _pairs(handle)
            w = u[rows] * x[cols]
            w = -(w.sum(1) if w.ndim == 2 else w)
            grad_values = 0.5 * (w + w[torch.from_numpy(handle.pattern.transpose)])
        return grad_values, (u if ctx.needs_input_grad[1] else None), None


class _QuadForm(torch.autograd.Function):
    """q = bᵀQ⁻¹b;  ∂q/∂V_ij = −x_i x_j,  ∂q/∂b = 2x,  x = Q⁻¹b."""

    @staticmethod
    def forward(ctx, values, b, handle):
        ctx.handle = handle
        x = torch.from_numpy(handle.factor.solve(b.detach().numpy()))
        ctx.save_for_backward(x)
        return (b.detach() * x).sum(0)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        grad_values = None
        if ctx.needs_input_grad[0]:
            rows, cols = _pairs(ctx.handle)
            w = x[rows] * x[cols]
            grad_values = -(w @ grad if w.ndim == 2 else grad * w)
        grad_b = 2.0 * x * grad if ctx.needs_input_grad[1] else None
        return grad_values, grad_b, None
