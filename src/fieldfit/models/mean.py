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
    r"""A linear mean :math:`\mu(x) = X(x)\beta`: builds the design matrix and names β.

    Parameters
    ----------
    kind : str
        "zero", "constant", "linear" (in the coordinates), "covariates" or
        "linear+covariates".

    Raises
    ------
    ValueError
        For an unknown kind.
    """

    def __init__(self, kind: str = "constant"):
        if kind not in MEAN_KINDS:
            raise ValueError(f"unknown mean {kind!r}; choose one of {MEAN_KINDS}")
        self.kind = kind

    @property
    def uses_coords(self) -> bool:
        """The design has the coordinates as columns."""
        return self.kind in ("linear", "linear+covariates")

    @property
    def uses_covariates(self) -> bool:
        """The design has the covariates as columns."""
        return self.kind in ("covariates", "linear+covariates")

    def names(self, coord_names: Sequence[str], covariate_names: Sequence[str] = ()) -> list[str]:
        """The names of the coefficients.

        Parameters
        ----------
        coord_names : sequence of str
            The coordinates' names.
        covariate_names : sequence of str
            The covariates' names.

        Returns
        -------
        list of str
            ``[]`` (zero), ``["mean"]`` (constant), else ``beta_intercept`` and
            ``beta_<name>`` per column.
        """
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
        """The design matrix at locations.

        Parameters
        ----------
        coords : numpy.ndarray
            Spatial coordinates ``(n, d)``.
        covariates : numpy.ndarray or None
            Covariates ``(n, q)``.

        Returns
        -------
        numpy.ndarray
            ``X (n, p)``, its columns in the order of :meth:`names`.

        Raises
        ------
        ValueError
            For a covariate mean without covariates, or NaN covariates.
        """
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
