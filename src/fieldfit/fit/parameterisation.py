r"""What a model's parameters mean: the covariance behind ``range`` and the practical range.

Every summary table (:meth:`fieldfit.FitResult.summary`, the tables of ``fieldfit fit``,
``fieldfit estimate`` and ``fieldfit sample``) ends with one line that names the model's
covariance, so that ``range`` is read as the ℓ of its formula, and shows the practical range
beside ℓ: the distance at which the correlation has fallen to about 0.14. For the Matérn
covariance

.. math::

    C(h) = \sigma^2 \frac{2^{1-\nu}}{\Gamma(\nu)} (h/\ell)^\nu K_\nu(h/\ell),

it is :math:`\sqrt{8\nu}\,\ell` (Lindgren, Rue & Lindström 2011, §2.1), with the estimated
ν when the smoothness is estimated. The descriptions are kept here, keyed by the model's
name (``FitResult.model``, ``model.name``), so that the covariance classes stay free of
presentation.

Units: distances are in the units of the coordinates ("data units"), or in km for lon/lat
data (chordal distances, :mod:`fieldfit.geo`); temporal ranges in the units of the time
column (days when it holds dates, :mod:`fieldfit.data`).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, gamma, kv
from scipy.stats import norm

#: the unit of planar distances (the coordinates' own, whatever they are)
DATA_UNITS = "data units"
#: the unit of temporal ranges (the time column's own; days when it holds dates)
TIME_UNITS = "time units"
#: width at which the parameterisation line is wrapped
LINE_WIDTH = 100

_MATERN = "2^{1−ν}/Γ(ν) r^ν K_ν(r)"
#: the correlation functions ρ(r) of the isotropic covariances, by ``Covariance.name``
_CORRELATIONS = {
    "matern": "Matérn ρ(r) = " + _MATERN,
    "exponential": "exponential ρ(r) = exp(−r) (the Matérn with ν = 1/2)",
    "gaussian": "Gaussian ρ(r) = exp(−r²/2) (the Matérn limit ν → ∞)",
}
#: the covariances themselves, C(h) in terms of ℓ = range
_COVARIANCES = {
    "matern": "Matérn C(h) = σ² 2^{1−ν}/Γ(ν) (h/ℓ)^ν K_ν(h/ℓ)",
    "exponential": "exponential C(h) = σ² exp(−h/ℓ) (the Matérn with ν = 1/2)",
    "gaussian": "Gaussian C(h) = σ² exp(−h²/(2ℓ²)) (the Matérn limit ν → ∞)",
}


@dataclass(frozen=True)
class Derived:
    """A quantity derived from a model's parameters, such as the practical range.

    Parameters
    ----------
    name : str
        Its row label, e.g. ``"practical_range"``.
    inputs : tuple of str
        The parameters it is computed from.
    formula : str
        How, in words of the parameters, e.g. ``"√(8ν)·ℓ"``.
    unit : str
        ``"space"`` or ``"time"``: which unit it is measured in.
    function : callable
        ``function(params)`` for a mapping of the inputs to floats or arrays (draws); returns
        the value, a float or an array of the inputs' shape.
    """

    name: str
    inputs: tuple[str, ...]
    formula: str
    unit: str
    function: Callable


def matern_correlation_at(r: float, nu: float) -> float:
    """The Matérn correlation :math:`2^{1-\\nu}/\\Gamma(\\nu)\\, r^\\nu K_\\nu(r)` at ``r``.

    Parameters
    ----------
    r : float
        A scaled distance ``h/ℓ`` > 0.
    nu : float
        The smoothness ν > 0.

    Returns
    -------
    float
        The correlation, in (0, 1).
    """
    return float(2.0 ** (1.0 - nu) / gamma(nu) * r ** nu * kv(nu, r))


def _practical(source: str, how: str) -> Derived:
    """The practical range of the isotropic correlation ``how`` with its range ``source``."""
    prefix = "time_" if source.startswith("time_") else ""
    label = "ℓ_T" if prefix else "ℓ"
    unit = "time" if prefix else "space"
    if how == "matern":
        nu = prefix + "smoothness"
        return Derived(f"{prefix}practical_range", (source, nu), f"√(8ν)·{label}", unit,
                       lambda p: np.sqrt(8.0 * np.asarray(p[nu])) * p[source])
    if how in ("exponential", "gaussian"):
        return Derived(f"{prefix}practical_range", (source,), f"2{label}", unit,
                       lambda p: 2.0 * np.asarray(p[source]))
    raise KeyError(how)


def _matern_note(params: Mapping[str, float], fixed: Sequence[str], prefix: str = "") -> str:
    """"ν = smoothness (fixed at 1.5)" or "ν = smoothness (estimated: 0.8)"."""
    key = prefix + "smoothness"
    if key not in params:
        return f"ν = {key}"
    nu = float(params[key])
    return f"ν = {key} ({'fixed at' if key in fixed else 'estimated:'} {nu:.3g})"


def _matern_correlation_note(params: Mapping[str, float], prefix: str = "") -> str:
    """"correlation 0.14 there" at the practical range √(8ν)·ℓ for the ν of ``params``."""
    nu = float(params.get(prefix + "smoothness", float("nan")))
    if not nu > 0:
        return "correlation ≈ 0.14 there"
    return f"correlation {matern_correlation_at(math.sqrt(8.0 * nu), nu):.2f} there"


def _isotropic(base: str, params, fixed,
               anisotropic: bool = False) -> tuple[str, list[Derived]] | None:
    """The line and the practical range of an isotropic covariance named ``base`` (made
    geometrically anisotropic with ``anisotropic``)."""
    if base not in _COVARIANCES:
        return None
    if anisotropic:
        text = (f"range ℓ along the angle θ = angle (radians from the x axis; ratio·ℓ across "
                f"it) of the {_COVARIANCES[base]}, h the anisotropic distance")
    else:
        text = f"range ℓ of the {_COVARIANCES[base]}"
    if base == "matern":
        text += (f", {_matern_note(params, fixed)}; practical range √(8ν)·ℓ "
                 f"({_matern_correlation_note(params)})")
    else:
        text += "; practical range 2ℓ (correlation e^{−2} ≈ 0.14 there)"
    return text, [_practical("range", base)]


def _separable(space: str, time: str, params, fixed) -> tuple[str, list[Derived]] | None:
    if space not in _CORRELATIONS or time not in _CORRELATIONS:
        return None
    nu = f" with {_matern_note(params, fixed)}" if space == "matern" else ""
    text = ("C(h, u) = σ² ρ_S(‖h‖/ℓ) ρ_T(|u|/ℓ_T), ℓ = range, ℓ_T = time_range; ρ_S the "
            f"{_CORRELATIONS[space]}{nu}; ρ_T the {_CORRELATIONS[time]}")
    derived = [_practical("range", space), _practical("time_range", time)]
    text += ("; practical ranges " + ", ".join(
        f"{d.formula} in {d.unit}" for d in derived))
    return text, derived


def _gneiting(params, fixed) -> tuple[str, list[Derived]]:
    text = ("Gneiting (2002) C(h, u) = σ² ψ(u)^{−βd/2} exp(−(‖h‖/ℓ)^{2γ} ψ(u)^{−βγ}), "
            "ψ(u) = 1 + (|u|/ℓ_T)^{2α}: ℓ = range, ℓ_T = time_range, γ = smoothness, "
            "α = time_smoothness, β = separability (0: separable), d the spatial dimension; "
            "practical range 2^{1/(2γ)}·ℓ in space at u = 0 (correlation e^{−2} ≈ 0.14 there)")
    derived = Derived("practical_range", ("range", "smoothness"), "2^{1/(2γ)}·ℓ", "space",
                      lambda p: 2.0 ** (0.5 / np.asarray(p["smoothness"])) * p["range"])
    return text, [derived]


def _spde(params, fixed) -> tuple[str, list[Derived]]:
    nu = params.get("smoothness")
    order = "" if nu is None else f" = {float(nu):g}"
    how = ("fixed" if "smoothness" in (fixed or {}) else "estimated") + (
        "" if nu is None or abs(float(nu) + 1.0 - round(float(nu) + 1.0)) < 1e-9 else
        ", the fractional order by a rational approximation")
    text = ("range ℓ = 1/κ of the SPDE (κ² − Δ)^{α/2} x = W/τ, whose field has the Matérn "
            f"C(h) = σ² 2^{{1−ν}}/Γ(ν) (h/ℓ)^ν K_ν(h/ℓ) with ν = α − d/2{order} ({how}); "
            f"practical range √(8ν)·ℓ ({_matern_correlation_note(params)})")
    return text, [_practical("range", "matern")]


def _advection_diffusion(params, fixed, options) -> tuple[str, list[Derived]]:
    text = ("advection–diffusion SPDE [∂/∂t + (1/c)(κ² − ∇·H∇)^α + (1/c)γ·∇] X = (τ/√c) Z "
            "(Clarotto et al. 2024): kappa = κ the damping (spatial scale 1/κ), c the time "
            "scale, tau = τ the noise scale, H = H_scale·R(H_angle) diag(1, H_ratio²) "
            "R(H_angle)ᵀ the diffusion, γ = (gamma_x, gamma_y) the advection (transport "
            "velocity γ/c); the stationary spatial marginal is a Matérn with range "
            "√H_scale/κ and ν = α + α_s − d/2")
    alpha, alpha_s = (options or {}).get("alpha"), (options or {}).get("alpha_s")
    if "kappa" not in params or alpha is None or alpha_s is None:
        return text + " (practical range √(8ν)·√H_scale/κ)", []
    nu = float(alpha) + float(alpha_s) - 1.0  # the mesh is 2-D
    text += f" = {nu:g} here (α = {alpha}, α_s = {alpha_s}); practical range √(8ν)·√H_scale/κ"
    derived = Derived("practical_range", ("kappa", "H_scale"), "√(8ν)·√H_scale/κ", "space",
                      lambda p: math.sqrt(8.0 * nu) * np.sqrt(np.asarray(p.get("H_scale", 1.0)))
                      / np.asarray(p["kappa"]))
    return text, [derived]


def describe(model: str, params: Mapping[str, float], fixed: Sequence[str] = (),
             options: Mapping | None = None) -> tuple[str, list[Derived]]:
    """The parameterisation of the model named ``model`` and its derived practical ranges.

    Parameters
    ----------
    model : str
        The model's name (``model.name``, ``FitResult.model``): ``"matern"``,
        ``"exponential"``, ``"gaussian"``, ``"anisotropic-<base>"``,
        ``"separable-<space>-<time>"``, ``"gneiting"``, ``"matern-spde"``,
        ``"advection-diffusion"``.
    params : mapping of str to float
        The parameter values (estimates), fixed ones included.
    fixed : sequence of str, optional
        The names of the fixed parameters.
    options : mapping, optional
        The model's options (``model.to_spec()``): the advection–diffusion model's practical
        range needs its ``alpha`` and ``alpha_s``.

    Returns
    -------
    text : str
        One sentence naming the covariance and what each parameter is in it.
    derived : list of Derived
        The practical ranges whose inputs are all in ``params`` (none for a model without a
        description).
    """
    name = str(model)
    if name.startswith("anisotropic-"):
        out = _isotropic(name[len("anisotropic-"):], params, fixed, anisotropic=True)
    elif name.startswith("separable-") and name.count("-") == 2:
        out = _separable(*name.split("-")[1:], params, fixed)
    elif name == "gneiting":
        out = _gneiting(params, fixed)
    elif name == "matern-spde":
        out = _spde(params, fixed)
    elif name == "advection-diffusion":
        out = _advection_diffusion(params, fixed, options)
    else:
        out = _isotropic(name, params, fixed)
    if out is None:
        return (f"the parameters of the {name} model: see its documentation", [])
    text, derived = out
    return text, [d for d in derived if all(k in params or k == "H_scale" for k in d.inputs)]


def parameterisation_line(model: str, params: Mapping[str, float], fixed: Sequence[str] = (),
                          options: Mapping | None = None, space_unit: str = DATA_UNITS,
                          time_unit: str = TIME_UNITS) -> list[str]:
    """The parameterisation sentence of :func:`describe` with the units, wrapped for a table.

    Parameters
    ----------
    model, params, fixed, options
        As :func:`describe`.
    space_unit : str, optional
        The unit of distances: ``"data units"`` (planar coordinates) or ``"km"`` (lon/lat).
    time_unit : str, optional
        The unit of temporal ranges.

    Returns
    -------
    list of str
        The lines (the sentence wrapped at :data:`LINE_WIDTH` characters, continuation lines
        indented by two spaces).
    """
    text, _ = describe(model, params, fixed, options)
    units = f"; distances in {space_unit}"
    if any(k.startswith("time_") for k in params) or model == "advection-diffusion":
        units += f", times in {time_unit}" + (" (days when the time column holds dates)"
                                              if time_unit == TIME_UNITS else "")
    return textwrap.wrap(text + units, LINE_WIDTH, subsequent_indent="  ",
                         break_on_hyphens=False)


def unit_of(derived: Derived, space_unit: str = DATA_UNITS, time_unit: str = TIME_UNITS) -> str:
    """The unit of a derived quantity: ``space_unit`` or ``time_unit`` by its kind.

    Parameters
    ----------
    derived : Derived
        The quantity.
    space_unit, time_unit : str, optional
        The units of distances and of times.

    Returns
    -------
    str
        The unit.
    """
    return time_unit if derived.unit == "time" else space_unit


# --- standard errors and intervals -------------------------------------------------------------
def natural_value(u: float, scale) -> float:
    """The natural value of an unconstrained one.

    Parameters
    ----------
    u : float
        The unconstrained value.
    scale : str or list
        ``"log"``, ``["logit", a, b]`` or ``"identity"`` (``FitResult.scales``).

    Returns
    -------
    float
        e^u, a + (b − a) expit(u), or u (inf where e^u overflows).
    """
    if scale == "log":
        with np.errstate(over="ignore"):
            return float(np.exp(u))
    if isinstance(scale, (list, tuple)) and scale[0] == "logit":
        a, b = float(scale[1]), float(scale[2])
        return a + (b - a) * float(expit(u))
    return float(u)


def unconstrained_value(theta: float, scale) -> float:
    """The inverse of :func:`natural_value`.

    Parameters
    ----------
    theta : float
        The natural value (inside the scale's domain).
    scale : str or list
        As :func:`natural_value`.

    Returns
    -------
    float
        log θ, logit((θ − a)/(b − a)), or θ (±inf on the domain's edge).
    """
    with np.errstate(divide="ignore"):
        if scale == "log":
            return float(np.log(theta))
        if isinstance(scale, (list, tuple)) and scale[0] == "logit":
            a, b = float(scale[1]), float(scale[2])
            p = (theta - a) / (b - a)
            return float(np.log(p) - np.log1p(-p))
    return float(theta)


def natural_slope(theta: float, scale) -> float:
    """dθ/du at θ: the slope of the natural value in the unconstrained one.

    Parameters
    ----------
    theta : float
        The natural value.
    scale : str or list
        Its unconstrained scale: ``"log"``, ``["logit", a, b]`` or ``"identity"``
        (``FitResult.scales``).

    Returns
    -------
    float
        θ for "log", (b − a) p (1 − p) with p = (θ − a)/(b − a) for "logit", 1 otherwise.
    """
    if scale == "log":
        return theta
    if isinstance(scale, (list, tuple)) and scale[0] == "logit":
        a, b = float(scale[1]), float(scale[2])
        p = (theta - a) / (b - a)
        return (b - a) * p * (1.0 - p)
    return 1.0


def log_gradient(derived: Derived, params: Mapping[str, float], scales: Mapping,
                 names: Sequence[str], step: float = 1e-6) -> np.ndarray:
    """∂ log g / ∂u of a derived quantity g over the unconstrained parameters ``names``.

    Parameters
    ----------
    derived : Derived
        The quantity g.
    params : mapping of str to float
        The parameter values at which to differentiate.
    scales : mapping
        Each parameter's unconstrained scale, as ``FitResult.scales``.
    names : sequence of str
        The parameters to differentiate by (central differences of ``step`` in u).
    step : float, optional
        The difference step on the unconstrained scale.

    Returns
    -------
    numpy.ndarray
        The gradient ``(len(names),)``.
    """
    grad = np.zeros(len(names))
    for i, name in enumerate(names):
        scale = scales.get(name, "identity")
        u = unconstrained_value(float(params[name]), scale)
        values = []
        for du in (step, -step):
            moved = {**params, name: natural_value(u + du, scale)}
            values.append(math.log(float(derived.function(moved))))
        grad[i] = (values[0] - values[1]) / (2.0 * step)
    return grad


@dataclass(frozen=True)
class DerivedEstimate:
    """A derived quantity's estimate with its standard error and Wald interval.

    Parameters
    ----------
    name : str
        Its label, e.g. ``"practical_range"``.
    value : float
        The estimate.
    stderr : float or None
        Its delta-method standard error, None when it cannot be formed.
    interval : tuple of float, or None
        Its Wald interval, formed on the log scale and mapped back, None without a standard
        error.
    formula : str
        How it is computed, e.g. ``"√(8ν)·ℓ"``.
    unit : str
        Its unit, e.g. ``"data units"`` or ``"km"``.
    fixed : bool
        All of its inputs are fixed (it is then fixed too).
    """

    name: str
    value: float
    stderr: float | None
    interval: tuple[float, float] | None
    formula: str
    unit: str
    fixed: bool = False

    def to_dict(self) -> dict:
        """The estimate as plain JSON values.

        Returns
        -------
        dict
            ``{"value", "stderr", "interval", "formula", "unit", "fixed"}`` (non-finite
            numbers as None).
        """
        def clean(v):
            return None if v is None or not math.isfinite(v) else float(v)

        return {"value": clean(self.value), "stderr": clean(self.stderr),
                "interval": None if self.interval is None else [clean(v) for v in self.interval],
                "formula": self.formula, "unit": self.unit, "fixed": self.fixed}

    @classmethod
    def from_dict(cls, name: str, d: Mapping) -> DerivedEstimate:
        """The inverse of :meth:`to_dict`.

        Parameters
        ----------
        name : str
            The label.
        d : mapping
            The output of :meth:`to_dict`.

        Returns
        -------
        DerivedEstimate
            The estimate (missing numbers as NaN).
        """
        value = d.get("value")
        interval = d.get("interval")
        return cls(name, float("nan") if value is None else float(value), d.get("stderr"),
                   None if interval is None or None in interval else tuple(interval),
                   str(d.get("formula", "")), str(d.get("unit", "")), bool(d.get("fixed")))


def wald_derived(derived: Derived, params: Mapping[str, float],
                 stderr: Mapping[str, float | None], scales: Mapping, fixed: Sequence[str],
                 cov_u: Mapping[tuple[str, str], float] | None = None, level: float = 0.95,
                 unit: str = DATA_UNITS) -> DerivedEstimate:
    """A derived quantity's estimate, delta-method standard error and log-scale Wald interval.

    With one estimated input the standard error follows from that input's own (for a range
    times a fixed factor the interval is the range's interval times the factor, exactly);
    with several, their joint covariance on the unconstrained scale ``cov_u`` is needed.

    Parameters
    ----------
    derived : Derived
        The quantity g.
    params : mapping of str to float
        The estimates.
    stderr : mapping of str to float or None
        Their standard errors (None: fixed, on the edge of the search box, or not available).
    scales : mapping
        Each parameter's unconstrained scale (``FitResult.scales``).
    fixed : sequence of str
        The fixed parameters.
    cov_u : mapping, optional
        Covariances ``{(a, b): value}`` of the estimated inputs on the unconstrained scale.
    level : float, optional
        The interval's level.
    unit : str, optional
        The quantity's unit.

    Returns
    -------
    DerivedEstimate
        The estimate; its standard error and interval are None when an estimated input has no
        standard error, or several inputs are estimated and ``cov_u`` is not given.
    """
    inputs = {k: float(params.get(k, 1.0)) for k in derived.inputs}
    value = float(derived.function(inputs))
    free = [k for k in derived.inputs if k in params and k not in fixed]
    if not free:
        return DerivedEstimate(derived.name, value, None, None, derived.formula, unit, True)
    if any(stderr.get(k) is None for k in free):
        return DerivedEstimate(derived.name, value, None, None, derived.formula, unit)
    grad = log_gradient(derived, inputs, scales, free)
    if len(free) == 1:
        k = free[0]
        se_u = float(stderr[k]) / abs(natural_slope(inputs[k], scales.get(k, "identity")))
        var = (grad[0] * se_u) ** 2
    elif cov_u is None or any((a, b) not in cov_u for a in free for b in free):
        return DerivedEstimate(derived.name, value, None, None, derived.formula, unit)
    else:
        cov = np.array([[cov_u[(a, b)] for b in free] for a in free])
        var = float(grad @ cov @ grad)
    if not (var >= 0 and math.isfinite(var)):
        return DerivedEstimate(derived.name, value, None, None, derived.formula, unit)
    sd_log = math.sqrt(var)
    z = float(norm.ppf(0.5 + level / 2))
    with np.errstate(over="ignore"):   # a huge log-scale sd: the upper end is +inf
        lower, upper = value * np.exp(-z * sd_log), value * np.exp(z * sd_log)
    return DerivedEstimate(derived.name, value, value * sd_log, (float(lower), float(upper)),
                           derived.formula, unit)


__all__ = ["DATA_UNITS", "TIME_UNITS", "Derived", "DerivedEstimate", "describe",
           "log_gradient", "matern_correlation_at", "natural_slope", "parameterisation_line",
           "unit_of", "wald_derived"]
