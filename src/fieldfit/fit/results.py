"""The result of a fit, in the JSON format that DESIGN.md fixes:

    {"model", "engine", "params": {name: value}, "stderr": {name: value}, "loglik", "n",
     "seconds"}

followed by details (fixed parameters, convergence, whether Ctrl-C stopped it, restarts, 95%
intervals with how they were formed, information criteria). Standard errors of fixed
parameters are ``null``. Files are written atomically by :mod:`fieldfit.io`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import expit
from scipy.stats import norm

from ..io import write_atomic, write_table  # noqa: F401  (re-exported)

#: how the intervals in the JSON (``"intervals"``) and the summary are formed
INTERVAL_METHOD = ("95% Wald on the unconstrained scale (log for positive parameters, logit "
                   "for bounded ones, identity for mean coefficients), mapped back")


def _clean(v):
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
    """Estimates with standard errors, the maximised log-likelihood and how it was reached."""

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
    #: estimated parameters on the edge of their search box (no standard error)
    on_edge: list[str] = field(default_factory=list)
    #: Ctrl-C stopped the fit: the best point so far, no standard errors
    interrupted: bool = False
    #: the scale of each estimated parameter's Wald interval: "log", ["logit", a, b] or
    #: "identity" (see :meth:`confidence_interval`)
    scales: dict[str, str | list] = field(default_factory=dict)
    #: units of the parameters that have one: {"range": "km"} for lon/lat coordinates
    units: dict[str, str] = field(default_factory=dict)
    #: the discretisation's effect on the estimates, for models on a mesh and a time grid
    #: (``model.discretisation_check``): the settings used, the refined ones and the relative
    #: shift of each estimate; None when not checked
    discretisation: dict | None = None
    #: −∇²ℓ in the free unconstrained parameters at the estimate ``(k, k)``, as the fit
    #: computed it for the standard errors (not written to JSON; None without them)
    hessian: object = field(default=None, repr=False, compare=False)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_free

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(max(self.n, 1)) * self.n_free

    def confidence_interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Wald interval formed on the parameter's unconstrained scale and mapped back:

            θ ∈ g(u ± z·se_u),   u = g⁻¹(θ̂),   se_u = se(θ̂) / g'(u)   (delta method)

        with g = exp for positive parameters (the interval θ̂·exp(±z·se/θ̂)), the scaled
        logistic for parameters on an interval (a, b), and the identity for the others (mean
        coefficients: θ̂ ± z·se). The interval thus stays inside the parameter's domain (a
        variance's never goes negative) and is the one the optimiser's scale makes most nearly
        symmetric. The standard errors themselves stay on the natural scale. (NaN, NaN) for a
        parameter without standard error (fixed, on the edge of its box, or after Ctrl-C)."""
        se = self.stderr.get(name)
        if se is None:
            return (float("nan"), float("nan"))
        z = float(norm.ppf(0.5 + level / 2))
        theta = self.params[name]
        scale = self.scales.get(name, "identity")
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if scale == "log":
                w = z * se / theta
                return (float(theta * np.exp(-w)), float(theta * np.exp(w)))
            if isinstance(scale, (list, tuple)) and scale[0] == "logit":
                a, b = float(scale[1]), float(scale[2])
                p = (theta - a) / (b - a)
                u, se_u = np.log(p) - np.log1p(-p), se / ((b - a) * p * (1 - p))
                lo, hi = a + (b - a) * expit([u - z * se_u, u + z * se_u])
                return (float(lo), float(hi))
        return (theta - z * se, theta + z * se)

    @property
    def intervals(self) -> dict[str, list[float | None]]:
        """95% intervals ``{name: [lower, upper]}`` of the parameters with standard errors
        (:meth:`confidence_interval`)."""
        return {k: [_clean(v) for v in self.confidence_interval(k)] for k in self.params
                if self.stderr.get(k) is not None}

    def to_dict(self) -> dict:
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
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The JSON text; written atomically to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            write_atomic(path, text + "\n")
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> FitResult:
        """Read a result from a JSON file (or a JSON string)."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text()
        d = json.loads(text)
        keys = {"model", "engine", "params", "stderr", "loglik", "n", "seconds", "fixed",
                "converged", "message", "iterations", "evaluations", "restarts", "on_edge",
                "interrupted", "scales", "units", "discretisation"}
        out = {k: v for k, v in d.items() if k in keys}
        out["n_free"] = len([k for k in d["params"] if k not in d.get("fixed", [])])
        return cls(**out)

    def summary(self) -> str:
        """A plain-text table of estimates, standard errors and 95% intervals."""
        rows = [f"{'parameter':<18}{'estimate':>14}{'std.err':>12}{'95% interval':>28}"]
        for k, v in self.params.items():
            se = self.stderr.get(k)
            if k in self.fixed:
                rows.append(f"{k:<18}{v:>14.5g}{'fixed':>12}")
                continue
            if k in self.on_edge:
                rows.append(f"{k:<18}{v:>14.5g}{'edge':>12}   (on the edge of its search box)")
                continue
            unit = f" {self.units[k]}" if k in self.units else ""
            if se is None:
                rows.append(f"{k:<18}{v:>14.5g}{'n/a':>12}{unit}")
                continue
            lo, hi = self.confidence_interval(k)
            rows.append(f"{k:<18}{v:>14.5g}{se:>12.4g}   [{lo:>11.4g}, {hi:>11.4g}]{unit}")
        rows.append(f"log-likelihood {self.loglik:.4f}   n = {self.n}   {self.seconds:.2f} s"
                    f"   ({self.model}, {self.engine})")
        if self.interrupted:
            rows.append("interrupted: the best point so far, not an optimum (no standard "
                        "errors for the covariance parameters)")
        elif any(self.stderr.get(k) is not None for k in self.params):
            rows.append("intervals: Wald on the log scale for positive parameters, logit for "
                        "bounded ones")
        return "\n".join(rows)

    def __str__(self):
        return self.summary()
