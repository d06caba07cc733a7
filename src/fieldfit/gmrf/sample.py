"""Draws of x ~ N(0, Q⁻¹): by the Cholesky factor, or matrix-free by Chebyshev polynomials.

Randomness comes in through ``seed``: None, an int or a ``numpy.random.Generator`` (numpy
normals), or a ``torch.Generator`` (torch normals); the same seed gives the same draws. Draws
are torch float64, ``(n,)`` for one and ``(n_samples, n)`` for several.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from .cholesky import CholeskyFactor
from .pattern import Pattern


def standard_normals(n: int, n_samples: int | None, seed=None) -> np.ndarray:
    """z ``(n,)`` or ``(n, n_samples)`` of independent N(0, 1) (columns are draws)."""
    k = 1 if n_samples is None else int(n_samples)
    if k < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples}")
    if isinstance(seed, torch.Generator):
        z = torch.randn(k, n, generator=seed, dtype=torch.float64).numpy().T
    else:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        z = rng.standard_normal((k, n)).T
    z = np.ascontiguousarray(z)
    return z[:, 0] if n_samples is None else z


def _draws(x: np.ndarray, n_samples: int | None) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x if n_samples is None else x.T))


def sample_cholesky(factor: CholeskyFactor, n_samples: int | None = None, seed=None,
                    z=None) -> torch.Tensor:
    """x = Pᵀ L⁻ᵀ z with PQPᵀ = LLᵀ, so Cov x = Pᵀ(LLᵀ)⁻¹P = Q⁻¹ (Rue & Held 2005, alg. 2.4).

    ``z`` (optional) ``(n,)`` or ``(n, k)`` standard normals to use instead of drawing them;
    returns ``(n,)`` or ``(n_samples, n)``.
    """
    if z is None:
        z = standard_normals(factor.n, n_samples, seed)
    else:
        z = np.asarray(z, dtype=np.float64)
        n_samples = None if z.ndim == 1 else z.shape[1]
    return _draws(factor.unpermute(factor.solve_Lt(z)), n_samples)


class ChebyshevSampler:
    """x = p_K(Q) z ≈ Q^{−1/2} z, p_K the degree-K Chebyshev interpolant of f(λ) = λ^{−1/2} on
    an interval [a, b] containing the spectrum of Q (Pereira & Desassis 2019; Hale, Higham &
    Trefethen 2008):

        p_K(λ) = c₀/2 + Σ_{k=1..K} c_k T_k(t),  t = (2λ − a − b)/(b − a),
        T_{k+1}(Y)z = 2Y T_k(Y)z − T_{k−1}(Y)z,  Y = (2Q − (a + b)I)/(b − a),

    K sparse mat-vecs per block of draws: O(K·nnz), no factorisation.

    Tolerance: K is the smallest degree with √b Σ_{k>K} |c_k| ≤ ``tol``, which bounds the
    relative error max_{λ∈[a,b]} |p_K(λ) − f(λ)| / f(λ) ≤ tol. Hence for every z,
    ‖p_K(Q)z − Q^{−1/2}z‖ ≤ tol ‖Q^{−1/2}z‖, and Cov x = p_K(Q)² is within a factor 1 ± (2 tol
    + tol²) of Q⁻¹ in every eigendirection. The coefficients decay like ρ^{−k},
    ρ = (√b + √a)/(√b − √a), so K ≈ ½ √(b/a) log(1/tol).

    Bounds: ``b`` by Gershgorin (max_i Σ_j |Q_ij|) unless given; ``a`` given, or the Gershgorin
    lower bound min_i (Q_ii − Σ_{j≠i} |Q_ij|) when positive (diagonally dominant Q), or else
    estimated by Lanczos (``eigsh``, smallest eigenvalue θ with residual r) as
    ``safety`` · (θ − ‖r‖). An estimate that overshoots λ_min is harmful (p_K diverges fast
    outside [a, b]), hence the safety factor; pass a known bound when there is one.

    ``Q`` a scipy sparse matrix, or ``(pattern, values)``.
    """

    def __init__(self, Q, tol: float = 1e-6, lower: float | None = None,
                 upper: float | None = None, safety: float = 0.9, max_degree: int = 20_000,
                 seed=None):
        if isinstance(Q, tuple):
            pattern, values = Q
            if not isinstance(pattern, Pattern):
                raise ValueError("Q as a tuple must be (Pattern, values)")
            v = values.detach().numpy() if isinstance(values, torch.Tensor) else values
            v = np.asarray(v, dtype=np.float64)
            Q = pattern.to_scipy(0.5 * (v + v[pattern.transpose]))
        if not sp.issparse(Q) or Q.shape[0] != Q.shape[1]:
            raise ValueError("Q must be a square scipy sparse matrix or (pattern, values)")
        if not 0 < tol < 1:
            raise ValueError(f"tol must lie in (0, 1), got {tol}")
        if not 0 < safety <= 1:
            raise ValueError(f"safety must lie in (0, 1], got {safety}")
        self.Q = sp.csr_matrix(Q, dtype=np.float64)
        self.n = self.Q.shape[0]
        self.tol = float(tol)
        absQ = abs(self.Q)
        diag = self.Q.diagonal()
        offsum = np.asarray(absQ.sum(axis=1)).ravel() - np.abs(diag)
        if upper is None:
            upper = float(np.max(diag + offsum))
        if lower is None:
            gersh = float(np.min(diag - offsum))
            lower = gersh if gersh > 0 else safety * self._lanczos_lower(seed)
        if not 0 < lower < upper:
            raise ValueError(f"eigenvalue bounds must satisfy 0 < lower < upper, got "
                             f"[{lower}, {upper}] (is Q positive definite?)")
        self.lower, self.upper = float(lower), float(upper)
        self.coef = chebyshev_inverse_sqrt(self.lower, self.upper, self.tol, max_degree)
        self.degree = self.coef.shape[0] - 1

    def _lanczos_lower(self, seed) -> float:
        v0 = np.random.default_rng(0 if seed is None else seed).standard_normal(self.n)
        try:
            theta, vec = spla.eigsh(self.Q, k=1, which="SA", tol=1e-6, v0=v0,
                                    maxiter=max(1000, 10 * self.n))
        except spla.ArpackNoConvergence as e:
            raise ValueError("Lanczos did not find the smallest eigenvalue of Q; pass a lower "
                             "bound (lower=...)") from e
        theta = float(theta[0])
        resid = float(np.linalg.norm(self.Q @ vec[:, 0] - theta * vec[:, 0]))
        if not theta - resid > 0:
            raise ValueError(f"Q does not look positive definite: smallest eigenvalue "
                             f"estimate {theta:.3g} ± {resid:.2g}")
        return theta - resid

    def apply(self, z) -> np.ndarray:
        """p_K(Q) z ≈ Q^{−1/2} z for z ``(n,)`` or ``(n, k)`` (numpy)."""
        z = np.asarray(z.detach().numpy() if isinstance(z, torch.Tensor) else z,
                       dtype=np.float64)
        if z.ndim not in (1, 2) or z.shape[0] != self.n:
            raise ValueError(f"z of shape {z.shape}, expected ({self.n},) or ({self.n}, k)")
        a, b = self.lower, self.upper
        alpha, beta = 2.0 / (b - a), -(a + b) / (b - a)  # Y = αQ + βI
        c = self.coef
        t_prev = z
        t_cur = alpha * (self.Q @ z) + beta * z
        out = 0.5 * c[0] * t_prev + c[1] * t_cur
        for k in range(2, c.shape[0]):
            t_next = 2.0 * (alpha * (self.Q @ t_cur) + beta * t_cur) - t_prev
            out += c[k] * t_next
            t_prev, t_cur = t_cur, t_next
        return out

    def sample(self, n_samples: int | None = None, seed=None) -> torch.Tensor:
        """Draws of N(0, p_K(Q)²) ≈ N(0, Q⁻¹): ``(n,)``, or ``(n_samples, n)``."""
        return _draws(self.apply(standard_normals(self.n, n_samples, seed)), n_samples)


def chebyshev_inverse_sqrt(a: float, b: float, tol: float = 1e-6,
                           max_degree: int = 20_000) -> np.ndarray:
    """Chebyshev coefficients c₀..c_K ``(K+1,)`` of λ^{−1/2} on [a, b] (p = c₀/2 + Σ c_k T_k),
    K the smallest degree with √b Σ_{k>K}|c_k| ≤ tol (relative error ≤ tol on [a, b])."""
    if not 0 < a < b:
        raise ValueError(f"need 0 < a < b, got [{a}, {b}]")
    rho = (math.sqrt(b) + math.sqrt(a)) / (math.sqrt(b) - math.sqrt(a))
    # interpolate at N points where ρ^{−N} is far below rounding, so aliasing is negligible
    N = int(min(max(64, math.ceil(40.0 / math.log(rho)) + 16), 8 * max_degree))
    j = np.arange(N)
    lam = 0.5 * (a + b) + 0.5 * (b - a) * np.cos(np.pi * (j + 0.5) / N)
    c = scipy.fft.dct(lam ** -0.5, type=2) / N
    tail = np.cumsum(np.abs(c)[::-1])[::-1]  # tail[k] = Σ_{i≥k} |c_i|
    ok = np.flatnonzero(math.sqrt(b) * np.append(tail[1:], 0.0) <= tol)
    K = int(ok[0]) if ok.size else N
    if K > max_degree:
        raise ValueError(f"Chebyshev degree {K} > max_degree={max_degree} needed for tol={tol} "
                         f"on [{a:.3g}, {b:.3g}] (condition {b / a:.3g}); raise max_degree or "
                         "tol, or factorise instead")
    return c[:max(K, 1) + 1].copy()
