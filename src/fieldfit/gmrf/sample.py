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
    """Independent N(0, 1) draws, columns being draws.

    Parameters
    ----------
    n : int
        Length of each draw.
    n_samples : int or None
        Number of draws; None for a single ``(n,)`` vector.
    seed : None, int, numpy.random.Generator or torch.Generator, optional
        Source of the standard normals (numpy normals, or torch normals for a torch generator).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` or ``(n, n_samples)``.

    Raises
    ------
    ValueError
        If ``n_samples < 1``.
    """
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
    r"""Draws of :math:`x \sim N(0, Q^{-1})` from a sparse Cholesky factor.

    :math:`x = P^\top L^{-\top} z` with :math:`P Q P^\top = L L^\top`, so
    :math:`\mathrm{Cov}\, x = P^\top (L L^\top)^{-1} P = Q^{-1}` (Rue & Held 2005, alg. 2.4).

    Parameters
    ----------
    factor : CholeskyFactor
        Factor of Q.
    n_samples : int or None, optional
        Number of draws; None for one ``(n,)`` draw.
    seed : None, int, numpy.random.Generator or torch.Generator, optional
        Source of the standard normals (numpy normals, or torch normals for a torch generator).
    z : array_like or None, optional
        ``(n,)`` or ``(n, k)`` standard normals to use instead of drawing them (then
        ``n_samples`` and ``seed`` are ignored).

    Returns
    -------
    torch.Tensor
        ``(n,)`` or ``(n_samples, n)`` float64 draws.

    Raises
    ------
    ValueError
        If ``n_samples < 1``.
    """
    if z is None:
        z = standard_normals(factor.n, n_samples, seed)
    else:
        z = np.asarray(z, dtype=np.float64)
        n_samples = None if z.ndim == 1 else z.shape[1]
    return _draws(factor.unpermute(factor.solve_Lt(z)), n_samples)


