"""Coefficients of the rational approximation of fractional SPDE orders (fieldfit.spde.rational).

For each dimension d, integer part n of the order α = n + β and approximation order m, the
coefficients of

    x^β ≈ r(x) = k + Σ_{j=1}^{m} a_j x / (x + b_j),     x = κ² / (κ² + |ω|²) ∈ (0, 1],

(k, a_j, b_j > 0) that minimise the L1 norm of the spectral density's error

    ∫_{R^d} x^n |r(x) − x^β| dω  /  ∫_{R^d} x^{n+β} dω,

which bounds the relative error of the covariance at every lag. The optimisation starts from
BRASIL's best uniform approximation on [10⁻³, 1] (baryrat; the approximation rSPDE tabulates),
is a least-squares fit then soft-L1 fits of decreasing scale (scipy.optimize.least_squares),
and marches along β on the grid, each fit starting from its neighbour's (so the coefficients
are smooth in β). β = 0 is exact (k = 1, a = 0).

    .venv/bin/python scripts/make_rational_table.py src/fieldfit/spde/_data/rational_matern.npz
"""

from __future__ import annotations

import sys
import time
import warnings

import baryrat
import numpy as np
from scipy.optimize import least_squares

#: β grid of the table
BETAS = np.round(np.arange(0.0, 0.99, 0.02).tolist() + [0.99], 10)
ORDERS = (1, 2, 3, 4)
#: (d, n): the dimension and the integer part of α = ν + d/2 for ν in (0, 3]
CASES = ((1, 0), (1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3))
#: the spectral grid: |ω|/κ from 0 to RHO_MAX, log-spaced
RHO_MAX, N_RHO = 1e6, 2000


def spectral_grid(d: int) -> tuple[np.ndarray, np.ndarray]:
    """x(ρ) on the grid and the quadrature weights of the measure ρ^{d−1} dρ."""
    rho = np.concatenate([[0.0], np.geomspace(1e-4, RHO_MAX, N_RHO)])
    return 1.0 / (1.0 + rho**2), np.gradient(rho) * rho ** (d - 1)


def brasil(beta: float, m: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = baryrat.brasil(lambda x: x**beta, [1e-3, 1.0], (m, m), tol=1e-10, maxiter=3000)
    q, res = r.polres()
    q, res = q.real, res.real
    k = float(r(np.array([0.0]))[0])
    return np.log(np.concatenate([[max(k, 1e-12)], np.maximum(res / q, 1e-12),
                                  np.maximum(-q, 1e-12)]))


def fit(x, w, n: int, beta: float, m: int, z0: np.ndarray) -> tuple[np.ndarray, float]:
    target = (w * x ** (n + beta)).sum()

    def residual(z):
        k, a, b = np.exp(z[0]), np.exp(z[1:1 + m]), np.exp(z[1 + m:])
        r = k + (a[:, None] * x / (x + b[:, None])).sum(0)
        return w * x**n * (r - x**beta) / target

    kw = dict(xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=1500)
    sol = least_squares(residual, z0, **kw)
    for scale in (1e-5, 1e-6, 1e-7, 1e-8):
        sol = least_squares(residual, sol.x, loss="soft_l1", f_scale=scale, **kw)
    return sol.x, float(np.abs(residual(sol.x)).sum())


def main(out: str) -> None:
    table = {"betas": BETAS, "orders": np.array(ORDERS), "cases": np.array(CASES)}
    for d, n in CASES:
        x, w = spectral_grid(d)
        for m in ORDERS:
            t0 = time.time()
            coef = np.full((len(BETAS), 2 * m + 1), np.nan)
            err = np.zeros(len(BETAS))
            coef[0] = np.concatenate([[0.0], np.full(m, -np.inf), np.zeros(m)])  # exact
            # the rows of ν = n + β − d/2 ≤ 0 are never used: they copy the first valid one
            first = max(1, int(np.searchsorted(BETAS, d / 2.0 - n, side="right")))
            start = max(first, int(np.argmin(np.abs(BETAS - 0.5))))
            for order in (range(start, len(BETAS)), range(start - 1, first - 1, -1)):
                z = brasil(BETAS[start], m)
                for i in order:
                    z, err[i] = fit(x, w, n, BETAS[i], m, z)
                    o = np.argsort(z[1 + m:])          # the terms by b, smallest first
                    z = np.concatenate([z[:1], z[1:1 + m][o], z[1 + m:][o]])
                    coef[i] = z
            coef[1:first] = coef[first]
            table[f"d{d}_n{n}_m{m}"] = coef
            table[f"d{d}_n{n}_m{m}_l1"] = err
            print(f"d={d} n={n} m={m}: L1 error max {err.max():.2e} ({time.time() - t0:.0f} s)",
                  flush=True)
    np.savez_compressed(out, **table)


if __name__ == "__main__":
    main(sys.argv[1])
