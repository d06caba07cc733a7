"""Diagnostics: proper scoring rules and coverage for predictive distributions.

scores
    :func:`mae`, :func:`rmse`, :func:`crps_gaussian`, :func:`log_score_gaussian`,
    :func:`interval_score`, :func:`gaussian_interval`, :func:`coverage`,
    :func:`coverage_gaussian`, :func:`score_all`.
calibration
    :func:`~fieldfit.diagnostics.calibration.calibrate`: SBC, expected coverage, TARP and
    L-C2ST of amortized estimators (imported on use: it needs torch and sbi).
"""

from fieldfit.diagnostics.scores import (
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

__all__ = [
    "coverage",
    "coverage_gaussian",
    "crps_gaussian",
    "gaussian_interval",
    "interval_score",
    "log_score_gaussian",
    "mae",
    "rmse",
    "score_all",
]
