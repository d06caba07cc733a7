"""Differentiable log-determinant, solve and quadratic form of a sparse precision matrix.

The matrix is Q = (V + Vᵀ)/2, V the values ``(nnz,)`` of a fixed :class:`Pattern` (torch
float64, differentiable in whatever built them). Treating every stored entry as a variable,

    ∂ log|Q| / ∂V_ij = Σ_ij,            Σ = Q⁻¹ (selected inverse, on Q's pattern)
    x = Q⁻¹b:   ∂f/∂V_ij = −½ (u_i x_j + u_j x_i),   ∂f/∂b = u,   u = Q⁻¹ ∂f/∂x
    q = bᵀQ⁻¹b: ∂q/∂V_ij = −x_i x_j,                 ∂q/∂b = 2x,  x = Q⁻¹b

(the symmetric part makes every gradient symmetric: grad[k] = grad[transpose[k]]). Moving one
stored entry V_ij by ε moves Q_ij and Q_ji by ε/2; moving both V_ij and V_ji by ε (a symmetric
perturbation, e.g. of a parameter on which both depend) changes log|Q| by 2εΣ_ij, the sum of
the two entries' gradients. A values vector built by differentiable operations from parameters
θ therefore gets d log|Q|/dθ = tr(Q⁻¹ dQ/dθ) from one factorisation and one selected inversion,
whatever the number of parameters.

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
    """A zero-mean Gaussian Markov random field x ~ N(0, Q⁻¹), Q = (V + Vᵀ)/2 on ``pattern``.

    Holds the symbolic Cholesky analysis (:class:`SparseCholesky`); :meth:`factorize` returns a
    :class:`GMRFFactor` through which log|Q|, Q⁻¹b and bᵀQ⁻¹b are differentiable ops. The
    last factorisation is reused when the same values tensor, with the same contents, is
    passed again.
    """

    def __init__(self, pattern, ordering: str = "default", mode: str = "supernodal"):
        self.cholesky = SparseCholesky(pattern, ordering=ordering, mode=mode)
        self.pattern: Pattern = self.cholesky.pattern
        self.n = self.pattern.n
        self._last: GMRFFactor | None = None

    def __repr__(self) -> str:
        return f"GMRF(n={self.n}, nnz={self.pattern.nnz})"

    def factorize(self, values: torch.Tensor) -> GMRFFactor:
        """Factor Q for values ``(nnz,)``; ValueError if Q is not positive definite."""
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
    """One factorisation of Q for a values tensor: differentiable log|Q|, Q⁻¹b, bᵀQ⁻¹b.

    The Cholesky factor and the selected inverse are computed once and shared by all the ops
    (forward and backward) on these values. ``factor`` is the numpy-level
    :class:`CholeskyFactor`.
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
        """log|Q|, a 0-d tensor; gradient Q⁻¹ on the pattern (one selected inversion)."""
        return _LogDet.apply(self.values, self)

    def solve(self, b) -> torch.Tensor:
        """Q⁻¹b for b ``(n,)`` or ``(n, k)``, differentiable in the values and in b."""
        return _Solve.apply(self.values, self._rhs(b), self)

    def quad_form(self, b) -> torch.Tensor:
        """bᵀQ⁻¹b: a 0-d tensor for b ``(n,)``, ``(k,)`` (one per column) for b ``(n, k)``."""
        return _QuadForm.apply(self.values, self._rhs(b), self)

    def inverse_on(self, pattern: Pattern | None = None) -> torch.Tensor:
        """Q⁻¹ on ``pattern`` (default: Q's own) as values ``(nnz,)``; not differentiable."""
        if pattern is None:
            return self._inverse_on_pattern()
        return torch.from_numpy(self.factor.inverse_on(pattern))

    def variances(self) -> torch.Tensor:
        """diag Q⁻¹ ``(n,)``: the marginal variances; not differentiable."""
        return torch.from_numpy(self.factor.variances())

    def sample(self, n_samples: int | None = None, seed=None) -> torch.Tensor:
        """Draws of N(0, Q⁻¹) by the Cholesky factor: ``(n,)``, or ``(n_samples, n)``."""
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
    """log|Q| for values ``(nnz,)`` on ``gmrf.pattern`` (see :class:`GMRFFactor`)."""
    return gmrf.factorize(values).logdet()


def solve(gmrf: GMRF, values: torch.Tensor, b) -> torch.Tensor:
    """Q⁻¹b, b ``(n,)`` or ``(n, k)``."""
    return gmrf.factorize(values).solve(b)


def quad_form(gmrf: GMRF, values: torch.Tensor, b) -> torch.Tensor:
    """bᵀQ⁻¹b (per column of b)."""
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
