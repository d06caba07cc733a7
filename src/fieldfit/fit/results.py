"""The result of a fit, in the JSON format that DESIGN.md fixes:

    {"model", "engine", "params": {name: value}, "stderr": {name: value}, "loglik", "n",
     "seconds"}

followed by details (fixed parameters, convergence, restarts, information criteria). Standard
errors of fixed parameters are ``null``. Files are written atomically by :mod:`fieldfit.io`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from scipy.stats import norm

from ..io import write_atomic, write_table  # noqa: F401  (re-exported)


def _clean(v):
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


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

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_free

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(max(self.n, 1)) * self.n_free

    def confidence_interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Wald interval estimate ± z · stderr (on the natural scale)."""
        se = self.stderr.get(name)
        if se is None:
            return (float("nan"), float("nan"))
        z = norm.ppf(0.5 + level / 2)
        return (self.params[name] - z * se, self.params[name] + z * se)

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
                "converged", "message", "iterations", "evaluations", "restarts", "on_edge"}
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
            lo, hi = self.confidence_interval(k)
            se_txt = f"{se:.4g}" if se is not None else "n/a"
            rows.append(f"{k:<18}{v:>14.5g}{se_txt:>12}   [{lo:>11.4g}, {hi:>11.4g}]")
        rows.append(f"log-likelihood {self.loglik:.4f}   n = {self.n}   {self.seconds:.2f} s"
                    f"   ({self.model}, {self.engine})")
        return "\n".join(rows)

    def __str__(self):
        return self.summary()
