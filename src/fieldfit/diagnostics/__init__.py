"""Diagnostics: proper scoring rules and coverage for predictive distributions.

scores
    :func:`mae`, :func:`rmse`, :func:`crps_gaussian`, :func:`log_score_gaussian`,
    :func:`interval_score`, :func:`gaussian_interval`, :func:`coverage`,
    :func:`coverage_gaussian`, :func:`score_all`.
calibration
    :func:`calibrate` (a :class:`CalibrationReport`): SBC, expected coverage, TARP and
    L-C2ST of amortized estimators (sbi is imported when they run).
"""

from fieldfit.diagnostics.calibration import CalibrationReport, calibrate
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
    "CalibrationReport",
    "calibrate",
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
