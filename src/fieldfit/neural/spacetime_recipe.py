"""The simulation set-up of advection–diffusion estimators: prior, design and times in unit scales.

An estimator for the advection–diffusion SPDE is trained on stations in the unit square
observed at regular times spanning the unit interval (data are mapped there and back by
:mod:`fieldfit.neural.spacetime_data` and the SPDE's scaling laws). Its prior is stated in the
coordinates of the ``advection-diffusion-derived`` parameterisation
(:mod:`fieldfit.neural.parameterisations`), which :data:`AD_DEFAULT_BOUNDS` fills so that it
covers, in those unit scales:

- spatial range 0.03–0.5 (log-uniform);
- memory (the slowest mode's e-folding time) 0.003–3: from almost independent between steps
  (a step is 1/99 to 1/19 of the series) to persistent over the whole series;
- velocity uniform in [−2, 2]²: speeds from 0 to 2 domain widths over the series in any
  direction (up to 2√2 along the diagonals);
- nugget share 0–50 % of the total variance;
- marginal variance 0.2–5 (log-uniform) and mean −3–3: what the values' standardisation
  (:mod:`fieldfit.neural.standardise`) leaves, since a dataset is shown to the network on
  a common scale and the estimates mapped back exactly.

The design (:data:`AD_DESIGN`): 30–300 stations (uniform or clustered), 20–100 regular
times, up to 30 % of the values missing at random; simulated exactly from the continuous SPDE
by the spectral simulator (``simulator="spectral"``), so the estimator learns the model itself,
not a discretisation of it. Its grid has 8 points per spatial range
(:data:`SPECTRAL_POINTS`): the scales finer than an eighth of the range, 1.3 % of the variance
for ν = 1, are drawn as white noise at the stations (a nugget an estimator cannot tell from
1.3 % more nugget share), which makes the simulations four times cheaper than at 16 points.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..models.ad_scaling import DERIVED
from .prior import Bound, Prior
from .simulation import ModelSpec, SimulationSpec

#: the prior of advection–diffusion estimators, in unit scales (module docstring)
AD_DEFAULT_BOUNDS = {"range": Bound(0.03, 0.5, "loguniform"),
                     "memory": Bound(0.003, 3.0, "loguniform"),
                     "velocity_x": Bound(-2.0, 2.0), "velocity_y": Bound(-2.0, 2.0),
                     "marginal_variance": Bound(0.2, 5.0, "loguniform"),
                     "nugget_share": Bound(0.0, 0.5), "mean": Bound(-3.0, 3.0)}
#: stations, times and missing share of advection–diffusion estimators' simulations
AD_DESIGN = {"n_min": 30, "n_max": 300, "time_steps": (20, 100), "missing": 0.3}
#: the model's name
MODEL = "advection-diffusion"
#: grid points per range of the training simulations: the finest 1.3 % of the variance (ν = 1)
#: is drawn as white noise, at a quarter of the cost of the default 16 points (0.3 %)
SPECTRAL_POINTS = 8.0


def in_derived_coordinates(names) -> bool:
    """Whether prior or fixed ``names`` are stated in the derived coordinates (range,
    memory, velocity, marginal variance, nugget share; and the mean).

    Parameters
    ----------
    names : iterable of str
        The names given.

    Returns
    -------
    bool
        True for none at all or only derived coordinates and ``mean``.
    """
    return set(names) <= set(DERIVED) | {"mean"}


def advection_diffusion_spec(bounds: Mapping[str, Bound] | None = None,
                             fixed: Mapping[str, float] | None = None, design=None,
                             time_steps: int | tuple[int, int] | None = None,
                             missing: float | None = None,
                             model_options: Mapping | None = None) -> SimulationSpec:
    """The simulation set-up of an advection–diffusion estimator in unit scales.

    Parameters
    ----------
    bounds : mapping of str to Bound or None, optional
        Priors over :data:`AD_DEFAULT_BOUNDS` (derived coordinates and ``mean``).
    fixed : mapping of str to float or None, optional
        Fixed coordinates (removed from the estimated ones), e.g. ``nugget_share=0``.
    design : Design or None, optional
        The stations' sampler (default: uniform and clustered, 30–300 stations).
    time_steps : int, tuple of int or None, optional
        Regular times per dataset (default ``(20, 100)``).
    missing : float or None, optional
        Largest share of missing values (default 0.3).
    model_options : mapping or None, optional
        Options of the model (default ``simulator="spectral"``, ``spectral_points=8``: draws of
        the continuum, the finest 1.3 % of the variance as white noise).

    Returns
    -------
    SimulationSpec
        Times spanning the unit interval, the prior in the
        ``advection-diffusion-derived`` parameterisation.

    Raises
    ------
    ValueError
        If a name is not a derived coordinate or ``mean``, or the spec refuses the set-up.
    """
    from .designs import ClusteredDesign, MixedDesign, UniformDesign

    fixed = dict(fixed or {})
    given = set(bounds or {}) | set(fixed)
    if not in_derived_coordinates(given):
        raise ValueError(f"an advection–diffusion estimator's prior is stated in "
                         f"{list(DERIVED) + ['mean']} (unit scales); got "
                         f"{sorted(given - set(DERIVED) - {'mean'})}")
    b = {k: v for k, v in AD_DEFAULT_BOUNDS.items() if k not in fixed}
    b.update(bounds or {})
    if design is None:
        lo, hi = AD_DESIGN["n_min"], AD_DESIGN["n_max"]
        design = MixedDesign((UniformDesign(lo, hi), ClusteredDesign(lo, hi)))
    options = {"simulator": "spectral", "spectral_points": SPECTRAL_POINTS,
               **dict(model_options or {})}
    return SimulationSpec(ModelSpec(MODEL, options),
                          Prior(b, fixed, "advection-diffusion-derived"), design, 1,
                          AD_DESIGN["time_steps"] if time_steps is None else time_steps,
                          time_span=1.0,
                          missing=AD_DESIGN["missing"] if missing is None else missing)


__all__ = ["AD_DEFAULT_BOUNDS", "AD_DESIGN", "advection_diffusion_spec",
           "in_derived_coordinates"]
