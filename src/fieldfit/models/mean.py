"""Mean functions of Gaussian fields: zero, constant, linear in coordinates and/or covariates.

    μ(x) = X(x) β,   X(x) = [1, s₁, …, s_d, z₁, …, z_p] (the chosen columns)

The constant mean's coefficient is named ``mean``; otherwise ``beta_intercept``,
``beta_<coordinate name>``, ``beta_<covariate name>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MEAN_KINDS = ("zero", "constant", "linear", "covariates", "linear+covariates")


class Mean:
    """Builds the design matrix ``X (n, p)`` and names the coefficients."""

    def __init__(self, kind: str = "constant"):
        if kind not in MEAN_KINDS:
            raise ValueError(f"unknown mean {kind!r}; choose one of {MEAN_KINDS}")
        self.kind = kind

    @property
    def uses_coords(self) -> bool:
        return self.kind in ("linear", "linear+covariates")

    @property
    def uses_covariates(self) -> bool:
        return self.kind in ("covariates", "linear+covariates")

    def names(self, coord_names: Sequence[str], covariate_names: Sequence[str] = ()) -> list[str]:
        if self.kind == "zero":
            return []
        if self.kind == "constant":
            return ["mean"]
        out = ["beta_intercept"]
        if self.uses_coords:
            out += [f"beta_{c}" for c in coord_names]
        if self.uses_covariates:
            out += [f"beta_{c}" for c in covariate_names]
        return out

    def design(self, coords: np.ndarray, covariates: np.ndarray | None = None) -> np.ndarray:
        """``X (n, p)`` at spatial ``coords (n, d)`` with optional ``covariates (n, q)``."""
        n = coords.shape[0]
        if self.kind == "zero":
            return np.zeros((n, 0))
        cols = [np.ones((n, 1))]
        if self.uses_coords:
            cols.append(np.asarray(coords, dtype=float))
        if self.uses_covariates:
            if covariates is None or covariates.shape[1] == 0:
                raise ValueError(f"mean {self.kind!r} needs covariates, and the data has none")
            if np.isnan(covariates).any():
                raise ValueError("covariates contain NaN at points where the mean is needed")
            cols.append(np.asarray(covariates, dtype=float))
        return np.hstack(cols)

    def __repr__(self):
        return f"Mean({self.kind!r})"
