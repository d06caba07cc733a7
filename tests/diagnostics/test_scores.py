"""Tests for fieldfit.diagnostics.scores: closed forms vs integrals, Monte Carlo, hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from fieldfit.diagnostics import (
    coverage,
    coverage_gaussian,
    crps_gaussian,
    gaussian_interval,
    interval_score,
    log_score_gaussian,
    mae,
    rmse,
    score_all,
)

CASES = [
    (0.0, 1.0, 0.0),
    (0.0, 1.0, 1.3),
    (2.0, 0.5, -1.0),
    (-3.0, 4.0, 5.5),
    (1.0, 0.1, 1.02),
]


# --------------------------------------------------------------------------- CRPS


def _crps_quad(mu: float, sigma: float, y: float) -> float:
    """∫ (F(x) − 1{x ≥ y})² dx by adaptive quadrature, split at the jump y."""
    cdf = stats.norm(mu, sigma).cdf
    left, _ = integrate.quad(lambda x: cdf(x) ** 2, -np.inf, y, epsabs=1e-12, epsrel=1e-10)
    right, _ = integrate.quad(lambda x: (1 - cdf(x)) ** 2, y, np.inf, epsabs=1e-12, epsrel=1e-10)
    return left + right


@pytest.mark.parametrize(("mu", "sigma", "y"), CASES)
def test_crps_matches_numerical_integral(mu, sigma, y):
    assert crps_gaussian([y], [mu], [sigma]) == pytest.approx(_crps_quad(mu, sigma, y), rel=1e-7)


def test_crps_vectorised_matches_integral_per_point():
    mu, sigma, y = (np.array(c) for c in zip(*CASES, strict=True))
    per_point = crps_gaussian(y, mu, sigma, reduce=False)
    expected = np.array([_crps_quad(*c) for c in CASES])
    assert per_point.shape == (len(CASES),)
    np.testing.assert_allclose(per_point, expected, rtol=1e-7)
    assert crps_gaussian(y, mu, sigma) == pytest.approx(expected.mean(), rel=1e-7)


@pytest.mark.parametrize(("mu", "sigma", "y"), [(0.0, 1.0, 0.7), (3.0, 2.5, -1.0)])
def test_crps_matches_energy_form_monte_carlo(mu, sigma, y):
    # CRPS(F, y) = E|X − y| − ½ E|X − X'|, X, X' iid F (Gneiting & Raftery 2007, section 4.2)
    rng = np.random.default_rng(20240601)
    m = 400_000
    x = rng.normal(mu, sigma, m)
    x2 = rng.normal(mu, sigma, m)
    d = np.abs(x - y) - 0.5 * np.abs(x - x2)
    se = d.std(ddof=1) / math.sqrt(m)
    assert abs(crps_gaussian([y], [mu], [sigma]) - d.mean()) < 5 * se
    # the check is sharp enough to see a missing 1/√π term (σ/√π ≫ 5 se)
    assert sigma / math.sqrt(math.pi) > 50 * se


def test_crps_at_mean_and_limits():
    # z = 0: σ (2φ(0) − 1/√π) = σ (√2 − 1)/√π
    assert crps_gaussian([1.0], [1.0], [2.0]) == pytest.approx(
        2 * (math.sqrt(2) - 1) / math.sqrt(math.pi)
    )
    # σ → 0: CRPS → |y − μ|
    assert crps_gaussian([3.0], [1.0], [1e-9]) == pytest.approx(2.0, rel=1e-8)


def test_crps_scalar_broadcast():
    y = np.array([0.1, -0.4, 2.0])
    assert crps_gaussian(y, 0.0, 1.5) == pytest.approx(
        crps_gaussian(y, np.zeros(3), np.full(3, 1.5))
    )


# --------------------------------------------------------------------------- log score


def test_log_score_matches_scipy():
    y = np.array([0.0, 1.3, -2.0])
    mu = np.array([0.5, 1.0, 0.0])
    sd = np.array([1.0, 0.3, 2.0])
    expected = -stats.norm(mu, sd).logpdf(y)
    np.testing.assert_allclose(log_score_gaussian(y, mu, sd, reduce=False), expected, rtol=1e-12)
    assert log_score_gaussian(y, mu, sd) == pytest.approx(expected.mean(), rel=1e-12)


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("y", "expected"),
    [
        (2.0, 2.0),  # inside: width only
        (1.0, 2.0),  # on the lower bound counts as inside
        (3.0, 2.0),  # on the upper bound counts as inside
        (0.0, 2.0 + (2 / 0.1) * 1.0),  # below by 1
        (4.5, 2.0 + (2 / 0.1) * 1.5),  # above by 1.5
    ],
)
def test_interval_score_hand_cases(y, expected):
    assert interval_score([y], [1.0], [3.0], alpha=0.1) == pytest.approx(expected)


def test_interval_score_per_point_and_default_alpha():
    y = np.array([2.0, 0.0, 4.5])
    per = interval_score(y, 1.0, 3.0, reduce=False)  # alpha = 0.05 -> 2/alpha = 40
    np.testing.assert_allclose(per, [2.0, 42.0, 62.0])
    assert interval_score(y, 1.0, 3.0) == pytest.approx(106.0 / 3)


def test_gaussian_interval_quantiles():
    mu = np.array([0.0, 5.0])
    sd = np.array([1.0, 2.0])
    lo, up = gaussian_interval(mu, sd, level=0.9)
    q = stats.norm.ppf(0.95)
    np.testing.assert_allclose(lo, mu - q * sd)
    np.testing.assert_allclose(up, mu + q * sd)
    lo95, up95 = gaussian_interval([0.0], [1.0])
    assert up95[0] == pytest.approx(1.959963984540054)
    assert lo95[0] == pytest.approx(-1.959963984540054)


def test_coverage_hand_case():
    y = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    assert coverage(y, 1.0, 3.0) == pytest.approx(3 / 5)
    np.testing.assert_array_equal(coverage(y, 1.0, 3.0, reduce=False), [0, 1, 1, 1, 0])


def test_coverage_simulated_calibrated_and_overconfident():
    rng = np.random.default_rng(7)
    n = 40_000
    y = rng.standard_normal(n)
    mu = np.zeros(n)
    binom_sd = math.sqrt(0.95 * 0.05 / n)
    assert abs(coverage_gaussian(y, mu, np.ones(n)) - 0.95) < 4 * binom_sd
    # sd halved: nominal coverage becomes 2Φ(1.96/2) − 1 ≈ 0.673
    p_half = 2 * stats.norm.cdf(stats.norm.ppf(0.975) * 0.5) - 1
    cov_half = coverage_gaussian(y, mu, np.full(n, 0.5))
    assert cov_half < 0.95 - 20 * binom_sd
    assert abs(cov_half - p_half) < 4 * math.sqrt(p_half * (1 - p_half) / n)


# --------------------------------------------------------------------------- mae / rmse


def test_mae_rmse_hand_cases():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    mean = np.array([1.0, 3.0, 1.0, 4.0])  # errors 0, -1, 2, 0
    assert mae(y, mean) == pytest.approx(3 / 4)
    assert rmse(y, mean) == pytest.approx(math.sqrt(5 / 4))
    np.testing.assert_allclose(mae(y, mean, reduce=False), [0, 1, 2, 0])
    np.testing.assert_allclose(rmse(y, mean, reduce=False), [0, 1, 4, 0])
    assert isinstance(mae(y, mean), float)
    assert isinstance(rmse(y, mean), float)


# --------------------------------------------------------------------------- score_all


def test_score_all_keys_and_consistency():
    rng = np.random.default_rng(3)
    y = rng.normal(size=200)
    mu = y + rng.normal(scale=0.3, size=200)
    sd = np.full(200, 0.4)
    out = score_all(y, mu, sd, level=0.9)
    assert set(out) == {"mae", "rmse", "crps", "interval_score", "coverage", "n"}
    assert out["n"] == 200
    assert out["mae"] == pytest.approx(mae(y, mu))
    assert out["rmse"] == pytest.approx(rmse(y, mu))
    assert out["crps"] == pytest.approx(crps_gaussian(y, mu, sd))
    lo, up = gaussian_interval(mu, sd, level=0.9)
    assert out["interval_score"] == pytest.approx(interval_score(y, lo, up, alpha=0.1))
    assert out["coverage"] == pytest.approx(coverage_gaussian(y, mu, sd, level=0.9))
    assert all(isinstance(out[k], float) for k in out if k != "n")


# --------------------------------------------------------------------------- bad input


Y3 = [0.0, 1.0, 2.0]
M3 = [0.0, 0.5, 1.0]
S3 = [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: crps_gaussian(Y3, [0.0, 0.5], S3), "length mismatch"),
        (lambda: crps_gaussian(Y3, M3, [1.0, 1.0]), "length mismatch"),
        (lambda: crps_gaussian(Y3, M3, [1.0, 0.0, 1.0]), "sd must be positive"),
        (lambda: crps_gaussian(Y3, M3, [1.0, -2.0, 1.0]), "sd must be positive"),
        (lambda: crps_gaussian(Y3, M3, [1.0, np.nan, 1.0]), "sd contains 1 NaN"),
        (lambda: crps_gaussian([0.0, np.nan, 2.0], M3, S3), "y contains 1 NaN"),
        (lambda: crps_gaussian(Y3, [0.0, np.nan, 1.0], S3), "mean contains 1 NaN"),
        (lambda: crps_gaussian([0.0, np.inf, 2.0], M3, S3), "y contains 1 infinite"),
        (lambda: crps_gaussian([], [], []), "y is empty"),
        (lambda: crps_gaussian(np.zeros((2, 2)), 0.0, 1.0), "1-D"),
        (lambda: crps_gaussian(["a", "b", "c"], M3, S3), "y must be numeric"),
        (lambda: log_score_gaussian(Y3, M3, [1.0, 0.0, 1.0]), "sd must be positive"),
        (lambda: log_score_gaussian(Y3, M3[:2], S3), "length mismatch"),
        (lambda: mae(Y3, [1.0, 2.0]), "length mismatch"),
        (lambda: mae([np.nan, 1.0, 2.0], M3), "y contains 1 NaN"),
        (lambda: rmse(Y3, [0.0, np.nan, 1.0]), "mean contains 1 NaN"),
        (lambda: rmse(Y3, [1.0, 2.0, 3.0, 4.0]), "length mismatch"),
        (lambda: interval_score(Y3, M3, S3, alpha=0.0), "alpha"),
        (lambda: interval_score(Y3, M3, S3, alpha=1.0), "alpha"),
        (lambda: interval_score(Y3, M3, S3, alpha=-0.1), "alpha"),
        (lambda: interval_score(Y3, M3, S3, alpha=np.nan), "alpha"),
        (lambda: interval_score(Y3, [0.0, 0.0], S3), "length mismatch"),
        (lambda: interval_score(Y3, [0.0, 2.0, 0.0], S3), "lower > upper"),
        (lambda: interval_score(Y3, [0.0, np.nan, 0.0], S3), "lower contains 1 NaN"),
        (lambda: coverage(Y3, M3, [1.0, 1.0]), "length mismatch"),
        (lambda: coverage(Y3, [0.0, 2.0, 0.0], S3), "lower > upper"),
        (lambda: coverage(Y3, M3, [1.0, np.nan, 1.0]), "upper contains 1 NaN"),
        (lambda: coverage([0.0, np.nan, 2.0], M3, S3), "y contains 1 NaN"),
        (lambda: coverage_gaussian(Y3, M3, S3, level=1.0), "level"),
        (lambda: coverage_gaussian(Y3, M3, [1.0, -1.0, 1.0]), "sd must be positive"),
        (lambda: gaussian_interval(M3, S3, level=0.0), "level"),
        (lambda: gaussian_interval(M3, S3, level=1.5), "level"),
        (lambda: gaussian_interval(M3, [1.0, 0.0, 1.0]), "sd must be positive"),
        (lambda: gaussian_interval(M3, [1.0, 1.0]), "length mismatch"),
        (lambda: score_all(Y3, M3, S3, level=1.0), "level"),
        (lambda: score_all(Y3, M3, [1.0, 0.0, 1.0]), "sd must be positive"),
        (lambda: score_all(Y3, M3[:2], S3), "length mismatch"),
        (lambda: score_all([0.0, np.nan, 2.0], M3, S3), "y contains 1 NaN"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
