"""Draws of x ~ N(0, Q⁻¹): by the Cholesky factor, or matrix-free by Chebyshev polynomials.

Randomness comes in through ``seed``: None, an int or a ``numpy.random.Generator`` (numpy
normals), or a ``torch.Generator`` (torch normals); the same seed gives the same draws. Draws
are torch float64, ``(n,)`` for one and ``(n_samples, n)`` for several.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.sparse as sp
import torch
from scipy.linalg import eigh_tridiagonal

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


class ChebyshevOperator:
    """p_K(A) z ≈ f(A) z for a symmetric sparse A ``(n, n)`` with spectrum in [a, b], p_K the
    degree-K Chebyshev interpolant of f on [a, b] (Hale, Higham & Trefethen 2008; Pereira &
    Desassis 2019):

        p_K(λ) = c₀/2 + Σ_{k=1..K} c_k T_k(t),  t = (2λ − a − b)/(b − a),
        T_{k+1}(Y)z = 2Y T_k(Y)z − T_{k−1}(Y)z,  Y = (2A − (a + b)I)/(b − a),

    K sparse mat-vecs per block of vectors: O(K·nnz), no factorisation.

    Tolerance: K is the smallest degree with Σ_{k>K} |c_k| ≤ ``tol`` · min_{[a,b]} |f|, which
    bounds the relative error |p_K(λ) − f(λ)| ≤ tol |f(λ)| on [a, b]; hence for every z,
    ‖p_K(A)z − f(A)z‖ ≤ tol ‖f(A)z‖ when [a, b] contains the spectrum. Outside [a, b], p_K is
    worthless (it grows like ρ^K), so the bounds must be valid, not estimates.

    ``f`` a vectorised function of λ; ``lower``, ``upper`` the interval (default: Gershgorin
    bounds min_i (A_ii − Σ_{j≠i} |A_ij|) and max_i Σ_j |A_ij|). Pereira & Desassis apply this
    to S = C̃^{−1/2} G C̃^{−1/2} (spectrum in [0, λ_max]) with f(λ) = (κ² + λ)^{−α/2}, which
    needs no lower eigenvalue estimate.
    """

    def __init__(self, A, f, lower: float | None = None, upper: float | None = None,
                 tol: float = 1e-6, max_degree: int = 20_000):
        if not sp.issparse(A) or A.shape[0] != A.shape[1]:
            raise ValueError("A must be a square scipy sparse matrix")
        if not 0 < tol < 1:
            raise ValueError(f"tol must lie in (0, 1), got {tol}")
        self.A = sp.csr_matrix(A, dtype=np.float64)
        self.n = self.A.shape[0]
        self.tol = float(tol)
        lo, hi = gershgorin(self.A)
        self.lower = lo if lower is None else float(lower)
        self.upper = hi if upper is None else float(upper)
        if not self.lower < self.upper:
            raise ValueError(f"eigenvalue bounds must satisfy lower < upper, got "
                             f"[{self.lower}, {self.upper}]")
        self.coef = chebyshev_coefficients(f, self.lower, self.upper, self.tol, max_degree)
        self.degree = self.coef.shape[0] - 1

    def apply(self, z) -> np.ndarray:
        """p_K(A) z ≈ f(A) z for z ``(n,)`` or ``(n, k)`` (numpy)."""
        z = np.asarray(z.detach().numpy() if isinstance(z, torch.Tensor) else z,
                       dtype=np.float64)
        if z.ndim not in (1, 2) or z.shape[0] != self.n:
            raise ValueError(f"z of shape {z.shape}, expected ({self.n},) or ({self.n}, k)")
        a, b = self.lower, self.upper
        alpha, beta = 2.0 / (b - a), -(a + b) / (b - a)  # Y = αA + βI
        c = self.coef
        t_prev = z
        t_cur = alpha * (self.A @ z) + beta * z
        out = 0.5 * c[0] * t_prev + c[1] * t_cur
        for k in range(2, c.shape[0]):
            t_next = 2.0 * (alpha * (self.A @ t_cur) + beta * t_cur) - t_prev
            out += c[k] * t_next
            t_prev, t_cur = t_cur, t_next
        return out


class ChebyshevSampler(ChebyshevOperator):
    """x = p_K(Q) z ≈ Q^{−1/2} z, z ~ N(0, I): draws of N(0, p_K(Q)²) ≈ N(0, Q⁻¹) without a
    factorisation (:class:`ChebyshevOperator` with f(λ) = λ^{−1/2}; Pereira & Desassis 2019).

    With relative error ≤ ``tol`` on [a, b], ‖x − Q^{−1/2}z‖ ≤ tol ‖Q^{−1/2}z‖ and Cov x is
    within a factor 1 ± (2 tol + tol²) of Q⁻¹ in every eigendirection. The coefficients decay
    like ρ^{−k}, ρ = (√b + √a)/(√b − √a), so K ≈ ½ √(b/a) log(1/tol).

    Bounds: ``upper`` by Gershgorin unless given. ``lower`` a known bound on λ_min (e.g.
    τ²κ⁴ min C̃_ii for the α = 2 Matérn SPDE precision, or κ² min C̃_ii for α = 1); by default
    the Gershgorin lower bound min_i (Q_ii − Σ_{j≠i} |Q_ij|), when it is positive (Q
    diagonally dominant); ``lower="lanczos"`` estimates λ_min by Lanczos (:func:`lanczos_min`,
    which converges from above) times ``safety``: a heuristic, slow and unreliable for badly
    conditioned Q (an estimate above λ_min ruins the draws), to be used only without a bound.

    ``Q`` a scipy sparse matrix, or ``(pattern, values)`` (Q = (V + Vᵀ)/2).
    """

    def __init__(self, Q, tol: float = 1e-6, lower: float | str | None = None,
                 upper: float | None = None, safety: float = 0.5, max_degree: int = 20_000,
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
        if lower is None:
            lower = gershgorin(Q)[0]
            if not lower > 0:
                raise ValueError(
                    "Q is not diagonally dominant, so Gershgorin gives no positive lower bound "
                    "on its eigenvalues: pass lower= (a bound on the smallest eigenvalue), or "
                    "lower='lanczos' to estimate it (heuristic)")
        elif isinstance(lower, str):
            if lower != "lanczos":
                raise ValueError(f"lower must be a number, None or 'lanczos', got {lower!r}")
            if not 0 < safety <= 1:
                raise ValueError(f"safety must lie in (0, 1], got {safety}")
            lower = safety * lanczos_min(Q, seed=seed)
        if not float(lower) > 0:
            raise ValueError(f"the lower eigenvalue bound must be positive, got {lower} "
                             "(is Q positive definite?)")
        super().__init__(Q, _inverse_sqrt, lower=lower, upper=upper, tol=tol,
                         max_degree=max_degree)

    def sample(self, n_samples: int | None = None, seed=None) -> torch.Tensor:
        """Draws ``(n,)``, or ``(n_samples, n)``."""
        return _draws(self.apply(standard_normals(self.n, n_samples, seed)), n_samples)


def _inverse_sqrt(lam):
    return lam ** -0.5


def gershgorin(A) -> tuple[float, float]:
    """Bounds (min_i (A_ii − Σ_{j≠i}|A_ij|), max_i (A_ii + Σ_{j≠i}|A_ij|)) on the eigenvalues."""
    A = sp.csr_matrix(A)
    diag = A.diagonal()
    off = np.asarray(abs(A).sum(axis=1)).ravel() - np.abs(diag)
    return float(np.min(diag - off)), float(np.max(diag + off))


def lanczos_min(A, rtol: float = 1e-4, max_iter: int = 5_000, seed=None) -> float:
    """The smallest Ritz value of a Lanczos run on A (no reorthogonalisation; ghosts do not
    move the extreme Ritz values), stopped when it changes by less than ``rtol`` relative over
    the last stretch of iterations. Ritz values approach λ_min from above: an estimate, not a
    bound; convergence takes O(√cond) iterations and slows down in clusters."""
    A = sp.csr_matrix(A, dtype=np.float64)
    n = A.shape[0]
    q = standard_normals(n, None, 0 if seed is None else seed)
    q /= np.linalg.norm(q)
    q_prev = np.zeros(n)
    alphas, betas = np.empty(max_iter), np.empty(max_iter)
    beta, last, check = 0.0, np.inf, 10
    for j in range(max_iter):
        w = A @ q - beta * q_prev
        alpha = float(q @ w)
        w -= alpha * q
        beta = float(np.linalg.norm(w))
        alphas[j], betas[j] = alpha, beta
        if j + 1 == check or beta == 0.0 or j + 1 == max_iter:
            theta = float(eigh_tridiagonal(alphas[:j + 1], betas[:j], eigvals_only=True,
                                           select="i", select_range=(0, 0))[0])
            if last - theta <= rtol * abs(theta) or beta == 0.0:
                return theta
            last, check = theta, check + max(10, check // 10)
        q_prev, q = q, w / beta
    raise ValueError(f"Lanczos did not settle on the smallest eigenvalue in {max_iter} "
                     "iterations; pass a lower bound instead")


def chebyshev_coefficients(f, a: float, b: float, tol: float = 1e-6,
                           max_degree: int = 20_000) -> np.ndarray:
    """Chebyshev coefficients c₀..c_K ``(K+1,)`` of f on [a, b] (p = c₀/2 + Σ c_k T_k), K the
    smallest degree with Σ_{k>K}|c_k| ≤ tol · min |f| (relative error ≤ tol on [a, b]).

    The interpolant is computed at N Chebyshev points (a DCT), N doubled until its last half of
    coefficients is at rounding level, so that aliasing does not matter."""
    if not a < b:
        raise ValueError(f"need a < b, got [{a}, {b}]")
    N = 64
    while True:
        j = np.arange(N)
        lam = 0.5 * (a + b) + 0.5 * (b - a) * np.cos(np.pi * (j + 0.5) / N)
        fx = np.asarray(f(lam), dtype=np.float64)
        if not np.all(np.isfinite(fx)):
            raise ValueError(f"f is not finite on [{a:.3g}, {b:.3g}]")
        c = scipy.fft.dct(fx, type=2) / N
        if np.max(np.abs(c[N // 2:])) <= 1e-15 * np.max(np.abs(c)) or N > 8 * max_degree:
            break
        N *= 2
    fmin = float(np.min(np.abs(fx)))
    if not fmin > 0:
        raise ValueError("f vanishes on the interval: a relative tolerance is meaningless")
    tail = np.append(np.cumsum(np.abs(c)[::-1])[::-1][1:], 0.0)  # tail[k] = Σ_{i>k} |c_i|
    ok = np.flatnonzero(tail <= tol * fmin)
    K = int(ok[0]) if ok.size else N
    if K > max_degree:
        raise ValueError(f"Chebyshev degree {K} > max_degree={max_degree} needed for tol={tol} "
                         f"on [{a:.3g}, {b:.3g}]; raise max_degree or tol, or factorise instead")
    return c[:max(K, 1) + 1].copy()


def chebyshev_inverse_sqrt(a: float, b: float, tol: float = 1e-6,
                           max_degree: int = 20_000) -> np.ndarray:
    """:func:`chebyshev_coefficients` of λ^{−1/2} on [a, b], 0 < a."""
    if not 0 < a < b:
        raise ValueError(f"need 0 < a < b, got [{a}, {b}]")
    return chebyshev_coefficients(_inverse_sqrt, a, b, tol, max_degree)
