r"""The rational approximation of a fractional SPDE order: coefficients, differentiable in β.

For the order :math:`\alpha = n + \beta` (n an integer, :math:`0 \le \beta < 1`) of
:math:`(\kappa^2 - \Delta)^{\alpha}`, with :math:`x = \kappa^2 / (\kappa^2 + |\omega|^2)` the
inverse of the scaled operator's symbol,

.. math::

    x^{\beta} \approx r(x) = k + \sum_{j=1}^{m} a_j \frac{x}{x + b_j},
    \qquad k, a_j, b_j > 0,

so that :math:`\tilde L^{-\alpha} \approx \tilde L^{-n}\bigl(k I + \sum_j a_j (I + b_j
\tilde L)^{-1}\bigr)`, :math:`\tilde L = \kappa^{-2}(\kappa^2 - \Delta)`: a sum of m + 1
independent fields of integer order, each a GMRF (Bolin & Kirchner 2020; the
covariance-based form of Xiong, Simas & Bolin 2022, rSPDE).

The coefficients minimise the L1 norm of the spectral density's relative error in d
dimensions,

.. math::

    \int_{\mathbb{R}^d} x^n \lvert r(x) - x^\beta \rvert \, d\omega \Big/
    \int_{\mathbb{R}^d} x^{n+\beta} \, d\omega,

which bounds the covariance's relative error at every lag (rSPDE tabulates BRASIL's best
uniform approximation on an interval instead; measured here, the L1 fit's covariance error at
m = 2 is several times smaller for ν ≥ 0.7, docs/benchmarks.md). They are tabulated on a grid
of β for each (d, n, m) by ``scripts/make_rational_table.py`` (shipped in
``spde/_data/rational_matern.npz``) and interpolated in β by monotone cubic Hermite pieces
(PCHIP) of k, a_j and log b_j, so they are continuously differentiable in β and so in the
smoothness ν = α − d/2. At β = 0 the approximation is exact (k = 1, a = 0).

References
----------
Bolin, D. & Kirchner, K. (2020). The rational SPDE approach for Gaussian random fields with
general smoothness. JCGS 29, 274–285.

Xiong, Z., Simas, A. B. & Bolin, D. (2022). Covariance-based rational approximations of
fractional SPDEs for computationally efficient Bayesian inference. arXiv:2209.04670.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

TABLE = Path(__file__).parent / "_data" / "rational_matern.npz"
#: the approximation orders tabulated
ORDERS = (1, 2, 3, 4)
#: the largest fractional part β tabulated: an order closer to the next integer is that
#: integer's band's β = 0 (exact)
BETA_MAX = 0.99


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    with np.load(TABLE) as t:
        return {k: t[k] for k in t.files}


def tabulated_cases() -> list[tuple[int, int]]:
    """The (dimension d, integer part n) pairs tabulated.

    Returns
    -------
    list of (int, int)
    """
    return [tuple(int(v) for v in c) for c in _table()["cases"]]


class _Pchip:
    """Monotone cubic Hermite interpolation of the columns of ``y`` over the knots ``x``,
    evaluated in torch (differentiable in the abscissa)."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        from scipy.interpolate import PchipInterpolator

        spline = PchipInterpolator(x, y, axis=0)
        self.knots = torch.as_tensor(x, dtype=torch.float64)
        self.coef = torch.as_tensor(spline.c, dtype=torch.float64)  # (4, intervals, columns)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        i = torch.clamp(torch.searchsorted(self.knots, t.detach().reshape(1), right=True) - 1,
                        0, len(self.knots) - 2)[0]
        s = t - self.knots[i]
        c = self.coef[:, i]
        return ((c[0] * s + c[1]) * s + c[2]) * s + c[3]


@functools.cache
def _interpolant(d: int, n: int, m: int) -> _Pchip:
    t = _table()
    key = f"d{d}_n{n}_m{m}"
    if key not in t:
        raise ValueError(f"no rational coefficients for d = {d}, n = {n}, m = {m}: tabulated "
                         f"are (d, n) in {tabulated_cases()} and m in {ORDERS}")
    z = t[key].copy()                       # rows: log k, log a_j, log b_j
    z[0, 1 + m:] = 2 * z[1, 1 + m:] - z[2, 1 + m:]  # β = 0: a = 0, b extrapolated
    cols = np.concatenate([np.exp(z[:, :1 + m]), z[:, 1 + m:]], axis=1)
    cols[0, 0], cols[0, 1:1 + m] = 1.0, 0.0
    valid = n + t["betas"] - d / 2.0 > 1e-12  # ν > 0: the rows below are placeholders
    return _Pchip(t["betas"][valid], cols[valid])


def coefficients(beta, d: int, n: int, m: int = 2) -> tuple[torch.Tensor, torch.Tensor,
                                                               torch.Tensor]:
    r"""The coefficients k, a, b of :math:`x^\beta \approx k + \sum_j a_j x / (x + b_j)`.

    Parameters
    ----------
    beta : float or torch.Tensor
        The fractional part β ∈ [0, :data:`BETA_MAX`] of the order α = n + β (0-d tensor to
        differentiate).
    d : int
        The spatial dimension.
    n : int
        The integer part of α.
    m : int, default 2
        The approximation order (1–4).

    Returns
    -------
    k : torch.Tensor
        0-d.
    a, b : torch.Tensor
        ``(m,)`` each, b ascending.

    Raises
    ------
    ValueError
        For β outside [0, BETA_MAX] or an untabulated (d, n, m).
    """
    beta = torch.as_tensor(beta, dtype=torch.float64)
    b0 = float(beta.detach())
    low = max(0.0, d / 2.0 - n)             # ν = n + β − d/2 > 0
    if not (0.0 <= b0 <= BETA_MAX + 1e-12 and n + b0 - d / 2.0 > 0):
        raise ValueError(f"the fractional part β of the order {n} + β in {d}-D must be in "
                         f"{'(' if n - d / 2.0 <= 0 else '['}{low:g}, {BETA_MAX}] (ν > 0), "
                         f"got {b0:g}")
    if m not in ORDERS:
        raise ValueError(f"the rational approximation's order m must be one of {ORDERS}, "
                         f"got {m}")
    v = _interpolant(int(d), int(n), int(m))(beta)
    return v[0], v[1:1 + m], torch.exp(v[1 + m:])


def split_order(alpha: float) -> tuple[int, float]:
    """α = n + β with the integer n and β ∈ [0, 1); an α within 1 − BETA_MAX above an integer,
    or below the next, is that integer (β = 0).

    Parameters
    ----------
    alpha : float
        The SPDE order.

    Returns
    -------
    (int, float)
        n and β.
    """
    n = math.floor(alpha + (1.0 - BETA_MAX) / 2)
    beta = alpha - n
    if beta < (1.0 - BETA_MAX) / 2:
        beta = 0.0
    return int(n), float(min(max(beta, 0.0), BETA_MAX))


__all__ = ["BETA_MAX", "ORDERS", "coefficients", "split_order", "tabulated_cases"]
