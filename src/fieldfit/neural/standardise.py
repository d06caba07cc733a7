"""Value standardisation for amortized estimates: the affine equivariance of the models.

A Gaussian-field model y = m(x; β) + Z + ε (Matérn or any other covariance, with nugget τ²) is
equivariant under the affine maps of the values z → α + β z with β > 0: if z has parameters θ,
α + β z has the parameters θ' given by::

    mean, beta_intercept            →  α + β · value          ("location")
    variance, marginal_variance, nugget  →  β² · value        ("square")
    tau (advection–diffusion scale), beta_<other>  →  β · value   ("scale", "slope")
    range, smoothness, angle, ratio, time_*, separability, kappa, c, H_*, gamma_*,
    memory, velocity_*, nugget_share
                                    →  value                   ("invariant")

and the likelihood changes only by the constant factor β⁻ⁿ. A neural estimator, trained on
simulations from its prior box, is therefore given each dataset as ``α + β z`` with (α, β)
chosen so that the standardised values look like the box's centre, and its estimates (and
interval ends: β > 0 keeps their order) are mapped back exactly by the inverse of the table.
For a dataset z::

    m = median(z)                        (the location parameter is estimated)
      = μ₀                               (it is fixed at μ₀; 0 for a zero mean)
    s = 1.4826 · median |z − m|          (MAD about m; the root mean square about m when
                                          more than half the values equal m)
    β = s₀ / s,  α = c − β m

with (c, s₀) the *target*: the median over the prior's simulations of the datasets' medians and
robust scales, as measured on the validation simulations when the estimator is trained
(:func:`value_target`, stored in its metadata as ``value_target``). For estimators saved without it
(the shipped ones), c is the centre of the location's prior box (its unit scale 0.5) and s₀ = 1 when
the variance-type boxes admit a total variance of 1 (Σ lower ≤ 1 ≤ Σ upper), else s₀² = Σ of their
centres. A fixed location μ₀ is its own target, c = μ₀. Because m and s are themselves equivariant
(m(a + bz) = a + b m(z), s(a + bz) = b s(z)), ``α + β z`` is the same array for z and a + b z: the
estimates of a + b z are those of z mapped by the table, to rounding.

What is exact depends on the prior: a **fixed** location μ₀ (a zero mean: μ₀ = 0) allows only
maps that keep it, α = μ₀(1 − β), so the values are scaled about μ₀, not shifted; a fixed
variance-type, scale or slope parameter other than 0 allows no scaling (β = 1); a fixed
``nugget = 0`` (no nugget) allows any β. A parameter whose behaviour under the map is not in
the table (a model registered by a user) disables standardisation (β = 1, α = 0), with a
warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: how each parameter changes under z → α + β z (see the module docstring)
ROLES = {"mean": "location", "beta_intercept": "location", "variance": "square",
         "marginal_variance": "square", "nugget": "square", "tau": "scale"}
INVARIANT = ("range", "smoothness", "angle", "ratio", "time_range", "time_smoothness",
             "separability", "kappa", "c", "H_scale", "H_ratio", "H_angle", "gamma_x",
             "gamma_y", "memory", "velocity_x", "velocity_y", "nugget_share")
#: the normal-consistent MAD factor 1/Φ⁻¹(3/4)
MAD_FACTOR = 1.482602218505602
#: β must lie within (1/LIMIT, LIMIT): β² then stays far inside the float64 range
LIMIT = 1e150


def role(name: str) -> str | None:
    r"""How parameter ``name`` changes under :math:`z \to \alpha + \beta z` (module docstring).

    Parameters
    ----------
    name : str
        A parameter name.

    Returns
    -------
    str or None
        ``"location"``, ``"square"``, ``"scale"``, ``"slope"`` (``beta_*`` other than
        :data:`ROLES`' entries), ``"invariant"``, or ``None`` (unknown).
    """
    if name in ROLES:
        return ROLES[name]
    if name in INVARIANT:
        return "invariant"
    if name.startswith("beta_"):
        return "slope"
    return None


@dataclass(frozen=True)
class ValueMap:
    r"""The standardisation a prior allows (module docstring).

    Build it with :meth:`for_prior`. A dataset's values :math:`z` are given to the network as
    :math:`\alpha + \beta z` (:meth:`coefficients`) and estimates mapped back (:meth:`back`).

    Parameters
    ----------
    names : tuple of str
        The estimated parameters.
    location : {"free", "fixed"} or None
        Whether the location parameter is estimated, fixed, or absent (a zero mean).
    centre : float
        The target location c, or the fixed location :math:`\mu_0`.
    scaling : bool
        Whether β may differ from 1.
    target_sd : float
        The target scale :math:`s_0`.
    unknown : tuple of str, default ()
        Parameters whose role is unknown; any disables standardisation.
    """

    names: tuple[str, ...]
    location: str | None
    centre: float
    scaling: bool
    target_sd: float
    unknown: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Whether any standardisation is applied (no unknown roles, and a free location or
        scaling).
        """
        return not self.unknown and (self.location == "free" or self.scaling)

    @classmethod
    def for_prior(cls, prior, target: Mapping | None = None) -> ValueMap:
        """The map allowed by a :class:`~fieldfit.neural.prior.Prior` (estimated and fixed
        parameters).

        Parameters
        ----------
        prior : Prior
            The estimator's prior.
        target : mapping or None, optional
            ``{"location": c, "scale": s0}`` of :func:`value_target` (either key optional; ``None``:
            the prior box's rule, module docstring).

        Returns
        -------
        ValueMap
            The map.
        """
        fixed: Mapping[str, float] = prior.fixed
        names = tuple(prior.names)
        unknown = tuple(n for n in (*names, *fixed) if role(n) is None)
        loc_free = [n for n in names if role(n) == "location"]
        loc_fixed = [n for n in fixed if role(n) == "location"]
        target = dict(target or {})
        if loc_free:
            location = "free"
            centre = float(target.get("location", prior.bounds[loc_free[0]].from_unit(0.5)))
        elif loc_fixed:
            location, centre = "fixed", float(fixed[loc_fixed[0]])
        else:
            location, centre = None, 0.0
        scaling = all(float(v) == 0.0 for n, v in fixed.items()
                      if role(n) in ("square", "scale", "slope"))
        boxes = [prior.bounds[n] for n in names if role(n) == "square"]
        if "scale" in target:
            sd = float(target["scale"])
        elif boxes and sum(b.lower for b in boxes) <= 1.0 <= sum(b.upper for b in boxes):
            sd = 1.0
        elif boxes:
            sd = float(np.sqrt(sum(float(b.from_unit(0.5)) for b in boxes)))
        else:
            sd = 1.0
        return cls(names, location, centre, scaling, sd, unknown)

    def coefficients(self, values: np.ndarray, dataset="") -> tuple[float, float]:
        r"""The affine map :math:`(\alpha, \beta)` for one dataset's values.

        :math:`m` is the median (or the fixed location), :math:`s` the normal-consistent MAD about
        :math:`m` (the root mean square about :math:`m` when more than half the values equal it),
        :math:`\beta = s_0 / s` and :math:`\alpha = c - \beta m`, restricted to what the prior
        allows (module docstring).

        Parameters
        ----------
        values : numpy.ndarray, shape (r, n)
            The dataset's values (all finite).
        dataset : optional
            The dataset's label, for error messages.

        Returns
        -------
        tuple of float
            ``(alpha, beta)``; ``(0.0, 1.0)`` when the map is not active.

        Raises
        ------
        ValueError
            If the values are constant, or too large or too small for the estimates to be
            represented (β outside ``(1/LIMIT, LIMIT)``).
        """
        z = np.asarray(values, dtype=np.float64).ravel()
        if np.ptp(z) == 0:
            raise ValueError(f"dataset {dataset!r}: the values are constant (all {z[0]:g}): "
                             "nothing to estimate a covariance from")
        if not self.active:
            return 0.0, 1.0
        m = float(np.median(z)) if self.location == "free" else self.centre
        if not self.scaling:
            return (self.centre - m, 1.0) if self.location == "free" else (0.0, 1.0)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            dev = np.abs(z - m)
            s = MAD_FACTOR * float(np.median(dev))
            if not s > 0:
                big = float(dev.max())
                s = big * float(np.sqrt(np.mean((dev / big) ** 2)))
        beta = self.target_sd / s if s > 0 else np.inf
        if not (1 / LIMIT < beta < LIMIT) or not np.isfinite(m):
            raise ValueError(f"dataset {dataset!r}: the values of column 'z' are too "
                             f"{'large' if beta < 1 else 'small'} (spread {s:.3g}) for the "
                             "estimates to be represented; rescale them (e.g. other units)")
        return self.centre - beta * m, beta

    def back(self, name: str, value: np.ndarray, alpha: np.ndarray,
             beta: np.ndarray) -> np.ndarray:
        r"""Parameter ``name`` of the original values from its estimate on the standardised ones.

        Parameters
        ----------
        name : str
            The parameter.
        value : numpy.ndarray, shape (B,)
            Its estimates on the standardised values.
        alpha : numpy.ndarray, shape (B,)
            The datasets' α.
        beta : numpy.ndarray, shape (B,)
            The datasets' β.

        Returns
        -------
        numpy.ndarray, shape (B,)
            :math:`(v - \alpha)/\beta` (location), :math:`v/\beta^2` (square), :math:`v/\beta`
            (scale, slope), or :math:`v` (invariant or unknown).
        """
        r = role(name)
        if r == "location":
            return (value - alpha) / beta
        if r == "square":
            return value / beta**2
        if r in ("scale", "slope"):
            return value / beta
        return value


def value_target(values: Sequence[np.ndarray]) -> dict:
    """The standardisation's target c and :math:`s_0` from simulated datasets.

    The medians over the datasets of their medians and of their robust scales (normal-consistent
    MAD about the median; datasets with a zero MAD are left out, and 1 is used if all are); stored
    in a trained estimator's metadata.

    Parameters
    ----------
    values : sequence of numpy.ndarray
        The datasets' values, each ``(r, n)``; NaN (missing) values are left out.

    Returns
    -------
    dict
        ``{"location": c, "scale": s0}``.
    """
    values = [np.asarray(v)[~np.isnan(v)] for v in values]
    values = [v for v in values if v.size]
    meds = [float(np.median(v)) for v in values]
    mads = [MAD_FACTOR * float(np.median(np.abs(np.asarray(v) - m)))
            for v, m in zip(values, meds, strict=True)]
    mads = [s for s in mads if s > 0] or [1.0]
    return {"location": float(np.median(meds)) if meds else 0.0,
            "scale": float(np.median(mads))}


def describe(vmap: ValueMap) -> str:
    """One line saying what standardisation was done, for messages and metadata.

    Parameters
    ----------
    vmap : ValueMap
        The map.

    Returns
    -------
    str
        The description.
    """
    if vmap.unknown:
        return (f"values not standardised (the effect of rescaling the values on "
                f"{list(vmap.unknown)} is not known)")
    if not vmap.active:
        return "values not standardised (the prior fixes both their location and scale)"
    if vmap.location == "free" and vmap.scaling:
        return "values standardised by their median and MAD, estimates mapped back"
    if vmap.scaling:
        return (f"values scaled about the fixed mean {vmap.centre:g} by their MAD about it, "
                "estimates mapped back")
    return "values shifted by their median (the prior fixes their scale), estimates mapped back"


def slope_names(names: Sequence[str], coord_names: Sequence[str] = ("x", "y")) -> list[str]:
    """The mean coefficients of the coordinates among ``names`` (a linear mean).

    Parameters
    ----------
    names : sequence of str
        Parameter names.
    coord_names : sequence of str, default ("x", "y")
        The coordinates' names.

    Returns
    -------
    list of str
        The names ``beta_<coord>`` present, in the order of ``names``.
    """
    return [n for n in names if n in {f"beta_{c}" for c in coord_names}]
