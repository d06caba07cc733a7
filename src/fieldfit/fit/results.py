"""The result of a fit, in the JSON format that DESIGN.md fixes::

    {"model", "engine", "params": {name: value}, "stderr": {name: value}, "loglik", "n",
     "seconds"}

followed by details (fixed parameters, convergence, whether Ctrl-C stopped it, restarts, 95%
intervals with how they were formed, information criteria, the practical ranges derived from
the estimates with their units). Standard errors of fixed parameters are ``null``. Files are
written atomically by :mod:`fieldfit.io`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import norm

from ..io import write_atomic, write_table  # noqa: F401  (re-exported)
from .parameterisation import (
    DATA_UNITS,
    TIME_UNITS,
    DerivedEstimate,
    describe,
    natural_slope,
    natural_value,
    parameterisation_line,
    unconstrained_value,
    unit_of,
    wald_derived,
)

#: how the intervals in the JSON (``"intervals"``) and the summary are formed
INTERVAL_METHOD = ("95% Wald on the unconstrained scale (log for positive parameters, logit "
                   "for bounded ones, identity for mean coefficients), mapped back")


def _clean(v):
    """``v`` as a float, or None when it is None or not finite (strict JSON)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _clean_tree(v):
    """A nested dict/list with every non-finite float as None (strict JSON: no NaN,
    Infinity)."""
    if isinstance(v, dict):
        return {k: _clean_tree(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean_tree(x) for x in v]
    return _clean(v) if isinstance(v, float) else v


@dataclass
class FitResult:
    r"""Estimates with standard errors, the maximised log-likelihood and how it was reached.

    :func:`fieldfit.fit` returns one; :meth:`to_json` and :meth:`from_json` write and read the
    JSON that ``fieldfit fit --out`` writes, and :meth:`summary` is the table it prints.

    Parameters
    ----------
    model : str
        The model's name (``model.name``: ``"matern"``, ``"gneiting"``, ...).
    engine : str
        The likelihood engine's name (``"exact"``, ``"vecchia"``, ``"spde"``).
    params : dict of str to float
        The estimates on their natural scale, fixed parameters and the mean coefficients
        included.
    stderr : dict of str to float or None
        Standard errors from the observed information (None for fixed parameters, those on
        the edge of their search box, and after Ctrl-C).
    loglik : float
        The maximised log-likelihood ℓ(θ̂).
    n : int
        The number of observations (observed locations × replicates).
    seconds : float
        The fit's wall-clock time.
    fixed : list of str
        The fixed parameters.
    converged : bool
        The optimiser reported convergence.
    message : str
        The optimiser's message and notes of the fit.
    iterations, evaluations : int
        Optimiser iterations and likelihood evaluations.
    restarts : list of float
        The log-likelihood each start reached.
    n_free : int
        The number of estimated parameters (for :attr:`aic` and :attr:`bic`).
    on_edge : list of str
        Estimated parameters on the edge of their search box (no standard error).
    interrupted : bool
        Ctrl-C stopped the fit: the best point so far, no standard errors.
    scales : dict
        The scale of each estimated parameter's Wald interval: ``"log"``, ``["logit", a, b]``
        or ``"identity"`` (see :meth:`confidence_interval`).
    units : dict of str to str
        Units of the parameters that have a known one: ``{"range": "km"}`` for lon/lat
        coordinates. Planar ranges are in the coordinates' own units ("data units").
    discretisation : dict or None
        For models on a mesh and a time grid (``model.discretisation_check``): the settings
        used, the refined ones and the relative shift of each estimate; None when not checked.
    hessian : numpy.ndarray or None
        −∇²ℓ in the free unconstrained parameters at the estimate ``(k, k)``, in the order of
        the first k keys of ``scales``, as the fit computed it for the standard errors (not
        written to JSON; None without them).
    saved_practical_ranges : dict or None
        The practical ranges as read back from JSON by :meth:`from_json` (their standard
        errors may need the Hessian, which JSON does not keep); None for a fresh fit.

    Notes
    -----
    ``range`` is the ℓ of the model's covariance, e.g. the Matérn
    :math:`C(h) = \sigma^2 2^{1-\nu}/\Gamma(\nu)\,(h/\ell)^\nu K_\nu(h/\ell)`;
    :meth:`practical_ranges` gives :math:`\sqrt{8\nu}\,\ell`, where the correlation has fallen
    to about 0.14 (:mod:`fieldfit.fit.parameterisation`).
    """

    model: str
    engine: str
    params: dict[str, float]
    stderr: dict[str, float | None]
    loglik: float
    n: int
    seconds: float
    fixed: list[str] = field(default_factory=list)
    converged: bool = True
    message: str = ""
    iterations: int = 0
    evaluations: int = 0
    restarts: list[float] = field(default_factory=list)
    n_free: int = 0
    on_edge: list[str] = field(default_factory=list)
    interrupted: bool = False
    scales: dict[str, str | list] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    discretisation: dict | None = None
    hessian: object = field(default=None, repr=False, compare=False)
    saved_practical_ranges: dict | None = field(default=None, repr=False, compare=False)

    @property
    def aic(self) -> float:
        """Akaike's information criterion −2ℓ(θ̂) + 2k (k = :attr:`n_free`)."""
        return -2.0 * self.loglik + 2.0 * self.n_free

    @property
    def bic(self) -> float:
        """The Bayesian information criterion −2ℓ(θ̂) + k log n."""
        return -2.0 * self.loglik + math.log(max(self.n, 1)) * self.n_free

    @property
    def space_unit(self) -> str:
        """The unit of distances: ``units["range"]`` (km for lon/lat), else ``"data units"``."""
        return self.units.get("range", DATA_UNITS)

    @property
    def time_unit(self) -> str:
        """The unit of temporal ranges: ``units["time_range"]``, else ``"time units"``."""
        return self.units.get("time_range", TIME_UNITS)

    def confidence_interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Wald interval formed on the parameter's unconstrained scale and mapped back.

        θ ∈ g(u ± z·se_u), u = g⁻¹(θ̂), se_u = se(θ̂) / g'(u) (delta method), with g = exp
        for positive parameters (the interval θ̂·exp(±z·se/θ̂)), the scaled logistic for
        parameters on an interval (a, b), and the identity for the others (mean
        coefficients: θ̂ ± z·se). The interval thus stays inside the parameter's domain (a
        variance's never goes negative) and is the one the optimiser's scale makes most
        nearly symmetric. The standard errors themselves stay on the natural scale.

        Parameters
        ----------
        name : str
            The parameter.
        level : float, optional
            The interval's level (default 0.95).

        Returns
        -------
        tuple of float
            ``(lower, upper)``; ``(nan, nan)`` for a parameter without standard error (fixed,
            on the edge of its box, or after Ctrl-C).

        Raises
        ------
        KeyError
            ``name`` is not a parameter of the result.
        """
        se = self.stderr.get(name)
        if se is None:
            return (float("nan"), float("nan"))
        z = float(norm.ppf(0.5 + level / 2))
        theta = self.params[name]
        scale = self.scales.get(name, "identity")
        u, se_u = unconstrained_value(theta, scale), se / natural_slope(theta, scale)
        return (natural_value(u - z * se_u, scale), natural_value(u + z * se_u, scale))

    @property
    def intervals(self) -> dict[str, list[float | None]]:
        """95% intervals ``{name: [lower, upper]}`` of the parameters with standard errors
        (:meth:`confidence_interval`)."""
        return {k: [_clean(v) for v in self.confidence_interval(k)] for k in self.params
                if self.stderr.get(k) is not None}

    def _covariance_u(self) -> dict[tuple[str, str], float] | None:
        """The covariance of the estimated parameters on the unconstrained scale, from the
        Hessian (its inverse over the parameters inside their box); None without a Hessian,
        or when it does not reproduce the standard errors (a Hessian of other parameters)."""
        if self.hessian is None:
            return None
        H = np.asarray(self.hessian, dtype=np.float64)
        if H.ndim != 2 or H.shape[0] != H.shape[1] or H.shape[0] > len(self.scales):
            return None
        names = list(self.scales)[:H.shape[0]]
        keep = [i for i, k in enumerate(names) if k not in self.on_edge]
        try:
            cov = np.linalg.inv(H[np.ix_(keep, keep)])
        except np.linalg.LinAlgError:
            return None
        kept = [names[i] for i in keep]
        for i, k in enumerate(kept):  # the diagonal must give the reported standard errors
            se = self.stderr.get(k)
            if se is None or not cov[i, i] > 0:
                continue
            slope = natural_slope(self.params[k], self.scales[k])
            if not math.isclose(abs(slope) * math.sqrt(cov[i, i]), se, rel_tol=1e-6):
                return None
        return {(a, b): float(cov[i, j]) for i, a in enumerate(kept)
                for j, b in enumerate(kept)}

    def practical_ranges(self, model=None, level: float = 0.95) -> list[DerivedEstimate]:
        r"""The practical ranges derived from the estimates, with standard errors and intervals.

        :math:`\sqrt{8\nu}\,\ell` for the Matérn (with the estimated ν when the smoothness is
        estimated), 2ℓ for the exponential and Gaussian covariances, and the temporal
        counterparts of space-time models (:func:`fieldfit.fit.parameterisation.describe`).
        The standard errors are the delta method's: from the range's own when it is the only
        estimated input (the interval is then the range's times the factor, exactly), from
        the Hessian's joint covariance when the smoothness is estimated too.

        Parameters
        ----------
        model : Model, optional
            The fitted model: its options (``model.to_spec()``) complete the description of
            models whose name does not say everything (the advection–diffusion model's
            orders α, α_s).
        level : float, optional
            The intervals' level (default 0.95).

        Returns
        -------
        list of DerivedEstimate
            One per practical range of the model (empty for a model without a description).
        """
        if (self.hessian is None and self.saved_practical_ranges is not None
                and model is None and level == 0.95):
            return [DerivedEstimate.from_dict(k, v)
                    for k, v in self.saved_practical_ranges.items()]
        options = model.to_spec() if model is not None else None
        _, derived = describe(self.model, self.params, self.fixed, options)
        cov_u = self._covariance_u()
        return [wald_derived(d, self.params, self.stderr, self.scales,
                             [*self.fixed, *self.on_edge], cov_u, level,
                             unit_of(d, self.space_unit, self.time_unit))
                for d in derived]

    def parameterisation(self, model=None) -> list[str]:
        """The line(s) saying which covariance the parameters belong to, with the units.

        Parameters
        ----------
        model : Model, optional
            The fitted model, as :meth:`practical_ranges`.

        Returns
        -------
        list of str
            The sentence wrapped at 100 characters.
        """
        options = model.to_spec() if model is not None else None
        return parameterisation_line(self.model, self.params, self.fixed, options,
                                     self.space_unit, self.time_unit)

    def to_dict(self) -> dict:
        """The result as plain JSON values (non-finite numbers as None).

        Returns
        -------
        dict
            The keys of DESIGN.md (``model``, ``engine``, ``params``, ``stderr``,
            ``loglik``, ``n``, ``seconds``), then the details: ``fixed``, ``converged``,
            ``message``, ``iterations``, ``evaluations``, ``restarts``, ``on_edge``,
            ``interrupted``, ``intervals``, ``interval_method``, ``scales``, ``units``,
            ``discretisation``, ``aic``, ``bic`` and ``practical_ranges`` (``{name: {value,
            stderr, interval, formula, unit, fixed}}``).
        """
        return {
            "model": self.model,
            "engine": self.engine,
            "params": {k: _clean(v) for k, v in self.params.items()},
            "stderr": {k: _clean(self.stderr.get(k)) for k in self.params},
            "loglik": _clean(self.loglik),
            "n": int(self.n),
            "seconds": round(float(self.seconds), 4),
            "fixed": list(self.fixed),
            "converged": bool(self.converged),
            "message": self.message,
            "iterations": int(self.iterations),
            "evaluations": int(self.evaluations),
            "restarts": [_clean(v) for v in self.restarts],
            "on_edge": list(self.on_edge),
            "interrupted": bool(self.interrupted),
            "intervals": self.intervals,
            "interval_method": INTERVAL_METHOD,
            "scales": dict(self.scales),
            "units": dict(self.units),
            "discretisation": _clean_tree(self.discretisation),
            "aic": _clean(self.aic),
            "bic": _clean(self.bic),
            "practical_ranges": {d.name: d.to_dict() for d in self.practical_ranges()},
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The result as indented JSON text (:meth:`to_dict`).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Where to write it, atomically (:func:`fieldfit.io.write_atomic`).

        Returns
        -------
        str
            The JSON text.
        """
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            write_atomic(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> FitResult:
        """Read a result from a JSON file (or a JSON string).

        Parameters
        ----------
        source : str or os.PathLike
            A path, or the JSON text itself (a string starting with ``{``).

        Returns
        -------
        FitResult
            The result (without the Hessian; the practical ranges as written).

        Raises
        ------
        FileNotFoundError
            ``source`` names no file.
        json.JSONDecodeError
            The text is not JSON.
        KeyError
            The JSON lacks ``params``.
        """
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text()
        d = json.loads(text)
        keys = {"model", "engine", "params", "stderr", "loglik", "n", "seconds", "fixed",
                "converged", "message", "iterations", "evaluations", "restarts", "on_edge",
                "interrupted", "scales", "units", "discretisation"}
        out = {k: v for k, v in d.items() if k in keys}
        out["n_free"] = len([k for k in d["params"] if k not in d.get("fixed", [])])
        out["saved_practical_ranges"] = d.get("practical_ranges")
        return cls(**out)

    def _unit(self, name: str) -> str:
        """The unit printed beside parameter ``name`` ("" when it has none)."""
        if name in self.units:
            return self.units[name]
        if name == "range":
            return self.space_unit
        if name == "time_range":
            return self.time_unit
        return ""

    def summary(self, model=None) -> str:
        """A plain-text table of estimates, standard errors and 95% intervals.

        The practical ranges (:meth:`practical_ranges`) follow the ranges they are derived
        from, lengths carry their units, and the table ends with the line saying which
        covariance the parameters belong to (:meth:`parameterisation`).

        Parameters
        ----------
        model : Model, optional
            The fitted model, as :meth:`practical_ranges`.

        Returns
        -------
        str
            The table, one row per parameter, then the log-likelihood, how the intervals were
            formed and the parameterisation.
        """
        derived = self.practical_ranges(model)
        width = max([18, *(len(k) + 2 for k in self.params), *(len(d.name) + 2
                                                                  for d in derived)])
        rows = [f"{'parameter':<{width}}{'estimate':>14}{'std.err':>12}{'95% interval':>28}"]
        anchors = {}
        for d in derived:
            source = next((k for k in self.params if k in (d.name.replace("practical_", ""),
                                                           "kappa")), None)
            anchors.setdefault(source, []).append(d)
        for k, v in self.params.items():
            rows.append(self._row(k, v, width))
            rows += [self._derived_row(d, width) for d in anchors.pop(k, [])]
        rows += [self._derived_row(d, width) for ds in anchors.values() for d in ds]
        rows.append(f"log-likelihood {self.loglik:.4f}   n = {self.n}   {self.seconds:.2f} s"
                    f"   ({self.model}, {self.engine})")
        if self.interrupted:
            rows.append("interrupted: the best point so far, not an optimum (no standard "
                        "errors for the covariance parameters)")
        elif any(self.stderr.get(k) is not None for k in self.params):
            rows.append("intervals: Wald on the log scale for positive parameters, logit for "
                        "bounded ones")
        rows += self.parameterisation(model)
        return "\n".join(rows)

    def _row(self, k: str, v: float, width: int) -> str:
        """The table row of parameter ``k`` with estimate ``v``."""
        unit = f" {self._unit(k)}" if self._unit(k) else ""
        if k in self.fixed:
            return f"{k:<{width}}{v:>14.5g}{'fixed':>12}{'':>28}{unit}".rstrip()
        if k in self.on_edge:
            return f"{k:<{width}}{v:>14.5g}{'edge':>12}   (on the edge of its search box){unit}"
        se = self.stderr.get(k)
        if se is None:
            return f"{k:<{width}}{v:>14.5g}{'n/a':>12}{'':>28}{unit}".rstrip()
        lo, hi = self.confidence_interval(k)
        return f"{k:<{width}}{v:>14.5g}{se:>12.4g}   [{lo:>11.4g}, {hi:>11.4g}]{unit}"

    @staticmethod
    def _derived_row(d: DerivedEstimate, width: int) -> str:
        """The table row of a practical range (its formula after the unit)."""
        tail = f" {d.unit}   ({d.formula})"
        if d.fixed:
            return f"{d.name:<{width}}{d.value:>14.5g}{'fixed':>12}{'':>28}{tail}"
        if d.stderr is None or d.interval is None:
            return f"{d.name:<{width}}{d.value:>14.5g}{'n/a':>12}{'':>28}{tail}"
        lo, hi = d.interval
        return (f"{d.name:<{width}}{d.value:>14.5g}{d.stderr:>12.4g}   "
                f"[{lo:>11.4g}, {hi:>11.4g}]{tail}")

    def __str__(self):
        return self.summary()
