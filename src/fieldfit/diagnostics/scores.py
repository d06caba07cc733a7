"""Proper scoring rules and summaries for Gaussian predictive distributions.

Every function takes observations ``y`` of shape ``(n,)`` and a predictive distribution for each
point — a mean and standard deviation (``(n,)`` or a scalar, broadcast to ``(n,)``), or an
interval ``[lower, upper]`` — and returns the mean score over the points as a ``float``, or the
per-point scores as an ``(n,)`` array with ``reduce=False``.

All scores are negatively oriented (smaller is better), except :func:`coverage`, which should be
close to the nominal level.

Bad input raises :class:`ValueError` naming the problem: mismatched lengths, an empty or
non-1-D ``y``, NaN or infinite values, a non-positive standard deviation, ``lower > upper``, or an
``alpha`` / ``level`` outside (0, 1). Nothing is silently dropped.

Reference: T. Gneiting and A. E. Raftery (2007), "Strictly proper scoring rules, prediction, and
estimation", Journal of the American Statistical Association 102(477), 359–378.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr, ndtri

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

_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------- validation


def _as_float_array(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got {type(x).__name__}: {exc}") from exc
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    if np.isnan(arr).any():
        k = int(np.isnan(arr).sum())
        raise ValueError(f"{name} contains {k} NaN value(s)")
    if not np.isfinite(arr).all():
        k = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} contains {k} infinite value(s)")


def _vector(x, name: str) -> np.ndarray:
    """``x`` as a finite, non-empty ``(n,)`` float array (a scalar becomes ``(1,)``)."""
    arr = np.atleast_1d(_as_float_array(x, name))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D with shape (n,), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    _check_finite(arr, name)
    return arr


def _like(x, name: str, n: int) -> np.ndarray:
    """``x`` as a finite ``(n,)`` float array; a scalar is broadcast to ``(n,)``."""
    arr = _as_float_array(x, name)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or 1-D with shape (n,), got shape {arr.shape}")
    elif arr.shape[0] != n:
        raise ValueError(f"length mismatch: {name} has length {arr.shape[0]}, expected {n}")
    _check_finite(arr, name)
    return arr


def _sd(sd, n: int) -> np.ndarray:
    arr = _like(sd, "sd", n)
    if (arr <= 0).any():
        k = int((arr <= 0).sum())
        raise ValueError(f"sd must be positive; {k} value(s) are <= 0 (min {arr.min()})")
    return arr


def _unit_interval(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}") from exc
    if not (0.0 < v < 1.0):
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value!r}")
    return v


def _bounds(lower, upper, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo = _like(lower, "lower", n)
    up = _like(upper, "upper", n)
    bad = lo > up
    if bad.any():
        raise ValueError(f"lower > upper at {int(bad.sum())} point(s)")
    return lo, up


def _gaussian_inputs(y, mean, sd) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yv = _vector(y, "y")
    n = yv.shape[0]
    return yv, _like(mean, "mean", n), _sd(sd, n)


def _out(values: np.ndarray, reduce: bool):
    return float(values.mean()) if reduce else values


# --------------------------------------------------------------------------- point scores


def mae(y, mean, *, reduce: bool = True):
    r"""Mean absolute error, :math:`\frac{1}{n} \sum_i |y_i - \mu_i|`.

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations.
    mean : array_like, shape (n,) or scalar
        Point predictions.
    reduce : bool, default True
        If False, return the per-point absolute errors :math:`|y_i - \mu_i|`, shape (n,).

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        The mean absolute error, or the per-point absolute errors.

    Raises
    ------
    ValueError
        If ``y`` is empty or not 1-D, lengths differ, or a value is NaN or infinite.
    """
    yv = _vector(y, "y")
    mu = _like(mean, "mean", yv.shape[0])
    return _out(np.abs(yv - mu), reduce)


def rmse(y, mean, *, reduce: bool = True):
    r"""Root mean squared error, :math:`\sqrt{\frac{1}{n} \sum_i (y_i - \mu_i)^2}`.

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations.
    mean : array_like, shape (n,) or scalar
        Point predictions.
    reduce : bool, default True
        If False, return the per-point *squared* errors :math:`(y_i - \mu_i)^2`, shape (n,)
        (their mean is the MSE; the square root of that is the RMSE).

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        The root mean squared error, or the per-point squared errors.

    Raises
    ------
    ValueError
        If ``y`` is empty or not 1-D, lengths differ, or a value is NaN or infinite.
    """
    yv = _vector(y, "y")
    mu = _like(mean, "mean", yv.shape[0])
    sq = (yv - mu) ** 2
    return math.sqrt(float(sq.mean())) if reduce else sq


# --------------------------------------------------------------------------- Gaussian scores


def crps_gaussian(y, mean, sd, *, reduce: bool = True):
    r"""Continuous ranked probability score of :math:`N(\mu, \sigma^2)` at ``y`` (closed form).

    :math:`\mathrm{CRPS}(F, y) = \int (F(x) - 1\{x \ge y\})^2 \, dx`; for
    :math:`F = N(\mu, \sigma^2)` and :math:`z = (y - \mu)/\sigma`

    .. math::

        \mathrm{CRPS} = \sigma \left[ z (2\Phi(z) - 1) + 2\varphi(z) - \frac{1}{\sqrt{\pi}} \right]

    (Gneiting & Raftery 2007, section 4.2). Negatively oriented: smaller is better; it is in
    the units of ``y`` and reduces to the absolute error as :math:`\sigma \to 0`.

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations.
    mean, sd : array_like, shape (n,) or scalar
        Predictive means and standard deviations (``sd > 0``).
    reduce : bool, default True
        If False, return the per-point scores, shape (n,); otherwise their mean.

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        The mean CRPS, or the per-point scores.

    Raises
    ------
    ValueError
        If ``y`` is empty or not 1-D, lengths differ, a value is NaN or infinite, or an ``sd``
        is not positive.

    References
    ----------
    T. Gneiting and A. E. Raftery (2007), "Strictly proper scoring rules, prediction, and
    estimation", Journal of the American Statistical Association 102(477), 359–378.
    """
    yv, mu, s = _gaussian_inputs(y, mean, sd)
    z = (yv - mu) / s
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    cdf = ndtr(z)
    return _out(s * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - _INV_SQRT_PI), reduce)


def log_score_gaussian(y, mean, sd, *, reduce: bool = True):
    r"""Logarithmic score: the negative log predictive density of :math:`N(\mu, \sigma^2)` at ``y``.

    .. math::

        -\log p(y) = \frac{1}{2} \log(2\pi\sigma^2) + \frac{(y - \mu)^2}{2\sigma^2}

    (Gneiting & Raftery 2007, section 4.1, sign flipped so that smaller is better).

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations.
    mean, sd : array_like, shape (n,) or scalar
        Predictive means and standard deviations (``sd > 0``).
    reduce : bool, default True
        If False, return the per-point scores, shape (n,); otherwise their mean.

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        The mean logarithmic score, or the per-point scores.

    Raises
    ------
    ValueError
        If ``y`` is empty or not 1-D, lengths differ, a value is NaN or infinite, or an ``sd``
        is not positive.

    References
    ----------
    T. Gneiting and A. E. Raftery (2007), "Strictly proper scoring rules, prediction, and
    estimation", Journal of the American Statistical Association 102(477), 359–378.
    """
    yv, mu, s = _gaussian_inputs(y, mean, sd)
    z = (yv - mu) / s
    return _out(0.5 * _LOG_2PI + np.log(s) + 0.5 * z * z, reduce)


def gaussian_interval(mean, sd, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    r"""Central prediction interval of :math:`N(\mu, \sigma^2)` with coverage ``level``.

    .. math::

        [\mu - q\sigma, \mu + q\sigma], \qquad q = \Phi^{-1}((1 + \mathrm{level})/2)

    Parameters
    ----------
    mean : array_like, shape (n,)
        Predictive means.
    sd : array_like, shape (n,) or scalar
        Predictive standard deviations (``sd > 0``).
    level : float in (0, 1), default 0.95
        Nominal coverage, e.g. 0.95 (then :math:`q \approx 1.96`).

    Returns
    -------
    lower : numpy.ndarray, shape (n,)
        Lower ends :math:`\mu - q\sigma`.
    upper : numpy.ndarray, shape (n,)
        Upper ends :math:`\mu + q\sigma`.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1), ``mean`` is empty or not 1-D, lengths differ, a value is
        NaN or infinite, or an ``sd`` is not positive.
    """
    lv = _unit_interval(level, "level")
    mu = _vector(mean, "mean")
    s = _sd(sd, mu.shape[0])
    q = float(ndtri(0.5 * (1.0 + lv)))
    return mu - q * s, mu + q * s


def interval_score(y, lower, upper, alpha: float = 0.05, *, reduce: bool = True):
    r"""Interval score of the central :math:`(1 - \alpha)` prediction interval :math:`[l, u]`.

    .. math::

        S_\alpha(l, u; y) = (u - l) + \frac{2}{\alpha}(l - y) 1\{y < l\}
        + \frac{2}{\alpha}(y - u) 1\{y > u\}

    (Gneiting & Raftery 2007, eq. 43). Negatively oriented: it rewards narrow intervals and
    penalises misses in proportion to how far ``y`` falls outside.

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations.
    lower, upper : array_like, shape (n,) or scalar
        Interval bounds, ``lower <= upper``.
    alpha : float in (0, 1), default 0.05
        One minus the nominal coverage of the interval (0.05 for a 95% interval).
    reduce : bool, default True
        If False, return the per-point scores, shape (n,); otherwise their mean.

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        The mean interval score, or the per-point scores.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1), ``y`` is empty or not 1-D, lengths differ, a value is NaN
        or infinite, or ``lower > upper`` somewhere.

    References
    ----------
    T. Gneiting and A. E. Raftery (2007), "Strictly proper scoring rules, prediction, and
    estimation", Journal of the American Statistical Association 102(477), 359–378.
    """
    a = _unit_interval(alpha, "alpha")
    yv = _vector(y, "y")
    lo, up = _bounds(lower, upper, yv.shape[0])
    below = np.where(yv < lo, lo - yv, 0.0)
    above = np.where(yv > up, yv - up, 0.0)
    return _out((up - lo) + (2.0 / a) * (below + above), reduce)


def coverage(y, lower, upper, *, reduce: bool = True):
    r"""Empirical coverage: the fraction of points with :math:`l_i \le y_i \le u_i`.

    .. math::

        \mathrm{coverage} = \frac{1}{n} \sum_i 1\{l_i \le y_i \le u_i\}

    Not a scoring rule; compare it with the interval's nominal level.

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations.
    lower, upper : array_like, shape (n,) or scalar
        Interval bounds, ``lower <= upper``.
    reduce : bool, default True
        If False, return the per-point indicators (1.0 inside, 0.0 outside), shape (n,).

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        The fraction of points covered, or the per-point indicators.

    Raises
    ------
    ValueError
        If ``y`` is empty or not 1-D, lengths differ, a value is NaN or infinite, or
        ``lower > upper`` somewhere.
    """
    yv = _vector(y, "y")
    lo, up = _bounds(lower, upper, yv.shape[0])
    return _out(((yv >= lo) & (yv <= up)).astype(np.float64), reduce)


def coverage_gaussian(y, mean, sd, level: float = 0.95, *, reduce: bool = True):
    r"""Coverage of the central ``level`` interval of :math:`N(\mu, \sigma^2)`.

    The interval is that of :func:`gaussian_interval`.

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations.
    mean, sd : array_like, shape (n,) or scalar
        Predictive means and standard deviations (``sd > 0``).
    level : float in (0, 1), default 0.95
        Nominal coverage of the interval.
    reduce : bool, default True
        If False, return the per-point indicators, shape (n,).

    Returns
    -------
    float or numpy.ndarray of shape (n,)
        The fraction of points covered, or the per-point indicators.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1), ``y`` is empty or not 1-D, lengths differ, a value is NaN
        or infinite, or an ``sd`` is not positive.
    """
    yv, mu, s = _gaussian_inputs(y, mean, sd)
    lo, up = gaussian_interval(mu, s, level)
    return coverage(yv, lo, up, reduce=reduce)


def score_all(y, mean, sd, level: float = 0.95) -> dict[str, float]:
    """All summary scores of Gaussian predictions ``N(mean, sd²)`` against ``y``.

    MAE, RMSE, CRPS (:func:`crps_gaussian`), interval score and coverage of the central
    ``level`` interval (:func:`gaussian_interval`, :func:`interval_score`, :func:`coverage`).

    Parameters
    ----------
    y : array_like, shape (n,)
        Observations.
    mean, sd : array_like, shape (n,) or scalar
        Predictive means and standard deviations (``sd > 0``).
    level : float in (0, 1), default 0.95
        Nominal level of the central interval behind ``interval_score`` (with
        ``alpha = 1 − level``) and ``coverage``.

    Returns
    -------
    dict
        ``{"mae", "rmse", "crps", "interval_score", "coverage"}`` as floats (means over
        points) and ``"n"`` (int, the number of points).

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1), ``y`` is empty or not 1-D, lengths differ, a value is NaN
        or infinite, or an ``sd`` is not positive.
    """
    lv = _unit_interval(level, "level")
    yv, mu, s = _gaussian_inputs(y, mean, sd)
    lo, up = gaussian_interval(mu, s, lv)
    return {
        "mae": mae(yv, mu),
        "rmse": rmse(yv, mu),
        "crps": crps_gaussian(yv, mu, s),
        "interval_score": interval_score(yv, lo, up, alpha=1.0 - lv),
        "coverage": coverage(yv, lo, up),
        "n": int(yv.shape[0]),
    }