class ChebyshevOperator:
    r"""Matrix-free :math:`f(A) z` by a Chebyshev polynomial :math:`p_K(A) z`.

    A is symmetric sparse ``(n, n)`` with spectrum in [a, b], :math:`p_K` the degree-K
    Chebyshev interpolant of f on [a, b] (Hale, Higham & Trefethen 2008; Pereira & Desassis
    2019):

    .. math::

        p_K(\lambda) = \frac{c_0}{2} + \sum_{k=1}^K c_k T_k(t), \quad
        t = \frac{2\lambda - a - b}{b - a}, \qquad
        T_{k+1}(Y)z = 2Y T_k(Y)z - T_{k-1}(Y)z, \quad Y = \frac{2A - (a + b)I}{b - a},

    K sparse mat-vecs per block of vectors: O(K·nnz), no factorisation.

    Tolerance: K is the smallest degree with
    :math:`\sum_{k>K} |c_k| \le \mathrm{tol} \cdot \min_{[a,b]} |f|`, which bounds the relative
    error :math:`|p_K(\lambda) - f(\lambda)| \le \mathrm{tol}\, |f(\lambda)|` on [a, b]; hence
    for every z, :math:`\|p_K(A)z - f(A)z\| \le \mathrm{tol}\, \|f(A)z\|` when [a, b] contains
    the spectrum. Outside [a, b], :math:`p_K` is worthless (it grows like :math:`\rho^K`), so the
    bounds must be valid, not estimates. Pereira & Desassis apply this to
    :math:`S = \tilde C^{-1/2} G \tilde C^{-1/2}` (spectrum in :math:`[0, \lambda_{\max}]`) with
    :math:`f(\lambda) = (\kappa^2 + \lambda)^{-\alpha/2}`, which needs no lower eigenvalue
    estimate.

    Parameters
    ----------
    A : scipy.sparse matrix
        Square symmetric ``(n, n)`` matrix.
    f : callable
        Vectorised function of λ, finite and non-zero on [a, b].
    lower, upper : float or None, optional
        The interval [a, b]; default the Gershgorin bounds (:func:`gershgorin`).
    tol : float, default 1e-6
        Relative tolerance in (0, 1).
    max_degree : int, default 20000
        Largest degree K allowed.

    Raises
    ------
    ValueError
        If A is not a square sparse matrix, ``tol`` is outside (0, 1), ``lower >= upper``, or
        the degree needed exceeds ``max_degree``.

    References
    ----------
    Hale, N., Higham, N. J. & Trefethen, L. N. (2008). Computing A^α, log(A), and related
    matrix functions by contour integrals. SIAM J. Numer. Anal. 46, 2505–2523.

    Pereira, M. & Desassis, N. (2019). Efficient simulation of Gaussian Markov random fields by
    Chebyshev polynomial approximation. Spatial Statistics 31, 100359.
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
        r""":math:`p_K(A) z \approx f(A) z` by the three-term recurrence.

        Parameters
        ----------
        z : array_like or torch.Tensor
            ``(n,)`` or ``(n, k)`` vectors.

        Returns
        -------
        numpy.ndarray
            Same shape as ``z``.

        Raises
        ------
        ValueError
            If ``z`` does not have n rows.
        """
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
    r"""Draws of :math:`N(0, Q^{-1})` without a factorisation, :math:`x \approx Q^{-1/2} z`.

    A :class:`ChebyshevOperator` with :math:`f(\lambda) = \lambda^{-1/2}` and
    :math:`z \sim N(0, I)` (Pereira & Desassis 2019): the draws are :math:`N(0, p_K(Q)^2)`.
    With relative error ≤ ``tol`` on [a, b], :math:`\|x - Q^{-1/2}z\| \le \mathrm{tol}\,
    \|Q^{-1/2}z\|` and :math:`\mathrm{Cov}\, x` is within a factor
    :math:`1 \pm (2\,\mathrm{tol} + \mathrm{tol}^2)` of :math:`Q^{-1}` in every eigendirection.
    The coefficients decay like :math:`\rho^{-k}`,
    :math:`\rho = (\sqrt b + \sqrt a)/(\sqrt b - \sqrt a)`, so
    :math:`K \approx \tfrac12 \sqrt{b/a}\, \log(1/\mathrm{tol})`.

    Parameters
    ----------
    Q : scipy.sparse matrix or tuple
        The precision, or ``(pattern, values)`` with :math:`Q = (V + V^\top)/2`.
    tol : float, default 1e-6
        Relative tolerance in (0, 1).
    lower : float or "lanczos" or None, optional
        A known bound on :math:`\lambda_{\min}` (e.g. :math:`\tau^2\kappa^4 \min_i \tilde C_{ii}`
        for the α = 2 Matérn SPDE precision, or :math:`\kappa^2 \min_i \tilde C_{ii}` for α = 1).
        None: the Gershgorin lower bound :math:`\min_i (Q_{ii} - \sum_{j \ne i} |Q_{ij}|)`, when
        it is positive (Q diagonally dominant). ``"lanczos"``: :func:`lanczos_min` times
        ``safety``, a heuristic, slow and unreliable for badly conditioned Q (an estimate above
        :math:`\lambda_{\min}` ruins the draws), to be used only without a bound.
    upper : float or None, optional
        Upper spectral bound; default Gershgorin's.
    safety : float, default 0.5
        Factor in (0, 1] applied to the Lanczos estimate.
    max_degree : int, default 20000
        Largest degree allowed.
    seed : optional
        Seed of the Lanczos start vector.

    Raises
    ------
    ValueError
        If Q is malformed, no positive lower bound is available or given, ``lower`` is an
        unknown string, ``safety`` is out of range, or the degree exceeds ``max_degree``.
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
        r"""Draw from :math:`N(0, p_K(Q)^2) \approx N(0, Q^{-1})`.

        Parameters
        ----------
        n_samples : int or None, optional
            Number of draws; None for one ``(n,)`` draw.
        seed : None, int, numpy.random.Generator or torch.Generator, optional
            Source of the standard normals (numpy normals, or torch normals for a torch generator).

        Returns
        -------
        torch.Tensor
            ``(n,)`` or ``(n_samples, n)`` float64 draws.
        """
        return _draws(self.apply(standard_normals(self.n, n_samples, seed)), n_samples)


