r"""Pilot likelihoods: expert summaries from a few fixed Vecchia likelihoods of a dataset.

For each setting s = (ρ, τ) of a small grid, the standardised values ``z (r, n)`` are scored
under the correlation function (Matérn 3/2 with a nugget share τ)

.. math::

    c_s(h) = (1 - \tau) (1 + \sqrt{3} h/\rho) \exp(-\sqrt{3} h/\rho) + \tau 1\{h = 0\}

with Vecchia's approximation (Vecchia 1988; maximum–minimum ordering and the ``m`` nearest
earlier locations, Guinness 2018). Writing ``z̃`` and ``x̃`` for the whitened values and the
whitened constant (:math:`\tilde z_i = (z_i - E_s[z_i \mid z_{N(i)}]) /
\mathrm{sd}_s[z_i \mid z_{N(i)}]`, likewise for 1), the summaries of setting s are the
generalised-least-squares mean, the profiled variance and the profile log-likelihood per
location,

.. math::

    \hat\mu_s = \frac{\sum \tilde x \tilde z}{\sum \tilde x^2}, \qquad
    \hat\sigma^2_s = \frac{1}{n} \sum (\tilde z - \hat\mu_s \tilde x)^2, \qquad
    \ell_s = -\frac{1}{2} (\log \hat\sigma^2_s + 1) - \frac{1}{2n} \sum_i \log d_i,

with ``d_i`` the conditional variances; ``(μ̂_s, log σ̂²_s, ℓ_s)`` for every s, averaged over
replicates, is the vector returned by :func:`pilot_likelihoods`. A network reads them through
:func:`relative_likelihoods` (settings ``relative=True``, the default): the log-likelihood of
the whole dataset relative to the grid's best, in nats, and the grid's weights under a flat
prior,

.. math::

    \Delta_s = n (\ell_s - \max_t \ell_t), \qquad w_s = \frac{\exp \Delta_s}{\sum_t \exp \Delta_t},

fed as ``(μ̂_s, log σ̂²_s, asinh Δ_s, w_s)``: a likelihood ratio grows with n, and a network
that must multiply a per-location average by n to weigh it learns that slowly (the comparison
with the raw per-location ℓ_s is in docs/benchmarks.md).

Why: the graph network sees k-nearest-neighbour messages, which carry the small-scale
structure (nugget, local roughness) well but the large-scale one (the mean's best weights, the
range at large n) poorly; these few likelihood evaluations hand the network what the maximum
likelihood estimator uses, without a fit or an optimiser.

How: the ordering and the conditioning sets are the Vecchia engine's
(:func:`fieldfit.likelihood.ordering.maxmin_order`, and
:func:`~fieldfit.likelihood.ordering.previous_neighbours` with ``search="scan"``, the compiled
pass over the earlier points, which has no set-up cost at the networks' dataset sizes),
computed once for all settings; each location's block is factorised with the engine's block
steps (:func:`fieldfit.likelihood.vecchia_blocks.factor_block`, ``whiten_last``) in one
compiled loop over the locations that shares the block's distances among all settings and its
correlations among the nugget shares of a range. Costs are in docs/benchmarks.md.

References
----------
A. V. Vecchia (1988), "Estimation and model identification for continuous spatial
processes", Journal of the Royal Statistical Society B 50(2), 297–312.

J. Guinness (2018), "Permutation and grouping methods for sharpening Gaussian process
approximations", Technometrics 60(4), 415–429.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import numba
import numpy as np
import torch

from ..likelihood.ordering import maxmin_order, previous_neighbours
from ..likelihood.vecchia_blocks import factor_block, whiten_last

#: the default grid (that of the shipped ``matern-irregular``): ranges ρ (in the units of the
#: coordinates) and nugget shares τ of the standardised values
PILOT_RANGES = (0.03, 0.12, 0.5)
PILOT_NUGGETS = (0.01, 0.15, 0.5)
PILOT_NEIGHBOURS = 10
#: conditional variances (pivots of a block's Cholesky factor) below this are raised to it:
#: a block of coincident locations with a zero nugget share stays finite
PIVOT_FLOOR = 1e-12


def n_pilot_features(ranges: Sequence[float], nuggets: Sequence[float],
                     relative: bool = False) -> int:
    """Numbers per dataset of the pilot summaries.

    Parameters
    ----------
    ranges : sequence of float
        The grid's ranges.
    nuggets : sequence of float
        The grid's nugget shares.
    relative : bool, default False
        Count those of :func:`relative_likelihoods` (4 per setting) instead of
        :func:`pilot_likelihoods` (3 per setting).

    Returns
    -------
    int
        ``3 * S`` or ``4 * S`` with ``S = len(ranges) * len(nuggets)``.
    """
    return (4 if relative else 3) * len(ranges) * len(nuggets)


def relative_likelihoods(pilot: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    r"""Relative likelihoods of every setting, as a network reads them (module docstring).

    Parameters
    ----------
    pilot : torch.Tensor, shape (B, 3 * S)
        :func:`pilot_likelihoods` of each dataset of a batch.
    n : torch.Tensor, shape (B,)
        The datasets' numbers of locations.

    Returns
    -------
    torch.Tensor, shape (B, 4 * S)
        Blocks :math:`(\hat\mu_s, \log\hat\sigma^2_s, \operatorname{asinh}\Delta_s, w_s)`, each
        ``(B, S)``, in that order.
    """
    b = pilot.view(len(pilot), -1, 3)
    ll = b[:, :, 2] * n[:, None]
    delta = ll - ll.max(1, keepdim=True).values
    return torch.cat([b[:, :, 0], b[:, :, 1], torch.asinh(delta), torch.softmax(delta, 1)], 1)


def _check_settings(ranges, nuggets, m) -> None:
    if (len(ranges) == 0 or len(nuggets) == 0 or min(ranges) <= 0
            or not all(0 <= t < 1 for t in nuggets) or m < 1):
        raise ValueError(f"pilot settings need ranges > 0, nugget shares in [0, 1) and m >= 1; "
                         f"got {list(ranges)}, {list(nuggets)}, m = {m}")


def pilot_settings(pilot) -> dict | None:
    """The pilot settings a network stores.

    ``None`` / ``False``: none; ``True``: the default grid, relative likelihoods; a mapping
    (``ranges``, ``nuggets``, ``m``, ``relative``): checked and completed with the defaults. A
    stored mapping without ``relative`` (networks saved before it existed) means the raw
    per-location likelihoods, as those networks were trained.

    Parameters
    ----------
    pilot : bool, mapping or None
        The setting as given.

    Returns
    -------
    dict or None
        ``{"ranges": [...], "nuggets": [...], "m": int, "relative": bool}``, or ``None``.

    Raises
    ------
    ValueError
        If a key is unknown, ``relative`` is not a bool, ranges are not positive, nugget shares
        are outside [0, 1), or ``m < 1``.
    """
    if pilot is None or pilot is False:
        return None
    given = {"relative": True} if pilot is True else dict(pilot)
    unknown = set(given) - {"ranges", "nuggets", "m", "relative"}
    if unknown:
        raise ValueError(f"pilot settings are ranges, nuggets, m and relative; got "
                         f"{sorted(unknown)}")
    if not isinstance(given.get("relative", False), bool):
        raise ValueError(f"pilot setting relative must be True or False, got "
                         f"{given['relative']!r}")
    out = {"ranges": [float(v) for v in given.get("ranges", PILOT_RANGES)],
           "nuggets": [float(v) for v in given.get("nuggets", PILOT_NUGGETS)],
           "m": int(given.get("m", PILOT_NEIGHBOURS)),
           "relative": bool(given.get("relative", False))}
    _check_settings(out["ranges"], out["nuggets"], out["m"])
    return out


@numba.njit(cache=True, nogil=True)
def _pilot_sums(x, z, nb, ranges, nuggets):  # pragma: no cover  (compiled)
    """Per setting and replicate: Σ x̃ z̃, Σ x̃², Σ z̃², and Σ log d (per setting); ``nb (n, m)``
    the earlier neighbours of each point (nearest first, −1 padded: row i has min(i, m))."""
    n, r = x.shape[0], z.shape[0]
    m = nb.shape[1]
    nr, nt = len(ranges), len(nuggets)
    sxz = np.zeros((nr * nt, r))
    sxx = np.zeros(nr * nt)
    szz = np.zeros((nr * nt, r))
    slogd = np.zeros(nr * nt)
    idx = np.empty(m + 1, np.int64)
    dist = np.empty((m + 1, m + 1))
    corr = np.empty((m + 1, m + 1))
    L = np.empty((m + 1, m + 1))
    v = np.empty((r + 1, m + 1))                    # the constant (row 0) and the replicates
    y = np.empty(m + 1)
    s3 = math.sqrt(3.0)
    for i in range(n):
        k = min(i, m)
        for a in range(k):
            idx[a] = nb[i, k - 1 - a]              # farthest first, the point itself last
        idx[k] = i
        for a in range(k + 1):
            v[0, a] = 1.0
            for c in range(r):
                v[c + 1, a] = z[c, idx[a]]
            for b in range(a):                      # off the diagonal (which is 1)
                dx = x[idx[a], 0] - x[idx[b], 0]
                dy = x[idx[a], 1] - x[idx[b], 1]
                dist[a, b] = math.sqrt(dx * dx + dy * dy)
        for ir in range(nr):
            scale = s3 / ranges[ir]
            for a in range(k + 1):
                for b in range(a):
                    s = scale * dist[a, b]
                    corr[a, b] = (1.0 + s) * math.exp(-s)
            for it in range(nt):
                t = nuggets[it]
                q = ir * nt + it
                # the block (1 − τ) corr + τ I (lower triangle), factorised in place
                for a in range(k + 1):
                    L[a, a] = 1.0
                    for b in range(a):
                        L[a, b] = (1.0 - t) * corr[a, b]
                factor_block(L, k + 1, PIVOT_FLOOR)
                xt = whiten_last(L, k + 1, v[0], y)
                sxx[q] += xt * xt
                slogd[q] += 2.0 * math.log(L[k, k])
                for c in range(r):
                    zt = whiten_last(L, k + 1, v[c + 1], y)
                    sxz[q, c] += xt * zt
                    szz[q, c] += zt * zt
    return sxz, sxx, szz, slogd


def pilot_likelihoods(coords: np.ndarray, z: np.ndarray,
                      ranges: Sequence[float] = PILOT_RANGES,
                      nuggets: Sequence[float] = PILOT_NUGGETS,
                      m: int = PILOT_NEIGHBOURS) -> np.ndarray:
    r"""Pilot summaries :math:`(\hat\mu_s, \log\hat\sigma^2_s, \ell_s)` of one dataset.

    One triple for every setting :math:`s = (\rho, \tau)` (ranges outer, nugget shares inner),
    averaged over replicates (formulas in the module docstring). Invariant to the order of the
    locations (the maximum–minimum ordering depends on the locations only; ties aside).

    Parameters
    ----------
    coords : numpy.ndarray, shape (n, 2)
        The locations.
    z : numpy.ndarray, shape (r, n) or (n,)
        Standardised values (:mod:`fieldfit.neural.graphs`).
    ranges : sequence of float, default PILOT_RANGES
        Ranges ρ of the grid (> 0, units of the coordinates).
    nuggets : sequence of float, default PILOT_NUGGETS
        Nugget shares τ of the grid, in [0, 1).
    m : int, default PILOT_NEIGHBOURS
        Vecchia conditioning-set size.

    Returns
    -------
    numpy.ndarray, shape (3 * len(ranges) * len(nuggets),)
        The triples, setting after setting.

    Raises
    ------
    ValueError
        If the shapes do not match or the settings are invalid.
    """
    coords = np.asarray(coords, dtype=np.float64)
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    if coords.ndim != 2 or coords.shape[1] != 2 or z.shape[1] != len(coords):
        raise ValueError(f"pilot likelihoods need coords (n, 2) and values (r, n); got "
                         f"{coords.shape} and {z.shape}")
    ranges = np.asarray(ranges, dtype=np.float64)
    nuggets = np.asarray(nuggets, dtype=np.float64)
    _check_settings(ranges, nuggets, m)
    order = maxmin_order(coords)
    x = np.ascontiguousarray(coords[order])
    zo = np.ascontiguousarray(z[:, order])
    nb = previous_neighbours(x, int(m), search="scan")
    sxz, sxx, szz, slogd = _pilot_sums(x, zo, nb, ranges, nuggets)
    n = len(coords)
    mu = sxz / sxx[:, None]                                   # (S, r)
    s2 = np.maximum((szz - sxz * mu) / n, 1e-300)
    ll = -0.5 * (np.log(s2) + 1.0) - 0.5 * (slogd / n)[:, None]
    return np.stack([mu.mean(1), np.log(s2).mean(1), ll.mean(1)], 1).ravel()


_CACHE: dict | None = None


@contextlib.contextmanager
def pilot_cache():
    """Context manager: within the block, compute each dataset's pilot summaries once.

    Inside it, :func:`cached_pilot_likelihoods` keeps its results: training revisits the same
    datasets every epoch, and the summaries do not change. Keyed by the identity of the
    dataset's arrays, which the cache keeps alive (so an identity cannot be reused by another
    array while the block lasts); cleared on exit (nested blocks restore the outer cache).

    Yields
    ------
    None
    """
    global _CACHE
    outer, _CACHE = _CACHE, {}
    try:
        yield
    finally:
        _CACHE = outer


def cached_pilot_likelihoods(item, coords: np.ndarray, z: np.ndarray, **settings) -> np.ndarray:
    """:func:`pilot_likelihoods` of ``coords``, ``z``, cached inside :func:`pilot_cache`.

    Parameters
    ----------
    item : tuple of numpy.ndarray
        The dataset's own ``(coords, values)`` arrays, whose identities are the cache key.
    coords : numpy.ndarray, shape (n, 2)
        The locations.
    z : numpy.ndarray, shape (r, n)
        Standardised values.
    **settings
        ``ranges``, ``nuggets``, ``m`` of :func:`pilot_likelihoods`.

    Returns
    -------
    numpy.ndarray, shape (3 * S,)
        The pilot summaries.
    """
    if _CACHE is None:
        return pilot_likelihoods(coords, z, **settings)
    key = (id(item[0]), id(item[1]), repr(sorted(settings.items())))
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not item[0] or hit[1] is not item[1]:
        hit = (item[0], item[1], pilot_likelihoods(coords, z, **settings))
        _CACHE[key] = hit
    return hit[2]
