r"""The advection–diffusion SPDE in other units of space and time, and what its parameters mean.

**Scaling laws.** With coordinates s' = (s − s₀)/L and times t' = (t − t₀)/T, the field
X'(s', t') = X(s, t) solves the same SPDE (d = 2,
:mod:`fieldfit.spde.advection_diffusion`) with

.. math::

    \kappa' = \kappa L, \quad c' = c\, L^{2\alpha} / T, \quad \gamma' = \gamma\, L^{2\alpha - 1},
    \quad \tau' = \tau\, L^{\alpha + \alpha_s - d/2}, \quad H' = H,

and the nugget and the mean unchanged. Derivation: :math:`\nabla_s = L^{-1}\nabla_{s'}` makes
:math:`\kappa^2 - \nabla\cdot H\nabla = L^{-2}(\kappa'^2 - \nabla'\cdot H\nabla')` (H is
dimensionless); multiplying the equation by T gives c' and γ'/c' = (γ/c) T/L (a velocity);
white noise in time scales as :math:`T^{-1/2}` and in space as :math:`L^{-d/2}`, and the
spatial colouring :math:`(\kappa^2 - \nabla\cdot H\nabla)^{-\alpha_s/2}` as
:math:`L^{\alpha_s}`, which with :math:`\sqrt{T/c} \to \sqrt{T/c'}` gives τ'. The marginal
variance :math:`\propto \tau^2/\kappa^{2\nu}`, ν = α + α_s − d/2, is unchanged, as it must be.
The shifts s₀, t₀ change nothing: the model is stationary. The finite-element model obeys the
same laws exactly for α = 1 when its mesh and time step are scaled alike (C̃' = C̃/L²,
G' = G, and every term of the θ-scheme scales by L⁻²); for α = 2 the streamline diffusion's
Péclet number is not scale-free, so there the laws hold for the continuum only.

**Derived quantities** (:func:`derived_quantities`): the spatial range √(8ν)/κ · √H_scale along
H's main axis (λ times it across), the velocity v = γ/c (speed |v| and
direction in degrees anticlockwise from +x), the marginal variance above, and the memory of
the slowest mode c/κ^{2α} (its correlation falls by e over that time).
:func:`params_from_derived` inverts the map from (range, memory, velocity, marginal variance,
nugget share) to the model's parameters: the coordinates in which a prior over "how far, how
long, how fast, how noisy" is stated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

#: the spatial dimension of the model
DIMENSION = 2
#: parameters the laws leave unchanged
UNCHANGED = ("H_scale", "H_ratio", "H_angle", "nugget", "mean")


def _check_orders(alpha: int, alpha_s: int) -> None:
    if alpha not in (1, 2) or alpha_s not in (0, 1, 2):
        raise ValueError(f"alpha must be 1 or 2 and alpha_s 0, 1 or 2, got {alpha}, {alpha_s}")


def rescaled_params(params: Mapping[str, float], length: float, duration: float = 1.0,
                    alpha: int = 1, alpha_s: int = 1) -> dict[str, float]:
    """The parameters of the same field in coordinates divided by ``length`` and times by
    ``duration`` (module docstring: the scaling laws).

    Parameters
    ----------
    params : Mapping
        Natural parameter values (``kappa``, ``c``, ``tau``, ``gamma_x``, ``gamma_y``, and
        any of ``H_scale``, ``H_ratio``, ``H_angle``, ``nugget``, ``mean``): floats, or
        arrays (then every output is an array).
    length : float
        L: the new unit of length, in the old units (> 0).
    duration : float, default 1.0
        T: the new unit of time, in the old units (> 0).
    alpha, alpha_s : int, default 1
        The orders of the diffusion operator and of the noise's colour.

    Returns
    -------
    dict
        The parameters in the new units (the same keys).

    Raises
    ------
    ValueError
        For a length or duration that is not positive and finite, orders the model does not
        take, or a parameter the laws do not cover (a coefficient of a mean in the
        coordinates, a nonstationary field's coefficient).
    """
    L, T = float(length), float(duration)
    if not (L > 0 and math.isfinite(L)) or not (T > 0 and math.isfinite(T)):
        raise ValueError(f"length and duration must be positive and finite, got {length}, "
                         f"{duration}")
    _check_orders(alpha, alpha_s)
    laws = {"kappa": L, "c": L ** (2 * alpha) / T, "gamma_x": L ** (2 * alpha - 1),
            "gamma_y": L ** (2 * alpha - 1), "tau": L ** (alpha + alpha_s - DIMENSION / 2)}
    unknown = sorted(set(params) - set(laws) - set(UNCHANGED))
    if unknown:
        raise ValueError(f"no scaling law for {unknown}: the laws cover the stationary model "
                         f"with a constant mean ({sorted(laws) + list(UNCHANGED)})")
    if all(np.ndim(v) == 0 for v in params.values()):
        return {k: float(v) * laws.get(k, 1.0) for k, v in params.items()}
    return {k: np.asarray(v, dtype=np.float64) * laws.get(k, 1.0) for k, v in params.items()}


def derived_quantities(params: Mapping, alpha: int = 1, alpha_s: int = 1) -> dict:
    """What the parameters mean: range, velocity, marginal variance, memory.

    Parameters
    ----------
    params : Mapping
        Natural values of ``kappa``, ``c``, ``tau``, ``gamma_x``, ``gamma_y`` and optionally
        ``H_scale``, ``H_ratio``, ``H_angle`` (defaults 1, 1, 0): floats, or arrays of one
        shape (then every output is an array).
    alpha, alpha_s : int, default 1
        The orders of the diffusion operator and of the noise's colour.

    Returns
    -------
    dict
        ``range`` (√(8ν)/κ times √(H_scale), along H's main axis; ν = α + α_s − 1 ≥ ½ taken
        for the range where it is smaller), ``speed`` and ``direction`` (degrees, in
        (−180, 180]) of v = γ/c, ``velocity_x``, ``velocity_y``, ``marginal_variance`` (inf
        where ν ≤ 0) and ``memory`` c/κ^{2α}: floats for float inputs.
    """
    _check_orders(alpha, alpha_s)
    scalar = all(np.ndim(v) == 0 for v in params.values())
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    kappa, c, tau = p["kappa"], p["c"], p["tau"]
    h_scale = p.get("H_scale", 1.0)
    ratio = p.get("H_ratio", 1.0)
    nu = alpha + alpha_s - DIMENSION / 2
    vx, vy = p.get("gamma_x", 0.0) / c, p.get("gamma_y", 0.0) / c
    det_h = (h_scale ** 2) * ratio ** 2
    variance = (tau ** 2 / 2 * math.gamma(nu) / (math.gamma(alpha + alpha_s) * 4 * math.pi
                                                  * kappa ** (2 * nu) * np.sqrt(det_h))
                if nu > 0 else np.full_like(kappa, np.inf))
    out = {"range": math.sqrt(8 * max(nu, 0.5)) / kappa * np.sqrt(h_scale),
           "speed": np.hypot(vx, vy), "direction": np.degrees(np.arctan2(vy, vx)),
           "velocity_x": vx, "velocity_y": vy,
           "marginal_variance": variance, "memory": c / kappa ** (2 * alpha)}
    return {k: float(v) for k, v in out.items()} if scalar else out


#: the coordinates of :func:`params_from_derived`
DERIVED = ("range", "memory", "velocity_x", "velocity_y", "marginal_variance", "nugget_share")


def params_from_derived(derived: Mapping, alpha: int = 1, alpha_s: int = 1) -> dict:
    r"""The model's parameters from range, memory, velocity, marginal variance and nugget share.

    With ν = α + α_s − 1 > 0 and H = I (``H_scale`` 1):

    .. math::

        \kappa = \sqrt{8\nu}/\rho, \quad c = m\,\kappa^{2\alpha}, \quad
        \gamma = c\,v, \quad
        \tau^2 = \frac{2\sigma^2\,\Gamma(\alpha + \alpha_s)\,4\pi\,\kappa^{2\nu}}
                        {\Gamma(\nu)}, \quad
        \tau_\varepsilon^2 = \frac{s}{1 - s}\,\sigma^2,

    ρ the range, m the memory, v the velocity, σ² the marginal variance and s the nugget's
    share of the total variance; the inverse of :func:`derived_quantities` on those.

    Parameters
    ----------
    derived : Mapping
        ``range`` (> 0), ``memory`` (> 0), ``velocity_x``, ``velocity_y``,
        ``marginal_variance`` (> 0), ``nugget_share`` (in [0, 1)); other keys (``mean``) are
        passed through. Floats, or arrays of one shape (then every output is an array).
    alpha, alpha_s : int, default 1
        The orders of the diffusion operator and of the noise's colour.

    Returns
    -------
    dict
        ``kappa``, ``c``, ``tau``, ``gamma_x``, ``gamma_y``, ``nugget``, ``H_scale`` (1), and
        the keys passed through: floats for float inputs.

    Raises
    ------
    ValueError
        For a missing coordinate, a value outside its domain, or ν ≤ 0 (no finite variance).
    """
    _check_orders(alpha, alpha_s)
    missing = [k for k in DERIVED if k not in derived]
    if missing:
        raise ValueError(f"params_from_derived needs {list(DERIVED)}; missing {missing}")
    scalar = all(np.ndim(v) == 0 for v in derived.values())
    d = {k: np.asarray(v, dtype=np.float64) for k, v in derived.items()}
    nu = alpha + alpha_s - DIMENSION / 2
    if nu <= 0:
        raise ValueError("the marginal variance is infinite for α + α_s ≤ 1: no map from it")
    for k in ("range", "memory", "marginal_variance"):
        if not np.all((d[k] > 0) & np.isfinite(d[k])):
            raise ValueError(f"{k} must be positive and finite, got {d[k]}")
    if not np.all((d["nugget_share"] >= 0.0) & (d["nugget_share"] < 1.0)):
        raise ValueError(f"nugget_share must be in [0, 1), got {d['nugget_share']}")
    kappa = np.sqrt(8 * nu) / d["range"]
    c = d["memory"] * kappa ** (2 * alpha)
    tau = np.sqrt(2 * d["marginal_variance"] * math.gamma(alpha + alpha_s) * 4 * math.pi
                  * kappa ** (2 * nu) / math.gamma(nu))
    share = d["nugget_share"]
    out = {k: v for k, v in d.items() if k not in DERIVED}
    out.update({"kappa": kappa, "c": c, "tau": tau, "gamma_x": c * d["velocity_x"],
                "gamma_y": c * d["velocity_y"], "H_scale": np.ones_like(kappa),
                "nugget": share / (1.0 - share) * d["marginal_variance"]})
    return {k: float(v) for k, v in out.items()} if scalar else out


def derived_rescaled(derived: Mapping, length: float, duration: float = 1.0) -> dict:
    """The derived coordinates of the same field in coordinates divided by ``length`` and
    times by ``duration``: range / L, memory / T, velocity · T / L; the marginal variance,
    the nugget share and the mean unchanged (the laws of :func:`rescaled_params` seen
    through :func:`params_from_derived`).

    Parameters
    ----------
    derived : Mapping
        Any of ``range``, ``memory``, ``velocity_x``, ``velocity_y``, ``speed``,
        ``marginal_variance``, ``nugget_share``, ``direction``, ``mean`` (floats or arrays).
    length : float
        L (> 0).
    duration : float, default 1.0
        T (> 0).

    Returns
    -------
    dict
        The same keys in the new units.

    Raises
    ------
    ValueError
        For a length or duration that is not positive and finite, or a key without a law.
    """
    L, T = float(length), float(duration)
    if not (L > 0 and math.isfinite(L)) or not (T > 0 and math.isfinite(T)):
        raise ValueError(f"length and duration must be positive and finite, got {length}, "
                         f"{duration}")
    laws = {"range": 1 / L, "memory": 1 / T, "velocity_x": T / L, "velocity_y": T / L,
            "speed": T / L, "marginal_variance": 1.0, "nugget_share": 1.0, "direction": 1.0,
            "mean": 1.0}
    unknown = sorted(set(derived) - set(laws))
    if unknown:
        raise ValueError(f"no scaling law for {unknown} among the derived coordinates "
                         f"({sorted(laws)})")
    return {k: v * laws[k] for k, v in derived.items()}


__all__ = ["DERIVED", "derived_quantities", "derived_rescaled", "params_from_derived",
           "rescaled_params"]