def _inverse_sqrt(lam):
    return lam ** -0.5


def gershgorin(A) -> tuple[float, float]:
    r"""Gershgorin bounds on the eigenvalues of a symmetric matrix.

    Parameters
    ----------
    A : scipy.sparse matrix or array_like
        Square matrix.

    Returns
    -------
    lower : float
        :math:`\min_i (A_{ii} - \sum_{j \ne i} |A_{ij}|)`.
    upper : float
        :math:`\max_i (A_{ii} + \sum_{j \ne i} |A_{ij}|)`.
    """
    A = sp.csr_matrix(A)
    diag = A.diagonal()
    off = np.asarray(abs(A).sum(axis=1)).ravel() - np.abs(diag)
    return float(np.min(diag - off)), float(np.max(diag + off))


def lanczos_min(A, rtol: float = 1e-4, max_iter: int = 5_000, seed=None) -> float:
    r"""Estimate the smallest eigenvalue by the smallest Ritz value of a Lanczos run.

    No reorthogonalisation (ghosts do not move the extreme Ritz values); the run stops when the
    value changes by less than ``rtol`` relative over the last stretch of iterations. Ritz
    values approach :math:`\lambda_{\min}` from above: an estimate, not a bound; convergence
    takes O(√cond) iterations and slows down in clusters.

    Parameters
    ----------
    A : scipy.sparse matrix
        Symmetric ``(n, n)`` matrix.
    rtol : float, default 1e-4
        Relative change that ends the run.
    max_iter : int, default 5000
        Largest number of iterations.
    seed : optional
        Seed of the random start vector (0 when None).

    Returns
    -------
    float
        The estimate.

    Raises
    ------
    ValueError
        If the estimate has not settled after ``max_iter`` iterations.
    """
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
    r"""Chebyshev coefficients of f on [a, b]: :math:`p = c_0/2 + \sum_{k=1}^K c_k T_k`.

    K is the smallest degree with :math:`\sum_{k>K} |c_k| \le \mathrm{tol} \cdot \min |f|`
    (relative error ≤ tol on [a, b]). The interpolant is computed at N Chebyshev points (a
    DCT), N doubled until its last half of coefficients is at rounding level, so that aliasing
    does not matter.

    Parameters
    ----------
    f : callable
        Vectorised function of λ.
    a, b : float
        Interval, a < b.
    tol : float, default 1e-6
        Relative tolerance.
    max_degree : int, default 20000
        Largest degree allowed.

    Returns
    -------
    numpy.ndarray
        ``(K+1,)`` coefficients.

    Raises
    ------
    ValueError
        If a ≥ b, f is not finite or vanishes on [a, b], or the degree needed exceeds
        ``max_degree``.
    """
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
    r""":func:`chebyshev_coefficients` of :math:`\lambda^{-1/2}` on [a, b], 0 < a.

    Parameters
    ----------
    a, b : float
        Interval, 0 < a < b.
    tol : float, default 1e-6
        Relative tolerance.
    max_degree : int, default 20000
        Largest degree allowed.

    Returns
    -------
    numpy.ndarray
        ``(K+1,)`` coefficients.

    Raises
    ------
    ValueError
        Unless 0 < a < b, or if the degree needed exceeds ``max_degree``.
    """
    if not 0 < a < b:
        raise ValueError(f"need 0 < a < b, got [{a}, {b}]")
    return chebyshev_coefficients(_inverse_sqrt, a, b, tol, max_degree)
